//! What a timeout error says: which limit ran out, the setting that sets it and its value, the
//! phase, `host:port` and the redacted URL.
//!
//! ureq reports only the kind of a timeout ([`Timeout::PerRead`], [`Timeout::Global`]...). Its
//! kinds map to the settings a user changes: the session's or request's `timeout` (ureq's
//! global budget for a buffered request; every phase before the headers for a stream),
//! `read_timeout` (ureq's per-read limit) and `connect_timeout` (ureq's connect limit). A kind
//! no setting of ours sets comes from an agent given with
//! [`SessionBuilder::agent`](crate::SessionBuilder::agent), and is named as ureq's
//! `ConfigBuilder` method (`timeout_recv_body`).

use std::fmt;
use std::time::{Duration, Instant};

pub use ureq::Timeout;

use crate::phase::Phase;
use crate::run::Budget;

/// The details of an [`Error::Timeout`](crate::Error::Timeout): which of ureq's timeouts ran
/// out, the setting that set it and its value, and where.
///
/// Its message is one line, for example:
///
/// ```text
/// timeout: no byte for 30 s (read_timeout) while reading the body from 127.0.0.1:8080 (1,024 of 4,096 bytes read) for url: http://127.0.0.1:8080/file
/// timeout: connect to 10.0.0.1:443 did not finish within 5 s (connect_timeout) for url: https://10.0.0.1/v1
/// timeout: whole request over 10 s (timeout) while reading the body from example.com:443 (52,000 bytes read) for url: https://example.com/big?<redacted>
/// ```
///
/// | `kind` | `setting` |
/// |---|---|
/// | [`Timeout::PerRead`] | `read_timeout` (the session's, or the request's) |
/// | [`Timeout::Global`] | `timeout` of a buffered request: connect to the end of the body, redirects and retries included; also a stream's `timeout` when its phases before the headers add up past it and its watchdog ends it (`... before the response from host:port`; `... while sending the request to host:port` when the connection's last I/O wrote the request) |
/// | [`Timeout::Connect`] | `connect_timeout` (the TCP connect and the TLS handshake), or `timeout` when a stream's budget ran out first |
/// | [`Timeout::Resolve`], [`Timeout::SendRequest`], [`Timeout::SendBody`], [`Timeout::RecvResponse`] | `timeout` of a stream, [`send_streaming`](crate::RequestBuilder::send_streaming) or [`download`](crate::RequestBuilder::download): every phase until the headers |
/// | any other | the given agent's own (`timeout_per_call`, `timeout_recv_body`...) |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ureq_futures::{Error, FuturesSession, Timeout};
///
/// // A server that accepts the connection and never answers.
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let session = FuturesSession::builder().read_timeout(Duration::from_millis(100)).build();
/// let err = session.get(format!("http://{addr}/slow")).send().result().unwrap_err();
/// let Error::Timeout(t) = &err else { panic!("{err}") };
/// assert_eq!(t.kind, Timeout::PerRead);
/// assert_eq!(t.setting, Some("read_timeout"));
/// assert_eq!(t.limit, Some(Duration::from_millis(100)));
/// assert_eq!(
///     err.to_string(),
///     format!("timeout: no byte for 100 ms (read_timeout) while waiting for the response from {addr} for url: http://{addr}/slow")
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutError {
    /// Which of ureq's timeouts ran out.
    pub kind: Timeout,
    /// The setting that set the limit, named as the builder method that changes it:
    /// `"timeout"`, `"read_timeout"` or `"connect_timeout"` (on
    /// [`SessionBuilder`](crate::SessionBuilder), [`RequestBuilder`](crate::RequestBuilder) or
    /// an LLM client's builder), or, for a limit of an agent given with
    /// [`SessionBuilder::agent`](crate::SessionBuilder::agent), ureq's `ConfigBuilder` method
    /// (`"timeout_recv_body"`). `None` when not known (a timeout of ureq's agent used directly
    /// in a [`submit`](crate::FuturesSession::submit) closure).
    pub setting: Option<&'static str>,
    /// The setting's value: the whole budget, even when a retry or redirect had used part of it.
    pub limit: Option<Duration>,
    /// The URL, redacted as [`redact_url`](crate::redact_url) shows it; empty when not known.
    pub url: String,
    /// `host:port`; empty when not known.
    target: String,
    phase: Option<Phase>,
    /// The proxy's `host:port`, for a connect made through it.
    proxy: Option<String>,
    /// A connect timeout of an `https://` URL that came after the TCP connection was made: in
    /// the TLS handshake.
    handshake: bool,
    /// How much of the body had come, for a timeout while reading it: `10 of 1,000 bytes read`.
    pub(crate) body_read: Option<String>,
    /// For a request refused at the rate limiter: how long until its turn would have come.
    pub(crate) turn_in: Option<Duration>,
    /// For an LLM chat given up unsent because every worker waited for a stream's reader: its
    /// session's `max_workers`.
    pub(crate) no_worker: Option<usize>,
    /// How many attempts the retry policy made and why no more, when it made more than one or
    /// wanted to (see [`phase::after_attempts`](crate::phase::after_attempts)).
    pub(crate) retried: Option<String>,
}

impl TimeoutError {
    /// A timeout of `kind`, not yet placed nor named.
    pub(crate) fn new(kind: Timeout) -> TimeoutError {
        TimeoutError {
            kind,
            setting: None,
            limit: None,
            url: String::new(),
            target: String::new(),
            phase: None,
            proxy: None,
            handshake: false,
            body_read: None,
            turn_in: None,
            no_worker: None,
            retried: None,
        }
    }

    /// Records that a connect timeout came in the TLS handshake, the TCP connection made; with
    /// `connecting`, a `read_timeout` too (it ran out in the handshake, not in the wait for a
    /// response: no request was written yet).
    pub(crate) fn in_handshake(&mut self, connecting: bool) {
        self.handshake = self.is_of_the_connect(connecting);
    }

    /// Records that the connect went through the proxy at `target` (`host:port`): it covers
    /// the connection to the proxy and the tunnel the proxy opens. `connecting`: as for
    /// [`in_handshake`](Self::in_handshake).
    pub(crate) fn through_proxy(&mut self, target: String, connecting: bool) {
        if self.is_of_the_connect(connecting) {
            self.proxy = Some(target);
        }
    }

    /// Whether this timeout ran out while the connection was made: a connect timeout, or a
    /// `read_timeout` before a request was written (`connecting`).
    fn is_of_the_connect(&self, connecting: bool) -> bool {
        self.kind == Timeout::Connect || (connecting && self.kind == Timeout::PerRead)
    }

    /// Whether [`place`](Self::place) has run.
    pub(crate) fn is_placed(&self) -> bool {
        !self.url.is_empty()
    }

    /// Records where the timeout happened. `in_body`: while reading the body; otherwise before
    /// the response was in, and the phase follows from the kind.
    pub(crate) fn place(&mut self, target: String, url: String, in_body: bool) {
        self.phase = Some(match self.kind {
            _ if in_body => Phase::Body,
            Timeout::Resolve => Phase::Resolve,
            Timeout::Connect => Phase::Connect,
            Timeout::SendRequest | Timeout::SendBody | Timeout::Await100 | Timeout::PerWrite => {
                Phase::Send
            }
            Timeout::PerRead if self.handshake => Phase::Tls,
            Timeout::PerRead if self.proxy.is_some() => Phase::Connect,
            Timeout::PerRead | Timeout::RecvResponse => Phase::Response,
            // A whole-exchange budget may run out in any phase before the response.
            _ => crate::transport::budget_phase(),
        });
        self.target = target;
        self.url = url;
    }
}

impl TimeoutError {
    /// Records where the timeout happened, in a `phase` that its kind does not tell.
    pub(crate) fn place_in(&mut self, phase: Phase, target: String, url: String) {
        self.phase = Some(phase);
        self.target = target;
        self.url = url;
    }

    /// Whether this is a request's budget that its turn at the rate limiter would come past
    /// (see [`phase::budget_spent`](crate::phase::budget_spent)): no retry gets an earlier turn.
    pub(crate) fn is_turn_past_budget(&self) -> bool {
        self.phase == Some(Phase::Turn)
    }

    /// The phase it fired in, once placed.
    pub(crate) fn phase(&self) -> Option<Phase> {
        self.phase
    }
}

/// The timeouts in force for one request and the settings they come from: what
/// [`name`](TimeoutSettings::name) reads to say which setting fired.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeoutSettings {
    /// The request's `timeout` (its own, else the session's).
    pub(crate) timeout: Option<Duration>,
    /// When the `timeout` runs out.
    pub(crate) deadline: Option<Instant>,
    /// The request's `read_timeout` (its own, else the session's).
    pub(crate) read_timeout: Option<Duration>,
    /// The agent's own limits, which apply where the settings above do not.
    pub(crate) agent: ureq::config::Timeouts,
    pub(crate) agent_per_read: Option<Duration>,
    pub(crate) agent_per_write: Option<Duration>,
    /// Whether the session built the agent (its connect limit is then `connect_timeout`).
    pub(crate) own_agent: bool,
    pub(crate) budget: Budget,
}

impl TimeoutSettings {
    /// Whether the request's budget has run out: its deadline, if it has one, has come.
    pub(crate) fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The settings of a request sent with `agent`.
    pub(crate) fn new(
        agent: &ureq::Agent,
        own_agent: bool,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
        read_timeout: Option<Duration>,
        budget: Budget,
    ) -> TimeoutSettings {
        let config = agent.config();
        TimeoutSettings {
            timeout,
            deadline,
            read_timeout,
            agent: config.timeouts(),
            agent_per_read: config.timeout_per_read(),
            agent_per_write: config.timeout_per_write(),
            own_agent,
            budget,
        }
    }

    /// `e` with the setting that fired and its value, when it is a timeout not yet named.
    pub(crate) fn name(&self, e: crate::Error) -> crate::Error {
        match e {
            crate::Error::Timeout(mut t) if t.setting.is_none() => {
                if let Some((setting, limit)) = self.source(t.kind) {
                    t.setting = Some(setting);
                    t.limit = Some(limit);
                }
                crate::Error::Timeout(t)
            }
            other => other,
        }
    }

    /// The setting behind a timeout of `kind`, and its value.
    fn source(&self, kind: Timeout) -> Option<(&'static str, Duration)> {
        let agent = self.agent;
        let ours = |name, value: Option<Duration>| value.map(|v| (name, v));
        // A stream's `timeout` sets every limit before the headers to what is left of it.
        let stream_budget = self.budget == Budget::Stream && self.timeout.is_some();
        match kind {
            Timeout::PerRead => ours("read_timeout", self.read_timeout)
                .or_else(|| ours("timeout_per_read", self.agent_per_read)),
            Timeout::PerWrite => ours("timeout_per_write", self.agent_per_write),
            Timeout::Global => {
                ours("timeout", self.timeout).or_else(|| ours("timeout_global", agent.global))
            }
            Timeout::Connect => {
                let budget_spent = self.deadline.is_some_and(|d| Instant::now() >= d);
                let connect = if self.own_agent {
                    "connect_timeout"
                } else {
                    "timeout_connect"
                };
                if stream_budget && (budget_spent || agent.connect.is_none()) {
                    ours("timeout", self.timeout)
                } else {
                    ours(connect, agent.connect)
                }
            }
            Timeout::Resolve if stream_budget => ours("timeout", self.timeout),
            Timeout::SendRequest if stream_budget => ours("timeout", self.timeout),
            Timeout::SendBody if stream_budget => ours("timeout", self.timeout),
            Timeout::RecvResponse if stream_budget => ours("timeout", self.timeout),
            Timeout::Resolve => ours("timeout_resolve", agent.resolve),
            Timeout::SendRequest => ours("timeout_send_request", agent.send_request),
            Timeout::SendBody => ours("timeout_send_body", agent.send_body),
            Timeout::RecvResponse => ours("timeout_recv_response", agent.recv_response),
            Timeout::RecvBody => ours("timeout_recv_body", agent.recv_body),
            Timeout::PerCall => ours("timeout_per_call", agent.per_call),
            _ => None,
        }
    }
}

/// A duration as people write it: `30 s`, `1.5 s`, `200 ms`, `2 min`.
pub(crate) struct Human(pub(crate) Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        // Past a century (`Duration::MAX` is 584,942,417,355 years), in years: the seconds of
        // a float would print as 18446744073709551616, one more than there are.
        const YEAR: u64 = 365 * 24 * 3600;
        if secs >= 100 * YEAR {
            return write!(f, "{} years", secs / YEAR);
        }
        if d.subsec_nanos() == 0 && secs >= 120 && secs.is_multiple_of(60) {
            write!(f, "{} min", secs / 60)
        } else if secs > 0 {
            // Up to milliseconds, without trailing zeros.
            let text = format!("{:.3}", d.as_secs_f64());
            write!(f, "{} s", text.trim_end_matches('0').trim_end_matches('.'))
        } else if d.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{} ms", d.subsec_millis())
        } else {
            write!(f, "{d:?}")
        }
    }
}

/// So that a timeout taken out of [`Error::Timeout`](crate::Error::Timeout) can be boxed or
/// returned with `?` as an error of its own. It has no source: its message says which setting
/// fired, where and after how long.
impl std::error::Error for TimeoutError {}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.target.as_str();
        // " to host:port", or nothing when it is not known.
        let to = |word: &str| {
            if target.is_empty() {
                String::new()
            } else {
                format!(" {word} {target}")
            }
        };
        let host = target.rsplit_once(':').map_or(target, |(host, _)| host);
        // Whether the words below say where it happened.
        let mut placed = true;
        match (self.setting, self.limit) {
            (Some(setting), Some(limit)) => {
                let limit = Human(limit);
                match self.kind {
                    Timeout::Connect if self.handshake => write!(
                        f,
                        "TLS handshake{} did not finish within {limit} ({setting}; the TCP \
                         connection was made)",
                        to("with")
                    )?,
                    Timeout::Connect => {
                        write!(f, "connect{}", to("to"))?;
                        if let Some(proxy) = &self.proxy {
                            write!(f, " through the proxy {proxy}")?;
                        }
                        write!(f, " did not finish within {limit} ({setting})")?
                    }
                    Timeout::Resolve if !host.is_empty() => write!(
                        f,
                        "resolve {host} did not finish within {limit} ({setting})"
                    )?,
                    Timeout::SendRequest => write!(
                        f,
                        "sending the request{} did not finish within {limit} ({setting})",
                        to("to")
                    )?,
                    Timeout::SendBody | Timeout::Await100 => write!(
                        f,
                        "sending the body{} did not finish within {limit} ({setting})",
                        to("to")
                    )?,
                    Timeout::PerWrite => write!(
                        f,
                        "a write{} did not finish within {limit} ({setting})",
                        to("to")
                    )?,
                    Timeout::RecvResponse => {
                        write!(f, "no response{} within {limit} ({setting})", to("from"))?
                    }
                    Timeout::PerRead => {
                        placed = false;
                        write!(f, "no byte for {limit} ({setting})")?
                    }
                    Timeout::RecvBody => {
                        placed = false;
                        write!(f, "body not read within {limit} ({setting})")?
                    }
                    Timeout::PerCall => {
                        placed = false;
                        write!(f, "exchange over {limit} ({setting})")?
                    }
                    Timeout::Global if self.no_worker.is_some() => write!(
                        f,
                        "no worker of the session's {} (max_workers) came free within {limit} \
                         ({setting}), each waiting for the reader of its open stream, so the \
                         request was not sent: a stream holds its worker until it is read to its \
                         end or dropped; read or drop the streams open, or give the client a \
                         session with more workers (ClientBuilder::session)",
                        self.no_worker.unwrap_or_default()
                    )?,
                    // Refused before the budget ran out: waiting would only have ended in it.
                    Timeout::Global if self.phase == Some(Phase::Turn) && !target.is_empty() => {
                        write!(f, "the rate limiter's turn for {target} comes ")?;
                        if let Some(wait) = self.turn_in {
                            write!(f, "in {}, ", Human(wait))?;
                        }
                        write!(f, "after the end of the {limit} budget ({setting})")?
                    }
                    _ => {
                        placed = false;
                        write!(f, "whole request over {limit} ({setting})")?
                    }
                }
            }
            _ => {
                placed = false;
                write!(f, "{}", self.kind)?
            }
        }
        if !placed && !target.is_empty() {
            match self.phase {
                Some(Phase::Resolve) => write!(f, " while resolving {host}")?,
                Some(Phase::Connect) => {
                    write!(f, " while connecting to {target}")?;
                    if let Some(proxy) = &self.proxy {
                        write!(f, " through the proxy {proxy}")?;
                    }
                }
                Some(Phase::Tls) => write!(f, " in the TLS handshake with {target}")?,
                Some(Phase::Send) => write!(f, " while sending the request to {target}")?,
                Some(Phase::Response) => {
                    write!(f, " while waiting for the response from {target}")?
                }
                Some(Phase::Body) => {
                    write!(f, " while reading the body from {target}")?;
                    if let Some(read) = &self.body_read {
                        write!(f, " ({read})")?;
                    }
                }
                Some(Phase::Turn) => {
                    write!(f, " while waiting for the rate limiter's turn for {target}")?
                }
                Some(Phase::Redirect) => write!(f, " while following the redirect from {target}")?,
                Some(Phase::Request) | None => write!(f, " before the response from {target}")?,
            }
        }
        if !self.url.is_empty() {
            write!(f, " for url: {}", self.url)?;
        }
        if let Some(retried) = &self.retried {
            write!(f, " ({retried})")?;
        }
        // A port that serves plain HTTP and waits for a request's head never answers a
        // ClientHello.
        if let Some(rest) = self.url.strip_prefix("https://").filter(|_| self.handshake) {
            write!(
                f,
                " (a server that speaks plain HTTP on that port never answers the handshake: \
                 if so, use http://{rest})"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn settings(budget: Budget, own_agent: bool) -> TimeoutSettings {
        TimeoutSettings {
            timeout: Some(Duration::from_secs(10)),
            deadline: None,
            read_timeout: Some(Duration::from_secs(30)),
            agent: ureq::config::Timeouts {
                connect: Some(Duration::from_secs(5)),
                recv_body: Some(Duration::from_secs(90)),
                ..ureq::Agent::new_with_defaults().config().timeouts()
            },
            agent_per_read: None,
            agent_per_write: None,
            own_agent,
            budget,
        }
    }

    fn named(s: &TimeoutSettings, kind: Timeout) -> (Option<&'static str>, Option<Duration>) {
        match s.name(Error::timeout(kind)) {
            Error::Timeout(t) => (t.setting, t.limit),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_kind_is_named_as_the_setting_that_sets_it() {
        let secs = |n| Some(Duration::from_secs(n));
        let buffered = settings(Budget::Buffered, true);
        let cases = [
            (Timeout::PerRead, (Some("read_timeout"), secs(30))),
            (Timeout::Global, (Some("timeout"), secs(10))),
            (Timeout::Connect, (Some("connect_timeout"), secs(5))),
            (Timeout::RecvBody, (Some("timeout_recv_body"), secs(90))),
            (Timeout::PerCall, (None, None)),
        ];
        for (kind, expected) in cases {
            assert_eq!(named(&buffered, kind), expected, "{kind:?}");
        }
        // A stream's budget sets every phase before the headers.
        let stream = settings(Budget::Stream, true);
        for kind in [
            Timeout::Resolve,
            Timeout::SendRequest,
            Timeout::SendBody,
            Timeout::RecvResponse,
        ] {
            assert_eq!(
                named(&stream, kind),
                (Some("timeout"), secs(10)),
                "{kind:?}"
            );
        }
        // Its connect limit is the connect timeout, unless the budget ran out first.
        assert_eq!(
            named(&stream, Timeout::Connect),
            (Some("connect_timeout"), secs(5))
        );
        let spent = TimeoutSettings {
            deadline: Some(Instant::now()),
            ..stream
        };
        assert_eq!(named(&spent, Timeout::Connect), (Some("timeout"), secs(10)));
        // A given agent's limits carry ureq's names.
        let given = TimeoutSettings {
            read_timeout: None,
            agent_per_read: Some(ms(700)),
            ..settings(Budget::Buffered, false)
        };
        assert_eq!(
            named(&given, Timeout::PerRead),
            (Some("timeout_per_read"), Some(ms(700)))
        );
        assert_eq!(
            named(&given, Timeout::Connect),
            (Some("timeout_connect"), secs(5))
        );
    }

    #[test]
    fn the_message_names_the_limit_its_value_the_phase_and_the_url() {
        let s = settings(Budget::Buffered, true);
        let placed = |kind, in_body| {
            let mut t = TimeoutError::new(kind);
            t.place(
                "h:8080".into(),
                "http://h:8080/f?<redacted>".into(),
                in_body,
            );
            s.name(Error::Timeout(Box::new(t))).to_string()
        };
        let url = "for url: http://h:8080/f?<redacted>";
        assert_eq!(
            placed(Timeout::PerRead, true),
            format!(
                "timeout: no byte for 30 s (read_timeout) while reading the body from h:8080 {url}"
            )
        );
        assert_eq!(
            placed(Timeout::PerRead, false),
            format!("timeout: no byte for 30 s (read_timeout) while waiting for the response from h:8080 {url}")
        );
        assert_eq!(
            placed(Timeout::Connect, false),
            format!("timeout: connect to h:8080 did not finish within 5 s (connect_timeout) {url}")
        );
        assert_eq!(
            placed(Timeout::Global, false),
            format!(
                "timeout: whole request over 10 s (timeout) before the response from h:8080 {url}"
            )
        );
        // Neither placed nor named: ureq's words.
        assert_eq!(
            Error::timeout(Timeout::PerRead).to_string(),
            "timeout: per read"
        );
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            (Duration::from_secs(30), "30 s"),
            (ms(1500), "1.5 s"),
            (ms(200), "200 ms"),
            (Duration::from_secs(120), "2 min"),
            (Duration::from_secs(90), "90 s"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::MAX, "584942417355 years"),
        ];
        for (d, text) in cases {
            assert_eq!(Human(d).to_string(), text);
        }
    }
}
