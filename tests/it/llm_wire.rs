//! The decoders' contract over loopback, for every provider, in each provider's own wire format:
//! tool calls tracked by their content block or index (server-side tools apart), Cohere's v2
//! stream, and the end-of-stream rule (a clean end right after a finish reason is a complete
//! answer; anywhere else it is a cut).

use serde_json::{json, Value};
use support::{ms, Reply, TestServer};
use ureq_futures::llm::{Message, Thought, ToolCall};
use ureq_futures::Error;

use crate::llm_streams::{client_for, drain as read, Outcome};

/// Bytes per write: small enough to split events, lines and JSON everywhere.
const PIECE: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Provider {
    OpenAI,
    Anthropic,
    Gemini,
    CohereV1,
    CohereV2,
}

/// A server answering every request with `body`, in pieces of [`PIECE`] bytes.
fn serve(provider: Provider, body: &str) -> TestServer {
    let body = body.as_bytes().to_vec();
    let content_type = match provider {
        Provider::CohereV1 => "application/stream+json",
        _ => "text/event-stream",
    };
    TestServer::start(move |_| {
        Reply::chunked(body.chunks(PIECE).map(<[u8]>::to_vec), ms(0)).content_type(content_type)
    })
}

/// Streams `body` from a local server through `provider`'s client and reads it to its end.
fn chat(provider: Provider, body: &str) -> Outcome {
    let server = serve(provider, body);
    let name = match provider {
        Provider::OpenAI => "openai",
        Provider::Anthropic => "anthropic",
        Provider::Gemini => "gemini",
        Provider::CohereV1 => "cohere",
        Provider::CohereV2 => "cohere_v2",
    };
    let client = client_for(name, &server.url()).expect("a client");
    read(
        client
            .stream_chat(&[Message::user("hi")])
            .expect("the request"),
    )
}

/// SSE events named after their data's `type` (Anthropic, Cohere v2). Also `llm_contract`'s.
pub(crate) fn typed_events(payloads: &[Value]) -> String {
    payloads
        .iter()
        .map(|p| format!("event: {}\ndata: {p}\n\n", p["type"].as_str().unwrap_or("")))
        .collect()
}

/// Unnamed SSE events (OpenAI; Gemini uses CRLF).
fn data_events(payloads: &[Value], line_end: &str) -> String {
    payloads
        .iter()
        .map(|p| format!("data: {p}{line_end}{line_end}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tool calls
// ---------------------------------------------------------------------------------------------

/// Each call's index, id, name and arguments. Also `llm_decoders`'.
pub(crate) fn call_fields(calls: &[ToolCall]) -> Vec<(usize, &str, &str, &str)> {
    calls
        .iter()
        .map(|c| {
            (
                c.index,
                c.id.as_str(),
                c.name.as_str(),
                c.arguments.as_str(),
            )
        })
        .collect()
}

pub(crate) fn anthropic_block(index: u64, block: Value) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": block})
}

pub(crate) fn anthropic_delta(index: u64, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

pub(crate) fn anthropic_json(index: u64, partial: &str) -> Value {
    anthropic_delta(
        index,
        json!({"type": "input_json_delta", "partial_json": partial}),
    )
}

pub(crate) fn anthropic_text(index: u64, text: &str) -> Value {
    anthropic_delta(index, json!({"type": "text_delta", "text": text}))
}

fn anthropic_stop(index: u64) -> Value {
    json!({"type": "content_block_stop", "index": index})
}

/// An Anthropic answer that searches the web (a server tool), then asks the caller to run a
/// client tool, as the Messages API streams it.
fn anthropic_web_search_then_tool_use() -> String {
    typed_events(&[
        json!({"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null,
            "usage": {"input_tokens": 2679, "output_tokens": 3}}}),
        anthropic_block(0, json!({"type": "text", "text": ""})),
        anthropic_text(0, "Let me search for that."),
        anthropic_stop(0),
        anthropic_block(
            1,
            json!({"type": "server_tool_use", "id": "srvtoolu_014hJH82Qum7Td6UV8gDXThB", "name": "web_search", "input": {}}),
        ),
        anthropic_json(1, ""),
        anthropic_json(1, "{\"query\": \"weather"),
        anthropic_json(1, " in Paris today\"}"),
        anthropic_stop(1),
        anthropic_block(
            2,
            json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_014hJH82Qum7Td6UV8gDXThB",
            "content": [{"type": "web_search_result", "title": "Paris weather", "url": "https://weather.example/paris",
                "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1kNjNjNTk1ZWI3Y", "page_age": "2 hours ago"}]}),
        ),
        anthropic_stop(2),
        anthropic_block(3, json!({"type": "text", "text": ""})),
        anthropic_delta(
            3,
            json!({"type": "citations_delta", "citation": {"type": "web_search_result_location",
            "cited_text": "21°C", "url": "https://weather.example/paris", "title": "Paris weather",
            "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0"}}),
        ),
        anthropic_text(3, " It is 21°C in Paris."),
        anthropic_stop(3),
        anthropic_block(
            4,
            json!({"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "to_fahrenheit", "input": {}}),
        ),
        anthropic_json(4, ""),
        anthropic_json(4, "{\"celsius\""),
        anthropic_json(4, ": 21}"),
        anthropic_stop(4),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 180, "server_tool_use": {"web_search_requests": 1}}}),
        json!({"type": "message_stop"}),
    ])
}

#[test]
fn anthropic_web_search_is_not_a_client_call_and_the_tool_use_after_it_is() {
    let outcome = chat(Provider::Anthropic, &anthropic_web_search_then_tool_use());
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.text, "Let me search for that. It is 21°C in Paris.");
    let stream = &outcome.stream;
    let calls = stream.tool_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (
            calls[0].index,
            calls[0].id.as_str(),
            calls[0].name.as_str(),
            calls[0].arguments.as_str()
        ),
        (
            0,
            "toolu_01A09q90qw90lq917835lq9",
            "to_fahrenheit",
            "{\"celsius\": 21}"
        )
    );
    let searches = stream.server_tool_uses();
    assert_eq!(searches.len(), 1, "{searches:?}");
    assert_eq!(
        (searches[0].name.as_str(), searches[0].arguments.as_str()),
        ("web_search", "{\"query\": \"weather in Paris today\"}")
    );
    let results = stream.server_tool_results();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].tool_use_id, searches[0].id);
    assert_eq!(results[0].kind, "web_search_tool_result");
    assert_eq!(results[0].block["content"][0]["title"], "Paris weather");
    assert_eq!(stream.finish_reason(), Some("tool_use"));
    assert!(stream.is_done());
}

#[test]
fn anthropic_client_calls_keep_their_pieces_when_a_server_tool_interleaves() {
    // Pieces of two blocks interleaved: each goes to the block whose index it carries.
    let body = typed_events(&[
        anthropic_block(
            0,
            json!({"type": "tool_use", "id": "toolu_A", "name": "add", "input": {}}),
        ),
        anthropic_block(
            1,
            json!({"type": "server_tool_use", "id": "srvtoolu_B", "name": "code_execution", "input": {}}),
        ),
        anthropic_json(0, "{\"a\": "),
        anthropic_json(1, "{\"code\": \"print(1)\"}"),
        anthropic_json(0, "1}"),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
        json!({"type": "message_stop"}),
    ]);
    let outcome = chat(Provider::Anthropic, &body);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let calls = outcome.stream.tool_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (calls[0].name.as_str(), calls[0].arguments.as_str()),
        ("add", "{\"a\": 1}")
    );
    assert_eq!(
        outcome.stream.server_tool_uses()[0].arguments,
        "{\"code\": \"print(1)\"}"
    );
}

#[test]
fn anthropic_thinking_blocks_come_whole_with_their_signatures() {
    let thinking = |delta: Value| anthropic_delta(0, delta);
    let body = typed_events(&[
        anthropic_block(0, json!({"type": "thinking", "thinking": ""})),
        thinking(json!({"type": "thinking_delta", "thinking": "The user wants "})),
        thinking(json!({"type": "thinking_delta", "thinking": "Fahrenheit."})),
        // A signature delta holds the whole signature: a second one replaces the first, as
        // the SDK's accumulator does.
        thinking(json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM"})),
        thinking(json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"})),
        anthropic_stop(0),
        anthropic_block(
            1,
            json!({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}),
        ),
        anthropic_stop(1),
        anthropic_block(
            2,
            json!({"type": "tool_use", "id": "toolu_1", "name": "to_fahrenheit", "input": {}}),
        ),
        anthropic_json(2, "{\"celsius\": 21}"),
        anthropic_stop(2),
        // Interleaved thinking: a second block, after the call. One without a signature (not
        // sent back: Anthropic would refuse it unsigned) is reasoning only.
        anthropic_block(
            3,
            json!({"type": "thinking", "thinking": "Done.", "signature": "Sig3"}),
        ),
        anthropic_stop(3),
        anthropic_block(4, json!({"type": "thinking", "thinking": "Unsigned."})),
        anthropic_stop(4),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
        json!({"type": "message_stop"}),
    ]);
    let outcome = chat(Provider::Anthropic, &body);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let stream = &outcome.stream;
    assert_eq!(
        stream.reasoning(),
        "The user wants Fahrenheit.Done.Unsigned."
    );
    assert_eq!(
        stream.thoughts(),
        [
            Thought::Signed {
                text: "The user wants Fahrenheit.".into(),
                signature: "EqQBCgIYAhIM1gbcDa9GJwZA".into()
            },
            Thought::Redacted {
                data: "EmwKAhgBEgy3va3pzix".into()
            },
            Thought::Signed {
                text: "Done.".into(),
                signature: "Sig3".into()
            },
        ]
    );
    assert_eq!(stream.tool_calls()[0].arguments, "{\"celsius\": 21}");
}

fn openai_chunk(delta: Value, finish_reason: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]})
}

#[test]
fn openai_parallel_tool_calls_are_assembled_by_index() {
    let call_start = |index: u64, id: &str, name: &str| {
        openai_chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
            Value::Null,
        )
    };
    let args = |index: u64, piece: &str| {
        openai_chunk(
            json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
            Value::Null,
        )
    };
    let mut body = data_events(
        &[
            openai_chunk(
                json!({"role": "assistant", "content": null, "refusal": null}),
                Value::Null,
            ),
            call_start(0, "call_paris", "get_weather"),
            args(0, "{\"city\": "),
            call_start(1, "call_rome", "get_weather"),
            args(1, "{\"city\": \"Rome\"}"),
            args(0, "\"Paris\"}"),
            openai_chunk(json!({}), json!("tool_calls")),
        ],
        "\n",
    );
    body.push_str("data: [DONE]\n\n");
    let outcome = chat(Provider::OpenAI, &body);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.text, "");
    let calls = call_fields(outcome.stream.tool_calls());
    assert_eq!(
        calls,
        [
            (0, "call_paris", "get_weather", "{\"city\": \"Paris\"}"),
            (1, "call_rome", "get_weather", "{\"city\": \"Rome\"}"),
        ]
    );
    assert_eq!(outcome.stream.finish_reason(), Some("tool_calls"));
}

#[test]
fn gemini_function_calls_are_whole_calls_with_their_ids() {
    let body = data_events(
        &[
            json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"id": "fc_1", "name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQB"},
            {"functionCall": {"id": "fc_2", "name": "get_time", "args": {}}}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 12, "totalTokenCount": 42}}),
        ],
        "\r\n",
    );
    let outcome = chat(Provider::Gemini, &body);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let calls = call_fields(outcome.stream.tool_calls());
    assert_eq!(
        calls,
        [
            (0, "fc_1", "get_weather", "{\"city\":\"Paris\"}"),
            (1, "fc_2", "get_time", "{}"),
        ]
    );
    // Gemini 3 wants the signature back with the call in the history.
    let signatures: Vec<Option<&str>> = outcome
        .stream
        .tool_calls()
        .iter()
        .map(|c| c.signature.as_deref())
        .collect();
    assert_eq!(signatures, [Some("CiQB"), None]);
    assert!(outcome.stream.is_done());
}

fn cohere_v2_tool_answer() -> Vec<Value> {
    let tool_call = |index: u64, id: &str, name: &str| {
        json!({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": {
            "id": id, "type": "function", "function": {"name": name, "arguments": ""}}}}})
    };
    let args = |index: u64, piece: &str| {
        json!({"type": "tool-call-delta", "index": index,
            "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}})
    };
    vec![
        json!({"id": "e0f6", "type": "message-start", "delta": {"message": {"role": "assistant",
            "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
        json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will check"}}}),
        json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": " both cities."}}}),
        tool_call(0, "get_weather_nsz5zm3w56q3", "get_weather"),
        args(0, "{\n    \"location\": \""),
        tool_call(1, "get_weather_9h2m0vz8dmqs", "get_weather"),
        args(1, "{\"location\": \"Rome\"}"),
        args(0, "Toronto\"\n}"),
        json!({"type": "tool-call-end", "index": 0}),
        json!({"type": "tool-call-end", "index": 1}),
        json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": {
            "billed_units": {"input_tokens": 37, "output_tokens": 28},
            "tokens": {"input_tokens": 913, "output_tokens": 83}}}}),
    ]
}

#[test]
fn cohere_v2_tool_calls_and_plan_are_not_text() {
    let body = typed_events(&cohere_v2_tool_answer()) + "data: [DONE]\n\n";
    let outcome = chat(Provider::CohereV2, &body);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let stream = &outcome.stream;
    assert_eq!(outcome.text, "");
    assert_eq!(stream.tool_plan(), "I will check both cities.");
    let calls: Vec<(&str, &str)> = stream
        .tool_calls()
        .iter()
        .map(|c| (c.id.as_str(), c.arguments.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "get_weather_nsz5zm3w56q3",
                "{\n    \"location\": \"Toronto\"\n}"
            ),
            ("get_weather_9h2m0vz8dmqs", "{\"location\": \"Rome\"}"),
        ]
    );
    assert!(stream.tool_calls().iter().all(|c| c.name == "get_weather"));
    assert_eq!(stream.finish_reason(), Some("TOOL_CALL"));
    let usage = stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(913), Some(83))
    );
    assert!(stream.is_done());
}

#[test]
fn cohere_v2_text_with_citations_is_only_the_text() {
    let content = |text: &str| {
        json!({"type": "content-delta", "index": 0,
            "delta": {"message": {"content": {"text": text}}}})
    };
    let body = typed_events(&[
        json!({"id": "a1", "type": "message-start", "delta": {"message": {"role": "assistant"}}}),
        json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        content("The tallest penguins are "),
        content("emperor penguins."),
        json!({"type": "citation-start", "index": 0, "delta": {"message": {"citations": {
            "start": 25, "end": 42, "text": "emperor penguins.", "sources": [{"type": "document",
            "id": "doc:0", "document": {"id": "doc:0", "text": "Emperor penguins are the tallest."}}]}}}}),
        json!({"type": "citation-end", "index": 0}),
        json!({"type": "content-end", "index": 0}),
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE",
            "usage": {"tokens": {"input_tokens": 10, "output_tokens": 6}}}}),
    ]) + "data: [DONE]\n\n";
    let outcome = chat(Provider::CohereV2, &body);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.text, "The tallest penguins are emperor penguins.");
    assert_eq!(outcome.stream.finish_reason(), Some("COMPLETE"));
}

// ---------------------------------------------------------------------------------------------
// The end of the stream
// ---------------------------------------------------------------------------------------------

/// One provider's case of the end-of-stream rule.
struct EndCase {
    provider: Provider,
    /// A stream ending cleanly right after its finish reason, without an end marker.
    finished: String,
    /// Its text.
    text: &'static str,
    /// A stream ending cleanly before any finish reason.
    cut: String,
    /// What the cut's error must name.
    missing: &'static [&'static str],
}

fn end_cases() -> Vec<EndCase> {
    let openai_text = openai_chunk(json!({"content": "Hello"}), Value::Null);
    let openai_stop = openai_chunk(json!({}), json!("stop"));
    let openai_usage = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}});
    let anthropic_start = anthropic_block(0, json!({"type": "text", "text": ""}));
    let anthropic_end = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 1}});
    let gemini_text =
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}}]});
    let gemini_stop = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "!"}]},
        "finishReason": "STOP"}]});
    let cohere_v2_text = json!({"type": "content-delta", "index": 0,
        "delta": {"message": {"content": {"text": "Hello"}}}});
    let cohere_v2_end = json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE"}});
    vec![
        EndCase {
            provider: Provider::OpenAI,
            finished: data_events(&[openai_text.clone(), openai_stop, openai_usage], "\n"),
            text: "Hello",
            cut: data_events(&[openai_text], "\n"),
            missing: &["finish_reason", "data: [DONE]"],
        },
        EndCase {
            provider: Provider::Anthropic,
            finished: typed_events(&[
                anthropic_start.clone(),
                anthropic_text(0, "Hello"),
                anthropic_stop(0),
                anthropic_end,
            ]),
            text: "Hello",
            cut: typed_events(&[
                anthropic_start,
                anthropic_text(0, "Hello"),
                anthropic_stop(0),
            ]),
            missing: &["stop_reason", "message_stop"],
        },
        EndCase {
            provider: Provider::Gemini,
            finished: data_events(&[gemini_text.clone(), gemini_stop], "\r\n"),
            text: "Hello!",
            cut: data_events(&[gemini_text], "\r\n"),
            missing: &["finishReason"],
        },
        EndCase {
            provider: Provider::CohereV2,
            finished: typed_events(&[cohere_v2_text.clone(), cohere_v2_end]),
            text: "Hello",
            cut: typed_events(&[cohere_v2_text]),
            missing: &["message-end", "data: [DONE]"],
        },
    ]
}

#[test]
fn a_clean_end_right_after_a_finish_reason_is_a_complete_answer() {
    for case in end_cases() {
        let outcome = chat(case.provider, &case.finished);
        assert!(
            outcome.error.is_none(),
            "{:?}: {:?}",
            case.provider,
            outcome.error
        );
        assert_eq!(outcome.text, case.text, "{:?}", case.provider);
        assert!(outcome.stream.is_done(), "{:?}", case.provider);
        assert!(
            outcome.stream.finish_reason().is_some(),
            "{:?}",
            case.provider
        );
    }
}

#[test]
fn a_clean_end_before_any_finish_reason_is_a_cut_naming_what_is_missing() {
    for case in end_cases() {
        let outcome = chat(case.provider, &case.cut);
        assert_eq!(outcome.text, case.text.trim_end_matches('!'));
        match &outcome.error {
            Some(Error::Protocol(message)) => {
                assert!(message.contains("cut"), "{:?}: {message}", case.provider);
                for name in case.missing {
                    assert!(
                        message.contains(&format!("`{name}`")),
                        "{:?}: {message} does not name {name}",
                        case.provider
                    );
                }
            }
            other => panic!("{:?}: expected a cut, got {other:?}", case.provider),
        }
        assert!(!outcome.stream.is_done(), "{:?}", case.provider);
    }
}

#[test]
fn cohere_v1_is_cut_without_stream_end() {
    // v1 has no finish reason apart from its end marker: without `stream-end` it is a cut.
    let body = "{\"is_finished\":false,\"event_type\":\"stream-start\",\"generation_id\":\"g\"}\n\
                {\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":\"Arr\"}\n";
    let outcome = chat(Provider::CohereV1, body);
    assert_eq!(outcome.text, "Arr");
    assert!(
        matches!(&outcome.error, Some(Error::Protocol(m)) if m.contains("cut") && m.contains("`stream-end`")),
        "{:?}",
        outcome.error
    );
}
