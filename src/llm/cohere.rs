//! Cohere's chat API: [`CohereClient`].

use serde_json::{json, Value};

use super::client::{sealed::Wire, Client, ClientBuilder, Provider};
use super::{system_prompt, Message};
use crate::sse::StreamOptions;
use crate::Error;

mod decoder;
mod v2_decoder;

pub use decoder::CohereDecoder;
pub use v2_decoder::CohereV2Decoder;

/// A streaming client for Cohere's v1 chat API (`POST {base}/v1/chat`): the port of tinychat's
/// `CohereClient`, a [`Client`] over the [`Cohere`] protocol.
///
/// The key comes from `COHERE_API_KEY` and travels as `Authorization: Bearer <key>`; the base
/// URL comes from `COHERE_BASE_URL` (default `https://api.cohere.ai`). Both
/// are read when the client is built and both can be set on the
/// [builder](ClientBuilder).
///
/// **Messages.** Cohere's v1 chat takes the new user message apart from the history:
///
/// * the last message is sent as `message`, and must be a `user` message;
/// * the `system` messages before the first other message are sent, joined by a blank line, as
///   the `preamble`;
/// * the messages in between are the `chat_history`, with Cohere's roles: `user` as `USER`,
///   `assistant` as `CHATBOT`, `system` as `SYSTEM` (others upper-cased).
///
/// **The answer** is newline-delimited JSON, not Server-Sent Events: one object per line, read
/// with [`StreamOptions::json_lines`] and decoded by [`CohereDecoder`]. The text is the `text`
/// of `text-generation` events; `stream-end` ends the answer, with its `finish_reason`
/// (`COMPLETE`, `MAX_TOKENS`...) and its token counts. A `stream-end` whose finish reason is an
/// error (`ERROR`, `ERROR_TOXIC`, `ERROR_LIMIT`) ends the stream with [`Error::Api`], a line that
/// is not JSON with [`Error::Protocol`] naming it, and a stream without `stream-end` is
/// reported as cut.
///
/// **API key.** A missing key is an [`Error::MissingApiKey`] naming `COHERE_API_KEY`, returned
/// by the request when the base URL is Cohere's own; a proxy at another base URL gets no
/// `Authorization` header. The key is never shown: not in `Debug` output, not in errors.
///
/// **Timeouts and threads** as for [`Client`].
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use ureq_futures::llm::{CohereClient, Message};
///
/// let client = CohereClient::new("command-r-08-2024", 0.3);
/// let messages = [Message::system("Talk like a pirate."), Message::user("Who found gravity?")];
/// for piece in client.stream_chat(&messages)? {
///     print!("{}", piece?);
///     std::io::stdout().flush().ok();
/// }
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub type CohereClient = Client<Cohere>;

/// Builds a [`CohereClient`]: a [`ClientBuilder`] with the common settings.
pub type CohereClientBuilder = ClientBuilder<Cohere>;

/// The wire format of Cohere's chat API, the protocol of [`CohereClient`].
#[derive(Debug, Clone, Default)]
pub struct Cohere;

/// Cohere's name for `role`.
fn cohere_role(role: &str) -> String {
    match role.to_ascii_lowercase().as_str() {
        "user" => "USER".into(),
        "assistant" | "chatbot" => "CHATBOT".into(),
        "system" => "SYSTEM".into(),
        _ => role.to_ascii_uppercase(),
    }
}

impl Wire for Cohere {
    type Decoder = CohereDecoder;
    const PROVIDER: &'static Provider = &Provider::new(
        "COHERE_API_KEY",
        "COHERE_BASE_URL",
        "https://api.cohere.ai",
        None,
    );

    fn url(&self, base_url: &str, _model: &str) -> String {
        format!("{base_url}/v1/chat")
    }

    fn body(
        &self,
        model: &str,
        temperature: Option<f64>,
        messages: &[Message],
    ) -> Result<Value, Error> {
        let Some((last, earlier)) = messages
            .split_last()
            .filter(|(last, _)| last.role.eq_ignore_ascii_case("user"))
        else {
            return Err(Error::InvalidRequest(
                "Cohere's chat needs a user message last: it is sent as `message`".into(),
            ));
        };
        let leading = earlier
            .iter()
            .take_while(|m| m.role.eq_ignore_ascii_case("system"))
            .count();
        let chat_history: Vec<Value> = earlier[leading..]
            .iter()
            .map(|m| json!({"role": cohere_role(&m.role), "message": m.content}))
            .collect();
        let mut body = json!({
            "model": model,
            "message": last.content,
            "chat_history": chat_history,
            "stream": true,
        });
        if let Some(preamble) = system_prompt(&earlier[..leading]) {
            body["preamble"] = json!(preamble);
        }
        if let Some(t) = temperature {
            body["temperature"] = json!(t);
        }
        Ok(body)
    }

    fn stream_options(&self) -> StreamOptions {
        StreamOptions::default().json_lines()
    }

    fn decoder(&self) -> CohereDecoder {
        CohereDecoder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_get_cohere_names() {
        assert_eq!(cohere_role("user"), "USER");
        assert_eq!(cohere_role("assistant"), "CHATBOT");
        assert_eq!(cohere_role("System"), "SYSTEM");
        assert_eq!(cohere_role("tool"), "TOOL");
    }

    #[test]
    fn the_last_message_must_be_the_users() {
        let client = CohereClient::builder("m", 0.0)
            .api_key("k")
            .env(|_| None)
            .build();
        for messages in [
            vec![],
            vec![Message::system("s")],
            vec![Message::user("q"), Message::assistant("a")],
        ] {
            let err = client.chat_request(&messages).unwrap_err();
            assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
        }
    }
}
