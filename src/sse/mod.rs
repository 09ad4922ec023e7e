//! Server-Sent Events: a WHATWG-exact parser, a reader over any `Read`, and channel-fed streams.
//!
//! The module knows nothing of sessions: [`Parser`] turns bytes into [`Event`]s,
//! [`EventReader`] drives it over any [`std::io::Read`], and [`EventStream`] is the receiving end
//! of a channel that a worker feeds (see
//! [`RequestBuilder::events`](crate::RequestBuilder::events)). A [`StreamMap`] merges many
//! streams into one channel, each item tagged with its stream's key: the way to read many
//! streams on one thread.
//!
//! Callers that look at each event and do not keep it can borrow it instead: an [`EventRef`]
//! from [`EventReader::next_event`] or [`Parser::feed_ref`] points into the reader's buffer and
//! costs no allocation. A [`Decode`]r gets events that way on the stream's worker.

mod lines;
mod map;
#[cfg(feature = "llm")]
mod objects;
mod parser;
mod reader;
mod stream;

pub use lines::LineParser;
pub(crate) use map::MapFeed;
pub use map::{StreamItem, StreamMap, DEFAULT_MAP_CAPACITY};
pub use parser::{Event, EventRef, Parser, SmolStr, DEFAULT_MAX_EVENT_SIZE};
pub use reader::EventReader;
pub use stream::StopHandle;
pub(crate) use stream::{pump, Resume, Sink};
#[cfg(feature = "llm")]
pub(crate) use stream::{CancelRelay, StopReading};
pub use stream::{Decode, EventStream, RawEvents, StreamOptions, DEFAULT_CHANNEL_CAPACITY};
