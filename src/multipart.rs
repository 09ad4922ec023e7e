//! `multipart/form-data` bodies (RFC 7578) for [`RequestBuilder::multipart`], as requests'
//! `files=` (with `data=`) sends them.
//!
//! Written here rather than with ureq's `multipart` feature: the encoder is forty lines, needs no
//! MIME-type guessing (the caller names each file's type) and no extra dependency.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::upload::{OnceReader, Payload, Piece};
use crate::Error;
#[cfg(doc)]
use crate::RequestBuilder;

/// A `multipart/form-data` body: text fields and files, each file with its file name and content
/// type, in the order added. Send it with [`RequestBuilder::multipart`].
///
/// The boundary is chosen when the body is encoded: random, and checked not to occur in any
/// part held in memory (parts read as the form is sent, from a file or a reader, are not
/// searched: see [`file_path`](Multipart::file_path)). Field names and file names are written
/// as the HTML standard says (`"`, CR and LF percent-encoded), so a name cannot break the
/// framing, and a backslash as `\\`, as `curl --form-escape` writes it (the standard, and
/// browsers, leave it as it is): the servers' parsers (Werkzeug, python-multipart, busboy)
/// read a quoted value's `\` as an escape, so `trail\` sent as it is turned a file into a
/// text field or lost the part. A parser that undoes no escape sees `\\`.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/upload", "text/plain", "stored")]);
/// use ureq_futures::{FuturesSession, Multipart};
///
/// let session = FuturesSession::new();
/// let form = Multipart::new()
///     .text("title", "Q3 report")
///     .file("report", "q3.csv", "text/csv", "region,total\nnorth,42\n");
/// let response = session
///     .post(format!("{base}/upload"))
///     .multipart(form)
///     .send()
///     .result()?;
/// assert_eq!(response.text()?, "stored");
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Multipart {
    parts: Vec<Part>,
}

#[derive(Clone)]
struct Part {
    name: String,
    /// A file's name: `filename` in the part's `Content-Disposition`.
    filename: Option<String>,
    /// The part's `Content-Type`; none for a text field.
    content_type: Option<String>,
    data: Data,
}

/// A part's content: bytes, or a file or a reader of the caller's (and its length, if given),
/// read as the body is sent.
#[derive(Clone)]
enum Data {
    Bytes(Vec<u8>),
    Path(PathBuf),
    Reader(OnceReader, Option<u64>),
}

impl Multipart {
    /// An empty form (it encodes to the closing boundary alone).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::Multipart;
    ///
    /// let form = Multipart::new().text("a", "1");
    /// ```
    pub fn new() -> Self {
        Multipart::default()
    }

    /// Adds a text field, as an entry of requests' `data=`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::Multipart;
    ///
    /// let form = Multipart::new().text("title", "Q3").text("lang", "en");
    /// ```
    pub fn text(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.add(name, None, None, Data::Bytes(value.into().into_bytes()))
    }

    /// Adds a part with a content type and no file name: JSON metadata beside a file, say, as
    /// requests sends an entry `name: (None, data, content_type)` of `files=`. A server reads
    /// it as a field, not as an uploaded file (a `filename`, even empty, makes it one: browsers
    /// send `filename=""` for "no file chosen"). An empty `content_type` is sent as
    /// `application/octet-stream`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::Multipart;
    ///
    /// let form = Multipart::new()
    ///     .part("metadata", "application/json", r#"{"title":"Q3"}"#)
    ///     .file("report", "q3.csv", "text/csv", "region,total\n");
    /// ```
    pub fn part(
        self,
        name: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        let data = Data::Bytes(data.into());
        self.add(name, None, Some(content_type.into()), data)
    }

    /// Adds a file: field `name`, the `filename` the server sees, its `content_type` (for
    /// example `"application/octet-stream"` when nothing more precise fits; an empty one is sent
    /// as that, blanks around it are left out, and one with a control character, which no
    /// header value holds, fails the request with an [`Error::InvalidRequest`]) and its bytes,
    /// as an entry `name: (filename, data, content_type)` of requests' `files=`. Read a file
    /// from disk with `std::fs::read` first.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::Multipart;
    ///
    /// let bytes = b"\x89PNG...".to_vec(); // or std::fs::read("logo.png")?
    /// let form = Multipart::new().file("logo", "logo.png", "image/png", bytes);
    /// ```
    pub fn file(
        self,
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        self.file_part(name, filename, content_type, Data::Bytes(data.into()))
    }

    /// Adds a file read from the disk while the request is sent, never held in memory: as
    /// [`file`](Multipart::file), with the file at `path` in place of its bytes (requests'
    /// `files={name: (filename, open(path, "rb"), content_type)}`).
    ///
    /// The request goes with a `Content-Length` that counts the file's length when the
    /// request is built; if the file cannot be read then (see
    /// [`body_file`](crate::RequestBuilder::body_file) for what that covers), the request's
    /// handle reports an [`Error::Io`](crate::Error::Io) naming it, and nothing is sent. A
    /// file that is gone, or whose length has changed, by the time it is sent fails the
    /// request the same way once the request's head has gone out. Each send (a retry, a 307
    /// or 308 redirect) reads it again.
    ///
    /// A file's bytes are not searched for the boundary, as bytes given to `file` are: the
    /// boundary has 128 random bits, so a file holds it by chance with odds of about one in
    /// 2^128 per position.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/upload", "text/plain", "stored")]);
    /// use ureq_futures::{FuturesSession, Multipart};
    ///
    /// let path = std::env::temp_dir().join("ureq-futures-doc-report.csv");
    /// std::fs::write(&path, "region,total\nnorth,42\n")?;
    /// let form = Multipart::new()
    ///     .text("title", "Q3 report")
    ///     .file_path("report", "q3.csv", "text/csv", &path);
    /// let response = FuturesSession::new()
    ///     .post(format!("{base}/upload"))
    ///     .multipart(form)
    ///     .send()
    ///     .result()?;
    /// assert_eq!(response.text()?, "stored");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn file_path(
        self,
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        self.file_part(name, filename, content_type, Data::Path(path.into()))
    }

    /// Adds a file part whose content is what `reader` yields, read as the form is sent and
    /// never held in memory: a pipe, a child process's output, data made as it goes. What
    /// [`body_reader`](crate::RequestBuilder::body_reader) is to a whole body.
    ///
    /// `len`: the part's length in bytes, or `None` when it is not known. With a length, that
    /// many bytes are read (and no more), and a reader that ends sooner fails the request with
    /// an [`Error::Io`](crate::Error::Io) naming the part; when every part's length is known,
    /// the form goes with its `Content-Length`. Without one, the form is sent chunked
    /// (`Transfer-Encoding: chunked`, which some servers refuse for uploads). As with
    /// `file_path`, the reader's bytes are not searched for the boundary (128 random bits).
    ///
    /// A reader is read once, so a request with such a form is sent once, as
    /// `body_reader` says: no retry, no resend, a redirect that would send the body again is
    /// the response. Copies of the form share the reader, which the first send that reaches
    /// the part takes (a send that failed before it, to connect say, leaves it): a copy sent
    /// once it is taken fails before anything is sent, with an error that says the reader was
    /// sent already. A form of [`file_path`](Multipart::file_path) parts can be sent again.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/upload", "text/plain", "stored")]);
    /// use std::io::Read;
    /// use ureq_futures::{FuturesSession, Multipart};
    ///
    /// // A million rows made as they are sent (any `Read + Send`: a pipe, a child's stdout).
    /// let rows = std::io::repeat(b'7').take(1_000_000);
    /// let form = Multipart::new()
    ///     .text("title", "measurements")
    ///     .file_reader("data", "rows.txt", "text/plain", rows, 1_000_000);
    /// let response = FuturesSession::new()
    ///     .post(format!("{base}/upload"))
    ///     .multipart(form)
    ///     .send()
    ///     .result()?;
    /// assert_eq!(response.text()?, "stored");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn file_reader(
        self,
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        reader: impl std::io::Read + Send + 'static,
        len: impl Into<Option<u64>>,
    ) -> Self {
        let data = Data::Reader(OnceReader::new(reader), len.into());
        self.file_part(name, filename, content_type, data)
    }

    /// Adds a file part of `data`: what `file`, `file_path` and `file_reader` add.
    fn file_part(
        self,
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: Data,
    ) -> Self {
        self.add(name, Some(filename.into()), Some(content_type.into()), data)
    }

    /// Adds a part: a text field, a typed part or a file, as its file name and type say.
    fn add(
        mut self,
        name: impl Into<String>,
        filename: Option<String>,
        content_type: Option<String>,
        data: Data,
    ) -> Self {
        self.parts.push(Part {
            name: name.into(),
            filename,
            content_type,
            data,
        });
        self
    }

    /// The `Content-Type` header (with the boundary) and the body: in memory, or in pieces
    /// when a part is a file on the disk (whose length is taken now; an error names a file
    /// that cannot be read) or a reader.
    pub(crate) fn encode(&self) -> Result<(String, Payload), Error> {
        let boundary = loop {
            let candidate = random_boundary();
            let needle = candidate.as_bytes();
            let clash = self.parts.iter().any(|p| {
                matches!(&p.data, Data::Bytes(data) if memchr::memmem::find(data, needle).is_some())
                    || [Some(&p.name), p.filename.as_ref(), p.content_type.as_ref()]
                        .into_iter()
                        .flatten()
                        .any(|text| text.contains(&candidate))
            });
            if !clash {
                break candidate;
            }
        };
        let held = |p: &Part| match &p.data {
            Data::Bytes(data) => data.len(),
            Data::Path(_) | Data::Reader(..) => 0,
        };
        let mut body =
            Vec::with_capacity(self.parts.iter().map(|p| held(p) + 160).sum::<usize>() + 64);
        let mut pieces = Vec::new();
        for part in &self.parts {
            body.extend_from_slice(b"--");
            body.extend_from_slice(boundary.as_bytes());
            body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
            push_escaped(&mut body, &part.name);
            body.push(b'"');
            if let Some(filename) = &part.filename {
                body.extend_from_slice(b"; filename=\"");
                push_escaped(&mut body, filename);
                body.push(b'"');
            }
            if let Some(content_type) = &part.content_type {
                body.extend_from_slice(b"\r\nContent-Type: ");
                let content_type = content_type.trim_ascii();
                if content_type.is_empty() {
                    // An empty value is no media type: RFC 7578 §4.4 labels file data of
                    // unknown type `application/octet-stream`, as browsers do.
                    body.extend_from_slice(b"application/octet-stream");
                } else if let Some(c) = content_type.chars().find(|&c| c.is_control() && c != '\t')
                {
                    // A content type is a header value: a line end would end the part's head
                    // (what follows it a header of the caller's text), another control
                    // character is no header's. Blanks around it (a line read from a file)
                    // are left out.
                    return Err(Error::InvalidRequest(format!(
                        "the content type of form part {:?} holds a control character \
                         (U+{:04X}), which no header value can: give the media type alone \
                         (text/plain)",
                        part.name,
                        u32::from(c)
                    )));
                } else {
                    body.extend_from_slice(content_type.as_bytes());
                }
            }
            body.extend_from_slice(b"\r\n\r\n");
            // A part read as it is sent ends the piece in memory so far.
            let sent_apart = match &part.data {
                Data::Bytes(data) => {
                    body.extend_from_slice(data);
                    None
                }
                Data::Path(path) => Some(Piece::file(path.clone())?),
                Data::Reader(reader, len) => Some(Piece::Reader {
                    reader: reader.clone(),
                    len: *len,
                    part: Some(part.name.clone()),
                }),
            };
            if let Some(piece) = sent_apart {
                pieces.push(Piece::Bytes(std::mem::take(&mut body)));
                pieces.push(piece);
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"--\r\n");
        let payload = if pieces.is_empty() {
            Payload::Bytes(Arc::new(body))
        } else {
            pieces.push(Piece::Bytes(body));
            let payload = Payload::Pieces(pieces);
            // A form without a reader of unknown length has a length, unless its readers'
            // lengths add up past `u64::MAX`.
            let no_length = |p: &Part| matches!(p.data, Data::Reader(_, None));
            if payload.len().is_none() && !self.parts.iter().any(no_length) {
                return Err(Error::InvalidRequest(
                    "the form's parts add up to more than 2^64 bytes: give file_reader the \
                     parts' true lengths, or None"
                        .to_string(),
                ));
            }
            payload
        };
        Ok((format!("multipart/form-data; boundary={boundary}"), payload))
    }
}

/// The `Content-Type` a multipart body goes with when the request sets its own, `own`, and the
/// body was encoded under `body_type` (`multipart/form-data; boundary=...`, from
/// [`Multipart::encode`]): a `multipart/*` type of the caller's keeps its type and parameters,
/// with the body's boundary in place of any it names. The body can only be read with its own
/// boundary: without one (`multipart/form-data` as `curl -H` examples set it) the server cannot
/// find the parts, and with another it finds none. curl adds its boundary to such a header too.
/// `None` when `own` is not a multipart type (the caller's choice, sent as it is) or the body is
/// not multipart.
pub(crate) fn with_boundary(own: &str, body_type: &str) -> Option<String> {
    let boundary = body_type.split_once("; boundary=")?.1;
    let mut params = split_params(own);
    let media_type = params.next()?.trim();
    if !media_type
        .get(..10)
        .is_some_and(|t| t.eq_ignore_ascii_case("multipart/"))
    {
        return None;
    }
    let mut out = media_type.to_string();
    for param in params.map(str::trim).filter(|p| !p.is_empty()) {
        let name = param.split('=').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case("boundary") {
            out.push_str("; ");
            out.push_str(param);
        }
    }
    out.push_str("; boundary=");
    out.push_str(boundary);
    Some(out)
}

/// The `;`-separated parts of a header value, a `;` inside a quoted string (RFC 9110 §5.6.4)
/// not counting.
pub(crate) fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

impl fmt::Debug for Multipart {
    /// Names, file names, content types and sizes; never the contents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for part in &self.parts {
            let size = match &part.data {
                Data::Bytes(data) => format!("{} bytes", data.len()),
                Data::Path(path) => format!("from {}", path.display()),
                Data::Reader(_, Some(len)) => format!("{len} bytes from a reader"),
                Data::Reader(_, None) => "from a reader".to_string(),
            };
            match (&part.filename, &part.content_type) {
                (Some(filename), Some(content_type)) => list.entry(&format_args!(
                    "{:?}: file {:?} ({content_type}, {size})",
                    part.name, filename,
                )),
                (_, Some(content_type)) => list.entry(&format_args!(
                    "{:?}: part ({content_type}, {size})",
                    part.name
                )),
                _ => list.entry(&format_args!("{:?}: text ({size})", part.name)),
            };
        }
        list.finish()
    }
}

/// The HTML standard's escaping of names in `multipart/form-data`: `"` as `%22`, CR as `%0D`,
/// LF as `%0A`; and a backslash as `\\` (a quoted-string's escape, which parsers undo; the
/// standard leaves it as it is, and a name that ends with one then ends the quotes early).
fn push_escaped(out: &mut Vec<u8>, name: &str) {
    for b in name.bytes() {
        match b {
            b'"' => out.extend_from_slice(b"%22"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            _ => out.push(b),
        }
    }
}

/// `ureq-futures-` and 32 hex digits from std's randomly keyed hasher.
fn random_boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut digits = String::with_capacity(45);
    digits.push_str("ureq-futures-");
    for half in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(half);
        digits.push_str(&format!("{:016x}", h.finish()));
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boundary_of(content_type: &str) -> &str {
        content_type
            .strip_prefix("multipart/form-data; boundary=")
            .expect("a multipart content type")
    }

    /// A form of bytes only, encoded: its content type and its body, in memory.
    fn encoded(form: &Multipart) -> (String, Vec<u8>) {
        match form.encode().unwrap() {
            (content_type, Payload::Bytes(body)) => (content_type, body.to_vec()),
            _ => panic!("a form of bytes only is held in memory"),
        }
    }

    #[test]
    fn fields_and_files_are_framed_as_rfc_7578_says() {
        let form =
            Multipart::new()
                .text("title", "Q3")
                .file("report", "q3.csv", "text/csv", "a,b\n1,2\n");
        let (content_type, body) = encoded(&form);
        let b = boundary_of(&content_type);
        let want = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQ3\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"report\"; filename=\"q3.csv\"\r\n\
             Content-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--{b}--\r\n"
        );
        assert_eq!(String::from_utf8(body).unwrap(), want);
    }

    #[test]
    fn a_part_has_a_content_type_and_no_file_name() {
        let form = Multipart::new()
            .part("meta", "application/json", r#"{"a":1}"#)
            .part("blank", " ", "x");
        let (content_type, body) = encoded(&form);
        let b = boundary_of(&content_type);
        let want = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"meta\"\r\n\
             Content-Type: application/json\r\n\r\n{{\"a\":1}}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"blank\"\r\n\
             Content-Type: application/octet-stream\r\n\r\nx\r\n--{b}--\r\n"
        );
        assert_eq!(String::from_utf8(body).unwrap(), want);
        assert_eq!(
            format!("{form:?}"),
            r#"["meta": part (application/json, 7 bytes), "blank": part ( , 1 bytes)]"#
        );
    }

    #[test]
    fn names_cannot_break_the_framing() {
        let form = Multipart::new().file("a\"b", "x\r\ny.txt", "text/plain", "");
        let (content_type, body) = encoded(&form);
        let b = boundary_of(&content_type);
        let want = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"a%22b\"; filename=\"x%0D%0Ay.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n\r\n--{b}--\r\n"
        );
        assert_eq!(String::from_utf8(body).unwrap(), want);
        // Nor can a content type: one with a line end is refused.
        let form = Multipart::new().file("a", "x", "text/plain\r\nX-Evil: 1", "");
        assert!(matches!(form.encode(), Err(Error::InvalidRequest(_))));
    }

    #[test]
    fn a_backslash_in_a_name_is_escaped_as_a_quoted_strings_parser_reads_it() {
        let form = Multipart::new().file("na\\me", "trail\\", "text/plain", "x");
        let (content_type, body) = encoded(&form);
        let b = boundary_of(&content_type);
        let text = String::from_utf8(body).unwrap();
        let head = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"na\\\\me\"; filename=\"trail\\\\\"\r\n"
        );
        assert!(text.starts_with(&head), "{text}");
        // Read back as RFC 9110's quoted-string (`\` escapes the next character).
        let quoted = |after: &str| {
            let rest = &text[text.find(after).unwrap() + after.len()..];
            let (mut value, mut chars) = (String::new(), rest.chars());
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.push(chars.next().unwrap()),
                    '"' => return value,
                    c => value.push(c),
                }
            }
            panic!("unterminated: {rest}");
        };
        assert_eq!(quoted("name=\""), "na\\me");
        assert_eq!(quoted("filename=\""), "trail\\");
    }

    #[test]
    fn boundaries_differ_and_never_occur_in_the_data() {
        let first = random_boundary();
        assert_ne!(first, random_boundary());
        assert!(
            first.starts_with("ureq-futures-") && first.len() == 45,
            "{first}"
        );
        // Binary data that is not UTF-8 goes through unchanged.
        let data: Vec<u8> = (0..=255u8).collect();
        let (content_type, body) = encoded(&Multipart::new().file(
            "f",
            "bytes.bin",
            "application/octet-stream",
            data.clone(),
        ));
        let b = boundary_of(&content_type).as_bytes();
        assert!(body.windows(data.len()).any(|w| w == data));
        assert_eq!(body.windows(b.len()).filter(|w| *w == b).count(), 2);
    }

    #[test]
    fn a_multipart_type_of_the_callers_gets_the_bodys_boundary() {
        let ours = "multipart/form-data; boundary=b0dy";
        for (own, want) in [
            (
                "multipart/form-data",
                Some("multipart/form-data; boundary=b0dy"),
            ),
            (
                "Multipart/Mixed; boundary=mine",
                Some("Multipart/Mixed; boundary=b0dy"),
            ),
            (
                "multipart/related; type=\"a;b\"; BOUNDARY=\"x;y\" ; start=1",
                Some("multipart/related; type=\"a;b\"; start=1; boundary=b0dy"),
            ),
            (
                "multipart/form-data;",
                Some("multipart/form-data; boundary=b0dy"),
            ),
            ("application/json", None),
            ("multipart", None),
            ("", None),
        ] {
            assert_eq!(with_boundary(own, ours).as_deref(), want, "{own}");
        }
        assert_eq!(
            with_boundary("multipart/form-data", "application/json"),
            None
        );
    }

    #[test]
    fn debug_shows_no_contents() {
        let form =
            Multipart::new()
                .text("key", "sk-secret")
                .file("f", "a.txt", "text/plain", "hidden");
        let text = format!("{form:?}");
        assert!(text.contains("a.txt") && text.contains("6 bytes"), "{text}");
        assert!(
            !text.contains("sk-secret") && !text.contains("hidden"),
            "{text}"
        );
    }
}
