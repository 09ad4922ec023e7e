//! JSON objects sent on lines of their own in an event stream, outside any event.
//!
//! Google's `streamGenerateContent?alt=sse` reports a failure after the answer has begun as an
//! `{"error": ...}` object, pretty-printed one member a line, without a `data:` field (its SDK
//! reads such lines as a chunk, gathered until their braces balance). None of those lines is a
//! field, so the spec's parser ignores every one, and the answer looked cut without the server's
//! words. [`ObjectLines`] hands such an object to the parser as the data of an event of the
//! default type, which the decoder then reads as it reads an `error` object in a chunk.

use memchr::memchr2;

use super::{EventRef, Parser};
use crate::Error;

/// A [`Parser`] whose input is rewritten on its way in: a line that starts with `{` in a block
/// (the lines since the last blank line) that has no `data` field, and each line after it up to
/// the next blank line (comments aside), becomes a `data:` line. At the end of the stream an
/// object that no blank line has ended yet is dispatched: it is mostly the last thing sent,
/// without a blank line after it, and its last line may lack its line end.
///
/// The rest is the spec's reading. A line that starts with `{` after a `data` field of its block
/// is a field named `{...`, ignored (Google's SDK would read it as an object; Google ends each
/// chunk's event with a blank line, so that its error objects come after one, where they are
/// read: the choice costs nothing on its streams and keeps another server's stray line out of
/// an event's data). A line that starts with a letter no line of a JSON object
/// starts with (all but `t`, `f` and `n`, of `true`, `false` and `null`) is a field, not the
/// object's: it ends the object as a blank line would, so that a `data:` line sent right after a
/// one-line object is an event of its own, not a part of the object.
///
/// Options considered: the parser reading such lines itself (a test in its parse loop for lines
/// that are no field) made its owned events about 5% slower on the OpenAI-style corpus of
/// `benches/sse_parse.rs` (the median of 6 alternating pairs; none faster), on every stream,
/// where `perf` showed the same instructions taking the same shares (code placement);
/// counting the braces to dispatch when they balance, as the SDK does, needs a JSON-aware
/// reader of lines, for a stream that ends there anyway. The rewrite
/// costs a copy of each chunk, on the streams that ask for it only (Gemini's).
pub(crate) struct ObjectLines {
    parser: Parser,
    /// The chunk as the parser gets it, kept for the next one.
    out: Vec<u8>,
    /// The next byte starts a line.
    at_start: bool,
    /// The last byte was a CR: an LF next ends the same line.
    after_cr: bool,
    /// An object has begun since the last blank line.
    open: bool,
    /// The block has a `data` field (or an object, its data).
    has_data: bool,
    /// How many bytes of the line so far are those of `data`, while they may be a `data` field.
    head: Option<u8>,
}

impl ObjectLines {
    pub(crate) fn new(parser: Parser) -> ObjectLines {
        ObjectLines {
            parser,
            out: Vec::new(),
            at_start: true,
            after_cr: false,
            open: false,
            has_data: false,
            head: None,
        }
    }

    /// The parser, for the state a reconnection needs.
    pub(crate) fn parser(&self) -> &Parser {
        &self.parser
    }

    /// [`Parser::feed_ref`] of `bytes` rewritten.
    pub(crate) fn feed_ref(
        &mut self,
        bytes: &[u8],
        on_event: &mut impl FnMut(EventRef<'_>),
    ) -> Result<(), Error> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        self.rewrite(bytes, &mut out);
        let result = self.parser.feed_ref(&out, on_event);
        self.out = out;
        result
    }

    /// [`Parser::finish_ref`], after the end of an object still open.
    pub(crate) fn finish_ref(
        &mut self,
        on_event: &mut impl FnMut(EventRef<'_>),
    ) -> Result<(), Error> {
        if std::mem::take(&mut self.open) {
            // Ends its last line if it has no line end, then a blank line dispatches it.
            self.parser.feed_ref(b"\n\n", on_event)?;
        }
        self.at_start = true;
        self.after_cr = false;
        self.has_data = false;
        self.head = None;
        self.parser.finish_ref(on_event)
    }

    /// Appends `bytes` to `out`, an object's lines as `data:` lines.
    fn rewrite(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while let Some(&first) = bytes.first() {
            if self.at_start {
                if first == b'\n' && self.after_cr {
                    // The LF of a CRLF.
                    out.push(first);
                    self.after_cr = false;
                    bytes = &bytes[1..];
                    continue;
                }
                self.after_cr = false;
                self.at_start = false;
                match first {
                    // A blank line: the block's end, and the object's.
                    b'\r' | b'\n' => {
                        self.open = false;
                        self.has_data = false;
                    }
                    b':' => {} // a comment
                    b'{' if self.open => out.extend_from_slice(b"data: "),
                    b'{' if !self.has_data => {
                        self.open = true;
                        self.has_data = true;
                        out.extend_from_slice(b"data: ");
                    }
                    c if self.open
                        && c.is_ascii_alphabetic()
                        && !matches!(c, b't' | b'f' | b'n') =>
                    {
                        // A field: the object ended without a blank line. One dispatches it
                        // (CRLF: an LF alone after a line's CR would be that line's end).
                        out.extend_from_slice(b"\r\n");
                        self.open = false;
                        self.has_data = false;
                        self.head = Some(0);
                    }
                    _ if self.open => out.extend_from_slice(b"data: "),
                    _ => self.head = Some(0),
                }
            }
            // Whether the line is a `data` field: its name is `data`, then a colon or its end.
            while let (Some(k), Some(&byte)) = (self.head, bytes.first()) {
                match b"data".get(usize::from(k)) {
                    Some(&want) if byte == want => {
                        self.head = Some(k + 1);
                        out.push(byte);
                        bytes = &bytes[1..];
                    }
                    Some(_) => self.head = None,
                    None => {
                        self.has_data |= matches!(byte, b':' | b'\r' | b'\n');
                        self.head = None;
                    }
                }
            }
            if bytes.is_empty() {
                break;
            }
            match memchr2(b'\r', b'\n', bytes) {
                Some(end) => {
                    out.extend_from_slice(&bytes[..=end]);
                    self.after_cr = bytes[end] == b'\r';
                    self.at_start = true;
                    bytes = &bytes[end + 1..];
                }
                None => {
                    out.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Event;

    /// The events (type, data) of `input` split in two at `split`.
    fn events(input: &[u8], split: usize) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        let mut keep = |e: EventRef<'_>| seen.push((e.event.to_string(), e.data.to_string()));
        let mut objects = ObjectLines::new(Parser::new());
        objects.feed_ref(&input[..split], &mut keep).unwrap();
        objects.feed_ref(&input[split..], &mut keep).unwrap();
        objects.finish_ref(&mut keep).unwrap();
        seen
    }

    /// An object on lines outside any field is an event's data, split anywhere, valid UTF-8 or
    /// not, ended by a blank line or by the stream, its last line with or without its line end
    /// (LF, CRLF or CR); comments, stray lines and the events around it as the spec reads them.
    #[test]
    fn an_object_outside_any_field_is_an_events_data() {
        let object = "{\n  \"error\": {\n    \"code\": 500,\n    \"message\": \"boom\"\n  }\n}";
        let head = "junk\ndata: a\r\n\r\n: kept alive\nid: 7\n";
        let mid = format!(
            "{}\n: a comment\n\ndata: b\n\n",
            object.replace('\n', "\r\n")
        );
        let want = [
            ("message", "a"),
            ("message", object),
            ("message", "b"),
            ("message", object),
        ];
        let tails = [
            format!("{object}\n"),
            format!("{object}\r"),
            format!("{object}\r\n"),
            object.to_string(),
            format!("{object}\n\n"),
        ];
        for tail in tails {
            let input = format!("{head}{mid}{tail}");
            for split in 0..=input.len() {
                let seen = events(input.as_bytes(), split);
                let seen: Vec<_> = seen.iter().map(|(t, d)| (t.as_str(), d.as_str())).collect();
                assert_eq!(seen, want, "split at {split} of {input:?}");
            }
            // The spec's parser reads none of the object.
            let mut plain = Vec::new();
            let mut parser = Parser::new();
            parser
                .feed(input.as_bytes(), &mut |e| plain.push(e.data))
                .unwrap();
            parser.finish(&mut |e| plain.push(e.data)).unwrap();
            assert_eq!(plain, ["a", "b"]);
        }
        let invalid = b"data: a\n\n{\"error\": \"\xff\"}";
        for split in 0..=invalid.len() {
            let seen = events(invalid, split);
            assert_eq!(seen[1].1, "{\"error\": \"\u{fffd}\"}", "split at {split}");
        }
    }

    /// Events (data only) of `input` under every split in two; all splits must agree.
    fn data_under_every_split(input: &[u8]) -> Vec<String> {
        let first: Vec<String> = events(input, 0).into_iter().map(|(_, d)| d).collect();
        for split in 1..=input.len() {
            let seen: Vec<String> = events(input, split).into_iter().map(|(_, d)| d).collect();
            assert_eq!(
                seen,
                first,
                "split at {split} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
        first
    }

    /// A line that starts with `{` after a `data` field of its block is a field named `{...`,
    /// which the spec ignores: the block's data stays its own, whatever the line ends and the
    /// splits.
    #[test]
    fn a_brace_line_after_a_data_field_is_ignored_as_the_spec_says() {
        for input in [
            "data: {\"a\":1}\r\n{\"note\": 1}\r\n\r\ndata: b\n\n",
            "data: {\"a\":1}\n{\n  \"note\": 1\n}\n\ndata: b\n\n",
            "data\n{\"note\": 1}\n\ndata: b\n\n",
            "event: x\ndata:{\"a\":1}\r{\"note\": 1}\r\rdata: b\r\r",
        ] {
            let want = if input.starts_with("data\n") {
                ""
            } else {
                "{\"a\":1}"
            };
            assert_eq!(
                data_under_every_split(input.as_bytes()),
                [want, "b"],
                "{input:?}"
            );
        }
        // A field of another name (`dat`, `datum`, `id`) before the object leaves it an object.
        for head in ["dat: 1\n", "datum: 1\n", "id: 7\n", "event: error\n"] {
            let input = format!("{head}{{\"error\": 1}}\n\ndata: b\n\n");
            assert_eq!(
                data_under_every_split(input.as_bytes()),
                ["{\"error\": 1}", "b"],
                "{input:?}"
            );
        }
    }

    /// A field right after an object, without a blank line between, ends the object: the
    /// object is one event and the field's block another, as the SDK reads an object until its
    /// braces balance.
    #[test]
    fn a_field_right_after_an_object_ends_it() {
        let one_line = "{\"error\":{\"code\":500,\"message\":\"boom\"}}";
        let pretty =
            "{\n  \"error\": {\n    \"ok\": true,\n    \"list\": [\nnull,\nfalse\n]\n  }\n}";
        for object in [one_line, pretty] {
            for (end, field) in [
                ("\r\n", "data: {\"a\":1}\r\n\r\n"),
                ("\n", "event: x\ndata: {\"a\":1}\n\n"),
                ("\r", "data: {\"a\":1}\r\r"),
                ("\n", "retry: 10\ndata: {\"a\":1}\n\n"),
            ] {
                let input = format!("{object}{end}{field}");
                assert_eq!(
                    data_under_every_split(input.as_bytes()),
                    [object, "{\"a\":1}"],
                    "{input:?}"
                );
            }
        }
    }

    /// Generated streams of the lines these rules tell apart, under every split in three
    /// parts (byte-at-a-time reads included): the events never depend on the reads, and a
    /// stream without a line that starts with `{` is read exactly as the spec's parser reads it.
    #[test]
    fn generated_streams_read_alike_under_every_split() {
        let lines = [
            "data: a",
            "data",
            "dat: x",
            "event: e",
            "id: 1",
            "retry: 5",
            ": c",
            "",
            "{",
            "{\"e\": 1}",
            "  \"k\": 1,",
            "}",
            "null,",
            "true",
            "x: y",
            "d",
            "\u{e9}t\u{e9}",
        ];
        let ends = ["\n", "\r", "\r\n"];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| (crate::retry::xorshift(&mut seed) % n as u64) as usize;
        for _ in 0..300 {
            let mut input = String::new();
            for _ in 0..next(9) + 1 {
                input.push_str(lines[next(lines.len())]);
                input.push_str(ends[next(ends.len())]);
            }
            if next(4) == 0 {
                input.push_str(lines[next(lines.len())]); // a last line without its end
            }
            let bytes = input.as_bytes();
            let read = |cuts: &[usize]| {
                let mut seen = Vec::new();
                let mut keep =
                    |e: EventRef<'_>| seen.push((e.event.to_string(), e.data.to_string()));
                let mut objects = ObjectLines::new(Parser::new());
                let mut from = 0;
                for &cut in cuts.iter().chain([&bytes.len()]) {
                    objects.feed_ref(&bytes[from..cut], &mut keep).unwrap();
                    from = cut;
                }
                objects.finish_ref(&mut keep).unwrap();
                seen
            };
            let whole = read(&[]);
            for a in 0..=bytes.len() {
                for b in (a..=bytes.len()).step_by(3) {
                    assert_eq!(read(&[a, b]), whole, "cut at {a} and {b} of {input:?}");
                }
            }
            let one_at_a_time: Vec<usize> = (1..bytes.len()).collect();
            assert_eq!(read(&one_at_a_time), whole, "{input:?}");
            if !input.split(['\r', '\n']).any(|line| line.starts_with('{')) {
                let mut plain = Vec::new();
                let mut parser = Parser::new();
                let mut keep = |e: Event| plain.push((e.event.to_string(), e.data));
                parser.feed(bytes, &mut keep).unwrap();
                parser.finish(&mut keep).unwrap();
                assert_eq!(whole, plain, "{input:?}");
            }
        }
    }

    /// Options that read objects seed their parser for a resumed stream, and keep reading
    /// objects.
    #[test]
    fn a_resumed_stream_keeps_its_id_and_reads_objects() {
        use super::super::stream::Framing;
        use super::super::StreamOptions;
        let options = StreamOptions::default()
            .object_lines()
            .resume_after("7", None);
        assert_eq!(options.started_last_event_id(), Some("7"));
        assert!(matches!(
            options.framing,
            Framing::EventStream { objects: true, .. }
        ));
    }

    /// Without an object, the stream is the spec's: a cut event is still discarded at the end,
    /// its `id:` not taken, and the state is fresh for the next stream.
    #[test]
    fn without_an_object_the_stream_is_read_as_the_spec_says() {
        let mut objects = ObjectLines::new(Parser::new());
        let mut count = 0;
        objects
            .feed_ref(b"id: 1\ndata: a\n\nid: 2\ndata: cut", &mut |_| count += 1)
            .unwrap();
        objects.finish_ref(&mut |_| count += 1).unwrap();
        assert_eq!(count, 1);
        assert_eq!(objects.parser().last_event_id(), "1");
        // A new stream after an open object: its first line is a line's start again.
        objects.feed_ref(b"{\"a\":", &mut |_| count += 1).unwrap();
        objects.finish_ref(&mut |_| count += 1).unwrap();
        assert_eq!(count, 2);
        let mut data = Vec::new();
        objects
            .feed_ref(b"data: x\n\n", &mut |e| data.push(e.data.to_string()))
            .unwrap();
        assert_eq!(data, ["x"]);
    }
}
