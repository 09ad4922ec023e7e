//! `RetryPolicy`: opt-in retries of failed attempts, with exponential backoff and jitter.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::http;

use crate::cookies::parse_date;
use crate::phase::{attempts_note, Stopped};
use crate::timeout::Human;
use crate::Error;

/// Retries of failed attempts; off unless set on the session or the request.
///
/// | setting | default |
/// |---|---|
/// | [`attempts`](RetryPolicy::attempts) | 3 (the first try and two retries) |
/// | [`base_delay`](RetryPolicy::base_delay) | 200 ms |
/// | [`max_delay`](RetryPolicy::max_delay) | 10 s: the longest backoff |
/// | [`max_retry_after`](RetryPolicy::max_retry_after) | 60 s: the longest server-given wait |
/// | [`non_idempotent`](RetryPolicy::non_idempotent) | `false`: POST and PATCH are not retried (but for a request that never reached the server, below) |
/// | [`statuses`](RetryPolicy::statuses) | 429, 502, 503, 504 |
/// | [`on_retry`](RetryPolicy::on_retry) | none: retries are silent |
///
/// # What is retried, and what never is
///
/// An attempt is retried when it failed in a way a later attempt can fix: a connection that
/// could not be made or broke before the response arrived (a stale pooled connection looks like
/// that), a proxy that could not open the tunnel (no answer to the `CONNECT`, or 429, 502,
/// 503, 504; a 407 or 403 is not retried), an answer that does not parse as HTTP, a timeout
/// before the response, or a status of 429, 502, 503 or 504. Only idempotent
/// requests are retried unless the caller allows others with [`RetryPolicy::non_idempotent`]:
/// a POST that failed mid-way may have taken effect. One that never reached the server (its
/// host's name did not resolve, the connection or an HTTP proxy's tunnel could not be made,
/// before any redirect) took no effect and is retried whatever its method, as urllib3 retries a
/// connect error, unless its body is a reader's, which cannot be sent twice, or it is marked
/// `idempotent(false)`, which rules out every retry. On an agent given to
/// [`SessionBuilder::agent`](crate::SessionBuilder::agent), whose writes the session does not
/// see, only a connect or a name lookup that ran out of time counts as such. A request is idempotent by its method
/// (GET, HEAD, PUT, DELETE, OPTIONS, TRACE), or by the caller's word on it,
/// [`RequestBuilder::idempotent`](crate::RequestBuilder::idempotent): a GET marked
/// `idempotent(false)` is not retried, a POST marked `idempotent(true)` is.
///
/// A server's `x-should-retry` header, which OpenAI's and Anthropic's APIs send, decides before
/// the status, as in their official SDKs: `true` retries any answer that is not a success (2xx),
/// whatever its status; `false` retries none. Other values are ignored. The number of attempts,
/// the method rule and the waits below still apply.
///
/// A retry starts from the first request again, redirects and all, but for one that failed
/// after a redirect turned it into a request without its body (a 303, or a 301 or 302 to a
/// POST): the server took the body then, and the retry sends the request that failed (the
/// redirect's GET), as urllib3's retries are a hop's. Which requests are retried is still
/// decided by the request as made.
///
/// An answer read whole ([`send`](crate::RequestBuilder::send), and the LLM clients'
/// embeddings) whose body breaks off or stalls midway (a reset, a connection closed short of
/// its length, a `read_timeout`) is a failed attempt too: none of it reached the caller, so it
/// is retried under the same rules, the attempts counted with the others, from the request as
/// made. A request that only [`RetryPolicy::non_idempotent`] makes retryable is not sent again
/// when that answer came from a redirect, which may have been a 303 after the server took the
/// body (mark it [`idempotent(true)`](crate::RequestBuilder::idempotent) if that does no
/// harm). A body too large, or one that does not decode, is no failure a retry mends; and an
/// answer whose status the policy retries but gave up on (its attempts spent, a `Retry-After`
/// past `max_retry_after`), or one that is no success whose server said `x-should-retry: false`,
/// is the request's outcome, its body's failure with it.
///
/// A [`download`](crate::RequestBuilder::download) whose body is cut midway is resumed under
/// the policy rather than sent again: the rest is asked for from where it stopped (`Range`,
/// with `If-Range`), each resume an attempt (see
/// [`RequestBuilder::download`](crate::RequestBuilder::download)).
///
/// Retries happen on the worker, before the handle resolves. For an event stream that means
/// before the stream is handed to the caller: once its first byte may have reached the caller, a
/// stream is never re-sent (use [`EventSource`](crate::EventSource) to reconnect GET streams).
///
/// # How long it waits
///
/// The backoff before attempt `n + 1` is `base_delay * 2^(n-1)` with ±20% jitter, never more
/// than `max_delay` (near the cap, waits spread between 2/3 of `max_delay` and `max_delay`).
///
/// A wait the server gives replaces the backoff when it is longer: `retry-after-ms`
/// (milliseconds, as OpenAI and Anthropic send it), else `Retry-After`, in seconds (`1.5`
/// included) or as an HTTP date (IMF-fixdate, RFC 850 or asctime). It is waited out in full,
/// past `max_delay`, up to [`max_retry_after`](RetryPolicy::max_retry_after) (60 s). A Google
/// API (Gemini) gives its wait in the JSON body of a 429 or 503 instead, as the `retryDelay`
/// of a `google.rpc.RetryInfo` detail, and no header: the [`Error::Status`] made of such an
/// answer carries it as `retry-after-ms`, which whoever retries the error waits (an LLM
/// `ChatBatch`, an [`EventSource`](crate::EventSource)). A request's own retries decide on the
/// headers and wait the backoff; on a session with a [`RateLimiter`](crate::RateLimiter), the
/// start of such a refusal's body is read before its retry, and its wait pauses the origin,
/// which the retry then waits out too (as every other request to the origin does).
///
/// A wait shorter than the backoff (a server that says when its next token comes:
/// `retry-after-ms: 1`) gets the backoff: waited as asked, every request the server refused at
/// once would come back at once, to meet the same refusal, until its attempts ran out. A
/// server that asks for longer than `max_retry_after` gets no retry: its answer, with its
/// `Retry-After`, goes to the caller at once, because retrying sooner than the server asked
/// only earns another 429 and spends an attempt. A wait of zero (`Retry-After: 0`,
/// `retry-after-ms: 0`, a date already past) counts as none: the backoff applies, as in the
/// official OpenAI and Anthropic SDKs.
///
/// A retry whose wait would end past the request's
/// [`timeout`](crate::RequestBuilder::timeout) is not made: the last answer or error is
/// returned at once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ureq_futures::{FuturesSession, RetryPolicy};
///
/// let session = FuturesSession::builder()
///     .retry(RetryPolicy::new().attempts(5).base_delay(Duration::from_millis(100)))
///     .build();
/// # let _ = session;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
    non_idempotent: bool,
    /// The statuses retried; `None` for the default four.
    statuses: Option<Vec<u16>>,
    on_retry: Option<OnRetry>,
}

/// An attempt that failed and is to be made again, as a [`RetryPolicy::on_retry`] callback
/// gets it.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let url = doc::serve_status("503 Service Unavailable", "", "{}");
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use ureq_futures::{FuturesSession, RetryPolicy};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let policy = RetryPolicy::new()
///     .base_delay(Duration::from_millis(1))
///     .on_retry(move |event| log.lock().unwrap().push(event.clone()));
/// let session = FuturesSession::builder().retry(policy).build();
/// let answer = session.get(&url).send().result()?; // a 503 each time: 3 attempts
/// assert_eq!(answer.status(), 503);
/// let seen = seen.lock().unwrap();
/// assert_eq!(seen.len(), 2); // before the second and the third
/// assert_eq!((seen[1].attempt, seen[1].attempts), (2, 3));
/// assert_eq!(seen[0].reason, "503 Service Unavailable");
/// assert!(seen[0].to_string().starts_with("retry: attempt 1 of 3 to http://"));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryEvent {
    /// The URL the attempt went to, without the secrets it may hold (see
    /// [`redact_url`](crate::redact_url)).
    pub url: String,
    /// The attempt that failed: 1 for the first. A download's resumes are numbered apart
    /// from its first request's retries: 1 is the download's first read, cut.
    pub attempt: u32,
    /// The most attempts the policy makes ([`RetryPolicy::attempts`]).
    pub attempts: u32,
    /// How long until the next attempt: the server's `Retry-After`, or the backoff.
    pub wait: Duration,
    /// What failed: the answer's status (`429 Too Many Requests`), or the error's message.
    pub reason: String,
}

impl fmt::Display for RetryEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retry: attempt {} of {} to {} failed ({}); the next in {}",
            self.attempt,
            self.attempts,
            self.url,
            self.reason,
            Human(self.wait)
        )
    }
}

/// A [`RetryPolicy::on_retry`] callback: policies are equal when they share it.
#[derive(Clone)]
struct OnRetry(Arc<dyn Fn(&RetryEvent) + Send + Sync>);

impl PartialEq for OnRetry {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for OnRetry {}

// The policy holds no state that a panic in the callback could leave broken (what the callback
// captures is the caller's to guard, as with any closure), and such a panic fails the attempt's
// job, which catches it: a `RetryPolicy` stays unwind-safe, as it was before it had a callback.
impl std::panic::UnwindSafe for OnRetry {}
impl std::panic::RefUnwindSafe for OnRetry {}

impl fmt::Debug for OnRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnRetry(..)")
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new()
    }
}

/// What to do after a failed attempt.
pub(crate) enum Verdict {
    /// Give up: hand this outcome to the caller.
    Stop,
    /// Wait this long, then try again.
    RetryAfter(Duration),
}

impl RetryPolicy {
    /// The defaults in the table above.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new().attempts(5);
    /// ```
    pub fn new() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            non_idempotent: false,
            on_retry: None,
            statuses: None,
        }
    }

    /// The policy of the official LLM SDKs (OpenAI's and Anthropic's), the LLM clients'
    /// default: 3 attempts (2 retries), 500 ms doubling up to 8 s, POST retried, on 408, 409,
    /// 429 and every 5xx (529 is Anthropic's "overloaded"; 520-524 a CDN's answer when the
    /// API behind it failed) and on connection errors.
    /// A stream is retried only before its first byte is read, never after. A server's wait of
    /// more than 60 s ([`max_retry_after`](RetryPolicy::max_retry_after)) ends the retries,
    /// where the SDKs would retry after their own, shorter backoff.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RetryPolicy;
    ///
    /// let fewer = RetryPolicy::llm().attempts(2);
    /// assert_ne!(fewer, RetryPolicy::llm());
    /// ```
    pub fn llm() -> Self {
        RetryPolicy::new()
            .base_delay(Duration::from_millis(500))
            .max_delay(Duration::from_secs(8))
            .non_idempotent(true)
            .statuses([408, 409, 429].into_iter().chain(500..=599))
    }

    /// The statuses that are retried, in place of the default 429, 502, 503 and 504.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RetryPolicy;
    ///
    /// // Also retry 500 and 529 (an overloaded server), but not 502.
    /// let policy = RetryPolicy::new().statuses([429, 500, 503, 504, 529]);
    /// assert_ne!(policy, RetryPolicy::new());
    /// ```
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.statuses = Some(statuses.into_iter().collect());
        self
    }

    /// Whether an answer with `status` is retried.
    pub(crate) fn retries_status(&self, status: u16) -> bool {
        match &self.statuses {
            Some(statuses) => statuses.contains(&status),
            None => is_retryable_status(status),
        }
    }

    /// No retries: one attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{FuturesSession, RetryPolicy};
    ///
    /// let session = FuturesSession::builder().retry(RetryPolicy::none()).build();
    /// ```
    pub fn none() -> Self {
        RetryPolicy::new().attempts(1)
    }

    /// Attempts in all, the first one included; at least 1. Defaults to 3. When the last of
    /// several attempts fails with a network error or a timeout, or answers with a status this
    /// policy retries (made an error by `error_for_status` or a stream), its message ends with
    /// how many were made: `(after 3 attempts, the most RetryPolicy::attempts allows)`, or, when the
    /// request's [`timeout`](crate::RequestBuilder::timeout) ended the retries first,
    /// `(after 1 attempt; a retry would start past the 10 s timeout)`, or `(after 1 attempt; the
    /// origin's next turn at the rate limiter (its pace, or a pause after a 429) comes past the
    /// 10 s timeout)` when the retry's turn at the session's
    /// [`RateLimiter`](crate::RateLimiter) would come too late.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RetryPolicy;
    ///
    /// // The first try and up to two retries.
    /// let policy = RetryPolicy::new().attempts(3);
    /// ```
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }

    /// The wait before the first retry; it doubles for each later one. Defaults to 200 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new().base_delay(Duration::from_millis(200));
    /// ```
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// The longest backoff between attempts. Defaults to 10 s. A wait the server gives is not
    /// cut to it: see [`max_retry_after`](RetryPolicy::max_retry_after).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new().max_delay(Duration::from_secs(10));
    /// ```
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// The longest wait a server may ask for (`retry-after-ms`, `Retry-After`) and still get a
    /// retry, after that wait in full. Defaults to 60 s.
    ///
    /// A server that asks for longer gets no retry: its answer, with its `Retry-After`, goes to
    /// the caller at once, to wait or give up. Retrying sooner than the server asked would only
    /// earn another 429 (or 503) and spend an attempt. `Duration::MAX` takes the cap off: a
    /// request then waits as long as any server asks, a day or for ever (a `timeout` on the
    /// request, or a cancel, still ends the wait).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("429 Too Many Requests", "retry-after: 120\r\n", "{}");
    /// use std::time::Duration;
    /// use ureq_futures::{FuturesSession, RetryPolicy};
    ///
    /// // The server asks for 2 minutes, more than the default 60 s: no retry, the 429 is
    /// // returned at once.
    /// let session = FuturesSession::builder().retry(RetryPolicy::new()).build();
    /// let resp = session.get(format!("{base}/")).send().result()?;
    /// assert_eq!((resp.status(), resp.header("retry-after")), (429, Some("120")));
    ///
    /// // Wait out pauses of up to 5 minutes.
    /// let patient = RetryPolicy::new().max_retry_after(Duration::from_secs(300));
    /// # let _ = patient;
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Also retry methods that are not idempotent (POST, PATCH), for APIs where repeating a
    /// request is safe. Defaults to `false`. A request marked
    /// [`idempotent(false)`](crate::RequestBuilder::idempotent) is still not retried.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RetryPolicy;
    ///
    /// // Also retry POST and PATCH (only if the server is known to deduplicate).
    /// let policy = RetryPolicy::new().non_idempotent(true);
    /// ```
    pub fn non_idempotent(mut self, yes: bool) -> Self {
        self.non_idempotent = yes;
        self
    }

    /// Calls `callback` before each wait for another attempt, with the attempt that failed, why
    /// and how long the wait is: to show that a request is not stuck while it waits out a
    /// server's `Retry-After`, or to count retries. It runs on the thread that made the
    /// attempt (a worker, for a session's requests), so keep it short. It hears a request's
    /// own retries (an LLM client's included) and a download's resumes, not the retries of an
    /// LLM `ChatBatch` (whose results count them) nor an
    /// [`EventSource`](crate::EventSource)'s reconnections. It is called before the wait: a
    /// cancel during the wait, or a turn at the rate limiter that comes past the request's
    /// `timeout` after it, ends the request without the attempt it announced. Two policies
    /// with callbacks are equal only when they share one (clones of a policy). Defaults to
    /// none.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RetryPolicy;
    ///
    /// let policy = RetryPolicy::llm().on_retry(|event| eprintln!("{event}"));
    /// assert_ne!(policy, RetryPolicy::llm());
    /// ```
    pub fn on_retry(mut self, callback: impl Fn(&RetryEvent) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(OnRetry(Arc::new(callback)));
        self
    }

    /// Tells the [`on_retry`](RetryPolicy::on_retry) callback, if any, that attempt number
    /// `attempt` to `url` failed for `reason` and that the next comes after `wait`; the URL and
    /// the reason are made text only when there is a callback.
    pub(crate) fn notify(
        &self,
        url: &dyn fmt::Display,
        attempt: u32,
        wait: Duration,
        reason: impl FnOnce() -> String,
    ) {
        if let Some(OnRetry(callback)) = &self.on_retry {
            callback(&RetryEvent {
                url: crate::redact_url(&url.to_string()),
                attempt,
                attempts: self.attempts,
                wait,
                reason: reason(),
            });
        }
    }

    /// Whether a request with `method` may be retried at all. `mark` is the caller's word on
    /// the request ([`RequestBuilder::idempotent`](crate::RequestBuilder::idempotent)), which
    /// decides instead of the method when given.
    pub(crate) fn allows(&self, method: &http::Method, mark: Option<bool>) -> bool {
        // The caller's word on the request wins over the policy's for every request: a
        // `non_idempotent` policy does not retry a POST marked `idempotent(false)`.
        let idempotent =
            mark.unwrap_or(self.non_idempotent || crate::stale::is_idempotent(method, None));
        self.attempts > 1 && idempotent
    }

    /// The verdict after attempt number `attempt` (1-based) ended with `outcome`.
    /// Attempts in all, the first one included.
    pub(crate) fn max_attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn verdict(
        &self,
        attempt: u32,
        outcome: &Result<http::Response<ureq::Body>, Error>,
    ) -> Verdict {
        let asked = match outcome {
            Ok(resp) if self.retries_answer(resp.status().as_u16(), resp.headers()) => {
                asked_wait(resp.headers())
            }
            Err(e) if is_retryable_error(e) => None,
            _ => return Verdict::Stop,
        };
        self.wait(attempt, asked)
            .map_or(Verdict::Stop, Verdict::RetryAfter)
    }

    /// The wait before another attempt after attempt number `attempt` (1-based) failed with
    /// `e`, a failure the caller retries (`ChatBatch` also retries errors inside a stream): the
    /// server's `Retry-After` when `e` is a status error that has one, else the backoff. `None`
    /// when no attempt is left or the server asked for more than `max_retry_after`.
    pub(crate) fn wait_after(&self, attempt: u32, e: &Error) -> Option<Duration> {
        let asked = match e {
            Error::Status(s) => asked_wait(&s.headers),
            _ => None,
        };
        self.wait(attempt, asked)
    }

    /// The wait before the attempt after `attempt`, given the wait the server `asked` for.
    fn wait(&self, attempt: u32, asked: Option<Duration>) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        match asked {
            // Retrying sooner than the server asked would only earn another refusal.
            Some(wait) if wait > self.max_retry_after => None,
            // Nor sooner than the backoff: a server that asks for a millisecond (the time to its
            // next token) would have every request it refused at once sent again at once, to
            // meet the same refusal, until their attempts ran out.
            Some(wait) => Some(wait.max(self.backoff(attempt))),
            None => Some(self.backoff(attempt)),
        }
    }

    /// Why the answer `resp` to attempt number `attempt` ends the retries although this policy
    /// retries its status, given `why` the caller stops (as a status error shows it: `after 3
    /// attempts, the most RetryPolicy::attempts allows`); `None` when the policy does not retry
    /// it, or when it was the only attempt and no limit cut the retries short.
    pub(crate) fn given_up(
        &self,
        attempt: u32,
        resp: &http::Response<ureq::Body>,
        why: Stopped,
    ) -> Option<String> {
        if !self.retries_answer(resp.status().as_u16(), resp.headers()) {
            return None;
        }
        self.note(attempt, resp.headers(), why)
    }

    /// `e`, the failure of attempt number `attempt` after which this policy allows no more
    /// (its [`wait_after`](RetryPolicy::wait_after) was `None`), with the note a request's own
    /// retries give it (see [`given_up`](RetryPolicy::given_up)): for a caller that retries by
    /// itself (`ChatBatch`). An error the policy does not retry goes as it is.
    #[cfg(feature = "llm")]
    pub(crate) fn gave_up(&self, attempt: u32, e: Error) -> Error {
        if !self.retries(&e) {
            return e;
        }
        let why = if attempt >= self.attempts {
            Stopped::Limit
        } else {
            Stopped::Other
        };
        match e {
            Error::Status(status) => {
                let note = self.note(attempt, &status.headers, why);
                Error::Status(status).retried(note.map(Into::into))
            }
            e if why == Stopped::Limit && attempt > 1 => {
                crate::phase::after_attempts(e, attempt, why)
            }
            e => e,
        }
    }

    /// The note of [`given_up`](RetryPolicy::given_up), for an answer with `headers`.
    fn note(&self, attempt: u32, headers: &http::HeaderMap, why: Stopped) -> Option<String> {
        let asked = asked_wait(headers).filter(|asked| *asked > self.max_retry_after);
        match (why, asked) {
            (Stopped::Budget(_) | Stopped::Turn(_), _) => Some(attempts_note(attempt, why)),
            (Stopped::Limit, _) if attempt > 1 => Some(attempts_note(attempt, why)),
            (Stopped::Other, Some(asked)) => Some(format!(
                "{}; the server asked to wait {} (Retry-After), longer than \
                 RetryPolicy::max_retry_after ({})",
                attempts_note(attempt, Stopped::Other),
                Human(asked),
                Human(self.max_retry_after)
            )),
            _ => None,
        }
    }

    /// Whether a request that failed with `e` is worth another attempt under this policy
    /// (attempts and method aside): a status error as its answer would be, other errors when
    /// they are a failed connection or a timeout.
    pub(crate) fn retries(&self, e: &Error) -> bool {
        match e {
            Error::Status(s) => self.retries_answer(s.status, &s.headers),
            e => is_retryable_error(e),
        }
    }

    /// Whether an answer of `status` is retried: the server's `x-should-retry` first, as in the
    /// official SDKs, then the policy's statuses.
    pub(crate) fn retries_answer(&self, status: u16, headers: &http::HeaderMap) -> bool {
        match should_retry(headers) {
            Some(yes) => yes && !(200..300).contains(&status),
            None => self.retries_status(status),
        }
    }

    /// `base_delay * 2^(attempt-1)` with ±20% jitter, never over `max_delay`.
    fn backoff(&self, attempt: u32) -> Duration {
        jittered_backoff(self.base_delay, attempt, self.max_delay)
    }
}

/// `base * 2^(attempt-1)` with ±20% jitter, never over `cap`. The doubling stops at
/// `cap / 1.2`, so that the jitter still spreads the longest waits (from 2/3 of `cap` to all of
/// it) instead of piling them up at the cap.
fn jittered_backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    jittered(exponential(base, attempt, cap.div_f64(1.2))).min(cap)
}

/// What [`RetryPolicy::notify`] says of an attempt that ended with `outcome`: its status, or
/// its error.
pub(crate) fn outcome_reason(outcome: &Result<http::Response<ureq::Body>, Error>) -> String {
    match outcome {
        Ok(resp) => status_line(resp.status()),
        Err(e) => e.to_string(),
    }
}

/// `429 Too Many Requests`: a status and its reason phrase, if it has one.
pub(crate) fn status_line(status: http::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// `base * 2^(attempt-1)` (just `base` for attempt 0 or 1), capped at `cap`; never overflows.
pub(crate) fn exponential(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(20);
    base.saturating_mul(1 << doublings).min(cap)
}

pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// The server's own verdict: `x-should-retry: true` or `false` (in any case), if it sent one.
pub(crate) fn should_retry(headers: &http::HeaderMap) -> Option<bool> {
    let value = headers.get("x-should-retry")?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Whether an I/O failure is this side's, which no other attempt escapes: a request body's
/// file that cannot be read, or a request this side cannot write (a head line longer than the
/// connection's write buffer, `InvalidInput`: ureq's "output too small").
pub(crate) fn is_local_failure(e: &std::io::Error) -> bool {
    crate::upload::is_local_error(e) || e.kind() == std::io::ErrorKind::InvalidInput
}

/// Failures before a response: the request may not have reached the server, or the server
/// closed a pooled connection under us.
fn is_retryable_error(e: &Error) -> bool {
    match e {
        Error::Io(e) => !is_local_failure(e),
        Error::Timeout(_) => true,
        // An answer that does not parse as HTTP (`HTTP/1.1 abc OK`, bytes that are no HTTP at
        // all) is a server or a proxy that broke, retried as urllib3 retries http.client's
        // `BadStatusLine`: `crate::phase` makes it an `Io` error of the kind `InvalidData`.
        Error::Transport(t) => match t {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
            ureq::Error::ConnectProxyFailed(reason) => {
                crate::phase::transient_proxy_refusal(reason)
            }
            _ => false,
        },
        _ => false,
    }
}

/// The wait the body of a 429 or 503 gives ([`body_retry_delay`]) when `headers` give none:
/// what the limiter and the error's `retry-after-ms` make of a Google API's refusal.
pub(crate) fn body_wait(status: u16, headers: &http::HeaderMap, body: &[u8]) -> Option<Duration> {
    if !matches!(status, 429 | 503) || waits_in_headers(headers) {
        return None;
    }
    body_retry_delay(body)
}

/// Whether `headers` say how long to wait (`Retry-After`, `retry-after-ms`).
pub(crate) fn waits_in_headers(headers: &http::HeaderMap) -> bool {
    let waits = [http::header::RETRY_AFTER.as_str(), "retry-after-ms"];
    waits.iter().any(|h| headers.contains_key(*h))
}

/// `wait` as a `retry-after-ms` value: whole milliseconds, at least 1.
pub(crate) fn wait_ms(wait: Duration) -> http::HeaderValue {
    http::HeaderValue::from(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1))
}

/// The wait a Google API (Gemini's) gives in the JSON body of a refusal rather than in a
/// header: the `retryDelay` of its `google.rpc.RetryInfo` detail (`"7s"`, `"0.5s"`), in
/// `{"error": {"details": [...]}}` (or an array of such, as a streaming endpoint answers).
pub(crate) fn body_retry_delay(body: &[u8]) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = match &value {
        serde_json::Value::Array(items) => items.first()?.get("error")?,
        other => other.get("error")?,
    };
    error
        .get("details")?
        .as_array()?
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|d| d.get("retryDelay")?.as_str()?.strip_suffix('s'))
        .and_then(|secs| secs.parse::<f64>().ok())
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        .map(seconds)
}

/// The wait the server asked for in `headers`. A wait of zero is no advice: many clients
/// retrying at once would only meet the same refusal again.
fn asked_wait(headers: &http::HeaderMap) -> Option<Duration> {
    retry_after(headers, SystemTime::now()).filter(|d| !d.is_zero())
}

/// How long the server asks to wait: `retry-after-ms` (milliseconds, as OpenAI and Anthropic
/// send it, more precise than seconds) first, else `Retry-After` (RFC 9110 §10.2.3): a
/// non-negative decimal number of seconds (`1.5` included), or an HTTP date in any of its three
/// forms. A date in the past is a wait of zero; a number too large for a `Duration` is
/// `Duration::MAX`.
pub(crate) fn retry_after(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let ms = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0);
    if let Some(ms) = ms {
        return Some(seconds(ms / 1000.0));
    }
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Some(secs) = decimal(value) {
        return Some(seconds(secs));
    }
    // The cookie date parser reads all three forms RFC 9110 §5.6.7 names (IMF-fixdate, RFC
    // 850, asctime), and more; a date before 1970 is none.
    let at =
        UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(parse_date(value)?).ok()?))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `s` as a decimal number: ASCII digits with at most one `.` (`3`, `1.5`, `.5`), no sign or
/// exponent. A number too large for an `f64` is infinite.
pub(crate) fn decimal(s: &str) -> Option<f64> {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let dots = s.bytes().filter(|&b| b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != s.len() {
        return None;
    }
    s.parse().ok()
}

/// `secs` (not negative) as a `Duration`, saturating at `Duration::MAX`.
pub(crate) fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(if secs > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}

/// Seconds from 1970-01-01T00:00:00Z to `day_seconds` into the given day of the proleptic
/// Gregorian calendar; `None` before 1970. The caller checks the ranges of its fields.
pub(crate) fn unix_seconds(year: u64, month: u64, day: u64, day_seconds: u64) -> Option<u64> {
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let (y, mo) = if month <= 2 {
        (year.checked_sub(1)?, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    days.checked_mul(86_400)?.checked_add(day_seconds)
}

thread_local! {
    static JITTER: Cell<u64> = Cell::new(seed());
}

/// A per-thread seed: std's randomly keyed hasher over the thread's id.
fn seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::thread::current().id()) | 1
}

/// `d` scaled by a factor in 0.8..=1.2, so that many clients do not retry in step; saturates at
/// `Duration::MAX`.
pub(crate) fn jittered(d: Duration) -> Duration {
    seconds(d.as_secs_f64() * (0.8 + 0.4 * unit_random()))
}

/// `d` made longer by 0 to 40% at random: a jitter that never waits less than `d`.
pub(crate) fn jittered_up(d: Duration) -> Duration {
    seconds(d.as_secs_f64() * (1.0 + 0.4 * unit_random()))
}

/// A number from 0 to 1, in thousandths.
fn unit_random() -> f64 {
    let x = JITTER.with(|state| {
        // Jitter needs no quality, only to differ between threads and calls.
        let mut x = state.get();
        let next = xorshift(&mut x);
        state.set(x);
        next
    });
    (x % 1001) as f64 / 1000.0
}

/// The next number of the xorshift64 sequence in `state` (which must not be 0).
pub(crate) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A callback leaves a policy what it was: `Send`, `Sync` and unwind-safe.
    #[test]
    fn a_policy_with_a_callback_keeps_its_auto_traits() {
        fn traits<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>(_: &T) {}
        traits(&RetryPolicy::new().on_retry(|_| {}));
    }

    /// `(attempts, base_delay, max_delay, max_retry_after, non_idempotent)` and the statuses
    /// retried, of `p`.
    fn settings(p: &RetryPolicy) -> ((u32, Duration, Duration, Duration, bool), Vec<u16>) {
        let statuses = (100..600).filter(|&s| p.retries_status(s)).collect();
        (
            (
                p.attempts,
                p.base_delay,
                p.max_delay,
                p.max_retry_after,
                p.non_idempotent,
            ),
            statuses,
        )
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let (ms, s) = (Duration::from_millis, Duration::from_secs);
        assert_eq!(
            settings(&RetryPolicy::new()),
            ((3, ms(200), s(10), s(60), false), vec![429, 502, 503, 504])
        );
        assert_eq!(RetryPolicy::default(), RetryPolicy::new());
        assert_eq!(
            settings(&RetryPolicy::llm()),
            (
                (3, ms(500), s(8), s(60), true),
                [408, 409, 429].into_iter().chain(500..600).collect()
            )
        );
        assert_eq!(RetryPolicy::none().attempts, 1);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_millis(350));
        assert_eq!(exponential(base, 1, cap), Duration::from_millis(100));
        assert_eq!(exponential(base, 2, cap), Duration::from_millis(200));
        assert_eq!(exponential(base, 3, cap), Duration::from_millis(350));
        assert_eq!(exponential(base, 60, cap), Duration::from_millis(350));
    }

    #[test]
    fn a_google_apis_retry_delay_is_read_from_its_body() {
        let ms = Duration::from_millis;
        let body = |delay: &str| {
            format!(
                r#"{{"error":{{"code":429,"details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure"}},{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{delay}"}}]}}}}"#
            )
        };
        assert_eq!(body_retry_delay(body("7s").as_bytes()), Some(ms(7000)));
        assert_eq!(body_retry_delay(body("0.5s").as_bytes()), Some(ms(500)));
        let array = format!("[{}]", body("2s"));
        assert_eq!(body_retry_delay(array.as_bytes()), Some(ms(2000)));
        for no in ["-1s", "7", "soon", "NaNs"] {
            assert_eq!(body_retry_delay(body(no).as_bytes()), None, "{no}");
        }
        assert_eq!(body_retry_delay(br#"{"error":{"details":[]}}"#), None);
        assert_eq!(body_retry_delay(b"<html>busy</html>"), None);
    }

    #[test]
    fn a_server_wait_shorter_than_the_backoff_gets_the_backoff() {
        let ms = Duration::from_millis;
        let p = RetryPolicy::new().base_delay(ms(100)).attempts(4);
        for _ in 0..100 {
            // `retry-after-ms: 1`: every request refused at once would come back at once.
            let d = p.wait(2, Some(ms(1))).unwrap();
            assert!(d >= ms(160) && d <= ms(240), "{d:?}");
        }
        // A longer wait is the server's, in full.
        assert_eq!(p.wait(1, Some(ms(1500))), Some(ms(1500)));
        // None past the last attempt, nor past `max_retry_after`.
        assert_eq!(p.wait(4, Some(ms(1))), None);
        assert_eq!(p.wait(1, Some(Duration::from_secs(61))), None);
    }

    #[test]
    fn jittered_backoff_never_exceeds_max_delay() {
        let ms = Duration::from_millis;
        let p = RetryPolicy::new().base_delay(ms(100)).max_delay(ms(1000));
        for _ in 0..1000 {
            let d = p.backoff(2);
            assert!(d >= ms(160) && d <= ms(240), "{d:?}");
        }
        let mut seen = std::collections::HashSet::new();
        for attempt in [5, 6, 60] {
            for _ in 0..1000 {
                let d = p.backoff(attempt);
                assert!(d >= ms(666) && d <= ms(1000), "attempt {attempt}: {d:?}");
                seen.insert(d);
            }
        }
        assert!(seen.len() > 100, "no jitter at the cap");
        assert!(
            seen.iter().any(|d| *d >= ms(990)),
            "the cap is never reached"
        );
        // The largest settings neither overflow nor pass the cap.
        let huge = RetryPolicy::new()
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        for attempt in [1, 60] {
            assert!(huge.backoff(attempt) >= Duration::MAX.div_f64(1.6));
        }
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let d = Duration::from_millis(1000);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let j = jittered(d);
            assert!(j >= Duration::from_millis(800) && j <= Duration::from_millis(1200));
            seen.insert(j);
        }
        assert!(seen.len() > 100, "no jitter");
    }

    #[test]
    fn only_idempotent_methods_unless_allowed() {
        let p = RetryPolicy::new();
        assert!(p.allows(&http::Method::GET, None));
        assert!(p.allows(&http::Method::PUT, None));
        assert!(!p.allows(&http::Method::POST, None));
        assert!(p
            .clone()
            .non_idempotent(true)
            .allows(&http::Method::POST, None));
        assert!(!RetryPolicy::none().allows(&http::Method::GET, None));
        // The request's own mark decides instead of its method.
        assert!(!p.allows(&http::Method::GET, Some(false)));
        assert!(p.allows(&http::Method::POST, Some(true)));
        // Whatever the policy says of methods.
        let all = p.clone().non_idempotent(true);
        assert!(!all.allows(&http::Method::GET, Some(false)));
        assert!(!all.allows(&http::Method::POST, Some(false)));
    }

    /// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
    const EXAMPLE: u64 = 784_111_777;

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        let now = UNIX_EPOCH + Duration::from_secs(EXAMPLE);
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            http::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:47 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(10)));
        h.insert(
            http::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:30 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
        h.insert("retry-after-ms", "-3".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
        h.insert("retry-after-ms", "1e300".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::MAX));
    }

    #[test]
    fn retry_after_seconds_are_a_decimal_number() {
        let now = UNIX_EPOCH + Duration::from_secs(EXAMPLE);
        let wait = |value: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::RETRY_AFTER, value.parse().unwrap());
            retry_after(&h, now)
        };
        assert_eq!(wait("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(wait(" 0.25 "), Some(Duration::from_millis(250)));
        assert_eq!(wait(".5"), Some(Duration::from_millis(500)));
        assert_eq!(wait("2."), Some(Duration::from_secs(2)));
        assert_eq!(wait("0"), Some(Duration::ZERO));
        assert_eq!(wait("0.0"), Some(Duration::ZERO));
        // Too large for a Duration: the longest wait there is, never a panic.
        assert_eq!(wait("18446744073709551616"), Some(Duration::MAX));
        assert_eq!(wait(&"9".repeat(400)), Some(Duration::MAX));
        for bad in [
            "-1", "+1", "1e3", "inf", "NaN", ".", "1.2.3", "1 2", "1,5", "0x10", "",
        ] {
            assert_eq!(wait(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_dates_in_all_three_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(EXAMPLE - 10);
        let wait = |value: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::RETRY_AFTER, value.parse().unwrap());
            retry_after(&h, now)
        };
        // RFC 9110's example date, 10 s after `now`, in each of its three forms.
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(wait(date), Some(Duration::from_secs(10)), "{date:?}");
        }
        // In the past: no wait. Before 1970, or not a date: none.
        assert_eq!(wait("Thu, 01 Jan 1970 00:00:00 GMT"), Some(Duration::ZERO));
        for bad in [
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Tue, 29 Foo 2000 12:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "soon",
        ] {
            assert_eq!(wait(bad), None, "{bad:?}");
        }
    }
}
