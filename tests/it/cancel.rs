//! Cancelling work that is already running: on a silent server, a cancel resolves the handle at
//! once and frees the worker; so does dropping an event stream or a chat stream; `shutdown_now`
//! stops everything. Every "the worker is free" is proved by a next job on a 1-worker session.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crossbeam_channel::Receiver;
use support::{Reply, TestServer};
#[cfg(feature = "llm")]
use ureq_futures::llm::{ChatRequest, Conversation, Message, OpenAIClient};
use ureq_futures::sse::StopHandle;
use ureq_futures::{as_completed, BodyReader, Error, FuturesSession};

/// Long enough never to be reached by a passing test, short enough to fail a broken one.
const HANG: Duration = Duration::from_secs(30);

/// Waits, without a timeout of its own, until the client closes the connection.
pub(crate) fn silent_until_closed(socket: &mut TcpStream) {
    let _ = socket.set_read_timeout(None);
    // Reads until the end: a request that arrives in more than one segment must not make the
    // server close the connection on the client before the client goes away.
    while matches!(socket.read(&mut [0; 4096]), Ok(n) if n > 0) {}
}

/// A server that answers nothing, and tells `seen` about each request it receives.
pub(crate) fn silent_server() -> (TestServer, Receiver<()>) {
    let (tx, seen) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |_| {
        let _ = tx.send(());
        Reply::custom(silent_until_closed)
    });
    (server, seen)
}

/// An event stream that sends one event and then goes silent.
fn one_event_then_silence() -> (TestServer, Receiver<()>) {
    let (tx, seen) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |_| {
        let _ = tx.send(());
        Reply::custom(|socket| {
            let _ = socket.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: one\n\n",
            );
            silent_until_closed(socket);
        })
    });
    (server, seen)
}

/// Asserts that the session's only worker runs a new job.
fn worker_is_free(session: &FuturesSession) {
    let mut next = session.submit(|_| Ok(7));
    match next.result_timeout(HANG) {
        Some(result) => assert_eq!(result.unwrap(), 7),
        None => panic!("the worker is still held by the cancelled request"),
    }
}

#[test]
fn cancel_interrupts_a_request_on_a_silent_server_and_frees_the_worker() {
    let (server, seen) = silent_server();
    let session = FuturesSession::builder().max_workers(1).build();
    let pending = session.get(server.url()).send();
    seen.recv_timeout(HANG).unwrap();
    assert!(pending.cancel());
    assert!(!pending.cancel(), "a second cancel finds it done");
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    worker_is_free(&session);
}

/// Waits until a connect to `addr` (a listener that lets none finish) is in progress: a socket
/// of this machine in `SYN_SENT` towards it, as Linux lists them in `/proc/net/tcp`.
fn connecting_to(addr: std::net::SocketAddr) {
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        panic!("{addr}: an IPv4 listener was expected");
    };
    let remote = format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(ip.octets()),
        addr.port()
    );
    let until = std::time::Instant::now() + HANG;
    while std::time::Instant::now() < until {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp (Linux)");
        let connecting = table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"02")
        });
        if connecting {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no connect to {addr} started");
}

/// A one-worker session whose connect timeout is longer than the tests wait (through `proxy`
/// when given): only a cancel can end its connect to a listener that lets none finish.
fn patient_session(proxy: Option<std::net::SocketAddr>) -> FuturesSession {
    let proxy = proxy.map(|at| ureq_futures::ureq::Proxy::new(&format!("http://{at}")).unwrap());
    FuturesSession::builder()
        .max_workers(1)
        .connect_timeout(HANG * 4)
        .proxy(proxy)
        .build()
}

#[test]
fn cancel_interrupts_a_connect_in_progress() {
    let (addr, _listener, _held) = crate::transport_errors::full_backlog();
    let session = patient_session(None);
    let pending = session.get(format!("http://{addr}/")).send();
    connecting_to(addr);
    assert!(pending.cancel());
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    worker_is_free(&session);
}

#[test]
fn shutdown_now_interrupts_a_connect_to_a_proxy() {
    let (addr, _listener, _held) = crate::transport_errors::full_backlog();
    let session = patient_session(Some(addr));
    let pending = session.get("https://example.com/").send();
    connecting_to(addr);
    session.shutdown_now();
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    crate::joins_within(&session, HANG, "join waited for a worker held by a connect");
}

#[test]
fn cancel_interrupts_a_retry_wait() {
    let (tx, seen) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |_| {
        let _ = tx.send(());
        Reply::status(503, "busy")
    });
    let session = FuturesSession::builder()
        .max_workers(1)
        .retry(ureq_futures::RetryPolicy::new().base_delay(Duration::from_secs(600)))
        .build();
    let pending = session.get(server.url()).send();
    seen.recv_timeout(HANG).unwrap();
    assert!(pending.cancel());
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    worker_is_free(&session);
    assert_eq!(
        server.request_count(),
        1,
        "the cancelled request was retried"
    );
}

#[test]
fn a_finished_request_is_not_affected() {
    let server = TestServer::start(|_| Reply::ok("done"));
    let session = FuturesSession::builder().max_workers(1).build();
    let pending = session.get(server.url()).send();
    pending.wait();
    assert!(!pending.cancel());
    assert_eq!(pending.result().unwrap().text().unwrap(), "done");
    // The connection it used is still good for the next request.
    let again = session.get(server.url()).send().result().unwrap();
    assert_eq!(again.text().unwrap(), "done");
}

#[test]
fn dropping_an_event_stream_on_a_silent_server_frees_its_worker() {
    let (server, seen) = one_event_then_silence();
    // No read timeout: only the drop can free the worker.
    let session = FuturesSession::builder().max_workers(1).build();
    let mut stream = session.get(server.url()).events().result().unwrap();
    seen.recv_timeout(HANG).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().data, "one");
    drop(stream);
    worker_is_free(&session);
}

/// A stream's handle dropped before the server answered: nobody can read that stream, so its
/// job is cancelled (it held the worker for as long as the server stayed silent).
#[test]
fn dropping_an_event_streams_handle_before_the_answer_frees_its_worker() {
    let (server, seen) = silent_server();
    let session = FuturesSession::builder().max_workers(1).build();
    let pending = session.get(server.url()).events();
    seen.recv_timeout(HANG).unwrap();
    drop(pending);
    worker_is_free(&session);
    // Other handles dropped unclaimed are not cancelled: their jobs run to their end.
    let (tx, ran) = crossbeam_channel::bounded(1);
    drop(session.submit(move |_| {
        std::thread::sleep(Duration::from_millis(50));
        tx.send(()).map_err(|_| ureq_futures::Error::Cancelled)
    }));
    ran.recv_timeout(HANG).expect("the dropped job ran");
}

#[test]
fn as_completed_can_cancel_the_rest() {
    let (server, seen) = silent_server();
    let session = FuturesSession::builder().max_workers(2).build();
    let quick = session.submit(|_| Ok(None));
    let handles = vec![
        quick,
        session
            .get(server.url())
            .send_with(|r| Ok(Some(r.status()))),
        session
            .get(server.url())
            .send_with(|r| Ok(Some(r.status()))),
    ];
    let mut done = as_completed(handles);
    let (first, result) = done.next().unwrap();
    assert_eq!((first, result.unwrap()), (0, None));
    // One request runs on the second worker, the other waits in the queue.
    seen.recv_timeout(HANG).unwrap();
    assert_eq!(done.cancel_rest(), 2);
    let rest: Vec<_> = done.collect();
    assert_eq!(rest.len(), 2);
    assert!(rest.iter().all(|(_, r)| matches!(r, Err(Error::Cancelled))));
    worker_is_free(&session);
}

#[test]
fn shutdown_now_cancels_running_requests_and_streams() {
    let (server, seen) = silent_server();
    let (events, events_seen) = one_event_then_silence();
    let session = FuturesSession::builder().max_workers(2).build();
    let request = session.get(server.url()).send();
    let mut stream = session.get(events.url()).events().result().unwrap();
    seen.recv_timeout(HANG).unwrap();
    events_seen.recv_timeout(HANG).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().data, "one");
    let queued = session.submit(|_| Ok(()));
    session.shutdown_now();
    assert!(matches!(request.result(), Err(Error::Cancelled)));
    assert!(matches!(queued.result(), Err(Error::ShutDown)));
    match stream.next() {
        Some(Err(Error::Cancelled)) => {}
        other => panic!("expected the stream to end cancelled, got {other:?}"),
    }
    // Both workers were interrupted, so join returns.
    crate::joins_within(&session, HANG, "join waited for an interrupted worker");
}

/// An event stream that sends `n` events at once and then stays open.
fn many_events_then_silence(n: usize) -> TestServer {
    TestServer::start(move |_| {
        Reply::custom(move |socket| {
            let mut body =
                String::from("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n");
            for i in 0..n {
                body.push_str(&format!("data: {i}\n\n"));
            }
            let _ = socket.write_all(body.as_bytes());
            silent_until_closed(socket);
        })
    })
}

/// A stream of `session` with room for two events, from a server that sends fifty at once,
/// returned once its channel is full: its worker then waits for room. Keep the server.
fn unread_stream(session: &FuturesSession) -> (TestServer, ureq_futures::sse::EventStream) {
    let events = many_events_then_silence(50);
    let options = ureq_futures::sse::StreamOptions::default().capacity(2);
    let stream = session
        .get(events.url())
        .events_with(options)
        .result()
        .unwrap();
    let start = std::time::Instant::now();
    while stream.receiver().len() < 2 {
        assert!(start.elapsed() < HANG, "the stream's channel never filled");
        std::thread::sleep(Duration::from_millis(1));
    }
    (events, stream)
}

/// A stream nobody reads fills its channel, and its worker waits for room: `shutdown_now`
/// frees that worker too (`join` returns while the stream is still held), and the stream
/// yields what it holds, then `Err(Cancelled)`. The worker waited until the stream was read.
#[test]
fn shutdown_now_frees_the_worker_of_a_stream_nobody_reads() {
    let session = FuturesSession::new();
    let (_events, mut stream) = unread_stream(&session);
    session.shutdown_now();
    crate::joins_within(
        &session,
        HANG,
        "join waited for the worker of the unread stream",
    );
    let data: Vec<_> = stream.by_ref().take(2).map(|e| e.unwrap().data).collect();
    assert_eq!(data, ["0", "1"]);
    assert!(matches!(stream.next(), Some(Err(Error::Cancelled))));
    assert!(stream.next().is_none());
}

/// The same through a stop handle: the session's only worker is free while the stream is held.
#[test]
fn a_stop_frees_the_worker_of_a_stream_nobody_reads() {
    let session = FuturesSession::builder().max_workers(1).build();
    let (_events, mut stream) = unread_stream(&session);
    stream.stop_handle().stop();
    worker_is_free(&session);
    assert_eq!(stream.by_ref().take(2).count(), 2);
    assert!(matches!(stream.next(), Some(Err(Error::Cancelled))));
    assert!(stream.next().is_none());
}

/// A job a worker has just taken from the queue, not yet started, is stopped too: the stop
/// comes at every moment of a request's start (spins of 0 to 150 µs after the submit), and no
/// request may be left running on the silent server.
#[test]
fn shutdown_now_right_after_a_submit_never_leaves_a_job_running() {
    let server = TestServer::start(|_| Reply::stall());
    for i in 0..400u64 {
        let session = FuturesSession::builder().max_workers(1).build();
        session.submit(|_| Ok(())).result().unwrap();
        // The worker goes back to the empty queue and blocks there.
        std::thread::sleep(Duration::from_millis(1));
        let mut request = session.get(server.url()).send();
        let spin = Duration::from_micros(i % 150);
        let t = std::time::Instant::now();
        while t.elapsed() < spin {
            std::hint::spin_loop();
        }
        session.shutdown_now();
        match request.result_timeout(Duration::from_secs(5)) {
            Some(Err(Error::ShutDown | Error::Cancelled)) => {}
            Some(other) => panic!("iteration {i}: {other:?}"),
            None => panic!("iteration {i}: shutdown_now left the request running ({spin:?})"),
        }
    }
}

/// A server whose request to `path` answers a status line, headers and `sent` of a
/// `length`-byte body, then nothing until the client goes away; other paths go to `other`.
fn stalls_mid_body(length: usize, sent: &'static [u8]) -> (TestServer, Receiver<()>) {
    let (tx, seen) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |_| {
        let _ = tx.send(());
        Reply::custom(move |socket| {
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n");
            let _ = socket.write_all(head.as_bytes());
            let _ = socket.write_all(sent);
            silent_until_closed(socket);
        })
    });
    (server, seen)
}

#[test]
fn cancel_of_a_queued_request_sends_nothing() {
    let (server, seen) = silent_server();
    let session = FuturesSession::builder().max_workers(1).build();
    let running = session.get(server.url()).send();
    let queued = session.get(server.url()).send();
    seen.recv_timeout(HANG).unwrap();
    assert!(queued.cancel());
    assert!(matches!(queued.result(), Err(Error::Cancelled)));
    assert!(running.cancel());
    worker_is_free(&session);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn cancel_interrupts_a_request_in_a_lane() {
    let (server, seen) = silent_server();
    let session = FuturesSession::builder()
        .max_workers(1)
        .max_per_host(1)
        .build();
    let running = session.get(server.url()).send();
    // Parked in the lane behind the running one.
    let parked = session.get(server.url()).send();
    seen.recv_timeout(HANG).unwrap();
    assert!(running.cancel());
    assert!(matches!(running.result(), Err(Error::Cancelled)));
    // The lane's turn passes to the parked request, which meets the same silence.
    seen.recv_timeout(HANG).unwrap();
    assert!(parked.cancel());
    assert!(matches!(parked.result(), Err(Error::Cancelled)));
    worker_is_free(&session);
    assert_eq!(server.request_count(), 2);
}

#[test]
fn cancel_interrupts_a_redirected_request() {
    let (tx, seen) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |req| match req.path_only() {
        "/old" => Reply::status(302, "").header("Location", "/new"),
        _ => {
            let _ = tx.send(());
            Reply::custom(silent_until_closed)
        }
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let pending = session.get(server.url_for("/old")).send();
    seen.recv_timeout(HANG).unwrap();
    assert!(pending.cancel());
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    worker_is_free(&session);
    assert_eq!(server.request_count(), 2);
}

#[test]
fn a_cancelled_request_on_a_pooled_connection_is_not_sent_again() {
    // The second request goes out on the first one's kept-alive connection; the cancel shuts
    // that connection under it, which must not read as a stale connection to resend on.
    let (tx, seen) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |req| match req.path_only() {
        "/first" => Reply::ok("one"),
        _ => {
            let _ = tx.send(());
            Reply::custom(silent_until_closed)
        }
    });
    let session = FuturesSession::builder().max_workers(1).build();
    let first = session
        .get(server.url_for("/first"))
        .send()
        .result()
        .unwrap();
    assert_eq!(first.text().unwrap(), "one");
    let pending = session.get(server.url_for("/second")).send();
    seen.recv_timeout(HANG).unwrap();
    assert!(pending.cancel());
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    worker_is_free(&session);
    assert_eq!(
        server.connection_count(),
        1,
        "sent again on a new connection"
    );
    assert_eq!(server.request_count(), 2);
}

/// A server whose `/a` answers at once and whose `/b` says it has the request (`seen`) and
/// answers once `answer` is sent (and never if nothing is).
struct AnswersBOnRelease {
    server: TestServer,
    seen: Receiver<()>,
    answer: crossbeam_channel::Sender<()>,
}

fn answers_b_on_release() -> AnswersBOnRelease {
    let (seen_tx, seen) = crossbeam_channel::unbounded();
    let (answer, gate) = crossbeam_channel::bounded::<()>(1);
    let server = TestServer::start(move |req| match req.path_only() {
        "/a" => Reply::ok("a"),
        _ => {
            let (seen, gate) = (seen_tx.clone(), gate.clone());
            Reply::custom(move |socket| {
                let _ = seen.send(());
                // No answer to a request sent again: nothing releases it a second time.
                if gate.recv_timeout(HANG).is_err() {
                    return;
                }
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb");
                silent_until_closed(socket);
            })
        }
    });
    AnswersBOnRelease {
        server,
        seen,
        answer,
    }
}

/// Job A: gets `/a` through the session's agent, gives the connection back to the pool, and goes
/// on with something else (that a cancel cannot interrupt) until the sender returned is dropped.
fn job_a_done_with_its_connection(
    session: &FuturesSession,
    server: &TestServer,
) -> (ureq_futures::Pending<()>, crossbeam_channel::Sender<()>) {
    let (a_done_tx, a_done) = crossbeam_channel::bounded(1);
    let (release_a, hold) = crossbeam_channel::bounded::<()>(0);
    let url_a = server.url_for("/a");
    let a = session.submit(move |agent| {
        let mut resp = agent.get(&url_a).call()?;
        let text = resp.body_mut().read_to_string()?;
        a_done_tx.send(text).unwrap();
        let _ = hold.recv();
        Ok(())
    });
    assert_eq!(a_done.recv_timeout(HANG).unwrap(), "a");
    (a, release_a)
}

#[test]
fn an_old_jobs_cancel_leaves_a_pooled_connection_alone_once_another_job_uses_it() {
    let b_server = answers_b_on_release();
    let server = &b_server.server;
    let session = FuturesSession::builder().max_workers(2).build();
    let (a, release_a) = job_a_done_with_its_connection(&session, server);
    // Job B takes that connection from the pool and waits for its answer on it.
    let b = session.get(server.url_for("/b")).send();
    b_server.seen.recv_timeout(HANG).unwrap();
    assert_eq!(
        server.connection_count(),
        1,
        "B did not reuse A's connection"
    );
    assert!(a.cancel());
    b_server.answer.send(()).unwrap();
    assert_eq!(b.result().unwrap().text().unwrap(), "b");
    // Answered on that connection, not after a resend on another.
    assert_eq!(server.connection_count(), 1);
    assert_eq!(server.request_count(), 2);
    drop(release_a);
}

#[test]
fn an_old_jobs_cancel_leaves_alone_a_plain_call_on_its_pooled_connection() {
    // As above, but the connection is taken by a plain ureq call on the caller's thread, through
    // the session's agent: that call belongs to no job, and A's cancel must not shut it down.
    let b_server = answers_b_on_release();
    let server = &b_server.server;
    let session = FuturesSession::builder().max_workers(1).build();
    let (a, release_a) = job_a_done_with_its_connection(&session, server);
    let agent = session.agent().clone();
    let url_b = server.url_for("/b");
    let plain = std::thread::spawn(move || -> Result<String, ureq::Error> {
        agent.get(&url_b).call()?.body_mut().read_to_string()
    });
    b_server.seen.recv_timeout(HANG).unwrap();
    assert_eq!(
        server.connection_count(),
        1,
        "the plain call did not reuse A's connection"
    );
    assert!(a.cancel());
    b_server.answer.send(()).unwrap();
    assert_eq!(plain.join().unwrap().unwrap(), "b");
    drop(release_a);
}

#[test]
fn a_cancelled_download_removes_its_part_file() {
    let (server, seen) = stalls_mid_body(1000, b"first bytes");
    let dir = std::env::temp_dir().join(format!("ureq-futures-cancel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("file.bin");
    let part = dir.join("file.bin.part");
    let session = FuturesSession::builder().max_workers(1).build();
    let pending = session.get(server.url()).download(&target);
    seen.recv_timeout(HANG).unwrap();
    assert!(support::eventually(HANG, || pending.progress().done > 0));
    assert!(part.exists());
    assert!(pending.cancel());
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    // The worker removes the part file as the interrupted job ends, before its next job.
    worker_is_free(&session);
    assert!(!part.exists(), "the part file was left behind");
    assert!(!target.exists());
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn a_body_reader_holds_no_worker_and_dropping_it_closes_the_connection() {
    let (server, seen) = stalls_mid_body(1000, b"first bytes");
    let session = FuturesSession::builder().max_workers(1).build();
    let mut body = session.get(server.url()).send_streaming().result().unwrap();
    seen.recv_timeout(HANG).unwrap();
    let mut first = [0; 5];
    body.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"first");
    // The body is read on this thread: the only worker is free while the reader lives.
    worker_is_free(&session);
    drop(body);
    // The server sees the client go away (its silent read returns) and the request's
    // connection is not handed to the next request.
    let next = session.get(server.url()).send_streaming().result().unwrap();
    drop(next);
    assert_eq!(server.connection_count(), 2);
    worker_is_free(&session);
}

/// What the two reads of [`read_on_a_thread`] after the first bytes returned.
type LastReads = (Result<usize, Error>, Result<usize, Error>);

/// Reads `body` on a thread of its own: its first 5 bytes, then (after telling `reading`) the
/// rest, twice. Sends what the last two reads returned.
fn read_on_a_thread(mut body: BodyReader) -> (Receiver<()>, Receiver<LastReads>) {
    let (reading_tx, reading) = crossbeam_channel::bounded(1);
    let (done_tx, done) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let mut first = [0; 5];
        body.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"first");
        let _ = reading_tx.send(());
        let blocked = body.read_to_end(&mut Vec::new()).map_err(Error::from);
        let again = body.read(&mut [0; 16]).map_err(Error::from);
        let _ = done_tx.send((blocked, again));
    });
    (reading, done)
}

#[test]
fn a_body_readers_stop_handle_ends_a_read_on_a_silent_server_from_another_thread() {
    let (server, seen) = stalls_mid_body(1000, b"first");
    let session = FuturesSession::builder().max_workers(1).build();
    let body = session.get(server.url()).send_streaming().result().unwrap();
    seen.recv_timeout(HANG).unwrap();
    let stop = body.stop_handle();
    let (reading, done) = read_on_a_thread(body);
    reading.recv_timeout(HANG).unwrap();
    stop.clone().stop();
    match done.recv_timeout(HANG) {
        Ok((Err(Error::Cancelled), Err(Error::Cancelled))) => {}
        Ok(other) => panic!("expected both reads to fail as cancelled, got {other:?}"),
        Err(_) => panic!("the stop handle left the read blocked"),
    }
    // It stopped that body only: the session goes on, and a second stop does nothing.
    stop.stop();
    let ok = TestServer::start(|_| Reply::ok("fine"));
    let resp = session.get(ok.url()).send().result().unwrap();
    assert_eq!(resp.text().unwrap(), "fine");
}

#[test]
fn shutdown_now_stops_a_body_reader_being_read() {
    let (server, seen) = stalls_mid_body(1_000_000, b"first");
    let session = FuturesSession::builder().max_workers(1).build();
    let body = session.get(server.url()).send_streaming().result().unwrap();
    seen.recv_timeout(HANG).unwrap();
    let (reading, done) = read_on_a_thread(body);
    reading.recv_timeout(HANG).unwrap();
    session.shutdown_now(); // the Ctrl-C handler
    match done.recv_timeout(HANG) {
        Ok((Err(Error::Cancelled), Err(Error::Cancelled))) => {}
        Ok(other) => panic!("expected both reads to fail as cancelled, got {other:?}"),
        Err(_) => panic!("shutdown_now left the body read blocked"),
    }
}

/// A body read inside another job (a `submit` closure) stays within reach of its stop handle,
/// and the reading job's cancel interrupts the read as it does the job's requests.
#[test]
fn a_body_read_inside_a_job_is_stopped_by_its_handle_and_by_the_jobs_cancel() {
    let (server, seen) = stalls_mid_body(1000, b"first");
    let session = FuturesSession::builder().max_workers(1).build();
    let read_inside_a_job = |tell: crossbeam_channel::Sender<StopHandle>| {
        let (inner, url) = (session.clone(), server.url());
        session.submit(move |_| {
            let mut body = inner.get(url).send_streaming().result()?;
            let mut first = [0; 5];
            body.read_exact(&mut first)?;
            let _ = tell.send(body.stop_handle());
            body.read_to_end(&mut Vec::new())?;
            Ok(())
        })
    };
    // Stopped through the body's handle, from this thread.
    let (tx, handles) = crossbeam_channel::bounded(1);
    let mut job = read_inside_a_job(tx);
    seen.recv_timeout(HANG).unwrap();
    handles.recv_timeout(HANG).unwrap().stop();
    match job.result_timeout(HANG) {
        Some(Err(Error::Cancelled)) => {}
        Some(other) => panic!("expected the read to fail as cancelled, got {other:?}"),
        None => panic!("the stop handle left the read inside the job blocked"),
    }
    // Stopped by cancelling the job that reads.
    let (tx, handles) = crossbeam_channel::bounded(1);
    let job = read_inside_a_job(tx);
    seen.recv_timeout(HANG).unwrap();
    handles.recv_timeout(HANG).unwrap();
    assert!(job.cancel());
    worker_is_free(&session);
}

#[test]
fn cancelling_a_job_that_reads_an_event_stream_stops_the_stream() {
    let (server, seen) = one_event_then_silence();
    // The stream's worker is the session's only one; the job that reads it runs on another
    // session's.
    let session = FuturesSession::builder().max_workers(1).build();
    let (streams, url) = (session.clone(), server.url());
    let first = cancel_the_job_reading(&session, &seen, move || streams.get(url).events().result());
    assert_eq!(first.map(|e| e.data).as_deref(), Some("one"));
}

/// Opens a stream inside a job of a 1-worker session of its own, sends its first item back and
/// blocks on the next one (the server sends nothing more); then cancels that job, which must
/// stop the stream: `session`, whose worker reads the stream, and the job's session are both
/// free. Returns the first item.
fn cancel_the_job_reading<S, T>(
    session: &FuturesSession,
    seen: &Receiver<()>,
    open: impl FnOnce() -> Result<S, Error> + Send + 'static,
) -> Option<T>
where
    S: Iterator<Item = Result<T, Error>>,
    T: Send + 'static,
{
    let reader = FuturesSession::builder().max_workers(1).build();
    let (tx, first) = crossbeam_channel::bounded(1);
    let job = reader.submit(move |_| {
        let mut stream = open()?;
        let _ = tx.send(stream.next().transpose()?);
        Ok(stream.count())
    });
    seen.recv_timeout(HANG).unwrap();
    let first = first.recv_timeout(HANG).unwrap();
    assert!(job.cancel());
    worker_is_free(session);
    worker_is_free(&reader);
    first
}

#[cfg(feature = "llm")]
#[test]
fn dropping_a_chat_stream_on_a_silent_server_frees_its_worker() {
    let (server, seen) = one_chunk_then_silence();
    let session = FuturesSession::builder().max_workers(1).build();
    let client = OpenAIClient::builder("m", 0.0)
        .api_key("test-key")
        .base_url(server.url())
        .env(|_| None)
        .session(session.clone())
        .build();
    let mut stream = client.stream_chat(&[Message::user("hello")]).unwrap();
    seen.recv_timeout(HANG).unwrap();
    assert_eq!(stream.next().unwrap().unwrap(), "Hel");
    drop(stream);
    worker_is_free(&session);
    // Read inside a job of another session: cancelling that job stops the stream too.
    let first = cancel_the_job_reading(&session, &seen, move || {
        client.stream_chat(&[Message::user("hello")])
    });
    assert_eq!(first.as_deref(), Some("Hel"));
}

/// A chat's request waiting for its answer's headers could not be stopped but by
/// `shutdown_now`, which ends the client's session for good: `Client::start`'s stop handle
/// stops it, frees its worker and leaves the session usable; the same handle stops the answer
/// once it streams.
#[cfg(feature = "llm")]
#[test]
fn a_started_chat_stops_before_and_after_its_answer_starts() {
    let (silent, seen) = silent_server();
    let session = FuturesSession::builder().max_workers(1).build();
    let client = |base: String| {
        OpenAIClient::builder("m", 0.0)
            .api_key("test-key")
            .base_url(base)
            .env(|_| None)
            .session(session.clone())
            .build()
    };
    let request = ChatRequest::new().user("hello");
    let chat = client(silent.url()).start(&request).unwrap();
    seen.recv_timeout(HANG).unwrap();
    assert!(!chat.is_done());
    let stop = chat.stop_handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stop.stop();
    });
    let (result, took) = support::timed(|| chat.result());
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(took < HANG / 2, "{took:?}");
    worker_is_free(&session);
    // The same handle, taken before the answer, stops it as it streams.
    let (streaming, seen) = one_chunk_then_silence();
    let chat = client(streaming.url()).start(&request).unwrap();
    let stop = chat.stop_handle();
    let mut stream = chat.result().unwrap();
    seen.recv_timeout(HANG).unwrap();
    assert_eq!(stream.next().unwrap().unwrap(), "Hel");
    stop.stop();
    assert!(matches!(stream.next(), Some(Err(Error::Cancelled))));
    worker_is_free(&session);
}

/// A `Conversation` stopped before its reply starts keeps its history as it was, and the same
/// message goes out again; a `PendingReply` dropped unread does the same.
#[cfg(feature = "llm")]
#[test]
fn a_conversation_stopped_before_its_reply_keeps_its_history() {
    let (silent, seen) = silent_server();
    let client = OpenAIClient::builder("m", 0.0)
        .api_key("test-key")
        .base_url(silent.url())
        .env(|_| None)
        .build();
    let mut chat = Conversation::new(client);
    let pending = chat.start("hello").unwrap();
    seen.recv_timeout(HANG).unwrap();
    let stop = pending.stop_handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stop.stop();
    });
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    assert!(chat.messages().is_empty());
    drop(chat.start("hello").unwrap());
    assert!(chat.messages().is_empty());
}

/// A chat held back by its origin's pause (a 429's `Retry-After`) is never sent once stopped.
#[cfg(feature = "llm")]
#[test]
fn a_started_chat_stopped_while_it_waits_for_its_turn_is_never_sent() {
    let server = TestServer::start(|_| Reply::retry_after(429, "30"));
    let limiter = ureq_futures::RateLimiter::new();
    let session = FuturesSession::builder()
        .max_workers(2)
        .rate_limiter(limiter.clone())
        .build();
    let client = OpenAIClient::builder("m", 0.0)
        .api_key("test-key")
        .base_url(server.url())
        .env(|_| None)
        .retry(ureq_futures::RetryPolicy::none())
        .session(session)
        .build();
    let request = ChatRequest::new().user("hello");
    // The first chat's 429 pauses the origin for 30 s.
    assert_eq!(client.stream(&request).unwrap_err().status(), Some(429));
    assert_eq!(limiter.pauses(), 1);
    let chat = client.start(&request).unwrap();
    chat.stop_handle().stop();
    let (result, took) = support::timed(|| chat.result());
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(server.request_count(), 1, "the stopped chat was sent");
}

/// An OpenAI stream that sends the piece "Hel" and then goes silent.
#[cfg(feature = "llm")]
fn one_chunk_then_silence() -> (TestServer, Receiver<()>) {
    let (tx, seen) = crossbeam_channel::unbounded();
    let server = TestServer::start(move |_| {
        let _ = tx.send(());
        Reply::custom(|socket| {
            let chunk = r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";
            let _ = socket.write_all(format!("{head}data: {chunk}\n\n").as_bytes());
            silent_until_closed(socket);
        })
    });
    (server, seen)
}

#[test]
fn a_batch_that_stops_on_an_error_interrupts_its_running_requests() {
    let (server, seen) = silent_server();
    let session = FuturesSession::builder().max_workers(2).build();
    let url = server.url();
    let mut batch = session
        .batch(0..2u32, move |s, &n| match n {
            0 => {
                let seen = seen.clone();
                s.submit(move |_| {
                    // Fails once the other input's request is on the wire.
                    seen.recv_timeout(HANG).unwrap();
                    Err::<u16, _>(Error::InvalidRequest("bad input".into()))
                })
            }
            _ => s.get(&url).send_with(|r| Ok(r.status())),
        })
        .stop_on_error();
    let (first, result) = batch.next().unwrap();
    assert_eq!(first, 0);
    assert!(result.is_err());
    assert_eq!(batch.counts().cancelled, 1);
    assert!(batch.next().is_none());
    // Both workers are free: the silent request was interrupted.
    let both: Vec<_> = (0..2).map(|i| session.submit(move |_| Ok(i))).collect();
    for (i, mut p) in both.into_iter().enumerate() {
        assert_eq!(
            p.result_timeout(HANG)
                .expect("a worker is still held")
                .unwrap(),
            i
        );
    }
}

#[test]
fn a_stop_handle_ends_a_stream_from_another_thread_and_frees_its_worker() {
    let (server, seen) = one_event_then_silence();
    let session = FuturesSession::builder().max_workers(1).build();
    let mut stream = session.get(server.url()).events().result().unwrap();
    seen.recv_timeout(HANG).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().data, "one");
    let stop = stream.stop_handle();
    let stopper = std::thread::spawn(move || stop.stop());
    // This thread waits for an event that never comes until the stop ends the stream.
    assert!(matches!(stream.next(), Some(Err(Error::Cancelled))));
    assert!(stream.next().is_none());
    stopper.join().unwrap();
    worker_is_free(&session);
}

/// Asserts that two of the session's workers are free: two jobs that each wait for the other
/// both finish.
fn two_workers_are_free(session: &FuturesSession) {
    let (a_in, a_seen) = crossbeam_channel::bounded(1);
    let (b_in, b_seen) = crossbeam_channel::bounded(1);
    let a = session.submit(move |_| {
        a_in.send(()).ok();
        Ok(b_seen.recv_timeout(HANG).is_ok())
    });
    let b = session.submit(move |_| {
        b_in.send(()).ok();
        Ok(a_seen.recv_timeout(HANG).is_ok())
    });
    assert!(
        a.result().unwrap() && b.result().unwrap(),
        "a worker is still held"
    );
}

/// A job that sends `n` requests to a silent server and, once the server has them all (so that
/// none is run inline by the wait), waits for them with `wait`. Hands out the job's handle, what
/// `wait` returned (once it returns) and the server.
fn a_job_waiting_for<R: Send + 'static>(
    session: &FuturesSession,
    n: usize,
    wait: impl FnOnce(Vec<ureq_futures::Pending<ureq_futures::Response>>) -> R + Send + 'static,
) -> (ureq_futures::Pending<()>, Receiver<R>, TestServer) {
    let (server, seen) = silent_server();
    let (url, s) = (server.url(), session.clone());
    let (tx, outcome) = crossbeam_channel::bounded(1);
    let (waits, waiting) = crossbeam_channel::bounded(1);
    let outer = session.submit(move |_| {
        let inner = (0..n).map(|_| s.get(url.clone()).send()).collect();
        for _ in 0..n {
            seen.recv_timeout(HANG).unwrap();
        }
        waits.send(()).ok();
        tx.send(wait(inner)).ok();
        Ok(())
    });
    waiting.recv_timeout(HANG).unwrap();
    (outer, outcome, server)
}

#[test]
fn a_cancel_ends_a_jobs_wait_for_another_jobs_result_and_cancels_that_job() {
    let session = FuturesSession::builder().max_workers(2).build();
    let (outer, outcome, _server) = a_job_waiting_for(&session, 1, |mut inner| {
        inner.pop().unwrap().result().map(|r| r.status())
    });
    assert!(outer.cancel());
    let waited = outcome.recv_timeout(HANG).expect("the wait did not end");
    assert!(matches!(waited, Err(Error::Cancelled)), "{waited:?}");
    two_workers_are_free(&session);
}

#[test]
fn a_cancel_reaches_a_job_that_the_waiting_job_runs_inline() {
    // One worker: the inner request is still queued when the outer job waits for it, so the
    // wait runs it on the outer job's worker.
    let (server, seen) = silent_server();
    let session = FuturesSession::builder().max_workers(1).build();
    let (url, s) = (server.url(), session.clone());
    let (tx, outcome) = crossbeam_channel::bounded(1);
    let outer = session.submit(move |_| {
        tx.send(s.get(url).send().result().map(|r| r.status())).ok();
        Ok(())
    });
    seen.recv_timeout(HANG).unwrap();
    assert!(outer.cancel());
    let waited = outcome.recv_timeout(HANG).expect("the wait did not end");
    assert!(matches!(waited, Err(Error::Cancelled)), "{waited:?}");
    worker_is_free(&session);
}

#[test]
fn a_cancel_ends_a_jobs_as_completed_and_cancels_what_it_had_not_yielded() {
    let session = FuturesSession::builder().max_workers(3).build();
    let (outer, outcome, _server) = a_job_waiting_for(&session, 2, |inner| {
        as_completed(inner)
            .map(|(_, r)| matches!(r, Err(Error::Cancelled)))
            .collect::<Vec<_>>()
    });
    assert!(outer.cancel());
    let waited = outcome.recv_timeout(HANG).expect("the wait did not end");
    assert_eq!(waited, [true, true]);
    two_workers_are_free(&session);
}

#[test]
fn a_cancel_ends_a_jobs_wait_any_wait_all_and_result_timeout_and_cancels_what_they_wait_for() {
    for kind in ["wait_any", "wait_all", "result_timeout"] {
        let session = FuturesSession::builder().max_workers(2).build();
        let (outer, outcome, _server) = a_job_waiting_for(&session, 1, move |mut inner| {
            let cancelled = |r: Result<_, Error>| matches!(r, Err(Error::Cancelled));
            let ended = match kind {
                "wait_any" => ureq_futures::wait_any(&inner) == Some(0),
                "wait_all" => {
                    ureq_futures::wait_all(&inner);
                    true
                }
                // This wait hands out the result: it must be the cancel.
                _ => return (inner[0].result_timeout(HANG).is_some_and(cancelled), true),
            };
            let cancelled = cancelled(inner.pop().unwrap().result());
            (ended, cancelled)
        });
        assert!(outer.cancel());
        let waited = outcome.recv_timeout(HANG).expect("the wait did not end");
        assert_eq!(waited, (true, true), "{kind}");
        two_workers_are_free(&session);
    }
}

#[test]
fn shutdown_now_ends_a_jobs_wait_for_another_jobs_result() {
    let session = FuturesSession::builder().max_workers(2).build();
    let (_outer, outcome, _server) = a_job_waiting_for(&session, 1, |mut inner| {
        inner.pop().unwrap().result().map(|r| r.status())
    });
    session.shutdown_now();
    let waited = outcome.recv_timeout(HANG).expect("the wait did not end");
    assert!(
        matches!(waited, Err(Error::Cancelled | Error::ShutDown)),
        "{waited:?}"
    );
    crate::joins_within(&session, HANG, "the session's workers did not end");
}

#[test]
fn a_cancelled_job_does_not_run_inline_a_job_whose_handle_it_then_reports_cancelled() {
    // One worker: the inner job is still queued when the outer one, already cancelled, waits
    // for it. The handle says `Cancelled`, so the inner closure must not have run.
    let session = FuturesSession::builder().max_workers(1).build();
    let (go, wait) = crossbeam_channel::bounded::<()>(0);
    let (tx, outcome) = crossbeam_channel::bounded(1);
    let s = session.clone();
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let inner_ran = std::sync::Arc::clone(&ran);
    let (started, running) = crossbeam_channel::bounded(1);
    let outer = session.submit(move |_| {
        started.send(()).ok();
        wait.recv_timeout(HANG).ok();
        let inner = s.submit(move |_| {
            inner_ran.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(7)
        });
        tx.send(inner.result()).ok();
        Ok(())
    });
    running.recv_timeout(HANG).unwrap();
    assert!(outer.cancel());
    go.send(()).unwrap();
    let waited = outcome.recv_timeout(HANG).expect("the wait did not end");
    let ran = ran.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        matches!(waited, Err(Error::Cancelled)) && !ran,
        "{waited:?}, ran: {ran}"
    );
    worker_is_free(&session);
}

#[test]
fn a_cancel_of_the_job_that_handed_on_an_as_completed_leaves_its_new_owner_alone() {
    // The job waits once in `as_completed` (so that a cancel of it would end that wait), then
    // hands the iterator to this thread and goes on. Its cancel is none of this thread's
    // business: the job not yet yielded must not be cancelled.
    let session = FuturesSession::builder().max_workers(3).build();
    let (go0, wait0) = crossbeam_channel::bounded::<()>(0);
    let (go1, wait1) = crossbeam_channel::bounded::<()>(1);
    let (started, running) = crossbeam_channel::bounded(2);
    let started1 = started.clone();
    let h0 = session.submit(move |_| {
        started.send(()).ok();
        Ok(wait0.recv_timeout(HANG).is_ok())
    });
    let h1 = session.submit(move |_| {
        started1.send(()).ok();
        Ok(wait1.recv_timeout(HANG).is_ok())
    });
    for _ in 0..2 {
        running.recv_timeout(HANG).unwrap();
    }
    let (hand, handed) = crossbeam_channel::bounded(1);
    let (finish, finished) = crossbeam_channel::bounded::<()>(0);
    let (waits, waiting) = crossbeam_channel::bounded(1);
    let outer = session.submit(move |_| {
        let mut done = as_completed(vec![h0, h1]);
        waits.send(()).ok();
        let first = done.next().map(|(i, r)| (i, r.ok()));
        hand.send((first, done)).ok();
        finished.recv_timeout(HANG).ok();
        Ok(())
    });
    waiting.recv_timeout(HANG).unwrap();
    // Let the job block in `next` first (no way to see it: a short wait does).
    std::thread::sleep(Duration::from_millis(50));
    go0.send(()).unwrap();
    let (first, mut done) = handed.recv_timeout(HANG).unwrap();
    assert_eq!(first, Some((0, Some(true))));
    assert!(outer.cancel());
    // The job not yet yielded ends a little later (a wrongly cancelled one ends at once).
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        go1.send(()).ok();
    });
    let (i, r) = done.next().unwrap();
    release.join().unwrap();
    assert_eq!((i, r.ok()), (1, Some(true)));
    drop(finish);
}

/// Many times over, a job waits for another job that does not end until the round is over,
/// and is cancelled at once, or after a few yields: while it looks at its state, registers its
/// watch or blocks. Each wait must end.
fn a_cancel_racing_a_wait_always_ends_it(
    wait: impl Fn(ureq_futures::Pending<()>) -> bool + Send + Sync + Clone + 'static,
) {
    let session = FuturesSession::builder().max_workers(2).build();
    for round in 0..100 {
        let (end_round, round_ends) = crossbeam_channel::bounded::<()>(0);
        let (started, running) = crossbeam_channel::bounded(1);
        let inner = session.submit(move |_| {
            started.send(()).ok();
            round_ends.recv().ok();
            Ok(())
        });
        running.recv_timeout(HANG).unwrap();
        let (tx, outcome) = crossbeam_channel::bounded(1);
        let (waits, waiting) = crossbeam_channel::bounded(1);
        let wait = wait.clone();
        let outer = session.submit(move |_| {
            waits.send(()).ok();
            tx.send(wait(inner)).ok();
            Ok(())
        });
        waiting.recv_timeout(HANG).unwrap();
        for _ in 0..round % 7 {
            std::thread::yield_now();
        }
        assert!(outer.cancel());
        assert_eq!(
            outcome.recv_timeout(HANG).ok(),
            Some(true),
            "round {round}: the wait did not end, or not with the job it waited for cancelled"
        );
        drop(end_round);
    }
}

#[test]
fn a_cancel_racing_a_jobs_result_always_ends_it() {
    a_cancel_racing_a_wait_always_ends_it(|p| matches!(p.result(), Err(Error::Cancelled)));
}

#[test]
fn a_cancel_racing_a_jobs_other_waits_always_ends_them() {
    let cancelled = |r: Result<(), Error>| matches!(r, Err(Error::Cancelled));
    a_cancel_racing_a_wait_always_ends_it(move |p| {
        ureq_futures::wait_any(std::slice::from_ref(&p)) == Some(0) && cancelled(p.result())
    });
    a_cancel_racing_a_wait_always_ends_it(move |p| {
        p.wait();
        p.is_done() && cancelled(p.result())
    });
    a_cancel_racing_a_wait_always_ends_it(move |mut p| {
        p.result_timeout(HANG).is_some_and(cancelled)
    });
    a_cancel_racing_a_wait_always_ends_it(move |p| {
        as_completed(vec![p]).all(|(_, r)| cancelled(r))
    });
}

#[test]
fn a_cancel_ends_a_jobs_await_of_another_jobs_handle_and_cancels_that_job() {
    let session = FuturesSession::builder().max_workers(2).build();
    let (outer, outcome, _server) = a_job_waiting_for(&session, 1, |mut inner| {
        crate::pending::block_on(inner.pop().unwrap()).map(|r| r.status())
    });
    assert!(outer.cancel());
    let waited = outcome.recv_timeout(HANG).expect("the wait did not end");
    assert!(matches!(waited, Err(Error::Cancelled)), "{waited:?}");
    two_workers_are_free(&session);
}

#[test]
fn a_graceful_shutdown_leaves_a_jobs_wait_for_another_job_alone() {
    let session = FuturesSession::builder().max_workers(2).build();
    let (go, wait) = crossbeam_channel::bounded::<()>(1);
    let (started, running) = crossbeam_channel::bounded(1);
    let inner = session.submit(move |_| {
        started.send(()).ok();
        Ok(wait.recv_timeout(HANG).is_ok())
    });
    running.recv_timeout(HANG).unwrap();
    let (tx, outcome) = crossbeam_channel::bounded(1);
    let (waits, waiting) = crossbeam_channel::bounded(1);
    let _outer = session.submit(move |_| {
        waits.send(()).ok();
        let mut inner = as_completed(vec![inner]);
        tx.send(inner.next().map(|(i, r)| (i, r.ok()))).ok();
        Ok(())
    });
    waiting.recv_timeout(HANG).unwrap();
    session.shutdown();
    go.send(()).unwrap();
    assert_eq!(outcome.recv_timeout(HANG).unwrap(), Some((0, Some(true))));
    crate::joins_within(&session, HANG, "the session's workers did not end");
}

/// A listener that accepts connections, reads what comes (a TLS ClientHello, a CONNECT),
/// tells `seen` once bytes arrived, and answers nothing until the client goes away.
fn silent_listener() -> (std::net::SocketAddr, Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, seen) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                if matches!(socket.read(&mut [0; 4096]), Ok(n) if n > 0) {
                    let _ = tx.send(());
                }
                silent_until_closed(&mut socket);
            });
        }
    });
    (addr, seen)
}

/// Sends a GET of `url` on `session` (of one worker), cancels it once `seen` says the peer has
/// its first bytes, and asserts that the handle is cancelled and the worker free.
fn cancel_once_seen(session: &FuturesSession, url: &str, seen: &Receiver<()>) {
    let pending = session.get(url).send();
    seen.recv_timeout(HANG).unwrap();
    assert!(pending.cancel());
    assert!(matches!(pending.result(), Err(Error::Cancelled)));
    worker_is_free(session);
}

/// A server that accepts the connection but never answers the ClientHello: the request waits in
/// the TLS handshake, with no connect limit to end it. A cancel interrupts it there.
#[test]
fn cancel_interrupts_a_request_in_the_tls_handshake() {
    let (addr, seen) = silent_listener();
    let session = FuturesSession::builder()
        .max_workers(1)
        .connect_timeout(None)
        .proxy(None)
        .build();
    cancel_once_seen(&session, &format!("https://{addr}/"), &seen);
}

/// A proxy that never answers the CONNECT: a cancel interrupts the request waiting for it.
#[test]
fn cancel_interrupts_a_request_waiting_for_a_proxys_connect() {
    let (addr, seen) = silent_listener();
    let session = FuturesSession::builder()
        .max_workers(1)
        .connect_timeout(None)
        .proxy(ureq::Proxy::new(&format!("http://{addr}")).unwrap())
        .build();
    cancel_once_seen(&session, "https://example.com/", &seen);
}
