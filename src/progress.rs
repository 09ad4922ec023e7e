//! `Progress`: how much of a response body a job has read, or of its request body it has sent,
//! for progress bars.
//!
//! The counters live inside the job's slot (two atomics, no allocation of their own), written by
//! the worker as the body arrives and read by [`Pending::progress`](crate::Pending::progress)
//! from any thread. A job that reads no body leaves them at zero.
//!
//! Cost on the hot path: one relaxed atomic store per read of the body (a read moves up to
//! tens of KiB, so this is noise beside the syscall), and one more when the headers are in.
//! Relaxed ordering is enough: the two numbers are independent gauges, and a reader that sees
//! `done` a read behind is only a frame behind on its progress bar.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

/// How much of a response body a job has read, or of its request body it has sent: what a
/// progress bar needs.
///
/// Returned by [`Pending::progress`](crate::Pending::progress) for the response body: `done`
/// counts the body's bytes as the caller will get them (after any content decoding); `total`
/// is the length the server announced with `Content-Length`, `None` when it announced none (a
/// chunked or compressed body) or while the headers are not in yet. A job that reads no body
/// (such as a [`submit`](crate::FuturesSession::submit) closure) stays at
/// `done: 0, total: None`. And by [`Pending::upload_progress`](crate::Pending::upload_progress)
/// for the request body: `done` counts the bytes sent, `total` is the body's length.
///
/// # Examples
///
/// ```
/// use ureq_futures::Progress;
///
/// let p = Progress { done: 250, total: Some(1000) };
/// assert_eq!(p.fraction(), Some(0.25));
/// assert_eq!(Progress { done: 250, total: None }.fraction(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Body bytes read so far.
    pub done: u64,
    /// The body's announced length, if any.
    pub total: Option<u64>,
}

impl Progress {
    /// `done / total` between 0.0 and 1.0, when the total is known (and 1.0 for an empty body).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::Progress;
    ///
    /// let p = Progress { done: 3_000, total: Some(4_000) };
    /// println!("{:.0}%", p.fraction().unwrap_or(0.0) * 100.0);
    /// assert_eq!(p.fraction(), Some(0.75));
    /// assert_eq!(Progress { done: 0, total: Some(0) }.fraction(), Some(1.0)); // an empty body
    /// assert_eq!(Progress { done: 10, total: None }.fraction(), None); // no Content-Length
    /// ```
    pub fn fraction(&self) -> Option<f64> {
        match self.total {
            Some(0) => Some(1.0),
            Some(total) => Some((self.done.min(total) as f64) / total as f64),
            None => None,
        }
    }
}

/// `total` when no length was announced.
const UNKNOWN: u64 = u64::MAX;

/// The shared counters behind [`Progress`]: written by the worker, read by the handle.
#[derive(Debug)]
pub(crate) struct ProgressCounter {
    done: AtomicU64,
    total: AtomicU64,
}

impl Default for ProgressCounter {
    fn default() -> Self {
        ProgressCounter {
            done: AtomicU64::new(0),
            total: AtomicU64::new(UNKNOWN),
        }
    }
}

impl ProgressCounter {
    /// Starts a body of the announced length: `done` goes back to 0 (a retried attempt starts
    /// over).
    pub(crate) fn start(&self, total: Option<u64>) {
        self.done.store(0, Ordering::Relaxed);
        // An announced length of u64::MAX reads as unknown: no body is that long.
        self.total
            .store(total.unwrap_or(UNKNOWN), Ordering::Relaxed);
    }

    /// Adds `n` bytes read.
    pub(crate) fn add(&self, n: u64) {
        // Only the job's own thread writes, so a load and a store suffice (no read-modify-write
        // instruction on the hot path).
        let done = self.done.load(Ordering::Relaxed);
        self.done.store(done.saturating_add(n), Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> Progress {
        let total = self.total.load(Ordering::Relaxed);
        Progress {
            done: self.done.load(Ordering::Relaxed),
            total: (total != UNKNOWN).then_some(total),
        }
    }
}

/// A reader that counts what passes through it into a [`ProgressCounter`].
pub(crate) struct Counted<'a, R> {
    pub(crate) inner: R,
    pub(crate) counter: &'a ProgressCounter,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.add(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_is_read_and_restarts_per_body() {
        let counter = ProgressCounter::default();
        assert_eq!(counter.get(), Progress::default());
        counter.start(Some(10));
        let mut reader = Counted {
            inner: &b"hello world"[..],
            counter: &counter,
        };
        let mut buf = [0; 4];
        reader.read_exact(&mut buf).unwrap();
        assert_eq!(
            counter.get(),
            Progress {
                done: 4,
                total: Some(10)
            }
        );
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        assert_eq!(counter.get().done, 11);
        counter.start(None);
        assert_eq!(counter.get(), Progress::default());
    }

    #[test]
    fn fraction_is_bounded() {
        let over = Progress {
            done: 20,
            total: Some(10),
        };
        assert_eq!(over.fraction(), Some(1.0));
        let empty = Progress {
            done: 0,
            total: Some(0),
        };
        assert_eq!(empty.fraction(), Some(1.0));
    }
}
