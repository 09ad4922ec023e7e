//! What the providers' decoders share: the errors they report the same way (an error the
//! server put in its stream, a chunk that could not be decoded, a stream cut before its end
//! marker), the end-of-stream rule ([`Ending`]) and the text of a tool call's arguments.

use serde_json::Value;

use crate::llm::event::ChatEvent;
use crate::sse::EventRef;
use crate::Error;

/// Longest stretch of a bad chunk quoted in an error, in bytes.
const QUOTE_LIMIT: usize = 200;

/// The error a server reported inside a stream, as [`Error::Api`]: from an object with a
/// `message` and a `code` or `type` (OpenAI, OpenRouter, Anthropic's inner `error`, Gemini), or
/// from a bare string.
pub(crate) fn api_error(error: &Value) -> Error {
    let message = match (error.get("message"), error) {
        (Some(Value::String(text)), _) | (_, Value::String(text)) => text.clone(),
        _ => error.to_string(),
    };
    let kind = ["code", "type"]
        .iter()
        .find_map(|key| match error.get(key) {
            Some(Value::Number(n)) => Some(n.to_string()),
            value => non_empty_str(value),
        });
    Error::Api { kind, message }
}

/// How the error of an answer that a clean end of its body cut begins.
const CUT: &str = "the answer was cut";

/// Whether `e` is the error of an answer that a clean end of its body cut (see [`Ending`]).
pub(crate) fn is_cut(e: &Error) -> bool {
    matches!(e, Error::Protocol(m) if m.starts_with(CUT))
}

/// The end-of-stream rule every decoder follows, fed the events it sends.
///
/// A stream ends completely with its end marker (`data: [DONE]`, `message_stop`...), or with a
/// clean end of the body right after a finish reason: some OpenAI-compatible servers never
/// send `[DONE]`, and Gemini has no marker at all. "Right after" means that no more of the
/// answer (text, reasoning, a refusal, a tool call or plan) came after the last finish reason;
/// usage may. A clean end anywhere else is an [`Error::Protocol`] saying the answer was cut
/// and what was missing; so is an end marker that comes before any of the answer or its finish
/// reason (an empty answer is never passed off as a whole one: a model that says nothing still
/// sends its finish reason).
///
/// Why not trust any clean end: a proxy or a dropped connection that closes the body cleanly
/// mid-answer would pass a short answer off as whole. Why not demand the marker: the servers
/// without one would fail every answer. A finish reason is the model saying it is done.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ending {
    /// The end marker was seen: nothing more is read.
    done: bool,
    /// A finish reason was seen, with no more of the answer after it.
    finished: bool,
    /// A finish reason was seen at all.
    any_finish: bool,
    /// Something of the answer (or its finish reason) was seen: an end marker before it ends an
    /// empty answer, which is an error.
    started: bool,
}

impl Ending {
    /// Whether a finish reason came in the events observed so far.
    pub(crate) fn finish_seen(&self) -> bool {
        self.any_finish
    }

    /// Takes note of `events`, as sent in order.
    pub(crate) fn observe(&mut self, events: &[ChatEvent]) {
        for event in events {
            self.started |= !matches!(event, ChatEvent::Done | ChatEvent::Usage(_));
            match event {
                ChatEvent::Finish(_) => {
                    self.finished = true;
                    self.any_finish = true;
                }
                ChatEvent::Done => self.done = true,
                // What comes about the answer, not more of it (Gemini may send its grounding
                // after the finish reason).
                ChatEvent::Usage(_)
                | ChatEvent::ServerToolResult(_)
                | ChatEvent::Citation(_)
                | ChatEvent::Thought(_) => {}
                _ => self.finished = false,
            }
        }
    }

    /// What a decoder's `finish` returns when the body has ended cleanly: nothing more after
    /// the end marker, [`ChatEvent::Done`] right after a finish reason, else an
    /// [`Error::Protocol`] naming `reason` (the provider's finish-reason field) and `marker`
    /// (its end marker, if it has one).
    pub(crate) fn finish(
        &mut self,
        reason: &str,
        marker: Option<&str>,
    ) -> Result<Option<Vec<ChatEvent>>, Error> {
        if self.done {
            return Ok(None);
        }
        if self.finished {
            self.done = true;
            return Ok(Some(vec![ChatEvent::Done]));
        }
        let mut why = if self.any_finish {
            format!("{CUT}: more of the answer came after its `{reason}`")
        } else {
            format!("{CUT}: the stream ended before any `{reason}`")
        };
        if let Some(marker) = marker {
            why.push_str(&format!(" and without `{marker}`"));
        }
        Err(Error::Protocol(why))
    }
}

/// A provider's chat decoder, as the rules every one of them shares see it: what it makes of
/// one event's data, its [`Ending`], and the names a cut's error gives. Implemented by
/// [`chat_decode!`], with [`Decode`](crate::sse::Decode) on top of it.
pub(crate) trait ChatDecode {
    /// The provider's finish-reason field, named by a cut's error (`"finish_reason"`...).
    const REASON: &'static str;
    /// The provider's end marker, if it has one (`"data: [DONE]"`...).
    const MARKER: Option<&'static str>;

    /// The decoder's end-of-stream state.
    fn ending(&mut self) -> &mut Ending;

    /// Appends the events of one event's data, trimmed and not empty.
    fn events(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error>;

    /// What must hold of a complete answer (OpenAI's: every tool call has a name), checked
    /// when it ends. Nothing by default.
    fn check_complete(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Appends what the decoder holds back for the finish (OpenAI's reasoning `Thought` and
    /// sources) when the end marker comes without a finish reason. Nothing by default.
    fn before_done(&mut self, _events: &mut Vec<ChatEvent>) {}
}

/// The end marker of OpenAI's and Cohere v2's streams.
pub(crate) const DONE: &str = "data: [DONE]";

/// Decodes one event as every chat decoder does: nothing is read after the end marker, an
/// `event: error` is the server's error, blank data is nothing, `data: [DONE]` is the end for
/// the decoders whose marker it is, and the [`Ending`] sees every event sent.
pub(crate) fn decode_event<D: ChatDecode>(
    decoder: &mut D,
    event: EventRef<'_>,
) -> Result<Option<Vec<ChatEvent>>, Error> {
    if decoder.ending().done {
        return Ok(None);
    }
    let data = event.data.trim();
    if event.event == "error" {
        // Whatever its data: the `error` object of its JSON, else the JSON, else the text.
        let value = serde_json::from_str(data).unwrap_or_else(|_| Value::from(data));
        return Err(api_error(value.get("error").unwrap_or(&value)));
    }
    if data.is_empty() {
        return Ok(None);
    }
    let mut events = Vec::new();
    if data == "[DONE]" && D::MARKER == Some(DONE) {
        decoder.before_done(&mut events);
        events.push(ChatEvent::Done);
    } else {
        decoder.events(data, &mut events)?;
    }
    decoder.ending().observe(&events);
    if decoder.ending().done {
        decoder.check_complete()?;
        if !decoder.ending().started {
            // A gateway's answer to an upstream failure, or a server's hiccup: not an answer
            // that happens to be empty, which has its finish reason.
            let marker = D::MARKER.unwrap_or("its end marker");
            return Err(Error::Protocol(format!(
                "{CUT}: the stream sent `{marker}` before any of the answer or its `{}`",
                D::REASON
            )));
        }
    }
    Ok((!events.is_empty()).then_some(events))
}

/// The clean end of the body for a chat decoder: [`Ending::finish`], and the check of a
/// complete answer when it is one.
pub(crate) fn finish_events<D: ChatDecode>(
    decoder: &mut D,
) -> Result<Option<Vec<ChatEvent>>, Error> {
    let end = decoder.ending().finish(D::REASON, D::MARKER)?;
    if end.is_some() {
        decoder.check_complete()?;
    }
    Ok(end)
}

/// Makes a chat decoder of a type with an `ending: Ending` field and a method
/// `fn data(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error>` (the
/// events of one event's data): implements [`ChatDecode`] with the provider's finish-reason
/// field and end marker (and `check`, a method checking a complete answer, and `before_done`,
/// one appending what is held back for the finish, if given), and
/// [`Decode`](crate::sse::Decode) with [`decode_event`] and [`finish_events`].
macro_rules! chat_decode {
    ($decoder:ty, $reason:literal, $marker:expr $(, check: $check:ident)? $(, before_done: $flush:ident)?) => {
        impl crate::llm::wire::ChatDecode for $decoder {
            const REASON: &'static str = $reason;
            const MARKER: Option<&'static str> = $marker;

            fn ending(&mut self) -> &mut crate::llm::wire::Ending {
                &mut self.ending
            }

            fn events(&mut self, data: &str, events: &mut Vec<ChatEvent>) -> Result<(), Error> {
                self.data(data, events)
            }

            $(fn check_complete(&self) -> Result<(), Error> {
                self.$check()
            })?

            $(fn before_done(&mut self, events: &mut Vec<ChatEvent>) {
                self.$flush(events)
            })?
        }

        impl crate::sse::Decode for $decoder {
            type Item = Vec<ChatEvent>;

            fn decode(&mut self, event: crate::sse::Event) -> Result<Option<Vec<ChatEvent>>, Error> {
                crate::llm::wire::decode_event(self, crate::sse::EventRef::from(&event))
            }

            /// Reads the event where the parser holds it: the stream's worker copies nothing.
            fn decode_ref(
                &mut self,
                event: crate::sse::EventRef<'_>,
            ) -> Result<Option<Vec<ChatEvent>>, Error> {
                crate::llm::wire::decode_event(self, event)
            }

            fn finish(&mut self) -> Result<Option<Vec<ChatEvent>>, Error> {
                crate::llm::wire::finish_events(self)
            }
        }
    };
}

pub(crate) use chat_decode;

/// The first of a chunk's choices (OpenAI) or candidates (Gemini): the one whose `index` is 0,
/// a missing index counting as 0. The clients never ask for more than one.
pub(crate) fn first_of<T>(items: Option<Vec<T>>, index: impl Fn(&T) -> Option<u64>) -> Option<T> {
    items?.into_iter().find(|i| index(i).unwrap_or(0) == 0)
}

/// The error for a tool call that came without a name (`what` names it): it cannot be run.
pub(crate) fn unnamed_call(what: &str) -> Error {
    Error::Protocol(format!("{what} without a name: the call cannot be run"))
}

/// A tool call's `name`, or, when it is missing or empty, the [`unnamed_call`] error for the
/// call `what` names.
pub(crate) fn named(name: Option<String>, what: impl FnOnce() -> String) -> Result<String, Error> {
    name.filter(|n| !n.is_empty())
        .ok_or_else(|| unnamed_call(&what()))
}

/// The string `value` holds, unless it is empty or not a string.
pub(crate) fn non_empty_str(value: Option<&Value>) -> Option<String> {
    let text = value?.as_str()?;
    (!text.is_empty()).then(|| text.to_string())
}

/// [`non_empty_str`] for a value the caller owns: the string is moved out, not copied (a
/// reasoning delta or a thought signature can be long, and comes in every chunk).
pub(crate) fn non_empty_string(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Refuses a finish `reason` that says the server, not the model, ended the answer: Cohere's
/// `ERROR` (and `ERROR_TOXIC`, `ERROR_LIMIT`...) and `TIMEOUT`, DeepSeek's
/// `insufficient_system_resource`, OpenRouter's `error`. Such an answer is an [`Error::Api`] of
/// that kind, with the server's `detail`, not a finish reason: the answer before it is not one
/// the model finished, and a caller reading only the text would take it for whole.
pub(crate) fn check_finish(reason: Option<&str>, detail: Option<Value>) -> Result<(), Error> {
    let failure = |r: &&str| {
        r.starts_with("ERROR") || matches!(*r, "TIMEOUT" | "insufficient_system_resource" | "error")
    };
    match reason.filter(failure) {
        Some(reason) => Err(Error::Api {
            message: detail
                .and_then(as_text)
                .unwrap_or_else(|| format!("the answer ended with finish reason {reason}")),
            kind: Some(reason.to_string()),
        }),
        None => Ok(()),
    }
}

/// A string as it is, anything else but `null` as its JSON text.
pub(crate) fn as_text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// A tool call's arguments as text (see [`as_text`]), nothing as empty: some servers send the
/// arguments as an object.
pub(crate) fn arguments_text(arguments: Option<Value>) -> String {
    arguments.and_then(as_text).unwrap_or_default()
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
