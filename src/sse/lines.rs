//! `LineParser`: newline-delimited streams (NDJSON, JSON Lines), framed like events.
//!
//! Some streaming APIs (Cohere's v1 chat, Ollama's native API) send one JSON document per line
//! instead of Server-Sent Events. `LineParser` turns each line into an [`Event`] whose `data` is
//! the line, so the same workers, channels, decoders and limits serve both formats.

use std::borrow::Cow;

use super::parser::clear_or_free;
use super::{Event, EventRef, DEFAULT_MAX_EVENT_SIZE};
use crate::Error;

/// Splits a byte stream into lines, each delivered as an [`Event`] with `event == "message"`
/// and `data` the line without its terminator.
///
/// * Lines end with LF or CRLF; a lone CR is kept as data.
/// * One UTF-8 byte order mark at the start of the stream is not part of the first line (the
///   JSON RFC lets a parser ignore it; `serde_json` does not).
/// * Blank (empty or all-whitespace) lines are skipped.
/// * A last line without a terminator is delivered at [`finish`](LineParser::finish): nothing is
///   lost but a CR at its very end, taken as the start of a CRLF the stream did not finish.
/// * A line longer than [`max_line_size`](LineParser::max_line_size) is
///   [`Error::EventTooLarge`]; after that error the parser refuses further input.
/// * Invalid UTF-8 is decoded with U+FFFD.
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::LineParser;
///
/// let mut parser = LineParser::new();
/// let mut lines = Vec::new();
/// parser.feed(b"{\"a\":1}\r\n\n{\"b\"", &mut |e| lines.push(e.data)).unwrap();
/// parser.feed(b":2}", &mut |e| lines.push(e.data)).unwrap();
/// parser.finish(&mut |e| lines.push(e.data)).unwrap();
/// assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}"]);
/// ```
#[derive(Debug, Clone)]
pub struct LineParser {
    partial: Vec<u8>,
    max_line: usize,
    failed: bool,
    /// Nothing but the start of a byte order mark has been fed since the stream began: those
    /// bytes wait in `partial`.
    at_start: bool,
}

impl Default for LineParser {
    fn default() -> Self {
        LineParser::new()
    }
}

impl LineParser {
    /// A parser with lines of at most [`DEFAULT_MAX_EVENT_SIZE`] bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::LineParser;
    ///
    /// let mut lines = Vec::new();
    /// let mut parser = LineParser::new();
    /// parser.feed(b"{\"a\":1}\n{\"b\"", &mut |e| lines.push(e.data))?;
    /// parser.feed(b":2}\n", &mut |e| lines.push(e.data))?;
    /// assert_eq!(lines, [r#"{"a":1}"#, r#"{"b":2}"#]);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new() -> Self {
        LineParser {
            partial: Vec::new(),
            max_line: DEFAULT_MAX_EVENT_SIZE,
            failed: false,
            at_start: true,
        }
    }

    /// The longest line accepted, in bytes. Defaults to [`DEFAULT_MAX_EVENT_SIZE`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::LineParser;
    ///
    /// let mut parser = LineParser::new().max_line_size(4);
    /// assert!(parser.feed(b"too long\n", &mut |_| {}).is_err());
    /// ```
    pub fn max_line_size(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// The longest line accepted (see [`max_line_size`](LineParser::max_line_size)).
    #[cfg(feature = "llm")]
    pub(crate) fn max_size(&self) -> usize {
        self.max_line
    }

    /// Feeds the next bytes, delivering every line they complete.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::LineParser;
    ///
    /// let mut n = 0;
    /// LineParser::new().feed(b"one\r\n\ntwo\n", &mut |_| n += 1)?;
    /// assert_eq!(n, 2); // blank lines are skipped
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn feed(&mut self, bytes: &[u8], on_line: &mut impl FnMut(Event)) -> Result<(), Error> {
        self.feed_ref(bytes, &mut |line| on_line(Event::from(line)))
    }

    /// [`feed`](LineParser::feed), delivering each line as an [`EventRef`] that borrows `bytes`
    /// (or the parser) for the duration of the call: no allocation per line.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::LineParser;
    ///
    /// let mut parser = LineParser::new();
    /// let mut longest = 0;
    /// parser.feed_ref(b"{\"a\":1}\n{\"bb\":22}\n", &mut |e| longest = longest.max(e.data.len()))?;
    /// assert_eq!(longest, 9);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn feed_ref(
        &mut self,
        bytes: &[u8],
        on_line: &mut impl FnMut(EventRef<'_>),
    ) -> Result<(), Error> {
        if self.failed {
            return Err(self.too_large());
        }
        let mut rest = bytes;
        if self.at_start {
            rest = match self.skip_bom(rest) {
                Some(rest) => rest,
                None => return Ok(()),
            };
        }
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            // The CR of a CRLF is not part of the line, so not counted against the limit.
            let cr = usize::from(line.last().or(self.partial.last()) == Some(&b'\r'));
            if self.partial.is_empty() {
                self.check(line.len() - cr)?;
                deliver(line, on_line);
            } else {
                self.check((self.partial.len() + line.len()).saturating_sub(cr))?;
                self.partial.extend_from_slice(line);
                deliver(&self.partial, on_line);
                clear_or_free(&mut self.partial);
            }
        }
        // An unfinished line may end in the CR of a CRLF split across feeds.
        let pending = self.partial.len() + rest.len();
        let cr = usize::from(rest.last().or(self.partial.last()) == Some(&b'\r'));
        self.check(pending - cr)?;
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// Ends the stream, delivering a last line that had no terminator.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::LineParser;
    ///
    /// let mut last = None;
    /// let mut parser = LineParser::new();
    /// parser.feed(b"no line end", &mut |e| last = Some(e.data))?;
    /// assert!(last.is_none());
    /// parser.finish(&mut |e| last = Some(e.data))?;
    /// assert_eq!(last.as_deref(), Some("no line end"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn finish(&mut self, on_line: &mut impl FnMut(Event)) -> Result<(), Error> {
        self.finish_ref(&mut |line| on_line(Event::from(line)))
    }

    /// [`finish`](LineParser::finish), delivering the last line as an [`EventRef`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::LineParser;
    ///
    /// let mut parser = LineParser::new();
    /// let mut lengths = Vec::new();
    /// parser.feed(b"first\nsecond, without a line end", &mut |e| lengths.push(e.data.len()))?;
    /// parser.finish_ref(&mut |line| lengths.push(line.data.len()))?;
    /// assert_eq!(lengths, [5, 26]);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn finish_ref(&mut self, on_line: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error> {
        if self.failed {
            return Err(self.too_large());
        }
        // Only the start of a byte order mark can have waited unchecked: it is the last line.
        // (A last line that waits for the LF of its CR is checked without that CR.)
        let line = self.partial.strip_suffix(b"\r").unwrap_or(&self.partial);
        self.check(line.len())?;
        deliver(&self.partial, on_line);
        clear_or_free(&mut self.partial);
        self.at_start = true;
        Ok(())
    }

    /// At the start of the stream: takes the bytes of a byte order mark out of `bytes`, and
    /// returns what follows it; `None` while all that was fed is the start of one (kept in
    /// `partial`). Bytes that turn out not to be one stay: they start the first line.
    fn skip_bom<'b>(&mut self, bytes: &'b [u8]) -> Option<&'b [u8]> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let seen = self.partial.len();
        let take = bytes.len().min(BOM.len() - seen);
        if bytes[..take] != BOM[seen..seen + take] {
            self.at_start = false;
            return Some(bytes);
        }
        if seen + take < BOM.len() {
            self.partial.extend_from_slice(bytes);
            return None;
        }
        self.at_start = false;
        self.partial.clear();
        Some(&bytes[take..])
    }

    fn check(&mut self, len: usize) -> Result<(), Error> {
        if len > self.max_line {
            self.failed = true;
            self.partial = Vec::new();
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> Error {
        Error::EventTooLarge {
            limit: self.max_line,
        }
    }
}

fn deliver(line: &[u8], on_line: &mut impl FnMut(EventRef<'_>)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let data: Cow<'_, str> = String::from_utf8_lossy(line);
    on_line(EventRef {
        event: "message",
        data: &data,
        id: None,
        retry: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One long line that came in many reads leaves no buffer of its size behind, whether a
    /// line end or the end of the stream ended it.
    #[test]
    fn a_long_line_does_not_pin_its_buffer() {
        let long = vec![b'x'; 200_000];
        for end in [&b"\n"[..], b""] {
            let mut parser = LineParser::new();
            let mut lengths = Vec::new();
            for piece in long.chunks(4096) {
                parser
                    .feed(piece, &mut |e| lengths.push(e.data.len()))
                    .unwrap();
            }
            parser
                .feed(end, &mut |e| lengths.push(e.data.len()))
                .unwrap();
            if !end.is_empty() {
                // Freed as the line end comes, on a stream that goes on.
                let kept = parser.partial.capacity();
                assert!(kept <= 64 * 1024, "{kept}");
            }
            parser.finish(&mut |e| lengths.push(e.data.len())).unwrap();
            assert_eq!(lengths, [200_000]);
            assert!(
                parser.partial.capacity() <= 64 * 1024,
                "{}",
                parser.partial.capacity()
            );
        }
    }

    fn lines_of(pieces: &[&[u8]]) -> Result<Vec<String>, Error> {
        let mut parser = LineParser::new().max_line_size(16);
        let mut out = Vec::new();
        for p in pieces {
            parser.feed(p, &mut |e| out.push(e.data))?;
        }
        parser.finish(&mut |e| out.push(e.data))?;
        Ok(out)
    }

    #[test]
    fn splits_on_lf_and_crlf_and_skips_blank_lines() {
        let whole: &[u8] = b"a\r\n\n  \r\nb\nc";
        let expected = ["a", "b", "c"];
        assert_eq!(lines_of(&[whole]).unwrap(), expected);
        for cut in 0..=whole.len() {
            let (x, y) = whole.split_at(cut);
            assert_eq!(lines_of(&[x, y]).unwrap(), expected, "split at {cut}");
        }
    }

    #[test]
    fn a_lone_cr_is_data() {
        assert_eq!(lines_of(&[b"a\rb\n"]).unwrap(), ["a\rb"]);
    }

    #[test]
    fn long_lines_are_an_error_even_across_feeds() {
        assert!(matches!(
            lines_of(&[b"0123456789", b"0123456789\n"]),
            Err(Error::EventTooLarge { limit: 16 })
        ));
        assert!(matches!(
            lines_of(&[&[b'x'; 17]]),
            Err(Error::EventTooLarge { limit: 16 })
        ));
        assert_eq!(lines_of(&[&[b'x'; 16]]).unwrap(), ["x".repeat(16)]);
    }

    #[test]
    fn one_leading_bom_is_not_part_of_the_first_line() {
        let whole: &[u8] = b"\xEF\xBB\xBF{\"a\":1}\n\xEF\xBB\xBFb\n";
        let expected = ["{\"a\":1}", "\u{feff}b"];
        for cut in 0..=whole.len() {
            let (x, y) = whole.split_at(cut);
            assert_eq!(lines_of(&[x, y]).unwrap(), expected, "split at {cut}");
        }
        // Byte by byte, and a BOM alone on the first line.
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(lines_of(&bytes).unwrap(), expected);
        assert_eq!(lines_of(&[b"\xEF\xBB\xBF\nx\n"]).unwrap(), ["x"]);
        // Not a BOM: the bytes stay.
        assert_eq!(lines_of(&[b"\xEF\xBBx\n"]).unwrap(), ["\u{fffd}x"]);
        // The BOM does not count against the limit of 16.
        let full = [&b"\xEF\xBB\xBF"[..], &[b'x'; 16]].concat();
        assert_eq!(lines_of(&[&full]).unwrap(), ["x".repeat(16)]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(lines_of(&[b"a\xffb\n"]).unwrap(), ["a\u{fffd}b"]);
    }
}
