//! Anthropic's Messages API: [`AnthropicClient`].

use serde_json::{json, Value};

use super::client::{sealed::Wire, Client, ClientBuilder, Provider};
use super::{system_prompt, Message};
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
pub type AnthropicClientBuilder = ClientBuilder<Anthropic>;

/// The wire format of Anthropic's Messages API, the protocol of [`AnthropicClient`].
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
    pub const API_VERSION: &'static str = "2023-06-01";
    /// The `max_tokens` sent unless the builder sets another: 4096.
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
        messages: &[Message],
    ) -> Result<Value, Error> {
        let (system, rest): (Vec<&Message>, Vec<&Message>) = messages
            .iter()
            .partition(|m| m.role.eq_ignore_ascii_case("system"));
        let mut body = json!({
            "model": model,
            "max_tokens": self.max_tokens,
            "messages": rest,
            "stream": true,
        });
        if let Some(system) = system_prompt(system) {
            body["system"] = json!(system);
        }
        if let Some(t) = temperature {
            body["temperature"] = json!(t);
        }
        Ok(body)
    }

    fn decoder(&self) -> AnthropicDecoder {
        AnthropicDecoder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_messages_become_the_system_field() {
        let messages = [
            Message::system("a"),
            Message::user("hi"),
            Message::system("b"),
        ];
        let body = Anthropic { max_tokens: 9 }
            .body("m", None, &messages)
            .unwrap();
        assert_eq!(
            body,
            json!({
                "model": "m",
                "max_tokens": 9,
                "system": "a\n\nb",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
            })
        );
    }
}
