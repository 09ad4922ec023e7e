//! Load against local servers: 10,000 requests through 64 workers, then 200 concurrent event
//! streams through 200 workers; afterwards the process is back to its baseline of threads and
//! near its baseline of memory.
//!
//! One `#[test]` runs the phases one after the other, in a process of its own ([`crate::alone`]):
//! thread and memory accounting is only meaningful when no other test runs meanwhile. It takes a
//! few seconds in a debug build on two cores (bound: 60 s); run it with `cargo test --test it
//! load::`, or faster with `cargo test --release --test it load::`.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use support::{eventually, ms, rss_bytes, secs, thread_count, Reply, TestServer};
use ureq_futures::{as_completed, Error, FuturesSession};

const REQUESTS: usize = 10_000;
const REQUEST_WORKERS: usize = 64;
const STREAMS: usize = 200;
const EVENTS_PER_STREAM: usize = 25;
const MIB: u64 = 1 << 20;

#[test]
fn load_loses_nothing_and_returns_to_baseline() {
    crate::alone(
        "load::load_loses_nothing_and_returns_to_baseline",
        load_loses_nothing_and_returns_to_baseline_alone,
    );
}

fn load_loses_nothing_and_returns_to_baseline_alone() {
    let started = Instant::now();
    let threads_before = thread_count();
    // A first round, not counted: the allocator keeps the arenas that 64 worker threads bring
    // up (glibc's, up to 8 a core), 20-35 MiB of a debug run on a 2-core machine depending on
    // how the threads were scheduled. A leak shows as growth past them in the rounds after.
    ten_thousand_requests_through_64_workers();
    assert_back_to_baseline(threads_before, None, "after the first requests");
    support::trim_allocator();
    let rss_before = rss_bytes();

    let t = Instant::now();
    ten_thousand_requests_through_64_workers();
    eprintln!("{REQUESTS} requests: {:?}", t.elapsed());
    assert_back_to_baseline(threads_before, rss_before, "after the requests");

    let t = Instant::now();
    two_hundred_concurrent_streams();
    eprintln!("{STREAMS} streams: {:?}", t.elapsed());
    assert_back_to_baseline(threads_before, rss_before, "after the streams");

    assert!(started.elapsed() < secs(60), "took {:?}", started.elapsed());
}

/// Every request's body echoes its path: all 10,000 results come back, each with its own
/// path, none twice, and the server saw each request exactly once.
fn ten_thousand_requests_through_64_workers() {
    let server = TestServer::start(|req| Reply::ok(req.path.clone()));
    let session = FuturesSession::builder()
        .max_workers(REQUEST_WORKERS)
        .read_timeout(secs(10))
        .build();
    let handles: Vec<_> = (0..REQUESTS)
        .map(|i| {
            session
                .get(server.url_for(&format!("/item/{i}")))
                .send_with(|resp| Ok(resp.error_for_status()?.text()?.to_string()))
        })
        .collect();
    let mut bodies = HashSet::with_capacity(REQUESTS);
    let mut results = 0;
    for (i, result) in as_completed(handles) {
        let body = result.unwrap_or_else(|e| panic!("request {i} failed: {e}"));
        assert_eq!(body, format!("/item/{i}"), "request {i} got another's body");
        assert!(bodies.insert(body), "request {i}'s body came twice");
        results += 1;
    }
    assert_eq!(results, REQUESTS);
    assert_eq!(bodies.len(), REQUESTS);
    let seen: HashSet<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(server.request_count(), REQUESTS, "requests lost or resent");
    assert_eq!(seen.len(), REQUESTS);
    // Each worker keeps its connection: no reconnecting per request.
    assert!(
        server.connection_count() <= 2 * REQUEST_WORKERS,
        "{} connections for {REQUESTS} requests",
        server.connection_count()
    );
    session.join();
    drop(server);
}

/// Holds every stream's answer until all of them have arrived at the server (bounded at
/// 10 s), which proves that they run at once; then each gets its events, which must all come in
/// order.
fn two_hundred_concurrent_streams() {
    let arrived = Arc::new((Mutex::new(0usize), Condvar::new()));
    let saw_all = Arc::new(Mutex::new(0usize));
    let server = {
        let (arrived, saw_all) = (arrived.clone(), saw_all.clone());
        TestServer::start(move |req| {
            let (count, all_in) = &*arrived;
            let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            all_in.notify_all();
            let deadline = Instant::now() + secs(10);
            while *n < STREAMS && Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                n = all_in
                    .wait_timeout(n, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if *n >= STREAMS {
                *saw_all.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }
            drop(n);
            let id = req.path.trim_start_matches("/stream/").to_string();
            Reply::sse(
                (0..EVENTS_PER_STREAM).map(move |j| format!("id: {j}\ndata: {id}:{j}\n\n")),
                ms(2),
            )
        })
    };
    let session = FuturesSession::builder()
        .max_workers(STREAMS)
        .read_timeout(secs(10))
        .build();
    let handles: Vec<_> = (0..STREAMS)
        .map(|i| {
            session
                .get(server.url_for(&format!("/stream/{i}")))
                .events()
        })
        .collect();
    let streams: Vec<_> = handles
        .into_iter()
        .enumerate()
        .map(|(i, h)| h.result().unwrap_or_else(|e| panic!("stream {i}: {e}")))
        .collect();
    assert_eq!(
        *saw_all.lock().unwrap_or_else(|e| e.into_inner()),
        STREAMS,
        "not all streams were open at once"
    );
    for (i, stream) in streams.into_iter().enumerate() {
        let events: Vec<_> = stream
            .collect::<Result<_, Error>>()
            .unwrap_or_else(|e| panic!("stream {i} failed: {e}"));
        let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        let expected: Vec<String> = (0..EVENTS_PER_STREAM).map(|j| format!("{i}:{j}")).collect();
        assert_eq!(data, expected, "stream {i}");
        for (j, e) in events.iter().enumerate() {
            assert_eq!(e.id.as_deref(), Some(j.to_string().as_str()), "stream {i}");
        }
    }
    assert_eq!(server.request_count(), STREAMS);
    session.join();
    drop(server);
}

/// Threads back to the baseline within 5 s (the joined workers and the server's threads are
/// reaped), and resident memory within 32 MiB of it (taken after a first round of requests)
/// once the allocator has handed back what it kept for reuse (a leak of 4 KiB per request,
/// 40 MiB, would not fit).
fn assert_back_to_baseline(threads_before: usize, rss_before: Option<u64>, when: &str) {
    assert!(
        eventually(secs(5), || thread_count() <= threads_before),
        "{when}: {} threads, {threads_before} before",
        thread_count()
    );
    // Count what is still allocated, not what the allocator keeps for reuse.
    support::trim_allocator();
    if let (Some(before), Some(now)) = (rss_before, rss_bytes()) {
        eprintln!(
            "{when}: resident memory {} MiB, {} MiB before",
            now / MIB,
            before / MIB
        );
        assert!(
            now < before + 32 * MIB,
            "{when}: resident memory {} MiB, {} MiB before",
            now / MIB,
            before / MIB
        );
    }
}
