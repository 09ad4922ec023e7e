//! Thread accounting, in a process of its own ([`crate::alone`]) so that no other test creates
//! threads meanwhile. Threads are counted in `/proc/self/task` (Linux).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

#[cfg(feature = "llm")]
use ureq_futures::llm::{AnthropicClient, OpenAIClient};
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
    let handles = busy_workers(&session, 6);
    assert!(thread_count() >= before + 6);
    for h in handles {
        h.result().unwrap();
    }
    session.join();
    assert_back_to(before, "worker threads leaked");
}

/// Occupies `n` workers of `session` at once: returns when `n` jobs run side by side, which
/// needs `n` threads, and lets them finish.
fn busy_workers(session: &FuturesSession, n: usize) -> Vec<ureq_futures::Pending<()>> {
    let barrier = Arc::new(Barrier::new(n + 1));
    let handles = crate::at_barrier(session, n, &barrier);
    barrier.wait();
    handles
}

/// Waits (up to 5 s, for the OS to reap exited threads) until the process has at most `before`
/// threads.
fn assert_back_to(before: usize, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while thread_count() > before && Instant::now() < deadline {
        std::thread::sleep(ms(10));
    }
    assert!(
        thread_count() <= before,
        "{why}: {} > {before}",
        thread_count()
    );
}

#[test]
fn sessions_and_clients_built_but_unused_start_no_thread() {
    crate::alone(
        "threads::sessions_and_clients_built_but_unused_start_no_thread",
        sessions_and_clients_built_but_unused_start_no_thread_alone,
    );
}

fn sessions_and_clients_built_but_unused_start_no_thread_alone() {
    let before = thread_count();
    let sessions: Vec<_> = (0..20).map(|_| FuturesSession::new()).collect();
    #[cfg(feature = "llm")]
    let clients = {
        let built: Vec<_> = (0..10)
            .map(|_| {
                OpenAIClient::builder("gpt-4o-mini", 0.0)
                    .api_key("sk-test")
                    .base_url("http://127.0.0.1:9/v1")
                    .build()
            })
            .collect();
        // `new`, as most programs make their client: it reads the environment, and starts nothing.
        let new = (
            OpenAIClient::new("gpt-4o-mini", 0.0),
            AnthropicClient::new("claude-haiku-4-5", None),
        );
        (built, new)
    };
    #[cfg(not(feature = "llm"))]
    let clients = ();
    assert_eq!(thread_count(), before, "a built session started threads");
    // The first job starts one worker; a burst that finds them all busy starts the rest.
    sessions[0].submit(|_| Ok(())).result().unwrap();
    assert_eq!(thread_count(), before + 1);
    let handles = busy_workers(&sessions[1], 8);
    assert_eq!(thread_count(), before + 1 + 8);
    for h in handles {
        h.result().unwrap();
    }
    drop((sessions, clients));
    assert_back_to(before, "workers of dropped sessions did not exit");
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_dropped_session_lets_go_of_paused_requests_nobody_waits_for() {
    crate::alone(
        "threads::a_dropped_session_lets_go_of_paused_requests_nobody_waits_for",
        a_dropped_session_lets_go_of_paused_requests_nobody_waits_for_alone,
    );
}

fn a_dropped_session_lets_go_of_paused_requests_nobody_waits_for_alone() {
    use support::{eventually, Reply, TestServer};
    use ureq_futures::RateLimiter;

    let server = TestServer::start(|_| Reply::retry_after(429, "60"));
    assert_eq!(session_threads(), 0);
    {
        let session = FuturesSession::builder()
            .max_workers(2)
            .rate_limiter(RateLimiter::new())
            .build();
        let first = session.get(server.url()).send().result().unwrap();
        assert_eq!(first.status(), 429);
        // The origin is paused for a minute: these wait in its lane, and nobody waits for them.
        for _ in 0..3 {
            drop(session.get(server.url()).send());
        }
        // Both workers at once in jobs queued after them: they took those requests and parked
        // them first.
        for h in busy_workers(&session, 2) {
            h.result().unwrap();
        }
        assert_eq!(session.queued(), 3);
        assert!(session_threads() > 0);
    }
    // The session is gone and so is every handle: its workers and its timer leave long before
    // the pause would end.
    let gone = eventually(Duration::from_secs(20), || session_threads() == 0);
    assert!(gone, "{} thread(s) of the session left", session_threads());
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_dropped_session_lets_go_of_paced_requests_cancelled_or_let_go_of_later() {
    crate::alone(
        "threads::a_dropped_session_lets_go_of_paced_requests_cancelled_or_let_go_of_later",
        a_dropped_session_lets_go_of_paced_requests_cancelled_or_let_go_of_later_alone,
    );
}

/// Requests held back by a rate limiter, their handles live when the session was dropped, then
/// one cancelled and the other's handle dropped: the workers and the timer stayed until the
/// limiter would have let them start (a minute here), when their lanes looked at them again.
fn a_dropped_session_lets_go_of_paced_requests_cancelled_or_let_go_of_later_alone() {
    use support::{eventually, Reply, TestServer};
    use ureq_futures::{Error, RateLimit, RateLimiter};

    // Two origins, two lanes: one request of each runs, the next waits a minute for a token.
    let servers = [
        TestServer::start(|_| Reply::ok("ok")),
        TestServer::start(|_| Reply::ok("ok")),
    ];
    assert_eq!(session_threads(), 0);
    let (first, [cancelled, let_go]) = {
        let session = FuturesSession::builder()
            .max_workers(2)
            .rate_limiter(RateLimiter::new().all_hosts(RateLimit::per_minute(1.0).burst(1)))
            .build();
        let send = |s: &TestServer| session.get(s.url()).send();
        (servers.each_ref().map(send), servers.each_ref().map(send))
    };
    for pending in first {
        assert_eq!(pending.result().unwrap().status(), 200);
    }
    assert!(session_threads() > 0);
    assert!(cancelled.cancel());
    drop(let_go);
    let gone = eventually(Duration::from_secs(20), || session_threads() == 0);
    assert!(gone, "{} thread(s) of the session left", session_threads());
    assert!(matches!(cancelled.result(), Err(Error::Cancelled)));
    for server in &servers {
        assert_eq!(server.request_count(), 1);
    }
}

/// Threads of this process named by a session (its workers, its lanes' timer).
fn session_threads() -> usize {
    named("ureq-futures")
}

#[test]
fn a_refused_stream_waits_for_its_error_body_without_a_thread_of_its_request() {
    crate::alone(
        "threads::a_refused_stream_waits_for_its_error_body_without_a_thread_of_its_request",
        a_refused_stream_waits_for_its_error_body_without_a_thread_of_its_request_alone,
    );
}

/// A stream's request goes out from a thread of its own that ends once the head is in; a
/// refused stream's error body, waited for up to 5 s, is read on the worker, so that a server
/// stalled in it holds the worker and the wait's deadline, not that thread as well.
fn a_refused_stream_waits_for_its_error_body_without_a_thread_of_its_request_alone() {
    use support::{eventually, Reply, TestServer};

    let server = TestServer::start(|_| Reply::stall_mid_body("busy", 1000).with_status(503));
    let session = FuturesSession::builder().max_workers(1).build();
    let mut pending = session.get(server.url()).events();
    // The wait for the rest of the body has begun: its deadline is a thread.
    assert!(eventually(Duration::from_secs(3), || named(
        "ureq-futures-de"
    ) == 1));
    let requests = named("ureq-futures-op");
    assert!(pending.try_result().is_none(), "the wait ended early");
    assert_eq!(requests, 0, "the request's thread waits for the error body");
    let result = pending.result_timeout(Duration::from_secs(20)).unwrap();
    assert!(
        matches!(&result, Err(ureq_futures::Error::Status(s)) if s.status == 503),
        "{result:?}"
    );
}

/// Threads of this process whose name starts with `prefix` (Linux keeps 15 bytes of a name).
fn named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|name| name.starts_with(prefix))
                })
                .count()
        })
        .unwrap_or(0)
}
