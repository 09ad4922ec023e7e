//! `EventStream`: events that a worker reads and parses, delivered over a bounded channel.
//!
//! # Who does what
//!
//! The worker that made the request keeps the response body, reads it with plain `read()` calls
//! (each returns as soon as the socket has bytes), feeds them to a [`Parser`] and sends each event
//! into a bounded channel the moment its blank line has been parsed. The caller iterates the
//! [`EventStream`] (or `select!`s on its [`receiver`](EventStream::receiver)).
//!
//! # Backpressure and drop
//!
//! The channel holds at most [`StreamOptions::capacity`] events. When it is full the worker
//! blocks in `send`, stops reading, and the kernel's socket buffers fill until TCP throttles the
//! server: a slow consumer costs a bounded amount of memory. The bound counts events, not bytes:
//! the capacity times the largest event the parser takes ([`Parser::max_event_size`], 16 MiB by
//! default), so up to 1 GiB for a stream of events near that size that nobody reads (and
//! [`DEFAULT_MAP_CAPACITY`](super::DEFAULT_MAP_CAPACITY) of them for a [`StreamMap`](super::StreamMap)).
//! Small events (an LLM's are a few hundred bytes) hold a few KiB; for large ones, lower the
//! capacity or `max_event_size`. A byte budget would need the consumer's side to count what it
//! takes, which a channel handed out raw ([`EventStream::into_receiver`]) cannot.
//!
//! Dropping the stream sets a flag that the worker checks after every read, and interrupts the
//! worker's job: a read blocked on a silent server returns at once (the session's transport
//! shuts its connection down), and a worker waiting for room in the full channel looks at the
//! flag every [`SEND_POLL`]. The worker then stops: it drops the response body, which closes
//! the connection (a half-read connection is never returned to the agent's pool), and is free.
//! With an agent of the caller's own (`SessionBuilder::agent`) the read cannot be interrupted:
//! the worker notices after its next read (a keep-alive comment is enough) or when the read
//! timeout runs out.

use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use ureq::http::HeaderMap;

use super::{Event, EventRef, LineParser, Parser};
use crate::Error;

/// Events a stream's channel holds before the worker waits for the caller: 64.
///
/// # Examples
///
/// ```
/// assert_eq!(ureq_futures::sse::DEFAULT_CHANNEL_CAPACITY, 64);
/// ```
pub const DEFAULT_CHANNEL_CAPACITY: usize = 64;

/// The largest [`StreamOptions::capacity`]. A bounded channel allocates its slots when it is
/// made: a capacity meant as "no limit" would fail the stream ("capacity is too large") or,
/// a little smaller, abort the process on a failed allocation.
pub(crate) const MAX_CHANNEL_CAPACITY: usize = 1 << 16;

/// How an event stream is read. Pass to
/// [`RequestBuilder::events_with`](crate::RequestBuilder::events_with).
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::{Parser, StreamOptions};
///
/// let options = StreamOptions::default()
///     .capacity(16)
///     .parser(Parser::new().max_event_size(1 << 20))
///     .require_event_stream(false);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub(crate) capacity: usize,
    pub(crate) framing: Framing,
    pub(crate) require_event_stream: bool,
    /// A JSON document with a 2xx in place of the stream is the answer, read as one event
    /// (see [`json_answer`](StreamOptions::json_answer)).
    #[cfg(feature = "llm")]
    pub(crate) json_answer: bool,
    /// Where the worker leaves the parser's state when the body ends (an `EventSource`'s).
    pub(crate) resume: Option<Arc<Mutex<Resume>>>,
}

/// The parser's state when a stream's body ended, for the reconnection that follows: the last
/// event ID and the reconnection time in force. Both can change without an event the caller
/// sees (`id:` in a block without data, a `retry:` line on its own), so a reconnecting source
/// reads them here rather than from its events.
#[derive(Debug, Default)]
pub(crate) struct Resume {
    pub(crate) last_event_id: String,
    pub(crate) retry: Option<Duration>,
    /// The stream's body brought a whole line (an event's, a keep-alive comment): a stream cut
    /// after that (a proxy's idle timeout) was working.
    pub(crate) whole_line: bool,
}

/// How the body is cut into events.
#[derive(Debug, Clone)]
pub(crate) enum Framing {
    /// Server-Sent Events. (Boxed: the parser is several times the size of a `LineParser`.)
    EventStream {
        parser: Box<Parser>,
        /// A JSON object may come on lines outside any event (see
        /// [`ObjectLines`](super::objects::ObjectLines)).
        #[cfg(feature = "llm")]
        objects: bool,
    },
    /// One event per line (NDJSON).
    Lines(LineParser),
}

impl Framing {
    /// Server-Sent Events read by `parser`, as the spec reads them.
    fn events(parser: Parser) -> Framing {
        Framing::EventStream {
            parser: Box::new(parser),
            #[cfg(feature = "llm")]
            objects: false,
        }
    }
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            capacity: DEFAULT_CHANNEL_CAPACITY,
            framing: Framing::events(Parser::default()),
            require_event_stream: true,
            #[cfg(feature = "llm")]
            json_answer: false,
            resume: None,
        }
    }
}

impl StreamOptions {
    /// Events buffered between the worker and the caller, at least 1 and at most 65,536.
    /// Defaults to [`DEFAULT_CHANNEL_CAPACITY`] (64).
    ///
    /// The channel reserves room for all of them (about 100 bytes an event) when the stream
    /// opens, so a larger value (`usize::MAX` meant as "no limit") is held to 65,536.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::StreamOptions;
    ///
    /// let options = StreamOptions::default().capacity(256);
    /// ```
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events.clamp(1, MAX_CHANNEL_CAPACITY);
        self
    }

    /// The parser to use, for its limits and its end-of-stream behaviour.
    /// Defaults to [`Parser::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::{Parser, StreamOptions};
    ///
    /// let options = StreamOptions::default().parser(Parser::new().max_event_size(1 << 20));
    /// ```
    pub fn parser(mut self, parser: Parser) -> Self {
        self.framing = Framing::events(parser);
        self
    }

    /// Reads a newline-delimited stream (NDJSON, JSON Lines) instead of Server-Sent Events: each
    /// non-blank line is an [`Event`] whose `data` is the line (see [`LineParser`]). The request
    /// then asks for `Accept: application/x-ndjson` and any content type is accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/logs", "application/x-ndjson", "{\"n\":1}\n")]);
    /// use ureq_futures::sse::StreamOptions;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let stream = session
    ///     .get(format!("{base}/logs"))
    ///     .events_with(StreamOptions::default().json_lines())
    ///     .result()?;
    /// let lines: Vec<String> = stream.map(|e| e.map(|e| e.data)).collect::<Result<_, _>>()?;
    /// assert_eq!(lines, [r#"{"n":1}"#]);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn json_lines(self) -> Self {
        self.line_parser(LineParser::new())
    }

    /// [`json_lines`](StreamOptions::json_lines) with a parser of other limits.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::{LineParser, StreamOptions};
    ///
    /// let options = StreamOptions::default().line_parser(LineParser::new().max_line_size(1 << 20));
    /// ```
    pub fn line_parser(mut self, parser: LineParser) -> Self {
        self.framing = Framing::Lines(parser);
        self.require_event_stream = false;
        self
    }

    /// Reads a JSON object sent on lines of its own outside any event as an event's data (see
    /// [`ObjectLines`](super::objects::ObjectLines)): how Google reports a failure after its
    /// answer has begun. For an event stream; a newline-delimited one is left as it is.
    #[cfg(feature = "llm")]
    pub(crate) fn object_lines(mut self) -> Self {
        if let Framing::EventStream { objects, .. } = &mut self.framing {
            *objects = true;
        }
        self
    }

    /// Reads a whole `chat.completion` (a `message` in its first choice) sent as JSON with a
    /// 2xx in place of the stream (`application/json`, or a `+json` type) as the data of one
    /// event, rather than refusing it: the whole answer of a server that ignores
    /// `"stream": true` (some OpenAI-compatible proxies), which the decoder reads as it reads
    /// a chunk. An error document is still the stream's [`Error::Api`](crate::Error::Api), and
    /// another document [`Error::UnexpectedContentType`](crate::Error::UnexpectedContentType).
    /// (See `run::json_answer_as_event`; an event stream pays nothing for this.)
    #[cfg(feature = "llm")]
    pub(crate) fn json_answer(mut self) -> Self {
        self.json_answer = true;
        self
    }

    /// The most bytes an event may hold: its parser's
    /// [`max_event_size`](Parser::max_event_size), or a newline-delimited line's limit.
    #[cfg(feature = "llm")]
    pub(crate) fn max_event_size(&self) -> usize {
        match &self.framing {
            Framing::EventStream { parser, .. } => parser.max_size(),
            Framing::Lines(lines) => lines.max_size(),
        }
    }

    /// Seeds the event-stream parser with the last event ID and the server's `retry:` of an
    /// earlier connection.
    pub(crate) fn resume_after(mut self, last_event_id: &str, retry: Option<Duration>) -> Self {
        if let Framing::EventStream { parser, .. } = &mut self.framing {
            let seeded = std::mem::take(&mut **parser).with_last_event_id(last_event_id);
            **parser = match retry {
                Some(retry) => seeded.with_retry(retry),
                None => seeded,
            };
        }
        self
    }

    /// The last event ID its parser was started with ([`Parser::with_last_event_id`]), if any.
    pub(crate) fn started_last_event_id(&self) -> Option<&str> {
        match &self.framing {
            Framing::EventStream { parser, .. } => {
                Some(parser.last_event_id()).filter(|id| !id.is_empty())
            }
            Framing::Lines(_) => None,
        }
    }

    /// Has the worker leave the parser's state in `resume` when the body ends, before the
    /// stream's last item.
    pub(crate) fn report_to(mut self, resume: Arc<Mutex<Resume>>) -> Self {
        self.resume = Some(resume);
        self
    }

    /// Whether the stream is newline-delimited rather than Server-Sent Events.
    pub(crate) fn is_json_lines(&self) -> bool {
        matches!(self.framing, Framing::Lines(_))
    }

    /// Whether a response whose content type is another than `text/event-stream` is an
    /// [`Error::UnexpectedContentType`]. Defaults to `true` (`false` after
    /// [`json_lines`](StreamOptions::json_lines)).
    ///
    /// A response without a `Content-Type`, or with `text/plain`, is read as an event stream
    /// all the same: the Python SDKs and `sseclient` parse whatever a 200 streams, mock servers
    /// (mockito) send no content type unless told to. Such a body that starts (after white
    /// space) with `{`, `[` or `<` is a JSON document or a page, never an event stream: the
    /// stream's first item is then the same error. Another type (an HTML page, a JSON document)
    /// means the wrong URL, or a server that does not stream, and the error says so. (Browsers'
    /// `EventSource` is stricter: it fails without `text/event-stream`.)
    ///
    /// A JSON error document in place of the stream, whatever its type (`{"error": {"message":
    /// ...}}` with a 200: a gateway whose model failed), is the server's [`Error::Api`], with its
    /// message and its code or type. Under `text/event-stream`, only such a document is
    /// refused, on the body's first read: any other line the WHATWG parser skips is skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::StreamOptions;
    ///
    /// // Accept a server that streams events as application/octet-stream.
    /// let options = StreamOptions::default().require_event_stream(false);
    /// ```
    pub fn require_event_stream(mut self, yes: bool) -> Self {
        self.require_event_stream = yes;
        self
    }
}

/// A stream of Server-Sent Events fed by a pool worker: an iterator of `Result<Event, Error>`.
///
/// It ends (`None`) when the server closes the stream cleanly. A connection cut mid-stream, a
/// stall past the read timeout or an over-long event is an `Err` item, after which the stream
/// ends. The response's status and headers stay readable.
///
/// A stream holds one worker of its session for as long as it is open: a session of 8 workers
/// reads at most 8 streams at once (more wait in the queue). Drop the stream to free its worker:
/// the read in progress is interrupted (its connection is shut down), so the worker is free at
/// once, on a silent server too. With an agent of your own
/// ([`SessionBuilder::agent`](crate::SessionBuilder::agent)) the connection cannot be shut
/// down: the worker notices after its next read (any bytes, a keep-alive comment included), or
/// when the read timeout ends a silent stream.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/events", "text/event-stream", "event: greeting\ndata: hello\n\n")]);
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let stream = session.get(format!("{base}/events")).events().result()?;
/// for event in stream {
///     let event = event?;
///     println!("{}: {}", event.event, event.data);
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[must_use = "dropped, it closes the stream: read it"]
pub struct EventStream<T = Event> {
    rx: Receiver<Result<T, Error>>,
    status: u16,
    headers: HeaderMap,
    url: String,
    /// Set when the stream is dropped, so that the worker stops even when nothing it reads
    /// becomes an event (keep-alive comments, skipped chunks).
    closed: Arc<AtomicBool>,
    /// The receiver was taken out: its own disconnection stops the worker.
    detached: bool,
    /// The worker's job, interrupted when the stream is dropped so that a read blocked on a
    /// silent server returns at once.
    job: Option<crate::exec::JobHandle>,
    /// Stops the worker when a job that reads the stream is cancelled.
    relay: CancelRelay,
    /// Set by the worker when it was stopped while the channel was full, so that its last
    /// item (`Err(Cancelled)`) could not be sent: the stream yields it after the buffered ones.
    cut: Arc<AtomicBool>,
    /// A redirect on the way here left the request's origin (its credentials were dropped):
    /// an [`EventSource`](crate::EventSource) does not reconnect to `url` straight.
    pub(crate) left_origin: bool,
}

/// Makes a cancel of the job that reads a stream (a stream read inside
/// [`submit`](crate::FuturesSession::submit), a `ChatBatch` chat) stop the stream's worker, as
/// the stream's [`StopHandle`] would: the reading job's cancel interrupts what that job blocks
/// on, and the read of the stream happens on another worker.
///
/// Registered once per reading job, before its first read; a read off the pool costs a
/// thread-local read and nothing else.
#[derive(Default)]
pub(crate) struct CancelRelay {
    relay: Option<Arc<StopRelay>>,
    /// The job the relay was last registered with; 0 for none.
    relayed_to: usize,
}

/// What a [`CancelRelay`] registers: a stop of the stream.
struct StopRelay(StopHandle);

impl crate::exec::Interrupt for StopRelay {
    fn interrupt(&self, _reading_job: usize) {
        self.0.stop();
    }
}

impl CancelRelay {
    /// Before a read: on a job's thread, makes sure a cancel of that job stops the stream
    /// (`stop` makes the handle that does). A job that is already cancelled stops it at once.
    #[inline]
    pub(crate) fn before_read(&mut self, stop: impl FnOnce() -> StopHandle) {
        let reading = crate::exec::current_job_id();
        if reading != self.relayed_to {
            self.relay_to(reading, stop);
        }
    }

    #[cold]
    #[inline(never)]
    fn relay_to(&mut self, reading: usize, stop: impl FnOnce() -> StopHandle) {
        self.relayed_to = reading;
        let Some(job) = crate::exec::current_job() else {
            return;
        };
        let relay = self
            .relay
            .get_or_insert_with(|| Arc::new(StopRelay(stop())));
        let weak = Arc::downgrade(relay);
        if !job.register(weak) {
            relay.0.stop();
        }
    }
}

impl fmt::Debug for CancelRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelRelay")
            .field("relayed_to", &self.relayed_to)
            .finish()
    }
}

/// Interrupts the worker that reads a stream when dropped: see
/// [`EventStream::into_receiver_and_stop`].
#[cfg(feature = "llm")]
#[derive(Debug, Default)]
pub(crate) struct StopReading(Option<crate::exec::JobHandle>, Arc<AtomicBool>);

#[cfg(feature = "llm")]
impl StopReading {
    /// A handle that stops the same worker from another thread.
    pub(crate) fn handle(&self) -> StopHandle {
        StopHandle(self.0.clone(), None, false)
    }

    /// Whether the worker was stopped with the channel full, so that its last item
    /// (`Err(Cancelled)`) was not sent; `true` once (see [`EventStream`]'s `cut`).
    pub(crate) fn take_cut(&self) -> bool {
        self.1.swap(false, Ordering::AcqRel)
    }
}

/// Stops a stream from another thread, for Ctrl-C: made by [`EventStream::stop_handle`] (and
/// by the LLM `ChatStream::stop_handle`), by [`BodyReader::stop_handle`](crate::BodyReader::stop_handle)
/// and by [`EventSource::stop_handle`](crate::EventSource::stop_handle).
///
/// [`stop`](StopHandle::stop) interrupts the worker that reads the stream, as dropping the
/// stream does, while the stream stays with its reader: the events already received are still
/// handed out, then its last item is `Err(Error::Cancelled)`. Clones stop the same stream. A
/// handle made with `default()` stops nothing.
///
/// For a [`BodyReader`](crate::BodyReader) it shuts the body's connection down: a read blocked
/// on it returns an error at once, and so does every later read; the error converts into
/// [`Error::Cancelled`] with `?`. A body already read to its end is not affected.
///
/// # Examples
///
/// ```
/// # use std::io::{Read, Write};
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let url = format!("http://{}/", listener.local_addr()?);
/// # std::thread::spawn(move || {
/// #     let (mut socket, _) = listener.accept().unwrap();
/// #     let _ = socket.read(&mut [0; 1024]);
/// #     let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: one\n\n");
/// #     while socket.read(&mut [0; 1024]).is_ok_and(|n| n > 0) {} // then silence, until the client goes away
/// # });
/// use ureq_futures::{Error, FuturesSession};
///
/// let session = FuturesSession::builder().max_workers(1).build();
/// let mut stream = session.get(url).events().result()?;
/// let stop = stream.stop_handle();
/// // Another thread (a Ctrl-C handler) stops the stream while this one waits for an event.
/// std::thread::spawn(move || stop.stop());
/// assert_eq!(stream.next().unwrap()?.data, "one");
/// assert!(matches!(stream.next(), Some(Err(Error::Cancelled))));
/// assert!(stream.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopHandle(
    Option<crate::exec::JobHandle>,
    /// An event source's: it also ends the source's waits and reconnections.
    Option<Arc<crate::source::SourceStop>>,
    /// The job may not have handed out its stream yet (a chat not started): a stop cancels it
    /// (queued, it never runs; waiting for its answer, its handle says `Cancelled`) before it
    /// interrupts a stream already handed out.
    bool,
);

impl StopHandle {
    /// A handle that interrupts `job`, or nothing.
    pub(crate) fn of(job: Option<crate::exec::JobHandle>) -> StopHandle {
        StopHandle(job, None, false)
    }

    /// A handle that stops `job` whether or not it has handed out its stream yet (see the
    /// third field).
    #[cfg(feature = "llm")]
    pub(crate) fn cancelling(job: crate::exec::JobHandle) -> StopHandle {
        StopHandle(Some(job), None, true)
    }

    /// Interrupts the worker reading the stream (see the [type docs](StopHandle)). Does nothing
    /// once the stream has ended. On a session built with an agent of your own
    /// ([`SessionBuilder::agent`](crate::SessionBuilder::agent)) the read in progress cannot be
    /// interrupted: the stream ends after its next read, or at the read timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let url = format!("http://{}/", listener.local_addr()?);
    /// # std::thread::spawn(move || {
    /// #     let (mut socket, _) = listener.accept().unwrap();
    /// #     let _ = socket.read(&mut [0; 1024]);
    /// #     let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: one\n\n");
    /// #     while socket.read(&mut [0; 1024]).is_ok_and(|n| n > 0) {} // then silence, until the client goes away
    /// # });
    /// use std::time::Duration;
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// // The read timeout only turns a broken `stop` into a failure instead of a hang.
    /// let request = FuturesSession::new().get(url).read_timeout(Duration::from_secs(10));
    /// let mut stream = request.events().result()?;
    /// assert_eq!(stream.next().unwrap()?.data, "one");
    /// stream.stop_handle().stop(); // enough: no waiting for the next event
    /// assert!(matches!(stream.next(), Some(Err(Error::Cancelled))));
    /// assert!(stream.next().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(&self) {
        if let Some(source) = &self.1 {
            source.stop();
        }
        if let Some(job) = &self.0 {
            // A cancel that takes interrupts the job itself.
            if !(self.2 && job.cancel()) {
                job.interrupt();
            }
        }
    }

    /// The handle of an event source: see [`SourceStop`](crate::source::SourceStop).
    pub(crate) fn of_source(source: Arc<crate::source::SourceStop>) -> StopHandle {
        StopHandle(None, Some(source), false)
    }
}

#[cfg(feature = "llm")]
impl Drop for StopReading {
    fn drop(&mut self) {
        if let Some(job) = &self.0 {
            job.interrupt();
        }
    }
}

/// The worker's end of a stream.
pub(crate) struct Feed<T> {
    tx: Sender<Result<T, Error>>,
    closed: Arc<AtomicBool>,
    /// The worker's job: once it is cancelled (a stop, `shutdown_now`), a full channel is not
    /// waited on.
    job: Option<crate::exec::JobHandle>,
    cut: Arc<AtomicBool>,
}

/// How often a worker that waits for room in a full channel looks whether its stream was
/// stopped or dropped: the longest such a stream holds its worker when the caller does not
/// read. (The other choice, a stop signal that a `select!` waits on beside the send, costs an
/// allocation and a registration per stream for a wait that only an unread stream ever does.)
pub(crate) const SEND_POLL: Duration = Duration::from_millis(20);

impl<T> Feed<T> {
    /// Makes a cancel of `job` (the worker's) end a wait for room in a full channel.
    pub(crate) fn stop_with(&mut self, job: crate::exec::JobHandle) {
        self.job = Some(job);
    }
}

/// What became of a message [`send_while`] was given.
pub(crate) enum Sent<M> {
    /// It is in the channel.
    Yes,
    /// Nobody receives any more.
    Gone,
    /// The channel stayed full until `stopped` said to give up: the message, back.
    Stopped(M),
}

/// Sends `message`, waiting for room in a full channel in [`SEND_POLL`] steps for as long as
/// `stopped` says no: a worker's send into a channel that nobody may read any more.
#[inline]
pub(crate) fn send_while<M>(tx: &Sender<M>, message: M, stopped: impl Fn() -> bool) -> Sent<M> {
    // Nearly always there is room at once, without the timer of `send_timeout`.
    match tx.try_send(message) {
        Ok(()) => Sent::Yes,
        Err(TrySendError::Disconnected(_)) => Sent::Gone,
        Err(TrySendError::Full(message)) => wait_for_room(tx, message, stopped),
    }
}

#[cold]
#[inline(never)]
fn wait_for_room<M>(tx: &Sender<M>, mut message: M, stopped: impl Fn() -> bool) -> Sent<M> {
    let _waiting = crate::exec::pool::waiting_for_reader();
    loop {
        if stopped() {
            return Sent::Stopped(message);
        }
        message = match tx.send_timeout(message, SEND_POLL) {
            Ok(()) => return Sent::Yes,
            Err(SendTimeoutError::Disconnected(_)) => return Sent::Gone,
            Err(SendTimeoutError::Timeout(back)) => back,
        };
    }
}

/// Where a worker's pump sends a stream's items: an [`EventStream`]'s channel ([`Feed`]), or
/// the one channel of a [`StreamMap`](super::StreamMap).
pub(crate) trait Sink<T> {
    /// Sends an item (an `Err` is the stream's last); `false` if nobody receives any more.
    fn send(&self, item: Result<T, Error>) -> bool;
    /// Whether the reader is gone, checked after every read.
    fn is_closed(&self) -> bool;
}

impl<T> Sink<T> for Feed<T> {
    fn send(&self, item: Result<T, Error>) -> bool {
        let stopped = || self.is_closed() || self.job.as_ref().is_some_and(|j| j.is_cancelled());
        match send_while(&self.tx, item, stopped) {
            Sent::Yes => true,
            Sent::Gone => false,
            Sent::Stopped(_) => {
                self.cut.store(true, Ordering::Release);
                false
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

impl<T> Drop for EventStream<T> {
    fn drop(&mut self) {
        if !self.detached {
            self.closed.store(true, Ordering::Relaxed);
            if let Some(job) = &self.job {
                job.interrupt();
            }
        }
    }
}

impl<T> fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("status", &self.status)
            .field("url", &crate::redact_url(&self.url))
            .field("buffered", &self.rx.len())
            .finish()
    }
}

impl<T> EventStream<T> {
    /// A stream and the sender its worker feeds.
    pub(crate) fn channel(
        capacity: usize,
        status: u16,
        headers: HeaderMap,
        url: String,
    ) -> (EventStream<T>, Feed<T>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let closed = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        let feed = Feed {
            tx,
            closed: Arc::clone(&closed),
            job: None,
            cut: Arc::clone(&cut),
        };
        let stream = EventStream {
            rx,
            status,
            headers,
            url,
            closed,
            detached: false,
            job: None,
            relay: CancelRelay::default(),
            cut,
            left_origin: false,
        };
        (stream, feed)
    }

    /// A handle that stops this stream from another thread, for Ctrl-C: see [`StopHandle`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let stream = session.get(format!("{base}/events")).events().result()?;
    /// let stop = stream.stop_handle(); // Send + Clone: give it to a Ctrl-C handler
    /// # drop(stop);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.job.clone(), None, false)
    }

    /// Interrupts `job` (the worker reading this stream) when the stream is dropped.
    pub(crate) fn interrupt_on_drop(&mut self, job: crate::exec::JobHandle) {
        self.job = Some(job);
    }

    /// [`into_receiver`](EventStream::into_receiver), with what interrupts the worker when
    /// dropped, for a wrapper that keeps the receiver and should stop the worker as dropping
    /// the stream does (the LLM `ChatStream`).
    #[cfg(feature = "llm")]
    pub(crate) fn into_receiver_and_stop(mut self) -> (Receiver<Result<T, Error>>, StopReading) {
        let stop = StopReading(self.job.take(), Arc::clone(&self.cut));
        (self.into_receiver(), stop)
    }

    /// The channel the events arrive on, to `select!` over several streams. An `Err` is the
    /// last item; a disconnected channel is the end of the stream.
    ///
    /// Use it borrowed. A clone kept past the stream keeps the channel open: dropping the
    /// stream still interrupts its read, and a worker waiting for room in a full channel gives
    /// up within 20 ms, so that the clone then ends without an `Err` (see
    /// [`into_receiver`](EventStream::into_receiver)).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/a", "text/event-stream", "data: a\n\n"), ("/b", "text/event-stream", "data: b\n\n")]);
    /// use ureq_futures::crossbeam_channel::select;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let a = session.get(format!("{base}/a")).events().result()?;
    /// let b = session.get(format!("{base}/b")).events().result()?;
    /// select! {
    ///     recv(a.receiver()) -> msg => println!("a: {msg:?}"),
    ///     recv(b.receiver()) -> msg => println!("b: {msg:?}"),
    /// }
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn receiver(&self) -> &Receiver<Result<T, Error>> {
        &self.rx
    }

    /// The channel, taking it out of the stream. Dropping the receiver stops the worker when it
    /// next has an event to send, or at the read timeout: unlike dropping the stream, it does
    /// not interrupt a read on a silent server, and a server that sends only comments
    /// (keep-alives) keeps the worker and the connection until its next event (each comment
    /// restarts the read timeout; a channel cannot tell its sender it lost its receiver). To
    /// stop at once, take a [`stop_handle`](EventStream::stop_handle) first and stop through it.
    ///
    /// One end differs from the stream's own: a worker stopped (by a [`StopHandle`] or
    /// `shutdown_now`) while the channel is full cannot send its last item, `Err(Cancelled)`,
    /// and the channel then disconnects after the buffered items without it. The stream itself
    /// yields `Err(Error::Cancelled)` there.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\ndata: b\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let stream = session.get(format!("{base}/events")).events().result()?;
    /// let rx = stream.into_receiver();
    /// let first = rx.recv().unwrap()?;
    /// assert_eq!(first.data, "a");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn into_receiver(mut self) -> Receiver<Result<T, Error>> {
        self.detached = true;
        std::mem::replace(&mut self.rx, crossbeam_channel::never())
    }

    /// The response's status code (always 2xx: other statuses are errors before a stream exists).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\ndata: b\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let stream = session.get(format!("{base}/events")).events().result()?;
    /// assert_eq!(stream.status(), 200);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response headers.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\ndata: b\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let stream = session.get(format!("{base}/events")).events().result()?;
    /// assert_eq!(stream.headers()["content-type"], "text/event-stream");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header `name`, if present and valid text.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\ndata: b\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let stream = session.get(format!("{base}/events")).events().result()?;
    /// assert_eq!(stream.header("Content-Type"), Some("text/event-stream"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The URL that answered, after redirects.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\ndata: b\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let stream = session.get(format!("{base}/events")).events().result()?;
    /// assert_eq!(stream.url(), format!("{base}/events"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl<T> Iterator for EventStream<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let job = &self.job;
        self.relay
            .before_read(|| StopHandle(job.clone(), None, false));
        match self.rx.recv() {
            Ok(item) => Some(item),
            Err(_) if self.cut.swap(false, Ordering::AcqRel) => Some(Err(Error::Cancelled)),
            Err(_) => None,
        }
    }
}

/// Turns events into the items of a stream, on the worker that reads it.
///
/// [`RequestBuilder::events_decoded`](crate::RequestBuilder::events_decoded) runs a decoder on
/// the worker, so that work such as JSON parsing happens off the caller's thread and the caller
/// receives finished items. The LLM clients are built this way.
///
/// Returning `Err` from either method sends that error as the stream's last item and closes the
/// connection.
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::{Decode, Event};
/// use ureq_futures::Error;
///
/// /// Yields the length of each event's data; fails on an event named "error".
/// struct Lengths;
///
/// impl Decode for Lengths {
///     type Item = usize;
///     fn decode(&mut self, event: Event) -> Result<Option<usize>, Error> {
///         if event.event == "error" {
///             return Err(Error::Protocol(event.data));
///         }
///         Ok(Some(event.data.len()))
///     }
/// }
/// ```
pub trait Decode: Send + 'static {
    /// What the stream yields.
    type Item: Send + 'static;

    /// Decodes one event: `Ok(Some(item))` to yield it, `Ok(None)` to skip it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::{Decode, Event};
    /// use ureq_futures::Error;
    ///
    /// /// Keeps the "tick" events' data, skips the others.
    /// struct Ticks;
    ///
    /// impl Decode for Ticks {
    ///     type Item = String;
    ///     fn decode(&mut self, event: Event) -> Result<Option<String>, Error> {
    ///         Ok((event.event == "tick").then_some(event.data))
    ///     }
    /// }
    ///
    /// let tick = Event { event: "tick".into(), data: "1".into(), id: None, retry: None };
    /// let other = Event { event: "message".into(), data: "hello".into(), id: None, retry: None };
    /// assert_eq!(Ticks.decode(tick)?, Some("1".to_string()));
    /// assert_eq!(Ticks.decode(other)?, None);
    /// # Ok::<(), Error>(())
    /// ```
    fn decode(&mut self, event: Event) -> Result<Option<Self::Item>, Error>;

    /// Decodes one event that borrows the parser's buffer; this is what the stream's worker
    /// calls. Defaults to [`decode`](Decode::decode) of a copy (`Event::from(event)`).
    ///
    /// A decoder that only looks at the event (parses `data`, compares `event`) implements this
    /// too, and `decode` as `self.decode_ref(EventRef::from(&event))`: the worker then makes
    /// no copy of the event's fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::{Decode, Event, EventRef};
    /// use ureq_futures::Error;
    ///
    /// /// Yields the length of each event's data, without copying it.
    /// struct Lengths;
    ///
    /// impl Decode for Lengths {
    ///     type Item = usize;
    ///     fn decode(&mut self, event: Event) -> Result<Option<usize>, Error> {
    ///         self.decode_ref(EventRef::from(&event))
    ///     }
    ///     fn decode_ref(&mut self, event: EventRef<'_>) -> Result<Option<usize>, Error> {
    ///         Ok(Some(event.data.len()))
    ///     }
    /// }
    /// assert_eq!(Lengths.decode_ref(EventRef::from(&Event {
    ///     event: "message".into(),
    ///     data: "four".into(),
    ///     id: None,
    ///     retry: None,
    /// }))?, Some(4));
    /// # Ok::<(), Error>(())
    /// ```
    fn decode_ref(&mut self, event: EventRef<'_>) -> Result<Option<Self::Item>, Error> {
        self.decode(Event::from(event))
    }

    /// Called once when the body ends cleanly: a last item, or an error if the stream was cut
    /// short of its terminator. Defaults to `Ok(None)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::{Decode, Event};
    /// use ureq_futures::Error;
    ///
    /// /// Sums the events' numbers and yields the total when the body ends; a body that ends
    /// /// before an "end" event was cut.
    /// #[derive(Default)]
    /// struct Total {
    ///     sum: i64,
    ///     ended: bool,
    /// }
    ///
    /// impl Decode for Total {
    ///     type Item = i64;
    ///     fn decode(&mut self, event: Event) -> Result<Option<i64>, Error> {
    ///         match event.event.as_str() {
    ///             "end" => self.ended = true,
    ///             _ => self.sum += event.data.parse::<i64>().map_err(|e| Error::Protocol(e.to_string()))?,
    ///         }
    ///         Ok(None)
    ///     }
    ///     fn finish(&mut self) -> Result<Option<i64>, Error> {
    ///         if !self.ended {
    ///             return Err(Error::Protocol("the stream was cut before its end event".into()));
    ///         }
    ///         Ok(Some(self.sum))
    ///     }
    /// }
    ///
    /// let event = |name: &str, data: &str| Event { event: name.into(), data: data.into(), id: None, retry: None };
    /// let mut total = Total::default();
    /// total.decode(event("message", "2"))?;
    /// total.decode(event("message", "3"))?;
    /// assert!(Total::default().finish().is_err());
    /// total.decode(event("end", ""))?;
    /// assert_eq!(total.finish()?, Some(5));
    /// # Ok::<(), Error>(())
    /// ```
    fn finish(&mut self) -> Result<Option<Self::Item>, Error> {
        Ok(None)
    }
}

/// The decoder of [`RequestBuilder::events`](crate::RequestBuilder::events): every event as it is.
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::{Decode, Event, RawEvents, StreamOptions};
///
/// // `events()` is `events_decoded(StreamOptions::default(), RawEvents)`: every event as it is.
/// let event = Event { event: "message".into(), data: "hi".into(), id: Some("7".into()), retry: None };
/// assert_eq!(RawEvents.decode(event.clone())?, Some(event));
/// # let _ = StreamOptions::default();
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEvents;

impl Decode for RawEvents {
    type Item = Event;

    fn decode(&mut self, event: Event) -> Result<Option<Event>, Error> {
        Ok(Some(event))
    }
}

/// Read buffer of a pumping worker. `read()` returns what the connection's buffer has, so this
/// bounds a single copy out of it, not the latency or the size of a socket read; small, because
/// every open stream holds one.
const READ_BUFFER: usize = 4 * 1024;

/// Reads `body` to its end through `framing`'s parser and `decoder`, sending each item into
/// `feed`. Returns when the body ends, fails, or the receiver is gone. An error is sent as the
/// stream's last item.
pub(crate) fn pump<D: Decode>(
    body: impl Read,
    framing: Framing,
    resume: Option<&Mutex<Resume>>,
    decoder: D,
    feed: &impl Sink<D::Item>,
) {
    match framing {
        #[cfg(feature = "llm")]
        Framing::EventStream {
            parser,
            objects: true,
        } => {
            let objects = super::objects::ObjectLines::new(*parser);
            pump_with(body, objects, resume, decoder, feed);
        }
        Framing::EventStream { parser, .. } => pump_with(body, *parser, resume, decoder, feed),
        Framing::Lines(parser) => pump_with(body, parser, None, decoder, feed),
    }
}

/// What `pump` needs of a parser: bytes in, borrowed events out.
trait Framer {
    fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error>;
    fn finish(&mut self, on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error>;
    /// Leaves the state a reconnection needs in `resume` (event streams only).
    fn report(&self, _resume: &mut Resume) {}
}

impl Framer for Parser {
    fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error> {
        Parser::feed_ref(self, bytes, on_event)
    }
    fn finish(&mut self, on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error> {
        Parser::finish_ref(self, on_event)
    }
    fn report(&self, resume: &mut Resume) {
        resume.last_event_id.clear();
        resume.last_event_id.push_str(self.last_event_id());
        resume.retry = self.retry();
    }
}

#[cfg(feature = "llm")]
impl Framer for super::objects::ObjectLines {
    fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error> {
        self.feed_ref(bytes, on_event)
    }
    fn finish(&mut self, on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error> {
        self.finish_ref(on_event)
    }
    fn report(&self, resume: &mut Resume) {
        self.parser().report(resume);
    }
}

impl Framer for LineParser {
    fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error> {
        LineParser::feed_ref(self, bytes, on_event)
    }
    fn finish(&mut self, on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error> {
        LineParser::finish_ref(self, on_event)
    }
}

fn pump_with<D: Decode>(
    mut body: impl Read,
    mut parser: impl Framer,
    resume: Option<&Mutex<Resume>>,
    mut decoder: D,
    feed: &impl Sink<D::Item>,
) {
    let mut buf = vec![0u8; READ_BUFFER];
    // Set by the first failure: the receiver gone (`None`) or an error to report (`Some`).
    let mut stop: Option<Option<Error>> = None;
    // With a report to make (an `EventSource`'s stream): the ID and reconnection time in force
    // at the last event handed on. When a later one cannot be (a stop while the channel is
    // full), the parser has read past it, and a resume from the parser's ID would skip the
    // events it read.
    let track = resume.is_some();
    let mut handed: Option<Resume> = None;
    let mut whole_line = false;
    let outcome = loop {
        let mut on_event = |event: EventRef<'_>| {
            let (id, retry) = (event.id, event.retry);
            if deliver(&mut decoder, feed, &mut stop, event) && track {
                let kept = handed.get_or_insert_with(Resume::default);
                kept.last_event_id.clear();
                kept.last_event_id.push_str(id.unwrap_or_default());
                kept.retry = retry;
            }
        };
        let fed = match body.read(&mut buf) {
            Ok(0) => break parser.finish(&mut on_event),
            Ok(n) => {
                // Only an `EventSource` asks (see `Resume::whole_line`).
                whole_line =
                    whole_line || (track && memchr::memchr2(b'\n', b'\r', &buf[..n]).is_some());
                parser.feed(&buf[..n], &mut on_event)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(Error::from(e)),
        };
        if fed.is_err() || stop.is_some() {
            break fed;
        }
        if feed.is_closed() {
            return; // the stream was dropped
        }
    };
    // Before the last item: whoever reads it may reconnect at once.
    if let Some(mut resume) = resume.and_then(|r| r.lock().ok()) {
        resume.whole_line = whole_line;
        match (&stop, handed) {
            // An event could not be handed on: the state in force at the one before it.
            (Some(None), Some(kept)) => {
                resume.retry = kept.retry.or(resume.retry);
                resume.last_event_id = kept.last_event_id;
            }
            (Some(None), None) => {}
            _ => parser.report(&mut resume),
        }
    }
    let last = match (stop, outcome) {
        (Some(None), _) => return, // nobody is listening
        (Some(Some(e)), _) | (None, Err(e)) => Err(e),
        (None, Ok(())) => match decoder.finish() {
            Ok(Some(item)) => Ok(item),
            Ok(None) => return,
            Err(e) => Err(e),
        },
    };
    feed.send(last);
}

/// Decodes one event and sends the item, recording in `stop` why the pump must end; whether
/// the event was taken (sent on, or decoded into nothing).
fn deliver<D: Decode>(
    decoder: &mut D,
    feed: &impl Sink<D::Item>,
    stop: &mut Option<Option<Error>>,
    event: EventRef<'_>,
) -> bool {
    if stop.is_some() {
        return false;
    }
    match decoder.decode_ref(event) {
        Ok(Some(item)) => {
            if !feed.send(Ok(item)) {
                *stop = Some(None);
            }
        }
        Ok(None) => {}
        Err(e) => *stop = Some(Some(e)),
    }
    stop.is_none()
}
