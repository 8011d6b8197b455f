//! How one attempt's answer reaches the client: [`Mode`] pairs the client's wire format with the
//! provider's, and decides whether the answer passes through or is translated (and by which
//! codec). Also the bookkeeping both translation directions share: what a translation dropped
//! is counted in `tollgate_translation_dropped_total{field}` (list indices removed from the
//! field name, so the label stays low-cardinality), and translated values go out as JSON.
//!
//! A leaf: the request translations (`dialect`), the answer codecs (`codec`) and the relay all
//! read it; it reads none of them.

use std::sync::Arc;

use bytes::Bytes;
use tollgate_config::Endpoint;
use tollgate_domain::Units;
use tollgate_formats::FormatError;
use tollgate_formats::responses::ResponsesRequest;
use tollgate_formats::translate::Warning;
use tollgate_proto::routing::v1::WireFormat;

/// How one attempt's answer is relayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// OpenAI client, OpenAI-compatible provider: passthrough.
    OpenAi,
    /// Anthropic client, Anthropic provider: passthrough, Anthropic's event framing kept.
    Anthropic,
    /// OpenAI client, Anthropic provider.
    OpenAiFromAnthropic {
        json_tool: Option<String>,
        include_usage: bool,
    },
    /// Anthropic client, OpenAI-compatible provider.
    AnthropicFromOpenAi,
    /// A Gemini or Bedrock provider, for an OpenAI or (through OpenAI) Anthropic client.
    Native {
        kind: NativeKind,
        anthropic_client: bool,
        /// The OpenAI client asked for the usage chunk.
        include_usage: bool,
        /// Bedrock: the forced tool standing in for `response_format`.
        json_tool: Option<String>,
    },
    /// OpenAI embeddings served by Gemini's `batchEmbedContents` (which reports no tokens:
    /// the estimate is billed).
    GeminiEmbeddings { prompt_tokens: u64, base64: bool },
    /// OpenAI Responses client, a provider serving the Responses API (`responses = true`):
    /// passthrough, the Response's `model` renamed, usage read from the final Response.
    OpenAiResponses,
    /// OpenAI Responses client, any other deployment: the request went through the chat pivot
    /// and was then prepared as an OpenAI chat client's would be (`inner`: how that chat answer
    /// comes back); the chat answer is turned into a Response.
    ResponsesFromChat { inner: Box<Mode>, req: ResponsesReq },
    /// OpenAI legacy Completions client, any deployment (none serves that API for chat
    /// models): the request went through the chat pivot and was then prepared as an OpenAI
    /// chat client's would be (`inner`); the chat answer is turned into a `text_completion`.
    /// `include_usage`: the client asked for the usage chunk.
    CompletionsFromChat {
        inner: Box<Mode>,
        include_usage: bool,
    },
    /// One of the other endpoints (images, speech, transcriptions, moderations, rerank) on an
    /// OpenAI-compatible deployment: passthrough, relayed by `relay::endpoint` (speech's audio
    /// streamed through as it comes, the others whole). `units`: what the request itself says
    /// it will be billed by (the bill for speech; the stand-in when an answer does not say).
    Endpoint { endpoint: Endpoint, units: Units },
}

/// The client's Responses request, kept for the answer (a Response echoes its settings).
/// Compared by identity: two modes are the same translation only for the same request.
#[derive(Clone, Debug)]
pub(crate) struct ResponsesReq(pub Arc<ResponsesRequest>);

impl PartialEq for ResponsesReq {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ResponsesReq {}

/// Which native format a [`Mode::Native`] call speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NativeKind {
    Gemini,
    Bedrock,
}

impl Mode {
    /// The client speaks Anthropic's format.
    pub(crate) fn anthropic_client(&self) -> bool {
        matches!(
            self,
            Mode::Anthropic
                | Mode::AnthropicFromOpenAi
                | Mode::Native {
                    anthropic_client: true,
                    ..
                }
        )
    }

    /// The mode the provider's answer arrives in: the chat leg's for a Responses or
    /// Completions call translated through chat, else this one.
    pub(crate) fn upstream(&self) -> &Mode {
        match self {
            Mode::ResponsesFromChat { inner, .. } | Mode::CompletionsFromChat { inner, .. } => {
                inner
            }
            _ => self,
        }
    }
}

/// The client's format is Anthropic's Messages (anything else is OpenAI chat).
pub(crate) fn anthropic_client(format: WireFormat) -> bool {
    format == WireFormat::AnthropicMessages
}

/// The endpoint a wire format is the body of, for the endpoints besides chat and embeddings.
pub(crate) fn endpoint(format: WireFormat) -> Option<Endpoint> {
    Some(match format {
        WireFormat::OpenaiImages => Endpoint::Images,
        WireFormat::OpenaiSpeech => Endpoint::Speech,
        WireFormat::OpenaiTranscriptions => Endpoint::Transcriptions,
        WireFormat::OpenaiModerations => Endpoint::Moderations,
        WireFormat::Rerank => Endpoint::Rerank,
        _ => return None,
    })
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<Bytes, FormatError> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(|e| FormatError::InvalidJson(e.to_string()))
}

/// Counts what a translation could not carry over.
pub(crate) fn dropped(warnings: &[Warning]) {
    for w in warnings {
        tracing::debug!(field = %w.field, reason = w.reason, "translation dropped a field");
        metrics::counter!("tollgate_translation_dropped_total", "field" => field_label(&w.field))
            .increment(1);
    }
}

/// `messages[2].content[1]` -> `messages[].content[]`.
fn field_label(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut in_index = false;
    for c in field.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_lose_list_indices() {
        assert_eq!(
            field_label("messages[12].content[1]"),
            "messages[].content[]"
        );
        assert_eq!(field_label("seed"), "seed");
    }
}
