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
//! (`cargo run --example chat`) is a terminal chat built on it.
//!
//! # OpenAI-compatible servers
//!
//! [`OpenAIClient`] talks to any server with OpenAI's `/chat/completions` streaming API; set
//! `OPENAI_BASE_URL` (or [`OpenAIClientBuilder::base_url`]):
//!
//! | server | base URL | key |
//! |---|---|---|
//! | OpenAI | `https://api.openai.com/v1` (the default) | required |
//! | Ollama | `http://localhost:11434/v1` | none |
//! | llama.cpp `llama-server` | `http://localhost:8080/v1` | none, or its `--api-key` |
//! | vLLM | `http://localhost:8000/v1` | none, or its `--api-key` |
//! | Groq | `https://api.groq.com/openai/v1` | required |
//! | OpenRouter | `https://openrouter.ai/api/v1` | required |
//! | Mistral | `https://api.mistral.ai/v1` | required |
//! | Together | `https://api.together.xyz/v1` | required |
//!
//! Without a key the client sends no `Authorization` header to a non-default base URL, and
//! refuses with [`Error::MissingApiKey`] to send to OpenAI's.
//!
//! # From tinychat (Python)
//!
//! | tinychat with requests-futures | here |
//! |---|---|
//! | `OpenAIClient(model_name=..., temperature=...)` | [`OpenAIClient::new`]`(model, temperature)` |
//! | `FuturesSession().post(url, json=..., stream=True).result()` | `session.post(url).json(&body).events().result()?` |
//! | `SSEClient(response).events()` | [`EventStream`](crate::sse::EventStream), an iterator of events |
//! | `client.perform_stream_request(messages)` | [`OpenAIClient::perform_stream_request`]`(&messages)` |
//! | `json.loads(event.data)["choices"][0]["delta"]["content"]` | [`OpenAIClient::stream_chat`] yields the text |
//! | `ValueError("Server responded with an error. Status Code: 400")` | [`Error::Status`], same words in its message |
//! | `{"role": "user", "content": ...}` | [`Message::user`] |
//!
//! # Providers
//!
//! Each provider is a [`ChatClient`] whose request is decoded on the worker by an
//! [`sse::Decode`](crate::sse::Decode) that turns the provider's chunks into [`ChatEvent`]
//! batches; [`ChatStream`] is the same for all of them. [`OpenAIDecoder`] is the OpenAI one.
//!
//! [`FuturesSession`]: crate::FuturesSession
//! [`Error::MissingApiKey`]: crate::Error::MissingApiKey
//! [`Error::Status`]: crate::Error::Status

use serde::{Deserialize, Serialize};

use crate::Error;

mod conversation;
mod event;
mod openai;
mod stream;
mod wire;

pub use conversation::{Conversation, ReplyStream};
pub use event::{ChatEvent, ToolCall, ToolCallDelta, Usage};
pub use openai::{
    OpenAIClient, OpenAIClientBuilder, OpenAIDecoder, API_KEY_VAR, BASE_URL_VAR, DEFAULT_BASE_URL,
    DEFAULT_READ_TIMEOUT, DEFAULT_TIMEOUT,
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
