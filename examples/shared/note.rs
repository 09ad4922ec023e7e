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
