//! `llm::AnthropicClient` against mocked and local servers: the request it sends, then one test
//! per thing Anthropic puts in its streams.
//! What every provider does alike (key, base URL, a cut connection, a broken chunk, an error in
//! the stream, a 4xx) is `llm_contract`'s table.

use mockito::Matcher;
use serde_json::{json, Value};
use support::{ms, Reply, TestServer};
use ureq_futures::llm::{AnthropicClient, ChatStream, Conversation, Message};
use ureq_futures::sse::SmolStr;
use ureq_futures::Error;

use crate::llm_contract::drain;

/// A client for `base_url` with a key and nothing from the process environment.
fn client(base_url: &str) -> AnthropicClient {
    AnthropicClient::builder("claude-test", 0.0)
        .api_key("test-key")
        .base_url(base_url)
        .env(|_| None)
        .build()
}

fn hello() -> Vec<Message> {
    vec![Message::user("hello")]
}

/// An event-stream body: each payload as an event named after its `type`, as Anthropic sends.
fn sse_body(payloads: &[Value]) -> String {
    payloads
        .iter()
        .map(|p| format!("event: {}\ndata: {p}\n\n", p["type"].as_str().unwrap()))
        .collect()
}

fn message_start() -> Value {
    json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-test", "content": [], "stop_reason": null,
        "usage": {"input_tokens": 12, "output_tokens": 1}}})
}

fn block_start(index: u64, block: Value) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": block})
}

fn delta(index: u64, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

fn text(index: u64, s: &str) -> Value {
    delta(index, json!({"type": "text_delta", "text": s}))
}

fn block_stop(index: u64) -> Value {
    json!({"type": "content_block_stop", "index": index})
}

fn message_delta(stop_reason: &str, output_tokens: u64) -> Value {
    json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {"output_tokens": output_tokens}})
}

fn message_stop() -> Value {
    json!({"type": "message_stop"})
}

/// A whole answer made of text pieces.
fn answer(pieces: &[&str]) -> String {
    let mut events = vec![
        message_start(),
        block_start(0, json!({"type": "text", "text": ""})),
        json!({"type": "ping"}),
    ];
    events.extend(pieces.iter().map(|p| text(0, p)));
    events.extend([block_stop(0), message_delta("end_turn", 7), message_stop()]);
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

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

#[test]
fn stream_chat_sends_the_messages_api_request_and_yields_the_text() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("POST", "/v1/messages")
        .match_header("x-api-key", "test-key")
        .match_header("anthropic-version", "2023-06-01")
        .match_header("content-type", "application/json")
        .match_header("accept", "text/event-stream")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Json(json!({
            "model": "claude-test",
            "max_tokens": 4096,
            "system": "Be brief.\n\nAnswer in French.",
            "messages": [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "bonjour"},
                {"role": "user", "content": "again"},
            ],
            "temperature": 0.0,
            "stream": true,
        })))
        .with_status(200)
        .with_header("content-type", "text/event-stream; charset=utf-8")
        .with_body(answer(&["Bon", "jour"]))
        .create();
    let messages = [
        Message::system("Be brief."),
        Message::user("hello"),
        Message::assistant("bonjour"),
        Message::system("Answer in French."),
        Message::user("again"),
    ];
    let mut stream = client(&server.url()).stream_chat(&messages).unwrap();
    let (pieces, error) = drain(&mut stream);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Bon", "jour"]);
    assert!(stream.is_done());
    assert_eq!(stream.finish_reason(), Some("end_turn"));
    let usage = stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(12), Some(7), Some(19))
    );
    mock.assert();
}

#[test]
fn max_tokens_and_version_can_be_set_and_a_default_temperature_is_omitted() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("POST", "/v1/messages")
        .match_header("anthropic-version", "2099-01-01")
        .match_header("anthropic-beta", "some-beta")
        .match_body(Matcher::Json(json!({
            "model": "claude-test",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "hello"}],
            "stream": true,
        })))
        .with_header("content-type", "text/event-stream")
        .with_body(answer(&["ok"]))
        .create();
    let client = AnthropicClient::builder("claude-test", None)
        .api_key("k")
        .base_url(server.url())
        .max_tokens(100)
        .header("Anthropic-Version", "2099-01-01")
        .header("anthropic-beta", "some-beta")
        .env(|_| None)
        .build();
    assert_eq!(client.max_tokens(), 100);
    client.stream_chat(&hello()).unwrap().for_each(drop);
    mock.assert();
    // Exactly one version header went out.
    let server = serve(answer(&["ok"]));
    let client = AnthropicClient::builder("m", None)
        .api_key("k")
        .base_url(server.url())
        .header("anthropic-version", "2099-01-01")
        .env(|_| None)
        .build();
    client.stream_chat(&hello()).unwrap().for_each(drop);
    let request = server.requests().pop().unwrap();
    let versions = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("anthropic-version"))
        .count();
    assert_eq!(versions, 1);
}

#[test]
fn perform_stream_request_yields_the_named_events() {
    let server = serve(answer(&["a"]));
    let names: Vec<SmolStr> = client(&server.url())
        .perform_stream_request(&hello())
        .unwrap()
        .map(|event| event.unwrap().event)
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
}

#[test]
fn a_conversation_sends_its_system_prompt_as_the_system_field() {
    let server = serve(answer(&["o", "k"]));
    let mut chat = Conversation::new(client(&server.url())).with_system_prompt("be kind");
    assert_eq!(chat.send_with("hi", |_| {}).unwrap(), "ok");
    assert_eq!(chat.send_with("again", |_| {}).unwrap(), "ok");
    let sent: Value = serde_json::from_slice(&server.requests().pop().unwrap().body).unwrap();
    assert_eq!(sent["system"], "be kind");
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "again"},
        ])
    );
}

/// A refusal: some text, then `stop_reason: "refusal"` with `stop_details` (without them when
/// `explanation` is `None`).
fn refused(explanation: Option<&str>) -> String {
    let mut stop = message_delta("refusal", 3);
    if let Some(explanation) = explanation {
        stop["delta"]["stop_details"] =
            json!({"type": "refusal", "category": "cyber", "explanation": explanation});
    }
    sse_body(&[
        message_start(),
        block_start(0, json!({"type": "text", "text": ""})),
        text(0, "Hello.."),
        block_stop(0),
        stop,
        message_stop(),
    ])
}

/// Anthropic's refusal says why in `stop_details.explanation`: it is the stream's refusal, and
/// a `Conversation` does not keep the refused exchange (Anthropic asks for it to go, else
/// every later request is refused too).
#[test]
fn a_refusal_is_explained_and_not_kept_in_a_conversation() {
    let why = "This request was declined because it could enable cyber harm.";
    let (pieces, error, stream) = chat_over(refused(Some(why)));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Hello.."]);
    assert_eq!(stream.refusal(), Some(why));
    assert_eq!(stream.finish_reason(), Some("refusal"));
    let (_, _, stream) = chat_over(refused(None));
    assert!(stream.refusal().unwrap().contains("refusal"));

    let server = TestServer::start({
        let answers = std::sync::Mutex::new(vec![answer(&["o", "k"]), refused(Some(why))]);
        move |_| {
            let body = answers.lock().unwrap().pop().unwrap().into_bytes();
            Reply::sse(body.chunks(5).map(<[u8]>::to_vec), ms(0))
        }
    });
    let mut chat = Conversation::new(client(&server.url()));
    assert_eq!(chat.send_with("write malware", |_| {}).unwrap(), "Hello..");
    assert!(chat.messages().is_empty(), "{:?}", chat.messages());
    chat.send_with("write a poem", |_| {}).unwrap();
    let sent: Value = serde_json::from_slice(&server.requests().pop().unwrap().body).unwrap();
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "write a poem"}])
    );
    assert_eq!(chat.messages().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// What the streams contain
// ---------------------------------------------------------------------------------------------

#[test]
fn thinking_and_signatures_are_not_text() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        message_start(),
        block_start(
            0,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        ),
        delta(0, json!({"type": "thinking_delta", "thinking": "The user"})),
        delta(
            0,
            json!({"type": "thinking_delta", "thinking": " greets me."}),
        ),
        delta(0, json!({"type": "thinking_delta", "thinking": ""})),
        delta(
            0,
            json!({"type": "signature_delta", "signature": "EvMCCkYICxgCKkCHP2cS"}),
        ),
        block_stop(0),
        block_start(
            1,
            json!({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}),
        ),
        block_stop(1),
        block_start(2, json!({"type": "text", "text": ""})),
        text(2, "Hello!"),
        block_stop(2),
        message_delta("end_turn", 20),
        message_stop(),
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Hello!"]);
    assert_eq!(stream.reasoning(), "The user greets me.");
    assert!(!stream.reasoning().contains("EvMC"));
}

#[test]
fn tool_use_blocks_are_tool_calls_not_text() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        message_start(),
        block_start(0, json!({"type": "text", "text": ""})),
        text(0, "Let me check."),
        block_stop(0),
        block_start(
            1,
            json!({"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}}),
        ),
        delta(1, json!({"type": "input_json_delta", "partial_json": ""})),
        delta(
            1,
            json!({"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}),
        ),
        delta(
            1,
            json!({"type": "input_json_delta", "partial_json": "ris\"}"}),
        ),
        block_stop(1),
        block_start(
            2,
            json!({"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}}),
        ),
        delta(2, json!({"type": "input_json_delta", "partial_json": "{}"})),
        block_stop(2),
        message_delta("tool_use", 40),
        message_stop(),
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Let me check."]);
    let calls = stream.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (
            calls[0].index,
            calls[0].id.as_str(),
            calls[0].name.as_str(),
            calls[0].arguments.as_str()
        ),
        (0, "toolu_A", "get_weather", r#"{"city": "Paris"}"#)
    );
    assert_eq!(
        (
            calls[1].index,
            calls[1].id.as_str(),
            calls[1].arguments.as_str()
        ),
        (1, "toolu_B", "{}")
    );
    assert_eq!(stream.finish_reason(), Some("tool_use"));
}

/// An answer that stopped at `max_tokens` within a `tool_use` block (no `content_block_stop`):
/// the call's arguments stay as they came, cut, and the history goes back with the object its
/// whole members make, as Anthropic's SDK sends it; it was refused before sending.
#[test]
fn a_tool_call_cut_at_max_tokens_goes_back_as_its_whole_members() {
    use ureq_futures::llm::ChatRequest;
    let server = serve(sse_body(&[
        message_start(),
        block_start(
            0,
            json!({"type": "tool_use", "id": "toolu_A", "name": "make_file", "input": {}}),
        ),
        delta(
            0,
            json!({"type": "input_json_delta", "partial_json": "{\"name\": \"t.txt\", \"lines\": [\"# Taxes\", \"\", \"Filing"}),
        ),
        message_delta("max_tokens", 40),
        message_stop(),
    ]));
    let client = client(&server.url());
    let mut request = ChatRequest::new().user("Write the guide to a file.");
    let answer = client.complete(&request).unwrap();
    assert_eq!(answer.finish_reason.as_deref(), Some("max_tokens"));
    let call = answer.tool_calls[0].clone();
    assert_eq!(
        call.arguments,
        r##"{"name": "t.txt", "lines": ["# Taxes", "", "Filing"##
    );
    request.push(answer.message());
    request.push(Message::tool_error(&call, "the arguments were cut"));
    client.complete(&request).unwrap();
    let sent: Value = serde_json::from_slice(&server.requests()[1].body).unwrap();
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "toolu_A", "name": "make_file",
            "input": {"name": "t.txt", "lines": ["# Taxes", ""]}})
    );
}

// ---------------------------------------------------------------------------------------------
// Errors before the stream: status, key
// ---------------------------------------------------------------------------------------------

#[test]
fn an_overloaded_529_is_a_status_error_too() {
    let server = TestServer::start(|_| {
        Reply::status(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
    });
    let err = client(&server.url()).stream_chat(&hello()).unwrap_err();
    assert_eq!(err.status(), Some(529));
    assert!(
        err.to_string()
            .contains("Server responded with an error. Status Code: 529"),
        "{err}"
    );
    assert!(err.to_string().contains("Overloaded"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Server tools in a tool loop
// ---------------------------------------------------------------------------------------------

/// An answer that searched the web once, then called a client tool while a second search was
/// still to run (Anthropic runs it once the client tool's result comes back).
fn searched_then_called() -> String {
    sse_body(&[
        message_start(),
        block_start(
            0,
            json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        ),
        delta(
            0,
            json!({"type": "input_json_delta", "partial_json": "{\"query\": \"Oslo\"}"}),
        ),
        block_stop(0),
        block_start(
            1,
            json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
                "content": [{"type": "web_search_result", "url": "https://yr.no/", "title": "Yr",
                    "encrypted_content": "EqgB"}]}),
        ),
        block_stop(1),
        block_start(2, json!({"type": "text", "text": ""})),
        text(2, "Oslo is cold."),
        block_stop(2),
        block_start(
            3,
            json!({"type": "server_tool_use", "id": "srvtoolu_2", "name": "web_search", "input": {}}),
        ),
        delta(
            3,
            json!({"type": "input_json_delta", "partial_json": "{\"query\": \"Rome\"}"}),
        ),
        block_stop(3),
        block_start(
            4,
            json!({"type": "tool_use", "id": "toolu_A", "name": "local_time", "input": {}}),
        ),
        block_stop(4),
        message_delta("tool_use", 40),
        message_stop(),
    ])
}

#[test]
fn the_server_tools_blocks_go_back_with_the_assistant_turn() {
    use ureq_futures::llm::{ChatRequest, Part};
    let server = serve(searched_then_called());
    let client = client(&server.url());
    let mut request = ChatRequest::new().user("Weather in Oslo and Rome, and my time?");
    let answer = client.complete(&request).unwrap();
    assert_eq!(answer.tool_calls.len(), 1);
    let turn = answer.message();
    request.push(turn.clone());
    request.push(Message::tool_result(&answer.tool_calls[0], "12:00"));
    client.complete(&request).unwrap();
    let sent: Value = serde_json::from_slice(&server.requests()[1].body).unwrap();
    assert_eq!(
        sent["messages"][1],
        // In the order the blocks came.
        json!({"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "Oslo"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
                "content": [{"type": "web_search_result", "url": "https://yr.no/", "title": "Yr",
                    "encrypted_content": "EqgB"}]},
            {"type": "text", "text": "Oslo is cold."},
            {"type": "server_tool_use", "id": "srvtoolu_2", "name": "web_search", "input": {"query": "Rome"}},
            {"type": "tool_use", "id": "toolu_A", "name": "local_time", "input": {}},
        ]})
    );
    // The turn saves and reads back whole.
    let saved = serde_json::to_string(&turn).unwrap();
    assert_eq!(serde_json::from_str::<Message>(&saved).unwrap(), turn);
    assert!(matches!(turn.content[0], Part::ServerToolUse(_)));
}
