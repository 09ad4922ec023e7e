//! [`EventReader`]: the parser driven by any [`Read`].

use std::fmt;
use std::io::{self, Read};
use std::iter::FusedIterator;
use std::mem;

use super::parser::{complete_lines, DataAt, Event, EventRef, Parser};
use crate::Error;

/// How many bytes one `read()` call may bring in; the size of `std::io::BufReader`'s buffer.
const READ_SIZE: usize = 8 * 1024;

/// The least a `read()` call is offered, after a run of small reads.
const MIN_READ_SIZE: usize = 512;

/// An iterator of the events in a byte stream read from any [`Read`]: a file, a socket, an HTTP
/// body, a `&[u8]`.
///
/// Guarantees:
/// - Each call of `next` reads with plain [`Read::read`] calls (never waiting for a buffer to
///   fill), and only when the bytes already read hold no further event: it returns an event as
///   soon as its blank line has been read. The bytes after that event wait in the reader's
///   buffer until the next call.
/// - One read asks for up to 8 KiB (after a run of small reads, for a little more than the last
///   one brought, growing back to 8 KiB as reads fill it).
/// - [`ErrorKind::Interrupted`](io::ErrorKind::Interrupted) is retried.
/// - A read that timed out ([`WouldBlock`](io::ErrorKind::WouldBlock) or
///   [`TimedOut`](io::ErrorKind::TimedOut): a socket's read timeout, a non-blocking reader)
///   is yielded as [`Error::Io`] and ends nothing: nothing read is lost, and the next call
///   reads again. So a loop over a socket with a read timeout can look at a stop flag between
///   reads, and go on; and a loop that skips errors (`flatten()`, `filter_map(Result::ok)`)
///   over a reader that keeps timing out does not end (over a non-blocking one it spins):
///   stop at an error, or count them.
/// - Any other I/O error is yielded once, as [`Error::from`]`(io::Error)`, and then the iterator
///   ends (a timeout of ureq's, [`Error::Timeout`], is one: a body whose read timed out is not
///   read again). So does an [`Error::EventTooLarge`] from the parser.
/// - At the end of the input the parser is [finished](Parser::finish): an event without its
///   blank line is discarded unless the parser was built with
///   [`dispatch_unterminated(true)`](Parser::dispatch_unterminated).
/// - Once `next` has returned `None` it always does (the iterator is fused).
///
/// Each `next` allocates the event's data (its type and id are [`SmolStr`](super::SmolStr)s,
/// inline up to 23 bytes). [`next_event`](EventReader::next_event) is the same without
/// allocating: it lends the event out of the reader's buffer.
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::EventReader;
///
/// let body = "event: add\ndata: 1\n\n: keep-alive\n\ndata: done\n\n";
/// let mut seen = Vec::new();
/// for event in EventReader::new(body.as_bytes()) {
///     let event = event?;
///     seen.push(format!("{}={}", event.event, event.data));
/// }
/// assert_eq!(seen, ["add=1", "message=done"]);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub struct EventReader<R: Read> {
    reader: R,
    parser: Parser,
    /// The read buffer. While the complete lines of a read are parsed it is lent to `text`
    /// (checked as UTF-8 once, not copied), or holds them as raw bytes when they are not valid.
    buf: Vec<u8>,
    text: String,
    state: State,
    /// Where parsing resumes in `text` or `buf`, and where the complete lines end.
    pos: usize,
    end: usize,
    /// What followed the complete lines of the last read, and whether they ended with a CR.
    tail: Vec<u8>,
    cr_before_tail: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Nothing read is left to parse.
    Reading,
    /// Complete lines wait in `text[pos..]`.
    Text,
    /// Complete lines that are not valid UTF-8 wait in `buf[pos..end]`.
    Raw,
    /// The input ended or failed.
    Done,
}

impl<R: Read> EventReader<R> {
    /// An event reader over `reader` with a default [`Parser`] (a 16 MiB limit, unterminated
    /// events discarded).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::EventReader;
    ///
    /// let mut events = EventReader::new(&b"data: hi\n\n"[..]);
    /// assert_eq!(events.next().unwrap()?.data, "hi");
    /// assert!(events.next().is_none());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new(reader: R) -> Self {
        EventReader::with_parser(reader, Parser::new())
    }

    /// An event reader over `reader` that uses `parser`, with its settings and its state (a
    /// parser that has [finished](Parser::finish) a previous stream keeps its last event ID).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::{EventReader, Parser};
    ///
    /// let parser = Parser::new().max_event_size(1024).dispatch_unterminated(true);
    /// let mut events = EventReader::with_parser(&b"data: no blank line"[..], parser);
    /// assert_eq!(events.next().unwrap()?.data, "no blank line");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn with_parser(reader: R, parser: Parser) -> Self {
        EventReader {
            reader,
            parser,
            buf: vec![0; READ_SIZE],
            text: String::new(),
            state: State::Reading,
            pos: 0,
            end: 0,
            tail: Vec::new(),
            cr_before_tail: false,
        }
    }

    /// The parser, for its [`last_event_id`](Parser::last_event_id) and
    /// [`retry`](Parser::retry) (what a reconnection needs).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::EventReader;
    ///
    /// let mut events = EventReader::new(&b"id: 9\ndata: x\n\n"[..]);
    /// events.next();
    /// assert_eq!(events.parser().last_event_id(), "9");
    /// ```
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// The underlying reader. Bytes that were read but not parsed yet (those after the last
    /// event returned) are dropped with the event reader; [`parser`](EventReader::parser) before
    /// this call tells the last event ID for a reconnection.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::EventReader;
    ///
    /// let events = EventReader::new(std::io::empty());
    /// let _reader: std::io::Empty = events.into_inner();
    /// ```
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: Read> EventReader<R> {
    /// The next event, borrowed from the reader: a lending [`next`](Iterator::next), with the
    /// same guarantees, that allocates nothing per event. The [`EventRef`] points into the
    /// reader's buffer (or the parser's, for data of several lines) and lives until the next
    /// call; copy out what you keep (`Event::from(event)`, `event.data.to_owned()`).
    ///
    /// Calls of `next_event` and `next` can be mixed: both take the next event.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::EventReader;
    ///
    /// let body = "event: add\ndata: 1\n\n: keep-alive\n\ndata: 2\ndata: 3\n\n";
    /// let mut events = EventReader::new(body.as_bytes());
    /// let mut seen = Vec::new();
    /// while let Some(event) = events.next_event() {
    ///     let event = event?;
    ///     seen.push(format!("{}={}", event.event, event.data));
    /// }
    /// assert_eq!(seen, ["add=1", "message=2\n3"]);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    #[inline]
    pub fn next_event(&mut self) -> Option<Result<EventRef<'_>, Error>> {
        match self.advance::<false>()? {
            Ok(at) => Some(Ok(self.parser.event_ref(&self.text, at))),
            Err(e) => Some(Err(e)),
        }
    }

    /// Parses until the next event: where its data is (in `self.text` or the parser).
    ///
    /// `OWNED`: for `next` (see the `Text` arms). Always inlined into `next` and `next_event`.
    /// Called instead (the compiler's choice in a large caller), its
    /// `Option<Result<DataAt, Error>>` went through memory and was copied back at odd offsets
    /// (`Error`'s tag is one byte), a store-forwarding stall per event: inlined, both paths
    /// were 7-8% faster on OpenAI-style chunks.
    #[inline(always)]
    fn advance<const OWNED: bool>(&mut self) -> Option<Result<DataAt, Error>> {
        loop {
            let result = match self.state {
                State::Done => return None,
                // For `next`, an event of the text (nearly every one) returns from here: taken
                // out of the shared `result` below, whose arms the compiler joined in memory, its
                // `DataAt` was stored as two words and loaded back as one 16-byte value, a
                // store-forwarding stall per event (19% of the samples of the parse loop, inlined
                // in the caller, on OpenAI-style chunks); owned events 15-20% faster on both
                // corpora. Borrowed events came out 5% slower on corpus a that way (4% faster on
                // b), so `next_event` keeps the shared path (alternating runs of
                // benches/sse_parse.rs).
                State::Text if OWNED => match self.parser.text_until_event(&self.text, self.pos) {
                    Ok((end, Some(at))) => {
                        self.pos = end;
                        return Some(Ok(at));
                    }
                    other => other,
                },
                State::Text => self.parser.text_until_event(&self.text, self.pos),
                State::Raw => {
                    let raw = self.buf.get(..self.end).unwrap_or_default();
                    self.parser.raw_until_event(raw, self.pos)
                }
                State::Reading => match self.read_chunk() {
                    Ok(Some(())) => continue,
                    Ok(None) => {
                        // The end of the input: at most one event, the unterminated one, when
                        // the parser dispatches those.
                        self.state = State::Done;
                        return match self.parser.end_stream() {
                            Ok(true) => Some(Ok(DataAt::Buffer)),
                            Ok(false) => None,
                            Err(e) => Some(Err(e)),
                        };
                    }
                    Err(e) => {
                        if !read_timed_out(&e) {
                            self.state = State::Done;
                        }
                        return Some(Err(e));
                    }
                },
            };
            match result {
                Ok((end, Some(at))) => {
                    self.pos = end;
                    return Some(Ok(at));
                }
                Ok((_, None)) => {
                    if let Err(e) = self.end_chunk() {
                        self.state = State::Done;
                        return Some(Err(e));
                    }
                }
                Err(e) => {
                    self.state = State::Done;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<R: Read> Iterator for EventReader<R> {
    type Item = Result<Event, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self.advance::<true>()? {
            Ok(at) => Some(Ok(self.parser.event_owned(&self.text, at))),
            Err(e) => Some(Err(e)),
        }
    }
}

impl<R: Read> EventReader<R> {
    /// Reads once and prepares what was read for parsing. `Ok(None)` at the end of the input.
    fn read_chunk(&mut self) -> Result<Option<()>, Error> {
        let n = loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => return Ok(None),
                // A reader that claims more than the buffer holds is broken; don't panic.
                Ok(n) => break n.min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from(e)),
            }
        };
        let read = &self.buf[..n];
        let start = self.parser.start_chunk(read)?;
        let end = start + complete_lines(&read[start..]);
        if end == start {
            // No complete line: all of it continues a line. A read that filled the buffer
            // grows it, as below: a long line after small reads is not read 512 bytes at a time.
            self.parser.end_chunk(false, &read[start..])?;
            if n == self.buf.len() && n < READ_SIZE {
                self.buf.resize((2 * n).min(READ_SIZE), 0);
            }
            return Ok(Some(()));
        }
        self.tail.clear();
        self.tail.extend_from_slice(&read[end..]);
        self.cr_before_tail = read[end - 1] == b'\r';
        // Check the complete lines as UTF-8 once, in place: the bytes before `start` are parsed
        // already and become spaces, so that only the lines decide.
        let mut bytes = mem::take(&mut self.buf);
        bytes.truncate(end);
        bytes[..start].fill(b' ');
        (self.pos, self.end) = (start, end);
        match crate::utf8::string_from_utf8(bytes) {
            Ok(text) => {
                self.text = text;
                self.state = State::Text;
            }
            Err(bytes) => {
                self.buf = bytes;
                self.state = State::Raw;
            }
        }
        Ok(Some(()))
    }

    /// All complete lines of the last read are parsed: the rest of it starts a line, and the
    /// buffer is ready for the next read.
    fn end_chunk(&mut self) -> Result<(), Error> {
        if self.state == State::Text {
            self.buf = mem::take(&mut self.text).into_bytes();
        }
        // `read` needs initialized bytes, and what is past the complete lines must be zeroed
        // again. Small reads (a slow stream) get a smaller buffer back, so they don't pay for
        // zeroing 8 KiB each; reads that fill it grow it back to the full size at once.
        let size = (2 * self.end).clamp(MIN_READ_SIZE, READ_SIZE);
        self.buf.resize(size, 0);
        self.state = State::Reading;
        self.parser.end_chunk(self.cr_before_tail, &self.tail)
    }
}

impl<R: Read> FusedIterator for EventReader<R> {}

/// Whether `e` is a read of the underlying reader that timed out, which the next read may
/// follow (see [`EventReader`]'s guarantees).
fn read_timed_out(e: &Error) -> bool {
    use io::ErrorKind::{TimedOut, WouldBlock};
    matches!(e, Error::Io(io) if matches!(io.kind(), WouldBlock | TimedOut))
}

impl<R: Read> EventReader<R> {
    /// How many bytes were read and are not parsed yet.
    fn unparsed_bytes(&self) -> usize {
        let lines = match self.state {
            State::Text => self.text.len().saturating_sub(self.pos),
            State::Raw => self.end.saturating_sub(self.pos),
            State::Reading | State::Done => return 0,
        };
        lines + self.tail.len()
    }
}

impl<R: Read + fmt::Debug> fmt::Debug for EventReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReader")
            .field("reader", &self.reader)
            .field("parser", &self.parser)
            .field("state", &self.state)
            .field("unparsed_bytes", &self.unparsed_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out the given pieces, one per read, then EOF.
    struct Pieces(Vec<Vec<u8>>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let piece = &mut self.0[0];
            let n = piece.len().min(buf.len());
            buf[..n].copy_from_slice(&piece[..n]);
            piece.drain(..n);
            if piece.is_empty() {
                self.0.remove(0);
            }
            Ok(n)
        }
    }

    #[test]
    fn reads_longer_than_the_buffer_are_split() {
        let data = "x".repeat(3 * READ_SIZE + 5);
        let body = format!("data: {data}\n\n");
        let mut events = EventReader::new(Pieces(vec![body.into_bytes()]));
        assert_eq!(events.next().unwrap().unwrap().data, data);
        assert!(events.next().is_none());
    }

    /// Fills each buffer it is offered from an endless line, and notes the buffer's size.
    struct Offered(Vec<usize>);

    impl Read for Offered {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.push(buf.len());
            let first = if self.0.len() == 1 {
                // A small event, so that the buffer shrinks, then the long line starts.
                b"data: x\n\ndata: ".as_slice()
            } else {
                b"".as_slice()
            };
            buf[..first.len()].copy_from_slice(first);
            let n = if self.0.len() == 1 {
                first.len()
            } else {
                buf.len()
            };
            buf[first.len()..n].fill(b'y');
            Ok(n)
        }
    }

    #[test]
    fn reads_that_fill_the_buffer_grow_it_back_within_a_long_line() {
        let mut events =
            EventReader::with_parser(Offered(Vec::new()), Parser::new().max_event_size(64 * 1024));
        assert_eq!(events.next().unwrap().unwrap().data, "x");
        assert!(matches!(
            events.next(),
            Some(Err(Error::EventTooLarge { .. }))
        ));
        let offered = &events.reader.0;
        assert_eq!(
            offered[..5],
            [READ_SIZE, MIN_READ_SIZE, 1024, 2048, 4096],
            "{offered:?}"
        );
        assert!(offered[5..].iter().all(|&n| n == READ_SIZE), "{offered:?}");
    }

    #[test]
    fn unparsed_bytes_wait_for_the_next_call() {
        let mut events = EventReader::new(Pieces(vec![b"data: 1\n\ndata: 2\n\n".to_vec()]));
        assert_eq!(events.next().unwrap().unwrap().data, "1");
        assert_eq!(events.unparsed_bytes(), 9);
        assert_eq!(events.next().unwrap().unwrap().data, "2");
        assert!(events.next().is_none());
        assert!(events.next().is_none());
    }

    #[test]
    fn a_lying_reader_does_not_panic() {
        struct Liar;
        impl Read for Liar {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Ok(usize::MAX)
            }
        }
        let mut events = EventReader::with_parser(Liar, Parser::new().max_event_size(100_000));
        assert!(matches!(
            events.next(),
            Some(Err(Error::EventTooLarge { .. }))
        ));
        assert!(events.next().is_none());
    }

    #[test]
    fn debug_shows_the_state_not_the_buffer() {
        let events = EventReader::new(&b""[..]);
        let text = format!("{events:?}");
        assert!(text.contains("unparsed_bytes: 0"), "{text}");
        assert!(text.len() < 400, "{text}");
    }
}
