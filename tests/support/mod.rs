//! A small HTTP/1.1 test server on plain `std::net`, shared by integration
//! tests, benchmarks and examples.
//!
//! Include it with `mod support;` from `tests/*.rs`, or with
//! `#[path = "../tests/support/mod.rs"] mod support;` from `benches/` and
//! `examples/`. It depends on nothing but std.
//!
//! * Listens on `127.0.0.1:0`, one thread per connection, keep-alive.
//! * Every blocking operation is bounded: accepted sockets have read/write
//!   timeouts, and all stalls/delays end as soon as the server is dropped.
//! * Dropping the server stops the accept loop, shuts down every live
//!   connection, and joins all threads. If a handler panicked, the drop
//!   panics with the handler's message (unless the test is already panicking).
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Read timeout of accepted sockets (an idle keep-alive connection is closed
/// by the server after this long).
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Write timeout of accepted sockets.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest accepted request head (request line + headers), in bytes.
pub const MAX_REQUEST_HEAD: u64 = 8 << 20;

/// Shorthand for `Duration::from_millis(n)`.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Shorthand for `Duration::from_secs(n)`.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs `f` and returns its result with the time it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

/// A `http://127.0.0.1:PORT` URL where nothing listens (a listener is bound to
/// an ephemeral port and dropped again), so connecting is refused.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local_addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Number of threads of this process (entries of `/proc/self/task`);
/// 0 where that is not available (non-Linux).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

/// One request as received by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Request target as sent, including the query string (`/a/b?x=1`).
    pub path: String,
    /// Headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked if it was sent with `Transfer-Encoding: chunked`.
    pub body: Vec<u8>,
    /// 0-based index of the TCP connection (in accept order) the request
    /// arrived on; equal values mean the connection was reused.
    pub connection: usize,
}

impl Request {
    /// First header with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn body_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The path without the query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    fn wants_close(&self, http10: bool) -> bool {
        let conn = self.header("connection").unwrap_or("");
        let has = |tok: &str| conn.split(',').any(|t| t.trim().eq_ignore_ascii_case(tok));
        if http10 {
            !has("keep-alive")
        } else {
            has("close")
        }
    }
}

// ---------------------------------------------------------------------------
// Reply
// ---------------------------------------------------------------------------

/// How a body's end is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` header.
    ContentLength,
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    Close,
}

/// What happens to the connection after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Keep the connection open for the next request (unless the client
    /// asked for `Connection: close`).
    KeepAlive,
    /// Send `Connection: close` and close.
    Close,
    /// Advertise keep-alive (no `Connection: close`), then close anyway: the
    /// client's pooled connection becomes stale.
    CloseSilently,
}

/// Status line + headers of a reply. Framing headers (`Content-Length`,
/// `Transfer-Encoding`, `Connection`) are added by the server unless the
/// headers already contain one with the same name.
#[derive(Clone, Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub after: After,
}

/// A raw-socket callback for `Reply::Custom`.
pub type CustomFn = Box<dyn FnOnce(&mut TcpStream) + Send>;

/// What the server does with one request. Build with the constructors
/// (`Reply::ok`, `Reply::status`, `Reply::sse`, ...) and adjust with the
/// modifiers (`.header`, `.content_type`, `.close`, `.close_silently`,
/// `.delay`).
pub enum Reply {
    /// Normal response with `Content-Length`.
    Full { head: Head, body: Vec<u8> },
    /// `Transfer-Encoding: chunked`; `chunks[0]` goes out with the head, then
    /// `delay` before each further chunk; each chunk is flushed at once.
    /// Empty chunks are skipped. If `cut`, the terminating `0\r\n\r\n` is
    /// never sent and the connection is closed.
    Chunked {
        head: Head,
        chunks: Vec<Vec<u8>>,
        delay: Duration,
        cut: bool,
    },
    /// Body without `Content-Length` or chunking; closed at the end.
    CloseDelimited { head: Head, body: Vec<u8> },
    /// Wait `Duration` (ended early by server drop), then do the inner reply.
    Delayed(Duration, Box<Reply>),
    /// Send the head (framed per `length`: `Some(n)` → `Content-Length: n`,
    /// `None` → chunked), then `prefix` raw bytes, then nothing until the
    /// server is dropped or `duration` passes; then close.
    Stall {
        head: Head,
        length: Option<u64>,
        prefix: Vec<u8>,
        duration: Option<Duration>,
    },
    /// `Content-Length: body.len()`, send `body[..sent]`, then abort the
    /// connection (RST on Linux, see `Reply::reset_mid_body`).
    ResetMidBody {
        head: Head,
        body: Vec<u8>,
        sent: usize,
    },
    /// `Content-Length` body written one byte at a time with `delay` after
    /// each byte.
    Dribble {
        head: Head,
        body: Vec<u8>,
        delay: Duration,
    },
    /// `prefix` followed by `len` bytes of `byte`, generated on the fly.
    LongLine {
        head: Head,
        prefix: Vec<u8>,
        len: u64,
        byte: u8,
        framing: Framing,
    },
    /// Declares `Content-Length: declared`, sends `body` (shorter), closes.
    LyingLength {
        head: Head,
        declared: u64,
        body: Vec<u8>,
    },
    /// Bytes written as-is, then the connection is closed.
    Raw(Vec<u8>),
    /// The callback gets the socket; the connection is closed afterwards.
    Custom(CustomFn),
}

fn head(status: u16, content_type: &str) -> Head {
    Head {
        status,
        headers: vec![("Content-Type".to_string(), content_type.to_string())],
        after: After::KeepAlive,
    }
}

const TEXT: &str = "text/plain; charset=utf-8";
const EVENT_STREAM: &str = "text/event-stream";

fn chunk_list<I, C>(chunks: I) -> Vec<Vec<u8>>
where
    I: IntoIterator<Item = C>,
    C: Into<Vec<u8>>,
{
    chunks.into_iter().map(Into::into).collect()
}

impl Reply {
    /// 200, `text/plain`, `Content-Length`, keep-alive.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200, body)
    }

    /// Any status, `text/plain`, `Content-Length`, keep-alive.
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            head: head(status, TEXT),
            body: body.into(),
        }
    }

    /// 200, `application/json`.
    pub fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply::ok(body).content_type("application/json")
    }

    /// `status` (e.g. 429 or 503) with `Retry-After: retry_after` (seconds or
    /// an HTTP date) and a short text body.
    pub fn retry_after(status: u16, retry_after: &str) -> Reply {
        Reply::status(status, format!("retry after {retry_after}"))
            .header("Retry-After", retry_after)
    }

    /// 200 with an `X-Huge` header whose value is `size` bytes of `a`.
    pub fn huge_header(size: usize) -> Reply {
        Reply::ok("ok").header("X-Huge", "a".repeat(size))
    }

    /// 200, `text/plain`, chunked: `chunks[0]` with the head, then `delay`
    /// before each further chunk, then the terminating chunk. Keep-alive.
    pub fn chunked<I, C>(chunks: I, delay: Duration) -> Reply
    where
        I: IntoIterator<Item = C>,
        C: Into<Vec<u8>>,
    {
        Reply::Chunked {
            head: head(200, TEXT),
            chunks: chunk_list(chunks),
            delay,
            cut: false,
        }
    }

    /// Like `chunked` with `Content-Type: text/event-stream` and
    /// `Cache-Control: no-cache` (Server-Sent Events).
    pub fn sse<I, C>(chunks: I, delay: Duration) -> Reply
    where
        I: IntoIterator<Item = C>,
        C: Into<Vec<u8>>,
    {
        Reply::chunked(chunks, delay)
            .content_type(EVENT_STREAM)
            .header("Cache-Control", "no-cache")
    }

    /// Like `chunked`, but all given chunks are sent and the terminating
    /// `0\r\n\r\n` is not: the connection is closed instead.
    pub fn chunked_cut<I, C>(chunks: I, delay: Duration) -> Reply
    where
        I: IntoIterator<Item = C>,
        C: Into<Vec<u8>>,
    {
        match Reply::chunked(chunks, delay) {
            Reply::Chunked {
                head,
                chunks,
                delay,
                ..
            } => Reply::Chunked {
                head,
                chunks,
                delay,
                cut: true,
            },
            _ => unreachable!(),
        }
    }

    /// 200, `text/plain`, no `Content-Length`, no chunking; closed after the
    /// body.
    pub fn close_delimited(body: impl Into<Vec<u8>>) -> Reply {
        Reply::CloseDelimited {
            head: head(200, TEXT),
            body: body.into(),
        }
    }

    /// 200, chunked (`text/plain`; change with `.content_type`), head sent,
    /// then nothing until the server is dropped; then close.
    pub fn stall() -> Reply {
        Reply::Stall {
            head: head(200, TEXT),
            length: None,
            prefix: Vec::new(),
            duration: None,
        }
    }

    /// Like `stall`, but closes after `duration` (or on server drop).
    pub fn stall_for(duration: Duration) -> Reply {
        match Reply::stall() {
            Reply::Stall {
                head,
                length,
                prefix,
                ..
            } => Reply::Stall {
                head,
                length,
                prefix,
                duration: Some(duration),
            },
            _ => unreachable!(),
        }
    }

    /// 200 with `Content-Length: content_length`, sends `sent` (shorter), then
    /// stalls until the server is dropped; then close.
    pub fn stall_mid_body(sent: impl Into<Vec<u8>>, content_length: u64) -> Reply {
        Reply::Stall {
            head: head(200, TEXT),
            length: Some(content_length),
            prefix: sent.into(),
            duration: None,
        }
    }

    /// `Content-Length: body.len()`, sends `body[..sent]`, then aborts the
    /// connection. On Linux (x86/x86_64/arm/aarch64/riscv64) `SO_LINGER`=0 is
    /// set so the close sends a TCP RST (client sees `ECONNRESET`); elsewhere
    /// it is an abrupt FIN (client sees an unexpected EOF).
    pub fn reset_mid_body(body: impl Into<Vec<u8>>, sent: usize) -> Reply {
        let body = body.into();
        assert!(sent < body.len(), "reset_mid_body: sent must be < body len");
        Reply::ResetMidBody {
            head: head(200, TEXT),
            body,
            sent,
        }
    }

    /// 200, `Content-Length` body written one byte at a time, sleeping
    /// `delay` after each byte. Keep-alive.
    pub fn dribble(body: impl Into<Vec<u8>>, delay: Duration) -> Reply {
        Reply::Dribble {
            head: head(200, TEXT),
            body: body.into(),
            delay,
        }
    }

    /// 200, `text/event-stream`, a body of `len` bytes of `a` and no line
    /// end, generated on the fly (no allocation of `len`), framed as given.
    pub fn long_line(len: u64, framing: Framing) -> Reply {
        Reply::long_line_after(Vec::new(), len, framing)
    }

    /// Like `long_line`, with `prefix` (e.g. `"data: "`) sent first.
    pub fn long_line_after(prefix: impl Into<Vec<u8>>, len: u64, framing: Framing) -> Reply {
        Reply::LongLine {
            head: head(200, EVENT_STREAM),
            prefix: prefix.into(),
            len,
            byte: b'a',
            framing,
        }
    }

    /// 200 declaring `Content-Length: declared` but sending only `body`
    /// (which must be shorter), then closing.
    pub fn lying_length(declared: u64, body: impl Into<Vec<u8>>) -> Reply {
        let body = body.into();
        assert!(
            (body.len() as u64) < declared,
            "lying_length: body must be shorter than declared"
        );
        Reply::LyingLength {
            head: head(200, TEXT),
            declared,
            body,
        }
    }

    /// Bytes written as-is, then close.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Raw(bytes.into())
    }

    /// Anything else: the callback gets the socket, which is closed after it
    /// returns. The callback must bound its own waiting (the socket has read
    /// and write timeouts and is shut down when the server is dropped).
    pub fn custom(f: impl FnOnce(&mut TcpStream) + Send + 'static) -> Reply {
        Reply::Custom(Box::new(f))
    }

    // ----- modifiers -------------------------------------------------------

    /// Wait `d` before sending anything (a slow endpoint). Ends early if the
    /// server is dropped.
    pub fn delay(self, d: Duration) -> Reply {
        Reply::Delayed(d, Box::new(self))
    }

    /// Set a header, replacing any of the same name (case-insensitive).
    /// Panics on `Raw` / `Custom`.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        let value = value.into();
        let h = self.head_mut("header");
        h.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        h.headers.push((name.to_string(), value));
        self
    }

    /// Append a header (allows duplicates). Panics on `Raw` / `Custom`.
    pub fn add_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        let value = value.into();
        self.head_mut("add_header")
            .headers
            .push((name.to_string(), value));
        self
    }

    /// Set `Content-Type`.
    pub fn content_type(self, value: &str) -> Reply {
        self.header("Content-Type", value)
    }

    /// Set the status code.
    pub fn with_status(mut self, status: u16) -> Reply {
        self.head_mut("with_status").status = status;
        self
    }

    /// Send `Connection: close` and close after the response.
    pub fn close(mut self) -> Reply {
        self.head_mut("close").after = After::Close;
        self
    }

    /// Advertise keep-alive but close right after the response (the client's
    /// pooled connection is then stale).
    pub fn close_silently(mut self) -> Reply {
        self.head_mut("close_silently").after = After::CloseSilently;
        self
    }

    fn head_mut(&mut self, what: &str) -> &mut Head {
        match self {
            Reply::Full { head, .. }
            | Reply::Chunked { head, .. }
            | Reply::CloseDelimited { head, .. }
            | Reply::Stall { head, .. }
            | Reply::ResetMidBody { head, .. }
            | Reply::Dribble { head, .. }
            | Reply::LongLine { head, .. }
            | Reply::LyingLength { head, .. } => head,
            Reply::Delayed(_, inner) => inner.head_mut(what),
            Reply::Raw(_) | Reply::Custom(_) => {
                panic!("Reply::{what} is not supported on Reply::Raw / Reply::Custom")
            }
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Full { head, body } => write!(f, "Full({}, {} bytes)", head.status, body.len()),
            Reply::Chunked { head, chunks, .. } => {
                write!(f, "Chunked({}, {} chunks)", head.status, chunks.len())
            }
            Reply::CloseDelimited { head, .. } => write!(f, "CloseDelimited({})", head.status),
            Reply::Delayed(d, inner) => write!(f, "Delayed({d:?}, {inner:?})"),
            Reply::Stall { head, .. } => write!(f, "Stall({})", head.status),
            Reply::ResetMidBody { head, .. } => write!(f, "ResetMidBody({})", head.status),
            Reply::Dribble { head, .. } => write!(f, "Dribble({})", head.status),
            Reply::LongLine { len, framing, .. } => write!(f, "LongLine({len}, {framing:?})"),
            Reply::LyingLength { declared, .. } => write!(f, "LyingLength({declared})"),
            Reply::Raw(b) => write!(f, "Raw({} bytes)", b.len()),
            Reply::Custom(_) => write!(f, "Custom"),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Serialize a head. `framing` decides the automatic framing header;
/// `close` adds `Connection: close`.
fn write_head(out: &mut Vec<u8>, head: &Head, framing: Framing, len: u64, close: bool) {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(128);
    let _ = write!(s, "HTTP/1.1 {} {}\r\n", head.status, reason(head.status));
    let has = |name: &str| {
        head.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    out.extend_from_slice(s.as_bytes());
    for (n, v) in &head.headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    s.clear();
    match framing {
        Framing::ContentLength if !has("content-length") => {
            let _ = write!(s, "Content-Length: {len}\r\n");
        }
        Framing::Chunked if !has("transfer-encoding") => {
            s.push_str("Transfer-Encoding: chunked\r\n");
        }
        _ => {}
    }
    if close && !has("connection") {
        s.push_str("Connection: close\r\n");
    }
    s.push_str("\r\n");
    out.extend_from_slice(s.as_bytes());
}

fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    stop: AtomicBool,
    stop_lock: Mutex<bool>,
    stop_cv: Condvar,
    requests: Mutex<Vec<Request>>,
    connections: AtomicUsize,
    /// Clones of live connection sockets, to shut them down on drop.
    live: Mutex<HashMap<usize, TcpStream>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    panic: Mutex<Option<String>>,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleep for `d` (forever if `None`) or until the server is dropped.
    /// Returns `false` if the server was dropped.
    fn sleep(&self, d: Option<Duration>) -> bool {
        let deadline = d.map(|d| Instant::now() + d);
        let mut stopped = lock(&self.stop_lock);
        loop {
            if *stopped {
                return false;
            }
            let wait = match deadline {
                Some(dl) => {
                    let now = Instant::now();
                    if now >= dl {
                        return true;
                    }
                    dl - now
                }
                None => Duration::from_secs(3600),
            };
            stopped = self
                .stop_cv
                .wait_timeout(stopped, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The test server. See the module docs.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Bind `127.0.0.1:0` and serve every request with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("TestServer: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("TestServer: local_addr");
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            stop: AtomicBool::new(false),
            stop_lock: Mutex::new(false),
            stop_cv: Condvar::new(),
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            live: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
            panic: Mutex::new(None),
        });
        let sh = shared.clone();
        let acceptor = thread::Builder::new()
            .name("test-server-accept".into())
            .spawn(move || accept_loop(listener, sh))
            .expect("TestServer: spawn accept thread");
        TestServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT{path}`; `path` should start with `/`.
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request seen so far, in arrival order (recorded before the
    /// handler runs).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// Number of requests seen so far.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Number of accepted TCP connections so far.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let sh = &self.shared;
        sh.stop.store(true, Ordering::Release);
        *lock(&sh.stop_lock) = true;
        sh.stop_cv.notify_all();
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        // All connections are registered now; unblock their reads/writes.
        for s in lock(&sh.live).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let workers = std::mem::take(&mut *lock(&sh.workers));
        for w in workers {
            let _ = w.join();
        }
        if let Some(msg) = lock(&sh.panic).take() {
            if !thread::panicking() {
                panic!("TestServer handler panicked: {msg}");
            }
        }
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                if sh.stopped() {
                    return;
                }
                thread::sleep(ms(5));
                continue;
            }
        };
        if sh.stopped() {
            return;
        }
        let id = sh.connections.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&sh.live).insert(id, clone);
        }
        let sh2 = sh.clone();
        let spawned = thread::Builder::new()
            .name(format!("test-server-conn-{id}"))
            .spawn(move || {
                serve_connection(&sh2, stream, id);
                lock(&sh2.live).remove(&id);
            });
        let mut workers = lock(&sh.workers);
        // Reap finished workers so long runs don't accumulate handles.
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut *workers)
            .into_iter()
            .partition(|h| h.is_finished());
        *workers = running;
        match spawned {
            Ok(h) => workers.push(h),
            Err(_) => {
                lock(&sh.live).remove(&id);
            }
        }
        drop(workers);
        for h in done {
            let _ = h.join();
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".to_string()
    }
}

fn serve_connection(sh: &Shared, mut stream: TcpStream, id: usize) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(16 * 1024, read_half);
    let mut line = Vec::with_capacity(256);
    loop {
        if sh.stopped() {
            return;
        }
        let (req, http10) = match read_request(&mut reader, &mut stream, &mut line, id) {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return,
        };
        if sh.stopped() {
            return;
        }
        let client_close = req.wants_close(http10);
        let is_head = req.method.eq_ignore_ascii_case("HEAD");
        lock(&sh.requests).push(req.clone());
        let reply = match panic::catch_unwind(AssertUnwindSafe(|| (sh.handler)(&req))) {
            Ok(r) => r,
            Err(p) => {
                let msg = panic_message(&*p);
                lock(&sh.panic).get_or_insert(msg);
                Reply::status(500, "TestServer handler panicked").close()
            }
        };
        match execute(sh, &mut stream, reply, client_close, is_head) {
            Ok(true) => continue,
            Ok(false) | Err(_) => return,
        }
    }
}

/// Ends the connection gracefully: FIN after all data.
fn finish(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
}

/// Perform one reply. `Ok(true)` = keep the connection for the next request.
fn execute(
    sh: &Shared,
    stream: &mut TcpStream,
    reply: Reply,
    client_close: bool,
    is_head: bool,
) -> io::Result<bool> {
    let keep = |h: &Head| h.after == After::KeepAlive && !client_close;
    let mut out = Vec::new();
    match reply {
        Reply::Full { head, body } => {
            let close = head.after == After::Close || client_close;
            write_head(
                &mut out,
                &head,
                Framing::ContentLength,
                body.len() as u64,
                close,
            );
            if !is_head {
                out.extend_from_slice(&body);
            }
            stream.write_all(&out)?;
            Ok(keep(&head))
        }
        Reply::Chunked {
            head,
            chunks,
            delay,
            cut,
        } => {
            let close = cut || head.after == After::Close || client_close;
            write_head(&mut out, &head, Framing::Chunked, 0, close);
            let mut first = true;
            for chunk in &chunks {
                if !first && !delay.is_zero() && !sh.sleep(Some(delay)) {
                    return Ok(false);
                }
                first = false;
                push_chunk(&mut out, chunk);
                if !out.is_empty() {
                    stream.write_all(&out)?;
                    out.clear();
                }
            }
            if cut {
                stream.write_all(&out)?;
                finish(stream);
                return Ok(false);
            }
            out.extend_from_slice(b"0\r\n\r\n");
            stream.write_all(&out)?;
            Ok(keep(&head))
        }
        Reply::CloseDelimited { head, body } => {
            write_head(&mut out, &head, Framing::Close, 0, true);
            out.extend_from_slice(&body);
            stream.write_all(&out)?;
            finish(stream);
            Ok(false)
        }
        Reply::Delayed(d, inner) => {
            if !sh.sleep(Some(d)) {
                return Ok(false);
            }
            execute(sh, stream, *inner, client_close, is_head)
        }
        Reply::Stall {
            head,
            length,
            prefix,
            duration,
        } => {
            let framing = if length.is_some() {
                Framing::ContentLength
            } else {
                Framing::Chunked
            };
            write_head(&mut out, &head, framing, length.unwrap_or(0), false);
            out.extend_from_slice(&prefix);
            stream.write_all(&out)?;
            sh.sleep(duration);
            finish(stream);
            Ok(false)
        }
        Reply::ResetMidBody { head, body, sent } => {
            write_head(
                &mut out,
                &head,
                Framing::ContentLength,
                body.len() as u64,
                false,
            );
            out.extend_from_slice(&body[..sent]);
            stream.write_all(&out)?;
            stream.flush()?;
            set_linger_zero(stream);
            Ok(false) // the socket is closed (RST) when the connection thread drops it
        }
        Reply::Dribble { head, body, delay } => {
            let close = head.after == After::Close || client_close;
            write_head(
                &mut out,
                &head,
                Framing::ContentLength,
                body.len() as u64,
                close,
            );
            stream.write_all(&out)?;
            if !is_head {
                for b in &body {
                    stream.write_all(std::slice::from_ref(b))?;
                    if !delay.is_zero() && !sh.sleep(Some(delay)) {
                        return Ok(false);
                    }
                }
            }
            Ok(keep(&head))
        }
        Reply::LongLine {
            head,
            prefix,
            len,
            byte,
            framing,
        } => {
            let close = framing == Framing::Close || head.after == After::Close || client_close;
            let total = prefix.len() as u64 + len;
            write_head(&mut out, &head, framing, total, close);
            const BLOCK: usize = 64 * 1024;
            let block = vec![byte; BLOCK];
            let chunked = framing == Framing::Chunked;
            if chunked {
                push_chunk(&mut out, &prefix);
            } else {
                out.extend_from_slice(&prefix);
            }
            stream.write_all(&out)?;
            let mut framed_block = Vec::new();
            if chunked {
                push_chunk(&mut framed_block, &block);
            }
            let mut left = len;
            while left > 0 {
                if sh.stopped() {
                    return Ok(false);
                }
                let n = left.min(BLOCK as u64) as usize;
                if n == BLOCK && chunked {
                    stream.write_all(&framed_block)?;
                } else if chunked {
                    out.clear();
                    push_chunk(&mut out, &block[..n]);
                    stream.write_all(&out)?;
                } else {
                    stream.write_all(&block[..n])?;
                }
                left -= n as u64;
            }
            if chunked {
                stream.write_all(b"0\r\n\r\n")?;
            }
            if framing == Framing::Close {
                finish(stream);
                return Ok(false);
            }
            Ok(keep(&head))
        }
        Reply::LyingLength {
            head,
            declared,
            body,
        } => {
            write_head(&mut out, &head, Framing::ContentLength, declared, false);
            out.extend_from_slice(&body);
            stream.write_all(&out)?;
            finish(stream);
            Ok(false)
        }
        Reply::Raw(bytes) => {
            stream.write_all(&bytes)?;
            finish(stream);
            Ok(false)
        }
        Reply::Custom(f) => {
            f(stream);
            finish(stream);
            Ok(false)
        }
    }
}

/// Set `SO_LINGER` to {on, 0 s} so that closing the socket sends a RST.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
))]
fn set_linger_zero(stream: &TcpStream) {
    use std::os::unix::io::AsRawFd;
    #[repr(C)]
    struct Linger {
        l_onoff: i32,
        l_linger: i32,
    }
    extern "C" {
        fn setsockopt(fd: i32, level: i32, name: i32, value: *const Linger, len: u32) -> i32;
    }
    const SOL_SOCKET: i32 = 1;
    const SO_LINGER: i32 = 13;
    let linger = Linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid fd owned by `stream`, pointer to a live `struct linger`
    // with its exact size.
    unsafe {
        setsockopt(
            stream.as_raw_fd(),
            SOL_SOCKET,
            SO_LINGER,
            &linger,
            std::mem::size_of::<Linger>() as u32,
        );
    }
}

/// Fallback: no RST available, just shut the socket down (abrupt FIN).
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
)))]
fn set_linger_zero(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
}

// ---------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Read one line (up to and including `\n`) into `line`, bounded by `budget`.
/// Returns the number of bytes read (0 = EOF).
fn read_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>, budget: &mut u64) -> io::Result<usize> {
    line.clear();
    let n = r.by_ref().take(*budget).read_until(b'\n', line)?;
    *budget = budget.saturating_sub(n as u64);
    if n > 0 && line.last() != Some(&b'\n') {
        return Err(bad(if *budget == 0 {
            "request head too large"
        } else {
            "unexpected EOF in request head"
        }));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(n)
}

/// Read one request. `Ok(None)` on a clean EOF before a request.
fn read_request<R: BufRead>(
    r: &mut R,
    stream: &mut TcpStream,
    line: &mut Vec<u8>,
    connection: usize,
) -> io::Result<Option<(Request, bool)>> {
    let mut budget = MAX_REQUEST_HEAD;
    // Request line (skipping stray empty lines between requests).
    loop {
        if read_line(r, line, &mut budget)? == 0 {
            return Ok(None);
        }
        if !line.is_empty() {
            break;
        }
    }
    let text = std::str::from_utf8(line).map_err(|_| bad("non-UTF-8 request line"))?;
    let mut parts = text.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(path), version) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("malformed request line"));
    };
    let http10 = version == Some("HTTP/1.0");
    let method = method.to_string();
    let path = path.to_string();

    let mut headers = Vec::new();
    loop {
        if read_line(r, line, &mut budget)? == 0 {
            return Err(bad("unexpected EOF in request head"));
        }
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(bad("malformed header"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
        connection,
    };

    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = match req.header("content-length") {
        Some(v) => Some(v.parse::<u64>().map_err(|_| bad("bad Content-Length"))?),
        None => None,
    };
    let has_body = chunked || length.is_some_and(|n| n > 0);
    if has_body
        && req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if chunked {
        req.body = read_chunked(r, line)?;
    } else if let Some(n) = length {
        let mut body = Vec::with_capacity(n.min(1 << 20) as usize);
        r.by_ref().take(n).read_to_end(&mut body)?;
        if (body.len() as u64) < n {
            return Err(bad("unexpected EOF in request body"));
        }
        req.body = body;
    }
    Ok(Some((req, http10)))
}

fn read_chunked<R: BufRead>(r: &mut R, line: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = 4096;
        if read_line(r, line, &mut budget)? == 0 {
            return Err(bad("unexpected EOF in chunked body"));
        }
        let text = std::str::from_utf8(line).map_err(|_| bad("bad chunk size"))?;
        let size_str = text.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_str, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers until an empty line.
            let mut budget = MAX_REQUEST_HEAD;
            loop {
                if read_line(r, line, &mut budget)? == 0 || line.is_empty() {
                    return Ok(body);
                }
            }
        }
        let before = body.len();
        r.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(bad("unexpected EOF in chunk"));
        }
        let mut budget = 4096;
        read_line(r, line, &mut budget)?; // CRLF after the chunk data
    }
}

// ---------------------------------------------------------------------------
// Process accounting (appended for tests/faults.rs and tests/load.rs)
// ---------------------------------------------------------------------------

/// Resident memory of this process in bytes (`VmRSS` of `/proc/self/status`);
/// `None` where that is not available (non-Linux).
pub fn rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident memory of this process in bytes (`VmHWM`); `None` where
/// that is not available.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|kib| kib * 1024)
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Polls `cond` every 10 ms until it holds or `within` has passed; returns
/// whether it held.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(ms(10));
    }
}

/// Runs `f` while a sampler thread reads `VmRSS` every 2 ms, and returns
/// `f`'s result with the largest growth of resident memory seen over the
/// value at the start, in bytes (0 where `/proc` is not available).
pub fn peak_rss_growth_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let start = rss_bytes().unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut peak = start;
            while !stop.load(Ordering::Acquire) {
                peak = peak.max(rss_bytes().unwrap_or(0));
                thread::sleep(ms(2));
            }
            peak.max(rss_bytes().unwrap_or(0))
        })
    };
    let out = f();
    stop.store(true, Ordering::Release);
    let peak = sampler.join().unwrap_or(start);
    (out, peak.saturating_sub(start))
}

/// Hands memory the allocator keeps for reuse back to the OS (glibc's
/// `malloc_trim`), so that resident memory measures what is still allocated;
/// does nothing on other platforms.
pub fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only releases free pages of its own heaps.
        unsafe {
            malloc_trim(0);
        }
    }
}
