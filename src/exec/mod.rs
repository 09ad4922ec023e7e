//! The executor: a queue, worker threads, and the [`Pending`] handles of the jobs they run.
//!
//! Nothing here knows about HTTP. A job is a closure that resolves its handle through a
//! [`Completer`](slot::Completer) and carries whatever it needs; the session (`crate::session`)
//! gives each request job its agent and settings.
//!
//! * [`slot`]: one job and its outcome, and the claim that decides who runs or drops it.
//! * [`pending`]: the handle and the helpers that wait on many handles.
//! * [`job`]: the running job, and how a cancel interrupts it.
//! * [`pool`]: the queue, the worker threads, shutdown.
//! * [`lanes`]: the admission step of jobs that share a key (at most N running, a gate).

pub(crate) mod job;
pub(crate) mod lanes;
pub(crate) mod pending;
pub(crate) mod pool;
pub(crate) mod slot;

pub(crate) use job::{
    current_job, current_job_id, is_cancelled, sleep, Cancelled, Entered, Hold, Interrupt,
    JobHandle, JobWatch,
};
pub(crate) use pending::recv_or_recheck;
pub use pending::{as_completed, wait_all, wait_any, AsCompleted, Pending};
pub(crate) use pool::{on_a_worker, Executor};
pub(crate) use slot::{panic_message, Completer};
