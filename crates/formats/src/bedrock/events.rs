//! ConverseStream events. Each event is one event-stream frame whose `:event-type` header names
//! the event and whose JSON payload is the event's own object (not wrapped in its name):
//! `contentBlockDelta` carries `{"contentBlockIndex":0,"delta":{"text":"Hi"}}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{ConverseUsage, Extra, Metrics, Role, StopReason};
use crate::FormatError;

/// One decoded stream event.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    MessageStart(MessageStartEvent),
    ContentBlockStart(ContentBlockStartEvent),
    ContentBlockDelta(ContentBlockDeltaEvent),
    ContentBlockStop(ContentBlockStopEvent),
    MessageStop(MessageStopEvent),
    Metadata(MetadataEvent),
    /// An event type this model does not know; kept by name.
    Other(String),
}

impl StreamEvent {
    /// Parses the payload of an `event` frame named `event_type`.
    pub fn parse(event_type: &str, payload: &[u8]) -> Result<Self, FormatError> {
        fn json<T: serde::de::DeserializeOwned>(p: &[u8]) -> Result<T, FormatError> {
            serde_json::from_slice(p).map_err(|e| FormatError::InvalidJson(e.to_string()))
        }
        Ok(match event_type {
            "messageStart" => StreamEvent::MessageStart(json(payload)?),
            "contentBlockStart" => StreamEvent::ContentBlockStart(json(payload)?),
            "contentBlockDelta" => StreamEvent::ContentBlockDelta(json(payload)?),
            "contentBlockStop" => StreamEvent::ContentBlockStop(json(payload)?),
            "messageStop" => StreamEvent::MessageStop(json(payload)?),
            "metadata" => StreamEvent::Metadata(json(payload)?),
            other => StreamEvent::Other(other.to_owned()),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageStartEvent {
    pub role: Role,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStartEvent {
    pub content_block_index: u32,
    pub start: BlockStart,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `start: {toolUse: {toolUseId, name}}`; text and reasoning blocks have no start event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockStart {
    ToolUse(ToolUseStart),
    #[serde(untagged)]
    Other(Value),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDeltaEvent {
    pub content_block_index: u32,
    pub delta: BlockDelta,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockDelta {
    Text(String),
    /// `toolUse: {input}`: a piece of the input's JSON text.
    ToolUse(ToolUseDelta),
    ReasoningContent(ReasoningDelta),
    #[serde(untagged)]
    Other(Value),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolUseDelta {
    pub input: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningDelta {
    Text(String),
    Signature(String),
    RedactedContent(String),
    #[serde(untagged)]
    Other(Value),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStopEvent {
    pub content_block_index: u32,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStopEvent {
    pub stop_reason: StopReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Sent after `messageStop`: the final usage and latency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ConverseUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(flatten)]
    pub extra: Extra,
}
