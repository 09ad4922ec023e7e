//! `ChatRequest`, what a chat asks for beyond its messages, and `ChatResponse`, a whole answer.

use serde_json::{json, Map, Value};

use super::{ChatStream, Citation, Message, Part, ServerToolResult, Thought, ToolCall, Usage};
use crate::Error;

/// A chat request: the messages, and what to ask for beyond them. Every provider's client maps
/// it to its own wire format (see the [table](super#the-request-surface)); an option or a part
/// the provider cannot express is an [`Error::InvalidRequest`] before anything is sent.
///
/// | setting | default |
/// |---|---|
/// | [`system`](Self::system) | none (`"system"` messages are sent too) |
/// | [`message`](Self::message), [`user`](Self::user) | no messages |
/// | [`tool`](Self::tool) | no tools |
/// | [`tool_choice`](Self::tool_choice) | the provider's (auto when there are tools) |
/// | [`parallel_tool_calls`](Self::parallel_tool_calls) | the provider's (several calls a turn allowed) |
/// | [`json`](Self::json), [`json_schema`](Self::json_schema) | free text |
/// | [`max_tokens`](Self::max_tokens) | the provider's (Anthropic: the client's, 4096, or a thinking budget plus 4096) |
/// | [`stop`](Self::stop) | none |
/// | [`temperature`](Self::temperature) | the client's |
/// | [`top_p`](Self::top_p), [`seed`](Self::seed) | the provider's |
/// | [`extra`](Self::extra) | nothing merged |
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use ureq_futures::llm::{ChatRequest, Message, Tool, ToolChoice};
///
/// let request = ChatRequest::new()
///     .system("You are a calculator.")
///     .user("What is 2 + 3?")
///     .tool(Tool::new(
///         "add",
///         "Adds two numbers",
///         json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}),
///     ))
///     .tool_choice(ToolChoice::Auto)
///     .max_tokens(200)
///     .extra("user", json!("doc-example"));
/// assert_eq!(request.messages(), [Message::user("What is 2 + 3?")]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use = "a ChatRequest is sent only by a client: pass it to stream(), complete() or start()"]
pub struct ChatRequest {
    pub(crate) system: Option<String>,
    pub(crate) messages: Vec<Message>,
    pub(crate) tools: Vec<Tool>,
    pub(crate) tool_choice: Option<ToolChoice>,
    pub(crate) parallel_tool_calls: Option<bool>,
    pub(crate) response_format: Option<ResponseFormat>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) stop: Vec<String>,
    pub(crate) temperature: Option<f64>,
    pub(crate) top_p: Option<f64>,
    pub(crate) seed: Option<u64>,
    pub(crate) extra: Map<String, Value>,
}

/// A tool (function) the model may call: its name, what it does, and its parameters as a JSON
/// schema (an `object` schema).
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use ureq_futures::llm::{ChatRequest, Tool};
///
/// let weather = Tool::new(
///     "get_weather",
///     "The current weather in a city",
///     json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
/// );
/// assert_eq!(weather.parameters["required"][0], "city");
/// let request = ChatRequest::new().user("Is it raining in Oslo?").tool(weather);
/// # let _ = request;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// The JSON schema of its arguments: an `object` schema (one without a `type` is sent with
    /// `"type": "object"`), or `Value::Null` for a tool without parameters. Anything else is
    /// refused before the request is sent.
    pub parameters: Value,
}

impl Tool {
    /// A tool.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).base_url(server.url()).build();
    /// use serde_json::json;
    /// use ureq_futures::llm::{ChatRequest, Tool};
    ///
    /// let now = Tool::new("now", "The current time, in UTC", json!({"type": "object"}));
    /// client.stream(&ChatRequest::new().user("What time is it?").tool(now))?; // an AnthropicClient
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// // `sent` is the body the server received: Anthropic calls the parameters `input_schema`.
    /// assert_eq!(sent["tools"][0]["input_schema"], json!({"type": "object"}));
    /// assert_eq!(sent["tools"][0]["description"], "The current time, in UTC");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Tool {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

/// Whether and which tool the model must call.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use ureq_futures::llm::{ChatClient, ChatRequest, CohereClient, Tool, ToolChoice};
///
/// let add = Tool::new("add", "Adds two numbers", json!({"type": "object"}));
/// let sub = Tool::new("sub", "Subtracts two numbers", json!({"type": "object"}));
/// // Force a call of `add`; `Required` would accept any tool, `None` forbids calls.
/// let request = ChatRequest::new().user("2 + 3?").tool(add).tool(sub);
/// let request = request.tool_choice(ToolChoice::Tool("add".into()));
/// // Cohere cannot name the tool (it has `Required` and `None` only): with other tools offered,
/// // refused before sending (with `add` alone, sent as `Required`).
/// let cohere = CohereClient::builder("command-a-03-2025", None).api_key("key").build();
/// assert!(matches!(cohere.stream(&request), Err(ureq_futures::Error::InvalidRequest(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides (the default when there are tools).
    Auto,
    /// No tool call.
    None,
    /// At least one tool call, of any tool (OpenAI's `required`, Anthropic's and Gemini's
    /// `any`).
    Required,
    /// A call of this tool.
    Tool(String),
}

/// The shape of the answer's text.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{AnthropicClient, ChatClient, ChatRequest};
///
/// // `ChatRequest::json` asks for `ResponseFormat::Json`, `json_schema` for `JsonSchema`.
/// let request = ChatRequest::new().user("Name a city as JSON.").json();
/// // Anthropic has no JSON mode: it refuses before sending anything, and asks for a schema.
/// let client = AnthropicClient::builder("claude-haiku-4-5", None).api_key("key").build();
/// let Err(err) = client.stream(&request) else { panic!("sent") };
/// assert!(err.to_string().contains("json_schema"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResponseFormat {
    /// A JSON object (JSON mode). Anthropic has no such mode: give it a schema.
    Json,
    /// JSON following a schema.
    JsonSchema {
        /// A name for the schema (OpenAI requires one; others ignore it).
        name: String,
        /// The JSON schema.
        schema: Value,
    },
}

impl ChatRequest {
    /// An empty request.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
    /// use serde_json::json;
    /// use ureq_futures::llm::ChatRequest;
    ///
    /// // An OpenAIClient without a temperature: the server's defaults apply to all the rest.
    /// client.stream(&ChatRequest::new().user("Hi"))?;
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// let messages = json!([{"role": "user", "content": "Hi"}]);
    /// let usage = json!({"include_usage": true});
    /// assert_eq!(sent, json!({"model": "gpt-4o-mini", "messages": messages, "stream": true, "stream_options": usage}));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new() -> Self {
        ChatRequest::default()
    }

    setters! {
        /// Adds a message.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::{ChatRequest, Message};
        ///
        /// let photo = Message::user("Describe this.").with_image_url("https://example.com/cat.png");
        /// client.stream(&ChatRequest::new().message(photo))?; // an OpenAIClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["messages"][0]["content"][1]["image_url"]["url"], "https://example.com/cat.png");
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        message(message: Message) => messages.push(message);
        /// Adds messages.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::GeminiClient::builder("gemini-2.5-flash", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::{ChatRequest, Message};
        ///
        /// let history = vec![Message::user("Hi, I'm Ada."), Message::assistant("Hello Ada!")];
        /// client.stream(&ChatRequest::new().messages_from(history).user("My name?"))?; // a GeminiClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["contents"].as_array().map(Vec::len), Some(3));
        /// assert_eq!(sent["contents"][1]["role"], "model"); // Gemini's word for the assistant
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        messages_from(messages: impl IntoIterator<Item = Message>) => messages.extend(messages);
    }

    /// Adds a user message of one text part.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
    /// use ureq_futures::llm::ChatRequest;
    ///
    /// client.stream(&ChatRequest::new().user("What is 2 + 3?"))?; // an OpenAIClient
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// assert_eq!(sent["messages"], serde_json::json!([{"role": "user", "content": "What is 2 + 3?"}]));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn user(self, text: impl Into<String>) -> Self {
        self.message(Message::user(text))
    }

    /// Adds a message to a request being reused, as a tool loop does with each answer and
    /// each tool result.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).env(|_| None).base_url(format!("{base}/v1")).build();
    /// use ureq_futures::llm::{ChatRequest, Message};
    ///
    /// let mut request = ChatRequest::new().user("Say hello.");
    /// let answer = client.complete(&request)?;
    /// request.push(answer.message());
    /// request.push(Message::user("Once more."));
    /// assert_eq!(request.messages()[1], Message::assistant("Hello!"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn push(&mut self, message: Message) {
        self.messages.push(message);
    }

    /// The messages, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{ChatRequest, Message};
    ///
    /// let request = ChatRequest::new().system("Be brief.").user("one").message(Message::assistant("two"));
    /// // The system prompt is not one of them.
    /// let roles: Vec<&str> = request.messages().iter().map(|m| m.role.as_str()).collect();
    /// assert_eq!(roles, ["user", "assistant"]);
    /// ```
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    setters! {
        /// The system prompt, sent before the messages where each provider takes it (see the
        /// [table](super#the-request-surface)); `"system"` messages are sent too, after it.
        /// Replaces an earlier one.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::{ChatRequest, Message};
        ///
        /// let request = ChatRequest::new().system("Answer in French.").message(Message::system("Be brief."));
        /// client.stream(&request.user("Hello!"))?; // an AnthropicClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["system"], "Answer in French.\n\nBe brief.");
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        system(prompt: impl Into<String>) => system = Some(prompt.into());
        /// Whether and which tool the model must call. A request with a choice and no
        /// [`tool`](Self::tool)s is refused before it is sent.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).base_url(server.url()).build();
        /// use serde_json::json;
        /// use ureq_futures::llm::{ChatRequest, Tool, ToolChoice};
        ///
        /// let search = Tool::new("search", "Searches the web", json!({"type": "object"}));
        /// let request = ChatRequest::new().user("News?").tool(search).tool_choice(ToolChoice::Required);
        /// client.stream(&request)?; // an AnthropicClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["tool_choice"], json!({"type": "any"}));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        tool_choice(choice: ToolChoice) => tool_choice = Some(choice);
        /// Whether the model may call several tools in one turn (every provider's default), or
        /// at most one (`false`): OpenAI's and compatible servers' `parallel_tool_calls`,
        /// Anthropic's `disable_parallel_tool_use` in its tool choice (with the choice `auto`
        /// when the request sets none; a choice of [`ToolChoice::None`] calls nothing, and takes
        /// no such field). Gemini and Cohere have no way to ask for one call at a time: `false`
        /// is refused before anything is sent there. A request that sets this and has no
        /// [`tool`](Self::tool)s is refused, as a tool choice without tools is.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::AnthropicClient::builder("claude-haiku-4-5", None).env(|_| None).base_url(server.url()).build();
        /// use serde_json::json;
        /// use ureq_futures::llm::{ChatRequest, Tool};
        ///
        /// let search = Tool::new("search", "Searches the web", json!({"type": "object"}));
        /// let request = ChatRequest::new().user("News?").tool(search).parallel_tool_calls(false);
        /// client.stream(&request)?; // an AnthropicClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["tool_choice"], json!({"type": "auto", "disable_parallel_tool_use": true}));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        parallel_tool_calls(allowed: bool) => parallel_tool_calls = Some(allowed);
        /// The longest answer, in tokens (OpenAI's API: `max_completion_tokens`; Gemini:
        /// `maxOutputTokens`; the others, OpenAI-compatible servers included: `max_tokens`).
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::GeminiClient::builder("gemini-2.5-flash", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::ChatRequest;
        ///
        /// // A GeminiClient.
        /// client.stream(&ChatRequest::new().user("Summarize War and Peace.").max_tokens(100))?;
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["generationConfig"]["maxOutputTokens"], 100);
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        max_tokens(tokens: u32) => max_tokens = Some(tokens);
        /// The sampling temperature, in place of the client's.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", 0.7).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::ChatRequest;
        ///
        /// // An OpenAIClient made with a temperature of 0.7.
        /// client.stream(&ChatRequest::new().user("Name a prime.").temperature(0.0))?;
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["temperature"], 0.0);
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        temperature(temperature: f64) => temperature = Some(temperature);
        /// Nucleus sampling: the probability mass to sample from (Cohere's `p`). Anthropic gets it
        /// without the client's temperature, since its newer models refuse the two together;
        /// set [`temperature`](Self::temperature) on the request as well to send both.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::CohereClient::builder("command-a-03-2025", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::ChatRequest;
        ///
        /// client.stream(&ChatRequest::new().user("Write a haiku.").top_p(0.9))?; // a CohereClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["p"], 0.9);
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        top_p(top_p: f64) => top_p = Some(top_p);
        /// A seed, for repeatable sampling where the provider offers it (Mistral's
        /// `random_seed`). Anthropic has none; Gemini takes one up to `i32::MAX`.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::MistralClient::builder("mistral-small-latest", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::ChatRequest;
        ///
        /// client.stream(&ChatRequest::new().user("Pick a word.").seed(42))?; // a MistralClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["random_seed"], 42);
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        seed(seed: u64) => seed = Some(seed);
        /// Offers a tool to the model.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
        /// use serde_json::json;
        /// use ureq_futures::llm::{ChatRequest, Tool};
        ///
        /// let add = Tool::new("add", "Adds two numbers", json!({"type": "object"}));
        /// client.stream(&ChatRequest::new().user("2 + 3?").tool(add))?; // an OpenAIClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["tools"][0]["type"], "function");
        /// assert_eq!(sent["tools"][0]["function"]["name"], "add");
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        tool(tool: Tool) => tools.push(tool);
        /// Asks for a JSON object (JSON mode). Most providers want the prompt to say so too
        /// (OpenAI answers `400` to a request whose messages never say "JSON").
        ///
        /// With [`tool`](ChatRequest::tool)s, JSON mode and
        /// [`json_schema`](ChatRequest::json_schema) are refused before sending by Cohere,
        /// which cannot have both, and sent as they are to the others: Gemini models before
        /// Gemini 3 answer them with a `400` (`Function calling with a response mime type:
        /// 'application/json' is unsupported`), later ones take them.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::ChatRequest;
        ///
        /// let request = ChatRequest::new().user("The largest city of Norway, as a JSON object?");
        /// client.stream(&request.json())?; // an OpenAIClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["response_format"], serde_json::json!({"type": "json_object"}));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        json() => response_format = Some(ResponseFormat::Json);
        /// Asks for JSON following `schema`; `name` names the schema where the provider wants a
        /// name (OpenAI: 1 to 64 letters, digits, `_` or `-`). Anthropic takes only closed
        /// objects and a subset of JSON Schema: its client makes the schema as Anthropic's SDK
        /// does, each object given `"additionalProperties": false` and each keyword the API
        /// refuses (`minimum`, `maxLength`, `pattern`...) moved into the `description`. OpenAI
        /// is sent the schema without `strict`, so it is followed as well as the model can, as
        /// a plain schema is sent by OpenAI's SDK; a schema that meets strict mode's rules
        /// (every object `"additionalProperties": false`, every property `required`) is
        /// enforced with `.extra("response_format", json!({"json_schema": {"strict": true}}))`.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::GeminiClient::builder("gemini-2.5-flash", None).env(|_| None).base_url(server.url()).build();
        /// use serde_json::json;
        /// use ureq_futures::llm::ChatRequest;
        ///
        /// let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        /// let request = ChatRequest::new().user("Name a city.").json_schema("city", schema.clone());
        /// client.stream(&request)?; // a GeminiClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["generationConfig"]["responseMimeType"], "application/json");
        /// assert_eq!(sent["generationConfig"]["responseJsonSchema"], schema);
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        json_schema(name: impl Into<String>, schema: Value) =>
            response_format = Some(ResponseFormat::JsonSchema { name: name.into(), schema });
        /// Adds a stop sequence: the answer ends before it. OpenAI (api.openai.com, Azure
        /// OpenAI) takes 4 at most, Gemini and Cohere 5; more are refused before anything is
        /// sent. Another OpenAI-compatible server gets as many as are given.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::ChatRequest;
        ///
        /// client.stream(&ChatRequest::new().user("Count to ten.").stop("4").stop("\n\n"))?; // an OpenAIClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["stop"], serde_json::json!(["4", "\n\n"]));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        stop(sequence: impl Into<String>) => stop.push(sequence.into());
        /// A field merged into the top level of the request body: for any option not listed here
        /// (`"reasoning_effort"`, `"thinking"`, `"safetySettings"`...). A JSON object merges into
        /// an object the body already has under that name, key by key and as deep as both go, so
        /// `extra("generationConfig", json!({"thinkingConfig": {..}}))` (Gemini) keeps the
        /// temperature and the limits set above; `null` takes a field out (`{"stream_options":
        /// null}`; a JSON merge patch's rule, RFC 7386); `tools` are added to the request's own
        /// ([`tool`](Self::tool)), so that a server tool goes beside them (Anthropic's
        /// `{"type": "web_search_20250305", "name": "web_search"}`, Gemini's
        /// `{"google_search": {}}`); any other value replaces the field. `stream` is the
        /// client's: a chat it streams refuses another value, which only
        /// [`http_request`](super::Client::http_request) sends. Anthropic's
        /// `thinking` (other than `{"type": "disabled"}`) leaves the client's temperature out,
        /// as thinking takes none but 1; a request's own [`temperature`](Self::temperature) is
        /// sent.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(server.url()).build();
        /// use serde_json::json;
        /// use ureq_futures::llm::ChatRequest;
        ///
        /// let request = ChatRequest::new().user("Prove it.").extra("reasoning_effort", json!("low"));
        /// client.stream(&request.extra("parallel_tool_calls", json!(false)))?; // an OpenAIClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!((&sent["reasoning_effort"], &sent["parallel_tool_calls"]), (&json!("low"), &json!(false)));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        extra(field: impl Into<String>, value: Value) => extra.insert(field.into(), value);
    }

    /// The system prompt and the system messages (`"system"`, and OpenAI's `"developer"`)
    /// joined by a blank line, for the providers that take them apart from the conversation,
    /// or `None`. A system message that is not text is refused.
    pub(crate) fn system_text(&self, provider: &str) -> Result<Option<String>, Error> {
        let mut parts: Vec<&str> = self.system.as_deref().into_iter().collect();
        for message in self.messages.iter().filter(|m| m.is_system()) {
            for part in &message.content {
                match part {
                    Part::Text { text } => parts.push(text),
                    _ => return Err(unsupported(provider, "a system message that is not text")),
                }
            }
        }
        Ok((!parts.is_empty()).then(|| parts.join("\n\n")))
    }

    /// Refuses, naming `provider`, more stop sequences than it takes (`most`).
    pub(crate) fn check_stop_count(&self, provider: &str, most: usize) -> Result<(), Error> {
        if self.stop.len() <= most {
            return Ok(());
        }
        let what = format!(
            "{} stop sequences: it takes {most} at most",
            self.stop.len()
        );
        Err(unsupported(provider, &what))
    }

    /// Refuses, naming `provider`, a request for one tool call at a time, which the provider
    /// has no way to ask for.
    pub(crate) fn check_parallel_calls(&self, provider: &str) -> Result<(), Error> {
        if self.parallel_tool_calls == Some(false) {
            let what = "parallel_tool_calls(false): it has no way to ask for one call at a time";
            return Err(unsupported(provider, what));
        }
        Ok(())
    }

    /// The stop sequences, or `None` when there are none.
    pub(crate) fn stop_sequences(&self) -> Option<&[String]> {
        (!self.stop.is_empty()).then_some(self.stop.as_slice())
    }

    /// The messages that are not system messages (see [`system_text`](Self::system_text)).
    pub(crate) fn conversation(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().filter(|m| !m.is_system())
    }

    /// Refuses, naming `provider`, a message of a role other than `system`, `developer`
    /// (OpenAI's newer name for it, taken as a system message), `user`, `assistant` and `tool`:
    /// the providers other than OpenAI have no other (Gemini's `model` is `assistant` here),
    /// and would read it as the user's words.
    pub(crate) fn check_roles(&self, provider: &str) -> Result<(), Error> {
        let roles = ["system", "developer", "user", "assistant", "tool"];
        match (self.messages.iter()).find(|m| !roles.iter().any(|r| m.is(r))) {
            None => Ok(()),
            Some(m) => Err(unsupported(
                provider,
                &format!(
                    "a message of role {:?}: its roles are system, user, assistant and tool, \
                     and OpenAI's developer as system (Message::system, user, assistant, \
                     tool_result)",
                    m.role
                ),
            )),
        }
    }

    /// Whether this asks for nothing but messages, as every client can send.
    pub(crate) fn is_plain(&self) -> bool {
        let mut parts = self.messages.iter().flat_map(|m| &m.content);
        parts.all(|p| matches!(p, Part::Text { .. }))
            && *self == ChatRequest::from(self.messages.clone())
    }

    /// Refuses a tool choice without tools, or of a tool the request does not offer, and a
    /// `"tool"` message that is not all tool results, which no provider takes, and, naming
    /// `provider`, a part in a message where the provider has no place for it: a tool call
    /// outside an assistant message, a tool result in one, an image outside the messages
    /// `images` names.
    pub(crate) fn check_parts(&self, provider: &str, images: ImagesIn) -> Result<(), Error> {
        if self.tool_choice.is_some() && self.tools.is_empty() {
            return Err(Error::InvalidRequest(
                "the request has a tool choice but no tools: add them with ChatRequest::tool, \
                 or leave the choice out"
                    .into(),
            ));
        }
        if self.parallel_tool_calls.is_some() && self.tools.is_empty() {
            return Err(Error::InvalidRequest(
                "the request sets parallel_tool_calls but has no tools: add them with \
                 ChatRequest::tool, or leave the setting out"
                    .into(),
            ));
        }
        if let Some(ToolChoice::Tool(name)) = &self.tool_choice {
            if !self.tools.iter().any(|t| t.name == *name) {
                let offered: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
                return Err(Error::InvalidRequest(format!(
                    "the tool choice names {name:?}, which the request does not offer (it \
                     offers {}): add it with ChatRequest::tool, or name one of those",
                    offered.join(", ")
                )));
            }
        }
        for message in &self.messages {
            let assistant = message.is("assistant");
            if message.is("tool") && !message.is_tool_results() {
                return Err(Error::InvalidRequest(
                    "a \"tool\" message holds tool results only: make it with \
                     Message::tool_result"
                        .into(),
                ));
            }
            for part in &message.content {
                let (what, fits) = match part {
                    Part::Text { .. } => continue,
                    Part::ToolCall(_) => ("a tool call outside an assistant message", assistant),
                    Part::ToolResult(_) => ("a tool result in an assistant message", !assistant),
                    Part::Thought(_) => ("a thought outside an assistant message", assistant),
                    Part::ServerToolUse(_) | Part::ServerToolResult(_) => (
                        "a server tool's use or result outside an assistant message",
                        assistant,
                    ),
                    Part::ImageUrl { .. } | Part::Image { .. } => match images {
                        ImagesIn::User => ("an image outside a user message", message.is("user")),
                        ImagesIn::AllButAssistant => {
                            ("an image in an assistant message", !assistant)
                        }
                        ImagesIn::Any => continue,
                    },
                };
                if !fits {
                    return Err(unsupported(provider, what));
                }
            }
        }
        Ok(())
    }

    /// The conversation as Anthropic and Gemini take it, once its parts are checked (see
    /// [`check_parts`](Self::check_parts)) and its roles (see [`check_roles`](Self::check_roles);
    /// a request with no turn is refused too, both naming `provider`): every message a turn of role `user` but the
    /// assistant's, of role `assistant` (Gemini's `model`), its parts made by `part` under `key`
    /// (Anthropic's `content`, Gemini's `parts`; a part it makes `null` is left out), or as a
    /// plain string when `text_as_string` and the message is one text part (Anthropic). A
    /// message with tool results joins the user turn before it when that one has results too
    /// (the results of parallel calls in one turn), and a user turn has its results first.
    ///
    /// The assistant's blank text (an answer of `"\n\n"`, an empty answer's
    /// [`ChatResponse::message`]) is left out, and so is an assistant turn left with no parts:
    /// Anthropic refuses a text block that is empty or blank, Gemini an empty text and a turn
    /// without parts, and neither says anything.
    pub(crate) fn user_turns(
        &self,
        provider: &str,
        assistant: &str,
        key: &str,
        text_as_string: bool,
        part: impl Fn(&Part) -> Result<Value, Error>,
    ) -> Result<Vec<Value>, Error> {
        fn is_result(part: &Part) -> bool {
            matches!(part, Part::ToolResult(_))
        }
        self.check_roles(provider)?;
        // First the turns as parts: a user message that starts with tool results joins the user
        // turn before it when that one has results too, so that the results of parallel calls
        // are in one turn (Gemini refuses a turn with fewer results than the calls before it).
        let mut groups: Vec<(bool, Vec<&Part>)> = Vec::new();
        for m in self.conversation() {
            let of_assistant = m.is("assistant");
            let blank = |p: &Part| matches!(p, Part::Text { text } if text.trim().is_empty());
            // Blank text goes: the assistant's always, anyone's beside other parts (an image
            // with an empty prompt). Both providers refuse an empty text block.
            let has_other = m.content.iter().any(|p| !blank(p));
            let kept = m
                .content
                .iter()
                .filter(|p| !(blank(p) && (of_assistant || has_other)));
            if of_assistant && kept.clone().next().is_none() {
                continue;
            }
            let has_results = !of_assistant && kept.clone().any(is_result);
            match groups.last_mut() {
                Some((false, parts)) if has_results && parts.iter().any(|p| is_result(p)) => {
                    parts.extend(kept)
                }
                _ => groups.push((of_assistant, kept.collect())),
            }
        }
        let mut turns: Vec<Value> = Vec::new();
        for (of_assistant, mut kept) in groups {
            let role = if of_assistant { assistant } else { "user" };
            if !of_assistant {
                // Tool results first: Anthropic refuses a turn whose text comes before the
                // results of the calls of the turn before it.
                kept.sort_by_key(|p| !is_result(p));
            }
            let parts = match kept.as_slice() {
                [Part::Text { text }] if text_as_string => Value::from(text.as_str()),
                kept => kept
                    .iter()
                    .map(|p| part(p))
                    .filter(|p| !matches!(p, Ok(Value::Null)))
                    .collect::<Result<_, _>>()?,
            };
            if of_assistant && parts.as_array().is_some_and(Vec::is_empty) {
                continue;
            }
            turns.push(json!({"role": role, key: parts}));
        }
        if turns.is_empty() && self.extra.is_empty() {
            // Both providers answer 400 to a system prompt alone.
            return Err(unsupported(
                provider,
                "a request with no message but the system prompt: add one (ChatRequest::user)",
            ));
        }
        Ok(turns)
    }

    /// The tools as `{"name", "description", schema_key: parameters}` objects, or `None` when
    /// there are none. Parameters of `null` are sent as a tool without parameters
    /// (`{"type": "object", "properties": {}}`), an object schema without a `type` is given
    /// `"type": "object"` (Anthropic refuses it without), and parameters that are not a JSON
    /// object are refused: every provider answers 400 to them.
    pub(crate) fn tools_as(&self, schema_key: &str) -> Result<Option<Vec<Value>>, Error> {
        let tool = |t: &Tool| {
            let parameters = match &t.parameters {
                Value::Null => json!({"type": "object", "properties": {}}),
                Value::Object(fields) if !fields.contains_key("type") => {
                    let mut fields = fields.clone();
                    fields.insert("type".into(), json!("object"));
                    Value::Object(fields)
                }
                Value::Object(_) => t.parameters.clone(),
                other => {
                    return Err(Error::InvalidRequest(format!(
                        "the parameters of the tool {:?} are {other}, not a JSON schema object: \
                         give json!({{\"type\": \"object\", \"properties\": {{...}}}}), or \
                         Value::Null for a tool without parameters",
                        t.name
                    )))
                }
            };
            Ok(json!({"name": t.name, "description": t.description, schema_key: parameters}))
        };
        if self.tools.is_empty() {
            return Ok(None);
        }
        self.tools
            .iter()
            .map(tool)
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// A request of these messages only: from a slice, an array or a `Vec` of them.
impl<M: AsRef<[Message]> + ?Sized> From<&M> for ChatRequest {
    fn from(messages: &M) -> Self {
        ChatRequest::from(messages.as_ref().to_vec())
    }
}

impl From<&ChatRequest> for ChatRequest {
    fn from(request: &ChatRequest) -> Self {
        request.clone()
    }
}

impl From<Vec<Message>> for ChatRequest {
    fn from(messages: Vec<Message>) -> Self {
        ChatRequest::new().messages_from(messages)
    }
}

/// Sets `body[key]` to `value` when there is one.
pub(crate) fn put(body: &mut Value, key: &str, value: Option<impl serde::Serialize>) {
    if let (Some(value), Value::Object(fields)) = (value, body) {
        fields.insert(key.to_string(), json!(value));
    }
}

/// Merges a request's [`extra`](ChatRequest::extra) fields into its `body` as [`merge`]
/// does, but for `tools`: an array of them is added to the tools the body has (the request's
/// own), so that a server tool (Anthropic's web search, Gemini's `google_search`) goes beside
/// the caller's functions rather than in their place.
pub(crate) fn merge_extra(body: &mut Value, extra: &Map<String, Value>) {
    for (key, value) in extra {
        match (key.as_str(), body.get_mut(key), value) {
            ("tools", Some(Value::Array(tools)), Value::Array(more)) => {
                tools.extend(more.iter().cloned())
            }
            _ => merge_field(body, key, value),
        }
    }
}

/// Merges `fields` into the object `body` as a JSON merge patch does (RFC 7386): a JSON object
/// into an object of the same name, key by key and as deep as both go; `null` takes the field
/// out; any other value goes in place of the field.
pub(crate) fn merge(body: &mut Value, fields: &Map<String, Value>) {
    for (key, value) in fields {
        merge_field(body, key, value);
    }
}

/// [`merge`] of one field.
fn merge_field(body: &mut Value, key: &str, value: &Value) {
    let Value::Object(body) = body else { return };
    match (body.get_mut(key), value) {
        (_, Value::Null) => {
            body.remove(key);
        }
        (Some(inner @ Value::Object(_)), Value::Object(more)) => merge(inner, more),
        // An object where the body has none is merged into an empty one: its nulls go too.
        (_, Value::Object(more)) => {
            let mut inner = Value::Object(Map::new());
            merge(&mut inner, more);
            body.insert(key.to_string(), inner);
        }
        _ => {
            body.insert(key.to_string(), value.clone());
        }
    }
}

/// The error for what `provider` cannot express.
pub(crate) fn unsupported(provider: &str, what: &str) -> Error {
    Error::InvalidRequest(format!("{provider} cannot take {what}"))
}

/// The messages in which a provider takes images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImagesIn {
    /// `user` messages only (OpenAI's chat completions, Cohere v2).
    User,
    /// Any message but the assistant's (Anthropic: tool results travel in user turns).
    AllButAssistant,
    /// Any message (Gemini: a model turn may hold images).
    Any,
}

/// A tool call's arguments as a JSON object, for the providers that take one (Anthropic's
/// `input`, Gemini's `args`): empty arguments are `{}`; arguments cut short (an answer that
/// stopped at `max_tokens` within a call) are the object their whole members make, as
/// Anthropic's SDK reads them (see [`close_cut_object`]); anything else but JSON, and JSON
/// that is not an object (`null`, a list, a string), is refused, naming `provider`.
pub(crate) fn arguments_value(call: &ToolCall, provider: &str) -> Result<Value, Error> {
    if call.arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let refuse = |what: String| {
        Error::InvalidRequest(format!(
            "{provider} takes a tool call's arguments as a JSON object, and those of tool call \
             {:?} ({}) are {what}",
            call.id, call.name
        ))
    };
    match serde_json::from_str(&call.arguments) {
        Ok(Value::Object(arguments)) => Ok(Value::Object(arguments)),
        Ok(other) => Err(refuse(format!("not a JSON object: {other}"))),
        Err(e) if e.is_eof() => close_cut_object(&call.arguments)
            .map(Value::Object)
            .ok_or_else(|| refuse(format!("not JSON: {e}"))),
        Err(e) => Err(refuse(format!("not JSON: {e}"))),
    }
}

/// A tool call's arguments as a JSON text to send back to an OpenAI-compatible server: as
/// they came, but empty ones as `{}` and ones cut short (an answer that stopped at its token
/// limit within a call) as the object their whole members make (see [`close_cut_object`]):
/// servers that parse the arguments of the history's calls (vLLM) refuse the request
/// otherwise. Text that is no JSON at all goes as it is.
pub(crate) fn arguments_text(arguments: &str) -> std::borrow::Cow<'_, str> {
    if arguments.trim().is_empty() {
        return "{}".into();
    }
    match serde_json::from_str::<serde::de::IgnoredAny>(arguments) {
        Err(e) if e.is_eof() => match close_cut_object(arguments) {
            Some(object) => Value::Object(object).to_string().into(),
            None => arguments.into(),
        },
        _ => arguments.into(),
    }
}

/// The object a JSON object cut short makes of its whole values, as Anthropic's SDK reads a
/// tool call's input cut at `max_tokens` (`jiter`'s partial mode): the text up to the end of
/// its last whole value, with the brackets still open closed. A value cut within (a string,
/// a number, `tru`) is dropped with its key; so is a key without its value. `None` when no
/// object comes of it.
///
/// The call's own arguments keep the text as it came, so that the caller sees the cut: this
/// only makes the history sendable, where the provider wants an object.
fn close_cut_object(text: &str) -> Option<Map<String, Value>> {
    // What closes each open bracket, and, for an object, whether a key comes next.
    let mut open: Vec<(u8, bool)> = Vec::new();
    // Where the text ends after a whole value (or an opening bracket), and how many brackets
    // are open there: those brackets stay open later on, or a later value ends after them.
    let mut whole: Option<(usize, usize)> = None;
    let (mut in_string, mut escaped, mut is_key, mut in_scalar) = (false, false, false, false);
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => {
                    in_string = false;
                    if is_key {
                        open.last_mut()?.1 = false;
                    } else {
                        whole = Some((i + 1, open.len()));
                    }
                }
                _ => {}
            }
            continue;
        }
        if in_scalar && matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
            in_scalar = false;
            whole = Some((i, open.len()));
        }
        match b {
            b'{' => {
                open.push((b'}', true));
                whole = Some((i + 1, open.len()));
            }
            b'[' => {
                open.push((b']', false));
                whole = Some((i + 1, open.len()));
            }
            b'}' | b']' => {
                open.pop()?;
                whole = Some((i + 1, open.len()));
            }
            b',' => {
                if let Some((b'}', key_next)) = open.last_mut() {
                    *key_next = true;
                }
            }
            b'"' => {
                in_string = true;
                is_key = matches!(open.last(), Some((b'}', true)));
            }
            b':' | b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => in_scalar = true,
        }
    }
    let (end, depth) = whole?;
    let mut closed = text[..end].to_string();
    closed.extend(
        open.get(..depth)?
            .iter()
            .rev()
            .map(|&(closer, _)| char::from(closer)),
    );
    match serde_json::from_str(&closed) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// A whole answer, as [`ChatClient::complete`](super::ChatClient::complete) returns it: the
/// stream read to its end.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{ChatEvent, ChatResponse, ChatStream, ToolCallDelta};
///
/// let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
/// let call = ToolCallDelta { index: Some(0), id: Some("call_1".into()), name: Some("add".into()), arguments: "{}".into(), signature: None };
/// tx.send(Ok(vec![ChatEvent::Text("Let me add.".into()), ChatEvent::ToolCall(call), ChatEvent::Done])).unwrap();
/// let response = ChatResponse::from_stream(ChatStream::from_receiver(rx))?;
/// assert_eq!((response.text.as_str(), response.tool_calls[0].name.as_str()), ("Let me add.", "add"));
/// // The assistant's turn for the history, tool calls included.
/// assert_eq!(response.message().tool_calls().count(), 1);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The answer's text.
    pub text: String,
    /// The tool calls the caller has to run, in order.
    pub tool_calls: Vec<ToolCall>,
    /// The tools the provider ran itself (Anthropic's web search...), to show, not to run
    /// ([`message`](Self::message) sends them back).
    pub server_tool_uses: Vec<ToolCall>,
    /// The results of the provider's own tools ([`message`](Self::message) sends them back).
    pub server_tool_results: Vec<ServerToolResult>,
    /// The model's plan before its tool calls (Cohere's `tool_plan`), empty when it sent none.
    pub tool_plan: String,
    /// The model's reasoning, empty when it sent none.
    pub reasoning: String,
    /// The model's thinking as the provider sent it to be sent back (Anthropic's signed
    /// blocks, the reasoning field of an OpenAI-compatible server's answer), which
    /// [`message`](Self::message) sends back; empty for the other providers.
    pub thoughts: Vec<Thought>,
    /// The sources the answer cites (see [`Citation`]), in the order they came.
    pub citations: Vec<Citation>,
    /// The refusal message, if the model refused.
    pub refusal: Option<String>,
    /// The token counts, when the server sent them.
    pub usage: Option<Usage>,
    /// Why the model stopped, as the provider spells it (see
    /// [`ChatEvent::Finish`](super::ChatEvent::Finish)).
    pub finish_reason: Option<String>,
    /// The server's request id (`x-request-id` or `request-id`), for support requests.
    pub request_id: Option<String>,
    /// The order in which the stream brought the answer's pieces, for
    /// [`message`](Self::message); empty for a response not read from a stream.
    pub(crate) layout: Vec<Piece>,
}

/// One piece of an answer as its stream brought it: a run of text of so many bytes, or the
/// next of the response's thoughts, server tool uses, server tool results or tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(usize),
    Thought,
    ServerUse,
    ServerResult,
    Call,
}

impl ChatResponse {
    /// Reads `stream` to its end. The response holds the whole answer, the text already read
    /// from the stream included (a loop that printed some pieces first loses none of them).
    ///
    /// # Errors
    ///
    /// The stream's error, if it ends with one (a cut answer included). A stream whose error
    /// was read before is no answer either: [`Error::Protocol`] with that error's words.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).env(|_| None).base_url(format!("{base}/v1")).build();
    /// use ureq_futures::llm::{ChatRequest, ChatResponse};
    ///
    /// let stream = client.stream(&ChatRequest::new().user("Say hello."))?; // an OpenAIClient
    /// let response = ChatResponse::from_stream(stream)?;
    /// assert_eq!((response.text.as_str(), response.finish_reason.as_deref()), ("Hello!", Some("stop")));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn from_stream(mut stream: ChatStream) -> Result<ChatResponse, Error> {
        // The stream keeps the text it hands out in its state, with the rest of the answer.
        for piece in stream.by_ref() {
            piece?;
        }
        if let Some(why) = stream.failed.take() {
            return Err(Error::Protocol(format!(
                "the answer's stream had ended with an error, read before \
                 ChatResponse::from_stream: {why}"
            )));
        }
        let request_id = stream.request_id().map(str::to_string);
        Ok(ChatResponse {
            request_id,
            ..stream.state
        })
    }

    /// The assistant's turn for the history: its signed [`thoughts`](Self::thoughts), its
    /// text (else its tool plan), the tools the provider ran itself, each use followed by its
    /// result ([`server_tool_uses`](Self::server_tool_uses),
    /// [`server_tool_results`](Self::server_tool_results)), and its tool calls. A response
    /// read from a stream ([`from_stream`](Self::from_stream)) keeps them in the order the
    /// stream brought them, each run of text a part of its own: Anthropic wants thinking
    /// blocks back in their place (interleaved thinking: thinking, text, a web search, its
    /// result, thinking, text). One whose fields were changed since, or made by hand, has the
    /// order above.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{ChatResponse, Message, ToolCall};
    ///
    /// let mut response = ChatResponse::default();
    /// response.tool_plan = "I will look it up.".into(); // no text: the plan stands in
    /// response.tool_calls.push(ToolCall { name: "search".into(), ..ToolCall::default() });
    /// let message = response.message();
    /// assert_eq!((message.role.as_str(), message.text().as_str()), ("assistant", "I will look it up."));
    /// assert_eq!(message.tool_calls().next(), response.tool_calls.first());
    /// ```
    pub fn message(&self) -> Message {
        if let Some(content) = self.as_laid_out() {
            return Message {
                role: "assistant".into(),
                content,
            };
        }
        let text = [&self.text, &self.tool_plan]
            .into_iter()
            .find(|t| !t.is_empty());
        let thoughts = self.thoughts.iter().cloned().map(Part::Thought);
        let calls = self.tool_calls.iter().cloned().map(Part::ToolCall);
        let text = text.map(|t| Part::text(t.as_str()));
        // Anthropic wants each server tool's result right after its use.
        let (mut server, mut results) = (Vec::new(), self.server_tool_results.clone());
        for call in &self.server_tool_uses {
            server.push(Part::ServerToolUse(call.clone()));
            let answers = |r: &ServerToolResult| !call.id.is_empty() && r.tool_use_id == call.id;
            if let Some(at) = results.iter().position(answers) {
                server.push(Part::ServerToolResult(results.remove(at)));
            }
        }
        server.extend(results.into_iter().map(Part::ServerToolResult));
        Message {
            role: "assistant".into(),
            content: thoughts.chain(text).chain(server).chain(calls).collect(),
        }
    }

    /// The parts of [`message`](Self::message) in the order of `layout`, when it still fits
    /// the fields (their lengths, the text's) and no tool plan stands in for an empty text
    /// (the plan has no place of its own); `None` otherwise.
    fn as_laid_out(&self) -> Option<Vec<Part>> {
        let count = |kind: Piece| self.layout.iter().filter(|p| **p == kind).count();
        let texts: usize = (self.layout.iter())
            .map(|p| match p {
                Piece::Text(n) => *n,
                _ => 0,
            })
            .sum();
        let fits = !self.layout.is_empty()
            && (!self.text.is_empty() || self.tool_plan.is_empty())
            && texts == self.text.len()
            && count(Piece::Thought) == self.thoughts.len()
            && count(Piece::ServerUse) == self.server_tool_uses.len()
            && count(Piece::ServerResult) == self.server_tool_results.len()
            && count(Piece::Call) == self.tool_calls.len();
        if !fits {
            return None;
        }
        let (mut at, mut thoughts, mut uses) =
            (0, self.thoughts.iter(), self.server_tool_uses.iter());
        let (mut results, mut calls) = (self.server_tool_results.iter(), self.tool_calls.iter());
        let mut parts = Vec::with_capacity(self.layout.len());
        for piece in &self.layout {
            parts.push(match piece {
                Piece::Text(n) => {
                    let run = self.text.get(at..at + n)?;
                    at += n;
                    Part::text(run)
                }
                Piece::Thought => Part::Thought(thoughts.next()?.clone()),
                Piece::ServerUse => Part::ServerToolUse(uses.next()?.clone()),
                Piece::ServerResult => Part::ServerToolResult(results.next()?.clone()),
                Piece::Call => Part::ToolCall(calls.next()?.clone()),
            });
        }
        Some(parts)
    }

    /// The answer's text parsed as JSON into `T`: the answer to a request with
    /// [`json_schema`](ChatRequest::json_schema) or [`json`](ChatRequest::json). A Markdown
    /// fence around it (```` ```json ... ``` ````), which models write when the prompt alone
    /// asked for JSON, is taken off first, and so is a byte order mark. When the text is not
    /// the value alone, the words models put around it are left out: a reasoning model's
    /// `<think>...</think>` block before it, a sentence before or after its fenced block (the
    /// first one is read).
    ///
    /// # Errors
    ///
    /// [`Error::Json`], whose message says whether the text is not JSON or does not fit `T`,
    /// quotes its start, names the model's [`refusal`](ChatResponse::refusal) when it refused,
    /// and says when the answer was cut at its token limit (a finish reason of `length`,
    /// `max_tokens`, `MAX_TOKENS`, Anthropic's `model_context_window_exceeded` or Mistral's
    /// `model_length`).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::Deserialize;
    /// use ureq_futures::llm::ChatResponse;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct Place {
    ///     city: String,
    /// }
    ///
    /// let mut answer = ChatResponse::default(); // as `client.complete(&request)?` gives it
    /// answer.text = "```json\n{\"city\": \"Paris\"}\n```".into();
    /// let place: Place = answer.json()?;
    /// assert_eq!(place.city, "Paris");
    ///
    /// answer.text = r#"{"city": "Par"#.into();
    /// answer.finish_reason = Some("length".into());
    /// let err = answer.json::<Place>().unwrap_err().to_string();
    /// assert!(err.contains("the answer was cut at its token limit"), "{err}");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let text = unfenced(&self.text);
        let e = match serde_json::from_str(text) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        // Words around the JSON: a reasoning model's `<think>` block before it, a sentence
        // before or after its fenced block. Read only when the text alone is no JSON value (a
        // value that does not fit `T` is not searched: a piece of it is not the answer).
        if e.classify() != serde_json::error::Category::Data {
            if let Some(Ok(value)) = embedded(&self.text).map(serde_json::from_str) {
                return Ok(value);
            }
        }
        Err({
            let what = match e.classify() {
                serde_json::error::Category::Data => "does not fit the type asked for",
                _ if text.trim().is_empty() => "is empty, not JSON",
                _ => "is not JSON",
            };
            let cut = match self.finish_reason.as_deref().is_some_and(is_token_limit) {
                true => "; the answer was cut at its token limit: raise max_tokens",
                false => "",
            };
            let start: String = text.chars().take(80).collect();
            let more = if start.len() < text.len() { "..." } else { "" };
            // A refusal is no text: say it first, it is why there is no JSON.
            let refused = match &self.refusal {
                Some(refusal) => format!("the model refused ({refusal:?}), so "),
                None => String::new(),
            };
            let why = format!("{refused}the answer {what}: {e}{cut}; it starts {start:?}{more}");
            Error::Json(serde::de::Error::custom(why))
        })
    }
}

/// The JSON inside `text` when words surround it: what follows a `<think>...</think>` block
/// that opens it, and in that the first fenced block (```` ``` ````) wherever it is; none
/// when the thoughts have no end.
fn embedded(text: &str) -> Option<&str> {
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let thought = match text.strip_prefix("<think>") {
        // Thoughts cut before their end (at the token limit): what they hold is a draft.
        Some(rest) => Some(rest.split_once("</think>")?.1),
        None => None,
    };
    let text = thought.unwrap_or(text);
    let fenced = text.split_once("```").and_then(|(_, rest)| {
        let (inner, _) = rest.split_once("```")?;
        Some(fence_body(inner))
    });
    fenced.or(thought.map(unfenced))
}

/// Whether `finish_reason` says the answer stopped at its token limit (OpenAI's `length`,
/// Anthropic's `max_tokens`, Gemini's and Cohere's `MAX_TOKENS`), or at the model's context
/// window (Anthropic's `model_context_window_exceeded`, Mistral's `model_length`).
pub(crate) fn is_token_limit(finish_reason: &str) -> bool {
    matches!(
        finish_reason,
        "length" | "max_tokens" | "MAX_TOKENS" | "model_context_window_exceeded" | "model_length"
    )
}

/// `text` without a Markdown code fence around it (```` ```json ```` or ```` ``` ```` on the
/// first line, ```` ``` ```` ending it; or all on one line), or as it is.
fn unfenced(text: &str) -> &str {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    match trimmed
        .strip_prefix("```")
        .and_then(|rest| rest.strip_suffix("```"))
    {
        Some(inner) => fence_body(inner),
        None => trimmed,
    }
}

/// What a fence holds (`inner`, between its ```` ``` ````s), without the language after the
/// opening one: on a line of its own, or before the value on one line (```` ```json {} ``` ````).
fn fence_body(inner: &str) -> &str {
    match inner.split_once('\n') {
        Some((_language, body)) => body,
        None => match inner.split_once([' ', '\t']) {
            Some((language, value))
                if !language.is_empty()
                    && language.bytes().all(|b| b.is_ascii_alphanumeric())
                    && value.trim_start().starts_with(['{', '[']) =>
            {
                value
            }
            // One line: ```{"a": 1}```.
            _ => inner,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_among_the_words_models_put_around_it() {
        let answer = |text: &str| ChatResponse {
            text: text.into(),
            ..ChatResponse::default()
        };
        for text in [
            r#"{"a": 1}"#,
            "\u{feff}{\"a\": 1}",
            "```json\n{\"a\": 1}\n```",
            "```json {\"a\": 1}```",
            "``` {\"a\": 1} ```",
            "Here is the JSON:\n```json\n{\"a\": 1}\n```",
            "```json\n{\"a\": 1}\n```\nLet me know if you need more.",
            "<think>The user wants a.</think>\n{\"a\": 1}",
            "<think>Hmm.</think>\n```json\n{\"a\": 1}\n```",
        ] {
            let value: serde_json::Value = answer(text).json().unwrap_or_else(|e| {
                panic!("{text:?}: {e}");
            });
            assert_eq!(value, serde_json::json!({"a": 1}), "{text:?}");
        }
        // A value that holds a fence of its own is read whole, and one that does not fit the
        // type asked for is not searched for a piece that does.
        let value: serde_json::Value = answer(r#"{"code": "```rust\nfn main() {}\n```"}"#)
            .json()
            .unwrap();
        assert_eq!(value["code"], "```rust\nfn main() {}\n```");
        assert!(answer(r#"{"note": "```[1, 2]```"}"#)
            .json::<Vec<i32>>()
            .is_err());
        // Thoughts cut before their end hold a draft, not the answer.
        let cut = answer("<think>A draft: ```json\n{\"a\": 1}\n``` no, a should be");
        assert!(cut.json::<serde_json::Value>().is_err());
        // A refusal says so first.
        let refused = ChatResponse {
            refusal: Some("I can't help with that.".into()),
            ..ChatResponse::default()
        };
        let err = refused.json::<serde_json::Value>().unwrap_err().to_string();
        assert!(
            err.contains("the model refused (\"I can't help with that.\"), so the answer is empty"),
            "{err}"
        );
    }

    #[test]
    fn a_cut_object_keeps_its_whole_values() {
        for (cut, object) in [
            (r#"{"a": 1, "b"#, r#"{"a": 1}"#),
            (r#"{"a": "x"#, "{}"),
            (r#"{"a":"#, "{}"),
            ("{", "{}"),
            (r#"{"a": [1, "two", 3"#, r#"{"a": [1, "two"]}"#),
            (
                r#"{"a": [1, 2], "b": {"c": true, "d": nul"#,
                r#"{"a": [1, 2], "b": {"c": true}}"#,
            ),
            (
                r##"{"f": "t.txt", "l": ["# A\"B\\", "", "Filing"##,
                r##"{"f": "t.txt", "l": ["# A\"B\\", ""]}"##,
            ),
            (r#"{"a": {"b": [{"c": "}]\""#, r#"{"a": {"b": [{}]}}"#),
            ("{\"a\": 12\n", r#"{"a": 12}"#),
        ] {
            let expected: Map<String, Value> = serde_json::from_str(object).unwrap();
            assert_eq!(close_cut_object(cut), Some(expected), "{cut}");
        }
        for not_an_object in ["", "[1, 2", r#""abc"#, "}"] {
            assert_eq!(close_cut_object(not_an_object), None, "{not_an_object}");
        }
    }

    #[test]
    fn arguments_cut_short_go_back_as_their_whole_members_and_others_are_refused() {
        let call = |arguments: &str| ToolCall {
            id: "c1".into(),
            name: "make_file".into(),
            arguments: arguments.into(),
            ..ToolCall::default()
        };
        let cut = arguments_value(&call(r#"{"name": "a.txt", "lines": ["x", "y"#), "Anthropic");
        assert_eq!(
            cut.unwrap(),
            serde_json::json!({"name": "a.txt", "lines": ["x"]})
        );
        // Not a cut: a mistake within the text is refused as before.
        let err = arguments_value(&call(r#"{"a": 1,, "b": 2}"#), "Anthropic").unwrap_err();
        assert!(err.to_string().contains("are not JSON"), "{err}");
        let err = arguments_value(&call("[1, 2"), "Gemini").unwrap_err();
        assert!(err.to_string().contains("are not JSON: EOF"), "{err}");
    }
}
