//! A terminal chat that streams the answer as it is written.
//!
//! ```text
//! cargo run --release --example chat -- "Why is the sky blue?"   # one question, one answer
//! cargo run --release --example chat                             # a multi-turn chat
//! printf 'Hi\n/reset\nBye\n' | cargo run --release --example chat # the chat's lines from a pipe
//! ```
//!
//! Options: `--provider openai|anthropic|gemini|mistral|together|cohere` (default
//! `$CHAT_PROVIDER`, else `openai`), `--model NAME` (default: the provider's, see `--help`),
//! `--temperature T` (default: the server's), `--base-url URL` (default: the provider's
//! `*_BASE_URL` variable, else its API), `--system TEXT`, `--demo`.
//!
//! When the chosen provider has no key (and no base URL) set, or with `--demo`, it starts an
//! offline demo server on 127.0.0.1 that streams a made-up answer in OpenAI's protocol, so the
//! program can be tried at once. In the chat, `/reset` forgets the history and `/exit` or
//! Ctrl-D quits; a message that starts with `/` is written with `//`. Ctrl-C during an answer stops it and goes back to the prompt with the history as
//! it was before the question; Ctrl-C at the prompt quits, and so does a second Ctrl-C before the
//! server has started to answer.

#[macro_use]
#[path = "../shared/note.rs"]
mod note;
#[path = "../shared/ctrl_c.rs"]
mod ctrl_c;
#[path = "../shared/demo.rs"]
mod demo;

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ctrl_c::{CtrlC, Press};
use ureq_futures::llm::{
    AnthropicClient, ChatClient, ClientBuilder, CohereClient, Conversation, GeminiClient,
    MistralClient, OpenAIClient, Protocol, TogetherClient,
};
use ureq_futures::{Error, RetryPolicy};

#[path = "../shared/print_out.rs"]
mod print_out;
use print_out::print_out;

/// The pause between two pieces of the demo server's answer.
const DEMO_PAUSE: Duration = Duration::from_millis(25);

const USAGE: &str = "\
usage: chat [OPTIONS] [PROMPT...]

Streams a chat model's answer to PROMPT; without a PROMPT, starts a multi-turn chat, each line
of stdin a message, from a terminal or a pipe (/reset forgets the history, /exit or Ctrl-D or the
end of the input quits, with status 1 if a turn failed, and //text sends /text; Ctrl-C stops
an answer, and quits at the prompt or when pressed twice before an answer starts).

options:
  --provider NAME     openai, anthropic, gemini, mistral, together or cohere
                      (default: $CHAT_PROVIDER, else openai)
  --model NAME        the model (default: the provider's, below; for openai $OPENAI_MODEL first)
  --temperature T     the sampling temperature (default: the server's)
  --base-url URL      the provider's API root (default: its *_BASE_URL variable, else its API)
  --system TEXT       a system prompt
  --demo              talk to the built-in offline demo server
  -h, --help          this text
  --                  the rest is the prompt, even words that start with --

providers, their default models and variables:
  openai     gpt-4o-mini                              OPENAI_API_KEY, OPENAI_BASE_URL
  anthropic  claude-haiku-4-5                         ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL
  gemini     gemini-2.5-flash                         GEMINI_API_KEY or GOOGLE_API_KEY, GEMINI_BASE_URL
  mistral    mistral-small-latest                     MISTRAL_API_KEY, MISTRAL_BASE_URL
  together   meta-llama/Llama-3.3-70B-Instruct-Turbo  TOGETHER_API_KEY, TOGETHER_BASE_URL
  cohere     command-r-08-2024                        COHERE_API_KEY, COHERE_BASE_URL

With neither the provider's key nor its base URL set, the offline demo server answers (it
speaks OpenAI's protocol and is not a real model).";

/// The services the chat can talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    OpenAI,
    Anthropic,
    Gemini,
    Mistral,
    Together,
    Cohere,
}

impl Provider {
    fn parse(name: &str) -> Result<Provider, String> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "openai" => Provider::OpenAI,
            "anthropic" => Provider::Anthropic,
            "gemini" | "google" => Provider::Gemini,
            "mistral" => Provider::Mistral,
            "together" => Provider::Together,
            "cohere" => Provider::Cohere,
            _ => {
                return Err(format!(
                    "unknown provider {name:?}: use openai, anthropic, gemini, mistral, together \
                     or cohere"
                ))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Provider::OpenAI => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Mistral => "mistral",
            Provider::Together => "together",
            Provider::Cohere => "cohere",
        }
    }

    fn default_model(self) -> &'static str {
        match self {
            Provider::OpenAI => "gpt-4o-mini",
            Provider::Anthropic => "claude-haiku-4-5",
            Provider::Gemini => "gemini-2.5-flash",
            Provider::Mistral => "mistral-small-latest",
            Provider::Together => "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            Provider::Cohere => "command-r-08-2024",
        }
    }

    /// The variable(s) the key is read from, as a missing key's error names them.
    fn key_vars(self) -> &'static str {
        match self {
            Provider::OpenAI => "OPENAI_API_KEY",
            Provider::Anthropic => AnthropicClient::API_KEY_VAR,
            Provider::Gemini => "GEMINI_API_KEY or GOOGLE_API_KEY",
            Provider::Mistral => MistralClient::API_KEY_VAR,
            Provider::Together => TogetherClient::API_KEY_VAR,
            Provider::Cohere => CohereClient::API_KEY_VAR,
        }
    }

    fn base_var(self) -> &'static str {
        match self {
            Provider::OpenAI => "OPENAI_BASE_URL",
            Provider::Anthropic => AnthropicClient::BASE_URL_VAR,
            Provider::Gemini => GeminiClient::BASE_URL_VAR,
            Provider::Mistral => MistralClient::BASE_URL_VAR,
            Provider::Together => TogetherClient::BASE_URL_VAR,
            Provider::Cohere => CohereClient::BASE_URL_VAR,
        }
    }

    /// The client, with the key and base URL from the environment unless `base_url` is given;
    /// also its base URL and whether it has a key.
    fn client(
        self,
        model: &str,
        temperature: Option<f64>,
        base_url: Option<&str>,
    ) -> (Box<dyn ChatClient>, String, bool) {
        match self {
            Provider::OpenAI => boxed(OpenAIClient::builder(model, temperature), base_url),
            Provider::Anthropic => boxed(AnthropicClient::builder(model, temperature), base_url),
            Provider::Gemini => boxed(GeminiClient::builder(model, temperature), base_url),
            Provider::Mistral => boxed(MistralClient::builder(model, temperature), base_url),
            Provider::Together => boxed(TogetherClient::builder(model, temperature), base_url),
            Provider::Cohere => boxed(CohereClient::builder(model, temperature), base_url),
        }
    }
}

/// Builds any provider's client, at `base_url` if given: the client, its base URL and whether
/// it has a key.
fn boxed<P: Protocol>(
    builder: ClientBuilder<P>,
    base_url: Option<&str>,
) -> (Box<dyn ChatClient>, String, bool) {
    // A wait before another attempt (a busy server's `Retry-After` may be a minute) says so,
    // or the chat looks stuck.
    let retry = RetryPolicy::llm().on_retry(|retry| {
        note!(
            "(attempt {} of {} failed: {}; trying again in {:.1} s)",
            retry.attempt,
            retry.attempts,
            retry.reason,
            retry.wait.as_secs_f64()
        )
    });
    let client = match base_url {
        Some(url) => builder.base_url(url),
        None => builder,
    }
    .retry(retry)
    .build();
    // Shown in messages: without a password or key it may hold.
    let (base, has_key) = (
        ureq_futures::redact_url(client.base_url()),
        client.has_api_key(),
    );
    (Box::new(client), base, has_key)
}

struct Options {
    provider: Option<Provider>,
    model: Option<String>,
    temperature: Option<f64>,
    base_url: Option<String>,
    system: Option<String>,
    demo: bool,
    prompt: Vec<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options {
        provider: None,
        model: None,
        temperature: None,
        base_url: None,
        system: None,
        demo: false,
        prompt: Vec::new(),
    };
    while let Some(arg) = args.next() {
        if arg == "--" {
            opts.prompt.extend(args.by_ref());
            break;
        }
        // A lone `-` is a word; `-x` is an option (a prompt that starts with `-` goes after
        // `--`), or a typo would be sent to the model as the prompt.
        if !arg.starts_with('-') || arg == "-" {
            opts.prompt.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        let mut value = || match inline.clone() {
            Some(value) => Ok(value),
            // `--model --demo`: an option forgotten its value, not a model named `--demo`.
            None => match args.next() {
                Some(next) if next.starts_with("--") && next.len() > 2 => Err(format!(
                    "{name} needs a value, and {next} is an option (write {name}={next} for a \
                     value that starts with --)"
                )),
                Some(value) => Ok(value),
                None => Err(format!("{name} needs a value")),
            },
        };
        match name.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--provider" => opts.provider = Some(Provider::parse(&value()?)?),
            // An empty one (`--model "$UNSET"`) would be sent as it is, or taken for none.
            "--model" => opts.model = Some(not_empty(&name, value()?)?),
            "--temperature" => {
                let text = value()?;
                let t: f64 = text
                    .parse()
                    .ok()
                    .filter(|t: &f64| t.is_finite())
                    .ok_or_else(|| format!("--temperature: not a number: {text}"))?;
                opts.temperature = Some(t);
            }
            "--base-url" => opts.base_url = Some(with_scheme(&name, value()?)?),
            "--system" => opts.system = Some(value()?),
            "--demo" => opts.demo = true,
            _ => {
                return Err(format!(
                    "unknown option {name} (a prompt that starts with '-' goes after --)"
                ))
            }
        }
    }
    // `chat "$UNSET"`: an empty message would go to the model.
    if !opts.prompt.is_empty() && opts.prompt.iter().all(|word| word.trim().is_empty()) {
        return Err("the prompt is empty: give one, or none for the chat".into());
    }
    Ok(opts)
}

/// `value`, unless it is empty or blank: then the usage error of option `name`.
fn not_empty(name: &str, value: String) -> Result<String, String> {
    match value.trim().is_empty() {
        true => Err(format!("{name} needs a value")),
        false => Ok(value),
    }
}

/// A base URL given as an option, which must say its scheme: the library's error for one that
/// does not names the client builder's setting, not this program's option.
fn with_scheme(name: &str, value: String) -> Result<String, String> {
    let value = not_empty(name, value)?;
    match value.contains("://") {
        true => Ok(value),
        false => Err(format!(
            "{name} {value} has no scheme: write {name} http://{}",
            value.trim_start_matches('/')
        )),
    }
}

/// Why a turn stopped early.
enum Failure {
    /// Ctrl-C stopped the answer.
    Stopped,
    /// The request or the stream failed, before any of the answer was shown.
    Chat(Error),
    /// The stream failed after part of the answer was shown: the server and its API were the
    /// right ones, so no hint about them.
    Cut(Error),
    /// Writing the answer failed (stdout closed).
    Output(io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            // What a stopped stream ends with.
            Error::Cancelled => Failure::Stopped,
            e => Failure::Chat(e),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

fn main() -> ExitCode {
    note::text_args().map_or_else(|code| code, run)
}

/// What a usage error prints: the error, the usage line and where the options are listed (the
/// whole help would push the error off a small terminal).
fn usage_error(msg: &str) -> String {
    let usage = USAGE.lines().next().unwrap_or_default();
    format!("error: {msg}\n{usage}\n`chat --help` lists the options")
}

/// The program, with its arguments (without the program's name).
fn run(args: Vec<String>) -> ExitCode {
    let opts = match parse_args(args.into_iter()) {
        Ok(opts) => opts,
        Err(msg) if msg.is_empty() => return print_out(USAGE),
        Err(msg) => {
            note!("{}", usage_error(&msg));
            return ExitCode::from(2);
        }
    };
    // Ctrl-C stops the answer in progress, or ends the program when there is none.
    let ctrl_c = Arc::new(CtrlC::default());
    let on_press = Arc::clone(&ctrl_c);
    // `writeln!`, not `eprintln!`: a closed stderr must not stop this handler (or the exit).
    let caught = ctrl_c::on_ctrl_c(move || match on_press.pressed() {
        Press::Quit => {
            let _ = writeln!(io::stderr());
            std::process::exit(130);
        }
        Press::Dropping => {
            let _ = writeln!(
                io::stderr(),
                "\n(waiting for the server: its answer will be dropped; Ctrl-C again quits)"
            );
        }
        Press::Stopped => {}
    });
    if let Err(e) = caught {
        note!("note: Ctrl-C will end the program, answer or not: {e}");
    }
    // Without a prompt, the chat: each line of stdin, a terminal's or a pipe's, is a message (a
    // script can drive it as a user would; a long prompt goes as an argument).
    let prompt = (!opts.prompt.is_empty()).then(|| opts.prompt.join(" "));

    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let provider = match opts.provider {
        Some(provider) => provider,
        None => match env("CHAT_PROVIDER").map(|name| Provider::parse(&name)) {
            Some(Ok(provider)) => provider,
            Some(Err(msg)) => {
                note!("error: CHAT_PROVIDER: {msg}");
                return ExitCode::from(2);
            }
            None => Provider::OpenAI,
        },
    };
    let model = opts
        .model
        .clone()
        .or_else(|| (provider == Provider::OpenAI).then(|| env("OPENAI_MODEL"))?)
        .unwrap_or_else(|| provider.default_model().to_string());

    let (mut client, mut base_url, mut has_key) =
        provider.client(&model, opts.temperature, opts.base_url.as_deref());
    let configured = has_key || opts.base_url.is_some() || env(provider.base_var()).is_some();
    if opts.demo || !configured {
        let server = match demo::DemoServer::start(DEMO_PAUSE) {
            Ok(server) => server,
            Err(e) => {
                note!("error: could not start the offline demo server: {e}");
                return ExitCode::FAILURE;
            }
        };
        let why = if opts.demo {
            "--demo".to_string()
        } else {
            format!(
                "no key for {} (set {})",
                provider.name(),
                provider.key_vars()
            )
        };
        note!(
            "note: {why}: an offline demo server at {} answers in OpenAI's protocol, not a real \
             model.",
            server.base_url()
        );
        // The environment is ignored so that no key is sent to the demo.
        let demo = OpenAIClient::builder(model.as_str(), opts.temperature)
            .base_url(server.base_url())
            .env(|_| None)
            .build();
        base_url = demo.base_url().to_string();
        has_key = false;
        client = Box::new(demo);
    }
    let base_from = if opts.demo || !configured {
        BaseFrom::Demo
    } else if opts.base_url.is_some() {
        BaseFrom::Option
    } else if env(provider.base_var()).is_some() {
        BaseFrom::Variable
    } else {
        BaseFrom::Default
    };
    let target = Target {
        provider,
        model,
        base_url,
        base_from,
        has_key,
    };
    let mut chat = Conversation::new(client);
    if let Some(system) = &opts.system {
        chat = chat.with_system_prompt(system.as_str());
    }

    match prompt {
        Some(prompt) => match ask(&mut chat, prompt, &ctrl_c, &mut io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Stopped) => {
                note!("(stopped)");
                ExitCode::from(130)
            }
            Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(failure) => {
                target.report(&failure);
                ExitCode::FAILURE
            }
        },
        None => interactive(
            &mut chat,
            &target,
            &ctrl_c,
            &mut io::stdin().lock(),
            &mut io::stdout(),
        ),
    }
}

/// What the chat talks to, for messages.
struct Target {
    provider: Provider,
    model: String,
    base_url: String,
    base_from: BaseFrom,
    has_key: bool,
}

/// Where the base URL came from, for the fix a failure to reach it suggests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BaseFrom {
    /// `--base-url`.
    Option,
    /// The provider's `*_BASE_URL` variable.
    Variable,
    /// The provider's API (no option, no variable).
    Default,
    /// The offline demo server.
    Demo,
}

impl Target {
    /// Prints a failure as one line on stderr, and a hint when a missing or wrong key, or a
    /// server that cannot be reached, is the likely cause.
    fn report(&self, failure: &Failure) {
        let (error, hint) = self.describe(failure);
        note!("{error}");
        if let Some(hint) = hint {
            note!("{hint}");
        }
    }

    /// The `error: ` line of a failure, and the `hint: ` line if there is one.
    fn describe(&self, failure: &Failure) -> (String, Option<String>) {
        let message = match failure {
            Failure::Stopped => "stopped".to_string(),
            Failure::Chat(e @ (Error::Transport(_) | Error::Io(_) | Error::Timeout(_)))
            | Failure::Cut(e @ (Error::Transport(_) | Error::Io(_) | Error::Timeout(_))) => {
                format!("{e} (server: {})", self.base_url)
            }
            // The library's message names a setting of its own; this program has none.
            Failure::Chat(Error::UnexpectedContentType { content_type, .. }) => format!(
                "the server at {} answered {}, not a stream of the answer (text/event-stream)",
                self.base_url,
                content_type.as_deref().unwrap_or("without a content type")
            ),
            // The library's message names its client builder; this program reads the variable.
            Failure::Chat(Error::MissingApiKey { var }) => format!(
                "no API key for {}: set {var} (an empty or blank key counts as none)",
                self.base_url
            ),
            Failure::Chat(e) | Failure::Cut(e) => e.to_string(),
            Failure::Output(e) => format!("writing the answer: {e}"),
        };
        // Servers pretty-print their JSON error bodies; keep the message on one line.
        let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
        let hint = match failure {
            Failure::Chat(Error::Status(e)) => key_hint(e.status, &e.body, self.has_key)
                .map(|hint| match self.has_key {
                    // The key is set: it is the wrong one, not a missing one.
                    true => format!(
                        "hint: {hint}: check the key in {} (mistyped, revoked, or another \
                         provider's)",
                        self.provider.key_vars()
                    ),
                    false => format!("hint: {hint}: set {}", self.provider.key_vars()),
                })
                .or_else(|| (e.status == 404).then(|| self.not_found_hint(&e.body))?),
            Failure::Chat(Error::UnexpectedContentType { content_type, .. }) => {
                Some(self.not_a_stream_hint(content_type))
            }
            Failure::Chat(Error::Protocol(_)) => self.protocol_hint(),
            Failure::Chat(e) => unreachable(e).map(|unresolved| self.reach_hint(unresolved)),
            Failure::Stopped | Failure::Output(_) | Failure::Cut(_) => None,
        };
        (format!("error: {one_line}"), hint)
    }

    /// The fix for a 404 from a server of the user's choice: for an OpenAI-compatible one, a
    /// base URL without its `/v1` (a server's root, such as Ollama's `http://localhost:11434`,
    /// is the usual mistake) or with more after it (an endpoint pasted whole); for another
    /// provider, a server that may speak another API. `None` for the provider's own API, an
    /// OpenAI-compatible base URL that ends in `/v1`, or an answer about the model.
    fn not_found_hint(&self, body: &str) -> Option<String> {
        let openai_protocol = matches!(
            self.provider,
            Provider::OpenAI | Provider::Mistral | Provider::Together
        );
        let base = self.base_url.trim_end_matches('/');
        if body.to_ascii_lowercase().contains("model") {
            return None;
        }
        let setting = match self.base_from {
            BaseFrom::Option => "--base-url".to_string(),
            BaseFrom::Variable => self.provider.base_var().to_string(),
            BaseFrom::Default | BaseFrom::Demo => return None,
        };
        if !openai_protocol {
            return Some(format!(
                "hint: nothing answers {}'s API path under {base}: check {setting}, and if the \
                 server speaks OpenAI's API (most local servers do), give --provider openai",
                self.provider.name()
            ));
        }
        if base.ends_with("/v1") {
            return None;
        }
        // The chat endpoint itself, which the client sends to as it is: not a missing `/v1`.
        if base.ends_with("/chat/completions") {
            return Some(format!(
                "hint: nothing answers chat completions at {base}: check {setting}"
            ));
        }
        // The API's root is the base up to its `/v1`, not a path under it.
        let root = match base.find("/v1/") {
            Some(at) => &base[..at + 3],
            None => &format!("{base}/v1"),
        };
        Some(format!(
            "hint: OpenAI-compatible servers answer under /v1: set {setting} to {root}"
        ))
    }

    /// What an answer that is not an event stream says about the base URL.
    fn not_a_stream_hint(&self, content_type: &Option<String>) -> String {
        let html = content_type
            .as_deref()
            .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("text/html"));
        match html {
            true => format!(
                "hint: a web page answered: {} is not the API's base URL (or a proxy or login \
                 page stands in front of it)",
                self.base_url
            ),
            false => format!(
                "hint: check that {} is the base URL of a chat API for --provider {}, and that \
                 it streams its answers",
                self.base_url,
                self.provider.name()
            ),
        }
    }

    /// What a stream the provider's decoder could not read, before any of the answer, says
    /// about a server of the user's choice: most often it speaks another provider's API (most
    /// local servers speak OpenAI's) and `--provider` names the wrong one. `None` for the
    /// provider's own API and the demo.
    fn protocol_hint(&self) -> Option<String> {
        if matches!(self.base_from, BaseFrom::Default | BaseFrom::Demo) {
            return None;
        }
        let openai = matches!(
            self.provider,
            Provider::OpenAI | Provider::Mistral | Provider::Together
        );
        // The other APIs this program speaks; most local servers speak OpenAI's.
        let apis = [
            Provider::OpenAI,
            Provider::Anthropic,
            Provider::Gemini,
            Provider::Cohere,
        ];
        let others: Vec<&str> = (apis.into_iter())
            .filter(|p| *p != self.provider && !(openai && *p == Provider::OpenAI))
            .map(Provider::name)
            .collect();
        let (last, rest) = others.split_last()?;
        let local = if openai {
            ""
        } else {
            " (most local servers speak OpenAI's)"
        };
        Some(format!(
            "hint: {} did not stream as {}'s API does: if it speaks another{local}, give its \
             --provider ({} or {last})",
            self.base_url,
            self.provider.name(),
            rest.join(", ")
        ))
    }

    /// The fix for a server that could not be reached, by where its URL came from, and whether
    /// its host name did not resolve (`unresolved`: a typo more often than a server down).
    fn reach_hint(&self, unresolved: bool) -> String {
        let base = &self.base_url;
        let var = self.provider.base_var();
        match self.base_from {
            BaseFrom::Option | BaseFrom::Variable if unresolved => format!(
                "hint: the host name of {base} does not resolve: check its spelling (or this \
                 machine's DNS)"
            ),
            BaseFrom::Option => format!(
                "hint: nothing answers at {base}: start the server there, or give --base-url \
                 the URL of one that runs"
            ),
            BaseFrom::Variable => format!(
                "hint: nothing answers at {base}, the URL in {var}: start the server there, \
                 set {var} to the URL of one that runs, or unset it to use the provider's API"
            ),
            BaseFrom::Default => format!(
                "hint: {base} cannot be reached from here: check the network connection, or \
                 set HTTPS_PROXY if a proxy is needed"
            ),
            BaseFrom::Demo => format!(
                "hint: the offline demo server at {base} stopped answering: run the command \
                 again"
            ),
        }
    }
}

/// Whether `e` says the server could not be reached at all (not a proxy's: the message says so
/// itself): `Some(true)` when its name did not resolve, `Some(false)` when the connection was
/// refused.
fn unreachable(e: &Error) -> Option<bool> {
    let Error::Io(io) = e else { return None };
    let text = io.to_string();
    if text.contains("proxy") {
        return None;
    }
    let unresolved = text.starts_with("resolve ");
    let refused = io.kind() == io::ErrorKind::ConnectionRefused || text.starts_with("connect to ");
    (unresolved || refused).then_some(unresolved)
}

/// What an error answer says about the API key, if it is about the key: from its status and
/// body, since providers differ. OpenAI, Anthropic and Cohere answer a missing or wrong key with
/// 401; Gemini answers a wrong key with 400 (`API_KEY_INVALID`, "API key not valid") and a
/// missing one with 403. A 400 or 403 with a key set is about the key only when its body says so.
fn key_hint(status: u16, body: &str, has_key: bool) -> Option<&'static str> {
    let body = body.to_ascii_lowercase();
    let body_blames_key = [
        "api_key_invalid",
        "api key not valid",
        "invalid api key",
        "invalid_api_key",
        "incorrect api key",
        "invalid x-api-key",
        "invalid api token",
    ]
    .iter()
    .any(|words| body.contains(words));
    match (status, has_key) {
        (401 | 403, false) => Some("this server wants an API key"),
        (400, false) if body_blames_key => Some("this server wants an API key"),
        (401, true) => Some("the server refused the API key"),
        (400 | 403, true) if body_blames_key => Some("the server refused the API key"),
        _ => None,
    }
}

/// The multi-turn chat, on a terminal or from a pipe: the user's lines from `input`, the
/// answers to `out`.
fn interactive(
    chat: &mut Conversation,
    target: &Target,
    ctrl_c: &CtrlC,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> ExitCode {
    // The `> ` marker and the keys are for a person at a terminal, not for a script's pipe.
    let marker = io::stdin().is_terminal();
    let keys = if marker {
        "/exit or Ctrl-D quits, Ctrl-C stops an answer"
    } else {
        "a message per line; /exit or the end of the input quits"
    };
    note!(
        "Chatting with {} ({}) at {}. /reset forgets the history, {keys}.",
        target.model,
        target.provider.name(),
        target.base_url
    );
    // A turn that failed fails the run (at its end), so that a script can tell.
    let mut failed = false;
    let end = |failed: bool| {
        if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    };
    let mut bytes = Vec::new();
    loop {
        if marker {
            note_inline!("> ");
        }
        bytes.clear();
        match input.read_until(b'\n', &mut bytes) {
            Ok(0) => {
                note!();
                return end(failed);
            }
            Ok(_) => {}
            Err(e) => {
                note!("error: reading stdin: {e}");
                return ExitCode::FAILURE;
            }
        }
        // A line in another encoding (a terminal set to Latin-1) is refused, not the chat.
        let Ok(line) = std::str::from_utf8(&bytes) else {
            failed = true;
            note!(
                "error: that line is not UTF-8 text, so it was not sent: set the terminal's \
                 encoding to UTF-8 and type it again"
            );
            continue;
        };
        let text = match line.trim() {
            "" => continue,
            "/exit" | "/quit" => return end(failed),
            "/reset" => {
                chat.reset();
                note!("(history cleared)");
                continue;
            }
            // A message that starts with `/` (a path): its first `/` doubled.
            escaped if escaped.starts_with("//") => &escaped[1..],
            command if command.starts_with('/') => {
                note!(
                    "unknown command {command}: /reset forgets the history, /exit quits, and a \
                     message that starts with / starts with // (//usr/bin sends /usr/bin)"
                );
                continue;
            }
            text => text,
        };
        match ask(chat, text.to_string(), ctrl_c, out) {
            Ok(()) => {}
            Err(Failure::Stopped) => {
                note!("(stopped; the history is as it was before this question)");
            }
            Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return end(failed),
            Err(failure @ Failure::Output(_)) => {
                target.report(&failure);
                return ExitCode::FAILURE;
            }
            // The history is unchanged: the same message can be sent again.
            Err(failure) => {
                failed = true;
                target.report(&failure);
            }
        }
    }
}

/// Sends one message and writes the answer to `out` as it streams, until its end or until
/// Ctrl-C stops it (`Failure::Stopped`: the exchange stays out of the history).
fn ask(
    chat: &mut Conversation,
    text: String,
    ctrl_c: &CtrlC,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let answer = ctrl_c.answer();
    let pending = chat.start(text)?;
    // Taken before the wait: Ctrl-C stops the exchange while the server thinks, too.
    if !answer.streaming(pending.stop_handle()) {
        return Err(Failure::Stopped);
    }
    let mut reply = pending.result()?;
    let mut at_line_start = true;
    let outcome = (|| -> Result<(), Failure> {
        let mut shown = false;
        for piece in reply.by_ref() {
            let piece = piece.map_err(|e| match Failure::from(e) {
                Failure::Chat(e) if shown => Failure::Cut(e),
                failure => failure,
            })?;
            shown |= !piece.is_empty();
            out.write_all(piece.as_bytes())?;
            out.flush()?;
            at_line_start = piece.ends_with('\n');
        }
        Ok(())
    })();
    if !at_line_start {
        writeln!(out)?;
        out.flush()?;
    }
    outcome?;
    let stream = reply.chat();
    if let Some(refusal) = stream.refusal() {
        writeln!(out, "[refused] {refusal}")?;
    }
    // The sources a web search or grounding cited, each once (by its URL, else its title):
    // `[1] title url`.
    let mut sources = Vec::new();
    for citation in stream.citations() {
        let (title, url) = (citation.title.as_deref(), citation.url.as_deref());
        let Some(source) = url.or(title) else {
            continue;
        };
        if !sources.contains(&source) {
            sources.push(source);
            let words: Vec<&str> = [title, url].into_iter().flatten().collect();
            writeln!(out, "[{}] {}", sources.len(), words.join(" "))?;
        }
    }
    for call in stream.tool_calls() {
        note!(
            "note: the model asked for a tool call, which this example does not run: {}({})",
            call.name,
            call.arguments
        );
    }
    if stream.stopped_at_token_limit() {
        note!("note: the answer stopped at the model's token limit.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::time::Duration;

    use ureq_futures::llm::{AnthropicClient, Conversation, OpenAIClient};

    use ureq_futures::Error;

    use super::{ask, interactive, key_hint, BaseFrom, CtrlC, Failure, Press, Provider, Target};
    use crate::demo::DemoServer;

    /// Stdout for `ask` that presses Ctrl-C as the first piece of the answer arrives.
    struct PressOnFirstPiece<'a> {
        ctrl_c: &'a CtrlC,
        text: Vec<u8>,
    }

    impl Write for PressOnFirstPiece<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.text.is_empty() {
                assert_eq!(
                    self.ctrl_c.pressed(),
                    Press::Stopped,
                    "no answer in progress"
                );
            }
            self.text.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn ctrl_c_stops_the_answer_and_the_chat_goes_on_with_its_history() {
        let server = DemoServer::start(Duration::from_millis(20)).unwrap();
        let client = OpenAIClient::builder("demo", None)
            .base_url(server.base_url())
            .env(|_| None)
            .build();
        let mut chat = Conversation::new(client);
        let first = chat.send_with("what is a thread pool?", |_| {}).unwrap();
        assert_eq!(chat.messages().len(), 2);

        let ctrl_c = CtrlC::default();
        let mut out = PressOnFirstPiece {
            ctrl_c: &ctrl_c,
            text: Vec::new(),
        };
        let stopped = ask(&mut chat, "and a channel?".into(), &ctrl_c, &mut out);
        assert!(matches!(stopped, Err(Failure::Stopped)));
        // Part of the answer was written, not all of it (the whole one is as long as the first).
        let written = String::from_utf8(out.text).unwrap();
        assert!(!written.is_empty());
        assert!(written.len() < first.len(), "{written}");
        // The stopped exchange is not in the history; the one before it is.
        assert_eq!(chat.messages().len(), 2);
        assert_eq!(
            ctrl_c.pressed(),
            Press::Quit,
            "back at the prompt, Ctrl-C quits"
        );

        let mut out = Vec::new();
        ask(&mut chat, "and a channel?".into(), &ctrl_c, &mut out)
            .unwrap_or_else(|_| panic!("the chat did not go on"));
        assert_eq!(chat.messages().len(), 4);
        assert!(String::from_utf8(out).unwrap().contains("message 2"));
    }

    /// Ctrl-C before the server answers used to have the answer dropped only once it started
    /// (a silent server held the chat up to the client's timeout): it stops the wait now.
    #[test]
    fn ctrl_c_before_the_answer_starts_stops_the_wait() {
        use std::io::Read;
        use support::{Reply, TestServer};
        // Reads the request, then never answers; ends when the client goes away.
        let server = TestServer::start(|_| {
            Reply::custom(|socket| while socket.read(&mut [0; 1024]).is_ok_and(|n| n > 0) {})
        });
        let client = OpenAIClient::builder("demo", None)
            .base_url(server.url())
            .env(|_| None)
            .build();
        let mut chat = Conversation::new(client);
        let ctrl_c = CtrlC::default();
        std::thread::scope(|s| {
            s.spawn(|| {
                let start = std::time::Instant::now();
                while server.request_count() == 0 && start.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                assert_eq!(
                    ctrl_c.pressed(),
                    Press::Stopped,
                    "the wait was not stoppable"
                );
            });
            let mut out = Vec::new();
            let stopped = ask(&mut chat, "hello".into(), &ctrl_c, &mut out);
            assert!(matches!(stopped, Err(Failure::Stopped)));
            assert!(out.is_empty());
        });
        assert!(chat.messages().is_empty(), "the stopped question was kept");
        assert_eq!(ctrl_c.pressed(), Press::Quit, "back at the prompt");
    }

    #[test]
    fn the_sources_an_answer_cites_are_listed_once_each_after_it() {
        use support::{Reply, TestServer};
        let annotation = |page: &str, title: &str| {
            let citation = format!(r#"{{"url":"https://example.com/{page}","title":"{title}"}}"#);
            format!(r#"{{"type":"url_citation","url_citation":{citation}}}"#)
        };
        let chunk = |delta: String| format!("data: {{\"choices\":[{{\"delta\":{delta}}}]}}\n\n");
        let body = chunk(r#"{"content":"The moon."}"#.to_string())
            + &chunk(format!(r#"{{"annotations":[{}]}}"#, annotation("tides", "Tides")))
            // The same page again, under another title: listed once.
            + &chunk(format!(r#"{{"annotations":[{}]}}"#, annotation("tides", "Tides (2)")))
            + &chunk(format!(r#"{{"annotations":[{}]}}"#, annotation("moon", "Moon")))
            + "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
            + "data: [DONE]\n\n";
        let server =
            TestServer::start(move |_| Reply::ok(body.clone()).content_type("text/event-stream"));
        let client = OpenAIClient::builder("search", None)
            .base_url(server.url())
            .env(|_| None)
            .build();
        let mut chat = Conversation::new(client);
        let mut out = Vec::new();
        ask(&mut chat, "tides?".into(), &CtrlC::default(), &mut out)
            .unwrap_or_else(|_| panic!("no answer"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "The moon.\n[1] Tides https://example.com/tides\n[2] Moon https://example.com/moon\n"
        );
    }

    #[test]
    fn help_and_an_answer_into_a_closed_pipe_end_quietly() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run);
        let test = "tests::help_and_an_answer_into_a_closed_pipe_end_quietly";
        let within = Duration::from_secs(30);
        let help = run(test, &["--help"], None, Stdout::Closed, within);
        assert_eq!((help.code, help.stderr.as_str()), (Some(0), ""));
        let answer = run(test, &["--demo", "hi"], None, Stdout::Closed, within);
        assert_eq!(answer.code, Some(0), "{}", answer.stderr);
        assert_eq!(answer.stderr.lines().count(), 1, "{}", answer.stderr);
        assert!(
            answer.stderr.starts_with("note: --demo: "),
            "{}",
            answer.stderr
        );
        // Read, the usage is whole.
        let help = run(test, &["-h"], None, Stdout::Read, within);
        assert_eq!(
            (help.code, help.stdout),
            (Some(0), format!("{}\n", super::USAGE))
        );
    }

    /// Without a prompt, a pipe's lines are the chat's, as a person's at a terminal: a script
    /// drives the chat, `/reset` included.
    #[test]
    fn without_a_prompt_each_line_of_a_pipe_is_a_message() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run);
        let test = "tests::without_a_prompt_each_line_of_a_pipe_is_a_message";
        let input = b"Hi\nHow are you\n/reset\nBye\n/exit\nnot sent\n";
        let ran = run(
            test,
            &["--demo"],
            Some(input),
            Stdout::Read,
            Duration::from_secs(60),
        );
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let said: Vec<&str> = ran
            .stdout
            .lines()
            .filter_map(|l| Some(&l[l.find("You said")?..]))
            .collect();
        assert_eq!(
            said,
            [
                "You said \"Hi\" (1 word), message 1 of this conversation.",
                "You said \"How are you\" (3 words), message 2 of this conversation. Before \
                 that you said \"Hi\": the history is sent with every turn.",
                "You said \"Bye\" (1 word), message 1 of this conversation.",
            ],
            "{}",
            ran.stdout
        );
        assert!(ran.stderr.contains("(history cleared)"), "{}", ran.stderr);
        assert!(
            ran.stderr
                .contains("a message per line; /exit or the end of the input quits"),
            "{}",
            ran.stderr
        );
        assert!(
            !ran.stderr.contains("> "),
            "no prompt marker on a pipe: {}",
            ran.stderr
        );
        // A turn that fails fails the run, at its end, so that a script can tell.
        let url = support::closed_port_url();
        let ran = run(
            test,
            &["--base-url", &url],
            Some(b"Hi\n/exit\n"),
            Stdout::Read,
            Duration::from_secs(60),
        );
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_not_sent_and_the_chat_goes_on() {
        let server = DemoServer::start(Duration::from_millis(1)).unwrap();
        let client = OpenAIClient::builder("demo", None)
            .base_url(server.base_url())
            .env(|_| None)
            .build();
        let mut chat = Conversation::new(client);
        let target = Target {
            provider: Provider::OpenAI,
            model: "demo".into(),
            base_url: server.base_url().to_string(),
            base_from: BaseFrom::Demo,
            has_key: false,
        };
        // A line typed on a Latin-1 terminal, then one in UTF-8.
        let mut input = &b"caf\xe9?\nwhat is a caf\xc3\xa9?\n"[..];
        let mut out = Vec::new();
        let code = interactive(&mut chat, &target, &CtrlC::default(), &mut input, &mut out);
        // The chat went on, and the line it could not send fails the run at its end.
        assert_eq!(code, std::process::ExitCode::FAILURE);
        // Only the second line was sent, and answered.
        assert_eq!(chat.messages().len(), 2);
        let answer = String::from_utf8(out).unwrap();
        assert!(answer.contains("\"what is a café?\""), "{answer}");
    }

    /// A usage error says what was wrong in three lines, the first the error.
    #[test]
    fn a_usage_error_is_short_and_names_the_help() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run);
        let test = "tests::a_usage_error_is_short_and_names_the_help";
        let ran = run(
            test,
            &["--temperature", "warm", "hi"],
            None,
            Stdout::Read,
            Duration::from_secs(20),
        );
        assert_eq!(ran.code, Some(2));
        assert_eq!(ran.stdout, "");
        assert_eq!(
            ran.stderr,
            "error: --temperature: not a number: warm\nusage: chat [OPTIONS] [PROMPT...]\n\
             `chat --help` lists the options\n"
        );
    }

    #[test]
    fn an_empty_model_or_base_url_is_a_usage_error() {
        let parse = |args: &[&str]| super::parse_args(args.iter().map(|a| a.to_string())).err();
        assert_eq!(
            parse(&["--base-url=", "hi"]).as_deref(),
            Some("--base-url needs a value")
        );
        assert_eq!(
            parse(&["--base-url", " ", "hi"]).as_deref(),
            Some("--base-url needs a value")
        );
        assert_eq!(
            parse(&["--model", "", "hi"]).as_deref(),
            Some("--model needs a value")
        );
        // An empty system prompt is one.
        assert_eq!(parse(&["--system=", "hi"]), None);
        // A short option that is not `-h` is a usage error, not a prompt; after `--` it is one.
        let unknown = parse(&["-m", "gpt-4o", "hi"]).unwrap_or_default();
        assert!(unknown.starts_with("unknown option -m"), "{unknown}");
        assert_eq!(parse(&["--", "-m", "hi"]), None);
        assert_eq!(parse(&["-", "hi"]), None);
        assert_eq!(
            parse(&["--model", "m", "--base-url", "http://h/v1", "hi"]),
            None
        );
        // An option where a value should be, or a prompt of blanks (`chat "$UNSET"`), is not
        // taken for one.
        assert_eq!(
            parse(&["--model", "--demo", "hi"]).as_deref(),
            Some("--model needs a value, and --demo is an option (write --model=--demo for a value that starts with --)")
        );
        assert_eq!(parse(&["--system=--terse", "hi"]), None);
        assert_eq!(parse(&["--temperature", "-1", "hi"]), None);
        for blank in [&[""][..], &["", " "]] {
            assert_eq!(
                parse(blank).as_deref(),
                Some("the prompt is empty: give one, or none for the chat")
            );
        }
        // A base URL without its scheme: the fix names the option.
        assert_eq!(
            parse(&["--base-url", "localhost:8765/v1", "hi"]).as_deref(),
            Some("--base-url localhost:8765/v1 has no scheme: write --base-url http://localhost:8765/v1")
        );
    }

    /// How the chat's first message to `client` fails (it must).
    fn failure_of(client: impl ureq_futures::llm::ChatClient + 'static) -> Failure {
        let mut chat = Conversation::new(client);
        match ask(&mut chat, "hi".into(), &CtrlC::default(), &mut Vec::new()) {
            Err(failure @ Failure::Chat(_)) => failure,
            _ => panic!("the request did not fail"),
        }
    }

    #[test]
    fn a_server_that_cannot_be_reached_gets_the_fix_for_where_its_url_came_from() {
        // A base URL on 127.0.0.1 where nothing listens.
        let base = format!("{}/v1", support::closed_port_url());
        let client = OpenAIClient::builder("m", None)
            .base_url(base.as_str())
            .env(|_| None)
            .retry(ureq_futures::RetryPolicy::none())
            .build();
        let failure = failure_of(client);
        let target = |base_from| Target {
            provider: Provider::OpenAI,
            model: "m".into(),
            base_url: base.clone(),
            base_from,
            has_key: true,
        };
        let (error, hint) = target(BaseFrom::Variable).describe(&failure);
        assert!(
            error.starts_with(&format!(
                "error: io: connect to {} failed",
                base.trim_start_matches("http://").trim_end_matches("/v1")
            )),
            "{error}"
        );
        assert_eq!(
            hint.unwrap(),
            format!(
                "hint: nothing answers at {base}, the URL in OPENAI_BASE_URL: start the server \
                 there, set OPENAI_BASE_URL to the URL of one that runs, or unset it to use the \
                 provider's API"
            )
        );
        let (_, hint) = target(BaseFrom::Option).describe(&failure);
        assert_eq!(
            hint.unwrap(),
            format!(
                "hint: nothing answers at {base}: start the server there, or give --base-url the \
                 URL of one that runs"
            )
        );
        // Other failures get no such hint.
        let (_, hint) = target(BaseFrom::Variable).describe(&Failure::Chat(Error::Cancelled));
        assert_eq!(hint, None);
    }

    #[test]
    fn a_name_that_does_not_resolve_and_a_refused_key_get_hints_of_their_own() {
        let target = |base_from, has_key| Target {
            provider: Provider::OpenAI,
            model: "m".into(),
            base_url: "http://api.exmaple.com/v1".into(),
            base_from,
            has_key,
        };
        let io = io::Error::other("resolve api.exmaple.com:80 failed for url: ...");
        let unresolved = Failure::Chat(Error::Io(io));
        let (_, hint) = target(BaseFrom::Option, true).describe(&unresolved);
        assert_eq!(
            hint.as_deref(),
            Some(
                "hint: the host name of http://api.exmaple.com/v1 does not resolve: check its \
                 spelling (or this machine's DNS)"
            )
        );
        // A key that was set and refused is to be checked, not set.
        let server = support::TestServer::start(|_| {
            support::Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#)
        });
        let client = OpenAIClient::builder("m", None)
            .base_url(server.url())
            .api_key("sk-wrong")
            .env(|_| None)
            .build();
        let failure = failure_of(client);
        let hint = |has_key| target(BaseFrom::Option, has_key).describe(&failure).1;
        let set = hint(true).unwrap_or_default();
        assert!(
            set.starts_with(
                "hint: the server refused the API key: check the key in OPENAI_API_KEY"
            ),
            "{set}"
        );
        let missing = hint(false).unwrap_or_default();
        assert!(missing.ends_with(": set OPENAI_API_KEY"), "{missing}");
    }

    #[test]
    fn a_missing_key_names_the_variable_to_set_not_the_builder() {
        let client = OpenAIClient::builder("m", None)
            .base_url("https://api.openai.com/v1")
            .env(|_| None)
            .build();
        let failure = failure_of(client);
        assert!(matches!(
            failure,
            Failure::Chat(Error::MissingApiKey { .. })
        ));
        let target = Target {
            provider: Provider::OpenAI,
            model: "m".into(),
            base_url: "https://api.openai.com/v1".into(),
            base_from: BaseFrom::Variable,
            has_key: false,
        };
        let (message, _) = target.describe(&failure);
        assert_eq!(
            message,
            "error: no API key for https://api.openai.com/v1: set OPENAI_API_KEY (an empty or \
             blank key counts as none)"
        );
    }

    #[test]
    fn an_answer_that_is_not_a_stream_names_the_server_and_what_it_sent() {
        let target = Target {
            provider: Provider::OpenAI,
            model: "m".into(),
            base_url: "http://127.0.0.1:8080/v1".into(),
            base_from: BaseFrom::Option,
            has_key: false,
        };
        let failure = |ct: Option<&str>| {
            Failure::Chat(Error::UnexpectedContentType {
                content_type: ct.map(String::from),
                url: "http://127.0.0.1:8080/v1/chat/completions".into(),
            })
        };
        let (error, hint) = target.describe(&failure(Some("text/html; charset=utf-8")));
        assert_eq!(
            error,
            "error: the server at http://127.0.0.1:8080/v1 answered text/html; charset=utf-8, \
             not a stream of the answer (text/event-stream)"
        );
        assert_eq!(
            hint.unwrap(),
            "hint: a web page answered: http://127.0.0.1:8080/v1 is not the API's base URL (or a \
             proxy or login page stands in front of it)"
        );
        let (error, hint) = target.describe(&failure(None));
        assert_eq!(
            error,
            "error: the server at http://127.0.0.1:8080/v1 answered without a content type, not \
             a stream of the answer (text/event-stream)"
        );
        assert_eq!(
            hint.unwrap(),
            "hint: check that http://127.0.0.1:8080/v1 is the base URL of a chat API for \
             --provider openai, and that it streams its answers"
        );
    }

    /// A server that speaks OpenAI's API, asked with `--provider anthropic`: the stream is not
    /// what Anthropic's decoder reads, and the hint names the option to change.
    #[test]
    fn a_stream_of_another_providers_api_gets_the_fix() {
        // An OpenAI stream of "Hi", then `then`.
        let openai_stream = |then: &'static str| {
            support::TestServer::start(move |_| {
                let chunk = r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
                support::Reply::ok(format!("data: {chunk}\n\n{then}"))
                    .content_type("text/event-stream")
            })
        };
        let server = openai_stream("data: [DONE]\n\n");
        let client = AnthropicClient::builder("m", None)
            .base_url(server.url())
            .env(|_| None)
            .build();
        let failure = failure_of(client);
        let target = |base_from| Target {
            provider: Provider::Anthropic,
            model: "m".into(),
            base_url: server.url(),
            base_from,
            has_key: false,
        };
        let (_, hint) = target(BaseFrom::Option).describe(&failure);
        assert_eq!(
            hint.unwrap(),
            format!(
                "hint: {} did not stream as anthropic's API does: if it speaks another (most \
                 local servers speak OpenAI's), give its --provider (openai, gemini or cohere)",
                server.url()
            )
        );
        // From the provider's own API, the same failure is no choice of the user's.
        assert_eq!(target(BaseFrom::Default).describe(&failure).1, None);
        // A stream that fails after part of the answer came speaks the provider's API.
        let cut = openai_stream("data: {broken\n\n");
        let client = OpenAIClient::builder("m", None)
            .base_url(cut.url())
            .env(|_| None)
            .build();
        let mut chat = Conversation::new(client);
        let mut shown = Vec::new();
        let failure = ask(&mut chat, "hi".into(), &CtrlC::default(), &mut shown).unwrap_err();
        assert_eq!(String::from_utf8_lossy(&shown), "Hi\n");
        assert!(matches!(&failure, Failure::Cut(Error::Protocol(_))));
        assert_eq!(target(BaseFrom::Option).describe(&failure).1, None);
    }

    #[test]
    fn a_404_from_a_base_url_without_v1_gets_the_fix() {
        let target = |base_url: &str, base_from| Target {
            provider: Provider::OpenAI,
            model: "m".into(),
            base_url: base_url.into(),
            base_from,
            has_key: false,
        };
        let ollama = target("http://localhost:11434", BaseFrom::Variable);
        assert_eq!(
            ollama.not_found_hint("404 page not found").as_deref(),
            Some("hint: OpenAI-compatible servers answer under /v1: set OPENAI_BASE_URL to http://localhost:11434/v1")
        );
        let option = target("http://localhost:8080/", BaseFrom::Option);
        assert_eq!(
            option.not_found_hint("").as_deref(),
            Some("hint: OpenAI-compatible servers answer under /v1: set --base-url to http://localhost:8080/v1")
        );
        // With /v1, or about the model, the 404 is something else.
        let v1 = target("http://localhost:11434/v1", BaseFrom::Variable);
        assert_eq!(v1.not_found_hint("404 page not found"), None);
        let model = r#"{"error":{"message":"model \"llama9\" not found, try pulling it first"}}"#;
        assert_eq!(ollama.not_found_hint(model), None);
        // An endpoint pasted whole: the root is the part up to /v1.
        let whole = target("http://localhost:8080/v1/completions", BaseFrom::Option);
        assert_eq!(
            whole.not_found_hint("").as_deref(),
            Some("hint: OpenAI-compatible servers answer under /v1: set --base-url to http://localhost:8080/v1")
        );
        // The endpoint itself, sent to as it is: the root would make the same request.
        let endpoint = target(
            "http://localhost:8080/v1/chat/completions",
            BaseFrom::Option,
        );
        assert_eq!(
            endpoint.not_found_hint("").as_deref(),
            Some("hint: nothing answers chat completions at http://localhost:8080/v1/chat/completions: check --base-url")
        );
        // Another provider's client at a server of the user's choice: the server may speak
        // OpenAI's API. At the provider's own API, no hint.
        let chosen = Some("hint: nothing answers anthropic's API path under http://localhost:8080: check --base-url, and if the server speaks OpenAI's API (most local servers do), give --provider openai");
        for (base_url, base_from, hint) in [
            ("http://localhost:8080", BaseFrom::Option, chosen),
            ("https://api.anthropic.com", BaseFrom::Default, None),
        ] {
            let anthropic = Target {
                provider: Provider::Anthropic,
                ..target(base_url, base_from)
            };
            assert_eq!(
                anthropic
                    .not_found_hint("Not found: /v1/messages")
                    .as_deref(),
                hint
            );
        }
    }

    const WANTS: Option<&str> = Some("this server wants an API key");
    const REFUSED: Option<&str> = Some("the server refused the API key");

    #[test]
    fn a_wrong_key_gets_a_hint_on_every_provider() {
        let openai = r#"{"error": {"message": "Incorrect API key provided: sk-xx.", "type": "invalid_request_error", "code": "invalid_api_key"}}"#;
        let anthropic = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        let cohere = r#"{"id":"1b3","message":"invalid api token"}"#;
        let gemini = r#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}"#;
        for (status, body) in [
            (401, openai),
            (401, anthropic),
            (401, cohere),
            (400, gemini),
        ] {
            assert_eq!(key_hint(status, body, true), REFUSED, "{body}");
        }
        // Gemini's key error is found by its words alone too.
        let words_only = r#"{"error": {"code": 400, "message": "API key not valid."}}"#;
        assert_eq!(key_hint(400, words_only, true), REFUSED);
    }

    #[test]
    fn a_missing_key_gets_a_hint() {
        let gemini = r#"{"error": {"code": 403, "message": "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "status": "PERMISSION_DENIED"}}"#;
        assert_eq!(key_hint(403, gemini, false), WANTS);
        assert_eq!(key_hint(401, "", false), WANTS);
        assert_eq!(
            key_hint(400, r#"{"reason": "API_KEY_INVALID"}"#, false),
            WANTS
        );
    }

    #[test]
    fn other_errors_get_none() {
        let bad_request = r#"{"error": {"code": 400, "message": "Invalid JSON payload received.", "status": "INVALID_ARGUMENT"}}"#;
        assert_eq!(key_hint(400, bad_request, true), None);
        assert_eq!(key_hint(400, bad_request, false), None);
        let region = r#"{"error": {"code": "unsupported_country_region_territory", "message": "Country, region, or territory not supported"}}"#;
        assert_eq!(key_hint(403, region, true), None);
        assert_eq!(key_hint(429, "rate limited", true), None);
        assert_eq!(key_hint(500, "invalid api key", true), None);
    }

    /// Into a closed stderr (`chat 2>&1 | head -1`), notes and errors go nowhere and the
    /// answer still comes, in both modes; it panicked at its first note.
    #[test]
    fn a_closed_stderr_ends_nothing() {
        use support::program::{as_program, run_with_stderr_closed};
        as_program(super::run);
        let test = "tests::a_closed_stderr_ends_nothing";
        let within = Duration::from_secs(60);
        for (args, input) in [
            (&["--demo", "hi"][..], None),
            (&["--demo"], Some(&b"hi\n"[..])),
        ] {
            let ran = run_with_stderr_closed(test, args, input, within);
            assert_eq!(ran.code, Some(0), "{args:?}: {}", ran.stdout);
            assert!(
                ran.stdout.contains("You said \"hi\""),
                "{args:?}: {}",
                ran.stdout
            );
        }
    }

    /// A password or key in the base URL (user-info, query) is never shown: the library's error
    /// hid it and the server's URL after it showed it whole, as did the hint and the chat's
    /// first line. `//` sends a message that starts with `/`.
    #[test]
    fn a_secret_in_the_base_url_is_not_shown_and_a_message_may_start_with_a_slash() {
        use support::program::{as_program, run, Stdout};
        as_program(super::run);
        let test =
            "tests::a_secret_in_the_base_url_is_not_shown_and_a_message_may_start_with_a_slash";
        let port = support::closed_port_url();
        let port = port.trim_start_matches("http://");
        let url = format!("http://user:hunter2@{port}/v1?api-key=s3cr3t");
        let within = Duration::from_secs(60);
        for input in [None, Some(&b"hi\n"[..])] {
            let args: &[&str] = match input {
                None => &["--base-url", &url, "hi"],
                Some(_) => &["--base-url", &url],
            };
            let ran = run(test, args, input, Stdout::Read, within);
            assert_eq!(ran.code, Some(1), "{}", ran.stderr);
            assert!(
                ran.stderr.contains("nothing answers at http://<redacted>@"),
                "{}",
                ran.stderr
            );
            // Each wait before another attempt is told.
            let told = ran.stderr.matches("trying again in").count();
            assert_eq!(told, 2, "{}", ran.stderr);
            for secret in ["hunter2", "s3cr3t"] {
                assert!(!ran.stderr.contains(secret), "{}", ran.stderr);
            }
        }
        let ran = run(
            test,
            &["--demo"],
            Some(b"//usr/bin?\n/usr\n"),
            Stdout::Read,
            within,
        );
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        assert!(
            ran.stdout.contains("You said \"/usr/bin?\""),
            "{}",
            ran.stdout
        );
        assert_eq!(ran.stdout.matches("You said").count(), 1, "{}", ran.stdout);
        assert!(
            ran.stderr.contains("unknown command /usr"),
            "{}",
            ran.stderr
        );
    }
}
