//! `Pending<T>`, the handle of a submitted job, and the helpers that wait on many of them.
//!
//! # How a job and its handle meet
//!
//! Every job has one [`Slot`], shared by the handle and the session's queue. The slot holds the
//! job's closure (inline: a job is one allocation) and, once it is done, its result. That one
//! place makes the hard cases simple:
//!
//! * Whoever *claims* the job first (a worker, a cancel, a shutdown) decides its fate: run it or
//!   drop it. [`Pending::cancel`] claims it, so a cancelled job can never run.
//! * A worker that blocks on a handle whose job is still queued in its own pool would deadlock a
//!   full pool. Instead, [`Pending::result`] (and [`Pending::wait`], [`wait_all`] and
//!   [`as_completed`]) claim the job and run it inline on that worker, as work-stealing pools
//!   do. The queue entry then finds the job claimed and does nothing.
//! * An event stream resolves its handle as soon as the response headers are in and keeps its
//!   worker busy afterwards: a job *completes* its slot through a [`Completer`], which need not be
//!   the moment its closure returns.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::session::Shared;
use crate::Error;

/// The closure of a queued job, kept inside its slot: `Option<F>` for a closure `F` that gets the
/// session's agent and settings and resolves the slot through the completer, usually by returning
/// a value to it. Run or dropped at most once, by the thread that claimed the job.
pub(crate) trait JobCell<T>: Send {
    /// Runs the closure if it is still here.
    fn run(&mut self, shared: &Shared, done: Completer<T>);
    /// Drops the closure.
    fn discard(&mut self);
}

impl<T, F: FnOnce(&Shared, Completer<T>) + Send> JobCell<T> for Option<F> {
    fn run(&mut self, shared: &Shared, done: Completer<T>) {
        if let Some(job) = self.take() {
            job(shared, done);
        }
    }

    fn discard(&mut self) {
        *self = None;
    }
}

/// The type-erased face of a slot that the session's queue holds.
pub(crate) trait Task: Send + Sync {
    /// Runs the job if it is still queued; does nothing if it was cancelled or already run.
    fn run(self: Arc<Self>, shared: &Shared);
    /// Resolves a still-queued job with `error` without running it.
    fn abort(&self, error: Error);
}

thread_local! {
    /// Set on the session's worker threads: the pool they belong to and what its jobs get.
    static WORKER: RefCell<Option<(usize, Arc<Shared>)>> = const { RefCell::new(None) };
}

/// Marks the current thread as a worker of pool `pool` for the rest of its life.
pub(crate) fn mark_worker(pool: usize, shared: Arc<Shared>) {
    WORKER.with(|w| *w.borrow_mut() = Some((pool, shared)));
}

/// Whether the current thread is a worker of pool `pool`.
pub(crate) fn is_worker_of(pool: usize) -> bool {
    WORKER.with(|w| matches!(&*w.borrow(), Some((id, _)) if *id == pool))
}

/// What the jobs of the current thread's pool get, if it is a worker of pool `pool`.
fn worker_shared(pool: usize) -> Option<Arc<Shared>> {
    WORKER.with(|w| match &*w.borrow() {
        Some((id, shared)) if *id == pool => Some(shared.clone()),
        _ => None,
    })
}

/// How often a waiting thread yields before it blocks; see `Slot::yield_briefly`.
const YIELDS_BEFORE_BLOCKING: usize = 8;

/// A job and its outcome; `J` is the job's [`JobCell`], unsized to `dyn JobCell<T>` once built,
/// so that the closure lives inside the slot: one allocation per job.
pub(crate) struct Slot<T, J: ?Sized = dyn JobCell<T>> {
    state: Mutex<State<T>>,
    done: Condvar,
    /// Set once a result is stored, so that a waiter can poll without taking the lock.
    ready: AtomicBool,
    /// The pool whose workers may run this job inline while waiting for it; 0 for none. Jobs that
    /// resolve their handle early and keep running (event streams) are not run inline: the
    /// waiter would only get its handle when the whole stream had been read.
    pool: usize,
    /// The closure. Only the thread that claimed the job ([`Slot::claim`]) ever locks it, so the
    /// lock is never contended; it is there to hand that thread `&mut` access.
    job: Mutex<J>,
}

struct State<T> {
    /// The job is still queued: nobody has claimed it to run or drop it.
    queued: bool,
    result: Option<Result<T, Error>>,
    /// The result was handed out; the handle is done for good.
    taken: bool,
    waker: Option<Waker>,
    listeners: Vec<Listener>,
    /// Threads blocked on `done`; completion skips the wake-up syscall when there are none.
    waiters: usize,
    /// The handle was dropped: a result is dropped on arrival. This is what closes an event
    /// stream whose handle was dropped unclaimed, so that its worker stops.
    abandoned: bool,
}

/// Told the handle's index when its job completes (for `as_completed` and `wait_any`).
struct Listener {
    tx: Sender<usize>,
    index: usize,
}

impl<T> State<T> {
    fn is_done(&self) -> bool {
        self.result.is_some() || self.taken
    }

    /// Hands the result out, once.
    fn take_result(&mut self) -> Option<Result<T, Error>> {
        let result = self.result.take();
        self.taken |= result.is_some();
        result
    }
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic never happens while the lock is held (jobs run outside it), so poisoning
        // cannot occur; recover the guard anyway rather than propagate a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Send + 'static> Slot<T> {
    /// A slot holding `job`, and the same slot as the queue's entry.
    pub(crate) fn queued<F>(pool: usize, job: F) -> (Arc<Slot<T>>, Arc<dyn Task>)
    where
        F: FnOnce(&Shared, Completer<T>) + Send + 'static,
    {
        let slot = Arc::new(Slot {
            state: Mutex::new(State {
                queued: true,
                result: None,
                taken: false,
                waker: None,
                listeners: Vec::new(),
                waiters: 0,
                abandoned: false,
            }),
            done: Condvar::new(),
            ready: AtomicBool::new(false),
            pool,
            job: Mutex::new(Some(job)),
        });
        (slot.clone(), slot)
    }

    /// Stores the result unless one is already there. Returns whether it was stored.
    fn complete(&self, result: Result<T, Error>) -> bool {
        self.complete_with(move || result)
    }

    /// Stores the result that `make` builds, unless one is already there (then `make` is not
    /// called). Returns whether this call resolved the slot: by storing the result, or by
    /// dropping it when the handle is gone.
    fn complete_with(&self, make: impl FnOnce() -> Result<T, Error>) -> bool {
        let (waker, listeners, waiters) = {
            let mut state = self.lock();
            if state.is_done() {
                return false;
            }
            if state.abandoned {
                // Nobody can take it: drop it now (with `make`), outside the lock.
                drop(state);
                return true;
            }
            state.result = Some(make());
            self.ready.store(true, Ordering::Release);
            (
                state.waker.take(),
                std::mem::take(&mut state.listeners),
                state.waiters,
            )
        };
        if waiters > 0 {
            self.done.notify_all();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
        for l in listeners {
            // The receiver may be gone (an abandoned `as_completed`); nothing to tell then.
            let _ = l.tx.send(l.index);
        }
        true
    }

    /// Before blocking, gives the CPU to other threads a few times in case the job is about to
    /// finish: a caller collecting many short jobs in order then rarely sleeps, which saves a
    /// futex wake-up on the worker and a context switch on the caller per job.
    fn yield_briefly(&self) {
        for _ in 0..YIELDS_BEFORE_BLOCKING {
            if self.ready.load(Ordering::Acquire) {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Waits on `done`, counted in `waiters`.
    fn block<'a>(&self, mut state: MutexGuard<'a, State<T>>) -> MutexGuard<'a, State<T>> {
        state.waiters += 1;
        let mut state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
        state.waiters -= 1;
        state
    }

    /// Waits on `done` for at most `timeout`, counted in `waiters`.
    fn block_timeout<'a>(
        &self,
        mut state: MutexGuard<'a, State<T>>,
        timeout: Duration,
    ) -> MutexGuard<'a, State<T>> {
        state.waiters += 1;
        let (mut state, _) = self
            .done
            .wait_timeout(state, timeout)
            .unwrap_or_else(|e| e.into_inner());
        state.waiters -= 1;
        state
    }

    /// Claims the job if it is still queued: the caller must then run or discard it. Whoever
    /// claims first (a worker, a cancel, a shutdown) decides the job's fate.
    fn claim(&self) -> bool {
        std::mem::replace(&mut self.lock().queued, false)
    }

    fn job(&self) -> MutexGuard<'_, dyn JobCell<T> + 'static> {
        // Poisoned only by a job that panicked, which was then already taken out.
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the job if it is still queued and resolves the slot with `error`. Returns whether
    /// it did.
    pub(crate) fn cancel_with(&self, error: Error) -> bool {
        let claimed = self.claim();
        if claimed {
            self.job().discard();
            self.complete(Err(error));
        }
        claimed
    }

    /// Runs a claimed job, turning a panic into `Error::Panicked`.
    fn run_claimed(self: &Arc<Self>, shared: &Shared) {
        let completer = Completer {
            slot: Arc::clone(self),
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.job().run(shared, completer)));
        // The payload is dropped here, outside the slot's lock: its `Drop` is user code.
        let panicked = outcome.err().map(|payload| panic_message(payload.as_ref()));
        if self.ready.load(Ordering::Acquire) {
            // The job completed its slot, which is the normal case.
            return;
        }
        self.complete_with(|| {
            Err(Error::Panicked(
                panicked.unwrap_or_else(|| "the job ended without a result".into()),
            ))
        });
    }

    /// If this thread is a worker of this job's pool and the job is still queued, runs it here.
    /// Returns whether it did.
    fn help(self: &Arc<Self>) -> bool {
        let Some(shared) = worker_shared(self.pool) else {
            return false;
        };
        let claimed = self.claim();
        if claimed {
            self.run_claimed(&shared);
        }
        claimed
    }

    /// Registers `tx` to be told `index` when the job completes (at once if it already has).
    fn notify(&self, tx: &Sender<usize>, index: usize) {
        let mut state = self.lock();
        if state.is_done() {
            drop(state);
            let _ = tx.send(index);
        } else {
            state.listeners.push(Listener {
                tx: tx.clone(),
                index,
            });
        }
    }

    fn forget_listener(&self, tx: &Sender<usize>) {
        self.lock().listeners.retain(|l| !l.tx.same_channel(tx));
    }
}

impl<T: Send + 'static, J: JobCell<T> + 'static> Task for Slot<T, J> {
    fn run(self: Arc<Self>, shared: &Shared) {
        let slot: Arc<Slot<T>> = self;
        if slot.claim() {
            slot.run_claimed(shared);
        }
    }

    fn abort(&self, error: Error) {
        let slot: &Slot<T> = self;
        slot.cancel_with(error);
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Resolves a job's handle. Given to each job; consumed by the first `complete`.
pub(crate) struct Completer<T> {
    slot: Arc<Slot<T>>,
}

impl<T: Send + 'static> Completer<T> {
    /// Resolves the handle with `result`. The job may go on running afterwards.
    pub(crate) fn complete(self, result: Result<T, Error>) {
        self.slot.complete(result);
    }
}

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
/// Dropping a handle does not cancel its job (call [`cancel`](Pending::cancel) for that); its
/// result is dropped when it arrives. Dropping an event stream's handle unclaimed therefore
/// closes the stream and frees its worker.
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
#[must_use = "a Pending does nothing by itself: call result() to get the job's outcome"]
pub struct Pending<T> {
    slot: Arc<Slot<T>>,
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
    pub(crate) fn new(slot: Arc<Slot<T>>) -> Self {
        Pending { slot }
    }

    /// Blocks until the job is done and returns its result.
    ///
    /// HTTP error statuses are *not* errors here (as in requests-futures): a 404 is an
    /// `Ok(Response)` whose [`status`](crate::Response::status) is 404. The errors are transport
    /// failures, timeouts, [`Error::Cancelled`], [`Error::ShutDown`] and [`Error::Panicked`].
    ///
    /// Called on a worker of the same session while the job is still queued, it runs the job
    /// inline instead of waiting for a free worker, so a full pool cannot deadlock on itself.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// let session = FuturesSession::new();
    /// let p = session.submit(|_| Ok("done"));
    /// assert_eq!(p.result().unwrap(), "done");
    /// ```
    pub fn result(self) -> Result<T, Error> {
        self.slot.help();
        self.slot.yield_briefly();
        let mut state = self.slot.lock();
        loop {
            if let Some(result) = state.take_result() {
                return result;
            }
            if state.taken {
                // Only reachable through `try_result` / `result_timeout` having taken it.
                return Err(Error::ResultTaken);
            }
            state = self.slot.block(state);
        }
    }

    /// Returns the result if the job is done, `None` if it is still queued or running.
    ///
    /// The result is handed out once: after `try_result` returned `Some`, later calls (and
    /// [`result_timeout`](Pending::result_timeout)) return `None`.
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
    /// Unlike [`result`](Pending::result) it never runs a queued job inline, so it may wait the
    /// whole timeout when called on a worker of a full pool.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// use std::time::Duration;
    /// let session = FuturesSession::new();
    /// let mut p = session.submit(|_| { std::thread::sleep(Duration::from_millis(200)); Ok(()) });
    /// assert!(p.result_timeout(Duration::from_millis(1)).is_none());
    /// assert!(p.result_timeout(Duration::from_secs(10)).unwrap().is_ok());
    /// ```
    pub fn result_timeout(&mut self, timeout: Duration) -> Option<Result<T, Error>> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.slot.lock();
        loop {
            if let Some(result) = state.take_result() {
                return Some(result);
            }
            if state.taken {
                return None;
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
    /// same session while the job is still queued.
    pub fn wait(&self) {
        self.slot.help();
        let mut state = self.slot.lock();
        while !state.is_done() {
            state = self.slot.block(state);
        }
    }

    /// Whether the job is done (its result is ready or was taken).
    ///
    /// An event stream's handle is done as soon as the response headers are in, while its worker
    /// goes on reading the stream.
    pub fn is_done(&self) -> bool {
        self.slot.lock().is_done()
    }

    /// Cancels the job if it has not started. Returns `true` if it was still queued: it will never
    /// run and its result is `Err(Error::Cancelled)`. Returns `false` if it is running or done;
    /// a running job is not interrupted.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// use std::time::Duration;
    /// let session = FuturesSession::builder().max_workers(1).build();
    /// let busy = session.submit(|_| { std::thread::sleep(Duration::from_millis(100)); Ok(()) });
    /// let queued = session.submit(|_| Ok(()));
    /// assert!(queued.cancel());
    /// assert!(matches!(queued.result(), Err(ureq_futures::Error::Cancelled)));
    /// assert!(busy.result().is_ok());
    /// ```
    pub fn cancel(&self) -> bool {
        self.slot.cancel_with(Error::Cancelled)
    }
}

impl<T> Drop for Pending<T> {
    /// Drops a result nobody took, now or when it arrives; the job itself is not cancelled.
    fn drop(&mut self) {
        let unclaimed = {
            let mut state = self.slot.lock();
            state.abandoned = true;
            state.result.take()
        };
        drop(unclaimed);
    }
}

impl<T: Send + 'static> Future for Pending<T> {
    type Output = Result<T, Error>;

    /// Polls the job: ready once the worker has stored the result. The worker wakes the most
    /// recently registered waker. Unlike [`result`](Pending::result), polling never runs a
    /// queued job inline, so blocking on a handle (`block_on`) from a worker of its own full
    /// pool waits for a free worker.
    ///
    /// # Panics
    ///
    /// When polled again after it returned `Ready` (as futures may), or after
    /// [`try_result`](Pending::try_result) or [`result_timeout`](Pending::result_timeout) took
    /// the result.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        if let Some(result) = state.take_result() {
            return Poll::Ready(result);
        }
        assert!(!state.taken, "`Pending` polled after completion");
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Yields `(index, result)` for each handle as its job completes, like Python's
/// `concurrent.futures.as_completed`. `index` is the handle's position in `handles`.
///
/// Each handle is told once where to report, so the whole iteration costs O(n) however the
/// completions are ordered; nothing polls the remaining handles.
///
/// # Examples
///
/// ```
/// use ureq_futures::{as_completed, FuturesSession};
///
/// let session = FuturesSession::new();
/// let (go, wait) = crossbeam_channel::bounded::<()>(0);
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
    AsCompleted {
        remaining: handles.len(),
        handles,
        rx,
        next_to_help: 0,
    }
}

/// The iterator of [`as_completed`]: `(index, result)` in completion order.
pub struct AsCompleted<T> {
    handles: Vec<Option<Pending<T>>>,
    rx: crossbeam_channel::Receiver<usize>,
    remaining: usize,
    /// Where the inline-help scan resumes (used only on worker threads).
    next_to_help: usize,
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
        let index = loop {
            if let Ok(i) = self.rx.try_recv() {
                break i;
            }
            // On a worker of the handles' pool, run a queued job here rather than wait for a
            // worker that may never come free. Each handle is looked at once in all.
            if !self.help_one() {
                match self.rx.recv() {
                    Ok(i) => break i,
                    // Unreachable: every pending handle holds a sender until it completes.
                    Err(_) => return None,
                }
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
    /// Runs one still-queued job inline if this thread is a worker of its pool.
    fn help_one(&mut self) -> bool {
        while self.next_to_help < self.handles.len() {
            let i = self.next_to_help;
            self.next_to_help += 1;
            if self.handles[i].as_ref().is_some_and(|h| h.slot.help()) {
                return true;
            }
        }
        false
    }
}

impl<T: Send + 'static> ExactSizeIterator for AsCompleted<T> {}

/// Blocks until every job in `handles` is done, without taking their results
/// (`concurrent.futures.wait` with `ALL_COMPLETED`).
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
///
/// # Examples
///
/// ```
/// # use ureq_futures::{wait_any, FuturesSession};
/// use std::time::Duration;
/// let session = FuturesSession::new();
/// let slow = session.submit(|_| { std::thread::sleep(Duration::from_millis(300)); Ok(0) });
/// let fast = session.submit(|_| Ok(1));
/// assert_eq!(wait_any(&[slow, fast]), Some(1));
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
    let first = loop {
        if let Ok(i) = rx.try_recv() {
            break i;
        }
        // On a worker, run one queued job of the pool inline rather than wait forever.
        if handles.iter().any(|h| h.slot.help()) {
            continue;
        }
        match rx.recv() {
            Ok(i) => break i,
            Err(_) => unreachable!("the sender `tx` is alive in this frame"),
        }
    };
    for h in handles {
        h.slot.forget_listener(&tx);
    }
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FuturesSession;

    fn resolved(v: u32) -> Pending<u32> {
        let (slot, _) = Slot::queued(0, |_: &Shared, _: Completer<u32>| {});
        assert!(slot.claim());
        slot.complete(Ok(v));
        Pending::new(slot)
    }

    #[test]
    fn ready_handles_are_done() {
        let mut p = resolved(3);
        assert!(p.is_done());
        assert_eq!(p.try_result().unwrap().unwrap(), 3);
        assert!(p.try_result().is_none());
        assert!(p.is_done());
    }

    #[test]
    fn complete_is_first_wins() {
        let (slot, _) = Slot::queued(0, |_: &Shared, _: Completer<u32>| {});
        assert!(slot.complete(Ok(1)));
        assert!(!slot.complete(Ok(2)));
        assert_eq!(Pending::new(slot).result().unwrap(), 1);
    }

    #[test]
    fn cancel_only_while_queued() {
        let (slot, task) = Slot::queued(0, |_: &Shared, c: Completer<u32>| c.complete(Ok(5)));
        let p = Pending::new(slot);
        assert!(p.cancel());
        assert!(!p.cancel());
        // The queue entry finds nothing to run.
        task.run(&FuturesSession::new().shared());
        assert!(matches!(p.result(), Err(Error::Cancelled)));
    }

    #[test]
    fn panics_become_errors_with_the_message() {
        let (slot, task) = Slot::queued(0, |_: &Shared, _: Completer<u32>| panic!("boom {}", 7));
        let p = Pending::new(slot);
        task.run(&FuturesSession::new().shared());
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
}
