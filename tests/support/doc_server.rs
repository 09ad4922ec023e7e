// A tiny HTTP server for the crate's doctests, included with
// `include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs"))`.
// No inner attributes and std only, so that it can be included inside a function body.

/// Serves `routes` (path, content type, body) on 127.0.0.1 until the process ends and returns
/// the base URL. Unknown paths get a 404. Each response closes its connection.
#[allow(dead_code)]
pub fn serve(routes: &'static [(&'static str, &'static str, &'static str)]) -> String {
    serve_with(move |path| match routes.iter().find(|r| r.0 == path) {
        Some((_, ct, body)) => ("200 OK", format!("content-type: {ct}\r\n"), body.as_bytes()),
        None => ("404 Not Found", "content-type: text/plain\r\n".to_string(), b"not found"),
    })
}

/// Serves the bytes `body` (which need not be UTF-8) with `content_type` at `path` on
/// 127.0.0.1 until the process ends, and returns the base URL.
#[allow(dead_code)]
pub fn serve_bytes(path: &'static str, content_type: &'static str, body: &'static [u8]) -> String {
    serve_with(move |asked| {
        if asked == path {
            ("200 OK", format!("content-type: {content_type}\r\n"), body)
        } else {
            ("404 Not Found", "content-type: text/plain\r\n".to_string(), b"not found")
        }
    })
}

/// Answers every request on 127.0.0.1 with `status` (`"429 Too Many Requests"`), the extra
/// header lines `headers` (each ending in `\r\n`) and a JSON `body`, until the process ends;
/// returns the base URL.
#[allow(dead_code)]
pub fn serve_status(status: &'static str, headers: &'static str, body: &'static str) -> String {
    serve_with(move |_| {
        let headers = format!("content-type: application/json\r\n{headers}");
        (status, headers, body.as_bytes())
    })
}

/// Serves on 127.0.0.1 what `answer` returns for each request's path (query removed): the
/// status, header lines and body. Each response closes its connection.
#[allow(dead_code)]
fn serve_with(
    answer: impl Fn(&str) -> (&'static str, String, &'static [u8]) + Send + Sync + Copy + 'static,
) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut line = String::new();
                let mut content_length = 0usize;
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        content_length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0u8; content_length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("/");
                let (status, headers, body) = answer(path);
                let head = format!(
                    "HTTP/1.1 {status}\r\n{headers}\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = (&stream).write_all(&[head.as_bytes(), body].concat());
            });
        }
    });
    base
}

/// An OpenAI-compatible streamed chat answer, `Hello!` then `stop`, for a route at
/// `/v1/chat/completions`: `serve(&[("/v1/chat/completions", "text/event-stream", OPENAI_HELLO)])`.
#[allow(dead_code)]
pub const OPENAI_HELLO: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":null}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: [DONE]\n\n";
