//! Reading requests: bounded lines, the head, `Content-Length` and chunked bodies.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;

use crate::reply::Request;
use crate::MAX_REQUEST_HEAD;

pub(crate) fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Read one line (up to and including `\n`) into `line`, bounded by `budget`.
/// Returns the number of bytes read (0 = EOF).
pub(crate) fn read_line<R: BufRead>(
    r: &mut R,
    line: &mut Vec<u8>,
    budget: &mut u64,
) -> io::Result<usize> {
    line.clear();
    let n = r.by_ref().take(*budget).read_until(b'\n', line)?;
    *budget = budget.saturating_sub(n as u64);
    if n > 0 && line.last() != Some(&b'\n') {
        return Err(bad(if *budget == 0 {
            "request head too large"
        } else {
            "unexpected EOF in request head"
        }));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(n)
}

/// Read one request. `Ok(None)` on a clean EOF before a request.
pub(crate) fn read_request<R: BufRead>(
    r: &mut R,
    stream: &mut TcpStream,
    line: &mut Vec<u8>,
    connection: usize,
) -> io::Result<Option<(Request, bool)>> {
    let mut budget = MAX_REQUEST_HEAD;
    // Request line (skipping stray empty lines between requests).
    loop {
        if read_line(r, line, &mut budget)? == 0 {
            return Ok(None);
        }
        if !line.is_empty() {
            break;
        }
    }
    let text = std::str::from_utf8(line).map_err(|_| bad("non-UTF-8 request line"))?;
    let mut parts = text.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(path), version) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("malformed request line"));
    };
    let http10 = version == Some("HTTP/1.0");
    let method = method.to_string();
    let path = path.to_string();

    let mut headers = Vec::new();
    loop {
        if read_line(r, line, &mut budget)? == 0 {
            return Err(bad("unexpected EOF in request head"));
        }
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(bad("malformed header"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
        connection,
    };

    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = match req.header("content-length") {
        Some(v) => Some(v.parse::<u64>().map_err(|_| bad("bad Content-Length"))?),
        None => None,
    };
    let has_body = chunked || length.is_some_and(|n| n > 0);
    if has_body
        && req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if chunked {
        req.body = read_chunked(r, line)?;
    } else if let Some(n) = length {
        let mut body = Vec::with_capacity(n.min(1 << 20) as usize);
        r.by_ref().take(n).read_to_end(&mut body)?;
        if (body.len() as u64) < n {
            return Err(bad("unexpected EOF in request body"));
        }
        req.body = body;
    }
    Ok(Some((req, http10)))
}

pub(crate) fn read_chunked<R: BufRead>(r: &mut R, line: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = 4096;
        if read_line(r, line, &mut budget)? == 0 {
            return Err(bad("unexpected EOF in chunked body"));
        }
        let text = std::str::from_utf8(line).map_err(|_| bad("bad chunk size"))?;
        let size_str = text.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_str, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers until an empty line.
            let mut budget = MAX_REQUEST_HEAD;
            loop {
                if read_line(r, line, &mut budget)? == 0 || line.is_empty() {
                    return Ok(body);
                }
            }
        }
        let before = body.len();
        r.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(bad("unexpected EOF in chunk"));
        }
        let mut budget = 4096;
        read_line(r, line, &mut budget)?; // CRLF after the chunk data
    }
}
