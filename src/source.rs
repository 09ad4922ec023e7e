//! `EventSource`: a GET event stream that reconnects, as browsers' `EventSource` does.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::request::RequestBuilder;
use crate::retry::{exponential, is_retryable_status, jittered_up, retry_after};
use crate::run::Spec;
use crate::sse::{Event, EventStream, Resume, SmolStr, StopHandle, StreamOptions};
use crate::upload::Payload;
use crate::{Error, FuturesSession};

/// The first reconnection time, before the server sends a `retry:`: 3 seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(ureq_futures::DEFAULT_INITIAL_RETRY, Duration::from_secs(3));
/// ```
pub const DEFAULT_INITIAL_RETRY: Duration = Duration::from_secs(3);
/// The longest wait between two attempts: 60 seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(ureq_futures::DEFAULT_MAX_RETRY, Duration::from_secs(60));
/// ```
pub const DEFAULT_MAX_RETRY: Duration = Duration::from_secs(60);
/// Consecutive failed attempts before giving up: 10.
///
/// # Examples
///
/// ```
/// assert_eq!(ureq_futures::DEFAULT_MAX_ATTEMPTS, 10);
/// ```
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// A stream the server ends sooner than this after it opened, without an event, "ended at
/// once": a run of them backs off (see the reconnection rules).
const QUICK_END: Duration = Duration::from_millis(100);

/// A reconnecting stream of Server-Sent Events over GET, made by
/// [`RequestBuilder::event_source`]. An iterator of `Result<Event, Error>` that ends on HTTP 204,
/// on an error that connecting cannot retry (yielded as its last item), or after too many failed
/// attempts.
///
/// # Reconnection rules
///
/// Following the HTML standard's `EventSource`, with the backoff it recommends:
///
/// * A stream that ends, is cut, fails while open (any error, such as an event past the size
///   limit, counts as a failed attempt) or fails to connect is reopened after the reconnection
///   time: the last `retry:` the server sent, else [`EventSource::initial_retry`] (3 s by
///   default). Each consecutive failure doubles the wait, up to [`EventSource::max_retry`], and
///   a jitter adds up to 40% (never past `max_retry`) so that many clients do not reconnect in
///   step; it never makes the wait shorter than the reconnection time.
///   Receiving an event resets the backoff, and so does a stream the server ends cleanly: the
///   failures that follow are a new run. So does a stream cut or stalled (an I/O error, a
///   timeout) after its body brought a whole line, an event's or a comment, and stayed open
///   100 ms at least, which is no failure either (its reconnection is attempt 1 of a new run,
///   after the reconnection time): a feed that sends only
///   keep-alive comments behind a proxy that cuts idle connections (nginx, a cloud load
///   balancer) is reconnected to for ever, as browsers do, and never runs out of
///   `max_attempts`. Streams ended cleanly at once (within 100 ms of
///   opening) one after another, without an event between them, back off as failures do
///   (without counting as failures), streams cut at once without an event count as failures,
///   and the doubling starts from 1 ms at least: a server
///   that sends `retry: 0` and closes or resets at once is not reconnected to in a busy loop. One
///   that sends an event on each such connection is reconnected to as it asks, as browsers
///   do (its events reset the backoff: each connection brought something). A
///   `retry:` counts as soon as the server sends it,
///   on a line of its own too.
/// * The new request carries `Last-Event-ID` with the last event ID in force, if any: the ID of
///   the last block the server ended, with or without data, as the standard says. An ID that
///   cannot be a header value (a control character) is not sent. An ID too long for a line of
///   the stream's request head (over 8,175 bytes with the default buffers) ends the source at
///   the connection with an [`Error::Io`] (`InvalidInput`) that says so, nothing sent: no
///   attempt could send it, and one without it would resume elsewhere. A `Last-Event-ID`
///   header set on the request (or else among the session's default headers) is the ID in
///   force on the first connection (to resume where an earlier run stopped), replaced by the
///   server's as they come: each request carries one at most, and none after the server
///   reset the ID (an empty `id:`), the session's default neither. One that cannot be a header
///   value (a line feed read with it from a file) ends the source at once with
///   [`Error::InvalidRequest`], nothing sent: without it the server would replay the stream
///   from its start.
/// * A proxy that refuses the tunnel for good (a `407`, a `403` to its `CONNECT`) ends the
///   source; one that could not open it (no answer, 429, 502, 503, 504) is tried again.
/// * HTTP 204 means "stop": the source ends. Any other status outside 2xx ends it with
///   [`Error::Status`], except 429, 502, 503 and 504, which are retried with the same backoff,
///   or after the server's `Retry-After` (or `retry-after-ms`) when that is longer, up to
///   `max_retry`.
///   A 2xx other than 200, or a wrong content type, also ends it (with [`Error::Protocol`] and
///   [`Error::UnexpectedContentType`]), and so does a JSON error document in place of the
///   stream ([`Error::Api`], see
///   [`StreamOptions::require_event_stream`](crate::sse::StreamOptions::require_event_stream)).
/// * [`stop_handle`](EventSource::stop_handle) stops the source from another thread, in a read,
///   a connection attempt or a wait for a reconnection alike: its last item is then
///   `Err(Error::Cancelled)`.
/// * A reconnection goes to the URL the redirects of the last connection led to, when they
///   stayed within its origin (as the standard reuses the request, redirects and all), with
///   what the redirect's hop carried: the credentials of the URL's user-info (also where an
///   absolute `Location` named none) and, from a session that keeps cookies, the jar's cookies
///   and then the request's own `Cookie` of other names (see
///   [`SessionBuilder::cookies`](crate::SessionBuilder::cookies)); after
///   a redirect to another origin (even one that led back) each connection starts at the URL
///   of the request again.
/// * A shutdown of its session ends it too. [`shutdown_now`](FuturesSession::shutdown_now)
///   ends a stream being read with `Err(Error::Cancelled)`; a wait for a reconnection ends at
///   once, with the shutdown (`shutdown` or `shutdown_now`), and the source's last item is the
///   refused attempt's `Err(Error::ShutDown)`.
/// * Iterated in a job ([`submit`](FuturesSession::submit)), it ends when that job is cancelled
///   ([`Pending::cancel`](crate::Pending::cancel), `shutdown_now` of the job's session): in a
///   read, a connection attempt or a wait for a reconnection alike, with `Err(Error::Cancelled)`.
/// * After [`EventSource::max_attempts`] consecutive failed attempts (10 by default) the last error
///   is yielded and the source ends. An I/O error, a timeout or a status says so at the end
///   of its message: `io: connect to host:port failed for url: ...: Connection refused (after
///   10 attempts in a row, the most EventSource::max_attempts allows)`.
///
/// It reconnects GET requests only: re-sending a POST could repeat its effect. The wait between
/// attempts happens inside `next()`, on the caller's thread; the pool's worker is held only while
/// a stream is open.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/updates", "text/event-stream", "data: first\n\n")]);
/// use std::time::Duration;
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::builder().read_timeout(Duration::from_secs(90)).build();
/// let source = session
///     .get(format!("{base}/updates"))
///     .event_source()
///     .initial_retry(Duration::from_secs(1));
/// # let source = source.take(1); // the example server sends one event per connection
/// for event in source {
///     println!("{}", event?.data);
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[must_use = "an EventSource connects only when it is iterated"]
pub struct EventSource {
    session: FuturesSession,
    template: Spec,
    options: StreamOptions,
    current: Option<EventStream>,
    /// An error to yield before anything else (a request that could not be built).
    refused: Option<Error>,
    done: bool,
    last_event_id: Option<SmolStr>,
    /// The request (or the session) set a `Last-Event-ID`, which a parser's ID does not replace.
    id_given: bool,
    /// The reconnection time until the server sends a `retry:` ([`EventSource::initial_retry`]).
    initial_retry: Duration,
    /// The last `retry:` the server sent: the reconnection time from then on, which the next
    /// connection's events carry until the server sends another (as [`Event::retry`] says).
    server_retry: Option<Duration>,
    max_retry: Duration,
    max_attempts: u32,
    failures: u32,
    /// Clean ends in a row, each within [`QUICK_END`] of its connection, without an event:
    /// they back off, but are no failures.
    quiet_ends: u32,
    /// When the current (or last) stream was opened.
    connected_at: Instant,
    connections: u32,
    on_reconnect: Option<ReconnectHook>,
    /// Where each connection's worker leaves the parser's last event ID and `retry:`.
    resume: Arc<Mutex<Resume>>,
    /// What the stop handles reach, and the wake-up of a wait they cut short.
    stop: Arc<SourceStop>,
    woken: Receiver<()>,
    /// Iterated in a job: wakes a wait for a reconnection when that job is cancelled.
    watch: crate::exec::JobWatch,
}

/// What an event source's [`StopHandle`]s reach: the flag, the open stream's own handle, and
/// the wait for a reconnection, which a stop cuts short.
#[derive(Debug)]
pub(crate) struct SourceStop {
    stopped: AtomicBool,
    current: Mutex<Option<StopHandle>>,
    /// The connection attempt in progress, which a stop cancels.
    connecting: Mutex<Option<crate::exec::JobHandle>>,
    wake: Sender<()>,
}

impl SourceStop {
    /// Stops the source: its open stream, its wait, and every later attempt.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(stream) = self.current.lock().ok().and_then(|c| c.clone()) {
            stream.stop();
        }
        if let Some(attempt) = self.connecting.lock().ok().and_then(|c| c.clone()) {
            attempt.cancel();
        }
        let _ = self.wake.try_send(());
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Makes `stream` the one a stop reaches; stops it at once if a stop came first.
    fn set_current(&self, stream: Option<StopHandle>) {
        if let Ok(mut current) = self.current.lock() {
            current.clone_from(&stream);
        }
        // `stop` sets the flag before it looks at `current`: one of the two sees the other.
        if let Some(stream) = stream.filter(|_| self.is_stopped()) {
            stream.stop();
        }
    }

    /// Makes `attempt` the connection attempt a stop cancels; cancels it at once if a stop came
    /// first.
    fn set_connecting(&self, attempt: Option<crate::exec::JobHandle>) {
        if let Ok(mut connecting) = self.connecting.lock() {
            connecting.clone_from(&attempt);
        }
        if let Some(attempt) = attempt.filter(|_| self.is_stopped()) {
            attempt.cancel();
        }
    }
}

/// The callback of [`EventSource::on_reconnect`].
type ReconnectHook = Box<dyn FnMut(&Reconnect<'_>) + Send>;

/// What [`EventSource::on_reconnect`]'s callback is told before each wait for a reconnection.
///
/// `attempt` counts the consecutive attempts of the current run of failures, the one about to be
/// made included: after a clean end of the stream, or a cut of one that worked a while, it is
/// 1; after the third failure in a row it is 4. The source gives up once `max_attempts`
/// attempts in a row have failed.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/events", "text/event-stream", "id: 1\ndata: hello\n\n")]);
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use ureq_futures::FuturesSession;
///
/// // A server that sends one event and closes the stream, each time.
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let seen = Arc::clone(&log);
/// let source = FuturesSession::new()
///     .get(format!("{base}/events"))
///     .event_source()
///     .initial_retry(Duration::from_millis(10))
///     .on_reconnect(move |r| {
///         let why = r.error.map_or("the server ended the stream".to_string(), |e| e.to_string());
///         eprintln!("attempt {} of {} in {:?}: {why}", r.attempt, r.max_attempts, r.delay);
///         seen.lock().unwrap().push((r.attempt, r.error.is_none(), r.last_event_id.map(String::from)));
///     });
/// let events: Vec<_> = source.take(2).collect::<Result<_, _>>()?;
/// assert_eq!(events.len(), 2);
/// assert_eq!(log.lock().unwrap()[0], (1, true, Some("1".to_string())));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Reconnect<'a> {
    /// The attempt about to be made, from 1 to `max_attempts`.
    pub attempt: u32,
    /// [`EventSource::max_attempts`]: the source ends after that many failures in a row.
    pub max_attempts: u32,
    /// How long the source waits before that attempt.
    pub delay: Duration,
    /// Why it reconnects: the error that ended or refused the last connection, or `None` when the
    /// server ended the stream cleanly.
    pub error: Option<&'a Error>,
    /// The `Last-Event-ID` the next request carries, if any: not an ID that cannot be a header
    /// value (a control character), which is not sent (see [`EventSource::last_event_id`]).
    pub last_event_id: Option<&'a str>,
}

impl fmt::Debug for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSource")
            .field("url", &crate::redact_url(&self.template.url))
            .field("connected", &self.current.is_some())
            .field("last_event_id", &self.last_event_id)
            .field("retry", &self.retry())
            .field("connections", &self.connections)
            .finish()
    }
}

impl EventSource {
    pub(crate) fn new(session: FuturesSession, mut template: Spec) -> Self {
        let refused = match template.error.take() {
            Some(e) => Some(*e),
            None if template.method != "GET" => Some(Error::InvalidRequest(format!(
                "an event source reconnects GET requests only, not {}",
                template.method
            ))),
            None => template
                .body
                .as_ref()
                .and_then(Payload::why_not_replayable)
                .map(|why| {
                    Error::InvalidRequest(format!(
                        "an event source sends its request again on each reconnection, and {why}"
                    ))
                }),
        };
        // A `Last-Event-ID` the caller set (to resume where an earlier run stopped), on the
        // request or else as the session's default header, is the ID in force on the first
        // connection; each connection then sends the one in force, once, and none after the
        // server reset it (not the session's default: `Spec::resumes`). One that cannot be a
        // header value is refused, as any request's: sent without it, the server would replay
        // the stream from its start.
        let mut given = None;
        template.headers.retain(|(name, value)| {
            let ours = name.eq_ignore_ascii_case("last-event-id");
            if ours {
                given = Some(crate::config::parse_header(name, value).map(|_| value.clone()));
            }
            !ours
        });
        template.resumes = true;
        let (given, refused) = match given.or_else(|| session.default_header("last-event-id")) {
            Some(Ok(id)) => (Some(id), refused),
            Some(Err(why)) => (None, refused.or(Some(Error::InvalidRequest(why)))),
            None => (None, refused),
        };
        let (wake, woken) = crossbeam_channel::bounded(1);
        let stop = Arc::new(SourceStop {
            stopped: AtomicBool::new(false),
            current: Mutex::new(None),
            connecting: Mutex::new(None),
            wake,
        });
        EventSource {
            resume: Arc::default(),
            stop,
            woken,
            watch: crate::exec::JobWatch::default(),
            session,
            template,
            options: StreamOptions::default(),
            current: None,
            refused,
            done: false,
            id_given: given.is_some(),
            last_event_id: given.filter(|id| !id.is_empty()).map(SmolStr::from),
            initial_retry: DEFAULT_INITIAL_RETRY,
            server_retry: None,
            max_retry: DEFAULT_MAX_RETRY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            failures: 0,
            quiet_ends: 0,
            connected_at: Instant::now(),
            connections: 0,
            on_reconnect: None,
        }
    }

    /// The reconnection time until the server sends a `retry:` field.
    /// Defaults to [`DEFAULT_INITIAL_RETRY`] (3 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let source = session.get("https://example.com/events").event_source().initial_retry(Duration::from_secs(1));
    /// ```
    pub fn initial_retry(mut self, d: Duration) -> Self {
        self.initial_retry = d;
        self
    }

    /// The longest wait between two attempts: the cap of the backoff and of a server's `retry:`.
    /// Defaults to [`DEFAULT_MAX_RETRY`] (60 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let source = session.get("https://example.com/events").event_source().max_retry(Duration::from_secs(30));
    /// ```
    pub fn max_retry(mut self, d: Duration) -> Self {
        self.max_retry = d;
        self
    }

    /// Consecutive failed attempts (connects, cuts, retryable statuses) before the source yields
    /// the last error and ends; at least 1. Defaults to [`DEFAULT_MAX_ATTEMPTS`] (10). A cut
    /// after a whole line of the body (an event's, a keep-alive comment) starts a new run: it
    /// counts as the first of its run (see the reconnection rules on [`EventSource`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let source = session.get("https://example.com/events").event_source().max_attempts(3);
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Options of each stream (channel capacity, parser limits, content-type check). Defaults
    /// to [`StreamOptions::default()`], which reads an answer labelled `text/plain`, or without
    /// a content type, as events, as the Python SDKs and `sseclient` do, where the HTML
    /// standard's EventSource fails such a connection (see
    /// [`require_event_stream`](StreamOptions::require_event_stream)).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::StreamOptions;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let source = session
    ///     .get("https://example.com/events")
    ///     .event_source()
    ///     .options(StreamOptions::default().capacity(16));
    /// ```
    pub fn options(mut self, options: StreamOptions) -> Self {
        // A parser started with an ID (`Parser::with_last_event_id`) names the ID in force on
        // the first connection, as the request's own `Last-Event-ID` does (which wins): it was
        // sent only once the first stream ended, and the first connection replayed the stream
        // from its start.
        if self.connections == 0 && !self.id_given {
            self.last_event_id = options.started_last_event_id().map(SmolStr::from);
        }
        self.options = options;
        self
    }

    /// Calls `f` before each wait for a reconnection, on the thread that iterates, with the
    /// attempt about to be made, the wait and the reason ([`Reconnect`]): to log what a source
    /// does while it shows no events, or to count. Not called when the source gives up (the
    /// error is then its last item). None by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// // A port where nothing listens: every attempt is refused.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let session = FuturesSession::new();
    /// let mut lines = Vec::new();
    /// let source = session
    ///     .get(format!("http://127.0.0.1:{port}/events"))
    ///     .event_source()
    ///     .initial_retry(Duration::from_millis(10))
    ///     .max_attempts(3)
    ///     .on_reconnect(|r| {
    ///         eprintln!("attempt {} of {} in {:?}: {:?}", r.attempt, r.max_attempts, r.delay, r.error);
    ///     });
    /// for item in source {
    ///     // The third refusal in a row ends the source with that error.
    ///     lines.push(item.is_err());
    /// }
    /// assert_eq!(lines, [true]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_reconnect(mut self, f: impl FnMut(&Reconnect<'_>) + Send + 'static) -> Self {
        self.on_reconnect = Some(Box::new(f));
        self
    }

    /// The last event ID received (at first, the request's own `Last-Event-ID`, or the
    /// session's default one, if any), sent as
    /// `Last-Event-ID` on reconnection. Once the source has ended, a stop included, it is the ID
    /// in force at the end (set by a block without data too): the one to resume from in a
    /// later run, as the request's `Last-Event-ID`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "id: 7\ndata: x\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut source = session.get(format!("{base}/events")).event_source();
    /// source.next().unwrap()?;
    /// assert_eq!(source.last_event_id(), Some("7"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// How many connections were tried so far (1 plus the reconnections), those that failed
    /// (refused, answered with a status to retry) included.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: x\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut source = session.get(format!("{base}/events")).event_source();
    /// source.next().unwrap()?;
    /// assert_eq!(source.connections(), 1);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// A handle that stops this source from another thread, for Ctrl-C: the read, the connection
    /// attempt or the wait for a reconnection in progress ends at once, and the source's last
    /// item is `Err(Error::Cancelled)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "retry: 60000\ndata: a\n\n")]);
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// // The server sends one event and closes, asking for a minute before the reconnection.
    /// let mut source = FuturesSession::new().get(format!("{base}/events")).event_source();
    /// let stop = source.stop_handle(); // Send + Clone: give it to a Ctrl-C handler
    /// assert_eq!(source.next().unwrap()?.data, "a");
    /// std::thread::spawn(move || stop.stop());
    /// // The minute's wait is cut short.
    /// assert!(matches!(source.next(), Some(Err(Error::Cancelled))));
    /// assert!(source.next().is_none());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle::of_source(Arc::clone(&self.stop))
    }

    /// The reconnection time: the server's last `retry:`, else the initial one.
    fn retry(&self) -> Duration {
        self.server_retry.unwrap_or(self.initial_retry)
    }

    /// The wait before the next attempt: the reconnection time, doubled per consecutive failure,
    /// and up to 40% more at random, never over `max_retry`. Never less than the reconnection
    /// time the standard says to wait (under `max_retry`): the jitter only adds, as its
    /// "optionally, wait some more" allows.
    fn backoff(&self, failures: u32) -> Duration {
        let retry = self.retry();
        // Doubled up to where the jitter still fits under `max_retry`, so that waits at the
        // cap are spread too. From 1 ms at least: a `retry: 0` doubled stays 0, and a server
        // that sends it and closes at once would be reconnected to in a busy loop.
        let base = if failures > 0 {
            retry.max(Duration::from_millis(1))
        } else {
            retry
        };
        let doubled = exponential(base, failures, self.max_retry.div_f64(1.4));
        let least = retry.min(self.max_retry);
        jittered_up(doubled).max(least).min(self.max_retry)
    }

    fn connect(&mut self) -> Result<EventStream, Error> {
        let mut spec = self.template.duplicate();
        let mut options = self.options.clone().report_to(Arc::clone(&self.resume));
        if let Some(id) = &self.last_event_id {
            // Not sent when it cannot be a header value; the parser still keeps it.
            if let Some(id) = sendable(id) {
                // A line longer than the connection's write buffer fails once the lines before
                // it are written: the server would get a request cut short. No attempt could
                // send it, and one without the ID would resume from elsewhere.
                let room = self.session.stream_head_line_room();
                if "last-event-id: \r\n".len() + id.len() > room {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "the event source at {} cannot connect: its last event ID (the \
                             server's, the request's own Last-Event-ID, or its parser's) is {} \
                             bytes long, \
                             too long for the Last-Event-ID header of an event stream's \
                             request (a head line holds at most \
                             {} bytes: the stream connections' write buffer, at most 8 KiB unless \
                             SessionBuilder::stream_buffer_size sets it; most servers refuse \
                             longer lines); nothing was sent",
                            crate::redact_url(&self.template.url),
                            crate::phase::grouped(id.len() as u64),
                            crate::phase::grouped(room as u64),
                        ),
                    )));
                }
                spec.headers.push(("last-event-id".into(), id.to_string()));
            }
        }
        self.connections += 1;
        // The ID and the server's `retry:` stay in force on the new connection until the
        // server sets others.
        if self.last_event_id.is_some() || self.server_retry.is_some() {
            let id = self.last_event_id.as_deref().unwrap_or_default();
            options = options.resume_after(id, self.server_retry);
        }
        let attempt = RequestBuilder::from_parts(self.session.clone(), spec).events_with(options);
        self.stop.set_connecting(Some(attempt.job()));
        let result = attempt.result();
        self.stop.set_connecting(None);
        result
    }

    /// Takes in what the worker left when the stream ended: the last event ID in force and
    /// the server's `retry:`, which blocks without data and lines of their own set too.
    /// Returns whether the stream's body brought a whole line.
    fn absorb_resume(&mut self) -> bool {
        let Ok(mut resume) = self.resume.lock() else {
            return false;
        };
        self.last_event_id =
            (!resume.last_event_id.is_empty()).then(|| SmolStr::new(&resume.last_event_id));
        if resume.retry.is_some() {
            self.server_retry = resume.retry;
        }
        std::mem::take(&mut resume.whole_line)
    }

    /// Waits `delay` before a reconnection; `false` when a stop cut it short, or a cancel of
    /// the job that iterates the source (a `submit` closure's: `Pending::cancel`,
    /// `shutdown_now` of its session). A shutdown of the source's session cuts it short too,
    /// and returns `true`: the attempt that follows is refused with [`Error::ShutDown`] at
    /// once, and that ends the source.
    fn wait(&mut self, delay: Duration) -> bool {
        let wake = &self.stop.wake;
        let cancelled = self.watch.watch(|| {
            let wake = wake.clone();
            move || {
                let _ = wake.try_send(());
            }
        });
        if self.stop.is_stopped() || cancelled {
            return false;
        }
        let halted = self.session.halted();
        crossbeam_channel::select! {
            recv(self.woken) -> _ => {}
            recv(halted) -> _ => {}
            default(delay) => {}
        }
        !self.stop.is_stopped() && !self.watch.fired()
    }

    /// Ends the source after a stop.
    fn stopped(&mut self) -> Option<Result<Event, Error>> {
        self.done = true;
        self.current = None;
        self.stop.set_current(None);
        Some(Err(Error::Cancelled))
    }
}

/// `id`, if it can be sent as a `Last-Event-ID` header (no control character).
fn sendable(id: &str) -> Option<&str> {
    ureq::http::HeaderValue::from_bytes(id.as_bytes())
        .is_ok()
        .then_some(id)
}

/// Whether a failure to connect is worth another attempt.
fn retryable(e: &Error) -> bool {
    match e {
        Error::Status(s) => is_retryable_status(s.status),
        // A request body's file that cannot be read is not the network's doing, nor a request
        // this side cannot write (a `Last-Event-ID` longer than the stream's head line):
        // another attempt would fail the same way.
        Error::Io(e) => !crate::retry::is_local_failure(e),
        // A proxy that refused the tunnel for good (a 407: it wants credentials) would refuse
        // every attempt.
        Error::Transport(ureq::Error::ConnectProxyFailed(reason)) => {
            crate::phase::transient_proxy_refusal(reason)
        }
        // A redirect loop may be a server's passing state: reconnected to, as browsers do
        // after any network error.
        Error::Transport(_) | Error::Timeout(_) | Error::TooManyRedirects { .. } => true,
        _ => false,
    }
}

impl Iterator for EventSource {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.refused.take() {
            self.done = true;
            return Some(Err(e));
        }
        while !self.done {
            // A stream open when the stop came is read to its end, which the stop makes come
            // at once: its buffered events are handed out, and its worker's report of the ID
            // in force is taken in.
            if self.stop.is_stopped() && self.current.is_none() {
                return self.stopped();
            }
            if let Some(stream) = &mut self.current {
                match stream.next() {
                    Some(Ok(event)) => {
                        self.failures = 0;
                        self.quiet_ends = 0;
                        // The parser carries the ID across connections, so `None` is a reset.
                        self.last_event_id.clone_from(&event.id);
                        if event.retry.is_some() {
                            self.server_retry = event.retry;
                        }
                        return Some(Ok(event));
                    }
                    // A clean end: reconnect after the reconnection time, no backoff. It is
                    // no failure: the next one starts a new run (`max_attempts`).
                    None => {
                        self.current = None;
                        self.failures = 0;
                        self.absorb_resume();
                        // Stopped while it was read to its end: no reconnection to tell of.
                        if self.stop.is_stopped() {
                            return self.stopped();
                        }
                        // Streams that end at once, without an event between them, back off
                        // as failures do: a server that closes at once is not reconnected to
                        // in a loop. One that stayed open a while (keep-alive comments, then
                        // an idle timeout) did not end at once.
                        if self.connected_at.elapsed() >= QUICK_END {
                            self.quiet_ends = 0;
                        }
                        let delay = self.backoff(self.quiet_ends);
                        self.quiet_ends += 1;
                        self.tell(delay, None);
                        if !self.wait(delay) {
                            return self.stopped();
                        }
                    }
                    // The stream's worker left its state before this last item: the ID in
                    // force is the one to resume from, in a later run too.
                    Some(Err(_)) if self.stop.is_stopped() => {
                        self.absorb_resume();
                        return self.stopped();
                    }
                    // Stopped by its session (`shutdown_now`): nothing to reconnect for.
                    Some(Err(Error::Cancelled)) => {
                        self.absorb_resume();
                        return self.stopped();
                    }
                    // An untyped body that is a page or a JSON document, not a stream (found
                    // on its first byte): the wrong content type, which ends the source as it
                    // does when the head says so; so does a JSON error document in place of
                    // the stream (`Error::Api`, the one error of an event source's stream
                    // that comes from the server's words).
                    Some(Err(e @ (Error::UnexpectedContentType { .. } | Error::Api { .. }))) => {
                        self.current = None;
                        self.done = true;
                        return Some(Err(e));
                    }
                    Some(Err(e)) => {
                        self.current = None;
                        let worked = self.absorb_resume();
                        // A connection cut or stalled after its body brought a whole line (an
                        // event's, a keep-alive comment) and stayed open a while was working: a
                        // proxy's idle timeout, not a server that fails. It is no failure: the
                        // reconnection is the first attempt of a new run, after the
                        // reconnection time, as after a clean end; browsers reconnect after
                        // network errors for ever. One cut at once counts, as a clean end at
                        // once backs off: a server that sends `retry: 0` and a comment, then
                        // resets, is no busy loop.
                        if worked
                            && self.connected_at.elapsed() >= QUICK_END
                            && matches!(e, Error::Io(_) | Error::Timeout(_))
                        {
                            self.failures = 0;
                            self.quiet_ends = 0;
                            let delay = self.backoff(0);
                            self.tell(delay, Some(&e));
                            if !self.wait(delay) {
                                return self.stopped();
                            }
                            continue;
                        }
                        if let Some(fatal) = self.fail(e) {
                            return Some(Err(fatal));
                        }
                    }
                }
                continue;
            }
            match self.connect() {
                Err(_) if self.stop.is_stopped() => return self.stopped(),
                Ok(stream) if stream.status() == 204 => self.done = true,
                // The standard fails the connection on any status but 200.
                Ok(stream) if stream.status() != 200 => {
                    self.done = true;
                    return Some(Err(Error::Protocol(format!(
                        "the event source at {} answered {}, not 200: the connection fails \
                         and is not reopened",
                        crate::redact_url(stream.url()),
                        stream.status()
                    ))));
                }
                Ok(stream) => {
                    self.follow(&stream);
                    self.stop.set_current(Some(stream.stop_handle()));
                    self.current = Some(stream);
                    self.connected_at = Instant::now();
                }
                Err(e) if retryable(&e) => {
                    if let Some(fatal) = self.fail(e) {
                        return Some(Err(fatal));
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl EventSource {
    /// Makes the URL where `stream`'s connection ended up the URL of the next ones when
    /// redirects led there within the origin of the request, as the standard's reconnection
    /// reuses the request with its redirects (the URL carries the query of the last one). A
    /// redirect to another origin is followed again on each connection: the request's
    /// credentials must not go there, nor to a URL of the request's origin that the other
    /// origin chose (out and back, `A -> B -> A/?chosen-by-B`).
    fn follow(&mut self, stream: &EventStream) {
        if stream.left_origin {
            return;
        }
        let url = stream.url();
        let Ok(asked) = crate::url::build(self.template.url.clone(), &self.template.query) else {
            return;
        };
        let Ok(reached) = url.parse::<ureq::http::Uri>() else {
            return;
        };
        if reached != asked && crate::redirect::same_origin(&asked, &reached) {
            // The redirects kept the credentials of the URL's user-info (as its
            // `Authorization`) where an absolute `Location` named none: so do the next
            // connections. The `Cookie` header is built as the redirect's hop built it.
            self.template.url = match (
                crate::url::user_info(&asked),
                crate::url::user_info(&reached),
            ) {
                (Some(info), None) => url.replacen("://", &format!("://{info}@"), 1),
                _ => url.to_string(),
            };
            self.template.query.clear();
            self.template.followed = true;
        }
    }

    /// Counts a failure; waits before the next attempt, or returns the error to end with.
    fn fail(&mut self, e: Error) -> Option<Error> {
        self.failures += 1;
        if self.failures >= self.max_attempts {
            self.done = true;
            // Says that it ends a run of failures, and the limit: `(after 10 attempts in a
            // row, the most EventSource::max_attempts allows)`.
            let note = format!(
                "after {} in a row, the most EventSource::max_attempts allows",
                crate::phase::attempts_note(self.failures, crate::phase::Stopped::Other)
                    .trim_start_matches("after ")
            );
            return Some(crate::phase::with_note(e, note));
        }
        let mut delay = self.backoff(self.failures);
        // A 429 or 503 may say how long to wait: longer than the backoff, up to `max_retry`.
        if let Error::Status(status) = &e {
            if let Some(asked) = retry_after(&status.headers, std::time::SystemTime::now()) {
                delay = delay.max(asked.min(self.max_retry));
            }
        }
        self.tell(delay, Some(&e));
        if !self.wait(delay) {
            return self.stopped().and_then(Result::err);
        }
        None
    }

    /// Calls the `on_reconnect` callback, if any, before a wait of `delay`.
    fn tell(&mut self, delay: Duration, error: Option<&Error>) {
        if let Some(f) = &mut self.on_reconnect {
            f(&Reconnect {
                attempt: self.failures + 1,
                max_attempts: self.max_attempts,
                delay,
                error,
                last_event_id: self.last_event_id.as_deref().and_then(sendable),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_source_has_the_documented_defaults() {
        let source = FuturesSession::new()
            .get("http://127.0.0.1:1/events")
            .event_source();
        assert_eq!(source.retry(), Duration::from_secs(3));
        assert_eq!(source.max_retry, Duration::from_secs(60));
        assert_eq!(source.max_attempts, 10);
        assert_eq!(source.options.capacity, 64);
        // The waits: 3 s to 4.2 s after a clean end (never less than the reconnection time),
        // never past 60 s however many failures.
        for _ in 0..100 {
            let first = source.backoff(0);
            assert!(
                first >= Duration::from_millis(3000) && first <= Duration::from_millis(4200),
                "{first:?}"
            );
            assert!(source.backoff(30) <= Duration::from_secs(60));
            assert!(source.backoff(30) >= Duration::from_secs(42));
        }
        // Waits at the cap are spread, not all 60 s.
        let waits: std::collections::HashSet<Duration> =
            (0..100).map(|_| source.backoff(30)).collect();
        assert!(waits.len() > 10, "{waits:?}");
        // A server's reconnection time near the cap is still the least wait.
        let mut near = source;
        near.initial_retry = Duration::from_secs(50);
        for _ in 0..100 {
            let wait = near.backoff(0);
            assert!(wait >= Duration::from_secs(50) && wait <= Duration::from_secs(60));
        }
    }
}
