//! Memory of a long event stream: the resident set of a process that consumes a long
//! `text/event-stream` over loopback through an [`EventStream`](ureq_futures::sse::EventStream)
//! must stay flat, bounded by the channel capacity (64 events) and the read buffers, however
//! long the stream.
//!
//! The server runs in a child process (this program, `serve`), so that only the consumer's memory
//! is measured. It streams OpenAI-style `chat.completion.chunk` events (~230 bytes each) in 64 KiB
//! chunks as fast as loopback takes them. Two phases:
//! - `fast`: the caller takes each event as it comes, up to `--mb` megabytes or `--seconds`;
//! - `slow`: the caller sleeps 1 ms every 64 events, for `--slow-seconds`, while the server could
//!   write far faster: the bounded channel and TCP must hold it back.
//!
//! Resident memory is read from `/proc/self/status` (`VmRSS` now, `VmHWM` the peak) before the
//! stream, then about every 8 MB (fast) or 100 ms (slow).
//!
//! ```text
//! stream_memory [--mb 1000] [--seconds 10] [--slow-seconds 3] [--json FILE]
//! stream_memory serve       # the child: prints "url http://127.0.0.1:PORT", serves until stdin closes
//! ```
//!
//! Run: `cargo bench -p ureq-futures-bench --bench stream_memory` (Linux only: it reads `/proc`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use perf::args::Args;
use perf::server::ServerProcess;
use support::{Reply, TestServer};
use ureq_futures::FuturesSession;

/// Bytes per chunk the server writes.
const BLOCK: usize = 64 * 1024;
/// Fast phase: read memory after this many bytes of events.
const FAST_SAMPLE_EVERY: usize = 8_000_000;
/// Slow phase: read memory this often.
const SLOW_SAMPLE_EVERY: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    let args = Args::from_env();
    let result = match args.command() {
        Some("serve") => serve(),
        Some(other) => Err(format!("unknown command {other:?}; see the file's docs")),
        None if args.filtered_out("stream_memory") => Ok(()),
        None => measure(&args),
    };
    perf::exit("stream_memory", result)
}

// ---------------------------------------------------------------------------------------------
// The server (child process)
// ---------------------------------------------------------------------------------------------

/// One chunk of the chunked body, framing included: whole events, `BLOCK` bytes or a little less.
fn framed_block() -> Vec<u8> {
    let mut events = Vec::with_capacity(BLOCK);
    for n in 0u64.. {
        let event = format!(
            "data: {{\"id\":\"chatcmpl-AbCdEf{n:010}\",\"object\":\"chat.completion.chunk\",\
             \"created\":1700000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\
             \"fp_0ba0d124f1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" token\"}},\
             \"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        );
        if events.len() + event.len() > BLOCK {
            break;
        }
        events.extend_from_slice(event.as_bytes());
    }
    let mut framed = format!("{:X}\r\n", events.len()).into_bytes();
    framed.extend_from_slice(&events);
    framed.extend_from_slice(b"\r\n");
    framed
}

/// Writes `/events?mb=N` (N megabytes of events, then `[DONE]`) as fast as the socket takes it.
fn write_stream(sock: &mut TcpStream, megabytes: u64) {
    let block = framed_block();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut left = megabytes * 1_000_000;
    while left > 0 {
        // A write fails (or times out) once the client has gone.
        if sock.write_all(&block).is_err() {
            return;
        }
        left = left.saturating_sub(block.len() as u64);
    }
    let done = b"data: [DONE]\n\n";
    let mut tail = format!("{:X}\r\n", done.len()).into_bytes();
    tail.extend_from_slice(done);
    tail.extend_from_slice(b"\r\n0\r\n\r\n");
    let _ = sock.write_all(&tail);
}

fn serve() -> Result<(), String> {
    let server = TestServer::start(|req| {
        let megabytes = req
            .path
            .split_once("mb=")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(100);
        Reply::custom(move |sock| write_stream(sock, megabytes))
    });
    println!("url {}", server.url());
    io::stdout().flush().map_err(|e| e.to_string())?;
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The consumer (this process)
// ---------------------------------------------------------------------------------------------

/// `(VmRSS, VmHWM)` of this process in bytes.
fn memory() -> Result<(u64, u64), String> {
    let v = perf::proc_status("self", &["VmRSS:", "VmHWM:"])?;
    Ok((v[0] * 1024, v[1] * 1024))
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// One reading: seconds since the phase began, megabytes of event data received, RSS in MB.
#[derive(Clone, Copy)]
struct Sample {
    seconds: f64,
    received_mb: f64,
    rss_mb: f64,
}

struct Phase {
    name: &'static str,
    events: u64,
    received: u64,
    seconds: f64,
    samples: Vec<Sample>,
}

impl Phase {
    fn json(&self) -> serde_json::Value {
        let peak = self.samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max);
        serde_json::json!({
            "phase": self.name,
            "events": self.events,
            "received_mb": mb(self.received),
            "seconds": self.seconds,
            "mb_per_s": mb(self.received) / self.seconds,
            "max_sampled_rss_mb": peak,
            "samples": self.samples.iter().map(|s| [s.seconds, s.received_mb, s.rss_mb]).collect::<Vec<_>>(),
        })
    }
}

/// Consumes one stream until it ends or `limit` passes, sleeping 1 ms every 64 events if `slow`.
fn consume(
    session: &FuturesSession,
    url: &str,
    name: &'static str,
    limit: Duration,
    slow: bool,
) -> Result<Phase, String> {
    let stream = session
        .get(url)
        .events()
        .result()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut phase = Phase {
        name,
        events: 0,
        received: 0,
        seconds: 0.0,
        samples: Vec::new(),
    };
    let sample = |phase: &mut Phase| -> Result<(), String> {
        let (rss, _) = memory()?;
        phase.samples.push(Sample {
            seconds: start.elapsed().as_secs_f64(),
            received_mb: mb(phase.received),
            rss_mb: mb(rss),
        });
        Ok(())
    };
    sample(&mut phase)?;
    let mut next_sample = FAST_SAMPLE_EVERY as u64;
    let mut next_tick = SLOW_SAMPLE_EVERY;
    for event in stream {
        let event = event.map_err(|e| e.to_string())?;
        phase.events += 1;
        phase.received += event.data.len() as u64;
        if slow {
            if phase.events.is_multiple_of(64) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if start.elapsed() >= next_tick {
                sample(&mut phase)?;
                next_tick += SLOW_SAMPLE_EVERY;
            }
        } else if phase.received >= next_sample {
            sample(&mut phase)?;
            next_sample += FAST_SAMPLE_EVERY as u64;
        }
        if start.elapsed() >= limit {
            break; // dropping the stream closes the connection
        }
    }
    phase.seconds = start.elapsed().as_secs_f64();
    sample(&mut phase)?;
    Ok(phase)
}

fn measure(args: &Args) -> Result<(), String> {
    let megabytes: u64 = args.opt("--mb", 1000)?;
    let seconds: f64 = args.opt("--seconds", 10.0)?;
    let slow_seconds: f64 = args.opt("--slow-seconds", 3.0)?;
    let json_path: String = args.opt("--json", String::new())?;

    let server = ServerProcess::spawn(&["serve"])?;
    let session = FuturesSession::new();
    let (baseline, _) = memory()?;
    println!(
        "long event stream over loopback; RSS before the stream: {:.1} MB",
        mb(baseline)
    );
    let fast = consume(
        &session,
        &format!("{}/events?mb={megabytes}", server.url),
        "fast",
        Duration::from_secs_f64(seconds),
        false,
    )?;
    let (_, peak_fast) = memory()?;
    let slow = consume(
        &session,
        // Far more than the slow phase can take: the server is always ahead.
        &format!("{}/events?mb=100000", server.url),
        "slow",
        Duration::from_secs_f64(slow_seconds),
        true,
    )?;
    let (end, peak) = memory()?;
    drop(server);

    for phase in [&fast, &slow] {
        println!(
            "{:>4}: {} events, {:.0} MB of data in {:.1} s ({:.0} MB/s)",
            phase.name,
            phase.events,
            mb(phase.received),
            phase.seconds,
            mb(phase.received) / phase.seconds
        );
    }
    println!(
        "RSS: {:.1} MB before, peak {:.1} MB after the fast phase, peak {:.1} MB overall, \
         {:.1} MB at the end (peak - before = {:.1} MB)",
        mb(baseline),
        mb(peak_fast),
        mb(peak),
        mb(end),
        mb(peak.saturating_sub(baseline))
    );
    if !json_path.is_empty() {
        let doc = serde_json::json!({
            "bench": "stream_memory",
            "baseline_rss_mb": mb(baseline),
            "peak_rss_mb_after_fast": mb(peak_fast),
            "peak_rss_mb": mb(peak),
            "end_rss_mb": mb(end),
            "phases": [fast.json(), slow.json()],
        });
        std::fs::write(&json_path, doc.to_string()).map_err(|e| format!("{json_path}: {e}"))?;
    }
    Ok(())
}
