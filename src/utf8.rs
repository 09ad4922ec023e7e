//! The UTF-8 check of event streams: `simdutf8`'s, the crate's one use of `unsafe`.
//!
//! An event stream is checked once per read, whole, before it is parsed as text. With the
//! standard library's `str::from_utf8` that check was half the time of a stream whose text
//! is not all ASCII (51% of `EventReader`'s samples on data lines with a Latin-1 letter every
//! few words, 75% on Chinese text): `std` checks one byte at a time once a byte is not ASCII,
//! `simdutf8` a vector at a time whatever the bytes are. In alternating runs of
//! `benches/sse_parse.rs`, owned events were 3.3x and borrowed ones 4.7x as fast as with
//! `std`'s check on the non-English corpus, and 10% and 23% faster on the OpenAI-style one. It picks AVX2 or SSE 4.2 at run time on x86,
//! NEON on aarch64, SIMD128 on wasm32 when built with it, and `std`'s check on other
//! processors.
//!
//! Only `simdutf8` finds whether the bytes are UTF-8; the standard library has no way to make
//! a `String` of bytes that another check passed short of `from_utf8_unchecked`. Options
//! weighed: keep `std`'s check (no `unsafe`, half the speed on text that is not English),
//! check twice (slower than `std` alone), or this: one `unsafe` call whose condition is the
//! line above it. The crate denies `unsafe_code` everywhere else (`src/lib.rs`).
#![allow(unsafe_code)]

/// `String::from_utf8`, checked by `simdutf8` ([`str_from_utf8`]): the bytes back when they
/// are not UTF-8.
#[inline]
pub(crate) fn string_from_utf8(bytes: Vec<u8>) -> Result<String, Vec<u8>> {
    if str_from_utf8(&bytes).is_none() {
        return Err(bytes);
    }
    // SAFETY: `str_from_utf8` (simdutf8's check) found `bytes` valid UTF-8.
    Ok(unsafe { String::from_utf8_unchecked(bytes) })
}

/// `str::from_utf8`, checked by `simdutf8`.
#[inline]
pub(crate) fn str_from_utf8(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_std_on_valid_and_invalid_bytes() {
        let cases: [&[u8]; 9] = [
            b"",
            b"data: plain ASCII\n",
            "data: caf\u{e9} \u{5b57} \u{1F600}\n".as_bytes(),
            b"\xff",
            b"caf\xc3",          // a character cut short
            b"\xc3\x28",         // a bad continuation byte
            b"\xe0\x80\xaf",     // an overlong form
            b"\xed\xa0\x80",     // a surrogate
            b"\xf4\x90\x80\x80", // past U+10FFFF
        ];
        for bytes in cases {
            let std = std::str::from_utf8(bytes).ok();
            assert_eq!(str_from_utf8(bytes), std, "{bytes:?}");
            let owned = string_from_utf8(bytes.to_vec());
            assert_eq!(owned.as_deref().ok(), std, "{bytes:?}");
            if std.is_none() {
                assert_eq!(owned.unwrap_err(), bytes, "the bytes come back");
            }
        }
        // Long enough for the vector path, with a bad byte past the first blocks.
        let mut long = "\u{5b57}a".repeat(100).into_bytes();
        assert!(str_from_utf8(&long).is_some());
        long[251] = 0x80; // an `a` becomes a lone continuation byte
        assert!(std::str::from_utf8(&long).is_err());
        assert_eq!(str_from_utf8(&long), None);
    }
}
