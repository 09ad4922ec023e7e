//! `Download`: a response body streamed to a file on the worker, never held in memory.
//!
//! # Writing
//!
//! The body goes to `<path>.part` in the target's directory, in blocks of [`BLOCK`] bytes, and
//! only a complete body is renamed to `path`. The rename is atomic within one directory (POSIX
//! `rename`, `MoveFileEx` on Windows), so a reader of `path` sees the old file or the new one,
//! never a mix, and nothing half-written ever sits under the final name: on any failure (a
//! non-2xx status, a timeout, a cut connection, a full disk, a cancel, a panic) the part file
//! is removed and the handle's error says why. The file's data is flushed to the disk
//! (`sync_all`) before the rename, so that a crash right after it cannot leave an empty or
//! partial file under the final name either.
//!
//! # Ranges
//!
//! A 206 answer is part of a file: its `Content-Range` says where. It is written after the bytes
//! before that place, copied from the file already at `path` into the part file, so that `Range:
//! bytes=<length>-` completes a file that is shorter than the server's (one another tool left cut,
//! or one that has grown) and the result still lands whole, by one rename. (A download this module
//! cut leaves no partial file behind to resume from: its part file is removed, and the file at
//! `path` stays as it was; within one download, a retry policy resumes a cut body, below.) The body is written first, at its place in the part file, and the
//! earlier bytes are copied in front of it once it is whole: copied first, a file of many GB kept
//! the answer unread for minutes, long enough for the server to drop the connection. They are the
//! bytes of the file at `path` when the answer came, opened then: another download that lands there
//! meanwhile gives this one nothing. A cancel stops the copy too. The options were to write a 206
//! as if it were the whole body (a resume then replaced the file with its tail, losing the start),
//! to refuse `Range` on a download (and with it the resume of large files), or to append to the
//! file in place (a failure halfway would leave it torn). A file shorter than the range's start, a
//! 206 of several ranges or one whose body is not as long as its range writes nothing and fails; a
//! 200 (a server that ignores `Range`) replaces the file; a 416 is an [`Error::Status`] like any
//! other status outside 2xx, but for the answer to a resume of a file that is whole already
//! (below). A 206 to a request without a `Range` (a cache answering from a
//! range it holds) that is not the whole file writes nothing and fails: the request asked for
//! the whole file, and it would land cut, or in the middle of the bytes of the file at `path`.
//!
//! A 204 or 205 ("No Content") has no body to write: the file at `path` stays as it was (none if
//! there was none), as wget leaves it, and the download resolves with status 204. A HEAD
//! request, whose answer never has a body, is refused before it is sent.
//!
//! A 304 to a conditional request (`If-None-Match`, `If-Modified-Since`) says the file at
//! `path` is current: nothing is written, and the download resolves with that file and status
//! 304. Without a file at `path`, or to a request that asked nothing of the kind, a 304 is an
//! [`Error::Status`] like other statuses outside 2xx.
//!
//! A 416 to a resume (`Range: bytes=S-`) whose `Content-Range: bytes */S` says that the file
//! is `S` bytes long, as long as the file at `path`, says that file is whole: nothing is
//! written, and the download resolves with that file and status 416, as `wget -c` reports a
//! file already fully retrieved. A script that resumes its downloads can run again over files
//! it finished. Without that agreement (no `Content-Range`, another length, a file of another
//! length at `path`), a 416 is an [`Error::Status`].
//!
//! A range that runs to the end of the file (`bytes=S-`, as a resume asks, or `bytes=-N`)
//! answered with less than the rest of a file whose length the answer gives (`Content-Range:
//! bytes 4-6/10`: some servers cap each answer at a few MB) writes nothing and fails too, with
//! an [`Error::Protocol`] that says so: written as it came, the file would land under its name
//! without its end, under a handle that says it is done. A range that names its end is the
//! caller's to complete, and is written as it comes.
//!
//! # Resuming a cut body
//!
//! Under a retry policy that retries the request (the request's or the session's; a GET
//! without a body, as ranges are a GET's), a body cut midway (a reset, an early end, a
//! `read_timeout` that ran out: the failures the policy retries) is asked for again from the
//! byte where it stopped, into the same part file, as wget does: `Range: bytes=<that byte>-`
//! (up to the last byte the download wants: the end of the file, or of the caller's own
//! range, as far as the answers so far gave it), with `If-Range` set to the first answer's
//! strong `ETag`, else its `Last-Modified` when that is a minute or more before the answer's
//! `Date` (RFC 9110 §8.8.2.2: a file rewritten within the second keeps its date). A file that
//! changed in the second its answer was made (`Last-Modified` is the `Date`) is not resumed at
//! all: nginx makes its strong `ETag` of the time and the length, the same for a version of the
//! same length written in that second (Apache makes such an `ETag` weak).
//!
//! What the resume gets:
//!
//! * a 206 that starts at the cut, runs to that end and is of a file of the length the answers
//!   so far gave goes on with the file, unless its `ETag` or its `Last-Modified` is another
//!   than the first answer's (a server that ignored the `If-Range`, answering with a range of
//!   a file replaced since); its body must carry its range, or the download fails as a 206
//!   that cannot be placed does ([`Error::Protocol`]);
//! * a 416 whose `Content-Range: bytes */N` puts the file's end at the cut (a chunked body cut
//!   after its last byte) lands the file as it is; so does a cut after the last byte the
//!   download wants, without a resume;
//! * a 200 (the file changed since, so the `If-Range` no longer matched, or the server ignores
//!   ranges) starts the file over, as a first answer of 200 would;
//! * anything else, or a resume that fails to be sent, fails the download with the cut's error,
//!   saying what the resume met.
//!
//! Each resume counts as an attempt of the policy (the resume's own retries before its answer
//! come on top), and waits its backoff and its turn at the rate limiter first; a cancel ends
//! those waits.
//!
//! A download that may resume asks for its body unencoded (`Accept-Encoding: identity`): a
//! range counts the bytes as sent, and ureq decodes gzip without leaving a trace in the
//! headers, so a resume of an encoded body would join bytes of two different streams. One whose
//! request's own `Accept-Encoding` lets the server encode the body (a coding other than
//! `identity` with a weight above 0, or `*`) or refuses it unencoded (`identity;q=0`), or whose
//! answer names no validator (or a weak `ETag` alone), is not resumed, and its error says why:
//! without `If-Range`, the rest could be of another version of the file, and the file would
//! land whole in length but wrong. Without a policy, a cut fails the download at once, as
//! before.
//!
//! The options were to resume only by hand (a script that sends `Range` itself: the part file
//! is gone by then, so a cut download started over), to keep the part file for a later call to
//! adopt (which needs rules for a part file found in a shared directory, and somewhere to keep
//! the validator), or to resume within the call that holds the part file, locked, and knows the
//! validator. The last is what is done.
//!
//! # Cancelling
//!
//! A cancel and the rename are decided as one: a handle that resolves to `Cancelled` (and a
//! `cancel()` that returns `true`) means nothing new is under the final name and an older file
//! there is untouched; a body renamed into place means the handle resolves to the [`Download`]
//! (and `cancel()` returns `false`). A cancel resolves the handle at once, from the cancelling
//! thread, while the worker may be anywhere in the job. The options were:
//!
//! * check for a cancel, then rename: a cancel between the two leaves the new file in place
//!   (the old one replaced) under a handle that says `Cancelled`;
//! * rename, then undo on a cancel that came meanwhile: the old file is already gone, so the
//!   undo could only delete, not restore;
//! * rename under the lock of the handle's result (`Completer::commit`), which a cancel takes
//!   to resolve the handle: whichever comes first wins, and the other sees it.
//!
//! The last is what is done. Its cost is that a thread asking the handle for its state waits
//! for one `rename` (the `sync_all` before it is outside the lock).
//!
//! The part file of a cancelled download is removed by the worker as its job stops (the cancel
//! interrupts the copy, the job returns, the file is closed and removed): a moment after the
//! handle resolved, not before. Waiting for it in `cancel()` would make a cancel of a job stuck
//! in a write to a slow disk as slow as the write.
//!
//! # When the target exists
//!
//! It is replaced. The options were to replace it or to fail with `AlreadyExists`. requests
//! users write `open(path, "wb")`, which truncates, and `curl -o` and `wget -O` overwrite too;
//! a re-run of a fetch script is expected to refresh its files, not to stop at the first one it
//! already has. Replacing by rename is also safe in a way that truncating is not: until the new
//! body is complete the old file stays intact. Check `path.exists()` first to keep a file. The
//! new file gets the permission bits of the regular file it replaces, as writing into that file
//! would keep them (a private `0600` file stays private; set-user-ID and set-group-ID bits are not
//! handed to downloaded bytes); it has a new owner and inode, as any file replaced by rename.
//!
//! # Two downloads to one path
//!
//! Each has a part file of its own: `<path>.part`, or `<path>.1.part`, `<path>.2.part`... when
//! a running download holds the first. (A file name too long to take the suffix within 255
//! bytes is cut to make room in the part file's name.) A download makes its part file new
//! (`create_new`, with the permissions it is to have from the start) and holds it by an
//! exclusive lock ([`File::try_lock`]), so one being written is never touched, and a part file
//! left behind by a crash (unlocked) is removed and made anew. Nothing is ever written into a
//! file the download did not make, and only a regular file with no other name, at a name that
//! is the target's own with the suffix (not a cut one), that this process may remove, counts as
//! left behind: a symbolic link at the part file's name (in a shared directory such as `/tmp`,
//! anyone's) would have the body written to the file it points to, a hard link would have
//! another name's file emptied, and another user's file would hold the body as theirs; such a
//! name, like a directory or a pipe there, is passed over for the next one and left as it is.
//! On Unix, the rename checks that the part file's name still holds it: a download to
//! `<path>.part` lands there by a rename of its own, and the body it brought would otherwise be
//! taken for this one (the download fails instead, saying so; elsewhere this is not checked).
//! Each body lands whole;
//! the one that finishes last is what stays under the name. The options were to share one part
//! file (two writers interleave, and the first rename hands the second's later writes to the
//! final file), to fail the second download, or to give it its own part file; a script that
//! fetches a list in which two URLs map to one file name expects neither a corrupt file nor an
//! error.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ureq::http;
use ureq::ResponseExt;

use crate::config::Config;
use crate::exec::Completer;
use crate::phase;
use crate::progress::ProgressCounter;
use crate::retry::RetryPolicy;
use crate::run::{execute, Budget, Spec};
use crate::Error;

/// Bytes read from the socket and written to the file at a time.
const BLOCK: usize = 64 * 1024;

/// The job of [`RequestBuilder::download`](crate::RequestBuilder::download): sends the request
/// (redirects and retries included), writes the body to `path` as the module docs say, and
/// resolves the handle.
pub(crate) fn run(
    agent: &ureq::Agent,
    config: &Config,
    spec: Spec,
    path: PathBuf,
    done: Completer<Download>,
) {
    if let Err(e) = check_target(&path) {
        done.complete(Err(e));
        return;
    }
    if spec.method == http::Method::HEAD {
        done.complete(Err(Error::InvalidRequest(format!(
            "download of a HEAD request to {}: its answer has no body to write to {}; for the \
             answer's headers alone, use send()",
            crate::redact_url(&spec.url),
            path.display()
        ))));
        return;
    }
    let mut spec = spec;
    ask_identity_for_ranges(config, &mut spec);
    let resume = Resume::new(agent, config, &mut spec);
    let asked = asked_range(config, &spec);
    let conditional = [http::header::IF_NONE_MATCH, http::header::IF_MODIFIED_SINCE]
        .iter()
        .any(|name| header(config, &spec, name).is_some());
    let resume_at = header(config, &spec, &http::header::RANGE).and_then(resume_from);
    let resp = match execute(agent, config, spec, Budget::Stream) {
        // "Not Modified" to a conditional request: the file at `path` is current, and stays.
        Ok(resp) if resp.status() == 304 && conditional => {
            done.complete(not_modified(&path, resp));
            return;
        }
        // "No Content": no body, no file; the one at `path` stays, as wget leaves it.
        Ok(resp) if matches!(resp.status().as_u16(), 204 | 205) => {
            let status = resp.status().as_u16();
            done.complete(Ok(untouched(&path, status)));
            return;
        }
        // A resume of a file that is whole: it stays.
        Ok(resp) if resp.status() == 416 && resume_at.is_some() => {
            done.complete(already_whole(&path, resume_at, resp));
            return;
        }
        resp => resp,
    };
    let limiter = config.rate_limiter.as_ref();
    let written =
        resp.and_then(|resp| write_body(resp, path, asked, done.progress(), resume, limiter));
    match written {
        // A cancel that came first leaves the part file unrenamed; dropping `written` removes it.
        Ok(mut written) => {
            done.commit(|| written.rename());
        }
        Err(e) => done.complete(Err(e)),
    }
}

/// A finished download: the body is complete under [`path`](Download::path). Made by
/// [`RequestBuilder::download`](crate::RequestBuilder::download).
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/report.csv", "text/csv", "day,visits\nmon,12\n")]);
/// # let dir = std::env::temp_dir().join(format!("ureq-futures-doc-download-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let pending = session.get(format!("{base}/report.csv")).download(dir.join("report.csv"));
/// let download = pending.result()?;
/// assert_eq!(download.status(), 200);
/// assert_eq!(std::fs::read_to_string(download.path())?, "day,visits\nmon,12\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    path: PathBuf,
    bytes: u64,
    status: u16,
}

impl Download {
    /// Where the body is.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/a.txt", "text/plain", "alpha")]);
    /// # let dir = std::env::temp_dir().join(format!("ureq-futures-doc-download-path-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// use ureq_futures::FuturesSession;
    ///
    /// let target = dir.join("a.txt");
    /// let download = FuturesSession::new().get(format!("{base}/a.txt")).download(&target).result()?;
    /// assert_eq!(download.path(), target);
    /// assert!(!dir.join("a.txt.part").exists()); // only the finished file is left
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length in bytes: the body's as written (after any content decoding), plus,
    /// for a 206 answer, the bytes before its range kept from the earlier file.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/data.bin", "application/octet-stream", "0123456789")]);
    /// # let dir = std::env::temp_dir().join(format!("ureq-futures-doc-download-bytes-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// use ureq_futures::FuturesSession;
    ///
    /// let download = FuturesSession::new().get(format!("{base}/data.bin")).download(dir.join("data.bin")).result()?;
    /// println!("{} bytes written to {}", download.bytes(), download.path().display());
    /// assert_eq!(download.bytes(), 10);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The HTTP status code: 2xx (206 for a range written after the start of the earlier
    /// file), or 304 when the request was conditional (`If-None-Match`, `If-Modified-Since`)
    /// and the server said the file at [`path`](Download::path) is current, or 416 when a
    /// resume (`Range: bytes=S-`) found that file whole (see the module's "Ranges"): it is left
    /// as it was, and [`bytes`](Download::bytes) is its length. A 204 (or 205) "No Content"
    /// writes nothing either: the file at `path` stays as it was (none, if there was none), as
    /// wget leaves it, and `bytes` is its length (0 without one).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/ok", "text/plain", "fine")]);
    /// # let dir = std::env::temp_dir().join(format!("ureq-futures-doc-download-status-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let session = FuturesSession::new();
    /// let done = session.get(format!("{base}/ok")).download(dir.join("ok.txt")).result()?;
    /// assert_eq!(done.status(), 200); // 2xx (or a conditional request's 304): any other status is an error, and no file
    /// let missing = session.get(format!("{base}/missing")).download(dir.join("missing.txt")).result();
    /// assert!(matches!(missing, Err(Error::Status(ref e)) if e.status == 404));
    /// assert!(!dir.join("missing.txt").exists());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// Refuses a target that cannot be a file, before the request is sent: an empty path, one
/// that names a directory (an existing one, or any path that ends with a separator; the body
/// would be written to a part file beside it, `downloads.part`, and only the rename would
/// fail), and one that names a device, which the rename would replace.
fn check_target(path: &Path) -> Result<(), Error> {
    let refuse = |kind, why: String| Err(Error::Io(io::Error::new(kind, why)));
    if path.as_os_str().is_empty() {
        return refuse(
            io::ErrorKind::InvalidInput,
            "download to an empty path: give the path of the file to write".into(),
        );
    }
    let ends_with_separator = path
        .as_os_str()
        .to_string_lossy()
        .ends_with(std::path::is_separator);
    // A symbolic link to a directory is replaced by the rename like any file.
    let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if ends_with_separator || is_dir {
        return refuse(
            io::ErrorKind::IsADirectory,
            format!(
                "download to {}: the path names a directory: give the path of the file to \
                 write, such as {}",
                path.display(),
                path.join("file.bin").display()
            ),
        );
    }
    if is_device(path) {
        return refuse(
            io::ErrorKind::InvalidInput,
            format!(
                "download to {}: the path names a device, not a file, and a download renames \
                 a file over its path: to discard the body, read it with send_streaming() and \
                 io::copy it to io::sink()",
                path.display()
            ),
        );
    }
    Ok(())
}

/// Whether `path` is a device (`/dev/null`), or a link to one: the rename would put a regular
/// file in its place (as root, `/dev/null` itself). A pipe or a socket there is replaced as a
/// file is (and a pipe is read as the earlier bytes of a resume).
#[cfg(unix)]
fn is_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path)
        .is_ok_and(|m| m.file_type().is_char_device() || m.file_type().is_block_device())
}

#[cfg(not(unix))]
fn is_device(_: &Path) -> bool {
    false
}

/// The longest file name most file systems take, in bytes (ext4, XFS, btrfs, APFS; NTFS counts
/// 255 UTF-16 units, which is no fewer).
const NAME_MAX: usize = 255;

/// `<path>.part`, or `<path>.<n>.part` for `n > 0`, in the same directory (so that the rename
/// cannot cross file systems). A file name that leaves no room for the suffix within
/// [`NAME_MAX`] bytes is cut (at a character's start) to make room: the target's own name is
/// valid, and its part file would fail with `File name too long`.
pub(crate) fn part_path(path: &Path, n: u32) -> PathBuf {
    let suffix = if n > 0 {
        format!(".{n}.part")
    } else {
        ".part".to_string()
    };
    let name = path.file_name().and_then(|name| name.to_str());
    if let Some(name) = name.filter(|name| name.len() + suffix.len() > NAME_MAX) {
        let mut end = NAME_MAX.saturating_sub(suffix.len()).min(name.len());
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        return path.with_file_name(format!("{}{suffix}", &name[..end]));
    }
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes and locks the first part file for `path` whose name no running download holds (see the
/// module docs, "Two downloads to one path"), with the permissions of the file it replaces.
fn open_part(path: &Path) -> Result<PartFile, Error> {
    let mode = target_mode(path);
    let mut n = 0;
    loop {
        let part = part_path(path, n);
        // A name cut to make room for the suffix may be any file's (the target's own, for
        // `<250 bytes>.part`): nothing found there is taken for a part file left behind.
        let whole =
            (part.as_os_str().as_encoded_bytes()).starts_with(path.as_os_str().as_encoded_bytes());
        let claim = match part == path {
            true => Claim::Taken,
            false => claim(path, &part, whole, mode)?,
        };
        match claim {
            Claim::Taken => n += 1,
            Claim::Again => {}
            Claim::Ours(file) => {
                keep_permissions(&file, mode);
                return Ok(PartFile {
                    path: part,
                    file,
                    kept: false,
                });
            }
        }
    }
}

/// What [`claim`] found at a part file's name.
enum Claim {
    /// A part file made now for this download, open and locked.
    Ours(File),
    /// Held by a running download, or something that is not a part file: the next name.
    Taken,
    /// Changed while it was looked at (a part file left behind was removed): look again.
    Again,
}

/// Claims `part` for the download to `path`: a new file, made there by this process (with
/// `mode`, the permissions of the file it is to replace, from the start). A part file left
/// behind by a download that died (a regular file with no other name, which nobody holds
/// locked, at a name that is `path`'s own with the suffix: `left_behind`) is removed first,
/// never written into. Anything else at the name (a symbolic link, a file with other names, a
/// directory, a pipe, a file this process may not remove, such as another user's in a shared
/// directory like `/tmp`) is not a part file and is left as it is: a link at `<path>.part` would
/// have the body written to the file it points to, a hard link would have another name's file
/// emptied, another user's file would hold the body as that user's, readable and writable as
/// they chose.
fn claim(path: &Path, part: &Path, left_behind: bool, mode: Option<u32>) -> Result<Claim, Error> {
    match std::fs::symlink_metadata(part) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(part_error(path, part, e)),
        Ok(found) if left_behind && is_left_behind(&found) => return Ok(remove_left_behind(part)),
        Ok(_) => return Ok(Claim::Taken),
    }
    let mut options = File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let file = match options.open(part) {
        Ok(file) => file,
        // Made by someone else since it was looked at.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(Claim::Again),
        Err(e) => return Err(part_error(path, part, e)),
    };
    match file.try_lock() {
        // A file system without locks: the file is new, and this download's.
        Err(std::fs::TryLockError::Error(e)) if e.kind() != io::ErrorKind::Unsupported => {
            Err(file_error("lock", part, e))
        }
        // Locked between its making and this lock by a download that took it for one left
        // behind (it removes it): the next name.
        Err(std::fs::TryLockError::WouldBlock) => Ok(Claim::Taken),
        // Removed by such a download before this lock: the name is free again.
        _ if !still_at(&file, part) => Ok(Claim::Again),
        _ => Ok(Claim::Ours(file)),
    }
}

/// Removes the part file at `part`, left behind by a download that died, if nothing holds it
/// locked (a running download does) and this process may remove it: [`Claim::Again`] once the
/// name is free, [`Claim::Taken`] when it is not to be touched. Opened to read, for the lock
/// only: nothing is written into a file this process did not make.
fn remove_left_behind(part: &Path) -> Claim {
    let file = match File::open(part) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Claim::Again,
        Err(_) => return Claim::Taken,
    };
    match file.try_lock() {
        // Held, or on a file system without locks, where a running download cannot be told
        // from a dead one: left alone.
        Err(_) => Claim::Taken,
        Ok(()) if !still_at(&file, part) => Claim::Again,
        Ok(()) => match std::fs::remove_file(part) {
            Ok(()) => Claim::Again,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Claim::Again,
            Err(_) => Claim::Taken,
        },
    }
}

/// Whether what `found` describes can be a part file left behind: a regular file (not a link to
/// one) with no other name.
fn is_left_behind(found: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    let one_name = std::os::unix::fs::MetadataExt::nlink(found) == 1;
    #[cfg(not(unix))]
    let one_name = true;
    found.file_type().is_file() && one_name
}

/// The permission bits of the regular file at `path` that the download is to replace, as
/// writing into that file would keep them (a private `0600` file would become readable by all
/// through a rename): the part file is made with them. Only the permission bits: set-user-ID
/// and set-group-ID are not handed to downloaded bytes. `None` when there is no such file (the
/// part file gets the default), and off Unix, where permissions are not modes (a read-only flag
/// would make the rename fail).
fn target_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let old = std::fs::symlink_metadata(path).ok()?;
        old.file_type()
            .is_file()
            .then(|| old.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Sets `mode` on the part file exactly: it was made with it, less the bits the umask took
/// away. A failure keeps what it has (the download is not refused for it).
fn keep_permissions(file: &File, mode: Option<u32>) {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (file, mode);
}

/// Whether `path` still names the open `file` (and not a link to it).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Whether `path` still names the open `file`: not known here, so assumed.
#[cfg(not(unix))]
fn still_at(_: &File, _: &Path) -> bool {
    true
}

/// The part file, open and locked. Removes it unless the download completed (on errors, and on
/// a panic unwinding through the job) before it closes the file, so that the lock is held until
/// the name is free.
struct PartFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        // A name that is no longer this file's (another program's, or another download's that
        // landed there) is not removed.
        if !self.kept && still_at(&self.file, &self.path) {
            // Nothing more to do if it is already gone; the job's own error says what failed.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The fix for a file that cannot be created at `path` (`NotFound`) because its directory does
/// not exist, when that is why.
pub(crate) fn missing_directory(path: &Path) -> Option<String> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty())?;
    (!dir.exists()).then(|| {
        format!(
            "the directory {} does not exist: create it first (std::fs::create_dir_all)",
            dir.display()
        )
    })
}

/// An I/O error on the local file, naming the file.
fn file_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::Io(file_io_error(what, path, e))
}

/// The failure to create `part`, the part file of a download to `path`: the error names both,
/// and the fix for a directory that does not exist or may not be written to.
fn part_error(path: &Path, part: &Path, e: io::Error) -> Error {
    let dir = match part.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let hint = match e.kind() {
        io::ErrorKind::NotFound => missing_directory(part),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => Some(format!(
            "the download writes its part file in {}, the target's directory: download to a \
             directory this process may write to",
            dir.display()
        )),
        _ => None,
    };
    let what = format!(
        "create {} (the part file of the download to {})",
        part.display(),
        path.display()
    );
    let kind = e.kind();
    Error::Io(io::Error::new(
        kind,
        FileError {
            what,
            source: e,
            hint,
        },
    ))
}

/// An I/O error on a local file (a download's or a request body's), naming the file: `what`
/// was being done to it.
pub(crate) fn file_io_error(what: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        FileError {
            what: format!("{what} {}", path.display()),
            source: e,
            hint: None,
        },
    )
}

/// The cause of a file error, with what was being done to which file.
#[derive(Debug)]
pub(crate) struct FileError {
    what: String,
    source: io::Error,
    /// The fix, when there is an obvious one.
    hint: Option<String>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.what, self.source)?;
        match &self.hint {
            Some(hint) => write!(f, "; {hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A complete body in its part file, synced to the disk, not yet under its final name.
struct Written {
    part: PartFile,
    path: PathBuf,
    bytes: u64,
    status: u16,
}

impl Written {
    /// Renames the part file to the final name. Run under the handle's lock (see the module
    /// docs, "Cancelling"): one `rename`, nothing slow.
    fn rename(&mut self) -> Result<Download, Error> {
        // The name is checked to be the part file's still: a download to `<path>.part` lands
        // there by a rename of its own, and this rename would take that file for this body.
        if !still_at(&self.part.file, &self.part.path) {
            return Err(Error::Io(io::Error::other(format!(
                "rename {} to {} failed: that name no longer holds this download's part file \
                 (another program or download replaced or removed it while the body was \
                 written): nothing was renamed",
                self.part.path.display(),
                self.path.display()
            ))));
        }
        std::fs::rename(&self.part.path, &self.path).map_err(|e| {
            let what = format!("rename {} to", self.part.path.display());
            file_error(&what, &self.path, e)
        })?;
        self.part.kept = true;
        Ok(Download {
            path: self.path.clone(),
            bytes: self.bytes,
            status: self.status,
        })
    }
}

/// `asked`: what of the file the request asks for (see [`asked_range`]); `resume`: how to ask
/// for the rest of a body cut midway, when a retry policy allows it.
fn write_body(
    resp: http::Response<ureq::Body>,
    path: PathBuf,
    asked: Asked,
    progress: &ProgressCounter,
    mut resume: Option<Resume<'_>>,
    limiter: Option<&crate::RateLimiter>,
) -> Result<Written, Error> {
    let mut status = resp.status().as_u16();
    if !resp.status().is_success() {
        return Err(crate::run::status_error(resp, limiter));
    }
    let mut url = resp.get_uri().to_string();
    // The range a 206 carries, and the length of the file it says it is of.
    let (mut range, range_of) = if status == 206 {
        let placed = content_range(resp.headers()).and_then(|(start, end, total)| {
            let at_the_end = total.is_some_and(|t| end.checked_add(1) == Some(t));
            let of = || total.map_or("an unknown length".into(), |t| t.to_string());
            match asked {
                Asked::ToTheEnd if total.is_some() && !at_the_end => Err(format!(
                    "it carries bytes {start}-{end} of {}, not the rest of the file that the \
                     request's Range asked for (the file would land cut short): this server \
                     answers in parts, so ask for each with a Range that names its end \
                     (bytes={start}-{end}, then bytes={}-...)",
                    of(),
                    end + 1
                )),
                // A partial answer to a request for the whole file (a cache that answers
                // from a range it holds, a broken server) would land as the file, cut.
                Asked::Whole if start > 0 || !at_the_end => Err(format!(
                    "it carries bytes {start}-{end} of {}, but the request had no Range: it \
                     asked for the whole file, which would land cut short (or in the middle of \
                     another file's bytes)",
                    of()
                )),
                _ => Ok((start, end, total)),
            }
        });
        let (start, end, total) = placed.map_err(|why| {
            Error::Protocol(format!(
                "the 206 answer from {} cannot be written to a file: {why}",
                crate::redact_url(&url)
            ))
        })?;
        (Some((start, end)), total)
    } else {
        (None, None)
    };
    let mut part = open_part(&path)?;
    // A 206 goes after the bytes before its range, kept from the file already at `path`: the
    // body is written in its place first, and those bytes copied before it once it is whole.
    let (mut kept, mut earlier) = match range {
        Some((start, _)) if start > 0 => {
            let earlier = open_earlier(&path, start)?;
            part.file
                .seek(SeekFrom::Start(start))
                .map_err(|e| file_error("seek in", &part.path, e))?;
            (start, earlier)
        }
        _ => (0, None),
    };
    let (parts, body) = resp.into_parts();
    let announced = crate::body::announced_length(&parts.headers, &body);
    progress.start(announced);
    // The last byte of the file that the download is to hold, and the file's length, when the
    // answer says: a resume asks for the rest up to that byte, of a file of that length.
    let mut last = match range {
        Some((_, end)) => Some(end),
        None => announced.and_then(|n| n.checked_sub(1)),
    };
    let mut total = if range.is_some() { range_of } else { announced };
    let mut version = Version::of(&parts.headers);
    let mut body = phase::Placed::new(body.into_reader(), url.clone(), &parts, announced);
    let mut buf = vec![0; BLOCK];
    let mut bytes = kept;
    // The range of the last resume's answer, checked once the body ends.
    let mut resumed = None;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let cut = Error::from(e);
                let Some(resume) = resume.as_mut() else {
                    return Err(cut);
                };
                let asked = Asking {
                    version: &version,
                    at: bytes,
                    last,
                    total,
                };
                let (resp, placed) = match resume.rest(cut, asked)? {
                    Rest::Range(resp, end, length) => {
                        // Held to what it said, as later resumes are.
                        (last, total) = (last.or(Some(end)), total.or(length));
                        (resp, Some(end))
                    }
                    Rest::Whole(resp) => (resp, None),
                    // Nothing was missing: the cut came after the file's last byte.
                    Rest::Complete => break,
                };
                url = resp.get_uri().to_string();
                let (parts, next) = resp.into_parts();
                let length = crate::body::announced_length(&parts.headers, &next);
                match placed {
                    // The validator stays the first answer's, which the range's matched.
                    Some(end) => resumed = Some((bytes, end)),
                    // A 200: the file changed since (or the server ignores ranges), and comes
                    // whole, as a first answer of 200 would.
                    None => {
                        part.file
                            .set_len(0)
                            .and_then(|()| part.file.seek(SeekFrom::Start(0)))
                            .map_err(|e| file_error("empty", &part.path, e))?;
                        (status, bytes, kept, earlier, range, resumed) =
                            (200, 0, 0, None, None, None);
                        last = length.and_then(|n| n.checked_sub(1));
                        total = length;
                        version = Version::of(&parts.headers);
                        progress.start(length);
                    }
                }
                body = phase::Placed::new(next.into_reader(), url.clone(), &parts, length);
                continue;
            }
        };
        part.file
            .write_all(&buf[..n])
            .map_err(|e| file_error("write", &part.path, e))?;
        bytes += n as u64;
        progress.add(n as u64);
    }
    // A first answer's range, then a resume's, carried what it said.
    let placed = [
        range.map(|(start, end)| (start, end, kept)),
        resumed.map(|(start, end)| (start, end, start)),
    ];
    for (start, end, from) in placed.into_iter().flatten() {
        let got = bytes - from;
        // `end - start + 1` overflows for the range 0-18446744073709551615.
        if got.checked_sub(1) != Some(end - start) {
            return Err(Error::Protocol(format!(
                "the 206 answer from {} carried {got} bytes for the range {start}-{end}",
                crate::redact_url(&url)
            )));
        }
    }
    if kept > 0 {
        keep_start(&path, earlier, kept, &mut part, &mut buf)?;
    }
    part.file
        .sync_all()
        .map_err(|e| file_error("sync", &part.path, e))?;
    Ok(Written {
        part,
        path,
        bytes,
        status,
    })
}

/// The resumes of a body cut midway (see the module docs, "Resuming a cut body"): the request
/// to send again for the rest, and the policy that allows it.
struct Resume<'a> {
    agent: &'a ureq::Agent,
    config: &'a Config,
    spec: Spec,
    policy: RetryPolicy,
    /// Attempts at the body so far: the first answer's, then one a resume.
    attempt: u32,
    /// Why no resume is possible although the policy allows one.
    barred: Option<String>,
}

impl<'a> Resume<'a> {
    /// The resumes of the download `spec` asks for, when it is a GET (ranges are a GET's) that
    /// its retry policy retries; `None` otherwise. Such a download asks for the body unencoded,
    /// unless the request names another `Accept-Encoding` itself (then it is not resumed): a
    /// range counts the bytes as sent.
    fn new(agent: &'a ureq::Agent, config: &'a Config, spec: &mut Spec) -> Option<Resume<'a>> {
        let policy = spec.retry.as_deref().or(config.retry.as_ref())?;
        let get = spec.method == http::Method::GET && spec.body.is_none();
        if !get || !policy.allows(&spec.method, spec.idempotent) {
            return None;
        }
        let policy = policy.clone();
        let accepted = header(config, spec, &http::header::ACCEPT_ENCODING)
            .map(|v| String::from_utf8_lossy(v).trim().to_string());
        let barred = match accepted {
            None => {
                spec.headers
                    .push(("accept-encoding".into(), "identity".into()));
                None
            }
            Some(value) => match unencoded_only(&value) {
                Ok(()) => None,
                Err(why) => Some(format!(
                    "the request {why} (Accept-Encoding: {value}), and a range counts the \
                     bytes as sent, not the file's: leave Accept-Encoding unset to make a \
                     download resumable"
                )),
            },
        };
        Some(Resume {
            agent,
            config,
            spec: spec.duplicate(),
            policy,
            attempt: 1,
            barred,
        })
    }

    /// After the body was `cut` where `asked` says: the answer to a request for the rest.
    /// `Err` is the download's: `cut`, saying why it was not resumed when the policy would
    /// retry it, or what the resume met.
    fn rest(&mut self, cut: Error, asked: Asking<'_>) -> Result<Rest, Error> {
        let Asking {
            version,
            at,
            last,
            total,
        } = asked;
        if crate::exec::is_cancelled() || !self.policy.retries(&cut) {
            return Err(cut);
        }
        // Cut after the last byte it wanted (a chunked answer before its last chunk): whole.
        if last.is_some_and(|last| at > last) {
            return Ok(Rest::Complete);
        }
        let if_range = match (&self.barred, &version.if_range) {
            (Some(why), _) | (None, Err(why)) => {
                return Err(phase::and_note(cut, &format!("not resumed: {why}")))
            }
            (None, Ok(if_range)) => if_range.clone(),
        };
        let Some(wait) = self.policy.wait_after(self.attempt, &cut) else {
            let resumed = match self.attempt - 1 {
                1 => "once".to_string(),
                n => format!("{n} times"),
            };
            let note = format!(
                "resumed {resumed}, the most RetryPolicy::attempts allows; the file was cut at \
                 byte {}",
                phase::grouped(at)
            );
            return Err(phase::and_note(cut, &note));
        };
        let attempt = self.attempt;
        self.policy
            .notify(&self.spec.url, attempt, wait, || cut.to_string());
        if !crate::exec::sleep(wait) {
            return Err(Error::Cancelled);
        }
        // A resume is a new request to the origin: as a retry, it waits out the origin's pause
        // at the rate limiter and takes a token of its rate (a job that its waiter ran, which
        // no lane admitted, takes it as it sends: see `run::attempts`).
        let inline = crate::exec::current_job().is_some_and(|job| job.ran_inline());
        let origin = crate::url::parse(&self.spec.url);
        if let (Some(limiter), Ok(uri), false) = (&self.config.rate_limiter, origin, inline) {
            crate::ratelimit::wait_turn(limiter, &uri, None)?;
        }
        self.attempt += 1;
        let mut spec = self.spec.duplicate();
        spec.headers.retain(|(name, _)| {
            !name.eq_ignore_ascii_case("range") && !name.eq_ignore_ascii_case("if-range")
        });
        let end = last.map(|last| last.to_string()).unwrap_or_default();
        spec.headers
            .push(("range".into(), format!("bytes={at}-{end}")));
        spec.headers.push(("if-range".into(), if_range.clone()));
        let failed = |why: &dyn fmt::Display| {
            let note = format!("the resume from byte {} failed: {why}", phase::grouped(at));
            move |cut| phase::and_note(cut, &note)
        };
        let resp = match execute(self.agent, self.config, spec, Budget::Stream) {
            Ok(resp) => resp,
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => return Err(failed(&e)(cut)),
        };
        let placed = match resp.status().as_u16() {
            200 => return Ok(Rest::Whole(resp)),
            // The range starts at the file's end: the cut came after its last byte.
            // (With `last` known, a cut past it ended the body above.)
            416 if last.is_none() && unsatisfied_length(resp.headers()) == Some(at) => {
                return Ok(Rest::Complete)
            }
            206 => content_range(resp.headers()).and_then(|(start, end, length)| {
                let to_the_end = match last {
                    Some(last) => end == last,
                    None => length.is_none_or(|length| end.checked_add(1) == Some(length)),
                };
                // A server that ignored the `If-Range` (a range of a file replaced since).
                let other = version.other(resp.headers());
                if start != at || !to_the_end {
                    Err(format!("it carries bytes {start}-{end}, not the rest"))
                } else if let Some((then, now)) = total.zip(length).filter(|(a, b)| a != b) {
                    Err(format!(
                        "it carries bytes of a file of {now} bytes, where the first answer's \
                         had {then}"
                    ))
                } else if let Some(other) = other {
                    Err(format!("it carries another version of the file ({other})"))
                } else {
                    Ok((end, length))
                }
            }),
            status => Err(format!("it was answered {status}")),
        };
        match placed {
            Ok((end, length)) => Ok(Rest::Range(resp, end, length)),
            Err(why) => Err(failed(&why)(cut)),
        }
    }
}

/// Where a body was cut, and what the resume asks for: the rest from byte `at` to `last` (or
/// to the end of the file when that is not known), of a file of `total` bytes when that is
/// known, of the version the answers so far were.
struct Asking<'a> {
    version: &'a Version,
    at: u64,
    last: Option<u64>,
    total: Option<u64>,
}

/// What an answer says of the version of the file it carries, as it says it (its `ETag` and
/// its `Last-Modified`), and the `If-Range` that asks for the rest of that version, or why there
/// is none (see [`validator`]).
struct Version {
    etag: Option<String>,
    modified: Option<String>,
    if_range: Result<String, String>,
}

impl Version {
    fn of(headers: &http::HeaderMap) -> Version {
        let (etag, modified) = Version::said(headers);
        Version {
            etag,
            modified,
            if_range: validator(headers),
        }
    }

    /// The `ETag` and the `Last-Modified` of an answer with `headers`, as they are written.
    fn said(headers: &http::HeaderMap) -> (Option<String>, Option<String>) {
        let value = |name| {
            (headers.get(name))
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        (
            value(http::header::ETAG),
            value(http::header::LAST_MODIFIED),
        )
    }

    /// How a later answer with `headers` (a resume's) says it is another version than this
    /// one, if it does: an `ETag` or a `Last-Modified` that both name, and that differ.
    fn other(&self, headers: &http::HeaderMap) -> Option<String> {
        let (etag, modified) = Version::said(headers);
        let differ = |then: &Option<String>, now: Option<String>| {
            let (then, now) = (then.as_ref()?, now?);
            (*then != now).then(|| format!("{now}, where the bytes so far are of {then}"))
        };
        (differ(&self.etag, etag).map(|d| format!("ETag {d}")))
            .or_else(|| differ(&self.modified, modified).map(|d| format!("Last-Modified {d}")))
    }
}

/// What a request for the rest of a cut body got.
enum Rest {
    /// A 206 that goes on from the cut, to its last byte, of a file of the length given (when
    /// its `Content-Range` gives one).
    Range(http::Response<ureq::Body>, u64, Option<u64>),
    /// A 200: the whole file again.
    Whole(http::Response<ureq::Body>),
    /// A 416 that says the file ends where it was cut: nothing is missing.
    Complete,
}

/// Whether an `Accept-Encoding` value lets the server send the body only as it is (RFC 9110
/// §12.5.3): no coding but `identity` with a weight above 0, and `identity` not refused (by
/// `identity;q=0`, or by `*;q=0` without naming it). `Err` says which way it fails.
fn unencoded_only(value: &str) -> Result<(), &'static str> {
    let mut identity = None;
    let mut any = None;
    for item in value.split(',').filter(|item| !item.trim().is_empty()) {
        let mut params = item.split(';');
        let coding = params.next().unwrap_or_default().trim();
        let weight = params
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let accepted = weight > 0.0;
        if coding.eq_ignore_ascii_case("identity") {
            identity = Some(accepted);
        } else if coding == "*" {
            any = Some(accepted);
        } else if accepted {
            return Err("accepts an encoded body");
        }
    }
    match (identity, any) {
        (_, Some(true)) => Err("accepts an encoded body"),
        (Some(false), _) | (None, Some(false)) => Err("refuses the body unencoded"),
        _ => Ok(()),
    }
}

/// What a resume sends as `If-Range` so that the rest it gets is of the same file as the answer
/// with `headers`: the answer's strong `ETag`, else its `Last-Modified`. `Err` says why there is
/// none (a resume without it could join the start of one version of the file to the end of
/// another), or why the bytes read cannot be counted as the file's.
///
/// Those are the bytes as sent only for a body that was not decoded on the way. A decoded body
/// has lost its `Content-Encoding` and its `Content-Length` (ureq and this crate remove both),
/// so an answer with neither a length nor chunks is not resumed (a body whose end is its
/// connection's, which has neither either, could not tell a cut from its end anyway). A chunked
/// body decoded against the request's `Accept-Encoding: identity` cannot be told from a plain
/// one: its resume asks for the rest at a decoded offset, and the rest, encoded from the middle
/// of its stream, fails to decode, so the download fails rather than landing wrong.
fn validator(headers: &http::HeaderMap) -> Result<String, String> {
    if !headers.contains_key(http::header::CONTENT_LENGTH) && !phase::is_chunked(headers) {
        return Err(
            "the answer's length as sent is not known: it named none (no Content-Length, \
                    not chunked: its body ends with its connection), or it came encoded \
                    although the download asked for it as it is (Accept-Encoding: identity) and \
                    was decoded on the way, which drops its length; either way the bytes so far \
                    cannot be counted as the file's"
                .into(),
        );
    }
    let value = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let date = |name| value(name).and_then(crate::cookies::parse_date);
    // How long before the answer the file last changed, in seconds, when the answer says.
    let age = match (date(http::header::LAST_MODIFIED), date(http::header::DATE)) {
        (Some(at), Some(sent)) => Some(sent - at),
        _ => None,
    };
    // Changed in the second the answer was made: a version written later in that second has
    // the same date, and the same ETag at a server that makes its ETag of the time and the
    // length (nginx), so neither tells the versions apart (Apache makes such an ETag weak).
    if age.is_some_and(|age| age < 1) {
        return Err(
            "the file changed in the second its answer was made (its Last-Modified \
                    is its Date), so neither its date nor an ETag made of it can tell it from \
                    a version written in that second (If-Range)"
                .into(),
        );
    }
    if let Some(tag) = value(http::header::ETAG).filter(|tag| !tag.starts_with("W/")) {
        return Ok(tag.to_string());
    }
    // A date is a validator only a minute or more before the answer's `Date` (RFC 9110
    // §8.8.2.2): a file rewritten within the second of its `Last-Modified` keeps that date.
    match value(http::header::LAST_MODIFIED) {
        Some(modified) if age.is_some_and(|age| age >= 60) => Ok(modified.to_string()),
        Some(_) => Err(
            "the answer named no strong ETag, and its Last-Modified is not a minute \
                        before its Date (RFC 9110 8.8.2.2: too close to tell two versions of \
                        the file apart), which a resume would send (If-Range) so that the rest \
                        is of the same file"
                .into(),
        ),
        None => Err(
            "the answer named no ETag (or only a weak one) and no Last-Modified, one \
                     of which a resume sends (If-Range) so that the rest is of the same file"
                .into(),
        ),
    }
}

/// A download with a `Range` asks for the body unencoded (unless it names an `Accept-Encoding`
/// itself): the range's offsets count the bytes as sent, which decoding would change.
fn ask_identity_for_ranges(config: &Config, spec: &mut Spec) {
    let has = |name| header(config, spec, &name).is_some();
    if has(http::header::RANGE) && !has(http::header::ACCEPT_ENCODING) {
        spec.headers
            .push(("accept-encoding".into(), "identity".into()));
    }
}

/// What of the file a download asks for, which a 206 answer must give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    /// No `Range`: the whole file; a 206 must carry all of it.
    Whole,
    /// One range that runs to the end of the file (see [`runs_to_the_end`]).
    ToTheEnd,
    /// Another range: the answer is written as it comes.
    Part,
}

/// What the request (its own headers, or the session's) asks for: the whole file (no `Range`),
/// one range that runs to the end of the file (`bytes=S-`, as a resume does, or the suffix
/// `bytes=-N`), or another. A server may answer a range that runs to the end with less than
/// the rest (some cap each answer at a few MB); written as it came, the file would land under
/// its name without its end.
fn asked_range(config: &Config, spec: &Spec) -> Asked {
    match header(config, spec, &http::header::RANGE) {
        None => Asked::Whole,
        Some(range) if runs_to_the_end(range) => Asked::ToTheEnd,
        Some(_) => Asked::Part,
    }
}

/// The value of the header `name` the request sends: its own, else the session's.
fn header<'a>(config: &'a Config, spec: &'a Spec, name: &http::HeaderName) -> Option<&'a [u8]> {
    let own = spec
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_str()))
        .map(|(_, v)| v.as_bytes());
    let default = || {
        let parsed = config.default_header(name.as_str())?.parsed.as_ref().ok();
        parsed.map(|(_, value)| value.as_bytes())
    };
    own.or_else(default)
}

/// A download answered with `status` and nothing to write (a 204 or 205): the file at `path`,
/// untouched, with its length, or no file and 0 bytes when there is none.
fn untouched(path: &Path, status: u16) -> Download {
    let bytes = std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map_or(0, |meta| meta.len());
    Download {
        path: path.to_path_buf(),
        bytes,
        status,
    }
}

/// The download of a conditional request answered 304: the file at `path`, untouched, with
/// its length. Without a file there, the caller asked about a copy it does not have: the
/// status error, as for any status outside 2xx.
fn not_modified(path: &Path, resp: http::Response<ureq::Body>) -> Result<Download, Error> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Download {
            path: path.to_path_buf(),
            bytes: meta.len(),
            status: 304,
        }),
        // A 304: no wait for the limiter to learn.
        _ => Err(crate::run::status_error(resp, None)),
    }
}

/// The download of a resume from byte `at` answered 416: the file at `path`, untouched, when
/// the answer's `Content-Range: bytes */N` and that file both say the file is `at` bytes long
/// (see the module's doc); else the status error.
fn already_whole(
    path: &Path,
    at: Option<u64>,
    resp: http::Response<ureq::Body>,
) -> Result<Download, Error> {
    let complete = unsatisfied_length(resp.headers());
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && complete == at && Some(meta.len()) == at => Ok(Download {
            path: path.to_path_buf(),
            bytes: meta.len(),
            status: 416,
        }),
        // A 416: no wait for the limiter to learn.
        _ => Err(crate::run::status_error(resp, None)),
    }
}

/// The length of the file that a 416's `Content-Range: bytes */N` gives.
fn unsatisfied_length(headers: &http::HeaderMap) -> Option<u64> {
    (headers.get(http::header::CONTENT_RANGE))
        .and_then(|v| v.to_str().ok())
        .and_then(bytes_unit)
        .and_then(|rest| rest.strip_prefix("*/"))
        .and_then(|n| digits(n.trim()))
}

/// Where a resume's `Range` header (`bytes=S-`) starts; `None` for any other value.
fn resume_from(value: &[u8]) -> Option<u64> {
    let spec = std::str::from_utf8(byte_ranges(value)?).ok()?;
    digits(spec.strip_suffix('-')?.trim())
}

/// Whether a `Range` header's value is one range of bytes that runs to the end of the file.
fn runs_to_the_end(value: &[u8]) -> bool {
    byte_ranges(value).is_some_and(|spec| {
        !spec.contains(&b',') && (spec.ends_with(b"-") || spec.starts_with(b"-"))
    })
}

/// The ranges a `Range` header's value asks for, after its unit `bytes=` (in any case).
fn byte_ranges(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let unit = value.get(..6)?;
    unit.eq_ignore_ascii_case(b"bytes=")
        .then(|| value[6..].trim_ascii())
}

/// What a `Content-Range` value says after its unit `bytes` (in any case), trimmed.
fn bytes_unit(value: &str) -> Option<&str> {
    let (unit, rest) = value.trim().split_once(' ')?;
    unit.eq_ignore_ascii_case("bytes").then(|| rest.trim())
}

/// A number written in ASCII digits alone (no sign, no spaces).
fn digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The first and last byte of a 206 answer's single range and the file's length, if given
/// (`Content-Range: bytes S-E/T`, or `/*`); `Err` says why it cannot be placed in a file.
fn content_range(headers: &http::HeaderMap) -> Result<(u64, u64, Option<u64>), String> {
    if crate::config::has_media_type(headers, "multipart/byteranges") {
        return Err("it holds several ranges (multipart/byteranges): ask for one range".into());
    }
    let Some(value) = headers.get(http::header::CONTENT_RANGE) else {
        return Err("it came without a Content-Range".into());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let parsed = (|| {
        let (span, total) = bytes_unit(&text)?.split_once('/')?;
        let (start, end) = span.split_once('-')?;
        let (start, end) = (digits(start)?, digits(end)?);
        let total = if total == "*" {
            None
        } else {
            Some(digits(total)?)
        };
        (start <= end && total.is_none_or(|t| end < t)).then_some((start, end, total))
    })();
    parsed.ok_or_else(|| format!("its Content-Range {text:?} is not one range of bytes"))
}

/// The file at `path` whose first `start` bytes go before a 206 answer that starts there,
/// opened before the body is read: the bytes copied later are this file's, even if another
/// download to the same path renames its own file into place meanwhile. Fails, before the body
/// is read, when it is shorter than `start`. What is not a regular file (a pipe) is opened, and
/// measured, as it is read, by [`keep_start`]: `None`.
fn open_earlier(path: &Path, start: u64) -> Result<Option<File>, Error> {
    let what = format!("keep the first {start} bytes of");
    let meta = std::fs::metadata(path).map_err(|e| {
        // A range asked for into a new file (`bytes=-N`, the end of a file): the path is not
        // what was not found.
        let e = match e.kind() {
            io::ErrorKind::NotFound => io::Error::new(
                e.kind(),
                format!(
                    "the 206 answer starts at byte {start}, and no file is there to hold the \
                     bytes before it (a range is written at its place in the file at the path): \
                     to keep the range alone, read it with send_streaming or bytes"
                ),
            ),
            _ => e,
        };
        file_error(&what, path, e)
    })?;
    if !meta.is_file() {
        return Ok(None);
    }
    let file = File::open(path).map_err(|e| file_error(&what, path, e))?;
    let len = file
        .metadata()
        .map_err(|e| file_error(&what, path, e))?
        .len();
    if len < start {
        return Err(file_error(&what, path, too_short(start, len)));
    }
    Ok(Some(file))
}

fn too_short(start: u64, holds: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("the 206 answer starts at byte {start}, but the file holds {holds} bytes"),
    )
}

/// Copies the first `start` bytes of `earlier` (the file at `path` when the answer came, see
/// [`open_earlier`]; opened now if `None`) to the start of `part`, for a 206 answer whose range
/// starts there, in blocks of `buf`'s size.
///
/// Done once the body is whole rather than before it is read: copying a file of many GB takes
/// minutes, a wait in which the server, whose answer nobody read, would give up on the
/// connection (nginx's `send_timeout` is a minute), and every resume of a large file would fail
/// the same way. A cancel of the job stops the copy between two blocks.
fn keep_start(
    path: &Path,
    earlier: Option<File>,
    start: u64,
    part: &mut PartFile,
    buf: &mut [u8],
) -> Result<(), Error> {
    let what = format!("keep the first {start} bytes of");
    let mut old = match earlier {
        Some(file) => file,
        None => File::open(path).map_err(|e| file_error(&what, path, e))?,
    };
    part.file
        .seek(SeekFrom::Start(0))
        .map_err(|e| file_error("seek in", &part.path, e))?;
    let mut copied = 0;
    while copied < start {
        if crate::exec::is_cancelled() {
            return Err(Error::Cancelled);
        }
        let want = buf
            .len()
            .min(usize::try_from(start - copied).unwrap_or(usize::MAX));
        let n = match old.read(&mut buf[..want]) {
            Ok(0) => return Err(file_error(&what, path, too_short(start, copied))),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(file_error(&what, path, e)),
        };
        part.file
            .write_all(&buf[..n])
            .map_err(|e| file_error("write", &part.path, e))?;
        copied += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_is_a_range_from_a_byte_to_the_end() {
        assert_eq!(resume_from(b"bytes=10-"), Some(10));
        assert_eq!(resume_from(b" BYTES= 0 - "), Some(0));
        for other in [
            "bytes=-5",
            "bytes=1-2",
            "bytes=+1-",
            "bytes=1-,3-",
            "items=1-",
            "bytes=",
        ] {
            assert_eq!(resume_from(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn the_part_file_sits_beside_the_target_with_the_whole_name_kept() {
        assert_eq!(
            part_path(Path::new("/tmp/a/file.tar.gz"), 0),
            Path::new("/tmp/a/file.tar.gz.part")
        );
        assert_eq!(part_path(Path::new("x"), 0), Path::new("x.part"));
        assert_eq!(part_path(Path::new("x"), 2), Path::new("x.2.part"));
    }

    #[test]
    fn a_long_name_is_cut_to_leave_room_for_the_suffix() {
        let fits = "a".repeat(250);
        assert_eq!(
            part_path(&Path::new("/d").join(&fits), 0),
            Path::new("/d").join(format!("{fits}.part"))
        );
        let long = format!("{}.tar.gz", "a".repeat(245));
        let part = part_path(&Path::new("/d").join(&long), 12);
        assert_eq!(
            part,
            Path::new("/d").join(format!("{}.12.part", &long[..247]))
        );
        // Cut at a character's start: `é` is two bytes.
        let accented = "é".repeat(127);
        let part = part_path(Path::new(&accented), 0);
        let name = part.to_str().unwrap();
        assert_eq!(name, format!("{}.part", "é".repeat(125)));
        assert!(name.len() <= NAME_MAX);
    }

    #[test]
    fn content_ranges_are_one_range_of_bytes_within_the_total() {
        let of = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::CONTENT_RANGE, value.parse().unwrap());
            content_range(&headers).ok()
        };
        assert_eq!(of("bytes 4-9/10"), Some((4, 9, Some(10))));
        assert_eq!(of("Bytes 0-0/*"), Some((0, 0, None)));
        for bad in [
            "bytes 5-3/10",
            "bytes 0-10/10",
            "bytes */10",
            "items 0-1/2",
            "bytes -1-2/5",
        ] {
            assert_eq!(of(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges_that_run_to_the_end_are_told_from_those_that_name_it() {
        for value in ["bytes=4-", "Bytes=0-", " bytes=-500 ", "BYTES= 10-"] {
            assert!(runs_to_the_end(value.as_bytes()), "{value}");
        }
        for value in ["bytes=4-9", "bytes=0-1,5-", "items=4-", "bytes", "4-", ""] {
            assert!(!runs_to_the_end(value.as_bytes()), "{value}");
        }
    }

    #[test]
    fn a_part_file_that_cannot_be_created_names_the_download_and_the_fix() {
        let dir = std::env::temp_dir().join(format!("uf-part-{}", std::process::id()));
        let path = dir.join("missing").join("out.bin");
        let Err(Error::Io(e)) = open_part(&path) else {
            panic!("a part file in a missing directory was created");
        };
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let text = e.to_string();
        let part = dir.join("missing").join("out.bin.part");
        let want = format!(
            "create {} (the part file of the download to {}) failed: ",
            part.display(),
            path.display()
        );
        assert!(text.starts_with(&want), "{text}");
        let fix = format!(
            "the directory {} does not exist: create it first",
            dir.join("missing").display()
        );
        assert!(text.contains(&fix), "{text}");
        // The system's error stays the source, as in the other file errors.
        let source = e.get_ref().and_then(|e| e.source());
        assert!(source.is_some_and(|s| s.is::<io::Error>()), "{e:?}");
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
