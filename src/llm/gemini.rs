//! `GeminiClient`: streaming answers from Google's Gemini API (`streamGenerateContent`).

use serde::Serialize;

use super::config::{
    connection_setters, encode_segment, Connection, KeyHeader, Provider, Settings,
};
use super::{ChatClient, ChatStream, Message};
use crate::sse::{EventStream, StreamOptions};
use crate::{Error, FuturesSession, RequestBuilder};

mod decoder;

pub use decoder::GeminiDecoder;

static PROVIDER: Provider = Provider {
    key_vars: &[
        GeminiClient::API_KEY_VAR,
        GeminiClient::FALLBACK_API_KEY_VAR,
    ],
    key_label: "GEMINI_API_KEY or GOOGLE_API_KEY",
    base_var: GeminiClient::BASE_URL_VAR,
    default_base: GeminiClient::DEFAULT_BASE_URL,
    key_header: KeyHeader::Named("x-goog-api-key"),
};

/// A streaming client for Google's Gemini API
/// (`POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`): the port of tinychat's
/// `GeminiClient`.
///
/// The key comes from `GEMINI_API_KEY`, else `GOOGLE_API_KEY`; the base URL from
/// `GEMINI_BASE_URL` (default [`DEFAULT_BASE_URL`](Self::DEFAULT_BASE_URL)). Both are read when
/// the client is built and both can be set on the [builder](GeminiClientBuilder).
///
/// **The key stays secret.** It travels in the `x-goog-api-key` header, never in the URL (the
/// API also accepts `?key=`, which ends up in logs and error messages). It is never shown: not
/// in `Debug` output, not in any error, transport errors included.
///
/// **Messages.** Gemini's roles are `user` and `model`: `assistant` messages are sent as
/// `model`, others with their own role. The messages whose role is `system` are sent apart, as
/// `systemInstruction` (one text part each). A temperature goes in `generationConfig`.
///
/// **Model names.** A leading `models/` (as the API lists them: `models/gemini-2.5-flash`) is
/// removed; `tunedModels/NAME` addresses a tuned model. The name is percent-encoded into the
/// path, so no character of it can change the URL.
///
/// **The answer.** [`GeminiDecoder`] reads the stream: the text of each part is the text,
/// except thought parts (`"thought": true`), which are [`reasoning`](ChatStream::reasoning).
/// The stream has no end marker: it is complete when the body ends after a candidate's
/// `finishReason` (`"STOP"`, `"MAX_TOKENS"`, `"SAFETY"`...), and cut when it ends without
/// one. An `error` object in the stream, or a prompt blocked by `promptFeedback`, is an
/// [`Error::Api`].
///
/// **API key.** A missing key is an [`Error::MissingApiKey`] naming both variables, returned
/// by the request when the base URL is Google's own; a proxy at another base URL gets no key
/// header.
///
/// **Timeouts and threads** as for [`OpenAIClient`](super::OpenAIClient).
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use ureq_futures::llm::{GeminiClient, Message};
///
/// let client = GeminiClient::new("gemini-2.5-flash", 0.7);
/// for piece in client.stream_chat(&[Message::user("Why is the sky blue?")])? {
///     print!("{}", piece?);
///     std::io::stdout().flush().ok();
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct GeminiClient {
    model: String,
    temperature: Option<f64>,
    connection: Connection,
}

/// The request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation_config: Option<GenerationConfig>,
}

#[derive(Serialize)]
struct Content<'a> {
    role: &'a str,
    parts: [TextPart<'a>; 1],
}

#[derive(Serialize)]
struct SystemInstruction<'a> {
    parts: Vec<TextPart<'a>>,
}

#[derive(Serialize)]
struct TextPart<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct GenerationConfig {
    temperature: f64,
}

impl GeminiClient {
    /// Google's API root, the base URL when neither the builder nor `GEMINI_BASE_URL` sets one:
    /// `https://generativelanguage.googleapis.com`.
    pub const DEFAULT_BASE_URL: &'static str = "https://generativelanguage.googleapis.com";
    /// The environment variable the API key is read from first: `GEMINI_API_KEY`.
    pub const API_KEY_VAR: &'static str = "GEMINI_API_KEY";
    /// The environment variable the API key is read from when `GEMINI_API_KEY` is not set:
    /// `GOOGLE_API_KEY`.
    pub const FALLBACK_API_KEY_VAR: &'static str = "GOOGLE_API_KEY";
    /// The environment variable the base URL is read from: `GEMINI_BASE_URL`.
    pub const BASE_URL_VAR: &'static str = "GEMINI_BASE_URL";

    /// A client for `model_name` with the builder's defaults: key and base URL from the
    /// environment, the default timeouts, a new session. `temperature` is a number, or `None`
    /// to leave it to the server.
    ///
    /// Never fails: a missing key is reported by the first request.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::GeminiClient;
    ///
    /// let client = GeminiClient::new("models/gemini-2.5-flash", 0.2);
    /// assert_eq!(client.model_name(), "models/gemini-2.5-flash");
    /// ```
    pub fn new(model_name: impl Into<String>, temperature: impl Into<Option<f64>>) -> Self {
        GeminiClient::builder(model_name, temperature).build()
    }

    /// A builder for the key, base URL, headers, timeouts and session.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::GeminiClient;
    ///
    /// let client = GeminiClient::builder("gemini-2.5-flash", None)
    ///     .api_key("AIza-example")
    ///     .base_url("https://gateway.example.com/google/")
    ///     .build();
    /// assert_eq!(client.base_url(), "https://gateway.example.com/google");
    /// assert!(!format!("{client:?}").contains("AIza-example"));
    /// ```
    pub fn builder(
        model_name: impl Into<String>,
        temperature: impl Into<Option<f64>>,
    ) -> GeminiClientBuilder {
        GeminiClientBuilder {
            model: model_name.into(),
            temperature: temperature.into(),
            settings: Settings::default(),
        }
    }

    /// The model the client asks for, as it was given.
    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// The sampling temperature sent, or `None` when the server's default applies.
    pub fn temperature(&self) -> Option<f64> {
        self.temperature
    }

    /// The base URL, without a trailing slash. Requests go to
    /// `{base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse`.
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

    /// The streaming request for `messages`, ready to send:
    /// `POST {base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse` with the JSON
    /// body, the `x-goog-api-key` header, the extra headers and the timeouts. Send it with
    /// [`events_decoded`](RequestBuilder::events_decoded) and a [`GeminiDecoder`] to get a
    /// [`Pending`](crate::Pending) handle without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::MissingApiKey`] when the key is required (see the [type docs](Self)) and
    /// absent.
    pub fn chat_request(&self, messages: &[Message]) -> Result<RequestBuilder, Error> {
        let mut system = Vec::new();
        let mut contents = Vec::new();
        for message in messages {
            let role = message.role.as_str();
            let part = TextPart {
                text: &message.content,
            };
            if role.eq_ignore_ascii_case("system") {
                system.push(part);
            } else {
                let role = if role.eq_ignore_ascii_case("assistant") {
                    "model"
                } else {
                    role
                };
                contents.push(Content {
                    role,
                    parts: [part],
                });
            }
        }
        let body = GenerateRequest {
            contents,
            system_instruction: (!system.is_empty()).then_some(SystemInstruction { parts: system }),
            generation_config: self
                .temperature
                .map(|temperature| GenerationConfig { temperature }),
        };
        let url = format!(
            "{}/v1beta/{}:streamGenerateContent",
            self.base_url(),
            model_path(&self.model)
        );
        Ok(self.connection.post(url, &body)?.query("alt", "sse"))
    }

    /// Sends `messages` and returns the raw events once the response headers are in: each
    /// event's [`data`](crate::sse::Event::data) is a `GenerateContentResponse` as JSON. Most
    /// callers want [`stream_chat`](Self::stream_chat) instead.
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
    /// response headers are in. The events are decoded by [`GeminiDecoder`] on the worker.
    ///
    /// # Errors
    ///
    /// As [`perform_stream_request`](Self::perform_stream_request); errors while streaming
    /// are items of the stream.
    pub fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        self.chat_request(messages)?
            .events_decoded(StreamOptions::default(), GeminiDecoder::new())
            .result()
            .map(ChatStream::new)
    }
}

impl ChatClient for GeminiClient {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        GeminiClient::stream_chat(self, messages)
    }
}

/// The model's path under `v1beta/`: `models/{name}` or `tunedModels/{name}`, the name
/// percent-encoded as one segment.
fn model_path(model: &str) -> String {
    let model = model.trim();
    let (collection, name) = match model.split_once('/') {
        Some((collection @ ("models" | "tunedModels"), name)) => (collection, name),
        _ => ("models", model),
    };
    format!("{collection}/{}", encode_segment(name))
}

/// Builds a [`GeminiClient`]; made by [`GeminiClient::builder`].
///
/// | setting | default |
/// |---|---|
/// | [`api_key`](Self::api_key) | `GEMINI_API_KEY`, else `GOOGLE_API_KEY`, else none |
/// | [`base_url`](Self::base_url) | `GEMINI_BASE_URL`, else `https://generativelanguage.googleapis.com` |
/// | [`header`](Self::header) | none |
/// | [`timeout`](Self::timeout) | [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT), 120 s until the headers |
/// | [`read_timeout`](Self::read_timeout) | [`DEFAULT_READ_TIMEOUT`](super::DEFAULT_READ_TIMEOUT), 300 s of silence |
/// | [`session`](Self::session) | a new [`FuturesSession`] (8 workers) |
/// | [`env`](Self::env) | the process environment |
#[derive(Debug)]
pub struct GeminiClientBuilder {
    model: String,
    temperature: Option<f64>,
    settings: Settings,
}

connection_setters!(
    GeminiClientBuilder,
    key_vars: "`GEMINI_API_KEY`, else `GOOGLE_API_KEY`",
    key_header: "`x-goog-api-key: <key>` (never in the URL)",
    base_var: "GEMINI_BASE_URL",
    default_base: "`https://generativelanguage.googleapis.com`",
    endpoint: "`{base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse`",
);

impl GeminiClientBuilder {
    /// The client. Reads the environment for what was not set; never fails.
    pub fn build(self) -> GeminiClient {
        GeminiClient {
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
    fn model_paths_drop_the_models_prefix_and_encode_the_name() {
        assert_eq!(model_path("gemini-2.5-flash"), "models/gemini-2.5-flash");
        assert_eq!(
            model_path(" models/gemini-2.5-flash "),
            "models/gemini-2.5-flash"
        );
        assert_eq!(model_path("tunedModels/my-model"), "tunedModels/my-model");
        assert_eq!(model_path("odd/name?x#y"), "models/odd%2Fname%3Fx%23y");
        assert_eq!(model_path("models/a:b"), "models/a%3Ab");
    }

    #[test]
    fn the_key_falls_back_to_google_api_key() {
        let env = |name: &str| (name == "GOOGLE_API_KEY").then(|| "AIza-fallback".to_string());
        assert!(GeminiClient::builder("m", None)
            .env(env)
            .build()
            .has_api_key());
        let client = GeminiClient::builder("m", None).env(|_| None).build();
        assert!(matches!(
            client.chat_request(&[Message::user("hi")]),
            Err(Error::MissingApiKey {
                var: "GEMINI_API_KEY or GOOGLE_API_KEY"
            })
        ));
    }

    #[test]
    fn client_is_send_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<GeminiClient>();
    }
}
