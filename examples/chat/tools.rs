//! A tool loop: the model calls a local calculator until it can answer.
//!
//! ```text
//! cargo run --example tools -- "What is (12 + 30) * 2?"
//! cargo run --example tools -- --provider anthropic "What is 1024 / 4 - 6?"
//! ```
//!
//! `--provider openai|anthropic|gemini|mistral|together|cohere` (default `openai`). With
//! neither the provider's key nor its base URL variable set (`OPENAI_BASE_URL` for a local
//! server such as Ollama, which needs no key), an offline demo server on 127.0.0.1 (the chat
//! example's) plays the model: it calls the calculator with the prompt's arithmetic, then
//! reports the result.

#[macro_use]
#[path = "../shared/note.rs"]
mod note;
#[path = "../shared/demo.rs"]
mod demo;

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use ureq_futures::llm::{
    AnthropicClient, ChatClient, ChatRequest, Client, ClientBuilder, CohereClient, GeminiClient,
    Message, MistralClient, OpenAIClient, Protocol, TogetherClient, Tool, ToolCall,
};

#[path = "../shared/print_out.rs"]
mod print_out;
use print_out::print_out;

/// Rounds of tool calls before giving up.
const MAX_ROUNDS: usize = 5;

const USAGE: &str = "usage: tools [--provider NAME] [PROMPT...]

  --provider NAME   openai (default), anthropic, gemini, mistral, together or cohere
  PROMPT            a question that needs arithmetic (default: \"What is (12 + 30) * 2?\")";

/// The provider and the prompt from the command line; `None` for `--help`.
fn options(args: impl Iterator<Item = String>) -> Result<Option<(String, String)>, String> {
    let mut args = args.peekable();
    let mut provider = "openai".to_string();
    let mut words = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--provider" => provider = args.next().ok_or("--provider needs a name")?,
            "--" => words.extend(args.by_ref()),
            _ if arg.starts_with("--provider=") => provider = arg["--provider=".len()..].into(),
            // `-provider`, a typo, is no prompt either (a lone `-` is a word).
            _ if arg.starts_with('-') && arg != "-" => {
                return Err(format!(
                    "unknown option {arg:?} (a prompt that starts with '-' goes after --)"
                ))
            }
            _ => words.push(arg),
        }
    }
    let prompt = match words.is_empty() {
        true => "What is (12 + 30) * 2?".to_string(),
        false => words.join(" "),
    };
    Ok(Some((provider, prompt)))
}

fn main() -> ExitCode {
    note::text_args().map_or_else(|code| code, run_program)
}

/// The program, with its arguments (without the program's name).
fn run_program(args: Vec<String>) -> ExitCode {
    let (provider, prompt) = match options(args.into_iter()) {
        Ok(Some(options)) => options,
        Ok(None) => return print_out(USAGE),
        Err(message) => {
            note!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (client, demo) = match client(&provider) {
        Ok(pair) => pair,
        Err(message) => {
            note!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if demo {
        note!("note: no key for {provider}: an offline demo server plays the model.");
    }
    match run(client.as_ref(), &prompt) {
        Ok(answer) => print_out(&answer),
        Err(e) => {
            note!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The provider's client from the environment, or the demo's when it has no key.
fn client(provider: &str) -> Result<(Box<dyn ChatClient>, bool), String> {
    let client = match provider {
        "openai" => configured(OpenAIClient::builder("gpt-4o-mini", None)),
        "anthropic" => configured(AnthropicClient::builder("claude-haiku-4-5", None)),
        "gemini" => configured(GeminiClient::builder("gemini-2.5-flash", None)),
        "mistral" => configured(MistralClient::builder("mistral-small-latest", None)),
        "together" => configured(TogetherClient::builder(
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            None,
        )),
        "cohere" => configured(CohereClient::builder("command-a-03-2025", None)),
        other => {
            return Err(format!(
                "unknown provider {other:?}: use openai, anthropic, gemini, mistral, together or \
                 cohere"
            ))
        }
    };
    if let Some(client) = client {
        return Ok((client, false));
    }
    let server = demo::DemoServer::start(Duration::from_millis(5))
        .map_err(|e| format!("could not start the demo server: {e}"))?;
    let client = OpenAIClient::builder("demo", None)
        .base_url(server.base_url())
        .env(|_| None)
        .build();
    Ok((Box::new(client), true))
}

/// The client, if it has a key or its base URL variable is set (a local server such as Ollama
/// needs no key).
fn configured<P: Protocol>(builder: ClientBuilder<P>) -> Option<Box<dyn ChatClient>> {
    let client = builder.build();
    let local = std::env::var_os(Client::<P>::BASE_URL_VAR).is_some_and(|url| !url.is_empty());
    (client.has_api_key() || local).then(|| Box::new(client) as Box<dyn ChatClient>)
}

/// Asks `prompt` with the calculator offered, runs the calls the model makes and sends their
/// results back, until the model answers in words.
fn run(client: &dyn ChatClient, prompt: &str) -> Result<String, Box<dyn std::error::Error>> {
    let calculator = Tool::new(
        "calculate",
        "Evaluates an arithmetic expression of numbers, + - * / and parentheses.",
        json!({
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "such as (1 + 2) * 3"}},
            "required": ["expression"],
        }),
    );
    let mut request = ChatRequest::new()
        .system("Use the calculate tool for arithmetic; answer in one sentence.")
        .user(prompt)
        .tool(calculator);
    for _ in 0..MAX_ROUNDS {
        let answer = client.complete(&request)?;
        if answer.tool_calls.is_empty() {
            return Ok(answer.text);
        }
        request.push(answer.message());
        for call in &answer.tool_calls {
            let message = match answer_call(call) {
                Ok(value) => {
                    note!("tool: {}({}) = {value}", call.name, call.arguments);
                    Message::tool_result(call, value.to_string())
                }
                Err(why) => {
                    note!("tool: {}({}) failed: {why}", call.name, call.arguments);
                    // Flagged as a failure, so the model can try again.
                    Message::tool_error(call, why)
                }
            };
            request.push(message);
        }
    }
    Err(format!("no answer after {MAX_ROUNDS} rounds of tool calls").into())
}

/// What the calculator makes of `call`, or why it made nothing: the model may name a tool it
/// was not offered, or send arguments that are not the schema's.
fn answer_call(call: &ToolCall) -> Result<f64, String> {
    if call.name != "calculate" {
        return Err(format!(
            "there is no tool {:?}: the one tool is calculate",
            call.name
        ));
    }
    let arguments: Value = serde_json::from_str(&call.arguments)
        .map_err(|e| format!("the arguments are not JSON ({e})"))?;
    let expression =
        (arguments["expression"].as_str()).ok_or("the arguments have no \"expression\" string")?;
    calculate(expression).ok_or_else(|| format!("cannot evaluate {expression:?}"))
}

/// Evaluates `+ - * /` and parentheses over decimal numbers; `None` for anything else, and for
/// parentheses and signs nested deeper than [`MAX_DEPTH`] (the expression comes from the model).
fn calculate(expression: &str) -> Option<f64> {
    let tokens: Vec<char> = expression.chars().filter(|c| !c.is_whitespace()).collect();
    let mut at = 0;
    let value = sum(&tokens, &mut at, 0)?;
    (at == tokens.len() && value.is_finite()).then_some(value)
}

/// The deepest nesting of parentheses and signs [`calculate`] takes: each level is a call on
/// the stack, which a few hundred thousand would overflow.
const MAX_DEPTH: usize = 100;

fn sum(t: &[char], at: &mut usize, depth: usize) -> Option<f64> {
    let mut value = product(t, at, depth)?;
    while let Some(&op @ ('+' | '-')) = t.get(*at) {
        *at += 1;
        let rhs = product(t, at, depth)?;
        value = if op == '+' { value + rhs } else { value - rhs };
    }
    Some(value)
}

fn product(t: &[char], at: &mut usize, depth: usize) -> Option<f64> {
    let mut value = factor(t, at, depth)?;
    while let Some(&op @ ('*' | '/')) = t.get(*at) {
        *at += 1;
        let rhs = factor(t, at, depth)?;
        value = if op == '*' { value * rhs } else { value / rhs };
    }
    Some(value)
}

fn factor(t: &[char], at: &mut usize, depth: usize) -> Option<f64> {
    if depth > MAX_DEPTH {
        return None;
    }
    match t.get(*at)? {
        '-' => {
            *at += 1;
            factor(t, at, depth + 1).map(|v| -v)
        }
        '(' => {
            *at += 1;
            let value = sum(t, at, depth + 1)?;
            (t.get(*at) == Some(&')')).then(|| *at += 1)?;
            Some(value)
        }
        _ => {
            let start = *at;
            while t.get(*at).is_some_and(|c| c.is_ascii_digit() || *c == '.') {
                *at += 1;
            }
            t[start..*at].iter().collect::<String>().parse().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_and_an_answer_into_a_closed_pipe_end_quietly() {
        use support::program::{as_program, run, Stdout};
        as_program(run_program);
        let test = "tests::help_and_an_answer_into_a_closed_pipe_end_quietly";
        let within = Duration::from_secs(30);
        let help = run(test, &["--help"], None, Stdout::Closed, within);
        assert_eq!((help.code, help.stderr.as_str()), (Some(0), ""));
        let answer = run(test, &["What is 6 * 7?"], None, Stdout::Closed, within);
        assert_eq!(answer.code, Some(0), "{}", answer.stderr);
        assert!(!answer.stderr.contains("panicked"), "{}", answer.stderr);
        // Read, the answer is whole.
        let answer = run(test, &["What is 6 * 7?"], None, Stdout::Read, within);
        assert_eq!(answer.code, Some(0), "{}", answer.stderr);
        assert!(answer.stdout.contains("42"), "{}", answer.stdout);
        // Into a closed stderr (`tools 2>&1 | head -1`), the answer still comes: the demo's
        // note panicked the program (exit 101).
        let answer =
            support::program::run_with_stderr_closed(test, &["What is 6 * 7?"], None, within);
        assert_eq!(answer.code, Some(0), "{}", answer.stdout);
        assert!(answer.stdout.contains("42"), "{}", answer.stdout);
    }

    #[test]
    fn the_calculator_refuses_nesting_too_deep_for_its_stack() {
        let deep = 200_000;
        assert_eq!(calculate(&format!("{}1", "-".repeat(deep))), None);
        let parens = format!("{}1{}", "(".repeat(deep), ")".repeat(deep));
        assert_eq!(calculate(&parens), None);
        // Within the limit, nesting is arithmetic as usual.
        assert_eq!(calculate(&format!("{}7", "-".repeat(100))), Some(7.0));
        assert_eq!(
            calculate(&format!("{}7{}", "(".repeat(99), ")".repeat(99))),
            Some(7.0)
        );
    }

    /// A call of a tool not offered, or with arguments not the schema's, is an error the model
    /// reads; it was evaluated as a calculation of "" (`shell()` failed: `cannot evaluate ""`).
    #[test]
    fn a_call_the_calculator_cannot_take_says_why() {
        let call = |name: &str, arguments: &str| ToolCall {
            name: name.into(),
            arguments: arguments.into(),
            ..ToolCall::default()
        };
        assert_eq!(
            answer_call(&call("calculate", r#"{"expression": "6 * 7"}"#)),
            Ok(42.0)
        );
        assert_eq!(
            answer_call(&call("shell", r#"{"command": "ls"}"#)),
            Err("there is no tool \"shell\": the one tool is calculate".into())
        );
        let not_json = answer_call(&call("calculate", "6 * 7")).unwrap_err();
        assert!(
            not_json.starts_with("the arguments are not JSON ("),
            "{not_json}"
        );
        assert_eq!(
            answer_call(&call("calculate", r#"{"expr": "6 * 7"}"#)),
            Err("the arguments have no \"expression\" string".into())
        );
        assert_eq!(
            answer_call(&call("calculate", r#"{"expression": "6 *"}"#)),
            Err("cannot evaluate \"6 *\"".into())
        );
    }

    #[test]
    fn the_calculator_follows_precedence_and_refuses_nonsense() {
        assert_eq!(calculate("(12 + 30) * 2"), Some(84.0));
        assert_eq!(calculate("2 + 3 * 4 - -1"), Some(15.0));
        assert_eq!(calculate("1 / 4"), Some(0.25));
        assert_eq!(calculate("1 / 0"), None);
        assert_eq!(calculate("2 +"), None);
        assert_eq!(calculate("(1"), None);
    }

    #[test]
    fn the_documented_prompts_are_arithmetic_the_calculator_takes() {
        assert_eq!(calculate("1024 / 4 - 6"), Some(250.0));
    }

    #[test]
    fn options_take_the_provider_in_either_form_and_refuse_unknown_ones() {
        let parse = |line: &str| options(line.split_whitespace().map(String::from));
        let pair = |p: &str, q: &str| Ok(Some((p.to_string(), q.to_string())));
        assert_eq!(
            parse("--provider gemini What is 1 + 1?"),
            pair("gemini", "What is 1 + 1?")
        );
        assert_eq!(parse("--provider=cohere 2 * 3"), pair("cohere", "2 * 3"));
        assert_eq!(parse(""), pair("openai", "What is (12 + 30) * 2?"));
        assert_eq!(parse("-- --provider x"), pair("openai", "--provider x"));
        assert_eq!(parse("--help"), Ok(None));
        assert!(parse("--provider").unwrap_err().contains("needs a name"));
        assert!(parse("--model x")
            .unwrap_err()
            .contains("unknown option \"--model\""));
        // A typo with one dash is no prompt; a lone `-` is a word.
        assert!(parse("-provider anthropic")
            .unwrap_err()
            .contains("unknown option \"-provider\""));
        assert_eq!(parse("1 - 2"), pair("openai", "1 - 2"));
    }

    #[test]
    fn the_loop_runs_the_calculator_against_the_demo_server() {
        let server = demo::DemoServer::start(Duration::ZERO).unwrap();
        let client = OpenAIClient::builder("demo", None)
            .base_url(server.base_url())
            .env(|_| None)
            .build();
        let answer = run(&client, "What is (12 + 30) * 2?").unwrap();
        assert!(answer.contains("84"), "{answer}");
    }
}
