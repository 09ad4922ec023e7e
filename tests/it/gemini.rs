//! `llm::GeminiClient` against mocked and local servers: the request it sends (with the key in a
//! header, never in the URL), then one test per thing Gemini puts in its streams, then the key's
//! secrecy in every error.
//! What every provider does alike (key, base URL, a cut connection, a broken chunk, an error in
//! the stream, a 4xx) is `llm_contract`'s table.

use std::time::{Duration, Instant};

use mockito::Matcher;
use serde_json::{json, Value};
use support::{ms, Reply, TestServer, SLOW_ANSWER};
use ureq_futures::llm::{ChatStream, GeminiClient, Message};
use ureq_futures::Error;

use crate::llm_contract::drain;

const KEY: &str = "AIzaSy-TOPSECRET-test-key";

/// A client for `base_url` with a key and nothing from the process environment.
fn client(base_url: &str) -> GeminiClient {
    GeminiClient::builder("gemini-test", 0.0)
        .api_key(KEY)
        .base_url(base_url)
        .env(|_| None)
        .build()
}

fn hello() -> Vec<Message> {
    vec![Message::user("hello")]
}

/// An event-stream body framed with CRLF, as Google sends it.
fn sse_body(payloads: &[Value]) -> String {
    payloads
        .iter()
        .map(|p| format!("data: {p}\r\n\r\n"))
        .collect()
}

/// A chunk whose first candidate has `parts`, and `finishReason` when given.
fn chunk(parts: Value, finish: Option<&str>) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(reason) = finish {
        candidate["finishReason"] = json!(reason);
    }
    json!({"candidates": [candidate], "modelVersion": "gemini-test", "responseId": "r1"})
}

fn text(s: &str) -> Value {
    chunk(json!([{ "text": s }]), None)
}

/// A whole answer made of text pieces; the last piece carries the finish reason and usage.
fn answer(pieces: &[&str]) -> String {
    let (last, first) = pieces.split_last().expect("a piece");
    let mut events: Vec<Value> = first.iter().map(|p| text(p)).collect();
    let mut end = chunk(json!([{ "text": last }]), Some("STOP"));
    end["usageMetadata"] =
        json!({"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8});
    events.push(end);
    sse_body(&events)
}

/// A server that answers every request with `body` as an event stream, 5 bytes per write.
fn serve(body: impl Into<String>) -> TestServer {
    let body: Vec<u8> = body.into().into_bytes();
    TestServer::start(move |_| Reply::sse(body.chunks(5).map(<[u8]>::to_vec), ms(0)))
}

/// Streams `body` through `stream_chat` and reads it to the end.
fn chat_over(body: impl Into<String>) -> (Vec<String>, Option<Error>, ChatStream) {
    let server = serve(body);
    let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
    let (pieces, error) = drain(&mut stream);
    (pieces, error, stream)
}

/// Asserts that nothing shown about `err` contains the key.
fn assert_no_key(err: &Error) {
    let text = format!("{err} {err:?} {err:#?}");
    assert!(!text.contains("TOPSECRET"), "the key leaked: {text}");
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

#[test]
fn stream_chat_sends_the_generate_content_request_and_yields_the_text() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock(
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        )
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("alt".into(), "sse".into()),
            Matcher::Regex("^alt=sse$".into()),
        ]))
        .match_header("x-goog-api-key", KEY)
        .match_header("content-type", "application/json")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Json(json!({
            "contents": [
                {"role": "user", "parts": [{"text": "hello"}]},
                {"role": "model", "parts": [{"text": "bonjour"}]},
                {"role": "user", "parts": [{"text": "again"}]},
            ],
            "systemInstruction": {"parts": [{"text": "Be brief.\n\nAnswer in French."}]},
            "generationConfig": {"temperature": 0.5},
        })))
        .with_status(200)
        .with_header("content-type", "text/event-stream")
        .with_body(answer(&["Bon", "jour"]))
        .create();
    let client = GeminiClient::builder("models/gemini-2.5-flash", 0.5)
        .api_key(KEY)
        .base_url(server.url())
        .env(|_| None)
        .build();
    let messages = [
        Message::system("Be brief."),
        Message::user("hello"),
        Message::assistant("bonjour"),
        Message::system("Answer in French."),
        Message::user("again"),
    ];
    let mut stream = client.stream_chat(&messages).unwrap();
    let (pieces, error) = drain(&mut stream);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Bon", "jour"]);
    assert!(stream.is_done());
    assert_eq!(stream.finish_reason(), Some("STOP"));
    let usage = stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(5), Some(3), Some(8))
    );
    mock.assert();
}

#[test]
fn the_url_carries_no_key_and_odd_model_names_stay_in_their_segment() {
    let server = serve(answer(&["ok"]));
    // A `models/` prefix is dropped, `tunedModels/` kept, and the name stays one segment.
    for (model, path) in [
        ("my model?key=x", "models/my%20model%3Fkey%3Dx"),
        (" models/gemini-2.5-flash ", "models/gemini-2.5-flash"),
        ("tunedModels/my-model", "tunedModels/my-model"),
        ("models/a:b", "models/a%3Ab"),
        ("odd/name#y", "models/odd%2Fname%23y"),
    ] {
        let client = GeminiClient::builder(model, None)
            .api_key(KEY)
            .base_url(server.url())
            .env(|_| None)
            .build();
        client.stream_chat(&hello()).unwrap().for_each(drop);
        let sent = server.requests().pop().unwrap();
        assert_eq!(
            sent.path,
            format!("/v1beta/{path}:streamGenerateContent?alt=sse")
        );
        assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
    }
    let request = server.requests().pop().unwrap();
    // Without a temperature there is no generationConfig.
    let sent: Value = serde_json::from_slice(&request.body).unwrap();
    assert!(sent.get("generationConfig").is_none(), "{sent}");
    assert!(sent.get("systemInstruction").is_none(), "{sent}");
}

#[test]
fn perform_stream_request_yields_the_raw_chunks() {
    let server = serve(answer(&["a", "b"]));
    let chunks: Vec<Value> = client(&server.url())
        .perform_stream_request(&hello())
        .unwrap()
        .map(|event| serde_json::from_str(&event.unwrap().data).unwrap())
        .collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
}

// ---------------------------------------------------------------------------------------------
// What the streams contain
// ---------------------------------------------------------------------------------------------

#[test]
fn thought_parts_and_signatures_are_not_text() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        chunk(
            json!([{"text": "**Planning** the answer", "thought": true}]),
            None,
        ),
        chunk(json!([{"thoughtSignature": "CiQBjz1rX+z7CAOC"}]), None),
        chunk(
            json!([{"text": "The answer", "thoughtSignature": "CiQBjz1rX"}, {"text": " is 4."}]),
            Some("STOP"),
        ),
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["The answer", " is 4."]);
    assert_eq!(stream.reasoning(), "**Planning** the answer");
    assert!(stream.is_done());
}

#[test]
fn function_calls_are_tool_calls_not_text() {
    let (pieces, error, stream) = chat_over(sse_body(&[chunk(
        json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]),
        Some("STOP"),
    )]));
    assert!(error.is_none(), "{error:?}");
    assert!(pieces.is_empty(), "{pieces:?}");
    let calls = stream.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].name.as_str(), calls[0].arguments.as_str()),
        ("get_weather", r#"{"city":"Paris"}"#)
    );
}

#[test]
fn a_function_call_without_args_has_an_empty_object_for_arguments() {
    // A tool without parameters: Gemini leaves `args` out (the API documents it as optional).
    let (_, error, stream) = chat_over(sse_body(&[chunk(
        json!([{"functionCall": {"name": "now"}}, {"functionCall": {"name": "today", "args": null}}]),
        Some("STOP"),
    )]));
    assert!(error.is_none(), "{error:?}");
    let calls = stream.tool_calls();
    assert_eq!(calls.len(), 2);
    for call in calls {
        // What a tool loop does with them: they parse as an object, as every other call's do.
        let args: Value = serde_json::from_str(&call.arguments).expect("JSON arguments");
        assert_eq!(args, json!({}), "{}", call.name);
    }
}

#[test]
fn chunks_after_the_finish_reason_are_still_read() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        chunk(json!([{"text": "Done."}]), Some("MAX_TOKENS")),
        json!({"usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1, "totalTokenCount": 3}}),
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Done."]);
    assert_eq!(stream.finish_reason(), Some("MAX_TOKENS"));
    assert_eq!(stream.usage().and_then(|u| u.total_tokens), Some(3));
    assert!(stream.is_done());
}

#[test]
fn a_blocked_prompt_is_an_api_error() {
    let (pieces, error, _) = chat_over(sse_body(&[json!({
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}
    })]));
    assert!(pieces.is_empty());
    assert!(
        matches!(&error, Some(Error::Api { kind: Some(k), message }) if k == "PROHIBITED_CONTENT" && message.contains("blocked")),
        "{error:?}"
    );
}

#[test]
fn a_failure_sent_as_json_lines_after_the_answer_began_is_the_servers_error() {
    // Google reports a failure after the answer has begun as a JSON object on lines of its own,
    // outside any `data:` field, and closes the stream (its SDK gathers such lines).
    let failure = "{\r\n  \"error\": {\r\n    \"code\": 503,\r\n    \"message\": \"The model is overloaded. Please try again later.\",\r\n    \"status\": \"UNAVAILABLE\"\r\n  }\r\n}\r\n";
    let (pieces, error, stream) = chat_over(sse_body(&[text("Hel")]) + failure);
    assert_eq!(pieces, ["Hel"]);
    assert!(
        matches!(&error, Some(Error::Api { kind: Some(k), message }) if k == "UNAVAILABLE" && message == "The model is overloaded. Please try again later."),
        "{error:?}"
    );
    assert!(!stream.is_done());
    // Without its last line end, the object is read all the same.
    let (_, error, _) = chat_over(sse_body(&[text("Hel")]) + failure.trim_end());
    assert!(matches!(&error, Some(Error::Api { .. })), "{error:?}");
}

#[test]
fn an_answer_stopped_by_a_filter_is_a_refusal_and_a_failed_call_an_error() {
    // Gemini's filters end the answer with a reason, often with no text: a refusal, with the
    // candidate's finishMessage when it has one.
    let (pieces, error, stream) = chat_over(sse_body(&[
        chunk(json!([{"text": "Once upon"}]), None),
        json!({"candidates": [{"finishReason": "RECITATION", "finishMessage": "Too close to a source."}]}),
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Once upon"]);
    assert_eq!(stream.refusal(), Some("Too close to a source."));
    assert_eq!(stream.finish_reason(), Some("RECITATION"));
    let (_, error, stream) = chat_over(sse_body(&[
        json!({"candidates": [{"finishReason": "SAFETY"}]}),
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        stream.refusal(),
        Some("Gemini stopped the answer (finishReason SAFETY)")
    );
    // A call the model could not make leaves nothing to run and nothing to read: an error.
    for (reason, message, says) in [
        (
            "MALFORMED_FUNCTION_CALL",
            Some("Malformed function call: add(a=)"),
            "Malformed function call: add(a=)",
        ),
        (
            "TOO_MANY_TOOL_CALLS",
            None,
            "the model's function call failed (finishReason TOO_MANY_TOOL_CALLS)",
        ),
    ] {
        let mut candidate = json!({"finishReason": reason});
        if let Some(message) = message {
            candidate["finishMessage"] = json!(message);
        }
        let (pieces, error, _) = chat_over(sse_body(&[json!({"candidates": [candidate]})]));
        assert!(pieces.is_empty());
        assert!(
            matches!(&error, Some(Error::Api { kind: Some(k), message }) if k == reason && message == says),
            "{reason}: {error:?}"
        );
    }
    // The answer's own ends stay plain finishes.
    for reason in ["STOP", "MAX_TOKENS", "OTHER"] {
        let (_, error, stream) =
            chat_over(sse_body(&[chunk(json!([{"text": "a"}]), Some(reason))]));
        assert!(error.is_none(), "{reason}: {error:?}");
        assert_eq!(
            (stream.refusal(), stream.finish_reason()),
            (None, Some(reason))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Errors before the stream: status, key
// ---------------------------------------------------------------------------------------------

#[test]
fn keys_and_base_url_come_from_the_environment_lookup() {
    let server = serve(answer(&["a", "b"]));
    let base = format!("{}/", server.url());
    let both = {
        let base = base.clone();
        move |name: &str| match name {
            "GEMINI_API_KEY" => Some("gemini-key".to_string()),
            "GOOGLE_API_KEY" => Some("google-key".to_string()),
            "GEMINI_BASE_URL" => Some(base.clone()),
            _ => None,
        }
    };
    let client = GeminiClient::builder("m", None).env(both).build();
    assert_eq!(client.base_url(), server.url());
    let text: String = client
        .stream_chat(&hello())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(text, "ab");
    let google_only = move |name: &str| match name {
        "GOOGLE_API_KEY" => Some("google-key".to_string()),
        "GEMINI_BASE_URL" => Some(base.clone()),
        _ => None,
    };
    let client = GeminiClient::builder("m", None).env(google_only).build();
    client.stream_chat(&hello()).unwrap().for_each(drop);
    let keys: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.header("x-goog-api-key").unwrap_or("").to_string())
        .collect();
    assert_eq!(keys, ["gemini-key", "google-key"]);
}

#[test]
fn the_key_is_never_in_debug_output() {
    let builder = GeminiClient::builder("m", 0.0)
        .api_key(KEY)
        .header("x-private", "PRIVATE-VALUE")
        .env(|_| None);
    let text = format!("{builder:?} {builder:#?}");
    assert!(
        !text.contains("TOPSECRET") && !text.contains("PRIVATE-VALUE"),
        "{text}"
    );
    let built = builder.build();
    let text = format!("{built:?} {built:#?}");
    assert!(
        !text.contains("TOPSECRET") && !text.contains("PRIVATE-VALUE"),
        "{text}"
    );
    let server = serve(answer(&["ok"]));
    let stream = client(&server.url()).stream_chat(&hello()).unwrap();
    let text = format!("{stream:?}");
    assert!(!text.contains("TOPSECRET"), "{text}");
}

#[test]
fn the_key_is_in_no_error_text() {
    // Connection refused.
    let err = client(&support::closed_port_url())
        .stream_chat(&hello())
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_) | Error::Io(_)), "{err:?}");
    assert_no_key(&err);
    // Base URLs that do not parse.
    for base in ["http://exa mple.invalid", "not a url at all"] {
        let err = client(base).stream_chat(&hello()).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{base}: {err:?}");
        assert_no_key(&err);
    }
    // A key that cannot be a header value.
    let err = GeminiClient::builder("m", None)
        .api_key("AIza\nTOPSECRET")
        .base_url(support::closed_port_url())
        .env(|_| None)
        .build()
        .stream_chat(&hello())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_no_key(&err);
    // A timeout while waiting for the headers, and one while streaming.
    let slow = TestServer::start(|_| Reply::sse([answer(&["x"])], ms(0)).delay(ms(3000)));
    let start = Instant::now();
    let err = GeminiClient::builder("m", None)
        .api_key(KEY)
        .base_url(slow.url())
        .timeout(Some(ms(200)))
        .env(|_| None)
        .build()
        .stream_chat(&hello())
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_no_key(&err);
    let stall = TestServer::start(|_| Reply::stall().content_type("text/event-stream"));
    let mut stream = GeminiClient::builder("m", None)
        .api_key(KEY)
        .base_url(stall.url())
        .read_timeout(Some(SLOW_ANSWER))
        .env(|_| None)
        .build()
        .stream_chat(&hello())
        .unwrap();
    let (_, err) = drain(&mut stream);
    let err = err.expect("a timeout");
    assert!(err.is_timeout(), "{err:?}");
    assert_no_key(&err);
}

#[test]
fn a_conversation_keeps_no_exchange_whose_reply_has_no_text_or_was_filtered() {
    // Gemini 2.5 that spends its token limit thinking answers without text; the API refuses a
    // model turn without text in a later request. A reply its safety filter cut is not the
    // model's answer either.
    let server = TestServer::start(|req| {
        let sent: Value = serde_json::from_slice(&req.body).unwrap();
        let answer = match sent["contents"][0]["parts"][0]["text"].as_str() {
            Some("think") => chunk(
                json!([{"text": "Let me", "thought": true}]),
                Some("MAX_TOKENS"),
            ),
            Some("lock") => chunk(json!([{"text": "Sure, here is how to"}]), Some("SAFETY")),
            _ => chunk(json!([{"text": "Hi!"}]), Some("STOP")),
        };
        Reply::sse([sse_body(&[answer])], ms(0))
    });
    let mut chat = ureq_futures::llm::Conversation::new(client(&server.url()));
    assert_eq!(chat.send_with("think", |_| {}).unwrap(), "");
    // Neither the empty reply nor its question is kept, as in python-genai's chats.
    assert!(chat.messages().is_empty(), "{:?}", chat.messages());
    assert_eq!(
        chat.send_with("lock", |_| {}).unwrap(),
        "Sure, here is how to"
    );
    assert!(chat.messages().is_empty(), "{:?}", chat.messages());
    assert_eq!(chat.send_with("hello", |_| {}).unwrap(), "Hi!");
    let sent: Value = serde_json::from_slice(&server.requests()[2].body).unwrap();
    assert_eq!(
        sent["contents"],
        json!([{"role": "user", "parts": [{"text": "hello"}]}])
    );
    assert_eq!(
        chat.messages(),
        [Message::user("hello"), Message::assistant("Hi!")]
    );
}

/// A `ChatBatch` of Gemini chats waits the quota's `retryDelay` (in the body of its 429, as
/// Gemini sends it, with no `Retry-After`) before it asks again, rather than its own backoff.
#[test]
fn a_batch_waits_the_retry_delay_of_geminis_429() {
    use ureq_futures::llm::{ChatBatch, ChatJob};
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&arrivals);
    let server = TestServer::start(move |_| {
        let mut seen = seen.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            Reply::status(429, crate::retry::GEMINI_429).content_type("application/json")
        } else {
            Reply::sse([answer(&["Hi"])], ms(0))
        }
    });
    let results: Vec<_> = ChatBatch::new(client(&server.url()))
        .retry(
            ureq_futures::RetryPolicy::new()
                .attempts(2)
                .base_delay(ms(10)),
        )
        .progress_bar(false)
        .run([ChatJob::user("j", "hello")])
        .collect();
    assert_eq!(results[0].content.as_deref(), Some("Hi"), "{results:?}");
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] - arrivals[0] >= ms(400), "{arrivals:?}");
}
