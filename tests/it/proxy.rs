//! `SessionBuilder::proxy`: requests through a local SOCKS5 proxy (always on: the library
//! turns on ureq's `socks-proxy`) and around it, and through HTTP proxies.

use support::{closed_port_url, Reply, Socks5Proxy, TestServer};
use ureq_futures::{Error, FuturesSession};

/// The message of the `Error::Io` that a GET of `url` through the proxy at `proxy` fails with.
fn io_error_through(proxy: &str, url: &str) -> String {
    let session = FuturesSession::builder()
        .proxy(ureq::Proxy::new(proxy).unwrap())
        .build();
    let err = session.get(url).send().result().unwrap_err();
    assert!(matches!(&err, Error::Io(_)), "{err:?}");
    err.to_string()
}

#[test]
fn requests_go_through_a_socks5_proxy() {
    let server = TestServer::start(|req| Reply::ok(format!("hello {}", req.path)));
    let proxy = Socks5Proxy::start();
    let session = FuturesSession::builder()
        .max_workers(2)
        .proxy(ureq::Proxy::new(&proxy.url()).unwrap())
        .build();
    let handles: Vec<_> = ["/a", "/b"]
        .iter()
        .map(|p| session.get(server.url_for(p)).send())
        .collect();
    let bodies: Vec<String> = handles
        .into_iter()
        .map(|h| h.result().unwrap().text().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["hello /a", "hello /b"]);
    // The proxy was asked for the server, once per connection it opened.
    let targets = proxy.targets();
    assert!(!targets.is_empty() && targets.len() <= 2, "{targets:?}");
    let addr = server.addr().to_string();
    assert!(targets.iter().all(|t| *t == addr), "{targets:?} vs {addr}");
    assert_eq!(server.request_count(), 2);
}

#[test]
fn the_default_is_the_environments_proxy_and_none_goes_direct() {
    // It sets ALL_PROXY, which every session of the process would read: in a process of its own.
    crate::alone(
        "proxy::the_default_is_the_environments_proxy_and_none_goes_direct",
        || {
            let server = TestServer::start(|_| Reply::ok("hi"));
            let proxy = Socks5Proxy::start();
            std::env::set_var("ALL_PROXY", proxy.url());
            let from_env = FuturesSession::new();
            let resp = from_env.get(server.url()).send().result().unwrap();
            assert_eq!(resp.text().unwrap(), "hi");
            assert_eq!(proxy.targets(), [server.addr().to_string()]);

            let direct = FuturesSession::builder().proxy(None).build();
            let resp = direct.get(server.url()).send().result().unwrap();
            assert_eq!(resp.text().unwrap(), "hi");
            assert_eq!(proxy.targets().len(), 1, "the proxy saw the direct request");
            assert_eq!(server.request_count(), 2);
        },
    );
}

#[test]
fn the_environments_first_proxy_serves_every_scheme() {
    // ureq takes one proxy from the environment for all requests: the first of ALL_PROXY,
    // HTTPS_PROXY and HTTP_PROXY that is set, even for an http:// URL (where requests would
    // take HTTP_PROXY). In a process of its own: the variables are the whole process's.
    crate::alone(
        "proxy::the_environments_first_proxy_serves_every_scheme",
        || {
            let server = TestServer::start(|_| Reply::ok("hi"));
            let https_proxy = Socks5Proxy::start();
            let http_proxy = Socks5Proxy::start();
            for var in [
                "ALL_PROXY",
                "all_proxy",
                "https_proxy",
                "http_proxy",
                "NO_PROXY",
                "no_proxy",
            ] {
                std::env::remove_var(var);
            }
            std::env::set_var("HTTPS_PROXY", https_proxy.url());
            std::env::set_var("HTTP_PROXY", http_proxy.url());
            assert!(server.url().starts_with("http://"));
            let resp = FuturesSession::new()
                .get(server.url())
                .send()
                .result()
                .unwrap();
            assert_eq!(resp.text().unwrap(), "hi");
            assert_eq!(https_proxy.targets(), [server.addr().to_string()]);
            assert!(http_proxy.targets().is_empty());
        },
    );
}

/// `NO_PROXY` as curl, requests and Go read it: entries trimmed, address ranges, ports. ureq's
/// own matching missed each of these lists (one case each), so the request went to the proxy.
#[test]
fn no_proxy_is_read_as_curl_reads_it() {
    // It sets ALL_PROXY and NO_PROXY, which every session of the process would read.
    crate::alone("proxy::no_proxy_is_read_as_curl_reads_it", || {
        let server = TestServer::start(|_| Reply::ok("hi"));
        let proxy = Socks5Proxy::start();
        for var in ["all_proxy", "https_proxy", "http_proxy", "no_proxy"] {
            std::env::remove_var(var);
            std::env::remove_var(var.to_uppercase());
        }
        std::env::set_var("ALL_PROXY", proxy.url());
        let port = server.addr().port();
        assert!(server.url().starts_with("http://127.0.0.1:"));
        let lists = [
            ("localhost, 127.0.0.1".to_string(), true),
            ("10.0.0.0/8,127.0.0.0/8".to_string(), true),
            (format!("127.0.0.1:{port}"), true),
            (format!("127.0.0.1:{}", port.wrapping_add(1)), false),
            ("10.0.0.0/8, example.com".to_string(), false),
        ];
        for (list, direct) in lists {
            std::env::set_var("NO_PROXY", &list);
            let before = proxy.targets().len();
            let resp = FuturesSession::new()
                .get(server.url())
                .send()
                .result()
                .unwrap_or_else(|e| panic!("NO_PROXY={list:?}: {e}"));
            assert_eq!(resp.text().unwrap(), "hi");
            let proxied = proxy.targets().len() - before;
            assert_eq!(proxied, usize::from(!direct), "NO_PROXY={list:?}");
        }
        // A proxy set on the builder does not read NO_PROXY, as ureq's does not.
        std::env::set_var("NO_PROXY", "127.0.0.0/8");
        let before = proxy.targets().len();
        let session = FuturesSession::builder()
            .proxy(ureq::Proxy::new(&proxy.url()).unwrap())
            .build();
        session.get(server.url()).send().result().unwrap();
        assert_eq!(proxy.targets().len() - before, 1);
    });
}

/// A proxy variable ureq cannot read (a space in the password) or reads with the user name as
/// the host (a `#` in the password): the requests it would serve are refused, saying what to
/// fix, rather than sent direct without a word (or to a host named after the user).
#[test]
fn an_environment_proxy_that_cannot_be_read_as_written_refuses_the_requests_it_would_serve() {
    crate::alone(
        "proxy::an_environment_proxy_that_cannot_be_read_as_written_refuses_the_requests_it_would_serve",
        || {
            let server = TestServer::start(|_| Reply::ok("hi"));
            let proxy = Socks5Proxy::start();
            for var in ["all_proxy", "https_proxy", "http_proxy", "no_proxy"] {
                std::env::remove_var(var);
                std::env::remove_var(var.to_uppercase());
            }
            let at = proxy.url().replace("socks5://", "");
            for (value, says) in [
                (
                    format!("socks5://user:pa ss@{at}"),
                    "HTTPS_PROXY is set, but not to a proxy URL that can be read (the requests \
                     would go direct): percent-encode its user name and password (a space as %20",
                ),
                (
                    "not a proxy url ::".to_string(),
                    "HTTPS_PROXY is set, but not to a proxy URL that can be read (the requests \
                     would go direct): write it as a proxy URL, as in http://proxy.example:3128",
                ),
                (
                    format!("socks5://user:pa#ss@{at}"),
                    "HTTPS_PROXY names a proxy whose user name or password holds a character \
                     that ends it early, so that it reads as the host: percent-encode",
                ),
            ] {
                std::env::set_var("HTTPS_PROXY", &value);
                let err = FuturesSession::new()
                    .get(server.url())
                    .send()
                    .result()
                    .unwrap_err();
                let text = err.to_string();
                assert!(matches!(err, Error::InvalidRequest(_)), "{value}: {err:?}");
                assert!(text.contains(says), "{value}: {text}");
                assert!(text.contains("SessionBuilder::proxy(None)"), "{text}");
                assert!(!text.contains("pa ss") && !text.contains("pa#ss"), "{text}");
                // NO_PROXY still sends its hosts direct, and a session set to go direct goes.
                std::env::set_var("NO_PROXY", "127.0.0.1");
                let resp = FuturesSession::new().get(server.url()).send().result();
                assert_eq!(resp.unwrap().text().unwrap(), "hi", "{value}");
                std::env::remove_var("NO_PROXY");
                let direct = FuturesSession::builder().proxy(None).build();
                direct.get(server.url()).send().result().unwrap();
            }
            // Escaped as the message says, the proxy serves.
            std::env::set_var("HTTPS_PROXY", format!("socks5://user:pa%20ss@{at}"));
            let resp = FuturesSession::new().get(server.url()).send().result();
            assert_eq!(resp.unwrap().text().unwrap(), "hi");
            assert_eq!(proxy.targets(), [server.addr().to_string()]);
            assert_eq!(server.request_count(), 7);
            // In a CGI script HTTP_PROXY is a client's `Proxy:` header: an unreadable one
            // refuses nothing ("httpoxy").
            std::env::remove_var("HTTPS_PROXY");
            std::env::set_var("REQUEST_METHOD", "GET");
            std::env::set_var("HTTP_PROXY", "http://a b@127.0.0.1:1");
            let resp = FuturesSession::new().get(server.url()).send().result();
            assert_eq!(resp.unwrap().text().unwrap(), "hi");
            // Nor does a readable one hide an unreadable ALL_PROXY.
            std::env::set_var("HTTP_PROXY", proxy.url());
            std::env::set_var("ALL_PROXY", format!("socks5://user:pa ss@{at}"));
            let err = FuturesSession::new().get(server.url()).send().result();
            assert!(
                matches!(&err, Err(Error::InvalidRequest(m)) if m.contains("was not sent: ALL_PROXY is set")),
                "{err:?}"
            );
            std::env::remove_var("ALL_PROXY");
            std::env::remove_var("REQUEST_METHOD");
            std::env::remove_var("HTTP_PROXY");
        },
    );
}

/// "httpoxy": a CGI server puts a client's `Proxy:` header into the environment as
/// `HTTP_PROXY`; a CGI script (`REQUEST_METHOD` set) ignores it, as Go and Python do, and takes
/// the lower-case `http_proxy`, which no client can set. And an empty `NO_PROXY` does not hide
/// a `no_proxy` list, as with curl.
#[test]
fn a_cgi_script_ignores_http_proxy_and_an_empty_no_proxy_hides_nothing() {
    crate::alone(
        "proxy::a_cgi_script_ignores_http_proxy_and_an_empty_no_proxy_hides_nothing",
        || {
            let server = TestServer::start(|_| Reply::ok("hi"));
            // Proxies that refuse every CONNECT: a request through one fails, and it counts.
            let evil = TestServer::start(|_| Reply::status(502, "no"));
            let lower = TestServer::start(|_| Reply::status(502, "no"));
            for var in ["all_proxy", "https_proxy", "http_proxy", "no_proxy"] {
                std::env::remove_var(var);
                std::env::remove_var(var.to_uppercase());
            }
            let get = || FuturesSession::new().get(server.url()).send().result();
            std::env::set_var("HTTP_PROXY", evil.url());
            std::env::set_var("REQUEST_METHOD", "GET");
            assert_eq!(get().unwrap().text().unwrap(), "hi", "went direct");
            assert_eq!(evil.request_count(), 0, "HTTP_PROXY served a CGI script");

            std::env::set_var("http_proxy", lower.url());
            assert!(get().is_err());
            assert_eq!(lower.request_count(), 1, "http_proxy did not serve");
            assert_eq!(evil.request_count(), 0);

            // Outside CGI, ureq's choice stands: HTTP_PROXY first.
            std::env::remove_var("REQUEST_METHOD");
            std::env::remove_var("http_proxy");
            assert!(get().is_err());
            assert_eq!(evil.request_count(), 1, "HTTP_PROXY did not serve");

            std::env::set_var("NO_PROXY", "");
            std::env::set_var("no_proxy", "127.0.0.1");
            assert_eq!(get().unwrap().text().unwrap(), "hi", "no_proxy was hidden");
            assert_eq!(evil.request_count(), 1);
        },
    );
}

#[test]
fn a_proxy_that_refuses_the_connection_is_named_rather_than_the_server() {
    let server = TestServer::start(|_| Reply::ok("hi"));
    let proxy = closed_port_url();
    let proxy_hp = proxy.trim_start_matches("http://").to_string();
    let with_key = proxy.replace("http://", "http://pu:proxy-secret@");
    let session = FuturesSession::builder()
        .proxy(ureq::Proxy::new(&with_key).unwrap())
        .build();
    for url in [
        server.url_for("/x?key=secret"),
        "https://example.com/x?key=secret".to_string(),
    ] {
        let err = session.get(&url).send().result().unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{err:?}"
        );
        assert!(
            text.starts_with(&format!(
                "io: connect to the proxy {proxy_hp} failed for url: {}",
                ureq_futures::redact_url(&url)
            )),
            "{text}"
        );
        assert!(text.contains("SessionBuilder::proxy"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
    assert_eq!(server.request_count(), 0);
}

/// An HTTP proxy that answers every CONNECT with `407 Proxy Authentication Required`.
fn proxy_asking_for_credentials() -> std::net::SocketAddr {
    proxy_asking_for_credentials_counted().0
}

/// [`proxy_asking_for_credentials`], and how many connections it was asked for.
fn proxy_asking_for_credentials_counted() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    counting_proxy_answering(
        b"HTTP/1.1 407 Proxy Authentication Required\r\n\
          Proxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n",
    )
}

/// An HTTP proxy that answers every request with `answer`, and the CONNECTs it was asked for.
fn proxy_answering(answer: &'static [u8]) -> std::net::SocketAddr {
    counting_proxy_answering(answer).0
}

/// [`proxy_answering`], and how many connections it was asked for.
fn counting_proxy_answering(
    answer: &'static [u8],
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&count);
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = sock.set_read_timeout(Some(support::ms(2000)));
            let mut head = Vec::new();
            let mut buf = [0; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf) {
                    Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            let _ = sock.write_all(answer);
        }
    });
    (addr, count)
}

const PROXY_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";

/// A proxy that could not open the tunnel (a 503: it did not reach the server) may open it on
/// another attempt, as urllib3 and httpx retry it; one that wants credentials (a 407) refuses
/// every attempt.
#[test]
fn a_tunnel_the_proxy_could_not_open_is_retried_and_a_refused_one_is_not() {
    use std::sync::atomic::Ordering;
    // A GET through `proxy` under a policy of 3 attempts: its error.
    let through = |proxy: std::net::SocketAddr| {
        FuturesSession::builder()
            .proxy(ureq::Proxy::new(&format!("http://{proxy}")).unwrap())
            .retry(
                ureq_futures::RetryPolicy::new()
                    .attempts(3)
                    .base_delay(support::ms(5)),
            )
            .build()
            .get("https://example.com/v1")
            .send()
            .result()
            .unwrap_err()
    };
    let (busy, tries) = counting_proxy_answering(PROXY_503);
    let err = through(busy);
    assert_eq!(tries.load(Ordering::SeqCst), 3, "{err}");
    assert!(
        err.to_string().ends_with(
            "answered 503 Service Unavailable to the CONNECT for example.com:443 for url: \
             https://example.com/v1 (after 3 attempts, the most RetryPolicy::attempts allows)"
        ),
        "{err}"
    );
    let (refusing, tries) = proxy_asking_for_credentials_counted();
    let err = through(refusing);
    assert_eq!(tries.load(Ordering::SeqCst), 1, "{err}");
}

/// The same for an `EventSource`: a 503 to its CONNECT is reconnected after, a 407 ends it.
#[test]
fn an_event_source_retries_a_tunnel_the_proxy_could_not_open_only() {
    use std::sync::atomic::Ordering;
    let through = |proxy: std::net::SocketAddr, attempts: u32| {
        FuturesSession::builder()
            .proxy(ureq::Proxy::new(&format!("http://{proxy}")).unwrap())
            .build()
            .get("https://example.com/events")
            .event_source()
            .initial_retry(support::ms(5))
            .max_attempts(attempts)
    };
    let (busy, tries) = counting_proxy_answering(PROXY_503);
    let mut source = through(busy, 2);
    let err = source.next().unwrap().unwrap_err();
    assert_eq!(tries.load(Ordering::SeqCst), 2, "{err}");
    assert!(
        err.to_string()
            .ends_with("(after 2 attempts in a row, the most EventSource::max_attempts allows)"),
        "{err}"
    );
    let (refusing, tries) = proxy_asking_for_credentials_counted();
    let mut source = through(refusing, 5);
    let err = source.next().unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::Transport(ureq::Error::ConnectProxyFailed(_))),
        "{err:?}"
    );
    assert_eq!(tries.load(Ordering::SeqCst), 1, "{err}");
    assert!(source.next().is_none());
}

/// A proxy that answers the CONNECT with something other than HTTP (the port of another
/// service): the message names the proxy and its answer, not the server, which was never
/// reached, and does not suggest https:// for the server.
#[test]
fn a_proxy_whose_answer_to_the_connect_is_not_http_is_named() {
    let addr = proxy_answering(b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
    let session = FuturesSession::builder()
        .proxy(ureq::Proxy::new(&format!("http://{addr}")).unwrap())
        .build();
    for url in ["http://example.com:8080/feed", "https://example.com/feed"] {
        let err = session.get(url).send().result().unwrap_err();
        let text = err.to_string();
        let server = url
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let server = server.split('/').next().unwrap();
        let server = if server.contains(':') {
            server.to_string()
        } else {
            format!("{server}:443")
        };
        assert!(
            text.starts_with(&format!(
                "io: read the answer of the proxy {addr} failed for url: {url}: "
            )),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(
                "(the proxy's answer to the CONNECT for {server} does not start as HTTP does: is \
                 {addr} an HTTP proxy?)"
            )),
            "{text}"
        );
    }
}

/// An `https://` proxy whose certificate the session does not trust: the handshake that
/// failed is the proxy's, and the fix is to trust the proxy's CA; the server was never reached.
#[test]
fn an_https_proxy_with_an_untrusted_certificate_is_named_rather_than_the_server() {
    crate::security::need_openssl();
    let tls = crate::security::SelfSignedServer::start_with(&[]).expect("openssl s_server");
    let server = TestServer::start(|_| Reply::ok("hi"));
    let at = format!("localhost:{}", tls.port);
    let session = FuturesSession::builder()
        .proxy(ureq::Proxy::new(&format!("https://user:secret@{at}")).unwrap())
        .build();
    for url in [server.url(), "https://example.com/feed".to_string()] {
        let err = session.get(&url).send().result().unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "io: TLS handshake with the proxy {at} failed for url: "
            )),
            "{text}"
        );
        assert!(
            text.contains(
                "UnknownIssuer (the proxy's certificate is not signed by a CA this session \
                 trusts: trust its CA certificate with SessionBuilder::tls_config and \
                 RootCerts::Specific (the servers' certificates are then checked against it \
                 too); the proxy set with SessionBuilder::proxy)"
            ),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }
    assert_eq!(server.request_count(), 0);
}

/// ureq tunnels an `http://` URL through an HTTP proxy with CONNECT, where requests and curl
/// send `GET http://...`; squid's default configuration and tinyproxy's allow CONNECT to port
/// 443 only and answer 403 to the rest. The message says so.
#[test]
fn a_proxy_that_forbids_the_connect_of_an_http_url_is_explained() {
    let addr = proxy_answering(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    let session = FuturesSession::builder()
        .proxy(ureq::Proxy::new(&format!("http://{addr}")).unwrap())
        .build();
    let err = session
        .get("http://example.com:8080/feed")
        .send()
        .result()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport(ureq::Error::ConnectProxyFailed(_))),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "transport: CONNECT proxy failed: the proxy {addr} answered 403 Forbidden to the \
             CONNECT for example.com:8080 for url: http://example.com:8080/feed (http:// URLs \
             go through an HTTP proxy by CONNECT too, and many proxies allow CONNECT to port 443 \
             only, as squid's and tinyproxy's default configurations do)"
        )
    );
    // For an https:// URL the CONNECT is what any client sends: no such note.
    let text = session
        .get("https://example.com/feed")
        .send()
        .result()
        .unwrap_err()
        .to_string();
    assert!(
        text.ends_with("answered 403 Forbidden to the CONNECT for example.com:443 for url: https://example.com/feed"),
        "{text}"
    );
}

#[test]
fn a_proxy_that_answers_407_is_named_with_the_url_and_the_fix() {
    let addr = proxy_asking_for_credentials();
    let url = "https://example.com/v1?key=secret";
    let without = FuturesSession::builder()
        .proxy(ureq::Proxy::new(&format!("http://{addr}")).unwrap())
        .build();
    let err = without.get(url).send().result().unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Transport(ureq::Error::ConnectProxyFailed(_))),
        "{err:?}"
    );
    assert!(
        text.contains(&format!(
            "the proxy {addr} answered 407 Proxy Authentication Required to the CONNECT for \
             example.com:443 for url: https://example.com/v1?<redacted>"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("http://user:password@{addr}")),
        "{text}"
    );
    // With credentials in the proxy URL, they are the problem, and they are not shown.
    let with = FuturesSession::builder()
        .proxy(ureq::Proxy::new(&format!("http://pu:proxy-secret@{addr}")).unwrap())
        .build();
    let text = with.get(url).send().result().unwrap_err().to_string();
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn a_failure_past_the_proxy_says_it_went_through_the_proxy() {
    use std::io::Read;
    // A proxy that reads the CONNECT and resets the connection instead of answering.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let mut sock = sock;
            let _ = sock.set_read_timeout(Some(support::ms(2000)));
            let _ = sock.read(&mut [0; 4096]);
            let _ = socket2::SockRef::from(&sock).set_linger(Some(std::time::Duration::ZERO));
        }
    });
    let text = io_error_through(
        &format!("http://{addr}"),
        "https://example.com/v1?key=secret",
    );
    assert!(
        text.contains(&format!(
            "from example.com:443 through the proxy {addr} failed for url: \
             https://example.com/v1?<redacted>"
        )),
        "{text}"
    );
    // For an http:// URL nothing follows the CONNECT while the connection is made: the reset
    // is the proxy's answer.
    let text = io_error_through(&format!("http://{addr}"), "http://example.com/v1");
    assert!(
        text.starts_with(&format!(
            "io: read the answer of the proxy {addr} failed for url: http://example.com/v1: "
        )),
        "{text}"
    );
}

#[test]
fn a_proxy_name_that_does_not_resolve_is_named_whatever_the_server() {
    // `.invalid` never resolves (RFC 6761); a resolver that answers it anyway makes the case
    // meaningless, and the test fails.
    crate::transport_errors::assert_invalid_names_do_not_resolve();
    let session = FuturesSession::builder()
        .proxy(ureq::Proxy::new("http://proxy.invalid:3128").unwrap())
        .build();
    for url in [
        "https://127.0.0.1:1/x?key=secret",
        "https://example.com/x?key=secret",
    ] {
        let err = session.get(url).send().result().unwrap_err();
        let text = err.to_string();
        assert!(matches!(&err, Error::Io(_)), "{err:?}");
        assert!(
            text.starts_with(&format!(
                "io: resolve the proxy proxy.invalid failed for url: {}",
                ureq_futures::redact_url(url)
            )),
            "{text}"
        );
    }
}

/// A `socks5://` proxy has this machine look up the server's name: a name that does not
/// resolve here says so, and that `socks5h://` has the proxy look it up. It read `resolve ...
/// through the proxy`, which is where it did not happen.
#[test]
fn a_name_a_socks5_proxy_leaves_to_the_client_says_where_it_was_looked_up() {
    crate::transport_errors::assert_invalid_names_do_not_resolve();
    let proxy = Socks5Proxy::start();
    let at = proxy.url().replace("socks5://", "");
    let text = io_error_through(&proxy.url(), "http://nothing-here.invalid/x?key=secret");
    let want = format!(
        "io: resolve nothing-here.invalid to connect through the proxy {at} failed for url: \
         http://nothing-here.invalid/x?<redacted>"
    );
    assert!(text.starts_with(&want), "{text}");
    assert!(
        text.contains(
            "(the server's name is looked up here, not by the proxy, as a socks5:// proxy URL \
             asks: socks5h:// has the proxy look it up"
        ),
        "{text}"
    );
    assert!(proxy.targets().is_empty());
    // A proxy with a name of its own: which lookup failed is not known, and socks5h:// would
    // not mend the proxy's.
    let text = io_error_through("socks5://proxy.invalid:1080", "http://localhost:1/x");
    assert!(!text.contains("socks5h://"), "{text}");
}

/// A `socks5://` proxy URL that names another service's port (an HTTP proxy's): its answer is
/// not SOCKS, and the error says so of the proxy. It read `request to ... through the proxy
/// ... failed: invalid response version`.
#[test]
fn a_socks_proxy_that_answers_in_http_is_named_as_no_socks_proxy() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let _ = std::io::Write::write_all(&mut socket, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let text = io_error_through(&format!("socks5://{at}"), "http://127.0.0.1:1/x");
    assert!(
        text.starts_with(&format!("io: read the answer of the proxy {at} failed")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "the proxy's answer is not SOCKS: is {at} a SOCKS proxy?"
        )),
        "{text}"
    );
    assert!(
        text.contains("the proxy set with SessionBuilder::proxy"),
        "{text}"
    );
}

#[test]
fn a_proxy_authorization_header_is_refused_where_it_would_pass_the_proxy() {
    // ureq gives a proxy the credentials of its URL only: the header would go through the
    // tunnel to the server. Refused before anything is sent; without a proxy it goes as set.
    let server = TestServer::start(|req| {
        Reply::ok(req.header("proxy-authorization").unwrap_or("-").to_string())
    });
    let proxy = Socks5Proxy::start();
    let session = FuturesSession::builder()
        .proxy(ureq::Proxy::new(&proxy.url()).unwrap())
        .build();
    let err = session
        .get(server.url_for("/x"))
        .header("Proxy-Authorization", "Basic c2VjcmV0OnByb3h5")
        .send()
        .result()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("Proxy-Authorization") && message.contains("in its URL"));
    assert!(!message.contains("c2VjcmV0"), "{message}");
    assert_eq!(server.request_count(), 0);
    assert!(proxy.targets().is_empty());
    let direct = FuturesSession::builder().proxy(None).build();
    let resp = direct
        .get(server.url_for("/x"))
        .header("Proxy-Authorization", "Basic c2VjcmV0OnByb3h5")
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "Basic c2VjcmV0OnByb3h5");
}
