//! Ctrl-C in the chat: while an answer is awaited or streams, it stops that answer (the stop
//! handle of `Conversation::start`, taken before the wait, stops either) and the chat goes back
//! to the prompt, its history as it was before the question; at the prompt, it ends the
//! program. In the moment between sending and taking that handle, it has the answer dropped as
//! it starts, and a second press ends the program.
//!
//! The signal is caught without a crate of its own. On Unix a SIGINT handler writes a byte to a
//! pipe (about all a signal handler may safely do) and a thread that reads the pipe does the
//! rest; `libc` is already in the chat's dependency tree. Elsewhere Ctrl-C keeps its default
//! and ends the program.

use std::io;
use std::sync::{Mutex, MutexGuard};

use ureq_futures::sse::StopHandle;

/// Where the chat is, as far as Ctrl-C is concerned.
#[derive(Debug, Default)]
enum Turn {
    /// At the prompt, or between turns: Ctrl-C ends the program.
    #[default]
    Idle,
    /// A message is going out and its stop handle is not taken yet.
    Waiting,
    /// Ctrl-C came while waiting: the answer is dropped as soon as it starts.
    StopRequested,
    /// The answer is awaited or streams; its handle stops it.
    Streaming(StopHandle),
}

/// What Ctrl-C does now, shared by the chat loop and the thread that sees the signal.
#[derive(Debug, Default)]
pub struct CtrlC {
    turn: Mutex<Turn>,
}

impl CtrlC {
    /// A message goes out: until the returned guard is dropped, Ctrl-C stops its answer.
    pub fn answer(&self) -> Answer<'_> {
        *self.lock() = Turn::Waiting;
        Answer { ctrl_c: self }
    }

    /// Ctrl-C was pressed: stops the answer in progress (awaited or streaming), or has it
    /// dropped once its stop handle is taken. Says what to do.
    pub fn pressed(&self) -> Press {
        let mut turn = self.lock();
        match &*turn {
            Turn::Idle => Press::Quit,
            Turn::Waiting => {
                *turn = Turn::StopRequested;
                Press::Dropping
            }
            // Pressed again before the stop handle was taken: the user wants out.
            Turn::StopRequested => Press::Quit,
            Turn::Streaming(stop) => {
                stop.stop();
                Press::Stopped
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Turn> {
        self.turn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a press of Ctrl-C calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Press {
    /// No answer is in progress, or a second press came before the answer started: end the
    /// program.
    Quit,
    /// The answer's stop handle is not taken yet: the answer is dropped once it is.
    Dropping,
    /// The answer was streaming, and is stopped.
    Stopped,
}

/// An answer in progress: see [`CtrlC::answer`].
pub struct Answer<'a> {
    ctrl_c: &'a CtrlC,
}

impl Answer<'_> {
    /// The answer is awaited and `stop` ends it. Returns `false` if Ctrl-C was pressed
    /// before: drop the answer.
    pub fn streaming(&self, stop: StopHandle) -> bool {
        let mut turn = self.ctrl_c.lock();
        if matches!(*turn, Turn::StopRequested) {
            return false;
        }
        *turn = Turn::Streaming(stop);
        true
    }
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        *self.ctrl_c.lock() = Turn::Idle;
    }
}

/// Calls `f` on a thread of its own each time Ctrl-C (SIGINT) arrives, instead of ending the
/// process; a call of `f` that panics does not stop the later ones. Reads interrupted by the signal on other threads are restarted (`SA_RESTART`).
#[cfg(unix)]
pub fn on_ctrl_c(f: impl Fn() + Send + 'static) -> io::Result<()> {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The pipe's write end, for the handler.
    static WRITE_END: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_sigint(_: libc::c_int) {
        let fd = WRITE_END.load(Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: write(2) is async-signal-safe; the buffer is a live one-byte array. A full
            // pipe (many presses at once) drops the byte, which is fine.
            unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
        }
    }

    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the read end was just made by pipe(2) and is owned by nothing else.
    let mut read_end = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    WRITE_END.store(fds[1], Ordering::Relaxed);
    // SAFETY: a zeroed `sigaction` is a valid value to fill in; the handler only does
    // async-signal-safe work (above).
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut())
    };
    if installed != 0 {
        return Err(io::Error::last_os_error());
    }
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let mut byte = [0u8];
            loop {
                match read_end.read(&mut byte) {
                    // A panic in `f` (an `eprintln!` on a closed stderr, say) must not end the
                    // thread: the next press would do nothing, not even end the program.
                    Ok(1) => {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&f));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    _ => return,
                }
            }
        })?;
    Ok(())
}

/// Elsewhere Ctrl-C keeps its default: it ends the program, answer or not.
#[cfg(not(unix))]
pub fn on_ctrl_c(_: impl Fn() + Send + 'static) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_ends_the_program_only_when_no_answer_is_in_progress() {
        let ctrl_c = CtrlC::default();
        assert_eq!(ctrl_c.pressed(), Press::Quit);
        let answer = ctrl_c.answer();
        // Pressed before the answer starts: the answer is dropped as it arrives.
        assert_eq!(ctrl_c.pressed(), Press::Dropping);
        assert!(!answer.streaming(StopHandle::default()));
        drop(answer);
        assert_eq!(ctrl_c.pressed(), Press::Quit, "back at the prompt");
        let answer = ctrl_c.answer();
        assert!(answer.streaming(StopHandle::default()));
        assert_eq!(ctrl_c.pressed(), Press::Stopped);
        drop(answer);
        assert_eq!(ctrl_c.pressed(), Press::Quit);
    }

    #[test]
    fn a_second_press_before_the_answer_starts_ends_the_program() {
        let ctrl_c = CtrlC::default();
        let answer = ctrl_c.answer();
        assert_eq!(ctrl_c.pressed(), Press::Dropping);
        // A server that never answers cannot hold the program.
        assert_eq!(ctrl_c.pressed(), Press::Quit);
        drop(answer);
    }

    /// A handler that panics once (an `eprintln!` on a closed stderr) still sees the next press.
    #[cfg(unix)]
    #[test]
    fn a_handler_that_panics_still_sees_the_next_press() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::mpsc;
        use std::time::Duration;

        let (tx, rx) = mpsc::channel();
        let calls = AtomicUsize::new(0);
        let tx = Mutex::new(tx);
        on_ctrl_c(move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = tx.lock().unwrap_or_else(|e| e.into_inner()).send(n);
            assert!(n > 1, "the first press's handler fails");
        })
        .unwrap();
        for expected in [1, 2] {
            // SAFETY: raise(3) sends the signal to this thread; the handler installed above only
            // writes to its pipe.
            assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(expected));
        }
    }
}
