//! Notes and errors on stderr that a closed stderr (`prog 2>&1 | head -1`, once `head` has its
//! line) does not end: they go nowhere then, as answers into a closed stdout do. `eprintln!`
//! panics there, and in a callback the library runs in a job (`RateLimiter::on_pause`, a
//! request's hook) that panic fails the job's request.

/// `eprintln!`, which a closed stderr does not panic.
#[allow(unused_macros)]
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!`, as [`note!`] is `eprintln!`.
#[allow(unused_macros)]
macro_rules! note_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// The program's arguments, without its name, as text; for one that is not UTF-8, the usage
/// error it notes (`std::env::args` panics on such an argument), exit status 2.
#[allow(dead_code)]
pub fn text_args() -> Result<Vec<String>, std::process::ExitCode> {
    as_text(std::env::args_os().skip(1)).map_err(|message| {
        note!("error: {message}");
        std::process::ExitCode::from(2)
    })
}

/// `args` as text, or the message that says which one is not.
#[allow(dead_code)]
fn as_text(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Vec<String>, String> {
    let args = args.into_iter().map(|arg| arg.into_string());
    args.enumerate()
        .map(|(n, arg)| {
            arg.map_err(|arg| {
                format!(
                    "argument {} is not UTF-8 text: {}",
                    n + 1,
                    arg.to_string_lossy()
                )
            })
        })
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn an_argument_that_is_not_utf8_is_named_not_a_panic() {
        let args = [
            OsString::from("--x"),
            OsString::from_vec(b"caf\xe9".to_vec()),
        ];
        assert_eq!(
            super::as_text(args).unwrap_err(),
            "argument 2 is not UTF-8 text: caf\u{fffd}"
        );
        assert_eq!(
            super::as_text([OsString::from("é")]),
            Ok(vec!["é".to_string()])
        );
    }
}
