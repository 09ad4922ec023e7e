//! Request bodies read from files while they are sent ([`RequestBuilder::body_file`],
//! [`Multipart::file_path`]) or from a reader of the caller's
//! ([`RequestBuilder::body_reader`], [`Multipart::file_reader`]), so that an upload is not bounded by memory.
//!
//! # Lengths
//!
//! A file's length is taken when the request is built (its metadata), and the request goes
//! with that `Content-Length`, not chunked: servers that take no chunked uploads (S3's `PUT`,
//! presigned URLs, HTTP/1.0 servers) accept it, and a `Content-Length` header of the caller's
//! is checked against it before anything is sent, as for a body in memory. The other choices
//! were to stat the file on each send (a file that changed between build and send would then
//! go out as it is then, but the length check and the builder's errors would come late) or to
//! send it chunked (no length to get wrong, but refused by the servers above). A file that is
//! no longer that long when it is sent fails the request with an [`Error::Io`] naming the file,
//! rather than sending a body that does not match its length: a file that grew would be cut
//! short without a word, one that shrank would leave the server waiting.
//!
//! # Sends
//!
//! Each send opens the files again and reads them from the start: a redirect that keeps the
//! body (307, 308), the one resend on a fresh connection and a retry each send the whole body,
//! as they do for a body in memory. A file is opened only when the body reaches it, so a
//! multipart form of many files holds one open file at a time. A cancel ends the upload at
//! the next read.
//!
//! An error reading a file is the caller's to fix, not the network's: it is never retried or
//! resent (see [`is_local_error`]).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ureq::http::Uri;

use crate::download::{file_io_error, FileError};
use crate::progress::ProgressCounter;
use crate::url::redact_url;
use crate::Error;
#[cfg(doc)]
use crate::{Multipart, RequestBuilder};

/// A request's body as the session sends it.
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    /// Held in memory: JSON, a form, raw bytes, a multipart form of bytes only. Shared, so
    /// that a copy of the request kept for another attempt copies no body.
    Bytes(Arc<Vec<u8>>),
    /// Pieces in memory, files on the disk and readers of the caller's, sent one after the
    /// other.
    Pieces(Vec<Piece>),
}

/// A reader that the first send takes; a copy of the request (for a reconnect) shares it,
/// and finds it gone.
#[derive(Clone)]
pub(crate) struct OnceReader(Arc<Mutex<Option<Box<dyn Read + Send>>>>);

impl OnceReader {
    pub(crate) fn new(reader: impl Read + Send + 'static) -> Self {
        OnceReader(Arc::new(Mutex::new(Some(Box::new(reader)))))
    }

    fn take(&self) -> Option<Box<dyn Read + Send>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn is_taken(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_none()
    }
}

impl fmt::Debug for OnceReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnceReader")
    }
}

/// A part of a [`Payload::Pieces`] body.
#[derive(Clone, Debug)]
pub(crate) enum Piece {
    Bytes(Vec<u8>),
    /// A file and its length when the request was built.
    File {
        path: PathBuf,
        len: u64,
    },
    /// A reader of the caller's, and its length if the caller gave one: sent once.
    Reader {
        reader: OnceReader,
        len: Option<u64>,
        /// The name of the form part it is ([`Multipart::file_reader`]); `None` for a whole
        /// body ([`RequestBuilder::body_reader`]).
        part: Option<String>,
    },
}

impl Piece {
    /// The file at `path` and its length now. An error names the file: it does not exist, it
    /// cannot be opened for reading, or it is not a regular file whose length says what it
    /// holds (a directory, a pipe, a device, a `/proc` file).
    pub(crate) fn file(path: PathBuf) -> Result<Piece, Error> {
        let fail = |e| {
            Err(Error::Io(file_io_error(
                "reading the request body's file",
                &path,
                e,
            )))
        };
        let refuse = |why: &str| {
            let e = io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
            fail(e)
        };
        let meta = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => return refuse("it is a directory"),
            // Checked before it is opened: opening a pipe waits for a writer.
            Ok(meta) if !meta.is_file() => return refuse(UNSIZED),
            Ok(meta) => meta,
            Err(e) => return fail(e),
        };
        // Opened (and closed) now, so that a file this process may not read fails here,
        // before anything is sent.
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) => return fail(e),
        };
        // A file that says it is empty but is not (`/proc` files say so) would go as an empty
        // body. (`/sys` files say 4096 bytes whatever they hold, and fail when sent.)
        if meta.len() == 0 && matches!(file.read(&mut [0]), Ok(n) if n > 0) {
            return refuse(UNSIZED);
        }
        Ok(Piece::File {
            len: meta.len(),
            path,
        })
    }

    /// Its length in bytes; `None` for a reader whose length was not given.
    fn len(&self) -> Option<u64> {
        match self {
            Piece::Bytes(bytes) => Some(bytes.len() as u64),
            Piece::File { len, .. } => Some(*len),
            Piece::Reader { len, .. } => *len,
        }
    }
}

impl Payload {
    /// The body's length in bytes; `None` for a reader whose length was not given.
    pub(crate) fn len(&self) -> Option<u64> {
        match self {
            Payload::Bytes(bytes) => Some(bytes.len() as u64),
            // A sum past `u64::MAX` (readers of huge lengths) is no length: the body goes
            // chunked. A form refuses it when it is encoded.
            Payload::Pieces(pieces) => pieces
                .iter()
                .try_fold(0u64, |sum, piece| sum.checked_add(piece.len()?)),
        }
    }

    /// Whether the body can be sent again (a retry, a resend, a 307): not when it has a
    /// reader of the caller's.
    pub(crate) fn replayable(&self) -> bool {
        self.readers().next().is_none()
    }

    /// The body's readers: each one, its length, and the form part it is.
    fn readers(&self) -> impl Iterator<Item = (&OnceReader, Option<u64>, Option<&str>)> {
        let pieces = match self {
            Payload::Pieces(pieces) => &pieces[..],
            Payload::Bytes(_) => &[],
        };
        pieces.iter().filter_map(|piece| match piece {
            Piece::Reader { reader, len, part } => Some((reader, *len, part.as_deref())),
            _ => None,
        })
    }

    /// Why the body cannot be sent again, with the fix, when it cannot: the end of a sentence
    /// that starts with what would send it again.
    pub(crate) fn why_not_replayable(&self) -> Option<String> {
        let (_, _, part) = self.readers().next()?;
        Some(match part {
            None => "a body_reader's body can be sent once only: give the body with body() or \
                     body_file()"
                .to_string(),
            Some(part) => format!(
                "form part {part:?} is read from a reader, which can be sent once only: give \
                 the part with file() or file_path()"
            ),
        })
    }

    /// The name of the first form part read from a reader whose length was not given.
    pub(crate) fn unsized_part(&self) -> Option<&str> {
        self.readers()
            .find_map(|(_, len, part)| part.filter(|_| len.is_none()))
    }

    /// Fails, before anything is sent, when a reader of the body was taken by an earlier send
    /// (of a copy of the same form): the request would go out cut after the parts before it.
    pub(crate) fn check_unsent(&self, uri: &Uri) -> io::Result<()> {
        match self.readers().find(|(reader, ..)| reader.is_taken()) {
            Some((_, _, part)) => Err(body_error(
                uri,
                "reading",
                Source::Reader(part),
                spent(part),
            )),
            None => Ok(()),
        }
    }
}

/// A body being sent through a reader: its pieces in order, each file opened when reached,
/// and what has been read of them counted for
/// [`Pending::upload_progress`](crate::Pending::upload_progress).
pub(crate) struct Upload<'a> {
    rest: std::slice::Iter<'a, Piece>,
    current: Current<'a>,
    /// What is left to send of a body of known length.
    left: Option<u64>,
    /// The URL the body is sent to, for the errors (redacted when one is made).
    uri: &'a Uri,
    counter: Option<&'a ProgressCounter>,
}

enum Current<'a> {
    Bytes(&'a [u8]),
    /// A file, or the caller's reader; with a length, `left` counts down from it.
    Stream {
        source: Box<dyn Read + Send>,
        from: Source<'a>,
        len: Option<u64>,
        left: u64,
        /// The file as opened, for its length now (not the path's: a file renamed over it
        /// while it is sent does not change what is sent).
        opened: Option<File>,
    },
    /// A reader that an earlier send took (of the form part it is).
    Spent(Option<&'a str>),
}

/// Where a [`Current::Stream`] reads from, for its errors.
#[derive(Clone, Copy)]
enum Source<'a> {
    File(&'a Path),
    /// A reader: the whole body's, or a form part's (its name).
    Reader(Option<&'a str>),
}

impl<'a> Upload<'a> {
    /// `payload` sent to `uri`, counted into `counter` (which starts over at 0 of its length).
    pub(crate) fn new(
        payload: &'a Payload,
        uri: &'a Uri,
        counter: Option<&'a ProgressCounter>,
    ) -> Self {
        let len = payload.len();
        if let Some(counter) = counter {
            counter.start(len);
        }
        let (rest, current) = match payload {
            Payload::Bytes(bytes) => ([].iter(), Current::Bytes(bytes)),
            Payload::Pieces(pieces) => (pieces.iter(), Current::Bytes(&[])),
        };
        Upload {
            rest,
            current,
            left: len,
            uri,
            counter,
        }
    }

    /// Counts `n` bytes handed on.
    fn sent(&mut self, n: usize) -> io::Result<usize> {
        if let Some(counter) = self.counter {
            counter.add(n as u64);
        }
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(n as u64);
        }
        Ok(n)
    }

    /// What ureq pulls once the server has answered early and the connection drops the rest
    /// of the request unsent: the length that is left, without reading the files or the
    /// reader (a large file would be read to its end for nothing) and without counting it as
    /// sent. A body of unknown length ends at once.
    fn skip(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = &mut self.left else {
            return Ok(0);
        };
        let n = usize::try_from(*left).map_or(buf.len(), |l| l.min(buf.len()));
        *left -= n as u64;
        Ok(n)
    }

    /// An error of `from`, saying which request's body it is: `doing` the request body for
    /// URL from PATH (or from its reader) failed.
    fn error(&self, doing: &str, from: Source<'_>, e: io::Error) -> io::Error {
        body_error(self.uri, doing, from, e)
    }

    /// Reads from the current file or reader, held to its length: one that ends short fails
    /// the request rather than sending a body that its length does not describe (ureq would
    /// wait for the missing bytes for ever). Nothing past the length is read, as `Read::take`
    /// reads: a check for more would block on a socket or a pipe that holds the length and
    /// stays open (a proxy's body, stdin), before the last bytes are sent.
    fn read_stream(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Current::Stream {
            source,
            from,
            len,
            left,
            opened,
        } = &mut self.current
        else {
            return Ok(0);
        };
        let (from, len, sent) = (*from, *len, len.map_or(0, |len| len - *left));
        let want = match len {
            Some(_) => usize::try_from(*left).map_or(buf.len(), |l| l.min(buf.len())),
            None => buf.len(),
        };
        let n = loop {
            match source.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.error("reading", from, e)),
                Ok(n) => break n,
            }
        };
        // A file's length now, to name in the error of a file that changed (`sent` if it
        // cannot be read).
        let file_len = |opened: &Option<File>| {
            opened
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map_or(sent, |m| m.len())
        };
        match len {
            Some(len) if n == 0 => {
                let (doing, now) = match from {
                    Source::File(_) => ("sending", file_len(opened)),
                    Source::Reader(_) => ("reading", sent),
                };
                Err(self.error(doing, from, short(from, len, now)))
            }
            Some(len) => {
                *left -= n as u64;
                // The last bytes of a file: one that grew since it was opened would be cut
                // short without a word, so it fails the request (before these bytes go out).
                if let (0, Source::File(_)) = (*left, from) {
                    let now = file_len(opened);
                    if now > len {
                        return Err(self.error("sending", from, short(from, len, now)));
                    }
                }
                self.sent(n)
            }
            None => self.sent(n),
        }
    }

    /// Opens the next file and checks that it still has the length the request was built
    /// with.
    fn open(&self, path: &'a Path, len: u64) -> io::Result<Current<'a>> {
        let from = Source::File(path);
        let file = File::open(path).map_err(|e| self.error("opening", from, e))?;
        let now = file
            .metadata()
            .map_err(|e| self.error("checking", from, e))?
            .len();
        if now != len {
            return Err(self.error("sending", from, short(from, len, now)));
        }
        let opened = file.try_clone().ok();
        Ok(Current::Stream {
            source: Box::new(file),
            from,
            len: Some(len),
            left: len,
            opened,
        })
    }
}

/// Why a file whose length is not known is refused, and what to do instead.
const UNSIZED: &str = "it is not a regular file whose length is known (a pipe, a device, a \
                       /proc file): send it with body_reader(File::open(path)?, None), or in a \
                       form with file_reader(name, filename, type, File::open(path)?, None)";

/// `from` has `now` bytes where the request was built with `len` (its `Content-Length`): a file
/// that changed, or a reader that ended after `now`.
fn short(from: Source<'_>, len: u64, now: u64) -> io::Error {
    let why = match from {
        Source::File(_) => format!(
            "the file has {now} bytes, but the request was built when it had {len} \
             (its Content-Length): build the request again once the file is written"
        ),
        Source::Reader(None) => format!(
            "it ended after {now} bytes, but the request was built with a length of {len} \
             (its Content-Length)"
        ),
        Source::Reader(Some(_)) => {
            format!("it ended after {now} bytes, but the part was given a length of {len}")
        }
    };
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// The error of sending the body to `uri`, `doing` what from `from`, naming both.
fn body_error(uri: &Uri, doing: &str, from: Source<'_>, e: io::Error) -> io::Error {
    let url = redact_url(&uri.to_string());
    let what = format!("{doing} the request body for {url} from");
    match from {
        Source::File(path) => file_io_error(&what, path, e),
        Source::Reader(None) => file_io_error(&what, Path::new("its reader"), e),
        Source::Reader(Some(part)) => {
            let reader = format!("the reader of form part {part:?}");
            file_io_error(&what, Path::new(&reader), e)
        }
    }
}

/// Why a reader taken by an earlier send fails this one, with the fix.
fn spent(part: Option<&str>) -> io::Error {
    let why = match part {
        None => {
            "it was sent already, and a reader cannot be sent again: give a body that can \
                 be (body_file, body) to a request that may be sent twice"
        }
        Some(_) => {
            "it was sent already (by another copy of the form), and a reader cannot be \
                    sent again: give the part with file_path() or file() to send the form twice"
        }
    };
    io::Error::new(io::ErrorKind::InvalidInput, why)
}

impl Read for Upload<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if crate::exec::is_cancelled() {
            return Err(Error::Cancelled.into_io());
        }
        if crate::transport::send_broken() {
            return self.skip(buf);
        }
        loop {
            match &mut self.current {
                Current::Bytes(bytes) if !bytes.is_empty() => {
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    *bytes = &bytes[n..];
                    return self.sent(n);
                }
                Current::Stream { len, left, .. } if len.is_none() || *left > 0 => {
                    match self.read_stream(buf)? {
                        // The end of a reader of unknown length: on to the next piece.
                        0 => {}
                        n => return Ok(n),
                    }
                }
                Current::Spent(part) => {
                    let part = *part;
                    return Err(self.error("reading", Source::Reader(part), spent(part)));
                }
                _ => {}
            }
            self.current = match self.rest.next() {
                None => return Ok(0),
                Some(Piece::Bytes(bytes)) => Current::Bytes(bytes),
                Some(Piece::File { path, len }) => self.open(path, *len)?,
                Some(Piece::Reader { reader, len, part }) => match reader.take() {
                    Some(source) => Current::Stream {
                        source,
                        from: Source::Reader(part.as_deref()),
                        len: *len,
                        left: len.unwrap_or(0),
                        opened: None,
                    },
                    None => Current::Spent(part.as_deref()),
                },
            };
        }
    }
}

/// Whether `e` is about a local file (one of the body's, or a download's) or the body's
/// reader, not the network: such an error is not retried, resent or given a network location.
pub(crate) fn is_local_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<FileError>())
}
