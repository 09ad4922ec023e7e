//! OpenAI's chat completions API: [`OpenAIClient`], for OpenAI and every server that speaks
//! its API.

use serde_json::{json, Value};

use super::client::{Client, ClientBuilder, Protocol};
use super::message::data_url;
use super::request::{put, unsupported, ImagesIn};
use super::{ChatRequest, Message, Part, ResponseFormat, Thought, ToolChoice};
use crate::Error;

mod decoder;

pub use decoder::OpenAIDecoder;

/// OpenAI's API root, the base URL when neither the builder nor `OPENAI_BASE_URL` sets one.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Message, OpenAIClient, DEFAULT_BASE_URL};
/// use ureq_futures::Error;
///
/// assert_eq!(DEFAULT_BASE_URL, "https://api.openai.com/v1");
/// // The key is required there: the request says so before anything is sent.
/// let client = OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).build();
/// assert!(matches!(client.stream_chat(&[Message::user("Hi")]), Err(Error::MissingApiKey { .. })));
/// ```
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The environment variable the API key is read from: `OPENAI_API_KEY`.
///
/// # Examples
///
/// ```
/// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
/// use ureq_futures::llm::{Message, OpenAIClient, API_KEY_VAR};
///
/// let env = |name: &str| (name == API_KEY_VAR).then(|| "sk-test".to_string()); // OPENAI_API_KEY
/// let client = OpenAIClient::builder("gpt-4o-mini", None).env(env).base_url(server.url()).build();
/// client.stream_chat(&[Message::user("Hi")])?;
/// # let sent = &server.requests()[0];
/// assert_eq!(sent.header("authorization"), Some("Bearer sk-test")); // the request received
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub const API_KEY_VAR: &str = "OPENAI_API_KEY";
/// The environment variable the base URL is read from: `OPENAI_BASE_URL`.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
/// use ureq_futures::llm::{Message, OpenAIClient, BASE_URL_VAR};
///
/// // The variable (from a closure here, not the process environment) chooses the server.
/// let env = move |name: &str| (name == BASE_URL_VAR).then(|| format!("{base}/v1"));
/// let client = OpenAIClient::builder("llama3.2", None).env(env).build();
/// let text = client.stream_chat(&[Message::user("Say hello.")])?.collect::<Result<String, _>>()?;
/// assert_eq!(text, "Hello!");
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub const BASE_URL_VAR: &str = "OPENAI_BASE_URL";

/// A streaming client for OpenAI's chat completions API and the servers that speak it
/// (`POST {base}/chat/completions`), a [`Client`] over the [`OpenAI`] protocol. The key travels
/// as `Authorization: Bearer <key>` (variables: see the [module docs](super#providers)).
///
/// Setting the base URL is all it takes to use Ollama (`http://localhost:11434/v1`), vLLM,
/// llama.cpp's server, Groq or OpenRouter; without a key, no `Authorization` header goes to a
/// base URL other than OpenAI's. [`OpenAIDecoder`] reads the answer.
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
pub type OpenAIClient = Client<OpenAI>;

/// Builds an [`OpenAIClient`]: the common settings and
/// [`include_usage`](ClientBuilder::include_usage).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::OpenAIClient;
///
/// // Any OpenAI-compatible server: Ollama here, which needs no key.
/// let client = OpenAIClient::builder("llama3.2", 0.7)
///     .base_url("http://localhost:11434/v1/")
///     .include_usage(false) // a server that refuses `stream_options`
///     .build();
/// assert_eq!(client.base_url(), "http://localhost:11434/v1");
/// ```
pub type OpenAIClientBuilder = ClientBuilder<OpenAI>;

/// The wire format of OpenAI's chat completions: the protocol of [`OpenAIClient`], which is
/// `Client<OpenAI>`.
///
/// # Examples
///
/// ```
/// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
/// use ureq_futures::llm::{ChatRequest, Client, OpenAI};
///
/// // `Client<OpenAI>` is `OpenAIClient`.
/// let client = Client::<OpenAI>::builder("gpt-4o-mini", None)
///     .env(|_| None)
///     .base_url(server.url())
///     .build();
/// client.stream(&ChatRequest::new().user("Hi").max_tokens(100))?;
/// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
/// // `sent`: the body received. A compatible server gets `max_tokens`, the name they all
/// // read; api.openai.com gets `max_completion_tokens`, its reasoning models' word.
/// assert_eq!(sent["max_tokens"], 100);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenAI {
    /// `include_usage(false)` was set.
    without_usage: bool,
    /// `echo_reasoning` as set; by the host when not.
    echo_reasoning: Option<bool>,
}

/// Implements the wire format of OpenAI's chat completions for a protocol, at the provider of
/// the variables' prefix (`"OPENAI"`) and default base URL, spoken in the protocol's
/// [`Flavor`] (a function of the client: its protocol value and base URL).
macro_rules! openai_compatible {
    ($protocol:ty, $prefix:literal, $default_base:expr, $flavor:expr) => {
        impl $crate::llm::client::sealed::Wire for $protocol {
            type Decoder = $crate::llm::OpenAIDecoder;
            const PROVIDER: &'static $crate::llm::client::Provider =
                &$crate::llm::client::provider!($prefix, $default_base, None);

            fn url(&self, base_url: &str, _model: &str) -> String {
                $crate::url::join_path(base_url, "/chat/completions")
            }

            fn body(
                client: &$crate::llm::Client<Self>,
                request: &$crate::llm::ChatRequest,
            ) -> Result<serde_json::Value, $crate::Error> {
                let flavor: fn(&$crate::llm::Client<Self>) -> $crate::llm::openai::Flavor = $flavor;
                $crate::llm::openai::chat_body(client, request, &flavor(client))
            }

            /// llama.cpp's server reports a failure in the stream as an `error:` line. A
            /// server that ignores `"stream": true` (some proxies) sends the whole answer as
            /// one JSON `chat.completion`, which the decoder reads as a chunk.
            fn stream_options(&self) -> $crate::sse::StreamOptions {
                let parser = $crate::sse::Parser::new().error_lines();
                $crate::sse::StreamOptions::default()
                    .parser(parser)
                    .json_answer()
            }
        }
    };
}

pub(crate) use openai_compatible;

openai_compatible!(OpenAI, "OPENAI", DEFAULT_BASE_URL, |client| {
    let openai = is_openai(client.base_url());
    Flavor {
        include_usage: !client.settings.protocol.without_usage,
        max_tokens: if openai {
            "max_completion_tokens"
        } else {
            "max_tokens"
        },
        most_stops: openai.then_some(4),
        echo_reasoning: (client.settings.protocol.echo_reasoning)
            .unwrap_or_else(|| !is_groq(client.base_url())),
        ..Flavor::compatible("OpenAI")
    }
});

/// Whether `base_url` is Groq's API (`api.groq.com`), which refuses a message with a
/// reasoning field (`'messages.2' : for 'role:assistant' the following must be satisfied
/// [('messages.2' : property 'reasoning' is unsupported)]`).
fn is_groq(base_url: &str) -> bool {
    crate::url::parse(base_url).is_ok_and(|uri| {
        uri.host()
            .is_some_and(|h| h.eq_ignore_ascii_case("api.groq.com"))
    })
}

/// Whether `base_url` is OpenAI's own API: its hosts (the regional ones such as
/// `eu.api.openai.com` too) and Azure OpenAI. They get `max_completion_tokens`, since their
/// reasoning models refuse `max_tokens`, and at most 4 stop sequences, refused before anything
/// is sent (the API answers 400 to more). Any other server gets `max_tokens`, the name every
/// compatible server reads (Ollama and llama.cpp ignore the other without a word, so the limit
/// would not hold), and the stop sequences as they are (its limits are its own).
///
/// Azure OpenAI answers at `<resource>.openai.azure.com`, and under `/openai` at the other
/// hosts of an Azure AI resource (`<resource>.cognitiveservices.azure.com`, the Foundry's
/// `<resource>.services.ai.azure.com`, `<region>.api.cognitive.microsoft.com`).
fn is_openai(base_url: &str) -> bool {
    let Ok(uri) = crate::url::parse(base_url) else {
        return false;
    };
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    let under_openai = || {
        let path = uri.path();
        path.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("/openai"))
            && matches!(path.as_bytes().get(7), None | Some(b'/'))
    };
    let azure = [".azure.com", ".cognitive.microsoft.com"];
    host == "api.openai.com"
        || host.ends_with(".api.openai.com")
        || host.ends_with(".openai.azure.com")
        || (azure.iter().any(|domain| host.ends_with(domain)) && under_openai())
}

impl ClientBuilder<OpenAI> {
    setters! {
        /// Whether to ask for token counts (`"stream_options": {"include_usage": true}`), readable
        /// with [`ChatStream::usage`](super::ChatStream::usage). Some compatible servers reject the
        /// field: turn it off for them. Defaults to `true`.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// use ureq_futures::llm::{Message, OpenAIClient};
        ///
        /// let client = OpenAIClient::builder("local-model", None)
        ///     .env(|_| None)
        ///     .base_url(server.url())
        ///     .include_usage(false)
        ///     .build();
        /// client.stream_chat(&[Message::user("Hi")])?;
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent.get("stream_options"), None); // `sent`: the body the server received
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        include_usage(yes: bool) => settings.protocol.without_usage = !yes;
        /// Whether the reasoning a server sent in fields of its answer (`reasoning_content`,
        /// `reasoning`, `reasoning_details`: see [`Thought::Unsigned`](super::Thought::Unsigned)
        /// and [`Thought::ReasoningDetails`](super::Thought::ReasoningDetails)) goes back in the
        /// same fields of the assistant's messages of the history. Defaults to `true`, as
        /// DeepSeek's thinking mode refuses a tool loop's turn without its `reasoning_content`
        /// and OpenRouter keeps a model's reasoning across turns with `reasoning_details`; but
        /// to `false` at Groq (`api.groq.com`), whose API refuses those fields in a message.
        /// Turn it off for another server that refuses them (a 400 that names `reasoning`).
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// use ureq_futures::llm::{ChatRequest, Message, OpenAIClient, Part, Thought};
        ///
        /// let client = OpenAIClient::builder("local-model", None)
        ///     .env(|_| None)
        ///     .base_url(server.url())
        ///     .echo_reasoning(false)
        ///     .build();
        /// let thought = Thought::Unsigned { field: "reasoning".into(), text: "Say hi.".into() };
        /// let mut answer = Message::assistant("Hi!");
        /// answer.content.insert(0, Part::Thought(thought));
        /// client.stream(&ChatRequest::new().user("Hi").message(answer).user("Again"))?;
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["messages"][1], serde_json::json!({"role": "assistant", "content": "Hi!"}));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        echo_reasoning(yes: bool) => settings.protocol.echo_reasoning = Some(yes);
    }
}

/// How an OpenAI-compatible service spells what differs.
pub(crate) struct Flavor {
    /// The service's name, for errors.
    pub(crate) name: &'static str,
    /// Whether to send `stream_options.include_usage`.
    pub(crate) include_usage: bool,
    /// The name of the token limit: `max_completion_tokens` (OpenAI) or `max_tokens`.
    pub(crate) max_tokens: &'static str,
    /// How many stop sequences the service takes, when it says (OpenAI: 4); more are refused
    /// before anything is sent.
    pub(crate) most_stops: Option<usize>,
    /// The name of the seed: `seed`, or Mistral's `random_seed`.
    pub(crate) seed: &'static str,
    /// The tool choice that requires a call: `required`, or Mistral's `any`.
    pub(crate) required: &'static str,
    /// Whether the fields some compatible servers add to an answer go back with it in the
    /// history (a reasoning field, Gemini's `extra_content` on a tool call); Mistral's API,
    /// which sends none and refuses fields it does not know, gets none.
    pub(crate) echo: bool,
    /// Whether the reasoning fields go back too (with `echo`): not to Groq, which refuses
    /// them, or as [`ClientBuilder::echo_reasoning`] says.
    pub(crate) echo_reasoning: bool,
    /// Whether the service has only chat completions' four roles (`system`, `user`,
    /// `assistant`, `tool`; Mistral's and Together's APIs): OpenAI's `developer` goes as
    /// `system`, and any other role is refused before anything is sent. OpenAI and the
    /// servers an `OpenAIClient` talks to get every role as it is.
    pub(crate) four_roles: bool,
}

impl Flavor {
    /// A service named `name` that streams its usage without being asked and spells the rest
    /// as OpenAI's chat completions do (`max_tokens`, `seed`, `required`).
    pub(crate) const fn compatible(name: &'static str) -> Flavor {
        Flavor {
            name,
            include_usage: false,
            max_tokens: "max_tokens",
            most_stops: None,
            seed: "seed",
            required: "required",
            echo: true,
            echo_reasoning: true,
            four_roles: false,
        }
    }
}

/// The body of a streamed chat completion, shared by the OpenAI-compatible protocols.
pub(crate) fn chat_body<P: Protocol>(
    client: &Client<P>,
    request: &ChatRequest,
    flavor: &Flavor,
) -> Result<Value, Error> {
    if flavor.four_roles {
        request.check_roles(flavor.name)?;
    }
    let mut messages = chat_messages(request, flavor.name, None, flavor.echo)?;
    if !flavor.echo_reasoning {
        let fields = ["reasoning_content", "reasoning", "reasoning_details"];
        for message in messages.iter_mut().filter_map(Value::as_object_mut) {
            fields.iter().for_each(|field| _ = message.remove(*field));
        }
    }
    if flavor.four_roles {
        developer_as_system(&mut messages);
    }
    let model = client.model_name();
    let mut body = json!({"model": model, "messages": messages, "stream": true});
    put(&mut body, "temperature", client.temperature_for(request));
    put(&mut body, flavor.max_tokens, request.max_tokens);
    put(&mut body, "top_p", request.top_p);
    put(&mut body, flavor.seed, request.seed);
    put(&mut body, "stop", request.stop_sequences());
    if let Some(most) = flavor.most_stops {
        request.check_stop_count(flavor.name, most)?;
    }
    put(&mut body, "tools", function_tools(request)?);
    let choice = request.tool_choice.as_ref().map(|choice| match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!(flavor.required),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    });
    put(&mut body, "tool_choice", choice);
    put(
        &mut body,
        "parallel_tool_calls",
        request.parallel_tool_calls,
    );
    if let Some(ResponseFormat::JsonSchema { name, .. }) = &request.response_format {
        let fits = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if name.is_empty() || name.len() > 64 || !name.chars().all(fits) {
            // The API answers 400 to any other name.
            let what = format!(
                "a JSON schema named {name:?}: its name is 1 to 64 letters, digits, _ or -"
            );
            return Err(unsupported(flavor.name, &what));
        }
    }
    let format = request.response_format.as_ref().map(|format| match format {
        ResponseFormat::Json => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema { name, schema } => {
            json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
        }
    });
    put(&mut body, "response_format", format);
    if flavor.include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    Ok(body)
}

/// The tools as OpenAI's `{"type": "function", "function": {...}}` objects (Cohere v2 takes
/// the same), or `None` when there are none.
pub(crate) fn function_tools(request: &ChatRequest) -> Result<Option<Vec<Value>>, Error> {
    let function = |function| json!({"type": "function", "function": function});
    let tools = request.tools_as("parameters")?;
    Ok(tools.map(|tools| tools.into_iter().map(function).collect()))
}

/// OpenAI's `developer` messages as `system` ones, for a service that has only the latter.
pub(crate) fn developer_as_system(messages: &mut [Value]) {
    for message in messages {
        if message["role"] == "developer" {
            message["role"] = json!("system");
        }
    }
}

/// The conversation as chat-completions messages (OpenAI's, which Cohere v2 shares): the
/// system prompt first, then each message as [`push_message`] lays it out, its parts checked
/// first (refusals name `provider`). With `echo`, a reasoning field and Gemini's thought
/// signatures go back as the compatible servers sent them (see [`Flavor::echo`]).
pub(crate) fn chat_messages(
    request: &ChatRequest,
    provider: &str,
    plan_key: Option<&str>,
    echo: bool,
) -> Result<Vec<Value>, Error> {
    request.check_parts(provider, ImagesIn::User)?;
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in &request.messages {
        push_message(&mut messages, message, plan_key, echo);
    }
    Ok(messages)
}

/// Appends `message` as chat-completions messages (OpenAI's, which Cohere v2 shares): one
/// message, and one `tool` message per tool result it carries. With `plan_key`, an assistant's
/// text next to its tool calls goes in that field (Cohere's `tool_plan`) instead of `content`.
/// Each part is where the provider takes it: see [`ChatRequest::check_parts`].
fn push_message(out: &mut Vec<Value>, message: &Message, plan_key: Option<&str>, echo: bool) {
    let (mut content, mut calls) = (Vec::new(), Vec::new());
    let mut entry = json!({"role": message.role.to_ascii_lowercase()});
    let image = |url: &str| json!({"type": "image_url", "image_url": {"url": url}});
    for part in &message.content {
        match part {
            Part::Text { text } => content.push(json!({"type": "text", "text": text})),
            Part::ImageUrl { url } => content.push(image(url)),
            Part::Image { media_type, data } => content.push(image(&data_url(media_type, data))),
            Part::ToolCall(call) => {
                // A call without arguments as the empty object (Anthropic's and Gemini's
                // calls come so), one cut short closed: servers that parse the arguments
                // refuse "" and broken JSON.
                let arguments = super::request::arguments_text(&call.arguments);
                let mut entry = json!({"id": call.id, "type": "function", "function": {
                    "name": call.name, "arguments": arguments,
                }});
                // Gemini's OpenAI-compatible endpoint refuses a call without its signature.
                if let Some(signature) = call.signature.as_deref().filter(|_| echo) {
                    entry["extra_content"] = json!({"google": {"thought_signature": signature}});
                }
                calls.push(entry)
            }
            Part::ToolResult(result) => out.push(json!({
                "role": "tool", "tool_call_id": result.call_id, "content": result.content,
            })),
            // Reasoning that came in a field of the message goes back in it (Cohere has none).
            Part::Thought(Thought::Unsigned { field, text })
                if echo && matches!(field.as_str(), "reasoning_content" | "reasoning") =>
            {
                match &mut entry[field.as_str()] {
                    Value::String(known) => known.push_str(text),
                    slot => *slot = json!(text),
                }
            }
            Part::Thought(Thought::ReasoningDetails { details }) if echo => {
                match &mut entry["reasoning_details"] {
                    Value::Array(known) => known.extend(details.iter().cloned()),
                    slot => *slot = json!(details),
                }
            }
            // Another provider's signed thinking, or its own tools: no place for them here.
            Part::Thought(_) | Part::ServerToolUse(_) | Part::ServerToolResult(_) => {}
        }
    }
    if message.is_tool_results() {
        return;
    }
    let plan = Some(message.text()).filter(|t| !t.is_empty());
    match (content.as_slice(), plan_key) {
        (_, Some(key)) if !calls.is_empty() => put(&mut entry, key, plan),
        ([], _) if !calls.is_empty() => entry["content"] = Value::Null,
        ([], _) => entry["content"] = json!(""),
        ([one], _) if one["type"] == "text" => entry["content"] = one["text"].clone(),
        _ => entry["content"] = Value::Array(content),
    }
    if !calls.is_empty() {
        entry["tool_calls"] = Value::Array(calls);
    }
    out.push(entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_is_told_from_every_other_server_by_its_host() {
        for base in [
            DEFAULT_BASE_URL,
            "https://API.OpenAI.com/v1/",
            // OpenAI's data-residency and mTLS hosts (the SDK's `_data_residency.py`).
            "https://eu.api.openai.com/v1",
            "https://us.api.openai.com/v1",
            "https://mtls.api.openai.com/v1",
            "https://my-resource.openai.azure.com/openai/v1",
            "https://my-resource.cognitiveservices.azure.com/openai/v1",
            "https://my-project.services.ai.azure.com/openai/v1/",
            "https://westus.api.cognitive.microsoft.com/openai",
        ] {
            assert!(is_openai(base), "{base}");
        }
        for base in [
            "http://localhost:11434/v1",
            "https://api.groq.com/openai/v1",
            "https://openrouter.ai/api/v1",
            "https://api.openai.com.example/v1",
            "https://xapi.openai.com/v1",
            "https://my-project.services.ai.azure.com/models",
            "https://my-project.services.ai.azure.com/openaix/v1",
            "https://example.com/openai/v1",
            "not a URL",
        ] {
            assert!(!is_openai(base), "{base}");
        }
    }

    #[test]
    fn openai_takes_four_stop_sequences_and_another_server_as_many_as_it_is_given() {
        use crate::llm::client::sealed::Wire;
        let stops =
            |n: usize| (0..n).fold(ChatRequest::new().user("q"), |r, i| r.stop(i.to_string()));
        let client = |base: &str| {
            let builder = OpenAIClient::builder("m", 0.0).api_key("k").base_url(base);
            builder.env(|_| None).build()
        };
        let openai = client(DEFAULT_BASE_URL);
        let body = OpenAI::body(&openai, &stops(4)).expect("4 are taken");
        assert_eq!(body["stop"], json!(["0", "1", "2", "3"]));
        match OpenAI::body(&openai, &stops(5)) {
            Err(Error::InvalidRequest(message)) => {
                assert!(message.contains("OpenAI"), "{message}");
                assert!(
                    message.contains("5 stop sequences: it takes 4 at most"),
                    "{message}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let local = client("http://127.0.0.1:8080/v1");
        let body =
            OpenAI::body(&local, &stops(5)).expect("a compatible server's limits are its own");
        assert_eq!(body["stop"].as_array().map(Vec::len), Some(5));
    }

    #[test]
    fn groq_gets_no_reasoning_back_unless_asked_and_another_server_gets_it_unless_told() {
        use crate::llm::client::sealed::Wire;
        let thought = Thought::Unsigned {
            field: "reasoning".into(),
            text: "Say hi.".into(),
        };
        let mut turn = Message::assistant("Hi!");
        turn.content.insert(0, Part::Thought(thought));
        let request = ChatRequest::new().user("Hi").message(turn).user("Again");
        let sent = |base: &str, echo: Option<bool>| {
            let builder = OpenAIClient::builder("m", 0.0).api_key("k").base_url(base);
            let builder = match echo {
                Some(yes) => builder.echo_reasoning(yes),
                None => builder,
            };
            let client = builder.env(|_| None).build();
            let body = OpenAI::body(&client, &request).expect("sendable");
            body["messages"][1].get("reasoning").cloned()
        };
        let groq = "https://API.groq.com/openai/v1";
        assert_eq!(sent(groq, None), None);
        assert_eq!(sent(groq, Some(true)), Some(json!("Say hi.")));
        let other = "https://openrouter.ai/api/v1";
        assert_eq!(sent(other, None), Some(json!("Say hi.")));
        assert_eq!(sent(other, Some(false)), None);
        assert!(!is_groq("https://api.groq.com.example/v1") && !is_groq("not a URL"));
    }
}
