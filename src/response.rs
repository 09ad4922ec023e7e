//! `Response`: a finished response with its body in memory.

use std::fmt;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use ureq::http::{self, HeaderMap};
use ureq::ResponseExt;

use crate::Error;

/// A response whose body has been read on the worker.
///
/// Any status is a response: check [`status`](Response::status), or turn 4xx/5xx into an error
/// with [`error_for_status`](Response::error_for_status) (requests' `raise_for_status`).
///
/// # Examples
///
/// ```no_run
/// # use ureq_futures::FuturesSession;
/// let session = FuturesSession::new();
/// let resp = session.get("https://example.com").send().result()?;
/// if resp.status() == 200 {
///     println!("{} bytes of {:?}", resp.bytes().len(), resp.header("content-type"));
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone)]
pub struct Response {
    status: u16,
    headers: HeaderMap,
    uri: http::Uri,
    /// `uri` as text, rendered on first use: most callers never ask for it.
    url: OnceLock<String>,
    body: Vec<u8>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &crate::redact_url(self.url()))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Response {
    /// Reads `resp`'s body, up to `limit` bytes.
    pub(crate) fn read(mut resp: http::Response<ureq::Body>, limit: u64) -> Result<Self, Error> {
        let uri = resp.get_uri().clone();
        let body = resp.body_mut().with_config().limit(limit).read_to_vec()?;
        let (parts, _) = resp.into_parts();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            uri,
            url: OnceLock::new(),
            body,
        })
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// All response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive), if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The URL that answered, after redirects.
    pub fn url(&self) -> &str {
        self.url.get_or_init(|| self.uri.to_string())
    }

    /// The body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken out of the response.
    pub fn into_bytes(self) -> Vec<u8> {
        self.body
    }

    /// The body as text. Fails with [`Error::Io`] (kind `InvalidData`) if it is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|e| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("response body is not UTF-8: {e}"),
            ))
        })
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// `Ok(self)` for statuses below 400; for 4xx and 5xx, [`Error::Status`] with the code, the
    /// headers and the first KiB of the body.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.status >= 400 {
            Err(Error::status_from(self.status, self.headers, &self.body))
        } else {
            Ok(self)
        }
    }
}
