//! URLs: the checks a request's URL passes before anything is sent, RFC 3986 reference
//! resolution for redirects, building a request's URL from its parts, percent-encoding, and
//! redaction for logs.
//!
//! # Why the checks are ours
//!
//! `http::Uri` accepts authorities that do not name a reachable endpoint: `http://h:99999/` parses
//! with `port() == None`, and ureq then connects to the scheme's default port, so a request meant
//! for one service reaches another (port 80 here). A port that is not a number (`http://h:-1/`)
//! goes the same way, and a URL without a host (`http://:80/`) fails only at connect time with a
//! message that does not say why. Every such problem is an [`Error::InvalidRequest`] here, before
//! a socket is opened, and its message names the redacted URL and, where there is one, the fix.
//!
//! # What is refused and what is encoded
//!
//! A caller's URL with a space, a control character or one of `"<>\^`{|}` is refused with the
//! character and its position, rather than silently rewritten: the caller wrote it and can encode
//! it (requests encodes it; issue reports here asked for an error). Bytes beyond ASCII in the path
//! or query are percent-encoded as UTF-8, as browsers and requests do, because the text is
//! unambiguous and raw UTF-8 on the request line is not HTTP; so is a `%` that starts no escape
//! (`/100%` asks for `/100%25`, as requests sends a lone `%`). A non-ASCII host name is refused:
//! it needs IDNA (punycode), which this crate does not carry. White space or an invisible
//! character (a no-break space, a zero-width space, a byte order mark, a mark of text
//! direction) around the URL or in its host is refused with its code point and place: it came
//! with the text the URL was copied from. A host in brackets must be an IPv6 address (without a
//! zone ID). A URL longer than 65,534 bytes (the most `http::Uri` holds) is refused; messages
//! show at most 2,000 characters of any URL (see [`redact_url`]).
//!
//! Dot segments in a caller's path are removed (RFC 3986 §5.2.4), as requests (urllib3), curl
//! and browsers remove them: `http://h/a/../b/./c` asks for `/b/c`.
//!
//! A redirect's `Location` is the server's text, not the caller's, so it gets a browser's
//! leniency instead: [`resolve`] percent-encodes the bytes a browser would encode, removes dot
//! segments (RFC 3986 §5.2.4) and reads the answering URL's scheme without `//` (`http:/next`)
//! as a relative reference, so that `Location: ../../static/a b` works as it does in curl,
//! requests and browsers.

use std::borrow::Cow;

use ureq::http::Uri;

use crate::Error;

/// Checks `url` and parses it into the `Uri` that is sent.
///
/// Guarantees: an `Ok` URI has the scheme `http` or `https`, a non-empty host, and either no
/// port or a port in 1..=65535 (the port ureq connects to is the one written). Every problem is
/// an [`Error::InvalidRequest`] whose message names the URL as [`redact_url`] shows it.
pub(crate) fn parse(url: &str) -> Result<Uri, Error> {
    if is_plain(url) {
        return url.parse::<Uri>().map_err(|e| invalid(url, e.to_string()));
    }
    parse_checked(url)
}

/// [`parse`] by the checks one by one, for any URL.
fn parse_checked(url: &str) -> Result<Uri, Error> {
    check(url)?;
    let encoded = encode_for_target(url);
    let target = without_dot_segments(&encoded);
    if target.len() > LONGEST_URL {
        return Err(invalid(
            url,
            format!(
                "it is {} bytes long (encoded), more than the {LONGEST_URL} a URL can be here \
                 (the http crate's limit; servers refuse far less, often 8 KiB): send the \
                 data in the request's body",
                target.len()
            ),
        ));
    }
    target
        .parse::<Uri>()
        .map_err(|e| invalid(url, e.to_string()))
}

/// The longest URL `http::Uri` takes.
const LONGEST_URL: usize = u16::MAX as usize - 1;

/// Whether `url` passes [`check`] as it is and is sent as written (nothing to encode, no dot
/// segment to remove), told in one pass over its bytes: `http://` or `https://`, a host of
/// letters, digits, `.` and `-` with a port of digits in 1..=65535 or none, then bytes that a
/// request target carries, any `%` starting an escape, and no path segment that starts with a
/// `.`. The URLs of nearly every request; the others go through the checks one by one, which
/// also say what is wrong ([`parse_checked`]; `tests::a_plain_url_is_parsed_as_the_checks_parse_it`
/// holds the two to the same result).
fn is_plain(url: &str) -> bool {
    let bytes = url.as_bytes();
    let Some(rest) = (bytes.strip_prefix(b"http://")).or_else(|| bytes.strip_prefix(b"https://"))
    else {
        return false;
    };
    let end = (rest.iter())
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let (host, port) = match authority.iter().position(|&b| b == b':') {
        Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && (host.iter()).all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|port| {
        let digits = (1..=5).contains(&port.len()) && port.iter().all(u8::is_ascii_digit);
        let value = || (port.iter()).fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
        digits && (1..=65535).contains(&value())
    });
    if !host_ok || !port_ok || url.len() > LONGEST_URL {
        return false;
    }
    let mut in_path = true;
    for (at, &b) in target.iter().enumerate() {
        let ok = match b {
            b'%' => (target.get(at + 1..at + 3))
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)),
            b'?' | b'#' => {
                in_path = false;
                true
            }
            // `at` is not 0: the target starts with `/`, `?` or `#`.
            b'.' => !in_path || target[at - 1] != b'/',
            _ => b.is_ascii() && !REFUSED[usize::from(b)],
        };
        if !ok {
            return false;
        }
    }
    true
}

/// `url` (checked) with the dot segments of its path removed (RFC 3986 §5.2.4), as requests,
/// curl and browsers send it: `http://h/a/../b/./c` asks for `/b/c`. A path without a `.` or
/// `..` segment (nearly all) is not copied.
fn without_dot_segments(url: &str) -> Cow<'_, str> {
    let Some((_, rest)) = split_scheme(url) else {
        return Cow::Borrowed(url);
    };
    let start = url.len() - rest.len();
    let Some(path_at) = rest
        .find(['/', '?', '#'])
        .filter(|&i| rest.as_bytes()[i] == b'/')
    else {
        return Cow::Borrowed(url);
    };
    let path = &rest[path_at..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    if !path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Cow::Borrowed(url);
    }
    let (before, after) = (
        &url[..start + path_at],
        &url[start + path_at + path.len()..],
    );
    Cow::Owned(format!("{before}{}{after}", remove_dot_segments(path)))
}

/// The error for `url`, redacted, and why it is refused. Control characters in the URL are
/// shown escaped (`\n`), so that the message stays on one line.
fn invalid(url: &str, why: String) -> Error {
    let mut shown = String::new();
    for c in redact_url(url).chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    if shown.is_empty() {
        return Error::InvalidRequest(format!("invalid URL: {why}"));
    }
    Error::InvalidRequest(format!("invalid URL {shown}: {why}"))
}

/// The checks of [`parse`], before the URL is parsed.
fn check(url: &str) -> Result<(), Error> {
    // White space around the URL, as a URL read from a file or a terminal comes: the fix is
    // to trim it, not to encode it.
    let bytes = url.as_bytes();
    let stray = [(bytes.first(), "start"), (bytes.last(), "end")]
        .into_iter()
        .find_map(|(b, side)| b.filter(|b| b.is_ascii_whitespace()).map(|&b| (b, side)));
    if let Some((b, side)) = stray {
        let what = first_refused(&(b as char).to_string()).map_or_else(String::new, |(_, w)| w);
        return Err(invalid(
            url,
            format!("{what} at its {side}; trim the white space around the URL"),
        ));
    }
    // The same beyond ASCII: a no-break space or a byte order mark that came with a URL copied
    // from a document or read from a file (it would read as "does not start with http://").
    let ends = [
        (url.chars().next(), "start"),
        (url.chars().next_back(), "end"),
    ];
    if let Some((c, side)) = ends
        .into_iter()
        .find_map(|(c, side)| c.filter(|&c| is_invisible(c)).map(|c| (c, side)))
    {
        return Err(invalid(
            url,
            format!(
                "{} at its {side}; trim it (it came with the text the URL was copied from)",
                invisible_name(c)
            ),
        ));
    }
    let Some((scheme, rest)) = split_scheme(url) else {
        return Err(invalid(url, missing_scheme(url)));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(invalid(
            url,
            if is_scheme(scheme) {
                format!("the scheme {scheme:?} is not supported: use http or https")
            } else {
                "it does not start with http:// or https://".to_string()
            },
        ));
    }
    let end = authority_end(rest);
    if user_info_past(rest, end).is_some() {
        // The "port" would be a piece of the password: not quoted.
        return Err(invalid(
            url,
            "a '/' in the user-info ends the host: percent-encode it as %2F".into(),
        ));
    }
    if user_info_cut(rest, end).is_some() {
        // Nor here: the "port" is the start of the password.
        let c = rest.as_bytes()[end];
        return Err(invalid(
            url,
            format!(
                "a '{}' in the user-info ends the host: percent-encode it as %{:02X}",
                c as char, c
            ),
        ));
    }
    check_authority(&rest[..end]).map_err(|why| invalid(url, why))?;
    if let Some((at, why)) = first_refused(url) {
        return Err(invalid(
            url,
            format!("{why} at byte {at}; percent-encode it"),
        ));
    }
    Ok(())
}

/// `url.split_once("://")`, without the cost of setting up a substring search on the path every
/// request takes: the scheme's colon is nearly always the first one.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let bytes = url.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b':', &bytes[from..]) {
        let colon = from + i;
        if bytes[colon + 1..].starts_with(b"//") {
            return Some((&url[..colon], &url[colon + 3..]));
        }
        from = colon + 1;
    }
    None
}

/// Where the authority of `rest` (a URL after its `scheme://`) ends: at its first `/`, `?` or
/// `#`.
fn authority_end(rest: &str) -> usize {
    rest.bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len())
}

/// Whether `url` has user-info (`user:password@`) in its authority, as [`parse`] reads it: a
/// look at its bytes, without parsing it (an `@` in its path or query is none).
pub(crate) fn has_user_info(url: &str) -> bool {
    // Most URLs have no `@` at all: one search, and no scheme to find.
    url.as_bytes().contains(&b'@')
        && split_scheme(url)
            .is_some_and(|(_, rest)| rest.as_bytes()[..authority_end(rest)].contains(&b'@'))
}

/// The explanation for a URL without `://`, with the fix.
fn missing_scheme(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("//") {
        return format!(
            "the scheme is missing: write {}",
            with_scheme(&redact_url(rest))
        );
    }
    // `localhost:11434/v1` reads as the scheme `localhost` to RFC 3986, but a digit after the
    // colon says it is a host and port.
    let scheme_like = url
        .split_once(':')
        .is_some_and(|(s, after)| is_scheme(s) && !after.starts_with(|c: char| c.is_ascii_digit()));
    if scheme_like {
        let scheme = &url[..url.find(':').unwrap_or(0)];
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            return format!("{scheme}: must be followed by //, as in {scheme}://host/path");
        }
        return format!("the scheme {scheme:?} is not supported: use http or https");
    }
    if url.is_empty() {
        return "it is empty".into();
    }
    // `http//host/x`, `https//host/x`: the colon was left out.
    for scheme in ["http", "https"] {
        let rest = (url.get(..scheme.len() + 2))
            .filter(|start| start.eq_ignore_ascii_case(&format!("{scheme}//")))
            .map(|start| &url[start.len()..]);
        if let Some(rest) = rest {
            return format!(
                "the colon after the scheme is missing: write {scheme}://{}",
                redact_url(rest)
            );
        }
    }
    // A path alone: there is no host to put a scheme before.
    if url.starts_with(['/', '?', '#']) {
        return "it is a path without a host: write the whole URL, as in https://host/path (a \
                session has no base URL to resolve it against)"
            .into();
    }
    // Text that does not start with a host name (`not a url`): a scheme before it would not
    // make a URL of it.
    let host = host_of(url);
    let host_like = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]%".contains(&b));
    if !host_like {
        return "it is not a URL: there is no scheme, and it does not start with a host name; \
                write the whole URL, as in https://example.com/path"
            .into();
    }
    format!(
        "the scheme is missing: write {}",
        with_scheme(&redact_url(url))
    )
}

/// The host (and port) `rest`, a URL without its scheme, starts with: up to its path, query or
/// fragment, after any user-info.
fn host_of(rest: &str) -> &str {
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    host.rsplit_once('@').map_or(host, |(_, h)| h)
}

/// `http://` before a loopback host, `https://` (or `http://`) before any other.
pub(crate) fn with_scheme(rest: &str) -> String {
    let host = host_of(rest);
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    let local = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local {
        format!("http://{rest}")
    } else {
        format!("https://{rest} or http://{rest}")
    }
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Where the user-info ends (its `@`) when a raw `/` in it ended the authority early:
/// `user:pa/ss@host/` reads as the host `user` with the port `pa`, and the password's rest as
/// the path. Told by the authority (before `end`) having no `@` and a port that is not a
/// number, with an `@` after it and before any query or fragment.
fn user_info_past(rest: &str, end: usize) -> Option<usize> {
    let authority = &rest[..end];
    // An empty "port" too (`user:/s3cr3t@host/`: a password that starts with a `/`), when the
    // path's first segment holds an `@` after its start: `http://h:/` alone is the default
    // port, and `http://h:/@types/node` or `http://h:/users/bob@x` are paths.
    if authority.ends_with(':') && !authority.contains('@') && !authority.starts_with('[') {
        return inner_at(rest, end, false);
    }
    if !cut_in_user_info(authority) {
        return None;
    }
    let before_query = rest.find(['?', '#']).unwrap_or(rest.len());
    rest[..before_query].rfind('@')
}

/// The first `@` of the path of `rest` (from `end`, before any query or fragment) that is
/// inside a segment, not at its start, in its first segment or `anywhere` in it: where a
/// password with a raw `/` in it may end. An `@` that starts a segment (`/@types/node`,
/// `/@user`) ends none.
fn inner_at(rest: &str, end: usize, anywhere: bool) -> Option<usize> {
    let path = rest[end..].strip_prefix('/')?;
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    let mut start = end + 1;
    for segment in path.split('/') {
        if let Some(at) = segment.find('@').filter(|&at| at > 0) {
            return Some(start + at);
        }
        if !anywhere {
            return None;
        }
        start += segment.len() + 1;
    }
    None
}

/// Whether the path of `rest` may hold the rest of a password, for [`redact_url`]: a raw `/` in
/// it after digits or nothing (`user:123/s3/cr3t@host/`) makes a valid URL of the host `user`
/// with a port and a path, as requests and curl read it, and an `@` inside a segment of that
/// path may end the password. Told by a port of digits (or none after the `:`), no `@` in the
/// authority, and such an `@`.
fn password_in_path(rest: &str, end: usize) -> bool {
    let authority = &rest[..end];
    let Some((_, port)) = authority.rsplit_once(':') else {
        return false;
    };
    !authority.contains('@')
        && !authority.starts_with('[')
        && port.bytes().all(|b| b.is_ascii_digit())
        && inner_at(rest, end, true).is_some()
}

/// Where the user-info ends (its last `@`) when a raw `/`, `?` or `#` in it ended the authority
/// early, wherever the `@` is: `user:pa?ss@host/` reads as the host `user` with the port `pa`,
/// and the rest as the query. Told by the authority (before `end`) having no `@` and a port that
/// is not a number, with an `@` after it. (An `@` in the query of a URL with such a port is taken
/// for the user-info's end too: that URL is invalid anyway, and nothing before the `@` shows.)
fn user_info_cut(rest: &str, end: usize) -> Option<usize> {
    if !cut_in_user_info(&rest[..end]) {
        return None;
    }
    rest[end..].rfind('@').map(|at| end + at)
}

/// Whether `authority` looks cut short inside a password: no `@`, no IP literal, and a "port"
/// that is not a number.
fn cut_in_user_info(authority: &str) -> bool {
    !authority.contains('@')
        && !authority.starts_with('[')
        && authority
            .split_once(':')
            .is_some_and(|(_, port)| !port.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks `[userinfo@]host[:port]`: a host is there, a port is digits in 1..=65535, the host is
/// ASCII.
fn check_authority(authority: &str) -> Result<(), String> {
    // Byte scans rather than `rsplit_once`: an authority is short, and a reverse character
    // search costs more to set up than the scan itself.
    let host_port = match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let (host, port) = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(end) => {
                let after = &host_port[end + 1..];
                let port = match after.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if after.is_empty() => None,
                    None => return Err("unexpected text after the IPv6 address".into()),
                };
                (&host_port[..=end], port)
            }
            None => return Err("the IPv6 address has no closing ]".into()),
        }
    } else {
        match host_port.bytes().rposition(|b| b == b':') {
            Some(colon) => (&host_port[..colon], Some(&host_port[colon + 1..])),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if let Some((at, c)) = host.char_indices().find(|&(_, c)| is_invisible(c)) {
        return Err(format!(
            "the host name holds {} at byte {at}: remove it (it came with the text the URL \
             was copied from)",
            invisible_name(c)
        ));
    }
    if !host.is_ascii() {
        return Err("the host name is not ASCII: write it in its punycode form (xn--...)".into());
    }
    if let Some(address) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(if address.contains('%') {
                format!(
                    "the IPv6 address {host} has a zone ID (after its %), which cannot be sent \
                     (its name is the client's, not the server's): connect by a global address"
                )
            } else {
                format!("{host} is no IPv6 address (only those go in brackets)")
            });
        }
    }
    match port {
        // `http://h:/` is the default port, as RFC 3986 §3.2.3 allows.
        None | Some("") => Ok(()),
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("the port {p:?} is not a number"))
        }
        Some(p) => match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(()),
            _ => Err(format!("port {p} is out of range (1 to 65535)")),
        },
    }
}

/// Whether `c` is white space or a character that shows as nothing (a no-break space, a
/// zero-width space, a byte order mark, a soft hyphen, the direction marks of right-to-left
/// text): what a URL copied from a document or a chat brings along unseen.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{ad}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// What an [`is_invisible`] character is, by its code point and, for the usual ones, its name.
fn invisible_name(c: char) -> String {
    let name = match c {
        '\u{a0}' => " (a no-break space)",
        '\u{200b}' => " (a zero-width space)",
        '\u{feff}' => " (a byte order mark)",
        '\u{ad}' => " (a soft hyphen)",
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => " (a mark of text direction)",
        c if c.is_whitespace() => " (a space)",
        _ => " (an invisible character)",
    };
    format!("U+{:04X}{name}", u32::from(c))
}

/// The first byte of a caller's URL that is never valid in a request target, and what it is.
fn first_refused(url: &str) -> Option<(usize, String)> {
    let at = url.bytes().position(|b| REFUSED[usize::from(b)])?;
    let b = url.as_bytes()[at];
    let what = match b {
        b' ' => "a space".to_string(),
        0..=0x1f | 0x7f => format!("a control character (0x{b:02X})"),
        _ => format!("the character '{}'", b as char),
    };
    Some((at, what))
}

/// The bytes of a caller's URL that are never valid in a request target ([`first_refused`]), as a
/// table: one load a byte on the path every request takes.
const REFUSED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(
            b as u8,
            0..=0x20 | 0x7f | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        );
        b += 1;
    }
    table
};

/// `s` with every byte beyond ASCII percent-encoded, and every `%` that starts no escape (two
/// hex digits) as `%25`, as requests sends a lone one (`/100%` asks for `/100%25`; a lone `%` is no
/// request target, and strict servers and proxies answer it 400). A redirect's `Location` gets
/// the same (see [`encode_location`]).
fn encode_for_target(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let escape_at = |at: usize| {
        bytes
            .get(at + 1..at + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    };
    let stray = |at: usize| bytes[at] == b'%' && !escape_at(at);
    if s.is_ascii() && !memchr::memchr_iter(b'%', bytes).any(stray) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for (at, &b) in bytes.iter().enumerate() {
        push_byte(&mut out, b, |b| b.is_ascii() && !stray(at));
    }
    Cow::Owned(out)
}

fn push_byte(out: &mut String, b: u8, keep: impl Fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if keep(b) {
        out.push(b as char);
    } else {
        out.push('%');
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

/// `location` with what a browser percent-encodes in a URL encoded: controls, space, non-ASCII,
/// and the ASCII characters a request target cannot carry (`"<>\^`{|}`). A `%` that starts an
/// escape (two hex digits) is kept, so an already encoded location is not encoded twice; any
/// other `%` is encoded as `%25`, as requests does (RFC 3986 §2.1: a request target carries `%`
/// only in an escape). A fragment is dropped (it is never sent).
fn encode_location(location: &str) -> Cow<'_, str> {
    encode_reference(location.split('#').next().unwrap_or(""))
}

/// A URL's fragment (after its `#`) encoded as [`encode_location`] encodes a location.
pub(crate) fn encode_fragment(fragment: &str) -> Cow<'_, str> {
    encode_reference(fragment)
}

/// [`encode_location`]'s encoding, of a location without its fragment or of a fragment.
fn encode_reference(location: &str) -> Cow<'_, str> {
    let bytes = location.as_bytes();
    let keep = |at: usize| {
        let b = bytes[at];
        b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
            && (b != b'%'
                || bytes
                    .get(at + 1..at + 3)
                    .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)))
    };
    if (0..bytes.len()).all(keep) {
        return Cow::Borrowed(location);
    }
    let mut out = String::with_capacity(location.len() + 16);
    for (at, &b) in bytes.iter().enumerate() {
        push_byte(&mut out, b, |_| keep(at));
    }
    Cow::Owned(out)
}

/// A URI reference split as RFC 3986 Appendix B splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> Parts<'a> {
    /// `^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?`
    fn split(s: &'a str) -> Parts<'a> {
        let (s, fragment) = match s.split_once('#') {
            Some((a, f)) => (a, Some(f)),
            None => (s, None),
        };
        let (s, query) = match s.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (s, None),
        };
        let (scheme, s) = match s.find([':', '/']) {
            Some(i) if s.as_bytes()[i] == b':' && is_scheme(&s[..i]) => {
                (Some(&s[..i]), &s[i + 1..])
            }
            _ => (None, s),
        };
        let (authority, path) = match s.strip_prefix("//") {
            Some(rest) => {
                let end = rest.find('/').unwrap_or(rest.len());
                (Some(&rest[..end]), &rest[end..])
            }
            None => (None, s),
        };
        Parts {
            scheme,
            authority,
            path,
            query,
            fragment,
        }
    }
}

/// RFC 3986 §5.2.2: the target of `reference` against `base`, as a string (§5.3), without the
/// strict parser's exception for `http:g` (it is `http:g`, as the RFC's strict form says).
pub(crate) fn resolve_str(base: &str, reference: &str) -> String {
    let b = Parts::split(base);
    let r = Parts::split(reference);
    let (scheme, authority, path, query);
    if let Some(s) = r.scheme {
        scheme = s;
        authority = r.authority;
        path = remove_dot_segments(r.path);
        query = r.query;
    } else {
        scheme = b.scheme.unwrap_or("");
        if r.authority.is_some() {
            authority = r.authority;
            path = remove_dot_segments(r.path);
            query = r.query;
        } else {
            authority = b.authority;
            if r.path.is_empty() {
                path = b.path.to_string();
                query = r.query.or(b.query);
            } else {
                path = if r.path.starts_with('/') {
                    remove_dot_segments(r.path)
                } else {
                    remove_dot_segments(&merge(&b, r.path))
                };
                query = r.query;
            }
        }
    }
    // §5.3 Component Recomposition.
    let mut out = String::with_capacity(base.len() + reference.len());
    out.push_str(scheme);
    out.push(':');
    if let Some(a) = authority {
        out.push_str("//");
        out.push_str(a);
    }
    out.push_str(&path);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = r.fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// §5.2.3 Merge Paths.
fn merge(base: &Parts<'_>, reference: &str) -> String {
    if base.authority.is_some() && base.path.is_empty() {
        return format!("/{reference}");
    }
    match base.path.rfind('/') {
        Some(i) => format!("{}{reference}", &base.path[..=i]),
        None => reference.to_string(),
    }
}

/// §5.2.4 Remove Dot Segments.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest; // A
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest; // A
        } else if input.starts_with("/./") {
            input = &input[2..]; // B: "/./" becomes "/"
        } else if input == "/." {
            input = "/"; // B
        } else if input.starts_with("/../") || input == "/.." {
            // C: replace with "/" and drop the last output segment.
            input = if input == "/.." { "/" } else { &input[3..] };
            let cut = output.rfind('/').unwrap_or(0);
            output.truncate(cut);
        } else if input == "." || input == ".." {
            input = ""; // D
        } else {
            // E: move the first segment (with its leading "/", if any) to the output.
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

/// Resolves a redirect's `Location` against the URL that answered it and checks the result as
/// [`parse`] checks a caller's URL (http or https, a host, a valid port). The location is
/// percent-encoded as a browser would first.
pub(crate) fn resolve(base: &Uri, location: &str) -> Result<Uri, String> {
    let location = location.trim();
    // A host beyond ASCII would be percent-encoded below, and then fail as an invalid
    // authority (or, resolved, as a name no server has): it needs IDNA, which a browser applies.
    if let Some(authority) = Parts::split(location).authority {
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if !host.is_ascii() {
            return Err(
                "the host name is not ASCII, and this crate does not convert it to its \
                        punycode form (xn--...)"
                    .into(),
            );
        }
    }
    let location = encode_location(location);
    // The scheme of the URL that answered without `//` (`http:/next`, `http:next`) makes a
    // relative reference, as browsers and requests read it (RFC 3986 §5.2.2, non-strict).
    let r = Parts::split(&location);
    let reference = match r.scheme {
        Some(s)
            if r.authority.is_none()
                && base.scheme_str().is_some_and(|b| b.eq_ignore_ascii_case(s)) =>
        {
            let path = &location[s.len() + 1..];
            // A path whose first segment has a colon (`http:localhost:8080/x`) would read as
            // a scheme of its own: `./` keeps it a path, as browsers resolve it.
            let first = path.split(['/', '?', '#']).next().unwrap_or_default();
            match first.contains(':') {
                true => format!("./{path}"),
                false => path.to_string(),
            }
        }
        _ => location.to_string(),
    };
    let target = resolve_str(&base.to_string(), &reference);
    let web =
        |scheme: &str| scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let Some((_, rest)) = target.split_once("://").filter(|(scheme, _)| web(scheme)) else {
        return Err(match Parts::split(&target).scheme {
            Some(scheme) if web(scheme) => {
                "the location names no host (`//host` after its scheme)".into()
            }
            // The scheme alone: the rest may carry a key of the server's choosing.
            Some(scheme)
                if scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
            {
                format!("the location is not an http or https URL (its scheme is {scheme})")
            }
            _ => "the location is not an http or https URL".into(),
        });
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    check_authority(authority)?;
    target.parse::<Uri>().map_err(|e| e.to_string())
}

/// `url` with the parts that may carry a credential replaced by `<redacted>`: the query string
/// (API keys travel there), the fragment (OAuth tokens do) and the user-info
/// (`user:password@`). For logs and `Debug` output; every `Debug` impl and error message of
/// this crate shows URLs this way. A URL longer than 2,000 characters is cut there, followed by
/// `... (N bytes)`.
///
/// # Examples
///
/// ```
/// use ureq_futures::redact_url;
///
/// assert_eq!(redact_url("https://h/v1?key=s"), "https://h/v1?<redacted>");
/// assert_eq!(redact_url("https://u:p@h/v1"), "https://<redacted>@h/v1");
/// assert_eq!(redact_url("https://h/cb#access_token=s"), "https://h/cb#<redacted>");
/// assert_eq!(redact_url("//u:p@h/v1"), "//<redacted>@h/v1");
/// assert_eq!(redact_url("http://localhost:11434/v1"), "http://localhost:11434/v1");
/// // A raw `/` in a password after digits (`user:123/...@`) reads as a port and a path to
/// // RFC 3986; a path with an `@` inside a segment may hold a password's rest: all hidden.
/// assert_eq!(redact_url("https://u:123/s3cr3t@h/v1"), "https://<redacted>");
/// assert_eq!(redact_url("https://h:443/@types/node"), "https://h:443/@types/node");
/// // Mistyped before the authority: all before the `@` that may be user-info is hidden.
/// assert_eq!(redact_url(" https:/u:p@h/v1?k=s"), " https:/<redacted>@h/v1?<redacted>");
/// ```
pub fn redact_url(url: &str) -> String {
    let (prefix, rest) = url.split_at(authority_start(url));
    // The authority ends at the first `/`, `?` or `#`; its user-info at its last `@`. An `@`
    // before the path but after a `?` or `#` may end a password with a raw `?` or `#` in it:
    // then all of it is hidden, since where the host starts is anyone's guess.
    let path_at = rest.find('/').unwrap_or(rest.len());
    let authority_end = rest[..path_at].find(['?', '#']).unwrap_or(path_at);
    let (authority, rest) = match rest[..path_at].rfind('@') {
        Some(at) if at < authority_end => (
            format!("<redacted>@{}", &rest[at + 1..authority_end]),
            &rest[authority_end..],
        ),
        // The `/` may be in the query or the fragment (`h?e=a@b&next=/x&key=s`): all is
        // hidden.
        Some(_) => ("<redacted>".to_string(), ""),
        None => match user_info_past(rest, authority_end)
            .or_else(|| user_info_cut(rest, authority_end))
        {
            // A raw `/`, `?` or `#` in the password: the user-info runs to the `@` after it.
            Some(at) => {
                let after = &rest[at + 1..];
                let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
                (
                    format!("<redacted>@{}", &after[..host_end]),
                    &after[host_end..],
                )
            }
            // A path that may hold a password's rest: where the password would end, the host
            // would start, which is anyone's guess. All is hidden rather than a host shown that
            // the request never went to.
            None if password_in_path(rest, authority_end) => ("<redacted>".to_string(), ""),
            None => (rest[..authority_end].to_string(), &rest[authority_end..]),
        },
    };
    // The query, or the fragment (an OAuth token travels there), and all after it.
    let (path, hidden) = match rest.find(['?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], "?<redacted>"),
        Some(i) => (&rest[..i], "#<redacted>"),
        None => (rest, ""),
    };
    let shown = format!("{prefix}{authority}{path}{hidden}");
    // A URL of tens of KB (the one a 414 answers) in every message of its request.
    match shown.char_indices().nth(SHOWN_URL) {
        Some((cut, _)) => format!("{}... ({} bytes)", &shown[..cut], shown.len()),
        None => shown,
    }
}

/// The characters of a URL [`redact_url`] shows: a longer one is cut there, with its length.
const SHOWN_URL: usize = 2000;

/// Where the authority of `url` starts, for [`redact_url`]: after `scheme://` or a leading
/// `//`, and after the first `//` (or `:/`) of a URL mistyped before its authority (` https://`
/// as read from a file, `\u{feff}https://`, `ht tps://`, `https:/`, `https:///`, `1http://`),
/// which the errors about it quote: whatever comes before it is white space, a BOM or a
/// scheme's characters (a `:` last at most), and it comes before the first `@` (a `//` in a
/// password or a path is none). Without one, after the white space that begins the URL.
fn authority_start(url: &str) -> usize {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let head = &url[..url[..end].find('@').unwrap_or(end)];
    let scheme_like = |prefix: &str| {
        let prefix = prefix.strip_suffix(':').unwrap_or(prefix);
        prefix.chars().all(|c| {
            c.is_whitespace() || c == '\u{feff}' || c.is_ascii_alphanumeric() || "+-.".contains(c)
        })
    };
    let sep = head
        .find("//")
        .filter(|&i| scheme_like(&head[..i]))
        .or_else(|| {
            head.find(":/")
                .filter(|&i| scheme_like(&head[..i]))
                .map(|i| i + 1)
        });
    match sep {
        Some(i) => i + url[i..].bytes().take_while(|&b| b == b'/').count(),
        None => {
            url.len()
                - url
                    .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                    .len()
        }
    }
}

/// `url` with the `query` pairs appended (percent-encoded, after any query already there, with
/// one `&` between, and before any fragment), parsed. The URL is never quoted in the errors: its
/// query or user-info may carry a key.
pub(crate) fn build(url: String, query: &[(String, String)]) -> Result<Uri, Error> {
    if query.is_empty() {
        return parse(&url);
    }
    // A `?` in the fragment starts no query, and pairs after a `#` would never be sent.
    let (base, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
    let mut out = String::with_capacity(url.len() + 32 * query.len());
    out.push_str(base);
    if !base.contains('?') {
        out.push('?');
    } else if !base.ends_with(['?', '&']) {
        out.push('&');
    }
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, k);
        out.push('=');
        encode_into(&mut out, v);
    }
    out.push_str(fragment);
    parse(&out)
}

/// `path` (which may end in a query of its own) appended to the path of `base`, before the
/// query of `base`: `http://h/v1?key=x` and `/chat/completions` give
/// `http://h/v1/chat/completions?key=x`. A trailing `/` of the base's path is dropped, the two
/// queries are joined with `&` (the path's first), and a fragment, never sent, is dropped.
///
/// An API version that ends the base and starts the path is written once: a base URL copied
/// with its version (`https://api.anthropic.com/v1`, as curl examples write it) and
/// `/v1/messages` give `https://api.anthropic.com/v1/messages`, where the base was meant
/// without it; `/v1/v1/messages` would only be a 404. A version is `v` and digits, with
/// `alpha` or `beta` and digits after them (`v1`, `v2`, `v1beta`).
///
/// A base that ends in the whole path already (`http://h/v1/chat/completions` and
/// `/chat/completions`: an endpoint's URL pasted where its API's root was meant) is not given
/// it again.
#[cfg(feature = "llm")]
pub(crate) fn join_path(base: &str, path: &str) -> String {
    let base = base.split('#').next().unwrap_or_default();
    let (base_path, base_query) = base.split_once('?').unwrap_or((base, ""));
    let (path, path_query) = path.split_once('?').unwrap_or((path, ""));
    let base_path = base_path.trim_end_matches('/');
    // The base's path alone (`/v1/chat/completions`), never its host: `http://embeddings`
    // has none.
    let after_scheme = (base_path.split_once("://")).map_or(base_path, |(_, rest)| rest);
    let path_of_base = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
    let whole = path.trim_end_matches('/');
    let path = match whole.starts_with('/') && path_of_base.ends_with(whole) {
        true => "",
        false => path,
    };
    // The base's last path segment (not its host: `http://v1` has no path).
    let base_rest = base_path
        .split_once("://")
        .map_or(base_path, |(_, rest)| rest);
    let last = base_rest
        .split_once('/')
        .and_then(|(_, p)| p.rsplit('/').next());
    let path = match last {
        Some(last) if is_version(last) => path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(last))
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .unwrap_or(path),
        _ => path,
    };
    let mut out = format!("{base_path}{path}");
    let mut sep = '?';
    for query in [path_query, base_query] {
        if !query.is_empty() {
            out.push(sep);
            out.push_str(query);
            sep = '&';
        }
    }
    out
}

/// [`join_path`] for an API whose paths name their version (`/v2/chat`, `/v1/chat`): a version
/// that ends the base stands for the one the path names, as Cohere's SDK drops `/v1` from
/// a base URL. `https://api.cohere.com/v1` (the v1 API's base, as older code and docs write
/// it) and `/v2/chat` give `https://api.cohere.com/v2/chat`, not a 404 at `/v1/v2/chat`.
#[cfg(feature = "llm")]
pub(crate) fn join_versioned(base: &str, path: &str) -> String {
    let base = base.split('#').next().unwrap_or_default();
    let (base_path, base_query) = base.split_once('?').unwrap_or((base, ""));
    let trimmed = base_path.trim_end_matches('/');
    let has_path = trimmed
        .split_once("://")
        .is_none_or(|(_, rest)| rest.contains('/'));
    let path_version = path.trim_start_matches('/').split('/').next();
    let stripped = match trimmed.rsplit_once('/') {
        Some((head, last))
            if has_path && is_version(last) && path_version.is_some_and(is_version) =>
        {
            head
        }
        _ => base_path,
    };
    if base_query.is_empty() {
        join_path(stripped, path)
    } else {
        join_path(&format!("{stripped}?{base_query}"), path)
    }
}

/// Whether a path segment names an API version: `v1`, `v2`, `v1beta`, `v1alpha2`.
#[cfg(feature = "llm")]
fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let tail = rest[digits..]
        .strip_prefix("alpha")
        .or_else(|| rest[digits..].strip_prefix("beta"))
        .unwrap_or(&rest[digits..]);
    digits > 0 && tail.bytes().all(|b| b.is_ascii_digit())
}

/// `s` with its `%XX` escapes decoded (a `%` not followed by two hex digits is kept as it is).
pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The `Authorization: Basic` value of the user-info in `uri` (`user:password@`, or `user@`
/// with an empty password, as curl and ureq send it), percent-decoded as RFC 3986 writes it
/// (`p%40ss` is `p@ss`; escapes that are no UTF-8 are sent as the bytes they are, see
/// [`basic_bytes`](crate::auth::basic_bytes)): ureq sends the user-info as it is written, which
/// is right only when it has no escape.
/// Credentials with a control character (`%0A`) are the refusal's text instead.
pub(crate) fn user_info_auth(uri: &Uri) -> Option<Result<String, String>> {
    let info = user_info(uri)?;
    let (user, password) = info.split_once(':').unwrap_or((info, ""));
    let value = crate::auth::basic_bytes(&percent_decode(user), &percent_decode(password));
    Some(value.map_err(|why| format!("{why} (in the URL {})", redact_url(&uri.to_string()))))
}

/// The user-info of `uri` (`user:password`), as written.
pub(crate) fn user_info(uri: &Uri) -> Option<&str> {
    // A byte search: a character search costs more to set up than an authority takes to scan.
    let authority = uri.authority()?.as_str();
    let at = authority.bytes().rposition(|b| b == b'@')?;
    Some(&authority[..at])
}

/// Percent-encodes `s` into `out`, keeping only RFC 3986's unreserved characters.
pub(crate) fn encode_into(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        push_byte(out, b, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
        });
    }
}

/// [`encode_into`] for a form body (`application/x-www-form-urlencoded`): a space is `+`, as
/// HTML forms, the WHATWG URL standard and requests (Python's `urlencode`) write it.
pub(crate) fn form_encode_into(out: &mut String, s: &str) {
    for part in s.split(' ').enumerate() {
        if part.0 > 0 {
            out.push('+');
        }
        encode_into(out, part.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(url: &str) -> String {
        match parse(url) {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn user_info_escapes_that_are_no_utf8_are_sent_as_their_bytes() {
        let auth = |url: &str| user_info_auth(&url.parse().unwrap()).unwrap();
        // `u:p\xE4ss` (Latin-1's ä), as curl sends it; it went as `u:p\u{FFFD}ss`.
        assert_eq!(auth("http://u:p%E4ss@h/").as_deref(), Ok("Basic dTpw5HNz"));
        assert_eq!(
            auth("http://u:p%C3%A4ss@h/").as_deref(),
            Ok("Basic dTpww6Rzcw==")
        );
        // Control characters are refused as bytes too, a colon in the name as before.
        let refused = auth("http://u:%E4%0A@h/").unwrap_err();
        assert!(
            refused.contains("password holds a control character (U+000A) at its end"),
            "{refused}"
        );
        assert!(auth("http://u%E4%3Ax:p@h/")
            .unwrap_err()
            .contains("colon at byte 2"));
    }

    #[test]
    fn percent_decode_decodes_escapes_and_keeps_a_stray_percent() {
        assert_eq!(percent_decode("p%40ss%3a%2F"), b"p@ss:/");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "\u{e9}".as_bytes());
    }

    #[test]
    #[cfg(feature = "llm")]
    fn a_version_that_ends_the_base_and_starts_the_path_is_written_once() {
        assert_eq!(
            join_path("https://api.anthropic.com/v1", "/v1/messages"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            join_path(
                "https://g.example/v1beta/",
                "/v1beta/models/m:streamGenerateContent?alt=sse"
            ),
            "https://g.example/v1beta/models/m:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            join_path("http://h/api/v2?k=1", "/v2/chat"),
            "http://h/api/v2/chat?k=1"
        );
        // Other versions, and segments that only look alike, are kept.
        assert_eq!(join_path("http://h/v1", "/v2/chat"), "http://h/v1/v2/chat");
        assert_eq!(
            join_path("http://h/v1", "/v1beta/x"),
            "http://h/v1/v1beta/x"
        );
        assert_eq!(join_path("http://h/v", "/v/x"), "http://h/v/v/x");
        // A base that is the endpoint already.
        for base in [
            "http://h/v1/chat/completions",
            "http://h/v1/chat/completions/",
        ] {
            assert_eq!(
                join_path(base, "/chat/completions"),
                "http://h/v1/chat/completions"
            );
        }
        assert_eq!(
            join_path("http://h/v1/messages?k=1", "/v1/messages"),
            "http://h/v1/messages?k=1"
        );
        assert_eq!(
            join_path(
                "http://h/v1beta/models/m:streamGenerateContent",
                "/v1beta/models/m:streamGenerateContent?alt=sse"
            ),
            "http://h/v1beta/models/m:streamGenerateContent?alt=sse"
        );
        // Never the host: a server named `embeddings` has no path.
        for (base, url) in [
            ("http://embeddings", "http://embeddings/embeddings"),
            ("http://embeddings/", "http://embeddings/embeddings"),
            ("http://embeddings:80", "http://embeddings:80/embeddings"),
        ] {
            assert_eq!(join_path(base, "/embeddings"), url);
        }
        // Only a whole segment: `/xchat/completions` is not `/chat/completions`.
        assert_eq!(
            join_path("http://h/xchat/completions", "/chat/completions"),
            "http://h/xchat/completions/chat/completions"
        );
        assert_eq!(join_path("http://h/vx1", "/vx1/x"), "http://h/vx1/vx1/x");
        assert_eq!(
            join_path("http://h/chat", "/chat/x"),
            "http://h/chat/chat/x"
        );
        assert_eq!(join_path("http://h/v1", "/v1"), "http://h/v1");
        assert_eq!(join_path("http://v1", "/v1/x"), "http://v1/v1/x");
        assert!(is_version("v1alpha2") && is_version("v10") && !is_version("v1gamma"));
    }

    #[test]
    #[cfg(feature = "llm")]
    fn join_versioned_lets_the_path_name_the_version() {
        for (base, path, url) in [
            (
                "https://api.cohere.com/v1",
                "/v2/chat",
                "https://api.cohere.com/v2/chat",
            ),
            (
                "https://api.cohere.com/v1/",
                "/v2/embed",
                "https://api.cohere.com/v2/embed",
            ),
            (
                "https://api.cohere.com/v2",
                "/v1/chat",
                "https://api.cohere.com/v1/chat",
            ),
            (
                "https://api.cohere.com/v2",
                "/v2/chat",
                "https://api.cohere.com/v2/chat",
            ),
            (
                "https://api.cohere.com",
                "/v2/chat",
                "https://api.cohere.com/v2/chat",
            ),
            (
                "http://gw/cohere/v1?k=x",
                "/v2/chat",
                "http://gw/cohere/v2/chat?k=x",
            ),
            ("http://gw/cohere", "/v2/chat", "http://gw/cohere/v2/chat"),
            ("http://v1", "/v2/chat", "http://v1/v2/chat"),
            ("http://h/v1", "/chat", "http://h/v1/chat"),
        ] {
            assert_eq!(join_versioned(base, path), url, "{base} + {path}");
        }
    }

    #[test]
    #[cfg(feature = "llm")]
    fn join_path_puts_the_path_before_the_query() {
        assert_eq!(join_path("http://h/v1", "/e"), "http://h/v1/e");
        assert_eq!(join_path("http://h/v1/", "/e"), "http://h/v1/e");
        assert_eq!(join_path("http://h/v1?key=x", "/e"), "http://h/v1/e?key=x");
        assert_eq!(
            join_path("http://h/v1/?key=x#f", "/e"),
            "http://h/v1/e?key=x"
        );
        assert_eq!(
            join_path("http://h/v1?", "/e?alt=sse"),
            "http://h/v1/e?alt=sse"
        );
        assert_eq!(
            join_path("http://u:p@h?a=1", "/e?b=2"),
            "http://u:p@h/e?b=2&a=1"
        );
    }

    /// `is_plain` says yes only to URLs that the checks pass and that are sent as written, so
    /// that `parse` gives them what the checks' path gives: tried on URLs put together from
    /// the pieces that each check looks at.
    #[test]
    fn a_plain_url_is_parsed_as_the_checks_parse_it() {
        #[rustfmt::skip]
        const PIECES: &[&str] = &[
            // The first 24: pieces of plain URLs, and the near misses among them.
            "h", "api.example.com", "127.0.0.1", "x-y", ":80", ":0", ":65535", ":65536", ":080",
            ":", "/", "/a", "/.", "/..", "/./", "/.well-known", "a.b", "?q=1", "&", "#f", "%",
            "%41", "%4", "@",
            "http://", "https://", "HTTP://", "ftp://", "_", ":123456", "u:p@", "[::1]", "/../",
            "?", "#", "%zz", "%%", " ", "\t", "\n", "\u{7f}", "\"", "<", "^", "`", "{", "|",
            "\\", "é", "\u{a0}", "\u{200b}", "\u{feff}", "~", "+", "=", "!", "$", "'", "(",
            "*", ",", ";", "]", "[",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| (crate::retry::xorshift(&mut state) % n as u64) as usize;
        let mut plain = 0;
        for _ in 0..200_000 {
            let mut url = String::from(["http://", "https://", ""][next(3)]);
            for _ in 0..1 + next(8) {
                // Most pieces from those that a plain URL has, so that most URLs are nearly so.
                let pieces = if next(4) == 0 { PIECES } else { &PIECES[..24] };
                url.push_str(pieces[next(pieces.len())]);
            }
            if !is_plain(&url) {
                continue;
            }
            plain += 1;
            assert_eq!(
                format!("{:?}", parse(&url)),
                format!("{:?}", parse_checked(&url)),
                "{url:?}"
            );
            assert!(check(&url).is_ok(), "{url:?}: {:?}", check(&url));
            assert!(
                matches!(encode_for_target(&url), Cow::Borrowed(_)),
                "{url:?}"
            );
            assert!(
                matches!(without_dot_segments(&url), Cow::Borrowed(_)),
                "{url:?}"
            );
        }
        // The usual URLs take the one pass (and the loop above tried many).
        assert!(plain > 5_000, "{plain}");
        for url in [
            "https://api.openai.com/v1/chat/completions",
            "http://127.0.0.1:8080/a/b.json?q=%20x&r=1#frag",
            "http://h",
            "https://h:443?x=../y",
        ] {
            assert!(is_plain(url), "{url}");
            assert_eq!(parse(url).unwrap(), parse_checked(url).unwrap(), "{url}");
        }
        for url in [
            "HTTP://h/",
            "http://u:p@h/",
            "http://[::1]/",
            "http://h:/",
            "http://h/./a",
            "http://h/a/..",
            "http://h/%zz",
            "http://h/é",
            "http://h/a b",
            "http://h_x/",
        ] {
            assert!(!is_plain(url), "{url}");
        }
    }

    #[test]
    fn ports_out_of_range_or_not_numbers_are_refused() {
        for (url, expected) in [
            (
                "http://127.0.0.1:99999/secret",
                "invalid URL http://127.0.0.1:99999/secret: port 99999 is out of range (1 to 65535)",
            ),
            ("http://h:0/", "port 0 is out of range"),
            ("http://h:65536/", "port 65536 is out of range"),
            ("http://h:99999999999999999999/", "is out of range"),
            ("http://h:-1/", "the port \"-1\" is not a number"),
            ("http://h:8o/", "the port \"8o\" is not a number"),
            ("http://[::1]:70000/", "port 70000 is out of range"),
        ] {
            let m = message(url);
            assert!(m.contains(expected), "{url}: {m}");
        }
        for url in [
            "http://h:1/",
            "http://h:65535/x",
            "http://h:/x",
            "https://[::1]:8443/",
            "http://[::1]/",
            "http://user:pw@h:8080/",
        ] {
            assert!(parse(url).is_ok(), "{url}");
        }
        assert_eq!(parse("http://h:65535/").unwrap().port_u16(), Some(65535));
    }

    #[test]
    fn the_scheme_splits_where_split_once_splits() {
        for url in [
            "http://h/",
            "https://user:pw@h:8080/a?b=c://d",
            "localhost:8080/x?u=http://other/",
            "h:1:2://x",
            "no scheme here",
            "ends with a colon:",
            "ends with colon slash:/",
            "://",
            "",
        ] {
            assert_eq!(split_scheme(url), url.split_once("://"), "{url}");
        }
    }

    #[test]
    fn a_missing_scheme_shows_the_fix() {
        for (url, fix) in [
            ("localhost:11434/v1", "write http://localhost:11434/v1"),
            ("127.0.0.1:8080", "write http://127.0.0.1:8080"),
            ("[::1]:8080/x", "write http://[::1]:8080/x"),
            (
                "example.com/a",
                "write https://example.com/a or http://example.com/a",
            ),
            ("//example.com/a", "write https://example.com/a"),
            (
                "api.example.com/v1?key=secret",
                "write https://api.example.com/v1?<redacted>",
            ),
        ] {
            let m = message(url);
            assert!(m.contains(fix), "{url}: {m}");
            assert!(m.contains("the scheme is missing"), "{url}: {m}");
            assert!(!m.contains("secret"), "{url}: {m}");
        }
        // No host to put a scheme before: no fix that would itself be refused.
        for text in ["not a url", "see the docs/v1", "sk-abc def"] {
            let m = message(text);
            assert!(
                m.contains("it is not a URL: there is no scheme"),
                "{text}: {m}"
            );
            assert!(
                !m.contains("write https://") && !m.contains("http://s"),
                "{m}"
            );
        }
        assert!(message("http:/h/x").contains("http: must be followed by //"));
        assert!(message("ftp://h/x").contains("\"ftp\" is not supported"));
        assert!(message("mailto:a@b").contains("\"mailto\" is not supported"));
        assert!(
            message("").ends_with("invalid URL: it is empty"),
            "{}",
            message("")
        );
        let m = message("/v1/models?key=secret");
        assert!(
            m.contains("a path without a host: write the whole URL"),
            "{m}"
        );
        assert!(!m.contains("///") && !m.contains("secret"), "{m}");
        assert!(parse("HTTPS://Example.com/").is_ok());
    }

    #[test]
    fn empty_hosts_and_bad_characters_are_refused_without_quoting_secrets() {
        for (url, expected) in [
            ("http:///p", "the host is empty"),
            ("http://:80/", "the host is empty"),
            ("http://u:secret@/p", "the host is empty"),
            ("http://h/a b", "a space at byte 10"),
            ("http://h/a\nb", "a control character (0x0A) at byte 10"),
            ("http://h/{x}", "the character '{' at byte 9"),
            ("http://h/x?key=sec ret", "a space at byte 18"),
            ("http://bücher.example/", "punycode"),
            ("http://[::1/", "no closing ]"),
            (
                "http://u:sec/ret@h/x",
                "a '/' in the user-info ends the host: percent-encode it as %2F",
            ),
            (
                "https://u:secret?x@h/x",
                "a '?' in the user-info ends the host: percent-encode it as %3F",
            ),
            (
                "https://u:secret#x@h:8080/",
                "a '#' in the user-info ends the host: percent-encode it as %23",
            ),
            (
                "http://admin:secret!?@10.0.0.1:8080/api",
                "a '?' in the user-info ends the host: percent-encode it as %3F",
            ),
            // The `@` after a `/` that follows the `?`, or after the `#`.
            (
                "http://user:secret?/x@h:1/p?k=v",
                "a '?' in the user-info ends the host: percent-encode it as %3F",
            ),
            (
                "https://u:secret/#x@h",
                "a '/' in the user-info ends the host: percent-encode it as %2F",
            ),
        ] {
            let m = message(url);
            assert!(m.contains(expected), "{url}: {m}");
            assert!(
                !m.contains("secret") && !m.contains("sec ret"),
                "{url}: {m}"
            );
        }
    }

    #[test]
    fn non_ascii_in_path_and_query_is_percent_encoded() {
        let uri = parse("http://h/caf\u{e9}?q=\u{e9}").unwrap();
        assert_eq!(uri.path(), "/caf%C3%A9");
        assert_eq!(uri.query(), Some("q=%C3%A9"));
    }

    /// RFC 3986 §5.4.1 and §5.4.2, base `http://a/b/c/d;p?q`.
    #[test]
    fn reference_resolution_matches_the_rfc_examples() {
        let base = "http://a/b/c/d;p?q";
        let cases = [
            // 5.4.1 Normal Examples
            ("g:h", "g:h"),
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q#s"),
            ("g#s", "http://a/b/c/g#s"),
            ("g?y#s", "http://a/b/c/g?y#s"),
            (";x", "http://a/b/c/;x"),
            ("g;x", "http://a/b/c/g;x"),
            ("g;x?y#s", "http://a/b/c/g;x?y#s"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../", "http://a/"),
            ("../../g", "http://a/g"),
            // 5.4.2 Abnormal Examples
            ("../../../g", "http://a/g"),
            ("../../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("g..", "http://a/b/c/g.."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("g?y/../x", "http://a/b/c/g?y/../x"),
            ("g#s/./x", "http://a/b/c/g#s/./x"),
            ("g#s/../x", "http://a/b/c/g#s/../x"),
            ("http:g", "http:g"),
        ];
        for (reference, expected) in cases {
            assert_eq!(resolve_str(base, reference), expected, "{reference}");
        }
    }

    #[test]
    fn redirect_locations_resolve_encode_and_are_checked() {
        let base: Uri = "http://127.0.0.1:8080/express/rel/a/b?x=1".parse().unwrap();
        for (location, expected) in [
            ("../../static/7", "http://127.0.0.1:8080/express/static/7"),
            ("/static/a b", "http://127.0.0.1:8080/static/a%20b"),
            (
                "/static/caf\u{e9}",
                "http://127.0.0.1:8080/static/caf%C3%A9",
            ),
            ("/s/a%20b", "http://127.0.0.1:8080/s/a%20b"),
            // A `%` that is not an escape is one (as requests sends it).
            ("/sp%zz", "http://127.0.0.1:8080/sp%25zz"),
            ("/100%", "http://127.0.0.1:8080/100%25"),
            ("/a%2", "http://127.0.0.1:8080/a%252"),
            ("/a%2f%C3%A9", "http://127.0.0.1:8080/a%2f%C3%A9"),
            ("/s/{x}|y", "http://127.0.0.1:8080/s/%7Bx%7D%7Cy"),
            ("  /trimmed  ", "http://127.0.0.1:8080/trimmed"),
            ("?page=2", "http://127.0.0.1:8080/express/rel/a/b?page=2"),
            ("//other:9000/p", "http://other:9000/p"),
            // The answering URL's scheme without `//`: relative, as to browsers and requests.
            ("http:/echo", "http://127.0.0.1:8080/echo"),
            ("HTTP:c?d", "http://127.0.0.1:8080/express/rel/a/c?d"),
            // A colon in its first segment, still a path.
            (
                "http:localhost:9/x",
                "http://127.0.0.1:8080/express/rel/a/localhost:9/x",
            ),
            ("HTTPS://Other.example/z#frag", "https://other.example/z"),
            (
                "/next?u=http://x/y",
                "http://127.0.0.1:8080/next?u=http://x/y",
            ),
            (
                "\\\\evil.example/x",
                "http://127.0.0.1:8080/express/rel/a/%5C%5Cevil.example/x",
            ),
        ] {
            let got = resolve(&base, location).unwrap();
            assert_eq!(got, expected.parse::<Uri>().unwrap(), "{location}");
        }
        for (location, why) in [
            ("http://h:99999/", "out of range"),
            (
                "ftp://h/",
                "the location is not an http or https URL (its scheme is ftp)",
            ),
            ("javascript:alert(1)", "(its scheme is javascript)"),
            ("http:///x", "the host is empty"),
            (
                "https:/echo",
                "the location names no host (`//host` after its scheme)",
            ),
            (
                "http://b\u{fc}cher.example/x",
                "the host name is not ASCII, and this crate does not convert it to its punycode \
                 form (xn--...)",
            ),
            (
                "//u:p@b\u{fc}cher.example:8080/x",
                "the host name is not ASCII",
            ),
        ] {
            let err = resolve(&base, location).unwrap_err();
            assert!(err.contains(why), "{location}: {err}");
        }
    }

    fn encoded(s: &str) -> String {
        let mut out = String::new();
        encode_into(&mut out, s);
        out
    }

    fn built(url: &str, query: &[(&str, &str)]) -> Uri {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        build(url.to_string(), &query).unwrap()
    }

    #[test]
    fn query_pairs_go_before_a_fragment() {
        for (url, expected) in [
            ("http://h/p#frag", "k=v"),
            ("http://h/p?a=1#frag", "a=1&k=v"),
            ("http://h/p#frag?x", "k=v"),
            ("http://h/p?", "k=v"),
            ("http://h/p?#frag", "k=v"),
            // A query that ends with its separator gets no empty pair.
            ("http://h/p?a=1&", "a=1&k=v"),
            ("http://h/p?a=1&#frag", "a=1&k=v"),
        ] {
            let uri = built(url, &[("k", "v")]);
            assert_eq!(uri.path(), "/p", "{url}");
            assert_eq!(uri.query(), Some(expected), "{url}");
        }
    }

    #[test]
    fn query_pairs_are_appended_and_encoded() {
        let uri = built(
            "http://h/p?a=1",
            &[("q", "a b+c&d=e#f%20"), ("caf\u{e9}", ""), ("", "x")],
        );
        assert_eq!(
            uri.query(),
            Some("a=1&q=a%20b%2Bc%26d%3De%23f%2520&caf%C3%A9=&=x")
        );
        let uri = built("http://[::1]:8080/p", &[("k", "v")]);
        assert_eq!(uri.host(), Some("[::1]"));
        assert_eq!(uri.port_u16(), Some(8080));
        assert_eq!(uri.query(), Some("k=v"));
        assert_eq!(built("http://h", &[]).to_string(), "http://h/");
    }

    #[test]
    fn redaction_shows_no_credential_in_any_shape() {
        for (url, expected) in [
            (
                "https://u:secret@h/v1?key=secret#secret",
                "https://<redacted>@h/v1?<redacted>",
            ),
            (
                "https://h/cb#access_token=secret",
                "https://h/cb#<redacted>",
            ),
            ("https://h/cb#a?token=secret", "https://h/cb#<redacted>"),
            ("//u:secret@h/x", "//<redacted>@h/x"),
            ("u:secret@h/x?k=secret", "<redacted>@h/x?<redacted>"),
            (
                "http://u:secret@[::1]:8080/x?k=secret",
                "http://<redacted>@[::1]:8080/x?<redacted>",
            ),
            ("https://u:sec?ret@h/x", "https://<redacted>"),
            ("https://u:sec#ret@h/x", "https://<redacted>"),
            ("https://h?email=secret@example.com", "https://<redacted>"),
            // A raw `/` in a password (base64 has them) ends the authority early.
            (
                "https://u:sec/ret@h/x?k=1",
                "https://<redacted>@h/x?<redacted>",
            ),
            ("http://u:sec/r/et@h:8080", "http://<redacted>@h:8080"),
            // ... and so do a raw `?` or `#` before a `/`, or a `/` before a `#`: the
            // user-info runs to the `@` after them.
            (
                "http://user:sec?/ret@h:1/x?k=v",
                "http://<redacted>@h:1/x?<redacted>",
            ),
            ("https://u:sec/#ret@h:1", "https://<redacted>@h:1"),
            ("https://u:sec#/ret@h/x", "https://<redacted>@h/x"),
            (
                "localhost:8080/x?u=http://u:secret@other/",
                "localhost:8080/x?<redacted>",
            ),
            // Mistyped before the authority, as the errors about it quote it.
            (" https://u:secret@h/x", " https://<redacted>@h/x"),
            (
                "\thttps://u:secret@h/x?k=1",
                "\thttps://<redacted>@h/x?<redacted>",
            ),
            ("https:/u:secret@h/x", "https:/<redacted>@h/x"),
            ("https//u:secret@h/x", "https//<redacted>@h/x"),
            ("https:///u:secret@h/x", "https:///<redacted>@h/x"),
            ("1http://u:secret@h/x", "1http://<redacted>@h/x"),
            ("https:/u:sec/ret@h/x", "https:/<redacted>@h/x"),
            (" u:secret@h", " <redacted>@h"),
            (
                "\u{feff}https://u:secret@h/v1",
                "\u{feff}https://<redacted>@h/v1",
            ),
            (
                "\u{a0}https://u:secret@h/v1",
                "\u{a0}https://<redacted>@h/v1",
            ),
            ("ht tps://u:secret@h/v1", "ht tps://<redacted>@h/v1"),
            // A `//` or `:/` in the password is no scheme's end.
            ("u:ab//cd@h/x", "<redacted>@h/x"),
            ("https:u:ab//cd@h/x", "<redacted>@h/x"),
            ("u:ab:/cd@h/x", "<redacted>@h/x"),
        ] {
            assert_eq!(redact_url(url), expected, "{url}");
        }
        for url in [
            "http://[::1]:8080/x",
            "https://h/users/@me",
            "https://h:8080/users/@me",
            "http://localhost:11434/v1",
            "h/x",
            "",
            // An `@` in the path of a URL without its scheme is no user-info.
            "localhost:8080/users/@alice",
            "example.com/x//y@z/q",
            " http://[::1]:8080/p/@u",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(encoded("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encoded("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn a_password_cut_by_a_slash_after_an_empty_or_numeric_port_is_refused_or_hidden() {
        // `user:/s3cr3t@host`: the "port" is empty; refused as the other cut passwords are.
        let url = "https://user:/s3cr3t@api.example.com/v1";
        assert_eq!(redact_url(url), "https://<redacted>@api.example.com/v1");
        let Err(Error::InvalidRequest(m)) = parse(url) else {
            panic!("{url} parses: it would go to the host `user`");
        };
        assert!(
            m.contains("a '/' in the user-info") && !m.contains("s3cr3t"),
            "{m}"
        );
        // `user:123/s3cr3t@host` is a valid URL (the host `user`, port 123, and a path), as
        // requests and curl read it; but its path may be a password's rest, in any segment:
        // all hidden, no host guessed (`localhost:8025/bob@example.com` names no host
        // `example.com`).
        for url in [
            "https://user:123/s3cr3t@api.example.com/v1",
            "https://user:12/ab/s3cr3t@api.example.com/v1",
            "http://localhost:8025/bob@example.com?k=s3cr3t",
        ] {
            assert_eq!(
                redact_url(url),
                url.split_once("//").unwrap().0.to_string() + "//<redacted>"
            );
            assert!(parse(url).is_ok(), "{url}");
        }
        // An `@` that starts a path's segment is no password's end (npm's scopes, handles); nor
        // one after an empty port outside the first segment, or without a port.
        for kept in [
            "https://registry.npmjs.org:443/@types/node",
            "http://localhost:8080/@user/post",
            "https://h.example/users/bob@example.com",
            "http://127.0.0.1:/@types/node",
        ] {
            assert_eq!(redact_url(kept), kept);
            assert!(parse(kept).is_ok(), "{kept}");
        }
        assert!(parse("http://127.0.0.1:/users/bob@example.com").is_ok());
    }

    #[test]
    fn an_at_in_the_query_of_a_url_without_a_path_hides_all_after_the_query_s_start() {
        for url in [
            "https://api.example.com?email=bob@example.com&next=/home&api_key=s3cr3t",
            "https://user:p?ss@api.example.com?next=/home&api_key=s3cr3t",
            "https://api.example.com#state=a@b/cb&access_token=s3cr3t",
        ] {
            let shown = redact_url(url);
            assert!(
                !shown.contains("s3cr3t") && !shown.contains("ss@"),
                "{url} -> {shown}"
            );
            let Err(Error::InvalidRequest(m)) = parse(&url.replace('&', "& ")) else {
                panic!("{url}");
            };
            assert!(!m.contains("s3cr3t"), "{m}");
        }
    }

    #[test]
    fn a_colon_after_a_first_segment_that_is_no_scheme_is_a_path() {
        // RFC 3986 §3.1: a scheme starts with a letter, and holds letters, digits, `+-.`.
        let base: Uri = "http://h/a/b".parse().unwrap();
        for (location, expected) in [
            ("2024-01-01:report", "http://h/a/2024-01-01:report"),
            ("_list:2", "http://h/a/_list:2"),
            ("12:30", "http://h/a/12:30"),
            ("\u{e9}:x", "http://h/a/%C3%A9:x"),
        ] {
            let got = resolve(&base, location).map(|u| u.to_string());
            assert_eq!(got.as_deref(), Ok(expected), "{location}");
        }
        assert!(resolve(&base, "ftp:x").is_err());
    }

    #[test]
    fn dot_segments_of_a_caller_s_path_are_removed_as_requests_and_curl_do() {
        for (url, expected) in [
            ("http://h/a/../b/./c", "/b/c"),
            ("http://h/a/..", "/"),
            ("http://h/../../x/", "/x/"),
            ("http://h/a/./?q=/../x#/./", "/a/?q=/../x"),
            // Segments that only hold dots among other characters are names.
            ("http://h/a/.../b/..c/.d", "/a/.../b/..c/.d"),
            ("http://h?q=/../x", "?q=/../x"),
        ] {
            let uri = parse(url).unwrap();
            assert_eq!(uri.path_and_query().unwrap().as_str(), expected, "{url}");
        }
        assert!(matches!(
            without_dot_segments("http://h/a/b?c"),
            Cow::Borrowed(_)
        ));
    }
}
