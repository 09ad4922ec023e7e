//! The server: an accept loop and one thread per connection.

use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::parse::read_request;
use crate::reply::{push_chunk, write_head, After, Framing, Head, Reply, Request};
use crate::{lock, ms, READ_TIMEOUT, WRITE_TIMEOUT};

pub(crate) type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub(crate) struct Shared {
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

pub(crate) fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
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

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".to_string()
    }
}

pub(crate) fn serve_connection(sh: &Shared, mut stream: TcpStream, id: usize) {
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
pub(crate) fn finish(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
}

/// Perform one reply. `Ok(true)` = keep the connection for the next request.
pub(crate) fn execute(
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
        Reply::ResetMidBody {
            head,
            body,
            sent,
            framing,
        } => {
            write_head(
                &mut out,
                &head,
                framing,
                body.len() as u64,
                framing == Framing::Close,
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
pub(crate) fn set_linger_zero(stream: &TcpStream) {
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
pub(crate) fn set_linger_zero(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
}
