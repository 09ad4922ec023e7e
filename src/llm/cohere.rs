//! `CohereClient`: streaming answers from Cohere's v1 chat API (newline-delimited JSON).

use serde::Serialize;

use super::config::{connection_setters, Connection, KeyHeader, Provider, Settings};
use super::{system_prompt, ChatClient, ChatStream, Message};
use crate::sse::{EventStream, StreamOptions};
use crate::{Error, FuturesSession, RequestBuilder};

mod decoder;
mod v2_decoder;

pub use decoder::CohereDecoder;
pub use v2_decoder::CohereV2Decoder;

static PROVIDER: Provider = Provider {
    key_vars: &[CohereClient::API_KEY_VAR],
    key_label: CohereClient::API_KEY_VAR,
    base_var: CohereClient::BASE_URL_VAR,
    default_base: CohereClient::DEFAULT_BASE_URL,
    key_header: KeyHeader::Bearer,
};

/// A streaming client for Cohere's v1 chat API (`POST {base}/v1/chat`): the port of tinychat's
/// `CohereClient`.
///
/// The key comes from `COHERE_API_KEY` and travels as `Authorization: Bearer <key>`; the base
/// URL comes from `COHERE_BASE_URL` (default [`DEFAULT_BASE_URL`](Self::DEFAULT_BASE_URL)). Both
/// are read when the client is built and both can be set on the
/// [builder](CohereClientBuilder).
///
/// **Messages.** Cohere's v1 chat takes the new user message apart from the history:
///
/// * the last message is sent as `message`, and must be a `user` message;
/// * the `system` messages before the first other message are sent, joined by a blank line, as
///   the `preamble`;
/// * the messages in between are the `chat_history`, with Cohere's roles: `user` as `USER`,
///   `assistant` as `CHATBOT`, `system` as `SYSTEM` (others upper-cased).
///
/// **The answer** is newline-delimited JSON, not Server-Sent Events: one object per line, read
/// with [`StreamOptions::json_lines`] and decoded by [`CohereDecoder`]. The text is the `text`
/// of `text-generation` events; `stream-end` ends the answer, with its `finish_reason`
/// (`COMPLETE`, `MAX_TOKENS`...) and its token counts. A `stream-end` whose finish reason is an
/// error (`ERROR`, `ERROR_TOXIC`, `ERROR_LIMIT`) ends the stream with [`Error::Api`], a line that
/// is not JSON with [`Error::Protocol`] naming it, and a stream without `stream-end` is
/// reported as cut.
///
/// **API key.** A missing key is an [`Error::MissingApiKey`] naming `COHERE_API_KEY`, returned
/// by the request when the base URL is Cohere's own; a proxy at another base URL gets no
/// `Authorization` header. The key is never shown: not in `Debug` output, not in errors.
///
/// **Timeouts and threads** as for [`OpenAIClient`](super::OpenAIClient).
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use ureq_futures::llm::{CohereClient, Message};
///
/// let client = CohereClient::new("command-r-08-2024", 0.3);
/// let messages = [Message::system("Talk like a pirate."), Message::user("Who found gravity?")];
/// for piece in client.stream_chat(&messages)? {
///     print!("{}", piece?);
///     std::io::stdout().flush().ok();
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CohereClient {
    model: String,
    temperature: Option<f64>,
    connection: Connection,
}

/// The request body.
#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    message: &'a str,
    chat_history: Vec<HistoryEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preamble: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    stream: bool,
}

#[derive(Serialize)]
struct HistoryEntry<'a> {
    role: String,
    message: &'a str,
}

/// Cohere's name for `role`.
fn cohere_role(role: &str) -> String {
    match role.to_ascii_lowercase().as_str() {
        "user" => "USER".into(),
        "assistant" | "chatbot" => "CHATBOT".into(),
        "system" => "SYSTEM".into(),
        _ => role.to_ascii_uppercase(),
    }
}

impl CohereClient {
    /// Cohere's API root, the base URL when neither the builder nor `COHERE_BASE_URL` sets one:
    /// `https://api.cohere.ai`.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.cohere.ai";
    /// The environment variable the API key is read from: `COHERE_API_KEY`.
    pub const API_KEY_VAR: &'static str = "COHERE_API_KEY";
    /// The environment variable the base URL is read from: `COHERE_BASE_URL`.
    pub const BASE_URL_VAR: &'static str = "COHERE_BASE_URL";

    /// A client for `model_name` with the builder's defaults: key and base URL from the
    /// environment, the default timeouts, a new session. `temperature` is a number, or `None`
    /// to leave it to the server.
    ///
    /// Never fails: a missing key is reported by the first request.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::CohereClient;
    ///
    /// let client = CohereClient::new("command-r-08-2024", 0.3);
    /// assert_eq!(client.model_name(), "command-r-08-2024");
    /// ```
    pub fn new(model_name: impl Into<String>, temperature: impl Into<Option<f64>>) -> Self {
        CohereClient::builder(model_name, temperature).build()
    }

    /// A builder for the key, base URL, headers, timeouts and session.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::CohereClient;
    ///
    /// let client = CohereClient::builder("command-r-08-2024", None)
    ///     .base_url("https://api.cohere.com/")
    ///     .header("X-Client-Name", "my-app")
    ///     .build();
    /// assert_eq!(client.base_url(), "https://api.cohere.com");
    /// ```
    pub fn builder(
        model_name: impl Into<String>,
        temperature: impl Into<Option<f64>>,
    ) -> CohereClientBuilder {
        CohereClientBuilder {
            model: model_name.into(),
            temperature: temperature.into(),
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

    /// The base URL, without a trailing slash. Requests go to `{base_url}/v1/chat`.
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

    /// The streaming request for `messages`, ready to send: `POST {base_url}/v1/chat` with the
    /// JSON body (see the [type docs](Self) for how the messages are laid out), the
    /// `Authorization: Bearer` header, the extra headers and the timeouts. Send it with
    /// [`events_decoded`](RequestBuilder::events_decoded), [`StreamOptions::json_lines`] and a
    /// [`CohereDecoder`] to get a [`Pending`](crate::Pending) handle without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when the last message is not a `user` message (or there is
    /// none); [`Error::MissingApiKey`] when the key is required and absent.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{CohereClient, Message};
    /// use ureq_futures::Error;
    ///
    /// let client = CohereClient::builder("command-r-08-2024", 0.0).api_key("co-example").build();
    /// assert!(client.chat_request(&[Message::user("Hi")]).is_ok());
    /// let err = client.chat_request(&[Message::assistant("Hi")]).unwrap_err();
    /// assert!(matches!(err, Error::InvalidRequest(_)));
    /// ```
    pub fn chat_request(&self, messages: &[Message]) -> Result<RequestBuilder, Error> {
        let Some((last, earlier)) = messages
            .split_last()
            .filter(|(last, _)| last.role.eq_ignore_ascii_case("user"))
        else {
            return Err(Error::InvalidRequest(
                "Cohere's chat needs a user message last: it is sent as `message`".into(),
            ));
        };
        let leading = earlier
            .iter()
            .take_while(|m| m.role.eq_ignore_ascii_case("system"))
            .count();
        let preamble = system_prompt(&earlier[..leading]);
        let chat_history = earlier[leading..]
            .iter()
            .map(|m| HistoryEntry {
                role: cohere_role(&m.role),
                message: &m.content,
            })
            .collect();
        let body = ChatRequest {
            model: &self.model,
            message: &last.content,
            chat_history,
            preamble,
            temperature: self.temperature,
            stream: true,
        };
        self.connection
            .post(format!("{}/v1/chat", self.base_url()), &body)
    }

    /// Sends `messages` and returns the raw lines once the response headers are in: each
    /// event's [`data`](crate::sse::Event::data) is one line of the answer, a JSON object with
    /// an `event_type`. Most callers want [`stream_chat`](Self::stream_chat) instead.
    ///
    /// # Errors
    ///
    /// A non-2xx answer is an [`Error::Status`] whose message contains
    /// `Server responded with an error. Status Code: <code>` and whose
    /// [`body`](crate::StatusError::body) holds the start of the server's error body. Also
    /// the errors of [`chat_request`](Self::chat_request), transport errors and timeouts.
    pub fn perform_stream_request(&self, messages: &[Message]) -> Result<EventStream, Error> {
        self.chat_request(messages)?
            .events_with(StreamOptions::default().json_lines())
            .result()
    }

    /// Sends `messages` and returns the answer as a [`ChatStream`] of text pieces once the
    /// response headers are in. The lines are decoded by [`CohereDecoder`] on the worker.
    ///
    /// # Errors
    ///
    /// As [`perform_stream_request`](Self::perform_stream_request); errors while streaming
    /// are items of the stream.
    pub fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        self.chat_request(messages)?
            .events_decoded(StreamOptions::default().json_lines(), CohereDecoder::new())
            .result()
            .map(ChatStream::new)
    }
}

impl ChatClient for CohereClient {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        CohereClient::stream_chat(self, messages)
    }
}

/// Builds a [`CohereClient`]; made by [`CohereClient::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`api_key`](Self::api_key) | `COHERE_API_KEY`, else none |
/// | [`base_url`](Self::base_url) | `COHERE_BASE_URL`, else `https://api.cohere.ai` |
/// | [`header`](Self::header) | none |
/// | [`timeout`](Self::timeout) | [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT), 120 s until the headers |
/// | [`read_timeout`](Self::read_timeout) | [`DEFAULT_READ_TIMEOUT`](super::DEFAULT_READ_TIMEOUT), 300 s of silence |
/// | [`session`](Self::session) | a new [`FuturesSession`] (8 workers) |
/// | [`env`](Self::env) | the process environment |
#[derive(Debug)]
pub struct CohereClientBuilder {
    model: String,
    temperature: Option<f64>,
    settings: Settings,
}

connection_setters!(
    CohereClientBuilder,
    key_vars: "`COHERE_API_KEY`",
    key_header: "`Authorization: Bearer <key>`",
    base_var: "COHERE_BASE_URL",
    default_base: "`https://api.cohere.ai`",
    endpoint: "`{base_url}/v1/chat`",
);

impl CohereClientBuilder {
    /// The client. Reads the environment for what was not set; never fails.
    pub fn build(self) -> CohereClient {
        CohereClient {
            model: self.model,
            temperature: self.temperature,
            connection: self.settings.resolve(&PROVIDER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_get_cohere_names() {
        assert_eq!(cohere_role("user"), "USER");
        assert_eq!(cohere_role("assistant"), "CHATBOT");
        assert_eq!(cohere_role("System"), "SYSTEM");
        assert_eq!(cohere_role("tool"), "TOOL");
    }

    #[test]
    fn a_missing_key_names_cohere_api_key() {
        let client = CohereClient::builder("m", 0.0).env(|_| None).build();
        assert!(matches!(
            client.chat_request(&[Message::user("hi")]),
            Err(Error::MissingApiKey {
                var: "COHERE_API_KEY"
            })
        ));
    }

    #[test]
    fn the_last_message_must_be_the_users() {
        let client = CohereClient::builder("m", 0.0)
            .api_key("k")
            .env(|_| None)
            .build();
        for messages in [
            vec![],
            vec![Message::system("s")],
            vec![Message::user("q"), Message::assistant("a")],
        ] {
            let err = client.chat_request(&messages).unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
        }
    }

    #[test]
    fn client_is_send_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<CohereClient>();
    }
}
