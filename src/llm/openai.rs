//! `OpenAIClient`: streaming chat completions from OpenAI and every server that speaks its API.

use std::fmt;
use std::time::Duration;

use super::config::{process_env, EnvLookup};
use super::{ChatClient, ChatStream, Message};
use crate::config::header_names;
use crate::redact_url;
use crate::sse::{EventStream, StreamOptions};
use crate::{Error, FuturesSession, RequestBuilder};

mod decoder;

pub use decoder::OpenAIDecoder;

/// OpenAI's API root, the base URL when neither the builder nor `OPENAI_BASE_URL` sets one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The environment variable the API key is read from: `OPENAI_API_KEY`.
pub const API_KEY_VAR: &str = "OPENAI_API_KEY";
/// The environment variable the base URL is read from: `OPENAI_BASE_URL`.
pub const BASE_URL_VAR: &str = "OPENAI_BASE_URL";
/// How long a request may wait for the response headers once it is sent: 120 seconds. Local
/// servers load the model before they answer, which can take a minute on a cold start.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest silence allowed between two reads of a streamed answer: 300 seconds. Reasoning
/// models can think for minutes before their first word, and not every server sends keep-alive
/// comments meanwhile.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// A streaming client for the OpenAI chat completions API and compatible servers: the port of
/// tinychat's `OpenAIClient`.
///
/// The key comes from `OPENAI_API_KEY` and the base URL from `OPENAI_BASE_URL` (default
/// [`DEFAULT_BASE_URL`]), both read when the client is built and both overridable on the
/// [builder](OpenAIClientBuilder). Setting the base URL is all it takes to use Ollama
/// (`http://localhost:11434/v1`), vLLM, llama.cpp's server, Mistral, Together, Groq or
/// OpenRouter.
///
/// **API key.** A missing key is an [`Error::MissingApiKey`] naming `OPENAI_API_KEY`, returned
/// by the request, not by the constructor, and only when the base URL is OpenAI's own. Against
/// any other base URL a client without a key sends no `Authorization` header, since local
/// servers need none; a hosted service that wants one answers 401 ([`Error::Status`]). The key
/// is never shown: not in `Debug` output, not in errors.
///
/// **Timeouts.** Each request carries its own: [`DEFAULT_TIMEOUT`] (120 s) until the response
/// headers are in and [`DEFAULT_READ_TIMEOUT`] (300 s) of silence at most while the answer
/// streams, so a shared session needs no settings of its own. A stream has no total time
/// limit.
///
/// **Threads.** Requests run on the client's [`FuturesSession`] (a new one with 8 workers unless
/// the builder is given one); each open stream holds one worker. Clones share the session.
///
/// # Examples
///
/// ```no_run
/// use ureq_futures::llm::{Message, OpenAIClient};
/// use std::io::Write;
///
/// let client = OpenAIClient::new("gpt-4o-mini", 0.7);
/// let messages = [Message::system("Be brief."), Message::user("Why is the sky blue?")];
/// for piece in client.stream_chat(&messages)? {
///     print!("{}", piece?);
///     std::io::stdout().flush().ok();
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Clone)]
pub struct OpenAIClient {
    model: String,
    temperature: Option<f64>,
    api_key: Option<String>,
    key_var: &'static str,
    key_required: bool,
    base_url: String,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    include_usage: bool,
    session: FuturesSession,
}

impl fmt::Debug for OpenAIClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key and header values are credentials: never shown.
        f.debug_struct("OpenAIClient")
            .field("model", &self.model)
            .field("temperature", &self.temperature)
            .field("base_url", &redact_url(&self.base_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("headers", &header_names(&self.headers))
            .field("timeout", &self.timeout)
            .field("read_timeout", &self.read_timeout)
            .field("include_usage", &self.include_usage)
            .finish()
    }
}

/// The request body. The field order is the one OpenAI documents.
#[derive(serde::Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptionsBody>,
}

#[derive(serde::Serialize)]
struct StreamOptionsBody {
    include_usage: bool,
}

impl OpenAIClient {
    /// A client for `model_name` with the builder's defaults: key and base URL from the
    /// environment, [`DEFAULT_TIMEOUT`], [`DEFAULT_READ_TIMEOUT`], a new session.
    /// `temperature` is a number, or `None` to leave it to the server (some reasoning models
    /// accept only their default).
    ///
    /// Never fails: a missing key is reported by the first request.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::OpenAIClient;
    ///
    /// let client = OpenAIClient::new("gpt-4o-mini", 0.0);
    /// assert_eq!(client.model_name(), "gpt-4o-mini");
    /// let default_temperature = OpenAIClient::new("o3-mini", None);
    /// assert_eq!(default_temperature.temperature(), None);
    /// ```
    pub fn new(model_name: impl Into<String>, temperature: impl Into<Option<f64>>) -> Self {
        OpenAIClient::builder(model_name, temperature).build()
    }

    /// A builder for the key, base URL, headers, timeouts and session.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::llm::OpenAIClient;
    /// use ureq_futures::FuturesSession;
    ///
    /// let session = FuturesSession::builder().max_workers(4).build();
    /// let client = OpenAIClient::builder("llama3.2", 0.2)
    ///     .base_url("http://localhost:11434/v1/")
    ///     .header("x-trace", "demo")
    ///     .read_timeout(Some(Duration::from_secs(600)))
    ///     .session(session)
    ///     .build();
    /// assert_eq!(client.base_url(), "http://localhost:11434/v1");
    /// ```
    pub fn builder(
        model_name: impl Into<String>,
        temperature: impl Into<Option<f64>>,
    ) -> OpenAIClientBuilder {
        OpenAIClientBuilder::new(model_name.into(), temperature.into())
    }

    /// The model the client asks for.
    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// The sampling temperature sent, or `None` when the server's default applies.
    pub fn temperature(&self) -> Option<f64> {
        self.temperature
    }

    /// The base URL, without a trailing slash. Requests go to `{base_url}/chat/completions`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether the client has an API key (from the builder or the environment).
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// The session the requests run on.
    pub fn session(&self) -> &FuturesSession {
        &self.session
    }

    /// The streaming request for `messages`, ready to send: `POST {base_url}/chat/completions`
    /// with the JSON body, the `Authorization: Bearer` header, the extra headers and the
    /// timeouts. Send it with [`events`](RequestBuilder::events) or
    /// [`events_decoded`](RequestBuilder::events_decoded) to get a [`Pending`](crate::Pending)
    /// handle without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::MissingApiKey`] when the key is required (see the [type docs](Self)) and absent.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use ureq_futures::llm::{ChatStream, Message, OpenAIClient, OpenAIDecoder};
    /// use ureq_futures::sse::StreamOptions;
    ///
    /// let client = OpenAIClient::new("gpt-4o-mini", 0.7);
    /// let pending = client
    ///     .chat_request(&[Message::user("hello")])?
    ///     .events_decoded(StreamOptions::default(), OpenAIDecoder::new());
    /// // ... other work while the request is in flight ...
    /// let stream = ChatStream::new(pending.result()?);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn chat_request(&self, messages: &[Message]) -> Result<RequestBuilder, Error> {
        let mut request = self
            .session
            .post(format!("{}/chat/completions", self.base_url))
            .json(&ChatRequest {
                model: &self.model,
                messages,
                temperature: self.temperature,
                stream: true,
                stream_options: self.include_usage.then_some(StreamOptionsBody {
                    include_usage: true,
                }),
            });
        let own_auth = self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        match (&self.api_key, self.key_required && !own_auth) {
            (Some(key), _) if !own_auth => {
                request = request.header("authorization", format!("Bearer {key}"))
            }
            (None, true) => return Err(Error::MissingApiKey { var: self.key_var }),
            _ => {}
        }
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(d) = self.timeout {
            request = request.timeout(d);
        }
        if let Some(d) = self.read_timeout {
            request = request.read_timeout(d);
        }
        Ok(request)
    }

    /// Sends `messages` and returns the raw events once the response headers are in: the
    /// `chat.completion.chunk` objects as text, then `[DONE]`, as tinychat's tests read them.
    /// Most callers want [`stream_chat`](Self::stream_chat) instead.
    ///
    /// # Errors
    ///
    /// A non-2xx answer is an [`Error::Status`] whose message contains
    /// `Server responded with an error. Status Code: <code>` and whose
    /// [`body`](crate::StatusError::body) holds the start of the server's error body. Also
    /// [`Error::MissingApiKey`], transport errors and timeouts.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use ureq_futures::llm::{Message, OpenAIClient};
    ///
    /// let client = OpenAIClient::new("gpt-4o-mini", 0.0);
    /// for event in client.perform_stream_request(&[Message::user("hello")])? {
    ///     let event = event?;
    ///     if event.data != "[DONE]" {
    ///         let chunk: serde_json::Value = serde_json::from_str(&event.data)?;
    ///         print!("{}", chunk["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
    ///     }
    /// }
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn perform_stream_request(&self, messages: &[Message]) -> Result<EventStream, Error> {
        self.chat_request(messages)?.events().result()
    }

    /// Sends `messages` and returns the answer as a [`ChatStream`] of text pieces once the
    /// response headers are in. The chunks are decoded by [`OpenAIDecoder`] on the worker.
    ///
    /// # Errors
    ///
    /// As [`perform_stream_request`](Self::perform_stream_request); errors while streaming are
    /// items of the stream.
    pub fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        self.chat_request(messages)?
            .events_decoded(StreamOptions::default(), OpenAIDecoder::new())
            .result()
            .map(ChatStream::new)
    }
}

impl ChatClient for OpenAIClient {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        OpenAIClient::stream_chat(self, messages)
    }
}

/// Builds an [`OpenAIClient`]; made by [`OpenAIClient::builder`], and by the presets
/// ([`MistralClient::builder`](super::MistralClient::builder),
/// [`TogetherClient::builder`](super::TogetherClient::builder)), which read their own variables
/// and default to their own base URL instead of OpenAI's.
///
/// | setting | default |
/// |---|---|
/// | [`api_key`](Self::api_key) | `OPENAI_API_KEY` (or the preset's variable), else none |
/// | [`base_url`](Self::base_url) | `OPENAI_BASE_URL` (or the preset's variable), else [`DEFAULT_BASE_URL`] (or the preset's) |
/// | [`header`](Self::header) | none |
/// | [`timeout`](Self::timeout) | [`DEFAULT_TIMEOUT`], 120 s until the headers |
/// | [`read_timeout`](Self::read_timeout) | [`DEFAULT_READ_TIMEOUT`], 300 s of silence |
/// | [`include_usage`](Self::include_usage) | `false` |
/// | [`session`](Self::session) | a new [`FuturesSession`] (8 workers) |
/// | [`env`](Self::env) | the process environment |
pub struct OpenAIClientBuilder {
    model: String,
    temperature: Option<f64>,
    api_key: Option<String>,
    base_url: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    include_usage: bool,
    session: Option<FuturesSession>,
    env: EnvLookup,
    key_var: &'static str,
    base_var: &'static str,
    default_base: &'static str,
}

impl fmt::Debug for OpenAIClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAIClientBuilder")
            .field("model", &self.model)
            .field("temperature", &self.temperature)
            .field("base_url", &self.base_url.as_deref().map(redact_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("headers", &header_names(&self.headers))
            .field("timeout", &self.timeout)
            .field("read_timeout", &self.read_timeout)
            .field("include_usage", &self.include_usage)
            .finish()
    }
}

impl OpenAIClientBuilder {
    fn new(model: String, temperature: Option<f64>) -> Self {
        OpenAIClientBuilder {
            model,
            temperature,
            api_key: None,
            base_url: None,
            headers: Vec::new(),
            timeout: Some(DEFAULT_TIMEOUT),
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            include_usage: false,
            session: None,
            env: process_env(),
            key_var: API_KEY_VAR,
            base_var: BASE_URL_VAR,
            default_base: DEFAULT_BASE_URL,
        }
    }

    /// The same builder reading other variables and defaulting to another base URL, for
    /// OpenAI-compatible services with their own names (`MISTRAL_API_KEY`...). The key is
    /// required when the base URL is `default_base`.
    pub(crate) fn with_env_names(
        mut self,
        key_var: &'static str,
        base_var: &'static str,
        default_base: &'static str,
    ) -> Self {
        self.key_var = key_var;
        self.base_var = base_var;
        self.default_base = default_base;
        self
    }

    /// The API key, sent as `Authorization: Bearer <key>`. Surrounding whitespace is removed;
    /// an empty key counts as none. Defaults to the value of `OPENAI_API_KEY` (or the preset's
    /// variable, such as `MISTRAL_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API root; requests go to `{base_url}/chat/completions`. A trailing slash is removed.
    /// Defaults to the value of `OPENAI_BASE_URL`, else [`DEFAULT_BASE_URL`] (or the preset's
    /// variable and base URL, such as `MISTRAL_BASE_URL` and
    /// [`MistralClient::DEFAULT_BASE_URL`](super::MistralClient::DEFAULT_BASE_URL)).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// A header sent with every request (`OpenAI-Organization`, OpenRouter's `HTTP-Referer`...).
    /// Its value is never shown in `Debug` output. An `Authorization` header set here replaces
    /// the key's, for servers with another scheme; no key is then required. Defaults to none.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long a request may wait for the response headers once it is sent (connecting is
    /// bounded by the session's [`connect_timeout`](crate::SessionBuilder::connect_timeout)).
    /// `None` leaves it to the [session](Self::session)'s
    /// [`timeout`](crate::SessionBuilder::timeout). Defaults to [`DEFAULT_TIMEOUT`] (120 s).
    pub fn timeout(mut self, d: Option<Duration>) -> Self {
        self.timeout = d;
        self
    }

    /// The longest silence allowed between two reads while the answer streams; past it the
    /// stream ends with [`Error::Timeout`]. Keep-alive comments count as reads. `None` leaves it
    /// to the session's [`read_timeout`](crate::SessionBuilder::read_timeout). Defaults to
    /// [`DEFAULT_READ_TIMEOUT`] (300 s).
    pub fn read_timeout(mut self, d: Option<Duration>) -> Self {
        self.read_timeout = d;
        self
    }

    /// Whether to ask for token counts (`"stream_options": {"include_usage": true}`), readable
    /// with [`ChatStream::usage`]. Some compatible servers reject the field. Defaults to
    /// `false`.
    pub fn include_usage(mut self, yes: bool) -> Self {
        self.include_usage = yes;
        self
    }

    /// The session to run requests on, to share its workers and connections with other
    /// clients. Its timeouts apply only where the client's are `None`. Defaults to a new
    /// [`FuturesSession`] with 8 workers.
    pub fn session(mut self, session: FuturesSession) -> Self {
        self.session = Some(session);
        self
    }

    /// Where `OPENAI_API_KEY` and `OPENAI_BASE_URL` (or the preset's variables) are looked up
    /// when the client is built. Pass `|_| None` to ignore the environment, or a map's lookup
    /// for configuration read from elsewhere. Defaults to the process environment.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{Message, OpenAIClient};
    /// use ureq_futures::Error;
    ///
    /// let client = OpenAIClient::builder("gpt-4o-mini", 0.0).env(|_| None).build();
    /// let err = client.stream_chat(&[Message::user("hi")]).unwrap_err();
    /// assert!(matches!(err, Error::MissingApiKey { var: "OPENAI_API_KEY" }));
    /// ```
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Box::new(lookup);
        self
    }

    /// The client. Reads the environment for what was not set; never fails.
    pub fn build(self) -> OpenAIClient {
        let non_empty = |s: String| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        };
        let api_key = self
            .api_key
            .or_else(|| (self.env)(self.key_var))
            .and_then(non_empty);
        let base_url = self
            .base_url
            .or_else(|| (self.env)(self.base_var))
            .and_then(non_empty)
            .map(|url| url.trim_end_matches('/').to_string())
            .unwrap_or_else(|| self.default_base.to_string());
        let key_required = base_url.eq_ignore_ascii_case(self.default_base);
        OpenAIClient {
            model: self.model,
            temperature: self.temperature,
            api_key,
            key_var: self.key_var,
            key_required,
            base_url,
            headers: self.headers,
            timeout: self.timeout,
            read_timeout: self.read_timeout,
            include_usage: self.include_usage,
            session: self.session.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_required_only_at_the_default_base() {
        let no_env = |_: &str| None;
        let client = OpenAIClient::builder("m", 0.0).env(no_env).build();
        assert!(matches!(
            client.chat_request(&[]),
            Err(Error::MissingApiKey {
                var: "OPENAI_API_KEY"
            })
        ));
        let local = OpenAIClient::builder("m", 0.0)
            .env(no_env)
            .base_url("http://localhost:11434/v1/")
            .build();
        assert!(local.chat_request(&[]).is_ok());
        assert_eq!(local.base_url(), "http://localhost:11434/v1");
    }

    #[test]
    fn an_own_authorization_header_needs_no_key() {
        let client = OpenAIClient::builder("m", 0.0)
            .env(|_| None)
            .header("authorization", "Basic abc")
            .build();
        assert!(client.chat_request(&[]).is_ok());
    }

    #[test]
    fn the_environment_is_read_at_build_time() {
        let env = |name: &str| match name {
            "OPENAI_API_KEY" => Some(" sk-env \n".to_string()),
            "OPENAI_BASE_URL" => Some("http://env.example/v1//".to_string()),
            _ => None,
        };
        let client = OpenAIClient::builder("m", 0.0).env(env).build();
        assert!(client.has_api_key());
        assert_eq!(client.base_url(), "http://env.example/v1");
        let empty = OpenAIClient::builder("m", 0.0)
            .env(|_| Some(String::new()))
            .build();
        assert!(!empty.has_api_key());
        assert_eq!(empty.base_url(), DEFAULT_BASE_URL);
    }

    #[test]
    fn debug_hides_the_key_and_header_values() {
        let builder = OpenAIClient::builder("m", 0.0)
            .api_key("sk-very-secret")
            .header("x-api-key", "hidden-value")
            .env(|_| None);
        let text = format!("{builder:?}");
        assert!(
            !text.contains("sk-very-secret") && !text.contains("hidden-value"),
            "{text}"
        );
        let client = builder.build();
        let text = format!("{client:?}");
        assert!(
            !text.contains("sk-very-secret") && !text.contains("hidden-value"),
            "{text}"
        );
        assert!(
            text.contains("x-api-key") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn client_is_send_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<OpenAIClient>();
    }
}
