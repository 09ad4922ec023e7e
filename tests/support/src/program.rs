//! Runs an example's program in a process of its own, as a user runs it from a shell: its
//! arguments, its stdin, a stdout that is read or already closed (a pipe into `head -1` whose
//! reader has gone), its exit status and what it printed.
//!
//! An example's test binary is the example compiled with its tests, so the program is run by
//! running that binary again with only the calling test (`--exact`) and an environment variable
//! holding the program's arguments: in that child, [`as_program`] runs the program and exits
//! with its status, so the test harness prints nothing after it.
//!
//! ```ignore
//! #[test]
//! fn help_into_a_closed_pipe_ends_quietly() {
//!     support::program::as_program(|args| run(args));
//!     let out = support::program::run("tests::help_into_a_closed_pipe_ends_quietly", ...);
//! }
//! ```

use std::io::{Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The program's arguments, separated by a unit separator (U+001F).
const ARGS_VAR: &str = "UREQ_FUTURES_PROGRAM_ARGS";
/// Set when the program is to find its stdout closed.
const CLOSED_VAR: &str = "UREQ_FUTURES_PROGRAM_STDOUT_CLOSED";

/// In the child process that [`run`] starts: runs `program` with the arguments it was given
/// and exits with the status it returns. Elsewhere it returns at once, doing nothing.
pub fn as_program(program: impl FnOnce(Vec<String>) -> ExitCode) {
    let Ok(args) = std::env::var(ARGS_VAR) else {
        return;
    };
    let args = match args.is_empty() {
        true => Vec::new(),
        false => args.split('\u{1f}').map(String::from).collect(),
    };
    if std::env::var_os(CLOSED_VAR).is_some() {
        // The harness wrote its first line to the pipe; the test closes it once read. Until a
        // write fails, the reader is still there.
        let mut stdout = std::io::stdout();
        while stdout.write_all(b"\n").and_then(|_| stdout.flush()).is_ok() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let status = program(args);
    let code = (0..=255u8)
        .find(|&n| ExitCode::from(n) == status)
        .map_or(1, i32::from);
    std::process::exit(code);
}

/// What stdout the program gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdout {
    /// A pipe that the test reads to its end.
    Read,
    /// A pipe whose reader is gone before the program writes to it.
    Closed,
}

/// How a program run by [`run`] ended.
#[derive(Debug)]
pub struct Ran {
    /// Its exit status (`None`: ended by a signal).
    pub code: Option<i32>,
    /// What it wrote to stdout (empty for [`Stdout::Closed`]).
    pub stdout: String,
    /// What it wrote to stderr.
    pub stderr: String,
}

/// Runs the program of the test `test` (its full name, `tests::function`, whose body starts with
/// [`as_program`]) with `args`, `stdin` as its input (`None`: an empty stdin at its end) and the
/// given stdout; waits for it to end, at most `within` (then kills it and panics).
pub fn run(
    test: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    stdout: Stdout,
    within: Duration,
) -> Ran {
    start(test, args, stdin, stdout).wait(within)
}

/// Runs the program as [`run`] does, with its stdout read and a stderr whose reader is gone
/// before the program writes to it (`prog 2>&1 | head -1`, once `head` has its line).
pub fn run_with_stderr_closed(
    test: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    within: Duration,
) -> Ran {
    start_with(test, args, stdin, Stdout::Read, true).wait(within)
}

/// Checks what `prog --help | grep ...` and `prog -h | head -1` need: run by the test `test`
/// (as [`run`] says), `--help` prints `usage` and a line break on stdout, nothing on stderr, and
/// exits with 0; `-h` into a closed stdout exits with 0 and nothing on stderr.
pub fn assert_help_goes_to_stdout(test: &str, usage: &str) {
    let within = Duration::from_secs(20);
    let help = run(test, &["--help"], None, Stdout::Read, within);
    assert_eq!(help.code, Some(0));
    assert_eq!(
        (help.stdout, help.stderr),
        (format!("{usage}\n"), String::new())
    );
    let closed = run(test, &["-h"], None, Stdout::Closed, within);
    assert_eq!((closed.code, closed.stderr), (Some(0), String::new()));
}

/// A program started by [`start`].
pub struct Running {
    test: String,
    args: Vec<String>,
    child: Child,
    writer: JoinHandle<()>,
    out_reader: JoinHandle<String>,
    err_reader: JoinHandle<String>,
}

/// Starts the program of the test `test` as [`run`] does, and returns it running. The variables
/// that point the examples at a provider (`*_API_KEY`, `*_BASE_URL`, `CHAT_PROVIDER`,
/// `OPENAI_MODEL`) are left out of its environment, so that it runs offline.
pub fn start(test: &str, args: &[&str], stdin: Option<&[u8]>, stdout: Stdout) -> Running {
    start_with(test, args, stdin, stdout, false)
}

/// [`start`], with the reader of its stderr gone at once if `stderr_closed`.
fn start_with(
    test: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    stdout: Stdout,
    stderr_closed: bool,
) -> Running {
    let exe = std::env::current_exe().expect("the path of the test binary");
    let mut command = Command::new(exe);
    command
        .args([
            test,
            "--exact",
            "--nocapture",
            "--quiet",
            "--test-threads=1",
        ])
        .env(ARGS_VAR, args.join("\u{1f}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.ends_with("_API_KEY")
            || name.ends_with("_BASE_URL")
            || name == "CHAT_PROVIDER"
            || name == "OPENAI_MODEL"
        {
            command.env_remove(name.as_ref());
        }
    }
    if stdout == Stdout::Closed {
        command.env(CLOSED_VAR, "1");
    }
    let mut child = command.spawn().expect("run the test binary again");
    let mut input = child.stdin.take().expect("stdin");
    let input_bytes = stdin.unwrap_or_default().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&input_bytes);
    });
    let mut out = child.stdout.take().expect("stdout");
    // Closed, the program is still starting: its first write to stderr finds no reader.
    let err = Some(child.stderr.take().expect("stderr")).filter(|_| !stderr_closed);
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut err) = err {
            let _ = err.read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let out_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        match stdout {
            Stdout::Read => {
                let _ = out.read_to_end(&mut text);
            }
            Stdout::Closed => {
                // The harness's first line, then the reader goes.
                let mut byte = [0];
                while out.read(&mut byte).is_ok_and(|n| n == 1) && byte[0] != b'\n' {}
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    Running {
        test: test.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
        child,
        writer,
        out_reader,
        err_reader,
    }
}

impl Running {
    /// Sends the program SIGINT, as Ctrl-C in its terminal does.
    #[cfg(unix)]
    pub fn ctrl_c(&self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -INT {}", self.child.id());
    }

    /// Waits for the program to end, at most `within` (then kills it and panics).
    pub fn wait(mut self, within: Duration) -> Ran {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the program") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{}: the program {:?} did not end within {within:?}",
                    self.test, self.args
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = self.writer.join();
        let stderr = self.err_reader.join().expect("stderr reader");
        let mut stdout = self.out_reader.join().expect("stdout reader");
        // The harness's `running 1 test` line before the program's output.
        if let Some(rest) = stdout.strip_prefix("\nrunning 1 test\n") {
            stdout = rest.to_string();
        } else if let Some(rest) = stdout.strip_prefix("running 1 test\n") {
            stdout = rest.to_string();
        }
        Ran {
            code: status.code(),
            stdout,
            stderr,
        }
    }
}
