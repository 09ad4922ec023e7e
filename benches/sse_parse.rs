//! Parse throughput of `sse::EventReader` against the `eventsource-stream` crate, in one run.
//!
//! Three corpora, generated here (100 MB each; `SSE_BENCH_MB=10` makes them smaller for a quick
//! look):
//! - `openai`: `chat.completion.chunk` events, one ~230-byte JSON `data:` line each, LF endings.
//! - `anthropic`: small events with `event:` and `id:` lines, data split over two lines, `: ping`
//!   comments, CRLF endings.
//! - `non_english_text`: Gemini-style chunks of text that is not English (Chinese, Japanese,
//!   Russian, accented Latin), raw UTF-8 as providers send it, one `data:` line of 270-640
//!   bytes each (a third of the bytes beyond ASCII), CRLF endings.
//!
//! `SSE_BENCH_FILES=a.txt,b.txt` adds a corpus per file (its bytes repeated to the same size):
//! a stream of one's own, measured beside the generated ones. The check below must pass on it
//! too, so it must be a stream both parsers read alike.
//!
//! Both implementations get the same bytes in the same 8 KiB pieces: ours through a `Read` that
//! hands out at most 8 KiB per call (so the copy into the reader's buffer is measured too), the
//! peer through `futures::stream::iter` over 8 KiB slices, driven by `block_on`. Before timing,
//! the two are checked to produce the same events.
//!
//! Also measured over the same reads: `EventReader::next_event` (the borrowing path),
//! `Parser::feed` (what an `EventStream`'s worker runs), the floor (`memchr2` finding every CR
//! and LF, nothing else), a second floor with the parser's own search (`memchr`'s AVX2 searcher
//! called once per line end) and the hand-written SWAR search the parser used before `memchr`.
//!
//! Run: `cargo bench -p ureq-futures-bench --bench sse_parse`. With `SSE_BENCH_CLOCK=cpu` the
//! time measured is the CPU time of the benchmarking thread (every measured path runs on that
//! one thread) instead of the wall clock: on a machine shared with other work, that leaves out
//! the time the thread waited for a core.

use std::convert::Infallible;
use std::hint::black_box;
use std::io::{self, Read};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, SamplingMode, Throughput};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use perf::corpus::{anthropic_corpus, openai_corpus, text_corpus};
use ureq_futures::sse::{Event, EventReader, Parser};

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

/// What a pass saw: events, and bytes of their data and type.
#[derive(Debug, Default, PartialEq)]
struct Tally(usize, usize);

impl Tally {
    fn add(&mut self, event: &str, data: &str) {
        self.0 += 1;
        self.1 += data.len() + event.len();
    }
}

/// Hands `each` every read of `corpus`: the same `Pieces` into one buffer of `PIECE` bytes.
fn each_read(corpus: &[u8], mut each: impl FnMut(&[u8])) {
    let mut reader = Pieces { rest: corpus };
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = reader.read(&mut buf).expect("memory");
        if n == 0 {
            break;
        }
        each(&buf[..n]);
    }
}

fn ours(corpus: &[u8]) -> Tally {
    let mut tally = Tally::default();
    for event in EventReader::new(Pieces { rest: corpus }) {
        let event = event.expect("the corpus is valid");
        tally.add(&event.event, &event.data);
        black_box(event);
    }
    tally
}

fn peer(corpus: &[u8]) -> Tally {
    let pieces = futures::stream::iter(corpus.chunks(PIECE).map(Ok::<_, Infallible>));
    let mut stream = pieces.eventsource();
    futures::executor::block_on(async {
        let mut tally = Tally::default();
        while let Some(event) = stream.next().await {
            let event = event.expect("the corpus is valid");
            tally.add(&event.event, &event.data);
            black_box(event);
        }
        tally
    })
}

/// The borrowing path: `EventReader::next_event`, no allocation per event.
fn ours_borrowed(corpus: &[u8]) -> Tally {
    let mut tally = Tally::default();
    let mut reader = EventReader::new(Pieces { rest: corpus });
    while let Some(event) = reader.next_event() {
        let event = event.expect("the corpus is valid");
        tally.add(event.event, event.data);
        black_box(event);
    }
    tally
}

/// The worker's path of `EventStream`: `Parser::feed` over the same 8 KiB reads.
fn ours_feed(corpus: &[u8]) -> Tally {
    let mut tally = Tally::default();
    let mut parser = Parser::new();
    let mut on_event = |event: Event| {
        tally.add(&event.event, &event.data);
        black_box(event);
    };
    each_read(corpus, |read| {
        parser
            .feed(read, &mut on_event)
            .expect("the corpus is valid")
    });
    parser.finish(&mut on_event).expect("the corpus is valid");
    tally
}

/// The line-end search the parser used before it used `memchr`: each 32-byte chunk tested
/// branch-free for a byte below 0x0E, then searched word at a time (SWAR). Kept here to compare
/// with `memchr2` over the same reads.
fn swar_scan(corpus: &[u8]) -> usize {
    fn find(haystack: &[u8]) -> Option<usize> {
        let mut chunks = haystack.chunks_exact(32);
        let mut offset = 0;
        for chunk in &mut chunks {
            if chunk.iter().fold(false, |low, &b| low | (b < 0x0E)) {
                if let Some(i) = find_swar(chunk) {
                    return Some(offset + i);
                }
            }
            offset += 32;
        }
        find_swar(chunks.remainder()).map(|i| offset + i)
    }
    fn find_swar(haystack: &[u8]) -> Option<usize> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        let below_1 = |w: u64| w.wrapping_sub(ONES) & !w & (ONES << 7);
        let mut words = haystack.chunks_exact(8);
        let mut offset = 0;
        for word in &mut words {
            let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
            let hits =
                below_1(w ^ (ONES * u64::from(b'\n'))) | below_1(w ^ (ONES * u64::from(b'\r')));
            if hits != 0 {
                return Some(offset + (hits.trailing_zeros() / 8) as usize);
            }
            offset += 8;
        }
        let rest = words
            .remainder()
            .iter()
            .position(|&b| b == b'\r' || b == b'\n');
        rest.map(|i| offset + i)
    }
    let mut ends = 0;
    each_read(corpus, |mut hay| {
        while let Some(i) = find(hay) {
            ends += 1;
            hay = &hay[i + 1..];
        }
    });
    ends
}

/// The floor: the same reads, and every CR or LF found with `memchr2`, nothing else.
fn floor(corpus: &[u8]) -> usize {
    let mut ends = 0;
    each_read(corpus, |read| {
        ends += memchr::memchr2_iter(b'\r', b'\n', read).count()
    });
    ends
}

/// The floor with the parser's own search: on x86_64 with AVX2, `memchr`'s AVX2 searcher for
/// CR and LF called once per line end, as `Parser` calls it (no dispatch per call); `memchr2`
/// per line end elsewhere. On short lines this is faster than `memchr2_iter`.
fn floor_direct(corpus: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    let two = memchr::arch::x86_64::avx2::memchr::Two::new(b'\r', b'\n');
    #[cfg(not(target_arch = "x86_64"))]
    let two: Option<()> = None;
    let find = |haystack: &[u8]| match &two {
        #[cfg(target_arch = "x86_64")]
        Some(two) => two.find(haystack),
        _ => memchr::memchr2(b'\r', b'\n', haystack),
    };
    let mut ends = 0;
    each_read(corpus, |read| {
        let mut at = 0;
        while let Some(i) = find(&read[at..]) {
            ends += 1;
            at += i + 1;
        }
    });
    ends
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
                event: e.event.into(),
                data: e.data,
                id: Some(e.id).filter(|id| !id.is_empty()).map(Into::into),
                retry: e.retry,
            })
            .collect::<Vec<_>>(),
    );
    assert_eq!(mine, theirs, "{name}: the first events differ");
    assert_eq!(ours(corpus), peer(corpus), "{name}: counts differ");
    assert_eq!(
        ours(corpus),
        ours_borrowed(corpus),
        "{name}: borrowed counts differ"
    );
    assert_eq!(ours(corpus), ours_feed(corpus), "{name}: fed counts differ");
    assert_eq!(floor(corpus), swar_scan(corpus), "{name}: line ends differ");
    assert_eq!(
        floor(corpus),
        floor_direct(corpus),
        "{name}: line ends differ"
    );
}

/// The corpora of the files named in `SSE_BENCH_FILES` (comma-separated): each file's bytes
/// repeated to the corpus size, so that any stream can be measured beside the generated ones.
/// A group is named after its file's name (letters, digits and `_` kept).
fn corpora_of_files(size: usize) -> Vec<(String, Vec<u8>)> {
    let Ok(files) = std::env::var("SSE_BENCH_FILES") else {
        return Vec::new();
    };
    files
        .split(',')
        .filter(|path| !path.is_empty())
        .map(|path| {
            let bytes = std::fs::read(path)
                .unwrap_or_else(|e| panic!("SSE_BENCH_FILES: cannot read {path}: {e}"));
            assert!(!bytes.is_empty(), "SSE_BENCH_FILES: {path} is empty");
            let name: String = std::path::Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let copies = size.div_ceil(bytes.len()).max(1);
            (format!("file_{name}"), bytes.repeat(copies))
        })
        .collect()
}

/// The CPU time of the calling thread (`/proc/thread-self/schedstat`, in nanoseconds).
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("SSE_BENCH_CLOCK=cpu needs Linux's /proc/thread-self/schedstat");
    let first = stat.split_whitespace().next().unwrap_or_default();
    first
        .parse()
        .expect("schedstat starts with the run time in ns")
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let size = corpus_size();
    let mut corpora = vec![
        ("openai_chunks_lf".to_string(), openai_corpus(size)),
        ("anthropic_small_crlf".to_string(), anthropic_corpus(size)),
        ("non_english_text_crlf".to_string(), text_corpus(size)),
    ];
    corpora.extend(corpora_of_files(size));
    for (name, corpus) in &corpora {
        check_same_events(name, corpus);
        let mut group = c.benchmark_group(name);
        group
            .throughput(Throughput::Bytes(corpus.len() as u64))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        group.bench_function("ureq_futures_EventReader", |b| {
            b.iter(|| ours(black_box(corpus)))
        });
        group.bench_function("ureq_futures_EventReader_next_event", |b| {
            b.iter(|| ours_borrowed(black_box(corpus)))
        });
        group.bench_function("ureq_futures_Parser_feed", |b| {
            b.iter(|| ours_feed(black_box(corpus)))
        });
        group.bench_function("memchr_line_scan_floor", |b| {
            b.iter(|| floor(black_box(corpus)))
        });
        group.bench_function("memchr_avx2_line_scan_floor", |b| {
            b.iter(|| floor_direct(black_box(corpus)))
        });
        group.bench_function("swar_line_scan", |b| {
            b.iter(|| swar_scan(black_box(corpus)))
        });
        group.bench_function("eventsource_stream", |b| b.iter(|| peer(black_box(corpus))));
        group.finish();
    }
}

fn main() {
    if std::env::var("SSE_BENCH_CLOCK").is_ok_and(|v| v == "cpu") {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpu)
            .configure_from_args();
        bench(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
}
