//! The event-stream parser: bytes in, events out, no I/O.
//!
//! This is the WHATWG HTML algorithm "interpreting an event stream" (§9.2.6), line by line.
//!
//! How it stays fast without `unsafe`: each fed chunk is checked as UTF-8 once, from the first
//! line start to its last line end, and its lines are then processed as `&str` slices of the
//! caller's bytes. Only a line that straddles two chunks is copied into a buffer (and checked on
//! its own). `data` values are appended to one reused `String` that is handed to the event at
//! dispatch, so a typical event costs one allocation for its data and one for its type (plus one
//! for its id, when the stream sends ids) and no second pass over its bytes. Lines with invalid
//! UTF-8 take a slower path that decodes them one at a time, with U+FFFD.

use std::fmt;
use std::mem;
use std::time::Duration;

use crate::Error;

/// The default limit, in bytes, on one line and on one event's data: 16 MiB.
///
/// Large enough for any real stream (LLM chunks are a few hundred bytes, the biggest tool-call
/// payloads a few hundred KiB) and small enough that a server that never sends a line end
/// cannot make the parser hold more than a few times this much memory.
/// Change it with [`Parser::max_event_size`].
///
/// # Examples
///
/// ```
/// assert_eq!(ureq_futures::sse::DEFAULT_MAX_EVENT_SIZE, 16 * 1024 * 1024);
/// ```
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// The UTF-8 byte order mark, stripped once at the start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Above this capacity a data buffer is not kept for the next event: one huge event must not
/// pin its memory for the rest of the stream.
const KEEP_DATA_CAPACITY: usize = 64 * 1024;

/// One dispatched event.
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::{Event, Parser};
///
/// let mut events = Vec::new();
/// let mut parser = Parser::new();
/// parser.feed(b"event: greeting\nid: 7\ndata: hello\ndata: world\n\n", &mut |e| events.push(e))?;
/// assert_eq!(
///     events,
///     [Event {
///         event: "greeting".to_string(),
///         data: "hello\nworld".to_string(),
///         id: Some("7".to_string()),
///         retry: None,
///     }]
/// );
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type: the value of the block's last `event:` field, or `"message"` when the
    /// block had none (or an empty one).
    pub event: String,
    /// The block's `data:` values joined with `"\n"` (the final line feed is removed).
    /// Never the result of an empty block: a block without `data:` fields dispatches nothing.
    pub data: String,
    /// The last event ID in force when the event was dispatched (set by this block or an earlier
    /// one, as the spec says), or `None` when it is empty.
    pub id: Option<String>,
    /// The reconnection time in force when the event was dispatched: the value of the last valid
    /// `retry:` field seen so far in the stream (in this block or an earlier one), or `None`
    /// until one was seen.
    pub retry: Option<Duration>,
}

/// A WHATWG-exact Server-Sent Events parser with no I/O: feed it bytes, it calls you with events.
///
/// Guarantees:
/// - Follows the HTML "interpreting an event stream" algorithm: CRLF, LF and lone CR line ends
///   (also split across two [`feed`](Parser::feed) calls), one leading UTF-8 BOM stripped,
///   comments, fields without a colon, one leading space stripped from values, `data` lines
///   joined with LF, the last event ID kept across events, `retry` only when all ASCII digits.
/// - Each line is processed as soon as its line end has been fed; each event is handed to the
///   callback as soon as its blank line has been fed.
/// - The events do not depend on how the stream is split into `feed` calls.
/// - Invalid UTF-8 becomes U+FFFD (as in [`String::from_utf8_lossy`]), also when a character is
///   split across `feed` calls.
/// - Memory is bounded: a line, or an event's data, longer than
///   [`max_event_size`](Parser::max_event_size) is an [`Error::EventTooLarge`], never a growing
///   buffer. After that error the parser refuses further input (every later `feed` or `finish`
///   returns the same error) and has freed its buffers.
/// - Never panics, whatever the input.
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::Parser;
///
/// let mut parser = Parser::new();
/// let mut data = Vec::new();
/// // The pieces may be cut anywhere, even inside a CRLF.
/// for piece in [&b"data: one\r"[..], b"\n\r\nid: 2\ndata: t", b"wo\n\n"] {
///     parser.feed(piece, &mut |event| data.push(event.data))?;
/// }
/// parser.finish(&mut |event| data.push(event.data))?;
/// assert_eq!(data, ["one", "two"]);
/// assert_eq!(parser.last_event_id(), "2");
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone)]
pub struct Parser {
    /// The start of a line whose end has not been fed yet. Empty between lines.
    line: Vec<u8>,
    /// How many bytes of the BOM have been seen at the start of the stream; `None` once the
    /// start of the stream is behind us.
    bom_seen: Option<usize>,
    /// The last fed byte was a CR: one LF at the start of the next feed belongs to it.
    skip_lf: bool,
    /// An error stopped the parser: every later call fails.
    failed: bool,
    dispatch_unterminated: bool,
    fields: Fields,
}

/// The spec's buffers, and what persists across events.
#[derive(Clone)]
struct Fields {
    max: usize,
    data: String,
    event_type: String,
    /// The spec's "last event ID buffer".
    id_buffer: String,
    /// An `id:` field has set `id_buffer` since the last blank line.
    id_set: bool,
    /// The spec's "last event ID string": `id_buffer` as of the last blank line.
    last_event_id: String,
    retry: Option<Duration>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl fmt::Debug for Parser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parser")
            .field("max_event_size", &self.fields.max)
            .field("dispatch_unterminated", &self.dispatch_unterminated)
            .field("last_event_id", &self.fields.last_event_id)
            .field("retry", &self.fields.retry)
            .field("pending_line_bytes", &self.line.len())
            .field("pending_data_bytes", &self.fields.data.len())
            .field("failed", &self.failed)
            .finish()
    }
}

impl Parser {
    /// A parser at the start of a stream, with a limit of [`DEFAULT_MAX_EVENT_SIZE`] and
    /// unterminated events discarded at the end of the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let parser = ureq_futures::sse::Parser::new();
    /// assert_eq!(parser.last_event_id(), "");
    /// assert_eq!(parser.retry(), None);
    /// ```
    pub fn new() -> Self {
        Parser {
            line: Vec::new(),
            bom_seen: Some(0),
            skip_lf: false,
            failed: false,
            dispatch_unterminated: false,
            fields: Fields {
                max: DEFAULT_MAX_EVENT_SIZE,
                data: String::new(),
                event_type: String::new(),
                id_buffer: String::new(),
                id_set: false,
                last_event_id: String::new(),
                retry: None,
            },
        }
    }

    /// Sets the limit, in bytes, on one line (without its line end) and on one event's data
    /// (the `data` values joined with line feeds). A line or an event over the limit is an
    /// [`Error::EventTooLarge`] carrying the limit. Defaults to [`DEFAULT_MAX_EVENT_SIZE`]
    /// (16 MiB).
    ///
    /// The parser never holds much more than a few times this many bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::{sse::Parser, Error};
    ///
    /// let mut parser = Parser::new().max_event_size(8);
    /// parser.feed(b"data: 12\n\n", &mut |_| {})?; // the line is 8 bytes: fine
    /// let err = parser.feed(b"data: 123\n", &mut |_| {}).unwrap_err();
    /// assert!(matches!(err, Error::EventTooLarge { limit: 8 }));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.fields.max = bytes;
        self
    }

    /// Whether [`finish`](Parser::finish) dispatches an event that the stream did not end with a
    /// blank line: the unterminated last line is processed and the event is dispatched as if a
    /// blank line followed (as Python's `sseclient` does). Defaults to `false`: the spec says to
    /// discard it, so that a cut connection does not produce a truncated event.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut data = Vec::new();
    /// let mut parser = Parser::new().dispatch_unterminated(true);
    /// parser.feed(b"data: cut short", &mut |e| data.push(e.data))?;
    /// parser.finish(&mut |e| data.push(e.data))?;
    /// assert_eq!(data, ["cut short"]);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn dispatch_unterminated(mut self, yes: bool) -> Self {
        self.dispatch_unterminated = yes;
        self
    }

    /// Parses the next bytes of the stream, calling `on_event` for each event whose blank line
    /// is in them, in stream order, before returning.
    ///
    /// The bytes may be cut anywhere (inside a line, a CRLF or a UTF-8 character). An unfinished
    /// line is kept until its end is fed.
    ///
    /// # Errors
    ///
    /// [`Error::EventTooLarge`] when a line or an event's data exceeds
    /// [`max_event_size`](Parser::max_event_size). Events completed before the offending line
    /// have been passed to `on_event`. The parser then refuses all further input: this and every
    /// later call return the same error.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut types = Vec::new();
    /// let mut parser = Parser::new();
    /// parser.feed(b": a comment\nevent: ping\ndata\n\ndata: x\n\n", &mut |e| types.push(e.event))?;
    /// assert_eq!(types, ["ping", "message"]);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(Event)) -> Result<(), Error> {
        // The three steps of a chunk, each of which fails for good once one has failed.
        let start = self.start_chunk(bytes)?;
        let rest = bytes.get(start..).unwrap_or_default();
        let (lines, tail) = rest.split_at(complete_lines(rest));
        match std::str::from_utf8(lines) {
            Ok(mut text) => {
                while let (used, Some(event)) = self.text_until_event(text)? {
                    on_event(event);
                    text = text.get(used..).unwrap_or_default();
                }
            }
            Err(_) => {
                let mut raw = lines;
                while let (used, Some(event)) = self.raw_until_event(raw)? {
                    on_event(event);
                    raw = raw.get(used..).unwrap_or_default();
                }
            }
        }
        self.end_chunk(lines.last() == Some(&b'\r'), tail)
    }

    /// Ends the stream.
    ///
    /// An event that was not ended by a blank line is discarded, unless
    /// [`dispatch_unterminated`](Parser::dispatch_unterminated) is set, in which case the last
    /// unterminated line is processed and the event, if it has data, is passed to `on_event`.
    ///
    /// Afterwards the parser is ready for a new stream (for a reconnection): the line, data and
    /// event type buffers are empty, a BOM is stripped again, and
    /// [`last_event_id`](Parser::last_event_id) and [`retry`](Parser::retry) are kept. An `id:`
    /// field of a discarded event does not change the last event ID.
    ///
    /// # Errors
    ///
    /// [`Error::EventTooLarge`] when the parser has already failed, or when processing the
    /// unterminated line exceeds the limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut count = 0;
    /// let mut parser = Parser::new();
    /// parser.feed(b"id: 1\ndata: complete\n\nid: 2\ndata: cut", &mut |_| count += 1)?;
    /// parser.finish(&mut |_| count += 1)?;
    /// assert_eq!(count, 1);
    /// assert_eq!(parser.last_event_id(), "1");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn finish(&mut self, on_event: &mut impl FnMut(Event)) -> Result<(), Error> {
        if self.failed {
            return Err(self.fields.too_large());
        }
        if let Some(seen) = self.bom_seen {
            // A stream that ended inside what could have been a BOM: those bytes are a line.
            self.line.extend_from_slice(&BOM[..seen]);
        }
        if self.dispatch_unterminated {
            // A non-empty line never dispatches, so at most one event comes out of here.
            let result = if self.line.is_empty() {
                Ok(())
            } else {
                self.fields.process_raw_field(&self.line)
            };
            match result {
                Ok(_) => {
                    if let Some(event) = self.fields.dispatch() {
                        on_event(event);
                    }
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        self.line.clear();
        self.bom_seen = Some(0);
        self.skip_lf = false;
        self.fields.data.clear();
        self.fields.event_type.clear();
        self.fields.id_buffer.clone_from(&self.fields.last_event_id);
        self.fields.id_set = false;
        Ok(())
    }

    /// Starts with `id` as the last event ID, as an `EventSource` does when it reconnects with
    /// `Last-Event-ID`: events carry it until the stream sets another or resets it. An `id`
    /// containing NUL is ignored, as the spec ignores such an `id:` field.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut parser = Parser::new().with_last_event_id("41");
    /// let mut ids = Vec::new();
    /// parser.feed(b"data: a\n\nid\ndata: b\n\n", &mut |e| ids.push(e.id)).unwrap();
    /// assert_eq!(ids, [Some("41".to_string()), None]);
    /// ```
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        if !id.contains('\0') {
            self.fields.id_buffer = id.to_string();
            self.fields.last_event_id = id.to_string();
        }
        self
    }

    /// The last event ID string, to send as `Last-Event-ID` when reconnecting: the id in force
    /// at the last blank line (so an `id:` field takes effect at the end of its block, even a
    /// block without data). Empty until an id was set, and after an empty `id:` field.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"id: 42\n\n", &mut |_| {})?; // no data: no event, but the id is set
    /// assert_eq!(parser.last_event_id(), "42");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn last_event_id(&self) -> &str {
        &self.fields.last_event_id
    }

    /// The reconnection time set by the last valid `retry:` field (milliseconds, all ASCII
    /// digits), or `None` when there was none. A value too big for `u64` milliseconds saturates
    /// to `u64::MAX` milliseconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"retry: 1500\nretry: 2s\n", &mut |_| {})?; // "2s" is ignored
    /// assert_eq!(parser.retry(), Some(Duration::from_millis(1500)));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn retry(&self) -> Option<Duration> {
        self.fields.retry
    }

    /// How many bytes the parser's buffers have reserved; for tests of the memory bound.
    #[doc(hidden)]
    pub fn buffered_capacity(&self) -> usize {
        self.line.capacity()
            + self.fields.data.capacity()
            + self.fields.event_type.capacity()
            + self.fields.id_buffer.capacity()
            + self.fields.last_event_id.capacity()
    }

    // A chunk of input is processed in three steps, which `feed` runs in one go and
    // `EventReader` spreads over its calls to `next`:
    // 1. `start_chunk`: the start of the stream (BOM), the LF of a CR that ended the last chunk,
    //    and the end of a line that the last chunk started. Never dispatches: that line is not
    //    blank.
    // 2. The complete lines that follow, up to the last line end of the chunk (see
    //    `complete_lines`), checked as UTF-8 once and stepped through, an event at a time, with
    //    `Fields::text_until_event` (or `raw_until_event` when they are not valid UTF-8).
    // 3. `end_chunk`: the rest of the chunk starts a line that a later chunk ends.

    /// Step 1 of a chunk: returns where its complete lines start.
    pub(crate) fn start_chunk(&mut self, input: &[u8]) -> Result<usize, Error> {
        if self.failed {
            return Err(self.fields.too_large());
        }
        self.start_inner(input).map_err(|e| self.fail(e))
    }

    fn start_inner(&mut self, input: &[u8]) -> Result<usize, Error> {
        let mut pos = 0;
        if let Some(seen) = self.bom_seen {
            pos = self.sniff_bom(input, seen);
            if self.bom_seen.is_some() {
                return Ok(input.len());
            }
        }
        if self.skip_lf {
            match input.get(pos) {
                None => return Ok(input.len()),
                Some(&b) => {
                    self.skip_lf = false;
                    if b == b'\n' {
                        pos += 1;
                    }
                }
            }
        }
        if self.line.is_empty() {
            return Ok(pos);
        }
        // Finish the line that an earlier chunk started.
        let rest = input.get(pos..).unwrap_or_default();
        let Some(len) = find_line_end(rest) else {
            push_within(&mut self.line, rest, self.fields.max)?;
            return Ok(input.len());
        };
        push_within(&mut self.line, &rest[..len], self.fields.max)?;
        let (next, cr_at_end) = skip_line_end(rest, len);
        self.skip_lf = cr_at_end;
        // Not empty, so a field or a comment: it cannot end an event.
        let result = self.fields.process_raw_field(&self.line);
        self.line.clear();
        result.map(|()| pos + next)
    }

    /// Step 2 of a chunk, for complete lines that are valid UTF-8: processes them until an event
    /// is dispatched or `text` is used up, and returns how many bytes were used.
    pub(crate) fn text_until_event(&mut self, text: &str) -> Result<(usize, Option<Event>), Error> {
        if self.failed {
            return Err(self.fields.too_large());
        }
        self.fields.text_until_event(text).map_err(|e| self.fail(e))
    }

    /// Step 2 of a chunk, for complete lines that are not valid UTF-8.
    pub(crate) fn raw_until_event(
        &mut self,
        lines: &[u8],
    ) -> Result<(usize, Option<Event>), Error> {
        if self.failed {
            return Err(self.fields.too_large());
        }
        self.fields.raw_until_event(lines).map_err(|e| self.fail(e))
    }

    /// Step 3 of a chunk: `tail` is what follows its complete lines, `cr_before_tail` whether
    /// their last line end was a CR.
    pub(crate) fn end_chunk(&mut self, cr_before_tail: bool, tail: &[u8]) -> Result<(), Error> {
        if self.failed {
            return Err(self.fields.too_large());
        }
        if !tail.is_empty() {
            push_within(&mut self.line, tail, self.fields.max).map_err(|e| self.fail(e))?;
        } else if cr_before_tail {
            // That CR ended its line; an LF that starts the next chunk belongs to it.
            self.skip_lf = true;
        }
        Ok(())
    }

    /// Consumes the BOM (or the part of it that `input` holds) at the start of the stream.
    /// Leaves `bom_seen` set when `input` ended before it could be decided.
    fn sniff_bom(&mut self, input: &[u8], mut seen: usize) -> usize {
        let mut pos = 0;
        while seen < BOM.len() {
            let Some(&b) = input.get(pos) else {
                self.bom_seen = Some(seen);
                return pos;
            };
            if b != BOM[seen] {
                // Not a BOM: the bytes that looked like one start the first line.
                self.line.extend_from_slice(&BOM[..seen]);
                self.bom_seen = None;
                return pos;
            }
            seen += 1;
            pos += 1;
        }
        self.bom_seen = None;
        pos
    }

    /// Stops the parser for good after `error`, freeing its buffers.
    fn fail(&mut self, error: Error) -> Error {
        self.failed = true;
        self.line = Vec::new();
        self.fields.data = String::new();
        self.fields.event_type = String::new();
        error
    }
}

impl Fields {
    fn too_large(&self) -> Error {
        Error::EventTooLarge { limit: self.max }
    }

    /// Processes complete lines until an event is dispatched or `text` is used up; returns how
    /// many bytes were used. `text` ends with a line end (or is empty).
    fn text_until_event(&mut self, text: &str) -> Result<(usize, Option<Event>), Error> {
        let bytes = text.as_bytes();
        let mut pos = 0;
        // The event's only data line so far, not copied yet: most events have one, and it
        // becomes the event's data with one exact-size copy at the blank line.
        let mut single: Option<&str> = None;
        while let Some(len) = find_line_end(bytes.get(pos..).unwrap_or_default()) {
            if len > self.max {
                return Err(self.too_large());
            }
            // Lines start and end next to ASCII line ends: always character boundaries.
            let line = text.get(pos..pos + len).unwrap_or_default();
            pos = skip_line_end(bytes, pos + len).0;
            if line.is_empty() {
                let event = match single.take() {
                    Some(data) => Some(self.dispatch_single(data)),
                    None => self.dispatch(),
                };
                if event.is_some() {
                    return Ok((pos, event));
                }
                continue;
            }
            match parse_field(line) {
                Some((Field::Data, value)) => {
                    if single.is_none() && self.data.is_empty() {
                        // Implied by the line limit (the value is shorter than its line), but
                        // this is the data limit's check.
                        if value.len() > self.max {
                            return Err(self.too_large());
                        }
                        single = Some(value);
                    } else {
                        // A second data line: the buffer joins them.
                        if let Some(first) = single.take() {
                            self.apply_field(Field::Data, first)?;
                        }
                        self.apply_field(Field::Data, value)?;
                    }
                }
                Some((field, value)) => self.apply_field(field, value)?,
                None => {}
            }
        }
        // The text ends inside an event: keep its data line.
        if let Some(first) = single {
            self.apply_field(Field::Data, first)?;
        }
        Ok((text.len(), None))
    }

    /// [`text_until_event`](Fields::text_until_event) for lines that are not all valid UTF-8.
    fn raw_until_event(&mut self, lines: &[u8]) -> Result<(usize, Option<Event>), Error> {
        let mut pos = 0;
        while let Some(len) = find_line_end(lines.get(pos..).unwrap_or_default()) {
            if len > self.max {
                return Err(self.too_large());
            }
            let event = self.process_raw_line(&lines[pos..pos + len])?;
            pos = skip_line_end(lines, pos + len).0;
            if event.is_some() {
                return Ok((pos, event));
            }
        }
        Ok((lines.len(), None))
    }

    /// Processes one complete line given as bytes, invalid UTF-8 replaced by U+FFFD. (Line ends,
    /// colons and spaces are ASCII, so decoding a line on its own gives what decoding the whole
    /// stream first, as the spec does, gives.)
    fn process_raw_line(&mut self, line: &[u8]) -> Result<Option<Event>, Error> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        self.process_raw_field(line).map(|()| None)
    }

    /// [`process_field`](Fields::process_field) for a line given as bytes.
    fn process_raw_field(&mut self, line: &[u8]) -> Result<(), Error> {
        match std::str::from_utf8(line) {
            Ok(text) => self.process_field(text),
            Err(_) => self.process_field(&String::from_utf8_lossy(line)),
        }
    }

    /// Processes a line that is not blank: a field or a comment.
    #[inline]
    fn process_field(&mut self, line: &str) -> Result<(), Error> {
        match parse_field(line) {
            Some((field, value)) => self.apply_field(field, value),
            None => Ok(()),
        }
    }

    /// Acts on one field.
    #[inline]
    fn apply_field(&mut self, field: Field, value: &str) -> Result<(), Error> {
        match field {
            Field::Data => {
                // The dispatched data is the buffer so far plus this value (the final LF goes).
                if self.data.len() + value.len() > self.max {
                    return Err(self.too_large());
                }
                if self.data.capacity() - self.data.len() <= value.len() {
                    // Grow like a String would, but never far past the limit.
                    let need = self.data.len() + value.len() + 1;
                    let want = self.data.capacity().saturating_mul(2).max(64);
                    let want = want.min(self.max.saturating_add(1)).max(need);
                    self.data.reserve_exact(want - self.data.len());
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            // Decoded values are checked too: an invalid byte decodes to three, and these
            // buffers outlive their line. They grow to the exact size, never by doubling.
            Field::Event => {
                if value.len() > self.max {
                    return Err(self.too_large());
                }
                set_exact(&mut self.event_type, value);
            }
            Field::Id => {
                if value.len() > self.max {
                    return Err(self.too_large());
                }
                if !value.contains('\0') {
                    set_exact(&mut self.id_buffer, value);
                    self.id_set = true;
                }
            }
            Field::Retry => {
                if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                    let millis = value.bytes().fold(0u64, |n, d| {
                        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                    });
                    self.retry = Some(Duration::from_millis(millis));
                }
            }
        }
        Ok(())
    }

    /// The spec's "dispatch the event", run at every blank line.
    fn dispatch(&mut self) -> Option<Event> {
        self.update_last_event_id();
        if self.data.is_empty() {
            self.event_type.clear();
            return None;
        }
        self.data.pop(); // the LF after the last data line
        let data = self.take_data();
        Some(self.event(data))
    }

    /// [`dispatch`](Fields::dispatch) for an event whose only data line is `data` (and whose data
    /// buffer is empty).
    fn dispatch_single(&mut self, data: &str) -> Event {
        self.update_last_event_id();
        self.event(String::from(data))
    }

    fn update_last_event_id(&mut self) {
        if self.id_set {
            self.id_set = false;
            set_exact(&mut self.last_event_id, &self.id_buffer);
        }
    }

    /// The event with `data`, the type buffer (which is reset) and the last event ID.
    fn event(&mut self, data: String) -> Event {
        let event = if self.event_type.is_empty() {
            String::from("message")
        } else {
            self.event_type.clone()
        };
        self.event_type.clear();
        let id = if self.last_event_id.is_empty() {
            None
        } else {
            Some(self.last_event_id.clone())
        };
        Event {
            event,
            data,
            id,
            retry: self.retry,
        }
    }

    /// Hands the data buffer over to the event when that wastes little memory (otherwise copies
    /// it out), and leaves an empty buffer sized for an event like this one.
    fn take_data(&mut self) -> String {
        let len = self.data.len();
        // Room for a somewhat bigger next event, rounded to a size class so that the allocator
        // recycles the block the previous event's string gave back.
        let next = ((len + len / 2 + 64).next_multiple_of(128))
            .min(KEEP_DATA_CAPACITY)
            .min(self.max.saturating_add(1));
        if self.data.capacity() <= 2 * len + 256 {
            return mem::replace(&mut self.data, String::with_capacity(next));
        }
        // The buffer is much bigger than this event: copy the event out, keep the buffer unless
        // it is big enough to matter.
        let data = self.data.clone();
        if self.data.capacity() > KEEP_DATA_CAPACITY {
            self.data = String::with_capacity(next);
        } else {
            self.data.clear();
        }
        data
    }
}

/// Replaces `buf`'s contents with `value`, growing it to the exact size if it must grow.
fn set_exact(buf: &mut String, value: &str) {
    buf.clear();
    buf.reserve_exact(value.len());
    buf.push_str(value);
}

/// Splits a line that is not blank into a field the parser acts on and its value; `None` for
/// comments and other fields.
#[inline]
fn parse_field(line: &str) -> Option<(Field, &str)> {
    // The known field names are matched by prefix, so no search for the colon is needed.
    // A comment (leading colon) and any other name are ignored.
    let (field, rest) = match line.as_bytes().first() {
        Some(b'd') => (Field::Data, line.strip_prefix("data")?),
        Some(b'i') => (Field::Id, line.strip_prefix("id")?),
        Some(b'e') => (Field::Event, line.strip_prefix("event")?),
        Some(b'r') => (Field::Retry, line.strip_prefix("retry")?),
        _ => return None,
    };
    if rest.is_empty() {
        return Some((field, ""));
    }
    // A longer name that starts like a known one ("datum: x") is another field.
    let value = rest.strip_prefix(':')?;
    Some((field, value.strip_prefix(' ').unwrap_or(value)))
}

/// The fields the parser acts on.
#[derive(Clone, Copy)]
enum Field {
    Data,
    Event,
    Id,
    Retry,
}

/// How many bytes of `chunk` are complete lines: up to and with its last line end. (A CRLF
/// split at the end is two line ends here; the parser skips the LF when the next chunk
/// starts with it.)
#[inline]
pub(crate) fn complete_lines(chunk: &[u8]) -> usize {
    rfind_line_end(chunk).map_or(0, |i| i + 1)
}

/// Skips the line end at `bytes[at]` (a CR, an LF or a CRLF): returns where the next line starts,
/// and whether the line end was a CR that is the last byte (so an LF may follow in the next feed).
#[inline]
fn skip_line_end(bytes: &[u8], at: usize) -> (usize, bool) {
    match bytes.get(at) {
        Some(b'\r') => match bytes.get(at + 1) {
            Some(b'\n') => (at + 2, false),
            Some(_) => (at + 1, false),
            None => (at + 1, true),
        },
        _ => (at + 1, false),
    }
}

/// Appends `bytes` to `buf` unless that makes it longer than `max`, in which case nothing is
/// appended and the error is returned. Capacity never grows past `max`.
fn push_within(buf: &mut Vec<u8>, bytes: &[u8], max: usize) -> Result<(), Error> {
    let need = buf.len() + bytes.len();
    if need > max {
        return Err(Error::EventTooLarge { limit: max });
    }
    if need > buf.capacity() {
        let want = buf.capacity().saturating_mul(2).min(max).max(need);
        buf.reserve_exact(want - buf.len());
    }
    buf.extend_from_slice(bytes);
    Ok(())
}

/// The index of the first CR or LF in `haystack`.
///
/// Guarantees: if an index is returned it is less than `haystack.len()` and the byte there is
/// `\r` or `\n`, and no earlier byte is.
///
/// Safe, std-only and fast: each 32-byte chunk is first tested branch-free for any byte below
/// 0x0E (a loop that LLVM turns into SIMD compares), and only a chunk that has one is searched
/// exactly, word at a time (SWAR).
#[inline(always)]
fn find_line_end(haystack: &[u8]) -> Option<usize> {
    const CHUNK: usize = 32;
    let mut chunks = haystack.chunks_exact(CHUNK);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut low = false;
        for &b in chunk {
            low |= b < 0x0E;
        }
        if low {
            if let Some(i) = find_line_end_swar(chunk) {
                return Some(offset + i);
            }
        }
        offset += CHUNK;
    }
    find_line_end_swar(chunks.remainder()).map(|i| offset + i)
}

/// [`find_line_end`] for a short haystack: word at a time, then byte at a time.
#[inline(always)]
fn find_line_end_swar(haystack: &[u8]) -> Option<usize> {
    let mut words = haystack.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let hits = line_ends(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| offset + i)
}

/// The index of the last CR or LF in `haystack`.
///
/// Guarantees: if an index is returned it is less than `haystack.len()` and the byte there is
/// `\r` or `\n`, and no later byte is. Like [`find_line_end`], chunks (from the end) are tested
/// branch-free first.
#[inline]
fn rfind_line_end(haystack: &[u8]) -> Option<usize> {
    const CHUNK: usize = 32;
    let mut chunks = haystack.rchunks_exact(CHUNK);
    let mut start = haystack.len();
    for chunk in &mut chunks {
        start -= CHUNK;
        let mut low = false;
        for &b in chunk {
            low |= b < 0x0E;
        }
        if low {
            if let Some(i) = chunk.iter().rposition(|&b| b == b'\r' || b == b'\n') {
                return Some(start + i);
            }
        }
    }
    chunks
        .remainder()
        .iter()
        .rposition(|&b| b == b'\r' || b == b'\n')
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Non-zero when some byte of `word` is less than `n` (n <= 0x80). The lowest set high bit marks
/// the first such byte exactly; bits above it may be false positives.
#[inline(always)]
fn below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
}

/// The high bit of each byte of `word` (little-endian order) that is CR or LF; the lowest set bit
/// is exact.
#[inline(always)]
fn line_ends(word: u64) -> u64 {
    below(word ^ (ONES * u64::from(b'\n')), 1) | below(word ^ (ONES * u64::from(b'\r')), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        let mut parser = Parser::new();
        parser.feed(input, &mut |e| events.push(e)).unwrap();
        parser.finish(&mut |e| events.push(e)).unwrap();
        events
    }

    #[test]
    fn find_line_end_matches_a_plain_search() {
        let mut bytes = Vec::new();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(match x % 8 {
                0 => b'\r',
                1 => b'\n',
                2 => 0x0D ^ 0x80,
                3 => (x >> 8) as u8,
                4 => 0x0C,
                5 => 0x0E,
                _ => b'a',
            });
        }
        for start in 0..bytes.len() {
            for end in [
                start,
                start + 1,
                start + 7,
                start + 17,
                start + 40,
                bytes.len(),
            ] {
                let hay = &bytes[start..end.min(bytes.len())];
                let want = hay.iter().position(|&b| b == b'\r' || b == b'\n');
                assert_eq!(find_line_end(hay), want, "{hay:?}");
            }
        }
        let mut long = vec![b'x'; 100];
        assert_eq!(find_line_end(&long), None);
        for i in 0..long.len() {
            long[i] = b'\n';
            assert_eq!(find_line_end(&long), Some(i));
            long[i] = b'\r';
            assert_eq!(find_line_end(&long), Some(i));
            long[i] = b'x';
        }
    }

    #[test]
    fn below_flags_exactly_the_first_small_byte() {
        for v in 0..=255u8 {
            for pos in 0..8 {
                let mut bytes = [0x41u8; 8];
                bytes[pos] = v;
                let hits = below(u64::from_le_bytes(bytes), 0x0E);
                if v < 0x0E {
                    assert_eq!(hits.trailing_zeros() / 8, pos as u32);
                } else {
                    assert_eq!(hits, 0, "{v} at {pos}");
                }
            }
        }
    }

    #[test]
    fn a_cr_at_the_end_of_a_feed_ends_the_line_at_once() {
        let mut events = Vec::new();
        let mut parser = Parser::new();
        parser
            .feed(b"data: x\n\r", &mut |e| events.push(e))
            .unwrap();
        assert_eq!(
            events.len(),
            1,
            "the blank line ended by CR dispatches before more input"
        );
        parser
            .feed(b"\ndata: y\n\n", &mut |e| events.push(e))
            .unwrap();
        assert_eq!(
            events.len(),
            2,
            "the LF after the CR is not another blank line"
        );
        assert_eq!(events[1].data, "y");
    }

    #[test]
    fn the_data_buffer_is_handed_over_and_stays_small() {
        let mut parser = Parser::new();
        let mut datas = Vec::new();
        parser
            .feed(
                &[b"data: ".as_slice(), &[b'x'; 200_000], b"\n\n"].concat(),
                &mut |e| datas.push(e.data),
            )
            .unwrap();
        for _ in 0..3 {
            parser
                .feed(b"data: small\n\n", &mut |e| datas.push(e.data))
                .unwrap();
        }
        assert_eq!(datas[0].len(), 200_000);
        assert!(datas[1..]
            .iter()
            .all(|d| d == "small" && d.capacity() < 1024));
        assert!(parser.fields.data.capacity() <= KEEP_DATA_CAPACITY);
    }

    #[test]
    fn failure_frees_the_buffers_and_sticks() {
        let mut parser = Parser::new().max_event_size(100);
        parser.feed(b"data: 0123456789", &mut |_| {}).unwrap();
        let err = parser.feed(&[b'y'; 200], &mut |_| {}).unwrap_err();
        assert!(matches!(err, Error::EventTooLarge { limit: 100 }));
        assert_eq!(parser.buffered_capacity(), 0);
        assert!(parser
            .feed(b"\n\n", &mut |_| panic!("no events after failing"))
            .is_err());
        assert!(parser
            .finish(&mut |_| panic!("no events after failing"))
            .is_err());
    }

    #[test]
    fn finish_starts_a_new_stream_keeping_the_id_and_retry() {
        let mut parser = Parser::new();
        parser
            .feed(b"id: a\nretry: 5\n\nid: b\ndata: lost", &mut |_| {})
            .unwrap();
        parser.finish(&mut |_| panic!("unterminated")).unwrap();
        let mut events = Vec::new();
        parser
            .feed(b"\xEF\xBB\xBFdata: again\n\n", &mut |e| events.push(e))
            .unwrap();
        assert_eq!(
            events,
            [Event {
                event: "message".into(),
                data: "again".into(),
                id: Some("a".into()),
                retry: Some(Duration::from_millis(5)),
            }]
        );
    }

    #[test]
    fn huge_retry_saturates() {
        let mut parser = Parser::new();
        parser
            .feed(b"retry: 99999999999999999999999999999\n", &mut |_| {})
            .unwrap();
        assert_eq!(parser.retry(), Some(Duration::from_millis(u64::MAX)));
    }

    #[test]
    fn lossy_event_type() {
        let events = parse(b"event: a\xFFb\ndata\n\n");
        assert_eq!(events[0].event, "a\u{FFFD}b");
        assert_eq!(events[0].data, "");
    }

    #[test]
    fn debug_is_short() {
        let mut parser = Parser::new();
        parser.feed(&[b'd'; 10_000], &mut |_| {}).unwrap();
        let text = format!("{parser:?}");
        assert!(text.len() < 300, "{text}");
        assert!(text.contains("pending_line_bytes: 10000"), "{text}");
    }
}
