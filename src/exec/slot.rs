//! The slot: where a job and its handle meet.
//!
//! Every job has one [`Slot`], shared by the handle and the executor's queue. The slot holds the
//! job's closure (inline: a job is one allocation) and, once it is done, its result. That one
//! place makes the hard cases simple:
//!
//! * Whoever *claims* the job first (a worker, a cancel, a shutdown) decides its fate: run it or
//!   drop it. [`Pending::cancel`](super::Pending::cancel) claims it, so a cancelled job can never
//!   run.
//! * A worker that blocks on a handle whose job is still queued in its own pool would deadlock a
//!   full pool. Instead, [`Pending::result`](super::Pending::result) (and the helpers that wait
//!   on many handles) claim the job and run it inline on that worker, as work-stealing pools do.
//!   The queue entry then finds the job claimed and does nothing.
//! * A job that resolves its handle early and keeps running (an event stream) *completes* its
//!   slot through a [`Completer`], which need not be the moment its closure returns.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::job::{self, Interrupt};
use super::pool::{is_worker_of, run_nested};
use crate::progress::ProgressCounter;
use crate::Error;

/// The closure of a queued job, kept inside its slot: `Option<F>` for a closure `F` that resolves
/// the slot through the completer. Run or dropped at most once, by the thread that claimed the
/// job. The closure carries whatever it needs (the executor hands it nothing else).
pub(crate) trait JobCell<T>: Send {
    /// Runs the closure if it is still here.
    fn run(&mut self, done: Completer<T>);
    /// Drops the closure.
    fn discard(&mut self);
}

impl<T, F: FnOnce(Completer<T>) + Send> JobCell<T> for Option<F> {
    fn run(&mut self, done: Completer<T>) {
        if let Some(job) = self.take() {
            job(done);
        }
    }

    fn discard(&mut self) {
        *self = None;
    }
}

/// The type-erased face of a slot that the executor's queue holds.
pub(crate) trait Task: Send + Sync {
    /// Runs the job if it is still queued; does nothing if it was cancelled or already run.
    fn run(self: Arc<Self>);
    /// Resolves a still-queued job with `error` without running it.
    fn abort(&self, error: Error);
    /// Whether the job's handle was dropped: nobody can see its result.
    fn is_abandoned(&self) -> bool;
    /// Whether the job is still queued: nobody has claimed it yet to run it (a worker, or a
    /// waiter running it inline) or to drop it (a cancel, a shutdown).
    fn is_queued(&self) -> bool;
    /// Taken out of the executor's queue by a sweep (see `exec::pool`'s "Spent entries"): the
    /// entry to put back in its place, or `None` when it is spent, a worker that took it
    /// would only have passed over it. A job's is spent once claimed out of the queue; a lane's
    /// entry tells its lane first (see `Laned`); the rest (a lane's wake-up) go back.
    fn swept(self: Arc<Self>) -> Option<Arc<dyn Task>>;
    /// Whether the job was run inline by a worker waiting for it (see `Slot::help`), past the
    /// admission step of its lane.
    fn ran_inline(&self) -> bool;
    /// Cancels the job: a queued one never runs, a running one has its handle resolved to
    /// [`Error::Cancelled`] and what it blocks on interrupted. Returns whether the handle now
    /// resolves to `Cancelled` (not when the job was already done).
    fn cancel(&self) -> bool;
    /// Interrupts what the running job blocks on, its handle left as it is. See
    /// [`JobHandle::interrupt`](super::job::JobHandle::interrupt).
    fn interrupt(&self);
    /// See [`JobHandle::register`](super::job::JobHandle::register).
    fn register(&self, what: Weak<dyn Interrupt>) -> bool;
    /// Keeps what the job registered past the end of its closure (`true`), until called with
    /// `false`. See [`JobHandle::hold`](super::job::JobHandle::hold).
    fn hold(&self, held: bool);
    /// Whether the job was cancelled.
    fn is_cancelled(&self) -> bool;
    /// The job's handle was dropped while the job was still queued. A lane's entry tells its
    /// lane (see `Lanes::forget_gone`); nothing to do for the others.
    fn handle_dropped(&self) {}
    /// A worker waiting for the job claimed it out of the queue and ran it itself (see
    /// [`Slot::help`]). A lane's entry tells its lane, as a cancel does (see `Lanes::claimed`);
    /// nothing to do for the others.
    fn claimed_by_waiter(&self) {}
    /// Sleeps `d` unless the job is cancelled first; returns `false` if it was.
    fn sleep(&self, d: Duration) -> bool;
    /// The job's number (see `job::next_id`); 0 for an entry that is no job (a lane's wake-up).
    fn id(&self) -> usize;
    /// The counters of the request body the job sends; `None` for an entry that is no job.
    fn upload(&self) -> Option<&ProgressCounter>;
}

/// How often a waiting thread yields before it blocks; see `Slot::yield_briefly`.
const YIELDS_BEFORE_BLOCKING: usize = 8;

/// A job and its outcome; `J` is the job's [`JobCell`], unsized to `dyn JobCell<T>` once built,
/// so that the closure lives inside the slot: one allocation per job.
pub(crate) struct Slot<T, J: ?Sized = dyn JobCell<T>> {
    /// The job's number, unique for the life of the process (see `job::next_id`).
    id: usize,
    state: Mutex<State<T>>,
    done: Condvar,
    /// Set once a result is stored, so that a waiter can poll without taking the lock.
    ready: AtomicBool,
    /// The pool whose workers may run this job while waiting for it, rather than wait for a
    /// free worker; 0 for none (see [`Slot::help`]).
    pool: usize,
    /// The job resolves its handle early and keeps running (an event stream, which feeds the
    /// waiter's channel until it ends): a waiting worker runs it on a thread of its own, not
    /// inline, where the waiter would only get its handle once the whole stream was read.
    apart: bool,
    /// How much of its input the job has read (a response body), for
    /// [`Pending::progress`](crate::Pending::progress): two atomics inside the slot, so that
    /// counting costs no allocation of its own. Last, beside the unsized job.
    pub(crate) progress: ProgressCounter,
    /// How much of its request body the job has sent, for
    /// [`Pending::upload_progress`](crate::Pending::upload_progress).
    pub(crate) upload: ProgressCounter,
    /// The closure. Only the thread that claimed the job ([`Slot::claim`]) ever locks it, so the
    /// lock is never contended; it is there to hand that thread `&mut` access.
    job: Mutex<J>,
}

pub(crate) struct State<T> {
    /// The job is still queued: nobody has claimed it to run or drop it.
    pub(crate) queued: bool,
    pub(crate) result: Option<Result<T, Error>>,
    /// The result was handed out; the handle is done for good.
    pub(crate) taken: bool,
    pub(crate) waker: Option<Waker>,
    listeners: Vec<Listener>,
    /// Threads blocked on `done`; completion skips the wake-up syscall when there are none.
    pub(crate) waiters: usize,
    /// The handle was dropped: a result is dropped on arrival. This is what closes an event
    /// stream whose handle was dropped unclaimed, so that its worker stops.
    pub(crate) abandoned: bool,
    /// A cancel reached the job: what it registers from now on is refused.
    cancelled: bool,
    /// The job's closure has returned: unless `held`, a cancel has nothing left to interrupt.
    retired: bool,
    /// A worker waiting for the job ran it inline (`Slot::help`).
    inline: bool,
    /// What the job registered stays interruptible after its closure returns: its result goes
    /// on using it (a body reader, its connection). See `JobHandle::hold`.
    held: bool,
    /// What the running job blocks on, to interrupt on cancel (see `exec::job`).
    interrupts: Registered,
}

/// What a running job registered to be interrupted: nearly always one thing (the connection of
/// its request), which is held without an allocation of its own.
#[derive(Default)]
struct Registered {
    first: Option<Weak<dyn Interrupt>>,
    more: Vec<Weak<dyn Interrupt>>,
}

impl Registered {
    fn push(&mut self, what: Weak<dyn Interrupt>) {
        if self.first.is_none() {
            self.first = Some(what);
        } else {
            // What is gone (a wait that ended, a connection closed) is dropped from time to
            // time: a long job that waits or connects many times must not grow the list for
            // ever. Amortised: only at lengths 16, 32, 64 and so on.
            let len = self.more.len();
            if len >= 16 && len.is_power_of_two() {
                self.more.retain(|w| w.strong_count() > 0);
            }
            self.more.push(what);
        }
    }

    fn into_iter(self) -> impl Iterator<Item = Weak<dyn Interrupt>> {
        self.first.into_iter().chain(self.more)
    }
}

/// Told the handle's index when its job completes (for `as_completed` and `wait_any`).
struct Listener {
    tx: Sender<usize>,
    index: usize,
}

impl<T> State<T> {
    pub(crate) fn is_done(&self) -> bool {
        self.result.is_some() || self.taken
    }

    /// Hands the result out, once.
    pub(crate) fn take_result(&mut self) -> Option<Result<T, Error>> {
        let result = self.result.take();
        self.taken |= result.is_some();
        result
    }
}

impl<T> Slot<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic never happens while the lock is held (jobs run outside it), so poisoning
        // cannot occur; recover the guard anyway rather than propagate a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long a worker that waits for a queued event stream of its own pool leaves it to a free
/// worker before it starts the stream on a thread of its own (see `Slot::start_apart`).
const APART_GRACE: std::time::Duration = std::time::Duration::from_millis(2);

impl<T: Send + 'static> Slot<T> {
    /// A slot holding `job`, and the same slot as the queue's entry.
    pub(crate) fn queued<F>(pool: usize, apart: bool, job: F) -> (Arc<Slot<T>>, Arc<dyn Task>)
    where
        F: FnOnce(Completer<T>) + Send + 'static,
    {
        let slot = Arc::new(Slot {
            id: job::next_id(),
            state: Mutex::new(State {
                queued: true,
                result: None,
                taken: false,
                waker: None,
                listeners: Vec::new(),
                waiters: 0,
                abandoned: false,
                cancelled: false,
                retired: false,
                inline: false,
                held: false,
                interrupts: Registered::default(),
            }),
            done: Condvar::new(),
            ready: AtomicBool::new(false),
            pool,
            apart,
            progress: ProgressCounter::default(),
            upload: ProgressCounter::default(),
            job: Mutex::new(Some(job)),
        });
        (slot.clone(), slot)
    }

    /// Stores the result unless one is already there. Returns whether it was stored.
    pub(crate) fn complete(&self, result: Result<T, Error>) -> bool {
        self.complete_with(move || result)
    }

    /// Stores the result that `make` builds, unless one is already there (then `make` is not
    /// called). Returns whether this call resolved the slot: by storing the result, or by
    /// dropping it when the handle is gone.
    fn complete_with(&self, make: impl FnOnce() -> Result<T, Error>) -> bool {
        let state = self.lock();
        if state.is_done() {
            return false;
        }
        if state.abandoned {
            // Nobody can take it: drop it now (with `make`), outside the lock.
            drop(state);
            return true;
        }
        let result = make();
        self.store(state, result);
        true
    }

    /// Runs `step` and stores the result it returns, unless the handle is already resolved or
    /// the job was cancelled; returns whether `step` ran. `step` runs under the slot's lock,
    /// which a cancel takes to resolve the handle: a cancel comes either before (then `step`
    /// never runs) or after the result is stored (then it finds the job done and returns
    /// `false`). For a last step whose effect must agree with what the handle reports (a
    /// download's rename into place). `step` must be short and must not touch this slot.
    fn commit(&self, step: impl FnOnce() -> Result<T, Error>) -> bool {
        let state = self.lock();
        if state.is_done() || state.cancelled {
            return false;
        }
        let result = step();
        if state.abandoned {
            // Nobody can take it; its `Drop` runs outside the lock.
            drop(state);
            drop(result);
            return true;
        }
        self.store(state, result);
        true
    }

    /// Stores `result` in the unresolved slot that `state` locks, then wakes whoever waits.
    fn store(&self, mut state: MutexGuard<'_, State<T>>, result: Result<T, Error>) {
        state.result = Some(result);
        self.ready.store(true, Ordering::Release);
        let (waker, listeners, waiters) = (
            state.waker.take(),
            std::mem::take(&mut state.listeners),
            state.waiters,
        );
        drop(state);
        if waiters > 0 {
            self.done.notify_all();
        }
        for l in listeners {
            // The receiver may be gone (an abandoned `as_completed`); nothing to tell then.
            let _ = l.tx.send(l.index);
        }
        if let Some(waker) = waker {
            // The waker is the code of whatever executor polled the handle. One that panics
            // must not unwind through the worker's job or a cancel, which have more to do
            // (interrupt the job, go on reading a stream); the panic hook has reported it.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| waker.wake()));
        }
    }

    /// Before blocking, gives the CPU to other threads a few times in case the job is about to
    /// finish: a caller collecting many short jobs in order then rarely sleeps, which saves a
    /// futex wake-up on the worker and a context switch on the caller per job.
    pub(crate) fn yield_briefly(&self) {
        for _ in 0..YIELDS_BEFORE_BLOCKING {
            if self.ready.load(Ordering::Acquire) {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Whether a result was stored (a waiter's look without the lock).
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Wakes every thread blocked on `done`, so that it looks again at what it waits for. The
    /// lock is taken first: a waiter that looked and is about to block cannot miss it.
    pub(crate) fn wake_waiters(&self) {
        drop(self.lock());
        self.done.notify_all();
    }

    /// Wakes the task that last polled the handle, if any, so that it polls again. The waker
    /// stays in place for the result.
    pub(crate) fn wake_task(&self) {
        let waker = self.lock().waker.clone();
        if let Some(waker) = waker {
            // Executor code, as in `store`: a panic must not unwind into the cancel.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| waker.wake()));
        }
    }

    /// Waits on `done`, counted in `waiters`.
    pub(crate) fn block<'a>(
        &self,
        mut state: MutexGuard<'a, State<T>>,
    ) -> MutexGuard<'a, State<T>> {
        state.waiters += 1;
        let mut state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
        state.waiters -= 1;
        state
    }

    /// Waits on `done` for at most `timeout`, counted in `waiters`.
    pub(crate) fn block_timeout<'a>(
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
    pub(crate) fn claim(&self) -> bool {
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
            self.drop_claimed(Some(error));
        }
        claimed
    }

    /// Drops the closure of a job claimed and never run, and resolves the slot with `error`
    /// (else leaves it to whoever cancelled it).
    fn drop_claimed(&self, error: Option<Error>) {
        // The closure's captures are user code, whose `Drop` may panic: caught (the panic hook
        // has reported it), so that the handle resolves and a shutdown resolving many jobs goes
        // on.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| self.job().discard()));
        self.retire();
        if let Some(error) = error {
            self.complete(Err(error));
        }
    }

    /// Runs a claimed job, turning a panic into `Error::Panicked`. `task` is this slot as the
    /// queue sees it: the thread's current job while it runs.
    fn run_claimed(self: &Arc<Self>, task: &Arc<dyn Task>) {
        let completer = Completer {
            slot: Arc::clone(self),
        };
        let entered = job::enter(Arc::clone(task));
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.job().run(completer)));
        drop(entered);
        self.retire();
        // The payload is dropped here, outside the slot's lock: its `Drop` is user code, and a
        // panic there must not leave the handle unresolved (a panic of that panic's payload's
        // `Drop` would go on, so that payload is leaked).
        let panicked = outcome.err().map(|payload| {
            let message = panic_message(payload.as_ref());
            if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
                std::mem::forget(again);
            }
            message
        });
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

    /// If this thread is a worker of this job's pool and the job is still queued, runs it here
    /// (or, for a job that runs [`apart`](Slot::apart), starts it on a thread of its own).
    /// Returns whether it did.
    pub(crate) fn help(self: &Arc<Self>, task: &Arc<dyn Task>) -> bool {
        if self.pool == 0 || !is_worker_of(self.pool) {
            return false;
        }
        if self.apart {
            return self.start_apart(task);
        }
        let claimed = {
            let mut state = self.lock();
            // Only the claim marks the job: a later waiter finds it claimed and leaves the mark
            // alone (the job may be reading it).
            let claimed = std::mem::replace(&mut state.queued, false);
            state.inline |= claimed;
            claimed
        };
        if claimed && crate::exec::pool::pool_is_shut_down() {
            // Claimed after a shutdown, as a worker refuses one it takes then: a job handed to a
            // worker still starting was never queued, so the shutdown did not see it.
            self.drop_claimed(Some(Error::ShutDown));
        } else if claimed {
            // The job now runs as part of the job that waits for it (if any): a cancel of that
            // one cancels this one too, or it would not reach what this one blocks on.
            let inline = Arc::clone(task);
            let watch = job::CancelWatch::start(move || {
                inline.cancel();
            });
            if watch.as_ref().is_some_and(|w| w.fired()) {
                // That one was cancelled already, so this one's handle now says `Cancelled`:
                // it never runs, as a queued job that is cancelled never does.
                self.drop_claimed(None);
            } else {
                run_nested(|| self.run_claimed(task));
            }
        }
        claimed
    }

    /// Whether this is an event stream that a worker of its pool may start apart (see
    /// [`Slot::start_apart`]).
    pub(crate) fn may_go_apart(&self) -> bool {
        self.apart && self.pool != 0
    }

    /// [`may_go_apart`](Slot::may_go_apart), and this thread is a worker of its pool.
    pub(crate) fn may_go_apart_here(&self) -> bool {
        self.may_go_apart() && is_worker_of(self.pool)
    }

    /// Whether the job is still queued.
    pub(crate) fn queued_now(&self) -> bool {
        self.lock().queued
    }

    /// Claims the job, if still queued, and runs it on a new thread that acts as a worker of
    /// its pool (listing the job where this worker lists its own, so that `shutdown_now`
    /// reaches it): for an event stream that a worker waits for while its pool is busy.
    ///
    /// A stream's job runs for as long as the stream is open, so it cannot run inline, and a
    /// worker that waited for a free one in a full pool (every worker waiting on a stream, a
    /// fan-out of LLM calls from jobs of the client's own session) would wait for ever. The
    /// options were: document it (the first design), fail the wait with an error (the script
    /// stops where it could go on), or a thread beyond `max_workers` for as long as the stream
    /// is read. The last is done, only where the wait would deadlock: when, after a grace of
    /// [`APART_GRACE`] for a worker to take the job, every worker of the pool runs a job; a
    /// stream with a lane (`max_per_host`, a rate limiter) never goes apart, as it would pass
    /// its lane's limit for as long as it is open (it waits for its lane's room, as every
    /// request to its origin does). One thread per stream waited for so: a job that opens
    /// twenty streams in a full pool and waits for all of them runs twenty. The waiting job
    /// already cancelled, the stream is cancelled unsent. If the system refuses the thread, the
    /// handle resolves to [`Error::Io`] saying so.
    fn start_apart(self: &Arc<Self>, task: &Arc<dyn Task>) -> bool {
        // A free worker takes the job within microseconds: it gets that chance first, so that a
        // pool with room starts no thread beyond its workers.
        let until = std::time::Instant::now() + APART_GRACE;
        while self.queued_now() && std::time::Instant::now() < until {
            std::thread::sleep(APART_GRACE / 10);
        }
        // A pool with a worker free or to start takes it: only a full one deadlocks.
        if !crate::exec::pool::pool_is_full() {
            return false;
        }
        if !self.claim() {
            return false;
        }
        if crate::exec::pool::pool_is_shut_down() {
            // Claimed after a shutdown, as a worker refuses one it takes then.
            self.drop_claimed(Some(Error::ShutDown));
            return true;
        }
        if job::is_cancelled() {
            // The waiting job was cancelled: so is this one, which never runs, as a queued job
            // that is cancelled never does.
            task.cancel();
            self.drop_claimed(None);
            return true;
        }
        let (slot, task) = (Arc::clone(self), Arc::clone(task));
        let worker = crate::exec::pool::worker_identity();
        let spawn = move || {
            std::thread::Builder::new()
                .name("ureq-futures".into())
                .spawn(move || {
                    crate::exec::pool::act_as(worker);
                    slot.run_claimed(&task);
                })
        };
        #[cfg(test)]
        let spawned = if crate::exec::pool::refuses_threads() {
            Err(std::io::Error::other("no thread for the test"))
        } else {
            spawn()
        };
        #[cfg(not(test))]
        let spawned = spawn();
        if let Err(e) = spawned {
            let why = format!(
                "could not start a thread for an event stream waited for on a busy worker: {e}"
            );
            self.drop_claimed(Some(Error::Io(std::io::Error::new(e.kind(), why))));
        }
        true
    }

    /// The job's closure returned: forget what it registered, unless it is held.
    fn retire(&self) {
        let registered = {
            let mut state = self.lock();
            state.retired = true;
            if state.held {
                return;
            }
            std::mem::take(&mut state.interrupts)
        };
        drop(registered);
    }

    /// Marks the job cancelled and interrupts what it registered, unless it has ended.
    fn interrupt_running(&self) {
        let registered = {
            let mut state = self.lock();
            state.cancelled = true;
            if state.waiters > 0 {
                // A job sleeping in `sleep` wakes up (handle waiters go back to sleep).
                self.done.notify_all();
            }
            std::mem::take(&mut state.interrupts)
        };
        for what in registered.into_iter().filter_map(|what| what.upgrade()) {
            what.interrupt(self.id);
        }
    }

    /// Registers `tx` to be told `index` when the job completes (at once if it already has).
    pub(crate) fn notify(&self, tx: &Sender<usize>, index: usize) {
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

    pub(crate) fn forget_listener(&self, tx: &Sender<usize>) {
        self.lock().listeners.retain(|l| !l.tx.same_channel(tx));
    }
}

impl<T: Send + 'static, J: JobCell<T> + 'static> Task for Slot<T, J> {
    fn run(self: Arc<Self>) {
        let task: Arc<dyn Task> = self.clone();
        let slot: Arc<Slot<T>> = self;
        if slot.claim() {
            slot.run_claimed(&task);
        }
    }

    fn abort(&self, error: Error) {
        let slot: &Slot<T> = self;
        slot.cancel_with(error);
    }

    fn is_abandoned(&self) -> bool {
        let slot: &Slot<T> = self;
        slot.lock().abandoned
    }

    fn is_queued(&self) -> bool {
        let slot: &Slot<T> = self;
        slot.queued_now()
    }

    fn swept(self: Arc<Self>) -> Option<Arc<dyn Task>> {
        let queued = self.is_queued();
        queued.then_some(self)
    }

    fn ran_inline(&self) -> bool {
        let slot: &Slot<T> = self;
        slot.lock().inline
    }

    fn upload(&self) -> Option<&ProgressCounter> {
        Some(&self.upload)
    }

    fn cancel(&self) -> bool {
        let slot: &Slot<T> = self;
        if slot.cancel_with(Error::Cancelled) {
            return true;
        }
        // Running (or done): resolve the handle first, so that the caller need not wait for
        // the worker to notice; a job that is already done keeps its result.
        if !slot.complete(Err(Error::Cancelled)) {
            return false;
        }
        slot.interrupt_running();
        true
    }

    fn interrupt(&self) {
        let slot: &Slot<T> = self;
        slot.interrupt_running();
    }

    fn register(&self, what: Weak<dyn Interrupt>) -> bool {
        let slot: &Slot<T> = self;
        let mut state = slot.lock();
        if state.cancelled {
            return false;
        }
        if !state.retired || state.held {
            state.interrupts.push(what);
        }
        true
    }

    fn hold(&self, held: bool) {
        let slot: &Slot<T> = self;
        let registered = {
            let mut state = slot.lock();
            state.held = held;
            if held || !state.retired {
                return;
            }
            std::mem::take(&mut state.interrupts)
        };
        drop(registered);
    }

    fn is_cancelled(&self) -> bool {
        let slot: &Slot<T> = self;
        slot.lock().cancelled
    }

    fn id(&self) -> usize {
        self.id
    }

    fn sleep(&self, d: Duration) -> bool {
        let slot: &Slot<T> = self;
        let deadline = Instant::now().checked_add(d);
        let mut state = slot.lock();
        loop {
            if state.cancelled {
                return false;
            }
            let left = match deadline {
                Some(t) => t.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return true;
            }
            state = slot.block_timeout(state, left);
        }
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

    /// Runs `step` and resolves the handle with its result, unless the job was cancelled (or
    /// its handle resolved) first; returns whether `step` ran. A cancel cannot come between
    /// `step` and the handle's result: see `Slot::commit`.
    pub(crate) fn commit(self, step: impl FnOnce() -> Result<T, Error>) -> bool {
        self.slot.commit(step)
    }

    /// The job's progress counters, for a job that reads a body.
    pub(crate) fn progress(&self) -> &ProgressCounter {
        &self.slot.progress
    }
}
