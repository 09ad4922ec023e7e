//! `OpenAIDecoder`: `chat.completion.chunk` events into [`ChatEvent`]s, on the worker.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::llm::event::{ChatEvent, Citation, Thought, ToolCallDelta, Usage};
use crate::llm::wire::{
    api_error, arguments_text, chat_decode, check_finish, first_of, non_empty_str,
    non_empty_string, parse_object, unnamed_call, Ending,
};

use crate::Error;

/// Decodes OpenAI `chat.completion.chunk` events into [`ChatEvent`] batches, on the worker (see
/// [`Decode`](crate::sse::Decode)). It works on any source of events, not only a live request.
///
/// `POST {base}/chat/completions` with `"stream": true` answers with Server-Sent Events whose
/// data are `chat.completion.chunk` objects and a final `data: [DONE]`. What real servers send,
/// and what the decoder makes of it:
///
/// | in the stream | becomes |
/// |---|---|
/// | `choices[0].delta.content` as a string | [`ChatEvent::Text`] (empty strings are dropped) |
/// | `content` as an array of parts | the `{"type":"text"}` parts are text; `thinking` parts are reasoning; others are skipped |
/// | `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter, Ollama) | [`ChatEvent::Reasoning`]; all of it, with its field's name, as one [`ChatEvent::Thought`] ([`Thought::Unsigned`](crate::llm::Thought::Unsigned)) just before the [`ChatEvent::Finish`]; a `reasoning_content` that only ever came empty (DeepSeek's thinking mode, before a tool call) as an empty one, which goes back as DeepSeek requires |
/// | `reasoning_details` (OpenRouter) | all of them, each block's pieces joined, as one [`ChatEvent::Thought`] ([`Thought::ReasoningDetails`](crate::llm::Thought::ReasoningDetails)) just before the [`ChatEvent::Finish`]; the reasoning's text comes from `reasoning` |
/// | `refusal` | [`ChatEvent::Refusal`] |
/// | `annotations` of type `url_citation` (search models, OpenRouter's web search) | a [`ChatEvent::Citation`] each, with its `url` and `title`; other annotations (OpenRouter's parsed `file`s) and fields of another shape are ignored |
/// | top-level `search_results` (objects with `url` and `title`) and `citations` (URLs) (Perplexity, repeated in every chunk) | a [`ChatEvent::Citation`] per URL, once, just before the [`ChatEvent::Finish`]; none for a URL that a `url_citation` named |
/// | `tool_calls` pieces | [`ChatEvent::ToolCall`], tracked by their `index` (parallel calls interleave) |
/// | a tool call's `extra_content.google.thought_signature` (Gemini's OpenAI-compatible endpoint) | the call's [`signature`](crate::llm::ToolCallDelta::signature), sent back with it as `extra_content` |
/// | `finish_reason` (often on a chunk with an empty delta) | [`ChatEvent::Finish`] |
/// | `finish_reason` `content_filter` (OpenAI's and Azure's filter stopped the answer) | [`ChatEvent::Refusal`] saying so (unless the answer had `refusal` text: that says it), then the [`ChatEvent::Finish`] |
/// | `finish_reason` `insufficient_system_resource` (DeepSeek) or `error` (OpenRouter): the server stopped the answer | [`Error::Api`] whose kind is the reason: the stream's last item |
/// | `usage` (include_usage chunks have `"choices": []`), Groq's `x_groq.usage`, Moonshot's `choices[0].usage` | [`ChatEvent::Usage`] |
/// | other chunks with empty `choices` (a `moderation` trailer) | nothing |
/// | `: comment` keep-alives (OpenRouter sends many) | nothing (the parser drops them) |
/// | an `error` object, or an `event: error` (the chat clients read llama.cpp's `error:` lines as one) | [`Error::Api`]: the stream's last item |
/// | `data: [DONE]` | [`ChatEvent::Done`] (after the `Thought`s and sources held back for a finish reason that did not come); anything after it is ignored |
/// | the end of the body right after a `finish_reason` (servers that never send `[DONE]`) | [`ChatEvent::Done`] |
/// | the end of the body anywhere else | [`Error::Protocol`]: the answer was cut |
/// | a tool call that never got a name by the end | [`Error::Protocol`]: it could not be run |
/// | data that is not a JSON object | [`Error::Protocol`] quoting the chunk |
/// | a whole `chat.completion` (JSON, not a stream: a server or proxy that ignores `"stream": true`; the OpenAI-compatible clients read such an answer as one event) | its `choices[0].message` read as a delta (its tool calls whole, one after the other), then its `finish_reason` and `usage`: the same events as its stream's; a `message` in a chunk after chunks with a `delta` (Perplexity's answer so far) is not read |
///
/// Only the first choice (index 0) is read; the client never asks for more. An error object
/// arriving with other fields (OpenRouter sends usage with it) ends the stream before they are
/// read.
///
/// **Tool calls.** The pieces of a call share its `index`. A piece with a new id and a name
/// starts a call at the same index (Ollama sends every call whole at index 0), as does a piece
/// that names another function than its call's (gateways that send every call whole, at index
/// 0 or none, without ids), or one without an id that names it again and brings arguments
/// after the call's arguments made a whole JSON object (two calls to one function, so sent).
/// A piece that names it again before then continues the call, as does a new id without a
/// name (a few servers send a new id with every piece). A server without indexes (rare) is
/// followed the same way, a piece without id or name continuing the last call. The first
/// [`ChatEvent::ToolCall`] of every call carries its name: pieces that arrive before the name
/// are held back and sent with it, so
/// [`ChatStream::tool_calls`](crate::llm::ChatStream::tool_calls) never holds a call without a
/// name.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{ChatEvent, OpenAIDecoder};
/// use ureq_futures::sse::{Decode, EventReader};
///
/// let body = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
///              data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
///              data: [DONE]\n\n";
/// let mut decoder = OpenAIDecoder::new();
/// let mut events = Vec::new();
/// for event in EventReader::new(&body[..]) {
///     events.extend(decoder.decode(event?)?.unwrap_or_default());
/// }
/// assert_eq!(
///     events,
///     [ChatEvent::Text("Hi".into()), ChatEvent::Finish("stop".into()), ChatEvent::Done]
/// );
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenAIDecoder {
    ending: Ending,
    /// The tool calls started so far, in order: their number is their position.
    calls: Vec<CallTrack>,
    /// The position in `calls` of the last call at each server `index`: a scan of `calls` for
    /// each piece would take a time that grows with the square of the calls.
    at_index: HashMap<usize, usize>,
    /// The reasoning field's name and all its text so far, for the `Thought` at the finish.
    reasoning: Option<(&'static str, String)>,
    /// A `reasoning_content` field came, empty: DeepSeek's thinking mode sends one with a tool
    /// call it made without reasoning, and refuses the next turn unless it goes back (as `""`).
    empty_reasoning: bool,
    /// OpenRouter's `reasoning_details` so far, each block's pieces joined, for the `Thought`
    /// at the finish.
    details: Vec<Value>,
    /// The sources of the top-level lists, each URL once, for the citations at the finish.
    sources: Vec<Citation>,
    /// How many of `sources` were sent on (or left out as annotated).
    sources_sent: usize,
    /// The URLs of `sources`, to keep each once.
    source_urls: HashSet<String>,
    /// The URLs that `url_citation` annotations named: no source repeats them.
    annotated: HashSet<String>,
    /// Whether the answer had `refusal` text: a `content_filter` finish then adds no words of
    /// its own to it.
    refused: bool,
    /// A chunk with a `delta` came: a `message` is then no answer of its own.
    streamed: bool,
}

/// What the decoder knows of one tool call.
#[derive(Debug, Clone, Default)]
struct CallTrack {
    /// The call's id, once seen.
    id: Option<String>,
    /// Whether the call's name was sent on (its first event).
    named: bool,
    /// The call's name, once sent on.
    name: String,
    /// Arguments that came before the name, held back until it comes.
    held: String,
    /// Gemini's thought signature, when it came before the name.
    signature: Option<String>,
    /// Whether the arguments so far make a whole JSON value.
    whole: WholeJson,
}

impl CallTrack {
    /// Whether a piece with `id`, `name` and `arguments` continues this call (see
    /// [`OpenAIDecoder::tool_piece`]).
    fn continued_by(&self, id: &Option<String>, name: &Option<String>, arguments: &str) -> bool {
        let same_id = match (id, &self.id) {
            (Some(id), Some(known)) => id == known || name.is_none(),
            _ => true,
        };
        let same_name = match name {
            // The call's own id, or arguments that can go on: the same call.
            Some(name) if self.named => {
                *name == self.name
                    && ((id.is_some() && *id == self.id)
                        || !self.whole.is_whole()
                        || arguments.trim().is_empty())
            }
            _ => true,
        };
        same_id && same_name
    }
}

/// Follows a call's arguments as they come, to know when they make a whole JSON object (or
/// array): a piece without an id that names the call's function again starts another call if
/// they do (a gateway sending parallel calls to one function whole, one after the other),
/// and continues it if they do not (a server repeating the name on every piece).
#[derive(Debug, Clone, Copy, Default)]
struct WholeJson {
    /// Brackets open outside strings.
    depth: u32,
    /// Whether the first bracket came.
    started: bool,
    in_string: bool,
    escaped: bool,
    /// Whether something other than one object or array came: never whole, so that the
    /// pieces stay together as they did without this.
    other: bool,
}

impl WholeJson {
    fn feed(&mut self, text: &str) {
        for &b in text.as_bytes() {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'{' | b'[' if self.depth > 0 || !self.started => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' if self.depth > 0 => self.depth -= 1,
                _ if self.depth == 0 => self.other = true,
                b'"' => self.in_string = true,
                _ => {}
            }
        }
    }

    /// (A string is open only inside brackets: a quote outside them is `other`.)
    fn is_whole(&self) -> bool {
        self.started && self.depth == 0 && !self.other
    }
}

impl OpenAIDecoder {
    /// A decoder at the start of a stream: one per answer, as it tracks the answer's state.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::OpenAIDecoder;
    /// use ureq_futures::sse::Decode;
    ///
    /// // A body that ends before anything was decoded is a cut answer.
    /// let err = OpenAIDecoder::new().finish().unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "protocol: the answer was cut: the stream ended before any `finish_reason` and without `data: [DONE]`"
    /// );
    /// ```
    pub fn new() -> Self {
        OpenAIDecoder::default()
    }

    /// The event of one tool-call piece, or `None` while the call has no name yet.
    fn tool_piece(&mut self, piece: ToolCallChunk) -> Option<ChatEvent> {
        let function = piece.function.unwrap_or_default();
        let name = function.name.filter(|n| !n.is_empty());
        // A few servers send the arguments as an object rather than as its text.
        let arguments = arguments_text(function.arguments);
        let id = piece.id.filter(|id| !id.is_empty());
        // Gemini's OpenAI-compatible endpoint: the call's thought signature, to send back.
        let extra = piece.extra_content.as_ref();
        let signature = non_empty_str(extra.and_then(|e| e.pointer("/google/thought_signature")));
        // The last call at this index (without one: the last call), unless the piece starts
        // another (Ollama sends every parallel call whole at index 0).
        let position = match piece.index {
            Some(i) => self.at_index.get(&i).copied(),
            None => self.calls.len().checked_sub(1),
        };
        // Another id with a name, or another function's name, is another call: servers without
        // indexes or ids (gateways, Gemini's compatible endpoint) send parallel calls whole, one
        // after the other; so is the same name without an id after whole arguments, with more
        // of them. Another id without a name is the same call: a few servers send a new id
        // with every piece of the arguments.
        let position = position.filter(|&p| self.calls[p].continued_by(&id, &name, &arguments));
        let position = position.unwrap_or_else(|| {
            self.calls.push(CallTrack::default());
            let position = self.calls.len() - 1;
            if let Some(i) = piece.index {
                self.at_index.insert(i, position);
            }
            position
        });
        let call = &mut self.calls[position];
        call.id = call.id.take().or_else(|| id.clone());
        call.whole.feed(&arguments);
        if call.named {
            // Some servers repeat the id and the name: they are sent on as they came (an id
            // other than the call's, on a piece that continues it, is not).
            let id = id.filter(|id| call.id.as_ref() == Some(id));
            return Some(ChatEvent::ToolCall(ToolCallDelta {
                id,
                name,
                signature,
                ..ToolCallDelta::more(position, arguments)
            }));
        }
        call.signature = call.signature.take().or(signature);
        call.held.push_str(&arguments);
        let name = name?;
        call.named = true;
        call.name.clone_from(&name);
        let held = std::mem::take(&mut call.held);
        let mut start = ToolCallDelta::start(position, call.id.clone(), name, held);
        start.signature = call.signature.take();
        Some(ChatEvent::ToolCall(start))
    }

    /// Keeps the sources of Perplexity's top-level lists that are new: `search_results` (with
    /// titles) first, then the URLs of `citations`. Both come again in every chunk, so each URL
    /// is kept once; they are sent with the finish, once the annotations (which OpenRouter
    /// sends for the same URLs) are known. Entries of another shape are left out.
    fn add_sources(&mut self, results: Option<Value>, urls: Option<Value>) {
        let list = |value: Option<Value>| match value {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        };
        let results = list(results)
            .into_iter()
            .map(|r| Citation::at(r, &["/url"], &["/title"], &[]));
        let urls = list(urls)
            .into_iter()
            .map(|u| Citation::at(u, &[""], &[], &[]));
        for source in results.chain(urls) {
            let Some(url) = source.url.as_deref() else {
                continue;
            };
            if !self.source_urls.contains(url) {
                self.source_urls.insert(url.to_string());
                self.sources.push(source);
            }
        }
    }

    /// Sends the sources kept since the last send whose URL no annotation named.
    fn send_sources(&mut self, events: &mut Vec<ChatEvent>) {
        let annotated = &self.annotated;
        let new = self.sources[self.sources_sent..].iter();
        let new = new.filter(|s| s.url.as_ref().is_none_or(|url| !annotated.contains(url)));
        events.extend(new.cloned().map(ChatEvent::Citation));
        self.sources_sent = self.sources.len();
    }

    /// What is held back for the finish: the reasoning as one `Thought`, the reasoning
    /// details as another, and the sources not yet sent. At a finish reason, or at `[DONE]`
    /// when a server sends none.
    fn held_back(&mut self, events: &mut Vec<ChatEvent>) {
        let empty = std::mem::take(&mut self.empty_reasoning);
        let reasoning =
            (self.reasoning.take()).or_else(|| empty.then(|| ("reasoning_content", String::new())));
        if let Some((field, text)) = reasoning {
            let field = field.to_string();
            events.push(ChatEvent::Thought(Thought::Unsigned { field, text }));
        }
        if !self.details.is_empty() {
            let details = std::mem::take(&mut self.details);
            events.push(ChatEvent::Thought(Thought::ReasoningDetails { details }));
        }
        self.send_sources(events);
    }

    /// An error if a tool call never got its name: the answer is then not one to act on.
    fn check_calls_named(&self) -> Result<(), Error> {
        match self.calls.iter().position(|c| !c.named) {
            Some(n) => Err(unnamed_call(&format!(
                "tool call {n} (id {:?}) ended",
                self.calls[n].id.as_deref().unwrap_or("")
            ))),
            None => Ok(()),
        }
    }

    /// The events of one event's data, trimmed and not empty.
    fn data(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
        let chunk: Chunk = parse_object(data)?;
        if let Some(error) = chunk.error {
            return Err(api_error(&error));
        }
        self.add_sources(chunk.search_results, chunk.citations);
        let mut choice_usage = None;
        if let Some(choice) = first_of(chunk.choices, |c| c.index) {
            choice_usage = choice.usage;
            // A whole `chat.completion` (a server that ignored `"stream": true`) has its
            // answer in `message`, read as one delta: its calls come whole, without indexes.
            // Not in a stream that had deltas: Perplexity's chunks carry the answer so far as
            // a `message` beside them.
            self.streamed |= choice.delta.is_some();
            let whole = choice.delta.is_none();
            let message = choice.message.filter(|_| !self.streamed);
            if let Some(mut delta) = choice.delta.or(message) {
                let mut pieces = delta.tool_calls.take().unwrap_or_default();
                if whole {
                    // Each call of a whole message is one: placed by its position, two calls
                    // of a tool without parameters (no id, no arguments) are not one call
                    // that goes on.
                    for (position, piece) in pieces.iter_mut().enumerate() {
                        piece.index.get_or_insert(position);
                    }
                }
                if let Some(Value::Array(details)) = delta.reasoning_details.take() {
                    details
                        .into_iter()
                        .for_each(|detail| add_detail(&mut self.details, detail));
                }
                let first = events.len();
                self.empty_reasoning |=
                    matches!(&delta.reasoning_content, Some(Value::String(s)) if s.is_empty());
                if let Some((field, piece)) = delta.into_events(events) {
                    let (_, text) = self.reasoning.get_or_insert((field, String::new()));
                    text.push_str(&piece);
                }
                let cited = events[first..].iter().filter_map(|event| match event {
                    ChatEvent::Citation(citation) => citation.url.clone(),
                    _ => None,
                });
                self.annotated.extend(cited);
                let refusal = |event: &ChatEvent| matches!(event, ChatEvent::Refusal(_));
                self.refused |= events[first..].iter().any(refusal);
                events.extend(pieces.into_iter().filter_map(|p| self.tool_piece(p)));
            }
            let reason = choice.finish_reason.filter(|r| !r.is_empty());
            // The server stopped the answer (DeepSeek when overloaded; OpenRouter's `error`).
            check_finish(reason.as_deref(), None)?;
            if let Some(reason) = reason {
                self.held_back(events);
                // OpenAI's (and Azure's) filter stopped the answer: a refusal, as Gemini's
                // `SAFETY` is, so that what came before it is not taken for the answer.
                if reason == "content_filter" && !self.refused {
                    let why = "the answer was stopped by the content filter (finish_reason: \
                               content_filter)";
                    events.push(ChatEvent::Refusal(why.into()));
                }
                events.push(ChatEvent::Finish(reason));
            }
        }
        // Sources listed after an earlier chunk's finish reason (with the usage).
        if self.ending.finish_seen() {
            self.send_sources(events);
        }
        let groq = chunk.x_groq.and_then(|x| x.usage);
        let mut usage = chunk.usage.iter().chain(&groq).chain(&choice_usage);
        let usage = usage.find_map(Usage::from_openai);
        events.extend(usage.map(ChatEvent::Usage));
        Ok(())
    }
}

chat_decode!(
    OpenAIDecoder,
    "finish_reason",
    Some(crate::llm::wire::DONE),
    check: check_calls_named,
    before_done: held_back
);

/// The parts of a `chat.completion.chunk` that matter; unknown fields are ignored and missing
/// ones are `None`. Fields whose type varies between servers are kept as [`Value`].
#[derive(Deserialize)]
struct Chunk {
    choices: Option<Vec<Choice>>,
    usage: Option<Value>,
    error: Option<Value>,
    x_groq: Option<XGroq>,
    /// Perplexity's sources.
    search_results: Option<Value>,
    citations: Option<Value>,
}

#[derive(Deserialize)]
struct XGroq {
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    index: Option<u64>,
    delta: Option<Delta>,
    /// The answer of a whole `chat.completion`, in place of `delta`.
    message: Option<Delta>,
    finish_reason: Option<String>,
    /// Moonshot's (Kimi's) place for the usage: in the last choice.
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<Value>,
    reasoning_content: Option<Value>,
    reasoning: Option<Value>,
    refusal: Option<Value>,
    tool_calls: Option<Vec<ToolCallChunk>>,
    reasoning_details: Option<Value>,
    annotations: Option<Value>,
}

#[derive(Deserialize)]
struct ToolCallChunk {
    index: Option<usize>,
    id: Option<String>,
    function: Option<FunctionChunk>,
    extra_content: Option<Value>,
}

#[derive(Deserialize, Default)]
struct FunctionChunk {
    name: Option<String>,
    arguments: Option<Value>,
}

impl Delta {
    /// Pushes the delta's events; returns the piece of reasoning that came in a field of its
    /// own, with the field's name.
    fn into_events(self, events: &mut Vec<ChatEvent>) -> Option<(&'static str, String)> {
        // A server may send the same text under both names: take one.
        let field = match non_empty_string(self.reasoning_content) {
            Some(text) => Some(("reasoning_content", text)),
            None => non_empty_string(self.reasoning).map(|text| ("reasoning", text)),
        };
        let mut reasoning = field
            .as_ref()
            .map_or(String::new(), |(_, text)| text.clone());
        let mut text = String::new();
        match self.content {
            Some(Value::String(s)) => text = s,
            Some(Value::Array(parts)) => {
                for part in &parts {
                    match part.get("type").and_then(Value::as_str) {
                        Some("text") => push_str(&mut text, part.get("text")),
                        // Mistral's thinking parts: `{"type":"thinking","thinking":[parts]}`.
                        Some("thinking") => match part.get("thinking") {
                            Some(Value::Array(inner)) => inner
                                .iter()
                                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                                .for_each(|p| push_str(&mut reasoning, p.get("text"))),
                            other => push_str(&mut reasoning, other),
                        },
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        if !reasoning.is_empty() {
            events.push(ChatEvent::Reasoning(reasoning));
        }
        if !text.is_empty() {
            events.push(ChatEvent::Text(text));
        }
        events.extend(non_empty_string(self.refusal).map(ChatEvent::Refusal));
        // Only the citations: OpenRouter also sends the text of the files it parsed (`file`).
        if let Some(Value::Array(annotations)) = self.annotations {
            let citations = annotations
                .into_iter()
                .filter(|a| a.get("type").and_then(Value::as_str) == Some("url_citation"));
            for annotation in citations {
                let url = ["/url_citation/url", "/url"];
                let title = ["/url_citation/title", "/title"];
                let citation = Citation::at(annotation, &url, &title, &[]);
                events.push(ChatEvent::Citation(citation));
            }
        }
        field
    }
}

/// Adds a piece of OpenRouter's `reasoning_details` to the blocks so far. A piece of the last
/// block (the same `type`, and the same `index`) extends its `text`, `summary` and `data` and
/// fills in the fields it lacks (the `signature` that comes last); any other piece starts a
/// block. Without an `index`, only `reasoning.text` pieces join the last block (as OpenRouter's
/// own SDK joins them): joining two encrypted blocks would corrupt both. Pieces that are not
/// objects are left out.
fn add_detail(details: &mut Vec<Value>, piece: Value) {
    let Value::Object(piece) = piece else {
        return;
    };
    let last = details.last_mut().and_then(Value::as_object_mut);
    fn index(detail: &Map<String, Value>) -> Option<&Value> {
        detail.get("index").filter(|i| !i.is_null())
    }
    let text = piece.get("type").and_then(Value::as_str) == Some("reasoning.text");
    let Some(last) = last.filter(|last| {
        last.get("type") == piece.get("type")
            && index(last) == index(&piece)
            && (index(&piece).is_some() || text)
    }) else {
        details.push(Value::Object(piece));
        return;
    };
    for (key, value) in piece {
        match (last.get_mut(&key), value) {
            (Some(Value::String(known)), Value::String(more))
                if matches!(key.as_str(), "text" | "summary" | "data") =>
            {
                known.push_str(&more)
            }
            (Some(slot), value) if slot.is_null() => *slot = value,
            (None, value) => {
                last.insert(key, value);
            }
            _ => {}
        }
    }
}

/// Appends `value` to `out` if it is a string.
fn push_str(out: &mut String, value: Option<&Value>) {
    if let Some(s) = value.and_then(Value::as_str) {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::WholeJson;

    fn whole(pieces: &[&str]) -> bool {
        let mut json = WholeJson::default();
        pieces.iter().for_each(|p| json.feed(p));
        json.is_whole()
    }

    #[test]
    fn arguments_are_whole_when_their_brackets_close_outside_strings() {
        assert!(whole(&[
            r#" {"q": "a}\"{", "#,
            r#""n": [1, {"x": []}]}"#,
            " "
        ]));
        assert!(whole(&["[]"]));
        // Open, or within a string (a backslash before the quote, split over pieces).
        for open in [
            &[""][..],
            &["{"],
            &[r#"{"q": "}"#],
            &[r#"{"q": "\"#, r#""}"#],
        ] {
            assert!(!whole(open), "{open:?}");
        }
        // Not one object or array: never whole, so the pieces stay one call.
        for other in [r#""text""#, "{}{}", "{}}", "1"] {
            assert!(!whole(&[other]), "{other}");
        }
    }
}
