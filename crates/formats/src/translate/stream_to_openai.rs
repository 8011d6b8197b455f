//! Anthropic stream events → OpenAI `chat.completion.chunk` events, one translator per stream.
//!
//! Each `tool_use` block gets its own OpenAI tool-call `index` (in the order the blocks start),
//! and every `input_json_delta` goes to the index of its block, so parallel tool calls stay
//! apart. Thinking deltas become `delta.reasoning_content` (the field DeepSeek, vLLM and
//! OpenRouter clients read); signatures have no OpenAI counterpart and are dropped (reported
//! once).

use std::collections::HashMap;

use bytes::Bytes;
use tollgate_domain::Usage;

use super::openai_model::{ChatChunk, ChatRole, ChatUsage, Delta};
use super::{Warning, finish_reason, openai_chunks};
use crate::FormatError;
use crate::anthropic::{BlockDelta, ContentBlock, ErrorKind, StopReason, StreamEvent, StreamUsage};
use crate::{openai, sse};

/// One event for the OpenAI client.
#[derive(Clone, Debug, PartialEq)]
pub enum OpenAiStreamEvent {
    Chunk(ChatChunk),
    /// An error after the stream started (`data: {"error": ...}`), which ends it.
    Error {
        message: String,
        kind: &'static str,
        code: Option<&'static str>,
    },
    /// `data: [DONE]`.
    Done,
}

impl OpenAiStreamEvent {
    pub fn encode(&self) -> Bytes {
        match self {
            OpenAiStreamEvent::Chunk(c) => {
                sse::encode_data(&serde_json::to_vec(c).unwrap_or_default())
            }
            OpenAiStreamEvent::Error {
                message,
                kind,
                code,
            } => openai::stream_error_event(message, kind, *code, None),
            OpenAiStreamEvent::Done => Bytes::from_static(sse::DONE),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Text,
    Tool(u32),
    /// The forced tool standing in for `response_format`: its JSON is the content.
    JsonTool,
    Thinking,
    Other,
}

/// Stateful translator: feed it every event of one Anthropic stream, in order.
#[derive(Debug)]
pub struct AnthropicToOpenAiStream {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    json_tool: Option<String>,
    blocks: HashMap<u32, Block>,
    next_tool: u32,
    usage: StreamUsage,
    json_answer: bool,
    done: bool,
    signature_reported: bool,
    warnings: Vec<Warning>,
}

impl AnthropicToOpenAiStream {
    /// `include_usage` and `json_tool` come from [`super::ToAnthropic`]; `created` is the
    /// chunks' Unix timestamp.
    pub fn new(created: u64, include_usage: bool, json_tool: Option<String>) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created,
            include_usage,
            json_tool,
            blocks: HashMap::new(),
            next_tool: 0,
            usage: StreamUsage::new(),
            json_answer: false,
            done: false,
            signature_reported: false,
            warnings: Vec::new(),
        }
    }

    /// Parses one SSE `data` and translates it.
    pub fn push_data(
        &mut self,
        data: &str,
        out: &mut Vec<OpenAiStreamEvent>,
    ) -> Result<(), FormatError> {
        let event: StreamEvent =
            serde_json::from_str(data).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
        self.push(event, out);
        Ok(())
    }

    pub fn push(&mut self, event: StreamEvent, out: &mut Vec<OpenAiStreamEvent>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::MessageStart { message } => {
                self.id = message.id;
                self.model = message.model;
                self.usage.observe_start(&message.usage);
                out.push(self.chunk(
                    Delta {
                        role: Some(ChatRole::Assistant),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => self.start_block(index, content_block, out),
            StreamEvent::ContentBlockDelta { index, delta } => self.delta(index, delta, out),
            StreamEvent::ContentBlockStop { .. } | StreamEvent::Ping | StreamEvent::Other(_) => {}
            StreamEvent::MessageDelta { delta, usage } => {
                self.usage.observe_delta(&usage);
                let finish = if self.json_answer && delta.stop_reason == Some(StopReason::ToolUse) {
                    "stop"
                } else {
                    finish_reason(delta.stop_reason.as_ref())
                };
                out.push(self.chunk(Delta::default(), Some(finish)));
            }
            StreamEvent::MessageStop => {
                if self.include_usage {
                    out.push(openai_chunks::usage_chunk(
                        &self.id,
                        &self.model,
                        self.created,
                        self.openai_usage(),
                    ));
                }
                out.push(OpenAiStreamEvent::Done);
                self.done = true;
            }
            StreamEvent::Error { error } => {
                let kind = ErrorKind::parse(&error.kind).unwrap_or(ErrorKind::Api);
                let (kind, code) = match kind {
                    ErrorKind::Overloaded => ("server_error", Some("overloaded")),
                    ErrorKind::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
                    ErrorKind::Api => ("server_error", None),
                    _ => ("invalid_request_error", None),
                };
                out.push(OpenAiStreamEvent::Error {
                    message: error.message,
                    kind,
                    code,
                });
                self.done = true;
            }
        }
    }

    /// The upstream stream ended. If it ended without `message_stop` or `error`, the client
    /// gets an explicit error event instead of a silently truncated answer.
    pub fn finish(&mut self, out: &mut Vec<OpenAiStreamEvent>) {
        if !self.done {
            out.push(openai_chunks::cut_short());
            self.done = true;
        }
    }

    /// Usage reported so far, in Tollgate's convention.
    pub fn usage(&self) -> Option<Usage> {
        self.usage.usage()
    }

    /// Output bytes seen so far (for an estimate when the stream is cut before usage).
    pub fn output_bytes(&self) -> u64 {
        self.usage.output_bytes()
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    fn openai_usage(&self) -> ChatUsage {
        openai_chunks::chat_usage(&self.usage.usage().unwrap_or_default())
    }

    fn start_block(&mut self, index: u32, block: ContentBlock, out: &mut Vec<OpenAiStreamEvent>) {
        let kind = match block {
            ContentBlock::Text(t) => {
                if !t.text.is_empty() {
                    out.push(self.content(t.text));
                }
                Block::Text
            }
            ContentBlock::ToolUse(t) if Some(&t.name) == self.json_tool.as_ref() => {
                self.json_answer = true;
                Block::JsonTool
            }
            ContentBlock::ToolUse(t) => {
                let ord = self.next_tool;
                self.next_tool += 1;
                out.push(self.chunk(
                    Delta::tool_call(ord, Some(t.id), Some(t.name), String::new()),
                    None,
                ));
                Block::Tool(ord)
            }
            ContentBlock::Thinking(t) => {
                if !t.thinking.is_empty() {
                    out.push(self.reasoning(t.thinking));
                }
                Block::Thinking
            }
            other => {
                self.warnings.push(Warning::new(
                    format!("content_block.{}", other.kind()),
                    "block type not supported by OpenAI",
                ));
                Block::Other
            }
        };
        self.blocks.insert(index, kind);
    }

    fn delta(&mut self, index: u32, delta: BlockDelta, out: &mut Vec<OpenAiStreamEvent>) {
        let block = self.blocks.get(&index).copied();
        match (delta, block) {
            (_, Some(Block::Other)) => {}
            (BlockDelta::TextDelta { text }, _) => out.push(self.content(text)),
            // Anthropic opens tool input with an empty delta; OpenAI clients need nothing for it.
            (
                BlockDelta::InputJsonDelta { partial_json },
                Some(Block::Tool(_) | Block::JsonTool),
            ) if partial_json.is_empty() => {}
            (BlockDelta::InputJsonDelta { partial_json }, Some(Block::JsonTool)) => {
                out.push(self.content(partial_json));
            }
            (BlockDelta::InputJsonDelta { partial_json }, Some(Block::Tool(ord))) => {
                out.push(self.chunk(Delta::tool_call(ord, None, None, partial_json), None));
            }
            (BlockDelta::ThinkingDelta { thinking }, _) => out.push(self.reasoning(thinking)),
            (BlockDelta::SignatureDelta { .. }, _) => {
                if !self.signature_reported {
                    self.signature_reported = true;
                    self.warnings.push(Warning::new(
                        "delta.signature",
                        "thinking signatures have no OpenAI counterpart",
                    ));
                }
            }
            (BlockDelta::InputJsonDelta { .. }, _) | (BlockDelta::Other(_), _) => {
                self.warnings.push(Warning::new(
                    format!("content_block_delta[{index}]"),
                    "delta not supported by OpenAI",
                ));
            }
        }
    }

    fn content(&self, text: String) -> OpenAiStreamEvent {
        self.chunk(Delta::content(text), None)
    }

    fn reasoning(&self, text: String) -> OpenAiStreamEvent {
        self.chunk(Delta::reasoning(text), None)
    }

    fn chunk(&self, delta: Delta, finish: Option<&str>) -> OpenAiStreamEvent {
        openai_chunks::chunk(&self.id, &self.model, self.created, 0, delta, finish)
    }
}
