//! What the providers' decoders share: the errors they report the same way (an error the
//! server put in its stream, a chunk that could not be decoded, a stream cut before its end
//! marker) and the text of a tool call's arguments.

use serde_json::Value;

use crate::llm::event::ChatEvent;
use crate::Error;

/// Longest stretch of a bad chunk quoted in an error, in bytes.
const QUOTE_LIMIT: usize = 200;

/// The error a server reported inside a stream, as [`Error::Api`]: from an object with a
/// `message` and a `code` or `type` (OpenAI, OpenRouter, Anthropic's inner `error`, Gemini), or
/// from a bare string.
pub(crate) fn api_error(error: &Value) -> Error {
    let message = match error.get("message") {
        Some(Value::String(m)) => m.clone(),
        _ => match error {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    };
    let kind = ["code", "type"]
        .iter()
        .find_map(|key| match error.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
    Error::Api { kind, message }
}

/// The error of an `event: error`, whatever its data: the `error` object of its JSON, else the
/// JSON itself, else the data as text.
pub(crate) fn error_event(data: &str) -> Error {
    let value = serde_json::from_str(data).unwrap_or_else(|_| Value::from(data));
    api_error(value.get("error").unwrap_or(&value))
}

/// What a decoder's `finish` returns for a stream with an end marker: nothing more once the
/// marker was seen (`done`), else an [`Error::Protocol`] saying the answer was cut before
/// `marker`.
pub(crate) fn end_of_stream(done: bool, marker: &str) -> Result<Option<Vec<ChatEvent>>, Error> {
    if done {
        Ok(None)
    } else {
        Err(Error::Protocol(format!(
            "the answer was cut: the stream ended without `{marker}`"
        )))
    }
}

/// A tool call's arguments as text: a string as it is, nothing (or `null`) as empty, anything
/// else (servers that send the arguments as an object) as its JSON text.
pub(crate) fn arguments_text(arguments: Option<Value>) -> String {
    match arguments {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The error for a chunk whose JSON did not parse: the parser's complaint and the chunk, quoted
/// and cut to [`QUOTE_LIMIT`] bytes.
pub(crate) fn malformed_chunk(data: &str, error: &serde_json::Error) -> Error {
    Error::Protocol(format!(
        "malformed JSON in a stream chunk ({error}): {}",
        quote(data)
    ))
}

/// Parses a chunk that must be one JSON object. serde would also read a struct from an array of
/// its fields (and a tagged enum from an array starting with its tag), which no provider sends:
/// anything but an object is a malformed chunk, never silently decoded.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, Error> {
    let value: serde_json::Map<String, Value> =
        serde_json::from_str(data).map_err(|e| malformed_chunk(data, &e))?;
    serde_json::from_value(Value::Object(value)).map_err(|e| malformed_chunk(data, &e))
}

/// `data` quoted, cut to [`QUOTE_LIMIT`] bytes on a character boundary.
fn quote(data: &str) -> String {
    if data.len() <= QUOTE_LIMIT {
        return format!("{data:?}");
    }
    let mut end = QUOTE_LIMIT;
    while !data.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes in all)", &data[..end], data.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_errors_take_the_code_else_the_type() {
        let e = api_error(&json!({"message": "m", "type": "t", "code": "c"}));
        assert!(matches!(e, Error::Api { kind: Some(k), message } if k == "c" && message == "m"));
        let e = api_error(&json!({"message": "m", "type": "t", "code": null}));
        assert!(matches!(e, Error::Api { kind: Some(k), .. } if k == "t"));
        let e = api_error(&json!({"code": 503, "message": "busy", "status": "UNAVAILABLE"}));
        assert!(matches!(e, Error::Api { kind: Some(k), .. } if k == "503"));
        let e = api_error(&json!("bare words"));
        assert!(matches!(e, Error::Api { kind: None, message } if message == "bare words"));
        let e = api_error(&json!({"detail": 1}));
        assert!(matches!(e, Error::Api { message, .. } if message == r#"{"detail":1}"#));
    }

    #[test]
    fn quotes_are_cut_on_a_character_boundary() {
        assert_eq!(quote("ab\"c"), r#""ab\"c""#);
        let long = "é".repeat(QUOTE_LIMIT);
        let quoted = quote(&long);
        assert!(
            quoted.ends_with(&format!("... ({} bytes in all)", long.len())),
            "{quoted}"
        );
        assert!(quoted.len() < QUOTE_LIMIT + 40, "{quoted}");
    }
}
