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
//! all of them ([`Client`], whose docs say why it is generic). The key and the base URL are
//! read from the environment when the client is built (the builders' `env` method replaces the
//! lookup), and both can be set on the builder:
//!
//! | client | key variable | base URL variable (default) | endpoint under the base |
//! |---|---|---|---|
//! | [`OpenAIClient`] | `OPENAI_API_KEY` | `OPENAI_BASE_URL` (`https://api.openai.com/v1`) | `/chat/completions` |
//! | [`AnthropicClient`] | `ANTHROPIC_API_KEY` | `ANTHROPIC_BASE_URL` (`https://api.anthropic.com`) | `/v1/messages` |
//! | [`GeminiClient`] | `GEMINI_API_KEY`, else `GOOGLE_API_KEY` | `GEMINI_BASE_URL` (`https://generativelanguage.googleapis.com`) | `/v1beta/models/{model}:streamGenerateContent?alt=sse` |
//! | [`CohereClient`] | `COHERE_API_KEY` | `COHERE_BASE_URL` (`https://api.cohere.com`) | `/v2/chat` ([`CohereApi::V1`]: `/v1/chat`, newline-delimited JSON) |
//! | [`MistralClient`] (OpenAI's protocol) | `MISTRAL_API_KEY` | `MISTRAL_BASE_URL` (`https://api.mistral.ai/v1`) | `/chat/completions` |
//! | [`TogetherClient`] (OpenAI's protocol) | `TOGETHER_API_KEY` | `TOGETHER_BASE_URL` (`https://api.together.xyz/v1`) | `/chat/completions` |
//!
//! They behave alike: [`Client`] says when a key is required, [`ChatClient::stream_chat`] how a
//! request fails and [`ChatStream`] what an answer yields and how it ends, for every provider.
//! Each answer is decoded on the worker by the provider's decoder (an
//! [`sse::Decode`](crate::sse::Decode)): [`OpenAIDecoder`], [`AnthropicDecoder`],
//! [`GeminiDecoder`], [`CohereV2Decoder`], [`CohereDecoder`].
//!
//! # The request surface
//!
//! [`ChatRequest`] holds what a chat asks for; [`ChatClient::stream`] streams the answer and
//! [`ChatClient::complete`] returns it whole as a [`ChatResponse`]. Each client maps it to its
//! provider's wire format, and refuses what the provider cannot express with
//! [`Error::InvalidRequest`] before anything is sent:
//!
//! | request | OpenAI, Mistral, Together | Anthropic | Gemini | Cohere v2 (v1) |
//! |---|---|---|---|---|
//! | [`Part::ImageUrl`] | `image_url` part | `image` block, `url` source (a `data:` URL: `base64`) | `fileData` (a `data:` URL: `inlineData`) | `image_url` part (v1: refused) |
//! | [`Part::Image`] (bytes) | `image_url` with a `data:` URL | `image` block, `base64` source | `inlineData` | `data:` URL (v1: refused) |
//! | system prompt | first `system` message | `system` | `systemInstruction` | `system` message (v1: `preamble`) |
//! | [`Tool`] | `tools[].function` | `tools[]` with `input_schema` | `functionDeclarations` with `parametersJsonSchema` | `tools[].function` (v1: refused) |
//! | [`ToolChoice`] | `tool_choice` (Mistral's `any`) | `tool_choice` | `toolConfig` | `REQUIRED` / `NONE` only |
//! | [`parallel_tool_calls`](ChatRequest::parallel_tool_calls) | `parallel_tool_calls` | `false`: `disable_parallel_tool_use` in `tool_choice` | `false` refused | `false` refused (v1: refused) |
//! | tool calls, [`ToolResult`]s ([`Message::tool_error`]: a failed call) | `tool_calls` (a [`signature`](ToolCall::signature) as Gemini's `extra_content`; not Mistral), `tool` messages (no flag) | `tool_use`, `tool_result` blocks (`is_error`) | `functionCall`, `functionResponse` (`{"error": ..}`) | `tool_calls`, `tool` messages (no flag) |
//! | [`Part::Thought`] (from [`ChatResponse::message`]) | [`Thought::Unsigned`] in its field (`reasoning_content`, `reasoning`), [`Thought::ReasoningDetails`] as `reasoning_details` (not Mistral); others left out | `thinking`, `redacted_thinking` blocks; others left out | left out | left out (v1: refused) |
//! | [`Part::ServerToolUse`], [`Part::ServerToolResult`] (from [`ChatResponse::message`]) | left out | `server_tool_use` and result blocks (its own, `srvtoolu_...`) | left out | left out (v1: refused) |
//! | [`json`](ChatRequest::json) | `json_object` | refused: give a schema | `responseMimeType` | `json_object` (refused with tools) |
//! | [`json_schema`](ChatRequest::json_schema) | `json_schema` | `output_config.format`, made as Anthropic's SDK makes it: objects closed (`additionalProperties: false`), keywords the API refuses (`minimum`, `pattern`...) moved into the `description` | `responseJsonSchema` | `json_schema` (v1: `schema`; refused with tools) |
//! | `max_tokens`, `stop`, `top_p`, `seed` | `max_completion_tokens` at OpenAI (api.openai.com, Azure), `max_tokens` at any other server, `stop` (at most 4 at OpenAI), `top_p`, `seed` (Mistral `random_seed`) | `max_tokens`, `stop_sequences`, `top_p` (without the client's temperature, unless the request sets one too); seed refused | `generationConfig` (a seed up to `i32::MAX`) | `max_tokens`, `stop_sequences`, `p`, `seed` |
//! | [`extra`](ChatRequest::extra) | merged into the body (objects key by key), for every provider ||||
//!
//! A tool loop:
//!
//! ```no_run
//! use serde_json::json;
//! use ureq_futures::llm::{ChatRequest, Message, OpenAIClient, Tool};
//!
//! let client = OpenAIClient::new("gpt-4o-mini", None);
//! let add = Tool::new(
//!     "add",
//!     "Adds two numbers",
//!     json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
//!            "required": ["a", "b"]}),
//! );
//! let mut request = ChatRequest::new().user("What is 2 + 3?").tool(add);
//! loop {
//!     let answer = client.complete(&request)?;
//!     if answer.tool_calls.is_empty() {
//!         println!("{}", answer.text);
//!         break;
//!     }
//!     request.push(answer.message());
//!     for call in &answer.tool_calls {
//!         let args: serde_json::Value = serde_json::from_str(&call.arguments)?;
//!         let sum = args["a"].as_f64().unwrap_or(0.0) + args["b"].as_f64().unwrap_or(0.0);
//!         request.push(Message::tool_result(call, sum.to_string()));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Any server with OpenAI's `/chat/completions` streaming API (Ollama, llama.cpp, vLLM, Groq,
//! OpenRouter...) works through [`OpenAIClient`] with its base URL; the README lists them, and
//! `docs/migration.md` maps tinychat's client and the Python SDKs onto this module.
//!
//! [`FuturesSession`]: crate::FuturesSession
//! [`Error::InvalidRequest`]: crate::Error::InvalidRequest

use crate::{Error, FuturesSession};

/// Builder setters: each `name(args) => field = value;` or `name(args) => field.method(values);`,
/// after its docs, is `pub fn name(mut self, args) -> Self` setting `self.field` to `value`, or
/// calling `self.field.method(values)`.
macro_rules! setters {
    ($(
        $(#[$doc:meta])*
        $name:ident($($arg:ident: $ty:ty),*) =>
            $($field:ident).+ $(($($call:expr),*))? $(= $value:expr)?;
    )*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $($arg: $ty),*) -> Self {
            self.$($field).+ $(($($call),*))? $(= $value)?;
            self
        }
    )*};
}

mod anthropic;
mod batch;
mod client;
mod cohere;
mod conversation;
mod embed;
mod event;
mod gemini;
mod message;
mod openai;
mod presets;
mod request;
mod stream;
mod wire;

pub use anthropic::{Anthropic, AnthropicClient, AnthropicClientBuilder, AnthropicDecoder};
pub use batch::{ChatBatch, ChatBatchSummary, ChatJob, ChatResult, ChatRun};
pub use client::{Client, ClientBuilder, Protocol, DEFAULT_READ_TIMEOUT, DEFAULT_TIMEOUT};
pub use cohere::{
    Cohere, CohereApi, CohereClient, CohereClientBuilder, CohereDecoder, CohereV2Decoder,
};
pub use conversation::{Conversation, PendingReply, ReplyStream};
pub use embed::{EmbedChunk, EmbedOptions, EmbedProtocol, Embeddings};
pub use event::{ChatEvent, Citation, ServerToolResult, Thought, ToolCall, ToolCallDelta, Usage};
pub use gemini::{Gemini, GeminiClient, GeminiClientBuilder, GeminiDecoder};
pub use message::{Message, Part, ToolResult};
pub use openai::{
    OpenAI, OpenAIClient, OpenAIClientBuilder, OpenAIDecoder, API_KEY_VAR, BASE_URL_VAR,
    DEFAULT_BASE_URL,
};
pub use presets::{
    Mistral, MistralClient, MistralClientBuilder, Together, TogetherClient, TogetherClientBuilder,
};
pub use request::{ChatRequest, ChatResponse, ResponseFormat, Tool, ToolChoice};
pub use stream::{ChatStream, PendingChat};

/// A chat model that streams its answers: what every provider's client implements, and what
/// [`Conversation`] talks to.
///
/// Object-safe (`Box<dyn ChatClient>`) and shareable between threads. It is implemented for
/// references, `Box`es and `Arc`s of implementors too.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{AnthropicClient, ChatClient, Message, OpenAIClient};
///
/// // The provider chosen at run time.
/// fn client_for(provider: &str) -> Box<dyn ChatClient> {
///     match provider {
///         "anthropic" => Box::new(AnthropicClient::new("claude-haiku-4-5", None)),
///         _ => Box::new(OpenAIClient::new("gpt-4o-mini", None)),
///     }
/// }
/// let client = client_for(&std::env::var("PROVIDER").unwrap_or_default());
/// // `client.stream_chat(&[Message::user("Hi")])` streams from whichever it is.
/// # let _ = (client, Message::user("Hi"));
/// ```
pub trait ChatClient: Send + Sync {
    /// Sends `messages` and returns the answer as a [`ChatStream`] once the response headers
    /// are in.
    ///
    /// # Errors
    ///
    /// A non-2xx answer is an [`Error::Status`] (its message contains
    /// `Server responded with an error. Status Code: <code>`); a missing key is an
    /// [`Error::MissingApiKey`]; transport errors and timeouts as for any request.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let openai = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::{ChatClient, Message};
    ///
    /// let client: Box<dyn ChatClient> = Box::new(openai);
    /// let answer: String = client.stream_chat(&[Message::user("Say hello.")])?.collect::<Result<_, _>>()?;
    /// assert_eq!(answer, "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error>;

    /// Sends `request` (messages with images, tools, JSON output, limits...) and returns the
    /// answer as a [`ChatStream`] once the response headers are in (a whole JSON answer of an
    /// OpenAI-compatible server that ignored `"stream": true`, once it is read). Every
    /// provider's
    /// [`Client`] implements it; the default, for clients that know only messages, sends a
    /// request of plain text messages with [`stream_chat`](Self::stream_chat) and refuses
    /// anything more with [`Error::InvalidRequest`].
    ///
    /// # Errors
    ///
    /// As [`stream_chat`](Self::stream_chat), and [`Error::InvalidRequest`] for what the
    /// provider cannot express.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::llm::{ChatEvent, ChatStream, Message};
    /// # struct Canned; // answers "Hello!" to anything
    /// # impl ChatClient for Canned {
    /// #     fn stream_chat(&self, _: &[Message]) -> Result<ChatStream, Error> {
    /// #         let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
    /// #         tx.send(Ok(vec![ChatEvent::Text("Hello!".into()), ChatEvent::Done])).ok();
    /// #         Ok(ChatStream::from_receiver(rx))
    /// #     }
    /// # }
    /// use ureq_futures::llm::{ChatClient, ChatRequest};
    /// use ureq_futures::Error;
    ///
    /// // `Canned` implements `stream_chat` only: plain requests go through it...
    /// let text = Canned.stream(&ChatRequest::new().user("Hi"))?.collect::<Result<String, _>>()?;
    /// assert_eq!(text, "Hello!");
    /// // ...and what messages alone cannot say is refused.
    /// let json = ChatRequest::new().user("Hi").json();
    /// assert!(matches!(Canned.stream(&json), Err(Error::InvalidRequest(_))));
    /// # Ok::<(), Error>(())
    /// ```
    fn stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        if !request.is_plain() {
            return Err(Error::InvalidRequest(
                "this client implements stream_chat only, which takes plain text messages: \
                 the request's tools, images, JSON output or other settings need a client that \
                 implements ChatClient::stream"
                    .into(),
            ));
        }
        self.stream_chat(request.messages())
    }

    /// Sends `request` and reads the answer to its end: its text, tool calls, reasoning,
    /// refusal, usage, finish reason and request id. Built on [`stream`](Self::stream).
    ///
    /// # Errors
    ///
    /// As [`stream`](Self::stream), and the stream's error if the answer does not arrive
    /// whole.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let openai = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::{ChatClient, ChatRequest};
    ///
    /// fn ask(client: &dyn ChatClient, question: &str) -> Result<String, ureq_futures::Error> {
    ///     Ok(client.complete(&ChatRequest::new().user(question))?.text)
    /// }
    /// assert_eq!(ask(&openai, "Say hello.")?, "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        ChatResponse::from_stream(self.stream(request)?)
    }

    /// Sends `request` once: [`stream`](Self::stream) without the client's own retries, for
    /// callers that retry in their own way, as [`ChatBatch`] does (its attempts would
    /// otherwise multiply the client's). Every provider's [`Client`] implements it; the
    /// default is `stream`.
    ///
    /// # Errors
    ///
    /// As [`stream`](Self::stream).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("503 Service Unavailable", "", r#"{"error":{"message":"overloaded"}}"#);
    /// use ureq_futures::llm::{ChatClient, ChatRequest, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("llama3.2", None).env(|_| None).base_url(&base).build();
    /// let error = client.stream_once(&ChatRequest::new().user("Hi")).unwrap_err();
    /// assert_eq!(error.status(), Some(503)); // after one request, where `stream` makes three
    /// ```
    fn stream_once(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        self.stream(request)
    }

    /// Whether `request` can be sent: the checks [`stream`](Self::stream) makes before it
    /// sends (a part or a setting the provider cannot express, a schema that is no object, a
    /// number JSON cannot carry, a missing key), without sending anything. Every provider's
    /// [`Client`] implements it ([`ChatBatch`] asks it, to tell a request that no chat of the
    /// batch can send from one chat's); the default is `Ok(())`.
    ///
    /// # Errors
    ///
    /// The error `stream` would fail with before sending: [`Error::InvalidRequest`],
    /// [`Error::MissingApiKey`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{AnthropicClient, ChatClient, ChatRequest};
    /// use ureq_futures::Error;
    ///
    /// let client = AnthropicClient::builder("claude-haiku-4-5", None).api_key("sk-ant-...").build();
    /// assert!(client.check(&ChatRequest::new().user("Hi")).is_ok());
    /// // Anthropic's wire format has no seed.
    /// let seeded = ChatRequest::new().user("Hi").seed(42);
    /// assert!(matches!(client.check(&seeded), Err(Error::InvalidRequest(_))));
    /// ```
    fn check(&self, request: &ChatRequest) -> Result<(), Error> {
        let _ = request;
        Ok(())
    }

    /// Sends `request` and returns at once, before the answer starts, with a [`PendingChat`]
    /// whose stop handle stops the chat at any point: see [`Client::start`]. Every provider's
    /// [`Client`] implements it; the default sends with [`stream`](Self::stream), which returns
    /// once the answer has started, so that its stop handle stops the answer only.
    ///
    /// # Errors
    ///
    /// [`Client::start`]'s; the default's are [`stream`](Self::stream)'s.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ureq_futures::llm::{ChatEvent, ChatStream, Message};
    /// # struct Canned; // answers "Hello!" to anything
    /// # impl ChatClient for Canned {
    /// #     fn stream_chat(&self, _: &[Message]) -> Result<ChatStream, Error> {
    /// #         let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
    /// #         tx.send(Ok(vec![ChatEvent::Text("Hello!".into()), ChatEvent::Done])).ok();
    /// #         Ok(ChatStream::from_receiver(rx))
    /// #     }
    /// # }
    /// use ureq_futures::llm::{ChatClient, ChatRequest};
    /// use ureq_futures::Error;
    ///
    /// // Code for any client: a Ctrl-C handler would get `stop`.
    /// fn ask(client: &dyn ChatClient, question: &str) -> Result<String, Error> {
    ///     let chat = client.start(&ChatRequest::new().user(question))?;
    ///     let stop = chat.stop_handle();
    ///     # drop(stop);
    ///     chat.result()?.collect()
    /// }
    /// assert_eq!(ask(&Canned, "Hi")?, "Hello!");
    /// # Ok::<(), Error>(())
    /// ```
    fn start(&self, request: &ChatRequest) -> Result<PendingChat, Error> {
        self.stream(request).map(PendingChat::started)
    }

    /// The session the client sends its requests on, if it has one: a [`ChatBatch`] over the
    /// client stops when it is shut down (no chat is started after it, a wait to retry ends).
    /// Every provider's [`Client`] has one; the default is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{ChatClient, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("llama3.2", None).env(|_| None).build();
    /// let session = ChatClient::futures_session(&client).expect("a provider's client has one");
    /// session.shutdown_now(); // stops a ChatBatch over `client`, from any thread
    /// ```
    fn futures_session(&self) -> Option<&FuturesSession> {
        None
    }
}

/// Forwards every method of [`ChatClient`] through a pointer type.
macro_rules! forward_chat_client {
    ($($pointer:ty),*) => {$(
        impl<C: ChatClient + ?Sized> ChatClient for $pointer {
            fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
                (**self).stream_chat(messages)
            }

            fn stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
                (**self).stream(request)
            }

            fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
                (**self).complete(request)
            }

            fn stream_once(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
                (**self).stream_once(request)
            }

            fn check(&self, request: &ChatRequest) -> Result<(), Error> {
                (**self).check(request)
            }

            fn start(&self, request: &ChatRequest) -> Result<PendingChat, Error> {
                (**self).start(request)
            }

            fn futures_session(&self) -> Option<&FuturesSession> {
                (**self).futures_session()
            }
        }
    )*};
}

forward_chat_client!(&C, Box<C>, std::sync::Arc<C>);
