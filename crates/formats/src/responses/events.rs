//! The Responses API's streaming events (`event: <type>` / `data: {"type": <type>,
//! "sequence_number": n, ...}`), the subset a chat-backed response produces, named and shaped
//! as in OpenAI's API reference. Unlike Chat Completions there is no `[DONE]`: the stream ends
//! with `response.completed`, `response.incomplete` or `response.failed`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{ContentPart, Item, Response, SummaryText};

/// One event. `sequence_number` counts from 0 and increases by one per event of a stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponsesStreamEvent {
    #[serde(flatten)]
    pub body: EventBody,
    pub sequence_number: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventBody {
    #[serde(rename = "response.created")]
    Created { response: Box<Response> },
    #[serde(rename = "response.in_progress")]
    InProgress { response: Box<Response> },
    #[serde(rename = "response.completed")]
    Completed { response: Box<Response> },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: Box<Response> },
    #[serde(rename = "response.failed")]
    Failed { response: Box<Response> },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded { output_index: usize, item: Item },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone { output_index: usize, item: Item },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: ContentPart,
    },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: ContentPart,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        /// Always empty; written because newer SDK versions require the field.
        #[serde(default)]
        logprobs: Vec<serde_json::Value>,
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
        #[serde(default)]
        logprobs: Vec<serde_json::Value>,
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
    },
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        refusal: String,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        item_id: String,
        output_index: usize,
        arguments: String,
    },
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: SummaryText,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        delta: String,
    },
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        text: String,
    },
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: SummaryText,
    },
}

impl EventBody {
    /// The event's `type`, also its SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Created { .. } => "response.created",
            EventBody::InProgress { .. } => "response.in_progress",
            EventBody::Completed { .. } => "response.completed",
            EventBody::Incomplete { .. } => "response.incomplete",
            EventBody::Failed { .. } => "response.failed",
            EventBody::OutputItemAdded { .. } => "response.output_item.added",
            EventBody::OutputItemDone { .. } => "response.output_item.done",
            EventBody::ContentPartAdded { .. } => "response.content_part.added",
            EventBody::ContentPartDone { .. } => "response.content_part.done",
            EventBody::OutputTextDelta { .. } => "response.output_text.delta",
            EventBody::OutputTextDone { .. } => "response.output_text.done",
            EventBody::RefusalDelta { .. } => "response.refusal.delta",
            EventBody::RefusalDone { .. } => "response.refusal.done",
            EventBody::FunctionCallArgumentsDelta { .. } => {
                "response.function_call_arguments.delta"
            }
            EventBody::FunctionCallArgumentsDone { .. } => "response.function_call_arguments.done",
            EventBody::ReasoningSummaryPartAdded { .. } => "response.reasoning_summary_part.added",
            EventBody::ReasoningSummaryTextDelta { .. } => "response.reasoning_summary_text.delta",
            EventBody::ReasoningSummaryTextDone { .. } => "response.reasoning_summary_text.done",
            EventBody::ReasoningSummaryPartDone { .. } => "response.reasoning_summary_part.done",
        }
    }

    /// The final Response, for the three events that end a stream.
    pub fn final_response(&self) -> Option<&Response> {
        match self {
            EventBody::Completed { response }
            | EventBody::Incomplete { response }
            | EventBody::Failed { response } => Some(response),
            _ => None,
        }
    }
}

impl ResponsesStreamEvent {
    /// `event: <type>\ndata: <json>\n\n`, the framing OpenAI uses for this API.
    pub fn encode(&self) -> Bytes {
        // Serialising these types cannot fail (string keys, no non-finite floats from parsing).
        let json = serde_json::to_vec(self).unwrap_or_default();
        crate::anthropic::encode_event(self.body.kind(), &json)
    }
}
