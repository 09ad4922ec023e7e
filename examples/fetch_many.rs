//! Fetch many URLs concurrently and print each as it completes.
//!
//! ```text
//! cargo run --example fetch_many -- https://example.com https://www.rust-lang.org
//! cat urls.txt | cargo run --example fetch_many -- --workers 16
//! cargo run --example fetch_many -- --demo        # offline: a local server with slow paths
//! cargo run --example fetch_many -- --demo --out downloads   # each body to a file
//! ```
//!
//! Options: `--workers N` (default 8), `--timeout SECONDS` (default 30), `--demo`, `--out DIR`.
//! Each URL's status is printed; one outside 2xx counts as failed, as an error does (the exit
//! status is then 1). Piped into a reader that quits (`| head -1`), the program ends quietly,
//! with status 0.
//! On a terminal, a progress line on stderr counts what is done. With `--out DIR` each body is
//! streamed to a file in `DIR` (`download`: never held in memory, nothing half-written left
//! behind), with one progress bar per file and one for the total on a terminal
//! (`Pending::progress`), and each file's line on stdout as it ends; a body cut or stalled
//! midway is resumed from where it stopped (a retry policy's `Range` and `If-Range`, up to three
//! attempts). Ctrl-C cancels the
//! downloads still running, removes their part files and ends the program (exit status 130); a
//! second Ctrl-C ends it at once.

use std::io::{BufRead, IsTerminal, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

#[macro_use]
#[path = "shared/note.rs"]
mod note;
// Ctrl-C without a crate of its own: the chat example's handler; this example uses only part
// of it.
#[allow(dead_code)]
#[path = "shared/ctrl_c.rs"]
mod ctrl_c;
use ureq_futures::{as_completed, FuturesSession, RetryPolicy};

struct Options {
    workers: usize,
    timeout: Duration,
    urls: Vec<String>,
    out: Option<PathBuf>,
    /// `-h` or `--help` was given: print the usage, and nothing else.
    help: bool,
}

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let (mut opts, demo) = options_from(args)?;
    if opts.help {
        return Ok(opts);
    }
    if demo {
        let base = start_demo_server().map_err(|e| format!("demo server: {e}"))?;
        note!("demo: serving 20 paths from {base}, some of them slow");
        opts.urls
            .extend((0..20).map(|i| format!("{base}/item/{i}?delay_ms={}", (i * 37) % 400)));
    }
    if opts.urls.is_empty() && !std::io::stdin().is_terminal() {
        opts.urls = urls_from(std::io::stdin().lock())?;
    }
    if opts.urls.is_empty() {
        return Err(HELP.into());
    }
    Ok(opts)
}

/// The URLs of a list, one a line; blank lines and lines starting with `#` are skipped.
fn urls_from(input: impl BufRead) -> Result<Vec<String>, String> {
    let mut urls = Vec::new();
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let line = std::str::from_utf8(&line).map_err(|e| {
            format!(
                "stdin, line {}: not UTF-8 text ({e}): a URL's other bytes are percent-encoded",
                n + 1
            )
        })?;
        let url = line.trim();
        if !url.is_empty() && !url.starts_with('#') {
            urls.push(url.to_string());
        }
    }
    Ok(urls)
}

/// The options given on the command line, and whether `--demo` was among them.
fn options_from(args: impl IntoIterator<Item = String>) -> Result<(Options, bool), String> {
    let mut opts = Options {
        workers: 8,
        timeout: Duration::from_secs(30),
        urls: Vec::new(),
        out: None,
        help: false,
    };
    let mut demo = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workers" => {
                opts.workers = workers_arg(args.next())?;
            }
            "--timeout" => {
                let v = args.next().ok_or("--timeout needs seconds")?;
                let secs: f64 = v.parse().map_err(|_| format!("bad --timeout {v:?}"))?;
                if secs > 0.0 && Duration::try_from_secs_f64(secs).is_err() {
                    return Err(format!(
                        "bad --timeout {v:?}: more seconds than a timeout holds (86400 is a day)"
                    ));
                }
                opts.timeout = Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|t| !t.is_zero())
                    .ok_or_else(|| format!("bad --timeout {v:?}: a number of seconds above 0"))?;
            }
            "--demo" => demo = true,
            "--out" => {
                let dir = args.next().filter(|dir| !dir.is_empty());
                let dir = dir.ok_or("--out needs a directory")?;
                // `--out --demo`: an option forgotten its value, not a directory so named.
                if dir.starts_with('-') {
                    return Err(format!(
                        "--out needs a directory, and {dir} is an option (write --out ./{dir} \
                         for a directory so named)"
                    ));
                }
                opts.out = Some(dir.into());
            }
            "-h" | "--help" => {
                opts.help = true;
                return Ok((opts, demo));
            }
            option if option.starts_with('-') => {
                return Err(format!("unknown option {option}\n{HELP}"));
            }
            url => opts.urls.push(url.to_string()),
        }
    }
    Ok((opts, demo))
}

/// The value of `--workers`: a whole number of at least 1.
fn workers_arg(value: Option<String>) -> Result<usize, String> {
    let v = value.ok_or("--workers needs a number")?;
    match v.parse::<usize>() {
        Ok(0) => Err("--workers must be at least 1: no worker would fetch anything".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("bad --workers {v:?}: a whole number of at least 1")),
    }
}

const HELP: &str = "usage: fetch_many [--workers N] [--timeout SECONDS] [--demo] [--out DIR] [URL ...]\n\
                    URLs come from the arguments, or one per line on stdin; --demo needs no network.";

fn main() -> ExitCode {
    note::text_args().map_or_else(|code| code, run_program)
}

/// Set by Ctrl-C during the downloads of `--out`: they are cancelled and their part files
/// removed before the program ends.
static STOP: AtomicBool = AtomicBool::new(false);

/// The program, with its arguments (without the program's name).
fn run_program(args: Vec<String>) -> ExitCode {
    let opts = match parse_args(args) {
        Ok(o) if o.help => {
            // A closed stdout (piped into `head -1`, which has quit) is no failure.
            return match writeln!(std::io::stdout(), "{HELP}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    note!("error: writing to stdout: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            };
        }
        Ok(o) => o,
        Err(msg) => {
            note!("{msg}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &opts.out {
        // Ctrl-C cancels the downloads, so that no part file is left; a second one ends the
        // program at once.
        let caught = ctrl_c::on_ctrl_c(|| {
            if STOP.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
        });
        if let Err(e) = caught {
            note!("note: Ctrl-C will end the program without removing the part files: {e}");
        }
        // A download's `timeout` bounds the wait for the headers; `read_timeout` its silences.
        // Under a retry policy a body cut midway (or silent past `read_timeout`) is asked for
        // again from where it stopped, so a large file over a flaky link is not started over.
        let session = FuturesSession::builder()
            .max_workers(opts.workers)
            .timeout(opts.timeout)
            .read_timeout(opts.timeout)
            .retry(RetryPolicy::new())
            .build();
        return download_all(&session, &opts.urls, dir, &mut std::io::stdout().lock());
    }
    // As for downloads: `timeout` bounds the wait for the headers, `read_timeout` each silence
    // of the body.
    let session = FuturesSession::builder()
        .max_workers(opts.workers)
        .timeout(opts.timeout)
        .read_timeout(opts.timeout)
        .build();
    let start = Instant::now();
    let handles: Vec<_> = opts
        .urls
        .iter()
        .map(|url| {
            // The body is counted on the worker as it streams, not held (a buffered body stops
            // at `max_body_size`); the time printed is when `as_completed` yields the result,
            // since the start.
            let (fetch, url) = (session.clone(), url.clone());
            session.submit(move |_| {
                let mut body = fetch.get(url).send_streaming().result()?;
                let size = std::io::copy(&mut body, &mut std::io::sink())?;
                Ok((body.status(), size as usize))
            })
        })
        .collect();
    let progress = std::io::stderr().is_terminal();
    let total = handles.len();
    let mut failures = 0;
    let mut stdout = std::io::stdout().lock();
    for (done, (i, result)) in as_completed(handles).enumerate() {
        let elapsed = start.elapsed().as_secs_f64() * 1000.0;
        if progress {
            note_inline!("\r\x1b[2K");
        }
        let (line, failed) = outcome(&result, elapsed, &opts.urls[i]);
        failures += usize::from(failed);
        match writeln!(stdout, "{line}") {
            Ok(()) => {}
            // Piped into `head -1`, which has quit: the lines were the output, and it wants
            // no more of them.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
            Err(e) => {
                note!("error: writing to stdout: {e}");
                return ExitCode::FAILURE;
            }
        }
        if progress {
            let width = 30;
            let filled = (done + 1) * width / total;
            note_inline!(
                "[{}{}] {}/{}",
                "#".repeat(filled),
                " ".repeat(width - filled),
                done + 1,
                total
            );
        }
    }
    if progress {
        note!();
    }
    note!(
        "{} URLs in {:.2} s with {} workers, {} failed",
        total,
        start.elapsed().as_secs_f64(),
        opts.workers,
        failures
    );
    if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The line printed for a fetch that took `elapsed_ms`, and whether it counts as failed. The
/// URL is shown without the password it may hold, as wget shows it; its query is shown, as the
/// list gave it (the library's errors hide that too, since it may hold a key: a line per URL
/// needs it to tell the URLs apart).
fn outcome(
    result: &Result<(u16, usize), ureq_futures::Error>,
    elapsed_ms: f64,
    url: &str,
) -> (String, bool) {
    let at = query_start(url);
    let url = format!("{}{}", ureq_futures::redact_url(&url[..at]), &url[at..]);
    match result {
        Ok((status, size)) => (
            format!("{status}  {size:>9} B  {elapsed_ms:>8.1} ms  {url}"),
            !(200..300).contains(status),
        ),
        // The error after the URL: its columns line up with the others'.
        Err(e) => (
            format!("ERR  {:>11}  {elapsed_ms:>8.1} ms  {url}  {e}", ""),
            true,
        ),
    }
}

/// Where `url`'s query (or fragment) starts, for [`outcome`] to show it: at the first `?` or `#`,
/// unless a password may hold that one raw (`user:pa?ss@host`, `user:p/a?b@host`: an `@` after
/// it, none before it, and a `:` after the scheme's `//` before it); then after the last `@`
/// (the query is then hidden with the rest: `host:8080/a?to=a@b` is hidden too).
fn query_start(url: &str) -> usize {
    let Some(first) = url.find(['?', '#']) else {
        return url.len();
    };
    let before = url[..first].split_once("//").map_or("", |(_, rest)| rest);
    let raw_in_password = !before.contains('@')
        && before.contains(':')
        && !before.starts_with('[')
        && url[first..].contains('@');
    if !raw_in_password {
        return first;
    }
    let after_userinfo = url.rfind('@').map_or(0, |at| at + 1);
    (url[after_userinfo..].find(['?', '#'])).map_or(url.len(), |at| after_userinfo + at)
}

/// The longest part of a file name taken from a URL, in bytes.
const MAX_NAME: usize = 120;

/// The file name for the `i`th URL: its last path segment (or `index.html`), made safe, after
/// the index (two URLs may end alike).
fn file_name(i: usize, url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once("://").map_or(path, |(_, rest)| rest);
    let last = path
        .split_once('/')
        .map_or("", |(_, p)| p.rsplit('/').next().unwrap_or(""));
    let safe: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // File systems take names of up to 255 bytes, the part file's suffix included: a long
    // segment keeps its end, where the extension is (`safe` is ASCII).
    let safe = safe[safe.len().saturating_sub(MAX_NAME)..].trim_start_matches('.');
    format!(
        "{i:03}-{}",
        if safe.is_empty() { "index.html" } else { safe }
    )
}

/// A bar with `done/total` when the size is known; else a spinner, the bytes so far and the
/// rate (a bar and a total would be made up).
fn bar_style(size_known: bool) -> ProgressStyle {
    let template = if size_known {
        "{prefix:>24} {bar:30} {bytes:>10}/{total_bytes:<10} {msg}"
    } else {
        "{prefix:>24} {spinner:<30} {bytes:>10} at {bytes_per_sec}, size unknown {msg}"
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Shows a download's progress on its bar.
fn show(bar: &ProgressBar, p: ureq_futures::Progress) {
    match p.total {
        Some(total) => {
            bar.set_style(bar_style(true));
            bar.set_length(total);
        }
        None => {
            bar.set_style(bar_style(false));
            bar.unset_length();
        }
    }
    bar.set_position(p.done);
}

/// Downloads every URL into `dir`, one progress bar per file and one for the total (on a
/// terminal), and writes each file's outcome to `out` as it ends, as the run without `--out`
/// does (until a write fails: the downloads go on).
fn download_all(
    session: &FuturesSession,
    urls: &[String],
    dir: &Path,
    out: &mut dyn Write,
) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(dir) {
        note!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let bars = MultiProgress::new();
    let total_bar = bars.add(ProgressBar::new(0));
    total_bar.set_style(bar_style(true));
    total_bar.set_prefix("total");
    let mut jobs: Vec<_> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let name = file_name(i, url);
            let bar = bars.add(ProgressBar::new(0));
            bar.set_style(bar_style(true));
            bar.set_prefix(name.clone());
            (bar, Some(session.get(url).download(dir.join(&name))))
        })
        .collect();
    let start = Instant::now();
    let mut failures = 0;
    let mut lines = Some(out);
    loop {
        if STOP.load(Ordering::Relaxed) {
            // Each cancelled download removes its part file as its worker ends.
            let left = jobs.iter().filter(|(_, job)| job.is_some()).count();
            session.shutdown_now();
            session.join();
            total_bar.abandon_with_message("stopped");
            // Above the bars: written while they are drawn, their redraw erased it.
            bars.suspend(|| note!("stopped: {left} downloads cancelled, their part files removed"));
            return ExitCode::from(130);
        }
        let (mut done, mut total) = (0, 0);
        for (i, (bar, job)) in jobs.iter_mut().enumerate() {
            let Some(pending) = job else {
                done += bar.position();
                total += bar.length().unwrap_or(bar.position());
                continue;
            };
            show(bar, pending.progress());
            let finished = match pending.try_result() {
                Some(Ok(file)) => {
                    bar.set_style(bar_style(true));
                    bar.set_length(file.bytes());
                    bar.set_position(file.bytes());
                    bar.finish_with_message("done");
                    Some(Ok((file.status(), file.bytes() as usize)))
                }
                Some(Err(e)) => {
                    bar.abandon_with_message(format!("failed: {e}"));
                    Some(Err(e))
                }
                None => None,
            };
            if let Some(result) = finished {
                *job = None;
                let elapsed = start.elapsed().as_secs_f64() * 1000.0;
                let (line, failed) = outcome(&result, elapsed, &urls[i]);
                failures += usize::from(failed);
                // The files are what was asked for: a closed stdout (piped into `head`) stops
                // the lines, not the downloads.
                if let Some(to) = lines.as_mut() {
                    if let Err(e) = bars.suspend(|| writeln!(to, "{line}")) {
                        if e.kind() != std::io::ErrorKind::BrokenPipe {
                            note!("note: writing to stdout failed, the downloads go on: {e}");
                        }
                        lines = None;
                    }
                }
            }
            done += bar.position();
            // A file of unknown size counts what has come so far.
            total += bar.length().unwrap_or(bar.position());
        }
        total_bar.set_length(total);
        total_bar.set_position(done);
        if jobs.iter().all(|(_, job)| job.is_none()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    total_bar.finish_with_message(format!("{} files, {failures} failed", urls.len()));
    if bars.is_hidden() {
        note!(
            "{} URLs in {:.2} s with {} workers, {failures} failed",
            urls.len(),
            start.elapsed().as_secs_f64(),
            session.max_workers()
        );
    }
    if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A tiny HTTP server on 127.0.0.1 that answers after `?delay_ms=N` milliseconds.
fn start_demo_server() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(&stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let delay = request_line
                    .split("delay_ms=")
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                std::thread::sleep(Duration::from_millis(delay));
                let body = format!("answered after {delay} ms\n");
                let _ = (&stream).write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    Ok(base)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use std::sync::{Arc, Mutex};

    use indicatif::{ProgressBar, ProgressDrawTarget, TermLike};
    use ureq_futures::Progress;

    use super::{
        download_all, file_name, options_from, outcome, show, start_demo_server, workers_arg,
    };

    /// A terminal that keeps the last line drawn.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.trim().is_empty() {
                *self.0.lock().unwrap() = s.to_string();
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The line a fresh bar named `f` shows for `p`.
    fn drawn(p: Progress) -> String {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            None,
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_prefix("f");
        show(&bar, p);
        bar.tick();
        let line = screen.0.lock().unwrap().clone();
        line
    }

    #[test]
    fn a_download_of_unknown_size_shows_its_bytes_not_a_full_bar() {
        let known = drawn(Progress {
            done: 2048,
            total: Some(4096),
        });
        assert!(known.contains("2.00 KiB/4.00 KiB"), "{known}");
        let unknown = drawn(Progress {
            done: 2048,
            total: None,
        });
        assert!(unknown.contains("2.00 KiB at"), "{unknown}");
        assert!(unknown.contains("size unknown"), "{unknown}");
        // Neither a total nor a bar it would have to make up.
        assert!(
            !unknown.contains("KiB/") && !unknown.contains('█'),
            "{unknown}"
        );
    }

    #[test]
    fn file_names_come_from_the_last_segment_made_safe() {
        assert_eq!(file_name(0, "https://h/a/b/c.tar.gz?x=1"), "000-c.tar.gz");
        assert_eq!(file_name(7, "https://h/"), "007-index.html");
        assert_eq!(file_name(7, "https://h"), "007-index.html");
        assert_eq!(file_name(12, "http://h/../..%2Fetc"), "012-_2Fetc");
        assert_eq!(file_name(1, "http://h/a b"), "001-a_b");
    }

    #[test]
    fn a_url_list_that_is_not_utf8_is_refused_at_its_line() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run_program);
        let test = "tests::a_url_list_that_is_not_utf8_is_refused_at_its_line";
        let list = &b"# mirrors\nhttp://a/x\n\n  http://b/y \r\nhttp://c/caf\xe9\n"[..];
        let ran = run(test, &[], Some(list), Stdout::Read, Duration::from_secs(20));
        assert_eq!(ran.code, Some(2));
        assert_eq!(
            ran.stderr,
            "stdin, line 5: not UTF-8 text (incomplete utf-8 byte sequence from index 12): a \
             URL's other bytes are percent-encoded\n"
        );
        let list = &b"# mirrors\nhttp://a/x\n\n  http://b/y \r\nhttp://c/caf%E9"[..];
        assert_eq!(
            super::urls_from(list).unwrap(),
            ["http://a/x", "http://b/y", "http://c/caf%E9"]
        );
    }

    #[test]
    fn a_long_last_segment_gives_a_name_the_file_system_takes() {
        let url = format!("http://h/{}.bin", "x".repeat(400));
        let name = file_name(3, &url);
        assert_eq!(name, format!("003-{}.bin", "x".repeat(116)));
        // The part file's name is longer still.
        let dir = std::env::temp_dir();
        let path = dir.join(format!("{name}.1.part"));
        std::fs::File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn unknown_options_and_a_zero_timeout_are_refused() {
        let parse = |args: &[&str]| options_from(args.iter().map(|a| a.to_string()));
        let (opts, demo) = parse(&["--workers", "4", "--timeout", "2.5", "http://h/"]).unwrap();
        assert_eq!(
            (opts.workers, opts.timeout),
            (4, Duration::from_millis(2500))
        );
        assert_eq!((opts.urls, demo), (vec!["http://h/".to_string()], false));
        // A mistyped option is not a URL (nor is the value after it).
        let typo = parse(&["--wrkers", "4", "http://h/"])
            .err()
            .expect("accepted");
        assert!(typo.contains("unknown option --wrkers"), "{typo}");
        // An option where `--out`'s directory goes is not taken for one.
        assert_eq!(
            parse(&["--out", "--demo", "http://h/"]).err().as_deref(),
            Some("--out needs a directory, and --demo is an option (write --out ./--demo for a directory so named)")
        );
        assert_eq!(
            parse(&["--out", "", "http://h/"]).err().as_deref(),
            Some("--out needs a directory")
        );
        // A timeout of 0 would fail every request before it is sent.
        let zero = parse(&["--timeout", "0", "http://h/"])
            .err()
            .expect("accepted");
        assert!(zero.contains("--timeout"), "{zero}");
        // Too large for a timeout is not "not above 0".
        for huge in ["1e300", "inf"] {
            assert_eq!(
                parse(&["--timeout", huge, "http://h/"]).err().as_deref(),
                Some(
                    format!(
                        "bad --timeout {huge:?}: more seconds than a timeout holds (86400 is a \
                         day)"
                    )
                    .as_str()
                )
            );
        }
        assert_eq!(
            parse(&["--timeout", "NaN", "http://h/"]).err().as_deref(),
            Some("bad --timeout \"NaN\": a number of seconds above 0")
        );
    }

    #[test]
    fn help_is_not_an_error() {
        for flag in ["-h", "--help"] {
            let (opts, _) = options_from([flag.to_string()]).expect("help was an error");
            assert!(opts.help, "{flag}");
        }
        assert!(!options_from(["http://h/".to_string()]).unwrap().0.help);
    }

    #[test]
    fn a_status_outside_2xx_counts_as_failed() {
        let (line, failed) = outcome(&Ok((200, 5)), 1.0, "http://h/a");
        assert!(
            line.starts_with("200  ") && line.ends_with("http://h/a"),
            "{line}"
        );
        assert!(!failed);
        // As `--out` counts it: the summary and the exit status must not say all went well.
        for status in [404, 500] {
            let (line, failed) = outcome(&Ok((status, 9)), 1.0, "http://h/b");
            assert!(line.starts_with(&status.to_string()), "{line}");
            assert!(failed, "{line}");
        }
        let (_, failed) = outcome(&Err(ureq_futures::Error::Cancelled), 1.0, "http://h/c");
        assert!(failed);
    }

    #[cfg(unix)]
    #[test]
    fn ctrl_c_during_downloads_cancels_them_and_leaves_no_part_file() {
        use support::program::{as_program, start, Stdout};
        as_program(super::run_program);
        // The head and 1,000 bytes of 100,000, then nothing.
        let server = support::TestServer::start(|_| {
            support::Reply::stall_mid_body(vec![b'a'; 1000], 100_000)
        });
        let dir = std::env::temp_dir().join(format!("fetch-many-ctrl-c-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = server.url_for("/big.bin");
        let args = ["--out", dir.to_str().unwrap(), &url];
        let test = "tests::ctrl_c_during_downloads_cancels_them_and_leaves_no_part_file";
        let program = start(test, &args, None, Stdout::Read);
        let part = dir.join("000-big.bin.part");
        let started = support::eventually(Duration::from_secs(20), || {
            std::fs::metadata(&part).is_ok_and(|m| m.len() == 1000)
        });
        assert!(started, "the download did not start");
        program.ctrl_c();
        let ran = program.wait(Duration::from_secs(20));
        assert_eq!(ran.code, Some(130), "{}", ran.stderr);
        assert!(
            ran.stderr
                .ends_with("stopped: 1 downloads cancelled, their part files removed\n"),
            "{}",
            ran.stderr
        );
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 0, "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `fetch_many --help | grep timeout`, `| head -1`.
    #[test]
    fn help_goes_to_stdout() {
        support::program::as_program(super::run_program);
        support::program::assert_help_goes_to_stdout("tests::help_goes_to_stdout", super::HELP);
    }

    /// A body is counted, not held: no size is too large.
    #[test]
    fn a_body_over_ten_mib_is_counted() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run_program);
        let size = 11 << 20;
        let server = support::TestServer::start(move |_| support::Reply::ok(vec![b'a'; size]));
        let url = server.url_for("/big.bin");
        let test = "tests::a_body_over_ten_mib_is_counted";
        let ran = run(test, &[&url], None, Stdout::Read, Duration::from_secs(30));
        assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
        assert!(
            ran.stdout.starts_with(&format!("200  {size:>9} B  ")),
            "{}",
            ran.stdout
        );
        assert!(ran.stdout.trim_end().ends_with(&url), "{}", ran.stdout);
    }

    /// Into a closed stderr (`fetch_many --demo 2>&1 >list | head -1`), the fetches go on
    /// and their lines come: the demo's note panicked the program (exit 101).
    #[test]
    fn a_closed_stderr_ends_nothing() {
        use support::program::{as_program, run_with_stderr_closed};
        as_program(super::run_program);
        let test = "tests::a_closed_stderr_ends_nothing";
        let ran = run_with_stderr_closed(test, &["--demo"], None, Duration::from_secs(20));
        assert_eq!(ran.code, Some(0), "{}", ran.stdout);
        assert_eq!(ran.stdout.lines().count(), 20, "{}", ran.stdout);
    }

    /// A password in a URL is not shown in its line (the library's error hid it, the URL after
    /// it showed it whole); the query is, as the list gave it.
    #[test]
    fn a_password_in_a_url_is_not_shown() {
        let url = "http://user:s3cr3t@127.0.0.1:1/a?page=2";
        let (line, failed) = outcome(&Ok((200, 5)), 1.0, url);
        assert!(!failed);
        assert!(
            line.ends_with("  http://<redacted>@127.0.0.1:1/a?page=2"),
            "{line}"
        );
        let err = Err(ureq_futures::Error::Protocol("cut".into()));
        let (line, failed) = outcome(&err, 1.0, url);
        assert!(failed);
        assert!(!line.contains("s3cr3t"), "{line}");
        // A raw `?` or `#` in the password is no query.
        for url in ["http://user:s3?cr3t@h/a", "http://user:s3#cr3t@h/a?page=2"] {
            let (line, _) = outcome(&Ok((200, 5)), 1.0, url);
            assert!(!line.contains("cr3t"), "{line}");
        }
        // After a `:` that may start a password, a `?` with an `@` after it may be the
        // password's: the user-info is then read up to the last `@`.
        let (line, _) = outcome(&Ok((200, 5)), 1.0, "http://user:p/a?b@h/x");
        assert!(line.ends_with("  http://<redacted>@h/x"), "{line}");
        // Else an `@` in a query or fragment leaves the query shown.
        for url in [
            "http://h/search?email=a@b.com&page=2#top",
            "http://h/a?page=2#sec@x",
            "http://[::1]:80/a?to=a@b",
            "http://u:p@h/a?to=a@b",
        ] {
            let (line, _) = outcome(&Ok((200, 5)), 1.0, url);
            let query = &url[url.find('?').unwrap()..];
            assert!(line.ends_with(query), "{line}");
        }
        // After a port, which may be a password's digits, it is hidden.
        let (line, _) = outcome(&Ok((200, 5)), 1.0, "http://h:8080/a?to=a@b");
        assert!(!line.contains("to=a"), "{line}");
    }

    /// `fetch_many URL... | head -1` ends quietly, as the other examples do.
    #[test]
    fn a_closed_stdout_ends_the_fetches_quietly() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run_program);
        let test = "tests::a_closed_stdout_ends_the_fetches_quietly";
        let ran = run(
            test,
            &["--demo"],
            None,
            Stdout::Closed,
            Duration::from_secs(20),
        );
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
        assert!(
            ran.stderr.starts_with("demo: serving 20 paths"),
            "{}",
            ran.stderr
        );
    }

    /// `fetch_many --out DIR ... | head -1`: the files are what was asked for.
    #[test]
    fn downloads_go_on_when_stdout_is_closed() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run_program);
        let base = start_demo_server().unwrap();
        let dir = std::env::temp_dir().join(format!("fetch-many-closed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let urls = [format!("{base}/a"), format!("{base}/b?delay_ms=300")];
        let args = ["--out", dir.to_str().unwrap(), &urls[0], &urls[1]];
        let test = "tests::downloads_go_on_when_stdout_is_closed";
        let ran = run(test, &args, None, Stdout::Closed, Duration::from_secs(20));
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        assert_eq!(
            std::fs::read_to_string(dir.join("001-b")).unwrap(),
            "answered after 300 ms\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("000-a")).unwrap(),
            "answered after 0 ms\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// With `--out`, the bars are drawn only on a terminal: every file's outcome goes to stdout
    /// too, so that a run whose output is piped or logged says what failed and why.
    #[test]
    fn downloads_print_a_line_per_url() {
        let base = start_demo_server().unwrap();
        let dir = std::env::temp_dir().join(format!("fetch-many-out-{}", std::process::id()));
        let session = ureq_futures::FuturesSession::new();
        let urls = [
            format!("{base}/a?delay_ms=1"),
            "http://127.0.0.1:9/b".to_string(),
        ];
        let mut out = Vec::new();
        let status = download_all(&session, &urls, &dir, &mut out);
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let ok = lines.iter().find(|l| l.ends_with(&urls[0])).expect(&out);
        assert!(ok.starts_with("200         20 B  "), "{ok}");
        let failed = lines.iter().find(|l| l.starts_with("ERR ")).expect(&out);
        // The time and the URL in the columns of the other lines, then the error.
        let (time, url) = (ok.find(" ms  ").unwrap(), format!(" ms  {}  ", urls[1]));
        assert_eq!(failed.find(&url), Some(time), "{out}");
        let error = format!("{url}io: connect to 127.0.0.1:9 failed");
        assert!(failed.contains(&error), "{failed}");
        assert_eq!(status, std::process::ExitCode::FAILURE);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn workers_must_be_a_number_of_at_least_one() {
        let arg = |v: &str| workers_arg(Some(v.to_string()));
        assert_eq!(arg("16"), Ok(16));
        assert_eq!(arg("1"), Ok(1));
        let zero = arg("0").unwrap_err();
        assert!(zero.contains("--workers must be at least 1"), "{zero}");
        assert!(arg("-1").unwrap_err().contains("bad --workers \"-1\""));
        assert!(arg("many").is_err());
        assert_eq!(workers_arg(None), Err("--workers needs a number".into()));
    }
}
