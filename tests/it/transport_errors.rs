//! The error variant of each transport failure, as the table in `src/error.rs` and the crate
//! docs state it, and what its message says: the phase, `host:port`, the redacted URL, and for
//! a timeout the setting that fired with its value.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};
use support::{closed_port_url, ms, Reply, TestServer, SLOW_ANSWER};
use ureq_futures::{Error, FuturesSession, Timeout};

/// The variant of `e`, as the table in `src/error.rs` names it, with the detail it states.
fn variant(e: &Error) -> String {
    match e {
        Error::Io(io) => format!("Io({:?})", io.kind()),
        Error::Timeout(t) => format!("Timeout({:?})", t.kind),
        Error::Transport(_) => "Transport".into(),
        Error::BodyTooLarge { .. } => "BodyTooLarge".into(),
        Error::InvalidRequest(_) => "InvalidRequest".into(),
        other => format!("{other:?}"),
    }
}

/// A server that accepts connections and never answers, kept open as long as it lives.
struct Silent {
    addr: SocketAddr,
    _listener: TcpListener,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Silent {
            addr: listener.local_addr().unwrap(),
            _listener: listener,
        }
    }
}

/// A listener whose accept queue is full: the kernel drops further connection attempts, so a
/// connect neither succeeds nor fails until its timeout. Fails the test where the system
/// accepts them all the same (Linux does not): the connect-timeout cases cannot be checked
/// there, and a test must not pass without checking its case.
pub(crate) fn full_backlog() -> (SocketAddr, Socket, Vec<TcpStream>) {
    full_listener().expect(
        "this system accepts connections past a full backlog, so no connect hangs here: the \
         connect-timeout cases cannot be checked on it",
    )
}

fn full_listener() -> Option<(SocketAddr, Socket, Vec<TcpStream>)> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, ms(100)) {
            Ok(stream) => held.push(stream),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Some((addr, socket, held)),
            Err(e) => panic!("connect to the full listener: {e}"),
        }
    }
    None
}

/// A server that reads the request and resets the connection instead of answering.
fn resetting() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut sock, _)) = listener.accept() {
            let _ = sock.set_read_timeout(Some(ms(2000)));
            let _ = sock.read(&mut [0; 4096]);
            let _ = SockRef::from(&sock).set_linger(Some(Duration::ZERO));
        }
    });
    addr
}

/// A plain-HTTP server that answers a TLS hello with an HTTP error, as most do.
fn plain_http_400() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut sock, _)) = listener.accept() {
            let _ = sock.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            std::thread::sleep(ms(200));
        }
    });
    addr
}

/// A TLS server as rustls is one: it answers a plain-HTTP request with an alert record.
fn tls_alerting() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut sock, _)) = listener.accept() {
            let _ = sock.set_read_timeout(Some(ms(2000)));
            let _ = sock.read(&mut [0; 4096]);
            // A fatal `decode_error` alert, TLS 1.2 record.
            let _ = sock.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]);
            std::thread::sleep(ms(200));
        }
    });
    addr
}

/// One failure: how it is provoked, the variant it must be, and the words its message must
/// hold (`{hp}` stands for the server's `host:port`).
struct Case {
    name: &'static str,
    run: Box<dyn FnOnce() -> (Error, String)>,
    variant: &'static [&'static str],
    words: &'static [&'static str],
}

#[test]
fn each_transport_failure_is_the_variant_the_docs_state_and_says_what_where_and_which_limit() {
    let server = TestServer::start(|req| match req.path_only() {
        "/cut" => Reply::reset_mid_body(vec![b'x'; 64 * 1024], 1000),
        "/no-answer" => Reply::raw(Vec::new()),
        "/stall" => Reply::stall_mid_body("partial", 1000),
        "/dribble" => Reply::dribble(vec![b'x'; 100], ms(50)),
        "/events" => Reply::stall().content_type("text/event-stream"),
        "/status-line" => Reply::raw(b"HTTP/1.1 abc OK\r\n\r\n".to_vec()),
        "/header-line" => Reply::raw(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n".to_vec()),
        "/folded" => Reply::raw(
            b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\nContent-Length: 5\r\n\r\nhello"
                .to_vec(),
        ),
        "/two-lengths" => Reply::raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
        ),
        "/length-word" => {
            Reply::raw(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello".to_vec())
        }
        "/chunk-size-word" => Reply::raw(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        "/many-headers" => {
            let fields: String = (0..200)
                .map(|i| format!("Set-Cookie: c{i}=1\r\n"))
                .collect();
            Reply::raw(format!("HTTP/1.1 200 OK\r\n{fields}\r\n").into_bytes())
        }
        _ => Reply::ok("0123456789"),
    });
    let hp = server.addr().to_string();
    let at = |path: &str| (server.url_for(path), hp.clone());
    let mut cases = vec![
        Case {
            name: "refused",
            run: Box::new(|| {
                let base = closed_port_url();
                let hp = base.trim_start_matches("http://").to_string();
                let err = FuturesSession::new().get(format!("{base}/x?key=secret")).send().result();
                (err.unwrap_err(), hp)
            }),
            variant: &["Io(ConnectionRefused)"],
            words: &["io: connect to {hp} failed for url: http://{hp}/x?<redacted>"],
        },
        Case {
            name: "reset before the response",
            run: Box::new(|| {
                let addr = resetting();
                let err = FuturesSession::new().get(format!("http://{addr}/r")).send().result();
                (err.unwrap_err(), addr.to_string())
            }),
            variant: &["Io(ConnectionReset)", "Io(UnexpectedEof)"],
            words: &["io: read the response from {hp} failed for url: http://{hp}/r"],
        },
        // Answers that do not parse as HTTP were ureq's bare `protocol: http parse fail`.
        Case {
            name: "broken status line",
            run: Box::new({
                let (url, hp) = at("/status-line");
                move || (FuturesSession::new().get(url).send().result().unwrap_err(), hp)
            }),
            variant: &["Io(InvalidData)"],
            words: &["io: read the response from {hp} failed for url: http://{hp}/status-line: protocol: http parse fail: invalid response status"],
        },
        Case {
            name: "broken header line",
            run: Box::new({
                let (url, hp) = at("/header-line");
                move || (FuturesSession::new().get(url).send().result().unwrap_err(), hp)
            }),
            variant: &["Io(InvalidData)"],
            words: &["io: read the response from {hp} failed for url: http://{hp}/header-line: protocol: http parse fail: invalid header name (a line of the response head is no `name: value` header field"],
        },
        Case {
            name: "a folded header line",
            run: Box::new({
                let (url, hp) = at("/folded");
                move || (FuturesSession::new().get(url).send().result().unwrap_err(), hp)
            }),
            variant: &["Io(InvalidData)"],
            words: &["io: read the response from {hp} failed for url: http://{hp}/folded: protocol: http parse fail: invalid header name", "or a folded line (one that starts with a space or a tab", "no setting changes that)"],
        },
        // So were the other framings ureq refuses, in the head and in a chunked body.
        Case {
            name: "two content lengths",
            run: Box::new({
                let (url, hp) = at("/two-lengths");
                move || (FuturesSession::new().get(url).send().result().unwrap_err(), hp)
            }),
            variant: &["Io(InvalidData)"],
            words: &["io: read the response from {hp} failed for url: http://{hp}/two-lengths: protocol: conflicting content-length headers"],
        },
        Case {
            name: "a content length that is no number",
            run: Box::new({
                let (url, hp) = at("/length-word");
                move || (FuturesSession::new().get(url).send_streaming().result().unwrap_err(), hp)
            }),
            variant: &["Io(InvalidData)"],
            words: &["io: read the response from {hp} failed for url: http://{hp}/length-word: protocol: content-length header not a number"],
        },
        Case {
            name: "a chunk size that is no number",
            run: Box::new({
                let (url, hp) = at("/chunk-size-word");
                move || (FuturesSession::new().get(url).send().result().unwrap_err(), hp)
            }),
            variant: &["Io(InvalidData)"],
            words: &["io: read the body from {hp} failed for url: http://{hp}/chunk-size-word: protocol: chunk length cannot be read as a number"],
        },
        Case {
            name: "more header fields than ureq reads",
            run: Box::new({
                let (url, hp) = at("/many-headers");
                move || (FuturesSession::new().get(url).send().result().unwrap_err(), hp)
            }),
            variant: &["Io(InvalidData)"],
            words: &["io: read the response from {hp} failed for url: http://{hp}/many-headers: protocol: http parse resulted in too many headers (the response head has more than 128 header fields, the most ureq reads; no setting raises that)"],
        },
        Case {
            name: "closed without an answer",
            run: Box::new({
                let (url, hp) = at("/no-answer");
                move || (FuturesSession::new().get(url).send().result().unwrap_err(), hp)
            }),
            variant: &["Io(UnexpectedEof)"],
            words: &["io: read the response from {hp} failed for url: http://{hp}/no-answer: Peer disconnected (the server closed the connection without answering)"],
        },
        Case {
            name: "bad method",
            run: Box::new(|| {
                let err = FuturesSession::new().request("GE T", "http://127.0.0.1:9/").send();
                (err.result().unwrap_err(), String::new())
            }),
            variant: &["InvalidRequest"],
            words: &["invalid request: invalid method \"GE T\": a method is a token of letters, digits and !#$%&'*+-.^_`|~, without spaces"],
        },
        Case {
            name: "body cut",
            run: Box::new({
                let (url, hp) = at("/cut");
                move || (FuturesSession::new().get(url).send().result().unwrap_err(), hp)
            }),
            variant: &["Io(ConnectionReset)", "Io(UnexpectedEof)"],
            words: &["io: read the body from {hp} failed for url: http://{hp}/cut"],
        },
        Case {
            name: "silent server",
            run: Box::new(|| {
                let silent = Silent::start();
                let err = FuturesSession::builder()
                    .read_timeout(ms(200))
                    .build()
                    .get(format!("http://{}/s", silent.addr))
                    .send()
                    .result();
                (err.unwrap_err(), silent.addr.to_string())
            }),
            variant: &["Timeout(PerRead)"],
            words: &["timeout: no byte for 200 ms (read_timeout) while waiting for the response from {hp} for url: http://{hp}/s"],
        },
        Case {
            name: "silent mid-body",
            run: Box::new({
                let (url, hp) = at("/stall");
                move || {
                    let session = FuturesSession::builder().read_timeout(SLOW_ANSWER).build();
                    (session.get(url).send().result().unwrap_err(), hp)
                }
            }),
            variant: &["Timeout(PerRead)"],
            words: &["timeout: no byte for 2 s (read_timeout) while reading the body from {hp} (7 of 1,000 bytes read) for url: http://{hp}/stall"],
        },
        Case {
            name: "a request's own read timeout",
            run: Box::new({
                let (url, hp) = at("/stall");
                move || {
                    let session = FuturesSession::builder().read_timeout(ms(5000)).build();
                    let err = session.get(url).read_timeout(ms(150)).send().result();
                    (err.unwrap_err(), hp)
                }
            }),
            variant: &["Timeout(PerRead)"],
            words: &["no byte for 150 ms (read_timeout)"],
        },
        Case {
            name: "whole request",
            run: Box::new({
                let (url, hp) = at("/dribble");
                move || {
                    let session = FuturesSession::builder().timeout(SLOW_ANSWER).build();
                    (session.get(url).send().result().unwrap_err(), hp)
                }
            }),
            variant: &["Timeout(Global)"],
            words: &["timeout: whole request over 2 s (timeout) while reading the body from {hp} (", " of 100 bytes read) for url: http://{hp}/dribble"],
        },
        Case {
            name: "stream headers",
            run: Box::new(|| {
                let silent = Silent::start();
                let err = FuturesSession::new()
                    .get(format!("http://{}/events", silent.addr))
                    .timeout(ms(300))
                    .events()
                    .result();
                (err.unwrap_err(), silent.addr.to_string())
            }),
            // ureq's timeout of the wait, or on a loaded machine the stream's watchdog a little
            // after it (`whole request over 300 ms (timeout) before the response from`).
            variant: &["Timeout(RecvResponse)", "Timeout(Global)"],
            words: &["timeout: ", " {hp} ", "300 ms (timeout)", " for url: http://{hp}/events"],
        },
        Case {
            name: "silent event stream",
            run: Box::new({
                let (url, hp) = at("/events");
                move || {
                    let session = FuturesSession::builder().read_timeout(SLOW_ANSWER).build();
                    let mut stream = session.get(url).events().result().unwrap();
                    let last = stream.find_map(Result::err);
                    (last.expect("the stream ends with an error"), hp)
                }
            }),
            variant: &["Timeout(PerRead)"],
            words: &["timeout: no byte for 2 s (read_timeout) while reading the body from {hp} (0 bytes read) for url: http://{hp}/events"],
        },
        Case {
            name: "silent streamed body",
            run: Box::new({
                let (url, hp) = at("/stall");
                move || {
                    let session = FuturesSession::builder().read_timeout(SLOW_ANSWER).build();
                    let mut body = session.get(url).send_streaming().result().unwrap();
                    let err = body.read_to_end(&mut Vec::new()).unwrap_err();
                    (Error::from(err), hp)
                }
            }),
            variant: &["Timeout(PerRead)"],
            words: &["timeout: no byte for 2 s (read_timeout) while reading the body from {hp} (7 of 1,000 bytes read) for url: http://{hp}/stall"],
        },
        Case {
            name: "too large",
            run: Box::new({
                let (url, hp) = at("/big");
                move || {
                    let session = FuturesSession::builder().max_body_size(4).build();
                    (session.get(url).send().result().unwrap_err(), hp)
                }
            }),
            variant: &["BodyTooLarge"],
            words: &["response body of http://{hp}/big larger than max_body_size (4 bytes, counted after decoding): raise SessionBuilder::max_body_size"],
        },
        Case {
            name: "bad url",
            run: Box::new(|| {
                let err = FuturesSession::new().get("http://127.0.0.1:99999/x?key=secret").send().result();
                (err.unwrap_err(), String::new())
            }),
            variant: &["InvalidRequest"],
            words: &["invalid request: invalid URL http://127.0.0.1:99999/x?<redacted>: port 99999 is out of range"],
        },
        Case {
            name: "https to a plain-HTTP port",
            run: Box::new(|| {
                let addr = plain_http_400();
                let err = FuturesSession::new().get(format!("https://{addr}/v1")).send().result();
                (err.unwrap_err(), addr.to_string())
            }),
            variant: &["Io(InvalidData)"],
            words: &[
                "io: TLS handshake with {hp} failed for url: https://{hp}/v1",
                "plain HTTP",
                "use http://{hp}/v1",
            ],
        },
        Case {
            name: "plain HTTP to a TLS port",
            run: Box::new(|| {
                let addr = tls_alerting();
                let err = FuturesSession::new()
                    .get(format!("http://{addr}/v1"))
                    .send()
                    .result();
                (err.unwrap_err(), addr.to_string())
            }),
            variant: &["Io(InvalidData)"],
            words: &[
                "io: read the response from {hp} failed for url: http://{hp}/v1",
                "if this port serves TLS, use https://{hp}/v1",
            ],
        },
    ];
    // `.invalid` never resolves (RFC 6761), without any network; a resolver that answers it
    // anyway (some captive DNS) would make the case meaningless: the test fails there.
    assert_invalid_names_do_not_resolve();
    cases.push(Case {
        name: "name that does not resolve",
        run: Box::new(|| {
            let err = FuturesSession::new()
                .get("http://nothing-here.invalid/x")
                .send()
                .result();
            (err.unwrap_err(), "nothing-here.invalid:80".into())
        }),
        variant: &["Io(Uncategorized)", "Io(Other)", "Io(NotFound)"],
        words: &["io: resolve nothing-here.invalid failed for url: http://nothing-here.invalid/x"],
    });
    // The connect timeout needs a connect that hangs: a listener with a full accept queue
    // (Linux drops the connection attempts it cannot queue).
    let full = full_backlog();
    let addr = full.0;
    cases.push(Case {
        name: "connect timeout",
        run: Box::new(move || {
            let err = FuturesSession::builder()
                .connect_timeout(ms(200))
                .build()
                .get(format!("http://{addr}/c"))
                .send()
                .result();
            (err.unwrap_err(), addr.to_string())
        }),
        variant: &["Timeout(Connect)"],
        words: &["timeout: connect to {hp} did not finish within 200 ms (connect_timeout) for url: http://{hp}/c"],
    });
    // The same over https: the TCP connect itself never finished.
    cases.push(Case {
        name: "https connect timeout",
        run: Box::new(move || {
            let session = FuturesSession::builder().connect_timeout(ms(200)).build();
            let err = session.get(format!("https://{addr}/c")).send().result();
            (err.unwrap_err(), addr.to_string())
        }),
        variant: &["Timeout(Connect)"],
        words: &["timeout: connect to {hp} did not finish within 200 ms (connect_timeout) for url: https://{hp}/c"],
    });
    // A port that takes the connection and never answers the ClientHello (plain HTTP that waits
    // for a request's head): the handshake, not the connect, ran out of time. It said `connect
    // to ... did not finish`, without a hint.
    let silent = Silent::start();
    let silent_addr = silent.addr;
    cases.push(Case {
        name: "TLS handshake timeout",
        run: Box::new(move || {
            let session = FuturesSession::builder().connect_timeout(ms(200)).build();
            let err = session.get(format!("https://{silent_addr}/t?key=secret")).send().result();
            (err.unwrap_err(), silent_addr.to_string())
        }),
        variant: &["Timeout(Connect)"],
        words: &["timeout: TLS handshake with {hp} did not finish within 200 ms (connect_timeout; the TCP connection was made) for url: https://{hp}/t?<redacted> (a server that speaks plain HTTP on that port never answers the handshake: if so, use http://{hp}/t?<redacted>)"],
    });
    let mut failures = Vec::new();
    for case in cases {
        let (err, hp) = (case.run)();
        let text = err.to_string();
        eprintln!("{}: {text}", case.name);
        if !case.variant.contains(&variant(&err).as_str()) {
            failures.push(format!(
                "{}: expected {:?}, got {} ({text})",
                case.name,
                case.variant,
                variant(&err)
            ));
        }
        for words in case.words {
            let words = words.replace("{hp}", &hp);
            if !text.contains(&words) {
                failures.push(format!("{}: {text:?} lacks {words:?}", case.name));
            }
        }
        if text.contains("secret") || text.contains('\n') {
            failures.push(format!("{}: not one redacted line: {text:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The chain of sources under an error is its root cause alone, the system's error, whose
/// words end the message: a reporter that walks the chain (anyhow's `Caused by:`) printed the
/// message again for each layer in between.
#[test]
fn an_errors_source_is_its_root_cause_said_once() {
    use std::error::Error as _;
    let chain = |e: &Error| {
        let mut texts = vec![e.to_string()];
        let mut next = e.source();
        while let Some(cause) = next {
            texts.push(cause.to_string());
            next = cause.source();
        }
        texts
    };
    let refused = FuturesSession::new()
        .get(format!("{}/x", closed_port_url()))
        .send()
        .result()
        .unwrap_err();
    let texts = chain(&refused);
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(texts[0].ends_with(&texts[1]), "{texts:#?}");
    let root = refused
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(
        root.map(std::io::Error::kind),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    let dir = support::TempDir::new("chain");
    let server = TestServer::start(|_| Reply::ok("x"));
    let missing = FuturesSession::new()
        .get(server.url())
        .download(dir.join("missing/out.bin"))
        .result()
        .unwrap_err();
    let texts = chain(&missing);
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(texts[1].contains("os error"), "{texts:#?}");
}

/// What `fn main() -> Result<(), Box<dyn Error>>` prints: the variant with its detail, then the
/// message; it was the derived form, with every layer's fields on one line.
#[test]
fn an_errors_debug_is_its_variant_and_its_message() {
    let refused = FuturesSession::new()
        .get(format!("{}/x?key=secret", closed_port_url()))
        .send()
        .result()
        .unwrap_err();
    // The message's own first word (`io: `) is not said twice.
    let text = refused.to_string();
    assert_eq!(
        format!("{refused:?}"),
        format!(
            "Io(ConnectionRefused): {}",
            text.strip_prefix("io: ").unwrap()
        )
    );
    assert!(!format!("{refused:?}").contains("secret"));
    let server = TestServer::start(|_| Reply::status(404, "no such page"));
    let status = FuturesSession::new()
        .get(server.url())
        .send()
        .result()
        .and_then(|r| r.error_for_status())
        .unwrap_err();
    assert_eq!(format!("{status:?}"), format!("Status(404): {status}"));
    assert_eq!(
        format!("{:?}", Error::Cancelled),
        "Cancelled: the job was stopped by Pending::cancel, AsCompleted::cancel_rest, a stop \
         handle, FuturesSession::shutdown_now, a Batch stopped or dropped, or the cancel of a \
         job that waited for it"
    );
}

#[test]
fn https_to_a_port_that_closes_on_a_tls_hello_shows_the_http_url() {
    let server = TestServer::start(|_| Reply::ok("plain"));
    let url = server.url_for("/v1").replace("http://", "https://");
    let err = FuturesSession::new().get(&url).send().result().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(
        text.contains(&format!("use {}", server.url_for("/v1"))),
        "{text}"
    );
}

#[test]
fn a_timeout_says_which_setting_fired_and_its_value() {
    let silent = Silent::start();
    let err = FuturesSession::builder()
        .read_timeout(ms(250))
        .build()
        .get(format!("http://{}/", silent.addr))
        .send()
        .result()
        .unwrap_err();
    let Error::Timeout(t) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(t.kind, Timeout::PerRead);
    assert_eq!(t.setting, Some("read_timeout"));
    assert_eq!(t.limit, Some(ms(250)));
    assert_eq!(t.url, format!("http://{}/", silent.addr));
    assert!(err.is_timeout());
}

#[test]
fn a_body_that_does_not_decode_names_the_coding_the_url_and_the_phase() {
    let server =
        TestServer::start(|_| Reply::ok("not gzip at all").header("content-encoding", "gzip"));
    let url = server.url_for("/gz?key=secret");
    let hp = server.addr().to_string();
    let session = FuturesSession::new();
    let buffered = session.get(&url).send().result().unwrap_err();
    let mut body = session.get(&url).send_streaming().result().unwrap();
    let streamed = Error::from(body.read_to_end(&mut Vec::new()).unwrap_err());
    for err in [buffered, streamed] {
        assert!(
            matches!(&err, Error::Transport(ureq::Error::Decompress("gzip", _))),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "transport: gzip decompression failed: invalid gzip header in the body from \
                 {hp} for url: http://{hp}/gz?<redacted>"
            )),
            "{text}"
        );
        assert!(text.contains("Accept-Encoding: identity"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}

#[test]
fn a_connect_timeout_behind_a_proxy_names_the_proxy() {
    let (addr, _listener, _held) = full_backlog();
    let err = FuturesSession::builder()
        .connect_timeout(ms(200))
        .proxy(ureq::Proxy::new(&format!("http://pu:proxy-secret@{addr}")).unwrap())
        .build()
        .get("https://example.com/c?key=secret")
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Timeout(t) if t.kind == Timeout::Connect),
        "{err:?}"
    );
    assert_eq!(
        text,
        format!(
            "timeout: connect to example.com:443 through the proxy {addr} did not finish within \
             200 ms (connect_timeout) for url: https://example.com/c?<redacted>"
        )
    );
}

/// A request's head, read byte by byte up to its blank line (nothing of the body); `None` when
/// the connection ends or fails first.
pub(crate) fn read_head(conn: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// A server that reads the head of each request, sends `answer` (nothing when it is empty) and
/// closes the connection with the body unread, which resets it.
pub(crate) fn answers_before_the_body(answer: &'static [u8]) -> SocketAddr {
    after_each_head(move |conn| {
        let _ = conn.write_all(answer);
    })
}

/// A server that reads the head of each request, one connection after another, and then does
/// `then` with the connection, which it closes after.
fn after_each_head(then: impl Fn(&mut TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            read_head(&mut conn);
            then(&mut conn);
        }
    });
    addr
}

/// A server may answer an upload before reading it (a `413` to a body over its limit, a `401`)
/// and close the connection: the answer is the response, as with curl and requests. It was lost
/// behind the error of the next write, `send the request to ...: Broken pipe`. A server that
/// closes without an answer still fails the request with the error of the write (a broken pipe,
/// or a reset).
#[test]
fn an_answer_sent_before_the_whole_body_is_read_is_the_response() {
    early_answers(&FuturesSession::new(), "http", answers_before_the_body, "");
}

/// A `413` of a server that has not read the body, and closes.
pub(crate) const TOO_LARGE: &[u8] =
    b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large";

/// Posts 32 MB to `url`, whose server answers [`TOO_LARGE`] before it reads them: the answer is
/// the response.
pub(crate) fn assert_too_large(session: &FuturesSession, url: &str) {
    let resp = session
        .post(url)
        .body(vec![b'x'; 32 << 20])
        .send()
        .result()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!((resp.status(), resp.text().unwrap()), (413, "too large"));
}

/// What [`an_answer_sent_before_the_whole_body_is_read_is_the_response`] checks, with servers
/// made by `server` for URLs of `scheme`, through what `via` names in the error (` through
/// the proxy host:port`, or nothing).
fn early_answers(
    session: &FuturesSession,
    scheme: &str,
    server: fn(&'static [u8]) -> SocketAddr,
    via: &str,
) {
    let refusing = server(TOO_LARGE);
    for _ in 0..2 {
        assert_too_large(session, &format!("{scheme}://{refusing}/upload"));
    }
    let silent = server(b"");
    let url = format!("{scheme}://{silent}/upload?key=secret");
    let body = vec![b'x'; 32 << 20];
    let err = session.put(&url).body(body).send().result().unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            variant(&err).as_str(),
            "Io(BrokenPipe)" | "Io(ConnectionReset)"
        ),
        "{err:?}"
    );
    assert!(
        text.contains(&format!(
            "send the request to {silent}{via} failed for url: \
             {scheme}://{silent}/upload?<redacted>: "
        )),
        "{text}"
    );
    assert!(text.contains("without an answer"), "{text}");
}

/// A rustls server's settings, with a certificate made by the `openssl` tool (for clients that
/// do not check it).
fn tls_server_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    crate::security::need_openssl();
    let (cert, key) = crate::security::self_signed_pem();
    let cert = CertificateDer::from_pem_slice(&cert).expect("a certificate");
    let key = PrivateKeyDer::from_pem_slice(&key).expect("a key");
    // Deprecated from rustls 0.23.48 (no post-quantum key exchange), which this test server
    // needs none of; the other provider, aws-lc-rs, builds C code.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("a server config");
    Arc::new(config)
}

/// [`answers_before_the_body`] over TLS: a rustls server with a certificate made by the
/// `openssl` tool, for a client that does not check it.
pub(crate) fn answers_before_the_body_tls(answer: &'static [u8]) -> SocketAddr {
    let config = tls_server_config();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            // The answer leaves at once, not held back for the ACK of the session tickets
            // TLS 1.3 sends after the handshake: a close with the body unread resets the
            // connection, and throws away what was not sent yet.
            conn.set_nodelay(true).unwrap();
            let tls = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut stream = rustls::StreamOwned::new(tls, conn);
            read_head(&mut stream);
            let _ = stream.write_all(answer);
            let _ = stream.flush();
        }
    });
    addr
}

/// A client of the servers above: it does not check their certificate.
pub(crate) fn trusting_any() -> ureq_futures::SessionBuilder {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(true)
        .build();
    FuturesSession::builder().tls_config(tls)
}

/// [`an_answer_sent_before_the_whole_body_is_read_is_the_response`] over `https://`: rustls
/// writes the records of a failed write again before each read, which failed the read of the
/// answer with the write's error (`Broken pipe ... without an answer`). The connection's layer
/// below TLS now drops what is written after such a failure.
#[test]
fn an_answer_sent_before_the_whole_body_is_read_is_the_response_over_tls() {
    early_answers(
        &trusting_any().build(),
        "https",
        answers_before_the_body_tls,
        "",
    );
}

/// A proxy's side of a `CONNECT` read from `client`: the connection to the address it names,
/// once `client` is told it is made.
fn open_tunnel(client: &mut (impl Read + Write)) -> Option<TcpStream> {
    let head = read_head(client)?;
    let server = TcpStream::connect(head.split_whitespace().nth(1)?).ok()?;
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .and_then(|()| client.flush())
        .ok()?;
    Some(server)
}

/// An HTTP proxy that tunnels each `CONNECT` to the address it names, byte for byte, and passes
/// either side's end on to the other; it counts the tunnels it made.
pub(crate) fn tunnelling_proxy() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tunnels = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&tunnels);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let counted = Arc::clone(&counted);
            std::thread::spawn(move || {
                let Some(server) = open_tunnel(&mut client) else {
                    return;
                };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    })
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            });
        }
    });
    (addr, tunnels)
}

/// [`tunnelling_proxy`] as an `https://` proxy: the `CONNECT` and the tunnel inside TLS. One
/// thread a tunnel, turn by turn; once the server's side ends (or takes no more), what it sent
/// is passed on, then the client's connection closed.
fn tls_tunnelling_proxy() -> SocketAddr {
    let config = tls_server_config();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                client.set_nodelay(true).unwrap();
                let tls = rustls::ServerConnection::new(config).unwrap();
                let mut client = rustls::StreamOwned::new(tls, client);
                let Some(mut server) = open_tunnel(&mut client) else {
                    return;
                };
                let waits = |e: &io::Error| {
                    matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    )
                };
                client.sock.set_read_timeout(Some(ms(5))).unwrap();
                server.set_read_timeout(Some(ms(5))).unwrap();
                let mut buf = vec![0u8; 64 << 10];
                let mut upstream_open = true;
                loop {
                    if upstream_open {
                        match client.read(&mut buf) {
                            Ok(0) => upstream_open = false,
                            Ok(n) => upstream_open = server.write_all(&buf[..n]).is_ok(),
                            Err(e) if waits(&e) => {}
                            Err(_) => upstream_open = false,
                        }
                    }
                    match server.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if client.write_all(&buf[..n]).and(client.flush()).is_err() {
                                break;
                            }
                        }
                        Err(e) if waits(&e) => {}
                        Err(_) => break,
                    }
                }
            });
        }
    });
    addr
}

/// Through an `https://` proxy, an early answer is the response too, for `http://` and
/// `https://` URLs: the proxy's own TLS, under the tunnel, wrote the records of the broken
/// write again before each read, unless the layer below it dropped them.
#[test]
fn an_early_answer_through_an_https_proxy_is_the_response() {
    let proxy = tls_tunnelling_proxy();
    let session = trusting_any()
        .proxy(ureq::Proxy::new(&format!("https://{proxy}")).unwrap())
        .build();
    let plain = answers_before_the_body(TOO_LARGE);
    let tls = answers_before_the_body_tls(TOO_LARGE);
    assert_too_large(&session, &format!("http://{plain}/up"));
    assert_too_large(&session, &format!("https://{tls}/up"));
}

/// Through an HTTP proxy's tunnel, an `https://` upload that the server cut without an answer
/// is the send's failure, and an early answer is the response. The proxy's leg, a connection
/// of its own under the server's TLS, took the TLS 1.3 session tickets that came after the
/// handshake for the answer and kept the broken write from the connection above: the error
/// said `TLS handshake with ... failed: peer closed connection without sending TLS
/// close_notify`, with a hint to use `http://`.
#[test]
fn an_upload_cut_behind_an_http_proxy_is_the_sends_failure() {
    let (proxy, tunnels) = tunnelling_proxy();
    let session = trusting_any()
        .proxy(ureq::Proxy::new(&format!("http://{proxy}")).unwrap())
        .build();
    let via = format!(" through the proxy {proxy}");
    early_answers(&session, "https", answers_before_the_body_tls, &via);
    // Two answered posts and the cut upload, each in a tunnel of its own.
    assert_eq!(tunnels.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// An `https://` server that closes the connection after the handshake and the request,
/// without an answer, failed "the TLS handshake" with a hint that the port may serve plain
/// HTTP; the handshake was over, and the request sent: it is the response's read that failed.
#[test]
fn an_https_server_that_closes_after_the_request_is_no_handshake_failure() {
    let server = answers_before_the_body_tls(b"");
    let url = format!("https://{server}/x?key=secret");
    let err = trusting_any()
        .build()
        .get(&url)
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(variant(&err), "Io(UnexpectedEof)", "{err:?}");
    assert!(
        text.starts_with(&format!(
            "io: read the response from {server} failed for url: https://{server}/x?<redacted>: "
        )),
        "{text}"
    );
    assert!(!text.contains("plain HTTP"), "{text}");
}

/// Fails the test where this machine's resolver answers `.invalid` names, which RFC 6761 says
/// never resolve (a captive or hijacking DNS): the cases of a name that does not resolve cannot
/// be checked there, and a test must not pass without checking its case.
pub(crate) fn assert_invalid_names_do_not_resolve() {
    let resolved = std::net::ToSocketAddrs::to_socket_addrs("nothing-here.invalid:80");
    assert!(
        resolved.is_err(),
        "this machine's resolver answers .invalid names ({resolved:?}): the cases of a name \
         that does not resolve cannot be checked on it"
    );
}

/// A session whose `TlsConfig` picks native-tls, in a build without the `native-tls` feature,
/// fails its `https://` requests with an error that says so, where: ureq's connector panicked
/// (`Error::Panicked`), and a connector that skipped the TLS would have sent the request in
/// plain text.
#[cfg(not(feature = "native-tls"))]
#[test]
fn native_tls_asked_for_in_a_build_without_it_is_an_error_that_says_so() {
    let server = answers_before_the_body(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .build();
    let session = FuturesSession::builder().tls_config(tls).build();
    let url = format!("https://{server}/x?key=secret");
    let err = session.get(&url).send().result().unwrap_err();
    assert_eq!(variant(&err), "Io(Unsupported)", "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "io: TLS handshake with {server} failed for url: https://{server}/x?<redacted>: the \
             session's TlsConfig asks for the native-tls provider, which this build lacks: \
             enable ureq-futures' `native-tls` feature, or use rustls (the default)"
        )
    );
}

/// A `100 Continue` with a header field, which ureq refuses, fails the request with an error
/// that says where and why: it was `transport: protocol: received headers with 100-continue
/// response`, naming no server.
#[test]
fn a_100_continue_with_a_header_field_is_an_error_that_says_where() {
    let addr = after_each_head(|conn| {
        let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\nLink: </x>\r\n\r\n");
        let _ = conn.read(&mut [0u8; 64]);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    let url = format!("http://{addr}/up?key=secret");
    let err = FuturesSession::new()
        .put(&url)
        .body(vec![1u8; 10])
        .send()
        .result()
        .unwrap_err();
    assert_eq!(variant(&err), "Io(InvalidData)", "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "io: read the response from {addr} failed for url: http://{addr}/up?<redacted>: "
        )),
        "{text}"
    );
    assert!(
        text.contains("100 Continue interim answer carries header fields"),
        "{text}"
    );
}
