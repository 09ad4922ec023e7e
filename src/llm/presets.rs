//! Mistral and Together: OpenAI's chat completions with their own variables and base URLs, each
//! a protocol of its own so that its clients are types that can be built and named.

use super::client::{Client, ClientBuilder};
use super::openai::{openai_compatible, Flavor};

/// Mistral's API (`https://api.mistral.ai/v1`), a [`Client`] over the [`Mistral`] protocol:
/// OpenAI's, with `MISTRAL_API_KEY` and `MISTRAL_BASE_URL`. Magistral models send their
/// reasoning as `thinking` content parts: they are [`reasoning`](super::ChatStream::reasoning),
/// never text.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Message, MistralClient};
///
/// let client = MistralClient::builder("mistral-small-latest", 0.3).env(|_| None).build();
/// assert_eq!(client.base_url(), "https://api.mistral.ai/v1");
/// // Mistral's own API needs a key: the error names its variable.
/// let err = client.stream_chat(&[Message::user("Bonjour")]).unwrap_err();
/// assert!(err.to_string().contains("MISTRAL_API_KEY"));
/// ```
pub type MistralClient = Client<Mistral>;

/// Builds a [`MistralClient`]: the common settings.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{MistralClient, MistralClientBuilder};
///
/// // Mistral's API, or a local server that runs its open models.
/// fn mistral(local: bool) -> MistralClientBuilder {
///     let builder = MistralClient::builder("mistral-small-latest", None).env(|_| None);
///     if local { builder.base_url("http://localhost:8000/v1") } else { builder }
/// }
/// assert_eq!(mistral(true).build().base_url(), "http://localhost:8000/v1");
/// ```
pub type MistralClientBuilder = ClientBuilder<Mistral>;

/// Together AI's API (`https://api.together.xyz/v1`), a [`Client`] over the [`Together`]
/// protocol: OpenAI's, with `TOGETHER_API_KEY` and `TOGETHER_BASE_URL`.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::TogetherClient;
///
/// let client = TogetherClient::builder("meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.7)
///     .env(|name| (name == "TOGETHER_BASE_URL").then(|| "http://localhost:8000/v1".to_string()))
///     .build();
/// assert_eq!(client.base_url(), "http://localhost:8000/v1");
/// assert!(!client.has_api_key());
/// ```
pub type TogetherClient = Client<Together>;

/// Builds a [`TogetherClient`]: the common settings.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{TogetherClient, TogetherClientBuilder};
///
/// let builders: Vec<TogetherClientBuilder> = ["Qwen/Qwen3-8B", "deepseek-ai/DeepSeek-V3"]
///     .map(|model| TogetherClient::builder(model, 0.7).env(|_| None))
///     .into();
/// let clients: Vec<_> = builders.into_iter().map(TogetherClientBuilder::build).collect();
/// assert_eq!(clients[1].model_name(), "deepseek-ai/DeepSeek-V3");
/// ```
pub type TogetherClientBuilder = ClientBuilder<Together>;

/// The protocol of [`MistralClient`], which is `Client<Mistral>`: OpenAI's chat completions at
/// Mistral.
///
/// # Examples
///
/// ```
/// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
/// use ureq_futures::llm::{ChatRequest, Client, Mistral};
///
/// let client = Client::<Mistral>::builder("mistral-small-latest", None)
///     .api_key("k")
///     .base_url(server.url())
///     .build();
/// client.stream(&ChatRequest::new().user("Hi").seed(7))?;
/// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
/// assert_eq!(sent["random_seed"], 7); // `sent`: the body received, in Mistral's words
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Mistral;

/// The protocol of [`TogetherClient`], which is `Client<Together>`: OpenAI's chat completions
/// at Together AI.
///
/// # Examples
///
/// ```
/// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
/// use ureq_futures::llm::{ChatRequest, Client, Together};
///
/// let client = Client::<Together>::builder("Qwen/Qwen3-8B", None)
///     .api_key("k")
///     .base_url(server.url())
///     .build();
/// client.stream(&ChatRequest::new().user("Hi").max_tokens(100))?;
/// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
/// assert_eq!(sent["max_tokens"], 100); // `sent`: the body received (OpenAI: `max_completion_tokens`)
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Together;

// Both stream their usage without being asked; Mistral has its own words for the seed and
// for a required tool call.
openai_compatible!(Mistral, "MISTRAL", "https://api.mistral.ai/v1", |_| {
    Flavor {
        seed: "random_seed",
        required: "any",
        echo: false,
        four_roles: true,
        ..Flavor::compatible("Mistral")
    }
});
openai_compatible!(Together, "TOGETHER", "https://api.together.xyz/v1", |_| {
    Flavor {
        four_roles: true,
        ..Flavor::compatible("Together")
    }
});
