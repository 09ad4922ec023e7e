//! Many event streams at once: `--streams` (1,000) concurrent SSE streams at `--rate` (10)
//! events per second each, for `--seconds` (30), against a local server in a child process, so
//! that only the client's memory and CPU are measured. Each client runs in a process of its own:
//!
//! - `ureq_futures`: a session with one worker per stream (`max_workers(1000)`), each stream
//!   opened with `session.get(url).events()`; the caller takes every event on one thread: it
//!   waits on all the streams' receivers with a `crossbeam_channel::Select`, then takes what
//!   every stream has;
//! - `ureq_futures_map`: the same session, the streams inserted into one
//!   [`StreamMap`](ureq_futures::sse::StreamMap) (`streams.insert(i, session.get(url))`), whose
//!   one channel the caller iterates: the documented way to read many streams;
//! - `ureq_futures_stack`: the same with worker stacks of `--stack-size` (64 KiB) instead of
//!   Rust's 2 MiB (the client runs with `RUST_MIN_STACK`), to see what stacks cost;
//! - `ureq_futures_buffers`: the same with
//!   [`connection_buffer_size`](ureq_futures::SessionBuilder::connection_buffer_size)
//!   (`--buffer-size`, 16 KiB) instead of ureq's 128 KiB read and write buffers;
//! - `ureq_futures_worker`: the same with the events counted on the workers, by a
//!   [`Decode`](ureq_futures::sse::Decode) given to `events_decoded` that yields nothing: no
//!   channel and no caller's thread, to see what taking the events on one thread costs;
//! - `tokio`: eventsource-stream over an async `reqwest::Client` on a multi-threaded tokio
//!   runtime (one worker per core), one task per stream;
//! - `python`: Python's requests-futures (`FuturesSession(max_workers=1000)`) with
//!   sseclient-py, one thread per stream (`scripts/perf_peers.py streams`), measured from
//!   outside: this process reads its `/proc/PID/status` and `/proc/PID/stat` and the counts it
//!   keeps in a file (a thread of its own, among 1,000 that want the GIL, would seldom run).
//!   Needs `--python`, the interpreter of the venv that `scripts/perf-report` makes.
//!
//! Each client opens every stream, waits until each has had an event, lets them run for
//! `--settle` seconds (2), then measures over the window:
//! - **resident memory per open stream**: the largest `VmRSS` of the window (sampled every
//!   500 ms) minus `VmRSS` before the first stream was opened (after the session, runtime or
//!   client was made), divided by the number of streams;
//! - **CPU per event**: the process's user + system time (`getrusage`, or `/proc/PID/stat` for
//!   Python) over the window, divided by the events received in it. Every client touches each
//!   event's data.
//!
//! The server writes one chunk per event (an OpenAI-style `chat.completion.chunk`, about
//! 230 bytes of data), every stream's events evenly spaced and the streams' phases spread over
//! the period, from one thread. The soft limit on open files is raised to the hard one if the
//! streams need it.
//!
//! ```text
//! streams [--streams 1000] [--seconds 30] [--rate 10] [--settle 2] [--rounds 1]
//!         [--peers ureq_futures,ureq_futures_map,ureq_futures_stack,ureq_futures_buffers,
//!                  ureq_futures_worker,tokio,python]
//!         [--stack-size 65536] [--buffer-size 16384] [--python PATH] [--json FILE]
//! streams serve --rate 10        # the server: prints "url http://127.0.0.1:PORT", serves until stdin closes
//! streams client --peer ureq_futures --url URL [--streams, --seconds, --settle, --buffer-size]
//! ```
//!
//! `client` prints one JSON line; the default command runs the server, then each peer's client
//! `--rounds` times (the order rotating), and prints the medians and the ratios.
//!
//! Run: `cargo bench -p ureq-futures-bench --bench streams -- --python target/perf-venv/bin/python`
//! (Linux only: it reads `/proc`). A shorter run: `-- --seconds 10`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Select, TryRecvError};
use perf::args::Args;
use perf::server::ServerProcess;
use serde_json::{json, Value};
use ureq_futures::sse::{Decode, Event, EventRef, StreamItem, StreamMap, StreamOptions};
use ureq_futures::FuturesSession;

const ALL_PEERS: &str = "ureq_futures,ureq_futures_map,ureq_futures_stack,ureq_futures_buffers,\
                         ureq_futures_worker,tokio,python";
/// The server's clock: every stream whose phase falls in a tick gets its event then.
const TICK: Duration = Duration::from_millis(10);
/// How often the client reads its resident memory during the window.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// How long a client may take to open every stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(90);

fn main() -> ExitCode {
    let args = Args::from_env();
    let result = match args.command() {
        Some("serve") => serve(&args),
        Some("client") => client(&args),
        Some(other) => Err(format!("unknown command {other:?}; see the file's docs")),
        None if args.filtered_out("streams") => Ok(()),
        None => measure(&args),
    };
    perf::exit("streams", result)
}

/// Raises the soft limit on open files to at least `needed` (up to the hard limit).
fn allow_open_files(needed: u64) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(format!("getrlimit: {}", io::Error::last_os_error()));
        }
        if lim.rlim_cur >= needed {
            return Ok(());
        }
        if lim.rlim_max < needed {
            return Err(format!(
                "{needed} open files needed, the hard limit is {} (raise it: ulimit -Hn)",
                lim.rlim_max
            ));
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(format!("setrlimit: {}", io::Error::last_os_error()));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The server (child process)
// ---------------------------------------------------------------------------------------------

/// One event, framed as a chunk of the chunked body.
fn event_chunk(seq: u64) -> Vec<u8> {
    let event = format!(
        "data: {{\"id\":\"chatcmpl-AbCdEf{seq:010}\",\"object\":\"chat.completion.chunk\",\
         \"created\":1700000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\
         \"fp_0ba0d124f1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" token\"}},\
         \"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
    );
    let mut chunk = format!("{:X}\r\n", event.len()).into_bytes();
    chunk.extend_from_slice(event.as_bytes());
    chunk.extend_from_slice(b"\r\n");
    chunk
}

/// Reads a request head (GET: no body) and answers with the head of an endless event stream.
fn open_stream(mut sock: TcpStream) -> io::Result<TcpStream> {
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(sock.try_clone()?);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    sock.set_nodelay(true)?;
    sock.set_write_timeout(Some(Duration::from_secs(5)))?;
    sock.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )?;
    Ok(sock)
}

/// Streams events to every connection, `rate` a second each, from one thread; a connection
/// whose write fails (its client has gone) is dropped.
fn serve(args: &Args) -> Result<(), String> {
    let rate: f64 = args.opt("--rate", 10.0)?;
    allow_open_files(20_000).or_else(|_| allow_open_files(4_096))?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    println!(
        "url http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    io::stdout().flush().map_err(|e| e.to_string())?;
    let streams: Arc<Mutex<Vec<Option<TcpStream>>>> = Arc::default();
    let accepted = Arc::clone(&streams);
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let accepted = Arc::clone(&accepted);
            // A thread per new connection while it sends its request: the clients open
            // hundreds at once.
            std::thread::spawn(move || {
                if let Ok(sock) = open_stream(sock) {
                    accepted.lock().unwrap().push(Some(sock));
                }
            });
        }
    });
    let ticks_per_event = ((1.0 / rate) / TICK.as_secs_f64()).round().max(1.0) as usize;
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut seq = 0u64;
        for tick in 1usize.. {
            let due = start + TICK * tick as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let mut streams = streams.lock().unwrap();
            for (i, slot) in streams.iter_mut().enumerate() {
                if i % ticks_per_event != tick % ticks_per_event {
                    continue;
                }
                if let Some(sock) = slot {
                    seq += 1;
                    if sock.write_all(&event_chunk(seq)).is_err() {
                        *slot = None;
                    }
                }
            }
            if streams.iter().all(Option::is_none) {
                streams.clear();
            }
        }
    });
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The clients (one process each)
// ---------------------------------------------------------------------------------------------

/// What the streams of one client have received, shared with the thread that measures.
#[derive(Default)]
struct Counters {
    events: AtomicU64,
    bytes: AtomicU64,
    /// Streams that have had their first event.
    open: AtomicUsize,
    /// Streams that ended (they should not).
    ended: AtomicUsize,
    /// The first error a stream ended with.
    error: Mutex<Option<String>>,
}

impl Counters {
    fn event(&self, data: &str) {
        self.events.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    }

    fn end(&self, error: Option<String>) {
        self.ended.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = error {
            self.error.lock().unwrap().get_or_insert(e);
        }
    }
}

/// `VmRSS` and the thread count of this process.
fn status() -> Result<(u64, u64), String> {
    status_of("self")
}

/// `VmRSS` and the thread count of process `pid` (or `self`).
fn status_of(pid: &str) -> Result<(u64, u64), String> {
    let v = perf::proc_status(pid, &["VmRSS:", "Threads:"])?;
    Ok((v[0] * 1024, v[1]))
}

/// User + system CPU time of this process, all threads, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes the struct passed; zeroed is a valid value of it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// User + system CPU time of process `pid`, all threads, in seconds, from `/proc/PID/stat`.
fn cpu_seconds_of(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14, stime 15 (proc(5)).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("{path}: no field {}", i + 3))
    };
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(11)? + ticks(12)?) as f64 / per_second)
}

/// The client's settings, from the command line.
struct Plan {
    url: String,
    streams: usize,
    seconds: f64,
    settle: f64,
    stack_size: usize,
    buffer_size: usize,
}

impl Plan {
    fn from_args(args: &Args) -> Result<Plan, String> {
        Ok(Plan {
            url: args.opt("--url", String::new())?,
            streams: args.opt("--streams", 1000)?,
            seconds: args.opt("--seconds", 30.0)?,
            settle: args.opt("--settle", 2.0)?,
            stack_size: args.opt("--stack-size", 64 * 1024)?,
            buffer_size: args.opt("--buffer-size", 16 * 1024)?,
        })
    }
}

fn client(args: &Args) -> Result<(), String> {
    let peer: String = args.opt("--peer", String::new())?;
    let plan = Plan::from_args(args)?;
    if plan.url.is_empty() {
        return Err("client needs --url".into());
    }
    allow_open_files(plan.streams as u64 + 256)?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let report = match peer.as_str() {
        "ureq_futures"
        | "ureq_futures_map"
        | "ureq_futures_stack"
        | "ureq_futures_buffers"
        | "ureq_futures_worker" => {
            let mut builder = FuturesSession::builder().max_workers(plan.streams);
            if peer == "ureq_futures_buffers" {
                builder = builder.connection_buffer_size(plan.buffer_size);
            }
            let session = builder.build();
            let consume = match peer.as_str() {
                "ureq_futures_worker" => count_on_workers,
                "ureq_futures_map" => consume_stream_map,
                _ => consume_ureq_futures,
            };
            let baseline = status()?.0;
            let (c, s, url, n) = (
                counters.clone(),
                stop.clone(),
                plan.url.clone(),
                plan.streams,
            );
            let consumer = std::thread::spawn(move || consume(&session, &url, n, &c, &s));
            let report = observe(&plan, baseline, &counters);
            stop.store(true, Ordering::Relaxed);
            let _ = consumer.join();
            report?
        }
        "tokio" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let client = reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| e.to_string())?;
            let baseline = status()?.0;
            for _ in 0..plan.streams {
                let (client, c, url) = (client.clone(), counters.clone(), plan.url.clone());
                runtime.spawn(async move {
                    let error = consume_tokio(&client, &url, &c).await.err();
                    c.end(error);
                });
            }
            let report = observe(&plan, baseline, &counters)?;
            runtime.shutdown_background();
            report
        }
        other => return Err(format!("unknown peer {other:?}")),
    };
    let mut report = report;
    report["peer"] = json!(peer);
    match peer.as_str() {
        // Set by `run_client`: std gives new threads this stack size.
        "ureq_futures_stack" => report["stack_size"] = json!(std::env::var("RUST_MIN_STACK").ok()),
        "ureq_futures_buffers" => report["buffer_size"] = json!(plan.buffer_size),
        _ => {}
    }
    println!("{report}");
    Ok(())
}

/// Opens `n` streams with `events()` and takes their events on this thread until `stop`.
fn consume_ureq_futures(
    session: &FuturesSession,
    url: &str,
    n: usize,
    counters: &Arc<Counters>,
    stop: &AtomicBool,
) {
    let pending: Vec<_> = (0..n).map(|_| session.get(url).events()).collect();
    let mut streams = Vec::with_capacity(n);
    for p in pending {
        match p.result() {
            Ok(stream) => streams.push(stream),
            Err(e) => counters.end(Some(e.to_string())),
        }
    }
    let mut select = Select::new();
    for stream in &streams {
        select.recv(stream.receiver());
    }
    let mut seen = vec![false; streams.len()];
    let mut ended = vec![false; streams.len()];
    let mut live = streams.len();
    while live > 0 && !stop.load(Ordering::Relaxed) {
        // Wait until a stream has an event, then take what every stream has: under load the
        // events of many streams are there by then, and the wait (which registers with every
        // channel) is paid once for all of them.
        if select.ready_timeout(Duration::from_millis(100)).is_err() {
            continue;
        }
        for (i, stream) in streams.iter().enumerate() {
            if ended[i] {
                continue;
            }
            loop {
                match stream.receiver().try_recv() {
                    Ok(Ok(event)) => {
                        if !std::mem::replace(&mut seen[i], true) {
                            counters.open.fetch_add(1, Ordering::Relaxed);
                        }
                        counters.event(&event.data);
                    }
                    Err(TryRecvError::Empty) => break,
                    end => {
                        counters.end(match end {
                            Ok(Err(e)) => Some(e.to_string()),
                            _ => None,
                        });
                        select.remove(i);
                        ended[i] = true;
                        live -= 1;
                        break;
                    }
                }
            }
        }
    }
}

/// Opens `n` streams into one `StreamMap` and takes their events on this thread until `stop`.
fn consume_stream_map(
    session: &FuturesSession,
    url: &str,
    n: usize,
    counters: &Arc<Counters>,
    stop: &AtomicBool,
) {
    let mut streams = StreamMap::new();
    for i in 0..n {
        streams.insert(i, session.get(url));
    }
    let mut seen = vec![false; n];
    while !stop.load(Ordering::Relaxed) {
        match streams.next_timeout(Duration::from_millis(100)) {
            Ok((i, StreamItem::Event(event))) => {
                if !std::mem::replace(&mut seen[i], true) {
                    counters.open.fetch_add(1, Ordering::Relaxed);
                }
                counters.event(&event.data);
            }
            Ok((_, StreamItem::End(result))) => counters.end(result.err().map(|e| e.to_string())),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// Counts each event on the worker that parsed it: no channel, no caller.
struct CountOnWorker {
    counters: Arc<Counters>,
    first: bool,
}

impl Decode for CountOnWorker {
    type Item = ();

    fn decode(&mut self, event: Event) -> Result<Option<()>, ureq_futures::Error> {
        self.decode_ref(EventRef::from(&event))
    }

    fn decode_ref(&mut self, event: EventRef<'_>) -> Result<Option<()>, ureq_futures::Error> {
        if std::mem::take(&mut self.first) {
            self.counters.open.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.event(event.data);
        Ok(None)
    }
}

/// Opens `n` streams whose events are counted on their workers, and holds them until `stop`.
fn count_on_workers(
    session: &FuturesSession,
    url: &str,
    n: usize,
    counters: &Arc<Counters>,
    stop: &AtomicBool,
) {
    let pending: Vec<_> = (0..n)
        .map(|_| {
            let decoder = CountOnWorker {
                counters: Arc::clone(counters),
                first: true,
            };
            session
                .get(url)
                .events_decoded(StreamOptions::default(), decoder)
        })
        .collect();
    let mut streams = Vec::with_capacity(n);
    for p in pending {
        match p.result() {
            Ok(stream) => streams.push(stream),
            Err(e) => counters.end(Some(e.to_string())),
        }
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        for stream in &streams {
            // An item here is the stream's end: an error, or the channel closed.
            if let Ok(Err(e)) = stream.receiver().try_recv() {
                counters.end(Some(e.to_string()));
            }
        }
    }
}

/// One stream: eventsource-stream over the chunks of an async reqwest response.
async fn consume_tokio(
    client: &reqwest::Client,
    url: &str,
    counters: &Counters,
) -> Result<(), String> {
    use eventsource_stream::Eventsource;
    use futures::StreamExt;

    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let chunks = futures::stream::unfold(Some(resp), |resp| async move {
        let mut resp = resp?;
        match resp.chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(resp))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut events = std::pin::pin!(chunks.eventsource());
    let mut first = true;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| e.to_string())?;
        if std::mem::take(&mut first) {
            counters.open.fetch_add(1, Ordering::Relaxed);
        }
        counters.event(&event.data);
    }
    Ok(())
}

/// Waits until every stream is open, lets them settle, then measures the window (see the
/// file's docs).
fn observe(plan: &Plan, baseline: u64, counters: &Counters) -> Result<Value, String> {
    let opening = Instant::now();
    while counters.open.load(Ordering::Relaxed) < plan.streams {
        if let Some(e) = counters.error.lock().unwrap().as_ref() {
            return Err(format!(
                "a stream failed while opening ({} open): {e}",
                counters.open.load(Ordering::Relaxed)
            ));
        }
        if opening.elapsed() > OPEN_TIMEOUT {
            return Err(format!(
                "{} of {} streams open after {OPEN_TIMEOUT:?}",
                counters.open.load(Ordering::Relaxed),
                plan.streams
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let open_seconds = opening.elapsed().as_secs_f64();
    let report = measure_window(
        plan,
        status,
        || Ok(cpu_seconds()),
        || {
            Ok((
                counters.events.load(Ordering::Relaxed),
                counters.bytes.load(Ordering::Relaxed),
            ))
        },
    )?;
    let ended = counters.ended.load(Ordering::Relaxed);
    if ended > 0 {
        let error = counters.error.lock().unwrap().clone().unwrap_or_default();
        return Err(format!("{ended} streams ended during the run: {error}"));
    }
    Ok(with_opening(report, plan, baseline, open_seconds))
}

/// Lets the open streams settle, then measures the window: the largest resident memory, the
/// CPU time and the events received, through the probes given (of this process, or of a child
/// read from outside).
fn measure_window(
    plan: &Plan,
    status: impl Fn() -> Result<(u64, u64), String>,
    cpu_seconds: impl Fn() -> Result<f64, String>,
    received: impl Fn() -> Result<(u64, u64), String>,
) -> Result<Value, String> {
    std::thread::sleep(Duration::from_secs_f64(plan.settle));
    let (rss_open, threads) = status()?;
    let ((events0, bytes0), cpu0, t0) = (received()?, cpu_seconds()?, Instant::now());
    let window = Duration::from_secs_f64(plan.seconds);
    let mut rss_peak = rss_open;
    while t0.elapsed() < window {
        std::thread::sleep(SAMPLE_EVERY.min(window.saturating_sub(t0.elapsed())));
        rss_peak = rss_peak.max(status()?.0);
    }
    let ((events1, bytes1), cpu1, seconds) =
        (received()?, cpu_seconds()?, t0.elapsed().as_secs_f64());
    let (events, bytes, cpu) = (events1 - events0, bytes1 - bytes0, cpu1 - cpu0);
    let (rss_end, _) = status()?;
    Ok(json!({
        "bench": "streams",
        "streams": plan.streams,
        "seconds": seconds,
        "events": events,
        "bytes": bytes,
        "cpu_seconds": cpu,
        "cpu_per_event_us": cpu / events.max(1) as f64 * 1e6,
        "rss_open": rss_open,
        "rss_peak": rss_peak,
        "rss_end": rss_end,
        "threads": threads,
    }))
}

/// `report` with the memory before the first stream, the memory per stream, and the time
/// opening took.
fn with_opening(mut report: Value, plan: &Plan, baseline: u64, open_seconds: f64) -> Value {
    let peak = report["rss_peak"].as_u64().unwrap_or(0);
    report["baseline_rss"] = json!(baseline);
    report["open_seconds"] = json!(open_seconds);
    report["rss_per_stream"] = json!(peak.saturating_sub(baseline) as f64 / plan.streams as f64);
    report
}

/// Runs the Python client (`scripts/perf_peers.py streams`) and measures it from outside: its
/// threads want the GIL, so a measuring thread of its own would get it too seldom. It prints
/// one line once every stream is open (its memory before the first, how long opening took) and
/// keeps its counts in a file of three `u64`s (events, bytes, streams ended); memory and CPU
/// time come from `/proc/PID`.
fn run_python(python: &str, url: &str, plan: &Plan) -> Result<Value, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/perf_peers.py");
    let counters = std::env::temp_dir().join(format!("streams-python-{}", std::process::id()));
    let mut child = Command::new(python)
        .args([script, "streams", "--url", url, "--streams"])
        .arg(plan.streams.to_string())
        .arg("--counters")
        .arg(&counters)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python: starting the client: {e}"))?;
    let pid = child.id();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let _ = tx.send(line);
    });
    let measured = (|| {
        let line = rx
            .recv_timeout(OPEN_TIMEOUT + Duration::from_secs(30))
            .map_err(|_| "python: its streams were not open in time; stopped".to_string())?;
        let opened: Value = serde_json::from_str(line.trim())
            .map_err(|_| format!("python: the client failed ({line:?}; its messages are above)"))?;
        let read_counts = || -> Result<[u64; 3], String> {
            let bytes = std::fs::read(&counters).map_err(|e| format!("{counters:?}: {e}"))?;
            let word = |i: usize| {
                bytes
                    .get(i * 8..i * 8 + 8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
                    .ok_or_else(|| format!("{counters:?}: {} bytes", bytes.len()))
            };
            Ok([word(0)?, word(1)?, word(2)?])
        };
        let pid_text = pid.to_string();
        let report = measure_window(
            plan,
            || status_of(&pid_text),
            || cpu_seconds_of(pid),
            || read_counts().map(|[events, bytes, _]| (events, bytes)),
        )?;
        let ended = read_counts()?[2];
        if ended > 0 {
            return Err(format!(
                "python: {ended} streams ended during the run (see above)"
            ));
        }
        Ok(with_opening(
            report,
            plan,
            opened["baseline_rss"].as_u64().unwrap_or(0),
            opened["open_seconds"].as_f64().unwrap_or(0.0),
        ))
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&counters);
    let mut report = measured?;
    report["peer"] = json!("python");
    report["measured"] = json!("from outside, /proc/PID");
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// The run: the server, then each client in turn
// ---------------------------------------------------------------------------------------------

/// Runs one client process and returns its report.
fn run_client(peer: &str, url: &str, args: &Args, python: &str) -> Result<Value, String> {
    let plan = Plan::from_args(args)?;
    if peer == "python" {
        return run_python(python, url, &plan);
    }
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    cmd.args(["client", "--peer", peer, "--buffer-size"])
        .arg(plan.buffer_size.to_string());
    if peer == "ureq_futures_stack" {
        cmd.env("RUST_MIN_STACK", plan.stack_size.to_string());
    }
    cmd.args(["--url", url, "--streams"])
        .arg(plan.streams.to_string())
        .arg("--seconds")
        .arg(plan.seconds.to_string())
        .arg("--settle")
        .arg(plan.settle.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{peer}: starting the client: {e}"))?;
    // Its whole run, with room for starting and opening; a client that falls behind is stopped
    // rather than left to hold the machine.
    let limit = OPEN_TIMEOUT + Duration::from_secs_f64(plan.settle + plan.seconds + 30.0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{peer}: no report after {limit:?}; stopped"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if !status.success() {
        return Err(format!(
            "{peer}: the client failed ({status}; its messages are above)"
        ));
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("{peer}: no report in {stdout:?}"))?;
    serde_json::from_str(line).map_err(|e| format!("{peer}: {e}: {line}"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn measure(args: &Args) -> Result<(), String> {
    let rate: f64 = args.opt("--rate", 10.0)?;
    let rounds: usize = args.opt("--rounds", 1)?;
    let python: String = args.opt("--python", String::new())?;
    let json_path: String = args.opt("--json", String::new())?;
    let mut peers: Vec<String> = args
        .opt("--peers", ALL_PEERS.to_string())?
        .split(',')
        .map(str::to_string)
        .collect();
    if python.is_empty() && peers.iter().any(|p| p == "python") {
        eprintln!(
            "streams: the Python peer needs --python (the venv's interpreter: scripts/perf-report \
             makes target/perf-venv); left out"
        );
        peers.retain(|p| p != "python");
    }
    let plan = Plan::from_args(args)?;
    let server = ServerProcess::spawn(&["serve", "--rate", &rate.to_string()])?;
    println!(
        "{} streams x {rate} events/s, {} s window per client (after {} s to settle), {} round(s)",
        plan.streams, plan.seconds, plan.settle, rounds
    );
    let mut reports: Vec<Value> = Vec::new();
    for round in 0..rounds {
        let k = round % peers.len();
        for peer in peers[k..].iter().chain(&peers[..k]) {
            let mut r = match run_client(peer, &server.url, args, &python) {
                Ok(r) => r,
                Err(e) => {
                    println!("  round {} {peer:<20} not measured: {e}", round + 1);
                    reports.push(json!({"peer": peer, "round": round + 1, "error": e}));
                    continue;
                }
            };
            r["round"] = json!(round + 1);
            println!(
                "  round {} {peer:<20} RSS {:>6.1} KiB/stream ({:.1} -> {:.1} MiB, {} threads), \
                 CPU {:>5.1} us/event ({} events, {:.2} s CPU in {:.1} s; {:.0}% of the events \
                 sent), opened in {:.1} s",
                round + 1,
                r["rss_per_stream"].as_f64().unwrap_or(0.0) / 1024.0,
                r["baseline_rss"].as_f64().unwrap_or(0.0) / 1048576.0,
                r["rss_peak"].as_f64().unwrap_or(0.0) / 1048576.0,
                r["threads"],
                r["cpu_per_event_us"].as_f64().unwrap_or(0.0),
                r["events"],
                r["cpu_seconds"].as_f64().unwrap_or(0.0),
                r["seconds"].as_f64().unwrap_or(0.0),
                r["events"].as_f64().unwrap_or(0.0)
                    / (plan.streams as f64 * rate * r["seconds"].as_f64().unwrap_or(1.0))
                    * 100.0,
                r["open_seconds"].as_f64().unwrap_or(0.0),
            );
            reports.push(r);
        }
    }
    drop(server);
    let medians = |peer: &str, key: &str| {
        let values: Vec<f64> = reports
            .iter()
            .filter(|r| r["peer"] == peer)
            .filter_map(|r| r[key].as_f64())
            .collect();
        (!values.is_empty()).then(|| {
            let (lo, hi) = values
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            (median(values), lo, hi)
        })
    };
    println!("medians (min-max) over {rounds} round(s):");
    for peer in &peers {
        let (Some(rss), Some(cpu)) = (
            medians(peer, "rss_per_stream"),
            medians(peer, "cpu_per_event_us"),
        ) else {
            continue;
        };
        println!(
            "  {peer:<20} RSS per stream {:.1} KiB ({:.1}-{:.1}), CPU per event {:.1} us \
             ({:.1}-{:.1})",
            rss.0 / 1024.0,
            rss.1 / 1024.0,
            rss.2 / 1024.0,
            cpu.0,
            cpu.1,
            cpu.2,
        );
    }
    for mine in ["ureq_futures", "ureq_futures_map"] {
        for theirs in ["tokio", "python"] {
            let ratio = |key: &str| {
                let (m, t) = (medians(mine, key)?, medians(theirs, key)?);
                Some(format!("{:.2}x", m.0 / t.0))
            };
            if let (Some(rss), Some(cpu)) = (ratio("rss_per_stream"), ratio("cpu_per_event_us")) {
                println!("  {mine} / {theirs}: RSS {rss}, CPU {cpu} (of the medians)");
            }
        }
    }
    if !json_path.is_empty() {
        let doc = json!({"bench": "streams", "rate": rate, "results": reports});
        std::fs::write(&json_path, doc.to_string()).map_err(|e| format!("{json_path}: {e}"))?;
    }
    Ok(())
}
