//! The endpoints billed by unit rather than (only) by token, in OpenAI's wire formats (and
//! Cohere's / Jina's for rerank): images, speech, transcriptions, moderations, rerank.
//!
//! For each: a peek for the edge and routing (the model, and the units the request will be
//! billed by as far as the request says, for the admission estimate), and for those whose
//! answers say what was served, the usage read from the answer. Bodies are passed through with
//! only `model` swapped ([`crate::openai::rewrite_chat_request`] for JSON, [`with_form_model`]
//! for a multipart upload), so nothing here re-serialises a client's body.

mod form;
mod images;
mod moderations;
mod rerank;
mod speech;
mod transcriptions;

use serde_json::value::RawValue;
use tollgate_domain::Units;

pub use images::{images_usage, peek_images};
pub use moderations::peek_moderations;
pub use rerank::{peek_rerank, rerank_usage};
pub use speech::peek_speech;
pub use transcriptions::{
    TRANSCRIPTION_BYTES_PER_SECOND, peek_transcription, transcription_usage, with_form_model,
};

use crate::FormatError;
use crate::json;

/// What the edge and routing need of one request to an endpoint billed by unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPeek {
    pub model: String,
    /// What the request will be billed by, as far as the request itself says: images asked
    /// for, characters to speak (exact: the bill), seconds of audio estimated from the upload,
    /// documents to rerank, the request. Admission reserves budget for it.
    pub units: Units,
    /// Text tokens the request carries, at 4 bytes a token (providers that bill the prompt's
    /// tokens as well, such as gpt-image-1, are reserved for).
    pub prompt_tokens_estimate: u64,
}

/// The fields a peek reads, parsed once from a body that must be a JSON object.
fn parse<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, FormatError> {
    let s = json::utf8(body)?;
    json::require_object(s)?;
    serde_json::from_str(s).map_err(|e| FormatError::InvalidJson(e.to_string()))
}

/// A required string field.
fn required_string(raw: Option<&RawValue>, name: &'static str) -> Result<String, FormatError> {
    let raw = raw
        .filter(|v| !json::is_null(v))
        .ok_or(FormatError::MissingParameter(name.into()))?;
    serde_json::from_str::<String>(raw.get())
        .map_err(|_| FormatError::invalid_type(name, "a string", json::kind(raw)))
}

/// An optional whole number of at least 1 (`n`, `top_n`).
fn positive_count(raw: Option<&RawValue>, name: &'static str) -> Result<Option<u64>, FormatError> {
    match raw.filter(|v| !json::is_null(v)) {
        None => Ok(None),
        Some(v) => match serde_json::from_str::<u64>(v.get()) {
            Ok(n) if n >= 1 => Ok(Some(n)),
            Ok(_) => Err(FormatError::InvalidValue {
                param: name,
                reason: "must be at least 1.",
            }),
            Err(_) => Err(FormatError::invalid_type(name, "an integer", json::kind(v))),
        },
    }
}

/// Text at 4 bytes a token, as the other peeks estimate.
fn tokens_of(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}
