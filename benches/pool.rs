//! Pool overhead without any I/O: submit + result of a no-op job, and `as_completed` over n
//! handles for n = 1,000, 10,000 and 100,000 (the time per handle should stay flat: linear in n).
//!
//! Run: `cargo bench -p ureq-futures-bench --bench pool`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ureq_futures::{as_completed, FuturesSession};

/// Peer: the same round trip hand-rolled on `threadpool` with a one-shot crossbeam channel.
fn submit_result(c: &mut Criterion) {
    let mut group = c.benchmark_group("submit_then_result_noop");
    let session = FuturesSession::builder().max_workers(8).build();
    group.bench_function("ureq_futures", |b| {
        b.iter(|| session.submit(|_| Ok(1u32)).result().unwrap())
    });
    let pool = threadpool::ThreadPool::new(8);
    group.bench_function("threadpool_and_channel", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::bounded(1);
            pool.execute(move || tx.send(1u32).unwrap());
            rx.recv().unwrap()
        })
    });
    group.finish();
}

fn as_completed_n(c: &mut Criterion) {
    let session = FuturesSession::builder().max_workers(8).build();
    let mut group = c.benchmark_group("submit_n_then_as_completed");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    for n in [1_000usize, 10_000, 100_000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                let handles: Vec<_> = (0..n).map(|i| session.submit(move |_| Ok(i))).collect();
                let sum: usize = as_completed(handles).map(|(_, r)| r.unwrap()).sum();
                assert_eq!(sum, n * (n - 1) / 2);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, submit_result, as_completed_n);
criterion_main!(benches);
