//! ConverseStream frames → OpenAI `chat.completion.chunk` events, one translator per stream.
//!
//! Each `toolUse` block gets its own OpenAI tool-call `index` (in the order the blocks start)
//! and every input delta goes to the index of its block, so parallel tool calls stay apart.
//! Reasoning deltas become `delta.reasoning_content`; signatures have no OpenAI counterpart and
//! are dropped (reported once).
//!
//! Bedrock sends `metadata` (usage) *after* `messageStop`: the finish chunk goes out on
//! `messageStop`, the usage chunk and `[DONE]` on `metadata` (or in [`finish`] if the body
//! ends without one). A body that ends before `messageStop` gives the client an error event,
//! never a silently truncated answer.
//!
//! [`finish`]: ConverseToOpenAiStream::finish

use std::collections::HashMap;

use tollgate_domain::Usage;

use super::error::{error_message, openai_error_kind};
use super::events::{BlockDelta, BlockStart, ReasoningDelta, StreamEvent};
use super::eventstream::Frame;
use super::model::ConverseUsage;
use super::response::finish_reason;
use super::usage::openai_usage;
use crate::FormatError;
use crate::translate::openai_chunks;
use crate::translate::{ChatRole, Delta, OpenAiStreamEvent, Warning};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Tool(u32),
    /// The forced tool standing in for `response_format`: its JSON is the content.
    JsonTool,
}

/// Stateful translator: feed it every frame of one ConverseStream body, in order.
#[derive(Debug)]
pub struct ConverseToOpenAiStream {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    json_tool: Option<String>,
    blocks: HashMap<u32, Block>,
    next_tool: u32,
    usage: Option<ConverseUsage>,
    output_bytes: u64,
    json_answer: bool,
    stopped: bool,
    done: bool,
    signature_reported: bool,
    warnings: Vec<Warning>,
}

impl ConverseToOpenAiStream {
    /// `id`, `model` and `created` fill every chunk (Bedrock sends none of them);
    /// `include_usage` and `json_tool` come from [`super::ToConverse`].
    pub fn new(
        id: String,
        model: String,
        created: u64,
        include_usage: bool,
        json_tool: Option<String>,
    ) -> Self {
        Self {
            id,
            model,
            created,
            include_usage,
            json_tool,
            blocks: HashMap::new(),
            next_tool: 0,
            usage: None,
            output_bytes: 0,
            json_answer: false,
            stopped: false,
            done: false,
            signature_reported: false,
            warnings: Vec::new(),
        }
    }

    /// Translates one frame. A payload that is not the event's JSON is an error (the caller
    /// ends the stream with it).
    pub fn push_frame(
        &mut self,
        frame: &Frame,
        out: &mut Vec<OpenAiStreamEvent>,
    ) -> Result<(), FormatError> {
        if self.done {
            return Ok(());
        }
        if frame.message_type != "event" {
            let (kind, code) = openai_error_kind(&frame.event_type);
            let message = error_message(&frame.payload)
                .or_else(|| {
                    (frame.message_type == "error")
                        .then(|| String::from_utf8_lossy(&frame.payload).into_owned())
                })
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("The upstream provider failed: {}", frame.event_type));
            out.push(OpenAiStreamEvent::Error {
                message,
                kind,
                code,
            });
            self.done = true;
            return Ok(());
        }
        match StreamEvent::parse(&frame.event_type, &frame.payload)? {
            StreamEvent::MessageStart(_) => out.push(self.chunk(
                Delta {
                    role: Some(ChatRole::Assistant),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            )),
            StreamEvent::ContentBlockStart(e) => match e.start {
                BlockStart::ToolUse(t) if Some(&t.name) == self.json_tool.as_ref() => {
                    self.json_answer = true;
                    self.blocks.insert(e.content_block_index, Block::JsonTool);
                }
                BlockStart::ToolUse(t) => {
                    let ord = self.next_tool;
                    self.next_tool += 1;
                    self.blocks.insert(e.content_block_index, Block::Tool(ord));
                    out.push(self.tool_call(ord, Some(t.tool_use_id), Some(t.name), String::new()));
                }
                BlockStart::Other(_) => self.warnings.push(Warning::new(
                    format!("contentBlockStart[{}]", e.content_block_index),
                    "block type not supported by OpenAI",
                )),
            },
            StreamEvent::ContentBlockDelta(e) => {
                let index = e.content_block_index;
                self.delta(index, e.delta, out);
            }
            StreamEvent::ContentBlockStop(_) | StreamEvent::Other(_) => {}
            StreamEvent::MessageStop(e) => {
                let finish = if self.json_answer && e.stop_reason == super::StopReason::ToolUse {
                    "stop"
                } else {
                    finish_reason(&e.stop_reason)
                };
                out.push(self.chunk(Delta::default(), Some(finish)));
                self.stopped = true;
            }
            StreamEvent::Metadata(e) => {
                if e.usage.is_some() {
                    self.usage = e.usage;
                }
                if self.stopped {
                    self.end(out);
                }
            }
        }
        Ok(())
    }

    /// The upstream body ended. After `messageStop` the stream ends normally (usage chunk if
    /// wanted, `[DONE]`); before it the client gets an explicit error event.
    pub fn finish(&mut self, out: &mut Vec<OpenAiStreamEvent>) {
        if self.done {
            return;
        }
        if self.stopped {
            self.end(out);
        } else {
            out.push(openai_chunks::cut_short());
            self.done = true;
        }
    }

    /// Usage reported by the `metadata` event, in Tollgate's convention.
    pub fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(ConverseUsage::to_usage)
    }

    /// Output bytes seen so far (text, reasoning and tool input), for an estimate when the
    /// stream is cut before usage.
    pub fn output_bytes(&self) -> u64 {
        self.output_bytes
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    fn end(&mut self, out: &mut Vec<OpenAiStreamEvent>) {
        if self.include_usage {
            out.push(openai_chunks::usage_chunk(
                &self.id,
                &self.model,
                self.created,
                openai_usage(&self.usage.clone().unwrap_or_default()),
            ));
        }
        out.push(OpenAiStreamEvent::Done);
        self.done = true;
    }

    fn delta(&mut self, index: u32, delta: BlockDelta, out: &mut Vec<OpenAiStreamEvent>) {
        let block = self.blocks.get(&index).copied();
        match (delta, block) {
            (BlockDelta::Text(text), _) => {
                self.output_bytes += text.len() as u64;
                out.push(self.content(text));
            }
            (BlockDelta::ToolUse(t), Some(Block::JsonTool)) => {
                self.output_bytes += t.input.len() as u64;
                if !t.input.is_empty() {
                    out.push(self.content(t.input));
                }
            }
            (BlockDelta::ToolUse(t), Some(Block::Tool(ord))) => {
                self.output_bytes += t.input.len() as u64;
                if !t.input.is_empty() {
                    out.push(self.tool_call(ord, None, None, t.input));
                }
            }
            (BlockDelta::ReasoningContent(ReasoningDelta::Text(text)), _) => {
                self.output_bytes += text.len() as u64;
                out.push(self.chunk(Delta::reasoning(text), None));
            }
            (BlockDelta::ReasoningContent(_), _) => {
                if !self.signature_reported {
                    self.signature_reported = true;
                    self.warnings.push(Warning::new(
                        "delta.reasoningContent",
                        "reasoning signatures and redacted reasoning have no OpenAI counterpart",
                    ));
                }
            }
            (BlockDelta::ToolUse(_), None) | (BlockDelta::Other(_), _) => {
                self.warnings.push(Warning::new(
                    format!("contentBlockDelta[{index}]"),
                    "delta not supported by OpenAI",
                ));
            }
        }
    }

    fn tool_call(
        &self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    ) -> OpenAiStreamEvent {
        self.chunk(Delta::tool_call(index, id, name, arguments), None)
    }

    fn content(&self, text: String) -> OpenAiStreamEvent {
        self.chunk(Delta::content(text), None)
    }

    fn chunk(&self, delta: Delta, finish: Option<&str>) -> OpenAiStreamEvent {
        openai_chunks::chunk(&self.id, &self.model, self.created, 0, delta, finish)
    }
}
