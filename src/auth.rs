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
    for (part, text) in [("user name", user), ("password", password)] {
        if let Some((at, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
            let place = if at + c.len_utf8() == text.len() {
                "at its end".to_string()
            } else {
                format!("at byte {at}")
            };
            return Err(format!(
                "the basic auth {part} holds a control character (U+{:04X}) {place}, which \
                 RFC 7617 does not allow: trim it (a password read from a file keeps its line \
                 feed)",
                u32::from(c)
            ));
        }
    }
    if let Some(at) = user.find(':') {
        return Err(format!(
            "the basic auth user name holds a colon at byte {at}, which RFC 7617 does not \
             allow: the server would read the name up to it and the rest as the password"
        ));
    }
    let mut out = String::from("Basic ");
    base64_into(&mut out, format!("{user}:{password}").as_bytes());
    Ok(out)
}

/// `Bearer token`, as RFC 6750 says, or, for an empty token, the text of the refusal: `Bearer `
/// alone is no credential (RFC 6750's token has at least one character), and an empty token is
/// nearly always an environment variable that is not set, which the server would answer with a
/// 401 that does not say so.
pub(crate) fn bearer(token: &str) -> Result<String, String> {
    if token.trim_matches([' ', '\t']).is_empty() {
        return Err(
            "the bearer token is empty (an environment variable that is not set?): \
                    give the token, or leave bearer_auth out"
                .into(),
        );
    }
    Ok(format!("Bearer {token}"))
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
    }
}
