//! Anthropic's Messages API: [`AnthropicClient`].

use serde_json::{json, Value};

use super::client::{sealed::Wire, Client, ClientBuilder, Provider};
use super::message::base64;
use super::request::{arguments_value, put, unsupported, ImagesIn};
use super::{ChatRequest, Message, Part, ResponseFormat, ToolChoice};
use crate::Error;

mod decoder;

pub use decoder::AnthropicDecoder;

/// A streaming client for Anthropic's Messages API (`POST {base}/v1/messages`): the port of
/// tinychat's `AnthropicClient`, a [`Client`] over the [`Anthropic`] protocol.
///
/// The key comes from `ANTHROPIC_API_KEY` and travels in the `x-api-key` header; the base URL
/// comes from `ANTHROPIC_BASE_URL` (default `https://api.anthropic.com`).
/// Both are read when the client is built and both can be set on the [builder](ClientBuilder).
/// Every request carries `anthropic-version: 2023-06-01` ([`API_VERSION`](Self::API_VERSION))
/// unless a header of the builder sets another.
///
/// **Messages.** Anthropic takes the system prompt apart from the conversation: the
/// messages whose role is `system` are removed from `messages` and sent, joined by a blank
/// line, as the top-level `system` field. The other messages go as they are (`user` and
/// `assistant`). Anthropic requires a limit on the answer's length: `max_tokens`, by default
/// [`DEFAULT_MAX_TOKENS`](Self::DEFAULT_MAX_TOKENS) (4096), set with
/// [`ClientBuilder::max_tokens`].
///
/// **The answer.** [`AnthropicDecoder`] reads the stream: `text_delta`s are the text;
/// thinking is [`reasoning`](super::ChatStream::reasoning); tool-use blocks are
/// [`tool_calls`](super::ChatStream::tool_calls); `stop_reason` is the
/// [`finish_reason`](super::ChatStream::finish_reason) (`"end_turn"`, `"max_tokens"`,
/// `"tool_use"`...). An `error` event (such as `overloaded_error`) ends the stream with
/// [`Error::Api`], and a stream without `message_stop` is reported as cut.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use ureq_futures::llm::{AnthropicClient, Message};
///
/// let client = AnthropicClient::builder("claude-haiku-4-5", 0.7).max_tokens(1024).build();
/// let messages = [Message::system("Be brief."), Message::user("Why is the sky blue?")];
/// for piece in client.stream_chat(&messages)? {
///     print!("{}", piece?);
///     std::io::stdout().flush().ok();
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub type AnthropicClient = Client<Anthropic>;

/// Builds an [`AnthropicClient`]: a [`ClientBuilder`] with
/// [`max_tokens`](ClientBuilder::max_tokens) on top of the common settings.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{AnthropicClient, AnthropicClientBuilder};
///
/// let builder: AnthropicClientBuilder = AnthropicClient::builder("claude-sonnet-4-5", None);
/// let client = builder.max_tokens(16_000).build();
/// assert_eq!(client.max_tokens(), 16_000);
/// ```
pub type AnthropicClientBuilder = ClientBuilder<Anthropic>;

/// The wire format of Anthropic's Messages API, the protocol of [`AnthropicClient`].
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Anthropic, AnthropicClient, Client};
///
/// // `AnthropicClient` is `Client<Anthropic>`.
/// let client: Client<Anthropic> = AnthropicClient::new("claude-haiku-4-5", None);
/// assert_eq!(client.base_url(), "https://api.anthropic.com");
/// ```
#[derive(Debug, Clone)]
pub struct Anthropic {
    max_tokens: u32,
}

impl Default for Anthropic {
    fn default() -> Self {
        Anthropic {
            max_tokens: AnthropicClient::DEFAULT_MAX_TOKENS,
        }
    }
}

impl Client<Anthropic> {
    /// The `anthropic-version` header sent with every request: `2023-06-01`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::AnthropicClient;
    ///
    /// assert_eq!(AnthropicClient::API_VERSION, "2023-06-01");
    /// // A header of the same name replaces it.
    /// let client = AnthropicClient::builder("claude-haiku-4-5", None)
    ///     .header("anthropic-version", "2023-06-01")
    ///     .build();
    /// # let _ = client;
    /// ```
    pub const API_VERSION: &'static str = "2023-06-01";
    /// The `max_tokens` sent unless the builder sets another: 4096.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::AnthropicClient;
    ///
    /// assert_eq!(AnthropicClient::DEFAULT_MAX_TOKENS, 4096);
    /// assert_eq!(AnthropicClient::new("claude-haiku-4-5", None).max_tokens(), 4096);
    /// ```
    pub const DEFAULT_MAX_TOKENS: u32 = 4096;

    /// The longest answer asked for, in tokens (`max_tokens`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::AnthropicClient;
    ///
    /// let client = AnthropicClient::new("claude-sonnet-4-5", 0.2);
    /// assert_eq!(client.max_tokens(), AnthropicClient::DEFAULT_MAX_TOKENS);
    /// ```
    pub fn max_tokens(&self) -> u32 {
        self.protocol.max_tokens
    }
}

impl ClientBuilder<Anthropic> {
    /// The longest answer to ask for, in tokens: the `max_tokens` Anthropic requires. With
    /// extended thinking it counts the thinking too. Defaults to
    /// [`AnthropicClient::DEFAULT_MAX_TOKENS`] (4096).
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::{AnthropicClient, ChatRequest};
    ///
    /// // Room for 10,000 tokens of thinking and the answer.
    /// let client = AnthropicClient::builder("claude-sonnet-4-5", None).max_tokens(16_000).build();
    /// assert_eq!(client.max_tokens(), 16_000);
    /// // One request can ask for another limit.
    /// let short = ChatRequest::new().user("One word?").max_tokens(5);
    /// # let _ = short;
    /// ```
    pub fn max_tokens(mut self, tokens: u32) -> Self {
        self.protocol.max_tokens = tokens;
        self
    }
}

impl Wire for Anthropic {
    type Decoder = AnthropicDecoder;
    const PROVIDER: &'static Provider = &Provider::new(
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "https://api.anthropic.com",
        Some("x-api-key"),
    );
    const HEADERS: &'static [(&'static str, &'static str)] =
        &[("anthropic-version", AnthropicClient::API_VERSION)];

    fn url(&self, base_url: &str, _model: &str) -> String {
        format!("{base_url}/v1/messages")
    }

    fn body(
        &self,
        model: &str,
        temperature: Option<f64>,
        request: &ChatRequest,
    ) -> Result<Value, Error> {
        let messages =
            request.user_turns(PROVIDER, ImagesIn::AllButAssistant, "content", message)?;
        let mut body = json!({
            "model": model,
            "max_tokens": request.max_tokens.unwrap_or(self.max_tokens),
            "messages": messages,
            "stream": true,
        });
        put(&mut body, "system", request.system_text(PROVIDER)?);
        put(&mut body, "temperature", temperature);
        put(&mut body, "top_p", request.top_p);
        put(&mut body, "stop_sequences", request.stop_sequences());
        if request.seed.is_some() {
            return Err(unsupported(PROVIDER, "a seed"));
        }
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        put(&mut body, "tools", Some(tools).filter(|t| !t.is_empty()));
        let choice = request.tool_choice.as_ref().map(|choice| match choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        });
        put(&mut body, "tool_choice", choice);
        match &request.response_format {
            None => {}
            Some(ResponseFormat::JsonSchema { schema, .. }) => {
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

    fn decoder(&self) -> AnthropicDecoder {
        AnthropicDecoder::new()
    }
}

/// The provider's name in errors.
const PROVIDER: &str = "Anthropic";

/// A message of the conversation as Anthropic's: a string when it is one text part, else
/// content blocks. Tool results go in `user` messages (the results of consecutive tool
/// messages are joined into one by the caller).
fn message(message: &Message) -> Result<Value, Error> {
    let role = if message.is("assistant") {
        "assistant"
    } else {
        "user"
    };
    if let Some(text) = message.plain_text() {
        return Ok(json!({"role": role, "content": text}));
    }
    let blocks = message
        .content
        .iter()
        .map(|part| {
            Ok(match part {
                Part::Text { text } => json!({"type": "text", "text": text}),
                Part::ImageUrl { url } => {
                    json!({"type": "image", "source": {"type": "url", "url": url}})
                }
                Part::Image { media_type, data } => json!({"type": "image", "source": {
                    "type": "base64", "media_type": media_type, "data": base64(data),
                }}),
                Part::ToolCall(call) => json!({
                    "type": "tool_use", "id": call.id, "name": call.name,
                    "input": arguments_value(call, PROVIDER)?,
                }),
                Part::ToolResult(result) => json!({
                    "type": "tool_result", "tool_use_id": result.call_id, "content": result.content,
                }),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(json!({"role": role, "content": blocks}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::request::fixtures::{add_call, client, every_part};
    use crate::llm::ToolCall;

    fn body(request: &ChatRequest) -> Result<Value, Error> {
        client(AnthropicClient::builder("m", None).max_tokens(9)).body(request)
    }

    #[test]
    fn system_messages_become_the_system_field() {
        let request = ChatRequest::new()
            .system("a")
            .message(Message::system("b"))
            .user("hi");
        assert_eq!(
            body(&request).unwrap(),
            json!({
                "model": "m",
                "max_tokens": 9,
                "system": "a\n\nb",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
            })
        );
    }

    #[test]
    fn images_tools_calls_and_results_are_content_blocks() {
        let request = every_part("image/jpeg", Some("adding"), &add_call("toolu_1"))
            .tool_choice(ToolChoice::Required)
            .max_tokens(50)
            .stop("END")
            .top_p(0.5);
        let body = body(&request).unwrap();
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "aGk="}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "adding"},
                    {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 2}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"},
                ]},
            ])
        );
        assert_eq!(
            body["tools"],
            json!([{"name": "add", "description": "adds", "input_schema": {"type": "object"}}])
        );
        assert_eq!(body["tool_choice"], json!({"type": "any"}));
        assert_eq!(body["max_tokens"], json!(50));
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert_eq!(body["top_p"], json!(0.5));
        let named = ChatRequest::new()
            .user("x")
            .tool_choice(ToolChoice::Tool("add".into()));
        assert_eq!(
            super::tests::body(&named).unwrap()["tool_choice"],
            json!({"type": "tool", "name": "add"})
        );
    }

    #[test]
    fn a_schema_is_output_config_and_what_anthropic_lacks_is_refused() {
        let schema = json!({"type": "object"});
        let request = ChatRequest::new()
            .user("x")
            .json_schema("a", schema.clone());
        assert_eq!(
            body(&request).unwrap()["output_config"],
            json!({"format": {"type": "json_schema", "schema": schema}})
        );
        for request in [
            ChatRequest::new().user("x").json(),
            ChatRequest::new().user("x").seed(1),
            ChatRequest::new().message(Message::system("s").with_image_url("u")),
        ] {
            let err = body(&request).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidRequest(m) if m.contains("Anthropic")),
                "{err:?}"
            );
        }
        let bad_arguments = ChatRequest::new().message(Message {
            role: "assistant".into(),
            content: vec![Part::ToolCall(ToolCall {
                arguments: "{not json".into(),
                ..ToolCall::default()
            })],
        });
        assert!(matches!(
            body(&bad_arguments),
            Err(Error::InvalidRequest(_))
        ));
    }
}
