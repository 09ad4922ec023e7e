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
//! Needs a URL that serves `text/event-stream`, or `--demo`. With `--reconnect`, each reconnection
//! is announced on stderr, e.g.
//! `reconnect 08:51:02 UTC: attempt 2 of 10 in 3.1 s, after: Connection refused (os error 111)`.
//! The demo server honours `Last-Event-ID`: `--demo --reconnect` prints the ten ticks once
//! and ends.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq_futures::sse::Event;
use ureq_futures::{Error, FuturesSession, Reconnect};

#[macro_use]
#[path = "shared/note.rs"]
mod note;
#[path = "shared/print_out.rs"]
mod print_out;
use print_out::print_out;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Pretty,
    Raw,
    Json,
}

/// Where the events come from.
#[derive(Debug, PartialEq)]
enum Target {
    Url(String),
    Demo,
}

/// The command line, parsed.
#[derive(Debug, PartialEq)]
struct Args {
    format: Format,
    reconnect: bool,
    target: Target,
}

/// Why there is nothing to run: help was asked for, or the arguments are wrong (the message).
#[derive(Debug, PartialEq)]
enum NoRun {
    Help,
    Bad(String),
}

const USAGE: &str = "usage: sse_tail [--raw|--json] [--reconnect] (URL | --demo)";

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, NoRun> {
    let mut format = Format::Pretty;
    let mut reconnect = false;
    let mut target = None;
    for arg in args {
        match arg.as_str() {
            "--raw" => format = Format::Raw,
            "--json" => format = Format::Json,
            "--reconnect" => reconnect = true,
            "-h" | "--help" => return Err(NoRun::Help),
            option if option.starts_with('-') && option != "--demo" => {
                return Err(NoRun::Bad(format!("unknown option {option}\n{USAGE}")));
            }
            given => {
                let next = match given {
                    "--demo" => Target::Demo,
                    url => Target::Url(url.to_string()),
                };
                if let Some(first) = &target {
                    let name = |t: &Target| match t {
                        Target::Url(url) => url.clone(),
                        Target::Demo => "--demo".to_string(),
                    };
                    return Err(NoRun::Bad(format!(
                        "one URL or --demo, not both {} and {}\n{USAGE}",
                        name(first),
                        name(&next)
                    )));
                }
                target = Some(next);
            }
        }
    }
    let target = target.ok_or_else(|| NoRun::Bad(USAGE.into()))?;
    Ok(Args {
        format,
        reconnect,
        target,
    })
}

fn main() -> ExitCode {
    note::text_args().map_or_else(|code| code, run_program)
}

/// The program, with its arguments (without the program's name).
fn run_program(args: Vec<String>) -> ExitCode {
    let args = match parse_args(args) {
        Ok(args) => args,
        Err(NoRun::Help) => return print_out(USAGE),
        Err(NoRun::Bad(message)) => {
            note!("{message}");
            return ExitCode::from(2);
        }
    };
    let Args {
        format,
        reconnect,
        target,
    } = args;
    let url = match target {
        Target::Url(url) => url,
        Target::Demo => match start_demo_server() {
            Ok(url) => {
                note!("demo: ticking event stream at {url}");
                url
            }
            Err(e) => {
                note!("error: demo server: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let session = FuturesSession::builder()
        .timeout(Duration::from_secs(30))
        .build();
    let events: Box<dyn Iterator<Item = Result<Event, Error>>> = if reconnect {
        Box::new(
            session
                .get(&url)
                .event_source()
                .on_reconnect(|r| note!("{}", reconnect_line(r, SystemTime::now()))),
        )
    } else {
        match session.get(&url).events().result() {
            Ok(stream) => Box::new(stream),
            Err(e) => {
                note!("error: {}", describe(&e, &url));
                return ExitCode::FAILURE;
            }
        }
    };
    let mut out = std::io::stdout().lock();
    for event in events {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                note!("error: {}", describe(&e, &url));
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

/// The message of `e`, an error of the stream from `url`. An answer that is not an event stream
/// says which URL sent what (the library's message points to a setting this program does not
/// have).
fn describe(e: &Error, url: &str) -> String {
    match e {
        Error::UnexpectedContentType { content_type, .. } => format!(
            "{} answered {}, not an event stream (text/event-stream): check the URL",
            ureq_futures::redact_url(url),
            content_type.as_deref().unwrap_or("without a content type")
        ),
        e => e.to_string(),
    }
}

/// A local server streaming ten ticks, 300 ms apart.
fn start_demo_server() -> std::io::Result<String> {
    demo_server(Duration::from_millis(300))
}

/// The ticks of [`start_demo_server`], `interval` apart. A request with `Last-Event-ID: N`
/// (an `EventSource` reconnecting) gets the ticks after the Nth; once all ten were sent it is
/// answered 204 No Content, which tells a reconnecting client to stop.
fn demo_server(interval: Duration) -> std::io::Result<String> {
    const TICKS: u32 = 10;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/ticks", listener.local_addr()?);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                let mut last_id = 0;
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.trim().eq_ignore_ascii_case("last-event-id") {
                            last_id = value.trim().parse().unwrap_or(0);
                        }
                    }
                    line.clear();
                }
                if last_id >= TICKS {
                    let _ = stream.write_all(
                        b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    return;
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for i in last_id + 1..=TICKS {
                    let event = format!("event: tick\nid: {i}\ndata: tick {i} of {TICKS}\n\n");
                    if stream.write_all(event.as_bytes()).is_err() {
                        return;
                    }
                    std::thread::sleep(interval);
                }
            });
        }
    });
    Ok(url)
}

/// One line per reconnection: when (UTC), which attempt of how many, the wait, and why.
fn reconnect_line(r: &Reconnect<'_>, now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    let why = match r.error {
        Some(e) => format!("after: {e}"),
        None => "after: the server ended the stream".to_string(),
    };
    format!(
        "reconnect {:02}:{:02}:{:02} UTC: attempt {} of {} in {:.1} s, {why}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        r.attempt,
        r.max_attempts,
        r.delay.as_secs_f64(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    use ureq_futures::FuturesSession;

    use super::reconnect_line;

    #[test]
    fn a_page_that_is_not_an_event_stream_is_named_with_what_it_sent() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run_program);
        let server = support::TestServer::start(|_| {
            support::Reply::ok("<html>sign in</html>").content_type("text/html")
        });
        let url = server.url_for("/events");
        let test = "tests::a_page_that_is_not_an_event_stream_is_named_with_what_it_sent";
        for args in [vec![url.as_str()], vec!["--reconnect", url.as_str()]] {
            let ran = run(test, &args, None, Stdout::Read, Duration::from_secs(20));
            assert_eq!(ran.code, Some(1), "{args:?}");
            assert_eq!(
                ran.stderr,
                format!(
                    "error: {url} answered text/html, not an event stream (text/event-stream): \
                     check the URL\n"
                ),
                "{args:?}"
            );
        }
    }

    /// `sse_tail --help | grep json`, `| head -1`.
    #[test]
    fn help_goes_to_stdout() {
        support::program::as_program(super::run_program);
        support::program::assert_help_goes_to_stdout("tests::help_goes_to_stdout", super::USAGE);
    }

    /// Into a closed stderr (`sse_tail --demo --reconnect 2>&1 >log | head -1`), the events
    /// still come: a reconnection's note panicked the program (exit 101).
    #[test]
    fn a_closed_stderr_ends_nothing() {
        use support::program::{as_program, run_with_stderr_closed};
        as_program(super::run_program);
        let test = "tests::a_closed_stderr_ends_nothing";
        let args = ["--demo", "--reconnect", "--json"];
        let ran = run_with_stderr_closed(test, &args, None, Duration::from_secs(30));
        assert_eq!(ran.code, Some(0), "{}", ran.stdout);
        assert!(ran.stdout.lines().count() >= 1, "{}", ran.stdout);
    }

    #[test]
    fn unknown_options_and_a_second_url_are_refused() {
        let parse = |args: &[&str]| super::parse_args(args.iter().map(|a| a.to_string()));
        assert_eq!(
            parse(&["--json", "--reconnect", "http://h/events"]),
            Ok(super::Args {
                format: super::Format::Json,
                reconnect: true,
                target: super::Target::Url("http://h/events".into()),
            })
        );
        assert_eq!(parse(&["--demo"]).unwrap().target, super::Target::Demo);
        assert_eq!(parse(&["-h"]), Err(super::NoRun::Help));
        let bad = |args: &[&str]| match parse(args) {
            Err(super::NoRun::Bad(message)) => message,
            other => panic!("{args:?} was accepted: {other:?}"),
        };
        // A mistyped option is not a URL: say which option is not known.
        let typo = bad(&["--jsn", "http://h/events"]);
        assert!(typo.contains("unknown option --jsn"), "{typo}");
        let two = bad(&["http://h/a", "http://h/b"]);
        assert!(two.contains("one URL"), "{two}");
        let both = bad(&["--demo", "http://h/a"]);
        assert!(both.contains("--demo"), "{both}");
        assert!(bad(&[]).contains("usage:"));
    }

    #[test]
    fn the_demo_resumes_after_the_last_event_id_and_ends_after_its_last_tick() {
        let url = super::demo_server(Duration::from_millis(10)).unwrap();
        // Bounded, so that a demo that starts over on every reconnection fails the test.
        let ids: Vec<String> = FuturesSession::new()
            .get(url)
            .event_source()
            .initial_retry(Duration::from_millis(10))
            .take(25)
            .map(|event| event.unwrap().id.unwrap_or_default().to_string())
            .collect();
        let expected: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn each_reconnection_prints_when_which_attempt_and_why() {
        // A port where nothing listens: two refusals, then the source gives up.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = lines.clone();
        let at = UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 8 * 3600 + 51 * 60 + 2);
        let items: Vec<_> = FuturesSession::new()
            .get(format!("http://127.0.0.1:{port}/events"))
            .event_source()
            .initial_retry(Duration::from_millis(10))
            .max_attempts(3)
            .on_reconnect(move |r| out.lock().unwrap().push(reconnect_line(r, at)))
            .collect();
        assert!(items.len() == 1 && items[0].is_err());
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        for (line, n) in lines.iter().zip(1..) {
            let head = format!(
                "reconnect 08:51:02 UTC: attempt {} of 3 in 0.0 s, after: ",
                n + 1
            );
            assert!(line.starts_with(&head), "{line}");
            assert!(line.len() > head.len(), "no reason given: {line}");
        }
    }
}
