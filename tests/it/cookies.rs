//! The session's cookie jar against a server that sets cookies for two paths and two hosts
//! (127.0.0.1 and localhost name two hosts for cookies, as they do for browsers).

use support::{Reply, TestServer};

use ureq_futures::FuturesSession;

fn cookie_server() -> TestServer {
    TestServer::start(|req| match req.path_only() {
        "/login" => Reply::ok("in")
            .add_header("Set-Cookie", "session=s1; Path=/; HttpOnly")
            .add_header("Set-Cookie", "cart=c1; Path=/shop")
            .add_header("Set-Cookie", "Secure-only=x; Secure"),
        "/local-login" => Reply::ok("in").add_header("Set-Cookie", "local=l1"),
        "/logout" => Reply::ok("out").add_header("Set-Cookie", "session=; Max-Age=0; Path=/"),
        "/redirect-login" => Reply::status(302, "")
            .header("Location", "/shop/after")
            .add_header("Set-Cookie", "hop=h1; Path=/shop"),
        _ => Reply::ok(req.header("cookie").unwrap_or("-").to_string()),
    })
}

/// `http://localhost:PORT{path}`: the same server under another host name.
fn localhost(server: &TestServer, path: &str) -> String {
    format!("http://localhost:{}{path}", server.addr().port())
}

#[test]
fn cookies_are_kept_by_default_and_scoped_by_host_and_path() {
    let server = cookie_server();
    let session = FuturesSession::new();
    let get = |url: String| crate::text_of(session.get(url));
    get(server.url_for("/login"));
    get(localhost(&server, "/local-login"));
    assert_eq!(get(server.url_for("/shop/basket")), "cart=c1; session=s1");
    assert_eq!(get(server.url_for("/shop")), "cart=c1; session=s1");
    assert_eq!(get(server.url_for("/shopping")), "session=s1");
    assert_eq!(get(server.url_for("/")), "session=s1");
    // Another host: only its own cookie, never 127.0.0.1's.
    assert_eq!(get(localhost(&server, "/shop/basket")), "local=l1");
    assert_eq!(
        get(server.url_for("/x")),
        "session=s1",
        "localhost's cookie stays there"
    );
    // A cookie can be removed by the server.
    get(server.url_for("/logout"));
    assert_eq!(get(server.url_for("/shop/x")), "cart=c1");
}

#[test]
fn a_cookie_set_on_a_redirect_is_sent_on_the_next_hop_and_explicit_headers_win() {
    let server = cookie_server();
    let session = FuturesSession::new();
    let resp = session
        .get(server.url_for("/redirect-login"))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "hop=h1");
    let own = session
        .get(server.url_for("/shop/x"))
        .header("cookie", "mine=1")
        .send()
        .result()
        .unwrap();
    assert_eq!(own.text().unwrap(), "mine=1");
}

/// A request's own `Cookie` header is its first hop's; after a redirect the jar gives the
/// header, as requests rebuilds it on each hop: the cookie a login's redirect sets reaches the
/// page it leads to (the request's header went along, and the new cookie did not). The
/// request's own cookies of other names follow within the origin; the jar's win.
#[test]
fn after_a_redirect_the_jar_gives_the_cookie_header() {
    let server = cookie_server();
    let session = FuturesSession::new();
    let login = session
        .post(server.url_for("/redirect-login"))
        .header("cookie", "csrftoken=t; hop=old")
        .body("u=me");
    assert_eq!(
        login.send().result().unwrap().text().unwrap(),
        "hop=h1; csrftoken=t"
    );
    assert_eq!(
        server.requests()[0].header("cookie"),
        Some("csrftoken=t; hop=old")
    );
    // Without a jar, the request's own header follows the redirect within its origin.
    let session = FuturesSession::builder().cookies(false).build();
    let login = session
        .get(server.url_for("/redirect-login"))
        .header("cookie", "csrftoken=t");
    assert_eq!(
        login.send().result().unwrap().text().unwrap(),
        "csrftoken=t"
    );
}

#[test]
fn a_session_without_cookies_sends_none() {
    let server = cookie_server();
    let session = FuturesSession::builder().cookies(false).build();
    session
        .get(server.url_for("/login"))
        .send()
        .result()
        .unwrap();
    let resp = session
        .get(server.url_for("/shop/x"))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "-");
    // Sessions do not share jars.
    let other = FuturesSession::new();
    let resp = other
        .get(server.url_for("/shop/x"))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "-");
}

#[test]
fn past_the_per_domain_bound_the_cookie_least_recently_sent_goes_not_the_login() {
    // RFC 6265 §5.3: past a bound, the cookie with the earliest last-access goes first; a
    // cookie is accessed when it is set and when it is sent (§5.4).
    let server = TestServer::start(|req| match req.path_only() {
        "/login" => Reply::ok("in").add_header("Set-Cookie", "sid=s1; Path=/"),
        "/set" => {
            let n = req.path.split("n=").nth(1).unwrap_or("0").to_string();
            Reply::ok("ok").add_header("Set-Cookie", format!("t{n}=x; Path=/track/{n}"))
        }
        _ => Reply::ok(req.header("cookie").unwrap_or("-").to_string()),
    });
    let session = FuturesSession::new();
    let get = |path: &str| crate::text_of(session.get(server.url_for(path)));
    get("/login");
    // 49 more cookies for the host, each for a path of its own: 50 in all, the bound.
    for n in 1..50 {
        get(&format!("/set?n={n}"));
    }
    assert_eq!(get("/app"), "sid=s1");
    assert_eq!(get("/track/1"), "t1=x; sid=s1");
    // The 51st: the cookie set or sent least recently is t2 (t1 and the login were sent since).
    get("/set?n=50");
    assert_eq!(get("/app"), "sid=s1");
    assert_eq!(get("/track/1"), "t1=x; sid=s1");
    assert_eq!(get("/track/2"), "sid=s1");
    assert_eq!(get("/track/3"), "t3=x; sid=s1");
    assert_eq!(get("/track/50"), "t50=x; sid=s1");
}

/// Cookies are octets (RFC 6265, section 5.2): a value that is not UTF-8 (a server's Latin-1)
/// is kept and goes back byte for byte, as requests sends it; it was dropped. A UTF-8 one
/// goes back as it came too.
#[test]
fn a_cookie_value_that_is_not_utf8_is_kept_byte_for_byte() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = Vec::new();
                        if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        head.extend_from_slice(&line);
                        if line == b"\r\n" {
                            break;
                        }
                    }
                    let first = head.starts_with(b"GET /set ");
                    let _ = tx.send(head);
                    let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n".to_vec();
                    if first {
                        answer.extend_from_slice(b"Set-Cookie: n=caf\xe9; Path=/\r\n");
                        answer.extend_from_slice(b"Set-Cookie: u=caf\xc3\xa9; Path=/\r\n");
                        answer.extend_from_slice(b"Set-Cookie: m=ok; Path=/\r\n");
                    }
                    answer.extend_from_slice(b"\r\n");
                    if conn.write_all(&answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let session = FuturesSession::new();
    session
        .get(format!("http://{addr}/set"))
        .send()
        .result()
        .unwrap();
    session
        .get(format!("http://{addr}/next"))
        .send()
        .result()
        .unwrap();
    let _first = rx.recv().unwrap();
    let next = rx.recv().unwrap();
    let cookie = next
        .split(|&b| b == b'\n')
        .find(|line| line.to_ascii_lowercase().starts_with(b"cookie:"))
        .expect("a Cookie header");
    let cookie = cookie.trim_ascii_end();
    assert_eq!(
        cookie,
        &b"cookie: n=caf\xe9; u=caf\xc3\xa9; m=ok"[..],
        "{}",
        String::from_utf8_lossy(cookie)
    );
}

#[test]
fn the_jar_reads_sets_saves_restores_and_clears_the_sessions_cookies() {
    let server = cookie_server();
    let session = FuturesSession::new();
    let get = |url: String| crate::text_of(session.get(url));
    let jar = session.cookies().expect("a jar by default");
    // A cookie set on a redirect, which the script never sees, can be read.
    get(server.url_for("/redirect-login"));
    assert_eq!(jar.get("hop").as_deref(), Some("h1"));
    // One of the script's own goes beside the server's, where its rules send it.
    jar.set(&server.url_for("/"), "mine=m1; Path=/shop")
        .unwrap();
    assert_eq!(get(server.url_for("/shop/x")), "hop=h1; mine=m1");
    assert_eq!(get(localhost(&server, "/shop/x")), "-");
    let err = jar.set(&server.url_for("/"), "s=1; Secure").unwrap_err();
    assert!(err.to_string().contains("only over https"), "{err}");
    assert!(
        err.to_string()
            .starts_with("invalid request: the cookie \"s\" for"),
        "{err}"
    );
    // A cookie without a name is its value alone: the refusal does not show it.
    for nameless in ["token-XYZ; Secure", "__Host-token-XYZ"] {
        let err = jar.set(&server.url_for("/"), nameless).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("a cookie without a name for"), "{text}");
        assert!(!text.contains("token-XYZ"), "{text}");
    }
    // A URL without its scheme, or of another scheme, is no answer a cookie comes from.
    for url in ["example.com", "ftp://example.com/"] {
        let err = jar.set(url, "e=1").unwrap_err();
        assert!(
            err.to_string().contains("is not an http or https URL"),
            "{url}: {err}"
        );
    }
    // Saved, cleared (a logout), then restored.
    let saved = serde_json::to_string(&jar.cookies()).unwrap();
    jar.clear();
    assert_eq!(get(server.url_for("/shop/x")), "-");
    for cookie in serde_json::from_str::<Vec<ureq_futures::Cookie>>(&saved).unwrap() {
        jar.insert(cookie).unwrap();
    }
    assert_eq!(get(server.url_for("/shop/x")), "hop=h1; mine=m1");
    jar.retain(|cookie| cookie.name != "hop");
    assert_eq!(get(server.url_for("/shop/x")), "mine=m1");
    // A cookie no request could carry is refused, not kept to fail a later request.
    let mut bad = jar.cookies().remove(0);
    bad.value = "a;b".into();
    assert!(jar.insert(bad).is_err());
    assert_eq!(get(server.url_for("/shop/x")), "mine=m1");
}
