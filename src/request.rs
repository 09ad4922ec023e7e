//! `RequestBuilder`: a request being described on the caller's thread and sent on a worker.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use ureq::http::Method;

use crate::body::{self, BodyReader};
use crate::config::{header_names, Config, Limit};
use crate::download::{self, Download};
use crate::exec::{Completer, Pending};
use crate::response::Response;
use crate::retry::RetryPolicy;
use crate::run::{self, Spec};
use crate::session::FuturesSession;
use crate::source::EventSource;
use crate::sse::{Decode, EventStream, MapFeed, RawEvents, StreamOptions};
use crate::upload::{OnceReader, Payload, Piece};
use crate::url::{form_encode_into, redact_url};
use crate::Error;

/// A request to be sent on the session's pool, made by [`FuturesSession::get`] and its siblings.
///
/// The setters run on the caller's thread and never fail: a problem (an invalid header name, a
/// value that does not serialize to JSON, a body file that cannot be read) is reported by the
/// handle that a terminal method returns, as [`Error::InvalidRequest`], [`Error::Json`] or
/// [`Error::Io`].
///
/// Terminal methods: [`send`](RequestBuilder::send), [`send_json`](RequestBuilder::send_json),
/// [`send_with`](RequestBuilder::send_with), for response bodies not held in memory
/// [`send_streaming`](RequestBuilder::send_streaming) and [`download`](RequestBuilder::download),
/// and, for Server-Sent Events, [`events`](RequestBuilder::events). A request body that is not
/// held in memory is a file ([`body_file`](RequestBuilder::body_file)) or a reader
/// ([`body_reader`](RequestBuilder::body_reader)).
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/api", "application/json", r#"{"ok":true}"#)]);
/// use std::time::Duration;
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let pending = session
///     .post(format!("{base}/api"))
///     .header("x-request-id", "42")
///     .query("verbose", "1")
///     .timeout(Duration::from_secs(5))
///     .send_json(&serde_json::json!({ "hello": "world" }));
/// let response = pending.result()?;
/// assert_eq!(response.status(), 200);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[must_use = "a RequestBuilder sends nothing until send() or another terminal method is called"]
pub struct RequestBuilder {
    session: FuturesSession,
    spec: Spec,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither header values nor the query are shown: either may carry a credential.
        let names = header_names(&self.spec.headers);
        f.debug_struct("RequestBuilder")
            .field("method", &self.spec.method)
            .field("url", &redact_url(&self.spec.url))
            .field("headers", &names)
            .field("body_len", &self.spec.body.as_ref().and_then(Payload::len))
            .field("timeout", &self.spec.timeout)
            .finish()
    }
}

impl RequestBuilder {
    /// The request's URL, redacted (see [`redact_url`]).
    #[cfg(feature = "llm")]
    pub(crate) fn redacted_url(&self) -> String {
        redact_url(&self.spec.url)
    }

    pub(crate) fn from_parts(session: FuturesSession, spec: Spec) -> Self {
        RequestBuilder { session, spec }
    }

    /// Keeps `e` for the handle to report, unless a problem was found before it.
    fn fail(&mut self, e: Error) {
        self.spec.error.get_or_insert_with(|| Box::new(e));
    }

    pub(crate) fn new(session: FuturesSession, method: &str, url: String) -> Self {
        // Parsed here, where the standard methods cost no allocation; an invalid one is reported
        // by the handle (the placeholder GET is never sent). In upper case, as requests sends
        // it: methods are case-sensitive, servers know `POST` only (nginx answers `post` with
        // a 400), and the session's rules (redirects, idempotence) speak of `POST`.
        let upper;
        let name = if method.bytes().any(|b| b.is_ascii_lowercase()) {
            upper = method.to_ascii_uppercase();
            upper.as_str()
        } else {
            method
        };
        let (method, error) = match Method::from_bytes(name.as_bytes()) {
            Ok(m) => (m, None),
            Err(_) => (
                Method::GET,
                Some(Box::new(Error::InvalidRequest(format!(
                    "invalid method {method:?}: a method is a token of letters, digits and \
                     !#$%&'*+-.^_`|~, without spaces"
                )))),
            ),
        };
        RequestBuilder {
            session,
            spec: Spec {
                method,
                url,
                query: Vec::new(),
                headers: Vec::new(),
                body: None,
                content_type: None,
                timeout: Limit::Inherit,
                read_timeout: Limit::Inherit,
                retry: None,
                idempotent: None,
                error,
                followed: false,
                resumes: false,
            },
        }
    }

    /// Adds a header. It replaces a session default header of the same name; calling it twice
    /// with one name sends both values. There is no need to set `Content-Length`: the session
    /// sets it from the body, and one that is not the body's length (or not a number) makes the
    /// request an [`Error::InvalidRequest`] before anything is sent. `Expect: 100-continue` is
    /// not sent: the body follows the head at once, as requests sends it (ureq would wait for
    /// the `100 Continue` and miss a final answer that comes instead, such as S3's 401 or a
    /// redirect, until the `timeout`). A server that refuses the body with an error answer
    /// (status 300 or more) and stops reading it, keeping the connection open, is heard at
    /// once over `http://` on Unix, where the session watches for an answer while it writes;
    /// elsewhere (TLS, a SOCKS proxy, Windows) once the body fits in the connection's buffers,
    /// a larger one waiting for the `timeout` or a cancel, as with requests.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/", "text/plain", r#"ok"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new()
    ///     .get(format!("{base}/"))
    ///     .header("x-request-id", "42")
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.status(), 200);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.headers.push((name.into(), value.into()));
        self
    }

    /// Sends HTTP Basic authentication (RFC 7617): `Authorization: Basic` and `user:password` in
    /// base64, as requests' `auth=(user, password)`, with the text encoded as UTF-8 (RFC 7617's
    /// `charset="UTF-8"`; requests encodes Latin-1, so a password beyond ASCII differs). It
    /// replaces an `Authorization` set before on this request, and the session's. Like every
    /// credential header, it is sent again after a redirect to the same origin and removed when
    /// a redirect leads to another one. Credentials in the URL (`https://user:p%40ss@host/`,
    /// percent-decoded) are sent the same way when the request has no `Authorization` of its
    /// own or the session's, and follow the same rule. Credentials RFC 7617 does not allow (a
    /// control character in either part, such as the line feed of a password read from a file,
    /// or a colon in the user name) fail the request with an [`Error::InvalidRequest`] that
    /// says which, before anything is sent; it never shows the password.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/private", "text/plain", "welcome")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let resp = session
    ///     .get(format!("{base}/private"))
    ///     .basic_auth("aladdin", "open sesame")
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.status(), 200);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn basic_auth(mut self, user: impl AsRef<str>, password: impl AsRef<str>) -> Self {
        match crate::auth::basic(user.as_ref(), password.as_ref()) {
            Ok(value) => crate::auth::set(&mut self.spec.headers, value),
            Err(why) => self.fail(Error::InvalidRequest(why)),
        }
        self
    }

    /// Sends a bearer token (RFC 6750): `Authorization: Bearer <token>`, as most HTTP APIs
    /// expect an API key. It replaces an `Authorization` set before on this request, and the
    /// session's; redirects treat it as [`basic_auth`](RequestBuilder::basic_auth) says. An
    /// empty token (an environment variable that is not set), one that starts with the scheme
    /// (`Bearer sk-...`) and one with a space or tab in or around it fail the request with an
    /// [`Error::InvalidRequest`] that says so (never quoting the token), before anything is
    /// sent: the server would answer 401 without saying why.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/models", "application/json", "[]")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let resp = session
    ///     .get(format!("{base}/v1/models"))
    ///     .bearer_auth("sk-test")
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.text()?, "[]");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn bearer_auth(mut self, token: impl AsRef<str>) -> Self {
        match crate::auth::bearer(token.as_ref()) {
            Ok(value) => crate::auth::set(&mut self.spec.headers, value),
            Err(why) => self.fail(Error::InvalidRequest(why)),
        }
        self
    }

    /// Adds a query parameter, percent-encoded, after any query already in the URL.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/search", "text/plain", r#"found"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// // GET /search?q=rust%20sse&page=2
    /// let resp = FuturesSession::new()
    ///     .get(format!("{base}/search"))
    ///     .query("q", "rust sse")
    ///     .query("page", "2")
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.text()?, "found");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn query(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.spec
            .query
            .push((name.as_ref().to_string(), value.as_ref().to_string()));
        self
    }

    /// This request's budget, replacing the session's [`timeout`](crate::SessionBuilder::timeout):
    /// the whole exchange for a buffered request, the time until the headers are in for an
    /// event stream, [`send_streaming`](RequestBuilder::send_streaming) and
    /// [`download`](RequestBuilder::download) (a body read as it comes has no total budget:
    /// [`read_timeout`](RequestBuilder::read_timeout) bounds each wait for its bytes, and
    /// [`Pending::cancel`](crate::Pending::cancel) stops it). A `Duration`, or `None` for no
    /// limit on this request. Defaults to the session's. A budget of zero (one computed from a
    /// deadline that has passed) is spent already: the request fails at once with
    /// [`Error::Timeout`](crate::Error::Timeout), unsent.
    ///
    /// The budget starts when a worker starts the request: time queued for a worker, or parked
    /// for a [`RateLimiter`](crate::RateLimiter)'s turn (a paused origin's, up to its
    /// `max_pause`) or a [`max_per_host`](crate::SessionBuilder::max_per_host) slot, does not
    /// count. To bound the whole wait, give the handle a deadline of its own:
    /// [`Pending::result_timeout`](crate::Pending::result_timeout), then
    /// [`Pending::cancel`](crate::Pending::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/", "text/plain", r#"ok"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new()
    ///     .get(format!("{base}/"))
    ///     .timeout(Duration::from_secs(5))
    ///     .send()
    ///     .result()?;
    /// assert!(resp.is_success());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn timeout(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.spec.timeout = Limit::Set(d.into());
        self
    }

    /// This request's longest silence between two reads, replacing the session's
    /// [`read_timeout`](crate::SessionBuilder::read_timeout). On an event stream it ends a stalled
    /// stream with [`Error::Timeout`]. A `Duration`, or `None` for no limit on this request
    /// (not zero, which fails the first read that has to wait). Defaults to the session's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let request = session.get("https://example.com/events").read_timeout(Duration::from_secs(60));
    /// ```
    pub fn read_timeout(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.spec.read_timeout = Limit::Set(d.into());
        self
    }

    /// This request's [`RetryPolicy`], replacing the session's
    /// ([`SessionBuilder::retry`](crate::SessionBuilder::retry)); `RetryPolicy::none()` turns
    /// retries off for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{FuturesSession, RetryPolicy};
    ///
    /// let session = FuturesSession::builder().retry(RetryPolicy::new()).build();
    /// // This one request is tried once.
    /// let request = session.get("https://example.com/").retry(RetryPolicy::none());
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.spec.retry = Some(Box::new(policy));
        self
    }

    /// Says whether sending this request twice does no more than sending it once. Defaults to
    /// the method's own answer (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT and DELETE are
    /// idempotent; POST and PATCH are not).
    ///
    /// An idempotent request sent on a kept-alive connection from the pool that fails before
    /// any byte of response (the server closed or reset it: as the request arrived, or after
    /// taking part of its body) is sent again at once, once, on a new connection, its body
    /// too (a file is read again; a reader's body is never sent again); this is not a retry
    /// of the [`RetryPolicy`], and happens without one. A
    /// [`RetryPolicy`] retries only idempotent requests too (unless it allows others with
    /// [`RetryPolicy::non_idempotent`], or the request never reached the server, which
    /// `idempotent(false)` still rules out), and asks the same mark. Mark a
    /// POST `idempotent(true)` when the server treats a repeat as one request (an idempotency
    /// key, a search); mark a GET `idempotent(false)` if sending it twice would do harm. The
    /// mark holds for redirects that keep the method; the GET a redirect makes of a POST is
    /// idempotent whatever the mark. See RELIABILITY.md.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/search", "application/json", "[]")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let hits = session
    ///     .post(format!("{base}/search"))
    ///     .json(&serde_json::json!({ "q": "rust" }))
    ///     .idempotent(true)
    ///     .send()
    ///     .result()?;
    /// assert_eq!(hits.text()?, "[]");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.spec.idempotent = Some(yes);
        self
    }

    /// Sets the body to `value` serialized as JSON, with `Content-Type: application/json`.
    /// The value is serialized now, on the caller's thread; a value that does not serialize (a
    /// map whose keys are not strings) makes the request an [`Error::Json`] that says so, and
    /// nothing is sent. A NaN or infinite float goes as `null`, as serde_json writes it (JSON has
    /// no such numbers; `json!` makes them `null` already); requests refuses them instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/items", "text/plain", r#"created"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new()
    ///     .post(format!("{base}/items"))
    ///     .json(&serde_json::json!({"name": "pen", "price": 2}))
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.text()?, "created");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.spec.body = Some(Payload::Bytes(Arc::new(bytes)));
                self.spec.content_type = Some(Cow::Borrowed("application/json"));
            }
            // The first problem found is the one reported. Said to be the request body's, and
            // for which URL: serde's words alone ("key must be a string") read like a response
            // that did not parse.
            Err(e) => {
                let url = &self.spec.url;
                self.spec.error.get_or_insert_with(|| {
                    let why = format!(
                        "the request body for {} could not be serialized as JSON: {e}",
                        redact_url(url)
                    );
                    Box::new(Error::Json(serde::ser::Error::custom(why)))
                });
            }
        }
        self
    }

    /// Sets the body to raw bytes. No content type is added; set one with
    /// [`header`](RequestBuilder::header) if the server needs it.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/raw", "text/plain", r#"stored"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new()
    ///     .post(format!("{base}/raw"))
    ///     .header("content-type", "application/octet-stream")
    ///     .body(vec![0u8, 1, 2, 3])
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.text()?, "stored");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.spec.body = Some(Payload::Bytes(Arc::new(bytes.into())));
        self.spec.content_type = None;
        self
    }

    /// Sets the body to the file at `path`, read from the disk while the request is sent: a
    /// body of any size that is never held in memory (requests' `data=open(path, "rb")`). No
    /// content type is added, as with [`body`](RequestBuilder::body).
    ///
    /// The request goes with the file's length, taken now, as its `Content-Length` (not
    /// chunked: S3 and other stores refuse chunked uploads). If the file cannot be read now
    /// (it does not exist, this process may not open it, it is a directory, or it is not a
    /// regular file whose length says what it holds: a pipe, a device, a `/proc` file, which
    /// [`body_reader`](RequestBuilder::body_reader) sends), the handle reports an
    /// [`Error::Io`] naming it and nothing is sent. A file that is gone, or whose length has
    /// changed, by the time it is sent fails the request the same way once its head has gone
    /// out (the connection is then closed), rather than sending a body that its length does
    /// not describe.
    /// Each send (a retry, a 307 or 308 redirect) reads the file again from its start. A
    /// [`timeout`](RequestBuilder::timeout) bounds the upload too; a cancel stops it.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/backup.tar", "text/plain", "stored")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let path = std::env::temp_dir().join("ureq-futures-doc-backup.tar");
    /// std::fs::write(&path, b"...")?; // any size: it is read as it is sent
    /// let resp = FuturesSession::new()
    ///     .put(format!("{base}/backup.tar"))
    ///     .header("content-type", "application/x-tar")
    ///     .body_file(&path)
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.text()?, "stored");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn body_file(mut self, path: impl Into<PathBuf>) -> Self {
        match Piece::file(path.into()) {
            Ok(file) => self.spec.body = Some(Payload::Pieces(vec![file])),
            Err(e) => self.fail(e),
        }
        self.spec.content_type = None;
        self
    }

    /// Sets the body to the pairs, form-encoded as requests encodes them (a space as `+`, every
    /// byte but letters, digits and `-._~` as `%XX`), with
    /// `Content-Type: application/x-www-form-urlencoded`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/login", "text/plain", r#"welcome"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new()
    ///     .post(format!("{base}/login"))
    ///     .form([("user", "ada"), ("note", "a&b")])
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.text()?, "welcome");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn form<I, K, V>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut out = String::new();
        for (k, v) in pairs {
            if !out.is_empty() {
                out.push('&');
            }
            form_encode_into(&mut out, k.as_ref());
            out.push('=');
            form_encode_into(&mut out, v.as_ref());
        }
        self.spec.body = Some(Payload::Bytes(Arc::new(out.into_bytes())));
        self.spec.content_type = Some(Cow::Borrowed("application/x-www-form-urlencoded"));
        self
    }

    /// Sets the body to what `reader` yields, read as it is sent: a stream of the caller's
    /// (a pipe, a child process's output, data made as it goes) that is never held in memory.
    /// No content type is added, as with [`body`](RequestBuilder::body).
    ///
    /// `len`: the body's length in bytes, sent as its `Content-Length`, or `None` to send it
    /// chunked (`Transfer-Encoding: chunked`, as requests sends a generator; some servers, S3
    /// among them, refuse chunked uploads). With a length, that many bytes are read and sent,
    /// and no more (as `Read::take` reads: what follows them is left in the reader); a reader
    /// that ends sooner fails the request with an [`Error::Io`] that says so, rather than
    /// sending a body its length does not describe.
    ///
    /// A reader is read once, so the request is sent once: no retry (a
    /// [`RetryPolicy`](crate::RetryPolicy) does not apply), no resend on a fresh connection
    /// when a pooled one turns out closed, and a redirect that would send the body again (a 307
    /// or 308, a 301 or 302 of another method than POST) is not followed: the redirect is the
    /// response. An [`event_source`](RequestBuilder::event_source), which sends its request on
    /// each reconnection, refuses such a body. For a body that can be sent again, give a file
    /// with [`body_file`](RequestBuilder::body_file). An error of the reader is the request's
    /// error, naming the URL. A cancel, or the request's `timeout`, stops the upload at the
    /// next read; neither can interrupt a reader blocked inside its own `read`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/logs", "text/plain", "stored")]);
    /// use std::io::Read;
    /// use ureq_futures::FuturesSession;
    ///
    /// // Any `Read + Send`: here a million bytes made as they are read.
    /// let lines = std::io::repeat(b'x').take(1_000_000);
    /// let resp = FuturesSession::new()
    ///     .post(format!("{base}/logs"))
    ///     .body_reader(lines, None) // chunked; give Some(len) when the length is known
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.text()?, "stored");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn body_reader(
        mut self,
        reader: impl std::io::Read + Send + 'static,
        len: impl Into<Option<u64>>,
    ) -> Self {
        self.spec.body = Some(Payload::Pieces(vec![Piece::Reader {
            reader: OnceReader::new(reader),
            len: len.into(),
            part: None,
        }]));
        self.spec.content_type = None;
        self
    }

    /// Sets the body to `form`, encoded as `multipart/form-data` (RFC 7578), with its
    /// `Content-Type` and boundary: requests' `files=` and `data=`. The form is encoded now, on
    /// the caller's thread. See [`Multipart`](crate::Multipart) for an example.
    ///
    /// A `Content-Type` set with [`header`](RequestBuilder::header) wins over
    /// `multipart/form-data`, and so does a session default that is a `multipart/*` type; such
    /// a type is sent with the body's boundary in place of any it names (`multipart/form-data`,
    /// as `curl -H` examples write it, goes as `multipart/form-data; boundary=...`), as curl
    /// does: the server reads the parts only with the boundary the body uses. A session default
    /// of another type (`application/json`) yields to the form's.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/upload", "text/plain", r#"stored"#)]);
    /// use ureq_futures::{FuturesSession, Multipart};
    ///
    /// let form = Multipart::new().text("title", "notes").file("f", "a.txt", "text/plain", "hello");
    /// let resp = FuturesSession::new().post(format!("{base}/upload")).multipart(form).send().result()?;
    /// assert_eq!(resp.text()?, "stored");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn multipart(mut self, form: crate::Multipart) -> Self {
        match form.encode() {
            Ok((content_type, body)) => {
                self.spec.body = Some(body);
                self.spec.content_type = Some(Cow::Owned(content_type));
            }
            Err(e) => self.fail(e),
        }
        self
    }

    /// Sends the request on the pool and returns at once. The handle's result is the
    /// [`Response`] with its body read (up to the session's
    /// [`max_body_size`](crate::SessionBuilder::max_body_size)); 4xx and 5xx are responses, not
    /// errors, as in requests.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/a", "text/plain", r#"A"#), ("/b", "text/plain", r#"B"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let a = session.get(format!("{base}/a")).send(); // both requests run at once
    /// let b = session.get(format!("{base}/b")).send();
    /// assert_eq!(a.result()?.text()?, "A");
    /// assert_eq!(b.result()?.text()?, "B");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn send(self) -> Pending<Response> {
        // No hook of the caller's: the job ends with the read, and its place with it.
        self.buffered(run::Answer::default(), Ok)
    }

    /// Sets a JSON body (see [`json`](RequestBuilder::json)) and sends.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/echo", "application/json", r#"{"ok":true}"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new()
    ///     .post(format!("{base}/echo"))
    ///     .send_json(&serde_json::json!({"ping": 1}))
    ///     .result()?;
    /// assert_eq!(resp.json::<serde_json::Value>()?["ok"], true);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn send_json<T: Serialize + ?Sized>(self, value: &T) -> Pending<Response> {
        self.json(value).send()
    }

    /// Sends, then runs `hook` on the worker with the response: requests-futures' background
    /// callbacks. The handle resolves to what the hook returns, so parsing and other work
    /// happen off the caller's thread. `?` in the hook works as in
    /// [`submit`](crate::FuturesSession::submit)'s closures: on this crate's, I/O, JSON, ureq,
    /// boxed and parse errors, and on any other error type through
    /// [`Error::other`](crate::Error::other). A panic in the hook becomes
    /// [`Error::Panicked`](crate::Error::Panicked) on the handle; the worker survives.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/repos/algesten/ureq", "application/json", r#"{"stargazers_count":1900}"#)]);
    /// # use ureq_futures::FuturesSession;
    /// #[derive(serde::Deserialize)]
    /// struct Repo { stargazers_count: u64 }
    ///
    /// let session = FuturesSession::new();
    /// let stars = session
    ///     .get(format!("{base}/repos/algesten/ureq"))
    ///     .send_with(|resp| Ok(resp.error_for_status()?.json::<Repo>()?.stargazers_count));
    /// println!("{}", stars.result()?);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn send_with<U, F>(self, hook: F) -> Pending<U>
    where
        U: Send + 'static,
        F: FnOnce(Response) -> Result<U, Error> + Send + 'static,
    {
        let answer = run::Answer {
            hook_frees_place: true,
            ..run::Answer::default()
        };
        self.buffered(answer, hook)
    }

    /// Sends, reads the answer as `answer` says (see [`run::buffered`]), and runs `hook` on it.
    pub(crate) fn buffered<U, F>(self, answer: run::Answer, hook: F) -> Pending<U>
    where
        U: Send + 'static,
        F: FnOnce(Response) -> Result<U, Error> + Send + 'static,
    {
        self.submit(true, move |agent, config, spec, done: Completer<U>| {
            let result = run::buffered(agent, config, spec, done.progress(), answer, hook);
            done.complete(result);
        })
    }

    /// Sends the request and resolves as soon as the status line and headers are in, with a
    /// [`BodyReader`] that reads the body on the caller's thread: requests' `stream=True`. The
    /// body is never held in memory, so it may be of any size; the worker is free for the next
    /// job the moment the handle resolves.
    ///
    /// As with [`send`](RequestBuilder::send), any status is a reader (a 404's body is readable);
    /// [`BodyReader::error_for_status`] turns 4xx and 5xx into [`Error::Status`]. Redirects and
    /// retries happen before the handle resolves, as for `send`.
    ///
    /// Timeouts: the [`timeout`](RequestBuilder::timeout) bounds only the wait for the headers
    /// (the body is read at the caller's pace, which no total budget could know), and the
    /// [`read_timeout`](RequestBuilder::read_timeout) bounds each read of the body: a server
    /// silent for longer fails the read with [`io::ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut), which `?` turns into
    /// [`Error::Timeout`].
    ///
    /// Dropping the reader before the end of the body closes its connection (a half-read
    /// connection cannot be reused); a body read to its end returns the connection to the pool.
    /// A read can be stopped from another thread with [`BodyReader::stop_handle`] or the
    /// session's [`shutdown_now`](crate::FuturesSession::shutdown_now).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/big", "application/octet-stream", "0123456789")]);
    /// use std::io::Read;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut body = session.get(format!("{base}/big")).send_streaming().result()?;
    /// assert_eq!(body.status(), 200);
    /// assert_eq!(body.content_length(), Some(10));
    /// let mut first = [0; 4];
    /// body.read_exact(&mut first)?;                       // on this thread, as it arrives
    /// assert_eq!(&first, b"0123");
    /// let copied = std::io::copy(&mut body, &mut std::io::sink())?;
    /// assert_eq!(copied, 6);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn send_streaming(self) -> Pending<BodyReader> {
        self.submit(true, |agent, config, spec, done| {
            done.complete(body::open(agent, config, spec));
        })
    }

    /// Streams the response body into the file at `path` on the worker, without holding it in
    /// memory, and resolves when the file is complete: the body is written to `<path>.part` and
    /// renamed to `path` only once it is whole (see [`Download`] for the guarantees). An
    /// existing file at `path` is replaced, as requests users writing `open(path, "wb")` expect;
    /// until the new body is complete the old file stays intact. Two downloads to one path at
    /// once each write a part file of their own (the second `<path>.1.part`), and the one that
    /// finishes last stays under the name; a part file left by a download that died is
    /// replaced (nothing is written into a file the download did not make: a link, or another
    /// user's file, at a part file's name is passed over). The new file keeps the permission
    /// bits of the one it replaces. `path` is the file's, not a directory's: a path that names
    /// a directory (or ends with a separator, `downloads/`) is [`Error::Io`] of kind
    /// `IsADirectory`, and an empty one, or one that names a device (`/dev/null`: read the body
    /// with [`send_streaming`](RequestBuilder::send_streaming) and `io::copy` it to
    /// `io::sink()`), of kind `InvalidInput`, before the request is sent. A symbolic link at `path` is replaced by
    /// the file, as any file there is; the file it pointed to is left as it was.
    ///
    /// A status outside 2xx is [`Error::Status`] (with the start of the body, as much of it as
    /// arrives within the [`timeout`](RequestBuilder::timeout), and within 5 s at most) and
    /// writes nothing, but for a 304 to a conditional request (`If-None-Match`,
    /// `If-Modified-Since`, as a mirror sends them) when a file is at `path`: the file is
    /// current and stays as it was, and the download's [`status`](crate::Download::status) is
    /// 304. A 416 to a `Range` past the end is [`Error::Status`] too, but for a resume of a file
    /// that is whole already (`Range: bytes=<its length>-` answered with `Content-Range: bytes
    /// */<that length>`): the file stays, and the status is 416, as `wget -c` finds a file fully
    /// retrieved. To complete a file at `path` that is shorter than the
    /// server's (one that another tool left cut, a log that has grown since), send
    /// `Range: bytes=<length of the file>-` (with `If-Range` and the validator you have, so that
    /// a changed file comes whole): a 206 answer is written after the bytes before its range,
    /// kept from the file at `path` (which must hold that many), a 200 answer replaces the file
    /// as any download does. Under a retry policy ([`retry`](RequestBuilder::retry), or the
    /// session's), a GET's body cut or stalled midway is asked for again from where it stopped,
    /// with the answer's strong `ETag` (else a `Last-Modified` a minute or more before its
    /// `Date`) as `If-Range`, into the same part file, each resume an attempt of the policy
    /// after its backoff: a 206 from that byte of the same file (the same length, `ETag` and
    /// `Last-Modified`) goes on, a 416 that puts the file's end there lands it, a 200 (the file
    /// changed meanwhile) starts the file over, anything else fails with the cut's error,
    /// saying what the resume met. Such a download asks for its body unencoded
    /// (`Accept-Encoding: identity`: a range counts the bytes as sent); one whose request lets
    /// the body be encoded, whose answer names no validator, or whose file changed in the
    /// second of its answer, is not resumed, and the error says why.
    /// Without a policy, a cut download leaves no partial file (the file at `path` stays as it
    /// was), and a new call starts over. A 206 of
    /// several ranges, without a `Content-Range`, or with another number of bytes than its
    /// range, is [`Error::Protocol`] and writes nothing; so is a 206 to a request without a
    /// `Range` that does not carry the whole file, and one to `bytes=S-` that stops before
    /// the file's end. A request with
    /// a `Range` asks for `Accept-Encoding: identity` unless it names one. Redirects
    /// and retries happen as for [`send`](RequestBuilder::send). Timeouts are those of
    /// [`send_streaming`](RequestBuilder::send_streaming): the
    /// [`timeout`](RequestBuilder::timeout) bounds the wait for the headers, and the
    /// [`read_timeout`](RequestBuilder::read_timeout) each silence of the server while the body
    /// is read (a total budget would cut a large file on a slow link).
    ///
    /// The file is the download's only outcome: keep its handle and wait on it (`result`,
    /// [`wait_all`](crate::wait_all)). One whose handle was dropped while it was still queued is
    /// not made when the session goes first, nor after [`join`](crate::FuturesSession::join)
    /// (see [`Pending`](crate::Pending)).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/data.csv", "text/csv", "a,b\n1,2\n")]);
    /// # let dir = std::env::temp_dir().join(format!("ureq-futures-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let path = dir.join("data.csv");
    /// let done = session.get(format!("{base}/data.csv")).download(&path).result()?;
    /// assert_eq!(done.bytes(), 8);
    /// assert_eq!(std::fs::read_to_string(done.path())?, "a,b\n1,2\n");
    ///
    /// let missing = session.get(format!("{base}/nope")).download(dir.join("nope")).result();
    /// assert_eq!(missing.unwrap_err().status(), Some(404));
    /// assert!(!dir.join("nope").exists() && !dir.join("nope.part").exists());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn download(self, path: impl Into<PathBuf>) -> Pending<Download> {
        let path = path.into();
        self.submit(true, move |agent, config, spec, done| {
            download::run(agent, config, spec, path, done);
        })
    }

    /// Sends the request as a Server-Sent Events stream, with the default [`StreamOptions`].
    ///
    /// The handle resolves as soon as the status line and headers are in; the worker then keeps
    /// reading and parsing the body while the caller consumes the [`EventStream`]. The request
    /// carries `Accept: text/event-stream`, `Cache-Control: no-cache` and
    /// `Accept-Encoding: identity` unless it sets them itself.
    ///
    /// The handle's errors: a non-2xx status is [`Error::Status`] (with the start of the body, as
    /// much of it as arrives within the [`timeout`](RequestBuilder::timeout), and within 5 s at
    /// most: a server that stalls in its error body does not hold the handle); a content type other
    /// than `text/event-stream` (none and `text/plain` are read as one) is
    /// [`Error::UnexpectedContentType`] (see [`StreamOptions::require_event_stream`]); transport
    /// errors and timeouts as for [`send`](RequestBuilder::send). The
    /// [`timeout`](RequestBuilder::timeout) bounds only the wait for the headers: a stream has no
    /// total budget, only the [`read_timeout`](RequestBuilder::read_timeout) between reads (the
    /// request's, else the session's).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # use ureq_futures::FuturesSession;
    /// let session = FuturesSession::new();
    /// let stream = session
    ///     .post(format!("{base}/v1/chat/completions"))
    ///     .json(&serde_json::json!({ "stream": true }))
    ///     .events()
    ///     .result()?;
    /// for event in stream {
    ///     println!("{}", event?.data);
    /// }
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn events(self) -> Pending<EventStream> {
        self.events_with(StreamOptions::default())
    }

    /// [`events`](RequestBuilder::events) with other options: channel capacity, parser limits,
    /// content-type check.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/feed", "text/event-stream", "data: one\n\ndata: two\n\n")]);
    /// use ureq_futures::sse::StreamOptions;
    /// use ureq_futures::FuturesSession;
    ///
    /// // A smaller channel: the worker stays at most 8 events ahead of the reader.
    /// let stream = FuturesSession::new()
    ///     .get(format!("{base}/feed"))
    ///     .events_with(StreamOptions::default().capacity(8))
    ///     .result()?;
    /// let data: Vec<String> = stream.map(|e| e.map(|e| e.data)).collect::<Result<_, _>>()?;
    /// assert_eq!(data, ["one", "two"]);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn events_with(self, options: StreamOptions) -> Pending<EventStream> {
        self.events_decoded(options, RawEvents)
    }

    /// An event stream whose events are turned into items by `decoder` on the worker, before
    /// they reach the channel (see [`Decode`]). Otherwise as [`events`](RequestBuilder::events).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/prices", "text/event-stream", "data: {\"price\": 1.5}\n\ndata: {\"price\": 2.25}\n\n")]);
    /// use ureq_futures::sse::{Decode, Event, StreamOptions};
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// /// Parses each event's JSON on the worker; the caller receives numbers.
    /// struct Prices;
    ///
    /// impl Decode for Prices {
    ///     type Item = f64;
    ///     fn decode(&mut self, event: Event) -> Result<Option<f64>, Error> {
    ///         let value: serde_json::Value = serde_json::from_str(&event.data)?;
    ///         Ok(value["price"].as_f64())
    ///     }
    /// }
    ///
    /// let pending = FuturesSession::new()
    ///     .get(format!("{base}/prices"))
    ///     .events_decoded(StreamOptions::default(), Prices);
    /// let prices = pending.result()?.collect::<Result<Vec<f64>, Error>>()?;
    /// assert_eq!(prices, [1.5, 2.25]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn events_decoded<D: Decode>(
        self,
        options: StreamOptions,
        decoder: D,
    ) -> Pending<EventStream<D::Item>> {
        self.stream_headers(&options)
            .submit(false, move |agent, config, spec, done| {
                run::stream(agent, config, spec, options, decoder, done)
            })
            .cancel_on_drop()
    }

    /// An event stream whose items go into a [`StreamMap`](crate::sse::StreamMap)'s channel
    /// through `feed`; the handle resolves when the stream ends.
    pub(crate) fn stream_into<D: Decode>(
        self,
        options: StreamOptions,
        decoder: D,
        feed: MapFeed<D::Item>,
    ) -> Pending<()> {
        self.stream_headers(&options)
            .submit(false, move |agent, config, spec, done| {
                run::merged_stream(agent, config, spec, options, decoder, feed, done)
            })
    }

    /// The headers an event stream asks with, unless the request has its own.
    fn stream_headers(self, options: &StreamOptions) -> Self {
        let accept = if options.is_json_lines() {
            "application/x-ndjson"
        } else {
            "text/event-stream"
        };
        self.default_header("accept", accept)
            .default_header("cache-control", "no-cache")
            .default_header("accept-encoding", "identity")
    }

    /// A reconnecting event stream, as browsers' `EventSource`: GET only, off unless asked for.
    /// See [`EventSource`] for the reconnection rules. A request with another method yields
    /// [`Error::InvalidRequest`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: hello\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut source = session
    ///     .get(format!("{base}/events"))
    ///     .event_source()
    ///     .initial_retry(Duration::from_millis(10));
    /// let first = source.next().unwrap()?;
    /// assert_eq!(first.data, "hello");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn event_source(self) -> EventSource {
        EventSource::new(self.session, self.spec)
    }

    /// Queues `job` with this request's spec and the session's agent and settings.
    pub(crate) fn submit<T, F>(self, inline: bool, job: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&ureq::Agent, &Config, Spec, Completer<T>) + Send + 'static,
    {
        let RequestBuilder { session, mut spec } = self;
        if spec.error.is_none() {
            spec.error = own_framing(&mut spec).map(Box::new);
        }
        let lane = session.lane_of(&spec.url);
        session.submit_request_job(
            move |agent, config, done| job(agent, config, spec, done),
            inline,
            lane,
        )
    }

    /// Adds a header unless the request already has one of that name.
    pub(crate) fn default_header(mut self, name: &str, value: &str) -> Self {
        if !self
            .spec
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            self.spec.headers.push((name.into(), value.into()));
        }
        self
    }
}

/// The body's framing the request sets itself, checked and put in the one form ureq (3.5)
/// reads; `None` when it can be sent.
///
/// A `Content-Length` that is not its body's length: sent as it is, a shorter one fails the
/// request with a protocol error that names neither the header nor the URL, and a longer one
/// (or one on a request without a body) leaves the server waiting for bytes that never come,
/// until a timeout, or for ever without one. The session knows the body, so it is refused
/// before anything is sent. With a `Transfer-Encoding` of its own the request's body is
/// chunked, and the length is not checked here; but both headers together (which RFC 9112
/// forbids a sender: the two framings disagree, the shape of request smuggling), a
/// `Transfer-Encoding` whose last coding is not `chunked` (the server could not tell where the
/// body ends), one that is no list of codings, or one that names `chunked` twice, are refused.
///
/// The form ureq reads: it adds a `Content-Length` of its own unless the first
/// `Transfer-Encoding` line holds `chunked` in lower case, or unless the request's
/// `Content-Length` is digits alone, while its writer chunks the body for `chunked` in any
/// letter case on any line. `Transfer-Encoding: Chunked`, two `Transfer-Encoding` lines or
/// `Content-Length: 5 ` went out beside a `Content-Length` of ureq's (or failed as "conflicting
/// content-length headers"). So the codings go as one line in lower case, and the length
/// without its blanks, in the place of the first line the request set.
fn own_framing(spec: &mut Spec) -> Option<Error> {
    let (name, value) = match framing_of(spec) {
        Err(e) => return Some(e),
        Ok(None) => return None,
        Ok(Some(framing)) => framing,
    };
    let mut first = true;
    spec.headers.retain_mut(|(k, v)| {
        if !k.eq_ignore_ascii_case(name) {
            return true;
        }
        if first {
            v.clone_from(&value);
        }
        std::mem::take(&mut first)
    });
    None
}

/// [`own_framing`]'s check: the header the request frames its body with and its value as ureq
/// reads it, or none, or why it cannot be sent.
fn framing_of(spec: &Spec) -> Result<Option<(&'static str, String)>, Error> {
    let named = |name: &'static str| {
        spec.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
    };
    if let Some((_, value)) = named("transfer-encoding").next_back() {
        // The codings of every line, as one list (RFC 9110 §5.3).
        let codings: Vec<&str> = named("transfer-encoding")
            .flat_map(|(_, v)| v.split(','))
            .map(|c| c.trim_matches([' ', '\t']))
            .filter(|c| !c.is_empty())
            .collect();
        let chunked = |c: &&str| c.eq_ignore_ascii_case("chunked");
        // A coding is a token (RFC 9110 §5.6.2); one that is not (`x-\u{e9}`) is no coding
        // ureq reads, which then frames the body by a length of its own beside the header.
        let token = |c: &&str| {
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        };
        let problem = if named("content-length").next().is_some() {
            "the request sets both Content-Length and Transfer-Encoding, which disagree on \
             where its body ends: remove one (without either, the session sets the length \
             from the body)"
                .to_string()
        } else if !codings.iter().all(token) {
            format!(
                "the Transfer-Encoding header {value:?} is not a list of codings (names of \
                 letters, digits and !#$%&'*+-.^_`|~): remove the header (the session frames \
                 the body itself)"
            )
        } else if !codings.last().is_some_and(chunked) {
            format!(
                "the Transfer-Encoding header {value:?} does not end in chunked, so the server \
                 could not tell where the body ends: remove the header (the session frames the \
                 body itself)"
            )
        } else if codings.iter().filter(|c| chunked(c)).count() > 1 {
            format!(
                "the Transfer-Encoding header {value:?} names chunked more than once, which RFC \
                 9112 forbids: name it once, last"
            )
        } else {
            let one = codings.join(", ").to_ascii_lowercase();
            return Ok(Some(("transfer-encoding", one)));
        };
        return Err(Error::InvalidRequest(problem));
    }
    // A reader's body of unknown length.
    let unknown = spec.body.as_ref().is_some_and(|b| b.len().is_none());
    let body = spec.body.as_ref().and_then(Payload::len).unwrap_or(0);
    let fix = "remove the header (the session sets it from the body)";
    let times = named("content-length").count();
    if times > 1 {
        return Err(Error::InvalidRequest(format!(
            "the Content-Length header is set {times} times: {fix}"
        )));
    }
    let Some((_, value)) = named("content-length").next() else {
        return Ok(None);
    };
    // Digits only, as ureq reads it (`parse` would take a sign).
    let digits = value.trim_matches([' ', '\t']);
    let number = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<u64>().ok())
        .flatten();
    let problem = match number {
        None => format!("the Content-Length header {value:?} is not a number of bytes"),
        Some(n) if unknown => match spec.body.as_ref().and_then(Payload::unsized_part) {
            Some(part) => format!(
                "the Content-Length header says {n} bytes, but form part {part:?} is read \
                 from a reader whose length was not given (file_reader's len)"
            ),
            None => format!(
                "the Content-Length header says {n} bytes, but the body is a reader whose \
                 length the request was not given: give it with body_reader(reader, {n})"
            ),
        },
        Some(n) if n == body => return Ok(Some(("content-length", digits.to_string()))),
        Some(n) if spec.body.is_none() => {
            format!("the Content-Length header says {n} bytes, but the request has no body")
        }
        Some(n) => format!("the Content-Length header says {n} bytes, but the body has {body}"),
    };
    Err(Error::InvalidRequest(format!("{problem}: {fix}")))
}
