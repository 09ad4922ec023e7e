//! The engine: what runs on a worker to send one request and read its response.
//!
//! [`RequestBuilder`](crate::RequestBuilder) describes a request as a [`Spec`] on the caller's
//! thread; the functions here turn it into ureq calls on the worker: the URL and headers (session
//! defaults merged), the timeouts a buffered request or a stream gets, redirects (followed here,
//! see `crate::redirect`) and retries (`crate::retry`), then the body: buffered into a
//! [`Response`], or pumped into an [`EventStream`].

use std::borrow::Cow;
use std::cell::Cell;
use std::io::Read;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use ureq::http::{self, HeaderMap, HeaderValue, Method, Uri};
use ureq::ResponseExt;

use crate::config::{parse_header, Config, DefaultHeader, Limit};
use crate::exec::{panic_message, Completer};
use crate::phase::{self, Stopped};
use crate::progress::ProgressCounter;
use crate::ratelimit::{observe_answer, observe_body_wait, wait_turn};
use crate::redirect::{self, Hop};
use crate::response::Response;
use crate::retry::{self, RetryPolicy, Verdict};
use crate::sse::{pump, Decode, EventStream, MapFeed, Sink, StreamOptions};
use crate::timeout::TimeoutSettings;
use crate::upload::{Payload, Upload};
use crate::Error;
use crate::{encoding, multipart, stale, url};

/// Everything the worker needs to send the request. It is moved from the builder into the job
/// and its slot, so what requests rarely have (a retry policy of their own, a build error) is
/// boxed to keep it small.
pub(crate) struct Spec {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Payload>,
    pub(crate) content_type: Option<Cow<'static, str>>,
    pub(crate) timeout: Limit,
    pub(crate) read_timeout: Limit,
    pub(crate) retry: Option<Box<RetryPolicy>>,
    /// The caller's word that sending the request twice does no harm (see
    /// [`RequestBuilder::idempotent`](crate::RequestBuilder::idempotent)); `None` leaves it to the
    /// method.
    pub(crate) idempotent: Option<bool>,
    /// A problem found while building, reported when the job runs.
    pub(crate) error: Option<Box<Error>>,
    /// The URL is where same-origin redirects led an earlier request of this one (an event
    /// source's reconnection goes there directly): its first hop builds its `Cookie` header as
    /// a redirect's hop does (see [`redirect`]), so that it carries what that hop carried.
    pub(crate) followed: bool,
    /// An event source's request: its `Last-Event-ID` is the ID the source has in force (none
    /// after the server reset it), never a session default's.
    pub(crate) resumes: bool,
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
            idempotent: self.idempotent,
            error: None,
            followed: self.followed,
            resumes: self.resumes,
        }
    }
}

/// How long after a stream's deadline its watchdog shuts the connection (see `attempts`): long
/// enough that ureq's own timeout of the phase that spent the budget, which names the phase,
/// comes first also on a loaded machine (at 100 ms, a busy 2-core machine let the watchdog win
/// now and then, and the error said "before the response" where it could say which phase).
const WATCHDOG_GRACE: Duration = Duration::from_millis(250);

/// Which phase `timeout` bounds: the whole exchange, or only until the headers are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Budget {
    Buffered,
    Stream,
}

/// How a buffered request's job reads its answer (see [`buffered`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Answer {
    /// The body is read up to this many bytes when the session's `max_body_size` is smaller
    /// (an answer known to be large).
    pub(crate) at_least: u64,
    /// A 4xx or 5xx answer is its [`status_error`], without the hook, its body read only as
    /// far as the error shows it (a 20 MB error page is then no `BodyTooLarge` that hides the
    /// status).
    pub(crate) refuse_errors: bool,
    /// The hook is the caller's code (`send_with`'s): the request gives its place of
    /// `max_per_host` up before it runs (see [`end_turn_early`](crate::exec::lanes::end_turn_early)).
    pub(crate) hook_frees_place: bool,
}

/// The job of a buffered request: the response with its body read (up to the session's
/// `max_body_size`, or more as `answer` says), passed through `hook`.
pub(crate) fn buffered<U>(
    agent: &ureq::Agent,
    config: &Config,
    spec: Spec,
    progress: &ProgressCounter,
    answer: Answer,
    hook: impl FnOnce(Response) -> Result<U, Error>,
) -> Result<U, Error> {
    let started = Instant::now();
    let (limits, timeouts) = limits(agent, config, &spec, Budget::Buffered);
    let limiter = config.rate_limiter.as_ref();
    let max_body = config.max_body_size.max(answer.at_least);
    // What another attempt sends when the answer's body breaks off: the request as made.
    let again = BodyRetry::of(config, &spec);
    let tried = Tried::default();
    let mut spec = spec;
    let (resp, refusal) = loop {
        let resp = send(agent, config, spec, &limits, &timeouts, &tried)?;
        let elapsed = started.elapsed();
        if answer.refuse_errors && resp.status().as_u16() >= 400 {
            return Err(status_error(resp, limiter));
        }
        // A refusal's body may say how long to wait (a Google API's): the limiter learns it
        // too, for the origin of the URI, which the response read into a `Response` no longer
        // has.
        let refusal = limiter
            .filter(|_| matches!(resp.status().as_u16(), 429 | 503))
            .map(|limiter| (limiter, resp.get_uri().clone()));
        // An answer the policy retries by its status, given up on (its attempts spent, or a
        // wait longer than `max_retry_after`), or one the server said not to retry: no body
        // of it is asked for again.
        let given_up = (again.as_ref()).is_some_and(|again| again.keeps_answer(config, &resp));
        match Response::read(resp, elapsed, max_body, progress, &timeouts) {
            Ok(resp) => break (resp, refusal),
            Err(e) => match again.as_ref().filter(|_| !given_up) {
                Some(again) => spec = again.retry(e, &tried, config, &timeouts)?,
                None => return Err(e),
            },
        }
    };
    if let Some((limiter, uri)) = refusal {
        let (status, body) = (resp.status(), resp.bytes());
        observe_body_wait(Some(limiter), &uri, status, resp.headers(), body);
    }
    if answer.hook_frees_place {
        // The exchange is over: the caller's code holds no place of `max_per_host`.
        crate::exec::lanes::end_turn_early();
    }
    hook(resp)
}

/// A buffered request's retry of an answer whose body broke off or stalled midway: nothing of
/// it reached the caller, so it is a failed attempt, retried under the request's policy as a
/// connection that broke before the answer is (see [`RetryPolicy`]'s "What is retried").
///
/// The retry sends the request as made, redirects and all. A request that only the policy's
/// leave makes retryable (a POST, by `RetryPolicy::non_idempotent`) is not sent again when its
/// answer came from a redirect: that may have been a 303 after the server took the body, and
/// `attempts` retries such a request from the redirect's GET, which this retry cannot (the
/// hop is gone with the answer). Nor is an answer whose status the policy retries, which its
/// attempts gave up on (spent, or a wait longer than `max_retry_after`): that answer is the
/// request's outcome, whatever became of its body; nor an answer that is no success whose
/// server said `x-should-retry: false`.
struct BodyRetry {
    /// The request as made, copied before it was sent, and where it goes first; or why the
    /// policy does not retry it.
    again: Result<(Spec, Uri), String>,
    /// The request's own policy, if it has one (else the session's).
    own: Option<Box<RetryPolicy>>,
    /// Whether a retry after a redirect sends it again (see above).
    after_redirect: bool,
}

impl BodyRetry {
    /// The retry `spec` may have, if its policy retries anything: the copy is made only then.
    fn of(config: &Config, spec: &Spec) -> Option<Self> {
        let policy = spec.retry.as_deref().or(config.retry.as_ref())?;
        if spec.error.is_some() || policy.max_attempts() < 2 {
            return None;
        }
        let again = match why_not_retried(policy, &spec.method, spec.idempotent, spec.body.as_ref())
        {
            Some(why) => Err(why),
            None => Ok((
                spec.duplicate(),
                url::build(spec.url.clone(), &spec.query).ok()?,
            )),
        };
        Some(BodyRetry {
            again,
            own: spec.retry.clone(),
            after_redirect: stale::is_idempotent(&spec.method, spec.idempotent),
        })
    }

    fn policy<'a>(&'a self, config: &'a Config) -> Option<&'a RetryPolicy> {
        self.own.as_deref().or(config.retry.as_ref())
    }

    /// Whether `resp` is the outcome, whatever becomes of its body: the policy retries it by
    /// its status (so its attempts gave up on it), or its server said not to retry an answer
    /// that is no success (see above; the header is read on such answers only, as the official
    /// SDKs read it).
    fn keeps_answer(&self, config: &Config, resp: &http::Response<ureq::Body>) -> bool {
        let (status, headers) = (resp.status().as_u16(), resp.headers());
        let refused = !(200..300).contains(&status);
        (refused && retry::should_retry(headers) == Some(false))
            || (self.policy(config)).is_some_and(|p| p.retries_answer(status, headers))
    }

    /// The request to send again after the body of the last of the attempts `tried` failed
    /// with `e`, once the backoff (and the origin's turn, on a session with a rate limiter) is
    /// waited out; or the error to return: `e` when it is no failure a retry mends, else `e`
    /// with the attempts made and why no more.
    fn retry(
        &self,
        e: Error,
        tried: &Tried,
        config: &Config,
        timeouts: &TimeoutSettings,
    ) -> Result<Spec, Error> {
        let made = tried.made.get();
        // A body cut short or stalled; not one too large, or that does not decode (a body
        // that expands without end is `InvalidData` too), which would come again.
        let mends = match &e {
            Error::Timeout(_) => true,
            Error::Io(io) => {
                use std::io::ErrorKind::{BrokenPipe, TimedOut};
                phase::is_cut(io) || matches!(io.kind(), BrokenPipe | TimedOut)
            }
            _ => false,
        };
        let Some(policy) = self.policy(config).filter(|_| mends) else {
            return Err(e);
        };
        let not_retried = |e, why: &str| Err(phase::with_note(e, not_retried_note(made, why)));
        let (spec, uri) = match &self.again {
            Ok(again) => again,
            Err(why) => return not_retried(e, why),
        };
        if tried.redirected() && !self.after_redirect {
            let why = format!(
                "the answer came from a redirect, after which the server may have taken the {} \
                 request's body (a 303 takes it); idempotent(true) on the request retries it",
                spec.method
            );
            return not_retried(e, &why);
        }
        match wait_to_retry(policy, config, timeouts, uri, made, &e)? {
            None => Ok(spec.duplicate()),
            Some(why) => Err(last_failure(e, made, why, timeouts.deadline_passed())),
        }
    }
}

/// What [`attempts`] tells its caller of the attempts it made: how many in all (those made
/// before, by [`buffered`] whose answer's body broke off, included), and how the last one went
/// (how many hops it sent, and whether it started at a redirect's).
#[derive(Default)]
pub(crate) struct Tried {
    made: Cell<u32>,
    hops: Cell<u32>,
    /// The last attempt started at a redirect's hop, after a 303 (or a 301 or 302 to a POST)
    /// had taken the body in an earlier one (see `Hop::retry_from`).
    from_redirect: Cell<bool>,
}

impl Tried {
    /// Whether the last attempt's answer came through a redirect: it followed one, or it
    /// started at one an earlier attempt followed.
    fn redirected(&self) -> bool {
        self.hops.get() > 1 || self.from_redirect.get()
    }
}

/// Before another attempt of a request to `uri` whose attempt number `attempt` failed with
/// `e`, a failure `policy` retries: the wait it gives, then [`wait_out`]. `Ok(None)` to go on;
/// `Ok(Some(why))` when no attempt comes: none is left, or the wait or the turn would end past
/// the request's `timeout`.
fn wait_to_retry(
    policy: &RetryPolicy,
    config: &Config,
    timeouts: &TimeoutSettings,
    uri: &Uri,
    attempt: u32,
    e: &Error,
) -> Result<Option<Stopped>, Error> {
    let Some(wait) = policy.wait_after(attempt, e) else {
        return Ok(Some(Stopped::Limit));
    };
    if past_budget(timeouts, wait) {
        return Ok(Some(Stopped::Budget(timeouts.timeout)));
    }
    if !wait_out(policy, config, timeouts, uri, attempt, wait, || {
        e.to_string()
    })? {
        return Ok(Some(Stopped::Turn(timeouts.timeout)));
    }
    Ok(None)
}

/// Whether a wait of `wait` from now would end past the request's budget: a retry after it
/// would only end in a timeout.
fn past_budget(timeouts: &TimeoutSettings, wait: Duration) -> bool {
    (timeouts.deadline).is_some_and(|d| Instant::now().checked_add(wait).is_none_or(|t| t >= d))
}

/// Waits out `wait` before the attempt after number `attempt`, to `uri`: told to the policy's
/// `on_retry` (`reason`: why the attempt failed), slept (a cancel ends it, as
/// [`Error::Cancelled`]), then the origin's turn at the session's rate limiter: a retry is a new
/// request to the origin, which waits out the origin's pause (set by this answer or another
/// request's) and takes a token of its rate. `Ok(false)` when that turn would come past the
/// request's `timeout`.
fn wait_out(
    policy: &RetryPolicy,
    config: &Config,
    timeouts: &TimeoutSettings,
    uri: &Uri,
    attempt: u32,
    wait: Duration,
    reason: impl FnOnce() -> String,
) -> Result<bool, Error> {
    policy.notify(uri, attempt, wait, reason);
    if !crate::exec::sleep(wait) {
        return Err(Error::Cancelled);
    }
    match &config.rate_limiter {
        Some(limiter) => Ok(wait_turn(limiter, uri, timeouts.deadline)?.is_none()),
        None => Ok(true),
    }
}

/// `e`, the failure of attempt number `attempt` after which no other comes, for `why`: with
/// the attempts made and why no more when more than one was made or the budget cut the
/// retries short; but a timeout of the budget itself (`passed`: its deadline has come) says so
/// itself, and one attempt that is no retry's says nothing of them.
fn last_failure(e: Error, attempt: u32, why: Stopped, passed: bool) -> Error {
    let why = match why {
        Stopped::Budget(_) | Stopped::Turn(_) if matches!(e, Error::Timeout(_)) && passed => {
            Stopped::Other
        }
        why => why,
    };
    if attempt > 1 || matches!(why, Stopped::Budget(_) | Stopped::Turn(_)) {
        phase::after_attempts(e, attempt, why)
    } else {
        e
    }
}

/// The note of a failure the policy would have retried, after `attempt` attempts, and `why` it
/// was not: `after 1 attempt, not retried: POST is not idempotent ...`.
fn not_retried_note(attempt: u32, why: &str) -> String {
    let made = phase::attempts_note(attempt, Stopped::Other);
    format!("{made}, not retried: {why}")
}

/// The job of an event stream: resolves `done` with the stream as soon as the headers are in
/// (a whole JSON answer that the options take for a stream, once it is read: see
/// [`json_answer_as_event`]), then reads and parses the body into it until the body ends or the
/// stream is dropped.
pub(crate) fn stream<D: Decode>(
    agent: &ureq::Agent,
    config: &Config,
    spec: Spec,
    options: StreamOptions,
    decoder: D,
    done: Completer<EventStream<D::Item>>,
) {
    let (parts, body) = match open_stream_body(agent, config, spec, &options) {
        Ok(opened) => opened,
        Err(e) => return done.complete(Err(e)),
    };
    let (mut stream, feed) = EventStream::channel(
        options.capacity,
        parts.status.as_u16(),
        parts.headers,
        body.inner.url.clone(),
    );
    stream.left_origin = parts.extensions.get::<redirect::LeftOrigin>().is_some();
    let mut feed = feed;
    if let Some(job) = crate::exec::current_job() {
        // Dropping the stream interrupts this job's read, on a silent server too; a stop or a
        // `shutdown_now` ends a wait for room in a full channel.
        feed.stop_with(job.clone());
        stream.interrupt_on_drop(job);
    }
    let url = crate::redact_url(&body.inner.url);
    done.complete(Ok(stream));
    pump_guarded(body, options, decoder, &WithUrl { sink: &feed, url });
}

/// The job of a stream of a [`StreamMap`](crate::sse::StreamMap): reads and parses the body
/// into the map's channel until the body ends or the stream is removed, then sends its end.
/// `done` resolves when it ends; cancelling it removes the stream.
pub(crate) fn merged_stream<D: Decode>(
    agent: &ureq::Agent,
    config: &Config,
    spec: Spec,
    options: StreamOptions,
    decoder: D,
    mut feed: MapFeed<D::Item>,
    done: Completer<()>,
) {
    feed.on_job(crate::exec::current_job());
    // Removed from its map while it was queued (a `clear` or a drop stopping the map's streams
    // one by one): nothing is sent.
    if feed.is_closed() {
        feed.end(Err(Error::Cancelled));
        return done.complete(Err(Error::Cancelled));
    }
    match open_stream_body(agent, config, spec, &options) {
        Ok((_, body)) => {
            let url = crate::redact_url(&body.inner.url);
            pump_guarded(body, options, decoder, &WithUrl { sink: &feed, url });
            feed.end(Ok(()));
        }
        Err(e) => feed.end(Err(e)),
    }
    done.complete(Ok(()));
}

/// A stream's body: placed for errors, and checked on its first byte when its type is not a
/// stream's (see [`content_check`]).
type StreamBody = NotAStream<phase::Placed<encoding::BodyReader>>;

/// A stream's response head, and its body, on the session's agent for streams. The request is
/// sent from a thread of its own (see [`on_short_lived_thread`]). A JSON answer that `options`
/// take for the stream's is read here, and its body is then a stream of one event (see
/// [`json_answer_as_event`]).
fn open_stream_body(
    agent: &ureq::Agent,
    config: &Config,
    spec: Spec,
    options: &StreamOptions,
) -> Result<(http::response::Parts, StreamBody), Error> {
    let agent = config.stream_agent.as_ref().unwrap_or(agent);
    let resp = on_short_lived_thread(|| execute(agent, config, spec, Budget::Stream))?;
    if !resp.status().is_success() {
        // Read here, not on the short-lived thread: a stalled error body would hold that
        // thread too, beside the worker and the wait's deadline.
        return Err(status_error(resp, config.rate_limiter.as_ref()));
    }
    let url = resp.get_uri().to_string();
    let (parts, mut body) = resp.into_parts();
    #[cfg(feature = "llm")]
    if options.json_answer
        && parts.status != http::StatusCode::NO_CONTENT
        && is_json(&parts.headers)
    {
        body = json_answer_as_event(body, &parts, &url, options.max_event_size())?;
    }
    let watch = match content_check(options, &parts, &url) {
        Ok(watch) => watch,
        // A JSON error in place of the stream (a gateway's `{"error": ...}` with a 200) says
        // what went wrong better than its type does. Read for a JSON type only: any other is
        // refused at once (a stalled body would hold the refusal for `ERROR_BODY_WAIT`).
        Err(refused) if is_json(&parts.headers) => {
            return Err(refused_or_document(&parts, &mut body.as_reader(), refused));
        }
        Err(refused) => return Err(refused),
    };
    // The URL only an untyped body's refusal names (`UnexpectedContentType`).
    let pending = watch.map(|watch| {
        let shown = if watch.typed {
            String::new()
        } else {
            crate::redact_url(&url)
        };
        let secrets = parts.extensions.get::<crate::auth::Secrets>().cloned();
        (watch, shown, secrets)
    });
    // Made on the worker's first read, so that a gzip body does not hold the stream's handle
    // back until its first bytes (see `encoding::Lazy`).
    let body = placed(body, &parts, url);
    Ok((
        parts,
        NotAStream {
            inner: body,
            pending,
        },
    ))
}

/// The whole JSON answer of a server that ignored `"stream": true` (see
/// [`StreamOptions::json_answer`]), read here: the body of a stream of one event whose data is
/// the document, compact. Only a body that starts (after white space and a BOM) with `{` or `[`
/// is read, one JSON value of at most `max` bytes and no further: JSON lines under a JSON type
/// are refused once their first value is in, not read to their end (an event stream, once its
/// first byte is).
/// A JSON error document, in whatever charset its type names, is its [`Error::Api`] (a body
/// that may start UTF-16 is read for one as any refused body's start is; another that does not
/// start with `{` or `[` is refused at once, and an empty one, white space and a BOM at most,
/// is an empty stream, an answer cut before it began); a value
/// that is no whole answer (a `chat.completion` has a `message` object in its first choice)
/// is [`Error::UnexpectedContentType`], as any other body that is not a stream; a document
/// cut short is an [`Error::Io`] (`UnexpectedEof`) that says so.
///
/// Why read here rather than feed the body's lines to the parser as
/// [`object_lines`](StreamOptions::object_lines) does: a document that starts with white space
/// or a BOM, or holds a blank line, would not be one event, and a document that is no answer
/// would end as an answer cut short, which nothing was.
#[cfg(feature = "llm")]
fn json_answer_as_event(
    body: ureq::Body,
    parts: &http::response::Parts,
    url: &str,
    max: usize,
) -> Result<ureq::Body, Error> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(placed(body, parts, url.to_string()));
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    // Up to the first byte that is no white space.
    let first = loop {
        let Some(&first) = reader.fill_buf()?.first() else {
            break None;
        };
        match first.is_ascii_whitespace() {
            true => reader.consume(1),
            false => break Some(first),
        }
    };
    let timeouts = parts.extensions.get::<TimeoutSettings>().copied();
    match first {
        Some(b'{' | b'[') => {}
        // No answer at all, as an empty event stream has none: the decoder's end-of-stream
        // rule says the answer was cut (and a batch retries it), where a refused type would
        // say the server ignored `"stream": true`.
        None => return Ok(ureq::Body::builder().data("")),
        // What may start a UTF-16 document (an error's): read as any refused body's start is.
        Some(0x00 | 0xFE | 0xFF) => {
            let refused = unexpected_type(parts, url);
            return Err(refused_or_document(parts, &mut reader, refused));
        }
        // An event stream or text under a JSON type: refused at once.
        _ => return Err(unexpected_type(parts, url)),
    }
    // The bytes the value is read from are kept: an error document is told in the charset its
    // type names, as any refused body's start is.
    let mut document = Kept {
        inner: reader.take(u64::try_from(max).unwrap_or(u64::MAX)),
        bytes: Vec::new(),
    };
    let value = serde_json::Deserializer::from_reader(&mut document)
        .into_iter::<serde_json::Value>()
        .next();
    // Told from the bytes when the value may be an error document: one it names, or one the
    // read stopped in (text not in UTF-8: what follows is read as a refused body's start is).
    let names_error = |v: &serde_json::Value| {
        let first = v.as_array().and_then(|items| items.first()).unwrap_or(v);
        first.get("error").is_some()
    };
    let told = match &value {
        Some(Ok(v)) => names_error(v),
        Some(Err(e)) => {
            if e.is_syntax() {
                let (more, _) = unread_body_start(&mut document.inner, timeouts);
                document.bytes.extend_from_slice(&more);
            }
            !e.is_io()
        }
        None => false,
    };
    if let Some(error) = told
        .then(|| error_document(parts, &document.bytes))
        .flatten()
    {
        return Err(error);
    }
    let mut answer = match value {
        Some(Ok(value)) => value,
        Some(Err(e)) if e.is_io() => return Err(Error::from(std::io::Error::from(e))),
        Some(Err(e)) if e.is_eof() => {
            let more =
                document.inner.limit() == 0 && !document.inner.into_inner().fill_buf()?.is_empty();
            if more {
                return Err(Error::EventTooLarge { limit: max });
            }
            let uri = url.parse().unwrap_or_default();
            let why = format!("the JSON answer sent in place of a stream was cut ({e})");
            return Err(phase::cut_body(&uri, why));
        }
        _ => return Err(unexpected_type(parts, url)),
    };
    let choices = answer.get_mut("choices").and_then(|c| c.as_array_mut());
    let whole = |c: &Vec<serde_json::Value>| {
        (c.first()).is_some_and(|c| c.get("message").is_some_and(serde_json::Value::is_object))
    };
    let Some(choices) = choices.filter(|c| whole(c)) else {
        return Err(unexpected_type(parts, url));
    };
    // The answer is the message: a `delta` beside it (empty, in some servers' whole answers)
    // would be read in its place.
    for choice in choices.iter_mut().filter_map(|c| c.as_object_mut()) {
        choice.remove("delta");
    }
    drop(document);
    Ok(ureq::Body::builder().data(format!("data: {answer}\n\n")))
}

/// A reader that keeps what it reads.
#[cfg(feature = "llm")]
struct Kept<R> {
    inner: R,
    bytes: Vec<u8>,
}

#[cfg(feature = "llm")]
impl<R: Read> Read for Kept<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// The body of a stream's response, read as it decodes, its errors placed (the URL, the
/// phase) as a stream's are.
fn placed(
    body: ureq::Body,
    parts: &http::response::Parts,
    url: String,
) -> phase::Placed<encoding::BodyReader> {
    let announced = crate::body::announced_length(&parts.headers, &body);
    phase::Placed::new(encoding::body_reader(body), url, parts, announced)
}

/// `refused`, or the error document that `body`'s start is (read as any refused body's start
/// is: see [`unread_body_start`]).
fn refused_or_document(
    parts: &http::response::Parts,
    body: &mut impl Read,
    refused: Error,
) -> Error {
    let timeouts = parts.extensions.get::<TimeoutSettings>().copied();
    let (start, _) = unread_body_start(body, timeouts);
    error_document(parts, &start).unwrap_or(refused)
}

/// The [`Error::Api`] of a JSON error document in place of a stream (`start`: its first bytes),
/// the request's credentials hidden in its words; `None` when it is no error document.
fn error_document(parts: &http::response::Parts, start: &[u8]) -> Option<Error> {
    let content_type = parts.headers.get(http::header::CONTENT_TYPE);
    let content_type = content_type.and_then(|v| v.to_str().ok());
    let error = Error::from_error_document(start, content_type)?;
    let secrets = parts.extensions.get::<crate::auth::Secrets>();
    Some(crate::auth::hide(secrets, error))
}

/// The refusal of a body that is no stream, by its type, from `url`.
fn unexpected_type(parts: &http::response::Parts, url: &str) -> Error {
    let content_type = parts.headers.get(http::header::CONTENT_TYPE);
    Error::UnexpectedContentType {
        content_type: content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        url: crate::redact_url(url),
    }
}

/// Whether a response's `Content-Type` is JSON: `application/json`, or a `+json` type
/// (`application/problem+json`).
pub(crate) fn is_json(headers: &http::HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let value = String::from_utf8_lossy(value.as_bytes());
    let media_type = crate::config::media_type_of(&value);
    let suffix = media_type.get(media_type.len().saturating_sub(5)..);
    media_type.eq_ignore_ascii_case("application/json")
        || suffix.is_some_and(|s| s.eq_ignore_ascii_case("+json"))
}

/// What a stream's head says of its body by its content type, when
/// [`require_event_stream`](StreamOptions::require_event_stream) asks: another type than
/// `text/event-stream` is [`Error::UnexpectedContentType`], but none, or `text/plain`, lets the
/// body through, to be decided on its first byte; so does `text/event-stream`, whose body is
/// refused only when it is a JSON error document (see [`NotAStream`]). Not for JSON lines,
/// which start with `{`. 204 No Content is how a server says "no stream, do not reconnect": an
/// empty stream.
fn content_check(
    options: &StreamOptions,
    parts: &http::response::Parts,
    url: &str,
) -> Result<Option<Watch>, Error> {
    let headers = &parts.headers;
    if !options.require_event_stream || parts.status == http::StatusCode::NO_CONTENT {
        return Ok(None);
    }
    // A JSON answer the options take, made a stream already (see `json_answer_as_event`).
    #[cfg(feature = "llm")]
    if options.json_answer && is_json(headers) {
        return Ok(None);
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let typed = crate::config::has_media_type(headers, "text/event-stream");
    if !typed && content_type.is_some() && !crate::config::has_media_type(headers, "text/plain") {
        return Err(unexpected_type(parts, url));
    }
    Ok((!options.is_json_lines()).then_some(Watch {
        content_type,
        typed,
    }))
}

/// What the first bytes of a stream's body are checked for (see [`NotAStream`]).
struct Watch {
    /// The body's content type, if any.
    content_type: Option<String>,
    /// It is `text/event-stream`: only a JSON error document ends the stream.
    typed: bool,
}

/// Runs `f` on a new thread as part of the current job (a cancel interrupts its I/O), and
/// returns its result; a panic in `f` carries on here. If no thread can be started, runs `f`
/// here.
///
/// Why: a stream's worker reads it for as long as it is open, and every stack page the worker
/// has touched stays resident until it exits. Sending a request through ureq (connect, send,
/// read the head) touches about 26 KiB of stack, reading the body a fraction of that. Sent from
/// a thread that ends once the head is in (and whose stack glibc returns to the system when
/// it exits), the request leaves the worker's stack shallow: 1,000 open streams hold about
/// 25 MiB less (benches/streams.rs). The cost is a thread start per stream opened, tens of
/// microseconds.
fn on_short_lived_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let job = crate::exec::current_job();
    let mut f = Some(f);
    let ran = std::thread::scope(|scope| {
        let f = &mut f;
        let spawned = std::thread::Builder::new()
            .name("ureq-futures-open".into())
            .spawn_scoped(scope, || {
                let _entered = job.as_ref().map(crate::exec::JobHandle::enter);
                f.take().map(|f| f())
            });
        match spawned {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        }
    });
    match (ran, f) {
        (Some(out), _) => out,
        (None, Some(f)) => f(),
        (None, None) => unreachable!("the thread took the closure and returned its result"),
    }
}

/// The body of a stream checked on its first bytes (see [`content_check`]). A body that starts
/// (after white space and a BOM) with `{`, `[` or `<` is a JSON document or a page, never an
/// event stream (whose lines start with a field name, `:` or a line end):
/// - a JSON error document (`{"error": {"message": ...}}`, what gateways send with a 200 when
///   the model behind them failed) ends the stream with its [`Error::Api`], whatever the type;
/// - anything else ends it with [`Error::UnexpectedContentType`] when its type was none or
///   `text/plain`, rather than reading as a stream cut before its first event;
/// - under `text/event-stream`, anything else is read as the type says (the WHATWG parser
///   skips such lines): the check reads the first read's bytes only, and reads nothing more.
struct NotAStream<R> {
    inner: R,
    /// What to check, the redacted URL and the request's credentials (hidden in an error
    /// document's words), while the first significant byte has not come.
    pending: Option<(Watch, String, Option<crate::auth::Secrets>)>,
}

impl<R: Read> Read for NotAStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.pending.is_some() {
            let blank = |b: &&u8| b.is_ascii_whitespace() || matches!(**b, 0xEF | 0xBB | 0xBF);
            match buf[..n].iter().find(|b| !blank(b)) {
                Some(b'{' | b'[' | b'<') => {
                    if let Some((watch, url, secrets)) = self.pending.take() {
                        let content_type = watch.content_type;
                        let read = &buf[..n];
                        match Error::from_error_document(read, content_type.as_deref()) {
                            Some(e) => return Err(crate::auth::hide(secrets.as_ref(), e).into_io()),
                            None if watch.typed => {}
                            None => {
                                let e = Error::UnexpectedContentType { content_type, url };
                                return Err(e.into_io());
                            }
                        }
                    }
                }
                Some(_) => self.pending = None,
                None => {}
            }
        }
        Ok(n)
    }
}

/// A stream's sink that adds the stream's URL (redacted) to the [`Error::Protocol`] its decoder
/// or its end reports (a malformed chunk, an answer cut before its end marker): the other errors
/// of a stream carry their place already, or have no room for it.
struct WithUrl<'a, S> {
    sink: &'a S,
    url: String,
}

impl<T, S: Sink<T>> Sink<T> for WithUrl<'_, S> {
    fn send(&self, item: Result<T, Error>) -> bool {
        self.sink.send(item.map_err(|e| match e {
            Error::Protocol(message) => Error::Protocol(format!("{message} for url: {}", self.url)),
            other => other,
        }))
    }

    fn is_closed(&self) -> bool {
        self.sink.is_closed()
    }
}

/// [`pump`], with a panicking decoder ending the stream with an error rather than looking like
/// a clean end when the unwinding drops the sender.
fn pump_guarded<D: Decode>(
    body: impl Read,
    options: StreamOptions,
    decoder: D,
    sink: &impl Sink<D::Item>,
) {
    let resume = options.resume.as_deref();
    let pumped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pump(body, options.framing, resume, decoder, sink)
    }));
    if let Err(payload) = pumped {
        sink.send(Err(Error::Panicked(panic_message(payload.as_ref()))));
    }
}

/// How long the body of a refused event stream or download is waited for, at most, when the
/// request's `timeout` does not end the wait sooner: [`ERROR_BODY_WAIT`].
///
/// The caller never gets that body; its start only explains the error (a provider's JSON
/// message). Browsers' `EventSource` does not read it at all; reading it for ever, as a
/// buffered request reads its body, would hold a session without a `timeout` (the default)
/// for as long as a server stalls in it, and an `EventSource` or a `ChatClient` retrying a 503
/// would never retry. Error bodies come with their head in practice, so the wait is short.
pub(crate) const ERROR_BODY_WAIT: Duration = Duration::from_secs(5);

/// The [`Error::Status`] of a non-2xx answer whose body the caller does not get (an event
/// stream's, a download's), with the start of its body (see [`error_body`]). The handle resolves
/// with this error, so the read ends with the `timeout` too, or after [`ERROR_BODY_WAIT`]
/// when that comes first: a server that stalls in its error body (or streams one) does not
/// hold it. A wait the body gives (a Google API's) pauses the origin at `limiter`.
pub(crate) fn status_error(
    mut resp: http::Response<ureq::Body>,
    limiter: Option<&crate::RateLimiter>,
) -> Error {
    let timeouts = resp.extensions().get::<TimeoutSettings>().copied();
    let (start, cut) = unread_body_start(&mut resp.body_mut().as_reader(), timeouts);
    let url = resp.get_uri().to_string();
    let status = resp.status().as_u16();
    observe_body_wait(limiter, resp.get_uri(), status, resp.headers(), &start);
    let (mut parts, _) = resp.into_parts();
    let notes = phase::StatusNotes::take(&mut parts.extensions);
    notes.apply(Error::status_cut(
        status,
        &url,
        parts.headers,
        &start,
        cut.as_deref(),
    ))
}

/// A 429 or 503 about to be retried (and dropped) whose wait may be in its body rather than in
/// its headers (a Google API's): the body's start is read as [`status_error`] reads it, for
/// `limiter` to pause the origin, so that the session's other requests wait with the retry.
/// Nothing is read without a limiter, nor when the headers say how long to wait.
fn observe_refusal_body(
    limiter: Option<&crate::RateLimiter>,
    resp: &mut http::Response<ureq::Body>,
) {
    let status = resp.status().as_u16();
    let refused = matches!(status, 429 | 503) && !crate::retry::waits_in_headers(resp.headers());
    if limiter.is_none() || !refused {
        return;
    }
    let timeouts = resp.extensions().get::<TimeoutSettings>().copied();
    let (start, _) = unread_body_start(&mut resp.body_mut().as_reader(), timeouts);
    observe_body_wait(limiter, resp.get_uri(), status, resp.headers(), &start);
}

/// The start of a body the caller does not get, read as [`status_error`] reads it (see
/// [`error_body`]), within the request's `timeout` and [`ERROR_BODY_WAIT`]: the bytes, and why
/// the read stopped before the end when it did.
fn unread_body_start(
    body: &mut impl Read,
    timeouts: Option<TimeoutSettings>,
) -> (Vec<u8>, Option<String>) {
    let job = crate::exec::current_job();
    let (deadline, capped) = error_body_deadline(
        timeouts.and_then(|t| t.deadline),
        "an error body the caller does not get",
    );
    error_body(body, timeouts.as_ref(), deadline, job, capped)
}

/// Until when the body of a refused answer is read for its error's words: `deadline` (the
/// request's `timeout`), or [`ERROR_BODY_WAIT`] from now when that comes first; and, in that
/// case, the words for the error when the read is cut (see [`error_body`]'s `capped`), which
/// name `what` was waited for.
pub(crate) fn error_body_deadline(
    deadline: Option<Instant>,
    what: &str,
) -> (Option<Instant>, Option<String>) {
    let wait = Instant::now().checked_add(ERROR_BODY_WAIT);
    let (deadline, capped) = match (deadline, wait) {
        (Some(deadline), Some(wait)) if wait < deadline => (Some(wait), true),
        (None, Some(wait)) => (Some(wait), true),
        (deadline, _) => (deadline, false),
    };
    let waited = || {
        format!(
            "nothing more within {}, the most {what} is waited for",
            crate::timeout::Human(ERROR_BODY_WAIT)
        )
    };
    (deadline, capped.then(waited))
}

/// The start of the body of a refused response, which explains the error: up to
/// [`STATUS_BODY_READ`](crate::error::STATUS_BODY_READ) bytes, read until `deadline` at the
/// latest (then `job`'s I/O is interrupted, which ends a read blocked on its connection).
/// Returns the bytes, and why the read stopped before the end of the body when it did (the
/// limit that ran out, with its setting, or the failure), in words for the error: `capped`,
/// when the deadline was not the `timeout`'s.
pub(crate) fn error_body(
    body: &mut impl Read,
    timeouts: Option<&TimeoutSettings>,
    deadline: Option<Instant>,
    job: Option<crate::exec::JobHandle>,
    capped: Option<String>,
) -> (Vec<u8>, Option<String>) {
    let mut start = Vec::new();
    let (read, interrupted) = interrupt_at(deadline, job, || {
        body.take(crate::error::STATUS_BODY_READ)
            .read_to_end(&mut start)
    });
    let cut = match read {
        _ if interrupted && capped.is_some() => capped,
        _ if interrupted => Some(match timeouts.and_then(|t| t.timeout) {
            Some(limit) => format!(
                "nothing more within {} (timeout)",
                crate::timeout::Human(limit)
            ),
            None => "nothing more within the timeout".to_string(),
        }),
        Ok(_) => None,
        Err(e) => {
            let e = Error::from(e);
            Some(cut_reason(match timeouts {
                Some(t) => t.name(e),
                None => e,
            }))
        }
    };
    (start, cut)
}

/// Why the read of an error body failed, in a few words: the timeout with its setting, or the
/// kind of the failure (the URL is in the error already).
fn cut_reason(e: Error) -> String {
    match e {
        Error::Timeout(t) => match (t.kind, t.setting, t.limit) {
            (ureq::Timeout::PerRead, Some(setting), Some(limit)) => {
                format!("no byte for {} ({setting})", crate::timeout::Human(limit))
            }
            (_, Some(setting), Some(limit)) => {
                format!("over {} ({setting})", crate::timeout::Human(limit))
            }
            _ => "a read timed out".to_string(),
        },
        Error::Io(io) if crate::encoding::is_expansion(&io) => {
            "its codings expand without output (a decompression bomb?)".to_string()
        }
        Error::Io(io) => format!("the connection failed ({})", io.kind()),
        Error::Cancelled => "the request was cancelled".to_string(),
        other => other.to_string(),
    }
}

/// Runs `f`, and interrupts `job`'s I/O (shutting its connection down) if `f` is still running
/// at `deadline`, so that a read blocked in `f` returns then. Returns `f`'s result and whether
/// the deadline interrupted it. Without a deadline or a job, just runs `f`.
pub(crate) fn interrupt_at<R>(
    deadline: Option<Instant>,
    job: Option<crate::exec::JobHandle>,
    f: impl FnOnce() -> R,
) -> (R, bool) {
    let (Some(deadline), Some(job)) = (deadline, job) else {
        return (f(), false);
    };
    // RUNNING, then DONE (`f` returned first) or FIRED (the deadline came first): whoever
    // moves it from RUNNING decides, so that an interrupt is never left unreported.
    const RUNNING: u8 = 0;
    const DONE: u8 = 1;
    const FIRED: u8 = 2;
    let state = AtomicU8::new(RUNNING);
    let (done, finished) = crossbeam_channel::bounded::<()>(0);
    std::thread::scope(|scope| {
        let state = &state;
        // If no thread can be started, `f` runs without the deadline.
        let _watchdog = std::thread::Builder::new()
            .name("ureq-futures-deadline".into())
            .spawn_scoped(scope, move || {
                let left = deadline.saturating_duration_since(Instant::now());
                if finished.recv_timeout(left) == Err(RecvTimeoutError::Timeout)
                    && state
                        .compare_exchange(RUNNING, FIRED, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                {
                    job.interrupt();
                }
            });
        let out = f();
        let interrupted = state
            .compare_exchange(RUNNING, DONE, Ordering::SeqCst, Ordering::SeqCst)
            .is_err();
        drop(done);
        (out, interrupted)
    })
}

/// Sends `spec` with `agent` and returns the response with its body unread. A timeout names
/// the setting that fired; the response carries the request's [`TimeoutSettings`] in its
/// extensions, for the errors of its body.
pub(crate) fn execute(
    agent: &ureq::Agent,
    config: &Config,
    spec: Spec,
    budget: Budget,
) -> Result<http::Response<ureq::Body>, Error> {
    let (limits, timeouts) = limits(agent, config, &spec, budget);
    let mut resp = send(agent, config, spec, &limits, &timeouts, &Tried::default())?;
    resp.extensions_mut().insert(timeouts);
    Ok(resp)
}

/// The limits a request is sent with, and the settings they come from. The budget (`timeout`)
/// starts now, for the whole request: its redirects and its retries.
fn limits(
    agent: &ureq::Agent,
    config: &Config,
    spec: &Spec,
    budget: Budget,
) -> (Limits, TimeoutSettings) {
    let limits = Limits {
        timeout: spec.timeout.or(config.timeout),
        read_timeout: spec.read_timeout.or(config.read_timeout),
        budget,
    };
    let deadline = limits
        .timeout
        .value()
        .and_then(|t| Instant::now().checked_add(t));
    let timeouts = TimeoutSettings::new(
        agent,
        config.own_agent,
        limits.timeout.value(),
        deadline,
        limits.read_timeout.value(),
        budget,
    );
    (limits, timeouts)
}

/// [`execute`] without putting the `timeouts` into the response: for a body read at once,
/// which is given them directly and spares the extension's allocation.
fn send(
    agent: &ureq::Agent,
    config: &Config,
    spec: Spec,
    limits: &Limits,
    timeouts: &TimeoutSettings,
    tried: &Tried,
) -> Result<http::Response<ureq::Body>, Error> {
    if let Some(e) = spec.error {
        return Err(*e);
    }
    let mut secrets = crate::auth::Secrets::of(
        config.secrets.as_ref(),
        &spec.headers,
        &spec.url,
        &spec.query,
    );
    match attempts(agent, config, spec, limits, timeouts, tried) {
        Ok(mut resp) => {
            // The jar's cookies too, for the answer of an error, which a status error shows.
            if let Some(jar) = config
                .cookies
                .as_ref()
                .filter(|_| resp.status().as_u16() >= 400)
            {
                secrets = crate::auth::Secrets::with_jar(secrets, jar, resp.get_uri());
            }
            if let Some(secrets) = secrets {
                resp.extensions_mut().insert(secrets);
            }
            Ok(resp)
        }
        Err(e) => Err(crate::auth::hide(secrets.as_ref(), timeouts.name(e))),
    }
}

/// [`execute`]'s work: the attempts of the request, and the hops of each, counted in `tried`
/// (which counts from the attempts [`buffered`] made before, when their answers' bodies broke
/// off).
fn attempts(
    agent: &ureq::Agent,
    config: &Config,
    spec: Spec,
    limits: &Limits,
    timeouts: &TimeoutSettings,
    tried: &Tried,
) -> Result<http::Response<ureq::Body>, Error> {
    let made = &tried.made;
    let method = spec.method;
    // Never sent; the response's URL carries it (see `redirect::Fragment`).
    let fragment = spec.url.split_once('#').map(|(_, f)| f.to_string());
    let uri = url::build(spec.url, &spec.query)?;
    // Built (and checked) before anything is sent, then moved into the first request; a later
    // send (a redirect, a resend, a retry) builds them again rather than every request paying
    // for a copy.
    let content_type = spec.content_type.as_deref();
    // The URL's user-info is the request's `Authorization` unless one is set: as one of its
    // headers, it follows the redirects that stay at the origin (also to an absolute
    // `Location` without user-info) and is dropped by those that leave it, as requests does.
    let url_auth = url::user_info_auth(&uri)
        .transpose()
        .map_err(Error::InvalidRequest)?;
    let build_headers = || {
        let mut headers =
            request_headers(&config.headers, &spec.headers, content_type, spec.resumes)?;
        if let Some(value) = url_auth
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.entry(http::header::AUTHORIZATION).or_insert(value);
        }
        // A byte beyond ASCII in `Authorization` or `Host` can come only from the session's or
        // the request's headers (the URL's credentials go in base64): without any, nothing to
        // look up.
        if !(config.headers.is_empty() && spec.headers.is_empty()) {
            ascii_only(&headers)?;
        }
        Ok::<_, Error>(headers)
    };
    let first_headers = Cell::new(Some(build_headers()?));
    // Asked of each hop: a redirect that turns a POST into a GET makes a new request, which
    // is as idempotent as any GET. The caller's word is about the request as made, so it holds
    // for the hops that keep its method.
    let idempotent = |hop_method: &Method| {
        stale::is_idempotent(
            hop_method,
            spec.idempotent.filter(|_| *hop_method == method),
        )
    };
    let deadline = timeouts.deadline;
    // Where the body's progress is counted: the job's, if the request has a body.
    let job = spec.body.as_ref().and_then(|_| crate::exec::current_job());
    let counter = job.as_ref().and_then(crate::exec::JobHandle::upload);
    // Whether the next attempt's first hop has its origin's turn already: the first attempt
    // from the lane that admitted the request (not when a worker waiting for the request ran
    // it inline), a retry from its own wait below.
    let ran_inline = config.rate_limiter.is_some()
        && crate::exec::current_job().is_some_and(|job| job.ran_inline());
    // (A request's later attempt has waited for its turn before it came here.)
    let attempt_has_turn = Cell::new(!ran_inline || made.get() > 0);
    // Given the URI rather than borrowing it: a request tried once moves it into its hop.
    // `hop`: the first to send, the request as made or where a retry starts (see
    // `Hop::retry_from`, which `retry_from` is set to).
    let send = |hop: Hop<'_>, retry_from: &mut Option<Hop<'static>>| {
        // Each hop is a new request to its origin (a redirect may lead to another), except
        // the first hop of an attempt that has its turn already.
        let mut hop_has_turn = attempt_has_turn.replace(true);
        tried.hops.set(0);
        let resp = redirect::follow(config.redirects, hop, deadline, retry_from, |hop| {
            tried.hops.set(tried.hops.get() + 1);
            let has_turn = std::mem::replace(&mut hop_has_turn, false);
            if let Some(limiter) = config.rate_limiter.as_ref().filter(|_| !has_turn) {
                if let Some(wait) = wait_turn(limiter, &hop.uri, deadline)? {
                    return Err(phase::turn_past_budget(&hop.uri, wait));
                }
            }
            // A host that `NO_PROXY` names as curl reads it, which ureq's matching misses.
            let direct = config
                .no_proxy
                .as_ref()
                .is_some_and(|n| n.matches(&hop.uri));
            // Whether this hop goes through the agent's proxy.
            let proxied =
                (agent.config().proxy()).is_some_and(|p| !direct && !p.is_no_proxy(&hop.uri));
            // A proxy in the environment that cannot serve as it is written: refused where it
            // would serve, rather than sent direct or to the wrong host.
            // (Asked only of such a session: no cost on every hop of the others.)
            let exempt =
                || direct || (agent.config().proxy()).is_some_and(|p| p.is_no_proxy(&hop.uri));
            if let Some(why) = config.proxy_refused.as_ref().filter(|_| !exempt()) {
                return Err(Error::InvalidRequest(format!(
                    "the request to {} was not sent: {why}",
                    crate::redact_url(&hop.uri.to_string())
                )));
            }
            // `fresh`: on a new connection, for the one resend of `stale`.
            let run = |fresh: bool| {
                // A job cancelled between hops (a redirect, a resend) sends nothing more.
                if crate::exec::is_cancelled() {
                    return Err(Error::Cancelled);
                }
                // Whether the server breaks off this request's sending is this hop's to say
                // (see `phase::before_response`), and so is how far a proxy's leg got.
                crate::transport::clear_send_broken();
                crate::transport::clear_proxy_leg();
                crate::transport::clear_socket_connected();
                let mut req = http::Request::new(());
                *req.method_mut() = hop.method.clone();
                *req.uri_mut() = hop.uri.clone();
                let headers = match first_headers.take() {
                    Some(headers) => headers,
                    None => build_headers()?,
                };
                *req.headers_mut() = hop.headers(headers);
                // ureq sends a proxy the credentials of its URL only: the header would go
                // through the tunnel to the server.
                if proxied
                    && req
                        .headers()
                        .contains_key(http::header::PROXY_AUTHORIZATION)
                {
                    return Err(Error::InvalidRequest(format!(
                        "the Proxy-Authorization header of the request to {} would reach that \
                         server, not the proxy: put the proxy's credentials in its URL \
                         (http://user:password@proxy:3128) and remove the header",
                        crate::redact_url(&hop.uri.to_string())
                    )));
                }
                if !req.headers().contains_key(http::header::AUTHORIZATION) {
                    // A `Location` with user-info of its own, percent-decoded (ureq would send
                    // its escapes as they are written).
                    let decoded = url::user_info_auth(&hop.uri)
                        .transpose()
                        .map_err(Error::InvalidRequest)?
                        .and_then(|value| HeaderValue::from_str(&value).ok());
                    if let Some(value) = decoded {
                        req.headers_mut().insert(http::header::AUTHORIZATION, value);
                    }
                }
                if let Some(jar) = &config.cookies {
                    // After a redirect the jar's cookies, then the request's own of other
                    // names (see `redirect`'s docs).
                    let own: Vec<HeaderValue> = if hop.redirected {
                        let cookies = req.headers().get_all(http::header::COOKIE);
                        let own = cookies.iter().cloned().collect();
                        req.headers_mut().remove(http::header::COOKIE);
                        own
                    } else {
                        Vec::new()
                    };
                    jar.add_to(&hop.uri, req.headers_mut());
                    if !own.is_empty() {
                        crate::cookies::merge_own(req.headers_mut(), &own);
                    }
                }
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                // A form whose reader another copy of the form sent is refused before its head,
                // rather than sent cut after the parts before the reader.
                if let Some(e) = hop.body.and_then(|p| p.check_unsent(&hop.uri).err()) {
                    return Err(Error::from(ureq::Error::Io(e)));
                }
                // A stream's `timeout` is one budget for every phase before the head, but ureq
                // times each phase from the end of the one before, so their limits add up (a
                // slow upload, then a slow answer): past the deadline, a watchdog shuts the
                // job's connection. It fires a little after the deadline, so that a phase that
                // alone spent the budget ends in ureq's own timeout, which says which phase.
                // A buffered request's upload gets it too: ureq gives each write of the body
                // the time left as the socket's send timeout, and a write to a server that
                // reads a little at a time returns what it sent when that time is up, to be
                // written on with the same timeout, so a slow upload ran two or three times
                // past the `timeout` (more at a trickle). Its thread is started for streams
                // and for bodies of `COUNTED_FROM` bytes or more, with a `timeout` only.
                let uploads = hop.body.is_some_and(|body| match body {
                    Payload::Bytes(bytes) => bytes.len() >= COUNTED_FROM,
                    _ => true,
                });
                let watch = deadline
                    .filter(|_| limits.budget == Budget::Stream || uploads)
                    .map(|d| d + WATCHDOG_GRACE);
                // The job's handle only for a watchdog (most requests have none): taking it
                // costs two atomic operations on a count that the caller's thread touches too.
                let job = watch.and_then(|_| crate::exec::current_job());
                let (result, overran) = interrupt_at(watch, job, || {
                    match hop.body {
                        // Sent in one go: counted once the response comes.
                        Some(Payload::Bytes(body)) if body.len() < COUNTED_FROM => {
                            if let Some(counter) = counter {
                                counter.start(Some(body.len() as u64));
                            }
                            let result = agent.run(limits.apply(
                                agent,
                                req.map(|()| &body[..]),
                                left,
                                fresh,
                                direct,
                            ));
                            if let (Ok(_), Some(counter)) = (&result, counter) {
                                counter.add(body.len() as u64);
                            }
                            result
                        }
                        // Counted as it is sent, and read from the files as it goes, with the
                        // length it was built with (unless the caller chunks it): see
                        // `crate::upload`.
                        Some(payload) => {
                            // A reader of unknown length goes chunked, as ureq sends a body
                            // without a length.
                            let len = payload.len().filter(|_| {
                                !req.headers().contains_key(http::header::TRANSFER_ENCODING)
                            });
                            if let Some(len) = len {
                                let len = HeaderValue::from(len);
                                req.headers_mut().insert(http::header::CONTENT_LENGTH, len);
                            }
                            let mut upload = Upload::new(payload, &hop.uri, counter);
                            let body = ureq::SendBody::from_reader(&mut upload);
                            agent.run(limits.apply(agent, req.map(|()| body), left, fresh, direct))
                        }
                        // A POST, PUT or PATCH without a body goes with `Content-Length: 0`, as
                        // RFC 9110 §8.6 says a user agent normally sends it (and requests
                        // does); ureq would send such a request an empty chunked body, which
                        // servers that take no chunked uploads (S3's PUT, HTTP/1.0) refuse.
                        None if needs_body(&hop.method) => agent.run(limits.apply(
                            agent,
                            req.map(|()| &[][..]),
                            left,
                            fresh,
                            direct,
                        )),
                        None => agent.run(limits.apply(agent, req, left, fresh, direct)),
                    }
                });
                match result {
                    Err(e @ ureq::Error::Timeout(_)) => Err(Error::from(e)),
                    // Whatever else came of it: the connection is shut, the budget spent.
                    _ if overran => {
                        let phase = crate::transport::budget_phase();
                        Err(phase::budget_spent(phase, &hop.uri))
                    }
                    result => result.map_err(Error::from),
                }
            };
            let (mut result, seen) = stale::observe(|| run(false));
            if let Err(e) = &result {
                let replayable = hop.body.is_none_or(Payload::replayable);
                if replayable && stale::resend(idempotent(&hop.method), seen, e) {
                    result = run(true);
                }
            }
            // Where it failed (phase, host:port, URL), once the resend has seen the bare error.
            let proxy = agent.config().proxy().filter(|_| !direct);
            let result = result.map_err(|e| {
                // A write broken off without an answer cut the upload only when there is a
                // body; a head alone (a proxy's CONNECT, say) may race the reset either way,
                // and its error stays the response's.
                if hop.body.is_none() {
                    crate::transport::clear_send_broken();
                }
                phase::before_response(e, &hop.uri, proxy)
            });
            if let (Ok(resp), Some(jar)) = (&result, &config.cookies) {
                jar.store_from(&hop.uri, resp.headers());
            }
            if let (Some(limiter), Ok(resp)) = (&config.rate_limiter, &result) {
                observe_answer(limiter, &hop.uri, resp.status().as_u16(), resp.headers());
            }
            result
        })?;
        encoding::decode(resp, None, &method)
    };
    let policy = spec.retry.as_deref().or(config.retry.as_ref());
    let first = |uri: Uri| {
        let mut hop = Hop::new(method.clone(), uri, spec.body.as_ref(), fragment.as_deref());
        hop.redirected = spec.followed;
        hop
    };
    let Some(policy) = policy.filter(|p| p.max_attempts() > 1) else {
        made.set(made.get() + 1);
        return send(first(uri), &mut None);
    };
    if let Some(why) = why_not_retried(policy, &method, spec.idempotent, spec.body.as_ref()) {
        // Still retried: a failure before the request reached the server (a connection
        // refused, a name that did not resolve), which cannot have taken effect, when its body
        // can be sent again.
        let replayable = spec.body.as_ref().is_none_or(Payload::replayable);
        let mut attempt = made.get();
        loop {
            attempt += 1;
            made.set(attempt);
            let outcome = send(first(uri.clone()), &mut None);
            let note = || not_retried_note(attempt, &why);
            return match outcome {
                Ok(mut resp) => {
                    if policy.retries_answer(resp.status().as_u16(), resp.headers()) {
                        resp.extensions_mut().insert(phase::Retried(note().into()));
                    }
                    Ok(resp)
                }
                // Of the request as made: a hop after a redirect follows one that reached a
                // server, which may have taken the body (a 303's). The caller's
                // `idempotent(false)` rules out every retry.
                Err(e)
                    if replayable
                        && tried.hops.get() == 1
                        && spec.idempotent != Some(false)
                        && phase::nothing_sent(&e, config.own_agent)
                        && policy.retries(&e) =>
                {
                    match wait_to_retry(policy, config, timeouts, &uri, attempt, &e)? {
                        None => continue,
                        Some(why) => Err(last_failure(e, attempt, why, timeouts.deadline_passed())),
                    }
                }
                Err(e) if policy.retries(&e) => Err(phase::with_note(e, note())),
                Err(e) => Err(e),
            };
        }
    }
    let mut attempt = made.get() + 1;
    // Where the next attempt starts: at the first hop, or at the one that failed once a
    // redirect took the body (see `Hop::retry_from`).
    let mut start: Option<Hop<'static>> = None;
    loop {
        let mut retry_from = None;
        // An attempt that starts at a redirect's hop follows one whose server took the body.
        tried.from_redirect.set(start.is_some());
        let hop = match start.take() {
            Some(hop) => hop,
            None => first(uri.clone()),
        };
        made.set(attempt);
        let mut outcome = send(hop, &mut retry_from);
        start = retry_from;
        // The last failure of several attempts says how many were made, and why no more; so
        // does a failure whose retries the budget cut short, unless it is the budget's own
        // timeout, which says so itself.
        let last = |outcome: Result<http::Response<ureq::Body>, Error>, why: Stopped| {
            let e = match outcome {
                // An answer the policy retries, not retried again: its status error will say
                // how many attempts were made and why no more.
                Ok(mut resp) => {
                    if let Some(note) = policy.given_up(attempt, &resp, why) {
                        resp.extensions_mut().insert(phase::Retried(note.into()));
                    }
                    return Ok(resp);
                }
                Err(e) => e,
            };
            Err(last_failure(e, attempt, why, timeouts.deadline_passed()))
        };
        let stopped = if attempt >= policy.max_attempts() {
            Stopped::Limit
        } else {
            Stopped::Other
        };
        let budget = Stopped::Budget(timeouts.timeout);
        // A hop's turn at the rate limiter past the budget (an origin paused by a 429, reached
        // by a redirect): a retry would wait for the same turn, after a backoff and a request
        // more. The timeout says why itself.
        if matches!(&outcome, Err(Error::Timeout(t)) if t.is_turn_past_budget()) {
            return last(outcome, Stopped::Other);
        }
        match policy.verdict(attempt, &outcome) {
            Verdict::Stop => return last(outcome, stopped),
            // Waiting past the budget would only end in a timeout: hand over what we have.
            Verdict::RetryAfter(wait) if past_budget(timeouts, wait) => {
                return last(outcome, budget)
            }
            // A response dropped unread closes its connection; nothing else is lost.
            Verdict::RetryAfter(wait) => {
                if let Ok(resp) = &mut outcome {
                    observe_refusal_body(config.rate_limiter.as_ref(), resp);
                }
                let to = start.as_ref().map_or(&uri, |hop| &hop.uri);
                let reason = || crate::retry::outcome_reason(&outcome);
                if !wait_out(policy, config, timeouts, to, attempt, wait, reason)? {
                    return last(outcome, Stopped::Turn(timeouts.timeout));
                }
            }
        }
        attempt += 1;
    }
}

/// Why a request that `policy` would retry gets one attempt, if it does: it is not idempotent,
/// or its body is a reader's, which cannot be sent twice. A failure the policy would have
/// retried says why it was not.
fn why_not_retried(
    policy: &RetryPolicy,
    method: &Method,
    idempotent: Option<bool>,
    body: Option<&Payload>,
) -> Option<String> {
    if policy.allows(method, idempotent) {
        body.and_then(Payload::why_not_replayable)
    } else if idempotent == Some(false) {
        Some("the request is marked idempotent(false)".to_string())
    } else {
        Some(format!(
            "{method} is not idempotent (sent twice, it may take effect twice): \
             RetryPolicy::non_idempotent(true), or idempotent(true) on the request, retries it"
        ))
    }
}

/// The length from which a body in memory is sent through a reader that counts it for
/// [`Pending::upload_progress`](crate::Pending::upload_progress); a smaller one is sent as a
/// slice and counted at once when the response comes.
const COUNTED_FROM: usize = 64 * 1024;

/// The per-request configuration: timeouts, and statuses as responses. The request's budget
/// reaches [`apply`](Limits::apply) as what is left of it.
struct Limits {
    /// The request's `timeout`, or the session's.
    timeout: Limit,
    /// The request's `read_timeout`, or the session's.
    read_timeout: Limit,
    budget: Budget,
}

impl Limits {
    /// Whether the request has no budget of its own and the agent's must go too: `timeout(None)`,
    /// or a `timeout` so long that no clock reaches its end (`Duration::MAX`: `left` is then
    /// `None`), which the agent's shorter one must not replace.
    fn unlimited(&self, left: Option<Duration>) -> bool {
        match self.timeout {
            Limit::Set(None) => true,
            Limit::Set(Some(_)) => left.is_none(),
            Limit::Inherit => false,
        }
    }

    /// Configures one hop. `left` is what remains of the request's budget, if it has one. A
    /// setting the session does not have leaves the agent's own in force, except that a stream
    /// never gets a budget that would keep running while its body is read. `direct`: the hop
    /// goes without the agent's proxy.
    fn apply<B: ureq::AsSendBody>(
        &self,
        agent: &ureq::Agent,
        req: http::Request<B>,
        left: Option<Duration>,
        fresh: bool,
        direct: bool,
    ) -> http::Request<B> {
        if !fresh && !direct && self.agent_suffices(agent.config(), left) {
            return req;
        }
        let mut config = agent
            .configure_request(req)
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            // The session follows redirects itself (see `redirect`).
            .max_redirects(0);
        if fresh {
            // No pooled connection is young enough: ureq opens a new one. (It also closes the
            // idle connections to this host that it passes over; they are no younger than the
            // one the server just closed.)
            config = config.max_idle_age(Duration::ZERO);
        }
        if direct {
            config = config.proxy(None);
        }
        if let Limit::Set(read) = self.read_timeout {
            config = config.timeout_per_read(read);
        }
        // `timeout(None)` (or one past the end of time): none of the agent's own budgets either.
        let unlimited = self.unlimited(left);
        match (self.budget, left) {
            (Budget::Buffered, Some(left)) => config = config.timeout_global(Some(left)),
            (Budget::Buffered, None) if unlimited => {
                config = config.timeout_global(None).timeout_per_call(None)
            }
            (Budget::Buffered, None) => {}
            (Budget::Stream, left) => {
                config = config
                    .timeout_global(None)
                    .timeout_per_call(None)
                    .timeout_recv_body(None);
                if unlimited {
                    config = config
                        .timeout_resolve(None)
                        .timeout_send_request(None)
                        .timeout_send_body(None)
                        .timeout_recv_response(None);
                }
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
        let same_read_timeout = match self.read_timeout {
            Limit::Inherit => true,
            Limit::Set(read) => read == config.timeout_per_read(),
        };
        let t = config.timeouts();
        let unlimited = self.unlimited(left);
        let budget_kept = match (self.budget, left) {
            (_, Some(_)) => false,
            (Budget::Buffered, None) => !unlimited || (t.global.is_none() && t.per_call.is_none()),
            (Budget::Stream, None) => {
                let stream = t.global.is_none() && t.per_call.is_none() && t.recv_body.is_none();
                let before_headers = t.resolve.is_none()
                    && t.send_request.is_none()
                    && t.send_body.is_none()
                    && t.recv_response.is_none();
                stream && (!unlimited || before_headers)
            }
        };
        session_rules && same_read_timeout && budget_kept
    }
}

/// Refuses an `Authorization` or `Host` value with a byte beyond ASCII before sending: ureq
/// sends other headers' bytes as they are, but not these (its error, `authorization header is
/// not a string`, names neither the header's origin nor a fix). The value is never quoted: it
/// is most often a credential, an API key pasted with a typographic quote.
fn ascii_only(headers: &http::HeaderMap) -> Result<(), Error> {
    for name in [http::header::AUTHORIZATION, http::header::HOST] {
        for value in headers.get_all(&name) {
            if let Some(at) = value.as_bytes().iter().position(|b| !b.is_ascii()) {
                return Err(Error::InvalidRequest(format!(
                    "the {} header's value has a byte beyond ASCII (0x{:02X}, byte {} of {}), \
                     which HTTP does not send in that header: an API key or token pasted with a \
                     typographic quote or a stray character? Check the value (it is not shown)",
                    if name == http::header::HOST {
                        "Host"
                    } else {
                        "Authorization"
                    },
                    value.as_bytes()[at],
                    at + 1,
                    value.len()
                )));
            }
        }
    }
    Ok(())
}

/// Whether ureq gives a request of `method` a body of its own (an empty chunked one) when it has
/// none.
fn needs_body(method: &Method) -> bool {
    *method == Method::POST || *method == Method::PUT || *method == Method::PATCH
}

/// The headers a request is sent with: the session's defaults and the request's own
/// ([`merge_headers`]), the `Accept-Encoding` this build decodes and the body's content type
/// unless the request set them (a multipart type set gets the body's boundary, and a multipart
/// body's type replaces a session default of another).
fn request_headers(
    defaults: &[DefaultHeader],
    own: &[(String, String)],
    content_type: Option<&str>,
    resumes: bool,
) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::new();
    merge_headers(&mut headers, defaults, own, resumes)?;
    // `Expect: 100-continue` is not sent: ureq (3.5) waits for the `100 Continue` and does not
    // read a final answer that comes instead (a 401, a 417, a redirect: how S3 and nginx refuse
    // a body before it is sent), so such a request waited until its `timeout`, for ever by
    // default. Without it the body follows the head at once, as requests sends it (with the
    // header): a server that refuses it is heard once the body is sent, or at once when it
    // closes the connection; one that keeps the connection open and stops reading a body
    // larger than the sockets' buffers is heard as it answers over `http://` on Unix, and
    // elsewhere holds the request until its `timeout`, as it holds requests' (see
    // `crate::transport`, "An answer before the whole request").
    let continue_expected = headers.get(http::header::EXPECT).is_some_and(|v| {
        v.as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"100-continue")
    });
    if continue_expected {
        headers.remove(http::header::EXPECT);
    }
    // What this build decodes, rather than ureq's default, which depends on ureq's features as
    // the whole build sets them (see `encoding`).
    if !headers.contains_key(http::header::ACCEPT_ENCODING) {
        headers.insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_static(encoding::ACCEPT_ENCODING),
        );
    }
    if let Some(ct) = content_type {
        // A multipart type, the request's or the session's, is sent with the body's boundary. A
        // session default of another type yields to a multipart body, which no other type can
        // carry; a type the request sets itself is sent as it is.
        let sets_own = own
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        let value = match headers.get(http::header::CONTENT_TYPE) {
            None => Some(ct.to_string()),
            Some(set) => match set
                .to_str()
                .ok()
                .and_then(|v| multipart::with_boundary(v, ct))
            {
                Some(fitted) => Some(fitted),
                None if !sets_own && ct.starts_with("multipart/") => Some(ct.to_string()),
                None => None,
            },
        };
        if let Some(value) = value {
            let value = HeaderValue::from_bytes(value.as_bytes())
                .map_err(|_| Error::InvalidRequest(format!("invalid content type {value:?}")))?;
            headers.insert(http::header::CONTENT_TYPE, value);
        }
    }
    Ok(headers)
}

/// Session defaults first, minus the names the request sets itself, then the request's headers.
fn merge_headers(
    out: &mut HeaderMap,
    defaults: &[DefaultHeader],
    own: &[(String, String)],
    resumes: bool,
) -> Result<(), Error> {
    for default in defaults {
        let replaced = own
            .iter()
            .any(|(o, _)| o.eq_ignore_ascii_case(&default.name))
            || (resumes && default.name.eq_ignore_ascii_case("last-event-id"));
        if !replaced {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FuturesSession;

    /// `f` ending right at the deadline: the job is interrupted only if `interrupt_at` says so
    /// (an interrupt it did not report would leave a finished request's connection shut).
    #[test]
    fn an_interrupt_is_always_reported() {
        let session = FuturesSession::builder().max_workers(1).build();
        for i in 0..2000u32 {
            let (interrupted, cancelled) = session
                .submit(move |_| {
                    let deadline = Instant::now() + Duration::from_micros(300);
                    let stop = deadline - Duration::from_nanos(u64::from(i % 40) * 500);
                    let job = crate::exec::current_job();
                    let ((), interrupted) = interrupt_at(Some(deadline), job, || {
                        while Instant::now() < stop {
                            std::hint::spin_loop();
                        }
                    });
                    Ok((interrupted, crate::exec::is_cancelled()))
                })
                .result()
                .unwrap();
            assert!(!cancelled || interrupted, "run {i}: interrupted unreported");
        }
    }

    #[test]
    fn a_session_built_agent_needs_no_request_level_config_without_a_budget() {
        let limits = |budget, read_timeout: Option<Duration>| Limits {
            timeout: Limit::Inherit,
            read_timeout: read_timeout.map_or(Limit::Inherit, |r| Limit::Set(Some(r))),
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
        // `timeout(None)` lifts an agent's own budget, which takes a request-level config.
        for budget in [Budget::Buffered, Budget::Stream] {
            let unlimited = Limits {
                timeout: Limit::Set(None),
                ..limits(budget, None)
            };
            assert!(!unlimited.agent_suffices(budgeted.config(), None));
            assert!(unlimited.agent_suffices(ours, None));
        }
    }

    #[test]
    fn request_headers_replace_defaults_of_the_same_name() {
        let mut map = HeaderMap::new();
        let defaults = vec![
            DefaultHeader::new("User-Agent".into(), "a"),
            DefaultHeader::new("x-one".into(), "1"),
        ];
        let own = vec![("user-agent".into(), "b".into())];
        merge_headers(&mut map, &defaults, &own, false).unwrap();
        assert_eq!(map.get_all("user-agent").iter().count(), 1);
        assert_eq!(map["user-agent"], "b");
        assert_eq!(map["x-one"], "1");
    }

    #[test]
    fn invalid_header_values_are_not_quoted_in_errors() {
        let mut map = HeaderMap::new();
        let own = vec![("authorization".into(), "Bearer sk-\nsecret".into())];
        let err = merge_headers(&mut map, &[], &own, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("authorization"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn an_invalid_default_fails_only_the_requests_that_send_it() {
        let defaults = vec![DefaultHeader::new("x-key".into(), "k\nsecret")];
        let err = merge_headers(&mut HeaderMap::new(), &defaults, &[], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("x-key") && !err.contains("secret"), "{err}");
        let own = vec![("X-Key".into(), "fine".into())];
        let mut map = HeaderMap::new();
        merge_headers(&mut map, &defaults, &own, false).unwrap();
        assert_eq!(map["x-key"], "fine");
    }
}
