//! FuturesSession against mockito: methods, bodies, headers, statuses, hooks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mockito::Matcher;
use support::{Reply, TestServer};
use ureq_futures::{Error, FuturesSession, Pending, Response};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn get_returns_status_headers_body_and_url() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("GET", "/hello")
        .with_status(200)
        .with_header("content-type", "text/plain")
        .with_header("x-answer", "42")
        .with_body("world")
        .create();
    let session = FuturesSession::new();
    let resp = session
        .get(format!("{}/hello", server.url()))
        .send()
        .result()
        .unwrap();
    mock.assert();
    assert_eq!(resp.status(), 200);
    assert!(resp.is_success());
    assert_eq!(resp.header("X-Answer"), Some("42"));
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.text().unwrap(), "world");
    assert_eq!(resp.bytes(), b"world");
    assert_eq!(resp.url(), format!("{}/hello", server.url()));
}

#[test]
fn every_method_reaches_the_server() {
    let mut server = mockito::Server::new();
    let session = FuturesSession::new();
    let url = format!("{}/m", server.url());
    let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let mocks: Vec<_> = methods
        .iter()
        .map(|m| server.mock(m, "/m").with_status(204).expect(1).create())
        .collect();
    let handles: Vec<Pending<Response>> = vec![
        session.get(&url).send(),
        session.head(&url).send(),
        session.post(&url).send(),
        session.put(&url).send(),
        session.patch(&url).send(),
        session.delete(&url).send(),
        session.request("OPTIONS", &url).send(),
    ];
    for h in handles {
        assert_eq!(h.result().unwrap().status(), 204);
    }
    for m in mocks {
        m.assert();
    }
}

/// A POST, PUT or PATCH without a body goes with `Content-Length: 0`, as RFC 9110 §8.6 says
/// and requests sends it; it went with `Transfer-Encoding: chunked` and an empty chunked body,
/// which servers that take no chunked uploads refuse (S3 answers a PUT so with 501). Other
/// methods without a body carry neither header.
#[test]
fn a_session_builder_cloned_builds_sessions_with_its_settings() {
    // One template, several sessions (one per tenant, a test's own), each then set apart.
    let server =
        TestServer::start(|req| Reply::ok(req.header("x-app").unwrap_or("none").to_string()));
    let template = FuturesSession::builder()
        .max_workers(3)
        .header("x-app", "tool/1.0");
    let first = template.clone().build();
    let second = template.max_workers(5).build();
    assert_eq!((first.max_workers(), second.max_workers()), (3, 5));
    for session in [&first, &second] {
        let resp = session.get(server.url()).send().result().unwrap();
        assert_eq!(resp.text().unwrap(), "tool/1.0");
    }
}

#[test]
fn a_request_without_a_body_is_announced_as_empty() {
    let server = TestServer::start(|_| Reply::ok(""));
    let session = FuturesSession::new();
    for method in ["POST", "PUT", "PATCH", "GET", "DELETE", "OPTIONS"] {
        session
            .request(method, server.url())
            .send()
            .result()
            .unwrap();
        let req = server.requests().pop().unwrap();
        let length = ["POST", "PUT", "PATCH"].contains(&method).then_some("0");
        assert_eq!(req.method, method);
        assert_eq!(req.header("content-length"), length, "{method}");
        assert_eq!(req.header("transfer-encoding"), None, "{method}");
    }
    // A 307 keeps the method, and still no body.
    let redirecting = TestServer::start(|req| match req.path_only() {
        "/from" => Reply::status(307, "").header("Location", "/to"),
        _ => Reply::ok(""),
    });
    session
        .post(redirecting.url_for("/from"))
        .send()
        .result()
        .unwrap();
    let to = redirecting.requests().pop().unwrap();
    assert_eq!((to.method.as_str(), to.path_only()), ("POST", "/to"));
    assert_eq!(to.header("content-length"), Some("0"));
    assert_eq!(to.header("transfer-encoding"), None);
}

#[test]
fn headers_query_and_bodies_are_sent() {
    let mut server = mockito::Server::new();
    let session = FuturesSession::builder()
        .header("user-agent", "session-default")
        .header("x-session", "yes")
        .build();
    let json = server
        .mock("POST", "/json")
        .match_header("content-type", "application/json")
        .match_header("x-session", "yes")
        .match_header("user-agent", "per-request")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("q".into(), "a b&c".into()),
            Matcher::UrlEncoded("n".into(), "1".into()),
        ]))
        .match_body(Matcher::Json(serde_json::json!({"hello": "world"})))
        .with_status(201)
        .create();
    let resp = session
        .post(format!("{}/json", server.url()))
        .header("user-agent", "per-request")
        .query("q", "a b&c")
        .query("n", "1")
        .send_json(&serde_json::json!({"hello": "world"}))
        .result()
        .unwrap();
    assert_eq!(resp.status(), 201);
    json.assert();

    let form = server
        .mock("PUT", "/form")
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_header("user-agent", "session-default")
        // As requests (Python's urlencode) writes it: a space is `+`, a `+` is `%2B`.
        .match_body("name=J%C3%BCrgen+K&x=1%262&sum=1%2B1+%3D+2")
        .with_status(200)
        .create();
    let resp = session
        .put(format!("{}/form", server.url()))
        .form([("name", "Jürgen K"), ("x", "1&2"), ("sum", "1+1 = 2")])
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 200);
    form.assert();

    let raw = server
        .mock("PATCH", "/raw")
        .match_body(Matcher::Exact("\u{1}\u{2}\u{3}".into()))
        .with_status(200)
        .create();
    session
        .patch(format!("{}/raw", server.url()))
        .body(vec![1u8, 2, 3])
        .send()
        .result()
        .unwrap();
    raw.assert();
}

#[test]
fn query_is_appended_to_an_existing_one() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("GET", "/q")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("a".into(), "1".into()),
            Matcher::UrlEncoded("b".into(), "2".into()),
        ]))
        .create();
    FuturesSession::new()
        .get(format!("{}/q?a=1", server.url()))
        .query("b", "2")
        .send()
        .result()
        .unwrap();
    mock.assert();
}

#[test]
fn error_statuses_are_responses_with_readable_bodies() {
    let mut server = mockito::Server::new();
    server
        .mock("GET", "/missing")
        .with_status(404)
        .with_body("no such thing")
        .create();
    server
        .mock("GET", "/broken")
        .with_status(503)
        .with_header("retry-after", "3")
        .with_body("{\"error\":\"overloaded\"}")
        .create();
    let session = FuturesSession::new();
    let resp = session
        .get(format!("{}/missing", server.url()))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(!resp.is_success());
    assert_eq!(resp.text().unwrap(), "no such thing");

    let resp = session
        .get(format!("{}/broken", server.url()))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 503);
    match resp.error_for_status() {
        Err(Error::Status(s)) => {
            assert_eq!(s.status, 503);
            assert_eq!(s.headers["retry-after"], "3");
            assert!(s.body.contains("overloaded"));
        }
        other => panic!("expected a status error, got {other:?}"),
    }
}

#[test]
fn error_for_status_passes_success_through() {
    let mut server = mockito::Server::new();
    server.mock("GET", "/").with_body("fine").create();
    let resp = FuturesSession::new()
        .get(server.url())
        .send()
        .result()
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "fine");
}

#[test]
fn a_custom_agent_still_treats_statuses_as_responses() {
    let mut server = mockito::Server::new();
    server.mock("GET", "/").with_status(418).create();
    // ureq's default agent turns 4xx into errors; the session must not.
    let session = FuturesSession::builder()
        .agent(ureq::Agent::new_with_defaults())
        .build();
    let resp = session.get(server.url()).send().result().unwrap();
    assert_eq!(resp.status(), 418);
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Repo {
    name: String,
    stars: u32,
}

#[test]
fn json_decodes_and_reports_bad_json() {
    let mut server = mockito::Server::new();
    server
        .mock("GET", "/repo")
        .with_body(r#"{"name":"ureq","stars":7}"#)
        .create();
    server.mock("GET", "/bad").with_body("{not json").create();
    let session = FuturesSession::new();
    let resp = session
        .get(format!("{}/repo", server.url()))
        .send()
        .result()
        .unwrap();
    assert_eq!(
        resp.json::<Repo>().unwrap(),
        Repo {
            name: "ureq".into(),
            stars: 7
        }
    );
    let bad = session
        .get(format!("{}/bad", server.url()))
        .send()
        .result()
        .unwrap();
    assert!(matches!(bad.json::<Repo>(), Err(Error::Json(_))));
    // The error names the body, what it said it was, and what is wrong with it: serde's words
    // alone did not tell an HTML page from a typo.
    let html = "<html>Sign in</html>";
    server
        .mock("GET", "/login")
        .match_query(mockito::Matcher::Any)
        .with_header("content-type", "text/html")
        .with_body(html)
        .create();
    server.mock("GET", "/empty").with_body("").create();
    server
        .mock("GET", "/other")
        .with_body(r#"{"name":7}"#)
        .create();
    server
        .mock("GET", "/huge")
        .with_body(r#"{"name":"x","stars":1e400}"#)
        .create();
    for (path, said) in [
        ("/huge", "holds a number beyond the range of an f64: number out of range at line 1 column 25"),
        ("/login?key=secret", "(content-type: text/html) is not JSON: expected value at line 1 column 1"),
        ("/empty", "is empty, not JSON: EOF while parsing a value at line 1 column 0"),
        ("/other", "does not fit the type asked for: invalid type: integer `7`, expected a string at line 1 column 9"),
    ] {
        let resp = session.get(format!("{}{path}", server.url())).send().result().unwrap();
        let err = resp.json::<Repo>().unwrap_err();
        assert!(matches!(err, Error::Json(_)), "{path}: {err:?}");
        let url = ureq_futures::redact_url(&format!("{}{path}", server.url()));
        assert!(err.to_string().starts_with(&format!("json: the body of {url}")), "{path}: {err}");
        assert!(err.to_string().ends_with(said), "{path}: {err}");
        assert!(!err.to_string().contains("secret"), "{err}");
        // serde_json's position stays readable from the error, not only in its text.
        let Error::Json(json) = &err else { unreachable!() };
        let at = said.rsplit("at line ").next().unwrap();
        assert_eq!(format!("{} column {}", json.line(), json.column()), at, "{path}");
    }
    // A body that starts with a UTF-8 byte order mark (RFC 8259 §8.1 lets a parser ignore it).
    server
        .mock("GET", "/bom")
        .with_body("\u{feff}{\"name\":\"bom\",\"stars\":1}")
        .create();
    let bom = session
        .get(format!("{}/bom", server.url()))
        .send()
        .result()
        .unwrap();
    assert_eq!(bom.json::<Repo>().unwrap().name, "bom");
}

#[test]
fn a_json_body_that_does_not_serialize_says_it_is_the_request_body_and_sends_nothing() {
    let server = TestServer::start(|_| Reply::ok("ok"));
    // JSON object keys are strings; a tuple is not one.
    let body: std::collections::BTreeMap<(u8, u8), &str> = [((1, 2), "v")].into_iter().collect();
    let url = server.url_for("/items?key=secret");
    for pending in [
        FuturesSession::new().post(&url).json(&body).send(),
        FuturesSession::new().put(&url).send_json(&body),
    ] {
        let err = pending.result().unwrap_err();
        assert!(matches!(err, Error::Json(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "json: the request body for {}/items?<redacted> could not be serialized as \
                 JSON: key must be a string",
                server.url()
            )
        );
    }
    assert_eq!(server.request_count(), 0);
}

#[test]
fn send_with_runs_the_hook_on_a_worker() {
    let mut server = mockito::Server::new();
    server
        .mock("GET", "/repo")
        .with_body(r#"{"name":"ureq","stars":7}"#)
        .create();
    let session = FuturesSession::new();
    let caller = std::thread::current().id();
    let p = session
        .get(format!("{}/repo", server.url()))
        .send_with(move |resp| {
            let on_worker = std::thread::current().id() != caller;
            Ok((resp.json::<Repo>()?, on_worker))
        });
    let (repo, on_worker) = p.result().unwrap();
    assert_eq!(repo.stars, 7);
    assert!(on_worker, "the hook ran on the caller's thread");

    // A hook's error is the handle's error.
    let p = session
        .get(format!("{}/repo", server.url()))
        .send_with(|resp| resp.error_for_status()?.json::<Vec<u8>>());
    assert!(matches!(p.result(), Err(Error::Json(_))));
}

#[test]
fn a_panicking_hook_is_an_error_and_the_worker_survives() {
    let mut server = mockito::Server::new();
    server.mock("GET", "/").expect_at_least(1).create();
    let session = FuturesSession::builder().max_workers(2).build();
    for _ in 0..4 {
        let p = session
            .get(server.url())
            .send_with(|_resp| -> Result<(), Error> { panic!("hook exploded") });
        match p.result() {
            Err(Error::Panicked(msg)) => assert!(msg.contains("hook exploded"), "{msg}"),
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
    // Both workers are still there: two jobs can be inside at once.
    let barrier = Arc::new(std::sync::Barrier::new(2));
    for h in crate::at_barrier(&session, 2, &barrier) {
        h.result().unwrap();
    }
}

#[test]
fn a_body_past_the_limit_is_a_clear_error() {
    let mut server = mockito::Server::new();
    server
        .mock("GET", "/big")
        .with_body(vec![b'x'; 4096])
        .create();
    server
        .mock("GET", "/small")
        .with_body(vec![b'x'; 1024])
        .create();
    let session = FuturesSession::builder().max_body_size(2048).build();
    match session.get(format!("{}/big", server.url())).send().result() {
        Err(e @ Error::BodyTooLarge { limit: 2048, .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("max_body_size (2,048 bytes, counted after decoding)"),
                "{text}"
            );
            assert!(text.contains(&format!("{}/big", server.url())), "{text}");
        }
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
    let ok = session.get(format!("{}/small", server.url())).send();
    assert_eq!(ok.result().unwrap().bytes().len(), 1024);
}

#[test]
fn a_body_that_is_not_utf8_names_the_url_its_content_type_and_the_fix() {
    let server = TestServer::start(|_| {
        Reply::ok(b"caf\xe9".to_vec()).content_type("text/plain; charset=ISO-8859-1")
    });
    let resp = FuturesSession::new()
        .get(server.url_for("/menu?key=secret"))
        .send()
        .result()
        .unwrap();
    let err = resp.text().unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "io: the body of {} is not UTF-8 (content-type: text/plain; charset=ISO-8859-1): \
             incomplete utf-8 byte sequence from index 3; decoded_text() decodes it by its \
             charset, or take it with bytes()",
            server.url_for("/menu?<redacted>")
        )
    );
}

/// `decoded_text` reads the body in the charset its content type names, or else as UTF-8 when
/// it is, else as windows-1252; a charset it does not decode is an error that names it.
#[test]
fn decoded_text_reads_the_charset_the_response_names() {
    let cases: [(&str, &[u8], Option<&str>); 10] = [
        (
            "text/html; charset=ISO-8859-1",
            b"caf\xe9 \x93ok\x94",
            Some("caf\u{e9} \u{201C}ok\u{201D}"),
        ),
        (
            "text/plain; charset=\"utf-16le\"",
            b"h\x00\xe9\x00",
            Some("h\u{e9}"),
        ),
        (
            "text/plain;charset=UTF-16BE",
            b"\x00h\x00\xe9",
            Some("h\u{e9}"),
        ),
        ("text/plain", "caf\u{e9}".as_bytes(), Some("caf\u{e9}")),
        ("text/plain", b"caf\xe9", Some("caf\u{e9}")),
        (
            "application/json; charset=utf-8",
            b"\xEF\xBB\xBF{\"a\":\"\xff\"}",
            Some("{\"a\":\"\u{FFFD}\"}"),
        ),
        ("text/plain; charset=\"shift_jis\"", b"\x82\xa0", None),
        // An empty charset is none; quotes of either kind are not part of it.
        ("text/plain; charset=", b"caf\xe9", Some("caf\u{e9}")),
        (
            "text/plain; charset=; charset=utf-16be",
            b"\x00h",
            Some("h"),
        ),
        (
            "text/plain; charset='utf-8'",
            "caf\u{e9}".as_bytes(),
            Some("caf\u{e9}"),
        ),
    ];
    for (content_type, body, expected) in cases {
        let server =
            TestServer::start(move |_| Reply::ok(body.to_vec()).content_type(content_type));
        let resp = FuturesSession::new()
            .get(server.url_for("/t?key=secret"))
            .send()
            .result()
            .unwrap();
        match (resp.decoded_text(), expected) {
            (Ok(text), Some(expected)) => assert_eq!(text, expected, "{content_type}"),
            (Err(Error::Io(e)), None) => {
                let message = e.to_string();
                assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
                assert!(
                    message.contains("is in charset shift_jis,")
                        && message.contains("/t?<redacted>")
                        && message.contains("encoding_rs"),
                    "{message}"
                );
            }
            (other, _) => panic!("{content_type}: {other:?}"),
        }
    }
}

#[test]
fn a_limit_of_ureqs_own_in_a_closure_is_not_blamed_on_max_body_size() {
    // A closure that reads a body with ureq's own limit: raising the session's max_body_size
    // would change nothing, so the message must not say to.
    let server = TestServer::start(|_| Reply::ok(vec![b'x'; 4096]));
    let url = server.url();
    let session = FuturesSession::new();
    let err = session
        .submit(move |agent| {
            let mut resp = agent.get(&url).call()?;
            Ok(resp.body_mut().with_config().limit(1000).read_to_vec()?)
        })
        .result()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BodyTooLarge {
                limit: 1000,
                url: None
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "response body larger than its read limit (1000 bytes): raise the limit the body is \
         read with (ureq's Body::with_config().limit, 10 MiB by default for read_to_vec, \
         read_to_string and read_json), or read it as a stream"
    );
}

#[test]
fn small_connection_buffers_carry_large_bodies_and_bound_the_response_head() {
    let mut server = mockito::Server::new();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    server
        .mock("POST", "/echo")
        .match_body(body.clone())
        .with_body(body.clone())
        .create();
    server
        .mock("GET", "/big-head")
        .with_header("x-huge", &"a".repeat(20 * 1024))
        .with_body("ok")
        .create();
    let small = FuturesSession::builder()
        .connection_buffer_size(16 * 1024)
        .build();
    assert_eq!(small.agent().config().input_buffer_size(), 16 * 1024);
    assert_eq!(small.agent().config().output_buffer_size(), 16 * 1024);
    // Bodies larger than both buffers go out and come back whole.
    let echoed = small
        .post(format!("{}/echo", server.url()))
        .body(body.clone())
        .send()
        .result()
        .unwrap();
    assert_eq!(echoed.status(), 200);
    assert!(
        echoed.bytes() == body.as_slice(),
        "the body came back changed"
    );
    // A response head larger than the read buffer fails, and says so.
    let err = small
        .get(format!("{}/big-head", server.url()))
        .send()
        .result()
        .unwrap_err();
    assert!(
        err.to_string().contains("response header is too big"),
        "{err}"
    );
    assert!(err.to_string().contains("raise"), "{err}");
    // ureq's default buffers take it.
    let resp = FuturesSession::new()
        .get(format!("{}/big-head", server.url()))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    // A head over 64 KiB fails whatever the buffer: the error does not send the reader to a
    // setting that cannot help.
    server
        .mock("GET", "/huge-head")
        .with_header("x-huge", &"a".repeat(100 * 1024))
        .with_body("ok")
        .create();
    let large = FuturesSession::builder()
        .connection_buffer_size(1 << 20)
        .build();
    let err = large
        .get(format!("{}/huge-head", server.url()))
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the buffer settings do not raise that past 64 KiB"),
        "{text}"
    );
    assert!(!text.contains("raise SessionBuilder"), "{text}");
    // Below the minimum, the minimum.
    let tiny = FuturesSession::builder().connection_buffer_size(1).build();
    assert_eq!(tiny.agent().config().input_buffer_size(), 4 * 1024);
}

#[test]
fn event_streams_have_small_connection_buffers_of_their_own() {
    let mut server = mockito::Server::new();
    let events = "data: a\n\ndata: b\n\n";
    server
        .mock("GET", "/events")
        .with_header("content-type", "text/event-stream")
        .with_header("x-some", &"a".repeat(10 * 1024))
        .with_body(events)
        .create();
    server
        .mock("GET", "/big-head")
        .with_header("content-type", "text/event-stream")
        .with_header("x-huge", &"a".repeat(20 * 1024))
        .with_body(events)
        .create();
    let data = |session: &FuturesSession, path: &str| -> Result<Vec<String>, Error> {
        let stream = session
            .get(format!("{}{path}", server.url()))
            .events()
            .result()?;
        stream.map(|e| e.map(|e| e.data)).collect()
    };
    let session = FuturesSession::new();
    // A head under 16 KiB fits; one over it fails, and says so.
    assert_eq!(data(&session, "/events").unwrap(), ["a", "b"]);
    let err = data(&session, "/big-head").unwrap_err();
    assert!(
        err.to_string().contains("response header is too big"),
        "{err}"
    );
    // ureq's count stops a byte past the buffer (`16384 > 16383`): the head is longer.
    assert!(
        err.to_string()
            .contains("the head is longer than the 16383 bytes read, where the read stopped"),
        "{err}"
    );
    // The write buffer takes a request line or header of up to 8 KiB.
    let long_header = |len: usize| {
        session
            .get(format!("{}/events", server.url()))
            .header("x-token", "t".repeat(len))
            .events()
            .result()
    };
    assert!(long_header(7 * 1024).is_ok());
    let err = long_header(9 * 1024).unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidInput),
        "{err:?}"
    );
    let text = err.to_string();
    for part in [
        "send the request to",
        "/events",
        "output too small",
        "8 KiB unless SessionBuilder::stream_buffer_size sets it",
    ] {
        assert!(text.contains(part), "{part:?} is not in: {text}");
    }
    // The jar's cookies of a host go in one line: three of 4,000 bytes do not fit 8 KiB.
    let jar = session.cookies().unwrap();
    for name in ["a", "b", "c"] {
        jar.set(&server.url(), &format!("{name}={}", "v".repeat(4000)))
            .unwrap();
    }
    let err = long_header(0).unwrap_err();
    assert!(err.to_string().contains("CookieJar::retain"), "{err}");
    let cookies = jar.cookies();
    // The session's other requests keep ureq's buffers: the same head is fine there.
    let resp = session
        .get(format!("{}/big-head", server.url()))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), events);
    // Larger stream buffers take it; smaller connection buffers make the streams' smaller too.
    let larger = FuturesSession::builder()
        .stream_buffer_size(32 * 1024)
        .build();
    assert_eq!(data(&larger, "/big-head").unwrap(), ["a", "b"]);
    // Set, the size is the write buffer's too: a line of 20 KiB, and the cookies above, go.
    let stream = larger
        .get(format!("{}/events", server.url()))
        .header("x-token", "t".repeat(20 * 1024))
        .events()
        .result();
    assert_eq!(stream.unwrap().next().unwrap().unwrap().data, "a");
    // Up to 64 KiB: a read buffer raised for large events brings no larger write buffer.
    let huge = FuturesSession::builder()
        .stream_buffer_size(1024 * 1024)
        .build();
    let line = |len: usize| {
        huge.get(format!("{}/events", server.url()))
            .header("x-token", "t".repeat(len))
            .events()
            .result()
    };
    assert!(line(60 * 1024).is_ok());
    let err = line(65 * 1024).unwrap_err();
    assert!(err.to_string().contains("output too small"), "{err}");
    let larger_jar = larger.cookies().unwrap();
    for cookie in cookies {
        larger_jar.insert(cookie).unwrap();
    }
    assert_eq!(data(&larger, "/events").unwrap(), ["a", "b"]);
    let smaller = FuturesSession::builder()
        .connection_buffer_size(8 * 1024)
        .build();
    assert!(data(&smaller, "/events").is_err());
    let both = FuturesSession::builder()
        .connection_buffer_size(8 * 1024)
        .stream_buffer_size(32 * 1024)
        .build();
    assert_eq!(data(&both, "/big-head").unwrap(), ["a", "b"]);
}

#[test]
fn the_defaults_are_eight_workers_and_a_thirty_second_connect_timeout() {
    let session = FuturesSession::new();
    assert_eq!(session.max_workers(), 8);
    assert_eq!(
        session.agent().config().timeouts().connect,
        Some(Duration::from_secs(30))
    );
    // The rest of `SessionBuilder`'s table that the agent shows: idle connections kept per
    // host as many as the workers, ureq's 128 KiB buffers, redirects followed by the session.
    let config = session.agent().config();
    assert_eq!(config.max_idle_connections_per_host(), 8);
    assert_eq!(config.max_idle_connections(), 10);
    assert_eq!(config.input_buffer_size(), 128 * 1024);
    assert_eq!(config.output_buffer_size(), 128 * 1024);
    assert_eq!(config.max_redirects(), 0);
}

#[test]
fn invalid_requests_are_errors_not_panics() {
    let session = FuturesSession::new();
    let bad_header = session
        .get("http://127.0.0.1:1/")
        .header("bad header", "x")
        .send();
    assert!(matches!(bad_header.result(), Err(Error::InvalidRequest(_))));
    let bad_method = session.request("GE T", "http://127.0.0.1:1/").send();
    assert!(matches!(bad_method.result(), Err(Error::InvalidRequest(_))));
    let bad_url = session.get("not a url at all").send();
    let bad_url = bad_url.result();
    assert!(
        matches!(bad_url, Err(Error::InvalidRequest(_))),
        "{bad_url:?}"
    );
}

/// A session default set twice is sent once, with the later value, as requests'
/// `session.headers[k] = v` replaces it.
#[test]
fn a_session_header_set_twice_is_sent_once_with_the_later_value() {
    let server = TestServer::start(|_| Reply::ok("ok"));
    let session = FuturesSession::builder()
        .header("user-agent", "a/1")
        .header("x-other", "kept")
        .header("User-Agent", "b/2")
        .build();
    session.get(server.url()).send().result().unwrap();
    let sent = &server.requests()[0];
    let agents: Vec<_> = sent
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        .collect();
    assert_eq!(agents.len(), 1, "{:?}", sent.headers);
    assert_eq!(sent.header("user-agent"), Some("b/2"));
    assert_eq!(sent.header("x-other"), Some("kept"));
}

#[test]
fn an_invalid_header_says_which_byte_is_wrong_and_how_to_fix_it_without_quoting_the_value() {
    let session = FuturesSession::builder().header("x-team", "a\tb").build();
    let message = |request: ureq_futures::RequestBuilder| match request.send().result() {
        Err(Error::InvalidRequest(m)) => m,
        other => panic!("{other:?}"),
    };
    let url = "http://127.0.0.1:1/";
    // A key read from a file keeps its line break.
    assert_eq!(
        message(session.get(url).bearer_auth("sk-secret\n")),
        "invalid value for header \"authorization\": a line feed (0x0A) at its end (byte 16 of 17): \
         trim the white space around the value"
    );
    assert_eq!(
        message(session.get(url).header("x-api-key", "\r\nsk-secret")),
        "invalid value for header \"x-api-key\": a carriage return (0x0D) at byte 0 of 11: \
         a header value is one line of text, without control characters"
    );
    assert_eq!(
        message(session.get(url).header("x-id", "a\u{7f}b")),
        "invalid value for header \"x-id\": a control character (0x7F) at byte 1 of 3: \
         a header value is one line of text, without control characters"
    );
    assert_eq!(
        message(session.get(url).header("x id", "1")),
        "invalid header name \"x id\": a space at byte 1: a header name is a token \
         (letters, digits and !#$%&'*+-.^_`|~)"
    );
    assert_eq!(
        message(session.get(url).header("", "1")),
        "invalid header name \"\": it is empty"
    );
    assert_eq!(
        message(session.get(url).header("x-caf\u{e9}", "1")),
        "invalid header name \"x-caf\u{e9}\": the byte 0xC3 at byte 5: a header name is a \
         token (letters, digits and !#$%&'*+-.^_`|~)"
    );
}

#[test]
fn a_header_value_beyond_ascii_goes_out_as_its_utf8() {
    let server = TestServer::start(|_| Reply::ok(""));
    let session = FuturesSession::builder()
        .header("x-team", "Z\u{fc}rich")
        .build();
    let sent = session
        .get(server.url())
        .header("x-title", "caf\u{e9} \u{201C}ok\u{201D}")
        .send()
        .result();
    assert_eq!(sent.map(|r| r.status()).ok(), Some(200));
    let request = &server.requests()[0];
    assert_eq!(
        request.header("x-title"),
        Some("caf\u{e9} \u{201C}ok\u{201D}")
    );
    assert_eq!(request.header("x-team"), Some("Z\u{fc}rich"));
}

#[test]
fn a_content_length_set_by_hand_that_is_not_the_bodys_is_refused_before_sending() {
    let server = TestServer::start(|req| Reply::ok(req.body.clone()));
    // Bounded only so that a request that does go out with a wrong length cannot hang.
    let session = FuturesSession::builder()
        .timeout(Duration::from_secs(2))
        .build();
    let url = server.url_for("/upload");
    let message = |request: ureq_futures::RequestBuilder| match request.send().result() {
        Err(Error::InvalidRequest(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        message(
            session
                .post(&url)
                .header("Content-Length", "10")
                .body("hello")
        ),
        "the Content-Length header says 10 bytes, but the body has 5: remove the header \
         (the session sets it from the body)"
    );
    assert_eq!(
        message(
            session
                .post(&url)
                .header("content-length", "3")
                .body("hello")
        ),
        "the Content-Length header says 3 bytes, but the body has 5: remove the header \
         (the session sets it from the body)"
    );
    assert_eq!(
        message(session.post(&url).header("content-length", "5")),
        "the Content-Length header says 5 bytes, but the request has no body: remove the header \
         (the session sets it from the body)"
    );
    assert_eq!(
        message(
            session
                .put(&url)
                .header("content-length", "five")
                .body("hello")
        ),
        "the Content-Length header \"five\" is not a number of bytes: remove the header \
         (the session sets it from the body)"
    );
    assert_eq!(
        message(
            session
                .put(&url)
                .header("content-length", "+5")
                .body("hello")
        ),
        "the Content-Length header \"+5\" is not a number of bytes: remove the header \
         (the session sets it from the body)"
    );
    assert_eq!(
        message(
            session
                .put(&url)
                .header("content-length", "5")
                .header("Content-Length", "5")
                .body("hello")
        ),
        "the Content-Length header is set 2 times: remove the header \
         (the session sets it from the body)"
    );
    // Two framings that disagree (RFC 9112 forbids sending both), or one the server cannot
    // end the body by.
    assert_eq!(
        message(
            session
                .post(&url)
                .header("content-length", "3")
                .header("transfer-encoding", "chunked")
                .body("hello")
        ),
        "the request sets both Content-Length and Transfer-Encoding, which disagree on where \
         its body ends: remove one (without either, the session sets the length from the body)"
    );
    assert_eq!(
        message(
            session
                .post(&url)
                .header("Transfer-Encoding", "gzip")
                .body("hello")
        ),
        "the Transfer-Encoding header \"gzip\" does not end in chunked, so the server could \
         not tell where the body ends: remove the header (the session frames the body itself)"
    );
    // A session's default length would be wrong for every other body, and leave the server
    // waiting on a request without one.
    for name in ["Content-Length", "transfer-encoding"] {
        let framed = FuturesSession::builder()
            .timeout(Duration::from_secs(2))
            .header(name, "5")
            .build();
        assert_eq!(
            message(framed.get(&url)),
            format!(
                "the session's default {name} header is refused: a body's framing is set per \
                 request, from its body; remove it from the session's headers"
            )
        );
    }
    assert_eq!(server.request_count(), 0, "nothing was sent");
    // The right length (or 0 for no body, which some servers ask of a POST) goes out as set.
    let sent = session
        .post(&url)
        .header("content-length", "5")
        .body("hello")
        .send()
        .result()
        .unwrap();
    assert_eq!(sent.text().unwrap(), "hello");
    let empty = session
        .post(&url)
        .header("content-length", "0")
        .send()
        .result()
        .unwrap();
    assert_eq!(empty.bytes(), b"");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("content-length"), Some("5"));
    assert_eq!(requests[1].header("content-length"), Some("0"));
}

/// A framing the request sets itself goes out alone, however its header is written: ureq adds a
/// `Content-Length` of its own unless it reads the framing, and `Chunked`, two lines or blanks
/// around a length sent both framings (a proxy that reads the length would take the chunks
/// after it for another request).
#[test]
fn a_framing_set_by_hand_goes_out_alone_whatever_its_letter_case_or_lines() {
    let server = TestServer::start(|req| Reply::ok(req.body_str().into_owned()));
    let session = FuturesSession::new();
    let post = || session.post(server.url()).body("abc");
    let framings = |req: &support::Request| -> Vec<String> {
        req.headers
            .iter()
            .filter(|(k, _)| {
                k.eq_ignore_ascii_case("content-length")
                    || k.eq_ignore_ascii_case("transfer-encoding")
            })
            .map(|(k, v)| format!("{}: {v}", k.to_ascii_lowercase()))
            .collect()
    };
    for written in ["Chunked", "CHUNKED", " chunked "] {
        let resp = post()
            .header("Transfer-Encoding", written)
            .send()
            .result()
            .unwrap();
        assert_eq!(resp.text().unwrap(), "abc", "{written:?}");
        let req = server.requests().pop().unwrap();
        assert_eq!(
            framings(&req),
            ["transfer-encoding: chunked"],
            "{written:?}"
        );
    }
    let resp = post()
        .header("Transfer-Encoding", "identity")
        .header("transfer-encoding", "Chunked")
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let req = server.requests().pop().unwrap();
    assert_eq!(framings(&req), ["transfer-encoding: identity, chunked"]);
    // One that ureq could not read (not a token), or chunked twice, is refused.
    for (written, says) in [
        ("x-\u{e9}, chunked", "is not a list of codings"),
        ("chunked, chunked", "names chunked more than once"),
    ] {
        let err = post()
            .header("Transfer-Encoding", written)
            .send()
            .result()
            .unwrap_err();
        assert!(err.to_string().contains(says), "{written:?}: {err}");
    }
    let requests = server.request_count();
    let resp = post()
        .header("Content-Length", "3 ")
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "abc");
    let req = server.requests().pop().unwrap();
    assert_eq!(framings(&req), ["content-length: 3"]);
    assert_eq!(
        server.request_count(),
        requests + 1,
        "a refused request was sent"
    );
}

#[test]
fn a_thousand_requests_through_eight_workers_lose_nothing() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("GET", Matcher::Regex(r"^/item/\d+$".into()))
        .with_body_from_request(|req| req.path().as_bytes().to_vec())
        .expect(1000)
        .create();
    let session = FuturesSession::new();
    let handles: Vec<_> = (0..1000)
        .map(|i| session.get(format!("{}/item/{i}", server.url())).send())
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let resp = h.result().unwrap();
        assert_eq!(resp.text().unwrap(), format!("/item/{i}"));
    }
    mock.assert();
}

#[test]
fn hooks_run_concurrently_up_to_max_workers() {
    let session = FuturesSession::builder().max_workers(4).build();
    let inside = Arc::new(Mutex::new((0usize, 0usize))); // (now, peak)
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let inside = inside.clone();
            session.submit(move |_| {
                {
                    let mut g = inside.lock().unwrap();
                    g.0 += 1;
                    g.1 = g.1.max(g.0);
                }
                std::thread::sleep(ms(20));
                inside.lock().unwrap().0 -= 1;
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.result().unwrap();
    }
    let peak = inside.lock().unwrap().1;
    assert!(peak > 1 && peak <= 4, "peak concurrency {peak}");
}

#[test]
fn types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<FuturesSession>();
    send_sync::<Error>();
    send_sync::<Response>();
    send::<Pending<Response>>();
    send_sync::<Pending<Response>>();
    // Whatever the result, as long as it is `Send` (a `Cell` is not `Sync`).
    send_sync::<Pending<std::cell::Cell<u8>>>();
    send::<ureq_futures::RequestBuilder>();
}

#[test]
fn non_standard_methods_reach_the_server() {
    let mut server = mockito::Server::new();
    let mock = server.mock("PURGE", "/cache").with_status(200).create();
    let resp = FuturesSession::new()
        .request("PURGE", format!("{}/cache", server.url()))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 200);
    mock.assert();
}

#[test]
fn a_method_in_lower_case_is_sent_in_upper_case_as_requests_does() {
    let server = TestServer::start(|req| {
        if req.path_only() == "/moved" {
            return Reply::status(302, "").header("Location", "/landed");
        }
        Reply::ok(format!("{} {} {:?}", req.method, req.path, req.body_str()))
    });
    let session = FuturesSession::new();
    let sent = |method: &str, path: &str| {
        crate::text_of(session.request(method, server.url_for(path)).body("b"))
    };
    assert_eq!(sent("post", "/x"), "POST /x \"b\"");
    assert_eq!(sent("Delete", "/x"), "DELETE /x \"b\"");
    assert_eq!(sent("purge", "/x"), "PURGE /x \"b\"");
    // A POST it is: a 302 makes it a GET without its body.
    assert_eq!(sent("post", "/moved"), "GET /landed \"\"");
}

#[test]
fn hooks_and_closures_use_question_mark_on_their_own_errors() {
    let server = support::TestServer::start(|_| support::Reply::ok("not a number"));
    let session = FuturesSession::new();
    // A parse error in a hook: `Error::Other`, with the parser's words.
    let parsed = session
        .get(server.url())
        .send_with(|resp| Ok(resp.text()?.parse::<u32>()?))
        .result();
    match parsed {
        Err(Error::Other(e)) => assert_eq!(e.to_string(), "invalid digit found in string"),
        other => panic!("{other:?}"),
    }
    // A boxed error, from a helper written for any error type.
    fn helper() -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        Err("the helper failed".into())
    }
    let boxed = session.submit(|_| Ok(helper()?)).result();
    assert!(
        matches!(&boxed, Err(Error::Other(e)) if e.to_string() == "the helper failed"),
        "{boxed:?}"
    );
    // This crate's errors, I/O errors and JSON errors keep their own variants on the way.
    let cancelled = session.submit(|_| -> Result<(), _> { Err(Error::other(Error::Cancelled)) });
    assert!(matches!(cancelled.result(), Err(Error::Cancelled)));
    let io = session.submit(|_| Ok(std::fs::read("/nonexistent/ureq-futures")?));
    assert!(matches!(io.result(), Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound));
    let json = session.submit(|_| {
        let boxed: Box<dyn std::error::Error + Send + Sync> =
            Box::new(serde_json::from_str::<u32>("x").unwrap_err());
        Ok(Err::<u32, _>(boxed)?)
    });
    assert!(matches!(json.result(), Err(Error::Json(_))));
}

#[test]
fn huge_connection_and_stream_buffers_are_capped_at_16_mib() {
    let mut server = mockito::Server::new();
    server.mock("GET", "/a").with_body("ok").create();
    server
        .mock("GET", "/events")
        .with_header("content-type", "text/event-stream")
        .with_body("data: a\n\n")
        .create();
    let huge = FuturesSession::builder()
        .connection_buffer_size(usize::MAX)
        .stream_buffer_size(usize::MAX)
        .build();
    assert_eq!(huge.agent().config().input_buffer_size(), 16 * 1024 * 1024);
    assert_eq!(huge.agent().config().output_buffer_size(), 16 * 1024 * 1024);
    let resp = huge
        .get(format!("{}/a", server.url()))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "ok");
    let data: Vec<String> = huge
        .get(format!("{}/events", server.url()))
        .events()
        .result()
        .unwrap()
        .map(|e| e.unwrap().data)
        .collect();
    assert_eq!(data, ["a"]);
}

#[test]
fn max_per_host_holds_for_a_url_whose_user_info_is_beyond_ascii() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (now.clone(), peak.clone());
    let server = TestServer::start(move |req| {
        p.fetch_max(n.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        std::thread::sleep(ms(20));
        n.fetch_sub(1, Ordering::SeqCst);
        Reply::ok(req.header("authorization").unwrap_or("-").to_string())
    });
    let session = FuturesSession::builder()
        .max_workers(8)
        .max_per_host(1)
        .build();
    // The user-info is percent-encoded when the request is sent; the origin is the server's.
    let url = format!("http://caf\u{e9}:pw@127.0.0.1:{}/x", server.addr().port());
    let handles: Vec<_> = (0..4).map(|_| session.get(&url).send()).collect();
    for h in handles {
        // `café:pw` in base64.
        assert_eq!(h.result().unwrap().text().unwrap(), "Basic Y2Fmw6k6cHc=");
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1, "requests at once");
}
