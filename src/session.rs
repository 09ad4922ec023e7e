//! `FuturesSession`: one `ureq::Agent`, the session's settings, and an executor whose workers
//! run requests on them. Shutdown semantics are in `crate::exec::pool`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    header_names, Config, DefaultHeader, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_WORKERS,
};
use crate::cookies::Jar;
use crate::exec::{Completer, Executor, Pending};
use crate::redirect::RedirectLimit;
use crate::request::RequestBuilder;
use crate::retry::RetryPolicy;
use crate::Error;

/// What every request job gets on its worker: the agent and the session's settings. Each job
/// holds it (an `Arc`), so the session can go away while its jobs finish.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) agent: ureq::Agent,
    pub(crate) config: Config,
}

struct Inner {
    shared: Arc<Shared>,
    exec: Executor,
}

/// Runs blocking [`ureq`] requests on a pool of worker threads and hands back [`Pending`]
/// handles: the Rust analogue of requests-futures' `FuturesSession`.
///
/// All workers share one [`ureq::Agent`], so connections are reused across requests; its idle
/// pool is sized to the number of workers (unless you bring your own agent). A session is cheap to clone (an `Arc`) and can be
/// shared between threads. When the last clone is dropped the session shuts down (see
/// [`shutdown`](FuturesSession::shutdown)).
///
/// # Examples
///
/// ```no_run
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let a = session.get("https://example.com/a").send();
/// let b = session.get("https://example.com/b").send();
/// // both requests are in flight now
/// println!("{}", a.result()?.status());
/// println!("{}", b.result()?.status());
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone)]
pub struct FuturesSession {
    inner: Arc<Inner>,
}

impl fmt::Debug for FuturesSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.shared.config;
        f.debug_struct("FuturesSession")
            .field("max_workers", &self.max_workers())
            .field(
                "headers",
                &settings.headers.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .field("timeout", &settings.timeout)
            .field("read_timeout", &settings.read_timeout)
            .field("max_body_size", &settings.max_body_size)
            .field("max_redirects", &settings.redirects.max)
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

impl Default for FuturesSession {
    fn default() -> Self {
        FuturesSession::new()
    }
}

impl FuturesSession {
    /// A session with [`DEFAULT_MAX_WORKERS`] (8) workers and the defaults of
    /// [`SessionBuilder`].
    pub fn new() -> Self {
        SessionBuilder::default().build()
    }

    /// A builder to set the number of workers, default headers, timeouts or the agent.
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// A GET request. Nothing is sent until a terminal method such as
    /// [`send`](RequestBuilder::send) is called.
    pub fn get(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("GET", url)
    }

    /// A HEAD request.
    pub fn head(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("HEAD", url)
    }

    /// A POST request.
    pub fn post(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("POST", url)
    }

    /// A PUT request.
    pub fn put(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("PUT", url)
    }

    /// A PATCH request.
    pub fn patch(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("PATCH", url)
    }

    /// A DELETE request.
    pub fn delete(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("DELETE", url)
    }

    /// A request with any method, such as `"OPTIONS"`. An invalid method is reported as
    /// [`Error::InvalidRequest`] by the handle.
    pub fn request(&self, method: &str, url: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.into())
    }

    /// Runs any closure on the pool (Python's `executor.submit`). It gets the session's
    /// [`agent`](FuturesSession::agent).
    ///
    /// A panic in the closure becomes [`Error::Panicked`] on the handle; the worker survives.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// let session = FuturesSession::new();
    /// let p = session.submit(|_agent| Ok(42u64));
    /// assert_eq!(p.result().unwrap(), 42);
    /// ```
    pub fn submit<T, F>(&self, f: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&ureq::Agent) -> Result<T, Error> + Send + 'static,
    {
        self.submit_job(move |agent, _, done| done.complete(f(agent)), true)
    }

    /// Queues a job that gets the session's agent and settings and resolves its handle through
    /// the completer (possibly before it returns). `inline`: whether a worker waiting on the
    /// handle may run the job itself (not for jobs that resolve early and go on, such as event
    /// streams).
    pub(crate) fn submit_job<T, F>(&self, job: F, inline: bool) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&ureq::Agent, &Config, Completer<T>) + Send + 'static,
    {
        let shared = Arc::clone(&self.inner.shared);
        self.inner
            .exec
            .submit(move |done| job(&shared.agent, &shared.config, done), inline)
    }

    /// The agent all workers share, for jobs given to [`submit`](FuturesSession::submit).
    ///
    /// The agent a session builds is set up the way the session sends its own requests, so a
    /// closure's own calls on it behave alike in three ways and unlike a default ureq agent:
    ///
    /// * a 4xx/5xx is a response rather than an error, and non-standard methods are allowed;
    /// * the session's [`read_timeout`](SessionBuilder::read_timeout) applies to every read;
    /// * ureq follows no redirects (`max_redirects(0)`): the session follows them itself, so
    ///   that credential headers such as `x-api-key` never reach another origin. A call that
    ///   turns redirects back on (`.config().max_redirects(10)`) has ureq's rules, which drop
    ///   only `Authorization` and `Cookie` on the way to another origin: keep other credential
    ///   headers off such a call.
    ///
    /// Handing this agent to another session's [`SessionBuilder::agent`] shares the connection
    /// pool; that session follows no redirects unless its
    /// [`max_redirects`](SessionBuilder::max_redirects) is set. An agent given to
    /// [`SessionBuilder::agent`] is returned as it was given.
    pub fn agent(&self) -> &ureq::Agent {
        &self.inner.shared.agent
    }

    /// The number of worker threads.
    pub fn max_workers(&self) -> usize {
        self.inner.exec.max_workers()
    }

    /// Jobs waiting for a worker, counting cancelled ones that no worker has passed over yet.
    pub fn queued(&self) -> usize {
        self.inner.exec.queued()
    }

    /// Whether [`shutdown`](FuturesSession::shutdown) has run.
    pub fn is_shut_down(&self) -> bool {
        self.inner.exec.is_shut_down()
    }

    /// Shuts the session down and returns at once: jobs still queued resolve to
    /// [`Error::ShutDown`] without running, running jobs (and event streams) finish, new
    /// submissions resolve to [`Error::ShutDown`], and each worker thread exits once it is idle.
    /// Calling it again does nothing. Dropping the last clone of a session does the same.
    ///
    /// These are requests-futures 1.1's semantics (`shutdown(cancel_futures=True)`) without the
    /// wait; call [`join`](FuturesSession::join) to wait for the workers to exit.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::{Error, FuturesSession};
    /// let session = FuturesSession::new();
    /// session.shutdown();
    /// assert!(matches!(session.submit(|_| Ok(())).result(), Err(Error::ShutDown)));
    /// ```
    pub fn shutdown(&self) {
        self.inner.exec.shutdown();
    }

    /// Shuts the session down and waits until every worker has finished its last job and left
    /// its loop; the threads exit right after. Only returns after
    /// [`shutdown`](FuturesSession::shutdown) and after the running jobs have finished; an event
    /// stream's job finishes when its stream ends or is dropped.
    ///
    /// Calling it on one of the session's own workers would wait for itself; it returns at once
    /// there instead.
    pub fn join(&self) {
        self.inner.exec.join();
    }
}

/// Builds a [`FuturesSession`].
///
/// | setting | default | covers |
/// |---|---|---|
/// | [`max_workers`](SessionBuilder::max_workers) | 8 | threads, and idle connections kept per host |
/// | [`timeout`](SessionBuilder::timeout) | none | a buffered request from start to the end of its body; an event stream until its headers are in |
/// | [`connect_timeout`](SessionBuilder::connect_timeout) | 30 s | TCP connect and TLS handshake (not DNS: `timeout` covers that) |
/// | [`read_timeout`](SessionBuilder::read_timeout) | none | the longest silence between two reads, event streams included |
/// | [`max_body_size`](SessionBuilder::max_body_size) | 10 MiB | a buffered body; past it, [`Error::BodyTooLarge`] |
/// | [`retry`](SessionBuilder::retry) | none | retries of failed attempts, see [`RetryPolicy`] |
/// | [`max_redirects`](SessionBuilder::max_redirects) | 10 | redirects a request follows; past it, `TooManyRedirects` |
/// | [`cookies`](SessionBuilder::cookies) | on | a cookie jar for the session's requests, scoped by host and path (RFC 6265) |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::builder()
///     .max_workers(16)
///     .timeout(Duration::from_secs(30))
///     .read_timeout(Duration::from_secs(60))
///     .header("user-agent", "my-app/1.0")
///     .build();
/// assert_eq!(session.max_workers(), 16);
/// ```
pub struct SessionBuilder {
    max_workers: usize,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    max_body_size: u64,
    retry: Option<RetryPolicy>,
    max_redirects: Option<u32>,
    cookies: bool,
    agent: Option<ureq::Agent>,
}

impl fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionBuilder")
            .field("max_workers", &self.max_workers)
            .field("headers", &header_names(&self.headers))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("max_body_size", &self.max_body_size)
            .field("retry", &self.retry)
            .field("max_redirects", &self.max_redirects)
            .field("cookies", &self.cookies)
            .field("agent", &self.agent.is_some())
            .finish()
    }
}

impl Default for SessionBuilder {
    fn default() -> Self {
        SessionBuilder {
            max_workers: DEFAULT_MAX_WORKERS,
            headers: Vec::new(),
            timeout: None,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            read_timeout: None,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            retry: None,
            max_redirects: None,
            cookies: true,
            agent: None,
        }
    }
}

impl SessionBuilder {
    /// The number of worker threads, at least 1. It also sizes the agent's idle-connection pool
    /// (ureq keeps 3 per host by default, which would reconnect on every burst of more), unless
    /// an [`agent`](SessionBuilder::agent) is given. Defaults to 8.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = n.max(1);
        self
    }

    /// A header sent with every request. A request's own header of the same name replaces it.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The whole-request budget of a buffered request, from connecting to the end of the body;
    /// for an event stream, the budget until the response headers are in (a stream has no total
    /// budget, see [`read_timeout`](SessionBuilder::read_timeout)). Defaults to none.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The budget for the TCP connect and the TLS handshake (name resolution is covered only by
    /// [`timeout`](SessionBuilder::timeout)). Defaults to 30 seconds. Ignored when
    /// an [`agent`](SessionBuilder::agent) is given (configure it there).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// The longest wait for any single read from the server, headers and body, event streams
    /// included: a stream silent for longer ends with [`Error::Timeout`]. Keep-alive comments
    /// reset it. It is also the read timeout of the session's [agent](FuturesSession::agent),
    /// which [`submit`](FuturesSession::submit)'s closures use. Defaults to none.
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = Some(d);
        self
    }

    /// The largest buffered response body, in bytes; a larger one fails with
    /// [`Error::BodyTooLarge`]. Event streams have their own limits. Defaults to 10 MiB.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Retries failed attempts of every request as `policy` says (a request can override it
    /// with [`RequestBuilder::retry`]). Defaults to none: one attempt.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// How many redirects a request follows. The session follows them itself, so that
    /// credential headers never reach another origin (see [`FuturesSession::agent`]). Past the
    /// limit a request fails with ureq's `TooManyRedirects` (or, with a given agent that says
    /// `max_redirects_will_error(false)`, returns the last redirect); 0 returns every redirect
    /// as a response. Defaults to [`DEFAULT_MAX_REDIRECTS`] (10), or to a given
    /// [`agent`](SessionBuilder::agent)'s own `max_redirects` (0 for the agent of another
    /// session).
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = Some(n);
        self
    }

    /// Whether the session keeps cookies: those a response sets are sent with later requests of
    /// the session to the hosts and paths they belong to (RFC 6265), as `requests.Session` does.
    /// Defaults to `true`.
    ///
    /// On by default because this crate ports requests' sessions, and the servers it talks to
    /// rely on it the same way: a login cookie, or the affinity cookie of the load balancer in
    /// front of an API (Cloudflare's `__cf_bm` before OpenAI's). Each session has its own jar,
    /// bounded in size; a cookie goes only where RFC 6265 sends it (never to another host,
    /// unless it names a parent domain of both), a `Secure` one only over https. A request that
    /// sets its own `Cookie` header sends only that one. Turn the jar off for a session that
    /// speaks for several users, or to send exactly the headers you set.
    ///
    /// The behaviour is this setting's alone: ureq's `cookies` feature is not used, so it does
    /// not change when another crate in the build turns that feature on (ureq would then keep a
    /// jar of its own inside the agent as well, which ureq 3.5 cannot switch off).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/", "text/plain", "ok")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// // One session per user of a service: no cookie of one reaches the other's requests.
    /// let stateless = FuturesSession::builder().cookies(false).build();
    /// assert_eq!(stateless.get(format!("{base}/")).send().result()?.text()?, "ok");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn cookies(mut self, keep: bool) -> Self {
        self.cookies = keep;
        self
    }

    /// Uses this agent instead of one built from the settings above. The session still treats
    /// 4xx/5xx as responses (it sets `http_status_as_error(false)` on each request) and follows
    /// redirects itself (up to the agent's `max_redirects`, unless
    /// [`max_redirects`](SessionBuilder::max_redirects) says otherwise; past it, the agent's
    /// `max_redirects_will_error` decides between an error and the last redirect). The session's
    /// `timeout` and `read_timeout`, when set, replace the agent's for each request; when not
    /// set, the agent's own apply, except that an event stream never gets a global or per-call
    /// budget. The agent's connection settings (connect timeout, TLS, proxy, pool size) are
    /// kept. The session cannot tell whether a request of this agent went out on a reused
    /// connection, so it never sends one again after a kept-alive connection closed under it
    /// (see [`RequestBuilder::idempotent`](crate::RequestBuilder::idempotent)).
    pub fn agent(mut self, agent: ureq::Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// Starts the workers and returns the session.
    pub fn build(self) -> FuturesSession {
        let redirects = match &self.agent {
            Some(agent) => RedirectLimit {
                max: self
                    .max_redirects
                    .unwrap_or_else(|| agent.config().max_redirects()),
                will_error: agent.config().max_redirects_will_error(),
            },
            None => RedirectLimit {
                max: self.max_redirects.unwrap_or(DEFAULT_MAX_REDIRECTS),
                will_error: true,
            },
        };
        let agent = self.agent.unwrap_or_else(|| {
            // The rules every request of the session follows are set here once, rather than
            // per request (see `FuturesSession::agent`).
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .allow_non_standard_methods(true)
                .max_redirects(0)
                .timeout_per_read(self.read_timeout)
                .max_idle_connections(self.max_workers.max(10))
                .max_idle_connections_per_host(self.max_workers)
                .timeout_connect(self.connect_timeout)
                .build();
            // ureq's default connector, watched so that a request that meets a pooled
            // connection closed under it can be sent again (see `stale`).
            ureq::Agent::with_parts(
                config,
                crate::stale::connector(),
                ureq::unversioned::resolver::DefaultResolver::default(),
            )
        });
        let shared = Arc::new(Shared {
            agent,
            config: Config {
                headers: self
                    .headers
                    .into_iter()
                    .map(|(name, value)| DefaultHeader::new(name, &value))
                    .collect(),
                timeout: self.timeout,
                read_timeout: self.read_timeout,
                max_body_size: self.max_body_size,
                retry: self.retry,
                redirects,
                cookies: self.cookies.then(Jar::default),
            },
        });
        FuturesSession {
            inner: Arc::new(Inner {
                shared,
                exec: Executor::new("ureq-futures", self.max_workers),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _ensure_send_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<FuturesSession>();
    }

    #[test]
    fn max_workers_is_at_least_one() {
        assert_eq!(
            FuturesSession::builder()
                .max_workers(0)
                .build()
                .max_workers(),
            1
        );
    }

    #[test]
    fn debug_shows_header_names_not_values() {
        let s = FuturesSession::builder()
            .header("authorization", "Bearer sk-secret")
            .build();
        let text = format!("{s:?}");
        assert!(text.contains("authorization"), "{text}");
        assert!(!text.contains("sk-secret"), "{text}");
    }
}
