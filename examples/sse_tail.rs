//! Print the events of any Server-Sent Events URL as they arrive.
//!
//! ```text
//! cargo run --example sse_tail -- https://example.com/events
//! cargo run --example sse_tail -- --json https://example.com/events   # one JSON object per event
//! cargo run --example sse_tail -- --raw https://example.com/events    # the data lines only
//! cargo run --example sse_tail -- --reconnect URL                     # reconnect with Last-Event-ID
//! cargo run --example sse_tail -- --demo                              # offline: a local ticking server
//! ```
//!
//! Needs a URL that serves `text/event-stream`, or `--demo`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use ureq_futures::sse::Event;
use ureq_futures::{Error, FuturesSession};

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Pretty,
    Raw,
    Json,
}

fn main() -> ExitCode {
    let mut format = Format::Pretty;
    let mut reconnect = false;
    let mut url = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--raw" => format = Format::Raw,
            "--json" => format = Format::Json,
            "--reconnect" => reconnect = true,
            "--demo" => match start_demo_server() {
                Ok(u) => {
                    eprintln!("demo: ticking event stream at {u}");
                    url = Some(u);
                }
                Err(e) => {
                    eprintln!("error: demo server: {e}");
                    return ExitCode::FAILURE;
                }
            },
            "-h" | "--help" => {
                eprintln!("usage: sse_tail [--raw|--json] [--reconnect] (URL | --demo)");
                return ExitCode::SUCCESS;
            }
            other => url = Some(other.to_string()),
        }
    }
    let Some(url) = url else {
        eprintln!("usage: sse_tail [--raw|--json] [--reconnect] (URL | --demo)");
        return ExitCode::from(2);
    };
    let session = FuturesSession::builder()
        .timeout(Duration::from_secs(30))
        .build();
    let events: Box<dyn Iterator<Item = Result<Event, Error>>> = if reconnect {
        Box::new(session.get(&url).event_source())
    } else {
        match session.get(&url).events().result() {
            Ok(stream) => Box::new(stream),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let mut out = std::io::stdout().lock();
    for event in events {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let line = match format {
            Format::Raw => event.data,
            Format::Json => serde_json::json!({
                "event": event.event,
                "data": event.data,
                "id": event.id,
                "retry_ms": event.retry.map(|d| d.as_millis() as u64),
            })
            .to_string(),
            Format::Pretty => {
                let id = event.id.map(|id| format!(" #{id}")).unwrap_or_default();
                format!("[{}{id}] {}", event.event, event.data)
            }
        };
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            break; // stdout closed
        }
    }
    ExitCode::SUCCESS
}

/// A local server streaming ten ticks, 300 ms apart.
fn start_demo_server() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/ticks", listener.local_addr()?);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for i in 1..=10 {
                    let event = format!("event: tick\nid: {i}\ndata: tick {i} of 10\n\n");
                    if stream.write_all(event.as_bytes()).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            });
        }
    });
    Ok(url)
}
