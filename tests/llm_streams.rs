//! Real captured LLM streams (`../shared/llm-streams`, see its README), served over loopback a
//! few bytes at a time and read through each provider's client.
//!
//! Adding a provider: give it an arm in [`client_for`]. Transcripts of providers without an arm
//! are listed as skipped. Where the folder is absent, the tests say so and pass.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{ms, Reply, TestServer};
use ureq_futures::llm::{ChatClient, ChatStream, Message, OpenAIClient};
use ureq_futures::Error;

/// Bytes per write when serving a transcript: small enough to split lines, events and UTF-8
/// characters everywhere.
const PIECE: usize = 7;

fn streams_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/llm-streams"
    ))
}

/// The transcripts listed in `index.json`, or `None` (with a message) where the folder is absent.
fn transcripts() -> Option<Vec<Value>> {
    let index = streams_dir().join("index.json");
    let Ok(text) = fs::read_to_string(&index) else {
        eprintln!(
            "skipping: no recorded streams at {} (the folder is not part of the crate)",
            index.display()
        );
        return None;
    };
    let index: Value = serde_json::from_str(&text).expect("index.json is JSON");
    Some(index["transcripts"].as_array().cloned().unwrap_or_default())
}

/// The client for `provider`'s transcripts, talking to `base_url`; `None` for providers without
/// a client yet.
fn client_for(provider: &str, base_url: &str) -> Option<Box<dyn ChatClient>> {
    match provider {
        "openai" => Some(Box::new(
            OpenAIClient::builder("recorded", 0.0)
                .api_key("test-key")
                .base_url(base_url)
                .env(|_| None)
                .build(),
        )),
        _ => None,
    }
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

/// What reading a transcript through its client gave.
struct Outcome {
    text: String,
    error: Option<Error>,
    stream: ChatStream,
}

/// Streams transcript `file` through `provider`'s client; `None` when there is no client yet.
fn run(provider: &str, file: &str) -> Option<Outcome> {
    let server = serve(&streams_dir().join(file));
    let client = client_for(provider, &server.url())?;
    let mut stream = client
        .stream_chat(&[Message::user("recorded")])
        .unwrap_or_else(|e| panic!("{file}: the request failed: {e}"));
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
    Some(Outcome {
        text,
        error,
        stream,
    })
}

/// Checks one transcript against its index entry; returns what was wrong.
fn check(entry: &Value) -> Result<bool, String> {
    let file = entry["file"].as_str().ok_or("an entry without a file")?;
    let provider = entry["provider"].as_str().unwrap_or("");
    let Some(outcome) = run(provider, file) else {
        eprintln!("skipping {file}: no client for provider {provider:?} yet");
        return Ok(false);
    };
    let expected_text = entry["expected_text"].as_str().unwrap_or("");
    if outcome.text != expected_text {
        return Err(format!(
            "{file}: text differs\n  expected: {expected_text:?}\n  got:      {:?}",
            outcome.text
        ));
    }
    let terminated = entry["ends_with_terminator"].as_bool().unwrap_or(true);
    match (entry["expected_error"].as_str(), outcome.error) {
        (Some(expected), Some(e)) if e.to_string().contains(expected) => {}
        (Some(expected), other) => {
            return Err(format!(
                "{file}: expected an error naming {expected:?}, got {other:?}"
            ));
        }
        (None, Some(Error::Protocol(msg))) if !terminated && msg.contains("cut") => {}
        (None, None) if terminated && outcome.stream.is_done() => {}
        (None, other) => {
            return Err(format!(
                "{file}: ends_with_terminator is {terminated}, but the stream ended with {other:?}"
            ));
        }
    }
    Ok(true)
}

#[test]
fn every_recorded_stream_yields_exactly_its_text() {
    let Some(transcripts) = transcripts() else {
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in &transcripts {
        match check(entry) {
            Ok(true) => checked += 1,
            Ok(false) => {}
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 0, "no transcript had a client");
    eprintln!(
        "{checked} of {} recorded streams checked",
        transcripts.len()
    );
}

/// Runs one OpenAI-format transcript, or `None` where the folder is absent.
fn openai(file: &str) -> Option<Outcome> {
    transcripts()?;
    run("openai", file)
}

#[test]
fn recorded_tool_call_is_assembled() {
    let Some(outcome) = openai("openai_gpt-4o-mini_tool_call_include_usage.sse") else {
        return;
    };
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
    let Some(outcome) = openai("openai_gpt-5_usage_then_moderation_trailer.sse") else {
        return;
    };
    let usage = outcome.stream.usage().expect("usage");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(13), Some(11))
    );
    assert_eq!(outcome.stream.finish_reason(), Some("stop"));
}

#[test]
fn recorded_reasoning_is_kept_apart() {
    let Some(outcome) = openai("deepseek_reasoner_reasoning_content.sse") else {
        return;
    };
    assert!(!outcome.stream.reasoning().is_empty());
    assert!(!outcome
        .stream
        .reasoning()
        .contains("How can I help you today?"));
    let Some(mistral) = openai("mistral_magistral-medium_array_thinking_content.sse") else {
        return;
    };
    assert!(mistral.stream.reasoning().starts_with("Okay, the user"));
}

#[test]
fn recorded_finish_reasons_and_groq_usage() {
    let Some(deepseek) = openai("deepseek-chat_finish_length.sse") else {
        return;
    };
    assert_eq!(deepseek.stream.finish_reason(), Some("length"));
    let Some(groq) = openai("groq_llama3-8b-8192_long.sse") else {
        return;
    };
    assert_eq!(groq.stream.usage().and_then(|u| u.output_tokens), Some(656));
}
