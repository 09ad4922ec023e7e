//! The session's settings as its requests use them on the workers, and their defaults.
//!
//! [`SessionBuilder`](crate::SessionBuilder) collects them on the caller's thread; `build()`
//! turns them into one [`Config`] (default headers parsed once), which every request of the
//! session reads on its worker.

use std::time::Duration;

use ureq::http::{HeaderName, HeaderValue};

use crate::cookies::CookieJar;
use crate::no_proxy::NoProxy;
use crate::redirect::RedirectLimit;
use crate::retry::RetryPolicy;

/// Workers of a session made with [`FuturesSession::new`](crate::FuturesSession::new), as in
/// requests-futures.
///
/// # Examples
///
/// ```
/// assert_eq!(ureq_futures::DEFAULT_MAX_WORKERS, 8);
/// let session = ureq_futures::FuturesSession::new();
/// assert_eq!(session.max_workers(), ureq_futures::DEFAULT_MAX_WORKERS);
/// ```
pub const DEFAULT_MAX_WORKERS: usize = 8;
/// Largest buffered response body: 10 MiB.
///
/// # Examples
///
/// ```
/// assert_eq!(ureq_futures::DEFAULT_MAX_BODY_SIZE, 10 * 1024 * 1024);
/// ```
pub const DEFAULT_MAX_BODY_SIZE: u64 = 10 * 1024 * 1024;
/// Default connect timeout: 30 seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(ureq_futures::DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(30));
/// ```
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects a request follows by default, as in ureq: 10.
///
/// # Examples
///
/// ```
/// assert_eq!(ureq_futures::DEFAULT_MAX_REDIRECTS, 10);
/// ```
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;

/// The read buffer of the connections that carry event streams, unless
/// [`SessionBuilder::stream_buffer_size`](crate::SessionBuilder::stream_buffer_size) says
/// otherwise: 16 KiB. Their write buffer is 8 KiB at most, or as large, up to 64 KiB, when
/// [`SessionBuilder::stream_buffer_size`](crate::SessionBuilder::stream_buffer_size) is set.
///
/// # Examples
///
/// ```
/// assert_eq!(ureq_futures::DEFAULT_STREAM_BUFFER_SIZE, 16 * 1024);
/// ```
pub const DEFAULT_STREAM_BUFFER_SIZE: usize = 16 * 1024;

/// A timeout as a request or a session sets it. Every timeout setter takes
/// `impl Into<Option<Duration>>`, `None` meaning no limit; a setting never called leaves the
/// layer below in force: the session's for a request, the agent's own for a session given an
/// [`agent`](crate::SessionBuilder::agent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Limit {
    /// Not set here.
    #[default]
    Inherit,
    /// Set here: a limit, or `None` for none.
    Set(Option<Duration>),
}

impl Limit {
    /// This one where it is set, else `below`.
    pub(crate) fn or(self, below: Limit) -> Limit {
        match self {
            Limit::Inherit => below,
            set => set,
        }
    }

    /// The limit, if one is set here.
    pub(crate) fn value(self) -> Option<Duration> {
        match self {
            Limit::Set(v) => v,
            Limit::Inherit => None,
        }
    }
}

/// The session's settings that requests need on the worker.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) headers: Vec<DefaultHeader>,
    pub(crate) timeout: Limit,
    pub(crate) read_timeout: Limit,
    pub(crate) max_body_size: u64,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) redirects: RedirectLimit,
    /// Shown every answer, to learn pauses from.
    pub(crate) rate_limiter: Option<crate::RateLimiter>,
    /// The session's cookies, unless [`SessionBuilder::cookies`](crate::SessionBuilder::cookies)
    /// turned them off.
    pub(crate) cookies: Option<CookieJar>,
    /// Whether the session built its agent (rather than being given one), so that its connect
    /// limit is the session's `connect_timeout`.
    pub(crate) own_agent: bool,
    /// The agent of event streams, with smaller connection buffers
    /// ([`SessionBuilder::stream_buffer_size`](crate::SessionBuilder::stream_buffer_size));
    /// `None` when the session was given an agent, whose streams use it.
    pub(crate) stream_agent: Option<ureq::Agent>,
    /// The hosts that go direct although the agent's proxy, taken from the environment, would
    /// serve them: `NO_PROXY` as curl reads it (see `crate::no_proxy`). `None` without such a
    /// proxy or list.
    pub(crate) no_proxy: Option<NoProxy>,
    /// Why the environment's proxy cannot serve as it is written (see
    /// `crate::no_proxy::env_proxy_problem`): the requests it would serve are refused.
    pub(crate) proxy_refused: Option<String>,
    /// The credentials of `headers`, hidden in status errors (see
    /// [`Secrets`](crate::auth::Secrets)).
    pub(crate) secrets: Option<crate::auth::Secrets>,
}

impl Config {
    /// The session's default header `name` (any case), if it has one.
    pub(crate) fn default_header(&self, name: &str) -> Option<&DefaultHeader> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }
}

/// A session's default header, parsed once when the session is built. An invalid one fails
/// only the requests that send it (a request's own header of that name replaces it), as it did
/// when the defaults were parsed per request.
#[derive(Debug)]
pub(crate) struct DefaultHeader {
    /// As given, for `Debug` and for matching the request's own names.
    pub(crate) name: String,
    pub(crate) parsed: Result<(HeaderName, HeaderValue), String>,
}

impl DefaultHeader {
    /// A session default `Content-Length` or `Transfer-Encoding` is refused (fails every request
    /// that sends it): a body's framing is its own, and no one length fits every request (one
    /// without a body would leave the server waiting for bytes that never come).
    pub(crate) fn new(name: String, value: &str) -> Self {
        let parsed = if ["content-length", "transfer-encoding"]
            .iter()
            .any(|framing| name.eq_ignore_ascii_case(framing))
        {
            Err(format!(
                "the session's default {name} header is refused: a body's framing is set per \
                 request, from its body; remove it from the session's headers"
            ))
        } else {
            parse_header(&name, value)
        };
        DefaultHeader { name, parsed }
    }
}

/// A header as `HeaderMap` holds it, or the text of an
/// [`Error::InvalidRequest`](crate::Error::InvalidRequest). The value is never quoted in the
/// error: it may be a credential.
pub(crate) fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let parsed_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}: {}", name_problem(name)))?;
    // From the bytes: a value beyond ASCII goes out as its UTF-8 (`from_str` refuses every
    // such byte since http 1.6).
    let parsed_value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
        format!(
            "invalid value for header {name:?}: {}",
            value_problem(value)
        )
    })?;
    Ok((parsed_name, parsed_value))
}

/// Why `name` is not a header name (RFC 9110 §5.6.2's token), and what one is.
fn name_problem(name: &str) -> String {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    match name.bytes().position(|b| !token(b)) {
        _ if name.is_empty() => "it is empty".to_string(),
        Some(at) => {
            let b = name.as_bytes()[at];
            let what = match b {
                b' ' => "a space".to_string(),
                0..=0x1f | 0x7f => format!("a control character (0x{b:02X})"),
                0x80.. => format!("the byte 0x{b:02X}"),
                _ => format!("the character '{}'", b as char),
            };
            format!(
                "{what} at byte {at}: a header name is a token (letters, digits and \
                 !#$%&'*+-.^_`|~)"
            )
        }
        None => format!("it is longer than {} bytes", u16::MAX),
    }
}

/// Why `value` is not a header value, where, and the fix, without quoting it (it may be a
/// credential). A line break at the end is the usual one: a key read from a file.
fn value_problem(value: &str) -> String {
    let bytes = value.as_bytes();
    let Some(at) = bytes
        .iter()
        .position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    else {
        return "it is not valid header text".to_string();
    };
    let what = match bytes[at] {
        b'\n' => "a line feed (0x0A)".to_string(),
        b'\r' => "a carriage return (0x0D)".to_string(),
        b => format!("a control character (0x{b:02X})"),
    };
    let len = bytes.len();
    if at > 0 && bytes[at..].iter().all(u8::is_ascii_whitespace) {
        format!("{what} at its end (byte {at} of {len}): trim the white space around the value")
    } else {
        format!(
            "{what} at byte {at} of {len}: a header value is one line of text, without control \
             characters"
        )
    }
}

/// The names of `headers` without their values, which may be credentials: for `Debug`.
pub(crate) fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(k, _)| k.as_str()).collect()
}

/// Whether `headers` give `media_type` as the content type, whatever its parameters
/// (`charset`...) and letter case.
pub(crate) fn has_media_type(headers: &ureq::http::HeaderMap, media_type: &str) -> bool {
    headers
        .get(ureq::http::header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = String::from_utf8_lossy(value.as_bytes());
            media_type_of(&value).eq_ignore_ascii_case(media_type)
        })
}

/// The media type of a `Content-Type` value: what comes before its parameters, trimmed
/// (`application/json` of `application/json; charset=utf-8`).
pub(crate) fn media_type_of(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}
