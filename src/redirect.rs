//! Redirects, followed by the session rather than by ureq, so that credentials stay with their
//! origin.
//!
//! ureq strips `Authorization` and `Cookie` when it follows a redirect, but forwards every other
//! header, including the API-key headers of LLM providers (`x-api-key`, `x-goog-api-key`). The
//! session therefore asks ureq not to follow redirects and follows them itself:
//!
//! * 303 turns the request into a GET without a body (except HEAD); 301 and 302 do so for a POST
//!   only, as RFC 9110 §15.4, browsers and curl do; otherwise (and on 307 and 308) the method and
//!   the body are repeated. The headers that described a dropped body (`Content-Type`,
//!   `Content-Length`, `Content-Encoding`, `Content-Language`, `Content-Location`,
//!   `Transfer-Encoding`) are dropped with it. A body that cannot be sent again (a
//!   [`body_reader`](crate::RequestBuilder::body_reader)'s) is not repeated: such a redirect is
//!   not followed, and is the response.
//! * When the next URL has another origin (scheme, host or port), the credential headers
//!   ([`SENSITIVE_HEADERS`], and every header whose name contains `auth`, `token`, `key`,
//!   `secret`, `pass`, `session` or `credential`: see [`is_credential`]) are removed. Within
//!   one origin they are kept, as in requests, and so they are from `http://host` to
//!   `https://host` (default ports), as requests keeps them: the upgrade sends them where they
//!   went in clear already. The other way, `https` to `http`, drops them.
//! * A session that keeps cookies gives each hop after a redirect the jar's `Cookie` header,
//!   as requests rebuilds it on each hop (the cookie a login's redirect sets reaches the page
//!   it leads to), followed by the request's own cookies of other names while the redirects
//!   keep the credentials (requests drops a `Cookie` header set by hand, and keeps what its
//!   `cookies=` gave, which has no counterpart here). A session without a jar keeps the
//!   request's `Cookie` as it is, within the origin, as any credential.
//! * When the next URL has another host, a `Host` header the caller set is removed: ureq names
//!   the new host, as curl and Go's client do. Within one host (another scheme or port) it is
//!   kept.
//! * [`SessionBuilder::max_redirects`](crate::SessionBuilder::max_redirects) (10 by default, or
//!   a given agent's own `max_redirects`) bounds the hops; past it the request fails with
//!   [`Error::TooManyRedirects`](crate::Error::TooManyRedirects), or returns the last 3xx if a
//!   given agent says `max_redirects_will_error(false)`.
//! * A `Location` is resolved against the URL that answered as RFC 3986 §5.2 says, dot segments
//!   removed (`../../static/7` from `/express/rel/a/b` is `/express/static/7`), after the bytes a
//!   browser would encode are percent-encoded (`/static/a b` is `/static/a%20b`; a location
//!   that is not UTF-8, raw Latin-1 `/caf\xe9`, has its bytes beyond ASCII percent-encoded,
//!   `/caf%E9`, as curl sends it); see
//!   [`url::resolve`]. A location that is not http or https, has no host or an invalid port is an
//!   [`Error::InvalidRequest`] that does not quote it (it may carry a key). A 3xx without a
//!   `Location`, or with an empty one, is the answer, as in requests and curl.

use std::time::{Duration, Instant};

use ureq::http::{self, header, HeaderMap, Method, Uri};

use crate::upload::Payload;
use crate::{url, Error};

/// Headers that carry credentials and never follow a redirect to another origin.
pub(crate) const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
];

/// Whether a header (its lower-case name) may carry a credential: one of
/// [`SENSITIVE_HEADERS`], `set-cookie`, or any header whose name contains `auth`, `token`,
/// `key`, `secret`, `pass` (not as part of `bypass` or `passthrough`), `session` or
/// `credential` (`x-auth-token`, `private-token`, `ocp-apim-subscription-key`,
/// `x-client-secret`, `x-password`, `x-passcode`, `cb-access-passphrase`, `x-session-id`...),
/// but `idempotency-key`, which names a request and grants nothing.
/// Such a header does not follow a redirect to another origin, and its value is hidden in a
/// status error's `Debug`.
pub(crate) fn is_credential(name: &str) -> bool {
    name == "set-cookie"
        || SENSITIVE_HEADERS.contains(&name)
        || (name != "idempotency-key"
            && (["auth", "token", "key", "secret", "session", "credential"]
                .iter()
                .any(|word| name.contains(word))
                || name.match_indices("pass").any(|(i, _)| {
                    !name[..i].ends_with("by") && !name[i..].starts_with("passthrough")
                })))
}

/// Headers that describe the request's body, removed with it when a redirect makes a GET: the
/// Fetch standard's request-body headers, and the framing headers (as requests removes them).
static BODY_HEADERS: [header::HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
    header::TRANSFER_ENCODING,
];

/// A request as the session sends it: the parts a redirect may change. The headers are not
/// kept here: each send builds the request's own, and [`headers`](Hop::headers) removes what the
/// redirects so far dropped.
pub(crate) struct Hop<'a> {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) body: Option<&'a Payload>,
    /// A 301, 302 or 303 turned the request into a GET: its body headers are gone.
    dropped_content: bool,
    /// A redirect led to another origin: the credential headers are gone.
    dropped_credentials: bool,
    /// A redirect led to another host: a `Host` set by the caller is gone (ureq names the host
    /// of the URI).
    dropped_host: bool,
    /// A redirect led here: the request's own `Cookie` header is gone, and the session's jar
    /// gives the hop its cookies, as requests rebuilds them on each hop.
    pub(crate) redirected: bool,
    /// The fragment (encoded) the answer's URL carries from this hop on: the request's, or the
    /// one the redirects so far gave it (see [`Fragment`]); a retry that starts here keeps it.
    fragment: Option<String>,
}

impl<'a> Hop<'a> {
    /// The first hop: the request as it was made, with its URL's `fragment` (never sent).
    pub(crate) fn new(
        method: Method,
        uri: Uri,
        body: Option<&'a Payload>,
        fragment: Option<&str>,
    ) -> Self {
        Hop {
            method,
            uri,
            body,
            dropped_content: false,
            dropped_credentials: false,
            dropped_host: false,
            redirected: false,
            fragment: fragment.and_then(fragment_of),
        }
    }

    /// Where a retry starts when this hop is the one that failed: here, once a redirect turned
    /// the request into one without its body (a 303, or a 301 or 302 to a POST). The server
    /// took the body then (it answered the request that carried it), and a retry from the first
    /// hop would submit it again, as urllib3's retries, which are a hop's, never do. `None`
    /// while the hop carries the request as made (or its body, after a 307 or 308): a retry
    /// starts from the first hop.
    /// `fragment`: the one the redirects so far gave the answer's URL, kept for the retry.
    pub(crate) fn retry_from<'b>(&self, fragment: &Option<String>) -> Option<Hop<'b>> {
        self.dropped_content.then(|| Hop {
            method: self.method.clone(),
            uri: self.uri.clone(),
            body: None,
            dropped_content: true,
            dropped_credentials: self.dropped_credentials,
            dropped_host: self.dropped_host,
            redirected: self.redirected,
            fragment: fragment.clone(),
        })
    }

    /// The request's `headers` as this hop sends them: without those the redirects so far
    /// dropped (once dropped, a header stays dropped for the hops after).
    pub(crate) fn headers(&self, mut headers: HeaderMap) -> HeaderMap {
        if self.dropped_content {
            for name in &BODY_HEADERS {
                headers.remove(name);
            }
        }
        if self.dropped_credentials {
            let credentials: Vec<_> = headers
                .keys()
                .filter(|name| is_credential(name.as_str()))
                .cloned()
                .collect();
            for name in credentials {
                headers.remove(name);
            }
        }
        if self.dropped_host {
            headers.remove(header::HOST);
        }
        headers
    }
}

/// How many redirects a request follows, and what happens past that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RedirectLimit {
    /// Hops followed at most; 0 returns every redirect to the caller as it is.
    pub(crate) max: u32,
    /// Past `max`: fail with `Error::TooManyRedirects` (true) or return the last 3xx (false).
    pub(crate) will_error: bool,
}

/// How much of a redirect's body is read so that its connection can be reused.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// How long a redirect's body is waited for, at most, so that its connection can be reused:
/// nobody reads it (browsers' `fetch` follows a redirect without it), and a server that stalls
/// in it held the request (an `EventSource` too) for as long as it kept the connection open.
/// Redirect bodies come with their head in practice; one that does not by then costs the
/// connection only. As long as the wait for an error body nobody gets
/// (`run::ERROR_BODY_WAIT`), for the same reasons. (An agent given to the session, whose
/// connector is not the session's, waits as its timeouts say: see `transport::waits_until`.)
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// The fragment of the URL that answered (`#part`, never sent): the request URL's, or the one
/// of the last `Location` that had one (RFC 9110 §10.2.2: a location without a fragment
/// inherits it), for [`Response::url`](crate::Response::url), as requests keeps it. Put in
/// the response's extensions when there is one.
#[derive(Clone, Debug)]
pub(crate) struct Fragment(pub(crate) Box<str>);

impl Fragment {
    /// Takes the fragment out of `extensions` (a response's), if it has one.
    pub(crate) fn take(extensions: &mut http::Extensions) -> Option<Box<str>> {
        extensions.remove::<Fragment>().map(|f| f.0)
    }
}

/// Put in the extensions of a response that a redirect to another origin led to (the
/// request's credentials were dropped on the way, and stay dropped even when a later redirect
/// came back): an `EventSource` reconnects to the request's URL, not to this one, where the
/// other origin's choice of path and query would get the credentials.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeftOrigin;

/// Sends `hop` with `send_one` (which must not follow redirects itself) and follows the
/// redirects it is answered with. `deadline` is checked between hops. The response carries
/// the hop's fragment as a [`Fragment`] unless a `Location` gives another; `retry_from` is set
/// to where a retry starts (see [`Hop::retry_from`]).
pub(crate) fn follow(
    limit: RedirectLimit,
    mut hop: Hop<'_>,
    deadline: Option<Instant>,
    retry_from: &mut Option<Hop<'static>>,
    send_one: impl FnMut(&Hop<'_>) -> Result<http::Response<ureq::Body>, Error>,
) -> Result<http::Response<ureq::Body>, Error> {
    let mut fragment = hop.fragment.take();
    let mut resp = follow_hops(limit, hop, deadline, &mut fragment, retry_from, send_one)?;
    if let Some(fragment) = fragment {
        resp.extensions_mut().insert(Fragment(fragment.into()));
    }
    Ok(resp)
}

/// `fragment` encoded as a URL carries it (see `url::encode_fragment`); `None` for an empty
/// one, which requests drops too.
fn fragment_of(fragment: &str) -> Option<String> {
    let fragment = fragment.trim_end();
    (!fragment.is_empty()).then(|| url::encode_fragment(fragment).into_owned())
}

/// [`follow`]'s hops; `fragment` becomes that of each `Location` that has one, and
/// `retry_from` the [`Hop::retry_from`] of the last hop sent.
fn follow_hops(
    limit: RedirectLimit,
    mut hop: Hop<'_>,
    deadline: Option<Instant>,
    fragment: &mut Option<String>,
    retry_from: &mut Option<Hop<'static>>,
    mut send_one: impl FnMut(&Hop<'_>) -> Result<http::Response<ureq::Body>, Error>,
) -> Result<http::Response<ureq::Body>, Error> {
    let max = limit.max;
    let mut hops = 0;
    loop {
        *retry_from = hop.retry_from(fragment);
        let mut resp = send_one(&hop)?;
        if hop.dropped_credentials {
            resp.extensions_mut().insert(LeftOrigin);
        }
        if max == 0 {
            // ureq's meaning of 0: never follow, always return the response.
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Ok(resp);
        }
        // No location, or an empty one (the same URL again, for ever): the 3xx is the answer,
        // as in requests and curl.
        let location = resp.headers().get(header::LOCATION);
        let Some(location) = location.filter(|l| !l.as_bytes().trim_ascii().is_empty()) else {
            return Ok(resp);
        };
        // A redirect that keeps the body would send it again, and a reader's body cannot be:
        // the redirect is the answer (`RequestBuilder::body_reader` says so).
        if hop.body.is_some_and(|b| !b.replayable()) && !becomes_get(status, &hop.method) {
            return Ok(resp);
        }
        // The location is not quoted: it may carry a key of the server's choosing. Browsers
        // read a Location's bytes beyond ASCII as UTF-8, and so does this; one that is not
        // UTF-8 (raw Latin-1) goes with those bytes percent-encoded, as curl sends it.
        let text = location_text(location.as_bytes());
        let next = url::resolve(&hop.uri, &text);
        if hops >= max {
            if limit.will_error {
                // As the URL of a request is shown: its query, fragment and user-info hidden.
                // One that does not resolve is not quoted (see below).
                let location = next.map_or_else(
                    |_| "an invalid location".into(),
                    |u| crate::redact_url(&u.to_string()),
                );
                return Err(Error::TooManyRedirects {
                    max,
                    url: crate::redact_url(&hop.uri.to_string()),
                    location,
                });
            }
            return Ok(resp);
        }
        let next = next.map_err(|why| {
            Error::InvalidRequest(format!(
                "the {status} answer of {} redirects to a location the session does not \
                 follow: {why}; max_redirects(0) returns a redirect as the response, whose \
                 Location header can be read",
                crate::redact_url(&hop.uri.to_string())
            ))
        })?;
        if let Some((_, own)) = text.split_once('#') {
            *fragment = fragment_of(own);
        }
        // Read a short body to its end, so that the connection goes back to the pool; a long
        // one is dropped with its connection. Not past the deadline: a stream's hops have no
        // budget for bodies of their own, and a server that stalls in this one would hold the
        // request for as long as it stays open. Nor past `DRAIN_WAIT` without a deadline (the
        // default): a body that does not come by then is dropped with its connection.
        crate::run::interrupt_at(deadline, crate::exec::current_job(), || {
            crate::transport::waits_until(Instant::now() + DRAIN_WAIT, || {
                let _ = resp
                    .body_mut()
                    .with_config()
                    .limit(DRAIN_LIMIT)
                    .read_to_vec();
            })
        });
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(crate::phase::budget_spent(
                crate::phase::Phase::Redirect,
                &hop.uri,
            ));
        }
        if becomes_get(status, &hop.method) {
            hop.method = Method::GET;
            hop.body = None;
            hop.dropped_content = true;
        }
        if !keeps_credentials(&hop.uri, &next) {
            hop.dropped_credentials = true;
        }
        hop.redirected = true;
        if !same_host(&hop.uri, &next) {
            hop.dropped_host = true;
        }
        hop.uri = next;
        hops += 1;
    }
}

/// A `Location`'s bytes as text: as UTF-8 when they are, otherwise with every byte beyond
/// ASCII percent-encoded (`/caf\xe9` is `/caf%E9`), as curl follows them.
fn location_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => {
            let mut text = String::with_capacity(bytes.len() + 16);
            for &b in bytes {
                if b.is_ascii() {
                    text.push(char::from(b));
                } else {
                    text.push_str(&format!("%{b:02X}"));
                }
            }
            text.into()
        }
    }
}

/// Whether a redirect with `status` turns a request with `method` into a GET without a body:
/// a 303 does for every method but HEAD, a 301 or 302 only for POST (RFC 9110 §15.4, as
/// browsers and curl do). Every other method goes to the new location as it was, body included.
fn becomes_get(status: u16, method: &Method) -> bool {
    match status {
        301 | 302 => *method == Method::POST,
        303 => *method != Method::HEAD,
        _ => false,
    }
}

/// Scheme and port (with the scheme's default port filled in): with the host, the origin.
fn origin(uri: &Uri) -> (Option<&str>, Option<u16>) {
    let scheme = uri.scheme_str();
    let port = uri.port_u16().or(match scheme {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    });
    (scheme, port)
}

pub(crate) fn same_origin(a: &Uri, b: &Uri) -> bool {
    let (sa, pa) = origin(a);
    let (sb, pb) = origin(b);
    sa == sb && pa == pb && same_host(a, b)
}

/// Whether the credential headers go along a redirect from `a` to `b`: within one origin, and
/// from `http` on its default port to `https` on its own at the same host, as requests keeps
/// them (`should_strip_auth`): an upgrade to TLS sends them where they went in clear already.
fn keeps_credentials(a: &Uri, b: &Uri) -> bool {
    same_origin(a, b)
        || (same_host(a, b)
            && origin(a) == (Some("http"), Some(80))
            && origin(b) == (Some("https"), Some(443)))
}

/// The same host name, whatever the scheme and port.
fn same_host(a: &Uri, b: &Uri) -> bool {
    a.host()
        .zip(b.host())
        .is_some_and(|(x, y)| x.eq_ignore_ascii_case(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn locations_resolve_against_the_base() {
        let base = uri("https://api.example.com/v1/chat?key=1");
        let cases = [
            ("https://other.example/x", "https://other.example/x"),
            ("//cdn.example/y", "https://cdn.example/y"),
            ("/v2/chat", "https://api.example.com/v2/chat"),
            (
                "completions?a=b",
                "https://api.example.com/v1/completions?a=b",
            ),
            ("?page=2", "https://api.example.com/v1/chat?page=2"),
            (
                "/next?u=http://x/y",
                "https://api.example.com/next?u=http://x/y",
            ),
            ("HTTP://Other.example/z", "http://other.example/z"),
        ];
        for (location, expected) in cases {
            assert_eq!(
                url::resolve(&base, location),
                Ok(uri(expected)),
                "{location}"
            );
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(&uri("http://h/a"), &uri("http://H:80/b")));
        assert!(!same_origin(&uri("http://h/a"), &uri("https://h/a")));
        assert!(!same_origin(&uri("http://h:8080/"), &uri("http://h:8081/")));
        assert!(!same_origin(&uri("http://h/"), &uri("http://g/")));
    }

    #[test]
    fn credentials_follow_an_upgrade_to_tls_at_the_same_host_only() {
        // As requests' `should_strip_auth`: http on its default port to https on its own.
        assert!(keeps_credentials(&uri("http://h/a"), &uri("https://h/b")));
        assert!(keeps_credentials(
            &uri("http://h:80/a"),
            &uri("https://H:443/b")
        ));
        assert!(keeps_credentials(
            &uri("https://h/a"),
            &uri("https://h:443/b")
        ));
        assert!(!keeps_credentials(&uri("https://h/a"), &uri("http://h/a")));
        assert!(!keeps_credentials(
            &uri("http://h:8080/a"),
            &uri("https://h/a")
        ));
        assert!(!keeps_credentials(
            &uri("http://h/a"),
            &uri("https://h:8443/a")
        ));
        assert!(!keeps_credentials(&uri("http://h/a"), &uri("https://g/a")));
    }
}
