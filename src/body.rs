//! `BodyReader`: a response whose body is read on the caller's thread, as it arrives.
//!
//! # Stopping a read from another thread
//!
//! The body's connection was opened by the `send_streaming` job, which registered it to be
//! interrupted (see `crate::exec::job`); that job ends when its handle resolves, which would
//! forget the registration. So the job is *held* ([`JobHandle::hold`]) for as long as the
//! reader lives: interrupting it still shuts the connection down, which is what
//! [`BodyReader::stop_handle`] and `shutdown_now` (which lists held jobs) do. The options were
//! a stop handle of the body's own, which would need the socket, that ureq keeps inside the
//! body; or `Agent::shutdown`, which stops every request of the session, for good.
//!
//! A connection's lease follows the job whose thread uses it (`crate::transport`). Read on a
//! plain thread, the body's connection stays with the held job. Read inside another job (a
//! `submit` closure), it would move to that job, out of the stop handle's reach; so each read
//! there runs as the held job ([`JobHandle::enter`]), and the reading job gets a [`Relay`]
//! registered, so that its cancel still interrupts the read as it interrupts the job's other
//! requests.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use ureq::http::{self, HeaderMap};
use ureq::ResponseExt;

use crate::config::Config;
use crate::exec::{self, Hold, Interrupt, JobHandle};
use crate::phase;
use crate::run::{execute, Budget, Spec};
use crate::sse::StopHandle;
use crate::Error;

/// The job of [`RequestBuilder::send_streaming`](crate::RequestBuilder::send_streaming): sends
/// the request (redirects and retries included) and hands over the body unread, with the job
/// held so that the body's connection can still be interrupted.
pub(crate) fn open(agent: &ureq::Agent, config: &Config, spec: Spec) -> Result<BodyReader, Error> {
    let resp = execute(agent, config, spec, Budget::Stream)?;
    let job = exec::current_job().map(|job| OpeningJob {
        relay: Arc::new(Relay(job.clone())),
        hold: job.hold(),
        relayed_to: 0,
    });
    Ok(BodyReader::new(resp, job))
}

/// The held job that opened a body, and what lets another job's cancel reach it.
struct OpeningJob {
    hold: Hold,
    relay: Arc<Relay>,
    /// The job the relay was last registered with, 0 for none.
    relayed_to: usize,
}

impl OpeningJob {
    /// Before a read: on a job's thread, runs the read as the opening job, and makes sure that
    /// a cancel of the reading job reaches it. Fails if the reading job is already cancelled.
    fn enter(&mut self) -> io::Result<Option<exec::Entered>> {
        let reading = exec::current_job_id();
        if reading == 0 || reading == self.hold.job().id() {
            return Ok(None);
        }
        if reading != self.relayed_to {
            let Some(job) = exec::current_job() else {
                return Ok(None);
            };
            let relay: Arc<dyn Interrupt> = self.relay.clone();
            if !job.register(Arc::downgrade(&relay)) {
                return Err(Error::Cancelled.into_io());
            }
            self.relayed_to = reading;
        }
        Ok(Some(self.hold.job().enter()))
    }
}

/// The length of `body` as its `Content-Length` announced it, if the body is not decoded on the
/// way. ureq counts a `Content-Length: 0` as no body at all, whose length it does not give:
/// that is an announced length of 0 all the same, unless a `Transfer-Encoding` overrides it
/// (RFC 9112, section 6.3: the body is then framed by its chunks).
pub(crate) fn announced_length(headers: &HeaderMap, body: &ureq::Body) -> Option<u64> {
    body.content_length().or_else(|| {
        let zero = headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"0");
        let encoded = headers.contains_key(http::header::CONTENT_ENCODING)
            || headers.contains_key(http::header::TRANSFER_ENCODING);
        (zero && !encoded).then_some(0)
    })
}

/// Interrupts the opening job of a body when the job that reads the body is cancelled.
struct Relay(JobHandle);

impl Interrupt for Relay {
    fn interrupt(&self, _reading_job: usize) {
        self.0.interrupt();
    }
}

/// A response whose body has not been read: an [`io::Read`] over the body, read on the caller's
/// thread. Made by [`RequestBuilder::send_streaming`](crate::RequestBuilder::send_streaming).
///
/// Each `read` waits at most the request's `read_timeout`. A body cut short (a
/// `Content-Length` or chunked body whose connection closes early) is an error
/// ([`io::ErrorKind::UnexpectedEof`]), never a silent end; a body delimited by the connection's
/// close cannot tell a cut from its end. Errors from `read` convert into this crate's [`Error`]
/// with `?` (a timeout becomes [`Error::Timeout`]). A read that timed out may be made again,
/// and the body goes on where it stopped (but for a body labelled exactly `gzip` whose first
/// read timed out before any of it came: ureq's decoder cannot go on, and the next read fails
/// saying so); after any other failure every later read fails again, with the first
/// failure's kind and message (`?` makes a cancel [`Error::Cancelled`] again, any other an
/// [`Error::Io`]), never as a clean end of a short body.
///
/// Dropping the reader before the end of the body closes the connection instead of returning
/// it to the pool.
///
/// A read blocked on a server that has gone silent (with no `read_timeout`, the default, it
/// waits for ever) can be stopped from another thread: through a
/// [`stop_handle`](BodyReader::stop_handle), or by
/// [`FuturesSession::shutdown_now`](crate::FuturesSession::shutdown_now) on the session that
/// sent the request. The read then fails with an error that `?` turns into
/// [`Error::Cancelled`].
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/file", "text/plain", "line one\nline two\n")]);
/// use std::io::{BufRead, BufReader};
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let body = session.get(format!("{base}/file")).send_streaming().result()?;
/// let body = body.error_for_status()?;                    // 4xx/5xx as Error::Status
/// assert_eq!(body.header("content-type"), Some("text/plain"));
/// let lines: Vec<String> = BufReader::new(body).lines().collect::<Result<_, _>>()?;
/// assert_eq!(lines, ["line one", "line two"]);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub struct BodyReader {
    status: u16,
    headers: HeaderMap,
    url: String,
    content_length: Option<u64>,
    /// Errors carry their place and the setting that fired.
    body: phase::Placed<crate::encoding::BodyReader>,
    /// The job that opened the body, held while the reader lives; `None` off a job.
    job: Option<OpeningJob>,
    /// Why a status the retry policy retries was not retried again, and the credentials the
    /// request was sent with: for its status error.
    notes: phase::StatusNotes,
    /// The failure of a read that cannot be made again (a cut body, a corrupt coding, a
    /// cancel): every later read fails so too.
    failed: Option<Failed>,
}

/// The failure of a read of a [`BodyReader`], to give again.
enum Failed {
    /// The read was cancelled: again as [`Error::Cancelled`], so that `?` makes it that.
    Cancelled,
    /// Any other: again with its kind and its text.
    Other(io::ErrorKind, String),
}

impl Failed {
    fn of(e: &io::Error) -> Failed {
        if crate::error::is_cancel(e) {
            Failed::Cancelled
        } else {
            Failed::Other(e.kind(), e.to_string())
        }
    }

    fn again(&self) -> io::Error {
        match self {
            Failed::Cancelled => Error::Cancelled.into_io(),
            Failed::Other(kind, text) => io::Error::new(*kind, text.clone()),
        }
    }
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("status", &self.status)
            .field("url", &crate::redact_url(&self.url))
            .field("content_length", &self.content_length)
            .finish()
    }
}

impl BodyReader {
    fn new(mut resp: http::Response<ureq::Body>, job: Option<OpeningJob>) -> Self {
        let mut url = resp.get_uri().to_string();
        if let Some(fragment) = crate::redirect::Fragment::take(resp.extensions_mut()) {
            url.push('#');
            url.push_str(&fragment);
        }
        let (mut parts, body) = resp.into_parts();
        let content_length = announced_length(&parts.headers, &body);
        let notes = phase::StatusNotes::take(&mut parts.extensions);
        BodyReader {
            status: parts.status.as_u16(),
            content_length,
            // Made on the first read, so that a gzip body does not wait here for its first
            // bytes (see `encoding::Lazy`).
            body: phase::Placed::new(
                crate::encoding::body_reader(body),
                url.clone(),
                &parts,
                content_length,
            ),
            headers: parts.headers,
            url,
            job,
            notes,
            failed: None,
        }
    }

    /// A handle that stops this reader from another thread, for Ctrl-C: its
    /// [`stop`](StopHandle::stop) shuts the body's connection down, so that a read blocked on
    /// it returns an error at once (`?` turns it into [`Error::Cancelled`]), and so does every
    /// later read. The handle is `Send` and `Clone`. It does nothing once the reader is dropped
    /// or the body read to its end, and cannot interrupt a read on a session built with an agent
    /// of your own ([`SessionBuilder::agent`](crate::SessionBuilder::agent)), whose connections
    /// this crate does not make.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let url = format!("http://{}/", listener.local_addr()?);
    /// # std::thread::spawn(move || {
    /// #     let (mut socket, _) = listener.accept().unwrap();
    /// #     let _ = socket.read(&mut [0; 1024]);
    /// #     let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nfirst");
    /// #     while socket.read(&mut [0; 1024]).is_ok_and(|n| n > 0) {} // then silence, until the client goes away
    /// # });
    /// use std::io::Read;
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(url).send_streaming().result()?;
    /// let stop = body.stop_handle();
    /// // Another thread (a Ctrl-C handler) stops the read, which waits on a silent server.
    /// std::thread::spawn(move || stop.stop());
    /// let mut received = Vec::new();
    /// let err = body.read_to_end(&mut received).unwrap_err();
    /// assert!(matches!(Error::from(err), Error::Cancelled));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle::of(self.job.as_ref().map(|job| job.hold.job().clone()))
    }

    /// The HTTP status code.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(format!("{base}/file")).send_streaming().result()?;
    /// assert_eq!(body.status(), 200);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(format!("{base}/file")).send_streaming().result()?;
    /// assert!(body.is_success());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (case-insensitive), if present and valid text.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(format!("{base}/file")).send_streaming().result()?;
    /// assert_eq!(body.header("content-type"), Some("text/plain"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// All response headers.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(format!("{base}/file")).send_streaming().result()?;
    /// assert_eq!(body.headers()["content-length"], "10");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL that answered, after redirects, with its fragment as
    /// [`Response::url`](crate::Response::url) gives it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(format!("{base}/file")).send_streaming().result()?;
    /// assert_eq!(body.url(), format!("{base}/file"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The body's length as the server announced it (`Content-Length`), if it did and the body
    /// is not decoded on the way (a compressed body's decoded length is unknown until its end).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(format!("{base}/file")).send_streaming().result()?;
    /// assert_eq!(body.content_length(), Some(10));
    /// let mut text = String::new();
    /// body.read_to_string(&mut text)?;
    /// assert_eq!(text, "0123456789");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// `Ok(self)` for statuses below 400; for 4xx and 5xx, [`Error::Status`] with the code, the
    /// headers and the first KiB of the body, as [`Response::error_for_status`]
    /// (requests' `raise_for_status`). The body is read up to 64 KiB, to find the API error in
    /// it, for at most 5 s from this call, or the request's
    /// [`timeout`](crate::RequestBuilder::timeout) when that is shorter (and each read for at
    /// most its `read_timeout`): a server that stalls in its error body does not hold the
    /// caller, with or without a `timeout`. When the read stops before the end of the body, the
    /// message says after how many bytes and which limit cut it (`(error body cut after 4
    /// bytes: nothing more within 2 s (timeout))`). The rest of the body is not read and its
    /// connection is closed.
    ///
    /// [`Response::error_for_status`]: crate::Response::error_for_status
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(format!("{base}/file")).send_streaming().result()?;
    /// let mut body = body.error_for_status()?;
    /// let mut first = [0u8; 4];
    /// body.read_exact(&mut first)?;
    /// assert_eq!(&first, b"0123");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn error_for_status(mut self) -> Result<Self, Error> {
        if self.status < 400 {
            return Ok(self);
        }
        let timeouts = self.body.timeouts;
        // The request's `timeout` bounded the wait for the head; the error body gets as long,
        // and no longer than any error body the caller does not get.
        let deadline = timeouts
            .and_then(|t| t.timeout)
            .and_then(|t| std::time::Instant::now().checked_add(t));
        let whose = "the error body of error_for_status";
        let (deadline, capped) = crate::run::error_body_deadline(deadline, whose);
        let job = self.job.as_ref().map(|job| job.hold.job().clone());
        let (start, cut) =
            crate::run::error_body(&mut self, timeouts.as_ref(), deadline, job, capped);
        let headers = std::mem::take(&mut self.headers);
        let error = Error::status_cut(self.status, &self.url, headers, &start, cut.as_deref());
        Err(std::mem::take(&mut self.notes).apply(error))
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let _as_opening_job = match &mut self.job {
            Some(job) => job.enter()?,
            None => None,
        };
        if let Some(failed) = &self.failed {
            return Err(failed.again());
        }
        // ureq's errors come as `Other`; ours keep their kind (`TimedOut` for a timeout) and
        // convert back into the same `Error` with `?`.
        self.body.read(buf).inspect_err(|e| {
            // A read that timed out (or was interrupted) may be made again; after any other
            // failure the body is lost, and ureq's reader would read as ended.
            let again = matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            );
            if !again {
                self.failed = Some(Failed::of(e));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _ensure_send() {
        fn check<T: Send + 'static>() {}
        check::<BodyReader>();
    }
}
