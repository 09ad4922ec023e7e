//! Per-origin limits against local servers: a server that counts the requests it is serving at
//! once, and one that answers 429 with `Retry-After` and rate-limit headers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{ms, secs, Reply, TestServer};
use ureq_futures::{
    as_completed, FuturesSession, PauseReason, RateLimit, RateLimiter, RetryPolicy,
};

/// Counts requests in progress and keeps the largest count seen.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Gauge {
    fn serve(&self, hold: std::time::Duration, body: String) -> Reply {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(hold);
        self.now.fetch_sub(1, Ordering::SeqCst);
        Reply::ok(body)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[test]
fn max_per_host_4_under_64_workers_never_serves_more_than_4() {
    let gauge = Gauge::default();
    let g = gauge.clone();
    let server = TestServer::start(move |req| g.serve(ms(3), req.path.clone()));
    let session = FuturesSession::builder()
        .max_workers(64)
        .max_per_host(4)
        .build();
    let handles: Vec<_> = (0..300)
        .map(|i| session.get(server.url_for(&format!("/{i}"))).send())
        .collect();
    let mut done = 0;
    for (i, result) in as_completed(handles) {
        assert_eq!(result.unwrap().text().unwrap(), format!("/{i}"));
        done += 1;
    }
    assert_eq!(done, 300);
    let peak = gauge.peak();
    assert!(peak <= 4, "the server saw {peak} requests at once");
    // The limit is a ceiling, not a queue of one: with 64 workers it is reached.
    assert!(peak >= 2, "the server saw only {peak} at once");
}

/// Requests parked in their origin's lane (held back by `max_per_host`) were left out of
/// `queued()`: with 20 requests to one host under `max_per_host(1)`, it said 0 while 19 waited.
#[test]
fn queued_counts_the_requests_waiting_in_their_origins_lane() {
    let (release, gate) = crossbeam_channel::unbounded::<()>();
    let server = TestServer::start(move |_| {
        let _ = gate.recv_timeout(Duration::from_secs(20));
        Reply::ok("ok")
    });
    let session = FuturesSession::builder()
        .max_workers(2)
        .max_per_host(1)
        .build();
    let requests: Vec<_> = (0..20).map(|_| session.get(server.url()).send()).collect();
    // One request holds a worker, the other worker parks the rest; a job queued after them
    // runs on that worker once it has taken them all.
    session.submit(|_| Ok(())).result().unwrap();
    assert_eq!(session.queued(), 19);
    drop(release);
    for r in requests {
        assert_eq!(r.result().unwrap().status(), 200);
    }
    assert_eq!(session.queued(), 0);
}

#[test]
fn a_saturated_host_does_not_hold_back_the_others() {
    let (release, wait) = crossbeam_channel::unbounded::<()>();
    let slow = TestServer::start(move |_| {
        wait.recv_timeout(secs(30)).ok();
        Reply::ok("slow")
    });
    let fast = TestServer::start(|_| Reply::ok("fast"));
    let session = FuturesSession::builder()
        .max_workers(4)
        .max_per_host(2)
        .build();
    // Twenty requests to the slow host: two hold workers, the rest wait without one.
    let slow_ones: Vec<_> = (0..20).map(|_| session.get(slow.url()).send()).collect();
    for _ in 0..10 {
        let resp = session.get(fast.url()).send().result().unwrap();
        assert_eq!(resp.text().unwrap(), "fast");
    }
    for _ in 0..20 {
        release.send(()).unwrap();
    }
    for p in slow_ones {
        assert_eq!(p.result().unwrap().text().unwrap(), "slow");
    }
}

#[test]
fn a_429_with_retry_after_pauses_new_requests_to_that_host() {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let log = arrivals.clone();
    let served = Arc::new(AtomicUsize::new(0));
    let n = served.clone();
    let server = TestServer::start(move |req| {
        log.lock().unwrap().push(Instant::now());
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::retry_after(429, "1")
                .header("x-ratelimit-remaining-requests", "0")
                .header("x-ratelimit-reset-requests", "1s")
        } else {
            Reply::ok(req.path.clone())
        }
    });
    let other_arrived = Arc::new(Mutex::new(None));
    let o = other_arrived.clone();
    let other = TestServer::start(move |_| {
        *o.lock().unwrap() = Some(Instant::now());
        Reply::ok("other")
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let limiter = RateLimiter::new().on_pause(move |e| seen.lock().unwrap().push(e.clone()));
    let session = FuturesSession::builder()
        .max_workers(8)
        .rate_limiter(limiter.clone())
        .build();

    let first = session
        .get(server.url_for("/first"))
        .send()
        .result()
        .unwrap();
    assert_eq!(first.status(), 429);
    let later: Vec<_> = (0..5)
        .map(|i| session.get(server.url_for(&format!("/{i}"))).send())
        .collect();
    // Another host is not paused.
    let elsewhere = session.get(other.url()).send().result().unwrap();
    assert_eq!(elsewhere.text().unwrap(), "other");
    for p in later {
        assert_eq!(p.result().unwrap().status(), 200);
    }
    let arrivals = arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 6);
    // The other host was served while this one was paused.
    let other_at = other_arrived
        .lock()
        .unwrap()
        .expect("the other host was asked");
    assert!(arrivals[1..].iter().all(|t| *t > other_at));
    for t in &arrivals[1..] {
        // The pause is one second from the answer; the answer was read a little after the
        // server sent it, so allow the difference.
        let after = t.duration_since(arrivals[0]);
        assert!(
            after >= ms(900),
            "a request arrived {after:?} after the 429"
        );
    }
    assert_eq!(limiter.pauses(), 1);
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, PauseReason::RetryAfter { status: 429 });
    assert_eq!(events[0].wait, secs(1));
    assert!(
        events[0].origin.starts_with("http://127.0.0.1:"),
        "{}",
        events[0].origin
    );
}

#[test]
fn exhausted_quota_headers_on_a_200_pause_too() {
    let (server, arrivals) = first_answer_then_ok(
        Reply::ok("last one")
            .header("anthropic-ratelimit-requests-remaining", "0")
            .header("x-ratelimit-remaining-tokens", "0")
            .header("x-ratelimit-reset-tokens", "600ms"),
    );
    let limiter = RateLimiter::new();
    let session = FuturesSession::builder()
        .rate_limiter(limiter.clone())
        .build();
    assert_eq!(
        session.get(server.url()).send().result().unwrap().status(),
        200
    );
    let next = session.get(server.url()).send();
    assert_eq!(next.result().unwrap().text().unwrap(), "ok");
    let gap = second_after_first(&arrivals);
    assert!(
        gap >= ms(500),
        "the second request came {gap:?} after the first"
    );
    assert_eq!(limiter.pauses(), 1);
}

/// A Google API's refusal: the wait is in its JSON body (`RetryInfo`), not in a header.
fn google_refusal(status: u16) -> Reply {
    let body = r#"{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]}}"#;
    Reply::status(status, body).content_type("application/json")
}

#[test]
fn a_wait_in_the_body_of_a_refusal_pauses_the_origin() {
    // A buffered request reads the body; a refused stream reads its start for the error.
    let buffered = |session: &FuturesSession, url: String| {
        session.get(url).send().result().map(|resp| resp.status())
    };
    let stream =
        |session: &FuturesSession, url: String| session.post(url).events().result().map(|_| 200);
    for (status, first_request) in [(429, buffered as fn(&_, _) -> _), (503, stream)] {
        let (server, arrivals) = first_answer_then_ok(google_refusal(status));
        let limiter = RateLimiter::new();
        let session = FuturesSession::builder()
            .rate_limiter(limiter.clone())
            .retry(RetryPolicy::none())
            .build();
        match first_request(&session, server.url()) {
            Ok(got) => assert_eq!(got, status),
            Err(e) => assert_eq!(e.status(), Some(status), "{e}"),
        }
        let next = session.get(server.url()).send();
        assert_eq!(next.result().unwrap().text().unwrap(), "ok");
        let gap = second_after_first(&arrivals);
        assert!(
            gap >= ms(900),
            "{status}: the second request came {gap:?} after the first"
        );
        assert_eq!(limiter.pauses(), 1, "{status}");
    }
}

/// The request's own retry of the refusal drops it: its body is read for the limiter first, so
/// that the retry (and any other request to the origin) waits the pause, not the 20 ms backoff.
#[test]
fn a_wait_in_the_body_of_a_retried_refusal_pauses_the_origin() {
    let (server, arrivals) = first_answer_then_ok(google_refusal(429));
    let limiter = RateLimiter::new();
    let session = FuturesSession::builder()
        .rate_limiter(limiter.clone())
        .retry(RetryPolicy::new().attempts(2).base_delay(ms(20)))
        .build();
    let resp = session.get(server.url()).send().result().unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    let gap = second_after_first(&arrivals);
    assert!(gap >= ms(900), "the retry came {gap:?} after the refusal");
    assert_eq!(limiter.pauses(), 1);
}

#[test]
fn a_rate_limit_spaces_requests_to_one_host() {
    let (server, arrivals) = first_answer_then_ok(Reply::ok("ok"));
    let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(20.0).burst(2));
    let session = FuturesSession::builder()
        .max_workers(8)
        .rate_limiter(limiter)
        .build();
    let start = Instant::now();
    let handles: Vec<_> = (0..8).map(|_| session.get(server.url()).send()).collect();
    for h in handles {
        assert_eq!(h.result().unwrap().status(), 200);
    }
    let arrivals = arrivals.lock().unwrap();
    // Two at once (the burst), then one every 50 ms: the eighth is let go at least 300 ms after
    // the first, which was let go after `start`. Measured from `start`, not from the first
    // arrival, which a loaded machine may delay more than the last.
    let span = arrivals[7].duration_since(start);
    assert!(span >= ms(295), "8 requests within {span:?}");
}

/// How long after the first request the second arrived; there were two.
fn second_after_first(arrivals: &Mutex<Vec<Instant>>) -> Duration {
    let arrivals = arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    arrivals[1].duration_since(arrivals[0])
}

/// Records when each request arrives and answers the first with `first`, the rest with 200 `ok`.
fn first_answer_then_ok(first: Reply) -> (TestServer, Arc<Mutex<Vec<Instant>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let log = arrivals.clone();
    let first = Mutex::new(Some(first));
    let server = TestServer::start(move |_| {
        log.lock().unwrap().push(Instant::now());
        first
            .lock()
            .unwrap()
            .take()
            .unwrap_or_else(|| Reply::ok("ok"))
    });
    (server, arrivals)
}

#[test]
fn a_retry_waits_for_the_pause_its_answer_set() {
    // A 502 that the policy retries after 10 ms, whose quota headers pause the origin for 1 s.
    retry_waits_out_the_pause_of(
        Reply::status(502, "busy")
            .header("x-ratelimit-remaining-requests", "0")
            .header("x-ratelimit-reset-requests", "1s"),
    );
}

/// Checks that a request whose first answer is `first` is retried (10 ms after it, by its
/// policy) only once the origin's pause that `first` sets, of about a second, is over.
fn retry_waits_out_the_pause_of(first: Reply) {
    let (server, arrivals) = first_answer_then_ok(first);
    let limiter = RateLimiter::new();
    let session = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(2).base_delay(ms(10)))
        .rate_limiter(limiter.clone())
        .build();
    let resp = session.get(server.url()).send().result().unwrap();
    assert_eq!(resp.status(), 200);
    let gap = second_after_first(&arrivals);
    assert!(
        gap >= ms(900),
        "the retry came {gap:?} after the answer that paused its origin"
    );
    assert_eq!(limiter.pauses(), 1);
}

/// GitHub's answer to a used-up quota: a 429 (or 403) whose `x-ratelimit-reset` is the Unix
/// time the quota comes back, with no `Retry-After`.
#[test]
fn a_unix_time_reset_pauses_the_origin_until_then() {
    let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    // Two whole seconds on: the pause is over one second, whatever the fraction now.
    let reset = (unix_now.as_secs() + 2).to_string();
    retry_waits_out_the_pause_of(
        Reply::status(429, "API rate limit exceeded")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset),
    );
}

#[test]
fn a_cancel_ends_a_retry_waiting_for_its_origins_pause() {
    // A 502 that the policy retries after 10 ms, whose quota headers pause the origin a minute.
    let (server, _) = first_answer_then_ok(
        Reply::status(502, "busy")
            .header("x-ratelimit-remaining-requests", "0")
            .header("x-ratelimit-reset-requests", "60s"),
    );
    let session = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(2).base_delay(ms(10)))
        .rate_limiter(RateLimiter::new())
        .build();
    let mut pending = session.get(server.url()).send();
    let t = Instant::now();
    while server.request_count() == 0 && t.elapsed() < secs(10) {
        std::thread::sleep(ms(5));
    }
    // Past the 10 ms backoff: the retry waits for the origin's pause.
    std::thread::sleep(ms(200));
    assert!(pending.try_result().is_none());
    assert!(pending.cancel());
    let outcome = pending.result_timeout(secs(10));
    assert!(
        matches!(outcome, Some(Err(ureq_futures::Error::Cancelled))),
        "{outcome:?}"
    );
    // The worker is free: it does not sleep out the minute.
    let (done, joined) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        session.join();
        let _ = done.send(());
    });
    assert!(
        joined.recv_timeout(secs(10)).is_ok(),
        "the worker still waits"
    );
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_retry_takes_a_token_of_the_origin_rate() {
    // Two requests a second, one at a time: the retry waits for the second token.
    let (server, arrivals) = first_answer_then_ok(Reply::status(502, "busy"));
    let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(2.0).burst(1));
    let session = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(2).base_delay(ms(10)))
        .rate_limiter(limiter)
        .build();
    let start = Instant::now();
    let resp = session.get(server.url()).send().result().unwrap();
    assert_eq!(resp.status(), 200);
    // The first token is taken after `start`, the second 500 ms later. Measured from `start`,
    // not from the first arrival, which a loaded machine may delay more than the retry.
    let arrivals = arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    let gap = arrivals[1].duration_since(start);
    assert!(gap >= ms(495), "the retry came {gap:?} after the start");
}

/// Three requests one after the other through `limit`, then one job more than the pool has
/// workers, jobs that can only finish side by side, on a session of up to 4 workers: the pool
/// must grow to run them all.
fn jobs_that_need_each_other_after_three_requests(limit: RateLimit) {
    let server = TestServer::start(|_| Reply::ok("x"));
    let session = FuturesSession::builder()
        .max_workers(4)
        .rate_limiter(RateLimiter::new().all_hosts(limit))
        .build();
    for _ in 0..3 {
        session.get(server.url()).send().result().unwrap();
        // Lets the worker go back to the empty queue, most of the time: one that is slow to
        // go back has the next request start a second worker.
        std::thread::sleep(ms(10));
    }
    let workers = session.workers();
    assert!(
        workers < 4,
        "{workers} workers for three requests one after the other"
    );
    let n = workers + 1;
    let arrived = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..n)
        .map(|_| {
            let arrived = arrived.clone();
            session.submit(move |_| {
                arrived.fetch_add(1, Ordering::SeqCst);
                Ok(support::eventually(secs(5), || {
                    arrived.load(Ordering::SeqCst) == n
                }))
            })
        })
        .collect();
    for job in jobs {
        assert!(
            job.result().unwrap(),
            "{n} jobs never ran side by side: {} worker(s) of 4",
            session.workers()
        );
    }
}

#[test]
fn rate_limit_wakeups_do_not_stop_the_pool_from_growing() {
    // One request at once, then one every 50 ms: the second and third wait in their lane and
    // start from the timer's wake-ups, which a worker takes from the queue like a job.
    jobs_that_need_each_other_after_three_requests(RateLimit::per_second(20.0).burst(1));
}

#[test]
fn a_limiter_that_never_parks_lets_the_pool_grow() {
    // The control of the test above: no request waits, so no wake-up is queued.
    jobs_that_need_each_other_after_three_requests(RateLimit::per_second(10_000.0).burst(100));
}

#[test]
fn cancelled_requests_take_no_token_of_their_origins_rate() {
    // Five tokens, then one every 1,000 s. The first request holds its origin's one place; ten
    // more wait for it, and nine of them are cancelled.
    let (release, wait) = crossbeam_channel::unbounded::<()>();
    let server = TestServer::start(move |req| {
        if req.path == "/first" {
            wait.recv_timeout(secs(30)).ok();
        }
        Reply::ok(req.path.clone())
    });
    let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(0.001).burst(5));
    let session = FuturesSession::builder()
        .max_workers(4)
        .max_per_host(1)
        .rate_limiter(limiter)
        .build();
    let first = session.get(server.url_for("/first")).send();
    let t = Instant::now();
    while server.request_count() == 0 && t.elapsed() < secs(10) {
        std::thread::sleep(ms(5));
    }
    let waiting: Vec<_> = (0..10)
        .map(|i| session.get(server.url_for(&format!("/{i}"))).send())
        .collect();
    for p in &waiting[..9] {
        assert!(p.cancel());
    }
    release.send(()).unwrap();
    assert_eq!(first.result().unwrap().text().unwrap(), "/first");
    // The last one takes the second token: the cancelled ones took none.
    let mut last = waiting.into_iter().last().unwrap();
    let outcome = last.result_timeout(secs(20));
    assert!(
        matches!(&outcome, Some(Ok(resp)) if resp.status() == 200),
        "{outcome:?}"
    );
    assert_eq!(server.request_count(), 2);
}

#[test]
fn a_huge_retry_after_without_a_cap_pauses_rather_than_nothing() {
    // `max_pause(Duration::MAX)` takes the cap off; a server's huge value is then a long pause,
    // not no pause at all.
    let limiter = RateLimiter::new().max_pause(Duration::MAX);
    let url = "https://api.example.com/v1/chat";
    for (name, value) in [
        ("retry-after", "99999999999999999999"),
        ("retry-after-ms", "1e300"),
    ] {
        let mut headers = ureq::http::HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        let event = limiter.observe(url, 429, &headers);
        let event = event.unwrap_or_else(|| panic!("{name}: {value} paused nothing"));
        assert!(event.wait >= Duration::from_secs(86_400 * 365), "{event:?}");
        let wait = limiter.try_acquire(url).unwrap_err();
        assert!(wait >= Duration::from_secs(86_400 * 365), "{wait:?}");
    }
    assert_eq!(limiter.pauses(), 2);
    // Other origins go on.
    assert!(limiter.try_acquire("https://other.example.com/").is_ok());
}

#[test]
fn a_redirect_waits_for_the_pause_of_the_origin_it_leads_to() {
    // The target pauses itself for a second; a request to another origin that redirects there
    // waits for the pause before its second hop.
    let (target, arrivals) = first_answer_then_ok(Reply::retry_after(429, "1"));
    let location = target.url_for("/moved");
    let front = TestServer::start(move |_| Reply::status(302, "").header("location", &location));
    let limiter = RateLimiter::new();
    let session = FuturesSession::builder()
        .rate_limiter(limiter.clone())
        .build();
    let first = session.get(target.url()).send().result().unwrap();
    assert_eq!(first.status(), 429);
    let moved = session.get(front.url()).send().result().unwrap();
    assert_eq!(moved.status(), 200);
    assert_eq!(front.request_count(), 1);
    let gap = second_after_first(&arrivals);
    assert!(
        gap >= ms(900),
        "the redirected request came {gap:?} after the 429"
    );
    assert_eq!(limiter.pauses(), 1);
}

#[test]
fn a_send_with_hook_holds_no_place_of_its_origin() {
    let server = TestServer::start(|_| Reply::ok("x"));
    let session = FuturesSession::builder()
        .max_workers(4)
        .max_per_host(1)
        .build();
    // A hook that waits for a request to the same origin: its own request is over, so the
    // inner one gets the origin's place (it waited for it for good before).
    let inner = session.clone();
    let url = server.url();
    let nested = session.get(server.url()).send_with(move |_| {
        let answer = inner.get(&url).send().result_timeout(secs(5));
        Ok(answer.map(|r| r.map(|r| r.status())))
    });
    assert!(matches!(nested.result(), Ok(Some(Ok(200)))));
    // A slow hook, cancelled once it runs: the next request to the origin does not wait for
    // its end.
    let (release, wait) = crossbeam_channel::bounded::<()>(0);
    let (started, hook_runs) = crossbeam_channel::bounded::<()>(1);
    let slow = session.get(server.url()).send_with(move |_| {
        let _ = started.send(());
        Ok(wait.recv_timeout(secs(10)).is_ok())
    });
    hook_runs.recv_timeout(secs(10)).unwrap();
    assert!(slow.cancel());
    let next = session.get(server.url()).send().result_timeout(secs(5));
    assert_eq!(next.and_then(Result::ok).map(|r| r.status()), Some(200));
    drop(release);
    // The place is given up once, not again at the job's end: with hooks that outlast their
    // requests, the origin still serves one request at a time. (A server of its own: the
    // cancelled request's may still be answering.)
    let gauge = Gauge::default();
    let g = gauge.clone();
    let server = TestServer::start(move |_| g.serve(ms(20), "x".into()));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            session.get(server.url()).send_with(|resp| {
                std::thread::sleep(ms(30));
                Ok(resp.status())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.result().unwrap(), 200);
    }
    assert_eq!(gauge.peak(), 1);
}

#[test]
fn a_hook_that_gives_its_place_up_takes_one_token_and_a_plain_send_keeps_the_lanes_order() {
    // Six tokens in all: six requests under `max_per_host(1)`, each with a hook, take one each
    // (handing the place over took a token for the next job twice).
    let gauge = Gauge::default();
    let g = gauge.clone();
    let server = TestServer::start(move |req| g.serve(ms(50), req.path.clone()));
    let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(0.001).burst(6));
    let session = FuturesSession::builder()
        .max_workers(4)
        .max_per_host(1)
        .rate_limiter(limiter)
        .build();
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let url = server.url_for(&format!("/{i}"));
            session.get(url).send_with(|resp| Ok(resp.status()))
        })
        .collect();
    for mut h in handles {
        assert_eq!(h.result_timeout(secs(10)).map(Result::ok), Some(Some(200)));
    }
    assert_eq!(gauge.peak(), 1);
    // Two workers; A1, A2 to one origin, then B, C, D to others, each held 300 ms: the worker
    // that ran A1 starts A2 at its end, before D (queued after A2), as a lane keeps the
    // queue's order.
    let order = Arc::new(Mutex::new(Vec::new()));
    let servers: Vec<TestServer> = (0..4)
        .map(|_| {
            let order = Arc::clone(&order);
            TestServer::start(move |req| {
                order.lock().unwrap().push(req.path.clone());
                std::thread::sleep(ms(300));
                Reply::ok("x")
            })
        })
        .collect();
    let session = FuturesSession::builder()
        .max_workers(2)
        .max_per_host(1)
        .build();
    let sent = [(0, "/A1"), (0, "/A2"), (1, "/B"), (2, "/C"), (3, "/D")];
    let handles: Vec<_> = sent
        .iter()
        .map(|&(s, path)| session.get(servers[s].url_for(path)).send())
        .collect();
    for h in handles {
        h.result().unwrap();
    }
    let order = order.lock().unwrap().clone();
    let at = |p: &str| order.iter().position(|o| o == p).unwrap();
    assert!(at("/A2") < at("/D"), "{order:?}");
}

/// A target server, a front server that redirects to it, and a limiter that gives the target
/// one token, then one every 1,000 s.
fn redirect_to_a_slow_rate() -> (TestServer, TestServer, RateLimiter) {
    let target = TestServer::start(|_| Reply::ok("target"));
    let location = target.url_for("/moved");
    let front = TestServer::start(move |_| Reply::status(302, "").header("location", &location));
    let limiter = RateLimiter::new().host(&target.url(), RateLimit::per_second(0.001));
    (target, front, limiter)
}

#[test]
fn a_redirect_takes_a_token_of_the_rate_of_the_origin_it_leads_to() {
    // One token, then one every 1,000 s at the target: a request redirected there after the
    // token is spent would wait past its 2 s budget, so it fails at once rather than being
    // sent.
    let (target, front, limiter) = redirect_to_a_slow_rate();
    let session = FuturesSession::builder()
        .rate_limiter(limiter)
        .timeout(secs(2))
        .build();
    let direct = session.get(target.url()).send().result().unwrap();
    assert_eq!(direct.text().unwrap(), "target");
    let moved = session.get(front.url()).send().result();
    assert!(
        matches!(moved, Err(ureq_futures::Error::Timeout(_))),
        "{moved:?}"
    );
    assert_eq!(target.request_count(), 1);
    // Which wait, for which origin and URL; and that the request did not run for 2 s.
    assert_eq!(
        moved.unwrap_err().to_string(),
        format!(
            "timeout: the rate limiter's turn for {} comes in 1000 s, after the end of the 2 s \
             budget (timeout) for url: {}",
            target.addr(),
            target.url_for("/moved")
        )
    );
}

#[test]
fn a_turn_past_the_budget_is_not_retried() {
    // As above, with a retry policy: the redirect's turn at the target would come past the
    // budget on every attempt, so the request fails at once, once, and says why.
    let (target, front, limiter) = redirect_to_a_slow_rate();
    let session = FuturesSession::builder()
        .rate_limiter(limiter)
        .timeout(secs(3))
        .retry(RetryPolicy::new().attempts(5).base_delay(ms(100)))
        .build();
    session.get(target.url()).send().result().unwrap();
    let moved = session.get(front.url()).send().result().unwrap_err();
    assert_eq!(front.request_count(), 1, "{moved}");
    assert_eq!(
        moved.to_string(),
        format!(
            "timeout: the rate limiter's turn for {} comes in 1000 s, after the end of the 3 s \
             budget (timeout) for url: {}",
            target.addr(),
            target.url_for("/moved")
        )
    );
}

#[test]
fn a_request_run_inline_by_a_waiting_worker_still_waits_for_its_origins_pause() {
    // One worker: a job that sends a request and waits for it runs that request itself, since
    // no other worker could. The origin's pause still holds it back.
    let (server, arrivals) = first_answer_then_ok(Reply::retry_after(429, "1"));
    let limiter = RateLimiter::new();
    let session = FuturesSession::builder()
        .max_workers(1)
        .rate_limiter(limiter.clone())
        .build();
    let first = session.get(server.url()).send().result().unwrap();
    assert_eq!(first.status(), 429);
    let inner = session.clone();
    let url = server.url();
    let nested = session.submit(move |_| Ok(inner.get(&url).send().result()?.status()));
    assert_eq!(nested.result().unwrap(), 200);
    let gap = second_after_first(&arrivals);
    assert!(
        gap >= ms(900),
        "the nested request came {gap:?} after the 429"
    );
}

#[test]
fn a_rate_for_host_and_port_applies_to_that_port() {
    // `host("127.0.0.1:port")`, as local model servers are written, limits that port, whatever
    // the scheme; another port of the host is not limited by it.
    let url = "http://127.0.0.1:11434/api/chat";
    let limiter = RateLimiter::new().host("127.0.0.1:11434", RateLimit::per_second(0.001));
    assert!(limiter.try_acquire(url).is_ok());
    assert!(
        limiter.try_acquire(url).is_err(),
        "the second token was given"
    );
    assert!(limiter.try_acquire("http://127.0.0.1:8080/").is_ok());
    assert!(limiter.try_acquire("http://127.0.0.1:8080/").is_ok());
    let limiter = RateLimiter::new().host("[::1]:8080", RateLimit::per_second(0.001));
    assert!(limiter.try_acquire("http://[::1]:8080/").is_ok());
    assert!(limiter.try_acquire("https://[::1]:8080/").is_ok());
    assert!(limiter.try_acquire("http://[::1]:8080/").is_err());
}

#[test]
fn a_rate_for_a_bare_ipv6_address_applies_to_it() {
    // Written without brackets, as an address is written outside URLs.
    for name in ["::1", "[::1]"] {
        let limiter = RateLimiter::new().host(name, RateLimit::per_second(0.001));
        assert!(limiter.try_acquire("http://[::1]:8080/").is_ok());
        assert!(
            limiter.try_acquire("http://[::1]:8080/").is_err(),
            "{name}: the second token was given"
        );
    }
}

#[test]
fn a_cancel_ends_a_limiters_blocking_acquire_in_a_job() {
    // A `submit` closure that paces itself with `acquire`: the second token comes in 1,000 s.
    let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(0.001));
    let session = FuturesSession::builder().max_workers(1).build();
    let (started, wait) = crossbeam_channel::bounded::<()>(1);
    let l = limiter.clone();
    let job = session.submit(move |_| {
        l.acquire("http://api.example.com/a");
        started.send(()).ok();
        l.acquire("http://api.example.com/b");
        Ok(())
    });
    wait.recv_timeout(secs(10)).unwrap();
    std::thread::sleep(ms(50));
    assert!(job.cancel());
    // The worker is free: the next job runs.
    let mut next = session.submit(|_| Ok(7));
    let outcome = next.result_timeout(secs(5));
    assert!(matches!(outcome, Some(Ok(7))), "{outcome:?}");
    // And `shutdown_now` ends such a wait as well: the job's own, not a queued one's refusal.
    let l = limiter.clone();
    let (started, running) = crossbeam_channel::bounded::<()>(1);
    let job = session.submit(move |_| {
        started.send(()).ok();
        l.acquire("http://api.example.com/c");
        Ok(())
    });
    running.recv_timeout(secs(10)).unwrap();
    // Lets the job block in `acquire` first (no way to see it: a short wait does).
    std::thread::sleep(ms(50));
    session.shutdown_now();
    let (joined, done) = crossbeam_channel::bounded::<()>(1);
    let s = session.clone();
    std::thread::spawn(move || {
        s.join();
        joined.send(()).ok();
    });
    assert!(
        done.recv_timeout(secs(5)).is_ok(),
        "join waited for the limiter"
    );
    assert!(matches!(job.result(), Err(ureq_futures::Error::Cancelled)));
}

/// The most header fields a response may have is ureq's, as the limits table says: one more
/// is a transport error, not a response with fields missing.
#[test]
fn a_response_with_more_header_fields_than_the_limit_is_an_error() {
    let head = |fields: usize| {
        let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
        for i in 1..fields {
            head.push_str(&format!("X-Field-{i}: {i}\r\n"));
        }
        head + "\r\nok"
    };
    let (most, over) = (head(128), head(129));
    let server = TestServer::start(move |req| {
        Reply::raw(if req.path_only() == "/most" {
            most.clone()
        } else {
            over.clone()
        })
    });
    let session = FuturesSession::new();
    let resp = session
        .get(server.url_for("/most"))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.headers().len(), 128);
    let err = session
        .get(server.url_for("/over"))
        .send()
        .result()
        .unwrap_err();
    assert!(err.to_string().contains("too many headers"), "{err}");
}
