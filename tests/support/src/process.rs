//! Process accounting: threads and resident memory (Linux `/proc`), allocator trimming.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self};
use std::time::{Duration, Instant};

use crate::ms;

/// Number of threads of this process (entries of `/proc/self/task`);
/// 0 where that is not available (non-Linux).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Resident memory of this process in bytes (`VmRSS` of `/proc/self/status`);
/// `None` where that is not available (non-Linux).
pub fn rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident memory of this process in bytes (`VmHWM`); `None` where
/// that is not available.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|kib| kib * 1024)
}

pub(crate) fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Polls `cond` every 10 ms until it holds or `within` has passed; returns
/// whether it held.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(ms(10));
    }
}

/// Runs `f` while a sampler thread reads `VmRSS` every 2 ms, and returns
/// `f`'s result with the largest growth of resident memory seen over the
/// value at the start, in bytes (0 where `/proc` is not available).
pub fn peak_rss_growth_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let start = rss_bytes().unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut peak = start;
            while !stop.load(Ordering::Acquire) {
                peak = peak.max(rss_bytes().unwrap_or(0));
                thread::sleep(ms(2));
            }
            peak.max(rss_bytes().unwrap_or(0))
        })
    };
    let out = f();
    stop.store(true, Ordering::Release);
    let peak = sampler.join().unwrap_or(start);
    (out, peak.saturating_sub(start))
}

/// Hands memory the allocator keeps for reuse back to the OS (glibc's
/// `malloc_trim`), so that resident memory measures what is still allocated;
/// does nothing on other platforms.
pub fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only releases free pages of its own heaps.
        unsafe {
            malloc_trim(0);
        }
    }
}
