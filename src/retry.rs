//! `RetryPolicy`: opt-in retries of failed attempts, with exponential backoff and jitter.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::http;

use crate::Error;

/// Retries of failed attempts; off unless set on the session or the request.
///
/// | setting | default |
/// |---|---|
/// | [`attempts`](RetryPolicy::attempts) | 3 (the first try and two retries) |
/// | [`base_delay`](RetryPolicy::base_delay) | 200 ms |
/// | [`max_delay`](RetryPolicy::max_delay) | 10 s |
/// | [`non_idempotent`](RetryPolicy::non_idempotent) | `false`: POST and PATCH are not retried |
/// | [`statuses`](RetryPolicy::statuses) | 429, 502, 503, 504 |
///
/// # What is retried, and what never is
///
/// An attempt is retried when it failed in a way a later attempt can fix: a connection that
/// could not be made or broke before the response arrived (a stale pooled connection looks like
/// that), a timeout before the response, or a status of 429, 502, 503 or 504. Only idempotent
/// methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) are retried unless the caller allows others
/// with [`RetryPolicy::non_idempotent`]: a POST that failed mid-way may have taken effect.
///
/// Retries happen on the worker, before the handle resolves. For an event stream that means
/// before the stream is handed to the caller: once its first byte may have reached the caller, a
/// stream is never re-sent (use [`EventSource`](crate::EventSource) to reconnect GET streams).
///
/// The wait before attempt `n + 1` is `base_delay * 2^(n-1)`, capped at `max_delay`, with ±20%
/// jitter; a `Retry-After` header (seconds or an HTTP date) replaces it, capped at `max_delay`.
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
    non_idempotent: bool,
    /// The statuses retried; `None` for the default four.
    statuses: Option<Vec<u16>>,
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
            non_idempotent: false,
            statuses: None,
        }
    }

    /// The policy of the official LLM SDKs (OpenAI's and Anthropic's), the LLM clients'
    /// default: 3 attempts (2 retries), 500 ms doubling up to 8 s, POST retried, on 408, 409,
    /// 429, 500, 502, 503, 504 and 529 (Anthropic's "overloaded") and on connection errors.
    /// A stream is retried only before its first byte is read, never after.
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
            .statuses([408, 409, 429, 500, 502, 503, 504, 529])
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
    fn retries_status(&self, status: u16) -> bool {
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

    /// Attempts in all, the first one included; at least 1. Defaults to 3.
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

    /// The longest wait, also the cap on a server's `Retry-After`. Defaults to 10 s.
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

    /// Also retry methods that are not idempotent (POST, PATCH), for APIs where repeating a
    /// request is safe. Defaults to `false`.
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

    /// Whether a request with `method` may be retried at all.
    pub(crate) fn allows(&self, method: &http::Method) -> bool {
        self.attempts > 1 && (self.non_idempotent || is_idempotent(method))
    }

    /// The verdict after attempt number `attempt` (1-based) ended with `outcome`.
    pub(crate) fn verdict(
        &self,
        attempt: u32,
        outcome: &Result<http::Response<ureq::Body>, Error>,
    ) -> Verdict {
        if attempt >= self.attempts {
            return Verdict::Stop;
        }
        let retry_after = match outcome {
            Ok(resp) if self.retries_status(resp.status().as_u16()) => {
                retry_after(resp.headers(), SystemTime::now())
            }
            Ok(_) => return Verdict::Stop,
            Err(e) if is_retryable_error(e) => None,
            Err(_) => return Verdict::Stop,
        };
        let wait = match retry_after {
            Some(d) => d.min(self.max_delay),
            None => jittered(self.backoff(attempt)),
        };
        Verdict::RetryAfter(wait)
    }

    /// `base_delay * 2^(attempt-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        exponential(self.base_delay, attempt, self.max_delay)
    }
}

/// `base * 2^(attempt-1)` (just `base` for attempt 0 or 1), capped at `cap`; never overflows.
pub(crate) fn exponential(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(20);
    base.saturating_mul(1 << doublings).min(cap)
}

fn is_idempotent(method: &http::Method) -> bool {
    use http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
    ]
    .contains(method)
}

pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Failures before a response: the request may not have reached the server, or the server
/// closed a pooled connection under us.
pub(crate) fn is_retryable_error(e: &Error) -> bool {
    match e {
        Error::Io(_) | Error::Timeout(_) => true,
        Error::Transport(t) => {
            matches!(t, ureq::Error::ConnectionFailed | ureq::Error::HostNotFound)
        }
        _ => false,
    }
}

/// How long the server asks to wait: `retry-after-ms` (milliseconds, as OpenAI and Anthropic
/// send it, more precise than seconds) first, else `Retry-After`, delay-seconds or an HTTP date
/// (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let ms = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0);
    if let Some(ms) = ms {
        return Some(Duration::from_secs_f64(ms.min(3.6e9) / 1000.0));
    }
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses the IMF-fixdate form, `Sun, 06 Nov 1994 08:49:37 GMT`, the one servers must send.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let mut parts = s.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == name)? as u64 + 1;
    let year: u64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let mut hms = parts.next()?.split(':').map(|n| n.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || day == 0 || day > 31 || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let secs = unix_seconds(year, month, day, h * 3600 + m * 60 + sec)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
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

/// `d` scaled by a factor in 0.8..=1.2, so that many clients do not retry in step.
pub(crate) fn jittered(d: Duration) -> Duration {
    let x = JITTER.with(|state| {
        // xorshift64: jitter needs no quality, only to differ between threads and calls.
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    });
    d.mul_f64(0.8 + (x % 1001) as f64 / 2500.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::new()
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(350));
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(350));
        assert_eq!(p.backoff(60), Duration::from_millis(350));
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
        assert!(p.allows(&http::Method::GET));
        assert!(p.allows(&http::Method::PUT));
        assert!(!p.allows(&http::Method::POST));
        assert!(p.clone().non_idempotent(true).allows(&http::Method::POST));
        assert!(!RetryPolicy::none().allows(&http::Method::GET));
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
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
    }

    #[test]
    fn http_dates_parse_exactly() {
        let t = parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT").unwrap();
        assert_eq!(t, UNIX_EPOCH);
        let t = parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 951_825_600);
        assert!(parse_http_date("Tue, 29 Foo 2000 12:00:00 GMT").is_none());
        assert!(parse_http_date("").is_none());
        // Server-controlled: out-of-range years are refused, never overflow.
        assert!(parse_http_date("Sun, 01 Jan 0 00:00:00 GMT").is_none());
        assert!(parse_http_date("Sun, 01 Jan 18446744073709551615 00:00:00 GMT").is_none());
    }
}
