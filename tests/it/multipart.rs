//! `RequestBuilder::multipart`: the exact bytes a server receives.

use support::{Reply, TestServer};
use ureq_futures::{FuturesSession, Multipart};

#[test]
fn the_server_receives_fields_and_files_as_rfc_7578_frames_them() {
    let server = TestServer::start(|_| Reply::ok("stored"));
    let png = vec![0x89, b'P', b'N', b'G', 0, 0xff, b'\r', b'\n'];
    let form = Multipart::new()
        .text("title", "Q3 report")
        .file(
            "report",
            "q3.csv",
            "text/csv",
            "region,total\r\nnorth,42\r\n",
        )
        .file("logo", "logo.png", "image/png", png.clone());
    let resp = FuturesSession::new()
        .post(server.url_for("/upload"))
        .multipart(form)
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "stored");

    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    let content_type = req.header("content-type").expect("a content type");
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("content type {content_type:?}"));
    assert!(boundary.len() >= 27 && boundary.is_ascii(), "{boundary:?}");
    let mut want = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQ3 report\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"report\"; filename=\"q3.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nregion,total\r\nnorth,42\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"logo.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    want.extend_from_slice(&png);
    want.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(req.body, want);
    assert_eq!(
        req.header("content-length"),
        Some(want.len().to_string().as_str())
    );
}

/// A multipart `Content-Type` set by hand (or as a session default) wins, with the body's
/// boundary in it: the one it named, or none (`multipart/form-data`, as `curl -H` examples set
/// it), left the server unable to find the parts, since the body used a boundary of its own.
/// Another type is the caller's and goes as it is.
#[test]
fn a_content_type_header_set_by_hand_wins_with_the_bodys_boundary() {
    let server = TestServer::start(|_| Reply::ok(""));
    let session = FuturesSession::builder()
        .header("Content-Type", "multipart/form-data")
        .build();
    let hand = [
        (Some("multipart/mixed; boundary=mine"), "multipart/mixed"),
        (
            Some("multipart/related; charset=utf-8"),
            "multipart/related; charset=utf-8",
        ),
        (None, "multipart/form-data"),
    ];
    for (own, kept) in hand {
        let mut request = session.post(server.url());
        if let Some(own) = own {
            request = request.header("content-type", own);
        }
        request
            .multipart(Multipart::new().text("a", "1"))
            .send()
            .result()
            .unwrap();
        let req = server.requests().pop().unwrap();
        let content_type = req.header("content-type").unwrap();
        let (sent, boundary) = content_type.split_once("; boundary=").unwrap();
        assert_eq!(sent, kept, "{own:?}");
        assert!(boundary.starts_with("ureq-futures-"), "{content_type}");
        let body = req.body_str();
        assert!(
            body.starts_with(&format!("--{boundary}\r\n"))
                && body.ends_with(&format!("\r\n--{boundary}--\r\n")),
            "{content_type}: {body}"
        );
    }
    FuturesSession::new()
        .post(server.url())
        .header("content-type", "text/plain")
        .multipart(Multipart::new().text("a", "1"))
        .send()
        .result()
        .unwrap();
    let req = server.requests().pop().unwrap();
    assert_eq!(req.header("content-type"), Some("text/plain"));
}

/// A session's default `Content-Type` of another kind (`application/json`, set once for an
/// API's JSON requests) yields to a multipart body, which no other type can carry: the upload
/// went out labelled JSON, and the server refused it or found no parts. It still applies to
/// bodies of other kinds, and a type the request sets itself is sent as it is.
#[test]
fn a_session_default_content_type_yields_to_a_multipart_body() {
    let server = TestServer::start(|_| Reply::ok(""));
    let session = FuturesSession::builder()
        .header("Content-Type", "application/json")
        .build();
    let form = || Multipart::new().file("f", "a.txt", "text/plain", "hello");
    session
        .post(server.url())
        .multipart(form())
        .send()
        .result()
        .unwrap();
    let req = server.requests().pop().unwrap();
    let content_type = req.header("content-type").unwrap().to_string();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    assert!(req.body_str().starts_with(&format!("--{boundary}\r\n")));
    session
        .post(server.url())
        .body("{}")
        .send()
        .result()
        .unwrap();
    let req = server.requests().pop().unwrap();
    assert_eq!(req.header("content-type"), Some("application/json"));
    session
        .post(server.url())
        .header("Content-Type", "application/octet-stream")
        .multipart(form())
        .send()
        .result()
        .unwrap();
    let req = server.requests().pop().unwrap();
    assert_eq!(req.header("content-type"), Some("application/octet-stream"));
}

/// A file whose content type is left empty is labelled `application/octet-stream`, as RFC 7578
/// §4.4 says for file data of unknown type (and browsers send), rather than with an empty
/// `Content-Type:`, which is no media type at all.
#[test]
fn a_file_without_a_content_type_is_sent_as_octet_stream() {
    let server = TestServer::start(|_| Reply::ok(""));
    let form =
        Multipart::new()
            .file("a", "a.bin", "", vec![1, 2, 3])
            .file("b", "b.bin", " \r\n", vec![4]);
    FuturesSession::new()
        .post(server.url())
        .multipart(form)
        .send()
        .result()
        .unwrap();
    let body = server.requests()[0].body_str().into_owned();
    for name in ["a.bin", "b.bin"] {
        let head = format!("filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n");
        assert!(body.contains(&head), "{name}: {body:?}");
    }
    assert!(!body.contains("Content-Type: \r\n"), "{body:?}");
    // Blanks around one are left out; a control character inside it (a line end would start
    // a header of the caller's text in the part's head) is refused, before anything is sent.
    let trimmed = Multipart::new().file("c", "c.txt", " text/plain\r\n", vec![5]);
    FuturesSession::new()
        .post(server.url())
        .multipart(trimmed)
        .send()
        .result()
        .unwrap();
    let body = server.requests()[1].body_str().into_owned();
    assert!(
        body.contains("filename=\"c.txt\"\r\nContent-Type: text/plain\r\n\r\n"),
        "{body:?}"
    );
    for content_type in ["text/plain\r\nX-Injected: 1", "text/\0plain"] {
        let form = Multipart::new().file("d", "d.txt", content_type, vec![6]);
        let err = FuturesSession::new()
            .post(server.url())
            .multipart(form)
            .send()
            .result()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("the content type of form part \"d\" holds a control character"),
            "{err}"
        );
    }
    assert_eq!(server.request_count(), 2);
}
