//! The `Authorization` values of [`RequestBuilder::basic_auth`](crate::RequestBuilder::basic_auth)
//! and [`bearer_auth`](crate::RequestBuilder::bearer_auth), and of their
//! [`SessionBuilder`](crate::SessionBuilder) twins.
//!
//! They are ordinary `Authorization` headers, so the redirect rules apply to them as to any
//! credential header: kept within one origin, removed when a redirect leaves it (see
//! `redirect.rs`).

/// Sets `Authorization` to `value` in `headers`, replacing any set before.
pub(crate) fn set(headers: &mut Vec<(String, String)>, value: String) {
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
    headers.push(("authorization".into(), value));
}

/// `Basic base64(user:password)`, as RFC 7617 says (UTF-8 for both parts), or, for
/// credentials that hold a control character, the text of the refusal.
///
/// RFC 7617 allows no control character in either part (a tab and U+0080..U+009F included),
/// and one is nearly always a mistake: a password read from a file keeps its line feed, and
/// the server answers 401 with no word of why. Nor a colon in the user name, which the server
/// takes for the end of the name. The refusal names the part, the character and its place,
/// never the value.
pub(crate) fn basic(user: &str, password: &str) -> Result<String, String> {
    basic_bytes(user.as_bytes(), password.as_bytes())
}

/// [`basic`] of credentials that need not be UTF-8: a URL's user-info whose escapes decode to
/// bytes of another charset (`p%E4ss`, Latin-1's `ä`) is sent as those bytes, as curl sends it,
/// for the server that reads that charset (they were sent as U+FFFD, a password no server
/// knows). A part that is UTF-8 is checked for control characters as characters, one that is
/// not for the ASCII ones (C0 and DEL) as bytes.
pub(crate) fn basic_bytes(user: &[u8], password: &[u8]) -> Result<String, String> {
    for (part, bytes) in [("user name", user), ("password", password)] {
        let control = match std::str::from_utf8(bytes) {
            Ok(text) => text
                .char_indices()
                .find(|(_, c)| c.is_control())
                .map(|(at, c)| (at, u32::from(c), c.len_utf8())),
            Err(_) => (bytes.iter().position(u8::is_ascii_control))
                .map(|at| (at, u32::from(bytes[at]), 1)),
        };
        if let Some((at, code, len)) = control {
            let place = if at + len == bytes.len() {
                "at its end".to_string()
            } else {
                format!("at byte {at}")
            };
            return Err(format!(
                "the basic auth {part} holds a control character (U+{code:04X}) {place}, which \
                 RFC 7617 does not allow: trim it (a password read from a file keeps its line \
                 feed)"
            ));
        }
    }
    if let Some(at) = user.iter().position(|&b| b == b':') {
        return Err(format!(
            "the basic auth user name holds a colon at byte {at}, which RFC 7617 does not \
             allow: the server would read the name up to it and the rest as the password"
        ));
    }
    let mut out = String::from("Basic ");
    base64_into(&mut out, &[user, b":", password].concat());
    Ok(out)
}

/// `Bearer token`, as RFC 6750 says, or the text of the refusal of a token the server would
/// answer with a 401 that does not say why: an empty one (`Bearer ` alone is no credential,
/// and an empty token is nearly always an environment variable that is not set), one that
/// starts with the scheme (`Bearer Bearer sk-...`), and one with a space or tab in it or
/// around it (RFC 6750's token has none: a value copied with its spaces). The token is never
/// quoted: it is a credential.
pub(crate) fn bearer(token: &str) -> Result<String, String> {
    if token.trim_matches([' ', '\t']).is_empty() {
        return Err(
            "the bearer token is empty (an environment variable that is not set?): \
                    give the token, or leave bearer_auth out"
                .into(),
        );
    }
    let scheme = token
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("bearer "));
    if scheme {
        return Err(
            "the bearer token starts with \"Bearer \": give the token alone, \
                    bearer_auth writes the scheme before it"
                .into(),
        );
    }
    if let Some(at) = token.find([' ', '\t']) {
        let place = match at {
            0 => "at its start".to_string(),
            at if token[at..].trim_matches([' ', '\t']).is_empty() => "at its end".to_string(),
            at => format!("at byte {at}"),
        };
        return Err(format!(
            "the bearer token holds a space or tab {place}, which no token has (RFC 6750): \
             give it without"
        ));
    }
    Ok(format!("Bearer {token}"))
}

/// The credentials a request is sent with: the values of its credential headers (the
/// session's and its own: `Authorization`, `Cookie`, API-key headers, every name
/// [`is_credential`](crate::redirect::is_credential) takes), the token after an
/// `Authorization` scheme and a Basic credential's text and password, each cookie's value (of
/// the jar's cookies too, for an answer of an error: see [`with_jar`](Secrets::with_jar)), the
/// user-info of its URL, and the values of its query's credential parameters (`key`,
/// `api_key`, `access_token`...: see [`CREDENTIAL_PARAMETERS`]). A status error made of its
/// answer hides them where the server repeated them in its body (`Incorrect API key provided: Bearer sk-...`, an echo of the
/// request's headers), and so does the error of an event stream answered with a JSON error, so
/// that a script that prints or logs the error does not print its key (see
/// [`Error::hiding`](crate::Error::hiding)). Values shorter than 8 bytes are left out: hiding
/// them would hide ordinary words.
///
/// Put in the response's extensions (only when there are any: no cost for a request without
/// credentials), and taken out by whatever makes the status error.
#[derive(Clone)]
pub(crate) struct Secrets(std::sync::Arc<[Box<str>]>);

impl std::fmt::Debug for Secrets {
    /// How many, never what.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({})", self.0.len())
    }
}

impl Secrets {
    /// The secrets of the session's `defaults` headers: kept in its config, made once.
    pub(crate) fn of_defaults(defaults: &[crate::config::DefaultHeader]) -> Option<Secrets> {
        let mut found = Vec::new();
        for default in defaults {
            if let Ok((name, value)) = &default.parsed {
                if let Ok(value) = value.to_str() {
                    add(&mut found, name.as_str(), value);
                }
            }
        }
        Secrets::made(found)
    }

    /// The secrets of a request with its `own` headers, `url` and `query` (its
    /// [`query`](crate::RequestBuilder::query) pairs), sent by a session with `session`'s;
    /// `None` when it has none. A request without credentials of its own (no credential header
    /// or query parameter, no user-info) allocates nothing, but to decode a query parameter's
    /// name written with `%` escapes.
    pub(crate) fn of(
        session: Option<&Secrets>,
        own: &[(String, String)],
        url: &str,
        query: &[(String, String)],
    ) -> Option<Secrets> {
        let mut found = Vec::new();
        let mut lower = [0u8; 64];
        for (name, value) in own {
            let name = name.trim();
            match lower.get_mut(..name.len()) {
                Some(buf) => {
                    buf.copy_from_slice(name.as_bytes());
                    buf.make_ascii_lowercase();
                    // ASCII lower-casing keeps a `str` valid UTF-8.
                    if let Ok(name) = std::str::from_utf8(buf) {
                        add(&mut found, name, value);
                    }
                }
                None => add(&mut found, &name.to_ascii_lowercase(), value),
            }
        }
        // The password as sent (its bytes beyond ASCII encoded) and decoded, and the
        // `Authorization: Basic` made of the user-info, read from the URL as the request sends it.
        let uri = crate::url::has_user_info(url)
            .then(|| crate::url::parse(url).ok())
            .flatten();
        if let Some(uri) = &uri {
            if let Some(info) = crate::url::user_info(uri) {
                let password = info.split_once(':').map_or("", |(_, p)| p);
                keep(&mut found, password);
                let decoded = crate::url::percent_decode(password);
                keep(&mut found, &String::from_utf8_lossy(&decoded));
            }
            if let Some(Ok(value)) = crate::url::user_info_auth(uri) {
                add(&mut found, "authorization", &value);
            }
        }
        // The values of credential parameters (`?key=...`, `access_token=`), as sent and
        // decoded: a server that repeats the request line in its error repeats them.
        let in_url = url.split('#').next().and_then(|u| u.split_once('?'));
        for pair in in_url.map_or("", |(_, q)| q).split('&') {
            if let Some((name, value)) = pair.split_once('=') {
                if names_credential(name, true) {
                    keep(&mut found, value);
                    keep(
                        &mut found,
                        &String::from_utf8_lossy(&crate::url::percent_decode(value)),
                    );
                }
            }
        }
        for (name, value) in query {
            if names_credential(name, false) {
                keep(&mut found, value);
                let mut sent = String::new();
                crate::url::encode_into(&mut sent, value);
                keep(&mut found, &sent);
            }
        }
        if found.is_empty() {
            return session.cloned();
        }
        for secret in session.iter().flat_map(|s| s.0.iter()) {
            keep(&mut found, secret);
        }
        Secrets::made(found)
    }

    /// `secrets` and the values of the cookies `jar` sends to `uri`: what a status error of an
    /// answer from `uri` hides, the jar's cookies too (a login's session cookie). Asked only of
    /// an error's answer, so that no other pays for the jar's lock.
    pub(crate) fn with_jar(
        secrets: Option<Secrets>,
        jar: &crate::CookieJar,
        uri: &ureq::http::Uri,
    ) -> Option<Secrets> {
        let Some(cookies) = jar.header_bytes(uri) else {
            return secrets;
        };
        let mut found: Vec<Box<str>> = secrets.iter().flat_map(|s| s.0.iter().cloned()).collect();
        add(&mut found, "cookie", &String::from_utf8_lossy(&cookies));
        Secrets::made(found)
    }

    /// The secrets `found`, the longest first (a value is hidden whole before a part of it).
    fn made(mut found: Vec<Box<str>>) -> Option<Secrets> {
        found.sort_by_key(|s| std::cmp::Reverse(s.len()));
        (!found.is_empty()).then(|| Secrets(found.into()))
    }

    /// Takes the secrets out of a response's `extensions`, if it has any.
    pub(crate) fn take(extensions: &mut ureq::http::Extensions) -> Option<Secrets> {
        extensions.remove::<Secrets>()
    }

    /// `e` with every secret hidden in the server's words.
    pub(crate) fn hide(&self, e: crate::Error) -> crate::Error {
        self.0.iter().fold(e, |e, secret| e.hiding(Some(secret)))
    }
}

/// [`hide`](Secrets::hide) of `secrets`, if there are any.
pub(crate) fn hide(secrets: Option<&Secrets>, e: crate::Error) -> crate::Error {
    match secrets {
        Some(secrets) => secrets.hide(e),
        None => e,
    }
}

/// Keeps what of header `name`'s `value` is a secret, if `name` may carry a credential.
fn add(found: &mut Vec<Box<str>>, name: &str, value: &str) {
    if !crate::redirect::is_credential(name) {
        return;
    }
    let value = value.trim();
    keep(found, value);
    if name == "cookie" {
        for pair in value.split(';') {
            keep(found, pair.split_once('=').map_or("", |(_, v)| v));
        }
    } else if let Some((scheme, token)) = value.split_once(' ') {
        // `Bearer sk-...`, `Basic ...`, `Token ...`: servers repeat the token alone.
        keep(found, token);
        // And a Basic credential as its text: `wrong password for me: <password>`.
        if scheme.eq_ignore_ascii_case("basic") {
            if let Some(text) = base64_decode(token.trim()) {
                let text = String::from_utf8_lossy(&text);
                keep(found, &text);
                keep(
                    found,
                    text.split_once(':').map_or("", |(_, password)| password),
                );
            }
        }
    }
}

/// The query parameters that carry credentials, by their whole name (letter case aside): API
/// keys, OAuth tokens, client secrets, passwords and signed URLs' signatures. Whole names, not
/// parts as for headers: a parameter's name is often a word (`author`, `keyword`, `sort_key`,
/// `page_token`) whose value is no secret and is what an error quotes.
const CREDENTIAL_PARAMETERS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "auth",
    "auth_token",
    "client_secret",
    "secret",
    "password",
    "passwd",
    "sig",
    "signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-amz-signature",
    "x-goog-credential",
    "x-goog-signature",
];

/// Whether a query parameter's `name` (percent-encoded, as a URL writes it, if `encoded`) is
/// one of [`CREDENTIAL_PARAMETERS`].
fn names_credential(name: &str, encoded: bool) -> bool {
    let is = |name: &str| {
        CREDENTIAL_PARAMETERS
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    };
    match encoded && name.contains('%') {
        true => is(&String::from_utf8_lossy(&crate::url::percent_decode(name))),
        false => is(name),
    }
}

/// Standard base64 (RFC 4648 §4) decoded, padding optional; `None` for text that is not.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for b in text.bytes() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

/// Keeps `value` (trimmed) if it is long enough to hide and not kept already.
fn keep(found: &mut Vec<Box<str>>, value: &str) {
    let value = value.trim();
    if value.len() >= crate::error::SHORTEST_SECRET && !found.iter().any(|f| &**f == value) {
        found.push(value.into());
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64_into(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            base64_into(&mut out, input.as_bytes());
            assert_eq!(out, want, "{input:?}");
        }
        let mut high = String::new();
        base64_into(&mut high, &[0xff, 0xfe, 0x00]);
        assert_eq!(high, "//4A");
    }

    #[test]
    fn base64_decodes_what_it_encodes() {
        for input in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "me:p\u{e4}ss",
        ] {
            let mut encoded = String::new();
            base64_into(&mut encoded, input.as_bytes());
            assert_eq!(
                base64_decode(&encoded).as_deref(),
                Some(input.as_bytes()),
                "{input:?}"
            );
        }
        assert_eq!(base64_decode("not base64!"), None);
    }

    #[test]
    fn basic_is_rfc_7617s_example() {
        // RFC 7617 §2: Aladdin / open sesame.
        assert_eq!(
            basic("Aladdin", "open sesame").as_deref(),
            Ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        // Non-ASCII is sent as UTF-8 (RFC 7617 §2.1, "test" / "123£").
        assert_eq!(
            basic("test", "123\u{a3}").as_deref(),
            Ok("Basic dGVzdDoxMjPCow==")
        );
        assert_eq!(bearer("t0k").as_deref(), Ok("Bearer t0k"));
        assert!(bearer(" ").is_err());
        let refused = |token| bearer(token).unwrap_err();
        assert!(refused("Bearer t0k").contains("starts with \"Bearer \""));
        assert!(refused("bearer t0k").contains("starts with \"Bearer \""));
        assert!(refused(" t0k").contains("space or tab at its start"));
        assert!(refused("t0k \t").contains("space or tab at its end"));
        assert!(refused("t0 k").contains("space or tab at byte 2"));
        assert!(!refused("t0 k").contains("t0"));
    }
}
