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
//!
//! `--help` prints the usage; an unknown option is a usage error (exit status 2); chats that
//! failed in both runs make the exit status 1 (their errors are in the file).

#[macro_use]
#[path = "shared/note.rs"]
mod note;
// The chat example's demo server; this example uses only part of it.
#[allow(dead_code)]
#[path = "shared/demo.rs"]
mod demo;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ureq_futures::llm::{ChatBatch, ChatBatchSummary, ChatJob, OpenAIClient};
use ureq_futures::{Error, FuturesSession, RateLimiter};

const CHATS: usize = 40;
const IN_FLIGHT: usize = 8;

const USAGE: &str = "\
usage: batch_chat [OUTPUT.jsonl]

Runs 40 chats against an offline demo server, at most 8 at once, and writes the answers to
OUTPUT.jsonl (default: batch_chat.jsonl in the temporary directory, started afresh), then runs
them again to show that a rerun skips every chat already answered. A named OUTPUT is resumed:
the chats already in it are skipped. Exit status 1 if chats failed in both runs (their errors
are in OUTPUT.jsonl), 2 for a usage error.";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    /// Run, writing to this file; `None`: the default file, started afresh.
    Run(Option<PathBuf>),
    /// `-h` or `--help`.
    Help,
}

/// The command line, or the message of a usage error.
fn parse_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Command, String> {
    let mut out: Option<PathBuf> = None;
    let mut only_paths = false;
    for arg in args {
        let text = arg.to_string_lossy();
        if !only_paths && text == "--" {
            only_paths = true;
        } else if !only_paths && (text == "-h" || text == "--help") {
            return Ok(Command::Help);
        } else if !only_paths && text.starts_with('-') && text != "-" {
            return Err(format!("unknown option {text}"));
        } else if let Some(first) = &out {
            return Err(format!(
                "one output file, not both {} and {text}",
                first.display()
            ));
        } else {
            out = Some(PathBuf::from(arg));
        }
    }
    Ok(Command::Run(out))
}

fn main() -> ExitCode {
    run_program(std::env::args_os().skip(1).collect())
}

/// The program, with its arguments (without the program's name).
fn run_program(args: Vec<std::ffi::OsString>) -> ExitCode {
    let named = match parse_args(args) {
        Ok(Command::Run(named)) => named,
        Ok(Command::Help) => {
            return match print_out(USAGE) {
                Err(e) => e.report(),
                Ok(()) => ExitCode::SUCCESS,
            }
        }
        Err(message) => {
            note!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match batch(named) {
        Ok(0) => ExitCode::SUCCESS,
        // Chats that failed in both runs: their errors are in the file.
        Ok(_) => ExitCode::FAILURE,
        Err(Failure::Output(e)) => e.report(),
        Err(Failure::Batch(e)) => {
            note!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why the program failed.
enum Failure {
    /// Running the batch failed.
    Batch(Error),
    /// Writing to stdout failed.
    Output(OutputError),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Batch(e)
    }
}

/// Writing to stdout failed.
struct OutputError(std::io::Error);

impl OutputError {
    /// A closed stdout (piped into `head -1`, which has quit) ends the program quietly, as it
    /// would have ended anyway; another failure is reported.
    fn report(self) -> ExitCode {
        if self.0.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        note!("error: writing to stdout: {}", self.0);
        ExitCode::FAILURE
    }
}

/// Writes `text` and a line break to stdout.
fn print_out(text: &str) -> Result<(), OutputError> {
    writeln!(std::io::stdout(), "{text}").map_err(OutputError)
}

/// Runs the batch twice into `named`, or into the default file started afresh; the chats that
/// failed in both.
fn batch(named: Option<PathBuf>) -> Result<u64, Failure> {
    // A fresh start unless a file was named (then an earlier run is resumed).
    let out = match named {
        Some(path) => path,
        None => {
            let path = std::env::temp_dir().join("batch_chat.jsonl");
            let _ = std::fs::remove_file(&path);
            path
        }
    };
    let started = Instant::now();
    // A bar only on a terminal: in a log its redraws would be one endless line.
    let runs = run(&out, std::io::stderr().is_terminal())?;
    let first = runs.first;
    print_out(&format!(
        "first run: {} answered, {} failed, {} skipped in {:.1?} ({} rate-limit pauses)",
        first.answered,
        first.failed,
        first.skipped,
        started.elapsed(),
        runs.pauses
    ))
    .map_err(Failure::Output)?;
    print_out(&format!(
        "second run: {} answered, {} failed, {} skipped as answered in {}",
        runs.second.answered,
        runs.second.failed,
        runs.second.skipped,
        out.display()
    ))
    .map_err(Failure::Output)?;
    Ok(runs.second.failed)
}

/// What the two runs did.
struct Runs {
    first: ChatBatchSummary,
    second: ChatBatchSummary,
    /// The pauses the rate limiter took after a 429.
    pauses: u64,
}

/// Runs the batch into `out`, then again (resuming: nothing is left to do).
fn run(out: &Path, progress_bar: bool) -> Result<Runs, Error> {
    let server = demo::DemoServer::start_rate_limited(Duration::from_millis(5), 7)?;
    // After a line break that ends the bar's line, if there is a bar.
    let limiter = RateLimiter::new().on_pause(move |event| match progress_bar {
        true => note!("\n{event}"),
        false => note!("{event}"),
    });
    let session = FuturesSession::builder()
        .max_workers(IN_FLIGHT)
        .max_per_host(IN_FLIGHT)
        .rate_limiter(limiter.clone())
        .build();
    let client = OpenAIClient::builder("demo", 0.0)
        .base_url(server.base_url())
        .session(session)
        .build();
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
        .progress_bar(progress_bar);
    let first = batch.run_to_file(jobs(), out)?;
    let second = batch.run_to_file(jobs(), out)?;
    Ok(Runs {
        first,
        second,
        pauses: limiter.pauses(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn help_into_a_closed_pipe_ends_quietly() {
        use support::program::{as_program, run, Stdout};
        as_program(|args| run_program(args.into_iter().map(Into::into).collect()));
        let test = "tests::help_into_a_closed_pipe_ends_quietly";
        let within = Duration::from_secs(30);
        let help = run(test, &["--help"], None, Stdout::Closed, within);
        assert_eq!((help.code, help.stderr.as_str()), (Some(0), ""));
        let help = run(test, &["-h"], None, Stdout::Read, within);
        assert_eq!((help.code, help.stdout), (Some(0), format!("{USAGE}\n")));
    }

    /// Into a closed stderr (`batch_chat 2>&1 | head -1`), the rate limiter's notes go
    /// nowhere: they panicked in the requests' jobs, which failed their chats (written to the
    /// file as `the job panicked: failed printing to stderr`) with exit status 0.
    #[test]
    fn a_closed_stderr_fails_no_chat() {
        use support::program::{as_program, run_with_stderr_closed};
        as_program(|args| run_program(args.into_iter().map(Into::into).collect()));
        let test = "tests::a_closed_stderr_fails_no_chat";
        let out =
            std::env::temp_dir().join(format!("batch_chat_stderr_{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let path = out.to_str().unwrap();
        let ran = run_with_stderr_closed(test, &[path], None, Duration::from_secs(120));
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        std::fs::remove_file(&out).unwrap();
        assert_eq!(ran.code, Some(0), "{}", ran.stdout);
        assert!(
            ran.stdout
                .starts_with(&format!("first run: {CHATS} answered, 0 failed")),
            "{}",
            ran.stdout
        );
        assert_eq!(text.lines().count(), CHATS);
        assert!(!text.contains("\"error\""), "{text}");
    }

    #[test]
    fn help_and_wrong_options_are_not_taken_for_the_output_file() {
        assert_eq!(parse(&[]), Ok(Command::Run(None)));
        assert_eq!(
            parse(&["out.jsonl"]),
            Ok(Command::Run(Some("out.jsonl".into())))
        );
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert_eq!(parse(&["--out"]), Err("unknown option --out".to_string()));
        assert_eq!(
            parse(&["a.jsonl", "b.jsonl"]),
            Err("one output file, not both a.jsonl and b.jsonl".to_string())
        );
        assert_eq!(
            parse(&["--", "--help"]),
            Ok(Command::Run(Some("--help".into())))
        );
    }

    #[test]
    fn every_chat_is_answered_in_input_order_through_the_429s_and_a_rerun_skips_them_all() {
        let out =
            std::env::temp_dir().join(format!("batch_chat_test_{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let runs = run(&out, false).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        assert_eq!(
            (runs.first.answered, runs.first.failed, runs.first.skipped),
            (CHATS as u64, 0, 0)
        );
        assert_eq!(
            (runs.second.answered, runs.second.skipped),
            (0, CHATS as u64)
        );
        // Every 7th request was a 429 with Retry-After: the limiter paused the server.
        assert!(runs.pauses >= 1, "no pause");
        let ids: Vec<String> = text
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(v["error"].is_null(), "{line}");
                v["id"].as_str().unwrap().to_string()
            })
            .collect();
        let expected: Vec<String> = (0..CHATS).map(|i| format!("q{i}")).collect();
        assert_eq!(ids, expected);
    }
}
