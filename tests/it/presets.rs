//! `llm::MistralClient` and `llm::TogetherClient`: OpenAI-compatible clients reading their own
//! variables.

use mockito::Matcher;
use serde_json::json;
use support::{ms, Reply, TestServer};
use ureq_futures::llm::{
    ClientBuilder, Message, MistralClient, OpenAIClient, Protocol, TogetherClient,
};
use ureq_futures::Error;

use crate::llm_contract::drain;

fn hello() -> Vec<Message> {
    vec![Message::user("hello")]
}

fn sse_body(payloads: &[&str]) -> String {
    payloads.iter().map(|p| format!("data: {p}\n\n")).collect()
}

fn content(text: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        .to_string()
}

fn seed_body() -> String {
    sse_body(&[&content("part1"), &content("part2"), "[DONE]"])
}

/// An environment with the preset's variables and OpenAI's, which must not be used.
fn env_for(
    key_var: &'static str,
    base_var: &'static str,
    base: String,
) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    move |name| match name {
        n if n == key_var => Some("preset-key".to_string()),
        n if n == base_var => Some(base.clone()),
        "OPENAI_API_KEY" => Some("openai-key".to_string()),
        "OPENAI_BASE_URL" => Some("http://wrong.invalid/v1".to_string()),
        _ => None,
    }
}

#[test]
fn presets_read_their_own_key_and_base_variables() {
    reads_its_own_variables(
        MistralClient::builder("some-model", 0.3),
        "MISTRAL_API_KEY",
        "MISTRAL_BASE_URL",
    );
    reads_its_own_variables(
        TogetherClient::builder("some-model", 0.3),
        "TOGETHER_API_KEY",
        "TOGETHER_BASE_URL",
    );
}

fn reads_its_own_variables<P: Protocol>(
    builder: ClientBuilder<P>,
    key_var: &'static str,
    base_var: &'static str,
) {
    let mut server = mockito::Server::new();
    let mock = server
        .mock("POST", "/v1/chat/completions")
        .match_header("authorization", "Bearer preset-key")
        .match_body(Matcher::Json(json!({
            "model": "some-model",
            "messages": [{"role": "user", "content": "hello"}],
            "temperature": 0.3,
            "stream": true,
        })))
        .with_header("content-type", "text/event-stream")
        .with_body(seed_body())
        .create();
    let client = builder
        .env(env_for(key_var, base_var, format!("{}/v1/", server.url())))
        .build();
    assert_eq!(client.base_url(), format!("{}/v1", server.url()));
    let text: String = client
        .stream_chat(&hello())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(text, "part1part2", "{key_var}");
    mock.assert();
}

#[test]
fn presets_default_to_their_services() {
    let mistral = MistralClient::builder("m", 0.0).env(|_| None).build();
    assert_eq!(mistral.base_url(), "https://api.mistral.ai/v1");
    assert_eq!(MistralClient::DEFAULT_BASE_URL, "https://api.mistral.ai/v1");
    let together = TogetherClient::builder("m", 0.0).env(|_| None).build();
    assert_eq!(together.base_url(), "https://api.together.xyz/v1");
    assert_eq!(
        TogetherClient::DEFAULT_BASE_URL,
        "https://api.together.xyz/v1"
    );
}

#[test]
fn a_missing_key_names_the_presets_variable() {
    // OpenAI's key is set but belongs to another service.
    let openai_only = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-openai".to_string());
    let mistral = MistralClient::builder("m", 0.0).env(openai_only).build();
    let err = mistral.stream_chat(&hello()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingApiKey {
                var: "MISTRAL_API_KEY"
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "no API key: set the environment variable MISTRAL_API_KEY, or give one with the \
         client builder's api_key (an empty or blank key counts as none)"
    );
    let together = TogetherClient::builder("m", 0.0).env(openai_only).build();
    let err = together.stream_chat(&hello()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingApiKey {
                var: "TOGETHER_API_KEY"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("TOGETHER_API_KEY"), "{err}");
    // OpenAI's regional hosts are OpenAI's: no key is an error there too, before sending.
    let eu = OpenAIClient::builder("m", 0.0)
        .base_url("https://eu.api.openai.com/v1")
        .env(|_| None)
        .build();
    let err = eu.stream_chat(&hello()).unwrap_err();
    assert!(matches!(err, Error::MissingApiKey { .. }), "{err:?}");
}

#[test]
fn mistral_thinking_parts_are_reasoning_not_text() {
    let body = sse_body(&[
        r#"{"id":"0123456789abcdef0123456789abcdef","object":"chat.completion.chunk","model":"magistral-medium-latest","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        r#"{"id":"0123456789abcdef0123456789abcdef","object":"chat.completion.chunk","model":"magistral-medium-latest","choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"Okay, the user"}]}]},"finish_reason":null}]}"#,
        r#"{"id":"0123456789abcdef0123456789abcdef","object":"chat.completion.chunk","model":"magistral-medium-latest","choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":" says hello."}]}]},"finish_reason":null}]}"#,
        r#"{"id":"0123456789abcdef0123456789abcdef","object":"chat.completion.chunk","model":"magistral-medium-latest","choices":[{"index":0,"delta":{"content":"Bonjour !"},"finish_reason":null}]}"#,
        r#"{"id":"0123456789abcdef0123456789abcdef","object":"chat.completion.chunk","model":"magistral-medium-latest","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"total_tokens":25,"completion_tokens":20}}"#,
        "[DONE]",
    ]);
    let server = TestServer::start(move |_| {
        Reply::sse(
            body.clone().into_bytes().chunks(5).map(<[u8]>::to_vec),
            ms(0),
        )
    });
    let client = MistralClient::builder("magistral-medium-latest", 0.7)
        .api_key("k")
        .base_url(server.url())
        .env(|_| None)
        .build();
    let mut stream = client.stream_chat(&hello()).unwrap();
    let (pieces, error) = drain(&mut stream);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(pieces, ["Bonjour !"]);
    assert_eq!(stream.reasoning(), "Okay, the user says hello.");
    assert_eq!(stream.finish_reason(), Some("stop"));
    assert_eq!(stream.usage().and_then(|u| u.total_tokens), Some(25));
}

#[test]
fn a_4xx_keeps_the_one_wording() {
    let server = TestServer::start(|_| {
        Reply::status(401, r#"{"message":"Unauthorized","request_id":"7d8f"}"#)
    });
    let client = TogetherClient::builder("m", 0.0)
        .api_key("bad")
        .base_url(server.url())
        .env(|_| None)
        .build();
    let err = client.stream_chat(&hello()).unwrap_err();
    assert!(
        err.to_string()
            .contains("Server responded with an error. Status Code: 401"),
        "{err}"
    );
    let Error::Status(status) = &err else {
        panic!("not a status error: {err:?}")
    };
    assert!(status.body.contains("Unauthorized"));
}

#[test]
fn the_key_is_never_shown() {
    let client = MistralClient::builder("m", 0.0)
        .api_key("mistral-TOPSECRET")
        .base_url(support::closed_port_url())
        .env(|_| None)
        .build();
    let text = format!("{client:?}");
    assert!(!text.contains("TOPSECRET"), "{text}");
    let err = client.stream_chat(&hello()).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("TOPSECRET"));
}
