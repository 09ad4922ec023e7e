//! What the clients send, for every provider: a tool loop over each provider's recorded
//! tool-call answer (the calls come in, the results go back in the provider's documented
//! format), and the requests a provider cannot express, refused before anything is sent.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use support::{ms, Reply, TestServer};
use ureq_futures::llm::{
    ChatClient, ChatRequest, ChatResponse, Message, OpenAIClient, Part, Thought, Tool, ToolCall,
    ToolChoice,
};
use ureq_futures::Error;

use crate::llm_streams::{client_for, streams_dir, transcripts};

/// Bytes per write: small enough to split events, lines and JSON everywhere.
const PIECE: usize = 7;

/// A server answering its n-th request with the recorded stream `files[n]` (the last one
/// for any later request), in pieces of [`PIECE`] bytes.
fn serve_in_turn(files: &[&str]) -> TestServer {
    let bodies: Vec<Vec<u8>> = files
        .iter()
        .map(|file| {
            let path = streams_dir().join(file);
            fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect();
    let turn = Arc::new(AtomicUsize::new(0));
    TestServer::start(move |_| {
        let n = turn.fetch_add(1, Ordering::SeqCst).min(bodies.len() - 1);
        Reply::chunked(bodies[n].chunks(PIECE).map(<[u8]>::to_vec), ms(0))
            .content_type("text/event-stream")
    })
}

/// The `expected_text` of recorded stream `file`, from the index.
fn recorded_text(file: &str) -> String {
    let entry = transcripts()
        .into_iter()
        .find(|e| e["file"] == file)
        .unwrap_or_else(|| panic!("{file} is not in index.json"));
    entry["expected_text"].as_str().unwrap_or("").to_string()
}

// ---------------------------------------------------------------------------------------------
// Tool loops
// ---------------------------------------------------------------------------------------------

/// One provider's tool loop: its recorded tool-call answer, the calls it holds, the results
/// the local tools give, and the history the second request must carry.
struct ToolLoop {
    /// The client, as [`client_for`] names it.
    provider: &'static str,
    /// The recorded answer with tool calls, served to the first request.
    calls_stream: &'static str,
    /// A recorded text answer, served to the second request.
    answer_stream: &'static str,
    /// The question, the first message of both requests.
    question: &'static str,
    /// The tool offered.
    tool: &'static str,
    /// The calls the answer holds, in order: id, name, arguments.
    calls: &'static [(&'static str, &'static str, &'static str)],
    /// What the local tool returns for each call.
    results: &'static [&'static str],
    /// Where the second request's body keeps the history.
    history_key: &'static str,
    /// The second request's history, as the provider documents it.
    history: fn() -> Value,
}

fn tool_loops() -> Vec<ToolLoop> {
    let openai_history = || {
        // As the recorded second request of the same run sent it (pydantic-ai's cassette
        // test_run_stream_sync_streams_real_model.yaml, interactions[1]).
        json!([
            {"role": "user", "content": "What is the capital of the UK? Use the tool, then answer."},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_ZR5UUuTt3pf61kjwAJIYdVMj",
                "type": "function", "function": {"name": "get_capital", "arguments": "{\"country\":\"UK\"}"}}]},
            {"role": "tool", "tool_call_id": "call_ZR5UUuTt3pf61kjwAJIYdVMj", "content": "London"},
        ])
    };
    let openai = |provider| ToolLoop {
        provider,
        calls_stream: "openai_gpt-4o-mini_tool_call_include_usage.sse",
        answer_stream: "openai_gpt-4o-mini_text_include_usage.sse",
        question: "What is the capital of the UK? Use the tool, then answer.",
        tool: "get_capital",
        calls: &[(
            "call_ZR5UUuTt3pf61kjwAJIYdVMj",
            "get_capital",
            "{\"country\":\"UK\"}",
        )],
        results: &["London"],
        history_key: "messages",
        history: openai_history,
    };
    vec![
        openai("openai"),
        // Mistral's chat completions take tool calls and results as OpenAI's do.
        openai("mistral"),
        ToolLoop {
            provider: "anthropic",
            calls_stream: "anthropic_claude-3-5-sonnet_text_and_two_tool_uses.sse",
            answer_stream: "anthropic_claude-sonnet-4-5_single_delta.sse",
            question: "Add 3 and 4, and 8 and 9, in parallel.",
            tool: "add_numbers",
            calls: &[
                (
                    "toolu_01TzG4Z4zyvQ2fPLAKm6P5dt",
                    "add_numbers",
                    "{\"number_a\": 3, \"number_b\": 4}",
                ),
                (
                    "toolu_01Tg7CyaMV8pGSF6rtL2GFpE",
                    "add_numbers",
                    "{\"number_a\": 8, \"number_b\": 9}",
                ),
            ],
            results: &["7", "17"],
            history_key: "messages",
            // The assistant's text and tool_use blocks; every tool_result in one user turn.
            history: || {
                json!([
                    {"role": "user", "content": "Add 3 and 4, and 8 and 9, in parallel."},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Certainly! I'll make two function calls to add the numbers as you've requested, and I'll do both calls at the same time."},
                        {"type": "tool_use", "id": "toolu_01TzG4Z4zyvQ2fPLAKm6P5dt", "name": "add_numbers", "input": {"number_a": 3, "number_b": 4}},
                        {"type": "tool_use", "id": "toolu_01Tg7CyaMV8pGSF6rtL2GFpE", "name": "add_numbers", "input": {"number_a": 8, "number_b": 9}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_01TzG4Z4zyvQ2fPLAKm6P5dt", "content": "7"},
                        {"type": "tool_result", "tool_use_id": "toolu_01Tg7CyaMV8pGSF6rtL2GFpE", "content": "17"},
                    ]},
                ])
            },
        },
        ToolLoop {
            provider: "gemini",
            calls_stream: "gemini_3-pro-preview_function_call_thoughtsignature.sse",
            answer_stream: "gemini_3-flash-preview_vertex_thoughtsignature.sse",
            question: "What is the capital of the user country? Call the tool",
            tool: "get_country",
            // Gemini's call has no id.
            calls: &[("", "get_country", "{}")],
            results: &["Mexico"],
            history_key: "contents",
            // As the recorded second request (pydantic-ai's cassette, interactions[1]) has
            // it, less the ids pydantic-ai makes up: the call with its thoughtSignature in a
            // model turn, the result as a functionResponse in a user turn.
            history: || {
                json!([
                    {"role": "user", "parts": [{"text": "What is the capital of the user country? Call the tool"}]},
                    {"role": "model", "parts": [{"functionCall": {"name": "get_country", "args": {}},
                        "thoughtSignature": recorded_gemini_signature()}]},
                    {"role": "user", "parts": [{"functionResponse": {"name": "get_country",
                        "response": {"output": "Mexico"}}}]},
                ])
            },
        },
        ToolLoop {
            provider: "cohere_v2",
            calls_stream: "cohere_v2_tool_plan_two_tool_calls.sse",
            answer_stream: "cohere_v2_text_capital_of_france.sse",
            question: "What is the weather in San Francisco, and what is there to see?",
            tool: "weather",
            calls: &[
                (
                    "weather_e8p4pn45zt0t",
                    "weather",
                    "{\"location\": \"San Francisco\"}",
                ),
                (
                    "cityAttractions_pyxssbwnq9fq",
                    "cityAttractions",
                    "{\"city\": \"San Francisco\"}",
                ),
            ],
            results: &["{\"temperature\": 18}", "[\"Golden Gate Bridge\"]"],
            history_key: "messages",
            // Cohere's v2 tool use: the plan and the calls in the assistant message, one
            // `tool` message per result.
            history: || {
                json!([
                    {"role": "user", "content": "What is the weather in San Francisco, and what is there to see?"},
                    {"role": "assistant", "tool_plan": "I will use the weather tool to find the weather in San Francisco and the cityAttractions tool to find attractions in San Francisco.",
                        "tool_calls": [
                            {"id": "weather_e8p4pn45zt0t", "type": "function", "function": {"name": "weather", "arguments": "{\"location\": \"San Francisco\"}"}},
                            {"id": "cityAttractions_pyxssbwnq9fq", "type": "function", "function": {"name": "cityAttractions", "arguments": "{\"city\": \"San Francisco\"}"}},
                        ]},
                    {"role": "tool", "tool_call_id": "weather_e8p4pn45zt0t", "content": "{\"temperature\": 18}"},
                    {"role": "tool", "tool_call_id": "cityAttractions_pyxssbwnq9fq", "content": "[\"Golden Gate Bridge\"]"},
                ])
            },
        },
    ]
}

/// The thoughtSignature of the recorded Gemini call, read from the recording itself.
fn recorded_gemini_signature() -> Value {
    let path = streams_dir().join("gemini_3-pro-preview_function_call_thoughtsignature.sse");
    let body = fs::read_to_string(&path).expect("the recorded Gemini call");
    let first = body
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .expect("an event");
    let chunk: Value = serde_json::from_str(first).expect("JSON");
    chunk["candidates"][0]["content"]["parts"][0]["thoughtSignature"].clone()
}

/// Runs one round of the loop: asks, runs the calls, sends the results, reads the answer.
/// Returns what failed.
fn run_tool_loop(case: &ToolLoop) -> Result<(), String> {
    let name = case.provider;
    let server = serve_in_turn(&[case.calls_stream, case.answer_stream]);
    let client = client_for(name, &server.url()).ok_or(format!("{name}: no client"))?;
    let tool = Tool::new(case.tool, "a local tool", json!({"type": "object"}));
    let mut request = ChatRequest::new().user(case.question).tool(tool);

    let asked = client
        .complete(&request)
        .map_err(|e| format!("{name}: {e}"))?;
    let calls: Vec<(&str, &str, &str)> = asked
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
        .collect();
    if calls != case.calls {
        return Err(format!(
            "{name}: calls {calls:?}, expected {:?}",
            case.calls
        ));
    }
    if asked.text != recorded_text(case.calls_stream) {
        return Err(format!("{name}: text {:?}", asked.text));
    }
    request.push(asked.message());
    for (call, result) in asked.tool_calls.iter().zip(case.results) {
        request.push(Message::tool_result(call, *result));
    }

    let answer = client
        .complete(&request)
        .map_err(|e| format!("{name}: {e}"))?;
    if answer.text != recorded_text(case.answer_stream) {
        return Err(format!("{name}: answer {:?}", answer.text));
    }
    let sent = server.requests();
    if sent.len() != 2 {
        return Err(format!("{name}: {} requests, expected 2", sent.len()));
    }
    let body: Value = serde_json::from_slice(&sent[1].body).map_err(|e| format!("{name}: {e}"))?;
    let history = &body[case.history_key];
    if *history != (case.history)() {
        return Err(format!(
            "{name}: the second request's {} is\n{history:#}\nexpected\n{:#}",
            case.history_key,
            (case.history)()
        ));
    }
    if sent[0].path != sent[1].path {
        return Err(format!("{name}: {} then {}", sent[0].path, sent[1].path));
    }
    Ok(())
}

#[test]
fn a_tool_loop_goes_round_over_each_providers_recorded_wire_format() {
    let cases = tool_loops();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| run_tool_loop(c).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(cases.len(), 5);
}

// ---------------------------------------------------------------------------------------------
// What a provider cannot express
// ---------------------------------------------------------------------------------------------

/// A call for the histories below.
fn call() -> ToolCall {
    ToolCall {
        index: 0,
        id: "call_1".into(),
        name: "add".into(),
        arguments: "{\"a\": 1}".into(),
        signature: None,
    }
}

/// A message of `role` holding `part`.
fn holding(role: &str, part: Part) -> Message {
    Message {
        role: role.into(),
        content: vec![Part::text("x"), part],
    }
}

fn image() -> Part {
    Part::ImageUrl {
        url: "https://example.com/cat.png".into(),
    }
}

/// A request `provider` must refuse, and what the refusal must say.
struct Refusal {
    provider: &'static str,
    request: ChatRequest,
    /// Words the error must contain (besides the provider's name).
    says: &'static str,
}

fn refusals() -> Vec<Refusal> {
    let question = || ChatRequest::new().user("q");
    let with = |message: Message| question().message(message).user("next");
    let misplaced = |provider: &'static str| {
        vec![
            Refusal {
                provider,
                request: with(holding("user", Part::ToolCall(call()))),
                says: "a tool call outside an assistant message",
            },
            Refusal {
                provider,
                request: with(holding(
                    "assistant",
                    Message::tool_result(&call(), "2").content[0].clone(),
                )),
                says: "a tool result in an assistant message",
            },
        ]
    };
    let bad_arguments = |provider: &'static str| Refusal {
        provider,
        request: with(holding(
            "assistant",
            Part::ToolCall(ToolCall {
                arguments: "{not json".into(),
                ..call()
            }),
        )),
        says: "are not JSON",
    };
    // JSON that is not an object: Anthropic's `input` and Gemini's `args` are objects.
    let not_objects = |provider: &'static str| {
        ["null", "[1, 2]", "\"x\""].map(|arguments| Refusal {
            provider,
            request: with(holding(
                "assistant",
                Part::ToolCall(ToolCall {
                    arguments: arguments.into(),
                    ..call()
                }),
            )),
            says: "are not a JSON object",
        })
    };
    let mut cases = Vec::new();
    for provider in ["openai", "mistral", "cohere_v2"] {
        cases.extend(misplaced(provider));
        cases.push(Refusal {
            provider,
            request: question().message(Message::system("s").with_part(image())),
            says: "an image outside a user message",
        });
        cases.push(Refusal {
            provider,
            request: with(holding("assistant", image())),
            says: "an image outside a user message",
        });
    }
    cases.extend(misplaced("anthropic"));
    cases.extend([
        Refusal {
            provider: "anthropic",
            request: question().seed(1),
            says: "a seed",
        },
        Refusal {
            provider: "anthropic",
            request: question().json(),
            says: "JSON mode without a schema",
        },
        Refusal {
            provider: "anthropic",
            request: question().message(Message::system("s").with_part(image())),
            says: "a system message that is not text",
        },
        Refusal {
            provider: "anthropic",
            request: with(holding("assistant", image())),
            says: "an image in an assistant message",
        },
        bad_arguments("anthropic"),
        Refusal {
            provider: "anthropic",
            request: question().stop("4").stop(" \n\n"),
            says: "a stop sequence of only whitespace",
        },
    ]);
    cases.extend(not_objects("anthropic"));
    cases.extend(not_objects("gemini"));
    cases.extend(misplaced("gemini"));
    cases.extend([
        Refusal {
            provider: "gemini",
            request: question().message(Message::system("s").with_part(image())),
            says: "a system message that is not text",
        },
        Refusal {
            provider: "gemini",
            request: question().seed(1 << 31),
            says: "a seed above 2147483647",
        },
        bad_arguments("gemini"),
        Refusal {
            provider: "cohere_v2",
            request: question()
                .tool(add_tool())
                .tool(Tool::new("sub", "subtracts", json!({"type": "object"})))
                .tool_choice(ToolChoice::Tool("add".into())),
            says: "a choice of one tool among several",
        },
        Refusal {
            provider: "cohere",
            request: question().tool(add_tool()),
            says: "tools: use CohereApi::V2",
        },
        Refusal {
            provider: "cohere",
            request: ChatRequest::new().message(Message::user("q").with_part(image())),
            says: "a message that is not one text part",
        },
        Refusal {
            provider: "cohere",
            request: question().message(Message::assistant("a")),
            says: "needs a user message last",
        },
        Refusal {
            provider: "cohere_v2",
            request: ChatRequest::new()
                .message(Message::new("critic", "Be brief."))
                .user("q"),
            says: "a message of role \"critic\": its roles are system, user, assistant and tool",
        },
        // Gemini's own name for the assistant is not a role here: it would be the user's words.
        Refusal {
            provider: "gemini",
            request: question().message(Message::new("model", "a")),
            says: "a message of role \"model\": its roles are system, user, assistant and tool",
        },
        Refusal {
            provider: "anthropic",
            request: question().message(Message::new("critic", "a")),
            says: "a message of role \"critic\"",
        },
        // Both answer 400 to a system prompt alone.
        Refusal {
            provider: "anthropic",
            request: ChatRequest::new().system("Be brief."),
            says: "no message but the system prompt",
        },
        Refusal {
            provider: "gemini",
            request: ChatRequest::new().message(Message::system("Be brief.")),
            says: "no message but the system prompt",
        },
        Refusal {
            provider: "anthropic",
            request: ChatRequest::new().message(Message::user("see").with_image("image/bmp", b"BM".to_vec())),
            says: "an image of type \"image/bmp\": it takes image/jpeg, image/png, image/gif, image/webp",
        },
        Refusal {
            provider: "anthropic",
            request: ChatRequest::new().message(Message::user("see").with_image_url("data:image/tiff;base64,aGk=")),
            says: "an image of type \"image/tiff\"",
        },
        Refusal {
            provider: "anthropic",
            request: question().temperature(1.5),
            says: "a temperature of 1.5: it takes 0 to 1",
        },
        Refusal {
            provider: "cohere_v2",
            request: question().top_p(1.0),
            says: "a top_p of 1: it takes 0.01 to 0.99",
        },
        Refusal {
            provider: "cohere_v2",
            request: (0..6).fold(question(), |r, i| r.stop(format!("s{i}"))),
            says: "6 stop sequences: it takes 5 at most",
        },
        Refusal {
            provider: "gemini",
            request: (0..6).fold(question(), |r, i| r.stop(format!("s{i}"))),
            says: "6 stop sequences: it takes 5 at most",
        },
        Refusal {
            provider: "gemini",
            request: question().tool(add_tool()).parallel_tool_calls(false),
            says: "parallel_tool_calls(false): it has no way to ask for one call at a time",
        },
        Refusal {
            provider: "cohere_v2",
            request: question().tool(add_tool()).parallel_tool_calls(false),
            says: "parallel_tool_calls(false): it has no way to ask for one call at a time",
        },
        Refusal {
            provider: "cohere",
            request: question().parallel_tool_calls(true),
            says: "tools: use CohereApi::V2",
        },
        Refusal {
            provider: "openai",
            request: question().json_schema("My Schema!", json!({"type": "object"})),
            says: "a JSON schema named \"My Schema!\": its name is 1 to 64 letters, digits, _ or -",
        },
        Refusal {
            provider: "cohere_v2",
            request: question().tool(add_tool()).json(),
            says: "JSON output together with tools",
        },
        Refusal {
            provider: "cohere",
            request: ChatRequest::new()
                .message(Message::new("tool", "t"))
                .user("q"),
            says: "cannot take a message of role \"tool\"",
        },
    ]);
    cases
}

/// The name a provider's refusals give it.
fn label(provider: &str) -> &'static str {
    match provider {
        "openai" => "OpenAI",
        "mistral" => "Mistral",
        "anthropic" => "Anthropic",
        "gemini" => "Gemini",
        "cohere_v2" => "Cohere",
        "cohere" => "Cohere's v1 chat",
        other => panic!("no label for {other}"),
    }
}

#[test]
fn what_a_provider_cannot_express_is_refused_before_anything_is_sent() {
    let server = TestServer::start(|_| Reply::status(500, "nothing should be sent"));
    let cases = refusals();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let client = client_for(case.provider, &server.url()).expect("a client");
        for (way, result) in [
            ("stream", client.stream(&case.request).map(drop)),
            ("complete", client.complete(&case.request).map(drop)),
        ] {
            match result {
                Err(Error::InvalidRequest(message))
                    if message.contains(label(case.provider)) && message.contains(case.says) => {}
                other => failures.push(format!(
                    "case {i} ({}, {way}): expected a refusal saying {:?}, got {other:?}",
                    case.provider, case.says
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(server.request_count(), 0, "a refused request was sent");
    assert_eq!(cases.len(), 52, "cases were lost");
}

/// The tool every test request offers.
fn add_tool() -> Tool {
    Tool::new("add", "adds", json!({"type": "object"}))
}

#[test]
fn requests_no_provider_takes_are_refused_for_every_provider() {
    let server = TestServer::start(|_| Reply::status(500, "nothing should be sent"));
    let cases = [
        (
            ChatRequest::new()
                .user("x")
                .tool_choice(ToolChoice::Required),
            "a tool choice but no tools",
        ),
        (
            ChatRequest::new().user("x").parallel_tool_calls(false),
            "sets parallel_tool_calls but has no tools",
        ),
        (
            ChatRequest::new()
                .user("x")
                .tool(add_tool())
                .tool_choice(ToolChoice::Tool("sub".into())),
            "the tool choice names \"sub\", which the request does not offer (it offers add)",
        ),
        (
            ChatRequest::new()
                .user("x")
                .message(Message::new("tool", "4")),
            "holds tool results only",
        ),
        // JSON has no NaN: serde_json would send `null`.
        (
            ChatRequest::new().user("x").temperature(f64::NAN),
            "the temperature NaN is not a finite number",
        ),
        (
            ChatRequest::new().user("x").top_p(f64::INFINITY),
            "the top_p inf is not a finite number",
        ),
        (
            ChatRequest::new().max_tokens(5),
            "the request has no messages",
        ),
        // A schema that is not an object, as parameters that are not (every provider
        // answers 400); Anthropic's own check said so, the others sent it.
        (
            ChatRequest::new().user("x").json_schema("s", json!([1, 2])),
            "the JSON schema \"s\" is [1,2], not a JSON schema object",
        ),
        (
            ChatRequest::new().user("x").json_schema("s", Value::Null),
            "the JSON schema \"s\" is null, not a JSON schema object",
        ),
        // The client reads a stream: an answer sent whole failed as a wrong content type.
        (
            ChatRequest::new().user("x").extra("stream", json!(false)),
            "extra(\"stream\", false): the client reads the answer as a stream and asks for one itself",
        ),
    ];
    for provider in ["openai", "mistral", "anthropic", "gemini", "cohere_v2"] {
        let client = client_for(provider, &server.url()).expect("a client");
        for (request, says) in &cases {
            match client.stream(request) {
                Err(Error::InvalidRequest(message)) => {
                    assert!(message.contains(says), "{provider}: {message}")
                }
                other => panic!("{provider}: expected a refusal saying {says:?}, got {other:?}"),
            }
        }
    }
    assert_eq!(server.request_count(), 0, "a refused request was sent");
}

#[test]
fn data_url_images_go_inline_where_the_provider_has_inline_images() {
    let request = ChatRequest::new()
        .message(Message::user("see").with_image_url("data:image/png;name=a.png;base64,aGk="));
    let anthropic = body_of("anthropic", &request);
    assert_eq!(
        anthropic["messages"][0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "aGk="})
    );
    let gemini = body_of("gemini", &request);
    assert_eq!(
        gemini["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/png", "data": "aGk="}})
    );
    // OpenAI takes data: URLs as they are.
    let openai = body_of("openai", &request);
    assert_eq!(
        openai["messages"][0]["content"][1]["image_url"]["url"],
        "data:image/png;name=a.png;base64,aGk="
    );
    // One that is not base64, or names no media type, has no inline form.
    let server = TestServer::start(|_| Reply::status(500, "nothing should be sent"));
    for url in [
        "data:image/svg+xml,%3Csvg%3E",
        "data:;base64,aGk=",
        "DATA:image/png",
    ] {
        let request = ChatRequest::new().message(Message::user("see").with_image_url(url));
        for provider in ["anthropic", "gemini"] {
            let client = client_for(provider, &server.url()).expect("a client");
            match client.stream(&request) {
                Err(Error::InvalidRequest(m)) => assert!(m.contains("Message::with_image"), "{m}"),
                other => panic!("{provider}, {url}: expected a refusal, got {other:?}"),
            }
        }
    }
    assert_eq!(server.request_count(), 0, "a refused request was sent");
}

#[test]
fn anthropic_gets_top_p_alone_unless_the_request_sets_a_temperature_too() {
    // The client's temperature is 0 (see `client_for`).
    let top_p = body_of("anthropic", &ChatRequest::new().user("x").top_p(0.5));
    assert_eq!(
        (top_p.get("temperature"), &top_p["top_p"]),
        (None, &json!(0.5))
    );
    let both = body_of(
        "anthropic",
        &ChatRequest::new().user("x").top_p(0.5).temperature(1.0),
    );
    assert_eq!(
        (&both["temperature"], &both["top_p"]),
        (&json!(1.0), &json!(0.5))
    );
    let neither = body_of("anthropic", &ChatRequest::new().user("x"));
    assert_eq!(
        (&neither["temperature"], neither.get("top_p")),
        (&json!(0.0), None)
    );
}

#[test]
fn anthropic_with_thinking_gets_no_temperature_but_the_requests_own() {
    // Extended thinking takes no temperature but 1; the client's is 0 (see `client_for`).
    let thinking = |kind: &str| json!({"type": kind, "budget_tokens": 2048});
    let think = ChatRequest::new()
        .user("x")
        .extra("thinking", thinking("enabled"));
    let sent = body_of("anthropic", &think);
    assert_eq!(
        (sent.get("temperature"), &sent["thinking"]),
        (None, &thinking("enabled"))
    );
    let asked = body_of("anthropic", &think.temperature(1.0));
    assert_eq!(asked["temperature"], json!(1.0));
    let off = ChatRequest::new()
        .user("x")
        .extra("thinking", json!({"type": "disabled"}));
    assert_eq!(body_of("anthropic", &off)["temperature"], json!(0.0));
}

#[test]
fn anthropic_with_a_thinking_budget_leaves_the_answer_its_default_tokens() {
    // The API refuses a `max_tokens` that is not above `budget_tokens`.
    let think = ChatRequest::new().user("x").extra(
        "thinking",
        json!({"type": "enabled", "budget_tokens": 10_000}),
    );
    let max_tokens = |sent: Value| sent["max_tokens"].clone();
    assert_eq!(max_tokens(body_of("anthropic", &think)), json!(14_096));
    // A limit the request or the builder sets is sent as it is.
    let own = think.clone().max_tokens(12_000);
    assert_eq!(max_tokens(body_of("anthropic", &own)), json!(12_000));
    let builder = |base: &str| -> Box<dyn ChatClient> {
        let builder = ureq_futures::llm::AnthropicClient::builder("m", None).max_tokens(16_000);
        Box::new(builder.api_key("k").base_url(base).env(|_| None).build())
    };
    assert_eq!(max_tokens(sent_body(builder, &think)), json!(16_000));
    // Thinking disabled, or adaptive (no budget): the default stands.
    let off = ChatRequest::new().user("x").extra(
        "thinking",
        json!({"type": "disabled", "budget_tokens": 10_000}),
    );
    assert_eq!(max_tokens(body_of("anthropic", &off)), json!(4096));
    let adaptive = ChatRequest::new()
        .user("x")
        .extra("thinking", json!({"type": "adaptive"}));
    assert_eq!(max_tokens(body_of("anthropic", &adaptive)), json!(4096));
}

#[test]
fn signed_thoughts_go_back_to_anthropic_first_in_the_assistant_turn_and_nowhere_else() {
    let mut response = ChatResponse::default();
    response.thoughts = vec![
        Thought::Signed {
            text: "t".into(),
            signature: "s".into(),
        },
        Thought::Redacted { data: "r".into() },
    ];
    response.text = "Let me add.".into();
    response.tool_calls = vec![add_call("toolu_1")];
    let turn = response.message();
    let request = ChatRequest::new()
        .user("2 + 2?")
        .message(turn.clone())
        .message(Message::tool_result(&add_call("toolu_1"), "4"))
        .tool(add_tool());
    let anthropic = body_of("anthropic", &request);
    assert_eq!(
        anthropic["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "redacted_thinking", "data": "r"},
            {"type": "text", "text": "Let me add."},
            {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 2}},
        ])
    );
    // The others get the turn without them.
    let openai = body_of("openai", &request);
    assert_eq!(openai["messages"][1]["content"], "Let me add.");
    let gemini = body_of("gemini", &request);
    let parts = gemini["contents"][1]["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[0], json!({"text": "Let me add."}));
    // A thought anywhere but in an assistant turn has no meaning.
    let misplaced = ChatRequest::new().message(Message {
        role: "user".into(),
        content: vec![Part::Thought(Thought::Redacted { data: "r".into() })],
    });
    let server = TestServer::start(|_| Reply::status(500, "nothing should be sent"));
    let client = client_for("anthropic", &server.url()).expect("a client");
    match client.stream(&misplaced) {
        Err(Error::InvalidRequest(m)) => assert!(m.contains("a thought outside"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn blank_answers_go_back_to_anthropic_and_gemini_as_nothing() {
    // What `message` makes of an answer of blank text ("\n\n", as Claude sometimes answers),
    // of an empty answer, and of blank text before a tool call.
    let mut blank = ChatResponse::default();
    blank.text = "\n\n".into();
    let mut calling = ChatResponse::default();
    calling.text = " ".into();
    calling.tool_calls = vec![add_call("toolu_1")];
    let request = ChatRequest::new()
        .user("a")
        .message(blank.message())
        .user("b")
        .message(ChatResponse::default().message())
        .user("c")
        .message(Message::assistant(""))
        .user("d")
        .message(calling.message())
        .message(Message::tool_result(&add_call("toolu_1"), "4"))
        .tool(add_tool());
    // Anthropic refuses an empty or blank text block, and a turn without content.
    let anthropic = body_of("anthropic", &request);
    let user = |text: &str| json!({"role": "user", "content": text});
    assert_eq!(
        anthropic["messages"],
        json!([
            user("a"),
            user("b"),
            user("c"),
            user("d"),
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 2}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"},
            ]},
        ])
    );
    // Gemini refuses an empty text and a turn without parts.
    let gemini = body_of("gemini", &request);
    let roles: Vec<&Value> = gemini["contents"]
        .as_array()
        .expect("contents")
        .iter()
        .map(|turn| &turn["role"])
        .collect();
    assert_eq!(roles, ["user", "user", "user", "user", "model", "user"]);
    assert_eq!(
        gemini["contents"][4]["parts"],
        json!([{"functionCall": {"name": "add", "args": {"a": 2}, "id": "toolu_1"}}])
    );
    // OpenAI takes an empty assistant message: it gets the history as it is.
    let openai = body_of("openai", &request);
    assert_eq!(openai["messages"].as_array().map(Vec::len), Some(9));
}

/// In a user turn, the results of the calls go first and a blank prompt beside an image goes
/// not at all: Anthropic refuses text before the results of the turn before it, and both
/// providers an empty text block.
#[test]
fn tool_results_lead_their_user_turn_and_a_blank_prompt_beside_an_image_goes() {
    let call = add_call("toolu_1");
    let result = Message::tool_result(&call, "4");
    let request = ChatRequest::new()
        .user("2 + 2?")
        .message(Message {
            role: "assistant".into(),
            content: vec![Part::ToolCall(call.clone())],
        })
        .message(Message::user("Answer briefly.").with_part(result.content[0].clone()))
        .message(Message::user("").with_image("image/png", b"hi".to_vec()))
        .tool(add_tool());
    let anthropic = body_of("anthropic", &request);
    let types = |turn: &Value| -> Vec<String> {
        let parts = turn["content"].as_array().or(turn["parts"].as_array());
        let kind = |p: &Value| match p["type"].as_str() {
            Some(t) => t.to_string(),
            None => p.as_object().unwrap().keys().next().unwrap().clone(),
        };
        parts.expect("parts").iter().map(kind).collect()
    };
    assert_eq!(types(&anthropic["messages"][2]), ["tool_result", "text"]);
    assert_eq!(types(&anthropic["messages"][3]), ["image"]);
    let gemini = body_of("gemini", &request);
    assert_eq!(types(&gemini["contents"][2]), ["functionResponse", "text"]);
    assert_eq!(types(&gemini["contents"][3]), ["inlineData"]);
    // The results of parallel calls join in one turn, results first, whatever message the
    // text came with (or blank text that goes).
    let (a, b) = (add_call("toolu_a"), add_call("toolu_b"));
    let result = |call: &ToolCall| Message::tool_result(call, "4").content[0].clone();
    for (said, text) in [("Answer briefly.", &["text"][..]), (" ", &[][..])] {
        let first = Message::user(said);
        let request = ChatRequest::new()
            .user("2 + 2, twice?")
            .message(Message {
                role: "assistant".into(),
                content: vec![Part::ToolCall(a.clone()), Part::ToolCall(b.clone())],
            })
            .message(first.with_part(result(&a)))
            .message(Message::tool_result(&b, "4"))
            .tool(add_tool());
        let providers = [
            ("anthropic", "messages", "tool_result"),
            ("gemini", "contents", "functionResponse"),
        ];
        for (provider, key, result_type) in providers {
            let body = body_of(provider, &request);
            let turns = body[key].as_array().unwrap();
            assert_eq!(turns.len(), 3, "{body}");
            let want: Vec<&str> = [result_type, result_type]
                .iter()
                .chain(text)
                .copied()
                .collect();
            assert_eq!(types(&turns[2]), want, "{provider}");
        }
    }
    // A message of blank text alone is the caller's to send.
    let alone = ChatRequest::new().user("");
    assert_eq!(
        body_of("anthropic", &alone)["messages"],
        json!([{"role": "user", "content": ""}])
    );
}

#[test]
fn a_failed_tool_call_is_flagged_where_the_provider_has_a_flag() {
    let call = add_call("id_1");
    let request = ChatRequest::new()
        .user("2 + ?")
        .message(Message {
            role: "assistant".into(),
            content: vec![Part::ToolCall(call.clone())],
        })
        .message(Message::tool_error(&call, "{\"missing\": \"b\"}"))
        .tool(add_tool());
    let anthropic = body_of("anthropic", &request);
    assert_eq!(
        anthropic["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "id_1", "content": "{\"missing\": \"b\"}", "is_error": true})
    );
    let gemini = body_of("gemini", &request);
    assert_eq!(
        gemini["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"error": "{\"missing\": \"b\"}"})
    );
    let openai = body_of("openai", &request);
    assert_eq!(
        openai["messages"][2],
        json!({"role": "tool", "tool_call_id": "id_1", "content": "{\"missing\": \"b\"}"})
    );
    // A result that did not fail has no flag.
    let ok = ChatRequest::new()
        .user("2 + 2?")
        .message(Message {
            role: "assistant".into(),
            content: vec![Part::ToolCall(call.clone())],
        })
        .message(Message::tool_result(&call, "4"))
        .tool(add_tool());
    assert_eq!(
        body_of("anthropic", &ok)["messages"][2]["content"][0].get("is_error"),
        None
    );
}

#[test]
fn an_empty_tool_result_goes_to_anthropic_without_its_optional_content() {
    // The API refuses `"content": ""`; a tool that printed nothing still answers its call.
    let call = add_call("id_1");
    let request = ChatRequest::new()
        .user("log it")
        .message(Message {
            role: "assistant".into(),
            content: vec![Part::ToolCall(call.clone())],
        })
        .message(Message::tool_result(&call, ""))
        .tool(add_tool());
    assert_eq!(
        body_of("anthropic", &request)["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "id_1"})
    );
    // The other providers send the empty text: their content fields take one.
    let openai = body_of("openai", &request);
    assert_eq!(openai["messages"][2]["content"], "");
}

#[test]
fn extra_objects_merge_into_the_body_key_by_key() {
    let request = ChatRequest::new()
        .user("x")
        .max_tokens(7)
        .extra(
            "generationConfig",
            json!({"thinkingConfig": {"thinkingBudget": 0}}),
        )
        .extra("safetySettings", json!([]));
    let gemini = body_of("gemini", &request);
    assert_eq!(
        gemini["generationConfig"],
        json!({"temperature": 0.0, "maxOutputTokens": 7, "thinkingConfig": {"thinkingBudget": 0}})
    );
    assert_eq!(gemini["safetySettings"], json!([]));
    // Deeper objects merge too; anything but an object replaces.
    let schema = json!({"type": "object"});
    let request = ChatRequest::new()
        .user("x")
        .json_schema("answer", schema.clone())
        .extra("response_format", json!({"json_schema": {"strict": true}}))
        .extra("stream_options", json!(null));
    let openai = body_of("openai", &request);
    assert_eq!(
        openai["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}})
    );
    assert_eq!(openai["stream_options"], Value::Null);
}

/// `extra("tools", [...])` adds to the request's own tools (a server tool beside the caller's
/// functions: Anthropic's web search, Gemini's Google Search), where it replaced them without
/// a word; a `null` takes a field out of the body (RFC 7386), where it was sent as `null`.
#[test]
fn extra_tools_join_the_requests_tools_and_a_null_takes_a_field_out() {
    let with = |server_tool: Value| {
        ChatRequest::new()
            .user("x")
            .tool(add_tool())
            .extra("tools", json!([server_tool]))
    };
    let web_search = json!({"type": "web_search_20250305", "name": "web_search"});
    let anthropic = body_of("anthropic", &with(web_search.clone()));
    let names: Vec<_> = anthropic["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["name"])
        .collect();
    assert_eq!(names, [&json!("add"), &json!("web_search")]);
    let gemini = body_of("gemini", &with(json!({"google_search": {}})));
    let tools = gemini["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2, "{gemini}");
    assert_eq!(tools[0]["functionDeclarations"][0]["name"], "add");
    assert_eq!(tools[1], json!({"google_search": {}}));
    let openai = body_of(
        "openai",
        &with(json!({"type": "function", "function": {"name": "sub"}})),
    );
    let names: Vec<_> = (openai["tools"].as_array().unwrap().iter())
        .map(|t| &t["function"]["name"])
        .collect();
    assert_eq!(names, [&json!("add"), &json!("sub")]);
    // Without tools of the request's own, the extra ones are the tools.
    let alone = ChatRequest::new()
        .user("x")
        .extra("tools", json!([web_search]));
    assert_eq!(body_of("anthropic", &alone)["tools"], json!([web_search]));

    // A null takes the field out, at any depth; `thinking: null` is no thinking, so the
    // client's temperature stays.
    let request = ChatRequest::new()
        .user("x")
        .extra("temperature", Value::Null)
        .extra("stream_options", json!({"include_usage": null}));
    let openai = body_of("openai", &request);
    let fields = openai.as_object().unwrap();
    assert!(!fields.contains_key("temperature"), "{openai}");
    assert_eq!(openai["stream_options"], json!({}));
    // An object where the body has none loses its nulls too (it is merged into `{}`).
    let request = ChatRequest::new()
        .user("x")
        .extra("metadata", json!({"user_id": null, "tag": "a"}));
    assert_eq!(
        body_of("anthropic", &request)["metadata"],
        json!({"tag": "a"})
    );
    let anthropic = body_of(
        "anthropic",
        &ChatRequest::new().user("x").extra("thinking", Value::Null),
    );
    let fields = anthropic.as_object().unwrap();
    assert!(!fields.contains_key("thinking"), "{anthropic}");
    assert_eq!(anthropic["temperature"], json!(0.0));
}

/// Mistral and Together take OpenAI's `developer` role as a system message and refuse a role
/// they do not have, as the other providers do; they sent both as they came (Mistral answers
/// 400 to them). An `OpenAIClient` sends any role as it is.
#[test]
fn mistral_and_together_take_the_developer_role_as_system() {
    let request = ChatRequest::new()
        .message(Message::new("developer", "Use British spelling."))
        .user("Colour?");
    for provider in ["mistral", "together"] {
        let body = body_of(provider, &request);
        assert_eq!(body["messages"][0]["role"], "system", "{provider}");
        let server = TestServer::start(|_| Reply::status(500, "nothing should be sent"));
        let client = client_for(provider, &server.url()).expect("a client");
        let odd = ChatRequest::new()
            .message(Message::new("function", "x"))
            .user("y");
        match client.stream(&odd) {
            Err(Error::InvalidRequest(message)) => {
                assert!(
                    message.contains("a message of role \"function\""),
                    "{provider}: {message}"
                )
            }
            other => panic!("{provider}: {other:?}"),
        }
        assert_eq!(server.request_count(), 0);
    }
    assert_eq!(
        body_of("openai", &request)["messages"][0]["role"],
        "developer"
    );
}

// ---------------------------------------------------------------------------------------------
// Each provider's request body, against its documented wire format
// ---------------------------------------------------------------------------------------------

/// The body `client` (made for a local server's base URL) sends for `request`.
fn sent_body(client: impl FnOnce(&str) -> Box<dyn ChatClient>, request: &ChatRequest) -> Value {
    let server = TestServer::start(|_| Reply::ok("").content_type("text/event-stream"));
    let client = client(&server.url());
    if let Err(e) = client.stream(request) {
        panic!("the request was not sent: {e}");
    }
    let sent = server.requests();
    serde_json::from_slice(&sent[0].body).expect("a JSON body")
}

/// The body `provider`'s client of [`client_for`] (model `recorded`, temperature 0) sends.
fn body_of(provider: &str, request: &ChatRequest) -> Value {
    sent_body(
        |base| client_for(provider, base).expect("a client"),
        request,
    )
}

/// A call of the tool `add` with `{"a":2}`.
fn add_call(id: &str) -> ToolCall {
    ToolCall {
        index: 0,
        id: id.into(),
        name: "add".into(),
        arguments: r#"{"a":2}"#.into(),
        signature: None,
    }
}

/// A request with every kind of part: a user message (`see`, the image `https://x/a.png`, the
/// bytes `hi` as a `media_type` image), an assistant turn saying `said` (if anything) and
/// making `call`, the call's result `2`, and the tool `add`.
fn every_part(media_type: &str, said: Option<&str>, call: &ToolCall) -> ChatRequest {
    let mut turn: Vec<Part> = said.map(Part::text).into_iter().collect();
    turn.push(Part::ToolCall(call.clone()));
    ChatRequest::new()
        .message(
            Message::user("see")
                .with_image_url("https://x/a.png")
                .with_image(media_type, b"hi".to_vec()),
        )
        .message(Message {
            role: "assistant".into(),
            content: turn,
        })
        .message(Message::tool_result(call, "2"))
        .tool(add_tool())
}

/// The messages of [`every_part`] (a PNG, call `id`) after the system prompt `s`, as chat
/// completions (and Cohere v2) take them; `said` is the assistant's text, in its field.
fn chat_completions_messages(said: Value, id: &str) -> Value {
    let mut assistant = said;
    assistant["role"] = json!("assistant");
    assistant["tool_calls"] = json!([
        {"id": id, "type": "function", "function": {"name": "add", "arguments": "{\"a\":2}"}},
    ]);
    json!([
        {"role": "system", "content": "s"},
        {"role": "user", "content": [
            {"type": "text", "text": "see"},
            {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
        ]},
        assistant,
        {"role": "tool", "tool_call_id": id, "content": "2"},
    ])
}

fn function_add() -> Value {
    json!([{"type": "function", "function": {"name": "add", "description": "adds", "parameters": {"type": "object"}}}])
}

/// `body[key]` for each tool choice, in the order Auto, None, Required.
fn tool_choices(provider: &str, key: &str) -> Vec<Value> {
    [ToolChoice::Auto, ToolChoice::None, ToolChoice::Required]
        .into_iter()
        .map(|choice| {
            let request = ChatRequest::new()
                .user("x")
                .tool(add_tool())
                .tool_choice(choice);
            body_of(provider, &request)[key].clone()
        })
        .collect()
}

#[test]
fn one_tool_call_at_a_time_is_asked_in_each_providers_words() {
    let with = |choice: Option<ToolChoice>, parallel: bool| {
        let request = ChatRequest::new().user("x").tool(add_tool());
        let request = match choice {
            Some(choice) => request.tool_choice(choice),
            None => request,
        };
        request.parallel_tool_calls(parallel)
    };
    for provider in ["openai", "mistral", "together"] {
        for parallel in [false, true] {
            let body = body_of(provider, &with(None, parallel));
            assert_eq!(body["parallel_tool_calls"], json!(parallel), "{provider}");
        }
        let body = body_of(provider, &ChatRequest::new().user("x").tool(add_tool()));
        assert!(
            body.get("parallel_tool_calls").is_none(),
            "{provider}: {body}"
        );
    }
    // Anthropic: a flag of the tool choice, `auto` when the request makes none; a choice of
    // none takes no flag (its type has none), and allowing parallel calls is the default.
    let choice_sent = |request: &ChatRequest| body_of("anthropic", request)["tool_choice"].clone();
    let one_at_a_time = [
        (
            None,
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (
            Some(ToolChoice::Auto),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (
            Some(ToolChoice::Required),
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (
            Some(ToolChoice::Tool("add".into())),
            json!({"type": "tool", "name": "add", "disable_parallel_tool_use": true}),
        ),
        (Some(ToolChoice::None), json!({"type": "none"})),
    ];
    for (choice, sent) in one_at_a_time {
        assert_eq!(
            choice_sent(&with(choice.clone(), false)),
            sent,
            "{choice:?}"
        );
    }
    assert_eq!(choice_sent(&with(None, true)), Value::Null);
    assert_eq!(
        choice_sent(&with(Some(ToolChoice::Required), true)),
        json!({"type": "any"})
    );
    // Gemini and Cohere v2 allow parallel calls and have no word for it: nothing is sent.
    for provider in ["gemini", "cohere_v2"] {
        let plain = body_of(provider, &ChatRequest::new().user("x").tool(add_tool()));
        assert_eq!(body_of(provider, &with(None, true)), plain, "{provider}");
    }
}

#[test]
fn an_openai_compatible_server_gets_the_token_limit_under_the_name_it_reads() {
    // Ollama and llama.cpp ignore `max_completion_tokens` without a word: the answer would
    // run to the end of the context. OpenAI's own API gets that name (unit-tested in
    // llm::openai, as no test reaches api.openai.com).
    let server = TestServer::start(|_| Reply::ok("").content_type("text/event-stream"));
    let client = OpenAIClient::builder("llama3.2", None)
        .env(|_| None)
        .base_url(format!("{}/v1", server.url()))
        .build();
    let _answer = client
        .stream(&ChatRequest::new().user("Count to 1000.").max_tokens(10))
        .expect("sent");
    let sent: Value = serde_json::from_slice(&server.requests()[0].body).expect("JSON");
    assert_eq!(sent["max_tokens"], 10);
    assert_eq!(sent.get("max_completion_tokens"), None);
}

#[test]
fn openai_bodies_follow_chat_completions() {
    let request = every_part("image/png", Some("adding"), &add_call("call_1"))
        .system("s")
        .tool_choice(ToolChoice::Tool("add".into()))
        .json()
        .max_tokens(10)
        .stop("END")
        .top_p(0.9)
        .seed(7)
        .temperature(0.1)
        .extra("reasoning_effort", json!("low"));
    assert_eq!(
        body_of("openai", &request),
        json!({
            "model": "recorded",
            "messages": chat_completions_messages(json!({"content": "adding"}), "call_1"),
            "stream": true,
            "temperature": 0.1,
            "max_tokens": 10,
            "top_p": 0.9,
            "seed": 7,
            "stop": ["END"],
            "tools": function_add(),
            "tool_choice": {"type": "function", "function": {"name": "add"}},
            "response_format": {"type": "json_object"},
            "stream_options": {"include_usage": true},
            "reasoning_effort": "low",
        })
    );
    assert_eq!(
        tool_choices("openai", "tool_choice"),
        [json!("auto"), json!("none"), json!("required")]
    );
    let schema = ChatRequest::new()
        .user("x")
        .json_schema("answer", json!({"type": "object"}));
    assert_eq!(
        body_of("openai", &schema)["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}})
    );
    // Usage can be left unasked, and an extra field replaces what the client would send.
    let quiet = |base: &str| -> Box<dyn ChatClient> {
        Box::new(
            OpenAIClient::builder("m", None)
                .base_url(base)
                .include_usage(false)
                .env(|_| None)
                .build(),
        )
    };
    let body = sent_body(quiet, &ChatRequest::new().user("x"));
    assert!(
        body.get("stream_options").is_none() && body.get("temperature").is_none(),
        "{body}"
    );
    let off = ChatRequest::new()
        .user("x")
        .extra("stream_options", json!({"include_usage": false}));
    assert_eq!(
        body_of("openai", &off)["stream_options"],
        json!({"include_usage": false})
    );
}

#[test]
fn mistral_and_together_spell_what_differs_their_own_way() {
    let request = ChatRequest::new()
        .user("x")
        .seed(3)
        .max_tokens(5)
        .tool(add_tool())
        .tool_choice(ToolChoice::Required);
    let expected = |seed: &str, required: &str| {
        json!({
            "model": "recorded", "messages": [{"role": "user", "content": "x"}], "stream": true,
            "temperature": 0.0, "max_tokens": 5, seed: 3, "tool_choice": required,
            "tools": function_add(),
        })
    };
    // Both stream their usage unasked: no stream_options.
    assert_eq!(body_of("mistral", &request), expected("random_seed", "any"));
    assert_eq!(body_of("together", &request), expected("seed", "required"));
}

#[test]
fn anthropic_bodies_follow_the_messages_api() {
    let schema = json!({"type": "object"});
    let request = every_part("image/jpeg", Some("adding"), &add_call("toolu_1"))
        .system("a")
        .message(Message::system("b"))
        .tool_choice(ToolChoice::Required)
        .max_tokens(50)
        .stop("END")
        .top_p(0.5)
        .json_schema("a", schema.clone());
    assert_eq!(
        body_of("anthropic", &request),
        json!({
            "model": "recorded",
            "max_tokens": 50,
            "system": "a\n\nb",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "aGk="}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "adding"},
                    {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 2}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"},
                ]},
            ],
            "stream": true,
            "top_p": 0.5,
            "stop_sequences": ["END"],
            "tools": [{"name": "add", "description": "adds", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
            "output_config": {"format": {"type": "json_schema", "schema": {
                "type": "object", "properties": {}, "additionalProperties": false,
            }}},
        })
    );
    let mut choices = tool_choices("anthropic", "tool_choice");
    let named = ChatRequest::new()
        .user("x")
        .tool(add_tool())
        .tool_choice(ToolChoice::Tool("add".into()));
    choices.push(body_of("anthropic", &named)["tool_choice"].clone());
    assert_eq!(
        choices,
        [
            json!({"type": "auto"}),
            json!({"type": "none"}),
            json!({"type": "any"}),
            json!({"type": "tool", "name": "add"})
        ]
    );
}

#[test]
fn a_developer_message_is_a_system_message_where_the_provider_has_no_such_role() {
    let request = ChatRequest::new()
        .message(Message::new("developer", "Be brief."))
        .user("q");
    assert_eq!(body_of("anthropic", &request)["system"], "Be brief.");
    assert_eq!(
        body_of("anthropic", &request)["messages"],
        json!([{"role": "user", "content": "q"}])
    );
    let gemini = body_of("gemini", &request);
    assert_eq!(
        gemini["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}]})
    );
    assert_eq!(gemini["contents"].as_array().map(Vec::len), Some(1));
    let cohere = body_of("cohere_v2", &request);
    assert_eq!(
        cohere["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(body_of("cohere", &request)["preamble"], "Be brief.");
    // OpenAI has the role: it goes as it is.
    assert_eq!(
        body_of("openai", &request)["messages"][0]["role"],
        "developer"
    );
}

#[test]
fn tool_parameters_are_an_object_schema_for_every_provider() {
    let request = ChatRequest::new()
        .user("q")
        .tool(Tool::new("now", "the time", Value::Null))
        .tool(Tool::new(
            "any",
            "anything",
            json!({"properties": {"x": {"type": "string"}}}),
        ));
    let none = json!({"type": "object", "properties": {}});
    let typed = json!({"type": "object", "properties": {"x": {"type": "string"}}});
    let anthropic = body_of("anthropic", &request)["tools"].clone();
    assert_eq!(
        (&anthropic[0]["input_schema"], &anthropic[1]["input_schema"]),
        (&none, &typed)
    );
    let gemini = body_of("gemini", &request)["tools"][0]["functionDeclarations"].clone();
    assert_eq!(
        (
            &gemini[0]["parametersJsonSchema"],
            &gemini[1]["parametersJsonSchema"]
        ),
        (&none, &typed)
    );
    for provider in ["openai", "cohere_v2"] {
        let tools = body_of(provider, &request)["tools"].clone();
        let sent = (
            &tools[0]["function"]["parameters"],
            &tools[1]["function"]["parameters"],
        );
        assert_eq!(sent, (&none, &typed), "{provider}");
    }
    // Parameters that are no schema at all are refused before anything is sent.
    let server = TestServer::start(|_| Reply::status(500, "nothing should be sent"));
    for provider in ["openai", "anthropic", "gemini", "cohere_v2"] {
        let client = client_for(provider, &server.url()).expect("a client");
        let bad = ChatRequest::new()
            .user("q")
            .tool(Tool::new("f", "d", json!(["x"])));
        match client.stream(&bad) {
            Err(Error::InvalidRequest(m)) => {
                assert!(
                    m.contains(
                        "the parameters of the tool \"f\" are [\"x\"], not a JSON schema object"
                    ),
                    "{m}"
                )
            }
            other => panic!("{provider}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(server.request_count(), 0, "a refused request was sent");
}

#[test]
fn a_call_without_arguments_goes_back_with_an_empty_object() {
    let call = ToolCall {
        arguments: String::new(),
        ..add_call("call_1")
    };
    let request = ChatRequest::new()
        .user("q")
        .message(Message {
            role: "assistant".into(),
            content: vec![Part::ToolCall(call.clone())],
        })
        .message(Message::tool_result(&call, "4"));
    for provider in ["openai", "cohere_v2"] {
        let sent = body_of(provider, &request)["messages"][1]["tool_calls"][0]["function"]
            ["arguments"]
            .clone();
        assert_eq!(sent, "{}", "{provider}");
    }
}

#[test]
fn anthropic_gets_a_schema_whose_objects_are_closed() {
    // Anthropic refuses an object schema without `additionalProperties: false`; the others
    // take the schema as it is.
    let schema = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            "at": {"anyOf": [{"$ref": "#/$defs/point"}, {"type": "null"}]},
            "extra": {"type": ["object", "null"]},
            "n": {"type": "integer", "description": "How many", "minimum": 1, "maximum": 9},
            "day": {"type": "string", "format": "date"},
            "code": {"type": "string", "format": "iata", "pattern": "^[A-Z]{3}$"},
            "one": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 2}]},
            "mode": {"enum": [1, "a"]},
            "kind": {"const": "point"},
        },
        "required": ["city"],
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}}},
    });
    let request = ChatRequest::new()
        .user("Where is the Eiffel Tower?")
        .json_schema("place", schema.clone());
    let sent = body_of("anthropic", &request)["output_config"]["format"]["schema"].clone();
    let closed = json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "tags": {"type": "array", "items": {
                "type": "object", "properties": {"k": {"type": "string"}}, "additionalProperties": false,
            }},
            "at": {"anyOf": [{"$ref": "#/$defs/point"}, {"type": "null"}]},
            "extra": {"type": ["object", "null"], "properties": {}, "additionalProperties": false},
            // What the API refuses goes into the description, as Anthropic's SDK puts it.
            "n": {"type": "integer", "description": "How many\n\n{maximum: 9, minimum: 1}"},
            "day": {"type": "string", "format": "date"},
            "code": {"type": "string", "description": "{format: \"iata\", pattern: \"^[A-Z]{3}$\"}"},
            "one": {"anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}, "description": "{minItems: 2}"},
            ]},
            // Values without a type (pydantic's `Literal`) go as they are.
            "mode": {"enum": [1, "a"]},
            "kind": {"const": "point"},
        },
        "required": ["city"],
        "$defs": {"point": {
            "type": "object", "properties": {"x": {"type": "number"}}, "additionalProperties": false,
        }},
        "additionalProperties": false,
    });
    assert_eq!(sent, closed);
    // A schema the API cannot take that no rewrite would fix is refused, naming where.
    let server = TestServer::start(|_| Reply::status(500, "nothing should be sent"));
    let client = client_for("anthropic", &server.url()).expect("a client");
    for (bad, says) in [
        (
            json!({"type": "object", "additionalProperties": true}),
            "root sets additionalProperties to true",
        ),
        (
            json!({"type": "object", "properties": {"x": {"description": "anything"}}}),
            "root.properties.x has no \"type\"",
        ),
        (
            json!({"type": "array", "items": 3}),
            "root.items is not an object",
        ),
    ] {
        match client.stream(&ChatRequest::new().user("x").json_schema("s", bad)) {
            Err(Error::InvalidRequest(message)) => assert!(message.contains(says), "{message}"),
            other => panic!("expected a refusal saying {says:?}, got {other:?}"),
        }
    }
    assert_eq!(server.request_count(), 0, "a refused request was sent");
    // A media type as the API spells it.
    let image =
        ChatRequest::new().message(Message::user("see").with_image("IMAGE/PNG", b"hi".to_vec()));
    let sent = body_of("anthropic", &image);
    assert_eq!(
        sent["messages"][0]["content"][1]["source"]["media_type"],
        "image/png"
    );
    let openai = body_of("openai", &request);
    assert_eq!(openai["response_format"]["json_schema"]["schema"], schema);
    let gemini = body_of("gemini", &request);
    assert_eq!(gemini["generationConfig"]["responseJsonSchema"], schema);
}

#[test]
fn gemini_bodies_follow_generate_content() {
    let call = ToolCall {
        signature: Some("CiQB".into()),
        ..add_call("")
    };
    let schema = json!({"type": "object"});
    let request = ChatRequest::new()
        .system("s")
        .message(
            Message::user("see")
                .with_image_url("gs://b/cat.PNG")
                .with_image_url("https://x/y")
                .with_image("image/png", b"hi".to_vec()),
        )
        .message(Message {
            role: "assistant".into(),
            content: vec![Part::ToolCall(call.clone())],
        })
        .message(Message::tool_result(&call, "4"))
        .message(Message::tool_result(&call, r#"{"sum": 4}"#))
        .tool(Tool::new("add", "adds", schema.clone()))
        .tool_choice(ToolChoice::Tool("add".into()))
        .json_schema("a", schema.clone())
        .max_tokens(8)
        .stop("END")
        .top_p(0.7)
        .seed(3)
        .temperature(0.5);
    assert_eq!(
        body_of("gemini", &request),
        json!({
            "contents": [
                {"role": "user", "parts": [
                    {"text": "see"},
                    {"fileData": {"fileUri": "gs://b/cat.PNG", "mimeType": "image/png"}},
                    {"fileData": {"fileUri": "https://x/y"}},
                    {"inlineData": {"mimeType": "image/png", "data": "aGk="}},
                ]},
                {"role": "model", "parts": [{"functionCall": {"name": "add", "args": {"a": 2}}, "thoughtSignature": "CiQB"}]},
                // Consecutive results, one user turn; a result that is not an object goes under "output".
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "add", "response": {"output": 4}}},
                    {"functionResponse": {"name": "add", "response": {"sum": 4}}},
                ]},
            ],
            "systemInstruction": {"parts": [{"text": "s"}]},
            "tools": [{"functionDeclarations": [{"name": "add", "description": "adds", "parametersJsonSchema": schema}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["add"]}},
            "generationConfig": {
                "temperature": 0.5, "topP": 0.7, "maxOutputTokens": 8, "stopSequences": ["END"], "seed": 3,
                "responseMimeType": "application/json", "responseJsonSchema": schema,
            },
        })
    );
    let json_mode = body_of("gemini", &ChatRequest::new().user("x").json());
    assert_eq!(
        json_mode["generationConfig"],
        json!({"temperature": 0.0, "responseMimeType": "application/json"})
    );
    let modes: Vec<Value> = tool_choices("gemini", "toolConfig");
    assert_eq!(
        modes,
        ["AUTO", "NONE", "ANY"].map(|mode| json!({"functionCallingConfig": {"mode": mode}}))
    );
}

#[test]
fn cohere_v1_bodies_keep_the_last_message_apart() {
    let request = ChatRequest::new()
        .system("a")
        .message(Message::system("b"))
        .user("q")
        .message(Message::assistant("r"))
        .message(Message::new("ChatBot", "t"))
        .user("last")
        .max_tokens(5)
        .stop("END")
        .top_p(0.5)
        .seed(2)
        .json_schema("s", json!({"type": "object"}));
    assert_eq!(
        body_of("cohere", &request),
        json!({
            "model": "recorded", "message": "last", "preamble": "a\n\nb", "stream": true,
            "chat_history": [{"role": "USER", "message": "q"}, {"role": "CHATBOT", "message": "r"},
                {"role": "CHATBOT", "message": "t"}],
            "temperature": 0.0,
            "max_tokens": 5,
            "stop_sequences": ["END"],
            "p": 0.5,
            "seed": 2,
            "response_format": {"type": "json_object", "schema": {"type": "object"}},
        })
    );
}

#[test]
fn cohere_v2_bodies_follow_the_v2_chat() {
    let request = every_part("image/png", Some("I will add."), &add_call("c1"))
        .system("s")
        .tool_choice(ToolChoice::Required)
        .max_tokens(9);
    assert_eq!(
        body_of("cohere_v2", &request),
        json!({
            "model": "recorded", "stream": true,
            "messages": chat_completions_messages(json!({"tool_plan": "I will add."}), "c1"),
            "tools": function_add(),
            "tool_choice": "REQUIRED",
            "temperature": 0.0,
            "max_tokens": 9,
        })
    );
    let json_mode = ChatRequest::new().user("x").json();
    assert_eq!(
        body_of("cohere_v2", &json_mode)["response_format"],
        json!({"type": "json_object"})
    );
    assert_eq!(
        tool_choices("cohere_v2", "tool_choice"),
        [Value::Null, json!("NONE"), json!("REQUIRED")]
    );
    // v2 cannot name a tool: the choice of the only tool offered is "a tool", REQUIRED.
    let only = ChatRequest::new()
        .user("x")
        .tool(add_tool())
        .tool_choice(ToolChoice::Tool("add".into()));
    assert_eq!(body_of("cohere_v2", &only)["tool_choice"], "REQUIRED");
    let schema = ChatRequest::new()
        .user("x")
        .json_schema("s", json!({"type": "object"}));
    assert_eq!(
        body_of("cohere_v2", &schema)["response_format"],
        json!({"type": "json_object", "json_schema": {"type": "object"}})
    );
}

#[test]
fn extra_fields_reach_every_providers_body_and_win() {
    let request = ChatRequest::new()
        .user("x")
        .extra("safety", json!({"level": 1}))
        .extra("model", json!("other"));
    for provider in [
        "openai",
        "anthropic",
        "gemini",
        "cohere_v2",
        "cohere",
        "mistral",
        "together",
    ] {
        let body = body_of(provider, &request);
        assert_eq!(body["safety"], json!({"level": 1}), "{provider}");
        assert_eq!(body["model"], json!("other"), "{provider}");
    }
}

#[test]
fn fields_a_compatible_server_added_go_back_to_those_servers_only() {
    let mut call = add_call("call_1");
    call.signature = Some("sig".into());
    let reasoning = Thought::Unsigned {
        field: "reasoning_content".into(),
        text: "think".into(),
    };
    let turn = Message {
        role: "assistant".into(),
        content: vec![Part::Thought(reasoning), Part::ToolCall(call.clone())],
    };
    let request = ChatRequest::new()
        .user("2 + ?")
        .message(turn)
        .message(Message::tool_result(&call, "4"))
        .tool(add_tool());
    let openai = body_of("openai", &request);
    assert_eq!(openai["messages"][1]["reasoning_content"], "think");
    assert_eq!(
        openai["messages"][1]["tool_calls"][0]["extra_content"],
        json!({"google": {"thought_signature": "sig"}})
    );
    // Mistral refuses fields it does not know; Cohere has its own.
    for provider in ["mistral", "cohere_v2"] {
        let body = body_of(provider, &request);
        let turn = body["messages"][1].as_object().expect("a message");
        assert!(
            !turn.contains_key("reasoning_content"),
            "{provider}: {turn:?}"
        );
        assert!(
            turn["tool_calls"][0].get("extra_content").is_none(),
            "{provider}: {turn:?}"
        );
    }
}

/// OpenRouter's `reasoning_details` of a recorded answer (Grok's encrypted reasoning) go back
/// whole in the assistant's message of the next turn, to the OpenAI-compatible servers only.
#[test]
fn openrouter_reasoning_details_go_back_as_they_came() {
    let file = "openrouter_grok-4_processing_comments.sse";
    let server = serve_in_turn(&[file]);
    let client = client_for("openai", &server.url()).expect("a client");
    let request = ChatRequest::new().user("Hi");
    let answer = client.complete(&request).expect("the recorded answer");
    // What the recording holds: its one block, read from the file itself.
    let body = fs::read_to_string(streams_dir().join(file)).expect("the recording");
    let recorded: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["reasoning_details"]
                .as_array()
                .cloned()
        })
        .flatten()
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["type"], "reasoning.encrypted");
    let next = request.message(answer.message()).user("And then?");
    let turn = &body_of("openai", &next)["messages"][1];
    assert_eq!(turn["reasoning_details"], json!(recorded), "{turn}");
    for provider in ["mistral", "cohere_v2", "anthropic", "gemini"] {
        let sent = body_of(provider, &next).to_string();
        assert!(!sent.contains("reasoning.encrypted"), "{provider}: {sent}");
    }
}

#[test]
fn a_base_url_with_a_query_keeps_it_after_the_endpoint_path_for_every_provider() {
    use ureq_futures::llm::{AnthropicClient, CohereApi, CohereClient, GeminiClient, OpenAIClient};
    let server = TestServer::start(|_| Reply::status(404, "no"));
    let chat = |client: Box<dyn ChatClient>| {
        let _ = client
            .stream_chat(&[Message::user("hi")])
            .map(|s| s.count());
    };
    for base in ["{}/x?api-version=1&k=v", "{}/x/?api-version=1&k=v"] {
        let base = base.replace("{}", &server.url());
        let env = |_: &str| None;
        chat(Box::new(
            OpenAIClient::builder("m", None)
                .env(env)
                .base_url(&base)
                .build(),
        ));
        chat(Box::new(
            AnthropicClient::builder("m", None)
                .env(env)
                .base_url(&base)
                .build(),
        ));
        chat(Box::new(
            GeminiClient::builder("models/m", None)
                .env(env)
                .base_url(&base)
                .build(),
        ));
        chat(Box::new(
            CohereClient::builder("m", None)
                .env(env)
                .base_url(&base)
                .build(),
        ));
        chat(Box::new(
            CohereClient::builder("m", None)
                .env(env)
                .api(CohereApi::V1)
                .base_url(&base)
                .build(),
        ));
        let _ = OpenAIClient::builder("m", None)
            .env(env)
            .base_url(&base)
            .build()
            .embed(&["a"]);
        let _ = GeminiClient::builder("m", None)
            .env(env)
            .base_url(&base)
            .build()
            .embed(&["a"]);
        let _ = CohereClient::builder("m", None)
            .env(env)
            .base_url(&base)
            .build()
            .embed(&["a"]);
    }
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    let once = [
        "/x/chat/completions?api-version=1&k=v",
        "/x/v1/messages?api-version=1&k=v",
        "/x/v1beta/models/m:streamGenerateContent?alt=sse&api-version=1&k=v",
        "/x/v2/chat?api-version=1&k=v",
        "/x/v1/chat?api-version=1&k=v",
        "/x/embeddings?api-version=1&k=v",
        "/x/v1beta/models/m:batchEmbedContents?api-version=1&k=v",
        "/x/v2/embed?api-version=1&k=v",
    ];
    assert_eq!(paths, [once, once].concat());
}
