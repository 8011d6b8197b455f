//! The chat pivot for client formats no provider kind serves the same way (the Responses API
//! for non-native deployments, legacy Completions): the client's request, once translated to an
//! OpenAI chat request, takes the very path an OpenAI chat client's request takes to `dep`, so
//! each chat translation fix serves these clients too.

use tollgate_config::ProviderKind;
use tollgate_formats::FormatError;
use tollgate_formats::translate::{self, ChatRequest, StreamOptions, Warning};
use tollgate_proto::routing::v1::WireFormat;

use super::{Prepared, translate_request};
use crate::mode::{Mode, to_json};
use crate::route_table::Deployment;

/// `chat` (with what its own translation dropped, `warnings`) made ready for `dep`, its mode
/// wrapped by `wrap` so the answer comes back in the client's format. The stream is what the
/// edge saw; usage is always asked of a provider that takes the option (billing needs it
/// whether or not the client asked to see it), never of one that refuses it.
pub(super) fn through_chat(
    dep: &Deployment,
    mut chat: ChatRequest,
    mut warnings: Vec<Warning>,
    stream: bool,
    wrap: impl FnOnce(Box<Mode>) -> Mode,
) -> Result<Prepared, FormatError> {
    dep.upstream_model.clone_into(&mut chat.model);
    chat.stream = stream.then_some(true);
    let usage = stream && (dep.provider.kind != ProviderKind::Openai || dep.provider.stream_usage);
    chat.stream_options = usage.then(|| StreamOptions {
        include_usage: Some(true),
        extra: translate::Extra::new(),
    });
    let inner = translate_request(WireFormat::OpenaiChat, dep, &to_json(&chat)?, stream)?;
    warnings.extend(inner.warnings);
    Ok(Prepared {
        body: inner.body,
        mode: wrap(Box::new(inner.mode)),
        warnings,
    })
}
