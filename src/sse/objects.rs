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

/// A [`Parser`] whose input is rewritten on its way in: a line that starts with `{`, and each
/// line after it up to the next blank line (comments aside), becomes a `data:` line. At the end
/// of the stream an object that no blank line has ended yet is dispatched: it is mostly the last
/// thing sent, without a blank line after it, and its last line may lack its line end.
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
}

impl ObjectLines {
    pub(crate) fn new(parser: Parser) -> ObjectLines {
        ObjectLines {
            parser,
            out: Vec::new(),
            at_start: true,
            after_cr: false,
            open: false,
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
                    b'\r' | b'\n' => self.open = false, // a blank line: the object's end
                    b':' => {}                          // a comment
                    b'{' => {
                        self.open = true;
                        out.extend_from_slice(b"data: ");
                    }
                    _ if self.open => out.extend_from_slice(b"data: "),
                    _ => {}
                }
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
