//! Parse throughput of `sse::EventReader` against the `eventsource-stream` crate, in one run.
//!
//! Two corpora, generated here (100 MB each; `SSE_BENCH_MB=10` makes them smaller for a quick
//! look):
//! - `openai`: `chat.completion.chunk` events, one ~230-byte JSON `data:` line each, LF endings.
//! - `anthropic`: small events with `event:` and `id:` lines, data split over two lines, `: ping`
//!   comments, CRLF endings.
//!
//! Both implementations get the same bytes in the same 8 KiB pieces: ours through a `Read` that
//! hands out at most 8 KiB per call (so the copy into the reader's buffer is measured too), the
//! peer through `futures::stream::iter` over 8 KiB slices, driven by `block_on`. Before timing,
//! the two are checked to produce the same events.
//!
//! Run: `cargo bench -p ureq-futures-bench --bench sse_parse`.

use std::convert::Infallible;
use std::hint::black_box;
use std::io::{self, Read};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use perf::corpus::{anthropic_corpus, openai_corpus};
use ureq_futures::sse::{Event, EventReader};

/// What one read() or one stream item holds at most.
const PIECE: usize = 8 * 1024;

/// A reader over memory that returns at most `PIECE` bytes per `read`.
struct Pieces<'a> {
    rest: &'a [u8],
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rest.len().min(buf.len()).min(PIECE);
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

fn corpus_size() -> usize {
    let mb = std::env::var("SSE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(100);
    mb * 1_000_000
}

fn ours(corpus: &[u8]) -> (usize, usize) {
    let mut events = 0;
    let mut bytes = 0;
    for event in EventReader::new(Pieces { rest: corpus }) {
        let event = event.expect("the corpus is valid");
        events += 1;
        bytes += event.data.len() + event.event.len();
        black_box(event);
    }
    (events, bytes)
}

fn peer(corpus: &[u8]) -> (usize, usize) {
    let pieces = futures::stream::iter(corpus.chunks(PIECE).map(Ok::<_, Infallible>));
    let mut stream = pieces.eventsource();
    futures::executor::block_on(async {
        let mut events = 0;
        let mut bytes = 0;
        while let Some(event) = stream.next().await {
            let event = event.expect("the corpus is valid");
            events += 1;
            bytes += event.data.len() + event.event.len();
            black_box(event);
        }
        (events, bytes)
    })
}

/// Both implementations must see the same events, or the comparison means nothing.
fn check_same_events(name: &str, corpus: &[u8]) {
    let mine: Vec<Event> = EventReader::new(Pieces { rest: corpus })
        .take(5000)
        .collect::<Result<_, _>>()
        .expect("the corpus is valid");
    let theirs: Vec<Event> = futures::executor::block_on(
        futures::stream::iter(corpus.chunks(PIECE).map(Ok::<_, Infallible>))
            .eventsource()
            .take(5000)
            .map(|e| e.expect("the corpus is valid"))
            .map(|e| Event {
                event: e.event,
                data: e.data,
                id: Some(e.id).filter(|id| !id.is_empty()),
                retry: e.retry,
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(mine, theirs, "{name}: the first events differ");
    assert_eq!(ours(corpus), peer(corpus), "{name}: counts differ");
}

fn bench(c: &mut Criterion) {
    let size = corpus_size();
    let corpora = [
        ("openai_chunks_lf", openai_corpus(size)),
        ("anthropic_small_crlf", anthropic_corpus(size)),
    ];
    for (name, corpus) in &corpora {
        check_same_events(name, corpus);
        let mut group = c.benchmark_group(*name);
        group
            .throughput(Throughput::Bytes(corpus.len() as u64))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        group.bench_function("ureq_futures_EventReader", |b| {
            b.iter(|| ours(black_box(corpus)))
        });
        group.bench_function("eventsource_stream", |b| b.iter(|| peer(black_box(corpus))));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
