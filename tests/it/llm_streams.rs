//! Real captured LLM streams (`tests/data/llm-streams`, see its README), served over loopback a
//! few bytes at a time and read through each provider's client.
//!
//! Every transcript is checked: a provider without an arm in [`client_for`] fails the test.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{ms, Reply, TestServer};
use ureq_futures::llm::{
    AnthropicClient, ChatClient, ChatStream, ClientBuilder, CohereApi, CohereClient, GeminiClient,
    Message, MistralClient, OpenAIClient, Protocol, TogetherClient,
};
use ureq_futures::Error;

/// Bytes per write when serving a transcript: small enough to split lines, events and UTF-8
/// characters everywhere.
const PIECE: usize = 7;

pub(crate) fn streams_dir() -> PathBuf {
    crate::llm_streams_dir()
}

/// The transcripts listed in `index.json` (at least one).
pub(crate) fn transcripts() -> Vec<Value> {
    let path = streams_dir().join("index.json");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let index: Value = serde_json::from_str(&text).expect("index.json is JSON");
    let transcripts = index["transcripts"].as_array().cloned().unwrap_or_default();
    assert!(
        !transcripts.is_empty(),
        "{} lists no transcripts",
        path.display()
    );
    transcripts
}

/// The client for `provider`'s transcripts (the index's provider names, `mistral` and `together`),
/// talking to `base_url`; `None` for an unknown provider. Also the clients of the wire-format
/// and request tests (`llm_wire`, `llm_requests`).
pub(crate) fn client_for(provider: &str, base_url: &str) -> Option<Box<dyn ChatClient>> {
    /// `builder` with a key, `base_url` and nothing from the process environment.
    fn local<P: Protocol>(builder: ClientBuilder<P>, base_url: &str) -> Box<dyn ChatClient> {
        Box::new(
            builder
                .api_key("test-key")
                .base_url(base_url)
                .env(|_| None)
                .build(),
        )
    }
    let (model, temperature) = ("recorded", 0.0);
    Some(match provider {
        "openai" => local(OpenAIClient::builder(model, temperature), base_url),
        "anthropic" => local(AnthropicClient::builder(model, temperature), base_url),
        "gemini" => local(GeminiClient::builder(model, temperature), base_url),
        "cohere" => local(
            CohereClient::builder(model, temperature).api(CohereApi::V1),
            base_url,
        ),
        "cohere_v2" => local(CohereClient::builder(model, temperature), base_url),
        "mistral" => local(MistralClient::builder(model, temperature), base_url),
        "together" => local(TogetherClient::builder(model, temperature), base_url),
        _ => return None,
    })
}

/// Serves `file` in pieces of [`PIECE`] bytes with a content type fitting its extension.
fn serve(file: &Path) -> TestServer {
    let body = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("ndjson") => "application/x-ndjson",
        _ => "text/event-stream",
    };
    TestServer::start(move |_| {
        Reply::chunked(body.chunks(PIECE).map(<[u8]>::to_vec), ms(0)).content_type(content_type)
    })
}

/// What reading an answer gave: its text, the error that ended it, and the stream's state.
pub(crate) struct Outcome {
    pub(crate) text: String,
    pub(crate) error: Option<Error>,
    pub(crate) stream: ChatStream,
}

/// Reads the answer of `client`, whose server serves transcript `file`, to its end.
fn read(client: &dyn ChatClient, file: &str) -> Outcome {
    let stream = client
        .stream_chat(&[Message::user("recorded")])
        .unwrap_or_else(|e| panic!("{file}: the request failed: {e}"));
    drain(stream)
}

/// Reads `stream` to its end.
pub(crate) fn drain(mut stream: ChatStream) -> Outcome {
    let mut text = String::new();
    let mut error = None;
    for piece in stream.by_ref() {
        match piece {
            Ok(piece) => text.push_str(&piece),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    Outcome {
        text,
        error,
        stream,
    }
}

/// Streams transcript `file` through `provider`'s client; `None` for an unknown provider.
fn run(provider: &str, file: &str) -> Option<Outcome> {
    let server = serve(&streams_dir().join(file));
    let client = client_for(provider, &server.url())?;
    Some(read(&*client, file))
}

/// Checks one transcript against its index entry; returns what was wrong.
///
/// The clean end expected: the terminator where the entry says the stream has one, and for
/// Gemini, which has none, the end of the body after a `finishReason` (every Gemini transcript
/// has one). Other streams without a terminator must be reported as cut, unless the entry
/// names the error they end with.
fn check(entry: &Value) -> Result<(), String> {
    let file = entry["file"].as_str().ok_or("an entry without a file")?;
    let provider = entry["provider"].as_str().unwrap_or("");
    let Some(outcome) = run(provider, file) else {
        return Err(format!("{file}: no client for provider {provider:?}"));
    };
    let expected_text = entry["expected_text"].as_str().unwrap_or("");
    if outcome.text != expected_text {
        return Err(format!(
            "{file}: text differs\n  expected: {expected_text:?}\n  got:      {:?}",
            outcome.text
        ));
    }
    let terminated = entry["ends_with_terminator"].as_bool().unwrap_or(true);
    let clean_end = terminated || provider == "gemini";
    match (entry["expected_error"].as_str(), outcome.error) {
        (Some(expected), Some(e)) if e.to_string().contains(expected) => {}
        (Some(expected), other) => {
            return Err(format!(
                "{file}: expected an error naming {expected:?}, got {other:?}"
            ));
        }
        (None, Some(Error::Protocol(msg))) if !clean_end && msg.contains("cut") => {}
        (None, None) if clean_end && outcome.stream.is_done() => {}
        (None, other) => {
            return Err(format!(
                "{file}: ends_with_terminator is {terminated}, but the stream ended with {other:?}"
            ));
        }
    }
    Ok(())
}

#[test]
fn every_recorded_stream_yields_exactly_its_text() {
    let transcripts = transcripts();
    let failures: Vec<String> = transcripts
        .iter()
        .filter_map(|entry| check(entry).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!transcripts.is_empty(), "index.json lists no transcript");
    eprintln!("all {} recorded streams checked", transcripts.len());
}

/// Runs one OpenAI-format transcript.
fn openai(file: &str) -> Outcome {
    recorded("openai", file)
}

#[test]
fn recorded_tool_call_is_assembled() {
    let outcome = openai("openai_gpt-4o-mini_tool_call_include_usage.sse");
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let calls = outcome.stream.tool_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].id, "call_ZR5UUuTt3pf61kjwAJIYdVMj");
    assert_eq!(calls[0].name, "get_capital");
    assert_eq!(calls[0].arguments, r#"{"country":"UK"}"#);
    assert_eq!(outcome.stream.finish_reason(), Some("tool_calls"));
    assert_eq!(
        outcome.stream.usage().and_then(|u| u.total_tokens),
        Some(68)
    );
}

#[test]
fn recorded_usage_survives_a_moderation_trailer() {
    let outcome = openai("openai_gpt-5_usage_then_moderation_trailer.sse");
    let usage = outcome.stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(13), Some(11))
    );
    assert_eq!(outcome.stream.finish_reason(), Some("stop"));
}

#[test]
fn recorded_reasoning_is_kept_apart() {
    let outcome = openai("deepseek_reasoner_reasoning_content.sse");
    assert!(!outcome.stream.reasoning().is_empty());
    assert!(!outcome
        .stream
        .reasoning()
        .contains("How can I help you today?"));
    let mistral = openai("mistral_magistral-medium_array_thinking_content.sse");
    assert!(mistral.stream.reasoning().starts_with("Okay, the user"));
}

#[test]
fn recorded_finish_reasons_and_groq_usage() {
    let deepseek = openai("deepseek-chat_finish_length.sse");
    assert_eq!(deepseek.stream.finish_reason(), Some("length"));
    let groq = openai("groq_llama3-8b-8192_long.sse");
    assert_eq!(groq.stream.usage().and_then(|u| u.output_tokens), Some(656));
}

/// Runs one transcript of `provider`.
fn recorded(provider: &str, file: &str) -> Outcome {
    run(provider, file).unwrap_or_else(|| panic!("{file}: no client for provider {provider:?}"))
}

#[test]
fn recorded_mistral_thinking_through_the_preset() {
    let entries = transcripts();
    let file = "mistral_magistral-medium_array_thinking_content.sse";
    let entry = entries
        .iter()
        .find(|e| e["file"] == file)
        .expect("the Mistral transcript is listed");
    let server = serve(&streams_dir().join(file));
    let client = MistralClient::builder("magistral-medium-latest", 0.0)
        .api_key("test-key")
        .base_url(server.url())
        .env(|_| None)
        .build();
    let outcome = read(&client, file);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.text, entry["expected_text"].as_str().unwrap());
    assert!(outcome.stream.reasoning().starts_with("Okay, the user"));
    assert!(!outcome.text.contains("Okay, the user"));
}

#[test]
fn recorded_anthropic_tool_uses_are_assembled() {
    let outcome = recorded(
        "anthropic",
        "anthropic_claude-3-5-sonnet_text_and_two_tool_uses.sse",
    );
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let calls = outcome.stream.tool_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        (calls[0].index, calls[0].id.as_str(), calls[0].name.as_str()),
        (0, "toolu_01TzG4Z4zyvQ2fPLAKm6P5dt", "add_numbers")
    );
    assert_eq!(calls[0].arguments, r#"{"number_a": 3, "number_b": 4}"#);
    assert_eq!(
        (calls[1].index, calls[1].id.as_str()),
        (1, "toolu_01Tg7CyaMV8pGSF6rtL2GFpE")
    );
    assert_eq!(calls[1].arguments, r#"{"number_a": 8, "number_b": 9}"#);
    assert_eq!(outcome.stream.finish_reason(), Some("tool_use"));
    let usage = outcome.stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(430), Some(180), Some(610))
    );
}

#[test]
fn recorded_anthropic_thinking_is_reasoning_and_signatures_vanish() {
    let outcome = recorded(
        "anthropic",
        "anthropic_claude-sonnet-4_thinking_then_text.sse",
    );
    let reasoning = outcome.stream.reasoning();
    assert!(reasoning.starts_with("This is a straightforward question about pedest"));
    assert!(
        reasoning.ends_with("help prevent accidents."),
        "{reasoning}"
    );
    assert!(!outcome.text.contains("EvMC") && !reasoning.contains("EvMC"));
    assert_eq!(outcome.stream.finish_reason(), Some("end_turn"));
    assert_eq!(
        outcome.stream.usage().and_then(|u| u.output_tokens),
        Some(282)
    );
}

#[test]
fn recorded_anthropic_overload_is_an_api_error_with_its_type() {
    let outcome = recorded("anthropic", "anthropic_overloaded_error_only.sse");
    match outcome.error {
        Some(Error::Api { kind, message }) => {
            assert_eq!(kind.as_deref(), Some("overloaded_error"));
            assert_eq!(message, "Overloaded");
        }
        other => panic!("expected an api error, got {other:?}"),
    }
    assert!(!outcome.stream.is_done());
}

#[test]
fn recorded_gemini_streams_end_cleanly_with_their_usage() {
    let numbers = recorded("gemini", "gemini_2.5-flash_numbers_crlf.sse");
    assert!(numbers.stream.is_done());
    assert_eq!(numbers.stream.finish_reason(), Some("STOP"));
    let usage = numbers.stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (Some(18), Some(80 + 35), Some(133)),
        "the thinking (thoughtsTokenCount) counts as output, in + out = total"
    );
    assert_eq!(usage.raw["candidatesTokenCount"], 80);
    let vertex = recorded(
        "gemini",
        "gemini_3-flash-preview_vertex_thoughtsignature.sse",
    );
    assert_eq!(vertex.text, "OK");
    assert!(vertex.stream.reasoning().is_empty());
}

#[test]
fn recorded_cohere_stream_end_brings_reason_and_usage() {
    let outcome = recorded("cohere", "cohere_v1_chat_command_pirate.ndjson");
    assert!(outcome.stream.is_done());
    assert_eq!(outcome.stream.finish_reason(), Some("COMPLETE"));
    let usage = outcome.stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(49), Some(63))
    );
    assert_eq!(usage.raw["billed_units"]["input_tokens"], 31);
}
