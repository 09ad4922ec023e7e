//! The connector of the agent a session builds: every connection can be shut down by the job
//! that uses it, so that cancelling a job interrupts its request.
//!
//! # How
//!
//! ureq (>= 3.5) lets a connector register a [`ShutdownHandle`] for each socket it opens
//! ([`ConnectionDetails::register_shutdown`]); `Agent::shutdown` uses those to interrupt every
//! request of an agent at once. A job needs the same per request. [`Interruptible`] wraps
//! ureq's own [`DefaultConnector`] (TCP, TLS, proxies), keeps the socket's handle as its
//! registration passes by, and wraps each transport in [`Connection`], which registers the
//! socket with the job that uses it (the current job of the thread: `exec::job`).
//!
//! A pooled connection serves many jobs one after another, so each [`Connection`] has a
//! [`Lease`] saying which job uses it now. The lease moves to a job the first time the job
//! touches the connection (ureq probes a pooled connection with `is_open` before handing it
//! out, on the taking job's thread), and a cancel shuts the socket only if its lease is still
//! that job's. A job cancelled after its connection went back to the pool and on to another job
//! leaves that job's request alone. A connection handed out (or given back to the pool) on a
//! thread that runs no job, as for a plain call on the session's agent, serves no job: its lease
//! is cleared, so that no job's cancel reaches that call. The lease's lock makes the move and
//! the shutdown exclusive.
//!
//! Options considered: a `TcpStream::try_clone` held by the job (needs a connector of our own
//! for TCP and TLS, where ureq's already registers its sockets), or `Agent::shutdown` (stops the
//! whole agent, for good). The cost here is one thread-local read per I/O call and a
//! registration when a connection changes jobs.
//!
//! # A reset is not the end of a body
//!
//! ureq takes a reset (or an abort) of the connection while it reads a body for the server's
//! close: for a body delimited by the close (no `Content-Length`, no chunking) that is the
//! body's end, so a body cut by a reset came out short and complete. A reset throws away what
//! the server had not sent yet; curl and browsers report it. So once a byte of the response
//! has arrived, [`Connection`] hands ureq a reset as an error of another kind ([`Reset`]),
//! which ureq passes on; `Error::from` takes the reset back out, with its own kind
//! (`ConnectionReset`). A clean close (a FIN) still ends such a body. The other framings were
//! cut already (ureq's `UnexpectedEof`); they now report the reset itself. A reset before the
//! response (a kept-alive connection closed under the request) is handed on as it is.
//!
//! # An answer before the whole request
//!
//! A server may answer an upload before reading it (a `413`, a `401`) and close the connection;
//! the client's next write fails, though the answer has arrived. [`Connection`] drops the rest
//! of the request once a write fails so, and reads the answer; without one, the write's error
//! is the request's, as before (and a stale pooled connection is sent again as `crate::stale`
//! says). The connection is not used again. curl and requests (urllib3 2) do the same.
//!
//! A server may also answer and then neither read the rest nor close the connection: the
//! writes stall on a full socket. Over plain http on Unix, a write that the server takes
//! nothing of for 100 ms looks whether the head of an error answer (status 300 or more) waits
//! on the socket (`tcp::TcpTransport`), and fails as broken off by the server if one does, so
//! the answer is read as above; curl does the same (and goes on sending after a success head,
//! which a full-duplex server sends before it reads the body), requests waits for its timeout.
//! Over TLS (an `https://` URL or proxy) the bytes below it are records, which cannot be read
//! while TLS writes, a SOCKS proxy's connection is ureq's own, and on Windows a send that timed
//! out leaves its socket undefined: there such an upload ends when the server closes or reads,
//! at the request's `timeout`, or at a cancel.
//!
//! Over `https://`, [`Connection`] sits above TLS, and rustls keeps the records of a failed
//! write and writes them again before each read, which failed the read of the answer with the
//! write's error. So the connector is a chain of our own, ureq's `DefaultConnector`'s with one
//! layer more between the socket (or a proxy's tunnel) and TLS: [`Sending`], which drops what
//! is written after a write the server broke off so, and tells [`Connection`] above (through
//! a [`WriteCut`] they share) the write's error. TLS then reads the answer as plain HTTP does.
//! The options were that chain; ureq's own (and the answer lost, as it was); or reading the
//! answer off the socket below TLS (not possible: it is encrypted).
//!
//! # Versions
//!
//! `ConnectionDetails::register_shutdown` is part of ureq's `unversioned` transport API, which
//! may change in a minor release. It arrived in ureq 3.5.0 (with `Agent::shutdown`); Cargo.toml
//! requires `>=3.5, <3.6`, and this is tested with 3.5.2.
//!
//! A connection's lease is made (and registered with the job) before the connect starts, and
//! the socket joins it as soon as ureq registers it: a cancel during the TLS handshake shuts
//! the socket under the handshake. A proxy's connection is made by this connector too (ureq
//! runs the agent's connector for it), so a request waiting for the answer to its `CONNECT`
//! is interrupted as any other read. The TCP connect is this crate's ([`tcp`]): its socket is
//! made first and registered with the job while it connects, so a cancel ends a connect to a
//! host that never answers. What is not interrupted: name resolution, and the connect to a
//! SOCKS proxy (ureq's own); they end at their timeouts. An agent given to
//! [`SessionBuilder::agent`](crate::SessionBuilder::agent) keeps its own connector: its
//! requests are not interrupted by a cancel (the handle still resolves at once).
//!
//! A shutdown ends a read or a write blocked on its socket on Linux (what CI runs; other
//! systems are not tested here). Winsock documents a shutdown as refusing later calls, not as
//! ending one in progress; under wine (which emulates Winsock) a read blocked on a silent
//! server stayed blocked after a cancel. There the worker may be held until the server sends
//! or closes, or until the `read_timeout`; the handle still resolves at once. Ending it for
//! sure would take closing the socket under the read (a handle another thread may reuse at
//! once) or a poll before each read (a dependency on Winsock's API): not done, and not
//! verified on Windows itself.

mod tcp;

use std::fmt;
use std::io;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

#[cfg(feature = "native-tls")]
use ureq::unversioned::transport::NativeTlsConnector;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, NextTimeout, RustlsConnector,
    ShutdownHandle, SocksConnector, Transport,
};

use crate::exec::{self, Cancelled, Interrupt};
use crate::phase::Phase;

thread_local! {
    /// Set when a [`Connection`] of this thread drops the rest of a request whose write the
    /// server broke off by answering early: what ureq still pulls from the body is dropped,
    /// so `crate::upload` stops reading its files for it, and a failure with no answer is the
    /// send's (`phase::before_response`). Cleared when a request (a hop) starts (`crate::run`)
    /// and when an answer comes.
    static SEND_BROKEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// How many times a [`Connection`] waited for input on this thread: a read that ends a
    /// body without a wait never touched the connection (see `encoding::LenientEnd`).
    static AWAITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Whether the last wait for input of a [`Connection`] on this thread found its input
    /// buffer full: ureq waits so when what the buffer holds does not parse (a chunk-size
    /// line without its line end), and that wait reads nothing, as an end of the input would
    /// (see [`input_was_full`]).
    static INPUT_FULL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Whether the last I/O of a [`Connection`] on this thread wrote (the request going out),
    /// not waited for input: a whole-request `timeout` that runs out then ran out while the
    /// request was sent (`timeout::TimeoutError::place`). Cleared when a hop starts.
    static SENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// How far the connection this thread makes through an HTTP proxy got (see [`ProxyLeg`]).
    static PROXY_LEG: std::cell::Cell<ProxyLeg> = const { std::cell::Cell::new(ProxyLeg::Unused) };
    /// Whether the last connection this thread made got its socket connected (ureq registers a
    /// socket once its TCP connect is done): a connect timeout after that came in the TLS
    /// handshake (`phase::before_response`).
    static CONNECTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Whether a request was written on the connection this thread uses, since it was made or
    /// this attempt started: its TLS handshake was over then, and an `https://` connection
    /// closed later is no handshake's failure (`phase::before_response`).
    static WROTE_REQUEST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The [`WriteCut`] of the last [`Sending`] this thread made, for the [`Connection`] that
    /// [`Interruptible::connect`] puts on top of it (the connector chain hands on transports,
    /// nothing else).
    static WRITE_CUT: std::cell::RefCell<Option<Arc<WriteCut>>> =
        const { std::cell::RefCell::new(None) };
    /// While set (see [`waits_until`]), a [`Connection`] of this thread waits for input until
    /// then at most.
    static WAIT_UNTIL: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

/// Runs `f` with every wait for input on this thread's connections ending by `until` (a
/// timeout of ureq's `RecvBody`), sooner if the request's own timeouts say so: for a read whose
/// bytes nobody needs (a redirect's body, read so that its connection can be reused), which a
/// server that stalls in it must not hold. Only the connection the wait is on fails, not the
/// job, as an interrupt would (the hops after it go on). An agent of the caller's own, whose
/// connector is not this module's, waits as its timeouts say. Within another such call, the
/// earlier of the two ends the waits.
pub(crate) fn waits_until<R>(until: std::time::Instant, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<std::time::Instant>);
    impl Drop for Reset {
        fn drop(&mut self) {
            WAIT_UNTIL.with(|w| w.set(self.0));
        }
    }
    let _reset = Reset(WAIT_UNTIL.with(|w| {
        let outer = w.get();
        w.replace(Some(outer.map_or(until, |o| o.min(until))))
    }));
    f()
}

/// `timeout`, ending by the [`waits_until`] of this thread if one is set.
fn capped(mut timeout: NextTimeout) -> NextTimeout {
    if let Some(until) = WAIT_UNTIL.with(std::cell::Cell::get) {
        let left = until.saturating_duration_since(std::time::Instant::now());
        let left = ureq::unversioned::transport::time::Duration::Exact(left);
        if left < timeout.after {
            timeout.after = left;
            timeout.reason = ureq::Timeout::RecvBody;
        }
    }
    timeout
}

/// Whether the last connection this thread made got its socket connected (see [`CONNECTED`]).
pub(crate) fn socket_connected() -> bool {
    CONNECTED.with(std::cell::Cell::get)
}

/// A new connection, or a new attempt of a request, starts on this thread: no socket
/// connected for it yet (an agent of the caller's own, whose connector is not this module's,
/// never sets it, so each attempt clears it too).
pub(crate) fn clear_socket_connected() {
    CONNECTED.with(|c| c.set(false));
    WROTE_REQUEST.with(|w| w.set(false));
}

/// Whether a request went out on this thread's connection (see [`WROTE_REQUEST`]).
pub(crate) fn wrote_request() -> bool {
    WROTE_REQUEST.with(std::cell::Cell::get)
}

/// How far a connection through an HTTP proxy (`http://` or `https://`, which ureq asks to
/// `CONNECT`) got before it failed: whose failure it is (`phase::before_response`). ureq
/// connects to the proxy through the agent's connector again (its `run_connector`), so that
/// [`Interruptible`] sees both the whole connection and its leg to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyLeg {
    /// No connection through such a proxy, or it was made.
    Unused,
    /// The connection to the proxy itself (TCP, and TLS with an `https://` proxy) was being
    /// made: a failure then is the proxy's.
    Connecting,
    /// The proxy was reached; its answer to the `CONNECT`, then the server's TLS handshake
    /// through the tunnel, were under way.
    Reached,
}

/// How far this thread's connection through an HTTP proxy got (see [`ProxyLeg`]).
pub(crate) fn proxy_leg() -> ProxyLeg {
    PROXY_LEG.with(std::cell::Cell::get)
}

/// A new attempt of a request starts on this thread: no proxy leg yet.
pub(crate) fn clear_proxy_leg() {
    PROXY_LEG.with(|leg| leg.set(ProxyLeg::Unused));
}

/// How many times a connection waited for input on this thread so far.
pub(crate) fn awaits() -> u64 {
    AWAITS.with(std::cell::Cell::get)
}

/// Whether the last wait for input on this thread found the connection's input buffer full:
/// ureq's `BodyStalled` then means that the buffer's bytes do not parse, not that the
/// connection closed.
pub(crate) fn input_was_full() -> bool {
    INPUT_FULL.with(std::cell::Cell::get)
}

/// A body read starts on this thread: no wait of it found a full buffer yet (an agent given to
/// `SessionBuilder::agent` has no [`Connection`] to say so; the flag must not be an earlier
/// read's).
pub(crate) fn clear_input_full() {
    INPUT_FULL.with(|f| f.set(false));
}

/// Whether the request this thread sends has had the rest of its body dropped (see
/// [`SEND_BROKEN`]).
pub(crate) fn send_broken() -> bool {
    SEND_BROKEN.with(std::cell::Cell::get)
}

/// A new request (a hop) starts on this thread.
pub(crate) fn clear_send_broken() {
    SEND_BROKEN.with(|b| b.set(false));
    SENDING.with(|s| s.set(false));
}

/// The phase a whole-request budget ran out in, before the response: the send, when the last
/// I/O of this thread's connection wrote the request (see [`SENDING`]); else no better guess.
pub(crate) fn budget_phase() -> Phase {
    match SENDING.with(std::cell::Cell::get) {
        true => Phase::Send,
        false => Phase::Request,
    }
}

/// The error of I/O refused or broken because its job was cancelled; it becomes
/// [`Error::Cancelled`](crate::Error::Cancelled).
///
/// Not of the kind `Interrupted`: `std::io` retries a read that fails with it.
fn cancelled() -> ureq::Error {
    ureq::Error::Io(io::Error::other(Cancelled))
}

/// A reset (or an abort) of a connection on its way through ureq, as an error of the kind
/// `Other`, which ureq does not mistake for the close that ends a body; see the module's doc.
/// [`Error::from`](crate::Error) takes the reset back out ([`Reset::into_inner`]).
#[derive(Debug)]
pub(crate) struct Reset(io::Error);

impl Reset {
    /// `e` wrapped when it is a reset or an abort.
    fn wrap(e: ureq::Error) -> ureq::Error {
        match e {
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                ureq::Error::Io(io::Error::other(Reset(io)))
            }
            other => other,
        }
    }

    /// The reset inside `e`, if `e` is a wrapped one; `e` as it is otherwise.
    pub(crate) fn into_inner(e: io::Error) -> io::Error {
        if !Reset::is(&e) {
            return e;
        }
        match e.into_inner().map(|inner| inner.downcast::<Reset>()) {
            Some(Ok(reset)) => reset.0,
            Some(Err(other)) => io::Error::other(other),
            None => io::ErrorKind::Other.into(),
        }
    }

    /// Whether `e` is a wrapped reset.
    pub(crate) fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<Reset>())
    }
}

impl fmt::Display for Reset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Reset {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// ureq's `DefaultConnector` (SOCKS, an HTTP proxy's `CONNECT`, TCP, TLS by rustls or
/// native-tls), with [`Sending`] below TLS, and each connection made interruptible by its job.
#[derive(Debug)]
pub(crate) struct Interruptible {
    inner: Box<dyn Connector<(), Out = Box<dyn Transport>>>,
}

impl Default for Interruptible {
    fn default() -> Self {
        // ureq 3.5's `DefaultConnector`, in its order, without its connectors that warn of a
        // feature left out (`socks-proxy` is always on here; a TLS provider left out is
        // `TlsMissing`'s error, where ureq's panics).
        let chain =
            ().chain(SocksConnector::default())
                .chain(ConnectProxyConnector::default())
                .chain(tcp::TcpConnector)
                .chain(BelowTls)
                .chain(RustlsConnector::default());
        #[cfg(feature = "native-tls")]
        let chain = chain.chain(NativeTlsConnector::default());
        Interruptible {
            inner: Box::new(chain.chain(TlsMissing)),
        }
    }
}

/// The end of the chain, which boxes its transport (its type, nested `Either`s, is erased): an
/// `https://` connection that no TLS connector wrapped (the session's `TlsConfig` names
/// native-tls, and this build has no `native-tls` feature) is an error, never a plain-text
/// request to the server's TLS port.
#[derive(Debug)]
struct TlsMissing;

impl<In: Transport> Connector<In> for TlsMissing {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Box<dyn Transport>>, ureq::Error> {
        if details.needs_tls() && chained.as_ref().is_some_and(|t| !t.is_tls()) {
            // An I/O error, so that its message gets the phase and the URL.
            return Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                NoTlsConnector,
            )));
        }
        Ok(chained.map(|t| Box::new(t) as Box<dyn Transport>))
    }
}

/// [`TlsMissing`]'s error, told apart from the system's `Unsupported` errors by its type
/// (`phase::before_response` places it in the TLS handshake).
#[derive(Debug)]
pub(crate) struct NoTlsConnector;

impl fmt::Display for NoTlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the session's TlsConfig asks for the native-tls provider, which this build lacks: \
             enable ureq-futures' `native-tls` feature, or use rustls (the default)",
        )
    }
}

impl std::error::Error for NoTlsConnector {}

/// What [`Sending`] tells the [`Connection`] above it: that a write failed because the server
/// closed the connection, and that write's error.
#[derive(Debug, Default)]
struct WriteCut {
    /// Set once the connection is made: a write of the TLS handshake that fails fails the
    /// handshake, as it did.
    armed: AtomicBool,
    /// A write failed so: nothing is written from then on.
    cut: AtomicBool,
    /// That write's error, until the [`Connection`] takes it.
    error: Mutex<Option<ureq::Error>>,
}

impl WriteCut {
    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

/// Puts [`Sending`] on the connection (the socket, or a proxy's tunnel) below TLS.
#[derive(Debug)]
struct BelowTls;

impl<In: Transport> Connector<In> for BelowTls {
    type Out = Sending<In>;

    fn connect(
        &self,
        _: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Sending<In>>, ureq::Error> {
        Ok(chained.map(|inner| {
            let cut = Arc::new(WriteCut::default());
            WRITE_CUT.with(|c| *c.borrow_mut() = Some(Arc::clone(&cut)));
            Sending { inner, cut }
        }))
    }
}

/// The layer below TLS: once a write fails because the server closed the connection (see the
/// module's doc), what is written after it is dropped, so that TLS can read the answer; the
/// error goes to the [`Connection`] above through the shared [`WriteCut`].
#[derive(Debug)]
struct Sending<In> {
    inner: In,
    cut: Arc<WriteCut>,
}

impl<In: Transport> Transport for Sending<In> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.cut.is_cut() {
            return Ok(());
        }
        match self.inner.transmit_output(amount, timeout) {
            Err(ureq::Error::Io(e))
                if closed_by_peer(&e) && self.cut.armed.load(Ordering::Acquire) =>
            {
                *lock(&self.cut.error) = Some(ureq::Error::Io(e));
                self.cut.cut.store(true, Ordering::Release);
                Ok(())
            }
            result => result,
        }
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        !self.cut.is_cut() && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl Connector<()> for Interruptible {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<()>,
    ) -> Result<Option<Box<dyn Transport>>, ureq::Error> {
        // The lease exists before the connection does: a cancel during the connect (the TLS
        // handshake) shuts the socket as soon as it is registered.
        let lease = Arc::new(Lease {
            socket: OnceLock::new(),
            job: Mutex::new(0),
            shut_for: AtomicUsize::new(0),
        });
        let mut job = 0;
        lease.follow_job(&mut job)?;
        clear_socket_connected();
        let register = {
            let (lease, agent) = (Arc::clone(&lease), Arc::clone(&details.register_shutdown));
            move |handle: Weak<dyn ShutdownHandle>| {
                // The first is the socket itself; TLS and proxies come on top of it.
                let _ = lease.socket.set(handle.clone());
                CONNECTED.with(|c| c.set(true));
                // With the fence in `Lease::shut`: a cancel that stores `shut_for` and then looks
                // for the socket, and this store of the socket and look at `shut_for`, cannot
                // both miss each other (acquire/release alone would allow it).
                fence(Ordering::SeqCst);
                if lease.shut_for.load(Ordering::Acquire) != 0 || exec::is_cancelled() {
                    return Err(cancelled());
                }
                agent(handle)
            }
        };
        let ours = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: Arc::clone(&details.current_time),
            run_connector: Arc::clone(&details.run_connector),
            register_shutdown: Arc::new(register),
        };
        // Through an HTTP proxy, ureq makes the connection to the proxy with this connector
        // too (a config without the proxy): that nested call is the leg to the proxy.
        let tunnels = details.config.proxy().is_some_and(|p| {
            matches!(
                p.protocol(),
                ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
            ) && !p.is_no_proxy(details.uri)
        });
        let leg = details.config.proxy().is_none() && proxy_leg() == ProxyLeg::Connecting;
        if tunnels {
            PROXY_LEG.with(|l| l.set(ProxyLeg::Connecting));
        }
        WRITE_CUT.with(|c| c.borrow_mut().take());
        let result = self.inner.connect(&ours, chained);
        // The `Sending` this chain made (a proxy's leg, made by a nested call, took its own).
        let cut = WRITE_CUT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_default();
        cut.armed.store(true, Ordering::Release);
        if leg && matches!(result, Ok(Some(_))) {
            PROXY_LEG.with(|l| l.set(ProxyLeg::Reached));
        }
        if tunnels && matches!(result, Ok(Some(_))) {
            clear_proxy_leg();
        }
        // A handshake cut by a cancel fails as whatever the shut socket said: it was the cancel.
        if lease.is_shut_for(job) {
            return Err(cancelled());
        }
        let Some(inner) = result? else {
            return Ok(None);
        };
        Ok(Some(Box::new(Connection {
            inner,
            lease,
            job,
            answering: false,
            send_broken: None,
            cut,
            tunnel: leg,
        })))
    }
}

/// Whether a write failed because the server closed the connection (or reset it).
fn closed_by_peer(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which job may shut a connection's socket down.
struct Lease {
    /// The socket, once the connector has registered it.
    socket: OnceLock<Weak<dyn ShutdownHandle>>,
    /// The job that uses the connection now (an id of `exec::job`), 0 for none.
    job: Mutex<usize>,
    /// The job whose cancel shut the socket down, 0 for none: its I/O fails as cancelled from
    /// then on, whatever the socket would say (a shut socket can read as a clean end, or still
    /// hand out bytes that had arrived).
    shut_for: AtomicUsize,
}

impl Lease {
    /// Moves the lease to the current thread's job if it is not `job` (the job last registered
    /// with, updated). Off a job the lease stays as it is. Fails if the job is cancelled, with
    /// the socket shut.
    fn follow_job(self: &Arc<Self>, job: &mut usize) -> Result<(), ureq::Error> {
        let id = exec::current_job_id();
        if id == 0 || id == *job {
            return Ok(());
        }
        let Some(current) = exec::current_job() else {
            return Ok(());
        };
        *job = id;
        *lock(&self.job) = id;
        let lease: Weak<Lease> = Arc::downgrade(self);
        if current.register(lease) {
            Ok(())
        } else {
            self.shut(id);
            Err(cancelled())
        }
    }

    /// Whether a cancel of `job` (0: none) shut the socket down.
    fn is_shut_for(&self, job: usize) -> bool {
        job != 0 && self.shut_for.load(Ordering::Acquire) == job
    }

    fn shut(&self, job: usize) {
        self.shut_for.store(job, Ordering::Release);
        // Either this sees a socket registered at the same moment, or the registration sees
        // `shut_for` (the fence in `Interruptible::connect`'s `register`).
        fence(Ordering::SeqCst);
        if let Some(socket) = self.socket.get().and_then(Weak::upgrade) {
            socket.shutdown();
        }
    }
}

impl Interrupt for Lease {
    fn interrupt(&self, job: usize) {
        let current = lock(&self.job);
        if *current == job {
            self.shut(job);
        }
    }
}

/// A transport that registers its socket with each job that uses it.
pub(crate) struct Connection {
    inner: Box<dyn Transport>,
    lease: Arc<Lease>,
    /// The job last registered with, to skip the lease on every call.
    job: usize,
    /// A byte of the answer to the last request sent has arrived: a reset from now on cuts
    /// the response (see [`Reset`]).
    answering: bool,
    /// The server closed the connection while the request went out: the error of that write.
    /// The rest of the request is dropped, and the server's answer read if it sent one (see
    /// [`Transport::transmit_output`] below); the connection is never used again.
    send_broken: Option<ureq::Error>,
    /// Where [`Sending`], below TLS, leaves the error of a write the server broke off.
    cut: Arc<WriteCut>,
    /// The connection to an HTTP proxy, which becomes the tunnel under the connection to the
    /// server (TLS, then a `Connection` of its own): it follows jobs and cancels, hands a write
    /// broken off below it (under an `https://` proxy's TLS) up as that write's error, and
    /// everything else on as it is. Its own reading of an early answer took TLS records (a
    /// TLS 1.3 server's session tickets) for the answer, and kept a broken write from the
    /// connection above, whose error then named the TLS handshake.
    tunnel: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("inner", &self.inner)
            .field("job", &self.job)
            .finish()
    }
}

impl Connection {
    /// Moves the lease to the current thread's job if it changed. Off a job (a body read on the
    /// caller's thread) the lease stays with the job that opened the response. Fails if the job
    /// is cancelled, with the socket shut.
    fn follow_job(&mut self) -> Result<(), ureq::Error> {
        self.lease.follow_job(&mut self.job)
    }

    /// Clears the lease: no job uses the connection now.
    fn release(&mut self) {
        if self.job != 0 {
            self.job = 0;
            *lock(&self.lease.job) = 0;
        }
    }

    /// Moves the lease as [`follow_job`](Connection::follow_job) does, then fails if the job
    /// was cancelled: before each I/O call.
    fn before_io(&mut self) -> Result<(), ureq::Error> {
        self.follow_job()?;
        if self.cancelled() {
            return Err(cancelled());
        }
        Ok(())
    }

    /// `result` of an I/O call, or the cancel that broke it.
    fn checked<R>(&self, result: Result<R, ureq::Error>) -> Result<R, ureq::Error> {
        if self.cancelled() {
            return Err(cancelled());
        }
        result
    }

    /// The write of `amount` bytes, failed with the error of a write that [`Sending`] broke off
    /// below (one atomic load when it did not).
    fn write(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let result = self.inner.transmit_output(amount, timeout);
        match self.cut.is_cut().then(|| lock(&self.cut.error).take()) {
            Some(Some(below)) => Err(below),
            _ => result,
        }
    }

    /// Whether the job that uses the connection now had it shut down by a cancel. One atomic
    /// load: cheap enough for every I/O call.
    fn cancelled(&self) -> bool {
        self.lease.is_shut_for(self.job)
    }
}

impl Transport for Connection {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    /// A server may answer before it has read the whole request, and close the connection:
    /// a `413 Payload Too Large` or a `401` to an upload of many MB, sent after the head. The
    /// client's next write then fails (a broken pipe, or a reset), though the answer is there
    /// to be read. So a write that fails so is not an error yet: the rest of the request is
    /// dropped unsent, and the answer is read as usual. If none comes (the connection closed
    /// without one, as a stale pooled connection does), the write's error is the request's,
    /// as it was. curl and requests read such an answer too. Over TLS the write that fails is
    /// the TLS layer's, below this one: [`Sending`] drops the rest there, and the error comes
    /// up through the [`WriteCut`].
    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.before_io()?;
        if self.tunnel {
            // A write broken off under an `https://` proxy's own TLS goes up as the write's
            // error, to the `Sending` of the connection the tunnel carries (that TLS would write
            // the failed records again before each read).
            let result = self.write(amount, timeout);
            return self.checked(result);
        }
        if self.send_broken.is_some() {
            return Ok(());
        }
        // A request (or its body) goes out: what arrives next is its answer.
        self.answering = false;
        SENDING.with(|s| s.set(true));
        WROTE_REQUEST.with(|w| w.set(true));
        let result = self.write(amount, timeout);
        match self.checked(result) {
            Err(ureq::Error::Io(e)) if closed_by_peer(&e) => {
                self.send_broken = Some(ureq::Error::Io(e));
                SEND_BROKEN.with(|b| b.set(true));
                Ok(())
            }
            result => result,
        }
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = capped(timeout);
        if self.tunnel {
            self.before_io()?;
            let result = self.inner.await_input(timeout);
            return self.checked(result);
        }
        AWAITS.with(|a| a.set(a.get().wrapping_add(1)));
        let full = self.inner.buffers().input_append_buf().is_empty();
        INPUT_FULL.with(|f| f.set(full));
        SENDING.with(|s| s.set(false));
        self.before_io()?;
        // A shutdown can read as the end of the stream rather than an error: `checked` turns
        // that into the cancel too.
        let result = self.inner.await_input(timeout);
        let result = self.checked(result);
        if !self.answering && !matches!(result, Ok(true)) {
            if let Some(sent) = self.send_broken.take() {
                // No answer after the broken write: the write's error stands, unless a cancel
                // broke the wait.
                return Err(if self.cancelled() { cancelled() } else { sent });
            }
        }
        match result {
            Ok(true) => {
                self.answering = true;
                // An answer came: a failure from now on cuts it, not the request's sending.
                SEND_BROKEN.with(|b| b.set(false));
            }
            // A reset in the middle of a response is handed on as one that ureq cannot take
            // for a clean close (see the module's doc). One before the response keeps its
            // kind for every caller, plain ureq calls on the agent included.
            Err(e) if self.answering => return Err(Reset::wrap(e)),
            _ => {}
        }
        result
    }

    fn is_open(&mut self) -> bool {
        // ureq asks when it hands a pooled connection out and when it gives one back, on the
        // thread of the call. Off a job, the call is no job's: the job that used the connection
        // before must not shut it down under that call. (A body read on the caller's thread
        // keeps the lease of the job that opened it until the body's end, where this runs.)
        if exec::current_job_id() == 0 {
            self.release();
        }
        // A connection shut by a cancel is never handed out again, whichever job asks, nor one
        // whose server closed it while a request went out.
        self.follow_job().is_ok()
            && self.send_broken.is_none()
            && self.lease.shut_for.load(Ordering::Acquire) == 0
            && self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod wait_cap_tests {
    use std::time::{Duration, Instant};

    use ureq::unversioned::transport::time::Duration as Wait;
    use ureq::unversioned::transport::NextTimeout;

    use super::{capped, waits_until};

    fn after() -> Wait {
        capped(NextTimeout::default()).after
    }

    #[test]
    fn a_wait_cap_holds_within_its_call_only_and_a_nested_one_never_widens_it() {
        let now = Instant::now();
        let second = Wait::Exact(Duration::from_secs(1));
        assert!(after().is_not_happening());
        waits_until(now + Duration::from_secs(1), || {
            assert!(after() <= second);
            waits_until(now + Duration::from_secs(60), || assert!(after() <= second));
            assert!(after() <= second);
        });
        assert!(after().is_not_happening());
    }
}
