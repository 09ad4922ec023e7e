//! Lanes: jobs that share a key (for requests, their origin) start only as their lane allows.
//!
//! # The admission step
//!
//! A job queued with a lane key goes through the executor's queue like any other. When a worker
//! takes it, the lane decides: start it now, or park it in the lane's own queue and move on to
//! the next job in the executor's queue. A lane admits a job while fewer than `max_running` of
//! its jobs run and its [`Gate`] (rate limits, pauses) lets it. So a saturated or paused lane
//! holds no worker: a worker takes the next job it may run, and work for other lanes is not stuck
//! behind it.
//!
//! A parked job starts when its lane allows it again:
//!
//! * a job of the lane finishes: the worker that ran it starts the lane's next parked job itself
//!   (that job was taken from the queue before anything still in it, so running it first keeps
//!   the queue's order);
//! * a job of the lane gives its place up before it ends (a `send_with` request whose hook,
//!   the caller's code, starts: see [`end_turn_early`]): a wake-up queued for the lane hands
//!   the next parked job to the next worker free (behind the jobs queued since);
//! * the gate said "not before T": a timer thread queues a wake-up for the lane at T, and the
//!   worker that takes it starts the parked job. When the system refuses the timer a thread,
//!   the wake-up is queued at once and the worker that takes it waits until T.
//!
//! Jobs of one lane start in the order they were queued: while a lane has parked jobs, a newly
//! taken job of that lane parks behind them. Workers take jobs from the queue in order but reach
//! the lane in any order (one can be descheduled between the two), so each job carries its
//! number in its lane, given when it is queued, and one that reaches the lane before an earlier
//! one waits for it.
//!
//! # Options considered
//!
//! * Per-lane queues in the executor, with workers scanning them for one they may run: every
//!   worker pays a scan on every job, limits or not, and the queue's plain FIFO fast path is
//!   lost. Here a session without limits never touches this module.
//! * A semaphore per lane taken inside the job: the job holds a worker while it waits, so one
//!   saturated host starves every other one, which is the problem to solve.
//! * Re-queueing a job that may not start at the back of the queue: it loses its order, and a
//!   worker spins through the same parked jobs again and again.
//!
//! A parked job keeps its handle's semantics: it is still queued, so `cancel()` claims it (the
//! lane then passes over it, and it takes neither a place nor a token of the gate) and a
//! shutdown resolves it to [`Error::ShutDown`]. So does a job claimed while still in the
//! executor's queue.
//!
//! # When the executor is dropped
//!
//! Handles outlive their session, so dropping the executor must not drop the jobs queued or
//! parked for live handles. The lanes go on admitting them, and drop unrun only the jobs whose
//! handles are gone: at the drop, those already parked (a paused lane would otherwise keep
//! them, and the workers, until its pause ends); later, when they reach the lane or the front
//! of its parked jobs (a job still in the executor's queue has not been counted as arrived, so
//! a worker must not drop it on the way), and when a parked job is cancelled or its handle
//! dropped after the drop: the handle's entry is the job's lane entry, which tells the lane then
//! rather than leave it to the lane's next turn, which a pause may put a minute away (see
//! [`Lanes::forget_gone`]). Parked jobs need the lanes' sender of the queue for
//! their wake-ups, and the timer holds the lanes weakly, so from the drop on the lanes hold
//! themselves and that sender, until every lane is empty; then they let go of both, and the
//! workers see the queue end once it is drained.
//!
//! # A worker that waits for a laned job
//!
//! A job that sends a request and waits for it (`result()` on a worker) runs that request
//! inline when it is still queued (see `Slot::help`), and then the lane is not asked. Asking
//! it would deadlock: under `max_per_host(1)`, a job whose host is full because of itself
//! would wait for a child that waits for its parent's place. The waiting job sends nothing
//! while its child runs, so the host sees one more request only when parent and child go to
//! different origins, at most one per waiting worker. `SessionBuilder::max_per_host` says so.
//! The gate is not skipped with it: a request run inline asks the rate limiter itself, on the
//! worker (`run::attempts`), since waiting for a pause or a token depends on no other job.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::job::Interrupt;
use super::pool::Queue;
use super::slot::Task;
use crate::progress::ProgressCounter;
use crate::Error;

/// What a lane asks before each start: may a job of `lane` start at `now`? `Err` holds the
/// moment it may. A yes takes whatever the gate counts (a rate limiter's token).
pub(crate) trait Gate: Send + Sync {
    fn try_start(&self, lane: &str, now: Instant) -> Result<(), Instant>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; recover the guard rather than propagate.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct Lane {
    running: usize,
    parked: VecDeque<Arc<dyn Task>>,
    /// Numbers given to the lane's jobs when queued, and the number of the next one to reach
    /// the lane; jobs that reached it before an earlier one wait in `early`.
    queued: u64,
    arrived: u64,
    early: BTreeMap<u64, Arc<dyn Task>>,
    /// The numbers of jobs that reached the lane before an earlier one and were claimed
    /// already (cancelled, run inline), as ranges `start..end` keyed by their start: passed
    /// over when their turn comes, without keeping their slots (a sweep of the queue sends
    /// many such at once: see `exec::pool`'s "Spent entries").
    gone: BTreeMap<u64, u64>,
    /// Claims of the lane's jobs out of their turn since its waiting jobs were last looked
    /// through (see [`Lanes::claimed`]).
    claims: usize,
    /// A wake-up for this lane is due on the timer; no second one is needed.
    timer_armed: bool,
}

impl Lane {
    /// Marks number `seq` as the number of a job passed over (see `gone`).
    fn mark_gone(&mut self, seq: u64) {
        let (mut start, mut end) = (seq, seq + 1);
        if let Some((&s, &e)) = self.gone.range(..seq).next_back() {
            if e == seq {
                start = s;
                self.gone.remove(&s);
            }
        }
        if let Some(e) = self.gone.remove(&end) {
            end = e;
        }
        self.gone.insert(start, end);
    }

    /// Passes `arrived` over the numbers of jobs gone that come next.
    fn skip_gone(&mut self) {
        while let Some(end) = self.gone.remove(&self.arrived) {
            self.arrived = end;
        }
    }

    /// Nothing runs, waits or is due in the lane: it can be forgotten.
    fn is_idle(&self) -> bool {
        self.is_empty() && !self.timer_armed
    }

    /// Nothing runs, waits or is still to arrive in the lane; a wake-up may be due. Once the
    /// executor is dropped such a lane is forgotten too: no job can come to it any more.
    fn is_empty(&self) -> bool {
        self.running == 0 && self.parked.is_empty() && self.arrived == self.queued
    }

    /// Takes out the parked jobs at the front of the lane that are gone (see [`is_gone`]),
    /// up to the first one that is not.
    fn take_gone_from_front(&mut self, dropped: bool) -> Vec<Arc<dyn Task>> {
        let mut gone = Vec::new();
        while self.parked.front().is_some_and(|t| is_gone(t, dropped)) {
            gone.extend(self.parked.pop_front());
        }
        gone
    }

    /// Takes out every parked or early job that is gone (see [`is_gone`]); an early one leaves
    /// its number (see `gone`).
    fn take_gone(&mut self) -> Vec<Arc<dyn Task>> {
        let mut gone = Vec::new();
        for task in std::mem::take(&mut self.parked) {
            if is_gone(&task, false) {
                gone.push(task);
            } else {
                self.parked.push_back(task);
            }
        }
        let early: Vec<u64> = (self.early.iter())
            .filter(|(_, t)| is_gone(t, false))
            .map(|(&seq, _)| seq)
            .collect();
        for seq in early {
            gone.extend(self.early.remove(&seq));
            self.mark_gone(seq);
        }
        gone
    }
}

/// The fewest claims after which a lane looks through its waiting jobs (see
/// [`Lanes::claimed`]).
const MIN_COMPACT: usize = 64;

/// Whether a job that reached its lane is to be passed over rather than run: claimed already
/// (cancelled, or run inline by a worker that waited for it), or, once the executor is
/// dropped (`dropped`), its handle is gone. Locks the job's slot: called with the lanes' state
/// locked, which is always locked first.
fn is_gone(task: &Arc<dyn Task>, dropped: bool) -> bool {
    !task.is_queued() || (dropped && task.is_abandoned())
}

struct State {
    lanes: HashMap<Arc<str>, Lane>,
    /// Set at shutdown: parked jobs were aborted, newcomers are aborted too.
    closed: bool,
    /// The lanes themselves, held from the executor's drop until no lane is left.
    keep_alive: Option<Arc<Lanes>>,
}

/// The lanes of one executor. See the module docs.
pub(crate) struct Lanes {
    max_running: usize,
    gate: Option<Arc<dyn Gate>>,
    state: Mutex<State>,
    /// Set when the executor was dropped: jobs whose handles are gone are dropped unrun, and the
    /// lanes let go of the queue once no lane is left (see the module's doc). Set with the state
    /// locked; read with it locked, but for the look of a cancel or a dropped handle (see
    /// [`Lanes::forget_gone`]), which costs a live session nothing more.
    dropped: AtomicBool,
    /// Where wake-ups go: the executor's queue, through which they are counted like jobs (see
    /// `exec::pool`). Dropped at shutdown.
    queue: Mutex<Option<Queue>>,
    /// Wake-ups sent to the queue and not yet taken by a worker: they are no jobs, so
    /// [`Lanes::queued_wakes`] lets the executor's count of queued jobs leave them out.
    wakes: AtomicUsize,
    timer: Arc<Timer>,
    me: Weak<Lanes>,
}

/// What happens to a job a worker took from the queue.
enum Admit {
    Start(Arc<dyn Task>),
    Parked,
}

impl Lanes {
    /// Lanes that run at most `max_running` jobs each (at least 1), and ask `gate` before each
    /// start. Wake-ups are sent to `queue`.
    pub(crate) fn new(max_running: usize, gate: Option<Arc<dyn Gate>>, queue: Queue) -> Arc<Lanes> {
        Arc::new_cyclic(|me| Lanes {
            max_running: max_running.max(1),
            gate,
            state: Mutex::new(State {
                lanes: HashMap::new(),
                closed: false,
                keep_alive: None,
            }),
            dropped: AtomicBool::new(false),
            queue: Mutex::new(Some(queue)),
            wakes: AtomicUsize::new(0),
            timer: Arc::new(Timer::default()),
            me: me.clone(),
        })
    }

    /// Jobs that a worker took from the queue and that wait in their lanes: parked until their
    /// lane may start them, or waiting for an earlier job of their lane to arrive. A snapshot.
    pub(crate) fn parked(&self) -> usize {
        let state = lock(&self.state);
        state
            .lanes
            .values()
            .map(|l| l.parked.len() + l.early.len())
            .sum()
    }

    /// Wake-ups in the executor's queue now (an estimate: one may be on its way in or out).
    pub(crate) fn queued_wakes(&self) -> usize {
        self.wakes.load(Ordering::Relaxed)
    }

    /// The queue entry of `task` in lane `key`.
    pub(crate) fn entry(self: &Arc<Self>, key: Arc<str>, task: Arc<dyn Task>) -> Arc<dyn Task> {
        let seq = {
            let mut state = lock(&self.state);
            let lane = state.lanes.entry(Arc::clone(&key)).or_default();
            lane.queued += 1;
            lane.queued - 1
        };
        Arc::new(Laned {
            lanes: Arc::clone(self),
            key,
            seq,
            task,
        })
    }

    /// Aborts every parked job with [`Error::ShutDown`] and every job that arrives later; stops
    /// the timer. Jobs already started finish.
    pub(crate) fn shutdown(&self) {
        let (parked, me): (Vec<Arc<dyn Task>>, _) = {
            let mut state = lock(&self.state);
            state.closed = true;
            let parked = state
                .lanes
                .values_mut()
                .flat_map(|l| {
                    let early = std::mem::take(&mut l.early);
                    l.parked.drain(..).chain(early.into_values())
                })
                .collect();
            (parked, state.keep_alive.take())
        };
        self.release();
        for task in parked {
            task.abort(Error::ShutDown);
        }
        drop(me);
    }

    /// The executor was dropped: the lanes go on admitting the jobs of live handles, drop those
    /// whose handles are gone, and let go of the queue once no lane is left. See the module's
    /// doc.
    pub(crate) fn release_when_idle(&self) {
        let mut state = lock(&self.state);
        self.dropped.store(true, Ordering::Release);
        let mut unrun = Vec::new();
        if !state.closed {
            // Parked jobs whose handles are gone are dropped now rather than at their turn,
            // which a pause may put a minute away; a lane left with nothing running, parked or
            // still to arrive is forgotten, even with a wake-up due.
            state.lanes.retain(|_, lane| {
                let (gone, kept) = std::mem::take(&mut lane.parked)
                    .into_iter()
                    .partition(|t| is_gone(t, true));
                lane.parked = kept;
                unrun.extend::<VecDeque<_>>(gone);
                !lane.is_empty()
            });
            if !state.lanes.is_empty() {
                state.keep_alive = self.me.upgrade();
            }
        }
        self.settle(state, None);
        // Outside the lock: dropping a job drops its closure, which is user code.
        for task in unrun {
            task.abort(Error::ShutDown);
        }
    }

    /// A job of lane `key` was cancelled, or its handle dropped while it was still queued. Once
    /// the executor is dropped, the lane drops the gone jobs at the front of its parked ones now
    /// rather than at its next turn, which a pause may put a minute away, keeping the queue,
    /// the workers and the timer until then; a lane left empty is forgotten, and with the last
    /// one the lanes let go of the queue. Before the drop this is one atomic load.
    ///
    /// Only the front is looked at: while a job there is live the lane is not empty anyway,
    /// and when that one goes, its own call looks further. So each job is looked at a bounded
    /// number of times, however many are cancelled one after another.
    fn forget_gone(&self, key: &Arc<str>) {
        if !self.dropped.load(Ordering::Acquire) {
            return;
        }
        let mut state = lock(&self.state);
        let Some(lane) = state.lanes.get_mut(key) else {
            return;
        };
        let unrun = lane.take_gone_from_front(true);
        if unrun.is_empty() {
            return;
        }
        self.settle(state, Some(key));
        // Outside the lock: dropping a job drops its closure, which is user code (a claimed
        // job's abort does nothing).
        for task in unrun {
            task.abort(Error::ShutDown);
        }
    }

    /// A job of lane `key` was claimed out of its turn: cancelled, or run inline by a worker
    /// that waited for it (`Slot::help`). Once the executor is dropped, as
    /// [`forget_gone`](Lanes::forget_gone). Before, a claimed job that waits in the lane leaves
    /// it only when the lane gets to it, at its next turn: behind a request that runs for long
    /// (an event stream, under `max_per_host(1)`), claim after claim piled up there, each with
    /// its slot. So once a lane has seen as many claims as it has waiting jobs (64 at least)
    /// since it last looked, it takes the gone ones out: amortised O(1) per claim.
    fn claimed(&self, key: &Arc<str>) {
        if self.dropped.load(Ordering::Acquire) {
            return self.forget_gone(key);
        }
        let mut state = lock(&self.state);
        let Some(lane) = state.lanes.get_mut(key) else {
            return;
        };
        lane.claims += 1;
        if lane.claims < (lane.parked.len() + lane.early.len()).max(MIN_COMPACT) {
            return;
        }
        lane.claims = 0;
        let unrun = lane.take_gone();
        self.settle(state, Some(key));
        // Outside the lock: dropping a job drops its closure, which is user code (a claimed
        // job's abort does nothing).
        for task in unrun {
            task.abort(Error::ShutDown);
        }
    }

    /// Forgets lane `key` if nothing is left in it; once the executor is dropped and no lane is
    /// left, lets go of the queue and of the lanes' hold on themselves.
    fn settle(&self, mut state: MutexGuard<'_, State>, key: Option<&Arc<str>>) {
        let dropped = self.dropped.load(Ordering::Acquire);
        if let Some(key) = key {
            // After the drop, as in `release_when_idle`: even with a wake-up due, which would
            // otherwise keep the queue, the workers and the timer until a pause ends.
            if state
                .lanes
                .get(key)
                .is_some_and(|l| l.is_idle() || (dropped && l.is_empty()))
            {
                state.lanes.remove(key);
            }
        }
        if !dropped || !state.lanes.is_empty() {
            return;
        }
        let me = state.keep_alive.take();
        drop(state);
        self.release();
        // Never the last hold: the caller's entry (or the executor) holds the lanes too.
        drop(me);
    }

    /// Drops the lanes' sender of the queue and stops the timer.
    fn release(&self) {
        drop(lock(&self.queue).take());
        self.timer.close();
    }

    /// A worker took `task`, number `seq` of lane `key`, from the queue: start it or park it
    /// (with the jobs after it that reached the lane first). Without `start_here` (a sweep of
    /// the queue took a spent entry out: see `exec::pool`'s "Spent entries"), nothing starts on
    /// this thread: a job that could start is parked, and a wake-up hands it to a worker.
    fn arrive(&self, key: &Arc<str>, seq: u64, task: Arc<dyn Task>, start_here: bool) -> Admit {
        let mut state = lock(&self.state);
        if state.closed {
            drop(state);
            task.abort(Error::ShutDown);
            return Admit::Parked;
        }
        let dropped = self.dropped.load(Ordering::Acquire);
        let lane = state.lanes.entry(Arc::clone(key)).or_default();
        if seq != lane.arrived {
            // Early: kept for its turn, but for a job claimed already, whose number is enough.
            if !is_gone(&task, dropped) {
                lane.early.insert(seq, task);
                return Admit::Parked;
            }
            lane.mark_gone(seq);
            drop(state);
            task.abort(Error::ShutDown);
            return Admit::Parked;
        }
        let mut start = None;
        let mut unrun = Vec::new();
        let mut next = Some(task);
        while let Some(task) = next {
            lane.arrived += 1;
            // A job already claimed (cancelled, or run inline by a worker that waited for it)
            // is passed over: it neither takes a place nor a token of the gate.
            if is_gone(&task, dropped) {
                unrun.push(task);
            } else if start_here
                && start.is_none()
                && lane.parked.is_empty()
                && lane.running < self.max_running
                && self.gate_allows(key, lane)
            {
                lane.running += 1;
                start = Some(task);
            } else {
                lane.parked.push_back(task);
            }
            lane.skip_gone();
            next = lane.early.remove(&lane.arrived);
        }
        self.settle(state, Some(key));
        if !start_here {
            // What could start here goes to a worker.
            self.spread(key);
        }
        // Outside the lock: dropping a job drops its closure, which is user code (a claimed
        // job's abort does nothing).
        for task in unrun {
            task.abort(Error::ShutDown);
        }
        start.map_or(Admit::Parked, Admit::Start)
    }

    /// Asks the gate for lane `key`; on a "not yet", arms the lane's wake-up. Called with the
    /// state locked.
    fn gate_allows(&self, key: &Arc<str>, lane: &mut Lane) -> bool {
        let Some(gate) = &self.gate else {
            return true;
        };
        match gate.try_start(key, Instant::now()) {
            Ok(()) => true,
            Err(at) => {
                if !lane.timer_armed {
                    lane.timer_armed = true;
                    if !self.timer.arm(at, Arc::clone(key), self.me.clone()) {
                        // No timer thread (the system refused one): a worker waits instead.
                        self.queue_wake(Arc::clone(key), true, Some(at));
                    }
                }
                false
            }
        }
    }

    /// The next parked job of lane `key` that may start now, counted as running. `finished`: a
    /// job of the lane has just ended. Forgets a lane that has nothing left.
    fn next(&self, key: &Arc<str>, finished: bool) -> Option<Arc<dyn Task>> {
        let mut state = lock(&self.state);
        let dropped = self.dropped.load(Ordering::Acquire);
        let lane = state.lanes.get_mut(key)?;
        if finished {
            lane.running = lane.running.saturating_sub(1);
        }
        // Claimed jobs (cancelled while parked) are passed over, as in `arrive`.
        let unrun = lane.take_gone_from_front(dropped);
        let mut next = None;
        if !lane.parked.is_empty()
            && lane.running < self.max_running
            && !lane.timer_armed
            && self.gate_allows(key, lane)
        {
            next = lane.parked.pop_front();
            lane.running += 1;
        }
        self.settle(state, Some(key));
        // Outside the lock: dropping a job drops its closure, which is user code.
        for task in unrun {
            task.abort(Error::ShutDown);
        }
        next
    }

    /// Runs `task` of lane `key`, then the lane's parked jobs as long as they may start.
    fn run_from(&self, key: &Arc<str>, mut task: Arc<dyn Task>) {
        loop {
            // A start that leaves room for more (a pause ended on a lane with parked jobs)
            // hands the rest to other workers.
            self.spread(key);
            // A job catches its own panics; a guard still ends its turn if anything else
            // unwinds, so that the lane's count stays true.
            let turn = Turn::start(self, key, task.id());
            task.run();
            if turn.end() {
                // The job gave its place up before it ended (see `end_turn_early`): the
                // lane's next job went to another worker then.
                return;
            }
            match self.next(key, true) {
                Some(next) => task = next,
                None => return,
            }
        }
    }

    /// Queues one more wake-up for lane `key` if its next parked job may start as well: so that
    /// a lane whose pause ended runs up to its limit on several workers, not one, and that a job
    /// a sweep's arrival let start goes to a worker (see [`arrive`](Lanes::arrive)).
    fn spread(&self, key: &Arc<str>) {
        let more = {
            let state = lock(&self.state);
            state.lanes.get(key).is_some_and(|l| {
                !l.parked.is_empty() && l.running < self.max_running && !l.timer_armed
            })
        };
        if more {
            self.wake(Arc::clone(key), false);
        }
    }

    /// Queues a wake-up for lane `key`. `from_timer`: the lane's armed wake-up fired.
    fn wake(&self, key: Arc<str>, from_timer: bool) {
        self.queue_wake(key, from_timer, None);
    }

    /// Queues a wake-up for lane `key`; the worker that takes it waits until `not_before`
    /// first (or until the lanes shut down).
    fn queue_wake(&self, key: Arc<str>, from_timer: bool, not_before: Option<Instant>) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let wake: Arc<dyn Task> = Arc::new(Wake {
            lanes: me,
            key,
            from_timer,
            not_before,
        });
        let queue = lock(&self.queue);
        if let Some(queue) = &*queue {
            self.wakes.fetch_add(1, Ordering::Relaxed);
            if queue.send(wake).is_err() {
                self.wakes.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Ends a job's turn in its lane if the job unwinds past the lane.
struct Turn<'a> {
    lanes: &'a Lanes,
    key: &'a Arc<str>,
    /// The turn this worker held before (none: a worker runs one laned job at a time).
    previous: Option<TurnNow>,
}

impl<'a> Turn<'a> {
    /// The turn of job `id` in lane `key`, which it may end early (see [`end_turn_early`]).
    fn start(lanes: &'a Lanes, key: &'a Arc<str>, id: usize) -> Self {
        let now = TurnNow {
            job: id,
            lanes: lanes.me.clone(),
            key: Arc::clone(key),
            ended: false,
        };
        let previous = TURN.with(|t| t.replace(Some(now)));
        Turn {
            lanes,
            key,
            previous,
        }
    }

    /// The end of the job: whether it ended its turn early.
    fn end(mut self) -> bool {
        let now = TURN.with(|t| t.replace(self.previous.take()));
        std::mem::forget(self);
        now.is_some_and(|t| t.ended)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let now = TURN.with(|t| t.replace(self.previous.take()));
        if !now.is_some_and(|t| t.ended) {
            self.lanes.hand_over(self.key);
        }
    }
}

/// The lane turn a worker's job holds, while it runs.
struct TurnNow {
    /// The job's id ([`current_job_id`](super::current_job_id) while it runs).
    job: usize,
    lanes: Weak<Lanes>,
    key: Arc<str>,
    /// The job gave its place up already.
    ended: bool,
}

thread_local! {
    /// On a worker: the lane turn of the job it runs now, if that job is laned.
    static TURN: std::cell::RefCell<Option<TurnNow>> = const { std::cell::RefCell::new(None) };
}

/// Ends the lane turn of the job running on this thread, if it holds one, before the job ends:
/// its place goes to the lane's next job now. For a request whose exchange is over (its body
/// read whole, its connection back in the pool) while the job goes on with the caller's code:
/// a [`send_with`](crate::RequestBuilder::send_with) hook holds no place of `max_per_host`, so
/// a slow hook does not hold other requests to the origin back, and a hook that waits for a
/// request to the same origin does not wait for its own place. A job run inline by a job that
/// waits for it (which holds no turn of its own) ends nothing.
///
/// The cost: the lane's next job does not start on this worker after the job (it is busy with
/// the hook) but through a wake-up at the back of the queue, after the jobs of other lanes
/// queued since. The options were that, or the place held through the hook (a hook that
/// waits for its origin waits for itself). A plain `send` has no hook of the caller's and
/// keeps the place to its end, as before.
pub(crate) fn end_turn_early() {
    let id = super::current_job_id();
    let ended = TURN.with(|t| {
        let mut t = t.borrow_mut();
        let turn = t.as_mut().filter(|t| t.job == id && !t.ended)?;
        turn.ended = true;
        Some((turn.lanes.clone(), Arc::clone(&turn.key)))
    });
    if let Some((lanes, key)) = ended {
        if let Some(lanes) = lanes.upgrade() {
            lanes.end_early(&key);
        }
    }
}

impl Lanes {
    /// Ends a turn in lane `key` before its job ends (see [`end_turn_early`]): the place is
    /// free, and a wake-up hands the lane's next parked job, if it may start, to the next
    /// worker free. Nothing is taken from the lane here: the wake-up asks the gate (one token)
    /// and starts the job, and a shutdown meanwhile finds every parked job where it was.
    fn end_early(&self, key: &Arc<str>) {
        let mut state = lock(&self.state);
        let Some(lane) = state.lanes.get_mut(key) else {
            return;
        };
        lane.running = lane.running.saturating_sub(1);
        let more = !lane.parked.is_empty() && lane.running < self.max_running && !lane.timer_armed;
        self.settle(state, Some(key));
        if more {
            self.wake(Arc::clone(key), false);
        }
    }

    /// Ends a turn in lane `key` on a worker that does not run the lane's next job: that job,
    /// if it may start, goes to another worker.
    fn hand_over(&self, key: &Arc<str>) {
        if let Some(next) = self.next(key, true) {
            let mut state = lock(&self.state);
            if let Some(lane) = state.lanes.get_mut(key) {
                lane.running -= 1;
                lane.parked.push_front(next);
            }
            drop(state);
            self.wake(Arc::clone(key), false);
        }
    }
}

/// A job's queue entry in a lane; also the task its handle holds, so that a cancel or the
/// handle's drop reaches the lane (see [`Lanes::forget_gone`]).
struct Laned {
    lanes: Arc<Lanes>,
    key: Arc<str>,
    /// Its number in the lane, in the order jobs were queued.
    seq: u64,
    task: Arc<dyn Task>,
}

impl Task for Laned {
    fn run(self: Arc<Self>) {
        if let Admit::Start(task) =
            self.lanes
                .arrive(&self.key, self.seq, Arc::clone(&self.task), true)
        {
            self.lanes.run_from(&self.key, task);
        }
    }

    /// Spent once its job was claimed: the lane hears of its arrival here, as a worker would
    /// have told it, so that the jobs after it in the lane are not held up.
    fn swept(self: Arc<Self>) -> Option<Arc<dyn Task>> {
        if self.task.is_queued() {
            return Some(self);
        }
        self.lanes
            .arrive(&self.key, self.seq, Arc::clone(&self.task), false);
        None
    }

    fn abort(&self, error: Error) {
        self.task.abort(error);
    }

    /// Always `false`: a dropped executor's lanes drop the job when it reaches its lane (see
    /// [`Lanes::arrive`]). A worker must not drop it first, or the lane would wait for its
    /// number forever.
    fn is_abandoned(&self) -> bool {
        false
    }

    fn is_queued(&self) -> bool {
        self.task.is_queued()
    }

    fn ran_inline(&self) -> bool {
        self.task.ran_inline()
    }

    /// Cancels the job, and tells its lane (see [`Lanes::claimed`]): a job parked after the
    /// executor's drop leaves it now, and cancelled jobs do not pile up in it.
    fn cancel(&self) -> bool {
        let cancelled = self.task.cancel();
        self.lanes.claimed(&self.key);
        cancelled
    }

    fn claimed_by_waiter(&self) {
        self.lanes.claimed(&self.key);
    }

    fn handle_dropped(&self) {
        self.lanes.forget_gone(&self.key);
    }

    fn interrupt(&self) {
        self.task.interrupt();
    }

    fn register(&self, what: Weak<dyn Interrupt>) -> bool {
        self.task.register(what)
    }

    fn hold(&self, held: bool) {
        self.task.hold(held);
    }

    fn is_cancelled(&self) -> bool {
        self.task.is_cancelled()
    }

    fn sleep(&self, d: Duration) -> bool {
        self.task.sleep(d)
    }

    fn id(&self) -> usize {
        self.task.id()
    }

    fn upload(&self) -> Option<&ProgressCounter> {
        self.task.upload()
    }
}

/// A wake-up of one lane, sent through the executor's queue.
struct Wake {
    lanes: Arc<Lanes>,
    key: Arc<str>,
    from_timer: bool,
    /// Waited for on the worker, in place of the timer when its thread could not start.
    not_before: Option<Instant>,
}

impl Task for Wake {
    /// Never spent: a wake-up goes back in its place.
    fn swept(self: Arc<Self>) -> Option<Arc<dyn Task>> {
        Some(self)
    }

    fn run(self: Arc<Self>) {
        self.lanes.wakes.fetch_sub(1, Ordering::Relaxed);
        if let Some(at) = self.not_before {
            self.lanes.timer.wait_until(at);
        }
        if self.from_timer {
            let mut state = lock(&self.lanes.state);
            if let Some(lane) = state.lanes.get_mut(&self.key) {
                lane.timer_armed = false;
            }
        }
        if let Some(task) = self.lanes.next(&self.key, false) {
            self.lanes.run_from(&self.key, task);
        }
    }

    /// Taken from the queue by a shutdown, or by a worker after it: not run, but no longer
    /// in the queue.
    fn abort(&self, _: Error) {
        self.lanes.wakes.fetch_sub(1, Ordering::Relaxed);
    }

    fn is_abandoned(&self) -> bool {
        false
    }

    fn is_queued(&self) -> bool {
        true
    }

    fn ran_inline(&self) -> bool {
        false
    }

    fn cancel(&self) -> bool {
        false
    }

    fn interrupt(&self) {}

    fn register(&self, _: Weak<dyn Interrupt>) -> bool {
        true
    }

    fn hold(&self, _: bool) {}

    fn is_cancelled(&self) -> bool {
        false
    }

    fn sleep(&self, d: Duration) -> bool {
        std::thread::sleep(d);
        true
    }

    fn id(&self) -> usize {
        0
    }

    fn upload(&self) -> Option<&ProgressCounter> {
        None
    }
}

/// One thread that queues each lane's wake-up when it is due. Started on first use; it exits
/// when its lanes are gone or shut down.
#[derive(Default)]
struct Timer {
    state: Mutex<TimerState>,
    changed: Condvar,
    /// Set: starting the timer's thread fails as when the system refuses one.
    #[cfg(test)]
    refuse_thread: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct TimerState {
    due: BinaryHeap<Reverse<(Instant, u64, Arc<str>)>>,
    lanes: Option<Weak<Lanes>>,
    started: bool,
    closed: bool,
    seq: u64,
}

impl Timer {
    /// Queues a wake-up of lane `key` at `at`. Returns `false` when no thread runs the timer
    /// (the system refused it): the caller must see to the wake-up.
    fn arm(self: &Arc<Self>, at: Instant, key: Arc<str>, lanes: Weak<Lanes>) -> bool {
        let mut state = lock(&self.state);
        if state.closed {
            return true;
        }
        state.seq += 1;
        let seq = state.seq;
        state.due.push(Reverse((at, seq, key)));
        state.lanes.get_or_insert(lanes);
        if !state.started {
            let timer = Arc::clone(self);
            // Spawning fails only when the system is out of threads or memory; the next
            // wake-up tries again.
            #[cfg(test)]
            let refused = self
                .refuse_thread
                .load(std::sync::atomic::Ordering::Acquire);
            #[cfg(not(test))]
            let refused = false;
            state.started = !refused
                && std::thread::Builder::new()
                    .name("ureq-futures-timer".into())
                    .spawn(move || timer.run())
                    .is_ok();
        }
        let started = state.started;
        drop(state);
        // All: workers may wait in `wait_until` as well as the timer's thread.
        self.changed.notify_all();
        started
    }

    /// Blocks until `at`, or until the timer is closed.
    fn wait_until(&self, at: Instant) {
        let mut state = lock(&self.state);
        loop {
            let now = Instant::now();
            if state.closed || now >= at {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, at - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.due.clear();
        drop(state);
        self.changed.notify_all();
    }

    fn run(&self) {
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return;
            }
            let now = Instant::now();
            match state.due.peek() {
                Some(Reverse((at, _, _))) if *at <= now => {
                    let Some(Reverse((_, _, key))) = state.due.pop() else {
                        continue;
                    };
                    let Some(lanes) = state.lanes.as_ref().and_then(Weak::upgrade) else {
                        return;
                    };
                    drop(state);
                    lanes.wake(key, true);
                    drop(lanes);
                    state = lock(&self.state);
                }
                Some(Reverse((at, _, _))) => {
                    let wait = at.saturating_duration_since(now);
                    state = self
                        .changed
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => {
                    // Nothing due: leave once the lanes are gone, else wait for work.
                    if state.lanes.as_ref().is_some_and(|l| l.strong_count() == 0) {
                        return;
                    }
                    state = self
                        .changed
                        .wait_timeout(state, std::time::Duration::from_secs(1))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::exec::Executor;

    fn lane(s: &str) -> Option<Arc<str>> {
        Some(Arc::from(s))
    }

    /// A job of `key` (or of no lane) that runs until the returned sender sends or is dropped.
    fn held(
        exec: &Executor,
        key: Option<Arc<str>>,
    ) -> (crate::Pending<bool>, crossbeam_channel::Sender<()>) {
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let job = exec.submit_in_lane(
            move |done| done.complete(Ok(wait.recv().is_ok())),
            false,
            key,
        );
        (job, release)
    }

    /// Waits (5 s at most) until the lanes hold more waiting jobs than `before`: a worker took
    /// the job just queued to its lane.
    fn until_parked(lanes: &Lanes, before: usize) {
        let start = Instant::now();
        while lanes.parked() == before && start.elapsed() < Duration::from_secs(5) {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_lane_runs_at_most_its_limit_and_keeps_its_order() {
        let exec = Executor::new("t", 8).with_lanes(2, None);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let (running, peak, order) = (running.clone(), peak.clone(), order.clone());
                exec.submit_in_lane(
                    move |done| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        order.lock().unwrap().push(i);
                        std::thread::sleep(Duration::from_millis(1));
                        running.fetch_sub(1, Ordering::SeqCst);
                        done.complete(Ok(i));
                    },
                    true,
                    lane("a"),
                )
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.result().unwrap(), i);
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        // Jobs are admitted in order, two at a time: when job i starts, all but at most one of
        // the jobs before it have finished, so they started before it. (A job admitted but
        // descheduled before it records its start may be passed by any number of later ones;
        // that is no breach of the order, so it is not checked.)
        let order = order.lock().unwrap();
        for (pos, &i) in order.iter().enumerate() {
            let earlier = order[..pos].iter().filter(|&&j| j < i).count();
            assert!(
                earlier + 1 >= i,
                "job {i} started after {earlier} earlier ones: {order:?}"
            );
        }
    }

    #[test]
    fn a_saturated_lane_holds_no_worker() {
        let exec = Executor::new("t", 4).with_lanes(1, None);
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let blocked: Vec<_> = (0..10)
            .map(|_| {
                let wait = wait.clone();
                exec.submit_in_lane(
                    move |done| done.complete(Ok(wait.recv().is_ok())),
                    false,
                    lane("slow"),
                )
            })
            .collect();
        // Ten jobs of the slow lane are queued, one runs; the other lanes still get workers.
        for i in 0..20 {
            let key = if i % 2 == 0 { "b" } else { "c" };
            let p = exec.submit_in_lane(move |done| done.complete(Ok(i)), false, lane(key));
            assert_eq!(p.result().unwrap(), i);
        }
        let unlaned = exec.submit_in_lane(|done| done.complete(Ok(7)), false, None);
        assert_eq!(unlaned.result().unwrap(), 7);
        for _ in 0..10 {
            release.send(()).unwrap();
        }
        for p in blocked {
            assert!(p.result().unwrap());
        }
    }

    /// A gate that refuses every start until `open`.
    struct Until(Instant);

    impl Gate for Until {
        fn try_start(&self, _: &str, now: Instant) -> Result<(), Instant> {
            if now >= self.0 {
                Ok(())
            } else {
                Err(self.0)
            }
        }
    }

    /// When the system refused the timer's thread, the lane stayed marked as waiting for a
    /// wake-up that never came: its parked jobs never started.
    #[test]
    fn a_closed_gate_opens_without_a_timer_thread() {
        let open = Instant::now() + Duration::from_millis(200);
        let exec = Executor::new("t", 2).with_lanes(1, Some(Arc::new(Until(open))));
        let timer = &exec.lanes_for_test().unwrap().timer;
        timer.refuse_thread.store(true, Ordering::Release);
        let mut first =
            exec.submit_in_lane(|done| done.complete(Ok(Instant::now())), true, lane("a"));
        let started = first.result_timeout(Duration::from_secs(5));
        let started = started.expect("the lane never opened").unwrap();
        assert!(started >= open, "started {:?} early", open - started);
        assert!(!timer.state.lock().unwrap().started);
        // The worker took the wake-up that stood in for the timer: none is counted as queued.
        assert_eq!(exec.lanes_for_test().unwrap().queued_wakes(), 0);
        assert_eq!(exec.waiting(), 0);
    }

    #[test]
    fn a_closed_gate_parks_jobs_until_its_time() {
        let open = Instant::now() + Duration::from_millis(300);
        let exec = Executor::new("t", 4).with_lanes(usize::MAX, Some(Arc::new(Until(open))));
        let handles: Vec<_> = (0..6)
            .map(|_| exec.submit_in_lane(|done| done.complete(Ok(Instant::now())), true, lane("a")))
            .collect();
        let free = exec.submit_in_lane(|done| done.complete(Ok(Instant::now())), true, lane("b"));
        assert!(free.result().is_ok());
        for h in handles {
            let started = h.result().unwrap();
            assert!(started >= open, "started {:?} early", open - started);
        }
    }

    /// A job of a paused lane that reached the lane after the executor was dropped, its handle
    /// gone, left the lane waiting for the pause's wake-up: the lanes kept the queue, and with
    /// it the workers and the timer, until the pause ended (a minute, after a 429).
    #[test]
    fn a_dropped_executor_lets_go_when_a_late_job_of_a_paused_lane_is_dropped() {
        let open = Instant::now() + Duration::from_secs(60);
        let exec = Executor::new("t", 2).with_lanes(1, Some(Arc::new(Until(open))));
        let parked = exec.submit_in_lane(|done| done.complete(Ok(())), true, lane("a"));
        while exec.queued() > 0 {
            std::thread::yield_now();
        }
        // Both workers busy: the next job of the lane stays in the queue, not yet arrived.
        let (started, running) = crossbeam_channel::unbounded::<()>();
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let busy: Vec<_> = (0..2)
            .map(|_| {
                let (started, wait) = (started.clone(), wait.clone());
                exec.submit_in_lane(
                    move |done| {
                        started.send(()).unwrap();
                        done.complete(Ok(wait.recv().is_ok()))
                    },
                    false,
                    None,
                )
            })
            .collect();
        for _ in 0..2 {
            running.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        let late = exec.submit_in_lane(|done| done.complete(Ok(())), true, lane("a"));
        let lanes = Arc::clone(exec.lanes_for_test().unwrap());
        drop((parked, late));
        drop(exec);
        for _ in 0..2 {
            release.send(()).unwrap();
        }
        for b in busy {
            assert!(b.result().unwrap());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while lock(&lanes.queue).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            lock(&lanes.queue).is_none(),
            "the lanes still hold the queue: {} lane(s) left",
            lock(&lanes.state).lanes.len()
        );
    }

    /// A job parked in a paused lane, its handle live when the executor is dropped, then
    /// cancelled (`cancel`) or its handle dropped: the lanes heard of it only at the pause's
    /// wake-up, and kept the queue (with it the workers and the timer) until then.
    fn a_dropped_executor_lets_go_of_a_parked_job_later(cancel: bool) {
        let open = Instant::now() + Duration::from_secs(60);
        let exec = Executor::new("t", 2).with_lanes(1, Some(Arc::new(Until(open))));
        let lanes = Arc::clone(exec.lanes_for_test().unwrap());
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let parked = exec.submit_in_lane(
            move |done| {
                r.fetch_add(1, Ordering::SeqCst);
                done.complete(Ok(()))
            },
            true,
            lane("a"),
        );
        assert!(
            wait_parked(&lanes, "a", 1),
            "the job never reached its lane"
        );
        drop(exec);
        assert!(
            lock(&lanes.queue).is_some(),
            "a live handle's job was let go of"
        );
        if cancel {
            assert!(parked.cancel());
            assert!(matches!(parked.result(), Err(Error::Cancelled)));
        } else {
            drop(parked);
        }
        assert!(
            lock(&lanes.queue).is_none(),
            "the lanes still hold the queue: {} lane(s) left",
            lock(&lanes.state).lanes.len()
        );
        assert!(lock(&lanes.timer.state).closed, "the timer still runs");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_dropped_executor_lets_go_when_a_parked_job_is_cancelled_after_the_drop() {
        a_dropped_executor_lets_go_of_a_parked_job_later(true);
    }

    #[test]
    fn a_dropped_executor_lets_go_when_a_parked_job_loses_its_handle_after_the_drop() {
        a_dropped_executor_lets_go_of_a_parked_job_later(false);
    }

    /// Waits (10 s at most) until `n` jobs are parked in lane `key`; whether they are.
    fn wait_parked(lanes: &Lanes, key: &str, n: usize) -> bool {
        let parked_now = || {
            let state = lock(&lanes.state);
            state.lanes.get(key).is_some_and(|l| l.parked.len() == n)
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !parked_now() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        parked_now()
    }

    /// Of many jobs parked in a lane of a dropped executor, the lanes let go only once the last
    /// live one is gone, in whatever order they go.
    #[test]
    fn a_dropped_executor_keeps_a_lane_until_its_last_parked_job_goes() {
        let open = Instant::now() + Duration::from_secs(60);
        let exec = Executor::new("t", 2).with_lanes(1, Some(Arc::new(Until(open))));
        let lanes = Arc::clone(exec.lanes_for_test().unwrap());
        let mut parked: Vec<_> = (0..6)
            .map(|_| Some(exec.submit_in_lane(|done| done.complete(Ok(())), true, lane("a"))))
            .collect();
        assert!(
            wait_parked(&lanes, "a", 6),
            "the jobs never reached their lane"
        );
        drop(exec);
        // The first, some behind a live one, then the live one: the lane stays until the last.
        for i in [0, 3, 2, 5, 1] {
            assert!(parked[i].take().unwrap().cancel());
            assert!(
                lock(&lanes.queue).is_some(),
                "let go with a live job parked"
            );
        }
        drop(parked[4].take());
        assert!(
            lock(&lanes.queue).is_none(),
            "the lanes still hold the queue"
        );
    }

    #[test]
    fn shutdown_resolves_parked_jobs() {
        let exec = Executor::new("t", 2).with_lanes(1, None);
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let running = exec.submit_in_lane(
            move |done| done.complete(Ok(wait.recv().is_ok())),
            false,
            lane("a"),
        );
        let parked: Vec<_> = (0..3)
            .map(|i| exec.submit_in_lane(move |done| done.complete(Ok(i != 0)), false, lane("a")))
            .collect();
        // Wait until a worker has parked them (the queue is empty).
        while exec.queued() > 0 {
            std::thread::yield_now();
        }
        exec.shutdown();
        for p in parked {
            assert!(matches!(p.result(), Err(Error::ShutDown)));
        }
        drop(release);
        assert!(!running.result().unwrap());
    }

    /// Cancelled jobs of a lane while every worker is held left their entries in the queue
    /// (see `exec::pool`'s "Spent entries"); a sweep takes them out and tells their lane, so
    /// that the lane's live jobs still run, in order, and the lane takes new ones.
    #[test]
    fn swept_entries_of_a_lane_are_told_to_the_lane() {
        let exec = Executor::new("t", 1).with_lanes(1, None);
        let (held, release) = held(&exec, None);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (mut live, mut most, mut waiting) = (Vec::new(), 0, 0);
        // A live job first: the cancelled ones after it reach the lane before it does.
        for i in 0..20_000u32 {
            let seen = Arc::clone(&order);
            let job = exec.submit_in_lane(
                move |done| {
                    lock(&seen).push(i);
                    done.complete(Ok(i))
                },
                false,
                lane("a"),
            );
            if i % 1000 == 0 {
                live.push(job);
            } else {
                assert!(job.cancel());
            }
            most = most.max(exec.queued());
            waiting = waiting.max(exec.waiting());
        }
        assert!(most <= 2048 + 1, "{most} entries in the queue");
        // Nor do their slots wait in the lane for their turn, nor count as waiting.
        assert!(waiting <= 2048 + 20, "{waiting} jobs said to wait");
        release.send(()).unwrap();
        assert!(held.result().unwrap());
        for job in live {
            job.result().unwrap();
        }
        let want: Vec<u32> = (0..20).map(|i| i * 1000).collect();
        assert_eq!(*lock(&order), want);
        let next = exec.submit_in_lane(|done| done.complete(Ok(7)), false, lane("a"));
        assert_eq!(next.result().unwrap(), 7);
    }

    /// Behind a job that runs for long, jobs of its lane that waited there and were cancelled
    /// stayed until the lane's next turn, each with its slot (5,000 cancels, 5,000 said to
    /// wait, with none live); the lane takes them out as cancels come.
    #[test]
    fn cancelled_jobs_do_not_pile_up_behind_a_long_one() {
        let exec = Executor::new("t", 2).with_lanes(1, None);
        let (long, release) = held(&exec, lane("a"));
        let (mut most, lanes) = (0, exec.lanes_for_test().unwrap());
        for _ in 0..5_000 {
            let before = lanes.parked();
            let job = exec.submit_in_lane(|done| done.complete(Ok(false)), false, lane("a"));
            // The idle worker takes it to the lane, where it waits behind the long one.
            until_parked(lanes, before);
            assert!(job.cancel());
            most = most.max(exec.waiting());
        }
        assert!(most <= 2 * MIN_COMPACT, "{most} jobs said to wait");
        release.send(()).unwrap();
        assert!(long.result().unwrap());
        let next = exec.submit_in_lane(|done| done.complete(Ok(true)), false, lane("a"));
        assert!(next.result().unwrap());
    }

    /// The same behind a long job for jobs that a worker waiting for them ran itself: each
    /// stayed in the lane, with its slot, until the lane's next turn.
    #[test]
    fn jobs_run_by_their_waiter_do_not_pile_up_behind_a_long_one() {
        let exec = Arc::new(Executor::new("t", 3).with_lanes(1, None));
        let (long, release) = held(&exec, lane("a"));
        let e = Arc::clone(&exec);
        let waiter = exec.submit_in_lane(
            move |done| {
                let mut most = 0;
                let lanes = e.lanes_for_test().unwrap();
                for i in 0..500u32 {
                    let before = lanes.parked();
                    let job = e.submit_in_lane(move |d| d.complete(Ok(i)), true, lane("a"));
                    // An idle worker takes it to the lane, where it waits behind the long one.
                    until_parked(lanes, before);
                    assert_eq!(job.result().ok(), Some(i)); // run here
                    most = most.max(e.waiting());
                }
                done.complete(Ok(most));
            },
            false,
            None,
        );
        let most = waiter.result().unwrap();
        assert!(most <= 2 * MIN_COMPACT, "{most} jobs said to wait");
        release.send(()).unwrap();
        assert!(long.result().unwrap());
    }

    #[test]
    fn numbers_of_gone_jobs_merge_into_ranges_and_are_passed_over() {
        let mut lane = Lane::default();
        for seq in [5, 7, 6, 9, 3] {
            lane.mark_gone(seq);
        }
        let ranges: Vec<(u64, u64)> = lane.gone.iter().map(|(&s, &e)| (s, e)).collect();
        assert_eq!(ranges, [(3, 4), (5, 8), (9, 10)]);
        lane.arrived = 3;
        lane.skip_gone();
        assert_eq!(lane.arrived, 4, "stops where a number is still to come");
        // 4 merges with 5..8.
        lane.mark_gone(4);
        assert_eq!(lane.gone.get(&4), Some(&8));
        lane.skip_gone();
        assert_eq!(lane.arrived, 8);
        lane.mark_gone(8);
        lane.skip_gone();
        assert_eq!((lane.arrived, lane.gone.len()), (10, 0));
    }

    #[test]
    fn a_cancelled_parked_job_never_runs() {
        let exec = Executor::new("t", 2).with_lanes(1, None);
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let ran = Arc::new(AtomicUsize::new(0));
        let first = exec.submit_in_lane(
            move |done| done.complete(Ok(wait.recv().is_ok())),
            false,
            lane("a"),
        );
        let r = ran.clone();
        let second = exec.submit_in_lane(
            move |done| {
                r.fetch_add(1, Ordering::SeqCst);
                done.complete(Ok(true))
            },
            false,
            lane("a"),
        );
        assert!(second.cancel());
        release.send(()).unwrap();
        assert!(first.result().unwrap());
        let third = exec.submit_in_lane(|done| done.complete(Ok(true)), false, lane("a"));
        assert!(third.result().unwrap());
        assert!(matches!(second.result(), Err(Error::Cancelled)));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
