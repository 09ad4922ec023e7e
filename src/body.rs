//! `BodyReader`: a response whose body is read on the caller's thread, as it arrives.

use std::fmt;
use std::io::{self, Read};

use ureq::http::{self, HeaderMap};
use ureq::ResponseExt;

use crate::config::Config;
use crate::phase;
use crate::run::{execute, Budget, Spec};
use crate::Error;

/// The job of [`RequestBuilder::send_streaming`](crate::RequestBuilder::send_streaming): sends
/// the request (redirects and retries included) and hands over the body unread.
pub(crate) fn open(agent: &ureq::Agent, config: &Config, spec: Spec) -> Result<BodyReader, Error> {
    execute(agent, config, spec, Budget::Stream).map(BodyReader::new)
}

/// A response whose body has not been read: an [`io::Read`] over the body, read on the caller's
/// thread. Made by [`RequestBuilder::send_streaming`](crate::RequestBuilder::send_streaming).
///
/// Each `read` waits at most the request's `read_timeout`. A body cut short (a
/// `Content-Length` or chunked body whose connection closes early) is an error
/// ([`io::ErrorKind::UnexpectedEof`]), never a silent end; a body delimited by the connection's
/// close cannot tell a cut from its end. Errors from `read` convert into this crate's [`Error`]
/// with `?` (a timeout becomes [`Error::Timeout`]).
///
/// Dropping the reader before the end of the body closes the connection instead of returning
/// it to the pool.
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
    body: phase::Placed<ureq::BodyReader<'static>>,
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
    pub(crate) fn new(resp: http::Response<ureq::Body>) -> Self {
        let url = resp.get_uri().to_string();
        let (parts, body) = resp.into_parts();
        BodyReader {
            status: parts.status.as_u16(),
            content_length: body.content_length(),
            body: phase::Placed::new(body.into_reader(), url.clone(), &parts.extensions),
            headers: parts.headers,
            url,
        }
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

    /// The URL that answered, after redirects.
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
    /// (requests' `raise_for_status`). Reading that first KiB waits at most the read timeout;
    /// the rest of the body is not read and its connection is closed.
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
        let mut start = Vec::new();
        // The start of the body explains the error; a failed read leaves it shorter.
        let _ = (&mut self.body)
            .take(crate::error::STATUS_BODY_READ)
            .read_to_end(&mut start);
        Err(Error::status_at(
            self.status,
            &self.url,
            std::mem::take(&mut self.headers),
            &start,
        ))
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // ureq's errors come as `Other`; ours keep their kind (`TimedOut` for a timeout) and
        // convert back into the same `Error` with `?`.
        self.body.read(buf)
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
