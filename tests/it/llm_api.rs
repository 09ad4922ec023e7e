//! The small promises of `ureq_futures::llm`'s public items: the values of its constants, what
//! its helpers and accessors return, and what a stream folds into its state and its
//! `ChatResponse`. No server: the network behaviour is in the other `llm_*` modules.

use std::time::Duration;

use serde_json::{json, Value};
use ureq_futures::llm::{
    AnthropicClient, ChatEvent, ChatRequest, ChatResponse, ChatStream, CohereApi, CohereClient,
    Conversation, EmbedOptions, GeminiClient, Message, MistralClient, OpenAIClient, Part,
    ServerToolResult, TogetherClient, ToolCall, ToolCallDelta, ToolResult, Usage, API_KEY_VAR,
    BASE_URL_VAR, DEFAULT_BASE_URL, DEFAULT_READ_TIMEOUT, DEFAULT_TIMEOUT,
};
use ureq_futures::Error;

#[test]
fn constants_hold_the_documented_values() {
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(120));
    assert_eq!(DEFAULT_READ_TIMEOUT, Duration::from_secs(300));
    let openai = (API_KEY_VAR, BASE_URL_VAR, DEFAULT_BASE_URL);
    assert_eq!(
        openai,
        (
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "https://api.openai.com/v1"
        )
    );
    let vars = [
        (
            OpenAIClient::API_KEY_VAR,
            OpenAIClient::BASE_URL_VAR,
            OpenAIClient::DEFAULT_BASE_URL,
        ),
        (
            AnthropicClient::API_KEY_VAR,
            AnthropicClient::BASE_URL_VAR,
            AnthropicClient::DEFAULT_BASE_URL,
        ),
        (
            GeminiClient::API_KEY_VAR,
            GeminiClient::BASE_URL_VAR,
            GeminiClient::DEFAULT_BASE_URL,
        ),
        (
            CohereClient::API_KEY_VAR,
            CohereClient::BASE_URL_VAR,
            CohereClient::DEFAULT_BASE_URL,
        ),
        (
            MistralClient::API_KEY_VAR,
            MistralClient::BASE_URL_VAR,
            MistralClient::DEFAULT_BASE_URL,
        ),
        (
            TogetherClient::API_KEY_VAR,
            TogetherClient::BASE_URL_VAR,
            TogetherClient::DEFAULT_BASE_URL,
        ),
    ];
    assert_eq!(
        vars,
        [
            openai,
            (
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_BASE_URL",
                "https://api.anthropic.com"
            ),
            (
                "GEMINI_API_KEY",
                "GEMINI_BASE_URL",
                "https://generativelanguage.googleapis.com"
            ),
            (
                "COHERE_API_KEY",
                "COHERE_BASE_URL",
                "https://api.cohere.com"
            ),
            (
                "MISTRAL_API_KEY",
                "MISTRAL_BASE_URL",
                "https://api.mistral.ai/v1"
            ),
            (
                "TOGETHER_API_KEY",
                "TOGETHER_BASE_URL",
                "https://api.together.xyz/v1"
            ),
        ]
    );
    assert_eq!(GeminiClient::FALLBACK_API_KEY_VAR, "GOOGLE_API_KEY");
    assert_eq!(AnthropicClient::API_VERSION, "2023-06-01");
    assert_eq!(AnthropicClient::DEFAULT_MAX_TOKENS, 4096);
}

#[test]
fn clients_report_their_settings() {
    let client = AnthropicClient::new("claude-haiku-4-5", 0.2);
    assert_eq!(
        (client.model_name(), client.temperature()),
        ("claude-haiku-4-5", Some(0.2))
    );
    assert_eq!(client.max_tokens(), AnthropicClient::DEFAULT_MAX_TOKENS);
    let longer = AnthropicClient::builder("claude-haiku-4-5", None)
        .max_tokens(16_000)
        .build();
    assert_eq!((longer.max_tokens(), longer.temperature()), (16_000, None));
    assert_eq!(CohereApi::default(), CohereApi::V2);
    assert_eq!(
        CohereClient::new("command-a-03-2025", None).api(),
        CohereApi::V2
    );
    let v1 = CohereClient::builder("command-r", None)
        .api(CohereApi::V1)
        .build();
    assert_eq!(v1.api(), CohereApi::V1);
    let env = |name: &str| (name == "OPENAI_BASE_URL").then(|| "http://localhost:8000/v1/".into());
    let local = OpenAIClient::builder("m", None).env(env).build();
    assert_eq!(local.base_url(), "http://localhost:8000/v1");
    let gemini =
        GeminiClient::builder("m", None).env(|name| (name == "GOOGLE_API_KEY").then(|| "k".into()));
    assert!(gemini.build().has_api_key());
}

/// A base URL written without its scheme, as Ollama's docs write the host, is refused with the
/// base URL's fix and the variable it may come from; the fix was the chat endpoint's URL.
#[test]
fn a_base_url_without_a_scheme_gets_the_base_urls_fix() {
    let client = OpenAIClient::builder("llama3.2", None)
        .base_url("localhost:11434/v1")
        .env(|_| None)
        .build();
    let err = client
        .stream(&ChatRequest::new().user("hi"))
        .expect_err("a base URL without a scheme was taken");
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid request: the base URL localhost:11434/v1 has no scheme: give the client \
         builder's base_url (or OPENAI_BASE_URL) the whole URL: http://localhost:11434/v1"
    );
}

#[test]
fn options_clamp_what_must_be_at_least_one() {
    let options = EmbedOptions::new()
        .batch_size(0)
        .in_flight(0)
        .dimensions(256);
    assert_eq!((options.batch_size, options.in_flight), (Some(1), Some(1)));
    assert_eq!(options.dimensions, Some(256));
    assert_eq!(EmbedOptions::new(), EmbedOptions::default());
}

#[test]
fn messages_are_made_and_read_as_documented() {
    assert_eq!(Message::new("user", "hi"), Message::user("hi"));
    let roles = [
        Message::system("s"),
        Message::user("u"),
        Message::assistant("a"),
    ]
    .map(|m| m.role);
    assert_eq!(roles, ["system", "user", "assistant"]);
    let m = Message::user("Look: ")
        .with_image_url("https://example.com/a.png")
        .with_image("image/png", vec![1, 2])
        .with_part(Part::text("it is blue."));
    assert_eq!(m.text(), "Look: it is blue."); // the text parts only, in order
    assert_eq!(
        m.content[1],
        Part::ImageUrl {
            url: "https://example.com/a.png".into()
        }
    );
    let call = ToolCall {
        id: "call_1".into(),
        name: "add".into(),
        ..ToolCall::default()
    };
    let result = Message::tool_result(&call, "5");
    let expected = ToolResult {
        call_id: "call_1".into(),
        name: "add".into(),
        content: "5".into(),
        is_error: false,
    };
    assert_eq!(
        (result.role.as_str(), &result.content[..]),
        ("tool", &[Part::ToolResult(expected.clone())][..])
    );
    let failed = Message::tool_error(&call, "no such number");
    let expected = ToolResult {
        content: "no such number".into(),
        is_error: true,
        ..expected
    };
    assert_eq!(failed.content, [Part::ToolResult(expected)]);
}

#[test]
fn a_request_collects_its_messages_in_order() {
    let history = vec![Message::user("Hi"), Message::assistant("Hello!")];
    let mut request = ChatRequest::new()
        .system("Be brief.")
        .messages_from(history.clone())
        .user("Joke?");
    request.push(Message::assistant("No."));
    let roles: Vec<&str> = request.messages().iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]); // the system prompt is apart
    assert_eq!(request.messages()[..2], history[..]);
    assert_eq!(ChatRequest::new(), ChatRequest::default());
    let messages = vec![Message::user("hi")];
    let expected = ChatRequest::new().user("hi");
    assert_eq!(ChatRequest::from(&messages), expected);
    assert_eq!(ChatRequest::from(&messages[..]), expected);
    assert_eq!(ChatRequest::from(&[Message::user("hi")]), expected);
    assert_eq!(ChatRequest::from(&expected), expected);
    assert_eq!(ChatRequest::from(messages), expected);
}

#[test]
fn a_stream_folds_every_event_into_its_state_and_response() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let piece = |index, name: Option<&str>, arguments: &str| ToolCallDelta {
        index: Some(index),
        name: name.map(String::from),
        arguments: arguments.into(),
        ..ToolCallDelta::default()
    };
    let server_result = ServerToolResult {
        tool_use_id: "srv_1".into(),
        kind: "web_search_tool_result".into(),
        block: json!({"content": []}),
    };
    let usage = Usage::from_openai(
        &json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
    );
    assert!(Usage::from_openai(&Value::Null).is_none());
    tx.send(Ok(vec![
        ChatEvent::Reasoning("hmm, ".into()),
        ChatEvent::Reasoning("yes".into()),
        ChatEvent::ToolPlan("I will add.".into()),
        ChatEvent::ToolCall(piece(0, Some("add"), r#"{"a":"#)),
        ChatEvent::ServerToolUse(piece(0, Some("web_search"), "{}")),
        ChatEvent::ServerToolResult(server_result.clone()),
    ]))
    .unwrap();
    tx.send(Ok(vec![
        ChatEvent::ToolCall(piece(0, None, "2}")),
        ChatEvent::Text("Adding.".into()),
        ChatEvent::Refusal("Not ".into()),
        ChatEvent::Refusal("that.".into()),
        ChatEvent::Finish("tool_calls".into()),
        ChatEvent::Usage(usage.clone().unwrap()),
        ChatEvent::Done,
        ChatEvent::Text("after the end".into()),
    ]))
    .unwrap();
    let mut stream = ChatStream::from_receiver(rx);
    assert_eq!(
        stream.next_event().unwrap().unwrap(),
        ChatEvent::Reasoning("hmm, ".into())
    );
    assert_eq!(stream.reasoning(), "hmm, ");
    assert!(!stream.is_done());
    let response = ChatResponse::from_stream(stream).unwrap();
    assert_eq!(response.text, "Adding.");
    assert_eq!(response.reasoning, "hmm, yes");
    assert_eq!(response.tool_plan, "I will add.");
    assert_eq!(response.refusal.as_deref(), Some("Not that."));
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        (&response.usage, response.request_id.as_deref()),
        (&usage, None)
    );
    let call = &response.tool_calls[0];
    assert_eq!(
        (call.name.as_str(), call.arguments.as_str()),
        ("add", r#"{"a":2}"#)
    );
    assert_eq!(response.server_tool_uses[0].name, "web_search");
    assert_eq!(response.server_tool_results, [server_result]);
    // The assistant's turn for the history: the text, else the tool plan, and the calls.
    let turn = response.message();
    assert_eq!(
        (turn.text(), turn.tool_calls().count()),
        ("Adding.".into(), 1)
    );
    let mut plan_only = response;
    plan_only.text.clear();
    assert_eq!(plan_only.message().text(), "I will add.");
}

/// A stream whose error the caller read (a loop that printed the text and stopped at the
/// error) gives no response: a partial answer with no finish reason is not an answer.
#[test]
fn a_response_from_a_stream_whose_error_was_read_is_that_error() {
    let (tx, rx) = crossbeam_channel::unbounded();
    tx.send(Ok(vec![ChatEvent::Text("Half an ".into())]))
        .unwrap();
    tx.send(Err(ureq_futures::Error::Protocol(
        "the answer was cut: the stream ended before its end marker".into(),
    )))
    .unwrap();
    let mut stream = ChatStream::from_receiver(rx);
    let read: Vec<_> = stream.by_ref().collect();
    assert_eq!(read.len(), 2);
    assert!(read[1].is_err());
    let error = ChatResponse::from_stream(stream).unwrap_err().to_string();
    assert!(
        error.contains("read before ChatResponse::from_stream")
            && error.contains("the answer was cut"),
        "{error}"
    );
    assert_eq!(error.matches("protocol").count(), 1, "{error}");
}

/// A response made from a stream that was read in part holds the whole answer: the text read
/// before too (a tool loop that printed the pieces sent an empty turn back to the model unless it
/// kept its own copy); `ChatStream::text` is the text handed out so far.
#[test]
fn a_response_from_a_stream_read_in_part_holds_the_whole_text() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let text = |t: &str| ChatEvent::Text(t.into());
    tx.send(Ok(vec![text("Let me "), text("add.")])).unwrap();
    tx.send(Ok(vec![ChatEvent::Finish("stop".into()), ChatEvent::Done]))
        .unwrap();
    let mut stream = ChatStream::from_receiver(rx);
    assert_eq!(stream.next().unwrap().unwrap(), "Let me ");
    assert_eq!(stream.text(), "Let me ");
    let answer = ChatResponse::from_stream(stream).unwrap();
    assert_eq!(answer.text, "Let me add.");
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    assert_eq!(answer.message(), Message::assistant("Let me add."));
}

#[test]
fn a_conversation_keeps_one_system_prompt() {
    let chat = Conversation::new(OpenAIClient::new("gpt-4o-mini", None))
        .with_system_prompt("You are a pirate.")
        .with_system_prompt("You are a poet.");
    assert_eq!(chat.messages(), [Message::system("You are a poet.")]);
    assert_eq!(chat.system_prompt(), Some("You are a poet."));
    let plain = Conversation::new(OpenAIClient::new("gpt-4o-mini", None));
    assert_eq!(plain.system_prompt(), None);
}

/// `ChatResponse::json`: the answer parsed, a Markdown fence taken off; an answer that is not
/// JSON, or does not fit, is an error that quotes it and says when it was cut.
#[test]
fn an_answer_is_parsed_as_json_and_a_bad_one_is_quoted() {
    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Place {
        city: String,
    }
    let answer = |text: &str, finish: &str| {
        let mut response = ChatResponse::default();
        response.text = text.into();
        response.finish_reason = Some(finish.into());
        response
    };
    let paris = Place {
        city: "Paris".into(),
    };
    for text in [
        r#"{"city": "Paris"}"#,
        "\n```json\n{\"city\": \"Paris\"}\n```\n",
        "```\n{\"city\": \"Paris\"}\n```",
        "```{\"city\": \"Paris\"}```",
    ] {
        assert_eq!(
            answer(text, "stop").json::<Place>().unwrap(),
            paris,
            "{text:?}"
        );
    }
    let cases = [
        (r#"{"city": "Par"#, "length", "is not JSON"),
        (
            r#"{"town": "Paris"}"#,
            "stop",
            "does not fit the type asked for",
        ),
        (
            "Paris is the city.",
            "end_turn",
            "it starts \"Paris is the city.\"",
        ),
        ("", "STOP", "is empty, not JSON"),
    ];
    for (text, finish, words) in cases {
        let err = answer(text, finish).json::<Place>().unwrap_err();
        let message = err.to_string();
        let cut = message.contains("cut at its token limit: raise max_tokens");
        assert!(
            matches!(err, ureq_futures::Error::Json(_)) && message.contains(words),
            "{message}"
        );
        assert_eq!(cut, finish == "length", "{message}");
    }
    // A long answer is quoted by its start.
    let long = "x".repeat(500);
    let message = answer(&long, "stop")
        .json::<Place>()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!("\"{}\"...", "x".repeat(80))),
        "{message}"
    );
}

/// Every provider's word for an answer cut at its token limit, or at the model's context window,
/// reads as such; a whole answer's, a tool call's and none do not.
#[test]
fn a_stream_says_when_it_stopped_at_its_token_limit() {
    let stopped = |finish: Option<&str>| {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut events = vec![ChatEvent::Text("Once".into())];
        events.extend(finish.map(|f| ChatEvent::Finish(f.into())));
        events.push(ChatEvent::Done);
        tx.send(Ok(events)).unwrap();
        let mut stream = ChatStream::from_receiver(rx);
        stream.by_ref().for_each(drop);
        stream.stopped_at_token_limit()
    };
    for cut in [
        "length",
        "max_tokens",
        "MAX_TOKENS",
        "model_context_window_exceeded",
        "model_length",
    ] {
        assert!(stopped(Some(cut)), "{cut}");
    }
    for whole in [Some("stop"), Some("end_turn"), Some("tool_calls"), None] {
        assert!(!stopped(whole), "{whole:?}");
    }
}
