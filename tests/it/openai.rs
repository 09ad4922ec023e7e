//! `llm::OpenAIClient` against mocked and local servers: tinychat's two tests, then one test per
//! thing real servers put in their streams.
//! What every provider does alike (key, base URL, a cut connection, a broken chunk, an error in
//! the stream, a 4xx) is `llm_contract`'s table.

#[allow(dead_code)]
use std::time::{Duration, Instant};

use mockito::Matcher;
use serde_json::{json, Value};
use support::{ms, Reply, TestServer, SLOW_ANSWER};
use ureq_futures::llm::{ChatEvent, ChatStream, Conversation, Message, OpenAIClient};
use ureq_futures::Error;

use crate::llm_contract::drain;

/// A client for `base_url` with a key and nothing from the process environment.
fn client(base_url: &str) -> OpenAIClient {
    OpenAIClient::builder("test_model", 0.0)
        .api_key("test-key")
        .base_url(base_url)
        .env(|_| None)
        .build()
}

fn hello() -> Vec<Message> {
    vec![Message::user("hello")]
}

/// An event-stream body: each payload as a `data:` event.
fn sse_body(payloads: &[&str]) -> String {
    payloads.iter().map(|p| format!("data: {p}\n\n")).collect()
}

/// A content delta chunk.
fn content(text: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        .to_string()
}

/// A server that answers every request with `body` as an event stream, 5 bytes per write.
fn serve(body: impl Into<String>) -> TestServer {
    let body: Vec<u8> = body.into().into_bytes();
    TestServer::start(move |_| Reply::sse(body.chunks(5).map(<[u8]>::to_vec), ms(0)))
}

/// The whole text of `server`'s answer to [`hello`].
fn answer_text(server: &TestServer) -> String {
    let stream = client(&server.url()).stream_chat(&hello()).unwrap();
    stream.collect::<Result<_, _>>().unwrap()
}

/// Streams `body` through `stream_chat` and reads it to the end.
fn chat_over(body: impl Into<String>) -> (Vec<String>, Option<Error>, ChatStream) {
    let server = serve(body);
    let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
    let (pieces, error) = drain(&mut stream);
    (pieces, error, stream)
}

fn seed_body() -> String {
    sse_body(&[&content("part1"), &content("part2"), "[DONE]"])
}

/// The mock of tinychat's first test, checking the request too.
fn seed_mock(server: &mut mockito::Server) -> mockito::Mock {
    server
        .mock("POST", "/chat/completions")
        .match_header("authorization", "Bearer test-key")
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(json!({
            "model": "test_model",
            "messages": [{"role": "user", "content": "hello"}],
            "temperature": 0.0,
            "stream": true,
            "stream_options": {"include_usage": true},
        })))
        .with_status(200)
        .with_header("content-type", "text/event-stream")
        .with_body(seed_body())
        .create()
}

// ---------------------------------------------------------------------------------------------
// tinychat's tests
// ---------------------------------------------------------------------------------------------

#[test]
fn perform_stream_request_success() {
    let mut server = mockito::Server::new();
    let mock = seed_mock(&mut server);

    let client = client(&server.url());
    let stream = client.perform_stream_request(&hello()).unwrap();

    // As the Python test reads the events.
    let mut responses = Vec::new();
    for event in stream {
        let event = event.unwrap();
        if event.data != "[DONE]" {
            let event_data: Value = serde_json::from_str(&event.data).unwrap();
            if let Some(choice) = event_data["choices"].as_array().and_then(|c| c.first()) {
                responses.push(
                    choice["delta"]["content"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                );
            }
        }
    }
    assert_eq!(responses, ["part1", "part2"]);
    mock.assert();
}

#[test]
fn stream_chat_success() {
    let mut server = mockito::Server::new();
    let mock = seed_mock(&mut server);

    let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
    let (pieces, error) = drain(&mut stream);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["part1", "part2"]);
    assert!(stream.is_done());
    mock.assert();
}

#[test]
fn perform_stream_request_failure() {
    let mut server = mockito::Server::new();
    let body = r#"{"error": {"message": "Invalid model: test_model", "type": "invalid_request_error", "code": "model_not_found"}}"#;
    let mock = server
        .mock("POST", "/chat/completions")
        .with_status(400)
        .with_header("content-type", "application/json")
        .with_body(body)
        .expect(2)
        .create();

    let client = client(&server.url());
    let err = client.perform_stream_request(&hello()).unwrap_err();
    assert!(
        err.to_string()
            .contains("Server responded with an error. Status Code: 400"),
        "{err}"
    );
    let Error::Status(status) = &err else {
        panic!("not a status error: {err:?}")
    };
    assert_eq!(status.status, 400);
    let parsed: Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(parsed["error"]["message"], "Invalid model: test_model");

    let err = client.stream_chat(&hello()).unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("Invalid model"), "{err}");
    mock.assert();
}

// ---------------------------------------------------------------------------------------------
// What real streams contain
// ---------------------------------------------------------------------------------------------

#[test]
fn role_chunk_and_empty_finish_chunk_are_not_text() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"finish_reason":null}]}"#,
        &content("Hi"),
        &content(" there"),
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Hi", " there"]);
    assert_eq!(stream.finish_reason(), Some("stop"));
    assert!(stream.usage().is_none());
}

#[test]
fn usage_chunk_and_moderation_trailer_with_empty_choices() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        &content("Paris."),
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":13,"completion_tokens":11,"total_tokens":24,"completion_tokens_details":{"reasoning_tokens":0}}}"#,
        r#"{"choices":[],"usage":null,"moderation":{"input":{"flagged":false,"results":[{"categories":{"harassment":false}}]}}}"#,
        "[DONE]",
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Paris."]);
    let usage = stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(13), Some(11), Some(24))
    );
    assert_eq!(
        usage.raw["completion_tokens_details"]["reasoning_tokens"],
        0
    );
    assert_eq!(stream.finish_reason(), Some("stop"));
    assert!(stream.is_done());
}

/// Moonshot (Kimi) sends the usage in the last choice, beside its finish reason.
#[test]
fn usage_inside_the_last_choice_is_read() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        &content("Hi"),
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":19,"completion_tokens":13,"total_tokens":32}}]}"#,
        "[DONE]",
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Hi"]);
    let usage = stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(19), Some(13), Some(32))
    );
}

/// llama.cpp's server reports a failure in the stream as an `error:` line (a field the SSE
/// spec ignores), then ends with `data: [DONE]`: the failure is the stream's error, not the end
/// of a whole (short) answer.
#[test]
fn an_error_line_of_llama_cpp_is_the_streams_error() {
    let error = r#"{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}"#;
    let body = sse_body(&[&content("Half")]) + &format!("error: {error}\n\n") + "data: [DONE]\n\n";
    let (pieces, error, stream) = chat_over(body);
    assert_eq!(pieces, ["Half"]);
    let Some(Error::Api { kind, message, .. }) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(kind.as_deref(), Some("400"));
    assert!(
        message.contains("exceeds the available context size"),
        "{message}"
    );
    assert!(!stream.is_done());
}

#[test]
fn comment_keep_alives_are_ignored() {
    let mut body = ": OPENROUTER PROCESSING\n\n".repeat(5);
    body.push_str(&sse_body(&[&content("a")]));
    body.push_str(&": OPENROUTER PROCESSING\n\n".repeat(3));
    body.push_str(&sse_body(&[&content("b"), "[DONE]"]));
    body.push_str(": trailing comment\n\n");
    let (pieces, error, _) = chat_over(body);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["a", "b"]);
}

#[test]
fn tool_call_deltas_are_assembled_by_index_and_are_not_text() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"get_capital","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"get_time","arguments":"{\"tz\""}}]},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"country\""}}]},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":":\"UTC\"}"}}]},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":\"UK\"}"}}]},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        "[DONE]",
    ]));
    assert!(error.is_none(), "{error:?}");
    assert!(pieces.is_empty(), "{pieces:?}");
    let calls = stream.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (
            calls[0].id.as_str(),
            calls[0].name.as_str(),
            calls[0].arguments.as_str()
        ),
        ("call_A", "get_capital", r#"{"country":"UK"}"#)
    );
    assert_eq!(
        (
            calls[1].id.as_str(),
            calls[1].name.as_str(),
            calls[1].arguments.as_str()
        ),
        ("call_B", "get_time", r#"{"tz":"UTC"}"#)
    );
    assert_eq!(stream.finish_reason(), Some("tool_calls"));
}

#[test]
fn reasoning_fields_are_kept_apart_from_the_text() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"The user"},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":null,"reasoning_content":" greets me."},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"","reasoning":" (OpenRouter's name)"},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hello!","reasoning_content":null},"finish_reason":null}]}"#,
        "[DONE]",
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Hello!"]);
    assert_eq!(
        stream.reasoning(),
        "The user greets me. (OpenRouter's name)"
    );
}

#[test]
fn array_content_is_text_only_for_plain_text_parts() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        r#"{"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"Okay, the user"}]}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":[{"type":"image_url","image_url":{"url":"data:,"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"Look "}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"both ways."}}]}"#,
        "[DONE]",
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Look ", "both ways."]);
    assert_eq!(stream.reasoning(), "Okay, the user");
}

#[test]
fn an_error_event_ends_the_stream() {
    let body = format!(
        "{}event: error\ndata: {{\"error\":{{\"message\":\"upstream timed out\",\"type\":\"server_error\"}}}}\n\n",
        sse_body(&[&content("a")])
    );
    let (pieces, error, _) = chat_over(body);
    assert_eq!(pieces, ["a"]);
    assert!(
        matches!(&error, Some(Error::Api { kind: Some(k), message }) if k == "server_error" && message == "upstream timed out"),
        "{error:?}"
    );
}

#[test]
fn an_error_event_of_several_lines_is_one_line_in_the_message() {
    // A proxy's traceback as the data of an error event: the message keeps it whole, the
    // error's text is one line, cut to a readable length.
    let trace = "Traceback (most recent call last):\n  File \"proxy.py\", line 7\n".repeat(20);
    let data: String = trace.lines().map(|l| format!("data: {l}\n")).collect();
    let body = format!("{}event: error\n{data}\n", sse_body(&[&content("a")]));
    let (pieces, error, _) = chat_over(body);
    assert_eq!(pieces, ["a"]);
    let error = error.expect("the error event ends the stream");
    let Error::Api { message, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(message, trace.trim_end());
    let text = error.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(
        text.starts_with(
            "api error in the answer: Traceback (most recent call last): File \"proxy.py\", line 7 Traceback"
        ),
        "{text}"
    );
    assert!(text.ends_with("..."), "{text}");
    assert!(text.len() < 400, "{}", text.len());
}

#[test]
fn a_broken_or_cut_stream_names_the_url_it_came_from() {
    for (body, what) in [
        (sse_body(&[&content("a")]), "the answer was cut"),
        (sse_body(&[&content("a"), "{not json"]), "malformed JSON"),
    ] {
        let server = serve(body);
        let mut stream = client(&server.url_for("/v1"))
            .stream_chat(&hello())
            .unwrap();
        let (pieces, error) = drain(&mut stream);
        assert_eq!(pieces, ["a"]);
        let Some(Error::Protocol(message)) = &error else {
            panic!("expected a protocol error, got {error:?}")
        };
        assert!(message.starts_with(what), "{message}");
        assert!(
            message.ends_with(&format!(
                " for url: {}",
                server.url_for("/v1/chat/completions")
            )),
            "{message}"
        );
    }
}

/// A mock that sends the stream without a content type (mockito's default) or as `text/plain`
/// is read as the Python SDKs and `sseclient` read it: as its events. Other providers too.
#[test]
fn a_stream_without_a_content_type_or_as_plain_text_is_read() {
    for content_type in [None, Some("text/plain; charset=utf-8")] {
        let mut server = mockito::Server::new();
        let mut mock = server
            .mock("POST", "/chat/completions")
            .with_body(seed_body());
        if let Some(ct) = content_type {
            mock = mock.with_header("content-type", ct);
        }
        let _mock = mock.create();
        let client = client(&server.url());
        let raw: Vec<String> = client
            .perform_stream_request(&hello())
            .unwrap()
            .map(|e| e.unwrap().data)
            .collect();
        assert_eq!(raw.len(), 3, "{content_type:?}: {raw:?}");
        let text: String = client
            .stream_chat(&hello())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(text, "part1part2", "{content_type:?}");
    }
    let mut server = mockito::Server::new();
    let anthropic = [
        r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    let _mock = server
        .mock("POST", "/v1/messages")
        .with_body(sse_body(&anthropic))
        .create();
    let claude = ureq_futures::llm::AnthropicClient::builder("m", None)
        .api_key("k")
        .base_url(server.url())
        .env(|_| None)
        .build();
    let text: String = claude
        .stream_chat(&hello())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(text, "Hi");
    // A page is the wrong URL, not a stream.
    let html = TestServer::start(|_| Reply::ok("<html></html>").content_type("text/html"));
    let err = client(&html.url()).stream_chat(&hello()).unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedContentType { .. }),
        "{err:?}"
    );
    // A JSON answer (a server that does not stream) or a page, untyped or as plain text, is
    // not read as a stream cut before its first event.
    for (content_type, body) in [
        (
            None,
            "\n {\"choices\":[{\"message\":{\"content\":\"Hi\"}}]}",
        ),
        (Some("text/plain"), "<html><body>Sign in</body></html>"),
    ] {
        let mut server = mockito::Server::new();
        let mut mock = server.mock("POST", "/chat/completions").with_body(body);
        if let Some(ct) = content_type {
            mock = mock.with_header("content-type", ct);
        }
        let _mock = mock.create();
        let err = match client(&server.url()).stream_chat(&hello()) {
            Err(e) => e,
            Ok(stream) => stream.collect::<Result<String, _>>().unwrap_err(),
        };
        assert!(
            matches!(&err, Error::UnexpectedContentType { content_type: ct, url }
                if ct.as_deref() == content_type && url.starts_with(&server.url())),
            "{content_type:?}: {err:?}"
        );
    }
}

#[test]
fn a_body_that_is_not_an_event_stream_is_refused() {
    let server = TestServer::start(|_| {
        Reply::ok("<html><body>Sign in</body></html>").content_type("text/html")
    });
    let err = client(&server.url()).stream_chat(&hello()).unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedContentType { .. }),
        "{err:?}"
    );
}

#[test]
fn a_json_error_in_place_of_the_stream_is_the_servers_error() {
    // A gateway whose model failed answers 200 with its error as JSON, typed as JSON, as an
    // event stream or not at all; Anthropic's and Gemini's shapes too.
    let openai = r#"{"error":{"message":"upstream model unavailable","type":"upstream_error","code":"model_unavailable"}}"#;
    let anthropic =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let gemini =
        r#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#;
    for (content_type, body, kind, message) in [
        (
            Some("application/json"),
            openai,
            "model_unavailable",
            "upstream model unavailable",
        ),
        (
            Some("text/event-stream"),
            openai,
            "model_unavailable",
            "upstream model unavailable",
        ),
        (
            None,
            openai,
            "model_unavailable",
            "upstream model unavailable",
        ),
        (
            Some("text/plain"),
            openai,
            "model_unavailable",
            "upstream model unavailable",
        ),
        (
            Some("application/json"),
            anthropic,
            "overloaded_error",
            "Overloaded",
        ),
        (
            Some("text/event-stream; charset=utf-8"),
            gemini,
            "503",
            "The model is overloaded.",
        ),
    ] {
        let server = TestServer::start(move |_| match content_type {
            Some(ct) => Reply::ok(format!("{body}\n")).content_type(ct),
            // No `Content-Type` at all.
            None => Reply::raw(format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}\n",
                body.len() + 1
            )),
        });
        let err = match client(&server.url()).stream_chat(&hello()) {
            Err(e) => e,
            Ok(stream) => stream.collect::<Result<String, _>>().unwrap_err(),
        };
        assert!(
            matches!(&err, Error::Api { kind: Some(k), message: m } if k == kind && m == message),
            "{content_type:?} {body}: {err:?}"
        );
    }
    // Under `text/event-stream`, a JSON line that is no error is skipped, as the WHATWG parser
    // skips any line it does not know.
    let server = TestServer::start(|_| {
        Reply::ok(format!(
            "{{\"id\":1}}\n\n{}",
            sse_body(&[
                r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#,
                "[DONE]"
            ])
        ))
        .content_type("text/event-stream")
    });
    assert_eq!(answer_text(&server), "Hi");
}

/// A server that ignores `"stream": true` (some proxies) sends the whole answer as one JSON
/// `chat.completion`: it is read as its stream would be, compact or pretty-printed, its
/// reasoning, text, calls (whole, one after the other), finish reason and usage.
#[test]
fn a_whole_answer_in_json_is_read_as_its_stream() {
    let whole = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking both.",
                "reasoning_content": "Two lookups.",
                "tool_calls": [
                    {"id": "call_A", "type": "function",
                     "function": {"name": "get_capital", "arguments": "{\"country\":\"UK\"}"}},
                    {"id": "call_B", "type": "function",
                     "function": {"name": "get_capital", "arguments": "{\"country\":\"FR\"}"}}
                ]
            },
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
        "error": null
    });
    let compact = whole.to_string();
    let pretty = serde_json::to_string_pretty(&whole).unwrap();
    // After a BOM and white space, with a blank line inside: still one document.
    let spaced = format!("\u{feff}\r\n  {}", pretty.replacen('\n', "\n\n", 1));
    for body in [compact, pretty, spaced] {
        let server = TestServer::start(move |_| Reply::json(body.clone()));
        let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
        let (pieces, error) = drain(&mut stream);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(pieces, ["Checking both."]);
        assert_eq!(stream.reasoning(), "Two lookups.");
        let calls: Vec<_> = (stream.tool_calls().iter())
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(
            calls,
            [
                ("call_A", "get_capital", r#"{"country":"UK"}"#),
                ("call_B", "get_capital", r#"{"country":"FR"}"#)
            ]
        );
        assert_eq!(stream.finish_reason(), Some("tool_calls"));
        assert_eq!(stream.usage().map(|u| u.total_tokens), Some(Some(21)));
    }
    // Two calls of a tool without parameters, without ids: two calls, each whole.
    let call = json!({"type": "function", "function": {"name": "now", "arguments": ""}});
    let message = json!({"role": "assistant", "content": null, "tool_calls": [call, call]});
    let twice =
        json!({"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]});
    let server = TestServer::start(move |_| Reply::json(twice.to_string()));
    let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
    assert!(drain(&mut stream).1.is_none());
    let calls: Vec<_> = (stream.tool_calls().iter())
        .map(|c| (c.name.as_str(), c.arguments.as_str()))
        .collect();
    assert_eq!(calls, [("now", "{}"), ("now", "{}")]);
    // An error document is still the server's error; a document that is no answer, or no
    // JSON, is the wrong content type, as before.
    let server = TestServer::start(|_| Reply::json(r#"{"error":{"message":"no such model"}}"#));
    let err = client(&server.url()).stream_chat(&hello()).unwrap_err();
    assert!(
        matches!(&err, Error::Api { message, .. } if message == "no such model"),
        "{err:?}"
    );
    for other in [
        r#"{"object":"list","data":[]}"#,
        r#"{"choices":[]}"#,
        "[1,2]",
        "not json",
    ] {
        let server = TestServer::start(move |_| Reply::json(other));
        let err = client(&server.url()).stream_chat(&hello()).unwrap_err();
        assert!(
            matches!(&err, Error::UnexpectedContentType { content_type: Some(ct), .. } if ct == "application/json"),
            "{other}: {err:?}"
        );
    }
}

/// A body typed as JSON is read one JSON value at most: an event stream or JSON lines under that
/// type (then silent) are refused once their start is in, not read to their end; a whole
/// answer with an empty `delta` beside its `message` is the message; one cut inside its
/// document says so.
#[test]
fn a_json_typed_body_is_read_no_further_than_its_first_value() {
    let chunk = content("Hi");
    for start in [format!("data: {chunk}\n\n"), format!("{chunk}\n{chunk}\n")] {
        let server = TestServer::start(move |_| {
            Reply::stall_mid_body(start.clone(), 1 << 20).content_type("application/json")
        });
        let url = server.url();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || _ = tx.send(client(&url).stream_chat(&hello()).map(drop)));
        let result = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("refused at once");
        assert!(
            matches!(result, Err(Error::UnexpectedContentType { .. })),
            "{result:?}"
        );
    }
    // An empty answer (white space at most) is an answer cut before it began, as an empty
    // event stream is.
    for empty in ["", " \r\n", "\u{feff}"] {
        let server = TestServer::start(move |_| Reply::json(empty));
        let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
        let (pieces, error) = drain(&mut stream);
        assert!(pieces.is_empty(), "{pieces:?}");
        let error = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            error.contains("the answer was cut: the stream ended before any `finish_reason`"),
            "{empty:?}: {error}"
        );
    }
    let both = r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"message":{"content":"Hi"},"finish_reason":"stop"}]}"#;
    let server = TestServer::start(move |_| Reply::json(both));
    assert_eq!(answer_text(&server), "Hi");
    let server = TestServer::start(|_| {
        Reply::raw(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n\
             {\"choices\":[{\"message\"",
        )
    });
    let err = client(&server.url()).stream_chat(&hello()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
            && text.contains("the JSON answer sent in place of a stream was cut"),
        "{text}"
    );
    // An error document in the charset its type names, or as a list (Google's way), is the
    // server's error.
    // (Latin-1 text before the message, and its code after it.)
    let latin1 =
        b"{\"error\":{\"param\":\"caf\xe9\",\"message\":\"Cl\xe9 invalide\",\"code\":\"bad_key\"}}"
            .to_vec();
    let list = br#"[{"error":{"message":"overloaded","code":503}}]"#.to_vec();
    for (content_type, body, message, kind) in [
        (
            "application/json; charset=iso-8859-1",
            latin1,
            "Cl\u{e9} invalide",
            "bad_key",
        ),
        ("application/json", list, "overloaded", "503"),
    ] {
        let server = TestServer::start(move |_| Reply::ok(body.clone()).content_type(content_type));
        let err = client(&server.url()).stream_chat(&hello()).unwrap_err();
        assert!(
            matches!(&err, Error::Api { message: m, kind: Some(k) } if m == message && k == kind),
            "{content_type}: {err:?}"
        );
    }
}

/// A `message` in a chunk of a stream that had deltas (Perplexity sends the answer so far
/// there) is not read as more of the answer.
#[test]
fn a_message_in_a_streamed_chunk_after_deltas_is_not_text() {
    let (pieces, error, stream) = chat_over(sse_body(&[
        &content("Hel"),
        r#"{"choices":[{"index":0,"message":{"content":"Hello"},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ]));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Hel"]);
    assert_eq!(stream.finish_reason(), Some("stop"));
}

#[test]
fn next_event_shows_every_event_in_order() {
    let server = serve(sse_body(&[
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":"r","content":"t"},"finish_reason":"stop"}],"usage":{"total_tokens":2}}"#,
        "[DONE]",
    ]));
    let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
    let mut kinds = Vec::new();
    while let Some(event) = stream.next_event() {
        kinds.push(match event.unwrap() {
            ChatEvent::Reasoning(_) => "reasoning",
            ChatEvent::Text(_) => "text",
            ChatEvent::Thought(_) => "thought",
            ChatEvent::Finish(_) => "finish",
            ChatEvent::Usage(_) => "usage",
            ChatEvent::Done => "done",
            _ => "other",
        });
    }
    // The reasoning, whole, comes again as a thought just before the finish.
    assert_eq!(
        kinds,
        ["reasoning", "text", "thought", "finish", "usage", "done"]
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration: key, base URL, headers, body, timeouts
// ---------------------------------------------------------------------------------------------

#[test]
fn the_builder_overrides_the_environment() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("POST", "/chat/completions")
        .match_header("authorization", "Bearer builder-key")
        .with_header("content-type", "text/event-stream")
        .with_body(seed_body())
        .create();
    let client = OpenAIClient::builder("m", 0.0)
        .api_key("builder-key")
        .base_url(server.url())
        .env(|name| Some(format!("from-env-{name}")))
        .build();
    assert_eq!(client.base_url(), server.url());
    client.stream_chat(&hello()).unwrap().for_each(drop);
    mock.assert();
}

#[test]
fn an_authorization_header_of_its_own_replaces_the_key() {
    let server = serve(seed_body());
    let client = OpenAIClient::builder("m", 0.0)
        .api_key("unused-key")
        .header("Authorization", "Token custom")
        .base_url(server.url())
        .env(|_| None)
        .build();
    client.stream_chat(&hello()).unwrap().for_each(drop);
    let request = server.requests().pop().unwrap();
    let auth: Vec<&str> = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(auth, ["Token custom"]);
}

#[test]
fn extra_headers_usage_option_and_default_temperature_reach_the_server() {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("POST", "/chat/completions")
        .match_header("http-referer", "https://example.com/app")
        .match_header("accept", "text/event-stream")
        .match_body(Matcher::Json(json!({
            "model": "m",
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}],
            "stream": true,
            "stream_options": {"include_usage": true},
        })))
        .with_header("content-type", "text/event-stream")
        .with_body(seed_body())
        .create();
    let client = OpenAIClient::builder("m", None)
        .api_key("k")
        .base_url(server.url())
        .header("HTTP-Referer", "https://example.com/app")
        .include_usage(true)
        .env(|_| None)
        .build();
    let messages = [Message::system("s"), Message::user("hello")];
    client.stream_chat(&messages).unwrap().for_each(drop);
    mock.assert();
}

#[test]
fn the_read_timeout_ends_a_silent_stream() {
    let server = TestServer::start(|_| Reply::stall().content_type("text/event-stream"));
    let client = OpenAIClient::builder("m", 0.0)
        .api_key("k")
        .base_url(server.url())
        .read_timeout(Some(SLOW_ANSWER))
        .env(|_| None)
        .build();
    let start = Instant::now();
    let mut stream = client.stream_chat(&hello()).unwrap();
    let (pieces, error) = drain(&mut stream);
    assert!(pieces.is_empty());
    let error = error.expect("a timeout");
    assert!(error.is_timeout(), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("no byte for 2 s (read_timeout) while reading the body from"),
        "{text}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_timeout_bounds_the_wait_for_the_headers() {
    let server = TestServer::start(|_| Reply::sse([seed_body()], ms(0)).delay(ms(3000)));
    let client = OpenAIClient::builder("m", 0.0)
        .api_key("k")
        .base_url(server.url())
        .timeout(Some(ms(300)))
        .env(|_| None)
        .build();
    let start = Instant::now();
    let err = client.stream_chat(&hello()).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let text = err.to_string();
    // ureq's own timeout (`within 300 ms (timeout)`), or on a loaded machine the stream's
    // watchdog a little after it (`whole request over 300 ms (timeout) before the response`).
    assert!(text.contains("300 ms (timeout)"), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_client_timeout_of_none_is_no_limit_and_replaces_the_sessions() {
    let server = TestServer::start(|_| Reply::sse([seed_body()], ms(0)).delay(ms(400)));
    let strict = ureq_futures::FuturesSession::builder()
        .timeout(ms(100))
        .build();
    let client = |timeout: Option<Duration>| {
        OpenAIClient::builder("m", 0.0)
            .api_key("k")
            .base_url(server.url())
            .session(strict.clone())
            .timeout(timeout)
            .env(|_| None)
            .build()
    };
    let patient = client(None).stream_chat(&hello()).unwrap();
    let (pieces, error) = {
        let mut patient = patient;
        drain(&mut patient)
    };
    assert!(error.is_none(), "{error:?}");
    assert!(!pieces.is_empty());
    let err = client(Some(ms(150))).stream_chat(&hello()).unwrap_err();
    // As above: ureq's words, or the watchdog's on a loaded machine.
    assert!(err.to_string().contains("150 ms (timeout)"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Conversation
// ---------------------------------------------------------------------------------------------

/// Answers "ok" unless the last user message asks for a failure: "500" or "cut".
fn conversation_server() -> TestServer {
    TestServer::start(|req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let last = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string();
        match last.as_str() {
            "500" => Reply::status(500, r#"{"error":{"message":"boom"}}"#),
            "cut" => Reply::sse([sse_body(&[&content("half")])], ms(0)),
            _ => Reply::sse([sse_body(&[&content("o"), &content("k"), "[DONE]"])], ms(0)),
        }
    })
}

#[test]
fn a_conversation_appends_an_exchange_only_when_the_reply_completes() {
    let server = conversation_server();
    let mut chat = Conversation::new(client(&server.url())).with_system_prompt("be kind");

    assert_eq!(chat.send_with("hi", |_| {}).unwrap(), "ok");
    let after_one = vec![
        Message::system("be kind"),
        Message::user("hi"),
        Message::assistant("ok"),
    ];
    assert_eq!(chat.messages(), after_one);

    // A failed request, a cut stream and a reply dropped early change nothing.
    let err = chat.send("500").unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(chat.send_with("cut", |_| {}).is_err());
    let mut reply = chat.send("dropped").unwrap();
    assert_eq!(reply.next().unwrap().unwrap(), "o");
    drop(reply);
    assert_eq!(chat.messages(), after_one);

    // The history goes out with the next message.
    let mut reply = chat.send("again").unwrap();
    let pieces: Vec<String> = reply.by_ref().map(Result::unwrap).collect();
    assert_eq!(pieces, ["o", "k"]);
    assert!(reply.is_complete());
    assert_eq!(reply.text(), "ok");
    assert_eq!(reply.chat().finish_reason(), None);
    drop(reply);
    let last_request = server.requests().pop().unwrap();
    let sent: Value = serde_json::from_slice(&last_request.body).unwrap();
    assert_eq!(sent["messages"].as_array().unwrap().len(), 4);
    assert_eq!(sent["messages"][1]["content"], "hi");
    assert_eq!(chat.messages().len(), 5);

    chat.reset();
    assert_eq!(chat.messages(), [Message::system("be kind")]);
    let mut plain = Conversation::new(client(&server.url()));
    plain.send_with("hi", |_| {}).unwrap();
    plain.reset();
    assert!(plain.messages().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Defaults: retries, usage, request id
// ---------------------------------------------------------------------------------------------

/// A server that answers 503 (asking for a 10 ms wait) `failures` times, then the seed answer
/// with a request id and usage when asked for; counts the requests.
fn flaky(failures: usize) -> (TestServer, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let server = TestServer::start(move |req| {
        if seen.fetch_add(1, Ordering::SeqCst) < failures {
            return Reply::status(503, r#"{"error":{"message":"busy"}}"#)
                .header("retry-after-ms", "10");
        }
        let asked: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let mut payloads = vec![content("ok")];
        if asked["stream_options"]["include_usage"] == json!(true) {
            let usage = json!({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}});
            payloads.push(usage.to_string());
        }
        payloads.push("[DONE]".into());
        let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
        Reply::sse([sse_body(&refs)], ms(0)).header("x-request-id", "req_123")
    });
    (server, count)
}

#[test]
fn retries_are_on_by_default_and_the_usage_example_prints_usage() {
    use std::sync::atomic::Ordering;
    let (server, count) = flaky(2);
    let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
    let text = stream.by_ref().collect::<Result<String, _>>().unwrap();
    assert_eq!(text, "ok");
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "two retries, then the answer"
    );
    // The module docs' example: usage is there without asking for it.
    assert_eq!(stream.usage().and_then(|u| u.total_tokens), Some(3));
    assert_eq!(stream.request_id(), Some("req_123"));
}

#[test]
fn retries_stop_after_two_and_can_be_switched_off() {
    use std::sync::atomic::Ordering;
    let (server, count) = flaky(usize::MAX);
    let err = client(&server.url()).stream_chat(&hello()).unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let (server, count) = flaky(1);
    let once = OpenAIClient::builder("m", None)
        .base_url(server.url())
        .env(|_| None)
        .retry(ureq_futures::RetryPolicy::none())
        .build();
    assert_eq!(once.stream_chat(&hello()).unwrap_err().status(), Some(503));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn a_stream_cut_after_its_first_byte_is_never_resent() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let server = TestServer::start(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        Reply::chunked_cut([sse_body(&[&content("par")])], ms(0)).content_type("text/event-stream")
    });
    let (pieces, error, _) = {
        let mut stream = client(&server.url()).stream_chat(&hello()).unwrap();
        let (pieces, error) = drain(&mut stream);
        (pieces, error, stream)
    };
    assert_eq!(pieces, ["par"]);
    assert!(error.is_some());
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// A thinking answer that calls a tool, its reasoning under `field` (DeepSeek's
/// `reasoning_content`, Groq's and OpenRouter's `reasoning`).
fn reasoned_call(field: &str) -> String {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    [
        chunk(
            json!({"role": "assistant", "content": null, field: "I need "}),
            Value::Null,
        ),
        chunk(json!({"content": null, field: "the time."}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "now", "arguments": "{}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat()
}

#[test]
fn reasoning_goes_back_in_the_field_it_came_in() {
    use ureq_futures::llm::ChatRequest;
    for field in ["reasoning_content", "reasoning"] {
        let body = reasoned_call(field);
        let server = TestServer::start(move |_| Reply::sse([body.clone()], ms(0)));
        let client = OpenAIClient::builder("deepseek-v4-flash", None)
            .env(|_| None)
            .base_url(server.url())
            .build();
        let mut request = ChatRequest::new().user("What time is it?");
        let answer = client.complete(&request).unwrap();
        assert_eq!(answer.reasoning, "I need the time.");
        // The turn saves and reads back whole.
        let saved = serde_json::to_string(&answer.message()).unwrap();
        assert_eq!(
            serde_json::from_str::<Message>(&saved).unwrap(),
            answer.message()
        );
        request.push(answer.message());
        request.push(Message::tool_result(&answer.tool_calls[0], "12:00"));
        client.complete(&request).unwrap();
        let sent: Value = serde_json::from_slice(&server.requests()[1].body).unwrap();
        assert_eq!(
            sent["messages"][1],
            json!({"role": "assistant", "content": null, field: "I need the time.",
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "now", "arguments": "{}"}}]}),
            "{field}"
        );
    }
}

#[test]
fn geminis_thought_signature_goes_back_with_its_call() {
    use ureq_futures::llm::ChatRequest;
    // Gemini's OpenAI-compatible endpoint: the signature rides on the call's first piece.
    let body = concat!(
        r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_g","type":"function","#,
        r#""extra_content":{"google":{"thought_signature":"EpwICpkI"}},"function":{"name":"now","arguments":"{}"}}]}}]}"#,
        "\n\n",
        r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        "\n\ndata: [DONE]\n\n",
    );
    let server = TestServer::start(move |_| Reply::sse([body], ms(0)));
    let client = OpenAIClient::builder("gemini-3-flash-preview", None)
        .env(|_| None)
        .base_url(server.url())
        .build();
    let mut request = ChatRequest::new().user("What time is it?");
    let answer = client.complete(&request).unwrap();
    assert_eq!(answer.tool_calls[0].signature.as_deref(), Some("EpwICpkI"));
    request.push(answer.message());
    request.push(Message::tool_result(&answer.tool_calls[0], "12:00"));
    client.complete(&request).unwrap();
    let sent: Value = serde_json::from_slice(&server.requests()[1].body).unwrap();
    assert_eq!(
        sent["messages"][1]["tool_calls"],
        json!([{"id": "call_g", "type": "function", "function": {"name": "now", "arguments": "{}"},
            "extra_content": {"google": {"thought_signature": "EpwICpkI"}}}])
    );
}

#[test]
fn chats_sent_from_every_worker_of_the_clients_own_session_complete() {
    // A fan-out of chats as jobs of the client's own session: each job waits for a stream that
    // needs a worker for as long as it is open, and every worker waits. They waited for ever.
    let server = serve(sse_body(&[
        &content("hi"),
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        "[DONE]",
    ]));
    for workers in [1, 4] {
        let client = OpenAIClient::builder("m", None)
            .api_key("k")
            .base_url(server.url())
            .env(|_| None)
            .session(
                ureq_futures::FuturesSession::builder()
                    .max_workers(workers)
                    .build(),
            )
            .build();
        let jobs: Vec<_> = (0..workers * 2)
            .map(|i| {
                let c = client.clone();
                let request = ureq_futures::llm::ChatRequest::new().user(format!("q{i}"));
                client
                    .session()
                    .submit(move |_| Ok(c.complete(&request)?.text))
            })
            .collect();
        for mut job in jobs {
            let text = job.result_timeout(Duration::from_secs(20));
            assert_eq!(
                text.expect("deadlocked").unwrap(),
                "hi",
                "{workers} workers"
            );
        }
        assert!(client.session().workers() <= workers);
    }
}

/// The assistant's message that the second request of a tool loop sends, after `first` (a
/// stream that calls a tool), from a client `setup` makes.
fn assistant_turn_sent(first: String, setup: impl Fn(OpenAIBuilder) -> OpenAIBuilder) -> Value {
    use ureq_futures::llm::ChatRequest;
    let server = TestServer::start(move |_| Reply::sse([first.clone()], ms(0)));
    let builder = OpenAIClient::builder("m", None).env(|_| None);
    let client = setup(builder.base_url(server.url())).build();
    let mut request = ChatRequest::new().user("What time is it?");
    let answer = client.complete(&request).unwrap();
    request.push(answer.message());
    request.push(Message::tool_result(&answer.tool_calls[0], "12:00"));
    client.complete(&request).unwrap();
    let sent: Value = serde_json::from_slice(&server.requests()[1].body).unwrap();
    sent["messages"][1].clone()
}

type OpenAIBuilder = ureq_futures::llm::ClientBuilder<ureq_futures::llm::OpenAI>;

/// DeepSeek's thinking mode sends an empty `reasoning_content` with a call it made without
/// reasoning, and refuses the next turn unless it comes back: it goes back as `""`.
#[test]
fn an_empty_reasoning_content_goes_back_empty() {
    let chunk = |delta: Value, finish: Value| {
        let choice = json!({"index": 0, "delta": delta, "finish_reason": finish});
        format!("data: {}\n\n", json!({"choices": [choice]}))
    };
    let call = json!([{"index": 0, "id": "call_1", "type": "function",
        "function": {"name": "now", "arguments": "{}"}}]);
    let first = [
        chunk(
            json!({"role": "assistant", "content": null, "reasoning_content": ""}),
            Value::Null,
        ),
        chunk(
            json!({"content": null, "reasoning_content": "", "tool_calls": call}),
            Value::Null,
        ),
        chunk(
            json!({"content": null, "reasoning_content": ""}),
            json!("tool_calls"),
        ),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let sent = assistant_turn_sent(first, |builder| builder);
    assert_eq!(
        sent,
        json!({"role": "assistant", "content": null, "reasoning_content": "",
            "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "now", "arguments": "{}"}}]})
    );
}

/// `echo_reasoning(false)`: a server that refuses reasoning fields in a message (Groq's, by
/// default) gets the assistant's turn without them.
#[test]
fn reasoning_can_be_kept_from_going_back() {
    let sent = assistant_turn_sent(reasoned_call("reasoning"), |b| b.echo_reasoning(false));
    assert_eq!(
        sent,
        json!({"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "now", "arguments": "{}"}}]})
    );
}

/// An answer stopped at its token limit within a call: the call's arguments are what came, but
/// the history sends the object their whole members make (vLLM parses them, and refuses broken
/// JSON), as it does to Anthropic and Gemini.
#[test]
fn arguments_cut_short_go_back_as_the_object_their_whole_members_make() {
    let first = concat!(
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_0","type":"function","function":{"name":"weather","arguments":"{\"unit\":\"C\",\"q\":\"Os"}}]}}]}"#,
        "\n\n",
        r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
        "\n\ndata: [DONE]\n\n",
    );
    let sent = assistant_turn_sent(first.to_string(), |builder| builder);
    assert_eq!(
        sent["tool_calls"][0]["function"],
        json!({"name": "weather", "arguments": r#"{"unit":"C"}"#})
    );
}

/// A thread that holds as many unread streams as its client's session has workers, and asks
/// for one more, gets an error after the client's `timeout`, with nothing sent, not a wait
/// that no worker would ever end; a chat queued behind a stream that is only slow waits.
#[test]
fn a_chat_no_worker_starts_within_the_timeout_is_given_up_unsent() {
    let chunk = r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
    // More events than a stream's channel holds (64), then silence for long: the worker waits
    // for the reader to make room.
    let burst = format!("{chunk}\n\n").repeat(200);
    let server = TestServer::start(move |req| match req.path_only() {
        // More than a channel holds, at once: a reader slower than that keeps its worker
        // waiting for room, but makes some.
        "/trickle/chat/completions" => Reply::sse(
            [format!("{chunk}\n\n").repeat(80), "data: [DONE]\n\n".into()],
            ms(0),
        ),
        "/slow/chat/completions" => Reply::sse(
            [format!("{chunk}\n\n"), "data: [DONE]\n\n".into()],
            ms(1500),
        ),
        _ => Reply::sse([burst.clone(), "data: [DONE]\n\n".into()], ms(3000)),
    });
    // One worker, and a budget of 300 ms until the answer's head.
    let one_worker = |base: String| {
        let session = ureq_futures::FuturesSession::builder()
            .max_workers(1)
            .build();
        let builder = OpenAIClient::builder("test_model", None).session(session);
        builder
            .base_url(base)
            .env(|_| None)
            .timeout(ms(300))
            .build()
    };
    let client = one_worker(server.url());
    let held = client.stream_chat(&hello()).expect("the first chat starts");
    let started = Instant::now();
    // On a thread of its own, so that a wait for ever fails the test rather than hang it.
    let (tx, rx) = crossbeam_channel::bounded(1);
    let other = client.clone();
    std::thread::spawn(move || tx.send(other.stream_chat(&hello()).map(drop)));
    let err = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no answer nor error within 10 s")
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "timeout: no worker of the session's 1 (max_workers) came free within 300 ms \
             (timeout), each waiting for the reader of its open stream, so the request was not \
             sent: a stream holds its worker until it is read to its end or dropped; read or \
             drop the streams open, or give the client a session with more workers \
             (ClientBuilder::session) for url: {}/chat/completions",
            server.url()
        )
    );
    // The worker, once free, does not send the chat given up; the next one is sent.
    drop(held);
    let text: Result<String, Error> = client.stream_chat(&hello()).and_then(|s| s.collect());
    assert!(text.is_ok(), "{text:?}");
    assert_eq!(server.requests().len(), 2);
    // Behind a stream that is slow, not unread, a chat waits past the timeout.
    let slow = one_worker(format!("{}/slow", server.url()));
    let first = slow.stream_chat(&hello()).expect("the first chat starts");
    let second = slow
        .stream_chat(&hello())
        .map(|s| s.collect::<Result<String, _>>());
    assert_eq!(second.ok().and_then(Result::ok).as_deref(), Some("Hi"));
    drop(first);
    // Nor behind a stream read slower than it comes, whose worker waits for room most of the
    // time: its reader makes some.
    let trickle = one_worker(format!("{}/trickle", server.url()));
    let first = trickle
        .stream_chat(&hello())
        .expect("the first chat starts");
    let reader = std::thread::spawn(move || {
        let mut pieces = 0;
        for piece in first {
            pieces += usize::from(piece.is_ok());
            std::thread::sleep(ms(50));
        }
        pieces
    });
    let second = trickle.stream_chat(&hello()).map(|s| s.count());
    assert!(second.is_ok(), "{second:?}");
    assert_eq!(reader.join().unwrap(), 80);
}
