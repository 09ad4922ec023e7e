//! The local server of a bench, run as a child process (the bench's own binary with a `serve`
//! command), so that only the client's memory and CPU are measured in the bench's process.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The server process; it exits when its stdin closes, which dropping this does.
pub struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    /// What the server printed first: `url http://127.0.0.1:PORT`, without `url `.
    pub url: String,
}

impl ServerProcess {
    /// Runs this program with `args` (`["serve", ...]`) and reads the url it prints.
    pub fn spawn(args: &[&str]) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
        }
        let Some(url) = line.trim().strip_prefix("url ").map(str::to_string) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the server said {line:?} instead of its url"));
        };
        Ok(ServerProcess { child, stdin, url })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
