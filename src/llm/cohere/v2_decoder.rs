//! `CohereV2Decoder`: the Server-Sent Events of Cohere's v2 chat into [`ChatEvent`]s, on the
//! worker.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::decoder::{as_text, usage_from_meta};
use crate::llm::event::{ChatEvent, ToolCallDelta};
use crate::llm::wire::{arguments_text, chat_decode, parse_object, Ending};

use crate::Error;

/// Decodes the events of Cohere's streaming v2 chat (`POST /v2/chat` with `"stream": true`)
/// into [`ChatEvent`] batches, on the worker (see [`Decode`](crate::sse::Decode)). It works on any source of
/// events, not only a live request.
///
/// Each event's data is a JSON object whose `type` names it (the SSE `event:` line repeats it):
///
/// | in the stream | becomes |
/// |---|---|
/// | `message-start`, `content-end`, `tool-call-end`, `citation-start`, `citation-end`, `debug`, unknown types | nothing |
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
/// | an `event: error`, or an object without `type` but with a `message` (an error) | [`Error::Api`] with that message |
/// | a `tool-call-start` without a function name | [`Error::Protocol`]: the call could not be run |
/// | data that is not a JSON object | [`Error::Protocol`] quoting the chunk |
///
/// Tool calls are numbered in the order they start (0, 1...); a `tool-call-delta` belongs to
/// the call whose `tool-call-start` had its `index`, and one for no started call is nobody's.
/// The [`Usage`](crate::llm::Usage) comes from `delta.usage.tokens` (everything the model read
/// and wrote), else `delta.usage.billed_units`; the usage object is kept in
/// [`raw`](crate::llm::Usage::raw). Citations are not decoded.
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
/// let body = b"event: content-delta\n\
///              data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n\
///              event: message-end\n\
///              data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n\
///              data: [DONE]\n\n";
/// let mut decoder = CohereV2Decoder::new();
/// let mut events = Vec::new();
/// for event in EventReader::new(&body[..]) {
///     events.extend(decoder.decode(event?)?.unwrap_or_default());
/// }
/// assert_eq!(
///     events,
///     [ChatEvent::Text("Hi".into()), ChatEvent::Finish("COMPLETE".into()), ChatEvent::Done]
/// );
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CohereV2Decoder {
    ending: Ending,
    /// The number of each started tool call, by the `index` its `tool-call-start` carried.
    calls: BTreeMap<u64, usize>,
}

impl CohereV2Decoder {
    /// A decoder at the start of a stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::CohereV2Decoder;
    /// use ureq_futures::sse::Decode;
    ///
    /// // One decoder per answer: it tracks the answer's state (its tool calls, whether it ended).
    /// let mut decoder = CohereV2Decoder::new();
    /// // A body that ends before the answer's end is a cut answer, never a short one.
    /// assert!(matches!(decoder.finish(), Err(ureq_futures::Error::Protocol(_))));
    /// ```
    pub fn new() -> Self {
        CohereV2Decoder::default()
    }

    fn chunk_events(&mut self, chunk: Chunk, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
        let delta = chunk.delta.unwrap_or(Value::Null);
        let string = |pointer: &str| match delta.pointer(pointer) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let Some(kind) = chunk.kind else {
            // Not an event: an error object, or something to skip.
            return match chunk.message.or(chunk.error).and_then(as_text) {
                Some(message) => Err(Error::Api {
                    kind: None,
                    message,
                }),
                None => Ok(()),
            };
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
                let Some(name) = string("/message/tool_calls/function/name") else {
                    return Err(Error::Protocol(format!(
                        "a tool-call-start without a function name (index {}): it cannot be run",
                        chunk.index.map_or("none".to_string(), |i| i.to_string())
                    )));
                };
                let number = self.calls.len();
                if let Some(index) = chunk.index {
                    self.calls.insert(index, number);
                }
                events.push(ChatEvent::ToolCall(ToolCallDelta {
                    index: Some(number),
                    id: string("/message/tool_calls/id"),
                    name: Some(name),
                    arguments: arguments_text(
                        delta
                            .pointer("/message/tool_calls/function/arguments")
                            .cloned(),
                    ),
                    signature: None,
                }));
            }
            "tool-call-delta" => {
                let call = chunk.index.and_then(|i| self.calls.get(&i));
                if let Some(&number) = call {
                    let arguments = arguments_text(
                        delta
                            .pointer("/message/tool_calls/function/arguments")
                            .cloned(),
                    );
                    events.push(ChatEvent::ToolCall(ToolCallDelta {
                        index: Some(number),
                        id: None,
                        name: None,
                        arguments,
                        signature: None,
                    }));
                }
            }
            "message-end" => {
                let reason = string("/finish_reason");
                if let Some(reason) = reason.as_deref().filter(|r| is_failure(r)) {
                    let detail = delta.get("error").cloned().and_then(as_text);
                    return Err(Error::Api {
                        message: detail.unwrap_or_else(|| {
                            format!("the answer ended with finish reason {reason}")
                        }),
                        kind: Some(reason.to_string()),
                    });
                }
                events.extend(reason.map(ChatEvent::Finish));
                if let Some(usage) = delta.get("usage").cloned().and_then(usage_from_meta) {
                    events.push(ChatEvent::Usage(usage));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Whether a `message-end` finish reason means the answer failed.
fn is_failure(reason: &str) -> bool {
    reason.starts_with("ERROR") || reason == "TIMEOUT"
}

impl CohereV2Decoder {
    /// The events of one event's data, trimmed and not empty.
    fn data(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
        let chunk: Chunk = parse_object(data)?;
        self.chunk_events(chunk, events)?;
        Ok(())
    }
}

chat_decode!(CohereV2Decoder, "message-end", Some(crate::llm::wire::DONE));

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::event::{call_event, usage_of};
    use crate::llm::wire::assert_api_error;
    use serde_json::json;

    fn decode_all(body: &str) -> Result<Vec<ChatEvent>, Error> {
        crate::llm::wire::decode_sse(CohereV2Decoder::new(), body)
    }

    /// Events named after their `type`, as Cohere sends them, then `extra` as it is.
    fn body(payloads: &[Value], extra: &str) -> String {
        let mut body: String = payloads
            .iter()
            .map(|p| format!("event: {}\ndata: {p}\n\n", p["type"].as_str().unwrap()))
            .collect();
        body.push_str(extra);
        body
    }

    const DONE: &str = "data: [DONE]\n\n";

    fn start() -> Value {
        json!({"id": "5a9e", "type": "message-start", "delta": {"message": {"role": "assistant",
            "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})
    }

    fn content_delta(text: &str) -> Value {
        json!({"type": "content-delta", "index": 0,
            "delta": {"message": {"content": {"text": text}}}, "logprobs": null})
    }

    fn end(reason: &str) -> Value {
        json!({"type": "message-end", "delta": {"finish_reason": reason, "usage": {
            "billed_units": {"input_tokens": 5, "output_tokens": 3},
            "tokens": {"input_tokens": 71, "output_tokens": 3}, "cached_tokens": 0}}})
    }

    fn text(s: &str) -> ChatEvent {
        ChatEvent::Text(s.into())
    }

    #[test]
    fn content_deltas_are_text_and_done_ends() {
        let events = decode_all(&body(
            &[
                start(),
                json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
                content_delta("Hello"),
                content_delta(""),
                content_delta(" there"),
                json!({"type": "content-end", "index": 0}),
                end("COMPLETE"),
            ],
            DONE,
        ))
        .unwrap();
        assert_eq!(
            events[..3],
            [
                text("Hello"),
                text(" there"),
                ChatEvent::Finish("COMPLETE".into())
            ]
        );
        let (usage, tokens) = usage_of(&events[3]);
        assert_eq!(tokens, (Some(71), Some(3), Some(74)));
        assert_eq!(usage.raw["billed_units"]["input_tokens"], 5);
        assert_eq!(events[4], ChatEvent::Done);
        assert_eq!(events.len(), 5);
    }

    #[test]
    fn tool_plan_and_tool_calls_are_not_text() {
        let events = decode_all(&body(
            &[
                start(),
                json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look up"}}}),
                json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": " the weather."}}}),
                json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
                    "id": "get_weather_a1", "type": "function",
                    "function": {"name": "get_weather", "arguments": ""}}}}}),
                json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "{\"loc"}}}}}),
                json!({"type": "tool-call-start", "index": 1, "delta": {"message": {"tool_calls": {
                    "id": "now_b2", "type": "function", "function": {"name": "now", "arguments": "{}"}}}}}),
                json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "ation\": \"Toronto\"}"}}}}}),
                json!({"type": "tool-call-delta", "index": 7, "delta": {"message": {"tool_calls": {"function": {"arguments": "junk"}}}}}),
                json!({"type": "tool-call-end", "index": 0}),
                json!({"type": "tool-call-end", "index": 1}),
                end("TOOL_CALL"),
            ],
            DONE,
        ))
        .unwrap();
        let call = call_event;
        assert_eq!(
            events[..7],
            [
                ChatEvent::ToolPlan("I will look up".into()),
                ChatEvent::ToolPlan(" the weather.".into()),
                call(0, Some("get_weather_a1"), Some("get_weather"), ""),
                call(0, None, None, "{\"loc"),
                call(1, Some("now_b2"), Some("now"), "{}"),
                call(0, None, None, "ation\": \"Toronto\"}"),
                ChatEvent::Finish("TOOL_CALL".into()),
            ]
        );
        assert_eq!(events.last(), Some(&ChatEvent::Done));
    }

    #[test]
    fn thinking_is_reasoning() {
        let events = decode_all(&body(
            &[
                json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "thinking", "thinking": "Hmm"}}}}),
                json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": ", yes"}}}}),
                end("COMPLETE"),
            ],
            DONE,
        ))
        .unwrap();
        assert_eq!(
            events[..2],
            [
                ChatEvent::Reasoning("Hmm".into()),
                ChatEvent::Reasoning(", yes".into())
            ]
        );
    }

    #[test]
    fn the_end_right_after_message_end_is_done_and_before_it_a_cut() {
        let events = decode_all(&body(&[content_delta("a"), end("MAX_TOKENS")], "")).unwrap();
        assert_eq!(
            events[..2],
            [text("a"), ChatEvent::Finish("MAX_TOKENS".into())]
        );
        assert_eq!(events.last(), Some(&ChatEvent::Done));
        let err = decode_all(&body(&[start(), content_delta("a")], "")).unwrap_err();
        assert!(
            matches!(&err, Error::Protocol(m) if m.contains("cut") && m.contains("`message-end`") && m.contains("[DONE]")),
            "{err}"
        );
    }

    #[test]
    fn failures_are_api_errors() {
        let failed = json!({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal failure"}});
        assert_api_error!(decode_all(&body(&[content_delta("a"), failed], DONE)), { kind: Some(k), message } if k == "ERROR" && message == "internal failure");
        let timeout = json!({"type": "message-end", "delta": {"finish_reason": "TIMEOUT"}});
        assert_api_error!(decode_all(&body(&[timeout], DONE)), { kind: Some(k), message } if k == "TIMEOUT" && message.contains("TIMEOUT"));
        assert_api_error!(decode_all("data: {\"message\":\"invalid api token\"}\n\n"), { message, .. } if message == "invalid api token");
    }

    #[test]
    fn a_tool_call_without_a_name_is_refused() {
        let start = json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {"id": "x", "function": {"arguments": "{}"}}}}});
        let err = decode_all(&body(&[start], DONE)).unwrap_err();
        assert!(
            matches!(&err, Error::Protocol(m) if m.contains("without a function name")),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_named_and_nothing_after_done_is_read() {
        let err =
            decode_all("event: content-delta\ndata: {\"type\":\"content-delta\"\n\n").unwrap_err();
        assert!(
            matches!(&err, Error::Protocol(m) if m.contains("malformed JSON")),
            "{err}"
        );
        let events = decode_all(&format!("{DONE}data: nonsense\n\n")).unwrap();
        assert_eq!(events, [ChatEvent::Done]);
    }
}
