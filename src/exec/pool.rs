//! `Executor`: the queue and the worker threads that drain it.
//!
//! # The queue
//!
//! The jobs wait in a crossbeam channel that the `threadpool` workers drain in a loop, rather
//! than in the thread pool's own queue, so that `shutdown` can take every queued job back out
//! and resolve it at once.
//!
//! # Shutdown
//!
//! The options were: block until running jobs finish (Python's
//! `executor.shutdown(wait=True)`), or return at once. A session is dropped in ordinary code
//! paths, often while an event stream it started is still being read; blocking there would hang
//! the program on a long stream. So [`Executor::shutdown`] returns at once: queued jobs resolve
//! to [`Error::ShutDown`] without running, running jobs finish on their workers, and each worker
//! thread exits when it has nothing left to do. [`Executor::join`] waits for that.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};
use threadpool::ThreadPool;

use super::lanes::{Gate, Lanes};
use super::slot::{Completer, Slot, Task};
use super::Pending;
use crate::Error;

static NEXT_POOL_ID: AtomicUsize = AtomicUsize::new(1);

type QueueItem = Arc<dyn Task>;

thread_local! {
    /// Set on the executor's worker threads: the id of the pool they belong to.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

/// Whether the current thread is a worker of pool `pool`.
pub(crate) fn is_worker_of(pool: usize) -> bool {
    WORKER_OF.with(|w| w.get() == pool)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; recover the guard rather than propagate.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A pool of worker threads running queued jobs, each resolving a [`Pending`]. It knows nothing
/// of what the jobs do: a job is a closure that carries what it needs.
pub(crate) struct Executor {
    /// `None` once shut down.
    queue: Mutex<Option<Sender<QueueItem>>>,
    /// Kept to take queued jobs back out at shutdown.
    backlog: Receiver<QueueItem>,
    /// Dropped at shutdown, so that the pool's threads exit once their loops return.
    pool: Mutex<Option<ThreadPool>>,
    /// Worker loops still running, to let `join` wait for them.
    alive: Arc<Alive>,
    id: usize,
    max_workers: usize,
    /// The admission step of jobs queued with a lane key; `None` when nothing limits them, and
    /// then no job pays for it.
    lanes: Option<Arc<Lanes>>,
}

impl Executor {
    /// Starts `max_workers` (at least 1) threads named `name`.
    pub(crate) fn new(name: &str, max_workers: usize) -> Executor {
        let max_workers = max_workers.max(1);
        let id = NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::unbounded::<QueueItem>();
        let pool = ThreadPool::with_name(name.into(), max_workers);
        let alive = Arc::new(Alive {
            count: Mutex::new(max_workers),
            zero: Condvar::new(),
        });
        for _ in 0..max_workers {
            let (jobs, alive) = (rx.clone(), alive.clone());
            pool.execute(move || worker_loop(jobs, id, alive));
        }
        Executor {
            queue: Mutex::new(Some(tx)),
            backlog: rx,
            pool: Mutex::new(Some(pool)),
            alive,
            id,
            max_workers,
            lanes: None,
        }
    }

    /// Puts jobs queued with a lane key (see [`submit_in_lane`](Executor::submit_in_lane))
    /// through an admission step: at most `max_running` of one lane run at once, and each start
    /// asks `gate`. See [`Lanes`].
    pub(crate) fn with_lanes(mut self, max_running: usize, gate: Option<Arc<dyn Gate>>) -> Self {
        if let Some(tx) = &*lock(&self.queue) {
            self.lanes = Some(Lanes::new(max_running, gate, tx.clone()));
        }
        self
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
        let (slot, mut task) = Slot::queued(if inline { self.id } else { 0 }, job);
        if let (Some(lanes), Some(key)) = (&self.lanes, lane) {
            task = lanes.entry(key, task);
        }
        let refused = match &*lock(&self.queue) {
            Some(tx) => tx.send(task).is_err(),
            None => true,
        };
        if refused {
            slot.cancel_with(Error::ShutDown);
        }
        Pending::new(slot)
    }

    pub(crate) fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// Jobs waiting for a worker, counting cancelled ones that no worker has passed over yet.
    pub(crate) fn queued(&self) -> usize {
        self.backlog.len()
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        lock(&self.queue).is_none()
    }

    /// Resolves queued jobs to [`Error::ShutDown`], refuses new ones, and lets each worker exit
    /// once idle. Returns at once; calling it again does nothing.
    pub(crate) fn shutdown(&self) {
        if let Some(lanes) = &self.lanes {
            // First: the lanes hold a sender of the queue, which would keep workers waiting.
            lanes.shutdown();
        }
        let sender = lock(&self.queue).take();
        // Dropping the sender lets idle workers see the disconnection and leave their loops;
        // dropping the pool lets its threads exit after that.
        drop(sender);
        drop(lock(&self.pool).take());
        for task in self.backlog.try_iter() {
            task.abort(Error::ShutDown);
        }
    }

    /// Shuts down and waits until every worker has left its loop. Returns at once when called on
    /// one of this executor's own workers, which would otherwise wait for itself.
    pub(crate) fn join(&self) {
        self.shutdown();
        if is_worker_of(self.id) {
            return;
        }
        let mut n = lock(&self.alive.count);
        while *n > 0 {
            n = self.alive.zero.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Counts the running worker loops.
struct Alive {
    count: Mutex<usize>,
    zero: Condvar,
}

/// Decrements [`Alive`] when a worker loop ends, however it ends.
struct AliveGuard(Arc<Alive>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        let mut n = lock(&self.0.count);
        *n -= 1;
        if *n == 0 {
            self.0.zero.notify_all();
        }
    }
}

fn worker_loop(jobs: Receiver<QueueItem>, pool: usize, alive: Arc<Alive>) {
    let _guard = AliveGuard(alive);
    WORKER_OF.with(|w| w.set(pool));
    // Ends when the executor is shut down and the queue is empty.
    for task in jobs.iter() {
        // Jobs catch their own panics; this guards the loop against the rest (a user's waker
        // that panics when woken), so that the pool never silently loses a worker.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
    }
}
