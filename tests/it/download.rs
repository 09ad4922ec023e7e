//! `download`: bodies streamed to a file on the worker, against a local server.

use std::io;
use std::path::{Path, PathBuf};

use support::{ms, secs, Reply, TempDir, TestServer};
use ureq_futures::{Download, Error, FuturesSession, Pending, Progress};

fn part(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    name.into()
}

#[test]
fn a_body_lands_under_its_name_and_nothing_else_is_left() {
    let dir = TempDir::new("ok");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expected = body.clone();
    let server = TestServer::start(move |_| Reply::ok(body.clone()));
    let path = dir.join("data.bin");
    let done = FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap();
    assert_eq!(done.path(), path);
    assert_eq!(done.bytes(), expected.len() as u64);
    assert_eq!(done.status(), 200);
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    assert_eq!(dir.names(), ["data.bin"]);
}

#[test]
fn a_chunked_body_of_unknown_length_is_written_whole() {
    let dir = TempDir::new("chunked");
    let server = TestServer::start(|_| Reply::chunked(["one ", "two ", "three"], ms(20)));
    let path = dir.join("t.txt");
    let done = FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap();
    assert_eq!(done.bytes(), 13);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "one two three");
}

#[test]
fn an_error_status_writes_nothing_and_says_so() {
    let dir = TempDir::new("status");
    let server = TestServer::start(|_| Reply::status(403, "forbidden here"));
    let path = dir.join("secret.bin");
    let err = FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap_err();
    match &err {
        Error::Status(s) => {
            assert_eq!(s.status, 403);
            assert_eq!(s.body, "forbidden here");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(dir.names().is_empty(), "{:?}", dir.names());
}

#[test]
fn a_cut_body_leaves_no_part_file_and_the_old_file_intact() {
    let dir = TempDir::new("cut");
    let path = dir.join("report.pdf");
    std::fs::write(&path, "the old report").unwrap();
    let server = TestServer::start(|_| Reply::reset_mid_body(vec![b'x'; 256 * 1024], 100_000));
    let err = FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap_err();
    match &err {
        Error::Io(e) => assert!(
            matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            ),
            "{e:?}"
        ),
        other => panic!("expected a cut connection, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "the old report");
    assert!(!part(&path).exists());
    assert_eq!(dir.names(), ["report.pdf"]);
}

#[test]
fn a_stalled_body_times_out_and_leaves_no_part_file() {
    let dir = TempDir::new("stall");
    let path = dir.join("slow.bin");
    let server = TestServer::start(|_| Reply::stall_mid_body(vec![b'x'; 5000], 1_000_000));
    let err = FuturesSession::builder()
        .read_timeout(ms(200))
        .build()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(dir.names().is_empty(), "{:?}", dir.names());
}

#[test]
fn an_existing_file_is_replaced() {
    let dir = TempDir::new("replace");
    let path = dir.join("page.html");
    std::fs::write(&path, "an old and much longer page than the new one").unwrap();
    let server = TestServer::start(|_| Reply::ok("new"));
    FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(dir.names(), ["page.html"]);
}

#[test]
fn a_missing_directory_is_an_io_error_naming_the_file() {
    let dir = TempDir::new("nodir");
    let path = dir.join("no/such/dir/file.bin");
    let server = TestServer::start(|_| Reply::ok("body"));
    let err = FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap_err();
    match &err {
        Error::Io(e) => assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e:?}"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&part(&path).display().to_string()),
        "the error names the file: {text}"
    );
}

#[test]
fn a_directory_as_the_target_is_refused_before_the_request() {
    let dir = TempDir::new("isdir");
    std::fs::create_dir(dir.join("downloads")).unwrap();
    let server = TestServer::start(|_| Reply::ok("body"));
    let session = FuturesSession::new();
    for (target, shown) in [
        (
            dir.join("downloads"),
            dir.join("downloads").display().to_string(),
        ),
        (
            dir.join("downloads/"),
            format!("{}/", dir.join("downloads").display()),
        ),
        (dir.join("new/"), format!("{}/", dir.join("new").display())),
    ] {
        let err = session
            .get(server.url())
            .download(&target)
            .result()
            .unwrap_err();
        match &err {
            Error::Io(e) => assert_eq!(e.kind(), io::ErrorKind::IsADirectory, "{e:?}"),
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "io: download to {shown}: the path names a directory: give the path of the \
                 file to write, such as {}",
                Path::new(&shown).join("file.bin").display()
            )
        );
    }
    let err = session.get(server.url()).download("").result().unwrap_err();
    assert_eq!(
        err.to_string(),
        "io: download to an empty path: give the path of the file to write"
    );
    // A device is no file: the rename would replace it (as root, `/dev/null` itself).
    #[cfg(target_os = "linux")]
    {
        let err = session
            .get(server.url())
            .download("/dev/null")
            .result()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::InvalidInput),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("/dev/null: the path names a device"),
            "{err}"
        );
        let link = dir.join("null-link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let err = session
            .get(server.url())
            .download(&link)
            .result()
            .unwrap_err();
        assert!(err.to_string().contains("the path names a device"), "{err}");
        std::fs::remove_file(&link).unwrap();
        let meta = std::fs::metadata("/dev/null").unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(meta.file_type().is_char_device());
    }
    // Nothing was asked of the server, and nothing was written beside the directory.
    assert_eq!(server.request_count(), 0);
    assert_eq!(dir.names(), ["downloads"]);
    assert!(!Path::new(".part").exists());
}

/// A body of 10,000 bytes: 4,000 of `first`, then, once the sender returned is used or dropped
/// (the first answer only; later ones at once), 6,000 of `then`.
fn gated_body(first: u8, then: u8) -> (std::sync::mpsc::Sender<()>, impl Fn() -> Reply) {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(Some(gate));
    let reply = move || {
        let gate = gate.lock().unwrap().take();
        Reply::custom(move |sock| {
            use std::io::Write;
            let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n");
            let _ = sock.write_all(&[first; 4000]);
            let _ = sock.flush();
            if let Some(gate) = gate {
                let _ = gate.recv_timeout(secs(20));
            }
            let _ = sock.write_all(&[then; 6000]);
        })
    };
    (release, reply)
}

#[test]
fn progress_follows_a_download_as_it_is_written() {
    let dir = TempDir::new("progress");
    let (release, gated) = gated_body(b'a', b'b');
    let server = TestServer::start(move |_| gated());
    let session = FuturesSession::new();
    let pending = session.get(server.url()).download(dir.join("p.bin"));
    let halfway = Progress {
        done: 4000,
        total: Some(10000),
    };
    assert!(
        support::eventually(support::secs(10), || pending.progress() == halfway),
        "{:?}",
        pending.progress()
    );
    assert!(!pending.is_done());
    release.send(()).unwrap();
    pending.wait();
    assert_eq!(
        pending.progress(),
        Progress {
            done: 10000,
            total: Some(10000)
        }
    );
    assert_eq!(pending.result().unwrap().bytes(), 10000);
}

#[test]
fn the_progress_of_an_empty_file_has_a_total_of_0() {
    let dir = TempDir::new("empty-progress");
    let server = TestServer::start(|_| Reply::ok(""));
    let pending = FuturesSession::new()
        .get(server.url())
        .download(dir.join("empty"));
    pending.wait();
    assert_eq!(
        pending.progress(),
        Progress {
            done: 0,
            total: Some(0)
        }
    );
    assert_eq!(pending.result().unwrap().bytes(), 0);
}

#[test]
fn progress_counts_buffered_bodies_and_nothing_for_jobs_without_one() {
    let server = TestServer::start(|req| match req.path_only() {
        "/chunked" => Reply::chunked(["abc", "de"], ms(5)),
        _ => Reply::ok("twelve bytes"),
    });
    let session = FuturesSession::new();
    let sized = session.get(server.url()).send();
    sized.wait();
    assert_eq!(
        sized.progress(),
        Progress {
            done: 12,
            total: Some(12)
        }
    );
    let chunked = session.get(server.url_for("/chunked")).send();
    chunked.wait();
    assert_eq!(
        chunked.progress(),
        Progress {
            done: 5,
            total: None
        }
    );
    let job = session.submit(|_| Ok(()));
    job.wait();
    assert_eq!(job.progress(), Progress::default());
}

/// A cancel and the rename into place are decided as one: a download whose `cancel` returns
/// `true` never leaves its file behind (an older file stays as it was), and one whose file is in
/// place resolved to it (its `cancel` returns `false`). Most rounds cancel right after the part
/// file is gone, which is where the rename and a cancel meet; every third cancels while the part
/// file is there.
#[test]
fn a_download_whose_cancel_succeeds_never_leaves_its_file() {
    let dir = TempDir::new("cancel-race");
    let server = TestServer::start(|_| Reply::ok(vec![b'x'; 100]));
    let session = FuturesSession::builder().max_workers(1).build();
    for round in 0..400 {
        let path = dir.join(&format!("f{round}"));
        let old = round % 2 == 1;
        if old {
            std::fs::write(&path, "old").unwrap();
        }
        let pending = session.get(server.url()).download(&path);
        while !part(&path).exists() && !pending.is_done() {
            std::hint::spin_loop();
        }
        while round % 3 != 0 && part(&path).exists() && !pending.is_done() {
            std::hint::spin_loop();
        }
        let cancelled = pending.cancel();
        let result = pending.result();
        // The next job runs once this one has ended: nothing touches the files after that.
        let mut next = session.submit(|_| Ok(()));
        assert!(
            next.result_timeout(secs(30)).is_some(),
            "round {round}: the job hangs"
        );
        let now = std::fs::read(&path).ok();
        if cancelled {
            assert!(
                matches!(result, Err(Error::Cancelled)),
                "round {round}: {result:?}"
            );
            let before = old.then(|| b"old".to_vec());
            assert_eq!(
                now, before,
                "round {round}: cancelled, yet the new file is in place"
            );
        } else {
            let download = result.unwrap_or_else(|e| panic!("round {round}: {e:?}"));
            assert_eq!(download.bytes(), 100);
            assert_eq!(now, Some(vec![b'x'; 100]), "round {round}");
        }
        assert!(
            !part(&path).exists(),
            "round {round}: the part file was left"
        );
    }
}

/// A server whose `/slow` sends 4,000 bytes of `a`, then the other 6,000 once `release` is sent,
/// and whose other paths answer `fast` bytes of `b`; with the download of `/slow` to `path`,
/// under way (its first 4,000 bytes written).
fn slow_download_under_way(
    session: &FuturesSession,
    path: &Path,
    fast: usize,
) -> (TestServer, std::sync::mpsc::Sender<()>, Pending<Download>) {
    let (release, gated) = gated_body(b'a', b'a');
    let server = TestServer::start(move |req| match req.path_only() {
        "/slow" => gated(),
        _ => Reply::ok(vec![b'b'; fast]),
    });
    let slow = session.get(server.url_for("/slow")).download(path);
    assert!(support::eventually(secs(10), || slow.progress().done == 4000));
    (server, release, slow)
}

/// Two downloads to one path at once: each writes its own part file, so the one that finishes
/// first is whole under the path, and the one that finishes last replaces it with its own whole
/// body. Neither writes into the other's file.
#[test]
fn two_downloads_to_one_path_at_once_each_land_whole() {
    let dir = TempDir::new("same-path");
    let session = FuturesSession::new();
    let path = dir.join("same.bin");
    let (server, release, slow) = slow_download_under_way(&session, &path, 3000);
    let fast = session.get(server.url_for("/fast")).download(&path);
    assert_eq!(fast.result().unwrap().bytes(), 3000);
    assert_eq!(std::fs::read(&path).unwrap(), vec![b'b'; 3000]);
    release.send(()).unwrap();
    assert_eq!(slow.result().unwrap().bytes(), 10000);
    assert_eq!(std::fs::read(&path).unwrap(), vec![b'a'; 10000]);
    assert_eq!(dir.names(), ["same.bin"]);
}

/// A link at the part file's name (anyone's, in a shared directory such as `/tmp`) is passed
/// over: the body was written through a symbolic link to the file it points to, a dangling one
/// made its target, and a hard link's other name was emptied.
#[cfg(unix)]
#[test]
fn a_link_at_the_part_files_name_is_passed_over_and_left_as_it_is() {
    let dir = TempDir::new("part-link");
    let server = TestServer::start(|_| Reply::ok("the body"));
    let victim = dir.join("victim.txt");
    let precious = "precious data that must not change";
    std::fs::write(&victim, precious).unwrap();
    type Link = fn(&Path, &Path) -> io::Result<()>;
    let links: [(&str, Link); 3] = [
        ("symlink", |from, to| std::os::unix::fs::symlink(from, to)),
        ("hard", |from, to| std::fs::hard_link(from, to)),
        ("dangling", |_, to| {
            std::os::unix::fs::symlink(to.with_file_name("made.txt"), to)
        }),
    ];
    for (kind, link) in links {
        let path = dir.join(&format!("{kind}.bin"));
        link(&victim, &part(&path)).unwrap();
        let done = FuturesSession::new()
            .get(server.url())
            .download(&path)
            .result();
        assert_eq!(done.unwrap().bytes(), 8, "{kind}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "the body",
            "{kind}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            precious,
            "{kind}"
        );
        assert!(std::fs::symlink_metadata(part(&path)).is_ok(), "{kind}");
    }
    assert!(!dir.join("made.txt").exists());
}

/// A download to `x.part` while another downloads to `x` lands by a rename onto the part file
/// of the download to `x`: that one fails, saying so, where it took the other's body for its own
/// (and said it was done), and the file the other landed stays.
#[cfg(unix)]
#[test]
fn a_download_onto_the_part_file_of_another_is_not_taken_for_its_body() {
    let dir = TempDir::new("part-target");
    let session = FuturesSession::new();
    let path = dir.join("x");
    let (server, release, slow) = slow_download_under_way(&session, &path, 100);
    let other = session.get(server.url_for("/fast")).download(part(&path));
    assert_eq!(other.result().unwrap().bytes(), 100);
    release.send(()).unwrap();
    let err = slow.result().unwrap_err().to_string();
    assert!(
        err.contains("that name no longer holds this download's part file"),
        "{err}"
    );
    assert_eq!(std::fs::read(part(&path)).unwrap(), vec![b'b'; 100]);
    assert_eq!(dir.names(), ["x.part"]);
}

/// A name of 255 bytes that ends in `.part` is its own part file's name once cut to make room
/// for the suffix: the body was written into the file at the path as it came, and a failure
/// removed that file.
#[test]
fn a_long_name_ending_in_part_is_not_its_own_part_file() {
    let dir = TempDir::new("long-part");
    let server = TestServer::start(|_| Reply::reset_mid_body(vec![b'x'; 256 * 1024], 100_000));
    let path = dir.join(&format!("{}.part", "a".repeat(250)));
    std::fs::write(&path, "the old file").unwrap();
    let err = FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "the old file");
    assert_eq!(dir.names().len(), 1, "{:?}", dir.names());
}

/// A part file left behind is removed and made anew, never written into: the download's file
/// is its own (one that another user left in a shared directory was written into and renamed
/// into place, owned by them). Told here by a handle on the old file: it keeps what it held.
#[cfg(unix)]
#[test]
fn a_part_file_left_behind_is_made_anew_not_written_into() {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("left-anew");
    let path = dir.join("data.bin");
    std::fs::write(part(&path), "left behind").unwrap();
    let mut held = std::fs::File::open(part(&path)).unwrap();
    let server = TestServer::start(|_| Reply::ok("fresh"));
    let done = FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result();
    assert_eq!(done.unwrap().bytes(), 5);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "fresh");
    let mut old = String::new();
    held.read_to_string(&mut old).unwrap();
    assert_eq!(old, "left behind");
    assert_eq!(held.metadata().unwrap().nlink(), 0);
    assert_eq!(dir.names(), ["data.bin"]);
}

/// A cut part file's name may be any file's: a file there is not taken for a part file left
/// behind (a failed download to `<250 a>bcdef` removed the file `<250 a>.part`).
#[test]
fn a_file_at_a_cut_part_files_name_is_left_as_it_is() {
    let dir = TempDir::new("cut-part");
    let server = TestServer::start(|_| Reply::reset_mid_body(vec![b'x'; 256 * 1024], 100_000));
    let other = format!("{}.part", "a".repeat(250));
    std::fs::write(dir.join(&other), "another file").unwrap();
    let err = FuturesSession::new()
        .get(server.url())
        .download(dir.join(&format!("{}bcdef", "a".repeat(250))))
        .result()
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join(&other)).unwrap(),
        "another file"
    );
    assert_eq!(dir.names(), [other]);
}

/// The new file has the permission bits of the one it replaces, as writing into it would: a
/// private file stayed private only until it was downloaded again. Set-user-ID is not kept.
#[cfg(unix)]
#[test]
fn a_replaced_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("mode");
    let server = TestServer::start(|_| Reply::ok("new"));
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    for (before, after) in [(0o600, 0o600), (0o640, 0o640), (0o4755, 0o755)] {
        let path = dir.join(&format!("{before:o}.txt"));
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(before)).unwrap();
        let done = FuturesSession::new()
            .get(server.url())
            .download(&path)
            .result();
        assert_eq!(done.unwrap().bytes(), 3);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), after, "{before:o}");
    }
}

/// A part file left by a download that died (nothing holds it) is reused and emptied.
#[test]
fn a_part_file_left_behind_is_reused() {
    let dir = TempDir::new("left-part");
    let path = dir.join("left.bin");
    std::fs::write(part(&path), vec![b'z'; 50_000]).unwrap();
    let server = TestServer::start(|_| Reply::ok("fresh"));
    let download = FuturesSession::new()
        .get(server.url())
        .download(&path)
        .result()
        .unwrap();
    assert_eq!(download.bytes(), 5);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "fresh");
    assert_eq!(dir.names(), ["left.bin"]);
}

#[test]
fn a_non_2xx_answer_whose_body_stalls_resolves_within_the_timeout() {
    // The status, the headers and the start of the error body, then nothing until the client
    // goes away (30 s at most): the handle must not wait for the rest.
    let server = TestServer::start(|_| {
        Reply::custom(|socket| {
            use std::io::{Read, Write};
            let head = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
                        content-length: 1000\r\n\r\nbusy";
            if socket.write_all(head.as_bytes()).is_ok() {
                let _ = socket.set_read_timeout(Some(secs(30)));
                let _ = socket.read(&mut [0; 1]);
            }
        })
    });
    let dir = TempDir::new("stalled-error");
    let session = FuturesSession::builder().timeout(ms(1500)).build();
    let mut pending = session.get(server.url()).download(dir.join("x.bin"));
    let result = pending
        .result_timeout(secs(20))
        .expect("the handle waited for the rest of the error body, past the timeout");
    match result {
        Err(Error::Status(e)) => {
            assert_eq!(e.status, 503);
            assert_eq!(e.body, "busy");
            assert_eq!(
                e.to_string(),
                format!(
                    "Server responded with an error. Status Code: 503 Server Error: Service Unavailable for url: {} (error \
                     body cut after 4 bytes: nothing more within 1.5 s (timeout))",
                    server.url_for("/")
                )
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(dir.names().is_empty(), "{:?}", dir.names());
}

/// A server of the ten bytes `0123456789` that honours `Range: bytes=S-` (and `S-E`) as RFC 9110
/// §14 says: 206 with `Content-Range`, 416 past the end, 200 without a `Range`.
fn ranged_server() -> TestServer {
    const DATA: &[u8] = b"0123456789";
    TestServer::start(|req| {
        let Some(range) = req.header("range") else {
            return Reply::ok(DATA);
        };
        let spec = range.strip_prefix("bytes=").expect("a byte range");
        let (start, end) = spec.split_once('-').expect("start-end");
        let start: usize = start.parse().unwrap();
        let end: usize = if end.is_empty() {
            DATA.len() - 1
        } else {
            end.parse().unwrap()
        };
        if start >= DATA.len() {
            return Reply::status(416, "").header("Content-Range", "bytes */10");
        }
        Reply::status(206, &DATA[start..=end])
            .header("Content-Range", format!("bytes {start}-{end}/10"))
    })
}

#[test]
fn a_range_answered_206_continues_the_file_already_there() {
    let dir = TempDir::new("resume");
    let path = dir.join("data.bin");
    std::fs::write(&path, "0123").unwrap();
    let server = ranged_server();
    let done = FuturesSession::new()
        .get(server.url())
        .header("Range", "bytes=4-")
        .download(&path)
        .result()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789");
    assert_eq!((done.status(), done.bytes()), (206, 10));
    assert_eq!(dir.names(), ["data.bin"]);
    // A range asked with compression: the offsets count bytes as sent, so none is asked for.
    assert_eq!(
        server.requests()[0].header("accept-encoding"),
        Some("identity")
    );
    // A range from the start is the whole file.
    std::fs::write(&path, "an older and longer file").unwrap();
    let done = FuturesSession::new()
        .get(server.url())
        .header("Range", "bytes=0-5")
        .download(&path)
        .result()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "012345");
    assert_eq!(done.bytes(), 6);
}

#[test]
fn a_range_answered_200_restarts_the_file() {
    let dir = TempDir::new("resume-200");
    let path = dir.join("data.bin");
    std::fs::write(&path, "0123").unwrap();
    let server = TestServer::start(|_| Reply::ok("0123456789"));
    let done = FuturesSession::new()
        .get(server.url())
        .header("Range", "bytes=4-")
        .download(&path)
        .result()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789");
    assert_eq!((done.status(), done.bytes()), (200, 10));
}

/// A resume of a file that is whole already is done, as `wget -c` finds it fully retrieved: a
/// script that resumes its downloads failed on each file it had finished. A range past the end
/// of a file of another length is still a 416, and leaves the file.
#[test]
fn a_resume_of_a_whole_file_is_done_and_other_416s_leave_the_file() {
    let dir = TempDir::new("resume-416");
    let path = dir.join("data.bin");
    let server = ranged_server();
    let resume = |from: &str| {
        FuturesSession::new()
            .get(server.url())
            .header("Range", format!("bytes={from}-"))
            .download(&path)
            .result()
    };
    std::fs::write(&path, "0123456789").unwrap();
    let done = resume("10").unwrap();
    assert_eq!((done.status(), done.bytes()), (416, 10));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789");
    // Past the end of the file here and of the server's: their lengths do not say it is whole.
    let err = resume("11").unwrap_err();
    assert_eq!(err.status(), Some(416), "{err:?}");
    // A longer file than the server's (another file under that name).
    std::fs::write(&path, "0123456789ab").unwrap();
    let err = resume("12").unwrap_err();
    assert_eq!(err.status(), Some(416), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789ab");
    assert_eq!(dir.names(), ["data.bin"]);
    // The unit in any case, with spaces around.
    std::fs::write(&path, "0123456789").unwrap();
    let shouting =
        TestServer::start(|_| Reply::status(416, "").header("Content-Range", " BYTES  */10 "));
    let done = FuturesSession::new()
        .get(shouting.url())
        .header("Range", "bytes=10-")
        .download(&path)
        .result();
    assert_eq!(done.map(|d| d.status()).ok(), Some(416));
    // A 416 that gives no length.
    let bare = TestServer::start(|_| Reply::status(416, ""));
    let err = FuturesSession::new()
        .get(bare.url())
        .header("Range", "bytes=10-")
        .download(&path)
        .result()
        .unwrap_err();
    assert_eq!(err.status(), Some(416), "{err:?}");
    assert_eq!(dir.names(), ["data.bin"]);
}

#[test]
fn a_206_that_cannot_be_placed_writes_nothing_and_says_why() {
    let dir = TempDir::new("resume-bad");
    let path = dir.join("data.bin");
    let from_4 = |path: &std::path::Path| {
        FuturesSession::new()
            .get(ranged_server().url())
            .header("Range", "bytes=4-")
            .download(path)
            .result()
            .unwrap_err()
    };
    // The file holds fewer bytes than the range starts after.
    std::fs::write(&path, "01").unwrap();
    let err = from_4(&path);
    match &err {
        Error::Io(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}"),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("the 206 answer starts at byte 4")
            && text.contains("holds 2 bytes")
            && text.contains(&path.display().to_string()),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "01");
    // No file at all (a range asked for into a new file): not a URL or a path not found.
    let new = dir.join("new.bin");
    let text = from_4(&new).to_string();
    assert!(
        text.contains("the 206 answer starts at byte 4, and no file is there")
            && text.contains("send_streaming")
            && text.contains(&new.display().to_string()),
        "{text}"
    );
    assert!(!new.exists());
    // Answers that do not say where their bytes go, or that carry another number of them.
    type Answer = (fn() -> Reply, &'static str);
    let answers: [Answer; 5] = [
        (|| Reply::status(206, "456789"), "without a Content-Range"),
        (
            || Reply::status(206, "--b\r\n...").content_type("multipart/byteranges; boundary=b"),
            "several ranges",
        ),
        (
            || Reply::status(206, "456").header("Content-Range", "bytes 4-9/10"),
            "3 bytes for the range 4-9",
        ),
        (
            || Reply::status(206, "456789").header("Content-Range", "bytes 4-9/x"),
            "Content-Range \"bytes 4-9/x\"",
        ),
        // The longest range there is, of a total not given.
        (
            || Reply::status(206, "456").header("Content-Range", "bytes 0-18446744073709551615/*"),
            "3 bytes for the range 0-18446744073709551615",
        ),
    ];
    for (reply, why) in answers {
        std::fs::write(&path, "0123").unwrap();
        let server = TestServer::start(move |_| reply());
        let err = FuturesSession::new()
            .get(server.url_for("/f?key=secret"))
            .header("Range", "bytes=4-")
            .download(&path)
            .result()
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Protocol(_)), "{why}: {err:?}");
        assert!(text.contains(why), "{why}: {text}");
        assert!(
            text.contains("/f?<redacted>") && !text.contains("secret"),
            "{text}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123", "{why}");
        assert_eq!(dir.names(), ["data.bin"], "{why}");
    }
}

/// A 206 to a request that asked for the whole file (no `Range`: a cache answering from a
/// range it holds) is written only when it carries all of the file.
#[test]
fn a_206_to_a_request_without_a_range_must_carry_the_whole_file() {
    let dir = TempDir::new("unasked-206");
    let path = dir.join("data.bin");
    let answers: [(&str, &str, Option<&str>); 4] = [
        (
            "01234",
            "bytes 0-4/10",
            Some("it carries bytes 0-4 of 10, but the request had no Range"),
        ),
        (
            "56789",
            "bytes 5-9/10",
            Some("it carries bytes 5-9 of 10, but the request had no Range"),
        ),
        (
            "01234",
            "bytes 0-4/*",
            Some("it carries bytes 0-4 of an unknown length"),
        ),
        ("0123456789", "bytes 0-9/10", None),
    ];
    for (body, range, refused) in answers {
        std::fs::write(&path, "UNRELATED-OLD").unwrap();
        let server =
            TestServer::start(move |_| Reply::status(206, body).header("Content-Range", range));
        let result = FuturesSession::new()
            .get(server.url())
            .download(&path)
            .result();
        match refused {
            Some(why) => {
                let err = result.unwrap_err();
                assert!(matches!(err, Error::Protocol(_)), "{range}: {err:?}");
                assert!(err.to_string().contains(why), "{range}: {err}");
                assert_eq!(
                    std::fs::read_to_string(&path).unwrap(),
                    "UNRELATED-OLD",
                    "{range}"
                );
            }
            None => {
                assert_eq!(result.unwrap().bytes(), 10);
                assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789");
            }
        }
        assert_eq!(dir.names(), ["data.bin"], "{range}");
    }
}

/// A named pipe at `path`, standing for an earlier file whose bytes come only when the test
/// writes them.
#[cfg(target_os = "linux")]
fn fifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}

/// A resumed download reads the body before it copies the bytes of the earlier file that go
/// before it: the copy of a file of many GB takes minutes, in which the server, whose answer
/// nobody read, gave up on the connection, so every resume of such a file failed. The earlier
/// file is a pipe here, which nothing is written to until the body is in.
#[cfg(target_os = "linux")]
#[test]
fn a_resumed_body_is_read_before_the_earlier_bytes_are_copied() {
    let dir = TempDir::new("resume-order");
    let path = dir.join("data.bin");
    fifo(&path);
    let server = ranged_server();
    let pending = FuturesSession::new()
        .get(server.url())
        .header("Range", "bytes=4-")
        .download(&path);
    let body_first = support::eventually(secs(10), || pending.progress().done == 6);
    // The earlier file's bytes: the write waits until the download opens the pipe.
    std::fs::write(&path, "0123").unwrap();
    let done = pending.result().unwrap();
    assert!(body_first, "the body was read only after the earlier file");
    assert_eq!((done.status(), done.bytes()), (206, 10));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789");
    assert_eq!(dir.names(), ["data.bin"]);
}

/// A cancel stops the copy of the earlier file's bytes before a resumed body: it went on to its
/// end (minutes for a file of many GB), holding the worker.
#[cfg(target_os = "linux")]
#[test]
fn a_cancel_stops_the_copy_of_the_earlier_bytes() {
    use std::io::Write;
    const START: u64 = 4 << 20;
    let dir = TempDir::new("resume-cancel");
    let path = dir.join("data.bin");
    fifo(&path);
    let server = TestServer::start(|_| {
        Reply::status(206, "x").header("Content-Range", format!("bytes {START}-{START}/*"))
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let pending = session
        .get(server.url())
        .header("Range", format!("bytes={START}-"))
        .download(&path);
    let mut earlier = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    // Returns once the download has read all but what the pipe holds.
    earlier.write_all(&vec![b'a'; 1 << 20]).unwrap();
    assert!(pending.cancel());
    // More than the pipe holds: the copy reads on, or stops and closes the pipe (a broken pipe).
    let _ = earlier.write_all(&vec![b'a'; 1 << 20]);
    let next = session.submit(|_| Ok(7)).result_timeout(secs(10));
    drop(earlier);
    assert!(
        matches!(next, Some(Ok(7))),
        "the copy went on after the cancel, holding the worker"
    );
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    assert_eq!(dir.names(), ["data.bin"], "the part file was left");
}

/// A range that runs to the end of the file, answered with less than the rest of a file whose
/// length the answer gives (a server that caps each answer), writes nothing and says so: the
/// file landed under its name without its end, and the handle said it was done. A range that
/// names its end is written as it comes, and so is an answer that does not give the length.
#[test]
fn a_resume_answered_with_less_than_the_rest_writes_nothing_and_says_so() {
    let dir = TempDir::new("resume-capped");
    let path = dir.join("data.bin");
    let server = TestServer::start(|req| {
        let total = if req.path_only() == "/unknown" {
            "*"
        } else {
            "10"
        };
        Reply::status(206, "456").header("Content-Range", format!("bytes 4-6/{total}"))
    });
    for (range, default) in [("bytes=4-", false), ("Bytes=4- ", true)] {
        std::fs::write(&path, "0123").unwrap();
        let mut session = FuturesSession::builder();
        if default {
            session = session.header("Range", range);
        }
        let mut request = session.build().get(server.url_for("/f?key=secret"));
        if !default {
            request = request.header("Range", range);
        }
        let err = request.download(&path).result().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Protocol(_)), "{range}: {err:?}");
        assert!(
            text.contains("carries bytes 4-6 of 10, not the rest of the file")
                && text.contains("(bytes=4-6, then bytes=7-...)")
                && text.contains("/f?<redacted>"),
            "{text}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123", "{range}");
        assert_eq!(dir.names(), ["data.bin"], "{range}");
    }
    let session = FuturesSession::new();
    for (range, url) in [
        ("bytes=4-6", server.url()),
        ("bytes=4-", server.url_for("/unknown")),
    ] {
        std::fs::write(&path, "0123").unwrap();
        let done = session
            .get(url)
            .header("Range", range)
            .download(&path)
            .result();
        let done = done.unwrap_or_else(|e| panic!("{range}: {e}"));
        assert_eq!((done.status(), done.bytes()), (206, 7), "{range}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0123456",
            "{range}"
        );
    }
}

/// A file name of up to 255 bytes is a file name: its part file's name is cut to make room for
/// the suffix. The part file's name was the target's and `.part`, which failed the download
/// with `create ....part failed: File name too long`.
#[test]
fn a_file_name_of_255_bytes_is_downloaded() {
    let dir = TempDir::new("long-name");
    let server = TestServer::start(|_| Reply::ok("content"));
    for name in ["a".repeat(255), format!("{}.tar.gz", "é".repeat(120))] {
        let path = dir.join(&name);
        let done = FuturesSession::new()
            .get(server.url())
            .download(&path)
            .result();
        let done = done.unwrap_or_else(|e| panic!("{} bytes: {e}", name.len()));
        assert_eq!(done.bytes(), 7);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "content");
        assert_eq!(dir.names(), [name.as_str()]);
        std::fs::remove_file(&path).unwrap();
    }
}

/// A resumed download puts before its body the bytes of the file that was at the path when its
/// answer came. They were read from the path once the body was in, so a file another download
/// renamed into place meanwhile (two downloads to one path) gave its start to this one: the file
/// landed made of two.
#[cfg(unix)]
#[test]
fn a_resume_keeps_the_start_of_the_file_there_when_its_answer_came() {
    use std::io::Write;
    use std::sync::{mpsc, Arc, Mutex};
    let dir = TempDir::new("resume-replaced");
    let path = dir.join("data.bin");
    std::fs::write(&path, "0123").unwrap();
    let (go, wait) = mpsc::channel::<()>();
    let wait = Arc::new(Mutex::new(wait));
    let server = TestServer::start(move |_| {
        let wait = Arc::clone(&wait);
        Reply::custom(move |socket| {
            let _ = socket.write_all(
                b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 4-9/10\r\n\
                  Content-Length: 6\r\n\r\n45",
            );
            let _ = wait.lock().unwrap().recv_timeout(secs(10));
            let _ = socket.write_all(b"6789");
        })
    });
    let pending = FuturesSession::new()
        .get(server.url())
        .header("Range", "bytes=4-")
        .download(&path);
    assert!(support::eventually(secs(10), || pending.progress().done == 2));
    // Another download to the same path lands while this one reads its body.
    let other = dir.join("other");
    std::fs::write(&other, "abcdefghij").unwrap();
    std::fs::rename(&other, &path).unwrap();
    go.send(()).unwrap();
    let done = pending.result().unwrap();
    assert_eq!((done.status(), done.bytes()), (206, 10));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0123456789");
    assert_eq!(dir.names(), ["data.bin"]);
}

/// A conditional download (a mirror's `If-None-Match`) answered 304: the file is current and
/// stays as it was, under a download of status 304. A 304 to a request that asked nothing of
/// the kind, or with no file to keep, is the status error it was.
#[test]
fn a_304_to_a_conditional_download_keeps_the_file() {
    let server = TestServer::start(|req| match req.header("if-none-match") {
        Some("\"v1\"") => Reply::status(304, "").header("ETag", "\"v1\""),
        _ => Reply::status(304, ""),
    });
    let dir = TempDir::new("not-modified");
    let path = dir.join("mirror.txt");
    std::fs::write(&path, "the copy we have").unwrap();
    let session = FuturesSession::new();
    // A download of `path` with `header`, if any.
    let download = |header: Option<(&str, &str)>, path: &std::path::Path| {
        let mut request = session.get(server.url());
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        request.download(path).result()
    };
    let is_304 = |err: &Error| matches!(err, Error::Status(s) if s.status == 304);
    let kept = download(Some(("If-None-Match", "\"v1\"")), &path).unwrap();
    assert_eq!((kept.status(), kept.bytes()), (304, 16));
    assert_eq!(kept.path(), path);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "the copy we have");
    assert_eq!(dir.names(), ["mirror.txt"]);
    // Not conditional: the status error, the file untouched.
    let err = download(None, &path).unwrap_err();
    assert!(is_304(&err), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "the copy we have");
    // Conditional, but no file to keep.
    let missing = dir.join("missing.txt");
    let since = ("If-Modified-Since", "Wed, 21 Oct 2015 07:28:00 GMT");
    let err = download(Some(since), &missing).unwrap_err();
    assert!(is_304(&err), "{err:?}");
    assert!(!missing.exists());
}

/// A file server of `data` that honours `Range` (`S-` and `S-E`) and `If-Range` against its
/// `validator` header (`ETag` or `Last-Modified`, or none), and cuts its first `cuts` answers
/// (RST on Linux) after `cut_after` bytes of their body.
fn flaky_file_server(
    data: Vec<u8>,
    validator: Option<(&'static str, &'static str)>,
    cuts: usize,
    cut_after: usize,
) -> TestServer {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let answered = AtomicUsize::new(0);
    TestServer::start(move |req| {
        let len = data.len();
        let same = match (req.header("if-range"), validator) {
            (Some(asked), Some((_, value))) => asked == value,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let range = req.header("range").filter(|_| same).map(|range| {
            let spec = range.strip_prefix("bytes=").expect("a byte range");
            let (start, end) = spec.split_once('-').expect("start-end");
            let end = if end.is_empty() {
                len - 1
            } else {
                end.parse().unwrap()
            };
            (start.parse::<usize>().unwrap(), end)
        });
        let (status, body) = match range {
            Some((start, end)) => (206, data[start..=end].to_vec()),
            None => (200, data.clone()),
        };
        let mut reply = if answered.fetch_add(1, Ordering::SeqCst) < cuts && cut_after < body.len()
        {
            Reply::reset_mid_body(body, cut_after).with_status(status)
        } else {
            Reply::status(status, body)
        };
        if let Some((start, end)) = range {
            reply = reply.header("Content-Range", format!("bytes {start}-{end}/{len}"));
        }
        if let Some((name, value)) = validator {
            reply = reply.header(name, value);
        }
        // A day after the `Last-Modified` of the tests: a date that serves as a validator.
        reply.header("Date", "Thu, 22 Oct 2015 07:28:00 GMT")
    })
}

fn resuming_session(attempts: u32) -> FuturesSession {
    FuturesSession::builder()
        .retry(
            ureq_futures::RetryPolicy::new()
                .attempts(attempts)
                .base_delay(ms(5)),
        )
        .build()
}

fn pattern(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A server whose first answer is `first` and every later one `then`'s, given the request.
fn first_then(
    first: impl Fn() -> Reply + Send + Sync + 'static,
    then: impl Fn(&support::Request) -> Reply + Send + Sync + 'static,
) -> TestServer {
    let answered = std::sync::atomic::AtomicUsize::new(0);
    TestServer::start(
        move |req| match answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => first(),
            _ => then(req),
        },
    )
}

/// The answer to a resume of `data` (`ETag: "v1"`) from byte `from`, which must ask `range`.
fn the_rest(
    data: &[u8],
    from: usize,
    range: &'static str,
) -> impl Fn(&support::Request) -> Reply + Send + Sync + 'static {
    let (rest, len) = (data[from..].to_vec(), data.len());
    move |req| {
        assert_eq!(req.header("range"), Some(range));
        Reply::status(206, rest.clone())
            .header("Content-Range", format!("bytes {from}-{}/{len}", len - 1))
            .header("ETag", "\"v1\"")
    }
}

/// The download of `server`'s file to `path` by `session`, waited for.
fn fetch(session: &FuturesSession, server: &TestServer, path: &Path) -> Result<Download, Error> {
    session.get(server.url()).download(path).result()
}

/// A body cut midway is asked for again from where it stopped (`Range`, with the answer's
/// `ETag` as `If-Range`), as wget does, when a retry policy allows a retry: a large file over
/// a flaky link no longer starts over, or fails, at each cut.
#[test]
fn a_cut_body_is_resumed_where_it_stopped_under_a_retry_policy() {
    let data = pattern(300_000);
    let server = flaky_file_server(data.clone(), Some(("ETag", "\"v1\"")), 2, 100_000);
    let dir = TempDir::new("resumed");
    let path = dir.join("model.bin");
    std::fs::write(&path, "an older model").unwrap();
    let mut pending = resuming_session(3).get(server.url()).download(&path);
    let done = pending.result_timeout(secs(30)).unwrap().unwrap();
    assert_eq!((done.status(), done.bytes()), (200, 300_000));
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(dir.names(), ["model.bin"]);
    let requests = server.requests();
    let asked: Vec<_> = (requests.iter())
        .map(|r| {
            (
                r.header("range"),
                r.header("if-range"),
                r.header("accept-encoding"),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [
            (None, None, Some("identity")),
            (
                Some("bytes=100000-299999"),
                Some("\"v1\""),
                Some("identity")
            ),
            (
                Some("bytes=200000-299999"),
                Some("\"v1\""),
                Some("identity")
            ),
        ]
    );
    // Progress counted each byte once.
    assert_eq!(pending.progress().done, 300_000);
}

/// A resume is a retry to `on_retry`: the cut is its reason.
#[test]
fn on_retry_hears_each_resume() {
    use std::sync::{Arc, Mutex};
    let data = pattern(100_000);
    let server = flaky_file_server(data.clone(), Some(("ETag", "\"v1\"")), 1, 30_000);
    let dir = TempDir::new("resume-told");
    let path = dir.join("a.bin");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let policy = ureq_futures::RetryPolicy::new()
        .base_delay(ms(5))
        .on_retry(move |event| log.lock().unwrap().push(event.clone()));
    let session = FuturesSession::builder().retry(policy).build();
    fetch(&session, &server, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].attempt, seen[0].attempts), (1, 3));
    assert_eq!(seen[0].url, server.url());
    assert!(seen[0].reason.starts_with("io: "), "{}", seen[0].reason);
}

/// `Last-Modified` serves as the validator when there is no strong `ETag`; a cut past the
/// policy's attempts fails as a cut, saying how many resumes were made.
#[test]
fn resumes_use_last_modified_and_stop_at_the_policys_attempts() {
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    let data = pattern(50_000);
    let server = flaky_file_server(data.clone(), Some(("Last-Modified", date)), 1, 20_000);
    let dir = TempDir::new("resumed-date");
    let path = dir.join("a.bin");
    fetch(&resuming_session(2), &server, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(server.requests()[1].header("if-range"), Some(date));

    let always_cut = flaky_file_server(data, Some(("ETag", "\"v1\"")), usize::MAX, 10_000);
    let err = (resuming_session(3).get(always_cut.url()))
        .download(dir.join("b.bin"))
        .result()
        .unwrap_err();
    assert!(matches!(&err, Error::Io(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(
            "resumed 2 times, the most RetryPolicy::attempts allows; the file was cut at byte 30,000"
        ),
        "{text}"
    );
    assert_eq!(always_cut.request_count(), 3);
    assert_eq!(dir.names(), ["a.bin"]);
}

/// Without a validator, or for a request that accepts an encoded body, a cut is not resumed
/// (the rest could be of another version of the file, or count other bytes), and the error
/// says why; without a retry policy a cut fails as it always did, one request.
#[test]
fn a_cut_is_not_resumed_without_a_validator_and_says_why() {
    let dir = TempDir::new("not-resumed");
    let path = dir.join("a.bin");
    // The error of a download cut once, from a server with `validator`, by `session`, with
    // the request's `Accept-Encoding` if given; and how many requests the server saw.
    let cut = |validator, session: FuturesSession, accept: Option<&str>| {
        let server = flaky_file_server(pattern(50_000), validator, 1, 20_000);
        let mut request = session.get(server.url());
        if let Some(accept) = accept {
            request = request.header("Accept-Encoding", accept);
        }
        let err = request.download(&path).result().unwrap_err().to_string();
        (err, server.requests())
    };
    let tag = Some(("ETag", "\"v1\""));
    let (err, sent) = cut(None, resuming_session(3), None);
    assert!(
        err.contains("not resumed: the answer named no ETag"),
        "{err}"
    );
    assert_eq!(sent.len(), 1);
    let (err, sent) = cut(tag, resuming_session(3), Some("gzip"));
    let says = "not resumed: the request accepts an encoded body (Accept-Encoding: gzip)";
    assert!(err.contains(says), "{err}");
    assert_eq!(sent.len(), 1);
    // A `Last-Modified` the minute of its `Date` (here the test server's) is no validator.
    let (err, _) = cut(
        Some(("Last-Modified", "Thu, 22 Oct 2015 07:27:30 GMT")),
        resuming_session(3),
        None,
    );
    assert!(err.contains("not resumed: the answer named no strong ETag, and its Last-Modified is not a minute before its Date"), "{err}");
    let (err, _) = cut(Some(("ETag", "W/\"v1\"")), resuming_session(3), None);
    assert!(
        err.contains("not resumed: the answer named no ETag (or only a weak one)"),
        "{err}"
    );
    // A body whose end is its connection's (as a body decoded on the way, it has no length).
    let server = TestServer::start(|_| {
        Reply::reset_mid_close_delimited(pattern(50_000), 20_000).header("ETag", "\"v1\"")
    });
    let err = (resuming_session(3).get(server.url()).download(&path))
        .result()
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "not resumed: the answer's length as sent is not known: it named none (no Content-Length, not chunked"
        ),
        "{err}"
    );
    assert_eq!(server.request_count(), 1);
    // A file changed in the second its answer was made: nginx's ETag (its time and length)
    // would be the same for a version written in that second.
    let fresh = "Thu, 22 Oct 2015 07:28:00 GMT";
    let server = TestServer::start(move |_| {
        Reply::reset_mid_body(pattern(50_000), 20_000)
            .header("ETag", "\"5628907e-c350\"")
            .header("Last-Modified", fresh)
            .header("Date", fresh)
    });
    let err = fetch(&resuming_session(3), &server, &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("not resumed: the file changed in the second its answer was made"),
        "{err}"
    );
    assert_eq!(server.request_count(), 1);
    let (err, sent) = cut(tag, FuturesSession::new(), None);
    assert!(!err.contains("resume"), "{err}");
    assert_eq!(sent.len(), 1);
    // The request without a policy asked for what the build decodes, as before.
    assert_ne!(sent[0].header("accept-encoding"), Some("identity"));
    assert!(dir.names().is_empty(), "{:?}", dir.names());
}

/// A file that changed between the cut and the resume comes whole (the server answers the
/// `If-Range` that no longer matches with a 200), and the file holds the new version alone.
#[test]
fn a_file_that_changed_before_the_resume_comes_whole() {
    let old = pattern(40_000);
    let new: Vec<u8> = old.iter().map(|b| b ^ 0xff).collect();
    let expected = new.clone();
    let server = first_then(
        move || Reply::reset_mid_body(old.clone(), 15_000).header("ETag", "\"old\""),
        move |req| {
            assert_eq!(req.header("if-range"), Some("\"old\""));
            Reply::ok(new.clone()).header("ETag", "\"new\"")
        },
    );
    let dir = TempDir::new("changed");
    let path = dir.join("a.bin");
    let mut pending = resuming_session(3).get(server.url()).download(&path);
    let done = pending.result_timeout(secs(30)).unwrap().unwrap();
    assert_eq!((done.status(), done.bytes()), (200, 40_000));
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    assert_eq!(pending.progress().done, 40_000);
}

/// A caller's own range is resumed within its bounds, and a caller's resume of a file already
/// there (`bytes=S-`) keeps that file's start: the cut lands whole all the same.
#[test]
fn a_cut_range_is_resumed_within_its_bounds() {
    let data = pattern(100_000);
    let dir = TempDir::new("range-resumed");
    let path = dir.join("a.bin");
    // A download of `range`, cut once after 10,000 bytes: the download, and the resume's range.
    let cut_once = |range: &str| {
        let server = flaky_file_server(data.clone(), Some(("ETag", "\"v1\"")), 1, 10_000);
        let done = (resuming_session(3).get(server.url()))
            .header("Range", range)
            .download(&path)
            .result()
            .unwrap();
        let resumed = server.requests()[1].header("range").map(str::to_string);
        ((done.status(), done.bytes()), resumed.unwrap_or_default())
    };
    let (done, resumed) = cut_once("bytes=0-49999");
    assert_eq!(
        (done, resumed.as_str()),
        ((206, 50_000), "bytes=10000-49999")
    );
    assert_eq!(std::fs::read(&path).unwrap(), &data[..50_000]);
    let (done, resumed) = cut_once("bytes=50000-");
    assert_eq!(
        (done, resumed.as_str()),
        ((206, 100_000), "bytes=60000-99999")
    );
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

/// A resume answered with anything but the rest (a refusal, another range) fails as the cut,
/// saying what the resume met; the part file goes and the file there stays.
#[test]
fn a_resume_that_is_refused_fails_as_the_cut_and_says_so() {
    let data = pattern(40_000);
    let dir = TempDir::new("refused");
    let path = dir.join("a.bin");
    std::fs::write(&path, "kept").unwrap();
    for (second, says) in [
        (
            Reply::status(403, "no"),
            "the resume from byte 15,000 failed: it was answered 403",
        ),
        (
            Reply::status(206, vec![0; 100]).header("Content-Range", "bytes 0-99/40000"),
            "the resume from byte 15,000 failed: it carries bytes 0-99, not the rest",
        ),
        (
            Reply::status(206, vec![0; 25_000])
                .header("Content-Range", "bytes 15000-39999/50000")
                .header("ETag", "\"v1\""),
            "the resume from byte 15,000 failed: it carries bytes of a file of 50000 bytes, \
             where the first answer's had 40000",
        ),
        // A server that ignores `If-Range`: the range of a file replaced since.
        (
            Reply::status(206, vec![0; 25_000])
                .header("Content-Range", "bytes 15000-39999/40000")
                .header("ETag", "\"v2\""),
            "the resume from byte 15,000 failed: it carries another version of the file \
             (ETag \"v2\", where the bytes so far are of \"v1\")",
        ),
    ] {
        let data = data.clone();
        let second = std::sync::Mutex::new(Some(second));
        let server = first_then(
            move || Reply::reset_mid_body(data.clone(), 15_000).header("ETag", "\"v1\""),
            move |_| second.lock().unwrap().take().expect("two requests"),
        );
        let err = fetch(&resuming_session(3), &server, &path).unwrap_err();
        assert!(matches!(&err, Error::Io(_)), "{err:?}");
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept");
        assert_eq!(dir.names(), ["a.bin"]);
    }
}

/// A body that stalls past the `read_timeout` is resumed as a cut one is.
#[test]
fn a_stalled_body_is_resumed() {
    let data = pattern(30_000);
    let first = data[..10_000].to_vec();
    let server = first_then(
        move || Reply::stall_mid_body(first.clone(), 30_000).header("ETag", "\"v1\""),
        the_rest(&data, 10_000, "bytes=10000-29999"),
    );
    let dir = TempDir::new("stall-resumed");
    let path = dir.join("a.bin");
    let session = FuturesSession::builder()
        .read_timeout(ms(300))
        .retry(ureq_futures::RetryPolicy::new().base_delay(ms(5)))
        .build();
    fetch(&session, &server, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

/// A cancel (or `shutdown_now`) ends a download waiting to resume at once: the handle says
/// `Cancelled`, the worker is free, the part file goes, nothing more is sent.
#[test]
fn a_cancel_ends_a_download_waiting_to_resume() {
    for shutdown in [false, true] {
        let server = flaky_file_server(pattern(50_000), Some(("ETag", "\"v1\"")), 1, 20_000);
        let dir = TempDir::new("cancel-resume");
        let path = dir.join("a.bin");
        let policy = ureq_futures::RetryPolicy::new().base_delay(secs(60));
        let session = FuturesSession::builder()
            .retry(policy.max_delay(secs(60)))
            .build();
        let pending = session.get(server.url()).download(&path);
        assert!(support::eventually(secs(10), || pending.progress().done == 20_000));
        if shutdown {
            std::thread::sleep(ms(100));
            session.shutdown_now();
        } else {
            assert!(pending.cancel());
        }
        assert!(matches!(pending.result(), Err(Error::Cancelled)));
        let (_, took) = support::timed(|| session.join());
        assert!(took < secs(5), "{took:?}");
        let gone = support::eventually(secs(10), || dir.names().is_empty());
        assert!(gone, "{:?}", dir.names());
        assert_eq!(server.request_count(), 1);
    }
}

/// A resume is a new request to the origin: under a rate limiter it takes one token, as a
/// retry does, in a job of its own and in one its waiter ran (whose first request takes its
/// token as it is sent): two resumes and the first request, 3 tokens at 1 every 2 s (burst 1),
/// take 4 s; a resume without a token would take 2 s, one with two, 8 s (the margins hold on
/// a loaded machine).
#[test]
fn a_resume_takes_one_turn_at_the_rate_limiter() {
    use ureq_futures::{RateLimit, RateLimiter};
    let data = pattern(50_000);
    for inline in [false, true] {
        let server = flaky_file_server(data.clone(), Some(("ETag", "\"v1\"")), 2, 10_000);
        let limiter = RateLimiter::new().host("127.0.0.1", RateLimit::per_second(0.5).burst(1));
        let session = FuturesSession::builder()
            .max_workers(1)
            .rate_limiter(limiter)
            .retry(ureq_futures::RetryPolicy::new().base_delay(ms(1)))
            .build();
        let dir = TempDir::new("resume-limited");
        let path = dir.join("a.bin");
        let (own, url, p) = (session.clone(), server.url(), path.clone());
        let (done, took) = support::timed(|| match inline {
            // The only worker runs the download inline as it waits for it.
            true => (session.submit(move |_| Ok(own.get(url).download(p).result())))
                .result()
                .unwrap(),
            false => own.get(url).download(p).result(),
        });
        done.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert_eq!(server.request_count(), 3);
        assert!(
            took >= ms(3_900) && took < ms(6_000),
            "inline {inline}: {took:?}"
        );
    }
}

/// A chunked body (no length known) cut before its last chunk is resumed to the end of the file
/// that the resume's `Content-Range` gives.
#[test]
fn a_cut_chunked_body_is_resumed_to_the_end_of_the_file() {
    let data = pattern(30_000);
    let first = data[..12_000].to_vec();
    let server = first_then(
        move || {
            let chunks = [first[..8_000].to_vec(), first[8_000..].to_vec()];
            Reply::chunked_cut(chunks, ms(0)).header("ETag", "\"v1\"")
        },
        the_rest(&data, 12_000, "bytes=12000-"),
    );
    let dir = TempDir::new("chunked-resumed");
    let path = dir.join("a.bin");
    fetch(&resuming_session(3), &server, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

/// A resume that cannot reach the server fails as the cut, saying what the resume met.
#[test]
fn a_resume_that_cannot_connect_fails_as_the_cut_and_says_so() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    let server = TestServer::start(move |_| {
        let reply = Reply::reset_mid_body(pattern(50_000), 20_000).header("ETag", "\"v1\"");
        let _ = rx.lock().unwrap().recv_timeout(secs(10));
        reply
    });
    let url = server.url();
    let dir = TempDir::new("resume-refused");
    let path = dir.join("a.bin");
    let session = FuturesSession::builder()
        .retry(
            ureq_futures::RetryPolicy::new()
                .attempts(2)
                .base_delay(ms(300)),
        )
        .build();
    let pending = session.get(url).download(&path);
    // The answer's head goes once the server is told; the server is gone before the resume.
    tx.send(()).unwrap();
    assert!(support::eventually(secs(10), || pending.progress().done == 20_000));
    drop(server);
    let err = pending.result().unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("body cut after 20,000 of 50,000 bytes"),
        "{text}"
    );
    assert!(
        text.contains("the resume from byte 20,000 failed: "),
        "{text}"
    );
    assert!(
        text.contains("Connection refused") || text.contains("connect"),
        "{text}"
    );
}

/// A chunked body cut after its last byte but before its end: the resume's 416 says the file
/// is whole, and it lands.
#[test]
fn a_resume_answered_416_at_the_files_end_lands_the_file() {
    let data = pattern(30_000);
    let whole = data.clone();
    let server = first_then(
        move || Reply::chunked_cut([whole.clone()], ms(0)).header("ETag", "\"v1\""),
        |req| {
            assert_eq!(req.header("range"), Some("bytes=30000-"));
            Reply::status(416, "").header("Content-Range", "bytes */30000")
        },
    );
    let dir = TempDir::new("resume-416-whole");
    let path = dir.join("a.bin");
    let done = fetch(&resuming_session(3), &server, &path).unwrap();
    assert_eq!((done.status(), done.bytes()), (200, 30_000));
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

/// A resume's range that comes without a validator, and is cut too, is resumed again with the
/// first answer's; a range longer than it says fails, saying so.
#[test]
fn a_range_without_a_validator_is_resumed_again_and_a_long_one_fails() {
    let data = pattern(40_000);
    let (rest, tail) = (data[10_000..].to_vec(), data[20_000..].to_vec());
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let first = data.clone();
    let server = TestServer::start(move |req| {
        match answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Reply::reset_mid_body(first.clone(), 10_000).header("ETag", "\"v1\""),
            1 => Reply::reset_mid_body(rest.clone(), 10_000)
                .with_status(206)
                .header("Content-Range", "bytes 10000-39999/40000"),
            _ => {
                assert_eq!(req.header("if-range"), Some("\"v1\""));
                Reply::status(206, tail.clone()).header("Content-Range", "bytes 20000-39999/40000")
            }
        }
    });
    let dir = TempDir::new("resume-twice");
    let path = dir.join("a.bin");
    fetch(&resuming_session(3), &server, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);

    let long = first_then(
        move || Reply::reset_mid_body(data.clone(), 15_000).header("ETag", "\"v1\""),
        |_| {
            Reply::chunked([vec![0; 30_000]], ms(0))
                .with_status(206)
                .header("Content-Range", "bytes 15000-39999/40000")
        },
    );
    let err = fetch(&resuming_session(3), &long, &path).unwrap_err();
    let says = "carried 30000 bytes for the range 15000-39999";
    assert!(
        matches!(&err, Error::Protocol(m) if m.contains(says)),
        "{err:?}"
    );
}

/// Only a GET is resumed (ranges are a GET's): a PUT's download fails at its cut, sent once.
/// An `Accept-Encoding` of `identity` with a weight still asks for the bytes as sent.
#[test]
fn only_a_get_is_resumed_and_identity_may_carry_a_weight() {
    let data = pattern(50_000);
    let dir = TempDir::new("resume-methods");
    let path = dir.join("a.bin");
    let server = flaky_file_server(data.clone(), Some(("ETag", "\"v1\"")), 1, 20_000);
    let err = (resuming_session(3).put(server.url()).download(&path))
        .result()
        .unwrap_err();
    assert!(!err.to_string().contains("resume"), "{err}");
    assert_eq!(server.request_count(), 1);

    let server = flaky_file_server(data.clone(), Some(("ETag", "\"v1\"")), 1, 20_000);
    (resuming_session(3).get(server.url()))
        .header("Accept-Encoding", "identity;q=1")
        .download(&path)
        .result()
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

/// A chunked range cut after its last byte, before its last chunk, holds all it asked for: it
/// lands without a resume (whose range would start past its end).
#[test]
fn a_range_cut_after_its_last_byte_lands_without_a_resume() {
    let data = pattern(20_000);
    let server = TestServer::start(|_| {
        Reply::chunked_cut([pattern(20_000)[..10_000].to_vec()], ms(0))
            .with_status(206)
            .header("Content-Range", "bytes 0-9999/20000")
            .header("ETag", "\"v1\"")
    });
    let dir = TempDir::new("range-whole");
    let path = dir.join("a.bin");
    let done = (resuming_session(3).get(server.url()))
        .header("Range", "bytes=0-9999")
        .download(&path)
        .result()
        .unwrap();
    assert_eq!((done.status(), done.bytes()), (206, 10_000));
    assert_eq!(std::fs::read(&path).unwrap(), &data[..10_000]);
    assert_eq!(server.request_count(), 1);
}

/// A server whose first answer cuts `old` at 15,000 with `first_headers`, and whose resume
/// answer ignores `If-Range` and sends the rest of `new` with `then_headers`.
fn replaced(
    first_headers: &'static [(&'static str, &'static str)],
    then_headers: &'static [(&'static str, &'static str)],
) -> (TestServer, Vec<u8>, Vec<u8>) {
    let old = pattern(40_000);
    let new: Vec<u8> = old.iter().map(|b| b ^ 0xff).collect();
    let (o, n) = (old.clone(), new.clone());
    let server = first_then(
        move || {
            let mut r = Reply::reset_mid_body(o.clone(), 15_000);
            for (k, v) in first_headers {
                r = r.header(k, *v);
            }
            r
        },
        move |_| {
            let mut r = Reply::status(206, n[15_000..].to_vec())
                .header("Content-Range", "bytes 15000-39999/40000");
            for (k, v) in then_headers {
                r = r.header(k, *v);
            }
            r
        },
    );
    (server, old, new)
}

/// A range that a server sent although the `If-Range` did not match (it ignores it) is of
/// another version when its `ETag` or its `Last-Modified` is another, whatever its `Date`
/// (a date `If-Range` is taken only a minute before it): refused, never joined to the start of
/// the first. A range with the first answer's date and no `ETag` is of the same version.
#[test]
fn a_range_of_another_version_is_refused_whatever_its_dates() {
    const OLD: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    const SENT: &str = "Thu, 22 Oct 2015 07:28:00 GMT";
    type Headers = &'static [(&'static str, &'static str)];
    let cases: [(Headers, Headers, bool); 3] = [
        // Replaced 30 s before the resume's `Date`.
        (
            &[("Last-Modified", OLD), ("Date", SENT)],
            &[
                ("Last-Modified", "Thu, 22 Oct 2015 07:29:30 GMT"),
                ("Date", "Thu, 22 Oct 2015 07:30:00 GMT"),
            ],
            false,
        ),
        // Another ETag, written in the second of its `Date`.
        (
            &[("ETag", "\"v1\""), ("Last-Modified", OLD), ("Date", SENT)],
            &[
                ("ETag", "\"v2\""),
                ("Last-Modified", "Thu, 22 Oct 2015 07:30:00 GMT"),
                ("Date", "Thu, 22 Oct 2015 07:30:00 GMT"),
            ],
            false,
        ),
        // The same date, the ETag left out: the same version.
        (
            &[("ETag", "\"v1\""), ("Last-Modified", OLD), ("Date", SENT)],
            &[
                ("Last-Modified", OLD),
                ("Date", "Thu, 22 Oct 2015 07:28:01 GMT"),
            ],
            true,
        ),
    ];
    let dir = TempDir::new("resume-versions");
    let path = dir.join("a.bin");
    for (first, then, same) in cases {
        let (server, old, new) = replaced(first, then);
        let got = fetch(&resuming_session(3), &server, &path);
        if same {
            assert_eq!(got.unwrap().bytes(), 40_000);
            let mut joined = old[..15_000].to_vec();
            joined.extend_from_slice(&new[15_000..]);
            assert_eq!(std::fs::read(&path).unwrap(), joined);
        } else {
            let says = "the resume from byte 15,000 failed: it carries another version";
            assert!(
                matches!(&got, Err(e) if e.to_string().contains(says)),
                "{got:?}"
            );
            assert!(!path.exists());
        }
    }
}

/// `identity, gzip;q=0` refuses every encoding: the body comes as sent.
#[test]
fn identity_with_gzip_refused_is_resumed() {
    let server = flaky_file_server(pattern(50_000), Some(("ETag", "\"v1\"")), 1, 20_000);
    let dir = TempDir::new("resume-ae");
    let path = dir.join("a.bin");
    (resuming_session(3).get(server.url()))
        .header("Accept-Encoding", "identity, gzip;q=0")
        .download(&path)
        .result()
        .unwrap();
}

/// `identity;q=0` refuses the body as sent: it is not "identity".
#[test]
fn identity_q0_is_not_resumed() {
    let server = flaky_file_server(pattern(50_000), Some(("ETag", "\"v1\"")), 1, 20_000);
    let dir = TempDir::new("resume-ae0");
    let path = dir.join("a.bin");
    let got = (resuming_session(3).get(server.url()))
        .header("Accept-Encoding", "identity;q=0")
        .download(&path)
        .result();
    assert!(
        matches!(&got, Err(e) if e.to_string().contains("not resumed")),
        "{:?}; requests {}",
        got.map(|d| d.bytes()),
        server.request_count()
    );
}

/// After a chunked first answer (no length), the first resume's 206 gives the file's end
/// (40,000 bytes): a second resume asks up to it, and refuses a 206 that runs past it.
#[test]
fn a_second_resume_is_held_to_the_length_the_first_gave() {
    let data = pattern(50_000);
    let (first, rest, tail) = (
        data[..10_000].to_vec(),
        data[10_000..40_000].to_vec(),
        data[20_000..].to_vec(),
    );
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let server = TestServer::start(move |_| {
        match answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Reply::chunked_cut([first.clone()], ms(0)).header("ETag", "\"v1\""),
            1 => Reply::reset_mid_body(rest.clone(), 10_000)
                .with_status(206)
                .header("Content-Range", "bytes 10000-39999/40000")
                .header("ETag", "\"v1\""),
            _ => Reply::status(206, tail.clone())
                .header("Content-Range", "bytes 20000-49999/50000")
                .header("ETag", "\"v1\""),
        }
    });
    let dir = TempDir::new("resume-len2");
    let path = dir.join("a.bin");
    let got = fetch(&resuming_session(4), &server, &path);
    let asked: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("range").map(str::to_string))
        .collect();
    // The second resume asks up to the end the first gave, and refuses a range past it.
    assert_eq!(asked[2].as_deref(), Some("bytes=20000-39999"));
    assert!(
        matches!(&got, Err(e) if e.to_string().contains("the resume from byte 20,000 failed")),
        "{:?}; ranges asked {asked:?}",
        got.map(|d| d.bytes())
    );
}

/// max_per_host(1): a second download to the host waits while the first resumes.
#[test]
fn max_per_host_holds_through_a_resume() {
    let data = pattern(50_000);
    let d = data.clone();
    let server = TestServer::start(move |req| match req.header("range") {
        None => Reply::reset_mid_body(d.clone(), 20_000).header("ETag", "\"v1\""),
        Some(_) => Reply::status(206, d[20_000..].to_vec())
            .header("Content-Range", "bytes 20000-49999/50000")
            .header("ETag", "\"v1\""),
    });
    let session = FuturesSession::builder()
        .max_per_host(1)
        .retry(ureq_futures::RetryPolicy::new().base_delay(ms(200)))
        .build();
    let dir = TempDir::new("resume-per-host");
    let a = session.get(server.url()).download(dir.join("a.bin"));
    let b = session.get(server.url()).download(dir.join("b.bin"));
    a.result().unwrap();
    b.result().unwrap();
    let ranges: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("range").map(str::to_string))
        .collect();
    assert_eq!(
        ranges,
        [
            None,
            Some("bytes=20000-49999".into()),
            None,
            Some("bytes=20000-49999".into())
        ],
        "{ranges:?}"
    );
}

/// A 204 has no body: the file at the path stays as it was (an earlier download's), as wget
/// leaves it, and none is made where there was none. A HEAD answer never has a body: such a
/// download is refused before it is sent.
#[test]
fn no_content_leaves_the_file_at_the_path_and_a_head_request_is_refused() {
    let server = TestServer::start(|r| match r.path_only() {
        "/none" => Reply::status(204, ""),
        _ => Reply::ok("new contents"),
    });
    let dir = TempDir::new("download-no-content");
    let session = FuturesSession::new();
    let no_content = |path: &std::path::Path| {
        let done = (session.get(server.url_for("/none")).download(path))
            .result()
            .unwrap();
        (done.status(), done.bytes())
    };
    let kept = dir.join("kept.bin");
    std::fs::write(&kept, b"earlier contents").unwrap();
    assert_eq!(no_content(&kept), (204, 16));
    assert_eq!(std::fs::read(&kept).unwrap(), b"earlier contents");
    assert_eq!(no_content(&dir.join("absent.bin")), (204, 0));
    assert_eq!(dir.names(), ["kept.bin"]);
    let err = session
        .request("HEAD", server.url_for("/file?key=secret"))
        .download(&kept)
        .result()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid request: download of a HEAD request to {}: its answer has no body to \
             write to {}; for the answer's headers alone, use send()",
            server.url_for("/file?<redacted>"),
            kept.display()
        )
    );
    assert_eq!(server.request_count(), 2, "the HEAD request was sent");
    assert_eq!(std::fs::read(&kept).unwrap(), b"earlier contents");
}
