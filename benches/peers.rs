//! What the cross-language comparisons of `scripts/perf-report` need: one HTTP server that every
//! client talks to, the Rust fan-out clients, and the SSE corpora as files.
//!
//! ```text
//! peers serve                       # prints "url http://127.0.0.1:PORT", serves until stdin closes
//! peers fanout --url URL [--path /small] [--requests 20000] [--workers 8] [--rounds 1]
//!              [--peers ureq_futures,ureq_threads,reqwest_threads]
//! peers corpus --kind openai|anthropic --mb 20 --out FILE
//! peers                              # what `cargo bench` runs: a short fan-out against an
//!                                    # in-process server, printed as a table
//! ```
//!
//! Server routes: `/small` answers `hello` at once, `/slow` answers `hello` after 20 ms (a
//! latency-bound endpoint: 400 GETs over 8 workers take 400 / 8 x 20 ms = 1 s at best). Every
//! response is kept-alive with a `Content-Length`.
//!
//! `fanout` prints one JSON object per peer and round on stdout, e.g.
//! `{"bench":"fanout","peer":"ureq_futures","path":"/small","requests":20000,"workers":8,
//! "seconds":0.61}`. Each round builds a fresh client and warms it up first with 8 requests per
//! worker (connections opened, code paths hot), untimed.
//!
//! Run: `cargo bench -p ureq-futures-bench --bench peers` (or through `scripts/perf-report`).

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use perf::args::Args;
use perf::corpus::{anthropic_corpus, openai_corpus};
use support::{Reply, TestServer};
use ureq_futures::FuturesSession;

/// The delay of `/slow`.
const SLOW: Duration = Duration::from_millis(20);
/// The body of both routes.
const BODY: &str = "hello";

fn main() -> ExitCode {
    let args = Args::from_env();
    let result = match args.command() {
        Some("serve") => serve(),
        Some("fanout") => fanout_command(&args),
        Some("corpus") => corpus_command(&args),
        Some(other) => Err(format!("unknown command {other:?}; see the file's docs")),
        None if args.filtered_out("peers") => Ok(()),
        None => default_run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start_server() -> TestServer {
    TestServer::start(|req| match req.path_only() {
        "/slow" => Reply::ok(BODY).delay(SLOW),
        _ => Reply::ok(BODY),
    })
}

/// Serves until stdin reaches its end, so the server goes away with whoever started it.
fn serve() -> Result<(), String> {
    let server = start_server();
    println!("url {}", server.url());
    io::stdout().flush().map_err(|e| e.to_string())?;
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    drop(server);
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Peer {
    /// `FuturesSession::send` for every request, then `result()` on each handle in order.
    UreqFutures,
    /// Plain ureq on `workers` threads sharing one `Agent`: the same HTTP stack, no pool.
    UreqThreads,
    /// `reqwest::blocking::Client` on `workers` threads.
    ReqwestThreads,
}

impl Peer {
    const ALL: [Peer; 3] = [Peer::UreqFutures, Peer::UreqThreads, Peer::ReqwestThreads];

    fn name(self) -> &'static str {
        match self {
            Peer::UreqFutures => "ureq_futures",
            Peer::UreqThreads => "ureq_threads",
            Peer::ReqwestThreads => "reqwest_threads",
        }
    }

    fn parse(name: &str) -> Result<Peer, String> {
        Peer::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown peer {name:?}"))
    }
}

/// One timed fan-out.
struct Fanout {
    url: String,
    requests: usize,
    workers: usize,
}

fn check(status: u16, len: usize) -> Result<(), String> {
    if status == 200 && len == BODY.len() {
        Ok(())
    } else {
        Err(format!("unexpected answer: status {status}, {len} bytes"))
    }
}

impl Fanout {
    /// Builds the peer's client, warms it up untimed, then times `requests` GETs.
    fn time(&self, peer: Peer) -> Result<Duration, String> {
        let warm = Fanout {
            requests: self.workers * 8,
            url: self.url.clone(),
            workers: self.workers,
        };
        match peer {
            Peer::UreqFutures => {
                let session = FuturesSession::builder().max_workers(self.workers).build();
                warm.ureq_futures(&session)?;
                self.ureq_futures(&session)
            }
            Peer::UreqThreads => {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .max_idle_connections_per_host(self.workers)
                    .build()
                    .into();
                warm.ureq_threads(&agent)?;
                self.ureq_threads(&agent)
            }
            Peer::ReqwestThreads => {
                let client = reqwest::blocking::Client::builder()
                    .pool_max_idle_per_host(self.workers)
                    .build()
                    .map_err(|e| e.to_string())?;
                warm.reqwest_threads(&client)?;
                self.reqwest_threads(&client)
            }
        }
    }

    fn ureq_futures(&self, session: &FuturesSession) -> Result<Duration, String> {
        let start = Instant::now();
        let handles: Vec<_> = (0..self.requests)
            .map(|_| session.get(&self.url).send())
            .collect();
        for h in handles {
            let resp = h.result().map_err(|e| e.to_string())?;
            check(resp.status(), resp.bytes().len())?;
        }
        Ok(start.elapsed())
    }

    fn ureq_threads(&self, agent: &ureq::Agent) -> Result<Duration, String> {
        self.on_threads(|| {
            let mut resp = agent.get(&self.url).call().map_err(|e| e.to_string())?;
            let body = resp.body_mut().read_to_vec().map_err(|e| e.to_string())?;
            check(resp.status().as_u16(), body.len())
        })
    }

    fn reqwest_threads(&self, client: &reqwest::blocking::Client) -> Result<Duration, String> {
        self.on_threads(|| {
            let resp = client.get(&self.url).send().map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let body = resp.bytes().map_err(|e| e.to_string())?;
            check(status, body.len())
        })
    }

    /// Runs `requests` calls of `get` on `workers` scoped threads that take turns from a counter.
    fn on_threads(&self, get: impl Fn() -> Result<(), String> + Sync) -> Result<Duration, String> {
        let next = AtomicUsize::new(0);
        let start = Instant::now();
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..self.workers)
                .map(|_| {
                    scope.spawn(|| {
                        while next.fetch_add(1, Ordering::Relaxed) < self.requests {
                            get()?;
                        }
                        Ok::<(), String>(())
                    })
                })
                .collect();
            threads.into_iter().try_for_each(|t| {
                t.join()
                    .map_err(|_| "a client thread panicked".to_string())?
            })
        })?;
        Ok(start.elapsed())
    }
}

fn fanout_command(args: &Args) -> Result<(), String> {
    let url: String = args.opt("--url", String::new())?;
    if url.is_empty() {
        return Err("fanout needs --url".into());
    }
    let path: String = args.opt("--path", "/small".to_string())?;
    let run = Fanout {
        url: format!("{}{path}", url.trim_end_matches('/')),
        requests: args.opt("--requests", 20_000)?,
        workers: args.opt("--workers", 8)?,
    };
    let rounds: usize = args.opt("--rounds", 1)?;
    let names: String = args.opt(
        "--peers",
        "ureq_futures,ureq_threads,reqwest_threads".into(),
    )?;
    let peers = names
        .split(',')
        .map(Peer::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = io::stdout().lock();
    for _ in 0..rounds {
        for &peer in &peers {
            let took = run.time(peer)?;
            let line = serde_json::json!({
                "bench": "fanout",
                "peer": peer.name(),
                "path": path,
                "requests": run.requests,
                "workers": run.workers,
                "seconds": took.as_secs_f64(),
            });
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// `cargo bench -p ureq-futures-bench --bench peers`: both fan-outs once per peer against an in-process server.
fn default_run() -> Result<(), String> {
    let server = start_server();
    println!("fan-out over 8 workers against {}", server.url());
    for (path, requests) in [("/small", 20_000), ("/slow", 400)] {
        let run = Fanout {
            url: server.url_for(path),
            requests,
            workers: 8,
        };
        let mut base = None;
        for peer in Peer::ALL {
            let took = run.time(peer)?.as_secs_f64();
            let base = *base.get_or_insert(took);
            println!(
                "{path:>6} {requests:>6} GETs  {:<16} {took:>7.3} s {:>8.0} req/s  \
                 ureq_futures / this = {:.2}x",
                peer.name(),
                requests as f64 / took,
                base / took,
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

/// Writes a corpus and prints `{"events":N,"bytes":N}` as `EventReader` counts them, so that
/// another parser's result can be checked against it.
fn corpus_command(args: &Args) -> Result<(), String> {
    let kind: String = args.opt("--kind", String::new())?;
    let mb: usize = args.opt("--mb", 20)?;
    let out: String = args.opt("--out", String::new())?;
    if out.is_empty() {
        return Err("corpus needs --out FILE".into());
    }
    let corpus = match kind.as_str() {
        "openai" => openai_corpus(mb * 1_000_000),
        "anthropic" => anthropic_corpus(mb * 1_000_000),
        _ => return Err("corpus needs --kind openai or --kind anthropic".into()),
    };
    let file = std::fs::File::create(&out).map_err(|e| format!("{out}: {e}"))?;
    let mut file = BufWriter::new(file);
    file.write_all(&corpus)
        .and_then(|()| file.flush())
        .map_err(|e| format!("{out}: {e}"))?;
    let mut events = 0usize;
    for event in ureq_futures::sse::EventReader::new(&corpus[..]) {
        event.map_err(|e| e.to_string())?;
        events += 1;
    }
    let line = serde_json::json!({ "kind": kind, "bytes": corpus.len(), "events": events });
    println!("{line}");
    Ok(())
}
