//! `GeminiDecoder`: `GenerateContentResponse` events into [`ChatEvent`]s, on the worker.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use crate::llm::event::{token_count, ChatEvent, Citation, ServerToolResult, ToolCallDelta, Usage};
use crate::llm::wire::{
    api_error, arguments_text, chat_decode, first_of, malformed_chunk, named, non_empty_str,
    non_empty_string, parse_object, Ending,
};

use crate::Error;

/// Decodes the events of Gemini's `streamGenerateContent?alt=sse` into [`ChatEvent`] batches,
/// on the worker (see [`Decode`](crate::sse::Decode)). It works on any source of events, not only a live request.
///
/// Each event's data is a `GenerateContentResponse`; what the decoder makes of it:
///
/// | in the stream | becomes |
/// |---|---|
/// | `text` of a part of `candidates[0].content.parts` | [`ChatEvent::Text`] (empty ones are dropped) |
/// | `text` of a part with `"thought": true` | [`ChatEvent::Reasoning`] (not text) |
/// | `thoughtSignature` alone or next to a text | nothing |
/// | a `functionCall` part | [`ChatEvent::ToolCall`] with the whole call (`id` if any, `name`, `args` as JSON text: `{}` when it has none) |
/// | a `functionCall` part without a `name` | [`Error::Protocol`]: the call could not be run |
/// | the `thoughtSignature` of a `functionCall` part | the call's [`signature`](crate::llm::ToolCall::signature), to send back with it |
/// | an `executableCode` or `toolCall` part (code execution, built-in tools run by Google) | [`ChatEvent::ServerToolUse`]: not a call for the caller (name `code_execution`, or the `toolType`) |
/// | a `codeExecutionResult` or `toolResponse` part | [`ChatEvent::ServerToolResult`] (kind: the part's key; block: `{key: value}`) |
/// | each of `groundingMetadata.groundingChunks` (Google Search, retrieval, Maps), once | [`ChatEvent::Citation`] with its `uri` and `title` |
/// | `finishReason` of the candidate (`STOP`, `MAX_TOKENS`, `SAFETY`...) | [`ChatEvent::Finish`] |
/// | a `finishReason` of Gemini's filters (`SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `LANGUAGE`, `IMAGE_SAFETY`...) | [`ChatEvent::Refusal`] of the candidate's `finishMessage` (of a sentence that names the reason without one), then the [`ChatEvent::Finish`] |
/// | `finishReason` `MALFORMED_FUNCTION_CALL`, `UNEXPECTED_TOOL_CALL` or `TOO_MANY_TOOL_CALLS` | [`Error::Api`] whose kind is the reason and whose message is the `finishMessage`: no call to run, no answer |
/// | `usageMetadata` | [`ChatEvent::Usage`] |
/// | an `error` object (`code`, `message`, `status`), in an event's data or (a failure after the answer began) on lines of their own outside any field | [`Error::Api`] whose kind is the `status`, else the `code` |
/// | an `event: error` (from a proxy: Google sends no event names) | [`Error::Api`], whatever its data |
/// | `promptFeedback.blockReason` (the prompt was refused) | [`Error::Api`] whose kind is the reason |
/// | the end of the body right after a `finishReason` | [`ChatEvent::Done`] |
/// | the end of the body without one, or with more of the answer after it | [`Error::Protocol`]: the answer was cut |
/// | data that is not JSON of the expected shape | [`Error::Protocol`] quoting the chunk |
///
/// Gemini sends no end marker, so [`Done`](ChatEvent::Done) comes from
/// [`finish`](crate::sse::Decode::finish), when the body has ended after a finish reason. Only the first
/// candidate (index 0) is read. The [`Usage`]: `promptTokenCount` and
/// `toolUsePromptTokenCount` in (what the tools Gemini runs itself read, billed as input),
/// `candidatesTokenCount` and `thoughtsTokenCount` out (the thinking counts as output, as other
/// providers count it), `totalTokenCount` in all; each count as sent is in [`raw`](Usage::raw).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{ChatEvent, GeminiDecoder};
/// use ureq_futures::sse::{Decode, EventReader};
///
/// let body = b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}]}, \"finishReason\": \"STOP\"}]}\r\n\r\n";
/// let mut decoder = GeminiDecoder::new();
/// let mut events = Vec::new();
/// for event in EventReader::new(&body[..]) {
///     events.extend(decoder.decode(event?)?.unwrap_or_default());
/// }
/// events.extend(decoder.finish()?.unwrap_or_default()); // no end marker: the body's end is it
/// assert_eq!(events, [ChatEvent::Text("Hi".into()), ChatEvent::Finish("STOP".into()), ChatEvent::Done]);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct GeminiDecoder {
    /// Whether the end of the body is a clean end (right after a finish reason).
    ending: Ending,
    /// Function calls seen so far, to number the next one.
    calls: usize,
    /// Server-side tool uses seen so far, to number the next one.
    server_calls: usize,
    /// The grounding chunks sent on as citations, each once: their JSON text (a scan of the
    /// chunks for each would grow with the square of them).
    cited: HashSet<String>,
}

impl GeminiDecoder {
    /// A decoder at the start of a stream: one per answer, as it tracks the answer's state.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::GeminiDecoder;
    /// use ureq_futures::sse::Decode;
    ///
    /// // Gemini has no end marker: only a finish reason makes the body's end a clean end.
    /// let err = GeminiDecoder::new().finish().unwrap_err();
    /// assert!(err.to_string().ends_with("the stream ended before any `finishReason`"));
    /// ```
    pub fn new() -> Self {
        GeminiDecoder::default()
    }

    fn chunk_events(&mut self, chunk: Chunk, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
        if let Some(error) = chunk.error {
            return Err(gemini_error(&error));
        }
        if let Some(PromptFeedback {
            block_reason: Some(reason),
            block_reason_message,
        }) = chunk.prompt_feedback
        {
            return Err(Error::Api {
                message: block_reason_message
                    .unwrap_or_else(|| format!("the prompt was blocked (blockReason {reason})")),
                kind: Some(reason),
            });
        }
        if let Some(candidate) = first_of(chunk.candidates, |c| c.index) {
            let parts = candidate.content.and_then(|c| c.parts).unwrap_or_default();
            for part in parts {
                let text = part.text.filter(|text| !text.is_empty());
                match part.thought {
                    Some(true) => events.extend(text.map(ChatEvent::Reasoning)),
                    _ => events.extend(text.map(ChatEvent::Text)),
                }
                if let Some(call) = part.function_call {
                    let name = named(call.name, || format!("functionCall {}", self.calls))?;
                    let id = call.id.filter(|id| !id.is_empty());
                    // A call of a tool without parameters may come without `args`: its
                    // arguments are an empty object, as Anthropic's decoder makes them.
                    let arguments = match call.args {
                        None | Some(Value::Null) => "{}".to_string(),
                        args => arguments_text(args),
                    };
                    let mut delta = ToolCallDelta::start(self.calls, id, name, arguments);
                    delta.signature = non_empty_string(part.thought_signature);
                    events.push(ChatEvent::ToolCall(delta));
                    self.calls += 1;
                }
                self.server_parts(part.server, events);
            }
            let grounding = candidate.grounding_metadata.unwrap_or_default();
            if let Some(Value::Array(chunks)) = grounding.get("groundingChunks") {
                for chunk in chunks {
                    if self.cited.insert(chunk.to_string()) {
                        let citation =
                            Citation::at(chunk.clone(), &GROUNDED_URL, &GROUNDED_TITLE, &[]);
                        events.push(ChatEvent::Citation(citation));
                    }
                }
            }
            if let Some(reason) = candidate.finish_reason.filter(|r| !r.is_empty()) {
                stopped(&reason, candidate.finish_message, events)?;
                events.push(ChatEvent::Finish(reason));
            }
        }
        let counts = [
            "promptTokenCount",
            "candidatesTokenCount",
            "totalTokenCount",
        ];
        let usage = chunk.usage_metadata.and_then(|usage| {
            let mut counted = Usage::from_counts(&usage, counts)?;
            // The thinking counts as output, as OpenAI's and Anthropic's output counts it, and
            // the results of the tools Gemini ran (search, code) as input, as they are billed.
            let add = |count: &mut Option<u64>, field: &str| {
                if let Some(more) = token_count(usage.get(field)) {
                    *count = count.unwrap_or(0).checked_add(more).or(*count);
                }
            };
            add(&mut counted.output_tokens, "thoughtsTokenCount");
            add(&mut counted.input_tokens, "toolUsePromptTokenCount");
            Some(counted)
        });
        events.extend(usage.map(ChatEvent::Usage));
        Ok(())
    }

    /// The events of the parts of the tools Gemini runs itself: code execution
    /// (`executableCode`, `codeExecutionResult`) and built-in tools (`toolCall`,
    /// `toolResponse`).
    fn server_parts(&mut self, server: ServerParts, events: &mut Vec<ChatEvent>) {
        let id_of = |value: &Value| non_empty_str(value.get("id"));
        let uses = [
            server
                .executable_code
                .map(|code| ("code_execution".to_string(), code)),
            server.tool_call.map(|call| {
                let name = non_empty_str(call.get("toolType"));
                (name.unwrap_or_else(|| "tool_call".to_string()), call)
            }),
        ];
        for (name, value) in uses.into_iter().flatten() {
            let arguments = value.get("args").unwrap_or(&value).to_string();
            let delta = ToolCallDelta::start(self.server_calls, id_of(&value), name, arguments);
            events.push(ChatEvent::ServerToolUse(delta));
            self.server_calls += 1;
        }
        let results = [
            ("codeExecutionResult", server.code_execution_result),
            ("toolResponse", server.tool_response),
        ];
        for (kind, value) in results {
            if let Some(value) = value {
                events.push(ChatEvent::ServerToolResult(ServerToolResult {
                    tool_use_id: id_of(&value).unwrap_or_default(),
                    kind: kind.to_string(),
                    block: serde_json::json!({ kind: value }),
                }));
            }
        }
    }

    /// The events of one event's data, trimmed and not empty.
    fn data(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
        // Google's errors sometimes come as a one-element array.
        if data.starts_with('[') {
            let chunks: Vec<Value> =
                serde_json::from_str(data).map_err(|e| malformed_chunk(data, &e))?;
            return chunks.iter().try_for_each(|chunk| {
                self.chunk_events(parse_object(&chunk.to_string())?, events)
            });
        }
        self.chunk_events(parse_object(data)?, events)
    }
}

chat_decode!(GeminiDecoder, "finishReason", None);

/// Where a grounding chunk's URL is: a web page (Google Search), a retrieved document (Vertex
/// AI Search, RAG), a place (Google Maps).
const GROUNDED_URL: [&str; 3] = ["/web/uri", "/retrievedContext/uri", "/maps/uri"];
/// Where its title is, in the same order.
const GROUNDED_TITLE: [&str; 3] = ["/web/title", "/retrievedContext/title", "/maps/title"];

/// An error object as [`Error::Api`]; its kind is the `status` (`RESOURCE_EXHAUSTED`), which
/// says more than the numeric `code`.
fn gemini_error(error: &Value) -> Error {
    match (api_error(error), non_empty_str(error.get("status"))) {
        (Error::Api { message, .. }, Some(status)) => Error::Api {
            kind: Some(status),
            message,
        },
        (other, _) => other,
    }
}

/// The parts of a `GenerateContentResponse` that matter; unknown fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    candidates: Option<Vec<Candidate>>,
    usage_metadata: Option<Value>,
    prompt_feedback: Option<PromptFeedback>,
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    index: Option<u64>,
    content: Option<Content>,
    finish_reason: Option<String>,
    finish_message: Option<String>,
    grounding_metadata: Option<Value>,
}

/// What a finish reason other than the answer's own end says: Gemini's filters stopped the
/// answer (`SAFETY`, `RECITATION`, `PROHIBITED_CONTENT`...) is a [`ChatEvent::Refusal`] of the
/// `finishMessage` (or of a sentence that names the reason), as Anthropic's `refusal` is; a
/// function call the model could not make (`MALFORMED_FUNCTION_CALL`, `UNEXPECTED_TOOL_CALL`,
/// `TOO_MANY_TOOL_CALLS`) is an [`Error::Api`] whose kind is the reason: the answer has no call
/// to run and no text, and a tool loop that read it as an answer would end on nothing.
fn stopped(
    reason: &str,
    message: Option<String>,
    events: &mut Vec<ChatEvent>,
) -> Result<(), Error> {
    const REFUSED: [&str; 9] = [
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    ];
    const FAILED: [&str; 3] = [
        "MALFORMED_FUNCTION_CALL",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
    ];
    let message = message.filter(|m| !m.trim().is_empty());
    let upper = reason.to_ascii_uppercase();
    if REFUSED.contains(&upper.as_str()) {
        let said = || format!("Gemini stopped the answer (finishReason {reason})");
        events.push(ChatEvent::Refusal(message.unwrap_or_else(said)));
    } else if FAILED.contains(&upper.as_str()) {
        let said = || format!("the model's function call failed (finishReason {reason})");
        return Err(Error::Api {
            message: message.unwrap_or_else(said),
            kind: Some(reason.to_string()),
        });
    }
    Ok(())
}

#[derive(Deserialize)]
struct Content {
    parts: Option<Vec<Part>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    thought: Option<bool>,
    /// A string from Google; anything else is not kept.
    thought_signature: Option<Value>,
    function_call: Option<FunctionCall>,
    #[serde(flatten)]
    server: ServerParts,
}

/// The parts of Gemini's own tools, kept as the server sent them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerParts {
    executable_code: Option<Value>,
    code_execution_result: Option<Value>,
    tool_call: Option<Value>,
    tool_response: Option<Value>,
}

#[derive(Deserialize)]
struct FunctionCall {
    id: Option<String>,
    name: Option<String>,
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
    block_reason_message: Option<String>,
}
