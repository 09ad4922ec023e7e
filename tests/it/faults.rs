//! One test per fault of the local fault server (`tests/support`), for buffered requests and
//! for event streams.
//!
//! Every fault must end in a typed error (or in a clean end where the protocol says the body is
//! over) within the bound the test states, without a hang, a panic or a lost worker. After each
//! fault on a session that stays open, the test proves that the pool is at full strength:
//! `max_workers` jobs meet at one [`Barrier`], which they can only do if every worker is free.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use support::{ms, peak_rss_growth_during, secs, timed, Framing, Reply, TestServer, SLOW_ANSWER};
use ureq_futures::sse::{Decode, Event, DEFAULT_MAX_EVENT_SIZE};
use ureq_futures::{Error, FuturesSession, RetryPolicy, Timeout, DEFAULT_MAX_BODY_SIZE};

const SSE: &str = "text/event-stream";
const MIB: u64 = 1 << 20;

/// A session of two workers: a fault occupies one, the barrier check needs both.
fn session() -> FuturesSession {
    FuturesSession::builder().max_workers(2).build()
}

/// Collects a stream's events up to its end, and the error that ended it, if any. After an
/// error the stream must be over.
fn drain<T>(mut stream: impl Iterator<Item = Result<T, Error>>) -> (Vec<T>, Option<Error>) {
    let mut events = Vec::new();
    while let Some(item) = stream.next() {
        match item {
            Ok(e) => events.push(e),
            Err(e) => {
                assert!(stream.next().is_none(), "items after the error {e:?}");
                return (events, Some(e));
            }
        }
    }
    (events, None)
}

fn data_of(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

/// Asserts that `e` is the I/O error of a connection that ended before its body did.
///
/// ureq reports a peer that disconnects mid-body as `UnexpectedEof` ("Peer disconnected"); a
/// reset (RST) that arrives before the data has been read may surface as `ConnectionReset`.
fn assert_cut(e: &Error) {
    match e {
        Error::Io(io) => assert!(
            matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            ),
            "expected an unexpected EOF or a reset, got {io:?}"
        ),
        other => panic!("expected Error::Io for a cut connection, got {other:?}"),
    }
}

/// Proves that every worker of `session` is free: `max_workers` jobs meet at one barrier,
/// which is only possible if they all run at once. Panics if they have not met within
/// `within` (naming how many workers were free), after releasing the ones that did arrive.
fn assert_pool_at_full_strength(session: &FuturesSession, within: Duration) {
    let n = session.max_workers();
    let barrier = Arc::new(Barrier::new(n));
    let arrived = Arc::new(AtomicUsize::new(0));
    let mut handles: Vec<_> = (0..n)
        .map(|_| {
            let (barrier, arrived) = (barrier.clone(), arrived.clone());
            session.submit(move |_| {
                arrived.fetch_add(1, Ordering::SeqCst);
                barrier.wait();
                Ok(())
            })
        })
        .collect();
    let start = Instant::now();
    for i in 0..n {
        let left = within.saturating_sub(start.elapsed());
        match handles[i].result_timeout(left) {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("a barrier job failed: {e}"),
            None => {
                for h in &handles {
                    h.cancel();
                }
                let got = arrived.load(Ordering::SeqCst);
                // Let the jobs that did start leave the barrier, so their workers do not stay
                // blocked after the test.
                for _ in got..n {
                    let b = barrier.clone();
                    thread::spawn(move || {
                        b.wait();
                    });
                }
                panic!("only {got} of {n} workers were free within {within:?}: a worker is stuck");
            }
        }
    }
}

/// An event stream that never ends on its own: an event every 5 ms, close-delimited, until the
/// client goes away, the server is dropped or 20 s have passed.
fn endless_events() -> Reply {
    Reply::custom(|sock| {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";
        if sock.write_all(head.as_bytes()).is_err() {
            return;
        }
        let deadline = Instant::now() + secs(20);
        let mut i = 0u64;
        while Instant::now() < deadline {
            if write!(sock, "data: {i}\n\n").is_err() {
                return;
            }
            i += 1;
            thread::sleep(ms(5));
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Connection reset in the middle of the body
// ---------------------------------------------------------------------------------------------

#[test]
fn reset_mid_body_buffered_is_an_io_error() {
    // Bound: 5 s; the error is immediate.
    let server = TestServer::start(|_| Reply::reset_mid_body(vec![b'x'; 100_000], 50_000));
    let session = session();
    let (result, took) = timed(|| session.get(server.url()).send().result());
    assert_cut(&result.expect_err("a reset body was accepted"));
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn reset_mid_stream_delivers_the_whole_events_then_an_io_error() {
    // Bound: 5 s from the request to the end of the stream.
    let body = "data: one\n\ndata: two\n\ndata: never finished\n\n";
    let sent = body.find("never").unwrap() + 3;
    let server = TestServer::start(move |_| Reply::reset_mid_body(body, sent).content_type(SSE));
    let session = session();
    let ((events, err), took) =
        timed(|| drain(session.get(server.url()).events().result().unwrap()));
    assert_eq!(data_of(&events), ["one", "two"]);
    assert_cut(&err.expect("a reset stream ended cleanly"));
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

/// A body without `Content-Length` or chunking ends where the server closes the connection; a
/// reset is no such end (the server's unsent bytes are thrown away with it), so the body is
/// cut, as with the other framings. On Linux the support server's abort is a reset.
#[cfg(target_os = "linux")]
#[test]
fn reset_mid_close_delimited_body_is_an_io_error_not_a_short_body() {
    let body = vec![b'x'; 100_000];
    let server = TestServer::start(move |req| match req.path_only() {
        "/sse" => Reply::reset_mid_close_delimited("data: one\n\ndata: never finished\n\n", 20)
            .content_type(SSE),
        _ => Reply::reset_mid_close_delimited(body.clone(), 50_000),
    });
    let session = session();
    let result = session.get(server.url()).send().result();
    let err = result
        .map(|r| r.bytes().len())
        .expect_err("a reset close-delimited body was accepted");
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "{err:?}"
    );

    let mut reader = session.get(server.url()).send_streaming().result().unwrap();
    let mut read = Vec::new();
    let err = io::Read::read_to_end(&mut reader, &mut read)
        .expect_err("a reset close-delimited body read to a clean end");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err:?}");
    assert!(read.len() <= 50_000);

    let (events, err) = drain(
        session
            .get(server.url_for("/sse"))
            .events()
            .result()
            .unwrap(),
    );
    assert_eq!(data_of(&events), ["one"]);
    let err = err.expect("a reset close-delimited stream ended cleanly");
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "{err:?}"
    );
    assert_pool_at_full_strength(&session, secs(10));
}

// ---------------------------------------------------------------------------------------------
// Stall after the headers
// ---------------------------------------------------------------------------------------------

#[test]
fn stall_after_headers_buffered_ends_at_the_read_timeout() {
    // Bound: read timeout 200 ms; the error must come within 2 s.
    let server = TestServer::start(|_| Reply::stall());
    let session = FuturesSession::builder()
        .max_workers(2)
        .read_timeout(ms(200))
        .build();
    let (result, took) = timed(|| session.get(server.url()).send().result());
    assert!(
        matches!(result, Err(Error::Timeout(ref t)) if t.kind == Timeout::PerRead),
        "{result:?}"
    );
    assert!(took >= ms(200) && took < secs(2), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn stall_after_headers_buffered_ends_at_the_whole_request_timeout() {
    // Bound: timeout 300 ms; the error must come within 2 s.
    let server = TestServer::start(|_| Reply::stall());
    let session = FuturesSession::builder()
        .max_workers(2)
        .timeout(ms(300))
        .build();
    let (result, took) = timed(|| session.get(server.url()).send().result());
    assert!(
        matches!(result, Err(Error::Timeout(ref t)) if t.kind == Timeout::Global),
        "{result:?}"
    );
    assert!(took >= ms(300) && took < secs(2), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn stall_after_headers_stream_ends_at_the_read_timeout() {
    // Bound: read timeout 2 s (the headers must come first); the stream's error must come
    // within 10 s of the headers.
    let server = TestServer::start(|_| Reply::stall().content_type(SSE));
    let session = FuturesSession::builder()
        .max_workers(2)
        .read_timeout(SLOW_ANSWER)
        .build();
    let stream = session.get(server.url()).events().result().unwrap();
    let ((events, err), took) = timed(|| drain(stream));
    assert!(events.is_empty());
    assert!(
        matches!(err, Some(Error::Timeout(ref t)) if t.kind == Timeout::PerRead),
        "{err:?}"
    );
    assert!(took >= SLOW_ANSWER / 2 && took < secs(10), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn late_headers_end_at_the_timeout() {
    // Bound: timeout 200 ms, headers due after 3 s; each error must come within 2 s.
    let server = TestServer::start(|_| Reply::sse(["data: late\n\n"], ms(0)).delay(secs(3)));
    let session = FuturesSession::builder()
        .max_workers(2)
        .timeout(ms(200))
        .build();
    let (result, took) = timed(|| session.get(server.url()).send().result());
    assert!(
        matches!(result, Err(Error::Timeout(ref t)) if t.kind == Timeout::Global),
        "{result:?}"
    );
    assert!(took >= ms(200) && took < secs(2), "took {took:?}");
    let (result, took) = timed(|| session.get(server.url()).events().result());
    assert!(
        matches!(result, Err(Error::Timeout(ref t)) if t.kind == Timeout::RecvResponse),
        "{result:?}"
    );
    assert!(took >= ms(200) && took < secs(2), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn the_whole_request_timeout_does_not_cut_a_stream_once_its_headers_are_in() {
    // Bound: 15 s. Three events 1.1 s apart outlive the 2 s `timeout`, which for a stream
    // covers only the wait for the headers.
    let server =
        TestServer::start(|_| Reply::sse(["data: a\n\n", "data: b\n\n", "data: c\n\n"], ms(1100)));
    let session = FuturesSession::builder()
        .max_workers(2)
        .timeout(SLOW_ANSWER)
        .build();
    let ((events, err), took) =
        timed(|| drain(session.get(server.url()).events().result().unwrap()));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data_of(&events), ["a", "b", "c"]);
    assert!(took >= SLOW_ANSWER && took < secs(15), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

// ---------------------------------------------------------------------------------------------
// Dribble: one byte at a time
// ---------------------------------------------------------------------------------------------

#[test]
fn dribble_buffered_without_read_timeout_reads_the_whole_body() {
    // Bound: 64 bytes, 5 ms apart (~0.3 s); must finish within 5 s.
    let body: Vec<u8> = (0..64u8).map(|i| b'a' + i % 26).collect();
    let expected = body.clone();
    let server = TestServer::start(move |_| Reply::dribble(body.clone(), ms(5)));
    let session = session();
    let (result, took) = timed(|| session.get(server.url()).send().result());
    assert_eq!(result.unwrap().bytes(), expected);
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn dribble_buffered_resets_the_read_timeout_with_every_byte() {
    // Bound: 100 bytes 15 ms apart (~1.5 s in all) under a 1 s read timeout: each read is
    // short (a gap of a second on a loaded machine is far from 15 ms), so the body completes
    // although the whole exchange outlasts the read timeout.
    let server = TestServer::start(|_| Reply::dribble(vec![b'x'; 100], ms(15)));
    let session = FuturesSession::builder()
        .max_workers(2)
        .read_timeout(secs(1))
        .build();
    let (result, took) = timed(|| session.get(server.url()).send().result());
    assert_eq!(result.unwrap().bytes().len(), 100);
    assert!(took > secs(1) && took < secs(10), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn dribble_stream_without_read_timeout_yields_every_event() {
    // Bound: 34 bytes 5 ms apart; must finish within 5 s. The parser sees every event split
    // into one-byte reads.
    let server = TestServer::start(|_| {
        Reply::dribble("data: one\n\nid: 2\ndata: two\r\n\r\n", ms(5)).content_type(SSE)
    });
    let session = session();
    let ((events, err), took) =
        timed(|| drain(session.get(server.url()).events().result().unwrap()));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data_of(&events), ["one", "two"]);
    assert_eq!(events[1].id.as_deref(), Some("2"));
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn keep_alive_comments_reset_a_streams_read_timeout() {
    // Bound: eight `: ping` comments 150 ms apart (at least 1.2 s in all) under an 800 ms read
    // timeout, then one event: every gap is far below the read timeout, their sum above it.
    let mut chunks = vec![": ping\n\n"; 8];
    chunks.push("data: x\n\n");
    let server = TestServer::start(move |_| Reply::sse(chunks.clone(), ms(150)));
    let session = FuturesSession::builder()
        .max_workers(2)
        .read_timeout(ms(800))
        .build();
    let ((events, err), took) =
        timed(|| drain(session.get(server.url()).events().result().unwrap()));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data_of(&events), ["x"]);
    assert!(
        took >= ms(1050),
        "the comments did not outlast the read timeout: {took:?}"
    );
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn dribble_stream_slower_than_the_read_timeout_ends_with_a_timeout() {
    // Bound: 30 s between bytes under a 2 s read timeout: the error within 10 s.
    let server = TestServer::start(|_| Reply::dribble("data: x\n\n", secs(30)).content_type(SSE));
    let session = FuturesSession::builder()
        .max_workers(2)
        .read_timeout(SLOW_ANSWER)
        .build();
    let stream = session.get(server.url()).events().result().unwrap();
    let ((events, err), took) = timed(|| drain(stream));
    assert!(events.is_empty());
    assert!(
        matches!(err, Some(Error::Timeout(ref t)) if t.kind == Timeout::PerRead),
        "{err:?}"
    );
    assert!(took < secs(10), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

// ---------------------------------------------------------------------------------------------
// A body with no line end for hundreds of MiB
// ---------------------------------------------------------------------------------------------

#[test]
fn a_line_without_end_stops_at_the_limit_in_bounded_memory() {
    crate::alone(
        "faults::a_line_without_end_stops_at_the_limit_in_bounded_memory",
        a_line_without_end_stops_at_the_limit_in_bounded_memory_alone,
    );
}

fn a_line_without_end_stops_at_the_limit_in_bounded_memory_alone() {
    // Bound: 20 s for all three (each takes well under a second in release, a few in debug).
    // The server would send 300 MiB without a line end; memory may grow by the limit plus
    // 64 MiB at most. The three run one after the other so that their memory does not add up.
    const LEN: u64 = 300 * MIB;
    let server = TestServer::start(|req| match req.path.as_str() {
        "/length" => Reply::long_line(LEN, Framing::ContentLength),
        "/chunked" => Reply::long_line(LEN, Framing::Chunked),
        _ => Reply::long_line_after("data: ", LEN, Framing::Chunked),
    });
    let session = session();
    let started = Instant::now();

    for path in ["/length", "/chunked"] {
        let ((result, took), grew) =
            peak_rss_growth_during(|| timed(|| session.get(server.url_for(path)).send().result()));
        match result {
            Err(Error::BodyTooLarge { limit, .. }) => assert_eq!(limit, DEFAULT_MAX_BODY_SIZE),
            other => panic!("{path}: expected BodyTooLarge, got {other:?}"),
        }
        eprintln!("{path}: {took:?}, memory grew by {} MiB", grew / MIB);
        assert!(took < secs(10), "{path}: took {took:?}");
        assert!(
            grew < DEFAULT_MAX_BODY_SIZE + 64 * MIB,
            "{path}: memory grew by {} MiB",
            grew / MIB
        );
    }

    let ((err, took), grew) = peak_rss_growth_during(|| {
        timed(|| {
            let stream = session
                .get(server.url_for("/sse"))
                .events()
                .result()
                .unwrap();
            drain(stream)
        })
    });
    let (events, err) = err;
    assert!(events.is_empty());
    match err {
        Some(Error::EventTooLarge { limit }) => assert_eq!(limit, DEFAULT_MAX_EVENT_SIZE),
        other => panic!("expected EventTooLarge, got {other:?}"),
    }
    eprintln!("stream: {took:?}, memory grew by {} MiB", grew / MIB);
    assert!(took < secs(10), "stream: took {took:?}");
    assert!(
        grew < DEFAULT_MAX_EVENT_SIZE as u64 + 64 * MIB,
        "stream: memory grew by {} MiB",
        grew / MIB
    );
    assert!(started.elapsed() < secs(20), "took {:?}", started.elapsed());
    assert_pool_at_full_strength(&session, secs(2));
}

// ---------------------------------------------------------------------------------------------
// A chunked body cut before its last chunk
// ---------------------------------------------------------------------------------------------

#[test]
fn chunked_cut_buffered_is_an_io_error_not_a_short_body() {
    // Bound: 5 s.
    let server = TestServer::start(|_| Reply::chunked_cut(["part one, ", "part two"], ms(5)));
    let session = session();
    let (result, took) = timed(|| session.get(server.url()).send().result());
    assert_cut(&result.expect_err("a cut chunked body was accepted"));
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn chunked_cut_stream_delivers_the_whole_events_then_an_io_error() {
    // Bound: 5 s.
    let server = TestServer::start(|_| {
        Reply::chunked_cut(["data: one\n\n", "data: two\n\n", "data: unfin"], ms(5))
            .content_type(SSE)
    });
    let session = session();
    let ((events, err), took) =
        timed(|| drain(session.get(server.url()).events().result().unwrap()));
    assert_eq!(data_of(&events), ["one", "two"]);
    assert_cut(&err.expect("a cut stream ended cleanly"));
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn a_close_delimited_body_ends_cleanly_where_the_protocol_says_so() {
    // Bound: 5 s. Without Content-Length or chunking, the close *is* the end of the body: a
    // complete response for a buffered request, a clean end (no error) for a stream.
    let server = TestServer::start(|req| match req.path.as_str() {
        "/plain" => Reply::close_delimited("all of it"),
        _ => Reply::close_delimited("data: one\n\ndata: two\n\n").content_type(SSE),
    });
    let session = session();
    let (resp, took) = timed(|| session.get(server.url_for("/plain")).send().result());
    assert_eq!(resp.unwrap().text().unwrap(), "all of it");
    assert!(took < secs(5), "took {took:?}");
    let ((events, err), took) = timed(|| {
        drain(
            session
                .get(server.url_for("/sse"))
                .events()
                .result()
                .unwrap(),
        )
    });
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data_of(&events), ["one", "two"]);
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

// ---------------------------------------------------------------------------------------------
// Content-Length that lies
// ---------------------------------------------------------------------------------------------

#[test]
fn a_content_length_longer_than_the_body_is_an_io_error_buffered() {
    // Bound: 5 s. The server declares 1000 bytes, sends 10 and closes: ureq does not hand out
    // the 10 bytes as if they were the body.
    let server = TestServer::start(|_| Reply::lying_length(1000, "only this!"));
    let session = session();
    let (result, took) = timed(|| session.get(server.url()).send().result());
    assert_cut(&result.expect_err("a short body was accepted as complete"));
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn a_content_length_longer_than_the_body_is_an_io_error_streaming() {
    // Bound: 5 s.
    let server = TestServer::start(|_| {
        Reply::lying_length(10_000, "data: one\n\ndata: two\n\n").content_type(SSE)
    });
    let session = session();
    let ((events, err), took) =
        timed(|| drain(session.get(server.url()).events().result().unwrap()));
    assert_eq!(data_of(&events), ["one", "two"]);
    assert_cut(&err.expect("a short stream ended cleanly"));
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

// ---------------------------------------------------------------------------------------------
// A keep-alive connection closed between requests (a stale pooled connection)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_pooled_connection_the_server_closed_is_not_reused() {
    // Bound: 5 s. The server advertises keep-alive and closes anyway. ureq probes a pooled
    // connection before it reuses it (a non-blocking read that sees the EOF), so the second
    // request goes out on a new connection and succeeds.
    let server = TestServer::start(|req| match req.path.as_str() {
        "/first" => Reply::ok("first").close_silently(),
        _ => Reply::ok("second"),
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let started = Instant::now();
    let first = session.get(server.url_for("/first")).send().result();
    assert_eq!(first.unwrap().text().unwrap(), "first");
    // Let the server's FIN arrive; a close that races the next request is the test below.
    thread::sleep(ms(100));
    let second = session.get(server.url_for("/second")).send().result();
    assert_eq!(second.unwrap().text().unwrap(), "second");
    assert_eq!(
        server.connection_count(),
        2,
        "the stale connection was reused"
    );
    assert!(started.elapsed() < secs(5), "took {:?}", started.elapsed());
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn a_pooled_connection_closed_as_the_request_arrives_is_a_clear_error_for_a_post_then_recovers() {
    // Bound: 5 s. The worst case of a stale connection: the probe finds it open, the request
    // goes out on it, and the server closes it without answering (an idle timeout racing the
    // request). A POST is not sent again (it is not idempotent): it fails with an I/O error
    // (UnexpectedEof), and the next request gets a new connection.
    let seen = AtomicUsize::new(0);
    let server = TestServer::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::ok("first"),
        1 => Reply::raw(Vec::new()),
        _ => Reply::ok("third"),
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let started = Instant::now();
    assert_eq!(
        session
            .get(server.url())
            .send()
            .result()
            .unwrap()
            .text()
            .unwrap(),
        "first"
    );
    let second = session.post(server.url()).body("once").send().result();
    let requests = server.requests();
    assert_eq!(
        requests[1].connection, requests[0].connection,
        "the second request did not reuse the pooled connection"
    );
    assert_cut(&second.expect_err("no response at all was accepted"));
    assert_eq!(
        session
            .get(server.url())
            .send()
            .result()
            .unwrap()
            .text()
            .unwrap(),
        "third"
    );
    assert_eq!(server.request_count(), 3, "a request was resent");
    assert!(started.elapsed() < secs(5), "took {:?}", started.elapsed());
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn a_pooled_connection_closed_as_a_get_arrives_is_sent_again_on_a_new_connection() {
    // Bound: 5 s. The same race for a GET: it is sent again, once, at once, on a new
    // connection, without any RetryPolicy (see `stale_connections` for the other cases).
    let seen = AtomicUsize::new(0);
    let server = TestServer::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::ok("first"),
        1 => Reply::raw(Vec::new()),
        _ => Reply::ok("resent"),
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let started = Instant::now();
    session.get(server.url()).send().result().unwrap();
    let resp = session.get(server.url()).send().result().unwrap();
    assert_eq!(resp.text().unwrap(), "resent");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1].connection, requests[0].connection);
    assert_ne!(requests[2].connection, requests[1].connection);
    assert!(started.elapsed() < secs(5), "took {:?}", started.elapsed());
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn with_a_retry_policy_the_stale_connection_race_is_retried() {
    // Bound: 5 s. The same race as above for a POST under an opt-in RetryPolicy that allows
    // non-idempotent retries: the POST that found its pooled connection closed is sent again on a
    // new one, before its handle resolves.
    let seen = AtomicUsize::new(0);
    let server = TestServer::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::ok("first"),
        1 => Reply::raw(Vec::new()),
        _ => Reply::ok("retried"),
    });
    let session = FuturesSession::builder()
        .max_workers(1)
        .retry(RetryPolicy::new().base_delay(ms(10)).non_idempotent(true))
        .build();
    let started = Instant::now();
    assert_eq!(
        session
            .get(server.url())
            .send()
            .result()
            .unwrap()
            .text()
            .unwrap(),
        "first"
    );
    assert_eq!(
        session
            .post(server.url())
            .send()
            .result()
            .unwrap()
            .text()
            .unwrap(),
        "retried"
    );
    assert_eq!(server.request_count(), 3);
    assert_eq!(server.connection_count(), 2);
    assert!(started.elapsed() < secs(5), "took {:?}", started.elapsed());
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn a_stream_after_a_stale_pooled_connection_succeeds() {
    // Bound: 5 s. A stream read to its end returns its connection to the pool; the server
    // closes it behind the client's back; the next stream must still work.
    let server = TestServer::start(|req| match req.path.as_str() {
        "/first" => Reply::sse(["data: 1\n\n"], ms(0)).close_silently(),
        _ => Reply::sse(["data: 2\n\n"], ms(0)),
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let started = Instant::now();
    let (events, err) = drain(
        session
            .get(server.url_for("/first"))
            .events()
            .result()
            .unwrap(),
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data_of(&events), ["1"]);
    thread::sleep(ms(100));
    let (events, err) = drain(
        session
            .get(server.url_for("/second"))
            .events()
            .result()
            .unwrap(),
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(data_of(&events), ["2"]);
    assert_eq!(server.connection_count(), 2);
    assert!(started.elapsed() < secs(5), "took {:?}", started.elapsed());
    assert_pool_at_full_strength(&session, secs(2));
}

// ---------------------------------------------------------------------------------------------
// 429 / 503 with Retry-After
// ---------------------------------------------------------------------------------------------

#[test]
fn retry_after_buffered_is_a_response_with_the_header() {
    // Bound: 1.5 s for both. Retry-After says 2 s: a client that waited and retried on its own
    // would overrun the bound (and the server counts the requests).
    let server = TestServer::start(|req| match req.path.as_str() {
        "/429" => Reply::retry_after(429, "2"),
        _ => Reply::retry_after(503, "Wed, 21 Oct 2015 07:28:00 GMT"),
    });
    let session = session();
    let started = Instant::now();
    for (path, status, value) in [
        ("/429", 429, "2"),
        ("/503", 503, "Wed, 21 Oct 2015 07:28:00 GMT"),
    ] {
        let resp = session.get(server.url_for(path)).send().result().unwrap();
        assert_eq!(resp.status(), status);
        assert_eq!(resp.header("retry-after"), Some(value));
        match resp.error_for_status() {
            Err(Error::Status(s)) => {
                assert_eq!(s.status, status);
                assert_eq!(s.headers["retry-after"], value);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(server.request_count(), 2, "a request was retried");
    assert!(started.elapsed() < ms(1500), "took {:?}", started.elapsed());
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn retry_after_stream_is_a_status_error_with_the_header() {
    // Bound: 1.5 s for both (see above).
    let server = TestServer::start(|req| match req.path.as_str() {
        "/429" => Reply::retry_after(429, "2"),
        _ => Reply::retry_after(503, "2"),
    });
    let session = session();
    let started = Instant::now();
    for (path, status) in [("/429", 429), ("/503", 503)] {
        match session.get(server.url_for(path)).events().result() {
            Err(e @ Error::Status(_)) => {
                assert_eq!(e.status(), Some(status));
                let Error::Status(s) = &e else { unreachable!() };
                assert_eq!(s.headers["retry-after"], "2");
                assert_eq!(s.body, "retry after 2");
                let text = e.to_string();
                assert!(text.contains(&format!("Status Code: {status}")), "{text}");
            }
            other => panic!("{path}: expected Error::Status, got {other:?}"),
        }
    }
    assert_eq!(server.request_count(), 2, "a request was retried");
    assert!(started.elapsed() < ms(1500), "took {:?}", started.elapsed());
    assert_pool_at_full_strength(&session, secs(2));
}

// ---------------------------------------------------------------------------------------------
// A gigantic response header
// ---------------------------------------------------------------------------------------------

/// Asserts that `e` is the error for a response head over `want_limit` from `url`: an
/// `Error::Io` of kind `InvalidData` that says where, which limit and, under ureq's 64 KiB
/// cap, which setting raises it (at the cap, that none does), with ureq's error as its source.
fn assert_header_too_large(e: &Error, want_limit: usize, url: &str) {
    let Error::Io(io) = e else {
        panic!("expected an Io error, got {e:?}");
    };
    assert_eq!(io.kind(), io::ErrorKind::InvalidData);
    let text = e.to_string();
    let holds = format!("holds at most {want_limit} bytes");
    let fix: &[&str] = if want_limit < 64 * 1024 {
        &[&holds, "stream_buffer_size", "connection_buffer_size"]
    } else {
        &[
            "reads at most 65536 bytes of response head",
            "SessionBuilder::agent",
        ]
    };
    for part in ["read the response from", url, "too big"].iter().chain(fix) {
        assert!(text.contains(part), "{part:?} is not in: {text}");
    }
    // Down the chain, through the io::Errors that wrap it.
    let mut next = io
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(inner) = next {
        if let Some(ureq::Error::LargeResponseHeader(got, limit)) = inner.downcast_ref() {
            assert_eq!(*limit, want_limit);
            assert!(got > limit, "{got} > {limit}");
            return;
        }
        next = match inner.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|e| e as _),
            None => inner.source(),
        };
    }
    panic!("ureq's LargeResponseHeader is not among the sources of {e:?}");
}

#[test]
fn a_huge_response_header_is_a_clear_error_buffered() {
    // Bound: 5 s. A 100 KiB header is over ureq's 64 KiB limit; a 60 KiB one is under it.
    let server = TestServer::start(|req| match req.path.as_str() {
        "/huge" => Reply::huge_header(100 * 1024),
        _ => Reply::huge_header(60 * 1024),
    });
    let session = session();
    let (result, took) = timed(|| session.get(server.url_for("/huge")).send().result());
    assert_header_too_large(
        &result.expect_err("a 100 KiB header was accepted"),
        64 * 1024,
        &server.url_for("/huge"),
    );
    assert!(took < secs(5), "took {took:?}");
    let resp = session
        .get(server.url_for("/large"))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.header("x-huge").map(str::len), Some(60 * 1024));
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn a_huge_response_header_is_a_clear_error_streaming() {
    // Bound: 5 s.
    let server = TestServer::start(|_| Reply::huge_header(100 * 1024).content_type(SSE));
    let session = session();
    let (result, took) = timed(|| session.get(server.url()).events().result());
    // A stream's read buffer (16 KiB) bounds its head.
    let limit = ureq_futures::DEFAULT_STREAM_BUFFER_SIZE - 1;
    let err = result.expect_err("a 100 KiB header was accepted");
    assert_header_too_large(&err, limit, &server.url());
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

// ---------------------------------------------------------------------------------------------
// Dropping streams and handles mid-way
// ---------------------------------------------------------------------------------------------

#[test]
fn dropping_a_stream_mid_way_frees_its_worker() {
    // Bound: 2 s after the drop. The server keeps sending; the worker notices the missing
    // receiver at its next event.
    let server = TestServer::start(|_| endless_events());
    let session = session();
    let mut stream = session.get(server.url()).events().result().unwrap();
    for i in 0..3 {
        assert_eq!(stream.next().unwrap().unwrap().data, i.to_string());
    }
    drop(stream);
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn dropping_a_stream_on_a_silent_server_frees_its_worker_at_the_read_timeout() {
    // Bound: read timeout 2 s, pool free within 5 s of the drop. A worker blocked in `read()`
    // notices the drop only when the read returns.
    let server =
        TestServer::start(|_| Reply::stall_mid_body("data: only\n\n", 1000).content_type(SSE));
    let session = FuturesSession::builder()
        .max_workers(2)
        .read_timeout(SLOW_ANSWER)
        .build();
    let mut stream = session.get(server.url()).events().result().unwrap();
    assert_eq!(stream.next().unwrap().unwrap().data, "only");
    drop(stream);
    assert_pool_at_full_strength(&session, SLOW_ANSWER + secs(3));
}

#[test]
fn dropping_a_buffered_handle_mid_way_frees_its_worker_when_the_request_ends() {
    // Bound: the body takes ~0.5 s; the pool must be whole within 3 s. Dropping a handle does
    // not cancel a running job: it finishes and its result is dropped.
    let server = TestServer::start(|_| Reply::dribble(vec![b'x'; 50], ms(10)));
    let session = session();
    let pending = session.get(server.url()).send();
    assert!(support::eventually(secs(2), || server.request_count() == 1));
    drop(pending);
    assert_pool_at_full_strength(&session, secs(3));
}

#[test]

fn dropping_an_unclaimed_stream_handle_frees_its_worker() {
    // Bound: pool free within 3 s of the drop. The stream's handle is resolved (headers in) but
    // its EventStream is never taken out: nobody can ever read the events, so the worker must
    // stop at the latest when the channel is full.
    let server = TestServer::start(|_| endless_events());
    let session = session();
    let pending = session.get(server.url()).events();
    pending.wait();
    drop(pending);
    assert_pool_at_full_strength(&session, secs(3));
}

#[test]
fn shutdown_mid_stream_lets_the_stream_finish_and_join_returns() {
    // Bound: 20 events 10 ms apart (~0.2 s); join must return within 3 s of the shutdown.
    let server =
        TestServer::start(|_| Reply::sse((0..20).map(|i| format!("data: {i}\n\n")), ms(10)));
    let session = FuturesSession::builder().max_workers(1).build();
    let stream = session.get(server.url()).events().result().unwrap();
    let queued = session.submit(|_| Ok("ran"));
    let started = Instant::now();
    session.shutdown();
    assert!(matches!(queued.result(), Err(Error::ShutDown)));
    let (events, err) = drain(stream);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(events.len(), 20);
    session.join();
    assert!(started.elapsed() < secs(3), "took {:?}", started.elapsed());
    assert!(matches!(
        session.get(server.url()).send().result(),
        Err(Error::ShutDown)
    ));
}

#[test]
fn dropping_the_session_mid_stream_lets_the_stream_finish() {
    // Bound: 3 s.
    let server =
        TestServer::start(|_| Reply::sse((0..20).map(|i| format!("data: {i}\n\n")), ms(10)));
    let session = FuturesSession::builder().max_workers(1).build();
    let stream = session.get(server.url()).events().result().unwrap();
    drop(session);
    let ((events, err), took) = timed(|| drain(stream));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        data_of(&events),
        (0..20).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    assert!(took < secs(3), "took {took:?}");
}

// ---------------------------------------------------------------------------------------------
// A panic on the worker in the middle of a stream
// ---------------------------------------------------------------------------------------------

/// Passes events through and panics on the one whose data is "boom".
struct PanicsOnBoom;

impl Decode for PanicsOnBoom {
    type Item = String;

    fn decode(&mut self, event: Event) -> Result<Option<String>, Error> {
        assert!(event.data != "boom", "the decoder exploded");
        Ok(Some(event.data))
    }
}

#[test]
fn a_decoder_panic_mid_stream_is_an_error_and_the_worker_survives() {
    // Bound: 5 s. The events before the panic arrive, then the consumer learns that the stream
    // did not end normally, and the worker lives on.
    let server = TestServer::start(|_| {
        Reply::sse(
            ["data: one\n\n", "data: boom\n\n", "data: three\n\n"],
            ms(5),
        )
    });
    let session = session();
    let stream = session
        .get(server.url())
        .events_decoded(Default::default(), PanicsOnBoom)
        .result()
        .unwrap();
    let ((items, err), took) = timed(|| drain(stream));
    assert_eq!(items, ["one"]);
    match err {
        Some(Error::Panicked(msg)) => assert!(msg.contains("exploded"), "{msg}"),
        other => panic!("expected Error::Panicked, got {other:?}"),
    }
    assert!(took < secs(5), "took {took:?}");
    assert_pool_at_full_strength(&session, secs(2));
}

#[test]
fn an_event_over_the_limit_names_the_limit_and_the_setting_to_raise() {
    use ureq_futures::sse::{LineParser, Parser, StreamOptions};
    let server = TestServer::start(|_| {
        Reply::long_line_after("data: ", 4096, Framing::Chunked).content_type("text/event-stream")
    });
    let session = session();
    let events = StreamOptions::default().parser(Parser::new().max_event_size(1024));
    let lines = StreamOptions::default().line_parser(LineParser::new().max_line_size(1024));
    for (options, setting) in [
        (events, "Parser::max_event_size"),
        (lines, "LineParser::max_line_size"),
    ] {
        let stream = session
            .get(server.url())
            .events_with(options)
            .result()
            .unwrap();
        let err = drain(stream).1.expect("the stream ends with an error");
        assert!(
            matches!(err, Error::EventTooLarge { limit: 1024 }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("limit of 1024 bytes"), "{text}");
        assert!(text.contains(setting), "{text}");
    }
    assert_pool_at_full_strength(&session, secs(10));
}

// ---------------------------------------------------------------------------------------------
// How much of a cut body came
// ---------------------------------------------------------------------------------------------

#[test]
fn a_cut_body_says_how_many_of_its_bytes_came() {
    // Bound: 5 s. 1,234 of the 5,000 bytes announced, then the server closes.
    let server = TestServer::start(|req| match req.path.as_str() {
        "/chunked" => Reply::chunked_cut(["part one, ", "part two"], ms(1)),
        "/events" => Reply::lying_length(10_000, "data: one\n\ndata: two\n\n").content_type(SSE),
        _ => Reply::lying_length(5000, vec![b'x'; 1234]),
    });
    let session = session();
    let url = server.url_for("/file");
    let target = url.trim_start_matches("http://").split('/').next().unwrap();
    let cut = |url: &str, why: &str| {
        format!("read the body from {target} failed for url: {url}: Peer disconnected ({why})")
    };
    let of_5000 = cut(&url, "body cut after 1,234 of 5,000 bytes");
    let err = session.get(&url).send().result().unwrap_err();
    assert_cut(&err);
    assert_eq!(err.to_string(), format!("io: {of_5000}"));
    // Read by the caller, as an `io::Error`.
    let mut body = session.get(&url).send_streaming().result().unwrap();
    let err = io::Read::read_to_end(&mut body, &mut Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), of_5000);
    // Written to a file.
    let path = std::env::temp_dir().join(format!("ureq-futures-cut-{}.bin", std::process::id()));
    let err = session.get(&url).download(&path).result().unwrap_err();
    assert_eq!(err.to_string(), format!("io: {of_5000}"));
    // A chunked body says how much came before it ended without its last chunk.
    let chunked = server.url_for("/chunked");
    let err = session.get(&chunked).send().result().unwrap_err();
    assert_cut(&err);
    assert_eq!(
        err.to_string(),
        format!(
            "io: {}",
            cut(&chunked, "body cut after 18 bytes, before its last chunk")
        )
    );
    // An event stream.
    let events = server.url_for("/events");
    let (_, err) = drain(session.get(&events).events().result().unwrap());
    assert_eq!(
        err.unwrap().to_string(),
        format!("io: {}", cut(&events, "body cut after 22 of 10,000 bytes"))
    );
}

/// A server whose chunked body's lines end in LF alone (no CR), 320 KB of them, on a
/// connection it then holds open for 5 s.
fn lf_only_chunked_server() -> TestServer {
    TestServer::start(|_| {
        Reply::custom(|socket| {
            let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for _ in 0..40_000 {
                answer.extend_from_slice(b"5\nhello\n");
            }
            let _ = socket.write_all(&answer);
            thread::sleep(secs(5));
        })
    })
}

/// A chunked body whose lines end in LF alone (no CR), on a connection the server holds open:
/// ureq finds no chunk-size line within its input buffer and gives up. The error says the
/// framing did not parse, not that the connection closed (which it had not: an
/// `UnexpectedEof` reads as a cut body, that a download would try to resume).
#[test]
fn a_chunked_framing_that_never_parses_is_not_called_a_closed_connection() {
    let server = lf_only_chunked_server();
    let started = Instant::now();
    let e = FuturesSession::new()
        .get(server.url())
        .send()
        .result()
        .unwrap_err();
    assert!(
        started.elapsed() < secs(4),
        "the server had not closed yet: {e}"
    );
    let Error::Io(io) = &e else { panic!("{e:?}") };
    assert_eq!(io.kind(), io::ErrorKind::InvalidData, "{e}");
    let text = e.to_string();
    assert!(text.contains("read the body from 127.0.0.1:"), "{text}");
    assert!(
        text.contains("chunked framing") && text.contains("line"),
        "{text}"
    );
    assert!(!text.contains("closed"), "{text}");
}

/// `Transfer-Encoding` that ureq does not undo: in an HTTP/1.0 answer (ureq reads the body by
/// its length or to the close, chunk framing and all), a transfer coding other than chunked
/// (its bytes would come coded), or an unknown one beside a `Content-Length` (the body would
/// be cut at the length the coding overrides). Each is an error that says so, never an `Ok`
/// with bytes that are not the body; the request's or stream's alike.
#[test]
fn a_transfer_coding_that_cannot_be_undone_is_an_error_not_the_body() {
    let gzip_hello: &[u8] =
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcbH\xcd\xc9\xc9\x07\x00\x86\xa6\x106\x05\x00\x00\x00";
    let mut gzip_chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
    gzip_chunked.extend_from_slice(format!("{:x}\r\n", gzip_hello.len()).as_bytes());
    gzip_chunked.extend_from_slice(gzip_hello);
    gzip_chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let cases: [(Vec<u8>, &str); 4] = [
        (
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            "HTTP/1.0",
        ),
        (
            b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\
              Content-Length: 5\r\n\r\n9\r\ndata: hel\r\n4\r\nlo\n\n\r\n0\r\n\r\n"
                .to_vec(),
            "HTTP/1.0",
        ),
        (gzip_chunked, "gzip"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\nContent-Length: 3\r\n\r\nhello".to_vec(),
            "foo",
        ),
    ];
    for (answer, named) in cases {
        let server = TestServer::start(move |_| Reply::raw(answer.clone()));
        let session = FuturesSession::new();
        let e = match session.get(server.url()).send().result() {
            Ok(resp) => panic!(
                "{named}: Ok with {:?}",
                String::from_utf8_lossy(resp.bytes())
            ),
            Err(e) => e,
        };
        let Error::Io(io) = &e else {
            panic!("{named}: {e:?}")
        };
        assert_eq!(io.kind(), io::ErrorKind::InvalidData, "{e}");
        let text = e.to_string();
        assert!(text.contains("read the response from 127.0.0.1:"), "{text}");
        assert!(
            text.contains("Transfer-Encoding") && text.contains(named),
            "{text}"
        );
        let stream = session.get(server.url()).events().result();
        assert!(stream.is_err(), "{named}: the stream opened");
    }
    // An error status keeps its head, which callers and retries act on (here `Retry-After`):
    // only the body that cannot be told is left out.
    let server = TestServer::start(|_| {
        Reply::raw(
            &b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\nTransfer-Encoding: chunked\r\n\r\n\
               3\r\nbad\r\n0\r\n\r\n"[..],
        )
    });
    let resp = FuturesSession::new().get(server.url()).send().result();
    let resp = resp.unwrap_or_else(|e| panic!("the 503 is lost: {e}"));
    assert_eq!((resp.status(), resp.bytes()), (503, &b""[..]));
    assert_eq!(resp.header("retry-after"), Some("1"));
}

/// Whether a body's framing did not parse is the read's own to say: a session given an agent
/// of its own (whose connections are ureq's, which do not record it) reading a chunked body
/// cut by the close, after another session's read on this thread found its buffer full, says
/// that the body was cut.
#[test]
fn a_cut_chunked_body_after_a_framing_that_never_parsed_is_a_cut_body() {
    use std::io::Read;
    let cut = TestServer::start(|_| {
        Reply::raw(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5"[..])
    });
    let never_parses = lf_only_chunked_server();
    let given = FuturesSession::builder()
        .agent(ureq_futures::ureq::Agent::new_with_defaults())
        .build();
    let kind_of = |session: &FuturesSession, url: String| {
        let mut body = session.get(url).send_streaming().result().unwrap();
        let e = body.read_to_end(&mut Vec::new()).unwrap_err();
        e.kind()
    };
    assert_eq!(kind_of(&given, cut.url()), io::ErrorKind::UnexpectedEof);
    assert_eq!(
        kind_of(&FuturesSession::new(), never_parses.url()),
        io::ErrorKind::InvalidData
    );
    assert_eq!(kind_of(&given, cut.url()), io::ErrorKind::UnexpectedEof);
}
