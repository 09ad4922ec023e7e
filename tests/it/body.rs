//! `send_streaming`: bodies read on the caller's thread, against a local server.

use std::io::{self, Read};
use std::sync::mpsc;
use std::sync::Mutex;

use support::{closed_port_url, ms, secs, Reply, TempDir, TestServer, SLOW_ANSWER};
use ureq_futures::{Error, FuturesSession, RetryPolicy, Timeout};

const MIB: usize = 1 << 20;

#[test]
fn an_empty_body_announced_as_such_has_a_content_length_of_0() {
    let server = TestServer::start(|req| match req.path_only() {
        "/empty" => Reply::ok(""),
        _ => Reply::chunked(Vec::<&str>::new(), ms(0)),
    });
    let session = FuturesSession::new();
    let mut body = session
        .get(server.url_for("/empty"))
        .send_streaming()
        .result()
        .unwrap();
    assert_eq!(body.header("content-length"), Some("0"));
    assert_eq!(body.content_length(), Some(0));
    assert_eq!(body.read(&mut [0; 8]).unwrap(), 0);
    // An empty chunked body announced no length.
    let body = session
        .get(server.url_for("/chunked"))
        .send_streaming()
        .result()
        .unwrap();
    assert_eq!(body.content_length(), None);
    // A buffered body's progress knows the total too.
    let pending = session.get(server.url_for("/empty")).send();
    pending.wait();
    assert_eq!(
        pending.progress(),
        ureq_futures::Progress {
            done: 0,
            total: Some(0)
        }
    );
}

#[test]
fn the_body_is_read_on_the_callers_thread_with_the_head_at_hand() {
    let server = TestServer::start(|_| Reply::ok("hello, world").header("X-Kind", "greeting"));
    let session = FuturesSession::new();
    let mut body = session
        .get(server.url_for("/hello"))
        .send_streaming()
        .result()
        .unwrap();
    assert_eq!(body.status(), 200);
    assert!(body.is_success());
    assert_eq!(body.header("x-kind"), Some("greeting"));
    assert_eq!(body.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body.url(), server.url_for("/hello"));
    assert_eq!(body.content_length(), Some(12));
    let mut text = String::new();
    body.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello, world");
}

#[test]
fn the_handle_resolves_when_the_headers_are_in_and_frees_its_worker() {
    let other = TestServer::start(|_| Reply::ok("other"));
    // Head and the first chunk at once, the rest only when the test says so.
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(Some(gate));
    let streamed = TestServer::start(move |_| {
        let gate = gate.lock().unwrap().take();
        Reply::custom(move |sock| {
            use std::io::Write;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
            let _ = sock.flush();
            if let Some(gate) = gate {
                let _ = gate.recv_timeout(secs(20));
            }
            let _ = sock.write_all(b"6\r\n,again\r\n0\r\n\r\n");
        })
    });
    // One worker: if the reader held it, the second request could not run.
    let session = FuturesSession::builder().max_workers(1).build();
    let mut body = session
        .get(streamed.url())
        .send_streaming()
        .result()
        .unwrap();
    let mut first = [0; 5];
    body.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"first");
    let other = session.get(other.url()).send().result().unwrap();
    assert_eq!(other.text().unwrap(), "other");
    release.send(()).unwrap();
    let mut rest = String::new();
    body.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, ",again");
}

#[test]
fn a_non_success_status_is_a_readable_body_until_error_for_status() {
    let server = TestServer::start(|_| Reply::status(404, "no such thing"));
    let session = FuturesSession::new();
    let mut body = session.get(server.url()).send_streaming().result().unwrap();
    assert_eq!(body.status(), 404);
    assert!(!body.is_success());
    let mut text = String::new();
    body.read_to_string(&mut text).unwrap();
    assert_eq!(text, "no such thing");

    let body = session.get(server.url()).send_streaming().result().unwrap();
    match body.error_for_status() {
        Err(Error::Status(s)) => {
            assert_eq!(s.status, 404);
            assert_eq!(s.body, "no such thing");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    let ok = TestServer::start(|_| Reply::ok("fine"));
    let body = session.get(ok.url()).send_streaming().result().unwrap();
    let mut body = body.error_for_status().unwrap();
    let mut text = String::new();
    body.read_to_string(&mut text).unwrap();
    assert_eq!(text, "fine");
}

#[test]
fn read_timeout_bounds_each_read_of_the_body() {
    let server = TestServer::start(|_| Reply::stall_mid_body("partial", 1000));
    let session = FuturesSession::builder().read_timeout(SLOW_ANSWER).build();
    let mut body = session.get(server.url()).send_streaming().result().unwrap();
    let mut got = Vec::new();
    let err = body.read_to_end(&mut got).unwrap_err();
    assert_eq!(got, b"partial");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err:?}");
    let err = Error::from(err);
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        matches!(err, Error::Timeout(ref t) if t.kind == Timeout::PerRead),
        "{err:?}"
    );
}

#[test]
fn a_request_read_timeout_replaces_the_sessions_for_the_body() {
    // Bytes 300 ms apart: the session's 100 ms would fail, the request's 2 s lets them through.
    let server = TestServer::start(|_| Reply::dribble(vec![b'x'; 3], ms(300)));
    let session = FuturesSession::builder().read_timeout(ms(100)).build();
    let mut body = session
        .get(server.url())
        .read_timeout(secs(2))
        .send_streaming()
        .result()
        .unwrap();
    let mut got = Vec::new();
    body.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"xxx");
}

#[test]
fn the_timeout_bounds_only_the_wait_for_the_headers() {
    // A body that takes about three seconds to arrive passes a 2 s timeout once the headers are
    // in; a server that takes longer than that to answer does not.
    let server = TestServer::start(|req| {
        if req.path_only() == "/late" {
            Reply::ok("late").delay(secs(30))
        } else {
            Reply::dribble(vec![b'x'; 5], ms(600))
        }
    });
    let session = FuturesSession::builder().timeout(SLOW_ANSWER).build();
    let mut body = session.get(server.url()).send_streaming().result().unwrap();
    let mut got = Vec::new();
    body.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"xxxxx");
    let late = session
        .get(server.url_for("/late"))
        .send_streaming()
        .result();
    assert!(late.as_ref().is_err_and(Error::is_timeout), "{late:?}");
}

#[test]
fn a_cut_body_is_an_error_not_a_short_end_and_stays_one() {
    let server = TestServer::start(|_| Reply::reset_mid_body(vec![b'x'; 64 * 1024], 1000));
    let session = FuturesSession::new();
    let mut body = session.get(server.url()).send_streaming().result().unwrap();
    let err = body.read_to_end(&mut Vec::new()).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    // The failure stays: a read after it is the same error, not a clean end of a short body
    // (code that retries a failed read, or `lines().flatten()`, would take the body as whole).
    let again = body.read(&mut [0; 16]).unwrap_err();
    assert_eq!(
        (again.kind(), again.to_string()),
        (err.kind(), err.to_string())
    );
    let chunked = TestServer::start(|_| Reply::chunked_cut(["one", "two"], ms(10)));
    let mut body = session
        .get(chunked.url())
        .send_streaming()
        .result()
        .unwrap();
    let mut got = Vec::new();
    assert!(body.read_to_end(&mut got).is_err(), "{got:?}");
    assert_eq!(got, b"onetwo");
    assert!(
        body.read_to_end(&mut got).is_err(),
        "a second read ended cleanly"
    );
}

#[test]
fn dropping_a_half_read_body_closes_its_connection_and_a_read_one_is_reused() {
    let server = TestServer::start(|_| Reply::ok(vec![b'x'; 4 * MIB]));
    let session = FuturesSession::builder().max_workers(1).build();
    // Read to the end: the connection goes back to the pool and serves the next request.
    let mut body = session.get(server.url()).send_streaming().result().unwrap();
    assert_eq!(
        io::copy(&mut body, &mut io::sink()).unwrap(),
        4 * MIB as u64
    );
    drop(body);
    let mut body = session.get(server.url()).send_streaming().result().unwrap();
    assert_eq!(server.connection_count(), 1);
    // Half read, then dropped: the next request needs a new connection.
    let mut start = [0; 10];
    body.read_exact(&mut start).unwrap();
    drop(body);
    let resp = session.get(server.url()).send().result().unwrap();
    assert_eq!(resp.bytes().len(), 4 * MIB);
    assert_eq!(server.connection_count(), 2);
}

#[test]
fn redirects_are_followed_before_the_handle_resolves() {
    let server = TestServer::start(|req| match req.path_only() {
        "/old" => Reply::status(302, "").header("Location", "/new"),
        _ => Reply::ok("moved here"),
    });
    let session = FuturesSession::new();
    let mut body = session
        .get(server.url_for("/old"))
        .send_streaming()
        .result()
        .unwrap();
    assert_eq!(body.url(), server.url_for("/new"));
    let mut text = String::new();
    body.read_to_string(&mut text).unwrap();
    assert_eq!(text, "moved here");
}

#[test]
fn retries_happen_before_the_handle_resolves() {
    let server = TestServer::start(|req| {
        if req.connection == 0 {
            Reply::status(503, "busy").close()
        } else {
            Reply::ok("served")
        }
    });
    let session = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(3).base_delay(ms(10)))
        .build();
    let mut body = session.get(server.url()).send_streaming().result().unwrap();
    assert_eq!(body.status(), 200);
    let mut text = String::new();
    body.read_to_string(&mut text).unwrap();
    assert_eq!(text, "served");
    assert_eq!(server.request_count(), 2);
}

#[test]
fn transport_errors_arrive_at_result() {
    let session = FuturesSession::new();
    let refused = session.get(closed_port_url()).send_streaming().result();
    assert!(refused.is_err(), "{refused:?}");
}

/// A gzip body (decoded by ureq for `gzip`, here for `x-gzip`) resolves the handle when the
/// headers are in, as any body does, not once the body's first bytes (its gzip header) are;
/// so does an event stream that the server compresses anyway.
#[test]
fn a_compressed_body_resolves_the_handle_when_the_headers_are_in() {
    use std::io::Write;
    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    let text = "data: late\n\n".repeat(20);
    for (encoding, events) in [("gzip", false), ("x-gzip", false), ("gzip", true)] {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(Some(gate));
        let body = gzip(text.as_bytes());
        let server = TestServer::start(move |_| {
            let (gate, body) = (gate.lock().unwrap().take(), body.clone());
            Reply::custom(move |sock| {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                     Content-Encoding: {encoding}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes());
                let _ = sock.flush();
                if let Some(gate) = gate {
                    let _ = gate.recv_timeout(secs(30));
                }
                let _ = sock.write_all(&body);
                let _ = sock.flush();
            })
        });
        let session = FuturesSession::new();
        let case = format!("{encoding}, events: {events}");
        if events {
            let mut pending = session.get(server.url()).events();
            let stream = pending.result_timeout(secs(10));
            assert!(stream.is_some(), "{case}: not resolved before the body");
            release.send(()).unwrap();
            let data: Vec<String> = stream.unwrap().unwrap().map(|e| e.unwrap().data).collect();
            assert_eq!(data.len(), 20, "{case}");
        } else {
            let mut pending = session.get(server.url()).send_streaming();
            let body = pending.result_timeout(secs(10));
            assert!(body.is_some(), "{case}: not resolved before the body");
            release.send(()).unwrap();
            let mut read = String::new();
            body.unwrap().unwrap().read_to_string(&mut read).unwrap();
            assert_eq!(read, text, "{case}");
        }
    }
}

#[test]
fn error_for_status_on_a_stalled_error_body_ends_within_the_timeout_and_says_so() {
    // The status, the headers and the start of the error body, then nothing until the server
    // is dropped: `error_for_status` must not wait for the rest.
    let server = TestServer::start(|_| Reply::stall_mid_body("busy", 1000).with_status(503));
    let session = FuturesSession::builder().timeout(SLOW_ANSWER).build();
    let body = session
        .get(server.url_for("/x?key=secret"))
        .send_streaming()
        .result()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body.error_for_status().map(|_| ()));
    });
    let result = rx
        .recv_timeout(secs(20))
        .expect("error_for_status waited for the rest of the error body, past the timeout");
    let Err(Error::Status(e)) = result else {
        panic!("expected a status error, got {result:?}")
    };
    assert_eq!(e.status, 503);
    assert_eq!(e.body, "busy");
    assert_eq!(
        e.to_string(),
        format!(
            "Server responded with an error. Status Code: 503 Server Error: Service Unavailable for url: {} (error body \
             cut after 4 bytes: nothing more within 2 s (timeout))",
            server.url_for("/x?<redacted>")
        )
    );
}

/// Without a `timeout` (the default), the wait for a stalled error body has its own bound: the
/// 5 s that every error body the caller does not get is waited for at most.
#[test]
fn error_for_status_on_a_stalled_error_body_ends_without_a_timeout_too() {
    let server = TestServer::start(|_| Reply::stall_mid_body("busy", 1000).with_status(500));
    let body = FuturesSession::new()
        .get(server.url())
        .send_streaming()
        .result()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || _ = tx.send(body.error_for_status().map(|_| ())));
    let result = rx
        .recv_timeout(secs(30))
        .expect("error_for_status waited for the rest of the error body without a bound");
    let text = result.unwrap_err().to_string();
    assert!(
        text.ends_with(
            "(error body cut after 4 bytes: nothing more within 5 s, the most the error body of \
             error_for_status is waited for)"
        ),
        "{text}"
    );
}

#[test]
fn error_for_status_says_which_read_timeout_cut_the_error_body() {
    let server = TestServer::start(|_| Reply::stall_mid_body("busy", 1000).with_status(503));
    let session = FuturesSession::builder().read_timeout(SLOW_ANSWER).build();
    let url = server.url_for("/");
    let body = session.get(&url).send_streaming().result().unwrap();
    let err = body.error_for_status().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Server responded with an error. Status Code: 503 Server Error: Service Unavailable for url: {url} (error body \
             cut after 4 bytes: no byte for 2 s (read_timeout))"
        )
    );
}

/// A chunked body whose connection closes within the framing (a size line, the CRLF after a
/// chunk, a trailer) is a body cut short, as a close within a chunk's data is: an `Io` error
/// of the kind `UnexpectedEof` that says how much came, for every way of reading it.
#[test]
fn a_chunked_body_cut_within_its_framing_is_a_cut_body() {
    let full = "5\r\nhello\r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n";
    for cut in [11, 19, 21, 24] {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let bytes = format!("{head}{}", &full[..cut]);
        let server = TestServer::start(move |_| Reply::raw(bytes.clone()));
        let session = FuturesSession::new();
        let err = session.get(server.url()).send().result().unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{cut}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("read the body from"), "{cut}: {text}");
        assert!(
            text.contains("bytes, before its last chunk)"),
            "{cut}: {text}"
        );
        let mut body = session.get(server.url()).send_streaming().result().unwrap();
        let read = body.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(read.kind(), io::ErrorKind::UnexpectedEof, "{cut}: {read}");
        let stream = session.get(server.url()).events().result().unwrap();
        let last = stream.last().expect("the stream's error");
        assert!(
            matches!(&last, Err(Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{cut}: {last:?}"
        );
        let dir = TempDir::new("cut-framing");
        let path = dir.join(&cut.to_string());
        let err = session
            .get(server.url())
            .download(&path)
            .result()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{cut}: {err:?}"
        );
        assert!(!path.exists());
    }
}

/// `Transfer-Encoding` overrides `Content-Length` (RFC 9112, section 6.3): a chunked body sent
/// with `Content-Length: 0` has no announced length, and its bytes are read whole.
#[test]
fn a_chunked_body_with_a_content_length_of_0_has_no_announced_length() {
    let server = TestServer::start(|_| {
        Reply::raw(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n",
        )
    });
    let mut body = FuturesSession::new()
        .get(server.url())
        .send_streaming()
        .result()
        .unwrap();
    assert_eq!(body.content_length(), None);
    let mut text = String::new();
    body.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello");
}
