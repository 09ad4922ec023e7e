//! Anthropic's Messages API: [`AnthropicClient`].

use serde_json::{json, Map, Value};

use super::client::{provider, sealed::Wire, Client, ClientBuilder, Provider};
use super::message::{base64, split_data_url};
use super::request::{arguments_value, put, unsupported, ImagesIn};
use super::{ChatRequest, Part, ResponseFormat, Thought, ToolChoice};
use crate::Error;

mod decoder;

pub use decoder::AnthropicDecoder;

/// A streaming client for Anthropic's Messages API (`POST {base}/v1/messages`), a [`Client`]
/// over the [`Anthropic`] protocol. The key travels in the `x-api-key` header (variables: see
/// the [module docs](super#providers)).
///
/// Every request carries `anthropic-version: 2023-06-01` ([`API_VERSION`](Self::API_VERSION))
/// unless a header of the builder sets another. The system prompt and the `system` messages
/// go, joined by a blank line, in the top-level `system` field. Anthropic requires a limit on
/// the answer's length: `max_tokens`, [`DEFAULT_MAX_TOKENS`](Self::DEFAULT_MAX_TOKENS) (4096)
/// unless the builder or the request sets another; with extended thinking given a budget
/// (`extra("thinking", json!({"type": "enabled", "budget_tokens": 10000}))`), which the limit
/// counts and must exceed, the default is that budget plus 4096. [`AnthropicDecoder`] reads
/// the answer.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/v1/messages", "text/event-stream", "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\ndata: {\"type\":\"message_stop\"}\n\n")]);
/// use ureq_futures::llm::{AnthropicClient, Message};
///
/// let client = AnthropicClient::builder("claude-haiku-4-5", 0.7).max_tokens(1024).base_url(&base).build();
/// let messages = [Message::system("Be brief."), Message::user("Say hi.")];
/// let text = client.stream_chat(&messages)?.collect::<Result<String, _>>()?;
/// assert_eq!(text, "Hi");
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub type AnthropicClient = Client<Anthropic>;

/// Builds an [`AnthropicClient`]: the common settings and
/// [`max_tokens`](ClientBuilder::max_tokens).
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{AnthropicClient, AnthropicClientBuilder};
///
/// // The settings every Claude client of a program shares.
/// fn claude(model: &str) -> AnthropicClientBuilder {
///     AnthropicClient::builder(model, None).max_tokens(8192)
/// }
/// assert_eq!(claude("claude-sonnet-4-5").env(|_| None).build().max_tokens(), 8192);
/// ```
pub type AnthropicClientBuilder = ClientBuilder<Anthropic>;

/// The wire format of Anthropic's Messages API: the protocol of [`AnthropicClient`], which is
/// `Client<Anthropic>`.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Anthropic, ChatRequest, Client};
/// use ureq_futures::Error;
///
/// let client = Client::<Anthropic>::builder("claude-haiku-4-5", None).api_key("sk-ant-...").build();
/// // Anthropic's wire format has no seed: refused before anything is sent.
/// let err = client.stream(&ChatRequest::new().user("Hi").seed(42)).unwrap_err();
/// assert!(matches!(err, Error::InvalidRequest(_)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Anthropic {
    /// The builder's `max_tokens`, if it set one.
    max_tokens: Option<u32>,
}

impl Client<Anthropic> {
    /// The `anthropic-version` header sent with every request: `2023-06-01`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// use ureq_futures::llm::{AnthropicClient, Message};
    ///
    /// let client = AnthropicClient::builder("claude-haiku-4-5", None)
    ///     .env(|_| None)
    ///     .base_url(server.url())
    ///     .build();
    /// client.stream_chat(&[Message::user("Hi")])?;
    /// # let sent = &server.requests()[0];
    /// assert_eq!(sent.header("anthropic-version"), Some(AnthropicClient::API_VERSION)); // 2023-06-01
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub const API_VERSION: &'static str = "2023-06-01";
    /// The `max_tokens` sent unless the builder or the request sets another: 4096 (with a
    /// thinking budget, that budget plus 4096).
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
    /// use ureq_futures::llm::{AnthropicClient, Message};
    ///
    /// let client = AnthropicClient::builder("claude-haiku-4-5", None)
    ///     .env(|_| None)
    ///     .base_url(server.url())
    ///     .build();
    /// client.stream_chat(&[Message::user("Hi")])?;
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// assert_eq!(sent["max_tokens"], AnthropicClient::DEFAULT_MAX_TOKENS); // `sent`: the body received
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub const DEFAULT_MAX_TOKENS: u32 = 4096;

    /// The longest answer asked for, in tokens (`max_tokens`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::AnthropicClient;
    ///
    /// let client = AnthropicClient::builder("claude-sonnet-4-5", None).env(|_| None).build();
    /// assert_eq!(client.max_tokens(), AnthropicClient::DEFAULT_MAX_TOKENS);
    /// ```
    pub fn max_tokens(&self) -> u32 {
        self.settings
            .protocol
            .max_tokens
            .unwrap_or(Self::DEFAULT_MAX_TOKENS)
    }
}

impl ClientBuilder<Anthropic> {
    setters! {
        /// The longest answer to ask for, in tokens: the `max_tokens` Anthropic requires. With
        /// extended thinking it counts the thinking too. Defaults to
        /// [`AnthropicClient::DEFAULT_MAX_TOKENS`] (4096), or to a thinking budget
        /// (`budget_tokens`) plus 4096 for a request that gives one.
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
        /// use ureq_futures::llm::{AnthropicClient, Message};
        ///
        /// // Room for 10,000 tokens of thinking and the answer.
        /// let client = AnthropicClient::builder("claude-sonnet-4-5", None)
        ///     .env(|_| None)
        ///     .base_url(server.url())
        ///     .max_tokens(16_000)
        ///     .build();
        /// client.stream_chat(&[Message::user("Think it over.")])?;
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["max_tokens"], 16_000); // `sent`: the body the server received
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        max_tokens(tokens: u32) => settings.protocol.max_tokens = Some(tokens);
    }
}

impl Wire for Anthropic {
    type Decoder = AnthropicDecoder;
    const PROVIDER: &'static Provider =
        &provider!("ANTHROPIC", "https://api.anthropic.com", Some("x-api-key"));
    const HEADERS: &'static [(&'static str, &'static str)] =
        &[("anthropic-version", AnthropicClient::API_VERSION)];

    fn url(&self, base_url: &str, _model: &str) -> String {
        crate::url::join_path(base_url, "/v1/messages")
    }

    fn body(client: &AnthropicClient, request: &ChatRequest) -> Result<Value, Error> {
        // Text-only messages as strings, tool results in `user` turns.
        request.check_parts(PROVIDER, ImagesIn::AllButAssistant)?;
        let messages = request.user_turns(PROVIDER, "assistant", "content", true, block)?;
        // Extended thinking (`extra("thinking", ..)`, not `{"type": "disabled"}`).
        let thinking = request.extra.get("thinking").filter(|thinking| {
            !thinking.is_null() && thinking.get("type").and_then(Value::as_str) != Some("disabled")
        });
        // The API refuses a `max_tokens` that is not above the thinking's budget: with none set,
        // the default leaves the answer its 4096 tokens beside the thinking.
        let budget = thinking.and_then(|t| t.get("budget_tokens"));
        let default_max = match (client.settings.protocol.max_tokens, budget) {
            (None, Some(budget)) => budget
                .as_u64()
                .and_then(|b| u32::try_from(b).ok())
                .map_or(client.max_tokens(), |b| {
                    b.saturating_add(client.max_tokens())
                }),
            _ => client.max_tokens(),
        };
        let mut body = json!({
            "model": client.model_name(),
            "max_tokens": request.max_tokens.unwrap_or(default_max),
            "messages": messages,
            "stream": true,
        });
        put(&mut body, "system", request.system_text(PROVIDER)?);
        // Claude's newer models refuse `temperature` and `top_p` together. A request that sets
        // `top_p` only is taken to choose it over the client's default temperature; one that
        // sets both sends both, as asked. Extended thinking (`extra("thinking", ..)`) takes no
        // temperature but 1: the client's default is left out then too.
        let temperature = client.temperature_for(request).filter(|_| {
            request.temperature.is_some() || (request.top_p.is_none() && thinking.is_none())
        });
        if let Some(t) = temperature.filter(|t| !(0.0..=1.0).contains(t)) {
            // The API answers 400 to a temperature above 1 (OpenAI's go to 2).
            let what = format!("a temperature of {t}: it takes 0 to 1");
            return Err(unsupported(PROVIDER, &what));
        }
        put(&mut body, "temperature", temperature);
        put(&mut body, "top_p", request.top_p);
        put(&mut body, "stop_sequences", request.stop_sequences());
        if let Some(blank) = request.stop.iter().find(|stop| stop.trim().is_empty()) {
            // The API answers 400: "each stop sequence must contain non-whitespace".
            return Err(unsupported(
                PROVIDER,
                &format!("a stop sequence of only whitespace ({blank:?})"),
            ));
        }
        if request.seed.is_some() {
            return Err(unsupported(PROVIDER, "a seed"));
        }
        put(&mut body, "tools", request.tools_as("input_schema")?);
        let mut choice = request.tool_choice.as_ref().map(|choice| match choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        });
        // One call at a time is a flag of the choice (`auto` when the request makes none); a
        // choice of none takes no flag, and calls nothing anyway.
        if request.parallel_tool_calls == Some(false) {
            let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
            if choice["type"] != "none" {
                choice["disable_parallel_tool_use"] = json!(true);
            }
        }
        put(&mut body, "tool_choice", choice);
        match &request.response_format {
            None => {}
            Some(ResponseFormat::JsonSchema { schema, .. }) => {
                let schema = strict_schema(schema, "root")?;
                body["output_config"] =
                    json!({"format": {"type": "json_schema", "schema": schema}});
            }
            Some(_) => {
                return Err(unsupported(
                    PROVIDER,
                    "JSON mode without a schema: give one with ChatRequest::json_schema",
                ))
            }
        }
        Ok(body)
    }
}

/// The provider's name in errors.
const PROVIDER: &str = "Anthropic";

/// The string formats Anthropic's structured output takes (its SDK's list).
const STRING_FORMATS: [&str; 10] = [
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "uri",
    "ipv4",
    "ipv6",
    "uuid",
];

/// A JSON schema as Anthropic's structured output takes it, made as its SDK's
/// `transform_schema` makes it: every object closed (`additionalProperties: false`; the API
/// refuses any other value, and so does this, where the SDK would drop it) with its
/// `properties` (`{}` when none),
/// `oneOf` read as `anyOf`, and each keyword the API refuses (`minimum`, `maxLength`,
/// `pattern`, a `format` it does not know, `minItems` above 1...) moved into the
/// `description` as `{minimum: 1, ...}`, where the model may still follow it; the API answers
/// 400 to them (`For 'integer' type, property 'minimum' is not supported`). `$defs` (and
/// `definitions`), `$ref`, `enum`, `const`, `title`, `required`, string formats it knows and
/// `items` are kept, and a root's `$schema` and `$id` dropped. A schema (or sub-schema) that is
/// not an object, or has no `type`, `enum`, `const`, `anyOf`, `oneOf`, `allOf` or `$ref`, is
/// refused before anything is sent.
fn strict_schema(schema: &Value, at: &str) -> Result<Value, Error> {
    let refused = |what: &str| unsupported(PROVIDER, &format!("a JSON schema whose {at} {what}"));
    let Value::Object(fields) = schema else {
        return Err(refused("is not an object"));
    };
    let mut rest = fields.clone();
    // The schema's own metadata (schemars and pydantic write them at the root): not a rule.
    // A nested `$id` is the base of its `$ref`s, and stays with the rest.
    if at == "root" {
        rest.remove("$schema");
        rest.remove("$id");
    }
    let mut strict = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = rest.remove(key) {
            let defs = defs
                .iter()
                .map(|(name, def)| {
                    Ok((
                        name.clone(),
                        strict_schema(def, &format!("{at}.{key}.{name}"))?,
                    ))
                })
                .collect::<Result<Map<_, _>, Error>>()?;
            strict.insert(key.into(), Value::Object(defs));
        }
    }
    if let Some(reference) = rest.remove("$ref") {
        strict.insert("$ref".into(), reference);
        return Ok(Value::Object(strict));
    }
    let kind = rest.remove("type");
    let alternatives = [("anyOf", "anyOf"), ("oneOf", "anyOf"), ("allOf", "allOf")];
    let mut alternative = None;
    for (key, as_key) in alternatives {
        if let Some(Value::Array(all)) = rest.remove(key) {
            let all = (all.iter().enumerate())
                .map(|(i, one)| strict_schema(one, &format!("{at}.{key}[{i}]")))
                .collect::<Result<_, _>>()?;
            alternative.get_or_insert((as_key, Value::Array(all)));
        }
    }
    let listed = rest.contains_key("enum") || rest.contains_key("const");
    match (alternative, &kind) {
        (Some((key, all)), _) => {
            strict.insert(key.into(), all);
        }
        (None, Some(kind)) => {
            strict.insert("type".into(), kind.clone());
        }
        // Its values say what it is (pydantic's `Literal[1, "a"]`).
        (None, None) if listed => {}
        (None, None) => {
            return Err(refused(
                "has no \"type\" (nor enum, const, anyOf, oneOf, allOf or $ref): give it one",
            ))
        }
    }
    for key in ["enum", "const", "description", "title"] {
        if let Some(value) = rest.remove(key) {
            strict.insert(key.into(), value);
        }
    }
    let is = |name: &str| match &kind {
        Some(Value::String(kind)) => kind == name,
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k == name),
        _ => false,
    };
    if is("object") {
        let mut properties = Map::new();
        if let Some(Value::Object(named)) = rest.remove("properties") {
            for (name, property) in &named {
                let property = strict_schema(property, &format!("{at}.properties.{name}"))?;
                properties.insert(name.clone(), property);
            }
        }
        strict.insert("properties".into(), Value::Object(properties));
        match rest.remove("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(other) => {
                return Err(refused(&format!(
                    "sets additionalProperties to {other}: it takes only false (closed \
                     objects), which it sets itself when the schema says nothing"
                )))
            }
        }
        strict.insert("additionalProperties".into(), Value::Bool(false));
        if let Some(required) = rest.remove("required") {
            strict.insert("required".into(), required);
        }
    }
    if is("string") {
        if let Some(format) = rest.get("format").and_then(Value::as_str) {
            if STRING_FORMATS.contains(&format) {
                strict.insert("format".into(), rest.remove("format").unwrap_or_default());
            }
        }
    }
    if is("array") {
        if let Some(items) = rest.remove("items") {
            strict.insert(
                "items".into(),
                strict_schema(&items, &format!("{at}.items"))?,
            );
        }
        if let Some(min) = rest.get("minItems").filter(|min| *min == 0 || *min == 1) {
            strict.insert("minItems".into(), min.clone());
            rest.remove("minItems");
        }
    }
    if !rest.is_empty() {
        let said = (rest.iter())
            .map(|(key, value)| format!("{key}: {value}"))
            .collect::<Vec<_>>()
            .join(", ");
        let description = match strict.get("description").and_then(Value::as_str) {
            Some(description) => format!("{description}\n\n{{{said}}}"),
            None => format!("{{{said}}}"),
        };
        strict.insert("description".into(), Value::String(description));
    }
    Ok(Value::Object(strict))
}

/// `media_type` when Anthropic takes images of it (JPEG, PNG, GIF, WebP: it answers 400 to
/// any other), else the refusal.
fn image_type(media_type: &str) -> Result<&'static str, Error> {
    let known = ["image/jpeg", "image/png", "image/gif", "image/webp"];
    // As the API spells them: it refuses `IMAGE/PNG`.
    if let Some(known) = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(media_type.trim()))
    {
        return Ok(known);
    }
    let what = format!(
        "an image of type {media_type:?}: it takes {}",
        known.join(", ")
    );
    Err(unsupported(PROVIDER, &what))
}

/// How the ids of Anthropic's server tool uses begin.
const SERVER_TOOL_ID: &str = "srvtoolu_";

/// A part as an Anthropic content block.
fn block(part: &Part) -> Result<Value, Error> {
    Ok(match part {
        Part::Text { text } => json!({"type": "text", "text": text}),
        // A data: URL is an inline image, which Anthropic takes as a base64 source.
        Part::ImageUrl { url } => match split_data_url(url, PROVIDER).transpose()? {
            Some((media_type, data)) => json!({"type": "image", "source": {
                "type": "base64", "media_type": image_type(media_type)?, "data": data,
            }}),
            None => json!({"type": "image", "source": {"type": "url", "url": url}}),
        },
        Part::Image { media_type, data } => json!({"type": "image", "source": {
            "type": "base64", "media_type": image_type(media_type)?, "data": base64(data),
        }}),
        Part::ToolCall(call) => json!({
            "type": "tool_use", "id": call.id, "name": call.name,
            "input": arguments_value(call, PROVIDER)?,
        }),
        Part::ToolResult(result) => {
            // An empty `content` is refused by the API ("content field is empty"); it is
            // optional, so an empty result goes without it.
            let mut block = json!({"type": "tool_result", "tool_use_id": result.call_id});
            put(
                &mut block,
                "content",
                Some(&result.content).filter(|c| !c.is_empty()),
            );
            put(&mut block, "is_error", result.is_error.then_some(true));
            block
        }
        Part::Thought(Thought::Signed { text, signature }) => {
            json!({"type": "thinking", "thinking": text, "signature": signature})
        }
        Part::Thought(Thought::Redacted { data }) => {
            json!({"type": "redacted_thinking", "data": data})
        }
        // Another provider's reasoning: Anthropic takes signed thinking only.
        Part::Thought(Thought::Unsigned { .. } | Thought::ReasoningDetails { .. }) => Value::Null,
        // Anthropic's own server tools (`srvtoolu_` ids) go back as they came; an MCP tool
        // use's server name is not kept, and another provider's tools mean nothing here.
        Part::ServerToolUse(call) if call.id.starts_with(SERVER_TOOL_ID) => json!({
            "type": "server_tool_use", "id": call.id, "name": call.name,
            "input": arguments_value(call, PROVIDER)?,
        }),
        Part::ServerToolResult(result) if result.tool_use_id.starts_with(SERVER_TOOL_ID) => {
            result.block.clone()
        }
        Part::ServerToolUse(_) | Part::ServerToolResult(_) => Value::Null,
    })
}
