//! Anthropic Messages (`POST /v1/messages`): typed models of requests, responses and stream
//! events, the edge's request peek, usage in Tollgate's convention, and Anthropic-shaped errors.

mod error;
mod events;
mod model;
mod peek;
mod usage;

pub use error::{ErrorKind, error_body, format_error_body, stream_error_event};
pub use events::{BlockDelta, DeltaUsage, ErrorDetail, MessageDelta, StreamEvent, encode_event};
pub use model::{
    CacheControl, CacheCreation, Content, ContentBlock, DocumentBlock, Extra, ImageBlock, Message,
    MessagesRequest, MessagesResponse, MessagesUsage, Metadata, RedactedThinkingBlock, Role,
    Source, StopReason, System, TextBlock, Thinking, ThinkingBlock, Tool, ToolChoice,
    ToolResultBlock, ToolUseBlock,
};
pub use peek::{MessagesPeek, peek_messages};
pub use usage::{EventInfo, StreamUsage, usage_from_response};

/// The `anthropic-version` Anthropic's SDKs send and this model follows.
pub const API_VERSION: &str = "2023-06-01";
