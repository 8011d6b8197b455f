//! AWS Bedrock Runtime Converse (`POST /model/{modelId}/converse`) and ConverseStream
//! (`/converse-stream`, an `application/vnd.amazon.eventstream` body): typed models, the
//! event-stream frame codec, usage in Tollgate's convention, Bedrock errors, and the
//! translations to and from OpenAI Chat Completions (requests, responses, stream events).
//!
//! Like `crate::translate`, nothing is dropped silently: what a translation cannot carry over
//! is a [`Warning`](crate::translate::Warning) naming the field, and what cannot be expressed at
//! all (`n > 1`, web image URLs, structured output together with tools) a
//! [`FormatError`](crate::FormatError) the client sees as a 400. Signing (SigV4) is routing's:
//! this crate does no I/O and knows no credentials.

mod error;
mod events;
mod eventstream;
mod model;
mod parts;
mod request;
mod request_to_openai;
mod response;
mod stream;
mod usage;

pub use error::{error_message, error_type, is_context_length, openai_error_kind};
pub use events::{
    BlockDelta, BlockStart, ContentBlockDeltaEvent, ContentBlockStartEvent, ContentBlockStopEvent,
    MessageStartEvent, MessageStopEvent, MetadataEvent, ReasoningDelta, StreamEvent, ToolUseDelta,
    ToolUseStart,
};
pub use eventstream::{EventStreamDecoder, Frame, encode_frame};
pub use model::{
    BytesSource, CachePoint, ContentBlock, ConverseOutput, ConverseRequest, ConverseResponse,
    ConverseUsage, DocumentBlock, Extra, ImageBlock, InferenceConfig, InputSchema, Message,
    Metrics, ReasoningBlock, ReasoningText, Role, StopReason, SystemContentBlock, Tool, ToolChoice,
    ToolConfig, ToolName, ToolResultBlock, ToolResultContent, ToolSpec, ToolUseBlock,
};
pub use request::{ToConverse, is_anthropic_model, openai_to_converse_request};
pub use request_to_openai::converse_to_openai_request;
pub use response::{converse_to_openai_response, openai_to_converse_response};
pub use stream::ConverseToOpenAiStream;

/// `content-type` of a ConverseStream response body.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
