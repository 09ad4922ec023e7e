//! `AnthropicDecoder`: Messages API stream events into [`ChatEvent`]s, on the worker.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::llm::event::{
    token_count, ChatEvent, Citation, ServerToolResult, Thought, ToolCallDelta, Usage,
};
use crate::llm::wire::{api_error, chat_decode, named, non_empty_str, parse_object, Ending};

use crate::Error;

/// Decodes the events of Anthropic's streaming Messages API into [`ChatEvent`] batches, on the
/// worker (see [`Decode`](crate::sse::Decode)). It works on any source of events, not only a live request.
///
/// The stream is a sequence of named events whose data is a JSON object with the same `type`:
///
/// | in the stream | becomes |
/// |---|---|
/// | `message_start` (its `usage`: the prompt's tokens) | [`ChatEvent::Usage`] |
/// | `content_block_start` of a `text` block | its text, if any, as [`ChatEvent::Text`] |
/// | `content_block_start` of a `tool_use` block (id, name) | [`ChatEvent::ToolCall`] starting a call, without arguments yet |
/// | `content_block_start` of a `server_tool_use` or `mcp_tool_use` block (web search, web fetch, code execution...) | [`ChatEvent::ServerToolUse`]: run by the server, not a call for the caller |
/// | `content_block_start` of a `*_tool_result` block (`web_search_tool_result`...) | [`ChatEvent::ServerToolResult`] with the whole block |
/// | `content_block_delta` with a `text_delta` | [`ChatEvent::Text`] (empty ones are dropped; nothing at a tool block's index) |
/// | `content_block_delta` with a `thinking_delta` | [`ChatEvent::Reasoning`] (not text; nothing at a tool block's index) |
/// | `content_block_delta` with an `input_json_delta` | a piece of the arguments of the block at its `index`: [`ChatEvent::ToolCall`] for a `tool_use` block, [`ChatEvent::ServerToolUse`] for a server tool; nothing for any other block. Streamed input replaces the `input` the block started with |
/// | `content_block_delta` with a `signature_delta` | nothing yet: the signature of the thinking block |
/// | `content_block_stop` of a `thinking` block with a signature | [`ChatEvent::Thought`]: the whole block, [`Thought::Signed`] |
/// | `content_block_start` of a `redacted_thinking` block | [`ChatEvent::Thought`]: [`Thought::Redacted`] with its `data` |
/// | `content_block_stop` of a tool block that got no streamed input (or the `message_delta` or `message_stop` after a block that was never stopped) | a piece of the `input` the block started with: `{}` for a tool without parameters |
/// | `content_block_delta` with a `citations_delta` | [`ChatEvent::Citation`] of its `citation` (a web search result, a place in a document) |
/// | other deltas and blocks | nothing |
/// | `message_delta`: `stop_reason` and `usage` (a count sent as `null` keeps the known one) | [`ChatEvent::Finish`], [`ChatEvent::Usage`] |
/// | `stop_reason: "refusal"`, with `stop_details.explanation` | [`ChatEvent::Refusal`] of the explanation (of a sentence that says so without one), then the [`ChatEvent::Finish`] |
/// | `ping`, other `content_block_stop`s, unknown event types | nothing |
/// | `message_stop` | [`ChatEvent::Done`]; anything after it is ignored |
/// | an `error` event (`overloaded_error`, `api_error`...) | [`Error::Api`] with the error's `type` as its kind: the stream's last item |
/// | the end of the body right after a `stop_reason`, without `message_stop` | [`ChatEvent::Done`] |
/// | the end of the body anywhere else | [`Error::Protocol`]: the answer was cut |
/// | a `tool_use` block without a name | [`Error::Protocol`]: the call could not be run |
/// | data that is not a JSON object of a known shape | [`Error::Protocol`] quoting the chunk |
///
/// Pieces are tracked by their content block: an `input_json_delta` belongs to the block whose
/// `index` it carries, never to "the last call". Client tool calls are numbered in the order
/// their blocks start (0, 1...), whatever the blocks' positions among the text, thinking and
/// server-tool blocks; server tool uses are numbered apart, the same way. The [`Usage`] counts
/// as input the `input_tokens` plus the cache's `cache_creation_input_tokens` and
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
    ending: Ending,
    /// What each content block that carries tool input is, by the block's index, and the
    /// input it started with (`{}` when empty) until a piece of streamed input replaces it.
    blocks: BTreeMap<u64, (ToolBlock, Option<String>)>,
    /// The thinking block being read: its index, text and signature so far.
    thinking: Option<(u64, String, String)>,
    /// Client tool calls started so far, to number the next one.
    calls: usize,
    /// Server tool uses started so far, to number the next one.
    server_calls: usize,
    /// The usage fields seen so far, `message_delta`'s over `message_start`'s.
    usage: Map<String, Value>,
}

/// A content block whose `input_json_delta`s are kept, with its number among its kind.
#[derive(Debug, Clone, Copy)]
enum ToolBlock {
    Client(usize),
    Server(usize),
}

impl ToolBlock {
    /// The event of a piece of this block's call, made by `piece` from the call's number.
    fn event(self, piece: impl FnOnce(usize) -> ToolCallDelta) -> ChatEvent {
        match self {
            ToolBlock::Client(n) => ChatEvent::ToolCall(piece(n)),
            ToolBlock::Server(n) => ChatEvent::ServerToolUse(piece(n)),
        }
    }
}

impl AnthropicDecoder {
    /// A decoder at the start of a stream: one per answer, as it tracks the answer's state.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{AnthropicDecoder, ChatEvent};
    /// use ureq_futures::sse::{Decode, Event};
    ///
    /// let event = |kind: &str, data: &str| Event { event: kind.into(), data: data.into(), id: None, retry: None };
    /// let end = event("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#);
    /// let stop = event("message_stop", r#"{"type":"message_stop"}"#);
    /// let mut decoder = AnthropicDecoder::new();
    /// assert_eq!(decoder.decode(end)?, Some(vec![ChatEvent::Finish("end_turn".into())]));
    /// assert_eq!(decoder.decode(stop.clone())?, Some(vec![ChatEvent::Done]));
    /// assert_eq!(decoder.decode(stop)?, None); // nothing is read after the answer's end
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new() -> Self {
        AnthropicDecoder::default()
    }

    /// Merges `usage` into what is known and returns the total.
    fn merge_usage(&mut self, usage: Option<Value>) -> Option<Usage> {
        let Some(Value::Object(fields)) = usage else {
            return None;
        };
        // A count sent as null leaves the one known (from `message_start`) in place.
        self.usage
            .extend(fields.into_iter().filter(|(_, value)| !value.is_null()));
        let count = |key: &str| token_count(self.usage.get(key));
        // Server-controlled counts: saturate rather than overflow.
        let cached = count("cache_creation_input_tokens")
            .unwrap_or(0)
            .saturating_add(count("cache_read_input_tokens").unwrap_or(0));
        let input = count("input_tokens").map(|n| n.saturating_add(cached));
        let raw = Value::Object(self.usage.clone());
        Some(Usage::summed(input, count("output_tokens"), raw))
    }

    /// The events of a `content_block_start`.
    fn block_start(
        &mut self,
        index: u64,
        block: Map<String, Value>,
        events: &mut Vec<ChatEvent>,
    ) -> Result<(), Error> {
        let text = |key: &str| non_empty_str(block.get(key));
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" => events.extend(text("text").map(ChatEvent::Text)),
            "thinking" => {
                let thinking = text("thinking");
                let signature = text("signature").unwrap_or_default();
                self.thinking = Some((index, thinking.clone().unwrap_or_default(), signature));
                events.extend(thinking.map(ChatEvent::Reasoning));
            }
            "redacted_thinking" => {
                let data = text("data").unwrap_or_default();
                events.push(ChatEvent::Thought(Thought::Redacted { data }));
            }
            "tool_use" | "server_tool_use" | "mcp_tool_use" => {
                let name = named(text("name"), || format!("a `{kind}` block (index {index})"))?;
                let tool_block = if kind == "tool_use" {
                    self.calls += 1;
                    ToolBlock::Client(self.calls - 1)
                } else {
                    self.server_calls += 1;
                    ToolBlock::Server(self.server_calls - 1)
                };
                // The input is streamed as `input_json_delta`s after an empty `{}`, which they
                // replace (as the SDK's accumulator does); a block whose input comes whole at
                // its start gets it when the block ends without such pieces.
                let input = match block.get("input") {
                    Some(input @ Value::Object(map)) if !map.is_empty() => input.to_string(),
                    _ => "{}".into(),
                };
                self.blocks.insert(index, (tool_block, Some(input)));
                let start = |n| ToolCallDelta::start(n, text("id"), name, String::new());
                events.push(tool_block.event(start));
            }
            result if result.ends_with("_tool_result") => {
                events.push(ChatEvent::ServerToolResult(ServerToolResult {
                    tool_use_id: text("tool_use_id").unwrap_or_default(),
                    kind: result.to_string(),
                    block: Value::Object(block),
                }));
            }
            // `container_upload`, blocks to come...
            _ => {}
        }
        Ok(())
    }

    /// The event of an `input_json_delta` for block `index`, if that block takes tool input.
    fn input_piece(&mut self, index: u64, partial_json: String) -> Option<ChatEvent> {
        let (block, held) = self.blocks.get_mut(&index)?;
        if !partial_json.is_empty() {
            *held = None;
        }
        Some(block.event(|n| ToolCallDelta::more(n, partial_json)))
    }

    /// The input a tool block started with, as its arguments, if no piece of streamed input
    /// came for it: at the block's end, or at the answer's for a block that never saw its
    /// `content_block_stop`. Only once.
    fn held_input(&mut self, index: u64) -> Option<ChatEvent> {
        self.blocks.get_mut(&index).and_then(take_held)
    }

    /// [`held_input`](Self::held_input) of every tool block, at the answer's end.
    fn all_held_input(&mut self, events: &mut Vec<ChatEvent>) {
        events.extend(self.blocks.values_mut().filter_map(take_held));
    }

    /// Whether block `index` is a tool's: text and thinking sent at its index are not the
    /// answer's (the SDK's accumulator ignores a delta of another block's type too).
    fn is_tool_block(&self, index: u64) -> bool {
        self.blocks.contains_key(&index)
    }

    /// The thinking block being read, if its index is `index`.
    fn thinking_block(&mut self, index: u64) -> Option<&mut (u64, String, String)> {
        self.thinking.as_mut().filter(|(at, ..)| *at == index)
    }

    /// The events of one event's data, trimmed and not empty.
    fn data(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
        let payload: Payload = parse_object(data)?;
        match payload {
            Payload::MessageStart { message } => {
                events.extend(self.merge_usage(message.usage).map(ChatEvent::Usage));
            }
            Payload::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block, events)?,
            Payload::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::Text { .. } | BlockDelta::Thinking { .. }
                    if self.is_tool_block(index) => {}
                BlockDelta::Text { text } if !text.is_empty() => events.push(ChatEvent::Text(text)),
                BlockDelta::Thinking { thinking } if !thinking.is_empty() => {
                    if let Some((_, text, _)) = self.thinking_block(index) {
                        text.push_str(&thinking);
                    }
                    events.push(ChatEvent::Reasoning(thinking))
                }
                BlockDelta::Signature { signature } => {
                    // Each delta carries the whole signature (the SDK's accumulator replaces it).
                    if let Some((_, _, signed)) = self.thinking_block(index) {
                        *signed = signature;
                    }
                }
                BlockDelta::InputJson { partial_json } => {
                    events.extend(self.input_piece(index, partial_json))
                }
                BlockDelta::Citations { citation } => {
                    let title = ["/title", "/document_title"];
                    // A `search_result_location` names its source in `source`.
                    let url = ["/url", "/source"];
                    let citation = Citation::at(citation, &url, &title, &["/cited_text"]);
                    events.push(ChatEvent::Citation(citation))
                }
                _ => {}
            },
            Payload::ContentBlockStop { index } => {
                if let Some((_, text, signature)) = self.thinking.take_if(|(at, ..)| *at == index) {
                    if !signature.is_empty() {
                        events.push(ChatEvent::Thought(Thought::Signed { text, signature }));
                    }
                }
                // A tool block whose input never streamed (a tool without parameters: `input:
                // {}`, then an empty delta) gets its start's, so its arguments are JSON.
                events.extend(self.held_input(index));
            }
            Payload::MessageDelta { delta, usage } => {
                self.all_held_input(events);
                let (reason, details) =
                    delta.map_or((None, None), |d| (d.stop_reason, d.stop_details));
                if reason.as_deref() == Some("refusal") {
                    let explanation = details.as_ref().and_then(|d| d.get("explanation"));
                    let text = non_empty_str(explanation).unwrap_or_else(|| {
                        "the model declined to answer (stop_reason: refusal)".into()
                    });
                    events.push(ChatEvent::Refusal(text));
                }
                events.extend(reason.map(ChatEvent::Finish));
                events.extend(self.merge_usage(usage).map(ChatEvent::Usage));
            }
            Payload::MessageStop => {
                self.all_held_input(events);
                events.push(ChatEvent::Done)
            }
            Payload::Error { error } if error.is_null() => {
                return Err(api_error(&Value::from(data)))
            }
            Payload::Error { error } => return Err(api_error(&error)),
            Payload::Other => {}
        }
        Ok(())
    }
}

chat_decode!(AnthropicDecoder, "stop_reason", Some("message_stop"));

/// The held input of a tool block (see [`AnthropicDecoder::held_input`]) as a piece of its
/// call, taken: `None` once taken, or replaced by streamed input.
fn take_held((block, held): &mut (ToolBlock, Option<String>)) -> Option<ChatEvent> {
    let input = held.take()?;
    Some(block.event(|n| ToolCallDelta::more(n, input)))
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
        /// Kept as an object: result blocks are handed on whole, and new block types keep
        /// coming.
        content_block: Map<String, Value>,
    },
    ContentBlockDelta {
        index: u64,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u64,
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
    /// Why, for a `refusal`: `{"type": "refusal", "category": ..., "explanation": ...}`.
    stop_details: Option<Value>,
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
    #[serde(rename = "signature_delta")]
    Signature { signature: String },
    #[serde(rename = "citations_delta")]
    Citations { citation: Value },
    #[serde(other)]
    Other,
}
