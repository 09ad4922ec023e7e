//! `RateLimiter`: request rates per origin (token buckets), and pauses learned from the server.
//!
//! The answers it learns from are in [`RateLimiter`]'s docs.
//!
//! # Why pause the origin rather than retry each request
//!
//! A burst that trips a rate limit gets a 429 on every request in flight; retrying each one on
//! its own (what the Python SDKs do) sends the burst again as soon as the first backoff ends. The
//! limit belongs to the origin, so the pause does too: one answer stops every new request to
//! that origin until the time the server gave, and requests to other origins go on.
//!
//! # Limits on what a server can make us do
//!
//! A pause is capped at [`RateLimiter::max_pause`] (60 s by default), so that a server cannot
//! stop a client for a day with one header; a later answer can pause again. Dates in the past
//! and unparsable values pause nothing. When several headers apply, the longest wait wins.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ureq::http::{self, HeaderMap};

use crate::retry::{decimal, retry_after, seconds, unix_seconds};
use crate::Error;

/// The longest pause a server's answer can cause by default: 60 seconds.
///
/// # Examples
///
/// ```
/// use ureq::http::{HeaderMap, HeaderValue};
/// use ureq_futures::{RateLimiter, DEFAULT_MAX_PAUSE};
///
/// // A server asking for an hour's pause gets at most a minute, unless `max_pause` says otherwise.
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", HeaderValue::from_static("3600"));
/// let event = RateLimiter::new().observe("https://api.example.com/", 429, &headers).unwrap();
/// assert_eq!(event.wait, DEFAULT_MAX_PAUSE);
/// ```
pub const DEFAULT_MAX_PAUSE: Duration = Duration::from_secs(60);

/// A request rate: a token bucket that refills at `rate` tokens per second and holds at most
/// `burst` tokens. Each request takes one; when the bucket is empty the request waits for the
/// next token.
///
/// # Examples
///
/// ```
/// use ureq_futures::RateLimit;
///
/// let limit = RateLimit::per_minute(500.0).burst(10);
/// assert_eq!(limit.burst_size(), 10);
/// assert!((limit.per_second_rate() - 500.0 / 60.0).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    per_second: f64,
    burst: u32,
}

/// The slowest rate a [`RateLimit`] takes: one request an hour.
const MIN_RATE: f64 = 1.0 / 3600.0;

impl RateLimit {
    /// `n` requests per second on average, with a burst of 1 (requests evenly spaced). A rate
    /// below one an hour (zero, negative or NaN included) is taken as one an hour.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RateLimit;
    ///
    /// let limit = RateLimit::per_second(10.0);
    /// assert_eq!(limit.per_second_rate(), 10.0);
    /// ```
    pub fn per_second(n: f64) -> Self {
        let per_second = if n.is_finite() && n > MIN_RATE {
            n
        } else if n == f64::INFINITY {
            f64::MAX
        } else {
            MIN_RATE
        };
        RateLimit {
            per_second,
            burst: 1,
        }
    }

    /// `n` requests per minute on average, with a burst of 1: how most APIs state their limits.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RateLimit;
    ///
    /// let limit = RateLimit::per_minute(600.0);
    /// assert_eq!(limit.per_second_rate(), 10.0);
    /// ```
    pub fn per_minute(n: f64) -> Self {
        RateLimit::per_second(n / 60.0)
    }

    /// At most `n` requests at once after a quiet spell (at least 1). Defaults to 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RateLimit;
    ///
    /// let limit = RateLimit::per_second(2.0).burst(5);
    /// assert_eq!(limit.burst_size(), 5);
    /// ```
    pub fn burst(mut self, n: u32) -> Self {
        self.burst = n.max(1);
        self
    }

    /// The average rate, in requests per second.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RateLimit;
    ///
    /// assert_eq!(RateLimit::per_minute(120.0).per_second_rate(), 2.0);
    /// ```
    pub fn per_second_rate(&self) -> f64 {
        self.per_second
    }

    /// The bucket's size.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RateLimit;
    ///
    /// assert_eq!(RateLimit::per_second(1.0).burst(3).burst_size(), 3);
    /// ```
    pub fn burst_size(&self) -> u32 {
        self.burst
    }
}

/// A token bucket's state.
#[derive(Debug, Clone)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(limit: RateLimit, now: Instant) -> Self {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        self.at = self.at.max(now);
    }

    /// Whether the bucket is full at `now`, as a new one would be.
    fn is_full(&self, now: Instant) -> bool {
        let mut bucket = self.clone();
        bucket.refill(now);
        bucket.tokens >= f64::from(bucket.limit.burst)
    }

    /// Takes a token, or says when one will be there.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / self.limit.per_second;
        Err(now
            .checked_add(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
            .unwrap_or_else(|| now + Duration::from_secs(3600)))
    }
}

/// Why new requests to an origin were paused.
///
/// # Examples
///
/// ```
/// use ureq::http::{HeaderMap, HeaderValue};
/// use ureq_futures::{PauseReason, RateLimiter};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", HeaderValue::from_static("5"));
/// let event = RateLimiter::new().observe("https://api.example.com/", 503, &headers).unwrap();
/// assert_eq!(event.reason, PauseReason::RetryAfter { status: 503 });
/// assert_eq!(event.reason.to_string(), "503 with retry-after");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PauseReason {
    /// A 429 or 503 answer with `Retry-After` (or `retry-after-ms`).
    RetryAfter {
        /// The answer's status.
        status: u16,
    },
    /// A quota header said nothing is left, and its reset header said when it comes back.
    QuotaExhausted {
        /// The header that said so, such as `x-ratelimit-remaining-requests` (or `ratelimit`
        /// for the IETF draft's `RateLimit` field).
        header: String,
    },
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PauseReason::RetryAfter { status } => write!(f, "{status} with retry-after"),
            PauseReason::QuotaExhausted { header } => write!(f, "{header}: 0"),
        }
    }
}

/// A pause of new requests to one origin, learned from an answer: what
/// [`RateLimiter::on_pause`] callbacks get.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use ureq::http::{HeaderMap, HeaderValue};
/// use ureq_futures::RateLimiter;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let limiter = RateLimiter::new().on_pause(move |event| log.lock().unwrap().push(event.to_string()));
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", HeaderValue::from_static("2"));
/// let event = limiter.observe("https://api.example.com/v1/chat", 429, &headers).unwrap();
/// assert_eq!(event.origin, "https://api.example.com:443");
/// assert_eq!(event.wait, Duration::from_secs(2));
/// assert_eq!(seen.lock().unwrap()[0], "rate limit: https://api.example.com:443 paused for 2 s (429 with retry-after)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitEvent {
    /// The origin, as `scheme://host:port`.
    pub origin: String,
    /// How long new requests to it wait, from the moment of the answer: the answer's pause
    /// (capped at [`RateLimiter::max_pause`]), or the pause already in force when that one
    /// ends later.
    pub wait: Duration,
    /// What the server said.
    pub reason: PauseReason,
}

impl fmt::Display for RateLimitEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limit: {} paused for {} ({})",
            self.origin,
            crate::timeout::Human(self.wait),
            self.reason
        )
    }
}

type PauseCallback = Arc<dyn Fn(&RateLimitEvent) + Send + Sync>;

/// Which origins a rate applies to.
#[derive(Debug, Clone)]
enum Scope {
    /// `scheme://host:port`, normalised.
    Origin(String),
    /// A host name, any scheme and port.
    Host(String),
    /// A host name and a port (`localhost:11434`), any scheme.
    HostPort(String, u16),
}

/// The state of one origin.
#[derive(Debug)]
struct HostState {
    bucket: Option<Bucket>,
    paused_until: Option<Instant>,
}

impl HostState {
    /// A new origin's state at `now`: its bucket full, if it has a rate; no pause.
    fn new(limit: Option<RateLimit>, now: Instant) -> Self {
        HostState {
            bucket: limit.map(|l| Bucket::full(l, now)),
            paused_until: None,
        }
    }

    /// Whether the origin is as if never seen at `now`: no pause in force, its bucket full.
    fn is_fresh(&self, now: Instant) -> bool {
        self.paused_until.is_none_or(|until| until <= now)
            && self.bucket.as_ref().is_none_or(|b| b.is_full(now))
    }
}

/// The states of the origins seen, and when to sweep out those that are as if never seen.
#[derive(Debug)]
struct Hosts {
    map: HashMap<String, HostState>,
    /// The size at which a new origin first sweeps the map.
    sweep_at: usize,
}

/// The fewest origins kept before a sweep.
const MIN_SWEEP: usize = 1024;

impl Hosts {
    fn new() -> Self {
        Hosts {
            map: HashMap::new(),
            sweep_at: MIN_SWEEP,
        }
    }

    /// The state of `origin`; a new origin's is made by `new` (`None`: nothing to keep) and
    /// added after [`make_room`](Hosts::make_room).
    fn state(
        &mut self,
        origin: &str,
        now: Instant,
        new: impl FnOnce() -> Option<HostState>,
    ) -> Option<&mut HostState> {
        if !self.map.contains_key(origin) {
            let state = new()?;
            self.make_room(now);
            self.map.insert(origin.to_string(), state);
        }
        self.map.get_mut(origin)
    }

    /// Before a new origin is added: once the map has doubled since the last sweep, forgets the
    /// origins whose state is that of a new one, so that a limiter that sees origin after origin
    /// (a crawl) keeps those in force only. Amortised O(1) per origin.
    fn make_room(&mut self, now: Instant) {
        if self.map.len() < self.sweep_at {
            return;
        }
        self.map.retain(|_, state| !state.is_fresh(now));
        self.sweep_at = self.map.len().saturating_mul(2).max(MIN_SWEEP);
    }
}

/// Request rates per origin, and pauses learned from the servers' answers. Cheap to clone (an
/// `Arc`); clones share their state, so one limiter can govern several sessions.
///
/// An origin is a scheme, host and port: `https://api.openai.com` and
/// `https://api.openai.com:443` are one origin, `http://` on the same host another. What the
/// limiter keeps of an origin (its bucket, its pause) is forgotten once its bucket is full again
/// and no pause is in force, so a crawl through any number of origins keeps only the recent ones.
///
/// | setting | default |
/// |---|---|
/// | [`all_hosts`](RateLimiter::all_hosts) | no rate limit |
/// | [`host`](RateLimiter::host) | none |
/// | [`max_pause`](RateLimiter::max_pause) | 60 s ([`DEFAULT_MAX_PAUSE`]) |
/// | [`on_pause`](RateLimiter::on_pause) | none |
///
/// Every pause learned from an answer counts in [`pauses`](RateLimiter::pauses) and calls the
/// [`on_pause`](RateLimiter::on_pause) callback.
///
/// # What a server tells us
///
/// | answer | header(s) | pause |
/// |---|---|---|
/// | 429 or 503 | `Retry-After` (seconds or an HTTP date), or `retry-after-ms`; without them, a Google API's `RetryInfo` in a JSON body (see [`RetryPolicy`](crate::RetryPolicy)), learned once the body is read: by the request's own retry of the refusal (before the retry waits), a buffered request, an event stream, a download and the LLM clients; not from a [`send_streaming`](crate::RequestBuilder::send_streaming) body handed to the caller | that long |
/// | any | `x-ratelimit-remaining-requests: 0` with `x-ratelimit-reset-requests: 6m0s` (OpenAI and most compatible servers; Go durations such as `1s`, `20ms`) | until the reset |
/// | any | `x-ratelimit-remaining-tokens: 0` with `x-ratelimit-reset-tokens` | until the reset |
/// | any | `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-remaining: 0` with the matching `-reset` (an RFC 3339 time) | until the reset |
/// | any | `x-ratelimit-remaining: 0` with `x-ratelimit-reset-after` (seconds: Discord) or `x-ratelimit-reset` (a Unix time: GitHub, Discord, OpenRouter in milliseconds; or seconds: Reddit) | until the reset |
/// | any | `RateLimit-Remaining: 0` with `RateLimit-Reset` (the IETF draft's seconds, or GitLab's Unix time) | until the reset |
/// | any | `RateLimit: limit=100, remaining=0, reset=30` (IETF draft 7, express-rate-limit) or `RateLimit: "default";r=0;t=30` (later drafts): a quota with nothing left | its reset |
///
/// A reset given as a bare number of 10^12 or more is a Unix time in milliseconds (OpenRouter's),
/// one of 10^9 or more a Unix time in seconds (both are dates from 2001 on); a smaller one is
/// seconds to wait.
///
/// When several apply, the longest wins; a pause is capped at
/// [`max_pause`](RateLimiter::max_pause).
///
/// # Examples
///
/// The limiter on its own, around any request code:
///
/// ```
/// use std::time::Duration;
/// use ureq_futures::{RateLimit, RateLimiter};
///
/// let limiter = RateLimiter::new()
///     .all_hosts(RateLimit::per_second(100.0).burst(2))
///     .host("api.openai.com", RateLimit::per_minute(500.0));
/// let url = "http://127.0.0.1:8080/v1/chat/completions";
/// assert!(limiter.try_acquire(url).is_ok());
/// assert!(limiter.try_acquire(url).is_ok()); // the burst
/// assert!(limiter.try_acquire(url).is_err()); // the next token comes in 10 ms
///
/// // An answer that says the quota is used up pauses the origin.
/// let mut headers = ureq::http::HeaderMap::new();
/// headers.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
/// headers.insert("x-ratelimit-reset-requests", "2s".parse().unwrap());
/// let event = limiter.observe(url, 200, &headers).unwrap();
/// assert_eq!(event.wait, Duration::from_secs(2));
/// assert_eq!(limiter.pauses(), 1);
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    all_hosts: Option<RateLimit>,
    scoped: Vec<(Scope, RateLimit)>,
    max_pause: Duration,
    on_pause: Option<PauseCallback>,
    hosts: Mutex<Hosts>,
    pauses: AtomicU64,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("all_hosts", &self.inner.all_hosts)
            .field("hosts", &self.inner.scoped)
            .field("max_pause", &self.inner.max_pause)
            .field("pauses", &self.pauses())
            .finish()
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new()
    }
}

impl RateLimiter {
    /// A limiter with no rates, which only learns pauses from answers.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{FuturesSession, RateLimiter};
    ///
    /// let limiter = RateLimiter::new();
    /// let session = FuturesSession::builder().rate_limiter(limiter.clone()).build();
    /// assert_eq!(limiter.pauses(), 0);
    /// ```
    pub fn new() -> Self {
        RateLimiter {
            inner: Arc::new(Inner {
                all_hosts: None,
                scoped: Vec::new(),
                max_pause: DEFAULT_MAX_PAUSE,
                on_pause: None,
                hosts: Mutex::new(Hosts::new()),
                pauses: AtomicU64::new(0),
            }),
        }
    }

    /// Changes a setting of a limiter that has no state yet; a limiter already shared is
    /// copied first (its clones keep the old settings and state).
    fn configure(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        let inner = match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner,
            None => {
                let old = &self.inner;
                self.inner = Arc::new(Inner {
                    all_hosts: old.all_hosts,
                    scoped: old.scoped.clone(),
                    max_pause: old.max_pause,
                    on_pause: old.on_pause.clone(),
                    hosts: Mutex::new(Hosts::new()),
                    pauses: AtomicU64::new(0),
                });
                Arc::get_mut(&mut self.inner).expect("a new Arc has one owner")
            }
        };
        f(inner);
        self
    }

    /// The rate of every origin that no [`host`](RateLimiter::host) rate names. Defaults to
    /// none.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{RateLimit, RateLimiter};
    ///
    /// let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(1.0).burst(1));
    /// assert!(limiter.try_acquire("http://a.example/").is_ok());
    /// // The bucket of that origin is empty now; another origin has its own.
    /// assert!(limiter.try_acquire("http://a.example/x").is_err());
    /// assert!(limiter.try_acquire("http://b.example/").is_ok());
    /// ```
    pub fn all_hosts(self, limit: RateLimit) -> Self {
        self.configure(|inner| inner.all_hosts = Some(limit))
    }

    /// The rate of one host (`"api.openai.com"`: any scheme and port), one host and port
    /// (`"localhost:11434"`: any scheme) or one origin (`"https://api.openai.com"`), in place of
    /// the [`all_hosts`](RateLimiter::all_hosts) rate. An origin's rate wins over its host and
    /// port's, which wins over its host's; the last one set for a name wins. Each origin has a
    /// bucket of its own. An IPv6 address is written with or without brackets (`"::1"`,
    /// `"[::1]:8080"`). Blanks around the name, and a path after a host
    /// (`"api.example.com/v1"`), are left out.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{RateLimit, RateLimiter};
    ///
    /// let limiter = RateLimiter::new()
    ///     .host("api.openai.com", RateLimit::per_minute(500.0).burst(20))
    ///     .host("localhost:11434", RateLimit::per_second(2.0));
    /// assert!(limiter.try_acquire("http://localhost:11434/api/chat").is_ok());
    /// assert!(limiter.try_acquire("http://localhost:11434/api/chat").is_err());
    /// assert!(limiter.try_acquire("http://localhost:8080/").is_ok());
    /// ```
    pub fn host(self, host_or_origin: &str, limit: RateLimit) -> Self {
        // Blanks around it, or a path after a host (`api.example.com/v1`, a base URL without its
        // scheme), made a name no request has, and the rate never applied.
        let host_or_origin = host_or_origin.trim();
        let host_or_origin = if host_or_origin.contains("://") {
            host_or_origin
        } else {
            host_or_origin.split(['/', '?']).next().unwrap_or_default()
        };
        let scope = if host_or_origin.contains("://") {
            match origin_of(host_or_origin) {
                Some(origin) => Scope::Origin(origin),
                None => Scope::Host(host_or_origin.to_ascii_lowercase()),
            }
        } else {
            let name = host_or_origin.to_ascii_lowercase();
            // `host:port`, `[v6]:port`; a bare IPv6 address has colons of its own.
            let with_port = name
                .rsplit_once(':')
                .filter(|(host, _)| !host.contains(':') || host.starts_with('['))
                .and_then(|(host, port)| Some((host.to_string(), port.parse().ok()?)));
            match with_port {
                Some((host, port)) => Scope::HostPort(host, port),
                // A bare IPv6 address, bracketed as URLs write it.
                None if name.contains(':') && !name.starts_with('[') => {
                    Scope::Host(format!("[{name}]"))
                }
                None => Scope::Host(name),
            }
        };
        self.configure(|inner| inner.scoped.insert(0, (scope, limit)))
    }

    /// The longest pause one answer can cause. Defaults to 60 s ([`DEFAULT_MAX_PAUSE`]).
    /// `Duration::MAX` takes the cap off; a pause longer than the clock can count then lasts a
    /// century.
    ///
    /// A server that asks for a longer wait (`Retry-After: 3600`, a quota spent for the hour)
    /// gets the parked requests back after this cap, sooner than it asked, and is likely to
    /// refuse them again: a large batch then goes on for hours, one cap at a time, every answer
    /// a 429 (a response, not an error, unless the script calls
    /// [`error_for_status`](crate::Response::error_for_status)). Raise the cap to such waits
    /// if the script may wait that long, or stop the batch at the first 429 whose wait is
    /// longer than the script may wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::RateLimiter;
    ///
    /// let limiter = RateLimiter::new().max_pause(Duration::from_secs(10));
    /// ```
    pub fn max_pause(self, d: Duration) -> Self {
        self.configure(|inner| inner.max_pause = d)
    }

    /// Calls `callback` with each pause learned from an answer, on the thread that read the
    /// answer (a worker, for a session's requests). Keep it short. Defaults to none.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RateLimiter;
    ///
    /// let limiter = RateLimiter::new().on_pause(|event| eprintln!("{event}"));
    /// # let _ = limiter;
    /// ```
    pub fn on_pause(self, callback: impl Fn(&RateLimitEvent) + Send + Sync + 'static) -> Self {
        self.configure(|inner| inner.on_pause = Some(Arc::new(callback)))
    }

    /// How many pauses answers have caused so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::RateLimiter;
    ///
    /// assert_eq!(RateLimiter::new().pauses(), 0);
    /// ```
    pub fn pauses(&self) -> u64 {
        self.inner.pauses.load(Ordering::Relaxed)
    }

    /// Takes a token for a request to `url`'s origin if it may go now; otherwise says how long
    /// until it may (the origin is paused, or its bucket is empty) and takes nothing. A URL
    /// without a scheme and host is never limited.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{RateLimit, RateLimiter};
    ///
    /// let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(1.0).burst(2));
    /// assert!(limiter.try_acquire("https://api.example.com/a").is_ok());
    /// assert!(limiter.try_acquire("https://api.example.com/b").is_ok());
    /// let wait = limiter.try_acquire("https://api.example.com/c").unwrap_err();
    /// assert!(wait.as_secs_f64() <= 1.0);
    /// ```
    pub fn try_acquire(&self, url: &str) -> Result<(), Duration> {
        let Some(origin) = origin_of(url) else {
            return Ok(());
        };
        let now = Instant::now();
        self.acquire_at(&origin, now)
            .map_err(|at| at.saturating_duration_since(now))
    }

    /// Blocks until a request to `url`'s origin may go, then takes its token. For requests sent
    /// outside a session (a session with this limiter waits without holding a worker). In a job
    /// of a session (a [`submit`](crate::FuturesSession::submit) closure), a
    /// [`cancel`](crate::Pending::cancel) or [`shutdown_now`](crate::FuturesSession::shutdown_now)
    /// ends the wait: it returns without a token, and the job's requests on the session's agent
    /// then fail with [`Error::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{RateLimit, RateLimiter};
    ///
    /// let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(100.0).burst(1));
    /// limiter.acquire("https://api.example.com/a"); // at once: the bucket is full
    /// limiter.acquire("https://api.example.com/b"); // about 10 ms later
    /// ```
    pub fn acquire(&self, url: &str) {
        while let Err(wait) = self.try_acquire(url) {
            // Off a job, a plain sleep; in one, a cancel ends it.
            if !crate::exec::sleep(wait) {
                return;
            }
        }
    }

    /// Learns from an answer from `url`'s origin: pauses the origin when the status and headers
    /// say so (see the table above), and returns the pause. The pause counts in
    /// [`pauses`](RateLimiter::pauses) and goes to the [`on_pause`](RateLimiter::on_pause)
    /// callback.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq::http::{HeaderMap, HeaderValue};
    /// use ureq_futures::RateLimiter;
    ///
    /// let limiter = RateLimiter::new();
    /// let mut headers = HeaderMap::new();
    /// headers.insert("retry-after", HeaderValue::from_static("2"));
    /// let event = limiter.observe("https://api.example.com/v1", 429, &headers);
    /// assert!(event.is_some());
    /// assert_eq!(limiter.pauses(), 1);
    /// assert!(limiter.try_acquire("https://api.example.com/v1").is_err());
    /// ```
    pub fn observe(&self, url: &str, status: u16, headers: &HeaderMap) -> Option<RateLimitEvent> {
        let origin = origin_of(url)?;
        self.observe_at(&origin, status, headers, Instant::now(), SystemTime::now())
    }

    /// [`try_acquire`](RateLimiter::try_acquire) for an origin key at `now`: `Err` holds the
    /// moment it may go.
    pub(crate) fn acquire_at(&self, origin: &str, now: Instant) -> Result<(), Instant> {
        let mut hosts = self.hosts();
        // Nothing to keep for a new origin with no rate (and no pause).
        let new = || Some(HostState::new(Some(self.limit_for(origin)?), now));
        let Some(state) = hosts.state(origin, now, new) else {
            return Ok(());
        };
        if let Some(until) = state.paused_until {
            if until > now {
                return Err(until);
            }
            state.paused_until = None;
        }
        let result = match &mut state.bucket {
            Some(bucket) => bucket.take(now),
            None => Ok(()),
        };
        if result.is_ok() && state.bucket.is_none() {
            // A pause that has ended, on an origin without a rate: forget it.
            hosts.map.remove(origin);
        }
        result
    }

    /// [`observe`](RateLimiter::observe) for an origin key, at `now` (for waits) and `wall` (for
    /// dates).
    pub(crate) fn observe_at(
        &self,
        origin: &str,
        status: u16,
        headers: &HeaderMap,
        now: Instant,
        wall: SystemTime,
    ) -> Option<RateLimitEvent> {
        let (wait, reason) = learn(status, headers, wall)?;
        let wait = wait.min(self.inner.max_pause);
        if wait.is_zero() {
            return None;
        }
        // Without a cap, a server's value may be past what an `Instant` can hold: such a pause
        // lasts a century (as good as for ever), rather than not at all.
        let mut until = now.checked_add(wait).unwrap_or_else(|| far_future(now));
        {
            let mut hosts = self.hosts();
            let new = || Some(HostState::new(self.limit_for(origin), now));
            if let Some(state) = hosts.state(origin, now, new) {
                // A longer pause in force is what new requests wait for: it is the event's wait.
                until = state.paused_until.map_or(until, |u| u.max(until));
                state.paused_until = Some(until);
            }
        }
        let wait = until.saturating_duration_since(now);
        self.inner.pauses.fetch_add(1, Ordering::Relaxed);
        let event = RateLimitEvent {
            origin: origin.to_string(),
            wait,
            reason,
        };
        if let Some(callback) = &self.inner.on_pause {
            callback(&event);
        }
        Some(event)
    }

    fn hosts(&self) -> MutexGuard<'_, Hosts> {
        // Nothing panics while the lock is held.
        self.inner.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rate of `origin` (`scheme://host:port`).
    fn limit_for(&self, origin: &str) -> Option<RateLimit> {
        let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        let (host, port) = authority
            .rsplit_once(':')
            .map_or((authority, None), |(host, port)| {
                (host, port.parse::<u16>().ok())
            });
        let find =
            |matches: &dyn Fn(&Scope) -> bool| self.inner.scoped.iter().find(|(s, _)| matches(s));
        find(&|s| matches!(s, Scope::Origin(o) if o == origin))
            .or_else(|| {
                find(&|s| matches!(s, Scope::HostPort(h, p) if h == host && Some(*p) == port))
            })
            .or_else(|| find(&|s| matches!(s, Scope::Host(h) if h == host)))
            .map(|(_, l)| *l)
            .or(self.inner.all_hosts)
    }
}

/// The latest of a century, a year and an hour after `now` that an `Instant` can hold (or `now`).
fn far_future(now: Instant) -> Instant {
    const HOUR: u64 = 3600;
    [100 * 365 * 24 * HOUR, 365 * 24 * HOUR, HOUR]
        .into_iter()
        .find_map(|secs| now.checked_add(Duration::from_secs(secs)))
        .unwrap_or(now)
}

/// `scheme://host:port` of `url`, lower case, with the scheme's default port filled in; `None`
/// for a URL without a scheme and a host. A URL with bytes beyond ASCII (a user-info such as
/// `josé:pw@`, which `http::Uri` refuses) is read as a request sends it, those bytes
/// percent-encoded, so that its origin is limited as its requests are.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let uri = match url.parse() {
        Ok(uri) => uri,
        Err(_) => crate::url::parse(url).ok()?,
    };
    origin_of_uri(&uri)
}

/// [`origin_of`] for a parsed URI.
pub(crate) fn origin_of_uri(uri: &http::Uri) -> Option<String> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri.port_u16().or(match scheme.as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    });
    Some(match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

impl crate::exec::lanes::Gate for RateLimiter {
    fn try_start(&self, lane: &str, now: Instant) -> Result<(), Instant> {
        self.acquire_at(lane, now)
    }
}

/// Waits until `limiter` lets a request to `uri`'s origin start (its pause over, a token of its
/// rate taken): `Ok(None)`. Returns at once, taking nothing, when that would be at or after
/// `deadline`, with how long the wait would be: `Ok(Some(wait))`.
///
/// # Errors
///
/// [`Error::Cancelled`] when the job it runs in is cancelled during the wait.
pub(crate) fn wait_turn(
    limiter: &RateLimiter,
    uri: &http::Uri,
    deadline: Option<Instant>,
) -> Result<Option<Duration>, Error> {
    let Some(origin) = origin_of_uri(uri) else {
        return Ok(None);
    };
    loop {
        let now = Instant::now();
        match limiter.acquire_at(&origin, now) {
            Ok(()) => return Ok(None),
            Err(until) if deadline.is_some_and(|d| until >= d) => {
                return Ok(Some(until.saturating_duration_since(now)))
            }
            Err(until) => {
                if !crate::exec::sleep(until.saturating_duration_since(now)) {
                    return Err(Error::Cancelled);
                }
            }
        }
    }
}

/// Shows an answer from `uri` to `limiter` (the engine calls it for every hop).
pub(crate) fn observe_answer(
    limiter: &RateLimiter,
    uri: &http::Uri,
    status: u16,
    headers: &HeaderMap,
) {
    if let Some(origin) = origin_of_uri(uri) {
        limiter.observe_at(&origin, status, headers, Instant::now(), SystemTime::now());
    }
}

/// [`observe_answer`] for a wait given in the body of a 429 or 503 rather than in its headers
/// (a Google API's `RetryInfo`: see [`body_wait`](crate::retry::body_wait)), once the body is
/// read: the headers were observed before it was.
pub(crate) fn observe_body_wait(
    limiter: Option<&RateLimiter>,
    uri: &http::Uri,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) {
    let Some(limiter) = limiter else { return };
    if let Some(delay) = crate::retry::body_wait(status, headers, body) {
        let mut wait = HeaderMap::new();
        wait.insert("retry-after-ms", crate::retry::wait_ms(delay));
        observe_answer(limiter, uri, status, &wait);
    }
}

/// What an answer says about waiting: the longest wait any of its headers asks for, and why.
pub(crate) fn learn(
    status: u16,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<(Duration, PauseReason)> {
    let mut best: Option<(Duration, PauseReason)> = None;
    let mut consider = |wait: Duration, reason: PauseReason| {
        if best.as_ref().is_none_or(|(w, _)| wait > *w) {
            best = Some((wait, reason));
        }
    };
    if matches!(status, 429 | 503) {
        let ms = header_str(headers, "retry-after-ms")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .and_then(|v| Duration::try_from_secs_f64(v / 1000.0).ok());
        if let Some(wait) = ms.or_else(|| retry_after(headers, now)) {
            consider(wait, PauseReason::RetryAfter { status });
        }
    }
    for (name, value) in headers {
        let name = name.as_str();
        // Names first, then the count: the reset is read only for a quota used up.
        let Some(quota) = Quota::of(name) else {
            continue;
        };
        let exhausted = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .is_some_and(|left| left <= 0.0);
        if !exhausted {
            continue;
        }
        let reset = |name: String| header_str(headers, &name);
        let wait = match quota {
            Quota::OpenAi(what) => {
                reset(format!("x-ratelimit-reset-{what}")).and_then(|v| parse_reset(v, now))
            }
            Quota::Anthropic(what) => {
                reset(format!("anthropic-ratelimit-{what}-reset")).and_then(|v| parse_reset(v, now))
            }
            Quota::Plain(p) => {
                let after = reset(format!("{p}ratelimit-reset-after")).and_then(plain_seconds);
                after.or_else(|| unix_or_seconds(reset(format!("{p}ratelimit-reset"))?, now))
            }
        };
        if let Some(wait) = wait {
            let header = name.to_string();
            consider(wait, PauseReason::QuotaExhausted { header });
        }
    }
    // A list field: several lines of it are one list (RFC 9110, section 5.3).
    let lines: Vec<&str> = (headers.get_all("ratelimit").iter())
        .filter_map(|v| v.to_str().ok())
        .collect();
    if let Some(wait) = ratelimit_field(&lines.join(",")) {
        let header = "ratelimit".to_string();
        consider(wait, PauseReason::QuotaExhausted { header });
    }
    best
}

/// A header that counts what is left of a quota, and where its reset is.
enum Quota<'a> {
    /// `x-ratelimit-remaining-{what}` (OpenAI and compatible servers): its reset is
    /// `x-ratelimit-reset-{what}`.
    OpenAi(&'a str),
    /// `anthropic-ratelimit-{what}-remaining`: its reset is `anthropic-ratelimit-{what}-reset`.
    Anthropic(&'a str),
    /// `{prefix}ratelimit-remaining`, the prefix `x-` or none (GitHub, Discord, Reddit, GitLab;
    /// the IETF draft's `RateLimit-Remaining`): its reset is `{prefix}ratelimit-reset-after` or
    /// `{prefix}ratelimit-reset`.
    Plain(&'a str),
}

impl<'a> Quota<'a> {
    fn of(name: &'a str) -> Option<Self> {
        if let Some(what) = name.strip_prefix("x-ratelimit-remaining-") {
            Some(Quota::OpenAi(what))
        } else if let Some(what) = name
            .strip_prefix("anthropic-ratelimit-")
            .and_then(|n| n.strip_suffix("-remaining"))
        {
            Some(Quota::Anthropic(what))
        } else {
            let prefix = name.strip_suffix("ratelimit-remaining")?;
            matches!(prefix, "x-" | "").then_some(Quota::Plain(prefix))
        }
    }
}

/// A number of seconds, not negative: `30`, `1.5`.
fn plain_seconds(value: &str) -> Option<Duration> {
    decimal(value).map(seconds)
}

/// A reset given as a number: a Unix time in milliseconds from 10^12 on (OpenRouter:
/// `1789138080000`), in seconds from 10^9 on (GitHub, Discord, GitLab: `1372700873`; both are
/// dates from 2001 on), else seconds to wait (Reddit, the IETF draft: `30`).
fn unix_or_seconds(value: &str, now: SystemTime) -> Option<Duration> {
    let number = decimal(value)?;
    let secs = match number {
        n if n >= 1e12 => n / 1000.0,
        n if n >= 1e9 => n,
        n => return Some(seconds(n)),
    };
    // A time past what the clock can count is a wait longer than any cap, as a huge number of
    // seconds is.
    let Some(at) = UNIX_EPOCH.checked_add(seconds(secs)) else {
        return Some(Duration::MAX);
    };
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait that the IETF draft's `RateLimit` field gives when a quota is used up: a list of
/// `limit=100, remaining=0, reset=30` (draft 7, as express-rate-limit sends it) or of policies
/// `"default";r=0;t=30` (later drafts); the longest wait of a quota with nothing left.
fn ratelimit_field(value: &str) -> Option<Duration> {
    let mut best = None;
    let mut longest = |wait: Option<Duration>| best = best.max(wait);
    let (mut remaining, mut reset) = (None, None);
    for item in value.split(',') {
        let (mut r, mut t) = (None, None);
        for param in item.split(';') {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "remaining" => remaining = decimal(value),
                "reset" => reset = plain_seconds(value),
                "r" => r = decimal(value),
                "t" => t = plain_seconds(value),
                _ => {}
            }
        }
        if r == Some(0.0) {
            longest(t);
        }
    }
    if remaining == Some(0.0) {
        longest(reset);
    }
    best
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// A reset header's value as a wait: a Go duration (`6m0s`, `20ms`), a bare number (seconds,
/// or a Unix time as [`unix_or_seconds`] tells them apart), or an RFC 3339 time. A duration
/// too long for a `Duration` is `Duration::MAX`.
fn parse_reset(value: &str, now: SystemTime) -> Option<Duration> {
    if let Some(d) = parse_go_duration(value) {
        return Some(d);
    }
    // Plain digits (too many for an `f64` included: a huge number, not garbage).
    if decimal(value).is_some() {
        return unix_or_seconds(value, now);
    }
    // Other numbers (`1e3`, `-5`, `inf`): finite and not negative are seconds.
    if let Ok(secs) = value.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| seconds(secs));
    }
    let at = parse_rfc3339(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A Go `time.Duration` string as OpenAI sends it: `6m0s`, `1s`, `20ms`, `1h2m3.5s`, `250us`.
/// Units: `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`; each number may have a fraction. `None` for
/// anything else, a bare number included.
pub(crate) fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * seconds_per_unit;
    }
    // Too long for a `Duration` (or an `f64`): the longest wait, which the caller caps.
    Some(seconds(total))
}

/// An RFC 3339 time such as `2026-12-02T08:30:00Z` or `2026-12-02T08:30:00.5+01:00`.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let len = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if len == 0 {
            return None;
        }
        let digits = &frac[..len.min(9)];
        nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
        rest = &frac[len..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let local = unix_seconds(year, month, day, h * 3600 + m * 60 + sec)?;
    let utc = i64::try_from(local).ok()?.checked_sub(offset)?;
    let utc = u64::try_from(utc).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(utc, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn go_durations_as_openai_sends_them() {
        let cases = [
            ("6m0s", Some(ms(360_000))),
            ("1s", Some(ms(1000))),
            ("20ms", Some(ms(20))),
            ("1h2m3.5s", Some(ms(3_723_500))),
            ("0.5s", Some(ms(500))),
            ("250us", Some(Duration::from_micros(250))),
            ("7µs", Some(Duration::from_micros(7))),
            ("0", Some(Duration::ZERO)),
            ("", None),
            ("s", None),
            ("5", None),
            ("5x", None),
            ("-1s", None),
            ("1..5s", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), want, "{input:?}");
        }
    }

    #[test]
    fn rfc3339_times_as_anthropic_sends_them() {
        let secs =
            |s: &str| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
        assert_eq!(secs("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(secs("2000-02-29T12:00:00Z"), Some(951_825_600.0));
        assert_eq!(secs("2000-02-29T13:00:00+01:00"), Some(951_825_600.0));
        assert_eq!(secs("2000-02-29T11:30:00-00:30"), Some(951_825_600.0));
        assert_eq!(secs("2000-02-29T12:00:00.25Z"), Some(951_825_600.25));
        for bad in [
            "",
            "2000-02-29",
            "2000-13-01T00:00:00Z",
            "2000-02-29T12:00:00",
            "2000-02-29T12:00:00+1:00",
            "2000-02-29T12:00:00.Z",
            "1969-12-31T23:59:59Z",
            "20x0-02-29T12:00:00Z",
            "2000-02-29T12:00:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn origins_fill_in_default_ports_and_ignore_case() {
        assert_eq!(
            origin_of("HTTPS://API.openai.com/v1/x?key=1").as_deref(),
            Some("https://api.openai.com:443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("http://h/").as_deref(), Some("http://h:80"));
        assert_eq!(origin_of("/relative"), None);
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn try_acquire_and_observe_apply_to_a_url_whose_user_info_is_beyond_ascii() {
        let limiter = RateLimiter::new().all_hosts(RateLimit::per_minute(1.0).burst(1));
        let url = "http://caf\u{e9}:pw@127.0.0.1:9/x";
        assert_eq!(
            origin_of(url).as_deref(),
            Some("http://127.0.0.1:9"),
            "the origin of {url}"
        );
        assert_eq!(limiter.try_acquire(url), Ok(()));
        assert!(limiter.try_acquire(url).is_err(), "a second token at once");
        // The same origin, whoever the user is.
        assert!(limiter.try_acquire("http://127.0.0.1:9/y").is_err());

        let limiter = RateLimiter::new();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", http::HeaderValue::from_static("30"));
        let event = limiter.observe("http://jos\u{e9}@127.0.0.1:9/", 429, &headers);
        assert_eq!(
            event.map(|e| e.origin),
            Some("http://127.0.0.1:9".to_string())
        );
        assert_eq!(limiter.pauses(), 1);
        assert!(limiter.try_acquire("http://127.0.0.1:9/").is_err());
    }

    #[test]
    fn a_bucket_allows_its_burst_then_spaces_requests() {
        let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(10.0).burst(3));
        let o = "http://h:80";
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.acquire_at(o, t0).is_ok());
        }
        let next = limiter.acquire_at(o, t0).unwrap_err();
        assert_eq!(next.duration_since(t0), ms(100));
        // Refused attempts take nothing: at the given time, one token is there.
        assert!(limiter.acquire_at(o, next).is_ok());
        assert!(limiter.acquire_at(o, next).is_err());
        // After a long quiet spell the bucket holds its burst, no more.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.acquire_at(o, later).is_ok());
        }
        assert!(limiter.acquire_at(o, later).is_err());
    }

    #[test]
    fn one_host_or_one_origin_overrides_all_hosts() {
        let limiter = RateLimiter::new()
            .all_hosts(RateLimit::per_second(1.0))
            .host("api.example.com", RateLimit::per_second(1.0).burst(2))
            .host(
                "https://api.example.com",
                RateLimit::per_second(1.0).burst(5),
            );
        let t0 = Instant::now();
        let taken = |o: &str| {
            (0..10)
                .take_while(|_| limiter.acquire_at(o, t0).is_ok())
                .count()
        };
        assert_eq!(taken("https://api.example.com:443"), 5);
        assert_eq!(taken("http://api.example.com:80"), 2);
        assert_eq!(taken("http://other:80"), 1);
        // A host written with blanks, or with a path (a base URL without its scheme).
        let written = RateLimiter::new()
            .host(" a.example ", RateLimit::per_second(1.0).burst(2))
            .host("b.example:8080/v1", RateLimit::per_second(1.0).burst(3));
        let taken = |o: &str| {
            (0..10)
                .take_while(|_| written.acquire_at(o, t0).is_ok())
                .count()
        };
        assert_eq!(taken("http://a.example:80"), 2);
        assert_eq!(taken("http://b.example:8080"), 3);
        // Without any rate, nothing is limited and nothing is kept.
        let free = RateLimiter::new();
        assert!((0..100).all(|_| free.acquire_at("http://h:80", t0).is_ok()));
        assert!(free.hosts().map.is_empty());
    }

    #[test]
    fn rates_that_are_not_positive_become_the_slowest() {
        assert_eq!(RateLimit::per_second(0.0).per_second_rate(), MIN_RATE);
        assert_eq!(RateLimit::per_second(f64::NAN).per_second_rate(), MIN_RATE);
        assert_eq!(RateLimit::per_second(-3.0).per_second_rate(), MIN_RATE);
        assert_eq!(RateLimit::per_second(5.0).burst(0).burst_size(), 1);
        let mut b = Bucket::full(RateLimit::per_second(f64::INFINITY), Instant::now());
        let t = Instant::now();
        assert!(b.take(t).is_ok());
        // An unbounded rate never waits more than a rounding error.
        let wait = b
            .take(t)
            .err()
            .map_or(Duration::ZERO, |at| at.duration_since(t));
        assert!(wait < ms(1), "{wait:?}");
    }

    #[test]
    fn retry_after_on_429_and_503_only() {
        let now = SystemTime::now();
        let h = headers(&[("retry-after", "3")]);
        assert_eq!(
            learn(429, &h, now),
            Some((ms(3000), PauseReason::RetryAfter { status: 429 }))
        );
        assert_eq!(
            learn(503, &h, now),
            Some((ms(3000), PauseReason::RetryAfter { status: 503 }))
        );
        assert_eq!(learn(200, &h, now), None);
        assert_eq!(learn(500, &h, now), None);
        let h = headers(&[("retry-after", "3"), ("retry-after-ms", "1500")]);
        assert_eq!(learn(429, &h, now).unwrap().0, ms(1500));
        assert_eq!(learn(429, &headers(&[]), now), None);
        assert_eq!(learn(429, &headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn openai_quota_headers_pause_only_when_exhausted() {
        let now = SystemTime::now();
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "6m0s"),
            ("x-ratelimit-remaining-tokens", "1500"),
            ("x-ratelimit-reset-tokens", "20ms"),
        ]);
        assert_eq!(
            learn(200, &h, now),
            Some((
                ms(360_000),
                PauseReason::QuotaExhausted {
                    header: "x-ratelimit-remaining-requests".into()
                }
            ))
        );
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "10"),
            ("x-ratelimit-reset-requests", "6m0s"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "20ms"),
        ]);
        assert_eq!(learn(200, &h, now).unwrap().0, ms(20));
        // Exhausted without a reset, or with one that does not parse: no pause.
        let h = headers(&[("x-ratelimit-remaining-requests", "0")]);
        assert_eq!(learn(200, &h, now), None);
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "later"),
        ]);
        assert_eq!(learn(200, &h, now), None);
    }

    #[test]
    fn generic_quota_headers_reset_after_seconds_or_at_a_unix_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let quota = |header: &str| PauseReason::QuotaExhausted {
            header: header.into(),
        };
        // GitHub: a Unix time; Reddit: seconds; Discord: both, the seconds win.
        let cases = [
            (
                vec![
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1700000042"),
                ],
                ms(42_000),
            ),
            (
                vec![
                    ("x-ratelimit-remaining", "0.0"),
                    ("x-ratelimit-reset", "376"),
                ],
                ms(376_000),
            ),
            (
                vec![
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1700000999.5"),
                    ("x-ratelimit-reset-after", "1.25"),
                ],
                ms(1250),
            ),
            // OpenRouter: a Unix time in milliseconds.
            (
                vec![
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1700000005000"),
                ],
                ms(5000),
            ),
            // A Unix time in the past waits for nothing.
            (
                vec![
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1600000000"),
                ],
                Duration::ZERO,
            ),
        ];
        for (pairs, wait) in cases {
            let learned = learn(200, &headers(&pairs), now);
            assert_eq!(
                learned,
                Some((wait, quota("x-ratelimit-remaining"))),
                "{pairs:?}"
            );
        }
        let h = headers(&[("RateLimit-Remaining", "0"), ("RateLimit-Reset", "30")]);
        assert_eq!(
            learn(200, &h, now),
            Some((ms(30_000), quota("ratelimit-remaining")))
        );
        // Quota left, no reset, or a reset that is not a number: no pause.
        for pairs in [
            vec![
                ("x-ratelimit-remaining", "1"),
                ("x-ratelimit-reset", "1700000042"),
            ],
            vec![("x-ratelimit-remaining", "0")],
            vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "-5")],
            vec![("ratelimit-remaining", "0"), ("ratelimit-reset", "soon")],
            vec![("x-ratelimit-limit", "0"), ("x-ratelimit-reset", "30")],
        ] {
            assert_eq!(learn(200, &headers(&pairs), now), None, "{pairs:?}");
        }
    }

    #[test]
    fn the_ietf_ratelimit_field_of_either_draft() {
        let now = SystemTime::now();
        let quota = Some(PauseReason::QuotaExhausted {
            header: "ratelimit".into(),
        });
        let wait = |value: &str| {
            let learned = learn(200, &headers(&[("ratelimit", value)]), now);
            let (wait, reason) = learned.map_or((None, None), |(w, r)| (Some(w), Some(r)));
            if wait.is_some() {
                assert_eq!(reason, quota, "{value}");
            }
            wait
        };
        assert_eq!(wait("limit=100, remaining=0, reset=30"), Some(ms(30_000)));
        assert_eq!(wait("limit=100, remaining=7, reset=30"), None);
        assert_eq!(wait(r#""default";r=0;t=12"#), Some(ms(12_000)));
        // Of several policies, the longest wait of those used up.
        assert_eq!(
            wait(r#""burst";r=0;t=2, "daily";r=0;t=90, "hourly";r=5;t=600"#),
            Some(ms(90_000))
        );
        assert_eq!(wait(r#""default";r=3;t=12"#), None);
        // A list sent on several lines is one list (RFC 9110, section 5.3).
        let two_lines = headers(&[
            ("ratelimit", r#""burst";r=5;t=1"#),
            ("ratelimit", r#""daily";r=0;t=30"#),
        ]);
        let learned = learn(200, &two_lines, now).map(|(w, _)| w);
        assert_eq!(learned, Some(ms(30_000)));
        for odd in [
            "",
            "remaining=0",
            "r=0",
            "remaining=x, reset=1",
            ";;=,=",
            "r=-0;t=5",
        ] {
            assert_eq!(wait(odd), None, "{odd:?}");
        }
    }

    /// A bare number of 10^9 or more in a quota's reset is a Unix time there too, as in
    /// `x-ratelimit-reset` (the docs' rule holds for every reset header).
    #[test]
    fn a_unix_time_in_a_quotas_reset_is_a_time_not_seconds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for (remaining, reset) in [
            (
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ),
            (
                "anthropic-ratelimit-requests-remaining",
                "anthropic-ratelimit-requests-reset",
            ),
        ] {
            for (value, wait) in [
                ("1800000020", 20_000),
                ("1800000020000", 20_000),
                ("1799999990", 0),
                ("7", 7_000),
            ] {
                let h = headers(&[(remaining, "0"), (reset, value)]);
                let learned = learn(200, &h, now).map(|(w, _)| w);
                assert_eq!(learned, Some(ms(wait)), "{reset}: {value}");
            }
        }
    }

    #[test]
    fn anthropic_quota_headers_reset_at_a_time() {
        let now = UNIX_EPOCH + Duration::from_secs(951_825_600); // 2000-02-29T12:00:00Z
        let h = headers(&[
            ("anthropic-ratelimit-requests-remaining", "3"),
            ("anthropic-ratelimit-requests-reset", "2000-02-29T12:10:00Z"),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2000-02-29T12:00:07Z",
            ),
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2000-02-29T12:00:04Z",
            ),
        ]);
        assert_eq!(
            learn(200, &h, now),
            Some((
                ms(7000),
                PauseReason::QuotaExhausted {
                    header: "anthropic-ratelimit-output-tokens-remaining".into()
                }
            ))
        );
        // A reset in the past waits for nothing.
        let h = headers(&[
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2000-02-29T11:00:00Z"),
        ]);
        assert_eq!(learn(200, &h, now).unwrap().0, Duration::ZERO);
    }

    #[test]
    fn a_huge_quota_reset_is_the_longest_pause_not_none() {
        // As a huge `Retry-After` is: the cap holds it, where it paused nothing.
        let limiter = RateLimiter::new();
        let o = "https://api.example.com:443";
        let (t0, wall) = (Instant::now(), SystemTime::now());
        let (digits, go) = ("9".repeat(400), format!("{}s", "9".repeat(400)));
        for reset in ["1e30", &digits, "99999999999999999999h", &go] {
            let h = headers(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", reset),
            ]);
            let event = limiter.observe_at(o, 200, &h, t0, wall);
            assert_eq!(event.map(|e| e.wait), Some(DEFAULT_MAX_PAUSE), "{reset:?}");
        }
        // A Unix time past what the clock counts (GitHub's `x-ratelimit-reset` field) too.
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "99999999999999999999999"),
        ]);
        let event = limiter.observe_at(o, 200, &h, t0, wall);
        assert_eq!(event.map(|e| e.wait), Some(DEFAULT_MAX_PAUSE));
        // Not a number of seconds: no pause.
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "inf"),
        ]);
        assert_eq!(learn(200, &h, wall), None);
    }

    #[test]
    fn a_learned_pause_holds_the_origin_and_is_reported() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let limiter = RateLimiter::new()
            .max_pause(Duration::from_secs(30))
            .on_pause(move |e| log.lock().unwrap().push(e.clone()));
        let (o, other) = ("https://api.example.com:443", "https://else:443");
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let h = headers(&[("retry-after", "2")]);
        let event = limiter.observe_at(o, 429, &h, t0, wall).unwrap();
        assert_eq!(event.wait, ms(2000));
        assert_eq!(limiter.acquire_at(o, t0 + ms(500)), Err(t0 + ms(2000)));
        assert!(limiter.acquire_at(other, t0).is_ok());
        assert!(limiter.acquire_at(o, t0 + ms(2000)).is_ok());
        // A pause never shortens one in force; the cap holds a server's huge value.
        limiter.observe_at(o, 503, &headers(&[("retry-after", "5")]), t0, wall);
        let shorter = limiter.observe_at(
            o,
            503,
            &headers(&[("retry-after", "1")]),
            t0 + ms(1000),
            wall,
        );
        assert_eq!(limiter.acquire_at(o, t0), Err(t0 + ms(5000)));
        // The wait reported is the one new requests get: the pause in force, 4 s from then.
        assert_eq!(shorter.map(|e| e.wait), Some(ms(4000)));
        let huge = headers(&[("retry-after", "999999999")]);
        let capped = limiter.observe_at(o, 429, &huge, t0, wall).unwrap();
        assert_eq!(capped.wait, Duration::from_secs(30));
        assert_eq!(limiter.pauses(), 4);
        assert_eq!(seen.lock().unwrap().len(), 4);
        assert_eq!(seen.lock().unwrap()[0], event);
        assert!(event.to_string().contains("api.example.com"), "{event}");
        // Answers that say nothing pause nothing.
        assert!(limiter
            .observe_at(o, 200, &headers(&[]), t0, wall)
            .is_none());
        assert_eq!(limiter.pauses(), 4);
    }

    #[test]
    fn origins_whose_state_is_that_of_a_new_one_are_forgotten() {
        // A crawl: a hundred thousand origins, each asked once, a millisecond apart. Their
        // buckets refill in 100 ms and their pauses end in 50 ms; what is kept must not grow
        // with the number of origins seen.
        let limiter = RateLimiter::new().all_hosts(RateLimit::per_second(10.0));
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let pause = headers(&[("retry-after-ms", "50")]);
        let mut most = 0;
        for i in 0..100_000u64 {
            let now = t0 + ms(i);
            let origin = format!("http://host-{i}:80");
            assert!(limiter.acquire_at(&origin, now).is_ok());
            if i % 3 == 0 {
                assert!(limiter
                    .observe_at(&origin, 429, &pause, now, wall)
                    .is_some());
                // An origin without a rate keeps only its pause.
                let free = format!("http://free-{i}:80");
                assert!(limiter.observe_at(&free, 429, &pause, now, wall).is_some());
            }
            most = most.max(limiter.hosts().map.len());
        }
        assert!(most <= 4096, "{most} origins kept");
        // What is still in force is kept: the last origin's bucket is empty.
        let last = "http://host-99999:80";
        assert!(limiter.acquire_at(last, t0 + ms(99_999)).is_err());
        // And a pause in force survives a sweep.
        let held = "http://held:80";
        let long = headers(&[("retry-after", "3600")]);
        let t1 = t0 + ms(100_000);
        limiter.observe_at(held, 429, &long, t1, wall);
        for i in 0..10_000u64 {
            let now = t1 + ms(i);
            assert!(limiter
                .acquire_at(&format!("http://more-{i}:80"), now)
                .is_ok());
        }
        assert!(limiter.acquire_at(held, t1 + ms(10_000)).is_err());
    }

    #[test]
    fn clones_share_state_but_reconfiguring_a_shared_limiter_copies_it() {
        let a = RateLimiter::new().all_hosts(RateLimit::per_second(1.0));
        let b = a.clone();
        let t0 = Instant::now();
        assert!(a.acquire_at("http://h:80", t0).is_ok());
        assert!(b.acquire_at("http://h:80", t0).is_err());
        let c = b.clone().max_pause(Duration::from_secs(1));
        assert!(c.acquire_at("http://h:80", t0).is_ok());
    }
}
