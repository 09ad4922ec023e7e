//! `RequestBuilder`: a request being described on the caller's thread and sent on a worker.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};

use serde::Serialize;
use ureq::http::{self, HeaderMap, HeaderName, HeaderValue, Method};
use ureq::ResponseExt;

use crate::pending::{panic_message, Completer, Pending};
use crate::redirect::{self, Hop};
use crate::response::Response;
use crate::retry::{RetryPolicy, Verdict};
use crate::session::{FuturesSession, Settings, Shared};
use crate::source::EventSource;
use crate::sse::{pump, Decode, EventStream, RawEvents, StreamOptions};
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

/// Everything the worker needs to send the request.
pub(crate) struct Spec {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) content_type: Option<Cow<'static, str>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    /// A problem found while building, reported when the job runs.
    pub(crate) error: Option<Error>,
}

impl Spec {
    /// A copy for another attempt. A build error is not copied (the caller reports it first).
    pub(crate) fn duplicate(&self) -> Spec {
        Spec {
            method: self.method.clone(),
            url: self.url.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            content_type: self.content_type.clone(),
            timeout: self.timeout,
            read_timeout: self.read_timeout,
            retry: self.retry.clone(),
            error: None,
        }
    }
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

/// The names of `headers` without their values, which may be credentials: for `Debug`.
pub(crate) fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(k, _)| k.as_str()).collect()
}

/// `url` with the parts that may carry a credential replaced by `<redacted>`: the query string
/// (API keys travel there) and the user-info (`user:password@`). For logs and `Debug` output;
/// every `Debug` impl of this crate shows URLs this way.
///
/// # Examples
///
/// ```
/// use ureq_futures::redact_url;
///
/// assert_eq!(redact_url("https://h/v1?key=s"), "https://h/v1?<redacted>");
/// assert_eq!(redact_url("https://u:p@h/v1"), "https://<redacted>@h/v1");
/// assert_eq!(redact_url("http://localhost:11434/v1"), "http://localhost:11434/v1");
/// ```
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, _)) => (base, "?<redacted>"),
        None => (url, ""),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let host_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..host_end].rfind('@') {
        Some(at) => format!("<redacted>@{}", &rest[at + 1..]),
        None => rest.to_string(),
    };
    let sep = if scheme.is_empty() { "" } else { "://" };
    format!("{scheme}{sep}{rest}{query}")
}

/// Which phase `timeout` bounds: the whole exchange, or only until the headers are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Budget {
    Buffered,
    Stream,
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

    /// Sends HTTP Basic authentication (RFC 7617): `Authorization: Basic` and `user:password` in
    /// base64, as requests' `auth=(user, password)`. It replaces an `Authorization` set before on
    /// this request, and the session's. Like every credential header, it is sent again after a
    /// redirect to the same origin and removed when a redirect leads to another one.
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
    pub fn basic_auth(self, user: impl AsRef<str>, password: impl AsRef<str>) -> Self {
        let value = crate::auth::basic(user.as_ref(), password.as_ref());
        self.authorization(value)
    }

    /// Sends a bearer token (RFC 6750): `Authorization: Bearer <token>`, as most HTTP APIs
    /// expect an API key. It replaces an `Authorization` set before on this request, and the
    /// session's; redirects treat it as [`basic_auth`](RequestBuilder::basic_auth) says.
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
    pub fn bearer_auth(self, token: impl AsRef<str>) -> Self {
        let value = crate::auth::bearer(token.as_ref());
        self.authorization(value)
    }

    /// Sets `Authorization`, replacing one set before on this request.
    fn authorization(mut self, value: String) -> Self {
        self.spec
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
        self.header("authorization", value)
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

    /// Sets the body to `value` serialized as JSON, with `Content-Type: application/json`.
    /// The value is serialized now, on the caller's thread.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.spec.body = Some(bytes);
                self.spec.content_type = Some(Cow::Borrowed("application/json"));
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
        self.spec.content_type = Some(Cow::Borrowed("application/x-www-form-urlencoded"));
        self
    }

    /// Sets the body to `form`, encoded as `multipart/form-data` (RFC 7578), with its
    /// `Content-Type` and boundary: requests' `files=` and `data=`. The form is encoded now, on
    /// the caller's thread. See [`Multipart`](crate::Multipart) for an example.
    pub fn multipart(mut self, form: crate::Multipart) -> Self {
        let (content_type, body) = form.encode();
        self.spec.body = Some(body);
        self.spec.content_type = Some(Cow::Owned(content_type));
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
        self.submit(true, move |agent, settings, spec, done: Completer<U>| {
            let result = execute(agent, settings, spec, Budget::Buffered)
                .and_then(|resp| Response::read(resp, settings.max_body_size))
                .and_then(hook);
            done.complete(result);
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
            .submit(
                false,
                move |agent, settings, spec, done: Completer<EventStream<D::Item>>| {
                    let resp =
                        match open_stream(agent, settings, spec, options.require_event_stream) {
                            Ok(resp) => resp,
                            Err(e) => return done.complete(Err(e)),
                        };
                    let url = resp.get_uri().to_string();
                    let (parts, body) = resp.into_parts();
                    let (stream, feed) = EventStream::channel(
                        options.capacity,
                        parts.status.as_u16(),
                        parts.headers,
                        url,
                    );
                    done.complete(Ok(stream));
                    // A panicking decoder must end the stream with an error, not look like a
                    // clean end when the unwinding drops the sender.
                    let pumped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        pump(body.into_reader(), options.framing, decoder, &feed)
                    }));
                    if let Err(payload) = pumped {
                        let panicked = Error::Panicked(panic_message(payload.as_ref()));
                        let _ = feed.tx.send(Err(panicked));
                    }
                },
            )
    }

    /// A reconnecting event stream, as browsers' `EventSource`: GET only, off unless asked for.
    /// See [`EventSource`] for the reconnection rules. A request with another method yields
    /// [`Error::InvalidRequest`].
    pub fn event_source(self) -> EventSource {
        EventSource::new(self.session, self.spec)
    }

    /// Queues `job` with this request's spec and the session's settings.
    pub(crate) fn submit<T, F>(self, inline: bool, job: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&ureq::Agent, &Settings, Spec, Completer<T>) + Send + 'static,
    {
        let RequestBuilder { session, spec } = self;
        session.submit_job(
            move |shared: &Shared, done| job(&shared.agent, &shared.settings, spec, done),
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

/// Sends a stream request and checks its status and content type.
fn open_stream(
    agent: &ureq::Agent,
    settings: &Settings,
    spec: Spec,
    require_event_stream: bool,
) -> Result<http::Response<ureq::Body>, Error> {
    let mut resp = execute(agent, settings, spec, Budget::Stream)?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let mut start = Vec::new();
        // The start of the body is enough to explain the error; a failed read leaves it empty.
        let _ = resp
            .body_mut()
            .as_reader()
            .take(crate::error::STATUS_BODY_EXCERPT as u64)
            .read_to_end(&mut start);
        let (parts, _) = resp.into_parts();
        return Err(Error::status_from(status, parts.headers, &start));
    }
    // 204 No Content is how a server says "no stream, do not reconnect": an empty stream.
    if require_event_stream && status != 204 {
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let is_sse = content_type.as_deref().is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/event-stream"))
        });
        if !is_sse {
            return Err(Error::UnexpectedContentType(content_type));
        }
    }
    Ok(resp)
}

/// Sends `spec` with `agent` and returns the response with its body unread.
pub(crate) fn execute(
    agent: &ureq::Agent,
    settings: &Settings,
    spec: Spec,
    budget: Budget,
) -> Result<http::Response<ureq::Body>, Error> {
    if let Some(e) = spec.error {
        return Err(e);
    }
    let method = spec.method;
    let mut url = spec.url;
    for (i, (k, v)) in spec.query.iter().enumerate() {
        url.push(if i == 0 && !url.contains('?') {
            '?'
        } else {
            '&'
        });
        encode_into(&mut url, k);
        url.push('=');
        encode_into(&mut url, v);
    }
    // The URL is never quoted in these errors: its query or user-info may carry a key.
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::InvalidRequest(format!("invalid URL: {e}")))?;
    if uri.scheme().is_none() || uri.host().is_none() {
        return Err(Error::InvalidRequest(
            "invalid URL: it needs a scheme and a host, as in http://host/path".into(),
        ));
    }
    let mut headers = HeaderMap::new();
    merge_headers(&mut headers, &settings.headers, &spec.headers)?;
    if let Some(ct) = &spec.content_type {
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            let value = HeaderValue::from_str(ct)
                .map_err(|_| Error::InvalidRequest(format!("invalid content type {ct:?}")))?;
            headers.insert(http::header::CONTENT_TYPE, value);
        }
    }
    let limits = Limits {
        read_timeout: spec.read_timeout.or(settings.read_timeout),
        budget,
    };
    // One budget for the whole request: its redirects and its retries.
    let deadline = spec
        .timeout
        .or(settings.timeout)
        .and_then(|t| Instant::now().checked_add(t));
    let send = || {
        let hop = Hop {
            method: method.clone(),
            uri: uri.clone(),
            headers: Cow::Borrowed(&headers),
            body: spec.body.as_deref(),
        };
        redirect::follow(settings.redirects, hop, deadline, |hop| {
            let mut req = http::Request::new(());
            *req.method_mut() = hop.method.clone();
            *req.uri_mut() = hop.uri.clone();
            *req.headers_mut() = hop.headers.as_ref().clone();
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let result = match hop.body {
                Some(body) => agent.run(limits.apply(agent, req.map(|()| body), left)),
                None => agent.run(limits.apply(agent, req, left)),
            };
            result.map_err(Error::from)
        })
    };
    let policy = spec.retry.as_ref().or(settings.retry.as_ref());
    let Some(policy) = policy.filter(|p| p.allows(&method)) else {
        return send();
    };
    let mut attempt = 1;
    loop {
        let outcome = send();
        match policy.verdict(attempt, &outcome) {
            Verdict::Stop => return outcome,
            // Waiting past the budget would only end in a timeout: hand over what we have.
            Verdict::RetryAfter(wait)
                if deadline
                    .is_some_and(|d| Instant::now().checked_add(wait).is_none_or(|t| t >= d)) =>
            {
                return outcome
            }
            // A response dropped unread closes its connection; nothing else is lost.
            Verdict::RetryAfter(wait) => std::thread::sleep(wait),
        }
        attempt += 1;
    }
}

/// The per-request configuration: timeouts, and statuses as responses. The request's budget
/// reaches [`apply`](Limits::apply) as what is left of it.
struct Limits {
    read_timeout: Option<Duration>,
    budget: Budget,
}

impl Limits {
    /// Configures one hop. `left` is what remains of the request's budget, if it has one. A
    /// setting the session does not have leaves the agent's own in force, except that a stream
    /// never gets a budget that would keep running while its body is read.
    fn apply<B: ureq::AsSendBody>(
        &self,
        agent: &ureq::Agent,
        req: http::Request<B>,
        left: Option<Duration>,
    ) -> http::Request<B> {
        if self.agent_suffices(agent.config(), left) {
            return req;
        }
        let mut config = agent
            .configure_request(req)
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            // The session follows redirects itself (see `redirect`).
            .max_redirects(0);
        if self.read_timeout.is_some() {
            config = config.timeout_per_read(self.read_timeout);
        }
        match (self.budget, left) {
            (Budget::Buffered, Some(left)) => config = config.timeout_global(Some(left)),
            (Budget::Buffered, None) => {}
            (Budget::Stream, left) => {
                config = config
                    .timeout_global(None)
                    .timeout_per_call(None)
                    .timeout_recv_body(None);
                if let Some(left) = left {
                    // Every phase before the body, DNS included, shares what is left.
                    let connect = agent
                        .config()
                        .timeouts()
                        .connect
                        .map_or(left, |c| c.min(left));
                    config = config
                        .timeout_resolve(Some(left))
                        .timeout_connect(Some(connect))
                        .timeout_send_request(Some(left))
                        .timeout_send_body(Some(left))
                        .timeout_recv_response(Some(left));
                }
            }
        }
        config.build()
    }

    /// Whether the agent's own configuration is already what [`apply`](Limits::apply) would
    /// set, as it is for the agent a session builds when the request has no budget. The hop
    /// then goes without a request-level configuration, which ureq makes by cloning the agent's
    /// whole `Config`: a few allocations and copies that are a measurable share of a small
    /// request's cost.
    fn agent_suffices(&self, config: &ureq::config::Config, left: Option<Duration>) -> bool {
        let session_rules = !config.http_status_as_error()
            && config.allow_non_standard_methods()
            && config.max_redirects() == 0;
        let same_read_timeout =
            self.read_timeout.is_none() || self.read_timeout == config.timeout_per_read();
        let budget_kept = match (self.budget, left) {
            (_, Some(_)) => false,
            (Budget::Buffered, None) => true,
            (Budget::Stream, None) => {
                let t = config.timeouts();
                t.global.is_none() && t.per_call.is_none() && t.recv_body.is_none()
            }
        };
        session_rules && same_read_timeout && budget_kept
    }
}

/// A session's default header, parsed once when the session is built. An invalid one fails
/// only the requests that send it (a request's own header of that name replaces it), as it did
/// when the defaults were parsed per request.
#[derive(Debug)]
pub(crate) struct DefaultHeader {
    /// As given, for `Debug` and for matching the request's own names.
    pub(crate) name: String,
    parsed: Result<(HeaderName, HeaderValue), String>,
}

impl DefaultHeader {
    pub(crate) fn new(name: String, value: &str) -> Self {
        let parsed = parse_header(&name, value);
        DefaultHeader { name, parsed }
    }
}

/// A header as `HeaderMap` holds it, or the text of an [`Error::InvalidRequest`]. The value is
/// never quoted in the error: it may be a credential.
fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let parsed_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    let parsed_value =
        HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name:?}"))?;
    Ok((parsed_name, parsed_value))
}

/// Session defaults first, minus the names the request sets itself, then the request's headers.
fn merge_headers(
    out: &mut HeaderMap,
    defaults: &[DefaultHeader],
    own: &[(String, String)],
) -> Result<(), Error> {
    for default in defaults {
        if !own
            .iter()
            .any(|(o, _)| o.eq_ignore_ascii_case(&default.name))
        {
            let (name, value) = default.parsed.clone().map_err(Error::InvalidRequest)?;
            out.append(name, value);
        }
    }
    for (k, v) in own {
        let (name, value) = parse_header(k, v).map_err(Error::InvalidRequest)?;
        out.append(name, value);
    }
    Ok(())
}

/// Percent-encodes `s` into `out`, keeping only RFC 3986's unreserved characters.
pub(crate) fn encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_built_agent_needs_no_request_level_config_without_a_budget() {
        let limits = |budget, read_timeout| Limits {
            read_timeout,
            budget,
        };
        let session = FuturesSession::builder()
            .read_timeout(Duration::from_secs(60))
            .build();
        let ours = session.agent().config();
        let sixty = Some(Duration::from_secs(60));
        assert!(limits(Budget::Buffered, None).agent_suffices(ours, None));
        assert!(limits(Budget::Buffered, sixty).agent_suffices(ours, None));
        assert!(limits(Budget::Stream, sixty).agent_suffices(ours, None));
        // A budget, or a read timeout of the request's own, needs one.
        let left = Some(Duration::from_secs(1));
        assert!(!limits(Budget::Buffered, None).agent_suffices(ours, left));
        assert!(!limits(Budget::Stream, None).agent_suffices(ours, left));
        let other = Some(Duration::from_secs(5));
        assert!(!limits(Budget::Buffered, other).agent_suffices(ours, None));
        // So does an agent with ureq's defaults (statuses as errors, its own redirects).
        let plain = ureq::Agent::new_with_defaults();
        assert!(!limits(Budget::Buffered, None).agent_suffices(plain.config(), None));
        // And a stream on an agent with a budget that would cut the stream's body.
        let budgeted: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(1)))
            .build()
            .into();
        assert!(limits(Budget::Buffered, None).agent_suffices(budgeted.config(), None));
        assert!(!limits(Budget::Stream, None).agent_suffices(budgeted.config(), None));
    }

    fn encoded(s: &str) -> String {
        let mut out = String::new();
        encode_into(&mut out, s);
        out
    }

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(encoded("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encoded("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn request_headers_replace_defaults_of_the_same_name() {
        let mut map = HeaderMap::new();
        let defaults = vec![
            DefaultHeader::new("User-Agent".into(), "a"),
            DefaultHeader::new("x-one".into(), "1"),
        ];
        let own = vec![("user-agent".into(), "b".into())];
        merge_headers(&mut map, &defaults, &own).unwrap();
        assert_eq!(map.get_all("user-agent").iter().count(), 1);
        assert_eq!(map["user-agent"], "b");
        assert_eq!(map["x-one"], "1");
    }

    #[test]
    fn invalid_header_values_are_not_quoted_in_errors() {
        let mut map = HeaderMap::new();
        let own = vec![("authorization".into(), "Bearer sk-\nsecret".into())];
        let err = merge_headers(&mut map, &[], &own).unwrap_err().to_string();
        assert!(err.contains("authorization"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn an_invalid_default_fails_only_the_requests_that_send_it() {
        let defaults = vec![DefaultHeader::new("x-key".into(), "k\nsecret")];
        let err = merge_headers(&mut HeaderMap::new(), &defaults, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("x-key") && !err.contains("secret"), "{err}");
        let own = vec![("X-Key".into(), "fine".into())];
        let mut map = HeaderMap::new();
        merge_headers(&mut map, &defaults, &own).unwrap();
        assert_eq!(map["x-key"], "fine");
    }
}
