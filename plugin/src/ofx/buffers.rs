//! Frame-sized f32 buffers kept from one render action to the next. A fresh 4K float plate is
//! 141 MB of new pages: ~35 000 page faults on its first write, which measured more than the
//! read, the conversion and the hash together on the 2-core CPU machine (BENCHMARKS.md). A buffer
//! taken from here is resident, holds stale values, and its reader writes every value.

use parking_lot::Mutex;

use crate::engine::limits;
use crate::engine::EngineError;

/// Buffers kept at most (a source and three mattes), and their bytes at most.
const MAX_BUFFERS: usize = 4;
const MAX_BYTES: usize = 400 << 20;
/// Smaller buffers are not worth keeping (their pages are few).
const MIN_VALUES: usize = 1 << 18;

static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// Held by the tests that give buffers back (tests run in parallel; the pool is the process's).
#[cfg(test)]
pub static TEST_LOCK: Mutex<()> = Mutex::new(());

/// A buffer of `n` values, every one to be written by the caller (kept ones hold stale values,
/// new ones zeros). Err(OutOfMemory) when there is no memory for a new one.
pub fn take(n: usize, what: &'static str) -> Result<Vec<f32>, EngineError> {
    let kept = {
        let mut pool = POOL.lock();
        // The smallest kept buffer that holds `n` without wasting more than half of it.
        let fit = (0..pool.len())
            .filter(|&i| pool[i].len() >= n && pool[i].len() / 2 <= n)
            .min_by_key(|&i| pool[i].len());
        fit.map(|i| pool.swap_remove(i))
    };
    match kept {
        Some(mut v) => {
            v.truncate(n);
            Ok(v)
        }
        None => limits::try_zeroed_f32(n, what),
    }
}

/// Keeps `v` for a later [`take`] when it is large and there is room (the oldest go first).
pub fn give_back(v: Vec<f32>) {
    if v.len() < MIN_VALUES || v.len() * 4 > MAX_BYTES {
        return;
    }
    let mut pool = POOL.lock();
    pool.push(v);
    while pool.len() > MAX_BUFFERS || pool.iter().map(|b| b.len() * 4).sum::<usize>() > MAX_BYTES {
        pool.remove(0);
    }
}

/// Drops every kept buffer (the host's purge-caches action).
pub fn clear() {
    POOL.lock().clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_kept_reused_and_bounded() {
        let _alone = TEST_LOCK.lock();
        clear();
        let n = MIN_VALUES + 10;
        let mut a = take(n, "a").unwrap();
        assert_eq!(a.len(), n);
        assert!(a.iter().all(|&v| v == 0.0), "a new buffer is zeroed");
        a[0] = 5.0;
        let ptr = a.as_ptr();
        give_back(a);
        let b = take(n - 3, "b").unwrap();
        assert_eq!(
            (b.as_ptr(), b.len()),
            (ptr, n - 3),
            "the kept buffer, cut to size"
        );
        give_back(b);
        let c = take(n * 3, "c").unwrap();
        assert_ne!(c.as_ptr(), ptr, "too small: a new one");
        let d = take(MIN_VALUES / 2 + 1, "d").unwrap();
        assert_ne!(d.as_ptr(), ptr, "more than twice the size asked: not taken");
        give_back(vec![1.0; 10]);
        for _ in 0..MAX_BUFFERS + 2 {
            give_back(vec![0.0; MIN_VALUES]);
        }
        assert_eq!(POOL.lock().len(), MAX_BUFFERS);
        clear();
        assert!(POOL.lock().is_empty());
    }
}
