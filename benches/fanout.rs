//! Fan-out of 20,000 small GETs over 8 workers against a local keep-alive server:
//! FuturesSession vs plain ureq on 8 `std::thread`s sharing one Agent (the same HTTP stack with
//! no pool in between) vs `reqwest::blocking` on 8 threads. A second group sends 2,000 GETs to
//! a server that closes each connection after its answer, so that every request connects:
//! FuturesSession (whose connector makes each socket before it connects, so that a cancel can
//! end the connect) vs plain ureq.
//!
//! Run: `cargo bench -p ureq-futures-bench --bench fanout`. The ratios to report are FuturesSession / plain ureq
//! (target <= 1.10) and FuturesSession / reqwest (target < 1).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use support::{Reply, TestServer};
use ureq_futures::FuturesSession;

const REQUESTS: usize = 20_000;
const WORKERS: usize = 8;

/// Runs `requests` calls of `get` spread over `WORKERS` threads taking indices from a counter.
fn on_threads(requests: usize, get: impl Fn() + Send + Sync + 'static) {
    let get = Arc::new(get);
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (get, next) = (get.clone(), next.clone());
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    get();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn fanout(c: &mut Criterion) {
    fanout_group(c, "fanout_20k_gets_8_workers", REQUESTS, false);
    fanout_group(
        c,
        "fanout_2k_new_connections_8_workers",
        REQUESTS / 10,
        true,
    );
}

/// `requests` GETs through each client; with `close`, the server closes every connection after
/// its answer (and reqwest, whose connect is not in question, is left out).
fn fanout_group(c: &mut Criterion, name: &str, requests: usize, close: bool) {
    let server = TestServer::start(move |_| {
        let reply = Reply::ok("hello");
        if close {
            reply.close()
        } else {
            reply
        }
    });
    let url = server.url();
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(requests as u64));

    let session = FuturesSession::builder().max_workers(WORKERS).build();
    group.bench_function("ureq_futures", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..requests).map(|_| session.get(&url).send()).collect();
            for h in handles {
                assert_eq!(h.result().unwrap().bytes().len(), 5);
            }
        })
    });

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_idle_connections_per_host(WORKERS)
        .build()
        .into();
    group.bench_function("ureq_on_threads", |b| {
        b.iter(|| {
            let (agent, url) = (agent.clone(), url.clone());
            on_threads(requests, move || {
                let body = agent
                    .get(&url)
                    .call()
                    .unwrap()
                    .body_mut()
                    .read_to_vec()
                    .unwrap();
                assert_eq!(body.len(), 5);
            })
        })
    });

    if close {
        group.finish();
        return;
    }
    let client = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(WORKERS)
        .build()
        .unwrap();
    group.bench_function("reqwest_blocking_on_threads", |b| {
        b.iter(|| {
            let (client, url) = (client.clone(), url.clone());
            on_threads(requests, move || {
                let body = client.get(&url).send().unwrap().bytes().unwrap();
                assert_eq!(body.len(), 5);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
