//! Streaming LLM chat clients: the port of tinychat's clients onto [`FuturesSession`] and
//! [`sse`](crate::sse).
//!
//! # Quick start
//!
//! ```no_run
//! use std::io::Write;
//! use ureq_futures::llm::{Message, OpenAIClient};
//!
//! // OPENAI_API_KEY and OPENAI_BASE_URL are read from the environment.
//! let client = OpenAIClient::new("gpt-4o-mini", 0.7);
//! let mut stream = client.stream_chat(&[Message::user("Write a haiku about threads.")])?;
//! for piece in stream.by_ref() {
//!     print!("{}", piece?);
//!     std::io::stdout().flush().ok();
//! }
//! println!();
//! if let Some(usage) = stream.usage() {
//!     eprintln!("{:?} tokens", usage.total_tokens);
//! }
//! # Ok::<(), ureq_futures::Error>(())
//! ```
//!
//! For a multi-turn chat, [`Conversation`] keeps the history. The `chat` example
//! (`cargo run --example chat -- --provider anthropic`) is a terminal chat built on it.
//!
//! # Providers
//!
//! tinychat's six providers, each a [`Client`] over its [`Protocol`] (the provider's wire
//! format), with `::new(model_name, temperature)` and a builder. One core does the rest for
//! all of them (see [`Client`] for why it is generic). The key and the base URL are read from
//! the environment when the client is built (the builders' `env` method replaces the lookup),
//! and both can be set on the builder:
//!
//! | client | key variable | base URL variable (default) | endpoint under the base |
//! |---|---|---|---|
//! | [`OpenAIClient`] | `OPENAI_API_KEY` | `OPENAI_BASE_URL` (`https://api.openai.com/v1`) | `/chat/completions` |
//! | [`AnthropicClient`] | `ANTHROPIC_API_KEY` | `ANTHROPIC_BASE_URL` (`https://api.anthropic.com`) | `/v1/messages` |
//! | [`GeminiClient`] | `GEMINI_API_KEY`, else `GOOGLE_API_KEY` | `GEMINI_BASE_URL` (`https://generativelanguage.googleapis.com`) | `/v1beta/models/{model}:streamGenerateContent?alt=sse` |
//! | [`CohereClient`] | `COHERE_API_KEY` | `COHERE_BASE_URL` (`https://api.cohere.ai`) | `/v1/chat` (newline-delimited JSON) |
//! | [`MistralClient`] (OpenAI's protocol) | `MISTRAL_API_KEY` | `MISTRAL_BASE_URL` (`https://api.mistral.ai/v1`) | `/chat/completions` |
//! | [`TogetherClient`] (OpenAI's protocol) | `TOGETHER_API_KEY` | `TOGETHER_BASE_URL` (`https://api.together.xyz/v1`) | `/chat/completions` |
//!
//! They behave alike:
//!
//! * A missing key is an [`Error::MissingApiKey`] naming the variable(s) to set, returned by
//!   the request (building never fails), when the base URL is the provider's own; a proxy or a
//!   local server at another base URL gets no key header.
//! * A non-2xx answer is an [`Error::Status`] whose message is
//!   `Server responded with an error. Status Code: <code>` for every provider (tinychat's
//!   Cohere client said `Server responded with error: <code>`; one wording now), with the start
//!   of the server's error body in [`StatusError::body`](crate::StatusError::body).
//! * [`ChatStream`] yields only the answer's text. Reasoning (OpenAI-compatible
//!   `reasoning_content`, Anthropic's thinking blocks, Gemini's thought parts, Mistral's
//!   thinking parts), tool calls, signatures and usage are not text; reasoning, tool calls,
//!   the finish reason and usage stay readable on the stream.
//! * An error the server reports inside a stream ends it with [`Error::Api`]; a stream that
//!   ends before the provider's end marker is an [`Error::Protocol`] saying it was cut; a chunk
//!   that cannot be decoded is an [`Error::Protocol`] quoting it. Nothing is skipped silently.
//! * The key is never shown: not in `Debug` output, not in errors.
//!
//! Each client's request is decoded on the worker by an [`sse::Decode`](crate::sse::Decode)
//! that turns the provider's chunks into [`ChatEvent`] batches: [`OpenAIDecoder`],
//! [`AnthropicDecoder`], [`GeminiDecoder`], [`CohereDecoder`]. [`ChatStream`] is the same for
//! all of them.
//!
//! # OpenAI-compatible servers
//!
//! [`OpenAIClient`] talks to any server with OpenAI's `/chat/completions` streaming API; set
//! `OPENAI_BASE_URL` (or [`ClientBuilder::base_url`]):
//!
//! | server | base URL | key |
//! |---|---|---|
//! | OpenAI | `https://api.openai.com/v1` (the default) | required |
//! | Ollama | `http://localhost:11434/v1` | none |
//! | llama.cpp `llama-server` | `http://localhost:8080/v1` | none, or its `--api-key` |
//! | vLLM | `http://localhost:8000/v1` | none, or its `--api-key` |
//! | Groq | `https://api.groq.com/openai/v1` | required |
//! | OpenRouter | `https://openrouter.ai/api/v1` | required |
//! | Mistral | `https://api.mistral.ai/v1` ([`MistralClient`] reads `MISTRAL_*`) | required |
//! | Together | `https://api.together.xyz/v1` ([`TogetherClient`] reads `TOGETHER_*`) | required |
//!
//! Without a key the client sends no `Authorization` header to a non-default base URL, and
//! refuses with [`Error::MissingApiKey`] to send to OpenAI's.
//!
//! # From tinychat (Python)
//!
//! | tinychat with requests-futures | here |
//! |---|---|
//! | `OpenAIClient(model_name=..., temperature=...)` | [`OpenAIClient::new`]`(model, temperature)` |
//! | `AnthropicClient`, `GeminiClient`, `CohereClient` | [`AnthropicClient::new`], [`GeminiClient::new`], [`CohereClient::new`], same arguments |
//! | `MistralClient`, `TogetherClient` | [`MistralClient::new`], [`TogetherClient::new`], same arguments |
//! | `FuturesSession().post(url, json=..., stream=True).result()` | `session.post(url).json(&body).events().result()?` |
//! | `SSEClient(response).events()` | [`EventStream`](crate::sse::EventStream), an iterator of events |
//! | `client.perform_stream_request(messages)` | [`Client::perform_stream_request`]`(&messages)` |
//! | `json.loads(event.data)["choices"][0]["delta"]["content"]` | [`Client::stream_chat`] yields the text |
//! | `ValueError("Server responded with an error. Status Code: 400")` | [`Error::Status`], same words in its message, for every provider |
//! | `{"role": "user", "content": ...}` | [`Message::user`] |
//!
//! [`FuturesSession`]: crate::FuturesSession
//! [`Error::MissingApiKey`]: crate::Error::MissingApiKey
//! [`Error::Status`]: crate::Error::Status
//! [`Error::Api`]: crate::Error::Api
//! [`Error::Protocol`]: crate::Error::Protocol

use serde::{Deserialize, Serialize};

use crate::Error;

mod anthropic;
mod client;
mod cohere;
mod conversation;
mod event;
mod gemini;
mod openai;
mod presets;
mod stream;
mod wire;

pub use anthropic::{Anthropic, AnthropicClient, AnthropicClientBuilder, AnthropicDecoder};
pub use client::{Client, ClientBuilder, Protocol, DEFAULT_READ_TIMEOUT, DEFAULT_TIMEOUT};
pub use cohere::{Cohere, CohereClient, CohereClientBuilder, CohereDecoder, CohereV2Decoder};
pub use conversation::{Conversation, ReplyStream};
pub use event::{ChatEvent, ServerToolResult, ToolCall, ToolCallDelta, Usage};
pub use gemini::{Gemini, GeminiClient, GeminiClientBuilder, GeminiDecoder};
pub use openai::{
    OpenAI, OpenAIClient, OpenAIClientBuilder, OpenAIDecoder, API_KEY_VAR, BASE_URL_VAR,
    DEFAULT_BASE_URL,
};
pub use presets::{
    Mistral, MistralClient, MistralClientBuilder, Together, TogetherClient, TogetherClientBuilder,
};
pub use stream::ChatStream;

/// One message of a chat: a role (`"system"`, `"user"`, `"assistant"`...) and its text.
/// Serializes as OpenAI's `{"role": ..., "content": ...}`.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::Message;
///
/// let m = Message::user("hello");
/// assert_eq!(serde_json::to_string(&m)?, r#"{"role":"user","content":"hello"}"#);
/// let back: Message = serde_json::from_str(r#"{"role":"assistant","content":"hi"}"#)?;
/// assert_eq!(back, Message::assistant("hi"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks: `"system"`, `"user"` or `"assistant"` (providers may accept others).
    pub role: String,
    /// What is said.
    pub content: String,
}

impl Message {
    /// A message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A system message: instructions for the model.
    pub fn system(content: impl Into<String>) -> Self {
        Message::new("system", content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message::new("user", content)
    }

    /// An assistant message: an earlier answer of the model.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message::new("assistant", content)
    }
}

/// The system prompt of the providers that take it apart from the conversation: the contents
/// of `system` joined by a blank line, or `None` when there are none.
pub(crate) fn system_prompt<'a>(system: impl IntoIterator<Item = &'a Message>) -> Option<String> {
    let parts: Vec<&str> = system.into_iter().map(|m| m.content.as_str()).collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// A chat model that streams its answers: what every provider's client implements, and what
/// [`Conversation`] talks to.
///
/// Object-safe (`Box<dyn ChatClient>`) and shareable between threads. It is implemented for
/// references, `Box`es and `Arc`s of implementors too.
pub trait ChatClient: Send + Sync {
    /// Sends `messages` and returns the answer as a [`ChatStream`] once the response headers
    /// are in.
    ///
    /// # Errors
    ///
    /// A non-2xx answer is an [`Error::Status`] (its message contains
    /// `Server responded with an error. Status Code: <code>`); a missing key is an
    /// [`Error::MissingApiKey`]; transport errors and timeouts as for any request.
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error>;
}

impl<C: ChatClient + ?Sized> ChatClient for &C {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        (**self).stream_chat(messages)
    }
}

impl<C: ChatClient + ?Sized> ChatClient for Box<C> {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        (**self).stream_chat(messages)
    }
}

impl<C: ChatClient + ?Sized> ChatClient for std::sync::Arc<C> {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        (**self).stream_chat(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _ensure_object_safe(client: OpenAIClient) -> Box<dyn ChatClient> {
        Box::new(client)
    }

    #[test]
    fn message_constructors_set_the_role() {
        assert_eq!(Message::system("a").role, "system");
        assert_eq!(Message::user("a").role, "user");
        assert_eq!(Message::assistant("a").role, "assistant");
        assert_eq!(Message::new("tool", "x").content, "x");
    }
}
