//! Google's Gemini API (`streamGenerateContent`): [`GeminiClient`].

use serde_json::{json, Value};

use super::client::{encode_segment, sealed::Wire, Client, ClientBuilder, Provider};
use super::message::base64;
use super::request::{arguments_value, put, ImagesIn};
use super::{ChatRequest, Message, Part, ResponseFormat, ToolChoice};
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
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{GeminiClient, GeminiClientBuilder};
///
/// let builder: GeminiClientBuilder = GeminiClient::builder("gemini-2.5-flash", 0.5);
/// let client = builder.env(|_| None).build();
/// assert_eq!(client.base_url(), "https://generativelanguage.googleapis.com");
/// ```
pub type GeminiClientBuilder = ClientBuilder<Gemini>;

/// The wire format of Gemini's `generateContent`, the protocol of [`GeminiClient`].
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{Client, Gemini, GeminiClient};
///
/// // `GeminiClient` is `Client<Gemini>`.
/// let client: Client<Gemini> = GeminiClient::new("gemini-2.5-flash", None);
/// assert_eq!(client.model_name(), "gemini-2.5-flash");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Gemini;

impl Client<Gemini> {
    /// The environment variable the API key is read from when `GEMINI_API_KEY` is not set:
    /// `GOOGLE_API_KEY`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::llm::GeminiClient;
    ///
    /// assert_eq!(GeminiClient::FALLBACK_API_KEY_VAR, "GOOGLE_API_KEY");
    /// // Read when GEMINI_API_KEY is not set.
    /// let env = |name: &str| (name == "GOOGLE_API_KEY").then(|| "AIza...".to_string());
    /// assert!(GeminiClient::builder("gemini-2.5-flash", None).env(env).build().has_api_key());
    /// ```
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
        request: &ChatRequest,
    ) -> Result<Value, Error> {
        let contents = request.user_turns(PROVIDER, ImagesIn::Any, "parts", content)?;
        let mut body = json!({"contents": contents});
        let system = request.system_text(PROVIDER)?;
        put(
            &mut body,
            "systemInstruction",
            system.map(|text| json!({"parts": [{"text": text}]})),
        );
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}))
            .collect();
        if !declarations.is_empty() {
            body["tools"] = json!([{"functionDeclarations": declarations}]);
        }
        let calling = request.tool_choice.as_ref().map(|choice| match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        });
        put(
            &mut body,
            "toolConfig",
            calling.map(|c| json!({"functionCallingConfig": c})),
        );
        let mut config = json!({});
        put(&mut config, "temperature", temperature);
        put(&mut config, "topP", request.top_p);
        put(&mut config, "maxOutputTokens", request.max_tokens);
        put(&mut config, "stopSequences", request.stop_sequences());
        put(&mut config, "seed", request.seed);
        if let Some(format) = &request.response_format {
            config["responseMimeType"] = json!("application/json");
            if let ResponseFormat::JsonSchema { schema, .. } = format {
                config["responseJsonSchema"] = schema.clone();
            }
        }
        put(
            &mut body,
            "generationConfig",
            Some(config).filter(|c| c != &json!({})),
        );
        Ok(body)
    }

    fn decoder(&self) -> GeminiDecoder {
        GeminiDecoder::new()
    }
}

/// The provider's name in errors.
const PROVIDER: &str = "Gemini";

/// A message of the conversation as Gemini's `Content`: role `user` or `model`, one part per
/// part. Tool results go in `user` contents as `functionResponse`s (the results of
/// consecutive tool messages are joined into one by the caller).
fn content(message: &Message) -> Result<Value, Error> {
    let role = if message.is("assistant") {
        "model"
    } else {
        "user"
    };
    let parts = message
        .content
        .iter()
        .map(|part| {
            Ok(match part {
                Part::Text { text } => json!({"text": text}),
                Part::ImageUrl { url } => {
                    let mut file = json!({"fileUri": url});
                    put(&mut file, "mimeType", image_type(url));
                    json!({"fileData": file})
                }
                Part::Image { media_type, data } => {
                    json!({"inlineData": {"mimeType": media_type, "data": base64(data)}})
                }
                Part::ToolCall(call) => {
                    let mut call_json =
                        json!({"name": call.name, "args": arguments_value(call, PROVIDER)?});
                    put(
                        &mut call_json,
                        "id",
                        Some(&call.id).filter(|id| !id.is_empty()),
                    );
                    // Gemini 3 refuses a function call sent back without its signature.
                    let mut part = json!({"functionCall": call_json});
                    put(&mut part, "thoughtSignature", call.signature.as_deref());
                    part
                }
                Part::ToolResult(result) => {
                    // The response must be an object: JSON objects go as they are, anything
                    // else under "output", the key Gemini reads a function's output from.
                    let response = match serde_json::from_str::<Value>(&result.content) {
                        Ok(object @ Value::Object(_)) => object,
                        _ => json!({"output": result.content}),
                    };
                    let mut response_json = json!({"name": result.name, "response": response});
                    put(
                        &mut response_json,
                        "id",
                        Some(&result.call_id).filter(|id| !id.is_empty()),
                    );
                    json!({"functionResponse": response_json})
                }
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(json!({"role": role, "parts": parts}))
}

/// The media type of an image file named by `url`, from its extension, as `fileData` wants it.
fn image_type(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        _ => return None,
    })
}

/// The model's path under `v1beta/`: `models/{name}` or `tunedModels/{name}`, the name
/// percent-encoded as one segment.
pub(crate) fn model_path(model: &str) -> String {
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
    use crate::llm::request::fixtures::{add_call, client};
    use crate::llm::{Tool, ToolCall};

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

    fn body(request: &ChatRequest) -> Value {
        client(GeminiClient::builder("m", None))
            .body(request)
            .unwrap()
    }

    #[test]
    fn assistant_is_model_and_system_is_apart() {
        let request = ChatRequest::new()
            .system("s")
            .user("q")
            .message(Message::assistant("a"))
            .temperature(0.5);
        assert_eq!(
            body(&request),
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

    #[test]
    fn images_calls_and_results_are_parts() {
        let call = ToolCall {
            signature: Some("CiQB".into()),
            ..add_call("")
        };
        let request = ChatRequest::new()
            .message(
                Message::user("see")
                    .with_image_url("gs://b/cat.PNG")
                    .with_image_url("https://x/y")
                    .with_image("image/png", b"hi".to_vec()),
            )
            .message(Message {
                role: "assistant".into(),
                content: vec![Part::ToolCall(call.clone())],
            })
            .message(Message::tool_result(&call, "4"))
            .message(Message::tool_result(&call, r#"{"sum": 4}"#));
        assert_eq!(
            body(&request)["contents"],
            json!([
                {"role": "user", "parts": [
                    {"text": "see"},
                    {"fileData": {"fileUri": "gs://b/cat.PNG", "mimeType": "image/png"}},
                    {"fileData": {"fileUri": "https://x/y"}},
                    {"inlineData": {"mimeType": "image/png", "data": "aGk="}},
                ]},
                {"role": "model", "parts": [{"functionCall": {"name": "add", "args": {"a": 2}}, "thoughtSignature": "CiQB"}]},
                // Consecutive results, one user turn.
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "add", "response": {"output": "4"}}},
                    {"functionResponse": {"name": "add", "response": {"sum": 4}}},
                ]},
            ])
        );
    }

    #[test]
    fn tools_choice_json_and_limits_go_where_gemini_reads_them() {
        let schema = json!({"type": "object"});
        let request = ChatRequest::new()
            .user("x")
            .tool(Tool::new("add", "adds", schema.clone()))
            .tool_choice(ToolChoice::Tool("add".into()))
            .json_schema("a", schema.clone())
            .max_tokens(8)
            .stop("END")
            .top_p(0.7)
            .seed(3);
        let body = body(&request);
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [{"name": "add", "description": "adds", "parametersJsonSchema": schema}]}])
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["add"]}})
        );
        assert_eq!(
            body["generationConfig"],
            json!({
                "topP": 0.7, "maxOutputTokens": 8, "stopSequences": ["END"], "seed": 3,
                "responseMimeType": "application/json", "responseJsonSchema": schema,
            })
        );
        let json_mode = ChatRequest::new()
            .user("x")
            .json()
            .tool_choice(ToolChoice::None);
        let body = super::tests::body(&json_mode);
        assert_eq!(
            body["generationConfig"],
            json!({"responseMimeType": "application/json"})
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "NONE"}})
        );
    }
}
