//! Text embeddings: `embed(texts)` on the clients whose provider has an embeddings API, with
//! large inputs split into the provider's batch size and fanned out through the session;
//! `embed_chunks` yields each request's vectors (or error) as they come, for inputs too large
//! to lose to one failed request.
//!
//! # Wire formats
//!
//! From the official SDKs:
//!
//! | client | request | at most per request | vectors in the answer |
//! |---|---|---|---|
//! | [`OpenAIClient`](super::OpenAIClient), [`TogetherClient`](super::TogetherClient) | `POST {base}/embeddings`, `{"model", "input": [texts], "encoding_format": "float", "dimensions"?}` (openai-python's `embeddings.create`) | 2,048 texts; at OpenAI, 300,000 tokens | `data[].embedding`, ordered by `data[].index` (in their order when no item has one) |
//! | [`MistralClient`](super::MistralClient) | the same, at `https://api.mistral.ai/v1`, with `"output_dimension"?` for `"dimensions"?` (mistralai's `embeddings.create`) | 128 texts (the API refuses more than 256), 16,384 tokens | the same |
//! | [`GeminiClient`](super::GeminiClient) | `POST {base}/v1beta/models/{model}:batchEmbedContents`, `{"requests": [{"model": "models/{model}", "content": {"role": "user", "parts": [{"text"}]}, "taskType"?, "outputDimensionality"?}]}` (python-genai's `models.embed_content`) | 100 texts | `embeddings[].values` |
//! | [`CohereClient`](super::CohereClient) | `POST {base}/v2/embed`, `{"model", "texts", "input_type", "embedding_types": ["float"], "output_dimension"?}` (cohere-python's v2 `embed`) | 96 texts (its `embed_batch_size`) | `embeddings.float` |
//!
//! The tokens of a request are counted as its texts' bytes (plus two a text), never fewer than
//! the tokenizers make of them: long texts go in smaller requests, never in one over the cap.
//!
//! Each request is retried as the client's chats are (its [`retry`](super::ClientBuilder::retry)
//! setting: [`RetryPolicy::llm()`](crate::RetryPolicy::llm) unless set, off with
//! `RetryPolicy::none()`), and waits in its origin's lane like any request of the session, so
//! per-host limits and learned pauses apply (see
//! [`SessionBuilder::rate_limiter`](crate::SessionBuilder::rate_limiter)). Its answer is read up
//! to 128 KiB a text (a vector of 4,096 numbers as JSON) when the session's
//! [`max_body_size`](crate::SessionBuilder::max_body_size) is smaller: the vectors of a
//! request of 2,048 texts take far more than its 10 MiB default.

use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{sealed::Wire, Client};
use super::cohere::usage_from_meta;
use super::event::Usage;
use super::gemini::{model_path, model_url};
use super::request::put;
use super::{Cohere, Gemini, Mistral, OpenAI, Together};
use crate::Error;

mod sealed {
    /// How an embeddings request is made and read, per API.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Format {
        /// OpenAI's `/embeddings`.
        OpenAI,
        /// Mistral's `/embeddings`: OpenAI's, with `output_dimension` for `dimensions`.
        Mistral,
        /// Gemini's `batchEmbedContents`.
        Gemini,
        /// Cohere's `/v2/embed`.
        Cohere,
    }

    /// A provider's embeddings API: its format and how much one request carries.
    pub trait EmbedWire: super::Wire {
        /// The request and answer format.
        const FORMAT: Format;
        /// The most texts one request carries.
        const BATCH_SIZE: usize;
        /// The most tokens one request carries, all texts together (`usize::MAX`: no cap).
        const MAX_TOKENS: usize;
    }
}

use sealed::{EmbedWire, Format};

/// The most an answer may take per text beyond the session's
/// [`max_body_size`](crate::SessionBuilder::max_body_size): a vector of 4,096 numbers written
/// out as JSON, 32 bytes each (a 1,536-number vector of OpenAI's is some 35 KB pretty-printed,
/// so the 10 MiB default would fail a request of 300 texts).
const MAX_VECTOR_JSON: u64 = 4096 * 32;

/// The protocols whose provider has an embeddings API, so that their clients have
/// [`embed`](Client::embed): [`OpenAI`], [`Together`], [`Mistral`], [`Gemini`], [`Cohere`].
/// Sealed: implemented in this crate only.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/v1/embeddings", "application/json", r#"{"data":[{"index":0,"embedding":[0.6,0.8]}]}"#)]);
/// use ureq_futures::llm::{Client, EmbedProtocol, OpenAIClient};
///
/// // Code for any client that can embed (an `AnthropicClient` cannot: no embeddings API).
/// fn embed_one<P: EmbedProtocol>(client: &Client<P>, text: &str) -> Result<Vec<f32>, ureq_futures::Error> {
///     Ok(client.embed(&[text])?.remove(0))
/// }
/// let client = OpenAIClient::builder("text-embedding-3-small", None).base_url(format!("{base}/v1")).build();
/// assert_eq!(embed_one(&client, "The sky is blue.")?, [0.6, 0.8]);
/// # Ok::<(), ureq_futures::Error>(())
/// ```
pub trait EmbedProtocol: EmbedWire {}

impl<P: EmbedWire> EmbedProtocol for P {}

/// Implements [`EmbedWire`]: `protocol => format, batch size, token cap` for each.
macro_rules! embed_wire {
    ($($protocol:ty => $format:ident, $batch:literal, $tokens:expr;)*) => {$(
        impl EmbedWire for $protocol {
            const FORMAT: Format = Format::$format;
            const BATCH_SIZE: usize = $batch;
            const MAX_TOKENS: usize = $tokens;
        }
    )*};
}

embed_wire! {
    OpenAI => OpenAI, 2048, 300_000;
    Together => OpenAI, 2048, usize::MAX;
    Mistral => Mistral, 128, 16_384;
    Gemini => Gemini, 100, usize::MAX;
    Cohere => Cohere, 96, usize::MAX;
}

/// Settings of [`Client::embed_with`].
///
/// | setting | default |
/// |---|---|
/// | `model` | the client's model |
/// | `input_type` | none; Cohere gets `search_document`, Gemini no `taskType` |
/// | `dimensions` | the model's own |
/// | `batch_size` | the provider's largest (see the module table) |
/// | `in_flight` | 4 requests at once |
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::EmbedOptions;
///
/// let options = EmbedOptions::new().input_type("search_query").dimensions(256);
/// assert_eq!(options.input_type.as_deref(), Some("search_query"));
/// assert_eq!(options.batch_size, None); // the provider's largest
/// assert_eq!(options.in_flight, None); // 4 requests at once
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct EmbedOptions {
    /// The embedding model (`text-embedding-3-small`, `gemini-embedding-001`, `embed-v4.0`,
    /// `mistral-embed`), when it is not the client's: one client then chats and embeds.
    pub model: Option<String>,
    /// What the texts are for: Cohere's `input_type` (`search_document`, `search_query`,
    /// `classification`, `clustering`) or Gemini's `taskType` (`RETRIEVAL_DOCUMENT`...).
    /// OpenAI-style APIs have none and ignore it.
    pub input_type: Option<String>,
    /// The length of the vectors, for models that can shorten them: OpenAI's `dimensions`,
    /// Mistral's and Cohere's `output_dimension`, Gemini's `outputDimensionality`.
    pub dimensions: Option<u32>,
    /// Texts per request, at most the provider's largest.
    pub batch_size: Option<usize>,
    /// Requests at once.
    pub in_flight: Option<usize>,
}

impl EmbedOptions {
    /// The defaults above.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|_| support::Reply::json(r#"{"embeddings": {"float": [[0.6, 0.8]]}}"#));
    /// # let client = ureq_futures::llm::CohereClient::builder("embed-v4.0", None).env(|_| None).base_url(server.url()).build();
    /// use ureq_futures::llm::EmbedOptions;
    ///
    /// let vectors = client.embed_with(&["The sky is blue."], &EmbedOptions::new())?; // a CohereClient
    /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
    /// assert_eq!(vectors, [[0.6, 0.8]]);
    /// assert_eq!(sent["input_type"], "search_document"); // Cohere's default
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new() -> Self {
        EmbedOptions::default()
    }

    setters! {
        /// Sets [`model`](EmbedOptions::model).
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::json(r#"{"data": [{"index": 0, "embedding": [0.6, 0.8]}]}"#));
        /// # let base = server.url();
        /// use ureq_futures::llm::{EmbedOptions, OpenAIClient};
        ///
        /// // The chat's client embeds too, with the embedding model.
        /// let client = OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).base_url(base).build();
        /// let options = EmbedOptions::new().model("text-embedding-3-small");
        /// client.embed_with(&["The sky is blue."], &options)?;
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["model"], "text-embedding-3-small");
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        model(name: impl Into<String>) => model = Some(name.into());
        /// Sets [`input_type`](EmbedOptions::input_type).
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::json(r#"{"embeddings": [{"values": [0.6, 0.8]}]}"#));
        /// # let client = ureq_futures::llm::GeminiClient::builder("gemini-embedding-001", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::EmbedOptions;
        ///
        /// // Gemini embeds documents and the queries that search them differently.
        /// let queries = EmbedOptions::new().input_type("RETRIEVAL_QUERY");
        /// client.embed_with(&["Why is the sky blue?"], &queries)?; // a GeminiClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["requests"][0]["taskType"], "RETRIEVAL_QUERY");
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        input_type(kind: impl Into<String>) => input_type = Some(kind.into());
        /// Sets [`dimensions`](EmbedOptions::dimensions).
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::json(r#"{"data": [{"index": 0, "embedding": [0.6, 0.8]}]}"#));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("text-embedding-3-small", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::EmbedOptions;
        ///
        /// client.embed_with(&["The sky is blue."], &EmbedOptions::new().dimensions(256))?; // an OpenAIClient
        /// # let sent: serde_json::Value = serde_json::from_slice(&server.requests()[0].body)?;
        /// assert_eq!(sent["dimensions"], 256);
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        dimensions(n: u32) => dimensions = Some(n);
        /// Sets [`batch_size`](EmbedOptions::batch_size) (at least 1).
        ///
        /// # Examples
        ///
        /// ```
        /// # let server = support::TestServer::start(|_| support::Reply::json(r#"{"data": [{"index": 0, "embedding": [0.6, 0.8]}]}"#));
        /// # let client = ureq_futures::llm::OpenAIClient::builder("text-embedding-3-small", None).env(|_| None).base_url(server.url()).build();
        /// use ureq_futures::llm::EmbedOptions;
        ///
        /// let one_each = EmbedOptions::new().batch_size(0); // at least 1
        /// let vectors = client.embed_with(&["sky", "grass", "sea"], &one_each)?; // an OpenAIClient
        /// assert_eq!((vectors.len(), server.request_count()), (3, 3));
        /// # Ok::<(), ureq_futures::Error>(())
        /// ```
        batch_size(n: usize) => batch_size = Some(n.max(1));
        /// Sets [`in_flight`](EmbedOptions::in_flight) (at least 1).
        ///
        /// # Examples
        ///
        /// ```
        /// use ureq_futures::llm::EmbedOptions;
        ///
        /// // One request at a time, to stay under a low rate limit (0 is taken as 1).
        /// assert_eq!(EmbedOptions::new().in_flight(0), EmbedOptions::new().in_flight(1));
        /// assert_eq!(EmbedOptions::new().in_flight, None); // 4 at once
        /// ```
        in_flight(n: usize) => in_flight = Some(n.max(1));
    }
}

impl<P: EmbedProtocol> Client<P> {
    /// The embedding of each text, in the texts' order, with the default [`EmbedOptions`]. The
    /// client's model is the embedding model (`text-embedding-3-small`, `gemini-embedding-001`,
    /// `embed-v4.0`, `mistral-embed`; [`EmbedOptions::model`] names another, so that a chat's
    /// client embeds too); its temperature is not used.
    ///
    /// Large inputs are split into the provider's batch size (and token cap) and the requests run
    /// at once on the client's session, at most 4 at a time.
    ///
    /// # Errors
    ///
    /// The first failed request's error ([`Error::Status`], transport, timeout, a missing key);
    /// the requests still queued are then cancelled. An answer that is not the API's JSON, or
    /// whose vectors do not match the texts (too few or too many, of different lengths, in one
    /// answer or across the call's requests, with a value past `f32`'s range), is
    /// [`Error::Protocol`] naming the answer's URL and the fault: `the embeddings answer from
    /// https://api.openai.com/v1/embeddings has 1 vector for 2 texts`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|req| {
    /// #     // One vector per input text: `[its length]`.
    /// #     let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    /// #     let data: Vec<_> = sent["input"].as_array().unwrap().iter().enumerate()
    /// #         .map(|(i, t)| serde_json::json!({"index": i, "embedding": [t.as_str().unwrap().len()]}))
    /// #         .collect();
    /// #     support::Reply::json(serde_json::json!({ "data": data }).to_string())
    /// # });
    /// use ureq_futures::llm::OpenAIClient;
    ///
    /// let client = OpenAIClient::builder("text-embedding-3-small", None)
    ///     .env(|_| None)
    ///     .api_key("sk-test")
    ///     .base_url(server.url())
    ///     .build();
    /// // The local server answers each text with `[its length]`.
    /// let vectors = client.embed(&["sky", "ocean"])?;
    /// assert_eq!(vectors, [vec![3.0], vec![5.0]]);
    /// # assert_eq!(server.requests().len(), 1);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, Error> {
        self.embed_with(texts, &EmbedOptions::default())
    }

    /// [`embed`](Client::embed) with other [`EmbedOptions`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|req| {
    /// #     // One vector per input text: `[its length]`.
    /// #     let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    /// #     let data: Vec<_> = sent["input"].as_array().unwrap().iter().enumerate()
    /// #         .map(|(i, t)| serde_json::json!({"index": i, "embedding": [t.as_str().unwrap().len()]}))
    /// #         .collect();
    /// #     support::Reply::json(serde_json::json!({ "data": data }).to_string())
    /// # });
    /// use ureq_futures::llm::{EmbedOptions, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("text-embedding-3-small", None)
    ///     .env(|_| None)
    ///     .api_key("sk-test")
    ///     .base_url(server.url())
    ///     .build();
    /// // Two texts per request, two requests at a time: the vectors still come back in order.
    /// let options = EmbedOptions::new().batch_size(2).in_flight(2);
    /// let vectors = client.embed_with(&["a", "bb", "ccc", "dddd", "eeeee"], &options)?;
    /// assert_eq!(vectors, [[1.0], [2.0], [3.0], [4.0], [5.0]]);
    /// assert_eq!(server.requests().len(), 3);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn embed_with<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Vec<Vec<f32>>, Error> {
        Ok(self.embeddings(texts, options)?.vectors)
    }

    /// [`embed_with`](Client::embed_with), with the tokens the provider counted: what the
    /// texts cost. The requests, their order and their errors are `embed_with`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|req| {
    /// #     // One vector per input text, `[its length]`, and a token per byte.
    /// #     let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    /// #     let texts = sent["input"].as_array().unwrap();
    /// #     let data: Vec<_> = texts.iter().enumerate()
    /// #         .map(|(i, t)| serde_json::json!({"index": i, "embedding": [t.as_str().unwrap().len()]}))
    /// #         .collect();
    /// #     let tokens: usize = texts.iter().map(|t| t.as_str().unwrap().len()).sum();
    /// #     let usage = serde_json::json!({"prompt_tokens": tokens, "total_tokens": tokens});
    /// #     support::Reply::json(serde_json::json!({ "data": data, "usage": usage }).to_string())
    /// # });
    /// use ureq_futures::llm::{EmbedOptions, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("text-embedding-3-small", None)
    ///     .env(|_| None)
    ///     .api_key("sk-test")
    ///     .base_url(server.url())
    ///     .build();
    /// // Two requests, whose counts add up.
    /// let options = EmbedOptions::new().batch_size(2);
    /// let embeddings = client.embeddings(&["sky", "ocean", "tide"], &options)?;
    /// assert_eq!(embeddings.vectors, [[3.0], [5.0], [4.0]]);
    /// let usage = embeddings.usage.expect("the server counted tokens");
    /// assert_eq!((usage.input_tokens, usage.total_tokens), (Some(12), Some(12)));
    /// // Each request's own object, in the texts' order.
    /// assert_eq!(usage.raw[0]["prompt_tokens"], 8);
    /// assert_eq!(usage.raw[1]["prompt_tokens"], 4);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn embeddings<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
    ) -> Result<Embeddings, Error> {
        if texts.is_empty() {
            return Ok(Embeddings::default());
        }
        // Each request's vectors moved into the whole, as they come: gathered first and then
        // joined (`concat` clones), a corpus's vectors took twice their size at the end.
        let mut vectors = Vec::with_capacity(texts.len());
        let mut usage = Vec::new();
        for chunk in self.embed_requests(texts, options, true) {
            let answer = chunk.result?;
            vectors.extend(answer.vectors);
            usage.push(answer.usage);
        }
        Ok(Embeddings {
            vectors,
            usage: total_usage(usage),
        })
    }

    /// [`embeddings`](Client::embeddings) request by request: yields each request's texts and
    /// their vectors, or its error, in the texts' order as the answers come, and goes on past
    /// a failed request. For inputs too large to lose to one failure (a corpus of a million
    /// texts is some 500 requests to OpenAI): store each chunk as it comes, show how far the
    /// work is, and send the failed ranges again. The requests, their batch size and their
    /// retries are `embeddings`'; at most [`in_flight`](EmbedOptions::in_flight) of them run
    /// at once and the answers after a slow one wait for it, so memory holds that many
    /// requests' vectors. Dropping the iterator cancels the requests not yet yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = support::TestServer::start(|req| {
    /// #     // One vector per input text, `[its length]`; a request holding "bad" is refused.
    /// #     let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    /// #     let input = sent["input"].as_array().unwrap();
    /// #     if input.iter().any(|t| t == "bad") {
    /// #         return support::Reply::status(400, r#"{"error":{"message":"input refused"}}"#);
    /// #     }
    /// #     let data: Vec<_> = input.iter().enumerate()
    /// #         .map(|(i, t)| serde_json::json!({"index": i, "embedding": [t.as_str().unwrap().len()]}))
    /// #         .collect();
    /// #     support::Reply::json(serde_json::json!({ "data": data }).to_string())
    /// # });
    /// use ureq_futures::llm::{EmbedOptions, OpenAIClient};
    ///
    /// let client = OpenAIClient::builder("text-embedding-3-small", None)
    ///     .env(|_| None)
    ///     .api_key("sk-test")
    ///     .base_url(server.url())
    ///     .build();
    /// let texts = ["sky", "ocean", "bad", "tide", "moon"];
    /// let (mut vectors, mut failed) = (vec![None; texts.len()], Vec::new());
    /// for chunk in client.embed_chunks(&texts, &EmbedOptions::new().batch_size(2)) {
    ///     eprintln!("{} of {} texts", chunk.texts.end, texts.len());
    ///     match chunk.result {
    ///         Ok(embeddings) => {
    ///             for (i, v) in chunk.texts.zip(embeddings.vectors) {
    ///                 vectors[i] = Some(v);
    ///             }
    ///         }
    ///         Err(e) => failed.push((chunk.texts, e)),
    ///     }
    /// }
    /// assert_eq!(vectors[4], Some(vec![4.0]));
    /// // The request of texts 2 and 3 failed; the others' vectors are kept.
    /// assert_eq!(failed.len(), 1);
    /// assert_eq!(failed[0].0, 2..4);
    /// assert!(failed[0].1.to_string().contains("input refused"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn embed_chunks<'a, S: AsRef<str>>(
        &'a self,
        texts: &'a [S],
        options: &'a EmbedOptions,
    ) -> impl Iterator<Item = EmbedChunk> + 'a {
        self.embed_requests(texts, options, false)
    }

    /// The requests of `texts` on the session, at most `options.in_flight` at once, each one's
    /// texts and answer in the texts' order; with `stop_on_error`, the first failure cancels
    /// the rest and is the last item.
    fn embed_requests<'a, S: AsRef<str>>(
        &'a self,
        texts: &'a [S],
        options: &'a EmbedOptions,
        stop_on_error: bool,
    ) -> impl Iterator<Item = EmbedChunk> + 'a {
        let size = options
            .batch_size
            .unwrap_or(P::BATCH_SIZE)
            .clamp(1, P::BATCH_SIZE);
        let model = options.model.as_deref().unwrap_or(self.model_name());
        let url = url(P::FORMAT, self.base_url(), model);
        let shown: std::sync::Arc<str> = crate::redact_url(&url).into();
        let answered_at = std::sync::Arc::clone(&shown);
        let batch = self
            .session()
            .batch(
                requests(texts, size, P::MAX_TOKENS),
                move |_, (_, chunk): &(usize, &[S])| {
                    let chunk: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
                    let body = body(P::FORMAT, model, &chunk, options);
                    let expected = chunk.len();
                    // The answer grows with the texts: a request of 2,048 holds hundreds of MB.
                    let answer = u64::try_from(expected)
                        .map_or(u64::MAX, |n| n.saturating_mul(MAX_VECTOR_JSON));
                    let shown = std::sync::Arc::clone(&shown);
                    match self.post(url.clone(), &body) {
                        // An error answer is read as far as its message: not whole, where a
                        // huge one would hide its status behind `BodyTooLarge`.
                        Ok(request) => request.buffered(
                            crate::run::Answer {
                                at_least: answer,
                                refuse_errors: true,
                                hook_frees_place: true,
                            },
                            move |resp| {
                                parse(P::FORMAT, resp.bytes(), expected)
                                    .map_err(|why| not_an_answer(&resp, &shown, &why))
                            },
                        ),
                        Err(e) => self.session().submit(move |_| Err(e)),
                    }
                },
            )
            .in_flight(options.in_flight.unwrap_or(4))
            .ordered();
        let batch = if stop_on_error {
            batch.stop_on_error()
        } else {
            batch
        };
        // A failure says which texts its request carried: the one text of 50,000 that the
        // model refuses is then found in its request's range.
        let total = texts.len();
        // One answer's vectors are all of one length (`parse`); the answers of one call must be
        // too, or the vectors of one corpus would not compare.
        let mut width = None;
        batch.map(move |((first, chunk), answer)| {
            let texts = first..first + chunk.len();
            let answer = answer.and_then(|(vectors, usage)| {
                let this = vectors.first().map_or(0, Vec::len);
                match *width.get_or_insert(this) {
                    before if before != this => Err(Error::Protocol(format!(
                        "the embeddings answer from {answered_at} has vectors of {this} values, \
                         where the call's first answer had {before}"
                    ))),
                    _ => Ok((vectors, usage)),
                }
            });
            let result = match answer {
                Ok((vectors, usage)) => Ok(Embeddings { vectors, usage }),
                Err(e) => {
                    let note = match texts.len() {
                        1 => format!("the request of text {first}, of {total}"),
                        _ => format!(
                            "the request of texts {first} to {}, of {total}",
                            texts.end - 1
                        ),
                    };
                    Err(self.hiding_key(crate::phase::and_note(e, &note)))
                }
            };
            EmbedChunk { texts, result }
        })
    }
}

/// One request of [`Client::embed_chunks`]: the texts it carried and their vectors, or its
/// error.
///
/// # Examples
///
/// ```
/// # let server = support::TestServer::start(|req| {
/// #     let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
/// #     let data: Vec<_> = sent["input"].as_array().unwrap().iter().enumerate()
/// #         .map(|(i, t)| serde_json::json!({"index": i, "embedding": [t.as_str().unwrap().len()]}))
/// #         .collect();
/// #     support::Reply::json(serde_json::json!({ "data": data }).to_string())
/// # });
/// use ureq_futures::llm::{EmbedOptions, OpenAIClient};
///
/// let client = OpenAIClient::builder("m", None).env(|_| None).api_key("k").base_url(server.url()).build();
/// let chunks: Vec<_> = client.embed_chunks(&["a", "bb", "ccc"], &EmbedOptions::new().batch_size(2)).collect();
/// assert_eq!((chunks[0].texts.clone(), chunks[1].texts.clone()), (0..2, 2..3));
/// assert_eq!(chunks[1].result.as_ref().unwrap().vectors, [[3.0]]);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct EmbedChunk {
    /// The texts the request carried: their indices in the texts given.
    pub texts: std::ops::Range<usize>,
    /// Their vectors, one a text in order, and the tokens this request counted (its
    /// [`raw`](Usage::raw) is the request's own object); or the request's error after its
    /// attempts, which says which texts it carried.
    pub result: Result<Embeddings, Error>,
}

/// What [`Client::embeddings`] returns: the vectors, and the tokens the provider counted.
///
/// # Examples
///
/// ```
/// use ureq_futures::llm::Embeddings;
///
/// let none = Embeddings::default();
/// assert!(none.vectors.is_empty() && none.usage.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Embeddings {
    /// One vector a text, in the texts' order.
    pub vectors: Vec<Vec<f32>>,
    /// The tokens of the texts, summed over the requests, when every answer counted them:
    /// OpenAI's and Mistral's `usage` (`prompt_tokens`, `total_tokens`), Cohere's `meta`
    /// (`billed_units.input_tokens`); Gemini's answers count none. The
    /// [`input_tokens`](Usage::input_tokens) and [`total_tokens`](Usage::total_tokens) are the
    /// sums (each when every answer gave it; Cohere's total is its input), there are no
    /// `output_tokens`, and [`raw`](Usage::raw) is the array of each request's own object, in
    /// the texts' order.
    pub usage: Option<Usage>,
}

/// The usage of a call, from that of each of its requests (see [`Embeddings::usage`]).
fn total_usage(each: Vec<Option<Usage>>) -> Option<Usage> {
    let each: Vec<Usage> = each.into_iter().collect::<Option<_>>()?;
    let sum = |count: fn(&Usage) -> Option<u64>| {
        each.iter()
            .map(count)
            .try_fold(0u64, |sum, n| sum.checked_add(n?))
    };
    Some(Usage {
        input_tokens: sum(|u| u.input_tokens),
        output_tokens: None,
        total_tokens: sum(|u| u.total_tokens),
        raw: Value::Array(each.into_iter().map(|u| u.raw).collect()),
    })
}

/// `texts` cut into requests of at most `size` texts and `max_tokens` tokens; a text over the cap
/// goes alone. A text counts as its bytes plus two: no token of the providers' tokenizers
/// (byte-level BPE, SentencePiece with byte fallback) is shorter than a byte, and two more cover
/// start and end tokens.
fn requests<S: AsRef<str>>(
    texts: &[S],
    size: usize,
    max_tokens: usize,
) -> impl Iterator<Item = (usize, &[S])> {
    let mut rest = texts;
    let mut start = 0;
    std::iter::from_fn(move || {
        let (mut n, mut tokens) = (0, 0usize);
        while let Some(text) = rest.get(n).filter(|_| n < size) {
            tokens = tokens.saturating_add(text.as_ref().len() + 2);
            if n > 0 && tokens > max_tokens {
                break;
            }
            n += 1;
        }
        let (request, tail) = rest.split_at(n);
        rest = tail;
        start += n;
        (n > 0).then_some((start - n, request))
    })
}

/// The embeddings endpoint under `base` (no trailing slash).
fn url(format: Format, base: &str, model: &str) -> String {
    match format {
        Format::OpenAI | Format::Mistral => crate::url::join_path(base, "/embeddings"),
        Format::Gemini => model_url(base, model, "batchEmbedContents"),
        Format::Cohere => crate::url::join_versioned(base, "/v2/embed"),
    }
}

/// The request body for `texts`.
fn body(format: Format, model: &str, texts: &[&str], options: &EmbedOptions) -> Value {
    match format {
        Format::OpenAI | Format::Mistral => {
            let mut body = json!({ "model": model, "input": texts, "encoding_format": "float" });
            let length = match format {
                Format::Mistral => "output_dimension",
                _ => "dimensions",
            };
            put(&mut body, length, options.dimensions);
            body
        }
        Format::Gemini => {
            let name = model_path(model);
            let requests: Vec<Value> = texts
                .iter()
                .map(|text| {
                    let mut r = json!({
                        "model": name,
                        "content": { "role": "user", "parts": [{ "text": text }] },
                    });
                    put(&mut r, "taskType", options.input_type.as_ref());
                    put(&mut r, "outputDimensionality", options.dimensions);
                    r
                })
                .collect();
            json!({ "requests": requests })
        }
        Format::Cohere => {
            let mut body = json!({
                "model": model,
                "texts": texts,
                "input_type": options.input_type.as_deref().unwrap_or("search_document"),
                "embedding_types": ["float"],
            });
            put(&mut body, "output_dimension", options.dimensions);
            body
        }
    }
}

/// The error of a successful answer from `url` that holds no vectors (`why`, the end of a
/// sentence about it): the server's own error when the body is a JSON error document (a local
/// server's `model 'x' not found`), what it is when it is no JSON and not typed as JSON (a
/// web page at a wrong base URL), else `why`.
fn not_an_answer(resp: &crate::Response, url: &str, why: &str) -> Error {
    let content_type = resp.header("content-type");
    if let Some(e) = Error::from_error_document(resp.bytes(), content_type) {
        return e;
    }
    let json = serde_json::from_slice::<serde::de::IgnoredAny>(resp.bytes()).is_ok();
    if json || crate::run::is_json(resp.headers()) {
        return Error::Protocol(format!("the embeddings answer from {url} {why}"));
    }
    let what = content_type.map_or("a body without a content type".into(), |ct| ct.to_string());
    Error::Protocol(format!(
        "the embeddings answer from {url} is {what}, not the JSON the API answers with: check \
         that the base URL is the API's"
    ))
}

/// The vectors of an answer to a request of `expected` texts, in the texts' order; else what
/// is wrong with it, as the end of a sentence about the answer.
fn parse(
    format: Format,
    body: &[u8],
    expected: usize,
) -> Result<(Vec<Vec<f32>>, Option<Usage>), String> {
    let json = |e: serde_json::Error| format!("is not the JSON the API answers with: {e}");
    #[derive(Deserialize)]
    struct Listed<T> {
        embeddings: T,
        /// Cohere's: its `billed_units` count the tokens.
        #[serde(default)]
        meta: Value,
    }
    #[derive(Deserialize)]
    struct Values {
        values: Vec<f32>,
    }
    #[derive(Deserialize)]
    struct Float {
        float: Vec<Vec<f32>>,
    }
    let (vectors, usage) = match format {
        Format::OpenAI | Format::Mistral => {
            #[derive(Deserialize)]
            struct Item {
                /// Left out by some compatible servers: then the items' order is the texts'.
                index: Option<usize>,
                embedding: Vec<f32>,
            }
            #[derive(Deserialize)]
            struct Body {
                data: Vec<Item>,
                #[serde(default)]
                usage: Value,
            }
            let body = serde_json::from_slice::<Body>(body).map_err(json)?;
            let mut items = body.data;
            if items.iter().all(|i| i.index.is_none()) {
                items
                    .iter_mut()
                    .enumerate()
                    .for_each(|(n, i)| i.index = Some(n));
            }
            items.sort_by_key(|i| i.index);
            if items.iter().enumerate().any(|(n, i)| i.index != Some(n)) {
                return Err(
                    "has `data` indexes that are not 0, 1, 2... (or some items without \
                            one)"
                        .into(),
                );
            }
            let vectors = items.into_iter().map(|i| i.embedding).collect::<Vec<_>>();
            (vectors, Usage::from_openai(&body.usage))
        }
        Format::Gemini => {
            let listed = serde_json::from_slice::<Listed<Vec<Values>>>(body).map_err(json)?;
            let vectors = listed.embeddings.into_iter().map(|i| i.values).collect();
            (vectors, None)
        }
        Format::Cohere => {
            let listed = serde_json::from_slice::<Listed<Float>>(body).map_err(json)?;
            // Embeddings have no output: their total is their input.
            let usage = usage_from_meta(listed.meta).map(|u| Usage {
                total_tokens: u.total_tokens.or(u.input_tokens),
                ..u
            });
            (listed.embeddings.float, usage)
        }
    };
    if vectors.len() != expected {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        return Err(format!(
            "has {} for {}",
            plural(vectors.len(), "vector"),
            plural(expected, "text")
        ));
    }
    let width = vectors.first().map_or(0, Vec::len);
    if let Some(n) = vectors.iter().position(|v| v.len() != width) {
        return Err(format!(
            "has vectors of {width} and of {} values (vector {n})",
            vectors[n].len()
        ));
    }
    // A number past f32's range (`1e39`) reads as an infinity.
    if let Some(n) = vectors
        .iter()
        .position(|v| v.iter().any(|x| !x.is_finite()))
    {
        return Err(format!("has a value past the range of f32 in vector {n}"));
    }
    Ok((vectors, usage))
}
