//! Cancel latency on loopback, against a server that has gone silent (it read the request and
//! answers nothing, or sent one event and nothing more):
//!
//! - `cancel_to_result`: from `Pending::cancel()` to `result()` returning `Err(Cancelled)`;
//! - `cancel_to_worker_free`: from `cancel()` until the session's only worker has run the next
//!   job (the request was interrupted and its worker let go);
//! - `drop_stream_to_worker_free`: from dropping an `EventStream` until the only worker has run
//!   the next job;
//! - peers, `ureq_agent_shutdown` and `ureq_agent_shutdown_body`: plain ureq's own interrupt,
//!   `Agent::shutdown()` from another thread, until the thread blocked in the request (or in
//!   the body read) has its error. This is the mechanism the session uses per connection; the
//!   ratio to it is what the session's bookkeeping (the handle, the job's connections, the
//!   worker's next job) adds.
//!
//! Only the interval after the server has the request is timed; connecting is setup.
//!
//! Run: `cargo bench -p ureq-futures-bench --bench cancel`. Medians are in
//! `target/criterion/<group>/<name>/new/estimates.json`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use crossbeam_channel::{Receiver, Sender};
use support::{Reply, TestServer};
use ureq_futures::{Error, FuturesSession};

/// Long enough never to be reached unless something is broken.
const HANG: Duration = Duration::from_secs(30);

/// Reads until the client goes away.
fn silent_until_closed(socket: &mut TcpStream) {
    let _ = socket.set_read_timeout(None);
    let _ = socket.read(&mut [0; 1]);
}

/// A server that tells `seen` about each request and then says nothing (after one event,
/// with `event`).
fn silent_server(event: bool) -> (TestServer, Receiver<()>) {
    let (tx, seen): (Sender<()>, _) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |_| {
        let tx = tx.clone();
        Reply::custom(move |socket| {
            if event {
                let _ = socket.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: one\n\n",
                );
            }
            let _ = tx.send(());
            silent_until_closed(socket);
        })
    });
    (server, seen)
}

/// The sum of `iters` runs of `one`, each returning the time it measured.
fn timed(iters: u64, mut one: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| one()).sum()
}

/// A group of few samples over a short time: each sample waits on a silent server.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group
}

/// Runs the next job on `session` and waits for it: the worker is free.
fn next_job(session: &FuturesSession) {
    let mut next = session.submit(|_| Ok(()));
    next.result_timeout(HANG)
        .expect("the worker is still held")
        .unwrap();
}

fn cancel_running(c: &mut Criterion) {
    let mut group = group(c, "cancel_silent_server");
    let (server, seen) = silent_server(false);
    let session = FuturesSession::builder().max_workers(1).build();

    group.bench_function("cancel_to_result", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let pending = session.get(server.url()).send();
                seen.recv_timeout(HANG).unwrap();
                let start = Instant::now();
                pending.cancel();
                let result = pending.result();
                let elapsed = start.elapsed();
                assert!(matches!(result, Err(Error::Cancelled)));
                // Not timed: the worker is free before the next iteration.
                next_job(&session);
                elapsed
            })
        })
    });

    group.bench_function("cancel_to_worker_free", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let pending = session.get(server.url()).send();
                seen.recv_timeout(HANG).unwrap();
                let start = Instant::now();
                pending.cancel();
                next_job(&session);
                let elapsed = start.elapsed();
                assert!(matches!(pending.result(), Err(Error::Cancelled)));
                elapsed
            })
        })
    });

    group.bench_function("ureq_agent_shutdown", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let agent = ureq::Agent::new_with_defaults();
                let (done_tx, done) = crossbeam_channel::bounded(1);
                let (url, caller) = (server.url(), agent.clone());
                let thread = std::thread::spawn(move || {
                    let failed = caller.get(&url).call().is_err();
                    let _ = done_tx.send(failed);
                });
                seen.recv_timeout(HANG).unwrap();
                let start = Instant::now();
                agent.shutdown();
                let failed = done.recv_timeout(HANG).unwrap();
                let elapsed = start.elapsed();
                assert!(failed);
                thread.join().unwrap();
                elapsed
            })
        })
    });
    group.finish();
}

fn drop_stream(c: &mut Criterion) {
    let mut group = group(c, "drop_stream_silent_server");
    let (server, seen) = silent_server(true);
    let session = FuturesSession::builder().max_workers(1).build();

    group.bench_function("drop_stream_to_worker_free", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut stream = session.get(server.url()).events().result().unwrap();
                seen.recv_timeout(HANG).unwrap();
                assert_eq!(stream.next().unwrap().unwrap().data, "one");
                let start = Instant::now();
                drop(stream);
                next_job(&session);
                start.elapsed()
            })
        })
    });

    group.bench_function("ureq_agent_shutdown_body", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let agent = ureq::Agent::new_with_defaults();
                let (first_tx, first) = crossbeam_channel::bounded(1);
                let (done_tx, done) = crossbeam_channel::bounded(1);
                let (url, caller) = (server.url(), agent.clone());
                let thread = std::thread::spawn(move || {
                    let mut resp = caller.get(&url).call().unwrap();
                    let mut reader = resp.body_mut().as_reader();
                    let mut line = [0; 11];
                    reader.read_exact(&mut line).unwrap();
                    let _ = first_tx.send(());
                    let failed = reader.read(&mut [0; 64]).map_or(true, |n| n == 0);
                    let _ = done_tx.send(failed);
                });
                seen.recv_timeout(HANG).unwrap();
                first.recv_timeout(HANG).unwrap();
                let start = Instant::now();
                agent.shutdown();
                let ended = done.recv_timeout(HANG).unwrap();
                let elapsed = start.elapsed();
                assert!(ended);
                thread.join().unwrap();
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group!(benches, cancel_running, drop_stream);
criterion_main!(benches);
