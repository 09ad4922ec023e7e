//! Many chats through one client, offline, against the chat example's demo server: at most 8 at
//! once, answers written as JSON lines in input order, and a second run that resumes (skips
//! every chat already answered).
//!
//! The demo server answers every 7th request with a 429, `Retry-After: 1` and OpenAI's
//! rate-limit headers; the session's [`RateLimiter`] then pauses every new request to the
//! server for that second (the lines starting with `rate limit:`), and the chat is retried.
//!
//! ```text
//! cargo run --example batch_chat [-- OUTPUT.jsonl]
//! ```

// The chat example's demo server; this example uses only part of it.
#[allow(dead_code)]
#[path = "chat/demo.rs"]
mod demo;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ureq_futures::llm::{ChatBatch, ChatJob, OpenAIClient};
use ureq_futures::{Error, FuturesSession, RateLimiter};

const CHATS: usize = 40;
const IN_FLIGHT: usize = 8;

fn main() -> Result<(), Error> {
    let server = demo::DemoServer::start_rate_limited(Duration::from_millis(5), 7)?;
    let limiter = RateLimiter::new().on_pause(|event| eprintln!("\n{event}"));
    let session = FuturesSession::builder()
        .max_workers(IN_FLIGHT)
        .max_per_host(IN_FLIGHT)
        .rate_limiter(limiter.clone())
        .build();
    let client = OpenAIClient::builder("demo", 0.0)
        .base_url(server.base_url())
        .session(session)
        .build();
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("batch_chat.jsonl"));
    // A fresh start unless a file was named (then an earlier run is resumed).
    if std::env::args_os().nth(1).is_none() {
        let _ = std::fs::remove_file(&out);
    }
    let jobs = || {
        (0..CHATS).map(|i| {
            ChatJob::user(
                format!("q{i}"),
                format!("Question {i}: why is the sky blue?"),
            )
        })
    };
    let batch = ChatBatch::new(client)
        .in_flight(IN_FLIGHT)
        .rate_limiter(limiter.clone())
        .progress_bar(true);

    let started = Instant::now();
    let first = batch.run_to_file(jobs(), &out)?;
    println!(
        "first run: {} answered, {} failed, {} skipped in {:.1?} ({} rate-limit pauses)",
        first.answered,
        first.failed,
        first.skipped,
        started.elapsed(),
        limiter.pauses()
    );
    let again = batch.run_to_file(jobs(), &out)?;
    println!(
        "second run: {} answered, {} skipped (already in {})",
        again.answered,
        again.skipped,
        out.display()
    );
    Ok(())
}
