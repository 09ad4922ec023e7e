//! `Executor`: the queue and the worker threads that drain it.
//!
//! # The queue
//!
//! The jobs wait in a crossbeam channel that the `threadpool` workers drain in a loop, rather
//! than in the thread pool's own queue, so that `shutdown` can take every queued job back out
//! and resolve it at once.
//!
//! # Workers start on demand
//!
//! No thread is started until a job arrives, as in Python's `ThreadPoolExecutor`: a job that
//! finds no idle worker starts one, up to `max_workers`. A client that is built and never used
//! (each LLM client makes a session) costs no thread. A worker that finds the queue empty counts
//! itself idle before it blocks; a job takes one such count and is queued, or else starts a
//! worker and is handed to it, not queued. (When every job was queued, a worker counted idle
//! could take a job that had started a thread of its own, and that thread then counted itself
//! idle too: one count too many, which a later job took instead of starting a worker, to wait
//! behind busy ones, for ever if they held event streams.) Once the pool is full, jobs are
//! queued without counting. Every entry goes in through [`Queue::send`], which does that
//! accounting, and says in the entry whether it took a count ([`Entry::counted`]): a lane's
//! wake-up too, since a worker counted idle takes it like any job.
//!
//! A worker that takes an entry squares the count with it: one back from a job that takes an
//! entry that took a count (the queue is first come, first served) leaves the idle worker it
//! was meant for idle, and gives the count back; one counted idle that takes an entry that
//! took none is no longer idle, and takes its own count off. So the count is the idle workers
//! less the counted entries waiting; it can be less for a moment (a worker between its job's
//! end and its count: a job arriving then starts a thread), and one more only after a thread
//! was refused (see below). Without the squaring it fell behind for good at each such race,
//! and a later job started a thread it did not need, up to the maximum: 8 callers each
//! waiting for one job at a time grew a pool without one to over 2,000 threads in 16,000 jobs
//! (`lifetime::a_steady_load_of_a_few_jobs_at_once_keeps_a_few_workers`). The count is signed:
//! squared after the count it took was taken by another job, it is below zero until a worker
//! back from a job takes that job's entry.
//! `threadpool` starts every thread it is asked for at once, so it is grown one thread at a
//! time (`ThreadPool::set_num_threads`), each running one worker loop.
//!
//! # A thread the system refuses
//!
//! `threadpool` unwraps the result of `std::thread::Builder::spawn`: a thread the system refuses
//! (out of threads or memory) is a panic inside `set_num_threads`. The options were to let that
//! panic reach the caller of `submit` (and leave the pool counting a worker that does not
//! exist, so that a pool of one then queued every later job for ever), to start the threads
//! ourselves with `std::thread::Builder` (and drop `threadpool`, a dependency the design keeps),
//! or to catch the panic where the pool grows. The last is what is done: the growth is undone
//! (`set_num_threads` back to the old count, which starts nothing), the counts are rolled back
//! and the job's handle resolves to [`Error::Io`] naming the pool, with the panic's message
//! (the system's error). The default panic hook still prints that message on standard error:
//! the one trace left of it. The job's entry is still queued, resolved, for a worker to pass
//! over: a lane must see each of its jobs arrive. Queued then without a count when no worker is
//! idle, it puts the count one ahead for a moment when a worker counted idle takes it, until
//! that worker takes its own count off; only after a refusal, when a new thread would likely
//! be refused too.
//!
//! # Spent entries
//!
//! A job claimed while it waits in the queue (run inline by a job that waits for it, or
//! cancelled) leaves its entry there, holding its slot, for a worker to pass over. While every
//! worker is busy for long (a job that waits for job after job in its own full pool, workers
//! held by event streams while queued requests are cancelled), no worker comes back to the
//! queue, and such entries piled up without end (20,000 inline waits, 20,000 entries: the
//! tests below). A channel cannot take an entry out of its middle, so a submission that finds the
//! queue at twice its size after the last sweep (1,024 entries at least) sweeps it: it takes
//! every entry out and puts back, in their order, those that are not spent (see
//! [`Task::swept`]). The entry of a job of a lane is spent too, once its lane has heard of its
//! arrival, as from a worker that took it (its lane waits for each number, and keeps only the
//! number of one that comes before an earlier job); a job that the arrival lets start is
//! handed to a worker by a wake-up of the lane, not run by the sweep.
//! Amortised O(1) per submission; a queue of live jobs only doubles the next sweep's
//! threshold. Submissions hold the executor's lock, so none slips in between; a lane's
//! wake-up or admitted job may, and its lane orders its jobs by their own numbers (see
//! `exec::lanes`). The options were a queue of the crate's own (a lock and a condition
//! variable) from which a claim takes its entry, which puts a lock on every hand-over between
//! submitters and workers, or a count of spent entries, which cannot tell an entry in the queue
//! from one parked in its lane.
//!
//! # Shutdown, and handles that outlive their session
//!
//! The options for [`Executor::shutdown`] were: block until running jobs finish (Python's
//! `executor.shutdown(wait=True)`), or return at once. A session is dropped in ordinary code
//! paths, often while an event stream it started is still being read; blocking there would hang
//! the program on a long stream. So `shutdown` returns at once: queued jobs resolve to
//! [`Error::ShutDown`] without running, running jobs finish on their workers, and each worker
//! thread exits when it has nothing left to do. [`Executor::join`] waits for that.
//!
//! Dropping the executor (the last clone of its session) is not a shutdown: a function that makes
//! a session, queues requests and returns their handles must get every result, as with Python's
//! executors. So a drop refuses nothing that is queued for a live handle: the workers drain the
//! queue and then exit. Only the queued jobs whose handles are gone (nobody can see their
//! results) are dropped without running, whenever a worker reaches them. With lanes, the jobs
//! parked in them are kept the same way, and the workers exit once the lanes are empty too (see
//! `exec::lanes`).

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use threadpool::ThreadPool;

use super::job;
use super::lanes::{Gate, Lanes};
use super::slot::{Completer, Slot, Task};
use super::Pending;
use crate::Error;

static NEXT_POOL_ID: AtomicUsize = AtomicUsize::new(1);

type QueueItem = Arc<dyn Task>;

/// An entry of the executor's queue.
struct Entry {
    task: QueueItem,
    /// It took an idle worker's count when it was queued (see "Workers start on demand").
    counted: bool,
}

thread_local! {
    /// Set on the executor's worker threads: the id of the pool they belong to.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
    /// How many jobs this thread runs inline, one inside another, now (see [`run_nested`]).
    static INLINE_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// On a worker: its pool's workers, for how busy they are (see [`pool_is_full`]).
    static WORKERS: RefCell<Option<Arc<Workers>>> = const { RefCell::new(None) };
    /// Set on a thread that runs a worker's loop; not on a thread that acts as a worker (a
    /// stream started apart), which no `busy` count covers (see [`waiting_for_reader`]).
    static WORKER_LOOP: Cell<bool> = const { Cell::new(false) };
}

/// How many jobs a thread runs inline one inside another (a job that waits for a queued job
/// runs it, which waits for the next...) before the next one goes to a thread of its own.
///
/// Each level keeps its frames on the worker's stack while it waits: a chain of a thousand
/// jobs, each waiting for the next (a recursive crawl, pagination done by recursion)
/// overflowed the 2 MiB stack of a worker in a debug build, and a stack overflow aborts the
/// process. The options were: a larger stack (only moves the limit, and costs every worker),
/// not running deep jobs inline (a full pool would then deadlock on itself, which inline runs
/// exist to prevent), an error past some depth (the script fails where it could go on), or a
/// fresh stack past some depth. The last keeps every promise: past this depth the job runs on
/// a new thread that acts as the same worker (same pool, same lists, so a cancel or
/// `shutdown_now` reaches it) while the waiter blocks until it ends. 64 levels of waiting
/// frames take a few hundred KiB at most, leaving room for the innermost job's own work (a
/// TLS handshake); a chain pays one thread per 64 levels.
const MAX_INLINE_DEPTH: u32 = 64;

/// Runs `job` (a queued job this worker claimed to run inline) here, or, when this thread
/// already runs [`MAX_INLINE_DEPTH`] jobs inside one another, on a new thread that acts as
/// this worker, waiting for it to end. If the system refuses the thread, it runs here.
pub(crate) fn run_nested(job: impl FnOnce() + Send) {
    let depth = INLINE_DEPTH.with(Cell::get);
    if depth < MAX_INLINE_DEPTH {
        /// Puts the depth back when the job ends, unwinding or not.
        struct Back(u32);
        impl Drop for Back {
            fn drop(&mut self) {
                INLINE_DEPTH.with(|d| d.set(self.0));
            }
        }
        INLINE_DEPTH.with(|d| d.set(depth + 1));
        let _back = Back(depth);
        job();
        return;
    }
    let job = Mutex::new(Some(job));
    let take = || lock(&job).take();
    let worker = worker_identity();
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("ureq-futures".into())
            .spawn_scoped(scope, || {
                act_as(worker);
                if let Some(job) = take() {
                    job();
                }
            });
        if spawned.is_err() {
            if let Some(job) = take() {
                job();
            }
        }
    });
}

/// What makes this thread a worker: its pool, the lists of its jobs and its pool's workers.
pub(crate) struct WorkerIdentity(usize, job::Lists, Option<Arc<Workers>>);

/// This thread's [`WorkerIdentity`], for a thread that takes over some of its work.
pub(crate) fn worker_identity() -> WorkerIdentity {
    let workers = WORKERS.with(|w| w.borrow().clone());
    WorkerIdentity(WORKER_OF.with(Cell::get), job::lists(), workers)
}

/// Makes this thread act as the worker `worker`: same pool, its jobs listed in the same places.
pub(crate) fn act_as(worker: WorkerIdentity) {
    WORKER_OF.with(|w| w.set(worker.0));
    job::list_in(worker.1);
    WORKERS.with(|w| *w.borrow_mut() = worker.2);
}

/// What `f` says of this thread's pool; `false` off a worker.
fn this_pool(f: impl FnOnce(&Workers) -> bool) -> bool {
    WORKERS.with(|w| w.borrow().as_deref().is_some_and(f))
}

/// Whether this thread's pool refuses new threads, as the system may (set by a test).
#[cfg(test)]
pub(crate) fn refuses_threads() -> bool {
    this_pool(|w| w.hooks.refuse_threads.load(Ordering::Acquire))
}

/// Whether this thread's pool was shut down: a job claimed from its queue now is refused, as
/// its workers refuse one they take. `false` off a worker.
pub(crate) fn pool_is_shut_down() -> bool {
    this_pool(|w| w.shut_down.load(Ordering::Acquire))
}

/// Whether every worker of this thread's pool runs a job now (this one included): a job queued
/// now waits until one of them ends. `false` off a worker.
pub(crate) fn pool_is_full() -> bool {
    this_pool(|w| w.busy.load(Ordering::Relaxed) >= w.max_workers)
}

/// Counts this thread, a worker, among those of its pool that wait for a stream's reader to
/// make room in its channel, until the guard drops, which counts a wait ended (see
/// [`Executor::stuck_on_readers`]). Nothing off a worker's loop: a thread that acts as a
/// worker holds no place of the pool.
pub(crate) fn waiting_for_reader() -> Option<WaitingForReader> {
    if !WORKER_LOOP.with(Cell::get) {
        return None;
    }
    let workers = WORKERS.with(|w| w.borrow().clone())?;
    workers.waiting_for_readers.fetch_add(1, Ordering::Relaxed);
    Some(WaitingForReader(workers))
}

/// See [`waiting_for_reader`].
pub(crate) struct WaitingForReader(Arc<Workers>);

impl Drop for WaitingForReader {
    fn drop(&mut self) {
        self.0
            .waits_for_readers_ended
            .fetch_add(1, Ordering::Relaxed);
        self.0.waiting_for_readers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the current thread is a worker of pool `pool`.
pub(crate) fn is_worker_of(pool: usize) -> bool {
    WORKER_OF.with(|w| w.get() == pool)
}

/// Whether the current thread is a worker of any pool.
pub(crate) fn on_a_worker() -> bool {
    WORKER_OF.with(|w| w.get() != 0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; recover the guard rather than propagate.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A pool of worker threads running queued jobs, each resolving a [`Pending`]. It knows nothing
/// of what the jobs do: a job is a closure that carries what it needs.
pub(crate) struct Executor {
    /// `None` once shut down or dropped.
    queue: Mutex<Option<Queue>>,
    workers: Arc<Workers>,
    /// The admission step of jobs queued with a lane key; `None` when nothing limits them, and
    /// then no job pays for it.
    lanes: Option<Arc<Lanes>>,
    /// Never sends; dropped at shutdown, which every receiver of `halted` then sees: a
    /// broadcast to whoever waits off the pool for a reason the shutdown ends (an event
    /// source's wait for a reconnection).
    halt: Mutex<Option<Sender<()>>>,
    halted: Receiver<()>,
}

/// The sending end of the executor's queue. Every entry goes in through [`Queue::send`], which
/// keeps the count of idle workers (see the module's doc).
#[derive(Clone)]
pub(crate) struct Queue {
    tx: Sender<Entry>,
    workers: Arc<Workers>,
}

/// The fewest entries of the queue at which a submission sweeps it (see "Spent entries").
const MIN_SWEEP: usize = 1024;

impl Queue {
    /// Takes the spent entries out of the queue once it has doubled since the last sweep (see
    /// "Spent entries"); called by submissions, with the executor's lock held.
    fn sweep_spent(&self) {
        let workers = &self.workers;
        if workers.jobs.len() < workers.sweep_at.load(Ordering::Relaxed) {
            return;
        }
        // A spent entry taken out that took a count leaves the worker it was meant for idle.
        let mut freed = 0;
        let live: Vec<Entry> = (workers.jobs.try_iter())
            .filter_map(|Entry { task, counted }| match task.swept() {
                Some(task) => Some(Entry { task, counted }),
                None => {
                    freed += isize::from(counted);
                    None
                }
            })
            .collect();
        workers.idle.fetch_add(freed, Ordering::AcqRel);
        let next = live.len().saturating_mul(2).max(MIN_SWEEP);
        workers.sweep_at.store(next, Ordering::Relaxed);
        for entry in live {
            // Connected: this queue holds a sender. Put back as each entry was first queued,
            // with the count of idle workers it took, or not.
            let _ = self.tx.send(entry);
        }
    }

    /// Queues `task` for an idle worker, whose count it takes, or starts a worker with it. Hands
    /// the task back when the queue is closed.
    pub(crate) fn send(&self, task: QueueItem) -> Result<(), QueueItem> {
        let entry = if self.workers.started.load(Ordering::Acquire) < self.workers.max_workers {
            match self.workers.idle_worker_or_start_with(task) {
                Some(entry) => entry,
                None => return Ok(()),
            }
        } else {
            Entry {
                task,
                counted: false,
            }
        };
        self.tx.send(entry).map_err(|e| e.0.task)
    }
}

/// What the executor shares with its workers.
struct Workers {
    /// The queue's receiving end, which each worker drains (and a shutdown empties).
    jobs: Receiver<Entry>,
    /// The executor's id (see [`is_worker_of`]), its maximum of workers and their threads' name.
    pool: usize,
    max_workers: usize,
    /// How many workers run a job now (see [`pool_is_full`]).
    busy: AtomicUsize,
    /// How many of its workers wait for room in a full stream channel, and how many such
    /// waits have ended (see [`waiting_for_reader`]).
    waiting_for_readers: AtomicUsize,
    waits_for_readers_ended: AtomicUsize,
    /// The queue's length at which the next submission sweeps it (see "Spent entries").
    sweep_at: AtomicUsize,
    name: String,
    /// Workers started so far (never more than `max_workers`); read without a lock on every
    /// submission until it reaches the maximum.
    started: AtomicUsize,
    /// The idle workers less the entries waiting that took a count: while the pool can grow,
    /// a submission takes one, or starts a worker (see the module's doc).
    idle: AtomicIsize,
    /// Set when the executor is dropped: a queued job whose handle is gone is dropped unrun.
    closed: AtomicBool,
    /// Set when the executor is shut down (not when it is dropped): a job a worker takes from
    /// the queue from then on, or was started with and has not begun, is refused.
    shut_down: AtomicBool,
    /// The thread pool, made with the first worker; locked while a worker starts.
    threads: Mutex<Threads>,
    /// Worker loops still running, to let `join` wait for them.
    alive: Mutex<usize>,
    none_alive: Condvar,
    /// The jobs each worker runs now, a list per worker started, for `shutdown_now`. Grown as
    /// workers start, so that a large `max_workers` costs nothing up front.
    running: Mutex<Vec<Arc<job::Running>>>,
    /// The jobs held past their end (body readers still reading), for `shutdown_now`.
    held: Arc<job::Held>,
    #[cfg(test)]
    hooks: tests::Hooks,
}

struct Threads {
    pool: Option<ThreadPool>,
    /// No worker starts any more (shut down or dropped).
    stopped: bool,
}

impl Executor {
    /// An executor of up to `max_workers` (at least 1) threads named `name`, none started yet.
    pub(crate) fn new(name: &str, max_workers: usize) -> Executor {
        let (tx, rx) = crossbeam_channel::unbounded::<Entry>();
        let workers = Arc::new(Workers {
            jobs: rx,
            pool: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            max_workers: max_workers.max(1),
            busy: AtomicUsize::new(0),
            waiting_for_readers: AtomicUsize::new(0),
            waits_for_readers_ended: AtomicUsize::new(0),
            sweep_at: AtomicUsize::new(MIN_SWEEP),
            name: name.to_string(),
            started: AtomicUsize::new(0),
            idle: AtomicIsize::new(0),
            closed: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            threads: Mutex::new(Threads {
                pool: None,
                stopped: false,
            }),
            alive: Mutex::new(0),
            none_alive: Condvar::new(),
            running: Mutex::new(Vec::new()),
            held: Arc::default(),
            #[cfg(test)]
            hooks: tests::Hooks::default(),
        });
        let (halt, halted) = crossbeam_channel::bounded(0);
        Executor {
            queue: Mutex::new(Some(Queue {
                tx,
                workers: Arc::clone(&workers),
            })),
            workers,
            lanes: None,
            halt: Mutex::new(Some(halt)),
            halted,
        }
    }

    /// Puts jobs queued with a lane key (see [`submit_in_lane`](Executor::submit_in_lane))
    /// through an admission step: at most `max_running` of one lane run at once, and each start
    /// asks `gate`. See [`Lanes`].
    pub(crate) fn with_lanes(mut self, max_running: usize, gate: Option<Arc<dyn Gate>>) -> Self {
        if let Some(queue) = &*lock(&self.queue) {
            self.lanes = Some(Lanes::new(max_running, gate, queue.clone()));
        }
        self
    }

    /// The lanes, for tests that reach into them.
    #[cfg(test)]
    pub(crate) fn lanes_for_test(&self) -> Option<&Arc<Lanes>> {
        self.lanes.as_ref()
    }

    /// Makes starting a thread fail from now on (`refuse`), as when the system refuses one: a
    /// worker, or a thread for a stream waited for on a busy worker (see `Slot::start_apart`).
    #[cfg(test)]
    pub(crate) fn refuse_threads_for_test(&self, refuse: bool) {
        let hooks = &self.workers.hooks;
        hooks.refuse_threads.store(refuse, Ordering::Release);
    }

    /// Whether jobs queued with a lane key go through an admission step.
    pub(crate) fn has_lanes(&self) -> bool {
        self.lanes.is_some()
    }

    /// Queues a job that resolves its handle through the completer (possibly before it returns).
    /// `inline`: whether a worker waiting on the handle may run the job itself (not for jobs that
    /// resolve early and go on, such as event streams). After shutdown the handle resolves to
    /// [`Error::ShutDown`] and the job is dropped.
    ///
    /// `lane`: the job's lane key, if any. With [lanes](Executor::with_lanes), a worker that
    /// takes the job starts it only when its lane admits it (see [`Lanes`]).
    pub(crate) fn submit_in_lane<T, F>(
        &self,
        job: F,
        inline: bool,
        lane: Option<Arc<str>>,
    ) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(Completer<T>) + Send + 'static,
    {
        // A stream's job goes apart (see `Slot::start_apart`) only outside the lanes: one that
        // a lane holds back waits for its lane's room, as every request to its origin does.
        let laned = self.lanes.is_some() && lane.is_some();
        let pool = if inline || !laned {
            self.workers.pool
        } else {
            0
        };
        let (slot, mut task) = Slot::queued(pool, !inline, job);
        if let (Some(lanes), Some(key)) = (&self.lanes, lane) {
            task = lanes.entry(key, task);
        }
        // The handle holds the queue's entry: a lane's hears of the job's cancel and of the
        // handle's drop (see `Lanes::forget_gone`).
        let handle = Arc::clone(&task);
        let refused = match &*lock(&self.queue) {
            Some(queue) => {
                let refused = queue.send(task).is_err();
                queue.sweep_spent();
                refused
            }
            None => true,
        };
        if refused {
            slot.cancel_with(Error::ShutDown);
        }
        Pending::new(slot, handle)
    }
}

impl Workers {
    /// Takes an idle worker's count for `task` and hands it back to be queued, or else starts a
    /// worker with it if there are fewer than the maximum (`None`), or hands it back.
    fn idle_worker_or_start_with(self: &Arc<Self>, task: QueueItem) -> Option<Entry> {
        if self.take_idle() {
            return Some(Entry {
                task,
                counted: true,
            });
        }
        let mut threads = lock(&self.threads);
        let started = self.started.load(Ordering::Acquire);
        if threads.stopped || started >= self.max_workers {
            return Some(Entry {
                task,
                counted: false,
            });
        }
        match self.start_worker(&mut threads, started, task) {
            Ok(()) => {
                self.started.store(started + 1, Ordering::Release);
                None
            }
            Err((task, e)) => {
                // Resolved here, and still queued: a worker passes over it, and its lane (if
                // it has one) counts it as arrived, so the lane's later jobs are not held up.
                // It takes an idle worker's count if one came free meanwhile (see the module's
                // doc).
                let counted = self.take_idle();
                task.abort(Error::Io(io::Error::new(
                    e.kind(),
                    format!("could not start a worker thread of {}: {e}", self.name),
                )));
                Some(Entry { task, counted })
            }
        }
    }

    /// Takes an idle worker's count, if there is one.
    fn take_idle(&self) -> bool {
        (self.idle)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n > 0).then(|| n - 1)
            })
            .is_ok()
    }

    /// Starts worker number `index + 1` with `task`, or hands `task` back with the system's
    /// error when it refuses the thread (see the module's doc).
    fn start_worker(
        self: &Arc<Self>,
        threads: &mut Threads,
        index: usize,
        task: QueueItem,
    ) -> Result<(), (QueueItem, io::Error)> {
        // `threadpool` unwraps `spawn`: a refused thread is a panic, caught here. The pool's
        // state stays whole: `set_num_threads` raised its count before the panic, and is set
        // back below; a first pool that panicked while it was made is simply not kept.
        let grown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            #[cfg(test)]
            if self.hooks.refuse_threads.load(Ordering::Acquire) {
                std::panic::panic_any("no thread for the test".to_string());
            }
            match &mut threads.pool {
                Some(pool) => pool.set_num_threads(index + 1),
                None => threads.pool = Some(ThreadPool::with_name(self.name.clone(), 1)),
            }
        }));
        if let Err(cause) = grown {
            if let Some(pool) = threads.pool.as_mut().filter(|_| index > 0) {
                pool.set_num_threads(index);
            }
            return Err((task, io::Error::other(panic_message(cause))));
        }
        let Some(pool) = threads.pool.as_mut() else {
            // Never: the pool was just made or grown.
            return Err((task, io::Error::other("no thread pool")));
        };
        // Listed before the thread takes the task, so that a `shutdown_now` from now on stops
        // what it runs.
        let running = Arc::<job::Running>::default();
        lock(&self.running).push(Arc::clone(&running));
        *lock(&self.alive) += 1;
        let alive = AliveGuard(Arc::clone(self));
        let workers = Arc::clone(self);
        pool.execute(move || {
            let _alive = alive;
            worker_loop(workers, running, task);
        });
        Ok(())
    }
}

/// The message of a caught panic: its payload when that is a string.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "a panic".to_string(), |text| (*text).to_string()),
    }
}

impl Executor {
    pub(crate) fn max_workers(&self) -> usize {
        self.workers.max_workers
    }

    /// When every worker runs a job and waits for a stream's reader to make room in its
    /// channel, so that no worker comes free until someone reads: how many such waits have
    /// ended so far (the same number a second later says that nobody read meanwhile). A job
    /// queued then waits for a reader; if the thread that waits for it is the one that holds
    /// those streams, for ever. `None` when a worker is free or not waiting for a reader.
    #[cfg(feature = "llm")]
    pub(crate) fn stuck_on_readers(&self) -> Option<usize> {
        // Only a worker's loop counts itself waiting, inside a job, while it counts as busy:
        // max_workers waiting means max_workers busy, so the busy count need not be read.
        let w = &self.workers;
        let stuck = w.waiting_for_readers.load(Ordering::Relaxed) >= w.max_workers;
        stuck.then(|| w.waits_for_readers_ended.load(Ordering::Relaxed))
    }

    /// Worker threads running now: none before the first job, at most `max_workers`.
    pub(crate) fn workers(&self) -> usize {
        *lock(&self.workers.alive)
    }

    /// Entries of the queue: jobs waiting for a worker, counting those claimed out of it
    /// (cancelled, run inline) that no worker has passed over yet or no sweep taken out (see
    /// "Spent entries"), and the lanes' wake-ups.
    pub(crate) fn queued(&self) -> usize {
        self.workers.jobs.len()
    }

    /// Jobs not started yet: those in the queue ([`queued`](Executor::queued), less the lanes'
    /// wake-ups) and those waiting in their lanes (see [`Lanes::parked`]). A snapshot, which
    /// misses a job on its way from the queue to its lane.
    pub(crate) fn waiting(&self) -> usize {
        match &self.lanes {
            None => self.queued(),
            Some(lanes) => self.queued().saturating_sub(lanes.queued_wakes()) + lanes.parked(),
        }
    }

    /// Whether [`shutdown`](Executor::shutdown) began (or the executor stopped): true before
    /// it resolves the first job, so that a waker it wakes finds it shut down.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.workers.shut_down.load(Ordering::Acquire) || lock(&self.queue).is_none()
    }

    /// A channel that never delivers and is disconnected once the executor is shut down (or
    /// dropped): `select!` over it to stop waiting then.
    pub(crate) fn halted(&self) -> Receiver<()> {
        self.halted.clone()
    }

    /// Refuses new jobs and lets each worker exit once the queue is empty.
    fn stop(&self) {
        // Dropping the sender lets idle workers see the disconnection and leave their loops;
        // dropping the pool lets its threads exit after that.
        drop(lock(&self.queue).take());
        drop(lock(&self.halt).take());
        let pool = {
            let mut threads = lock(&self.workers.threads);
            threads.stopped = true;
            threads.pool.take()
        };
        drop(pool);
    }

    /// Resolves queued jobs to [`Error::ShutDown`], refuses new ones, and lets each worker exit
    /// once idle. Returns at once; calling it again does nothing.
    pub(crate) fn shutdown(&self) {
        // Before any job is resolved: a job's waker may ask (a `Batch` reads no more inputs).
        self.workers.shut_down.store(true, Ordering::Release);
        if let Some(lanes) = &self.lanes {
            // Before the queue goes: the lanes hold a sender of it, which would keep workers
            // waiting.
            lanes.shutdown();
        }
        self.stop();
        #[cfg(test)]
        self.workers.hooks.before_drain.pass();
        for entry in self.workers.jobs.try_iter() {
            entry.task.abort(Error::ShutDown);
        }
    }

    /// [`shutdown`](Executor::shutdown), then cancels every running job (see
    /// [`Task::cancel`]); a job that already resolved its handle (an event stream) is
    /// interrupted, and so is every job held past its end (a body reader's). Returns at once.
    pub(crate) fn shutdown_now(&self) {
        self.shutdown();
        // Also stops a job a worker has taken from the queue and not yet listed, when it is
        // listed (see `job::Running`).
        let lists = lock(&self.workers.running).clone();
        for running in &lists {
            job::stop_all(running);
        }
        let held = job::lock_held(&self.workers.held).clone();
        for task in held {
            task.interrupt();
        }
    }

    /// Shuts down and waits until every worker has left its loop. Returns at once when called on
    /// one of this executor's own workers, which would otherwise wait for itself.
    pub(crate) fn join(&self) {
        self.shutdown();
        if is_worker_of(self.workers.pool) {
            return;
        }
        let mut n = lock(&self.workers.alive);
        while *n > 0 {
            n = self
                .workers
                .none_alive
                .wait(n)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Executor {
    /// Refuses new jobs (there is no way left to submit one) and lets the workers run what is
    /// queued (or parked in a lane) for live handles, then exit. See the module's doc.
    fn drop(&mut self) {
        self.workers.closed.store(true, Ordering::Release);
        if let Some(lanes) = &self.lanes {
            // They keep their sender of the queue until no lane is left.
            lanes.release_when_idle();
        }
        self.stop();
    }
}

/// Counts a worker loop out of [`Workers::alive`] when it ends, however it ends.
struct AliveGuard(Arc<Workers>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        let mut n = lock(&self.0.alive);
        *n -= 1;
        if *n == 0 {
            self.0.none_alive.notify_all();
        }
    }
}

/// Runs `first`, then the queue's jobs, until the executor is shut down or dropped and the
/// queue is empty.
fn worker_loop(workers: Arc<Workers>, running: Arc<job::Running>, first: QueueItem) {
    let jobs = &workers.jobs;
    WORKER_OF.with(|w| w.set(workers.pool));
    WORKER_LOOP.with(|w| w.set(true));
    // The jobs this worker runs are listed there while they run (see `exec::job::enter`).
    job::list_running_in(running);
    job::list_held_in(Arc::clone(&workers.held));
    WORKERS.with(|w| *w.borrow_mut() = Some(Arc::clone(&workers)));
    #[cfg(test)]
    workers.hooks.at_start.pass();
    let mut first = Some(first);
    loop {
        let (task, was_idle, counted) = match first.take() {
            Some(task) => (task, false, false),
            None => match jobs.try_recv() {
                Ok(entry) => (entry.task, false, entry.counted),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    #[cfg(test)]
                    workers.hooks.before_idle.pass();
                    workers.idle.fetch_add(1, Ordering::AcqRel);
                    #[cfg(test)]
                    workers.hooks.after_idle.pass();
                    match jobs.recv() {
                        Ok(entry) => (entry.task, true, entry.counted),
                        Err(_) => break,
                    }
                }
            },
        };
        // The count of idle workers squared with the entry (see "Workers start on demand").
        match (was_idle, counted) {
            (false, true) => workers.idle.fetch_add(1, Ordering::AcqRel),
            (true, false) => workers.idle.fetch_sub(1, Ordering::AcqRel),
            _ => 0,
        };
        // Once shut down, a job taken from the queue is refused as the shutdown refuses those
        // still in it: one taken while the shutdown goes through the queue, and the job this
        // worker was started with (never queued, so the shutdown did not see it).
        if workers.shut_down.load(Ordering::Acquire)
            || (workers.closed.load(Ordering::Acquire) && task.is_abandoned())
        {
            task.abort(Error::ShutDown);
            continue;
        }
        // Jobs catch their own panics (and a user's waker that panics when woken); this
        // guards the loop against the rest, so that the pool never silently loses a worker.
        workers.busy.fetch_add(1, Ordering::Relaxed);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
        workers.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::exec::lanes::Gate;

    use crossbeam_channel::bounded;

    use super::*;

    /// Points where a worker can be held, to make a race happen in one order.
    #[derive(Default)]
    pub(super) struct Hooks {
        /// Where a worker that found the queue empty is about to count itself idle.
        pub(super) before_idle: Hook,
        /// Where a worker has counted itself idle and is about to wait on the queue.
        pub(super) after_idle: Hook,
        /// Where a new worker is about to look at the queue for the first time.
        pub(super) at_start: Hook,
        /// Where a shutdown has closed the queue and is about to resolve the jobs in it.
        pub(super) before_drain: Hook,
        /// Set: starting a worker thread (or a stream's thread, see `refuses_threads`) fails
        /// as when the system refuses one.
        pub(super) refuse_threads: AtomicBool,
    }

    /// Once armed, the first worker to pass waits until the test lets it go.
    #[derive(Default)]
    pub(super) struct Hook(Mutex<Option<Receiver<()>>>);

    impl Hook {
        fn arm(&self) -> Sender<()> {
            let (go, wait) = bounded(0);
            *lock(&self.0) = Some(wait);
            go
        }

        pub(super) fn pass(&self) {
            let wait = lock(&self.0).take();
            if let Some(wait) = wait {
                let _ = wait.recv_timeout(Duration::from_secs(30));
            }
        }
    }

    /// Polls `done` every 5 ms, `tries` times at most.
    fn wait_for(tries: u32, done: impl Fn() -> bool) {
        for _ in 0..tries {
            if done() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn run<T: Send + 'static>(
        exec: &Executor,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Pending<T> {
        exec.submit_in_lane(
            move |done: Completer<T>| done.complete(Ok(job())),
            false,
            None,
        )
    }

    /// A job that waits for job after job in its own full pool runs each inline, and each
    /// left its entry in the queue, which no worker came back to take: 20,000 waits held
    /// 20,000 entries, each with its slot. Submissions sweep them out.
    #[test]
    fn entries_of_jobs_run_inline_in_a_full_pool_do_not_pile_up() {
        let exec = Arc::new(Executor::new("pool-test", 1));
        let e = Arc::clone(&exec);
        let most = run(&exec, move || {
            let mut most = 0;
            for i in 0..20_000u32 {
                let job =
                    e.submit_in_lane(move |done: Completer<u32>| done.complete(Ok(i)), true, None);
                assert_eq!(job.result().ok(), Some(i));
                most = most.max(e.queued());
            }
            most
        });
        let most = most.result().unwrap();
        assert!(most <= 2 * MIN_SWEEP, "{most} entries in the queue");
    }

    /// Jobs cancelled while every worker is held stay in the queue until a worker passes over
    /// them; sweeps take them out, and the live jobs among them keep their order.
    #[test]
    fn cancelled_entries_are_swept_and_the_live_jobs_keep_their_order() {
        let exec = Executor::new("pool-test", 1);
        let (go, wait) = bounded::<()>(0);
        let held = run(&exec, move || wait.recv().is_ok());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut live = Vec::new();
        let mut most = 0;
        for i in 0..20_000u32 {
            let seen = Arc::clone(&order);
            let job = run(&exec, move || lock(&seen).push(i));
            if i % 1000 == 0 {
                live.push(job);
            } else {
                assert!(job.cancel());
            }
            most = most.max(exec.queued());
        }
        assert!(most <= 2 * MIN_SWEEP, "{most} entries in the queue");
        go.send(()).unwrap();
        assert_eq!(held.result().ok(), Some(true));
        for job in live {
            job.result().unwrap();
        }
        let want: Vec<u32> = (0..20).map(|i| i * 1000).collect();
        assert_eq!(*lock(&order), want);
    }

    /// A worker that waits for a stream's job (one that runs apart, see `Slot::start_apart`)
    /// still queued looks again while it waits. At its first look another worker was between
    /// jobs, so the pool was not full; that worker then took an older job, which waits for the
    /// waiter. Without a second look neither would ever end.
    #[test]
    fn a_wait_for_a_stream_looks_again_when_the_pool_fills_later() {
        let exec = Arc::new(Executor::new("pool-test", 2));
        let hooks = &exec.workers.hooks;
        // The first worker runs A until told.
        let (a_go, a_wait) = bounded::<()>(0);
        let a = run(&exec, move || a_wait.recv().is_ok());
        // J starts the second worker, and waits to be told.
        let (j_go, j_wait) = bounded::<()>(0);
        let (j_end_tx, j_end) = bounded::<()>(1);
        let e = Arc::clone(&exec);
        let j = exec.submit_in_lane(
            move |done: Completer<u32>| {
                j_wait.recv().ok();
                // Queued behind Z; its job may run apart (`run` queues with `inline` false).
                let s = run(&e, || 7u32);
                done.complete(s.result());
                j_end_tx.send(()).ok();
            },
            true,
            None,
        );
        // The first worker ends A and is held where it would count itself idle.
        let let_idle = hooks.before_idle.arm();
        a_go.send(()).unwrap();
        assert_eq!(a.result().ok(), Some(true));
        // Past A's end, the worker no longer counts as busy.
        std::thread::sleep(Duration::from_millis(50));
        // Z, queued first, waits until J has ended.
        let z = run(&exec, move || {
            j_end.recv_timeout(Duration::from_secs(20)).is_ok()
        });
        // J queues S behind Z and waits for it: one worker of two busy, so S stays queued.
        j_go.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // The held worker takes Z: now the pool is full, and only a second look frees it.
        let_idle.send(()).ok();
        let mut j = j;
        let done = j.result_timeout(Duration::from_secs(10));
        assert_eq!(done.expect("deadlocked").ok(), Some(7));
        assert_eq!(z.result().ok(), Some(true));
    }

    /// A worker back from a job that takes a queued job which took an idle worker's count leaves
    /// that worker idle: the count comes back, and later jobs go to the two idle workers. The
    /// count fell behind for good at each such race, and a later job started a thread it did
    /// not need: a steady few jobs at once grew the pool to its maximum.
    #[test]
    fn a_job_taken_from_an_idle_worker_gives_its_count_back() {
        let exec = Executor::new("pool-test", 8);
        let hooks = &exec.workers.hooks;
        // The first worker runs A until told.
        let (a_go, a_wait) = bounded::<()>(0);
        let a = run(&exec, move || a_wait.recv().is_ok());
        // B starts the second worker, which is held once it has counted itself idle.
        let let_wait = hooks.after_idle.arm();
        run(&exec, || ()).wait();
        let idle = || exec.workers.idle.load(Ordering::Acquire);
        wait_for(2000, || idle() == 1);
        assert_eq!(idle(), 1);
        // C takes the second worker's count and is queued; the first, back from A, takes it.
        let c = run(&exec, || ());
        a_go.send(()).unwrap();
        assert_eq!(a.result().ok(), Some(true));
        c.wait();
        let_wait.send(()).unwrap();
        // Both workers idle, both counted.
        wait_for(2000, || idle() == 2);
        assert_eq!(idle(), 2);
        // Two jobs at once: the two idle workers run them, no third thread starts.
        let (gate_tx, gate) = bounded::<()>(0);
        let hold = move || {
            let _ = gate.recv_timeout(Duration::from_secs(30));
        };
        let (d, e) = (run(&exec, hold.clone()), run(&exec, hold));
        let started = exec.workers.started.load(Ordering::Acquire);
        drop(gate_tx);
        d.wait();
        e.wait();
        exec.join();
        assert_eq!(started, 2, "a job started a thread beside an idle worker");
    }

    /// A worker that counts itself idle just as a job arrives, and then takes that job while
    /// the worker started for it counts itself idle too, leaves the count of idle workers one
    /// ahead. A later job then took that count instead of starting a worker, and waited behind
    /// busy ones although the pool could still grow.
    #[test]
    fn a_job_gets_a_worker_while_the_pool_can_grow() {
        let exec = Executor::new("pool-test", 3);
        let hooks = &exec.workers.hooks;
        let let_idle = hooks.before_idle.arm();
        run(&exec, || ()).wait();
        // The first worker is about to count itself idle; the next one started waits too.
        let let_start = hooks.at_start.arm();
        let (gate_tx, gate) = bounded::<()>(0);
        let hold = move || {
            let _ = gate.recv_timeout(Duration::from_secs(30));
        };
        let a = run(&exec, hold.clone());
        let_idle.send(()).unwrap();
        // The first worker takes the job if it was queued; a job given to the second worker
        // is not in the queue.
        wait_for(1000, || exec.queued() == 0);
        let_start.send(()).unwrap();
        // Two workers counted idle would be one too many: one of the two holds a job. Give the
        // second worker the time to count itself.
        wait_for(200, || exec.workers.idle.load(Ordering::Acquire) >= 2);
        let b = run(&exec, hold);
        let mut c = run(&exec, || ());
        let started = c.result_timeout(Duration::from_secs(10)).is_some();
        drop(gate_tx);
        a.wait();
        b.wait();
        exec.join();
        assert!(
            started,
            "the third job waited behind two busy workers of three"
        );
    }

    /// A worker that finished its job while a shutdown was resolving the queued ones took the
    /// next queued job and ran it: with a long queue, every worker went on running queued jobs
    /// for as long as the shutdown took to go through them.
    #[test]
    fn a_job_a_worker_takes_from_the_queue_during_a_shutdown_does_not_run() {
        let exec = Arc::new(Executor::new("pool-test", 1));
        let (release, held) = bounded::<()>(0);
        let (started_tx, started) = bounded::<()>(1);
        let busy = run(&exec, move || {
            started_tx.send(()).unwrap();
            held.recv().is_ok()
        });
        started.recv().unwrap();
        let queued = run(&exec, || ());
        let let_drain = exec.workers.hooks.before_drain.arm();
        let stopping = {
            let exec = Arc::clone(&exec);
            std::thread::spawn(move || exec.shutdown())
        };
        // The queue is closed; the shutdown waits before it resolves the queued job.
        while !exec.is_shut_down() {
            std::thread::yield_now();
        }
        release.send(()).expect("the busy job waits");
        assert_eq!(busy.result().ok(), Some(true));
        // The worker, free now, takes the queued job before the shutdown does.
        while exec.queued() > 0 {
            std::thread::yield_now();
        }
        queued.wait();
        let_drain.send(()).unwrap();
        stopping.join().unwrap();
        assert!(
            matches!(queued.result(), Err(Error::ShutDown)),
            "a job queued at the shutdown ran"
        );
        exec.join();
    }

    /// The system refusing a worker thread (out of threads or memory) made the submission
    /// panic, and left the pool counting a worker that did not exist: with one worker at most,
    /// every later job then waited in the queue for ever.
    #[test]
    fn a_refused_worker_thread_is_an_error_on_the_handle_and_the_pool_goes_on() {
        let exec = Executor::new("pool-test", 1);
        exec.workers
            .hooks
            .refuse_threads
            .store(true, Ordering::Release);
        let refused = run(&exec, || 1);
        match refused.result() {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::Other);
                assert_eq!(
                    e.to_string(),
                    "could not start a worker thread of pool-test: no thread for the test"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(exec.workers(), 0);
        exec.workers
            .hooks
            .refuse_threads
            .store(false, Ordering::Release);
        let mut next = run(&exec, || 2);
        let got = next.result_timeout(Duration::from_secs(10));
        assert_eq!(
            got.map(|r| r.ok()),
            Some(Some(2)),
            "the pool lost its worker"
        );
        assert_eq!(exec.workers(), 1);
        exec.join();
    }

    /// A refusal when the pool grows past its first worker leaves the pool's own count where it
    /// was: the next job that finds every worker busy starts a thread.
    #[test]
    fn a_refused_second_worker_leaves_the_pool_able_to_grow() {
        let exec = Executor::new("pool-test", 2);
        let (release, held) = bounded::<()>(0);
        let busy = run(&exec, move || held.recv().is_ok());
        let refuse = |on: bool| {
            exec.workers
                .hooks
                .refuse_threads
                .store(on, Ordering::Release)
        };
        // The first worker is busy, so the next job starts the second one.
        refuse(true);
        let refused = run(&exec, || 1);
        assert!(matches!(refused.result(), Err(Error::Io(_))));
        refuse(false);
        let mut next = run(&exec, || 2);
        let got = next.result_timeout(Duration::from_secs(10));
        assert_eq!(got.map(|r| r.ok()), Some(Some(2)), "the pool did not grow");
        assert_eq!(exec.workers(), 2);
        release.send(()).expect("the busy job waits");
        assert_eq!(busy.result().ok(), Some(true));
        exec.join();
    }

    /// A laned job refused a thread still counts in its lane: the jobs of the lane after it run.
    #[test]
    fn a_refused_worker_thread_leaves_the_lane_of_its_job_going() {
        struct Open;
        impl Gate for Open {
            fn try_start(&self, _: &str, _: std::time::Instant) -> Result<(), std::time::Instant> {
                Ok(())
            }
        }
        let exec = Executor::new("pool-test", 1).with_lanes(1, Some(Arc::new(Open)));
        let lane: Arc<str> = Arc::from("a");
        let job = |v: u32| move |done: Completer<u32>| done.complete(Ok(v));
        exec.workers
            .hooks
            .refuse_threads
            .store(true, Ordering::Release);
        let refused = exec.submit_in_lane(job(1), false, Some(Arc::clone(&lane)));
        assert!(matches!(refused.result(), Err(Error::Io(_))));
        exec.workers
            .hooks
            .refuse_threads
            .store(false, Ordering::Release);
        let mut next = exec.submit_in_lane(job(2), false, Some(lane));
        let got = next.result_timeout(Duration::from_secs(10));
        assert_eq!(
            got.map(|r| r.ok()),
            Some(Some(2)),
            "the lane waits for the refused job"
        );
        exec.join();
    }

    /// A second waiter on a job that a first one runs inline (two workers waiting on one
    /// shared handle) marked the job as not run inline, while it ran past its lane: a request
    /// of a rate-limited session then skipped its origin's token.
    #[test]
    fn a_second_waiter_leaves_a_job_run_inline_marked_so() {
        let exec = Arc::new(Executor::new("pool-test", 1));
        let inner_exec = Arc::clone(&exec);
        let outer = run(&exec, move || {
            let (tx, rx) = bounded::<Arc<Pending<bool>>>(1);
            let inner = Arc::new(inner_exec.submit_in_lane(
                move |done: Completer<bool>| {
                    let me = rx.recv().unwrap();
                    // The second waiter comes by while the job runs inline.
                    assert!(!me.help());
                    done.complete(Ok(job::current_job().unwrap().ran_inline()));
                },
                true,
                None,
            ));
            tx.send(Arc::clone(&inner)).unwrap();
            inner.wait();
            let inner = Arc::try_unwrap(inner).ok().unwrap();
            inner.result().unwrap()
        });
        assert!(outer.result().unwrap(), "the job ran inline, unmarked");
    }
}
