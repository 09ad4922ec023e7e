//! Status errors read like requests': one line, the reason phrase or the API's own message, the
//! redacted URL; the body stays on the error.

use support::{Reply, TestServer};
#[cfg(feature = "llm")]
use ureq_futures::llm::{Message, OpenAIClient};
use ureq_futures::{Error, FuturesSession};

const NGINX_404: &str = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n\
<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";

/// The error of a GET of `url` that the server refuses, from `error_for_status`.
fn refused_get(url: impl AsRef<str>) -> Error {
    FuturesSession::new()
        .get(url.as_ref())
        .send()
        .result()
        .unwrap()
        .error_for_status()
        .unwrap_err()
}

/// The error of a streamed chat-style POST to `url` that the server refuses.
fn refused_stream(url: String) -> Error {
    FuturesSession::new()
        .post(url)
        .json(&serde_json::json!({"stream": true}))
        .events()
        .result()
        .unwrap_err()
}

fn status_error(err: Error) -> Box<ureq_futures::StatusError> {
    match err {
        Error::Status(e) => e,
        other => panic!("expected a status error, got {other:?}"),
    }
}

#[test]
fn a_status_error_and_a_timeout_taken_out_of_the_error_are_errors_of_their_own() {
    // What a script returns with `?` from a function of `Result<_, Box<dyn Error>>` once it
    // matched `Error::Status(e)` (or `Error::Timeout(t)`) and kept `e`.
    let server = TestServer::start(|_| Reply::status(404, "not here"));
    let Error::Status(status) = refused_get(server.url_for("/x")) else {
        panic!("not a status error")
    };
    let boxed: Box<dyn std::error::Error + Send + Sync> = status;
    assert!(boxed.to_string().contains("404"), "{boxed}");
    assert!(boxed.source().is_none());
    let stalled = TestServer::start(|_| Reply::stall());
    let err = FuturesSession::builder()
        .timeout(std::time::Duration::from_millis(100))
        .build()
        .get(stalled.url())
        .send()
        .result()
        .unwrap_err();
    let Error::Timeout(timeout) = err else {
        panic!("not a timeout: {err:?}")
    };
    let boxed: Box<dyn std::error::Error + Send + Sync> = timeout;
    assert!(boxed.to_string().contains("timeout"), "{boxed}");
}

#[test]
fn an_html_error_page_is_one_line_with_the_reason_and_the_url() {
    let server = TestServer::start(|_| Reply::status(404, NGINX_404).content_type("text/html"));
    let url = server.url_for("/missing?api_key=secret");
    let err = refused_get(&url);
    assert_eq!(
        err.to_string(),
        format!(
            "Server responded with an error. Status Code: 404 Client Error: Not Found for url: {}",
            server.url_for("/missing?<redacted>")
        )
    );
    assert_eq!(status_error(err).body, NGINX_404);
}

#[test]
fn a_stream_refused_with_a_long_api_error_shows_the_apis_message_and_request_id() {
    // Longer than the KiB of body the error keeps: the message is still found.
    let details = "x".repeat(3000);
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key","details":"{details}"}}}}"#
    );
    let server = TestServer::start(move |_| {
        Reply::status(401, body.clone())
            .content_type("application/json")
            .header("x-request-id", "req_abc")
    });
    let err = refused_stream(server.url_for("/v1/chat/completions"));
    assert_eq!(
        err.to_string(),
        format!(
            "Server responded with an error. Status Code: 401: Incorrect API key provided \
             (invalid_api_key) for url: {}",
            server.url_for("/v1/chat/completions")
        )
    );
    let e = status_error(err);
    assert_eq!(e.api_message(), Some("Incorrect API key provided"));
    assert_eq!(e.api_type(), Some("invalid_request_error"));
    assert_eq!(e.api_code(), Some("invalid_api_key"));
    assert_eq!(e.request_id(), Some("req_abc"));
    assert_eq!(e.body.len(), 1024, "the body kept is the first KiB");
}

/// The error of a chat that an OpenAI-compatible server refuses with `status` and a JSON `body`.
#[cfg(feature = "llm")]
fn chat_refused(
    server_status: u16,
    body: &'static str,
) -> (TestServer, Box<ureq_futures::StatusError>) {
    let server = TestServer::start(move |_| {
        Reply::status(server_status, body).content_type("application/json")
    });
    let err = OpenAIClient::builder("m", None)
        .env(|_| None)
        .base_url(server.url())
        .retry(ureq_futures::RetryPolicy::none())
        .build()
        .stream_chat(&[Message::user("hi")])
        .unwrap_err();
    (server, status_error(err))
}

/// A 401 of an LLM client that sent no key says so: the server's words seldom do, and a key's
/// variable that is not set (no `export` in the shell) is the usual cause.
#[cfg(feature = "llm")]
#[test]
fn a_401_of_a_client_that_sent_no_key_says_so() {
    let server = TestServer::start(|_| {
        Reply::status(
            401,
            r#"{"error":{"message":"Missing bearer or basic authentication in header","type":"invalid_request_error"}}"#,
        )
        .content_type("application/json")
    });
    let builder = || {
        OpenAIClient::builder("m", None)
            .env(|_| None)
            .base_url(server.url())
    };
    let note = "(no API key was sent: OPENAI_API_KEY is not set (or empty), and the builder's \
                api_key was not given one)";
    let keyless = builder().build();
    let chat = keyless.stream_chat(&[Message::user("hi")]).unwrap_err();
    assert!(chat.to_string().ends_with(note), "{chat}");
    let embed = keyless.embed(&["hi"]).unwrap_err();
    assert!(
        embed
            .to_string()
            .ends_with("; no API key was sent: OPENAI_API_KEY is not set (or empty), and the builder's api_key was not given one)"),
        "{embed}"
    );
    // A key, or a header of the caller's or the session's, or credentials in the base URL:
    // no such note.
    let keyed_session = |session: FuturesSession| builder().session(session).build();
    let with_userinfo = server.url().replace("http://", "http://user:pw@");
    for client in [
        builder().api_key("sk-wrong").build(),
        builder().header("Authorization", "Bearer sk-wrong").build(),
        keyed_session(FuturesSession::builder().bearer_auth("sk-wrong").build()),
        keyed_session(FuturesSession::builder().header("api-key", "k").build()),
        builder().base_url(with_userinfo).build(),
    ] {
        let err = client.stream_chat(&[Message::user("hi")]).unwrap_err();
        assert!(!err.to_string().contains("no API key was sent"), "{err}");
    }
}

#[cfg(feature = "llm")]
#[test]
fn mistrals_validation_error_inside_message_is_shown_with_its_field() {
    // Mistral's answer to a chat without a model.
    let (server, e) = chat_refused(
        422,
        r#"{"object":"error","message":{"detail":[{"type":"missing","loc":["body","model"],"msg":"Field required","input":null}]},"type":"invalid_request_error","param":null,"code":null}"#,
    );
    assert_eq!(
        e.to_string(),
        format!(
            "Server responded with an error. Status Code: 422: body.model: Field required \
             (invalid_request_error) for url: {}",
            server.url_for("/chat/completions")
        )
    );
    assert_eq!(e.api_message(), Some("body.model: Field required"));
    assert_eq!(e.api_type(), Some("invalid_request_error"));
    assert_eq!(e.api_code(), None);
}

#[cfg(feature = "llm")]
#[test]
fn a_fastapi_detail_list_is_shown_entry_by_entry() {
    // vLLM (FastAPI) refusing a request without messages and with a bad temperature.
    let (server, e) = chat_refused(
        422,
        r#"{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"},{"loc":["body","temperature"],"msg":"ensure this value is less than or equal to 2","type":"value_error.number.not_le","ctx":{"limit_value":2}}]}"#,
    );
    let message = "body.messages: field required; \
                   body.temperature: ensure this value is less than or equal to 2";
    assert_eq!(
        e.to_string(),
        format!(
            "Server responded with an error. Status Code: 422: {message} for url: {}",
            server.url_for("/chat/completions")
        )
    );
    assert_eq!(e.api_message(), Some(message));
    assert_eq!((e.api_type(), e.api_code()), (None, None));
}

#[test]
fn a_proxys_plain_text_answer_to_a_stream_keeps_the_reason_phrase_and_is_the_api_message() {
    // Envoy's answer when the upstream closes the connection.
    let envoy = "upstream connect error or disconnect/reset before headers. reset reason: \
                 connection termination";
    let server = TestServer::start(move |_| Reply::status(503, envoy).content_type("text/plain"));
    let err = refused_stream(server.url_for("/v1/chat/completions?key=secret"));
    assert_eq!(
        err.to_string(),
        format!(
            "Server responded with an error. Status Code: 503 Server Error: Service Unavailable \
             for url: {}",
            server.url_for("/v1/chat/completions?<redacted>")
        )
    );
    let e = status_error(err);
    assert_eq!(e.api_message(), Some(envoy));
    assert_eq!((e.api_type(), e.api_code()), (None, None));
    assert_eq!(e.body, envoy);
}

#[test]
fn a_plain_text_body_keeps_the_reason_phrase_as_requests_has_it() {
    // Go's net/http answer to an unknown path.
    let server = TestServer::start(|_| {
        Reply::status(404, "404 page not found\n").content_type("text/plain; charset=utf-8")
    });
    let err = refused_get(server.url_for("/nope"));
    assert_eq!(
        err.to_string(),
        format!(
            "Server responded with an error. Status Code: 404 Client Error: Not Found for url: {}",
            server.url_for("/nope")
        )
    );
    assert_eq!(status_error(err).api_message(), Some("404 page not found"));

    let body = "Bad Gateway\r\n\r\nThe upstream server\treturned an invalid response.\r\n";
    let server = TestServer::start(move |_| {
        Reply::status(502, body).content_type("text/plain; charset=utf-8")
    });
    let err = refused_get(server.url_for("/v1/models"));
    assert_eq!(
        err.to_string(),
        format!(
            "Server responded with an error. Status Code: 502 Server Error: Bad Gateway for url: {}",
            server.url_for("/v1/models")
        )
    );
    assert_eq!(
        status_error(err).api_message(),
        Some("Bad Gateway\r\n\r\nThe upstream server\treturned an invalid response.")
    );
}

#[test]
fn a_servers_control_characters_are_escaped_in_the_message() {
    // Terminal escapes (a window title, a screen clear) must not reach the terminal of whoever
    // reads a log of the error.
    let body = "oops\x1b]0;pwned\x07\x1b[2J done\u{9b}";
    let json = serde_json::json!({"error": {"message": body}}).to_string();
    let server = TestServer::start(move |_| {
        Reply::status(500, json.clone()).content_type("application/json")
    });
    let err = refused_get(server.url_for("/x"));
    assert_eq!(
        err.to_string(),
        format!(
            "Server responded with an error. Status Code: 500: oops\\u{{1b}}]0;pwned\\u{{7}}\\u{{1b}}[2J \
             done\\u{{9b}} for url: {}",
            server.url_for("/x")
        )
    );
    assert_eq!(status_error(err).api_message(), Some(body), "kept whole");
}

#[cfg(feature = "llm")]
#[test]
fn a_json_error_longer_than_what_is_read_keeps_its_message() {
    // The request echoed back: past the 64 KiB read of a refused stream, the body is cut and no
    // longer parses.
    let body: &'static str = format!(
        r#"{{"error":{{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded","echo":"{}"}}}}"#,
        "x".repeat(100_000)
    )
    .leak();
    let (server, e) = chat_refused(400, body);
    assert_eq!(
        e.to_string(),
        format!(
            "Server responded with an error. Status Code: 400: This model's maximum context \
             length is 8192 tokens for url: {}",
            server.url_for("/chat/completions")
        )
    );
    assert_eq!(
        e.api_message(),
        Some("This model's maximum context length is 8192 tokens")
    );
    assert_eq!(e.body.len(), 1024);
}
