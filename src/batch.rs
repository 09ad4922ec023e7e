//! `Batch`: many jobs through a session, at most N in flight, as an iterator of results.
//!
//! # Why an iterator adapter
//!
//! The options were a callback per result (`for_each`, as rayon does), a `Vec` of handles (what
//! [`as_completed`](crate::as_completed) takes), or an iterator that pulls its inputs as results
//! are taken. A `Vec` of handles holds one handle per input, which is what a million inputs
//! cannot afford. A callback hides the loop: breaking out early, `?` on an error, or handing
//! results to another iterator adapter all need extra machinery. An iterator gives all of that
//! for free, and its pull is the backpressure: the inputs are read only as fast as results are
//! taken, so memory is bounded by the window however many inputs there are. The shape and the
//! names follow `futures`' `StreamExt::buffer_unordered` / `buffered`, which Rust users already
//! know for the same job in async code: completion order by default, input order on request.
//!
//! # How completions are seen
//!
//! Each handle is polled as a [`Future`] with a waker that sends the job's place in the window to
//! a channel, so the iterator sleeps on one channel however many jobs are in flight, and costs
//! O(1) per job whatever the order in which they finish.
//!
//! # A batch iterated on a worker
//!
//! A job may run a batch on its own session. In a full pool its jobs then wait for a worker
//! that waits for them, so before sleeping on its channel the batch runs one of its queued jobs
//! inline, as [`Pending::result`] and [`as_completed`](crate::as_completed) do (the README's
//! "Nested waits"). Off a worker it only sleeps.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::iter::Fuse;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::exec::JobWatch;
use crate::{Error, FuturesSession, Pending};

/// Counters of a [`Batch`], handed to its [`progress`](Batch::progress) callback.
///
/// # Examples
///
/// ```
/// use ureq_futures::{Error, FuturesSession};
///
/// let session = FuturesSession::new();
/// let mut batch = session
///     .batch(0..4, |s, &n| s.submit(move |_| if n == 2 { Err(Error::Protocol("two".into())) } else { Ok(n) }))
///     .progress(|p| eprint!("\r{} of {:?} done, {} failed", p.completed, p.total, p.failed));
/// while batch.next().is_some() {}
/// let counts = batch.counts();
/// assert_eq!((counts.completed, counts.failed, counts.total), (4, 1, Some(4)));
/// assert_eq!(counts.in_flight, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchProgress {
    /// Jobs submitted so far.
    pub submitted: u64,
    /// Jobs that have finished, with a result or an error.
    pub completed: u64,
    /// Of the completed jobs, those whose result was an error. A response of any status is
    /// a result: a job counts a 4xx or 5xx as failed only when it makes that an error
    /// ([`Response::error_for_status`](crate::Response::error_for_status) in the job).
    pub failed: u64,
    /// Jobs cancelled (queued or running) by [`stop_on_error`](Batch::stop_on_error), or by a
    /// cancel of the job the batch is iterated in. Dropping the batch cancels its jobs too, but
    /// nothing counts or reports them after that.
    pub cancelled: u64,
    /// Submitted jobs whose result has not been yielded yet (at most the window).
    pub in_flight: usize,
    /// The number of inputs, when the input iterator knows it exactly (its `size_hint`).
    pub total: Option<u64>,
    /// Time since the first job was submitted.
    pub elapsed: Duration,
}

/// The callback of [`Batch::progress`].
type ProgressFn = Box<dyn FnMut(&BatchProgress) + Send>;

/// Where a job sits in the window, and which job it is (a slot is reused by later jobs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Token {
    slot: usize,
    seq: u64,
}

/// Tells the batch that the job behind `token` may have finished.
struct Notify {
    tx: Sender<Token>,
    token: Token,
}

impl Wake for Notify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The batch may be gone (dropped while jobs ran); nobody to tell then.
        let _ = self.tx.send(self.token);
    }
}

enum State<T> {
    Running(Pending<T>),
    Done(Result<T, Error>),
}

struct Entry<Item, T> {
    seq: u64,
    item: Item,
    state: State<T>,
}

/// Runs a job per input with at most [`in_flight`](Batch::in_flight) of them submitted and not
/// yet yielded, and yields `(input, result)` pairs; made by [`FuturesSession::batch`].
///
/// * **Lazy.** Nothing is submitted before the first call to `next`; the inputs are pulled one
///   by one as the window has room, so an input iterator of any length runs in memory bounded
///   by the window.
/// * **Order.** Completion order by default (like `futures`' `buffer_unordered` and
///   [`as_completed`](crate::as_completed)); input order with [`ordered`](Batch::ordered) (like
///   `buffered`): then a slow job holds back the results after it, and the window does not move
///   past it.
/// * **Errors.** A job's error is that input's result; the batch goes on. With
///   [`stop_on_error`](Batch::stop_on_error) the first error yielded ends the batch: the jobs
///   still queued or running are cancelled (a running request is interrupted, see
///   [`Pending::cancel`]), no more inputs are read, and results not yet yielded are dropped. A 4xx or 5xx response is not an error (make it one with
///   [`Response::error_for_status`](crate::Response::error_for_status) in a
///   [`send_with`](crate::RequestBuilder::send_with) hook).
/// * **Shutdown.** Once the session is shut down ([`shutdown`](FuturesSession::shutdown),
///   [`shutdown_now`](FuturesSession::shutdown_now), from any clone or thread), no more
///   inputs are read: the batch yields the jobs already submitted (the first one at least,
///   with its [`Error::ShutDown`](crate::Error::ShutDown) or
///   [`Error::Cancelled`](crate::Error::Cancelled)) and ends, an endless input too.
/// * **Dropping** the batch before its end cancels its queued and running jobs, as
///   [`stop_on_error`](Batch::stop_on_error) does. So does a cancel of the job the batch is
///   iterated in ([`Pending::cancel`], [`shutdown_now`](FuturesSession::shutdown_now)), which
///   also ends its wait for a result: `next` returns `None`, and the job's worker is free.
///
/// The closure that makes each job runs on the caller's thread, inside `next`. So does the
/// [`progress`](Batch::progress) callback.
///
/// Iterated inside a job of the pool its jobs run on, the batch runs its queued jobs inline
/// while it waits, as [`Pending::result`] does, so a full pool cannot deadlock on it.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/1", "text/plain", "one"), ("/2", "text/plain", "two"), ("/3", "text/plain", "three")]);
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let urls = (1..=3).map(|i| format!("{base}/{i}"));
/// let lengths: Vec<(String, usize)> = session
///     .batch(urls, |s, url| s.get(url).send())
///     .in_flight(2)
///     .ordered()
///     .map(|(url, result)| Ok((url, result?.bytes().len())))
///     .collect::<Result<_, ureq_futures::Error>>()?;
/// assert_eq!(lengths[2], (format!("{base}/3"), 5));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[must_use = "a Batch runs nothing until it is iterated"]
pub struct Batch<I: Iterator, T: Send + 'static, F> {
    session: FuturesSession,
    inputs: Fuse<I>,
    make: F,
    window: usize,
    ordered: bool,
    stop_on_error: bool,
    progress: Option<ProgressFn>,
    /// The window's places, made as jobs need them (so a window larger than the input costs
    /// nothing); `None` while free. In completion order a place is reused once its job is
    /// yielded; in input order job `seq` sits at `seq - head_seq`, oldest first.
    slots: VecDeque<Option<Entry<I::Item, T>>>,
    /// Free places (completion order only).
    free: Vec<usize>,
    /// Places whose job is done and not yet yielded (completion order only), oldest first.
    done: VecDeque<usize>,
    /// The next job's number, and the first not yet yielded (input order only).
    next_seq: u64,
    head_seq: u64,
    tx: Sender<Token>,
    rx: Receiver<Token>,
    counts: BatchProgress,
    started: Option<Instant>,
    /// No more submissions: the inputs ran out or the batch stopped.
    stopped: bool,
    /// Stops the batch as a shutdown of its own session does, when it says so: a
    /// `ChatBatch`'s (whose jobs run on a pool of the batch's own) on a shutdown of its
    /// client's session, or on a failure no later chat escapes.
    stop_when: Option<Box<dyn Fn() -> bool + Send + Sync>>,
    /// Iterated in a job: wakes the batch's wait when that job is cancelled.
    watch: JobWatch,
    /// The error that stops a batch under `stop_on_error`, kept while the stop reports its
    /// cancels: a progress callback that panics then does not lose it.
    stopping_error: Option<(I::Item, Result<T, Error>)>,
}

/// The token a cancel sends: no job has it.
const CANCELLED: Token = Token {
    slot: usize::MAX,
    seq: u64::MAX,
};

impl FuturesSession {
    /// Runs `make(session, &input)` for each input with at most 2 × [`max_workers`] jobs in
    /// flight (see [`Batch::in_flight`]), and returns an iterator of `(input, result)`. See
    /// [`Batch`] for the order, the errors and memory.
    ///
    /// `make` gets the input by reference and returns the job's handle: a request's
    /// [`send`](crate::RequestBuilder::send) or [`send_with`](crate::RequestBuilder::send_with),
    /// a [`submit`](FuturesSession::submit), anything that returns a [`Pending`]. The input comes
    /// back with its result, so a failure says which input it was; `.enumerate()` the inputs for
    /// their index.
    ///
    /// [`max_workers`]: FuturesSession::max_workers
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().max_workers(4).build();
    /// let mut squares: Vec<u64> = session
    ///     .batch(0..1000u64, |s, &n| s.submit(move |_| Ok(n * n)))
    ///     .in_flight(16)
    ///     .map(|(_, r)| r.unwrap())
    ///     .collect();
    /// squares.sort();
    /// assert_eq!(squares[999], 999 * 999);
    /// ```
    pub fn batch<I, T, F>(&self, inputs: I, make: F) -> Batch<I::IntoIter, T, F>
    where
        I: IntoIterator,
        T: Send + 'static,
        F: FnMut(&FuturesSession, &I::Item) -> Pending<T>,
    {
        let inputs = inputs.into_iter();
        let total = match inputs.size_hint() {
            (low, Some(high)) if low == high => Some(low as u64),
            _ => None,
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        Batch {
            window: self.max_workers().saturating_mul(2),
            session: self.clone(),
            inputs: inputs.fuse(),
            make,
            ordered: false,
            stop_on_error: false,
            progress: None,
            slots: VecDeque::new(),
            free: Vec::new(),
            done: VecDeque::new(),
            next_seq: 0,
            head_seq: 0,
            tx,
            rx,
            counts: BatchProgress {
                submitted: 0,
                completed: 0,
                failed: 0,
                cancelled: 0,
                in_flight: 0,
                total,
                elapsed: Duration::ZERO,
            },
            started: None,
            stopped: false,
            stop_when: None,
            watch: JobWatch::default(),
            stopping_error: None,
        }
    }
}

impl<I: Iterator, T: Send + 'static, F> fmt::Debug for Batch<I, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("in_flight", &self.window)
            .field("ordered", &self.ordered)
            .field("stop_on_error", &self.stop_on_error)
            .field("progress", &self.counts)
            .finish()
    }
}

impl<I, T, F> Batch<I, T, F>
where
    I: Iterator,
    T: Send + 'static,
    F: FnMut(&FuturesSession, &I::Item) -> Pending<T>,
{
    /// Stops the batch also when `stop` says so, as a shutdown of its session does (see the
    /// batch's docs on shutdown): no more inputs are read.
    #[cfg(feature = "llm")]
    pub(crate) fn stop_when(mut self, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.stop_when = Some(Box::new(stop));
        self
    }

    /// At most `n` jobs submitted and not yet yielded, at least 1. Memory is bounded by it: `n`
    /// inputs, handles and results at most. More than the session's workers keeps them busy
    /// while the caller handles results; queued jobs beyond that only wait. Defaults to twice
    /// the session's [`max_workers`](FuturesSession::max_workers). Room is made as jobs are
    /// submitted, so a window larger than the input (`usize::MAX`: the input's length) costs
    /// nothing up front.
    ///
    /// With a rate limiter or [`max_per_host`](crate::SessionBuilder::max_per_host), jobs held
    /// back by their origin's limit (a pause after a 429) keep their places in the window: a
    /// batch over several hosts whose window fills with one paused host's jobs waits for that
    /// pause, while the other hosts get nothing. Give such a batch a window of several times
    /// the jobs one host can hold back, or a batch per host.
    ///
    /// Takes effect before the first result; later calls are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// // At most 4 jobs submitted and not yet yielded at any time.
    /// let sum: u64 = session
    ///     .batch(1..=100u64, |s, &n| s.submit(move |_| Ok(n)))
    ///     .in_flight(4)
    ///     .progress(|p| assert!(p.in_flight <= 4))
    ///     .map(|(_, r)| r.unwrap())
    ///     .sum();
    /// assert_eq!(sum, 5050);
    /// ```
    pub fn in_flight(mut self, n: usize) -> Self {
        if self.counts.submitted == 0 {
            self.window = n.max(1);
        }
        self
    }

    /// Yields the results in input order (`futures`' `buffered`) rather than as they complete
    /// (`buffer_unordered`, the default). Takes effect before the first result.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let order: Vec<usize> = session
    ///     .batch(0..5, |s, &n| s.submit(move |_| Ok(n)))
    ///     .ordered()
    ///     .map(|(i, _)| i)
    ///     .collect();
    /// assert_eq!(order, [0, 1, 2, 3, 4]);
    /// ```
    pub fn ordered(mut self) -> Self {
        if self.counts.submitted == 0 {
            self.ordered = true;
        }
        self
    }

    /// Ends the batch at the first error it yields: jobs still queued or running are cancelled
    /// as by [`Pending::cancel`] (their count is [`BatchProgress::cancelled`]), no more inputs
    /// are read, and finished results not yet yielded are dropped. Defaults to off: an error is that input's result and the batch
    /// goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let session = FuturesSession::builder().max_workers(1).build();
    /// let results: Vec<_> = session
    ///     .batch(0..100, |s, &n| {
    ///         s.submit(move |_| if n == 0 { Err(Error::InvalidRequest("bad input".into())) } else { Ok(n) })
    ///     })
    ///     .in_flight(2)
    ///     .stop_on_error()
    ///     .collect();
    /// // The failure is yielded; the jobs not started yet are cancelled, not run.
    /// assert!(results.iter().any(|(_, r)| r.is_err()));
    /// assert!(results.len() < 100);
    /// ```
    pub fn stop_on_error(mut self) -> Self {
        self.stop_on_error = true;
        self
    }

    /// Calls `callback` with the batch's counters each time a job finishes (and once more when a
    /// stop cancels jobs), on the caller's thread inside `next`. Keep it short: the next result
    /// waits for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let results = session
    ///     .batch(0..10, |s, &n| s.submit(move |_| Ok(n)))
    ///     .progress(|p| eprint!("\r{}/{} done", p.completed, p.total.unwrap_or(0)))
    ///     .count();
    /// assert_eq!(results, 10);
    /// ```
    pub fn progress(mut self, callback: impl FnMut(&BatchProgress) + Send + 'static) -> Self {
        self.progress = Some(Box::new(callback));
        self
    }

    /// The counters as they are now.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let mut batch = session.batch(0..3, |s, &n| s.submit(move |_| Ok(n)));
    /// while batch.next().is_some() {}
    /// let counts = batch.counts();
    /// assert_eq!((counts.submitted, counts.completed, counts.failed), (3, 3, 0));
    /// ```
    pub fn counts(&self) -> BatchProgress {
        let mut counts = self.counts.clone();
        counts.elapsed = self.started.map_or(Duration::ZERO, |t| t.elapsed());
        counts
    }

    /// Submits jobs until the window is full or the inputs run out.
    fn fill(&mut self) {
        while !self.stopped && self.counts.in_flight < self.window {
            // A cancel of the job the batch runs in: no more inputs (`next` stops the batch).
            if self.cancelled() {
                break;
            }
            // A shut-down session refuses every job: no more inputs are read once one was (an
            // endless input would yield errors for ever).
            if self.counts.submitted > 0
                && (self.session.is_shut_down()
                    || self.stop_when.as_ref().is_some_and(|stop| stop()))
            {
                self.stopped = true;
                break;
            }
            let Some(item) = self.inputs.next() else {
                self.stopped = true;
                break;
            };
            let seq = self.next_seq;
            self.started.get_or_insert_with(Instant::now);
            let mut pending = (self.make)(&self.session, &item);
            // Taken once the job exists, so that a `make` that panics takes no place.
            let slot = match self.free.pop() {
                Some(slot) => slot,
                None => {
                    self.slots.push_back(None);
                    self.slots.len() - 1
                }
            };
            self.next_seq += 1;
            self.counts.submitted += 1;
            self.counts.in_flight += 1;
            let token = Token { slot, seq };
            let waker = Waker::from(Arc::new(Notify {
                tx: self.tx.clone(),
                token,
            }));
            // Not polled in a cancelled job, where the handle would cancel its job and come back
            // as a failure: the batch's stop cancels it, and counts it so.
            let state = if self.cancelled() {
                State::Running(pending)
            } else {
                match Pin::new(&mut pending).poll(&mut Context::from_waker(&waker)) {
                    Poll::Ready(result) => State::Done(result),
                    Poll::Pending => State::Running(pending),
                }
            };
            let finished = matches!(state, State::Done(_));
            self.slots[slot] = Some(Entry { seq, item, state });
            if finished {
                self.finished(slot);
            }
        }
    }

    /// Where the job behind `token` sits now: in input order the window moves as results are
    /// yielded.
    fn place(&self, token: Token) -> Option<usize> {
        if self.ordered {
            usize::try_from(token.seq.checked_sub(self.head_seq)?).ok()
        } else {
            Some(token.slot)
        }
    }

    /// Polls the job behind `token` after its waker fired; not in a cancelled job (see
    /// [`fill`](Self::fill)).
    fn woken(&mut self, token: Token) {
        if self.cancelled() {
            return;
        }
        let Some(slot) = self.place(token) else {
            return;
        };
        let Some(entry) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if entry.seq != token.seq {
            return;
        }
        let State::Running(pending) = &mut entry.state else {
            return;
        };
        let waker = Waker::from(Arc::new(Notify {
            tx: self.tx.clone(),
            token,
        }));
        if let Poll::Ready(result) = Pin::new(pending).poll(&mut Context::from_waker(&waker)) {
            entry.state = State::Done(result);
            self.finished(slot);
        }
    }

    /// Counts the job at `slot`, which has just finished.
    fn finished(&mut self, slot: usize) {
        if let Some(Entry {
            state: State::Done(result),
            ..
        }) = &self.slots[slot]
        {
            self.counts.completed += 1;
            self.counts.failed += u64::from(result.is_err());
        }
        if !self.ordered {
            self.done.push_back(slot);
        }
        self.report();
    }

    fn report(&mut self) {
        if self.progress.is_some() {
            let counts = self.counts();
            if let Some(callback) = self.progress.as_mut() {
                callback(&counts);
            }
        }
    }

    /// The next finished entry in the batch's order, taken out of the window.
    fn take_done(&mut self) -> Option<Entry<I::Item, T>> {
        let entry = if self.ordered {
            match self.slots.front()? {
                Some(e) if e.seq == self.head_seq && matches!(e.state, State::Done(_)) => {}
                _ => return None,
            }
            self.head_seq += 1;
            self.slots.pop_front()??
        } else {
            let slot = self.done.pop_front()?;
            let entry = self.slots[slot].take()?;
            self.free.push(slot);
            entry
        };
        self.counts.in_flight -= 1;
        Some(entry)
    }

    /// On a worker of a pool, runs one of the window's jobs still queued in that pool here (see
    /// the module's doc). Returns whether it did.
    fn help_one(&self) -> bool {
        if !crate::exec::on_a_worker() {
            return false;
        }
        self.slots.iter().flatten().any(|entry| match &entry.state {
            State::Running(pending) => pending.help(),
            State::Done(_) => false,
        })
    }

    /// Whether a job of the window is an event stream still queued in the pool of this thread,
    /// a worker of it.
    fn stream_queued_here(&self) -> bool {
        crate::exec::on_a_worker()
            && self.slots.iter().flatten().any(|entry| match &entry.state {
                State::Running(pending) => pending.stream_queued_here(),
                State::Done(_) => false,
            })
    }

    /// Whether the job the batch is iterated in (if any) was cancelled. The first call in a job
    /// asks the job to wake the batch's wait when it is cancelled.
    fn cancelled(&mut self) -> bool {
        let tx = &self.tx;
        self.watch.watch(|| {
            let tx = tx.clone();
            move || {
                let _ = tx.send(CANCELLED);
            }
        })
    }

    /// Cancels what is queued or running, drops what is not yet yielded, and submits nothing
    /// more. A job that finished before its cancel came (its waker fired, and nothing polled
    /// it since: `woken` polls nothing in a cancelled job) counts as completed, unless a
    /// shutdown resolved it (`Cancelled`, `ShutDown`): then as cancelled, as the rest.
    fn stop(&mut self) {
        self.stopped = true;
        let mut entries: Vec<_> = self.slots.drain(..).flatten().collect();
        let (mut cancelled, finished) = cancel_latest_first(entries.iter_mut());
        let changed = cancelled > 0 || !finished.is_empty();
        // Dropped after the report: a result whose drop panics leaves the counts whole.
        let results: Vec<_> = finished
            .into_iter()
            .filter_map(Pending::try_result)
            .collect();
        for result in &results {
            match result {
                // Resolved by `shutdown_now` (queued jobs refused, running ones cancelled)
                // before this stop's cancel came: cancelled all the same.
                Err(Error::Cancelled | Error::ShutDown) => cancelled += 1,
                result => {
                    self.counts.completed += 1;
                    self.counts.failed += u64::from(result.is_err());
                }
            }
        }
        self.free.clear();
        self.done.clear();
        self.counts.in_flight = 0;
        self.counts.cancelled += cancelled;
        if changed {
            self.report();
        }
        drop(results);
    }
}

impl<I, T, F> Iterator for Batch<I, T, F>
where
    I: Iterator,
    T: Send + 'static,
    F: FnMut(&FuturesSession, &I::Item) -> Pending<T>,
{
    type Item = (I::Item, Result<T, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(stopping) = self.stopping_error.take() {
            return Some(stopping);
        }
        loop {
            self.fill();
            // A cancel of the job the batch runs in (or `shutdown_now`) ends the batch as
            // `stop_on_error` does: its jobs are cancelled, and nothing more is yielded.
            if self.cancelled() {
                self.stop();
                return None;
            }
            if let Some(entry) = self.take_done() {
                let State::Done(result) = entry.state else {
                    unreachable!("take_done hands out finished entries only");
                };
                if result.is_err() && self.stop_on_error {
                    self.stopping_error = Some((entry.item, result));
                    self.stop();
                    return self.stopping_error.take();
                }
                return Some((entry.item, result));
            }
            if self.counts.in_flight == 0 {
                return None;
            }
            if !self.help_one() {
                // The batch holds a sender, so this only returns with a token; every running
                // job wakes its waker once it finishes (a shutdown finishes queued jobs too).
                // A stream still queued in this worker's pool is looked at again in a while
                // (see `Pending::result`).
                let Some(token) = crate::exec::recv_or_recheck(&self.rx, self.stream_queued_here())
                else {
                    continue;
                };
                self.woken(token);
            }
            // A job run inline woke its waker before it returned.
            while let Ok(token) = self.rx.try_recv() {
                self.woken(token);
            }
        }
    }

    /// At least the jobs in flight, off a worker and without `stop_on_error` (a cancel of the
    /// job a batch runs in drops them); not the inputs left, which a shutdown leaves unread. At
    /// most the jobs in flight and the inputs left, those in flight alone once the batch has
    /// stopped.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let pending = self.counts.in_flight + usize::from(self.stopping_error.is_some());
        let low = if self.stop_on_error || crate::exec::on_a_worker() {
            0
        } else {
            pending
        };
        let high = if self.stopped {
            Some(pending)
        } else {
            self.inputs
                .size_hint()
                .1
                .and_then(|h| h.checked_add(pending))
        };
        (low, high)
    }
}

impl<I: Iterator, T: Send + 'static, F> Drop for Batch<I, T, F> {
    fn drop(&mut self) {
        cancel_latest_first(self.slots.iter_mut().flatten());
    }
}

/// Cancels the jobs of `entries` still running or queued, the latest first, and returns how
/// many cancels took, and the handles of the jobs that had finished already. The latest
/// first: cancelled from the head of the queue, each cancel hands a free worker (one that
/// comes free meanwhile, or that the cancel of a running request frees) the next queued job,
/// which it may take and run before that one's cancel comes, and so on down the queue; from
/// the tail, a worker can reach only the head.
fn cancel_latest_first<'a, Item: 'a, T: Send + 'static>(
    entries: impl Iterator<Item = &'a mut Entry<Item, T>>,
) -> (u64, Vec<&'a mut Pending<T>>) {
    let mut running: Vec<_> = entries
        .filter_map(|entry| match &mut entry.state {
            State::Running(pending) => Some((entry.seq, pending)),
            State::Done(_) => None,
        })
        .collect();
    running.sort_unstable_by_key(|&(seq, _)| std::cmp::Reverse(seq));
    let mut cancelled = 0;
    let mut finished = Vec::new();
    for (_, pending) in running {
        match pending.cancel() {
            true => cancelled += 1,
            false => finished.push(pending),
        }
    }
    (cancelled, finished)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_order_yields_every_input_once() {
        let session = FuturesSession::builder().max_workers(3).build();
        let mut seen: Vec<u32> = session
            .batch(0..100u32, |s, &n| s.submit(move |_| Ok(n)))
            .in_flight(5)
            .map(|(n, r)| {
                assert_eq!(r.unwrap(), n);
                n
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn input_order_holds_back_later_results() {
        let session = FuturesSession::builder().max_workers(4).build();
        // The first job finishes last; the others must wait for it.
        let (go, wait) = crossbeam_channel::bounded::<()>(0);
        let mut batch = session
            .batch(0..4u32, move |s, &n| {
                let wait = wait.clone();
                s.submit(move |_| {
                    if n == 0 {
                        wait.recv().ok();
                    }
                    Ok(n)
                })
            })
            .in_flight(4)
            .ordered();
        let release = std::thread::spawn(move || go.send(()));
        let order: Vec<u32> = batch.by_ref().map(|(n, _)| n).collect();
        assert_eq!(order, [0, 1, 2, 3]);
        assert!(release.join().unwrap().is_ok());
    }

    #[test]
    fn the_window_bounds_what_is_submitted() {
        let session = FuturesSession::builder().max_workers(2).build();
        let mut batch = session
            .batch(0..50u32, |s, &n| s.submit(move |_| Ok(n)))
            .in_flight(3);
        while let Some(_) = batch.next() {
            let c = batch.counts();
            assert!(c.in_flight <= 3, "{c:?}");
            assert!(c.submitted <= c.completed + 3, "{c:?}");
        }
        assert_eq!(batch.counts().completed, 50);
    }

    #[test]
    fn errors_do_not_stop_the_batch_unless_asked() {
        let session = FuturesSession::builder().max_workers(2).build();
        let make = |s: &FuturesSession, &n: &u32| {
            s.submit(move |_| {
                if n % 10 == 3 {
                    Err(Error::InvalidRequest(format!("bad {n}")))
                } else {
                    Ok(n)
                }
            })
        };
        let failed = session
            .batch(0..40u32, make)
            .filter(|(_, r)| r.is_err())
            .count();
        assert_eq!(failed, 4);

        let mut batch = session
            .batch(0..40u32, make)
            .in_flight(2)
            .ordered()
            .stop_on_error();
        let yielded: Vec<u32> = batch.by_ref().map(|(n, _)| n).collect();
        assert_eq!(yielded, [0, 1, 2, 3]);
        assert!(batch.counts().submitted < 40);
    }

    #[test]
    fn stopping_cancels_queued_jobs() {
        let session = FuturesSession::builder().max_workers(1).build();
        let (go, wait) = crossbeam_channel::bounded::<()>(0);
        let mut batch = session
            .batch(0..10u32, move |s, &n| {
                let wait = wait.clone();
                s.submit(move |_| {
                    if n == 0 {
                        return Err(Error::InvalidRequest("first".into()));
                    }
                    if n == 1 {
                        wait.recv().ok();
                    }
                    Ok(n)
                })
            })
            .in_flight(5)
            .stop_on_error();
        let (first, result) = batch.next().unwrap();
        assert_eq!(first, 0);
        assert!(result.is_err());
        // Job 1 is running (blocked), jobs 2..5 are queued behind it on the one worker: all
        // cancelled, the running one too.
        let counts = batch.counts();
        assert!(counts.cancelled >= 4, "{counts:?}");
        assert!(batch.next().is_none());
        drop(go);
    }

    #[test]
    fn progress_sees_every_completion() {
        let session = FuturesSession::new();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let n = session
            .batch(vec![1, 2, 3], |s, &n| s.submit(move |_| Ok(n)))
            .progress(move |p| log.lock().unwrap().push((p.completed, p.total)))
            .count();
        assert_eq!(n, 3);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2], (3, Some(3)));
    }

    #[test]
    fn a_shut_down_session_yields_an_error_and_ends() {
        let session = FuturesSession::new();
        session.shutdown();
        // Endless: the batch reads no more inputs once the session refused one.
        let mut results = Vec::new();
        for result in session.batch(0.., |s, &n| s.submit(move |_| Ok(n))) {
            results.push(result);
        }
        assert_eq!(results.len(), 1);
        assert!(matches!(results[0], (0, Err(Error::ShutDown))));
    }

    #[test]
    fn a_shutdown_meanwhile_ends_an_endless_batch() {
        let session = FuturesSession::builder().max_workers(2).build();
        let stopper = session.clone();
        let mut batch = session.batch(0u64.., |s, &n| s.submit(move |_| Ok(n)));
        assert!(batch.by_ref().take(10).all(|(_, r)| r.is_ok()));
        stopper.shutdown_now();
        // What was in the window comes out (done, cancelled or refused), then the end (taken
        // at most 100, so that a batch that goes on fails rather than hangs).
        let rest = batch.take(100).count();
        assert!(rest <= 4, "{rest} results after the shutdown");
    }

    #[test]
    fn an_empty_input_yields_nothing() {
        let session = FuturesSession::new();
        assert_eq!(
            session
                .batch(Vec::<u32>::new(), |s, &n| s.submit(move |_| Ok(n)))
                .count(),
            0
        );
    }
}
