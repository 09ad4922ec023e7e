//! Pending handles: waiting, cancelling, shutdown, deadlock avoidance, futures, as_completed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};
use support::{Reply, TestServer};
use ureq_futures::{
    as_completed, wait_all, wait_any, Error, FuturesSession, Pending, RateLimit, RateLimiter,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Occupies every worker of `session` until the returned sender is dropped.
fn block_workers(session: &FuturesSession) -> (crossbeam_channel::Sender<()>, Vec<Pending<()>>) {
    let (tx, rx) = bounded::<()>(0);
    let (started_tx, started_rx) = bounded::<()>(session.max_workers());
    let handles: Vec<_> = (0..session.max_workers())
        .map(|_| {
            let rx: Receiver<()> = rx.clone();
            let started = started_tx.clone();
            session.submit(move |_| {
                started.send(()).unwrap();
                let _ = rx.recv();
                Ok(())
            })
        })
        .collect();
    for _ in 0..session.max_workers() {
        started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
    (tx, handles)
}

#[test]
fn try_result_and_result_timeout_do_not_consume_a_running_job() {
    let session = FuturesSession::new();
    let (release, rx) = bounded::<()>(0);
    let mut p = session.submit(move |_| {
        rx.recv().unwrap();
        Ok(7)
    });
    assert!(p.try_result().is_none());
    assert!(!p.is_done());
    let t = Instant::now();
    assert!(p.result_timeout(ms(50)).is_none());
    assert!(t.elapsed() >= ms(50));
    release.send(()).unwrap();
    assert_eq!(
        p.result_timeout(Duration::from_secs(5)).unwrap().unwrap(),
        7
    );
    assert!(p.is_done());
}

#[test]
fn cancel_is_true_until_done_and_a_queued_job_never_runs() {
    let session = FuturesSession::builder().max_workers(1).build();
    let (release, running) = block_workers(&session);
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let queued = session.submit(move |_| {
        flag.store(true, Ordering::SeqCst);
        Ok(())
    });
    assert!(queued.cancel());
    assert!(queued.is_done());
    assert!(!queued.cancel(), "a second cancel must report false");
    // A running job is cancelled too: its handle resolves at once (this closure blocks on a
    // channel, which nothing can interrupt, so its worker stays busy until the release).
    let busy = running.into_iter().next().unwrap();
    assert!(busy.cancel());
    assert!(matches!(busy.result(), Err(Error::Cancelled)));
    drop(release);
    assert!(matches!(queued.result(), Err(Error::Cancelled)));
    // Let the worker pass over the cancelled entry, then check the job did not run.
    session.submit(|_| Ok(())).result().unwrap();
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn a_cancel_racing_the_workers_decides_whether_the_job_runs() {
    // Each job is cancelled soon after it is queued, while idle workers race to claim it: every
    // job must either run to its result (and cancel say false) or end cancelled (and cancel say
    // true). A cancel that finds the job queued keeps it from running; one that finds it
    // running (true as well) cannot undo what the closure already did.
    // Both outcomes must happen, or the race was not exercised: past `JOBS`, jobs go on with
    // pauses that double (2 ms to 1 s) until each outcome was seen, as a busy machine can be
    // slow to wake a worker.
    const JOBS: usize = 2000;
    let session = FuturesSession::builder().max_workers(4).build();
    let mut ran: Vec<Arc<AtomicBool>> = Vec::with_capacity(JOBS);
    let mut outcomes = Vec::with_capacity(JOBS);
    let mut seen = (false, false); // (cancelled, ran first)
    for i in 0.. {
        if i >= JOBS && seen == (true, true) {
            break;
        }
        assert!(
            i < JOBS + 10,
            "after {i} jobs, cancelled and ran first: {seen:?}"
        );
        let flag = Arc::new(AtomicBool::new(false));
        ran.push(flag.clone());
        let handle = session.submit(move |_| {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        });
        // From no pause (the cancel nearly always wins) to 2 ms (a worker nearly always does).
        match i % 100 {
            _ if i >= JOBS => std::thread::sleep(ms(2 << (i - JOBS))),
            0..=49 => {}
            99 => std::thread::sleep(ms(2)),
            n => std::thread::sleep(Duration::from_micros(n as u64)),
        }
        let cancelled = handle.cancel();
        seen = (seen.0 || cancelled, seen.1 || !cancelled);
        outcomes.push((cancelled, handle.result()));
    }
    // Once joined, every queue entry has been passed over: a job that was going to run has.
    session.join();
    for (i, ((cancelled, result), flag)) in outcomes.into_iter().zip(&ran).enumerate() {
        let did_run = flag.load(Ordering::SeqCst);
        assert!(
            did_run || cancelled,
            "job {i} neither ran nor was cancelled"
        );
        if cancelled {
            assert!(
                matches!(result, Err(Error::Cancelled)),
                "job {i}: {result:?}"
            );
        } else {
            assert!(result.is_ok(), "job {i}: {result:?}");
        }
    }
}

#[test]
fn shutdown_cancels_queued_jobs_and_lets_running_ones_finish() {
    let session = FuturesSession::builder().max_workers(2).build();
    let (release, running) = block_workers(&session);
    let ran = Arc::new(AtomicUsize::new(0));
    let mut queued: Vec<_> = (0..5)
        .map(|_| {
            let ran = ran.clone();
            session.submit(move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .collect();
    assert_eq!(session.queued(), 5);
    session.shutdown();
    assert!(session.is_shut_down());
    // Queued jobs resolve at once, while the workers are still busy.
    for q in &mut queued {
        match q.result_timeout(Duration::from_secs(1)) {
            Some(Err(Error::ShutDown)) => {}
            other => panic!("expected ShutDown, got {other:?}"),
        }
    }
    assert!(matches!(
        session.submit(|_| Ok(())).result(),
        Err(Error::ShutDown)
    ));
    drop(release);
    for h in running {
        h.result().unwrap();
    }
    session.join();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn dropping_the_last_clone_returns_at_once_and_queued_jobs_still_run() {
    let session = FuturesSession::builder().max_workers(1).build();
    let clone = session.clone();
    let (release, running) = block_workers(&session);
    let queued = session.submit(|_| Ok(()));
    drop(clone);
    assert!(!queued.is_done(), "a live clone keeps the session running");
    let t = Instant::now();
    drop(session);
    assert!(t.elapsed() < Duration::from_secs(1), "drop blocked");
    assert!(
        !queued.is_done(),
        "a queued job with a live handle was resolved"
    );
    drop(release);
    running.into_iter().for_each(|h| h.result().unwrap());
    assert!(queued.result().is_ok());
}

#[test]
fn result_on_a_worker_of_a_full_pool_runs_the_job_inline() {
    let session = FuturesSession::builder().max_workers(1).build();
    let inner_session = session.clone();
    // The only worker waits on a job queued behind itself: without inline execution this would
    // deadlock forever.
    let outer = session.submit(move |_| {
        let inner = inner_session.submit(|_| Ok(21));
        Ok(inner.result()? * 2)
    });
    let mut outer = outer;
    match outer.result_timeout(Duration::from_secs(5)) {
        Some(r) => assert_eq!(r.unwrap(), 42),
        None => panic!("deadlocked"),
    }
}

/// A job that submits the job of `depth - 1` and waits for it, down to 0; at the bottom,
/// `bottom` runs. Each level is queued when its parent waits, so it runs inline.
fn chain(
    session: FuturesSession,
    depth: u32,
    bottom: Arc<dyn Fn() -> Result<u32, Error> + Send + Sync>,
) -> Pending<u32> {
    let s = session.clone();
    session.submit(move |_| {
        if depth == 0 {
            return bottom();
        }
        Ok(chain(s, depth - 1, bottom).result()? + 1)
    })
}

#[test]
fn a_long_chain_of_jobs_waiting_for_queued_jobs_does_not_overflow_a_worker_stack() {
    // A thousand jobs inline inside one another overflowed the 2 MiB stack of a worker, which
    // aborts the whole process: past a depth they go on a fresh stack.
    for workers in [1, 8] {
        let session = FuturesSession::builder().max_workers(workers).build();
        let mut top = chain(session, 3000, Arc::new(|| Ok(0)));
        let result = top.result_timeout(Duration::from_secs(60));
        assert_eq!(
            result.expect("deadlocked").unwrap(),
            3000,
            "{workers} workers"
        );
    }
}

#[test]
fn a_cancel_and_shutdown_now_reach_the_bottom_of_a_long_chain_of_inline_jobs() {
    // Past 64 levels the chain goes on other threads, which must still be stopped with it.
    for way in ["cancel", "shutdown_now"] {
        stop_a_long_chain(way);
    }
}

/// The bottom job waits for a job of another session that never ends; the top is stopped.
fn stop_a_long_chain(way: &str) {
    let (started_tx, started) = bounded(1);
    let (ended_tx, ended) = bounded(1);
    let other = FuturesSession::builder().max_workers(1).build();
    let (go, wait) = bounded::<()>(0);
    let never = other.submit(move |_| {
        wait.recv().ok();
        Ok(0)
    });
    let never = Arc::new(std::sync::Mutex::new(Some(never)));
    let bottom = Arc::new(move || {
        let handle = never.lock().unwrap().take().expect("one bottom");
        started_tx.send(()).ok();
        let result = handle.result();
        ended_tx.send(matches!(result, Err(Error::Cancelled))).ok();
        result
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let top = chain(session.clone(), 300, bottom);
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("the bottom job ran");
    if way == "cancel" {
        assert!(top.cancel(), "the chain ended before the cancel");
    } else {
        session.shutdown_now();
    }
    let cancelled = ended.recv_timeout(Duration::from_secs(10));
    assert_eq!(cancelled, Ok(true), "{way}: the bottom job's wait went on");
    assert!(matches!(top.result(), Err(Error::Cancelled)), "{way}");
    drop(go);
    if way == "cancel" {
        let mut next = session.submit(|_| Ok(7));
        let next = next.result_timeout(Duration::from_secs(10));
        assert_eq!(next.expect("the worker is free").unwrap(), 7);
    }
}

#[test]
fn as_completed_on_a_worker_of_a_full_pool_does_not_deadlock() {
    let session = FuturesSession::builder().max_workers(2).build();
    let s = session.clone();
    let mut outer = session.submit(move |_| {
        let inner: Vec<_> = (0..10u32).map(|i| s.submit(move |_| Ok(i))).collect();
        Ok(as_completed(inner).map(|(_, r)| r.unwrap()).sum::<u32>())
    });
    let mut outer2 = {
        let s = session.clone();
        session.submit(move |_| {
            let inner: Vec<_> = (0..10u32).map(|i| s.submit(move |_| Ok(i))).collect();
            wait_all(&inner);
            let i = wait_any(&inner).unwrap();
            Ok(inner.into_iter().nth(i).unwrap().result().is_ok())
        })
    };
    assert_eq!(
        outer
            .result_timeout(Duration::from_secs(5))
            .expect("deadlocked")
            .unwrap(),
        45
    );
    assert!(outer2
        .result_timeout(Duration::from_secs(5))
        .expect("deadlocked")
        .unwrap());
}

#[test]
fn wait_and_wait_any_on_the_only_worker_run_the_queued_job_inline() {
    let session = FuturesSession::builder().max_workers(1).build();
    let s = session.clone();
    // The one worker waits on jobs queued behind itself, none of them done yet.
    let mut outer = session.submit(move |_| {
        let first = s.submit(|_| Ok(1u32));
        first.wait();
        let second = [s.submit(|_| Ok(2u32))];
        let i = wait_any(&second).expect("one handle");
        let [second] = second;
        Ok(first.result()? + second.result()? + i as u32)
    });
    assert_eq!(
        outer
            .result_timeout(Duration::from_secs(10))
            .expect("deadlocked")
            .unwrap(),
        3
    );
}

#[test]
fn panics_in_submitted_jobs_keep_every_worker() {
    let session = FuturesSession::builder().max_workers(3).build();
    let panics: Vec<_> = (0..9)
        .map(|i| session.submit(move |_| -> Result<(), Error> { panic!("job {i} failed") }))
        .collect();
    for (i, p) in panics.into_iter().enumerate() {
        match p.result() {
            Err(Error::Panicked(msg)) => assert_eq!(msg, format!("job {i} failed")),
            other => panic!("{other:?}"),
        }
    }
    // Three jobs meet at a barrier: possible only if all three workers are alive.
    let barrier = Arc::new(std::sync::Barrier::new(3));
    for mut h in crate::at_barrier(&session, 3, &barrier) {
        h.result_timeout(Duration::from_secs(5))
            .expect("a worker was lost")
            .unwrap();
    }
}

#[test]
fn as_completed_yields_in_completion_order_with_indices() {
    let session = FuturesSession::new();
    // Job i finishes when gate i opens; the gates open in the order 1, 3, 2, 0, each after the
    // previous completion was seen.
    let gates: Vec<_> = (0..4).map(|_| bounded::<()>(0)).collect();
    let handles: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, (_, wait))| {
            let wait = wait.clone();
            session.submit(move |_| {
                wait.recv_timeout(Duration::from_secs(10)).unwrap();
                Ok(i * 10)
            })
        })
        .collect();
    let mut done = as_completed(handles);
    assert_eq!(done.len(), 4);
    for i in [1usize, 3, 2, 0] {
        gates[i].0.send(()).unwrap();
        let (index, result) = done.next().unwrap();
        assert_eq!((index, result.unwrap()), (i, i * 10));
    }
    assert!(done.next().is_none());
}

#[test]
fn as_completed_reports_errors_and_cancellations() {
    let session = FuturesSession::builder().max_workers(1).build();
    let (release, running) = block_workers(&session);
    let a = session.submit(|_| Ok(1));
    let b = session.submit(|_| -> Result<i32, Error> { Err(Error::Protocol("b failed".into())) });
    assert!(a.cancel());
    drop(release);
    let mut results: Vec<_> = as_completed(vec![a, b]).collect();
    results.sort_by_key(|(i, _)| *i);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].0, 0);
    assert!(
        matches!(results[0].1, Err(Error::Cancelled)),
        "{:?}",
        results[0].1
    );
    assert_eq!(results[1].0, 1);
    assert!(
        matches!(&results[1].1, Err(Error::Protocol(m)) if m == "b failed"),
        "{:?}",
        results[1].1
    );
    running.into_iter().for_each(|h| h.result().unwrap());
}

#[test]
fn wait_any_returns_the_first_done() {
    let session = FuturesSession::new();
    let (release, rx) = bounded::<()>(0);
    let slow = session.submit(move |_| {
        let _ = rx.recv();
        Ok(0)
    });
    let fast = session.submit(|_| Ok(1));
    let handles = vec![slow, fast];
    assert_eq!(wait_any(&handles), Some(1));
    assert!(!handles[0].is_done());
    drop(release);
    wait_all(&handles);
    assert!(handles.iter().all(|h| h.is_done()));
}

/// A minimal executor: polls `fut` on this thread, parking it until a waker unparks it.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn pending_is_a_future() {
    let session = FuturesSession::new();
    let p = session.submit(|_| {
        std::thread::sleep(ms(30));
        Ok("awaited")
    });
    let value = block_on(p).unwrap();
    assert_eq!(value, "awaited");

    // Several handles joined by an executor, woken by the workers.
    let a = session.submit(|_| Ok(1));
    let b = session.submit(|_| {
        std::thread::sleep(ms(20));
        Ok(2)
    });
    let sum = block_on(async { a.await.unwrap() + b.await.unwrap() });
    assert_eq!(sum, 3);
}

/// A future dropped before its job is done (a `select!` that took another branch, a timeout
/// around `.await`) kept the waker of its last poll until the job ended, and with it the task
/// of the executor that polled it: for ever, for a request to a silent server.
#[test]
fn a_dropped_future_lets_go_of_its_waker() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Wake, Waker};

    struct Task;
    impl Wake for Task {
        fn wake(self: Arc<Self>) {}
    }
    let task = Arc::new(Task);
    let session = FuturesSession::builder().max_workers(1).build();
    let (go, wait) = bounded::<()>(0);
    let mut p = session.submit(move |_| {
        let _ = wait.recv();
        Ok(())
    });
    let waker = Waker::from(Arc::clone(&task));
    assert!(Pin::new(&mut p)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    drop(waker);
    assert_eq!(Arc::strong_count(&task), 2, "the handle keeps the waker");
    drop(p);
    assert_eq!(
        Arc::strong_count(&task),
        1,
        "the dropped handle's job still holds the waker"
    );
    drop(go);
}

#[test]
fn join_on_a_worker_shuts_the_session_down_without_waiting_for_itself() {
    let session = FuturesSession::builder().max_workers(1).build();
    let s = session.clone();
    let mut p = session.submit(move |_| {
        s.join();
        Ok(s.is_shut_down())
    });
    assert!(p
        .result_timeout(Duration::from_secs(5))
        .expect("join waited for itself")
        .unwrap());
}

/// A waker that panics when woken (a bug of the executor that polled the handle) made the
/// worker drop the handle's other listeners unwoken, so `as_completed` ended without the
/// result; and `cancel` of a running job panicked before it interrupted the job.
#[test]
fn a_waker_that_panics_loses_no_result_and_stops_no_cancel() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Wake, Waker};

    struct Panics;
    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            panic!("a waker that panics");
        }
    }
    let waker = Waker::from(Arc::new(Panics));
    let session = FuturesSession::builder().max_workers(1).build();

    let (go, wait) = bounded::<()>(0);
    let mut p = session.submit(move |_| {
        let _ = wait.recv();
        Ok(5)
    });
    assert!(Pin::new(&mut p)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let mut done = as_completed(vec![p]);
    go.send(()).unwrap();
    let (index, result) = done.next().expect("as_completed ended without the result");
    assert_eq!((index, result.unwrap()), (0, 5));

    let (go, wait) = bounded::<()>(0);
    let mut running = session.submit(move |_| {
        let _ = wait.recv();
        Ok(6)
    });
    assert!(Pin::new(&mut running)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| running.cancel()));
    assert!(matches!(cancelled, Ok(true)), "cancel panicked");
    assert!(matches!(running.result(), Err(Error::Cancelled)));
    drop(go);
    // The only worker is still there.
    assert_eq!(session.submit(|_| Ok(1)).result().unwrap(), 1);
}

/// Panics in `Drop`: a job dropped unrun (cancelled, or queued at a shutdown) whose closure
/// panicked as it was dropped left its handle unresolved for ever, and the shutdown stopped
/// there, its later queued jobs left to run; a job that panicked with a payload whose `Drop`
/// panicked left its handle unresolved too.
#[test]
fn panics_while_dropping_a_job_or_its_panic_leave_no_handle_unresolved() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("dropped");
        }
    }
    let session = FuturesSession::builder().max_workers(1).build();

    let mut payload =
        session.submit(|_| -> Result<(), Error> { std::panic::panic_any(PanicsOnDrop) });
    match payload.result_timeout(Duration::from_secs(5)) {
        Some(Err(Error::Panicked(msg))) => assert_eq!(msg, "a panic with a non-string payload"),
        other => panic!("{other:?}"),
    }

    let (release, busy) = block_workers(&session);
    let guard = PanicsOnDrop;
    let mut cancelled = session.submit(move |_| {
        let _guard = &guard;
        Ok(1)
    });
    let cancel = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cancelled.cancel()));
    assert!(matches!(cancel, Ok(true)), "cancel panicked");
    assert!(matches!(
        cancelled.result_timeout(Duration::from_secs(5)),
        Some(Err(Error::Cancelled))
    ));

    let guard = PanicsOnDrop;
    let mut first = session.submit(move |_| {
        let _guard = &guard;
        Ok(2)
    });
    let mut second = session.submit(|_| Ok(3));
    let shutdown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.shutdown()));
    assert!(shutdown.is_ok(), "shutdown panicked");
    for queued in [&mut first, &mut second] {
        assert!(matches!(
            queued.result_timeout(Duration::from_secs(5)),
            Some(Err(Error::ShutDown))
        ));
    }
    drop(release);
    for h in busy {
        h.result().unwrap();
    }
}

#[test]
fn an_event_stream_waited_for_on_a_worker_of_a_full_pool_runs_on_a_thread_of_its_own() {
    // The stream's job runs for as long as the stream is open, never inline: the only worker
    // waited for a free one for ever.
    let server = TestServer::start(|_| Reply::sse(["data: a\n\n", "data: b\n\n"], ms(5)));
    let session = FuturesSession::builder().max_workers(1).build();
    let (s, url) = (session.clone(), server.url());
    let mut job = session.submit(move |_| {
        let stream = s.get(&url).events().result()?;
        let events: Result<Vec<_>, _> = stream.map(|e| e.map(|e| e.data)).collect();
        events
    });
    let events = job.result_timeout(Duration::from_secs(20));
    assert_eq!(events.expect("deadlocked").unwrap(), ["a", "b"]);
    // The pool is whole: its one worker runs the next job.
    let mut next = session.submit(|_| Ok(7));
    assert_eq!(
        next.result_timeout(Duration::from_secs(10))
            .unwrap()
            .unwrap(),
        7
    );
}

#[test]
fn shutdown_now_stops_an_event_stream_running_on_a_thread_of_its_own() {
    // One event, then silence. The job hands the stream out as its result and ends: the
    // stream's thread is then listed where the job's worker lists its jobs, and only
    // `shutdown_now` reaching it there ends the read that waits for the next event.
    let server = TestServer::start(|_| {
        Reply::stall_mid_body("data: a\n\n", 1000).content_type("text/event-stream")
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let (s, url) = (session.clone(), server.url());
    let mut job = session.submit(move |_| s.get(&url).events().result());
    let mut stream = job
        .result_timeout(Duration::from_secs(20))
        .expect("deadlocked")
        .unwrap();
    assert_eq!(stream.next().unwrap().unwrap().data, "a");
    session.shutdown_now();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || tx.send(stream.next().map(|e| e.map(|e| e.data))).ok());
    let next = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the stream went on");
    assert!(
        matches!(next, Some(Err(Error::Cancelled)) | None),
        "{next:?}"
    );
}

/// An event stream of three events, 5 ms apart.
fn three_events() -> TestServer {
    TestServer::start(|_| Reply::sse(["data: a\n\n", "data: b\n\n", "data: c\n\n"], ms(5)))
}

#[test]
fn a_stream_with_a_lane_waits_for_its_lane_and_never_goes_apart() {
    // One request an hour: a job of a one-worker session that opens streams must not pass the
    // limiter by running them apart. (In a session with lanes a stream never goes apart: this
    // one waits for a free worker, see `Pending::result`.)
    let server = three_events();
    let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(0.0));
    let session = FuturesSession::builder()
        .max_workers(1)
        .rate_limiter(limiter.clone())
        .build();
    let (s, url) = (session.clone(), server.url());
    let mut job = session.submit(move |_| {
        let mut n = 0;
        for _ in 0..3 {
            n += s.get(&url).events().result()?.count();
        }
        Ok(n)
    });
    assert!(job.result_timeout(Duration::from_secs(1)).is_none());
    assert!(server.request_count() <= 1, "{}", server.request_count());
    session.shutdown_now();
    assert!(job.result().is_err());
    // max_per_host(1) with free workers: a job's stream waits for the one open to its host.
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (o, m) = (Arc::clone(&open), Arc::clone(&most));
    let slow = TestServer::start(move |_| {
        let (o, m) = (Arc::clone(&o), Arc::clone(&m));
        Reply::custom(move |sock| {
            use std::io::Write;
            m.fetch_max(o.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            let _ = sock.write_all(head.as_bytes());
            for i in 0..6 {
                std::thread::sleep(ms(30));
                let _ = sock.write_all(format!("data: {i}\n\n").as_bytes());
            }
            o.fetch_sub(1, Ordering::SeqCst);
        })
    });
    let session = FuturesSession::builder()
        .max_workers(4)
        .max_per_host(1)
        .build();
    let first = session.get(slow.url()).events().result().unwrap();
    let (s, url) = (session.clone(), slow.url());
    let mut job = session.submit(move |_| Ok(s.get(&url).events().result()?.count()));
    assert_eq!(first.count(), 6);
    let second = job
        .result_timeout(Duration::from_secs(10))
        .expect("deadlocked");
    assert_eq!(second.unwrap(), 6);
    assert_eq!(most.load(Ordering::SeqCst), 1, "max_per_host(1) passed");
}

#[test]
fn a_stream_of_a_job_cancelled_before_it_waits_is_never_sent() {
    let server = three_events();
    let session = FuturesSession::builder().max_workers(1).build();
    for _ in 0..20 {
        let before = server.request_count();
        let (go_tx, go) = bounded::<()>(1);
        let (done_tx, done) = bounded(1);
        let (s, url) = (session.clone(), server.url());
        let (started_tx, started) = bounded(1);
        let job = session.submit(move |_| {
            started_tx.send(()).ok();
            let stream = s.get(&url).events();
            go.recv_timeout(Duration::from_secs(5)).ok();
            done_tx.send(stream.result().map(|_| ())).ok();
            Ok(())
        });
        // Cancelled once it runs (a cancel while it is queued would drop it unrun).
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(job.cancel());
        go_tx.send(()).unwrap();
        let waited = done
            .recv_timeout(Duration::from_secs(10))
            .expect("the wait ended");
        assert!(matches!(waited, Err(Error::Cancelled)), "{waited:?}");
        std::thread::sleep(ms(30));
        assert_eq!(
            server.request_count(),
            before,
            "the cancelled job's stream was sent"
        );
    }
}

/// A job awaits the first of two requests (a select, as `tokio::select!` makes one) and is
/// cancelled: the branch polled after the cancel cancels its request and ends the select, which
/// drops the other handle without polling it again. That request is cancelled too, as
/// `wait_any` cancels all it waits for: the job's cancel ends what it waits on.
#[test]
fn a_cancelled_job_awaiting_a_select_cancels_both_requests() {
    use std::future::Future;
    use std::io::Read;
    use std::pin::Pin;
    use std::task::Poll;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let open = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&open);
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let open = Arc::clone(&counted);
            open.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                // Silent: reads until the client closes.
                while matches!(socket.read(&mut [0; 4096]), Ok(n) if n > 0) {}
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    let session = FuturesSession::builder().max_workers(3).build();
    let s = session.clone();
    let (polled_tx, polled) = crossbeam_channel::bounded::<()>(1);
    let outer = session.submit(move |_| {
        let mut a = s.get(url.clone()).send();
        let mut b = s.get(url).send();
        let first = block_on(std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = Pin::new(&mut a).poll(cx) {
                return Poll::Ready(r);
            }
            let b = Pin::new(&mut b).poll(cx);
            let _ = polled_tx.try_send(());
            b
        }));
        Ok(first.map(|_| ()))
    });
    // Both handles were polled before the cancel (a handle the job never polled is not its
    // to cancel when dropped: see `Pending`'s drop).
    polled.recv_timeout(Duration::from_secs(10)).unwrap();
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    until("the requests never came", &|| {
        open.load(Ordering::SeqCst) == 2
    });
    assert!(outer.cancel());
    assert!(matches!(outer.result(), Err(Error::Cancelled)));
    until(
        "a request the cancelled job awaited still runs, its handle gone",
        &|| open.load(Ordering::SeqCst) == 0,
    );
}

/// `pending` polled once, as an async caller's first `.await` does; the caller drops it when
/// it gives up (a timeout around it ran out, or another branch of a `select!` won).
fn polled<T: Send + 'static>(pending: Pending<T>) -> std::pin::Pin<Box<Pending<T>>> {
    use std::future::Future;
    let mut pending = Box::pin(pending);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(pending.as_mut().poll(&mut cx).is_pending());
    pending
}

#[test]
fn a_handle_made_to_cancel_on_drop_stops_its_request_when_an_async_caller_gives_up() {
    // The head, then a body that never comes.
    let server = TestServer::start(|_| Reply::stall());
    let sent = |n: usize| {
        let running = support::eventually(Duration::from_secs(5), || server.request_count() >= n);
        assert!(running, "the request never reached the server");
    };

    // By default the request runs on: the only worker stays busy.
    let session = FuturesSession::builder().max_workers(1).build();
    let future = polled(session.get(server.url()).send());
    sent(1);
    drop(future);
    let mut next = session.submit(|_| Ok(1));
    assert!(
        next.result_timeout(ms(300)).is_none(),
        "the worker was freed"
    );
    assert!(next.cancel());
    session.shutdown_now();

    // Made to cancel on drop, the running request is interrupted and its worker freed.
    let session = FuturesSession::builder().max_workers(1).build();
    let future = polled(session.get(server.url()).send().cancel_on_drop());
    sent(2);
    drop(future);
    let next = session
        .submit(|_| Ok(1))
        .result_timeout(Duration::from_secs(5));
    assert_eq!(next.map(Result::ok), Some(Some(1)));

    // Queued when dropped, it is never sent.
    let (release, _blocked) = block_workers(&session);
    drop(polled(session.get(server.url()).send().cancel_on_drop()));
    drop(release);
    let next = session
        .submit(|_| Ok(2))
        .result_timeout(Duration::from_secs(5));
    assert_eq!(next.map(Result::ok), Some(Some(2)));
    std::thread::sleep(ms(100));
    assert_eq!(server.request_count(), 2);
}
