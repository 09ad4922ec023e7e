//! Text in the charsets servers still send, for [`Response::decoded_text`]: UTF-8, UTF-16 and
//! windows-1252 (which the WHATWG Encoding standard, and so every browser, reads for the
//! `iso-8859-1`, `latin1` and `us-ascii` labels too). Other charsets are an error that says so:
//! their tables would be most of a crate such as `encoding_rs`, which a caller who needs them
//! can use on [`Response::bytes`].
//!
//! [`Response::decoded_text`]: crate::Response::decoded_text
//! [`Response::bytes`]: crate::Response::bytes

use std::borrow::Cow;

/// An encoding this module decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    Utf8,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

impl Charset {
    /// The encoding a `charset` label names, by the WHATWG Encoding standard's labels (letter
    /// case and surrounding spaces ignored); `None` for one not decoded here.
    pub(crate) fn from_label(label: &str) -> Option<Charset> {
        let label = label.trim().to_ascii_lowercase();
        Some(match label.as_str() {
            "utf-8" | "utf8" | "unicode-1-1-utf-8" | "unicode11utf8" | "unicode20utf8"
            | "x-unicode20utf8" => Charset::Utf8,
            "utf-16" | "utf-16le" | "ucs-2" | "unicode" | "csunicode" | "iso-10646-ucs-2"
            | "unicodefeff" => Charset::Utf16Le,
            "utf-16be" | "unicodefffe" => Charset::Utf16Be,
            "windows-1252" | "cp1252" | "x-cp1252" | "iso-8859-1" | "iso8859-1" | "iso88591"
            | "iso_8859-1" | "iso_8859-1:1987" | "iso-ir-100" | "latin1" | "l1" | "ibm819"
            | "cp819" | "csisolatin1" | "us-ascii" | "ascii" | "ansi_x3.4-1968" => {
                Charset::Windows1252
            }
            _ => return None,
        })
    }
}

/// The value of the first `charset` parameter of a `Content-Type` (as the WHATWG MIME type
/// parser takes it), its quotes removed (single quotes too, as requests removes them); `None`
/// without one.
pub(crate) fn label_of(content_type: &str) -> Option<&str> {
    crate::multipart::split_params(content_type)
        .skip(1)
        .filter_map(|param| param.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, value)| value.trim().trim_matches(['"', '\'']).trim())
        .find(|value| !value.is_empty())
}

/// At most the first `limit` bytes of `bytes` as text: in the charset the `content_type` names
/// when it is one decoded here, else as [`decode`] reads text without one; never cut within a
/// character (a UTF-8 sequence, a UTF-16 code unit).
pub(crate) fn excerpt(bytes: &[u8], content_type: Option<&str>, limit: usize) -> String {
    let charset = content_type
        .and_then(label_of)
        .and_then(Charset::from_label);
    let mut end = bytes.len().min(limit);
    if end < bytes.len() {
        end = whole_characters(&bytes[..end], charset);
    }
    decode(charset, &bytes[..end]).into_owned()
}

/// The text of `bytes`, the start of a body that may have been cut where it was read: as
/// [`excerpt`] reads it, less a character cut at the end.
pub(crate) fn start_text<'a>(bytes: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let charset = content_type
        .and_then(label_of)
        .and_then(Charset::from_label);
    decode(charset, &bytes[..whole_characters(bytes, charset)])
}

/// The length of the start of `bytes` that ends with a whole character (a UTF-8 sequence, a
/// UTF-16 code unit and its pair) in `charset` (UTF-8 without one).
fn whole_characters(bytes: &[u8], charset: Option<Charset>) -> usize {
    let mut end = bytes.len();
    match charset {
        Some(utf16 @ (Charset::Utf16Le | Charset::Utf16Be)) => {
            end -= end % 2;
            // A pair's first half (a high surrogate) at the end goes with its second.
            let last = bytes
                .get(end.saturating_sub(2)..end)
                .filter(|unit| unit.len() == 2)
                .map(|unit| match utf16 {
                    Charset::Utf16Le => u16::from_le_bytes([unit[0], unit[1]]),
                    _ => u16::from_be_bytes([unit[0], unit[1]]),
                });
            if last.is_some_and(|unit| (0xD800..0xDC00).contains(&unit)) {
                end -= 2;
            }
        }
        Some(Charset::Windows1252) => {}
        Some(Charset::Utf8) | None => {
            if let Err(e) = std::str::from_utf8(bytes) {
                if e.error_len().is_none() {
                    end = e.valid_up_to();
                }
            }
        }
    }
    end
}

/// `bytes` as text in `charset`, or without one as UTF-8 when they are UTF-8, else as
/// windows-1252 (each byte checked once for that). A byte order mark at the
/// start wins over the charset (as the Encoding standard's decode does) and is left out; what
/// does not decode becomes U+FFFD.
pub(crate) fn decode(charset: Option<Charset>, bytes: &[u8]) -> Cow<'_, str> {
    let (charset, bytes) = match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => (Some(Charset::Utf8), rest),
        [0xFF, 0xFE, rest @ ..] => (Some(Charset::Utf16Le), rest),
        [0xFE, 0xFF, rest @ ..] => (Some(Charset::Utf16Be), rest),
        _ => (charset, bytes),
    };
    let charset = match charset {
        Some(charset) => charset,
        None => match std::str::from_utf8(bytes) {
            Ok(text) => return Cow::Borrowed(text),
            Err(_) => Charset::Windows1252,
        },
    };
    match charset {
        Charset::Utf8 => String::from_utf8_lossy(bytes),
        Charset::Utf16Le => utf16(bytes, u16::from_le_bytes),
        Charset::Utf16Be => utf16(bytes, u16::from_be_bytes),
        // ASCII is UTF-8 as it is.
        Charset::Windows1252 if bytes.is_ascii() => {
            Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default())
        }
        Charset::Windows1252 => Cow::Owned(bytes.iter().map(|&b| windows_1252(b)).collect()),
    }
}

/// UTF-16 code units read with `unit`; an odd byte at the end and unpaired surrogates become
/// U+FFFD.
fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Cow<'static, str> {
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    let mut text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if bytes.len() % 2 == 1 {
        text.push(char::REPLACEMENT_CHARACTER);
    }
    Cow::Owned(text)
}

/// The character of byte `b` in windows-1252: Latin-1, except the typographic characters of
/// 0x80-0x9F (the five bytes windows-1252 leaves undefined map to the C1 controls of their
/// value, as the Encoding standard says).
fn windows_1252(b: u8) -> char {
    const C1: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}',
        '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}',
        '\u{2014}', '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}',
        '\u{178}',
    ];
    match b {
        0x80..=0x9F => C1[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_reads_the_typographic_bytes_and_latin_1_elsewhere() {
        let text = decode(
            Some(Charset::Windows1252),
            b"\x93caf\xe9\x94 \x80 \x85 \xff \x81",
        );
        assert_eq!(
            text,
            "\u{201C}caf\u{e9}\u{201D} \u{20AC} \u{2026} \u{ff} \u{81}"
        );
        assert!(matches!(
            decode(Some(Charset::Windows1252), b"plain"),
            Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn without_a_charset_utf8_is_borrowed_and_anything_else_is_windows_1252() {
        assert!(matches!(
            decode(None, "caf\u{e9}".as_bytes()),
            Cow::Borrowed("caf\u{e9}")
        ));
        assert_eq!(decode(None, b"caf\xe9"), "caf\u{e9}");
        assert_eq!(decode(None, b"\xFF\xFEh\x00"), "h");
    }

    #[test]
    fn a_byte_order_mark_wins_over_the_label() {
        assert_eq!(
            decode(Some(Charset::Windows1252), b"\xEF\xBB\xBFcaf\xC3\xA9"),
            "caf\u{e9}"
        );
        assert_eq!(decode(Some(Charset::Utf8), b"\xFF\xFEh\x00i\x00"), "hi");
        assert_eq!(decode(Some(Charset::Utf8), b"\xFE\xFF\x00h\x00i"), "hi");
        assert_eq!(
            decode(Some(Charset::Utf16Be), b"\x00h\x00i\x00"),
            "hi\u{FFFD}"
        );
        assert_eq!(
            decode(Some(Charset::Utf16Le), b"\x00\xD8h\x00"),
            "\u{FFFD}h"
        );
    }

    #[test]
    fn labels_are_read_as_browsers_read_them() {
        for label in ["ISO-8859-1", " latin1 ", "us-ascii", "CP1252"] {
            assert_eq!(
                Charset::from_label(label),
                Some(Charset::Windows1252),
                "{label}"
            );
        }
        assert_eq!(Charset::from_label("UTF-16"), Some(Charset::Utf16Le));
        assert_eq!(Charset::from_label("utf8"), Some(Charset::Utf8));
        for label in ["shift_jis", "iso-8859-15", "koi8-r", ""] {
            assert_eq!(Charset::from_label(label), None, "{label}");
        }
    }

    #[test]
    fn a_utf16_excerpt_shorter_than_a_code_unit_is_empty() {
        for limit in [0, 1] {
            assert_eq!(
                excerpt(b"a\0b\0", Some("text/plain; charset=utf-16le"), limit),
                ""
            );
        }
        assert_eq!(
            excerpt(b"a\0b\0", Some("text/plain; charset=utf-16le"), 2),
            "a"
        );
    }
}
