//! The integration tests: one test binary (one link), a module per topic.
//!
//! Every server they talk to runs on 127.0.0.1: mockito, or the local test server of
//! `tests/support` (the `support` crate, std only, shared with the benches). The recorded LLM
//! streams they replay are in `tests/data/llm-streams/` (see its README).
//!
//! `cargo test --test it` runs them all; `cargo test --test it faults::` one topic. Tests that
//! measure the whole process (its threads, its resident memory) run in a process of their own:
//! see [`alone`].

#[cfg(feature = "llm")]
mod anthropic;
mod auth;
mod batch;
mod body;
// Resident memory is read from `/proc/self/status`.
#[cfg(target_os = "linux")]
mod body_memory;
mod cancel;
#[cfg(feature = "llm")]
mod chat_batch;
#[cfg(feature = "llm")]
mod cohere;
mod cookies;
mod download;
#[cfg(feature = "llm")]
mod embeddings;
mod encodings;
mod event_source;
mod faults;
mod fuzz_regressions;
#[cfg(feature = "llm")]
mod gemini;
mod lifetime;
mod limits;
#[cfg(feature = "llm")]
mod llm_api;
#[cfg(feature = "llm")]
mod llm_contract;
#[cfg(feature = "llm")]
mod llm_decoders;
#[cfg(feature = "llm")]
mod llm_requests;
#[cfg(feature = "llm")]
mod llm_streams;
#[cfg(feature = "llm")]
mod llm_wire;
mod load;
mod multipart;
// Needs `--features native-tls`; `.ci/run` runs it.
#[cfg(feature = "native-tls")]
mod native_tls;
#[cfg(feature = "llm")]
mod openai;
mod pending;
#[cfg(feature = "llm")]
mod presets;
mod proxy;
mod redirects;
mod retry;
mod security;
mod session;
mod sse_parser;
mod sse_stream;
mod stale_connections;
mod status_errors;
mod stream_map;
mod support_selftest;
// Threads are counted in `/proc/self/task`.
#[cfg(target_os = "linux")]
mod threads;
mod timeouts;
mod transport_errors;
mod upload;
mod urls;

use std::path::PathBuf;
use std::process::Command;

/// Sends `request` and returns the text of its answer; panics on any error.
pub fn text_of(request: ureq_futures::RequestBuilder) -> String {
    request.send().result().unwrap().text().unwrap().to_string()
}

/// Submits `n` jobs to `session` that each wait at `barrier` (which the caller sizes: `n` for
/// the jobs alone, `n + 1` to meet them): they can only all pass if `n` workers run them side
/// by side.
pub fn at_barrier(
    session: &ureq_futures::FuturesSession,
    n: usize,
    barrier: &std::sync::Arc<std::sync::Barrier>,
) -> Vec<ureq_futures::Pending<()>> {
    (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            session.submit(move |_| {
                barrier.wait();
                Ok(())
            })
        })
        .collect()
}

/// Asserts that `session.join()` returns within `within` (run on a thread of its own, so that
/// a hang fails the test with `why` rather than blocking it).
pub fn joins_within(
    session: &ureq_futures::FuturesSession,
    within: std::time::Duration,
    why: &str,
) {
    let (tx, joined) = crossbeam_channel::bounded(1);
    let s = session.clone();
    std::thread::spawn(move || {
        s.join();
        let _ = tx.send(());
    });
    joined.recv_timeout(within).expect(why);
}

/// The folder of the recorded LLM streams, `tests/data/llm-streams/`.
pub fn llm_streams_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/llm-streams")
}

/// Runs `body` in a process of its own, where no other test creates threads or allocates
/// meanwhile: for the tests that count the threads or the resident memory of the process.
///
/// `test` is the test's full name (`module::function`). Called from the test binary as run
/// by `cargo test`, it runs this binary again with only that test (`--exact`) and an
/// environment variable that makes the call run `body`; it then asserts that the child ran
/// exactly that one test and that it passed, and shows the child's output on failure.
///
/// Returns the child's stderr in the calling process, and `None` in the child.
pub fn alone(test: &str, body: impl FnOnce()) -> Option<String> {
    const VAR: &str = "UREQ_FUTURES_TEST_ALONE";
    if std::env::var(VAR).as_deref() == Ok(test) {
        body();
        return None;
    }
    let exe = std::env::current_exe().expect("the path of the test binary");
    let out = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(VAR, test)
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "{test} failed in its own process:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test}: the child process did not run exactly that test:\n{stdout}"
    );
    Some(stderr.into_owned())
}
