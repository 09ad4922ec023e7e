//! Handles that outlive their session, and workers that start on demand.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::{ms, Reply, TestServer};
#[cfg(feature = "llm")]
use ureq_futures::llm::OpenAIClient;
use ureq_futures::{
    Error, FuturesSession, Pending, RateLimit, RateLimiter, Response, SessionBuilder,
};

/// The helper a new user writes: a session of its own, handles out, session dropped.
fn fetch_all(urls: &[String]) -> Vec<Pending<Response>> {
    let session = FuturesSession::new();
    urls.iter().map(|u| session.get(u).send()).collect()
}

#[test]
fn handles_of_a_dropped_session_all_finish() {
    // Slow enough that most of the 20 jobs are still queued when `fetch_all` returns.
    let server = TestServer::start(|r| Reply::ok(r.path_only().to_string()).delay(ms(20)));
    let urls: Vec<String> = (0..20).map(|i| server.url_for(&format!("/{i}"))).collect();
    let handles = fetch_all(&urls);
    assert_eq!(handles.len(), 20);
    for (i, h) in handles.into_iter().enumerate() {
        let resp = h.result().unwrap_or_else(|e| panic!("handle {i}: {e}"));
        assert_eq!(resp.text().unwrap(), format!("/{i}"));
    }
    assert_eq!(server.request_count(), 20);
}

/// `fetch_all` with a session that has lanes: four jobs of one origin through one worker, most
/// of them still queued or parked in their lane when the session is dropped.
fn fetch_all_from(urls: &[String], builder: SessionBuilder) -> Vec<String> {
    let handles: Vec<Pending<Response>> = {
        let session = builder.max_workers(1).build();
        urls.iter().map(|u| session.get(u).send()).collect()
    };
    handles
        .into_iter()
        .map(|h| match h.result() {
            Ok(r) => r.text().unwrap().to_string(),
            Err(e) => format!("Err({e})"),
        })
        .collect()
}

#[test]
fn handles_of_a_dropped_session_with_max_per_host_all_finish() {
    let server = TestServer::start(|r| Reply::ok(r.path_only().to_string()).delay(ms(30)));
    let urls: Vec<String> = (0..4).map(|i| server.url_for(&format!("/{i}"))).collect();
    let builder = FuturesSession::builder().max_per_host(1);
    assert_eq!(fetch_all_from(&urls, builder), ["/0", "/1", "/2", "/3"]);
}

#[test]
fn handles_of_a_dropped_session_with_a_rate_limiter_all_finish() {
    let server = TestServer::start(|r| Reply::ok(r.path_only().to_string()).delay(ms(30)));
    let urls: Vec<String> = (0..4).map(|i| server.url_for(&format!("/{i}"))).collect();
    // One request at once, then one every 20 ms: the later ones wait in their lane for the
    // timer's wake-ups, after the session is gone.
    let limit = RateLimit::per_second(50.0).burst(1);
    let builder = FuturesSession::builder().rate_limiter(RateLimiter::new().all_hosts(limit));
    assert_eq!(fetch_all_from(&urls, builder), ["/0", "/1", "/2", "/3"]);
}

#[test]
fn a_dropped_session_with_lanes_drops_only_jobs_whose_handles_are_gone() {
    // "/first" holds the origin's one place until the session is gone: a place that came free
    // before would let "/forgotten" go, rightly.
    let (release, gate) = crossbeam_channel::bounded::<()>(1);
    let server = TestServer::start(move |r| {
        if r.path_only() == "/first" {
            let _ = gate.recv_timeout(support::secs(30));
        }
        Reply::ok(r.path_only().to_string())
    });
    let session = FuturesSession::builder()
        .max_workers(2)
        .max_per_host(1)
        .build();
    let first = session.get(server.url_for("/first")).send();
    drop(session.get(server.url_for("/forgotten")).send());
    let kept = session.get(server.url_for("/kept")).send();
    drop(session);
    release.send(()).unwrap();
    assert_eq!(first.result().unwrap().text().unwrap(), "/first");
    assert_eq!(kept.result().unwrap().text().unwrap(), "/kept");
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path_only().to_string())
        .collect();
    assert_eq!(
        paths,
        ["/first", "/kept"],
        "a request nobody waits for was sent"
    );
}

#[test]
fn dropping_the_last_clone_drops_only_queued_jobs_whose_handles_are_gone() {
    let session = FuturesSession::builder().max_workers(1).build();
    let (open, gate) = crossbeam_channel::bounded::<()>(0);
    let busy = session.submit(move |_| {
        gate.recv().ok();
        Ok("busy")
    });
    let ran = Arc::new(AtomicBool::new(false));
    let forgotten = {
        let ran = ran.clone();
        session.submit(move |_| {
            ran.store(true, Ordering::SeqCst);
            Ok(())
        })
    };
    let kept = session.submit(|_| Ok("kept"));
    drop(forgotten);
    drop(session);
    open.send(()).unwrap();
    assert_eq!(busy.result().unwrap(), "busy");
    // One worker runs the queue in order: `forgotten` came before `kept`.
    assert_eq!(kept.result().unwrap(), "kept");
    assert!(!ran.load(Ordering::SeqCst), "a job nobody waits for ran");
}

#[test]
fn a_job_whose_handle_is_dropped_runs_while_the_session_lives() {
    let session = FuturesSession::builder().max_workers(1).build();
    let (tx, rx) = crossbeam_channel::bounded(1);
    drop(session.submit(move |_| {
        tx.send(42).ok();
        Ok(())
    }));
    assert_eq!(rx.recv_timeout(ms(10_000)), Ok(42));
}

#[test]
fn shutdown_still_resolves_queued_jobs_at_once() {
    let session = FuturesSession::builder().max_workers(1).build();
    let (open, gate) = crossbeam_channel::bounded::<()>(0);
    let (started, running) = crossbeam_channel::bounded::<()>(1);
    let busy = session.submit(move |_| {
        started.send(()).ok();
        gate.recv().ok();
        Ok(())
    });
    let queued = session.submit(|_| Ok(()));
    running.recv().unwrap();
    session.shutdown();
    drop(session);
    assert!(matches!(queued.result(), Err(Error::ShutDown)));
    open.send(()).unwrap();
    assert!(busy.result().is_ok());
}

#[test]
fn a_job_waited_for_inside_another_does_not_run_after_a_shutdown() {
    // The inner job goes to a worker that is still starting (never queued, so the shutdown
    // does not see it); the outer job then waits for it, which runs a queued job inline, on the
    // outer job's thread, after the shutdown: that must not happen. The worker that was starting
    // may have taken it before the shutdown and run it as the shutdown came (it may see the
    // session shut down then): that is no run after the shutdown.
    for round in 0..50 {
        let session = FuturesSession::builder().max_workers(2).build();
        let own = session.clone();
        let ran = session
            .submit(move |_| {
                let inner = own.submit(|_| Ok(std::thread::current().id()));
                own.shutdown();
                Ok((inner.result(), std::thread::current().id()))
            })
            .result()
            .unwrap();
        // Either the inner job ran on the other worker or it never ran.
        assert!(
            matches!(ran, (Ok(inner), outer) if inner != outer)
                || matches!(ran.0, Err(Error::ShutDown)),
            "round {round}: {ran:?} (the same thread twice: it ran inline after the shutdown)"
        );
    }
}

#[test]
fn workers_start_on_demand_up_to_the_maximum() {
    let session = FuturesSession::builder().max_workers(3).build();
    assert_eq!(session.workers(), 0);
    session.submit(|_| Ok(())).result().unwrap();
    assert_eq!(session.workers(), 1);
    // Ten jobs that all wait for one signal: every worker gets busy, and no more than three
    // start.
    let (open, gate) = crossbeam_channel::bounded::<()>(0);
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let gate = gate.clone();
            session.submit(move |_| {
                gate.recv().ok();
                Ok(())
            })
        })
        .collect();
    assert_eq!(session.workers(), 3);
    drop(open);
    for h in handles {
        h.result().unwrap();
    }
    assert_eq!(session.workers(), 3);
    session.join();
    assert_eq!(session.workers(), 0);
}

/// A steady few jobs at once keep a few workers, whatever the maximum: 8 callers that each
/// wait for one job at a time grew a pool without a maximum by a thread every few dozen jobs
/// (4,146 threads after 40,000 jobs of 100 µs), and one of `max_workers(1000)` to its 1,000.
#[test]
fn a_steady_load_of_a_few_jobs_at_once_keeps_a_few_workers() {
    let session = FuturesSession::builder().max_workers(usize::MAX).build();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..2_000 {
                    let job = session.submit(|_| {
                        std::thread::sleep(std::time::Duration::from_micros(100));
                        Ok(())
                    });
                    job.result().unwrap();
                }
            });
        }
    });
    let workers = session.workers();
    assert!(workers <= 32, "{workers} workers for 8 jobs at once");
}

#[cfg(feature = "llm")]
#[test]
fn an_llm_client_built_and_unused_starts_no_worker() {
    let client = OpenAIClient::builder("gpt-4o-mini", 0.0)
        .api_key("sk-test")
        .base_url("http://127.0.0.1:9/v1")
        .build();
    assert_eq!(client.session().workers(), 0);
}
