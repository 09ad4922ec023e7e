//! `Conversation`: a chat's history, with each reply streamed and remembered once complete.

use std::fmt;

use super::{ChatClient, ChatRequest, ChatStream, Message, PendingChat};
use crate::sse::StopHandle;
use crate::Error;

/// A multi-turn chat with any [`ChatClient`]: the port of tinychat's chat handler.
///
/// It keeps the history (after an optional system prompt) and sends all of it with each new
/// user message. An exchange joins the history only when its reply has streamed to the end:
/// if the request fails, the stream fails, or the [`ReplyStream`] is dropped early, the history
/// is as it was before [`send`](Conversation::send), and the same message can be sent again. So
/// it is after a reply without text (a thinking model that hit its token limit, a filtered
/// answer), as in python-genai's chats: Gemini and Anthropic refuse a turn without text in a
/// later request.
///
/// # Examples
///
/// A made-up client that answers with the number of messages it was sent:
///
/// ```
/// use ureq_futures::llm::{ChatClient, ChatEvent, ChatStream, Conversation, Message};
/// use ureq_futures::Error;
///
/// struct Counter;
///
/// impl ChatClient for Counter {
///     fn stream_chat(&self, messages: &[Message]) -> Result<ChatStream, Error> {
///         let (tx, rx) = ureq_futures::crossbeam_channel::unbounded();
///         let text = format!("{} messages", messages.len());
///         tx.send(Ok(vec![ChatEvent::Text(text), ChatEvent::Done])).ok();
///         Ok(ChatStream::from_receiver(rx))
///     }
/// }
///
/// let mut chat = Conversation::new(Counter).with_system_prompt("Count.");
/// for piece in chat.send("one")? {
///     print!("{}", piece?);
/// }
/// let reply = chat.send_with("two", |piece| print!("{piece}"))?;
/// assert_eq!(reply, "4 messages"); // system, user, assistant, user
/// assert_eq!(chat.messages().len(), 5);
/// chat.reset();
/// assert_eq!(chat.messages(), [Message::system("Count.")]);
/// # Ok::<(), Error>(())
/// ```
pub struct Conversation {
    client: Box<dyn ChatClient>,
    /// The system prompt (if any) first, then the user and assistant messages in turn.
    messages: Vec<Message>,
}

impl fmt::Debug for Conversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conversation")
            .field("system_prompt", &self.system_prompt())
            .field("messages", &self.messages.len())
            .finish()
    }
}

impl Conversation {
    /// An empty conversation with `client`, without a system prompt. To share one client
    /// between conversations, pass an `Arc` of it or a reference with a `'static` lifetime.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use std::sync::Arc;
    /// use ureq_futures::llm::Conversation;
    ///
    /// let client = Arc::new(client);
    /// let mut alice = Conversation::new(Arc::clone(&client)); // two conversations, one client
    /// let bob = Conversation::new(client);
    /// assert_eq!(alice.send_with("Hi, I'm Alice.", |_| {})?, "Hello!");
    /// assert_eq!((alice.messages().len(), bob.messages().len()), (2, 0));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn new(client: impl ChatClient + 'static) -> Self {
        Conversation {
            client: Box::new(client),
            messages: Vec::new(),
        }
    }

    /// Sets the system prompt, sent first with every request and kept by
    /// [`reset`](Conversation::reset). Replaces an earlier one.
    ///
    /// # Examples
    ///
    /// ```
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).build();
    /// use ureq_futures::llm::{Conversation, Message};
    ///
    /// let chat = Conversation::new(client)
    ///     .with_system_prompt("You are a pirate.")
    ///     .with_system_prompt("You are a poet."); // replaces the first
    /// assert_eq!(chat.messages(), [Message::system("You are a poet.")]);
    /// ```
    pub fn with_system_prompt(mut self, prompt: impl Into<String>) -> Self {
        let system = Message::system(prompt);
        match self.messages.first_mut() {
            Some(first) if first.role == "system" => *first = system,
            _ => self.messages.insert(0, system),
        }
        self
    }

    /// The system prompt, if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).build();
    /// use ureq_futures::llm::Conversation;
    ///
    /// let chat = Conversation::new(client);
    /// assert_eq!(chat.system_prompt(), None);
    /// let chat = chat.with_system_prompt("Be terse.");
    /// assert_eq!(chat.system_prompt(), Some("Be terse."));
    /// ```
    pub fn system_prompt(&self) -> Option<&str> {
        let system = self.messages.first().filter(|m| m.role == "system")?;
        system.plain_text()
    }

    /// The messages the next request starts with: the system prompt, then every completed
    /// exchange.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::{Conversation, Message};
    ///
    /// let mut chat = Conversation::new(client).with_system_prompt("Be brief.");
    /// chat.send_with("Hi!", |_| {})?;
    /// let expected = [Message::system("Be brief."), Message::user("Hi!"), Message::assistant("Hello!")];
    /// assert_eq!(chat.messages(), expected);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The client.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::{ChatRequest, Conversation};
    ///
    /// let chat = Conversation::new(client);
    /// // A one-off question with the same client, outside the history.
    /// let answer = chat.client().complete(&ChatRequest::new().user("Say hello."))?;
    /// assert_eq!(answer.text, "Hello!");
    /// assert!(chat.messages().is_empty());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn client(&self) -> &dyn ChatClient {
        &*self.client
    }

    /// Sends `text` as the next user message, with the history, and returns the reply as it
    /// streams once the response headers are in. When the reply stream reaches its end, the
    /// user message and the assembled reply join the history.
    ///
    /// # Errors
    ///
    /// The client's: a status error, a missing key, a transport error... The history is then
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # let client = ureq_futures::llm::OpenAIClient::builder("gpt-4o-mini", None).env(|_| None).build();
    /// use ureq_futures::{llm::Conversation, Error};
    ///
    /// let mut chat = Conversation::new(client); // without a key
    /// assert!(matches!(chat.send("Hi"), Err(Error::MissingApiKey { .. })));
    /// assert!(chat.messages().is_empty()); // "Hi" can be sent again
    /// ```
    pub fn send(&mut self, text: impl Into<String>) -> Result<ReplyStream<'_>, Error> {
        self.start(text)?.result()
    }

    /// [`send`](Conversation::send), returning at once, before the reply starts: the
    /// [`PendingReply`]'s [`stop_handle`](PendingReply::stop_handle) stops the exchange from
    /// another thread while the server has not answered (a Ctrl-C while a slow model thinks)
    /// and while the reply streams. A stopped exchange leaves the history as it was.
    ///
    /// # Errors
    ///
    /// What the client refuses before sending (a missing key); the rest are
    /// [`PendingReply::result`]'s. The history is then unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::Conversation;
    ///
    /// let mut chat = Conversation::new(client);
    /// let pending = chat.start("Say hello.")?;
    /// let stop = pending.stop_handle(); // a Ctrl-C handler's: stops the exchange at any point
    /// let reply: String = pending.result()?.collect::<Result<_, _>>()?;
    /// assert_eq!(reply, "Hello!");
    /// assert_eq!(chat.messages().len(), 2);
    /// # drop(stop);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn start(&mut self, text: impl Into<String>) -> Result<PendingReply<'_>, Error> {
        self.messages.push(Message::user(text));
        let chat = self
            .client
            .start(&ChatRequest::from(&self.messages))
            .inspect_err(|_| {
                self.messages.pop(); // the exchange did not start
            })?;
        Ok(PendingReply(Some((self, chat))))
    }

    /// [`send`](Conversation::send), with each piece of the reply passed to `on_piece` as it
    /// arrives; returns the whole reply once complete. A reply the model refused, or that a
    /// filter stopped, is returned too (the text that came before, empty for most refusals) but
    /// not kept, as [`ReplyStream`] says: the history's length tells (two messages more when the
    /// exchange was kept).
    ///
    /// # Errors
    ///
    /// As [`send`](Conversation::send), and any error while the reply streams; the history is
    /// then unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n")]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::{llm::Conversation, Error};
    ///
    /// let mut chat = Conversation::new(client);
    /// let mut shown = String::new();
    /// let reply = chat.send_with("Say hello.", |piece| shown.push_str(piece));
    /// assert!(matches!(reply, Err(Error::Protocol(_)))); // the answer was cut after "Hel"
    /// assert_eq!((shown.as_str(), chat.messages().len()), ("Hel", 0)); // shown, not kept
    /// ```
    pub fn send_with(
        &mut self,
        text: impl Into<String>,
        mut on_piece: impl FnMut(&str),
    ) -> Result<String, Error> {
        let mut reply = self.send(text)?;
        for piece in reply.by_ref() {
            on_piece(&piece?);
        }
        // A chat stream ends without an error only after its end marker: the reply is kept,
        // unless it has no text or was refused (see `ReplyStream::next`).
        Ok(reply.text().to_string())
    }

    /// Forgets every exchange; the system prompt stays.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// use ureq_futures::llm::{Conversation, Message};
    ///
    /// let mut chat = Conversation::new(client).with_system_prompt("Be brief.");
    /// chat.send_with("Hi!", |_| {})?;
    /// chat.reset(); // a new topic
    /// assert_eq!(chat.messages(), [Message::system("Be brief.")]);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn reset(&mut self) {
        let keep = usize::from(self.system_prompt().is_some());
        self.messages.truncate(keep);
    }
}

/// A reply sent within a [`Conversation`] that has not started yet: what
/// [`Conversation::start`] returns. Dropped, or ended by an error, it leaves the history as it
/// was.
#[must_use = "dropped, it cancels the reply and leaves the history as it was: call result() for the reply"]
pub struct PendingReply<'a>(Option<(&'a mut Conversation, PendingChat)>);

impl fmt::Debug for PendingReply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chat = self.0.as_ref().map(|(_, chat)| chat);
        f.debug_tuple("PendingReply").field(&chat).finish()
    }
}

impl<'a> PendingReply<'a> {
    /// Waits for the reply's headers and returns the reply as it streams.
    ///
    /// # Errors
    ///
    /// As [`Conversation::send`]; [`Error::Cancelled`] when the
    /// [`stop_handle`](PendingReply::stop_handle) stopped the exchange before the reply
    /// started. The history is then unchanged.
    pub fn result(mut self) -> Result<ReplyStream<'a>, Error> {
        let Some((conversation, chat)) = self.0.take() else {
            return Err(Error::ResultTaken);
        };
        match chat.result() {
            Ok(chat) => Ok(ReplyStream {
                conversation,
                chat,
                committed: false,
            }),
            Err(e) => {
                conversation.messages.pop(); // the exchange did not start
                Err(e)
            }
        }
    }

    /// A handle that stops the exchange from another thread, before or after its reply
    /// starts (see [`PendingChat::stop_handle`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Read;
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let base = format!("http://{}", listener.local_addr()?);
    /// # std::thread::spawn(move || {
    /// #     let (mut socket, _) = listener.accept().unwrap();
    /// #     while socket.read(&mut [0; 1024]).is_ok_and(|n| n > 0) {} // no answer, ever
    /// # });
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(base).env(|_| None).build();
    /// use ureq_futures::{llm::Conversation, Error};
    ///
    /// let mut chat = Conversation::new(client); // its server never answers
    /// let pending = chat.start("Think hard.")?;
    /// pending.stop_handle().stop(); // as a Ctrl-C handler would, from another thread
    /// assert!(matches!(pending.result(), Err(Error::Cancelled)));
    /// assert!(chat.messages().is_empty()); // "Think hard." can be sent again
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        self.0
            .as_ref()
            .map_or_else(StopHandle::default, |(_, chat)| chat.stop_handle())
    }
}

impl Drop for PendingReply<'_> {
    fn drop(&mut self) {
        if let Some((conversation, _)) = self.0.take() {
            // The user message pushed by `start`: the exchange did not complete.
            conversation.messages.pop();
        }
    }
}

/// A reply being streamed within a [`Conversation`]: an iterator of its text pieces, as
/// [`ChatStream`].
///
/// When the stream ends complete, the exchange joins the conversation's history. If it ends
/// with an error, or is dropped before its end, or its reply has no text, or the model refused
/// or a filter stopped it (a [`refusal`](ChatStream::refusal): Anthropic's `refusal`, Gemini's
/// `SAFETY`, OpenAI's structured-output refusal), the history is left as it was.
///
/// # Examples
///
/// ```
/// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
/// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
/// use ureq_futures::llm::{Conversation, OpenAIClient};
///
/// let client = OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).build();
/// let mut chat = Conversation::new(client);
/// let mut reply = chat.send("Say hello.")?;
/// assert_eq!(reply.next().unwrap()?, "Hello");
/// drop(reply); // stopped early: the exchange is not kept
/// assert!(chat.messages().is_empty());
/// # Ok::<(), ureq_futures::Error>(())
/// ```
#[must_use = "dropped before its end, it stops the reply and leaves the history as it was: read it"]
pub struct ReplyStream<'a> {
    conversation: &'a mut Conversation,
    chat: ChatStream,
    committed: bool,
}

impl fmt::Debug for ReplyStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyStream")
            .field("chat", &self.chat)
            .field("text_len", &self.text().len())
            .field("committed", &self.committed)
            .finish()
    }
}

impl ReplyStream<'_> {
    /// The reply's text received so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// let mut chat = ureq_futures::llm::Conversation::new(client);
    /// let mut reply = chat.send("Say hello.")?;
    /// reply.next();
    /// assert_eq!(reply.text(), "Hello");
    /// reply.by_ref().for_each(drop);
    /// assert_eq!(reply.text(), "Hello!");
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn text(&self) -> &str {
        self.chat.text()
    }

    /// The underlying stream, for the finish reason, usage, tool calls and reasoning.
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// let mut chat = ureq_futures::llm::Conversation::new(client);
    /// let mut reply = chat.send("Say hello.")?;
    /// reply.by_ref().for_each(drop);
    /// assert_eq!(reply.chat().finish_reason(), Some("stop"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn chat(&self) -> &ChatStream {
        &self.chat
    }

    /// Whether the reply is complete, and so in the conversation's history unless it has no
    /// text or was refused (see [`ReplyStream`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # mod doc { include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/doc_server.rs")); }
    /// # let base = doc::serve(&[("/v1/chat/completions", "text/event-stream", doc::OPENAI_HELLO)]);
    /// # let client = ureq_futures::llm::OpenAIClient::builder("llama3.2", None).base_url(format!("{base}/v1")).env(|_| None).build();
    /// let mut chat = ureq_futures::llm::Conversation::new(client);
    /// let mut reply = chat.send("Say hello.")?;
    /// assert!(!reply.is_complete());
    /// while let Some(piece) = reply.next() {
    ///     piece?;
    /// }
    /// assert!(reply.is_complete()); // the exchange is in the history
    /// # drop(reply);
    /// # assert_eq!(chat.messages().len(), 2);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn is_complete(&self) -> bool {
        self.committed
    }
}

impl Iterator for ReplyStream<'_> {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.committed {
            return None;
        }
        let item = self.chat.next();
        match &item {
            None if self.chat.is_done() => {
                self.committed = true;
                let messages = &mut self.conversation.messages;
                // A reply without text is not kept, nor a refused or filtered exchange
                // (Anthropic's `refusal`, Gemini's `SAFETY`...): Anthropic asks for the refused
                // turn to go, else every later request is refused too, and a reply a filter cut
                // is not the model's answer.
                let text = self.chat.text();
                if text.is_empty() || self.chat.refusal().is_some() {
                    messages.pop(); // the question
                } else {
                    messages.push(Message::assistant(text));
                }
            }
            _ => {}
        }
        item
    }
}

impl Drop for ReplyStream<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // The user message pushed by `send`: the exchange did not complete.
            self.conversation.messages.pop();
        }
    }
}
