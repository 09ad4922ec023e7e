//! What the plain benches share: their command-line handling ([`args`]), the generated SSE
//! corpora of the parse benchmarks ([`corpus`]) and the server child process ([`server`]).

pub mod args;
pub mod corpus;
pub mod server;

/// The exit code of a bench's `main`: success, or the error printed after the bench's `name`.
pub fn exit(name: &str, result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The numbers of `fields` (such as `"VmRSS:"`, `"Threads:"`) in `/proc/PID/status` of process
/// `pid` (or `"self"`), in that order, as the file gives them (memory in kB).
pub fn proc_status(pid: &str, fields: &[&str]) -> Result<Vec<u64>, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .map_err(|e| format!("{path}: {e} (this bench needs Linux)"))?;
    fields
        .iter()
        .map(|name| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .ok_or_else(|| format!("{path} has no {name}"))
        })
        .collect()
}
