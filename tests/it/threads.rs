//! Thread accounting, in a process of its own ([`crate::alone`]) so that no other test creates
//! threads meanwhile. Threads are counted in `/proc/self/task` (Linux).

use std::time::{Duration, Instant};

use ureq_futures::FuturesSession;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn worker_threads_exit_after_shutdown() {
    crate::alone(
        "threads::worker_threads_exit_after_shutdown",
        worker_threads_exit_after_shutdown_alone,
    );
}

fn worker_threads_exit_after_shutdown_alone() {
    let before = thread_count();
    let session = FuturesSession::builder().max_workers(6).build();
    session.submit(|_| Ok(())).result().unwrap();
    assert!(thread_count() >= before + 6);
    session.join();
    // The threads have returned from their loops; give the OS a moment to reap them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while thread_count() > before && Instant::now() < deadline {
        std::thread::sleep(ms(10));
    }
    assert!(thread_count() <= before, "worker threads leaked");
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}
