//! `StreamMap`: many event streams merged into one channel, against local servers. Every item
//! carries the key of its stream; each stream ends with one `End`; removing a stream or
//! dropping the map frees the workers on silent servers ("the worker is free" is proved by a
//! next job on a session of as many workers as streams).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{ms, Reply, TestServer};
use ureq_futures::sse::{Decode, Event, StreamItem, StreamMap, StreamOptions};
use ureq_futures::{Error, FuturesSession};

/// Long enough never to be reached by a passing test, short enough to fail a broken one.
const HANG: Duration = Duration::from_secs(30);

/// Serves `/n/COUNT`: COUNT events whose data is `PATH:i`, in a few chunks; other paths 404.
fn counting_server() -> TestServer {
    TestServer::start(|req| {
        let path = req.path_only().to_string();
        let Some(count) = path
            .strip_prefix("/n/")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return Reply::status(404, "no such stream");
        };
        let chunks: Vec<String> = (0..count)
            .map(|i| format!("id: {i}\ndata: {path}:{i}\n\n"))
            .collect();
        Reply::sse(chunks, ms(1))
    })
}

/// A server whose streams send one event, then nothing until the client goes away.
fn one_event_then_silence() -> TestServer {
    TestServer::start(|_| {
        Reply::custom(|socket: &mut TcpStream| {
            let _ = socket.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: one\n\n",
            );
            let _ = socket.set_read_timeout(None);
            let _ = socket.read(&mut [0; 1]);
        })
    })
}

/// Asserts that `n` jobs run at once on `session`: its workers are all free.
fn workers_are_free(session: &FuturesSession, n: usize) {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    for mut job in crate::at_barrier(session, n, &barrier) {
        match job.result_timeout(HANG) {
            Some(result) => result.unwrap(),
            None => panic!("a worker is still held by a stopped stream"),
        }
    }
}

#[test]
fn clearing_or_dropping_a_map_sends_none_of_its_queued_streams() {
    // Four streams run (silent, the server holds them); 46 wait for a worker. Stopping the map
    // frees the four workers, which must not send the waiting ones.
    let (server, seen) = crate::cancel::silent_server();
    let session = FuturesSession::builder()
        .max_workers(4)
        .max_per_host(4)
        .build();
    for round in 0..10 {
        let mut map = StreamMap::new();
        for k in 0..50 {
            let url = server.url_for(&format!("/chat/{round}/{k}"));
            map.insert(k, session.post(url).body("{}"));
        }
        for _ in 0..4 {
            seen.recv_timeout(HANG).unwrap();
        }
        if round % 2 == 0 {
            map.clear();
        } else {
            drop(map);
        }
        workers_are_free(&session, 4);
        // A request sent in the race reaches the server a little later.
        std::thread::sleep(ms(100));
        let late = seen.try_iter().count();
        assert_eq!(late, 0, "round {round}: {late} queued streams were sent");
    }
}

#[test]
fn every_event_arrives_once_under_its_streams_key_then_each_stream_ends() {
    let server = counting_server();
    let session = FuturesSession::builder().max_workers(24).build();
    let mut streams = StreamMap::new();
    for k in 0..20usize {
        // Stream k has k + 1 events.
        assert!(!streams.insert(k, session.get(server.url_for(&format!("/n/{}", k + 1)))));
    }
    assert_eq!(streams.len(), 20);
    let mut seen: HashMap<usize, Vec<String>> = HashMap::new();
    let mut ended = Vec::new();
    for (k, item) in &mut streams {
        match item {
            StreamItem::Event(event) => {
                assert!(!ended.contains(&k), "an event of {k} after its end");
                seen.entry(k).or_default().push(event.data);
            }
            StreamItem::End(result) => {
                result.unwrap();
                ended.push(k);
            }
        }
    }
    ended.sort_unstable();
    assert_eq!(ended, (0..20).collect::<Vec<_>>());
    for k in 0..20 {
        let want: Vec<String> = (0..=k).map(|i| format!("/n/{}:{i}", k + 1)).collect();
        assert_eq!(seen[&k], want, "stream {k}");
    }
    assert!(streams.is_empty());
    assert!(streams.next().is_none());
}

#[test]
fn a_stream_that_cannot_open_ends_with_its_error() {
    let server = counting_server();
    let session = FuturesSession::new();
    let mut streams = StreamMap::new();
    streams.insert("missing", session.get(server.url_for("/nowhere")));
    streams.insert("refused", session.get(support::closed_port_url()));
    let mut ends: HashMap<&str, Error> = HashMap::new();
    for (key, item) in &mut streams {
        match item {
            StreamItem::Event(event) => panic!("{key}: unexpected {event:?}"),
            StreamItem::End(result) => {
                ends.insert(key, result.unwrap_err());
            }
        }
    }
    assert!(
        matches!(&ends["missing"], Error::Status(s) if s.status == 404),
        "{:?}",
        ends["missing"]
    );
    assert!(!matches!(ends["refused"], Error::Status(_)));
}

#[test]
fn items_decoded_on_the_workers_arrive_tagged() {
    /// The number after the colon of each event's data.
    struct Index;
    impl Decode for Index {
        type Item = usize;
        fn decode(&mut self, event: Event) -> Result<Option<usize>, Error> {
            let (_, n) = event.data.rsplit_once(':').unwrap_or_default();
            Ok(Some(n.parse().map_err(Error::other)?))
        }
    }
    let server = counting_server();
    let session = FuturesSession::new();
    let mut streams: StreamMap<&str, usize> = StreamMap::with_capacity(2);
    streams.insert_decoded(
        "three",
        session.get(server.url_for("/n/3")),
        StreamOptions::default(),
        Index,
    );
    streams.insert_decoded(
        "five",
        session.get(server.url_for("/n/5")),
        StreamOptions::default(),
        Index,
    );
    let mut sums: HashMap<&str, usize> = HashMap::new();
    while let Ok((key, item)) = streams.next_timeout(HANG) {
        if let StreamItem::Event(n) = item {
            *sums.entry(key).or_default() += n;
        }
    }
    assert_eq!(sums["three"], 3);
    assert_eq!(sums["five"], 10);
}

#[test]
fn removing_a_stream_on_a_silent_server_frees_its_worker_and_drops_its_items() {
    let server = one_event_then_silence();
    let session = FuturesSession::builder().max_workers(2).build();
    let mut streams = StreamMap::new();
    streams.insert(1, session.get(server.url()));
    streams.insert(2, session.get(server.url()));
    // Both streams are open once each has sent its one event.
    let mut first = Vec::new();
    for _ in 0..2 {
        let (key, item) = streams.next_timeout(HANG).unwrap();
        assert!(matches!(item, StreamItem::Event(e) if e.data == "one"));
        first.push(key);
    }
    first.sort_unstable();
    assert_eq!(first, [1, 2]);
    assert!(streams.remove(&1));
    assert!(!streams.remove(&1));
    assert!(!streams.contains_key(&1));
    assert_eq!(streams.len(), 1);
    // Stream 2 is silent: nothing comes, and nothing of stream 1 (not even its end).
    assert!(matches!(
        streams.next_timeout(ms(200)),
        Err(crossbeam_channel::RecvTimeoutError::Timeout)
    ));
    streams.clear();
    assert!(streams.is_empty());
    workers_are_free(&session, 2);
}

#[test]
fn dropping_the_map_frees_every_worker() {
    let server = one_event_then_silence();
    let session = FuturesSession::builder().max_workers(3).build();
    let mut streams = StreamMap::new();
    for k in 0..3 {
        streams.insert(k, session.get(server.url()));
    }
    for _ in 0..3 {
        streams.next_timeout(HANG).unwrap();
    }
    drop(streams);
    workers_are_free(&session, 3);
}

#[test]
fn inserting_under_a_key_in_use_replaces_the_stream() {
    let silent = one_event_then_silence();
    let server = counting_server();
    let session = FuturesSession::builder().max_workers(2).build();
    let mut streams = StreamMap::new();
    streams.insert("feed", session.get(silent.url()));
    let (_, item) = streams.next_timeout(HANG).unwrap();
    assert!(matches!(item, StreamItem::Event(e) if e.data == "one"));
    assert!(streams.insert("feed", session.get(server.url_for("/n/2"))));
    let items: Vec<String> = streams
        .by_ref()
        .map(|(key, item)| match item {
            StreamItem::Event(e) => format!("{key} {}", e.data),
            StreamItem::End(result) => format!("{key} end {}", result.is_ok()),
        })
        .collect();
    assert_eq!(items, ["feed /n/2:0", "feed /n/2:1", "feed end true"]);
    workers_are_free(&session, 2);
}

#[test]
fn removing_a_stream_whose_server_never_answers_frees_its_worker() {
    // The request is still being sent (no head yet): the cancel reaches it too.
    let (server, seen) = crate::cancel::silent_server();
    let session = FuturesSession::builder().max_workers(1).build();
    let mut streams = StreamMap::new();
    streams.insert(1, session.get(server.url()));
    seen.recv_timeout(HANG).unwrap();
    assert!(streams.remove(&1));
    workers_are_free(&session, 1);
}

#[test]
fn no_item_is_left_waiting_while_many_workers_send_at_once() {
    // Forty streams of 100 events each, sent as fast as the workers read them, taken with a
    // deadline: an item sent while the reader went to sleep, and not announced, would leave
    // `next_timeout` waiting until HANG.
    let server = counting_server();
    let session = FuturesSession::builder().max_workers(40).build();
    let mut streams = StreamMap::with_capacity(8);
    for k in 0..40 {
        streams.insert(k, session.get(server.url_for("/n/100")));
    }
    let (mut events, mut ends) = (0, 0);
    loop {
        match streams.next_timeout(HANG) {
            Ok((_, StreamItem::Event(_))) => events += 1,
            Ok((_, StreamItem::End(result))) => {
                result.unwrap();
                ends += 1;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => panic!("an item went unannounced"),
        }
    }
    assert_eq!((events, ends), (4000, 40));
}

#[test]
fn removing_a_stream_whose_worker_waits_for_room_in_a_full_map_frees_its_worker() {
    let server = counting_server();
    let session = FuturesSession::builder().max_workers(1).build();
    // Room for one item: the worker fills it, then waits to send the next, and nobody reads.
    let mut streams = StreamMap::with_capacity(1);
    streams.insert("many", session.get(server.url_for("/n/1000")));
    std::thread::sleep(ms(100));
    assert!(streams.remove(&"many"));
    workers_are_free(&session, 1);
    // The map is still usable, and the removed stream's items were dropped unseen.
    assert!(streams.next_timeout(ms(50)).is_err());
}

/// A server that sends three events on each stream, then nothing for 20 s.
fn three_events_then_silence() -> TestServer {
    TestServer::start(|_| {
        Reply::sse(
            ["data: 1\n\ndata: 2\n\ndata: 3\n\n"],
            Duration::from_secs(20),
        )
    })
}

/// A session of one worker and a map of one item's room: "a" fills the map and holds the
/// worker, "b" waits in the queue.
fn a_full_map_and_a_queued_stream(url: &str) -> (FuturesSession, StreamMap<&'static str>) {
    let session = FuturesSession::builder().max_workers(1).build();
    let mut map = StreamMap::with_capacity(1);
    map.insert("a", session.get(url));
    map.insert("b", session.get(url));
    std::thread::sleep(ms(300));
    (session, map)
}

#[test]
fn letting_go_of_a_queued_stream_of_a_full_map_returns_at_once() {
    // One worker: "a" fills the map's one-item channel and holds the worker, "b" waits in the
    // queue. Removing "b", clearing, or dropping the map cancels its queued job on this thread,
    // which alone could make room: none of them may wait for room.
    for way in ["remove", "clear", "drop"] {
        let server = three_events_then_silence();
        let url = server.url();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let (_session, mut map) = a_full_map_and_a_queued_stream(&url);
            match way {
                "remove" => assert!(map.remove(&"b")),
                "clear" => map.clear(),
                _ => drop(map),
            }
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_secs(5)).is_ok(),
            "StreamMap {way} of a queued stream did not return"
        );
    }
}

#[test]
fn a_huge_capacity_makes_a_map() {
    // "No limit" as a number: held to what a channel can reserve, not a panic.
    let streams: StreamMap<String> = StreamMap::with_capacity(usize::MAX);
    assert!(streams.is_empty());
}

/// Streams whose workers wait for room in a full map when `shutdown_now` stops them: the
/// workers are free (`join` returns while the map is held), and the map yields the items it
/// holds, then each stream's `End(Err(Cancelled))`, then its end. It waited for ends that
/// never came.
#[test]
fn shutdown_now_with_a_full_map_ends_every_stream() {
    let server = counting_server();
    let session = FuturesSession::builder().max_workers(2).build();
    let mut streams = StreamMap::with_capacity(2);
    streams.insert("a", session.get(server.url_for("/n/1000")));
    streams.insert("b", session.get(server.url_for("/n/1000")));
    // The server sends an event a millisecond: once the map holds two, the workers wait for
    // room (or "b" still opens its stream, which the shutdown interrupts as well). Waited for
    // rather than slept on: on a loaded machine the first events can come late.
    assert!(support::eventually(HANG, || format!("{streams:?}").contains("buffered: 2")));
    std::thread::sleep(ms(50));
    session.shutdown_now();
    crate::joins_within(&session, HANG, "join waited for a worker of the full map");
    let (mut events, mut ends) = (0, Vec::new());
    loop {
        match streams.next_timeout(HANG) {
            Ok((_, StreamItem::Event(_))) => events += 1,
            Ok((key, StreamItem::End(result))) => {
                assert!(matches!(result, Err(Error::Cancelled)), "{key}: {result:?}");
                ends.push(key);
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("the map waited for an end that never came: {e:?}"),
        }
    }
    assert_eq!(events, 2);
    ends.sort_unstable();
    assert_eq!(ends, ["a", "b"]);
}

/// A map iterated in a job ends when that job is cancelled, as an `EventStream` read there
/// does: its streams are stopped (their workers are free) and `next` returns `None`. The job
/// waited for the next item, for ever on silent servers, holding its worker and theirs.
#[test]
fn a_cancel_of_the_job_that_reads_the_map_stops_its_streams_and_ends_it() {
    let server = one_event_then_silence();
    let streams_session = FuturesSession::builder().max_workers(2).build();
    let readers = FuturesSession::builder().max_workers(1).build();
    let (got, events) = std::sync::mpsc::channel();
    let (ended, end) = std::sync::mpsc::channel();
    let session = streams_session.clone();
    let url = server.url();
    let job = readers.submit(move |_| {
        let mut streams = StreamMap::new();
        streams.insert(1, session.get(&url));
        streams.insert(2, session.get(&url));
        for _ in 0..2 {
            got.send(streams.next().map(|(key, _)| key)).unwrap();
        }
        // Both servers are silent now: only the cancel ends this wait.
        let last = streams.next().map(|(key, _)| key);
        ended.send((last, streams.len())).unwrap();
        Ok(())
    });
    let mut keys: Vec<_> = (0..2)
        .map(|_| events.recv_timeout(HANG).unwrap().unwrap())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, [1, 2]);
    std::thread::sleep(ms(100));
    job.cancel();
    let (last, left) = end
        .recv_timeout(HANG)
        .expect("the map went on waiting after the cancel");
    assert_eq!((last, left), (None, 0));
    workers_are_free(&streams_session, 2);
    workers_are_free(&readers, 1);
}

/// `shutdown_now` while events flow ends each stream with `End(Err(Cancelled))`: a stream that
/// noticed the cancel between two reads ended with `End(Ok(()))`, which says that the server
/// closed it.
#[test]
fn shutdown_now_while_events_flow_ends_every_stream_with_cancelled() {
    let server =
        TestServer::start(|_| Reply::sse((0..100_000).map(|i| format!("data: {i}\n\n")), ms(0)));
    for _ in 0..3 {
        let session = FuturesSession::builder().max_workers(4).build();
        let mut streams = StreamMap::new();
        for key in 0..4 {
            streams.insert(key, session.get(server.url()));
        }
        let (mut events, mut ends) = (0, Vec::new());
        while let Ok((key, item)) = streams.next_timeout(HANG) {
            match item {
                StreamItem::Event(_) => {
                    events += 1;
                    if events == 2000 {
                        session.shutdown_now();
                    }
                }
                StreamItem::End(result) => {
                    assert!(matches!(result, Err(Error::Cancelled)), "{key}: {result:?}");
                    ends.push(key);
                }
            }
        }
        ends.sort_unstable();
        assert_eq!(ends, [0, 1, 2, 3]);
    }
}

/// A shutdown on the thread that reads a full map, with a stream still queued, returns: the
/// queued stream's job is dropped on that thread, and its `End(Err(ShutDown))` must not wait
/// for room that only this thread could make. The map then yields it after the items it holds.
#[test]
fn a_shutdown_on_the_readers_thread_with_a_full_map_and_a_queued_stream_returns() {
    for now in [false, true] {
        let server = three_events_then_silence();
        let url = server.url();
        let (tx, rx) = crossbeam_channel::bounded(2);
        std::thread::spawn(move || {
            let (session, mut map) = a_full_map_and_a_queued_stream(&url);
            if now {
                session.shutdown_now();
            } else {
                session.shutdown();
            }
            tx.send(None).unwrap();
            while let Ok((key, item)) = map.next_timeout(HANG) {
                if let ("b", StreamItem::End(result)) = (key, item) {
                    tx.send(Some(result)).unwrap();
                    break;
                }
            }
        });
        let returned = rx.recv_timeout(Duration::from_secs(5));
        assert!(
            matches!(returned, Ok(None)),
            "shutdown (now: {now}) waited for room in the full map"
        );
        let end = rx.recv_timeout(HANG).unwrap();
        assert!(matches!(end, Some(Err(Error::ShutDown))), "{end:?}");
    }
}

/// A map read in a job of its own session's full pool: its streams, still queued, start on
/// threads of their own (as a stream waited for with `result` does), where they waited for a
/// worker that never came free.
#[test]
fn a_map_read_in_a_job_of_its_own_full_pool_starts_its_streams() {
    let server = counting_server();
    for workers in [1, 4] {
        let session = FuturesSession::builder().max_workers(workers).build();
        let jobs: Vec<_> = (0..workers)
            .map(|job| {
                let (inner, url) = (session.clone(), server.url_for("/n/3"));
                session.submit(move |_| {
                    let mut map = StreamMap::new();
                    map.insert(job, inner.get(url));
                    let mut events = 0;
                    while let Ok((_, item)) = map.next_timeout(HANG) {
                        match item {
                            StreamItem::Event(_) => events += 1,
                            StreamItem::End(end) => {
                                end?;
                                break;
                            }
                        }
                    }
                    Ok(events)
                })
            })
            .collect();
        for mut job in jobs {
            let events = job
                .result_timeout(HANG)
                .expect("the map's stream never started");
            assert_eq!(events.unwrap(), 3, "{workers} workers");
        }
    }
}

/// A map first read in a job of another session (its streams' pool is not that job's) and then
/// handed to a job of its streams' own full pool still starts its queued stream there.
#[test]
fn a_map_read_elsewhere_first_still_starts_its_streams_in_its_own_full_pool() {
    let server = counting_server();
    let (own, other) = (
        FuturesSession::builder().max_workers(1).build(),
        FuturesSession::new(),
    );
    let (give, take) = crossbeam_channel::bounded::<StreamMap<&'static str>>(1);
    // The own pool's only worker waits for the map.
    let mut reader = own.submit(move |_| {
        let mut map = take.recv().expect("the map");
        match map.next_timeout(HANG) {
            Ok((_, StreamItem::Event(event))) => Ok(event.data),
            other => Err(Error::Protocol(format!("{other:?}"))),
        }
    });
    let mut map = StreamMap::new();
    map.insert("s", own.get(server.url_for("/n/1")));
    // Read on a worker of another session: nothing can come yet (the stream is queued).
    let mut elsewhere = other.submit(move |_| {
        let next = map.next_timeout(Duration::from_millis(100));
        assert!(next.is_err(), "{next:?}");
        Ok(map)
    });
    let map = elsewhere
        .result_timeout(HANG)
        .expect("the read elsewhere")
        .unwrap();
    give.send(map).unwrap();
    let data = reader
        .result_timeout(HANG)
        .expect("the stream never started");
    assert_eq!(data.unwrap(), "/n/1:0");
}
