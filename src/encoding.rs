//! Content encodings: what a request asks for, and decoding what the server sends.
//!
//! # What ureq does, and what is added here
//!
//! ureq decodes a body itself when its `Content-Encoding` is exactly `gzip` (its `gzip` feature,
//! on by default; the `Decompress` error this module speaks in comes with it) or exactly `br`
//! (its `brotli` feature, which this crate leaves off: its decoder never reads a body to its
//! end, so the connection is never reused), and then removes `Content-Encoding` and
//! `Content-Length` from the response. Any other value reaches the caller with the encoded
//! bytes as the body: httpbin's `/deflate`, a `GZIP` in capitals, or a list such as
//! `gzip, deflate`. So the engine hands every response to [`decode`]: a `Content-Encoding` that
//! ureq left in place is decoded here (gzip, deflate in both its forms, brotli when the crate's
//! `brotli` feature is on), and any other is [`Error::UnsupportedEncoding`] rather than a body of
//! compressed bytes. So is a list of more than five codings (gzip, deflate and br in any order;
//! curl stops at five too): each is a decoder reading from the next, and a server naming
//! thousands would overflow the stack of the thread reading the body.
//!
//! `deflate` is meant to be a zlib stream (RFC 9110 §8.4.1.2), but servers (IIS, some PHP and
//! Node setups) send raw deflate under that name, and browsers and curl accept both. The first two
//! bytes tell them apart: a zlib header has compression method 8, a window of at most 32 KiB, and
//! a check value that makes the pair a multiple of 31 (RFC 1950 §2.2).
//!
//! # Accept-Encoding
//!
//! A request asks for [`ACCEPT_ENCODING`], exactly what this build decodes: `gzip, deflate`, and
//! `br` when the `brotli` feature is on. ureq's own default would name `br` whenever any crate in
//! the build turns on ureq's `brotli` feature; ours depends only on this crate's features. Event
//! streams ask for `identity` (a compressed stream may hold back events in the decoder's buffer),
//! but a stream the server encodes anyway is decoded like any body.
//!
//! # Why brotli is a default feature
//!
//! Servers send brotli unasked (httpbin's `/brotli`; a CDN that cached one coding), and a body
//! this build cannot decode is an error, never the compressed bytes. The decoder is three small
//! crates (`brotli-decompressor` and its allocators). A build that leaves the feature out
//! (`default-features = false`) asks for `gzip, deflate` only, and a
//! server that sends brotli all the same gets an error that names the feature.
//!
//! Decoded bodies are bounded like any other: [`max_body_size`](crate::SessionBuilder::max_body_size)
//! counts decoded bytes, so a small compressed body that inflates past it fails with
//! [`Error::BodyTooLarge`].

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use ureq::http::{self, header, HeaderValue};
use ureq::ResponseExt;

use crate::Error;

/// The `Accept-Encoding` every request sends unless it sets its own: what this build decodes.
#[cfg(feature = "brotli")]
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br";
/// The `Accept-Encoding` every request sends unless it sets its own: what this build decodes.
#[cfg(not(feature = "brotli"))]
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate";

type Reader = Box<dyn Read + Send + Sync>;

/// One coding of a `Content-Encoding` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    #[cfg(feature = "brotli")]
    Brotli,
}

/// The codings of `value`, in the order the server applied them; `identity` is dropped.
/// `Err` names the first coding this build cannot decode.
fn codings(values: &[&str]) -> Result<Vec<Coding>, String> {
    let mut out = Vec::new();
    for coding in values.iter().flat_map(|v| v.split(',')) {
        let coding = coding.trim();
        let parsed = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")
        {
            Coding::Gzip
        } else if coding.eq_ignore_ascii_case("deflate") {
            Coding::Deflate
        } else if coding.eq_ignore_ascii_case("br") {
            #[cfg(feature = "brotli")]
            {
                Coding::Brotli
            }
            #[cfg(not(feature = "brotli"))]
            return Err(format!(
                "{coding} (brotli: build ureq-futures with its `brotli` feature to decode it)"
            ));
        } else if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
            continue;
        } else if REGISTERED.iter().any(|r| coding.eq_ignore_ascii_case(r)) {
            return Err(coding.to_string());
        } else {
            // `none`, `utf-8`, `binary`: a mistake of the server's, seen in the wild.
            return Err(format!(
                "{coding} (no content coding of that name is registered: the server mislabels \
                 its body)"
            ));
        };
        out.push(parsed);
    }
    if out.len() > MAX_CODINGS {
        let first: Vec<&str> = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
            .take(2)
            .collect();
        return Err(format!(
            "{} codings ({}, ...), more than the {MAX_CODINGS} decoded",
            out.len(),
            first.join(", ")
        ));
    }
    Ok(out)
}

/// The content codings of IANA's registry (RFC 9110 §16.6.1) that this build does not decode:
/// a coding not among them (nor gzip, deflate, br, identity) is a label that is no coding.
const REGISTERED: [&str; 8] = [
    "aes128gcm",
    "compress",
    "dcb",
    "dcz",
    "exi",
    "pack200-gzip",
    "x-compress",
    "zstd",
];

/// The most codings of one body that are decoded, as curl has it: each is a decoder reading
/// from the next, so thousands of them (a `Content-Encoding` of `gzip,gzip,...` fits some
/// 13,000 in a 64 KiB head) would overflow the reading thread's stack.
const MAX_CODINGS: usize = 5;

/// Decodes the body of `resp` as its `Content-Encoding` says, when ureq has not already done so,
/// and removes the header (and the `Content-Length`, which counted encoded bytes). The decoding
/// happens as the body is read.
///
/// A coding this build cannot decode is [`Error::UnsupportedEncoding`], naming the redacted URL:
/// `url`, or the response's own when it is `None` (no copy of it is made for the common case of
/// a response without a coding). A response without a body (to a HEAD, a 204, a 304) is left
/// as it is, and its body is empty: its `Content-Encoding` describes a body it does not have.
/// (ureq removes `Content-Encoding` and `Content-Length` of one labelled exactly `gzip`, or `br`
/// when a crate of the build turns on its `brotli` feature, before this sees it, as it does
/// when it decodes a body.)
pub(crate) fn decode(
    resp: http::Response<ureq::Body>,
    url: Option<&http::Uri>,
    method: &http::Method,
) -> Result<http::Response<ureq::Body>, Error> {
    if method == http::Method::HEAD || matches!(resp.status().as_u16(), 100..=199 | 204 | 304) {
        // ureq makes a gzip decoder for such a response all the same when its coding is `gzip`
        // (and removes the header), and that decoder fails on the missing gzip header: an
        // empty body takes its place. Its connection is already free (ureq frees it with the
        // head when no body follows).
        return Ok(without_body(resp));
    }
    if let Some(why) = unreadable_framing(&resp) {
        if !resp.status().is_success() {
            // An error status, a redirect: what callers and retries act on is the head (the
            // status, `Retry-After`, `Location`); the body that cannot be told is left out.
            return Ok(without_body(resp));
        }
        let uri = url.unwrap_or_else(|| resp.get_uri());
        return Err(crate::phase::unreadable_framing(uri, why));
    }
    if !resp.headers().contains_key(header::CONTENT_ENCODING) {
        if resp.headers().contains_key(header::CONTENT_LENGTH) {
            return Ok(resp);
        }
        // Chunked, close-delimited, or decoded by ureq (which removed both headers): an empty
        // body, or bytes after the last gzip member, under ureq's decoder must end the body as
        // requests ends it, see `LenientEnd`.
        let (parts, body) = resp.into_parts();
        let mut builder = ureq::Body::builder();
        if let Some(mime) = body.mime_type() {
            builder = builder.mime_type(mime);
        }
        let reader = LenientEnd::new(body_reader(body));
        return Ok(http::Response::from_parts(parts, builder.reader(reader)));
    }
    let values: Vec<&str> = resp
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .map(|v| v.to_str().unwrap_or("?"))
        .collect();
    let codings = match codings(&values) {
        Ok(codings) => codings,
        // An error status, a redirect: what callers and retries act on is the head (the
        // status, `Retry-After`, `Location`), and a coding no client knows is often a label
        // that is no coding (`none`, `utf-8`) on an error page that is plain text. Its body is
        // left as it came, its `Content-Encoding` kept to say so, as requests leaves it.
        Err(_) if !resp.status().is_success() => return Ok(resp),
        Err(encoding) => {
            return Err(Error::UnsupportedEncoding {
                encoding,
                url: crate::redact_url(&url.unwrap_or_else(|| resp.get_uri()).to_string()),
            })
        }
    };
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_ENCODING);
    if codings.is_empty() {
        // Only `identity`: the body is as it came, and so is its length.
        return Ok(http::Response::from_parts(parts, body));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let mime = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_string());
    let lead = Arc::new(AtomicU8::new(Lead::NOTHING));
    let mut reader: Reader = Box::new(Tagged(Lead {
        inner: body.into_reader(),
        at: 0,
        seen: Arc::clone(&lead),
    }));
    // Between the decoders of a body coded more than once, what each makes is held to what
    // comes out (see `Expansion`).
    let expansion = (codings.len() > 1).then(|| Arc::new(Expansion::default()));
    // The first bytes tell a body that is not gzip only when gzip is the coding applied last
    // (the first undone): under `gzip, deflate` they are deflate's.
    let outer_gzip = codings.last() == Some(&Coding::Gzip);
    // The last coding applied is the first to undo.
    for (n, coding) in codings.into_iter().rev().enumerate() {
        if let Some(expansion) = expansion.as_ref().filter(|_| n > 0) {
            reader = Box::new(Inside {
                inner: reader,
                made: 0,
                expansion: Arc::clone(expansion),
            });
        }
        reader = wrap(coding, reader);
    }
    if let Some(expansion) = expansion {
        reader = Box::new(Outside {
            inner: reader,
            expansion,
        });
    }
    let mut reader = LenientEnd::new(Untagged(reader));
    reader.lead = outer_gzip.then_some(lead);
    let mut builder = ureq::Body::builder();
    if let Some(mime) = mime.filter(|m| !m.is_empty()) {
        builder = builder.mime_type(mime);
    }
    Ok(http::Response::from_parts(parts, builder.reader(reader)))
}

/// How much more than the body the inner decoders of a body coded more than once may make:
/// twice the body, and [`EXPANSION_SLACK`] more.
///
/// Each coding of a body is a decoder reading from the next. The body's size limits
/// (`max_body_size`) count what comes out of the last one, and a `timeout` fires in a read of
/// the connection; neither sees the work in between. A few KiB of `deflate, deflate, deflate`
/// can hold a deflate stream of empty blocks that the innermost layer expands to gigabytes
/// and the outer one reads as nothing: minutes of a core for an empty body, past the
/// `timeout` and a `cancel()`, since no read of the connection happens. A decoder's input is the
/// coded form of its output, no larger than it but for a few bytes a block (stored blocks) and
/// what the decoder reads ahead, so an honest body never comes near the bound.
#[derive(Debug, Default)]
struct Expansion {
    /// Bytes of body the outermost decoder has made.
    body: AtomicU64,
}

/// The bytes an inner decoder may make beyond twice the body's: the read-ahead of the decoders
/// above it, with room to spare.
const EXPANSION_SLACK: u64 = 16 * 1024 * 1024;

/// An inner decoder's output on its way to the next decoder, counted (see [`Expansion`]).
struct Inside {
    inner: Reader,
    /// Bytes made so far.
    made: u64,
    expansion: Arc<Expansion>,
}

impl Read for Inside {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let body = self.expansion.body.load(Ordering::Relaxed);
        if self.made > body.saturating_mul(2).saturating_add(EXPANSION_SLACK) {
            let why = format!(
                "the body's codings decode in layers that expand without output: an inner \
                 layer made {} bytes for {body} bytes of body, more than twice the body and \
                 {} MiB (a decompression bomb?); the body is refused",
                self.made,
                EXPANSION_SLACK >> 20
            );
            // Tagged as from below, so that the decoders above hand it up as it is.
            let e = io::Error::new(io::ErrorKind::InvalidData, Expanded(why));
            return Err(io::Error::new(io::ErrorKind::InvalidData, Below(e)));
        }
        let n = self.inner.read(buf)?;
        self.made += n as u64;
        Ok(n)
    }
}

/// The failure of a body whose codings expand without output (see [`Expansion`]).
#[derive(Debug)]
struct Expanded(String);

impl std::fmt::Display for Expanded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Expanded {}

/// Whether `e` is, or was caused by, a body whose codings expand without output (see
/// [`Expansion`]): to say so where a body's failure is told in a few words.
pub(crate) fn is_expansion(e: &io::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(error) = next {
        if error.is::<Expanded>() {
            return true;
        }
        // An `io::Error`'s `source` skips the error it holds: look into it.
        next = match error.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|i| i as _),
            None => error.source(),
        };
    }
    false
}

/// The outermost decoder's output, the body, counted (see [`Expansion`]).
struct Outside {
    inner: Reader,
    expansion: Arc<Expansion>,
}

impl Read for Outside {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.expansion.body.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn wrap(coding: Coding, inner: Reader) -> Reader {
    match coding {
        // Made on the first read (see `Lazy`), over a gate that keeps the header for the
        // reads (see `Gate`).
        Coding::Gzip => Box::new(Named(
            "gzip",
            Lazy::new(Gate::new(inner), |gate| {
                let mut decoder = flate2::read::MultiGzDecoder::new(gate);
                // Made: from now on the reads go through, whatever making it read (see `Gate`).
                decoder.get_mut().opened = true;
                decoder
            }),
        )),
        Coding::Deflate => Box::new(Named(
            "deflate",
            Deflate::Sniffing(Some(inner), Vec::with_capacity(2)),
        )),
        #[cfg(feature = "brotli")]
        Coding::Brotli => Box::new(Named(
            "br",
            BrotliToEnd {
                decoder: brotli_decompressor::Decompressor::new(inner, 8 * 1024),
                drained: false,
            },
        )),
    }
}

/// A brotli decoder that reads its body to the end once the stream has ended.
///
/// The decoder stops at the stream's last byte and never makes the read that finds the body's
/// end, and a body not read to its end does not give its connection back: every brotli body
/// opened a new connection. Bytes after the stream are ignored, as bytes after the last gzip
/// member are (see [`LenientEnd`]), up to [`AFTER_STREAM`]; past that the body ends all the
/// same and its connection is closed rather than read on.
#[cfg(feature = "brotli")]
struct BrotliToEnd {
    decoder: brotli_decompressor::Decompressor<Reader>,
    /// The body was read to its end (or given up on) after the stream ended.
    drained: bool,
}

/// The most bytes after a brotli stream that are read to find the body's end.
#[cfg(feature = "brotli")]
const AFTER_STREAM: usize = 64 * 1024;

#[cfg(feature = "brotli")]
impl Read for BrotliToEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained {
            // Ended: the decoder, asked again, would take the bytes after the stream for
            // another one and fail.
            return Ok(0);
        }
        let n = self.decoder.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.drained = true;
            let (mut left, mut scratch) = (AFTER_STREAM, [0; 4096]);
            while left > 0 {
                match self.decoder.get_mut().read(&mut scratch) {
                    Ok(0) | Err(_) => break,
                    Ok(m) => left = left.saturating_sub(m),
                }
            }
        }
        Ok(n)
    }
}

/// Where a decoded body ends: as requests and browsers read it, in two cases where the decoder
/// alone would fail.
///
/// An empty encoded body. Servers and CDNs that label every answer of a route `gzip` send the
/// label on empty answers too (`Content-Length: 0`, an empty chunked body). A gzip decoder fails
/// on an empty stream (no header), and so would the whole response, where requests and curl read
/// an empty body. The encoded bytes are out of sight under ureq's own decoder, so the rule is on
/// what comes out: a decoder that reaches the end of the body before producing a byte, and
/// before a whole gzip header, reads as the end. A body of a few bytes that end inside a gzip
/// header reads as empty too, as with requests. One that ends after the header, within the
/// compressed data, was cut: it stays an error, whether some text came out or none (a gzipped
/// JSON page gives its first byte some 65 bytes in). A body of fewer than ten bytes that is not
/// gzip at all (a 9-byte `Not Found` labelled `gzip`) reads as empty too under ureq's decoder,
/// which reports a bare end of file before it checks the magic bytes (requests calls it an
/// error); under the decoders made here, whose coded bytes are seen ([`Lead`]), it is an error
/// unless its bytes are the start of a gzip header. An empty brotli body stays an error: the
/// brotli decoder calls it invalid data, as it does a corrupt stream, and the two cannot be told
/// apart from here.
///
/// Bytes after the last gzip member that are not another member: a line break, zero padding, or
/// a notice an application printed after its compressed page. gzip decoders read a body as a
/// series of members, so they take such bytes for the header of the next one, and fail on them
/// (`invalid gzip header`, or an end of file within ten bytes) after the whole body has come out.
/// Browsers and requests ignore them, as `gzip -d` does with a warning. The decoder reads a
/// member's header only at the body's start (where nothing has come out) or after a member whose
/// checksum matched, so such an error after output means that every member before it was whole;
/// the body ends there, and the bytes after it are not read (its connection is closed, not
/// reused). The end of file at the same place cannot be told from one within the 8 bytes of a
/// member's trailer (its checksum and length), so that one ends the body too: a body delimited
/// by the connection's close, cut there, reads as whole (its data is; only the check is
/// missing), and so does the rare corrupt member whose data happens to end within 8 bytes of the
/// body's end, as both do with requests, which does not require the trailer at all.
///
/// A body cut by its connection (a reset, a close before its `Content-Length`) is not a
/// decoder's error and stays an error, as does a member cut within its compressed data.
///
/// A reader that fails before its first byte and then reads as ended without touching its
/// connection is refused: ureq's gzip decoder (flate2's) keeps an error met while it reads the
/// gzip header as it is made (a timeout before the body's first bytes), hands it out once, and
/// then reads as ended, so the read after a timeout would be a clean end with the whole body
/// lost. The decoders made here go on after such an error (see `Gate`); ureq's cannot be made
/// to, so that end is an error of the first failure's kind. An empty body whose first read
/// timed out ends with a read that waits on the connection (for the last chunk, or the close):
/// that end is the body's own (the connection's waits during the read are counted,
/// `transport::awaits`). Two cases still read as lost, with no byte lost: an empty body
/// labelled `gzip` (ureq's decoder reads nothing more), and any empty body of a session with
/// an agent of your own (its connections are not counted). `Interrupted` and `WouldBlock` are
/// no failure here: the reader goes on.
struct LenientEnd<R> {
    inner: R,
    produced: bool,
    /// The end was found after output, before the end of the body: every later read is 0.
    ended: bool,
    /// The kind of an error the reader gave before its first byte.
    failed: Option<io::ErrorKind>,
    /// What the coded body started with, under the decoders made here (see [`Lead`]); `None`
    /// under ureq's, whose coded bytes are out of sight.
    lead: Option<Arc<AtomicU8>>,
}

impl<R> LenientEnd<R> {
    fn new(inner: R) -> Self {
        LenientEnd {
            inner,
            produced: false,
            ended: false,
            failed: None,
            lead: None,
        }
    }

    /// Whether a gzip decoder's end of file before its first byte is a body that is not gzip:
    /// its first bytes, seen under a decoder made here, are not the start of a gzip header.
    fn not_gzip(&self, e: &io::Error) -> bool {
        (self.lead.as_deref()).is_some_and(|lead| lead.load(Ordering::Relaxed) == Lead::OTHER)
            && decoder_error(e, Some("gzip")).is_some()
    }
}

/// The coded body's first bytes on their way to the decoders made here, told apart: none, the
/// start of a gzip header (its magic bytes and method, `1f 8b 08`), or anything else. A gzip
/// decoder reports an end of file before a whole header on each alike, where a body that is not
/// gzip must fail ([`LenientEnd`]).
struct Lead<R> {
    inner: R,
    /// Bytes seen so far, up to the three checked.
    at: usize,
    seen: Arc<AtomicU8>,
}

impl Lead<()> {
    const NOTHING: u8 = 0;
    const GZIP: u8 = 1;
    const OTHER: u8 = 2;
    const MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
}

impl<R: Read> Read for Lead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.at < Lead::MAGIC.len() && n > 0 {
            let checked = (Lead::MAGIC.len() - self.at).min(n);
            let gzip = buf[..checked] == Lead::MAGIC[self.at..self.at + checked];
            self.at += checked;
            let state = if gzip { Lead::GZIP } else { Lead::OTHER };
            // Once anything else, for good.
            self.seen.fetch_max(state, Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl<R: Read> Read for LenientEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        // After a failure before the first byte only: the connection's waits on this thread
        // before the read. A read that ends the body without one never touched the connection
        // (a read is done on one thread).
        let awaits = (self.failed.is_some() && !self.produced).then(crate::transport::awaits);
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() && awaits.is_some_and(|a| a == crate::transport::awaits()) => {
                let kind = self.failed.unwrap_or(io::ErrorKind::Other);
                Err(io::Error::new(
                    kind,
                    "the body reads as ended after its first read failed, before any of it: its \
                     decoder (ureq's, for gzip) cannot go on after that failure, so the body is \
                     lost; send the request again (with a longer read_timeout if it timed out)",
                ))
            }
            Ok(n) => {
                self.produced |= n > 0;
                Ok(n)
            }
            Err(e) if !self.produced && !buf.is_empty() && is_empty_stream(&e) => {
                if !self.not_gzip(&e) {
                    return Ok(0);
                }
                // Under a decoder made here, where the first bytes were seen: flate2's own words
                // for a body of ten bytes or more.
                Err(ureq::Error::Decompress(
                    "gzip",
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "invalid gzip header (the body is shorter than one)",
                    ),
                )
                .into_io())
            }
            Err(e) if self.produced && is_after_last_member(&e) => {
                self.ended = true;
                Ok(0)
            }
            Err(e) => {
                let goes_on = matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                );
                if !self.produced && !goes_on {
                    // ureq's timeouts travel as `Other`; the caller sees them as `TimedOut`.
                    let inner = e.get_ref();
                    let timed_out = inner
                        .and_then(|i| i.downcast_ref::<ureq::Error>())
                        .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)))
                        || inner
                            .and_then(|i| i.downcast_ref::<Error>())
                            .is_some_and(Error::is_timeout);
                    let kind = if timed_out {
                        io::ErrorKind::TimedOut
                    } else {
                        e.kind()
                    };
                    self.failed = Some(kind);
                }
                Err(e)
            }
        }
    }
}

/// The decoder's own error of `e`, if it is ureq's `Decompress` (which our decoders' errors are
/// made into too) for `coding`, and not the connection's.
fn decoder_error<'a>(e: &'a io::Error, coding: Option<&str>) -> Option<&'a io::Error> {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
    {
        Some(ureq::Error::Decompress(name, io))
            if coding.is_none_or(|c| c == *name) && !from_connection(io) =>
        {
            Some(io)
        }
        _ => None,
    }
}

/// Whether `e` is a decoder's bare "unexpected end of file", not the connection's: the end of
/// the body before a gzip header was whole (flate2 says no more). The end of a stream cut
/// within its compressed data is flate2's `incomplete deflate stream`, an error with a
/// message: such a body was cut, not empty.
fn is_empty_stream(e: &io::Error) -> bool {
    decoder_error(e, None)
        .is_some_and(|io| io.kind() == io::ErrorKind::UnexpectedEof && io.get_ref().is_none())
}

/// Whether `e` is the gzip decoder's failure to read a member's header (or trailer) from what
/// follows a whole member: bytes that are not a gzip header (flate2's `invalid gzip header`), or
/// fewer than a header's ten (its bare end of file; the end of a member's compressed data is
/// `incomplete deflate stream` instead).
fn is_after_last_member(e: &io::Error) -> bool {
    decoder_error(e, Some("gzip")).is_some_and(|io| match io.kind() {
        io::ErrorKind::InvalidInput => io.to_string() == "invalid gzip header",
        io::ErrorKind::UnexpectedEof => io.get_ref().is_none(),
        _ => false,
    })
}

/// `resp` with an empty body in place of its own.
fn without_body(resp: http::Response<ureq::Body>) -> http::Response<ureq::Body> {
    let (parts, _) = resp.into_parts();
    http::Response::from_parts(parts, ureq::Body::builder().reader(io::empty()))
}

/// Why the body of `resp` cannot be read as ureq frames it, if so. ureq undoes the `chunked`
/// transfer coding of an HTTP/1.1 answer, and nothing else: in an HTTP/1.0 answer (which has no
/// transfer codings, RFC 9112 §6.1) it reads the body by its `Content-Length` or to the close,
/// chunk framing and all; the bytes of another coding (`gzip, chunked`) would reach the caller
/// coded; and beside an unknown coding a `Content-Length` would cut the body where RFC 9112
/// §6.3 says the coding overrides it. curl undoes some of these and requests reads some as
/// ureq does; refused here, as a body that is not the body is worse than none.
fn unreadable_framing(resp: &http::Response<ureq::Body>) -> Option<String> {
    let values = resp.headers().get_all(header::TRANSFER_ENCODING);
    values.iter().next()?;
    let written: Vec<String> = (values.iter())
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let written = written.join(", ");
    if resp.version() < http::Version::HTTP_11 {
        return Some(format!(
            "the answer is {:?} with Transfer-Encoding: {written}, which that version does not \
             have (RFC 9112 §6.1): its body's framing cannot be told",
            resp.version()
        ));
    }
    let other = (written.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .find(|c| !c.eq_ignore_ascii_case("chunked") && !c.eq_ignore_ascii_case("identity"))?;
    Some(format!(
        "the body comes in the transfer coding {other} (Transfer-Encoding: {written}), which \
         this client does not undo (it reads chunked only)"
    ))
}

/// The reader of a response body, made on its first read: [`Lazy`] over ureq's own.
pub(crate) type BodyReader = Lazy<ureq::Body, ureq::BodyReader<'static>>;

/// The reader of `body`, made on its first read (see [`Lazy`]).
pub(crate) fn body_reader(body: ureq::Body) -> BodyReader {
    Lazy::new(body, ureq::Body::into_reader)
}

/// A reader made from its source on the first read rather than at once.
///
/// flate2's gzip decoder reads the gzip header as it is made, and so does ureq's, which is
/// flate2's, when a body's reader is made (for `Content-Encoding: gzip`). Made when the
/// response's head is in, on the worker, it would wait there for the body's first bytes: a
/// [`send_streaming`](crate::RequestBuilder::send_streaming) or an event stream would resolve
/// only once the body starts, and a server that sends its head and then thinks would hold the
/// handle back. Made on the first read, that wait is part of the read, where the caller expects
/// it.
pub(crate) enum Lazy<S, R> {
    /// Not read yet: the source, and what makes the reader of it.
    Unread(Option<S>, fn(S) -> R),
    Reading(R),
}

impl<S, R> Lazy<S, R> {
    pub(crate) fn new(source: S, make: fn(S) -> R) -> Self {
        Lazy::Unread(Some(source), make)
    }
}

impl<S, R: Read> Read for Lazy<S, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Lazy::Unread(source, make) = self {
            match source.take() {
                Some(source) => *self = Lazy::Reading(make(source)),
                None => return Ok(0),
            }
        }
        match self {
            Lazy::Reading(reader) => reader.read(buf),
            Lazy::Unread(..) => Ok(0),
        }
    }
}

/// The source of a gzip decoder, whose first read says "not yet" (`WouldBlock`).
///
/// flate2's gzip decoder reads the gzip header as it is made, and an error there other than
/// `WouldBlock` is kept, handed out once, and then the decoder reads as ended: a body whose first
/// read timed out (a server that sends its head, then thinks past `read_timeout`) read as empty
/// on the next read, a clean end with every byte lost. Told "not yet" when it is made, the
/// decoder reads the header on its reads instead, where a failure leaves the header's state as
/// it was and the next read goes on, as for every other coding.
struct Gate<R> {
    inner: R,
    opened: bool,
}

impl<R> Gate<R> {
    fn new(inner: R) -> Self {
        Gate {
            inner,
            opened: false,
        }
    }
}

impl<R: Read> Read for Gate<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.opened {
            self.opened = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.inner.read(buf)
    }
}

/// A decoder whose own errors become ureq's `Decompress` error with the coding's name, while
/// errors from below (a timeout, a reset, a cut, a cancel) pass through as they are.
struct Named<R>(&'static str, R);

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.1.read(buf).map_err(|e| {
            if e.get_ref()
                .is_some_and(|inner| inner.is::<ureq::Error>() || inner.is::<Below>())
            {
                e
            } else {
                ureq::Error::Decompress(self.0, e).into_io()
            }
        })
    }
}

/// An error of the body under the decoders, on its way up through them. ureq hands a
/// connection's errors (a reset, a close before the body's end, a cancel) out of its reader as
/// plain `io::Error`s, which a decoder cannot tell from its own: tagged, they reach the top as
/// they were instead of as a decompression failure.
#[derive(Debug)]
struct Below(io::Error);

impl std::fmt::Display for Below {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Below {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The body under the decoders: its errors are tagged [`Below`] (their kind kept).
struct Tagged<R>(R);

impl<R: Read> Read for Tagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), Below(e)))
    }
}

/// Above the decoders: the body's errors as they were.
struct Untagged<R>(R);

impl<R: Read> Read for Untagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if !e.get_ref().is_some_and(|inner| inner.is::<Below>()) {
                return e;
            }
            let kind = e.kind();
            match e.into_inner().map(|inner| inner.downcast::<Below>()) {
                Some(Ok(below)) => below.0,
                Some(Err(other)) => io::Error::new(kind, other),
                None => kind.into(),
            }
        })
    }
}

/// `e` as the connection's own error when ureq's own decoder (`gzip`, or `br` with ureq's
/// `brotli` feature: the codings ureq decodes before this module sees the body) reported it as
/// a decompression failure. ureq's decoders wrap every plain `io::Error` of the body, so the
/// connection's are told apart by what only they can be: a cancel of the job, an error of the
/// system (a reset), or ureq's own "Peer disconnected" for a connection closed before the
/// body's end. A decoder's own errors (a corrupt or short stream) stay as they are.
pub(crate) fn connection_error(e: Error) -> Error {
    match e {
        Error::Transport(ureq::Error::Decompress(_, io)) if from_connection(&io) => Error::from(io),
        other => other,
    }
}

fn from_connection(e: &io::Error) -> bool {
    e.raw_os_error().is_some()
        || crate::transport::Reset::is(e)
        || e.get_ref()
            .is_some_and(|inner| inner.is::<crate::exec::Cancelled>())
        || (e.kind() == io::ErrorKind::UnexpectedEof && e.to_string() == "Peer disconnected")
}

/// `deflate` as servers send it: a zlib stream, or raw deflate. Which one is decided by the
/// first two bytes, read on the first calls to `read`.
enum Deflate {
    /// The body, and what has been read of its first two bytes: a read that fails (a
    /// `read_timeout`) keeps both, so that the next read goes on where it stopped.
    Sniffing(Option<Reader>, Vec<u8>),
    Zlib(flate2::read::ZlibDecoder<io::Chain<io::Cursor<Vec<u8>>, Reader>>),
    Raw(flate2::read::DeflateDecoder<io::Chain<io::Cursor<Vec<u8>>, Reader>>),
}

/// RFC 1950 §2.2: CM = 8, CINFO <= 7, and CMF*256 + FLG a multiple of 31.
fn is_zlib_header(b: &[u8]) -> bool {
    b.len() == 2
        && b[0] & 0x0F == 8
        && b[0] >> 4 <= 7
        && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

impl Read for Deflate {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self {
                Deflate::Zlib(d) => return d.read(buf),
                Deflate::Raw(d) => return d.read(buf),
                Deflate::Sniffing(inner, head) => {
                    let Some(body) = inner.as_mut() else {
                        return Ok(0);
                    };
                    let mut two = [0; 2];
                    while head.len() < 2 {
                        match body.read(&mut two[..2 - head.len()]) {
                            Ok(0) => break,
                            Ok(n) => head.extend_from_slice(&two[..n]),
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e),
                        }
                    }
                    if head.is_empty() {
                        // No body at all (a HEAD, a 204): nothing to decode.
                        return Ok(0);
                    }
                    let (Some(body), head) = (inner.take(), std::mem::take(head)) else {
                        return Ok(0);
                    };
                    let zlib = is_zlib_header(&head);
                    let source = io::Cursor::new(head).chain(body);
                    *self = if zlib {
                        Deflate::Zlib(flate2::read::ZlibDecoder::new(source))
                    } else {
                        Deflate::Raw(flate2::read::DeflateDecoder::new(source))
                    };
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A brotli stream (RFC 7932) of one uncompressed meta-block, for tests without an encoder:
    /// WBITS 16, a meta-block header (not last, 4 nibbles of length, uncompressed), the bytes,
    /// then an empty last meta-block.
    pub(crate) fn brotli_stored(data: &[u8]) -> Vec<u8> {
        assert!(!data.is_empty() && data.len() <= 1 << 16);
        let mlen = (data.len() - 1) as u32;
        // bit 0: WBITS=16; bit 1: ISLAST=0; bits 2-3: MNIBBLES=4; bits 4-19: MLEN-1;
        // bit 20: ISUNCOMPRESSED; then zero bits to the byte boundary.
        let bits: u32 = (mlen << 4) | (1 << 20);
        let mut out = vec![bits as u8, (bits >> 8) as u8, (bits >> 16) as u8];
        out.extend_from_slice(data);
        out.push(0b11); // ISLAST, ISLASTEMPTY
        out
    }

    fn response(encoding: &[&str], body: Vec<u8>) -> http::Response<ureq::Body> {
        let mut builder = http::Response::builder()
            .header("content-type", "text/plain; charset=utf-8")
            .header("content-length", body.len().to_string());
        for e in encoding {
            builder = builder.header("content-encoding", *e);
        }
        builder.body(ureq::Body::builder().data(body)).unwrap()
    }

    fn decoded(encoding: &[&str], body: Vec<u8>) -> Result<Vec<u8>, Error> {
        let mut resp = decode(
            response(encoding, body),
            Some(&uri("http://h/x?key=s")),
            &http::Method::GET,
        )?;
        assert!(resp.headers().get("content-encoding").is_none());
        assert_eq!(
            resp.headers()["content-type"],
            "text/plain; charset=utf-8",
            "other headers are kept"
        );
        let mut out = Vec::new();
        resp.body_mut()
            .as_reader()
            .read_to_end(&mut out)
            .map_err(Error::from)?;
        Ok(out)
    }

    #[test]
    fn every_coding_servers_send_is_decoded() {
        let text = "the quick brown fox ".repeat(100);
        let data = text.as_bytes();
        let mut cases: Vec<(Vec<&str>, Vec<u8>)> = vec![
            (vec!["gzip"], gzip(data)),
            (vec!["x-gzip"], gzip(data)),
            (vec!["GZIP"], gzip(data)),
            (vec!["deflate"], zlib(data)),
            (vec!["deflate"], raw_deflate(data)),
            (vec!["Deflate"], raw_deflate(data)),
            (vec!["identity"], data.to_vec()),
            (vec!["gzip, deflate"], zlib(&gzip(data))),
            (vec!["deflate", "gzip"], gzip(&raw_deflate(data))),
            (vec!["identity, gzip"], gzip(data)),
        ];
        if cfg!(feature = "brotli") {
            cases.push((vec!["br"], brotli_stored(data)));
            cases.push((vec!["br, gzip"], gzip(&brotli_stored(data))));
        }
        for (encoding, body) in cases {
            assert_eq!(decoded(&encoding, body).unwrap(), data, "{encoding:?}");
        }
        // An empty body (HEAD, 204) under an encoding header decodes to nothing.
        assert_eq!(decoded(&["deflate"], Vec::new()).unwrap(), b"");
    }

    #[test]
    fn raw_deflate_is_never_taken_for_zlib_on_these_inputs() {
        for data in [&b"a"[..], b"{}", b"hello world", &[0u8; 1000], &[0xFFu8; 3]] {
            assert!(!is_zlib_header(&raw_deflate(data)[..2]), "{data:?}");
            assert!(is_zlib_header(&zlib(data)[..2]), "{data:?}");
        }
    }

    #[cfg(feature = "brotli")]
    #[test]
    fn a_brotli_body_read_again_after_its_end_stays_ended() {
        let mut body = brotli_stored(b"hello");
        body.extend_from_slice(b"junk after the stream");
        let mut resp = decode(response(&["br"], body), None, &http::Method::GET).unwrap();
        let mut reader = resp.body_mut().as_reader();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
        for _ in 0..2 {
            assert_eq!(reader.read(&mut [0; 64]).unwrap(), 0);
        }
    }

    #[test]
    fn unknown_codings_are_an_error_naming_them_and_the_redacted_url() {
        let mut cases = vec![
            ("zstd", "zstd"),
            ("compress", "compress"),
            ("gzip, zstd", "zstd"),
            (
                "none",
                "none (no content coding of that name is registered: the server mislabels its body)",
            ),
            ("utf-8", "utf-8 (no content coding of that name is registered"),
        ];
        if !cfg!(feature = "brotli") {
            cases.push(("br", "`brotli` feature"));
        }
        for (encoding, named) in cases {
            let err = decode(
                response(&[encoding], b"xx".to_vec()),
                Some(&uri("http://h/x?key=s")),
                &http::Method::GET,
            )
            .unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::UnsupportedEncoding { .. }), "{err:?}");
            assert!(text.contains(named), "{text}");
            assert!(text.contains("http://h/x?<redacted>"), "{text}");
            assert!(!text.contains("key=s"), "{text}");
        }
    }

    #[test]
    fn more_codings_than_five_are_refused_before_any_decoder_is_made() {
        // Five layers decode.
        let mut body = b"hello".to_vec();
        for _ in 0..5 {
            body = gzip(&body);
        }
        assert_eq!(
            decoded(&["gzip, gzip, identity, gzip", "gzip, gzip"], body).unwrap(),
            b"hello"
        );
        // Thousands of layers, one decoder in another, overflowed the stack of the thread that
        // read the body (aborting the process) whatever the body held.
        let many = vec!["gzip"; 5000].join(",");
        let err = decode(
            response(&[&many], b"not even gzip".to_vec()),
            Some(&uri("http://h/x?key=s")),
            &http::Method::GET,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the body of http://h/x?<redacted> is encoded with 5000 codings (gzip, gzip, ...), \
             more than the 5 decoded, which this build cannot decode: ask for it in a coding \
             this build reads (the header Accept-Encoding: identity, or gzip); the bytes as sent \
             come from the session's agent, which leaves a coding it does not know in place \
             (FuturesSession::submit)"
        );
        let six = decode(
            response(&["deflate, gzip, gzip, gzip, gzip, gzip"], Vec::new()),
            Some(&uri("http://h/")),
            &http::Method::GET,
        )
        .unwrap_err();
        assert!(matches!(six, Error::UnsupportedEncoding { .. }), "{six:?}");
    }

    #[test]
    fn responses_without_a_body_are_left_as_they_are() {
        let head = decode(
            response(&["zstd"], Vec::new()),
            Some(&uri("http://h/")),
            &http::Method::HEAD,
        )
        .unwrap();
        assert_eq!(head.headers()["content-encoding"], "zstd");
        let mut not_modified = response(&["zstd"], Vec::new());
        *not_modified.status_mut() = http::StatusCode::NOT_MODIFIED;
        let kept = decode(not_modified, Some(&uri("http://h/")), &http::Method::GET).unwrap();
        assert_eq!(kept.headers()["content-encoding"], "zstd");
    }

    #[test]
    fn corrupt_bodies_are_a_decompress_error_not_bytes() {
        for encoding in ["deflate", "gzip"] {
            let err = decoded(&[encoding], b"this is not compressed at all".to_vec()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(encoding), "{encoding}: {text}");
        }
    }

    #[test]
    fn a_bomb_stops_at_the_reader_limit() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let mut resp = decode(
            response(&["deflate"], zlib(&zeros)),
            Some(&uri("http://h/")),
            &http::Method::GET,
        )
        .unwrap();
        let err = resp
            .body_mut()
            .with_config()
            .limit(1024)
            .read_to_vec()
            .unwrap_err();
        assert!(
            matches!(err, ureq::Error::BodyExceedsLimit(1024)),
            "{err:?}"
        );
    }
}
