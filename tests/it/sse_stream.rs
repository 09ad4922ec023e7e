//! Event streams end to end: mockito and the local fault server feed `events()`.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select};
use support::{ms, Framing, Reply, TestServer, SLOW_ANSWER};
use ureq_futures::sse::{Event, Parser, StreamOptions};
use ureq_futures::{Error, FuturesSession};

const SSE: &str = "text/event-stream";

fn data_of(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

/// Collects a stream's events up to its end, and the error that ended it, if any.
fn drain(stream: impl Iterator<Item = Result<Event, Error>>) -> (Vec<Event>, Option<Error>) {
    let mut events = Vec::new();
    for item in stream {
        match item {
            Ok(e) => events.push(e),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

#[test]
fn a_chunked_mockito_stream_yields_every_event() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("GET", "/events")
        .match_header("accept", SSE)
        .match_header("accept-encoding", "identity")
        .match_header("cache-control", "no-cache")
        .with_header("content-type", "text/event-stream; charset=utf-8")
        .with_chunked_body(|w| {
            w.write_all(b"event: greeting\ndata: hello\nid: 1\n\n")?;
            w.flush()?;
            w.write_all(b": keep-alive\n\ndata: line one\r\ndata: line two\r\n\r\n")?;
            w.flush()?;
            w.write_all(b"retry: 2500\ndata: last\n\n")
        })
        .create();
    let session = FuturesSession::new();
    let stream = session
        .get(format!("{}/events", server.url()))
        .events()
        .result()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let (events, err) = drain(stream);
    assert!(err.is_none(), "{err:?}");
    mock.assert();
    assert_eq!(data_of(&events), ["hello", "line one\nline two", "last"]);
    assert_eq!(events[0].event, "greeting");
    assert_eq!(events[1].event, "message");
    // The last event ID persists; retry is in force from where it appears.
    assert_eq!(events[2].id.as_deref(), Some("1"));
    assert_eq!(events[1].retry, None);
    assert_eq!(events[2].retry, Some(ms(2500)));
}

#[test]
fn post_with_a_json_body_streams_events() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("POST", "/chat")
        .match_header("content-type", "application/json")
        .match_body(mockito::Matcher::Json(serde_json::json!({"stream": true})))
        .with_header("content-type", SSE)
        .with_body("data: a\n\ndata: b\n\n")
        .create();
    let stream = FuturesSession::new()
        .post(format!("{}/chat", server.url()))
        .json(&serde_json::json!({"stream": true}))
        .events()
        .result()
        .unwrap();
    let (events, err) = drain(stream);
    assert!(err.is_none());
    assert_eq!(data_of(&events), ["a", "b"]);
    mock.assert();
}

#[test]
fn each_event_arrives_before_the_server_sends_the_next() {
    // The server waits for the client to confirm each event before it writes the next one: a
    // client that buffered would deadlock here (bounded by the timeouts).
    let (got_tx, got_rx) = bounded::<()>(0);
    let server = TestServer::start(move |_| {
        let got = got_rx.clone();
        Reply::custom(move |sock| {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            let _ = sock.write_all(head.as_bytes());
            for i in 0..5 {
                let event = format!("data: {i}\n\n");
                let _ = write!(sock, "{:x}\r\n{event}\r\n", event.len());
                let _ = sock.flush();
                if got.recv_timeout(Duration::from_secs(5)).is_err() {
                    return;
                }
            }
            let _ = sock.write_all(b"0\r\n\r\n");
        })
    });
    let stream = FuturesSession::new()
        .get(server.url())
        .events()
        .result()
        .unwrap();
    let mut seen = Vec::new();
    for event in stream {
        let event = event.unwrap();
        seen.push(event.data.clone());
        got_tx.send_timeout((), Duration::from_secs(5)).unwrap();
    }
    assert_eq!(seen, ["0", "1", "2", "3", "4"]);
}

#[test]
fn a_non_2xx_status_is_an_error_with_the_body_start() {
    let mut server = mockito::Server::new();
    server
        .mock("POST", "/chat")
        .with_status(401)
        .with_header("content-type", "application/json")
        .with_body(r#"{"error":{"message":"Incorrect API key provided"}}"#)
        .create();
    let result = FuturesSession::new()
        .post(format!("{}/chat", server.url()))
        .events()
        .result();
    match result {
        Err(Error::Status(s)) => {
            assert_eq!(s.status, 401);
            assert!(s.body.contains("Incorrect API key"), "{}", s.body);
        }
        other => panic!("expected a status error, got {other:?}"),
    }
}

#[test]
fn a_non_2xx_answer_whose_body_stalls_resolves_without_a_timeout_too() {
    // No `timeout` (the default): the error body is waited for a few seconds at most, so that
    // a server stalled in it does not hold the handle, nor an `EventSource` retrying a 503.
    let server = TestServer::start(|_| Reply::stall_mid_body("busy", 1000).with_status(503));
    let session = FuturesSession::new();
    let mut pending = session.get(server.url()).events();
    let result = pending
        .result_timeout(Duration::from_secs(20))
        .expect("the handle waited for the rest of the error body");
    let Err(Error::Status(s)) = result else {
        panic!("expected a status error, got {result:?}")
    };
    assert_eq!((s.status, s.body.as_str()), (503, "busy"));
    let text = s.to_string();
    assert!(
        text.ends_with(
            " (error body cut after 4 bytes: nothing more within 5 s, the most an error body \
             the caller does not get is waited for)"
        ),
        "{text}"
    );
    let mut source = session.get(server.url()).event_source().max_attempts(1);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(source.next().map(|r| r.map(|e| e.data))));
    let last = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the event source waited for the rest of the error body");
    assert!(
        matches!(last, Some(Err(Error::Status(ref s))) if s.status == 503),
        "{last:?}"
    );
}

#[test]
fn a_non_2xx_answer_whose_body_stalls_resolves_within_the_timeout() {
    // The server sends the status, the headers and the start of its error body, then nothing
    // more until the client goes away (30 s at most): the handle must not wait for the rest.
    let server = TestServer::start(|_| {
        Reply::custom(|socket| {
            let head = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                        content-length: 1000\r\n\r\n{\"error\": \"overloaded\"";
            if socket.write_all(head.as_bytes()).is_ok() {
                let _ = socket.set_read_timeout(Some(Duration::from_secs(30)));
                let _ = socket.read(&mut [0; 1]);
            }
        })
    });
    let session = FuturesSession::builder().timeout(ms(1500)).build();
    let mut pending = session.get(server.url()).events();
    let result = pending
        .result_timeout(Duration::from_secs(20))
        .expect("the handle waited for the rest of the error body, past the timeout");
    match result {
        Err(Error::Status(s)) => {
            assert_eq!(s.status, 503);
            assert!(s.body.contains("overloaded"), "{}", s.body);
            let text = s.to_string();
            assert!(
                text.ends_with(
                    " (error body cut after 22 bytes: nothing more within 1.5 s (timeout))"
                ),
                "{text}"
            );
        }
        other => panic!("expected a status error, got {other:?}"),
    }
}

/// No content type (mockito's default, a sloppy server) or `text/plain`: the body is read as
/// events, as `sseclient` reads it; by `events()` and by an `EventSource`.
#[test]
fn a_stream_without_a_content_type_or_as_plain_text_is_read() {
    for content_type in [None, Some("text/plain")] {
        let mut server = mockito::Server::new();
        let mut mock = server
            .mock("POST", "/s")
            .with_body("data: a\n\nid: 7\ndata: b\n\n");
        if let Some(ct) = content_type {
            mock = mock.with_header("content-type", ct);
        }
        let _mock = mock.create();
        let stream = FuturesSession::new()
            .post(format!("{}/s", server.url()))
            .json(&serde_json::json!({"stream": true}))
            .events()
            .result()
            .unwrap();
        let (events, err) = drain(stream);
        assert!(err.is_none(), "{content_type:?}: {err:?}");
        let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["a", "b"], "{content_type:?}");
    }
    let server = TestServer::start(|_| Reply::ok("data: c\n\n").content_type("text/plain"));
    let mut source = FuturesSession::new().get(server.url()).event_source();
    assert_eq!(source.next().unwrap().unwrap().data, "c");
    // A page sent untyped is the wrong content type, found on its first byte: an event source
    // ends with it, as when the head says so, rather than reconnecting.
    let page = TestServer::start(|_| Reply::ok("<html>sign in</html>"));
    let mut source = FuturesSession::new()
        .get(page.url())
        .event_source()
        .initial_retry(ms(1));
    let first = source.next();
    assert!(
        matches!(first, Some(Err(Error::UnexpectedContentType { .. }))),
        "{first:?}"
    );
    assert!(source.next().is_none());
    assert_eq!(page.request_count(), 1);
    // JSON lines start with `{`: never taken for a document.
    let lines = TestServer::start(|_| Reply::ok("{\"a\":1}\n{\"a\":2}\n"));
    let options = StreamOptions::default()
        .json_lines()
        .require_event_stream(true);
    let stream = FuturesSession::new()
        .get(lines.url())
        .events_with(options)
        .result()
        .unwrap();
    let (events, err) = drain(stream);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events.len(), 2);
}

#[test]
fn a_json_error_in_place_of_a_stream_ends_an_event_source_and_other_types_are_refused_at_once() {
    // Untyped, as plain text: the server's error, which ends the source as a wrong type does.
    let server = TestServer::start(|_| {
        Reply::ok(r#"{"error":{"message":"nope","code":"no_stream"}}"#).content_type("text/plain")
    });
    let mut source = FuturesSession::new()
        .get(server.url())
        .event_source()
        .initial_retry(ms(1));
    let first = source.next();
    assert!(
        matches!(&first, Some(Err(Error::Api { kind: Some(k), message: m })) if k == "no_stream" && m == "nope"),
        "{first:?}"
    );
    assert!(source.next().is_none());
    assert_eq!(server.request_count(), 1);
    // A type that is no JSON's is refused with the head, its body not waited for (a stalled
    // one was read for 5 s in search of an error document).
    let stalled = TestServer::start(|_| Reply::stall().content_type("application/x-ndjson"));
    let mut pending = FuturesSession::new().get(stalled.url()).events();
    let refused = pending.result_timeout(Duration::from_secs(3));
    assert!(
        matches!(refused, Some(Err(Error::UnexpectedContentType { .. }))),
        "{refused:?}"
    );
}

#[test]
fn a_wrong_content_type_is_an_error_unless_allowed() {
    let mut server = mockito::Server::new();
    server
        .mock("GET", "/")
        .with_header("content-type", "application/json")
        .with_body("data: still parsed\n\n")
        .expect(2)
        .create();
    let session = FuturesSession::new();
    match session.get(server.url()).events().result() {
        Err(e @ Error::UnexpectedContentType { .. }) => {
            let url = format!("{}/", server.url());
            assert!(
                matches!(&e, Error::UnexpectedContentType { content_type: Some(ct), url: u }
                if ct == "application/json" && *u == url)
            );
            assert_eq!(
                e.to_string(),
                format!(
                    "expected content type text/event-stream from {url}, got application/json: \
                     the server did not answer with an event stream (check the URL, and that \
                     the server streams: an LLM API that ignores `\"stream\": true` answers \
                     with JSON, which only the OpenAI-compatible clients read as their stream); \
                     a request of your own reads such a body as a stream all the \
                     same with StreamOptions::require_event_stream(false)"
                )
            );
        }
        other => panic!("expected UnexpectedContentType, got {other:?}"),
    }
    let stream = session
        .get(server.url())
        .events_with(StreamOptions::default().require_event_stream(false))
        .result()
        .unwrap();
    let (events, err) = drain(stream);
    assert!(err.is_none());
    assert_eq!(data_of(&events), ["still parsed"]);
}

#[test]
fn a_close_delimited_stream_ends_cleanly_and_drops_the_unterminated_event() {
    let server =
        TestServer::start(|_| Reply::close_delimited("data: one\n\ndata: half").content_type(SSE));
    let session = FuturesSession::new();
    let (events, err) = drain(session.get(server.url()).events().result().unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data_of(&events), ["one"]);
    // The opt-in dispatches it, as sseclient-py does.
    let options = StreamOptions::default().parser(Parser::new().dispatch_unterminated(true));
    let stream = session
        .get(server.url())
        .events_with(options)
        .result()
        .unwrap();
    let (events, _) = drain(stream);
    assert_eq!(data_of(&events), ["one", "half"]);
}

#[test]
fn read_timeout_ends_a_stalled_stream_but_no_total_budget_applies() {
    let server = TestServer::start(|req| {
        if req.path == "/stall" {
            Reply::stall().content_type(SSE)
        } else {
            // Ten events over ~2.25 s: longer than the 2 s `timeout`, each well within the
            // `read_timeout` of the one before.
            Reply::sse((0..10).map(|i| format!("data: {i}\n\n")), ms(250))
        }
    });
    let session = FuturesSession::builder()
        .timeout(SLOW_ANSWER)
        .read_timeout(SLOW_ANSWER)
        .build();
    let (events, err) = drain(
        session
            .get(server.url_for("/slow"))
            .events()
            .result()
            .unwrap(),
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events.len(), 10);

    let t = Instant::now();
    let (events, err) = drain(
        session
            .get(server.url_for("/stall"))
            .events()
            .result()
            .unwrap(),
    );
    assert!(events.is_empty());
    assert!(err.as_ref().is_some_and(Error::is_timeout), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn an_over_long_line_is_an_error_not_unbounded_memory() {
    let server = TestServer::start(|_| Reply::long_line(64 << 20, Framing::Chunked));
    let options = StreamOptions::default().parser(Parser::new().max_event_size(1 << 20));
    let stream = FuturesSession::new()
        .get(server.url())
        .events_with(options)
        .result()
        .unwrap();
    let (events, err) = drain(stream);
    assert!(events.is_empty());
    assert!(
        matches!(err, Some(Error::EventTooLarge { limit }) if limit == 1 << 20),
        "{err:?}"
    );
}

#[test]
fn a_slow_consumer_holds_at_most_the_channel_bound() {
    // 32 MiB of events, 1 KiB each, as fast as the socket takes them. While nobody reads the
    // stream, the worker stops at a full channel and the server at full socket buffers: what it
    // has written levels off far below the whole.
    const EVENTS: usize = 32 * 1024;
    let event = |i: usize| format!("data: {i:06} {}\n\n", "x".repeat(1000));
    let total: u64 = (0..EVENTS).map(|i| event(i).len() as u64).sum();
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let server = TestServer::start(move |_| {
        let counter = counter.clone();
        Reply::custom(move |sock| {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            if sock.write_all(head.as_bytes()).is_err() {
                return;
            }
            let mut block = String::with_capacity(80 * 1024);
            for i in 0..EVENTS {
                block.push_str(&event(i));
                if block.len() >= 64 * 1024 || i + 1 == EVENTS {
                    if sock.write_all(block.as_bytes()).is_err() {
                        return;
                    }
                    counter.fetch_add(block.len() as u64, Ordering::SeqCst);
                    block.clear();
                }
            }
        })
    });
    let stream = FuturesSession::new()
        .get(server.url())
        .events_with(StreamOptions::default().capacity(8))
        .result()
        .unwrap();
    // Wait until the server has written nothing more for 300 ms (at most 5 s).
    let started = Instant::now();
    let mut last = (written.load(Ordering::SeqCst), Instant::now());
    while last.1.elapsed() < ms(300) && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(ms(20));
        let now = written.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    let held = written.load(Ordering::SeqCst);
    assert!(
        held < 16 << 20,
        "the server wrote {held} of {total} bytes to a consumer that read nothing"
    );
    assert!(stream.receiver().len() <= 8, "{}", stream.receiver().len());
    let (events, err) = drain(stream);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events.len(), EVENTS);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(format!("data: {}\n\n", e.data), event(i), "event {i}");
    }
    assert_eq!(written.load(Ordering::SeqCst), total);
}

#[test]
fn a_huge_channel_capacity_opens_the_stream() {
    // The channel's slots are reserved up front: a capacity meant as "no limit" must neither
    // fail the stream nor try to reserve memory for that many events.
    let server = TestServer::start(|_| Reply::sse(["data: 1\n\n", "data: 2\n\n"], ms(0)));
    let stream = FuturesSession::new()
        .get(server.url())
        .events_with(StreamOptions::default().capacity(usize::MAX))
        .result()
        .unwrap();
    let (events, err) = drain(stream);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data_of(&events), ["1", "2"]);
}

#[test]
fn select_over_two_streams() {
    let server = TestServer::start(|req| {
        let name = req.path.trim_start_matches('/').to_string();
        Reply::sse((0..3).map(move |i| format!("data: {name}{i}\n\n")), ms(5))
    });
    let session = FuturesSession::new();
    let a = session.get(server.url_for("/a")).events().result().unwrap();
    let b = session.get(server.url_for("/b")).events().result().unwrap();
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        select! {
            recv(a.receiver()) -> msg => match msg {
                Ok(ev) => from_a.push(ev.unwrap().data),
                Err(_) => a_open = false,
            },
            recv(b.receiver()) -> msg => match msg {
                Ok(ev) => from_b.push(ev.unwrap().data),
                Err(_) => b_open = false,
            },
        }
        if !a_open && !b_open {
            break;
        }
    }
    assert_eq!(from_a, ["a0", "a1", "a2"]);
    assert_eq!(from_b, ["b0", "b1", "b2"]);
}

#[test]
fn json_lines_streams_deliver_each_line() {
    let server = TestServer::start(|_| {
        Reply::chunked(["{\"a\":1}\n{\"b\"", ":2}\r\n\n", "{\"c\":3}"], ms(5))
            .content_type("application/stream+json")
    });
    let stream = FuturesSession::new()
        .post(server.url())
        .events_with(StreamOptions::default().json_lines())
        .result()
        .unwrap();
    let (events, err) = drain(stream);
    assert!(err.is_none(), "{err:?}");
    // The last line has no terminator and is still delivered: nothing is lost.
    assert_eq!(data_of(&events), ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
    assert_eq!(
        server.requests()[0].header("accept"),
        Some("application/x-ndjson")
    );
}

#[test]
fn a_json_lines_stream_that_starts_with_a_bom_parses_as_json() {
    // A UTF-8 byte order mark before the first line (as some servers write one) is not part
    // of the line: its JSON parses.
    let server = TestServer::start(|_| {
        Reply::chunked(["\u{feff}{\"a\":1}\n{\"b\":2}\n"], ms(0))
            .content_type("application/x-ndjson")
    });
    let stream = FuturesSession::new()
        .get(server.url())
        .events_with(StreamOptions::default().json_lines())
        .result()
        .unwrap();
    let (events, err) = drain(stream);
    assert!(err.is_none(), "{err:?}");
    for event in &events {
        let parsed = serde_json::from_str::<serde_json::Value>(&event.data);
        assert!(parsed.is_ok(), "{:?}: {parsed:?}", event.data);
    }
    assert_eq!(data_of(&events), ["{\"a\":1}", "{\"b\":2}"]);
}

#[test]
fn a_stream_opened_from_a_worker_runs_on_another_worker() {
    // A job that opens a stream and reads it must not run the stream's job inline: it would
    // only get the stream once the body ended, and block on the full channel before that.
    let server = TestServer::start(|_| {
        let body: String = (0..200).map(|i| format!("data: {i}\n\n")).collect();
        Reply::sse([body], ms(0))
    });
    let session = FuturesSession::builder().max_workers(2).build();
    let (s, url) = (session.clone(), server.url());
    let mut outer = session.submit(move |_| {
        let stream = s.get(url).events().result()?;
        Ok(stream.filter(|e| e.is_ok()).count())
    });
    let count = outer
        .result_timeout(Duration::from_secs(10))
        .expect("the stream deadlocked its waiter")
        .unwrap();
    assert_eq!(count, 200);
}

#[test]
fn a_dropped_stream_that_only_receives_comments_frees_its_worker() {
    let server = TestServer::start(|_| Reply::sse((0..400).map(|_| ": ping\n\n"), ms(10)));
    let session = FuturesSession::builder().max_workers(1).build();
    let stream = session.get(server.url()).events().result().unwrap();
    drop(stream);
    let mut next = session.submit(|_| Ok("free"));
    assert_eq!(
        next.result_timeout(Duration::from_secs(2))
            .expect("keep-alive comments kept the dropped stream's worker")
            .unwrap(),
        "free"
    );
}

/// The wait for a refused stream's (or download's) error body ends its own connection only:
/// the job that opened them goes on, and its next request is sent as usual.
#[test]
fn a_job_goes_on_after_the_wait_for_a_stalled_error_body() {
    let server = TestServer::start(|req| match req.path_only() {
        "/refused" => Reply::stall_mid_body("busy", 1000).with_status(503),
        _ => Reply::ok("fine"),
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let (refused, next) = (server.url_for("/refused"), server.url_for("/next"));
    let target = std::env::temp_dir().join(format!("ureq-futures-refused-{}", std::process::id()));
    let inner = session.clone();
    let mut job = session.submit(move |_| {
        // Run inline, in this job: the session's one worker is this job's.
        let download = inner.get(&refused).download(&target).result();
        let stream = inner.get(&refused).events().result();
        let next = inner.get(&next).send().result()?;
        Ok((download.is_err(), stream.is_err(), next.text()?.to_string()))
    });
    let outcome = job
        .result_timeout(Duration::from_secs(40))
        .expect("the job ended");
    assert_eq!(outcome.unwrap(), (true, true, "fine".to_string()));
}
