//! `Pending<T>`, the handle of a submitted job, and the helpers that wait on many of them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::job::{CancelWatch, JobWatch};
use super::slot::{Slot, Task};
use crate::progress::Progress;
use crate::Error;

/// The handle of a job submitted to a [`FuturesSession`](crate::FuturesSession): the analogue of
/// a `concurrent.futures.Future` in Python's requests-futures.
///
/// The job runs on a worker of the session's pool; the handle waits for its result. The
/// operations follow crossbeam-channel's `recv` / `try_recv` / `recv_timeout` triad:
///
/// | operation | blocks | result |
/// |---|---|---|
/// | [`result`](Pending::result) | until done | `Result<T, Error>` |
/// | [`try_result`](Pending::try_result) | never | `None` while running |
/// | [`result_timeout`](Pending::result_timeout) | at most the timeout | `None` if it ran out |
///
/// A handle is also a [`Future`], so async code can `.await` it; no runtime of ours is involved
/// (the worker wakes the task's waker).
///
/// A handle is `Send` and `Sync` whenever its result is `Send`: it can move to another thread,
/// and [`wait`](Pending::wait), [`is_done`](Pending::is_done),
/// [`progress`](Pending::progress) and [`cancel`](Pending::cancel) can be called on it from
/// several threads at once (share it with an `Arc`).
///
/// Dropping a handle does not cancel its job (call [`cancel`](Pending::cancel) for that, or
/// make the handle [`cancel_on_drop`](Pending::cancel_on_drop)); its result is dropped when it
/// arrives. Dropping an event stream's handle unclaimed therefore
/// closes the stream and frees its worker; one dropped before its stream came (the server has
/// not answered yet) cancels its job, which nobody could read from.
///
/// A job still queued when its session is dropped (its last clone), its handle gone, is
/// dropped unrun (see [`FuturesSession`](crate::FuturesSession)): for a request that must be
/// sent (a fire-and-forget `POST`), keep the handle and wait on it before the session goes
/// ([`join`](crate::FuturesSession::join) is no help: it refuses queued jobs too).
///
/// # Examples
///
/// ```
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let pending = session.submit(|_agent| Ok(6 * 7));
/// assert_eq!(pending.result().unwrap(), 42);
/// ```
#[must_use = "the job is queued, but nothing waits for it: one still queued when the program \
              exits (or its session is dropped) never runs, and an event stream's request is \
              cancelled with its handle; keep the handle and call result() or wait()"]
pub struct Pending<T> {
    slot: Arc<Slot<T>>,
    /// The job as the queue sees it (the slot, or its entry in a lane), to run it inline or
    /// cancel it.
    task: Arc<dyn Task>,
    /// [`result`](Pending::result) took the result: dropping the handle has nothing left to do.
    finished: bool,
    /// Polled inside a job: the watch that wakes the task when that job is cancelled, and the
    /// job's id.
    poll_watch: JobWatch,
    /// Dropped before its result came, the handle cancels its job (an event stream's: see
    /// [`cancel_on_drop`](Pending::cancel_on_drop)).
    drop_cancels: bool,
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.slot.lock();
        let status = if state.queued {
            "queued"
        } else if state.is_done() {
            "done"
        } else {
            "running"
        };
        f.debug_struct("Pending").field("status", &status).finish()
    }
}

impl<T: Send + 'static> Pending<T> {
    pub(crate) fn new(slot: Arc<Slot<T>>, task: Arc<dyn Task>) -> Self {
        Pending {
            slot,
            task,
            finished: false,
            poll_watch: JobWatch::default(),
            drop_cancels: false,
        }
    }

    /// Makes the handle cancel its job when it is dropped before its result came, as async code
    /// expects of a future: one that `tokio::time::timeout` gives up on, the branch of a
    /// `select!` that lost, a task aborted (`JoinHandle::abort`) that awaited it. A running
    /// request is interrupted as by [`cancel`](Pending::cancel), and its worker is free at
    /// once; a queued one never runs.
    ///
    /// By default a dropped handle's job runs on and its result is dropped, as a
    /// requests-futures future's does (a fire-and-forget request is sent). Event streams'
    /// handles cancel on drop always: nobody could read the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::stall());
    /// # let url = server.url();
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().max_workers(1).build();
    /// let mut silent = Box::pin(session.get(url).send().cancel_on_drop());
    /// // An async caller polls it, then gives up (a timeout, a select! that another branch won).
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(silent.as_mut().poll(&mut cx).is_pending());
    /// drop(silent);
    /// // The request was cancelled: the only worker is free for the next job.
    /// assert_eq!(session.submit(|_| Ok(1)).result()?, 1);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn cancel_on_drop(mut self) -> Self {
        self.drop_cancels = true;
        self
    }

    /// A handle of the job, to cancel it from elsewhere while this handle waits for it.
    pub(crate) fn job(&self) -> super::JobHandle {
        super::JobHandle::of(Arc::clone(&self.task))
    }

    /// Runs the job here if this is a worker of its pool and the job is still queued. Returns
    /// whether it did.
    pub(crate) fn help(&self) -> bool {
        let helped = self.slot.help(&self.task);
        if helped {
            self.task.claimed_by_waiter();
        }
        helped
    }

    /// Blocks until the slot changes. An event stream still queued in this worker's pool is
    /// looked at again every [`APART_RECHECK`]: the pool may have filled since the last look, and
    /// then the stream goes apart (see `Slot::start_apart`) rather than wait for ever.
    fn block<'a>(
        &'a self,
        state: std::sync::MutexGuard<'a, super::slot::State<T>>,
    ) -> std::sync::MutexGuard<'a, super::slot::State<T>> {
        if !(state.queued && self.slot.may_go_apart_here()) {
            return self.slot.block(state);
        }
        let state = self.slot.block_timeout(state, APART_RECHECK);
        if !state.queued {
            return state;
        }
        drop(state);
        self.help();
        self.slot.lock()
    }

    /// Resolves the handle with `error` if its job is still queued, which then never runs.
    /// Returns whether it did.
    #[cfg(feature = "llm")]
    pub(crate) fn give_up_queued(&self, error: Error) -> bool {
        self.slot.cancel_with(error)
    }

    /// Whether this is an event stream (that may go apart) still queued in any pool.
    pub(crate) fn stream_queued_anywhere(&self) -> bool {
        self.slot.may_go_apart() && self.slot.queued_now()
    }

    /// Whether this is an event stream still queued in the pool of this thread, a worker of it
    /// (see [`Pending::block`]).
    pub(crate) fn stream_queued_here(&self) -> bool {
        self.slot.may_go_apart_here() && self.slot.queued_now()
    }

    /// Blocks until the job is done and returns its result.
    ///
    /// HTTP error statuses are *not* errors here (as in requests-futures): a 404 is an
    /// `Ok(Response)` whose [`status`](crate::Response::status) is 404. The errors are transport
    /// failures, timeouts, [`Error::Cancelled`], [`Error::ShutDown`], [`Error::Panicked`], and
    /// any other [`Error`] the request (a body too large, an invalid request...) or the closure
    /// produces.
    ///
    /// Called on a worker of the same session while the job is still queued, it runs the job
    /// inline instead of waiting for a free worker, so a full pool cannot deadlock on itself
    /// (past 64 jobs run inline one inside another, the next runs on a thread of its own, so
    /// that a long chain of waits does not overflow the worker's stack).
    /// Event streams are the exception: their jobs run for as long as the stream is open, never
    /// inline. A worker that waits for one still queued in its own pool while every worker of
    /// the pool runs a job starts it on a thread of its own (beyond `max_workers`, for as long
    /// as the stream is read) after giving a free worker 2 ms to take it; so do the other waits
    /// that run queued jobs ([`wait`](Pending::wait), [`wait_all`], [`wait_any`],
    /// [`as_completed`], a [`Batch`](crate::Batch)), not
    /// [`result_timeout`](Pending::result_timeout) or `.await`. In a session with
    /// [`max_per_host`](crate::SessionBuilder::max_per_host) or a rate limiter, a stream never
    /// does (it would pass those limits for as long as it is open): a job that waits for one in
    /// its own full pool waits for a free worker, for ever if none comes free. Give such a
    /// session more workers than the jobs that wait for streams, or read the streams from
    /// outside its jobs.
    ///
    /// Called inside a job (a [`submit`](crate::FuturesSession::submit) closure), the wait
    /// ends when that job is cancelled or its session is shut down with
    /// [`shutdown_now`](crate::FuturesSession::shutdown_now): the job waited for is part of the
    /// cancelled work, so `result` cancels it and returns [`Error::Cancelled`] (or that job's
    /// result if it came first). Every wait for other jobs does the same inside a cancelled job
    /// ([`wait`](Pending::wait), [`result_timeout`](Pending::result_timeout), [`wait_all`],
    /// [`wait_any`], [`as_completed`], `.await`). A job it runs inline is cancelled along with
    /// the job that runs it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// let session = FuturesSession::new();
    /// let p = session.submit(|_| Ok("done"));
    /// assert_eq!(p.result().unwrap(), "done");
    /// ```
    pub fn result(mut self) -> Result<T, Error> {
        self.help();
        self.slot.yield_briefly();
        let watch = self.watch_cancel();
        let mut state = self.slot.lock();
        loop {
            if let Some(result) = state.take_result() {
                drop(state);
                self.finished = true;
                return result;
            }
            if state.taken {
                // Only reachable through `try_result`, `result_timeout` or a poll having taken it.
                return Err(Error::ResultTaken);
            }
            if watch.as_ref().is_some_and(|w| w.fired()) {
                state = self.cancel_waited(state);
                if !state.is_done() {
                    return Err(Error::Cancelled);
                }
                continue;
            }
            state = self.block(state);
        }
    }

    /// The job that waits here was cancelled (its watch fired): the job this handle is for is
    /// part of the cancelled work, so it is cancelled too. Every wait then ends as it always
    /// does, with the job done: its result is `Err(Cancelled)`, or what it had finished with
    /// first. Hands back the slot's state, locked again.
    ///
    /// The other choice, ending the wait and leaving that job running, breaks what each wait
    /// promises (`wait` returns with the job done, `wait_any` with the index of a done one) and
    /// turns a job that polls `result_timeout` in a loop into a busy loop.
    fn cancel_waited<'a>(
        &'a self,
        state: std::sync::MutexGuard<'a, super::slot::State<T>>,
    ) -> std::sync::MutexGuard<'a, super::slot::State<T>> {
        drop(state);
        self.cancel();
        self.slot.lock()
    }

    /// Called on a worker inside a job, before blocking for this handle: a watch that wakes the
    /// wait when that job is cancelled (or its session shut down with `shutdown_now`). `None`
    /// off a job, or when the result is in already.
    fn watch_cancel(&self) -> Option<Arc<CancelWatch>> {
        if self.slot.is_ready() {
            return None;
        }
        let slot = Arc::clone(&self.slot);
        CancelWatch::start(move || slot.wake_waiters())
    }

    /// Returns the result if the job is done, `None` if it is still queued or running.
    ///
    /// The result is handed out once: after `try_result` returned `Some`, later calls return
    /// `None`, and [`result`](Pending::result) and [`result_timeout`](Pending::result_timeout)
    /// return [`Error::ResultTaken`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// let session = FuturesSession::new();
    /// let mut p = session.submit(|_| Ok(1));
    /// p.wait();
    /// assert_eq!(p.try_result().unwrap().unwrap(), 1);
    /// assert!(p.try_result().is_none());
    /// ```
    pub fn try_result(&mut self) -> Option<Result<T, Error>> {
        let mut state = self.slot.lock();
        state.take_result()
    }

    /// Waits at most `timeout` for the result. `None` means the job is not done yet: it keeps
    /// running, and the handle can be waited on again.
    ///
    /// The result is handed out once. Once it was ([`try_result`](Pending::try_result), an
    /// earlier `result_timeout` or a poll of the handle as a future took it), the job is done,
    /// and `result_timeout` returns `Some(Err(`[`Error::ResultTaken`]`))` at once, as
    /// [`result`](Pending::result) does: a loop that waits with it ends, rather than going
    /// round for ever on a `None` that no longer means "not yet".
    ///
    /// Unlike [`result`](Pending::result) it never runs a queued job inline, so it may wait the
    /// whole timeout when called on a worker of a full pool. Inside a job that is cancelled
    /// meanwhile (or shut down with `shutdown_now`), it cancels the job it waits for, as
    /// [`result`](Pending::result) does, and returns its result at once (`Err(Cancelled)`, or
    /// what it finished with first).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// use std::time::Duration;
    /// let session = FuturesSession::new();
    /// let (go, wait) = std::sync::mpsc::channel::<()>();
    /// let mut p = session.submit(move |_| { wait.recv().ok(); Ok(()) });
    /// assert!(p.result_timeout(Duration::from_millis(1)).is_none()); // the job waits for `go`
    /// go.send(()).unwrap();
    /// assert!(p.result_timeout(Duration::from_secs(10)).unwrap().is_ok());
    /// ```
    pub fn result_timeout(&mut self, timeout: Duration) -> Option<Result<T, Error>> {
        let deadline = Instant::now().checked_add(timeout);
        let watch = self.watch_cancel();
        let mut state = self.slot.lock();
        loop {
            if let Some(result) = state.take_result() {
                return Some(result);
            }
            if state.taken {
                return Some(Err(Error::ResultTaken));
            }
            if watch.as_ref().is_some_and(|w| w.fired()) {
                state = self.cancel_waited(state);
                if !state.is_done() {
                    return Some(Err(Error::Cancelled));
                }
                continue;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return None;
            }
            state = self.slot.block_timeout(state, left);
        }
    }

    /// Blocks until the job is done, without taking the result.
    ///
    /// Like [`result`](Pending::result), it runs the job inline when called on a worker of the
    /// same session while the job is still queued. Inside a job that is cancelled meanwhile (or
    /// shut down with `shutdown_now`), it cancels the job it waits for, as
    /// [`result`](Pending::result) does, and returns at once, that job done.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let job = session.submit(|_| Ok("done"));
    /// job.wait();
    /// assert!(job.is_done());
    /// assert_eq!(job.result()?, "done");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn wait(&self) {
        self.help();
        let watch = self.watch_cancel();
        let mut state = self.slot.lock();
        while !state.is_done() {
            if watch.as_ref().is_some_and(|w| w.fired()) {
                drop(self.cancel_waited(state));
                return;
            }
            state = self.block(state);
        }
    }

    /// Whether the job is done (its result is ready or was taken).
    ///
    /// An event stream's handle is done as soon as the response headers are in, while its worker
    /// goes on reading the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let job = session.submit(|_| Ok(1));
    /// job.wait();
    /// assert!(job.is_done());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn is_done(&self) -> bool {
        self.slot.lock().is_done()
    }

    /// How much of a response body the job has read so far: what a progress bar needs.
    ///
    /// Counted for the jobs that read a body on the worker: a buffered
    /// [`send`](crate::RequestBuilder::send) (and `send_with`, `send_json`) and a
    /// [`download`](crate::RequestBuilder::download). `total` is the announced
    /// `Content-Length`, once the headers are in. Other jobs stay at `done: 0, total: None`; a
    /// [`send_streaming`](crate::RequestBuilder::send_streaming) body is read on the caller's
    /// thread, which counts it itself. Cheap: two relaxed atomic loads, never a lock.
    ///
    /// `done` can go back: a retry under a [`RetryPolicy`](crate::RetryPolicy) starts again
    /// from 0, and so does a download's resume answered with the whole file (a `200`: the file
    /// changed since the cut); a resume answered with the rest (a `206`) goes on from the
    /// byte where the body was cut.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", "twelve bytes")]);
    /// use ureq_futures::{FuturesSession, Progress};
    ///
    /// let session = FuturesSession::new();
    /// let pending = session.get(format!("{base}/file")).send();
    /// pending.wait();
    /// assert_eq!(pending.progress(), Progress { done: 12, total: Some(12) });
    /// ```
    pub fn progress(&self) -> Progress {
        self.slot.progress.get()
    }

    /// How much of its request body the job has sent so far: a progress bar for an upload.
    ///
    /// `total` is the body's length, once the job starts sending it; `done` counts the bytes
    /// handed to the connection (a body read from a file or a reader, with
    /// [`body_file`](crate::RequestBuilder::body_file),
    /// [`body_reader`](crate::RequestBuilder::body_reader) or a form's
    /// [`file_path`](crate::Multipart::file_path) or
    /// [`file_reader`](crate::Multipart::file_reader), or held in memory and of 64 KiB or more,
    /// as it goes; a smaller one at once when the response comes). `total` is `None` for a
    /// body of unknown length (a reader given none). A retry, or a
    /// redirect that sends the body again, starts again from 0. A job that sends no body stays
    /// at `done: 0, total: None`. Cheap: two relaxed atomic loads, never a lock.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/upload", "text/plain", "stored")]);
    /// use ureq_futures::{FuturesSession, Progress};
    ///
    /// let path = std::env::temp_dir().join("ureq-futures-doc-upload-progress.bin");
    /// std::fs::write(&path, vec![7u8; 100_000])?;
    /// let pending = FuturesSession::new().put(format!("{base}/upload")).body_file(&path).send();
    /// // A progress bar would show `pending.upload_progress().fraction()` until it is done.
    /// pending.wait();
    /// assert_eq!(pending.upload_progress(), Progress { done: 100_000, total: Some(100_000) });
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn upload_progress(&self) -> Progress {
        self.slot.upload.get()
    }

    /// Cancels the job. Returns `true` if its result is now `Err(Error::Cancelled)`, `false` if
    /// it was already done (its result stays as it is, and nothing is interrupted).
    ///
    /// * A queued job never runs, nor does one parked in a lane
    ///   ([`max_per_host`](crate::SessionBuilder::max_per_host), rate limits).
    /// * A running job's handle resolves to `Cancelled` at once, and the request it runs is
    ///   interrupted: its connection is shut down, so the blocked read or write returns and the
    ///   worker is free for the next job, whether the server is silent or slow (on Linux, where
    ///   the tests run; on Windows, where Winsock need not end a `recv` blocked when its socket is
    ///   shut down, the worker may be held until the server sends or closes, or the read's
    ///   `read_timeout`: set one there). This covers
    ///   requests made by the session (and by [`submit`](crate::FuturesSession::submit)
    ///   closures through the session's agent), redirects, retries and the wait between them;
    ///   a cancelled request is never sent again. A cancelled
    ///   [`download`](crate::RequestBuilder::download) leaves the target path as it was, and
    ///   its worker removes the part file as it stops, a moment after the handle resolves: a
    ///   program that exits right after the cancel calls
    ///   [`join`](crate::FuturesSession::join) first. A download whose file is already in place
    ///   is done (`false`).
    /// * A TCP connect in progress (a host that never answers) is interrupted too, on Linux at
    ///   once; a system that does not end a connect on a shutdown of its socket (and Windows,
    ///   where the connect is std's) ends it at `connect_timeout` (30 s by default), then the
    ///   job stops.
    /// * Not interrupted: name resolution (the system's), and the connect to a SOCKS proxy
    ///   (ureq's own); they end at their timeouts, then the job stops. Other work of a
    ///   `submit` closure runs to its end, its result dropped; so does a
    ///   [`send_with`](crate::RequestBuilder::send_with) hook that had started when the cancel
    ///   came (its side effects happen, its result is dropped). A session built with an agent of
    ///   your own ([`SessionBuilder::agent`](crate::SessionBuilder::agent)) resolves the handle
    ///   at once but cannot interrupt the request: its worker is free when the request ends.
    /// * An event stream's handle, and a
    ///   [`send_streaming`](crate::RequestBuilder::send_streaming) one, is done as soon as the
    ///   headers are in. To stop an event stream afterwards, drop the
    ///   [`EventStream`](crate::sse::EventStream) (or the LLM `ChatStream` over it), which
    ///   interrupts its worker the same way. A [`BodyReader`](crate::BodyReader) holds no worker
    ///   (its body is read on your thread); dropping it closes the connection, and its
    ///   [`stop_handle`](crate::BodyReader::stop_handle) stops a read from another thread.
    ///
    /// Cancelling relies on ureq's `unversioned` transport API; see RELIABILITY.md for the ureq
    /// versions it is tested with.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// use std::time::Duration;
    /// let session = FuturesSession::builder().max_workers(1).build();
    /// let (done, wait) = std::sync::mpsc::channel::<()>();
    /// let busy = session.submit(move |_| { wait.recv().ok(); Ok(()) }); // holds the only worker
    /// let queued = session.submit(|_| Ok(()));
    /// assert!(queued.cancel());
    /// assert!(matches!(queued.result(), Err(ureq_futures::Error::Cancelled)));
    /// done.send(()).unwrap();
    /// assert!(busy.result().is_ok());
    /// ```
    ///
    /// A request that is already running, on a server that never answers:
    ///
    /// ```
    /// # use std::io::Read;
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let url = format!("http://{}/", listener.local_addr()?);
    /// # let (connected, running) = std::sync::mpsc::channel();
    /// # std::thread::spawn(move || {
    /// #     let (mut socket, _) = listener.accept().unwrap();
    /// #     connected.send(()).unwrap();
    /// #     // The request, in as many reads as it takes; no answer, ever; ends when the client goes away.
    /// #     while socket.read(&mut [0; 1024]).is_ok_and(|n| n > 0) {}
    /// # });
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let session = FuturesSession::builder().max_workers(1).build();
    /// let silent = session.get(url).send();
    /// # running.recv()?; // the request is running: its worker connected
    /// assert!(silent.cancel());
    /// assert!(matches!(silent.result(), Err(Error::Cancelled)));
    /// // The only worker is free again.
    /// assert_eq!(session.submit(|_| Ok(1)).result()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }
}

impl<T> Drop for Pending<T> {
    /// Drops a result nobody took, now or when it arrives, and the waker of the last poll
    /// (nobody polls the handle any more); the job itself is not cancelled, unless the handle
    /// was made to [`cancel_on_drop`](Pending::cancel_on_drop), as an event stream's is until
    /// it has delivered its stream: nobody could read that stream, and its job would
    /// otherwise hold a worker for as long as the server keeps the request waiting (for ever,
    /// on a server that never answers). Nor unless a job polled the handle
    /// (awaited it), was cancelled since, and drops it: a select of two handles in a job
    /// ends at the branch that saw the cancel and drops the other unpolled, and that one's
    /// job is cancelled too, as a job's cancel ends all it waits on.
    fn drop(&mut self) {
        if self.finished {
            // The result is taken and the handle done for good: nothing arrives to be dropped.
            return;
        }
        let (unclaimed, waiting, queued) = {
            let mut state = self.slot.lock();
            state.abandoned = true;
            let waiting = state.result.is_none() && !state.taken;
            (
                (state.result.take(), state.waker.take()),
                waiting,
                state.queued,
            )
        };
        // Outside the lock: both are user code when dropped.
        drop(unclaimed);
        if waiting && (self.drop_cancels || self.poll_watch.fired_here()) {
            self.task.cancel();
        } else if queued {
            // A job parked in a lane of a dropped session leaves it now (see `exec::lanes`).
            self.task.handle_dropped();
        }
    }
}

impl<T: Send + 'static> Future for Pending<T> {
    type Output = Result<T, Error>;

    /// Polls the job: ready once the worker has stored the result. The worker wakes the most
    /// recently registered waker. Unlike [`result`](Pending::result), polling never runs a
    /// queued job inline, so blocking on a handle (`block_on`) from a worker of its own full
    /// pool waits for a free worker.
    ///
    /// Polled inside a job (a [`submit`](crate::FuturesSession::submit) closure) that is
    /// cancelled meanwhile (or shut down with
    /// [`shutdown_now`](crate::FuturesSession::shutdown_now)), the task is woken and the
    /// handle is ready, as [`result`](Pending::result) is: with [`Error::Cancelled`], its job
    /// cancelled, or with that job's result if it came first. A handle such a job polled and
    /// drops without polling it again (the other branch of a select) cancels its job as it
    /// goes. Only polls on the job's own thread count: a handle awaited in a task that a
    /// runtime runs on threads of its own (`tokio::spawn` on a multi-thread runtime) does not
    /// hear the cancel of the job that started the task; cancel it with
    /// [`cancel`](Pending::cancel).
    ///
    /// A handle dropped before it is ready (a timeout around it, a `select!` branch that lost)
    /// leaves its job running, unless it was made to
    /// [`cancel_on_drop`](Pending::cancel_on_drop), which async callers will mostly want.
    ///
    /// A waker that panics when woken does not unwind into the worker (nor into a
    /// [`cancel`](Pending::cancel)): the panic is caught there, after the panic hook has
    /// reported it, and the result waits in the handle as usual.
    ///
    /// # Panics
    ///
    /// When polled again after it returned `Ready` (as futures may), or after
    /// [`try_result`](Pending::try_result) or [`result_timeout`](Pending::result_timeout) took
    /// the result.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut state = this.slot.lock();
        if let Some(result) = state.take_result() {
            return Poll::Ready(result);
        }
        assert!(
            !state.taken,
            "`Pending` polled after its result was taken: by a poll that returned it, or by \
             try_result or result_timeout"
        );
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        drop(state);
        if !this.poll_cancelled() {
            return Poll::Pending;
        }
        // The job polling here was cancelled: as `result` does, cancel the job waited for (a
        // future is used up once ready) and hand out what its handle holds now.
        this.cancel();
        let result = this.slot.lock().take_result();
        Poll::Ready(result.unwrap_or(Err(Error::Cancelled)))
    }
}

impl<T: Send + 'static> Pending<T> {
    /// Polled inside a job: whether that job was cancelled (or shut down with `shutdown_now`)
    /// since it first polled here. The first poll in a job registers a watch that wakes the
    /// task on that cancel. Off a job, a thread-local read.
    fn poll_cancelled(&mut self) -> bool {
        let slot = &self.slot;
        self.poll_watch.watch(|| {
            let slot = Arc::clone(slot);
            move || slot.wake_task()
        })
    }
}

/// Yields `(index, result)` for each handle as its job completes, like Python's
/// `concurrent.futures.as_completed`. `index` is the handle's position in `handles`.
///
/// Each handle is told once where to report, so the whole iteration costs O(n) however the
/// completions are ordered; nothing polls the remaining handles.
///
/// Iterated inside a job that is cancelled (or shut down with
/// [`shutdown_now`](crate::FuturesSession::shutdown_now)) while it waits, the jobs not yet
/// yielded are cancelled as by [`cancel_rest`](AsCompleted::cancel_rest) and come out with
/// [`Error::Cancelled`] (or their result, if they finished first): the wait ends, and nothing
/// goes missing.
///
/// # Examples
///
/// ```
/// use ureq_futures::{as_completed, FuturesSession};
///
/// let session = FuturesSession::new();
/// let (go, wait) = ureq_futures::crossbeam_channel::bounded::<()>(0);
/// let slow = session.submit(move |_| {
///     wait.recv().ok();
///     Ok("slow")
/// });
/// let fast = session.submit(|_| Ok("fast"));
/// let mut done = as_completed(vec![slow, fast]);
/// assert_eq!(done.next().unwrap().0, 1); // the fast one, index 1, first
/// go.send(()).unwrap();
/// let (index, result) = done.next().unwrap();
/// assert_eq!((index, result.unwrap()), (0, "slow"));
/// ```
pub fn as_completed<T, I>(handles: I) -> AsCompleted<T>
where
    T: Send + 'static,
    I: IntoIterator<Item = Pending<T>>,
{
    let (tx, rx) = crossbeam_channel::unbounded();
    let handles: Vec<Option<Pending<T>>> = handles
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            h.slot.notify(&tx, i);
            Some(h)
        })
        .collect();
    let streams = (handles.iter().enumerate())
        .filter(|(_, h)| h.as_ref().is_some_and(|h| h.slot.may_go_apart()))
        .map(|(i, _)| i)
        .collect();
    AsCompleted {
        remaining: handles.len(),
        handles,
        rx,
        tx,
        watch: JobWatch::default(),
        next_to_help: 0,
        streams,
    }
}

/// What a [`CancelWatch`] sends on a channel of handle indices when the job waiting on it is
/// cancelled: no handle has that index.
const STOPPED: usize = usize::MAX;

/// How often a worker that waits for an event stream still queued in its own pool looks again
/// whether the pool is full (see [`Pending::block`]).
pub(crate) const APART_RECHECK: Duration = Duration::from_millis(20);

/// The next message on `rx`, whose sender the caller holds. With `recheck` (an event stream
/// the caller waits for is still queued in this worker's pool), `None` after
/// [`APART_RECHECK`]: the caller looks at the stream again (see [`Pending::block`]).
pub(crate) fn recv_or_recheck<M>(rx: &crossbeam_channel::Receiver<M>, recheck: bool) -> Option<M> {
    if recheck {
        rx.recv_timeout(APART_RECHECK).ok()
    } else {
        Some(rx.recv().expect("the caller holds a sender"))
    }
}

/// A wake-up for a [`CancelWatch`] that sends [`STOPPED`] on `tx`.
fn stop_sender(tx: &crossbeam_channel::Sender<usize>) -> impl Fn() + Send + Sync + 'static {
    let tx = tx.clone();
    move || {
        let _ = tx.send(STOPPED);
    }
}

/// The iterator of [`as_completed`]: `(index, result)` in completion order.
///
/// # Examples
///
/// ```
/// use ureq_futures::{as_completed, FuturesSession};
///
/// let session = FuturesSession::new();
/// let handles: Vec<_> = [30u64, 10, 20]
///     .into_iter()
///     .map(|ms| session.submit(move |_| {
///         std::thread::sleep(std::time::Duration::from_millis(ms));
///         Ok(ms)
///     }))
///     .collect();
/// let mut total = 0;
/// for (index, result) in as_completed(handles) {
///     let ms = result?;
///     println!("job {index} took {ms} ms");
///     total += ms;
/// }
/// assert_eq!(total, 60);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[must_use = "an AsCompleted hands out the results only when it is iterated"]
pub struct AsCompleted<T> {
    handles: Vec<Option<Pending<T>>>,
    rx: crossbeam_channel::Receiver<usize>,
    /// The handles' sender, for a [`CancelWatch`]'s [`STOPPED`].
    tx: crossbeam_channel::Sender<usize>,
    /// Iterated in a job: the watch that wakes the wait when it is cancelled, and the job's id.
    watch: JobWatch,
    remaining: usize,
    /// Where the inline-help scan resumes (used only on worker threads).
    next_to_help: usize,
    /// The indices of the handles whose jobs may run apart (event streams; see
    /// [`Pending::block`]), looked at again while a worker waits.
    streams: Vec<usize>,
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<T: Send + 'static> Iterator for AsCompleted<T> {
    type Item = (usize, Result<T, Error>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        // Iterated now by another job or thread: what happens to the job that waited here
        // before is no business of this one's.
        self.watch.keep_current_only();
        let index = loop {
            let i = match self.rx.try_recv() {
                Ok(i) => i,
                // On a worker of the handles' pool, run a queued job here rather than wait for
                // a worker that may never come free. Each handle is looked at once in all.
                Err(_) if self.help_one() => continue,
                Err(_) => {
                    self.watch_cancel();
                    let handles = &self.handles;
                    let streams = (self.streams.iter()).filter_map(|&i| handles[i].as_ref());
                    let recheck = streams.clone().any(Pending::stream_queued_here);
                    match recv_or_recheck(&self.rx, recheck) {
                        Some(i) => i,
                        None => {
                            // The cursor of `help_one` is past them: looked at here.
                            for h in streams.filter(|h| h.stream_queued_here()) {
                                h.help();
                            }
                            continue;
                        }
                    }
                }
            };
            if i != STOPPED {
                break i;
            }
            // The job iterating here was cancelled: so are the jobs not yet yielded, which
            // then come out with `Err(Cancelled)`, as after `cancel_rest`. A `STOPPED` from a
            // watch of a job that iterated here before (the iterator moved on) is left alone.
            if self.watch.fired() {
                self.cancel_rest();
            }
        };
        self.remaining -= 1;
        let handle = self.handles[index].take()?;
        Some((index, handle.result()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T: Send + 'static> AsCompleted<T> {
    /// Cancels every job not yet yielded (see [`Pending::cancel`]: queued ones never run,
    /// running ones are interrupted) and returns how many it cancelled. The iterator still
    /// yields them, with `Err(Error::Cancelled)` (or their result, for a job that finished
    /// first), so nothing goes missing.
    ///
    /// Dropping an `AsCompleted` does not cancel anything, as dropping a [`Pending`] does not
    /// (but for a handle made to [`cancel_on_drop`](Pending::cancel_on_drop), an event
    /// stream's whose stream has not come yet among them): the jobs run on and their results
    /// are dropped. Call this first to stop them.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{as_completed, Error, FuturesSession};
    ///
    /// let session = FuturesSession::builder().max_workers(1).build();
    /// let (go, wait) = ureq_futures::crossbeam_channel::bounded::<()>(0);
    /// let slow = session.submit(move |_| { wait.recv().ok(); Ok(0) });
    /// let queued = session.submit(|_| Ok(1));
    /// let mut done = as_completed(vec![slow, queued]);
    /// assert_eq!(done.cancel_rest(), 2);
    /// drop(go);
    /// assert!(done.all(|(_, r)| matches!(r, Err(Error::Cancelled))));
    /// ```
    pub fn cancel_rest(&mut self) -> usize {
        // The last first (see `batch::cancel_latest_first`): from the head of the queue, each
        // cancel hands a free worker the next queued job before that one's cancel comes.
        self.handles
            .iter()
            .rev()
            .flatten()
            .filter(|h| h.cancel())
            .count()
    }

    /// Before blocking inside a job: makes a cancel of that job wake the wait.
    fn watch_cancel(&mut self) {
        let tx = &self.tx;
        self.watch.watch(|| stop_sender(tx));
    }

    /// Runs one still-queued job inline if this thread is a worker of its pool.
    fn help_one(&mut self) -> bool {
        while self.next_to_help < self.handles.len() {
            let i = self.next_to_help;
            self.next_to_help += 1;
            if self.handles[i].as_ref().is_some_and(|h| h.help()) {
                return true;
            }
        }
        false
    }
}

impl<T: Send + 'static> ExactSizeIterator for AsCompleted<T> {}

/// Blocks until every job in `handles` is done, without taking their results
/// (`concurrent.futures.wait` with `ALL_COMPLETED`). Inside a job that is cancelled meanwhile,
/// it cancels the jobs it waits for, as [`Pending::wait`] does.
///
/// # Examples
///
/// ```
/// # use ureq_futures::{wait_all, FuturesSession};
/// let session = FuturesSession::new();
/// let handles: Vec<_> = (0..4).map(|i| session.submit(move |_| Ok(i))).collect();
/// wait_all(&handles);
/// assert!(handles.iter().all(|h| h.is_done()));
/// ```
pub fn wait_all<T: Send + 'static>(handles: &[Pending<T>]) {
    for h in handles {
        h.wait();
    }
}

/// Blocks until at least one job in `handles` is done and returns the index of a done one
/// (`concurrent.futures.wait` with `FIRST_COMPLETED`). Returns `None` for an empty slice.
/// Inside a job that is cancelled (or shut down with
/// [`shutdown_now`](crate::FuturesSession::shutdown_now)) while it waits, it cancels the jobs
/// it waits for, as [`Pending::wait`] does, and returns the index of one of them.
///
/// # Examples
///
/// ```
/// # use ureq_futures::{wait_any, FuturesSession};
/// use std::time::Duration;
/// let session = FuturesSession::new();
/// let (go, wait) = std::sync::mpsc::channel::<()>();
/// let slow = session.submit(move |_| { wait.recv().ok(); Ok(0) }); // ends once `go` is sent
/// let fast = session.submit(|_| Ok(1));
/// assert_eq!(wait_any(&[slow, fast]), Some(1));
/// go.send(()).unwrap();
/// ```
pub fn wait_any<T: Send + 'static>(handles: &[Pending<T>]) -> Option<usize> {
    if handles.is_empty() {
        return None;
    }
    if let Some(i) = handles.iter().position(|h| h.is_done()) {
        return Some(i);
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    for (i, h) in handles.iter().enumerate() {
        h.slot.notify(&tx, i);
    }
    let mut watch = JobWatch::default();
    watch.watch(|| stop_sender(&tx));
    let first = loop {
        let i = match rx.try_recv() {
            Ok(i) => i,
            // On a worker, run one queued job of the pool inline rather than wait forever.
            Err(_) if handles.iter().any(|h| h.help()) => continue,
            // The guard above looks again at a stream still queued here, at the next turn.
            Err(_) => match recv_or_recheck(&rx, handles.iter().any(Pending::stream_queued_here)) {
                Some(i) => i,
                None => continue,
            },
        };
        if i != STOPPED {
            break i;
        }
        // The job waiting here was cancelled: so are the jobs it waits for (see
        // `Pending::cancel_waited`), the last first (see `AsCompleted::cancel_rest`); the first
        // of them to be done is the answer.
        for h in handles.iter().rev() {
            h.cancel();
        }
    };
    drop(watch);
    for h in handles {
        h.slot.forget_listener(&tx);
    }
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::slot::Completer;

    fn resolved(v: u32) -> Pending<u32> {
        let (slot, task) = Slot::queued(0, false, |_: Completer<u32>| {});
        assert!(slot.claim());
        slot.complete(Ok(v));
        Pending::new(slot, task)
    }

    #[test]
    fn ready_handles_are_done() {
        let mut p = resolved(3);
        assert!(p.is_done());
        assert_eq!(p.try_result().unwrap().unwrap(), 3);
        assert!(p.try_result().is_none());
        assert!(p.is_done());
    }

    /// `result_timeout` after the result was handed out returned `None` at once, which its
    /// doc says means "not done yet": a loop waiting with it went round for ever without
    /// blocking. It says `ResultTaken`, as `result()` does.
    #[test]
    fn result_timeout_after_the_result_was_taken_says_so() {
        let taken = |p: &mut Pending<u32>| {
            matches!(
                p.result_timeout(Duration::from_secs(30)),
                Some(Err(Error::ResultTaken))
            )
        };
        let mut p = resolved(1);
        assert_eq!(p.try_result().unwrap().unwrap(), 1);
        assert!(taken(&mut p), "after try_result");
        assert!(taken(&mut p), "asked again");
        let mut p = resolved(2);
        assert_eq!(p.result_timeout(Duration::ZERO).unwrap().unwrap(), 2);
        assert!(taken(&mut p), "after result_timeout");
        let mut p = resolved(3);
        let waker = std::task::Waker::noop();
        match Pin::new(&mut p).poll(&mut Context::from_waker(waker)) {
            Poll::Ready(Ok(3)) => {}
            other => panic!("{other:?}"),
        }
        assert!(taken(&mut p), "after a poll");
        assert!(matches!(p.result(), Err(Error::ResultTaken)));
    }

    #[test]
    fn complete_is_first_wins() {
        let (slot, task) = Slot::queued(0, false, |_: Completer<u32>| {});
        assert!(slot.complete(Ok(1)));
        assert!(!slot.complete(Ok(2)));
        assert_eq!(Pending::new(slot, task).result().unwrap(), 1);
    }

    #[test]
    fn cancel_while_queued_or_running_but_not_once_done() {
        let (slot, task) = Slot::queued(0, false, |c: Completer<u32>| c.complete(Ok(5)));
        let p = Pending::new(slot, task.clone());
        assert!(p.cancel());
        assert!(!p.cancel());
        // The queue entry finds nothing to run.
        task.run();
        assert!(matches!(p.result(), Err(Error::Cancelled)));
    }

    #[test]
    fn panics_become_errors_with_the_message() {
        let (slot, task) = Slot::queued(0, false, |_: Completer<u32>| panic!("boom {}", 7));
        let p = Pending::new(slot, task.clone());
        task.run();
        match p.result() {
            Err(Error::Panicked(msg)) => assert_eq!(msg, "boom 7"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn as_completed_over_ready_handles_yields_each_once() {
        let handles: Vec<_> = (0..5).map(resolved).collect();
        let mut seen: Vec<(usize, u32)> = as_completed(handles)
            .map(|(i, r)| (i, r.unwrap()))
            .collect();
        seen.sort();
        assert_eq!(seen, (0..5).map(|i| (i as usize, i)).collect::<Vec<_>>());
    }

    #[test]
    fn wait_any_of_nothing_is_none() {
        assert_eq!(wait_any::<u32>(&[]), None);
    }

    /// Counts its wake-ups; unparks the thread that made it.
    struct Counting {
        woken: std::sync::atomic::AtomicUsize,
        thread: std::thread::Thread,
    }

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.woken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.thread.unpark();
        }
    }

    fn counting() -> (Arc<Counting>, std::task::Waker) {
        let c = Arc::new(Counting {
            woken: Default::default(),
            thread: std::thread::current(),
        });
        (c.clone(), std::task::Waker::from(c))
    }

    fn woken(c: &Counting) -> usize {
        c.woken.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn the_waker_of_the_last_poll_is_woken_once() {
        let (slot, task) = Slot::queued(0, false, |_: Completer<u32>| {});
        assert!(slot.claim());
        let mut p = Pending::new(slot.clone(), task);
        let (a, wa) = counting();
        let (b, wb) = counting();
        assert!(Pin::new(&mut p)
            .poll(&mut Context::from_waker(&wa))
            .is_pending());
        assert!(Pin::new(&mut p)
            .poll(&mut Context::from_waker(&wb))
            .is_pending());
        assert!(slot.complete(Ok(7)));
        assert!(!slot.complete(Ok(8)));
        assert_eq!((woken(&a), woken(&b)), (0, 1));
        match Pin::new(&mut p).poll(&mut Context::from_waker(&wb)) {
            Poll::Ready(Ok(7)) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(woken(&b), 1);
    }

    /// A result that lands while the handle is being polled is never missed: the poll either
    /// sees it or leaves a waker that the completion wakes.
    #[test]
    fn a_result_racing_a_poll_always_wakes_the_task() {
        for i in 0..2000u32 {
            let (slot, task) = Slot::queued(0, false, |_: Completer<u32>| {});
            assert!(slot.claim());
            let mut p = Pending::new(slot.clone(), task);
            let (count, waker) = counting();
            let completer = std::thread::spawn(move || slot.complete(Ok(i)));
            let value = loop {
                let before = woken(&count);
                match Pin::new(&mut p).poll(&mut Context::from_waker(&waker)) {
                    Poll::Ready(result) => break result.unwrap(),
                    Poll::Pending => {
                        // Parked until woken; a wake-up that never comes fails the round.
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while woken(&count) == before {
                            assert!(Instant::now() < deadline, "lost wake-up in round {i}");
                            std::thread::park_timeout(Duration::from_millis(100));
                        }
                    }
                }
            };
            assert_eq!(value, i);
            completer.join().unwrap();
        }
    }
}
