//! Python's `requests-futures` for sync Rust: blocking [`ureq`] requests on a pool of worker
//! threads, handles with `.result()`, Server-Sent Events delivered over channels, and streaming
//! LLM chat clients. No async runtime.
//!
//! ```text
//! FuturesSession ──submit──▶ queue ──▶ worker threads (one shared ureq::Agent)
//!       │                                  │
//!   Pending<T> ◀──────── result ───────────┘   buffered requests, hooks, any closure
//!   EventStream ◀─ bounded channel ─ parser ◀─ socket   event streams, LLM chunks
//! ```
//!
//! # Concurrent requests
//!
//! [`FuturesSession::new`] runs up to 8 workers (started as jobs come), like requests-futures. Each
//! request method returns a [`RequestBuilder`]; [`send`](RequestBuilder::send) queues it and
//! returns a [`Pending`] at once. A 4xx or 5xx is a [`Response`], not an error, as in requests.
//!
//! ```
//! # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
//! # let base = doc::serve(&[("/a", "text/plain", "first"), ("/b", "text/plain", "second")]);
//! use ureq_futures::FuturesSession;
//!
//! let session = FuturesSession::new();
//! let a = session.get(format!("{base}/a")).send();        // returns at once
//! let b = session.get(format!("{base}/b")).send();        // both are in flight now
//! assert_eq!(a.result()?.text()?, "first");
//! assert_eq!(b.result()?.text()?, "second");
//!
//! let missing = session.get(format!("{base}/nope")).send().result()?;
//! assert_eq!(missing.status(), 404);                      // a response, not an error
//! assert!(missing.error_for_status().is_err());           // requests' raise_for_status
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! # Hooks: work on the worker
//!
//! requests-futures' response hooks become [`send_with`](RequestBuilder::send_with): the closure
//! runs on the worker, so parsing happens off the caller's thread. [`FuturesSession::submit`]
//! runs any closure on the pool (`executor.submit`).
//!
//! ```
//! # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
//! # let base = doc::serve(&[("/repo", "application/json", r#"{"name":"ureq","stars":1700}"#)]);
//! # use ureq_futures::FuturesSession;
//! #[derive(serde::Deserialize)]
//! struct Repo { name: String, stars: u32 }
//!
//! let session = FuturesSession::new();
//! let repo = session
//!     .get(format!("{base}/repo"))
//!     .send_with(|resp| resp.error_for_status()?.json::<Repo>());
//! let answer = session.submit(|_agent| Ok(6 * 7));
//! assert_eq!(repo.result()?.stars, 1700);
//! assert_eq!(answer.result()?, 42);
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! # Completion order
//!
//! [`as_completed`] yields `(index, result)` as jobs finish, in O(n) overall. [`wait_all`] and
//! [`wait_any`] block without taking results; a [`Pending`] is also a `std::future::Future`.
//!
//! ```
//! # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
//! # let base = doc::serve(&[("/1", "text/plain", "one"), ("/2", "text/plain", "two"), ("/3", "text/plain", "three")]);
//! use ureq_futures::{as_completed, FuturesSession};
//!
//! let session = FuturesSession::new();
//! let urls: Vec<String> = (1..=3).map(|i| format!("{base}/{i}")).collect();
//! let handles: Vec<_> = urls.iter().map(|u| session.get(u).send()).collect();
//! let mut sizes = vec![0; urls.len()];
//! for (i, result) in as_completed(handles) {
//!     sizes[i] = result?.bytes().len();
//! }
//! assert_eq!(sizes, [3, 3, 5]);
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! # Large bodies
//!
//! A buffered [`send`](RequestBuilder::send) holds the body in memory, up to
//! [`max_body_size`](SessionBuilder::max_body_size). [`send_streaming`](RequestBuilder::send_streaming)
//! resolves once the headers are in, with a [`BodyReader`] (an [`std::io::Read`]) read on your
//! thread while the worker moves on; [`download`](RequestBuilder::download) streams the body to
//! `<path>.part` on the worker and renames it to `path` once complete ([`Download`]).
//!
//! ```
//! # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
//! # let base = doc::serve(&[("/big", "application/octet-stream", "a large body")]);
//! use std::io::Read;
//! use ureq_futures::FuturesSession;
//!
//! let session = FuturesSession::new();
//! let mut body = session.get(format!("{base}/big")).send_streaming().result()?;
//! let mut text = String::new();
//! body.read_to_string(&mut text)?;                       // on this thread, as it arrives
//! assert_eq!(text, "a large body");
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! # Many inputs: batches
//!
//! [`FuturesSession::batch`] runs a job per input of any iterator with at most N in flight and
//! yields `(input, result)` as they finish (or in input order with [`Batch::ordered`]): a
//! million inputs run in memory bounded by N, and an error is one input's result. A
//! [`RateLimiter`] keeps request rates per origin and learns pauses from 429s and providers'
//! rate-limit headers.
//!
//! ```
//! # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
//! # let base = doc::serve(&[("/1", "text/plain", "one"), ("/2", "text/plain", "two")]);
//! use ureq_futures::FuturesSession;
//!
//! let session = FuturesSession::new();
//! let mut failed = 0;
//! for (url, result) in session
//!     .batch([format!("{base}/1"), format!("{base}/2")], |s, url| s.get(url).send())
//!     .in_flight(64)
//! {
//!     match result.and_then(|r| r.error_for_status()) {
//!         Ok(resp) => assert!(url.ends_with(if resp.text()? == "one" { "1" } else { "2" })),
//!         Err(_) => failed += 1,
//!     }
//! }
//! assert_eq!(failed, 0);
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! # Event streams
//!
//! [`events`](RequestBuilder::events) resolves as soon as the response headers are in; the
//! worker then reads and parses (with [`sse::Parser`], exact to the WHATWG algorithm) while you
//! consume an [`sse::EventStream`]. Each event is sent the moment its blank line arrives. A
//! chunked or length-delimited body cut short, and a connection reset, are an `Err` item, never
//! a silent end (a body delimited by the connection's close ends cleanly when the server closes
//! it, which cannot be told from a cut).
//!
//! ```
//! # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
//! # let base = doc::serve(&[("/events", "text/event-stream", "event: greeting\ndata: hello\nid: 1\n\ndata: bye\n\n")]);
//! use ureq_futures::FuturesSession;
//!
//! let session = FuturesSession::new();
//! let stream = session
//!     .post(format!("{base}/events"))
//!     .json(&serde_json::json!({ "stream": true }))
//!     .events()
//!     .result()?;
//! let events: Vec<_> = stream.collect::<Result<_, _>>()?;
//! assert_eq!(events[0].event, "greeting");
//! assert_eq!(events[1].data, "bye");
//! assert_eq!(events[1].id.as_deref(), Some("1"));        // the last event ID persists
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! [`sse::EventReader`] parses any [`std::io::Read`] the same way, and
//! [`RequestBuilder::event_source`] reconnects GET streams as browsers' `EventSource` does.
//!
//! # Select over several streams
//!
//! Every stream exposes its `crossbeam_channel::Receiver` ([`crossbeam_channel`] is re-exported,
//! so a program needs no dependency of its own for it):
//!
//! ```
//! # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
//! # let base = doc::serve(&[("/a", "text/event-stream", "data: a1\n\ndata: a2\n\n"), ("/b", "text/event-stream", "data: b1\n\n")]);
//! use ureq_futures::crossbeam_channel::select;
//! use ureq_futures::FuturesSession;
//!
//! let session = FuturesSession::new();
//! let a = session.get(format!("{base}/a")).events().result()?;
//! let b = session.get(format!("{base}/b")).events().result()?;
//! let (mut from_a, mut from_b) = (a.receiver().clone(), b.receiver().clone());
//! let mut seen = Vec::new();
//! for _ in 0..5 {
//!     // A stream's end disconnects its channel; `never()` takes it out of the select.
//!     select! {
//!         recv(from_a) -> msg => match msg {
//!             Ok(event) => seen.push(event?.data),
//!             Err(_) => from_a = ureq_futures::crossbeam_channel::never(),
//!         },
//!         recv(from_b) -> msg => match msg {
//!             Ok(event) => seen.push(event?.data),
//!             Err(_) => from_b = ureq_futures::crossbeam_channel::never(),
//!         },
//!     }
//! }
//! seen.sort();
//! assert_eq!(seen, ["a1", "a2", "b1"]);
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! # Many streams on one thread
//!
//! A `select!` (or a `crossbeam_channel::Select`) registers with every receiver each time it
//! waits: fine for a few streams, costly for hundreds. An [`sse::StreamMap`] merges any number
//! of streams into one channel, each item tagged with its stream's key, and ends each stream
//! with a [`sse::StreamItem::End`]; removing a stream or dropping the map stops its worker.
//!
//! ```
//! # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
//! # let base = doc::serve(&[("/a", "text/event-stream", "data: a1\n\ndata: a2\n\n"), ("/b", "text/event-stream", "data: b1\n\n")]);
//! use ureq_futures::sse::{StreamItem, StreamMap};
//! use ureq_futures::FuturesSession;
//!
//! // A worker per open stream.
//! let session = FuturesSession::builder().max_workers(64).build();
//! let mut streams = StreamMap::new();
//! streams.insert('a', session.get(format!("{base}/a")));
//! streams.insert('b', session.get(format!("{base}/b")));
//! let mut seen = Vec::new();
//! for (key, item) in &mut streams {
//!     match item {
//!         StreamItem::Event(event) => seen.push(format!("{key} {}", event.data)),
//!         StreamItem::End(result) => result?,
//!     }
//! }
//! seen.sort();
//! assert_eq!(seen, ["a a1", "a a2", "b b1"]);
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! # Streaming LLM chat
//!
//! [`llm`] ports tinychat's clients: OpenAI and every OpenAI-compatible server, Anthropic, Gemini,
//! Cohere, Mistral and Together, behind one [`llm::ChatClient`] trait. The JSON chunks are decoded
//! on the worker; the [`llm::ChatStream`] yields only the answer's text.
//!
//! ```no_run
//! # #[cfg(feature = "llm")] {
//! use ureq_futures::llm::{Message, OpenAIClient};
//!
//! let client = OpenAIClient::new("gpt-4o-mini", 0.7); // OPENAI_API_KEY, OPENAI_BASE_URL
//! for piece in client.stream_chat(&[Message::user("Why is the sky blue?")])? {
//!     print!("{}", piece?);
//! }
//! # }
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! # Timeouts
//!
//! | setting | default | buffered request | event stream |
//! |---|---|---|---|
//! | [`timeout`](SessionBuilder::timeout) | none | the whole exchange, body included | until the headers are in |
//! | [`connect_timeout`](SessionBuilder::connect_timeout) | 30 s | TCP connect and TLS (not DNS) | the same |
//! | [`read_timeout`](SessionBuilder::read_timeout) | none | each wait for bytes | each silence between bytes |
//!
//! [`send_streaming`](RequestBuilder::send_streaming) and [`download`](RequestBuilder::download)
//! follow the event-stream column: their bodies can be of any size.
//!
//! A stream never gets a total budget: ureq's global timeout keeps running while a body is read,
//! which would cut a healthy long stream. Keep-alive comments reset the read timeout. Requests
//! can override `timeout` and `read_timeout` one by one. The LLM clients set their own (120 s to
//! the headers, 300 s of silence).
//!
//! Every timeout setter, on [`SessionBuilder`], [`RequestBuilder`] and the LLM clients'
//! builders, takes a `Duration` or `None` (`impl Into<Option<Duration>>`, as ureq's own):
//! `None` is no limit, and replaces a limit set below (the session's for a request, the given
//! agent's for a session); a setter never called leaves that limit in force. Delays, such as
//! [`RetryPolicy::base_delay`] or [`EventSource::initial_retry`], take a `Duration`. A timeout
//! that fires is an [`Error::Timeout`] naming the setting and its value: `no byte for 30 s
//! (read_timeout)`.
//!
//! # Errors
//!
//! One [`Error`] enum, surfaced by [`Pending::result`] or as a stream's last item:
//! [`Error::Io`] for the network's failures (refused, name lookup, TLS, reset, cut: the message
//! names the phase, `host:port` and the redacted URL, and says when an `https://` URL reached a
//! plain-HTTP port; the table in [`Error`] lists which failure is which variant), for a
//! malformed response and for a response head or request line over a connection's buffers
//! (the message names the setting to raise), [`Error::Transport`] for what ureq refuses to
//! send or cannot decode (ureq's error inside),
//! [`Error::TooManyRedirects`] naming the limit, the last URL and its `Location`,
//! [`Error::Timeout`] naming the setting that fired and its value (`no byte for 30 s
//! (read_timeout) while reading the body from host:port (1,234 of 5,000 bytes read) for url: ...`), [`Error::Status`] with
//! the code, URL, headers, first KiB of the body and the API error it carries (its text is one
//! line that keeps tinychat's wording and adds requests': `Server responded with an error. Status
//! Code: 404 Client Error: Not Found for url: ...`), JSON, limits, [`Error::InvalidRequest`] for
//! a URL that cannot be sent (checked before anything is), [`Error::UnsupportedEncoding`] for a
//! body this build cannot decode, [`Error::UnexpectedContentType`] for an event stream answered
//! with something else, [`Error::Protocol`] for a stream cut before its end marker or a piece of
//! it that does not decode, [`Error::Api`] for an error object inside an LLM's 200 stream,
//! [`Error::MissingApiKey`] naming the variable to set, [`Error::Cancelled`],
//! [`Error::ShutDown`], [`Error::Panicked`] (a panic in your closure; the worker survives) and
//! [`Error::Other`] (an error of your closure's own: `?` on a boxed error or a parse error,
//! `.map_err(Error::other)?` on any other).
//! [`RetryPolicy`] retries what a later attempt can fix; it is off unless asked for.
//!
//! # Shutdown
//!
//! Handles outlive their session: dropping the last clone lets every job queued for a live
//! [`Pending`] run, drops only the queued jobs whose handles are gone, and the workers exit once
//! the queue is empty. [`FuturesSession::shutdown`] resolves queued jobs to [`Error::ShutDown`]
//! at once, lets running jobs and streams finish, and returns without blocking;
//! [`FuturesSession::join`] waits for the workers to exit. Workers start on demand, up to
//! `max_workers`: a session built and never used starts no thread. A job that waits on a job
//! queued behind it in its own full pool runs that job inline instead of deadlocking; an event
//! stream's job, which runs for as long as the stream is open, goes on a thread of its own
//! instead (beyond `max_workers`, while the stream is read; [`FuturesSession::join`] does not
//! wait for such a thread); not in a session with `max_per_host` or a rate limiter, where it
//! waits for a free worker (see [`Pending::result`]).
//!
//! # Limits
//!
//! | what | default | past it |
//! |---|---|---|
//! | buffered body | 10 MiB ([`DEFAULT_MAX_BODY_SIZE`]) | [`Error::BodyTooLarge`] |
//! | streamed body, download | none: never held in memory | |
//! | response header | 64 KiB (ureq's default `max_response_header_size`, kept as a cap); an event stream's: 16 KiB − 1, its read buffer ([`DEFAULT_STREAM_BUFFER_SIZE`]) | [`Error::Io`] naming the setting to raise (past 64 KiB: an agent of your own) |
//! | header fields of a response | 128 (ureq's; requests reads 100) | [`Error::Io`] (`InvalidData`) naming the limit, which no setting raises |
//! | event-stream line or event | 16 MiB ([`sse::DEFAULT_MAX_EVENT_SIZE`]) | [`Error::EventTooLarge`] |
//! | events buffered per stream | 64 ([`sse::DEFAULT_CHANNEL_CAPACITY`]) | the worker waits: TCP throttles the server |
//! | workers | 8 ([`DEFAULT_MAX_WORKERS`]) | jobs queue; a stream holds a worker while open |
//! | redirects per request | 10 ([`DEFAULT_MAX_REDIRECTS`]) | [`Error::TooManyRedirects`] |
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `llm` | on | the streaming LLM chat clients ([`llm`]); `default-features = false` leaves the HTTP session and the SSE parser alone |
//! | `socks-proxy` | off | nothing since SOCKS4/SOCKS5 proxies ([`SessionBuilder::proxy`], or `ALL_PROXY`) are always on; kept so that builds that name it still work |
//! | `native-tls` | off | the platform's TLS library, chosen per session with [`SessionBuilder::tls_config`] (rustls stays the default). This crate's feature, not only ureq's: the session's connector takes native-tls only with it, and a session that asks for native-tls without it fails its `https://` requests with an error that says so |
//! | `brotli` | on | decoding of `Content-Encoding: br`, and `br` in `Accept-Encoding`: servers send brotli unasked (httpbin's `/brotli`). Three small crates; without it a brotli body of a 2xx answer is [`Error::UnsupportedEncoding`] |
//!
//! # Minimum Rust version
//!
//! 1.89: ureq 3 needs 1.85, and `smol_str` (an event's type and id, [`sse::SmolStr`]) 1.89.
// One module may use `unsafe`: src/utf8.rs, the event streams' UTF-8 check (its docs say why).
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod batch;
mod body;
mod charset;
mod config;
mod cookies;
mod download;
mod encoding;
mod error;
mod exec;
#[cfg(feature = "llm")]
#[cfg_attr(docsrs, doc(cfg(feature = "llm")))]
pub mod llm;
mod multipart;
mod no_proxy;
mod phase;
mod progress;
mod ratelimit;
mod redirect;
mod request;
mod response;
mod retry;
mod run;
mod session;
mod source;
pub mod sse;
mod stale;
mod timeout;
mod transport;
mod upload;
mod url;
mod utf8;

pub use batch::{Batch, BatchProgress};
pub use body::BodyReader;
pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_WORKERS,
    DEFAULT_STREAM_BUFFER_SIZE,
};
pub use cookies::{Cookie, CookieJar};
pub use download::Download;
pub use error::{Error, StatusError, Timeout, TimeoutError};
pub use exec::{as_completed, wait_all, wait_any, AsCompleted, Pending};
pub use multipart::Multipart;
pub use progress::Progress;
pub use ratelimit::{PauseReason, RateLimit, RateLimitEvent, RateLimiter, DEFAULT_MAX_PAUSE};
pub use request::RequestBuilder;
pub use response::Response;
pub use retry::{RetryEvent, RetryPolicy};
pub use session::{FuturesSession, SessionBuilder};
pub use source::{
    EventSource, Reconnect, DEFAULT_INITIAL_RETRY, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY,
};
pub use url::redact_url;

/// ureq, the version this crate is built with (`>=3.5.2, <3.6`): its types appear in this API
/// (the [`Agent`](ureq::Agent) a [`submit`](FuturesSession::submit) closure gets,
/// [`Proxy`](ureq::Proxy), TLS settings), so a program names them here without a dependency of
/// its own that would have to match.
///
/// # Examples
///
/// ```
/// use ureq_futures::{ureq, FuturesSession};
///
/// let proxy = ureq::Proxy::new("socks5://127.0.0.1:1080")?;
/// let session = FuturesSession::builder().proxy(proxy).build();
/// # drop(session);
/// # Ok::<(), ureq::Error>(())
/// ```
pub use ureq;

/// The channels this crate's streams are read through ([`EventStream::receiver`](sse::EventStream::receiver),
/// [`StreamMap`](sse::StreamMap)'s and `ChatStream::from_receiver`'s), re-exported so that a
/// program selects over them (`select!`), or makes one, without a dependency of its own that
/// would have to match.
///
/// # Examples
///
/// ```
/// use ureq_futures::crossbeam_channel::{self, select};
///
/// let (tx, rx) = crossbeam_channel::bounded::<u32>(1);
/// tx.send(7).unwrap();
/// select! {
///     recv(rx) -> msg => assert_eq!(msg, Ok(7)),
///     default => unreachable!("a message is waiting"),
/// }
/// ```
pub use crossbeam_channel;

/// The README's and the migration guide's examples, compiled as doctests.
#[cfg(all(doctest, feature = "llm"))]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/migration.md")]
struct ReadmeDoctests;
