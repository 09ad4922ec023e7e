//! `llm::CohereClient` against mocked and local servers: the v1 chat request it sends, then one
//! test per thing Cohere puts in its newline-delimited streams.
//! What every provider does alike (key, base URL, a cut connection, a broken chunk, an error in
//! the stream, a 4xx) is `llm_contract`'s table.

use mockito::Matcher;
use serde_json::{json, Value};
use support::{ms, Reply, TestServer};
use ureq_futures::llm::{ChatStream, CohereApi, CohereClient, Conversation, Message};
use ureq_futures::Error;

use crate::llm_contract::drain;

/// A client for `base_url` with a key and nothing from the process environment.
fn client(base_url: &str) -> CohereClient {
    CohereClient::builder("command-test", 0.0)
        .api(CohereApi::V1)
        .api_key("test-key")
        .base_url(base_url)
        .env(|_| None)
        .build()
}

fn hello() -> Vec<Message> {
    vec![Message::user("hello")]
}

/// A newline-delimited body: one JSON object per line.
fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn start() -> Value {
    json!({"is_finished": false, "event_type": "stream-start", "generation_id": "g-1"})
}

fn text(s: &str) -> Value {
    json!({"is_finished": false, "event_type": "text-generation", "text": s})
}

fn end(reason: &str) -> Value {
    json!({"is_finished": true, "event_type": "stream-end", "finish_reason": reason,
        "response": {"response_id": "r-1", "text": "", "generation_id": "g-1", "finish_reason": reason,
            "meta": {"api_version": {"version": "1"},
                "billed_units": {"input_tokens": 4, "output_tokens": 2},
                "tokens": {"input_tokens": 10, "output_tokens": 2}}}})
}

/// A whole answer made of text pieces.
fn answer(pieces: &[&str]) -> String {
    let mut lines = vec![start()];
    lines.extend(pieces.iter().map(|p| text(p)));
    lines.push(end("COMPLETE"));
    ndjson(&lines)
}

/// A server that answers every request with `body` as NDJSON, 5 bytes per write.
fn serve(body: impl Into<String>) -> TestServer {
    let body: Vec<u8> = body.into().into_bytes();
    TestServer::start(move |_| {
        Reply::chunked(body.chunks(5).map(<[u8]>::to_vec), ms(0))
            .content_type("application/stream+json")
    })
}

/// Streams `body` through `stream_chat` and reads it to the end.
fn chat_over(body: impl Into<String>) -> (Vec<String>, Option<Error>, ChatStream) {
    let server = serve(body);
    let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
    let (pieces, error) = drain(&mut stream);
    (pieces, error, stream)
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

#[test]
fn stream_chat_sends_the_v1_chat_request_and_yields_the_text() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("POST", "/v1/chat")
        .match_header("authorization", "Bearer test-key")
        .match_header("content-type", "application/json")
        .match_header("accept", "application/x-ndjson")
        .match_body(Matcher::Json(json!({
            "model": "command-test",
            "message": "again",
            "chat_history": [
                {"role": "USER", "message": "hello"},
                {"role": "CHATBOT", "message": "ahoy"},
                {"role": "SYSTEM", "message": "Now in French."},
            ],
            "preamble": "Talk like a pirate.\n\nBe brief.",
            "temperature": 0.0,
            "stream": true,
        })))
        .with_status(200)
        .with_header("content-type", "application/stream+json")
        .with_body(answer(&["Ar", "rr!"]))
        .create();
    let messages = [
        Message::system("Talk like a pirate."),
        Message::system("Be brief."),
        Message::user("hello"),
        Message::assistant("ahoy"),
        Message::system("Now in French."),
        Message::user("again"),
    ];
    let mut stream = client(&server.url()).stream_chat(&messages).unwrap();
    let (pieces, error) = drain(&mut stream);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Ar", "rr!"]);
    assert!(stream.is_done());
    assert_eq!(stream.finish_reason(), Some("COMPLETE"));
    let usage = stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(10), Some(2), Some(12))
    );
    mock.assert();
}

#[test]
fn a_first_message_has_an_empty_history_and_no_preamble() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("POST", "/v1/chat")
        .match_body(Matcher::Json(json!({
            "model": "command-test",
            "message": "hello",
            "chat_history": [],
            "stream": true,
        })))
        .with_body(answer(&["hi"]))
        .create();
    let client = CohereClient::builder("command-test", None)
        .api(CohereApi::V1)
        .api_key("k")
        .base_url(server.url())
        .env(|_| None)
        .build();
    client.stream_chat(&hello()).unwrap().for_each(drop);
    mock.assert();
}

#[test]
fn the_last_message_must_be_the_users() {
    let server = serve(answer(&["x"]));
    let client = client(&server.url());
    for (messages, says) in [
        (vec![], "no messages: add one (ChatRequest::user)"),
        (
            vec![Message::user("q"), Message::assistant("a")],
            "user message",
        ),
    ] {
        let err = client.stream_chat(&messages).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert_eq!(server.request_count(), 0);
}

#[test]
fn perform_stream_request_yields_the_lines() {
    let server = serve(answer(&["a"]));
    let types: Vec<String> = client(&server.url())
        .perform_stream_request(&hello())
        .unwrap()
        .map(|line| {
            let line: Value = serde_json::from_str(&line.unwrap().data).unwrap();
            line["event_type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(types, ["stream-start", "text-generation", "stream-end"]);
}

#[test]
fn a_conversation_keeps_the_history_in_cohere_roles() {
    let server = serve(answer(&["o", "k"]));
    let mut chat = Conversation::new(client(&server.url())).with_system_prompt("be kind");
    assert_eq!(chat.send_with("hi", |_| {}).unwrap(), "ok");
    assert_eq!(chat.send_with("again", |_| {}).unwrap(), "ok");
    let sent: Value = serde_json::from_slice(&server.requests().pop().unwrap().body).unwrap();
    assert_eq!(sent["preamble"], "be kind");
    assert_eq!(sent["message"], "again");
    assert_eq!(
        sent["chat_history"],
        json!([{"role": "USER", "message": "hi"}, {"role": "CHATBOT", "message": "ok"}])
    );
}

// ---------------------------------------------------------------------------------------------
// What the streams contain
// ---------------------------------------------------------------------------------------------

#[test]
fn crlf_lines_and_blank_lines_are_fine() {
    let body = answer(&["a", "b"]).replace('\n', "\r\n\r\n");
    let (pieces, error, stream) = chat_over(body);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["a", "b"]);
    assert!(stream.is_done());
}

#[test]
fn the_last_line_needs_no_line_end() {
    let body = answer(&["a"]);
    let (pieces, error, stream) = chat_over(body.trim_end());
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["a"]);
    assert!(stream.is_done());
}

#[test]
fn search_and_tool_events_are_not_text() {
    let (pieces, error, stream) = chat_over(ndjson(&[
        start(),
        json!({"is_finished": false, "event_type": "search-queries-generation", "search_queries": [{"text": "gravity", "generation_id": "q"}]}),
        json!({"is_finished": false, "event_type": "search-results", "search_results": [], "documents": []}),
        text("Newton."),
        json!({"is_finished": false, "event_type": "citation-generation", "citations": [{"start": 0, "end": 7, "text": "Newton.", "document_ids": ["d"]}]}),
        json!({"is_finished": false, "event_type": "tool-calls-chunk", "tool_call_delta": {"index": 0, "name": "lookup"}}),
        json!({"is_finished": false, "event_type": "tool-calls-generation", "tool_calls": [{"name": "lookup", "parameters": {"who": "Newton"}}]}),
        end("COMPLETE"),
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Newton."]);
    let calls = stream.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].name.as_str(), calls[0].arguments.as_str()),
        ("lookup", r#"{"who":"Newton"}"#)
    );
}

#[test]
fn an_error_finish_reason_without_text_is_an_api_error() {
    // With text before it: `llm_contract`'s table (ERROR_TOXIC).
    let (pieces, error, stream) = chat_over(ndjson(&[start(), end("ERROR_LIMIT")]));
    assert!(pieces.is_empty(), "{pieces:?}");
    assert!(
        matches!(&error, Some(Error::Api { kind: Some(k), .. }) if k == "ERROR_LIMIT"),
        "{error:?}"
    );
    assert!(!stream.is_done());
}

#[test]
fn max_tokens_is_a_finish_reason_not_an_error() {
    let (pieces, error, stream) = chat_over(ndjson(&[start(), text("Long"), end("MAX_TOKENS")]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Long"]);
    assert_eq!(stream.finish_reason(), Some("MAX_TOKENS"));
}

// ---------------------------------------------------------------------------------------------
// Errors before the stream: status, key
// ---------------------------------------------------------------------------------------------

/// A base URL written with the v1 API's version (`https://api.cohere.com/v1`, as v1 code
/// sets `COHERE_BASE_URL`) stands for the API root, as Cohere's SDK reads it: the v2 chat and
/// the embeddings go to `/v2/...`, not to `/v1/v2/...`.
#[test]
fn a_base_url_ending_in_a_version_is_the_api_root() {
    let server = TestServer::start(|req| match req.path_only() {
        "/v2/chat" => Reply::sse(
            [concat!(
                "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":",
                "{\"content\":{\"text\":\"hi\"}}}}\n\n",
                "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n",
            )],
            ms(0),
        ),
        "/v2/embed" => Reply::json(r#"{"embeddings": {"float": [[0.5]]}}"#),
        other => Reply::status(404, format!("no route {other}")),
    });
    for base in [
        format!("{}/v1", server.url()),
        format!("{}/v1/", server.url()),
    ] {
        let client = CohereClient::builder("command-test", 0.0)
            .api_key("test-key")
            .base_url(&base)
            .env(|_| None)
            .build();
        let text: String = client
            .stream_chat(&hello())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(text, "hi");
        assert_eq!(client.embed(&["a"]).unwrap(), [vec![0.5]]);
    }
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v2/chat", "/v2/embed", "/v2/chat", "/v2/embed"]);
}
