//! The one client core every provider plugs into: [`Client`] and [`ClientBuilder`], generic
//! over a [`Protocol`] (the provider's wire format).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::request::{merge_extra, ResponseFormat};
use super::stream::QueueWait;
use super::{ChatClient, ChatEvent, ChatRequest, ChatResponse, ChatStream, Message, PendingChat};
use crate::config::header_names;
use crate::sse::{Decode, EventStream, StreamOptions};
use crate::{redact_url, Error, FuturesSession, Pending, RequestBuilder, RetryPolicy};

pub(crate) use sealed::Provider;

/// The [`Provider`] whose variables are `{PREFIX}_API_KEY` and `{PREFIX}_BASE_URL`, with
/// its default base URL and key header (see the fields).
macro_rules! provider {
    ($prefix:literal, $default_base:expr, $key_header:expr) => {
        $crate::llm::client::Provider {
            key_var: concat!($prefix, "_API_KEY"),
            fallback_key_var: None,
            key_label: concat!($prefix, "_API_KEY"),
            base_var: concat!($prefix, "_BASE_URL"),
            default_base: $default_base,
            key_header: $key_header,
        }
    };
}

pub(crate) use provider;

/// The budget of a request from its start until the response headers are in (name resolution,
/// connect and sending included; for an embeddings request, which is read whole, until its last
/// byte): 120 seconds. Local servers load the model
/// before they answer, which can take a minute on a cold start.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ureq_futures::llm::DEFAULT_TIMEOUT;
///
/// assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(120));
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest silence allowed between two reads of a streamed answer: 300 seconds. Reasoning
/// models can think for minutes before their first word, and not every server sends keep-alive
/// comments meanwhile.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::DEFAULT_READ_TIMEOUT;
///
/// assert_eq!(DEFAULT_READ_TIMEOUT.as_secs(), 5 * 60);
/// ```
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Reads the environment for a builder: a variable's name in, its value out.
type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub(crate) mod sealed {
    use super::*;

    /// How a provider names its settings and sends its key.
    #[derive(Debug)]
    pub struct Provider {
        /// The variable the key is read from.
        pub(crate) key_var: &'static str,
        /// The variable the key is read from when `key_var` is not set.
        pub(crate) fallback_key_var: Option<&'static str>,
        /// What a missing key's error names: the variable(s) to set.
        pub(crate) key_label: &'static str,
        /// The variable the base URL is read from.
        pub(crate) base_var: &'static str,
        /// The base URL when neither the builder nor the environment sets one. The key is required
        /// there (and only there: a proxy or a local server may need none).
        pub(crate) default_base: &'static str,
        /// The header the key travels in: `None` for `Authorization: Bearer <key>`, else its name
        /// (`x-api-key`), the key as its value.
        pub(crate) key_header: Option<&'static str>,
    }

    /// What a provider plugs into the core: its wire format. Implemented by the protocol values
    /// ([`OpenAI`](crate::llm::OpenAI), [`Anthropic`](crate::llm::Anthropic)...).
    pub trait Wire: Clone + Default + fmt::Debug + Send + Sync + 'static {
        /// The decoder of the answer, run on the worker.
        type Decoder: Decode<Item = Vec<ChatEvent>> + Default;
        /// Where the key and the base URL come from.
        const PROVIDER: &'static Provider;
        /// Headers every request carries unless the builder sets one of the same name.
        const HEADERS: &'static [(&'static str, &'static str)] = &[];

        /// The URL of a streamed chat under `base_url` (no trailing slash; a query it has goes
        /// after the endpoint's path) for `model`.
        fn url(&self, base_url: &str, model: &str) -> String;

        /// The JSON body for `request` from `client`, at the request's temperature, else the
        /// client's. The core merges in the request's [`extra`](ChatRequest::extra) fields.
        fn body(client: &Client<Self>, request: &ChatRequest) -> Result<Value, Error>;

        /// How the answer is framed. Defaults to Server-Sent Events.
        fn stream_options(&self) -> StreamOptions {
            StreamOptions::default()
        }

        /// Sends `http` and decodes its answer on the worker, with a new
        /// [`Decoder`](Self::Decoder) unless the protocol picks another (Cohere's API version).
        fn events(&self, http: RequestBuilder) -> Pending<EventStream<Vec<ChatEvent>>> {
            http.events_decoded(self.stream_options(), Self::Decoder::default())
        }
    }
}

/// A provider's wire format, the type parameter of [`Client`]: [`OpenAI`](super::OpenAI),
/// [`Anthropic`](super::Anthropic), [`Gemini`](super::Gemini), [`Cohere`](super::Cohere),
/// [`Mistral`](super::Mistral), [`Together`](super::Together).
///
/// A protocol value holds the provider's own settings (Anthropic's `max_tokens`...), set on
/// its [`ClientBuilder`]. The trait is sealed: it is implemented in this crate only.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Client, Message, Protocol};
///
/// // Code written once for every provider's client.
/// fn ask<P: Protocol>(client: &Client<P>, question: &str) -> Result<String, ureq_futures::Error> {
///     client.stream_chat(&[Message::user(question)])?.collect()
/// }
/// # let _ = ask::<ureq_futures::llm::OpenAI>;
/// # let _ = ask::<ureq_futures::llm::Anthropic>;
/// ```
pub trait Protocol: sealed::Wire {}

impl<P: sealed::Wire> Protocol for P {}

/// A streaming chat client: one model at one provider, with its key, base URL, headers,
/// timeouts and session. Every provider's client is one of these: [`OpenAIClient`],
/// [`AnthropicClient`], [`GeminiClient`], [`CohereClient`], [`MistralClient`],
/// [`TogetherClient`] are `Client<P>` for their [`Protocol`] `P`.
///
/// **Why generic** rather than one client type holding a provider value: a provider's own
/// settings (Anthropic's `max_tokens`, Cohere's API version, OpenAI's `include_usage`) then
/// exist on its builder only, and each provider's client is a type of its own; choosing the
/// provider at run time still works through `Box<dyn ChatClient>`.
///
/// **Settings** come from the [builder](ClientBuilder); the key and the base URL are read from
/// the provider's environment variables when the client is built (see the
/// [module docs](super#providers) for the variables).
///
/// **API key.** A missing key is an [`Error::MissingApiKey`] naming the variable(s) to set,
/// returned by the request, not by the constructor, and only when the base URL is at the
/// provider's own host (`https://api.anthropic.com`, or `.../v1`, any path; or a host under it,
/// as OpenAI's regional `https://eu.api.openai.com/v1`). Against any other
/// host a client without a key sends no key header,
/// since local servers and proxies may need none; a hosted service that wants one answers 401
/// ([`Error::Status`]). The key is never shown: not in `Debug` output, not in errors (a
/// server's error that repeats it, as some gateways do, has it replaced by `<redacted>` in the
/// errors of the client's own methods; a request sent with [`http_request`](Self::http_request)
/// gets the session's errors, as they come). A key of fewer than 8 bytes is not looked for in
/// errors: it would hide ordinary words (no provider's key is that short).
///
/// **Timeouts.** Each request carries its own: [`DEFAULT_TIMEOUT`] (120 s) until the response
/// headers are in (for embeddings, until the whole answer is) and [`DEFAULT_READ_TIMEOUT`]
/// (300 s) of silence at most while the answer streams, so a shared session needs no settings
/// of its own. A stream has no total time limit.
///
/// **Threads.** Requests run on the client's [`FuturesSession`] (a new one with 8 workers unless
/// the builder is given one); each open stream holds one worker until it is read to its end or
/// dropped. Clones share the session. A thread that holds eight unread streams and asks for a
/// ninth, which no worker would ever start, gets an [`Error::Timeout`] that says so once the
/// `timeout` has passed, the chat unsent (see [`PendingChat::result`] for when).
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
/// use ureq_futures::llm::{ChatRequest, Message, OpenAIClient};
///
/// // A local OpenAI-compatible server (Ollama, llama.cpp...) needs no key.
/// let client = OpenAIClient::builder("llama3.2", 0.7).base_url(format!("{base}/v1")).build();
/// let messages = [Message::system("Be brief."), Message::user("Say hello.")];
/// let mut stream = client.stream_chat(&messages)?;
/// assert_eq!(stream.by_ref().collect::<Result<String, _>>()?, "Hello!");
/// assert_eq!(stream.finish_reason(), Some("stop"));
/// // Or the whole answer at once.
/// let answer = client.complete(&ChatRequest::new().user("Say hello."))?;
/// assert_eq!(answer.text, "Hello!");
/// # Ok::<(), ureq_futures::Error>(())
/// ```
///
/// [`OpenAIClient`]: super::OpenAIClient
/// [`AnthropicClient`]: super::AnthropicClient
/// [`GeminiClient`]: super::GeminiClient
/// [`CohereClient`]: super::CohereClient
/// [`MistralClient`]: super::MistralClient
/// [`TogetherClient`]: super::TogetherClient
#[derive(Clone)]
pub struct Client<P: Protocol> {
    pub(crate) settings: Settings<P>,
    api_key: Option<String>,
    base_url: String,
    session: FuturesSession,
    /// What a 401 adds when the client sends no key (see [`Client::keyless_note`]): known
    /// once the client is built.
    keyless: Option<Arc<str>>,
}

/// What a [`Client`] and its [`ClientBuilder`] hold alike: set on the builder and moved into
/// the client as they are (the key, base URL and session are resolved by
/// [`build`](ClientBuilder::build)).
#[derive(Clone)]
pub(crate) struct Settings<P> {
    model: String,
    temperature: Option<f64>,
    pub(crate) protocol: P,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
}

impl<P: fmt::Debug> Settings<P> {
    /// Adds the settings to a client's or builder's `Debug` output: header names only, as the
    /// values may be credentials.
    fn fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("model", &self.model)
            .field("temperature", &self.temperature)
            .field("protocol", &self.protocol)
            .field("headers", &header_names(&self.headers))
            .field("timeout", &self.timeout)
            .field("read_timeout", &self.read_timeout)
            .field("retry", &self.retry);
    }
}

impl<P: Protocol> fmt::Debug for Client<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key and header values are credentials: never shown.
        let mut d = f.debug_struct("Client");
        self.settings.fields(&mut d);
        d.field("base_url", &redact_url(&self.base_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl<P: Protocol> Client<P> {
    /// The provider's API root, the base URL when neither the builder nor the base URL variable
    /// sets one (`https://api.anthropic.com` for [`AnthropicClient`](super::AnthropicClient)...). The key is required
    /// there.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::AnthropicClient;
    ///
    /// assert_eq!(AnthropicClient::DEFAULT_BASE_URL, "https://api.anthropic.com");
    /// // Without ANTHROPIC_BASE_URL (here: no environment at all), the client talks to it.
    /// let client = AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).build();
    /// assert_eq!(client.base_url(), AnthropicClient::DEFAULT_BASE_URL);
    /// ```
    pub const DEFAULT_BASE_URL: &'static str = P::PROVIDER.default_base;
    /// The environment variable the API key is read from (`ANTHROPIC_API_KEY` for
    /// [`AnthropicClient`](super::AnthropicClient)...).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::CohereClient;
    ///
    /// assert_eq!(CohereClient::API_KEY_VAR, "COHERE_API_KEY");
    /// let env = |name: &str| (name == CohereClient::API_KEY_VAR).then(|| "co-...".to_string());
    /// assert!(CohereClient::builder("command-a-03-2025", None).env(env).build().has_api_key());
    /// ```
    pub const API_KEY_VAR: &'static str = P::PROVIDER.key_var;
    /// The environment variable the base URL is read from (`ANTHROPIC_BASE_URL` for
    /// [`AnthropicClient`](super::AnthropicClient)...).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::GeminiClient;
    ///
    /// assert_eq!(GeminiClient::BASE_URL_VAR, "GEMINI_BASE_URL");
    /// // A proxy in front of the API, named by the variable (from a closure here).
    /// let env = |var: &str| (var == GeminiClient::BASE_URL_VAR).then(|| "http://localhost:4000/".into());
    /// let client = GeminiClient::builder("gemini-2.5-flash", None).env(env).build();
    /// assert_eq!(client.base_url(), "http://localhost:4000");
    /// ```
    pub const BASE_URL_VAR: &'static str = P::PROVIDER.base_var;

    /// A client for `model_name` with the builder's defaults: key and base URL from the
    /// environment, [`DEFAULT_TIMEOUT`], [`DEFAULT_READ_TIMEOUT`],
    /// [`RetryPolicy::llm()`](crate::RetryPolicy::llm), a new session.
    /// `temperature` is a number, or `None` to leave it to the server (some reasoning models
    /// accept only their default).
    ///
    /// Never fails: a missing key is reported by the first request.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # std::env::remove_var("OPENAI_API_KEY");
    /// # std::env::set_var("OPENAI_BASE_URL", format!("{base}/v1"));
    /// use ureq_futures::llm::{Message, OpenAIClient};
    ///
    /// // OPENAI_BASE_URL names a local server here, which needs no OPENAI_API_KEY.
    /// let client = OpenAIClient::new("llama3.2", 0.7);
    /// let text = client.stream_chat(&[Message::user("Say hello.")])?.collect::<Result<String, _>>()?;
    /// assert_eq!(text, "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new(model_name: impl Into<String>, temperature: impl Into<Option<f64>>) -> Self {
        Client::builder(model_name, temperature).build()
    }

    /// A builder for the key, base URL, headers, timeouts, session and the provider's own
    /// settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::OpenAIClient;
    /// use ureq_futures::FuturesSession;
    ///
    /// let client = OpenAIClient::builder("llama3.2", 0.2)
    ///     .env(|_| None)
    ///     .base_url("http://localhost:11434/v1/")
    ///     .session(FuturesSession::builder().max_workers(4).build())
    ///     .build();
    /// assert_eq!(client.base_url(), "http://localhost:11434/v1");
    /// assert_eq!(client.session().max_workers(), 4);
    /// ```
    pub fn builder(
        model_name: impl Into<String>,
        temperature: impl Into<Option<f64>>,
    ) -> ClientBuilder<P> {
        ClientBuilder {
            settings: Settings {
                model: model_name.into(),
                temperature: temperature.into(),
                protocol: P::default(),
                headers: Vec::new(),
                timeout: Some(DEFAULT_TIMEOUT),
                read_timeout: Some(DEFAULT_READ_TIMEOUT),
                retry: Some(RetryPolicy::llm()),
            },
            api_key: None,
            base_url: None,
            session: None,
            env: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// The model the client asks for, as it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::GeminiClient;
    ///
    /// // As given: the request's URL drops the `models/` prefix, the name keeps it.
    /// let client = GeminiClient::builder("models/gemini-2.5-flash", None).env(|_| None).build();
    /// assert_eq!(client.model_name(), "models/gemini-2.5-flash");
    /// ```
    pub fn model_name(&self) -> &str {
        &self.settings.model
    }

    /// The sampling temperature sent, or `None` when the server's default applies.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::OpenAIClient;
    ///
    /// let client = OpenAIClient::builder("gpt-4o-mini", 0.2).env(|_| None).build();
    /// assert_eq!(client.temperature(), Some(0.2));
    /// // Reasoning models take only their default: no `temperature` field is sent.
    /// assert_eq!(OpenAIClient::builder("o3-mini", None).env(|_| None).build().temperature(), None);
    /// ```
    pub fn temperature(&self) -> Option<f64> {
        self.settings.temperature
    }

    /// The base URL, without a trailing slash.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::OpenAIClient;
    ///
    /// // The builder's base URL wins over OPENAI_BASE_URL, without its trailing slash.
    /// let client = OpenAIClient::builder("llama3.2", None)
    ///     .env(|_| Some("http://proxy.internal/v1".to_string()))
    ///     .base_url("http://localhost:8080/v1/")
    ///     .build();
    /// assert_eq!(client.base_url(), "http://localhost:8080/v1");
    /// ```
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The temperature of `request`, else the client's.
    pub(crate) fn temperature_for(&self, request: &ChatRequest) -> Option<f64> {
        request.temperature.or(self.settings.temperature)
    }

    /// Whether the client has an API key (from the builder or the environment).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::AnthropicClient;
    ///
    /// let without = AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).build();
    /// assert!(!without.has_api_key());
    /// let blank = AnthropicClient::builder("claude-haiku-4-5", None).api_key("  ").build();
    /// assert!(!blank.has_api_key()); // an empty key counts as none
    /// ```
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// The session the requests run on.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/health", "text/plain", "ok")]);
    /// use ureq_futures::llm::OpenAIClient;
    ///
    /// let client = OpenAIClient::builder("llama3.2", None).env(|_| None).base_url(&base).build();
    /// // Other requests can run on the client's workers and connections.
    /// let health = client.session().get(format!("{base}/health")).send().result()?;
    /// assert_eq!(health.status(), 200);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn session(&self) -> &FuturesSession {
        &self.session
    }

    /// The streaming request for `messages`, ready to send: a `POST` to the provider's endpoint with the JSON body, the key's header, the provider's
    /// headers, the extra headers and the timeouts. Send it with
    /// [`events_decoded`](RequestBuilder::events_decoded) and the provider's decoder to get a
    /// [`Pending`](crate::Pending) handle without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::MissingApiKey`] when the key is required (see the [type docs](Self)) and absent;
    /// [`Error::InvalidRequest`] when the provider cannot express the request (an image for
    /// Cohere's v1 chat, a seed for Anthropic...), when the temperature or `top_p` is NaN or
    /// infinite, or when the request has no message, no system prompt and no extra field.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// use ureq_futures::llm::{ChatStream, Message, OpenAIClient, OpenAIDecoder};
    /// use ureq_futures::sse::StreamOptions;
    ///
    /// let client = OpenAIClient::builder("llama3.2", None)
    ///     .env(|_| None)
    ///     .base_url(format!("{base}/v1"))
    ///     .build();
    /// let pending = client
    ///     .chat_request(&[Message::user("Say hello.")])?
    ///     .events_decoded(StreamOptions::default(), OpenAIDecoder::new());
    /// // ... other work while the request is in flight ...
    /// let text: String = ChatStream::new(pending.result()?).collect::<Result<_, _>>()?;
    /// assert_eq!(text, "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn chat_request(&self, messages: &[Message]) -> Result<RequestBuilder, Error> {
        self.http_request(&ChatRequest::from(messages))
    }

    /// The streaming request for `request`, ready to send, as
    /// [`chat_request`](Self::chat_request) makes it for messages.
    ///
    /// # Errors
    ///
    /// As [`chat_request`](Self::chat_request).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// use ureq_futures::llm::{ChatRequest, ChatStream, OpenAIClient, OpenAIDecoder};
    /// use ureq_futures::sse::StreamOptions;
    ///
    /// let client = OpenAIClient::builder("llama3.2", None)
    ///     .env(|_| None) // not the shell's OPENAI_API_KEY, for this local server
    ///     .base_url(format!("{base}/v1"))
    ///     .build();
    /// let request = ChatRequest::new().user("Say hello.").max_tokens(20);
    /// // Send it without waiting, and add a header of this request only.
    /// let pending = client
    ///     .http_request(&request)?
    ///     .header("x-trace-id", "42")
    ///     .events_decoded(StreamOptions::default(), OpenAIDecoder::new());
    /// let text: String = ChatStream::new(pending.result()?).collect::<Result<_, _>>()?;
    /// assert_eq!(text, "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn http_request(&self, request: &ChatRequest) -> Result<RequestBuilder, Error> {
        // JSON has no NaN or infinity: serde_json would send `null`, which a server takes for
        // its default (or refuses with a message that does not say why).
        let numbers = [
            ("temperature", self.temperature_for(request)),
            ("top_p", request.top_p),
        ];
        if let Some((name, value)) = numbers
            .into_iter()
            .find_map(|(name, value)| Some((name, value.filter(|v| !v.is_finite())?)))
        {
            return Err(Error::InvalidRequest(format!(
                "the {name} {value} is not a finite number, which JSON cannot carry"
            )));
        }
        if let Some(ResponseFormat::JsonSchema { name, schema }) = &request.response_format {
            if !schema.is_object() {
                // Every provider answers 400, as to tool parameters that are not one.
                return Err(Error::InvalidRequest(format!(
                    "the JSON schema {name:?} is {schema}, not a JSON schema object: give \
                     json!({{\"type\": \"object\", \"properties\": {{...}}}})"
                )));
            }
        }
        // No provider answers a request of nothing (unless the extra fields carry it).
        if request.messages.is_empty() && request.system.is_none() && request.extra.is_empty() {
            return Err(Error::InvalidRequest(
                "the request has no messages: add one (ChatRequest::user) before sending".into(),
            ));
        }
        // The protocol's body, with the request's extra fields merged in.
        let mut body = P::body(self, request)?;
        merge_extra(&mut body, &request.extra);
        let url = self
            .settings
            .protocol
            .url(self.base_url(), &self.settings.model);
        self.post(url, &body)
    }

    /// Sends `messages` and returns the raw events once the response headers are in, as
    /// tinychat's tests read them: OpenAI's `chat.completion.chunk` objects then `[DONE]`,
    /// Anthropic's named events, Gemini's `GenerateContentResponse`s, Cohere's events. Most
    /// callers want [`stream_chat`](Self::stream_chat) instead.
    ///
    /// # Errors
    ///
    /// A non-2xx answer is an [`Error::Status`] whose message contains
    /// `Server responded with an error. Status Code: <code>` and whose
    /// [`body`](crate::StatusError::body) holds the start of the server's error body. Also the
    /// errors of [`chat_request`](Self::chat_request), transport errors and timeouts.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// use ureq_futures::llm::{Message, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("llama3.2", 0.0).base_url(format!("{base}/v1")).build();
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
        self.chat_request(messages)?
            .events_with(self.settings.protocol.stream_options())
            .result()
            .map_err(|e| self.hiding_key(e))
    }

    /// Sends `messages` and returns the answer as a [`ChatStream`] of text pieces once the
    /// response headers are in (a whole JSON answer of an OpenAI-compatible server that
    /// ignored `"stream": true`, once it is read). The answer is decoded on the worker by the
    /// provider's decoder.
    ///
    /// # Errors
    ///
    /// As [`perform_stream_request`](Self::perform_stream_request); errors while streaming are
    /// items of the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("401 Unauthorized", "", r#"{"error":{"message":"Incorrect API key provided"}}"#);
    /// use ureq_futures::llm::{Message, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("gpt-4o-mini", None).api_key("sk-bad").base_url(&base).build();
    /// // A refusal arrives before any text, with the server's status and message.
    /// let err = client.stream_chat(&[Message::user("Hi")]).unwrap_err();
    /// assert_eq!(err.status(), Some(401));
    /// assert!(err.to_string().contains("Incorrect API key provided"));
    /// ```
    pub fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        self.stream(&ChatRequest::from(messages))
    }

    /// Sends `request` and returns the answer as a [`ChatStream`] once the response headers are
    /// in. It blocks until then, with nothing to stop meanwhile: to stop a chat from another
    /// thread before its answer starts (a Ctrl-C while a slow server thinks), send it with
    /// [`start`](Self::start).
    ///
    /// # Errors
    ///
    /// As [`perform_stream_request`](Self::perform_stream_request); errors while streaming are
    /// items of the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// use ureq_futures::llm::{ChatRequest, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("gpt-4o-mini", 0.7)
    ///     .env(|_| None)
    ///     .base_url(server.url())
    ///     .build();
    /// client.stream(&ChatRequest::new().user("Pick a number.").temperature(0.0))?;
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// // `sent` is the body the server received: the request's temperature wins over the client's.
    /// assert_eq!(sent["temperature"], 0.0);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        self.start(request)?.result()
    }

    /// Whether `request` can be sent by this client: the checks [`stream`](Self::stream) makes
    /// before it sends (a part or a setting the provider cannot express, a schema that is no
    /// object, a number JSON cannot carry, a missing key), without sending anything. The same
    /// as [`ChatClient::check`], without the trait in scope.
    ///
    /// # Errors
    ///
    /// The error `stream` would fail with before sending: [`Error::InvalidRequest`],
    /// [`Error::MissingApiKey`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{AnthropicClient, ChatRequest};
    ///
    /// let client = AnthropicClient::builder("claude-haiku-4-5", None).api_key("sk-ant-...").build();
    /// // Anthropic's wire format has no seed: a batch with it would fail every chat.
    /// let seeded = ChatRequest::new().system("Answer in JSON.").user("Hi").seed(42);
    /// let why = client.check(&seeded).unwrap_err().to_string();
    /// assert!(why.contains("seed"), "{why}");
    /// ```
    pub fn check(&self, request: &ChatRequest) -> Result<(), Error> {
        self.streamed(request).map(drop)
    }

    /// Sends `request` and returns at once, before the answer starts: a [`PendingChat`] whose
    /// [`result`](PendingChat::result) is what [`stream`](Self::stream) returns, and whose
    /// [`stop_handle`](PendingChat::stop_handle) stops the chat from another thread while it
    /// waits for a worker, its turn at a rate limiter or the server's first byte, and while
    /// the answer streams: for a Ctrl-C that works before a slow server answers.
    ///
    /// # Errors
    ///
    /// What [`http_request`](Self::http_request) refuses before sending (a missing key, a
    /// request the provider cannot express); the rest are [`PendingChat::result`]'s.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// use ureq_futures::llm::{ChatRequest, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("llama3.2", None).env(|_| None).base_url(format!("{base}/v1")).build();
    /// let chat = client.start(&ChatRequest::new().user("Say hello."))?;
    /// let stop = chat.stop_handle(); // for a Ctrl-C handler: stops the chat at any point
    /// let text: String = chat.result()?.collect::<Result<_, _>>()?;
    /// assert_eq!(text, "Hello!");
    /// # drop(stop);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn start(&self, request: &ChatRequest) -> Result<PendingChat, Error> {
        Ok(self.send(self.streamed(request)?))
    }

    /// The request of a chat read as a stream: [`http_request`](Self::http_request)'s, but for
    /// a request whose `extra` turns the stream off, refused: the client asks for the stream
    /// itself (sent, the other providers' whole answers would fail as a wrong content type,
    /// blaming the server; the OpenAI-compatible clients read one only as the answer of a
    /// server that ignored `stream`).
    fn streamed(&self, request: &ChatRequest) -> Result<RequestBuilder, Error> {
        if let Some(stream) = request
            .extra
            .get("stream")
            .filter(|s| **s != Value::Bool(true))
        {
            return Err(Error::InvalidRequest(format!(
                "extra(\"stream\", {stream}): the client reads the answer as a stream and asks \
                 for one itself; leave it out (http_request sends it, for a caller that reads \
                 the answer whole)"
            )));
        }
        self.http_request(request)
    }

    /// Sends `http`, a request of this client.
    fn send(&self, http: RequestBuilder) -> PendingChat {
        let queue = self.settings.timeout.map(|limit| QueueWait {
            limit,
            session: self.session.clone(),
            url: http.redacted_url(),
        });
        PendingChat::new(
            self.settings.protocol.events(http),
            self.api_key.clone(),
            self.keyless.clone(),
            queue,
        )
    }

    /// `error` without the client's key in the server's words (a gateway's `Incorrect API key
    /// provided: sk-...`): the key is never shown. A 401 of a client that sent no key says so.
    pub(crate) fn hiding_key(&self, error: Error) -> Error {
        let error = error.hiding(self.api_key.as_deref());
        super::stream::keyless_note(error, self.keyless.as_deref())
    }

    /// What a 401 adds when the client sends no key: none from the builder or the environment,
    /// no header of the builder's or the session's that could carry one (a name with `auth` or
    /// `key` in it: `Authorization`, Azure's `api-key`), and no credentials or query in the
    /// base URL (`user:password@`, Gemini's `?key=`).
    fn keyless_note(&self) -> Option<Arc<str>> {
        let carries_key = |name: &str| name.contains("auth") || name.contains("key");
        let base = self.base_url().parse::<ureq::http::Uri>().ok();
        let in_url =
            base.is_some_and(|uri| uri.query().is_some() || crate::url::user_info(&uri).is_some());
        let keyed = self.api_key.is_some()
            || in_url
            || (self.settings.headers.iter())
                .any(|(name, _)| carries_key(&name.to_ascii_lowercase()))
            || self.session().has_default_header_named(carries_key);
        let vars = match P::PROVIDER.fallback_key_var {
            Some(fallback) => format!("{} (or {fallback})", P::PROVIDER.key_var),
            None => P::PROVIDER.key_var.to_string(),
        };
        (!keyed).then(|| {
            format!(
                "no API key was sent: {vars} is not set (or empty), and the builder's api_key \
                 was not given one"
            )
            .into()
        })
    }

    /// Sends `request` and reads the whole answer (see [`ChatResponse`]).
    ///
    /// The client's [`retry`](ClientBuilder::retry) policy covers the request until the
    /// answer's head: an error the server puts inside a 200's stream (Anthropic's
    /// `overloaded_error` event) is this call's error, not retried; [`ChatBatch`](super::ChatBatch)
    /// retries those that come before any of the answer.
    ///
    /// # Errors
    ///
    /// As [`stream`](Self::stream), and the stream's error if the answer does not arrive whole.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n")]);
    /// use ureq_futures::llm::{ChatRequest, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("llama3.2", None)
    ///     .env(|_| None)
    ///     .base_url(format!("{base}/v1"))
    ///     .build();
    /// // This server stops after "Hel": an answer cut short is an error, not a short text.
    /// let err = client.complete(&ChatRequest::new().user("Say hello.")).unwrap_err();
    /// assert!(err.to_string().contains("the answer was cut"));
    /// ```
    pub fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, Error> {
        ChatResponse::from_stream(self.stream(request)?)
    }

    /// Whether the builder was given a header of this name.
    fn has_header(&self, name: &str) -> bool {
        self.settings
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// A `POST` to `url` with `body` as JSON, the key's header (unless a header replaces it: see
    /// [`ClientBuilder::header`]), the extra headers, the protocol's and the timeouts; for the
    /// chat and the provider's other endpoints (embeddings).
    pub(crate) fn post(&self, url: String, body: &Value) -> Result<RequestBuilder, Error> {
        let provider = P::PROVIDER;
        // A base URL without a scheme (`localhost:11434/v1`): the fix is the base URL's, not
        // that of the endpoint's URL made from it, which the request would be refused with.
        if !self.base_url.contains("://") {
            return Err(Error::InvalidRequest(format!(
                "the base URL {} has no scheme: give the client builder's base_url (or {}) the \
                 whole URL: {}",
                crate::redact_url(&self.base_url),
                provider.base_var,
                crate::url::with_scheme(&crate::redact_url(&self.base_url))
            )));
        }
        let key_header = provider.key_header.unwrap_or("authorization");
        let own_credential = self.has_header(key_header) || self.has_header("authorization");
        let mut request = self.session.post(url).json(body);
        if !own_credential {
            match &self.api_key {
                Some(key)
                    if key
                        .get(..7)
                        .is_some_and(|s| s.eq_ignore_ascii_case("bearer ")) =>
                {
                    return Err(Error::InvalidRequest(format!(
                        "{KEY_WITH_SCHEME}: give the key alone (in {} or the client builder's \
                         api_key); the client writes what its header needs",
                        provider.key_label
                    )));
                }
                Some(key) if provider.key_header.is_some() => {
                    request = request.header(key_header, key)
                }
                Some(key) => request = request.header(key_header, format!("Bearer {key}")),
                None if at_provider_host(&self.base_url, provider.default_base) => {
                    return Err(Error::MissingApiKey {
                        var: provider.key_label,
                    });
                }
                None => {}
            }
        }
        for (name, value) in &self.settings.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request = request
            .timeout(self.settings.timeout)
            .read_timeout(self.settings.read_timeout);
        if let Some(policy) = &self.settings.retry {
            request = request.retry(policy.clone());
        }
        for (name, value) in P::HEADERS {
            if !self.has_header(name) {
                request = request.header(*name, *value);
            }
        }
        Ok(request)
    }
}

impl<P: Protocol> ChatClient for Client<P> {
    fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
        Client::stream_chat(self, messages)
    }

    fn stream(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        Client::stream(self, request)
    }

    fn stream_once(&self, request: &ChatRequest) -> Result<ChatStream, Error> {
        self.send(self.streamed(request)?.retry(RetryPolicy::none()))
            .result()
    }

    fn check(&self, request: &ChatRequest) -> Result<(), Error> {
        Client::check(self, request)
    }

    fn start(&self, request: &ChatRequest) -> Result<PendingChat, Error> {
        Client::start(self, request)
    }

    fn futures_session(&self) -> Option<&FuturesSession> {
        Some(self.session())
    }
}

/// Builds a [`Client`]; made by [`Client::builder`] (`OpenAIClient::builder(model,
/// temperature)`...). The provider's own settings are setters of its builder only
/// ([`ClientBuilder::<Anthropic>::max_tokens`](ClientBuilder::max_tokens),
/// [`ClientBuilder::<OpenAI>::include_usage`](ClientBuilder::include_usage)). Each setter
/// states its default.
///
/// [`Anthropic`]: super::Anthropic
/// [`OpenAI`]: super::OpenAI
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ureq_futures::llm::AnthropicClient;
///
/// let client = AnthropicClient::builder("claude-sonnet-4-5", 0.3)
///     .api_key("sk-ant-...") // else ANTHROPIC_API_KEY
///     .max_tokens(8192) // Anthropic's own setting; defaults to 4096
///     .header("anthropic-beta", "interleaved-thinking-2025-05-14")
///     .timeout(Duration::from_secs(60))
/// #   .env(|_| None) // not the shell's ANTHROPIC_BASE_URL
///     .build();
/// assert_eq!(client.base_url(), "https://api.anthropic.com");
/// ```
#[must_use = "a ClientBuilder makes no client until build() is called"]
pub struct ClientBuilder<P: Protocol> {
    pub(crate) settings: Settings<P>,
    api_key: Option<String>,
    base_url: Option<String>,
    session: Option<FuturesSession>,
    env: EnvLookup,
}

impl<P: Protocol> fmt::Debug for ClientBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key and header values are credentials: never shown.
        let mut d = f.debug_struct("ClientBuilder");
        self.settings.fields(&mut d);
        d.field("base_url", &self.base_url.as_deref().map(redact_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// How the refusal of an API key given with its scheme (`Bearer sk-...`) starts.
pub(crate) const KEY_WITH_SCHEME: &str = "the API key starts with \"Bearer \"";

/// `s` trimmed, or `None` when that leaves nothing.
fn non_empty(s: String) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

impl<P: Protocol> ClientBuilder<P> {
    setters! {
        /// The API key, sent in the provider's key header (each client's docs name it), never in
        /// the URL. Surrounding whitespace is removed; an empty key counts as none. Defaults to
        /// the value of the provider's key variable (`OPENAI_API_KEY`...), else none.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// use ureq_futures::llm::{AnthropicClient, Message};
        ///
        /// let client = AnthropicClient::builder("claude-haiku-4-5", None)
        ///     .api_key(" sk-ant-test\n")
        ///     .base_url(server.url())
        ///     .build();
        /// client.stream_chat(&[Message::user("Hi")])?;
        /// # let sent = &server.requests()[0];
        /// // `sent` is the request the server received: Anthropic's key header, the key trimmed.
        /// assert_eq!(sent.header("x-api-key"), Some("sk-ant-test"));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        api_key(key: impl Into<String>) => api_key = Some(key.into());
        /// The API root. A trailing slash is removed. Defaults to the value of the provider's base
        /// URL variable (`OPENAI_BASE_URL`...), else the provider's API (see the
        /// [module docs](super#providers)). A base that ends in the version the provider's path
        /// starts with is taken as the root before it: `https://api.anthropic.com/v1` sends to
        /// `.../v1/messages`, not `.../v1/v1/messages`; and one that is the chat endpoint
        /// itself (`http://localhost:8080/v1/chat/completions`, pasted from a server's docs) is
        /// sent to as it is.
        ///
        /// # Examples
        ///
        /// ```
        /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
        /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
        /// use ureq_futures::llm::{ChatRequest, OpenAIClient};
        ///
        /// // llama.cpp's server on this machine: no key needed, none sent.
        /// let client = OpenAIClient::builder("llama3.2", None)
        ///     .env(|_| None)
        ///     .base_url(format!("{base}/v1/"))
        ///     .build();
        /// assert_eq!(client.complete(&ChatRequest::new().user("Say hello."))?.text, "Hello!");
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        base_url(url: impl Into<String>) => base_url = Some(url.into());
        /// The budget of a request from its start until the response headers are in (name
        /// resolution, connect and sending included; the connect is also bounded by the
        /// session's [`connect_timeout`](crate::SessionBuilder::connect_timeout)), or for an
        /// embeddings request, which is read whole, until its last byte; past it, [`Error::Timeout`] names `timeout` and its value. A `Duration`, or `None` for
        /// no limit; either replaces the [session](Self::session)'s
        /// [`timeout`](crate::SessionBuilder::timeout). Defaults to [`DEFAULT_TIMEOUT`] (120 s).
        /// A chat that waits this long for a worker while every worker waits for the reader
        /// of its stream is given up, unsent (see [`PendingChat::result`]).
        ///
        /// # Examples
        ///
        /// ```
        /// # let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
        /// # let base = format!("http://{}", silent.local_addr()?);
        /// use std::time::Duration;
        /// use ureq_futures::llm::{Message, OpenAIClient};
        ///
        /// // `base` accepts the request and never answers.
        /// let client = OpenAIClient::builder("llama3.2", None)
        ///     .env(|_| None)
        ///     .base_url(&base)
        ///     .timeout(Duration::from_millis(100))
        ///     .build();
        /// let err = client.stream_chat(&[Message::user("Hi")]).unwrap_err();
        /// assert!(err.is_timeout() && err.to_string().contains("100 ms (timeout)"));
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        timeout(d: impl Into<Option<Duration>>) => settings.timeout = d.into();
        /// The longest silence allowed between two reads while the answer streams; past it the
        /// stream ends with [`Error::Timeout`], which names `read_timeout` and its value.
        /// Keep-alive comments count as reads. A `Duration`, or `None` for no limit; either
        /// replaces the session's [`read_timeout`](crate::SessionBuilder::read_timeout). Defaults
        /// to [`DEFAULT_READ_TIMEOUT`] (300 s).
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::stall().content_type("text/event-stream"));
        /// use std::time::Duration;
        /// use ureq_futures::llm::{Message, OpenAIClient};
        ///
        /// // This server sends its headers, then nothing.
        /// let client = OpenAIClient::builder("llama3.2", None)
        ///     .env(|_| None)
        ///     .base_url(server.url())
        ///     .read_timeout(Duration::from_millis(100))
        ///     .build();
        /// let mut stream = client.stream_chat(&[Message::user("Hi")])?;
        /// assert!(matches!(stream.next(), Some(Err(e)) if e.to_string().contains("100 ms (read_timeout)")));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        read_timeout(d: impl Into<Option<Duration>>) => settings.read_timeout = d.into();
        /// How failed attempts are retried: a request the server refused or never answered, never
        /// once an answer of 2xx has begun, even one that ends before its first event (a
        /// [`ChatBatch`](super::ChatBatch) retries those, before any of the answer has come).
        /// `None` leaves it to the [session](Self::session)'s
        /// [`retry`](crate::SessionBuilder::retry); [`RetryPolicy::none()`] turns retries off.
        /// Defaults to [`RetryPolicy::llm()`], as the official SDKs do: 2 retries on 408, 409,
        /// 429, any 5xx and connection errors, honouring `retry-after-ms` and
        /// `Retry-After`, with jittered backoff.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::status(503, "overloaded"));
        /// use ureq_futures::llm::{Message, OpenAIClient};
        /// use ureq_futures::RetryPolicy;
        ///
        /// let client = OpenAIClient::builder("llama3.2", None)
        ///     .env(|_| None)
        ///     .base_url(server.url())
        ///     .retry(RetryPolicy::none())
        ///     .build();
        /// let err = client.stream_chat(&[Message::user("Hi")]).unwrap_err();
        /// // One attempt, where the default makes three.
        /// assert_eq!((err.status(), server.request_count()), (Some(503), 1));
        /// ```
        retry(policy: impl Into<Option<RetryPolicy>>) => settings.retry = policy.into();
        /// The session to run requests on, to share its workers and connections with other clients.
        /// The client's [`timeout`](Self::timeout) and [`read_timeout`](Self::read_timeout) replace
        /// the session's; its connect timeout, pool and other settings apply. Defaults to a new
        /// [`FuturesSession`] with 8 workers.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// use ureq_futures::llm::{Message, OpenAIClient};
        /// use ureq_futures::FuturesSession;
        ///
        /// // One pool for the whole program; its default headers go with the client's requests.
        /// let session = FuturesSession::builder().max_workers(16).header("x-team", "search").build();
        /// let client = OpenAIClient::builder("llama3.2", None)
        ///     .env(|_| None)
        ///     .base_url(server.url())
        ///     .session(session)
        ///     .build();
        /// client.stream_chat(&[Message::user("Hi")])?;
        /// # let sent = &server.requests()[0];
        /// assert_eq!(sent.header("x-team"), Some("search")); // `sent`: the request the server received
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        session(session: FuturesSession) => session = Some(session);
        /// Where the provider's key and base URL variables are looked up when the client is built.
        /// Pass `|_| None` to ignore the environment, or a map's lookup for configuration read from
        /// elsewhere. Defaults to the process environment.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::collections::HashMap;
        /// use ureq_futures::llm::MistralClient;
        ///
        /// // Settings read from a configuration file rather than the process environment.
        /// let config = HashMap::from([("MISTRAL_BASE_URL", "http://localhost:8080/v1")]);
        /// let client = MistralClient::builder("mistral-small-latest", None)
        ///     .env(move |name| config.get(name).map(|value| value.to_string()))
        ///     .build();
        /// assert_eq!(client.base_url(), "http://localhost:8080/v1");
        /// ```
        env(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) =>
            env = Box::new(lookup);
        /// A header sent with every request (`OpenAI-Organization`, `anthropic-beta`...). Its value
        /// is never shown in `Debug` output. A header carrying a credential of its own (the key
        /// header's name, or `Authorization`) replaces the key, and no key is then required; a
        /// header named like one the provider requires (`anthropic-version`) replaces it. Defaults
        /// to none.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// use ureq_futures::llm::{Message, OpenAIClient};
        ///
        /// let client = OpenAIClient::builder("gpt-4o-mini", None)
        ///     .env(|_| None)
        ///     .base_url(server.url())
        ///     .header("OpenAI-Organization", "org-123")
        ///     .build();
        /// client.stream_chat(&[Message::user("Hi")])?;
        /// # let sent = &server.requests()[0];
        /// assert_eq!(sent.header("openai-organization"), Some("org-123")); // the request received
        /// assert!(!format!("{client:?}").contains("org-123")); // values are never shown
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        header(name: impl Into<String>, value: impl Into<String>) =>
            settings.headers.push((name.into(), value.into()));
    }

    /// The client. Reads the environment for what was not set; never fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{Message, OpenAIClient};
    /// use ureq_futures::Error;
    ///
    /// // Never fails: a bad setting is reported by the first request, before anything is sent.
    /// let client = OpenAIClient::builder("llama3.2", None)
    ///     .env(|_| None)
    ///     .base_url("localhost:11434/v1")
    ///     .build();
    /// let err = client.stream_chat(&[Message::user("Hi")]).unwrap_err();
    /// assert!(matches!(err, Error::InvalidRequest(_)));
    /// assert!(err.to_string().contains("http://localhost:11434/v1")); // the scheme it lacks
    /// ```
    pub fn build(self) -> Client<P> {
        let provider = P::PROVIDER;
        // A key set on the builder wins even when empty (then there is none).
        let api_key = self
            .api_key
            .or_else(|| {
                std::iter::once(provider.key_var)
                    .chain(provider.fallback_key_var)
                    .find_map(|var| (self.env)(var).and_then(non_empty))
            })
            .and_then(non_empty);
        let base_url = self
            .base_url
            .or_else(|| (self.env)(provider.base_var))
            .and_then(non_empty)
            .map(|url| url.trim_end_matches('/').to_string())
            .unwrap_or_else(|| provider.default_base.to_string());
        let mut client = Client {
            settings: self.settings,
            api_key,
            base_url,
            session: self.session.unwrap_or_default(),
            keyless: None,
        };
        client.keyless = client.keyless_note();
        client
    }
}

/// Whether `url` is at the provider's host, `default`'s or one under it (OpenAI's regional
/// `eu.api.openai.com`), with its scheme and port (letter case aside; a scheme's default port
/// written out or not, as the rate limiter keys origins).
fn at_provider_host(url: &str, default: &str) -> bool {
    let origin = crate::ratelimit::origin_of;
    let (Some(url), Some(default)) = (origin(url), origin(default)) else {
        return false;
    };
    let Some((scheme, host_port)) = default.split_once("://") else {
        return false;
    };
    url == default
        || (url.starts_with(scheme)
            && url[scheme.len()..].starts_with("://")
            && url.ends_with(&format!(".{host_port}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::OpenAIClient;

    #[test]
    fn a_client_has_the_documented_defaults() {
        let client = OpenAIClient::builder("m", None).env(|_| None).build();
        assert_eq!(client.settings.timeout, Some(Duration::from_secs(120)));
        assert_eq!(client.settings.read_timeout, Some(Duration::from_secs(300)));
        assert_eq!(client.settings.retry, Some(RetryPolicy::llm()));
        assert_eq!(client.base_url, "https://api.openai.com/v1");
        assert_eq!(client.api_key, None);
        assert!(client.settings.headers.is_empty());
        assert_eq!(client.session.max_workers(), 8);
    }

    #[test]
    fn the_provider_host_takes_case_paths_default_ports_and_regional_hosts_alike() {
        let openai = "https://api.openai.com/v1";
        for same in [
            "https://API.openai.com",
            "https://api.openai.com:443/v1/",
            "HTTPS://api.openai.com/openai?x=1",
            "https://eu.api.openai.com/v1",
            "https://mtls.API.openai.com:443/v1",
        ] {
            assert!(at_provider_host(same, openai), "{same}");
        }
        for other in [
            "http://api.openai.com/v1",
            "https://api.openai.com:8443/v1",
            "https://eu.api.openai.com:8443/v1",
            "http://eu.api.openai.com/v1",
            "https://api.openai.com.example/v1",
            "https://xapi.openai.com/v1",
            "https://example.com/api.openai.com",
        ] {
            assert!(!at_provider_host(other, openai), "{other}");
        }
        assert!(at_provider_host(
            "http://localhost:80/v1",
            "http://localhost"
        ));
    }
}
