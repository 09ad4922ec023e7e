//! Where a transport failure happened: the phase of the exchange, the host and port, and the
//! request's URL (redacted), added to the I/O errors ureq reports without them.
//!
//! ureq hands back a bare `io::Error` for a refused connection, a failed name lookup, a TLS
//! handshake that went wrong and a connection cut mid-way, so `Connection refused (os error 111)`
//! alone would not say to which server. The error stays [`Error::Io`] with its
//! [`io::ErrorKind`] (code that matches on the kind keeps working); its message gains the phase,
//! `host:port` and the URL, and, for an `https://` URL whose port answers in plain HTTP, the fix.
//!
//! The phase is inferred, since ureq does not report it: the kind of the error (refused or
//! unreachable: connect; a failed lookup: resolve), the scheme (corrupt records or an early end
//! on `https://` before any response: TLS), and where the error surfaced (while reading a body:
//! read).

use std::fmt;
use std::io;

use ureq::http::{header, HeaderMap, Uri};

use crate::timeout::{TimeoutError, TimeoutSettings};
use crate::transport::{proxy_leg, ProxyLeg};
use crate::Error;

/// The phase of an exchange a failure is placed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Resolve,
    Connect,
    Tls,
    Send,
    /// Waiting for the response head.
    Response,
    /// Reading the body.
    Body,
    /// Waiting for the rate limiter's turn for the origin, before sending.
    Turn,
    /// Between the hops of a redirect: reading the redirect's body, before the next request.
    Redirect,
    /// No better guess.
    Request,
}

/// An I/O error with where it happened; the `io::Error`'s inner error.
#[derive(Debug)]
struct Located {
    phase: Phase,
    /// `host:port`.
    target: String,
    /// The redacted URL.
    url: String,
    hint: Option<String>,
    proxy: Via,
    source: io::Error,
    /// How many attempts the retry policy made and why no more, when it made more than one or
    /// wanted to (see [`after_attempts`]).
    retried: Option<String>,
}

/// How a failed request went: straight to its server, or through a proxy.
#[derive(Debug, PartialEq, Eq)]
enum Via {
    Direct,
    /// The failure is the proxy's own (its connection, its name): `target` is the proxy's.
    ToProxy,
    /// Through the proxy at this `host:port`: the failure may be the proxy's or the server's.
    Proxy(String),
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = &self.target;
        let to_proxy = self.proxy == Via::ToProxy;
        match self.phase {
            Phase::Resolve if to_proxy => write!(f, "resolve the proxy {}", host_of(target))?,
            Phase::Resolve => write!(f, "resolve {}", host_of(target))?,
            Phase::Connect if to_proxy => write!(f, "connect to the proxy {target}")?,
            Phase::Connect => write!(f, "connect to {target}")?,
            Phase::Tls if to_proxy => write!(f, "TLS handshake with the proxy {target}")?,
            Phase::Tls => write!(f, "TLS handshake with {target}")?,
            Phase::Send if to_proxy => write!(f, "send the CONNECT to the proxy {target}")?,
            Phase::Send => write!(f, "send the request to {target}")?,
            Phase::Response if to_proxy => write!(f, "read the answer of the proxy {target}")?,
            Phase::Response => write!(f, "read the response from {target}")?,
            Phase::Request if to_proxy => write!(f, "request to the proxy {target}")?,
            Phase::Body => write!(f, "read the body from {target}")?,
            Phase::Turn => write!(f, "wait for the rate limiter's turn for {target}")?,
            Phase::Redirect => write!(f, "follow the redirect from {target}")?,
            Phase::Request => write!(f, "request to {target}")?,
        }
        match (&self.proxy, self.phase) {
            // Looked up here, to reach it through the proxy (a `socks5://` proxy's way).
            (Via::Proxy(proxy), Phase::Resolve) => {
                write!(f, " to connect through the proxy {proxy}")?
            }
            (Via::Proxy(proxy), _) => write!(f, " through the proxy {proxy}")?,
            _ => {}
        }
        write!(f, " failed for url: {}: {}", self.url, self.source)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        if let Some(retried) = &self.retried {
            write!(f, " ({retried})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Located {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The error of a decoder (gzip, deflate, br) given a body it cannot decode, with where the body
/// came from; inside ureq's `Decompress`, which names the coding.
#[derive(Debug)]
struct Undecodable {
    /// `host:port`.
    target: String,
    /// The redacted URL.
    url: String,
    source: io::Error,
}

impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An end within the compressed data (flate2's `incomplete deflate stream`) is most
        // often a body cut short: a close-delimited body has no length to tell it otherwise.
        let why = if self.source.kind() == io::ErrorKind::UnexpectedEof {
            "the body ended within its compressed data: it was cut short, or is not what its \
             Content-Encoding says"
        } else {
            "the body is not what its Content-Encoding says"
        };
        write!(
            f,
            "{} in the body from {} for url: {} ({why}; the header Accept-Encoding: identity \
             asks the server for it unencoded)",
            self.source, self.target, self.url
        )
    }
}

impl std::error::Error for Undecodable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn host_of(target: &str) -> &str {
    target.rsplit_once(':').map_or(target, |(host, _)| host)
}

/// `host:port` of `uri`, the port defaulted from the scheme.
fn target(uri: &Uri) -> String {
    let host = uri.host().unwrap_or("");
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    format!("{host}:{port}")
}

/// The fix for a certificate chain that leads to no root the session trusts.
const UNTRUSTED_CA: &str = "the server's certificate is not signed by a CA this session \
    trusts: the bundled Mozilla roots, unless SessionBuilder::tls_config says otherwise; for a \
    private CA, or a proxy that inspects TLS, trust its CA certificate with \
    SessionBuilder::tls_config and RootCerts::Specific";

/// The fix for a server that wants a client certificate.
const CLIENT_CERT_WANTED: &str = "the server asks for a client certificate: give one with \
    TlsConfig::builder().client_cert(Some(ClientCert::new_with_certs(..))) in \
    SessionBuilder::tls_config";

/// Whether a TLS error's `text` is TLS 1.3's `certificate_required` alert, in rustls's words or
/// OpenSSL's.
fn wants_client_cert(text: &str) -> bool {
    text.contains("CertificateRequired") || text.contains("alert certificate required")
}

/// What a TLS handshake's failure on an answer in plain HTTP says, for `uri`.
fn answered_in_plain_http(uri: &Uri) -> String {
    format!(
        "the server did not answer in TLS (most likely in plain HTTP): for a plain-HTTP port \
         use {}",
        redact_swapped(uri)
    )
}

/// What a TLS handshake's failure on a connection closed before any answer says, for `uri`.
fn closed_at_once(uri: &Uri) -> String {
    format!(
        "the connection closed before the server answered; if this port serves plain HTTP \
         rather than TLS, use {}",
        redact_swapped(uri)
    )
}

/// [`UNTRUSTED_CA`], and where a variable that names a CA bundle for other tools is set
/// (requests reads `REQUESTS_CA_BUNDLE` and `CURL_CA_BUNDLE`, OpenSSL `SSL_CERT_FILE`), that
/// the bundled roots (rustls's, whose verdict `UnknownIssuer` is) ignore it and how to load
/// it: a user behind a proxy that inspects TLS has often set one. Not for native-tls, whose
/// OpenSSL reads `SSL_CERT_FILE` itself.
fn untrusted_ca() -> String {
    untrusted_ca_in(|name| std::env::var_os(name))
}

/// [`untrusted_ca`] in the environment `env`.
fn untrusted_ca_in(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> String {
    let mut hint = UNTRUSTED_CA.to_string();
    let set = ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"]
        .into_iter()
        .find_map(|name| Some(name).zip(env(name).filter(|v| !v.is_empty())));
    if let Some((name, path)) = set {
        hint.push_str(&format!(
            " ({name} is set to {}: the bundled roots ignore it; to trust that file, load it \
             with ureq::tls::parse_pem into RootCerts::Specific)",
            path.to_string_lossy()
        ));
    }
    hint
}

/// The fix for an `https://` proxy's certificate that leads to no trusted root.
const PROXY_UNTRUSTED_CA: &str = "the proxy's certificate is not signed by a CA this session \
    trusts: trust its CA certificate with SessionBuilder::tls_config and RootCerts::Specific \
    (the servers' certificates are then checked against it too)";

/// The largest response head a session's own agent reads, whatever the connection's buffer
/// (ureq's default `max_response_header_size`, which `SessionBuilder` keeps as a cap).
const MAX_HEAD: usize = 64 * 1024;

/// Whether the text of a TLS handshake's I/O error says a server answered in plain HTTP.
/// rustls reads the first bytes of `HTTP/1.1 400 ...` as a record of an unknown content type.
fn plain_http_answer(text: &str) -> bool {
    text.contains("InvalidContentType") || text.contains("corrupt message")
}

/// `e`, a failure of the request to `uri` before any response came, with its phase and place.
/// Errors other than [`Error::Io`], [`Error::Timeout`] and the transport errors of
/// [`transport_hint`] (and those that already carry a place) pass unchanged. `proxy`: the
/// agent's proxy, if it has one; a connection refused or a name not found is then the proxy's.
pub(crate) fn before_response(e: Error, uri: &Uri, proxy: Option<&ureq::Proxy>) -> Error {
    // The proxy this request went through, if any.
    let proxy = proxy.filter(|p| !p.is_no_proxy(uri));
    let via = || proxy.map_or(Via::Direct, |p| Via::Proxy(proxy_at(p)));
    let io = match e {
        Error::Io(io) => io,
        Error::Timeout(mut t) => {
            // A connection this session's connector made, on which no request was written:
            // a read then was the connection's own (TLS, a proxy's CONNECT or SOCKS answer).
            let connecting =
                crate::transport::socket_connected() && !crate::transport::wrote_request();
            if let Some(proxy) = proxy {
                t.through_proxy(proxy_at(proxy), connecting);
            } else if uri.scheme_str() == Some("https") && crate::transport::socket_connected() {
                t.in_handshake(connecting);
            }
            return Error::Timeout(place_timeout(t, uri, false));
        }
        Error::Transport(ureq::Error::ConnectProxyFailed(reason)) => {
            let reason = match proxy {
                Some(proxy) if !reason.starts_with("the proxy ") => {
                    proxy_refusal(&reason, uri, proxy)
                }
                _ => reason,
            };
            return Error::Transport(ureq::Error::ConnectProxyFailed(reason));
        }
        // A proxy reached whose answer to the CONNECT is no HTTP (the port of another service):
        // nothing else parses HTTP while the connection is made.
        Error::Transport(e @ ureq::Error::Protocol(_))
            if proxy.is_some() && proxy_leg() == ProxyLeg::Reached =>
        {
            let at = proxy.map(proxy_at).unwrap_or_default();
            let hint = format!(
                "the proxy's answer to the CONNECT for {} does not start as HTTP does: is {at} \
                 an HTTP proxy?",
                target(uri)
            );
            let io = io::Error::new(io::ErrorKind::InvalidData, e);
            return located_at(io, Phase::Response, at, uri, Some(hint), Via::ToProxy);
        }
        Error::Transport(e) => {
            return match transport_hint(&e, uri) {
                Some((kind, phase, hint)) => located_at(
                    io::Error::new(kind, e),
                    phase,
                    target(uri),
                    uri,
                    hint,
                    via(),
                ),
                None => Error::Transport(e),
            }
        }
        other => return other,
    };
    // Placed already, or about a request body's file rather than the network.
    if io.get_ref().is_some_and(|inner| inner.is::<Located>()) || crate::upload::is_local_error(&io)
    {
        return Error::Io(io);
    }
    // How far a connection through an HTTP proxy got: while the leg to the proxy was made, the
    // only TLS is the proxy's own (an `https://` proxy).
    let leg = proxy.map_or(ProxyLeg::Unused, |_| proxy_leg());
    let https = match leg {
        ProxyLeg::Connecting => proxy.is_some_and(|p| p.protocol() == ureq::ProxyProtocol::Https),
        _ => uri.scheme_str() == Some("https"),
    };
    let is_name = |h: &str| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_err()
    };
    // The names looked up here: the server's, unless a proxy resolves it; the proxy's.
    let server_name = proxy.is_none_or(|p| p.resolve_target()) && uri.host().is_some_and(is_name);
    let proxy_name = proxy.is_some_and(|p| is_name(p.host()));
    let name = server_name || proxy_name;
    let kind = io.kind();
    // What the error says, read by the guards below.
    let text = io.to_string();
    let (phase, hint) = match kind {
        // TLS 1.3's alert for a server that wants a client certificate and was given none:
        // rustls's `CertificateRequired`, OpenSSL's (native-tls) `alert certificate required`,
        // which comes with the first read after the handshake.
        _ if https && wants_client_cert(&text) => {
            (Phase::Tls, Some(CLIENT_CERT_WANTED.to_string()))
        }
        // No TLS connector for the provider the session asked for (`transport::TlsMissing`).
        io::ErrorKind::Unsupported
            if io
                .get_ref()
                .is_some_and(|e| e.is::<crate::transport::NoTlsConnector>()) =>
        {
            (Phase::Tls, None)
        }
        // Before the request was written (as far as this session's connector saw): a socket
        // that was connected can report an unreachable host too, when the route fails under
        // it, and the request may have arrived.
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::AddrNotAvailable
            if !crate::transport::wrote_request() =>
        {
            (Phase::Connect, None)
        }
        io::ErrorKind::InvalidData if https && plain_http_answer(&text) => {
            (Phase::Tls, Some(answered_in_plain_http(uri)))
        }
        io::ErrorKind::InvalidData if https && text.contains("CaUsedAsEndEntity") => (
            Phase::Tls,
            Some(
                "the server's certificate is a CA certificate (basicConstraints CA:TRUE), which \
                 rustls refuses as a server's own, trusted or not: make it a leaf \
                 (openssl req -x509 ... -addext basicConstraints=critical,CA:FALSE), or sign it \
                 with a CA and trust that CA"
                    .to_string(),
            ),
        ),
        // rustls's verdict on a certificate chain that leads to no trusted root: a private CA
        // (or a proxy that inspects TLS) the session was not told about.
        io::ErrorKind::InvalidData if https && text.contains("UnknownIssuer") => {
            (Phase::Tls, Some(untrusted_ca()))
        }
        io::ErrorKind::InvalidData if https => (Phase::Tls, None),
        // Closed before a request went out on the connection: in the handshake. (After one,
        // rustls says the close came without its `close_notify`: the answer's read.)
        io::ErrorKind::UnexpectedEof if https && !crate::transport::wrote_request() => {
            (Phase::Tls, Some(closed_at_once(uri)))
        }
        // The server closed the connection while the request's body went out, and sent no
        // answer: the upload was cut, not the response.
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
            if crate::transport::send_broken() =>
        {
            (
                Phase::Send,
                Some(
                    "the server closed the connection while the request's body was being \
                     sent, without an answer"
                        .to_string(),
                ),
            )
        }
        // ureq's words for a close say nothing of when it came: before any byte of an answer.
        io::ErrorKind::UnexpectedEof if text == "Peer disconnected" => (
            Phase::Response,
            Some("the server closed the connection without answering".to_string()),
        ),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => (Phase::Response, None),
        io::ErrorKind::BrokenPipe => (Phase::Send, None),
        _ if name && text.contains("lookup address") => (Phase::Resolve, None),
        _ => (Phase::Request, None),
    };
    // A SOCKS proxy whose URL has the client look up the server's name (`socks5://`,
    // `socks4://`): the lookup that failed was this machine's; and an answer that is no SOCKS
    // is another service's (an HTTP proxy's port).
    let socks = proxy.and_then(|p| Some((p, socks_letter(p.protocol())?)));
    if let Some((proxy, (scheme, letter))) = socks {
        // Only where the proxy is an address: with a name of its own, either lookup may have
        // failed, and `socks5h://` would not mend the proxy's.
        if phase == Phase::Resolve && server_name && !proxy_name && !letter.is_empty() {
            let hint = format!(
                "the server's name is looked up here, not by the proxy, as a {scheme}:// proxy \
                 URL asks: {scheme}{letter}:// has the proxy look it up (for a name only the \
                 proxy's network knows); {}",
                proxy_source(proxy)
            );
            return located_at(io, phase, target(uri), uri, Some(hint), via());
        }
        if text.contains("invalid response version") {
            let at = proxy_at(proxy);
            let hint = format!(
                "the proxy's answer is not SOCKS: is {at} a SOCKS proxy? (an HTTP proxy's URL \
                 starts with http://); {}",
                proxy_source(proxy)
            );
            return located_at(io, Phase::Response, at, uri, Some(hint), Via::ToProxy);
        }
    }
    // Behind a proxy, the only connection made is to the proxy, and the name looked up is the
    // proxy's (unless the server's is looked up too, as for SOCKS4). So is all of the leg to an
    // HTTP proxy, and, for an `http://` URL, the CONNECT after it (no TLS follows).
    let proxys_own = phase == Phase::Connect
        || (phase == Phase::Resolve && !server_name)
        || leg == ProxyLeg::Connecting
        || (leg == ProxyLeg::Reached
            && uri.scheme_str() != Some("https")
            && matches!(phase, Phase::Send | Phase::Response | Phase::Request));
    if let Some(proxy) = proxy.filter(|_| proxys_own) {
        let source = proxy_source(proxy);
        // The server's hints do not fit the proxy's TLS: say it of the proxy.
        let own = match phase {
            Phase::Tls if text.contains("UnknownIssuer") => Some(PROXY_UNTRUSTED_CA),
            Phase::Tls if plain_http_answer(&text) => Some(
                "the proxy did not answer in TLS (most likely in plain HTTP): write its URL \
                 with http://",
            ),
            _ => None,
        };
        let hint = Some(own.map_or(source.to_string(), |own| format!("{own}; {source}")));
        return located_at(io, phase, proxy_at(proxy), uri, hint, Via::ToProxy);
    }
    located_at(io, phase, target(uri), uri, hint, via())
}

/// Where `proxy` was set, and how to fix or skip it.
fn proxy_source(proxy: &ureq::Proxy) -> &'static str {
    if proxy.is_from_env() {
        "the proxy comes from the environment (ALL_PROXY, HTTPS_PROXY or HTTP_PROXY): fix it \
         there, or go direct with SessionBuilder::proxy(None)"
    } else {
        "the proxy set with SessionBuilder::proxy"
    }
}

/// For a SOCKS protocol: its URL scheme, and the letter whose scheme has the proxy look up
/// the server's name (empty when it does already); `None` for the others.
fn socks_letter(protocol: ureq::ProxyProtocol) -> Option<(&'static str, &'static str)> {
    match protocol {
        ureq::ProxyProtocol::Socks4 => Some(("socks4", "a")),
        ureq::ProxyProtocol::Socks5 => Some(("socks5", "h")),
        ureq::ProxyProtocol::Socks4A => Some(("socks4a", "")),
        ureq::ProxyProtocol::Socks5h => Some(("socks5h", "")),
        _ => None,
    }
}

/// `host:port` of `proxy`.
fn proxy_at(proxy: &ureq::Proxy) -> String {
    format!("{}:{}", proxy.host(), proxy.port())
}

/// Whether `e` failed before the request could reach the server: its host's name did not
/// resolve, or the connection (TCP, a proxy's tunnel; a TLS handshake past `connect_timeout`,
/// before which nothing of the request goes) was not made. Such a request took no effect,
/// whatever its method: a retry cannot make it take effect twice.
///
/// An I/O error's phase is a guess from its kind and from what this session's connector saw
/// (whether the request was written): `observed` says whether the request went through that
/// connector (not a caller's agent, whose writes are not seen), and without it no I/O error
/// counts. Nor does one placed in TLS, a guess that a TLS alert or a close after the request
/// fits too.
pub(crate) fn nothing_sent(e: &Error, observed: bool) -> bool {
    let early = |phase: Option<Phase>| matches!(phase, Some(Phase::Resolve | Phase::Connect));
    match e {
        Error::Transport(ureq::Error::ConnectionFailed | ureq::Error::HostNotFound) => true,
        Error::Transport(ureq::Error::ConnectProxyFailed(_)) => true,
        Error::Io(_) if !observed => false,
        Error::Io(io) => early(
            io.get_ref()
                .and_then(|inner| inner.downcast_ref::<Located>())
                .map(|located| located.phase),
        ),
        Error::Timeout(t) => early(t.phase()),
        _ => false,
    }
}

/// Whether a CONNECT that a proxy refused (as [`proxy_refusal`] words it, or as ureq does:
/// `proxy server responded 503/503`) may pass on another attempt: the proxy gave no answer,
/// or answered 429, 502, 503 or 504 (it could not reach the server, or was busy), as urllib3
/// and httpx retry a tunnel that failed as a connect that failed. A 407 or a 403 would come
/// again.
pub(crate) fn transient_proxy_refusal(reason: &str) -> bool {
    if reason.contains("gave no answer to the CONNECT") || reason.contains("did not respond") {
        return true;
    }
    let status = reason
        .split_once(" answered ")
        .map(|(_, rest)| rest)
        .or_else(|| reason.strip_prefix("proxy server responded "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    matches!(status, Some(429 | 502 | 503 | 504))
}

/// The reason of a CONNECT that `proxy` refused (ureq's `proxy server responded 407/407`),
/// with the proxy, the server asked for and the URL, for a 407 the fix, and for a 403 to an
/// `http://` URL why a proxy that serves requests and curl refuses it. The variant stays
/// ureq's `ConnectProxyFailed`, which retry policies retry only when
/// [`transient_proxy_refusal`] says so.
fn proxy_refusal(reason: &str, uri: &Uri, proxy: &ureq::Proxy) -> String {
    let at = proxy_at(proxy);
    let (server, url) = (target(uri), crate::redact_url(&uri.to_string()));
    let status = reason
        .strip_prefix("proxy server responded ")
        .and_then(|rest| rest.split('/').next())
        .and_then(|code| code.parse::<u16>().ok());
    let Some(status) = status else {
        // "proxy server did not respond": it closed the connection without an answer.
        return format!("the proxy {at} gave no answer to the CONNECT for {server} for url: {url}");
    };
    let status_line = ureq::http::StatusCode::from_u16(status)
        .map_or_else(|_| status.to_string(), crate::retry::status_line);
    let mut text =
        format!("the proxy {at} answered {status_line} to the CONNECT for {server} for url: {url}");
    if status == 403 && uri.scheme_str() == Some("http") {
        // ureq tunnels plain-HTTP URLs too, where requests and curl send `GET http://...`.
        text.push_str(
            " (http:// URLs go through an HTTP proxy by CONNECT too, and many proxies allow \
             CONNECT to port 443 only, as squid's and tinyproxy's default configurations do)",
        );
    }
    if status == 407 {
        let setting = if proxy.is_from_env() {
            "ALL_PROXY, HTTPS_PROXY or HTTP_PROXY"
        } else {
            "SessionBuilder::proxy"
        };
        if proxy.username().is_some() || proxy.password().is_some() {
            text.push_str(&format!(
                " (the proxy refused the credentials in its URL: check them in {setting})"
            ));
        } else {
            let scheme = proxy.uri().scheme_str().unwrap_or("http");
            text.push_str(&format!(
                " (the proxy wants credentials: put them in its URL, \
                 {scheme}://user:password@{at}, in {setting})"
            ));
        }
    }
    text
}

/// For the ureq errors that say neither where they happened nor what to change: the kind of
/// [`Error::Io`] they become, their phase, and the fix. `None` for the others, which stay
/// [`Error::Transport`].
fn transport_hint(e: &ureq::Error, uri: &Uri) -> Option<(io::ErrorKind, Phase, Option<String>)> {
    match e {
        // The platform's TLS library failed the handshake: a TLS error, named like rustls's.
        // OpenSSL's words for a chain that leads to no trusted root get rustls's fix.
        #[cfg(feature = "native-tls")]
        ureq::Error::NativeTls(e) => {
            let text = e.to_string();
            let untrusted = [
                "unable to get local issuer certificate",
                "unable to get issuer certificate",
                "self-signed certificate",
                "self signed certificate",
            ]
            .iter()
            .any(|words| text.contains(words));
            // OpenSSL's words for an answer that is no TLS record, and for a connection closed
            // before any answer: a plain-HTTP port (which answers a ClientHello with a 400, or
            // closes), as rustls's are read in `before_response`.
            let https = uri.scheme_str() == Some("https");
            let hint = if https && text.contains("wrong version number") {
                Some(answered_in_plain_http(uri))
            } else if https && text.contains("unexpected EOF") {
                Some(closed_at_once(uri))
            } else if wants_client_cert(&text) {
                Some(CLIENT_CERT_WANTED.to_string())
            } else {
                // OpenSSL reads `SSL_CERT_FILE` itself: the fix alone.
                untrusted.then(|| UNTRUSTED_CA.to_string())
            };
            Some((io::ErrorKind::InvalidData, Phase::Tls, hint))
        }
        // A head that does not fit the connection's read buffer (ureq's `max_response_header_size`
        // is set from it).
        ureq::Error::LargeResponseHeader(got, limit) => {
            // ureq counts what it read, which stops a byte past the buffer: `16384 > 16383`
            // reads as a head one byte too long, whatever its length.
            let stopped = if *got == limit + 1 {
                format!("the head is longer than the {limit} bytes read, where the read stopped; ")
            } else {
                String::new()
            };
            let hint = if *limit >= MAX_HEAD {
                format!(
                    "the agent reads at most {limit} bytes of response head: the buffer \
                     settings do not raise that past 64 KiB (ureq's default \
                     max_response_header_size); an agent of your own (SessionBuilder::agent) \
                     with a larger max_response_header_size reads more"
                )
            } else {
                format!(
                    "the connection's read buffer holds at most {limit} bytes of head: raise \
                     SessionBuilder::stream_buffer_size for event streams or \
                     connection_buffer_size for other requests; ureq allows up to 64 KiB"
                )
            };
            Some((
                io::ErrorKind::InvalidData,
                Phase::Response,
                Some(format!("{stopped}{hint}")),
            ))
        }
        // ureq's protocol errors, told by their words.
        ureq::Error::Protocol(p) => protocol_hint(&p.to_string(), uri),
        _ => None,
    }
}

/// [`transport_hint`] for ureq's protocol errors, by their words (`text`): those that say
/// neither where they happened nor what to change. The checks go in order: a more particular
/// parse failure before the general one.
fn protocol_hint(text: &str, uri: &Uri) -> Option<(io::ErrorKind, Phase, Option<String>)> {
    // Answers ureq-proto refuses for a reason no setting changes, and what to say of each.
    const NO_SETTING: [(&str, &str); 3] = [
        // A line of the head that is no `name: value` field, among them a folded one (RFC 9112
        // §5.2 obsoletes them and asks user agents to unfold them; ureq-proto's parser refuses
        // them).
        (
            "invalid header name",
            "a line of the response head is no `name: value` header field: a name with a blank \
             or another character names cannot hold, no colon, or a folded line (one that \
             starts with a space or a tab, continuing the field above it: obsolete since RFC \
             7230, and not read by ureq); no setting changes that",
        ),
        // ureq-proto 0.7 refuses a `100 Continue` with header fields (RFC 9110 §15.2 allows
        // them; `102` and `103` with fields pass).
        (
            "headers with 100-continue",
            "the server's 100 Continue interim answer carries header fields, which ureq \
             refuses; no setting changes that (the server may have taken the whole request)",
        ),
        // ureq-proto reads at most 128 header fields (`MAX_RESPONSE_HEADERS`).
        (
            "too many headers",
            "the response head has more than 128 header fields, the most ureq reads; no \
             setting raises that",
        ),
    ];
    let response = |hint: Option<String>| Some((io::ErrorKind::InvalidData, Phase::Response, hint));
    // A TLS server answers a plain-HTTP request with an alert record (rustls does), which is
    // no HTTP version: say what the likely fix is.
    if uri.scheme_str() == Some("http") && text.contains("invalid HTTP version") {
        return response(Some(format!(
            "the answer does not start as HTTP does; if this port serves TLS, use {}",
            redact_swapped(uri)
        )));
    }
    if let Some((_, hint)) = NO_SETTING.iter().find(|(words, _)| text.contains(words)) {
        return response(Some(hint.to_string()));
    }
    // Any other answer that does not parse as HTTP (`HTTP/1.1 abc OK`), and a response head's
    // `Content-Length` that ureq refuses (no number, two that disagree): where, like every
    // failure of the response. (A request's own are refused before it is sent, see
    // `request::own_framing`; ureq's other protocol errors before a response are the
    // request's, which no attempt escapes: they stay `Transport`, never retried.)
    if text.starts_with("http parse fail") || text.contains("content-length") {
        return response(None);
    }
    // A line of the request head that does not fit the connection's write buffer.
    text.contains("output too small").then(|| {
        let hint = "a line of the request head (the request line with its URL, or one header, \
                    such as the Cookie header the session's jar fills) does not fit the \
                    connection's write buffer: an event stream's takes at most 8 KiB unless \
                    SessionBuilder::stream_buffer_size sets it (up to 64 KiB), another \
                    request's connection_buffer_size (most servers refuse lines over 8 KiB; a \
                    jar's cookies the server no longer needs go with CookieJar::retain)";
        (
            io::ErrorKind::InvalidInput,
            Phase::Send,
            Some(hint.to_string()),
        )
    })
}

/// How much of a body has been read, and how long it was announced to be: what the error of a
/// body cut short says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BodyRead {
    /// Bytes read so far (decoded, for a body decoded on the way).
    pub(crate) read: u64,
    /// The body's `Content-Length`, when it is not decoded on the way.
    pub(crate) announced: Option<u64>,
    /// Whether the body is chunked: it ends with its last, empty, chunk.
    pub(crate) chunked: bool,
}

impl BodyRead {
    /// Nothing read yet of a body of these `headers`, announced as `announced` bytes long.
    pub(crate) fn start(headers: &HeaderMap, announced: Option<u64>) -> BodyRead {
        BodyRead {
            read: 0,
            announced,
            chunked: is_chunked(headers),
        }
    }

    /// How much had come when a read timed out: `1,234 of 5,000 bytes read`, `18 bytes read`.
    fn so_far(&self) -> String {
        let read = grouped(self.read);
        match self.announced {
            Some(total) => format!("{read} of {} bytes read", grouped(total)),
            None => format!("{read} bytes read"),
        }
    }

    /// `body cut after 1,234 of 5,000 bytes`, `body cut after 18 bytes, before its last chunk`.
    fn cut(&self) -> String {
        let read = grouped(self.read);
        match (self.announced, self.chunked) {
            (Some(total), _) => format!("body cut after {read} of {} bytes", grouped(total)),
            (None, true) => format!("body cut after {read} bytes, before its last chunk"),
            (None, false) => format!("body cut after {read} bytes"),
        }
    }
}

/// Whether the body of a response with `headers` is chunked: it ends with its last, empty,
/// chunk.
pub(crate) fn is_chunked(headers: &HeaderMap) -> bool {
    headers.get_all(header::TRANSFER_ENCODING).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .split(',')
            .any(|coding| coding.trim().eq_ignore_ascii_case("chunked"))
    })
}

/// `n` with its thousands grouped: `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Whether `io`, a failure of a body's read, is the connection ending under it: closed before
/// the body's end (ureq's "Peer disconnected"), reset or aborted.
pub(crate) fn is_cut(io: &io::Error) -> bool {
    matches!(
        io.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

/// `e`, a failure while reading the body of the response from `url`, with its place, for a
/// timeout the setting that fired (when `timeouts` are known), and for a body cut short how
/// much of it came (when `read` is known).
pub(crate) fn in_body(
    e: Error,
    url: &str,
    timeouts: Option<&TimeoutSettings>,
    read: Option<&BodyRead>,
) -> Error {
    // A cut or a cancel under ureq's own content decoder is a cut or a cancel, not a
    // decompression failure.
    let e = crate::encoding::connection_error(e);
    let Ok(uri) = url.parse::<Uri>() else {
        return e;
    };
    let e = match e {
        Error::Timeout(mut t) => {
            if t.body_read.is_none() {
                t.body_read = read.map(BodyRead::so_far);
            }
            Error::Timeout(place_timeout(t, &uri, true))
        }
        Error::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<Located>()) => Error::Io(io),
        Error::Io(io) => {
            let hint = read.filter(|_| is_cut(&io)).map(BodyRead::cut);
            located(io, Phase::Body, &uri, hint)
        }
        // ureq's word for a chunked body's framing it cannot go on with: the connection's
        // input buffer full of bytes that do not parse (a size line or a line end not found in
        // it: lines that end in LF alone, a size line of thousands of digits), while the
        // connection is open: the body is malformed, not cut.
        Error::Transport(ureq::Error::BodyStalled) if crate::transport::input_was_full() => {
            let io = io::Error::new(
                io::ErrorKind::InvalidData,
                "the body's chunked framing does not parse: no chunk-size line or line end (CR \
                 LF) within the connection's whole input buffer (lines that end in LF alone, or \
                 a size line too long)",
            );
            located(io, Phase::Body, &uri, None)
        }
        // The same word for a connection that closed within a chunked body's framing (a size
        // line, the CRLF after a chunk, a trailer): on a blocking connection only an end of the
        // input leaves it nothing to read, so it is a body cut short, as any other close is.
        Error::Transport(ureq::Error::BodyStalled) => {
            let io = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed within the body's chunked framing",
            );
            located(io, Phase::Body, &uri, read.map(BodyRead::cut))
        }
        // A body that does not decode: the variant stays ureq's `Decompress`, the decoder's
        // error inside it gains the place.
        Error::Transport(ureq::Error::Decompress(coding, io))
            if !io.get_ref().is_some_and(|inner| inner.is::<Undecodable>()) =>
        {
            let kind = io.kind();
            let undecodable = Undecodable {
                target: target(&uri),
                url: crate::redact_url(&uri.to_string()),
                source: io,
            };
            Error::Transport(ureq::Error::Decompress(
                coding,
                io::Error::new(kind, undecodable),
            ))
        }
        // A chunked body's framing that does not parse (a chunk size that is no number, a
        // chunk longer than its size says): where, like every failure of the body.
        Error::Transport(e @ ureq::Error::Protocol(_)) => located(
            io::Error::new(io::ErrorKind::InvalidData, e),
            Phase::Body,
            &uri,
            None,
        ),
        other => other,
    };
    match timeouts {
        Some(timeouts) => timeouts.name(e),
        None => e,
    }
}

/// A body reader whose errors carry their place, as [`in_body`] gives it: for the readers that
/// hand their errors on as `io::Error` (they convert back into the same [`Error`] with
/// `Error::from`).
pub(crate) struct Placed<R> {
    pub(crate) inner: R,
    pub(crate) url: String,
    pub(crate) timeouts: Option<TimeoutSettings>,
    /// What has been read, for the error of a body cut short.
    pub(crate) read: BodyRead,
}

impl<R> Placed<R> {
    /// `inner`, the body of the response `parts` describe (its URL, headers and timeouts),
    /// announced as `announced` bytes long (see [`crate::body::announced_length`]).
    pub(crate) fn new(
        inner: R,
        url: String,
        parts: &ureq::http::response::Parts,
        announced: Option<u64>,
    ) -> Placed<R> {
        Placed {
            inner,
            url,
            timeouts: parts.extensions.get::<TimeoutSettings>().copied(),
            read: BodyRead::start(&parts.headers, announced),
        }
    }
}

impl<R: io::Read> io::Read for Placed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::transport::clear_input_full();
        match self.inner.read(buf) {
            Ok(n) => {
                self.read.read += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(in_body(
                Error::from(e),
                &self.url,
                self.timeouts.as_ref(),
                Some(&self.read),
            )
            .into_io()),
        }
    }
}

/// The [`Error::Timeout`] of a request whose `timeout` ran out (or would, before its next
/// step) outside ureq, in `phase`, for `uri`: waiting for the rate limiter's turn, or between
/// the hops of a redirect. The setting is named later, as every timeout's is.
pub(crate) fn budget_spent(phase: Phase, uri: &Uri) -> Error {
    Error::Timeout(Box::new(spent_in(phase, uri)))
}

/// The timeout of [`budget_spent`], placed.
fn spent_in(phase: Phase, uri: &Uri) -> TimeoutError {
    let mut t = TimeoutError::new(ureq::Timeout::Global);
    t.place_in(phase, target(uri), crate::redact_url(&uri.to_string()));
    t
}

/// An LLM chat to `url` (redacted) that no worker of the session's `workers` started within
/// `limit`, the client's `timeout`, each waiting for a stream's reader (see
/// `llm::stream::QueueWait`).
#[cfg(feature = "llm")]
pub(crate) fn no_worker(limit: std::time::Duration, workers: usize, url: &str) -> Error {
    let mut t = TimeoutError::new(ureq::Timeout::Global);
    t.setting = Some("timeout");
    t.limit = Some(limit);
    t.url = url.to_string();
    t.no_worker = Some(workers);
    Error::Timeout(Box::new(t))
}

/// [`budget_spent`] waiting for the rate limiter's turn for `uri`, which would come only in
/// `wait`: the error says when.
pub(crate) fn turn_past_budget(uri: &Uri, wait: std::time::Duration) -> Error {
    let mut t = spent_in(Phase::Turn, uri);
    // Rounded up: whole seconds from 10 s (`in 42 s`), else milliseconds.
    let ms = u64::try_from(wait.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let ms = match ms >= 10_000 {
        true => ms.div_ceil(1000).saturating_mul(1000),
        false => ms,
    };
    t.turn_in = Some(std::time::Duration::from_millis(ms));
    Error::Timeout(Box::new(t))
}

fn place_timeout(mut t: Box<TimeoutError>, uri: &Uri, in_body: bool) -> Box<TimeoutError> {
    if !t.is_placed() {
        t.place(target(uri), crate::redact_url(&uri.to_string()), in_body);
    }
    t
}

/// A response from `uri` whose body cannot be read as its head frames it, `why`: `Io`,
/// `InvalidData`, placed in the response's phase.
pub(crate) fn unreadable_framing(uri: &Uri, why: String) -> Error {
    located(
        io::Error::new(io::ErrorKind::InvalidData, why),
        Phase::Response,
        uri,
        None,
    )
}

/// A body from `uri` that ended before what it began was whole (`why`): `Io`,
/// `UnexpectedEof`, placed in the body's phase.
#[cfg(feature = "llm")]
pub(crate) fn cut_body(uri: &Uri, why: String) -> Error {
    let io = io::Error::new(io::ErrorKind::UnexpectedEof, why);
    located(io, Phase::Body, uri, None)
}

fn located(io: io::Error, phase: Phase, uri: &Uri, hint: Option<String>) -> Error {
    located_at(io, phase, target(uri), uri, hint, Via::Direct)
}

/// `io`, failed in `phase` at `target` (`host:port`, the server's or the proxy's) for `uri`.
fn located_at(
    io: io::Error,
    phase: Phase,
    target: String,
    uri: &Uri,
    hint: Option<String>,
    via: Via,
) -> Error {
    let kind = io.kind();
    Error::Io(io::Error::new(
        kind,
        Located {
            phase,
            target,
            url: crate::redact_url(&uri.to_string()),
            hint,
            proxy: via,
            source: io,
            retried: None,
        },
    ))
}

/// Why an answer whose status the retry policy retries was not retried again (`after 3
/// attempts, the most RetryPolicy::attempts allows`): put in the response's extensions, and
/// shown by the status error made of it.
#[derive(Clone, Debug)]
pub(crate) struct Retried(pub(crate) Box<str>);

/// What a response carries for the status error made of it (by `error_for_status`, or by the
/// engine for a body the caller does not get): why its status was not retried again
/// ([`Retried`]) and the credentials its request was sent with, hidden in the server's words
/// ([`Secrets`](crate::auth::Secrets)). Both are put in the response's extensions by the
/// engine, and taken out when the response is made for the caller.
#[derive(Clone, Default)]
pub(crate) struct StatusNotes {
    retried: Option<Box<str>>,
    secrets: Option<crate::auth::Secrets>,
}

impl StatusNotes {
    /// Takes the notes out of `extensions` (a response's).
    pub(crate) fn take(extensions: &mut ureq::http::Extensions) -> StatusNotes {
        StatusNotes {
            retried: extensions.remove::<Retried>().map(|r| r.0),
            secrets: crate::auth::Secrets::take(extensions),
        }
    }

    /// `error` (the status error of the response) with the notes applied.
    pub(crate) fn apply(self, error: Error) -> Error {
        crate::auth::hide(self.secrets.as_ref(), error.retried(self.retried))
    }
}

/// Why a request's attempts ended with a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// The policy allows no more attempts.
    Limit,
    /// The next attempt would start (after its wait) past the request's `timeout`, of this
    /// value.
    Budget(Option<std::time::Duration>),
    /// The next attempt's turn at the rate limiter (its pace, or a pause of the origin after a
    /// 429) would come past the request's `timeout`, of this value.
    Turn(Option<std::time::Duration>),
    /// The failure is not one to retry.
    Other,
}

/// How many attempts were made and why no more: `after 3 attempts, the most
/// RetryPolicy::attempts allows`.
pub(crate) fn attempts_note(attempts: u32, why: Stopped) -> String {
    let made = if attempts == 1 {
        "after 1 attempt".to_string()
    } else {
        format!("after {attempts} attempts")
    };
    match why {
        Stopped::Limit => format!("{made}, the most RetryPolicy::attempts allows"),
        Stopped::Budget(Some(limit)) => format!(
            "{made}; a retry would start past the {} timeout",
            crate::timeout::Human(limit)
        ),
        Stopped::Budget(None) => format!("{made}; a retry would start past the timeout"),
        Stopped::Turn(limit) => {
            let limit = limit.map(|l| format!(" {}", crate::timeout::Human(l)));
            format!(
                "{made}; the origin's next turn at the rate limiter (its pace, or a pause after \
                 a 429) comes past the{} timeout",
                limit.unwrap_or_default()
            )
        }
        Stopped::Other => made,
    }
}

/// `e`, the failure of the last of `attempts` attempts of a request, saying how many were made
/// and why no more: `after 3 attempts, the most RetryPolicy::attempts allows`, `after 1 attempt;
/// a retry would start past the 10 s timeout`. The variant and kind stay; a placed timeout or
/// I/O error, or a status error without a note of its own (an `EventSource`'s statuses in a
/// row), has room for the words (a status error of a request's retries gets its note from the
/// response instead, see [`Retried`]).
pub(crate) fn after_attempts(e: Error, attempts: u32, why: Stopped) -> Error {
    with_note(e, attempts_note(attempts, why))
}

/// `e` with `note` after the note it has, if any (`after 3 attempts, ...; texts 0 to 99`),
/// where it has room for one (see [`after_attempts`]; an [`Error::Protocol`] takes it at its
/// end, in parentheses).
pub(crate) fn and_note(e: Error, note: &str) -> Error {
    match e {
        Error::Protocol(text) => Error::Protocol(format!("{text} ({note})")),
        other => set_note(other, |old| match old {
            Some(old) => format!("{old}; {note}"),
            None => note.to_string(),
        }),
    }
}

/// `e` with `note` on its attempts, where it has room for it (see [`after_attempts`]).
pub(crate) fn with_note(e: Error, note: String) -> Error {
    match e {
        // A status whose retry policy gave it a note of its own keeps that one.
        Error::Status(status) if status.retried.is_some() => Error::Status(status),
        other => set_note(other, |_| note),
    }
}

/// `e` with the note `note` makes of the one it has, where it has room for one: a timeout, a
/// status, a placed I/O error.
fn set_note(e: Error, note: impl FnOnce(Option<&str>) -> String) -> Error {
    match e {
        Error::Timeout(mut t) => {
            t.retried = Some(note(t.retried.as_deref()));
            Error::Timeout(t)
        }
        Error::Status(mut status) => {
            status.retried = Some(note(status.retried.as_deref()).into());
            Error::Status(status)
        }
        // Its reason is the whole message: the note goes at its end.
        Error::Transport(ureq::Error::ConnectProxyFailed(reason)) => {
            let reason = format!("{reason} ({})", note(None));
            Error::Transport(ureq::Error::ConnectProxyFailed(reason))
        }
        Error::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<Located>()) => {
            let kind = io.kind();
            match io.into_inner().map(|inner| inner.downcast::<Located>()) {
                Some(Ok(mut located)) => {
                    located.retried = Some(note(located.retried.as_deref()));
                    // Unboxed: boxed, it would be a `Box<Located>` inside, which a second note
                    // would not find.
                    Error::Io(io::Error::new(kind, *located))
                }
                Some(Err(other)) => Error::Io(io::Error::new(kind, other)),
                None => Error::Io(kind.into()),
            }
        }
        other => other,
    }
}

/// The redacted URL with `http://` for `https://` and the other way round: the fix for a port
/// that speaks the other one.
fn redact_swapped(uri: &Uri) -> String {
    let url = crate::redact_url(&uri.to_string());
    if let Some(rest) = url.strip_prefix("https://") {
        format!("http://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("https://{rest}")
    } else {
        url
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_untrusted_ca_fix_names_a_ca_bundle_the_environment_sets_for_other_tools() {
        let none = super::untrusted_ca_in(|_| None);
        assert_eq!(none, super::UNTRUSTED_CA);
        let bundle = super::untrusted_ca_in(|name| {
            (name == "SSL_CERT_FILE").then(|| "/etc/corp-ca.pem".into())
        });
        assert_eq!(
            bundle,
            format!(
                "{} (SSL_CERT_FILE is set to /etc/corp-ca.pem: the bundled roots ignore it; to \
                 trust that file, load it with ureq::tls::parse_pem into RootCerts::Specific)",
                super::UNTRUSTED_CA
            )
        );
    }

    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn a_refused_connection_names_the_phase_target_and_url_and_keeps_its_kind() {
        let e = before_response(
            Error::Io(io::ErrorKind::ConnectionRefused.into()),
            &uri("http://127.0.0.1:9/x?key=secret"),
            None,
        );
        match &e {
            Error::Io(io) => assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.starts_with(
                "io: connect to 127.0.0.1:9 failed for url: http://127.0.0.1:9/x?<redacted>"
            ),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn a_plain_http_answer_to_tls_shows_the_http_url() {
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            "received corrupt message of type InvalidContentType",
        );
        let text =
            before_response(Error::Io(tls), &uri("https://localhost:8080/v1"), None).to_string();
        assert!(text.contains("TLS handshake with localhost:8080"), "{text}");
        assert!(text.contains("plain HTTP"), "{text}");
        assert!(text.contains("use http://localhost:8080/v1"), "{text}");
    }

    #[test]
    fn a_cut_says_how_much_of_the_body_came_in_grouped_digits() {
        assert_eq!(
            [0, 999, 1000, 12_345, 1_234_567].map(grouped),
            ["0", "999", "1,000", "12,345", "1,234,567"]
        );
        let read = BodyRead {
            read: 1234,
            announced: Some(5000),
            chunked: false,
        };
        let cut = in_body(
            Error::Io(io::ErrorKind::UnexpectedEof.into()),
            "http://h/f",
            None,
            Some(&read),
        );
        assert_eq!(
            cut.to_string(),
            "io: read the body from h:80 failed for url: http://h/f: unexpected end of file \
             (body cut after 1,234 of 5,000 bytes)"
        );
        // Another failure of the read is no cut.
        let other = in_body(
            Error::Io(io::ErrorKind::InvalidData.into()),
            "http://h/f",
            None,
            Some(&read),
        );
        assert!(!other.to_string().contains("cut"), "{other}");
    }

    #[test]
    fn the_default_port_follows_the_scheme_and_places_are_added_once() {
        let e = before_response(
            Error::Io(io::ErrorKind::ConnectionReset.into()),
            &uri("https://example.com/a"),
            None,
        );
        let again = before_response(e, &uri("https://other.example/"), None);
        let text = again.to_string();
        assert!(text.contains("example.com:443"), "{text}");
        assert!(!text.contains("other.example"), "{text}");
        let body = in_body(
            Error::Io(io::ErrorKind::UnexpectedEof.into()),
            "http://h/f",
            None,
            None,
        );
        assert!(
            body.to_string().contains("read the body from h:80"),
            "{body}"
        );
        // Other variants pass through.
        let t = before_response(
            Error::timeout(ureq::Timeout::Connect),
            &uri("http://h/"),
            None,
        );
        assert!(matches!(t, Error::Timeout(_)));
        let other = before_response(Error::Cancelled, &uri("http://h/"), None);
        assert!(matches!(other, Error::Cancelled));
    }
}
