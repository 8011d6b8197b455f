//! Gemini `streamGenerateContent?alt=sse` → OpenAI `chat.completion.chunk` events, one
//! translator per stream.
//!
//! Every SSE `data:` of Gemini's stream is a whole `GenerateContentResponse` holding the next
//! parts of each candidate; function calls arrive whole (never split across chunks), so each
//! becomes one tool-call delta with its own `index` (per choice, in arrival order), keeping
//! parallel calls apart. `usageMetadata` is cumulative: the last one seen is the usage.
//!
//! Gemini's stream has no terminator like `[DONE]`: the last chunk carries `finishReason` and
//! the body ends. So the finish chunk, the usage chunk and `[DONE]` are written by
//! [`GeminiToOpenAiStream::finish`] at end of body, and a body that ends before any
//! `finishReason` was seen gives the client an error event rather than a silently truncated
//! answer.

use std::collections::BTreeMap;

use tollgate_domain::Usage;

use super::error::{GeminiError, openai_kind};
use super::join_call_id;
use super::model::{GenerateContentResponse, Part, UsageMetadata};
use super::response::finish_reason;
use super::usage::chat_usage;
use crate::FormatError;
use crate::translate::openai_chunks;
use crate::translate::{ChatRole, Delta, OpenAiStreamEvent, Warning};

#[derive(Debug, Default)]
struct CandidateState {
    next_tool: u32,
    finish: Option<String>,
}

/// Stateful translator: feed it every `data` of one Gemini stream, in order, then call
/// [`finish`](Self::finish) when the body ends.
#[derive(Debug)]
pub struct GeminiToOpenAiStream {
    id: String,
    created: u64,
    include_usage: bool,
    model: String,
    candidates: BTreeMap<u32, CandidateState>,
    next_call: usize,
    usage: Option<UsageMetadata>,
    /// The prompt was blocked (`promptFeedback.blockReason`): the answer ends filtered.
    blocked: bool,
    output_bytes: u64,
    done: bool,
    signature_reported: bool,
    warnings: Vec<Warning>,
}

impl GeminiToOpenAiStream {
    /// `id` and `created` are the chunks' `id` and Unix timestamp; `include_usage` is the
    /// client's `stream_options.include_usage`.
    pub fn new(id: String, created: u64, include_usage: bool) -> Self {
        Self {
            id,
            created,
            include_usage,
            model: String::new(),
            candidates: BTreeMap::new(),
            next_call: 0,
            usage: None,
            blocked: false,
            output_bytes: 0,
            done: false,
            signature_reported: false,
            warnings: Vec::new(),
        }
    }

    /// Parses one SSE `data` (a `GenerateContentResponse`, or `{"error": ...}`) and translates
    /// it.
    pub fn push_data(
        &mut self,
        data: &str,
        out: &mut Vec<OpenAiStreamEvent>,
    ) -> Result<(), FormatError> {
        if self.done {
            return Ok(());
        }
        let chunk: GenerateContentResponse =
            serde_json::from_str(data).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
        if let Some(err) = chunk.extra.get("error") {
            let err = GeminiError::from_value(err);
            let (kind, code) = openai_kind(&err.status, &err.message);
            out.push(OpenAiStreamEvent::Error {
                message: err.message,
                kind,
                code,
            });
            self.done = true;
            return Ok(());
        }
        self.push(chunk, out);
        Ok(())
    }

    pub fn push(&mut self, chunk: GenerateContentResponse, out: &mut Vec<OpenAiStreamEvent>) {
        if self.done {
            return;
        }
        if let Some(v) = chunk.model_version {
            self.model = v;
        }
        if let Some(u) = chunk.usage_metadata {
            self.usage = Some(u);
        }
        if chunk.candidates.is_empty()
            && chunk
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.get("blockReason").is_some())
        {
            self.blocked = true;
        }
        for (k, c) in chunk.candidates.into_iter().enumerate() {
            let index = c.index.unwrap_or(k as u32);
            if let std::collections::btree_map::Entry::Vacant(e) = self.candidates.entry(index) {
                e.insert(CandidateState::default());
                out.push(self.chunk(
                    index,
                    Delta {
                        role: Some(ChatRole::Assistant),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            for p in c.content.map(|c| c.parts).into_iter().flatten() {
                self.part(index, p, out);
            }
            if let Some(reason) = c.finish_reason
                && let Some(state) = self.candidates.get_mut(&index)
            {
                state.finish = Some(reason);
            }
        }
    }

    fn part(&mut self, index: u32, p: Part, out: &mut Vec<OpenAiStreamEvent>) {
        let thought = p.is_thought();
        match p {
            Part {
                function_call: Some(fc),
                thought_signature,
                ..
            } => {
                let id = fc.id.unwrap_or_else(|| {
                    let id = format!("call_{}", self.next_call);
                    self.next_call += 1;
                    id
                });
                let arguments = fc.args.to_string();
                self.output_bytes += (fc.name.len() + arguments.len()) as u64;
                let Some(state) = self.candidates.get_mut(&index) else {
                    return;
                };
                let ord = state.next_tool;
                state.next_tool += 1;
                let id = join_call_id(&id, thought_signature.as_deref());
                let delta = Delta::tool_call(ord, Some(id), Some(fc.name), arguments);
                out.push(self.chunk(index, delta, None));
            }
            Part { text: Some(t), .. } if thought => {
                self.output_bytes += t.len() as u64;
                out.push(self.chunk(index, Delta::reasoning(t), None));
            }
            // Gemini 2.5 may send a signature on an empty text part after the thoughts; it is
            // only needed back for function calls, which keep theirs in the call id.
            Part { text: Some(t), .. } if t.is_empty() => {}
            Part {
                text: Some(t),
                thought_signature,
                ..
            } => {
                if thought_signature.is_some() && !self.signature_reported {
                    self.signature_reported = true;
                    self.warnings.push(Warning::new(
                        "candidates.content.parts.thoughtSignature",
                        "text thought signatures have no OpenAI counterpart",
                    ));
                }
                self.output_bytes += t.len() as u64;
                out.push(self.chunk(index, Delta::content(t), None));
            }
            _ => self.warnings.push(Warning::new(
                "candidates.content.parts",
                "part type not supported by OpenAI",
            )),
        }
    }

    /// The upstream body ended: the finish chunk of every choice, the usage chunk when the
    /// client asked for it, and `[DONE]`; or, when Gemini never said the answer was complete,
    /// an error event.
    pub fn finish(&mut self, out: &mut Vec<OpenAiStreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        let finished = self.candidates.values().any(|c| c.finish.is_some());
        if !finished && !self.blocked {
            out.push(openai_chunks::cut_short());
            return;
        }
        if self.blocked && self.candidates.is_empty() {
            out.push(self.chunk(
                0,
                Delta {
                    role: Some(ChatRole::Assistant),
                    ..Delta::default()
                },
                Some("content_filter"),
            ));
        }
        let finishes: Vec<(u32, &'static str)> = self
            .candidates
            .iter()
            .map(|(i, c)| (*i, finish_reason(c.finish.as_deref(), c.next_tool > 0)))
            .collect();
        for (index, finish) in finishes {
            out.push(self.chunk(index, Delta::default(), Some(finish)));
        }
        if self.include_usage {
            out.push(openai_chunks::usage_chunk(
                &self.id,
                &self.model,
                self.created,
                chat_usage(&self.usage().unwrap_or_default()),
            ));
        }
        out.push(OpenAiStreamEvent::Done);
    }

    /// Usage reported so far, in Tollgate's convention.
    pub fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(UsageMetadata::to_usage)
    }

    /// Output bytes seen so far (for an estimate when the stream is cut before usage).
    pub fn output_bytes(&self) -> u64 {
        self.output_bytes
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    fn chunk(&self, index: u32, delta: Delta, finish: Option<&str>) -> OpenAiStreamEvent {
        openai_chunks::chunk(&self.id, &self.model, self.created, index, delta, finish)
    }
}
