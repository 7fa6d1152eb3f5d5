//! A panic inside an action (the plugin panics on purpose when `CORRIDORKEY_TEST_PANIC` names the
//! action) must come back as a failure status with a message, never abort the host. Each case runs
//! in a child process (this test binary re-executed with the env set), so a crash cannot take the
//! other tests down and the env var is not shared between tests.

mod common;
use ofx_test_host::{status, Plugin, RenderRequest, GENERAL};
use std::process::Command;

const CHILD_ENV: &str = "CK_PANIC_CHILD_ACTION";

/// Runs in the child: drives the plugin up to and including the panicking action.
#[test]
#[ignore = "run by panic_in_an_action_is_reported_not_fatal in a child process"]
fn panic_child() {
    let action = std::env::var(CHILD_ENV).expect("child only");
    let plugin = Plugin::shared();
    let err = (|| -> Result<(), ofx_test_host::HostError> {
        let inst = plugin.create_instance(GENERAL)?;
        let p = common::plate(64, 48, 0);
        common::set_plate(&inst, &p, ofx_test_host::BitDepth::Float, false);
        inst.set_int("show", common::SHOW_HINT).unwrap();
        inst.render(&RenderRequest::default())?;
        Ok(())
    })()
    .expect_err("the panicking action reported success");
    assert!(
        err.action.contains(&action),
        "failed in {} instead of {action}",
        err.action
    );
    assert_ne!(err.status, status::OK);
    assert_ne!(
        err.status,
        status::REPLY_DEFAULT,
        "a panic must not look like 'not handled'"
    );
    let global = plugin.global_messages();
    assert!(
        !err.messages.is_empty() || !global.is_empty(),
        "no message posted for the panic in {action} (status {})",
        status::name(err.status)
    );
    println!("CHILD-OK {action}: {err}");
}

#[test]
fn panic_in_an_action_is_reported_not_fatal() {
    Plugin::shared(); // fails here, with the reason, if the bundle is missing
    let exe = std::env::current_exe().unwrap();
    for action in [
        "OfxActionDescribe",
        "OfxImageEffectActionDescribeInContext",
        "OfxActionCreateInstance",
        "OfxImageEffectActionGetClipPreferences",
        "OfxImageEffectActionRender",
    ] {
        let out = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "panic_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, action)
            .env("CORRIDORKEY_TEST_PANIC", action)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.code().is_some(),
            "{action}: the host process was killed by a signal (abort?)\n{text}"
        );
        assert!(
            out.status.success() && text.contains("CHILD-OK"),
            "{action}: child failed\n{text}"
        );
    }
}
