//! The bounded batch API against local servers: every input once, the window respected as the
//! server sees it, and a million inputs in bounded memory.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::{ms, peak_rss_growth_during, Reply, TestServer};
use ureq_futures::{Error, FuturesSession};

const MIB: u64 = 1 << 20;

/// The server counts requests in progress; with a window of 4 it never sees more than 4, however
/// many workers the session has.
#[test]
fn the_server_never_sees_more_than_the_window() {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    let server = TestServer::start(move |req| {
        let current = n.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(current, Ordering::SeqCst);
        std::thread::sleep(ms(2));
        n.fetch_sub(1, Ordering::SeqCst);
        Reply::ok(req.path.clone())
    });
    let session = FuturesSession::builder().max_workers(16).build();
    let urls = (0..200).map(|i| server.url_for(&format!("/item/{i}")));
    let mut seen = HashSet::new();
    for (url, result) in session.batch(urls, |s, url| s.get(url).send()).in_flight(4) {
        let body = result.unwrap().text().unwrap().to_string();
        assert!(url.ends_with(&body), "{url} got {body}");
        assert!(seen.insert(body));
    }
    assert_eq!(seen.len(), 200);
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=4).contains(&peak), "the server saw {peak} at once");
}

/// Failed requests are results; `ordered` keeps input order across failures.
#[test]
fn failures_are_results_in_input_order() {
    let server = TestServer::start(|req| {
        if req.path.ends_with('7') {
            Reply::status(500, "no")
        } else {
            Reply::ok("yes")
        }
    });
    let session = FuturesSession::new();
    let results: Vec<(usize, Result<String, Error>)> = session
        .batch(0..30usize, |s, i| {
            s.get(server.url_for(&format!("/{i}")))
                .send_with(|r| Ok(r.error_for_status()?.text()?.to_string()))
        })
        .ordered()
        .collect();
    assert_eq!(
        results.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..30).collect::<Vec<_>>()
    );
    for (i, r) in &results {
        assert_eq!(r.is_err(), i % 10 == 7, "{i}: {r:?}");
    }
}

/// A million inputs, pulled lazily, with a window of 64: memory stays bounded by the window, not
/// the input.
#[test]
fn a_million_inputs_in_bounded_memory() {
    crate::alone(
        "batch::a_million_inputs_in_bounded_memory",
        a_million_inputs_in_bounded_memory_alone,
    );
}

fn a_million_inputs_in_bounded_memory_alone() {
    let session = FuturesSession::builder().max_workers(4).build();
    // Warm up the allocator's arenas and the workers before measuring.
    assert_eq!(
        session
            .batch(0..10_000u64, |s, &n| s.submit(move |_| Ok(n)))
            .count(),
        10_000
    );
    let (sum, growth) = peak_rss_growth_during(|| {
        session
            .batch(0..1_000_000u64, |s, &n| s.submit(move |_| Ok(n)))
            .in_flight(64)
            .map(|(_, r)| r.unwrap())
            .sum::<u64>()
    });
    assert_eq!(sum, 999_999 * 1_000_000 / 2);
    eprintln!(
        "1,000,000 inputs: RSS growth {:.1} MiB",
        growth as f64 / MIB as f64
    );
    assert!(growth <= 50 * MIB, "RSS grew by {} MiB", growth / MIB);
}

/// README "Nested waits": a job that runs a batch on its own full pool runs the batch's queued
/// jobs inline rather than wait for a worker it holds itself.
#[test]
fn a_batch_run_inside_a_job_of_a_full_pool_does_not_deadlock() {
    for ordered in [false, true] {
        let session = FuturesSession::builder().max_workers(1).build();
        let inner = session.clone();
        let mut outer = session.submit(move |_| {
            let batch = inner.batch(0..5u32, |s, &n| s.submit(move |_| Ok(n)));
            let batch = if ordered { batch.ordered() } else { batch };
            Ok(batch.map(|(_, r)| r.unwrap()).collect::<Vec<u32>>())
        });
        match outer.result_timeout(ms(5000)) {
            Some(r) => {
                let mut got = r.unwrap();
                if !ordered {
                    got.sort_unstable();
                }
                assert_eq!(got, [0, 1, 2, 3, 4], "ordered: {ordered}");
            }
            None => {
                panic!("the batch inside the job deadlocked its 1-worker pool (ordered: {ordered})")
            }
        }
    }
}

/// A window larger than the input (`usize::MAX` for "no limit") costs nothing up front: the
/// batch does not make room for the whole window before its first job.
#[test]
fn a_window_of_usize_max_runs_every_input() {
    let session = FuturesSession::builder().max_workers(2).build();
    for ordered in [false, true] {
        let batch = session
            .batch(0..20u32, |s, &n| s.submit(move |_| Ok(n * 2)))
            .in_flight(usize::MAX);
        let batch = if ordered { batch.ordered() } else { batch };
        let mut seen: Vec<u32> = batch
            .map(|(n, r)| {
                assert_eq!(r.unwrap(), n * 2);
                n
            })
            .collect();
        if !ordered {
            seen.sort_unstable();
        }
        assert_eq!(seen, (0..20).collect::<Vec<_>>(), "ordered: {ordered}");
    }
}

/// A window of millions on a few inputs runs them without first making room for millions.
#[test]
fn a_huge_window_on_a_few_inputs_stays_small() {
    crate::alone(
        "batch::a_huge_window_on_a_few_inputs_stays_small",
        a_huge_window_on_a_few_inputs_stays_small_alone,
    );
}

fn a_huge_window_on_a_few_inputs_stays_small_alone() {
    let session = FuturesSession::builder().max_workers(2).build();
    let (results, growth) = peak_rss_growth_during(|| {
        session
            .batch(0..3u32, |s, &n| s.submit(move |_| Ok(n)))
            .in_flight(4_000_000)
            .ordered()
            .count()
    });
    assert_eq!(results, 3);
    assert!(growth < 64 * MIB, "RSS grew by {} MiB", growth / MIB);
}

/// A job that iterates a batch and is cancelled while the batch waits: the wait ends, the
/// batch's jobs are cancelled, and every worker is free.
#[test]
fn cancelling_a_job_that_iterates_a_batch_ends_the_batchs_wait() {
    // A server that accepts and never answers: the streams' jobs wait for their headers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming() {
            held.push(socket);
        }
    });
    let session = FuturesSession::builder().max_workers(3).build();
    let s = session.clone();
    let (entered, started) = crossbeam_channel::bounded::<()>(1);
    let outer = session.submit(move |_| {
        entered.send(()).ok();
        let yielded = s
            .batch(0..1000, |s, _| s.get(url.clone()).events())
            .in_flight(2)
            .count();
        Ok(yielded)
    });
    started
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    std::thread::sleep(ms(100));
    assert!(outer.cancel());
    let mut next = session.submit(|_| Ok(7));
    let outcome = next.result_timeout(std::time::Duration::from_secs(5));
    assert!(matches!(outcome, Some(Ok(7))), "{outcome:?}");
}
