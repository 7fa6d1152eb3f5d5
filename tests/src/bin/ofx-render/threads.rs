//! `--threads N`: the render runs on N CPUs.
//!
//! The node sizes its pools from the CPUs the process may use: ONNX Runtime's intra-op pool from
//! `available_parallelism` (the affinity mask) and its CPU passes from rayon's global pool. So the
//! process's affinity is narrowed to N of the CPUs it was allowed (like `taskset`), and
//! `RAYON_NUM_THREADS` is set, before the bundle is loaded and before any thread exists. On a
//! shared farm node whose scheduler already pins jobs, leave `--threads` off: the node follows the
//! scheduler's mask. N over the CPUs the process may use is capped at them (and said so): more
//! threads than CPUs only makes every frame slower.

/// The CPUs the node will use.
pub struct Cpus {
    pub count: usize,
    /// What `--threads` asked for, when that was more than the CPUs there are.
    pub capped_from: Option<usize>,
}

/// Limits this process to `n` CPUs (at most the ones it may use).
pub fn limit(n: usize) -> Result<Cpus, String> {
    // SAFETY: cpu_set_t is plain bits; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid cpu_set_t of `size` bytes; pid 0 is this thread.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Err(format!(
            "--threads: cannot read the CPU affinity: {}",
            std::io::Error::last_os_error()
        ));
    }
    let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `i` < CPU_SETSIZE, within the set.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect();
    let capped_from = (n > allowed.len()).then_some(n);
    let n = n.min(allowed.len()).max(1);
    // Edition 2021: set_var is safe; it runs first thing in main, before any other thread.
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    if n < allowed.len() {
        // SAFETY: as above.
        let mut narrow: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &cpu in &allowed[..n] {
            // SAFETY: `cpu` came from the set, so it is < CPU_SETSIZE.
            unsafe { libc::CPU_SET(cpu, &mut narrow) };
        }
        // SAFETY: `narrow` is a valid cpu_set_t of `size` bytes; pid 0 is this thread, whose
        // mask every thread started later inherits.
        if unsafe { libc::sched_setaffinity(0, size, &narrow) } != 0 {
            return Err(format!(
                "--threads: cannot set the CPU affinity: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(Cpus {
        count: std::thread::available_parallelism().map_or(1, |c| c.get()),
        capped_from,
    })
}
