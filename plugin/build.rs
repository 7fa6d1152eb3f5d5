//! Links the cdylib with a version script so the .ofx exports only the three OFX entry points.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let map = format!("{dir}/src/ofx/exports.map");
    println!("cargo:rerun-if-changed=src/ofx/exports.map");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={map}");
    }
}
