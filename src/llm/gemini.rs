//! Google's Gemini API (`streamGenerateContent`): [`GeminiClient`].

use serde_json::{json, Value};

use super::client::{encode_segment, sealed::Wire, Client, ClientBuilder, Provider};
use super::Message;
use crate::Error;

mod decoder;

pub use decoder::GeminiDecoder;

/// A streaming client for Google's Gemini API
/// (`POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`): the port of tinychat's
/// `GeminiClient`, a [`Client`] over the [`Gemini`] protocol.
///
/// The key comes from `GEMINI_API_KEY`, else `GOOGLE_API_KEY`; the base URL from
/// `GEMINI_BASE_URL` (default `https://generativelanguage.googleapis.com`). Both are read when
/// the client is built and both can be set on the [builder](ClientBuilder).
///
/// **The key stays secret.** It travels in the `x-goog-api-key` header, never in the URL (the
/// API also accepts `?key=`, which ends up in logs and error messages). It is never shown: not
/// in `Debug` output, not in any error, transport errors included.
///
/// **Messages.** Gemini's roles are `user` and `model`: `assistant` messages are sent as
/// `model`, others with their own role. The messages whose role is `system` are sent apart, as
/// `systemInstruction` (one text part each). A temperature goes in `generationConfig`.
///
/// **Model names.** A leading `models/` (as the API lists them: `models/gemini-2.5-flash`) is
/// removed; `tunedModels/NAME` addresses a tuned model. The name is percent-encoded into the
/// path, so no character of it can change the URL.
///
/// **The answer.** [`GeminiDecoder`] reads the stream: the text of each part is the text,
/// except thought parts (`"thought": true`), which are [`reasoning`](super::ChatStream::reasoning).
/// The stream has no end marker: it is complete when the body ends after a candidate's
/// `finishReason` (`"STOP"`, `"MAX_TOKENS"`, `"SAFETY"`...), and cut when it ends without
/// one. An `error` object in the stream, or a prompt blocked by `promptFeedback`, is an
/// [`Error::Api`].
///
/// **API key.** A missing key is an [`Error::MissingApiKey`] naming both variables, returned
/// by the request when the base URL is Google's own; a proxy at another base URL gets no key
/// header.
///
/// **Timeouts and threads** as for [`Client`].
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use ureq_futures::llm::{GeminiClient, Message};
///
/// let client = GeminiClient::new("gemini-2.5-flash", 0.7);
/// for piece in client.stream_chat(&[Message::user("Why is the sky blue?")])? {
///     print!("{}", piece?);
///     std::io::stdout().flush().ok();
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub type GeminiClient = Client<Gemini>;

/// Builds a [`GeminiClient`]: a [`ClientBuilder`] with the common settings.
pub type GeminiClientBuilder = ClientBuilder<Gemini>;

/// The wire format of Gemini's `generateContent`, the protocol of [`GeminiClient`].
#[derive(Debug, Clone, Default)]
pub struct Gemini;

impl Client<Gemini> {
    /// The environment variable the API key is read from when `GEMINI_API_KEY` is not set:
    /// `GOOGLE_API_KEY`.
    pub const FALLBACK_API_KEY_VAR: &'static str = "GOOGLE_API_KEY";
}

impl Wire for Gemini {
    type Decoder = GeminiDecoder;
    const PROVIDER: &'static Provider = &Provider {
        key_var: "GEMINI_API_KEY",
        fallback_key_var: Some(GeminiClient::FALLBACK_API_KEY_VAR),
        key_label: "GEMINI_API_KEY or GOOGLE_API_KEY",
        base_var: "GEMINI_BASE_URL",
        default_base: "https://generativelanguage.googleapis.com",
        key_header: Some("x-goog-api-key"),
    };

    fn url(&self, base_url: &str, model: &str) -> String {
        format!(
            "{base_url}/v1beta/{}:streamGenerateContent?alt=sse",
            model_path(model)
        )
    }

    fn body(
        &self,
        _model: &str,
        temperature: Option<f64>,
        messages: &[Message],
    ) -> Result<Value, Error> {
        let mut system = Vec::new();
        let mut contents = Vec::new();
        for message in messages {
            let role = message.role.as_str();
            let part = json!({"text": message.content});
            if role.eq_ignore_ascii_case("system") {
                system.push(part);
            } else {
                let role = if role.eq_ignore_ascii_case("assistant") {
                    "model"
                } else {
                    role
                };
                contents.push(json!({"role": role, "parts": [part]}));
            }
        }
        let mut body = json!({"contents": contents});
        if !system.is_empty() {
            body["systemInstruction"] = json!({"parts": system});
        }
        if let Some(t) = temperature {
            body["generationConfig"] = json!({"temperature": t});
        }
        Ok(body)
    }

    fn decoder(&self) -> GeminiDecoder {
        GeminiDecoder::new()
    }
}

/// The model's path under `v1beta/`: `models/{name}` or `tunedModels/{name}`, the name
/// percent-encoded as one segment.
fn model_path(model: &str) -> String {
    let model = model.trim();
    let (collection, name) = match model.split_once('/') {
        Some((collection @ ("models" | "tunedModels"), name)) => (collection, name),
        _ => ("models", model),
    };
    format!("{collection}/{}", encode_segment(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths_drop_the_models_prefix_and_encode_the_name() {
        assert_eq!(model_path("gemini-2.5-flash"), "models/gemini-2.5-flash");
        assert_eq!(
            model_path(" models/gemini-2.5-flash "),
            "models/gemini-2.5-flash"
        );
        assert_eq!(model_path("tunedModels/my-model"), "tunedModels/my-model");
        assert_eq!(model_path("odd/name?x#y"), "models/odd%2Fname%3Fx%23y");
        assert_eq!(model_path("models/a:b"), "models/a%3Ab");
    }

    #[test]
    fn the_key_falls_back_to_google_api_key() {
        let env = |name: &str| (name == "GOOGLE_API_KEY").then(|| "AIza-fallback".to_string());
        assert!(GeminiClient::builder("m", None)
            .env(env)
            .build()
            .has_api_key());
    }

    #[test]
    fn assistant_is_model_and_system_is_apart() {
        let messages = [
            Message::system("s"),
            Message::user("q"),
            Message::assistant("a"),
        ];
        let body = Gemini.body("m", Some(0.5), &messages).unwrap();
        assert_eq!(
            body,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "q"}]},
                    {"role": "model", "parts": [{"text": "a"}]},
                ],
                "systemInstruction": {"parts": [{"text": "s"}]},
                "generationConfig": {"temperature": 0.5},
            })
        );
    }
}
