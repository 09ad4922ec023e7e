//! The crate's one error type.

use std::fmt::{self, Write as _};
use std::io;

pub use crate::timeout::{Timeout, TimeoutError};

/// How many bytes of a failed response's body an [`Error::Status`] keeps.
pub(crate) const STATUS_BODY_EXCERPT: usize = 1024;
/// How much of a failed stream's body is read to find the API error in it (a JSON error with
/// details can be longer than the excerpt that is kept).
pub(crate) const STATUS_BODY_READ: u64 = 64 * 1024;

/// Everything that can go wrong, surfaced at [`Pending::result`](crate::Pending::result) or
/// while iterating a stream.
///
/// The `Display` output is one line. That of [`Error::Transport`], [`Error::Io`],
/// [`Error::Timeout`], [`Error::Json`], [`Error::InvalidRequest`], [`Error::Protocol`] and
/// [`Error::Cancelled`] starts with the kind of failure in lowercase (`"timeout: connect to
/// 10.0.0.1:443 did not finish within 30 s (connect_timeout) for url: ..."`); the others are
/// sentences of their own: [`Error::Status`] keeps the wording `Server responded with an error.
/// Status Code: 404` for every status error the crate produces, so that programs ported from
/// Python keep their error texts, followed by requests' words (see [`StatusError`]), and
/// [`Error::Other`] is the closure's own error's text. Match on the variant, not on the text.
///
/// # Which variant a transport failure is
///
/// As the tests observe them (the table test in `tests/it/transport_errors.rs`, and
/// `tests/it/faults.rs`). The message of an [`Error::Io`] from the network names the phase,
/// `host:port` and the redacted URL
/// (`io: connect to 127.0.0.1:9 failed for url: http://127.0.0.1:9/x: Connection refused`); its
/// [`io::ErrorKind`] is the one the system reported. The message of an [`Error::Timeout`] names
/// the setting that fired, its value, the phase, `host:port` and the URL; see
/// [`TimeoutError`].
///
/// | failure | variant | message |
/// |---|---|---|
/// | connection refused | `Io`, kind `ConnectionRefused` | `connect to host:port failed` |
/// | proxy that refuses the connection, or whose name does not resolve | `Io`, the system's kind | `connect to the proxy host:port failed` (`resolve the proxy host failed`), and where the proxy was set |
/// | an `https://` proxy's TLS handshake that fails, or a connection to any HTTP proxy that closes before it answers the `CONNECT` of an `http://` URL | `Io`, the system's kind (`InvalidData` for TLS) | `TLS handshake with the proxy host:port failed` (`read the answer of the proxy host:port failed`), and where the proxy was set; for a certificate of a CA the session does not trust, how to trust it |
/// | proxy whose answer to the `CONNECT` is not HTTP (the port of another service) | `Io`, kind `InvalidData` | `read the answer of the proxy host:port failed`, and that its answer does not start as HTTP does |
/// | any other failure before the response, behind a proxy | as without one | `... host:port through the proxy host:port failed` |
/// | a server name that does not resolve here, behind a `socks5://` (or `socks4://`) proxy, which leaves the lookup to this machine | `Io` | `resolve host to connect through the proxy host:port failed`, and that `socks5h://` has the proxy look it up |
/// | a SOCKS proxy whose answer is not SOCKS (an HTTP proxy's port) | `Io`, kind `InvalidData` | `read the answer of the proxy host:port failed`, and that its answer is not SOCKS |
/// | host name that does not resolve | `Io` | `resolve host failed` |
/// | `https://` to a port that speaks plain HTTP | `Io`, kind `InvalidData` (or `UnexpectedEof` when the server just closes) | `TLS handshake with host:port failed`, and the `http://` URL to use |
/// | `http://` to a TLS port that answers with an alert (rustls-based servers) | `Io`, kind `InvalidData` | `read the response from host:port failed`, and the `https://` URL to try (a server that just closes, as OpenSSL's does, is an `UnexpectedEof` without the hint: a closed connection says nothing about TLS) |
/// | TLS certificate rejected | `Io`, kind `InvalidData` | `TLS handshake with host:port failed`; for a certificate of a CA the session does not trust (rustls's `UnknownIssuer`, OpenSSL's `self-signed certificate` or `unable to get local issuer certificate` with `native-tls`: a private CA, a proxy that inspects TLS), how to trust it (`SessionBuilder::tls_config`, `RootCerts::Specific`) |
/// | connection reset or closed before the response | `Io`, `ConnectionReset` / `UnexpectedEof` | `read the response from host:port failed` |
/// | connection cut mid-body | `Io`, `UnexpectedEof` / `ConnectionReset` | `read the body from host:port failed`, and how much came: `(body cut after 1,234 of 5,000 bytes)`, for a chunked body `(body cut after 1,234 bytes, before its last chunk)` |
/// | no byte within `read_timeout` | `Timeout`, kind `PerRead` | `no byte for 30 s (read_timeout) while reading the body from host:port (1,234 of 5,000 bytes read)` |
/// | connect not done within `connect_timeout` | `Timeout`, kind `Connect` | `connect to host:port did not finish within 30 s (connect_timeout)`; behind a proxy, `connect to host:port through the proxy host:port ...`; for an `https://` URL whose TCP connection was made, `TLS handshake with host:port did not finish ...`, and the `http://` URL to use if the port serves plain HTTP |
/// | `timeout` of a buffered request; also a stream's whose phases before the headers add up past it (its watchdog) | `Timeout`, kind `Global` | `whole request over 10 s (timeout)`, and the phase (`while sending the request to host:port` when it ran out in the upload, `while reading the body from host:port (1,234 of 5,000 bytes read)`; `before the response from host:port` otherwise) |
/// | `timeout` of a stream, [`send_streaming`](crate::RequestBuilder::send_streaming) or [`download`](crate::RequestBuilder::download) before the headers | `Timeout`, kind `RecvResponse` (`Resolve`, `Connect`, `SendRequest`, `SendBody` in those phases) | `no response from host:port within 10 s (timeout)` |
/// | buffered body past `max_body_size` | `BodyTooLarge` | the URL, the limit, the setting to raise |
/// | invalid URL (bad port, no scheme...) | `InvalidRequest`, before anything is sent | what is wrong, and the fix when there is one |
/// | [`body_file`](crate::RequestBuilder::body_file) or [`Multipart::file_path`](crate::Multipart::file_path) of a file that cannot be read, or is not a regular file (a pipe, a `/proc` file) | `Io`, the system's kind (`NotFound`, `PermissionDenied`; `InvalidInput` for a directory or a file without a true length), before anything is sent; never retried | `reading the request body's file PATH failed`, and for a file without a true length how to send it (`body_reader`) |
/// | such a file that is gone by the time it is sent | `Io`, `NotFound`, after the request's head; never retried | `opening the request body for URL from PATH failed` |
/// | such a file whose length changed after the request was built | `Io`, kind `InvalidData`; never retried | `sending the request body for URL from PATH failed: the file has N bytes, but the request was built when it had M` |
/// | a [`body_reader`](crate::RequestBuilder::body_reader) or [`Multipart::file_reader`](crate::Multipart::file_reader) that fails, or ends before its given length | `Io`, the reader's kind (`InvalidData` for the length); never retried | `reading the request body for URL from its reader failed: ...` (`from the reader of form part "NAME"`) |
/// | response head over the session's limit (64 KiB; an event stream's 16 KiB less a byte, its read buffer) | `Io`, kind `InvalidData` | `read the response from host:port failed`, the limit, and the setting to raise (at 64 KiB, ureq's default `max_response_header_size` that the session keeps as a cap, that only an agent of your own reads more) |
/// | request line or header over the connection's write buffer (an event stream's: at most 8 KiB unless `stream_buffer_size` sets it, up to 64 KiB) | `Io`, kind `InvalidInput` | `send the request to host:port failed`, and the limit |
/// | proxy that refuses the `CONNECT` (a 407...) | `Transport`, ureq's `ConnectProxyFailed` | `the proxy host:port answered 407 Proxy Authentication Required to the CONNECT for host:port`, the URL, and for a 407 where to put the credentials |
/// | body coded in layers (`deflate, deflate`) whose inner layer makes more than twice the body and 16 MiB (a decompression bomb that decodes to little or nothing, which no size limit, timeout or cancel would stop) | `Io`, kind `InvalidData` | `read the body from host:port failed`, and that its layers expand without output |
/// | body that does not decode as its `Content-Encoding` says | `Transport`, ureq's `Decompress` | `gzip decompression failed: ... in the body from host:port`, the URL, and how to ask for the body unencoded |
/// | an answer whose status the retry policy retries (a 429, a 503), still so after the retries, made an error by `error_for_status` or a stream | `Status` | the status line, the URL, and why no more attempts: `(after 3 attempts, the most RetryPolicy::attempts allows)`, `(after 1 attempt; the server asked to wait 2 min (Retry-After), longer than RetryPolicy::max_retry_after (60 s))` |
/// | a redirect to a location the session does not follow (another scheme than http or https, no host, a host name beyond ASCII) | `InvalidRequest` | `the 302 answer of URL redirects to a location the session does not follow`, why (the scheme, not the rest of the location), and that `max_redirects(0)` returns the redirect to read |
/// | too many redirects | `TooManyRedirects` | `too many redirects: URL redirected to LOCATION after 10 redirects`, the setting that bounds them (`max_redirects`) and its default |
/// | response head that does not parse as HTTP (`HTTP/1.1 abc OK`, a header line without a colon) | `Io`, kind `InvalidData` | `read the response from host:port failed`, and ureq's words (`http parse fail: invalid response status`) |
/// | a `100 Continue` with header fields (RFC 9110 allows them; ureq refuses them) | `Io`, kind `InvalidData` | `read the response from host:port failed`, ureq's words, and that no setting changes it |
/// | `Transfer-Encoding` in an HTTP/1.0 2xx answer, or a transfer coding other than `chunked` (`gzip, chunked`; an unknown one beside a `Content-Length`; another status keeps its head with an empty body) | `Io`, kind `InvalidData` | `read the response from host:port failed`, and the coding or the version: its bytes would not be the body |
/// | chunked body whose framing does not parse within the connection's input buffer (lines that end in LF alone, a size line of thousands of digits) while the connection stays open | `Io`, kind `InvalidData` | `read the body from host:port failed`, and that its chunked framing does not parse |
/// | other malformed response: in its head (a `Content-Length` that is no number, two that disagree) or in a chunked body's framing (a chunk size that is no number, a chunk without its line end) | `Io`, kind `InvalidData` | `read the response from host:port failed` or `read the body from host:port failed`, the URL, and ureq's words (`protocol: conflicting content-length headers`) |
///
/// The message of a [`Transport`](Error::Transport), [`Json`](Error::Json),
/// [`EventTooLarge`](Error::EventTooLarge), [`Api`](Error::Api) (an error the server put inside a 200 answer's stream, which says so),
/// [`Cancelled`](Error::Cancelled) or [`ShutDown`](Error::ShutDown) does not name the URL: these
/// variants hold another crate's error, or fields that code matches on, and have no room for it
/// that would not break such code. The URL is the one of the request whose handle, stream or
/// body gave the error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ureq_futures::{Error, FuturesSession};
///
/// // A port where nothing listens.
/// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
/// let session = FuturesSession::builder().connect_timeout(Duration::from_secs(2)).build();
/// match session.get(format!("http://127.0.0.1:{port}/")).send().result() {
///     Ok(resp) => println!("{}", resp.status()),
///     Err(Error::Io(e)) => eprintln!("network: {e} ({:?})", e.kind()),
///     Err(Error::Timeout(phase)) => eprintln!("gave up waiting: {phase}"),
///     Err(Error::Status(e)) => eprintln!("HTTP {}: {}", e.status, e.body),
///     Err(other) => eprintln!("{other}"),
/// }
/// let err = session.get(format!("http://127.0.0.1:{port}/")).send().result().unwrap_err();
/// assert!(matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
pub enum Error {
    /// A failure of the HTTP exchange itself that is not an I/O error: a request ureq refuses
    /// to write (two `Host` headers), a body that does not decode, a proxy's refusal. ureq's
    /// error is inside. (Refused connections, failed name lookups, TLS failures and malformed
    /// responses are [`Error::Io`]: see the table above.)
    Transport(ureq::Error),
    /// An I/O error: a refused, reset or cut connection, a host name that does not resolve, a
    /// TLS handshake that failed (kind `InvalidData`: a rejected certificate, or a plain-HTTP
    /// port), a body that ended early (`UnexpectedEof`), a local file of a
    /// [`download`](crate::RequestBuilder::download), or a worker thread the system refused to
    /// start (the job did not run). From the network, the message names the phase, `host:port`
    /// and the redacted URL; the kind is the system's.
    Io(io::Error),
    /// A timeout ran out: [`TimeoutError::kind`] says which of ureq's timeouts (connect, per
    /// read, global...), [`TimeoutError::setting`] the setting that set it (`read_timeout`,
    /// `timeout`, `connect_timeout`) and [`TimeoutError::limit`] its value; the message adds the
    /// phase, `host:port` and the redacted URL.
    Timeout(Box<TimeoutError>),
    /// The server answered with a non-success status where one was required:
    /// [`Response::error_for_status`](crate::Response::error_for_status), event streams and
    /// the LLM clients.
    Status(Box<StatusError>),
    /// A body was not valid JSON for the requested type, or a value could not be serialized.
    Json(serde_json::Error),
    /// A buffered response body was larger than the session's
    /// [`max_body_size`](crate::SessionBuilder::max_body_size). The message names the setting,
    /// its value and the URL. Without a URL, the limit was ureq's own, of a body read in a
    /// [`submit`](crate::FuturesSession::submit) closure (ureq's `read_to_vec`,
    /// `read_to_string` and `read_json` stop at 10 MiB), and the message names that one.
    BodyTooLarge {
        /// The limit in bytes that was exceeded.
        limit: u64,
        /// The URL whose body it was, redacted as [`redact_url`](crate::redact_url) shows it;
        /// `None` for a limit of ureq's own (see above).
        url: Option<String>,
    },
    /// A request was redirected more times than its limit allows: the session's
    /// [`max_redirects`](crate::SessionBuilder::max_redirects) (10 unless set,
    /// [`DEFAULT_MAX_REDIRECTS`](crate::DEFAULT_MAX_REDIRECTS)), or a given agent's own. The
    /// message names the limit, the setting, the last URL that redirected and where to. (ureq's
    /// own `TooManyRedirects`, from an agent used in a [`submit`](crate::FuturesSession::submit)
    /// closure, is an [`Error::Transport`].)
    TooManyRedirects {
        /// The redirects followed: the limit.
        max: u32,
        /// The URL whose answer was one redirect too many, redacted as
        /// [`redact_url`](crate::redact_url) shows it.
        url: String,
        /// Where that answer's `Location` pointed (not followed), resolved against `url` and
        /// redacted; `an invalid location` for one that does not resolve to an http or https
        /// URL.
        location: String,
    },
    /// An event-stream line or event was larger than the stream's limit. The message names the
    /// limit and the settings that raise it.
    EventTooLarge {
        /// The limit in bytes that was exceeded.
        limit: usize,
    },
    /// The body of a 2xx answer came with a `Content-Encoding` this build cannot decode (gzip,
    /// deflate and, with the `brotli` feature, br are decoded). Such a body is not handed out
    /// encoded; an error status's or a redirect's is, as it was sent, its `Content-Encoding`
    /// kept (its head is the answer).
    UnsupportedEncoding {
        /// The coding, as the server named it.
        encoding: String,
        /// The URL that answered, redacted as [`redact_url`](crate::redact_url) shows it.
        url: String,
    },
    /// An event stream was answered with a content type other than `text/event-stream`, or
    /// with a body that is a JSON document or a page. The message says how to read such a body
    /// as a stream all the same:
    /// [`StreamOptions::require_event_stream(false)`](crate::sse::StreamOptions::require_event_stream).
    UnexpectedContentType {
        /// The content type it came with, if any.
        content_type: Option<String>,
        /// The URL that answered, redacted as [`redact_url`](crate::redact_url) shows it.
        url: String,
    },
    /// The job was cancelled: by [`Pending::cancel`](crate::Pending::cancel) (queued or
    /// running), [`AsCompleted::cancel_rest`](crate::AsCompleted::cancel_rest),
    /// [`FuturesSession::shutdown_now`](crate::FuturesSession::shutdown_now), a
    /// [`Batch`](crate::Batch) stopped or dropped, or the cancel of a job that was waiting for
    /// this one (in [`result`](crate::Pending::result), a poll, or a select that dropped it);
    /// also the last item of a stream stopped by its stop
    /// handle (an `EventStream`'s, `ChatStream`'s, `BodyReader`'s or `EventSource`'s), of a
    /// [`StreamMap`](crate::sse::StreamMap) entry removed while it ran, and of an event stream
    /// whose worker `shutdown_now` interrupted.
    Cancelled,
    /// The session was shut down ([`shutdown`](crate::FuturesSession::shutdown),
    /// [`shutdown_now`](crate::FuturesSession::shutdown_now) or
    /// [`join`](crate::FuturesSession::join)) while the job was queued, or the job was submitted
    /// afterwards. Dropping the last session handle is not a shutdown: jobs queued for live
    /// handles still run.
    ShutDown,
    /// The job panicked on its worker. The message is the panic's payload when it was a string
    /// (the error's text shows it on one line). The worker itself survives.
    Panicked(String),
    /// [`Pending::result`](crate::Pending::result) or
    /// [`result_timeout`](crate::Pending::result_timeout) was called after
    /// [`try_result`](crate::Pending::try_result), `result_timeout` or a poll of the handle as a
    /// future (`.await` on `&mut pending`) had already handed the result out.
    ResultTaken,
    /// A request could not be built: an invalid header, method or URL, or a request the API
    /// cannot express (such as a chat whose last message is not the user's).
    InvalidRequest(String),
    /// A stream broke its protocol: it ended before its terminator, or a piece of it could not be
    /// decoded. The text names what happened and quotes the offending piece; for an event
    /// stream (an LLM answer included), it ends with `for url: ` and the stream's redacted URL.
    Protocol(String),
    /// An API key is needed and none was given: its environment variable is not set (or is
    /// empty), and the builder's `api_key` gave none (or a blank one).
    MissingApiKey {
        /// The environment variable(s) to set.
        var: &'static str,
    },
    /// An error of the caller's own code, from a [`submit`](crate::FuturesSession::submit)
    /// closure, a [`send_with`](crate::RequestBuilder::send_with) hook or a batch's: made by
    /// [`Error::other`], or by `?` on a `Box<dyn std::error::Error + Send + Sync>` or on a
    /// number or UTF-8 parse error. The message is the inner error's; it is also the
    /// [`source`](std::error::Error::source). (`?` on an [`io::Error`], a `serde_json::Error`
    /// or a `ureq::Error` gives this crate's variant for it instead.)
    ///
    /// # Examples
    ///
    /// `?` on any error in a closure run on a worker:
    ///
    /// ```
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let dir = std::env::temp_dir().join(format!("ureq-futures-other-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("settings.json");
    /// std::fs::write(&path, r#"{"retries": "three"}"#)?;
    ///
    /// let session = FuturesSession::new();
    /// let job = session.submit(move |_agent| {
    ///     let text = std::fs::read_to_string(&path)?;                  // io::Error: Error::Io
    ///     let value: serde_json::Value = serde_json::from_str(&text)?; // Error::Json
    ///     let retries = value["retries"].as_str().unwrap_or_default();
    ///     let n: u32 = retries.parse()?;                               // ParseIntError: Error::Other
    ///     let checked = check(n).map_err(Error::other)?;               // any error type
    ///     Ok(checked)
    /// });
    /// let err = job.result().unwrap_err();
    /// assert!(matches!(err, Error::Other(_)));
    /// assert_eq!(err.to_string(), "invalid digit found in string");
    ///
    /// #[derive(Debug)]
    /// struct TooMany(u32);
    /// impl std::fmt::Display for TooMany {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         write!(f, "{} retries is too many", self.0)
    ///     }
    /// }
    /// impl std::error::Error for TooMany {}
    /// fn check(n: u32) -> Result<u32, TooMany> {
    ///     if n > 10 { Err(TooMany(n)) } else { Ok(n) }
    /// }
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Other(Box<dyn std::error::Error + Send + Sync>),
    /// An error reported by an API inside a successful (200) stream, such as an `error` object in
    /// an LLM stream, or in a JSON document sent in its place (see
    /// [`StreamOptions::require_event_stream`](crate::sse::StreamOptions::require_event_stream)).
    /// The message shows the server's message on one line, its first 300
    /// characters; the field keeps all of it.
    Api {
        /// The error's type or code, when the server sent one.
        kind: Option<String>,
        /// The server's message.
        message: String,
    },
}

/// The details of an [`Error::Status`]: the code, the URL, the headers, the start of the body,
/// and the API error the body carries, if any.
///
/// Its message is one line, as requests' `raise_for_status` writes it after the seed's words:
///
/// ```text
/// Server responded with an error. Status Code: 404 Client Error: Not Found for url: http://127.0.0.1:1234/x
/// ```
///
/// When the body is a JSON API error, its message (and its code, or else its type) replaces the
/// reason phrase:
///
/// ```text
/// Server responded with an error. Status Code: 401: Incorrect API key provided (invalid_api_key) for url: https://api.openai.com/v1/chat/completions
/// ```
///
/// The shapes read are those of the common LLM APIs, and the generic ones they share:
///
/// | provider | body |
/// |---|---|
/// | OpenAI and compatible servers | `{"error": {"message", "type", "code"}}` |
/// | Anthropic | `{"type": "error", "error": {"type", "message"}}` |
/// | Gemini | `{"error": {"code", "message", "status"}}`, alone or as the first item of an array |
/// | Cohere, Mistral | `{"message", "type"?, "code"?}` |
/// | Mistral's validation errors | `{"message": {"detail": [{"loc", "msg"}]}, "type"}` |
/// | FastAPI servers (vLLM...) | `{"detail": [{"loc", "msg", "type"}]}` |
/// | Ollama and others | `{"error": "message"}`, `{"detail": "message"}` |
///
/// A list of validation errors is shown as `body.model: Field required`: each `msg` after its
/// `loc` path, joined with `; `. A JSON body longer than the 64 KiB read of a refused stream or
/// download is cut there and does not parse; its message is still found when it comes first, as
/// in `{"error": {"message": "..."` or `{"message": "..."` (its type and code are not).
///
/// An HTML page, an empty body, a `text/plain` body (a proxy's `upstream connect error ...`, Go's
/// `404 page not found`), or a body of another type that is none of the JSON shapes above keeps
/// the reason phrase, as requests has it; [`api_message`](StatusError::api_message) gives a
/// `text/plain` body's text.
///
/// A redirect (a 301, 302, 303, 307 or 308 with a `Location`) is an error only where a 2xx is
/// asked for (a download, an event stream) and the session did not follow it; the line then
/// ends with `(a redirect that was not followed: max_redirects is 0, or the request's body
/// cannot be sent again)` (see
/// [`SessionBuilder::max_redirects`](crate::SessionBuilder::max_redirects) and
/// [`RequestBuilder::body_reader`](crate::RequestBuilder::body_reader)).
///
/// The body of a refused stream or download, or of
/// [`BodyReader::error_for_status`](crate::BodyReader::error_for_status), is read for at most
/// 5 s, or the request's `timeout` when that ends sooner; when a limit or a failure stops that
/// read before the end of the body, the line ends with what cut it:
///
/// ```text
/// Server responded with an error. Status Code: 503 Server Error: Service Unavailable for url: http://127.0.0.1:1234/x (error body cut after 4 bytes: nothing more within 10 s (timeout))
/// ```
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[]);
/// # // A server that answers as OpenAI does to a wrong key.
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// # let openai = format!("http://{}", listener.local_addr().unwrap());
/// # std::thread::spawn(move || {
/// #     use std::io::{Read, Write};
/// #     let (mut s, _) = listener.accept().unwrap();
/// #     let _ = s.read(&mut [0; 4096]);
/// #     let body = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
/// #     let _ = write!(s, "HTTP/1.1 401 Unauthorized\r\nx-request-id: req_123\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
/// # });
/// use ureq_futures::{Error, FuturesSession};
///
/// let session = FuturesSession::new();
/// // The doc server answers 404 with the plain text "not found".
/// let missing = session.get(format!("{base}/nope")).send().result()?;
/// let Err(Error::Status(err)) = missing.error_for_status() else { unreachable!() };
/// assert_eq!(
///     err.to_string(),
///     format!("Server responded with an error. Status Code: 404 Client Error: Not Found for url: {base}/nope")
/// );
/// assert_eq!(err.api_message(), Some("not found"));
///
/// let resp = session.get(format!("{openai}/v1/models?key=secret")).send().result()?;
/// let Err(Error::Status(e)) = resp.error_for_status() else { unreachable!() };
/// assert_eq!(e.status, 401);
/// assert_eq!(e.api_message(), Some("Incorrect API key provided"));
/// assert_eq!(e.api_type(), Some("invalid_request_error"));
/// assert_eq!(e.api_code(), Some("invalid_api_key"));
/// assert_eq!(e.request_id(), Some("req_123"));
/// assert_eq!(
///     e.to_string(),
///     format!("Server responded with an error. Status Code: 401: Incorrect API key provided (invalid_api_key) for url: {openai}/v1/models?<redacted>")
/// );
/// # Ok::<(), ureq_futures::Error>(())
/// ```
///
/// Its `Debug` output (what `unwrap` prints of a `StatusError` taken out of
/// [`Error::Status`]; an `Error`'s own `Debug` is its variant and its one-line message) shows
/// the headers without the values of those that may carry credentials (`Set-Cookie`, `Cookie`,
/// `Authorization`, `Proxy-Authorization`, and every header whose name contains `auth`,
/// `token`, `key`, `secret`, `pass`, `session` or `credential`, `WWW-Authenticate` and API-key
/// headers among them); the [`headers`](StatusError::headers) field keeps them.
///
/// Where the server repeated a credential the request was sent with (`Incorrect API key
/// provided: Bearer sk-...`, a gateway that echoes the request's headers), its
/// [`body`](StatusError::body), its API message and the error's `Display` and `Debug` show
/// `<redacted>` in its place: the values of the request's credential headers (the session's and
/// its own, as `Debug` names them), the token after an `Authorization` scheme and a Basic
/// credential's password, the value of each cookie it sent (the session's jar's too), the
/// password of the URL and the values of its query's credential parameters (by their whole
/// name, letter case aside: `key`, `api_key`, `apikey`, `access_token`, `refresh_token`,
/// `id_token`, `token`, `auth`, `auth_token`, `client_secret`, `secret`, `password`, `passwd`,
/// `sig`, `signature`, and the `X-Amz-` and `X-Goog-` credential and signature parameters of
/// signed URLs; as written and as [`query`](crate::RequestBuilder::query) gave them), when 8
/// bytes or longer (shorter ones would hide ordinary words). The response's own body
/// (`Response::text`) is left as it came.
#[derive(Clone)]
pub struct StatusError {
    /// The HTTP status code.
    pub status: u16,
    /// The URL that answered, redacted as [`redact_url`](crate::redact_url) shows it (empty in
    /// the rare case where it is not known).
    pub url: String,
    /// The response headers (with `retry-after-ms` added where a Google API gave the wait of
    /// its 429 or 503 in the body: see [`RetryPolicy`](crate::RetryPolicy)'s "How long it
    /// waits").
    pub headers: ureq::http::HeaderMap,
    /// The first KiB of the body, or all of it when shorter, as text: in the charset its
    /// `Content-Type` names (UTF-8, UTF-16, windows-1252 for Latin-1), else as UTF-8 when it is
    /// (windows-1252 when not), never cut within a character.
    pub body: String,
    api: ApiError,
    /// Why the body was read only in part, when a limit or a failure cut it short:
    /// `error body cut after 4 bytes: nothing more within 10 s (timeout)`.
    cut: Option<String>,
    /// Why a status the retry policy retries was not retried again: `after 3 attempts, the
    /// most RetryPolicy::attempts allows`.
    pub(crate) retried: Option<Box<str>>,
}

impl fmt::Debug for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusError")
            .field("status", &self.status)
            .field("url", &self.url)
            .field("headers", &Redacted(&self.headers))
            .field("body", &self.body)
            .finish()
    }
}

/// A header map for `Debug`, the values of credential headers hidden.
struct Redacted<'a>(&'a ureq::http::HeaderMap);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden: &dyn fmt::Debug = &"<redacted>";
        f.debug_map()
            .entries(self.0.iter().map(|(name, value)| {
                let credential = crate::redirect::is_credential(name.as_str());
                (name, if credential { hidden } else { value })
            }))
            .finish()
    }
}

/// An API error parsed from a status error's body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ApiError {
    message: Option<String>,
    kind: Option<String>,
    code: Option<String>,
    param: Option<String>,
    /// The message is a `text/plain` body's text: `api_message()` gives it, the error's line
    /// keeps the reason phrase.
    plain: bool,
}

/// The longest API message shown in an error's one line; the whole body stays in
/// [`StatusError::body`].
const API_MESSAGE_SHOWN: usize = 300;

impl StatusError {
    /// The error message of the API, parsed from a JSON error body (`error.message` for OpenAI,
    /// Anthropic and Gemini, `message` for Cohere, the validation errors of `detail` for FastAPI
    /// servers, see the table above), or the text of a `text/plain` body (its first KiB,
    /// trimmed). `None` when the body is none of these.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("400 Bad Request", "", r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: must be at most 64000"}}"#);
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let resp = FuturesSession::new().post(format!("{base}/v1/messages")).send().result()?;
    /// let Err(Error::Status(e)) = resp.error_for_status() else { panic!("a 400 is an error") };
    /// assert_eq!(e.api_message(), Some("max_tokens: must be at most 64000"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn api_message(&self) -> Option<&str> {
        self.api.message.as_deref()
    }

    /// The error type the API sent: `error.type` (OpenAI: `invalid_request_error`, Anthropic:
    /// `authentication_error`), Gemini's `error.status` (`INVALID_ARGUMENT`), or a top-level
    /// `type`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("529 Overloaded", "", r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let resp = FuturesSession::new().post(format!("{base}/v1/messages")).send().result()?;
    /// if let Err(Error::Status(e)) = resp.error_for_status() {
    ///     if e.api_type() == Some("overloaded_error") {
    ///         eprintln!("the service is busy; try again later");
    ///     }
    ///     assert_eq!(e.api_type(), Some("overloaded_error"));
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn api_type(&self) -> Option<&str> {
        self.api.kind.as_deref()
    }

    /// The error code the API sent, as text: `error.code` (OpenAI: `invalid_api_key`, Gemini:
    /// `400`) or a top-level `code`.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("429 Too Many Requests", "", r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#);
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/v1/models")).send().result()?;
    /// let Err(Error::Status(e)) = resp.error_for_status() else { panic!("a 429 is an error") };
    /// // A 429 that no retry can fix: the quota is spent.
    /// assert_eq!(e.api_code(), Some("insufficient_quota"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn api_code(&self) -> Option<&str> {
        self.api.code.as_deref()
    }

    /// The request parameter the API found fault with: `error.param`, as OpenAI and
    /// OpenAI-compatible servers send it (`messages.[1].content`, `temperature`).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("400 Bad Request", "", r#"{"error":{"message":"-1 is less than the minimum of 0","type":"invalid_request_error","param":"temperature","code":"decimal_below_min_value"}}"#);
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let resp = FuturesSession::new().post(format!("{base}/v1/chat/completions")).send().result()?;
    /// let Err(Error::Status(e)) = resp.error_for_status() else { panic!("a 400 is an error") };
    /// assert_eq!(e.api_param(), Some("temperature"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn api_param(&self) -> Option<&str> {
        self.api.param.as_deref()
    }

    /// The request id the server gave the request (`x-request-id`, as OpenAI sends it, or
    /// `request-id`, as Anthropic does): the value providers ask for in a support request.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve_status("500 Internal Server Error", "request-id: req_011CKf\r\n", r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#);
    /// use ureq_futures::{Error, FuturesSession};
    ///
    /// let resp = FuturesSession::new().post(format!("{base}/v1/messages")).send().result()?;
    /// if let Err(Error::Status(e)) = resp.error_for_status() {
    ///     eprintln!("quote this to support: {}", e.request_id().unwrap_or("no request id"));
    ///     assert_eq!(e.request_id(), Some("req_011CKf"));
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        ["x-request-id", "request-id"]
            .iter()
            .find_map(|name| self.headers.get(*name)?.to_str().ok())
    }
}

impl ApiError {
    /// The API error of a failed response: one of the JSON shapes listed on [`StatusError`], or
    /// else the text of a `text/plain` body.
    fn parse(body: &[u8], content_type: Option<&str>) -> ApiError {
        // The body's text as `body` shows it: in the charset its `Content-Type` names (UTF-16,
        // Latin-1), else UTF-8, else windows-1252 (a server's Latin-1 byte in a message would
        // make the whole body no JSON as UTF-8); a character cut where the read stopped is
        // left out.
        let text = crate::charset::start_text(body, content_type);
        let api = ApiError::of_json(&text, serde_json::from_str(&text));
        let plain = content_type
            .is_some_and(|t| crate::config::media_type_of(t).eq_ignore_ascii_case("text/plain"));
        if api.message.is_none() && plain {
            return ApiError {
                message: plain_text_message(body, content_type),
                plain: true,
                ..ApiError::default()
            };
        }
        api
    }

    /// The API error of `text`, given as `json` too: the shapes of [`from_json`], or the
    /// message of a document cut where its read stopped (no JSON any more).
    fn of_json(text: &str, json: serde_json::Result<serde_json::Value>) -> ApiError {
        match json {
            Ok(value) => ApiError::from_json(&value),
            Err(_) => ApiError {
                message: message_of_cut_json(text.as_bytes()),
                ..ApiError::default()
            },
        }
    }

    /// Reads the shapes listed on [`StatusError`]; anything else is no API error.
    fn from_json(value: &serde_json::Value) -> ApiError {
        // Gemini answers some calls with the error inside an array.
        let value = match value {
            serde_json::Value::Array(items) => match items.first() {
                Some(first) => first,
                None => return ApiError::default(),
            },
            other => other,
        };
        let text = |v: Option<&serde_json::Value>| match v? {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let string = |v: Option<&serde_json::Value>| match v? {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        };
        match value.get("error") {
            Some(inner @ serde_json::Value::Object(_)) => ApiError {
                message: readable(inner.get("message")),
                kind: string(inner.get("type")).or_else(|| string(inner.get("status"))),
                code: text(inner.get("code")),
                param: string(inner.get("param")),
                plain: false,
            },
            Some(serde_json::Value::String(message)) if !message.trim().is_empty() => ApiError {
                message: Some(message.clone()),
                kind: None,
                code: text(value.get("code")),
                param: None,
                plain: false,
            },
            _ => ApiError {
                message: readable(value.get("message")).or_else(|| readable(value.get("detail"))),
                // Anthropic's top-level `type` is "error", which says nothing; an RFC 9457
                // problem's is a URI (`about:blank`, `https://example.com/probs/quota`), no
                // type's name.
                kind: string(value.get("type")).filter(|t| t != "error" && !t.contains([':', '/'])),
                code: text(value.get("code")),
                param: string(value.get("param")),
                plain: false,
            },
        }
        .with_message_only()
    }

    /// A type or code without a message is no API error worth showing (an unrelated JSON body
    /// may have a `code` field).
    fn with_message_only(self) -> ApiError {
        if self.message.is_some() {
            self
        } else {
            ApiError::default()
        }
    }

    /// What is shown in parentheses: a code that is a name (`invalid_api_key`), else the type.
    fn label(&self) -> Option<&str> {
        let named_code = self
            .code
            .as_deref()
            .filter(|c| !c.bytes().all(|b| b.is_ascii_digit()));
        named_code.or(self.kind.as_deref())
    }
}

/// The message of a JSON error body that does not parse, as one cut at the read limit: found
/// when the body starts with `{"error": {"message": "...` or `{"message": "...` and the string
/// ends within it.
fn message_of_cut_json(body: &[u8]) -> Option<String> {
    let rest = token(body, b"{")?;
    let rest = match key(rest, b"error") {
        Some(inner) => token(inner, b"{")?,
        None => rest,
    };
    let rest = key(rest, b"message")?.trim_ascii_start();
    if rest.first() != Some(&b'"') {
        return None;
    }
    // The closing quote: the first one that no backslash escapes.
    let mut escaped = false;
    let end = rest.iter().enumerate().skip(1).find_map(|(i, &b)| {
        match (escaped, b) {
            (false, b'"') => return Some(i),
            (false, b'\\') => escaped = true,
            _ => escaped = false,
        }
        None
    })?;
    let message: String = serde_json::from_slice(rest.get(..=end)?).ok()?;
    Some(message).filter(|m| !m.trim().is_empty())
}

/// What follows `expected` in `json`, after white space.
fn token<'a>(json: &'a [u8], expected: &[u8]) -> Option<&'a [u8]> {
    json.trim_ascii_start().strip_prefix(expected)
}

/// What follows the object key `name` and its colon at the start of `json`.
fn key<'a>(json: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = token(json, b"\"")?.strip_prefix(name)?;
    token(rest.strip_prefix(b"\"")?, b":")
}

/// The first [`STATUS_BODY_EXCERPT`] bytes of an error body as text, in the charset its
/// `Content-Type` names (a server's Latin-1 page), never cut within a character.
fn excerpt(body: &[u8], content_type: Option<&str>) -> String {
    crate::charset::excerpt(body, content_type, STATUS_BODY_EXCERPT)
}

/// A response's `Content-Type`, when it is text.
fn content_type(headers: &ureq::http::HeaderMap) -> Option<&str> {
    headers
        .get(ureq::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// The message of a `text/plain` body, as a proxy or a gateway sends one: the text of its first
/// KiB, trimmed; `None` when that is empty or is markup (an HTML page sent as plain text).
fn plain_text_message(body: &[u8], content_type: Option<&str>) -> Option<String> {
    let text = excerpt(body, content_type);
    let text = text.trim();
    if text.is_empty() || text.starts_with('<') {
        return None;
    }
    Some(text.to_string())
}

/// A message as text: a string, or a list of validation errors as FastAPI (and vLLM, and
/// Mistral inside `message`) sends them, `[{"loc": ["body", "model"], "msg": "Field required"}]`,
/// written `body.model: Field required` and joined with `; `; an object is read through its
/// `detail`.
fn readable(value: Option<&serde_json::Value>) -> Option<String> {
    use serde_json::Value;
    let text = match value? {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(validation_error)
            .collect::<Vec<_>>()
            .join("; "),
        Value::Object(fields) => return readable(fields.get("detail")),
        _ => return None,
    };
    Some(text).filter(|t| !t.trim().is_empty())
}

/// One item of a list of validation errors: its `msg`, after its `loc` path when it has one;
/// or the item itself when it is a string.
fn validation_error(item: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let fields = match item {
        Value::String(s) => return Some(s.clone()),
        Value::Object(fields) => fields,
        _ => return None,
    };
    let msg = fields.get("msg")?.as_str()?;
    let path: Vec<String> = match fields.get("loc") {
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| match part {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(if path.is_empty() {
        msg.to_string()
    } else {
        format!("{}: {msg}", path.join("."))
    })
}

/// Writes `text` on one line: runs of whitespace become one space, other control characters
/// are escaped (`\u{1b}`: a server's terminal escapes must not reach the terminal of whoever
/// reads the error), and at most `max` characters of `text` are shown.
fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str, max: usize) -> fmt::Result {
    let mut shown = 0;
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
            shown += 1;
        }
        let left = max.saturating_sub(shown);
        let len = word.chars().count();
        for c in word.chars().take(left) {
            if c.is_control() {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                f.write_char(c)?;
            }
        }
        if len > left {
            return f.write_str("...");
        }
        shown += len;
    }
    Ok(())
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Server responded with an error. Status Code: {}",
            self.status
        )?;
        if let Some(message) = self.api.message.as_ref().filter(|_| !self.api.plain) {
            f.write_str(": ")?;
            write_one_line(f, message, API_MESSAGE_SHOWN)?;
            if let Some(label) = self.api.label() {
                f.write_str(" (")?;
                write_one_line(f, label, 80)?;
                f.write_str(")")?;
            }
        } else {
            let reason = ureq::http::StatusCode::from_u16(self.status)
                .ok()
                .and_then(|s| s.canonical_reason());
            match (self.status / 100, reason) {
                (4, Some(r)) => write!(f, " Client Error: {r}")?,
                (5, Some(r)) => write!(f, " Server Error: {r}")?,
                (4, None) => f.write_str(" Client Error")?,
                (5, None) => f.write_str(" Server Error")?,
                (_, Some(r)) => write!(f, " {r}")?,
                (_, None) => {}
            }
        }
        if !self.url.is_empty() {
            write!(f, " for url: {}", self.url)?;
        }
        // A redirect is an error only where a 2xx is asked for (a download, an event stream).
        let redirect = matches!(self.status, 301 | 302 | 303 | 307 | 308);
        if redirect && self.headers.contains_key(ureq::http::header::LOCATION) {
            f.write_str(
                " (a redirect that was not followed: max_redirects is 0, or the request's body \
                 cannot be sent again)",
            )?;
        }
        if let Some(cut) = &self.cut {
            write!(f, " ({cut})")?;
        }
        if let Some(retried) = &self.retried {
            write!(f, " ({retried})")?;
        }
        Ok(())
    }
}

impl Error {
    /// The HTTP status code, when this is a status error.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[]);
    /// use ureq_futures::FuturesSession;
    ///
    /// let resp = FuturesSession::new().get(format!("{base}/missing")).send().result()?;
    /// let err = resp.error_for_status().unwrap_err();
    /// assert_eq!(err.status(), Some(404));
    /// assert!(!err.is_timeout());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status(s) => Some(s.status),
            _ => None,
        }
    }

    /// Whether this is a timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ureq_futures::FuturesSession;
    ///
    /// // A server that accepts the connection and never answers.
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let url = format!("http://{}/", listener.local_addr().unwrap());
    /// let err = FuturesSession::new()
    ///     .get(url)
    ///     .timeout(Duration::from_millis(200))
    ///     .send()
    ///     .result()
    ///     .unwrap_err();
    /// assert!(err.is_timeout(), "{err}");
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    /// The error that a JSON document sent in place of an event stream reports, when it is one:
    /// an object with an `error` member (or Gemini's list of one, `[{"error": {...}}]`) whose
    /// message is found in `body` (its start), as [`Error::Api`] with its code or type. `None`
    /// for any other body: a whole answer from a server that ignored `"stream": true` has no
    /// `error`.
    pub(crate) fn from_error_document(body: &[u8], content_type: Option<&str>) -> Option<Error> {
        let text = crate::charset::start_text(body, content_type);
        let json = serde_json::from_str::<serde_json::Value>(&text);
        let has_error = match &json {
            Ok(serde_json::Value::Array(items)) => {
                items.first().is_some_and(|v| v.get("error").is_some())
            }
            Ok(value) => value.get("error").is_some(),
            // Cut where the read stopped: `{"error":` must come first.
            Err(_) => {
                let json = text.as_bytes();
                let object = token(json, b"[").unwrap_or(json);
                token(object, b"{").and_then(|o| key(o, b"error")).is_some()
            }
        };
        if !has_error {
            return None;
        }
        let api = ApiError::of_json(&text, json);
        Some(Error::Api {
            kind: api.code.or(api.kind),
            message: api.message?,
        })
    }

    /// A status error for the response from `url` (redacted here), with `body` as far as it was
    /// read.
    pub(crate) fn status_at(
        status: u16,
        url: &str,
        headers: ureq::http::HeaderMap,
        body: &[u8],
    ) -> Error {
        Error::status_cut(status, url, headers, body, None)
    }

    /// This error with every copy of `secret` (an API key a server repeated in its error:
    /// `Incorrect API key provided: sk-...`) in the server's words replaced by `<redacted>`,
    /// also as a JSON string writes it in a body (a password's `"` and `\` escaped), and as
    /// JSON encoders that escape more write it: `/` (PHP's), what is beyond ASCII (Python's and
    /// PHP's, `\u00e4`), `<`, `>` and `&` (Go's). Secrets shorter than
    /// [`SHORTEST_SECRET`] bytes are left: they would hide ordinary words.
    pub(crate) fn hiding(mut self, secret: Option<&str>) -> Error {
        let Some(secret) = secret.filter(|s| s.len() >= SHORTEST_SECRET) else {
            return self;
        };
        let quoted = serde_json::to_string(secret).unwrap_or_default();
        let json = quoted
            .get(1..quoted.len().saturating_sub(1))
            .unwrap_or_default();
        // As JSON encoders write it: Python's and PHP's escape what is beyond ASCII, Go's
        // `<`, `>` and `&`, PHP's `/`.
        let escaped = |text: &str, escape: fn(char) -> bool| {
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                if escape(c) {
                    let mut units = [0; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                } else {
                    out.push(c);
                }
            }
            out
        };
        let mut forms = vec![secret.to_string()];
        for form in [
            json.to_string(),
            secret.replace('/', "\\/"),
            json.replace('/', "\\/"),
            escaped(json, |c| !c.is_ascii()),
            escaped(&json.replace('/', "\\/"), |c| !c.is_ascii()),
            escaped(json, |c| matches!(c, '<' | '>' | '&')),
        ] {
            if !form.is_empty() && !forms.contains(&form) {
                forms.push(form);
            }
        }
        // The longest first: one form may hold another.
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        let hide = |text: &mut String| {
            for form in &forms {
                if text.contains(form) {
                    *text = text.replace(form, "<redacted>");
                }
                // Not a `\u` form's start: its 12 bytes are two characters, which ordinary
                // escaped text holds.
                if !form.contains("\\u") {
                    hide_cut(text, form);
                }
            }
        };
        match &mut self {
            Error::Status(e) => {
                hide(&mut e.body);
                let api = &mut e.api;
                [
                    &mut api.message,
                    &mut api.kind,
                    &mut api.code,
                    &mut api.param,
                ]
                .into_iter()
                .flatten()
                .for_each(hide);
            }
            Error::Api { kind, message } => {
                hide(message);
                kind.iter_mut().for_each(hide);
            }
            // A stream's piece that does not parse is quoted (`malformed JSON in a stream
            // chunk`), and may be a gateway's text that repeats the key.
            Error::Protocol(message) | Error::InvalidRequest(message) => hide(message),
            _ => {}
        }
        self
    }

    /// [`status_at`](Error::status_at), for a body whose read stopped early: `cut` says why
    /// (`nothing more within 10 s (timeout)`), and the message adds it after the URL.
    pub(crate) fn status_cut(
        status: u16,
        url: &str,
        mut headers: ureq::http::HeaderMap,
        body: &[u8],
        cut: Option<&str>,
    ) -> Error {
        // A Google API's wait, given in the body rather than in a header: as the header that
        // whoever retries the error reads (see `RetryPolicy`'s "How long it waits").
        if let Some(delay) = crate::retry::body_wait(status, &headers, body) {
            headers.insert("retry-after-ms", crate::retry::wait_ms(delay));
        }
        Error::Status(Box::new(StatusError {
            status,
            url: crate::redact_url(url),
            body: excerpt(body, content_type(&headers)),
            api: ApiError::parse(body, content_type(&headers)),
            cut: cut.map(|why| format!("error body cut after {} bytes: {why}", body.len())),
            retried: None,
            headers,
        }))
    }

    /// A status error that says why its status was not retried again (see
    /// [`phase::Retried`](crate::phase::Retried)); any other error as it is.
    pub(crate) fn retried(mut self, note: Option<Box<str>>) -> Error {
        if let (Error::Status(status), Some(note)) = (&mut self, note) {
            status.retried = Some(note);
        }
        self
    }
}

/// The variant, with what code matches on (the I/O error's kind, the timeout's kind, the
/// status), then the message without the word its `Display` starts with for the variant:
/// `Io(ConnectionRefused): connect to 127.0.0.1:9 failed for url: http://127.0.0.1:9/:
/// Connection refused (os error 111)`. That is what a script's
/// `fn main() -> Result<(), Box<dyn Error>>` prints; the derived form showed the fields of every
/// layer of the error, on one long line (`Io(Custom { kind: ConnectionRefused, error: Located {
/// phase: Connect, target: ...`). A status error's headers and body are its public fields:
/// `Error::Status(e)` gives them.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The variant's name, and the word the message starts with for it (said once).
        let (variant, word) = match self {
            Error::Io(e) => (format!("Io({:?})", e.kind()), "io: "),
            Error::Timeout(t) => (format!("Timeout({:?})", t.kind), "timeout: "),
            Error::Status(s) => (format!("Status({})", s.status), ""),
            Error::Transport(_) => ("Transport".into(), "transport: "),
            Error::Json(_) => ("Json".into(), "json: "),
            Error::BodyTooLarge { .. } => ("BodyTooLarge".into(), ""),
            Error::TooManyRedirects { .. } => ("TooManyRedirects".into(), ""),
            Error::EventTooLarge { .. } => ("EventTooLarge".into(), ""),
            Error::UnsupportedEncoding { .. } => ("UnsupportedEncoding".into(), ""),
            Error::UnexpectedContentType { .. } => ("UnexpectedContentType".into(), ""),
            Error::Cancelled => ("Cancelled".into(), "cancelled: "),
            Error::ShutDown => ("ShutDown".into(), ""),
            Error::Panicked(_) => ("Panicked".into(), ""),
            Error::ResultTaken => ("ResultTaken".into(), ""),
            Error::InvalidRequest(_) => ("InvalidRequest".into(), "invalid request: "),
            Error::Protocol(_) => ("Protocol".into(), "protocol: "),
            Error::MissingApiKey { .. } => ("MissingApiKey".into(), ""),
            Error::Other(_) => ("Other".into(), ""),
            Error::Api { .. } => ("Api".into(), ""),
        };
        let text = self.to_string();
        write!(f, "{variant}: {}", text.strip_prefix(word).unwrap_or(&text))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // An agent's own, in a closure (the session follows redirects itself).
            Error::Transport(ureq::Error::TooManyRedirects) => f.write_str(
                "transport: too many redirects: more than the agent's max_redirects allowed \
                 (ureq's Config::max_redirects); the server may be redirecting in a loop",
            ),
            Error::Transport(e) => write!(f, "transport: {e}"),
            Error::Io(e) => write!(f, "io: {e}"),
            Error::Timeout(t) => write!(f, "timeout: {t}"),
            Error::Other(e) => e.fmt(f),
            Error::Status(s) => s.fmt(f),
            Error::Json(e) => write!(f, "json: {e}"),
            Error::BodyTooLarge {
                limit,
                url: Some(url),
            } => write!(
                f,
                "response body of {url} larger than max_body_size ({} bytes, counted after \
                 decoding): raise SessionBuilder::max_body_size, or read the body as a stream",
                crate::phase::grouped(*limit)
            ),
            // Not the session's limit: a body that a closure read with ureq's.
            Error::BodyTooLarge { limit, url: None } => write!(
                f,
                "response body larger than its read limit ({limit} bytes): raise the limit the \
                 body is read with (ureq's Body::with_config().limit, 10 MiB by default for \
                 read_to_vec, read_to_string and read_json), or read it as a stream"
            ),
            Error::TooManyRedirects { max, url, location } => write!(
                f,
                "too many redirects: {url} redirected to {location} after {max} redirect{}, the \
                 most max_redirects allows (SessionBuilder::max_redirects, {} unless set, or a \
                 given agent's own); the server may be redirecting in a loop",
                if *max == 1 { "" } else { "s" },
                crate::DEFAULT_MAX_REDIRECTS
            ),
            Error::EventTooLarge { limit } => {
                write!(
                    f,
                    "event-stream line or event larger than the limit of {limit} bytes: raise \
                     sse::Parser::max_event_size (sse::LineParser::max_line_size for a stream of \
                     lines), given to StreamOptions"
                )
            }
            Error::UnsupportedEncoding { encoding, url } => write!(
                f,
                "the body of {url} is encoded with {encoding}, which this build cannot decode: \
                 ask for it in a coding this build reads (the header Accept-Encoding: identity, \
                 or gzip); the bytes as sent come from the session's agent, which leaves a \
                 coding it does not know in place (FuturesSession::submit)"
            ),
            Error::UnexpectedContentType { content_type, url } => write!(
                f,
                "expected content type text/event-stream from {url}, got {}: the server did \
                 not answer with an event stream (check the URL, and that the server streams: \
                 an LLM API that ignores `\"stream\": true` answers with JSON, which only the \
                 OpenAI-compatible clients read as their stream); a request of \
                 your own reads such a body as a stream all the same with \
                 StreamOptions::require_event_stream(false)",
                content_type.as_deref().unwrap_or("none")
            ),
            Error::Cancelled => f.write_str(
                "cancelled: the job was stopped by Pending::cancel, AsCompleted::cancel_rest, a \
                 stop handle, FuturesSession::shutdown_now, a Batch stopped or dropped, or the \
                 cancel of a job that waited for it",
            ),
            Error::ShutDown => f.write_str(
                "the session was shut down before the job ran (FuturesSession::shutdown, \
                 shutdown_now or join): it was still queued, or submitted after, or an \
                 EventSource waited to reconnect",
            ),
            // A panic's text may have several lines (`assert_eq!`'s has three): on one, whole.
            Error::Panicked(msg) => {
                f.write_str("the job panicked: ")?;
                write_one_line(f, msg, usize::MAX)
            }
            Error::ResultTaken => f.write_str(
                "the result was already taken, by Pending::try_result, result_timeout or a poll \
                 of the handle as a future (.await): keep the result they handed out",
            ),
            Error::InvalidRequest(msg) => write!(f, "invalid request: {msg}"),
            Error::Protocol(msg) => write!(f, "protocol: {msg}"),
            Error::MissingApiKey { var } => {
                write!(
                    f,
                    "no API key: set the environment variable {var}, or give one with the client \
                     builder's api_key (an empty or blank key counts as none)"
                )
            }
            // The server's words, on one line and cut as a status error's are; the variant
            // keeps them whole.
            Error::Api { kind, message } => {
                f.write_str("api error in the answer")?;
                if let Some(kind) = kind {
                    f.write_str(" (")?;
                    write_one_line(f, kind, 80)?;
                    f.write_str(")")?;
                }
                f.write_str(": ")?;
                write_one_line(f, message, API_MESSAGE_SHOWN)
            }
        }
    }
}

/// So that a status error taken out of [`Error::Status`] can be boxed or returned with `?` as
/// an error of its own. It has no source: its message is all of it.
impl std::error::Error for StatusError {}

/// The source is the root cause (the system's error, ureq's, serde_json's), not the layers in
/// between: the message already holds each layer's words (`connect to host:port failed for url:
/// ...: Connection refused (os error 111)`), and a reporter that walks the chain (anyhow's
/// `Caused by:`) printed that sentence again for each layer. The options were the whole chain
/// (each cause repeated two or three times), no source (the message says it all, but code that
/// looks for the system's error by `source()` finds nothing), or the root alone, whose words
/// end the message: repeated once, as most error chains repeat their last cause.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let layer: &(dyn std::error::Error + 'static) = match self {
            Error::Transport(e) => e,
            Error::Io(e) => e,
            Error::Json(e) => e,
            // Its message is its error's own.
            Error::Other(e) => return e.source(),
            _ => return None,
        };
        Some(root_cause(layer))
    }
}

/// The last of `error`'s sources, through the errors an `io::Error` wraps.
fn root_cause<'a>(
    mut error: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    loop {
        let next = match error.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
        match next {
            Some(next) => error = next,
            None => return error,
        }
    }
}

/// The length of the shortest secret [`Error::hiding`] hides.
pub(crate) const SHORTEST_SECRET: usize = 8;

impl From<ureq::Error> for Error {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Timeout(t) => Error::timeout(t),
            ureq::Error::BodyExceedsLimit(limit) => Error::BodyTooLarge { limit, url: None },
            ureq::Error::Io(io) => Error::from(io),
            ureq::Error::Json(j) => Error::Json(j),
            // ureq writes the URL whole (its password, its query's keys).
            ureq::Error::RequireHttpsOnly(url) => {
                Error::Transport(ureq::Error::RequireHttpsOnly(crate::redact_url(&url)))
            }
            other => Error::Transport(other),
        }
    }
}

impl Error {
    /// This error as an [`io::Error`], for a [`Read`](io::Read) impl: an [`Error::Io`] is handed
    /// over as it is, anything else travels inside one (a timeout with the kind `TimedOut`), and
    /// `From<io::Error>` takes it back out unchanged.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Transport(_) | Error::Protocol(_) => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        match self {
            Error::Io(e) => e,
            other => io::Error::new(kind, other),
        }
    }
}

/// Whether `e`, a failure of a read or a write, is a cancel of its job: this crate's
/// [`Error::Cancelled`] carried by [`into_io`](Error::into_io), or the interrupt of the job's
/// I/O (see `crate::transport`), as it is or inside ureq's error. `From<io::Error>` makes it
/// [`Error::Cancelled`].
pub(crate) fn is_cancel(e: &io::Error) -> bool {
    let interrupted = |e: &io::Error| {
        e.get_ref()
            .is_some_and(|inner| inner.is::<crate::exec::Cancelled>())
    };
    let Some(inner) = e.get_ref() else {
        return false;
    };
    if let Some(ours) = inner.downcast_ref::<Error>() {
        return matches!(ours, Error::Cancelled);
    }
    match inner.downcast_ref::<ureq::Error>() {
        Some(ureq::Error::Io(io)) => interrupted(io),
        _ => interrupted(e),
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        if is_cancel(&e) {
            return Error::Cancelled;
        }
        // One of ours, carried through `io::Read` by `into_io`: take it back out as it was.
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let kind = e.kind();
            return match e.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(ours)) => *ours,
                Some(Err(other)) => Error::Io(io::Error::new(kind, other)),
                None => Error::Io(kind.into()),
            };
        }
        // ureq hands its own errors through `io::Read` wrapped in an io::Error, and its own
        // conversion unwraps them: a timeout while reading a body is still `Error::Timeout`.
        match ureq::Error::from(e) {
            // A reset, handed through ureq as another kind (see `crate::transport`).
            ureq::Error::Io(e) => Error::Io(crate::transport::Reset::into_inner(e)),
            other => Error::from(other),
        }
    }
}

impl Error {
    /// An [`Error::Other`] holding `error`, for `.map_err(Error::other)?` on an error type this
    /// crate does not convert from. An error that is one of this crate's, an [`io::Error`], a
    /// `serde_json::Error` or a `ureq::Error` becomes its own variant instead, as `?` would
    /// make it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::Error;
    ///
    /// let err = Error::other("the catalogue is empty");
    /// assert_eq!(err.to_string(), "the catalogue is empty");
    /// let io = Error::other(std::io::Error::from(std::io::ErrorKind::NotFound));
    /// assert!(matches!(io, Error::Io(_)));
    /// ```
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        let error = error.into();
        let error = match error.downcast::<Error>() {
            Ok(ours) => return *ours,
            Err(other) => other,
        };
        let error = match error.downcast::<io::Error>() {
            Ok(io) => return Error::from(*io),
            Err(other) => other,
        };
        let error = match error.downcast::<ureq::Error>() {
            Ok(ureq) => return Error::from(*ureq),
            Err(other) => other,
        };
        match error.downcast::<serde_json::Error>() {
            Ok(json) => Error::Json(*json),
            Err(other) => Error::Other(other),
        }
    }

    /// An [`Error::Timeout`] of `kind`, not yet placed nor named.
    pub(crate) fn timeout(kind: Timeout) -> Error {
        Error::Timeout(Box::new(TimeoutError::new(kind)))
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for Error {
    fn from(e: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Error::other(e)
    }
}

/// `?` on the parse errors of the standard library, the most common errors of a closure's own.
macro_rules! other_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Other(Box::new(e))
            }
        }
    )*};
}

other_from!(
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::str::Utf8Error,
    std::string::FromUtf8Error
);

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

/// Hides in `text` the start of `secret` where a quote cut within it shows it (a malformed
/// chunk is quoted up to 200 bytes, and a key that straddles the cut is not there whole): a
/// run of at least 12 of its first characters, or of all of a shorter secret's, as
/// `<redacted>`.
fn hide_cut(text: &mut String, secret: &str) {
    let mut len = secret.len().min(12);
    while !secret.is_char_boundary(len) {
        len -= 1;
    }
    let head = &secret[..len];
    if head.is_empty() {
        return;
    }
    let mut from = 0;
    while let Some(at) = text[from..].find(head).map(|i| i + from) {
        let mut run = text[at..]
            .bytes()
            .zip(secret.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !text.is_char_boundary(at + run) {
            run -= 1;
        }
        text.replace_range(at..at + run, "<redacted>");
        from = at + "<redacted>".len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_display_keeps_the_python_wording() {
        let e = Error::status_at(400, "http://h/", Default::default(), b"{\"error\":\"bad\"}");
        let text = e.to_string();
        assert!(
            text.contains("Server responded with an error. Status Code: 400"),
            "{text}"
        );
        assert!(text.contains("bad"), "{text}");
        assert_eq!(e.status(), Some(400));
    }

    #[test]
    fn a_secret_cut_where_a_quote_ends_is_hidden_and_no_character_is_split() {
        let mut text = "key sk-proj-abcdefgh... (233 bytes in all), sk-proj-abc".to_string();
        hide_cut(&mut text, "sk-proj-abcdefghijklmnop");
        assert_eq!(text, "key <redacted>... (233 bytes in all), sk-proj-abc");
        // A secret whose bytes part from the text's within a character (`ё` and `я` share
        // their first byte): cut before it.
        let mut text = "ключ-ключ-ключё".to_string();
        hide_cut(&mut text, "ключ-ключ-ключя");
        assert_eq!(text, "<redacted>ё");
    }

    #[test]
    fn an_error_body_with_a_byte_that_is_not_utf8_keeps_its_message() {
        // Without a charset, bytes that are not UTF-8 are windows-1252, as the body shows them.
        let body = b"{\"error\":{\"message\":\"caf\xe9 \xff\",\"type\":\"server_error\"}}";
        let e = Error::status_at(500, "http://h/", Default::default(), body);
        let text = e.to_string();
        assert!(
            text.contains("500: caf\u{e9} \u{ff} (server_error)"),
            "{text}"
        );
        // In the charset the body's type names: the message as `body` reads it.
        let json = r#"{"error":{"message":"Ung\u00fcltige Anfrage: caf\u00e9","code":"x"}}"#;
        let latin1: Vec<u8> = json.chars().map(|c| c as u8).collect();
        let utf16le: Vec<u8> = json.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let utf16be: Vec<u8> = json.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let bom = [&[0xFF, 0xFE][..], &utf16le].concat();
        for (charset, body) in [
            ("iso-8859-1", latin1),
            ("utf-16", utf16le.clone()),
            ("UTF-16BE", utf16be),
            ("utf-16", bom),
        ] {
            let mut headers = ureq::http::HeaderMap::new();
            let content_type = format!("application/json; charset={charset}");
            headers.insert("content-type", content_type.parse().unwrap());
            let Error::Status(e) = Error::status_at(400, "http://h/", headers, &body) else {
                unreachable!()
            };
            assert_eq!(
                (e.api_message(), e.api_code()),
                (Some("Ungültige Anfrage: café"), Some("x")),
                "{charset}: {}",
                e.body
            );
        }
    }

    /// One case per shape of error body the common APIs send, and bodies that are not API
    /// errors: (status, body, the line after the prefix, message, type, code).
    #[test]
    fn api_error_bodies_are_parsed_and_shown_on_one_line() {
        type Case<'a> = (
            u16,
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: &[Case<'_>] = &[
            (
                401,
                r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
                "401: Incorrect API key provided (invalid_api_key)",
                Some("Incorrect API key provided"),
                Some("invalid_request_error"),
                Some("invalid_api_key"),
            ),
            (
                429,
                r#"{"error":{"message":"Rate limit reached","type":"requests","code":null}}"#,
                "429: Rate limit reached (requests)",
                Some("Rate limit reached"),
                Some("requests"),
                None,
            ),
            (
                401,
                r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
                "401: invalid x-api-key (authentication_error)",
                Some("invalid x-api-key"),
                Some("authentication_error"),
                None,
            ),
            (
                400,
                r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#,
                "400: API key not valid. Please pass a valid API key. (INVALID_ARGUMENT)",
                Some("API key not valid. Please pass a valid API key."),
                Some("INVALID_ARGUMENT"),
                Some("400"),
            ),
            (
                404,
                r#"[{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}]"#,
                "404: models/x is not found (NOT_FOUND)",
                Some("models/x is not found"),
                Some("NOT_FOUND"),
                Some("404"),
            ),
            (
                401,
                r#"{"id":"c1","message":"invalid api token"}"#,
                "401: invalid api token",
                Some("invalid api token"),
                None,
                None,
            ),
            (
                404,
                r#"{"error":"model 'x' not found,\n try pulling it first"}"#,
                "404: model 'x' not found, try pulling it first",
                Some("model 'x' not found,\n try pulling it first"),
                None,
                None,
            ),
            (
                422,
                r#"{"object":"error","message":{"detail":[{"type":"missing","loc":["body","model"],"msg":"Field required","input":null}]},"type":"invalid_request_error","param":null,"code":null}"#,
                "422: body.model: Field required (invalid_request_error)",
                Some("body.model: Field required"),
                Some("invalid_request_error"),
                None,
            ),
            (
                422,
                r#"{"detail":[{"loc":["body","messages",0,"content"],"msg":"field required","type":"value_error.missing"},{"loc":["query"],"msg":"extra fields not permitted"},{"msg":"no location"},"plain item",{"loc":["body"]},7]}"#,
                "422: body.messages.0.content: field required; query: extra fields not permitted; no location; plain item",
                Some("body.messages.0.content: field required; query: extra fields not permitted; no location; plain item"),
                None,
                None,
            ),
            (
                422,
                r#"{"detail":[{"loc":["body"]}]}"#,
                "422 Client Error: Unprocessable Entity",
                None,
                None,
                None,
            ),
            (
                422,
                r#"{"detail":"Unprocessable"}"#,
                "422: Unprocessable",
                Some("Unprocessable"),
                None,
                None,
            ),
            // RFC 9457 problems: a `type` that is a URI is no type's name.
            (
                502,
                r#"{"type":"about:blank","title":"Bad Gateway","status":502,"detail":"upstream request timeout"}"#,
                "502: upstream request timeout",
                Some("upstream request timeout"),
                None,
                None,
            ),
            (
                403,
                r#"{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","detail":"Your balance is 30, but that costs 50."}"#,
                "403: Your balance is 30, but that costs 50.",
                Some("Your balance is 30, but that costs 50."),
                None,
                None,
            ),
            (
                404,
                "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n",
                "404 Client Error: Not Found",
                None,
                None,
                None,
            ),
            (503, "", "503 Server Error: Service Unavailable", None, None, None),
            (599, "", "599 Server Error", None, None, None),
            (
                500,
                r#"{"code":"E1","items":[]}"#,
                "500 Server Error: Internal Server Error",
                None,
                None,
                None,
            ),
            (
                400,
                r#"{"error":{"message":"   ","code":"x"}}"#,
                "400 Client Error: Bad Request",
                None,
                None,
                None,
            ),
        ];
        for &(status, body, line, message, kind, code) in cases {
            let err = Error::status_at(
                status,
                "http://h/v1?key=secret",
                Default::default(),
                body.as_bytes(),
            );
            let Error::Status(e) = &err else {
                unreachable!()
            };
            assert_eq!(
                err.to_string(),
                format!(
                    "Server responded with an error. Status Code: {line} for url: http://h/v1?<redacted>"
                ),
                "{body}"
            );
            assert_eq!(
                (e.api_message(), e.api_type(), e.api_code()),
                (message, kind, code),
                "{body}"
            );
            assert_eq!(e.body, body, "the body is kept as it came");
        }
    }

    /// (content type, body, the line after the prefix, message).
    #[test]
    fn a_plain_text_body_is_the_api_message_and_every_type_but_json_keeps_the_reason() {
        let envoy = "upstream connect error or disconnect/reset before headers. reset reason: \
                     connection termination";
        let reason = "503 Server Error: Service Unavailable";
        let cases: &[(Option<&str>, &str, &str, Option<&str>)] = &[
            (Some("text/plain"), envoy, reason, Some(envoy)),
            (
                Some("text/plain; charset=utf-8"),
                "error code: 522\n",
                reason,
                Some("error code: 522"),
            ),
            (
                Some("Text/Plain;charset=ISO-8859-1"),
                "\r\nService\r\n  Unavailable:\tpool   exhausted\r\n",
                reason,
                Some("Service\r\n  Unavailable:\tpool   exhausted"),
            ),
            (
                Some("text/plain"),
                r#"{"error":{"message":"JSON sent as text"}}"#,
                "503: JSON sent as text",
                Some("JSON sent as text"),
            ),
            (Some("text/plain"), " \r\n\t ", reason, None),
            (Some("text/plain"), "", reason, None),
            (
                Some("text/plain"),
                "<html><body>Down</body></html>",
                reason,
                None,
            ),
            (Some("text/html"), "Service down", reason, None),
            (Some("text/plainish"), "Service down", reason, None),
            (Some("text/csv"), "service,down", reason, None),
            (
                Some("application/octet-stream"),
                "Service down",
                reason,
                None,
            ),
            (None, "Service down", reason, None),
        ];
        for &(content_type, body, line, message) in cases {
            let mut headers = ureq::http::HeaderMap::new();
            if let Some(ct) = content_type {
                headers.insert("content-type", ct.parse().unwrap());
            }
            let err = Error::status_at(503, "http://h/x?key=secret", headers, body.as_bytes());
            assert_eq!(
                err.to_string(),
                format!(
                    "Server responded with an error. Status Code: {line} for url: http://h/x?<redacted>"
                ),
                "{content_type:?} {body:?}"
            );
            let Error::Status(e) = &err else {
                unreachable!()
            };
            assert_eq!(
                (e.api_message(), e.api_type(), e.api_code()),
                (message, None, None),
                "{content_type:?} {body:?}"
            );
        }
    }

    #[test]
    fn a_long_plain_text_body_is_cut_for_the_message_and_not_shown_in_the_line() {
        let mut headers = ureq::http::HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        // 1 + 2 * 600 bytes: the first KiB ends inside an "é".
        let body = format!("a{}", "é".repeat(600));
        let Error::Status(e) = Error::status_at(502, "http://h/", headers.clone(), body.as_bytes())
        else {
            unreachable!()
        };
        let message = e.api_message().unwrap();
        assert_eq!(message, format!("a{}", "é".repeat(511)));
        let text = e.to_string();
        assert!(
            text.ends_with("502 Server Error: Bad Gateway for url: http://h/"),
            "{text}"
        );
        // A long message of many lines that the line does show (a JSON API error's) is shown
        // on one line, cut.
        let stack = "Traceback (most recent call last):\n  File \"app.py\"\n".repeat(100);
        let json = serde_json::json!({"error": {"message": stack}}).to_string();
        let text = Error::status_at(500, "http://h/", Default::default(), json.as_bytes());
        let text = text.to_string();
        assert!(
            text.contains(": Traceback (most recent call last): File"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        assert!(text.len() < API_MESSAGE_SHOWN + 120, "{}", text.len());
    }

    #[test]
    fn the_message_of_a_cut_json_body_is_found_when_it_comes_first() {
        let message = |body: &[u8]| {
            let Error::Status(e) = Error::status_at(400, "http://h/", Default::default(), body)
            else {
                unreachable!()
            };
            e.api_message().map(str::to_string)
        };
        let openai = r#"{"error":{"message":"context too long: \"x\" \\ \u00e9té","type":"invalid_request_error","code":"context_length_exceeded","echo":"xxxx"#;
        assert_eq!(
            message(openai.as_bytes()).as_deref(),
            Some(r#"context too long: "x" \ été"#)
        );
        // Cut at every byte: no message until its closing quote has been read, the whole
        // message after it, and never a panic (the cut may split a character or an escape).
        let end = openai.find(r#"","type""#).unwrap() + 1;
        for cut in 0..openai.len() {
            let found = message(&openai.as_bytes()[..cut]);
            assert_eq!(found.is_some(), cut >= end, "cut at {cut}: {found:?}");
        }
        for (body, expected) in [
            (
                r#" { "message" : "rate limited", "type": "#,
                Some("rate limited"),
            ),
            (r#"{"error": {"message": "bad key"}"#, Some("bad key")),
            (r#"{"error": {"message": "  ", "type": "x"#, None),
            (r#"{"error": {"message": 42, "#, None),
            (r#"{"error": "model not found"#, None),
            (
                r#"{"type":"error","error":{"type":"x","message":"later keys"#,
                None,
            ),
            (r#"{"id": 1, "message": "not first"#, None),
            (r#"{"message": "bad escape \q", "#, None),
            (r#"["message", "a list"#, None),
            ("", None),
        ] {
            assert_eq!(message(body.as_bytes()).as_deref(), expected, "{body}");
        }
        // Bytes that are not UTF-8 are windows-1252, as the body shows them; a character cut
        // by the end of the read is left out, and does not turn the rest into windows-1252.
        let latin = message(b"{\"message\": \"\xff\xfe\", ");
        assert_eq!(latin.as_deref(), Some("\u{ff}\u{fe}"));
        let cut = message(
            "{\"message\": \"été\", \"x\": \"é"
                .as_bytes()
                .split_last()
                .unwrap()
                .1,
        );
        assert_eq!(cut.as_deref(), Some("été"));
    }

    #[test]
    fn the_param_an_api_names_is_kept() {
        let param = |body: &str| ApiError::parse(body.as_bytes(), None).param;
        let openai = r#"{"error":{"message":"Invalid type for 'messages[1].content'","type":"invalid_request_error","param":"messages[1].content","code":"invalid_type"}}"#;
        assert_eq!(param(openai).as_deref(), Some("messages[1].content"));
        let null = r#"{"error":{"message":"Incorrect API key provided","param":null}}"#;
        assert_eq!(param(null), None);
        let anthropic =
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens"}}"#;
        assert_eq!(param(anthropic), None);
        // A param without a message is no API error.
        assert_eq!(param(r#"{"error":{"param":"model"}}"#), None);
    }

    #[test]
    fn a_long_api_message_is_cut_and_the_request_id_is_read_from_either_header() {
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "word ".repeat(200));
        let err = Error::status_at(400, "http://h/", Default::default(), long.as_bytes());
        let text = err.to_string();
        assert!(text.len() < API_MESSAGE_SHOWN + 120, "{}", text.len());
        assert!(text.contains("... for url: http://h/"), "{text}");
        for name in ["x-request-id", "request-id"] {
            let mut headers = ureq::http::HeaderMap::new();
            headers.insert(name, "req_1".parse().unwrap());
            let Error::Status(e) = Error::status_at(500, "http://h/", headers, b"") else {
                unreachable!()
            };
            assert_eq!(e.request_id(), Some("req_1"), "{name}");
        }
    }

    #[test]
    fn body_too_large_names_the_setting_the_limit_and_the_url() {
        let err = Error::BodyTooLarge {
            limit: 2048,
            url: Some("http://h/big?<redacted>".into()),
        };
        assert_eq!(
            err.to_string(),
            "response body of http://h/big?<redacted> larger than max_body_size (2,048 bytes, \
             counted after decoding): \
             raise SessionBuilder::max_body_size, or read the body as a stream"
        );
    }

    #[test]
    fn status_excerpts_are_whole_characters_in_the_bodys_charset() {
        let body_of = |body: &[u8], content_type: &str| {
            let mut headers = ureq::http::HeaderMap::new();
            headers.insert("content-type", content_type.parse().unwrap());
            match Error::status_at(404, "http://h/", headers, body) {
                Error::Status(s) => s.body,
                other => panic!("{other:?}"),
            }
        };
        let latin1 = b"Fichier non trouv\xe9";
        assert_eq!(
            body_of(latin1, "text/plain; charset=iso-8859-1"),
            "Fichier non trouvé"
        );
        // A character across the KiB's end is left out, not shown as U+FFFD.
        let mut utf8 = vec![b'a'; STATUS_BODY_EXCERPT - 1];
        utf8.extend_from_slice("é and more".as_bytes());
        let text = body_of(&utf8, "text/plain; charset=utf-8");
        assert_eq!(text, "a".repeat(STATUS_BODY_EXCERPT - 1));
        assert_eq!(body_of(&utf8, "text/html"), text);
        // UTF-16: neither half a unit nor half a surrogate pair.
        let mut utf16: Vec<u8> = "a"
            .repeat(STATUS_BODY_EXCERPT / 2 - 1)
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        utf16.extend("\u{1F600}!".encode_utf16().flat_map(u16::to_le_bytes));
        let text = body_of(&utf16, "text/plain; charset=utf-16le");
        assert_eq!(text, "a".repeat(STATUS_BODY_EXCERPT / 2 - 1));
    }

    #[test]
    fn status_keeps_only_the_start_of_a_long_body() {
        let body = vec![b'x'; 10 * STATUS_BODY_EXCERPT];
        match Error::status_at(500, "http://h/", Default::default(), &body) {
            Error::Status(s) => assert_eq!(s.body.len(), STATUS_BODY_EXCERPT),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ureq_errors_wrapped_in_io_are_unwrapped() {
        let io = io::Error::other(ureq::Error::Timeout(Timeout::PerRead));
        assert!(matches!(Error::from(io), Error::Timeout(t) if t.kind == Timeout::PerRead));
        let limit = io::Error::other(ureq::Error::BodyExceedsLimit(7));
        assert!(matches!(
            Error::from(limit),
            Error::BodyTooLarge { limit: 7, .. }
        ));
    }

    #[test]
    fn debug_of_a_status_error_hides_the_credentials_of_the_response_headers() {
        let mut headers = ureq::http::HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        headers.append("set-cookie", "session=s3cret; HttpOnly".parse().unwrap());
        headers.append("set-cookie", "csrf=t0ken".parse().unwrap());
        headers.insert("x-api-key", "sk-key".parse().unwrap());
        headers.insert("x-request-id", "req_1".parse().unwrap());
        let err = Error::status_at(401, "http://u:pw@h/x?key=k", headers, b"denied");
        let Error::Status(status) = &err else {
            unreachable!()
        };
        // The error's own Debug is its message; the status error's shows its fields.
        let debug = format!("{status:?}");
        for secret in ["s3cret", "t0ken", "sk-key", "pw", "key=k"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
            assert!(!format!("{err:?}").contains(secret), "{secret} in {err:?}");
        }
        assert_eq!(
            debug,
            "StatusError { status: 401, url: \"http://<redacted>@h/x?<redacted>\", \
             headers: {\"content-type\": \"text/plain\", \"set-cookie\": \"<redacted>\", \
             \"set-cookie\": \"<redacted>\", \"x-api-key\": \"<redacted>\", \
             \"x-request-id\": \"req_1\"}, body: \"denied\" }"
        );
        // The headers themselves keep their values.
        let Error::Status(e) = err else {
            unreachable!()
        };
        assert_eq!(e.headers["x-api-key"], "sk-key");
    }

    #[test]
    fn debug_of_a_status_error_hides_every_header_named_for_a_credential() {
        let mut headers = ureq::http::HeaderMap::new();
        headers.insert(
            "www-authenticate",
            "Bearer realm=\"r\", nonce=n0nce".parse().unwrap(),
        );
        headers.insert("proxy-authenticate", "Basic realm=\"p\"".parse().unwrap());
        headers.insert("authentication-info", "nextnonce=nxt".parse().unwrap());
        headers.insert("x-auth-token", "tok-1".parse().unwrap());
        headers.insert("x-csrf-token", "csrf-2".parse().unwrap());
        headers.insert("x-client-secret", "sec-3".parse().unwrap());
        headers.insert("x-subscription-key", "sub-4".parse().unwrap());
        headers.insert("cookie", "a=c00kie".parse().unwrap());
        headers.insert("proxy-authorization", "Basic cHc=".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        let err = Error::status_at(401, "http://h/", headers, b"");
        let Error::Status(status) = &err else {
            unreachable!()
        };
        let debug = format!("{status:?}");
        assert_eq!(
            debug,
            "StatusError { status: 401, url: \"http://h/\", headers: \
             {\"www-authenticate\": \"<redacted>\", \"proxy-authenticate\": \"<redacted>\", \
             \"authentication-info\": \"<redacted>\", \"x-auth-token\": \"<redacted>\", \
             \"x-csrf-token\": \"<redacted>\", \"x-client-secret\": \"<redacted>\", \
             \"x-subscription-key\": \"<redacted>\", \"cookie\": \"<redacted>\", \
             \"proxy-authorization\": \"<redacted>\", \"keep-alive\": \"timeout=5\"}, \
             body: \"\" }"
        );
    }

    #[test]
    fn cancelled_and_shut_down_say_what_stopped_the_job() {
        assert_eq!(
            Error::Cancelled.to_string(),
            "cancelled: the job was stopped by Pending::cancel, AsCompleted::cancel_rest, a stop \
             handle, FuturesSession::shutdown_now, a Batch stopped or dropped, or the cancel of a \
             job that waited for it"
        );
        assert_eq!(
            Error::ShutDown.to_string(),
            "the session was shut down before the job ran (FuturesSession::shutdown, \
             shutdown_now or join): it was still queued, or submitted after, or an \
             EventSource waited to reconnect"
        );
    }

    #[test]
    fn a_panic_of_several_lines_is_shown_on_one_and_result_taken_says_by_what() {
        let panic = "assertion `left == right` failed\n  left: 1\n right: 2";
        assert_eq!(
            Error::Panicked(panic.into()).to_string(),
            "the job panicked: assertion `left == right` failed left: 1 right: 2"
        );
        assert_eq!(
            Error::ResultTaken.to_string(),
            "the result was already taken, by Pending::try_result, result_timeout or a poll of \
             the handle as a future (.await): keep the result they handed out"
        );
    }

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
