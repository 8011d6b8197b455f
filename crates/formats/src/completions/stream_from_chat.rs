//! `chat.completion.chunk`s → `text_completion` stream chunks, one translator per stream.
//!
//! Each text delta of the first choice becomes a chunk with that `text` (and `finish_reason:
//! null`); the chat finish reason becomes a chunk with empty text and the legacy reason. When
//! the client asked for it (`stream_options.include_usage`), the provider's usage follows in a
//! chunk with no choices, as OpenAI sends it; then `data: [DONE]`. A stream that ends before a
//! finish reason ends with OpenAI's error event instead, never a silently truncated answer, and
//! an upstream error event is passed on as one.

use bytes::Bytes;
use serde::Deserialize;

use super::{Completion, CompletionChoice, finish_reason};
use crate::translate::{ChatChunk, ChatUsage, Warning};
use crate::{FormatError, openai, sse};

/// The message of the error sent when the upstream stream ends before a finish reason.
const CUT_SHORT: &str = "The upstream provider closed the stream before the answer was complete.";

/// One event for the Completions client.
#[derive(Clone, Debug, PartialEq)]
pub enum CompletionStreamEvent {
    Chunk(Completion),
    /// An error after the stream started (`data: {"error": ...}`), which ends it.
    Error {
        message: String,
        kind: String,
        code: Option<String>,
    },
    /// `data: [DONE]`.
    Done,
}

impl CompletionStreamEvent {
    pub fn encode(&self) -> Bytes {
        match self {
            CompletionStreamEvent::Chunk(c) => {
                sse::encode_data(&serde_json::to_vec(c).unwrap_or_default())
            }
            CompletionStreamEvent::Error {
                message,
                kind,
                code,
            } => openai::stream_error_event(message, kind, code.as_deref(), None),
            CompletionStreamEvent::Done => Bytes::from_static(sse::DONE),
        }
    }
}

#[derive(Deserialize)]
struct ErrorChunk {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// Stateful translator: feed it every chunk of one chat stream, then [`finish`](Self::finish)
/// at the end of the body.
#[derive(Debug)]
pub struct ChatToCompletionsStream {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    finish: Option<&'static str>,
    usage: Option<ChatUsage>,
    done: bool,
    /// Fields already reported as dropped (each once per stream).
    reported: Vec<&'static str>,
    warnings: Vec<Warning>,
}

impl ChatToCompletionsStream {
    /// A translator for completion `id` (`cmpl-…`) of `model`, created at `created`;
    /// `include_usage`: the client asked for the usage chunk.
    pub fn new(id: &str, model: &str, created: u64, include_usage: bool) -> Self {
        Self {
            id: id.to_owned(),
            model: model.to_owned(),
            created,
            include_usage,
            finish: None,
            usage: None,
            done: false,
            reported: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Translates one SSE `data` of a chat stream: a chunk, `[DONE]`, or an error object.
    pub fn push_data(
        &mut self,
        data: &str,
        out: &mut Vec<CompletionStreamEvent>,
    ) -> Result<(), FormatError> {
        if self.done {
            return Ok(());
        }
        if data.trim() == sse::DONE_DATA {
            self.finish(out);
            return Ok(());
        }
        if let Ok(e) = serde_json::from_str::<ErrorChunk>(data) {
            let code = match e.error.code {
                Some(serde_json::Value::String(s)) => Some(s),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            out.push(CompletionStreamEvent::Error {
                message: e
                    .error
                    .message
                    .unwrap_or_else(|| "The upstream provider failed.".to_owned()),
                kind: e.error.kind.unwrap_or_else(|| "server_error".to_owned()),
                code,
            });
            self.done = true;
            return Ok(());
        }
        let chunk: ChatChunk =
            serde_json::from_str(data).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
        self.push(chunk, out);
        Ok(())
    }

    pub fn push(&mut self, chunk: ChatChunk, out: &mut Vec<CompletionStreamEvent>) {
        if self.done {
            return;
        }
        if !chunk.model.is_empty() {
            self.model = chunk.model;
        }
        for choice in chunk.choices {
            if choice.index != 0 {
                self.report("choices", "a completion has one choice");
                continue;
            }
            if self.finish.is_some() {
                continue;
            }
            let d = choice.delta;
            if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                out.push(self.chunk(t, None));
            }
            if d.reasoning_content.is_some_and(|r| !r.is_empty()) {
                self.report("reasoning_content", "a completion has no reasoning field");
            }
            if d.refusal.is_some_and(|r| !r.is_empty()) {
                self.report("refusal", "a completion has no refusal field");
            }
            if d.tool_calls.is_some_and(|c| !c.is_empty()) {
                self.report("tool_calls", "a completion has no tool calls");
            }
            if let Some(f) = choice.finish_reason {
                let f = finish_reason(&f);
                self.finish = Some(f);
                out.push(self.chunk(String::new(), Some(f)));
            }
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        // Usage after (or with) the finish reason: nothing more is coming but `[DONE]`.
        if self.finish.is_some() && self.usage.is_some() {
            self.end(out);
        }
    }

    /// The stream ended (`[DONE]` or end of body). Without a finish reason the answer was cut:
    /// the client gets an error event.
    pub fn finish(&mut self, out: &mut Vec<CompletionStreamEvent>) {
        if self.done {
            return;
        }
        if self.finish.is_some() {
            self.end(out);
        } else {
            out.push(CompletionStreamEvent::Error {
                message: CUT_SHORT.to_owned(),
                kind: "server_error".to_owned(),
                code: Some("upstream_error".to_owned()),
            });
            self.done = true;
        }
    }

    /// The usage the provider reported, if any yet.
    pub fn usage(&self) -> Option<&ChatUsage> {
        self.usage.as_ref()
    }

    /// Whether the stream's last event (`[DONE]` or an error) was emitted.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    fn end(&mut self, out: &mut Vec<CompletionStreamEvent>) {
        if self.include_usage
            && let Some(u) = self.usage.clone()
        {
            let mut c = Completion::new(&self.id, self.created, &self.model);
            c.usage = Some(u);
            out.push(CompletionStreamEvent::Chunk(c));
        }
        out.push(CompletionStreamEvent::Done);
        self.done = true;
    }

    fn chunk(&self, text: String, finish: Option<&str>) -> CompletionStreamEvent {
        let mut c = Completion::new(&self.id, self.created, &self.model);
        c.choices
            .push(CompletionChoice::new(text, finish.map(str::to_owned)));
        CompletionStreamEvent::Chunk(c)
    }

    fn report(&mut self, field: &'static str, reason: &'static str) {
        if !self.reported.contains(&field) {
            self.reported.push(field);
            self.warnings.push(Warning::new(field, reason));
        }
    }
}
