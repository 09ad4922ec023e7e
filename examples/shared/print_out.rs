//! Printing the programs' usage and answers: a closed stdout is not an error.

use std::io::{self, Write};
use std::process::ExitCode;

/// Writes `text` and a line break to stdout. A closed stdout (piped into `head -1`, which has
/// quit) ends the program quietly, as it would have ended anyway; another failure is reported.
pub fn print_out(text: &str) -> ExitCode {
    match writeln!(io::stdout(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            // Not `eprintln!`: a closed stderr must not panic the program either.
            let _ = writeln!(io::stderr(), "error: writing to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
