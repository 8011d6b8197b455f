//! Requests to the other endpoints (images, speech, transcriptions, moderations, rerank): only
//! OpenAI-compatible deployments serve them, and the client's body goes through with only
//! `model` swapped for the deployment's (a JSON splice, or the multipart form's `model` field:
//! see `tollgate_formats::endpoints::with_form_model`). The answer comes back through
//! `relay::endpoint`.

use bytes::Bytes;
use tollgate_config::Endpoint;
use tollgate_formats::endpoints::{self, EndpointPeek};
use tollgate_formats::{FormatError, openai};

use super::Prepared;
use crate::mode::Mode;
use crate::route_table::Deployment;

/// What the request says of itself: its model and the units it will be billed by.
pub(crate) fn peek(
    endpoint: Endpoint,
    body: &[u8],
    content_type: &str,
) -> Result<EndpointPeek, FormatError> {
    match endpoint {
        Endpoint::Images => endpoints::peek_images(body),
        Endpoint::Speech => endpoints::peek_speech(body),
        Endpoint::Moderations => endpoints::peek_moderations(body),
        Endpoint::Rerank => endpoints::peek_rerank(body),
        Endpoint::Transcriptions => {
            endpoints::peek_transcription(&Bytes::copy_from_slice(body), content_type)
        }
    }
}

/// The body for `dep` and how its answer is relayed. A deployment that does not serve the
/// endpoint never gets here (routing picks among those that do), but is refused all the same.
pub(crate) fn request(
    endpoint: Endpoint,
    dep: &Deployment,
    body: &[u8],
    content_type: &str,
) -> Result<Prepared, FormatError> {
    if !dep.serves(endpoint) {
        return Err(FormatError::InvalidValue {
            param: "model",
            reason: "this model's provider does not serve this endpoint",
        });
    }
    let upstream = dep.upstream_model.as_str();
    let units = peek(endpoint, body, content_type)?.units;
    let body = match endpoint {
        Endpoint::Transcriptions => {
            endpoints::with_form_model(&Bytes::copy_from_slice(body), content_type, upstream)?
        }
        _ => openai::rewrite_chat_request(body, upstream, false)?,
    };
    Ok(super::prepared(body, Mode::Endpoint { endpoint, units }))
}
