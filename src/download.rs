//! `Download`: a response body streamed to a file on the worker, never held in memory.
//!
//! # Writing
//!
//! The body goes to `<path>.part` in the target's directory, in blocks of [`BLOCK`] bytes, and
//! only a complete body is renamed to `path`. The rename is atomic within one directory (POSIX
//! `rename`, `MoveFileEx` on Windows), so a reader of `path` sees the old file or the new one,
//! never a mix, and nothing half-written ever sits under the final name: on any failure (a
//! non-2xx status, a timeout, a cut connection, a full disk, a panic) the part file is removed
//! and the handle's error says why. The file's data is flushed to the disk (`sync_all`) before
//! the rename, so that a crash right after it cannot leave an empty or partial file under the
//! final name either.
//!
//! # When the target exists
//!
//! It is replaced. The options were to replace it or to fail with `AlreadyExists`. requests
//! users write `open(path, "wb")`, which truncates, and `curl -o` and `wget -O` overwrite too;
//! a re-run of a fetch script is expected to refresh its files, not to stop at the first one it
//! already has. Replacing by rename is also safe in a way that truncating is not: until the new
//! body is complete the old file stays intact. Check `path.exists()` first to keep a file.
//!
//! Two downloads to the same path at the same time share one part file: that is not supported.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ureq::http;

use crate::pending::Pending;
use crate::request::{execute, Budget, RequestBuilder};
use crate::Error;

/// Bytes read from the socket and written to the file at a time.
const BLOCK: usize = 64 * 1024;

impl RequestBuilder {
    /// Streams the response body into the file at `path` on the worker, without holding it in
    /// memory, and resolves when the file is complete: the body is written to `<path>.part` and
    /// renamed to `path` only once it is whole (see [`Download`] for the guarantees). An
    /// existing file at `path` is replaced, as requests users writing `open(path, "wb")` expect;
    /// until the new body is complete the old file stays intact.
    ///
    /// A status outside 2xx is [`Error::Status`] (with the start of the body) and writes nothing.
    /// Redirects and retries happen as for [`send`](RequestBuilder::send). Timeouts are those of
    /// [`send_streaming`](RequestBuilder::send_streaming): the
    /// [`timeout`](RequestBuilder::timeout) bounds the wait for the headers, and the
    /// [`read_timeout`](RequestBuilder::read_timeout) each silence of the server while the body
    /// is read (a total budget would cut a large file on a slow link).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/data.csv", "text/csv", "a,b\n1,2\n")]);
    /// # let dir = std::env::temp_dir().join(format!("ureq-futures-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::new();
    /// let path = dir.join("data.csv");
    /// let done = session.get(format!("{base}/data.csv")).download(&path).result()?;
    /// assert_eq!(done.bytes(), 8);
    /// assert_eq!(std::fs::read_to_string(done.path())?, "a,b\n1,2\n");
    ///
    /// let missing = session.get(format!("{base}/nope")).download(dir.join("nope")).result();
    /// assert_eq!(missing.unwrap_err().status(), Some(404));
    /// assert!(!dir.join("nope").exists() && !dir.join("nope.part").exists());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn download(self, path: impl Into<PathBuf>) -> Pending<Download> {
        let path = path.into();
        self.submit(true, move |agent, settings, spec, done| {
            let result = execute(agent, settings, spec, Budget::Stream)
                .and_then(|resp| write_body(resp, path));
            done.complete(result);
        })
    }
}

/// A finished download: the body is complete under [`path`](Download::path). Made by
/// [`RequestBuilder::download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    path: PathBuf,
    bytes: u64,
    status: u16,
}

impl Download {
    /// Where the body is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The body's length in bytes, as written (after any content decoding).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The HTTP status code (2xx).
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// `<path>.part`, in the same directory (so that the rename cannot cross file systems).
pub(crate) fn part_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".part");
    PathBuf::from(name)
}

/// Removes the part file unless the download completed: on errors, and on a panic unwinding
/// through the job.
struct PartFile {
    path: PathBuf,
    kept: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.kept {
            // Nothing more to do if it is already gone; the job's own error says what failed.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// An I/O error on the local file, naming the file.
fn file_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::Io(io::Error::new(
        e.kind(),
        FileError {
            what: format!("{what} {}", path.display()),
            source: e,
        },
    ))
}

/// The cause of a file error, with what was being done to which file.
#[derive(Debug)]
struct FileError {
    what: String,
    source: io::Error,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.what, self.source)
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn write_body(mut resp: http::Response<ureq::Body>, path: PathBuf) -> Result<Download, Error> {
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let mut start = Vec::new();
        // The start of the body explains the error; a failed read leaves it shorter.
        let _ = resp
            .body_mut()
            .as_reader()
            .take(crate::error::STATUS_BODY_EXCERPT as u64)
            .read_to_end(&mut start);
        let (parts, _) = resp.into_parts();
        return Err(Error::status_from(status, parts.headers, &start));
    }
    let part = PartFile {
        path: part_path(&path),
        kept: false,
    };
    let mut file = File::create(&part.path).map_err(|e| file_error("create", &part.path, e))?;
    let mut body = resp.into_body().into_reader();
    let mut buf = vec![0; BLOCK];
    let mut bytes = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::from(e)),
        };
        file.write_all(&buf[..n])
            .map_err(|e| file_error("write", &part.path, e))?;
        bytes += n as u64;
    }
    file.sync_all()
        .map_err(|e| file_error("sync", &part.path, e))?;
    drop(file);
    std::fs::rename(&part.path, &path).map_err(|e| {
        let what = format!("rename {} to", part.path.display());
        file_error(&what, &path, e)
    })?;
    let mut part = part;
    part.kept = true;
    Ok(Download {
        path,
        bytes,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_file_sits_beside_the_target_with_the_whole_name_kept() {
        assert_eq!(
            part_path(Path::new("/tmp/a/file.tar.gz")),
            Path::new("/tmp/a/file.tar.gz.part")
        );
        assert_eq!(part_path(Path::new("x")), Path::new("x.part"));
    }

    #[test]
    fn file_errors_keep_the_kind_and_name_the_file() {
        let e = file_error(
            "write",
            Path::new("/data/out.bin.part"),
            io::Error::new(io::ErrorKind::StorageFull, "No space left on device"),
        );
        match &e {
            Error::Io(io) => assert_eq!(io.kind(), io::ErrorKind::StorageFull),
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("write /data/out.bin.part failed: No space left"),
            "{text}"
        );
    }
}
