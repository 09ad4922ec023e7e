//! `MistralClient` and `TogetherClient`: [`OpenAIClient`]s set up for OpenAI-compatible
//! services with their own variable names.
//!
//! Both services speak OpenAI's chat completions API, so their clients are [`OpenAIClient`]s:
//! the presets only change where the key and the base URL come from and which base URL is the
//! default (the key is required there, as for OpenAI's own). Everything else, including
//! [`OpenAIDecoder`](super::OpenAIDecoder)'s handling of Mistral's `thinking` content parts,
//! is the OpenAI client's.

use super::openai::{OpenAIClient, OpenAIClientBuilder};

/// Mistral's API (`https://api.mistral.ai/v1`) through an [`OpenAIClient`]: the port of
/// tinychat's `MistralClient`.
///
/// It is not a client type of its own: [`MistralClient::new`] and [`MistralClient::builder`]
/// return an [`OpenAIClient`] and its builder, which read the key from `MISTRAL_API_KEY` and the
/// base URL from `MISTRAL_BASE_URL` (default [`DEFAULT_BASE_URL`](Self::DEFAULT_BASE_URL))
/// instead of OpenAI's variables. A missing key is an
/// [`Error::MissingApiKey`](crate::Error::MissingApiKey) naming `MISTRAL_API_KEY`.
///
/// Magistral models send their reasoning as `thinking` content parts: they are
/// [`reasoning`](super::ChatStream::reasoning), never text.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Message, MistralClient, OpenAIClient};
///
/// let client: OpenAIClient = MistralClient::new("mistral-small-latest", 0.3);
/// assert_eq!(client.model_name(), "mistral-small-latest");
///
/// let no_env = MistralClient::builder("mistral-small-latest", 0.3).env(|_| None).build();
/// assert_eq!(no_env.base_url(), MistralClient::DEFAULT_BASE_URL);
/// let err = no_env.stream_chat(&[Message::user("Bonjour")]).unwrap_err();
/// assert!(err.to_string().contains("MISTRAL_API_KEY"));
/// ```
#[derive(Debug)]
pub struct MistralClient {
    _presets_only: (),
}

impl MistralClient {
    /// Mistral's API root, the base URL when neither the builder nor `MISTRAL_BASE_URL` sets
    /// one: `https://api.mistral.ai/v1`.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.mistral.ai/v1";
    /// The environment variable the API key is read from: `MISTRAL_API_KEY`.
    pub const API_KEY_VAR: &'static str = "MISTRAL_API_KEY";
    /// The environment variable the base URL is read from: `MISTRAL_BASE_URL`.
    pub const BASE_URL_VAR: &'static str = "MISTRAL_BASE_URL";

    /// An [`OpenAIClient`] for `model_name` at Mistral, with the builder's defaults (key and
    /// base URL from `MISTRAL_API_KEY` and `MISTRAL_BASE_URL`). Never fails: a missing key is
    /// reported by the first request.
    // A preset, not a type of its own: it returns the client it configures.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(model_name: impl Into<String>, temperature: impl Into<Option<f64>>) -> OpenAIClient {
        MistralClient::builder(model_name, temperature).build()
    }

    /// An [`OpenAIClientBuilder`] that reads `MISTRAL_API_KEY` and `MISTRAL_BASE_URL` rather
    /// than OpenAI's variables and defaults to [`DEFAULT_BASE_URL`](Self::DEFAULT_BASE_URL);
    /// its other defaults are [`OpenAIClientBuilder`]'s.
    pub fn builder(
        model_name: impl Into<String>,
        temperature: impl Into<Option<f64>>,
    ) -> OpenAIClientBuilder {
        OpenAIClient::builder(model_name, temperature).with_env_names(
            MistralClient::API_KEY_VAR,
            MistralClient::BASE_URL_VAR,
            MistralClient::DEFAULT_BASE_URL,
        )
    }
}

/// Together AI's API (`https://api.together.xyz/v1`) through an [`OpenAIClient`]: the port of
/// tinychat's `TogetherClient`.
///
/// It is not a client type of its own: [`TogetherClient::new`] and [`TogetherClient::builder`]
/// return an [`OpenAIClient`] and its builder, which read the key from `TOGETHER_API_KEY` and
/// the base URL from `TOGETHER_BASE_URL` (default
/// [`DEFAULT_BASE_URL`](Self::DEFAULT_BASE_URL)) instead of OpenAI's variables. A missing key is
/// an [`Error::MissingApiKey`](crate::Error::MissingApiKey) naming `TOGETHER_API_KEY`.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{OpenAIClient, TogetherClient};
///
/// let client: OpenAIClient = TogetherClient::builder("meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.7)
///     .env(|_| None)
///     .build();
/// assert_eq!(client.base_url(), "https://api.together.xyz/v1");
/// ```
#[derive(Debug)]
pub struct TogetherClient {
    _presets_only: (),
}

impl TogetherClient {
    /// Together's API root, the base URL when neither the builder nor `TOGETHER_BASE_URL` sets
    /// one: `https://api.together.xyz/v1`.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.together.xyz/v1";
    /// The environment variable the API key is read from: `TOGETHER_API_KEY`.
    pub const API_KEY_VAR: &'static str = "TOGETHER_API_KEY";
    /// The environment variable the base URL is read from: `TOGETHER_BASE_URL`.
    pub const BASE_URL_VAR: &'static str = "TOGETHER_BASE_URL";

    /// An [`OpenAIClient`] for `model_name` at Together, with the builder's defaults (key and
    /// base URL from `TOGETHER_API_KEY` and `TOGETHER_BASE_URL`). Never fails: a missing key is
    /// reported by the first request.
    // A preset, not a type of its own: it returns the client it configures.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(model_name: impl Into<String>, temperature: impl Into<Option<f64>>) -> OpenAIClient {
        TogetherClient::builder(model_name, temperature).build()
    }

    /// An [`OpenAIClientBuilder`] that reads `TOGETHER_API_KEY` and `TOGETHER_BASE_URL` rather
    /// than OpenAI's variables and defaults to [`DEFAULT_BASE_URL`](Self::DEFAULT_BASE_URL);
    /// its other defaults are [`OpenAIClientBuilder`]'s.
    pub fn builder(
        model_name: impl Into<String>,
        temperature: impl Into<Option<f64>>,
    ) -> OpenAIClientBuilder {
        OpenAIClient::builder(model_name, temperature).with_env_names(
            TogetherClient::API_KEY_VAR,
            TogetherClient::BASE_URL_VAR,
            TogetherClient::DEFAULT_BASE_URL,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn presets_read_their_own_variables() {
        let env = |name: &str| match name {
            "MISTRAL_API_KEY" => Some("m-key".to_string()),
            "MISTRAL_BASE_URL" => Some("http://mistral.local/v1/".to_string()),
            "OPENAI_API_KEY" | "OPENAI_BASE_URL" => Some("wrong".to_string()),
            _ => None,
        };
        let mistral = MistralClient::builder("m", 0.0).env(env).build();
        assert!(mistral.has_api_key());
        assert_eq!(mistral.base_url(), "http://mistral.local/v1");
        let together = TogetherClient::builder("m", 0.0).env(env).build();
        assert!(!together.has_api_key());
        assert_eq!(together.base_url(), TogetherClient::DEFAULT_BASE_URL);
        assert!(matches!(
            together.chat_request(&[]),
            Err(Error::MissingApiKey {
                var: "TOGETHER_API_KEY"
            })
        ));
    }
}
