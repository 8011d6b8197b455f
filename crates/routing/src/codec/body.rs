//! Whole answers (non-streamed) in the client's format, whatever the provider answered in: an
//! Anthropic answer with its model renamed, an answer translated between OpenAI and Anthropic, or
//! a native one (`native.rs`); with the usage the provider reported.

use bytes::Bytes;
use tollgate_domain::Usage;
use tollgate_formats::anthropic::{self, MessagesResponse};
use tollgate_formats::openai;
use tollgate_formats::translate::{self, ChatCompletion};

use super::{completions, native, responses, responses_native, unix_now};
use crate::mode::{Mode, dropped};

/// A whole answer in the client's format, its usage (`None`: the provider said none), and the
/// output bytes it carried (for an estimate when usage is missing).
pub(crate) fn translate_body(
    mode: &Mode,
    body: &[u8],
    shown: &str,
    request_id: &str,
) -> Result<(Bytes, Option<Usage>, u64), tollgate_formats::FormatError> {
    match mode {
        // Relayed by `relay::endpoint`, never through a codec.
        Mode::Endpoint { .. } => Err(tollgate_formats::FormatError::NotAnObject),
        Mode::OpenAiResponses => {
            let (out, usage) = responses_native::translate_body(body, shown)?;
            Ok((out, usage, 0))
        }
        Mode::ResponsesFromChat { inner, req } => {
            responses::translate_body(inner, req, body, shown, request_id)
        }
        Mode::CompletionsFromChat { inner, .. } => {
            completions::translate_body(inner, body, shown, request_id)
        }
        Mode::Native { .. } | Mode::GeminiEmbeddings { .. } => {
            let (out, usage, warnings) =
                native::translate_body(mode, body, shown, request_id, unix_now())?;
            dropped(&warnings);
            Ok((out, usage, 0))
        }
        Mode::Anthropic => {
            let usage = anthropic::usage_from_response(body)?;
            let out = openai::rewrite_chat_response_model(body, shown)?;
            Ok((out, usage, 0))
        }
        Mode::OpenAiFromAnthropic { json_tool, .. } => {
            let resp: MessagesResponse = translate::from_json(body)?;
            let usage = resp.usage.to_usage();
            let mut t =
                translate::anthropic_to_openai_response(resp, unix_now(), json_tool.as_deref());
            dropped(&t.warnings);
            shown.clone_into(&mut t.value.model);
            let out = serde_json::to_vec(&t.value)
                .map_err(|e| tollgate_formats::FormatError::InvalidJson(e.to_string()))?;
            Ok((Bytes::from(out), Some(usage), 0))
        }
        Mode::AnthropicFromOpenAi | Mode::OpenAi => {
            let info = openai::inspect_completion(body)?;
            let resp: ChatCompletion = translate::from_json(body)?;
            let mut t = translate::openai_to_anthropic_response(resp)?;
            dropped(&t.warnings);
            shown.clone_into(&mut t.value.model);
            let out = serde_json::to_vec(&t.value)
                .map_err(|e| tollgate_formats::FormatError::InvalidJson(e.to_string()))?;
            Ok((Bytes::from(out), info.usage, info.output_bytes))
        }
    }
}
