//! The generated SSE corpora of the parse benchmarks, shared by `sse_parse.rs` (criterion) and
//! `peers.rs corpus` (which writes the first two for the Python peer), so that both time the
//! same bytes.

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

/// Words of text that is not English, as providers send it: raw UTF-8 in the JSON, not `\u`
/// escapes (Chinese, Japanese, Russian, accented Latin, an emoji).
const TEXT: &[&str] = &[
    "\u{8fd9}\u{662f}",
    "\u{4e00}\u{4e2a}",
    "\u{6a21}\u{578b}\u{7684}",
    "\u{56de}\u{7b54}",
    "\u{3002}",
    "\u{3053}\u{3093}\u{306b}\u{3061}\u{306f}",
    "\u{30b9}\u{30c8}\u{30ea}\u{30fc}\u{30e0}",
    " \u{43c}\u{43e}\u{434}\u{435}\u{43b}\u{44c}",
    " \u{43f}\u{43e}\u{442}\u{43e}\u{43a}",
    " caf\u{e9}",
    " r\u{e9}ponse",
    " \u{fc}ber",
    ",",
    " \u{1F600}",
];

/// Gemini-style chunks of text that is not English: one `data:` line of JSON each, holding a
/// sentence (8 to 40 words of [`TEXT`]), CRLF: lines of 270 to 640 bytes, a third of the bytes
/// beyond ASCII, where the UTF-8 check costs most.
pub fn text_corpus(size: usize) -> Vec<u8> {
    let mut rng = XorShift(0x7E47_C0DE);
    let mut out = Vec::with_capacity(size + 1024);
    let mut n = 0u64;
    while out.len() < size {
        let words = 8 + rng.next() % 33;
        let text: String = (0..words).map(|_| rng.pick(TEXT)).collect();
        let line = format!(
            "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{text}\"}}],\
             \"role\":\"model\"}},\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":9,\
             \"candidatesTokenCount\":{n},\"totalTokenCount\":{}}},\"modelVersion\":\
             \"gemini-2.5-flash\",\"responseId\":\"rsp-{:08}\"}}\r\n\r\n",
            n + 9,
            n % 100_000_000,
        );
        out.extend_from_slice(line.as_bytes());
        n += 1;
    }
    out
}
