//! What the server receives ([`Request`]) and what it does with it ([`Reply`]).

use std::borrow::Cow;

use std::net::TcpStream;
use std::time::Duration;

/// One request as received by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Request target as sent, including the query string (`/a/b?x=1`).
    pub path: String,
    /// Headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked if it was sent with `Transfer-Encoding: chunked`.
    pub body: Vec<u8>,
    /// 0-based index of the TCP connection (in accept order) the request
    /// arrived on; equal values mean the connection was reused.
    pub connection: usize,
}

impl Request {
    /// First header with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn body_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The path without the query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    pub(crate) fn wants_close(&self, http10: bool) -> bool {
        let conn = self.header("connection").unwrap_or("");
        let has = |tok: &str| conn.split(',').any(|t| t.trim().eq_ignore_ascii_case(tok));
        if http10 {
            !has("keep-alive")
        } else {
            has("close")
        }
    }
}

// ---------------------------------------------------------------------------
// Reply
// ---------------------------------------------------------------------------

/// How a body's end is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` header.
    ContentLength,
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    Close,
}

/// What happens to the connection after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Keep the connection open for the next request (unless the client
    /// asked for `Connection: close`).
    KeepAlive,
    /// Send `Connection: close` and close.
    Close,
    /// Advertise keep-alive (no `Connection: close`), then close anyway: the
    /// client's pooled connection becomes stale.
    CloseSilently,
}

/// Status line + headers of a reply. Framing headers (`Content-Length`,
/// `Transfer-Encoding`, `Connection`) are added by the server unless the
/// headers already contain one with the same name.
#[derive(Clone, Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub after: After,
}

/// A raw-socket callback for `Reply::Custom`.
pub type CustomFn = Box<dyn FnOnce(&mut TcpStream) + Send>;

/// What the server does with one request. Build with the constructors
/// (`Reply::ok`, `Reply::status`, `Reply::sse`, ...) and adjust with the
/// modifiers (`.header`, `.content_type`, `.close`, `.close_silently`,
/// `.delay`).
pub enum Reply {
    /// Normal response with `Content-Length`.
    Full { head: Head, body: Vec<u8> },
    /// `Transfer-Encoding: chunked`; `chunks[0]` goes out with the head, then
    /// `delay` before each further chunk; each chunk is flushed at once.
    /// Empty chunks are skipped. If `cut`, the terminating `0\r\n\r\n` is
    /// never sent and the connection is closed.
    Chunked {
        head: Head,
        chunks: Vec<Vec<u8>>,
        delay: Duration,
        cut: bool,
    },
    /// Body without `Content-Length` or chunking; closed at the end.
    CloseDelimited { head: Head, body: Vec<u8> },
    /// Wait `Duration` (ended early by server drop), then do the inner reply.
    Delayed(Duration, Box<Reply>),
    /// Send the head (framed per `length`: `Some(n)` → `Content-Length: n`,
    /// `None` → chunked), then `prefix` raw bytes, then nothing until the
    /// server is dropped or `duration` passes; then close.
    Stall {
        head: Head,
        length: Option<u64>,
        prefix: Vec<u8>,
        duration: Option<Duration>,
    },
    /// `Content-Length: body.len()`, send `body[..sent]`, then abort the
    /// connection (RST on Linux, see `Reply::reset_mid_body`).
    ResetMidBody {
        head: Head,
        body: Vec<u8>,
        sent: usize,
        /// How the body's end is told: `ContentLength` or `Close` (neither header).
        framing: Framing,
    },
    /// `Content-Length` body written one byte at a time with `delay` after
    /// each byte.
    Dribble {
        head: Head,
        body: Vec<u8>,
        delay: Duration,
    },
    /// `prefix` followed by `len` bytes of `byte`, generated on the fly.
    LongLine {
        head: Head,
        prefix: Vec<u8>,
        len: u64,
        byte: u8,
        framing: Framing,
    },
    /// Declares `Content-Length: declared`, sends `body` (shorter), closes.
    LyingLength {
        head: Head,
        declared: u64,
        body: Vec<u8>,
    },
    /// Bytes written as-is, then the connection is closed.
    Raw(Vec<u8>),
    /// The callback gets the socket; the connection is closed afterwards.
    Custom(CustomFn),
}

pub(crate) fn head(status: u16, content_type: &str) -> Head {
    Head {
        status,
        headers: vec![("Content-Type".to_string(), content_type.to_string())],
        after: After::KeepAlive,
    }
}

pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
pub(crate) const EVENT_STREAM: &str = "text/event-stream";

pub(crate) fn chunk_list<I, C>(chunks: I) -> Vec<Vec<u8>>
where
    I: IntoIterator<Item = C>,
    C: Into<Vec<u8>>,
{
    chunks.into_iter().map(Into::into).collect()
}

impl Reply {
    /// 200, `text/plain`, `Content-Length`, keep-alive.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200, body)
    }

    /// Any status, `text/plain`, `Content-Length`, keep-alive.
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            head: head(status, TEXT),
            body: body.into(),
        }
    }

    /// 200, `application/json`.
    pub fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply::ok(body).content_type("application/json")
    }

    /// `status` (e.g. 429 or 503) with `Retry-After: retry_after` (seconds or
    /// an HTTP date) and a short text body.
    pub fn retry_after(status: u16, retry_after: &str) -> Reply {
        Reply::status(status, format!("retry after {retry_after}"))
            .header("Retry-After", retry_after)
    }

    /// 200 with an `X-Huge` header whose value is `size` bytes of `a`.
    pub fn huge_header(size: usize) -> Reply {
        Reply::ok("ok").header("X-Huge", "a".repeat(size))
    }

    /// 200, `text/plain`, chunked: `chunks[0]` with the head, then `delay`
    /// before each further chunk, then the terminating chunk. Keep-alive.
    pub fn chunked<I, C>(chunks: I, delay: Duration) -> Reply
    where
        I: IntoIterator<Item = C>,
        C: Into<Vec<u8>>,
    {
        Reply::Chunked {
            head: head(200, TEXT),
            chunks: chunk_list(chunks),
            delay,
            cut: false,
        }
    }

    /// Like `chunked` with `Content-Type: text/event-stream` and
    /// `Cache-Control: no-cache` (Server-Sent Events).
    pub fn sse<I, C>(chunks: I, delay: Duration) -> Reply
    where
        I: IntoIterator<Item = C>,
        C: Into<Vec<u8>>,
    {
        Reply::chunked(chunks, delay)
            .content_type(EVENT_STREAM)
            .header("Cache-Control", "no-cache")
    }

    /// Like `chunked`, but all given chunks are sent and the terminating
    /// `0\r\n\r\n` is not: the connection is closed instead.
    pub fn chunked_cut<I, C>(chunks: I, delay: Duration) -> Reply
    where
        I: IntoIterator<Item = C>,
        C: Into<Vec<u8>>,
    {
        match Reply::chunked(chunks, delay) {
            Reply::Chunked {
                head,
                chunks,
                delay,
                ..
            } => Reply::Chunked {
                head,
                chunks,
                delay,
                cut: true,
            },
            _ => unreachable!(),
        }
    }

    /// 200, `text/plain`, no `Content-Length`, no chunking; closed after the
    /// body.
    pub fn close_delimited(body: impl Into<Vec<u8>>) -> Reply {
        Reply::CloseDelimited {
            head: head(200, TEXT),
            body: body.into(),
        }
    }

    /// 200, chunked (`text/plain`; change with `.content_type`), head sent,
    /// then nothing until the server is dropped; then close.
    pub fn stall() -> Reply {
        Reply::Stall {
            head: head(200, TEXT),
            length: None,
            prefix: Vec::new(),
            duration: None,
        }
    }

    /// Like `stall`, but closes after `duration` (or on server drop).
    pub fn stall_for(duration: Duration) -> Reply {
        match Reply::stall() {
            Reply::Stall {
                head,
                length,
                prefix,
                ..
            } => Reply::Stall {
                head,
                length,
                prefix,
                duration: Some(duration),
            },
            _ => unreachable!(),
        }
    }

    /// 200 with `Content-Length: content_length`, sends `sent` (shorter), then
    /// stalls until the server is dropped; then close.
    pub fn stall_mid_body(sent: impl Into<Vec<u8>>, content_length: u64) -> Reply {
        Reply::Stall {
            head: head(200, TEXT),
            length: Some(content_length),
            prefix: sent.into(),
            duration: None,
        }
    }

    /// `Content-Length: body.len()`, sends `body[..sent]`, then aborts the
    /// connection. On Linux (x86/x86_64/arm/aarch64/riscv64) `SO_LINGER`=0 is
    /// set so the close sends a TCP RST (client sees `ECONNRESET`); elsewhere
    /// it is an abrupt FIN (client sees an unexpected EOF).
    pub fn reset_mid_body(body: impl Into<Vec<u8>>, sent: usize) -> Reply {
        let body = body.into();
        assert!(sent < body.len(), "reset_mid_body: sent must be < body len");
        Reply::ResetMidBody {
            head: head(200, TEXT),
            body,
            sent,
            framing: Framing::ContentLength,
        }
    }

    /// Like `reset_mid_body`, for a body without `Content-Length` or chunking (`Connection:
    /// close`, the end of the body is the close): sends `body[..sent]`, then aborts the
    /// connection (RST on Linux), which is not the end of the body.
    pub fn reset_mid_close_delimited(body: impl Into<Vec<u8>>, sent: usize) -> Reply {
        let body = body.into();
        assert!(
            sent < body.len(),
            "reset_mid_close_delimited: sent must be < body len"
        );
        Reply::ResetMidBody {
            head: head(200, TEXT),
            body,
            sent,
            framing: Framing::Close,
        }
    }

    /// 200, `Content-Length` body written one byte at a time, sleeping
    /// `delay` after each byte. Keep-alive.
    pub fn dribble(body: impl Into<Vec<u8>>, delay: Duration) -> Reply {
        Reply::Dribble {
            head: head(200, TEXT),
            body: body.into(),
            delay,
        }
    }

    /// 200, `text/event-stream`, a body of `len` bytes of `a` and no line
    /// end, generated on the fly (no allocation of `len`), framed as given.
    pub fn long_line(len: u64, framing: Framing) -> Reply {
        Reply::long_line_after(Vec::new(), len, framing)
    }

    /// Like `long_line`, with `prefix` (e.g. `"data: "`) sent first.
    pub fn long_line_after(prefix: impl Into<Vec<u8>>, len: u64, framing: Framing) -> Reply {
        Reply::LongLine {
            head: head(200, EVENT_STREAM),
            prefix: prefix.into(),
            len,
            byte: b'a',
            framing,
        }
    }

    /// 200 declaring `Content-Length: declared` but sending only `body`
    /// (which must be shorter), then closing.
    pub fn lying_length(declared: u64, body: impl Into<Vec<u8>>) -> Reply {
        let body = body.into();
        assert!(
            (body.len() as u64) < declared,
            "lying_length: body must be shorter than declared"
        );
        Reply::LyingLength {
            head: head(200, TEXT),
            declared,
            body,
        }
    }

    /// Bytes written as-is, then close.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Raw(bytes.into())
    }

    /// Anything else: the callback gets the socket, which is closed after it
    /// returns. The callback must bound its own waiting (the socket has read
    /// and write timeouts and is shut down when the server is dropped).
    pub fn custom(f: impl FnOnce(&mut TcpStream) + Send + 'static) -> Reply {
        Reply::Custom(Box::new(f))
    }

    // ----- modifiers -------------------------------------------------------

    /// Wait `d` before sending anything (a slow endpoint). Ends early if the
    /// server is dropped.
    pub fn delay(self, d: Duration) -> Reply {
        Reply::Delayed(d, Box::new(self))
    }

    /// Set a header, replacing any of the same name (case-insensitive).
    /// Panics on `Raw` / `Custom`.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        let value = value.into();
        let h = self.head_mut("header");
        h.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        h.headers.push((name.to_string(), value));
        self
    }

    /// Append a header (allows duplicates). Panics on `Raw` / `Custom`.
    pub fn add_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        let value = value.into();
        self.head_mut("add_header")
            .headers
            .push((name.to_string(), value));
        self
    }

    /// Set `Content-Type`.
    pub fn content_type(self, value: &str) -> Reply {
        self.header("Content-Type", value)
    }

    /// Set the status code.
    pub fn with_status(mut self, status: u16) -> Reply {
        self.head_mut("with_status").status = status;
        self
    }

    /// Send `Connection: close` and close after the response.
    pub fn close(mut self) -> Reply {
        self.head_mut("close").after = After::Close;
        self
    }

    /// Advertise keep-alive but close right after the response (the client's
    /// pooled connection is then stale).
    pub fn close_silently(mut self) -> Reply {
        self.head_mut("close_silently").after = After::CloseSilently;
        self
    }

    fn head_mut(&mut self, what: &str) -> &mut Head {
        match self {
            Reply::Full { head, .. }
            | Reply::Chunked { head, .. }
            | Reply::CloseDelimited { head, .. }
            | Reply::Stall { head, .. }
            | Reply::ResetMidBody { head, .. }
            | Reply::Dribble { head, .. }
            | Reply::LongLine { head, .. }
            | Reply::LyingLength { head, .. } => head,
            Reply::Delayed(_, inner) => inner.head_mut(what),
            Reply::Raw(_) | Reply::Custom(_) => {
                panic!("Reply::{what} is not supported on Reply::Raw / Reply::Custom")
            }
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Full { head, body } => write!(f, "Full({}, {} bytes)", head.status, body.len()),
            Reply::Chunked { head, chunks, .. } => {
                write!(f, "Chunked({}, {} chunks)", head.status, chunks.len())
            }
            Reply::CloseDelimited { head, .. } => write!(f, "CloseDelimited({})", head.status),
            Reply::Delayed(d, inner) => write!(f, "Delayed({d:?}, {inner:?})"),
            Reply::Stall { head, .. } => write!(f, "Stall({})", head.status),
            Reply::ResetMidBody { head, .. } => write!(f, "ResetMidBody({})", head.status),
            Reply::Dribble { head, .. } => write!(f, "Dribble({})", head.status),
            Reply::LongLine { len, framing, .. } => write!(f, "LongLine({len}, {framing:?})"),
            Reply::LyingLength { declared, .. } => write!(f, "LyingLength({declared})"),
            Reply::Raw(b) => write!(f, "Raw({} bytes)", b.len()),
            Reply::Custom(_) => write!(f, "Custom"),
        }
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Serialize a head. `framing` decides the automatic framing header;
/// `close` adds `Connection: close`.
pub(crate) fn write_head(out: &mut Vec<u8>, head: &Head, framing: Framing, len: u64, close: bool) {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(128);
    let _ = write!(s, "HTTP/1.1 {} {}\r\n", head.status, reason(head.status));
    let has = |name: &str| {
        head.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    out.extend_from_slice(s.as_bytes());
    for (n, v) in &head.headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    s.clear();
    match framing {
        Framing::ContentLength if !has("content-length") => {
            let _ = write!(s, "Content-Length: {len}\r\n");
        }
        Framing::Chunked if !has("transfer-encoding") => {
            s.push_str("Transfer-Encoding: chunked\r\n");
        }
        _ => {}
    }
    if close && !has("connection") {
        s.push_str("Connection: close\r\n");
    }
    s.push_str("\r\n");
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}
