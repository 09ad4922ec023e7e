//! The contract every provider's client keeps, as one table of providers (how each frames an
//! answer, a broken chunk, an error in its stream, a 4xx body; where its key and base URL come
//! from) and one runner per clause. What is particular to a provider stays in its own module
//! (`openai`, `anthropic`, `gemini`, `cohere`); the end-of-stream rule is `llm_wire`'s table.

use std::sync::Arc;

use serde_json::{json, Value};
use support::{ms, Reply, TestServer};
use ureq_futures::llm::{
    AnthropicClient, ChatStream, Client, ClientBuilder, CohereApi, CohereClient, GeminiClient,
    Message, OpenAIClient, Protocol,
};
use ureq_futures::Error;

use crate::llm_wire::typed_events;

/// The key every row's client holds: no error, `Debug` output or request line may show it.
const KEY: &str = "key-TOPSECRET";

/// A client, whatever its protocol: what the runners call.
trait Subject {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error>;
    /// `perform_stream_request`, its events dropped.
    fn raw(&self, messages: &[Message]) -> Result<(), Error>;
    fn has_api_key(&self) -> bool;
    fn base_url(&self) -> &str;
    fn debug(&self) -> String;
}

impl<P: Protocol> Subject for Client<P> {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        Client::stream_chat(self, messages)
    }

    fn raw(&self, messages: &[Message]) -> Result<(), Error> {
        self.perform_stream_request(messages).map(drop)
    }

    fn has_api_key(&self) -> bool {
        Client::has_api_key(self)
    }

    fn base_url(&self) -> &str {
        Client::base_url(self)
    }

    fn debug(&self) -> String {
        format!("{self:?} {self:#?}")
    }
}

/// Reads the environment for a client.
type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a runner sets on a row's builder (model `m`, temperature 0).
#[derive(Clone)]
struct Setup {
    key: Option<&'static str>,
    base_url: Option<String>,
    header: Option<(&'static str, &'static str)>,
    env: Env,
}

impl Setup {
    /// [`KEY`], `base_url`, nothing from the environment.
    fn at(base_url: &str) -> Setup {
        Setup {
            key: Some(KEY),
            base_url: Some(base_url.to_string()),
            header: None,
            env: Arc::new(|_| None),
        }
    }
}

/// `builder` with `setup` applied, built.
fn built<P: Protocol>(builder: ClientBuilder<P>, setup: &Setup) -> Box<dyn Subject> {
    let mut builder = builder;
    if let Some(key) = setup.key {
        builder = builder.api_key(key);
    }
    if let Some(base) = &setup.base_url {
        builder = builder.base_url(base);
    }
    if let Some((name, value)) = setup.header {
        builder = builder.header(name, value);
    }
    let env = setup.env.clone();
    Box::new(builder.env(move |name| env(name)).build())
}

/// An error a stream ends with: its kind and message.
struct ApiError {
    body: String,
    kind: Option<&'static str>,
    message: &'static str,
}

/// One provider's row.
struct Provider {
    name: &'static str,
    client: fn(&Setup) -> Box<dyn Subject>,
    /// What a missing key's error names.
    key_vars: &'static str,
    key_var: &'static str,
    base_var: &'static str,
    default_base: &'static str,
    /// The endpoint under the base URL, for model `m`.
    path: &'static str,
    /// The header the key travels in, and its value's prefix.
    key_header: (&'static str, &'static str),
    content_type: &'static str,
    /// A whole answer of these text pieces.
    answer: fn(&[&str]) -> String,
    /// These text pieces, and no end.
    partial: fn(&[&str]) -> String,
    /// The text `ok`, then a chunk that is not JSON; what the error must quote.
    malformed: fn() -> (String, &'static [&'static str]),
    /// The text `Once upon`, then an error in the stream (then more that is never read).
    error_in_stream: fn() -> ApiError,
    /// A 4xx answer: status, body, a JSON pointer into it and the value there, and the API's
    /// message the error shows.
    refusal: (u16, &'static str, &'static str, &'static str, &'static str),
}

/// Unnamed events with `line_end` (OpenAI: LF; Gemini: CRLF).
fn data_events(payloads: &[String], line_end: &str) -> String {
    payloads
        .iter()
        .map(|p| format!("data: {p}{line_end}{line_end}"))
        .collect()
}

fn openai_text(text: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        .to_string()
}

fn openai_partial(pieces: &[&str]) -> String {
    let chunks: Vec<String> = pieces.iter().map(|p| openai_text(p)).collect();
    data_events(&chunks, "\n")
}

fn anthropic_text(text: &str) -> Value {
    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})
}

fn anthropic_start() -> Value {
    json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
        "model": "m", "content": [], "stop_reason": null, "usage": {"input_tokens": 12, "output_tokens": 1}}})
}

fn anthropic_partial(pieces: &[&str]) -> String {
    let mut events = vec![anthropic_start()];
    events.extend(pieces.iter().map(|p| anthropic_text(p)));
    typed_events(&events)
}

fn anthropic_answer(pieces: &[&str]) -> String {
    let mut events = vec![
        anthropic_start(),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
    ];
    events.extend(pieces.iter().map(|p| anthropic_text(p)));
    events.extend([
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": 7}}),
        json!({"type": "message_stop"}),
    ]);
    typed_events(&events)
}

fn gemini_chunk(text: &str, finish: Option<&str>) -> String {
    let mut candidate =
        json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
    if let Some(reason) = finish {
        candidate["finishReason"] = json!(reason);
    }
    json!({"candidates": [candidate], "modelVersion": "m"}).to_string()
}

fn gemini_partial(pieces: &[&str]) -> String {
    let chunks: Vec<String> = pieces.iter().map(|p| gemini_chunk(p, None)).collect();
    data_events(&chunks, "\r\n")
}

fn gemini_answer(pieces: &[&str]) -> String {
    let (last, first) = pieces.split_last().expect("a piece");
    let mut chunks: Vec<String> = first.iter().map(|p| gemini_chunk(p, None)).collect();
    chunks.push(gemini_chunk(last, Some("STOP")));
    data_events(&chunks, "\r\n")
}

/// Cohere v1's newline-delimited JSON.
fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn cohere_text(text: &str) -> Value {
    json!({"is_finished": false, "event_type": "text-generation", "text": text})
}

fn cohere_start() -> Value {
    json!({"is_finished": false, "event_type": "stream-start", "generation_id": "g-1"})
}

fn cohere_end(reason: &str) -> Value {
    json!({"is_finished": true, "event_type": "stream-end", "finish_reason": reason,
        "response": {"text": "", "finish_reason": reason, "meta": {"tokens": {"input_tokens": 10, "output_tokens": 2}}}})
}

fn cohere_partial(pieces: &[&str]) -> String {
    let mut lines = vec![cohere_start()];
    lines.extend(pieces.iter().map(|p| cohere_text(p)));
    ndjson(&lines)
}

fn cohere_answer(pieces: &[&str]) -> String {
    cohere_partial(pieces) + &ndjson(&[cohere_end("COMPLETE")])
}

fn cohere_v2_text(text: &str) -> Value {
    json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": text}}}})
}

fn cohere_v2_partial(pieces: &[&str]) -> String {
    let mut events = vec![
        json!({"id": "a1", "type": "message-start", "delta": {"message": {"role": "assistant"}}}),
    ];
    events.extend(pieces.iter().map(|p| cohere_v2_text(p)));
    typed_events(&events)
}

fn cohere_v2_end(reason: &str) -> Value {
    json!({"type": "message-end", "delta": {"finish_reason": reason,
        "usage": {"tokens": {"input_tokens": 10, "output_tokens": 2}}}})
}

fn cohere_v2_answer(pieces: &[&str]) -> String {
    cohere_v2_partial(pieces) + &typed_events(&[cohere_v2_end("COMPLETE")]) + "data: [DONE]\n\n"
}

fn providers() -> Vec<Provider> {
    vec![
        Provider {
            name: "OpenAI",
            client: |s| built(OpenAIClient::builder("m", 0.0), s),
            key_vars: "OPENAI_API_KEY",
            key_var: "OPENAI_API_KEY",
            base_var: "OPENAI_BASE_URL",
            default_base: "https://api.openai.com/v1",
            path: "/chat/completions",
            key_header: ("authorization", "Bearer "),
            content_type: "text/event-stream",
            answer: |pieces| openai_partial(pieces) + "data: [DONE]\n\n",
            partial: openai_partial,
            malformed: || {
                let garbage = format!("{{\"choices\": [{}", "x".repeat(5000));
                let chunks = [openai_text("ok"), garbage, "[DONE]".into()];
                (
                    data_events(&chunks, "\n"),
                    &["malformed JSON", "{\\\"choices\\\": [xxx"],
                )
            },
            error_in_stream: || {
                ApiError {
                body: data_events(
                    &[
                        openai_text("Once upon"),
                        r#"{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}"#.into(),
                        openai_text("never shown"),
                        "[DONE]".into(),
                    ],
                    "\n",
                ),
                kind: Some("rate_limit_exceeded"),
                message: "Rate limit reached for requests",
            }
            },
            refusal: (
                400,
                r#"{"error": {"message": "Invalid model: m", "type": "invalid_request_error", "code": "model_not_found"}}"#,
                "/error/code",
                "model_not_found",
                "Invalid model: m",
            ),
        },
        Provider {
            name: "Anthropic",
            client: |s| built(AnthropicClient::builder("m", 0.0), s),
            key_vars: "ANTHROPIC_API_KEY",
            key_var: "ANTHROPIC_API_KEY",
            base_var: "ANTHROPIC_BASE_URL",
            default_base: "https://api.anthropic.com",
            path: "/v1/messages",
            key_header: ("x-api-key", ""),
            content_type: "text/event-stream",
            answer: anthropic_answer,
            partial: anthropic_partial,
            malformed: || {
                let broken = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\"\n\n";
                let body = anthropic_partial(&["ok"])
                    + broken
                    + &typed_events(&[json!({"type": "message_stop"})]);
                (body, &["malformed JSON", "content_block_delta"])
            },
            error_in_stream: || {
                ApiError {
                // Where message_delta would be, with Anthropic's trailing spaces.
                body: anthropic_partial(&["Once upon"])
                    + "event: error\ndata: {\"type\":\"error\",\"error\":{\"details\":null,\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}              }\n\n"
                    + &typed_events(&[anthropic_text("never shown"), json!({"type": "message_stop"})]),
                kind: Some("overloaded_error"),
                message: "Overloaded",
            }
            },
            refusal: (
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 999999 > 64000, which is the maximum allowed"}}"#,
                "/error/type",
                "invalid_request_error",
                "max_tokens: 999999 > 64000, which is the maximum allowed",
            ),
        },
        Provider {
            name: "Gemini",
            client: |s| built(GeminiClient::builder("m", 0.0), s),
            key_vars: "GEMINI_API_KEY or GOOGLE_API_KEY",
            key_var: "GEMINI_API_KEY",
            base_var: "GEMINI_BASE_URL",
            default_base: "https://generativelanguage.googleapis.com",
            path: "/v1beta/models/m:streamGenerateContent?alt=sse",
            key_header: ("x-goog-api-key", ""),
            content_type: "text/event-stream",
            answer: gemini_answer,
            partial: gemini_partial,
            malformed: || {
                let body = gemini_partial(&["ok"]) + "data: {\"candidates\": [{\"content\"\r\n\r\n";
                (body, &["malformed JSON", "candidates"])
            },
            error_in_stream: || {
                ApiError {
                body: data_events(
                    &[
                        gemini_chunk("Once upon", None),
                        r#"{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}"#.into(),
                        gemini_chunk("never shown", Some("STOP")),
                    ],
                    "\r\n",
                ),
                kind: Some("UNAVAILABLE"),
                message: "The model is overloaded. Please try again later.",
            }
            },
            refusal: (
                400,
                r#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}}"#,
                "/error/status",
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
            ),
        },
        Provider {
            name: "Cohere v1",
            client: |s| built(CohereClient::builder("m", 0.0).api(CohereApi::V1), s),
            key_vars: "COHERE_API_KEY",
            key_var: "COHERE_API_KEY",
            base_var: "COHERE_BASE_URL",
            default_base: "https://api.cohere.com",
            path: "/v1/chat",
            key_header: ("authorization", "Bearer "),
            content_type: "application/stream+json",
            answer: cohere_answer,
            partial: cohere_partial,
            malformed: || {
                let body = format!(
                    "{}<html>Bad Gateway</html>\n{}",
                    cohere_partial(&["ok"]),
                    ndjson(&[cohere_text("lost?"), cohere_end("COMPLETE")])
                );
                (body, &["malformed JSON", "<html>Bad Gateway</html>"])
            },
            error_in_stream: || ApiError {
                body: cohere_partial(&["Once upon"])
                    + &ndjson(&[cohere_end("ERROR_TOXIC"), cohere_text("never shown")]),
                kind: Some("ERROR_TOXIC"),
                message: "the answer ended with finish reason ERROR_TOXIC",
            },
            refusal: (
                401,
                r#"{"message":"invalid api token"}"#,
                "/message",
                "invalid api token",
                "invalid api token",
            ),
        },
        Provider {
            name: "Cohere v2",
            client: |s| built(CohereClient::builder("m", 0.0), s),
            key_vars: "COHERE_API_KEY",
            key_var: "COHERE_API_KEY",
            base_var: "COHERE_BASE_URL",
            default_base: "https://api.cohere.com",
            path: "/v2/chat",
            key_header: ("authorization", "Bearer "),
            content_type: "text/event-stream",
            answer: cohere_v2_answer,
            partial: cohere_v2_partial,
            malformed: || {
                let body = cohere_v2_partial(&["ok"])
                    + "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\"\n\n"
                    + "data: [DONE]\n\n";
                (body, &["malformed JSON", "content-delta"])
            },
            error_in_stream: || ApiError {
                body: cohere_v2_partial(&["Once upon"])
                    + &typed_events(&[cohere_v2_end("ERROR"), cohere_v2_text("never shown")])
                    + "data: [DONE]\n\n",
                kind: Some("ERROR"),
                message: "the answer ended with finish reason ERROR",
            },
            refusal: (
                401,
                r#"{"id":"6f3e","message":"invalid api token"}"#,
                "/message",
                "invalid api token",
                "invalid api token",
            ),
        },
    ]
}

fn hello() -> Vec<Message> {
    vec![Message::user("hello")]
}

/// A server answering every request with `body` in pieces of 5 bytes, as `provider` frames
/// its streams.
fn serve(provider: &Provider, body: String) -> TestServer {
    let content_type = provider.content_type;
    let body = body.into_bytes();
    TestServer::start(move |_| {
        Reply::chunked(body.chunks(5).map(<[u8]>::to_vec), ms(0)).content_type(content_type)
    })
}

/// Reads a stream to its end: the text pieces and the error that ended it. Also the provider
/// modules' reader.
pub(crate) fn drain(stream: &mut ChatStream) -> (Vec<String>, Option<Error>) {
    let mut pieces = Vec::new();
    for item in stream.by_ref() {
        match item {
            Ok(piece) => pieces.push(piece),
            Err(e) => return (pieces, Some(e)),
        }
    }
    (pieces, None)
}

/// Streams `body` from a local server through `provider`'s client.
fn chat_over(provider: &Provider, body: String) -> (Vec<String>, Option<Error>, ChatStream) {
    let server = serve(provider, body);
    let client = (provider.client)(&Setup::at(&server.url()));
    let mut stream = client.stream_chat(&hello()).expect("the request");
    let (pieces, error) = drain(&mut stream);
    (pieces, error, stream)
}

/// Whether anything shown about `err` holds the key.
fn leaks(err: &Error) -> bool {
    format!("{err} {err:?} {err:#?}").contains("TOPSECRET")
}

/// Runs `clause` for every provider; fails with every provider's failure.
fn for_every_provider(clause: impl Fn(&Provider) -> Result<(), String>) {
    let rows = providers();
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|p| clause(p).err().map(|e| format!("{}: {e}", p.name)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(rows.len(), 5, "a provider's row was lost");
}

/// `Err(what)` unless `ok`.
fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

#[test]
fn a_whole_answer_is_its_text_pieces() {
    for_every_provider(|p| {
        let (pieces, error, stream) = chat_over(p, (p.answer)(&["Bon", "jour"]));
        check(error.is_none(), || format!("{error:?}"))?;
        check(pieces == ["Bon", "jour"], || format!("{pieces:?}"))?;
        check(stream.is_done(), || "not done".into())
    });
}

#[test]
fn a_missing_key_is_reported_by_the_request_and_names_the_variables() {
    for_every_provider(|p| {
        // The provider's own host, whatever the path and letter case (a base that ends in the
        // API version, as curl examples write it).
        let (scheme, host) = p.default_base.split_once("://").unwrap();
        let host = host.split('/').next().unwrap().to_uppercase();
        let bases = [None, Some(format!("{scheme}://{host}/v1/"))];
        for base_url in bases {
            // Building never fails; nothing is read from the process environment.
            let client = (p.client)(&Setup {
                key: None,
                base_url: base_url.clone(),
                header: None,
                env: Arc::new(|_| None),
            });
            check(!client.has_api_key(), || "has a key".into())?;
            check(
                base_url.is_some() || client.base_url() == p.default_base,
                || client.base_url().to_string(),
            )?;
            for err in [
                client.stream_chat(&hello()).err(),
                client.raw(&hello()).err(),
            ] {
                let named =
                    matches!(&err, Some(Error::MissingApiKey { var }) if *var == p.key_vars);
                check(named, || format!("{base_url:?}: {err:?}"))?;
                let text = err.map(|e| e.to_string()).unwrap_or_default();
                for var in p.key_vars.split(" or ") {
                    check(text.contains(var), || format!("{text} does not name {var}"))?;
                }
            }
        }
        Ok(())
    });
}

#[test]
fn a_key_given_with_its_bearer_scheme_is_refused_before_sending() {
    for_every_provider(|p| {
        let server = serve(p, (p.answer)(&["a"]));
        for key in ["Bearer sk-x", "bearer sk-x"] {
            let client = (p.client)(&Setup {
                key: Some(key),
                base_url: Some(server.url()),
                header: None,
                env: Arc::new(|_| None),
            });
            let err = client.stream_chat(&hello()).err();
            let text = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
            check(matches!(err, Some(Error::InvalidRequest(_))), || {
                format!("{key}: {text}")
            })?;
            check(
                text.contains("the API key starts with \"Bearer \": give the key alone")
                    && text.contains(p.key_vars.split(" or ").next().unwrap())
                    && !text.contains("sk-x"),
                || text.clone(),
            )?;
        }
        check(server.request_count() == 0, || "sent".into())
    });
}

#[test]
fn key_and_base_url_come_from_the_environment_lookup() {
    for_every_provider(|p| {
        let server = serve(p, (p.answer)(&["a", "b"]));
        let base = format!("{}/proxy/", server.url());
        let (key_var, base_var) = (p.key_var, p.base_var);
        let client = (p.client)(&Setup {
            key: None,
            base_url: None,
            header: None,
            env: Arc::new(move |name| {
                (name == key_var)
                    .then(|| "env-key".to_string())
                    .or_else(|| (name == base_var).then(|| base.clone()))
            }),
        });
        check(
            client.base_url() == format!("{}/proxy", server.url()),
            || client.base_url().to_string(),
        )?;
        let request = answers_ab(client.as_ref(), &server)?;
        check(request.path == format!("/proxy{}", p.path), || {
            request.path.clone()
        })?;
        let (header, prefix) = p.key_header;
        let want = format!("{prefix}env-key");
        check(request.header(header) == Some(want.as_str()), || {
            format!("{header}: {:?}", request.header(header))
        })
    });
}

/// Streams an answer that must be "ab" through `client`; the request `server` received.
fn answers_ab(client: &dyn Subject, server: &TestServer) -> Result<support::Request, String> {
    let text: Result<String, Error> = client
        .stream_chat(&hello())
        .map_err(|e| e.to_string())?
        .collect();
    check(text.as_deref().ok() == Some("ab"), || format!("{text:?}"))?;
    server
        .requests()
        .pop()
        .ok_or_else(|| "no request".to_string())
}

/// A base URL copied with the API's version (`https://api.anthropic.com/v1`, as curl examples
/// write it) does not get the version twice (`/v1/v1/messages`, a 404).
#[test]
fn a_base_url_that_ends_in_the_apis_version_gets_it_once() {
    for_every_provider(|p| {
        let server = serve(p, (p.answer)(&["a", "b"]));
        let version = p.path.split('/').nth(1).filter(|v| v.starts_with('v'));
        let base = format!("{}/api/{}", server.url(), version.unwrap_or("v1"));
        let client = (p.client)(&Setup::at(&base));
        let request = answers_ab(client.as_ref(), &server)?;
        let want = match version {
            Some(_) => format!("/api{}", p.path),
            None => format!("/api/v1{}", p.path),
        };
        check(request.path == want, || request.path.clone())
    });
}

#[test]
fn without_a_key_a_local_server_gets_no_key_header() {
    for_every_provider(|p| {
        let server = serve(p, (p.answer)(&["ok"]));
        let client = (p.client)(&Setup {
            key: None,
            ..Setup::at(&server.url())
        });
        let text: Result<String, Error> = client
            .stream_chat(&hello())
            .map_err(|e| e.to_string())?
            .collect();
        check(text.is_ok(), || format!("{text:?}"))?;
        let request = server.requests().pop().ok_or("no request")?;
        let header = p.key_header.0;
        check(request.header(header).is_none(), || {
            format!("{header}: {:?}", request.header(header))
        })
    });
}

#[test]
fn the_key_and_private_headers_are_never_shown() {
    for_every_provider(|p| {
        let client = (p.client)(&Setup {
            header: Some(("x-private", "PRIVATE-VALUE")),
            ..Setup::at(&support::closed_port_url())
        });
        let text = client.debug();
        check(
            !text.contains("TOPSECRET") && !text.contains("PRIVATE-VALUE"),
            || text.clone(),
        )?;
        // Nor does the error of a request that carried them.
        let err = client.stream_chat(&hello()).err().ok_or("no error")?;
        check(!leaks(&err), || format!("{err:?}"))
    });
}

#[test]
fn a_connection_dropped_mid_stream_is_an_error() {
    for_every_provider(|p| {
        let body = (p.partial)(&["The answer", " is"]);
        let content_type = p.content_type;
        let server = TestServer::start(move |_| {
            Reply::chunked_cut([body.clone()], ms(0)).content_type(content_type)
        });
        let client = (p.client)(&Setup::at(&server.url()));
        let mut stream = client.stream_chat(&hello()).map_err(|e| e.to_string())?;
        let (pieces, error) = drain(&mut stream);
        check(pieces.concat() == "The answer is", || format!("{pieces:?}"))?;
        let eof =
            matches!(&error, Some(Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof);
        check(eof, || {
            format!("expected the cut as an UnexpectedEof I/O error, got {error:?}")
        })?;
        check(!error.as_ref().is_some_and(leaks), || {
            "the key leaked".into()
        })?;
        check(!stream.is_done(), || "done".into())
    });
}

#[test]
fn a_malformed_chunk_is_an_error_quoting_it() {
    for_every_provider(|p| {
        let (body, quotes) = (p.malformed)();
        let (pieces, error, _) = chat_over(p, body);
        check(pieces == ["ok"], || format!("{pieces:?}"))?;
        let Some(Error::Protocol(message)) = error else {
            return Err(format!("expected a protocol error, got {error:?}"));
        };
        for quote in quotes {
            check(message.contains(quote), || {
                format!("{message} lacks {quote}")
            })?;
        }
        check(message.len() < 500, || {
            format!("the chunk was not cut short: {} bytes", message.len())
        })
    });
}

#[test]
fn an_error_in_the_stream_ends_it_with_an_api_error() {
    for_every_provider(|p| {
        let expected = (p.error_in_stream)();
        let (pieces, error, mut stream) = chat_over(p, expected.body);
        check(pieces == ["Once upon"], || format!("{pieces:?}"))?;
        let Some(err @ Error::Api { .. }) = error else {
            return Err(format!("expected an api error, got {error:?}"));
        };
        let text = err.to_string();
        let Error::Api { kind, message } = err else {
            unreachable!()
        };
        check(
            kind.as_deref() == expected.kind && message == expected.message,
            || format!("{kind:?}: {message}"),
        )?;
        check(
            text.contains(expected.message) && expected.kind.is_none_or(|k| text.contains(k)),
            || text.clone(),
        )?;
        check(stream.next().is_none(), || "more after the error".into())?;
        check(!stream.is_done(), || "done".into())
    });
}

#[test]
fn a_4xx_is_a_status_error_with_the_apis_message_and_body() {
    for_every_provider(|p| {
        let (status, body, pointer, value, api_message) = p.refusal;
        let server = TestServer::start(move |_| {
            Reply::status(status, body).content_type("application/json")
        });
        let client = (p.client)(&Setup::at(&server.url()));
        let err = client.stream_chat(&hello()).err().ok_or("no error")?;
        let text = err.to_string();
        // One wording for every provider (tinychat's Cohere client said
        // `Server responded with error: <code>`).
        let prefix = format!("Server responded with an error. Status Code: {status}");
        check(
            text.starts_with(&prefix) && !text.contains("Server responded with error:"),
            || text.clone(),
        )?;
        check(text.contains(api_message), || {
            format!("{text} lacks {api_message}")
        })?;
        check(!leaks(&err), || "the key leaked".into())?;
        let Error::Status(e) = &err else {
            return Err(format!("not a status error: {err:?}"));
        };
        let parsed: Value = serde_json::from_str(&e.body).map_err(|e| e.to_string())?;
        check(
            e.status == status && parsed.pointer(pointer) == Some(&json!(value)),
            || format!("{} {}", e.status, e.body),
        )?;
        let raw = client.raw(&hello()).err().and_then(|e| e.status());
        check(raw == Some(status), || format!("{raw:?}"))?;
        // A 4xx is not retried.
        check(server.request_count() == 2, || {
            format!("{} requests", server.request_count())
        })
    });
}

#[test]
fn a_blank_key_counts_as_none_and_keys_are_trimmed() {
    // A blank GEMINI_API_KEY falls back to GOOGLE_API_KEY, trimmed.
    let server = serve(&providers()[2], gemini_answer(&["ok"]));
    let env = |name: &str| match name {
        "GEMINI_API_KEY" => Some("  ".to_string()),
        "GOOGLE_API_KEY" => Some(" second \n".to_string()),
        _ => None,
    };
    let client = GeminiClient::builder("m", None)
        .base_url(server.url())
        .env(env)
        .build();
    client.stream_chat(&hello()).unwrap().for_each(drop);
    let sent = server.requests().pop().unwrap();
    assert_eq!(sent.header("x-goog-api-key"), Some("second"));
    // A blank key set on the builder wins over the environment's: there is none.
    let blank = OpenAIClient::builder("m", None)
        .env(|_| Some("from-env".to_string()))
        .api_key(" ")
        .build();
    assert!(!blank.has_api_key());
}

#[test]
fn a_credential_header_of_the_builders_needs_no_key_even_at_the_default_base() {
    for name in ["X-Api-Key", "Authorization"] {
        let client = AnthropicClient::builder("m", None)
            .env(|_| None)
            .header(name, "secret")
            .build();
        assert_eq!(client.base_url(), AnthropicClient::DEFAULT_BASE_URL);
        assert!(client.chat_request(&hello()).is_ok(), "{name}");
    }
}

#[test]
fn a_messages_only_chat_client_completes_plain_requests_and_refuses_the_rest() {
    use ureq_futures::llm::{ChatClient, ChatEvent, ChatRequest};

    /// Knows only messages, as a client written before requests existed.
    struct Plain;

    impl ChatClient for Plain {
        fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
            let (tx, rx) = crossbeam_channel::unbounded();
            let text = messages.iter().map(Message::text).collect();
            tx.send(Ok(vec![ChatEvent::Text(text), ChatEvent::Done]))
                .ok();
            Ok(ChatStream::from_receiver(rx))
        }
    }

    let client: Box<dyn ChatClient> = Box::new(Plain);
    let answer = client.complete(&ChatRequest::new().user("echo")).unwrap();
    assert_eq!(answer.text, "echo");
    let err = client
        .complete(&ChatRequest::new().user("x").max_tokens(1))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
}

/// Clients are shared between threads and cloned; streams and conversations move to threads.
#[test]
fn clients_streams_and_conversations_can_cross_threads() {
    fn shared<T: Send + Sync + Clone>() {}
    fn sent<T: Send>() {}
    shared::<OpenAIClient>();
    shared::<AnthropicClient>();
    shared::<GeminiClient>();
    shared::<CohereClient>();
    shared::<ureq_futures::llm::MistralClient>();
    shared::<ureq_futures::llm::TogetherClient>();
    sent::<ChatStream>();
    sent::<ureq_futures::llm::Conversation>();
}
