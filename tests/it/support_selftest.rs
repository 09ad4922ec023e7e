//! Self-test of the shared test server in `tests/support`, using raw
//! `std::net::TcpStream` clients only.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use support::{closed_port_url, ms, Framing, Reply, TestServer};

fn connect(server: &TestServer) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(ms(3000))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Read until the end of the head; returns (head, bytes already read past it).
fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    let mut searched = 0;
    loop {
        if let Some(i) = buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(searched + i + 4);
            return (String::from_utf8(buf).unwrap(), rest);
        }
        searched = buf.len().saturating_sub(3);
        let n = s.read(&mut tmp).unwrap();
        assert!(
            n > 0,
            "EOF inside head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("no Content-Length")
}

/// Read one Content-Length response; returns (head, body).
fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let (head, mut body) = read_head(s);
    let len = content_length(&head);
    while body.len() < len {
        let mut tmp = vec![0u8; len - body.len()];
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "EOF inside body");
        body.extend_from_slice(&tmp[..n]);
    }
    assert_eq!(body.len(), len, "extra bytes after body");
    (head, body)
}

/// Decode a complete chunked body (including the terminating chunk).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let i = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..i]).unwrap(), 16).unwrap();
        raw = &raw[i + 2..];
        if size == 0 {
            assert_eq!(raw, b"\r\n");
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        assert_eq!(&raw[size..size + 2], b"\r\n");
        raw = &raw[size + 2..];
    }
}

fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    all
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let server = TestServer::start(|r| Reply::ok(format!("hello {}", r.path)));
    let mut s = connect(&server);
    for path in ["/a", "/b?x=1"] {
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (head, body) = read_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(!head.to_ascii_lowercase().contains("connection: close"));
        assert_eq!(body, format!("hello {path}").as_bytes());
    }
    assert_eq!(server.request_count(), 2);
    assert_eq!(server.connection_count(), 1);
    let reqs = server.requests();
    assert_eq!(reqs[0].connection, reqs[1].connection);
    assert_eq!(reqs[1].path_only(), "/b");
}

#[test]
fn requests_records_method_path_headers_body() {
    let server = TestServer::start(|r| {
        if r.method == "POST" {
            assert_eq!(r.header("x-token"), Some("abc"));
        }
        Reply::status(201, "made").header("X-Reply", "1")
    });
    let mut s = connect(&server);
    s.write_all(
        b"POST /items?q=1 HTTP/1.1\r\nHost: x\r\nX-Token: abc\r\nContent-Length: 5\r\n\r\nhello",
    )
    .unwrap();
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 201 Created\r\n"), "{head}");
    assert!(head.contains("X-Reply: 1\r\n"));
    assert_eq!(body, b"made");
    // Chunked request body is de-chunked.
    s.write_all(
        b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .unwrap();
    read_response(&mut s);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/items?q=1");
    assert_eq!(reqs[0].header("X-TOKEN"), Some("abc"));
    assert_eq!(reqs[0].header("host"), Some("x"));
    assert_eq!(reqs[0].body, b"hello");
    assert_eq!(reqs[0].body_str(), "hello");
    assert_eq!(reqs[1].method, "PUT");
    assert_eq!(reqs[1].body, b"abcde");
}

#[test]
fn chunked_chunks_arrive_with_delays() {
    let server = TestServer::start(|_| Reply::sse(["data: a\n\n", "data: b\n\n", "x"], ms(100)));
    let mut s = connect(&server);
    let t = Instant::now();
    s.write_all(b"GET /sse HTTP/1.1\r\n\r\n").unwrap();
    let (head, first) = read_head(&mut s);
    assert!(
        head.contains("Content-Type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");
    let mut got = first;
    while !got.ends_with(b"9\r\ndata: a\n\n\r\n") {
        let mut tmp = [0u8; 256];
        let n = s.read(&mut tmp).unwrap();
        got.extend_from_slice(&tmp[..n]);
    }
    let mut rest = Vec::new();
    let mut second_at = None;
    while !rest.ends_with(b"0\r\n\r\n") {
        let mut tmp = [0u8; 256];
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0);
        rest.extend_from_slice(&tmp[..n]);
        if second_at.is_none() && rest.windows(7).any(|w| w == b"data: b") {
            second_at = Some(t.elapsed());
        }
    }
    let second_at = second_at.expect("second chunk never seen");
    assert!(
        second_at >= ms(100),
        "second chunk not delayed: {second_at:?}"
    );
    assert!(
        t.elapsed() >= ms(200),
        "chunks not delayed: {:?}",
        t.elapsed()
    );
    assert_eq!(rest, b"9\r\ndata: b\n\n\r\n1\r\nx\r\n0\r\n\r\n");
    // Keep-alive after a complete chunked body.
    s.write_all(b"GET /again HTTP/1.1\r\n\r\n").unwrap();
    read_head(&mut s);
    assert_eq!(server.connection_count(), 1);
}

#[test]
fn the_first_chunk_goes_out_with_the_head_and_the_next_waits_for_the_delay() {
    // The delay is far longer than the client's 3 s read timeout: a first
    // chunk held back by it fails the read; dropping the server ends the wait.
    let server = TestServer::start(|_| Reply::sse(["data: a\n\n", "data: b\n\n"], ms(60_000)));
    let mut s = connect(&server);
    s.write_all(b"GET /sse HTTP/1.1\r\n\r\n").unwrap();
    let (_head, mut got) = read_head(&mut s);
    while !got.ends_with(b"9\r\ndata: a\n\n\r\n") {
        let mut tmp = [0u8; 256];
        let n = s.read(&mut tmp).expect("first chunk held back");
        assert!(n > 0, "EOF before the first chunk");
        got.extend_from_slice(&tmp[..n]);
    }
    s.set_read_timeout(Some(ms(300))).unwrap();
    let mut tmp = [0u8; 256];
    let err = s
        .read(&mut tmp)
        .map(|n| tmp[..n].to_vec())
        .expect_err("second chunk not delayed");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err:?}"
    );
}

#[test]
fn cut_chunked_body_ends_without_terminator() {
    let server = TestServer::start(|_| Reply::chunked_cut(["abc", "de"], ms(0)));
    let mut s = connect(&server);
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let (_head, mut body) = read_head(&mut s);
    body.extend(read_to_eof(&mut s));
    assert_eq!(body, b"3\r\nabc\r\n2\r\nde\r\n");
}

#[test]
fn stall_sends_no_body_bytes() {
    let server = TestServer::start(|_| Reply::stall());
    let mut s = connect(&server);
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let (head, rest) = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(rest.is_empty());
    s.set_read_timeout(Some(ms(200))).unwrap();
    let mut tmp = [0u8; 16];
    let err = s.read(&mut tmp).expect_err("stall sent bytes");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err:?}"
    );
}

#[test]
fn drop_with_stalled_client_is_fast() {
    let server = TestServer::start(|r| {
        if r.path == "/delay" {
            Reply::ok("late").delay(ms(60_000))
        } else {
            Reply::stall_mid_body("part", 100)
        }
    });
    let mut stalled = connect(&server);
    stalled.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let (_, part) = read_head(&mut stalled);
    assert_eq!(part, b"part");
    let mut delayed = connect(&server);
    delayed.write_all(b"GET /delay HTTP/1.1\r\n\r\n").unwrap();
    // An idle keep-alive connection that never sends a request.
    let _idle = connect(&server);
    while server.request_count() < 2 {
        std::thread::sleep(ms(5));
    }
    let t = Instant::now();
    drop(server);
    assert!(t.elapsed() < ms(2000), "drop took {:?}", t.elapsed());
    assert!(read_to_eof(&mut stalled).is_empty());
    assert!(read_to_eof(&mut delayed).is_empty());
}

#[test]
fn closed_port_url_refuses() {
    let url = closed_port_url();
    let addr = url.strip_prefix("http://").unwrap();
    let err = TcpStream::connect(addr).expect_err("something listens");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn misbehaving_replies() {
    let server = TestServer::start(|r| match r.path.as_str() {
        "/close-delimited" => Reply::close_delimited("all of it"),
        "/lying" => Reply::lying_length(100, "short"),
        "/reset" => Reply::reset_mid_body("0123456789", 4),
        "/dribble" => Reply::dribble("abc", ms(20)),
        "/huge" => Reply::huge_header(1 << 20),
        "/long" => Reply::long_line_after("data: ", 1_000_000, Framing::Chunked),
        "/retry" => Reply::retry_after(429, "1"),
        "/silent" => Reply::ok("bye").close_silently(),
        "/raw" => Reply::raw("HTTP/1.1 204 No Content\r\n\r\n"),
        "/custom" => {
            let f: Box<dyn FnOnce(&mut TcpStream) + Send> =
                Box::new(|s: &mut TcpStream| s.write_all(b"custom!").unwrap());
            Reply::custom(f)
        }
        "/slow" => Reply::json("{}").delay(ms(50)),
        _ => Reply::status(404, "nope").close(),
    });

    let get = |path: &str| {
        let mut s = connect(&server);
        write!(s, "GET {path} HTTP/1.1\r\n\r\n").unwrap();
        s
    };

    let mut s = get("/close-delimited");
    let (head, mut body) = read_head(&mut s);
    assert!(!head.to_ascii_lowercase().contains("content-length"));
    body.extend(read_to_eof(&mut s));
    assert_eq!(body, b"all of it");

    let mut s = get("/lying");
    let (head, mut body) = read_head(&mut s);
    assert_eq!(content_length(&head), 100);
    body.extend(read_to_eof(&mut s));
    assert_eq!(body, b"short");

    let mut s = get("/reset");
    let (head, mut body) = read_head(&mut s);
    assert_eq!(content_length(&head), 10);
    let mut tmp = [0u8; 64];
    let err = loop {
        match s.read(&mut tmp) {
            Ok(0) => break None,
            Ok(n) => body.extend_from_slice(&tmp[..n]),
            Err(e) => break Some(e),
        }
    };
    assert!(body.len() < 10);
    if cfg!(target_os = "linux") {
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ConnectionReset));
    }

    let t = Instant::now();
    let mut s = get("/dribble");
    let (_, body) = read_response(&mut s);
    assert_eq!(body, b"abc");
    assert!(t.elapsed() >= ms(40));

    let mut s = get("/huge");
    let (head, body) = read_response(&mut s);
    assert!(head.len() > 1 << 20);
    assert_eq!(body, b"ok");

    let mut s = get("/long");
    let (head, mut body) = read_head(&mut s);
    assert!(head.contains("text/event-stream"));
    while !body.ends_with(b"0\r\n\r\n") {
        let mut tmp = vec![0u8; 1 << 16];
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0);
        body.extend_from_slice(&tmp[..n]);
    }
    assert!(body.starts_with(b"6\r\ndata: \r\n10000\r\naaaa"));
    let payload = dechunk(&body);
    assert_eq!(payload.len(), 6 + 1_000_000);
    assert!(payload.starts_with(b"data: a"));
    assert!(!payload.contains(&b'\n') && !payload.contains(&b'\r'));

    let mut s = get("/retry");
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
    assert!(head.contains("Retry-After: 1\r\n"));

    let mut s = get("/silent");
    let (head, body) = read_response(&mut s);
    assert!(!head.to_ascii_lowercase().contains("connection"));
    assert_eq!(body, b"bye");
    assert!(read_to_eof(&mut s).is_empty());

    let mut s = get("/raw");
    assert_eq!(read_to_eof(&mut s), b"HTTP/1.1 204 No Content\r\n\r\n");

    let mut s = get("/custom");
    assert_eq!(read_to_eof(&mut s), b"custom!");

    let t = Instant::now();
    let mut s = get("/slow");
    let (head, body) = read_response(&mut s);
    assert!(t.elapsed() >= ms(50));
    assert!(
        head.contains("Content-Type: application/json\r\n"),
        "{head}"
    );
    assert_eq!(body, b"{}");

    let mut s = get("/other");
    let (head, _) = read_response(&mut s);
    assert!(head.contains("Connection: close\r\n"));
    assert!(read_to_eof(&mut s).is_empty());
}

#[test]
fn threads_are_joined_on_drop() {
    assert!(support::thread_count() > 0 || !cfg!(target_os = "linux"));
    let server = TestServer::start(|_| Reply::ok("x"));
    let mut s = connect(&server);
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    read_response(&mut s);
    drop(server);
    // The client sees the connection closed by the server.
    assert!(read_to_eof(&mut s).is_empty());
}
