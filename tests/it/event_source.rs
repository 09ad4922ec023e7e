//! The reconnecting EventSource against the local server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{closed_port_url, ms, secs, Reply, TestServer};
use ureq_futures::sse::{Parser, SmolStr, StreamOptions};
use ureq_futures::{Error, FuturesSession};

const SSE: &str = "text/event-stream";

#[test]
fn reconnects_with_last_event_id_and_stops_on_204() {
    let server = TestServer::start(|req| match req.header("last-event-id") {
        None => Reply::sse(["id: 1\ndata: a\n\n"], ms(0)),
        Some("1") => Reply::chunked_cut(["retry: 5\nid: 2\ndata: b\n\n"], ms(0)).content_type(SSE),
        Some("2") => Reply::status(204, ""),
        Some(other) => Reply::status(500, format!("unexpected id {other}")),
    });
    let session = FuturesSession::new();
    let mut source = session
        .get(server.url())
        .event_source()
        .initial_retry(ms(5));
    let data: Vec<String> = source.by_ref().map(|e| e.unwrap().data).collect();
    assert_eq!(data, ["a", "b"]);
    assert_eq!(source.last_event_id(), Some("2"));
    assert_eq!(source.connections(), 3);
    assert_eq!(
        sent_headers(&server, "last-event-id"),
        [None, Some("1".into()), Some("2".into())]
    );
}

#[test]
fn an_id_beyond_ascii_is_sent_back_as_its_utf8() -> Result<(), Error> {
    let hits = AtomicUsize::new(0);
    let server = TestServer::start(move |_| match hits.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::chunked_cut(["id: caf\u{e9}-1\ndata: a\n\n"], ms(0)).content_type(SSE),
        _ => Reply::status(204, ""),
    });
    let session = FuturesSession::new();
    let source = session.get(server.url()).event_source();
    let data: Result<Vec<String>, Error> =
        source.initial_retry(ms(5)).map(|e| Ok(e?.data)).collect();
    assert_eq!(data?, ["a"]);
    assert_eq!(
        sent_headers(&server, "last-event-id"),
        [None, Some("caf\u{e9}-1".into())]
    );
    Ok(())
}

#[test]
fn retryable_statuses_are_retried_and_counted() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    // Then a redirect loop (the request and its 10 redirects), reconnected to as browsers
    // reconnect after any network error.
    let server = TestServer::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::retry_after(503, "0"),
        1 => Reply::status(429, "slow down"),
        2..=12 => Reply::status(302, "").header("Location", "/loop"),
        13 => Reply::sse(["data: finally\n\n"], ms(0)),
        _ => Reply::status(204, ""),
    });
    let source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5));
    let data: Vec<String> = source.map(|e| e.unwrap().data).collect();
    assert_eq!(data, ["finally"]);
    assert_eq!(hits.load(Ordering::SeqCst), 15);
}

#[test]
fn a_non_retryable_status_ends_the_source_with_its_error() {
    let server = TestServer::start(|_| Reply::status(404, "gone"));
    let mut source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5));
    match source.next() {
        Some(Err(Error::Status(s))) => assert_eq!(s.status, 404),
        other => panic!("expected a 404, got {other:?}"),
    }
    assert!(source.next().is_none());
    assert_eq!(server.request_count(), 1);
}

#[test]
fn gives_up_after_max_attempts_with_backoff() {
    let source = FuturesSession::new()
        .get(closed_port_url())
        .event_source()
        .initial_retry(ms(10))
        .max_attempts(4);
    let t = Instant::now();
    let items: Vec<_> = source.collect();
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
    // Three waits of 10, 20 and 40 ms (up to 40% more) between four attempts.
    let took = t.elapsed();
    assert!(took >= ms(55), "no backoff: {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn post_is_never_reconnected() {
    let mut source = FuturesSession::new()
        .post("http://127.0.0.1:9/never-sent")
        .event_source();
    assert!(matches!(source.next(), Some(Err(Error::InvalidRequest(_)))));
    assert!(source.next().is_none());
}

/// `Event::retry` is the reconnection time in force: a `retry:` of an earlier connection is
/// still in force on the next one, until the server sends another.
#[test]
fn the_server_s_retry_carries_over_to_the_next_connection_s_events() {
    let n = AtomicUsize::new(0);
    let server = TestServer::start(move |_| match n.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::sse(["retry: 20\ndata: a\n\n"], ms(0)),
        1 => Reply::sse(["data: b\n\nretry: 30\ndata: c\n\n"], ms(0)),
        2 => Reply::sse(["data: d\n\n"], ms(0)),
        _ => Reply::status(204, ""),
    });
    let source = FuturesSession::new().get(server.url()).event_source();
    let got: Vec<(String, Option<Duration>)> = source
        .map(|e| e.map(|e| (e.data, e.retry)).unwrap())
        .collect();
    let expected = [("a", 20), ("b", 20), ("c", 30), ("d", 30)];
    let expected: Vec<(String, Option<Duration>)> = expected
        .iter()
        .map(|&(data, retry)| (data.to_string(), Some(ms(retry))))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn the_last_event_id_carries_over_and_a_reset_is_honoured() {
    let n = AtomicUsize::new(0);
    let server = TestServer::start(move |req| {
        match (
            n.fetch_add(1, Ordering::SeqCst),
            req.header("last-event-id"),
        ) {
            (0, None) => Reply::sse(["id: 1\ndata: a\n\n"], ms(0)),
            // The ID stays in force on the new connection; then the server resets it.
            (1, Some("1")) => Reply::sse(["data: b\n\nid\ndata: c\n\n"], ms(0)),
            (2, None) => Reply::status(204, ""),
            (i, id) => Reply::status(500, format!("unexpected request {i} with id {id:?}")),
        }
    });
    let source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5));
    let got: Vec<(String, Option<SmolStr>)> =
        source.map(|e| e.map(|e| (e.data, e.id)).unwrap()).collect();
    assert_eq!(
        got,
        [
            ("a".to_string(), Some("1".into())),
            ("b".to_string(), Some("1".into())),
            ("c".to_string(), None),
        ]
    );
    let sent: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| r.header("last-event-id").map(str::to_string))
        .collect();
    assert_eq!(sent, [None, Some("1".into()), None]);
}

#[test]
fn on_reconnect_is_told_each_attempt_its_wait_and_why() {
    // First connection: one event, then a clean end; then 503 twice; the source gives up at the
    // third failure in a row (max_attempts 3).
    let server = TestServer::start(|req| match req.header("last-event-id") {
        None => Reply::sse(["id: 7\ndata: a\n\n"], ms(0)),
        Some(_) => Reply::status(503, "busy"),
    });
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let session = FuturesSession::new();
    let items: Vec<_> = session
        .get(server.url())
        .event_source()
        .initial_retry(ms(20))
        .max_retry(ms(100))
        .max_attempts(3)
        .on_reconnect(move |r| {
            let why = r.error.map(|e| e.to_string());
            log.lock().unwrap().push((
                r.attempt,
                r.max_attempts,
                r.delay,
                why,
                r.last_event_id.map(str::to_string),
            ));
        })
        .collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().data, "a");
    assert!(matches!(&items[1], Err(Error::Status(s)) if s.status == 503));
    let seen = seen.lock().unwrap();
    // The clean end, then the first two 503s; the third ends the source without a callback.
    let attempts: Vec<(u32, u32)> = seen.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(attempts, [(1, 3), (2, 3), (3, 3)]);
    assert!(
        seen[0].3.is_none(),
        "a clean end has no error: {:?}",
        seen[0]
    );
    for s in &seen[1..] {
        let why = s.3.as_deref().unwrap_or("");
        assert!(why.contains("503"), "{why}");
    }
    // The reconnection time (20 ms) after the clean end and after the first failure, then
    // doubled per further failure (capped at 100 ms), each with up to 40% more at random,
    // never less (the standard's reconnection time is a least wait).
    for (s, base) in seen.iter().zip([20u64, 20, 40]) {
        assert!(
            s.2 >= ms(base) && s.2 <= ms(base * 14 / 10),
            "{:?} for {base} ms",
            s.2
        );
        assert_eq!(s.4.as_deref(), Some("7"));
    }
    assert_eq!(server.request_count(), 4);
}

/// The `Last-Event-ID` each request of `server` carried.
fn sent_ids(server: &TestServer) -> Vec<Option<String>> {
    sent_headers(server, "last-event-id")
}

#[test]
fn an_id_and_a_retry_without_an_event_count_for_the_reconnection() {
    // The standard sets the last event ID at a blank line whether or not the block had data,
    // and the reconnection time as soon as a `retry:` line is read.
    let server = TestServer::start(|req| match req.header("last-event-id") {
        None => Reply::sse(["id: 1\ndata: a\n\nid: 2\n\nretry: 20\n\n"], ms(0)),
        Some(_) => Reply::status(204, ""),
    });
    let delays = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&delays);
    let mut source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(Duration::from_secs(2))
        .on_reconnect(move |r| log.lock().unwrap().push(r.delay));
    let data: Vec<String> = source.by_ref().map(|e| e.unwrap().data).collect();
    assert_eq!(data, ["a"]);
    assert_eq!(sent_ids(&server), [None, Some("2".to_string())]);
    assert_eq!(source.last_event_id(), Some("2"));
    let delays = delays.lock().unwrap();
    assert!(
        delays[0] >= ms(20) && delays[0] <= ms(28), // the server's 20 ms and jitter; not 2 s
        "waited {:?}, not the server's 20 ms",
        delays[0]
    );
}

#[test]
fn the_wait_never_exceeds_max_retry() {
    let delays = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&delays);
    let _ = FuturesSession::new()
        .get(closed_port_url())
        .event_source()
        .initial_retry(ms(4))
        .max_retry(ms(10))
        .max_attempts(30)
        .on_reconnect(move |r| log.lock().unwrap().push(r.delay))
        .count();
    let delays = delays.lock().unwrap();
    assert_eq!(delays.len(), 29);
    assert!(delays.iter().all(|d| *d <= ms(10)), "{delays:?}");
}

#[test]
fn a_2xx_other_than_200_fails_the_source() {
    let server = TestServer::start(|_| Reply::sse(["data: partial\n\n"], ms(0)).with_status(206));
    let items: Vec<_> = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5))
        .collect();
    assert_eq!(items.len(), 1, "{items:?}");
    match &items[0] {
        Err(Error::Protocol(m)) => assert!(m.contains("answered 206, not 200"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.request_count(), 1);
}

#[test]
fn an_id_that_cannot_be_a_header_is_not_sent_and_the_source_goes_on() {
    let server = TestServer::start(|req| {
        if req.header("last-event-id").is_some() {
            return Reply::status(500, "an id that cannot be a header was sent");
        }
        Reply::sse(["id: a\u{1}b\ndata: a\n\n"], ms(0))
    });
    let told = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&told);
    let mut source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5))
        .on_reconnect(move |r| {
            log.lock()
                .unwrap()
                .push(r.last_event_id.map(str::to_string));
        });
    assert_eq!(source.next().unwrap().unwrap().data, "a");
    assert_eq!(source.last_event_id(), Some("a\u{1}b"));
    // The reconnection is made, without the header: the server answers it with the event again.
    assert_eq!(source.next().unwrap().unwrap().data, "a");
    assert_eq!(sent_ids(&server), [None, None]);
    // The callback is told what the request carries: no `Last-Event-ID`.
    assert_eq!(*told.lock().unwrap(), [None]);
}

/// The source's next item when `stop` runs on another thread 100 ms into the wait for it; the
/// source must end there, long before its server's minute is up.
fn last_item_when(
    source: &mut ureq_futures::EventSource,
    stop: impl FnOnce() + Send + 'static,
) -> Option<Result<ureq_futures::sse::Event, Error>> {
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(ms(100));
        stop();
    });
    let t = Instant::now();
    let last = source.next();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert!(source.next().is_none());
    stopper.join().unwrap();
    last
}

/// A server that asks for a minute between connections, and one that sends one event and then
/// nothing for a minute.
fn waiting_and_silent_servers() -> (TestServer, TestServer) {
    let waiting = TestServer::start(|_| Reply::sse(["retry: 60000\ndata: a\n\n"], ms(0)));
    let silent =
        TestServer::start(|_| Reply::sse(["data: a\n\n", "data: b\n\n"], Duration::from_secs(60)));
    (waiting, silent)
}

#[test]
fn a_shutdown_of_the_session_ends_the_source_in_a_wait_and_in_a_read() {
    let (server, silent) = waiting_and_silent_servers();
    for now in [false, true] {
        let session = FuturesSession::new();
        let mut source = session.get(server.url()).event_source();
        assert_eq!(source.next().unwrap().unwrap().data, "a");
        let last = last_item_when(&mut source, move || {
            if now {
                session.shutdown_now();
            } else {
                session.shutdown();
            }
        });
        assert!(matches!(last, Some(Err(Error::ShutDown))), "{last:?}");
    }
    assert_eq!(server.request_count(), 2);
    // In a read: `shutdown_now` interrupts it, and the source does not try again.
    let session = FuturesSession::new();
    let mut source = session.get(silent.url()).event_source();
    assert_eq!(source.next().unwrap().unwrap().data, "a");
    let last = last_item_when(&mut source, move || session.shutdown_now());
    assert!(matches!(last, Some(Err(Error::Cancelled))), "{last:?}");
    assert_eq!(silent.request_count(), 1);
}

#[test]
fn a_stop_handle_ends_the_source_in_a_wait_and_in_a_read() {
    let (server, silent) = waiting_and_silent_servers();
    for url in [server.url(), silent.url()] {
        let mut source = FuturesSession::new().get(url).event_source();
        let stop = source.stop_handle();
        assert_eq!(source.next().unwrap().unwrap().data, "a");
        let last = last_item_when(&mut source, move || stop.stop());
        assert!(matches!(last, Some(Err(Error::Cancelled))), "{last:?}");
    }
    // A stop before anything: no request is made.
    let source = FuturesSession::new().get(silent.url()).event_source();
    source.stop_handle().stop();
    let items: Vec<_> = source.collect();
    assert!(matches!(items[..], [Err(Error::Cancelled)]), "{items:?}");
    assert_eq!(silent.request_count(), 1);
}

#[test]
fn a_last_event_id_set_on_the_request_or_the_session_is_the_first_and_is_replaced_not_repeated() {
    // Set on the request, then as the session's default header: the same.
    for on_session in [false, true] {
        let n = AtomicUsize::new(0);
        let server = TestServer::start(move |_| match n.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::sse(["data: a\n\nid: 5\ndata: b\n\n"], ms(0)),
            1 => Reply::sse(["id\ndata: c\n\n"], ms(0)),
            _ => Reply::status(204, ""),
        });
        let session = match on_session {
            true => FuturesSession::builder()
                .header("Last-Event-ID", "4")
                .build(),
            false => FuturesSession::new(),
        };
        let mut request = session.get(server.url());
        if !on_session {
            request = request.header("Last-Event-ID", "4");
        }
        let mut source = request.event_source().initial_retry(ms(5));
        assert_eq!(source.last_event_id(), Some("4"));
        let got: Vec<(String, Option<SmolStr>)> = source
            .by_ref()
            .map(|e| e.map(|e| (e.data, e.id)).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), Some("4".into())),
                ("b".to_string(), Some("5".into())),
                ("c".to_string(), None),
            ]
        );
        // One header a request: the caller's, then the server's ID, then none after its reset
        // (the session's default neither).
        let sent = || -> Vec<Vec<String>> {
            server
                .requests()
                .iter()
                .map(|r| {
                    r.headers
                        .iter()
                        .filter(|(k, _)| k.eq_ignore_ascii_case("last-event-id"))
                        .map(|(_, v)| v.clone())
                        .collect()
                })
                .collect()
        };
        assert_eq!(
            sent(),
            [vec!["4".to_string()], vec!["5".to_string()], vec![]]
        );
        // The session's other requests still send its default.
        session.get(server.url()).send().result().unwrap();
        assert_eq!(sent()[3].len(), usize::from(on_session), "{on_session}");
    }
}

/// A parser started with an ID, given in the options, is where the first connection resumes,
/// as a `Last-Event-ID` on the request is (which wins over it).
#[test]
fn a_parser_started_with_an_id_is_where_the_first_connection_resumes() {
    let server = TestServer::start(|req| match req.header("last-event-id") {
        Some("41") => Reply::sse(["id: 42\ndata: b\n\n"], ms(0)),
        Some("42") => Reply::status(204, ""),
        _ => Reply::sse(["id: 1\ndata: from the start\n\n"], ms(0)),
    });
    let seeded = || StreamOptions::default().parser(Parser::new().with_last_event_id("41"));
    let session = FuturesSession::new();
    let mut source = session
        .get(server.url())
        .event_source()
        .initial_retry(ms(5))
        .options(seeded());
    assert_eq!(source.last_event_id(), Some("41"));
    let got: Vec<String> = source.by_ref().map(|e| e.unwrap().data).collect();
    assert_eq!(got, ["b"]);
    // The request's own wins.
    let source = session
        .get(server.url())
        .header("Last-Event-ID", "42")
        .event_source()
        .options(seeded());
    assert_eq!(source.last_event_id(), Some("42"));
    assert_eq!(source.count(), 0);
    // An ID no `id:` line can hold (CR or LF) is not taken.
    let parser = Parser::new().with_last_event_id("41\r\nx-injected: 1");
    assert_eq!(parser.last_event_id(), "");
}

#[test]
fn a_stop_handle_ends_a_connection_attempt_at_once() {
    // The server answers a minute late, on the first connection and on a reconnection.
    let slow = TestServer::start(|_| Reply::sse(["data: a\n\n"], ms(0)).delay(secs(60)));
    let mut source = FuturesSession::new().get(slow.url()).event_source();
    let stop = source.stop_handle();
    let last = last_item_when(&mut source, move || stop.stop());
    assert!(matches!(last, Some(Err(Error::Cancelled))), "{last:?}");
    assert_eq!(source.connections(), 1);
    let n = AtomicUsize::new(0);
    let server = TestServer::start(move |_| match n.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::sse(["data: a\n\n"], ms(0)),
        _ => Reply::sse(["data: b\n\n"], ms(0)).delay(secs(60)),
    });
    let mut source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(1));
    let stop = source.stop_handle();
    assert_eq!(source.next().unwrap().unwrap().data, "a");
    let last = last_item_when(&mut source, move || stop.stop());
    assert!(matches!(last, Some(Err(Error::Cancelled))), "{last:?}");
    assert_eq!(source.connections(), 2);
}

#[test]
fn a_retry_after_of_a_retryable_status_lengthens_the_wait_up_to_max_retry() {
    let n = AtomicUsize::new(0);
    let server = TestServer::start(move |_| match n.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::retry_after(503, "1"),
        1 => Reply::status(429, "slow down").header("retry-after-ms", "50"),
        2 => Reply::status(503, "busy"),
        _ => Reply::status(204, ""),
    });
    let delays = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&delays);
    let items: Vec<_> = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5))
        .max_retry(ms(300))
        .on_reconnect(move |r| log.lock().unwrap().push(r.delay))
        .collect();
    assert!(items.is_empty(), "{items:?}");
    let delays = delays.lock().unwrap();
    // 1 s asked, held to max_retry; then the 50 ms asked; then the backoff (20 ms, up to 40%
    // more).
    assert_eq!(delays[..2], [ms(300), ms(50)]);
    assert!(delays[2] >= ms(20) && delays[2] <= ms(28), "{delays:?}");
    assert_eq!(server.request_count(), 4);
}

#[test]
fn a_reconnection_goes_to_the_url_a_same_origin_redirect_led_to() {
    let server = TestServer::start(|req| match (req.path_only(), req.header("last-event-id")) {
        ("/start", _) => Reply::status(302, "").header("location", "/events?n=1"),
        ("/events", None) => Reply::sse(["id: 1\ndata: a\n\n"], ms(0)),
        ("/events", Some(_)) => Reply::status(204, ""),
        _ => Reply::status(500, ""),
    });
    let data: Vec<String> = FuturesSession::new()
        .get(server.url_for("/start"))
        .query("q", "x")
        .header("x-k", "v")
        .event_source()
        .initial_retry(ms(5))
        .map(|e| e.unwrap().data)
        .collect();
    assert_eq!(data, ["a"]);
    let sent: Vec<(String, Option<String>, Option<String>)> = server
        .requests()
        .iter()
        .map(|r| {
            let header = |name| r.header(name).map(str::to_string);
            (r.path.clone(), header("last-event-id"), header("x-k"))
        })
        .collect();
    let k = || Some("v".to_string());
    assert_eq!(
        sent,
        [
            ("/start?q=x".to_string(), None, k()),
            ("/events?n=1".to_string(), None, k()),
            ("/events?n=1".to_string(), Some("1".to_string()), k()),
        ]
    );
}

/// Reads an event of each of two connections of an `EventSource` at `url`, whose request
/// carries `Authorization: Bearer secret`.
fn two_connections_with_a_secret(url: String) {
    let mut source = FuturesSession::new()
        .get(url)
        .bearer_auth("secret")
        .event_source()
        .initial_retry(ms(5));
    assert_eq!(source.next().unwrap().unwrap().data, "a");
    assert_eq!(source.next().unwrap().unwrap().data, "a");
}

#[test]
fn a_reconnection_after_a_redirect_to_another_origin_starts_over() {
    let other = TestServer::start(|_| Reply::sse(["id: 1\ndata: a\n\n"], ms(0)));
    let to = other.url_for("/events");
    let server = TestServer::start(move |_| Reply::status(302, "").header("location", to.clone()));
    two_connections_with_a_secret(server.url_for("/start"));
    // The credentials never reach the other origin: every connection starts at the first.
    assert_eq!(server.request_count(), 2);
    assert!(other
        .requests()
        .iter()
        .all(|r| r.header("authorization").is_none()));
}

/// Out to another origin and back (`A -> B -> A/?chosen`): the redirects dropped the
/// credentials, and the reconnections start at the request's URL again rather than sending them
/// to the URL of `A` that `B` chose.
#[test]
fn a_reconnection_after_a_redirect_out_and_back_starts_over() {
    let out = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let to_other = std::sync::Arc::clone(&out);
    let home = TestServer::start(move |req| match req.path_only() {
        "/start" => Reply::status(302, "").header("location", to_other.get().unwrap().clone()),
        "/events" => Reply::sse(["id: 1\ndata: a\n\n"], ms(0)),
        _ => Reply::status(500, ""),
    });
    let back = home.url_for("/events?chosen=by-the-other");
    let other = TestServer::start(move |_| Reply::status(302, "").header("location", back.clone()));
    out.set(other.url_for("/out")).unwrap();
    two_connections_with_a_secret(home.url_for("/start"));
    let sent: Vec<(String, Option<String>)> = home
        .requests()
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.header("authorization").map(str::to_string),
            )
        })
        .collect();
    let events = || ("/events?chosen=by-the-other".to_string(), None);
    let start = || ("/start".to_string(), Some("Bearer secret".to_string()));
    assert_eq!(sent, [start(), events(), start(), events()]);
}

#[test]
fn a_cancel_of_the_job_that_reads_the_source_ends_it_in_a_wait_and_in_a_read() {
    let (waiting, silent) = waiting_and_silent_servers();
    // The source's streams run on a session of their own; the job that reads it on another.
    let streams = FuturesSession::new();
    let readers = FuturesSession::builder().max_workers(1).build();
    for server in [&waiting, &silent] {
        let (got_a, first) = std::sync::mpsc::channel();
        let (ended, end) = std::sync::mpsc::channel();
        let url = server.url();
        let streams = streams.clone();
        let job = readers.submit(move |_| {
            let mut source = streams.get(url).event_source();
            got_a
                .send(source.next().map(|e| e.map(|e| e.data)))
                .unwrap();
            // A minute's wait for the reconnection, or for the next event.
            let last = source.next();
            ended.send((last, source.next().is_none())).unwrap();
            Ok(())
        });
        assert_eq!(first.recv_timeout(secs(30)).unwrap().unwrap().unwrap(), "a");
        std::thread::sleep(ms(100));
        job.cancel();
        let (last, over) = end
            .recv_timeout(secs(30))
            .expect("the source went on after the cancel");
        assert!(matches!(last, Some(Err(Error::Cancelled))), "{last:?}");
        assert!(over);
        assert_eq!(server.request_count(), 1);
    }
}

#[test]
fn a_clean_end_starts_a_new_run_of_failures() {
    // Two 503s, a stream the server ends cleanly without an event, then 503s for good.
    let n = AtomicUsize::new(0);
    let server = TestServer::start(move |_| match n.fetch_add(1, Ordering::SeqCst) {
        2 => Reply::sse([": nothing to say\n\n"], ms(0)),
        _ => Reply::status(503, "busy"),
    });
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let items: Vec<_> = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5))
        .max_retry(ms(20))
        .max_attempts(3)
        .on_reconnect(move |r| log.lock().unwrap().push((r.attempt, r.error.is_some())))
        .collect();
    assert!(
        matches!(&items[..], [Err(Error::Status(s))] if s.status == 503),
        "{items:?}"
    );
    // The clean end is attempt 1 of a new run: three more 503s in a row end the source.
    assert_eq!(
        *seen.lock().unwrap(),
        [(2, true), (3, true), (1, false), (2, true), (3, true)]
    );
    assert_eq!(server.request_count(), 6);
}

#[test]
fn the_error_a_source_gives_up_with_says_how_many_attempts_failed() {
    // Refused connections, then streams cut mid-body: each error says it ended a run of 3.
    let cut = TestServer::start(|_| Reply::reset_mid_body("data: a\n\n", 4).content_type(SSE));
    for (url, what) in [
        (closed_port_url(), "connect to"),
        (cut.url(), "read the body from"),
    ] {
        let items: Vec<_> = FuturesSession::new()
            .get(&url)
            .event_source()
            .initial_retry(ms(1))
            .max_attempts(3)
            .filter_map(Result::err)
            .collect();
        let [Error::Io(e)] = &items[..] else {
            panic!("{items:?}");
        };
        let message = e.to_string();
        assert!(message.contains(what), "{message}");
        assert!(
            message.ends_with(
                " (after 3 attempts in a row, the most EventSource::max_attempts allows)"
            ),
            "{message}"
        );
    }
    // A status it retries (503), three times in a row: its status error says so too.
    let busy = TestServer::start(|_| Reply::status(503, "busy"));
    let items: Vec<_> = FuturesSession::new()
        .get(busy.url())
        .event_source()
        .initial_retry(ms(1))
        .max_attempts(3)
        .filter_map(Result::err)
        .collect();
    let [e @ Error::Status(_)] = &items[..] else {
        panic!("{items:?}");
    };
    let message = e.to_string();
    assert!(message.contains("503"), "{message}");
    assert!(
        message
            .ends_with(" (after 3 attempts in a row, the most EventSource::max_attempts allows)"),
        "{message}"
    );
    assert_eq!(busy.request_count(), 3);
}

#[test]
fn a_stopped_source_keeps_the_last_event_id_in_force() {
    // An event with ID 1, then a block that only moves the ID to 2, then silence.
    let server =
        TestServer::start(|_| Reply::sse(["id: 1\ndata: a\n\nid: 2\n\n", "data: b\n\n"], secs(60)));
    for now in [false, true] {
        let session = FuturesSession::new();
        let mut source = session.get(server.url()).event_source();
        let stop = source.stop_handle();
        assert_eq!(source.next().unwrap().unwrap().data, "a");
        let last = last_item_when(&mut source, move || {
            if now {
                session.shutdown_now();
            } else {
                stop.stop();
            }
        });
        assert!(matches!(last, Some(Err(Error::Cancelled))), "{last:?}");
        // What a reconnection would have sent: the ID to resume from in a later run.
        assert_eq!(source.last_event_id(), Some("2"));
    }
    // A stop that comes between two reads, not during one: the same ID.
    let mut source = FuturesSession::new().get(server.url()).event_source();
    assert_eq!(source.next().unwrap().unwrap().data, "a");
    std::thread::sleep(ms(200)); // the worker has read the block of ID 2
    source.stop_handle().stop();
    assert!(matches!(source.next(), Some(Err(Error::Cancelled))));
    assert!(source.next().is_none());
    assert_eq!(source.last_event_id(), Some("2"));
}

/// A stop between two reads, once the server has ended the stream: the source ends without a
/// word of a reconnection.
#[test]
fn a_stop_after_a_clean_end_tells_of_no_reconnection() {
    let server = TestServer::start(|_| Reply::sse(["id: 1\ndata: a\n\n"], ms(0)));
    let told = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&told);
    let mut source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .on_reconnect(move |r| seen.lock().unwrap().push(r.delay));
    assert_eq!(source.next().unwrap().unwrap().data, "a");
    std::thread::sleep(ms(200)); // the body has ended
    source.stop_handle().stop();
    assert!(matches!(source.next(), Some(Err(Error::Cancelled))));
    assert!(source.next().is_none());
    assert!(
        told.lock().unwrap().is_empty(),
        "{:?}",
        told.lock().unwrap()
    );
    assert_eq!(source.last_event_id(), Some("1"));
}

/// A stop while the channel is full: the worker has read events it could not hand on, and the
/// ID to resume from is that of the last event the caller got, not the last one read (a
/// server resuming from that would never send the ones between).
#[test]
fn a_source_stopped_with_its_channel_full_resumes_from_the_last_event_handed_out() {
    let body: String = (1..=200)
        .map(|i| format!("id: {i}\ndata: {i}\n\n"))
        .collect();
    // The stream stays open after the events (a keep-alive comment 30 s later): its only
    // end is the stop's.
    let server =
        TestServer::start(move |_| Reply::sse([body.clone(), ": ka\n\n".into()], secs(30)));
    for now in [false, true] {
        let session = FuturesSession::new();
        let mut source = session
            .get(server.url())
            .event_source()
            .options(StreamOptions::default().capacity(2));
        let mut handed = vec![source.next().unwrap().unwrap().data];
        std::thread::sleep(ms(300)); // the channel is full, the worker waits
        if now {
            session.shutdown_now();
        } else {
            source.stop_handle().stop();
        }
        // The worker sees the stop while the channel is still full (it looks every 20 ms): read
        // at once, the channel could keep room for it until it has sent every event it read.
        std::thread::sleep(ms(300));
        let mut last = None;
        for item in source.by_ref() {
            match item {
                Ok(event) => handed.push(event.data),
                Err(e) => last = Some(e),
            }
        }
        assert!(matches!(last, Some(Error::Cancelled)), "{last:?}");
        assert!(handed.len() < 200, "{}", handed.len());
        assert_eq!(
            source.last_event_id(),
            handed.last().map(String::as_str),
            "shutdown_now {now}"
        );
    }
}

/// A server that sends `retry: 0` and closes each stream at once, without an event: the
/// reconnections back off (from 1 ms, doubling) instead of running in a busy loop; they are no
/// failures, so the source does not end after `max_attempts` of them.
#[test]
fn streams_ended_at_once_without_events_back_off_even_at_retry_0() {
    let server = TestServer::start(|_| Reply::sse(["retry: 0\n\n"], ms(0)));
    let delays = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&delays);
    let source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .max_attempts(3);
    let stop = source.stop_handle();
    let mut source = source.on_reconnect(move |r| {
        assert!(r.error.is_none(), "{:?}", r.error);
        let mut delays = log.lock().unwrap();
        delays.push(r.delay);
        if delays.len() == 8 {
            stop.stop();
        }
    });
    let last = source.by_ref().last();
    assert!(matches!(last, Some(Err(Error::Cancelled))), "{last:?}");
    let delays = delays.lock().unwrap().clone();
    assert_eq!(delays.len(), 8, "{delays:?}");
    // The first end after the server's `retry: 0` waits what it asked; the rest double from
    // 1 ms (plus up to 40% of jitter).
    assert_eq!(delays[0], ms(0), "{delays:?}");
    for (k, delay) in delays.iter().enumerate().skip(1) {
        assert!(*delay >= ms(1 << (k - 1)), "{delays:?}");
    }
}

/// A stream that stays open a while without events (keep-alive comments until an idle timeout
/// closes it) did not end at once: its reconnections wait the reconnection time, no backoff.
#[test]
fn streams_of_comments_closed_after_a_while_do_not_back_off() {
    let server = TestServer::start(|_| Reply::sse([": ping\n\n"; 3], ms(100)));
    let delays = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&delays);
    let source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(50));
    let stop = source.stop_handle();
    let mut source = source.on_reconnect(move |r| {
        let mut delays = log.lock().unwrap();
        delays.push(r.delay);
        if delays.len() == 4 {
            stop.stop();
        }
    });
    let last = source.by_ref().last();
    assert!(matches!(last, Some(Err(Error::Cancelled))), "{last:?}");
    let delays = delays.lock().unwrap().clone();
    assert_eq!(delays.len(), 4, "{delays:?}");
    // The reconnection time, plus up to 40% of jitter.
    assert!(delays.iter().all(|d| *d <= ms(70)), "{delays:?}");
}

#[test]
fn a_connection_cut_after_keep_alive_comments_starts_a_new_run_of_failures() {
    // Keep-alive comments a while, then a cut (a proxy's idle timeout): the connection worked,
    // so its cut is no failure, its reconnection the first attempt of a new run, and the source
    // never runs out of attempts.
    // A cut before the body's first whole line counts toward `max_attempts` as before, and so
    // does a cut at once after a line (a `retry: 0` that would make a busy loop otherwise).
    let cases: [(&'static [&'static str], _, _); 3] = [
        (&[": ping\n\n", ": ping\n\n"], ms(120), false),
        (&["data: a"], ms(0), true),
        (&["retry: 0\n\n"], ms(0), true),
    ];
    for (body, delay, gives_up) in cases {
        let server = TestServer::start(move |_| {
            Reply::chunked_cut(body.iter().copied(), delay).content_type(SSE)
        });
        let attempts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&attempts);
        let mut source = FuturesSession::new()
            .get(server.url())
            .event_source()
            .initial_retry(ms(5))
            .max_attempts(3)
            .on_reconnect(move |r| seen.lock().unwrap().push(r.attempt));
        let stop = source.stop_handle();
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = std::thread::spawn({
            let (attempts, ended) = (Arc::clone(&attempts), Arc::clone(&ended));
            move || {
                let deadline = Instant::now() + secs(20);
                // A source that gives up gets room for a few more: on a loaded machine a quick
                // cut may take past 100 ms now and then, and start a new run.
                let enough = if gives_up { 30 } else { 6 };
                while attempts.lock().unwrap().len() < enough
                    && Instant::now() < deadline
                    && !ended.load(Ordering::SeqCst)
                {
                    std::thread::sleep(ms(5));
                }
                stop.stop();
            }
        });
        let last = source.by_ref().last().expect("an error or a stop");
        ended.store(true, Ordering::SeqCst);
        watcher.join().unwrap();
        let attempts = attempts.lock().unwrap().clone();
        if gives_up {
            let err = last.unwrap_err();
            assert!(
                err.to_string().contains(
                    "(after 3 attempts in a row, the most EventSource::max_attempts allows)"
                ),
                "{err}"
            );
            assert!(attempts.ends_with(&[2, 3]), "{body:?}: {attempts:?}");
        } else {
            assert!(matches!(last, Err(Error::Cancelled)), "{last:?}");
            assert!(attempts.len() >= 6, "{attempts:?}");
            assert!(attempts.iter().all(|&a| a == 1), "{attempts:?}");
        }
    }
}

#[test]
fn a_feed_cut_after_it_worked_is_reconnected_to_with_a_single_attempt_allowed() {
    // `max_attempts(1)`: no failed attempt is tried again, but a connection that worked a
    // while (an event, then a proxy's cut) is no failed attempt.
    let server = TestServer::start(|_| {
        Reply::chunked_cut(["id: 1\ndata: a\n\n", ": ping\n\n"], ms(120)).content_type(SSE)
    });
    let mut source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5))
        .max_attempts(1);
    for _ in 0..3 {
        let event = source.next().unwrap().unwrap();
        assert_eq!((event.data.as_str(), event.id.as_deref()), ("a", Some("1")));
    }
    assert_eq!(source.connections(), 3);
    let resumed = server.requests();
    assert_eq!(resumed[2].header("last-event-id"), Some("1"));
}

/// An ID of 9,000 bytes does not fit the stream's 8 KiB head line as `Last-Event-ID`: no later
/// attempt could send the request, so the source ends with the error at once rather than after
/// its attempts and their backoff, without sending the server a request cut short.
#[test]
fn a_reconnection_this_side_cannot_write_ends_the_source_at_once() {
    let body = format!("id: {}\ndata: x\n\n", "i".repeat(9000));
    let server = TestServer::start(move |_| Reply::sse([body.clone()], ms(0)));
    let session = FuturesSession::new();
    let mut source = session
        .get(server.url())
        .event_source()
        .initial_retry(ms(5));
    assert_eq!(source.next().unwrap().unwrap().data, "x");
    let err = source.next().unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidInput),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "io: the event source at {} cannot connect: its last event ID (the server's, the \
             request's own Last-Event-ID, or its parser's) is 9,000 bytes long, too long for the \
             Last-Event-ID header of an event stream's request (a head line holds at most 8,192 \
             bytes: the stream connections' write buffer, at most 8 KiB unless \
             SessionBuilder::stream_buffer_size sets it; most servers refuse longer lines); \
             nothing was sent",
            server.url()
        )
    );
    assert!(source.next().is_none());
    assert_eq!(
        (server.connection_count(), server.request_count()),
        (1, 1),
        "a reconnection that could not be sent reached the server"
    );
    assert_eq!(
        source.connections(),
        1,
        "a connection never opened was counted"
    );
}

#[test]
fn the_longest_event_id_a_stream_head_line_holds_is_sent_whole() {
    // 8,192 bytes of write buffer: `last-event-id: ` and the line's end take 17.
    let id = "i".repeat(8192 - 17);
    let body = format!("id: {id}\ndata: x\n\n");
    let server = TestServer::start(move |_| Reply::sse([body.clone()], ms(0)));
    let mut source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(5));
    for _ in 0..2 {
        assert_eq!(source.next().unwrap().unwrap().data, "x");
    }
    let requests = server.requests();
    assert_eq!(requests[1].header("last-event-id"), Some(id.as_str()));
}

/// The values of the header `name` each request of `server` carried.
fn sent_headers(server: &TestServer, name: &str) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| r.header(name).map(str::to_string))
        .collect()
}

#[test]
fn a_reconnection_after_a_redirect_within_the_origin_keeps_the_url_s_credentials() {
    // nginx's redirect for a missing trailing slash: an absolute `Location` without the
    // user-info the request's URL had. The redirect keeps the credentials (same origin); the
    // reconnection, which goes where the redirect led, keeps them too.
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let b = Arc::clone(&base);
    let server = TestServer::start(move |req| {
        match (
            req.path_only(),
            req.header("authorization"),
            req.header("last-event-id"),
        ) {
            (_, None, _) => Reply::status(401, "who are you"),
            ("/events", _, _) => {
                Reply::status(301, "").header("Location", format!("{}/events/", b.get().unwrap()))
            }
            (_, _, None) => Reply::sse(["id: 1\ndata: a\n\n"], ms(0)),
            _ => Reply::status(204, ""),
        }
    });
    base.set(server.url()).unwrap();
    let url = server.url_for("/events").replace("http://", "http://u:p@");
    let items: Vec<Result<String, String>> = FuturesSession::new()
        .get(url)
        .event_source()
        .initial_retry(ms(5))
        .map(|item| item.map(|e| e.data).map_err(|e| e.to_string()))
        .collect();
    assert_eq!(items, [Ok("a".to_string())]);
    let basic = Some("Basic dTpw".to_string());
    assert_eq!(
        sent_headers(&server, "authorization"),
        [basic.clone(), basic.clone(), basic]
    );
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path_only().to_string())
        .collect();
    assert_eq!(paths, ["/events", "/events/", "/events/"]);
}

#[test]
fn a_last_event_id_on_the_request_that_is_no_header_value_is_refused() {
    // A resume point read from a file with its line feed: sent as it is, it cannot be; sent
    // without it, the server would replay everything.
    let server = TestServer::start(|_| Reply::sse(["data: a\n\n"], ms(0)));
    let mut source = FuturesSession::new()
        .get(server.url())
        .header("Last-Event-ID", "5\n")
        .event_source()
        .initial_retry(ms(5));
    let first = source.next();
    let Some(Err(Error::InvalidRequest(message))) = &first else {
        panic!("{first:?}, sent: {:?}", sent_ids(&server));
    };
    assert!(message.contains("\"Last-Event-ID\""), "{message}");
    assert!(message.contains("line feed"), "{message}");
    assert!(source.next().is_none());
    assert_eq!(server.request_count(), 0);
}

#[test]
fn a_reconnection_to_a_redirect_target_carries_the_cookies_its_first_request_carried() {
    // The redirect sets a load balancer's cookie; the request has a `Cookie` of its own. The
    // first request to `/events` is a redirect's hop (the jar's cookies, then the request's
    // own); the reconnection goes there directly and carries the same.
    let server = TestServer::start(|req| match (req.path_only(), req.header("last-event-id")) {
        ("/start", _) => Reply::status(302, "")
            .header("Location", "/events")
            .add_header("Set-Cookie", "lb=node1; Path=/"),
        ("/events", None) => Reply::sse(["id: 1\ndata: a\n\n"], ms(0)),
        _ => Reply::status(204, ""),
    });
    let data: Vec<String> = FuturesSession::new()
        .get(server.url_for("/start"))
        .header("Cookie", "consent=yes")
        .event_source()
        .initial_retry(ms(5))
        .map(|e| e.unwrap().data)
        .collect();
    assert_eq!(data, ["a"]);
    let cookies = sent_headers(&server, "cookie");
    let both = Some("lb=node1; consent=yes".to_string());
    assert_eq!(
        cookies,
        [Some("consent=yes".to_string()), both.clone(), both]
    );
}
