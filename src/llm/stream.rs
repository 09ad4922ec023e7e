//! `ChatStream`: the caller's end of a streamed answer, for every provider.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use std::vec;

use crossbeam_channel::Receiver;
use ureq::http::HeaderMap;

use super::event::{ChatEvent, Citation, ServerToolResult, Thought, ToolCall, Usage};
use super::request::{is_token_limit, Piece};
use super::ChatResponse;
use crate::sse::EventStream;
use crate::sse::{CancelRelay, StopHandle, StopReading};
use crate::{Error, Pending};

/// A chat sent whose answer has not started yet: what [`Client::start`](super::Client::start)
/// returns at once. [`result`](PendingChat::result) waits for the answer's headers and gives
/// its [`ChatStream`].
///
/// Its [`stop_handle`](PendingChat::stop_handle) stops the chat from another thread at any
/// point: while the request waits for a worker or for its turn at a rate limiter (it is never
/// sent), while the server has not answered (a reasoning model, an overloaded server: the
/// request is interrupted and `result` returns [`Error::Cancelled`]), and as the answer
/// streams (as [`ChatStream::stop_handle`] does). One handle, taken before the wait, is all a
/// Ctrl-C needs; [`Client::stream`](super::Client::stream) blocks until the headers and has
/// nothing to stop until then. Dropping a `PendingChat` before its answer started cancels the
/// request.
///
/// # Examples
///
/// ```
/// # use std::io::Read;
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let base = format!("http://{}", listener.local_addr()?);
/// # std::thread::spawn(move || {
/// #     let (mut socket, _) = listener.accept().unwrap();
/// #     // The request, then no answer, ever; ends when the client goes away.
/// #     while socket.read(&mut [0; 1024]).is_ok_and(|n| n > 0) {}
/// # });
/// use ureq_futures::llm::{ChatRequest, OpenAIClient};
/// use ureq_futures::Error;
///
/// let client = OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(base).build();
/// let chat = client.start(&ChatRequest::new().user("Think hard."))?;
/// let stop = chat.stop_handle();
/// // Another thread (a Ctrl-C handler) gives up on the silent server.
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(100));
///     stop.stop();
/// });
/// assert!(matches!(chat.result(), Err(Error::Cancelled)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropped, it cancels the chat: call result() for the answer's stream"]
pub struct PendingChat(Started);

/// How far a [`PendingChat`] is.
enum Started {
    /// Sent on a session: its job hands out the answer's events.
    Sent {
        events: Pending<EventStream<Vec<ChatEvent>>>,
        /// The client's key, hidden in errors if the server repeats it.
        secret: Option<String>,
        /// What a 401 adds when the client sent no key (see [`keyless_note`]).
        keyless: Option<Arc<str>>,
        /// How long [`result`](PendingChat::result) waits for a worker to start the chat.
        queue: Option<QueueWait>,
    },
    /// Started already (by a [`ChatClient`](super::ChatClient)'s default `start`); `None` once
    /// handed out.
    Ready(Option<Box<ChatStream>>),
}

impl fmt::Debug for PendingChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Started::Sent { events, .. } => f.debug_tuple("PendingChat").field(events).finish(),
            Started::Ready(stream) => f.debug_tuple("PendingChat").field(stream).finish(),
        }
    }
}

impl PendingChat {
    pub(crate) fn new(
        events: Pending<EventStream<Vec<ChatEvent>>>,
        secret: Option<String>,
        keyless: Option<Arc<str>>,
        queue: Option<QueueWait>,
    ) -> Self {
        PendingChat(Started::Sent {
            events,
            secret,
            keyless,
            queue,
        })
    }

    /// A chat whose answer has started: what [`ChatClient::start`](super::ChatClient::start)
    /// gives by default.
    pub(crate) fn started(stream: ChatStream) -> Self {
        PendingChat(Started::Ready(Some(Box::new(stream))))
    }

    /// Waits for the answer's headers and returns the answer as it streams.
    ///
    /// Each open stream holds a worker of the session until it is read to its end or dropped:
    /// a thread that holds as many unread streams as the session has workers, and waits for
    /// one more, would wait for ever. So a chat that no worker has started once the client's
    /// [`timeout`](super::ClientBuilder::timeout) (120 s by default) has passed, while every
    /// worker waits for the reader of its stream and no reader has made room for a second, is
    /// given up, unsent, with an
    /// [`Error::Timeout`] that says so. A chat queued behind streams that are read, or behind
    /// other work, waits as before; so does one in a session with
    /// [`max_per_host`](crate::SessionBuilder::max_per_host) or a rate limiter (it waits for
    /// its lane's room), one of a client without a `timeout`, and one waited for inside a job
    /// of any session (see [`Pending::result`]).
    ///
    /// # Errors
    ///
    /// As [`Client::stream`](super::Client::stream); [`Error::Cancelled`] when the
    /// [`stop_handle`](PendingChat::stop_handle) stopped the chat before its answer started.
    pub fn result(self) -> Result<ChatStream, Error> {
        match self.0 {
            Started::Sent {
                events,
                secret,
                keyless,
                queue,
            } => {
                let events = match queue {
                    Some(queue) if !crate::exec::on_a_worker() => queue.wait(events),
                    _ => events.result(),
                };
                Self::made(events, secret.as_deref(), keyless.as_deref())
            }
            Started::Ready(stream) => stream.map(|s| *s).ok_or(Error::ResultTaken),
        }
    }

    /// [`result`](PendingChat::result), waiting at most `timeout`: `None` if the answer has
    /// not started by then (the chat goes on: call again, or stop it).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// use std::time::Duration;
    /// use ureq_futures::llm::{ChatRequest, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("llama3.2", None).env(|_| None).base_url(format!("{base}/v1")).build();
    /// let mut chat = client.start(&ChatRequest::new().user("Say hello."))?;
    /// let stream = loop {
    ///     match chat.result_timeout(Duration::from_millis(200)) {
    ///         Some(stream) => break stream?,
    ///         None => eprintln!("still thinking..."),
    ///     }
    /// };
    /// assert_eq!(stream.collect::<Result<String, _>>()?, "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn result_timeout(&mut self, timeout: Duration) -> Option<Result<ChatStream, Error>> {
        match &mut self.0 {
            Started::Sent {
                events,
                secret,
                keyless,
                ..
            } => {
                let result = events.result_timeout(timeout)?;
                Some(Self::made(result, secret.as_deref(), keyless.as_deref()))
            }
            Started::Ready(stream) => Some(stream.take().map(|s| *s).ok_or(Error::ResultTaken)),
        }
    }

    /// Whether the answer has started (or the chat failed): [`result`](PendingChat::result)
    /// would not block.
    pub fn is_done(&self) -> bool {
        match &self.0 {
            Started::Sent { events, .. } => events.is_done(),
            Started::Ready(_) => true,
        }
    }

    /// A handle that stops this chat from another thread, before or after its answer starts
    /// (see the [type docs](PendingChat)). Clones stop the same chat. (Of a chat that a
    /// [`ChatClient`](super::ChatClient) of your own started with the trait's default
    /// [`start`](super::ChatClient::start), which returns once the answer has started: it
    /// stops the answer, as [`ChatStream::stop_handle`] does.)
    pub fn stop_handle(&self) -> StopHandle {
        match &self.0 {
            Started::Sent { events, .. } => StopHandle::cancelling(events.job()),
            Started::Ready(Some(stream)) => stream.stop_handle(),
            Started::Ready(None) => StopHandle::default(),
        }
    }

    /// The chat stream of what the request's job gave, `secret` hidden from its errors, and a
    /// 401's error noting `keyless`.
    fn made(
        events: Result<EventStream<Vec<ChatEvent>>, Error>,
        secret: Option<&str>,
        keyless: Option<&str>,
    ) -> Result<ChatStream, Error> {
        match events {
            Ok(events) => Ok(ChatStream::new(events).hiding(secret)),
            Err(e) => Err(keyless_note(e.hiding(secret), keyless)),
        }
    }
}

/// When [`PendingChat::result`] gives up a chat that no worker of its session has started, and
/// what the error then says.
///
/// A thread that holds as many unread streams as the session has workers, and waits for one
/// more, waits for ever: each worker waits for its stream's reader to make room in its
/// channel, and the reader is that thread. The options: wait for ever (a hang with no word,
/// as before), start the chat on a thread beyond `max_workers` (what a job of the session
/// waiting for a stream does, where the wait is a sure deadlock; from any other thread the
/// streams may be read by others, and `max_workers` is the cap a user sets on the streams open
/// at once), give up once the client's `timeout` has passed (a chat that only queues behind
/// answers being read, on a busy server's threads, would fail), or give up once the `timeout`
/// has passed *and* every worker waits for its stream's reader with no reader making room
/// for a second (two looks a second apart: a snapshot alone would catch workers that wait for
/// readers that do read, only slower than the server sends). The last is done; a chat queued
/// behind streams that are read, or behind other work, waits as before.
#[derive(Debug)]
pub(crate) struct QueueWait {
    /// The client's `timeout`.
    pub(crate) limit: Duration,
    /// The client's session, for how busy its workers are.
    pub(crate) session: crate::FuturesSession,
    /// The chat's URL, redacted.
    pub(crate) url: String,
}

impl QueueWait {
    /// Waits for `events`: as `Pending::result`, but a chat still queued once the limit has
    /// passed, while every worker of the session waits for a reader, is given up, and the
    /// error says why.
    fn wait(
        self,
        mut events: Pending<EventStream<Vec<ChatEvent>>>,
    ) -> Result<EventStream<Vec<ChatEvent>>, Error> {
        let Some(until) = std::time::Instant::now().checked_add(self.limit) else {
            return events.result();
        };
        // What the last look past the limit saw: every worker waiting for a reader, and how
        // many such waits had ended. Seen twice, a second apart, with none ended between: no
        // reader made room meanwhile (one that reads, however slowly, ends a wait).
        let mut seen = None;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            // Looked at every second: a chat that has started is bounded by its own budget.
            let step = match left.is_zero() {
                true => Duration::from_secs(1),
                false => left.min(Duration::from_secs(1)),
            };
            if let Some(result) = events.result_timeout(step) {
                return result;
            }
            // Not queued: started, or a stream of a lane (`max_per_host`, a rate limiter),
            // which waits for its lane's room as every request to its origin does.
            if !events.stream_queued_anywhere() {
                return events.result();
            }
            if std::time::Instant::now() < until {
                continue;
            }
            let now = self.session.stuck_on_readers();
            if now.is_none() || now != std::mem::replace(&mut seen, now) {
                continue;
            }
            let workers = self.session.max_workers();
            let error = crate::phase::no_worker(self.limit, workers, &self.url);
            // Refused if a worker took the chat meanwhile: then its result is waited for.
            events.give_up_queued(error);
        }
    }
}

/// `e` with `note` when it is a 401 (`Unauthorized`) and the client sent no key (`note` is
/// `Some` only then): the server's words seldom say that none came ("Missing bearer or basic
/// authentication in header"), and a key's environment variable that is not set (a shell
/// without the `export`) is the usual cause.
pub(crate) fn keyless_note(e: Error, note: Option<&str>) -> Error {
    match (e, note) {
        (Error::Status(status), Some(note)) if status.status == 401 => {
            crate::phase::and_note(Error::Status(status), note)
        }
        (e, _) => e,
    }
}

/// A streamed chat answer: an iterator of its text pieces, `Result<String, Error>`.
///
/// The decoding (JSON parsing included) happened on the worker that reads the response; this
/// side receives finished [`ChatEvent`]s. Iterating yields only the answer's text; everything
/// else is kept and readable during and after the iteration: [`finish_reason`](Self::finish_reason),
/// [`usage`](Self::usage), [`tool_calls`](Self::tool_calls), [`reasoning`](Self::reasoning),
/// [`refusal`](Self::refusal). To see every event in order, call
/// [`next_event`](Self::next_event) instead of `next`.
///
/// The stream ends (`None`) after the provider's end marker ([`is_done`](Self::is_done) is then
/// `true`), or after one `Err` item: a transport error, a timeout, an error the server reported
/// inside the stream ([`Error::Api`]), a chunk that could not be decoded, a stream cut before
/// its end marker, or an end marker before any of the answer or its finish reason
/// ([`Error::Protocol`]). A cut stream is never a silently short (or empty) answer.
///
/// The stream holds one worker of its session until it is dropped or the server closes it.
///
/// # Examples
///
/// Any source of events works; here a channel filled by hand stands in for a server:
///
/// ```
/// use ureq_futures::llm::{ChatEvent, ChatStream};
///
/// let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
/// tx.send(Ok(vec![ChatEvent::Text("Hello".into())])).unwrap();
/// tx.send(Ok(vec![
///     ChatEvent::Text(", world".into()),
///     ChatEvent::Finish("stop".into()),
///     ChatEvent::Done,
/// ]))
/// .unwrap();
///
/// let mut stream = ChatStream::from_receiver(rx);
/// let text = stream.by_ref().collect::<Result<String, _>>()?;
/// assert_eq!(text, "Hello, world");
/// assert_eq!(stream.finish_reason(), Some("stop"));
/// assert!(stream.is_done());
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[must_use = "dropped, it stops the chat: read it"]
pub struct ChatStream {
    rx: Receiver<Result<Vec<ChatEvent>, Error>>,
    headers: HeaderMap,
    /// The rest of the batch being handed out.
    queued: vec::IntoIter<ChatEvent>,
    /// Nothing more will be read: the end marker or an error was seen.
    ended: bool,
    /// The error the stream ended with, as its message: what
    /// [`ChatResponse::from_stream`] says of a stream whose error was read before it.
    pub(super) failed: Option<String>,
    done: bool,
    /// What was folded in so far: everything of a [`ChatResponse`] but its request id.
    pub(super) state: ChatResponse,
    /// Where in `state` the calls of each index are (client, then server tools), so that a
    /// piece finds its call without a scan (see [`ToolCall::apply`]).
    call_at: [HashMap<usize, usize>; 2],
    /// Interrupts the worker reading the answer when the stream is dropped (see `EventStream`).
    stop_reading: StopReading,
    /// Stops that worker when a job that reads the stream is cancelled (see `EventStream`).
    relay: CancelRelay,
    /// The client's key, hidden in the stream's error if the server repeats it.
    secret: Option<String>,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("done", &self.done)
            .field("ended", &self.ended)
            .field("finish_reason", &self.state.finish_reason)
            .field("usage", &self.state.usage)
            .field("tool_calls", &self.state.tool_calls.len())
            .field("reasoning_len", &self.state.reasoning.len())
            .finish()
    }
}

impl ChatStream {
    /// The chat stream of an event stream whose decoder produces [`ChatEvent`] batches (see
    /// [`RequestBuilder::events_decoded`](crate::RequestBuilder::events_decoded)). The
    /// response headers are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let body = serde_json::json!({"model": "llama3.2", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    /// use ureq_futures::llm::{ChatStream, OpenAIDecoder};
    /// use ureq_futures::{sse::StreamOptions, FuturesSession};
    ///
    /// // A request made by hand, its answer decoded on the worker by OpenAI's decoder.
    /// let request = FuturesSession::new().post(format!("{base}/v1/chat/completions")).json(&body);
    /// let events = request.events_decoded(StreamOptions::default(), OpenAIDecoder::new()).result()?;
    /// let stream = ChatStream::new(events);
    /// assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    /// assert_eq!(stream.collect::<Result<String, _>>()?, "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new(events: EventStream<Vec<ChatEvent>>) -> Self {
        let headers = events.headers().clone();
        let (rx, stop_reading) = events.into_receiver_and_stop();
        ChatStream {
            headers,
            stop_reading,
            ..ChatStream::from_receiver(rx)
        }
    }

    /// A handle that stops this stream from another thread, for Ctrl-C: the answer's worker is
    /// interrupted, the pieces already received are still handed out, then the stream's last
    /// item is `Err(Error::Cancelled)`. See [`StopHandle`](crate::sse::StopHandle). A stream
    /// made by [`from_receiver`](ChatStream::from_receiver) has no worker to stop: its handle
    /// does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let base = format!("http://{}", listener.local_addr()?);
    /// # std::thread::spawn(move || {
    /// #     let (mut socket, _) = listener.accept().unwrap();
    /// #     let _ = socket.read(&mut [0; 4096]);
    /// #     let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"Once\"}}]}\n\n");
    /// #     while socket.read(&mut [0; 4096]).is_ok_and(|n| n > 0) {} // then silence, until the client goes
    /// # });
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(base).env(|_| None)
    /// #     .read_timeout(std::time::Duration::from_secs(10)).build(); // fails rather than hangs
    /// use ureq_futures::{llm::Message, Error};
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Tell a long story.")])?;
    /// let stop = stream.stop_handle();
    /// std::thread::spawn(move || stop.stop()); // a Ctrl-C handler, say
    /// let story: Result<String, Error> = stream.by_ref().collect();
    /// assert!(matches!(story, Err(Error::Cancelled)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_handle(&self) -> crate::sse::StopHandle {
        self.stop_reading.handle()
    }

    /// The chat stream of any channel of [`ChatEvent`] batches, for sources that are not
    /// Server-Sent Events (a thread decoding another framing, tests). A disconnected channel
    /// ends the stream; without a [`ChatEvent::Done`] before it, that end is an
    /// [`Error::Protocol`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{ChatEvent, ChatStream};
    /// use ureq_futures::Error;
    ///
    /// let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
    /// tx.send(Ok(vec![ChatEvent::Text("Hel".into())])).unwrap();
    /// drop(tx); // the source stopped before `Done`: a cut answer
    /// let cut: Result<String, Error> = ChatStream::from_receiver(rx).collect();
    /// assert!(matches!(cut, Err(Error::Protocol(_))));
    /// ```
    pub fn from_receiver(rx: Receiver<Result<Vec<ChatEvent>, Error>>) -> Self {
        ChatStream {
            rx,
            headers: HeaderMap::new(),
            queued: Vec::new().into_iter(),
            ended: false,
            failed: None,
            done: false,
            state: ChatResponse::default(),
            call_at: Default::default(),
            stop_reading: StopReading::default(),
            relay: CancelRelay::default(),
            secret: None,
        }
    }

    /// This stream, with every copy of `secret` (the client's key) in its error's server words
    /// replaced by `<redacted>` (see `Error::hiding`).
    pub(crate) fn hiding(mut self, secret: Option<&str>) -> Self {
        self.secret = secret.map(str::to_string);
        self
    }

    /// The next event of any kind, after folding it into the stream's state. `None` once the
    /// stream has ended (see the [type docs](Self)). Mixing calls of this and
    /// [`next`](Iterator::next) is fine: each event is handed out once.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{ChatEvent, ChatStream};
    ///
    /// let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
    /// tx.send(Ok(vec![ChatEvent::Reasoning("hmm".into()), ChatEvent::Text("42".into())])).unwrap();
    /// tx.send(Ok(vec![ChatEvent::Done])).unwrap();
    /// let mut stream = ChatStream::from_receiver(rx);
    /// while let Some(event) = stream.next_event() {
    ///     match event? {
    ///         ChatEvent::Reasoning(r) => eprint!("({r})"),
    ///         ChatEvent::Text(t) => print!("{t}"),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(stream.reasoning(), "hmm");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn next_event(&mut self) -> Option<Result<ChatEvent, Error>> {
        loop {
            if let Some(event) = self.queued.next() {
                self.fold(&event);
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            let stop = &self.stop_reading;
            self.relay.before_read(|| stop.handle());
            let error = match self.rx.recv() {
                Ok(Ok(batch)) => {
                    self.queued = batch.into_iter();
                    continue;
                }
                Ok(Err(e)) => e,
                // A worker stopped (a stop, `shutdown_now`) with the channel full.
                Err(_) if self.stop_reading.take_cut() => Error::Cancelled,
                // Decoders report a cut stream themselves; this covers a worker that stopped
                // without a word.
                Err(_) => Error::Protocol(
                    "the answer was cut: the stream ended before its end marker".into(),
                ),
            };
            self.ended = true;
            let error = error.hiding(self.secret.as_deref());
            self.failed = Some(match &error {
                // Told again as a protocol error: its own words, without a second prefix.
                Error::Protocol(message) => message.clone(),
                other => other.to_string(),
            });
            return Some(Err(error));
        }
    }

    fn fold(&mut self, event: &ChatEvent) {
        let state = &mut self.state;
        let [call_at, server_use_at] = &mut self.call_at;
        // Where each piece came, for `ChatResponse::message` (see `Piece`).
        let layout = &mut state.layout;
        let mut laid = |piece: Piece| layout.push(piece);
        match event {
            ChatEvent::Text(text) => {
                match layout.last_mut() {
                    Some(Piece::Text(n)) => *n += text.len(),
                    _ => layout.push(Piece::Text(text.len())),
                }
                state.text.push_str(text);
            }
            ChatEvent::Reasoning(r) => state.reasoning.push_str(r),
            ChatEvent::Refusal(r) => state.refusal.get_or_insert_with(String::new).push_str(r),
            ChatEvent::ToolCall(delta) => {
                if ToolCall::apply(&mut state.tool_calls, call_at, delta) {
                    laid(Piece::Call);
                }
            }
            ChatEvent::ServerToolUse(delta) => {
                if ToolCall::apply(&mut state.server_tool_uses, server_use_at, delta) {
                    laid(Piece::ServerUse);
                }
            }
            ChatEvent::ServerToolResult(r) => {
                state.server_tool_results.push(r.clone());
                laid(Piece::ServerResult);
            }
            ChatEvent::ToolPlan(plan) => state.tool_plan.push_str(plan),
            ChatEvent::Thought(thought) => {
                state.thoughts.push(thought.clone());
                laid(Piece::Thought);
            }
            ChatEvent::Citation(citation) => state.citations.push(citation.clone()),
            ChatEvent::Finish(reason) => state.finish_reason = Some(reason.clone()),
            ChatEvent::Usage(usage) => state.usage = Some(usage.clone()),
            ChatEvent::Done => {
                self.done = true;
                self.ended = true;
                // Anything after the end marker is not part of the answer.
                self.queued = Vec::new().into_iter();
                // A call sent without arguments (OpenAI-compatible servers and Cohere send
                // `""` for a tool without parameters) gets the empty object Anthropic's and
                // Gemini's decoders give it, so that every call's arguments parse as JSON; but
                // for the last call of an answer cut at its token limit, which may be cut
                // before its arguments (`{}` would make it look whole).
                let cut = state.finish_reason.as_deref().is_some_and(is_token_limit);
                for calls in [&mut state.tool_calls, &mut state.server_tool_uses] {
                    let whole = calls.len() - usize::from(cut && !calls.is_empty());
                    for call in &mut calls[..whole] {
                        if call.arguments.trim().is_empty() {
                            call.arguments = "{}".into();
                        }
                    }
                }
            }
        }
    }

    /// Whether the answer arrived complete: the provider's end marker was received. `false`
    /// while streaming and after an error.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Say hello.")])?;
    /// assert!(!stream.is_done());
    /// let text = stream.by_ref().collect::<Result<String, _>>()?;
    /// assert!(stream.is_done()); // "Hello!" is the whole answer
    /// # assert_eq!(text, "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Why the model stopped (`"stop"`, `"length"`, `"tool_calls"`...), once the server has
    /// said; the last value wins.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", "data: {\"choices\":[{\"delta\":{\"content\":\"Once upon a\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n")]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Tell a story.")])?;
    /// let text = stream.by_ref().collect::<Result<String, _>>()?;
    /// assert_eq!(stream.finish_reason(), Some("length")); // cut at the token limit
    /// # assert_eq!(text, "Once upon a");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn finish_reason(&self) -> Option<&str> {
        self.state.finish_reason.as_deref()
    }

    /// Whether the answer stopped at its token limit, or at the model's context window: a
    /// [`finish_reason`](Self::finish_reason) of OpenAI's `length`, Anthropic's `max_tokens`,
    /// Gemini's and Cohere's `MAX_TOKENS`, Anthropic's `model_context_window_exceeded` or
    /// Mistral's `model_length`. Such an answer is cut: raise `max_tokens` for the whole of it.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", "data: {\"choices\":[{\"delta\":{\"content\":\"Once upon a\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n")]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Tell a story.")])?;
    /// stream.by_ref().for_each(drop);
    /// assert!(stream.stopped_at_token_limit());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn stopped_at_token_limit(&self) -> bool {
        self.finish_reason().is_some_and(is_token_limit)
    }

    /// The token counts, when the server sent them (OpenAI does with
    /// [`include_usage`](super::OpenAIClientBuilder::include_usage); Anthropic, Gemini, Cohere
    /// and many compatible servers always do). The last value wins.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", concat!(
    /// #     r#"data: {"choices":[{"delta":{"content":"Yes."},"finish_reason":"stop"}]}"#, "\n\n",
    /// #     r#"data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#, "\n\n",
    /// #     "data: [DONE]\n\n",
    /// # ))]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Is 17 prime?")])?;
    /// stream.by_ref().for_each(drop);
    /// let usage = stream.usage().expect("the server sent token counts");
    /// assert_eq!((usage.input_tokens, usage.output_tokens), (Some(12), Some(3)));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn usage(&self) -> Option<&Usage> {
        self.state.usage.as_ref()
    }

    /// The tool calls received so far, assembled by index, in the order they started: exactly
    /// the calls the caller has to run, each with a non-empty name. Tools the provider runs
    /// itself are not among them (see [`server_tool_uses`](Self::server_tool_uses)).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", concat!(
    /// #     r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":"}}]}}]}"#, "\n\n",
    /// #     r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]}}]}"#, "\n\n",
    /// #     r#"data: {"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#, "\n\ndata: [DONE]\n\n",
    /// # ))]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Weather in Oslo?")])?;
    /// stream.by_ref().for_each(drop);
    /// let call = &stream.tool_calls()[0]; // its pieces, assembled
    /// assert_eq!((call.name.as_str(), call.arguments.as_str()), ("weather", r#"{"city":"Oslo"}"#));
    /// let result = Message::tool_result(call, "12°C"); // to send back with the next request
    /// # let _ = result;
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn tool_calls(&self) -> &[ToolCall] {
        &self.state.tool_calls
    }

    /// The tools the provider ran itself (Anthropic's web search, web fetch, code execution,
    /// MCP tools), assembled like [`tool_calls`](Self::tool_calls): to show, not to run.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/messages", "text/event-stream", concat!(
    /// #     r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}"#, "\n\n",
    /// #     r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"Oslo weather\"}"}}"#, "\n\n",
    /// #     r#"data: {"type":"message_stop"}"#, "\n\n",
    /// # ))]);
    /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-sonnet-4-5", None).base_url(&base).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Weather in Oslo?")])?;
    /// stream.by_ref().for_each(drop);
    /// assert_eq!(stream.server_tool_uses()[0].arguments, r#"{"query":"Oslo weather"}"#);
    /// assert!(stream.tool_calls().is_empty()); // nothing for the caller to run
    /// # assert_eq!(stream.server_tool_uses()[0].name, "web_search");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn server_tool_uses(&self) -> &[ToolCall] {
        &self.state.server_tool_uses
    }

    /// The results of the server's tools, in the order they came, each naming the
    /// [`server_tool_uses`](Self::server_tool_uses) entry it answers.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/messages", "text/event-stream", concat!(
    /// #     r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","url":"https://www.yr.no/","title":"Yr"}]}}"#, "\n\n",
    /// #     r#"data: {"type":"message_stop"}"#, "\n\n",
    /// # ))]);
    /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-sonnet-4-5", None).base_url(&base).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Weather in Oslo?")])?;
    /// stream.by_ref().for_each(drop);
    /// let result = &stream.server_tool_results()[0];
    /// assert_eq!((result.kind.as_str(), result.tool_use_id.as_str()), ("web_search_tool_result", "srvtoolu_1"));
    /// assert_eq!(result.block["content"][0]["url"], "https://www.yr.no/");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn server_tool_results(&self) -> &[ServerToolResult] {
        &self.state.server_tool_results
    }

    /// The model's plan before its tool calls (Cohere's tool plan), empty when it sent none.
    /// Not part of the answer's text.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v2/chat", "text/event-stream", concat!(
    /// #     r#"data: {"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will look up the weather."}}}"#, "\n\n",
    /// #     r#"data: {"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"c1","type":"function","function":{"name":"weather","arguments":"{}"}}}}}"#, "\n\n",
    /// #     r#"data: {"type":"message-end","delta":{"finish_reason":"TOOL_CALL"}}"#, "\n\n",
    /// # ))]);
    /// # let client = ureq_futures::llm::CohereClient::builder("command-a-03-2025", None).base_url(&base).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Weather in Oslo?")])?;
    /// let text = stream.by_ref().collect::<Result<String, _>>()?;
    /// assert_eq!(text, ""); // the plan is not the answer
    /// assert_eq!(stream.tool_plan(), "I will look up the weather.");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn tool_plan(&self) -> &str {
        &self.state.tool_plan
    }

    /// The reasoning text received so far (empty for models that send none).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", concat!(
    /// #     r#"data: {"choices":[{"delta":{"reasoning_content":"17 is odd and "}}]}"#, "\n\n",
    /// #     r#"data: {"choices":[{"delta":{"reasoning_content":"has no divisor."}}]}"#, "\n\n",
    /// #     r#"data: {"choices":[{"delta":{"content":"Yes, 17 is prime."},"finish_reason":"stop"}]}"#, "\n\ndata: [DONE]\n\n",
    /// # ))]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Is 17 prime?")])?;
    /// let answer = stream.by_ref().collect::<Result<String, _>>()?;
    /// assert_eq!(answer, "Yes, 17 is prime.");
    /// assert_eq!(stream.reasoning(), "17 is odd and has no divisor.");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn reasoning(&self) -> &str {
        &self.state.reasoning
    }

    /// The answer's text handed out so far: the pieces the iterator (or
    /// [`next_event`](Self::next_event)) gave, joined. A loop that prints the pieces needs no
    /// copy of its own for the history: [`ChatResponse::from_stream`] keeps them too.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Say hello.")])?;
    /// for piece in stream.by_ref() {
    ///     print!("{}", piece?);
    /// }
    /// assert_eq!(stream.text(), "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn text(&self) -> &str {
        &self.state.text
    }

    /// The thinking to send back received so far (Anthropic's signed blocks; once the finish
    /// reason came, the reasoning field of an OpenAI-compatible server's answer; empty for the
    /// other providers): what a tool loop with extended thinking sends back with the
    /// assistant's turn ([`ChatResponse::message`] does).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/messages", "text/event-stream", concat!(
    /// #     r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#, "\n\n",
    /// #     r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Easy."}}"#, "\n\n",
    /// #     r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#, "\n\n",
    /// #     r#"data: {"type":"content_block_stop","index":0}"#, "\n\n",
    /// #     r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwK"}}"#, "\n\n",
    /// #     r#"data: {"type":"content_block_start","index":2,"content_block":{"type":"text","text":"4"}}"#, "\n\n",
    /// #     r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#, "\n\n",
    /// #     r#"data: {"type":"message_stop"}"#, "\n\n",
    /// # ))]);
    /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-sonnet-4-5", None).base_url(&base).env(|_| None).build();
    /// use ureq_futures::llm::{Message, Thought};
    ///
    /// let mut stream = client.stream_chat(&[Message::user("2 + 2?")])?; // an AnthropicClient
    /// assert_eq!(stream.by_ref().collect::<Result<String, _>>()?, "4");
    /// assert_eq!(
    ///     stream.thoughts(),
    ///     [
    ///         Thought::Signed { text: "Easy.".into(), signature: "EqQB".into() },
    ///         Thought::Redacted { data: "EmwK".into() },
    ///     ]
    /// );
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn thoughts(&self) -> &[Thought] {
        &self.state.thoughts
    }

    /// The sources the answer has cited so far ([`ChatEvent::Citation`]), in the order they
    /// came.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", concat!(
    /// #     r#"data: {"choices":[{"delta":{"content":"Tides follow the moon."}}]}"#, "\n\n",
    /// #     r#"data: {"choices":[{"delta":{"annotations":[{"type":"url_citation","url_citation":{"url":"https://example.com/tides","title":"Tides","start_index":0,"end_index":22}}]}}]}"#, "\n\n",
    /// #     r#"data: {"choices":[{"delta":{},"finish_reason":"stop"}]}"#, "\n\n",
    /// #     "data: [DONE]\n\n",
    /// # ))]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-search-preview", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("Why are there tides?")])?; // an OpenAIClient
    /// let answer = stream.by_ref().collect::<Result<String, _>>()?;
    /// for source in stream.citations() {
    ///     println!("{}", source.url.as_deref().unwrap_or("?"));
    /// }
    /// assert_eq!(stream.citations()[0].title.as_deref(), Some("Tides"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn citations(&self) -> &[Citation] {
        &self.state.citations
    }

    /// The refusal message received so far, if the model refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", "data: {\"choices\":[{\"delta\":{\"refusal\":\"I can't help with that.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let mut stream = client.stream_chat(&[Message::user("How do I pick a lock?")])?;
    /// let text = stream.by_ref().collect::<Result<String, _>>()?;
    /// assert_eq!(stream.refusal(), Some("I can't help with that."));
    /// assert_eq!(text, ""); // a refusal is not text
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn refusal(&self) -> Option<&str> {
        self.state.refusal.as_deref()
    }

    /// The response headers (rate limits, request ids). Empty for a stream made with
    /// [`from_receiver`](Self::from_receiver).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let stream = client.stream_chat(&[Message::user("Hi")])?;
    /// for (name, value) in stream.headers() {
    ///     eprintln!("{name}: {value:?}");
    /// }
    /// assert_eq!(stream.headers()["content-type"], "text/event-stream");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of response header `name`, if present and valid text.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # // One more header line, after the content type's.
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream\r\nx-ratelimit-remaining-requests: 499", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let stream = client.stream_chat(&[Message::user("Hi")])?;
    /// assert_eq!(stream.header("X-RateLimit-Remaining-Requests"), Some("499")); // any case
    /// assert_eq!(stream.header("x-ratelimit-remaining-tokens"), None);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The server's id for this request, from the `x-request-id` header (OpenAI, Mistral,
    /// Together, Cohere) or `request-id` (Anthropic), to quote to the provider's support.
    /// `None` when the server sent neither.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # // One more header line, after the content type's.
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream\r\nx-request-id: req_8f2c01", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Message;
    ///
    /// let stream = client.stream_chat(&[Message::user("Hi")])?;
    /// assert_eq!(stream.request_id(), Some("req_8f2c01")); // to quote to the provider's support
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-request-id")
            .or_else(|| self.header("request-id"))
    }
}

impl Iterator for ChatStream {
    type Item = Result<String, Error>;

    /// The next piece of the answer's text; other events are folded into the state.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_event()? {
                Ok(ChatEvent::Text(text)) => return Some(Ok(text)),
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
