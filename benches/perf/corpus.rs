//! The two generated SSE corpora of the parse benchmarks, shared by `sse_parse.rs` (criterion)
//! and `peers.rs corpus` (which writes them for the Python peer), so that both time the same
//! bytes.

/// A tiny deterministic PRNG, so the corpora are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    " the",
    " a",
    " model",
    "'s",
    " stream",
    ",",
    " and",
    " token",
    ".",
    " Hello",
    "!",
    " of",
    " in",
    " is",
    " that",
    " \\\"quoted\\\"",
    " \\n",
    " caf\u{e9}",
    " \u{1F600}",
    " to",
];

/// OpenAI-style chat completion chunks: `data: {...}\n\n`, ~230 bytes of JSON each.
pub fn openai_corpus(size: usize) -> Vec<u8> {
    let mut rng = XorShift(0x05EE_D0A1);
    let mut out = Vec::with_capacity(size + 512);
    let mut n = 0u64;
    while out.len() < size {
        let word = rng.pick(WORDS);
        let line = format!(
            "data: {{\"id\":\"chatcmpl-AbCdEf{:010}\",\"object\":\"chat.completion.chunk\",\
             \"created\":{},\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\
             \"fp_0ba0d124f1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\
             \"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
            n % 10_000_000_000,
            1_700_000_000 + n / 50,
        );
        out.extend_from_slice(line.as_bytes());
        n += 1;
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

/// Anthropic-style small events: `event:` and `id:` lines, data over two lines, comments, CRLF.
pub fn anthropic_corpus(size: usize) -> Vec<u8> {
    let mut rng = XorShift(0x000A_170C);
    let mut out = Vec::with_capacity(size + 512);
    let mut n = 0u64;
    while out.len() < size {
        let chunk = match n % 16 {
            0 => ": ping\r\n\r\nevent: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n".to_string(),
            7 => format!(
                "event: content_block_start\r\nid: {n}\r\ndata: {{\"type\":\"content_block_start\",\
                 \"index\":{}\r\ndata: ,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\r\n\r\n",
                n % 3
            ),
            _ => format!(
                "event: content_block_delta\r\nid: {n}\r\ndata: {{\"type\":\"content_block_delta\",\
                 \"index\":0,\r\ndata: \"delta\":{{\"type\":\"text_delta\",\"text\":\"{}\"}}}}\r\n\r\n",
                rng.pick(WORDS)
            ),
        };
        out.extend_from_slice(chunk.as_bytes());
        n += 1;
    }
    out
}
