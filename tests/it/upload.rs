//! Request bodies read from files and readers as they are sent: `RequestBuilder::body_file`,
//! `RequestBuilder::body_reader`, `Multipart::file_path` and `Multipart::file_reader`, against
//! a local server.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use support::{Reply, TempDir, TestServer};
use ureq_futures::{Error, FuturesSession, Multipart, RetryPolicy};

/// Long enough never to be reached by a passing test, short enough to fail a broken one.
const HANG: Duration = Duration::from_secs(30);

/// A file of [`pattern`]`(len)` in `dir`: its path and its bytes.
fn pattern_file(dir: &TempDir, len: usize) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("pattern.bin");
    let data = pattern(len);
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// A file of `len` zero bytes in `dir`, sparse: it takes no room on the disk.
pub(crate) fn sparse(dir: &TempDir, len: u64) -> std::path::PathBuf {
    let path = dir.join("huge.bin");
    std::fs::File::create(&path).unwrap().set_len(len).unwrap();
    path
}

/// Bytes of every value, so that a piece sent twice or out of order shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The `Error::Io` in `result`, which must name `path`.
fn file_error<T: std::fmt::Debug>(result: Result<T, Error>, path: &std::path::Path) -> io::Error {
    match result {
        Err(Error::Io(e)) => {
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            e
        }
        other => panic!(
            "expected an I/O error naming {}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn a_file_body_arrives_whole_with_its_length_and_not_chunked() {
    let server = TestServer::start(|_| Reply::ok("stored"));
    let dir = TempDir::new("upload-whole");
    // Larger than any buffer on the way, and not a multiple of one.
    let (path, data) = pattern_file(&dir, 3 * 65_536 + 17);
    let resp = FuturesSession::new()
        .put(server.url_for("/data.bin"))
        .body_file(&path)
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "stored");
    let req = &server.requests()[0];
    assert_eq!(req.method, "PUT");
    assert_eq!(
        req.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    assert_eq!(req.header("transfer-encoding"), None);
    assert_eq!(req.header("content-type"), None);
    assert!(req.body == data, "the body differs from the file");
}

#[test]
fn an_empty_file_is_sent_as_an_empty_body() {
    let server = TestServer::start(|_| Reply::ok(""));
    let dir = TempDir::new("upload-empty");
    let path = dir.join("empty");
    std::fs::write(&path, b"").unwrap();
    FuturesSession::new()
        .post(server.url())
        .body_file(&path)
        .send()
        .result()
        .unwrap();
    let req = &server.requests()[0];
    assert_eq!(req.header("content-length"), Some("0"));
    assert!(req.body.is_empty());
}

#[test]
fn a_file_part_is_framed_as_the_same_part_in_memory() {
    let server = TestServer::start(|_| Reply::ok(""));
    let dir = TempDir::new("upload-multipart");
    let (path, csv) = pattern_file(&dir, 100_000);
    let session = FuturesSession::new();
    let send = |form: Multipart| {
        session
            .post(server.url())
            .multipart(form)
            .send()
            .result()
            .unwrap();
        server.requests().pop().unwrap()
    };
    let from_disk = send(
        Multipart::new()
            .text("title", "Q3")
            .file_path("report", "q3.csv", "text/csv", &path)
            .text("after", "x")
            .file_path("again", "q3-copy.csv", "", &path),
    );
    let in_memory = send(
        Multipart::new()
            .text("title", "Q3")
            .file("report", "q3.csv", "text/csv", csv.clone())
            .text("after", "x")
            .file("again", "q3-copy.csv", "", csv.clone()),
    );
    assert_same_form(&from_disk, &in_memory);
    assert_eq!(
        from_disk.header("content-length"),
        Some(from_disk.body.len().to_string().as_str())
    );
    assert!(from_disk.body.len() > 2 * csv.len());
}

/// Asserts that two requests carry the same multipart form: the same bytes under each
/// request's own boundary.
fn assert_same_form(sent: &support::Request, in_memory: &support::Request) {
    let boundary = |req: &support::Request| {
        let ct = req.header("content-type").unwrap().to_string();
        ct.strip_prefix("multipart/form-data; boundary=")
            .unwrap_or_else(|| panic!("{ct}"))
            .to_string()
    };
    let replace = |req: &support::Request| {
        let text = String::from_utf8_lossy(&req.body).replace(&boundary(req), "BOUNDARY");
        text.into_bytes()
    };
    assert!(
        replace(sent) == replace(in_memory),
        "the form differs from the same form in memory"
    );
}

/// A part read from a reader is framed as the same part in memory, with the form's length
/// when the part's is given, else chunked; a reader of unknown length ends its part, not the
/// form.
#[test]
fn a_reader_part_is_framed_as_the_same_part_in_memory() {
    let server = TestServer::start(|_| Reply::ok(""));
    let session = FuturesSession::new();
    let data = pattern(200_000);
    let send = |form: Multipart| {
        let mut pending = session.post(server.url()).multipart(form).send();
        pending.result_timeout(HANG).unwrap().unwrap();
        (pending.upload_progress(), server.requests().pop().unwrap())
    };
    let (_, in_memory) = send(
        Multipart::new()
            .text("title", "Q3")
            .file("rows", "rows.bin", "application/octet-stream", data.clone())
            .text("after", "x")
            .file("more", "more.bin", "", data.clone()),
    );
    for len in [None, Some(data.len() as u64)] {
        let reader = || io::Cursor::new(data.clone());
        let (progress, streamed) = send(
            Multipart::new()
                .text("title", "Q3")
                .file_reader(
                    "rows",
                    "rows.bin",
                    "application/octet-stream",
                    reader(),
                    len,
                )
                .text("after", "x")
                .file_reader("more", "more.bin", "", reader(), len),
        );
        assert_same_form(&streamed, &in_memory);
        let total = streamed.body.len() as u64;
        assert_eq!(progress.done, total, "{len:?}");
        match len {
            None => {
                assert_eq!(streamed.header("transfer-encoding"), Some("chunked"));
                assert_eq!(streamed.header("content-length"), None);
                assert_eq!(progress.total, None);
            }
            Some(_) => {
                let header = streamed.header("content-length");
                assert_eq!(header, Some(total.to_string().as_str()));
                assert_eq!(streamed.header("transfer-encoding"), None);
                assert_eq!(progress.total, Some(total));
            }
        }
    }
}

/// A form with a reader part is sent once, as a reader body is: no retry; a copy of the form
/// finds the reader taken before anything is sent, and a reader that ends short of its part's
/// length fails the request. The errors name the part.
#[test]
fn a_form_with_a_reader_part_is_sent_once() {
    let server = TestServer::start(|_| Reply::status(503, "busy"));
    let session = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(3).base_delay(Duration::ZERO))
        .build();
    let form = |len: u64| {
        let reader = io::Cursor::new(pattern(10));
        Multipart::new()
            .text("a", "b")
            .file_reader("f", "f.bin", "", reader, len)
    };
    let send = |form: Multipart| session.post(server.url()).multipart(form).send().result();
    let first = form(10);
    assert_eq!(send(first.clone()).unwrap().status(), 503);
    assert_eq!(server.request_count(), 1, "retried");
    // From a session of its own, which has no pooled connection: a send would connect.
    let connections = server.connection_count();
    let copy = FuturesSession::new().post(server.url()).multipart(first);
    let text = copy.send().result().unwrap_err().to_string();
    assert!(
        text.contains("from the reader of form part \"f\" failed: it was sent already")
            && text.contains("file_path() or file()"),
        "{text}"
    );
    assert_eq!(server.connection_count(), connections, "sent");
    let text = send(form(20)).unwrap_err().to_string();
    let short = "the reader of form part \"f\" failed: it ended after 10 bytes, but the part \
                 was given a length of 20";
    assert!(text.contains(short), "{text}");
}

/// What cannot be sent with a form of reader parts is refused before anything is sent, with
/// the part named: lengths past 2^64 bytes, a `Content-Length` of the caller's when a part's
/// length is not known, an event source (which sends its request again).
#[test]
fn forms_of_reader_parts_that_cannot_be_sent_are_refused() {
    let server = TestServer::start(|_| Reply::sse(["data: a\n\n"], support::ms(0)));
    let session = FuturesSession::new();
    let form = |len: Option<u64>| {
        let rows = io::repeat(b'x');
        Multipart::new()
            .text("title", "t")
            .file_reader("rows", "rows.txt", "text/plain", rows, len)
    };
    fn refused<T: std::fmt::Debug>(result: Result<T, Error>, words: &[&str]) {
        match result {
            Err(Error::InvalidRequest(m)) if words.iter().all(|w| m.contains(w)) => {}
            other => panic!("{words:?}: {other:?}"),
        }
    }
    let send = |form| session.post(server.url()).multipart(form).send().result();
    refused(send(form(Some(u64::MAX))), &["more than 2^64 bytes"]);
    let with_length = session
        .post(server.url())
        .header("content-length", "100")
        .multipart(form(None));
    let no_length = "form part \"rows\" is read from a reader whose length was not given";
    refused(with_length.send().result(), &[no_length]);
    let mut source = session
        .get(server.url())
        .multipart(form(Some(3)))
        .event_source();
    let once = "form part \"rows\" is read from a reader, which can be sent once only";
    refused(source.next().unwrap(), &[once, "file_path()"]);
    assert_eq!(server.connection_count(), 0);
}

#[test]
fn a_missing_file_or_a_directory_is_an_error_naming_it_and_nothing_is_sent() {
    let server = TestServer::start(|_| Reply::ok(""));
    let dir = TempDir::new("upload-missing");
    let missing = dir.join("nowhere.bin");
    let session = FuturesSession::new();
    let e = file_error(
        session
            .put(server.url())
            .body_file(&missing)
            .send()
            .result(),
        &missing,
    );
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let form = Multipart::new().file_path("f", "f.bin", "", &missing);
    let e = file_error(
        session.post(server.url()).multipart(form).send().result(),
        &missing,
    );
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let folder = dir.join("");
    let e = file_error(
        session.put(server.url()).body_file(&folder).send().result(),
        &folder,
    );
    assert!(e.to_string().contains("directory"), "{e}");
    assert_eq!(server.request_count(), 0);
}

#[test]
fn a_file_that_changed_size_after_the_build_fails_once_and_is_not_retried() {
    let server = TestServer::start(|_| Reply::status(503, "busy"));
    let dir = TempDir::new("upload-changed");
    let path = dir.join("log.txt");
    std::fs::write(&path, b"first version\n").unwrap();
    let request = FuturesSession::new()
        .put(server.url())
        .retry(RetryPolicy::new().attempts(3).base_delay(Duration::ZERO))
        .body_file(&path);
    std::fs::write(&path, b"first version\nand a line more\n").unwrap();
    let e = file_error(request.send().result(), &path);
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let text = e.to_string();
    assert!(
        text.contains("30 bytes")
            && text.contains("had 14")
            && text.contains("build the request again"),
        "{text}"
    );
    // Not the network's failure: not retried (a retry opens a connection of its own), and no
    // place on the network is blamed for it.
    assert!(
        text.starts_with("sending the request body for http://127.0.0.1:")
            && !text.contains("attempt"),
        "{text}"
    );
    assert_eq!(server.request_count(), 0);
    // Gone by the time it is sent: its own error, not the network's, and not retried either.
    let request = FuturesSession::new()
        .put(server.url())
        .retry(RetryPolicy::new().attempts(3).base_delay(Duration::ZERO))
        .body_file(&path);
    std::fs::remove_file(&path).unwrap();
    let e = file_error(request.send().result(), &path);
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(
        e.to_string()
            .starts_with("opening the request body for http://127.0.0.1:"),
        "{e}"
    );
    assert!(
        server.connection_count() <= 2,
        "{} connections",
        server.connection_count()
    );
}

/// A server that answers before reading the body (a 413) gets its answer to the caller, and
/// the file is not read to its end for a connection that drops what is left: what was not
/// sent is not counted as sent either.
#[test]
fn an_early_answer_ends_the_reading_of_the_file() {
    use crate::transport_errors::{answers_before_the_body, TOO_LARGE};
    let refusing = answers_before_the_body(TOO_LARGE);
    let dir = TempDir::new("upload-early-answer");
    let path = sparse(&dir, 1 << 30);
    let mut pending = FuturesSession::new()
        .put(format!("http://{refusing}/upload"))
        .body_file(&path)
        .send();
    let resp = pending.result_timeout(HANG).expect("an answer").unwrap();
    assert_eq!((resp.status(), resp.text().unwrap()), (413, "too large"));
    let progress = pending.upload_progress();
    assert_eq!(progress.total, Some(1 << 30));
    assert!(progress.done < 1 << 29, "{progress:?}");
}

/// Files whose length does not say what they hold are refused before anything is sent: a
/// `/proc` file says it is empty, a pipe has no length (and opening it would wait for a
/// writer).
#[cfg(target_os = "linux")]
#[test]
fn a_file_without_a_true_length_is_refused() {
    let server = TestServer::start(|_| Reply::ok(""));
    let session = FuturesSession::new();
    for path in ["/proc/self/status", "/dev/null"] {
        let path = std::path::Path::new(path);
        let e = file_error(
            session.put(server.url()).body_file(path).send().result(),
            path,
        );
        assert!(
            e.to_string()
                .contains("body_reader(File::open(path)?, None)"),
            "{e}"
        );
    }
    assert_eq!(server.connection_count(), 0);
}

/// `upload_progress` ends at the body's length for every kind of body, counted as it goes or
/// at once; a request without a body stays at nothing.
#[test]
fn upload_progress_ends_at_the_bodys_length() {
    let server = TestServer::start(|_| Reply::ok(""));
    let dir = TempDir::new("upload-progress");
    let (path, _) = pattern_file(&dir, 100_000);
    let session = FuturesSession::new();
    let big = pattern(200_000);
    let form = Multipart::new()
        .text("a", "1")
        .file_path("f", "f.bin", "", &path);
    let cases = [
        (session.put(server.url()).body_file(&path), Some(100_000)),
        (session.post(server.url()).body(big.clone()), Some(200_000)),
        (session.post(server.url()).json(&[1, 2, 3]), Some(7)),
        (session.post(server.url()).multipart(form), None),
        (session.get(server.url()), None),
    ];
    for (i, (request, len)) in cases.into_iter().enumerate() {
        let pending = request.send();
        pending.wait();
        let progress = pending.upload_progress();
        let sent = server.requests().pop().unwrap().body.len() as u64;
        let want = len.map_or(sent, |len: u64| len);
        if sent == 0 {
            assert_eq!(progress, Default::default(), "case {i}");
        } else {
            assert_eq!(
                (progress.done, progress.total),
                (want, Some(want)),
                "case {i}"
            );
            assert_eq!(sent, want, "case {i}");
        }
    }
    // A body in memory sent through the counting reader arrives whole, with its length.
    let req = &server.requests()[1];
    assert!(req.body == big);
    assert_eq!(req.header("content-length"), Some("200000"));
}

/// A reader that yields `data` and then fails with `error`, if any.
struct Failing {
    data: io::Cursor<Vec<u8>>,
    error: Option<io::ErrorKind>,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.data.read(buf)? {
            0 => match self.error {
                Some(kind) => Err(io::Error::new(kind, "the pipe broke")),
                None => Ok(0),
            },
            n => Ok(n),
        }
    }
}

#[test]
fn a_reader_body_goes_chunked_or_with_the_length_it_was_given() {
    let server = TestServer::start(|_| Reply::ok("stored"));
    let session = FuturesSession::new();
    let data = pattern(300_000);
    for len in [None, Some(data.len() as u64)] {
        let mut pending = session
            .post(server.url())
            .body_reader(io::Cursor::new(data.clone()), len)
            .send();
        assert_eq!(
            pending
                .result_timeout(HANG)
                .unwrap()
                .unwrap()
                .text()
                .unwrap(),
            "stored"
        );
        let progress = pending.upload_progress();
        assert_eq!((progress.done, progress.total), (data.len() as u64, len));
        let req = server.requests().pop().unwrap();
        assert!(req.body == data, "{len:?}: the body differs");
        match len {
            None => {
                assert_eq!(req.header("transfer-encoding"), Some("chunked"));
                assert_eq!(req.header("content-length"), None);
            }
            Some(n) => {
                assert_eq!(req.header("content-length"), Some(n.to_string().as_str()));
                assert_eq!(req.header("transfer-encoding"), None);
            }
        }
    }
}

/// A reader that is not as long as it was said to be, or that fails, fails the request with
/// an error that says so; nothing is retried, and no network failure is blamed.
#[test]
fn a_reader_of_the_wrong_length_or_that_fails_is_the_requests_error() {
    let server = TestServer::start(|_| Reply::status(503, "busy"));
    let session = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(3).base_delay(Duration::ZERO))
        .build();
    let failing = |len: usize, error| Failing {
        data: io::Cursor::new(pattern(len)),
        error,
    };
    let cases = [
        (
            failing(10, None),
            Some(20),
            "ended after 10 bytes, but the request was built with a length of 20",
        ),
        (
            failing(70_000, Some(io::ErrorKind::BrokenPipe)),
            None,
            "the pipe broke",
        ),
    ];
    for (reader, len, words) in cases {
        let err = session
            .put(server.url())
            .body_reader(reader, len)
            .send()
            .result()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::Io(_))
                && text.contains("the request body for http://127.0.0.1:")
                && text.contains("from its reader failed: ")
                && text.contains(words)
                && !text.contains("attempt"),
            "{text}"
        );
    }
    // One connection a case: none was retried (the server may count a connection a moment
    // after the client is done with it, so the cases are counted together).
    assert!(server.connection_count() <= 2, "retried");
    assert_eq!(server.request_count(), 0);
    // The length in a Content-Length header of the caller's must be given to the body (0
    // too: the body would go empty).
    for n in [5, 0] {
        let err = session
            .put(server.url())
            .header("content-length", n.to_string())
            .body_reader(io::Cursor::new(b"data".to_vec()), None)
            .send()
            .result()
            .unwrap_err();
        let fix = format!("body_reader(reader, {n})");
        assert!(
            matches!(&err, Error::InvalidRequest(m) if m.contains(&fix)),
            "{err}"
        );
    }
}

/// With a length, that many bytes are sent and nothing more is read: a reader that holds the
/// length and stays open (a socket, a pipe, stdin) does not hold the request up.
#[cfg(unix)]
#[test]
fn a_reader_is_read_up_to_its_length_and_no_further() {
    use std::os::unix::net::UnixStream;
    let server = TestServer::start(|_| Reply::ok("stored"));
    let (mut writer, reader) = UnixStream::pair().unwrap();
    writer.write_all(&pattern(100)).unwrap();
    // `writer` stays open: a read past the 100 bytes would wait for ever.
    let mut pending = FuturesSession::new()
        .put(server.url())
        .body_reader(reader, 60)
        .send();
    let resp = pending
        .result_timeout(HANG)
        .expect("the request ended")
        .unwrap();
    assert_eq!(resp.text().unwrap(), "stored");
    assert_eq!(server.requests()[0].body, pattern(60));
    drop(writer);
}

/// An event source sends its request on each reconnection: a reader's body, which can be sent
/// once, is refused; a body file that is gone is its error at once, not reconnected for.
#[test]
fn an_event_source_refuses_a_reader_body_and_does_not_retry_a_file_error() {
    let server = TestServer::start(|_| Reply::sse(["data: a\n\n"], support::ms(0)));
    let session = FuturesSession::new();
    let mut source = session
        .get(server.url())
        .body_reader(io::empty(), 0)
        .event_source();
    let err = source.next().unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRequest(m) if m.contains("body_file")),
        "{err}"
    );
    assert!(source.next().is_none());
    let dir = TempDir::new("upload-event-source");
    let path = dir.join("query.json");
    std::fs::write(&path, b"{}").unwrap();
    let mut source = session.get(server.url()).body_file(&path).event_source();
    std::fs::remove_file(&path).unwrap();
    // On a thread of its own: reconnecting, the source would go on for minutes.
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let first = source.next().map(|r| r.map(|e| e.data));
        let _ = tx.send((first, source.next().is_none()));
    });
    let (first, ended) = rx
        .recv_timeout(HANG)
        .expect("the source reconnected for a local error");
    file_error(first.unwrap(), &path);
    assert!(ended, "it reconnected for a local error");
    assert_eq!(server.request_count(), 0);
}

/// A reader is read once: no retry, and a redirect that would send the body again is the
/// answer rather than followed.
#[test]
fn a_reader_body_is_sent_once() {
    let server = TestServer::start(|req| match req.path_only() {
        "/old" => Reply::status(307, "").header("location", "/new"),
        _ => Reply::status(503, "busy"),
    });
    let session = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(3).base_delay(Duration::ZERO))
        .build();
    let resp = session
        .put(server.url_for("/busy"))
        .body_reader(io::Cursor::new(b"data".to_vec()), 4)
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(server.request_count(), 1);
    let resp = session
        .post(server.url_for("/old"))
        .body_reader(io::Cursor::new(b"data".to_vec()), None)
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 307);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].body, b"data");
}

/// A failure that the retry policy would retry says why a body read from a reader was not.
#[test]
fn a_reader_body_not_retried_says_why() {
    let server = TestServer::start(|req| match req.path_only() {
        "/missing" => Reply::status(404, "no"),
        _ => Reply::status(503, "busy"),
    });
    let session = FuturesSession::builder()
        .retry(RetryPolicy::new().attempts(3).base_delay(Duration::ZERO))
        .build();
    let status_error = |resp: Result<ureq_futures::Response, Error>| {
        resp.unwrap().error_for_status().unwrap_err().to_string()
    };
    let reader = || io::Cursor::new(b"data".to_vec());
    let e = status_error(
        session
            .put(server.url())
            .body_reader(reader(), 4)
            .send()
            .result(),
    );
    let why = "(after 1 attempt, not retried: a body_reader's body can be sent once only: give \
               the body with body() or body_file())";
    assert!(e.ends_with(why), "{e}");
    let form = Multipart::new().file_reader("rows", "rows.csv", "text/csv", reader(), Some(4));
    let e = status_error(session.put(server.url()).multipart(form).send().result());
    assert!(
        e.contains("not retried: form part \"rows\" is read from a reader"),
        "{e}"
    );
    // A status the policy does not retry says nothing of it.
    let missing = session
        .put(server.url_for("/missing"))
        .body_reader(reader(), 4);
    let e = status_error(missing.send().result());
    assert!(!e.contains("retried"), "{e}");
    assert_eq!(server.request_count(), 3);
}

/// A 307 sends the body again: the file is read again from its start.
#[test]
fn a_307_redirect_sends_the_file_again() {
    let server = TestServer::start(|req| match req.path_only() {
        "/old" => Reply::status(307, "").header("location", "/new"),
        _ => Reply::ok("moved"),
    });
    let dir = TempDir::new("upload-redirect");
    let (path, data) = pattern_file(&dir, 70_000);
    let resp = FuturesSession::new()
        .post(server.url_for("/old"))
        .body_file(&path)
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "moved");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for req in &requests {
        assert!(req.body == data, "{}: the body differs", req.path_only());
    }
}

/// A request with `Expect: 100-continue` that the server answers at once with a final status
/// (S3's and nginx's way to refuse a body before it is sent), keeping the connection open: the
/// answer is read. ureq waited for a `100 Continue` and never read it (until the `timeout`, for
/// ever by default); the header is not sent, and the body follows the head.
#[test]
fn a_final_answer_to_an_expect_100_continue_is_read() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (heads, head) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for socket in listener.incoming().take(2) {
            let mut socket = socket.unwrap();
            let heads = heads.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut byte = [0; 1];
                while !seen.ends_with(b"\r\n\r\n") && socket.read(&mut byte).unwrap_or(0) == 1 {
                    seen.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&seen).to_lowercase();
                heads.send(head).unwrap();
                let answer = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\
                              Connection: close\r\n\r\ndenied";
                let _ = socket.write_all(answer.as_bytes());
                // Held open and not read, as a server that refused the body does.
                std::thread::sleep(support::secs(30));
            });
        }
    });
    let session = FuturesSession::builder().timeout(support::secs(5)).build();
    let url = format!("http://{addr}/bucket/key");
    for expect in ["100-continue", "100-Continue"] {
        let resp = session
            .put(&url)
            .header("expect", expect)
            .body("the object")
            .send()
            .result()
            .unwrap();
        assert_eq!((resp.status(), resp.text().unwrap()), (401, "denied"));
        let head = head.recv_timeout(support::secs(5)).unwrap();
        assert!(!head.contains("expect:"), "{head}");
    }
}

/// A server that answers an upload early and then neither reads the rest nor closes the
/// connection: its answer is the response once the body's writes stall (RFC 9112 §9.5: a
/// client that sends a body watches for an answer and stops sending; curl does). The upload
/// waited on the full socket for ever, or until its `timeout` (`read_timeout` bounds no write).
/// An interim `100 Continue` before a pause of the server's is no such answer: the body goes on.
#[cfg(unix)]
#[test]
fn an_answer_to_an_upload_whose_server_stopped_reading_is_the_response() {
    const BODY: usize = 32 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, socket) in listener.incoming().take(3).enumerate() {
            let mut socket = socket.unwrap();
            std::thread::spawn(move || {
                crate::transport_errors::read_head(&mut socket);
                let answer: &[u8] = match n {
                    0 => crate::transport_errors::TOO_LARGE,
                    1 => b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\ndenied",
                    _ => {
                        // Interim, then a pause long enough for the client's writes to stall,
                        // then the whole body read and answered.
                        let _ = socket.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                        std::thread::sleep(support::secs(1));
                        let mut body = vec![0; BODY];
                        let read = socket.read_exact(&mut body).is_ok();
                        let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{read}");
                        let _ = socket.write_all(answer.as_bytes());
                        let _ = socket.read(&mut [0; 1]);
                        return;
                    }
                };
                let _ = socket.write_all(answer);
                // Held open and not read.
                std::thread::sleep(support::secs(30));
            });
        }
    });
    let session = FuturesSession::builder()
        .read_timeout(support::secs(2))
        .timeout(support::secs(20))
        .build();
    let url = format!("http://{addr}/upload");
    let send = || session.post(&url).body(vec![b'x'; BODY]).send().result();
    let resp = send().unwrap();
    assert_eq!((resp.status(), resp.text().unwrap()), (413, "too large"));
    let resp = send().unwrap();
    assert_eq!((resp.status(), resp.text().unwrap()), (401, "denied"));
    let resp = send().unwrap();
    assert_eq!((resp.status(), resp.text().unwrap()), (200, "true"));
}

/// A server that sends a success head before the body and then reads the body slowly (a
/// full-duplex handler) still gets the whole body: only an error answer (3xx and above) ends the
/// sending early, as with curl. A first version stopped at any final head once a write stalled
/// and waited for an answer the server would finish only after the body.
#[test]
fn an_early_success_head_leaves_the_upload_going() {
    const BODY: usize = 8 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        crate::transport_errors::read_head(&mut socket);
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
        let (mut got, mut buf) = (0, vec![0; 512 * 1024]);
        while got < BODY {
            match socket.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            std::thread::sleep(support::ms(200));
        }
        let _ = socket.write_all(format!("{got:07}").as_bytes());
    });
    let session = FuturesSession::builder()
        .read_timeout(support::secs(20))
        .build();
    let resp = session
        .post(format!("http://{addr}/upload"))
        .body(vec![b'x'; BODY])
        .send()
        .result()
        .unwrap();
    assert_eq!(
        (resp.status(), resp.text().unwrap()),
        (200, format!("{BODY:07}").as_str())
    );
}

/// A cancel stops an upload that the server has stopped reading: the handle resolves to
/// `Cancelled` instead of waiting on a full socket.
#[test]
fn a_cancel_stops_an_upload_in_progress() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (reading, read_enough) = crossbeam_channel::bounded(1);
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut buf = vec![0; 65_536];
        let mut seen = 0;
        while seen < 1 << 20 {
            match socket.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen += n,
            }
        }
        // The upload is under way: stop reading, and hold the connection until the client
        // goes away.
        reading.send(()).unwrap();
        let _ = socket.set_read_timeout(None);
        std::thread::sleep(HANG);
        drop(socket);
    });
    let dir = TempDir::new("upload-cancel");
    let path = sparse(&dir, 1 << 30);
    let session = FuturesSession::builder().max_workers(1).build();
    let mut pending = session
        .put(format!("http://{addr}/huge.bin"))
        .body_file(&path)
        .send();
    read_enough.recv_timeout(HANG).expect("the upload began");
    // What the server read was sent, and the rest was not.
    let progress = pending.upload_progress();
    assert_eq!(progress.total, Some(1 << 30));
    assert!(
        progress.done >= 1 << 20 && progress.done < 1 << 30,
        "{progress:?}"
    );
    assert!(pending.cancel(), "the upload had ended before the cancel");
    match pending.result_timeout(HANG) {
        Some(Err(Error::Cancelled)) => {}
        Some(other) => panic!("expected Cancelled, got {other:?}"),
        None => panic!("the cancelled upload did not end"),
    }
    // The worker is free for the next job.
    let mut next = session.submit(|_| Ok(7));
    assert_eq!(next.result_timeout(HANG).map(Result::unwrap), Some(7));
    drop(server);
}

/// The file is read as it is sent: an upload of a body larger than the session's largest
/// buffer gets the same bytes to the server as a body in memory, which the server echoes
/// back by length and checksum.
#[test]
fn a_large_file_reaches_a_server_that_counts_it() {
    let dir = TempDir::new("upload-large");
    let (path, data) = pattern_file(&dir, 8 << 20);
    let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
    assert_eq!(upload_counted(&path, true), (data.len() as u64, sum));
}

/// Uploads the file at `path` with `body_file` to a server of its own that keeps only the
/// body's length and, with `checksum`, the sum of its bytes (else 0), and answers with them.
pub(crate) fn upload_counted(path: &std::path::Path, checksum: bool) -> (u64, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let (len, sum) = count_body(&mut socket, checksum);
        let answer = format!("{len} {sum}");
        let _ = write!(
            socket,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
    });
    let resp = FuturesSession::new()
        .put(format!("http://{addr}/upload"))
        .body_file(path)
        .send()
        .result()
        .unwrap();
    server.join().unwrap();
    let answer = resp.text().unwrap();
    let (len, sum) = answer.split_once(' ').expect("length and sum");
    (len.parse().unwrap(), sum.parse().unwrap())
}

/// Reads a request's head and its `Content-Length` body from `socket`.
fn count_body(socket: &mut std::net::TcpStream, checksum: bool) -> (u64, u64) {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") {
        socket.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: u64 = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    let mut buf = vec![0; 1 << 16];
    let (mut left, mut sum) = (len, 0u64);
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = socket.read(&mut buf[..want]).unwrap();
        assert!(n > 0, "the body ended {left} bytes short");
        if checksum {
            sum += buf[..n].iter().map(|&b| u64::from(b)).sum::<u64>();
        }
        left -= n as u64;
    }
    (len, sum)
}

/// A server for one upload: reads the head and 1 MiB of the body, says so on the first
/// channel, waits for a word on the second, reads the rest (as many bytes as the head said)
/// and answers 200 with how many body bytes it got.
fn pausing() -> (
    std::net::SocketAddr,
    crossbeam_channel::Receiver<()>,
    crossbeam_channel::Sender<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (read_tx, read_rx) = crossbeam_channel::bounded(1);
    let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let mut got = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        let head_end = loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        let mut body = got.len() - head_end;
        let mut read_until = |body: &mut usize, upto: usize| {
            while *body < upto {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => *body += n,
                }
            }
            true
        };
        if !read_until(&mut body, 1 << 20) {
            return;
        }
        let _ = read_tx.send(());
        let _ = go_rx.recv_timeout(Duration::from_secs(20));
        if read_until(&mut body, len) {
            let answer = format!("{body}");
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (addr, read_rx, go_tx)
}

/// Sends a `len`-byte file at `path` to a [`pausing`] server, calls `change` once the server
/// has read 1 MiB of it, and returns the upload's result.
fn upload_changed(
    path: &std::path::Path,
    len: u64,
    change: impl FnOnce(),
) -> Result<ureq_futures::Response, Error> {
    std::fs::write(path, pattern(len as usize)).unwrap();
    let (addr, reading, go) = pausing();
    let mut pending = FuturesSession::new()
        .put(format!("http://{addr}/u"))
        .body_file(path)
        .send();
    reading
        .recv_timeout(Duration::from_secs(20))
        .expect("the upload started");
    change();
    go.send(()).unwrap();
    let result = pending.result_timeout(Duration::from_secs(20));
    result.expect("the upload hung")
}

#[test]
fn a_file_that_grows_or_shrinks_while_it_is_sent_fails_the_request_naming_its_size() {
    // Bound: 20 s each. The size is checked when the file is opened and again when its last
    // bytes are read: a file that grew in between would go out cut short, with a 200.
    let dir = TempDir::new("upload-changing");
    // Larger than the socket buffers take, so that the change comes before the last read.
    let len = 64u64 << 20;
    for (name, now) in [("grows", len + (1 << 20)), ("shrinks", 0)] {
        let path = dir.join(&format!("{name}.bin"));
        let result = upload_changed(&path, len, || {
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(now).unwrap();
        });
        let e = file_error(result, &path);
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{name}: {e}");
        let text = e.to_string();
        let want = format!("the file has {now} bytes, but the request was built when it had {len}");
        assert!(text.contains(&want), "{name}: {text}");
    }
    // A file renamed over it while it is sent (as editors save) does not change what is sent:
    // the file as opened goes out whole.
    let path = dir.join("replaced.bin");
    let resp = upload_changed(&path, len, || {
        let newer = dir.join("newer.bin");
        std::fs::write(&newer, pattern(len as usize + 4096)).unwrap();
        std::fs::rename(&newer, &path).unwrap();
    });
    let resp = resp.expect("the replaced file failed");
    assert_eq!(resp.text().unwrap(), len.to_string());
}

#[test]
fn a_reset_in_the_middle_of_an_upload_is_the_sends_failure() {
    // The server reads 1 MiB of a large body, then resets the connection without an answer:
    // the error is the send's, not the response's.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut got = 0;
            let mut buf = vec![0; 64 * 1024];
            while got < 1 << 20 {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
        }
    });
    let dir = TempDir::new("upload-reset");
    let path = sparse(&dir, 256 << 20);
    let mut pending = FuturesSession::new()
        .put(format!("http://{addr}/u"))
        .body_file(&path)
        .send();
    let result = pending.result_timeout(Duration::from_secs(20));
    let err = result
        .expect("the upload hung")
        .expect_err("a reset upload succeeded");
    let Error::Io(e) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "io: send the request to {addr} failed for url: http://{addr}/u"
        )) && text
            .contains("the server closed the connection while the request's body was being sent"),
        "{text}"
    );
}
