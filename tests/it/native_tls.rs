//! The `native-tls` feature: a session whose `tls_config` picks `TlsProvider::NativeTls` does
//! its TLS with the platform's library (OpenSSL here). Run with
//! `cargo test --features native-tls --test it native_tls` (`.ci/run` does).
//!
//! The local server (`openssl s_server`) offers only ECDHE-ECDSA-AES256-SHA, a CBC cipher suite
//! that OpenSSL accepts and rustls does not implement: the same request succeeds through
//! native-tls and fails through rustls, so the provider really is the one asked for.

use std::sync::Arc;

use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig, TlsProvider};
use ureq_futures::{Error, FuturesSession};

use crate::security::{need_openssl, SelfSignedServer};

fn session(provider: TlsProvider, cert_pem: &[u8]) -> FuturesSession {
    let certs: Vec<_> = parse_pem(cert_pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    assert_eq!(certs.len(), 1);
    let tls = TlsConfig::builder()
        .provider(provider)
        .root_certs(RootCerts::Specific(Arc::new(certs)))
        .build();
    FuturesSession::builder()
        .max_workers(1)
        .tls_config(tls)
        .build()
}

#[test]
fn native_tls_talks_to_a_server_that_rustls_cannot() {
    need_openssl();
    let server = SelfSignedServer::start_with(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA"])
        .expect("openssl s_server");
    let url = format!("https://localhost:{}/", server.port);

    let native = session(TlsProvider::NativeTls, &server.cert_pem());
    let resp = native.get(&url).send().result().expect("native-tls");
    assert_eq!(resp.status(), 200);
    // `s_server -www` answers with a page describing the session it negotiated.
    let page = resp.text().unwrap();
    assert!(page.contains("ECDHE-ECDSA-AES256-SHA"), "{page}");

    let rustls = session(TlsProvider::Rustls, &server.cert_pem());
    let err = rustls
        .get(&url)
        .send()
        .result()
        .expect_err("rustls has no CBC suite");
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains("handshake") || text.contains("HandshakeFailure"),
        "{text}"
    );
}

#[test]
fn a_certificate_native_tls_does_not_trust_is_a_tls_error_with_the_fix() {
    need_openssl();
    let server = SelfSignedServer::start_with(&[]).expect("openssl s_server");
    let url = format!("https://localhost:{}/", server.port);
    let tls = TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .build();
    let session = FuturesSession::builder()
        .max_workers(1)
        .tls_config(tls.clone())
        .build();
    let err = session.get(&url).send().result().expect_err("untrusted");
    let Error::Io(io) = &err else {
        panic!("not an I/O error: {err:?}");
    };
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("localhost:{}", server.port)),
        "{text}"
    );
    assert!(text.contains("RootCerts::Specific"), "{text}");

    // Behind a proxy, the error says the handshake went through it.
    let proxy = support::Socks5Proxy::start();
    let proxied = FuturesSession::builder()
        .max_workers(1)
        .tls_config(tls)
        .proxy(ureq::Proxy::new(&proxy.url()).unwrap())
        .build();
    let err = proxied.get(&url).send().result().expect_err("untrusted");
    let (text, proxy_at) = (err.to_string(), proxy.url().replace("socks5://", ""));
    assert!(
        text.contains(&format!(
            "TLS handshake with localhost:{} through the proxy {proxy_at} failed for url: {url}",
            server.port
        )),
        "{text}"
    );
    assert!(text.contains("RootCerts::Specific"), "{text}");
}

#[test]
fn an_https_url_of_a_plain_http_port_gets_the_http_url_through_native_tls_too() {
    use std::io::{Read, Write};
    // One server answers the ClientHello with a plain-HTTP 400, one closes the connection.
    for answer in [
        &b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"[..],
        b"",
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut sock, _)) = listener.accept() {
                let _ = sock.read(&mut [0; 4096]);
                let _ = sock.write_all(answer);
            }
        });
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .build();
        let session = FuturesSession::builder()
            .max_workers(1)
            .tls_config(tls)
            .build();
        let err = session
            .get(format!("https://{addr}/x"))
            .send()
            .result()
            .expect_err("no TLS there");
        let text = err.to_string();
        assert!(
            text.contains(&format!("TLS handshake with {addr} failed"))
                && text.contains(&format!("use http://{addr}/x")),
            "{text}"
        );
    }
}

/// A server that wants a client certificate says so through native-tls too (OpenSSL's words
/// for TLS 1.3's `certificate_required` alert).
#[test]
fn a_server_that_wants_a_client_certificate_says_so_through_native_tls() {
    need_openssl();
    let server = SelfSignedServer::start_with(&["-tls1_3", "-Verify", "1"]).expect("s_server");
    let native = session(TlsProvider::NativeTls, &server.cert_pem());
    let url = format!("https://localhost:{}/", server.port);
    let text = native.get(&url).send().result().unwrap_err().to_string();
    assert!(
        text.contains("the server asks for a client certificate: give one with"),
        "{text}"
    );
}

/// An answer sent before the whole upload was read reaches the caller through native-tls too:
/// OpenSSL does not write a failed write's records again before a read (rustls does, see
/// `transport_errors`), and the layer below TLS that rustls needs keeps it so.
#[test]
fn an_early_answer_is_read_through_native_tls() {
    need_openssl();
    use crate::transport_errors::{answers_before_the_body_tls, assert_too_large, TOO_LARGE};
    let refusing = answers_before_the_body_tls(TOO_LARGE);
    let tls = TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .disable_verification(true)
        .build();
    let session = FuturesSession::builder().tls_config(tls).build();
    assert_too_large(&session, &format!("https://{refusing}/upload"));
}
