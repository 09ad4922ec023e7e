//! `Message` and its `Part`s: what a chat's history is made of, for every provider.

use serde::{Deserialize, Serialize};

use super::{ServerToolResult, Thought, ToolCall};
use crate::Error;

/// One message of a chat: a role and a list of [`Part`]s (text, images, tool calls, tool
/// results).
///
/// The roles are `"system"`, `"user"`, `"assistant"` and `"tool"` (the results of tool calls);
/// each provider's client maps them to its own words (Gemini's `model`, Cohere v1's `CHATBOT`).
/// Most messages are one text part: [`Message::user`], [`Message::system`] and
/// [`Message::assistant`] make those, [`text`](Message::text) reads it back.
///
/// A provider that cannot express a part (an image in a system prompt, a tool call in Cohere's
/// v1 chat) refuses the request with [`Error::InvalidRequest`](crate::Error::InvalidRequest)
/// before anything is sent.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Message, Part};
///
/// let m = Message::user("What is in this picture?")
///     .with_image_url("https://example.com/cat.png");
/// assert_eq!(m.text(), "What is in this picture?");
/// assert_eq!(m.content[1], Part::ImageUrl { url: "https://example.com/cat.png".into() });
///
/// // Messages serialize, to save a conversation and read it back; one text part is a string.
/// let json = serde_json::to_string(&m)?;
/// assert_eq!(serde_json::from_str::<Message>(&json)?, m);
/// let plain = Message::user("hello");
/// assert_eq!(serde_json::to_string(&plain)?, r#"{"role":"user","content":"hello"}"#);
/// assert_eq!(serde_json::from_str::<Message>(r#"{"role":"user","content":"hello"}"#)?, plain);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub struct Message {
    /// Who speaks: `"system"`, `"user"`, `"assistant"` or `"tool"` (compared without regard to
    /// case).
    pub role: String,
    /// What is said, in order. Serializes as a string when it is one text part (as OpenAI's
    /// messages do, and as a string reads back), else as a list of tagged parts.
    #[serde(with = "content_serde")]
    pub content: Vec<Part>,
}

/// A message's content on the wire of `serde`: a string for one text part, else the parts.
mod content_serde {
    use super::Part;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        parts: &[Part],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match parts {
            [Part::Text { text }] => serializer.serialize_str(text),
            parts => parts.serialize(serializer),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Content {
        Text(String),
        Parts(Vec<Part>),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Part>, D::Error> {
        Ok(match Content::deserialize(deserializer)? {
            Content::Text(text) => vec![Part::Text { text }],
            Content::Parts(parts) => parts,
        })
    }
}

/// A piece of a [`Message`].
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Message, Part};
///
/// let png: Vec<u8> = vec![0x89, b'P', b'N', b'G']; // an image file's bytes
/// let m = Message::user("Compare these.")
///     .with_image("image/png", png)
///     .with_part(Part::ImageUrl { url: "https://example.com/b.png".into() });
/// let kinds: Vec<&str> = m
///     .content
///     .iter()
///     .map(|part| match part {
///         Part::Text { .. } => "text",
///         Part::Image { .. } => "inline image",
///         Part::ImageUrl { .. } => "image URL",
///         _ => "other",
///     })
///     .collect();
/// assert_eq!(kinds, ["text", "inline image", "image URL"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image the provider fetches itself (`https://...`; Gemini takes the URI of a file it
    /// knows, such as `gs://...` or an uploaded file's URI), or a base64 `data:` URL, which
    /// Anthropic and Gemini get as an inline image. Gemini's `fileData` gets the media type
    /// that the URL's extension names (`.png`, `.jpg`, `.jpeg`, `.webp`, `.gif`, `.heic`), and
    /// none for another URL, which Gemini then takes from the uploaded file it names (Vertex
    /// AI refuses such a part: send the bytes as an [`Image`](Part::Image) instead).
    ImageUrl {
        /// The image's URL.
        url: String,
    },
    /// An image sent inline, base64-encoded on the wire.
    Image {
        /// Its media type: `image/png`, `image/jpeg`, `image/webp`, `image/gif`.
        media_type: String,
        /// The image file's bytes.
        data: Vec<u8>,
    },
    /// A call of a tool the assistant asked for (in an assistant message of the history).
    ToolCall(ToolCall),
    /// The result of a tool call (in a `"tool"` message).
    ToolResult(ToolResult),
    /// A block of the model's thinking (in an assistant message of the history, as
    /// [`ChatResponse::message`](super::ChatResponse::message) puts it): a signed or redacted
    /// one is sent to Anthropic as it came, an [`Unsigned`](Thought::Unsigned) one to the
    /// OpenAI-compatible servers in its field of the message, and OpenRouter's
    /// [`ReasoningDetails`](Thought::ReasoningDetails) to them as `reasoning_details`; left out everywhere else.
    Thought(Thought),
    /// A tool the provider ran itself (in an assistant message of the history, as
    /// [`ChatResponse::message`](super::ChatResponse::message) puts it, from
    /// [`ChatResponse::server_tool_uses`](super::ChatResponse::server_tool_uses)). Anthropic's
    /// (ids `srvtoolu_...`) are sent to Anthropic as `server_tool_use` blocks, which it needs
    /// back to go on with a turn that ended in `pause_turn`, or in client tool calls while a
    /// server tool was still to run. Left out otherwise: for the other providers, and for
    /// Anthropic's MCP tool uses (ids `mcptoolu_...`), whose server name is not kept.
    ServerToolUse(ToolCall),
    /// The result of a tool the provider ran itself, kept whole (from
    /// [`ChatResponse::server_tool_results`](super::ChatResponse::server_tool_results)): sent to
    /// Anthropic as the block it came as when it answers one of its `srvtoolu_...` uses, left
    /// out otherwise, as [`ServerToolUse`](Part::ServerToolUse) is.
    ServerToolResult(ServerToolResult),
}

/// The result of running a tool call, sent back to the model in a `"tool"` message (see
/// [`Message::tool_result`]).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Message, Part, ToolCall, ToolResult};
///
/// let call = ToolCall { id: "call_7".into(), name: "now".into(), ..ToolCall::default() };
/// let message = Message::tool_result(&call, "12:00");
/// let expected = ToolResult { call_id: "call_7".into(), name: "now".into(), content: "12:00".into(), is_error: false };
/// assert_eq!(message.content, [Part::ToolResult(expected)]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The [`id`](ToolCall::id) of the call this answers.
    pub call_id: String,
    /// The [`name`](ToolCall::name) of the tool that was called (Gemini matches results by
    /// name).
    pub name: String,
    /// What the tool returned: text, or JSON as text; for a failed call, what went wrong.
    pub content: String,
    /// Whether the call failed and `content` says why (see [`Message::tool_error`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl Part {
    /// A text part.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{Message, Part};
    ///
    /// assert_eq!(Part::text("hi"), Part::Text { text: "hi".into() });
    /// assert_eq!(Message::user("hi").content, [Part::text("hi")]);
    /// ```
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text { text: text.into() }
    }
}

impl Message {
    /// A message with any role and one text part.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
    /// use ureq_futures::llm::Message;
    ///
    /// // OpenAI's newer name for the system role, sent as it is by an OpenAIClient (the
    /// // other providers take it as a system message).
    /// let history = [Message::new("developer", "Use British spelling."), Message::user("Colour?")];
    /// client.stream_chat(&history)?;
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// assert_eq!(sent["messages"][0], serde_json::json!({"role": "developer", "content": "Use British spelling."}));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new(role: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: vec![Part::text(text)],
        }
    }

    /// A system message: instructions for the model.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// # let client = ureq_futures::llm::GeminiClient::builder("gemini-2.5-flash", None).env(|_| None).base_url(server.url()).build();
    /// use ureq_futures::llm::Message;
    ///
    /// client.stream_chat(&[Message::system("Answer in one sentence."), Message::user("Why?")])?; // a GeminiClient
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// // Gemini takes it apart from the conversation.
    /// assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "Answer in one sentence.");
    /// assert_eq!(sent["contents"].as_array().map(Vec::len), Some(1));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn system(text: impl Into<String>) -> Self {
        Message::new("system", text)
    }

    /// A user message.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::Message;
    ///
    /// let m = Message::user("Why is the sky blue?");
    /// assert_eq!((m.role.as_str(), m.text().as_str()), ("user", "Why is the sky blue?"));
    /// assert_eq!(m, Message::new("user", "Why is the sky blue?"));
    /// ```
    pub fn user(text: impl Into<String>) -> Self {
        Message::new("user", text)
    }

    /// An assistant message: an earlier answer of the model. To put an answer with tool calls
    /// back into the history, use [`ChatResponse::message`](super::ChatResponse::message).
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).base_url(server.url()).build();
    /// use ureq_futures::llm::Message;
    ///
    /// // A conversation replayed from a log, to an AnthropicClient.
    /// let history = [Message::user("Hi, I'm Ada."), Message::assistant("Hello Ada!"), Message::user("My name?")];
    /// client.stream_chat(&history)?;
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// assert_eq!(sent["messages"][1], serde_json::json!({"role": "assistant", "content": "Hello Ada!"}));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn assistant(text: impl Into<String>) -> Self {
        Message::new("assistant", text)
    }

    /// A `"tool"` message carrying the result of `call`, for the next request of a tool loop.
    ///
    /// The providers match a result to its call by the call's `id`, but Gemini's API gives its
    /// calls none: it matches results by the function's name, and those of several calls of
    /// one function by their order. Push such results in the order of the calls (as
    /// [`ChatResponse::tool_calls`](super::ChatResponse::tool_calls) lists them), whichever
    /// tool finished first.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
    /// use ureq_futures::llm::{Message, Part, ToolCall};
    ///
    /// let call = ToolCall { id: "call_1".into(), name: "add".into(), ..ToolCall::default() };
    /// let asked = Message { role: "assistant".into(), content: vec![Part::ToolCall(call.clone())] };
    /// client.stream_chat(&[Message::user("2 + 3?"), asked, Message::tool_result(&call, "5")])?; // an OpenAIClient
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// assert_eq!(sent["messages"][2], serde_json::json!({"role": "tool", "tool_call_id": "call_1", "content": "5"}));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Self {
        Message {
            role: "tool".into(),
            content: vec![Part::ToolResult(ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content: content.into(),
                is_error: false,
            })],
        }
    }

    /// A `"tool"` message saying that `call` failed, and why, so the model can correct itself
    /// (bad arguments, an unknown tool...). Anthropic gets a `tool_result` with `is_error`,
    /// Gemini a `functionResponse` whose response is `{"error": why}`; the other providers take
    /// no flag and get the text as the result.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).base_url(server.url()).build();
    /// use ureq_futures::llm::{Message, Part, ToolCall};
    ///
    /// let call = ToolCall { id: "toolu_1".into(), name: "divide".into(), ..ToolCall::default() };
    /// let asked = Message { role: "assistant".into(), content: vec![Part::ToolCall(call.clone())] };
    /// let failed = Message::tool_error(&call, "division by zero");
    /// client.stream_chat(&[Message::user("1 / 0?"), asked, failed])?; // an AnthropicClient
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// let result = serde_json::json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "division by zero", "is_error": true});
    /// assert_eq!(sent["messages"][2]["content"][0], result);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn tool_error(call: &ToolCall, why: impl Into<String>) -> Self {
        let mut message = Message::tool_result(call, why);
        if let Some(Part::ToolResult(result)) = message.content.first_mut() {
            result.is_error = true;
        }
        message
    }

    setters! {
        /// The message with one more part.
        ///
        /// # Examples
        ///
        /// ```
        /// use ureq_futures::llm::{Message, Part};
        ///
        /// let m = Message::user("First line.").with_part(Part::text(" Second part."));
        /// assert_eq!(m.content.len(), 2);
        /// assert_eq!(m.text(), "First line. Second part.");
        /// ```
        with_part(part: Part) => content.push(part);
        /// The message with an image the provider fetches from `url`.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).base_url(server.url()).build();
        /// use serde_json::json;
        /// use ureq_futures::llm::Message;
        ///
        /// let m = Message::user("What is this?").with_image_url("https://example.com/cat.png");
        /// client.stream_chat(&[m])?; // an AnthropicClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// let image = json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}});
        /// assert_eq!(sent["messages"][0]["content"][1], image);
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        with_image_url(url: impl Into<String>) => content.push(Part::ImageUrl { url: url.into() });
        /// The message with an image sent inline: the file's bytes and its media type
        /// (`image/png`...).
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::Message;
        ///
        /// let png: Vec<u8> = vec![0x89, b'P', b'N', b'G']; // an image file's bytes
        /// client.stream_chat(&[Message::user("What is this?").with_image("image/png", png)])?; // an OpenAIClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// // OpenAI takes it as a `data:` URL, base64-encoded.
        /// assert_eq!(sent["messages"][0]["content"][1]["image_url"]["url"], "data:image/png;base64,iVBORw==");
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        with_image(media_type: impl Into<String>, data: impl Into<Vec<u8>>) =>
            content.push(Part::Image { media_type: media_type.into(), data: data.into() });
    }

    /// The text parts, joined.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{Message, Part};
    ///
    /// let m = Message::user("What is ").with_image_url("https://example.com/cat.png").with_part(Part::text("this?"));
    /// assert_eq!(m.text(), "What is this?"); // the image is left out
    /// ```
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|part| match part {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tool calls among the parts.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::Message;
    ///
    /// // An assistant turn of a saved conversation: a text part and two calls.
    /// let m: Message = serde_json::from_str(r#"{"role": "assistant", "content": [
    ///     {"type": "text", "text": "Checking both."},
    ///     {"type": "tool_call", "index": 0, "id": "call_1", "name": "weather", "arguments": "{\"city\":\"Oslo\"}"},
    ///     {"type": "tool_call", "index": 1, "id": "call_2", "name": "weather", "arguments": "{\"city\":\"Rome\"}"}
    /// ]}"#)?;
    /// let ids: Vec<&str> = m.tool_calls().map(|call| call.id.as_str()).collect();
    /// assert_eq!(ids, ["call_1", "call_2"]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.content.iter().filter_map(|part| match part {
            Part::ToolCall(call) => Some(call),
            _ => None,
        })
    }

    /// Whether the role is `role`, whatever the case.
    pub(crate) fn is(&self, role: &str) -> bool {
        self.role.eq_ignore_ascii_case(role)
    }

    /// Whether this is a system message: of role `system`, or OpenAI's newer `developer`.
    pub(crate) fn is_system(&self) -> bool {
        self.is("system") || self.is("developer")
    }

    /// Whether every part is a tool result (and there is one at least).
    pub(crate) fn is_tool_results(&self) -> bool {
        let is_result = |part: &Part| matches!(part, Part::ToolResult(_));
        !self.content.is_empty() && self.content.iter().all(is_result)
    }

    /// The only part, when it is text: the messages most providers take as a plain string.
    pub(crate) fn plain_text(&self) -> Option<&str> {
        match self.content.as_slice() {
            [Part::Text { text }] => Some(text),
            _ => None,
        }
    }
}

/// `data` in standard base64 with padding, as the providers take inline images.
pub(crate) fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    crate::auth::base64_into(&mut out, data);
    out
}

/// The media type and base64 payload of a `data:` URL (`data:image/png;base64,iVBO...`), for
/// the providers that take inline images apart from URLs; `None` when `url` is not a `data:`
/// URL. One that is not base64-encoded, or names no media type, is refused, naming `provider`.
pub(crate) fn split_data_url<'a>(
    url: &'a str,
    provider: &str,
) -> Option<Result<(&'a str, &'a str), Error>> {
    let (_, rest) = url
        .split_at_checked(5)
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("data:"))?;
    let parsed = rest.split_once(',').and_then(|(meta, payload)| {
        let (media_type, encoding) = meta.rsplit_once(';')?;
        let media_type = media_type.split(';').next().unwrap_or_default().trim();
        (encoding.trim().eq_ignore_ascii_case("base64") && !media_type.is_empty())
            .then_some((media_type, payload.trim()))
    });
    Some(parsed.ok_or_else(|| {
        Error::InvalidRequest(format!(
            "{provider} takes a data: URL image only as `data:<media type>;base64,<data>`: \
             give the image's bytes with Message::with_image instead"
        ))
    }))
}

/// An inline image as a `data:` URL, for the providers that take images as URLs.
pub(crate) fn data_url(media_type: &str, data: &[u8]) -> String {
    format!("data:{media_type};base64,{}", base64(data))
}
