//! `chat.completion.chunk`s → Responses stream events, one translator per stream.
//!
//! The sequence is the one OpenAI documents: `response.created` and `response.in_progress`
//! (at the first chunk), then per output item `response.output_item.added`, its deltas, its
//! `.done` events and `response.output_item.done`; last `response.completed` (or
//! `response.incomplete` after a `length` / `content_filter` finish, or `response.failed`)
//! carrying the whole Response, built by the same code as the non-streamed translation.
//!
//! Reasoning deltas and text deltas each fill one item, closed when another kind of item
//! starts. Each chat tool-call `index` gets its own `function_call` item and its argument
//! deltas go to that item by index, so parallel calls stay apart even when a provider
//! interleaves them; call items stay open until the finish reason. The final event waits for
//! the usage chunk (the request always asks for one) or the end of the stream.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::events::{EventBody, ResponsesStreamEvent};
use super::response_from_chat::{
    finish_response, function_call_item, item_status, message_item, reasoning_item, shell,
};
use super::{
    ContentPart, Item, ItemStatus, MessageContent, OutputText, Refusal, Response, ResponseError,
    ResponseStatus, ResponsesRequest, SummaryText,
};
use crate::FormatError;
use crate::sse::DONE_DATA;
use crate::translate::{ChatChunk, ChatUsage, Extra, Warning};

/// The message of the failure sent when the upstream stream ends before a finish reason.
pub const CUT_SHORT: &str =
    "The upstream provider closed the stream before the answer was complete.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Reasoning(usize),
    Message(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Text,
    Refusal,
}

/// Stateful translator: feed it every chunk of one chat stream, then [`finish`](Self::finish)
/// (or [`fail`](Self::fail) when the upstream broke).
#[derive(Debug)]
pub struct ChatToResponsesStream {
    /// The Response so far; `output` holds every item started, open or done.
    response: Response,
    started: bool,
    seq: u64,
    open: Option<Open>,
    /// The open content part of the open message: its kind and `content_index`.
    part: Option<(Part, usize)>,
    /// Chat tool-call index → output index, for call items still open.
    tools: BTreeMap<u32, usize>,
    finish: Option<String>,
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
    #[serde(default)]
    code: Option<serde_json::Value>,
}

impl ChatToResponsesStream {
    /// A translator for the answer to `req`, as Response `id` created at `created_at`.
    pub fn new(req: &ResponsesRequest, id: &str, created_at: u64) -> Self {
        Self {
            response: shell(req, id, created_at, req.model.clone()),
            started: false,
            seq: 0,
            open: None,
            part: None,
            tools: BTreeMap::new(),
            finish: None,
            usage: None,
            done: false,
            other_choices_reported: false,
            warnings: Vec::new(),
        }
    }

    /// Translates one SSE `data` of a chat stream: a chunk, `[DONE]`, or an error object.
    pub fn push_data(
        &mut self,
        data: &str,
        out: &mut Vec<ResponsesStreamEvent>,
    ) -> Result<(), FormatError> {
        if data.trim() == DONE_DATA {
            self.finish(out);
            return Ok(());
        }
        if let Ok(e) = serde_json::from_str::<ErrorChunk>(data) {
            let limited = |s: &str| {
                matches!(
                    s,
                    "rate_limit_exceeded" | "rate_limit_error" | "requests" | "tokens"
                )
            };
            let code = if e.error.kind.as_deref().is_some_and(limited)
                || e.error
                    .code
                    .as_ref()
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(limited)
            {
                "rate_limit_exceeded"
            } else {
                "server_error"
            };
            let message = e
                .error
                .message
                .unwrap_or_else(|| "The upstream provider failed.".to_owned());
            self.fail(code, &message, out);
            return Ok(());
        }
        let chunk: ChatChunk =
            serde_json::from_str(data).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
        self.push(chunk, out);
        Ok(())
    }

    pub fn push(&mut self, chunk: ChatChunk, out: &mut Vec<ResponsesStreamEvent>) {
        if self.done {
            return;
        }
        self.start(Some(&chunk.model), out);
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for choice in chunk.choices {
            if choice.index != 0 {
                if !self.other_choices_reported {
                    self.other_choices_reported = true;
                    self.warnings
                        .push(Warning::new("choices", "a Response has one answer"));
                }
                continue;
            }
            if self.finish.is_some() {
                // Content after the finish reason: the items are closed already.
                continue;
            }
            let d = choice.delta;
            if let Some(r) = d.reasoning_content.filter(|r| !r.is_empty()) {
                self.reasoning_delta(r, out);
            }
            if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                self.text_delta(Part::Text, t, out);
            }
            if let Some(t) = d.refusal.filter(|t| !t.is_empty()) {
                self.text_delta(Part::Refusal, t, out);
            }
            for tc in d.tool_calls.into_iter().flatten() {
                let function = tc.function.unwrap_or_default();
                let index = match self.tools.get(&tc.index) {
                    Some(i) => *i,
                    None => {
                        self.close_open(out);
                        let i = self.response.output.len();
                        let call_id = tc.id.unwrap_or_else(|| format!("call_{}", tc.index));
                        let item = Item::FunctionCall(function_call_item(
                            &self.response.id,
                            i,
                            call_id,
                            function.name.unwrap_or_default(),
                        ));
                        self.response.output.push(item.clone());
                        self.tools.insert(tc.index, i);
                        self.emit(
                            out,
                            EventBody::OutputItemAdded {
                                output_index: i,
                                item,
                            },
                        );
                        i
                    }
                };
                if let Some(args) = function.arguments.filter(|a| !a.is_empty()) {
                    let Some(Item::FunctionCall(c)) = self.response.output.get_mut(index) else {
                        continue;
                    };
                    c.arguments.push_str(&args);
                    let item_id = c.id.clone().unwrap_or_default();
                    self.emit(
                        out,
                        EventBody::FunctionCallArgumentsDelta {
                            item_id,
                            output_index: index,
                            delta: args,
                        },
                    );
                }
            }
            if let Some(f) = choice.finish_reason {
                self.finish = Some(f);
                self.close_all(out);
            }
        }
        // Usage after (or with) the finish reason: nothing more is coming but `[DONE]`.
        if self.finish.is_some() && self.usage.is_some() {
            self.end(out);
        }
    }

    /// The stream ended (`[DONE]` or end of body). Without a finish reason the answer was cut:
    /// the client gets `response.failed`, never a silently truncated answer.
    pub fn finish(&mut self, out: &mut Vec<ResponsesStreamEvent>) {
        if self.done {
            return;
        }
        if self.finish.is_some() {
            self.end(out);
        } else {
            self.fail("server_error", CUT_SHORT, out);
        }
    }

    /// Ends the stream with `response.failed` (status `failed`, `error` {code, message}), for an
    /// upstream error or a stream the gateway had to cut. `code` is one of OpenAI's response
    /// error codes (`server_error`, `rate_limit_exceeded`, ...). Items still open are marked
    /// `incomplete`. Does nothing once the stream has ended.
    pub fn fail(&mut self, code: &str, message: &str, out: &mut Vec<ResponsesStreamEvent>) {
        if self.done {
            return;
        }
        self.start(None, out);
        let mut r = self.response.clone();
        for item in &mut r.output {
            match item {
                Item::Message(m) if m.status == Some(ItemStatus::InProgress) => {
                    m.status = Some(ItemStatus::Incomplete);
                }
                Item::FunctionCall(c) if c.status == Some(ItemStatus::InProgress) => {
                    c.status = Some(ItemStatus::Incomplete);
                }
                _ => {}
            }
        }
        r.status = ResponseStatus::Failed;
        r.error = Some(ResponseError {
            code: code.to_owned(),
            message: message.to_owned(),
        });
        r.usage = self
            .usage
            .as_ref()
            .map(super::response_from_chat::response_usage);
        self.emit(
            out,
            EventBody::Failed {
                response: Box::new(r),
            },
        );
        self.done = true;
    }

    /// The usage the provider reported (chat convention), if any yet.
    pub fn usage(&self) -> Option<&ChatUsage> {
        self.usage.as_ref()
    }

    /// The Response as it stands (the final one once the stream ended).
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// Whether a final event (`completed`, `incomplete` or `failed`) was emitted.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    fn emit(&mut self, out: &mut Vec<ResponsesStreamEvent>, body: EventBody) {
        out.push(ResponsesStreamEvent {
            body,
            sequence_number: self.seq,
        });
        self.seq += 1;
    }

    fn start(&mut self, model: Option<&str>, out: &mut Vec<ResponsesStreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(m) = model.filter(|m| !m.is_empty()) {
            self.response.model = m.to_owned();
        }
        let created = Box::new(self.response.clone());
        self.emit(out, EventBody::Created { response: created });
        let in_progress = Box::new(self.response.clone());
        self.emit(
            out,
            EventBody::InProgress {
                response: in_progress,
            },
        );
    }

    fn end(&mut self, out: &mut Vec<ResponsesStreamEvent>) {
        self.close_all(out);
        let finish = self.finish.clone();
        let status = item_status(finish.as_deref());
        let mut output = std::mem::take(&mut self.response.output);
        // As in the non-streamed translation: a cut answer's items are all `incomplete`.
        for item in &mut output {
            match item {
                Item::Message(m) => m.status = Some(status.clone()),
                Item::FunctionCall(c) => c.status = Some(status.clone()),
                _ => {}
            }
        }
        finish_response(
            &mut self.response,
            output,
            finish.as_deref(),
            self.usage.as_ref(),
        );
        let response = Box::new(self.response.clone());
        let body = if self.response.status == ResponseStatus::Incomplete {
            EventBody::Incomplete { response }
        } else {
            EventBody::Completed { response }
        };
        self.emit(out, body);
        self.done = true;
    }

    fn reasoning_delta(&mut self, delta: String, out: &mut Vec<ResponsesStreamEvent>) {
        let index = match self.open {
            Some(Open::Reasoning(i)) => i,
            _ => {
                self.close_open(out);
                let i = self.response.output.len();
                let mut item = reasoning_item(&self.response.id, i, String::new());
                if let Item::Reasoning(r) = &mut item {
                    r.summary.clear();
                }
                self.response.output.push(item.clone());
                self.open = Some(Open::Reasoning(i));
                let item_id = item_id(&item);
                self.emit(
                    out,
                    EventBody::OutputItemAdded {
                        output_index: i,
                        item,
                    },
                );
                if let Some(Item::Reasoning(r)) = self.response.output.get_mut(i) {
                    r.summary.push(SummaryText::new(String::new()));
                }
                self.emit(
                    out,
                    EventBody::ReasoningSummaryPartAdded {
                        item_id,
                        output_index: i,
                        summary_index: 0,
                        part: SummaryText::new(String::new()),
                    },
                );
                i
            }
        };
        let Some(Item::Reasoning(r)) = self.response.output.get_mut(index) else {
            return;
        };
        if let Some(s) = r.summary.last_mut() {
            s.text.push_str(&delta);
        }
        let item_id = r.id.clone();
        self.emit(
            out,
            EventBody::ReasoningSummaryTextDelta {
                item_id,
                output_index: index,
                summary_index: 0,
                delta,
            },
        );
    }

    fn text_delta(&mut self, kind: Part, delta: String, out: &mut Vec<ResponsesStreamEvent>) {
        let index = match self.open {
            Some(Open::Message(i)) => i,
            _ => {
                self.close_open(out);
                let i = self.response.output.len();
                let item = Item::Message(message_item(&self.response.id, i));
                self.response.output.push(item.clone());
                self.open = Some(Open::Message(i));
                self.emit(
                    out,
                    EventBody::OutputItemAdded {
                        output_index: i,
                        item,
                    },
                );
                i
            }
        };
        if self.part.map(|(k, _)| k) != Some(kind) {
            self.close_part(index, out);
            self.open_part(index, kind, out);
        }
        let Some((_, content_index)) = self.part else {
            return;
        };
        let Some(Item::Message(m)) = self.response.output.get_mut(index) else {
            return;
        };
        if let MessageContent::Parts(parts) = &mut m.content {
            match parts.get_mut(content_index) {
                Some(ContentPart::OutputText(t)) => t.text.push_str(&delta),
                Some(ContentPart::Refusal(r)) => r.refusal.push_str(&delta),
                _ => {}
            }
        }
        let item_id = m.id.clone().unwrap_or_default();
        let body = match kind {
            Part::Text => EventBody::OutputTextDelta {
                item_id,
                output_index: index,
                content_index,
                delta,
                logprobs: Vec::new(),
            },
            Part::Refusal => EventBody::RefusalDelta {
                item_id,
                output_index: index,
                content_index,
                delta,
            },
        };
        self.emit(out, body);
    }

    fn open_part(&mut self, index: usize, kind: Part, out: &mut Vec<ResponsesStreamEvent>) {
        let part = match kind {
            Part::Text => ContentPart::OutputText(OutputText::new(String::new())),
            Part::Refusal => ContentPart::Refusal(Refusal {
                refusal: String::new(),
                extra: Extra::new(),
            }),
        };
        let Some(Item::Message(m)) = self.response.output.get_mut(index) else {
            return;
        };
        let item_id = m.id.clone().unwrap_or_default();
        let MessageContent::Parts(parts) = &mut m.content else {
            return;
        };
        let content_index = parts.len();
        parts.push(part.clone());
        self.part = Some((kind, content_index));
        self.emit(
            out,
            EventBody::ContentPartAdded {
                item_id,
                output_index: index,
                content_index,
                part,
            },
        );
    }

    fn close_part(&mut self, index: usize, out: &mut Vec<ResponsesStreamEvent>) {
        let Some((_, content_index)) = self.part.take() else {
            return;
        };
        let Some(Item::Message(m)) = self.response.output.get(index) else {
            return;
        };
        let item_id = m.id.clone().unwrap_or_default();
        let MessageContent::Parts(parts) = &m.content else {
            return;
        };
        let Some(part) = parts.get(content_index).cloned() else {
            return;
        };
        let done = match &part {
            ContentPart::OutputText(t) => EventBody::OutputTextDone {
                item_id: item_id.clone(),
                output_index: index,
                content_index,
                text: t.text.clone(),
                logprobs: Vec::new(),
            },
            ContentPart::Refusal(r) => EventBody::RefusalDone {
                item_id: item_id.clone(),
                output_index: index,
                content_index,
                refusal: r.refusal.clone(),
            },
            _ => return,
        };
        self.emit(out, done);
        self.emit(
            out,
            EventBody::ContentPartDone {
                item_id,
                output_index: index,
                content_index,
                part,
            },
        );
    }

    /// Closes the open reasoning or message item.
    fn close_open(&mut self, out: &mut Vec<ResponsesStreamEvent>) {
        let status = item_status(self.finish.as_deref());
        match self.open.take() {
            None => {}
            Some(Open::Reasoning(i)) => {
                let Some(Item::Reasoning(r)) = self.response.output.get(i) else {
                    return;
                };
                let item_id = r.id.clone();
                let part = r.summary.last().cloned();
                if let Some(part) = part {
                    self.emit(
                        out,
                        EventBody::ReasoningSummaryTextDone {
                            item_id: item_id.clone(),
                            output_index: i,
                            summary_index: 0,
                            text: part.text.clone(),
                        },
                    );
                    self.emit(
                        out,
                        EventBody::ReasoningSummaryPartDone {
                            item_id,
                            output_index: i,
                            summary_index: 0,
                            part,
                        },
                    );
                }
                self.item_done(i, out);
            }
            Some(Open::Message(i)) => {
                self.close_part(i, out);
                if let Some(Item::Message(m)) = self.response.output.get_mut(i) {
                    m.status = Some(status);
                }
                self.item_done(i, out);
            }
        }
    }

    /// Closes every open item: the text one, then the function calls in output order.
    fn close_all(&mut self, out: &mut Vec<ResponsesStreamEvent>) {
        self.close_open(out);
        let status = item_status(self.finish.as_deref());
        let mut open: Vec<usize> = std::mem::take(&mut self.tools).into_values().collect();
        open.sort_unstable();
        for i in open {
            let Some(Item::FunctionCall(c)) = self.response.output.get_mut(i) else {
                continue;
            };
            c.status = Some(status.clone());
            let item_id = c.id.clone().unwrap_or_default();
            let arguments = c.arguments.clone();
            self.emit(
                out,
                EventBody::FunctionCallArgumentsDone {
                    item_id,
                    output_index: i,
                    arguments,
                },
            );
            self.item_done(i, out);
        }
    }

    fn item_done(&mut self, i: usize, out: &mut Vec<ResponsesStreamEvent>) {
        if let Some(item) = self.response.output.get(i).cloned() {
            self.emit(
                out,
                EventBody::OutputItemDone {
                    output_index: i,
                    item,
                },
            );
        }
    }
}

fn item_id(item: &Item) -> String {
    match item {
        Item::Message(m) => m.id.clone().unwrap_or_default(),
        Item::FunctionCall(c) => c.id.clone().unwrap_or_default(),
        Item::Reasoning(r) => r.id.clone(),
        _ => String::new(),
    }
}
