//! A small HTTP/1.1 test server on plain `std::net`, shared by the integration
//! tests (`tests/it/`) and the benches (`benches/`): the `support` crate, a
//! dev-dependency of both (`use support::{Reply, TestServer};`). Not published.
//! It depends on nothing but std.
//!
//! * Listens on `127.0.0.1:0`, one thread per connection, keep-alive.
//! * Every blocking operation is bounded: accepted sockets have read/write
//!   timeouts, and all stalls/delays end as soon as the server is dropped.
//! * Dropping the server stops the accept loop, shuts down every live
//!   connection, and joins all threads. If a handler panicked, the drop
//!   panics with the handler's message (unless the test is already panicking).

mod parse;
mod process;
pub mod program;
mod reply;
mod server;
mod socks;

pub use process::{
    eventually, peak_rss_bytes, peak_rss_growth_during, rss_bytes, thread_count, trim_allocator,
};
pub use reply::{After, CustomFn, Framing, Head, Reply, Request};
pub use server::TestServer;
pub use socks::Socks5Proxy;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Read timeout of accepted sockets (an idle keep-alive connection is closed
/// by the server after this long).
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Write timeout of accepted sockets.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The least a client limit gets when it must not fire before the test server's headers are
/// in (a `timeout` or `read_timeout` meant to cut a body or a stream, or not to fire at all): a
/// loaded machine can take hundreds of milliseconds to run the server's thread, not seconds.
pub const SLOW_ANSWER: Duration = Duration::from_secs(2);
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

/// A `http://127.0.0.1:PORT` URL where nothing listens, so connecting is refused.
///
/// The port is held for the whole process, so no other test's listener can be given it (a port
/// taken from a listener and released again could be): it is the port of a listener that is
/// closed once it has accepted a connection of the process to itself, which keeps the port
/// bound. It is the listener's port, not the connecting side's: a port that `connect` chose can
/// be chosen again by another `connect`, and one to this very port would then connect to itself
/// (TCP's simultaneous open) instead of being refused; a port that `bind` took is never chosen
/// by `connect`.
pub fn closed_port_url() -> String {
    static HELD: OnceLock<(TcpStream, TcpStream, u16)> = OnceLock::new();
    let (_, _, port) = HELD.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let client = TcpStream::connect(("127.0.0.1", port)).expect("connect to our own listener");
        let (accepted, _) = listener.accept().expect("accept our own connection");
        drop(listener);
        (client, accepted, port)
    });
    format!("http://127.0.0.1:{port}")
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh directory under the system's temporary one, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ureq-futures-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names in the directory, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
