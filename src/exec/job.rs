//! The running job: what code on a worker can ask about the job it runs for, and how a cancel
//! reaches work that is already running.
//!
//! A cancel cannot stop a thread; it can make the thread's blocking call return. Whatever a job
//! blocks on registers an [`Interrupt`] with the job while it runs (the HTTP engine registers
//! each connection it uses, see `crate::transport`), and a cancel calls them all. The job then
//! sees its call fail, ends, and its worker is free. A cancel also resolves the job's handle at
//! once, so the caller never waits for the worker to notice.
//!
//! The current job is found through a thread-local set while the job runs (on its worker, or
//! inline on a worker that waits for it), so code deep below (a ureq transport) needs no handle
//! passed down.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::slot::Task;

/// Something a job blocks on that another thread can make return: a socket, a timer.
pub(crate) trait Interrupt: Send + Sync {
    /// Makes a blocked call return, if this is still used by job `job` (an id from
    /// [`JobHandle::id`]); a resource now used by another job must be left alone.
    fn interrupt(&self, job: usize);
}

/// The error a cancelled job's interrupted I/O carries inside an `io::Error`, so that the error
/// that comes out of it is [`Error::Cancelled`](crate::Error::Cancelled) rather than a broken
/// connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the job was cancelled")
    }
}

impl std::error::Error for Cancelled {}

thread_local! {
    /// The job this thread runs now (the innermost one, when a worker runs another inline).
    static CURRENT: RefCell<Option<Arc<dyn Task>>> = const { RefCell::new(None) };
    /// Its id, read on every I/O call of the engine without touching the `Arc`; 0 for none.
    static CURRENT_ID: Cell<usize> = const { Cell::new(0) };
    /// On a worker: where the jobs it runs are listed while they run (see [`Running`]).
    static RUNNING: RefCell<Option<Arc<Running>>> = const { RefCell::new(None) };
    /// On a worker: where its executor lists the jobs held past their end (see [`Held`]).
    static HELD: RefCell<Option<Arc<Held>>> = const { RefCell::new(None) };
}

/// The jobs one worker runs now: the one it took from the queue, and any it runs inline while
/// that one waits for them (innermost last). [`stop_all`] stops them all, and every job listed
/// after it.
///
/// A worker takes a job off the queue before it lists it here, so `shutdown_now` can find a
/// job in neither place. The options were: list the job in the same step as it leaves the
/// queue (a lock around every dequeue, paid by every job), or let the worker check a flag once
/// the job is listed. The flag is set and the list read under the same lock as the job is
/// listed, so either the stop sees the job or the job sees the flag.
#[derive(Default)]
pub(crate) struct Running(Mutex<RunningJobs>);

#[derive(Default)]
struct RunningJobs {
    jobs: Vec<Arc<dyn Task>>,
    /// Set by [`stop_all`]: a job listed from now on is stopped as it starts.
    stopped: bool,
}

/// Makes this thread (a worker) list the jobs it runs in `running` from now on.
pub(crate) fn list_running_in(running: Arc<Running>) {
    RUNNING.with(|r| *r.borrow_mut() = Some(running));
}

fn lock_running(running: &Running) -> std::sync::MutexGuard<'_, RunningJobs> {
    running.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops every job listed in `running` (see [`stop`]), and every job listed there from now on,
/// as it starts: for `shutdown_now`.
pub(crate) fn stop_all(running: &Running) {
    let jobs = {
        let mut list = lock_running(running);
        list.stopped = true;
        list.jobs.clone()
    };
    for task in jobs {
        stop(&task);
    }
}

/// Cancels `task` (see [`Task::cancel`]), or interrupts it if it already resolved its handle
/// (an event stream being read).
fn stop(task: &Arc<dyn Task>) {
    if !task.cancel() {
        task.interrupt();
    }
}

/// The jobs of one executor whose closure has returned but whose result goes on using what
/// they registered (see [`JobHandle::hold`]): `shutdown_now` interrupts them too.
pub(crate) type Held = Mutex<Vec<Arc<dyn Task>>>;

/// Nothing panics while the list is locked; recover the guard rather than propagate.
pub(crate) fn lock_held(held: &Held) -> std::sync::MutexGuard<'_, Vec<Arc<dyn Task>>> {
    held.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes this thread (a worker) list the jobs it holds in `held` from now on.
pub(crate) fn list_held_in(held: Arc<Held>) {
    HELD.with(|h| *h.borrow_mut() = Some(held));
}

/// The places a worker lists the jobs it runs and holds (see [`lists`]).
pub(crate) type Lists = (Option<Arc<Running>>, Option<Arc<Held>>);

/// Where this thread lists the jobs it runs and holds: for a thread that takes over some of a
/// worker's work (see `pool::run_nested`), which lists them in the same places.
pub(crate) fn lists() -> Lists {
    let running = RUNNING.with(|r| r.borrow().clone());
    (running, HELD.with(|h| h.borrow().clone()))
}

/// Makes this thread list its jobs where [`lists`] said another does.
pub(crate) fn list_in((running, held): Lists) {
    RUNNING.with(|r| *r.borrow_mut() = running);
    HELD.with(|h| *h.borrow_mut() = held);
}

/// A running job, for the code it runs and for whatever must cancel it later (an event stream
/// that is dropped while its worker still reads).
#[derive(Clone)]
pub(crate) struct JobHandle(Arc<dyn Task>);

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JobHandle").field(&self.id()).finish()
    }
}

impl JobHandle {
    /// The handle of the job behind `task`.
    pub(crate) fn of(task: Arc<dyn Task>) -> JobHandle {
        JobHandle(task)
    }

    /// Cancels the job as [`Pending::cancel`](crate::Pending::cancel) does: a queued one never
    /// runs, a running one has its handle resolved to `Cancelled` and its I/O interrupted.
    pub(crate) fn cancel(&self) -> bool {
        self.0.cancel()
    }

    /// A number that tells this job from every other job alive.
    pub(crate) fn id(&self) -> usize {
        self.0.id()
    }

    /// Registers `what` to be interrupted when the job is cancelled, until the job ends.
    /// Returns `false` if the job is already cancelled: the caller must give up (and interrupt
    /// `what` itself if it already blocks on it).
    pub(crate) fn register(&self, what: Weak<dyn Interrupt>) -> bool {
        self.0.register(what)
    }

    /// Whether the job was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Whether a worker waiting for the job ran it inline, so that its lane did not admit it.
    pub(crate) fn ran_inline(&self) -> bool {
        self.0.ran_inline()
    }

    /// The counters of the request body the job sends, if it is a job.
    pub(crate) fn upload(&self) -> Option<&crate::progress::ProgressCounter> {
        self.0.upload()
    }

    /// Makes this job the current thread's job until the guard drops: for another thread that
    /// does part of the job's work, so that a cancel interrupts that work too.
    pub(crate) fn enter(&self) -> Entered {
        enter(Arc::clone(&self.0))
    }

    /// Interrupts what the job blocks on, without touching its handle's result: for a job that
    /// resolved its handle early and goes on (an event stream whose reader is gone). Does
    /// nothing once the job has ended.
    pub(crate) fn interrupt(&self) {
        self.0.interrupt();
    }

    /// Keeps what the job registers (the connections it uses) interruptible after its closure
    /// returns, until the guard drops: for a job whose result goes on using its connection (a
    /// [`BodyReader`](crate::BodyReader)), so that [`interrupt`](JobHandle::interrupt) still
    /// reaches it. On a worker, the job is listed with the worker's executor meanwhile, so
    /// that its `shutdown_now` interrupts it too.
    pub(crate) fn hold(&self) -> Hold {
        self.0.hold(true);
        let list = HELD.with(|h| h.borrow().clone());
        if let Some(list) = &list {
            lock_held(list).push(Arc::clone(&self.0));
        }
        Hold {
            job: self.clone(),
            list,
        }
    }
}

/// A job held past its end: see [`JobHandle::hold`].
pub(crate) struct Hold {
    job: JobHandle,
    list: Option<Arc<Held>>,
}

impl Hold {
    /// The held job.
    pub(crate) fn job(&self) -> &JobHandle {
        &self.job
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(list) = &self.list {
            let id = self.job.id();
            let ours = {
                let mut list = lock_held(list);
                let at = list.iter().position(|task| task.id() == id);
                at.map(|at| list.swap_remove(at))
            };
            drop(ours);
        }
        self.job.0.hold(false);
    }
}

/// A new job number. Numbers are never reused (an address could be, once a job is freed), so
/// a connection that remembers the number of the job it last served never mistakes a new job
/// for that one.
pub(crate) fn next_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The job the current thread runs, if any.
pub(crate) fn current_job() -> Option<JobHandle> {
    CURRENT.with(|c| c.borrow().clone().map(JobHandle))
}

/// The id of the job the current thread runs, 0 if none: cheap enough for every I/O call.
pub(crate) fn current_job_id() -> usize {
    CURRENT_ID.with(Cell::get)
}

/// Whether the current thread's job was cancelled (false off a job).
pub(crate) fn is_cancelled() -> bool {
    // Borrowed, not cloned: `Task::is_cancelled` only reads the job's state.
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|task| task.is_cancelled()))
}

/// Ends a wait of the current job for something outside it (another job's result, a message)
/// when the job is cancelled or its session is shut down with `shutdown_now`: registered with
/// the job for as long as the wait lasts.
///
/// A cancel reaches only what the job registered: a job blocked in another handle's `result`
/// slept on that handle's condition variable, which nothing of its own job touched, so the
/// worker stayed blocked until the other job ended (for ever on a silent server). Two ways to
/// end such a wait: wake up every few milliseconds to look at the job's state (as an event
/// stream's full channel does, see `sse::stream::send_while`), or register a watch whose
/// interrupt wakes the wait. Waiting for a result is what a fan-out inside a job does for every
/// handle, so the watch it is: no wake-ups while nothing happens, two allocations (the watch
/// and its wake-up) per wait that blocks inside a job, nothing at all off a job.
pub(crate) struct CancelWatch {
    fired: AtomicBool,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl CancelWatch {
    /// In a job, a watch registered with it that calls `wake` on a cancel (at once if the job
    /// is cancelled already); `None` off a job. `wake` must make the wait look at
    /// [`fired`](CancelWatch::fired) again.
    pub(crate) fn start(wake: impl Fn() + Send + Sync + 'static) -> Option<Arc<CancelWatch>> {
        if current_job_id() == 0 {
            return None;
        }
        let job = current_job()?;
        let watch = Arc::new(CancelWatch {
            fired: AtomicBool::new(false),
            wake: Box::new(wake),
        });
        let weak: Weak<dyn Interrupt> = Arc::downgrade(&watch) as Weak<dyn Interrupt>;
        if !job.register(weak) {
            watch.interrupt(job.id());
        }
        Some(watch)
    }

    /// Whether the job was cancelled (or shut down) since the watch started.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

impl Interrupt for CancelWatch {
    fn interrupt(&self, _job: usize) {
        self.fired.store(true, Ordering::Release);
        (self.wake)();
    }
}

/// A [`CancelWatch`] kept by something that is used inside jobs across many calls (an
/// `AsCompleted`, a `Batch`, a polled `Pending`), and may move from one job or thread to
/// another between them: it watches only the job it is used in now.
#[derive(Default)]
pub(crate) struct JobWatch(Option<(Arc<CancelWatch>, usize)>);

impl JobWatch {
    /// Watches the current job, starting a watch that calls the wake-up `make` builds when this
    /// is not the job watched so far, and returns whether that job was cancelled since. Off a
    /// job: forgets what it watched, `false`.
    pub(crate) fn watch<F>(&mut self, make: impl FnOnce() -> F) -> bool
    where
        F: Fn() + Send + Sync + 'static,
    {
        let job = current_job_id();
        if self.0.as_ref().is_none_or(|(_, watched)| *watched != job) {
            self.0 = if job == 0 {
                None
            } else {
                CancelWatch::start(make()).map(|w| (w, job))
            };
        }
        self.fired()
    }

    /// Forgets the watch of a job other than the current one (the user moved on).
    pub(crate) fn keep_current_only(&mut self) {
        if self
            .0
            .as_ref()
            .is_some_and(|(_, job)| *job != current_job_id())
        {
            self.0 = None;
        }
    }

    /// Whether the job watched was cancelled (or shut down) since the watch started.
    pub(crate) fn fired(&self) -> bool {
        self.0.as_ref().is_some_and(|(w, _)| w.fired())
    }

    /// Whether the job watched is the current one, and was cancelled (or shut down) since the
    /// watch started.
    pub(crate) fn fired_here(&self) -> bool {
        (self.0.as_ref()).is_some_and(|(w, job)| *job == current_job_id() && w.fired())
    }
}

/// Sleeps `d`, or less if the current job is cancelled meanwhile. Returns `false` if it was
/// (the caller should stop). Off a job, a plain sleep.
pub(crate) fn sleep(d: Duration) -> bool {
    match current_job() {
        Some(job) => job.0.sleep(d),
        None => {
            std::thread::sleep(d);
            true
        }
    }
}

/// Marks `task` as the current thread's job until the guard drops, then restores the previous
/// one (a worker that ran a job inline goes back to its own).
pub(crate) fn enter(task: Arc<dyn Task>) -> Entered {
    let id = task.id();
    let stopped = RUNNING.with(|r| {
        r.borrow().as_ref().is_some_and(|running| {
            let mut list = lock_running(running);
            list.jobs.push(Arc::clone(&task));
            list.stopped
        })
    });
    if stopped {
        // Its pool was stopped after the worker took it from the queue, before it was listed.
        stop(&task);
    }
    let previous = CURRENT.with(|c| c.replace(Some(task)));
    let previous_id = CURRENT_ID.with(|c| c.replace(id));
    Entered {
        previous,
        previous_id,
    }
}

pub(crate) struct Entered {
    previous: Option<Arc<dyn Task>>,
    previous_id: usize,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let ours = CURRENT.with(|c| c.replace(self.previous.take()));
        CURRENT_ID.with(|c| c.set(self.previous_id));
        // Its own entry, not the last one: a thread that runs a stream apart lists it where the
        // worker that started it lists its own job, and either may end first.
        let listed = RUNNING.with(|r| {
            let running = r.borrow();
            let mut list = lock_running(running.as_ref()?);
            let at = (list.jobs.iter())
                .rposition(|t| ours.as_ref().is_some_and(|o| Arc::ptr_eq(t, o)))?;
            Some(list.jobs.remove(at))
        });
        // Dropped outside the lock: the last reference to a job drops its closure's leftovers.
        drop(listed);
        drop(ours);
    }
}
