//! A kept-alive connection that the server closes as the next request arrives: idempotent
//! requests (and those marked so) are sent again once on a new connection; others, requests on
//! a fresh connection, and requests that already got response bytes are not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use ureq_futures::{Error, FuturesSession, RetryPolicy};

/// What the server does with the second request on its first connection.
#[derive(Clone, Copy, Debug)]
enum Second {
    /// Reads it, then closes (FIN) without a byte of answer.
    Close,
    /// Waits until it arrives and closes without reading it: the kernel answers with a reset.
    Reset,
    /// Sends the start of a status line, then closes.
    PartialThenClose,
}

/// A server whose first connection serves one request and then fails the second as `second`
/// says; every later connection answers `fresh <n>` to every request. Counts connections.
struct Racy {
    url: String,
    connections: Arc<AtomicUsize>,
}

fn read_head(reader: &mut BufReader<TcpStream>) -> Option<usize> {
    let mut content_length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            return Some(content_length);
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().ok()?;
            }
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<()> {
    let len = read_head(reader)?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()
}

fn answer(stream: &mut TcpStream, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
}

impl Racy {
    fn start(second: Second) -> Racy {
        Racy::with_stale(second, 1)
    }

    /// The first `stale` connections each serve one request and fail the next; their first
    /// answers wait until all of them are open, so that a client holds `stale` pooled
    /// connections afterwards.
    fn with_stale(second: Second, stale: usize) -> Racy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let all_open = Arc::new(Barrier::new(stale));
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let all_open = all_open.clone();
                thread::spawn(move || serve(stream, n, n < stale, second, &all_open));
            }
        });
        Racy { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, n: usize, stale: bool, second: Second, all_open: &Barrier) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    if !stale {
        while read_request(&mut reader).is_some() {
            answer(&mut stream, &format!("fresh {n}"));
        }
        return;
    }
    if read_request(&mut reader).is_none() {
        return;
    }
    all_open.wait();
    answer(&mut stream, "first");
    match second {
        Second::Close => {
            let _ = read_request(&mut reader);
        }
        Second::Reset => {
            // Unread bytes in the receive buffer make close() send a reset.
            let mut byte = [0u8; 1];
            let _ = stream.peek(&mut byte);
        }
        Second::PartialThenClose => {
            let _ = read_request(&mut reader);
            let _ = stream.write_all(b"HTTP/1.1 200");
        }
    }
}

fn one_worker() -> FuturesSession {
    FuturesSession::builder().max_workers(1).build()
}

#[test]
fn an_idempotent_request_on_a_connection_closed_under_it_is_sent_again_once() {
    for second in [Second::Close, Second::Reset] {
        for method in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"] {
            let server = Racy::start(second);
            let session = one_worker();
            let first = session.get(&server.url).send().result().unwrap();
            assert_eq!(first.text().unwrap(), "first");
            let resp = session
                .request(method, format!("{}/again", server.url))
                .send()
                .result()
                .unwrap_or_else(|e| panic!("{second:?} {method}: {e}"));
            assert_eq!(resp.status(), 200, "{second:?} {method}");
            if method != "HEAD" {
                assert_eq!(resp.text().unwrap(), "fresh 1", "{second:?} {method}");
            }
            assert_eq!(server.connections(), 2, "{second:?} {method}");
        }
    }
}

#[test]
fn a_post_is_not_sent_again_unless_marked_idempotent() {
    for second in [Second::Close, Second::Reset] {
        let server = Racy::start(second);
        let session = one_worker();
        session.get(&server.url).send().result().unwrap();
        let err = session
            .post(&server.url)
            .body("charge the card")
            .send()
            .result()
            .unwrap_err();
        // The two ways the race shows: an end of stream, or a reset.
        let expected = match second {
            Second::Reset => std::io::ErrorKind::ConnectionReset,
            _ => std::io::ErrorKind::UnexpectedEof,
        };
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == expected),
            "{second:?}: {err:?}"
        );
        assert_eq!(server.connections(), 1, "{second:?}: not sent again");

        let server = Racy::start(second);
        session.get(&server.url).send().result().unwrap();
        let resp = session
            .post(&server.url)
            .body("safe to repeat")
            .idempotent(true)
            .send()
            .result()
            .unwrap();
        assert_eq!(resp.text().unwrap(), "fresh 1", "{second:?}");
        assert_eq!(server.connections(), 2, "{second:?}");
    }
}

#[test]
fn no_resend_after_response_bytes_or_on_a_fresh_connection() {
    let server = Racy::start(Second::PartialThenClose);
    let session = one_worker();
    session.get(&server.url).send().result().unwrap();
    let err = session.get(&server.url).send().result().unwrap_err();
    assert_eq!(
        server.connections(),
        1,
        "sent again after response bytes: {err}"
    );

    // A server that closes every connection without answering: the first request of the
    // session is on a fresh connection and is not sent again.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream);
            let _ = read_request(&mut reader);
        }
    });
    let err = one_worker().get(&url).send().result().unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a fresh connection's failure is not resent"
    );
}

#[test]
fn the_resend_is_not_a_retry_of_the_policy() {
    let server = Racy::start(Second::Close);
    // A policy with no retries at all: the resend still happens.
    let session = FuturesSession::builder()
        .max_workers(1)
        .retry(RetryPolicy::none())
        .build();
    session.get(&server.url).send().result().unwrap();
    let resp = session.get(&server.url).send().result().unwrap();
    assert_eq!(resp.text().unwrap(), "fresh 1");
}

#[test]
fn the_resend_takes_a_new_connection_not_another_pooled_one() {
    // Two pooled connections, both closed by the server under the next request: a resend on the
    // other pooled connection would fail the same way.
    let server = Racy::with_stale(Second::Close, 2);
    let session = FuturesSession::builder().max_workers(2).build();
    let firsts = [
        session.get(&server.url).send(),
        session.get(&server.url).send(),
    ];
    for first in firsts {
        assert_eq!(first.result().unwrap().text().unwrap(), "first");
    }
    assert_eq!(server.connections(), 2);
    let resp = session.get(&server.url).send().result().unwrap();
    assert_eq!(resp.text().unwrap(), "fresh 2");
    assert_eq!(server.connections(), 3);
}

/// A server where a form's POST is answered `303 See Other` to `/done` on a kept-alive
/// connection, which the server then closes as the redirect's GET arrives on it (the race of
/// a server that closes after each answer without saying so); every later connection answers
/// `done`. Counts the POSTs it received.
fn post_redirect_get() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let posts = Arc::new(AtomicUsize::new(0));
    let count = posts.clone();
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let count = count.clone();
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if read_request(&mut reader).is_none() {
                        return;
                    }
                    if line.starts_with("POST") {
                        count.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.write_all(
                            b"HTTP/1.1 303 See Other\r\nlocation: /done\r\ncontent-length: 0\r\n\r\n",
                        );
                    } else if n == 0 {
                        // The redirect's GET, on the connection the POST used: closed unanswered.
                        return;
                    } else {
                        answer(&mut stream, "done");
                    }
                }
            });
        }
    });
    (url, posts)
}

#[test]
fn the_get_a_303_makes_of_a_post_is_sent_again_on_a_closed_connection() {
    let (url, posts) = post_redirect_get();
    let session = one_worker();
    let resp = session
        .post(format!("{url}/form"))
        .body("name=x")
        .send()
        .result()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().unwrap(), "done");
    assert_eq!(posts.load(Ordering::SeqCst), 1, "the POST was sent again");
}
