//! `ChatBatch`: many chats through any [`ChatClient`], with retries, a progress bar, results as
//! JSON lines in input order, and runs that resume where they stopped.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{
    ChatClient, ChatEvent, ChatRequest, ChatResponse, ChatStream, Message, ToolCall, Usage,
};
use crate::{BatchProgress, Error, FuturesSession, RateLimiter, RetryPolicy};

/// One chat of a batch: an id, kept in its result, and the messages to send, after those of
/// the batch's [`request`](ChatBatch::request) and with its settings. Reads from and
/// writes to JSON as `{"id": "...", "messages": [{"role": "user", "content": "..."}]}`.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{ChatJob, Message};
///
/// let job: ChatJob = serde_json::from_str(r#"{"id": "q1", "messages": [{"role": "user", "content": "Hi"}]}"#)?;
/// assert_eq!(job, ChatJob::user("q1", "Hi"));
/// let with_system = ChatJob {
///     id: "q2".into(),
///     messages: vec![Message::system("Answer in French."), Message::user("Hi")],
/// };
/// # let _ = with_system;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatJob {
    /// The chat's id: what a resumed run recognises it by. Unique within a batch.
    pub id: String,
    /// The conversation to send.
    pub messages: Vec<Message>,
}

impl ChatJob {
    /// A job of one user message.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{ChatJob, Message};
    ///
    /// let jobs: Vec<ChatJob> = ["red", "green"]
    ///     .iter()
    ///     .enumerate()
    ///     .map(|(i, colour)| ChatJob::user(i.to_string(), format!("A poem about {colour}")))
    ///     .collect();
    /// assert_eq!(jobs[1].id, "1");
    /// assert_eq!(jobs[1].messages, [Message::user("A poem about green")]);
    /// ```
    pub fn user(id: impl Into<String>, prompt: impl Into<String>) -> Self {
        ChatJob {
            id: id.into(),
            messages: vec![Message::user(prompt)],
        }
    }
}

/// The outcome of one chat: one JSON line of a batch's output file.
///
/// `{"id":"7","content":"...","finish_reason":"stop","usage":{...},"attempts":1,"elapsed_ms":812}`
/// for an answer, `{"id":"8","error":"...","attempts":3,"elapsed_ms":4630}` for a chat that
/// failed. A model's refusal (OpenAI's `refusal`) is an answer whose `refusal` holds its words;
/// an answer's tool calls are its `tool_calls`.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::ChatResult;
///
/// let line = r#"{"id":"8","error":"HTTP 500 from https://api.example.com/v1/chat/completions","attempts":4,"elapsed_ms":7410}"#;
/// let result: ChatResult = serde_json::from_str(line)?;
/// assert!(!result.is_ok());
/// assert_eq!((result.content, result.attempts, result.elapsed_ms), (None, 4, Some(7410)));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatResult {
    /// The job's id.
    pub id: String,
    /// The answer's text, when the chat succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Why the model stopped (`stop`, `length`...), when the server said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The model's refusal, when it refused (OpenAI's structured outputs): the answer's
    /// `content` is then what text came beside it, often none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The tokens the chat's answer counted, when the server said (see [`Usage`]): what a
    /// batch cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The server's id of the last attempt's request (`x-request-id`, `request-id`), when it
    /// sent one: what a provider's support asks for about an answer or a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What went wrong, when the chat failed after its attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts made.
    #[serde(default)]
    pub attempts: u32,
    /// The chat's time in milliseconds, from its first attempt to its result: its attempts
    /// (each answer read whole) and the waits between them; not its wait for a place among the
    /// batch's [`in_flight`](ChatBatch::in_flight) before. `None` for a chat that did not run
    /// (refused by a shutdown before its first request, or failed in the batch's own worker)
    /// and in lines written before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// The tool calls of the answer, in order: what a batch whose
    /// [`request`](ChatBatch::request) offers tools (a forced tool choice, for extraction) gets
    /// back. Empty, and left out of the JSON line, when the model called none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl ChatResult {
    /// Whether the chat has an answer.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::ChatResult;
    ///
    /// let line = r#"{"id":"7","content":"Hi!","finish_reason":"stop","attempts":1}"#;
    /// let result: ChatResult = serde_json::from_str(line)?;
    /// assert!(result.is_ok());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// The answer parsed as JSON into `T`, read as [`ChatResponse::json`] reads an answer (a
    /// `<think>` block before it, a Markdown fence around it and a sentence before or after
    /// that fenced block are left out; a sentence around a value without a fence is not): the
    /// result of a batch whose [`request`](ChatBatch::request) asks for JSON output.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] naming the chat's id: when the chat failed (with its error), or as
    /// [`ChatResponse::json`] fails (not JSON, not of the type, refused, cut at its token
    /// limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::Deserialize;
    /// use ureq_futures::llm::ChatResult;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct Sentiment {
    ///     positive: bool,
    /// }
    ///
    /// let line = r#"{"id":"7","content":"{\"positive\": true}","finish_reason":"stop","attempts":1}"#;
    /// let result: ChatResult = serde_json::from_str(line)?;
    /// assert!(result.json::<Sentiment>()?.positive);
    ///
    /// let failed: ChatResult = serde_json::from_str(r#"{"id":"8","error":"HTTP 500","attempts":4}"#)?;
    /// let err = failed.json::<Sentiment>().unwrap_err().to_string();
    /// assert!(err.contains(r#"chat "8" failed"#), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let named = |why: &dyn std::fmt::Display| {
            Error::Json(serde::de::Error::custom(format!(
                "chat {:?} {why}",
                self.id
            )))
        };
        let (Some(text), None) = (&self.content, &self.error) else {
            let error = self.error.as_deref().unwrap_or("no error and no answer");
            return Err(named(&format_args!(
                "failed, so it has no answer to read: {error}"
            )));
        };
        if text.trim().is_empty() && !self.tool_calls.is_empty() {
            let n = self.tool_calls.len();
            return Err(named(&format_args!(
                "answered with {n} tool call(s) and no text: read ChatResult::tool_calls \
                 (ToolCall::json reads a call's arguments)"
            )));
        }
        let answer = ChatResponse {
            text: text.clone(),
            refusal: self.refusal.clone(),
            finish_reason: self.finish_reason.clone(),
            ..ChatResponse::default()
        };
        answer.json().map_err(|e| match e {
            Error::Json(e) => named(&format_args!("answered, but {e}")),
            e => e,
        })
    }

    /// The result of chat `id`: its answer and finish reason, or what went wrong, after
    /// `attempts` that began at `started`.
    fn new(
        id: String,
        answer: Result<Answer, Error>,
        attempts: u32,
        request_id: Option<String>,
        started: Option<Instant>,
    ) -> Self {
        let (answer, error) = match answer {
            Ok(answer) => (answer, None),
            Err(e) => (Answer::default(), Some(e.to_string())),
        };
        ChatResult {
            id,
            content: error.is_none().then_some(answer.text),
            finish_reason: answer.finish_reason,
            refusal: answer.refusal,
            usage: answer.usage,
            request_id,
            error,
            attempts,
            elapsed_ms: started
                .map(|at| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX)),
            tool_calls: answer.tool_calls,
        }
    }
}

/// What a chat's stream brought: its text, tool calls, refusal, finish reason and usage.
#[derive(Default)]
struct Answer {
    text: String,
    tool_calls: Vec<ToolCall>,
    refusal: Option<String>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

/// What [`ChatBatch::run_to_file`] did.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
/// # let path = std::env::temp_dir().join(format!("ureq-futures-doc-summary-{}.jsonl", std::process::id()));
/// use ureq_futures::llm::{ChatBatch, ChatJob, OpenAIClient};
///
/// let client = OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).build();
/// let batch = ChatBatch::new(client).progress_bar(false);
/// let jobs = || (0..3).map(|i| ChatJob::user(i.to_string(), "Say hello."));
/// let first = batch.run_to_file(jobs(), &path)?;
/// assert_eq!((first.answered, first.failed, first.skipped), (3, 0, 0));
/// // Run again: every job already has its answer in the file.
/// let again = batch.run_to_file(jobs(), &path)?;
/// assert_eq!((again.answered, again.skipped), (0, 3));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChatBatchSummary {
    /// Jobs skipped because the output file already held their answer, or because a job of
    /// the same id came before them.
    pub skipped: u64,
    /// Jobs run that got an answer.
    pub answered: u64,
    /// Jobs run that failed after their attempts.
    pub failed: u64,
    /// The run ended before its jobs ran out, or before its chats in flight were answered: the
    /// client's session was shut down (its chats cancelled, or never started), or a failure no
    /// later chat escapes stopped it ([`stop_reason`](ChatBatchSummary::stop_reason); see
    /// [`ChatBatch`]'s "Stopping"). The jobs after those in the file never ran, and those cut
    /// short are failures in it; a later run sends both.
    pub stopped: bool,
    /// Why the batch stopped on its own, when it did: a chat failed in a way no later chat
    /// escapes (the server refused the API key, the account has no credit or quota left; see
    /// [`ChatBatch`]'s "Stopping"). The failed chat's error, with what it means. Fix the cause
    /// and run again: a resume sends the failed chats and those that never ran.
    pub stop_reason: Option<String>,
}

/// How many times [`ChatBatch::in_flight`] chats a batch has started and not yet yielded, at
/// most, unless [`ChatBatch::look_ahead`] says: their results wait to be yielded in input
/// order.
///
/// A batch in input order whose window were `in_flight` jobs would stop at a slow chat: the
/// others finish and their workers wait for it, through every backoff and `Retry-After`.
/// Results are small (an answer's text), so a window of 32 times the chats at once keeps the
/// workers busy through waits of many chats' length, in bounded memory.
const LOOK_AHEAD: usize = 32;

/// Runs many chats through a [`ChatClient`], at most [`in_flight`](ChatBatch::in_flight) at
/// once, retrying what a later attempt can fix. Each setter states its default.
///
/// A chat waiting to retry gives its place to the chats behind it, and gets the next place
/// free when its wait ends, before the chats not started yet: a few refusals slow the batch
/// by their requests, not by their waits. (Up to `in_flight` chats wait so beside the
/// `in_flight` that run; past that, a wait holds its place.)
///
/// **Limits.** Per-host limits and rate limits belong to the client's session: build the
/// client with a [`FuturesSession`] that has [`max_per_host`](crate::SessionBuilder::max_per_host)
/// and a [`RateLimiter`] ([`rate_limiter`](crate::SessionBuilder::rate_limiter)), so that a
/// 429 pauses every chat to that host instead of each retrying on its own. Give the limiter
/// your tier's rate ([`RateLimit::per_minute`](crate::RateLimit::per_minute)) when you know it:
/// one that learns only from 429s lets every held chat go when a pause ends, and that burst
/// is refused again, each refusal costing its chat an attempt. The session should
/// have at least `in_flight` workers: each chat's answer holds one while it streams, and the
/// chats beyond the workers wait. A batch run inside a job of the client's own session needs a
/// worker free beside that job (its chats are waited for by the batch's own threads, not by the
/// job's worker, so they do not start apart as a stream waited for by that worker would): with
/// a session of one worker it would wait for ever; run it from another thread or session.
///
/// **Retries.** By default, a chat whose request fails before its answer starts (a 408, 409,
/// 429 or any 5xx, a broken connection, a timeout) is sent again after a
/// backoff of 1 s, 2 s, 4 s... (at most 30 s, ±20% jitter), or after the server's
/// `Retry-After` (a wait of zero gets the backoff; a wait of more than 60 s ends the chat's
/// attempts: its error is the result, and a later [`run_to_file`](ChatBatch::run_to_file)
/// runs it again); a server's `x-should-retry` overrides the status. So is one whose stream
/// reports such a failure before any of the answer (Anthropic's `overloaded_error` after a
/// 200, OpenAI's `server_error` and `rate_limit_exceeded`, Gemini's `UNAVAILABLE`, a finish
/// reason that says the generation failed on the server: Cohere's `ERROR` or `TIMEOUT`,
/// DeepSeek's `insufficient_system_resource`...), and one answered by a JSON error document
/// of such a failure with a 200 in place of the stream (a gateway's). An answer cut once it
/// has started is not retried: its error is the result. [`retry`](ChatBatch::retry) changes all of this.
/// The batch's attempts are the only ones: each is sent with [`ChatClient::stream_once`],
/// without the client's own [`RetryPolicy`], so a chat that always fails makes
/// [`attempts`](ChatBatch::attempts) requests, not that many times the client's.
///
/// **Stopping.** A shutdown of the client's session ([`ChatClient::futures_session`]:
/// `client.session().shutdown_now()`, from another thread or a Ctrl-C handler) stops the
/// batch: no chat is started after it, and [`run`](ChatBatch::run) ends once the chats in
/// flight are yielded. With `shutdown_now` those end at once (`Cancelled`, a wait to retry
/// included); with `shutdown` they finish, but a wait to retry ends them. A
/// [`run_to_file`](ChatBatch::run_to_file) so stopped says so
/// ([`ChatBatchSummary::stopped`]): its file holds the chats that ran (a failed one is sent
/// again by a later run), and no line for the jobs never started, nor for the chats whose
/// request still waited for a worker of the client's session (the shutdown refused it
/// unsent). Dropping
/// [`run`](ChatBatch::run)'s iterator stops it too.
///
/// A failure that no later chat escapes stops the batch on its own, rather than send every
/// chat to the same refusal (a revoked key would otherwise cost one request per job): a 401
/// (the server refused the API key; Gemini's 400 `API_KEY_INVALID` and its 403 for a key
/// "reported as leaked" too), a 402 (no credit left: OpenRouter, DeepSeek; Anthropic's 400
/// "credit balance is too low" too), OpenAI's `insufficient_quota` (the plan's quota is used
/// up: not retried either, since no wait brings it back), `billing_not_active` and 403
/// `unsupported_country_region_territory` (and a refused key or a spent quota in a JSON error
/// document sent with a 200), a missing API key, or a
/// [`request`](ChatBatch::request) the client cannot send (a setting its provider has not). No
/// chat starts after it; the chats in flight end as they would, but for one waiting to retry,
/// which ends at once with the failure it waited after. [`run`](ChatBatch::run) yields their results,
/// the failed chat's included, and ends; [`run_to_file`](ChatBatch::run_to_file) says why in
/// [`ChatBatchSummary::stop_reason`] (and the progress bar on its last line). Fix the cause
/// and run again: a resume sends the failed chats and those that never ran.
///
/// **Order and resume.** [`run`](ChatBatch::run) yields the results in input order;
/// [`run_to_file`](ChatBatch::run_to_file) writes them as JSON lines in that order and, when the
/// file already exists, skips the jobs whose id it holds an answer for, so a run that stopped
/// (Ctrl-C, a crash, a quota) continues where it was. A job whose line holds an error runs
/// again and gets a new line: the last line of an id is its outcome.
///
/// # Examples
///
/// ```no_run
/// use ureq_futures::llm::{ChatBatch, ChatJob, OpenAIClient};
/// use ureq_futures::{FuturesSession, RateLimit, RateLimiter};
///
/// // Your tier's rate: 500 requests a minute. 429s pause the host as well.
/// let limiter = RateLimiter::new().all_hosts(RateLimit::per_minute(500.0));
/// let session = FuturesSession::builder()
///     .max_workers(16)
///     .max_per_host(16)
///     .rate_limiter(limiter.clone())
///     .build();
/// let client = OpenAIClient::builder("gpt-4o-mini", 0.0).session(session).build();
/// let jobs = (0..1000).map(|i| ChatJob::user(i.to_string(), format!("Summarise item {i}")));
/// let summary = ChatBatch::new(client)
///     .in_flight(16)
///     .rate_limiter(limiter)
///     .run_to_file(jobs, "answers.jsonl")?;
/// eprintln!("{} answered, {} failed", summary.answered, summary.failed);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[must_use = "a ChatBatch runs nothing until run() or run_to_file() is called"]
pub struct ChatBatch<C> {
    client: Arc<C>,
    request: Arc<ChatRequest>,
    in_flight: usize,
    /// Set by [`look_ahead`](ChatBatch::look_ahead); else [`LOOK_AHEAD`] times `in_flight`.
    look_ahead: Option<usize>,
    retry: RetryPolicy,
    progress_bar: bool,
    limiter: Option<RateLimiter>,
}

impl<C> std::fmt::Debug for ChatBatch<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatBatch")
            .field("request", &self.request)
            .field("in_flight", &self.in_flight)
            .field("look_ahead", &self.window())
            .field("retry", &self.retry)
            .field("progress_bar", &self.progress_bar)
            .finish()
    }
}

impl<C> ChatBatch<C> {
    /// The chats a run has started and not yet yielded, at most (see
    /// [`look_ahead`](ChatBatch::look_ahead)).
    fn window(&self) -> usize {
        let n = self
            .look_ahead
            .unwrap_or(self.in_flight.saturating_mul(LOOK_AHEAD));
        n.max(self.in_flight)
    }
}

impl<C: ChatClient + 'static> ChatBatch<C> {
    /// A batch over `client`, with the defaults its setters state.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("local-model", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::{ChatBatch, ChatJob};
    ///
    /// let batch = ChatBatch::new(client); // 8 at once, 4 attempts each
    /// let results: Vec<_> = batch.run([ChatJob::user("a", "Say hello.")]).collect();
    /// assert_eq!(results[0].content.as_deref(), Some("Hello!"));
    /// ```
    pub fn new(client: C) -> Self {
        ChatBatch {
            client: Arc::new(client),
            request: Arc::default(),
            in_flight: 8,
            look_ahead: None,
            retry: default_retry(),
            progress_bar: io::stderr().is_terminal(),
            limiter: None,
        }
    }

    setters! {
        /// Chats at once (sending their request or reading their answer), at least 1. Chats
        /// waiting to retry do not count (see [`ChatBatch`]). Defaults to 8.
        ///
        /// # Examples
        ///
        /// ```
        /// # use std::sync::{atomic::{AtomicUsize, Ordering::SeqCst}, Arc};
        /// # use ureq_futures::llm::{ChatClient, ChatEvent, ChatStream, Message};
        /// # // Counts the chats it is in at once, and the most it has seen.
        /// # #[derive(Clone, Default)]
        /// # struct Probe { now: Arc<AtomicUsize>, most: Arc<AtomicUsize> }
        /// # impl ChatClient for Probe {
        /// #     fn stream_chat(&self, _: &[Message]) -> Result<ChatStream, ureq_futures::Error> {
        /// #         self.most.fetch_max(self.now.fetch_add(1, SeqCst) + 1, SeqCst);
        /// #         std::thread::sleep(std::time::Duration::from_millis(20));
        /// #         self.now.fetch_sub(1, SeqCst);
        /// #         let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
        /// #         tx.send(Ok(vec![ChatEvent::Text("Hi".into()), ChatEvent::Done])).ok();
        /// #         Ok(ChatStream::from_receiver(rx))
        /// #     }
        /// # }
        /// use ureq_futures::llm::{ChatBatch, ChatJob};
        ///
        /// let probe = Probe::default();
        /// let batch = ChatBatch::new(probe.clone()).in_flight(3);
        /// let jobs = (0..12).map(|i| ChatJob::user(i.to_string(), "Hi"));
        /// assert_eq!(batch.run(jobs).filter(|r| r.is_ok()).count(), 12);
        /// assert!(probe.most.load(SeqCst) <= 3); // never more than 3 chats at once
        /// ```
        in_flight(n: usize) => in_flight = n.max(1);
        /// How many chats a run has started and not yet yielded, at most, the oldest one not
        /// yielded included: while a chat is slow (a long answer, a wait to retry), the others
        /// go on with the jobs after it, and their results wait to be yielded in input order.
        /// At least [`in_flight`](ChatBatch::in_flight). Defaults to 32 times `in_flight` (256
        /// at the default 8). Lower it when a run may be stopped early (`take(50)` of a run
        /// whose first chat is slow sends up to this many chats, each of them paid for); raise
        /// it when one chat's retries may wait longer than the others take to run this many.
        ///
        /// # Examples
        ///
        /// ```
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).build();
        /// use ureq_futures::llm::ChatBatch;
        ///
        /// // A first look at 20 answers: at most 16 chats started, not 256.
        /// let batch = ChatBatch::new(client).look_ahead(16);
        /// assert!(format!("{batch:?}").contains("look_ahead: 16"));
        /// ```
        look_ahead(n: usize) => look_ahead = Some(n);
        /// How a chat's failed attempts are retried: which failures, how many attempts, the
        /// backoff and the longest `Retry-After` waited out (see [`RetryPolicy`]); the policy's
        /// statuses also decide which errors inside a stream are retried (Anthropic's
        /// `overloaded_error`, OpenAI's `server_error` and Gemini's `UNAVAILABLE` are 529, 500
        /// and 503 told late). [`RetryPolicy::none()`] turns retries off. Defaults to
        /// [`RetryPolicy::llm()`] with 4 attempts, 1 s doubling up to 30 s, and waits the server
        /// asks for of up to 60 s.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
        /// # let base = doc::serve_status("429 Too Many Requests", "retry-after: 120\r\n", r#"{"error":{"message":"quota"}}"#);
        /// # let client = ureq_futures::llm::OpenAIClient::builder("local-model", None).base_url(format!("{base}/v1")).env(|_| None).build();
        /// use std::time::Duration;
        /// use ureq_futures::llm::{ChatBatch, ChatJob};
        /// use ureq_futures::RetryPolicy;
        ///
        /// let batch = ChatBatch::new(client);
        /// let result = batch.run([ChatJob::user("q1", "Hi")]).next().unwrap();
        /// // The server asked for 2 minutes, more than the default 60 s: one attempt, its error.
        /// assert_eq!((result.is_ok(), result.attempts), (false, 1));
        ///
        /// // Wait out pauses of up to 5 minutes (a quota that refills each minute).
        /// let patient = RetryPolicy::llm().attempts(3).max_retry_after(Duration::from_secs(300));
        /// let batch = batch.retry(patient);
        /// # let _ = batch;
        /// ```
        retry(policy: RetryPolicy) => retry = policy;
        /// Whether to draw a progress bar on stderr. Defaults to on when stderr is a terminal.
        ///
        /// # Examples
        ///
        /// ```
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).build();
        /// use ureq_futures::llm::ChatBatch;
        ///
        /// // No bar, even on a terminal (a program that prints its own progress).
        /// let quiet = ChatBatch::new(client).progress_bar(false);
        /// assert!(format!("{quiet:?}").contains("progress_bar: false"));
        /// ```
        progress_bar(on: bool) => progress_bar = on;
        /// The request each job's messages are added to: its system prompt, the messages
        /// before the job's (examples of the task), tools and tool choice, JSON output, max
        /// tokens, temperature and the rest of [`ChatRequest`]'s settings, sent with every chat.
        /// A setting the client's provider cannot express (see [`ChatClient::check`]) fails the
        /// first chat with an [`Error::InvalidRequest`] before anything is sent, and stops the
        /// batch, as a refused key does ([`ChatBatchSummary::stop_reason`] says why). Defaults to
        /// [`ChatRequest::new()`]: the job's messages with the client's settings.
        ///
        /// With [`json_schema`](ChatRequest::json_schema), [`ChatResult::json`] reads each
        /// answer; with tools, [`ChatResult::tool_calls`] holds the calls.
        ///
        /// # Examples
        ///
        /// ```
        /// # let answer = r#"data: {"choices":[{"index":0,"delta":{"content":"{\"positive\": true}"},"finish_reason":"stop"}]}"#;
        /// # let server = support::TestServer::start(move |_| support::Reply::sse([format!("{answer}\n\n"), "data: [DONE]\n\n".into()], support::ms(0)));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).base_url(server.url()).env(|_| None).build();
        /// use serde::Deserialize;
        /// use serde_json::json;
        /// use ureq_futures::llm::{ChatBatch, ChatJob, ChatRequest};
        ///
        /// #[derive(Deserialize)]
        /// struct Sentiment {
        ///     positive: bool,
        /// }
        ///
        /// let schema = json!({
        ///     "type": "object",
        ///     "properties": {"positive": {"type": "boolean"}},
        ///     "required": ["positive"],
        /// });
        /// let template = ChatRequest::new()
        ///     .system("Is the review positive?")
        ///     .json_schema("sentiment", schema)
        ///     .max_tokens(20);
        /// let reviews = ["Loved it.", "Never again."];
        /// let jobs = reviews.into_iter().enumerate().map(|(i, r)| ChatJob::user(i.to_string(), r));
        /// for result in ChatBatch::new(client).request(template).run(jobs) {
        ///     // A chat that failed, or answered no such JSON, is one line of the run, not
        ///     // its end (`?` here would drop the results after it).
        ///     match result.json::<Sentiment>() {
        ///         Ok(sentiment) => println!("{}: {}", result.id, sentiment.positive),
        ///         Err(e) => eprintln!("{e}"),
        ///     }
        /// }
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// # assert_eq!(sent["messages"][0]["role"], "system");
        /// # assert_eq!(sent["response_format"]["json_schema"]["name"], "sentiment");
        /// # assert_eq!(sent["max_tokens"], 20);
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        request(template: ChatRequest) => request = Arc::new(template);
        /// The limiter of the client's session, whose pauses the progress bar shows. Defaults to
        /// none.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
        /// # let base = doc::serve_status("429 Too Many Requests", "retry-after-ms: 10\r\n", r#"{"error":{"message":"slow down"}}"#);
        /// use ureq_futures::llm::{ChatBatch, ChatJob, OpenAIClient};
        /// use ureq_futures::{FuturesSession, RateLimiter};
        ///
        /// let limiter = RateLimiter::new();
        /// let session = FuturesSession::builder().rate_limiter(limiter.clone()).build();
        /// let client = OpenAIClient::builder("gpt-4o-mini", None).base_url(base).env(|_| None).session(session).build();
        /// // The session's limiter: the bar shows its pauses.
        /// let batch = ChatBatch::new(client).rate_limiter(limiter.clone()).progress_bar(true).attempts(1);
        /// assert!(!batch.run([ChatJob::user("q1", "Hi")]).next().unwrap().is_ok());
        /// assert!(limiter.pauses() > 0); // each 429 paused the host
        /// ```
        rate_limiter(limiter: RateLimiter) => limiter = Some(limiter);
    }

    /// Attempts per chat, the first included; at least 1. Defaults to 4. Sets the
    /// [`retry`](ChatBatch::retry) policy's [`attempts`](RetryPolicy::attempts).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("503 Service Unavailable", "retry-after-ms: 1\r\n", r#"{"error":{"message":"overloaded"}}"#);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("local-model", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::{ChatBatch, ChatJob};
    ///
    /// let batch = ChatBatch::new(client).attempts(2); // one retry
    /// let result = batch.run([ChatJob::user("q1", "Hi")]).next().unwrap();
    /// assert_eq!((result.is_ok(), result.attempts), (false, 2));
    /// ```
    pub fn attempts(mut self, n: u32) -> Self {
        self.retry = self.retry.attempts(n);
        self
    }

    /// Runs `jobs` and yields their results in input order; memory is bounded by
    /// [`look_ahead`](ChatBatch::look_ahead) results (32 times `in_flight` by default) whatever
    /// the number of jobs. A failed chat is a
    /// result with an [`error`](ChatResult::error), and the end of the batch only when no
    /// later chat could escape it (a refused API key, no credit or quota left: see
    /// [`ChatBatch`]'s "Stopping"): the results end after the chats in flight then, and the
    /// [`ChatRun`]'s [`stop_reason`](ChatRun::stop_reason) says why. The run is `Send` (it can
    /// be handed to another thread) when the jobs' iterator is.
    ///
    /// A chat that takes long (a long answer, a retry's wait, a `Retry-After`) holds back the
    /// results after it, not the chats: the others go on with the jobs after it, up to
    /// [`look_ahead`](ChatBatch::look_ahead) chats started and not yet yielded. A run
    /// stopped by a
    /// shutdown or a drop still hands those out; a process killed outright loses them (a
    /// resume of [`run_to_file`](ChatBatch::run_to_file) sends them again).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// use ureq_futures::llm::{ChatBatch, ChatJob, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("local-model", None).base_url(format!("{base}/v1")).build();
    /// let jobs = (0..5).map(|i| ChatJob::user(format!("job-{i}"), "Say hello."));
    /// let mut ids = Vec::new();
    /// for result in ChatBatch::new(client).in_flight(2).run(jobs) {
    ///     match &result.content {
    ///         Some(text) => println!("{}: {text}", result.id),
    ///         None => eprintln!("{} failed: {}", result.id, result.error.as_deref().unwrap_or("")),
    ///     }
    ///     ids.push(result.id);
    /// }
    /// assert_eq!(ids, ["job-0", "job-1", "job-2", "job-3", "job-4"]); // input order
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn run<I>(&self, jobs: I) -> ChatRun<impl Iterator<Item = ChatResult>>
    where
        I: IntoIterator<Item = ChatJob>,
        I::IntoIter: 'static,
    {
        let stop_reason = Arc::<OnceLock<String>>::default();
        ChatRun {
            results: self.run_shown(jobs, None, Arc::clone(&stop_reason), Arc::default()),
            stop_reason,
        }
    }

    /// [`run`](ChatBatch::run), its progress bar counting `skipped` (jobs passed over before
    /// they reached `jobs`, of `total` in all) as done; `stop_reason` gets why the batch
    /// stopped on its own, if it did, and `cut` is set when a chat failed with the client's
    /// session shut down (the shutdown cut it short).
    fn run_shown<I>(
        &self,
        jobs: I,
        skipped: Option<Skipped>,
        stop_reason: Arc<OnceLock<String>>,
        cut: Arc<AtomicBool>,
    ) -> impl Iterator<Item = ChatResult>
    where
        I: IntoIterator<Item = ChatJob>,
        I::IntoIter: 'static,
    {
        // The chats wait on their answers on a pool of their own: each holds a thread of it
        // while the client's session streams the answer, and while it waits to retry. Twice
        // the places (see [`Places`]): a chat waiting to retry gives its place to one of the
        // chats behind it.
        let driver = FuturesSession::builder()
            .max_workers(self.in_flight.saturating_mul(2))
            .build();
        let places = Places::new(self.in_flight);
        let (client, retry) = (Arc::clone(&self.client), self.retry.clone());
        let template = Arc::clone(&self.request);
        // A failed chat is a result, not a failed job: the bar counts them itself, and the
        // chats that never ran (past a stop), which are done jobs but no chats.
        let (failed, unrun) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        // Whether no chat has reached a worker yet: the first of a run always starts.
        let first = Arc::new(AtomicBool::new(true));
        let dropped = Arc::<AtomicBool>::default();
        let stop = Stop {
            session: self.client.futures_session().cloned(),
            reason: Arc::clone(&stop_reason),
            cut,
            dropped: Arc::clone(&dropped),
        };
        let mut bar = self.progress_bar.then(|| Bar {
            failed: Arc::clone(&failed),
            skipped,
            limiter: self.limiter.clone(),
            stop_reason: Arc::clone(&stop_reason),
            unrun: Arc::clone(&unrun),
            open: false,
        });
        let stopped = stop.clone();
        let results = driver
            .batch(jobs, move |s, job: &ChatJob| {
                let (client, job, retry) = (Arc::clone(&client), job.clone(), retry.clone());
                let (failed, first, stop) = (Arc::clone(&failed), Arc::clone(&first), stop.clone());
                let (unrun, places) = (Arc::clone(&unrun), Arc::clone(&places));
                let template = Arc::clone(&template);
                s.submit(move |_| {
                    // A chat that waited in the window past a shutdown of the client's session,
                    // or past a failure that stopped the batch, never starts, and leaves no
                    // result (the first of a run on a session shut down already does: its
                    // result says why nothing ran).
                    let never_ran = || {
                        unrun.fetch_add(1, Ordering::Relaxed);
                        Ok(None)
                    };
                    let Some(place) = places.take(false, &stop) else {
                        return never_ran();
                    };
                    // A chat of a run whose results were dropped (its job cancelled, or about to
                    // be, while it waited for the place a cancelled chat gave back) sends
                    // nothing.
                    if stop.dropped.load(Ordering::SeqCst) || crate::exec::is_cancelled() {
                        return never_ran();
                    }
                    let was_first = first.swap(false, Ordering::Relaxed);
                    let shut = stop.session_shut_down();
                    if stop.reason.get().is_some() || (shut && !was_first) {
                        return never_ran();
                    }
                    let (result, unsent) = chat(&*client, &template, job, &retry, &stop, place);
                    // Refused by the shutdown before its request was sent (it waited in the
                    // queue of the client's session): it never ran either, unless the session
                    // was shut down before the run's first chat, which says so.
                    if unsent && !(was_first && shut) {
                        return never_ran();
                    }
                    failed.fetch_add(u64::from(!result.is_ok()), Ordering::Relaxed);
                    if !result.is_ok() && stop.session_shut_down() {
                        stop.cut.store(true, Ordering::Relaxed);
                    }
                    Ok(Some(result))
                })
            })
            // The driver's workers bound the chats at once; the window, the results held
            // for input order, so that a slow chat keeps one worker and not every one.
            .in_flight(self.window())
            // A shutdown of the client's session, or a failure no later chat escapes, stops the
            // batch: no chat starts after it.
            .stop_when(move || stopped.is_set())
            .ordered()
            .progress(move |p| bar.iter_mut().for_each(|bar| bar.draw(p)))
            .filter_map(|(job, result)| match result {
                Ok(result) => result,
                Err(e) => Some(ChatResult::new(job.id, Err(e), 0, None, None)),
            });
        Dropping {
            results,
            flag: dropped,
        }
    }

    /// Runs the jobs whose answer `path` does not hold yet and appends their results to it as
    /// JSON lines, in input order, each line written (and flushed) as soon as the results
    /// before it are in. Creates the file if needed. A job's id is its key: a job whose id
    /// came before in `jobs` is skipped too, as a resume would skip it (the ids are kept in
    /// memory for the run, as the file's are).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read or written, naming the file and what failed
    /// (`open answers.jsonl to write the answers failed: ...`); a line of it that is not a
    /// [`ChatResult`] with a `content` or an `error` (a line of jobs, say) is
    /// [`Error::Protocol`] naming the line (the file is not changed then),
    /// except a last line cut short by a run that stopped while it wrote: that line is removed
    /// and its job runs again.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("local-model", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// # let path = std::env::temp_dir().join(format!("ureq-futures-doc-run-to-file-{}.jsonl", std::process::id()));
    /// use ureq_futures::llm::{ChatBatch, ChatJob, ChatResult};
    ///
    /// let summary = ChatBatch::new(client).run_to_file([ChatJob::user("q1", "Say hello.")], &path)?;
    /// assert_eq!(summary.answered, 1);
    /// let result: ChatResult = serde_json::from_str(std::fs::read_to_string(&path)?.trim_end())?;
    /// assert_eq!((result.id.as_str(), result.content.as_deref()), ("q1", Some("Hello!")));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn run_to_file<I>(&self, jobs: I, path: impl AsRef<Path>) -> Result<ChatBatchSummary, Error>
    where
        I: IntoIterator<Item = ChatJob>,
        I::IntoIter: 'static,
    {
        let path = path.as_ref();
        let jobs = jobs.into_iter();
        // All the jobs, skipped ones too, when the input knows how many: the bar's total.
        let total = match jobs.size_hint() {
            (least, Some(most)) if least == most => u64::try_from(least).ok(),
            _ => None,
        };
        let (done, tail) = answered_ids(path)?;
        let (mut answered, mut failed) = (0, 0);
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| file_error("open", path, " to write the answers", e))?;
        let writing = |e| file_error("write the answers to", path, "", e);
        match tail {
            Tail::Whole => {}
            Tail::Open => out.write_all(b"\n").map_err(writing)?,
            Tail::Cut(len) => out
                .set_len(len)
                .map_err(|e| file_error("remove the cut last line of", path, "", e))?,
        }
        let skipped = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&skipped);
        // The jobs handed to the run: each gives a result, unless a stop came before it ran.
        let pulled = Arc::new(AtomicU64::new(0));
        let handed = Arc::clone(&pulled);
        // An id is a job's key: one answered in the file, or met earlier in `jobs`, is skipped,
        // so that a run and its resume do the same work.
        let mut seen = done;
        // Set once the jobs run out: a run a shutdown stopped may never get there (the window
        // reads ahead, so a short list runs out before its chats ran: `pulled` tells).
        let ran_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let end = Arc::clone(&ran_out);
        let todo = jobs
            .filter(move |job| {
                let known = seen.contains(&job.id) || !seen.insert(job.id.clone());
                count.fetch_add(u64::from(known), Ordering::Relaxed);
                handed.fetch_add(u64::from(!known), Ordering::Relaxed);
                !known
            })
            .chain(std::iter::from_fn(move || {
                end.store(true, Ordering::Relaxed);
                None
            }));
        let shown = Skipped {
            count: Arc::clone(&skipped),
            total,
        };
        let stop_reason = Arc::<OnceLock<String>>::default();
        let cut = Arc::<AtomicBool>::default();
        let results = self.run_shown(todo, Some(shown), Arc::clone(&stop_reason), cut.clone());
        for result in results {
            let mut line = serde_json::to_vec(&result)?;
            line.push(b'\n');
            out.write_all(&line).map_err(writing)?;
            out.flush().map_err(writing)?;
            answered += u64::from(result.is_ok());
            failed += u64::from(!result.is_ok());
        }
        Ok(ChatBatchSummary {
            skipped: skipped.load(Ordering::Relaxed),
            answered,
            failed,
            // A shutdown that cancelled the last chats in flight, after every job was pulled
            // and nothing was left to refuse, stopped the run too: `cut` tells.
            stopped: !ran_out.load(Ordering::Relaxed)
                || stop_reason.get().is_some()
                || answered + failed < pulled.load(Ordering::Relaxed)
                || cut.load(Ordering::Relaxed),
            stop_reason: stop_reason.get().cloned(),
        })
    }
}

/// The results of [`ChatBatch::run`], in input order: an iterator of [`ChatResult`]s that also
/// says, once they have ended, whether the batch stopped on its own and why
/// ([`stop_reason`](ChatRun::stop_reason)), as [`ChatBatchSummary`] does for
/// [`run_to_file`](ChatBatch::run_to_file).
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve_status("401 Unauthorized", "", r#"{"error":{"message":"Incorrect API key provided"}}"#);
/// # let client = ureq_futures::llm::OpenAIClient::builder("local-model", None).base_url(format!("{base}/v1")).api_key("sk-wrong").env(|_| None).build();
/// use ureq_futures::llm::{ChatBatch, ChatJob};
///
/// let jobs = (0..100).map(|i| ChatJob::user(i.to_string(), "Say hello."));
/// let mut run = ChatBatch::new(client).run(jobs);
/// let failed = run.by_ref().filter(|r| !r.is_ok()).count();
/// // A refused key fails every chat alike: the batch stopped after the first.
/// assert!(failed < 100);
/// let why = run.stop_reason().expect("stopped");
/// assert!(why.contains("401"), "{why}");
/// ```
#[must_use = "a ChatRun runs its chats only as it is iterated"]
pub struct ChatRun<R> {
    /// The batch's results (a type of its own, so that the run is `Send` when the jobs are).
    results: R,
    stop_reason: Arc<OnceLock<String>>,
}

impl<R> ChatRun<R> {
    /// Why the batch stopped on its own, before the jobs ran out: a failure no later chat
    /// could escape (a refused API key, no credit or quota left), or a
    /// [`request`](ChatBatch::request) the client cannot send (see [`ChatBatch`]'s
    /// "Stopping"). Set as the batch stops, which may be before the results of the chats in
    /// flight then have been handed out; `None` until then, and for a run that went through
    /// its jobs (or that a shutdown of the client's session ended: the results say so).
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.get().map(String::as_str)
    }
}

impl<R: Iterator<Item = ChatResult>> Iterator for ChatRun<R> {
    type Item = ChatResult;

    fn next(&mut self) -> Option<ChatResult> {
        self.results.next()
    }
}

impl<R> fmt::Debug for ChatRun<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatRun")
            .field("stop_reason", &self.stop_reason())
            .finish_non_exhaustive()
    }
}

/// Whether a last line without its newline, which does not parse (`e`), is what a write
/// stopped midway leaves: the start of a result (of `{"id":`, or as short as `{`), or such a
/// start followed by the zeros a file system leaves where the rest of a write was lost, or
/// zeros alone. (A whole result followed by zeros counts too: its job runs again.)
fn is_cut(line: &[u8], e: &serde_json::Error) -> bool {
    const START: &[u8] = b"{\"id\":";
    let kept = &line[..line.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)];
    let zeroed = kept.len() < line.len();
    let starts = kept.starts_with(START) || START.starts_with(kept);
    kept.is_empty() || (starts && (zeroed || e.is_eof()))
}

/// How an output file ends.
#[derive(Debug, PartialEq)]
enum Tail {
    /// With a newline, or empty.
    Whole,
    /// With a whole line but no newline: the next line needs one first.
    Open,
    /// With a line cut short by an interrupted write, after the first `.0` bytes.
    Cut(u64),
}

/// The ids that `path` holds an answer for (none when the file does not exist), and how it ends.
fn answered_ids(path: &Path) -> Result<(HashSet<String>, Tail), Error> {
    let file = match File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((HashSet::new(), Tail::Whole)),
        file => {
            file.map_err(|e| file_error("open", path, " to read the answers already in it", e))?
        }
    };
    let reading = |e| file_error("read the answers already in", path, "", e);
    let (mut ids, mut file, mut line, mut at) = (HashSet::new(), BufReader::new(file), vec![], 0);
    for n in 1.. {
        line.clear();
        let len = file.read_until(b'\n', &mut line).map_err(reading)? as u64;
        let open = line.last() != Some(&b'\n');
        if len == 0 {
            break;
        } else if line.trim_ascii().is_empty() {
            at += len;
            continue;
        }
        let result = match serde_json::from_slice::<ChatResult>(&line) {
            Ok(r) if r.content.is_some() || r.error.is_some() => r,
            Err(e) if open && is_cut(&line, &e) => return Ok((ids, Tail::Cut(at))),
            // A line without `content` or `error` (a job, say) is no result either.
            other => {
                let why = other
                    .err()
                    .map_or("no content or error".to_string(), |e| e.to_string());
                return Err(Error::Protocol(format!(
                    "line {n} of {} is not a chat result ({why}); fix or remove it to resume",
                    path.display()
                )));
            }
        };
        ids.remove(&result.id);
        if result.is_ok() {
            ids.insert(result.id);
        }
        if open {
            return Ok((ids, Tail::Open));
        }
        at += len;
    }
    Ok((ids, Tail::Whole))
}

/// An I/O error on the output file, saying what was being done to it: `{what} {path}{then}
/// failed: {e}`, of `e`'s kind.
fn file_error(what: &str, path: &Path, then: &str, e: io::Error) -> Error {
    // The fix where there is an obvious one.
    let fix = match e.kind() {
        io::ErrorKind::IsADirectory => {
            "; give the path of a file (answers.jsonl) in it".to_string()
        }
        io::ErrorKind::NotFound => crate::download::missing_directory(path)
            .map(|fix| format!("; {fix}"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let message = format!("{what} {}{then} failed: {e}{fix}", path.display());
    Error::Io(io::Error::new(e.kind(), message))
}

/// A batch's retries unless [`ChatBatch::retry`] says otherwise.
fn default_retry() -> RetryPolicy {
    RetryPolicy::llm()
        .attempts(4)
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(30))
}

/// What stops a batch: a shutdown of its client's session, or a failure no later chat escapes
/// (why, set once by the chat that met it).
#[derive(Clone)]
struct Stop {
    session: Option<FuturesSession>,
    reason: Arc<OnceLock<String>>,
    /// A chat failed with the session shut down.
    cut: Arc<AtomicBool>,
    /// The run's results were dropped (see [`Dropping`]).
    dropped: Arc<AtomicBool>,
}

/// The results of a run, which set `flag` when they are dropped, before the batch inside
/// cancels the chats in flight: each cancelled chat gives its place back, and the chats that
/// waited for one must know, when they get it, that nothing is to be sent.
struct Dropping<R> {
    results: R,
    flag: Arc<AtomicBool>,
}

impl<R: Iterator> Iterator for Dropping<R> {
    type Item = R::Item;

    fn next(&mut self) -> Option<R::Item> {
        self.results.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.results.size_hint()
    }
}

impl<R> Drop for Dropping<R> {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::SeqCst);
    }
}

impl Stop {
    fn session_shut_down(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(FuturesSession::is_shut_down)
    }

    fn is_set(&self) -> bool {
        self.reason.get().is_some() || self.session_shut_down()
    }
}

/// Why no later chat of a batch can succeed once one failed with `e`, if so: the API key is
/// refused, missing or given with its scheme, or the account has no credit or quota left. Each other chat would get
/// the same answer; fixing it is for the person running the batch.
fn ends_batch(e: &Error) -> Option<String> {
    let why = match e {
        Error::MissingApiKey { .. } => return Some(e.to_string()),
        Error::InvalidRequest(m) if m.starts_with(crate::llm::client::KEY_WITH_SCHEME) => {
            "the API key cannot be sent as it is"
        }
        Error::Status(status) => status_ends_batch(status)?,
        // The same refusals in a JSON error document sent with a 200 (a gateway's).
        Error::Api {
            kind: Some(kind), ..
        } => match kind.as_str() {
            "invalid_api_key" | "authentication_error" => "the server refused the API key",
            "insufficient_quota" => "the account's quota is used up",
            "billing_not_active" => "the account's billing is not active",
            _ => return None,
        },
        _ => return None,
    };
    Some(format!("{why}, so the batch stopped: {e}"))
}

/// [`ends_batch`] for a status error: why it ends the batch, if it does.
fn status_ends_batch(status: &crate::StatusError) -> Option<&'static str> {
    let says = |what: &str| [status.api_code(), status.api_type()].contains(&Some(what));
    let message = status.api_message().unwrap_or_default();
    let why = match status.status {
        401 => "the server refused the API key",
        // Gemini's answer to a wrong key: the reason is in the error's details.
        400 if status.body.contains("API_KEY_INVALID") => "the server refused the API key",
        // Gemini's answer to a key found in public: "Your API key was reported as leaked".
        403 if message.contains("reported as leaked") => "the server refused the API key",
        // Anthropic's answer to an account out of credit is a 400 invalid_request_error:
        // "Your credit balance is too low to access the Anthropic API".
        400 if message.contains("credit balance is too low") => "the account has no credit left",
        402 => "the account has no credit left",
        _ if says("insufficient_quota") => "the account's quota is used up",
        _ if says("billing_not_active") => "the account's billing is not active",
        403 if says("unsupported_country_region_territory") => {
            "the server does not serve this country or region"
        }
        _ => return None,
    };
    Some(why)
}

/// Sends one chat (`job`'s messages after `template`'s) from `place`, retrying what a later
/// attempt can fix, and reads its whole answer; with the result, whether a shutdown of the
/// client's session refused its first attempt before it was sent. A failure no later chat
/// escapes (see [`ends_batch`], and a template the client cannot send) stops the batch before
/// the place is given back: no chat starts after it.
fn chat<C: ChatClient + ?Sized>(
    client: &C,
    template: &ChatRequest,
    job: ChatJob,
    retry: &RetryPolicy,
    stop: &Stop,
    place: Place,
) -> (ChatResult, bool) {
    let started = Instant::now();
    let mut place = Some(place);
    let request = template.clone().messages_from(job.messages);
    let mut attempt = 1;
    let mut request_id;
    let answer = loop {
        let sent = client.stream_once(&request);
        request_id = match &sent {
            Ok(stream) => stream.request_id().map(str::to_string),
            Err(Error::Status(status)) => status.request_id().map(str::to_string),
            Err(_) => None,
        };
        let failed = match sent {
            Ok(stream) => match read_answer(stream) {
                // An error the server put in the stream before any of the answer (Anthropic's
                // `overloaded_error`) is its status told late, and a connection cut, stalled or
                // ended before any of it failed as one before the answer: nothing is lost.
                Err((e, false))
                    if is_retryable_in_stream(&e, retry)
                        || retry.retries(&e)
                        || crate::llm::wire::is_cut(&e) =>
                {
                    e
                }
                answer => break answer.map_err(|(e, _)| e),
            },
            // A JSON error document sent with a 200 in place of the stream (a gateway's) is
            // the failure a stream would have reported: retried alike.
            Err(e)
                if (retry.retries(&e) || is_retryable_in_stream(&e, retry))
                    && ends_batch(&e).is_none() =>
            {
                e
            }
            Err(e) => break Err(e),
        };
        let Some(wait) = retry.wait_after(attempt, &failed) else {
            break Err(retry.gave_up(attempt, failed));
        };
        // The wait leaves the chat's place to the chats behind it; it comes back to the first
        // place free. A cancel (the batch's iterator dropped), a shutdown of the client's
        // session or the batch's stop ends the wait, and the chat: its result says what it
        // waited after.
        let places = place.take().map(Place::give_up);
        place = places
            .filter(|_| wait_to_retry(wait, stop))
            .and_then(|p| p.take(true, stop));
        if place.is_none() {
            let why = "then stopped while it waited to retry: the batch's results were dropped, \
                       the client's session shut down, or the batch stopped";
            break Err(crate::phase::and_note(retry.gave_up(attempt, failed), why));
        }
        attempt += 1;
    };
    let why = answer.as_ref().err().and_then(|e| {
        ends_batch(e).or_else(|| {
            // Refused before sending: the job's, or the template's, which every chat would
            // meet. A template that cannot be sent with a message of plain text is the latter.
            let template_refused = || {
                let probe = template.clone().user("?");
                matches!(client.check(&probe), Err(Error::InvalidRequest(_)))
            };
            (matches!(e, Error::InvalidRequest(_)) && template_refused()).then(|| {
                format!(
                    "the batch's request (ChatBatch::request) cannot be sent by this client, \
                     so the batch stopped: {e}"
                )
            })
        })
    });
    if let Some(why) = why {
        let _ = stop.reason.set(why);
    }
    let unsent = attempt == 1 && matches!(answer, Err(Error::ShutDown));
    drop(place);
    let started = (!unsent).then_some(started);
    (
        ChatResult::new(job.id, answer, attempt, request_id, started),
        unsent,
    )
}

/// The places of a batch's chats that talk to the server: [`ChatBatch::in_flight`] of them.
///
/// A chat waiting to retry gives its place up for the wait, so that the chats behind it go on,
/// and comes back to the first place free, before any chat not started yet. A batch whose
/// chats each held their place through their waits went as slow as its backoffs: a chat of
/// 50 ms refused once waits a backoff of 1 s, twenty chats' time (the CHANGELOG has what a
/// probe measured). The waits are the batch's driver's threads, twice
/// the places: up to `in_flight` chats wait beside the `in_flight` that run; past that, a
/// wait holds a place as before. (The other way, a chat that ends its job to wait and is
/// sent again as a new one, would take its result out of the batch's input order.)
///
/// Chats not started take the places in the order they came to wait for one: woken all at
/// once, whichever thread ran first took a freed place, and a chat could wait while dozens
/// after it were sent (one of 600 chats on 4 places waited while 34 to 50 later ones were
/// sent), holding back every result behind it in input order.
struct Places {
    state: Mutex<PlacesState>,
    freed: Condvar,
}

struct PlacesState {
    free: usize,
    /// Chats back from a wait to retry that wait for a place: they go first.
    returning: usize,
    /// The tickets of the chats not started that wait for a place, first come first.
    queue: std::collections::VecDeque<u64>,
    next_ticket: u64,
}

/// A chat's place: given back when dropped.
struct Place(Arc<Places>);

impl Places {
    fn new(n: usize) -> Arc<Places> {
        Arc::new(Places {
            state: Mutex::new(PlacesState {
                free: n,
                returning: 0,
                queue: std::collections::VecDeque::new(),
                next_ticket: 0,
            }),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PlacesState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place (`returning`: for a chat back from a wait to retry, which goes first;
    /// the others in the order they came); `None` when a cancel of the job, or the batch's
    /// `stop` (looked at every 50 ms), came first. A chat back from its wait sends nothing
    /// once the batch stopped, whatever place is free (the chat that stopped it gives its place
    /// back after); a chat not started takes a free place first, and its caller looks at the
    /// stop (the first chat of a run on a session shut down already is sent: its result says
    /// why nothing ran).
    fn take(self: Arc<Self>, returning: bool, stop: &Stop) -> Option<Place> {
        const STEP: Duration = Duration::from_millis(50);
        let mut state = self.lock();
        state.returning += usize::from(returning);
        let ticket = (!returning).then(|| {
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.queue.push_back(ticket);
            ticket
        });
        let taken = loop {
            let stopped = crate::exec::is_cancelled() || stop.is_set();
            if returning && stopped {
                break false;
            }
            let turn =
                returning || (state.returning == 0 && state.queue.front() == ticket.as_ref());
            if state.free > 0 && turn {
                state.free -= 1;
                break true;
            }
            if stopped {
                break false;
            }
            state = self
                .freed
                .wait_timeout(state, STEP)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        state.returning -= usize::from(returning);
        if let Some(ticket) = ticket {
            state.queue.retain(|t| *t != ticket);
        }
        // The chats not started wait while one back from its wait does, and each for the one
        // before it: the chat that leaves tells them of a place still free (or of its turn).
        if (!returning || state.returning == 0) && state.free > 0 {
            self.freed.notify_all();
        }
        drop(state);
        taken.then_some(Place(self))
    }
}

impl Place {
    /// Gives the place back, keeping where to take one again.
    fn give_up(self) -> Arc<Places> {
        Arc::clone(&self.0)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.lock().free += 1;
        // Every waiter: a chat back from its wait goes before the others.
        self.0.freed.notify_all();
    }
}

/// Waits `wait` before a chat's next attempt; `false` when a cancel of the job, or the batch's
/// `stop` (looked at every 50 ms: the batch's jobs run on a pool of its own, which the
/// client's session does not reach), ended it first.
fn wait_to_retry(wait: Duration, stop: &Stop) -> bool {
    const STEP: Duration = Duration::from_millis(50);
    // A wait past the clock's range (`max_retry_after(Duration::MAX)` and a huge
    // `Retry-After`) lasts until a cancel or a shutdown.
    let end = Instant::now().checked_add(wait);
    loop {
        let left = end.map_or(STEP, |end| end.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return true;
        }
        if !crate::exec::sleep(left.min(STEP)) || stop.is_set() {
            return false;
        }
    }
}

/// The whole answer of `stream`, or its error and whether any of the answer (text,
/// reasoning, a tool call...) came before it.
fn read_answer(mut stream: ChatStream) -> Result<Answer, (Error, bool)> {
    let (mut answer, mut started) = (Answer::default(), false);
    while let Some(event) = stream.next_event() {
        match event {
            Ok(ChatEvent::Usage(_) | ChatEvent::Done) => continue,
            Ok(_) => {}
            Err(e) => return Err((e, started)),
        }
        started = true;
    }
    answer.text = stream.text().to_string();
    answer.tool_calls = stream.tool_calls().to_vec();
    answer.finish_reason = stream.finish_reason().map(str::to_string);
    answer.refusal = stream.refusal().map(str::to_string);
    answer.usage = stream.usage().cloned();
    Ok(answer)
}

/// Whether an error a server put in its stream is one a later attempt can fix: a status that
/// `retry` retries (OpenRouter's `code`), or the status that Anthropic's `overloaded_error`
/// (529), `api_error` (500) and `rate_limit_error` (429), OpenAI's `server_error` (500) and
/// `rate_limit_exceeded` (429), Gemini's `UNAVAILABLE` (503), `INTERNAL` (500) and
/// `RESOURCE_EXHAUSTED` (429), and the finish reasons of a failed generation stand for:
/// Cohere's `ERROR` (500) and `TIMEOUT` (504), DeepSeek's `insufficient_system_resource`
/// (503). Not Cohere v1's `ERROR_TOXIC` and `ERROR_LIMIT` (the prompt's), nor OpenRouter's
/// finish reason `error`, which is also the `type` of an `event: error` of any cause.
fn is_retryable_in_stream(e: &Error, retry: &RetryPolicy) -> bool {
    let Error::Api {
        kind: Some(kind), ..
    } = e
    else {
        return false;
    };
    let status = match kind.as_str() {
        "overloaded_error" => 529,
        "api_error" | "server_error" | "INTERNAL" | "ERROR" => 500,
        "rate_limit_error" | "rate_limit_exceeded" | "RESOURCE_EXHAUSTED" => 429,
        "UNAVAILABLE" | "insufficient_system_resource" => 503,
        "TIMEOUT" => 504,
        code => match code.parse::<u16>() {
            Ok(status) => status,
            Err(_) => return false,
        },
    };
    retry.retries_status(status)
}

/// The jobs a run passed over (answered in its file already), for its progress bar.
struct Skipped {
    count: Arc<AtomicU64>,
    /// The jobs in all, skipped ones too, when the input knew how many.
    total: Option<u64>,
}

/// A one-line progress bar on stderr.
struct Bar {
    /// The chats that failed.
    failed: Arc<AtomicU64>,
    /// The jobs passed over, counted as done.
    skipped: Option<Skipped>,
    /// The limiter whose pauses it shows.
    limiter: Option<RateLimiter>,
    /// Why the batch stopped on its own, said after the bar's last line.
    stop_reason: Arc<OnceLock<String>>,
    /// The jobs that reached a worker after a stop and never ran: not counted as done.
    unrun: Arc<AtomicU64>,
    /// Whether the line is not ended yet.
    open: bool,
}

impl Bar {
    fn draw(&mut self, p: &BatchProgress) {
        const WIDTH: usize = 30;
        let failed = p.failed + self.failed.load(Ordering::Relaxed);
        let (skipped, total) = match &self.skipped {
            Some(s) => (s.count.load(Ordering::Relaxed), s.total),
            None => (0, p.total),
        };
        // The chats of this run, not those a file answered before nor those a stop kept from
        // running.
        let ran = p
            .completed
            .saturating_sub(self.unrun.load(Ordering::Relaxed));
        let done = ran + skipped;
        let filled = match total {
            Some(total) if total > 0 => (done * WIDTH as u64 / total) as usize,
            _ => 0,
        };
        let bar = "#".repeat(filled.min(WIDTH));
        let rate = ran as f64 / p.elapsed.as_secs_f64().max(1e-3);
        let shown_total = total.map_or_else(|| "?".to_string(), |t| t.to_string());
        let pauses = self.limiter.as_ref().map_or(String::new(), |l| {
            format!(", {} rate-limit pauses", l.pauses())
        });
        let line =
            format!("[{bar:<WIDTH$}] {done}/{shown_total} {rate:.1}/s, {failed} failed{pauses}");
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r{line}  ");
        self.open = total != Some(done);
        if !self.open {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

impl Drop for Bar {
    /// Ends the line when the total was not known (or the run stopped early), so that what is
    /// written next starts a line of its own; then says why the batch stopped on its own, if
    /// it did.
    fn drop(&mut self) {
        let mut err = io::stderr().lock();
        if self.open {
            let _ = writeln!(err);
        }
        if let Some(why) = self.stop_reason.get() {
            let _ = writeln!(err, "{why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch's stop that is not set, and a single place, taken.
    fn one_place_held() -> (Stop, Arc<Places>, Place) {
        let stop = Stop {
            session: None,
            reason: Arc::default(),
            cut: Arc::default(),
            dropped: Arc::default(),
        };
        let places = Places::new(1);
        let held = Arc::clone(&places)
            .take(false, &stop)
            .expect("a free place");
        (stop, places, held)
    }

    #[test]
    fn chats_not_started_take_the_places_in_the_order_they_came() {
        let (stop, places, held) = one_place_held();
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiters: Vec<_> = (0..16)
            .map(|i| {
                let (mine, order, stop) = (Arc::clone(&places), Arc::clone(&order), stop.clone());
                let waiter = std::thread::spawn(move || {
                    let place = mine.take(false, &stop).expect("a place");
                    order.lock().unwrap().push(i);
                    drop(place);
                });
                // Each in the queue before the next comes.
                while places.lock().queue.len() < i + 1 {
                    std::thread::yield_now();
                }
                waiter
            })
            .collect();
        drop(held);
        for waiter in waiters {
            waiter.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..16).collect::<Vec<_>>());
        assert!(places.lock().queue.is_empty());
    }

    #[test]
    fn a_chat_that_stops_waiting_leaves_its_turn_to_the_next() {
        let (stop, places, held) = one_place_held();
        let stopping = Stop {
            reason: Arc::new(OnceLock::from("stopped".to_string())),
            ..stop.clone()
        };
        // Its stop is set: it leaves the queue without a place.
        assert!(Arc::clone(&places).take(false, &stopping).is_none());
        drop(held);
        assert!(places.lock().queue.is_empty());
        assert!(Arc::clone(&places).take(false, &stop).is_some());
    }

    fn is_retryable(e: &Error) -> bool {
        default_retry().retries(e)
    }

    fn wait_before_retry(e: &Error, attempt: u32) -> Option<Duration> {
        default_retry().wait_after(attempt, e)
    }

    #[test]
    fn only_failures_a_later_attempt_can_fix_are_retried() {
        assert!(is_retryable(&status(429, &[])));
        assert!(is_retryable(&status(503, &[])));
        assert!(!is_retryable(&status(400, &[])));
        assert!(!is_retryable(&status(401, &[])));
        assert!(is_retryable(&status(529, &[])));
        assert!(!is_retryable(&Error::MissingApiKey { var: "X" }));
        assert!(!is_retryable(&status(503, &[("x-should-retry", "false")])));
        assert!(is_retryable(&status(400, &[("x-should-retry", "true")])));
        let reset = Error::Io(io::ErrorKind::ConnectionReset.into());
        assert!(is_retryable(&reset));
        let limited = status(429, &[("retry-after", "2")]);
        assert_eq!(wait_before_retry(&limited, 1), Some(Duration::from_secs(2)));
        let backoff = wait_before_retry(&status(503, &[]), 3).unwrap();
        assert!(backoff >= Duration::from_millis(3200) && backoff <= Duration::from_millis(4800));
        // The fourth attempt is the last.
        assert_eq!(wait_before_retry(&status(503, &[]), 4), None);
        // A wait of more than 60 s is not shortened: the attempts end.
        let later = status(429, &[("retry-after", "60")]);
        assert_eq!(wait_before_retry(&later, 1), Some(Duration::from_secs(60)));
        let too_late = status(429, &[("retry-after", "61")]);
        assert_eq!(wait_before_retry(&too_late, 1), None);
    }

    /// A status error of `code` with `headers`.
    fn status(code: u16, headers: &[(&'static str, &str)]) -> Error {
        let mut map = ureq::http::HeaderMap::new();
        for &(name, value) in headers {
            map.insert(name, value.parse().unwrap());
        }
        Error::status_at(code, "http://h/", map, b"")
    }

    /// The failures no later chat escapes, as each provider answers them; and some that look
    /// alike but are about one chat (a 429 of a rate, a 403, a 400 of a prompt).
    #[test]
    fn a_refused_key_or_a_spent_account_ends_the_batch_and_nothing_else_does() {
        let answer = |code: u16, body: &str| {
            Error::status_at(code, "http://h/", Default::default(), body.as_bytes())
        };
        let ends = |e: &Error| ends_batch(e).map(|why| why.split(',').next().unwrap().to_string());
        let openai_key = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(
            ends(&answer(401, openai_key)).as_deref(),
            Some("the server refused the API key")
        );
        let gemini_key = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        assert_eq!(
            ends(&answer(400, gemini_key)).as_deref(),
            Some("the server refused the API key")
        );
        let credit = r#"{"error":{"message":"Insufficient credits","code":402}}"#;
        assert_eq!(
            ends(&answer(402, credit)).as_deref(),
            Some("the account has no credit left")
        );
        let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let spent = answer(429, quota);
        assert_eq!(
            ends(&spent).as_deref(),
            Some("the account's quota is used up")
        );
        let anthropic_credit = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},"request_id":"req_011"}"#;
        assert_eq!(
            ends(&answer(400, anthropic_credit)).as_deref(),
            Some("the account has no credit left")
        );
        let leaked = r#"{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(
            ends(&answer(403, leaked)).as_deref(),
            Some("the server refused the API key")
        );
        let inactive = r#"{"error":{"message":"Your account is not active, please check your billing details on our website.","type":"billing_not_active","param":null,"code":"billing_not_active"}}"#;
        assert_eq!(
            ends(&answer(429, inactive)).as_deref(),
            Some("the account's billing is not active")
        );
        let region = r#"{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}"#;
        assert_eq!(
            ends(&answer(403, region)).as_deref(),
            Some("the server does not serve this country or region")
        );
        // A gateway's JSON error document with a 200 says the same.
        let api = |kind: &str| Error::Api {
            kind: Some(kind.into()),
            message: "no".into(),
        };
        let refused = Some("the server refused the API key");
        assert_eq!(ends(&api("invalid_api_key")).as_deref(), refused);
        assert_eq!(ends(&api("authentication_error")).as_deref(), refused);
        let used_up = Some("the account's quota is used up");
        assert_eq!(ends(&api("insufficient_quota")).as_deref(), used_up);
        assert_eq!(ends(&api("server_error")), None);
        // A key given with its scheme, refused before sending.
        let client = crate::llm::OpenAIClient::builder("m", None)
            .env(|_| None)
            .api_key("Bearer sk-1234567890")
            .base_url("http://127.0.0.1:9")
            .build();
        let refused = client.stream_chat(&[crate::llm::Message::user("hi")]);
        assert_eq!(
            ends(&refused.err().unwrap()).as_deref(),
            Some("the API key cannot be sent as it is")
        );
        assert!(ends(&Error::MissingApiKey {
            var: "OPENAI_API_KEY"
        })
        .is_some());
        // The whole error follows, for the person who reads it.
        let why = ends_batch(&spent).unwrap();
        assert!(
            why.contains("429") && why.contains("You exceeded your current quota"),
            "{why}"
        );
        let rate = r#"{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}"#;
        for e in [
            answer(429, rate),
            answer(403, r#"{"error":{"message":"no access to this model"}}"#),
            answer(
                400,
                r#"{"error":{"message":"bad prompt","type":"invalid_request_error"}}"#,
            ),
            answer(500, ""),
            Error::Io(io::ErrorKind::ConnectionReset.into()),
        ] {
            assert_eq!(ends(&e), None, "{e}");
        }
    }

    #[test]
    fn only_stream_errors_a_later_attempt_can_fix_are_retried() {
        let api = |kind: Option<&str>| Error::Api {
            kind: kind.map(str::to_string),
            message: "m".into(),
        };
        // The batch's default retries them; a policy without statuses does not.
        let (all, off) = (default_retry(), RetryPolicy::llm().statuses([]));
        for kind in [
            "overloaded_error",
            "UNAVAILABLE",
            "server_error",
            "502",
            "529",
        ] {
            assert!(is_retryable_in_stream(&api(Some(kind)), &all), "{kind}");
            assert!(!is_retryable_in_stream(&api(Some(kind)), &off), "{kind}");
        }
        for kind in [
            "invalid_request_error",
            "INVALID_ARGUMENT",
            "400",
            "content_filter",
        ] {
            assert!(!is_retryable_in_stream(&api(Some(kind)), &all), "{kind}");
        }
        assert!(!is_retryable_in_stream(&api(None), &all));
        let cut = Error::Protocol("the answer was cut".into());
        assert!(!is_retryable_in_stream(&cut, &all));
    }

    #[test]
    fn a_server_wait_of_zero_gets_the_backoff() {
        // `Retry-After: 0`, `retry-after-ms: 0` or a date already past is no advice: every chat
        // of the batch sending again at once would meet the same refusal.
        for (name, value) in [
            ("retry-after", "0"),
            ("retry-after-ms", "0"),
            ("retry-after", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ] {
            let refused = status(429, &[(name, value)]);
            let wait = wait_before_retry(&refused, 1).unwrap();
            assert!(
                wait >= Duration::from_millis(800) && wait <= Duration::from_millis(1200),
                "{name}: {value}: {wait:?}"
            );
        }
    }

    #[test]
    fn the_last_line_of_an_id_decides_whether_it_is_answered() {
        let dir = std::env::temp_dir().join(format!("ureq-futures-batch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ids.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"content\":\"x\",\"attempts\":1}\n\
             {\"id\":\"b\",\"error\":\"e\",\"attempts\":4}\n\
             \n\
             {\"id\":\"c\",\"content\":\"y\",\"attempts\":1}\n\
             {\"id\":\"c\",\"error\":\"e\",\"attempts\":1}\n",
        )
        .unwrap();
        let (ids, tail) = answered_ids(&path).unwrap();
        assert_eq!((ids, tail), (HashSet::from(["a".to_string()]), Tail::Whole));
        std::fs::write(&path, "{\"id\":\"a\"\nnot json\n").unwrap();
        let err = answered_ids(&path).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        let (missing, _) = answered_ids(&dir.join("missing.jsonl")).unwrap();
        assert!(missing.is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }
}
