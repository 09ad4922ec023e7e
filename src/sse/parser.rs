//! The event-stream parser: bytes in, events out, no I/O.
//!
//! This is the WHATWG HTML algorithm "interpreting an event stream" (§9.2.6), line by line.
//!
//! How it stays fast without `unsafe`: each fed chunk is checked as UTF-8 once, from the first
//! line start to its last line end, and its lines are then processed as `&str` slices of the
//! caller's bytes; line ends are found with `memchr`. Only a line that straddles two chunks is
//! copied into a buffer (and checked on its own). An event whose data is one line (most events)
//! is dispatched as a slice of the caller's bytes; the data of an event of several lines is
//! joined in one reused buffer. The event type lives in a reused buffer too, the id in a
//! `SmolStr` (or a reused buffer when longer than 23 bytes). So a dispatched event is an
//! [`EventRef`] that borrows the input and the parser and costs no allocation; an owned
//! [`Event`] is made from it with one allocation, for its data. Its type and id are
//! [`SmolStr`]s (inline up to 23 bytes; the default `"message"` is static), cloned from ones the
//! parser makes once per change of value or `id:` field (see `OwnedForms` and `IdText`): a
//! 24-byte copy, not a new `SmolStr` per event, which costs as much as an allocation on the
//! CPUs measured. The parser does not copy a type that a stream repeats either. Lines with invalid UTF-8 take a
//! slower path that decodes them one at a time, with U+FFFD.
//!
//! A dispatched event's type and joined data stay in the buffers until the parser is next
//! called: that is what lets an [`EventRef`] borrow them. (The other choice, handing the data
//! buffer over to an owned event and starting a new one, saves one copy per owned event of
//! several data lines but costs an allocation per event on the borrowing path; the copy is the
//! cheaper of the two.)
//!
//! Owned events that share the reader's read instead of copying their data (an `Arc` of the
//! read's text, the data a range of it, the buffer reused when no event of the read is alive)
//! were measured and not taken: 22% fewer instructions per event on OpenAI-style chunks but no
//! gain in wall-clock time (the reference count's atomic increment and decrement cost what the
//! allocation and free did), nothing for events of two data lines (joined into a string of
//! their own anyway), and `Event::data` would have stopped being a `String`.

use std::fmt;
use std::time::Duration;

use memchr::{memchr2, memrchr2};
pub use smol_str::SmolStr;

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

/// Above this capacity a data buffer, or the buffer of a line that spanned reads, is not kept
/// for the next event: one huge event or line must not pin its memory for the rest of the
/// stream.
const KEEP_DATA_CAPACITY: usize = 64 * 1024;

/// Empties `line`, the buffer of a line that came in many reads, and frees it when it grew past
/// [`KEEP_DATA_CAPACITY`]: one long line (a snapshot sent as a single `data:` line, a long
/// comment, a long JSON line) must not pin its memory for the rest of the stream.
pub(crate) fn clear_or_free(line: &mut Vec<u8>) {
    if line.capacity() > KEEP_DATA_CAPACITY {
        *line = Vec::new();
    } else {
        line.clear();
    }
}

/// One dispatched event.
///
/// The type and the id are [`SmolStr`]s: a string of up to 23 bytes (every event type the LLM
/// providers send, and most ids) is held inline and a longer one is shared, so an owned event
/// allocates for its data only. A `SmolStr` reads like a `&str` (it derefs to `str`, compares
/// with `&str` and `String`, displays as the text); `.as_str()` matches on it and
/// `.to_string()` or `String::from` makes a `String` of it.
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
///         event: "greeting".into(),
///         data: "hello\nworld".to_string(),
///         id: Some("7".into()),
///         retry: None,
///     }]
/// );
/// assert_eq!(events[0].event, "greeting");
/// assert_eq!(events[0].id.as_deref(), Some("7"));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type: the value of the block's last `event:` field, or `"message"` when the
    /// block had none (or an empty one).
    pub event: SmolStr,
    /// The block's `data:` values joined with `"\n"` (the final line feed is removed).
    /// Never the result of an empty block: a block without `data:` fields dispatches nothing.
    pub data: String,
    /// The last event ID in force when the event was dispatched (set by this block or an earlier
    /// one, as the spec says), or `None` when it is empty.
    pub id: Option<SmolStr>,
    /// The reconnection time in force when the event was dispatched: the value of the last valid
    /// `retry:` field seen so far in the stream (in this block or an earlier one), or `None`
    /// until one was seen.
    pub retry: Option<Duration>,
}

/// One dispatched event, borrowed from the parser (and from the bytes it was fed): what
/// [`EventReader::next_event`](super::EventReader::next_event) and
/// [`Parser::feed_ref`] hand out, without copying anything.
///
/// The fields mean what they mean in [`Event`]; `Event::from(event_ref)` copies it out, and
/// `EventRef::from(&event)` borrows an `Event`.
///
/// # Examples
///
/// ```
/// use ureq_futures::sse::{Event, EventRef, Parser};
///
/// let mut parser = Parser::new();
/// let mut kept = Vec::new();
/// parser.feed_ref(b"event: tick\ndata: 1\n\nid: 7\ndata: 2\ndata: 3\n\n", &mut |e: EventRef<'_>| {
///     // `e` lives only during the call: look at it, or copy out what you keep.
///     if e.event == "tick" {
///         assert_eq!((e.data, e.id), ("1", None));
///     } else {
///         kept.push(Event::from(e));
///     }
/// })?;
/// assert_eq!(kept[0].data, "2\n3");
/// assert_eq!(kept[0].id.as_deref(), Some("7"));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// The event type, `"message"` when the block set none (see [`Event::event`]).
    pub event: &'a str,
    /// The block's `data:` values joined with `"\n"` (see [`Event::data`]).
    pub data: &'a str,
    /// The last event ID in force, `None` when empty (see [`Event::id`]).
    pub id: Option<&'a str>,
    /// The reconnection time in force (see [`Event::retry`]).
    pub retry: Option<Duration>,
}

impl From<EventRef<'_>> for Event {
    #[inline]
    fn from(e: EventRef<'_>) -> Event {
        Event {
            // The default type, in most events of most streams, costs no copy at all.
            event: if e.event == "message" {
                SmolStr::new_static("message")
            } else {
                SmolStr::new(e.event)
            },
            data: String::from(e.data),
            id: e.id.map(SmolStr::new),
            retry: e.retry,
        }
    }
}

impl<'a> From<&'a Event> for EventRef<'a> {
    fn from(e: &'a Event) -> EventRef<'a> {
        EventRef {
            event: &e.event,
            data: &e.data,
            id: e.id.as_deref(),
            retry: e.retry,
        }
    }
}

impl PartialEq<Event> for EventRef<'_> {
    fn eq(&self, other: &Event) -> bool {
        *self == EventRef::from(other)
    }
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
///   returns the same error) and has freed its buffers, but for the last event ID, which a
///   reconnection sends.
/// - Never panics, whatever the input.
///
/// [`feed`](Parser::feed) hands out owned [`Event`]s; [`feed_ref`](Parser::feed_ref) hands out
/// [`EventRef`]s that borrow the input and the parser, for callers that look at each event and
/// do not keep it (no allocation per event).
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
    /// The spec's "event type buffer" when `type_set`, and empty (`"message"`) otherwise. The
    /// text stays when the buffer is reset, so that a stream that names the same type in every
    /// event does not copy it each time.
    event_type: String,
    type_set: bool,
    /// The spec's "last event ID buffer", while `id_set`.
    id_buffer: IdText,
    /// An `id:` field has set `id_buffer` since the last blank line.
    id_set: bool,
    /// The spec's "last event ID string": `id_buffer` as of the last blank line. At a blank
    /// line after an `id:` field the two buffers are swapped, not copied, so `id_buffer` then
    /// holds an older id until the next `id:` field sets it (nothing reads it before that).
    last_event_id: IdText,
    retry: Option<Duration>,
    /// An event was dispatched and its type and data (when joined in `data`) are still in the
    /// buffers, lent to the caller; they are cleared when the parser is next called.
    dispatched: bool,
    /// The type as owned events take it, once one has been asked for: `None` until then, so
    /// that the borrowing path never touches it.
    owned: Option<Box<OwnedForms>>,
    /// The parse loop's line-end search, looked up once per parser rather than once per event
    /// (8 instructions an event).
    line_ends: LineEnds,
    /// Whether an `error:` line is read as `event: error` with its value as data (see
    /// [`Parser::error_lines`]).
    error_lines: bool,
}

/// Where a dispatched event's data is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DataAt {
    /// `text[start..end]`: the event's only data line, in the text the parser was given.
    Text(usize, usize),
    /// `text[a[0]..a[1]]`, LF, `text[b[0]..b[1]]` ([`Lines`]`(a, b)`): the event's two data
    /// lines, not joined yet. An owned event joins them into its own `String` (one copy); a
    /// borrowed one joins them into the data buffer. Offsets are `u32`s, so that this type (the
    /// parse loop's result) stays three words: a text longer than 4 GiB joins its lines in the
    /// buffer.
    Two(Lines),
    /// The parser's data buffer.
    Buffer,
}

/// The lines of [`DataAt::Two`], aligned as `Text`'s offsets are: both payloads are then two
/// words at the same offsets, and the compiler copies a `DataAt` as words. Unaligned, it copied
/// 4 + 16 + 4 bytes from the tag on, and `event_owned` read `Text`'s `end` across two of those
/// stores: a store-forwarding stall per event, about 40% of `event_owned`'s samples. Aligned
/// (thread CPU time, 4 to 6 alternating runs of `benches/sse_parse.rs`, medians): owned events
/// 9% faster on corpus a, `Parser::feed` 7%, borrowed 6%; on corpus b owned and fed events
/// within the noise, borrowed 4% slower. (Two `u64`s, each line's offsets packed in one,
/// measured alike on owned events.)
#[derive(Debug, Clone, Copy)]
#[repr(align(8))]
pub(crate) struct Lines([u32; 2], [u32; 2]);

/// `text[at[0]..at[1]]`, as `DataAt::Two` keeps a line.
#[inline(always)]
fn line_at(text: &str, at: [u32; 2]) -> &str {
    text.get(at[0] as usize..at[1] as usize).unwrap_or_default()
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
            .field("last_event_id", &self.fields.last_event_id.as_str())
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
                type_set: false,
                id_buffer: IdText::default(),
                id_set: false,
                last_event_id: IdText::default(),
                retry: None,
                dispatched: false,
                owned: None,
                line_ends: LineEnds::new(),
                error_lines: false,
            },
        }
    }

    /// Reads a line `error: VALUE`, a field the spec ignores, as `event: error` followed by
    /// `data: VALUE`: llama.cpp's server (and servers built on it) reports a failure in a
    /// chat stream so, then ends with `data: [DONE]`, and an exact parser would drop the
    /// failure without a word. Off by default; the OpenAI-compatible chat clients turn it on.
    #[cfg(feature = "llm")]
    pub(crate) fn error_lines(mut self) -> Self {
        self.fields.error_lines = true;
        self
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
        self.feed_with(bytes, &mut |parser, text, at| {
            on_event(parser.event_owned(text, at))
        })
    }

    /// [`feed`](Parser::feed), handing out each event as an [`EventRef`] that borrows `bytes`
    /// and the parser for the duration of the call: no allocation per event. Copy out
    /// (`Event::from(event)`, `event.data.to_string()`) what you keep.
    ///
    /// # Errors
    ///
    /// As [`feed`](Parser::feed).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// let mut bytes = 0;
    /// parser.feed_ref(b"data: {\"n\":1}\n\ndata: {\"n\":2}\n\n", &mut |e| bytes += e.data.len())?;
    /// assert_eq!(bytes, 14);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn feed_ref(
        &mut self,
        bytes: &[u8],
        on_event: &mut impl FnMut(EventRef<'_>),
    ) -> Result<(), Error> {
        self.feed_with(bytes, &mut |parser, text, at| {
            on_event(parser.event_ref(text, at))
        })
    }

    /// `feed` and `feed_ref`: `dispatch` gets each event as where its data is (in the text it
    /// is handed, or in the parser's buffer).
    #[inline(always)]
    fn feed_with(
        &mut self,
        bytes: &[u8],
        dispatch: &mut impl FnMut(&mut Parser, &str, DataAt),
    ) -> Result<(), Error> {
        // The three steps of a chunk, each of which fails for good once one has failed.
        let start = self.start_chunk(bytes)?;
        let rest = bytes.get(start..).unwrap_or_default();
        let (lines, tail) = rest.split_at(complete_lines(rest));
        match crate::utf8::str_from_utf8(lines) {
            Some(text) => {
                let mut pos = 0;
                while let (end, Some(at)) = self.text_until_event(text, pos)? {
                    dispatch(self, text, at);
                    pos = end;
                }
            }
            None => {
                let mut pos = 0;
                while let (end, Some(at)) = self.raw_until_event(lines, pos)? {
                    dispatch(self, "", at);
                    pos = end;
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
        if self.end_stream()? {
            on_event(self.event_owned("", DataAt::Buffer));
        }
        Ok(())
    }

    /// [`finish`](Parser::finish), handing out the unterminated event (when there is one and it
    /// is dispatched) as an [`EventRef`].
    ///
    /// # Errors
    ///
    /// As [`finish`](Parser::finish).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut parser = Parser::new().dispatch_unterminated(true);
    /// parser.feed_ref(b"data: cut", &mut |_| unreachable!())?;
    /// let mut last = String::new();
    /// parser.finish_ref(&mut |e| last.push_str(e.data))?;
    /// assert_eq!(last, "cut");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn finish_ref(&mut self, on_event: &mut impl FnMut(EventRef<'_>)) -> Result<(), Error> {
        if self.end_stream()? {
            on_event(self.event_ref("", DataAt::Buffer));
        }
        Ok(())
    }

    /// The work of [`finish`](Parser::finish): whether an event was dispatched (its type and
    /// data are in the buffers).
    pub(crate) fn end_stream(&mut self) -> Result<bool, Error> {
        if self.failed {
            return Err(self.fields.too_large());
        }
        self.fields.end_dispatched();
        if let Some(seen) = self.bom_seen {
            // A stream that ended inside what could have been a BOM: those bytes are a line.
            self.line.extend_from_slice(&BOM[..seen]);
        }
        let mut dispatched = false;
        if self.dispatch_unterminated {
            // A non-empty line never dispatches, so at most one event comes out of here.
            let result = if self.line.is_empty() {
                Ok(())
            } else {
                self.fields.process_raw_field(&self.line)
            };
            match result {
                Ok(()) => dispatched = self.fields.dispatch(),
                Err(e) => return Err(self.fail(e)),
            }
        }
        self.clear_line();
        self.bom_seen = Some(0);
        self.skip_lf = false;
        if !dispatched {
            self.fields.data.clear();
            self.fields.type_set = false;
        }
        self.fields.id_set = false;
        Ok(dispatched)
    }

    /// The event just dispatched, whose data is at `at` (in `text`, or in the data buffer).
    #[inline]
    pub(crate) fn event_ref<'a>(&'a mut self, text: &'a str, mut at: DataAt) -> EventRef<'a> {
        if let DataAt::Two(Lines(a, b)) = at {
            let (a, b) = (line_at(text, a), line_at(text, b));
            let data = &mut self.fields.data;
            data.reserve(a.len() + 1 + b.len());
            data.push_str(a);
            data.push('\n');
            data.push_str(b);
            at = DataAt::Buffer;
        }
        let f = &self.fields;
        EventRef {
            event: if f.type_set { &f.event_type } else { "message" },
            data: match at {
                DataAt::Text(start, end) => text.get(start..end).unwrap_or_default(),
                DataAt::Two(..) | DataAt::Buffer => &f.data,
            },
            id: (!f.last_event_id.is_empty()).then(|| f.last_event_id.as_str()),
            retry: f.retry,
        }
    }

    /// The event just dispatched as an owned [`Event`]: what `Event::from(self.event_ref(..))`
    /// makes, but a short type and id are clones of the parser's [`SmolStr`]s (made once per
    /// change of value, or per `id:` field), not made anew for every event.
    #[inline]
    pub(crate) fn event_owned(&mut self, text: &str, at: DataAt) -> Event {
        let f = &mut self.fields;
        if f.owned.is_none() {
            f.owned = Some(Box::new(OwnedForms::of(f)));
        }
        let owned = f.owned.as_deref().unwrap_or(OwnedForms::EMPTY);
        Event {
            event: if f.type_set {
                owned_form(&owned.event_type, &f.event_type)
            } else {
                SmolStr::new_static("message")
            },
            data: match at {
                DataAt::Text(start, end) => String::from(text.get(start..end).unwrap_or_default()),
                DataAt::Two(Lines(a, b)) => {
                    // Not `event_ref`'s join into a buffer: `String::new()` + `reserve` takes
                    // the growth path, 70 instructions an event more on corpus b (callgrind).
                    let (a, b) = (line_at(text, a), line_at(text, b));
                    let mut data = String::with_capacity(a.len() + 1 + b.len());
                    data.push_str(a);
                    data.push('\n');
                    data.push_str(b);
                    data
                }
                DataAt::Buffer => String::from(f.data.as_str()),
            },
            id: if f.last_event_id.is_empty() {
                None
            } else {
                Some(f.last_event_id.to_smol_str())
            },
            retry: f.retry,
        }
    }

    /// Starts with `id` as the last event ID, as an `EventSource` does when it reconnects with
    /// `Last-Event-ID`: events carry it until the stream sets another or resets it. An `id`
    /// containing NUL is ignored, as the spec ignores such an `id:` field, and so is one
    /// containing CR or LF, which no `id:` line can hold. Given to an
    /// [`EventSource`](crate::EventSource) in its [`options`](crate::EventSource::options), it
    /// is the ID its first connection sends, unless the request (or else the session's default
    /// headers) sets a `Last-Event-ID` of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::sse::Parser;
    ///
    /// let mut parser = Parser::new().with_last_event_id("41");
    /// let mut ids = Vec::new();
    /// parser.feed(b"data: a\n\nid\ndata: b\n\n", &mut |e| ids.push(e.id)).unwrap();
    /// assert_eq!(ids, [Some("41".into()), None]);
    /// ```
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        if !id.contains(['\0', '\r', '\n']) {
            self.fields.id_buffer.set(id);
            self.fields.last_event_id.set(id);
            if self.fields.owned.is_some() {
                self.fields.owned = Some(Box::new(OwnedForms::of(&self.fields)));
            }
        }
        self
    }

    /// Starts with `retry` as the reconnection time in force, as an `EventSource` does when it
    /// reconnects after a server's `retry:`: events carry it until the stream sends another.
    pub(crate) fn with_retry(mut self, retry: Duration) -> Self {
        self.fields.retry = Some(retry);
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
        self.fields.last_event_id.as_str()
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
            + self.fields.id_buffer.long.capacity()
            + self.fields.last_event_id.long.capacity()
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
        self.fields.end_dispatched();
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
        self.clear_line();
        result.map(|()| pos + next)
    }

    /// Step 2 of a chunk, for complete lines that are valid UTF-8: processes `text[from..]`
    /// until an event is dispatched or the text is used up, and returns where it stopped and
    /// where the dispatched event's data is ([`event_ref`](Parser::event_ref) with the same
    /// `text` gives the event).
    #[inline(always)]
    pub(crate) fn text_until_event(
        &mut self,
        text: &str,
        from: usize,
    ) -> Result<(usize, Option<DataAt>), Error> {
        if self.failed {
            return Err(self.fields.too_large());
        }
        self.fields
            .text_until_event(text, from)
            .map_err(|e| self.fail(e))
    }

    /// Step 2 of a chunk, for complete lines that are not valid UTF-8: `lines[from..]`.
    pub(crate) fn raw_until_event(
        &mut self,
        lines: &[u8],
        from: usize,
    ) -> Result<(usize, Option<DataAt>), Error> {
        if self.failed {
            return Err(self.fields.too_large());
        }
        self.fields
            .raw_until_event(lines, from)
            .map_err(|e| self.fail(e))
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

    /// Empties the buffer of a line that spanned chunks (see [`clear_or_free`]).
    fn clear_line(&mut self) {
        clear_or_free(&mut self.line);
    }

    /// The most bytes an event may hold (see [`max_event_size`](Parser::max_event_size)).
    #[cfg(feature = "llm")]
    pub(crate) fn max_size(&self) -> usize {
        self.fields.max
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
    #[cold]
    fn fail(&mut self, error: Error) -> Error {
        self.failed = true;
        self.line = Vec::new();
        self.fields.data = String::new();
        self.fields.event_type = String::new();
        self.fields.owned = None;
        self.fields.type_set = false;
        error
    }
}

impl Fields {
    #[cold]
    fn too_large(&self) -> Error {
        Error::EventTooLarge { limit: self.max }
    }

    /// Clears the type and data of the event dispatched last, which stayed in the buffers for
    /// the caller to borrow. A data buffer that one big event made big is not kept: it must not
    /// pin its memory for the rest of the stream.
    #[inline]
    fn end_dispatched(&mut self) {
        if self.dispatched {
            self.dispatched = false;
            self.type_set = false;
            if self.data.capacity() > KEEP_DATA_CAPACITY {
                self.data = String::new();
            } else {
                self.data.clear();
            }
        }
    }

    /// Processes the complete lines of `text[from..]` until an event is dispatched or the text
    /// is used up; returns where it stopped. `text` ends with a line end (or is empty).
    #[inline(always)]
    fn text_until_event(
        &mut self,
        text: &str,
        from: usize,
    ) -> Result<(usize, Option<DataAt>), Error> {
        self.end_dispatched();
        let bytes = text.as_bytes();
        let mut pos = from;
        // The event's only data line so far, not copied: most events have one, and it is the
        // event's data, in place.
        let mut single: Option<(usize, usize)> = None;
        let finder = self.line_ends;
        while let Some(&first) = bytes.get(pos) {
            if first == b'\n' || first == b'\r' {
                // A blank line.
                pos = skip_line_end(bytes, pos).0;
                let at = match single.take() {
                    Some((start, end)) => {
                        self.update_last_event_id();
                        self.dispatched = true;
                        DataAt::Text(start, end)
                    }
                    None if self.dispatch() => DataAt::Buffer,
                    None => continue,
                };
                return Ok((pos, Some(at)));
            }
            let rest = bytes.get(pos..).unwrap_or_default();
            let Some(len) = finder.find(rest) else {
                break;
            };
            if len > self.max {
                return Err(self.too_large());
            }
            let line = rest.get(..len).unwrap_or_default();
            let line_start = pos;
            pos = skip_line_end(bytes, pos + len).0;
            let Some((field, at)) = parse_field(line) else {
                if let Some(at) = self.error_lines.then(|| error_value_at(line)).flatten() {
                    if let Some((start, end)) = single.take() {
                        self.apply_field(Field::Data, text.get(start..end).unwrap_or_default())?;
                    }
                    let value = text.get(line_start + at..line_start + len);
                    self.error_line(value.unwrap_or_default())?;
                }
                continue;
            };
            let (start, end) = (line_start + at, line_start + len);
            if let Field::Data = field {
                if single.is_none() && self.data.is_empty() {
                    // Implied by the line limit (the value is shorter than its line), but this
                    // is the data limit's check.
                    if end - start > self.max {
                        return Err(self.too_large());
                    }
                    single = Some((start, end));
                    continue;
                }
                if let (Some(a), Some(b'\n' | b'\r'), Ok(end32)) =
                    (single, bytes.get(pos), u32::try_from(end))
                {
                    // A second data line, and the blank line follows: the event's data stays
                    // in place too, and the event joins the two lines (an owned one straight
                    // into its own `String`: one copy, not two).
                    if a.1 - a.0 + 1 + end - start > self.max {
                        return Err(self.too_large());
                    }
                    pos = skip_line_end(bytes, pos).0;
                    self.update_last_event_id();
                    self.dispatched = true;
                    // Fit: all of them are at most `end`.
                    let [a0, a1, start] = [a.0, a.1, start].map(|n| n as u32);
                    return Ok((pos, Some(DataAt::Two(Lines([a0, a1], [start, end32])))));
                }
            }
            // Lines start and end next to ASCII line ends, and a value after an ASCII colon or
            // space: always character boundaries.
            let value = text.get(start..end).unwrap_or_default();
            match field {
                Field::Data => {
                    // A second data line: the buffer joins them.
                    if let Some((start, end)) = single.take() {
                        self.apply_field(Field::Data, text.get(start..end).unwrap_or_default())?;
                    }
                    self.apply_field(Field::Data, value)?;
                }
                // The same type as the buffer holds (most `event:` lines): no call.
                Field::Event if !value.is_empty() && value == self.event_type => {
                    self.type_set = true;
                }
                Field::Event => self.apply_event(value)?,
                Field::Id => self.apply_id(value)?,
                Field::Retry => self.apply_field(field, value)?,
            }
        }
        // The text ends inside an event: keep its data line.
        if let Some((start, end)) = single {
            self.apply_field(Field::Data, text.get(start..end).unwrap_or_default())?;
        }
        Ok((text.len(), None))
    }

    /// [`text_until_event`](Fields::text_until_event) for lines that are not all valid UTF-8.
    /// A dispatched event's data is always in the buffer.
    fn raw_until_event(
        &mut self,
        lines: &[u8],
        from: usize,
    ) -> Result<(usize, Option<DataAt>), Error> {
        self.end_dispatched();
        let mut pos = from;
        while let Some(len) = find_line_end(lines.get(pos..).unwrap_or_default()) {
            if len > self.max {
                return Err(self.too_large());
            }
            let line = lines.get(pos..pos + len).unwrap_or_default();
            pos = skip_line_end(lines, pos + len).0;
            if line.is_empty() {
                if self.dispatch() {
                    return Ok((pos, Some(DataAt::Buffer)));
                }
            } else {
                self.process_raw_field(line)?;
            }
        }
        Ok((lines.len(), None))
    }

    /// [`process_field`](Fields::process_field) for a line given as bytes.
    fn process_raw_field(&mut self, line: &[u8]) -> Result<(), Error> {
        match crate::utf8::str_from_utf8(line) {
            Some(text) => self.process_field(text),
            None => self.process_field(&String::from_utf8_lossy(line)),
        }
    }

    /// Processes a line that is not blank: a field or a comment.
    #[inline]
    fn process_field(&mut self, line: &str) -> Result<(), Error> {
        match parse_field(line.as_bytes()) {
            Some((field, at)) => self.apply_field(field, line.get(at..).unwrap_or_default()),
            None => match self
                .error_lines
                .then(|| error_value_at(line.as_bytes()))
                .flatten()
            {
                Some(at) => self.error_line(line.get(at..).unwrap_or_default()),
                None => Ok(()),
            },
        }
    }

    /// An `error:` line's value, read as `event: error` and `data: value`.
    #[cold]
    fn error_line(&mut self, value: &str) -> Result<(), Error> {
        self.apply_event("error")?;
        self.apply_field(Field::Data, value)
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
            Field::Event => return self.apply_event(value),
            Field::Id => return self.apply_id(value),
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

    // The `id:` field is inlined into the parse loop: called, it cost a stream with an id in
    // every event about 48 instructions an event (the call, and its result through memory).
    // Inlining the `event:` field as well saved 12 more there but made events of one data line
    // 2 instructions dearer; it is called.

    /// Acts on an `event:` field. Decoded values are checked too: an invalid byte decodes to
    /// three, and this buffer outlives its line. It grows to the exact size, never by doubling.
    #[inline(never)]
    fn apply_event(&mut self, value: &str) -> Result<(), Error> {
        if value.len() > self.max {
            return Err(self.too_large());
        }
        if self.event_type != value {
            set_exact(&mut self.event_type, value);
            if let Some(owned) = &mut self.owned {
                owned.set_type(value);
            }
        }
        self.type_set = !value.is_empty();
        Ok(())
    }

    /// Acts on an `id:` field (checked like an `event:` field's value).
    #[inline(always)]
    fn apply_id(&mut self, value: &str) -> Result<(), Error> {
        if value.len() > self.max {
            return Err(self.too_large());
        }
        if !value.bytes().any(|b| b == 0) {
            self.id_buffer.set(value);
            self.id_set = true;
        }
        Ok(())
    }

    /// The spec's "dispatch the event" for an event whose data is in the buffer, run at a blank
    /// line: whether there is an event (a block without data has none).
    #[inline]
    fn dispatch(&mut self) -> bool {
        self.update_last_event_id();
        if self.data.is_empty() {
            self.type_set = false;
            return false;
        }
        self.data.pop(); // the LF after the last data line
        self.dispatched = true;
        true
    }

    #[inline]
    fn update_last_event_id(&mut self) {
        if self.id_set {
            self.id_set = false;
            std::mem::swap(&mut self.last_event_id, &mut self.id_buffer);
        }
    }
}

/// The type as owned events take it: the `SmolStr` of [`Fields`]' `event_type`, or empty when
/// that is empty or over 23 bytes (its `SmolStr` would be a second heap copy: each owned event
/// makes its own, as `Event::from` does).
///
/// It is made when a line changes the type, not when an event is dispatched. Made at dispatch,
/// a `SmolStr` cost nearly as much as a new one per event: its bytes are written and at once
/// read back at other widths, which stalls the CPU (`perf`: most of the owned path's cost on a
/// stream with an `id:` per event, when ids were made so). It lives in a box that the first
/// owned event makes, so that a caller of `next_event` or `feed_ref` only never makes nor
/// updates it. (Ids are kept as `SmolStr`s by both paths: see [`IdText`].)
#[derive(Clone, Default)]
struct OwnedForms {
    event_type: SmolStr,
}

impl OwnedForms {
    /// What an owned event falls back on before its parser has made its own (never, in fact).
    const EMPTY: &'static OwnedForms = &OwnedForms {
        event_type: SmolStr::new_static(""),
    };

    fn of(fields: &Fields) -> OwnedForms {
        OwnedForms {
            event_type: short_form(&fields.event_type),
        }
    }

    // The form is boxed and its setter kept out of the parse loop, which the borrowing path
    // shares.

    /// Follows an `event:` field that changed the type.
    #[inline(never)]
    fn set_type(&mut self, value: &str) {
        self.event_type = short_form(value);
    }
}

/// An event ID as the parser keeps it: up to 23 bytes (most ids) inline in a [`SmolStr`], which
/// an owned event clones (a copy of 24 bytes) and the borrowing path reads; a longer one in a
/// reused `String` (an owned event makes its own `SmolStr` of it, as `Event::from` does, and
/// the borrowing path still allocates nothing).
///
/// One copy per `id:` field on both paths. (Kept as a `String` plus, once an owned event was
/// asked for, a `SmolStr`, an id was copied twice on the owned path: 59 more instructions an
/// owned event on a stream with an `id:` per event, 5 fewer a borrowed one.)
#[derive(Clone, Default)]
struct IdText {
    /// The id's length: which of the two holds it, and whether there is one, at the cost of one
    /// load (a `SmolStr`'s length is a match on its three forms).
    len: usize,
    /// The id when it is at most [`INLINE_CAP`] bytes long.
    short: SmolStr,
    /// The id when it is longer; empty otherwise.
    long: String,
}

impl IdText {
    #[inline]
    fn set(&mut self, value: &str) {
        self.len = value.len();
        if value.len() <= INLINE_CAP {
            self.short = SmolStr::new_inline(value);
            self.long.clear();
        } else {
            self.short = SmolStr::default();
            set_exact(&mut self.long, value);
        }
    }

    #[inline]
    fn as_str(&self) -> &str {
        if self.len <= INLINE_CAP {
            &self.short
        } else {
            &self.long
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id as an owned event holds it.
    #[inline]
    fn to_smol_str(&self) -> SmolStr {
        if self.len <= INLINE_CAP {
            self.short.clone()
        } else {
            SmolStr::new(&self.long)
        }
    }
}

/// The longest text a [`SmolStr`] holds without allocating.
const INLINE_CAP: usize = 23;

/// `value` as a `SmolStr` when it is held inline; empty otherwise.
#[inline]
fn short_form(value: &str) -> SmolStr {
    if value.len() <= INLINE_CAP {
        SmolStr::new_inline(value)
    } else {
        SmolStr::default()
    }
}

/// An owned event's type or id: the kept `form` of `value`, or a new one when none is kept.
#[inline]
fn owned_form(form: &SmolStr, value: &str) -> SmolStr {
    if form.is_empty() {
        SmolStr::new(value)
    } else {
        form.clone()
    }
}

/// Replaces `buf`'s contents with `value`, growing it to the exact size if it must grow.
fn set_exact(buf: &mut String, value: &str) {
    buf.clear();
    buf.reserve_exact(value.len());
    buf.push_str(value);
}

/// Splits a line that is not blank into a field the parser acts on and where its value starts;
/// `None` for comments and other fields.
#[inline(always)]
fn parse_field(line: &[u8]) -> Option<(Field, usize)> {
    // The known field names are matched by prefix, so no search for the colon is needed.
    // A comment (leading colon) and any other name are ignored.
    let (field, rest) = match line.first() {
        Some(b'd') => (Field::Data, line.strip_prefix(b"data")?),
        Some(b'i') => (Field::Id, line.strip_prefix(b"id")?),
        Some(b'e') => (Field::Event, line.strip_prefix(b"event")?),
        Some(b'r') => (Field::Retry, line.strip_prefix(b"retry")?),
        _ => return None,
    };
    let name = line.len() - rest.len();
    match rest {
        [] => Some((field, name)),
        [b':', b' ', ..] => Some((field, name + 2)),
        [b':', ..] => Some((field, name + 1)),
        // A longer name that starts like a known one ("datum: x") is another field.
        _ => None,
    }
}

/// Where the value of an `error:` line starts (see [`Parser::error_lines`]), as `parse_field`
/// finds a field's; `None` for any other line.
fn error_value_at(line: &[u8]) -> Option<usize> {
    match line.strip_prefix(b"error")? {
        [] => Some(line.len()),
        [b':', b' ', ..] => Some(7),
        [b':', ..] => Some(6),
        _ => None,
    }
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
/// `memchr2` rather than a search of our own: measured in `benches/sse_parse.rs`, the parser is
/// as fast with it as with the hand-written SWAR search it replaced (within the run-to-run
/// spread, on both corpora), although that search alone scans faster than `memchr2`'s
/// iterator over text with many line ends; a first pass of 32 bytes inline before calling
/// `memchr2` gained nothing either. It is less code, and well tested.
#[inline]
fn find_line_end(haystack: &[u8]) -> Option<usize> {
    memchr2(b'\r', b'\n', haystack)
}

/// [`find_line_end`] for the parse loop, which searches once per line.
///
/// On x86-64 with AVX2 it calls `memchr`'s AVX2 searcher, built once per process, directly:
/// `memchr2` picks that searcher through a function pointer and rebuilds it on every call, which
/// cost about 25 instructions a call (a third of a search that finds a short line's end), or
/// 115 per event on the Anthropic-style corpus (4 searches an event). Elsewhere it is
/// `memchr2`.
#[derive(Clone, Copy)]
struct LineEnds {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<&'static memchr::arch::x86_64::avx2::memchr::Two>,
}

/// `memchr`'s AVX2 searcher for CR and LF, `None` when the CPU lacks AVX2.
#[cfg(target_arch = "x86_64")]
static AVX2: std::sync::OnceLock<Option<memchr::arch::x86_64::avx2::memchr::Two>> =
    std::sync::OnceLock::new();

impl LineEnds {
    /// The searcher (a load and a test once it is built).
    #[inline(always)]
    fn new() -> LineEnds {
        LineEnds {
            #[cfg(target_arch = "x86_64")]
            avx2: AVX2
                .get_or_init(|| memchr::arch::x86_64::avx2::memchr::Two::new(b'\r', b'\n'))
                .as_ref(),
        }
    }

    /// The index of the first CR or LF in `haystack`.
    #[inline(always)]
    fn find(self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(avx2) = self.avx2 {
            return avx2.find(haystack);
        }
        find_line_end(haystack)
    }
}

/// The index of the last CR or LF in `haystack`.
#[inline]
fn rfind_line_end(haystack: &[u8]) -> Option<usize> {
    memrchr2(b'\r', b'\n', haystack)
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

    /// `error:` lines, read as an `error` event when asked (llama.cpp's failures), by every
    /// path: owned and borrowed, split anywhere, valid UTF-8 or not; ignored otherwise.
    #[test]
    #[cfg(feature = "llm")]
    fn error_lines_are_error_events_when_asked() {
        let input: &[u8] = b"data: a\n\nerror: {\"code\":400}\r\n\r\ndata: b\nerror:x\n\nerror\n\nerrors: no\ndata: c\n\n";
        let want = [
            ("message", "a"),
            ("error", "{\"code\":400}"),
            ("error", "b\nx"),
            ("error", ""),
            ("message", "c"),
        ];
        let mut invalid = input.to_vec();
        invalid.extend_from_slice(b"error: \xff\n\n");
        for (input, more) in [(input, None), (&invalid[..], Some("\u{fffd}"))] {
            let want: Vec<(&str, &str)> = want
                .iter()
                .copied()
                .chain(more.map(|d| ("error", d)))
                .collect();
            for split in 0..=input.len() {
                let mut owned = Vec::new();
                let mut parser = Parser::new().error_lines();
                let mut keep = |e: Event| owned.push((e.event.to_string(), e.data));
                parser.feed(&input[..split], &mut keep).unwrap();
                parser.feed(&input[split..], &mut keep).unwrap();
                parser.finish(&mut keep).unwrap();
                let owned: Vec<_> = owned
                    .iter()
                    .map(|(t, d)| (t.as_str(), d.as_str()))
                    .collect();
                assert_eq!(owned, want, "split at {split}");
                let mut borrowed = Vec::new();
                let mut parser = Parser::new().error_lines();
                let mut keep =
                    |e: EventRef<'_>| borrowed.push((e.event.to_string(), e.data.to_string()));
                parser.feed_ref(&input[..split], &mut keep).unwrap();
                parser.feed_ref(&input[split..], &mut keep).unwrap();
                parser.finish_ref(&mut keep).unwrap();
                let borrowed: Vec<_> = borrowed
                    .iter()
                    .map(|(t, d)| (t.as_str(), d.as_str()))
                    .collect();
                assert_eq!(borrowed, want, "split at {split}");
            }
        }
        let plain: Vec<_> = parse(input).into_iter().map(|e| e.data).collect();
        assert_eq!(plain, ["a", "b", "c"]);
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
    fn a_big_event_does_not_pin_its_buffer() {
        let mut parser = Parser::new();
        let mut datas = Vec::new();
        let big = [b"data: ".as_slice(), &[b'x'; 200_000], b"\ndata\n\n"].concat();
        parser.feed(&big, &mut |e| datas.push(e.data)).unwrap();
        for _ in 0..3 {
            parser
                .feed(b"data: small\ndata: two\n\n", &mut |e| datas.push(e.data))
                .unwrap();
        }
        assert_eq!(datas[0].len(), 200_001);
        assert!(datas[1..]
            .iter()
            .all(|d| d == "small\ntwo" && d.capacity() < 1024));
        assert!(parser.fields.data.capacity() <= KEEP_DATA_CAPACITY);
    }

    /// One long line that came in many reads (a `data:` line, then a comment) leaves no buffer
    /// of its size behind, in the parser or in an `EventReader`.
    #[test]
    fn a_long_line_does_not_pin_its_buffer() {
        for start in [b"data: ".as_slice(), b": "] {
            let long = [start, &[b'x'; 200_000], b"\n\n"].concat();
            let mut parser = Parser::new();
            let mut datas = Vec::new();
            for piece in long.chunks(4096) {
                parser.feed(piece, &mut |e| datas.push(e.data)).unwrap();
            }
            parser
                .feed(b"data: small\n\n", &mut |e| datas.push(e.data))
                .unwrap();
            assert_eq!(datas.last().map(String::as_str), Some("small"));
            let kept = parser.buffered_capacity();
            assert!(kept <= 2 * KEEP_DATA_CAPACITY, "{kept} bytes kept");

            let input = [long.as_slice(), b"data: small\n\n"].concat();
            let mut reader = super::super::EventReader::new(&input[..]);
            let last = reader.by_ref().last().map(|e| e.unwrap().data);
            assert_eq!(last.as_deref(), Some("small"));
            let kept = reader.parser().buffered_capacity();
            assert!(kept <= 2 * KEEP_DATA_CAPACITY, "{kept} bytes kept");
        }
    }

    #[test]
    fn a_lent_event_is_cleared_when_the_parser_is_next_called() {
        let mut parser = Parser::new();
        let mut seen = Vec::new();
        let mut on_event = |e: EventRef<'_>| seen.push(format!("{}={}", e.event, e.data));
        // Joined data, then a single line with no type: nothing of the first may leak.
        parser
            .feed_ref(b"event: a\ndata: 1\ndata: 2\n\n", &mut on_event)
            .unwrap();
        parser.feed_ref(b"data: 3\n\n", &mut on_event).unwrap();
        // Across a chunk boundary inside the next event, and through `finish`.
        parser
            .feed_ref(b"event: b\ndata: 4\n\nda", &mut on_event)
            .unwrap();
        parser.feed_ref(b"ta: 5\n", &mut on_event).unwrap();
        parser.finish_ref(&mut on_event).unwrap();
        parser.feed_ref(b"data: 6\n\n", &mut on_event).unwrap();
        assert_eq!(seen, ["a=1\n2", "message=3", "b=4", "message=6"]);
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
