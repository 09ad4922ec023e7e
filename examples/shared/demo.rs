//! An offline stand-in for an OpenAI-compatible server, on 127.0.0.1, in plain `std::net`.
//!
//! It answers `POST .../chat/completions` the way the real API streams: a role chunk, content
//! deltas of a few characters with a short pause between them, a `finish_reason` chunk, a usage
//! chunk with empty `choices`, then `data: [DONE]`. The reply is written from the prompt, so
//! it is plainly not a model. Anything else gets an OpenAI-style JSON error.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Largest request head and body the demo reads.
const MAX_HEAD: u64 = 64 * 1024;
const MAX_BODY: u64 = 4 * 1024 * 1024;
/// The longest stretch of the prompt echoed back.
const ECHO_LIMIT: usize = 160;

/// A running demo server. Its threads live as long as the process.
pub struct DemoServer {
    base_url: String,
}

impl DemoServer {
    /// Starts listening on an ephemeral port of 127.0.0.1; `pause` is the delay between two
    /// pieces of a reply.
    pub fn start(pause: Duration) -> io::Result<DemoServer> {
        DemoServer::start_rate_limited(pause, 0)
    }

    /// [`start`](DemoServer::start), but every `every`-th chat request (none for 0) is answered
    /// `429 Too Many Requests` with `Retry-After: 1` and OpenAI's rate-limit headers
    /// (`x-ratelimit-remaining-requests: 0`, `x-ratelimit-reset-requests: 1s`), as a real API
    /// does past its quota.
    #[allow(dead_code)] // used by the batch_chat example, not by chat
    pub fn start_rate_limited(pause: Duration, every: usize) -> io::Result<DemoServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        thread::Builder::new()
            .name("chat-demo-server".into())
            .spawn(move || {
                let count = Arc::new(AtomicUsize::new(0));
                for stream in listener.incoming().flatten() {
                    let count = Arc::clone(&count);
                    let limit = move || {
                        every > 0 && count.fetch_add(1, Ordering::Relaxed) % every == every - 1
                    };
                    // One thread per connection; a failed spawn drops that connection only.
                    let _ = thread::Builder::new()
                        .name("chat-demo-conn".into())
                        .spawn(move || {
                            let _ = serve(stream, pause, limit);
                        });
                }
            })?;
        Ok(DemoServer { base_url })
    }

    /// The base URL to give the client: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// A request as far as the demo cares.
struct Request {
    method: String,
    path: String,
    /// The body's first `MAX_BODY` bytes.
    body: Vec<u8>,
    /// The body's length, as its `Content-Length` said.
    length: u64,
}

fn serve(
    stream: TcpStream,
    pause: Duration,
    rate_limited: impl FnOnce() -> bool,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let request = match read_request(stream) {
        Ok(request) => request,
        Err(e) => return reply_error(&mut out, 400, &format!("unreadable request: {e}")),
    };
    if request.length > MAX_BODY {
        let message = format!(
            "the request body is {} bytes, more than the demo server's limit of {MAX_BODY}",
            request.length
        );
        return reply_error(&mut out, 413, &message);
    }
    if request.method != "POST" || !request.path.ends_with("/chat/completions") {
        let message = format!(
            "the demo server only answers POST /v1/chat/completions, not {} {}",
            request.method, request.path
        );
        return reply_error(&mut out, 404, &message);
    }
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(e) => return reply_error(&mut out, 400, &format!("the body is not JSON: {e}")),
    };
    if body["stream"] != json!(true) {
        return reply_error(
            &mut out,
            400,
            "the demo server only streams: send \"stream\": true",
        );
    }
    if rate_limited() {
        return reply_rate_limited(&mut out);
    }
    stream_reply(&mut out, &body, pause)
}

/// A 429 as OpenAI sends it past a quota: the error body, `Retry-After` and the rate-limit
/// headers.
fn reply_rate_limited(out: &mut TcpStream) -> io::Result<()> {
    let body = json!({"error": {
        "message": "Rate limit reached for requests (demo server)",
        "type": "requests",
        "code": "rate_limit_exceeded",
    }})
    .to_string();
    write!(
        out,
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
         Retry-After: 1\r\nx-ratelimit-limit-requests: 60\r\n\
         x-ratelimit-remaining-requests: 0\r\nx-ratelimit-reset-requests: 1s\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

fn read_request(stream: impl Read) -> io::Result<Request> {
    let mut reader = BufReader::new(stream).take(MAX_HEAD);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "request head cut",
            ));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<u64>().ok();
            }
        }
    }
    let length = length.unwrap_or(0);
    let mut reader = reader.into_inner();
    let mut body = Vec::new();
    reader
        .by_ref()
        .take(length.min(MAX_BODY))
        .read_to_end(&mut body)?;
    // The rest is read and dropped, so that the client, still sending it, gets the answer (a
    // 413) rather than a connection closed under its feet.
    io::copy(
        &mut reader.take(length - body.len() as u64),
        &mut io::sink(),
    )?;
    Ok(Request {
        method,
        path,
        body,
        length,
    })
}

fn reply_error(out: &mut TcpStream, status: u16, message: &str) -> io::Result<()> {
    let body =
        json!({"error": {"message": message, "type": "invalid_request_error", "code": null}})
            .to_string();
    let reason = match status {
        404 => "Not Found",
        413 => "Content Too Large",
        _ => "Bad Request",
    };
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

/// Streams the reply as chunked Server-Sent Events, the way the real API does.
fn stream_reply(out: &mut TcpStream, request: &Value, pause: Duration) -> io::Result<()> {
    let model = request["model"].as_str().unwrap_or("demo").to_string();
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let call = tool_call(request, &messages);
    let reply = match (&call, messages.last()) {
        (Some(_), _) => String::new(),
        (None, Some(last)) if last["role"] == "tool" => format!(
            "(offline demo) The tool answered {}.",
            last["content"].as_str().unwrap_or("nothing")
        ),
        _ => compose_reply(&messages),
    };
    let pieces = split_into_pieces(&reply);
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )?;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let chunk = |choices: Value, usage: Value| {
        json!({
            "id": "chatcmpl-demo",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage,
        })
    };
    let delta = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "finish_reason": finish}]);

    send_chunk(out, ": the offline demo of ureq-futures\n\n")?;
    let role = chunk(
        delta(json!({"role": "assistant", "content": ""}), Value::Null),
        Value::Null,
    );
    send_event(out, &role)?;
    for piece in &pieces {
        thread::sleep(pause);
        send_event(
            out,
            &chunk(delta(json!({"content": piece}), Value::Null), Value::Null),
        )?;
    }
    let finish = match call {
        Some(call) => {
            send_event(
                out,
                &chunk(
                    delta(json!({"tool_calls": [call]}), Value::Null),
                    Value::Null,
                ),
            )?;
            "tool_calls"
        }
        None => "stop",
    };
    send_event(out, &chunk(delta(json!({}), json!(finish)), Value::Null))?;
    let prompt_tokens: usize = messages
        .iter()
        .filter_map(|m| m["content"].as_str())
        .map(|text| text.split_whitespace().count())
        .sum();
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": pieces.len(),
        "total_tokens": prompt_tokens + pieces.len(),
    });
    send_event(out, &chunk(json!([]), usage))?;
    send_chunk(out, "data: [DONE]\n\n")?;
    out.write_all(b"0\r\n\r\n")?;
    out.flush()
}

fn send_event(out: &mut TcpStream, chunk: &Value) -> io::Result<()> {
    send_chunk(out, &format!("data: {chunk}\n\n"))
}

/// One HTTP chunk, flushed at once.
fn send_chunk(out: &mut TcpStream, data: &str) -> io::Result<()> {
    write!(out, "{:X}\r\n{data}\r\n", data.len())?;
    out.flush()
}

/// When tools are offered and the last message is the user's: a call of the first tool, whose
/// arguments are `{"expression": ...}` made of the prompt's digits and operators (the
/// calculator of the `tools` example takes just that).
fn tool_call(request: &Value, messages: &[Value]) -> Option<Value> {
    let tool = request["tools"].as_array()?.first()?;
    let last = messages.last()?;
    if last["role"] != "user" {
        return None;
    }
    let prompt = match &last["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    };
    let expression: String = prompt
        .chars()
        .filter(|c| c.is_ascii_digit() || "+-*/(). ".contains(*c))
        .collect();
    let arguments = json!({"expression": expression.trim()}).to_string();
    Some(json!({
        "index": 0,
        "id": "call_demo_1",
        "type": "function",
        "function": {"name": tool["function"]["name"], "arguments": arguments},
    }))
}

/// The demo's answer: what it is, what was asked, and how to reach a real model.
fn compose_reply(messages: &[Value]) -> String {
    let said = |role: &str| -> Vec<&str> {
        messages
            .iter()
            .filter(|m| m["role"] == role)
            .filter_map(|m| m["content"].as_str())
            .collect()
    };
    let users = said("user");
    let prompt = users.last().copied().unwrap_or("").trim();
    let words = prompt.split_whitespace().count();
    let first = users.len() <= 1;
    let mut reply = String::from(if first { "" } else { "(offline demo) " });
    if first {
        reply.push_str(
            "This is the offline demo, not a real model: a small server inside the chat example \
             streams this answer from 127.0.0.1 in OpenAI's format, a few characters at a time.\n\n",
        );
    }
    reply.push_str(&format!(
        "You said \"{}\" ({words} word{}), message {} of this conversation.",
        excerpt(prompt),
        if words == 1 { "" } else { "s" },
        users.len()
    ));
    if let Some(previous) = users.len().checked_sub(2).map(|i| users[i]) {
        reply.push_str(&format!(
            " Before that you said \"{}\": the history is sent with every turn.",
            excerpt(previous.trim())
        ));
    }
    if let Some(system) = said("system").first() {
        reply.push_str(&format!(
            " The system prompt is \"{}\".",
            excerpt(system.trim())
        ));
    }
    if first {
        reply.push_str(
            "\n\nTo talk to a real model, set the API key of a provider (`cargo run --example \
             chat -- --help` lists them), or point OPENAI_BASE_URL at an OpenAI-compatible server such as Ollama \
             (http://localhost:11434/v1).",
        );
    }
    reply
}

/// `text` cut to [`ECHO_LIMIT`] characters, on one line.
fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(ECHO_LIMIT) {
        Some((end, _)) => format!("{}...", &one_line[..end]),
        None => one_line,
    }
}

/// Token-sized pieces: each word with the space after it, long words cut every 5 characters.
fn split_into_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    for word in text.split_inclusive([' ', '\n']) {
        let chars: Vec<char> = word.chars().collect();
        for piece in chars.chunks(5) {
            pieces.push(piece.iter().collect());
        }
    }
    pieces
}

/// The demo server speaks the protocol: `cargo test` runs these (the example is `test = true`).
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;
    use ureq_futures::llm::{Conversation, OpenAIClient};

    use super::DemoServer;

    #[test]
    fn a_request_over_the_body_limit_is_a_413_that_says_so() {
        let server = DemoServer::start(Duration::ZERO).unwrap();
        let client = OpenAIClient::builder("gpt-4o-mini", None)
            .base_url(server.base_url())
            .env(|_| None)
            .retry(ureq_futures::RetryPolicy::none())
            .build();
        let prompt = "word ".repeat(1_000_000);
        let err = Conversation::new(client).send(prompt).err().unwrap();
        assert_eq!(err.status(), Some(413), "{err}");
        let message = err.to_string();
        let said = message
            .split_once("413: the request body is ")
            .and_then(|(_, rest)| {
                rest.split_once(" bytes, more than the demo server's limit of 4194304 (")
            })
            .and_then(|(length, _)| length.parse::<u64>().ok());
        // The prompt and the request's JSON around it.
        assert!(said.is_some_and(|n| n > 5_000_000), "{message}");
    }

    #[test]
    fn the_demo_server_streams_a_reply_that_echoes_the_prompt() {
        let server = DemoServer::start(Duration::ZERO).unwrap();
        let client = OpenAIClient::builder("gpt-4o-mini", None)
            .base_url(server.base_url())
            .env(|_| None)
            .build();
        let mut chat = Conversation::new(client);
        let mut pieces = 0;
        let first = chat
            .send_with("what is a thread pool?", |_| pieces += 1)
            .unwrap();
        assert!(first.contains("\"what is a thread pool?\""), "{first}");
        assert!(first.contains("not a real model"), "{first}");
        assert!(pieces > 10, "the reply came in {pieces} pieces");

        let mut reply = chat.send("and a channel?").unwrap();
        let second: String = reply.by_ref().map(Result::unwrap).collect();
        assert!(second.contains("\"what is a thread pool?\""), "{second}");
        assert!(second.contains("message 2"), "{second}");
        assert_eq!(reply.chat().finish_reason(), Some("stop"));
        assert!(reply.chat().usage().and_then(|u| u.total_tokens).is_some());

        // Anything but a streaming chat request is an OpenAI-style error.
        let session = ureq_futures::FuturesSession::new();
        let models = session
            .get(format!("{}/models", server.base_url()))
            .send()
            .result()
            .unwrap();
        assert_eq!(models.status(), 404);
        let error: Value = models.json().unwrap();
        assert!(error["error"]["message"].is_string(), "{error}");
    }
}
