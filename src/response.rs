//! `Response`: a finished response with its body in memory.

use std::fmt;
use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use serde::de::DeserializeOwned;
use ureq::http::{self, HeaderMap};
use ureq::ResponseExt;

use crate::charset::{self, Charset};
use crate::progress::{Counted, ProgressCounter};
use crate::timeout::TimeoutSettings;
use crate::Error;

/// A response whose body has been read on the worker.
///
/// Any status is a response: check [`status`](Response::status), or turn 4xx/5xx into an error
/// with [`error_for_status`](Response::error_for_status) (requests' `raise_for_status`).
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/", "text/html", "<p>hi</p>")]);
/// # use ureq_futures::FuturesSession;
/// let session = FuturesSession::new();
/// let resp = session.get(format!("{base}/")).send().result()?;
/// if resp.status() == 200 {
///     println!("{} bytes of {:?}", resp.bytes().len(), resp.header("content-type"));
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone)]
pub struct Response {
    status: u16,
    /// The body, then the URL and the headers as [`pack_head`] writes them: one allocation.
    buf: Vec<u8>,
    body_len: usize,
    url_len: usize,
    /// The headers as a map, built from the packed lines on first use (boxed: it is large, and a
    /// response travels inside its handle).
    headers: OnceLock<Box<HeaderMap>>,
    /// Why a status the retry policy retries was not retried again, and the credentials the
    /// request was sent with: for its status error.
    notes: crate::phase::StatusNotes,
    /// From the request's start on a worker to its head (see [`Response::elapsed`]).
    elapsed: Duration,
}

// A response is built on a worker and dropped on the caller's thread. Kept as ureq returns them,
// its body, URL and header map are half a dozen allocations (the map's tables, each value, the
// URL's shared buffer, the body), each freed on a thread other than the one that allocated it,
// which the allocator handles on its slow path. So the worker packs the URL and the headers
// behind the body, in the body's own buffer, and frees ureq's parts itself: the caller frees one
// buffer. (In the fan-out of `benches/peers.rs`, handing out only the body took about a tenth
// less client CPU than handing out ureq's parts.)

/// Bytes reserved up front for a body whose length the server announced; a longer body grows
/// the buffer as it arrives (a server cannot make us reserve a large buffer it never fills).
const RESERVE_LIMIT: u64 = 1024 * 1024;

/// The bytes to reserve for a body of the `announced` length, read up to `limit`.
fn reserve(announced: Option<u64>, limit: u64) -> usize {
    // RESERVE_LIMIT fits any usize.
    announced.unwrap_or(0).min(limit).min(RESERVE_LIMIT) as usize
}

/// The URL as `Uri`'s `Display` writes it, in parts (without the formatting machinery), with
/// `fragment` after a `#` when there is one.
fn url_parts<'a>(uri: &'a http::Uri, fragment: Option<&'a str>) -> [&'a str; 8] {
    let scheme = uri.scheme_str();
    [
        scheme.unwrap_or(""),
        if scheme.is_some() { "://" } else { "" },
        uri.authority().map_or("", |a| a.as_str()),
        uri.path(),
        if uri.query().is_some() { "?" } else { "" },
        uri.query().unwrap_or(""),
        if fragment.is_some() { "#" } else { "" },
        fragment.unwrap_or(""),
    ]
}

/// The length of what [`pack_head`] writes.
fn head_len(uri: &http::Uri, fragment: Option<&str>, headers: &HeaderMap) -> usize {
    let url: usize = url_parts(uri, fragment).iter().map(|p| p.len()).sum();
    let lines: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 2)
        .sum();
    url + lines
}

/// Appends the URL, then one `name:value\n` line per header value in the map's order, and
/// returns the URL's length. A header name is a token (no `:`) and a value holds no line break,
/// so the packing is unambiguous.
fn pack_head(
    buf: &mut Vec<u8>,
    uri: &http::Uri,
    fragment: Option<&str>,
    headers: &HeaderMap,
) -> usize {
    let start = buf.len();
    for part in url_parts(uri, fragment) {
        buf.extend_from_slice(part.as_bytes());
    }
    let url_len = buf.len() - start;
    for (name, value) in headers {
        buf.extend_from_slice(name.as_str().as_bytes());
        buf.push(b':');
        buf.extend_from_slice(value.as_bytes());
        buf.push(b'\n');
    }
    url_len
}

/// A view of the packed URL and headers.
struct Head<'a> {
    bytes: &'a [u8],
    url_len: usize,
}

impl<'a> Head<'a> {
    fn url(&self) -> &'a str {
        // Written from a `Uri`, which holds ASCII only.
        std::str::from_utf8(&self.bytes[..self.url_len]).unwrap_or_default()
    }

    /// `(name, value)` of each header value, names in lower case.
    fn lines(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        self.bytes[self.url_len..]
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                Some((&line[..colon], &line[colon + 1..]))
            })
    }

    fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in self.lines() {
            // Both were valid in the map they were packed from.
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                map.append(name, value);
            }
        }
        map
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &crate::redact_url(self.url()))
            .field("body_len", &self.body_len)
            .finish()
    }
}

impl Response {
    /// Reads `resp`'s body, up to `limit` bytes, and packs the URL and headers behind it. ureq's
    /// parts of the response are dropped here, on the worker. `elapsed`: the time to its head.
    pub(crate) fn read(
        mut resp: http::Response<ureq::Body>,
        elapsed: Duration,
        limit: u64,
        progress: &ProgressCounter,
        timeouts: &TimeoutSettings,
    ) -> Result<Self, Error> {
        let fragment = crate::redirect::Fragment::take(resp.extensions_mut());
        let head = head_len(resp.get_uri(), fragment.as_deref(), resp.headers());
        let announced = crate::body::announced_length(resp.headers(), resp.body());
        let mut buf = Vec::with_capacity(reserve(announced, limit) + head);
        progress.start(announced);
        let reader = resp.body_mut().with_config().limit(limit).reader();
        crate::transport::clear_input_full();
        Counted {
            inner: reader,
            counter: progress,
        }
        .read_to_end(&mut buf)
        .map_err(|e| match Error::from(e) {
            Error::BodyTooLarge { limit, url: None } => Error::BodyTooLarge {
                limit,
                url: Some(crate::redact_url(&resp.get_uri().to_string())),
            },
            other => {
                let mut read = crate::phase::BodyRead::start(resp.headers(), announced);
                read.read = buf.len() as u64;
                let url = resp.get_uri().to_string();
                crate::phase::in_body(other, &url, Some(timeouts), Some(&read))
            }
        })?;
        let body_len = buf.len();
        // Exact, where growing the vector would double a body that filled it.
        buf.reserve_exact(head);
        let url_len = pack_head(
            &mut buf,
            resp.get_uri(),
            fragment.as_deref(),
            resp.headers(),
        );
        let notes = crate::phase::StatusNotes::take(resp.extensions_mut());
        Ok(Response {
            status: resp.status().as_u16(),
            buf,
            body_len,
            url_len,
            headers: OnceLock::new(),
            notes,
            elapsed,
        })
    }

    fn head(&self) -> Head<'_> {
        Head {
            bytes: &self.buf[self.body_len..],
            url_len: self.url_len,
        }
    }

    /// The HTTP status code.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"{}"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// assert_eq!(resp.status(), 200);
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
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"{}"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// assert!(resp.is_success());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// All response headers. The map is built on the first call; [`header`](Response::header)
    /// reads one without building it.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"{}"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// assert_eq!(resp.headers()["content-type"], "application/json");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        self.headers.get_or_init(|| Box::new(self.head().to_map()))
    }

    /// The first value of header `name` (case-insensitive), if present and valid text (visible
    /// ASCII, as [`HeaderValue::to_str`](http::HeaderValue::to_str) requires). A value with
    /// other bytes (a `Content-Disposition` whose `filename="résumé.pdf"` is UTF-8 or Latin-1)
    /// is `None` here too: its bytes are in [`headers`](Response::headers)
    /// (`resp.headers().get(name).map(|v| v.as_bytes())`).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"{}"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// assert_eq!(resp.header("Content-Type"), Some("application/json"));
    /// assert_eq!(resp.header("x-missing"), None);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .head()
            .lines()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
        let visible = value.iter().all(|&b| b == b'\t' || (32..127).contains(&b));
        std::str::from_utf8(value).ok().filter(|_| visible)
    }

    /// The URL that answered, after redirects, with the fragment of the request's URL or of the
    /// last redirect that gave one (`#...`: never sent, and kept as requests keeps it; RFC 9110
    /// §10.2.2).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"{}"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// assert_eq!(resp.url(), format!("{base}/r"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn url(&self) -> &str {
        self.head().url()
    }

    /// The time from the request's start on a worker to the arrival of its response's head:
    /// connecting, sending, the server's time to answer, and the redirects and retries before
    /// this response with their waits (backoff, a rate limiter's pause); not the wait for a
    /// worker or for its place of [`max_per_host`](crate::SessionBuilder::max_per_host) before
    /// it, nor the reading of the body. A rate limiter's turn for the first attempt is waited
    /// for before the start too, but for a request that a [`result`](crate::Pending::result)
    /// on a worker of its own full pool runs there: it waits for its turn after the start.
    /// It starts when the request's [`timeout`](crate::SessionBuilder::timeout) starts (which
    /// counts the body too), and is what requests' `elapsed` holds for a request answered at
    /// once (requests measures each redirect apart).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"{}"#)]);
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let resp = session.get(format!("{base}/r")).send().result()?;
    /// if resp.elapsed() > Duration::from_secs(2) {
    ///     eprintln!("{} answered slowly: {:?}", resp.url(), resp.elapsed());
    /// }
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The body.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"[1,2]"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// assert_eq!(resp.bytes(), b"[1,2]");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.body_len]
    }

    /// The body, taken out of the response (without a copy, unless the body is shorter than
    /// the URL and headers behind it: then the few bytes are moved to a buffer of their own).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"[1,2]"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// let body: Vec<u8> = resp.into_bytes();
    /// assert_eq!(body, b"[1,2]");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn into_bytes(self) -> Vec<u8> {
        let mut buf = self.buf;
        buf.truncate(self.body_len);
        if buf.capacity() - buf.len() > buf.len() {
            buf.shrink_to_fit();
        }
        buf
    }

    /// The body as text, which must be UTF-8. Fails with [`Error::Io`] (kind `InvalidData`) if
    /// it is not; the message names the URL and the body's content type.
    /// [`decoded_text`](Response::decoded_text) reads the charset the response names, as
    /// requests' `r.text` does.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"[1,2]"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// assert_eq!(resp.text()?, "[1,2]");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(self.bytes()).map_err(|e| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the body of {} is not UTF-8{}: {e}; decoded_text() decodes it by its \
                     charset, or take it with bytes()",
                    crate::redact_url(self.url()),
                    self.declared()
                ),
            ))
        })
    }

    /// The body as text in the charset its `Content-Type` names, as browsers read it (the
    /// WHATWG Encoding standard): UTF-8, UTF-16 (`utf-16`, `utf-16le`, `utf-16be`) and
    /// windows-1252, which is what the `iso-8859-1`, `latin1` and `us-ascii` labels mean to
    /// browsers; a byte order mark at the start wins over the label. Without a charset, the
    /// body is UTF-8 when it is valid UTF-8, else windows-1252. Bytes that do not decode become
    /// U+FFFD. Borrowed when the body is UTF-8 (or ASCII) already.
    ///
    /// What requests' `r.text` does, for programs ported from Python, with these differences:
    /// requests reads `iso-8859-1` as Latin-1 (byte 0x93 is U+0093 there, U+201C here), decodes
    /// any charset Python knows (here: an error, below), takes ISO-8859-1 for a `text/*` body
    /// without a charset (which garbles UTF-8), keeps a BOM under a label, and takes the last
    /// of two `charset` parameters (here the first, as browsers do).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] of kind `Unsupported` for a charset other than those (`shift_jis`,
    /// `koi8-r`...), naming it and the URL: decode [`bytes`](Response::bytes) with a crate
    /// such as `encoding_rs`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_bytes("/menu", "text/plain; charset=ISO-8859-1", b"caf\xe9 cr\xe8me");
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/menu")).send().result()?;
    /// assert!(resp.text().is_err()); // not UTF-8
    /// assert_eq!(resp.decoded_text()?, "café crème");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn decoded_text(&self) -> Result<std::borrow::Cow<'_, str>, Error> {
        let content_type = self.header("content-type").unwrap_or_default();
        let label = crate::charset::label_of(content_type);
        let bytes = self.bytes();
        let charset = match label {
            None => None,
            Some(label) => Some(Charset::from_label(label).ok_or_else(|| {
                Error::Io(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    format!(
                        "the body of {}{} is in charset {label}, which this crate does not \
                         decode (it decodes UTF-8, UTF-16, and windows-1252 for that and the \
                         ISO-8859-1 and US-ASCII labels): take it with bytes() and decode it \
                         with a crate such as encoding_rs",
                        crate::redact_url(self.url()),
                        self.declared(),
                    ),
                ))
            })?),
        };
        Ok(charset::decode(charset, bytes))
    }

    /// ` (content-type: ...)` when the response has one, for errors about its body: where the
    /// body came from, and what it said it was.
    fn declared(&self) -> String {
        self.header("content-type")
            .map(|ct| format!(" (content-type: {ct})"))
            .unwrap_or_default()
    }

    /// A hint for JSON that fails to parse (`e`) because `body` is in another charset than UTF-8:
    /// a UTF-16 byte order mark or label, or bytes that are no UTF-8 under another `charset`.
    fn not_utf8(&self, body: &[u8], e: &serde_json::Error) -> String {
        if e.classify() == serde_json::error::Category::Data {
            return String::new();
        }
        let label = self.header("content-type").and_then(charset::label_of);
        let charset = label.map(Charset::from_label);
        let what = if body.starts_with(&[0xFF, 0xFE]) || body.starts_with(&[0xFE, 0xFF]) {
            "UTF-16 (by its byte order mark)".to_string()
        } else {
            match (label, charset) {
                // UTF-16 of ASCII text is ASCII bytes and zeros.
                (Some(l), Some(Some(Charset::Utf16Le | Charset::Utf16Be))) => {
                    format!("in charset {l:?}")
                }
                // Another charset reads differently only beyond ASCII, and only where the
                // bytes are no UTF-8 (a label that is wrong would mislead).
                (Some(l), Some(c))
                    if c != Some(Charset::Utf8) && std::str::from_utf8(body).is_err() =>
                {
                    format!("in charset {l:?}")
                }
                _ => return String::new(),
            }
        };
        let read = match charset {
            Some(None) => {
                "decode it with a crate that knows the charset (encoding_rs) from resp.bytes()"
            }
            _ => "decode it first, serde_json::from_str(&resp.decoded_text()?)",
        };
        format!("; the body is {what}, and JSON is read as UTF-8: {read}")
    }

    /// The body parsed as JSON into `T`. A UTF-8 byte order mark at its start is ignored.
    ///
    /// The body is read as UTF-8, as JSON must be (RFC 8259 §8.1); a `charset` in the content
    /// type is not applied (requests applies it). For a server that sends JSON in another
    /// charset, decode it first: `serde_json::from_str(&resp.decoded_text()?)`.
    ///
    /// Fails with [`Error::Json`], whose message names the (redacted) URL and the body's content
    /// type, says whether the body is not JSON (`json: the body of https://host/api (content-type:
    /// text/html) is not JSON: expected value at line 1 column 1`, a proxy's or a login page),
    /// is empty, or is JSON that does not fit `T`, and ends with serde's words and position; for
    /// a body in UTF-16 (by its byte order mark) or in a `charset` beyond ASCII that is not
    /// UTF-8, it says so and how to read it.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/r", "application/json", r#"{"name":"pen"}"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/r")).send().result()?;
    /// #[derive(serde::Deserialize)]
    /// struct Item {
    ///     name: String,
    /// }
    /// let item: Item = resp.json()?;
    /// assert_eq!(item.name, "pen");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        // A leading UTF-8 byte order mark is ignored, as RFC 8259 §8.1 allows.
        let body = self.bytes();
        let body = body.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(body);
        serde_json::from_slice(body).map_err(|e| {
            // serde's words alone (`expected value at line 1 column 1`) name neither the body nor
            // what it was: an HTML page instead of the API's answer reads like a typo in JSON.
            let what = match e.classify() {
                serde_json::error::Category::Data => "does not fit the type asked for",
                _ if body.iter().all(u8::is_ascii_whitespace) => "is empty, not JSON",
                // JSON, with a number serde_json cannot hold (`1e400`; Python reads `inf`).
                _ if e.to_string().starts_with("number out of range") => {
                    "holds a number beyond the range of an f64"
                }
                _ => "is not JSON",
            };
            let why = format!(
                "the body of {}{} {what}: {e}{}",
                crate::redact_url(self.url()),
                self.declared(),
                self.not_utf8(body, &e)
            );
            Error::Json(serde::de::Error::custom(why))
        })
    }

    /// `Ok(self)` for statuses below 400; for 4xx and 5xx, [`Error::Status`] with the code, the
    /// URL, the headers, the first KiB of the body and the API error it carries (see
    /// [`StatusError`](crate::StatusError)). Its message is one line:
    /// `Server responded with an error. Status Code: 404 Client Error: Not Found for url: ...`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/ok", "text/plain", r#"fine"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let ok = session.get(format!("{base}/ok")).send().result()?.error_for_status()?;
    /// assert_eq!(ok.text()?, "fine");
    /// // The doc server answers 404 for other paths.
    /// let missing = session.get(format!("{base}/nope")).send().result()?;
    /// let err = missing.error_for_status().unwrap_err();
    /// assert_eq!(err.status(), Some(404));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn error_for_status(mut self) -> Result<Self, Error> {
        if self.status >= 400 {
            let headers = match self.headers.take() {
                Some(map) => *map,
                None => self.head().to_map(),
            };
            let error = Error::status_at(self.status, self.url(), headers, self.bytes());
            Err(std::mem::take(&mut self.notes).apply(error))
        } else {
            Ok(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    /// A response packed as `Response::read` packs one.
    fn packed(status: u16, url: &str, map: &HeaderMap, body: &[u8]) -> Response {
        let uri: http::Uri = url.parse().unwrap();
        let mut buf = body.to_vec();
        let url_len = pack_head(&mut buf, &uri, None, map);
        assert_eq!(buf.len(), body.len() + head_len(&uri, None, map));
        Response {
            status,
            buf,
            body_len: body.len(),
            url_len,
            headers: OnceLock::new(),
            notes: Default::default(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn json_in_another_charset_than_utf8_says_so_and_how_to_read_it() {
        let json_in = |content_type: &str, body: &[u8]| {
            let mut map = HeaderMap::new();
            map.insert("content-type", content_type.parse().unwrap());
            let resp = packed(200, "http://h/x", &map, body);
            resp.json::<serde_json::Value>().map_err(|e| e.to_string())
        };
        let hint = "decode it first, serde_json::from_str(&resp.decoded_text()?)";
        // UTF-16 with its byte order mark: `{}`.
        let utf16 = [0xFF, 0xFE, b'{', 0, b'}', 0];
        let err = json_in("application/json", &utf16).unwrap_err();
        assert!(
            err.contains("the body is UTF-16 (by its byte order mark)"),
            "{err}"
        );
        assert!(err.contains(hint), "{err}");
        // Latin-1 bytes beyond ASCII.
        let err = json_in(
            "application/json; charset=iso-8859-1",
            b"{\"a\":\"caf\xe9\"}",
        )
        .unwrap_err();
        assert!(
            err.contains(r#"the body is in charset "iso-8859-1""#),
            "{err}"
        );
        assert!(err.contains(hint), "{err}");
        // UTF-16 of ASCII text, without a byte order mark: `{}`.
        let err = json_in("application/json; charset=utf-16", b"{\0}\0").unwrap_err();
        assert!(err.contains(r#"the body is in charset "utf-16""#), "{err}");
        // A charset that decoded_text does not know points elsewhere.
        let err = json_in(
            "application/json; charset=shift_jis",
            b"{\"a\":\"\x82\xa0\"}",
        )
        .unwrap_err();
        assert!(
            err.contains("with a crate that knows the charset (encoding_rs)"),
            "{err}"
        );
        // UTF-8 under a Latin-1 label, broken for another reason: the label is wrong, no hint.
        let err = json_in(
            "application/json; charset=iso-8859-1",
            "{\"a\": caf\u{e9}}".as_bytes(),
        )
        .unwrap_err();
        assert!(!err.contains("decode it"), "{err}");
        // ASCII under that label is JSON all the same; a page that is no JSON gets no hint.
        assert!(json_in("application/json; charset=iso-8859-1", br#"{"a":1}"#).is_ok());
        let err = json_in("text/html; charset=utf-8", "<p>é</p>".as_bytes()).unwrap_err();
        assert!(!err.contains("decode it first"), "{err}");
        let err = json_in("text/html; charset=iso-8859-1", b"<p>ok</p>").unwrap_err();
        assert!(!err.contains("decode it first"), "{err}");
    }

    #[test]
    fn the_reservation_follows_the_announced_length_within_bounds() {
        assert_eq!(reserve(None, u64::MAX), 0);
        assert_eq!(reserve(Some(5), u64::MAX), 5);
        assert_eq!(reserve(Some(5000), 100), 100);
        assert_eq!(
            reserve(Some(u64::MAX), u64::MAX),
            RESERVE_LIMIT as usize,
            "a server's claim alone never reserves more than RESERVE_LIMIT"
        );
    }

    #[test]
    fn into_bytes_does_not_keep_the_packed_head_of_a_short_body() {
        let map = headers(&[("x-long", "v".repeat(1000).as_bytes())]);
        let body = packed(200, "http://h/", &map, b"hello").into_bytes();
        assert_eq!(body, b"hello");
        assert!(body.capacity() < 100, "capacity {}", body.capacity());
        let long = vec![b'x'; 4096];
        let body = packed(200, "http://h/", &map, &long).into_bytes();
        assert_eq!(body, long);
    }

    #[test]
    fn the_packed_url_is_the_uris_display() {
        for url in [
            "http://127.0.0.1:8080/v1/chat?stream=true&x=%20y",
            "https://example.com",
            "http://user:pw@[::1]:3000/a/b/",
            "http://example.com/?",
            "/relative?q=1",
        ] {
            let uri: http::Uri = url.parse().unwrap();
            let resp = packed(200, url, &HeaderMap::new(), b"body");
            assert_eq!(resp.url(), uri.to_string(), "{url}");
            assert_eq!(resp.bytes(), b"body");
        }
    }

    #[test]
    fn packed_headers_come_back_as_the_same_map_and_the_body_as_it_was() {
        let map = headers(&[
            ("content-type", b"text/plain; charset=utf-8"),
            ("set-cookie", b"a=1"),
            ("x-empty", b""),
            ("set-cookie", b"b=2: with colon"),
            ("x-latin1", b"caf\xe9"),
        ]);
        // A body that looks like packed lines changes nothing.
        let body = b"x-empty:no\nhttp://other/\n";
        let resp = packed(200, "http://h/p", &map, body);
        assert_eq!(resp.headers(), &map);
        assert_eq!(resp.url(), "http://h/p");
        assert_eq!(resp.bytes(), body);
        assert_eq!(resp.header("x-empty"), Some(""));
        assert_eq!(resp.into_bytes(), body);
    }

    #[test]
    fn header_reads_the_first_value_as_text_like_the_map() {
        let map = headers(&[
            ("set-cookie", b"a=1"),
            ("set-cookie", b"b=2"),
            ("x-latin1", b"caf\xe9"),
            ("x-tab", b"a\tb"),
            ("x-empty", b""),
        ]);
        let resp = packed(200, "http://h/", &map, b"");
        for name in [
            "set-cookie",
            "Set-Cookie",
            "x-latin1",
            "x-tab",
            "x-empty",
            "absent",
            "bad name",
            "",
        ] {
            let expected = map.get(name).and_then(|v| v.to_str().ok());
            assert_eq!(resp.header(name), expected, "{name}");
        }
        let err = packed(503, "http://h/", &map, b"busy")
            .error_for_status()
            .unwrap_err();
        match err {
            Error::Status(e) => assert_eq!((e.headers, e.body.as_str()), (map, "busy")),
            other => panic!("{other:?}"),
        }
    }
}
