//! What a chat stream's worker sends to the caller: provider-neutral events.
//!
//! Every provider's decoder turns its wire format into [`ChatEvent`]s; [`ChatStream`] folds
//! them into the text it yields and the state it keeps (finish reason, usage, tool calls,
//! reasoning). Adding a provider means writing a decoder, never touching the stream.
//!
//! [`ChatStream`]: super::ChatStream

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One piece of a streamed answer, as decoded on the worker.
///
/// A decoder sends them in batches (`Vec<ChatEvent>`, one batch per wire chunk, because one
/// chunk can carry several pieces: the last OpenAI chunk often has a finish reason and the
/// usage). [`ChatStream`](super::ChatStream) yields the [`Text`](ChatEvent::Text) pieces and
/// folds the rest into its state; [`ChatStream::next_event`](super::ChatStream::next_event)
/// shows them all (see its example).
///
/// Every decoder must send [`Done`](ChatEvent::Done) when the answer is complete: a stream that
/// ends without it is reported as cut.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{ChatEvent, ChatStream};
///
/// // A decoder's batches, as a provider's worker would send them.
/// let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
/// tx.send(Ok(vec![ChatEvent::Text("5".into()), ChatEvent::Finish("stop".into()), ChatEvent::Done])).unwrap();
/// let mut stream = ChatStream::from_receiver(rx);
/// assert_eq!(stream.by_ref().collect::<Result<String, _>>()?, "5");
/// assert_eq!(stream.finish_reason(), Some("stop"));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChatEvent {
    /// Answer text to show the user. Never empty.
    Text(String),
    /// The model's reasoning ("thinking"), sent by reasoning models next to the answer
    /// (`reasoning_content`, `reasoning`, Mistral's thinking parts, Anthropic's thinking
    /// blocks, Gemini's thought parts). Not part of the answer. Never empty.
    Reasoning(String),
    /// A refusal message sent instead of the answer (OpenAI's `refusal` field). Never empty.
    Refusal(String),
    /// A piece of a tool call the caller has to run; the pieces of one call share an index.
    /// The first piece of every call a decoder sends carries its (non-empty) name.
    ToolCall(ToolCallDelta),
    /// A piece of a tool the provider runs itself (Anthropic's `server_tool_use` and
    /// `mcp_tool_use` blocks: web search, web fetch, code execution...). Not a call for the
    /// caller to run: shown, never answered. Numbered apart from the client's tool calls.
    ServerToolUse(ToolCallDelta),
    /// The result of a server-side tool, as the provider sent it (Anthropic's
    /// `web_search_tool_result` and the other `*_tool_result` blocks).
    ServerToolResult(ServerToolResult),
    /// The model's plan before it calls tools (Cohere's `tool-plan-delta`). Not part of the
    /// answer. Never empty.
    ToolPlan(String),
    /// A whole block of thinking as the provider sent it, sent when the block ends (its text
    /// came before as [`Reasoning`](ChatEvent::Reasoning) pieces): Anthropic's `thinking` and
    /// `redacted_thinking` blocks, the reasoning field of an OpenAI-compatible server's answer
    /// ([`Thought::Unsigned`]). [`ChatResponse::message`](super::ChatResponse::message) sends it
    /// back with the assistant's turn, as a tool loop with extended thinking must.
    Thought(Thought),
    /// A source the answer cites: Anthropic's `citations_delta` (web search results,
    /// documents), Cohere's `citation-start`, Gemini's grounding chunks (Google Search),
    /// the `url_citation` annotations of OpenAI-compatible servers (search models,
    /// OpenRouter's web search).
    Citation(Citation),
    /// Why the model stopped, as the provider spells it: `"stop"`, `"length"`, `"tool_calls"`
    /// (OpenAI); `"end_turn"`, `"max_tokens"`, `"tool_use"` (Anthropic); `"STOP"`,
    /// `"MAX_TOKENS"`, `"SAFETY"` (Gemini); `"COMPLETE"`, `"MAX_TOKENS"` (Cohere)...
    Finish(String),
    /// Token counts. A stream may send several; the last one wins.
    Usage(Usage),
    /// The answer is complete: the provider's end marker came, or the body ended cleanly right
    /// after a finish reason (each decoder's table says which). Nothing follows.
    Done,
}

/// A source the answer cites, as [`ChatEvent::Citation`] brings it: its URL and title when
/// the provider gives them, and the citation whole as the provider sent it.
///
/// | provider | one citation is | `cited_text` | `answer_text` |
/// |---|---|---|---|
/// | Anthropic | a `citations_delta`'s `citation` (`web_search_result_location`, `char_location`, `search_result_location`...; its `url` or `source`, its `title` or `document_title`) | its `cited_text` | `None` |
/// | Cohere v2 | a `citation-start`'s citation, with the URL and title of one of its sources (a document or a tool's output): the first with a URL, else the first | `None` | its `text` |
/// | Gemini | a grounding chunk (`web`, `retrievedContext` or `maps`), once | `None` | `None` |
/// | OpenAI-compatible | an annotation of type `url_citation` | `None` | `None` (`raw` has the span's indices) |
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{AnthropicDecoder, ChatEvent};
/// use ureq_futures::sse::{Decode, EventReader};
///
/// let body = br#"data: {"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{"type":"web_search_result_location","url":"https://example.com/tides","title":"Tides","cited_text":"Tides follow the moon."}}}
///
/// "#;
/// let event = EventReader::new(&body[..]).next().unwrap()?;
/// let events = AnthropicDecoder::new().decode(event)?.unwrap_or_default();
/// let [ChatEvent::Citation(citation)] = &events[..] else { panic!("{events:?}") };
/// assert_eq!(citation.url.as_deref(), Some("https://example.com/tides"));
/// assert_eq!(citation.cited_text.as_deref(), Some("Tides follow the moon."));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Citation {
    /// The source's URL, when it is a web page (or a document with one).
    pub url: Option<String>,
    /// The source's title.
    pub title: Option<String>,
    /// The source's words the answer relies on, when the provider quotes them (Anthropic).
    pub cited_text: Option<String>,
    /// The answer's words the source supports, when the provider gives them (Cohere).
    pub answer_text: Option<String>,
    /// The citation as the provider sent it.
    pub raw: Value,
}

impl Citation {
    /// A citation of `raw`: its URL, title and cited text are the first strings found at the
    /// JSON pointers given for each.
    pub(crate) fn at(raw: Value, url: &[&str], title: &[&str], cited: &[&str]) -> Citation {
        let first = |pointers: &[&str]| {
            let mut values = pointers.iter().filter_map(|p| raw.pointer(p));
            let value = values.find_map(|v| v.as_str().filter(|s| !s.is_empty()));
            value.map(str::to_string)
        };
        let (url, title, cited_text) = (first(url), first(title), first(cited));
        Citation {
            url,
            title,
            cited_text,
            answer_text: None,
            raw,
        }
    }
}

/// The result of a tool the provider ran itself, kept whole as the server sent it (read with
/// [`ChatStream::server_tool_results`](super::ChatStream::server_tool_results)).
///
/// Anthropic sends one content block per result (`web_search_tool_result`,
/// `web_fetch_tool_result`, `code_execution_tool_result`, `mcp_tool_result`...), whose
/// `tool_use_id` names the [`ServerToolUse`](ChatEvent::ServerToolUse) it answers. To continue
/// the conversation, send the block back as it came:
/// [`ChatResponse::message`](super::ChatResponse::message) does, as a
/// [`Part::ServerToolResult`](super::Part::ServerToolResult).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{AnthropicDecoder, ChatEvent};
/// use ureq_futures::sse::{Decode, EventReader};
///
/// let body = b"data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":\
///              {\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_1\",\"content\":[]}}\n\n";
/// let event = EventReader::new(&body[..]).next().unwrap()?;
/// let events = AnthropicDecoder::new().decode(event)?.unwrap_or_default();
/// let [ChatEvent::ServerToolResult(result)] = &events[..] else { panic!("{events:?}") };
/// assert_eq!((result.tool_use_id.as_str(), result.kind.as_str()), ("srvtoolu_1", "web_search_tool_result"));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerToolResult {
    /// The id of the server tool use this answers (`srvtoolu_...`), empty when the server sent
    /// none.
    pub tool_use_id: String,
    /// The block's type, as the provider spells it: `"web_search_tool_result"`...
    pub kind: String,
    /// The whole block as the server sent it (its `content` holds the result).
    pub block: Value,
}

/// A block of the model's thinking as the provider sent it, to send back unchanged with the
/// assistant's turn: with extended thinking on, Anthropic refuses a tool loop whose assistant
/// turn lost its thinking blocks, and DeepSeek in thinking mode one whose assistant turns lost
/// their `reasoning_content`. Read from [`ChatResponse::thoughts`](super::ChatResponse) or
/// [`ChatStream::thoughts`](super::ChatStream::thoughts); carried in history as
/// [`Part::Thought`](super::Part::Thought): Anthropic is sent the signed and redacted ones, the
/// OpenAI-compatible servers the [`Unsigned`](Thought::Unsigned) ones, and each provider gets
/// the turn without the others.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{AnthropicDecoder, ChatEvent, Thought};
/// use ureq_futures::sse::{Decode, EventReader};
///
/// let body = concat!(
///     "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
///     "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"2 + 2 = 4\"}}\n\n",
///     "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n",
///     "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
/// );
/// let mut decoder = AnthropicDecoder::new();
/// let mut events = Vec::new();
/// for event in EventReader::new(body.as_bytes()) {
///     events.extend(decoder.decode(event?)?.unwrap_or_default());
/// }
/// let thought = Thought::Signed { text: "2 + 2 = 4".into(), signature: "EqQB".into() };
/// assert_eq!(events, [ChatEvent::Reasoning("2 + 2 = 4".into()), ChatEvent::Thought(thought)]);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Thought {
    /// Thinking the model showed: its text and the provider's signature of it.
    Signed {
        /// The thinking, whole.
        text: String,
        /// The provider's signature of it.
        signature: String,
    },
    /// Thinking the provider encrypted (Anthropic's `redacted_thinking`): opaque data.
    Redacted {
        /// The encrypted thinking, as sent.
        data: String,
    },
    /// The reasoning an OpenAI-compatible server sent in a field of the message (DeepSeek's,
    /// vLLM's and llama.cpp's `reasoning_content`; the `reasoning` of Groq, OpenRouter and
    /// Ollama), whole, sent when the answer's finish reason comes. Sent back in the same field
    /// of the assistant's message, as DeepSeek requires in a tool loop with thinking (an empty
    /// `reasoning_content` too, which DeepSeek sends with a call made without reasoning), but
    /// not to Mistral or Groq, whose APIs refuse it (see
    /// [`echo_reasoning`](super::ClientBuilder::echo_reasoning)); a field other than those two
    /// is left out.
    Unsigned {
        /// The field it came in: `"reasoning_content"` or `"reasoning"`.
        field: String,
        /// The reasoning, whole.
        text: String,
    },
    /// OpenRouter's `reasoning_details`: the model's reasoning blocks as OpenRouter passes them
    /// on from the provider (`reasoning.text` with its signature, `reasoning.summary`,
    /// `reasoning.encrypted`), sent when the answer's finish reason comes. The pieces of one
    /// block (the same `index` and `type`) are joined into one object, as a non-streamed answer
    /// holds it. Sent back as they came in the assistant's message, as OpenRouter asks in a
    /// tool loop with reasoning (Gemini 3's function calls and Claude's tool use with thinking
    /// need their reasoning back); other providers leave them out.
    ReasoningDetails {
        /// The blocks, one JSON object each.
        details: Vec<serde_json::Value>,
    },
}

/// A piece of a tool (function) call, as streamed. The arguments arrive in fragments that are
/// concatenated; the id and the name usually come with the first fragment only (see
/// [`ChatStream::tool_calls`](super::ChatStream::tool_calls) for calls assembled from them).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{ChatEvent, ChatResponse, ChatStream, ToolCallDelta};
///
/// let first = ToolCallDelta {
///     index: Some(0),
///     id: Some("call_1".into()),
///     name: Some("add".into()),
///     arguments: r#"{"a":2,"#.into(),
///     signature: None,
/// };
/// let rest = ToolCallDelta { index: Some(0), arguments: r#""b":3}"#.into(), ..ToolCallDelta::default() };
/// let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
/// tx.send(Ok(vec![ChatEvent::ToolCall(first), ChatEvent::ToolCall(rest), ChatEvent::Done])).unwrap();
/// let answer = ChatResponse::from_stream(ChatStream::from_receiver(rx))?;
/// assert_eq!((answer.tool_calls[0].name.as_str(), answer.tool_calls[0].arguments.as_str()), ("add", r#"{"a":2,"b":3}"#));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// Which call this piece belongs to; `None` when the server sent no index (the piece then
    /// continues the last call, or starts a new one when it brings a new id).
    pub index: Option<usize>,
    /// The call's id, on the piece that starts it.
    pub id: Option<String>,
    /// The function's name, on the piece that starts it.
    pub name: Option<String>,
    /// The next fragment of the arguments (JSON text), possibly empty.
    pub arguments: String,
    /// An opaque token the provider wants back with the call when it is sent in the history
    /// (Gemini's `thoughtSignature` on a `functionCall` part, or in the call's
    /// `extra_content.google.thought_signature` on its OpenAI-compatible endpoint), on the piece
    /// that carries it.
    pub signature: Option<String>,
}

impl ToolCallDelta {
    /// The piece that starts call `index`: its id, its name and the first of its arguments.
    pub(crate) fn start(index: usize, id: Option<String>, name: String, arguments: String) -> Self {
        ToolCallDelta {
            index: Some(index),
            id,
            name: Some(name),
            arguments,
            signature: None,
        }
    }

    /// More of call `index`'s arguments.
    pub(crate) fn more(index: usize, arguments: String) -> Self {
        ToolCallDelta {
            index: Some(index),
            arguments,
            ..ToolCallDelta::default()
        }
    }
}

/// A tool call assembled from its [`ToolCallDelta`]s.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Message, ToolCall};
///
/// // The calls of an answer come from `ChatStream::tool_calls` or `ChatResponse::tool_calls`.
/// let call = ToolCall { id: "call_1".into(), name: "add".into(), arguments: r#"{"a": 2, "b": 3}"#.into(), ..ToolCall::default() };
/// let args: serde_json::Value = serde_json::from_str(&call.arguments)?;
/// let sum = args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0);
/// let reply = Message::tool_result(&call, sum.to_string());
/// assert_eq!(reply.role, "tool");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's position among the answer's calls, in the order they started (0, 1...). For
    /// OpenAI streams it is the server's `index`, which numbers the calls the same way.
    pub index: usize,
    /// The call's id (`call_...`), empty when the server sent none.
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments: all fragments concatenated, normally a JSON object as text; `{}` in a
    /// whole answer when the server sent none or only blanks (OpenAI-compatible servers and
    /// Cohere send `""` for a tool without parameters), but for the last call of an answer
    /// that stopped at its token limit. An answer that stopped at its `max_tokens` within a
    /// call leaves them cut, as they came; in the history such a call goes back to Anthropic
    /// and Gemini, which take an object, as the object its whole members make (as Anthropic's
    /// SDK reads it).
    pub arguments: String,
    /// An opaque token to send back with the call in the history: Gemini's `thoughtSignature`
    /// (Gemini 3 models refuse a history whose function calls lost theirs), also through its
    /// OpenAI-compatible endpoint (`extra_content.google.thought_signature`, which an
    /// `OpenAIClient` sends back as it came). `None` for the other providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ToolCall {
    /// The arguments parsed as JSON into `T`: what a tool's handler reads them as, and what a
    /// batch whose [`request`](super::ChatBatch::request) forces a tool (extraction) reads
    /// each [`ChatResult::tool_calls`](super::ChatResult::tool_calls) entry as. Arguments that
    /// are empty or blank read as `{}` (a tool without parameters; see
    /// [`arguments`](ToolCall::arguments)).
    ///
    /// # Errors
    ///
    /// [`Error::Json`](crate::Error::Json) naming the call (its function and its id), saying
    /// whether the arguments are no JSON (cut at the answer's token limit, say) or do not fit
    /// `T`, and quoting their start.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::Deserialize;
    /// use ureq_futures::llm::ToolCall;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct Add {
    ///     a: i64,
    ///     b: i64,
    /// }
    ///
    /// let call = ToolCall { id: "call_1".into(), name: "add".into(), arguments: r#"{"a": 2, "b": 3}"#.into(), ..ToolCall::default() };
    /// let args: Add = call.json()?;
    /// assert_eq!(args.a + args.b, 5);
    ///
    /// let cut = ToolCall { name: "add".into(), arguments: r#"{"a": 2, "#.into(), ..ToolCall::default() };
    /// let err = cut.json::<Add>().unwrap_err().to_string();
    /// assert!(err.contains("the arguments of the call of add are not JSON"), "{err}");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::Error> {
        let text = match self.arguments.trim() {
            "" => "{}",
            text => text,
        };
        serde_json::from_str(text).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => "do not fit the type asked for",
                _ => "are not JSON",
            };
            let id = match self.id.as_str() {
                "" => String::new(),
                id => format!(" ({id})"),
            };
            let start: String = text.chars().take(80).collect();
            let more = if start.len() < text.len() { "..." } else { "" };
            crate::Error::Json(serde::de::Error::custom(format!(
                "the arguments of the call of {}{id} {what}: {e}; they start {start:?}{more}",
                self.name
            )))
        })
    }

    /// Adds `delta` to the calls it belongs to: the (first) call with its index, else a new
    /// call. `at` holds the position in `calls` of the first call of each index, kept here.
    /// Returns whether it started a new call.
    pub(crate) fn apply(
        calls: &mut Vec<ToolCall>,
        at: &mut HashMap<usize, usize>,
        delta: &ToolCallDelta,
    ) -> bool {
        let known = calls.len();
        let position = match delta.index {
            Some(i) => at.get(&i).copied(),
            // No index: a new id starts a new call, anything else continues the last one.
            None => calls.len().checked_sub(1).filter(|&last| {
                let known = &calls[last].id;
                known.is_empty() || delta.id.as_ref().is_none_or(|id| id == known)
            }),
        };
        let position = position.unwrap_or_else(|| {
            let index = delta.index.unwrap_or(calls.len());
            calls.push(ToolCall {
                index,
                ..ToolCall::default()
            });
            let position = calls.len() - 1;
            at.entry(index).or_insert(position);
            position
        });
        let call = &mut calls[position];
        // The first id and name stay: some servers repeat them on every piece.
        for (known, given) in [(&mut call.id, &delta.id), (&mut call.name, &delta.name)] {
            if let Some(given) = given.as_ref().filter(|_| known.is_empty()) {
                known.clone_from(given);
            }
        }
        call.arguments.push_str(&delta.arguments);
        call.signature = call.signature.take().or_else(|| delta.signature.clone());
        calls.len() > known
    }
}

/// Token counts of an answer, in provider-neutral names, with the provider's own object kept.
///
/// OpenAI's `prompt_tokens` / `completion_tokens` are [`input_tokens`](Usage::input_tokens) /
/// [`output_tokens`](Usage::output_tokens); so are Anthropic's and Cohere's `input_tokens` /
/// `output_tokens` and Gemini's `promptTokenCount` / `candidatesTokenCount` (each decoder's
/// docs say which fields it reads). Details such as cached or reasoning tokens are in
/// [`raw`](Usage::raw).
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use ureq_futures::llm::Usage;
///
/// let raw = json!({
///     "prompt_tokens": 20,
///     "completion_tokens": 310,
///     "total_tokens": 330,
///     "completion_tokens_details": {"reasoning_tokens": 256},
/// });
/// let usage = Usage::from_openai(&raw).unwrap();
/// assert_eq!((usage.input_tokens, usage.output_tokens), (Some(20), Some(310)));
/// // Details stay in the provider's own object.
/// assert_eq!(usage.raw["completion_tokens_details"]["reasoning_tokens"], 256);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt (the messages sent; Anthropic's cached tokens and Gemini's
    /// `toolUsePromptTokenCount`, what its own tools read, are added).
    pub input_tokens: Option<u64>,
    /// Tokens of the answer, its reasoning or thinking included (Gemini's `thoughtsTokenCount`
    /// is added to its `candidatesTokenCount`).
    pub output_tokens: Option<u64>,
    /// Both, when the server says.
    pub total_tokens: Option<u64>,
    /// The usage object as the server sent it.
    pub raw: Value,
}

impl Usage {
    /// Reads an OpenAI-style usage object (`prompt_tokens`, `completion_tokens`,
    /// `total_tokens`); `None` unless `value` is an object.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::{json, Value};
    /// use ureq_futures::llm::Usage;
    ///
    /// let usage = Usage::from_openai(&json!({"prompt_tokens": 9, "completion_tokens": 12})).unwrap();
    /// assert_eq!((usage.input_tokens, usage.output_tokens, usage.total_tokens), (Some(9), Some(12), None));
    /// assert!(Usage::from_openai(&Value::Null).is_none());
    /// ```
    pub fn from_openai(value: &Value) -> Option<Usage> {
        Usage::from_counts(
            value,
            ["prompt_tokens", "completion_tokens", "total_tokens"],
        )
    }

    /// The counts of `input` and `output` tokens, their sum as the total (when it does not
    /// overflow), for the providers that send no total.
    pub(crate) fn summed(input: Option<u64>, output: Option<u64>, raw: Value) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input.zip(output).and_then(|(i, o)| i.checked_add(o)),
            raw,
        }
    }

    /// Reads a usage object whose counts are under the keys `[input, output, total]` (see
    /// [`token_count`]); `None` unless `value` is an object.
    pub(crate) fn from_counts(value: &Value, [input, output, total]: [&str; 3]) -> Option<Usage> {
        let object = value.as_object()?;
        let count = |key: &str| token_count(object.get(key));
        Some(Usage {
            input_tokens: count(input),
            output_tokens: count(output),
            total_tokens: count(total),
            raw: value.clone(),
        })
    }
}

/// A token count as a server sent it: a whole number, also written as a float (`3.0`, as some
/// servers' JSON encoders write every number, and as the official SDKs read it); `None` for
/// anything else (a fraction, a negative number, a string).
pub(crate) fn token_count(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        // Below 2^64 (u64::MAX as f64 rounds up to it), so the cast is exact.
        (float >= 0.0 && float.fract() == 0.0 && float < u64::MAX as f64).then_some(float as u64)
    })
}
