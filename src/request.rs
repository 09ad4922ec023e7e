//! `RequestBuilder`: a request being described on the caller's thread and sent on a worker.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use ureq::http::Method;

use crate::config::{header_names, Config};
use crate::exec::{Completer, Pending};
use crate::response::Response;
use crate::retry::RetryPolicy;
use crate::run::{self, Spec};
use crate::session::FuturesSession;
use crate::source::EventSource;
use crate::sse::{Decode, EventStream, RawEvents, StreamOptions};
use crate::url::{encode_into, redact_url};
use crate::Error;

/// A request to be sent on the session's pool, made by [`FuturesSession::get`] and its siblings.
///
/// The setters run on the caller's thread and never fail: a problem (an invalid header name, a
/// value that does not serialize to JSON) is reported by the handle that a terminal method
/// returns, as [`Error::InvalidRequest`] or [`Error::Json`].
///
/// Terminal methods: [`send`](RequestBuilder::send), [`send_json`](RequestBuilder::send_json),
/// [`send_with`](RequestBuilder::send_with) and, for Server-Sent Events,
/// [`events`](RequestBuilder::events).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let pending = session
///     .post("https://example.com/api")
///     .header("x-request-id", "42")
///     .query("verbose", "1")
///     .timeout(Duration::from_secs(5))
///     .send_json(&serde_json::json!({ "hello": "world" }));
/// let response = pending.result()?;
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
            .field("body_len", &self.spec.body.as_ref().map(Vec::len))
            .field("timeout", &self.spec.timeout)
            .finish()
    }
}

impl RequestBuilder {
    pub(crate) fn from_parts(session: FuturesSession, spec: Spec) -> Self {
        RequestBuilder { session, spec }
    }

    pub(crate) fn new(session: FuturesSession, method: &str, url: String) -> Self {
        // Parsed here, where the standard methods cost no allocation; an invalid one is reported
        // by the handle (the placeholder GET is never sent).
        let (method, error) = match Method::from_bytes(method.as_bytes()) {
            Ok(m) => (m, None),
            Err(_) => (
                Method::GET,
                Some(Error::InvalidRequest(format!("invalid method {method:?}"))),
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
                timeout: None,
                read_timeout: None,
                retry: None,
                idempotent: None,
                error,
            },
        }
    }

    /// Adds a header. It replaces a session default header of the same name; calling it twice
    /// with one name sends both values.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a query parameter, percent-encoded, after any query already in the URL.
    pub fn query(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.spec
            .query
            .push((name.as_ref().to_string(), value.as_ref().to_string()));
        self
    }

    /// This request's budget, replacing the session's [`timeout`](crate::SessionBuilder::timeout):
    /// the whole exchange for a buffered request, the time until the headers are in for an
    /// event stream.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.spec.timeout = Some(d);
        self
    }

    /// This request's longest silence between two reads, replacing the session's
    /// [`read_timeout`](crate::SessionBuilder::read_timeout). On an event stream it ends a stalled
    /// stream with [`Error::Timeout`].
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.spec.read_timeout = Some(d);
        self
    }

    /// This request's [`RetryPolicy`], replacing the session's
    /// ([`SessionBuilder::retry`](crate::SessionBuilder::retry)); `RetryPolicy::none()` turns
    /// retries off for it.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.spec.retry = Some(policy);
        self
    }

    /// Says whether sending this request twice does no more than sending it once. Defaults to
    /// the method's own answer (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT and DELETE are
    /// idempotent; POST and PATCH are not).
    ///
    /// An idempotent request that meets a kept-alive connection the server closed as the
    /// request arrived (no byte of response yet) is sent again at once, once, on a new
    /// connection; this is not a retry of the [`RetryPolicy`], and happens without one. Mark a
    /// POST `idempotent(true)` when the server treats a repeat as one request (an idempotency
    /// key, a search); mark a GET `idempotent(false)` if sending it twice would do harm. See
    /// RELIABILITY.md.
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
    /// The value is serialized now, on the caller's thread.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.spec.body = Some(bytes);
                self.spec.content_type = Some("application/json");
            }
            // The first problem found is the one reported.
            Err(e) => {
                self.spec.error.get_or_insert(Error::Json(e));
            }
        }
        self
    }

    /// Sets the body to raw bytes. No content type is added; set one with
    /// [`header`](RequestBuilder::header) if the server needs it.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.spec.body = Some(bytes.into());
        self.spec.content_type = None;
        self
    }

    /// Sets the body to the pairs, form-encoded, with
    /// `Content-Type: application/x-www-form-urlencoded`.
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
            encode_into(&mut out, k.as_ref());
            out.push('=');
            encode_into(&mut out, v.as_ref());
        }
        self.spec.body = Some(out.into_bytes());
        self.spec.content_type = Some("application/x-www-form-urlencoded");
        self
    }

    /// Sends the request on the pool and returns at once. The handle's result is the
    /// [`Response`] with its body read (up to the session's
    /// [`max_body_size`](crate::SessionBuilder::max_body_size)); 4xx and 5xx are responses, not
    /// errors, as in requests.
    pub fn send(self) -> Pending<Response> {
        self.send_with(Ok)
    }

    /// Sets a JSON body (see [`json`](RequestBuilder::json)) and sends.
    pub fn send_json<T: Serialize + ?Sized>(self, value: &T) -> Pending<Response> {
        self.json(value).send()
    }

    /// Sends, then runs `hook` on the worker with the response: requests-futures' background
    /// callbacks. The handle resolves to what the hook returns, so parsing and other work
    /// happen off the caller's thread.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ureq_futures::FuturesSession;
    /// #[derive(serde::Deserialize)]
    /// struct Repo { stargazers_count: u64 }
    ///
    /// let session = FuturesSession::new();
    /// let stars = session
    ///     .get("https://api.github.com/repos/algesten/ureq")
    ///     .send_with(|resp| Ok(resp.error_for_status()?.json::<Repo>()?.stargazers_count));
    /// println!("{}", stars.result()?);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn send_with<U, F>(self, hook: F) -> Pending<U>
    where
        U: Send + 'static,
        F: FnOnce(Response) -> Result<U, Error> + Send + 'static,
    {
        self.submit(true, move |agent, config, spec, done: Completer<U>| {
            done.complete(run::buffered(agent, config, spec, hook));
        })
    }

    /// Sends the request as a Server-Sent Events stream, with the default [`StreamOptions`].
    ///
    /// The handle resolves as soon as the status line and headers are in; the worker then keeps
    /// reading and parsing the body while the caller consumes the [`EventStream`]. The request
    /// carries `Accept: text/event-stream`, `Cache-Control: no-cache` and
    /// `Accept-Encoding: identity` unless it sets them itself.
    ///
    /// The handle's errors: a non-2xx status is [`Error::Status`] (with the start of the body); a
    /// content type other than `text/event-stream` is [`Error::UnexpectedContentType`] (see
    /// [`StreamOptions::require_event_stream`]); transport errors and timeouts as for
    /// [`send`](RequestBuilder::send). The [`timeout`](RequestBuilder::timeout) bounds only the
    /// wait for the headers: a stream has no total budget, only the session's
    /// [`read_timeout`](crate::SessionBuilder::read_timeout) between reads.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ureq_futures::FuturesSession;
    /// let session = FuturesSession::new();
    /// let stream = session
    ///     .post("https://example.com/v1/chat/completions")
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
    pub fn events_with(self, options: StreamOptions) -> Pending<EventStream> {
        self.events_decoded(options, RawEvents)
    }

    /// An event stream whose events are turned into items by `decoder` on the worker, before
    /// they reach the channel (see [`Decode`]). Otherwise as [`events`](RequestBuilder::events).
    pub fn events_decoded<D: Decode>(
        self,
        options: StreamOptions,
        decoder: D,
    ) -> Pending<EventStream<D::Item>> {
        let accept = if options.is_json_lines() {
            "application/x-ndjson"
        } else {
            "text/event-stream"
        };
        self.default_header("accept", accept)
            .default_header("cache-control", "no-cache")
            .default_header("accept-encoding", "identity")
            .submit(false, move |agent, config, spec, done| {
                run::stream(agent, config, spec, options, decoder, done)
            })
    }

    /// A reconnecting event stream, as browsers' `EventSource`: GET only, off unless asked for.
    /// See [`EventSource`] for the reconnection rules. A request with another method yields
    /// [`Error::InvalidRequest`].
    pub fn event_source(self) -> EventSource {
        EventSource::new(self.session, self.spec)
    }

    /// Queues `job` with this request's spec and the session's agent and settings.
    pub(crate) fn submit<T, F>(self, inline: bool, job: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&ureq::Agent, &Config, Spec, Completer<T>) + Send + 'static,
    {
        let RequestBuilder { session, spec } = self;
        session.submit_job(
            move |agent, config, done| job(agent, config, spec, done),
            inline,
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
