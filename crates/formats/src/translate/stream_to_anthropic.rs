//! OpenAI `chat.completion.chunk` events → Anthropic stream events, one translator per stream,
//! so an Anthropic SDK can stream from an OpenAI-compatible provider.
//!
//! Framing follows Anthropic: `message_start` first; text and thinking each in their own block,
//! closed when another kind of block starts; one `tool_use` block per OpenAI tool-call `index`,
//! its argument deltas routed by that index (so parallel tool calls stay apart even when a
//! provider interleaves them); tool blocks stay open until the finish reason, then every open
//! block is stopped; `message_delta` (stop reason and usage) and `message_stop` come when the
//! usage chunk or `[DONE]` arrives. OpenAI reports prompt usage only at the end, so
//! `message_start` carries zero input tokens and `message_delta` the real counts (as newer
//! Anthropic API versions also do).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::Warning;
use super::openai_model::{ChatChunk, ChatUsage, Extra};
use super::response::anthropic_usage;
use super::stop_reason;
use crate::FormatError;
use crate::anthropic::{
    BlockDelta, ContentBlock, DeltaUsage, ErrorDetail, ErrorKind, MessageDelta, MessagesResponse,
    MessagesUsage, Role, StopReason, StreamEvent, ThinkingBlock, ToolUseBlock,
};
use crate::sse::DONE_DATA;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Text(u32),
    Thinking(u32),
}

/// Stateful translator: feed it every chunk of one OpenAI stream, then [`finish`](Self::finish).
#[derive(Debug, Default)]
pub struct OpenAiToAnthropicStream {
    started: bool,
    next_block: u32,
    open: Option<Open>,
    /// OpenAI tool-call index → Anthropic block index, for blocks still open.
    tools: BTreeMap<u32, u32>,
    finish: Option<StopReason>,
    usage: Option<ChatUsage>,
    done: bool,
    other_choices_reported: bool,
    warnings: Vec<Warning>,
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
}

impl OpenAiToAnthropicStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Translates one SSE `data` of an OpenAI stream: a chunk, `[DONE]`, or an error object.
    pub fn push_data(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), FormatError> {
        if data.trim() == DONE_DATA {
            self.finish(out);
            return Ok(());
        }
        if let Ok(e) = serde_json::from_str::<ErrorChunk>(data) {
            let kind = match e.error.kind.as_deref() {
                Some("rate_limit_error" | "requests" | "tokens") => ErrorKind::RateLimit,
                Some("invalid_request_error") => ErrorKind::InvalidRequest,
                _ => ErrorKind::Api,
            };
            self.error(
                kind,
                e.error
                    .message
                    .unwrap_or_else(|| "The upstream provider failed.".to_owned()),
                out,
            );
            return Ok(());
        }
        let chunk: ChatChunk =
            serde_json::from_str(data).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
        self.push(chunk, out);
        Ok(())
    }

    pub fn push(&mut self, chunk: ChatChunk, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                message: MessagesResponse {
                    id: chunk.id.clone(),
                    kind: "message".to_owned(),
                    role: Role::Assistant,
                    content: Vec::new(),
                    model: chunk.model.clone(),
                    stop_reason: None,
                    stop_sequence: None,
                    usage: MessagesUsage::default(),
                    extra: Extra::new(),
                },
            });
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for choice in chunk.choices {
            if choice.index != 0 {
                if !self.other_choices_reported {
                    self.other_choices_reported = true;
                    self.warnings
                        .push(Warning::new("choices", "Anthropic streams have one choice"));
                }
                continue;
            }
            let d = choice.delta;
            if let Some(r) = d.reasoning_content.filter(|r| !r.is_empty()) {
                let index = self.ensure_open(false, out);
                out.push(StreamEvent::ContentBlockDelta {
                    index,
                    delta: BlockDelta::ThinkingDelta { thinking: r },
                });
            }
            for text in [d.content, d.refusal].into_iter().flatten() {
                if text.is_empty() {
                    continue;
                }
                let index = self.ensure_open(true, out);
                out.push(StreamEvent::ContentBlockDelta {
                    index,
                    delta: BlockDelta::TextDelta { text },
                });
            }
            for tc in d.tool_calls.into_iter().flatten() {
                let function = tc.function.unwrap_or_default();
                let index = match self.tools.get(&tc.index) {
                    Some(i) => *i,
                    None => {
                        self.close_open(out);
                        let i = self.next_block;
                        self.next_block += 1;
                        self.tools.insert(tc.index, i);
                        out.push(StreamEvent::ContentBlockStart {
                            index: i,
                            content_block: ContentBlock::ToolUse(ToolUseBlock {
                                id: tc.id.unwrap_or_else(|| format!("toolu_{}", tc.index)),
                                name: function.name.unwrap_or_default(),
                                input: Value::Object(Extra::new()),
                                cache_control: None,
                                extra: Extra::new(),
                            }),
                        });
                        i
                    }
                };
                if let Some(args) = function.arguments.filter(|a| !a.is_empty()) {
                    out.push(StreamEvent::ContentBlockDelta {
                        index,
                        delta: BlockDelta::InputJsonDelta { partial_json: args },
                    });
                }
            }
            if let Some(f) = choice.finish_reason {
                self.close_all(out);
                self.finish = Some(stop_reason(Some(&f)));
            }
        }
        // Usage after (or with) the finish reason: nothing more is coming but `[DONE]`.
        if self.finish.is_some() && self.usage.is_some() {
            self.end(out);
        }
    }

    /// The stream ended (`[DONE]` or end of body). Without a finish reason the answer was cut:
    /// the client gets an `error` event, never a silently truncated message.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if self.finish.is_some() {
            self.end(out);
        } else {
            self.error(
                ErrorKind::Api,
                "The upstream provider closed the stream before the answer was complete."
                    .to_owned(),
                out,
            );
        }
    }

    /// The usage the provider reported (OpenAI convention), if any yet.
    pub fn usage(&self) -> Option<&ChatUsage> {
        self.usage.as_ref()
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    fn error(&mut self, kind: ErrorKind, message: String, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Error {
            error: ErrorDetail {
                kind: kind.as_str().to_owned(),
                message,
            },
        });
        self.done = true;
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_all(out);
        let u = self.usage.as_ref().map(anthropic_usage).unwrap_or_default();
        out.push(StreamEvent::MessageDelta {
            delta: MessageDelta {
                stop_reason: self.finish.clone(),
                stop_sequence: None,
                extra: Extra::new(),
            },
            usage: DeltaUsage {
                input_tokens: Some(u.input_tokens),
                output_tokens: u.output_tokens,
                cache_creation_input_tokens: u.cache_creation_input_tokens,
                cache_read_input_tokens: u.cache_read_input_tokens,
                extra: Extra::new(),
            },
        });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }

    /// The index of an open text (or thinking) block, starting one if needed.
    fn ensure_open(&mut self, text: bool, out: &mut Vec<StreamEvent>) -> u32 {
        match self.open {
            Some(Open::Text(i)) if text => return i,
            Some(Open::Thinking(i)) if !text => return i,
            _ => {}
        }
        self.close_open(out);
        let i = self.next_block;
        self.next_block += 1;
        let (open, block) = if text {
            (Open::Text(i), ContentBlock::text(""))
        } else {
            (
                Open::Thinking(i),
                ContentBlock::Thinking(ThinkingBlock {
                    thinking: String::new(),
                    signature: String::new(),
                    extra: Extra::new(),
                }),
            )
        };
        self.open = Some(open);
        out.push(StreamEvent::ContentBlockStart {
            index: i,
            content_block: block,
        });
        i
    }

    fn close_open(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(Open::Text(i) | Open::Thinking(i)) = self.open.take() {
            out.push(StreamEvent::ContentBlockStop { index: i });
        }
    }

    fn close_all(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_open(out);
        for (_, i) in std::mem::take(&mut self.tools) {
            out.push(StreamEvent::ContentBlockStop { index: i });
        }
    }
}
