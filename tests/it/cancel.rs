//! Cancelling work that is already running: on a silent server, a cancel resolves the handle at
//! once and frees the worker; so does dropping an event stream; `shutdown_now` stops everything.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crossbeam_channel::Receiver;
use support::{Reply, TestServer};
use ureq_futures::{as_completed, Error, FuturesSession};

/// Long enough never to be reached by a passing test, short enough to fail a broken one.
const HANG: Duration = Duration::from_secs(30);

/// Waits, without a timeout of its own, until the client closes the connection.
fn silent_until_closed(socket: &mut TcpStream) {
    let _ = socket.set_read_timeout(None);
    let _ = socket.read(&mut [0; 1]);
}

/// A server that answers nothing, and tells `seen` about each request it receives.
fn silent_server() -> (TestServer, Receiver<()>) {
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
    assert_eq!(server.request_count(), 1, "the cancelled request was retried");
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

#[test]
fn as_completed_can_cancel_the_rest() {
    let (server, seen) = silent_server();
    let session = FuturesSession::builder().max_workers(2).build();
    let quick = session.submit(|_| Ok(None));
    let handles = vec![
        quick,
        session.get(server.url()).send_with(|r| Ok(Some(r.status()))),
        session.get(server.url()).send_with(|r| Ok(Some(r.status()))),
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
    let (tx, joined) = crossbeam_channel::bounded(1);
    let s = session.clone();
    std::thread::spawn(move || {
        s.join();
        let _ = tx.send(());
    });
    joined.recv_timeout(HANG).expect("join waited for an interrupted worker");
}
