//! Requests from OpenAI Responses API clients (`POST /v1/responses`: the Codex CLI, the Agents
//! SDK). A provider that serves the Responses API itself (`responses = true`) gets the client's
//! bytes with only `model` swapped, so everything the API has and chat lacks (stored responses,
//! built-in tools, encrypted reasoning) keeps working. Every other deployment is reached through
//! the chat pivot: the request becomes an OpenAI chat request, which then takes the very path
//! an OpenAI chat client's request takes to that provider kind, so each chat translation fix
//! serves Responses clients too. (The answers come back through `codec::responses`.)

use std::sync::Arc;

use tollgate_config::ProviderKind;
use tollgate_formats::responses::{self, ResponsesRequest};
use tollgate_formats::translate::{self, StreamOptions};
use tollgate_formats::{FormatError, openai};
use tollgate_proto::routing::v1::WireFormat;

use super::{Prepared, prepared, translate_request};
use crate::mode::{Mode, ResponsesReq, to_json};
use crate::route_table::Deployment;

/// The request for `dep`, from a Responses body.
pub(super) fn request(
    dep: &Deployment,
    body: &[u8],
    stream: bool,
) -> Result<Prepared, FormatError> {
    if dep.provider.responses {
        return Ok(prepared(
            openai::rewrite_chat_request(body, &dep.upstream_model, false)?,
            Mode::OpenAiResponses,
        ));
    }
    let req: ResponsesRequest = translate::from_json(body)?;
    if req.previous_response_id.is_some() {
        // The items of earlier turns are not stored yet: answering without them would answer
        // another question.
        return Err(FormatError::InvalidValue {
            param: "previous_response_id",
            reason: "stored responses are not available for this model yet; send the earlier items in `input` instead.",
        });
    }
    let req = Arc::new(req);
    let t = responses::responses_to_chat_request((*req).clone(), &[])?;
    let mut chat = t.value;
    dep.upstream_model.clone_into(&mut chat.model);
    // The stream is what the edge saw; its end always reports usage when the provider can
    // (`response.completed` carries it), and never asks a provider that refuses the option.
    chat.stream = stream.then_some(true);
    let usage = stream && (dep.provider.kind != ProviderKind::Openai || dep.provider.stream_usage);
    chat.stream_options = usage.then(|| StreamOptions {
        include_usage: Some(true),
        extra: translate::Extra::new(),
    });
    let inner = translate_request(WireFormat::OpenaiChat, dep, &to_json(&chat)?, stream)?;
    let mut warnings = t.warnings;
    warnings.extend(inner.warnings);
    Ok(Prepared {
        body: inner.body,
        mode: Mode::ResponsesFromChat {
            inner: Box::new(inner.mode),
            req: ResponsesReq(req),
        },
        warnings,
    })
}
