//! Fan-out at scale: memory of the bounded batch API, and the concurrency a server sees under
//! `max_per_host`, each with its peer in the same run.
//!
//! 1. **Batch memory.** `--inputs` (1,000,000) GETs through
//!    [`FuturesSession::batch`](ureq_futures::FuturesSession::batch) with 64 in flight, against
//!    a keep-alive server in a child process (so that only the client's memory is measured):
//!    the growth of resident memory (`VmRSS`, sampled every 5 ms) over its value before. Peer:
//!    the same requests sent the way a `Vec` of handles does it (every handle made first, then
//!    `as_completed`), for `--peer-inputs` (100,000) of them. Reported: growth in MiB and bytes
//!    per input.
//! 2. **`max_per_host(4)` under 64 workers.** 2,000 GETs to an in-process server that counts the
//!    requests it is serving at once (each held 2 ms): the largest count. Peer: the same session
//!    without `max_per_host`.
//!
//! ```text
//! scale [--inputs 1000000] [--peer-inputs 100000] [--json FILE]
//! scale serve     # the child: prints "url http://127.0.0.1:PORT", serves until stdin closes
//! ```
//!
//! `--json FILE` also writes the figures there, for `scripts/perf-report`.
//!
//! Run: `cargo bench -p ureq-futures-bench --bench scale` (Linux only: it reads `/proc`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use perf::args::Args;
use perf::server::ServerProcess;
use support::{peak_rss_growth_during, Reply, TestServer};
use ureq_futures::{as_completed, FuturesSession};

const MIB: f64 = 1024.0 * 1024.0;

fn main() -> ExitCode {
    let args = Args::from_env();
    let result = match args.command() {
        Some("serve") => serve(),
        Some(other) => Err(format!("unknown command {other:?}; see the file's docs")),
        None if args.filtered_out("scale") => Ok(()),
        None => measure(&args),
    };
    perf::exit("scale", result)
}

/// A keep-alive server that answers every request with `hello`; one thread per connection.
fn serve() -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    println!(
        "url http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    io::stdout().flush().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            std::thread::spawn(move || answer_all(sock));
        }
    });
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    Ok(())
}

fn answer_all(sock: TcpStream) {
    let Ok(mut out) = sock.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    loop {
        // A request head: lines up to an empty one (GETs: no body).
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {}
            }
        }
        if out
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
            )
            .is_err()
        {
            return;
        }
    }
}

fn measure(args: &Args) -> Result<(), String> {
    let inputs: usize = args.opt("--inputs", 1_000_000)?;
    let peer_inputs: usize = args.opt("--peer-inputs", 100_000)?;
    let json_path: String = args.opt("--json", String::new())?;
    let server = ServerProcess::spawn(&["serve"])?;
    let session = FuturesSession::builder().max_workers(16).build();
    let url = server.url.clone();
    // Warm-up: connections, workers and the allocator's arenas.
    let warm = session
        .batch(0..20_000, |s, _| s.get(&url).send())
        .filter(|(_, r)| r.is_ok())
        .count();
    if warm != 20_000 {
        return Err(format!("warm-up: {warm} of 20000 answered"));
    }

    let started = Instant::now();
    let (ok, growth) = peak_rss_growth_during(|| {
        session
            .batch(0..inputs, |s, _| s.get(&url).send())
            .in_flight(64)
            .filter(|(_, r)| r.as_ref().is_ok_and(|r| r.bytes() == b"hello"))
            .count()
    });
    let took = started.elapsed();
    if ok != inputs {
        return Err(format!("batch: {ok} of {inputs} answered"));
    }
    println!(
        "batch: {inputs} inputs in {:.1} s, RSS growth {:.1} MiB ({:.1} bytes per input)",
        took.as_secs_f64(),
        growth as f64 / MIB,
        growth as f64 / inputs as f64
    );

    let (ok, peer_growth) = peak_rss_growth_during(|| {
        let handles: Vec<_> = (0..peer_inputs).map(|_| session.get(&url).send()).collect();
        as_completed(handles).filter(|(_, r)| r.is_ok()).count()
    });
    if ok != peer_inputs {
        return Err(format!("peer: {ok} of {peer_inputs} answered"));
    }
    println!(
        "peer (a Vec of handles): {peer_inputs} inputs, RSS growth {:.1} MiB ({:.1} bytes per input)",
        peer_growth as f64 / MIB,
        peer_growth as f64 / peer_inputs as f64
    );
    drop(server);

    let limited = peak_concurrency(Some(4));
    let unlimited = peak_concurrency(None);
    println!("max_per_host(4), 64 workers: the server saw at most {limited} at once");
    println!("peer (no max_per_host), 64 workers: the server saw at most {unlimited} at once");
    if !json_path.is_empty() {
        let doc = serde_json::json!({
            "bench": "scale",
            "batch": {
                "inputs": inputs,
                "in_flight": 64,
                "seconds": took.as_secs_f64(),
                "rss_growth": growth,
            },
            "vec_of_handles": {"inputs": peer_inputs, "rss_growth": peer_growth},
            "max_per_host": {
                "workers": 64,
                "requests": 2000,
                "limit": 4,
                "peak_limited": limited,
                "peak_unlimited": unlimited,
            },
        });
        std::fs::write(&json_path, doc.to_string()).map_err(|e| format!("{json_path}: {e}"))?;
    }
    Ok(())
}

/// The most requests a counting server serves at once, for 2,000 GETs through 64 workers.
fn peak_concurrency(max_per_host: Option<usize>) -> usize {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    let server = TestServer::start(move |_| {
        let current = n.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(current, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        n.fetch_sub(1, Ordering::SeqCst);
        Reply::ok("ok")
    });
    let mut builder = FuturesSession::builder().max_workers(64);
    if let Some(n) = max_per_host {
        builder = builder.max_per_host(n);
    }
    let session = builder.build();
    let url = server.url();
    let handles: Vec<_> = (0..2000).map(|_| session.get(&url).send()).collect();
    let ok = as_completed(handles).filter(|(_, r)| r.is_ok()).count();
    assert_eq!(ok, 2000, "every request answered");
    peak.load(Ordering::SeqCst)
}
