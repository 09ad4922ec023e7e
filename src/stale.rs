//! Requests that meet a kept-alive connection the server has just closed, sent again once.
//!
//! # The race
//!
//! A server closes an idle keep-alive connection when its own timeout runs out (nginx's
//! `keepalive_timeout`, 75 s by default, often set to a few seconds). ureq checks a pooled
//! connection before reusing it (a non-blocking read sees a close that has already arrived), but
//! a close that crosses the request on the wire cannot be seen in advance: the request is written,
//! and the read that follows gets a reset or an end of stream with no byte of response. Browsers,
//! curl and Go send such a request again, once, on a new connection; ureq 3.5 does not (it never
//! sends a request twice), so the session does.
//!
//! # When a request is sent again
//!
//! All of these hold:
//!
//! * the connection was taken from the pool (it had served an earlier request), not opened for
//!   this request: a fresh connection that fails says something about the server, not about a
//!   race;
//! * no byte of the response arrived;
//! * the failure is a reset, an abort, a broken pipe or an end of stream (not a timeout: a silent
//!   server is not a closed connection);
//! * the request is idempotent: GET, HEAD, OPTIONS, TRACE, PUT or DELETE, or any request that
//!   the caller marked with [`RequestBuilder::idempotent`](crate::RequestBuilder::idempotent).
//!   Each hop of a redirect is asked on its own: the GET that a 303 makes of a POST is
//!   idempotent, and the caller's mark holds for the hops that keep the request's method;
//! * the body can be sent again: held in memory or read from files, not read from a reader of
//!   the caller's ([`RequestBuilder::body_reader`](crate::RequestBuilder::body_reader),
//!   [`Multipart::file_reader`](crate::Multipart::file_reader)), which the failed send has
//!   begun to read (ureq reads the body's first bytes before the server's close shows).
//!
//! It is sent again at once, on a new connection, and only once; it is not an attempt of the
//! [`RetryPolicy`](crate::RetryPolicy) and does not count against it.
//!
//! # How the reuse is known
//!
//! ureq does not say whether a request went out on a pooled connection. The session's agent is
//! built with ureq's default connector followed by [`Watch`], which runs only when a new
//! connection is made and wraps its transport in [`Watched`]; ureq runs a request on the calling
//! thread, so the two record what they see in a thread-local [`Seen`] that [`observe`] resets
//! before a request and reads after it. A request that used a `Watched` transport without a
//! connect is on a pooled connection. An agent given to
//! [`SessionBuilder::agent`](crate::SessionBuilder::agent) has no `Watch`: its requests never
//! show a watched transport, so they are never sent again (documented there). The connector
//! types are in ureq's `unversioned` module, outside its semver promises; this module is the one
//! place that uses them.

use std::cell::Cell;
use std::io;

use ureq::http::Method;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

use crate::Error;

/// What the transport layer saw during one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// A watched transport carried (or tried to carry) the request.
    watched: bool,
    /// A new connection was made for it.
    connected: bool,
    /// A byte of the response arrived.
    response_bytes: bool,
}

thread_local! {
    static SEEN: Cell<Seen> = const { Cell::new(Seen { watched: false, connected: false, response_bytes: false }) };
}

fn note(f: impl FnOnce(&mut Seen)) {
    SEEN.with(|cell| {
        let mut seen = cell.get();
        f(&mut seen);
        cell.set(seen);
    });
}

/// Runs `send` (one request, on this thread) and reports what its transport saw.
pub(crate) fn observe<T>(send: impl FnOnce() -> T) -> (T, Seen) {
    SEEN.with(|cell| cell.set(Seen::default()));
    let out = send();
    (out, SEEN.with(Cell::get))
}

impl Seen {
    /// Whether the request went out on a pooled connection that failed before any byte of the
    /// response: the race this module is about.
    fn stale_connection(&self) -> bool {
        self.watched && !self.connected && !self.response_bytes
    }
}

/// Whether a request is idempotent: by `mark`, the caller's word
/// ([`RequestBuilder::idempotent`](crate::RequestBuilder::idempotent)) when given, else by its
/// method (RFC 9110 §9.2.2).
pub(crate) fn is_idempotent(method: &Method, mark: Option<bool>) -> bool {
    mark.unwrap_or(matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ))
}

/// Whether `error` is how a closed connection shows.
fn is_closed_connection(error: &Error) -> bool {
    match error {
        Error::Io(e) if crate::upload::is_local_error(e) => false,
        Error::Io(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::NotConnected
        ),
        _ => false,
    }
}

/// Whether a request that ended in `error` after `seen` is to be sent again (see the module
/// docs); `idempotent` is the method's or the caller's word for it. A request whose job was
/// cancelled ends in [`Error::Cancelled`], never a closed connection: it is not sent again.
pub(crate) fn resend(idempotent: bool, seen: Seen, error: &Error) -> bool {
    idempotent && seen.stale_connection() && is_closed_connection(error)
}

/// ureq's default connector chain (TCP, SOCKS, TLS), its connections interruptible by their
/// jobs (see `crate::transport`), followed by [`Watch`].
pub(crate) fn connector() -> impl Connector {
    crate::transport::Interruptible::default().chain(Watch)
}

/// The last link of the session's connector chain: runs for each new connection.
#[derive(Debug)]
pub(crate) struct Watch;

impl Connector<Box<dyn Transport>> for Watch {
    type Out = Watched;

    fn connect(
        &self,
        _details: &ConnectionDetails<'_>,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| {
            note(|s| s.connected = true);
            Watched(inner)
        }))
    }
}

/// A transport that reports its use to [`observe`].
#[derive(Debug)]
pub(crate) struct Watched(Box<dyn Transport>);

impl Watched {
    fn note_input(&mut self) {
        if !self.0.buffers().input().is_empty() {
            note(|s| s.response_bytes = true);
        }
    }
}

impl Transport for Watched {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        note(|s| s.watched = true);
        self.0.transmit_output(amount, timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        note(|s| s.watched = true);
        let result = self.0.maybe_await_input(timeout);
        self.note_input();
        result
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        note(|s| s.watched = true);
        let result = self.0.await_input(timeout);
        self.note_input();
        result
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: io::ErrorKind) -> Error {
        Error::Io(io::Error::new(kind, "x"))
    }

    #[test]
    fn only_a_pooled_connection_closed_before_the_response_is_resent() {
        let pooled = Seen {
            watched: true,
            connected: false,
            response_bytes: false,
        };
        let reset = io(io::ErrorKind::ConnectionReset);
        assert!(resend(true, pooled, &reset));
        assert!(resend(true, pooled, &io(io::ErrorKind::UnexpectedEof)));
        assert!(resend(true, pooled, &io(io::ErrorKind::BrokenPipe)));
        // Not idempotent, a fresh connection, bytes already in, an agent without the watch.
        assert!(!resend(false, pooled, &reset));
        assert!(!resend(
            true,
            Seen {
                connected: true,
                ..pooled
            },
            &reset
        ));
        assert!(!resend(
            true,
            Seen {
                response_bytes: true,
                ..pooled
            },
            &reset
        ));
        assert!(!resend(true, Seen::default(), &reset));
        // A timeout or a refusal is not a closed connection.
        assert!(!resend(true, pooled, &io(io::ErrorKind::TimedOut)));
        assert!(!resend(true, pooled, &io(io::ErrorKind::ConnectionRefused)));
        // Nor is a cancel, though it shuts the connection down under the request.
        assert!(!resend(true, pooled, &Error::Cancelled));
        assert!(!resend(
            true,
            pooled,
            &Error::timeout(ureq::Timeout::RecvResponse)
        ));
    }

    #[test]
    fn idempotent_methods_are_those_of_rfc_9110() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            assert!(
                is_idempotent(&Method::from_bytes(m.as_bytes()).unwrap(), None),
                "{m}"
            );
        }
        for m in ["POST", "PATCH", "CONNECT", "PURGE"] {
            assert!(
                !is_idempotent(&Method::from_bytes(m.as_bytes()).unwrap(), None),
                "{m}"
            );
        }
    }

    #[test]
    fn observe_resets_between_requests() {
        let ((), seen) = observe(|| note(|s| s.connected = true));
        assert!(seen.connected);
        let ((), seen) = observe(|| ());
        assert_eq!(seen, Seen::default());
    }
}
