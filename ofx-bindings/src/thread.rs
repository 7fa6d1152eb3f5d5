//! The host's multithread suite: run a closure on the host's worker threads.

use std::ffi::{c_uint, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::status::{Error, Result, Status};
use crate::suites::suites;

struct Job<'a> {
    f: &'a (dyn Fn(u32, u32) + Sync),
    panicked: AtomicBool,
}

extern "C" fn trampoline(index: c_uint, count: c_uint, arg: *mut c_void) {
    // SAFETY: `arg` is the &Job passed to multiThread below, alive until multiThread returns.
    let job = unsafe { &*(arg as *const Job<'_>) };
    if catch_unwind(AssertUnwindSafe(|| (job.f)(index, count))).is_err() {
        job.panicked.store(true, Ordering::Relaxed);
    }
}

/// Number of CPUs the host offers (1 without the suite).
pub fn num_cpus() -> u32 {
    let Some(f) = suites()
        .ok()
        .and_then(|s| s.thread)
        .and_then(|t| t.multiThreadNumCPUs)
    else {
        return 1;
    };
    let mut n: c_uint = 0;
    // SAFETY: host function with a valid out pointer.
    let st = unsafe { f(&mut n) };
    if st == Status::Ok.code() {
        n.max(1)
    } else {
        1
    }
}

/// Runs `f(thread_index, thread_count)` on `n` host threads and waits. Falls back to running the
/// calls in order on this thread when the host has no multithread suite.
pub fn multi_thread(n: u32, f: &(dyn Fn(u32, u32) + Sync)) -> Result<()> {
    let n = n.max(1);
    let entry = suites()
        .ok()
        .and_then(|s| s.thread)
        .and_then(|t| t.multiThread);
    let Some(mt) = entry else {
        (0..n).for_each(|i| f(i, n));
        return Ok(());
    };
    let job = Job {
        f,
        panicked: AtomicBool::new(false),
    };
    // SAFETY: `job` outlives the call (multiThread returns only when every thread has finished)
    // and the trampoline never unwinds.
    let st = unsafe { mt(Some(trampoline), n, &job as *const Job<'_> as *mut c_void) };
    Error::check(st, || "multiThread".into())?;
    if job.panicked.load(Ordering::Relaxed) {
        return Err(Error::new(Status::Failed, "a worker thread panicked"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn without_a_host_runs_every_index_in_order() {
        let seen = std::sync::Mutex::new(Vec::new());
        let calls = AtomicU32::new(0);
        multi_thread(3, &|i, n| {
            calls.fetch_add(1, Ordering::Relaxed);
            seen.lock().unwrap().push((i, n));
        })
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 3);
        assert_eq!(*seen.lock().unwrap(), vec![(0, 3), (1, 3), (2, 3)]);
        assert_eq!(num_cpus(), 1);
    }
}
