//! The decoders through their public API (`sse::Decode` fed by an `EventReader`, or Cohere v1's
//! lines as events): the event-by-event detail of each provider's stream that the loopback
//! suites (`llm_contract`, `llm_wire`, `llm_streams`, the provider modules) do not reach, and
//! `ChatStream`'s folding of the events.

use serde_json::{json, Value};
use ureq_futures::llm::{
    AnthropicDecoder, ChatEvent, ChatResponse, ChatStream, CohereDecoder, CohereV2Decoder,
    GeminiDecoder, OpenAIDecoder, Part, Thought, ToolCallDelta, Usage,
};
use ureq_futures::sse::{Decode, Event, EventReader};
use ureq_futures::Error;

use crate::llm_wire::{anthropic_block, anthropic_json, anthropic_text, call_fields, typed_events};

type Decoded = Result<Vec<ChatEvent>, Error>;

/// Runs `decoder` over the Server-Sent Events of `body` as a stream's worker does: every
/// event's batch, then `finish`'s; the first error ends it.
fn decode<D: Decode<Item = Vec<ChatEvent>>>(mut decoder: D, body: &str) -> Decoded {
    let mut out = Vec::new();
    for event in EventReader::new(body.as_bytes()) {
        out.extend(decoder.decode(event?)?.unwrap_or_default());
    }
    out.extend(decoder.finish()?.unwrap_or_default());
    Ok(out)
}

/// Runs a Cohere v1 decoder over `lines`, each one event's data, as the line framing hands
/// them over.
fn decode_lines(lines: &[&str]) -> Decoded {
    let mut decoder = CohereDecoder::new();
    let mut out = Vec::new();
    for line in lines {
        let event = Event {
            event: "message".into(),
            data: line.to_string(),
            id: None,
            retry: None,
        };
        out.extend(decoder.decode(event)?.unwrap_or_default());
    }
    out.extend(decoder.finish()?.unwrap_or_default());
    Ok(out)
}

fn openai(body: &str) -> Decoded {
    decode(OpenAIDecoder::new(), body)
}

fn anthropic(payloads: &[Value]) -> Decoded {
    decode(AnthropicDecoder::new(), &typed_events(payloads))
}

fn gemini(payloads: &[Value]) -> Decoded {
    let body: String = payloads
        .iter()
        .map(|p| format!("data: {p}\r\n\r\n"))
        .collect();
    decode(GeminiDecoder::new(), &body)
}

fn cohere_v2(body: &str) -> Decoded {
    decode(CohereV2Decoder::new(), body)
}

/// A piece of a tool call.
fn piece(index: usize, id: Option<&str>, name: Option<&str>, arguments: &str) -> ToolCallDelta {
    ToolCallDelta {
        index: Some(index),
        id: id.map(str::to_string),
        name: name.map(str::to_string),
        arguments: arguments.to_string(),
        signature: None,
    }
}

/// [`ChatEvent::ToolCall`] of a [`piece`].
fn call(index: usize, id: Option<&str>, name: Option<&str>, arguments: &str) -> ChatEvent {
    ChatEvent::ToolCall(piece(index, id, name, arguments))
}

fn finish(reason: &str) -> ChatEvent {
    ChatEvent::Finish(reason.into())
}

/// One chunk of an OpenAI stream as an event: `choices[0]` with `delta`.
fn openai_delta(delta: Value) -> String {
    format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": delta}]})
    )
}

fn message_stop() -> Value {
    json!({"type": "message_stop"})
}

/// A Gemini chunk of one candidate with `parts` and, if given, its finish reason.
fn gemini_parts(parts: Value, finish: Option<&str>) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}});
    if let Some(reason) = finish {
        candidate["finishReason"] = json!(reason);
    }
    json!({"candidates": [candidate]})
}

// ---------------------------------------------------------------------------------------------
// What every decoder does alike
// ---------------------------------------------------------------------------------------------

#[test]
fn nothing_after_the_end_marker_is_read() {
    let late_text = openai_delta(json!({"content": "x"}));
    let text = |t: &str| ChatEvent::Text(t.into());
    let cases: [(&str, Decoded, Vec<ChatEvent>); 4] = [
        (
            "OpenAI",
            openai(&format!(
                "{}data: [DONE]\n\n{late_text}data: nonsense\n\n",
                openai_delta(json!({"content": "a"}))
            )),
            vec![text("a"), ChatEvent::Done],
        ),
        (
            "Anthropic",
            decode(
                AnthropicDecoder::new(),
                &(typed_events(&[
                    anthropic_text(0, "a"),
                    message_stop(),
                    anthropic_text(0, "x"),
                ]) + "data: not json\n\n"),
            ),
            vec![text("a"), ChatEvent::Done],
        ),
        (
            "Cohere v2",
            cohere_v2(&format!(
                "{}data: [DONE]\n\ndata: nonsense\n\n",
                typed_events(&[json!({"type": "content-delta", "index": 0,
                    "delta": {"message": {"content": {"text": "a"}}}})])
            )),
            vec![text("a"), ChatEvent::Done],
        ),
        (
            "Cohere v1",
            decode_lines(&[
                r#"{"event_type":"stream-end","finish_reason":"COMPLETE"}"#,
                r#"{"event_type":"text-generation","text":"late"}"#,
                "garbage",
            ]),
            vec![finish("COMPLETE"), ChatEvent::Done],
        ),
    ];
    for (name, decoded, expected) in cases {
        assert_eq!(decoded.unwrap(), expected, "{name}");
    }
}

#[test]
fn an_end_marker_before_any_of_the_answer_is_an_error() {
    // A gateway's answer to an upstream failure: the marker alone, or after usage or a role.
    let usage = r#"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":0}}"#;
    let role = openai_delta(json!({"role": "assistant"}));
    let cases = [
        ("OpenAI", openai("data: [DONE]\n\n"), "data: [DONE]"),
        (
            "OpenAI, after a role and usage",
            openai(&format!("{role}{usage}\n\ndata: [DONE]\n\n")),
            "data: [DONE]",
        ),
        ("Cohere v2", cohere_v2("data: [DONE]\n\n"), "data: [DONE]"),
        (
            "Anthropic",
            anthropic(&[
                json!({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
                message_stop(),
            ]),
            "message_stop",
        ),
        (
            "Cohere v1",
            decode_lines(&[
                r#"{"event_type":"stream-start"}"#,
                r#"{"event_type":"stream-end"}"#,
            ]),
            "stream-end",
        ),
    ];
    for (name, decoded, marker) in cases {
        match decoded {
            Err(e @ Error::Protocol(_)) => {
                let m = e.to_string();
                assert!(
                    m.contains("the answer was cut") && m.contains(&format!("`{marker}` before")),
                    "{name}: {m}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // An answer that says nothing still has its finish reason: it is whole.
    let stop = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    assert_eq!(
        openai(&format!("{stop}data: [DONE]\n\n")).unwrap(),
        [finish("stop"), ChatEvent::Done]
    );
}

#[test]
fn a_whole_cohere_v1_answer_in_place_of_the_stream_says_so() {
    let whole = r#"{"response_id":"r","text":"Hello there","generation_id":"g","finish_reason":"COMPLETE","meta":{}}"#;
    match decode_lines(&[whole]) {
        Err(Error::Protocol(m)) => assert_eq!(
            m,
            "the server answered with a whole answer, not a stream: it ignored `\"stream\": \
             true` (check the base URL and that the server streams)"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn more_of_the_answer_after_the_finish_reason_is_a_cut() {
    let stop = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".to_string();
    let cases = [
        (
            "finish_reason",
            openai(&(stop + &openai_delta(json!({"content": "more"})))),
        ),
        (
            "stop_reason",
            anthropic(&[
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
                anthropic_text(0, "more"),
            ]),
        ),
        (
            "finishReason",
            gemini(&[
                gemini_parts(json!([{"text": "a"}]), Some("STOP")),
                gemini_parts(json!([{"text": "b"}]), None),
            ]),
        ),
    ];
    for (reason, decoded) in cases {
        match decoded {
            Err(Error::Protocol(m)) => assert!(
                m.contains("cut") && m.contains(&format!("came after its `{reason}`")),
                "{m}"
            ),
            other => panic!("{reason}: {other:?}"),
        }
    }
    // Usage alone after the finish reason changes nothing.
    let usage_after = gemini(&[
        gemini_parts(json!([{"text": "a"}]), Some("STOP")),
        json!({"usageMetadata": {"promptTokenCount": 1}}),
    ]);
    assert_eq!(usage_after.unwrap().last(), Some(&ChatEvent::Done));
}

/// The kind and message of an [`Error::Api`]; panics on anything else.
fn api_error(name: &str, decoded: Decoded) -> (Option<String>, String) {
    match decoded {
        Err(Error::Api { kind, message }) => (kind, message),
        other => panic!("{name}: expected an api error, got {other:?}"),
    }
}

#[test]
fn errors_in_a_stream_keep_their_kind_and_message() {
    let some = |s: &str| Some(s.to_string());
    let cases: Vec<(&str, Decoded, Option<String>, &str)> = vec![
        (
            "OpenAI, a numeric code",
            openai("data: {\"error\":{\"code\":400,\"message\":\"Token limit reached\"}}\n\n"),
            some("400"),
            "Token limit reached",
        ),
        (
            "OpenAI, a null code: the type",
            openai("data: {\"error\":{\"message\":\"m\",\"type\":\"t\",\"code\":null}}\n\n"),
            some("t"),
            "m",
        ),
        (
            "OpenAI, an event: error",
            openai("event: error\ndata: {\"message\":\"boom\"}\n\n"),
            None,
            "boom",
        ),
        (
            "OpenAI, plain words",
            openai("event: error\ndata: plain words\n\n"),
            None,
            "plain words",
        ),
        (
            "Anthropic, an unnamed error event",
            decode(
                AnthropicDecoder::new(),
                "data: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}\n\n",
            ),
            some("api_error"),
            "boom",
        ),
        (
            "Anthropic, an error without its object",
            decode(AnthropicDecoder::new(), "data: {\"type\":\"error\"}\n\n"),
            None,
            "error",
        ),
        (
            "Anthropic, plain words",
            decode(AnthropicDecoder::new(), "event: error\ndata: plain words\n\n"),
            None,
            "plain words",
        ),
        (
            "Gemini, an array of one error",
            decode(
                GeminiDecoder::new(),
                "data: [{\"error\": {\"code\": 429, \"message\": \"quota\"}}]\n\n",
            ),
            some("429"),
            "quota",
        ),
        (
            "Gemini, an event: error from a proxy, data not JSON",
            decode(GeminiDecoder::new(), "event: error\ndata: {\"details\":nul\n\n"),
            None,
            "{\"details\":nul",
        ),
        (
            "Gemini, an error without a message: its JSON",
            decode(GeminiDecoder::new(), "data: {\"error\": {\"detail\": 1}}\n\n"),
            None,
            r#"{"detail":1}"#,
        ),
        (
            "Cohere v1, an ERROR with its words",
            decode_lines(&[
                r#"{"event_type":"stream-end","finish_reason":"ERROR","error":"internal failure"}"#,
            ]),
            some("ERROR"),
            "internal failure",
        ),
        (
            "Cohere v1, a message",
            decode_lines(&[r#"{"message":"invalid api token"}"#]),
            None,
            "invalid api token",
        ),
        (
            "Cohere v1, an error object",
            decode_lines(&[r#"{"error":{"code":500,"detail":"boom"}}"#]),
            None,
            "boom",
        ),
        (
            "Cohere v2, an ERROR with its words",
            cohere_v2(&typed_events(&[
                json!({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal failure"}}),
            ])),
            some("ERROR"),
            "internal failure",
        ),
        (
            "Cohere v2, a TIMEOUT",
            cohere_v2(&typed_events(&[
                json!({"type": "message-end", "delta": {"finish_reason": "TIMEOUT"}}),
            ])),
            some("TIMEOUT"),
            "TIMEOUT",
        ),
        (
            "Cohere v2, a message",
            cohere_v2("data: {\"message\":\"invalid api token\"}\n\n"),
            None,
            "invalid api token",
        ),
        (
            "Cohere v2, an error by its type, after text",
            cohere_v2(concat!(
                "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"a\"}}}}\n\n",
                "data: {\"type\":\"error\",\"message\":\"internal server error\"}\n\n",
            )),
            None,
            "internal server error",
        ),
        (
            "Cohere v2, an error by its type, without words",
            cohere_v2("data: {\"type\":\"error\"}\n\n"),
            None,
            "without a message",
        ),
    ];
    for (name, decoded, kind, words) in cases {
        let (got_kind, message) = api_error(name, decoded);
        assert_eq!(got_kind, kind, "{name}");
        assert!(message.contains(words), "{name}: {message}");
    }
}

#[test]
fn a_tool_call_without_a_name_is_refused() {
    let unnamed = openai_delta(
        json!({"tool_calls": [{"index": 3, "id": "c", "function": {"arguments": "{}"}}]}),
    );
    let cases = [
        ("OpenAI, at [DONE]", openai(&format!("{unnamed}data: [DONE]\n\n"))),
        (
            "OpenAI, at the finish reason",
            openai(&format!(
                "{unnamed}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"tool_calls\"}}]}}\n\n"
            )),
        ),
        (
            "Anthropic, an empty name",
            anthropic(&[
                anthropic_block(0, json!({"type": "tool_use", "id": "t", "name": "", "input": {}})),
                message_stop(),
            ]),
        ),
        (
            "Anthropic, no name",
            anthropic(&[
                anthropic_block(0, json!({"type": "tool_use", "id": "t", "input": {}})),
                message_stop(),
            ]),
        ),
        (
            "Gemini",
            gemini(&[gemini_parts(
                json!([{"functionCall": {"args": {"a": 1}}}]),
                Some("STOP"),
            )]),
        ),
        (
            "Cohere v1",
            decode_lines(&[r#"{"event_type":"tool-calls-generation","tool_calls":[{"parameters":{}}]}"#]),
        ),
        (
            "Cohere v2",
            cohere_v2(&typed_events(&[json!({"type": "tool-call-start", "index": 0,
                "delta": {"message": {"tool_calls": {"id": "x", "function": {"arguments": "{}"}}}}})])),
        ),
    ];
    for (name, decoded) in cases {
        match decoded {
            Err(Error::Protocol(m)) => {
                assert!(m.contains("without a") && m.contains("name"), "{name}: {m}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI
// ---------------------------------------------------------------------------------------------

#[test]
fn openai_pieces_before_the_name_wait_for_it() {
    let early = openai_delta(
        json!({"tool_calls": [{"index": 3, "id": "c", "function": {"arguments": "{\"a\""}}]}),
    );
    let named = openai_delta(
        json!({"tool_calls": [{"index": 3, "function": {"name": "f", "arguments": ":1}"}}]}),
    );
    assert_eq!(
        openai(&format!("{early}{named}data: [DONE]\n\n")).unwrap(),
        [call(0, Some("c"), Some("f"), "{\"a\":1}"), ChatEvent::Done]
    );
}

#[test]
fn openai_calls_without_an_index_follow_their_ids_and_object_arguments_are_text() {
    let body = openai_delta(json!({"tool_calls": [
        {"id": "a", "function": {"name": "f", "arguments": {"x": 1}}},
        {"id": "b", "function": {"name": "g", "arguments": "{\"k\""}},
    ]})) + &openai_delta(json!({"tool_calls": [{"function": {"arguments": ":1}"}}]}))
        + "data: [DONE]\n\n";
    assert_eq!(
        openai(&body).unwrap()[..3],
        [
            call(0, Some("a"), Some("f"), "{\"x\":1}"),
            call(1, Some("b"), Some("g"), "{\"k\""),
            call(1, None, None, ":1}"),
        ]
    );
}

#[test]
fn openai_calls_that_reuse_an_index_with_a_new_id_are_new_calls() {
    // Ollama sends each parallel call whole, every one at index 0.
    let whole = |id: &str, file: &str| {
        let arguments = json!({"file": file}).to_string();
        openai_delta(
            json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
            "function": {"name": "write", "arguments": arguments}}]}),
        )
    };
    // A continuation without an id, or with the same one, stays with the last call.
    let more = openai_delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": " "}}]}));
    let same = openai_delta(json!({"tool_calls": [{"index": 0, "id": "b", "function": {}}]}));
    let body = whole("a", "x") + &whole("b", "y") + &more + &same + "data: [DONE]\n\n";
    let calls = collect(openai(&body)).tool_calls;
    let calls: Vec<_> = calls.iter().map(|c| (&*c.id, &*c.arguments)).collect();
    assert_eq!(calls, [("a", r#"{"file":"x"}"#), ("b", r#"{"file":"y"} "#)]);
    // A first call without an id: the next one's id starts another all the same.
    let body = whole("", "x") + &whole("b", "y") + "data: [DONE]\n\n";
    let calls = collect(openai(&body)).tool_calls;
    let calls: Vec<_> = calls.iter().map(|c| (&*c.id, &*c.arguments)).collect();
    assert_eq!(calls, [("", r#"{"file":"x"}"#), ("b", r#"{"file":"y"}"#)]);
}

#[test]
fn openai_pieces_with_a_new_id_but_no_name_continue_their_call() {
    // A few servers send a new id with every piece of a call's arguments.
    let piece = |id: &str, function: Value| {
        openai_delta(json!({"tool_calls": [{"index": 0, "id": id, "function": function}]}))
    };
    let body = piece("c1", json!({"name": "w", "arguments": "{\"a\""}))
        + &piece("c1b", json!({"arguments": ":1"}))
        + &piece("c1c", json!({"arguments": "}"}))
        + "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
        + "data: [DONE]\n\n";
    // The pieces that continue the call carry no id of their own.
    let events = openai(&body).unwrap();
    assert_eq!(
        events[..3],
        [
            call(0, Some("c1"), Some("w"), "{\"a\""),
            call(0, None, None, ":1"),
            call(0, None, None, "}"),
        ]
    );
    let calls = collect(openai(&body)).tool_calls;
    let calls: Vec<_> = calls
        .iter()
        .map(|c| (&*c.id, &*c.name, &*c.arguments))
        .collect();
    assert_eq!(calls, [("c1", "w", r#"{"a":1}"#)]);
}

/// OpenAI's (and Azure's) content filter stopping an answer is a refusal, as Gemini's `SAFETY`
/// is: what came before it is not the answer (a `Conversation` does not keep it).
#[test]
fn openai_an_answer_the_content_filter_stopped_is_a_refusal() {
    let body = openai_delta(json!({"content": "Sure, here is how to"}))
        + "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\n"
        + "data: [DONE]\n\n";
    let response = collect(openai(&body));
    assert_eq!(response.text, "Sure, here is how to");
    assert_eq!(response.finish_reason.as_deref(), Some("content_filter"));
    let refusal = response.refusal.unwrap_or_default();
    assert!(refusal.contains("content filter"), "{refusal}");

    // The model's own refusal says it: the filter's sentence is not glued to it.
    let refused = openai_delta(json!({"refusal": "I can't"}))
        + &openai_delta(json!({"refusal": " help with that."}))
        + "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\n"
        + "data: [DONE]\n\n";
    let response = collect(openai(&refused));
    assert_eq!(response.refusal.as_deref(), Some("I can't help with that."));
    assert_eq!(response.finish_reason.as_deref(), Some("content_filter"));
}

#[test]
fn openai_calls_without_ids_or_indexes_that_name_another_function_are_new_calls() {
    // Gateways (and Gemini's compatible endpoint) send parallel calls whole, with empty ids,
    // without an index or all at index 0; a name repeated on a later piece is the same call
    // until its arguments are a whole object (two calls to one function, `get_weather`), and
    // after it without arguments.
    let whole = |index: Option<u64>, name: &str, arguments: &str| {
        let mut piece = json!({"id": "", "type": "function",
            "function": {"name": name, "arguments": arguments}});
        if let Some(i) = index {
            piece["index"] = json!(i);
        }
        piece
    };
    for index in [None, Some(0)] {
        let body = openai_delta(json!({"tool_calls": [
            whole(index, "get_weather", r#"{"city":"Oslo"}"#),
            whole(index, "get_weather", r#" {"city":"Rome"}"#),
            whole(index, "get_time", r#"{"tz":"#),
        ]})) + &openai_delta(
            json!({"tool_calls": [whole(index, "get_time", r#""CET"}"#)]}),
        ) + &openai_delta(json!({"tool_calls": [whole(index, "get_time", "")]}))
            + &openai_delta(json!({"tool_calls": [whole(index, "get_weather", "{}")]}))
            + "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
            + "data: [DONE]\n\n";
        let calls = collect(openai(&body)).tool_calls;
        let calls: Vec<_> = calls.iter().map(|c| (&*c.name, &*c.arguments)).collect();
        assert_eq!(
            calls,
            [
                ("get_weather", r#"{"city":"Oslo"}"#),
                ("get_weather", r#" {"city":"Rome"}"#),
                ("get_time", r#"{"tz":"CET"}"#),
                ("get_weather", "{}"),
            ],
            "index {index:?}"
        );
    }
}

#[test]
fn openai_a_finish_reason_that_says_the_server_stopped_is_an_error() {
    for reason in ["insufficient_system_resource", "error"] {
        let body = openai_delta(json!({"content": "Half an ans"}))
            + &format!(
                "data: {}\n\n",
                json!({"choices": [{"delta": {}, "finish_reason": reason}]})
            )
            + "data: [DONE]\n\n";
        match openai(&body) {
            Err(Error::Api { kind, message }) => {
                assert_eq!(kind.as_deref(), Some(reason));
                assert!(message.contains(reason), "{message}");
            }
            other => panic!("{reason}: expected an API error, got {other:?}"),
        }
    }
    // Any other reason is the model's: `length`, `content_filter`...
    let body = openai_delta(json!({"content": "Cut"}))
        + &format!(
            "data: {}\n\n",
            json!({"choices": [{"delta": {}, "finish_reason": "length"}]})
        );
    assert_eq!(openai(&body).unwrap().last(), Some(&ChatEvent::Done));
}

/// The response `decoded` folds into, as `ChatClient::complete` folds a stream.
fn collect(decoded: Decoded) -> ChatResponse {
    ChatResponse::from_stream(stream_of(vec![decoded])).expect("a whole answer")
}

#[test]
fn anthropic_a_tool_without_parameters_gets_an_empty_object() {
    let start = |index: u64, id: &str, input: Value| {
        json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": id, "name": "now", "input": input}})
    };
    let delta = |index: u64, piece: &str| {
        json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "input_json_delta", "partial_json": piece}})
    };
    let stop = |index: u64| json!({"type": "content_block_stop", "index": index});
    let events = anthropic(&[
        // No parameters: `{}`, then one empty piece.
        start(0, "t0", json!({})),
        delta(0, ""),
        stop(0),
        // Streamed input: the pieces, nothing added at the stop.
        start(1, "t1", json!({})),
        delta(1, "{\"a\""),
        delta(1, ":1}"),
        stop(1),
        // Input whole at the start.
        start(2, "t2", json!({"b": 2})),
        stop(2),
        // A stop twice, or of a block that is not a tool's, adds nothing.
        stop(0),
        stop(9),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
        message_stop(),
    ]);
    let calls = collect(events).tool_calls;
    let calls: Vec<_> = calls.iter().map(|c| (&*c.id, &*c.arguments)).collect();
    assert_eq!(
        calls,
        [("t0", "{}"), ("t1", r#"{"a":1}"#), ("t2", r#"{"b":2}"#)]
    );
}

/// A call sent without arguments (`""`, or no field) is `{}` in the answer from every
/// decoder, as Anthropic's and Gemini's give it: the tool loop parses them as JSON.
#[test]
fn a_tool_call_without_arguments_gets_an_empty_object_from_every_decoder() {
    let openai_call = |index: u64, id: &str, function: Value| {
        openai_delta(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
            "function": function}]}),
        )
    };
    let body = openai_call(0, "c0", json!({"name": "now", "arguments": ""}))
        + &openai_call(1, "c1", json!({"name": "now"}))
        // Blank pieces after the name, then a call with arguments.
        + &openai_call(2, "c2", json!({"name": "now", "arguments": ""}))
        + &openai_delta(json!({"tool_calls": [{"index": 2, "function": {"arguments": " "}}]}))
        + &openai_call(3, "c3", json!({"name": "add", "arguments": "{\"a\":1}"}))
        + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
    let cohere_v2_body = typed_events(&[
        json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
            "id": "k0", "type": "function", "function": {"name": "now", "arguments": ""}}}}}),
        json!({"type": "tool-call-end", "index": 0}),
        json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}}),
    ]) + "data: [DONE]\n\n";
    let cohere_v1 = decode_lines(&[
        r#"{"event_type":"tool-calls-generation","tool_calls":[{"name":"now"}]}"#,
        r#"{"event_type":"stream-end","finish_reason":"COMPLETE"}"#,
    ]);
    for (provider, decoded, want) in [
        (
            "openai",
            openai(&body),
            &[
                ("c0", "{}"),
                ("c1", "{}"),
                ("c2", "{}"),
                ("c3", "{\"a\":1}"),
            ][..],
        ),
        ("cohere v2", cohere_v2(&cohere_v2_body), &[("k0", "{}")][..]),
        ("cohere v1", cohere_v1, &[("", "{}")][..]),
    ] {
        let calls = collect(decoded).tool_calls;
        let calls: Vec<_> = calls.iter().map(|c| (&*c.id, &*c.arguments)).collect();
        assert_eq!(calls, want, "{provider}");
    }
    // Cut at the token limit (or the context window: Mistral's `model_length`), the last call
    // may be cut before its arguments: they stay as they came; the calls before it are whole.
    for reason in ["length", "model_length"] {
        let cut = openai_call(0, "c0", json!({"name": "now", "arguments": ""}))
            + &openai_call(1, "c1", json!({"name": "now", "arguments": ""}))
            + &format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"{reason}\"}}]}}\n\ndata: [DONE]\n\n");
        let calls = collect(openai(&cut)).tool_calls;
        let arguments: Vec<_> = calls.iter().map(|c| c.arguments.as_str()).collect();
        assert_eq!(arguments, ["{}", ""], "{reason}");
    }
}

/// Streamed input replaces the `input` a block started with (the SDK's accumulator does; the
/// two joined were not JSON), a block never stopped still gets its start's input, and text
/// sent at a tool block's index is not the answer's.
#[test]
fn anthropic_streamed_input_replaces_the_input_a_block_started_with() {
    let start = |index: u64, id: &str, input: Value| {
        json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": id, "name": "f", "input": input}})
    };
    let delta = |index: u64, delta: Value| json!({"type": "content_block_delta", "index": index, "delta": delta});
    let piece = |text: &str| json!({"type": "input_json_delta", "partial_json": text});
    let events = anthropic(&[
        start(0, "t0", json!({"a": 1})),
        delta(0, piece("")),
        delta(0, piece("{\"b\":")),
        delta(0, json!({"type": "text_delta", "text": "not text"})),
        delta(
            0,
            json!({"type": "thinking_delta", "thinking": "nor thought"}),
        ),
        delta(0, piece("2}")),
        json!({"type": "content_block_stop", "index": 0}),
        // No piece and no stop before the answer's end: the start's input, once.
        start(1, "t1", json!({"c": 3})),
        start(2, "t2", json!({})),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
        json!({"type": "content_block_stop", "index": 1}),
        message_stop(),
    ])
    .unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::Text(_) | ChatEvent::Reasoning(_))),
        "{events:?}"
    );
    let calls = collect(Ok(events)).tool_calls;
    let calls: Vec<_> = calls.iter().map(|c| (&*c.id, &*c.arguments)).collect();
    assert_eq!(
        calls,
        [("t0", r#"{"b":2}"#), ("t1", r#"{"c":3}"#), ("t2", "{}")]
    );
}

/// A count written as a float (`3.0`, as some servers' encoders write every number) is read as
/// the official SDKs read it, by every decoder; a fraction or a negative one is no count.
#[test]
fn token_counts_written_as_floats_are_counts_for_every_decoder() {
    let usage = |decoded: Decoded| {
        let events = decoded.unwrap();
        let last = events.iter().rev().find_map(|e| match e {
            ChatEvent::Usage(u) => Some((u.input_tokens, u.output_tokens, u.total_tokens)),
            _ => None,
        });
        last.expect("a usage event")
    };
    let openai_usage = format!(
        "data: {}\n\ndata: [DONE]\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3.0, "completion_tokens": 2.5, "total_tokens": -5.0}})
    );
    assert_eq!(usage(openai(&openai_usage)), (Some(3), None, None));
    let anthropic_usage = anthropic(&[
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 3.0,
            "cache_read_input_tokens": 1e1}}}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2.0}}),
        message_stop(),
    ]);
    assert_eq!(usage(anthropic_usage), (Some(13), Some(2), Some(15)));
    let gemini_usage = gemini(&[{
        let mut chunk = gemini_parts(json!([{"text": "Hi"}]), Some("STOP"));
        chunk["usageMetadata"] = json!({"promptTokenCount": 3.0, "candidatesTokenCount": 2.0,
            "thoughtsTokenCount": 4.0, "toolUsePromptTokenCount": 5, "totalTokenCount": 14.0});
        chunk
    }]);
    // The thinking is output, the results of Gemini's own tools input: in + out = total.
    assert_eq!(usage(gemini_usage), (Some(8), Some(6), Some(14)));
    let cohere_usage = cohere_v2(&typed_events(&[json!({"type": "message-end",
        "delta": {"finish_reason": "COMPLETE",
            "usage": {"tokens": {"input_tokens": 3.0, "output_tokens": 2.5}}}})]));
    assert_eq!(usage(cohere_usage), (Some(3), None, None));
}

#[test]
fn anthropic_usage_sent_as_null_keeps_the_known_counts() {
    let usage = |usage: Value| json!({"type": "message_start", "message": {"usage": usage}});
    let events = anthropic(&[
        usage(json!({"input_tokens": 25, "output_tokens": 1})),
        anthropic_text(0, "Hi"),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"input_tokens": null, "cache_read_input_tokens": null, "output_tokens": 8}}),
        message_stop(),
    ]);
    let usage = collect(events).usage.expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(25), Some(8))
    );
}

#[test]
fn openai_reads_the_first_choice_and_one_name_of_the_reasoning() {
    let body = "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B\"}},{\"index\":0,\"delta\":{\"content\":\"A\"}}]}\n\n\
                data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B\"}}]}\n\n"
        .to_string()
        // The same reasoning under both names, sent once.
        + &openai_delta(json!({"reasoning_content": "r", "reasoning": "r", "content": null}))
        // Perplexity's sources, held back for the finish.
        + "data: {\"citations\":[\"https://a.example/\"],\"choices\":[]}\n\n"
        + "data: [DONE]\n\n";
    let events = openai(&body).unwrap();
    // No finish reason came: what was held back for it comes before the end.
    let [text, reasoning, thought, ChatEvent::Citation(source), done] = &events[..] else {
        panic!("{events:#?}");
    };
    assert_eq!(
        [text, reasoning, thought, done],
        [
            &ChatEvent::Text("A".into()),
            &ChatEvent::Reasoning("r".into()),
            &ChatEvent::Thought(Thought::Unsigned {
                field: "reasoning_content".into(),
                text: "r".into()
            }),
            &ChatEvent::Done
        ]
    );
    assert_eq!(source.url.as_deref(), Some("https://a.example/"));
}

/// OpenRouter's `reasoning_details`: the pieces of a block (its `index` and `type`) are
/// joined, its signature included; blocks without an index stay apart; all of them come as one
/// `Thought` at the finish, after the reasoning's text.
#[test]
fn openai_reasoning_details_are_joined_by_block() {
    let text = |index: u64, piece: Value| {
        let mut detail =
            json!({"type": "reasoning.text", "index": index, "format": "anthropic-claude-v1"});
        detail
            .as_object_mut()
            .unwrap()
            .extend(piece.as_object().unwrap().clone());
        detail
    };
    let details = |list: Vec<Value>| openai_delta(json!({"reasoning_details": list}));
    let body = openai_delta(
        json!({"reasoning": "Let", "reasoning_details": [text(0, json!({"text": "Let", "signature": null}))]}),
    ) + &openai_delta(
        json!({"reasoning": " me", "reasoning_details": [text(0, json!({"text": " me"}))]}),
    ) + &details(vec![text(0, json!({"text": "", "signature": "EqQB"}))])
        + &details(vec![
            json!({"type": "reasoning.encrypted", "data": "abc", "index": 1}),
        ])
        + &details(vec![json!({"type": "reasoning.encrypted", "data": "xyz"})])
        + &details(vec![
            json!({"type": "reasoning.encrypted", "data": "uvw"}),
            json!("junk"),
        ])
        // Text pieces without an index join the last text block without one.
        + &details(vec![json!({"type": "reasoning.text", "text": "So"})])
        + &details(vec![json!({"type": "reasoning.text", "text": " yes", "signature": "Zz"})])
        + &openai_delta(json!({"content": "Hi", "reasoning_details": []}))
        + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        + "data: [DONE]\n\n";
    let events = openai(&body).unwrap();
    let joined = vec![
        text(0, json!({"text": "Let me", "signature": "EqQB"})),
        json!({"type": "reasoning.encrypted", "data": "abc", "index": 1}),
        json!({"type": "reasoning.encrypted", "data": "xyz"}),
        json!({"type": "reasoning.encrypted", "data": "uvw"}),
        json!({"type": "reasoning.text", "text": "So yes", "signature": "Zz"}),
    ];
    assert_eq!(
        events[events.len() - 4..],
        [
            ChatEvent::Thought(Thought::Unsigned {
                field: "reasoning".into(),
                text: "Let me".into()
            }),
            ChatEvent::Thought(Thought::ReasoningDetails { details: joined }),
            finish("stop"),
            ChatEvent::Done
        ],
        "{events:#?}"
    );
}

/// The sources an answer cites, per provider, as `(url, title, text)`.
fn cited(decoded: Decoded) -> Vec<(Option<String>, Option<String>, Option<String>)> {
    let response = collect(decoded);
    let raw_kept = response.citations.iter().all(|c| c.raw.is_object());
    assert!(raw_kept, "{:?}", response.citations);
    response
        .citations
        .into_iter()
        .map(|c| {
            let answer = c.answer_text.map(|text| format!("answer: {text}"));
            assert!(c.cited_text.is_none() || answer.is_none(), "{answer:?}");
            (c.url, c.title, c.cited_text.or(answer))
        })
        .collect()
}

/// `(url, title, text)` of strings: the text is the cited text, or `answer: ` and the
/// answer's text.
type Cited<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn owned(cited: &[Cited<'_>]) -> Vec<(Option<String>, Option<String>, Option<String>)> {
    let s = |v: Option<&str>| v.map(str::to_string);
    cited.iter().map(|&(u, t, x)| (s(u), s(t), s(x))).collect()
}

#[test]
fn every_provider_names_the_sources_it_cites() {
    let web = json!({"type": "web_search_result_location", "url": "https://example.com/tides",
        "title": "Tides", "cited_text": "Tides follow the moon.", "encrypted_index": "Eo8B"});
    let document = json!({"type": "char_location", "cited_text": "The moon pulls.",
        "document_index": 0, "document_title": "Physics notes", "start_char_index": 0, "end_char_index": 15});
    let citations = |citation: Value| json!({"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": citation}});
    let anthropic_answer = anthropic(&[
        anthropic_block(0, json!({"type": "text", "text": ""})),
        citations(web),
        anthropic_text(0, "The moon."),
        citations(document),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
        message_stop(),
    ]);
    assert_eq!(
        cited(anthropic_answer),
        owned(&[
            (
                Some("https://example.com/tides"),
                Some("Tides"),
                Some("Tides follow the moon.")
            ),
            (None, Some("Physics notes"), Some("The moon pulls.")),
        ])
    );

    let cohere_event = |kind: &str, data: Value| format!("event: {kind}\ndata: {data}\n\n");
    let cohere_answer = cohere_event(
        "content-delta",
        json!({"type": "content-delta", "index": 0,
            "delta": {"message": {"content": {"text": "Tides follow the moon."}}}}),
    ) + &cohere_event(
        "citation-start",
        json!({"type": "citation-start", "index": 0,
            "delta": {"message": {"citations": {"start": 0, "end": 5, "text": "Tides",
                "sources": [{"type": "tool", "id": "t:0", "tool_output": {"answer": 4}},
                    {"type": "document", "id": "d1", "document": {"url": "https://example.com/d1", "title": "D1"}}]}}}}),
    ) + &cohere_event(
        "citation-end",
        json!({"type": "citation-end", "index": 0}),
    ) + &cohere_event(
        "message-end",
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}),
    ) + "data: [DONE]\n\n";
    assert_eq!(
        cited(cohere_v2(&cohere_answer)),
        owned(&[(
            Some("https://example.com/d1"),
            Some("D1"),
            Some("answer: Tides")
        )])
    );

    // The grounding comes with each chunk that has it (repeated here): each source once.
    let grounded = |finish: Option<&str>| {
        let mut chunk = gemini_parts(json!([{"text": "Tides."}]), finish);
        chunk["candidates"][0]["groundingMetadata"] = json!({
            "webSearchQueries": ["tides"],
            "groundingChunks": [
                {"web": {"uri": "https://vertexaisearch.cloud.google.com/grounding-api-redirect/a", "title": "noaa.gov"}},
                {"retrievedContext": {"uri": "gs://bucket/notes.pdf", "title": "notes.pdf"}}
            ],
            "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": 6, "text": "Tides."}, "groundingChunkIndices": [0, 1]}]
        });
        chunk
    };
    assert_eq!(
        cited(gemini(&[grounded(None), grounded(Some("STOP"))])),
        owned(&[
            (
                Some("https://vertexaisearch.cloud.google.com/grounding-api-redirect/a"),
                Some("noaa.gov"),
                None
            ),
            (Some("gs://bucket/notes.pdf"), Some("notes.pdf"), None),
        ])
    );

    let annotation = json!({"type": "url_citation", "url_citation": {"url": "https://example.com/tides",
        "title": "Tides", "start_index": 0, "end_index": 6}});
    let openai_answer = openai_delta(json!({"content": "Tides."}))
        + &openai_delta(json!({"annotations": [annotation]}))
        + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        + "data: [DONE]\n\n";
    assert_eq!(
        cited(openai(&openai_answer)),
        owned(&[(Some("https://example.com/tides"), Some("Tides"), None)])
    );
}

/// Perplexity lists its sources at the top of every chunk (`search_results` with titles,
/// `citations` as URLs): each URL is one citation, sent just before the finish; a URL that a
/// `url_citation` annotation named (OpenRouter sends both) is not repeated, and entries of
/// another shape are left out.
#[test]
fn openai_top_level_sources_are_each_cited_once() {
    let chunk = |delta: Value, finish: Option<&str>| {
        let sources = json!({
            "search_results": [
                {"title": "Tides - NOAA", "url": "https://noaa.gov/tides", "date": "2024-01-01"},
                {"title": "no url"},
                "https://not-an-object.example"
            ],
            "citations": ["https://noaa.gov/tides", "https://example.com/moon", 7, null, ""],
        });
        let mut chunk = sources;
        chunk["choices"] = json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
        format!("data: {chunk}\n\n")
    };
    let body = chunk(json!({"content": "Tides[1]"}), None)
        + &chunk(json!({"content": " follow the moon[2]."}), None)
        + &chunk(json!({}), Some("stop"))
        + &chunk(json!({}), None)
        + "data: [DONE]\n\n";
    let events = openai(&body).unwrap();
    let sources: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Citation(c) => Some((c.url.as_deref(), c.title.as_deref(), &c.raw)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sources,
        [
            (
                Some("https://noaa.gov/tides"),
                Some("Tides - NOAA"),
                &json!({"title": "Tides - NOAA", "url": "https://noaa.gov/tides", "date": "2024-01-01"})
            ),
            (
                Some("https://example.com/moon"),
                None,
                &json!("https://example.com/moon")
            ),
        ]
    );
    // Before the finish, so that a reader that stops at the finish has them.
    let at = |f: &dyn Fn(&ChatEvent) -> bool| events.iter().position(f).unwrap();
    let finish_at = at(&|e| matches!(e, ChatEvent::Finish(_)));
    assert!(at(&|e| matches!(e, ChatEvent::Citation(_))) < finish_at);
    let answer = collect(Ok(events));
    assert_eq!(answer.text, "Tides[1] follow the moon[2].");

    // OpenRouter: the annotation names the URL, the top-level list repeats it.
    let annotation = json!({"type": "url_citation", "url_citation": {"url": "https://noaa.gov/tides", "title": "NOAA"}});
    let body = chunk(json!({"content": "Tides."}), None)
        + &chunk(json!({"annotations": [annotation]}), Some("stop"))
        + "data: [DONE]\n\n";
    let urls: Vec<_> = collect(openai(&body))
        .citations
        .into_iter()
        .map(|c| (c.url.unwrap(), c.title))
        .collect();
    assert_eq!(
        urls,
        [
            (
                "https://noaa.gov/tides".to_string(),
                Some("NOAA".to_string())
            ),
            ("https://example.com/moon".to_string(), None),
        ]
    );

    // Lists of another shape cost nothing.
    for odd in [
        json!({"citations": "x"}),
        json!({"search_results": {}}),
        json!({"citations": null}),
    ] {
        let mut chunk = odd.clone();
        chunk["choices"] =
            json!([{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]);
        let answer = collect(openai(&format!("data: {chunk}\n\ndata: [DONE]\n\n")));
        assert_eq!(answer.text, "Hi", "{odd}");
        assert!(answer.citations.is_empty(), "{odd}");
    }
}

/// What is not a citation is none, and no odd citation or reasoning field costs the answer:
/// OpenRouter's parsed `file` annotations, fields of another shape or `null`, grounding that
/// comes after Gemini's finish reason.
#[test]
fn citations_and_reasoning_details_of_other_shapes_are_left_out() {
    let file = json!({"type": "file", "file": {"hash": "abc123", "name": "bitcoin.pdf",
        "content": [{"type": "text", "text": "Page 1 content"}]}});
    let stop = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
                data: [DONE]\n\n";
    let odd = [
        json!({"annotations": [file]}),
        json!({"reasoning_details": {}}),
        json!({"annotations": {}}),
        json!({"annotations": "x"}),
        json!({"reasoning_details": null, "annotations": null}),
        json!({"annotations": [], "reasoning_details": ["junk", 1]}),
    ];
    for fields in odd {
        let mut delta = json!({"content": "Hi"});
        delta
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let response = collect(openai(&(openai_delta(delta) + stop)));
        assert_eq!(response.text, "Hi", "{fields}");
        assert!(
            response.citations.is_empty() && response.thoughts.is_empty(),
            "{fields}: {response:?}"
        );
    }
    let mut late = json!({"candidates": [{"index": 0}]});
    late["candidates"][0]["groundingMetadata"] = json!({"groundingChunks": [
        {"web": {"uri": "https://example.com/a", "title": "example.com"}}]});
    let answer = gemini(&[
        gemini_parts(json!([{"text": "Tides."}]), Some("STOP")),
        late,
    ]);
    assert_eq!(collect(answer).citations.len(), 1);
}

/// A citation names one source: Cohere's first source with a URL (its title with it, not
/// another source's), Anthropic's `search_result_location` by its `source`.
#[test]
fn a_citation_names_one_source() {
    let sources = json!([
        {"type": "document", "id": "d0", "document": {"title": "Notes (no URL)"}},
        {"type": "document", "id": "d1", "document": {"url": "https://example.com/d1", "title": "D1"}},
    ]);
    let body = format!(
        "event: citation-start\ndata: {}\n\nevent: message-end\ndata: {}\n\ndata: [DONE]\n\n",
        json!({"type": "citation-start", "index": 0, "delta": {"message": {"citations": {
            "start": 0, "end": 5, "text": "Tides", "sources": sources}}}}),
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}),
    );
    let citation = &collect(cohere_v2(&body)).citations[0];
    assert_eq!(
        (citation.url.as_deref(), citation.title.as_deref()),
        (Some("https://example.com/d1"), Some("D1"))
    );
    let searched = json!({"type": "search_result_location", "source": "https://example.com/doc",
        "title": "Doc", "cited_text": "Words.", "search_result_index": 0,
        "start_block_index": 0, "end_block_index": 0});
    let answer = anthropic(&[
        anthropic_block(0, json!({"type": "text", "text": ""})),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": searched}}),
        anthropic_text(0, "Words."),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
        message_stop(),
    ]);
    let citation = &collect(answer).citations[0];
    assert_eq!(
        (citation.url.as_deref(), citation.title.as_deref()),
        (Some("https://example.com/doc"), Some("Doc"))
    );
}

// ---------------------------------------------------------------------------------------------
// Anthropic
// ---------------------------------------------------------------------------------------------

#[test]
fn anthropic_cached_tokens_count_as_input() {
    let events = anthropic(&[
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 3,
            "cache_creation_input_tokens": 100, "cache_read_input_tokens": 20, "output_tokens": 1}}}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
        message_stop(),
    ])
    .unwrap();
    assert!(
        matches!(&events[0], ChatEvent::Usage(u) if u.input_tokens == Some(123) && u.total_tokens == Some(124)),
        "{events:?}"
    );
}

#[test]
fn anthropic_tool_blocks_are_numbered_by_kind_and_pieces_follow_their_block() {
    let events = anthropic(&[
        anthropic_block(0, json!({"type": "text", "text": ""})),
        anthropic_block(
            1,
            json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        ),
        anthropic_json(1, "{\"query\": \"x\"}"),
        anthropic_block(
            2,
            json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}),
        ),
        anthropic_block(
            3,
            json!({"type": "tool_use", "id": "toolu_A", "name": "add", "input": {}}),
        ),
        anthropic_json(3, "{\"a\":"),
        // A block that arrives with its input filled in gets it at its end (here the
        // answer's: no stop came), unless streamed input replaces it.
        anthropic_block(
            4,
            json!({"type": "tool_use", "id": "toolu_B", "name": "mul", "input": {"x": 1}}),
        ),
        // A late piece of the server tool's block stays with that block.
        anthropic_json(1, ""),
        anthropic_json(3, "1}"),
        // A piece for a block that takes no input is nobody's.
        anthropic_json(0, "junk"),
        message_stop(),
    ])
    .unwrap();
    let server = |index, id, name, args| ChatEvent::ServerToolUse(piece(index, id, name, args));
    let result = match &events[2] {
        ChatEvent::ServerToolResult(r) => r.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (result.tool_use_id.as_str(), result.kind.as_str()),
        ("srvtoolu_1", "web_search_tool_result")
    );
    assert_eq!(
        events,
        [
            server(0, Some("srvtoolu_1"), Some("web_search"), ""),
            server(0, None, None, "{\"query\": \"x\"}"),
            ChatEvent::ServerToolResult(result),
            call(0, Some("toolu_A"), Some("add"), ""),
            call(0, None, None, "{\"a\":"),
            call(1, Some("toolu_B"), Some("mul"), ""),
            server(0, None, None, ""),
            call(0, None, None, "1}"),
            call(1, None, None, "{\"x\":1}"),
            ChatEvent::Done,
        ]
    );
}

/// `ChatResponse::message` gives the blocks back in the order the stream brought them:
/// Anthropic wants thinking blocks in their place (interleaved thinking around a web search).
#[test]
fn anthropic_blocks_go_back_in_the_order_they_came() {
    use crate::llm_wire::{anthropic_block, anthropic_delta, anthropic_json, anthropic_text};
    let signed = |index: u64, text: &str, signature: &str| {
        [
            anthropic_block(index, json!({"type": "thinking", "thinking": ""})),
            anthropic_delta(index, json!({"type": "thinking_delta", "thinking": text})),
            anthropic_delta(
                index,
                json!({"type": "signature_delta", "signature": signature}),
            ),
            json!({"type": "content_block_stop", "index": index}),
        ]
    };
    let mut payloads = signed(0, "Search first.", "S1").to_vec();
    payloads.extend([
        anthropic_block(1, json!({"type": "text", "text": ""})),
        anthropic_text(1, "Let me "),
        anthropic_text(1, "search."),
        anthropic_block(
            2,
            json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        ),
        anthropic_json(2, "{\"query\": \"x\"}"),
        anthropic_block(
            3,
            json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}),
        ),
    ]);
    payloads.extend(signed(4, "Found.", "S2"));
    payloads.extend([
        anthropic_block(5, json!({"type": "text", "text": ""})),
        anthropic_text(5, "Found it."),
        anthropic_block(
            6,
            json!({"type": "tool_use", "id": "toolu_1", "name": "add", "input": {}}),
        ),
        anthropic_json(6, "{}"),
        message_stop(),
    ]);
    let response = collect(anthropic(&payloads));
    let kinds: Vec<String> = response
        .message()
        .content
        .iter()
        .map(|part| match part {
            Part::Thought(Thought::Signed { signature, .. }) => format!("thinking {signature}"),
            Part::Text { text } => format!("text {text}"),
            Part::ServerToolUse(call) => format!("use {}", call.name),
            Part::ServerToolResult(result) => format!("result {}", result.tool_use_id),
            Part::ToolCall(call) => format!("call {}", call.name),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "thinking S1",
            "text Let me search.",
            "use web_search",
            "result srvtoolu_1",
            "thinking S2",
            "text Found it.",
            "call add",
        ]
    );
    // A response whose fields were changed since has the fixed order.
    let mut changed = response.clone();
    changed.text = "Other.".into();
    let kinds: Vec<bool> = (changed.message().content.iter())
        .map(|p| matches!(p, Part::Thought(_)))
        .collect();
    assert_eq!(kinds, [true, true, false, false, false, false]);
}

#[test]
fn anthropic_unknown_events_and_fields_are_skipped() {
    // Bedrock adds its metrics to message_stop.
    let events = anthropic(&[
        json!({"type": "brand_new_event", "x": 1}),
        anthropic_text(0, "a"),
        json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3}}),
    ])
    .unwrap();
    assert_eq!(events, [ChatEvent::Text("a".into()), ChatEvent::Done]);
}

// ---------------------------------------------------------------------------------------------
// Gemini
// ---------------------------------------------------------------------------------------------

#[test]
fn gemini_calls_are_numbered_and_a_call_without_args_has_an_empty_object() {
    let events = gemini(&[gemini_parts(
        json!([{"functionCall": {"name": "a", "args": {}}}, {"functionCall": {"id": "c2", "name": "now"}}]),
        Some("STOP"),
    )])
    .unwrap();
    assert_eq!(events[1], call(1, Some("c2"), Some("now"), "{}"));
}

#[test]
fn gemini_code_execution_and_built_in_tools_are_server_tools() {
    let events = gemini(&[gemini_parts(
        json!([
            {"text": "Let me compute."},
            {"executableCode": {"language": "PYTHON", "code": "print(2**10)"}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1024\n"}},
            {"toolCall": {"id": "t1", "toolType": "GOOGLE_SEARCH_WEB", "args": {"queries": ["x"]}}},
            {"toolResponse": {"id": "t1", "toolType": "GOOGLE_SEARCH_WEB", "response": {"ok": true}}},
            {"text": "It is 1024."},
        ]),
        Some("STOP"),
    )])
    .unwrap();
    let server = |index, id, name, args| ChatEvent::ServerToolUse(piece(index, id, name, args));
    assert_eq!(events[0], ChatEvent::Text("Let me compute.".into()));
    assert_eq!(
        events[1],
        server(
            0,
            None,
            Some("code_execution"),
            r#"{"code":"print(2**10)","language":"PYTHON"}"#
        )
    );
    let result = |event: &ChatEvent| match event {
        ChatEvent::ServerToolResult(r) => (r.tool_use_id.clone(), r.kind.clone(), r.block.clone()),
        other => panic!("{other:?}"),
    };
    let (_, kind, block) = result(&events[2]);
    assert_eq!(kind, "codeExecutionResult");
    assert_eq!(block["codeExecutionResult"]["output"], "1024\n");
    assert_eq!(
        events[3],
        server(
            1,
            Some("t1"),
            Some("GOOGLE_SEARCH_WEB"),
            r#"{"queries":["x"]}"#
        )
    );
    assert_eq!(result(&events[4]).0, "t1");
    assert_eq!(result(&events[4]).1, "toolResponse");
    assert_eq!(events[5], ChatEvent::Text("It is 1024.".into()));
    assert!(!events.iter().any(|e| matches!(e, ChatEvent::ToolCall(_))));
}

// ---------------------------------------------------------------------------------------------
// Cohere
// ---------------------------------------------------------------------------------------------

#[test]
fn cohere_v1_calls_are_numbered_and_billed_units_are_the_fallback_usage() {
    let events = decode_lines(&[
        r#"{"event_type":"tool-calls-generation","tool_calls":[{"name":"add","parameters":{"a":1}},{"name":"now","parameters":{}}]}"#,
        r#"{"event_type":"stream-end","finish_reason":"MAX_TOKENS","response":{"meta":{"billed_units":{"input_tokens":3.0,"output_tokens":4}}}}"#,
    ])
    .unwrap();
    assert_eq!(
        events[..3],
        [
            call(0, None, Some("add"), r#"{"a":1}"#),
            call(1, None, Some("now"), "{}"),
            finish("MAX_TOKENS")
        ]
    );
    assert!(matches!(&events[3], ChatEvent::Usage(u) if u.total_tokens == Some(7)));
}

#[test]
fn cohere_v2_thinking_is_reasoning_and_a_piece_of_no_started_call_is_nobodys() {
    let start = json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
        "id": "a1", "type": "function", "function": {"name": "f", "arguments": ""}}}}});
    let args = |index: u64, piece: &str| {
        json!({"type": "tool-call-delta", "index": index,
            "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}})
    };
    let body = typed_events(&[
        json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "thinking", "thinking": "Hmm"}}}}),
        start,
        args(7, "junk"),
        args(0, "{}"),
        json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}}),
    ]) + "data: [DONE]\n\n";
    assert_eq!(
        cohere_v2(&body).unwrap(),
        [
            ChatEvent::Reasoning("Hmm".into()),
            call(0, Some("a1"), Some("f"), ""),
            call(0, None, None, "{}"),
            finish("TOOL_CALL"),
            ChatEvent::Done,
        ]
    );
}

/// Cohere's SDK has `index` optional on `tool-call-start` and `tool-call-delta`: calls without
/// one are numbered apart, and their pieces go to the last call started.
#[test]
fn cohere_v2_tool_calls_without_an_index_keep_their_pieces() {
    let start = |name: &str| {
        json!({"type": "tool-call-start", "delta": {"message": {"tool_calls": {
            "id": name, "type": "function", "function": {"name": name, "arguments": ""}}}}})
    };
    let args = |piece: &str| {
        json!({"type": "tool-call-delta",
            "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}})
    };
    let body = typed_events(&[
        start("f"),
        args("{\"a\":"),
        args("1}"),
        json!({"type": "tool-call-end"}),
        start("g"),
        args("{}"),
        json!({"type": "tool-call-end"}),
        json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}}),
    ]) + "data: [DONE]\n\n";
    let calls = collect(cohere_v2(&body)).tool_calls;
    let calls: Vec<_> = calls.iter().map(|c| (&*c.name, &*c.arguments)).collect();
    assert_eq!(calls, [("f", r#"{"a":1}"#), ("g", "{}")]);
}

// ---------------------------------------------------------------------------------------------
// ChatStream: the events folded into the answer's state
// ---------------------------------------------------------------------------------------------

fn stream_of(batches: Vec<Result<Vec<ChatEvent>, Error>>) -> ChatStream {
    let (tx, rx) = crossbeam_channel::unbounded();
    for batch in batches {
        tx.send(batch).unwrap();
    }
    ChatStream::from_receiver(rx)
}

#[test]
fn a_chat_stream_yields_the_text_and_folds_the_rest() {
    let mut stream = stream_of(vec![
        Ok(vec![ChatEvent::Reasoning("think".into())]),
        Ok(vec![
            ChatEvent::Text("a".into()),
            ChatEvent::Text("b".into()),
        ]),
        Ok(vec![call(0, Some("c1"), Some("f"), "{}")]),
        Ok(vec![finish("stop"), ChatEvent::Usage(Usage::default())]),
        Ok(vec![ChatEvent::Done, ChatEvent::Text("late".into())]),
        Ok(vec![ChatEvent::Text("later".into())]),
    ]);
    let texts: Vec<String> = stream.by_ref().map(Result::unwrap).collect();
    assert_eq!(texts, ["a", "b"]);
    assert!(stream.next_event().is_none());
    assert!(stream.is_done());
    assert_eq!(stream.reasoning(), "think");
    assert_eq!(stream.tool_calls()[0].name, "f");
    assert_eq!(stream.finish_reason(), Some("stop"));
    assert!(stream.usage().is_some());
}

#[test]
fn an_error_is_a_chat_streams_last_item() {
    let mut stream = stream_of(vec![
        Ok(vec![ChatEvent::Text("a".into())]),
        Err(Error::Protocol("bad".into())),
        Ok(vec![ChatEvent::Text("never".into())]),
    ]);
    assert_eq!(stream.next().unwrap().unwrap(), "a");
    assert!(matches!(stream.next(), Some(Err(Error::Protocol(_)))));
    assert!(stream.next().is_none());
    assert!(!stream.is_done());
    // A source that stops before `Done` is a cut answer.
    let cut: Result<String, Error> =
        stream_of(vec![Ok(vec![ChatEvent::Text("a".into())])]).collect();
    assert!(matches!(cut, Err(Error::Protocol(_))));
}

#[test]
fn tool_call_pieces_without_an_index_follow_their_ids_and_names_are_not_doubled() {
    let loose = |id: Option<&str>, name: Option<&str>, args: &str| {
        ChatEvent::ToolCall(ToolCallDelta {
            index: None,
            ..piece(0, id, name, args)
        })
    };
    let mut stream = stream_of(vec![Ok(vec![
        loose(Some("a"), Some("f"), "{}"),
        loose(Some("b"), Some("g"), "{\"k\""),
        loose(None, None, ":1}"),
        // Some servers repeat the id and name on every piece.
        call(5, Some("c"), Some("h"), "1"),
        call(5, Some("c"), Some("h"), "2"),
        ChatEvent::Done,
    ])]);
    stream.by_ref().for_each(drop);
    assert_eq!(
        call_fields(stream.tool_calls()),
        [
            (0, "a", "f", "{}"),
            (1, "b", "g", "{\"k\":1}"),
            (5, "c", "h", "12")
        ]
    );
}
