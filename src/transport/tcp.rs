//! TCP connections whose connect a cancel interrupts: ureq's `TcpConnector` and `TcpTransport`,
//! with the socket made before it connects.
//!
//! # Why
//!
//! ureq connects with `TcpStream::connect_timeout`, which makes the socket and connects it in
//! one call: until the call returns there is no socket to shut down, so a cancel (or
//! `shutdown_now`) could not end a connect to a host that never answers (a firewall that drops
//! the SYN, a listener whose accept queue is full) before `connect_timeout`, 30 s by default,
//! and the worker was held that long. Here the socket is made first (socket2), registered with
//! the job while it connects ([`Connecting`]), and connected; a cancel shuts it down. On Linux
//! that ends the connect at once (a socket still in `SYN_SENT` is disconnected and its waiter
//! woken); a system that ignores a shutdown before the connect is done ends it at its timeout,
//! as before, and the job stops then. On Windows the connect is std's, as ureq's (see
//! `connect_socket`): socket2 waits there with `WSAPoll`, which older Windows (before 10
//! 2004) never tells of a refused connect.
//!
//! The options were: this; a connect on a thread of its own that the job stops waiting for (a
//! thread for every connect, and the socket left behind connecting); or a non-blocking connect
//! polled in slices that look at the job's state (a cancel takes up to a slice, and the loop
//! wakes while nothing happens). Once connected, the socket is shared with its
//! [`ShutdownHandle`] as ureq's own is, so ureq's transport (whose handle is private to ureq)
//! is rebuilt here, as small as ureq's: the same timeouts, reads retried after a signal, and
//! the same check of a pooled connection.
//!
//! Name resolution is done before a connector runs (ureq's resolver, the system's
//! `getaddrinfo`) and a SOCKS proxy's connect is ureq's own: neither is interrupted.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};

#[cfg(unix)]
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use ureq::unversioned::transport::time::Duration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};
use ureq::Timeout;

#[cfg(unix)]
use crate::exec::{self, Cancelled, Interrupt};

/// Connects over TCP (unless a SOCKS proxy's connection came down the chain), as ureq's
/// `TcpConnector` does, with a connect that a cancel of the job interrupts.
#[derive(Debug, Default)]
pub(crate) struct TcpConnector;

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            // A SOCKS proxy's connection, made by the connector before this one.
            return Ok(chained.map(Either::A));
        }
        let stream = Arc::new(try_connect(details)?);
        let config = details.config;
        let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
        (details.register_shutdown)(Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>)?;
        Ok(Some(Either::B(TcpTransport {
            stream,
            buffers,
            timeout_read: None,
            timeout_write: None,
        })))
    }
}

/// ureq's order and budget: the addresses one after another, the first that connects wins.
fn try_connect(details: &ConnectionDetails<'_>) -> Result<TcpStream, ureq::Error> {
    let no_delay = details.config.no_delay();
    let out_of_time = || (details.current_time)() > details.now + details.timeout.after;
    try_each(
        &details.addrs,
        details.timeout,
        out_of_time,
        |addr, per_addr| connect_one(addr, per_addr, no_delay),
    )
}

/// Tries `connect` on each address with a share of the connect's time that halves after each
/// address that hung (a geometric series that sums to the whole, at least 10 ms each), so that
/// a host whose first address hangs still gets to its others. An address that refuses, or
/// cannot be routed, passes to the next at once and keeps the share for it; the last failure
/// is the error, or the whole connect's timeout once `out_of_time`.
fn try_each<T>(
    addrs: &[SocketAddr],
    timeout: NextTimeout,
    out_of_time: impl Fn() -> bool,
    mut connect: impl FnMut(SocketAddr, Option<std::time::Duration>) -> Result<T, ureq::Error>,
) -> Result<T, ureq::Error> {
    const MIN_PER_ADDRESS: std::time::Duration = std::time::Duration::from_millis(10);
    let total_weight = 2.0 * (1.0 - 0.5_f64.powi(addrs.len() as i32));
    let mut weight = 1.0_f64;
    let mut last = None;
    for &addr in addrs {
        let per_addr = timeout.not_zero().map(|t| {
            let share = t.as_secs_f64() * weight / total_weight;
            std::time::Duration::from_millis((share * 1000.0) as u64).max(MIN_PER_ADDRESS)
        });
        match connect(addr, per_addr) {
            Ok(connected) => return Ok(connected),
            Err(ureq::Error::Io(e)) if is_address_specific(&e) => {
                last = Some(ureq::Error::Io(e));
                continue;
            }
            Err(e @ ureq::Error::Timeout(_)) => {
                if out_of_time() {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
        weight /= 2.0;
    }
    Err(last.unwrap_or_else(|| {
        ureq::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ))
    }))
}

/// Whether a failed connect concerns only the address tried (ureq's list): refused, or
/// rejected by the local network stack (an IPv6 address without an IPv6 route).
fn is_address_specific(e: &io::Error) -> bool {
    #[cfg(windows)]
    if e.raw_os_error() == Some(10013) {
        // WSAEACCES: a VPN or firewall blocking the address family.
        return true;
    }
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
    )
}

/// Connects to one address (see [`connect_socket`]).
fn connect_one(
    addr: SocketAddr,
    timeout: Option<std::time::Duration>,
    no_delay: bool,
) -> Result<TcpStream, ureq::Error> {
    let stream = connect_socket(addr, timeout).map_err(|e| match e.kind() {
        // The caller replaces this reason if the whole connect's time is up.
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            ureq::Error::Timeout(Timeout::Connect)
        }
        _ => ureq::Error::Io(e),
    })?;
    if no_delay {
        stream.set_nodelay(true)?;
    }
    Ok(stream)
}

/// Connects a socket made first, registered with the current job while it connects. Without a
/// timeout it waits as long as the connect takes, through signals (socket2's plain `connect`
/// would fail with `Interrupted`, where std's goes on).
#[cfg(unix)]
fn connect_socket(addr: SocketAddr, timeout: Option<std::time::Duration>) -> io::Result<TcpStream> {
    let socket = Arc::new(Connecting(Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?));
    // Registered, then looked at once more: a cancel in the instant between that look and the
    // connect's start finds a socket that is not connecting yet, which a shutdown does not
    // stop; that connect ends at its timeout, as every connect did before.
    let job = exec::current_job();
    if let Some(job) = &job {
        if !job.register(Arc::downgrade(&socket) as Weak<dyn Interrupt>) || job.is_cancelled() {
            return Err(io::Error::other(Cancelled));
        }
    }
    let connected = socket.0.connect_timeout(
        &SockAddr::from(addr),
        timeout.unwrap_or(std::time::Duration::MAX),
    );
    // A connect the cancel shut down fails as whatever the socket said (a reset, an abort, a
    // hang-up); it was the cancel.
    if job.is_some_and(|job| job.is_cancelled()) {
        return Err(io::Error::other(Cancelled));
    }
    connected?;
    // Shared only while a cancel that came after the look above shuts it down.
    let socket = Arc::try_unwrap(socket)
        .map_err(|_| io::Error::other(Cancelled))?
        .0;
    Ok(TcpStream::from(socket))
}

/// Elsewhere (Windows), std's connect, as ureq's: socket2 waits for a connect with `WSAPoll`,
/// which before Windows 10 2004 does not report a refused connect (it would run to its timeout,
/// and a host's next address be tried late). A cancel does not end a connect in progress
/// there; it ends at its timeout.
#[cfg(not(unix))]
fn connect_socket(addr: SocketAddr, timeout: Option<std::time::Duration>) -> io::Result<TcpStream> {
    match timeout {
        Some(t) => TcpStream::connect_timeout(&addr, t),
        None => TcpStream::connect(addr),
    }
}

/// A socket while it connects, registered with its job: a cancel shuts it down.
#[cfg(unix)]
struct Connecting(Socket);

#[cfg(unix)]
impl Interrupt for Connecting {
    fn interrupt(&self, _job: usize) {
        // Registered with one job only, for the time of one connect.
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// A TCP connection, as ureq's `TcpTransport`: I/O through a shared `&TcpStream`, so that its
/// [`ShutdownHandle`] can shut it down while a read or write blocks.
pub(crate) struct TcpTransport {
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The read and write timeouts set on the socket, to set them only when they change.
    timeout_read: Option<Duration>,
    timeout_write: Option<Duration>,
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("addr", &self.stream.peer_addr().ok())
            .finish()
    }
}

/// Sets a socket timeout if it differs from the one set (`cache`), and keeps the cache in step.
/// macOS may refuse a change after the peer closed with unread data; the I/O then tells.
fn set_timeout(
    cache: &mut Option<Duration>,
    timeout: Option<Duration>,
    set: impl FnOnce(Option<std::time::Duration>) -> io::Result<()>,
) -> io::Result<()> {
    if *cache == timeout {
        return Ok(());
    }
    match set(timeout.map(|t| *t)) {
        Ok(()) => *cache = timeout,
        Err(e) if cfg!(target_os = "macos") && e.kind() == io::ErrorKind::InvalidInput => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// How long a write waits for the server to take more of the request before it looks whether
/// the server has answered (see [`TcpTransport::transmit_output`]).
#[cfg(unix)]
const STALL: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether the head of an error answer (`HTTP/1.1 413`) waits on the socket, after any `1xx`
/// heads: looked at without reading, without blocking.
#[cfg(unix)]
fn refused(stream: &TcpStream) -> io::Result<bool> {
    // Room for a few `1xx` heads (a `103 Early Hints` with many links) before the answer's.
    let mut peeked = [0; 4096];
    without_blocking(stream, |stream| {
        let n = stream.peek(&mut peeked).unwrap_or(0);
        is_error_head(&peeked[..n])
    })
}

/// `look` at `stream` made nonblocking, then blocking again (or the error: a socket left
/// nonblocking would fail every later read and write at once).
fn without_blocking<R>(stream: &TcpStream, look: impl FnOnce(&TcpStream) -> R) -> io::Result<R> {
    stream.set_nonblocking(true)?;
    let seen = look(stream);
    stream.set_nonblocking(false)?;
    Ok(seen)
}

/// Whether `input` starts with the status line of an answer of status 300 or more (`HTTP/1.1 413
/// `), after any interim (`1xx`) heads whole in it. A success head sent before the body (a
/// full-duplex handler) is no refusal: the server reads on, and answers after the body.
#[cfg(unix)]
fn is_error_head(mut input: &[u8]) -> bool {
    let status_line = |input: &[u8]| {
        input.len() >= 13
            && input.starts_with(b"HTTP/1.")
            && input[8] == b' '
            && input[9..12].iter().all(u8::is_ascii_digit)
    };
    while status_line(input) && input[9] == b'1' {
        match memchr::memmem::find(input, b"\r\n\r\n") {
            Some(end) => input = &input[end + 4..],
            None => return false,
        }
    }
    status_line(input) && input[9] >= b'3'
}

/// A budget that ran out before the call (ureq's `NextTimeout::check`, private to it).
fn check(timeout: NextTimeout) -> Result<NextTimeout, ureq::Error> {
    if timeout.after.is_zero() {
        Err(ureq::Error::Timeout(timeout.reason))
    } else {
        Ok(timeout)
    }
}

/// An I/O error as ureq's error, a socket timeout as the budget's (`WouldBlock` is how some
/// systems say a socket timeout ran out).
fn io_error(e: io::Error, timeout: NextTimeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ureq::Error::Timeout(timeout.reason),
        _ => ureq::Error::Io(e),
    }
}

/// Writes `output` as a blocking `write_all` with `timeout` on the socket would (a write that
/// takes none of it for that long fails, one that takes some starts the wait again), looking
/// every [`STALL`] whether the server refused the request (see
/// [`TcpTransport::transmit_output`]). `cache`: the write timeout set on the socket.
#[cfg(unix)]
fn write_watching(
    stream: &TcpStream,
    cache: &mut Option<Duration>,
    mut output: &[u8],
    timeout: NextTimeout,
) -> Result<(), ureq::Error> {
    let limit = timeout.not_zero();
    let wait_from = || limit.and_then(|t| std::time::Instant::now().checked_add(*t));
    let mut deadline = wait_from();
    while !output.is_empty() {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        let slice = left.map_or(STALL, |l| l.min(STALL));
        set_timeout(cache, Some(slice.into()), |t| stream.set_write_timeout(t))?;
        match { stream }.write(output) {
            Ok(0) => return Err(ureq::Error::Io(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                output = &output[n..];
                deadline = wait_from();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                if refused(stream)? {
                    return Err(ureq::Error::Io(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the server answered with an error and stopped reading the request",
                    )));
                }
            }
            Err(e) => return Err(io_error(e, timeout)),
        }
    }
    Ok(())
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    /// Writes `amount` bytes of output. On Unix, a write the server stops taking (the socket's
    /// buffer full) looks every [`STALL`] whether the server has refused the request meanwhile
    /// (RFC 9112 §9.5: a client sending a body watches for an answer and stops sending): a
    /// server that answers an upload early (a `413`, a `401`) and then neither reads the rest
    /// nor closes the connection would otherwise hold the request until its `timeout`, for
    /// ever by default. Such an answer fails the write as one broken off by the server
    /// (`ConnectionAborted`), which `transport::Connection` turns into the reading of the
    /// answer. As curl, only an answer of status 300 or more stops the sending: a server may
    /// send a success head first and read the body after. Over TLS (an `https://` URL, or an
    /// `https://` proxy) the bytes below it are records, not an answer's head, and a SOCKS
    /// proxy's connection is ureq's transport: only a server that closes (or reads) ends such
    /// an upload there. On Windows, a send that timed out leaves the socket in a state
    /// Winsock does not define (some of the bytes may have gone), so a write there waits as
    /// ureq's does, with no look in between.
    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = check(timeout.for_write())?;
        let stream = &*self.stream;
        let output = &self.buffers.output()[..amount];
        #[cfg(unix)]
        return write_watching(stream, &mut self.timeout_write, output, timeout);
        #[cfg(not(unix))]
        {
            set_timeout(&mut self.timeout_write, timeout.not_zero(), |t| {
                stream.set_write_timeout(t)
            })?;
            { stream }
                .write_all(output)
                .map_err(|e| io_error(e, timeout))
        }
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = check(timeout.for_read())?;
        let stream = &*self.stream;
        let limit = timeout.not_zero();
        set_timeout(&mut self.timeout_read, limit, |t| {
            stream.set_read_timeout(t)
        })?;
        let started = std::time::Instant::now();
        let input = self.buffers.input_append_buf();
        // A read with a timeout that a signal interrupts (Linux does not restart those) goes
        // on with what is left of the timeout; without a timeout the signal is the caller's.
        let amount = loop {
            match (&*self.stream).read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let Some(limit) = limit else {
                        return Err(ureq::Error::Io(e));
                    };
                    let left = limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(ureq::Error::Timeout(timeout.reason));
                    }
                    set_timeout(&mut self.timeout_read, Some(left.into()), |t| {
                        stream.set_read_timeout(t)
                    })?;
                }
                result => break result.map_err(|e| io_error(e, timeout))?,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    /// Whether a pooled connection can be used again: nothing to read without blocking (a byte
    /// the server sent unasked, or its close, and it cannot).
    fn is_open(&mut self) -> bool {
        let idle = |stream: &TcpStream| matches!({ stream }.read(&mut [0]), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        without_blocking(&self.stream, idle).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The time each address was given, and the result, of connects that fail as `outcomes`.
    fn shares(outcomes: &[io::ErrorKind]) -> (Vec<u128>, Result<(), ureq::Error>) {
        let addrs: Vec<SocketAddr> = (0..outcomes.len() as u16)
            .map(|n| SocketAddr::from(([127, 0, 0, 1], 1000 + n)))
            .collect();
        let timeout = NextTimeout {
            after: Duration::from_millis(3500),
            reason: Timeout::Connect,
            per_read: None,
            per_write: None,
        };
        let mut given = Vec::new();
        let result = try_each(
            &addrs,
            timeout,
            || false,
            |addr, per_addr| {
                given.push(per_addr.unwrap().as_millis());
                Err(match outcomes[usize::from(addr.port() - 1000)] {
                    io::ErrorKind::TimedOut => ureq::Error::Timeout(Timeout::Connect),
                    kind => ureq::Error::Io(kind.into()),
                })
            },
        );
        (given, result)
    }

    #[cfg(unix)]
    #[test]
    fn an_error_heads_status_line_is_a_refusal_and_interim_ones_are_passed_over() {
        assert!(is_error_head(b"HTTP/1.1 413 Payload Too Large\r\n"));
        assert!(is_error_head(b"HTTP/1.0 302 Found\r\n\r\n"));
        // A success head before the body: the server reads on.
        assert!(!is_error_head(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!is_error_head(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
        ));
        assert!(is_error_head(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 No\r\n"
        ));
        assert!(is_error_head(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 "
        ));
        // Interim only, or a head not whole yet: the body goes on.
        assert!(!is_error_head(b"HTTP/1.1 100 Continue\r\n\r\n"));
        assert!(!is_error_head(b"HTTP/1.1 100 Continue\r\n"));
        assert!(!is_error_head(b"HTTP/1.1 4"));
        // TLS records, garbage, nothing: no answer.
        assert!(!is_error_head(b"\x17\x03\x03\x00\x45HTTP/1.1 413 "));
        assert!(!is_error_head(b"HTTP/1.1 4x3 Bad\r\n"));
        assert!(!is_error_head(b""));
    }

    #[test]
    fn each_address_that_hung_halves_the_share_of_the_next_and_a_refusal_does_not() {
        use io::ErrorKind::{ConnectionRefused, TimedOut};
        // Three addresses: weights 1, 1/2, 1/4 of 3.5 s (their sum, 1.75, is the whole).
        let (given, result) = shares(&[TimedOut, TimedOut, TimedOut]);
        assert_eq!(given, [2000, 1000, 500]);
        assert!(matches!(
            result,
            Err(ureq::Error::Timeout(Timeout::Connect))
        ));
        let (given, result) = shares(&[ConnectionRefused, TimedOut, ConnectionRefused]);
        assert_eq!(given, [2000, 2000, 1000]);
        assert!(matches!(result, Err(ureq::Error::Io(e)) if e.kind() == ConnectionRefused));
        // A failure that is not the address's ends it at once.
        let (given, result) = shares(&[io::ErrorKind::PermissionDenied, TimedOut, TimedOut]);
        assert_eq!(given, [2000]);
        assert!(
            matches!(result, Err(ureq::Error::Io(e)) if e.kind() == io::ErrorKind::PermissionDenied)
        );
    }
}
