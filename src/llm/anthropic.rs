//! `AnthropicClient`: streaming answers from Anthropic's Messages API.

use serde::Serialize;

use super::config::{connection_setters, Connection, KeyHeader, Provider, Settings};
use super::{system_prompt, ChatClient, ChatStream, Message};
use crate::sse::{EventStream, StreamOptions};
use crate::{Error, FuturesSession, RequestBuilder};

mod decoder;

pub use decoder::AnthropicDecoder;

static PROVIDER: Provider = Provider {
    key_vars: &[AnthropicClient::API_KEY_VAR],
    key_label: AnthropicClient::API_KEY_VAR,
    base_var: AnthropicClient::BASE_URL_VAR,
    default_base: AnthropicClient::DEFAULT_BASE_URL,
    key_header: KeyHeader::Named("x-api-key"),
};

/// A streaming client for Anthropic's Messages API (`POST {base}/v1/messages`): the port of
/// tinychat's `AnthropicClient`.
///
/// The key comes from `ANTHROPIC_API_KEY` and travels in the `x-api-key` header; the base URL
/// comes from `ANTHROPIC_BASE_URL` (default [`DEFAULT_BASE_URL`](Self::DEFAULT_BASE_URL)).
/// Both are read when the client is built and both can be set on the
/// [builder](AnthropicClientBuilder). Every request carries
/// `anthropic-version: 2023-06-01` ([`API_VERSION`](Self::API_VERSION)) unless a header of the
/// builder sets another.
///
/// **Messages.** Anthropic takes the system prompt apart from the conversation: the
/// messages whose role is `system` are removed from `messages` and sent, joined by a blank
/// line, as the top-level `system` field. The other messages go as they are (`user` and
/// `assistant`). Anthropic requires a limit on the answer's length: `max_tokens`, by default
/// [`DEFAULT_MAX_TOKENS`](Self::DEFAULT_MAX_TOKENS) (4096), set with
/// [`AnthropicClientBuilder::max_tokens`].
///
/// **The answer.** [`AnthropicDecoder`] reads the stream: `text_delta`s are the text;
/// thinking is [`reasoning`](ChatStream::reasoning); tool-use blocks are
/// [`tool_calls`](ChatStream::tool_calls); `stop_reason` is the
/// [`finish_reason`](ChatStream::finish_reason) (`"end_turn"`, `"max_tokens"`,
/// `"tool_use"`...). An `error` event (such as `overloaded_error`) ends the stream with
/// [`Error::Api`], and a stream without `message_stop` is reported as cut.
///
/// **API key.** A missing key is an [`Error::MissingApiKey`] naming `ANTHROPIC_API_KEY`,
/// returned by the request when the base URL is Anthropic's own; a proxy at another base URL
/// gets no key header. The key is never shown: not in `Debug` output, not in errors.
///
/// **Timeouts and threads** as for [`OpenAIClient`](super::OpenAIClient): 120 s until the
/// response headers, 300 s of silence at most while streaming, one worker of the client's
/// session per open stream.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use ureq_futures::llm::{AnthropicClient, Message};
///
/// let client = AnthropicClient::new("claude-haiku-4-5", 0.7);
/// let messages = [Message::system("Be brief."), Message::user("Why is the sky blue?")];
/// for piece in client.stream_chat(&messages)? {
///     print!("{}", piece?);
///     std::io::stdout().flush().ok();
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct AnthropicClient {
    model: String,
    temperature: Option<f64>,
    max_tokens: u32,
    connection: Connection,
}

/// The request body, in the order Anthropic documents.
#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<&'a Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    stream: bool,
}

impl AnthropicClient {
    /// Anthropic's API root, the base URL when neither the builder nor `ANTHROPIC_BASE_URL`
    /// sets one: `https://api.anthropic.com`.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";
    /// The environment variable the API key is read from: `ANTHROPIC_API_KEY`.
    pub const API_KEY_VAR: &'static str = "ANTHROPIC_API_KEY";
    /// The environment variable the base URL is read from: `ANTHROPIC_BASE_URL`.
    pub const BASE_URL_VAR: &'static str = "ANTHROPIC_BASE_URL";
    /// The `anthropic-version` header sent with every request: `2023-06-01`.
    pub const API_VERSION: &'static str = "2023-06-01";
    /// The `max_tokens` sent unless the builder sets another: 4096.
    pub const DEFAULT_MAX_TOKENS: u32 = 4096;

    /// A client for `model_name` with the builder's defaults: key and base URL from the
    /// environment, [`DEFAULT_MAX_TOKENS`](Self::DEFAULT_MAX_TOKENS), the default timeouts, a
    /// new session. `temperature` is a number (Anthropic takes 0 to 1), or `None` to leave it
    /// to the server.
    ///
    /// Never fails: a missing key is reported by the first request.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::AnthropicClient;
    ///
    /// let client = AnthropicClient::new("claude-sonnet-4-5", 0.2);
    /// assert_eq!(client.model_name(), "claude-sonnet-4-5");
    /// assert_eq!(client.max_tokens(), AnthropicClient::DEFAULT_MAX_TOKENS);
    /// ```
    pub fn new(model_name: impl Into<String>, temperature: impl Into<Option<f64>>) -> Self {
        AnthropicClient::builder(model_name, temperature).build()
    }

    /// A builder for the key, base URL, `max_tokens`, headers, timeouts and session.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::AnthropicClient;
    ///
    /// let client = AnthropicClient::builder("claude-sonnet-4-5", None)
    ///     .max_tokens(16_000)
    ///     .header("anthropic-beta", "interleaved-thinking-2025-05-14")
    ///     .base_url("https://proxy.example.com/")
    ///     .build();
    /// assert_eq!(client.base_url(), "https://proxy.example.com");
    /// ```
    pub fn builder(
        model_name: impl Into<String>,
        temperature: impl Into<Option<f64>>,
    ) -> AnthropicClientBuilder {
        AnthropicClientBuilder {
            model: model_name.into(),
            temperature: temperature.into(),
            max_tokens: AnthropicClient::DEFAULT_MAX_TOKENS,
            settings: Settings::default(),
        }
    }

    /// The model the client asks for.
    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// The sampling temperature sent, or `None` when the server's default applies.
    pub fn temperature(&self) -> Option<f64> {
        self.temperature
    }

    /// The longest answer asked for, in tokens (`max_tokens`).
    pub fn max_tokens(&self) -> u32 {
        self.max_tokens
    }

    /// The base URL, without a trailing slash. Requests go to `{base_url}/v1/messages`.
    pub fn base_url(&self) -> &str {
        self.connection.base_url()
    }

    /// Whether the client has an API key (from the builder or the environment).
    pub fn has_api_key(&self) -> bool {
        self.connection.has_api_key()
    }

    /// The session the requests run on.
    pub fn session(&self) -> &FuturesSession {
        self.connection.session()
    }

    /// The streaming request for `messages`, ready to send: `POST {base_url}/v1/messages` with
    /// the JSON body, the `x-api-key` and `anthropic-version` headers, the extra headers and
    /// the timeouts. Send it with [`events_decoded`](RequestBuilder::events_decoded) and an
    /// [`AnthropicDecoder`] to get a [`Pending`](crate::Pending) handle without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::MissingApiKey`] when the key is required (see the [type docs](Self)) and
    /// absent.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{AnthropicClient, Message};
    ///
    /// let client = AnthropicClient::builder("claude-haiku-4-5", 0.0)
    ///     .api_key("sk-ant-example")
    ///     .build();
    /// let request = client.chat_request(&[Message::system("Be brief."), Message::user("Hi")])?;
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn chat_request(&self, messages: &[Message]) -> Result<RequestBuilder, Error> {
        let (system, rest): (Vec<&Message>, Vec<&Message>) = messages
            .iter()
            .partition(|m| m.role.eq_ignore_ascii_case("system"));
        let body = MessagesRequest {
            model: &self.model,
            max_tokens: self.max_tokens,
            system: system_prompt(system),
            messages: rest,
            temperature: self.temperature,
            stream: true,
        };
        let mut request = self
            .connection
            .post(format!("{}/v1/messages", self.base_url()), &body)?;
        if !self.connection.has_header("anthropic-version") {
            request = request.header("anthropic-version", AnthropicClient::API_VERSION);
        }
        Ok(request)
    }

    /// Sends `messages` and returns the raw events once the response headers are in: each
    /// has its name (`message_start`, `content_block_delta`...) in
    /// [`event`](crate::sse::Event::event) and its JSON in
    /// [`data`](crate::sse::Event::data). Most callers want
    /// [`stream_chat`](Self::stream_chat) instead.
    ///
    /// # Errors
    ///
    /// A non-2xx answer is an [`Error::Status`] whose message contains
    /// `Server responded with an error. Status Code: <code>` and whose
    /// [`body`](crate::StatusError::body) holds the start of the server's error body. Also
    /// [`Error::MissingApiKey`], transport errors and timeouts.
    pub fn perform_stream_request(&self, messages: &[Message]) -> Result<EventStream, Error> {
        self.chat_request(messages)?.events().result()
    }

    /// Sends `messages` and returns the answer as a [`ChatStream`] of text pieces once the
    /// response headers are in. The events are decoded by [`AnthropicDecoder`] on the worker.
    ///
    /// # Errors
    ///
    /// As [`perform_stream_request`](Self::perform_stream_request); errors while streaming
    /// are items of the stream.
    pub fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        self.chat_request(messages)?
            .events_decoded(StreamOptions::default(), AnthropicDecoder::new())
            .result()
            .map(ChatStream::new)
    }
}

impl ChatClient for AnthropicClient {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        AnthropicClient::stream_chat(self, messages)
    }
}

/// Builds an [`AnthropicClient`]; made by [`AnthropicClient::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`api_key`](Self::api_key) | `ANTHROPIC_API_KEY`, else none |
/// | [`base_url`](Self::base_url) | `ANTHROPIC_BASE_URL`, else `https://api.anthropic.com` |
/// | [`max_tokens`](Self::max_tokens) | [`AnthropicClient::DEFAULT_MAX_TOKENS`] (4096) |
/// | [`header`](Self::header) | none (`anthropic-version: 2023-06-01` is added unless set here) |
/// | [`timeout`](Self::timeout) | [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT), 120 s until the headers |
/// | [`read_timeout`](Self::read_timeout) | [`DEFAULT_READ_TIMEOUT`](super::DEFAULT_READ_TIMEOUT), 300 s of silence |
/// | [`session`](Self::session) | a new [`FuturesSession`] (8 workers) |
/// | [`env`](Self::env) | the process environment |
#[derive(Debug)]
pub struct AnthropicClientBuilder {
    model: String,
    temperature: Option<f64>,
    max_tokens: u32,
    settings: Settings,
}

connection_setters!(
    AnthropicClientBuilder,
    key_vars: "`ANTHROPIC_API_KEY`",
    key_header: "`x-api-key: <key>`",
    base_var: "ANTHROPIC_BASE_URL",
    default_base: "`https://api.anthropic.com`",
    endpoint: "`{base_url}/v1/messages`",
);

impl AnthropicClientBuilder {
    /// The longest answer to ask for, in tokens: the `max_tokens` Anthropic requires. With
    /// extended thinking it counts the thinking too. Defaults to
    /// [`AnthropicClient::DEFAULT_MAX_TOKENS`] (4096).
    pub fn max_tokens(mut self, tokens: u32) -> Self {
        self.max_tokens = tokens;
        self
    }

    /// The client. Reads the environment for what was not set; never fails.
    pub fn build(self) -> AnthropicClient {
        AnthropicClient {
            model: self.model,
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            connection: self.settings.resolve(&PROVIDER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_names_anthropic_api_key() {
        let client = AnthropicClient::builder("m", 0.0).env(|_| None).build();
        assert!(!client.has_api_key());
        assert!(matches!(
            client.chat_request(&[Message::user("hi")]),
            Err(Error::MissingApiKey {
                var: "ANTHROPIC_API_KEY"
            })
        ));
    }

    #[test]
    fn the_environment_is_read_at_build_time() {
        let env = |name: &str| match name {
            "ANTHROPIC_API_KEY" => Some("sk-ant".to_string()),
            "ANTHROPIC_BASE_URL" => Some("http://proxy.example/".to_string()),
            _ => None,
        };
        let client = AnthropicClient::builder("m", None).env(env).build();
        assert!(client.has_api_key());
        assert_eq!(client.base_url(), "http://proxy.example");
    }

    #[test]
    fn debug_hides_the_key() {
        let builder = AnthropicClient::builder("m", 0.0)
            .api_key("sk-ant-secret")
            .env(|_| None);
        assert!(!format!("{builder:?}").contains("secret"));
        let client = builder.build();
        let text = format!("{client:?}");
        assert!(
            !text.contains("secret") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn client_is_send_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<AnthropicClient>();
    }
}
