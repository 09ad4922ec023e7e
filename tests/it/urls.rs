//! Invalid URLs are refused before anything is sent, with the fix when there is one.

use ureq_futures::{Error, FuturesSession};

fn refused(url: &str) -> String {
    match FuturesSession::new().get(url).send().result() {
        Err(Error::InvalidRequest(message)) => message,
        other => panic!("{url}: expected InvalidRequest, got {other:?}"),
    }
}

#[test]
fn an_out_of_range_port_is_refused_instead_of_reaching_port_80() {
    let m = refused("http://127.0.0.1:99999/secret");
    assert_eq!(
        m,
        "invalid URL http://127.0.0.1:99999/secret: port 99999 is out of range (1 to 65535)"
    );
    assert!(refused("http://127.0.0.1:-1/").contains("is not a number"));
    assert!(refused("http://127.0.0.1:0/").contains("port 0 is out of range"));
}

#[test]
fn a_missing_scheme_shows_the_fix() {
    assert!(refused("localhost:11434/v1")
        .contains("the scheme is missing: write http://localhost:11434/v1"),);
    assert!(refused("example.com/a").contains("http://example.com/a"));
    // A colon left out is no missing scheme.
    let m = refused("https//example.com/a?key=sk-secret");
    assert!(
        m.contains("the colon after the scheme is missing: write https://example.com/a?<redacted>"),
        "{m}"
    );
    assert!(refused("HTTP//h/x").contains("write http://h/x"));
}

#[test]
fn bad_characters_and_empty_hosts_are_refused_and_keys_stay_out_of_the_message() {
    let m = refused("http://127.0.0.1:1/a b?key=sk-secret");
    assert!(m.contains("a space at byte 20"), "{m}");
    assert!(!m.contains("sk-secret"), "{m}");
    assert!(refused("http://:8080/x").contains("the host is empty"));
    assert!(refused("http:///x").contains("the host is empty"));
}

#[test]
fn every_request_surface_checks_the_url() {
    let session = FuturesSession::new();
    let err = session
        .get("http://127.0.0.1:99999/")
        .events()
        .result()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    let err = session
        .post("localhost:11434/v1/chat/completions")
        .json(&serde_json::json!({}))
        .send()
        .result()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("http://localhost:11434/v1/chat/completions"),
        "{err}"
    );
}

#[test]
fn query_pairs_reach_the_server_when_the_url_has_a_fragment() {
    let server = support::TestServer::start(|req| support::Reply::ok(req.path.clone()));
    let session = FuturesSession::new();
    for (url, sent) in [
        (format!("{}/p#top", server.url()), "/p?q=a%20b"),
        (format!("{}/p?x=1#top?y=2", server.url()), "/p?x=1&q=a%20b"),
    ] {
        let resp = session.get(&url).query("q", "a b").send().result().unwrap();
        assert_eq!(resp.text().unwrap(), sent, "{url}");
    }
}

#[test]
fn white_space_around_a_url_is_named_on_one_line_with_the_fix() {
    // As a URL read from a file or a terminal comes, line break and all.
    for (url, expected) in [
        (
            "http://127.0.0.1:1/x\n",
            "invalid URL http://127.0.0.1:1/x\\n: a control character (0x0A) at its end; trim \
             the white space around the URL",
        ),
        (
            "http://127.0.0.1:1/x?key=sk-secret\r\n",
            "invalid URL http://127.0.0.1:1/x?<redacted>: a control character (0x0A) at its \
             end; trim the white space around the URL",
        ),
        (
            " http://127.0.0.1:1/x",
            "invalid URL  http://127.0.0.1:1/x: a space at its start; trim the white space \
             around the URL",
        ),
        (
            " http://u:sk-secret@127.0.0.1:1/x",
            "invalid URL  http://<redacted>@127.0.0.1:1/x: a space at its start; trim the white \
             space around the URL",
        ),
        (
            "\thttp://127.0.0.1:1/x",
            "invalid URL \\thttp://127.0.0.1:1/x: a control character (0x09) at its start; \
             trim the white space around the URL",
        ),
        // Inside the URL, the fix is still to encode it, on one line.
        (
            "http://127.0.0.1:1/a\nb",
            "invalid URL http://127.0.0.1:1/a\\nb: a control character (0x0A) at byte 20; \
             percent-encode it",
        ),
    ] {
        assert_eq!(refused(url), expected, "{url:?}");
    }
}

#[test]
fn a_percent_that_starts_no_escape_is_sent_encoded_and_escapes_as_they_are() {
    // requests sends `%25` for such a `%`; a lone `%` on the request line is no request target,
    // which strict servers and proxies answer with a 400.
    let server = support::TestServer::start(|req| support::Reply::ok(req.path.clone()));
    let session = FuturesSession::new();
    for (path, sent) in [
        ("/100%", "/100%25"),
        ("/a%zzb?x=%&y=50%25", "/a%25zzb?x=%25&y=50%25"),
        ("/%E4%c3%a4?q=%2", "/%E4%c3%a4?q=%252"),
        ("/ä%", "/%C3%A4%25"),
    ] {
        let resp = session
            .get(format!("{}{path}", server.url()))
            .send()
            .result()
            .unwrap();
        assert_eq!(resp.text().unwrap(), sent, "{path}");
    }
}

#[test]
fn invisible_characters_copied_with_a_url_are_named_with_their_place() {
    let m = refused("\u{feff}http://127.0.0.1:1/x");
    assert!(
        m.contains("U+FEFF (a byte order mark) at its start; trim it"),
        "{m}"
    );
    let m = refused("http://127.0.0.1:1/x\u{a0}");
    assert!(
        m.contains("U+00A0 (a no-break space) at its end; trim it"),
        "{m}"
    );
    for mark in ['\u{2069}', '\u{202c}'] {
        let m = refused(&format!("http://127.0.0.1:1/x{mark}"));
        assert!(m.contains("(a mark of text direction) at its end"), "{m}");
    }
    let m = refused("http://exa\u{200b}mple.com/x");
    assert!(
        m.contains("the host name holds U+200B (a zero-width space) at byte 3: remove it"),
        "{m}"
    );
    // A host that is not ASCII for its letters still gets the punycode hint.
    assert!(refused("http://bücher.example/").contains("punycode"));
}

#[test]
fn a_host_in_brackets_must_be_an_ipv6_address_without_a_zone() {
    let m = refused("http://[not-ip]:1/");
    assert!(m.contains("[not-ip] is no IPv6 address"), "{m}");
    let m = refused("http://[fe80::1%25eth0]:1/");
    assert!(m.contains("has a zone ID"), "{m}");
    // An address passes the check (and fails to connect, on a closed port).
    for url in [
        "http://[::1]:1/",
        "http://[::ffff:127.0.0.1]:1/",
        "http://[0:0:0:0:0:0:0:1]:1/",
    ] {
        let err = FuturesSession::new().get(url).send().result().unwrap_err();
        assert!(!matches!(err, Error::InvalidRequest(_)), "{url}: {err}");
    }
}

#[test]
fn a_long_urls_status_error_shows_its_start_and_its_length() {
    // A 414 answers a long URL: its error does not quote all of it.
    let server = support::TestServer::start(|_| support::Reply::status(414, "URI Too Long"));
    let url = format!("{}/{}", server.url(), "a".repeat(30_000));
    let resp = FuturesSession::new().get(&url).send().result().unwrap();
    let m = resp.error_for_status().unwrap_err().to_string();
    assert!(m.len() < 2_500, "{} bytes", m.len());
    assert!(m.contains(&format!("aaaa... ({} bytes)", url.len())), "{m}");
}

#[test]
fn a_url_of_the_longest_length_is_sent_and_one_byte_more_is_refused() {
    let base = "http://127.0.0.1:1/";
    let longest = format!("{base}{}", "a".repeat(65_534 - base.len()));
    let err = FuturesSession::new()
        .get(&longest)
        .send()
        .result()
        .unwrap_err();
    assert!(!matches!(err, Error::InvalidRequest(_)), "{err}");
    let m = refused(&format!("{longest}a"));
    assert!(m.contains("it is 65535 bytes long"), "{m}");
}

#[test]
fn a_url_too_long_to_send_is_refused_in_a_short_message() {
    let url = format!("http://127.0.0.1:1/{}?key=sk-secret", "a".repeat(70_000));
    let m = refused(&url);
    assert!(m.len() < 2_500, "{} bytes", m.len());
    assert!(
        m.contains("bytes long (encoded), more than the 65534"),
        "{m}"
    );
    assert!(m.contains("send the data in the request's body"), "{m}");
    assert!(!m.contains("sk-secret"), "{m}");
}
