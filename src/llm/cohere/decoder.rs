//! `CohereDecoder`: the lines of a Cohere v1 chat stream into [`ChatEvent`]s, on the worker.

use serde::Deserialize;
use serde_json::Value;

use crate::llm::event::{token_count, ChatEvent, ToolCallDelta, Usage};
use crate::llm::wire::{
    arguments_text, as_text, chat_decode, check_finish, named, parse_object, Ending,
};

use crate::Error;

/// Decodes the lines of Cohere's streaming v1 chat into [`ChatEvent`] batches, on the worker
/// (see [`Decode`](crate::sse::Decode)). Read the body with [`StreamOptions::json_lines`](crate::sse::StreamOptions::json_lines),
/// which hands each line to the decoder as an event's `data`.
///
/// Each line is a JSON object with an `event_type`:
///
/// | in the stream | becomes |
/// |---|---|
/// | `stream-start` | nothing |
/// | `text-generation`: its `text` | [`ChatEvent::Text`] (empty ones are dropped) |
/// | `tool-calls-generation`: its `tool_calls` | one [`ChatEvent::ToolCall`] per call (`parameters` as JSON text) |
/// | `search-queries-generation`, `search-results`, `citation-generation`, `tool-calls-chunk`, unknown types | nothing |
/// | `stream-end` with a `finish_reason` such as `COMPLETE` or `MAX_TOKENS` | [`ChatEvent::Finish`], [`ChatEvent::Usage`] from `response.meta`, [`ChatEvent::Done`] |
/// | `stream-end` with `ERROR`, `ERROR_TOXIC`, `ERROR_LIMIT`... | [`Error::Api`] whose kind is the reason: the stream's last item |
/// | an object without `event_type` but with a `message` (an error) | [`Error::Api`] with that message |
/// | an object without `event_type`, `message` or `error` | nothing |
/// | an `event: error`, when the body is read as Server-Sent Events | [`Error::Api`], whatever its data |
/// | a line that is not a JSON object | [`Error::Protocol`] quoting the line |
/// | the end of the body without `stream-end` | [`Error::Protocol`]: the answer was cut |
///
/// Nothing after `stream-end` is read. The [`Usage`] comes from `response.meta.tokens`
/// (everything the model read and wrote), else `response.meta.billed_units`; `meta` is kept in
/// [`raw`](Usage::raw).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{ChatEvent, CohereDecoder};
/// use ureq_futures::sse::{Decode, LineParser};
///
/// let body = b"{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":\"Arr\"}\r\n\
///              {\"is_finished\":true,\"event_type\":\"stream-end\",\"finish_reason\":\"COMPLETE\"}\n";
/// let mut lines = Vec::new();
/// let mut parser = LineParser::new();
/// parser.feed(body, &mut |line| lines.push(line))?;
/// parser.finish(&mut |line| lines.push(line))?;
/// let mut decoder = CohereDecoder::new();
/// let mut events = Vec::new();
/// for line in lines {
///     events.extend(decoder.decode(line)?.unwrap_or_default());
/// }
/// assert_eq!(
///     events,
///     [ChatEvent::Text("Arr".into()), ChatEvent::Finish("COMPLETE".into()), ChatEvent::Done]
/// );
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CohereDecoder {
    ending: Ending,
    /// Tool calls seen so far, to number the next one.
    calls: usize,
}

impl CohereDecoder {
    /// A decoder at the start of a stream: one per answer, as it tracks the answer's state.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{ChatEvent, CohereDecoder};
    /// use ureq_futures::sse::{Decode, Event};
    ///
    /// let line = r#"{"is_finished":true,"event_type":"stream-end","finish_reason":"MAX_TOKENS"}"#;
    /// let end = Event { event: "message".into(), data: line.into(), id: None, retry: None };
    /// let events = CohereDecoder::new().decode(end)?;
    /// assert_eq!(events, Some(vec![ChatEvent::Finish("MAX_TOKENS".into()), ChatEvent::Done]));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new() -> Self {
        CohereDecoder::default()
    }

    /// The events of one event's data, trimmed and not empty.
    fn data(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
        let line: Line = parse_object(data)?;
        match line.event_type.as_deref() {
            Some("text-generation") => {
                events.extend(line.text.filter(|t| !t.is_empty()).map(ChatEvent::Text));
            }
            Some("tool-calls-generation") => {
                for call in line.tool_calls.unwrap_or_default() {
                    let name = named(call.name, || format!("tool call {}", self.calls))?;
                    let arguments = arguments_text(call.parameters);
                    let delta = ToolCallDelta::start(self.calls, None, name, arguments);
                    events.push(ChatEvent::ToolCall(delta));
                    self.calls += 1;
                }
            }
            Some("stream-end") => {
                let reason = line
                    .finish_reason
                    .or_else(|| line.response.as_ref()?.finish_reason.clone());
                check_finish(reason.as_deref(), line.error.or(line.message))?;
                events.extend(reason.filter(|r| !r.is_empty()).map(ChatEvent::Finish));
                let usage = line.response.and_then(|r| r.meta).and_then(usage_from_meta);
                events.extend(usage.map(ChatEvent::Usage));
                events.push(ChatEvent::Done);
            }
            Some(_) => {}
            // A whole answer (`text` and `finish_reason`, no event type): what a server that
            // ignored `"stream": true` sends. Said so, rather than read as a stream cut before
            // its `stream-end`.
            None if line.text.is_some() && line.finish_reason.is_some() => {
                return Err(Error::Protocol(
                    "the server answered with a whole answer, not a stream: it ignored \
                     `\"stream\": true` (check the base URL and that the server streams)"
                        .into(),
                ))
            }
            None => return not_an_event(line.message, line.error),
        }
        Ok(())
    }
}

chat_decode!(CohereDecoder, "finish_reason", Some("stream-end"));

/// What a line or event without a type is: an error (Cohere's are `{"message": "..."}`), else
/// nothing.
pub(super) fn not_an_event(message: Option<Value>, error: Option<Value>) -> Result<(), Error> {
    match message.or(error).and_then(as_text) {
        Some(message) => Err(Error::Api {
            kind: None,
            message,
        }),
        None => Ok(()),
    }
}

/// The token counts of a v1 `stream-end`'s `response.meta`, a v2 `message-end`'s
/// `delta.usage` or an embeddings answer's `meta` (the same shape); `None` when it has none.
pub(in crate::llm) fn usage_from_meta(meta: Value) -> Option<Usage> {
    let counts = ["tokens", "billed_units"]
        .iter()
        .find_map(|key| meta.get(key).filter(|v| v.is_object()))?;
    let count = |key: &str| token_count(counts.get(key));
    let (input, output) = (count("input_tokens"), count("output_tokens"));
    Some(Usage::summed(input, output, meta))
}

/// The parts of a line that matter; unknown fields are ignored.
#[derive(Deserialize)]
struct Line {
    event_type: Option<String>,
    text: Option<String>,
    finish_reason: Option<String>,
    response: Option<EndResponse>,
    tool_calls: Option<Vec<ToolCallLine>>,
    message: Option<Value>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct EndResponse {
    finish_reason: Option<String>,
    meta: Option<Value>,
}

#[derive(Deserialize)]
struct ToolCallLine {
    name: Option<String>,
    parameters: Option<Value>,
}
