//! The bounded batch API against local servers: every input once, the window respected as the
//! server sees it, and a million inputs in bounded memory.

use std::collections::HashSet;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use support::{ms, peak_rss_growth_during, Reply, TestServer};
use ureq_futures::{Batch, BatchProgress, Error, FuturesSession, Pending};

use crate::cancel::silent_until_closed;

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

/// A batch that may end before its inputs do promises no more results than it yields:
/// `collect` of an endless input that a shutdown ends reserved for `usize::MAX` of them and
/// panicked (`capacity overflow`), and a stopped batch promised the rest of its inputs.
#[test]
fn a_batch_promises_no_more_results_than_it_yields() {
    let session = FuturesSession::builder().max_workers(2).build();
    let stopper = session.clone();
    let made = AtomicUsize::new(0);
    let results: Vec<_> = session
        .batch(0u64.., move |s, &i| {
            if made.fetch_add(1, Ordering::SeqCst) == 20 {
                stopper.shutdown();
            }
            s.submit(move |_| Ok(i))
        })
        .collect();
    assert!((21..=22).contains(&results.len()), "{}", results.len());

    let session = FuturesSession::builder().max_workers(2).build();
    let mut batch = session.batch(0..100u32, |s, &i| s.submit(move |_| Ok(i)));
    assert_eq!(batch.size_hint(), (0, Some(100)));
    session.shutdown();
    let (_, first) = batch.next().expect("the job refused");
    assert!(matches!(first, Err(Error::ShutDown)), "{first:?}");
    assert_eq!(batch.size_hint(), (0, Some(0)));
    assert_eq!(batch.count(), 0);
}

/// A server that answers nothing, and tells `seen` each request's path.
fn silent_paths() -> (TestServer, Receiver<String>) {
    let (tx, seen) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |req| {
        let _ = tx.send(req.path.clone());
        Reply::custom(silent_until_closed)
    });
    (server, seen)
}

/// Waits until a worker of `session` is free to run a job: the cancelled batch's job has ended.
fn a_worker_is_free(session: &FuturesSession) {
    let mut probe = session.submit(|_| Ok(()));
    let outcome = probe.result_timeout(Duration::from_secs(10));
    assert!(matches!(outcome, Some(Ok(()))), "{outcome:?}");
}

type Reports = Arc<Mutex<Vec<BatchProgress>>>;

/// Iterates `batch` to its end, keeping its progress reports in `log`, and tells `ended` then:
/// a cancelled job goes on to the end of its closure.
fn count_reporting<I, T, F>(batch: Batch<I, T, F>, log: Reports, ended: Sender<()>) -> usize
where
    I: Iterator,
    T: Send + 'static,
    F: FnMut(&FuturesSession, &I::Item) -> Pending<T>,
{
    let yielded = batch
        .progress(move |p| log.lock().unwrap().push(p.clone()))
        .count();
    let _ = ended.send(());
    yielded
}

/// The last report's submitted, completed, failed, cancelled and in-flight counts.
fn last_counts(reports: &Reports) -> (u64, u64, u64, u64, usize) {
    let last = reports.lock().unwrap().last().cloned().expect("a report");
    (
        last.submitted,
        last.completed,
        last.failed,
        last.cancelled,
        last.in_flight,
    )
}

/// A cancel of the job a batch is iterated in stops the batch at once: its jobs count as
/// cancelled (they were failures: each job's handle, polled in the cancelled job, cancelled
/// itself and came back `Err(Cancelled)`), and no input is read after it (the window went on
/// filling, `make` ran for the rest, and a request made after the cancel could reach the
/// server).
#[test]
fn a_cancel_of_the_job_a_batch_runs_in_reads_no_more_inputs_and_counts_cancels() {
    let (server, seen) = silent_paths();
    let session = FuturesSession::builder().max_workers(8).build();
    let reports: Reports = Arc::default();
    let (made_tx, made) = crossbeam_channel::unbounded::<u32>();
    let (ended_tx, ended) = crossbeam_channel::bounded::<()>(1);
    let (go, wait) = crossbeam_channel::bounded::<()>(0);
    let (s, url, log) = (session.clone(), server.url(), reports.clone());
    let outer = session.submit(move |_| {
        let batch = s.batch(0..40u32, move |s, &i| {
            made_tx.send(i).unwrap();
            if i == 3 {
                // The test cancels the batch's job here.
                let _ = wait.recv();
            }
            s.get(format!("{url}/{i}")).send()
        });
        let batch = batch.in_flight(40);
        Ok(count_reporting(batch, log, ended_tx))
    });
    let mut paths: Vec<String> = (0..3)
        .map(|_| seen.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(made.recv_timeout(Duration::from_secs(10)).ok(), Some(0));
    for i in 1..4 {
        assert_eq!(made.recv_timeout(Duration::from_secs(10)).ok(), Some(i));
    }
    assert!(outer.cancel());
    go.send(()).unwrap();
    // The batch's job ends (its requests' cancels free their workers), then any request
    // made after the cancel would have arrived.
    ended.recv_timeout(Duration::from_secs(10)).unwrap();
    a_worker_is_free(&session);
    std::thread::sleep(ms(200));
    paths.extend(seen.try_iter());
    paths.sort();
    // Input 3's request was made as the cancel came: a free worker may have sent it before
    // the batch's stop cancelled it. No later input's was.
    paths.retain(|p| p != "/3");
    assert_eq!(paths, ["/0", "/1", "/2"], "requests after the cancel");
    assert_eq!(
        made.try_iter().collect::<Vec<_>>(),
        Vec::<u32>::new(),
        "inputs read after the cancel"
    );
    assert_eq!(last_counts(&reports), (4, 0, 0, 4, 0));
}

/// A job that finished before a cancel of the batch's job, and that the batch had not polled
/// yet, counts as completed: it was neither yielded nor counted (a cancel of a finished job
/// does not take).
#[test]
fn a_job_finished_before_the_cancel_counts_as_completed() {
    let session = FuturesSession::builder().max_workers(4).build();
    let reports: Reports = Arc::default();
    let (ran_tx, ran) = crossbeam_channel::unbounded::<()>();
    let (go, wait) = crossbeam_channel::bounded::<()>(0);
    let (hold_tx, hold) = crossbeam_channel::bounded::<()>(0);
    let (ended_tx, ended) = crossbeam_channel::bounded::<()>(1);
    let (s, log) = (session.clone(), reports.clone());
    let outer = session.submit(move |_| {
        let batch = s.batch(0..2u32, move |s, &i| {
            let (ran, hold) = (ran_tx.clone(), hold.clone());
            if i == 1 {
                // Job 0 finishes meanwhile; the test cancels the batch's job here.
                let _ = wait.recv();
            }
            s.submit(move |_| {
                if i == 0 {
                    let _ = ran.send(());
                } else {
                    let _ = hold.recv();
                }
                Ok(i)
            })
        });
        Ok(count_reporting(batch, log, ended_tx))
    });
    ran.recv_timeout(Duration::from_secs(10)).unwrap();
    std::thread::sleep(ms(100));
    assert!(outer.cancel());
    go.send(()).unwrap();
    // The batch's job goes on to its end (the cancel stops the batch, not the closure).
    ended.recv_timeout(Duration::from_secs(10)).unwrap();
    drop(hold_tx);
    assert_eq!(last_counts(&reports), (2, 1, 0, 1, 0));
}

/// `shutdown_now` while a job iterates a batch: its jobs count as cancelled, those the
/// shutdown resolved before the batch's stop came included (they counted as failed).
#[test]
fn a_shutdown_now_counts_the_batchs_jobs_as_cancelled() {
    let (server, seen) = silent_paths();
    let session = FuturesSession::builder().max_workers(2).build();
    let reports: Reports = Arc::default();
    let (ended_tx, ended) = crossbeam_channel::bounded::<()>(1);
    let (s, url, log) = (session.clone(), server.url(), reports.clone());
    let _outer = session.submit(move |_| {
        let batch = s.batch(0..6u32, move |s, &i| s.get(format!("{url}/{i}")).send());
        let batch = batch.in_flight(5);
        Ok(count_reporting(batch, log, ended_tx))
    });
    // One worker runs the batch, the other the first request; the rest are queued.
    seen.recv_timeout(Duration::from_secs(10)).unwrap();
    std::thread::sleep(ms(100));
    session.shutdown_now();
    ended.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(last_counts(&reports), (5, 0, 0, 5, 0));
}

/// The error that stops a batch under `stop_on_error` is yielded even when the progress
/// callback panics on the report of the cancels that follow it (a caller that catches the
/// panic and iterates on lost it).
#[test]
fn an_error_that_stops_a_batch_survives_a_progress_callback_that_panics() {
    let session = FuturesSession::builder().max_workers(1).build();
    let (release, wait) = crossbeam_channel::unbounded::<()>();
    let mut batch = session
        .batch(0..10u32, move |s, &i| {
            let wait = wait.clone();
            s.submit(move |_| {
                if i == 0 {
                    return Err(Error::Protocol("first".into()));
                }
                let _ = wait.recv();
                Ok(i)
            })
        })
        .in_flight(4)
        .stop_on_error()
        .progress(|p| assert!(p.cancelled == 0, "the callback's own panic"));
    let mut yielded = Vec::new();
    let mut panics = 0;
    loop {
        match catch_unwind(AssertUnwindSafe(|| batch.next())) {
            Ok(Some((i, result))) => yielded.push((i, result.map_err(|e| e.to_string()))),
            Ok(None) => break,
            Err(_) => panics += 1,
        }
        assert!(panics < 3, "the batch panics on every call");
    }
    drop(release);
    assert_eq!(panics, 1);
    assert_eq!(yielded, [(0, Err("protocol: first".to_string()))]);
}

/// Records whether its session said it was shut down when it was woken.
struct SeesShutdown {
    session: FuturesSession,
    woken: AtomicBool,
    shut_down: AtomicBool,
}

impl Wake for SeesShutdown {
    fn wake(self: Arc<Self>) {
        self.shut_down
            .store(self.session.is_shut_down(), Ordering::SeqCst);
        self.woken.store(true, Ordering::SeqCst);
    }
}

/// A handle resolved by a shutdown sees its session shut down when it wakes its waker: a job
/// held back by `max_per_host` was resolved before `is_shut_down` said so, and a batch woken
/// by it read more inputs and ran `make` for them after the shutdown began.
#[test]
fn a_job_a_shutdown_resolves_wakes_to_a_shut_down_session() {
    let (server, seen) = silent_paths();
    let session = FuturesSession::builder()
        .max_workers(4)
        .max_per_host(1)
        .build();
    let running = session.get(server.url()).send();
    seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut parked = session.get(server.url()).send();
    // A worker takes it from the queue and parks it in its origin's lane.
    std::thread::sleep(ms(300));
    let watcher = Arc::new(SeesShutdown {
        session: session.clone(),
        woken: AtomicBool::new(false),
        shut_down: AtomicBool::new(false),
    });
    let waker = Waker::from(watcher.clone());
    let poll = std::pin::Pin::new(&mut parked).poll(&mut Context::from_waker(&waker));
    assert!(poll.is_pending());
    session.shutdown_now();
    assert!(matches!(parked.result(), Err(Error::ShutDown)));
    assert!(watcher.woken.load(Ordering::SeqCst));
    assert!(
        watcher.shut_down.load(Ordering::SeqCst),
        "woken before is_shut_down said so"
    );
    drop(running);
}
