//! The crate's one error type.

use std::fmt;
use std::io;

pub use ureq::Timeout;

/// How many bytes of a failed response's body an [`Error::Status`] keeps.
pub(crate) const STATUS_BODY_EXCERPT: usize = 1024;

/// Everything that can go wrong, surfaced at [`Pending::result`](crate::Pending::result) or
/// while iterating a stream.
///
/// The `Display` output is one line of lowercase words (`"timeout: connect"`), except for
/// [`Error::Status`], which keeps the wording `Server responded with an error. Status Code: 404`
/// for every status error the crate produces, so that programs ported from Python keep their
/// error texts.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A transport failure: connection refused, DNS, TLS, a malformed HTTP response...
    /// ureq's error is inside.
    Transport(ureq::Error),
    /// An I/O error: a refused, reset or cut connection, a TLS certificate that failed
    /// verification (kind `InvalidData`), or a body that ended early (`UnexpectedEof`).
    Io(io::Error),
    /// A timeout ran out; the value says which phase (connect, per read, global...).
    Timeout(Timeout),
    /// The server answered with a non-success status where one was required:
    /// [`Response::error_for_status`](crate::Response::error_for_status), event streams and
    /// the LLM clients.
    Status(Box<StatusError>),
    /// A body was not valid JSON for the requested type, or a value could not be serialized.
    Json(serde_json::Error),
    /// A buffered response body was larger than the session's `max_body_size`.
    BodyTooLarge {
        /// The limit in bytes that was exceeded.
        limit: u64,
    },
    /// An event-stream line or event was larger than the stream's limit.
    EventTooLarge {
        /// The limit in bytes that was exceeded.
        limit: usize,
    },
    /// An event stream was answered with a content type other than `text/event-stream`.
    UnexpectedContentType(Option<String>),
    /// The job was cancelled with [`Pending::cancel`](crate::Pending::cancel) before it started.
    Cancelled,
    /// The session was shut down: the job was queued when [`shutdown`](crate::FuturesSession::shutdown)
    /// ran (or the last session handle was dropped), or it was submitted afterwards.
    ShutDown,
    /// The job panicked on its worker. The message is the panic's payload when it was a string.
    /// The worker itself survives.
    Panicked(String),
    /// [`Pending::result`](crate::Pending::result) was called after
    /// [`try_result`](crate::Pending::try_result) or
    /// [`result_timeout`](crate::Pending::result_timeout) had already handed the result out.
    ResultTaken,
    /// A request could not be built: an invalid header, method or URL, or a request the API
    /// cannot express (such as a chat whose last message is not the user's).
    InvalidRequest(String),
    /// A stream broke its protocol: it ended before its terminator, or a piece of it could not be
    /// decoded. The text names what happened and quotes the offending piece.
    Protocol(String),
    /// An API key is needed and its environment variable is not set.
    MissingApiKey {
        /// The environment variable(s) to set.
        var: &'static str,
    },
    /// An error reported by an API inside a successful (200) stream, such as an `error` object in
    /// an LLM stream.
    Api {
        /// The error's type or code, when the server sent one.
        kind: Option<String>,
        /// The server's message.
        message: String,
    },
}

/// The details of an [`Error::Status`]: the code, the headers and the start of the body.
#[derive(Debug, Clone)]
pub struct StatusError {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: ureq::http::HeaderMap,
    /// The first KiB of the body (lossily decoded as UTF-8), or all of it when shorter.
    pub body: String,
}

impl Error {
    /// The HTTP status code, when this is a status error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status(s) => Some(s.status),
            _ => None,
        }
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    pub(crate) fn status_from(status: u16, headers: ureq::http::HeaderMap, body: &[u8]) -> Error {
        let end = body.len().min(STATUS_BODY_EXCERPT);
        Error::Status(Box::new(StatusError {
            status,
            headers,
            body: String::from_utf8_lossy(&body[..end]).into_owned(),
        }))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport(e) => write!(f, "transport: {e}"),
            Error::Io(e) => write!(f, "io: {e}"),
            Error::Timeout(t) => write!(f, "timeout: {t}"),
            Error::Status(s) => {
                write!(
                    f,
                    "Server responded with an error. Status Code: {}",
                    s.status
                )?;
                let body = s.body.trim();
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            Error::Json(e) => write!(f, "json: {e}"),
            Error::BodyTooLarge { limit } => {
                write!(f, "response body larger than the limit of {limit} bytes")
            }
            Error::EventTooLarge { limit } => {
                write!(
                    f,
                    "event-stream line or event larger than the limit of {limit} bytes"
                )
            }
            Error::UnexpectedContentType(Some(ct)) => {
                write!(f, "expected content type text/event-stream, got {ct}")
            }
            Error::UnexpectedContentType(None) => {
                write!(f, "expected content type text/event-stream, got none")
            }
            Error::Cancelled => write!(f, "cancelled before it started"),
            Error::ShutDown => write!(f, "the session was shut down"),
            Error::Panicked(msg) => write!(f, "the job panicked: {msg}"),
            Error::ResultTaken => write!(f, "the result was already taken"),
            Error::InvalidRequest(msg) => write!(f, "invalid request: {msg}"),
            Error::Protocol(msg) => write!(f, "protocol: {msg}"),
            Error::MissingApiKey { var } => {
                write!(f, "no API key: set the environment variable {var}")
            }
            Error::Api {
                kind: Some(kind),
                message,
            } => write!(f, "api error ({kind}): {message}"),
            Error::Api {
                kind: None,
                message,
            } => write!(f, "api error: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ureq::Error> for Error {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Timeout(t) => Error::Timeout(t),
            ureq::Error::BodyExceedsLimit(limit) => Error::BodyTooLarge { limit },
            ureq::Error::Io(io) => Error::from(io),
            ureq::Error::Json(j) => Error::Json(j),
            other => Error::Transport(other),
        }
    }
}

impl Error {
    /// This error as an [`io::Error`], for a [`Read`](io::Read) impl: an [`Error::Io`] is handed
    /// over as it is, anything else travels inside one (a timeout with the kind `TimedOut`), and
    /// `From<io::Error>` takes it back out unchanged.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Transport(_) | Error::Protocol(_) => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        match self {
            Error::Io(e) => e,
            other => io::Error::new(kind, other),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        // One of ours, carried through `io::Read` by `into_io`: take it back out as it was.
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let kind = e.kind();
            return match e.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(ours)) => *ours,
                Some(Err(other)) => Error::Io(io::Error::new(kind, other)),
                None => Error::Io(kind.into()),
            };
        }
        // ureq hands its own errors through `io::Read` wrapped in an io::Error, and its own
        // conversion unwraps them: a timeout while reading a body is still `Error::Timeout`.
        match ureq::Error::from(e) {
            ureq::Error::Io(e) => Error::Io(e),
            other => Error::from(other),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_display_keeps_the_python_wording() {
        let e = Error::status_from(400, Default::default(), b"{\"error\":\"bad\"}");
        let text = e.to_string();
        assert!(
            text.contains("Server responded with an error. Status Code: 400"),
            "{text}"
        );
        assert!(text.contains("bad"), "{text}");
        assert_eq!(e.status(), Some(400));
    }

    #[test]
    fn status_keeps_only_the_start_of_a_long_body() {
        let body = vec![b'x'; 10 * STATUS_BODY_EXCERPT];
        match Error::status_from(500, Default::default(), &body) {
            Error::Status(s) => assert_eq!(s.body.len(), STATUS_BODY_EXCERPT),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ureq_errors_wrapped_in_io_are_unwrapped() {
        let io = io::Error::other(ureq::Error::Timeout(Timeout::PerRead));
        assert!(matches!(Error::from(io), Error::Timeout(Timeout::PerRead)));
        let limit = io::Error::other(ureq::Error::BodyExceedsLimit(7));
        assert!(matches!(
            Error::from(limit),
            Error::BodyTooLarge { limit: 7 }
        ));
    }

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
