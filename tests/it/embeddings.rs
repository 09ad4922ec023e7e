//! `embed` against local servers speaking each provider's embeddings API: large inputs split
//! into the provider's batch size, vectors back in the texts' order.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use support::{Reply, TestServer};
use ureq_futures::llm::{
    CohereClient, EmbedOptions, Embeddings, GeminiClient, MistralClient, OpenAIClient,
};
use ureq_futures::{Error, FuturesSession, RetryPolicy};

/// The number in a text `"t{n}"`, as the server's one-number embedding of it.
fn number(text: &Value) -> f32 {
    text.as_str()
        .and_then(|t| t.strip_prefix('t'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1.0)
}

/// The OpenAI-style answer to a request of `input`: each text's number as its vector.
fn numbers_answer(input: &[Value]) -> Reply {
    let data: Vec<Value> = (input.iter().enumerate())
        .map(|(i, t)| json!({"index": i, "embedding": [number(t)]}))
        .collect();
    Reply::json(json!({"data": data}).to_string())
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i}")).collect()
}

fn assert_in_order(vectors: &[Vec<f32>], n: usize) {
    assert_eq!(vectors.len(), n);
    for (i, v) in vectors.iter().enumerate() {
        assert_eq!(v, &[i as f32], "vector {i}");
    }
}

/// Records each request's path, key header and number of texts.
type Log = Arc<Mutex<Vec<(String, Option<String>, usize)>>>;

/// The answer OpenAI's API gives to `n` texts with text-embedding-3-small: 1,536 numbers a
/// text, pretty-printed one to a line.
fn full_size_answer(n: usize) -> String {
    let vector = vec![-0.012_345_679_f64; 1536];
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": vector}))
        .collect();
    serde_json::to_string_pretty(&json!({"object": "list", "data": data})).unwrap()
}

#[test]
fn an_answer_of_full_size_vectors_is_read_past_the_default_body_limit() {
    // 400 texts of 1,536 numbers: some 13 MB of JSON, within one request of 2,048 texts.
    let server = TestServer::start(|req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        Reply::json(full_size_answer(body["input"].as_array().unwrap().len()))
    });
    let client = OpenAIClient::builder("text-embedding-3-small", None)
        .base_url(server.url())
        .api_key("sk-test")
        .build();
    let vectors = client.embed(&texts(400)).unwrap();
    assert_eq!(vectors.len(), 400);
    assert!(vectors
        .iter()
        .all(|v| v.len() == 1536 && v[0] == -0.012_345_679));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn openai_splits_into_2048s_and_keeps_the_order() {
    let log: Log = Default::default();
    let l = log.clone();
    let server = TestServer::start(move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let input = body["input"].as_array().unwrap();
        l.lock().unwrap().push((
            req.path.clone(),
            req.header("authorization").map(str::to_string),
            input.len(),
        ));
        assert_eq!(body["encoding_format"], "float");
        // Reversed, as the API may: the client orders them by index.
        let data: Vec<Value> = input
            .iter()
            .enumerate()
            .rev()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": [number(t)]}))
            .collect();
        Reply::json(json!({"object": "list", "data": data}).to_string())
    });
    let client = OpenAIClient::builder("text-embedding-3-small", None)
        .base_url(server.url())
        .api_key("sk-test")
        .build();
    let vectors = client.embed(&texts(5000)).unwrap();
    assert_in_order(&vectors, 5000);
    let mut log = log.lock().unwrap().clone();
    log.sort_by_key(|(_, _, n)| std::cmp::Reverse(*n));
    let sizes: Vec<usize> = log.iter().map(|(_, _, n)| *n).collect();
    assert_eq!(sizes, [2048, 2048, 904]);
    assert!(log
        .iter()
        .all(|(p, k, _)| p == "/embeddings" && k.as_deref() == Some("Bearer sk-test")));
}

#[test]
fn mistral_sends_at_most_128_texts_a_request() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s = sizes.clone();
    let server = TestServer::start(move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let input = body["input"].as_array().unwrap();
        s.lock().unwrap().push(input.len());
        numbers_answer(input)
    });
    let client = MistralClient::builder("mistral-embed", None)
        .base_url(server.url())
        .api_key("k")
        .build();
    assert_in_order(&client.embed(&texts(300)).unwrap(), 300);
    let mut sizes = sizes.lock().unwrap().clone();
    sizes.sort_unstable();
    assert_eq!(sizes, [44, 128, 128]);
}

/// An OpenAI-style embeddings server that counts a text's words as its tokens and, as OpenAI's
/// and Mistral's APIs do, refuses a request of more than `max_tokens` in all. Each text is
/// `t{n}` and more words; its vector is `[n]`.
fn token_capped_server(max_tokens: usize) -> TestServer {
    TestServer::start(move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let input = body["input"].as_array().unwrap();
        let words = |t: &Value| t.as_str().unwrap_or("").split_whitespace().count();
        let tokens: usize = input.iter().map(words).sum();
        if tokens > max_tokens {
            let error = json!({"error": {"message": format!("Requested {tokens} tokens, max {max_tokens} tokens per request")}});
            return Reply::status(400, error.to_string());
        }
        let data: Vec<Value> = input
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let first = t.as_str().unwrap_or("").split(' ').next().unwrap_or("");
                json!({"index": i, "embedding": [number(&json!(first))]})
            })
            .collect();
        Reply::json(json!({"data": data}).to_string())
    })
}

#[test]
fn requests_stay_under_the_providers_token_cap() {
    // Texts of 300 words, as a document is cut for retrieval: 2,048 of them are 614,400 tokens,
    // over OpenAI's 300,000 a request; 128 are 38,400, over Mistral's 16,384.
    let long = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("t{i}{}", " word".repeat(299)))
            .collect()
    };
    let server = token_capped_server(300_000);
    let openai = OpenAIClient::builder("text-embedding-3-small", None)
        .base_url(server.url())
        .api_key("k")
        .build();
    assert_in_order(&openai.embed(&long(2048)).unwrap(), 2048);
    let server = token_capped_server(16_384);
    let mistral = MistralClient::builder("mistral-embed", None)
        .base_url(server.url())
        .api_key("k")
        .build();
    assert_in_order(&mistral.embed(&long(200)).unwrap(), 200);
    // Short texts still go as many as the provider takes.
    assert_in_order(&mistral.embed(&texts(256)).unwrap(), 256);
    let mut sizes: Vec<usize> = server.requests()[server.request_count() - 2..]
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["input"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [128, 128]);
}

#[test]
fn gemini_uses_batch_embed_contents_100_at_a_time() {
    let log: Log = Default::default();
    let l = log.clone();
    let server = TestServer::start(move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let requests = body["requests"].as_array().unwrap();
        l.lock().unwrap().push((
            req.path.clone(),
            req.header("x-goog-api-key").map(str::to_string),
            requests.len(),
        ));
        let embeddings: Vec<Value> = requests
            .iter()
            .map(|r| {
                assert_eq!(r["model"], "models/gemini-embedding-001");
                assert_eq!(r["taskType"], "RETRIEVAL_DOCUMENT");
                json!({"values": [number(&r["content"]["parts"][0]["text"])]})
            })
            .collect();
        Reply::json(json!({"embeddings": embeddings}).to_string())
    });
    let client = GeminiClient::builder("gemini-embedding-001", None)
        .base_url(server.url())
        .api_key("g-key")
        .build();
    let options = EmbedOptions::new().input_type("RETRIEVAL_DOCUMENT");
    assert_in_order(&client.embed_with(&texts(250), &options).unwrap(), 250);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    for (path, key, n) in log.iter() {
        assert_eq!(
            path,
            "/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        assert_eq!(key.as_deref(), Some("g-key"));
        assert!(*n == 100 || *n == 50, "{n}");
    }
}

#[test]
fn cohere_uses_v2_embed_96_at_a_time() {
    let log: Log = Default::default();
    let l = log.clone();
    let server = TestServer::start(move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let texts = body["texts"].as_array().unwrap();
        l.lock()
            .unwrap()
            .push((req.path.clone(), None, texts.len()));
        assert_eq!(body["input_type"], "search_document");
        assert_eq!(body["embedding_types"], json!(["float"]));
        let floats: Vec<Value> = texts.iter().map(|t| json!([number(t)])).collect();
        Reply::json(json!({"id": "x", "embeddings": {"float": floats}, "texts": texts}).to_string())
    });
    let client = CohereClient::builder("embed-v4.0", None)
        .base_url(server.url())
        .api_key("c-key")
        .build();
    assert_in_order(&client.embed(&texts(200)).unwrap(), 200);
    let log = log.lock().unwrap();
    let mut sizes: Vec<usize> = log.iter().map(|(_, _, n)| *n).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [8, 96, 96]);
    assert!(log.iter().all(|(p, _, _)| p == "/v2/embed"));
}

#[test]
fn a_failed_request_fails_the_call_with_its_status() {
    let server = TestServer::start(|req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        if body["input"][0] == "t2" {
            Reply::status(
                400,
                r#"{"error":{"message":"input too long","type":"invalid_request_error"}}"#,
            )
        } else {
            let data: Vec<Value> = body["input"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"index": i, "embedding": [number(t)]}))
                .collect();
            Reply::json(json!({"data": data}).to_string())
        }
    });
    let client = OpenAIClient::builder("m", None)
        .base_url(server.url())
        .api_key("k")
        .build();
    let err = client
        .embed_with(&texts(4), &EmbedOptions::new().batch_size(2))
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("input too long"), "{err}");
    // It says which texts the failed request carried.
    assert!(
        err.to_string()
            .ends_with("(the request of texts 2 to 3, of 4)"),
        "{err}"
    );
    assert!(client.embed(&Vec::<String>::new()).unwrap().is_empty());
}

#[test]
fn an_error_answer_larger_than_the_body_limit_keeps_its_status_and_message() {
    // A 1 MB error body, over the session's limit of 1 KB (and the 128 KiB an answer of one
    // vector may take): what counts is the status and the start of the body.
    let pad = "x".repeat(1 << 20);
    let server = TestServer::start(move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        if body["input"][0] == "t0" {
            let json = format!(r#"{{"error":{{"message":"input too long","pad":"{pad}"}}}}"#);
            Reply::status(400, json).content_type("application/json")
        } else {
            Reply::status(502, format!("<html><body>Bad Gateway{pad}</body></html>"))
                .content_type("text/html")
        }
    });
    let client = OpenAIClient::builder("m", None)
        .base_url(server.url())
        .api_key("k")
        .retry(RetryPolicy::none())
        .session(FuturesSession::builder().max_body_size(1024).build())
        .build();
    let err = client.embed(&["t0"]).unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("400: input too long"), "{err}");
    // One text is named as one.
    let note = "(the request of text 0, of 1)";
    assert!(err.to_string().ends_with(note), "{err}");
    let err = client.embed(&["t1"]).unwrap_err();
    assert_eq!(err.status(), Some(502), "{err}");
    // A body that does not fit is still no answer: the limit holds for a 200.
    let ok = TestServer::start(move |_| {
        Reply::json(format!("{{\"data\":[],\"x\":\"{}\"}}", "y".repeat(200_000)))
    });
    let client = OpenAIClient::builder("m", None)
        .base_url(ok.url())
        .api_key("k")
        .session(FuturesSession::builder().max_body_size(1024).build())
        .build();
    let err = client.embed(&["t0"]).unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err}");
}

/// `provider`'s client (key `k`, base `base`) embedding `texts` with `options`.
fn embed(
    provider: &str,
    base: &str,
    texts: &[&str],
    options: &EmbedOptions,
) -> Result<Vec<Vec<f32>>, Error> {
    embeddings(provider, base, texts, options).map(|e| e.vectors)
}

/// [`embed`], with the usage.
fn embeddings(
    provider: &str,
    base: &str,
    texts: &[&str],
    options: &EmbedOptions,
) -> Result<Embeddings, Error> {
    match provider {
        "openai" => OpenAIClient::builder("m", None)
            .base_url(base)
            .api_key("k")
            .build()
            .embeddings(texts, options),
        "mistral" => MistralClient::builder("m", None)
            .base_url(base)
            .api_key("k")
            .build()
            .embeddings(texts, options),
        "gemini" => GeminiClient::builder("m", None)
            .base_url(base)
            .api_key("k")
            .build()
            .embeddings(texts, options),
        _ => CohereClient::builder("m", None)
            .base_url(base)
            .api_key("k")
            .build()
            .embeddings(texts, options),
    }
}

#[test]
fn the_tokens_each_provider_counted_are_summed_over_the_requests() {
    // One text a request, two requests; each answer counts 3 tokens, as each API writes it.
    let options = EmbedOptions::new().batch_size(1);
    let openai =
        r#"{"data":[{"index":0,"embedding":[1.0]}],"usage":{"prompt_tokens":3,"total_tokens":3}}"#;
    let cases = [
        ("openai", openai, Some((Some(6), Some(6)))),
        (
            "mistral",
            r#"{"data":[{"index":0,"embedding":[1.0]}],"usage":{"prompt_tokens":3,"total_tokens":3,"completion_tokens":0}}"#,
            Some((Some(6), Some(6))),
        ),
        // Cohere's SDK types the count as a float.
        (
            "cohere",
            r#"{"id":"x","embeddings":{"float":[[1.0]]},"texts":["a"],"meta":{"api_version":{"version":"2"},"billed_units":{"input_tokens":3.0}}}"#,
            Some((Some(6), Some(6))),
        ),
        ("gemini", r#"{"embeddings":[{"values":[1.0]}]}"#, None),
        // A compatible server that counts nothing.
        (
            "openai",
            r#"{"data":[{"index":0,"embedding":[1.0]}]}"#,
            None,
        ),
    ];
    for (provider, answer, expected) in cases {
        let server = TestServer::start(move |_| Reply::json(answer));
        let got = embeddings(provider, &server.url(), &["a", "b"], &options).unwrap();
        assert_eq!(got.vectors, [[1.0], [1.0]], "{provider}");
        let counts = got.usage.as_ref().map(|u| (u.input_tokens, u.total_tokens));
        assert_eq!(counts, expected, "{provider}: {:?}", got.usage);
        if let Some(usage) = got.usage {
            assert_eq!(usage.output_tokens, None, "{provider}");
            // Each request's own object, in order.
            let raw = usage
                .raw
                .as_array()
                .expect("an array of the requests' objects");
            assert_eq!(raw.len(), 2, "{provider}");
        }
    }
    // The requests' own objects, in the texts' order: a token a byte here.
    let server = TestServer::start(|req| {
        let sent: Value = serde_json::from_slice(&req.body).unwrap();
        let tokens = sent["input"][0].as_str().unwrap().len();
        let usage = json!({"prompt_tokens": tokens, "total_tokens": tokens});
        let data = json!([{"index": 0, "embedding": [1.0]}]);
        Reply::json(json!({"data": data, "usage": usage}).to_string())
    });
    let texts = ["a", "bb", "ccc", "dddd"];
    let got = embeddings("openai", &server.url(), &texts, &options).unwrap();
    let usage = got.usage.unwrap();
    let each = usage.raw.as_array().unwrap().iter();
    let counts: Vec<&Value> = each.map(|u| &u["prompt_tokens"]).collect();
    assert_eq!(counts, [&json!(1), &json!(2), &json!(3), &json!(4)]);
    assert_eq!(usage.input_tokens, Some(10));
    // One answer counted, the other not: no sum, which would undercount.
    let answered = Arc::new(Mutex::new(0));
    let server = TestServer::start(move |_| {
        let mut n = answered.lock().unwrap();
        *n += 1;
        Reply::json(if *n == 1 {
            openai
        } else {
            r#"{"data":[{"index":0,"embedding":[1.0]}]}"#
        })
    });
    let got = embeddings("openai", &server.url(), &["a", "b"], &options).unwrap();
    assert_eq!((got.vectors.len(), got.usage), (2, None));
}

#[test]
fn dimensions_and_input_types_go_where_each_api_reads_them() {
    let options = EmbedOptions::new().input_type("search_query").dimensions(8);
    let cases = [
        ("openai", r#"{"data":[{"index":0,"embedding":[1.0]}]}"#),
        ("gemini", r#"{"embeddings":[{"values":[1.0]}]}"#),
        ("cohere", r#"{"embeddings":{"float":[[1.0]]}}"#),
    ];
    let mut sent = Vec::new();
    for (provider, answer) in cases {
        let server = TestServer::start(move |_| Reply::json(answer));
        let vectors = embed(provider, &server.url(), &["a"], &options).unwrap();
        assert_eq!(vectors, [[1.0]], "{provider}");
        sent.push(serde_json::from_slice::<Value>(&server.requests()[0].body).unwrap());
    }
    // OpenAI's API has no input type.
    assert_eq!(
        sent[0],
        json!({"model": "m", "input": ["a"], "encoding_format": "float", "dimensions": 8})
    );
    let gemini = &sent[1]["requests"][0];
    assert_eq!(
        (&gemini["taskType"], &gemini["outputDimensionality"]),
        (&json!("search_query"), &json!(8))
    );
    assert_eq!(
        (&sent[2]["input_type"], &sent[2]["output_dimension"]),
        (&json!("search_query"), &json!(8))
    );
}

/// A chat's client (model `m`) embeds with the model the options name, where each API reads it:
/// a chat-and-embeddings script needed a second client for the embedding model.
#[test]
fn the_options_model_replaces_the_clients_in_the_body_and_the_url() {
    let options = EmbedOptions::new().model("emb-1");
    let cases = [
        ("openai", r#"{"data":[{"index":0,"embedding":[1.0]}]}"#),
        ("mistral", r#"{"data":[{"index":0,"embedding":[1.0]}]}"#),
        ("gemini", r#"{"embeddings":[{"values":[1.0]}]}"#),
        ("cohere", r#"{"embeddings":{"float":[[1.0]]}}"#),
    ];
    for (provider, answer) in cases {
        let server = TestServer::start(move |_| Reply::json(answer));
        let vectors = embed(provider, &server.url(), &["a"], &options).unwrap();
        assert_eq!(vectors, [[1.0]], "{provider}");
        let request = &server.requests()[0];
        let sent: Value = serde_json::from_slice(&request.body).unwrap();
        let (path, model) = match provider {
            "gemini" => (
                "/v1beta/models/emb-1:batchEmbedContents",
                &sent["requests"][0]["model"],
            ),
            "cohere" => ("/v2/embed", &sent["model"]),
            _ => ("/embeddings", &sent["model"]),
        };
        assert_eq!(request.path_only(), path, "{provider}");
        let want = if provider == "gemini" {
            "models/emb-1"
        } else {
            "emb-1"
        };
        assert_eq!(model, want, "{provider}");
        // Without it, the client's own.
        let server = TestServer::start(move |_| Reply::json(answer));
        embed(provider, &server.url(), &["a"], &EmbedOptions::new()).unwrap();
        let request = &server.requests()[0];
        assert!(!request.path_only().contains("emb-1") && !request.body_str().contains("emb-1"));
    }
}

#[test]
fn mistral_asks_for_a_length_as_output_dimension() {
    // Mistral's API (mistralai's `EmbeddingRequest`) reads `output_dimension`; it has no
    // `dimensions`, and refuses fields it does not know.
    let server = TestServer::start(|_| Reply::json(r#"{"data":[{"index":0,"embedding":[1.0]}]}"#));
    let client = MistralClient::builder("codestral-embed", None)
        .base_url(server.url())
        .api_key("k")
        .build();
    let options = EmbedOptions::new().dimensions(256);
    assert_eq!(client.embed_with(&["a"], &options).unwrap(), [[1.0]]);
    let sent: Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
    assert_eq!(
        sent,
        json!({"model": "codestral-embed", "input": ["a"], "encoding_format": "float", "output_dimension": 256})
    );
}

#[test]
fn answers_that_do_not_match_the_texts_are_errors() {
    let cases = [
        (
            "gemini",
            r#"{"embeddings":[{"values":[0.1]}]}"#,
            "1 vector for 2 texts",
        ),
        (
            "openai",
            r#"{"data":[{"index":0,"embedding":[1]},{"index":2,"embedding":[1]}]}"#,
            "indexes",
        ),
        (
            "openai",
            r#"{"data":[{"index":0,"embedding":[1]},{"embedding":[1]}]}"#,
            "indexes",
        ),
        ("cohere", "{}", "missing field"),
        ("openai", "not json", "expected"),
        ("openai", r#"{"object":"list"}"#, "missing field `data`"),
        (
            "openai",
            r#"{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[3]}]}"#,
            "vectors of 2 and of 1 values (vector 1)",
        ),
        (
            "gemini",
            r#"{"embeddings":[{"values":[0.1]},{"values":[1e39]}]}"#,
            "past the range of f32 in vector 1",
        ),
    ];
    for (provider, answer, says) in cases {
        let server = TestServer::start(move |_| Reply::json(answer));
        let err = embed(provider, &server.url(), &["a", "b"], &EmbedOptions::new()).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::Protocol(_)) && text.contains(says),
            "{provider} {answer}: {err:?}"
        );
        // It says which answer, and from where.
        let from = format!("the embeddings answer from {}", server.url());
        assert!(text.contains(&from), "{text}");
    }
}

/// A 200 that carries an error document (a local server's model not pulled) is the server's
/// error, with its words; a web page (a base URL that is not the API's) says what it is.
#[test]
fn a_success_that_is_no_answer_says_what_the_server_sent() {
    let error = r#"{"error":{"message":"model 'nomic' not found, try pulling it first","type":"api_error"}}"#;
    let server = TestServer::start(move |_| Reply::json(error));
    let err = embed("openai", &server.url(), &["a"], &EmbedOptions::new()).unwrap_err();
    assert!(
        matches!(&err, Error::Api { kind, message }
            if kind.as_deref() == Some("api_error") && message.starts_with("model 'nomic' not found")),
        "{err:?}"
    );
    let page = TestServer::start(|_| {
        Reply::ok("<html><body>Welcome</body></html>").content_type("text/html")
    });
    let err = embed("openai", &page.url(), &["a"], &EmbedOptions::new()).unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(m) if m.starts_with(&format!(
            "the embeddings answer from {}/embeddings is text/html, not the JSON the API answers \
             with: check that the base URL is the API's", page.url()
        ))),
        "{err:?}"
    );
    // An answer that is JSON under another type says what is wrong with it.
    let plain = TestServer::start(|_| {
        Reply::ok(r#"{"data":[{"index":0,"embedding":[1]}]}"#).content_type("text/plain")
    });
    let err = embed("openai", &plain.url(), &["a", "b"], &EmbedOptions::new()).unwrap_err();
    assert!(err.to_string().contains("1 vector for 2 texts"), "{err}");
}

/// The requests of one call answer with vectors of one length: a server whose answers differ
/// (a model swapped behind a gateway between two requests) gives vectors that do not compare.
#[test]
fn answers_of_one_call_with_vectors_of_different_lengths_are_an_error() {
    let n = Arc::new(Mutex::new(0));
    let server = TestServer::start(move |req| {
        let sent: Value = serde_json::from_slice(&req.body).unwrap();
        let mut n = n.lock().unwrap();
        *n += 1;
        let data: Vec<Value> = (0..sent["input"].as_array().unwrap().len())
            .map(|i| json!({"index": i, "embedding": vec![0.5; *n]}))
            .collect();
        Reply::json(json!({"data": data}).to_string())
    });
    let client = OpenAIClient::builder("m", None)
        .base_url(server.url())
        .api_key("k")
        .build();
    let options = EmbedOptions::new().batch_size(2).in_flight(1);
    let err = client
        .embed_with(&["a", "b", "c", "d"], &options)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(m) if m.contains("has vectors of 2 values, where the call's first answer had 1")),
        "{err:?}"
    );
    // Chunk by chunk: the one that differs is the error, the first is kept.
    let chunks: Vec<_> = client
        .embed_chunks(&["a", "b", "c", "d"], &options)
        .collect();
    assert!(chunks[0].result.is_ok());
    assert!(chunks[1].result.is_err());
}

/// Some OpenAI-compatible servers leave `index` out: the items' order is the texts' then.
#[test]
fn an_answer_without_indexes_is_in_the_texts_order() {
    let server =
        TestServer::start(|_| Reply::json(r#"{"data":[{"embedding":[1.0]},{"embedding":[2.0]}]}"#));
    let vectors = embed("openai", &server.url(), &["a", "b"], &EmbedOptions::new()).unwrap();
    assert_eq!(vectors, [[1.0], [2.0]]);
}

#[test]
fn embeddings_are_retried_as_the_clients_chats_are() {
    let seen = Arc::new(Mutex::new(0));
    let s = seen.clone();
    // 529 (overloaded) twice, then an answer.
    let server = TestServer::start(move |_| {
        let mut n = s.lock().unwrap();
        *n += 1;
        if *n <= 2 {
            Reply::status(529, r#"{"error":{"message":"overloaded"}}"#)
                .header("retry-after-ms", "5")
        } else {
            Reply::json(json!({"data": [{"index": 0, "embedding": [0.5]}]}).to_string())
        }
    });
    let build = |retry: Option<ureq_futures::RetryPolicy>| {
        let builder = OpenAIClient::builder("text-embedding-3-small", None)
            .base_url(server.url())
            .api_key("sk-test");
        match retry {
            Some(policy) => builder.retry(policy).build(),
            None => builder.build(),
        }
    };
    // The default (RetryPolicy::llm()) retries a 529 twice.
    assert_eq!(build(None).embed(&["a"]).unwrap(), [[0.5]]);
    assert_eq!(*seen.lock().unwrap(), 3);
    // Retries switched off: one request, its error.
    *seen.lock().unwrap() = 0;
    let error = build(Some(ureq_futures::RetryPolicy::none()))
        .embed(&["a"])
        .unwrap_err();
    assert_eq!((error.status(), *seen.lock().unwrap()), (Some(529), 1));
}

#[test]
fn the_clients_timeout_covers_an_embeddings_answer_to_its_last_byte() {
    // Headers, then part of the body, then nothing: the answer is read whole, so the client's
    // `timeout` (not only its `read_timeout`) ends the wait.
    let server = TestServer::start(|_| Reply::stall_mid_body(r#"{"data": ["#, 100));
    let client = OpenAIClient::builder("text-embedding-3-small", None)
        .env(|_| None)
        .base_url(server.url())
        .timeout(std::time::Duration::from_millis(300))
        .read_timeout(std::time::Duration::from_secs(20))
        .retry(ureq_futures::RetryPolicy::none())
        .build();
    let err = client.embed(&["a"]).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("300 ms (timeout)"), "{err}");
}

/// A failed request of a large input lost the vectors of every other one: `embed_chunks`
/// yields each request's vectors, or its error, and goes on.
#[test]
fn embed_chunks_keeps_the_requests_around_a_failed_one() {
    let server = TestServer::start(|req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let input = body["input"].as_array().unwrap();
        if input.iter().any(|t| t == "t3") {
            return Reply::status(
                400,
                r#"{"error":{"message":"input refused","type":"invalid_request_error"}}"#,
            );
        }
        let data: Vec<Value> = (input.iter().enumerate())
            .map(|(i, t)| json!({"index": i, "embedding": [number(t)]}))
            .collect();
        let usage = json!({"prompt_tokens": input.len(), "total_tokens": input.len()});
        Reply::json(json!({"data": data, "usage": usage}).to_string())
    });
    let client = OpenAIClient::builder("m", None)
        .base_url(server.url())
        .api_key("sk-secret-key")
        .build();
    let texts = texts(7);
    let options = EmbedOptions::new().batch_size(2).in_flight(2);
    let chunks: Vec<_> = client.embed_chunks(&texts, &options).collect();
    let ranges: Vec<_> = chunks.iter().map(|c| c.texts.clone()).collect();
    assert_eq!(ranges, [0..2, 2..4, 4..6, 6..7]);
    for chunk in [&chunks[0], &chunks[2], &chunks[3]] {
        let embeddings = chunk.result.as_ref().unwrap();
        let want: Vec<Vec<f32>> = chunk.texts.clone().map(|i| vec![i as f32]).collect();
        assert_eq!(embeddings.vectors, want);
        let tokens = chunk.texts.len() as u64;
        assert_eq!(
            embeddings.usage.as_ref().unwrap().input_tokens,
            Some(tokens)
        );
    }
    let err = chunks[1].result.as_ref().unwrap_err();
    assert_eq!(err.status(), Some(400));
    let text = err.to_string();
    assert!(
        text.contains("input refused") && text.ends_with("(the request of texts 2 to 3, of 7)"),
        "{text}"
    );
    assert_eq!(server.requests().len(), 4);
    // `embed` of the same texts fails as a whole, with the same error.
    let whole = client.embed_with(&texts, &options).unwrap_err();
    assert_eq!(whole.to_string(), text);
    assert_eq!(client.embed_chunks(&texts[..0], &options).count(), 0);
}

/// A request that fails before its answer, after the client's retries, says both how many
/// attempts were made and which texts it carried: the second note was lost on an I/O error.
#[test]
fn a_request_cut_after_its_retries_says_its_attempts_and_its_texts() {
    let server = TestServer::start(|req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        if body["input"][0] == "t2" {
            // Closed before any answer: a failure the retries retry.
            return Reply::custom(|_socket| {});
        }
        numbers_answer(body["input"].as_array().unwrap())
    });
    let client = OpenAIClient::builder("m", None)
        .base_url(server.url())
        .api_key("k")
        .retry(ureq_futures::RetryPolicy::llm().base_delay(support::ms(1)))
        .build();
    let err = client
        .embed_with(&texts(4), &EmbedOptions::new().batch_size(2))
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(
        text.ends_with(
            "(after 3 attempts, the most RetryPolicy::attempts allows; the request of texts 2 to \
             3, of 4)"
        ),
        "{text}"
    );
}

/// An answer cut midway reached the caller in nothing: the client's retries ask again, as for
/// a connection that broke before the answer. Without retries it is the call's error.
#[test]
fn an_answer_cut_midway_is_asked_for_again() {
    let count = Arc::new(Mutex::new(0));
    let seen = Arc::clone(&count);
    let server = TestServer::start(move |req| {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let answer = numbers_answer(body["input"].as_array().unwrap());
        let mut n = seen.lock().unwrap();
        *n += 1;
        if *n == 1 {
            let whole = json!({"data": [{"index": 0, "embedding": vec![0.0; 64]}]}).to_string();
            return Reply::reset_mid_body(whole, 40);
        }
        answer
    });
    let client = |retry: ureq_futures::RetryPolicy| {
        OpenAIClient::builder("m", None)
            .base_url(server.url())
            .api_key("k")
            .retry(retry)
            .build()
    };
    let policy = ureq_futures::RetryPolicy::llm().base_delay(support::ms(1));
    let vectors = client(policy).embed(&texts(3)).unwrap();
    assert_in_order(&vectors, 3);
    assert_eq!(*count.lock().unwrap(), 2);
    *count.lock().unwrap() = 0;
    let err = client(ureq_futures::RetryPolicy::none())
        .embed(&texts(3))
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert_eq!(*count.lock().unwrap(), 1);
}
