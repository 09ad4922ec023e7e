//! The error variant of each transport failure, as the table in `src/error.rs` and the crate
//! docs state it, and what its message says: the phase, `host:port`, the redacted URL.

use std::io::{self, Write};
use std::net::TcpListener;

use support::{closed_port_url, ms, Reply, TestServer};
use ureq_futures::{Error, FuturesSession, Timeout};

fn io_kind(e: &Error) -> io::ErrorKind {
    match e {
        Error::Io(io) => io.kind(),
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn a_refused_connection_is_io_naming_connect_and_the_address() {
    let base = closed_port_url();
    let err = FuturesSession::new()
        .get(format!("{base}/x?key=secret"))
        .send()
        .result()
        .unwrap_err();
    assert_eq!(io_kind(&err), io::ErrorKind::ConnectionRefused);
    let text = err.to_string();
    let host_port = base.trim_start_matches("http://");
    assert!(
        text.contains(&format!("connect to {host_port} failed")),
        "{text}"
    );
    assert!(
        text.contains(&format!("for url: {base}/x?<redacted>")),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn a_name_that_does_not_resolve_is_io_naming_resolve_and_the_host() {
    // `.invalid` never resolves (RFC 6761); no network is needed to find that out.
    let err = FuturesSession::new()
        .get("http://nothing-here.invalid/x")
        .send()
        .result()
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("resolve nothing-here.invalid failed for url: http://nothing-here.invalid/x"),
        "{text}"
    );
}

#[test]
fn a_silent_body_is_a_per_read_timeout_and_a_slow_exchange_a_global_one() {
    let server = TestServer::start(|req| match req.path_only() {
        "/stall" => Reply::stall_mid_body("partial", 1000),
        _ => Reply::dribble(vec![b'x'; 100], ms(50)),
    });
    let read = FuturesSession::builder()
        .read_timeout(ms(200))
        .build()
        .get(server.url_for("/stall"))
        .send()
        .result();
    assert!(
        matches!(read, Err(Error::Timeout(Timeout::PerRead))),
        "{read:?}"
    );
    let global = FuturesSession::builder()
        .timeout(ms(300))
        .build()
        .get(server.url_for("/dribble"))
        .send()
        .result();
    assert!(
        matches!(global, Err(Error::Timeout(Timeout::Global))),
        "{global:?}"
    );
}

#[test]
fn a_cut_connection_is_io_naming_the_body_read_and_the_address() {
    let server = TestServer::start(|_| Reply::reset_mid_body(vec![b'x'; 64 * 1024], 1000));
    let err = FuturesSession::new()
        .get(server.url_for("/file"))
        .send()
        .result()
        .unwrap_err();
    assert!(
        matches!(
            io_kind(&err),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    let text = err.to_string();
    let host_port = server.addr().to_string();
    assert!(
        text.contains(&format!(
            "from {host_port} failed for url: {}",
            server.url_for("/file")
        )),
        "{text}"
    );
}

#[test]
fn https_to_a_plain_http_port_says_so_and_shows_the_http_url() {
    // A plain-HTTP server that answers the TLS hello with an HTTP error, as most do.
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
    let err = FuturesSession::new()
        .get(format!("https://{addr}/v1"))
        .send()
        .result()
        .unwrap_err();
    assert_eq!(io_kind(&err), io::ErrorKind::InvalidData, "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("TLS handshake with {addr}")),
        "{text}"
    );
    assert!(text.contains("plain HTTP"), "{text}");
    assert!(text.contains(&format!("use http://{addr}/v1")), "{text}");

    // One that closes the connection on bytes it cannot parse.
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
