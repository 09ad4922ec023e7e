//! `ChatBatch` against a local OpenAI-style server: answers in input order as JSON lines, a 429
//! that pauses the host and is retried, and a run that resumes from its output file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use support::{Reply, TempDir, TestServer};
use ureq_futures::llm::{ChatBatch, ChatClient, ChatJob, ChatRequest, ChatResult, OpenAIClient};
use ureq_futures::{FuturesSession, RateLimiter, RetryPolicy};

/// A server that answers the chat whose body holds `prompt` with a 429 asking to wait
/// `retry_after` seconds, and the others as [`answer`] does.
fn slowed_down(prompt: &'static str, retry_after: &'static str) -> TestServer {
    TestServer::start(move |req| {
        if req.body_str().contains(prompt) {
            Reply::status(429, r#"{"error":{"message":"slow down"}}"#)
                .header("retry-after", retry_after)
        } else {
            answer(req)
        }
    })
}

/// A 503 that says the server is overloaded (add the wait it asks for).
fn overloaded() -> Reply {
    Reply::status(503, r#"{"error":{"message":"overloaded"}}"#)
}

/// An OpenAI stream whose answer is the prompt in upper case.
fn answer(req: &support::Request) -> Reply {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let prompt = body["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_uppercase();
    let delta =
        json!({"choices": [{"index": 0, "delta": {"content": prompt}, "finish_reason": null}]});
    let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    Reply::sse(
        [
            format!("data: {delta}\n\n"),
            format!("data: {end}\n\n"),
            "data: [DONE]\n\n".to_string(),
        ],
        support::ms(0),
    )
}

fn client(server: &TestServer, limiter: &RateLimiter) -> OpenAIClient {
    let session = FuturesSession::builder()
        .max_workers(4)
        .max_per_host(4)
        .rate_limiter(limiter.clone())
        .build();
    // The client's own retries are on (the default): the batch sends without them.
    client_on(server, session)
}

/// A client of `server` that sends on `session`.
fn client_on(server: &TestServer, session: FuturesSession) -> OpenAIClient {
    OpenAIClient::builder("m", 0.0)
        .base_url(server.url())
        .api_key("")
        .session(session)
        .build()
}

#[test]
fn a_chat_that_always_fails_makes_the_batchs_attempts_only() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let server = TestServer::start(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
        overloaded().header("retry-after-ms", "10")
    });
    let limiter = RateLimiter::new();
    let results: Vec<ChatResult> = ChatBatch::new(client(&server, &limiter))
        .attempts(2)
        .progress_bar(false)
        .run(jobs(1))
        .collect();
    assert_eq!(
        (results[0].content.as_deref(), results[0].attempts),
        (None, 2)
    );
    // Its error says why no more attempts, as a request's own retries say it.
    let error = results[0].error.as_deref().unwrap();
    assert!(
        error.ends_with("(after 2 attempts, the most RetryPolicy::attempts allows)"),
        "{error}"
    );
    // Two requests: with the client's 3 attempts inside each, there were 6.
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    // `stream_once` is one request; `stream`, the client's three.
    let client = client(&server, &limiter);
    let request = ChatRequest::new().user("x");
    assert_eq!(
        client.stream_once(&request).unwrap_err().status(),
        Some(503)
    );
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_eq!(client.stream(&request).unwrap_err().status(), Some(503));
    assert_eq!(seen.load(Ordering::SeqCst), 6);
}

#[test]
fn the_batchs_retry_policy_decides_how_long_a_server_may_ask_to_wait() {
    // Each prompt is refused once with a wait of 400 ms, then answered.
    let refused = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let server = TestServer::start(move |req| {
        if refused.lock().unwrap().insert(req.body_str().to_string()) {
            Reply::status(429, r#"{"error":{"message":"slow down"}}"#)
                .header("retry-after-ms", "400")
        } else {
            answer(req)
        }
    });
    // No rate limiter: the test is about the batch's own waits.
    let client = || {
        OpenAIClient::builder("m", 0.0)
            .base_url(server.url())
            .api_key("")
            .build()
    };
    let run = |batch: ChatBatch<OpenAIClient>, prompt: usize| {
        let job = ChatJob::user("q", format!("prompt {prompt}"));
        batch.progress_bar(false).run([job]).next().unwrap()
    };
    let impatient = RetryPolicy::llm().max_retry_after(support::ms(100));
    let result = run(ChatBatch::new(client()).retry(impatient), 0);
    assert_eq!((result.attempts, result.content), (1, None));
    let error = result.error.unwrap();
    assert!(error.contains("429"), "{error}");
    assert!(
        error.ends_with(
            "(after 1 attempt; the server asked to wait 400 ms (Retry-After), longer than \
             RetryPolicy::max_retry_after (100 ms))"
        ),
        "{error}"
    );

    let patient = RetryPolicy::llm().max_retry_after(support::ms(2000));
    let result = run(ChatBatch::new(client()).retry(patient), 1);
    assert_eq!(
        (result.attempts, result.content.as_deref()),
        (2, Some("PROMPT 1"))
    );

    let result = run(ChatBatch::new(client()).retry(RetryPolicy::none()), 2);
    assert_eq!((result.attempts, result.content), (1, None));
    // `attempts` after `retry` changes the policy's attempts only.
    let two = ChatBatch::new(client())
        .retry(RetryPolicy::none())
        .attempts(2);
    assert_eq!(run(two, 3).attempts, 2);
}

#[test]
fn an_empty_answer_with_its_end_marker_is_tried_again_not_kept() {
    // The first answer is the end marker alone (a gateway whose upstream failed), the next a
    // whole one: the batch keeps the whole one, and a resumed run has nothing left to do.
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let server = TestServer::start(move |req| {
        if s.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::sse(["data: [DONE]\n\n"], support::ms(0))
        } else {
            answer(req)
        }
    });
    let out = temp_file("empty-answer.jsonl");
    let batch = ChatBatch::new(client(&server, &RateLimiter::new())).progress_bar(false);
    let summary = batch.run_to_file(jobs(1), &out).unwrap();
    let lines = std::fs::read_to_string(&out).unwrap();
    let result: ChatResult = serde_json::from_str(lines.trim()).unwrap();
    assert_eq!(
        (result.content.as_deref(), result.attempts),
        (Some("PROMPT 0"), 2),
        "{lines}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(summary.failed, 0, "{summary:?}");
}

fn jobs(n: usize) -> impl Iterator<Item = ChatJob> {
    (0..n).map(|i| ChatJob::user(format!("id{i}"), format!("prompt {i}")))
}

fn read_lines(path: &Path) -> Vec<ChatResult> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A path `name` that does not exist yet, in a directory of its own that goes with it.
struct TempFile {
    path: PathBuf,
    _dir: TempDir,
}

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

fn temp_file(name: &str) -> TempFile {
    let dir = TempDir::new(&format!("chat-batch-{name}"));
    let path = dir.join(name);
    TempFile { path, _dir: dir }
}

#[test]
fn answers_come_in_input_order_and_a_429_pauses_then_retries() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let server = TestServer::start(move |req| {
        if s.fetch_add(1, Ordering::SeqCst) == 1 {
            Reply::retry_after(429, "1")
                .header("x-ratelimit-remaining-requests", "0")
                .header("x-ratelimit-reset-requests", "1s")
        } else {
            answer(req)
        }
    });
    let limiter = RateLimiter::new();
    let path = temp_file("order.jsonl");
    let summary = ChatBatch::new(client(&server, &limiter))
        .in_flight(4)
        .progress_bar(false)
        .run_to_file(jobs(12), &path)
        .unwrap();
    assert_eq!(
        (
            summary.answered,
            summary.failed,
            summary.skipped,
            summary.stopped
        ),
        (12, 0, 0, false)
    );
    let lines = read_lines(&path);
    let ids: Vec<&str> = lines.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<String> = (0..12).map(|i| format!("id{i}")).collect();
    assert_eq!(ids, want);
    for (i, r) in lines.iter().enumerate() {
        assert_eq!(r.content.as_deref(), Some(format!("PROMPT {i}").as_str()));
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    }
    assert_eq!(lines.iter().filter(|r| r.attempts == 2).count(), 1);
    assert_eq!(limiter.pauses(), 1);
    assert_eq!(seen.load(Ordering::SeqCst), 13);
}

/// A result says how long its chat took: its attempts, the waits between them and the reading
/// of its answer; a line written before the field reads as `None`.
#[test]
fn a_result_says_how_long_its_chat_took_with_its_retries() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let server = TestServer::start(move |req| {
        let body = req.body_str();
        if body.contains("prompt 1") && s.fetch_add(1, Ordering::SeqCst) == 0 {
            overloaded().header("retry-after-ms", "400")
        } else if body.contains("prompt 2") {
            std::thread::sleep(support::ms(300));
            answer(req)
        } else {
            answer(req)
        }
    });
    let limiter = RateLimiter::new();
    let path = temp_file("elapsed.jsonl");
    let summary = ChatBatch::new(client(&server, &limiter))
        .progress_bar(false)
        .run_to_file(jobs(3), &path)
        .unwrap();
    assert_eq!((summary.answered, summary.failed), (3, 0));
    let lines = read_lines(&path);
    let took: Vec<(u32, u64)> = lines
        .iter()
        .map(|r| {
            (
                r.attempts,
                r.elapsed_ms.expect("the time of a chat that ran"),
            )
        })
        .collect();
    assert_eq!(took.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 2, 1]);
    assert!(took[1].1 >= 400, "the wait to retry counts: {took:?}");
    assert!(took[2].1 >= 300, "the wait for the answer counts: {took:?}");
    let old: ChatResult = serde_json::from_str(r#"{"id":"a","content":"x","attempts":1}"#).unwrap();
    assert_eq!(old.elapsed_ms, None);
}

/// A slow chat holds back the results after it, not the chats: while the first one waits,
/// the other worker answers all the rest, and the results still come in input order.
#[test]
fn a_slow_chat_holds_back_its_results_not_the_other_chats() {
    let others = chats_past_a_held_first(|batch| batch, 19);
    assert_eq!(others, 19, "the chats after a slow one waited for it");
}

/// `look_ahead` bounds how many chats go on past a slow one: with 6 (started and not yet
/// yielded), the server sees 5 more chats while the first is held, not the 19 others that 32
/// times `in_flight` would start.
#[test]
fn look_ahead_bounds_the_chats_started_past_a_slow_one() {
    let others = chats_past_a_held_first(|batch| batch.look_ahead(6), 5);
    assert_eq!(others, 5, "chats started past the slow one");
}

/// How many of 20 chats, 2 at once, the server answers while it holds the first: once
/// `expected` are (or 10 s passed), and 300 ms more, time for another had it been sent. The
/// results still come in input order.
fn chats_past_a_held_first(
    configure: impl FnOnce(ChatBatch<OpenAIClient>) -> ChatBatch<OpenAIClient>,
    expected: usize,
) -> usize {
    let (open, gate) = crossbeam_channel::bounded::<()>(0);
    let gate = std::sync::Mutex::new(gate);
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    let server = TestServer::start(move |req| {
        if req.body_str().contains("prompt 0") {
            // Held until the test has counted the others (or gives up).
            let _ = gate.lock().unwrap().recv_timeout(support::secs(10));
        } else {
            count.fetch_add(1, Ordering::SeqCst);
        }
        answer(req)
    });
    let session = FuturesSession::builder().max_workers(4).build();
    let batch = ChatBatch::new(client_on(&server, session))
        .in_flight(2)
        .progress_bar(false);
    let batch = configure(batch);
    let results = std::thread::spawn(move || {
        let ids: Vec<String> = batch.run(jobs(20)).map(|r| r.id).collect();
        ids
    });
    support::eventually(support::secs(10), || {
        answered.load(Ordering::SeqCst) >= expected
    });
    std::thread::sleep(support::ms(300));
    let others = answered.load(Ordering::SeqCst);
    open.send(()).ok();
    let want: Vec<String> = (0..20).map(|i| format!("id{i}")).collect();
    assert_eq!(results.join().unwrap(), want);
    others
}

/// A chat waiting to retry gives its place to the chats behind it, and gets the next one free
/// when its wait ends, before the chats not started: with one chat at once, chat 0 refused
/// once with a wait of 1 s, of chats that take 100 ms each.
#[test]
fn a_chat_waiting_to_retry_lets_the_chats_behind_it_go_and_comes_back_first() {
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = sent.clone();
    let server = TestServer::start(move |req| {
        let i = (0..20)
            .rev()
            .find(|i| req.body_str().contains(&format!("prompt {i}")))
            .unwrap();
        let refused = {
            let mut log = log.lock().unwrap();
            log.push(i);
            *log == [0]
        };
        if refused {
            return overloaded().header("retry-after", "1");
        }
        std::thread::sleep(support::ms(100));
        answer(req)
    });
    let results = one_at_a_time(&server, 20);
    let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<String> = (0..20).map(|i| format!("id{i}")).collect();
    assert_eq!(ids, want);
    assert!(results.iter().all(ChatResult::is_ok), "{results:?}");
    assert_eq!(results[0].attempts, 2);
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 21, "{sent:?}");
    // Its second attempt went after some of the others (sent during its wait), and before
    // some (it did not wait for every chat not started yet).
    let back = sent.iter().rposition(|&i| i == 0).unwrap();
    assert!((2..20).contains(&back), "{sent:?}");
}

/// `n` chats through a batch of one place, whose client's session has 4 workers.
fn one_at_a_time(server: &TestServer, n: usize) -> Vec<ChatResult> {
    let session = FuturesSession::builder().max_workers(4).build();
    ChatBatch::new(client_on(server, session))
        .in_flight(1)
        .progress_bar(false)
        .run(jobs(n))
        .collect()
}

/// A chat back from its wait to retry sends nothing once the batch stopped: chat 1's refused
/// key stops it while chat 0, refused once with a 1 s wait, waits for the one place; the place
/// chat 1 gives back is no leave to send.
#[test]
fn a_chat_back_from_its_wait_sends_nothing_after_the_batch_stopped() {
    let log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let l = log.clone();
    let server = TestServer::start(move |req| {
        let body = req.body_str();
        let is = |i: usize| body.contains(&format!("\"prompt {i}\""));
        let first0 = {
            let mut log = l.lock().unwrap();
            let n0 = log.iter().filter(|e| e.starts_with("0 ")).count();
            if is(0) {
                log.push(format!("0 attempt {}", n0 + 1));
            }
            is(0) && n0 == 0
        };
        if first0 {
            return overloaded().header("retry-after", "1");
        }
        if is(1) {
            // Past chat 0's wait: it is back, waiting for the place.
            std::thread::sleep(support::ms(1800));
            l.lock().unwrap().push("1 refused: 401".into());
            return Reply::status(
                401,
                r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#,
            );
        }
        l.lock().unwrap().push("other".into());
        answer(req)
    });
    let results = one_at_a_time(&server, 5);
    let log = log.lock().unwrap().clone();
    assert_eq!(log, ["0 attempt 1", "1 refused: 401"], "{results:?}");
    let error = results[0].error.as_deref().unwrap_or("");
    assert!(
        error.contains("then stopped while it waited to retry"),
        "{error}"
    );
}

/// A client of a server that answers each chat after 300 ms, on a session of `workers` that a
/// thread shuts down once two chats have reached the server; the thread hands the server back.
fn shut_down_after_two_chats(
    workers: usize,
) -> (OpenAIClient, std::thread::JoinHandle<TestServer>) {
    let server = TestServer::start(|req| {
        std::thread::sleep(support::ms(300));
        answer(req)
    });
    let session = FuturesSession::builder().max_workers(workers).build();
    let client = client_on(&server, session.clone());
    let stopper = std::thread::spawn(move || {
        support::eventually(support::secs(10), || server.request_count() >= 2);
        session.shutdown();
        server
    });
    (client, stopper)
}

/// Chats waiting in the batch's window for a worker when the client's session shuts down never
/// start and leave no result: a result for each chat sent, and none after. So do chats whose
/// request waited in the client's session's queue (fewer workers than chats in flight): the
/// shutdown refused them before they were sent.
#[test]
fn chats_waiting_for_a_worker_at_a_shutdown_leave_no_result() {
    for (workers, in_flight) in [(4, 2), (2, 8)] {
        let (client, stopper) = shut_down_after_two_chats(workers);
        let results: Vec<ChatResult> = ChatBatch::new(client)
            .in_flight(in_flight)
            .progress_bar(false)
            .run(jobs(1000))
            .collect();
        let server = stopper.join().unwrap();
        let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(results.len(), server.request_count(), "{ids:?}");
        assert!(results.iter().all(ChatResult::is_ok), "{results:?}");
        assert!(results.len() < 10, "{} results", results.len());
    }
}

/// A list of jobs short enough to be read whole at once (the window reads ahead) is still a
/// run that stopped when a shutdown leaves some of its chats unrun.
#[test]
fn a_short_run_a_shutdown_ends_early_says_it_stopped() {
    let (client, stopper) = shut_down_after_two_chats(4);
    let path = temp_file("short.jsonl");
    let summary = ChatBatch::new(client)
        .in_flight(2)
        .progress_bar(false)
        .run_to_file(jobs(20), &path)
        .unwrap();
    let server = stopper.join().unwrap();
    let lines = read_lines(&path);
    // The chats sent before the shutdown were answered; the others never ran.
    assert_eq!(lines.len(), server.request_count());
    assert!(lines.iter().all(ChatResult::is_ok), "{lines:?}");
    assert!(lines.len() < 20, "{} lines", lines.len());
    assert_eq!(summary.answered, lines.len() as u64);
    assert!(summary.stopped, "{summary:?}");
}

/// A shutdown that cancels the last chats in flight, after the window read every job (so no
/// job is left unpulled), stopped the run too.
#[test]
fn a_shutdown_that_cancels_every_chat_in_flight_says_it_stopped() {
    let first = json!({"choices": [{"index": 0, "delta": {"content": "Hi"}}]});
    // The rest of each answer would come after the test's time: only the shutdown ends them.
    let server = TestServer::start(move |_| {
        Reply::sse(
            [format!("data: {first}\n\n"), "data: [DONE]\n\n".into()],
            support::secs(60),
        )
    });
    let session = FuturesSession::builder().max_workers(4).build();
    let client = client_on(&server, session.clone());
    let stopper = std::thread::spawn(move || {
        support::eventually(support::secs(10), || server.request_count() >= 4);
        std::thread::sleep(support::ms(100));
        session.shutdown_now();
        server
    });
    let path = temp_file("cut.jsonl");
    let summary = ChatBatch::new(client)
        .in_flight(4)
        .progress_bar(false)
        .run_to_file(jobs(4), &path)
        .unwrap();
    let server = stopper.join().unwrap();
    assert_eq!(server.request_count(), 4);
    assert_eq!((summary.answered, summary.failed), (0, 4), "{summary:?}");
    assert!(summary.stopped, "{summary:?}");
    assert_eq!(
        summary.stop_reason, None,
        "a shutdown is not the batch's own stop"
    );
    assert_eq!(read_lines(&path).len(), 4);
}

#[test]
fn a_second_run_skips_what_the_file_answers() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let server = TestServer::start(move |req| {
        s.fetch_add(1, Ordering::SeqCst);
        answer(req)
    });
    let path = temp_file("resume.jsonl");
    // An earlier run answered id0..id4 and failed id5.
    let mut earlier = String::new();
    for i in 0..5 {
        earlier.push_str(&format!(
            "{{\"id\":\"id{i}\",\"content\":\"old\",\"attempts\":1}}\n"
        ));
    }
    earlier
        .push_str("{\"id\":\"id5\",\"error\":\"Server responded with an error\",\"attempts\":4}\n");
    std::fs::write(&path, earlier).unwrap();

    let limiter = RateLimiter::new();
    let summary = ChatBatch::new(client(&server, &limiter))
        .progress_bar(false)
        .run_to_file(jobs(10), &path)
        .unwrap();
    assert_eq!(
        (summary.answered, summary.failed, summary.skipped),
        (5, 0, 5)
    );
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 11);
    let new: Vec<&str> = lines[6..].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(new, ["id5", "id6", "id7", "id8", "id9"]);
    assert!(lines[6..].iter().all(|r| r.is_ok()));
    // A line holds no empty field.
    let raw = std::fs::read_to_string(&path).unwrap();
    let line = raw.lines().nth(6).unwrap();
    let head =
        r#"{"id":"id5","content":"PROMPT 5","finish_reason":"stop","attempts":1,"elapsed_ms":"#;
    assert!(line.starts_with(head), "{line}");
    assert!(
        line[head.len()..]
            .trim_end_matches('}')
            .parse::<u64>()
            .is_ok(),
        "{line}"
    );
}

#[test]
fn a_run_resumes_a_file_whose_last_line_was_cut_or_left_open() {
    let server = TestServer::start(answer);
    let limiter = RateLimiter::new();
    let batch = ChatBatch::new(client(&server, &limiter)).progress_bar(false);
    let old = r#"{"id":"id0","content":"old","attempts":1}"#;
    // A run killed while it wrote id1's line; a file whose last line has no newline.
    let cut = format!("{old}\n{{\"id\":\"id1\",\"content\":\"PRO");
    // Cut within its first bytes, or lost to zeros (a file system's after a power loss).
    let early = [
        format!("{old}\n{{"),
        format!("{old}\n{{\"i"),
        format!("{old}\n{{\"id\""),
        format!("{old}\n\0\0\0\0"),
        format!("{old}\n{{\"id\":\"id1\",\"con\0\0\0\0\0\0\0\0"),
    ];
    let files = [("open.jsonl", old), ("cut.jsonl", cut.as_str())];
    let early = early.iter().map(|e| ("early.jsonl", e.as_str()));
    for (name, earlier) in files.into_iter().chain(early) {
        let path = temp_file(name);
        std::fs::write(&path, earlier).unwrap();
        let summary = batch.run_to_file(jobs(3), &path).unwrap();
        assert_eq!((summary.answered, summary.skipped), (2, 1), "{name}");
        let ids: Vec<String> = read_lines(&path).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["id0", "id1", "id2"], "{name}");
        let again = batch.run_to_file(jobs(3), &path).unwrap();
        assert_eq!((again.answered, again.skipped), (0, 3), "{name}");
    }
}

/// A job's id is its key: a second job of an id already met is skipped, as a resume would skip
/// it, so that a run and its resume do the same work.
#[test]
fn a_job_whose_id_came_before_is_skipped() {
    let server = TestServer::start(answer);
    let limiter = RateLimiter::new();
    let batch = ChatBatch::new(client(&server, &limiter)).progress_bar(false);
    let path = temp_file("dups.jsonl");
    let twice = jobs(2).chain(jobs(3));
    let summary = batch.run_to_file(twice, &path).unwrap();
    assert_eq!((summary.answered, summary.skipped), (3, 2));
    assert_eq!(server.request_count(), 3);
    let ids: Vec<String> = read_lines(&path).into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["id0", "id1", "id2"]);
}

/// The bar is drawn on the process's stderr, which the test harness does not capture: the test
/// runs in a process of its own, whose stderr it reads.
#[test]
fn the_progress_bar_counts_the_failed_chats() {
    let test = "chat_batch::the_progress_bar_counts_the_failed_chats";
    let Some(stderr) = crate::alone(test, || {
        let server = TestServer::start(|req| {
            if String::from_utf8_lossy(&req.body).contains("prompt 1") {
                Reply::status(400, r#"{"error":{"message":"bad prompt"}}"#)
            } else {
                answer(req)
            }
        });
        let limiter = RateLimiter::new();
        let batch = ChatBatch::new(client(&server, &limiter)).progress_bar(true);
        let failed = batch.run(jobs(3)).filter(|r| !r.is_ok()).count();
        assert_eq!(failed, 1);
    }) else {
        return;
    };
    let last = last_bar(&stderr);
    assert!(
        last.contains("3/3") && last.contains(", 1 failed"),
        "{stderr}"
    );
}

/// The last state of the progress bar that `stderr` shows (its lines start with `\r`).
fn last_bar(stderr: &str) -> &str {
    stderr.rsplit('\r').find(|s| s.contains('[')).unwrap_or("")
}

#[test]
fn the_progress_bar_ends_its_line_when_the_total_is_unknown() {
    let test = "chat_batch::the_progress_bar_ends_its_line_when_the_total_is_unknown";
    let Some(stderr) = crate::alone(test, || {
        let server = TestServer::start(answer);
        let limiter = RateLimiter::new();
        let batch = ChatBatch::new(client(&server, &limiter)).progress_bar(true);
        // Jobs whose number the input does not know before the end.
        let path = temp_file("bar.jsonl");
        let unknown = jobs(2).filter(|_| true);
        assert_eq!(batch.run_to_file(unknown, &path).unwrap().answered, 2);
    }) else {
        return;
    };
    assert!(stderr.contains("2/?"), "{stderr:?}");
    // What the program writes next starts on a line of its own.
    assert!(stderr.ends_with('\n'), "{stderr:?}");
}

/// A resume's bar counts the jobs its file answered already as done, of all the jobs.
#[test]
fn a_resumes_progress_bar_knows_the_total_and_counts_what_was_answered() {
    let test = "chat_batch::a_resumes_progress_bar_knows_the_total_and_counts_what_was_answered";
    let Some(stderr) = crate::alone(test, || {
        let server = TestServer::start(answer);
        let limiter = RateLimiter::new();
        let path = temp_file("resume-bar.jsonl");
        let quiet = ChatBatch::new(client(&server, &limiter)).progress_bar(false);
        assert_eq!(quiet.run_to_file(jobs(1), &path).unwrap().answered, 1);
        let batch = ChatBatch::new(client(&server, &limiter)).progress_bar(true);
        let summary = batch.run_to_file(jobs(3), &path).unwrap();
        assert_eq!((summary.answered, summary.skipped), (2, 1));
    }) else {
        return;
    };
    assert!(stderr.contains("3/3"), "{stderr:?}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
}

#[test]
fn a_file_of_jobs_given_as_the_output_is_refused_unchanged() {
    let server = TestServer::start(answer);
    let limiter = RateLimiter::new();
    // The jobs' own file, named as the output by mistake: its lines are not results.
    let path = temp_file("jobs.jsonl");
    let lines: Vec<String> = jobs(3)
        .map(|job| serde_json::to_string(&job).unwrap())
        .collect();
    // Also one job without its newline, which must not be taken for a cut result.
    for text in [lines.join("\n") + "\n", lines[0].clone()] {
        std::fs::write(&path, &text).unwrap();
        let err = ChatBatch::new(client(&server, &limiter))
            .progress_bar(false)
            .run_to_file(jobs(3), &path)
            .unwrap_err();
        assert!(err.to_string().contains("line 1 of"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
    assert_eq!(server.request_count(), 0);
}

/// A revoked key used to cost one refused request per job, however many jobs: the first 401
/// stops the batch, and the run that follows the fix sends the rest.
#[test]
fn a_refused_key_stops_the_batch_and_a_resume_sends_the_rest() {
    let refuse = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let r = refuse.clone();
    let server = TestServer::start(move |req| {
        if r.load(Ordering::SeqCst) {
            Reply::status(
                401,
                r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#,
            )
        } else {
            answer(req)
        }
    });
    let limiter = RateLimiter::new();
    let batch = ChatBatch::new(client(&server, &limiter))
        .in_flight(2)
        .progress_bar(false);
    let path = temp_file("refused.jsonl");
    let summary = batch.run_to_file(jobs(200), &path).unwrap();
    let refused = server.request_count();
    assert!(refused <= 4, "{refused} requests for a refused key");
    assert_eq!((summary.answered, summary.failed), (0, refused as u64));
    assert!(summary.stopped);
    let why = summary.stop_reason.unwrap_or_default();
    assert!(
        why.starts_with("the server refused the API key, so the batch stopped: ")
            && why.contains("401")
            && why.contains("Incorrect API key provided"),
        "{why}"
    );
    assert_eq!(read_lines(&path).len(), refused);
    // The key fixed, the same run goes on: every job is answered, none twice.
    refuse.store(false, Ordering::SeqCst);
    let summary = batch.run_to_file(jobs(200), &path).unwrap();
    assert_eq!(
        (summary.answered, summary.failed, summary.stopped),
        (200, 0, false)
    );
    assert_eq!(summary.stop_reason, None);
    assert_eq!(server.request_count(), refused + 200);
}

#[test]
fn the_progress_bar_says_why_the_batch_stopped() {
    let test = "chat_batch::the_progress_bar_says_why_the_batch_stopped";
    let Some(stderr) = crate::alone(test, || {
        let server = TestServer::start(|_| {
            Reply::status(
                402,
                r#"{"error":{"message":"Insufficient credits","code":402}}"#,
            )
        });
        let batch = ChatBatch::new(client(&server, &RateLimiter::new()))
            .in_flight(1)
            .progress_bar(true);
        assert_eq!(batch.run(jobs(20)).count(), 1);
    }) else {
        return;
    };
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("the account has no credit left, so the batch stopped: ")
            && last.contains("Insufficient credits"),
        "{stderr}"
    );
    // The bar counts the one chat that ran, not the 19 the stop kept from running.
    let bar = last_bar(&stderr);
    assert!(
        bar.contains("] 1/20 ") && bar.contains(", 1 failed"),
        "{stderr}"
    );
}

/// OpenAI's `insufficient_quota` is a 429 that no wait ends (the plan's quota is spent): each
/// chat used to be sent four times with backoff, and every chat of the batch after it.
#[test]
fn a_spent_quota_is_not_retried_and_stops_the_batch() {
    let server = TestServer::start(|_| {
        Reply::status(
            429,
            r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
        )
        .header("retry-after-ms", "1")
    });
    let results: Vec<ChatResult> = ChatBatch::new(client(&server, &RateLimiter::new()))
        .in_flight(1)
        .progress_bar(false)
        .run(jobs(50))
        .collect();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].attempts, 1);
    assert_eq!(server.request_count(), 1);
    let error = results[0].error.as_deref().unwrap();
    assert!(error.contains("You exceeded your current quota"), "{error}");
}

#[test]
fn a_chat_that_keeps_failing_is_a_result_not_the_end() {
    let server = TestServer::start(|req| {
        if req.body_str().contains("prompt 1") {
            Reply::status(
                400,
                r#"{"error":{"message":"bad prompt","type":"invalid_request_error"}}"#,
            )
            .header("request-id", "req_400")
        } else {
            answer(req)
        }
    });
    let limiter = RateLimiter::new();
    let results: Vec<ChatResult> = ChatBatch::new(client(&server, &limiter))
        .progress_bar(false)
        .run(jobs(3))
        .collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    let error = results[1].error.as_deref().unwrap();
    assert!(error.contains("400"), "{error}");
    assert_eq!(results[1].attempts, 1, "a 400 is not retried");
    assert_eq!(results[1].request_id.as_deref(), Some("req_400"));
    let line = serde_json::to_value(&results[1]).unwrap();
    assert_eq!(
        line.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["attempts", "elapsed_ms", "error", "id", "request_id"]
    );
}

#[test]
fn failures_in_the_stream_are_retried_by_what_they_stand_for() {
    // Each prompt's first answer is a failure in a 200 stream, before any of the answer; its
    // second, a whole answer.
    let failures = [
        // OpenAI's rate limit in the stream: 429.
        "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n",
        // DeepSeek: its servers are busy, 503.
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"insufficient_system_resource\"}]}\n\n",
        // Cohere's (through an OpenAI-style gateway): the generation failed, 500.
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"ERROR\"}]}\n\n",
        // The prompt's own fault: not retried.
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"ERROR_TOXIC\"}]}\n\n",
        // An error event whose type says only that it is one: not retried.
        "event: error\ndata: {\"type\":\"error\",\"message\":\"prompt too long\"}\n\n",
        // A gateway's JSON error document with a 200 in place of the stream: a server error,
        // retried as the same failure in a stream is.
        "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"code\":\"server_error\"}}",
        // The same for a prompt's fault: not retried.
        "{\"error\":{\"message\":\"bad prompt\",\"type\":\"invalid_request_error\"}}",
    ];
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let server = TestServer::start(move |req| {
        let prompt = req.body_str().to_string();
        let case = (0..failures.len()).find(|i| prompt.contains(&format!("prompt {i}")));
        match case {
            Some(i) if failures[i].starts_with('{') && seen.lock().unwrap().insert(i) => {
                Reply::json(failures[i])
            }
            Some(i) if seen.lock().unwrap().insert(i) => Reply::sse([failures[i]], support::ms(0)),
            _ => answer(req),
        }
    });
    let results: Vec<ChatResult> = ChatBatch::new(client_on(&server, FuturesSession::new()))
        .attempts(3)
        .retry(RetryPolicy::llm().base_delay(support::ms(1)))
        .progress_bar(false)
        .run(jobs(7))
        .collect();
    let outcome: Vec<_> = results
        .iter()
        .map(|r| (r.content.as_deref(), r.attempts))
        .collect();
    assert_eq!(
        outcome,
        [
            (Some("PROMPT 0"), 2),
            (Some("PROMPT 1"), 2),
            (Some("PROMPT 2"), 2),
            (None, 1),
            (None, 1),
            (Some("PROMPT 5"), 2),
            (None, 1)
        ],
        "{results:?}"
    );
}

#[test]
fn an_overloaded_error_before_the_answer_is_retried_and_one_after_it_is_not() {
    // Anthropic answers 200 and says it is overloaded in the stream, before any of the answer.
    let overloaded =
        std::fs::read(crate::llm_streams_dir().join("anthropic_overloaded_error_only.sse"))
            .unwrap();
    let events = |text: &str| {
        [
            r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#
                .to_string(),
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                .to_string(),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})
                .to_string(),
        ]
        .map(|data| format!("data: {data}\n\n"))
    };
    let end = [
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}"#,
        r#"{"type":"message_stop"}"#,
    ]
    .map(|data| format!("data: {data}\n\n"));
    let error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let first = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(move |req| {
        let stream: Vec<String> = if req.body_str().contains("prompt 0") {
            if first.fetch_add(1, Ordering::SeqCst) == 0 {
                return Reply::ok(overloaded.clone()).content_type("text/event-stream");
            }
            events("Hi").into_iter().chain(end.clone()).collect()
        } else {
            // The answer had started: its error is the result.
            events("Half")
                .into_iter()
                .chain([error.to_string()])
                .collect()
        };
        Reply::sse(stream, support::ms(0))
    });
    let client = ureq_futures::llm::AnthropicClient::builder("m", None)
        .base_url(server.url())
        .api_key("k")
        .env(|_| None)
        .build();
    let results: Vec<ChatResult> = ChatBatch::new(client)
        .attempts(3)
        .progress_bar(false)
        .run(jobs(2))
        .collect();
    assert_eq!(
        results[0].content.as_deref(),
        Some("Hi"),
        "{:?}",
        results[0]
    );
    assert_eq!(results[0].attempts, 2);
    let error = results[1].error.as_deref().unwrap();
    assert!(error.contains("overloaded_error"), "{error}");
    assert_eq!(
        results[1].attempts, 1,
        "an answer cut once started is not retried"
    );
    assert_eq!(server.request_count(), 3);
}

/// Dropping the results sends no chat more: the chats waiting for a place do not take those
/// the dropped chats give back. 8 at once: chat 0 answers at once, the others are held; the
/// first result read, then the results dropped: chats 0 to 8 may have been sent, no more.
#[test]
fn dropping_the_results_sends_no_more_chats() {
    let (open, gate) = crossbeam_channel::bounded::<()>(0);
    let gate = std::sync::Mutex::new(gate);
    let server = TestServer::start(move |req| {
        if !req.body_str().contains("prompt 0") {
            let _ = gate.lock().unwrap().recv_timeout(support::secs(10));
        }
        answer(req)
    });
    let session = FuturesSession::builder().max_workers(16).build();
    let batch = ChatBatch::new(client_on(&server, session))
        .in_flight(8)
        .progress_bar(false);
    let mut results = batch.run(jobs(40));
    assert_eq!(results.next().map(|r| r.id).as_deref(), Some("id0"));
    drop(results);
    // Time for the chats that waited for a place to be sent, had they been.
    std::thread::sleep(support::ms(500));
    let sent: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.body_str().into_owned())
        .collect();
    drop(open);
    assert!(sent.len() <= 9, "{} chats sent: {sent:?}", sent.len());
}

#[test]
fn dropping_the_results_ends_a_chat_waiting_to_retry() {
    // Three seconds: the test's thread may be held up a while before it drops the results,
    // and the retry must not come first.
    let server = slowed_down("prompt 1", "3");
    let client = OpenAIClient::builder("m", 0.0)
        .base_url(server.url())
        .api_key("")
        .build();
    let mut results = ChatBatch::new(client)
        .attempts(3)
        .in_flight(2)
        .progress_bar(false)
        .run(jobs(2));
    assert!(results.next().unwrap().is_ok());
    let asked = |server: &TestServer| {
        let requests = server.requests();
        requests
            .iter()
            .filter(|r| r.body_str().contains("prompt 1"))
            .count()
    };
    let t = std::time::Instant::now();
    while asked(&server) == 0 && t.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(support::ms(5));
    }
    assert_eq!(asked(&server), 1);
    // The second chat now waits three seconds before its next attempt: dropping the results
    // cancels it, wait included.
    drop(results);
    std::thread::sleep(support::ms(3500));
    assert_eq!(asked(&server), 1, "a cancelled chat went on retrying");
}

/// A shutdown of the client's session stops a batch: the chat waiting to retry ends at once,
/// and no chat is sent after it (the chats after the waiting one went on until then).
#[test]
fn a_shutdown_of_the_clients_session_stops_the_batch() {
    // Longer than the test may take: only the shutdown can end this wait.
    let server = slowed_down("prompt 0", "30");
    let session = FuturesSession::builder().max_workers(4).build();
    let client = client_on(&server, session.clone());
    let stopper = std::thread::spawn(move || {
        // Until the chats after the waiting one have run out of the batch's window (32 times
        // `in_flight` jobs from the oldest one not finished): 64 requests, chat 0's first too.
        support::eventually(support::secs(10), || server.request_count() >= 64);
        std::thread::sleep(support::ms(100));
        session.shutdown_now();
        let sent = server.request_count();
        (server, sent)
    });
    let t = std::time::Instant::now();
    let results: Vec<ChatResult> = ChatBatch::new(client.clone())
        .attempts(2)
        .in_flight(2)
        .progress_bar(false)
        .run(jobs(1000))
        .collect();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
    let (server, sent) = stopper.join().unwrap();
    assert_eq!(
        server.request_count(),
        sent,
        "chats were sent after the shutdown"
    );
    // A result for each chat that was sent, none for those that never started.
    assert_eq!(results.len(), sent, "results for chats that never started");
    let ids: Vec<String> = results.iter().map(|r| r.id.clone()).collect();
    let want: Vec<String> = (0..results.len()).map(|i| format!("id{i}")).collect();
    assert_eq!(ids, want);
    // It says what it waited after, and why it stopped.
    let error = results[0].error.as_deref().unwrap_or("");
    assert!(
        error.contains("429") && error.contains("slow down"),
        "{error}"
    );
    assert!(
        error.contains("then stopped while it waited to retry"),
        "{error}"
    );
    // Every chat answered was sent before the shutdown: the server saw the first one and
    // each of those.
    let answered = results.iter().filter(|r| r.content.is_some()).count();
    assert_eq!(answered + 1, sent);
    // On a session shut down already, a run writes the first job's failure only.
    let path = temp_file("shut-down");
    let summary = ChatBatch::new(client)
        .progress_bar(false)
        .run_to_file(jobs(1000), &path)
        .unwrap();
    assert_eq!(
        (summary.answered, summary.failed, summary.stopped),
        (0, 1, true)
    );
    assert_eq!(read_lines(&path).len(), 1);
}

#[test]
fn dropping_the_results_ends_a_chat_whose_answer_is_streaming() {
    let server = TestServer::start(|req| {
        if req.body_str().contains("prompt 1") {
            Reply::custom(|socket| {
                use std::io::{Read, Write};
                let chunk = r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";
                let _ = socket.write_all(format!("{head}data: {chunk}\n\n").as_bytes());
                // Then nothing, until the client goes away.
                let _ = socket.set_read_timeout(None);
                let _ = socket.read(&mut [0; 1]);
            })
        } else {
            answer(req)
        }
    });
    // Two workers: the streaming chat holds one until the chat is stopped.
    let session = FuturesSession::builder().max_workers(2).build();
    let client = client_on(&server, session.clone());
    let mut results = ChatBatch::new(client)
        .in_flight(2)
        .progress_bar(false)
        .run(jobs(2));
    assert!(results.next().unwrap().is_ok());
    support::eventually(support::secs(10), || server.request_count() >= 2);
    drop(results);
    // Two jobs that can only finish side by side: both workers must be free.
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    let waiter =
        session.submit(move |_| Ok(rx.recv_timeout(std::time::Duration::from_secs(30)).is_ok()));
    let sender = session.submit(move |_| Ok(tx.send(()).is_ok()));
    assert!(
        waiter.result().unwrap(),
        "the dropped batch's chat still holds a worker"
    );
    assert!(sender.result().unwrap());
}

#[test]
fn a_file_that_cannot_be_opened_or_read_is_named_in_the_error() {
    let server = TestServer::start(answer);
    let limiter = RateLimiter::new();
    let batch = ChatBatch::new(client(&server, &limiter)).progress_bar(false);
    // A directory that does not exist: the file cannot be created.
    let missing = temp_file("no-such-dir").join("answers.jsonl");
    let err = batch.run_to_file(jobs(1), &missing).unwrap_err();
    assert!(
        matches!(&err, ureq_futures::Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "io: open {} to write the answers failed: No such file or directory (os error 2); \
             the directory {} does not exist: create it first (std::fs::create_dir_all)",
            missing.display(),
            missing.parent().unwrap().display()
        )
    );
    // A directory given as the output: it opens, but reading the answers in it fails.
    let dir = temp_file("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let err = batch.run_to_file(jobs(1), &dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "io: read the answers already in {} failed: Is a directory (os error 21); give the \
             path of a file (answers.jsonl) in it",
            dir.display()
        )
    );
    assert_eq!(server.request_count(), 0);
}

#[test]
fn a_stream_cut_stalled_or_ended_before_any_of_the_answer_is_retried() {
    // Each prompt's first answer is 200 with the stream's head, then: a clean end (0), a reset
    // (1), silence past the read timeout (2), or a reset once the answer has started (3).
    // Nothing of the answer was lost in the first three: they are sent again.
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let server = TestServer::start(move |req| {
        let prompt = (0..4)
            .find(|i| req.body_str().contains(&format!("prompt {i}")))
            .unwrap_or(9);
        let first = {
            let mut log = log.lock().unwrap();
            let first = !log.contains(&prompt.to_string());
            log.push(prompt.to_string());
            first
        };
        let sse = "text/event-stream";
        match (prompt, first) {
            (0, true) => Reply::sse(Vec::<String>::new(), support::ms(0)),
            (1, true) => Reply::reset_mid_body("data: {\"choi", 4).content_type(sse),
            (2, true) => Reply::stall().content_type(sse),
            (3, _) => {
                let delta = json!({"choices": [{"index": 0, "delta": {"content": "Half"}}]});
                let body = format!("data: {delta}\n\ndata: {{\"cho");
                let sent = body.len() - 4;
                Reply::reset_mid_body(body, sent).content_type(sse)
            }
            _ => answer(req),
        }
    });
    let client = OpenAIClient::builder("m", 0.0)
        .base_url(server.url())
        .api_key("k")
        .env(|_| None)
        .read_timeout(std::time::Duration::from_millis(300))
        .build();
    let results: Vec<ChatResult> = ChatBatch::new(client)
        .attempts(3)
        .progress_bar(false)
        .run(jobs(4))
        .collect();
    for (i, result) in results.iter().take(3).enumerate() {
        assert_eq!(
            result.content.as_deref(),
            Some(format!("PROMPT {i}").as_str()),
            "{result:?}"
        );
        assert_eq!(result.attempts, 2, "{result:?}");
    }
    let error = results[3]
        .error
        .as_deref()
        .expect("a cut answer is an error");
    assert_eq!(
        results[3].attempts, 1,
        "an answer cut once started is not retried: {error}"
    );
}

#[test]
fn a_result_keeps_the_refusal_the_usage_and_the_request_id() {
    let server = TestServer::start(|_| {
        let chunks = [
            json!({"choices": [{"index": 0, "delta": {"refusal": "I can't "}}]}),
            json!({"choices": [{"index": 0, "delta": {"refusal": "help."}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}),
        ];
        let mut events: Vec<String> = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        events.push("data: [DONE]\n\n".into());
        Reply::sse(events, support::ms(0)).header("x-request-id", "req_7")
    });
    let client = OpenAIClient::builder("m", 0.0)
        .base_url(server.url())
        .api_key("k")
        .env(|_| None)
        .build();
    let result = ChatBatch::new(client)
        .progress_bar(false)
        .run(jobs(1))
        .next()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(result.refusal.as_deref(), Some("I can't help."));
    assert_eq!(result.request_id.as_deref(), Some("req_7"));
    assert_eq!(result.content.as_deref(), Some(""));
    let usage = result.usage.as_ref().expect("the usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(7), Some(3))
    );
    // On the line of the output file too, and read back as it was.
    let line = serde_json::to_string(&result).unwrap();
    assert!(line.contains(r#""refusal":"I can't help.""#), "{line}");
    assert_eq!(serde_json::from_str::<ChatResult>(&line).unwrap(), result);
}

/// An OpenAI stream of `deltas`, each a `delta` object, then a finish reason of `finish`.
fn stream_of(deltas: &[Value], finish: &str) -> Reply {
    let mut events: Vec<String> = deltas
        .iter()
        .map(|d| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": d}]})
            )
        })
        .collect();
    let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]});
    events.push(format!("data: {end}\n\n"));
    events.push("data: [DONE]\n\n".into());
    Reply::sse(events, support::ms(0))
}

#[test]
fn a_batchs_request_goes_with_every_chat_and_its_answers_read_as_json() {
    // Answers `{"length": n}`, n the length of the chat's last message.
    let server = TestServer::start(|req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let last = body["messages"].as_array().and_then(|m| m.last()).cloned();
        let n = last.map_or(0, |m| m["content"].as_str().unwrap_or("").len());
        stream_of(
            &[json!({"content": format!("{{\"length\": {n}}}")})],
            "stop",
        )
    });
    let schema = json!({"type": "object", "properties": {"length": {"type": "integer"}}});
    let template = ChatRequest::new()
        .system("Count the letters.")
        .user("abc")
        .message(ureq_futures::llm::Message::assistant(r#"{"length": 3}"#))
        .json_schema("count", schema.clone())
        .max_tokens(10)
        .temperature(0.5);
    let client = OpenAIClient::builder("m", 0.0)
        .base_url(server.url())
        .api_key("k")
        .env(|_| None)
        .build();
    let batch = ChatBatch::new(client).progress_bar(false).request(template);
    let prompts = ["a", "bb", "cccc"];
    let jobs = prompts.into_iter().map(|p| ChatJob::user(p, p));

    #[derive(serde::Deserialize)]
    struct Count {
        length: usize,
    }
    let results: Vec<ChatResult> = batch.run(jobs).collect();
    for (result, prompt) in results.iter().zip(prompts) {
        let count: Count = result.json().unwrap_or_else(|e| panic!("{e}: {result:?}"));
        assert_eq!(count.length, prompt.len(), "{result:?}");
    }
    // Every chat sent the template's settings and messages, the job's message after them.
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let mut lasts = Vec::new();
    for request in &requests {
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        let messages = sent["messages"].as_array().unwrap();
        let roles: Vec<&str> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"], "{sent}");
        assert_eq!(messages[0]["content"], "Count the letters.");
        assert_eq!(sent["response_format"]["json_schema"]["name"], "count");
        assert_eq!(sent["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(
            (sent["max_tokens"].clone(), sent["temperature"].clone()),
            (json!(10), json!(0.5))
        );
        lasts.push(messages[3]["content"].as_str().unwrap().to_string());
    }
    lasts.sort();
    assert_eq!(lasts, prompts);

    // Read back from a file of results, as a script that runs the batch first would.
    let line = serde_json::to_string(&results[2]).unwrap();
    let back: ChatResult = serde_json::from_str(&line).unwrap();
    assert_eq!(back.json::<Count>().unwrap().length, 4);
}

#[test]
fn a_result_that_is_no_json_or_failed_says_which_chat_and_why() {
    let server = TestServer::start(|req| match req.body_str().contains("fail") {
        true => Reply::status(400, r#"{"error":{"message":"bad prompt"}}"#),
        false => stream_of(
            &[json!({"content": "Sure! Here it is: {\"length\""})],
            "length",
        ),
    });
    let client = OpenAIClient::builder("m", 0.0)
        .base_url(server.url())
        .api_key("k")
        .env(|_| None)
        .build();
    let jobs = [ChatJob::user("cut", "count"), ChatJob::user("bad", "fail")];
    let results: Vec<ChatResult> = ChatBatch::new(client)
        .progress_bar(false)
        .run(jobs)
        .collect();
    let err = results[0].json::<Value>().unwrap_err().to_string();
    assert!(
        err.starts_with(r#"json: chat "cut" answered, but the answer is not JSON"#),
        "{err}"
    );
    assert!(err.contains("raise max_tokens"), "{err}");
    let err = results[1].json::<Value>().unwrap_err().to_string();
    assert!(
        err.starts_with(r#"json: chat "bad" failed, so it has no answer to read: "#),
        "{err}"
    );
    assert!(err.contains("bad prompt"), "{err}");
}

#[test]
fn the_tool_calls_of_an_answer_are_in_its_result_and_its_line() {
    let server = TestServer::start(|req| match req.body_str().contains("Oslo") {
        true => stream_of(
            &[
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "city", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"name\":"}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}),
            ],
            "tool_calls",
        ),
        false => stream_of(&[json!({"content": "No city."})], "stop"),
    });
    let client = OpenAIClient::builder("m", 0.0)
        .base_url(server.url())
        .api_key("k")
        .env(|_| None)
        .build();
    let city = ureq_futures::llm::Tool::new(
        "city",
        "Records the city the text names",
        json!({"type": "object", "properties": {"name": {"type": "string"}}}),
    );
    let template = ChatRequest::new()
        .tool(city)
        .tool_choice(ureq_futures::llm::ToolChoice::Tool("city".into()));
    let jobs = [
        ChatJob::user("1", "I live in Oslo."),
        ChatJob::user("2", "Hi"),
    ];
    let batch = ChatBatch::new(client).progress_bar(false).request(template);
    let results: Vec<ChatResult> = batch.run(jobs).collect();
    let [called, plain] = &results[..] else {
        panic!("{results:?}")
    };
    assert_eq!(called.tool_calls.len(), 1, "{called:?}");
    let call = &called.tool_calls[0];
    assert_eq!((call.id.as_str(), call.name.as_str()), ("call_1", "city"));
    assert_eq!(call.arguments, r#"{"name":"Oslo"}"#);
    assert_eq!(call.json::<Value>().unwrap()["name"], "Oslo");
    assert_eq!(called.finish_reason.as_deref(), Some("tool_calls"));
    let sent: Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
    assert_eq!(sent["tool_choice"]["function"]["name"], "city", "{sent}");
    // On its line, and read back as it was; an answer without calls has no such field.
    let line = serde_json::to_string(called).unwrap();
    assert!(
        line.contains(r#""tool_calls":[{"index":0,"id":"call_1""#),
        "{line}"
    );
    assert_eq!(&serde_json::from_str::<ChatResult>(&line).unwrap(), called);
    assert!(plain.tool_calls.is_empty(), "{plain:?}");
    // Its text is none: `json` points to the calls.
    let err = called.json::<Value>().unwrap_err().to_string();
    assert!(
        err.contains(
            r#"chat "1" answered with 1 tool call(s) and no text: read ChatResult::tool_calls (ToolCall::json reads a call's arguments)"#
        ),
        "{err}"
    );
    assert!(!serde_json::to_string(plain).unwrap().contains("tool_calls"));
}

/// A batch request the provider cannot express (Anthropic has no seed) stops the batch at its
/// first chat, sending nothing, rather than fail every job one by one; a job's own refusal (a
/// role the provider has not) is that job's.
#[test]
fn a_batch_request_the_client_cannot_send_stops_the_batch() {
    let server = TestServer::start(|_| Reply::status(500, "nothing should be sent"));
    let client = ureq_futures::llm::AnthropicClient::builder("claude-haiku-4-5", None)
        .base_url(server.url())
        .api_key("k")
        .env(|_| None)
        .build();
    let file = temp_file("refused-template");
    let summary = ChatBatch::new(client.clone())
        .in_flight(1)
        .progress_bar(false)
        .request(ChatRequest::new().seed(7))
        .run_to_file(jobs(5), &*file)
        .unwrap();
    let why = summary.stop_reason.as_deref().unwrap_or_default();
    assert!(summary.stopped, "{summary:?}");
    assert!(why.starts_with("the batch's request (ChatBatch::request) cannot be sent by this client, so the batch stopped: invalid request: "), "{why}");
    assert!(why.contains("seed"), "{why}");
    assert_eq!((summary.answered, summary.failed), (0, 1), "{summary:?}");
    assert_eq!(read_lines(&file).len(), 1);
    assert_eq!(server.request_count(), 0);
    // A run is Send when its jobs are, and takes jobs that are not (lines of stdin, an `Rc`).
    fn is_send<T: Send>(_: &T) {}
    is_send(
        &ChatBatch::new(client.clone())
            .progress_bar(false)
            .run(jobs(0)),
    );
    let shared = std::rc::Rc::new("prompt".to_string());
    let local = (0..1).map(move |i| ChatJob::user(i.to_string(), shared.as_str()));
    let _not_send = ChatBatch::new(client.clone())
        .progress_bar(false)
        .run(local);
    // `run` says so too, once its results have ended.
    let mut run = ChatBatch::new(client.clone())
        .in_flight(1)
        .progress_bar(false)
        .request(ChatRequest::new().seed(7))
        .run(jobs(5));
    assert_eq!(run.stop_reason(), None);
    assert_eq!(run.by_ref().count(), 1);
    assert_eq!(run.stop_reason(), Some(why));
    assert_eq!(server.request_count(), 0);

    // A job the provider refuses, under a request it takes: that job fails, the rest run on.
    let refused = ChatJob {
        id: "odd".into(),
        messages: vec![ureq_futures::llm::Message::new("function", "?")],
    };
    let results: Vec<ChatResult> = ChatBatch::new(client)
        .in_flight(1)
        .progress_bar(false)
        .attempts(1)
        .run([refused, ChatJob::user("ok", "Hi")])
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(
        results[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("invalid request"),
        "{results:?}"
    );
    assert_eq!(server.request_count(), 1);
}
