//! The prompt size of a client body, estimated (text / 4, images, framing) for when the
//! provider does not say: a call's usage and the backstop's receipts both read it. A leaf.

use tollgate_formats::openai;
use tollgate_proto::routing::v1::WireFormat;

use crate::mode::anthropic_client;

/// Prompt tokens estimated from a chat or Messages body.
pub(crate) fn tokens(body: &[u8], format: WireFormat) -> u64 {
    if let Some(e) = crate::mode::endpoint(format) {
        use tollgate_config::Endpoint;
        use tollgate_formats::endpoints as ep;
        let peek = match e {
            Endpoint::Images => ep::peek_images(body),
            Endpoint::Moderations => ep::peek_moderations(body),
            Endpoint::Rerank => ep::peek_rerank(body),
            // No text tokens: characters of speech and seconds of audio are billed as units.
            Endpoint::Speech | Endpoint::Transcriptions => return 0,
        };
        return peek.map_or(0, |p| p.prompt_tokens_estimate);
    }
    if anthropic_client(format) {
        tollgate_formats::anthropic::peek_messages(body)
            .map_or(body.len() as u64 / 4, |p| p.prompt_tokens_estimate)
    } else if format == WireFormat::OpenaiCompletions {
        openai::peek_completions(body).map_or(body.len() as u64 / 4, |p| p.prompt_tokens_estimate)
    } else {
        openai::peek_chat(body).map_or(body.len() as u64 / 4, |p| p.prompt_tokens_estimate)
    }
}
