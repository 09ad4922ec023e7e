//! `StreamMap`: many event streams, their items merged into one channel, each tagged with its
//! stream's key.
//!
//! # Why
//!
//! Each [`EventStream`](super::EventStream) has a channel of its own. A caller that reads a
//! thousand of them on one thread has to wait on a thousand channels: a
//! `crossbeam_channel::Select` registers with every one of them on each wait, so each wake-up
//! costs in proportion to the number of streams. Here every stream's worker sends into one
//! bounded channel, and the caller waits on that one: a wake-up costs the same for ten streams
//! or ten thousand, and there is no channel per stream to hold in memory.
//!
//! The shape is tokio-stream's `StreamMap`: streams inserted under keys, one iterator of
//! `(key, item)`. A stream's end is an item too ([`StreamItem::End`]), so that the caller can
//! reconnect it or count it; a removed stream yields nothing more.
//!
//! # Stopping
//!
//! [`remove`](StreamMap::remove), [`clear`](StreamMap::clear) and dropping the map cancel the
//! streams' jobs: a read in progress is interrupted (its connection is shut down) and the
//! worker is free at once. Events of a removed stream still in the channel are dropped unseen.
//! A worker that waits for room in the channel (the caller is not reading) looks every
//! 20 ms (`SEND_POLL`) whether its stream was removed, and gives up if it was. (The other choice, a
//! wake-up per stream on removal, would need a channel or a lock per stream, which is what the
//! map exists to avoid; a worker of a stream that nobody reads can wait that long.) A worker
//! stopped otherwise while it waits (`shutdown_now`, a cancel of the stream's handle) gives up
//! the same way; as its `End` could not be sent either, the reader makes it,
//! `End(Err(Cancelled))`, once the channel is empty. It also makes the `End` of a stream whose
//! job was dropped unrun (still queued when its session shut down, refused a thread), if the
//! channel is full then: a shutdown never waits for room, which on the reader's own thread would
//! never come.
//!
//! # A stream that never ran
//!
//! A stream's job dropped without running (a shutdown while it was queued, a worker thread the
//! system refused) drops its worker's end, which must then send the stream's `End` itself.
//! Why the job was dropped is in the error its handle is resolved with, right after, by whoever
//! dropped it; the end does not know it. So the end sends a marker in place of the `End`, and
//! the reader makes the `End` with its handle's error: `ShutDown`, or the `Io` error that names
//! the refused thread. (The other choice, handing the reason to the closure's drop through a
//! thread-local, needs a copy of the error, which is not `Clone`.)

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use super::stream::{send_while, Sent, Sink, MAX_CHANNEL_CAPACITY};
use super::{Decode, Event, RawEvents, StreamOptions};
use crate::exec::pending::APART_RECHECK;
use crate::exec::{JobHandle, JobWatch, Pending};
use crate::{Error, RequestBuilder};

/// Items a [`StreamMap`]'s channel holds before the workers wait for the caller: 1,024.
///
/// # Examples
///
/// ```
/// assert_eq!(ureq_futures::sse::DEFAULT_MAP_CAPACITY, 1024);
/// ```
pub const DEFAULT_MAP_CAPACITY: usize = 1024;

/// What a [`StreamMap`] hands out for one of its streams, with the stream's key.
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::{Event, StreamItem};
///
/// fn show(key: usize, item: StreamItem) {
///     match item {
///         StreamItem::Event(event) => println!("{key}: {}", event.data),
///         StreamItem::End(Ok(())) => println!("{key}: the server ended the stream"),
///         StreamItem::End(Err(e)) => println!("{key}: {e}"),
///     }
/// }
/// show(7, StreamItem::Event(Event { event: "message".into(), data: "hi".into(), id: None, retry: None }));
/// ```
#[derive(Debug)]
pub enum StreamItem<T = Event> {
    /// An event of the stream (or the item its [`Decode`]r made of one).
    Event(T),
    /// The stream ended, and left the map: `Ok(())` when the server closed it cleanly, `Err`
    /// when it could not be opened (a status, a refused connection), was cut, timed out, or
    /// its decoder failed. Nothing more comes under its key unless it is inserted again.
    End(Result<(), Error>),
}

/// Many event streams read by a session's workers, their items merged into one channel and
/// tagged with the key each stream was inserted under: the way to read many streams on one
/// thread.
///
/// Iterating yields `(key, item)` in the order the items arrived, and ends (`None`) when no
/// stream is left: each stream leaves the map with its [`StreamItem::End`], or when
/// [`remove`](StreamMap::remove)d. Each stream holds a worker of its session while it is open,
/// as an [`EventStream`](super::EventStream) does: size the session's
/// [`max_workers`](crate::SessionBuilder::max_workers) to the streams.
///
/// The channel holds [`DEFAULT_MAP_CAPACITY`] items (see
/// [`with_capacity`](StreamMap::with_capacity)); when it is full the workers wait, and TCP
/// throttles the servers. [`StreamOptions::capacity`] does not apply: there is no channel per
/// stream. Keys are cloned for every item handed out: use a cheap one (an index, an
/// `Arc<str>`).
///
/// The channel is first come, first served, not fair between streams: while the reader is
/// slower than the streams together, the streams that send fastest (feeds that replay a
/// backlog when they connect) take most of its places, and a quiet stream's event waits
/// behind theirs (among 200 streams of which 10 flooded, the others' events waited up to half a
/// second, against 60 ms without the flood). Read such feeds in a map of their own, or keep
/// the reader ahead of them.
///
/// Dropping the map stops every stream, as [`clear`](StreamMap::clear) does. Iterated in a
/// job (a [`submit`](crate::FuturesSession::submit) closure), the map stops every stream, as
/// `clear` does, when that job is cancelled ([`Pending::cancel`](crate::Pending::cancel),
/// `shutdown_now` of the job's session): a wait for the next item ends there, and `next`
/// returns `None` (`next_timeout`, `Err(Disconnected)`). A stream still queued in the pool of
/// that job, while every worker of it runs a job, starts on a thread of its own (beyond
/// `max_workers`, for as long as it is read) rather than wait for a worker that may never come
/// free, as a stream waited for with [`Pending::result`](crate::Pending::result) does; not in
/// a session with `max_per_host` or a rate limiter, whose streams wait for a free worker.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[
/// #     ("/prices/a", "text/event-stream", "data: 1\n\ndata: 2\n\n"),
/// #     ("/prices/b", "text/event-stream", "data: 3\n\n"),
/// # ]);
/// use ureq_futures::sse::{StreamItem, StreamMap};
/// use ureq_futures::FuturesSession;
///
/// // One worker per open stream.
/// let session = FuturesSession::builder().max_workers(100).build();
/// let mut streams = StreamMap::new();
/// for name in ["a", "b"] {
///     streams.insert(name, session.get(format!("{base}/prices/{name}")));
/// }
/// let mut events = 0;
/// for (name, item) in &mut streams {
///     match item {
///         StreamItem::Event(event) => {
///             println!("{name}: {}", event.data);
///             events += 1;
///         }
///         StreamItem::End(result) => println!("{name} ended: {result:?}"),
///     }
/// }
/// assert_eq!(events, 3);
/// assert!(streams.is_empty());
/// # Ok::<(), ureq_futures::Error>(())
/// ```
///
/// A stream reconnected when it ends, under its key: `for .. in &mut streams` holds the map for
/// the whole loop, so a loop that inserts takes each item with `next`. (What an
/// [`EventSource`](crate::EventSource) does on its own, a wait and the `Last-Event-ID`, is
/// the loop's to do.)
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/feed", "text/event-stream", "data: tick\n\n")]);
/// use ureq_futures::sse::{StreamItem, StreamMap};
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let mut streams = StreamMap::new();
/// streams.insert("feed", session.get(format!("{base}/feed")));
/// let (mut ticks, mut connections) = (0, 1);
/// while let Some((key, item)) = streams.next() {
///     match item {
///         StreamItem::Event(_) => ticks += 1,
///         StreamItem::End(_) if connections < 3 => {
///             connections += 1;
///             streams.insert(key, session.get(format!("{base}/feed")));
///         }
///         StreamItem::End(_) => {}
///     }
/// }
/// assert_eq!((ticks, connections), (3, 3));
/// ```
pub struct StreamMap<K, T = Event> {
    tx: Sender<Tagged<T>>,
    rx: Receiver<Tagged<T>>,
    /// How the workers wake the reader (see [`Wake`]).
    wake: Arc<Wake>,
    /// The open streams by their number, which tags their items. A number is never reused, so
    /// the items of a removed stream (still in the channel) are told from those of a new
    /// stream under the same key.
    streams: HashMap<u64, Open<K>>,
    numbers: HashMap<K, u64>,
    next: u64,
    /// Iterated in a job: wakes the reader when that job is cancelled.
    watch: JobWatch,
    /// Whether a stream may still be queued (set by each insert, cleared by a look on a worker
    /// that found none): a worker reading the map looks at its streams only then, not on every
    /// wait for an item.
    maybe_queued: bool,
}

/// An item in the channel: the number of its stream, and the item; `None` in place of the
/// `End` of a stream whose job was dropped unrun, whose error is its handle's (see the
/// module's doc).
type Tagged<T> = (u64, Option<StreamItem<T>>);

/// The reader's side of waiting for an item, in place of the channel's blocking `recv`.
///
/// Why: a blocking `recv` on an empty crossbeam channel spins and yields for a while before it
/// parks. Items of many slow streams arrive one at a time, tens of microseconds apart, so the
/// reader found the channel empty after nearly every item and spent about a fifth of its CPU
/// spinning (`perf` on benches/streams.rs). Here the reader takes items with `try_recv` and,
/// when there is none, says it is waiting and parks; a worker that sends an item unparks it if
/// it waits. The fences make "send, then look at `waiting`" and "set `waiting`, then look at
/// the channel" see each other, so an item is never left unannounced.
#[derive(Debug, Default)]
struct Wake {
    waiting: AtomicBool,
    reader: Mutex<Option<Thread>>,
    /// Streams whose `End` could not be sent because the channel was full, with its error:
    /// a worker stopped while it waited for room (a `shutdown_now`, a cancel), or (`None`, the
    /// error being the handle's) a stream whose job was dropped unrun. The reader makes their
    /// `End` once the channel is empty (after the items they sent before).
    stopped: Mutex<Vec<(u64, Option<Error>)>>,
}

impl Wake {
    /// Called after each send: unparks the reader if it waits.
    fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) {
            if let Some(reader) = self
                .reader
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                reader.unpark();
            }
        }
    }

    /// Records that stream `number` ended with `error` without sending its `End`.
    fn stopped(&self, number: u64, error: Option<Error>) {
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((number, error));
        self.notify();
    }

    /// The next item of `rx`, or the `End` that `stopped_end` makes of a stopped stream's
    /// number and error once `rx` is empty, waiting until `deadline` (for ever if `None`);
    /// `None` at the deadline, or once `give_up` says so (looked at before each park: what
    /// makes it true must call [`notify`](Wake::notify) after).
    fn recv<T>(
        &self,
        rx: &Receiver<T>,
        deadline: Option<Instant>,
        stopped_end: impl Fn(u64, Option<Error>) -> T,
        give_up: impl Fn() -> bool,
    ) -> Option<T> {
        let stopped = || {
            let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner()).pop();
            stopped.map(|(number, error)| stopped_end(number, error))
        };
        loop {
            match rx.try_recv() {
                Ok(item) => return Some(item),
                // The map holds a sender: the channel never disconnects while it is read.
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
            }
            if let Some(end) = stopped() {
                return Some(end);
            }
            *self.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current());
            self.waiting.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let item = rx.try_recv().ok().or_else(stopped);
            if item.is_none() {
                if give_up() {
                    self.waiting.store(false, Ordering::Relaxed);
                    return None;
                }
                match deadline {
                    None => std::thread::park(),
                    Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                        _ => {
                            self.waiting.store(false, Ordering::Relaxed);
                            return None;
                        }
                    },
                }
            }
            self.waiting.store(false, Ordering::Relaxed);
            if item.is_some() {
                return item;
            }
        }
    }
}

/// An open stream: its key, and its job, cancelled to stop it.
struct Open<K> {
    key: K,
    job: Pending<()>,
    /// Set when the map lets go of the stream, before its job is cancelled: its worker's end
    /// then stops waiting for room at once, also when the job never ran (a queued job is
    /// dropped by the cancel, on the caller's thread, which alone could make room).
    removed: Arc<AtomicBool>,
}

impl<K> Open<K> {
    /// Lets go of the stream: marks it removed, then cancels its job.
    fn stop(&self) {
        self.removed.store(true, Ordering::Release);
        self.job.cancel();
    }
}

impl<K, T> fmt::Debug for StreamMap<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamMap")
            .field("streams", &self.streams.len())
            .field("buffered", &self.rx.len())
            .finish()
    }
}

impl<K: Clone + Eq + Hash, T: Send + 'static> Default for StreamMap<K, T> {
    fn default() -> Self {
        StreamMap::new()
    }
}

impl<K: Clone + Eq + Hash> StreamMap<K, Event> {
    /// Opens an event stream with `request` (as [`RequestBuilder::events`] does) and adds it
    /// under `key`. A stream already under `key` is stopped and replaced: returns whether there
    /// was one. The request is sent on a worker; an error opening it (a status, a refused
    /// connection) comes as the stream's [`StreamItem::End`].
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\n")]);
    /// use ureq_futures::sse::{StreamItem, StreamMap};
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut streams = StreamMap::new();
    /// assert!(!streams.insert(1, session.get(format!("{base}/events"))));
    /// let (key, item) = streams.next().unwrap();
    /// assert_eq!(key, 1);
    /// assert!(matches!(item, StreamItem::Event(e) if e.data == "a"));
    /// ```
    pub fn insert(&mut self, key: K, request: RequestBuilder) -> bool {
        self.insert_decoded(key, request, StreamOptions::default(), RawEvents)
    }
}

impl<K: Clone + Eq + Hash, T: Send + 'static> StreamMap<K, T> {
    /// An empty map whose channel holds [`DEFAULT_MAP_CAPACITY`] items.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::StreamMap;
    ///
    /// let streams: StreamMap<usize> = StreamMap::new();
    /// assert!(streams.is_empty());
    /// ```
    pub fn new() -> Self {
        StreamMap::with_capacity(DEFAULT_MAP_CAPACITY)
    }

    /// An empty map whose channel holds `items` (at least 1, at most 65,536: the channel
    /// reserves room for all of them when it is made) before the workers wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::StreamMap;
    ///
    /// let streams: StreamMap<String> = StreamMap::with_capacity(64);
    /// assert_eq!(streams.len(), 0);
    /// ```
    pub fn with_capacity(items: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(items.clamp(1, MAX_CHANNEL_CAPACITY));
        StreamMap {
            tx,
            rx,
            wake: Arc::default(),
            streams: HashMap::new(),
            numbers: HashMap::new(),
            next: 0,
            maybe_queued: false,
            watch: JobWatch::default(),
        }
    }

    /// [`insert`](StreamMap::insert) with other options (parser limits, NDJSON) and a
    /// [`Decode`]r that turns each event into an item on the worker, as
    /// [`RequestBuilder::events_decoded`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/a", "text/event-stream", "data: 1.5\n\n"), ("/b", "text/event-stream", "data: 2.5\n\n")]);
    /// use ureq_futures::sse::{Decode, Event, StreamItem, StreamMap, StreamOptions};
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// /// Parses each event's number on the worker.
    /// struct Price;
    ///
    /// impl Decode for Price {
    ///     type Item = f64;
    ///     fn decode(&mut self, event: Event) -> Result<Option<f64>, Error> {
    ///         Ok(Some(event.data.parse().map_err(Error::other)?))
    ///     }
    /// }
    ///
    /// let session = FuturesSession::new();
    /// let mut prices = StreamMap::new();
    /// for name in ["a", "b"] {
    ///     prices.insert_decoded(name, session.get(format!("{base}/{name}")), StreamOptions::default(), Price);
    /// }
    /// let mut total = 0.0;
    /// for (_, item) in &mut prices {
    ///     if let StreamItem::Event(price) = item {
    ///         total += price;
    ///     }
    /// }
    /// assert_eq!(total, 4.0);
    /// ```
    pub fn insert_decoded<D: Decode<Item = T>>(
        &mut self,
        key: K,
        request: RequestBuilder,
        options: StreamOptions,
        decoder: D,
    ) -> bool {
        let replaced = self.remove(&key);
        let number = self.next;
        self.next += 1;
        let removed = Arc::new(AtomicBool::new(false));
        let feed = MapFeed {
            number,
            tx: self.tx.clone(),
            wake: Arc::clone(&self.wake),
            ended: Cell::new(false),
            started: false,
            job: None,
            removed: Arc::clone(&removed),
        };
        let job = request.stream_into(options, decoder, feed);
        self.numbers.insert(key.clone(), number);
        self.streams.insert(number, Open { key, job, removed });
        self.maybe_queued = true;
        replaced
    }

    /// Stops the stream under `key` and takes it out of the map: its read in progress is
    /// interrupted and its worker is free (within 20 ms when it was waiting for room in a full
    /// channel). Its items not yet taken are dropped, and no [`StreamItem::End`] comes for it.
    /// Returns whether there was such a stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\n")]);
    /// use ureq_futures::sse::StreamMap;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut streams = StreamMap::new();
    /// streams.insert("feed", session.get(format!("{base}/events")));
    /// assert!(streams.remove(&"feed"));
    /// assert!(streams.next().is_none());
    /// ```
    pub fn remove(&mut self, key: &K) -> bool {
        let Some(number) = self.numbers.remove(key) else {
            return false;
        };
        if let Some(open) = self.streams.remove(&number) {
            open.stop();
        }
        true
    }

    /// Stops every stream, as [`remove`](StreamMap::remove) does, and empties the map.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\n")]);
    /// use ureq_futures::sse::StreamMap;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut streams = StreamMap::new();
    /// streams.insert(1, session.get(format!("{base}/events")));
    /// streams.insert(2, session.get(format!("{base}/events")));
    /// streams.clear();
    /// assert!(streams.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.numbers.clear();
        stop_all(self.streams.drain().map(|(_, open)| open));
        while self.rx.try_recv().is_ok() {}
    }

    /// The number of streams in the map: inserted, and neither ended nor removed.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::StreamMap;
    ///
    /// let streams: StreamMap<u32> = StreamMap::new();
    /// assert_eq!(streams.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is left.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::StreamMap;
    ///
    /// let streams: StreamMap<u32> = StreamMap::new();
    /// assert!(streams.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Whether a stream is under `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::StreamMap;
    ///
    /// let streams: StreamMap<&str> = StreamMap::new();
    /// assert!(!streams.contains_key(&"feed"));
    /// ```
    pub fn contains_key(&self, key: &K) -> bool {
        self.numbers.contains_key(key)
    }

    /// The next item, waiting at most `timeout` for it: `Err(Timeout)` if none came in time,
    /// `Err(Disconnected)` if the map is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::crossbeam_channel::RecvTimeoutError;
    /// use ureq_futures::sse::StreamMap;
    ///
    /// let mut streams: StreamMap<u32> = StreamMap::new();
    /// let next = streams.next_timeout(Duration::from_millis(10));
    /// assert!(matches!(next, Err(RecvTimeoutError::Disconnected)));
    /// ```
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<(K, StreamItem<T>), RecvTimeoutError> {
        self.next_until(Instant::now().checked_add(timeout))
    }

    /// The next item of any stream, waiting until `deadline` (or for good).
    fn next_until(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<(K, StreamItem<T>), RecvTimeoutError> {
        loop {
            if self.streams.is_empty() {
                return Err(RecvTimeoutError::Disconnected);
            }
            if self.cancelled() {
                self.clear();
                return Err(RecvTimeoutError::Disconnected);
            }
            // On a worker of the streams' own pool, a stream still queued while every worker
            // runs a job (this one's among them) would wait for ever: it starts on a thread of
            // its own, as a stream waited for with `Pending::result` does. Looked at again every
            // `APART_RECHECK` while one is queued here: the pool may fill meanwhile.
            let look = self.maybe_queued && self.rx.is_empty() && crate::exec::pool::on_a_worker();
            let recheck = look && self.streams.values().any(|o| o.job.stream_queued_here());
            // Cleared only once no stream is queued in any pool: the map may move on to a job
            // of its streams' own pool (read here on a worker of another).
            if look
                && !recheck
                && !self
                    .streams
                    .values()
                    .any(|o| o.job.stream_queued_anywhere())
            {
                self.maybe_queued = false;
            }
            let until = match deadline {
                _ if !recheck => deadline,
                Some(deadline) => Some(deadline.min(Instant::now() + APART_RECHECK)),
                None => Some(Instant::now() + APART_RECHECK),
            };
            let watch = &self.watch;
            let tagged = self.wake.recv(
                &self.rx,
                until,
                |number, error| (number, error.map(|e| StreamItem::End(Err(e)))),
                || watch.fired(),
            );
            let Some(tagged) = tagged else {
                if self.watch.fired() {
                    continue; // the cancel stops the streams above
                }
                if recheck && deadline.is_none_or(|d| Instant::now() < d) {
                    for open in self.streams.values() {
                        if open.job.stream_queued_here() {
                            open.job.help();
                        }
                    }
                    continue;
                }
                return Err(RecvTimeoutError::Timeout);
            };
            if let Some(item) = self.claim(tagged) {
                return Ok(item);
            }
        }
    }

    /// Whether the job the map is iterated in was cancelled; asks that job to wake the reader
    /// when it is.
    fn cancelled(&mut self) -> bool {
        let wake = &self.wake;
        self.watch.watch(|| {
            let wake = Arc::clone(wake);
            move || wake.notify()
        })
    }

    /// The item with its stream's key, or `None` for an item of a stream removed since.
    fn claim(&mut self, (number, item): Tagged<T>) -> Option<(K, StreamItem<T>)> {
        if let Some(item @ StreamItem::Event(_)) = item {
            return Some((self.streams.get(&number)?.key.clone(), item));
        }
        let open = self.streams.remove(&number)?;
        self.numbers.remove(&open.key);
        let item = match item {
            Some(end) => end,
            // Its job was dropped unrun: the handle says why (a shutdown, a refused thread).
            // Whoever dropped it resolves the handle right after, so this wait is short; the
            // handle's `Ok` would be that of a job that ran (never the case here).
            None => StreamItem::End(open.job.result()),
        };
        Some((open.key, item))
    }
}

impl<K: Clone + Eq + Hash, T: Send + 'static> Iterator for StreamMap<K, T> {
    type Item = (K, StreamItem<T>);

    /// The next item of any stream, waiting for it; `None` once no stream is left.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_until(None).ok()
    }
}

impl<K, T> Drop for StreamMap<K, T> {
    fn drop(&mut self) {
        stop_all(self.streams.drain().map(|(_, open)| open));
    }
}

/// Stops `streams`: marks them all removed, then cancels their jobs. One at a time, each
/// cancel of a running stream frees a worker (or a place of `max_per_host`) that may take the
/// next queued stream before its cancel comes: marked first, that stream's job sends nothing
/// (`run::merged_stream` looks before it connects).
fn stop_all<K>(streams: impl Iterator<Item = Open<K>>) {
    let streams: Vec<Open<K>> = streams.collect();
    for open in &streams {
        open.removed.store(true, Ordering::Release);
    }
    for open in &streams {
        open.job.cancel();
    }
}

/// The worker's end of one stream of a map: tags each item with the stream's number, and makes
/// sure the stream's last item is an [`StreamItem::End`].
pub(crate) struct MapFeed<T> {
    number: u64,
    tx: Sender<Tagged<T>>,
    wake: Arc<Wake>,
    /// Whether the `End` was sent.
    ended: Cell<bool>,
    /// Whether the stream's job started (see [`MapFeed::on_job`]).
    started: bool,
    /// The stream's job, cancelled when the stream is removed.
    job: Option<JobHandle>,
    /// Whether the map let go of the stream (see [`Open::removed`]).
    removed: Arc<AtomicBool>,
}

impl<T> MapFeed<T> {
    /// The stream's job starts: sets the job whose cancel means the stream was removed (the
    /// current thread's).
    pub(crate) fn on_job(&mut self, job: Option<JobHandle>) {
        self.started = true;
        self.job = job;
    }

    /// Ends the stream with `result`, unless it has ended already. A stream whose job was
    /// cancelled (`shutdown_now`) did not end cleanly, whatever the pump saw: it stops between
    /// two reads when it notices the cancel there, as if the body had ended.
    pub(crate) fn end(&self, result: Result<(), Error>) {
        let result = match result {
            Ok(()) if self.job.as_ref().is_some_and(JobHandle::is_cancelled) => {
                Err(Error::Cancelled)
            }
            other => other,
        };
        if !self.ended.replace(true) {
            self.send_tagged(StreamItem::End(result));
        }
    }

    /// Sends one item of this stream, waiting for room in the channel until the map is gone or
    /// the stream was removed (looked at every [`SEND_POLL`]). Whether it was sent.
    fn send_tagged(&self, item: StreamItem<T>) -> bool {
        match send_while(&self.tx, (self.number, Some(item)), || self.is_closed()) {
            Sent::Yes => {
                self.wake.notify();
                true
            }
            Sent::Gone => false,
            Sent::Stopped((_, item)) => {
                // A stream the map let go of needs no end; one stopped otherwise does.
                if let Some(StreamItem::End(result)) = item {
                    self.stopped_end(Some(result.err().unwrap_or(Error::Cancelled)));
                }
                false
            }
        }
    }

    /// Leaves the stream's `End`, which the full channel could not take, for the reader to
    /// make once the channel is empty (with the handle's error for `None`); nothing for a
    /// stream the map let go of.
    fn stopped_end(&self, error: Option<Error>) {
        if !self.removed.load(Ordering::Acquire) {
            self.wake.stopped(self.number, error);
        }
    }
}

impl<T> Sink<T> for MapFeed<T> {
    fn send(&self, item: Result<T, Error>) -> bool {
        let item = match item {
            Ok(item) => StreamItem::Event(item),
            Err(e) => {
                self.end(Err(e));
                return true;
            }
        };
        self.send_tagged(item)
    }

    fn is_closed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
            || self.job.as_ref().is_some_and(JobHandle::is_cancelled)
    }
}

impl<T> Drop for MapFeed<T> {
    /// A stream that never ran (its session shut down first, the system refused its job a
    /// thread) or whose job panicked outside the decoder still ends, so that the map does not
    /// wait for it forever: with the error its handle is resolved with (`ShutDown`, the `Io`
    /// error of the refused thread), which the reader takes from there (see the module's doc),
    /// or `Panicked`. Without waiting for room: the job of a queued stream is dropped by the
    /// thread that shuts the session down, which may be the map's reader, the one thread that
    /// could make room. A full channel leaves the `End` to the reader.
    fn drop(&mut self) {
        if self.ended.replace(true) {
            return;
        }
        // A job that ran sends its `End` (`merged_stream`) unless it panics: the handle's
        // error stands for both other cases.
        let end = (std::thread::panicking() && self.started)
            .then(|| StreamItem::End(Err(Error::Panicked("the stream's job panicked".into()))));
        match self.tx.try_send((self.number, end)) {
            Ok(()) => self.wake.notify(),
            Err(TrySendError::Full((_, end))) => {
                let panicked = match end {
                    Some(StreamItem::End(Err(e))) => Some(e),
                    _ => None,
                };
                self.stopped_end(panicked);
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FuturesSession;

    /// Where nothing listens: the streams of these tests are never sent.
    const NOWHERE: &str = "http://127.0.0.1:9/events";

    fn assert_refused(item: Option<(u32, StreamItem)>, key: u32, why: &str) {
        match item {
            Some((k, StreamItem::End(Err(Error::Io(e))))) if k == key => {
                assert!(e.to_string().starts_with(why), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A stream whose job the system refused a worker thread ended with `ShutDown` (the
    /// session was shut down before the job ran), though `result()` of the same job says the
    /// thread was refused: the map's end of a stream took every job dropped unrun for one a
    /// shutdown dropped.
    #[test]
    fn a_stream_refused_a_worker_thread_ends_with_the_refusal() {
        let session = FuturesSession::builder().max_workers(1).build();
        session.executor_for_test().refuse_threads_for_test(true);
        let mut streams = StreamMap::new();
        streams.insert(1, session.get(NOWHERE));
        assert_refused(streams.next(), 1, "could not start a worker thread");
        assert!(streams.next().is_none());
    }

    /// The same, with the channel full when the stream's job is dropped: the reader makes its
    /// end once the channel is empty, and with the refusal too.
    #[test]
    fn a_stream_refused_a_worker_thread_while_the_channel_is_full_ends_with_the_refusal() {
        use support::{ms, Reply, TestServer};

        let server = TestServer::start(|_| Reply::sse(["data: 1\n\n", "data: 2\n\n"], ms(1)));
        let session = FuturesSession::builder().max_workers(2).build();
        let mut streams = StreamMap::with_capacity(1);
        streams.insert(0, session.get(server.url()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !streams.rx.is_full() && Instant::now() < deadline {
            std::thread::sleep(ms(1));
        }
        assert!(streams.rx.is_full(), "the first stream sent nothing");
        // The first worker is busy with the first stream: the second one needs a thread.
        session.executor_for_test().refuse_threads_for_test(true);
        streams.insert(1, session.get(NOWHERE));
        let mut ends = Vec::new();
        let mut events = 0;
        for (key, item) in &mut streams {
            match item {
                StreamItem::Event(_) => events += 1,
                StreamItem::End(end) => ends.push((key, end)),
            }
        }
        assert_eq!(events, 2);
        ends.sort_by_key(|(key, _)| *key);
        let mut ends = ends.into_iter();
        assert!(matches!(ends.next(), Some((0, Ok(())))));
        let refused = ends.next().map(|(key, end)| (key, StreamItem::End(end)));
        assert_refused(refused, 1, "could not start a worker thread");
        assert!(ends.next().is_none());
    }

    /// A stream still queued in the full pool of the job that reads the map starts on a thread
    /// of its own; one the system refused that thread ended with `ShutDown` too.
    #[test]
    fn a_stream_refused_its_own_thread_in_a_full_pool_ends_with_the_refusal() {
        let session = FuturesSession::builder().max_workers(1).build();
        let inner = session.clone();
        let reader = session.submit(move |_| {
            inner.executor_for_test().refuse_threads_for_test(true);
            let mut streams = StreamMap::new();
            streams.insert(1, inner.get(NOWHERE));
            Ok(streams.next())
        });
        assert_refused(
            reader.result().unwrap(),
            1,
            "could not start a thread for an event stream waited for on a busy worker",
        );
    }
}
