//! `CohereV2Decoder`: the Server-Sent Events of Cohere's v2 chat into [`ChatEvent`]s, on the
//! worker.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::decoder::{not_an_event, usage_from_meta};
use crate::llm::event::{ChatEvent, Citation, ToolCallDelta};
use crate::llm::wire::{
    arguments_text, chat_decode, check_finish, named, non_empty_str, parse_object, Ending,
};

use crate::Error;

/// Where a `tool-call-*` event's delta holds the call's arguments.
const ARGUMENTS: &str = "/message/tool_calls/function/arguments";

/// Decodes the events of Cohere's streaming v2 chat (`POST /v2/chat` with `"stream": true`)
/// into [`ChatEvent`] batches, on the worker (see [`Decode`](crate::sse::Decode)). It works on any source of
/// events, not only a live request.
///
/// Each event's data is a JSON object whose `type` names it (the SSE `event:` line repeats it):
///
/// | in the stream | becomes |
/// |---|---|
/// | `citation-start`: `delta.message.citations` | [`ChatEvent::Citation`]: the answer's words (`text`, as its `answer_text`) and the URL and title of one source (the first with a URL, else the first) |
/// | `message-start`, `content-end`, `tool-call-end`, `citation-end`, `debug`, unknown types | nothing |
/// | `content-start` / `content-delta`: `delta.message.content.text` | [`ChatEvent::Text`] (empty ones are dropped) |
/// | `content-start` / `content-delta`: `delta.message.content.thinking` (reasoning models) | [`ChatEvent::Reasoning`] (not text) |
/// | `tool-plan-delta`: `delta.message.tool_plan` | [`ChatEvent::ToolPlan`] (not text) |
/// | `tool-call-start`: `delta.message.tool_calls` (`id`, `function.name`, `function.arguments`) | [`ChatEvent::ToolCall`] starting a call |
/// | `tool-call-delta`: `delta.message.tool_calls.function.arguments` | [`ChatEvent::ToolCall`]: a piece of the arguments of the call started with the same `index` |
/// | `message-end`: `delta.finish_reason` (`COMPLETE`, `STOP_SEQUENCE`, `MAX_TOKENS`, `TOOL_CALL`) and `delta.usage` | [`ChatEvent::Finish`], [`ChatEvent::Usage`] |
/// | `message-end` with finish reason `ERROR` or `TIMEOUT` | [`Error::Api`] whose kind is the reason and whose message is `delta.error`: the stream's last item |
/// | `data: [DONE]` | [`ChatEvent::Done`]; anything after it is ignored |
/// | the end of the body right after a `message-end` with its finish reason, without `[DONE]` | [`ChatEvent::Done`] |
/// | the end of the body anywhere else | [`Error::Protocol`]: the answer was cut |
/// | an `event: error`, an object of `type` `error`, or an object without `type` but with a `message` (an error) | [`Error::Api`] with that message |
/// | a `tool-call-start` without a function name | [`Error::Protocol`]: the call could not be run |
/// | data that is not a JSON object | [`Error::Protocol`] quoting the chunk |
///
/// Tool calls are numbered in the order they start (0, 1...); a `tool-call-delta` belongs to
/// the call whose `tool-call-start` had its `index` (without an `index`, which Cohere's SDK
/// allows: to the last call started), and one for no started call is nobody's.
/// The [`Usage`](crate::llm::Usage) comes from `delta.usage.tokens` (everything the model read
/// and wrote), else `delta.usage.billed_units`; the usage object is kept in
/// [`raw`](crate::llm::Usage::raw).
///
/// Why `ERROR` and `TIMEOUT` are errors and not finish reasons: the answer before them is not
/// one the model finished, and a caller reading only the text would take it for whole.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{ChatEvent, CohereV2Decoder};
/// use ureq_futures::sse::{Decode, EventReader};
///
/// let body = b"data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n\
///              data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n\
///              data: [DONE]\n\n";
/// let mut decoder = CohereV2Decoder::new();
/// let mut events = Vec::new();
/// for event in EventReader::new(&body[..]) {
///     events.extend(decoder.decode(event?)?.unwrap_or_default());
/// }
/// assert_eq!(events, [ChatEvent::Text("Hi".into()), ChatEvent::Finish("COMPLETE".into()), ChatEvent::Done]);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CohereV2Decoder {
    ending: Ending,
    /// The number of each started tool call, by the `index` its `tool-call-start` carried.
    calls: BTreeMap<u64, usize>,
    /// How many tool calls started.
    started: usize,
}

impl CohereV2Decoder {
    /// A decoder at the start of a stream: one per answer, as it tracks the answer's state.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{ChatEvent, CohereV2Decoder};
    /// use ureq_futures::sse::{Decode, Event};
    ///
    /// let event = |data: &str| Event { event: "message".into(), data: data.into(), id: None, retry: None };
    /// let start = r#"{"type":"tool-call-start","index":3,"delta":{"message":{"tool_calls":
    ///     {"id":"c1","function":{"name":"add","arguments":""}}}}}"#;
    /// let more = r#"{"type":"tool-call-delta","index":3,"delta":{"message":{"tool_calls":
    ///     {"function":{"arguments":"{\"a\":1}"}}}}}"#;
    /// let mut decoder = CohereV2Decoder::new();
    /// decoder.decode(event(start))?;
    /// // The decoder remembers which call a piece continues: Cohere's index 3 is the first call.
    /// let pieces = decoder.decode(event(more))?.unwrap_or_default();
    /// assert!(matches!(&pieces[..], [ChatEvent::ToolCall(piece)] if piece.index == Some(0)));
    /// // Cut before its end: the error names what never came.
    /// assert!(matches!(decoder.finish(), Err(ureq_futures::Error::Protocol(m)) if m.contains("`message-end`")));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new() -> Self {
        CohereV2Decoder::default()
    }

    /// The events of one event's data, trimmed and not empty.
    fn data(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
        let chunk: Chunk = parse_object(data)?;
        let delta = chunk.delta.unwrap_or(Value::Null);
        let string = |pointer: &str| non_empty_str(delta.pointer(pointer));
        let arguments = || arguments_text(delta.pointer(ARGUMENTS).cloned());
        let Some(kind) = chunk.kind else {
            return not_an_event(chunk.message, chunk.error);
        };
        match kind.as_str() {
            "content-start" | "content-delta" => {
                events.extend(string("/message/content/thinking").map(ChatEvent::Reasoning));
                events.extend(string("/message/content/text").map(ChatEvent::Text));
            }
            "tool-plan-delta" => {
                events.extend(string("/message/tool_plan").map(ChatEvent::ToolPlan));
            }
            "tool-call-start" => {
                let name = named(string("/message/tool_calls/function/name"), || {
                    let index = chunk.index.map_or("none".to_string(), |i| i.to_string());
                    format!("a tool-call-start (index {index})")
                })?;
                let number = self.started;
                self.started += 1;
                if let Some(index) = chunk.index {
                    self.calls.insert(index, number);
                }
                let id = string("/message/tool_calls/id");
                let start = ToolCallDelta::start(number, id, name, arguments());
                events.push(ChatEvent::ToolCall(start));
            }
            "tool-call-delta" => {
                // A piece of no started call is nobody's.
                let number = match chunk.index {
                    Some(i) => self.calls.get(&i).copied(),
                    None => self.started.checked_sub(1),
                };
                if let Some(number) = number {
                    let piece = ToolCallDelta::more(number, arguments());
                    events.push(ChatEvent::ToolCall(piece));
                }
            }
            "citation-start" => {
                if let Some(citation) = delta.pointer("/message/citations") {
                    events.push(ChatEvent::Citation(cited(citation.clone())));
                }
            }
            "message-end" => {
                let reason = string("/finish_reason");
                check_finish(reason.as_deref(), delta.get("error").cloned())?;
                events.extend(reason.map(ChatEvent::Finish));
                let usage = delta.get("usage").cloned().and_then(usage_from_meta);
                events.extend(usage.map(ChatEvent::Usage));
            }
            // An error by its type, without `event: error` (as a gateway may write it).
            "error" => {
                not_an_event(chunk.message, chunk.error)?;
                return Err(Error::Api {
                    kind: None,
                    message: "the stream reported an error without a message".into(),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

chat_decode!(CohereV2Decoder, "message-end", Some(crate::llm::wire::DONE));

/// A `citation-start`'s citation: the URL and title of one source (a document, or a tool's
/// output), the first with a URL, else the first, and the answer's words it supports.
fn cited(citation: Value) -> Citation {
    let sources = citation.get("sources").and_then(Value::as_array);
    let contents: Vec<&Value> = (sources.into_iter().flatten())
        .filter_map(|s| s.get("document").or_else(|| s.get("tool_output")))
        .collect();
    let with_url = contents
        .iter()
        .find(|c| non_empty_str(c.get("url")).is_some());
    let (url, title) = match with_url.or(contents.first()) {
        Some(source) => (
            non_empty_str(source.get("url")),
            non_empty_str(source.get("title")),
        ),
        None => (None, None),
    };
    let answer_text = non_empty_str(citation.get("text"));
    Citation {
        url,
        title,
        cited_text: None,
        answer_text,
        raw: citation,
    }
}

/// The parts of an event's data that matter; unknown fields are ignored. The delta's shape
/// depends on the type, so it is read by JSON pointer.
#[derive(Deserialize)]
struct Chunk {
    #[serde(rename = "type")]
    kind: Option<String>,
    index: Option<u64>,
    delta: Option<Value>,
    message: Option<Value>,
    error: Option<Value>,
}
