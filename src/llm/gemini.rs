//! Google's Gemini API (`streamGenerateContent`): [`GeminiClient`].

use serde_json::{json, Value};

use super::client::{provider, sealed::Wire, Client, ClientBuilder, Provider};
use super::message::{base64, split_data_url};
use super::request::{arguments_value, put, unsupported, ImagesIn};
use super::{ChatRequest, Part, ResponseFormat, ToolChoice};
use crate::sse::StreamOptions;
use crate::Error;

mod decoder;

pub use decoder::GeminiDecoder;

/// A streaming client for Google's Gemini API
/// (`POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`), a [`Client`] over the
/// [`Gemini`] protocol (variables: see the [module docs](super#providers)).
///
/// The key travels in the `x-goog-api-key` header, never in the URL (the API also accepts
/// `?key=`, which ends up in logs and error messages). A leading `models/` of the model name
/// (as the API lists models) is removed, `tunedModels/NAME` addresses a tuned model, and the
/// name is percent-encoded as one path segment. The roles are `user` and `model`; the system
/// prompt and the `system` messages go in `systemInstruction`. [`GeminiDecoder`] reads the
/// answer, which has no end marker: a clean end right after a `finishReason` is its end.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/v1beta/models/gemini-2.5-flash:streamGenerateContent", "text/event-stream", "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"finishReason\":\"STOP\"}]}\n\n")]);
/// use ureq_futures::llm::{GeminiClient, Message};
///
/// let client = GeminiClient::builder("models/gemini-2.5-flash", 0.7).base_url(&base).build();
/// let mut stream = client.stream_chat(&[Message::user("Say hi.")])?;
/// assert_eq!(stream.by_ref().collect::<Result<String, _>>()?, "Hi");
/// assert_eq!(stream.finish_reason(), Some("STOP"));
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub type GeminiClient = Client<Gemini>;

/// Builds a [`GeminiClient`]: the common settings.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::{GeminiClient, GeminiClientBuilder};
///
/// // A builder kept as a value until the key is known.
/// let builder: GeminiClientBuilder = GeminiClient::builder("gemini-2.5-flash", 0.7).env(|_| None);
/// assert!(builder.api_key("AIza...").build().has_api_key());
/// ```
pub type GeminiClientBuilder = ClientBuilder<Gemini>;

/// The wire format of Gemini's `generateContent`: the protocol of [`GeminiClient`], which is
/// `Client<Gemini>`.
///
/// # Examples
///
/// ```
/// # let server = support::TestServer::start(|_| support::Reply::sse(["data: [DONE]\n\n"], support::ms(0)));
/// use ureq_futures::llm::{Client, Gemini, Message};
///
/// let client = Client::<Gemini>::builder("gemini-2.5-flash", None)
///     .api_key("AIza-test")
///     .base_url(server.url())
///     .build();
/// client.stream_chat(&[Message::user("Hi")])?;
/// # let sent = &server.requests()[0];
/// // `sent` is the request the server received: the model in the path, the key in a header.
/// assert_eq!(sent.path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
/// assert_eq!(sent.header("x-goog-api-key"), Some("AIza-test"));
/// # Ok::<(), ureq_futures::Error>(())
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
    /// let env = |name: &str| (name == GeminiClient::FALLBACK_API_KEY_VAR).then(|| "AIza...".into());
    /// assert!(GeminiClient::builder("gemini-2.5-flash", None).env(env).build().has_api_key());
    /// ```
    pub const FALLBACK_API_KEY_VAR: &'static str = "GOOGLE_API_KEY";
}

impl Wire for Gemini {
    type Decoder = GeminiDecoder;
    const PROVIDER: &'static Provider = &Provider {
        fallback_key_var: Some(GeminiClient::FALLBACK_API_KEY_VAR),
        key_label: "GEMINI_API_KEY or GOOGLE_API_KEY",
        ..provider!(
            "GEMINI",
            "https://generativelanguage.googleapis.com",
            Some("x-goog-api-key")
        )
    };

    fn url(&self, base_url: &str, model: &str) -> String {
        model_url(base_url, model, "streamGenerateContent?alt=sse")
    }

    /// A failure after the answer has begun comes as a JSON object on lines of its own.
    fn stream_options(&self) -> StreamOptions {
        StreamOptions::default().object_lines()
    }

    fn body(client: &GeminiClient, request: &ChatRequest) -> Result<Value, Error> {
        // Roles `user` and `model`, tool results in `user` turns.
        request.check_parts(PROVIDER, ImagesIn::Any)?;
        let contents = request.user_turns(PROVIDER, "model", "parts", false, part)?;
        let mut body = json!({"contents": contents});
        let system = request.system_text(PROVIDER)?;
        let instruction = system.map(|text| json!({"parts": [{"text": text}]}));
        put(&mut body, "systemInstruction", instruction);
        let declarations = request.tools_as("parametersJsonSchema")?;
        let tools = declarations.map(|all| json!([{"functionDeclarations": all}]));
        put(&mut body, "tools", tools);
        let calling = request.tool_choice.as_ref().map(|choice| match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        });
        request.check_parallel_calls(PROVIDER)?;
        let tool_config = calling.map(|c| json!({"functionCallingConfig": c}));
        put(&mut body, "toolConfig", tool_config);
        let mut config = json!({});
        put(&mut config, "temperature", client.temperature_for(request));
        put(&mut config, "topP", request.top_p);
        put(&mut config, "maxOutputTokens", request.max_tokens);
        put(&mut config, "stopSequences", request.stop_sequences());
        request.check_stop_count(PROVIDER, 5)?;
        if let Some(seed) = request.seed.filter(|&seed| seed > MAX_SEED) {
            let what = format!("a seed above {MAX_SEED} (it takes a 32-bit seed, not {seed})");
            return Err(unsupported(PROVIDER, &what));
        }
        put(&mut config, "seed", request.seed);
        if let Some(format) = &request.response_format {
            config["responseMimeType"] = json!("application/json");
            if let ResponseFormat::JsonSchema { schema, .. } = format {
                config["responseJsonSchema"] = schema.clone();
            }
        }
        let generation_config = Some(config).filter(|c| c != &json!({}));
        put(&mut body, "generationConfig", generation_config);
        Ok(body)
    }
}

/// The provider's name in errors.
const PROVIDER: &str = "Gemini";

/// The largest seed Gemini takes: `generationConfig.seed` is an int32.
const MAX_SEED: u64 = i32::MAX as u64;

/// A part as a Gemini `Part`.
fn part(part: &Part) -> Result<Value, Error> {
    Ok(match part {
        // Another provider's signed thinking (Gemini signs its own parts: `thoughtSignature`),
        // or its own tools.
        Part::Thought(_) | Part::ServerToolUse(_) | Part::ServerToolResult(_) => Value::Null,
        Part::Text { text } => json!({"text": text}),
        Part::ImageUrl { url } => {
            // A data: URL is an inline image: `inlineData`, not a file Gemini would look up.
            if let Some((media_type, data)) = split_data_url(url, PROVIDER).transpose()? {
                return Ok(json!({"inlineData": {"mimeType": media_type, "data": data}}));
            }
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
            let id = Some(&call.id).filter(|id| !id.is_empty());
            put(&mut call_json, "id", id);
            // Gemini 3 refuses a function call sent back without its signature.
            let mut part = json!({"functionCall": call_json});
            put(&mut part, "thoughtSignature", call.signature.as_deref());
            part
        }
        Part::ToolResult(result) => {
            // The response must be an object: JSON objects go as they are, other JSON (an
            // array, a number) as its value and any other text as a string under "output", the
            // key Gemini reads a function's output from.
            // A failed call's reason goes under "error", the key Gemini reads it from.
            let response = match serde_json::from_str::<Value>(&result.content) {
                _ if result.is_error => json!({"error": result.content}),
                Ok(object @ Value::Object(_)) => object,
                Ok(value) => json!({"output": value}),
                Err(_) => json!({"output": result.content}),
            };
            let mut response_json = json!({"name": result.name, "response": response});
            let id = Some(&result.call_id).filter(|id| !id.is_empty());
            put(&mut response_json, "id", id);
            json!({"functionResponse": response_json})
        }
    })
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

/// The URL of the model's `method` (`streamGenerateContent`...) under `base_url`.
pub(crate) fn model_url(base_url: &str, model: &str, method: &str) -> String {
    crate::url::join_path(base_url, &format!("/v1beta/{}:{method}", model_path(model)))
}

/// The model's path under `v1beta/`: `models/{name}` or `tunedModels/{name}`, the name
/// percent-encoded as one segment.
pub(crate) fn model_path(model: &str) -> String {
    let model = model.trim();
    let (collection, name) = match model.split_once('/') {
        Some((collection @ ("models" | "tunedModels"), name)) => (collection, name),
        _ => ("models", model),
    };
    let mut path = format!("{collection}/");
    crate::url::encode_into(&mut path, name);
    path
}
