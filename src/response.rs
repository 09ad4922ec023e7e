//! `Response`: a finished response with its body in memory.

use std::fmt;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use ureq::http::{self, HeaderMap};
use ureq::ResponseExt;

use crate::Error;

/// A response whose body has been read on the worker.
///
/// Any status is a response: check [`status`](Response::status), or turn 4xx/5xx into an error
/// with [`error_for_status`](Response::error_for_status) (requests' `raise_for_status`).
///
/// # Examples
///
/// ```no_run
/// # use ureq_futures::FuturesSession;
/// let session = FuturesSession::new();
/// let resp = session.get("https://example.com").send().result()?;
/// if resp.status() == 200 {
///     println!("{} bytes of {:?}", resp.bytes().len(), resp.header("content-type"));
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone)]
pub struct Response {
    status: u16,
    /// The URL and the headers, packed by [`Head::pack`].
    head: Head,
    /// The headers as a map, built from `head` on first use (boxed: it is large, and a response
    /// travels inside its handle).
    headers: OnceLock<Box<HeaderMap>>,
    body: Vec<u8>,
}

/// The final URL and the headers of a response in one allocation: the URL, then one
/// `name:value\n` line per header value, in the order of ureq's `HeaderMap`.
///
/// A response is built on a worker and dropped on the caller's thread. Kept as ureq returns them,
/// its URL and header map are half a dozen allocations (the map's tables, each value, the URL's
/// shared buffer), each freed on a thread other than the one that allocated it; that cost was a
/// tenth of the caller's CPU time in a fan-out of small GETs (see `benches/fanout.rs`). Packed,
/// the worker frees ureq's parts itself and the caller frees one buffer. A header name is a token
/// (no `:`) and a value holds no line break, so the packing is unambiguous.
#[derive(Clone)]
struct Head {
    bytes: Box<[u8]>,
    url_len: usize,
}

impl Head {
    fn pack(uri: &http::Uri, headers: &HeaderMap) -> Head {
        let scheme = uri.scheme_str();
        let authority = uri.authority().map(|a| a.as_str());
        // The same text as `Uri`'s `Display`, without the formatting machinery.
        let url_parts = [
            scheme.unwrap_or(""),
            if scheme.is_some() { "://" } else { "" },
            authority.unwrap_or(""),
            uri.path(),
            if uri.query().is_some() { "?" } else { "" },
            uri.query().unwrap_or(""),
        ];
        let url_len: usize = url_parts.iter().map(|p| p.len()).sum();
        let headers_len: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 2)
            .sum();
        let mut bytes = Vec::with_capacity(url_len + headers_len);
        for part in url_parts {
            bytes.extend_from_slice(part.as_bytes());
        }
        for (name, value) in headers {
            bytes.extend_from_slice(name.as_str().as_bytes());
            bytes.push(b':');
            bytes.extend_from_slice(value.as_bytes());
            bytes.push(b'\n');
        }
        Head {
            bytes: bytes.into_boxed_slice(),
            url_len,
        }
    }

    fn url(&self) -> &str {
        // Written from a `Uri`, which holds ASCII only.
        std::str::from_utf8(&self.bytes[..self.url_len]).unwrap_or_default()
    }

    /// `(name, value)` of each header value, names in lower case.
    fn lines(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.bytes[self.url_len..]
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                Some((&line[..colon], &line[colon + 1..]))
            })
    }

    fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in self.lines() {
            // Both were valid in the map they were packed from.
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                map.append(name, value);
            }
        }
        map
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &crate::redact_url(self.url()))
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Response {
    /// Reads `resp`'s body, up to `limit` bytes. ureq's parts of the response are dropped here,
    /// on the worker (see [`Head`]).
    pub(crate) fn read(mut resp: http::Response<ureq::Body>, limit: u64) -> Result<Self, Error> {
        let body = resp.body_mut().with_config().limit(limit).read_to_vec()?;
        Ok(Response {
            status: resp.status().as_u16(),
            head: Head::pack(resp.get_uri(), resp.headers()),
            headers: OnceLock::new(),
            body,
        })
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// All response headers. The map is built on the first call; [`header`](Response::header)
    /// reads one without building it.
    pub fn headers(&self) -> &HeaderMap {
        self.headers.get_or_init(|| Box::new(self.head.to_map()))
    }

    /// The first value of header `name` (case-insensitive), if present and valid text (visible
    /// ASCII, as [`HeaderValue::to_str`](http::HeaderValue::to_str) requires).
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .head
            .lines()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
        let visible = value.iter().all(|&b| b == b'\t' || (32..127).contains(&b));
        std::str::from_utf8(value).ok().filter(|_| visible)
    }

    /// The URL that answered, after redirects.
    pub fn url(&self) -> &str {
        self.head.url()
    }

    /// The body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken out of the response.
    pub fn into_bytes(self) -> Vec<u8> {
        self.body
    }

    /// The body as text. Fails with [`Error::Io`] (kind `InvalidData`) if it is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|e| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("response body is not UTF-8: {e}"),
            ))
        })
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// `Ok(self)` for statuses below 400; for 4xx and 5xx, [`Error::Status`] with the code, the
    /// headers and the first KiB of the body.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.status >= 400 {
            let headers = match self.headers.into_inner() {
                Some(map) => *map,
                None => self.head.to_map(),
            };
            Err(Error::status_from(self.status, headers, &self.body))
        } else {
            Ok(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_packed_url_is_the_uris_display() {
        for url in [
            "http://127.0.0.1:8080/v1/chat?stream=true&x=%20y",
            "https://example.com",
            "http://user:pw@[::1]:3000/a/b/",
            "http://example.com/?",
            "/relative?q=1",
        ] {
            let uri: http::Uri = url.parse().unwrap();
            let head = Head::pack(&uri, &HeaderMap::new());
            assert_eq!(head.url(), uri.to_string(), "{url}");
        }
    }

    #[test]
    fn packed_headers_come_back_as_the_same_map() {
        let map = headers(&[
            ("content-type", b"text/plain; charset=utf-8"),
            ("set-cookie", b"a=1"),
            ("x-empty", b""),
            ("set-cookie", b"b=2: with colon"),
            ("x-latin1", b"caf\xe9"),
        ]);
        let uri: http::Uri = "http://h/p".parse().unwrap();
        let head = Head::pack(&uri, &map);
        assert_eq!(head.to_map(), map);
        assert_eq!(head.url(), "http://h/p");
    }

    #[test]
    fn header_reads_the_first_value_as_text_like_the_map() {
        let map = headers(&[
            ("set-cookie", b"a=1"),
            ("set-cookie", b"b=2"),
            ("x-latin1", b"caf\xe9"),
            ("x-tab", b"a\tb"),
            ("x-empty", b""),
        ]);
        let resp = Response {
            status: 200,
            head: Head::pack(&"http://h/".parse().unwrap(), &map),
            headers: OnceLock::new(),
            body: Vec::new(),
        };
        for name in [
            "set-cookie",
            "Set-Cookie",
            "x-latin1",
            "x-tab",
            "x-empty",
            "absent",
            "bad name",
            "",
        ] {
            let expected = map.get(name).and_then(|v| v.to_str().ok());
            assert_eq!(resp.header(name), expected, "{name}");
        }
        assert_eq!(resp.headers(), &map);
        let err = Response {
            status: 503,
            ..resp
        }
        .error_for_status()
        .unwrap_err();
        match err {
            Error::Status(e) => assert_eq!(e.headers, map),
            other => panic!("{other:?}"),
        }
    }
}
