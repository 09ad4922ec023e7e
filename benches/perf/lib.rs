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
