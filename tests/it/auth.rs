//! Basic and bearer authentication helpers of `RequestBuilder` and `SessionBuilder`: the header
//! the server receives, which one wins, and that none follows a redirect to another origin.

use support::{Reply, TestServer};
use ureq_futures::{Error, FuturesSession};

/// Answers with the `Authorization` header it got (`-` for none); `/away` redirects to `to`.
fn echo_auth(to: Option<String>) -> TestServer {
    TestServer::start(move |req| match (req.path.as_str(), &to) {
        ("/away", Some(to)) => Reply::status(302, "").header("Location", to.clone()),
        ("/here", _) => Reply::status(307, "").header("Location", "/echo"),
        _ => Reply::ok(req.header("authorization").unwrap_or("-").to_string()),
    })
}

fn text(request: ureq_futures::RequestBuilder) -> String {
    let resp = request.send().result().unwrap();
    resp.text().unwrap().to_string()
}

#[test]
fn request_basic_and_bearer_auth_send_the_rfc_headers() {
    let server = echo_auth(None);
    let session = FuturesSession::new();
    let url = server.url_for("/echo");
    assert_eq!(
        text(session.get(&url).basic_auth("Aladdin", "open sesame")),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert_eq!(
        text(session.get(&url).bearer_auth("sk-123")),
        "Bearer sk-123"
    );
    // The last one set wins; it replaces a plain Authorization header too.
    let req = session
        .get(&url)
        .header("Authorization", "Token old")
        .basic_auth("a", "b")
        .bearer_auth("new");
    assert_eq!(text(req), "Bearer new");
    assert_eq!(server.request_count(), 3);
    // A control character in the credentials (a password read from a file keeps its line
    // feed) is refused before sending, as RFC 7617 allows none, and the password is not shown.
    let with_session_auth = FuturesSession::builder()
        .basic_auth("me", "PASSWD\n")
        .build();
    let in_url = format!("http://me:PASSWD%0A@{}/echo", server.addr());
    for (request, says) in [
        (
            session.get(&url).basic_auth("me", "PASSWD\n"),
            "password holds a control character (U+000A) at its end",
        ),
        (
            session.get(&url).basic_auth("me", "PASS\tWD"),
            "password holds a control character (U+0009) at byte 4",
        ),
        (
            session.get(&url).basic_auth("m\u{85}e", "PASSWD"),
            "user name holds a control character (U+0085) at byte 1",
        ),
        (
            with_session_auth.get(&url),
            "password holds a control character (U+000A) at its end",
        ),
        (
            session.get(&in_url),
            "password holds a control character (U+000A) at its end",
        ),
        // An empty bearer token: most likely an environment variable that is not set.
        (
            session.get(&url).bearer_auth(""),
            "the bearer token is empty",
        ),
        (
            FuturesSession::builder().bearer_auth(" ").build().get(&url),
            "the bearer token is empty",
        ),
        // A token pasted with its scheme, or with a space.
        (
            session.get(&url).bearer_auth("Bearer PASSWD"),
            "the bearer token starts with \"Bearer \"",
        ),
        (
            FuturesSession::builder()
                .bearer_auth("PASSWD ")
                .build()
                .get(&url),
            "the bearer token holds a space or tab at its end",
        ),
        // A colon in the user name: the server would take `PASS` for a part of the password.
        (
            session.get(&url).basic_auth("me:PASS", "WD"),
            "user name holds a colon at byte 2",
        ),
        (
            session.get(format!("http://me%3APASS:WD@{}/echo", server.addr())),
            "user name holds a colon at byte 2",
        ),
    ] {
        let message = match request.send().result() {
            Err(ureq_futures::Error::InvalidRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(message.contains(says), "{message}");
        assert!(!message.contains("PASS"), "{message}");
    }
    // A request's own credentials replace the session's refused ones.
    let own = with_session_auth.get(&url).bearer_auth("t");
    assert_eq!(text(own), "Bearer t");
    assert_eq!(server.request_count(), 4);
}

#[test]
fn session_auth_is_sent_with_every_request_and_a_request_can_replace_it() {
    let server = echo_auth(None);
    let session = FuturesSession::builder()
        .bearer_auth("first")
        .basic_auth("user", "pass")
        .build();
    let url = server.url_for("/echo");
    for _ in 0..2 {
        assert_eq!(
            text(session.get(&url)),
            "Basic dXNlcjpwYXNz",
            "the session's latest setting, on every request"
        );
    }
    assert_eq!(text(session.get(&url).bearer_auth("mine")), "Bearer mine");
    // Not shown by Debug.
    assert!(!format!("{session:?}").contains("dXNlcjpwYXNz"));
}

#[test]
fn auth_follows_a_redirect_within_the_origin_only() {
    let other = echo_auth(None);
    let server = echo_auth(Some(other.url_for("/echo")));
    // Same origin (a 307 to /echo): the credentials go along.
    let session = FuturesSession::builder().basic_auth("u", "p").build();
    assert_eq!(text(session.get(server.url_for("/here"))), "Basic dTpw");
    // Another origin (another port): neither the session's nor the request's helper goes along.
    assert_eq!(text(session.get(server.url_for("/away"))), "-");
    let plain = FuturesSession::new();
    let resp = plain
        .get(server.url_for("/away"))
        .bearer_auth("sk-secret")
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.url(), other.url_for("/echo"));
    assert_eq!(resp.text().unwrap(), "-");
    let first = &server.requests()[1];
    assert_eq!(first.header("authorization"), Some("Basic dTpw"));
    assert!(other
        .requests()
        .iter()
        .all(|r| r.header("authorization").is_none()));
}

#[test]
fn the_user_info_of_a_url_is_percent_decoded_into_basic_auth() {
    let server = echo_auth(None);
    let with = |info: &str| {
        server
            .url_for("/echo")
            .replace("http://", &format!("http://{info}@"))
    };
    let session = FuturesSession::new();
    // `a b` and `p@ss:w/rd`, written as RFC 3986 requires.
    let got = text(session.get(with("a%20b:p%40ss%3Aw%2Frd")));
    assert_eq!(got, "Basic YSBiOnBAc3M6dy9yZA==");
    // As before: without escapes, and a request's own credentials first.
    assert_eq!(text(session.get(with("user:pass"))), "Basic dXNlcjpwYXNz");
    let own = session.get(with("a%20b:p%40ss")).bearer_auth("t");
    assert_eq!(text(own), "Bearer t");
}

#[test]
fn the_user_info_of_a_url_follows_a_redirect_within_the_origin_only() {
    // An absolute `Location` at the same origin, as nginx writes its redirects: the URL's
    // credentials go along, as requests sends them; to another origin they do not.
    let other = echo_auth(None);
    let here = TestServer::start(|req| match req.path.split_once('?') {
        _ if req.path == "/dir" => {
            let host = req.header("host").unwrap_or_default();
            Reply::status(301, "").header("Location", format!("http://{host}/dir/"))
        }
        Some(("/away", to)) => Reply::status(302, "").header("Location", to.to_string()),
        _ => Reply::ok(req.header("authorization").unwrap_or("-").to_string()),
    });
    let with_info = |path: &str| here.url_for(path).replace("http://", "http://user:p%40ss@");
    let session = FuturesSession::new();
    let resp = session.get(with_info("/dir")).send().result().unwrap();
    assert!(resp.url().ends_with("/dir/"), "{}", resp.url());
    assert_eq!(resp.text().unwrap(), "Basic dXNlcjpwQHNz");
    let away = format!("{}?{}", with_info("/away"), other.url_for("/echo"));
    assert_eq!(text(session.get(away)), "-");
    assert!(other
        .requests()
        .iter()
        .all(|r| r.header("authorization").is_none()));
}

/// A token or key with a byte beyond ASCII (pasted with a typographic quote) is refused before
/// sending, naming the header and never the value: ureq refused it later with a transport error
/// that said neither. The same for `Host`.
#[test]
fn an_authorization_or_host_value_beyond_ascii_is_refused_before_sending() {
    let server = TestServer::start(|_| Reply::ok("hi"));
    let session = FuturesSession::new();
    let refused = |result: Result<ureq_futures::Response, Error>, header: &str| {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "the {header} header's value has a byte beyond ASCII"
            )),
            "{text}"
        );
        assert!(!text.contains("sk-"), "{text}");
    };
    refused(
        session
            .get(server.url())
            .bearer_auth("sk-\u{e9}")
            .send()
            .result(),
        "Authorization",
    );
    let keyed = FuturesSession::builder()
        .bearer_auth("sk-\u{201c}abc\u{201d}")
        .build();
    refused(keyed.get(server.url()).send().result(), "Authorization");
    refused(
        session
            .get(server.url())
            .header("host", "\u{e9}")
            .send()
            .result(),
        "Host",
    );
    #[cfg(feature = "llm")]
    {
        let chat = ureq_futures::llm::OpenAIClient::builder("m", None)
            .env(|_| None)
            .base_url(server.url())
            .api_key("sk-\u{201c}abc\u{201d}")
            .build();
        let err = chat
            .stream_chat(&[ureq_futures::llm::Message::user("hi")])
            .expect_err("refused");
        assert!(
            err.to_string().contains("Authorization header's value"),
            "{err}"
        );
    }
    assert_eq!(server.request_count(), 0);
}
