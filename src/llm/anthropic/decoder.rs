//! `AnthropicDecoder`: Messages API stream events into [`ChatEvent`]s, on the worker.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::llm::event::{ChatEvent, ToolCallDelta, Usage};
use crate::llm::wire::{api_error, end_of_stream, error_event, parse_object};
use crate::sse::{Decode, Event};
use crate::Error;

/// Decodes the events of Anthropic's streaming Messages API into [`ChatEvent`] batches, on the
/// worker (see [`Decode`]). It works on any source of events, not only a live request.
///
/// The stream is a sequence of named events whose data is a JSON object with the same `type`:
///
/// | in the stream | becomes |
/// |---|---|
/// | `message_start` (its `usage`: the prompt's tokens) | [`ChatEvent::Usage`] |
/// | `content_block_start` of a `text` block | its text, if any, as [`ChatEvent::Text`] |
/// | `content_block_start` of a `tool_use` block (id, name) | [`ChatEvent::ToolCall`] starting a call |
/// | `content_block_delta` with a `text_delta` | [`ChatEvent::Text`] (empty ones are dropped) |
/// | `content_block_delta` with a `thinking_delta` | [`ChatEvent::Reasoning`] (not text) |
/// | `content_block_delta` with an `input_json_delta` | [`ChatEvent::ToolCall`]: a piece of the call's arguments |
/// | `signature_delta`, `citations_delta`, other deltas and blocks | nothing |
/// | `message_delta`: `stop_reason` and `usage` | [`ChatEvent::Finish`], [`ChatEvent::Usage`] |
/// | `ping`, `content_block_stop`, unknown event types | nothing |
/// | `message_stop` | [`ChatEvent::Done`]; anything after it is ignored |
/// | an `error` event (`overloaded_error`, `api_error`...) | [`Error::Api`] with the error's `type` as its kind: the stream's last item |
/// | the end of the body without `message_stop` | [`Error::Protocol`]: the answer was cut |
/// | data that is not a JSON object of a known shape | [`Error::Protocol`] quoting the chunk |
///
/// Tool calls are numbered in the order their blocks start (0, 1...), whatever the blocks'
/// positions among the text and thinking blocks. The [`Usage`] counts as input the
/// `input_tokens` plus the cache's `cache_creation_input_tokens` and
/// `cache_read_input_tokens`; the fields of `message_start` and `message_delta` are merged in
/// [`raw`](Usage::raw).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{AnthropicDecoder, ChatEvent};
/// use ureq_futures::sse::{Decode, EventReader};
///
/// let body = b"event: content_block_delta\n\
///              data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
///              event: message_stop\n\
///              data: {\"type\":\"message_stop\"}\n\n";
/// let mut decoder = AnthropicDecoder::new();
/// let mut events = Vec::new();
/// for event in EventReader::new(&body[..]) {
///     events.extend(decoder.decode(event?)?.unwrap_or_default());
/// }
/// assert_eq!(events, [ChatEvent::Text("Hi".into()), ChatEvent::Done]);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct AnthropicDecoder {
    done: bool,
    /// The content-block index of each tool call, in the order the calls started.
    tool_blocks: Vec<u64>,
    /// The usage fields seen so far, `message_delta`'s over `message_start`'s.
    usage: Map<String, Value>,
}

impl AnthropicDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        AnthropicDecoder::default()
    }

    /// The tool call of content block `index`, if it is a tool-use block.
    fn tool_call(&self, index: u64) -> Option<usize> {
        self.tool_blocks.iter().position(|&block| block == index)
    }

    /// Merges `usage` into what is known and returns the total.
    fn merge_usage(&mut self, usage: Option<Value>) -> Option<Usage> {
        let Some(Value::Object(fields)) = usage else {
            return None;
        };
        self.usage.extend(fields);
        let count = |key: &str| self.usage.get(key).and_then(Value::as_u64);
        // Server-controlled counts: saturate rather than overflow.
        let cached = count("cache_creation_input_tokens")
            .unwrap_or(0)
            .saturating_add(count("cache_read_input_tokens").unwrap_or(0));
        let input = count("input_tokens").map(|n| n.saturating_add(cached));
        let output = count("output_tokens");
        Some(Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input.zip(output).and_then(|(i, o)| i.checked_add(o)),
            raw: Value::Object(self.usage.clone()),
        })
    }
}

impl Decode for AnthropicDecoder {
    type Item = Vec<ChatEvent>;

    fn decode(&mut self, event: Event) -> Result<Option<Vec<ChatEvent>>, Error> {
        if self.done {
            return Ok(None);
        }
        let data = event.data.trim();
        if event.event == "error" {
            return Err(error_event(data));
        }
        if data.is_empty() {
            return Ok(None);
        }
        let payload: Payload = parse_object(data)?;
        let mut events = Vec::new();
        match payload {
            Payload::MessageStart { message } => {
                if let Some(usage) = self.merge_usage(message.usage) {
                    events.push(ChatEvent::Usage(usage));
                }
            }
            Payload::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                Block::Text { text } if !text.is_empty() => events.push(ChatEvent::Text(text)),
                Block::Thinking { thinking } if !thinking.is_empty() => {
                    events.push(ChatEvent::Reasoning(thinking))
                }
                Block::ToolUse { id, name, input } => {
                    let call = self.tool_blocks.len();
                    self.tool_blocks.push(index);
                    // The input is streamed as `input_json_delta`s after an empty `{}`; a block
                    // that arrives with its input filled in carries it whole.
                    let arguments = match input {
                        Value::Object(map) if !map.is_empty() => Value::Object(map).to_string(),
                        _ => String::new(),
                    };
                    events.push(ChatEvent::ToolCall(ToolCallDelta {
                        index: Some(call),
                        id: Some(id),
                        name: Some(name),
                        arguments,
                    }));
                }
                _ => {}
            },
            Payload::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::Text { text } if !text.is_empty() => events.push(ChatEvent::Text(text)),
                BlockDelta::Thinking { thinking } if !thinking.is_empty() => {
                    events.push(ChatEvent::Reasoning(thinking))
                }
                BlockDelta::InputJson { partial_json } => {
                    events.push(ChatEvent::ToolCall(ToolCallDelta {
                        // A delta for a block that did not start as a tool use continues the
                        // last call rather than being lost.
                        index: self.tool_call(index),
                        id: None,
                        name: None,
                        arguments: partial_json,
                    }))
                }
                _ => {}
            },
            Payload::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.and_then(|d| d.stop_reason) {
                    events.push(ChatEvent::Finish(reason));
                }
                if let Some(usage) = self.merge_usage(usage) {
                    events.push(ChatEvent::Usage(usage));
                }
            }
            Payload::MessageStop => {
                self.done = true;
                events.push(ChatEvent::Done);
            }
            Payload::Error { error } if error.is_null() => {
                return Err(api_error(&Value::from(data)))
            }
            Payload::Error { error } => return Err(api_error(&error)),
            Payload::Other => {}
        }
        Ok((!events.is_empty()).then_some(events))
    }

    fn finish(&mut self) -> Result<Option<Vec<ChatEvent>>, Error> {
        end_of_stream(self.done, "message_stop")
    }
}

/// An event's data, by its `type`. Unknown fields are ignored; unknown types are
/// [`Payload::Other`], as Anthropic may add event types.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Payload {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u64,
        delta: BlockDelta,
    },
    MessageDelta {
        delta: Option<MessageDelta>,
        usage: Option<Value>,
    },
    MessageStop,
    Error {
        #[serde(default)]
        error: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartMessage {
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// `redacted_thinking`, server-side tool blocks and their results...
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum BlockDelta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    /// `signature_delta`, `citations_delta`...
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(body: &str) -> Result<Vec<ChatEvent>, Error> {
        let mut decoder = AnthropicDecoder::new();
        let mut out = Vec::new();
        for event in crate::sse::EventReader::new(body.as_bytes()) {
            out.extend(decoder.decode(event?)?.unwrap_or_default());
        }
        out.extend(decoder.finish()?.unwrap_or_default());
        Ok(out)
    }

    /// Events named after their `type`, as Anthropic sends them.
    fn body(payloads: &[&str]) -> String {
        payloads
            .iter()
            .map(|p| {
                let value: Value = serde_json::from_str(p).unwrap();
                let name = value["type"].as_str().unwrap();
                format!("event: {name}\ndata: {p}\n\n")
            })
            .collect()
    }

    const STOP: &str = r#"{"type":"message_stop"}"#;

    #[test]
    fn text_deltas_are_text_and_message_stop_ends() {
        let events = decode_all(&body(&[
            r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":10,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type": "ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}   }"#,
            r#"{"type":"content_block_stop","index":0   }"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}"#,
            STOP,
        ]))
        .unwrap();
        assert!(matches!(&events[0], ChatEvent::Usage(u) if u.input_tokens == Some(10)));
        assert_eq!(events[1], ChatEvent::Text("Hi".into()));
        assert_eq!(events[2], ChatEvent::Finish("end_turn".into()));
        match &events[3] {
            ChatEvent::Usage(u) => {
                assert_eq!(
                    (u.input_tokens, u.output_tokens, u.total_tokens),
                    (Some(10), Some(5), Some(15))
                );
                assert_eq!(u.raw["output_tokens"], 5);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(events[4], ChatEvent::Done);
        assert_eq!(events.len(), 5);
    }

    #[test]
    fn cached_tokens_count_as_input() {
        let events = decode_all(&body(&[
            r#"{"type":"message_start","message":{"usage":{"input_tokens":3,"cache_creation_input_tokens":100,"cache_read_input_tokens":20,"output_tokens":1}}}"#,
            STOP,
        ]))
        .unwrap();
        assert!(matches!(&events[0], ChatEvent::Usage(u) if u.input_tokens == Some(123)));
    }

    #[test]
    fn thinking_and_signatures_are_not_text() {
        let events = decode_all(&body(&[
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EvMC"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"xyz"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"citations_delta","citation":{}}}"#,
            STOP,
        ]))
        .unwrap();
        assert_eq!(
            events,
            [ChatEvent::Reasoning("hmm".into()), ChatEvent::Done]
        );
    }

    #[test]
    fn tool_use_blocks_are_numbered_in_order() {
        let events = decode_all(&body(&[
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_A","name":"add","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_B","name":"mul","input":{"x":1}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
            STOP,
        ]))
        .unwrap();
        let delta = |index, id: Option<&str>, name: Option<&str>, args: &str| {
            ChatEvent::ToolCall(ToolCallDelta {
                index: Some(index),
                id: id.map(Into::into),
                name: name.map(Into::into),
                arguments: args.into(),
            })
        };
        assert_eq!(
            events,
            [
                delta(0, Some("toolu_A"), Some("add"), ""),
                delta(0, None, None, "{\"a\":"),
                delta(1, Some("toolu_B"), Some("mul"), "{\"x\":1}"),
                delta(0, None, None, "1}"),
                ChatEvent::Done,
            ]
        );
    }

    #[test]
    fn an_error_event_is_an_api_error_with_its_type() {
        let err = decode_all(
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"details\":null,\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}              \n\n",
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Api { kind: Some(k), message } if k == "overloaded_error" && message == "Overloaded"),
            "{err:?}"
        );
        // Named by its type only, or with words that are not JSON.
        let err = decode_all(
            "data: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}\n\n",
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Api { kind: Some(k), .. } if k == "api_error"),
            "{err:?}"
        );
        let err = decode_all("data: {\"type\":\"error\"}\n\n").unwrap_err();
        assert!(
            matches!(&err, Error::Api { message, .. } if message.contains("error")),
            "{err:?}"
        );
        let err = decode_all("event: error\ndata: plain words\n\n").unwrap_err();
        assert!(
            matches!(&err, Error::Api { message, .. } if message == "plain words"),
            "{err:?}"
        );
    }

    #[test]
    fn the_end_without_message_stop_is_a_cut() {
        let err = decode_all(&body(&[
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#,
        ]))
        .unwrap_err();
        assert!(
            matches!(&err, Error::Protocol(m) if m.contains("cut") && m.contains("message_stop")),
            "{err}"
        );
    }

    #[test]
    fn events_after_message_stop_are_ignored() {
        let events = decode_all(&format!(
            "{}data: not json\n\n",
            body(&[
                STOP,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#
            ])
        ))
        .unwrap();
        assert_eq!(events, [ChatEvent::Done]);
    }

    #[test]
    fn unknown_events_are_skipped_and_garbage_is_named() {
        // Bedrock adds its metrics to message_stop.
        let events = decode_all(&body(&[
            r#"{"type":"brand_new_event","x":1}"#,
            r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":3}}"#,
        ]))
        .unwrap();
        assert_eq!(events, [ChatEvent::Done]);
        let err =
            decode_all("event: content_block_delta\ndata: {\"type\":\"content_block_delta\"\n\n")
                .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("malformed JSON") && msg.contains("content_block_delta"),
            "{msg}"
        );
    }
}
