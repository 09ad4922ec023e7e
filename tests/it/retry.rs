//! RetryPolicy against the local fault server, counting the attempts the server saw.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{closed_port_url, ms, secs, Reply, TestServer};
#[cfg(feature = "llm")]
use ureq_futures::llm::{Message, OpenAIClient};
use ureq_futures::{Error, FuturesSession, RetryPolicy};

/// A server that answers the n-th request (0-based) with `script(n)`.
fn scripted(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> TestServer {
    let n = Arc::new(AtomicUsize::new(0));
    TestServer::start(move |_| script(n.fetch_add(1, Ordering::SeqCst)))
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::new().attempts(4).base_delay(ms(5))
}

fn session_with(policy: RetryPolicy) -> FuturesSession {
    FuturesSession::builder().retry(policy).build()
}

/// A GET of `server` through a session with `policy`: the response the caller gets.
fn get_with(policy: RetryPolicy, server: &TestServer) -> ureq_futures::Response {
    session_with(policy)
        .get(server.url())
        .send()
        .result()
        .unwrap()
}

#[test]
fn retryable_statuses_are_retried_until_success() {
    let server = scripted(|n| match n {
        0 => Reply::status(503, "busy"),
        1 => Reply::status(502, "bad gateway"),
        2 => Reply::status(504, "timeout"),
        _ => Reply::ok("finally"),
    });
    let resp = get_with(fast_retries(), &server);
    assert_eq!(resp.text().unwrap(), "finally");
    assert_eq!(server.request_count(), 4);
}

#[test]
fn the_last_answer_is_returned_when_attempts_run_out() {
    let server = TestServer::start(|_| Reply::status(503, "still busy"));
    let resp = get_with(fast_retries().attempts(3), &server);
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.text().unwrap(), "still busy");
    assert_eq!(server.request_count(), 3);
}

/// An answer that does not parse as HTTP (a broken status line) is retried as urllib3
/// retries http.client's `BadStatusLine`, as an answer of bytes that are no HTTP at all is.
#[test]
fn an_answer_that_does_not_parse_as_http_is_retried() {
    for broken in [&b"HTTP/1.1 abc OK\r\n\r\n"[..], b"garbage\r\n\r\n"] {
        let server = scripted(move |n| match n {
            0 => Reply::raw(broken.to_vec()),
            _ => Reply::ok("fine"),
        });
        let resp = get_with(fast_retries(), &server);
        assert_eq!(
            resp.text().unwrap(),
            "fine",
            "{:?}",
            String::from_utf8_lossy(broken)
        );
        assert_eq!(server.request_count(), 2);
    }
}

/// `RetryPolicy::llm()` retries every 5xx, as the official SDKs' `status >= 500` does: a
/// CDN's 520-524 in front of an API, a 501 or 505 alike.
#[test]
fn the_llm_policy_retries_every_5xx() {
    for status in [500, 501, 505, 520, 524, 529] {
        let server = scripted(move |n| match n {
            0 => Reply::status(status, "broken"),
            _ => Reply::ok("fine"),
        });
        let resp = get_with(RetryPolicy::llm().base_delay(ms(5)), &server);
        assert_eq!(resp.text().unwrap(), "fine", "{status}");
        assert_eq!(server.request_count(), 2, "{status}");
    }
}

#[test]
fn other_statuses_are_not_retried() {
    let server = TestServer::start(|_| Reply::status(500, "broken"));
    let resp = get_with(fast_retries(), &server);
    assert_eq!(resp.status(), 500);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_server_wait_is_honoured_past_max_delay() {
    let server = scripted(|n| match n {
        0 => Reply::retry_after(429, "1"),
        _ => Reply::ok("ok"),
    });
    let t = Instant::now();
    let resp = get_with(fast_retries().max_delay(ms(50)), &server);
    assert_eq!(resp.status(), 200);
    let took = t.elapsed();
    assert!(took >= ms(950), "Retry-After: 1 was cut short: {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_server_wait_over_max_retry_after_is_not_retried() {
    // Over the default 60 s, in either header: the answer comes back at once, with its header.
    for (name, value) in [("retry-after", "3600"), ("retry-after-ms", "120000")] {
        let server =
            TestServer::start(move |_| Reply::status(429, "slow down").header(name, value));
        let t = Instant::now();
        let resp = get_with(fast_retries().max_delay(ms(50)), &server);
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.header(name), Some(value));
        assert_eq!(server.request_count(), 1, "{name}: {value} was retried");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
    // Over a lower max_retry_after.
    let server = TestServer::start(|_| Reply::retry_after(503, "1"));
    let resp = get_with(fast_retries().max_retry_after(ms(500)), &server);
    assert_eq!(resp.status(), 503);
    assert_eq!(server.request_count(), 1, "Retry-After: 1 was retried");
}

#[test]
fn a_server_wait_past_the_timeout_is_not_retried() {
    let server = TestServer::start(|_| Reply::retry_after(503, "30"));
    let t = Instant::now();
    let resp = session_with(fast_retries())
        .get(server.url())
        .timeout(Duration::from_secs(2))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(server.request_count(), 1);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn a_fractional_retry_after_is_honoured() {
    let server = scripted(|n| match n {
        0 => Reply::retry_after(503, "0.3"),
        _ => Reply::ok("ok"),
    });
    let t = Instant::now();
    let resp = get_with(fast_retries(), &server);
    assert_eq!(resp.status(), 200);
    let took = t.elapsed();
    assert!(
        took >= ms(290),
        "Retry-After: 0.3 was not honoured: {took:?}"
    );
}

#[test]
fn a_server_wait_of_zero_gets_the_backoff() {
    let server = scripted(|n| match n {
        0 => Reply::retry_after(503, "0"),
        1 => Reply::status(503, "busy").header("retry-after-ms", "0"),
        2 => Reply::retry_after(503, "Sun, 06 Nov 1994 08:49:37 GMT"),
        _ => Reply::ok("ok"),
    });
    let policy = RetryPolicy::new().attempts(4).base_delay(ms(50));
    let t = Instant::now();
    let resp = get_with(policy, &server);
    assert_eq!(resp.status(), 200);
    assert_eq!(server.request_count(), 4);
    // Waits of about 50, 100 and 200 ms (±20%), not three retries at once.
    let took = t.elapsed();
    assert!(took >= ms(280), "no backoff after a zero wait: {took:?}");
}

/// The status `request` ends with, retries done.
fn status_of(request: ureq_futures::RequestBuilder) -> u16 {
    request.send().result().unwrap().status()
}

#[test]
fn post_is_retried_only_when_allowed() {
    let server = TestServer::start(|_| Reply::status(503, "busy"));
    let session = session_with(fast_retries());
    let refused = session
        .post(server.url())
        .body("x")
        .send()
        .result()
        .unwrap();
    assert_eq!(server.request_count(), 1, "a POST was retried by default");
    // The status error says why the policy did not retry it.
    let err = refused.error_for_status().unwrap_err().to_string();
    assert!(
        err.contains("(after 1 attempt, not retried: POST is not idempotent (sent twice, it may take effect twice): RetryPolicy::non_idempotent(true)"),
        "{err}"
    );

    let allowed = fast_retries().non_idempotent(true);
    assert_eq!(
        status_of(session.post(server.url()).body("x").retry(allowed)),
        503
    );
    assert_eq!(server.request_count(), 1 + 4);
    // The body went out with every attempt.
    assert!(server.requests().iter().all(|r| r.body == b"x"));
}

/// A POST answered with a 303 was taken: when the GET it leads to fails, the retry sends that
/// GET again, not the POST (which submitted the body a second time), as urllib3's retries are
/// a hop's. After a 307, which keeps the body, a retry starts from the first hop as before.
#[test]
fn a_retry_after_a_redirect_that_took_the_body_sends_the_redirects_request() {
    let server = TestServer::start({
        let failed = std::sync::Mutex::new(std::collections::HashSet::new());
        move |req| match req.path_only() {
            "/submit" => Reply::status(303, "").header("location", "/result#token=t0k"),
            "/keep" => Reply::status(307, "").header("location", "/kept"),
            // Each fails once, then answers.
            path if failed.lock().unwrap().insert(path.to_string()) => Reply::status(503, ""),
            _ => Reply::ok("done"),
        }
    });
    let session = session_with(fast_retries().non_idempotent(true));
    let resp = session.post(server.url_for("/submit")).body("order 1");
    let resp = resp.send().result().unwrap();
    // The fragment the redirect gave (an OAuth token travels there) is kept by the retry.
    assert_eq!(
        (resp.status(), resp.url()),
        (200, server.url_for("/result#token=t0k").as_str())
    );
    let sent = |requests: &[support::Request]| -> Vec<String> {
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    };
    let requests = server.requests();
    assert_eq!(
        sent(&requests),
        ["POST /submit", "GET /result", "GET /result"]
    );
    let resp = session.post(server.url_for("/keep")).body("order 2");
    assert_eq!(status_of(resp), 200);
    let requests = &server.requests()[3..];
    assert_eq!(
        sent(requests),
        ["POST /keep", "POST /kept", "POST /keep", "POST /kept"]
    );
    assert!(requests.iter().all(|r| r.body == b"order 2"));
}

#[test]
fn the_requests_idempotent_mark_decides_as_its_method_would() {
    let server = TestServer::start(|_| Reply::status(503, "busy"));
    let session = session_with(fast_retries());
    // A GET the caller says must not be sent twice is sent once.
    assert_eq!(status_of(session.get(server.url()).idempotent(false)), 503);
    assert_eq!(
        server.request_count(),
        1,
        "a GET marked idempotent(false) was sent again"
    );
    // A POST the caller says is safe to repeat is retried like a PUT.
    let marked = session.post(server.url()).body("x").idempotent(true);
    assert_eq!(status_of(marked), 503);
    assert_eq!(server.request_count(), 1 + 4);
    // The mark wins over a policy that retries POSTs (`RetryPolicy::llm()` is one): a charge
    // marked not to be sent twice is sent once.
    let all = session_with(fast_retries().non_idempotent(true));
    let charge = all.post(server.url()).body("charge=100").idempotent(false);
    assert_eq!(status_of(charge), 503);
    assert_eq!(
        server.request_count(),
        1 + 4 + 1,
        "a POST marked idempotent(false) was resent"
    );
}

/// A request this side cannot write (a header longer than the connection's write buffer) is
/// not retried: nothing was sent, and no other attempt could send it.
#[test]
fn a_request_this_side_cannot_write_is_not_retried() {
    let server = TestServer::start(|_| Reply::ok("never"));
    let session = session_with(fast_retries());
    let err = session
        .get(server.url())
        .header("x-big", "a".repeat(300_000))
        .send()
        .result()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidInput),
        "{err:?}"
    );
    assert!(!err.to_string().contains("attempts"), "retried: {err}");
    assert_eq!(server.request_count(), 0);
}

#[test]
fn x_should_retry_decides_before_the_status() {
    let get = |server: &TestServer, policy| {
        session_with(policy)
            .get(server.url())
            .send()
            .result()
            .unwrap()
    };
    // false: a 503, retried otherwise, is not.
    let server =
        TestServer::start(|_| Reply::status(503, "busy").header("x-should-retry", "false"));
    assert_eq!(get(&server, fast_retries()).status(), 503);
    assert_eq!(
        server.request_count(),
        1,
        "x-should-retry: false was retried"
    );

    // true: a 400, never retried otherwise, is, until an answer succeeds...
    let server = scripted(|n| match n {
        0 => Reply::status(400, "again").header("x-should-retry", "true"),
        _ => Reply::ok("ok"),
    });
    assert_eq!(get(&server, fast_retries()).status(), 200);
    assert_eq!(server.request_count(), 2);
    // ... or the attempts run out.
    let server =
        TestServer::start(|_| Reply::status(400, "again").header("x-should-retry", "true"));
    assert_eq!(get(&server, fast_retries().attempts(3)).status(), 400);
    assert_eq!(server.request_count(), 3);

    // A POST is still retried only when the policy allows it.
    let server = TestServer::start(|_| Reply::status(503, "busy").header("x-should-retry", "true"));
    let resp = session_with(fast_retries())
        .post(server.url())
        .body("x")
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        server.request_count(),
        1,
        "x-should-retry: true retried a POST"
    );
}

#[cfg(feature = "llm")]
#[test]
fn the_llm_clients_obey_x_should_retry() {
    const ANSWER: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let chat = |server: &TestServer| {
        OpenAIClient::builder("m", None)
            .env(|_| None)
            .base_url(server.url())
            .build()
            .stream_chat(&[Message::user("hi")])
            .and_then(|s| s.collect::<Result<String, _>>())
    };
    let server = TestServer::start(|_| {
        Reply::status(503, r#"{"error":{"message":"no"}}"#)
            .content_type("application/json")
            .header("x-should-retry", "false")
    });
    assert_eq!(chat(&server).unwrap_err().status(), Some(503));
    assert_eq!(
        server.request_count(),
        1,
        "x-should-retry: false was retried"
    );

    let server = scripted(|n| match n {
        0 => Reply::status(400, r#"{"error":{"message":"try again"}}"#)
            .content_type("application/json")
            .header("x-should-retry", "true")
            .header("retry-after-ms", "1"),
        _ => Reply::sse([ANSWER], ms(0)),
    });
    assert_eq!(chat(&server).unwrap(), "hi");
    assert_eq!(server.request_count(), 2);
}

#[test]
fn a_request_can_turn_retries_off() {
    let server = TestServer::start(|_| Reply::status(503, "busy"));
    let resp = session_with(fast_retries())
        .get(server.url())
        .retry(RetryPolicy::none())
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn connect_errors_are_retried_with_backoff() {
    let policy = RetryPolicy::new().attempts(4).base_delay(ms(20));
    let t = Instant::now();
    let result = session_with(policy).get(closed_port_url()).send().result();
    assert!(result.is_err());
    // Waits of about 20, 40 and 80 ms (±20%) between the four attempts.
    let took = t.elapsed();
    assert!(took >= ms(110), "no backoff: {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// A server that answers the first request on each connection and closes the connection,
/// without an answer, when a second request arrives on it: the race of a server closing an idle
/// keep-alive connection just as the client reuses it.
fn closes_reused_connections() -> TestServer {
    let seen = std::sync::Mutex::new(std::collections::HashSet::new());
    TestServer::start(move |req| {
        if seen.lock().unwrap().insert(req.connection) {
            Reply::ok("fresh")
        } else {
            Reply::raw(Vec::new())
        }
    })
}

#[test]
fn a_stale_pooled_connection_fails_a_post_without_retries_and_succeeds_with_them() {
    // A GET on a stale pooled connection is sent again without any policy (see
    // `stale_connections`); a POST is not, unless a policy allows retrying it.
    let server = closes_reused_connections();
    let plain = FuturesSession::builder().max_workers(1).build();
    plain.post(server.url()).send().result().unwrap();
    let stale = plain.post(server.url()).send().result();
    assert!(stale.is_err(), "the reused connection answered: {stale:?}");

    let server = closes_reused_connections();
    let session = FuturesSession::builder()
        .max_workers(1)
        .retry(fast_retries().non_idempotent(true))
        .build();
    for _ in 0..5 {
        let resp = session.post(server.url()).send().result().unwrap();
        assert_eq!(resp.text().unwrap(), "fresh");
    }
    let plain = FuturesSession::builder().max_workers(1).build();
    for _ in 0..5 {
        let resp = plain.get(server.url()).send().result().unwrap();
        assert_eq!(resp.text().unwrap(), "fresh");
    }
}

#[test]
fn a_stream_is_retried_before_it_opens_but_never_after() {
    let server = scripted(|n| match n {
        0 => Reply::retry_after(503, "0"),
        _ => Reply::chunked_cut(["data: one\n\n"], ms(0)).content_type("text/event-stream"),
    });
    let stream = session_with(fast_retries())
        .get(server.url())
        .events()
        .result()
        .unwrap();
    let items: Vec<Result<String, Error>> = stream.map(|e| e.map(|e| e.data)).collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "one");
    assert!(items[1].is_err(), "a cut stream must end with an error");
    // One refused attempt, one stream: the cut stream was not re-sent.
    assert_eq!(server.request_count(), 2);
}

/// `err` is a refused connection whose message ends with `tail`.
fn assert_refused_ending_with(err: &Error, tail: &str) {
    assert!(
        matches!(err, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.ends_with(tail), "{text}");
}

/// The note of a failure after all of `fast_retries`' attempts.
const ALL_FOUR: &str = " (after 4 attempts, the most RetryPolicy::attempts allows)";

#[test]
fn a_failure_that_outlasts_the_retries_says_how_many_attempts_were_made() {
    let err = session_with(fast_retries())
        .get(closed_port_url())
        .send()
        .result()
        .unwrap_err();
    assert_refused_ending_with(&err, ALL_FOUR);
    // A server that accepts the connection and never answers: each attempt times out.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let err = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(2).base_delay(ms(5)))
        .read_timeout(ms(100))
        .build()
        .get(&url)
        .send()
        .result()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "timeout: no byte for 100 ms (read_timeout) while waiting for the response from {} \
             for url: {url} (after 2 attempts, the most RetryPolicy::attempts allows)",
            listener.local_addr().unwrap()
        )
    );
    // One attempt says nothing of retries.
    let once = session_with(RetryPolicy::none())
        .get(closed_port_url())
        .send()
        .result()
        .unwrap_err()
        .to_string();
    assert!(!once.contains("attempt"), "{once}");
}

#[test]
fn retries_cut_short_by_the_timeout_say_so() {
    // Ten attempts allowed, 3 s apart (±20%) and then 6 s, within 5 s: the first retry starts
    // in time unless the first attempt took over a second, the second backoff would end past
    // the budget, so the retries stop at two, and the error says which limit stopped them.
    let err = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(10).base_delay(secs(3)))
        .timeout(secs(5))
        .build()
        .get(closed_port_url())
        .send()
        .result()
        .unwrap_err();
    assert_refused_ending_with(
        &err,
        " (after 2 attempts; a retry would start past the 5 s timeout)",
    );
    // One attempt whose retry would start past the budget says so too.
    let text = FuturesSession::builder()
        .retry(RetryPolicy::new().base_delay(ms(2000)))
        .timeout(ms(500))
        .build()
        .get(closed_port_url())
        .send()
        .result()
        .unwrap_err()
        .to_string();
    assert!(
        text.ends_with(" (after 1 attempt; a retry would start past the 500 ms timeout)"),
        "{text}"
    );
}

#[test]
fn a_status_error_after_retries_says_how_many_attempts_were_made_and_why_no_more() {
    let busy = || TestServer::start(|_| Reply::status(429, "busy").header("retry-after-ms", "1"));
    let policy = || RetryPolicy::new().attempts(3).base_delay(ms(1));
    let tail = " (after 3 attempts, the most RetryPolicy::attempts allows)";
    // A buffered response, a streamed body, a download and an event stream.
    let server = busy();
    let session = session_with(policy());
    let buffered = session.get(server.url()).send().result().unwrap();
    let text = buffered.error_for_status().unwrap_err().to_string();
    assert!(text.ends_with(tail), "{text}");
    assert_eq!(server.request_count(), 3);
    let streamed = session.get(server.url()).send_streaming().result().unwrap();
    let text = streamed.error_for_status().unwrap_err().to_string();
    assert!(text.ends_with(tail), "{text}");
    let events = session.get(server.url()).events().result().unwrap_err();
    assert!(events.to_string().ends_with(tail), "{events}");
    assert_eq!(events.status(), Some(429));
    #[cfg(feature = "llm")]
    {
        // An LLM client, whose default policy makes three attempts.
        let server = TestServer::start(|_| {
            Reply::status(
                429,
                r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#,
            )
            .content_type("application/json")
            .header("retry-after-ms", "1")
        });
        let chat = OpenAIClient::builder("m", None)
            .env(|_| None)
            .base_url(server.url())
            .build()
            .stream_chat(&[Message::user("hi")])
            .map(drop)
            .unwrap_err()
            .to_string();
        assert!(
            chat.starts_with(
                "Server responded with an error. Status Code: 429: Rate limit reached"
            ),
            "{chat}"
        );
        assert!(chat.ends_with(tail), "{chat}");
    }
    // A wait longer than max_retry_after ends the retries at once: the error says so.
    let server = TestServer::start(|_| Reply::retry_after(503, "120"));
    let resp = get_with(policy(), &server);
    let text = resp.error_for_status().unwrap_err().to_string();
    assert!(
        text.ends_with(
            " (after 1 attempt; the server asked to wait 2 min (Retry-After), longer than \
             RetryPolicy::max_retry_after (60 s))"
        ),
        "{text}"
    );
    // A status the policy does not retry, or a policy of one attempt, says nothing of attempts.
    let server = TestServer::start(|_| Reply::status(404, "gone"));
    let text = get_with(policy(), &server)
        .error_for_status()
        .unwrap_err()
        .to_string();
    assert!(!text.contains("attempt"), "{text}");
    let server = busy();
    let text = get_with(RetryPolicy::none(), &server)
        .error_for_status()
        .unwrap_err()
        .to_string();
    assert!(!text.contains("attempt"), "{text}");
}

#[test]
fn retries_cut_short_by_the_rate_limiters_pause_say_so() {
    // A 503 that asks for 300 ms; meanwhile the origin is paused for 30 s (another request's
    // 429, told to the limiter here): the retry's turn comes past the 2 s timeout, and the
    // error names the limiter rather than the server's short wait.
    let limiter = ureq_futures::RateLimiter::new();
    let told = limiter.clone();
    let server = TestServer::start(move |req| {
        let mut paused = ureq::http::HeaderMap::new();
        paused.insert("retry-after", "30".parse().unwrap());
        told.observe(
            &format!("http://{}/", req.header("host").unwrap_or_default()),
            429,
            &paused,
        );
        Reply::status(503, "busy").header("retry-after-ms", "300")
    });
    let resp = FuturesSession::builder()
        .rate_limiter(limiter)
        .retry(RetryPolicy::new().attempts(3))
        .timeout(secs(2))
        .build()
        .get(server.url())
        .send()
        .result()
        .unwrap();
    let text = resp.error_for_status().unwrap_err().to_string();
    assert!(
        text.ends_with(
            " (after 1 attempt; the origin's next turn at the rate limiter (its pace, or a pause \
             after a 429) comes past the 2 s timeout)"
        ),
        "{text}"
    );
    assert_eq!(server.request_count(), 1);
}

/// Gemini's 429: no `Retry-After`, the wait in the body's `google.rpc.RetryInfo`.
pub(crate) const GEMINI_429: &str = r#"{"error":{"code":429,"message":"You exceeded your current quota. Please retry in 0.4s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaValue":"10"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.4s"}]}}"#;

/// The status error of a Google API's refusal carries the wait its body gives, as the header
/// that whoever retries the error reads; the body stays whole.
#[test]
fn a_wait_in_the_body_of_a_google_apis_refusal_is_the_status_errors() {
    let server = scripted(|_| {
        Reply::status(429, GEMINI_429).content_type("application/json; charset=UTF-8")
    });
    let resp = FuturesSession::new()
        .get(server.url())
        .send()
        .result()
        .unwrap();
    assert_eq!(
        resp.header("retry-after-ms"),
        None,
        "the answer's own headers"
    );
    let err = resp.error_for_status().unwrap_err();
    let Error::Status(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        status
            .headers
            .get("retry-after-ms")
            .map(|v| v.to_str().unwrap()),
        Some("400")
    );
    assert_eq!(status.body, GEMINI_429);
    // A server's own header wins.
    let server = scripted(|_| {
        Reply::status(429, GEMINI_429)
            .content_type("application/json")
            .header("retry-after", "2")
    });
    let resp = FuturesSession::new()
        .get(server.url())
        .send()
        .result()
        .unwrap();
    let Err(Error::Status(status)) = resp.error_for_status() else {
        panic!("a status error")
    };
    assert_eq!(status.headers.get("retry-after-ms"), None);
}

/// `on_retry` hears each wait for another attempt before it starts: the attempt that failed,
/// why (the status, or the error), the wait (the server's, or the backoff) and the URL without
/// its secrets; nothing when the first attempt succeeds or the policy gives up.
#[test]
fn on_retry_hears_each_retry_before_its_wait() {
    use std::sync::Mutex;
    use ureq_futures::RetryEvent;
    let events: Arc<Mutex<Vec<(RetryEvent, Instant)>>> = Arc::default();
    let log = Arc::clone(&events);
    let policy = fast_retries()
        .attempts(3)
        .on_retry(move |event| log.lock().unwrap().push((event.clone(), Instant::now())));
    let server = scripted(|n| match n {
        0 => Reply::retry_after(429, "1"),
        1 => Reply::status(503, "busy"),
        _ => Reply::ok("ok"),
    });
    let session = session_with(policy.clone());
    let resp = session
        .get(format!("{}/v1?key=s3cr3t", server.url()))
        .send()
        .result()
        .unwrap();
    let done = Instant::now();
    assert_eq!(resp.status(), 200);
    let seen = std::mem::take(&mut *events.lock().unwrap());
    let url = format!("{}/v1?<redacted>", server.url());
    let described: Vec<_> = seen
        .iter()
        .map(|(e, _)| (e.url.as_str(), e.attempt, e.attempts, e.reason.as_str()))
        .collect();
    assert_eq!(
        described,
        [
            (url.as_str(), 1, 3, "429 Too Many Requests"),
            (url.as_str(), 2, 3, "503 Service Unavailable"),
        ]
    );
    // The server's second, then the backoff (5 ms doubled, with jitter); each told before it:
    // its whole wait lies between it and what follows it.
    assert_eq!(seen[0].0.wait, secs(1));
    assert!(seen[1].0.wait < ms(50), "{:?}", seen[1].0.wait);
    assert!(
        seen[1].1 - seen[0].1 >= seen[0].0.wait,
        "told after its wait"
    );
    assert!(done - seen[1].1 >= seen[1].0.wait);
    assert_eq!(
        seen[0].0.to_string(),
        format!("retry: attempt 1 of 3 to {url} failed (429 Too Many Requests); the next in 1 s")
    );

    // An error's message is the reason; the policy's last failure is not a retry.
    let closed = closed_port_url();
    let err = session_with(policy)
        .get(&closed)
        .send()
        .result()
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let seen = std::mem::take(&mut *events.lock().unwrap());
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].0.reason.starts_with("io: connect to "),
        "{}",
        seen[0].0.reason
    );
    // A policy with a callback is another policy.
    assert_ne!(fast_retries().on_retry(|_| {}), fast_retries());
}

/// A request ureq refuses to write (two `Host` headers) is the request's fault, which no
/// attempt escapes: not retried, as before its protocol errors were placed.
#[test]
fn a_request_ureq_refuses_to_write_is_not_retried() {
    let server = TestServer::start(|_| Reply::ok("ok"));
    let session = session_with(RetryPolicy::new().attempts(3).base_delay(ms(50)));
    let err = session
        .get(server.url())
        .header("Host", "a.example")
        .header("Host", "b.example")
        .send()
        .result()
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains("attempts"), "{err}");
    assert_eq!(server.request_count(), 0);
}

/// A body of 1,000 bytes: a cut after its first 100 leaves most of it unread.
fn long_body() -> String {
    "the whole answer, at last. ".repeat(40)[..1000].to_string()
}

/// An answer read whole whose body breaks off or stalls midway reached the caller in nothing:
/// it is a failed attempt, retried as a connection that broke before the answer is.
#[test]
fn a_buffered_answer_whose_body_breaks_off_is_asked_for_again() {
    let body = long_body();
    let whole = body.clone();
    let server = scripted(move |n| match n {
        0 => Reply::reset_mid_body(whole.clone(), 100),
        1 => Reply::lying_length(5000, whole.clone()),
        2 => Reply::stall_mid_body(&whole.as_bytes()[..100], 1000),
        _ => Reply::ok(whole.clone()),
    });
    let reasons = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&reasons);
    let policy = fast_retries().on_retry(move |event| {
        log.lock()
            .unwrap()
            .push((event.attempt, event.reason.clone()))
    });
    let resp = FuturesSession::builder()
        .retry(policy)
        .read_timeout(ms(300))
        .build()
        .get(server.url())
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), body);
    assert_eq!(server.request_count(), 4);
    let reasons = reasons.lock().unwrap();
    let attempts: Vec<u32> = reasons.iter().map(|(attempt, _)| *attempt).collect();
    assert_eq!(attempts, [1, 2, 3], "{reasons:?}");
    assert!(
        reasons.iter().all(|(_, r)| r.contains("body")),
        "{reasons:?}"
    );
}

/// The attempts of a request are counted across the answers refused and the bodies cut: a
/// 503, then a cut, with 2 attempts allowed, is the cut's error after 2 attempts.
#[test]
fn attempts_whose_answers_break_off_count_with_the_others() {
    let whole = long_body();
    let server = scripted(move |n| match n {
        0 => Reply::status(503, "busy"),
        _ => Reply::reset_mid_body(whole.clone(), 100),
    });
    let err = session_with(fast_retries().attempts(2))
        .get(server.url())
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.ends_with("(after 2 attempts, the most RetryPolicy::attempts allows)"),
        "{text}"
    );
    assert_eq!(server.request_count(), 2);
}

/// A POST whose answer breaks off is retried only with the caller's leave, as one whose
/// connection breaks before the answer is; the error without it says how to give it.
#[test]
fn a_post_whose_answer_breaks_off_is_retried_only_when_allowed() {
    let whole = long_body();
    let answer = whole.clone();
    let server = scripted(move |n| match n {
        0 => Reply::reset_mid_body(answer.clone(), 100),
        _ => Reply::ok(answer.clone()),
    });
    let session = session_with(fast_retries());
    let err = (session.post(server.url()).body("order"))
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("(after 1 attempt, not retried: POST is not idempotent"),
        "{text}"
    );
    assert_eq!(server.request_count(), 1);
    let post = session.post(server.url()).body("order").idempotent(true);
    assert_eq!(post.send().result().unwrap().text().unwrap(), whole);
}

/// A POST retried by the policy's leave whose answer came from a redirect (a 303 after the
/// server took its body) and broke off is not sent again: the POST may have taken effect.
/// The same when the 303 leads back to the URL of the POST (Post/Redirect/Get).
#[test]
fn a_post_whose_answer_came_from_a_redirect_is_not_sent_again_when_it_breaks_off() {
    for receipt in ["/receipt", "/order"] {
        let whole = long_body();
        let server = TestServer::start(move |req| match req.method.as_str() {
            "POST" => Reply::status(303, "").header("Location", receipt),
            _ => Reply::reset_mid_body(whole.clone(), 100),
        });
        assert_eq!(post_after_a_redirect(&server), ["POST", "GET"], "{receipt}");
    }
}

/// The same when the attempt that got the answer started at the redirect's GET (an earlier
/// one got a 503 there): the POST reached its server in that earlier attempt.
#[test]
fn a_post_whose_retry_started_at_its_redirect_is_not_sent_again_when_the_answer_breaks_off() {
    let gets = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&gets);
    let server = TestServer::start(move |req| match req.method.as_str() {
        "POST" => Reply::status(303, "").header("Location", "/receipt"),
        _ if counted.fetch_add(1, Ordering::SeqCst) == 0 => Reply::status(503, "busy"),
        _ => Reply::reset_mid_body(long_body(), 100),
    });
    assert_eq!(post_after_a_redirect(&server), ["POST", "GET", "GET"]);
}

/// A POST of `/order` to `server`, retried by the policy's leave, that fails with its answer
/// through a redirect not retried: the methods the server saw.
fn post_after_a_redirect(server: &TestServer) -> Vec<String> {
    let err = session_with(fast_retries().non_idempotent(true))
        .post(server.url_for("/order"))
        .body("order")
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("not retried: the answer came from a redirect"),
        "{text}"
    );
    (server.requests().iter())
        .map(|r| r.method.clone())
        .collect()
}

/// An answer the policy retries by its status but gave up on (here: it asks for a wait past
/// `max_retry_after`) is the request's outcome: its body cut short is not asked for again; so
/// is an answer whose server said `x-should-retry: false`.
#[test]
fn an_answer_given_up_on_is_not_asked_for_again_when_its_body_breaks_off() {
    // A wait asked for past `max_retry_after`; a server's word against any retry of an answer
    // that is no success.
    for (status, header) in [
        (429, ("Retry-After", "3600")),
        (404, ("x-should-retry", "false")),
    ] {
        let server = TestServer::start(move |_| {
            Reply::reset_mid_body(long_body(), 100)
                .with_status(status)
                .header(header.0, header.1)
        });
        let err = session_with(fast_retries())
            .get(server.url())
            .send()
            .result();
        assert!(matches!(err, Err(Error::Io(_))), "{status}: {err:?}");
        assert_eq!(server.request_count(), 1, "{status}");
    }
    // On a success the header is not read (the official SDKs read it on errors only): its
    // body cut short is asked for again.
    let server = scripted(|n| match n {
        0 => Reply::reset_mid_body(long_body(), 100).header("x-should-retry", "false"),
        _ => Reply::ok("whole"),
    });
    let resp = session_with(fast_retries())
        .get(server.url())
        .send()
        .result();
    assert_eq!(resp.unwrap().text().unwrap(), "whole");
    assert_eq!(server.request_count(), 2);
}

/// A budget spent in the body says so itself, with or without a policy: no note of attempts
/// after the one attempt that is no retry's.
#[test]
fn a_timeout_in_the_body_says_nothing_of_attempts() {
    let server = TestServer::start(|_| Reply::stall_mid_body("partial", 1000));
    let err = FuturesSession::builder()
        .retry(fast_retries())
        .timeout(ms(300))
        .build()
        .get(server.url())
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert!(err.is_timeout() && !text.contains("attempt"), "{text}");
}

/// A request that did not reach the server (its connection refused) took no effect: a POST is
/// retried then too, as urllib3 retries a connect error whatever the method. Once a reader's
/// body could not be sent again, it is not.
#[test]
fn a_post_that_never_reached_the_server_is_retried() {
    let retries = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&retries);
    let policy = fast_retries().on_retry(move |_| _ = counted.fetch_add(1, Ordering::SeqCst));
    let session = session_with(policy.clone());
    let err = (session.post(closed_port_url()).body("order"))
        .send()
        .result()
        .unwrap_err();
    assert_refused_ending_with(&err, ALL_FOUR);
    assert_eq!(retries.load(Ordering::SeqCst), 3);
    let reader = std::io::Cursor::new(b"order".to_vec());
    let err = (session.post(closed_port_url()).body_reader(reader, Some(5)))
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("(after 1 attempt, not retried: "), "{text}");
    assert_eq!(retries.load(Ordering::SeqCst), 3);
    // Nor is one marked idempotent(false): the caller's word rules out every retry.
    let marked = session.get(closed_port_url()).idempotent(false);
    assert!(marked.send().result().is_err());
    assert_eq!(retries.load(Ordering::SeqCst), 3);
    // Nor a POST whose redirect's hop could not connect: the POST reached its server.
    let closed = closed_port_url();
    let server = TestServer::start(move |_| {
        Reply::status(303, "").header("Location", format!("{closed}/receipt"))
    });
    let post = session.post(server.url()).body("order");
    assert!(post.send().result().is_err());
    assert_eq!(server.request_count(), 1);
    // Nor through an agent of the caller's, whose writes the session does not see: only
    // ureq's own word on the failure would do, and a refused connection is an I/O error.
    let own = FuturesSession::builder()
        .agent(ureq_futures::ureq::Agent::new_with_defaults())
        .retry(policy)
        .build();
    let post = own.post(closed_port_url()).body("order");
    assert!(post.send().result().is_err());
    assert_eq!(retries.load(Ordering::SeqCst), 3);
}
