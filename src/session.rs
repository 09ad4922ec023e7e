//! `FuturesSession`: one `ureq::Agent`, the session's settings, and an executor whose workers
//! run requests on them. Shutdown semantics are in `crate::exec::pool`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    header_names, Config, DefaultHeader, Limit, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_WORKERS, DEFAULT_STREAM_BUFFER_SIZE,
};
use crate::cookies::CookieJar;
use crate::exec::{Completer, Executor, Pending};
use crate::no_proxy::NoProxy;
use crate::ratelimit::{origin_of_uri, RateLimiter};
use crate::redirect::RedirectLimit;
use crate::request::RequestBuilder;
use crate::retry::RetryPolicy;
use crate::Error;

/// The smallest [`SessionBuilder::connection_buffer_size`]: 4 KiB.
const MIN_CONNECTION_BUFFER: usize = 4 * 1024;
/// The largest [`SessionBuilder::connection_buffer_size`] and
/// [`SessionBuilder::stream_buffer_size`]: 16 MiB. ureq allocates both buffers of a connection
/// when it is first used: a larger size (`usize::MAX`) would fail every request with a
/// panic, or abort the process when the allocation fails.
const MAX_CONNECTION_BUFFER: usize = 16 * 1024 * 1024;
/// The write buffer of a stream's connection unless [`SessionBuilder::stream_buffer_size`] is
/// set: 8 KiB, the longest request line or header most servers take (nginx's and Apache's
/// limit). Set, the write buffer is as large as the read buffer, up to
/// [`MAX_STREAM_WRITE_BUFFER`]: a head line over 8 KiB (a long `Cookie` header, which some load
/// balancers take up to 16 KiB) then has a setting that lets it through, and the default keeps
/// an open stream's memory small.
const DEFAULT_STREAM_WRITE_BUFFER: usize = 8 * 1024;
/// The largest write buffer of a stream's connection: 64 KiB, far past the longest head line
/// any server takes. A read buffer raised for large events (1 MiB) would otherwise bring a
/// write buffer as large to every open stream, which ureq fills with zeros when first used.
const MAX_STREAM_WRITE_BUFFER: usize = 64 * 1024;
/// ureq's limit on a response head (status line and headers): 64 KiB.
const DEFAULT_MAX_RESPONSE_HEAD: usize = 64 * 1024;

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
/// pool is sized to the number of workers (unless you bring your own agent). A session is cheap
/// to clone (an `Arc`) and can be shared between threads.
///
/// Workers start on demand: none until the first job, then one for each job that finds them all
/// busy, up to [`max_workers`](SessionBuilder::max_workers). A session built and never used
/// starts no thread. When the system refuses a new worker thread (out of threads or memory),
/// the job that needed it resolves to [`Error::Io`] without running, and the next job that
/// finds every worker busy tries again.
///
/// Handles outlive their session: when the last clone is dropped, every job queued for a live
/// [`Pending`] still runs (its result is there when asked for), and only queued jobs whose
/// handles are gone are dropped unrun: a fire-and-forget request whose handle was dropped is
/// sent only if it started before the session went, so keep the handle of one that must be
/// sent, and wait on it. The workers exit once the queue is empty. An explicit
/// [`shutdown`](FuturesSession::shutdown) is different: it resolves every queued job to
/// [`Error::ShutDown`].
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/a", "text/plain", "a"), ("/b", "text/plain", "b")]);
/// use ureq_futures::{FuturesSession, Pending, Response};
///
/// fn fetch_all(urls: &[String]) -> Vec<Pending<Response>> {
///     let session = FuturesSession::builder().max_workers(1).build();
///     urls.iter().map(|u| session.get(u).send()).collect()
/// } // the session is dropped here, with its jobs still queued
///
/// let urls = [format!("{base}/a"), format!("{base}/b")];
/// for pending in fetch_all(&urls) {
///     assert_eq!(pending.result()?.status(), 200);
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/a", "text/plain", "a"), ("/b", "text/plain", "b")]);
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let a = session.get(format!("{base}/a")).send();
/// let b = session.get(format!("{base}/b")).send();
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
            // `None`: no limit set (an `agent`'s own timeouts then hold).
            .field("timeout", &settings.timeout.value())
            .field("read_timeout", &settings.read_timeout.value())
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
    /// A session of up to [`DEFAULT_MAX_WORKERS`] (8) workers and the defaults of
    /// [`SessionBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// assert_eq!(session.max_workers(), 8);
    /// ```
    pub fn new() -> Self {
        SessionBuilder::default().build()
    }

    /// A builder to set the number of workers, default headers, timeouts or the agent.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().max_workers(2).build();
    /// assert_eq!(session.max_workers(), 2);
    /// ```
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// A GET request. Nothing is sent until a terminal method such as
    /// [`send`](RequestBuilder::send) is called.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/hello", "text/plain", r#"hi"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let resp = session.get(format!("{base}/hello")).send().result()?;
    /// assert_eq!(resp.text()?, "hi");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn get(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("GET", url)
    }

    /// A HEAD request.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/file", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().head(format!("{base}/file")).send().result()?;
    /// assert_eq!(resp.status(), 200);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn head(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("HEAD", url)
    }

    /// A POST request.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/items", "application/json", r#"{"id":1}"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new()
    ///     .post(format!("{base}/items"))
    ///     .send_json(&serde_json::json!({"name": "pen"}))
    ///     .result()?;
    /// assert_eq!(resp.json::<serde_json::Value>()?["id"], 1);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn post(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("POST", url)
    }

    /// A PUT request.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/items/1", "text/plain", r#"replaced"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().put(format!("{base}/items/1")).body("new").send().result()?;
    /// assert_eq!(resp.text()?, "replaced");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn put(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("PUT", url)
    }

    /// A PATCH request.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/items/1", "text/plain", r#"patched"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new()
    ///     .patch(format!("{base}/items/1"))
    ///     .json(&serde_json::json!({"price": 2}))
    ///     .send()
    ///     .result()?;
    /// assert_eq!(resp.text()?, "patched");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn patch(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("PATCH", url)
    }

    /// A DELETE request.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/items/1", "text/plain", r#"gone"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().delete(format!("{base}/items/1")).send().result()?;
    /// assert!(resp.is_success());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn delete(&self, url: impl Into<String>) -> RequestBuilder {
        self.request("DELETE", url)
    }

    /// A request with any method, such as `"OPTIONS"`. The method is sent in upper case, as
    /// requests sends it (`"post"` is a POST). An invalid method is reported as
    /// [`Error::InvalidRequest`] by the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/", "text/plain", r#"ok"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().request("OPTIONS", format!("{base}/")).send().result()?;
    /// assert_eq!(resp.status(), 200);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn request(&self, method: &str, url: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.into())
    }

    /// Runs any closure on the pool (Python's `executor.submit`). It gets the session's
    /// [`agent`](FuturesSession::agent).
    ///
    /// A panic in the closure becomes [`Error::Panicked`] on the handle; the worker survives.
    /// The panic hook still prints the panic's message on stderr (with a backtrace when
    /// `RUST_BACKTRACE` asks), as for a panic on any thread: that is not a crash, and
    /// [`std::panic::set_hook`] quiets it.
    /// `?` works in the closure on this crate's errors, on I/O, JSON and ureq errors (each
    /// becomes its own variant), and on boxed and parse errors ([`Error::Other`]); any other
    /// error type goes through [`Error::other`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// let session = FuturesSession::new();
    /// let p = session.submit(|_agent| Ok(42u64));
    /// assert_eq!(p.result().unwrap(), 42);
    ///
    /// // The closure's own errors, with `?`.
    /// let parsed = session.submit(|_agent| {
    ///     let config: serde_json::Value = serde_json::from_str(r#"{"workers": "8"}"#)?;
    ///     let workers: usize = config["workers"].as_str().unwrap_or("").parse()?;
    ///     Ok(workers)
    /// });
    /// assert_eq!(parsed.result().unwrap(), 8);
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
        self.submit_request_job(job, inline, None)
    }

    /// The lane of a request to `url`: its origin, when the session limits origins (and `None`,
    /// at no cost, when it does not). The URL is read as the request will send it (its bytes
    /// beyond ASCII encoded): `http::Uri` alone refuses a user-info beyond ASCII, and a request
    /// without a lane would go past `max_per_host` and the rate limiter. A URL that does not
    /// parse fails its request anyway.
    pub(crate) fn lane_of(&self, url: &str) -> Option<Arc<str>> {
        if !self.inner.exec.has_lanes() {
            return None;
        }
        let uri = crate::url::parse(url).ok()?;
        origin_of_uri(&uri).map(Arc::from)
    }

    /// [`submit_job`](FuturesSession::submit_job) for a job in `lane` (see
    /// [`lane_of`](FuturesSession::lane_of)).
    pub(crate) fn submit_request_job<T, F>(
        &self,
        job: F,
        inline: bool,
        lane: Option<Arc<str>>,
    ) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&ureq::Agent, &Config, Completer<T>) + Send + 'static,
    {
        let shared = Arc::clone(&self.inner.shared);
        self.inner.exec.submit_in_lane(
            move |done| job(&shared.agent, &shared.config, done),
            inline,
            lane,
        )
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
    /// It does not add what the session's own requests carry: its default headers, its
    /// authentication, its cookies, its retries and rate limits. For a request with them inside
    /// a job, send it through the session (`session.get(url).send().result()`, which a job of
    /// a full pool runs inline).
    ///
    /// Handing this agent to another session's [`SessionBuilder::agent`] shares the connection
    /// pool; that session follows no redirects unless its
    /// [`max_redirects`](SessionBuilder::max_redirects) is set. An agent given to
    /// [`SessionBuilder::agent`] is returned as it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// // The session's ureq agent, for code that wants plain ureq calls on the same connections.
    /// let config = session.agent().config();
    /// assert!(!config.http_status_as_error());
    /// ```
    pub fn agent(&self) -> &ureq::Agent {
        &self.inner.shared.agent
    }

    /// The session's cookies (requests' `session.cookies`): read the cookie a login set, add
    /// one of your own, save and restore them, log out. `None` for a session built with
    /// [`cookies(false)`](SessionBuilder::cookies).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// session.cookies().unwrap().set("https://example.com/", "lang=en")?;
    /// assert!(FuturesSession::builder().cookies(false).build().cookies().is_none());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn cookies(&self) -> Option<&CookieJar> {
        self.inner.shared.config.cookies.as_ref()
    }

    /// The most worker threads this session runs (see
    /// [`SessionBuilder::max_workers`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// assert_eq!(FuturesSession::builder().max_workers(3).build().max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.inner.exec.max_workers()
    }

    /// The worker threads running now: 0 until the first job, then one more for each job that
    /// found every worker busy, up to [`max_workers`](FuturesSession::max_workers) (an event
    /// stream that a job waited for in its full pool runs on a thread of its own, not counted
    /// here: see [`Pending::result`](crate::Pending::result)). They exit
    /// after [`shutdown`](FuturesSession::shutdown), or after the last clone is dropped and
    /// the queue is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::FuturesSession;
    /// let session = FuturesSession::builder().max_workers(4).build();
    /// assert_eq!(session.workers(), 0); // nothing started yet
    /// session.submit(|_| Ok(())).result()?;
    /// assert_eq!(session.workers(), 1);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn workers(&self) -> usize {
        self.inner.exec.workers()
    }

    /// Jobs submitted and not started yet: those waiting for a worker and, in a session with
    /// [`max_per_host`](SessionBuilder::max_per_host) or a
    /// [`rate_limiter`](SessionBuilder::rate_limiter), those parked in their origin's lane
    /// (waiting for room under `max_per_host`, or for the limiter), which hold no worker.
    /// Cancelled ones (and ones a waiting job ran itself) that no worker has passed over yet
    /// are counted too, up to about twice the live jobs (at least 1,024): submissions sweep
    /// them out while every worker is busy. A snapshot: a job on its way from the queue to its
    /// lane may be missed.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().max_workers(1).build();
    /// assert_eq!(session.queued(), 0);
    /// let (go, wait) = std::sync::mpsc::channel::<()>();
    /// let busy = session.submit(move |_| Ok(wait.recv().is_ok())); // holds the only worker
    /// let next = session.submit(|_| Ok(true));
    /// assert_eq!(session.queued(), 1);
    /// go.send(()).unwrap();
    /// assert!(busy.result()? && next.result()?);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn queued(&self) -> usize {
        self.inner.exec.waiting()
    }

    /// Whether [`shutdown`](FuturesSession::shutdown) has run.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// assert!(!session.is_shut_down());
    /// session.shutdown();
    /// assert!(session.is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.inner.exec.is_shut_down()
    }

    /// Whether every worker waits for the reader of a stream to make room in its channel, and
    /// how many such waits have ended (see `Executor::stuck_on_readers`).
    #[cfg(feature = "llm")]
    pub(crate) fn stuck_on_readers(&self) -> Option<usize> {
        self.inner.exec.stuck_on_readers()
    }

    /// The session's executor, for tests that reach into it.
    #[cfg(test)]
    pub(crate) fn executor_for_test(&self) -> &Executor {
        &self.inner.exec
    }

    /// The longest line of an event stream's request head this session can write: its stream
    /// connections' write buffer (ureq writes a head line whole, or fails).
    pub(crate) fn stream_head_line_room(&self) -> usize {
        let shared = &self.inner.shared;
        let agent = shared.config.stream_agent.as_ref().unwrap_or(&shared.agent);
        agent.config().output_buffer_size()
    }

    /// Whether the session has a default header whose name (lower case) `f` accepts.
    #[cfg(feature = "llm")]
    pub(crate) fn has_default_header_named(&self, f: impl Fn(&str) -> bool) -> bool {
        let headers = &self.inner.shared.config.headers;
        headers.iter().any(|h| f(&h.name.to_ascii_lowercase()))
    }

    /// The value of the session's default header `name`, or why it is refused (the text of
    /// the [`Error::InvalidRequest`] each request that sends it fails with).
    pub(crate) fn default_header(&self, name: &str) -> Option<Result<String, String>> {
        let header = self.inner.shared.config.default_header(name)?;
        Some(match &header.parsed {
            Ok((_, value)) => Ok(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            Err(why) => Err(why.clone()),
        })
    }

    /// Disconnected once the session is shut down: see `Executor::halted`.
    pub(crate) fn halted(&self) -> crossbeam_channel::Receiver<()> {
        self.inner.exec.halted()
    }

    /// Shuts the session down and returns at once: jobs still queued resolve to
    /// [`Error::ShutDown`] without running, running jobs (and event streams) finish, new
    /// submissions resolve to [`Error::ShutDown`], and each worker thread exits once it is idle.
    /// A request waiting to be retried (its [`RetryPolicy`](crate::RetryPolicy)'s wait, or a
    /// server's `Retry-After` pause at the [`rate_limiter`](SessionBuilder::rate_limiter)) is
    /// running: it makes its next attempts after its waits, which the policy's
    /// `max_retry_after` and the limiter's `max_pause` bound (60 s each by default);
    /// [`shutdown_now`](FuturesSession::shutdown_now) ends it at once.
    /// An [`EventSource`](crate::EventSource) waiting to reconnect stops waiting and ends with
    /// `Err(Error::ShutDown)`. Calling it again does nothing. Dropping the last clone of a
    /// session is gentler: jobs queued for live handles still run (see [`FuturesSession`]).
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

    /// Stops everything now, for Ctrl-C: [`shutdown`](FuturesSession::shutdown), and every
    /// running job is cancelled as by [`Pending::cancel`]: its handle resolves to
    /// [`Error::Cancelled`] and its request is interrupted, so its worker is free at once (but
    /// for a name lookup and a connect to a SOCKS proxy, which end at their timeouts; see
    /// [`Pending::cancel`]).
    /// Event streams being read end with `Err(Error::Cancelled)` as their last item, and a
    /// [`BodyReader`](crate::BodyReader) of a request it sent (`send_streaming`) is stopped as by
    /// its [`stop_handle`](crate::BodyReader::stop_handle): a read blocked on it, on whatever
    /// thread, returns an error that `?` turns into `Error::Cancelled`. Returns at once; call
    /// [`join`](FuturesSession::join) to wait for the workers to exit.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let url = format!("http://{}/", listener.local_addr()?);
    /// # let (connected, running) = std::sync::mpsc::channel();
    /// # std::thread::spawn(move || {
    /// #     let (mut socket, _) = listener.accept().unwrap();
    /// #     connected.send(()).unwrap();
    /// #     // The request, in as many reads as it takes; no answer, ever; ends when the client goes away.
    /// #     while socket.read(&mut [0; 1024]).is_ok_and(|n| n > 0) {}
    /// # });
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let session = FuturesSession::builder().max_workers(1).build();
    /// let silent = session.get(url).send();
    /// let queued = session.submit(|_| Ok(()));
    /// # running.recv()?; // the request is running: its worker connected
    /// session.shutdown_now();
    /// assert!(matches!(silent.result(), Err(Error::Cancelled)));
    /// assert!(matches!(queued.result(), Err(Error::ShutDown)));
    /// session.join(); // returns: the worker was interrupted (it was connected)
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_now(&self) {
        self.inner.exec.shutdown_now();
    }

    /// Shuts the session down and waits until every worker has finished its last job and left
    /// its loop; the threads exit right after. Only returns after
    /// [`shutdown`](FuturesSession::shutdown) and after the running jobs have finished (a
    /// request waiting to be retried among them, as `shutdown` says); an event stream's job
    /// finishes when its stream ends or is dropped. Not waited for: an event
    /// stream that a job waited for in its full pool and that runs on a thread of its own (see
    /// [`Pending::result`]); it ends with its stream.
    ///
    /// Jobs still queued do not run: they resolve to [`Error::ShutDown`], as `shutdown` says (a
    /// [`download`](RequestBuilder::download) whose handle was dropped is not made). To finish
    /// queued work, wait on its handles first ([`wait_all`](crate::wait_all),
    /// [`as_completed`](crate::as_completed)).
    ///
    /// Calling it on one of the session's own workers would wait for itself; it returns at once
    /// there instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let job = session.submit(|_| Ok(6 * 7));
    /// assert_eq!(job.result()?, 42);
    /// session.join(); // no new work; returns once every worker has left its loop
    /// assert!(session.is_shut_down());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn join(&self) {
        self.inner.exec.join();
    }
}

/// The longest `connect_timeout` taken as a limit: a century. ureq adds the limit to the time
/// the connect starts, which panics past what an `Instant` can hold; a longer one is no limit.
const LONGEST_CONNECT_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

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
/// | [`max_redirects`](SessionBuilder::max_redirects) | 10 | redirects a request follows; past it, [`Error::TooManyRedirects`] |
/// | [`max_per_host`](SessionBuilder::max_per_host) | none | requests in flight to one origin; past it, a request waits without holding a worker |
/// | [`rate_limiter`](SessionBuilder::rate_limiter) | none | request rates per origin, and pauses learned from 429s and rate-limit headers |
/// | [`connection_buffer_size`](SessionBuilder::connection_buffer_size) | 128 KiB (ureq's) | each connection's read and write buffers (4 KiB to 16 MiB), held while it is open |
/// | [`stream_buffer_size`](SessionBuilder::stream_buffer_size) | 16 KiB | the read buffer (4 KiB to 16 MiB) of the connections of event streams, which stay open; their write buffer is 8 KiB at most, or as large when this is set, up to 64 KiB |
/// | [`cookies`](SessionBuilder::cookies) | on | a cookie jar for the session's requests, scoped by host and path (RFC 6265) |
/// | [`basic_auth`](SessionBuilder::basic_auth), [`bearer_auth`](SessionBuilder::bearer_auth) | none | an `Authorization` header on every request, kept from other origins |
/// | [`proxy`](SessionBuilder::proxy) | the first set of `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`, for every scheme | where connections go first |
/// | [`tls_config`](SessionBuilder::tls_config) | rustls, Mozilla roots | TLS provider, root certificates, client certificates |
///
/// A builder is `Clone`: one template for several sessions. The sessions built from clones
/// share what the builder holds by handle: a [`rate_limiter`](SessionBuilder::rate_limiter)
/// (one budget for all of them) and an [`agent`](SessionBuilder::agent) (one connection pool);
/// each has its own workers, cookie jar and everything else.
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
#[derive(Clone)]
#[must_use = "a SessionBuilder makes no session until build() is called"]
pub struct SessionBuilder {
    max_workers: usize,
    headers: Vec<(String, String)>,
    /// Why the session's `basic_auth` credentials were refused: every request that would send
    /// them fails with it.
    auth_refused: Option<String>,
    timeout: Limit,
    connect_timeout: Option<Duration>,
    read_timeout: Limit,
    max_body_size: u64,
    retry: Option<RetryPolicy>,
    max_redirects: Option<u32>,
    cookies: bool,
    agent: Option<ureq::Agent>,
    max_per_host: Option<usize>,
    rate_limiter: Option<RateLimiter>,
    connection_buffer_size: Option<usize>,
    stream_buffer_size: Option<usize>,
    /// `None`: ureq's default (the environment's proxy); `Some(None)`: no proxy.
    proxy: Option<Option<ureq::Proxy>>,
    tls_config: Option<ureq::tls::TlsConfig>,
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
            .field("max_per_host", &self.max_per_host)
            .field("rate_limiter", &self.rate_limiter)
            .field("connection_buffer_size", &self.connection_buffer_size)
            .field("stream_buffer_size", &self.stream_buffer_size)
            .field(
                "proxy",
                &self
                    .proxy
                    .as_ref()
                    .map(|p| p.as_ref().map(ureq::Proxy::protocol)),
            )
            .field(
                "tls_config",
                &self.tls_config.as_ref().map(|t| t.provider()),
            )
            .finish()
    }
}

impl Default for SessionBuilder {
    fn default() -> Self {
        SessionBuilder {
            max_workers: DEFAULT_MAX_WORKERS,
            headers: Vec::new(),
            auth_refused: None,
            timeout: Limit::Inherit,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            read_timeout: Limit::Inherit,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            retry: None,
            max_redirects: None,
            cookies: true,
            agent: None,
            max_per_host: None,
            rate_limiter: None,
            connection_buffer_size: None,
            stream_buffer_size: None,
            proxy: None,
            tls_config: None,
        }
    }
}

impl SessionBuilder {
    /// The most worker threads, at least 1; they start as jobs arrive, not here, and a large
    /// maximum (`usize::MAX` for none) costs nothing for the workers not started. It also sizes
    /// the agent's idle-connection pool
    /// (ureq keeps 3 per host by default, which would reconnect on every burst of more), unless
    /// an [`agent`](SessionBuilder::agent) is given. Defaults to 8. A job that waits for an
    /// event stream queued in its own busy pool starts it on a thread beyond the maximum (see
    /// [`Pending::result`](crate::Pending::result)).
    ///
    /// Besides its workers, a job may hold short-lived threads of its own, at most two at a
    /// time: an event stream's request goes out from a thread that ends once the response
    /// head is in (so that the worker's stack stays shallow while it reads the
    /// stream), and a wait with a deadline that no socket timeout can express (a request's
    /// `timeout`, the few seconds a refused stream's error body is waited for) is watched by
    /// a thread that ends with the wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().max_workers(32).build();
    /// assert_eq!(session.max_workers(), 32);
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = n.max(1);
        self
    }

    /// A header sent with every request. A request's own header of the same name replaces it,
    /// and so does a later call with the same name (in any case), as `session.headers[k] = v`
    /// does in requests. An invalid name or value, and `Content-Length` or
    /// `Transfer-Encoding` (a body's framing is set per request), fail each request that would
    /// send it with [`Error::InvalidRequest`](crate::Error::InvalidRequest).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder()
    ///     .header("user-agent", "my-app/1.0")
    ///     .header("accept", "application/json")
    ///     .build();
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_header(name.into(), Ok(value.into()));
        self
    }

    /// Sets the default header `name`, replacing one of that name (in any case), and refused
    /// `basic_auth` credentials when it is `Authorization`; `Err` is such a refusal, which fails
    /// every request that would send the header.
    fn set_header(&mut self, name: String, value: Result<String, String>) {
        self.headers
            .retain(|(set, _)| !set.eq_ignore_ascii_case(&name));
        if name.eq_ignore_ascii_case("authorization") {
            self.auth_refused = None;
        }
        match value {
            Ok(value) => self.headers.push((name, value)),
            Err(why) => self.auth_refused = Some(why),
        }
    }

    /// HTTP Basic authentication (RFC 7617) for every request of the session, as
    /// `session.auth = (user, password)` in requests: an `Authorization` default header, which
    /// replaces one set before and which a request's own
    /// [`basic_auth`](RequestBuilder::basic_auth), [`bearer_auth`](RequestBuilder::bearer_auth)
    /// or `Authorization` header replaces. It is removed when a redirect leads to another
    /// origin. The text is encoded as UTF-8, as [`RequestBuilder::basic_auth`] says. No
    /// authentication by default.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/a", "text/plain", "a"), ("/b", "text/plain", "b")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().basic_auth("aladdin", "open sesame").build();
    /// // Both requests carry `Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`.
    /// let a = session.get(format!("{base}/a")).send();
    /// let b = session.get(format!("{base}/b")).send();
    /// assert_eq!(format!("{}{}", a.result()?.text()?, b.result()?.text()?), "ab");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn basic_auth(mut self, user: impl AsRef<str>, password: impl AsRef<str>) -> Self {
        // Refused credentials leave no `Authorization` behind, and fail the requests instead.
        let value = crate::auth::basic(user.as_ref(), password.as_ref());
        self.set_header("authorization".into(), value);
        self
    }

    /// A bearer token (RFC 6750) for every request of the session: an `Authorization: Bearer`
    /// default header, replaced as [`basic_auth`](SessionBuilder::basic_auth) says. An empty
    /// token, or another that [`RequestBuilder::bearer_auth`] refuses, fails each request that
    /// would send it, as that method says. No authentication by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().bearer_auth("sk-test").build();
    /// // The value never shows in Debug output.
    /// assert!(!format!("{session:?}").contains("sk-test"));
    /// ```
    pub fn bearer_auth(mut self, token: impl AsRef<str>) -> Self {
        // A refused token leaves no `Authorization` behind, and fails the requests instead.
        let value = crate::auth::bearer(token.as_ref());
        self.set_header("authorization".into(), value);
        self
    }

    /// The proxy every request goes through: `ureq::Proxy::new("http://proxy:3128")?`, or
    /// `socks5://127.0.0.1:1080` (and `socks5h://`, `socks4://`, `socks4a://`);
    /// `None` for no proxy at all. Defaults to the environment's, as ureq reads it: the first of
    /// `ALL_PROXY`, `HTTPS_PROXY` and `HTTP_PROXY` (each before its lower-case form) that is set
    /// serves every request, `http://` URLs included, except to the hosts in `NO_PROXY`. Unlike
    /// requests, which takes `HTTP_PROXY` for `http://` URLs: set the proxy here if they differ.
    /// A variable that cannot be read as a proxy URL is passed over, as ureq does; when none of
    /// those set can be read (a space in the password), or the one that serves reads as a host
    /// what is its user name (a `#`, `/` or `?` in the password ends the credentials early),
    /// the requests it would serve are refused with an
    /// [`Error::InvalidRequest`](crate::Error::InvalidRequest) that says how to write it, where
    /// they went direct (or to the wrong host).
    /// In a CGI script (`REQUEST_METHOD` set), `HTTP_PROXY` is ignored, as Go and Python ignore
    /// it there ("httpoxy": the server puts a client's `Proxy:` header there); the lower-case
    /// `http_proxy` still serves. `no_proxy` (or `NO_PROXY`; an empty one counts as unset) is
    /// read as curl, requests and Go read it: entries separated by commas or spaces
    /// (`localhost, 127.0.0.1`); a name covers the host and its subdomains,
    /// with or without a leading `.` or `*.` (`example.com`, `.example.com`: `example.com` and
    /// `api.example.com`); addresses and ranges (`127.0.0.1`, `::1`, `10.0.0.0/8`, `fd00::/8`)
    /// match hosts written as addresses (a name is not resolved to find out); `host:port`
    /// matches that port only; `*` matches every host. What ureq's own, stricter matching
    /// exempts goes direct too. A proxy set here does not read `NO_PROXY`: give it its
    /// exceptions with ureq's `Proxy::builder(..).no_proxy(..)`. The session's matching is for
    /// its requests; a [`submit`](crate::FuturesSession::submit) closure that uses the agent
    /// itself gets ureq's.
    /// An HTTP proxy is asked to `CONNECT` (a tunnel) for `http://` URLs too, where requests
    /// and curl send it `GET http://...`: a proxy that allows `CONNECT` to port 443 only (squid's
    /// and tinyproxy's default configurations) refuses other URLs with a 403, an
    /// [`Error::Transport`](crate::Error::Transport) that says so. The proxy's credentials go
    /// in its URL (`http://user:password@proxy:3128`): a request that goes through the proxy
    /// with a `Proxy-Authorization` header of its own is refused
    /// ([`Error::InvalidRequest`](crate::Error::InvalidRequest)), as the header would go
    /// through the tunnel to the server. Ignored when an [`agent`](SessionBuilder::agent) is given (configure it there).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let proxy = ureq::Proxy::new("http://127.0.0.1:3128")?;
    /// let session = FuturesSession::builder().proxy(proxy).build();
    /// // And a session that ignores ALL_PROXY and its siblings:
    /// let direct = FuturesSession::builder().proxy(None).build();
    /// # Ok::<(), ureq::Error>(())
    /// ```
    pub fn proxy(mut self, proxy: impl Into<Option<ureq::Proxy>>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// ureq's TLS settings: which provider (rustls by default; `TlsProvider::NativeTls` with the
    /// `native-tls` feature), which root certificates (the bundled Mozilla roots by default;
    /// `RootCerts::Specific` for a private CA, or for a self-signed server certificate, which
    /// must then be a leaf: rustls refuses a CA certificate as a server's own, and
    /// `openssl req -x509` makes one unless given `-addext basicConstraints=critical,CA:FALSE`),
    /// client certificates. Defaults to ureq's
    /// `TlsConfig::default()`: rustls, Mozilla roots, verification on. Ignored when an
    /// [`agent`](SessionBuilder::agent) is given (configure it there).
    ///
    /// `RootCerts::PlatformVerifier` (the system's certificate store) with rustls needs ureq's
    /// `platform-verifier` feature, which this crate does not turn on: add
    /// `ureq = { version = "3.5", features = ["platform-verifier"] }` to your `Cargo.toml`.
    /// Without it every `https://` request fails with [`Error::Panicked`](crate::Error::Panicked)
    /// (`Rustls + PlatformVerifier requires feature: platform-verifier`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use ureq::tls::{Certificate, RootCerts, TlsConfig};
    /// use ureq_futures::FuturesSession;
    ///
    /// // Trust a private CA (instead of the bundled roots), as requests' `verify="ca.pem"`.
    /// let pem = std::fs::read("ca.pem")?;
    /// let ca = Certificate::from_pem(&pem)?;
    /// let tls = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&[ca])).build();
    /// let session = FuturesSession::builder().tls_config(tls).build();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_config(mut self, config: ureq::tls::TlsConfig) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// The whole-request budget of a buffered request, from connecting to the end of the body,
    /// redirects and retries included; for an event stream,
    /// [`send_streaming`](RequestBuilder::send_streaming) or
    /// [`download`](RequestBuilder::download), the budget until the response headers are in (a
    /// stream has no total budget, see [`read_timeout`](SessionBuilder::read_timeout)). Past it,
    /// [`Error::Timeout`] names `timeout` and its value. A `Duration`, or `None` for no limit.
    /// Defaults to none (with a given [`agent`](SessionBuilder::agent), the agent's own).
    ///
    /// The budget starts when a worker starts the request: time spent queued for a worker, or
    /// parked for a [`RateLimiter`](crate::RateLimiter)'s turn or a
    /// [`max_per_host`](SessionBuilder::max_per_host) slot, does not count (a wait for a rate
    /// limiter's turn between redirect hops does). To bound the whole wait, give the handle a
    /// deadline of its own: [`Pending::result_timeout`](crate::Pending::result_timeout), then
    /// [`Pending::cancel`](crate::Pending::cancel).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().timeout(Duration::from_secs(30)).build();
    /// // No limit (also where an agent given with `.agent(..)` has one of its own):
    /// let patient = FuturesSession::builder().timeout(None).build();
    /// ```
    pub fn timeout(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.timeout = Limit::Set(d.into());
        self
    }

    /// The budget for the TCP connect and the TLS handshake (name resolution is covered only by
    /// [`timeout`](SessionBuilder::timeout)). Past it, [`Error::Timeout`] names
    /// `connect_timeout` and its value. A `Duration`, or `None` for no limit (the system's own
    /// then ends a connect that gets no answer, after about two minutes on Linux). Defaults to
    /// [`DEFAULT_CONNECT_TIMEOUT`] (30 s). A limit longer than a century (`Duration::MAX`) is
    /// no limit. One so short that it has run out before the connect starts (zero, a few
    /// microseconds) gives the connect 1 s, ureq's rule for a spent limit, though the error
    /// names the limit set. Ignored when an [`agent`](SessionBuilder::agent) is given (configure
    /// it there).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().connect_timeout(Duration::from_secs(5)).build();
    /// ```
    pub fn connect_timeout(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.connect_timeout = d.into();
        self
    }

    /// The longest wait for any single read from the server, headers and body, event streams
    /// included: a stream silent for longer ends with [`Error::Timeout`], which names
    /// `read_timeout` and its value. Keep-alive comments reset it. It is also the read timeout
    /// of the session's [agent](FuturesSession::agent), which
    /// [`submit`](FuturesSession::submit)'s closures use.
    ///
    /// It does not bound writes: an upload that the server stops reading, while it keeps the
    /// connection open, waits until the request's [`timeout`](SessionBuilder::timeout) or a
    /// cancel. A write timeout was tried and left out: Linux wakes a blocked write only once a
    /// third of the socket's send buffer is free, so a server that reads slowly but steadily
    /// (4 KiB every 50 ms) had an upload cut under a one-second write timeout. A `Duration`, or
    /// `None` for no limit (not zero, which fails the first read that has to wait). Defaults to
    /// none (with a given [`agent`](SessionBuilder::agent), the agent's own).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// // An event stream silent for 90 s ends with Error::Timeout.
    /// let session = FuturesSession::builder().read_timeout(Duration::from_secs(90)).build();
    /// ```
    pub fn read_timeout(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.read_timeout = Limit::Set(d.into());
        self
    }

    /// The largest buffered response body, in bytes; a larger one fails with
    /// [`Error::BodyTooLarge`]. Event streams have their own limits. Defaults to 10 MiB.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/big", "text/plain", r#"0123456789"#)]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().max_body_size(4).build();
    /// let err = session.get(format!("{base}/big")).send().result().unwrap_err();
    /// assert!(matches!(err, ureq_futures::Error::BodyTooLarge { .. }));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Retries failed attempts of every request as `policy` says (a request can override it
    /// with [`RequestBuilder::retry`]). Defaults to none: one attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{FuturesSession, RetryPolicy};
    ///
    /// let session = FuturesSession::builder().retry(RetryPolicy::new().attempts(3)).build();
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// How many redirects a request follows. The session follows them itself, so that
    /// credential headers never reach another origin (see [`FuturesSession::agent`]). Past the
    /// limit a request fails with [`Error::TooManyRedirects`] (or, with a given agent that says
    /// `max_redirects_will_error(false)`, returns the last redirect); 0 returns every redirect
    /// as a response. Defaults to [`DEFAULT_MAX_REDIRECTS`] (10), or to a given
    /// [`agent`](SessionBuilder::agent)'s own `max_redirects` (0 for the agent of another
    /// session).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// // Every redirect comes back as a response.
    /// let session = FuturesSession::builder().max_redirects(0).build();
    /// ```
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
    /// bounded in size; a cookie goes only where RFC 6265 sends it (a cookie set without
    /// `Domain` only to the host that set it, where requests also sends it to its subdomains;
    /// never to another host unless it names a parent domain of both, and one naming a public
    /// suffix such as `co.uk` only to the host that set it), a `Secure` one only over https.
    /// A request that sets its own `Cookie` header sends only that one, as requests does;
    /// after a redirect, the jar's cookies, as requests rebuilds the header on each hop (the
    /// cookie a login's redirect sets reaches the page it leads to), then the request's own of
    /// other names, within the origin. [`FuturesSession::cookies`] reads, adds, saves and
    /// clears them. Turn the jar off for a session that speaks for several users, or to send
    /// exactly the headers you set.
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
    /// (see [`RequestBuilder::idempotent`](crate::RequestBuilder::idempotent)). Nor can it shut
    /// this agent's connections down: [`Pending::cancel`](crate::Pending::cancel) and
    /// [`shutdown_now`](FuturesSession::shutdown_now) resolve the handles at once, but a running
    /// request holds its worker until it ends (bound it with a timeout). And its connections
    /// keep ureq's reading of a reset in a body without `Content-Length` or chunking: the end
    /// of the body, where the session's own report the reset as an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let agent: ureq::Agent = ureq::Agent::config_builder().user_agent("my-app/1.0").build().into();
    /// let session = FuturesSession::builder().agent(agent).build();
    /// ```
    pub fn agent(mut self, agent: ureq::Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// At most `n` requests in flight to one origin (scheme, host and port), at least 1.
    /// Defaults to no limit.
    ///
    /// A worker that takes a request whose origin is saturated sets it aside and takes the next
    /// job it may run, so requests to other origins are not stuck behind it; the set-aside
    /// requests of an origin start in the order they were sent, as its requests finish. A
    /// request holds its origin's place for its retries and redirects, a
    /// [`download`](crate::RequestBuilder::download) until its file is written, and an event
    /// stream for as long as it is open; a [`send_with`](crate::RequestBuilder::send_with) hook
    /// runs once its request has read its body and given its place up, so a slow hook (or one
    /// that waits for another request to the origin) holds none. The origin is the one of the URL the request was sent
    /// to: a redirect to another origin keeps that place and takes none of the other origin's,
    /// so an origin that requests to several others redirect to can see more than `n` of them
    /// at once (a [`rate_limiter`](SessionBuilder::rate_limiter) paces each hop at the origin
    /// it goes to). A body from
    /// [`send_streaming`](crate::RequestBuilder::send_streaming) is read by the caller, not by a
    /// worker, so its place is freed once its headers are in: holding it until the reader is
    /// dropped would make a script that keeps more than `n` readers of one origin open wait for
    /// ever. An event stream's place is not freed so (its worker reads it): a script that reads
    /// `n` streams of an origin and, while they are open, waits for another request to it
    /// (details for each event) waits until a stream ends. Give such a script an `n` of at least
    /// its streams and one, or send the other requests on a second session. Closures given to
    /// [`submit`](FuturesSession::submit) have no origin and are not limited, and neither is a
    /// request that a worker of the session waits for with [`Pending::result`] while it is
    /// still queued (it runs inline, see there).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// // 64 workers, but never more than 4 requests at once to any one server.
    /// let session = FuturesSession::builder().max_workers(64).max_per_host(4).build();
    /// # let _ = session;
    /// ```
    pub fn max_per_host(mut self, n: usize) -> Self {
        self.max_per_host = Some(n.max(1));
        self
    }

    /// Paces requests with `limiter`: each request waits for its origin's token, and the
    /// answers the limiter understands (a 429 or 503 with `Retry-After`, the providers'
    /// rate-limit headers) pause new requests to that origin; see [`RateLimiter`]. A request
    /// that must wait holds no worker; a retry (see [`retry`](SessionBuilder::retry)) waits too,
    /// on its worker, after its backoff, and so does each hop a redirect leads to, for the
    /// origin it goes to (a hop that would wait past the request's
    /// [`timeout`](SessionBuilder::timeout) fails with [`Error::Timeout`], not retried: a retry
    /// would wait for the same turn). The first wait, before a worker starts the request, is no
    /// part of its `timeout` (see there). A request that a
    /// worker of the session runs inline while it waits for it (see
    /// [`max_per_host`](SessionBuilder::max_per_host)) waits for its turn on that worker too.
    /// Every answer of every hop is shown to the limiter, so a limiter shared by several
    /// sessions learns from all of them. Keep a clone to read its
    /// [`pauses`](RateLimiter::pauses). Defaults to none.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{FuturesSession, RateLimit, RateLimiter};
    ///
    /// let limiter = RateLimiter::new()
    ///     .host("api.openai.com", RateLimit::per_minute(500.0).burst(20))
    ///     .on_pause(|event| eprintln!("{event}"));
    /// let session = FuturesSession::builder()
    ///     .max_per_host(8)
    ///     .rate_limiter(limiter.clone())
    ///     .build();
    /// # let _ = session;
    /// assert_eq!(limiter.pauses(), 0);
    /// ```
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// The size of each connection's read buffer and of its write buffer, in bytes, at least
    /// 4 KiB and at most 16 MiB (a value outside is taken as the nearer bound). Defaults to
    /// ureq's: 128 KiB each. Event streams have their own setting,
    /// [`stream_buffer_size`](SessionBuilder::stream_buffer_size). Ignored when an
    /// [`agent`](SessionBuilder::agent) is given (configure it there).
    ///
    /// An open connection holds both buffers, written with zeros when it is first used. A
    /// session that keeps many slow requests or large downloads open at once can make them
    /// smaller. The costs: a large body is read and sent in more system calls, and the read
    /// buffer holds the response head (status line and headers), so a head larger than the
    /// buffer fails the request with an [`Error::Io`] (kind `InvalidData`) that says "response
    /// header is too big" and names this setting. A head over 64 KiB (ureq's default
    /// `max_response_header_size`, kept as a cap whatever the buffer) fails the same way, and
    /// the error says that only an [`agent`](SessionBuilder::agent) of your own with a larger
    /// `max_response_header_size` reads it.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/a", "text/plain", "a")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// // A pool for many slow requests at once.
    /// let session = FuturesSession::builder()
    ///     .max_workers(200)
    ///     .connection_buffer_size(32 * 1024)
    ///     .build();
    /// assert_eq!(session.get(format!("{base}/a")).send().result()?.text()?, "a");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn connection_buffer_size(mut self, bytes: usize) -> Self {
        self.connection_buffer_size =
            Some(bytes.clamp(MIN_CONNECTION_BUFFER, MAX_CONNECTION_BUFFER));
        self
    }

    /// The size of the read buffer of each connection that carries an event stream
    /// ([`events`](crate::RequestBuilder::events) and the other stream methods, a
    /// [`StreamMap`](crate::sse::StreamMap)'s streams, the LLM clients' streams), in bytes, at
    /// least 4 KiB and at most 16 MiB (a value outside is taken as the nearer bound); once set,
    /// it is also the size of their write buffer, up to 64 KiB (8 KiB at most otherwise).
    /// Defaults to
    /// [`DEFAULT_STREAM_BUFFER_SIZE`] (16 KiB), or to
    /// [`connection_buffer_size`](SessionBuilder::connection_buffer_size) if that is smaller.
    /// Ignored when an [`agent`](SessionBuilder::agent) is given: its streams use its buffers.
    ///
    /// A stream keeps its connection, and the connection its buffers, for as long as it is
    /// open: with ureq's 128 KiB buffers, 1,000 open streams would hold 250 MiB of them. Events
    /// are small, so a stream reads as fast through 16 KiB. Stream connections are pooled apart
    /// from the session's other connections, so a stream never gets a connection with small
    /// buffers for a large download, or the other way round.
    ///
    /// The read buffer holds the response head (status line and headers): a stream whose head
    /// is larger fails with an [`Error::Io`] (kind `InvalidData`) that says "response header is
    /// too big" and names this setting, the fix (event-stream heads are usually under 2 KiB).
    /// The write buffer must hold the longest line of the request's head (its request line
    /// with the URL, or one header, such as the `Cookie` header the session's jar fills): a
    /// longer one fails with an [`Error::Io`] (kind `InvalidInput`) that says "output too
    /// small" and names this setting. Most servers refuse lines over 8 KiB (nginx's and
    /// Apache's limit), some take more (a load balancer's session cookies can reach 16 KiB):
    /// set this to send such a line on a stream. A request body of any size is sent in parts.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/events", "text/event-stream", "data: a\n\n")]);
    /// use ureq_futures::FuturesSession;
    ///
    /// // Smaller still, for many thousands of open streams.
    /// let session = FuturesSession::builder()
    ///     .max_workers(5000)
    ///     .stream_buffer_size(8 * 1024)
    ///     .build();
    /// let mut stream = session.get(format!("{base}/events")).events().result()?;
    /// assert_eq!(stream.next().unwrap()?.data, "a");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn stream_buffer_size(mut self, bytes: usize) -> Self {
        self.stream_buffer_size = Some(bytes.clamp(MIN_CONNECTION_BUFFER, MAX_CONNECTION_BUFFER));
        self
    }

    /// An agent with the session's rules (set here once rather than per request, see
    /// [`FuturesSession::agent`]) and connection buffers of `(read, write)` bytes (ureq's
    /// default for `None`).
    fn make_agent(&self, buffers: Option<(usize, usize)>) -> ureq::Agent {
        let mut config = ureq::Agent::config_builder();
        if let Some(proxy) = &self.proxy {
            config = config.proxy(proxy.clone());
        }
        if let Some(tls) = &self.tls_config {
            config = config.tls_config(tls.clone());
        }
        if let Some((read, write)) = buffers {
            config = config
                .input_buffer_size(read)
                .output_buffer_size(write)
                // A head that fills the read buffer is too large (ureq would otherwise wait
                // for more of it, find no room, and report a disconnection).
                .max_response_header_size((read - 1).min(DEFAULT_MAX_RESPONSE_HEAD));
        }
        let config = config
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .max_redirects(0)
            .timeout_per_read(self.read_timeout.value())
            .max_idle_connections(self.max_workers.max(10))
            .max_idle_connections_per_host(self.max_workers)
            // ureq adds the limit to an `Instant`, which panics past what the clock can count.
            .timeout_connect(
                self.connect_timeout
                    .filter(|d| *d <= LONGEST_CONNECT_TIMEOUT),
            )
            .build();
        // ureq's default connector, its connections interruptible by their jobs (see
        // `crate::transport`) and watched so that a request that meets a pooled connection
        // closed under it can be sent again (see `stale`).
        ureq::Agent::with_parts(
            config,
            crate::stale::connector(),
            ureq::unversioned::resolver::DefaultResolver::default(),
        )
    }

    /// Returns the session. No worker starts before the first job.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().max_workers(4).build();
    /// assert_eq!(session.max_workers(), 4);
    /// ```
    pub fn build(mut self) -> FuturesSession {
        // The environment's proxy serves, unless the builder set one or an agent.
        let env_default = self.agent.is_none() && self.proxy.is_none();
        // A CGI script does not take `HTTP_PROXY` from the environment ("httpoxy").
        let cgi_proxy = env_default && {
            self.proxy = crate::no_proxy::cgi_env_proxy();
            self.proxy.is_some()
        };
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
        let own_agent = self.agent.is_none();
        let (agent, stream_agent) = match self.agent {
            Some(agent) => (agent, None),
            None => {
                let stream_buffer = self.stream_buffer_size.unwrap_or_else(|| {
                    DEFAULT_STREAM_BUFFER_SIZE
                        .min(self.connection_buffer_size.unwrap_or(usize::MAX))
                });
                let agent = self.make_agent(self.connection_buffer_size.map(|b| (b, b)));
                let stream_write_buffer = match self.stream_buffer_size {
                    Some(set) => set.min(MAX_STREAM_WRITE_BUFFER),
                    None => stream_buffer.min(DEFAULT_STREAM_WRITE_BUFFER),
                };
                let streams = self.make_agent(Some((stream_buffer, stream_write_buffer)));
                (agent, Some(streams))
            }
        };
        let from_env = cgi_proxy || agent.config().proxy().is_some_and(ureq::Proxy::is_from_env);
        // In a CGI script too: an unreadable `ALL_PROXY` is not hidden by the `HTTP_PROXY`
        // ignored there (`env_proxy_problem` passes over it).
        let proxy_refused = env_default
            .then(crate::no_proxy::env_proxy_problem)
            .flatten();
        let no_proxy = if from_env || proxy_refused.is_some() {
            NoProxy::from_env()
        } else {
            None
        };
        let headers: Vec<_> = (self.headers.into_iter())
            .map(|(name, value)| DefaultHeader::new(name, &value))
            .chain(self.auth_refused.map(|why| DefaultHeader {
                name: "authorization".into(),
                parsed: Err(why),
            }))
            .collect();
        let shared = Arc::new(Shared {
            agent,
            config: Config {
                secrets: crate::auth::Secrets::of_defaults(&headers),
                headers,
                timeout: self.timeout,
                read_timeout: self.read_timeout,
                max_body_size: self.max_body_size,
                retry: self.retry,
                redirects,
                rate_limiter: self.rate_limiter.clone(),
                cookies: self.cookies.then(CookieJar::new),
                own_agent,
                stream_agent,
                no_proxy,
                proxy_refused,
            },
        });
        let mut exec = Executor::new("ureq-futures", self.max_workers);
        if self.max_per_host.is_some() || self.rate_limiter.is_some() {
            let gate = self
                .rate_limiter
                .map(|l| Arc::new(l) as Arc<dyn crate::exec::lanes::Gate>);
            exec = exec.with_lanes(self.max_per_host.unwrap_or(usize::MAX), gate);
        }
        FuturesSession {
            inner: Arc::new(Inner { shared, exec }),
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

    /// Every worker's list of running jobs was made when the session was built: a large
    /// maximum (`usize::MAX`: no limit) panicked ("capacity overflow") or aborted the process
    /// on a failed allocation, and a merely big one took memory for workers never started.
    #[test]
    fn a_maximum_of_any_size_costs_nothing_until_workers_start() {
        let session = FuturesSession::builder().max_workers(usize::MAX).build();
        assert_eq!(session.max_workers(), usize::MAX);
        assert_eq!(session.submit(|_| Ok(1)).result().unwrap(), 1);
        assert_eq!(session.workers(), 1);
        session.shutdown_now();
        session.join();
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
