//! Cohere's chat API: [`CohereClient`].

use serde_json::{json, Value};

use super::client::{provider, sealed::Wire, Client, ClientBuilder, Provider};
use super::openai::{chat_messages, developer_as_system, function_tools};
use super::request::{put, unsupported};
use super::{ChatEvent, ChatRequest, ResponseFormat, ToolChoice};
use crate::sse::{EventStream, StreamOptions};
use crate::{Error, Pending, RequestBuilder};

mod decoder;
mod v2_decoder;

pub(super) use decoder::usage_from_meta;
pub use decoder::CohereDecoder;
pub use v2_decoder::CohereV2Decoder;

/// A streaming client for Cohere's chat API, a [`Client`] over the [`Cohere`] protocol. The
/// key travels as `Authorization: Bearer <key>` (variables: see the
/// [module docs](super#providers)).
///
/// It speaks the v2 chat (`POST {base}/v2/chat`, Server-Sent Events read by
/// [`CohereV2Decoder`]), which takes the messages as OpenAI does, with an assistant's text
/// next to its tool calls as its `tool_plan`. [`api(CohereApi::V1)`](ClientBuilder::api)
/// speaks the v1 chat Cohere is retiring (`POST {base}/v1/chat`, newline-delimited JSON read
/// by [`CohereDecoder`]): text only, the last message (a `user` one) sent as `message`, the
/// leading `system` messages as the `preamble`, and the messages between as the
/// `chat_history` in Cohere's roles (`USER`, `CHATBOT`, `SYSTEM`, others upper-cased).
/// A base URL that ends in a version (`https://api.cohere.com/v1`, as v1 code writes
/// `COHERE_BASE_URL`) stands for the API root, as Cohere's SDK reads it: the chat goes to
/// `/v2/chat` (or `/v1/chat`) there, and embeddings to `/v2/embed`.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/v2/chat", "text/event-stream", "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Arr\"}}}}\n\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n")]);
/// use ureq_futures::llm::{CohereClient, Message};
///
/// let client = CohereClient::builder("command-a-03-2025", 0.3).base_url(&base).build();
/// let messages = [Message::system("Talk like a pirate."), Message::user("Hello?")];
/// let mut stream = client.stream_chat(&messages)?;
/// assert_eq!(stream.by_ref().collect::<Result<String, _>>()?, "Arr");
/// assert_eq!(stream.finish_reason(), Some("COMPLETE"));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub type CohereClient = Client<Cohere>;

/// Builds a [`CohereClient`]: the common settings and [`api`](ClientBuilder::api).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{CohereClient, CohereClientBuilder};
///
/// // A helper that points any Cohere builder at the company's proxy.
/// fn via_proxy(builder: CohereClientBuilder) -> CohereClient {
///     builder.base_url("http://localhost:4000/").build()
/// }
/// let client = via_proxy(CohereClient::builder("command-a-03-2025", 0.3).env(|_| None));
/// assert_eq!(client.base_url(), "http://localhost:4000");
/// ```
pub type CohereClientBuilder = ClientBuilder<Cohere>;

/// The wire format of Cohere's chat API: the protocol of [`CohereClient`], which is
/// `Client<Cohere>`; v2 unless the builder asks for v1.
///
/// # Examples
///
/// ```
/// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
/// use ureq_futures::llm::{ChatRequest, Client, Cohere};
///
/// let client = Client::<Cohere>::builder("command-a-03-2025", None)
///     .env(|_| None)
///     .base_url(server.url())
///     .build();
/// client.stream(&ChatRequest::new().user("Hi").top_p(0.9))?;
/// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
/// assert_eq!(sent["p"], 0.9); // `sent`: the body received, in Cohere's words
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cohere {
    api: CohereApi,
}

/// Which of Cohere's chat APIs a [`CohereClient`] speaks.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{CohereApi, CohereClient};
///
/// assert_eq!(CohereApi::default(), CohereApi::V2);
/// let legacy = CohereClient::builder("command-r-plus", None).api(CohereApi::V1).build();
/// assert_eq!(legacy.api(), CohereApi::V1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CohereApi {
    /// `POST /v1/chat`, newline-delimited JSON: the API Cohere is retiring, for text only.
    V1,
    /// `POST /v2/chat`, Server-Sent Events (the default).
    #[default]
    V2,
}

impl ClientBuilder<Cohere> {
    setters! {
        /// Which chat API to speak. Defaults to [`CohereApi::V2`].
        ///
        /// # Examples
        ///
        /// ```
        /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
        /// # let base = doc::serve(&[("/v1/chat", "application/x-ndjson", "{\"event_type\":\"text-generation\",\"text\":\"Arr\"}\n{\"event_type\":\"stream-end\",\"finish_reason\":\"COMPLETE\"}\n")]);
        /// use ureq_futures::llm::{CohereApi, CohereClient, Message};
        ///
        /// // v1 posts to `/v1/chat` and reads newline-delimited JSON.
        /// let client = CohereClient::builder("command-r", None)
        ///     .env(|_| None)
        ///     .api(CohereApi::V1)
        ///     .base_url(&base)
        ///     .build();
        /// let text = client.stream_chat(&[Message::user("Hello?")])?.collect::<Result<String, _>>()?;
        /// assert_eq!(text, "Arr");
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        api(api: CohereApi) => settings.protocol.api = api;
    }
}

impl Client<Cohere> {
    /// The chat API the client speaks.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{CohereApi, CohereClient};
    ///
    /// let client = CohereClient::builder("command-a-03-2025", 0.3).env(|_| None).build();
    /// assert_eq!(client.api(), CohereApi::V2); // unless the builder asks for v1
    /// ```
    pub fn api(&self) -> CohereApi {
        self.settings.protocol.api
    }
}

/// The provider's name in errors.
const PROVIDER: &str = "Cohere";

/// Cohere v1's name for `role`; v1 has no message of text for any other role (its `TOOL`
/// messages carry tool results, which it is not sent).
fn cohere_role(role: &str) -> Result<&'static str, Error> {
    match role.to_ascii_lowercase().as_str() {
        "user" => Ok("USER"),
        "assistant" | "chatbot" => Ok("CHATBOT"),
        "system" | "developer" => Ok("SYSTEM"),
        _ => Err(Error::InvalidRequest(format!(
            "Cohere's v1 chat cannot take a message of role {role:?}: use CohereApi::V2"
        ))),
    }
}

impl Wire for Cohere {
    type Decoder = CohereV2Decoder;
    const PROVIDER: &'static Provider = &provider!("COHERE", "https://api.cohere.com", None);

    fn url(&self, base_url: &str, _model: &str) -> String {
        match self.api {
            CohereApi::V1 => crate::url::join_versioned(base_url, "/v1/chat"),
            CohereApi::V2 => crate::url::join_versioned(base_url, "/v2/chat"),
        }
    }

    fn body(client: &CohereClient, request: &ChatRequest) -> Result<Value, Error> {
        let model = client.model_name();
        let mut body = match client.api() {
            CohereApi::V1 => v1_body(model, request)?,
            CohereApi::V2 => v2_body(model, request)?,
        };
        put(&mut body, "temperature", client.temperature_for(request));
        put(&mut body, "max_tokens", request.max_tokens);
        put(&mut body, "stop_sequences", request.stop_sequences());
        request.check_stop_count(PROVIDER, 5)?;
        if let Some(p) = request.top_p.filter(|p| !(0.01..=0.99).contains(p)) {
            // The API answers 400 to a `p` outside 0.01..=0.99 (1.0 included).
            let what = format!("a top_p of {p}: it takes 0.01 to 0.99");
            return Err(unsupported(PROVIDER, &what));
        }
        put(&mut body, "p", request.top_p);
        put(&mut body, "seed", request.seed);
        let schema_key = match client.api() {
            CohereApi::V1 => "schema",
            CohereApi::V2 => "json_schema",
        };
        let format = request.response_format.as_ref().map(|format| match format {
            ResponseFormat::Json => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema { schema, .. } => {
                json!({"type": "json_object", schema_key: schema})
            }
        });
        if format.is_some() && !request.tools.is_empty() {
            // Cohere's `response_format` "is not supported in combination with tools".
            return Err(unsupported(PROVIDER, "JSON output together with tools"));
        }
        put(&mut body, "response_format", format);
        Ok(body)
    }

    fn stream_options(&self) -> StreamOptions {
        match self.api {
            CohereApi::V1 => StreamOptions::default().json_lines(),
            CohereApi::V2 => StreamOptions::default(),
        }
    }

    fn events(&self, http: RequestBuilder) -> Pending<EventStream<Vec<ChatEvent>>> {
        match self.api {
            CohereApi::V1 => http.events_decoded(self.stream_options(), CohereDecoder::new()),
            CohereApi::V2 => http.events_decoded(self.stream_options(), CohereV2Decoder::new()),
        }
    }
}

/// The provider as the v1 chat's errors name it.
const V1: &str = "Cohere's v1 chat";

/// v1's body: the last user message apart, the leading system messages as the preamble.
fn v1_body(model: &str, request: &ChatRequest) -> Result<Value, Error> {
    if !request.tools.is_empty()
        || request.tool_choice.is_some()
        || request.parallel_tool_calls.is_some()
    {
        return Err(unsupported(V1, "tools: use CohereApi::V2"));
    }
    let texts = request
        .messages
        .iter()
        .map(|m| m.plain_text().map(|text| (m, text)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| unsupported(V1, "a message that is not one text part: use CohereApi::V2"))?;
    let Some(((_, message), earlier)) = texts.split_last().filter(|((m, _), _)| m.is("user"))
    else {
        return Err(Error::InvalidRequest(
            "Cohere's v1 chat needs a user message last: it is sent as `message`".into(),
        ));
    };
    let leading = earlier.iter().take_while(|(m, _)| m.is_system()).count();
    let preamble: Vec<&str> = request
        .system
        .as_deref()
        .into_iter()
        .chain(earlier[..leading].iter().map(|(_, text)| *text))
        .collect();
    let chat_history = earlier[leading..]
        .iter()
        .map(|(m, text)| Ok(json!({"role": cohere_role(&m.role)?, "message": text})))
        .collect::<Result<Vec<Value>, Error>>()?;
    let mut body = json!({
        "model": model,
        "message": message,
        "chat_history": chat_history,
        "stream": true,
    });
    let preamble = Some(preamble.join("\n\n")).filter(|p| !p.is_empty());
    put(&mut body, "preamble", preamble);
    Ok(body)
}

/// v2's body: OpenAI's shape of messages, Cohere's names for the rest.
fn v2_body(model: &str, request: &ChatRequest) -> Result<Value, Error> {
    // v2 has four roles; OpenAI's `developer` goes as `system`, any other is refused (it
    // would come back as a 400).
    request.check_roles(PROVIDER)?;
    let mut messages = chat_messages(request, PROVIDER, Some("tool_plan"), false)?;
    developer_as_system(&mut messages);
    let mut body = json!({"model": model, "messages": messages, "stream": true});
    put(&mut body, "tools", function_tools(request)?);
    let choice = match &request.tool_choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::None) => Some("NONE"),
        Some(ToolChoice::Required) => Some("REQUIRED"),
        // v2 cannot name a tool; when it is the only one offered, "a tool" means it.
        // (A name the request does not offer was refused with the other parts.)
        Some(ToolChoice::Tool(name)) => match request.tools.as_slice() {
            [only] if only.name == *name => Some("REQUIRED"),
            _ => {
                return Err(unsupported(
                    PROVIDER,
                    "a choice of one tool among several: offer only that tool (a choice of \
                     the one tool offered is sent as REQUIRED)",
                ))
            }
        },
    };
    put(&mut body, "tool_choice", choice);
    request.check_parallel_calls(PROVIDER)?;
    Ok(body)
}
