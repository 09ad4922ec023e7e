//! OpenAI's chat completions API: [`OpenAIClient`], for OpenAI and every server that speaks
//! its API.

use serde_json::{json, Value};

use super::client::{Client, ClientBuilder};
use super::Message;

mod decoder;

pub use decoder::OpenAIDecoder;

/// OpenAI's API root, the base URL when neither the builder nor `OPENAI_BASE_URL` sets one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The environment variable the API key is read from: `OPENAI_API_KEY`.
pub const API_KEY_VAR: &str = "OPENAI_API_KEY";
/// The environment variable the base URL is read from: `OPENAI_BASE_URL`.
pub const BASE_URL_VAR: &str = "OPENAI_BASE_URL";

/// A streaming client for the OpenAI chat completions API and compatible servers
/// (`POST {base}/chat/completions`): the port of tinychat's `OpenAIClient`, a [`Client`] over
/// the [`OpenAI`] protocol.
///
/// The key comes from `OPENAI_API_KEY` and travels as `Authorization: Bearer <key>`; the base
/// URL comes from `OPENAI_BASE_URL` (default [`DEFAULT_BASE_URL`]). Both are read when the
/// client is built and both can be set on the [builder](ClientBuilder). Setting the base URL is
/// all it takes to use Ollama (`http://localhost:11434/v1`), vLLM, llama.cpp's server, Groq or
/// OpenRouter; a client without a key sends no `Authorization` header to a base URL other than
/// OpenAI's.
///
/// **The answer.** [`OpenAIDecoder`] reads the stream: `delta.content` is the text;
/// `reasoning_content` / `reasoning` are [`reasoning`](super::ChatStream::reasoning); tool-call
/// pieces are [`tool_calls`](super::ChatStream::tool_calls); an `error` object ends the stream
/// with [`Error::Api`](crate::Error::Api).
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

/// Builds an [`OpenAIClient`]: a [`ClientBuilder`] with
/// [`include_usage`](ClientBuilder::include_usage) on top of the common settings.
pub type OpenAIClientBuilder = ClientBuilder<OpenAI>;

/// The wire format of OpenAI's chat completions API, the protocol of [`OpenAIClient`].
#[derive(Debug, Clone, Default)]
pub struct OpenAI {
    include_usage: bool,
}

/// Implements the wire format of OpenAI's chat completions for a protocol value with an
/// `include_usage` method, at the provider given by key variable, base URL variable and
/// default base URL.
macro_rules! openai_compatible {
    ($protocol:ty, $key_var:expr, $base_var:expr, $default_base:expr) => {
        impl $crate::llm::client::sealed::Wire for $protocol {
            type Decoder = $crate::llm::OpenAIDecoder;
            const PROVIDER: &'static $crate::llm::client::Provider =
                &$crate::llm::client::Provider::new($key_var, $base_var, $default_base, None);

            fn url(&self, base_url: &str, _model: &str) -> String {
                format!("{base_url}/chat/completions")
            }

            fn body(
                &self,
                model: &str,
                temperature: Option<f64>,
                messages: &[$crate::llm::Message],
            ) -> Result<serde_json::Value, $crate::Error> {
                Ok($crate::llm::openai::chat_body(
                    model,
                    temperature,
                    messages,
                    self.include_usage(),
                ))
            }

            fn decoder(&self) -> $crate::llm::OpenAIDecoder {
                $crate::llm::OpenAIDecoder::new()
            }
        }
    };
}

pub(crate) use openai_compatible;

openai_compatible!(OpenAI, API_KEY_VAR, BASE_URL_VAR, DEFAULT_BASE_URL);

impl OpenAI {
    fn include_usage(&self) -> bool {
        self.include_usage
    }
}

impl ClientBuilder<OpenAI> {
    /// Whether to ask for token counts (`"stream_options": {"include_usage": true}`), readable
    /// with [`ChatStream::usage`](super::ChatStream::usage). Some compatible servers reject the
    /// field. Defaults to `false`.
    pub fn include_usage(mut self, yes: bool) -> Self {
        self.protocol.include_usage = yes;
        self
    }
}

/// The body of a streamed chat completion, shared by the OpenAI-compatible protocols.
pub(crate) fn chat_body(
    model: &str,
    temperature: Option<f64>,
    messages: &[Message],
    include_usage: bool,
) -> Value {
    let mut body = json!({"model": model, "messages": messages, "stream": true});
    if let Some(t) = temperature {
        body["temperature"] = json!(t);
    }
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

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
    fn the_body_has_usage_and_temperature_only_when_asked() {
        let body = chat_body("m", None, &[Message::user("hi")], false);
        assert_eq!(
            body,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true})
        );
        let body = chat_body("m", Some(0.5), &[], true);
        assert_eq!(body["temperature"], json!(0.5));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
    }
}
