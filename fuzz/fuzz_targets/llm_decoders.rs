//! Fuzz target for the LLM decoders: `OpenAIDecoder`, `AnthropicDecoder`, `GeminiDecoder`,
//! `CohereDecoder` and `CohereV2Decoder` (`ureq_futures::llm`), each fed the events of the same
//! bytes.
//!
//! Run (needs a nightly toolchain and cargo-fuzz, see `scripts/fuzz`):
//!
//! ```text
//! cd fuzz
//! cargo +nightly fuzz run -s none llm_decoders -- -max_total_time=300 -max_len=4096 \
//!     -dict=dicts/llm.dict
//! ```
//!
//! The first input byte chooses the framing (bit 0: Server-Sent Events or newline-delimited
//! lines; bit 1: whether the SSE parser dispatches an unterminated last event); the rest is the
//! body. Its events are handed to every decoder the way the stream's worker does: one `decode`
//! per event until the first error, then `finish` when no error came. Checked on every input:
//! - no panic: whatever the bytes, a decoder answers with `Ok` or `Err`;
//! - what each decoder documents, event by event: an empty event is skipped; data that is not a
//!   JSON object (Gemini: or an array of objects) is an `Error::Protocol`, quoted and cut short;
//!   an `event: error` is an `Error::Api`, whatever its data (every decoder); `data: [DONE]` is
//!   `Done` (OpenAI, Cohere v2; OpenAI: or an error naming a tool call left without a name),
//!   or an `Error::Protocol` when nothing of the answer came before it;
//!   nothing but `Api` and `Protocol` errors;
//! - text comes only from valid JSON: every `Text` is a string of the event's JSON (OpenAI: the
//!   concatenation of the text parts of a content array), and `Text`, `Reasoning` and `Refusal`
//!   are never empty; a batch is never empty;
//! - `Done` ends the stream: it is the last event of its batch, later events are ignored, and
//!   `finish` is then `Ok(None)`; without it, `finish` is `Done` right after a finish reason
//!   (nothing of the answer after it) and an `Error::Protocol` saying the answer was cut
//!   anywhere else (Gemini: `Done` only ever comes from `finish`);
//! - a computed total of tokens is the sum of its parts;
//! - a `Thought` comes from Anthropic (a signed one never without its signature) or, unsigned,
//!   from OpenAI's decoder (its field `reasoning_content` or `reasoning`, its text never empty);
//! - a `ChatStream` fed the batches yields exactly the text before `Done`, ends with `Done` or
//!   with one error, never assembles more tool calls than it was sent pieces of, and every
//!   tool call (client or server) it assembles has a name.
#![no_main]

use std::fmt;

use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use ureq_futures::llm::{
    AnthropicDecoder, ChatEvent, ChatStream, CohereDecoder, CohereV2Decoder, GeminiDecoder,
    OpenAIDecoder, Thought,
};
use ureq_futures::sse::{Decode, Event, LineParser, Parser};
use ureq_futures::Error;

/// Known bug, tolerated here so that the fuzzer can look for others (its regression tests,
/// `*_array_is_not_a_chunk` in `tests/it/fuzz_regressions.rs`, are ignored until the fix): the
/// decoders' serde structs also deserialize from JSON arrays (a struct from its fields in order,
/// a tagged enum from its tag and then its fields), so `["message_stop"]` ends an Anthropic
/// stream and `[null,null,null,null]` is a silently skipped OpenAI chunk. Set to `false` once
/// the decoders refuse arrays.
const TOLERATE_ARRAYS_AS_CHUNKS: bool = false;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Provider {
    OpenAI,
    Anthropic,
    Gemini,
    Cohere,
    CohereV2,
}

/// Deserializes from a JSON object only, whatever its fields (never from an array).
struct AnyObject;

impl<'de> Deserialize<'de> for AnyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = AnyObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnyObject)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Whether `data` has the shape every decoder documents: a JSON object, or for Gemini (whose
/// errors sometimes come as a one-element array) an array of objects.
fn has_json_shape(provider: Provider, data: &str) -> bool {
    serde_json::from_str::<AnyObject>(data).is_ok()
        || (provider == Provider::Gemini && serde_json::from_str::<Vec<AnyObject>>(data).is_ok())
        || (TOLERATE_ARRAYS_AS_CHUNKS && serde_json::from_str::<Vec<IgnoredAny>>(data).is_ok())
}

/// The body cut into events as the stream's worker does.
fn frame(settings: u8, body: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut on_event = |e| events.push(e);
    let result = if settings & 1 == 0 {
        let mut parser = Parser::new().dispatch_unterminated(settings & 2 != 0);
        parser
            .feed(body, &mut on_event)
            .and_then(|()| parser.finish(&mut on_event))
    } else {
        let mut parser = LineParser::new();
        parser
            .feed(body, &mut on_event)
            .and_then(|()| parser.finish(&mut on_event))
    };
    // The default limit (16 MiB) is far above any fuzz input.
    assert!(result.is_ok(), "{result:?}");
    events
}

fn string_leaves<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| string_leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| string_leaves(v, out)),
        _ => {}
    }
}

/// Whether `text` is the concatenation of some of `parts`, in order.
fn is_concatenation(text: &str, parts: &[&str]) -> bool {
    let text = text.as_bytes();
    let mut reached = vec![false; text.len() + 1];
    reached[0] = true;
    for part in parts.iter().map(|p| p.as_bytes()).filter(|p| !p.is_empty()) {
        // Downwards, so that one part is used at most once.
        for pos in (0..text.len()).rev() {
            if reached[pos] && text[pos..].starts_with(part) {
                reached[pos + part.len()] = true;
            }
        }
    }
    reached[text.len()]
}

fn check_batch(provider: Provider, data: &str, batch: &[ChatEvent]) {
    assert!(!batch.is_empty(), "{provider:?}: an empty batch");
    let json: Option<Value> = serde_json::from_str(data).ok();
    let mut leaves = Vec::new();
    if let Some(json) = &json {
        string_leaves(json, &mut leaves);
    }
    for (i, event) in batch.iter().enumerate() {
        match event {
            ChatEvent::Text(text) => {
                assert!(!text.is_empty(), "{provider:?}: empty text");
                // `Value` refuses numbers out of `f64`'s range that the decoders skip unread.
                if json.is_some() {
                    let from_json = leaves.contains(&text.as_str())
                        || (provider == Provider::OpenAI && is_concatenation(text, &leaves));
                    assert!(
                        from_json,
                        "{provider:?}: text {text:?} is not a string of {data:?}"
                    );
                }
            }
            ChatEvent::Reasoning(s) | ChatEvent::Refusal(s) | ChatEvent::ToolPlan(s) => {
                assert!(!s.is_empty(), "{provider:?}: empty {event:?}");
            }
            ChatEvent::Thought(thought) => match thought {
                // Anthropic's thinking, and never without its signature.
                Thought::Signed { signature, .. } => {
                    assert_eq!(provider, Provider::Anthropic, "{provider:?}: {thought:?}");
                    assert!(!signature.is_empty(), "an unsigned thought: {thought:?}");
                }
                // An OpenAI-compatible server's reasoning field, whole.
                Thought::Unsigned { field, text } => {
                    assert_eq!(provider, Provider::OpenAI, "{provider:?}: {thought:?}");
                    assert!(
                        matches!(field.as_str(), "reasoning_content" | "reasoning"),
                        "{thought:?}"
                    );
                    // Empty only as a `reasoning_content` that only ever came empty
                    // (DeepSeek's thinking mode before a tool call), which goes back as "".
                    assert!(
                        !text.is_empty() || field.as_str() == "reasoning_content",
                        "an empty thought: {thought:?}"
                    );
                }
                // OpenRouter's reasoning blocks: an OpenAI-compatible stream's, never none.
                Thought::ReasoningDetails { details } => {
                    assert_eq!(provider, Provider::OpenAI, "{provider:?}: {thought:?}");
                    assert!(!details.is_empty(), "no reasoning blocks: {thought:?}");
                    assert!(details.iter().all(|d| d.is_object()), "{thought:?}");
                }
                // Anthropic's redacted thinking.
                _ => assert_eq!(provider, Provider::Anthropic, "{provider:?}: {thought:?}"),
            },
            ChatEvent::Usage(usage) => {
                if matches!(
                    provider,
                    Provider::Anthropic | Provider::Cohere | Provider::CohereV2
                ) {
                    if let (Some(i), Some(o), Some(t)) =
                        (usage.input_tokens, usage.output_tokens, usage.total_tokens)
                    {
                        assert_eq!(i.checked_add(o), Some(t), "{provider:?}: {usage:?}");
                    }
                }
            }
            ChatEvent::Done => {
                assert_ne!(
                    provider,
                    Provider::Gemini,
                    "Gemini's Done comes from finish"
                );
                assert_eq!(i, batch.len() - 1, "{provider:?}: events after Done");
            }
            _ => {}
        }
    }
}

/// Checks one `decode` against what the decoder documents. `done`: a `Done` came earlier;
/// `started`: something of the answer (or its finish reason) came earlier.
fn check_decoded(
    provider: Provider,
    event: &Event,
    result: &Result<Option<Vec<ChatEvent>>, Error>,
    done: bool,
    started: bool,
) {
    if done {
        assert!(
            matches!(result, Ok(None)),
            "{provider:?}: {result:?} after Done"
        );
        return;
    }
    let data = event.data.trim();
    // Every decoder: a rule they share (`decode_event` in src/llm/wire.rs).
    if event.event == "error" {
        assert!(
            matches!(result, Err(Error::Api { .. })),
            "{provider:?}: {event:?} gave {result:?}"
        );
        return;
    }
    if matches!(provider, Provider::OpenAI | Provider::CohereV2) && data == "[DONE]" {
        // What an OpenAI-compatible stream held back for a finish reason that never came (its
        // reasoning, its sources) comes just before the `Done`.
        let held_back = |e: &ChatEvent| {
            provider == Provider::OpenAI
                && matches!(e, ChatEvent::Thought(_) | ChatEvent::Citation(_))
        };
        // Before any of the answer, the end marker ends an empty answer: an error (unless
        // what was held back is some of it).
        let empty = |m: &str| !started && m.contains("before any of the answer");
        assert!(
            matches!(result, Ok(Some(batch))
                if batch.last() == Some(&ChatEvent::Done)
                    && batch[..batch.len() - 1].iter().all(held_back)
                    && (started || batch.len() > 1))
                || matches!(result, Err(Error::Protocol(m)) if empty(m))
                || (provider == Provider::OpenAI
                    && matches!(result, Err(Error::Protocol(m)) if m.contains("without a name: the call cannot be run"))),
            "{result:?}"
        );
        return;
    }
    if data.is_empty() {
        assert!(matches!(result, Ok(None)), "{provider:?}: {result:?}");
        return;
    }
    let shaped = has_json_shape(provider, data);
    match result {
        Err(Error::Protocol(message)) => {
            // The chunk is quoted, cut to 200 bytes (escaped, at most 10 characters a byte).
            assert!(message.len() < 2_400, "{provider:?}: {message}");
        }
        Err(Error::Api { .. }) => {
            assert!(shaped, "{provider:?}: an API error from {data:?}");
        }
        Err(other) => panic!("{provider:?}: {other:?}"),
        Ok(batch) => {
            assert!(
                shaped,
                "{provider:?} accepted {data:?}, which is not a JSON object: {batch:?}"
            );
            if let Some(batch) = batch {
                check_batch(provider, data, batch);
            }
        }
    }
}

/// Feeds `events` to `decoder` as the worker does, checking each answer; returns what the
/// worker would send.
fn run<D: Decode<Item = Vec<ChatEvent>>>(
    provider: Provider,
    mut decoder: D,
    events: &[Event],
) -> Vec<Result<Vec<ChatEvent>, Error>> {
    let mut items = Vec::new();
    let mut done = false;
    // A finish reason came with nothing of the answer after it: a clean end is then complete.
    let mut finished = false;
    // Something of the answer or its finish reason came.
    let mut started = false;
    for event in events {
        let result = decoder.decode(event.clone());
        check_decoded(provider, event, &result, done, started);
        match result {
            Ok(Some(batch)) => {
                for e in &batch {
                    started |= !matches!(e, ChatEvent::Done | ChatEvent::Usage(_));
                    match e {
                        ChatEvent::Done => done = true,
                        ChatEvent::Finish(_) => finished = true,
                        // What comes about the answer, not more of it (src/llm/wire.rs's
                        // `Ending`): a thinking block or a source may close after the finish.
                        ChatEvent::Usage(_)
                        | ChatEvent::ServerToolResult(_)
                        | ChatEvent::Citation(_)
                        | ChatEvent::Thought(_) => {}
                        _ => finished = false,
                    }
                }
                items.push(Ok(batch));
            }
            Ok(None) => {}
            Err(e) => {
                items.push(Err(e));
                return items;
            }
        }
    }
    let end = decoder.finish();
    match &end {
        Ok(None) if done => {}
        Ok(Some(batch)) if !done && finished && batch == &[ChatEvent::Done] => {}
        Err(Error::Protocol(m)) if !done && !finished && m.contains("cut") => {}
        Err(Error::Protocol(m))
            if provider == Provider::OpenAI
                && finished
                && m.contains("without a name: the call cannot be run") => {}
        _ => panic!("{provider:?}: finish gave {end:?} (done: {done}, finished: {finished})"),
    }
    match end {
        Ok(Some(batch)) => items.push(Ok(batch)),
        Ok(None) => {}
        Err(e) => items.push(Err(e)),
    }
    items
}

/// Runs the worker's items through a `ChatStream`, as the caller sees them.
fn check_chat_stream(provider: Provider, items: Vec<Result<Vec<ChatEvent>, Error>>) {
    let mut text = String::new();
    let mut done = false;
    let mut tool_pieces = 0;
    let mut errors = 0;
    for item in &items {
        match item {
            Ok(batch) if !done => {
                for event in batch.iter() {
                    match event {
                        ChatEvent::Text(t) => text.push_str(t),
                        ChatEvent::ToolCall(_) => tool_pieces += 1,
                        ChatEvent::Done => done = true,
                        _ => {}
                    }
                }
            }
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    for item in items {
        tx.send(item).expect("the receiver is alive");
    }
    drop(tx);
    let mut stream = ChatStream::from_receiver(rx);
    let mut got = String::new();
    let mut got_errors = 0;
    for piece in stream.by_ref() {
        match piece {
            Ok(t) => got.push_str(&t),
            Err(_) => got_errors += 1,
        }
    }
    assert!(stream.next().is_none(), "{provider:?}: the stream is fused");
    assert_eq!(got, text, "{provider:?}");
    assert_eq!(stream.is_done(), done, "{provider:?}");
    assert_eq!(
        got_errors,
        usize::from(!done),
        "{provider:?}: {errors} errors sent"
    );
    assert!(stream.tool_calls().len() <= tool_pieces, "{provider:?}");
    for call in stream.tool_calls().iter().chain(stream.server_tool_uses()) {
        assert!(
            !call.name.is_empty(),
            "{provider:?}: a call without a name: {call:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [settings, body @ ..] = data else {
        return;
    };
    let events = frame(*settings, body);
    let runs = [
        (
            Provider::OpenAI,
            run(Provider::OpenAI, OpenAIDecoder::new(), &events),
        ),
        (
            Provider::Anthropic,
            run(Provider::Anthropic, AnthropicDecoder::new(), &events),
        ),
        (
            Provider::Gemini,
            run(Provider::Gemini, GeminiDecoder::new(), &events),
        ),
        (
            Provider::Cohere,
            run(Provider::Cohere, CohereDecoder::new(), &events),
        ),
        (
            Provider::CohereV2,
            run(Provider::CohereV2, CohereV2Decoder::new(), &events),
        ),
    ];
    for (provider, items) in runs {
        check_chat_stream(provider, items);
    }
});
