//! Event latency on loopback: from the moment a local server writes an event to the moment the
//! caller holds it, for
//! - `event_stream`: [`EventStream`](ureq_futures::sse::EventStream) from
//!   `session.get(url).events()` — a pool worker reads and parses, the event crosses a channel;
//! - `event_reader`: [`EventReader`] over a plain ureq body on the caller's thread — the same
//!   parser without the worker and the channel, to show what that hop costs.
//!
//! The server (in this process, so both ends read the same clock) writes one event per chunk,
//! `data: <seq> <nanos since start>`, then waits until the caller has acknowledged it and a gap
//! has passed before writing the next: one event in flight at a time, and every thread involved
//! has gone to sleep before each event, as between the tokens of a chat completion.
//!
//! ```text
//! latency [--events 1000] [--gap-ms 2] [--warmup 50] [--json FILE]
//! ```
//!
//! Prints the median, p90, p99 and max per variant; `--json` also writes them, with every sample.
//!
//! Run: `cargo bench -p ureq-futures-bench --bench latency`.

use std::io::{self, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use perf::args::Args;
use support::{Reply, TestServer};
use ureq_futures::sse::{Event, EventReader};
use ureq_futures::{Error, FuturesSession};

/// How long the server waits for an acknowledgement before it gives up on the stream.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latency: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the server needs for the next stream: how many events, the gap, and where acks arrive.
struct Plan {
    events: usize,
    gap: Duration,
    acks: Receiver<()>,
}

/// The stream the server writes: a chunked `text/event-stream`, one event per chunk, each
/// written after the previous one was acknowledged.
fn write_stream(sock: &mut TcpStream, epoch: Instant, plan: Plan) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut chunk = Vec::with_capacity(128);
    for seq in 0..plan.events {
        if seq > 0 && plan.acks.recv_timeout(ACK_TIMEOUT).is_err() {
            return;
        }
        std::thread::sleep(plan.gap);
        let event = format!("data: {seq} {}\n\n", epoch.elapsed().as_nanos());
        chunk.clear();
        chunk.extend_from_slice(format!("{:X}\r\n", event.len()).as_bytes());
        chunk.extend_from_slice(event.as_bytes());
        chunk.extend_from_slice(b"\r\n");
        if sock.write_all(&chunk).is_err() {
            return;
        }
    }
    let _ = plan.acks.recv_timeout(ACK_TIMEOUT);
    let _ = sock.write_all(b"0\r\n\r\n");
}

/// The receiving side of one variant: turns each event into a latency and acknowledges it.
struct Meter {
    epoch: Instant,
    acks: Sender<()>,
    expected: usize,
    samples: Vec<Duration>,
}

impl Meter {
    fn record(&mut self, event: Result<Event, Error>) -> Result<(), String> {
        let now = self.epoch.elapsed();
        let event = event.map_err(|e| e.to_string())?;
        let mut fields = event.data.split(' ');
        let seq: usize = fields
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or("malformed event")?;
        let sent: u64 = fields
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or("malformed event")?;
        if seq != self.samples.len() {
            return Err(format!(
                "event {seq} arrived, {} expected",
                self.samples.len()
            ));
        }
        self.samples
            .push(now.saturating_sub(Duration::from_nanos(sent)));
        let _ = self.acks.send(());
        Ok(())
    }

    fn finish(self) -> Result<Vec<Duration>, String> {
        if self.samples.len() == self.expected {
            Ok(self.samples)
        } else {
            Err(format!(
                "the stream ended after {} of {} events",
                self.samples.len(),
                self.expected
            ))
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    EventStream,
    EventReader,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::EventStream => "event_stream",
            Variant::EventReader => "event_reader",
        }
    }
}

struct Bench {
    server: TestServer,
    epoch: Instant,
    next_plan: Arc<Mutex<Option<Plan>>>,
    events: usize,
    gap: Duration,
}

impl Bench {
    fn start(events: usize, gap: Duration) -> Bench {
        let epoch = Instant::now();
        let next_plan: Arc<Mutex<Option<Plan>>> = Arc::new(Mutex::new(None));
        let plans = next_plan.clone();
        let server = TestServer::start(move |_| {
            let plan = plans.lock().unwrap_or_else(|e| e.into_inner()).take();
            match plan {
                Some(plan) => Reply::custom(move |sock| write_stream(sock, epoch, plan)),
                None => Reply::status(409, "no stream planned"),
            }
        });
        Bench {
            server,
            epoch,
            next_plan,
            events,
            gap,
        }
    }

    /// Plans the next stream and returns the meter that acknowledges its events.
    fn plan(&self) -> Meter {
        let (tx, rx) = mpsc::channel();
        *self.next_plan.lock().unwrap_or_else(|e| e.into_inner()) = Some(Plan {
            events: self.events,
            gap: self.gap,
            acks: rx,
        });
        Meter {
            epoch: self.epoch,
            acks: tx,
            expected: self.events,
            samples: Vec::with_capacity(self.events),
        }
    }

    fn measure(&self, variant: Variant) -> Result<Vec<Duration>, String> {
        let url = self.server.url_for("/events");
        let mut meter = self.plan();
        match variant {
            Variant::EventStream => {
                let session = FuturesSession::builder().max_workers(1).build();
                let stream = session
                    .get(&url)
                    .events()
                    .result()
                    .map_err(|e| e.to_string())?;
                for event in stream {
                    meter.record(event)?;
                }
            }
            Variant::EventReader => {
                let body = ureq::get(&url)
                    .call()
                    .map_err(|e| e.to_string())?
                    .into_body()
                    .into_reader();
                for event in EventReader::new(body) {
                    meter.record(event)?;
                }
            }
        }
        meter.finish()
    }
}

/// The `p`-th percentile (0..=100) of sorted samples, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn run() -> Result<(), String> {
    let args = Args::from_env();
    if args.filtered_out("latency") {
        return Ok(());
    }
    let events: usize = args.opt("--events", 1000)?;
    let warmup: usize = args.opt("--warmup", 50)?;
    let gap = Duration::from_secs_f64(args.opt("--gap-ms", 2.0)? / 1000.0);
    let json_path: String = args.opt("--json", String::new())?;
    if events == 0 {
        return Err("--events must be at least 1".into());
    }

    let bench = Bench::start(events + warmup, gap);
    println!(
        "event latency on loopback: {events} events (+{warmup} warm-up), {:.1} ms apart",
        gap.as_secs_f64() * 1e3
    );
    println!(
        "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "variant", "median", "p90", "p99", "max", "mean"
    );
    let mut results = Vec::new();
    for variant in [Variant::EventStream, Variant::EventReader] {
        let mut samples = bench.measure(variant)?.split_off(warmup);
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        let raw: Vec<f64> = samples.iter().map(|d| micros(*d)).collect();
        samples.sort();
        let (p50, p90, p99) = (
            percentile(&samples, 50.0),
            percentile(&samples, 90.0),
            percentile(&samples, 99.0),
        );
        let max = samples[samples.len() - 1];
        println!(
            "{:<14} {:>6.0} us {:>6.0} us {:>6.0} us {:>6.0} us {:>6.0} us",
            variant.name(),
            micros(p50),
            micros(p90),
            micros(p99),
            micros(max),
            micros(mean)
        );
        results.push(serde_json::json!({
            "variant": variant.name(),
            "events": samples.len(),
            "median_us": micros(p50),
            "p90_us": micros(p90),
            "p99_us": micros(p99),
            "max_us": micros(max),
            "mean_us": micros(mean),
            "samples_us": raw,
        }));
    }
    if !json_path.is_empty() {
        let doc = serde_json::json!({
            "bench": "latency",
            "gap_ms": gap.as_secs_f64() * 1e3,
            "warmup": warmup,
            "results": results,
        });
        std::fs::write(&json_path, doc.to_string()).map_err(|e| format!("{json_path}: {e}"))?;
    }
    io::stdout().flush().map_err(|e| e.to_string())
}
