//! URLs: building a request's URL from its parts, percent-encoding, and redaction for logs.

use ureq::http;

use crate::Error;

/// `url` with the parts that may carry a credential replaced by `<redacted>`: the query string
/// (API keys travel there) and the user-info (`user:password@`). For logs and `Debug` output;
/// every `Debug` impl of this crate shows URLs this way.
///
/// # Examples
///
/// ```
/// use ureq_futures::redact_url;
///
/// assert_eq!(redact_url("https://h/v1?key=s"), "https://h/v1?<redacted>");
/// assert_eq!(redact_url("https://u:p@h/v1"), "https://<redacted>@h/v1");
/// assert_eq!(redact_url("http://localhost:11434/v1"), "http://localhost:11434/v1");
/// ```
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, _)) => (base, "?<redacted>"),
        None => (url, ""),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let host_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..host_end].rfind('@') {
        Some(at) => format!("<redacted>@{}", &rest[at + 1..]),
        None => rest.to_string(),
    };
    let sep = if scheme.is_empty() { "" } else { "://" };
    format!("{scheme}{sep}{rest}{query}")
}

/// `url` with the `query` pairs appended (percent-encoded, after any query already there),
/// parsed. The URL is never quoted in the errors: its query or user-info may carry a key.
pub(crate) fn build(mut url: String, query: &[(String, String)]) -> Result<http::Uri, Error> {
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 && !url.contains('?') {
            '?'
        } else {
            '&'
        });
        encode_into(&mut url, k);
        url.push('=');
        encode_into(&mut url, v);
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::InvalidRequest(format!("invalid URL: {e}")))?;
    if uri.scheme().is_none() || uri.host().is_none() {
        return Err(Error::InvalidRequest(
            "invalid URL: it needs a scheme and a host, as in http://host/path".into(),
        ));
    }
    Ok(uri)
}

/// Percent-encodes `s` into `out`, keeping only RFC 3986's unreserved characters.
pub(crate) fn encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(s: &str) -> String {
        let mut out = String::new();
        encode_into(&mut out, s);
        out
    }

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(encoded("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encoded("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
