//! Redirects as the session follows them: methods, bodies, credentials within one origin, loops.
//! (Credentials crossing origins are covered in tests/security.rs.)

use support::{Reply, TestServer};
use ureq_futures::{Error, FuturesSession};

/// `/start` redirects with `status` to `/end` on the same server; `/end` answers with what it got.
fn same_origin_server(status: u16) -> TestServer {
    TestServer::start(move |req| match req.path.as_str() {
        "/start" => Reply::status(status, "").header("Location", "/end"),
        "/end" => Reply::ok(format!(
            "{} {} auth={} key={}",
            req.method,
            req.body_str(),
            req.header("authorization").unwrap_or("-"),
            req.header("x-api-key").unwrap_or("-"),
        )),
        // One redirect from a location that is no http URL, which no error quotes.
        "/to-bad" => Reply::status(302, "").header("Location", "/bad"),
        "/bad" => Reply::status(302, "").header("Location", "javascript:fetch('/k?key=secret')"),
        // A key in the query, which no error shows.
        path if path.starts_with("/loop") => {
            Reply::status(302, "").header("Location", "/loop?key=secret")
        }
        // `/hops/N` takes N more redirects to reach `/end`.
        path if path.starts_with("/hops/") => match path["/hops/".len()..].parse::<u32>() {
            Ok(0) | Err(_) => Reply::status(302, "").header("Location", "/end"),
            Ok(n) => Reply::status(302, "").header("Location", format!("/hops/{}", n - 1)),
        },
        _ => Reply::status(404, "no"),
    })
}

#[test]
fn credentials_stay_within_one_origin() {
    let server = same_origin_server(302);
    let resp = FuturesSession::new()
        .get(server.url_for("/start"))
        .header("authorization", "Bearer k1")
        .header("x-api-key", "k2")
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "GET  auth=Bearer k1 key=k2");
    assert_eq!(resp.url(), server.url_for("/end"));
}

#[test]
fn moved_found_and_see_other_turn_a_post_into_a_get_without_body() {
    for status in [301, 302, 303] {
        let server = same_origin_server(status);
        let resp = FuturesSession::new()
            .post(server.url_for("/start"))
            .header("content-type", "text/plain")
            .body("payload")
            .send()
            .result()
            .unwrap();
        assert_eq!(resp.text().unwrap(), "GET  auth=- key=-", "{status}");
        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{status}");
        assert_eq!(
            (requests[0].method.as_str(), requests[0].body_str()),
            ("POST", "payload".into()),
            "{status}"
        );
        let end = &requests[1];
        assert_eq!(end.path, "/end", "{status}");
        assert!(end.body.is_empty(), "{status}: {end:?}");
        assert_eq!(end.header("content-type"), None, "{status}: {end:?}");
        assert!(
            end.header("content-length").is_none_or(|n| n == "0"),
            "{status}: {end:?}"
        );
    }
}

/// Sends `method` with a text body through a `status` redirect within one origin: the final
/// answer's text, and the request the redirect led to.
fn text_payload_through(status: u16, method: &str) -> (String, support::Request) {
    let server = same_origin_server(status);
    let resp = FuturesSession::new()
        .request(method, server.url_for("/start"))
        .header("content-type", "text/plain")
        .body("payload")
        .send()
        .result()
        .unwrap();
    (
        resp.text().unwrap().to_string(),
        server.requests().swap_remove(1),
    )
}

/// RFC 9110 §15.4.2 and §15.4.3 allow only a POST to become a GET on a 301 or 302; browsers
/// (the Fetch standard) and curl keep any other method, with its body.
#[test]
fn moved_and_found_repeat_other_methods_than_post_with_their_body() {
    for status in [301, 302] {
        for method in ["PUT", "PATCH", "DELETE"] {
            let (text, end) = text_payload_through(status, method);
            let what = format!("{method} via {status}");
            assert_eq!(text, format!("{method} payload auth=- key=-"), "{what}");
            assert_eq!(end.header("content-type"), Some("text/plain"), "{what}");
        }
    }
}

#[test]
fn see_other_turns_any_method_but_head_into_a_get_without_body() {
    for method in ["PUT", "PATCH", "DELETE", "GET"] {
        let (text, end) = text_payload_through(303, method);
        assert_eq!(text, "GET  auth=- key=-", "{method}");
        assert_eq!(end.header("content-type"), None, "{method}: {end:?}");
    }
}

/// When a redirect makes a GET without body, none of the headers that described the body goes
/// along: the Fetch standard's request-body headers and requests' `Transfer-Encoding`.
#[test]
fn a_get_made_by_a_redirect_sends_no_header_of_the_dropped_body() {
    let body_headers = [
        ("content-type", "text/plain"),
        ("content-encoding", "identity"),
        ("content-language", "en"),
        ("content-location", "/drafts/1"),
        ("transfer-encoding", "chunked"),
    ];
    for status in [302, 303] {
        let server = same_origin_server(status);
        let mut request = FuturesSession::new().post(server.url_for("/start"));
        for (name, value) in body_headers {
            request = request.header(name, value);
        }
        let resp = request.body("payload").send().result().unwrap();
        assert_eq!(resp.text().unwrap(), "GET  auth=- key=-", "{status}");
        let requests = server.requests();
        for (name, value) in body_headers {
            assert_eq!(requests[0].header(name), Some(value), "{status}: {name}");
            assert_eq!(requests[1].header(name), None, "{status}: {name}");
        }
    }
}

/// A `Host` the caller set names the host of the URL it was set for: a redirect to another host
/// lets ureq name the new one, as curl and Go's client do.
#[test]
fn a_host_header_set_by_the_caller_does_not_follow_a_redirect_to_another_host() {
    let landing = TestServer::start(|req| Reply::ok(req.header("host").unwrap_or("-").to_string()));
    let port = landing.addr().port();
    let origin = TestServer::start(move |req| match req.path.as_str() {
        "/away" => Reply::status(302, "").header("Location", format!("http://localhost:{port}/")),
        "/near" => Reply::status(302, "").header("Location", "/end"),
        _ => Reply::ok(req.header("host").unwrap_or("-").to_string()),
    });
    let session = FuturesSession::new();
    // The `Host` the server at the end of the redirect saw.
    let host_seen_from = |path: &str| {
        let resp = session
            .get(origin.url_for(path))
            .header("host", "api.example")
            .send()
            .result()
            .unwrap();
        resp.text().unwrap().to_string()
    };
    assert_eq!(host_seen_from("/away"), format!("localhost:{port}"));
    assert_eq!(origin.requests()[0].header("host"), Some("api.example"));
    // Within the host, the caller's `Host` goes along.
    assert_eq!(host_seen_from("/near"), "api.example");
}

#[test]
fn a_head_stays_a_head_through_every_redirect() {
    for status in [301, 302, 303, 307, 308] {
        let server = same_origin_server(status);
        let resp = FuturesSession::new()
            .head(server.url_for("/start"))
            .send()
            .result()
            .unwrap();
        assert_eq!(resp.status(), 200, "{status}");
        assert_eq!(resp.url(), server.url_for("/end"), "{status}");
        let methods: Vec<_> = server
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(
            methods,
            [
                ("HEAD".to_string(), "/start".to_string()),
                ("HEAD".to_string(), "/end".to_string())
            ],
            "{status}"
        );
    }
}

#[test]
fn temporary_redirect_repeats_the_method_and_body() {
    for status in [307, 308] {
        let server = same_origin_server(status);
        let resp = FuturesSession::new()
            .post(server.url_for("/start"))
            .body("payload")
            .send()
            .result()
            .unwrap();
        assert_eq!(
            resp.text().unwrap(),
            "POST payload auth=- key=-",
            "{status}"
        );
    }
}

#[test]
fn a_redirect_loop_ends_in_an_error() {
    let server = same_origin_server(302);
    let result = FuturesSession::new()
        .get(server.url_for("/loop"))
        .send()
        .result();
    // The first request and the session's `DEFAULT_MAX_REDIRECTS` (10) redirects.
    assert_eq!(server.request_count(), 11);
    // The limit that fired, where, and what to do.
    let loop_url = server.url_for("/loop?<redacted>");
    let err = result.unwrap_err();
    match &err {
        Error::TooManyRedirects { max, url, location } => {
            assert_eq!((*max, &**url, &**location), (10, &*loop_url, &*loop_url))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "too many redirects: {loop_url} redirected to {loop_url} after 10 redirects, the \
             most max_redirects allows (SessionBuilder::max_redirects, 10 unless set, or a \
             given agent's own); the server may be redirecting in a loop"
        )
    );
}

#[test]
fn an_agent_with_max_redirects_zero_gets_the_redirect_itself() {
    let server = same_origin_server(302);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .build()
        .into();
    let resp = FuturesSession::builder()
        .agent(agent)
        .build()
        .get(server.url_for("/start"))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.header("location"), Some("/end"));
}

#[test]
fn max_redirects_bounds_the_hops_of_a_session_built_agent() {
    let server = same_origin_server(302);
    // `/hops/2` is three redirects away from `/end`.
    let session = FuturesSession::builder().max_redirects(3).build();
    let resp = session.get(server.url_for("/hops/2")).send().result();
    assert_eq!(resp.unwrap().text().unwrap(), "GET  auth=- key=-");
    let short = FuturesSession::builder().max_redirects(2).build();
    let result = short.get(server.url_for("/hops/2")).send().result();
    assert!(
        matches!(&result, Err(Error::TooManyRedirects { max: 2, location, .. }) if location.ends_with("/end")),
        "{result:?}"
    );
    let one = FuturesSession::builder().max_redirects(1).build();
    let err = one
        .get(server.url_for("/to-bad"))
        .send()
        .result()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "too many redirects: {} redirected to an invalid location after 1 redirect, the most \
             max_redirects allows (SessionBuilder::max_redirects, 10 unless set, or a given \
             agent's own); the server may be redirecting in a loop",
            server.url_for("/bad")
        )
    );
    // One the session does not follow says why, and how to read it, not where it leads.
    let err = FuturesSession::new()
        .get(server.url_for("/bad"))
        .send()
        .result()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid request: the 302 answer of {} redirects to a location the session does \
             not follow: the location is not an http or https URL (its scheme is javascript); \
             max_redirects(0) returns a redirect as the response, whose Location header can be \
             read",
            server.url_for("/bad")
        )
    );
    let none = FuturesSession::builder().max_redirects(0).build();
    let resp = none.get(server.url_for("/hops/2")).send().result().unwrap();
    assert_eq!(
        (resp.status(), resp.header("location")),
        (302, Some("/hops/1"))
    );
    // Where a 2xx is asked for, the redirect is an error that says it was not followed.
    let dir = support::TempDir::new("redirect");
    let err = (none.get(server.url_for("/hops/2")))
        .download(dir.join("file"))
        .result()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Server responded with an error. Status Code: 302 Found for url: {} (a redirect \
             that was not followed: max_redirects is 0, or the request's body cannot be sent \
             again)",
            server.url_for("/hops/2")
        )
    );
}

#[test]
fn the_sessions_own_agent_leaves_redirects_to_the_session() {
    let server = same_origin_server(302);
    let session = FuturesSession::new();
    let url = server.url_for("/start");
    let (raw, asked) = session
        .submit(move |agent| {
            let raw = agent.get(&url).call()?.status().as_u16();
            let mut followed = agent.get(&url).config().max_redirects(10).build().call()?;
            Ok((raw, followed.body_mut().read_to_string()?))
        })
        .result()
        .unwrap();
    assert_eq!(raw, 302);
    assert_eq!(asked, "GET  auth=- key=-");
    // The session itself still follows them.
    let resp = session.get(server.url_for("/start")).send().result();
    assert_eq!(resp.unwrap().url(), server.url_for("/end"));
}

#[test]
fn a_session_given_another_sessions_agent_follows_redirects_only_when_told() {
    let server = same_origin_server(302);
    let first = FuturesSession::new();
    let shared = FuturesSession::builder()
        .agent(first.agent().clone())
        .build();
    let resp = shared
        .get(server.url_for("/start"))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 302, "that agent says max_redirects(0)");
    let told = FuturesSession::builder()
        .agent(first.agent().clone())
        .max_redirects(10)
        .build();
    let resp = told.get(server.url_for("/start")).send().result().unwrap();
    assert_eq!(resp.url(), server.url_for("/end"));
}

/// Answers as express does: relative locations with dot segments, and a location with a raw
/// space that curl and requests send as `%20`.
#[test]
fn locations_with_dot_segments_and_spaces_resolve_as_rfc_3986_says() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/express/rel/a/b" => Reply::status(302, "").header("Location", "../../static/7"),
        "/spaces" => Reply::status(301, "").header("Location", "/static/a b"),
        "/dots" => Reply::status(307, "").header("Location", "./x/../y/./z?q=1"),
        path => Reply::ok(format!("at {path}")),
    });
    let session = FuturesSession::new();
    for (start, end) in [
        ("/express/rel/a/b", "/express/static/7"),
        ("/spaces", "/static/a%20b"),
        ("/dots", "/y/z?q=1"),
    ] {
        let resp = session.get(server.url_for(start)).send().result().unwrap();
        assert_eq!(resp.text().unwrap(), format!("at {end}"), "{start}");
        assert_eq!(resp.url(), server.url_for(end), "{start}");
    }
}

#[test]
fn a_location_with_an_invalid_port_is_refused_before_anything_is_sent() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/start" => Reply::status(302, "").header("Location", "http://127.0.0.1:99999/secret"),
        _ => Reply::ok("reached"),
    });
    let err = FuturesSession::new()
        .get(server.url_for("/start"))
        .send()
        .result()
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert!(text.contains("port 99999 is out of range"), "{text}");
    assert!(text.contains(&server.url_for("/start")), "{text}");
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_redirect_whose_body_stalls_resolves_within_the_timeout() {
    // A 302 with its head, the start of a body that says 1000 bytes, then nothing until the
    // client goes away (30 s at most): the redirect's body is not worth waiting past the budget.
    let server = TestServer::start(|req| {
        if req.path == "/end" {
            return Reply::ok("end");
        }
        Reply::custom(|socket| {
            use std::io::{Read, Write};
            let head = "HTTP/1.1 302 Found\r\nlocation: /end\r\ncontent-length: 1000\r\n\r\nmoved";
            if socket.write_all(head.as_bytes()).is_ok() {
                let _ = socket.set_read_timeout(Some(support::secs(30)));
                let _ = socket.read(&mut [0; 1]);
            }
        })
    });
    let session = FuturesSession::builder().timeout(support::ms(1500)).build();
    let mut streaming = session.get(server.url_for("/start")).send_streaming();
    let result = streaming
        .result_timeout(support::secs(20))
        .expect("the handle waited for the rest of the redirect's body, past the timeout");
    let err = result.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[test]
fn a_timeout_while_following_a_redirect_says_so_and_names_the_url() {
    // The redirect's body stalls: the budget runs out while it is drained, before the next hop.
    let server = TestServer::start(|req| match req.path_only() {
        "/slow" => Reply::stall_mid_body("moved", 1000)
            .with_status(302)
            .header("location", "/end"),
        _ => Reply::ok("end"),
    });
    let err = FuturesSession::builder()
        .timeout(support::SLOW_ANSWER)
        .build()
        .get(server.url_for("/slow?key=secret"))
        .send()
        .result()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout(t) if t.kind == ureq::Timeout::Global),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "timeout: whole request over 2 s (timeout) while following the redirect from {} \
             for url: {}",
            server.addr(),
            server.url_for("/slow?<redacted>")
        )
    );
    assert_eq!(server.request_count(), 1);
}

/// A 3xx whose `Location` is empty (httpbin's `/redirect-to?url=` sends one) is the answer, as in
/// requests and curl: an empty reference would name the same URL again and loop to
/// `max_redirects`.
#[test]
fn an_empty_location_is_not_followed() {
    let server = TestServer::start(|_| Reply::status(302, "moved nowhere").header("Location", ""));
    let session = FuturesSession::new();
    let resp = session.get(server.url_for("/here")).send().result();
    let resp = resp.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (resp.status(), resp.text().unwrap()),
        (302, "moved nowhere")
    );
    assert_eq!(resp.url(), server.url_for("/here"));
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_location_in_latin_1_is_followed_with_its_bytes_percent_encoded() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/start" => Reply::raw(
            &b"HTTP/1.1 302 Found\r\nLocation: /caf\xe9?q=\xfc\r\nContent-Length: 0\r\n\r\n"[..],
        ),
        path => Reply::ok(format!("at {path}")),
    });
    let resp = FuturesSession::new()
        .get(server.url_for("/start"))
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "at /caf%E9?q=%FC");
    assert_eq!(resp.url(), server.url_for("/caf%E9?q=%FC"));
}

#[test]
fn headers_named_for_a_credential_do_not_follow_a_redirect_to_another_origin() {
    let landing = TestServer::start(|_| Reply::ok("landed"));
    let target = format!("http://localhost:{}/landed", landing.addr().port());
    let origin =
        TestServer::start(move |_| Reply::status(307, "").header("Location", target.clone()));
    let resp = FuturesSession::new()
        .get(origin.url_for("/x"))
        .header("ocp-apim-subscription-key", "k1")
        .header("x-auth-token", "k2")
        .header("private-token", "k3")
        .header("x-client-secret", "k4")
        .header("x-password", "k5")
        .header("cb-access-passphrase", "k6")
        .header("x-session-id", "k7")
        .header("x-credential", "k8")
        .header("x-bypass-cache", "1")
        .header("x-passcode", "k9")
        .header("x-request-id", "req-1")
        .header("idempotency-key", "op-7")
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "landed");
    let sent = &origin.requests()[0];
    assert_eq!(sent.header("x-auth-token"), Some("k2"));
    let landed = &landing.requests()[0];
    let mut names: Vec<_> = landed
        .headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| {
            ["x-", "key", "token", "pass"]
                .iter()
                .any(|word| name.contains(word))
        })
        .collect();
    names.sort();
    // An idempotency key names the request and grants nothing: it goes on.
    assert_eq!(names, ["idempotency-key", "x-bypass-cache", "x-request-id"]);
}

#[test]
fn the_response_url_keeps_the_fragment_of_the_request_or_of_the_last_location_with_one() {
    // Fragments are never sent; the response's URL carries them as requests' does (RFC 9110
    // §10.2.2: a location without a fragment inherits the request's).
    let server = TestServer::start(|req| match req.path.as_str() {
        "/start" => Reply::status(302, "").header("Location", "/target"),
        "/token" => Reply::status(302, "").header("Location", "/cb#access_token=abc"),
        "/spaced" => Reply::status(302, "").header("Location", "/cb#a b{|}%zz"),
        "/empty" => Reply::status(302, "").header("Location", "/done#"),
        "/cb" => Reply::status(302, "").header("Location", "/done"),
        other => Reply::ok(other.to_string()),
    });
    let session = FuturesSession::new();
    let url = |path: &str| server.url_for(path);
    let get = |path: String| session.get(path).send().result().unwrap();
    let resp = get(url("/start#orig"));
    assert_eq!(resp.url(), url("/target#orig"));
    assert_eq!(resp.text().unwrap(), "/target", "the fragment was sent");
    let resp = get(url("/token"));
    assert_eq!(resp.url(), url("/done#access_token=abc"));
    let resp = get(url("/token#mine"));
    assert_eq!(resp.url(), url("/done#access_token=abc"));
    // Encoded as a location is; an empty fragment is none.
    assert_eq!(get(url("/spaced")).url(), url("/done#a%20b%7B%7C%7D%25zz"));
    assert_eq!(get(url("/empty#mine")).url(), url("/done"));
    assert_eq!(get(url("/echo#")).url(), url("/echo"));
    assert_eq!(get(url("/echo")).url(), url("/echo"));
    let streamed = session
        .get(url("/start#s"))
        .send_streaming()
        .result()
        .unwrap();
    assert_eq!(streamed.url(), url("/target#s"));
    // The server gets the path and the query, never the fragment.
    let resp = get(url("/q?x=1#f"));
    assert_eq!(
        (resp.url(), resp.text().unwrap()),
        (url("/q?x=1#f").as_str(), "/q?x=1")
    );
}

/// A redirect's body is read so that its connection can be reused, but nobody needs it: a
/// server that stalls in it does not hold the request (or a stream) without a timeout.
#[test]
fn a_redirect_whose_body_stalls_is_followed_all_the_same() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/stalled" => Reply::stall_mid_body("Mov", 100)
            .with_status(307)
            .header("Location", "/end"),
        "/events" => Reply::stall_mid_body("Mov", 100)
            .with_status(307)
            .header("Location", "/feed"),
        "/feed" => Reply::sse(["data: hi\n\n"], std::time::Duration::ZERO),
        _ => Reply::ok("arrived"),
    });
    let session = FuturesSession::new();
    let wait = support::secs(30);
    // Both at once: each waits the 5 s that a redirect's body is waited for.
    let mut sent = session.get(server.url_for("/stalled")).send();
    let mut stream = session.get(server.url_for("/events")).events();
    let resp = sent.result_timeout(wait).expect("followed").unwrap();
    assert_eq!(resp.text().unwrap(), "arrived");
    let mut stream = stream.result_timeout(wait).expect("followed").unwrap();
    assert_eq!(stream.next().unwrap().unwrap().data, "hi");
}
