//! Security properties: TLS verification on by default, credentials kept from other hosts on
//! redirects, and API keys absent from every `Debug` and `Display` output.
//!
//! "Another host" on a redirect: ureq (`redirect_auth_headers`, default
//! `RedirectAuthHeaders::Never`) drops `Authorization` on *every* redirect, and with `SameHost`
//! compares the host name only, not the port. We hold the stricter line of browsers: a
//! different host name *or* port is another origin and must receive no credential. The tests
//! redirect from `127.0.0.1:A` to `localhost:B` (another name and port) and to `127.0.0.1:B`
//! (the same name, another port).

use std::io::BufRead;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use support::{closed_port_url, ms, secs, Reply, Request, TestServer, SLOW_ANSWER};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
#[cfg(feature = "llm")]
use ureq_futures::llm::{
    AnthropicClient, CohereClient, GeminiClient, Message, MistralClient, OpenAIClient,
    TogetherClient,
};
use ureq_futures::{Error, FuturesSession};

/// The credential every test hides. Long and unusual, so that a match is never a coincidence.
const KEY: &str = "sk-SECRET-7f3a9c41e8b2d6";

/// Asserts that `text` does not contain the key.
fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what} shows the key: {text}");
}

/// An OpenAI client of `server` with the key [`KEY`] (and no environment).
#[cfg(feature = "llm")]
fn keyed_openai(server: &TestServer) -> OpenAIClient {
    OpenAIClient::builder("m", 0.0)
        .env(|_| None)
        .api_key(KEY)
        .base_url(server.url())
        .build()
}

/// Asserts that neither the `Display` nor the `Debug` output of `e` contains the key.
fn assert_error_hides_key(what: &str, e: &Error) {
    assert_hidden(&format!("{what} (Display)"), &e.to_string());
    assert_hidden(&format!("{what} (Debug)"), &format!("{e:?}"));
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

fn assert_verifying(what: &str, tls: &TlsConfig) {
    assert!(!tls.disable_verification(), "{what}: verification is off");
    assert!(
        matches!(tls.root_certs(), RootCerts::WebPki),
        "{what}: roots are {:?}, expected Mozilla's (WebPki)",
        tls.root_certs()
    );
    assert_eq!(tls.provider(), TlsProvider::Rustls, "{what}");
}

#[test]
fn tls_verification_is_on_by_default_everywhere() {
    // Bound: instant (no I/O).
    let session = FuturesSession::new();
    assert_verifying("FuturesSession::new", session.agent().config().tls_config());
    let built = FuturesSession::builder().max_workers(2).build();
    assert_verifying("SessionBuilder", built.agent().config().tls_config());
    #[cfg(feature = "llm")]
    {
        let no_env = |_: &str| None;
        let openai = OpenAIClient::builder("m", 0.0).env(no_env).build();
        assert_verifying(
            "OpenAIClient",
            openai.session().agent().config().tls_config(),
        );
        let anthropic = AnthropicClient::builder("m", 0.0).env(no_env).build();
        assert_verifying(
            "AnthropicClient",
            anthropic.session().agent().config().tls_config(),
        );
        let gemini = GeminiClient::builder("m", 0.0).env(no_env).build();
        assert_verifying(
            "GeminiClient",
            gemini.session().agent().config().tls_config(),
        );
        let cohere = CohereClient::builder("m", 0.0).env(no_env).build();
        assert_verifying(
            "CohereClient",
            cohere.session().agent().config().tls_config(),
        );
    }
}

/// An `openssl s_server` on 127.0.0.1 with a fresh self-signed certificate; killed on drop.
pub(crate) struct SelfSignedServer {
    child: Child,
    dir: PathBuf,
    pub(crate) port: u16,
}

impl SelfSignedServer {
    /// `None` when the `openssl` tool is not installed.
    fn start() -> Option<SelfSignedServer> {
        SelfSignedServer::start_with(&[])
    }

    /// With more `openssl s_server` arguments (`-tls1_2`, `-cipher ...`).
    pub(crate) fn start_with(args: &[&str]) -> Option<SelfSignedServer> {
        // A leaf, not a CA: the only thing wrong with it is that nobody trusts its issuer.
        SelfSignedServer::start_cert("basicConstraints=critical,CA:FALSE", args)
    }

    /// With the certificate's `basicConstraints` and more `openssl s_server` arguments.
    fn start_cert(constraints: &str, args: &[&str]) -> Option<SelfSignedServer> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ureq-futures-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        make_certificate(&dir, constraints)?;
        // Port 0: the server takes a free port itself and says which (`ACCEPT 127.0.0.1:PORT`
        // on stdout, once it listens), so no other test can take the port in between.
        let mut child = Command::new("openssl")
            .args(["s_server", "-www"])
            .args(args)
            .args(["-accept", "127.0.0.1:0"])
            .arg("-cert")
            .arg(dir.join("cert.pem"))
            .arg("-key")
            .arg(dir.join("key.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut out = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let port = loop {
            line.clear();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                panic!("openssl s_server ended without saying where it listens");
            }
            let port = line
                .strip_prefix("ACCEPT ")
                .and_then(|at| at.trim().rsplit(':').next());
            if let Some(port) = port.and_then(|p| p.parse::<u16>().ok()) {
                break port;
            }
        };
        // What it prints for each connection goes nowhere, and never fills the pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let server = SelfSignedServer { child, dir, port };
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "openssl s_server does not listen where it said"
        );
        Some(server)
    }
}

/// Makes `cert.pem` and `key.pem` in `dir` with the `openssl` tool: a certificate for
/// `localhost` and 127.0.0.1 with the given `basicConstraints`, valid for a day. `None` when the
/// tool cannot be run.
fn make_certificate(dir: &Path, constraints: &str) -> Option<()> {
    let made = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "1", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", constraints])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    assert!(made.success(), "openssl could not make a certificate");
    Some(())
}

/// A self-signed leaf certificate and its key, PEM, for a TLS server of a test's own.
pub(crate) fn self_signed_pem() -> (Vec<u8>, Vec<u8>) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ureq-futures-pem-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    make_certificate(&dir, "basicConstraints=critical,CA:FALSE").expect("the openssl tool");
    let read = |name: &str| std::fs::read(dir.join(name)).expect(name);
    let pem = (read("cert.pem"), read("key.pem"));
    let _ = std::fs::remove_dir_all(&dir);
    pem
}

impl SelfSignedServer {
    /// The server's certificate, PEM.
    pub(crate) fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("cert.pem")).expect("cert.pem")
    }
}

impl Drop for SelfSignedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fails the test where the `openssl` command, which runs the local TLS servers, cannot be
/// run (`.ci/run` installs it).
pub(crate) fn need_openssl() {
    let available = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        available,
        "this test needs the `openssl` tool to run a local TLS server: install openssl"
    );
}

/// The error of a request to `server` from a session that trusts its certificate.
fn trusted_request_error(server: &SelfSignedServer) -> Error {
    let url = format!("https://localhost:{}/", server.port);
    let session = trusting_only(&server.cert_pem());
    session
        .get(&url)
        .timeout(secs(5))
        .send()
        .result()
        .unwrap_err()
}

#[test]
fn a_self_signed_certificate_is_refused() {
    // Bound: 20 s (certificate generation, server start, two handshakes). Needs the `openssl`
    // tool, for the server only (every CI image has it).
    need_openssl();
    let started = Instant::now();
    let server = SelfSignedServer::start().expect("openssl s_server");
    let url = format!("https://localhost:{}/", server.port);
    let session = FuturesSession::builder().max_workers(1).build();
    match session.get(&url).timeout(secs(5)).send().result() {
        // rustls's verdict reaches us through ureq's transport as an I/O error of kind
        // InvalidData (not as Error::Transport).
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            // It says which step failed, where, and how to trust a private CA (then, where
            // the environment names a CA bundle for other tools, that it is not read).
            let text = e.to_string();
            let said = format!(
                "TLS handshake with localhost:{} failed for url: {url}: invalid peer \
                 certificate: UnknownIssuer (the server's certificate is not signed by a CA \
                 this session trusts: the bundled Mozilla roots, unless \
                 SessionBuilder::tls_config says otherwise; for a private CA, or a proxy \
                 that inspects TLS, trust its CA certificate with SessionBuilder::tls_config \
                 and RootCerts::Specific",
                server.port
            );
            assert!(text.starts_with(&said) && text.ends_with(')'), "{text}");
        }
        other => panic!("a self-signed certificate was accepted: {other:?}"),
    }
    // The same server with verification switched off answers: the refusal above was the
    // certificate check, not a broken server.
    let insecure: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().disable_verification(true).build())
        .build()
        .into();
    let lenient = FuturesSession::builder().agent(insecure).build();
    let resp = lenient.get(&url).timeout(secs(5)).send().result();
    assert_eq!(resp.expect("insecure request").status(), 200);
    // And a session told to trust that certificate (`tls_config`, a private CA) verifies it.
    let trusting = trusting_only(&server.cert_pem());
    let resp = trusting.get(&url).timeout(secs(5)).send().result();
    assert_eq!(resp.expect("request to a trusted private CA").status(), 200);
    assert!(started.elapsed() < secs(20), "took {:?}", started.elapsed());
}

/// A session that trusts only the certificates in `pem` (`tls_config`, a private CA).
fn trusting_only(pem: &[u8]) -> FuturesSession {
    let certs: Vec<_> = ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    FuturesSession::builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
                .build(),
        )
        .build()
}

/// A server that wants a client certificate (TLS 1.3's `certificate_required` alert) is
/// told apart from a broken one: the error says to give one, and where.
#[test]
fn a_server_that_wants_a_client_certificate_says_so() {
    need_openssl();
    let server = SelfSignedServer::start_with(&["-tls1_3", "-Verify", "1"]).expect("s_server");
    let text = trusted_request_error(&server).to_string();
    assert!(text.contains("CertificateRequired"), "{text}");
    assert!(
        text.contains(&format!("localhost:{}", server.port)),
        "{text}"
    );
    assert!(
        text.contains("the server asks for a client certificate: give one with"),
        "{text}"
    );
}

/// `openssl req -x509` makes a CA certificate unless told otherwise (`CA:TRUE` in Debian's and
/// most openssl.cnf), and rustls refuses a CA certificate as a server's own even when it is
/// trusted, where curl accepts it: the message says what to change.
#[test]
fn a_ca_certificate_used_as_the_servers_own_is_explained() {
    need_openssl();
    let server = SelfSignedServer::start_cert("basicConstraints=critical,CA:TRUE", &[])
        .expect("openssl s_server");
    let err = trusted_request_error(&server);
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData),
        "{err:?}"
    );
    assert!(
        text.starts_with(&format!(
            "io: TLS handshake with localhost:{0} failed for url: https://localhost:{0}/: \
             invalid peer certificate",
            server.port
        )),
        "{text}"
    );
    assert!(
        text.ends_with(
            "(the server's certificate is a CA certificate (basicConstraints CA:TRUE), which \
             rustls refuses as a server's own, trusted or not: make it a leaf \
             (openssl req -x509 ... -addext basicConstraints=critical,CA:FALSE), or sign it \
             with a CA and trust that CA)"
        ),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------------

/// Where redirects land: records every request, answers 200 (an event stream on `/landed-sse`).
fn landing_server() -> TestServer {
    TestServer::start(|req| {
        if req.path_only() == "/landed-sse" {
            Reply::sse(["data: landed\n\n"], ms(0))
        } else {
            Reply::ok("landed")
        }
    })
}

/// Redirects every request with `status` to `target{path}`, where `path` is the request's
/// path with `/landed` put in front (so `/x` goes to `{target}/landed`, `/x-sse` to
/// `{target}/landed-sse`), without the query.
fn redirecting_server(status: u16, target: String) -> TestServer {
    TestServer::start(move |req| {
        let sse = if req.path_only().ends_with("-sse") {
            "-sse"
        } else {
            ""
        };
        Reply::status(status, "moved").header("Location", format!("{target}/landed{sse}"))
    })
}

/// The two other origins a redirect can lead to from `127.0.0.1:A`.
fn other_origins(landing: &TestServer) -> [String; 2] {
    let port = landing.addr().port();
    [
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
    ]
}

/// Asserts that the landing server got requests and that none of them carries the key, in any
/// header or in the path.
fn assert_no_key_arrived(landing: &TestServer, what: &str) {
    let requests = landing.requests();
    assert!(
        !requests.is_empty(),
        "{what}: the redirect was not followed"
    );
    for Request { path, headers, .. } in requests {
        assert_hidden(&format!("{what}: path"), &path);
        for (name, value) in headers {
            assert_hidden(&format!("{what}: header {name}"), &value);
        }
    }
}

/// Follows a redirect from a server on 127.0.0.1 to each other origin, with 302 and 307,
/// buffered and as a stream, sending `header: value`; the landing server must not see the key.
fn check_header_not_forwarded(header: &str, value: &str) {
    let landing = landing_server();
    let session = FuturesSession::builder()
        .max_workers(2)
        .timeout(secs(5))
        .build();
    for target in other_origins(&landing) {
        for status in [302, 307] {
            let origin = redirecting_server(status, target.clone());
            let what = format!("{header} via {status} to {target}");
            let resp = session
                .get(origin.url_for("/x"))
                .header(header, value)
                .send()
                .result()
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(resp.status(), 200, "{what}");
            assert_eq!(resp.url(), format!("{target}/landed"), "{what}");
            let stream = session
                .get(origin.url_for("/x-sse"))
                .header(header, value)
                .events()
                .result()
                .unwrap_or_else(|e| panic!("{what} (stream): {e}"));
            assert_eq!(
                stream.map(|e| e.unwrap().data).collect::<Vec<_>>(),
                ["landed"]
            );
            // The header did go out: to the origin.
            let sent = origin.requests();
            assert!(
                sent.iter().all(|r| r.header(header) == Some(value)),
                "{what}: the origin did not get the header"
            );
            assert_no_key_arrived(&landing, &what);
        }
    }
}

#[test]
fn authorization_is_not_sent_to_another_origin_on_redirect() {
    // Bound: 10 s for the eight redirects.
    let started = Instant::now();
    check_header_not_forwarded("authorization", &format!("Bearer {KEY}"));
    // A session's default header is merged into each request: the same rule.
    let landing = landing_server();
    let [target, _] = other_origins(&landing);
    let origin = redirecting_server(302, target);
    let session = FuturesSession::builder()
        .header("Authorization", format!("Bearer {KEY}"))
        .build();
    let resp = session.get(origin.url_for("/x")).send().result().unwrap();
    assert_eq!(resp.status(), 200);
    assert_no_key_arrived(&landing, "session default Authorization");
    assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());
}

#[test]
fn api_key_headers_are_not_sent_to_another_origin_on_redirect() {
    // Bound: 10 s. `x-api-key` is how AnthropicClient sends its key, `x-goog-api-key` how
    // GeminiClient does, `api-key` how Azure OpenAI takes one; a server that redirects must not
    // learn where to steal it from.
    let started = Instant::now();
    check_header_not_forwarded("x-api-key", KEY);
    check_header_not_forwarded("x-goog-api-key", KEY);
    check_header_not_forwarded("api-key", KEY);
    assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());
}

#[test]
fn proxy_authorization_and_cookie_are_not_sent_to_another_origin_on_redirect() {
    // Bound: 10 s.
    let started = Instant::now();
    check_header_not_forwarded("proxy-authorization", &format!("Basic {KEY}"));
    check_header_not_forwarded("cookie", &format!("session={KEY}"));
    assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());
}

#[test]
fn a_key_in_the_query_is_not_carried_to_the_redirect_target() {
    // Bound: 5 s. The Location names the new URL in full; the old query must not be appended.
    let started = Instant::now();
    let landing = landing_server();
    let session = FuturesSession::builder().max_workers(2).build();
    for target in other_origins(&landing) {
        let origin = redirecting_server(302, target);
        let resp = session
            .get(origin.url_for("/x"))
            .query("key", KEY)
            .send()
            .result()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(origin.requests()[0].path, format!("/x?key={KEY}"));
        let stream = session
            .get(format!("{}?key={KEY}", origin.url_for("/x-sse")))
            .events()
            .result()
            .unwrap();
        assert_eq!(stream.count(), 1);
    }
    assert_no_key_arrived(&landing, "query key");
    assert!(started.elapsed() < secs(5), "took {:?}", started.elapsed());
}

/// Runs one chat of an LLM client pointed at a server that answers its POST with a 302 to another
/// origin (the session follows a 302 as a GET, and the landing server answers 200 `text/plain`).
/// The chat's outcome is returned but beside the point: what matters is what the landing server
/// saw.
#[cfg(feature = "llm")]
fn llm_redirect_leaks(client: &str) -> (TestServer, Result<(), Error>) {
    let landing = landing_server();
    let [target, _] = other_origins(&landing);
    let origin = redirecting_server(302, target);
    let base = origin.url();
    let messages = [Message::user("hi")];
    let no_env = |_: &str| None;
    let result = match client {
        "openai" => OpenAIClient::builder("m", 0.0)
            .env(no_env)
            .api_key(KEY)
            .base_url(&base)
            .build()
            .stream_chat(&messages)
            .map(drop),
        "cohere" => CohereClient::builder("m", 0.0)
            .env(no_env)
            .api_key(KEY)
            .base_url(&base)
            .build()
            .stream_chat(&messages)
            .map(drop),
        "anthropic" => AnthropicClient::builder("m", 0.0)
            .env(no_env)
            .api_key(KEY)
            .base_url(&base)
            .build()
            .stream_chat(&messages)
            .map(drop),
        "gemini" => GeminiClient::builder("m", 0.0)
            .env(no_env)
            .api_key(KEY)
            .base_url(&base)
            .build()
            .stream_chat(&messages)
            .map(drop),
        other => unreachable!("{other}"),
    };
    // The origin got the key: the client did send it.
    assert!(
        origin
            .requests()
            .iter()
            .any(|r| r.headers.iter().any(|(_, v)| v.contains(KEY))),
        "{client}: the origin did not get the key"
    );
    (landing, result)
}

#[cfg(feature = "llm")]
#[test]
fn bearer_key_llm_clients_do_not_send_their_key_to_another_origin_on_redirect() {
    // Bound: 10 s.
    let started = Instant::now();
    for client in ["openai", "cohere"] {
        let (landing, _result) = llm_redirect_leaks(client);
        assert_no_key_arrived(&landing, client);
    }
    assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());
}

#[cfg(feature = "llm")]
#[test]
fn header_key_llm_clients_do_not_send_their_key_to_another_origin_on_redirect() {
    // Bound: 10 s.
    let started = Instant::now();
    for client in ["anthropic", "gemini"] {
        let (landing, _result) = llm_redirect_leaks(client);
        assert_no_key_arrived(&landing, client);
    }
    assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Redaction: Debug and Display
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "llm")]
#[test]
fn llm_clients_and_builders_hide_the_key() {
    // Bound: instant (no I/O). The key is given three ways: as the key, in an extra header and
    // in the base URL's query.
    let base = format!("http://127.0.0.1:9/v1?key={KEY}");
    let no_env = |_: &str| None;
    macro_rules! check {
        ($what:literal, $builder:expr) => {{
            let builder = $builder
                .env(no_env)
                .api_key(KEY)
                .header("x-extra-credential", KEY)
                .base_url(base.as_str());
            assert_hidden(concat!($what, " builder"), &format!("{builder:?}"));
            assert_hidden(concat!($what, " builder (alt)"), &format!("{builder:#?}"));
            let client = builder.build();
            assert_hidden($what, &format!("{client:?}"));
            assert_hidden(concat!($what, " (alt)"), &format!("{client:#?}"));
            assert!(client.has_api_key(), $what);
        }};
    }
    check!("OpenAIClient", OpenAIClient::builder("m", 0.0));
    check!("MistralClient", MistralClient::builder("m", 0.0));
    check!("TogetherClient", TogetherClient::builder("m", 0.0));
    check!("AnthropicClient", AnthropicClient::builder("m", 0.0));
    check!("GeminiClient", GeminiClient::builder("m", 0.0));
    check!("CohereClient", CohereClient::builder("m", 0.0));
}

#[test]
fn session_request_response_and_stream_hide_the_key() {
    // Bound: 5 s.
    let server = TestServer::start(|req| {
        if req.path_only() == "/sse" {
            Reply::sse(["data: x\n\n"], ms(0))
        } else {
            Reply::ok("x")
        }
    });
    let session = FuturesSession::builder()
        .header("authorization", format!("Bearer {KEY}"))
        .header("x-api-key", KEY)
        .build();
    assert_hidden("FuturesSession", &format!("{session:?}"));
    assert_hidden("FuturesSession (alt)", &format!("{session:#?}"));

    let request = || {
        session
            .get(format!("{}?key={KEY}", server.url_for("/r")))
            .header("x-goog-api-key", KEY)
            .query("api_key", KEY)
            .json(&serde_json::json!({ "key": KEY }))
    };
    assert_hidden("RequestBuilder", &format!("{:?}", request()));
    assert_hidden("RequestBuilder (alt)", &format!("{:#?}", request()));

    let pending = request().send();
    assert_hidden("Pending", &format!("{pending:?}"));
    let resp = pending.result().unwrap();
    assert_eq!(resp.status(), 200);
    assert_hidden("Response", &format!("{resp:?}"));
    assert_hidden("Response (alt)", &format!("{resp:#?}"));

    let stream = session
        .get(format!("{}?key={KEY}", server.url_for("/sse")))
        .events()
        .result()
        .unwrap();
    assert_hidden("EventStream", &format!("{stream:?}"));
    assert_hidden("EventStream (alt)", &format!("{stream:#?}"));
    assert_eq!(stream.count(), 1);

    let source = session
        .get(format!("{}?key={KEY}", server.url_for("/sse")))
        .event_source();
    assert_hidden("EventSource", &format!("{source:?}"));
}

#[test]
fn a_status_error_hides_the_credentials_its_response_sets() {
    // Bound: 5 s. A refused login that sets a session cookie and echoes the key: `unwrap` and a
    // `main` that returns the error print its Debug.
    let server = TestServer::start(|_| {
        Reply::status(401, "denied")
            .header("set-cookie", format!("session={KEY}; HttpOnly"))
            .header("x-api-key", KEY)
    });
    let err = FuturesSession::new()
        .get(format!("{}?key={KEY}", server.url_for("/login")))
        .send()
        .result()
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_hidden("Error::Status", &format!("{err:?}"));
    assert_hidden("Error::Status (alt)", &format!("{err:#?}"));
    assert_hidden("Error::Status (Display)", &err.to_string());
    let Error::Status(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.headers["set-cookie"], format!("session={KEY}; HttpOnly"));
}

#[test]
fn a_status_error_hides_the_credentials_the_server_repeated_from_the_request() {
    // Bound: 10 s for all of them. A server that answers 401 with the request's credential
    // headers in its body (`Incorrect API key provided: Bearer ...`, an echo of the headers):
    // whatever made the status error, its Display and Debug show none of them.
    let server = TestServer::start(|req| {
        let echoed: Vec<String> = req
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        let body = format!(
            "{{\"error\":{{\"message\":\"Incorrect API key provided: {}\"}}}}",
            echoed.join("; ")
        );
        if req.path_only() == "/sse" {
            Reply::status(401, body).content_type("application/json")
        } else {
            Reply::status(401, body).content_type("text/plain")
        }
    });
    let check = |what: &str, err: Error| {
        assert_eq!(err.status(), Some(401), "{what}: {err:?}");
        assert_error_hides_key(what, &err);
        err
    };
    let status_of = |resp: ureq_futures::Response| resp.error_for_status().unwrap_err();

    // The session's bearer token, and the token alone where the server quoted only it.
    let session = FuturesSession::builder().bearer_auth(KEY).build();
    let err = check(
        "session bearer_auth",
        status_of(session.get(server.url_for("/r")).send().result().unwrap()),
    );
    assert!(err.to_string().contains("<redacted>"), "{err}");
    // A request's own basic auth (its base64) and API-key header, through a streamed body.
    let plain = FuturesSession::new();
    let body = plain
        .get(server.url_for("/r"))
        .basic_auth("me", KEY)
        .header("X-Api-Key", KEY)
        .send_streaming()
        .result()
        .unwrap();
    check("request basic_auth", body.error_for_status().unwrap_err());
    let basic = format!("Basic {}", base64_of(&format!("me:{KEY}")));
    let body = plain
        .get(server.url_for("/r"))
        .header("authorization", basic)
        .send_streaming()
        .result()
        .unwrap();
    let err = body.error_for_status().unwrap_err();
    assert!(
        !err.to_string().contains(&base64_of(&format!("me:{KEY}"))),
        "{err}"
    );
    // A cookie's value, and the password of the URL, in an event stream's status error.
    let err = plain
        .get(format!("http://me:{KEY}@{}/sse", server.addr()))
        .header("cookie", format!("theme=dark; session={KEY}"))
        .events()
        .result()
        .unwrap_err();
    check("event stream", err);
    // A retried status (the policy gave up), sent with the session's token.
    let retrying = FuturesSession::builder()
        .bearer_auth(KEY)
        .retry(
            ureq_futures::RetryPolicy::new()
                .attempts(2)
                .base_delay(ms(1))
                .statuses([401]),
        )
        .build();
    let resp = retrying.get(server.url_for("/r")).send().result().unwrap();
    check("retried", status_of(resp));
}

#[test]
fn a_status_error_hides_the_credential_parameters_the_server_repeated_from_the_url() {
    // A server that repeats the request line in its error (`GET /x?key=... not allowed`).
    let server = TestServer::start(|req| {
        let body = format!("{} {} not allowed", req.method, req.path);
        Reply::status(403, body).content_type("text/plain")
    });
    let plain = FuturesSession::new();
    let status_of = |request: ureq_futures::RequestBuilder| {
        let resp = request.send().result().unwrap();
        resp.error_for_status().unwrap_err()
    };
    // In the URL (as written, and percent-encoded), and from `query`; a parameter of another
    // name is left as it is.
    let encoded = KEY.replace('-', "%2D");
    for (what, request) in [
        (
            "url",
            plain.get(format!("{}?page=2&key={KEY}", server.url_for("/x"))),
        ),
        (
            "encoded",
            plain.get(format!("{}?API_Key={encoded}", server.url_for("/x"))),
        ),
        (
            "query",
            plain.get(server.url_for("/x")).query("access_token", KEY),
        ),
    ] {
        let err = status_of(request);
        assert_error_hides_key(what, &err);
        let Error::Status(status) = &err else {
            unreachable!()
        };
        assert_hidden(what, &status.body);
        assert!(!status.body.contains(&encoded), "{what}: {}", status.body);
        assert!(
            status.body.contains("<redacted>"),
            "{what}: {}",
            status.body
        );
    }
    // Parameters whose names only hold such a word are words, and so are their values.
    for name in [
        "page",
        "author",
        "keyword",
        "sort_key",
        "page_token",
        "monkey",
    ] {
        let err = status_of(plain.get(server.url_for("/x")).query(name, KEY));
        let Error::Status(status) = &err else {
            unreachable!()
        };
        assert!(status.body.contains(KEY), "{name}: {}", status.body);
    }
}

#[test]
fn the_jars_cookies_a_password_beyond_ascii_and_an_in_band_error_are_hidden_too() {
    // Bound: 10 s. The same echo, of what the request carried beyond its own headers: the
    // session cookie a login put in the jar, a URL password with a letter beyond ASCII (sent
    // encoded), a basic_auth password the server quotes as text, and an event stream answered
    // with a JSON error (a 200) that names the session's token.
    let server = TestServer::start(|req| match req.path_only() {
        "/login" => Reply::ok("welcome").header("set-cookie", format!("session={KEY}; Path=/")),
        "/sse-json" => Reply::json(format!(
            "{{\"error\":{{\"message\":\"Incorrect API key provided: {}\"}}}}",
            req.header("authorization").unwrap_or_default()
        )),
        "/quote" => Reply::status(
            401,
            format!("{{\"error\":{{\"message\":\"wrong password {KEY}\"}}}}"),
        )
        .content_type("application/json"),
        "/quote-ascii" => Reply::status(
            401,
            r#"{"error":{"message":"wrong password p\u00e4ss-word-7f3a9c41"}}"#,
        )
        .content_type("application/json"),
        "/quote-escaped" => {
            let message = "wrong password pa\"ss\\word-7f3a9c41";
            Reply::status(
                401,
                serde_json::json!({ "error": { "message": message } }).to_string(),
            )
            .content_type("application/json")
        }
        _ => {
            let echoed: Vec<String> = req
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect();
            let message = echoed.join("; ");
            Reply::status(401, format!("{{\"error\":{{\"message\":\"{message}\"}}}}"))
                .content_type("application/json")
        }
    });
    let status = |session: &FuturesSession, url: String| {
        let resp = session.get(url).send().result().unwrap();
        resp.error_for_status().unwrap_err()
    };
    let session = FuturesSession::new(); // a jar, as by default
    session
        .get(server.url_for("/login"))
        .send()
        .result()
        .unwrap();
    let err = status(&session, server.url_for("/r"));
    assert!(err.to_string().contains("cookie: "), "not echoed: {err}");
    assert_error_hides_key("the jar's cookie", &err);

    let password = format!("{KEY}\u{e4}");
    let err = status(
        &session,
        format!("http://me:{password}@{}/r", server.addr()),
    );
    assert!(
        err.to_string().contains("authorization: "),
        "not echoed: {err}"
    );
    assert!(
        !err.to_string()
            .contains(&base64_of(&format!("me:{password}"))),
        "{err}"
    );

    let err = session
        .get(server.url_for("/quote"))
        .basic_auth("me", KEY)
        .send()
        .result()
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_error_hides_key("basic_auth's password as text", &err);
    // A password with a quote and a backslash, which the JSON body escapes (a session of its
    // own: the jar's cookie above holds KEY, which every request here hides).
    let refused = |path: &str, password: &str| {
        let sent = FuturesSession::new()
            .get(server.url_for(path))
            .basic_auth("me", password);
        sent.send()
            .result()
            .unwrap()
            .error_for_status()
            .unwrap_err()
    };
    let err = refused("/quote-escaped", "pa\"ss\\word-7f3a9c41");
    let Error::Status(e) = &err else {
        panic!("{err:?}")
    };
    assert!(e.body.contains("<redacted>"), "{}", e.body);
    let text = format!("{err} {err:?}");
    assert!(!text.contains("word-7f3a9c41"), "{text}");
    // Beyond ASCII, which Python's json.dumps writes as \u escapes.
    let err = refused("/quote-ascii", "p\u{e4}ss-word-7f3a9c41");
    let Error::Status(e) = &err else {
        panic!("{err:?}")
    };
    assert!(!e.body.contains("word-7f3a9c41"), "{}", e.body);

    let keyed = FuturesSession::builder().bearer_auth(KEY).build();
    let err = keyed
        .get(server.url_for("/sse-json"))
        .events()
        .result()
        .unwrap_err();
    assert!(matches!(err, Error::Api { .. }), "{err:?}");
    assert_error_hides_key("an event stream's JSON error", &err);
}

#[test]
fn an_https_only_agents_refusal_hides_the_password_and_the_query() {
    // Bound: instant (nothing is sent).
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .https_only(true)
        .build()
        .into();
    let session = FuturesSession::builder().agent(agent).build();
    let err = session
        .get(format!("http://me:{KEY}@127.0.0.1:9/x?key={KEY}"))
        .send()
        .result()
        .unwrap_err();
    assert!(err.to_string().contains("https only"), "{err}");
    assert_error_hides_key("https_only", &err);
}

/// Standard base64 with padding, as a Basic credential is written.
fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}

#[test]

fn session_builder_hides_the_key() {
    // Bound: instant.
    let builder = FuturesSession::builder()
        .header("authorization", format!("Bearer {KEY}"))
        .header("x-api-key", KEY);
    assert_hidden("SessionBuilder", &format!("{builder:?}"));
}

#[test]

fn a_password_in_the_url_is_hidden() {
    // Bound: 5 s.
    let server = TestServer::start(|req| {
        if req.path_only() == "/sse" {
            Reply::sse(["data: x\n\n"], ms(0))
        } else {
            Reply::ok("x")
        }
    });
    let session = FuturesSession::new();
    let with_password = |path: &str| format!("http://user:{KEY}@{}{path}", server.addr());
    assert_hidden(
        "RequestBuilder",
        &format!("{:?}", session.get(with_password("/r"))),
    );
    let resp = session.get(with_password("/r")).send().result().unwrap();
    assert_hidden("Response", &format!("{resp:?}"));
    let stream = session
        .get(with_password("/sse"))
        .events()
        .result()
        .unwrap();
    assert_hidden("EventStream", &format!("{stream:?}"));
}

#[test]
fn errors_of_requests_with_a_key_in_the_url_hide_it() {
    // Bound: 10 s for all of them.
    let started = Instant::now();
    let server = TestServer::start(|req| match req.path_only() {
        "/stall" => Reply::stall(),
        "/big" => Reply::ok(vec![b'x'; 4096]),
        _ => Reply::status(401, "unauthorized"),
    });
    let session = FuturesSession::builder()
        .max_workers(2)
        .read_timeout(SLOW_ANSWER)
        .max_body_size(1024)
        .build();
    let keyed = |base: String| format!("{base}?key={KEY}");

    let refused = session.get(keyed(closed_port_url())).send().result();
    assert_error_hides_key("connection refused", &refused.unwrap_err());

    let timeout = session.get(keyed(server.url_for("/stall"))).send().result();
    let timeout = timeout.unwrap_err();
    assert!(timeout.is_timeout(), "{timeout:?}");
    assert_error_hides_key("timeout", &timeout);

    let big = session.get(keyed(server.url_for("/big"))).send().result();
    assert_error_hides_key("body too large", &big.unwrap_err());

    let status = session
        .get(keyed(server.url_for("/401")))
        .send()
        .result()
        .unwrap()
        .error_for_status();
    assert_error_hides_key("error_for_status", &status.unwrap_err());

    let stream = session.get(keyed(server.url_for("/401"))).events().result();
    assert_error_hides_key("stream status", &stream.unwrap_err());

    let stalled = session
        .get(keyed(server.url_for("/stall")))
        .events_with(ureq_futures::sse::StreamOptions::default().require_event_stream(false))
        .result()
        .unwrap()
        .find_map(Result::err)
        .expect("the stalled stream ended without an error");
    assert_error_hides_key("stream timeout", &stalled);

    let invalid = session.get(format!("http:///v1?key={KEY}")).send().result();
    match invalid {
        Err(e @ Error::InvalidRequest(_)) => assert_error_hides_key("invalid URL", &e),
        other => panic!("expected InvalidRequest, got {other:?}"),
    }

    let header = session
        .get(server.url())
        .header("x-api-key", format!("{KEY}\n"))
        .send()
        .result();
    match header {
        Err(e @ Error::InvalidRequest(_)) => assert_error_hides_key("invalid header", &e),
        other => panic!("expected InvalidRequest, got {other:?}"),
    }

    #[cfg(feature = "llm")]
    {
        // An LLM client whose base URL carries a key, against a server that is not there.
        let client = OpenAIClient::builder("m", 0.0)
            .env(|_| None)
            .base_url(keyed(closed_port_url()))
            .build();
        let err = client.stream_chat(&[Message::user("hi")]).unwrap_err();
        assert_error_hides_key("OpenAIClient transport error", &err);
    }
    assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());
}

#[test]

fn an_url_without_scheme_does_not_quote_its_key_in_the_error() {
    // Bound: instant (fails before any I/O).
    let err = FuturesSession::new()
        .get(format!("/v1/chat?key={KEY}"))
        .send()
        .result()
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport(_) | Error::InvalidRequest(_)),
        "{err:?}"
    );
    assert_error_hides_key("URL without scheme", &err);
}

#[cfg(feature = "llm")]
#[test]
fn an_llm_status_error_does_not_quote_the_key() {
    // Bound: 5 s. A server that answers an LLM request with a 401 whose body does not quote the
    // key: the client's error carries the status and the body, never the request's key.
    let server = TestServer::start(|_| Reply::status(401, "{\"error\":\"invalid key\"}"));
    let client = AnthropicClient::builder("m", 0.0)
        .env(|_| None)
        .api_key(KEY)
        .base_url(server.url())
        .build();
    let err = client.stream_chat(&[Message::user("hi")]).unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_error_hides_key("AnthropicClient 401", &err);
}

#[cfg(feature = "llm")]
#[test]
fn an_llm_error_that_repeats_the_key_shows_it_redacted() {
    // Gateways that do not mask the key repeat it whole in their 401.
    let body = format!(
        "{{\"error\":{{\"message\":\"Incorrect API key provided: {KEY}\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}}}"
    );
    let server = TestServer::start(move |_| {
        Reply::status(401, body.clone()).content_type("application/json")
    });
    let client = keyed_openai(&server);
    for (way, err) in [
        (
            "stream_chat",
            client.stream_chat(&[Message::user("hi")]).unwrap_err(),
        ),
        (
            "perform_stream_request",
            client
                .perform_stream_request(&[Message::user("hi")])
                .unwrap_err(),
        ),
        ("embed", client.embed(&["hi"]).unwrap_err()),
    ] {
        assert_error_hides_key(way, &err);
        let Error::Status(status) = &err else {
            panic!("{way}: {err:?}")
        };
        assert_eq!(
            status.api_message(),
            Some("Incorrect API key provided: <redacted>"),
            "{way}"
        );
        assert_hidden(way, &status.body);
    }
}

#[cfg(feature = "llm")]
#[test]
fn an_llm_key_quoted_in_a_malformed_stream_chunk_is_redacted() {
    // A gateway's chunk that is not JSON, quoted by the protocol error that says so.
    let chunk = format!("data: {{\"oops\": {KEY}}}\n\n");
    let server = TestServer::start(move |_| Reply::sse([chunk.clone()], ms(0)));
    let client = keyed_openai(&server);
    let request = ureq_futures::llm::ChatRequest::new().user("hi");
    let err = client.complete(&request).unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(m) if m.contains("<redacted>")),
        "{err:?}"
    );
    assert_error_hides_key("complete, malformed chunk", &err);
    let last = client.stream_chat(&[Message::user("hi")]).unwrap().last();
    assert_error_hides_key("ChatStream item", &last.unwrap().unwrap_err());
    let job = ureq_futures::llm::ChatJob::user("j1", "hi");
    let result = ureq_futures::llm::ChatBatch::new(client)
        .attempts(1)
        .run([job])
        .next()
        .unwrap();
    let error = result.error.expect("the batch's chat failed");
    assert!(error.contains("<redacted>"), "{error}");
    assert_hidden("ChatBatch result", &error);
}

#[cfg(feature = "llm")]
#[test]
fn an_llm_key_cut_by_the_end_of_a_quoted_chunk_is_redacted() {
    // A project key of 164 characters after gateway text: the quote of the malformed chunk
    // (its first 200 bytes) ends within the key.
    let key = format!("sk-proj-{}", "Ab3x".repeat(39));
    let chunk = format!(
        "data: Incorrect API key provided by the upstream gateway to the model: {key} (check it)\n\n"
    );
    let server = TestServer::start(move |_| Reply::sse([chunk.clone()], ms(0)));
    let client = OpenAIClient::builder("m", 0.0)
        .env(|_| None)
        .api_key(&key)
        .base_url(server.url())
        .build();
    let err = client
        .complete(&ureq_futures::llm::ChatRequest::new().user("hi"))
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("model: <redacted>"), "{text}");
    assert!(!text.contains(&key[..12]), "{text}");
}

#[cfg(feature = "llm")]
#[test]
fn an_llm_key_repeated_in_the_stream_or_json_escaped_is_redacted() {
    // A gateway that answers 200 and puts its error in the stream.
    let chunk =
        format!("data: {{\"error\":{{\"message\":\"Incorrect API key provided: {KEY}\"}}}}\n\n");
    let server = TestServer::start(move |_| Reply::sse([chunk.clone()], ms(0)));
    let client = keyed_openai(&server);
    let err = client
        .complete(&ureq_futures::llm::ChatRequest::new().user("hi"))
        .unwrap_err();
    assert_error_hides_key("complete, in-stream error", &err);
    assert!(err.to_string().contains("<redacted>"), "{err}");
    let last = client
        .stream_chat(&[Message::user("hi")])
        .unwrap()
        .last()
        .unwrap();
    assert_error_hides_key("ChatStream item", &last.unwrap_err());

    // A key with `/` in it, which PHP's json_encode writes as `\/`.
    let key = "sk-abc/def+ghi/jkl==";
    let body = format!(
        "{{\"error\":{{\"message\":\"Incorrect API key provided: {}\"}}}}",
        key.replace('/', "\\/")
    );
    let server = TestServer::start(move |_| {
        Reply::status(401, body.clone()).content_type("application/json")
    });
    let client = OpenAIClient::builder("m", 0.0)
        .env(|_| None)
        .api_key(key)
        .base_url(server.url())
        .build();
    let Error::Status(status) = client.stream_chat(&[Message::user("hi")]).unwrap_err() else {
        panic!("expected a status error")
    };
    assert!(!status.body.contains("def+ghi"), "{}", status.body);
    assert!(!format!("{status:?}{status}").contains("def+ghi"));
}
