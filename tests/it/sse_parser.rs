//! The SSE parser against the WHATWG "interpreting an event stream" algorithm.
//!
//! - A table of spec cases, each re-run under every way of splitting its bytes into reads (all
//!   1- and 2-way splits, one byte per read, some 3-way splits), through `Parser::feed` and
//!   `Parser::feed_ref`, and through `EventReader`'s `next` and its borrowing `next_event`, with
//!   and without `dispatch_unterminated`.
//! - Limits and bounded memory.
//! - Property tests: random SSE-shaped bytes against a plain reference model written here from
//!   the spec, under random splits.
//! - `EventReader` behaviour: `Interrupted`, I/O errors, events before EOF.
//! - The real captured LLM streams in `tests/data/llm-streams/`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::rc::Rc;
use std::time::Duration;

use ureq_futures::sse::{Event, EventReader, EventRef, Parser, SmolStr, DEFAULT_MAX_EVENT_SIZE};
use ureq_futures::Error;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An expected event, written compactly in the table.
#[derive(Clone, Copy, Debug)]
struct Ev {
    event: &'static str,
    data: &'static str,
    id: Option<&'static str>,
    retry_ms: Option<u64>,
}

const fn msg(data: &'static str) -> Ev {
    Ev {
        event: "message",
        data,
        id: None,
        retry_ms: None,
    }
}

impl Ev {
    const fn typ(self, event: &'static str) -> Ev {
        Ev { event, ..self }
    }
    const fn id(self, id: &'static str) -> Ev {
        Ev {
            id: Some(id),
            ..self
        }
    }
    const fn retry(self, ms: u64) -> Ev {
        Ev {
            retry_ms: Some(ms),
            ..self
        }
    }
    fn to_event(self) -> Event {
        Event {
            event: self.event.into(),
            data: self.data.to_string(),
            id: self.id.map(SmolStr::from),
            retry: self.retry_ms.map(Duration::from_millis),
        }
    }
}

/// What one run of a parser over a whole stream gave.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    /// `Err(limit)` when the run stopped with `EventTooLarge`.
    result: Result<(), usize>,
    last_event_id: String,
    retry: Option<Duration>,
}

fn too_large(e: Error) -> usize {
    match e {
        Error::EventTooLarge { limit } => limit,
        other => panic!("expected EventTooLarge, got {other:?}"),
    }
}

/// Runs `parser` over `pieces` with `feed` (an empty feed between pieces too) and `finish`.
fn run_feed(mut parser: Parser, pieces: &[&[u8]]) -> Outcome {
    let mut events = Vec::new();
    let mut result = Ok(());
    for piece in pieces {
        if let Err(e) = parser.feed(piece, &mut |e| events.push(e)) {
            result = Err(too_large(e));
            break;
        }
        parser
            .feed(b"", &mut |_| panic!("an empty feed dispatched"))
            .map_err(too_large)
            .expect("an empty feed does not fail");
    }
    if result.is_ok() {
        result = parser.finish(&mut |e| events.push(e)).map_err(too_large);
    } else {
        // After an error the parser refuses input and dispatches nothing.
        let again = parser.feed(b"\n\ndata: x\n\n", &mut |_| panic!("event after an error"));
        assert_eq!(again.map_err(too_large), result);
        let again = parser.finish(&mut |_| panic!("event after an error"));
        assert_eq!(again.map_err(too_large), result);
    }
    Outcome {
        events,
        result,
        last_event_id: parser.last_event_id().to_string(),
        retry: parser.retry(),
    }
}

/// [`run_feed`] through `feed_ref`/`finish_ref`: the borrowed events, copied out.
fn run_feed_ref(mut parser: Parser, pieces: &[&[u8]]) -> Outcome {
    let mut events = Vec::new();
    let mut result = Ok(());
    let mut keep = |e: EventRef<'_>| events.push(Event::from(e));
    for piece in pieces {
        if let Err(e) = parser.feed_ref(piece, &mut keep) {
            result = Err(too_large(e));
            break;
        }
    }
    if result.is_ok() {
        result = parser.finish_ref(&mut keep).map_err(too_large);
    }
    Outcome {
        events,
        result,
        last_event_id: parser.last_event_id().to_string(),
        retry: parser.retry(),
    }
}

/// A reader that returns the given pieces, one per `read` (cut further only when the caller's
/// buffer is smaller), then EOF.
struct PieceReader {
    pieces: VecDeque<Vec<u8>>,
}

impl PieceReader {
    fn new(pieces: &[&[u8]]) -> Self {
        PieceReader {
            pieces: pieces
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| p.to_vec())
                .collect(),
        }
    }
}

impl Read for PieceReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(piece) = self.pieces.front_mut() else {
            return Ok(0);
        };
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        piece.drain(..n);
        if piece.is_empty() {
            self.pieces.pop_front();
        }
        Ok(n)
    }
}

/// Runs an `EventReader` with `parser` over a reader that hands out `pieces`.
fn run_reader(parser: Parser, pieces: &[&[u8]]) -> Outcome {
    let mut reader = EventReader::with_parser(PieceReader::new(pieces), parser);
    let mut events = Vec::new();
    let mut result = Ok(());
    for item in reader.by_ref() {
        match item {
            Ok(event) => events.push(event),
            Err(e) => {
                result = Err(too_large(e));
                break;
            }
        }
    }
    assert!(reader.next().is_none(), "the reader is fused");
    Outcome {
        events,
        result,
        last_event_id: reader.parser().last_event_id().to_string(),
        retry: reader.parser().retry(),
    }
}

/// [`run_reader`] through the borrowing `next_event`, each event copied out. With `mixed`, every
/// other event is taken with `next` instead: the two take turns on one reader.
fn run_reader_borrowed(parser: Parser, pieces: &[&[u8]], mixed: bool) -> Outcome {
    let mut reader = EventReader::with_parser(PieceReader::new(pieces), parser);
    let mut events = Vec::new();
    let mut result = Ok(());
    loop {
        let item = if mixed && events.len() % 2 == 1 {
            reader.next()
        } else {
            reader.next_event().map(|e| e.map(Event::from))
        };
        match item {
            Some(Ok(event)) => events.push(event),
            Some(Err(e)) => {
                result = Err(too_large(e));
                break;
            }
            None => break,
        }
    }
    assert!(reader.next_event().is_none(), "the reader is fused");
    Outcome {
        events,
        result,
        last_event_id: reader.parser().last_event_id().to_string(),
        retry: reader.parser().retry(),
    }
}

/// Every way of cutting `len` bytes that the table harness tries, as lists of cut points.
fn split_points(len: usize) -> Vec<Vec<usize>> {
    let mut all = vec![vec![]];
    for i in 0..=len {
        all.push(vec![i]);
    }
    all.push((1..len).collect()); // one byte per read
    if len <= 24 {
        for i in 1..len {
            for j in i + 1..len {
                all.push(vec![i, j]);
            }
        }
    } else {
        let mut rng = XorShift::new(len as u64);
        for _ in 0..40 {
            let mut cuts = [rng.below(len + 1), rng.below(len + 1)];
            cuts.sort_unstable();
            all.push(cuts.to_vec());
        }
    }
    all
}

fn cut<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for &c in cuts {
        pieces.push(&input[start..c]);
        start = c;
    }
    pieces.push(&input[start..]);
    pieces
}

/// A small xorshift PRNG: deterministic property tests without extra crates.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------------
// The spec table
// ---------------------------------------------------------------------------------------------

struct Case {
    name: &'static str,
    input: &'static [u8],
    /// The events with the default parser (an unterminated event is discarded).
    events: &'static [Ev],
    /// `last_event_id()` after the stream, with the default parser.
    last_id: &'static str,
    /// With `dispatch_unterminated(true)`, when that differs: the events and the last id.
    unterminated: Option<(&'static [Ev], &'static str)>,
}

const fn case(name: &'static str, input: &'static [u8], events: &'static [Ev]) -> Case {
    Case {
        name,
        input,
        events,
        last_id: "",
        unterminated: None,
    }
}

impl Case {
    const fn last_id(self, id: &'static str) -> Case {
        Case {
            last_id: id,
            ..self
        }
    }
    const fn unterminated(self, events: &'static [Ev], last_id: &'static str) -> Case {
        Case {
            unterminated: Some((events, last_id)),
            ..self
        }
    }
}

const MAX_RETRY: u64 = u64::MAX;

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Line ends.
    case("lf", b"data: hello\n\n", &[msg("hello")]),
    case("crlf", b"data: hello\r\n\r\n", &[msg("hello")]),
    case("lone cr", b"data: hello\r\r", &[msg("hello")]),
    case("all three mixed", b"data: a\r\ndata: b\rdata: c\n\r\n", &[msg("a\nb\nc")]),
    case("crlf between events", b"data: 1\r\n\r\ndata: 2\r\n\r\n", &[msg("1"), msg("2")]),
    case("crlf then lf blank line", b"data: x\r\n\n", &[msg("x")]),
    case("lf then cr are two line ends", b"data: x\n\rdata: y\n\n", &[msg("x"), msg("y")]),
    case("cr then crlf", b"data: x\r\r\n", &[msg("x")]),
    case("cr cr lf lf", b"data: x\r\r\n\ndata: y\n\n", &[msg("x"), msg("y")]),
    case("cr at the very end is a blank line", b"data: x\n\r", &[msg("x")]),
    case("cr at the very end ends a field line", b"data: x\r", &[])
        .unterminated(&[msg("x")], ""),
    case("lf cr lf", b"data: a\n\r\ndata: b\r\n\n", &[msg("a"), msg("b")]),
    case("only line ends", b"\n\r\n\r\r\n\n", &[]),
    case("empty stream", b"", &[]),
    // BOM.
    case("bom stripped", b"\xEF\xBB\xBFdata: x\n\n", &[msg("x")]),
    case("second bom is part of the field name", b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n", &[]),
    case("bom in a value is data", b"\xEF\xBB\xBFdata: \xEF\xBB\xBFx\n\n", &[msg("\u{FEFF}x")]),
    case("bom after the start is not stripped", b"data: a\n\n\xEF\xBB\xBFdata: b\n\n", &[msg("a")]),
    case("a partial bom is an invalid line", b"\xEF\xBB\ndata: x\n\n", &[msg("x")]),
    case("a partial bom then data", b"\xEF\xBBdata: x\n\n", &[]),
    case("a stream that is only a bom", b"\xEF\xBB\xBF", &[]),
    case("a bom then a blank line", b"\xEF\xBB\xBF\ndata: x\n\n", &[msg("x")]),
    // Comments and field parsing.
    case("comment ignored", b": comment\ndata: x\n\n", &[msg("x")]),
    case("comment-only block dispatches nothing", b": hi\n\n", &[]),
    case("bare colon line", b":\ndata: x\n\n", &[msg("x")]),
    case("comment with data-like text", b":data: no\n\n", &[]),
    case("field without colon: data", b"data\n\n", &[msg("")]),
    case("two data lines without colon", b"data\ndata\n\n", &[msg("\n")]),
    case("data colon and nothing", b"data:\n\n", &[msg("")]),
    case("one space stripped", b"data:  two\n\n", &[msg(" two")]),
    case("no space", b"data:x\n\n", &[msg("x")]),
    case("tab not stripped", b"data:\tx\n\n", &[msg("\tx")]),
    case("only a space", b"data: \n\n", &[msg("")]),
    case("trailing spaces kept", b"data: x  \n\n", &[msg("x  ")]),
    case("colons in the value", b"data: a:b: c\n\n", &[msg("a:b: c")]),
    case("data lines joined with lf", b"data: a\ndata: b\ndata: c\n\n", &[msg("a\nb\nc")]),
    case("two data lines, cr", b"data: a\rdata: b\r\rdata: c\r\r", &[msg("a\nb"), msg("c")]),
    case("two data lines, crlf, with a type and an id",
        b"event: t\r\nid: 5\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n",
        &[msg("a\nb").typ("t").id("5"), msg("c").id("5")]).last_id("5"),
    case("empty first of two data lines", b"data:\ndata: b\n\ndata: x\ndata\n\n",
        &[msg("\nb"), msg("x\n")]),
    case("a field between two data lines", b"data: a\nid: 1\ndata: b\n\n", &[msg("a\nb").id("1")]).last_id("1"),
    case("only one trailing lf removed", b"data: a\ndata:\n\n", &[msg("a\n")]),
    case("empty blocks dispatch nothing", b"\n\n\ndata: x\n\n\n\n", &[msg("x")]),
    case("unknown field ignored", b"foo: bar\ndata: x\nfoo\n\n", &[msg("x")]),
    case("field names are case-sensitive", b"Data: x\nDATA: y\n\n", &[]),
    case("a space before the colon", b"data : x\n\n", &[]),
    case("nul in data is kept", b"data: a\x00b\n\n", &[msg("a\u{0}b")]),
    // Event type.
    case("event type", b"event: add\ndata: 1\n\n", &[msg("1").typ("add")]),
    case("type reset after an event", b"event: add\ndata: 1\n\ndata: 2\n\n",
        &[msg("1").typ("add"), msg("2")]),
    case("type reset after a block without data", b"event: add\n\ndata: 2\n\n", &[msg("2")]),
    case("empty event field means message", b"event:\ndata: x\n\n", &[msg("x")]),
    case("event without colon means message", b"event\ndata: x\n\n", &[msg("x")]),
    case("last event field wins", b"event: a\nevent: b\ndata: x\n\n", &[msg("x").typ("b")]),
    case("event after data in the block", b"data: x\nevent: late\n\n", &[msg("x").typ("late")]),
    // Last event ID.
    case("id", b"id: 1\ndata: x\n\n", &[msg("x").id("1")]).last_id("1"),
    case("id persists", b"id: 1\ndata: x\n\ndata: y\n\n", &[msg("x").id("1"), msg("y").id("1")])
        .last_id("1"),
    case("empty id resets", b"id: 1\ndata: x\n\nid\ndata: y\n\nid: 2\n\nid:\ndata: z\n\n",
        &[msg("x").id("1"), msg("y"), msg("z")]),
    case("id with nul ignored", b"id: 1\ndata: x\n\nid: 2\x003\ndata: y\n\n",
        &[msg("x").id("1"), msg("y").id("1")]).last_id("1"),
    case("id set by a block without data", b"id: 5\n\ndata: x\n\n", &[msg("x").id("5")])
        .last_id("5"),
    case("id only, nothing dispatched", b"id: 5\n\n", &[]).last_id("5"),
    case("id after data in the block", b"data: x\nid: 7\n\n", &[msg("x").id("7")]).last_id("7"),
    case("id spaces kept but one", b"id:  a b \ndata: x\n\n", &[msg("x").id(" a b ")])
        .last_id(" a b "),
    case("id of an unterminated block", b"id: 1\ndata: x\n\nid: 2\ndata: y",
        &[msg("x").id("1")]).last_id("1")
        .unterminated(&[msg("x").id("1"), msg("y").id("2")], "2"),
    case("id of an unterminated block without data", b"id: 1\n\nid: 2\n", &[]).last_id("1")
        .unterminated(&[], "2"),
    case("invalid utf-8 in id", b"id: \xFF\ndata: x\n\n", &[msg("x").id("\u{FFFD}")])
        .last_id("\u{FFFD}"),
    // Retry.
    case("retry", b"retry: 100\ndata: x\n\n", &[msg("x").retry(100)]),
    case("retry applies to later events", b"retry: 100\n\ndata: x\n\ndata: y\n\n",
        &[msg("x").retry(100), msg("y").retry(100)]),
    case("retry 1a ignored", b"retry: 1a\ndata: x\n\n", &[msg("x")]),
    case("retry with a second space ignored", b"retry:  100\ndata: x\n\n", &[msg("x")]),
    case("retry empty ignored", b"retry:\nretry\nretry: \ndata: x\n\n", &[msg("x")]),
    case("retry signs and dots ignored", b"retry: -1\nretry: +1\nretry: 1.5\ndata: x\n\n",
        &[msg("x")]),
    case("invalid retry keeps the previous", b"retry: 5\nretry: x\ndata: a\n\n",
        &[msg("a").retry(5)]),
    case("retry zero", b"retry: 0\ndata: x\n\n", &[msg("x").retry(0)]),
    case("retry leading zeros", b"retry: 007\ndata: x\n\n", &[msg("x").retry(7)]),
    case("huge retry saturates", b"retry: 99999999999999999999999999\ndata: x\n\n",
        &[msg("x").retry(MAX_RETRY)]),
    case("retry after the event", b"data: x\n\nretry: 9\ndata: y\n\n",
        &[msg("x"), msg("y").retry(9)]),
    // End of stream.
    case("unterminated event discarded", b"data: x", &[]).unterminated(&[msg("x")], ""),
    case("unterminated after a line end", b"data: x\n", &[]).unterminated(&[msg("x")], ""),
    case("unterminated with a type", b"event: e\ndata: x", &[])
        .unterminated(&[msg("x").typ("e")], ""),
    case("unterminated event line without data", b"data: a\n\nevent: e", &[msg("a")]),
    case("unterminated comment", b"data: a\n\n: bye", &[msg("a")]),
    // UTF-8.
    case("invalid utf-8 is replaced", b"data: a\xFFb\n\n", &[msg("a\u{FFFD}b")]),
    case("multi-byte characters", b"data: caf\xC3\xA9 \xF0\x9F\x98\x80\n\n", &[msg("caf\u{e9} \u{1F600}")]),
    case("truncated character", b"data: \xE2\x82\n\n", &[msg("\u{FFFD}")]),
    case("truncated character before a line end", b"data: \xF0\x9F\x98\ndata: x\n\n",
        &[msg("\u{FFFD}\nx")]),
    case("invalid type", b"event: \xC3\ndata: x\n\n", &[msg("x").typ("\u{FFFD}")]),
    // The spec's examples.
    case("spec: stock ticker", b"data: YHOO\ndata: +2\ndata: 10\n\n", &[msg("YHOO\n+2\n10")]),
    case("spec: ids", b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
        &[msg("first event").id("1"), msg("second event")])
        .unterminated(&[msg("first event").id("1"), msg("second event"), msg(" third event")], ""),
    case("spec: empty data", b"data\n\ndata\ndata\n\ndata:", &[msg(""), msg("\n")])
        .unterminated(&[msg(""), msg("\n"), msg("")], ""),
    case("spec: space after colon", b"data:test\n\ndata: test\n\n", &[msg("test"), msg("test")]),
    // Real-world shapes.
    case("anthropic style", b"event: content_block_delta\r\nid: 3\r\ndata: {\"a\":1,\r\ndata: \"b\":2}\r\n: ping\r\n\r\n",
        &[msg("{\"a\":1,\n\"b\":2}").typ("content_block_delta").id("3")]).last_id("3"),
    case("openai style with done", b"data: {\"x\":1}\n\ndata: [DONE]\n\n",
        &[msg("{\"x\":1}"), msg("[DONE]")]),
    case("a line longer than one search block",
        b"data: 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n\r\n",
        &[msg("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz")]),
];

fn expected(case: &Case, unterminated: bool) -> Outcome {
    let (events, last_id) = match (unterminated, case.unterminated) {
        (true, Some(other)) => other,
        _ => (case.events, case.last_id),
    };
    let events: Vec<Event> = events.iter().map(|e| e.to_event()).collect();
    // The retry in force at the end is the one of the spec model; the table states it on the
    // events, so compute it from the reference model (checked against the table just below).
    Outcome {
        events,
        result: Ok(()),
        last_event_id: last_id.to_string(),
        retry: reference(case.input, DEFAULT_MAX_EVENT_SIZE, unterminated).retry,
    }
}

#[test]
fn the_table_is_big_enough() {
    assert!(CASES.len() >= 40, "{} cases", CASES.len());
    let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names are unique");
}

#[test]
fn spec_cases_in_one_piece() {
    for case in CASES {
        for unterminated in [false, true] {
            let parser = Parser::new().dispatch_unterminated(unterminated);
            let got = run_feed(parser, &[case.input]);
            assert_eq!(
                got,
                expected(case, unterminated),
                "case {:?} (dispatch_unterminated: {unterminated})",
                case.name
            );
        }
    }
}

#[test]
fn spec_cases_under_every_split() {
    let mut runs = 0;
    for case in CASES {
        for unterminated in [false, true] {
            let want = expected(case, unterminated);
            for cuts in split_points(case.input.len()) {
                let pieces = cut(case.input, &cuts);
                let parser = Parser::new().dispatch_unterminated(unterminated);
                assert_eq!(
                    run_feed(parser.clone(), &pieces),
                    want,
                    "case {:?}, feed pieces {pieces:?}, dispatch_unterminated: {unterminated}",
                    case.name
                );
                assert_eq!(
                    run_feed_ref(parser.clone(), &pieces),
                    want,
                    "case {:?}, feed_ref pieces {pieces:?}, dispatch_unterminated: {unterminated}",
                    case.name
                );
                assert_eq!(
                    run_reader_borrowed(parser.clone(), &pieces, cuts.len() % 2 == 1),
                    want,
                    "case {:?}, next_event pieces {pieces:?}, dispatch_unterminated: {unterminated}",
                    case.name
                );
                assert_eq!(
                    run_reader(parser, &pieces),
                    want,
                    "case {:?}, reader pieces {pieces:?}, dispatch_unterminated: {unterminated}",
                    case.name
                );
                runs += 4;
            }
        }
    }
    assert!(runs > 10_000, "{runs} runs");
}

#[test]
fn the_reference_model_agrees_with_the_table() {
    // The property tests trust the model below; the table is what it is trusted on.
    for case in CASES {
        for unterminated in [false, true] {
            assert_eq!(
                reference(case.input, DEFAULT_MAX_EVENT_SIZE, unterminated),
                expected(case, unterminated),
                "case {:?}, dispatch_unterminated: {unterminated}",
                case.name
            );
        }
    }
}

#[test]
fn a_cr_ending_one_feed_and_an_lf_starting_the_next_is_one_line_end() {
    // The LF must not become a blank line that dispatches early.
    let mut events = Vec::new();
    let mut parser = Parser::new();
    parser.feed(b"data: a\r", &mut |e| events.push(e)).unwrap();
    parser
        .feed(b"\ndata: b\r", &mut |e| events.push(e))
        .unwrap();
    parser.feed(b"\n\r", &mut |e| events.push(e)).unwrap();
    assert_eq!(events, [msg("a\nb").to_event()]);
}

/// Owned events take their type and id from copies the parser keeps (made when a short value
/// is set, or when the first owned event needs it); these must follow every change of type and
/// id, whichever of `next` and `next_event` read the events before.
#[test]
fn owned_events_follow_every_change_of_type_and_id() {
    let long_id = "an-id-longer-than-twenty-three-bytes";
    let long_type = "a_type_longer_than_twenty_three_bytes";
    let stream = format!(
        "event: a\nid: 1\ndata: 1\n\n\
         event: a\ndata: 2\n\n\
         id: 2\ndata: 3\n\n\
         event: b\nid: {long_id}\ndata: 4\n\n\
         event: {long_type}\ndata: 5\n\n\
         event: {long_type}\nid: 3\ndata: 6\n\n\
         id\ndata: 7\n\n\
         event: a\nid: \0\ndata: 8\n\n\
         id: {long_id}\ndata: 9\n\n"
    );
    // What the borrowing path sees: each event is copied out of its `EventRef`.
    let mut want = Vec::new();
    let mut reader = EventReader::new(stream.as_bytes());
    while let Some(event) = reader.next_event() {
        want.push(Event::from(event.unwrap()));
    }
    assert_eq!(want.len(), 9);
    assert_eq!(
        (want[3].event.as_str(), want[3].id.as_deref()),
        ("b", Some(long_id))
    );
    assert_eq!(want[6].id, None, "an empty id resets it");
    assert_eq!(want[7].id, None, "an id with NUL is ignored");
    // Every pattern of the two calls over the nine events, and the parser's own `feed`.
    for pattern in 0u32..512 {
        let mut reader = EventReader::with_parser(stream.as_bytes(), Parser::new());
        let got: Vec<Event> = (0..9)
            .map(|i| match pattern >> i & 1 {
                1 => reader.next().unwrap().unwrap(),
                _ => Event::from(reader.next_event().unwrap().unwrap()),
            })
            .collect();
        assert_eq!(got, want, "pattern {pattern:09b}");
    }
    let mut parser = Parser::new().with_last_event_id("0");
    let mut got = Vec::new();
    parser
        .feed(b"data: before\n\n", &mut |e| got.push(e))
        .unwrap();
    parser
        .feed(stream.as_bytes(), &mut |e| got.push(e))
        .unwrap();
    assert_eq!(got[0].id.as_deref(), Some("0"));
    assert_eq!(got[1..], want[..]);
}

#[test]
fn a_split_bom_is_stripped_once() {
    for cuts in split_points(6) {
        let input = b"\xEF\xBB\xBF\xEF\xBB\xBF";
        let mut events = Vec::new();
        let mut parser = Parser::new();
        for piece in cut(input, &cuts) {
            parser.feed(piece, &mut |e| events.push(e)).unwrap();
        }
        parser
            .feed(b": x\ndata: y\n\n", &mut |e| events.push(e))
            .unwrap();
        // The second BOM starts a line; ": x" is part of that line, so the field is
        // "\u{FEFF}" with value "x": ignored.
        assert_eq!(events, [msg("y").to_event()], "cuts {cuts:?}");
    }
}

#[test]
fn after_finish_the_parser_starts_a_new_stream() {
    // A reconnection: the new stream starts clean (its BOM is stripped, nothing of the cut event
    // leaks into it) but keeps the last event ID and the reconnection time.
    for unterminated in [false, true] {
        let mut events = Vec::new();
        let mut parser = Parser::new().dispatch_unterminated(unterminated);
        let first = b"\xEF\xBB\xBFretry: 30\nid: 1\ndata: a\n\nevent: cut\nid: 2\ndata: lo";
        parser.feed(first, &mut |e| events.push(e)).unwrap();
        parser.finish(&mut |e| events.push(e)).unwrap();
        let mut want = vec![msg("a").id("1").retry(30).to_event()];
        if unterminated {
            want.push(msg("lo").typ("cut").id("2").retry(30).to_event());
        }
        assert_eq!(events, want);
        let id = if unterminated { "2" } else { "1" };
        assert_eq!(parser.last_event_id(), id);

        events.clear();
        parser
            .feed(b"\xEF\xBB\xBFdata: b\n\n", &mut |e| events.push(e))
            .unwrap();
        parser.finish(&mut |e| events.push(e)).unwrap();
        let mut b = msg("b").retry(30).to_event();
        b.id = Some(id.into());
        assert_eq!(events, [b]);
    }
}

// ---------------------------------------------------------------------------------------------
// Limits and memory
// ---------------------------------------------------------------------------------------------

fn all_splits_give(input: &[u8], max: usize, want_events: &[Ev], want: Result<(), usize>) {
    for unterminated in [false, true] {
        for cuts in split_points(input.len()) {
            let pieces = cut(input, &cuts);
            let parser = Parser::new()
                .max_event_size(max)
                .dispatch_unterminated(unterminated);
            for got in [
                run_feed(parser.clone(), &pieces),
                run_feed_ref(parser.clone(), &pieces),
                run_reader_borrowed(parser.clone(), &pieces, false),
                run_reader(parser, &pieces),
            ] {
                let events: Vec<Event> = want_events.iter().map(|e| e.to_event()).collect();
                assert_eq!(got.events, events, "pieces {pieces:?}");
                assert_eq!(got.result, want, "pieces {pieces:?}");
            }
        }
    }
}

#[test]
fn a_line_longer_than_the_limit_is_an_error() {
    all_splits_give(
        b"data: 1\n\ndata: 0123456789abcdef\n\n",
        16,
        &[msg("1")],
        Err(16),
    );
    all_splits_give(
        b"data: 1\n\n: a long comment line\n",
        16,
        &[msg("1")],
        Err(16),
    );
    all_splits_give(
        b"data: 1\n\nno colon and too long",
        16,
        &[msg("1")],
        Err(16),
    );
}

#[test]
fn a_line_at_the_limit_is_fine() {
    all_splits_give(
        b"data: 0123456789\r\n\r\n",
        16,
        &[msg("0123456789")],
        Ok(()),
    );
}

#[test]
fn an_event_whose_lines_fit_but_whose_data_does_not_is_an_error() {
    // Each line is 16 bytes; the data would be 10 + 1 + 10 = 21 bytes.
    all_splits_give(
        b"data: 1\n\ndata: 0123456789\ndata: 0123456789\n\n",
        20,
        &[msg("1")],
        Err(20),
    );
    // 9 + 1 + 10 = 20 bytes: exactly the limit.
    all_splits_give(
        b"data: 012345678\ndata: 0123456789\n\n",
        20,
        &[msg("012345678\n0123456789")],
        Ok(()),
    );
}

#[test]
fn the_limit_counts_data_across_many_short_lines() {
    let mut input = Vec::new();
    for _ in 0..2000 {
        input.extend_from_slice(b"data: abc\n");
    }
    let mut parser = Parser::new().max_event_size(1000);
    let err = parser
        .feed(&input, &mut |_| panic!("no blank line"))
        .unwrap_err();
    assert_eq!(too_large(err), 1000);
}

#[test]
fn memory_stays_bounded_without_a_line_end() {
    const LIMIT: usize = 1 << 20;
    let chunk = vec![b'a'; 64 * 1024];
    let mut parser = Parser::new().max_event_size(LIMIT);
    let mut fed = 0;
    let mut failed = false;
    while fed < 64 << 20 {
        match parser.feed(&chunk, &mut |_| panic!("no line end, no event")) {
            Ok(()) => fed += chunk.len(),
            Err(e) => {
                assert_eq!(too_large(e), LIMIT);
                failed = true;
                break;
            }
        }
        assert!(
            parser.buffered_capacity() <= LIMIT + 4096,
            "{} bytes reserved after {fed} bytes",
            parser.buffered_capacity()
        );
    }
    assert!(
        failed,
        "64 MiB without a line end must fail with a 1 MiB limit"
    );
    assert!(fed <= LIMIT, "failed only after {fed} bytes");
    assert_eq!(
        parser.buffered_capacity(),
        0,
        "the buffers are freed after the error"
    );
}

#[test]
fn memory_stays_bounded_with_endless_data_lines() {
    const LIMIT: usize = 1 << 20;
    let line = [b"data: ".as_slice(), &[b'z'; 1000], b"\n"].concat();
    let mut parser = Parser::new().max_event_size(LIMIT);
    let mut result = Ok(());
    for _ in 0..(8 << 20) / line.len() {
        result = parser.feed(&line, &mut |_| panic!("no blank line, no event"));
        assert!(parser.buffered_capacity() <= LIMIT + 4096);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.map_err(too_large), Err(LIMIT));
}

#[test]
fn an_event_reader_yields_the_limit_error_once() {
    let input = b"data: ok\n\ndata: far too long for the limit\n\ndata: never\n\n";
    let parser = Parser::new().max_event_size(12);
    let mut events = EventReader::with_parser(&input[..], parser);
    assert_eq!(events.next().unwrap().unwrap().data, "ok");
    assert_eq!(too_large(events.next().unwrap().unwrap_err()), 12);
    assert!(events.next().is_none());
    assert!(events.next().is_none());
}

#[test]
fn the_default_limit_is_16_mib() {
    assert_eq!(DEFAULT_MAX_EVENT_SIZE, 16 * 1024 * 1024);
    let line = vec![b'x'; DEFAULT_MAX_EVENT_SIZE + 1];
    let err = Parser::new().feed(&line, &mut |_| {}).unwrap_err();
    assert_eq!(too_large(err), DEFAULT_MAX_EVENT_SIZE);
}

// ---------------------------------------------------------------------------------------------
// A reference model, written plainly from the spec, for the property tests
// ---------------------------------------------------------------------------------------------

/// The spec's algorithm over a whole stream at once: no chunking, no speed, easy to check by
/// reading. Limits: a line (as received, without its line end) or an event's data (as decoded
/// UTF-8) longer than `max` bytes stops the stream with `Err(max)`.
fn reference(input: &[u8], max: usize, unterminated: bool) -> Outcome {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\n' => {
                lines.push(&input[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&input[start..i]);
                i += if input.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    let rest = &input[start..];

    let mut out = Outcome {
        events: Vec::new(),
        result: Ok(()),
        last_event_id: String::new(),
        retry: None,
    };
    let mut data = String::new();
    let mut event_type = String::new();
    let mut id_buffer = String::new();
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();

    let mut process = |line: &[u8], out: &mut Outcome, data: &mut String| -> Result<(), usize> {
        if line.len() > max {
            return Err(max);
        }
        if line.is_empty() {
            out.last_event_id = id_buffer.clone();
            if data.is_empty() {
                event_type.clear();
                return Ok(());
            }
            data.pop();
            out.events.push(Event {
                event: if event_type.is_empty() {
                    "message".into()
                } else {
                    event_type.as_str().into()
                },
                data: data.clone(),
                id: Some(out.last_event_id.as_str().into()).filter(|id: &SmolStr| !id.is_empty()),
                retry: out.retry,
            });
            data.clear();
            event_type.clear();
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, mut value): (&[u8], &[u8]) = match line.iter().position(|&b| b == b':') {
            Some(c) => (&line[..c], &line[c + 1..]),
            None => (line, b""),
        };
        if value.first() == Some(&b' ') {
            value = &value[1..];
        }
        match &lossy(name)[..] {
            "event" => event_type = lossy(value),
            "data" => {
                let value = lossy(value);
                if data.len() + value.len() > max {
                    return Err(max);
                }
                data.push_str(&value);
                data.push('\n');
            }
            "id" => {
                let value = lossy(value);
                if !value.contains('\0') {
                    id_buffer = value;
                }
            }
            "retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // All digits: too big for u64 is the only way to fail, and it saturates.
                let ms = std::str::from_utf8(value)
                    .unwrap()
                    .parse::<u64>()
                    .unwrap_or(u64::MAX);
                out.retry = Some(Duration::from_millis(ms));
            }
            _ => {}
        }
        Ok(())
    };

    for line in lines {
        if let Err(limit) = process(line, &mut out, &mut data) {
            out.result = Err(limit);
            return out;
        }
    }
    if rest.len() > max {
        out.result = Err(max);
        return out;
    }
    if unterminated {
        let result = if rest.is_empty() {
            Ok(())
        } else {
            process(rest, &mut out, &mut data)
        };
        if let Err(limit) = result.and_then(|()| process(b"", &mut out, &mut data)) {
            out.result = Err(limit);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// SSE-shaped random bytes: mostly field lines and blank lines made of the tokens that matter
/// to the parser, with noise.
fn random_stream(rng: &mut XorShift) -> Vec<u8> {
    const NAMES: &[&[u8]] = &[
        b"data",
        b"data",
        b"data",
        b"id",
        b"event",
        b"retry",
        b"",
        b"dat",
        b"\xEF\xBB\xBFdata",
    ];
    const SEPARATORS: &[&[u8]] = &[b"", b":", b": ", b": ", b":  ", b":\t", b"::"];
    const VALUE: &[&[u8]] = &[
        b"x",
        b"hello",
        b" ",
        b"\t",
        b":",
        b"1",
        b"42",
        b"99999999999999999999",
        b"\0",
        b"\xFF",
        b"\xEF\xBB\xBF",
        b"\xEF",
        b"\xBB",
        b"\xC3",
        b"\xA9",
        b"\xF0\x9F\x98\x80",
        b"a:b",
        b"-",
    ];
    const ENDS: &[&[u8]] = &[b"\n", b"\n", b"\r\n", b"\r"];
    let mut out = Vec::new();
    if rng.below(4) == 0 {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    for _ in 0..rng.below(12) {
        match rng.below(10) {
            // A blank line.
            0..=2 => out.extend_from_slice(ENDS[rng.below(ENDS.len())]),
            // Noise: any bytes, line ends included.
            3 => {
                for _ in 0..rng.below(6) {
                    out.push(match rng.below(4) {
                        0 => b'\r',
                        1 => b'\n',
                        _ => rng.next() as u8,
                    });
                }
            }
            // A field line (a comment when the name is empty and a colon follows).
            _ => {
                out.extend_from_slice(NAMES[rng.below(NAMES.len())]);
                out.extend_from_slice(SEPARATORS[rng.below(SEPARATORS.len())]);
                for _ in 0..rng.below(4) {
                    out.extend_from_slice(VALUE[rng.below(VALUE.len())]);
                }
                out.extend_from_slice(ENDS[rng.below(ENDS.len())]);
            }
        }
    }
    // Often cut the stream short, inside a line or a line end.
    if rng.below(3) == 0 {
        let keep = rng.below(out.len() + 1);
        out.truncate(keep);
    }
    out
}

#[test]
fn random_streams_match_the_reference_under_random_splits() {
    let mut rng = XorShift::new(7);
    let mut events_seen = 0;
    let mut errors_seen = 0;
    for round in 0..10_000 {
        let input = random_stream(&mut rng);
        let max = [
            8,
            16,
            64,
            256,
            DEFAULT_MAX_EVENT_SIZE,
            DEFAULT_MAX_EVENT_SIZE,
        ][rng.below(6)];
        let unterminated = rng.below(2) == 0;
        let want = reference(&input, max, unterminated);
        let parser = Parser::new()
            .max_event_size(max)
            .dispatch_unterminated(unterminated);

        let whole = run_feed(parser.clone(), &[&input]);
        assert_eq!(
            whole, want,
            "round {round}: input {input:?}, max {max}, dispatch_unterminated {unterminated}"
        );
        for event in &whole.events {
            assert!(
                event.data.len() <= max,
                "round {round}: {event:?} over {max}"
            );
        }
        events_seen += whole.events.len();
        errors_seen += whole.result.is_err() as usize;

        for _ in 0..4 {
            let mut cuts: Vec<usize> = (0..rng.below(5))
                .map(|_| rng.below(input.len() + 1))
                .collect();
            cuts.sort_unstable();
            let pieces = cut(&input, &cuts);
            assert_eq!(
                run_feed(parser.clone(), &pieces),
                want,
                "round {round}: {pieces:?}"
            );
            assert_eq!(
                run_reader(parser.clone(), &pieces),
                want,
                "round {round}: {pieces:?}"
            );
            assert_eq!(
                run_reader_borrowed(parser.clone(), &pieces, round % 2 == 0),
                want,
                "round {round}, next_event: {pieces:?}"
            );
            assert_eq!(
                run_feed_ref(parser.clone(), &pieces),
                want,
                "round {round}, feed_ref: {pieces:?}"
            );
        }
    }
    // The generator must actually exercise dispatch and the limits.
    assert!(events_seen > 3000, "{events_seen} events");
    assert!(errors_seen > 500, "{errors_seen} errors");
}

#[test]
fn random_bytes_never_panic_and_stay_within_the_limit() {
    let mut rng = XorShift::new(99);
    for _ in 0..2000 {
        let len = rng.below(300);
        let input: Vec<u8> = (0..len)
            .map(|_| match rng.below(8) {
                0 => b'\r',
                1 => b'\n',
                2 => b':',
                _ => rng.next() as u8,
            })
            .collect();
        let mut parser = Parser::new().max_event_size(32);
        let mut rest = &input[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len());
            let result = parser.feed(&rest[..n], &mut |e| assert!(e.data.len() <= 32));
            assert!(parser.buffered_capacity() <= 4 * 32 + 256);
            if result.is_err() {
                break;
            }
            rest = &rest[n..];
        }
        let _ = parser.finish(&mut |e| assert!(e.data.len() <= 32));
    }
}

// ---------------------------------------------------------------------------------------------
// EventReader
// ---------------------------------------------------------------------------------------------

/// Returns its script of results, one per `read`.
struct Script(VecDeque<io::Result<Vec<u8>>>);

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.pop_front() {
            None => Ok(0),
            Some(Err(e)) => Err(e),
            Some(Ok(bytes)) => {
                assert!(bytes.len() <= buf.len());
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
        }
    }
}

#[test]
fn interrupted_reads_are_retried() {
    let interrupted = || Err(io::Error::from(io::ErrorKind::Interrupted));
    let script = Script(VecDeque::from([
        interrupted(),
        Ok(b"data: a".to_vec()),
        interrupted(),
        interrupted(),
        Ok(b"\n\ndata: b\n\n".to_vec()),
        interrupted(),
    ]));
    let datas: Vec<String> = EventReader::new(script).map(|e| e.unwrap().data).collect();
    assert_eq!(datas, ["a", "b"]);
}

#[test]
fn an_io_error_is_yielded_once_then_the_reader_ends() {
    let script = Script(VecDeque::from([
        Ok(b"data: a\n\ndata: cut".to_vec()),
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
        Ok(b"\n\ndata: after\n\n".to_vec()),
    ]));
    let mut events = EventReader::new(script);
    assert_eq!(events.next().unwrap().unwrap().data, "a");
    match events.next() {
        Some(Err(Error::Io(e))) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected the io error, got {other:?}"),
    }
    assert!(events.next().is_none());
    assert!(events.next().is_none());
}

/// A read that timed out (a socket's read timeout) is yielded and ends nothing: the next call
/// reads again, and the event it had begun comes whole.
#[test]
fn a_read_that_timed_out_is_yielded_and_the_next_call_reads_again() {
    use io::ErrorKind::{TimedOut, WouldBlock};
    let script = Script(VecDeque::from([
        Ok(b"data: first\n\ndata: par".to_vec()),
        Err(io::Error::from(WouldBlock)),
        Ok(b"tial\n\n".to_vec()),
        Err(io::Error::from(TimedOut)),
        Err(io::Error::from(TimedOut)),
        Ok(b"data: third\n\n".to_vec()),
    ]));
    let seen: Vec<String> = EventReader::new(script)
        .map(|e| match e {
            Ok(event) => event.data,
            Err(Error::Io(io)) => format!("{:?}", io.kind()),
            Err(other) => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            "first",
            "WouldBlock",
            "partial",
            "TimedOut",
            "TimedOut",
            "third"
        ]
    );
}

/// Hands out one piece per read, and fails the test when it is read more often than the test
/// allowed so far: the event reader must not read ahead of what it needs.
struct Lockstep {
    pieces: VecDeque<&'static [u8]>,
    reads: usize,
    allowed: Rc<Cell<usize>>,
}

impl Lockstep {
    fn new(pieces: &[&'static [u8]]) -> (Self, Rc<Cell<usize>>) {
        let allowed = Rc::new(Cell::new(0));
        let reader = Lockstep {
            pieces: pieces.iter().copied().collect(),
            reads: 0,
            allowed: allowed.clone(),
        };
        (reader, allowed)
    }
}

impl Read for Lockstep {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        assert!(
            self.reads <= self.allowed.get(),
            "read {} while only {} reads were needed",
            self.reads,
            self.allowed.get()
        );
        let Some(piece) = self.pieces.pop_front() else {
            return Ok(0);
        };
        buf[..piece.len()].copy_from_slice(piece);
        Ok(piece.len())
    }
}

#[test]
fn events_are_yielded_before_the_reader_reaches_eof() {
    let (reader, allowed) = Lockstep::new(&[
        b"data: 1\n\n",
        b"event: e\r\ndata: 2\r\n\r\n",
        b"data: 3\r",
        // The blank line of event 3 is this lone CR.
        b"\r",
    ]);
    let mut events = EventReader::new(reader);
    allowed.set(1);
    assert_eq!(events.next().unwrap().unwrap().data, "1");
    allowed.set(2);
    let event = events.next().unwrap().unwrap();
    assert_eq!((&event.event[..], &event.data[..]), ("e", "2"));
    allowed.set(4); // event 3 takes two reads
    assert_eq!(events.next().unwrap().unwrap().data, "3");
    allowed.set(5); // and now the read that sees EOF
    assert!(events.next().is_none());
}

#[test]
fn a_cr_at_the_end_of_a_read_dispatches_without_waiting_for_the_next_read() {
    // If the reader waited to see whether an LF follows the CR, it would read again and panic.
    let (reader, allowed) = Lockstep::new(&[b"data: x\r\r", b"\ndata: y\r\n\r\n"]);
    let mut events = EventReader::new(reader);
    allowed.set(1);
    assert_eq!(events.next().unwrap().unwrap().data, "x");
    allowed.set(2);
    assert_eq!(events.next().unwrap().unwrap().data, "y");
    allowed.set(3);
    assert!(events.next().is_none());
}

#[test]
fn into_inner_and_parser() {
    let mut events = EventReader::new(&b"id: 3\ndata: a\n\nretry: 10\n"[..]);
    assert_eq!(events.next().unwrap().unwrap().id.as_deref(), Some("3"));
    assert!(events.next().is_none());
    assert_eq!(events.parser().last_event_id(), "3");
    assert_eq!(events.parser().retry(), Some(Duration::from_millis(10)));
    let rest: &[u8] = events.into_inner();
    assert!(rest.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Real captured streams
// ---------------------------------------------------------------------------------------------

#[test]
fn real_llm_streams_parse_the_same_in_any_pieces() {
    let dir = crate::llm_streams_dir();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("sse") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let want = reference(&bytes, DEFAULT_MAX_EVENT_SIZE, false);
        assert_eq!(want.result, Ok(()));
        assert!(!want.events.is_empty(), "{}: no events", path.display());
        assert_eq!(
            run_feed(Parser::new(), &[&bytes]),
            want,
            "{}",
            path.display()
        );
        // A few bytes per read, as a slow server would send them.
        for size in [1, 3, 7, 64] {
            let pieces: Vec<&[u8]> = bytes.chunks(size).collect();
            assert_eq!(
                run_reader(Parser::new(), &pieces),
                want,
                "{} in {size}s",
                path.display()
            );
            assert_eq!(
                run_reader_borrowed(Parser::new(), &pieces, size == 3),
                want,
                "{} in {size}s, next_event",
                path.display()
            );
        }
        assert_eq!(
            run_feed_ref(Parser::new(), &[&bytes]),
            want,
            "{}, feed_ref",
            path.display()
        );
        files += 1;
    }
    assert!(
        files > 10,
        "only {files} streams found in {}",
        dir.display()
    );
}

#[test]
fn a_borrowed_event_is_the_owned_event() {
    // Single-line data borrowed from the read, joined data from the parser, the type and id from
    // the parser's buffers, across reads of every size.
    let input = b"event: a\r\nid: 1\r\ndata: x\r\n\r\ndata: y\ndata: z\n\nretry: 5\ndata: w\n\n";
    let want = [
        msg("x").typ("a").id("1"),
        msg("y\nz").id("1"),
        msg("w").id("1").retry(5),
    ];
    for size in 1..=input.len() {
        let mut reader =
            EventReader::new(PieceReader::new(&input.chunks(size).collect::<Vec<_>>()));
        for ev in want {
            let got = reader.next_event().expect("an event").expect("no error");
            assert_eq!(got, ev.to_event(), "reads of {size}");
            assert_eq!(Event::from(got), ev.to_event(), "reads of {size}");
        }
        assert!(reader.next_event().is_none());
    }
}
