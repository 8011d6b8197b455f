//! What is wrong with a client's request body, in words fit for a 400 shown to the user.
//!
//! The texts follow OpenAI's, so an SDK user sees the error they would have seen from OpenAI.

use std::borrow::Cow;

/// A request body the gateway refuses. `Display` is the user-facing message; [`param`] and
/// [`code`] fill the `param` and `code` of the OpenAI error body.
///
/// [`param`]: FormatError::param
/// [`code`]: FormatError::code
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The body is not JSON at all (or not UTF-8).
    #[error(
        "We could not parse the JSON body of your request ({0}). The API expects a JSON payload."
    )]
    InvalidJson(String),
    /// Valid JSON, but not an object.
    #[error("The request body must be a JSON object.")]
    NotAnObject,
    /// `model` absent, null or empty.
    #[error("you must provide a model parameter")]
    MissingModel,
    #[error("Missing required parameter: '{0}'.")]
    MissingParameter(Cow<'static, str>),
    #[error("Invalid type for '{param}': expected {expected}, but got {got} instead.")]
    InvalidType {
        param: Cow<'static, str>,
        expected: &'static str,
        got: &'static str,
    },
    #[error(
        "Invalid '{0}': empty array. Expected an array with minimum length 1, but got an empty array instead."
    )]
    EmptyArray(&'static str),
    #[error("Invalid '{param}': {reason}")]
    InvalidValue {
        param: &'static str,
        reason: &'static str,
    },
    /// A body that must be a multipart form (an audio upload) came with another content type.
    #[error(
        "The request body must be multipart/form-data with a boundary, as this endpoint takes a file upload."
    )]
    NotMultipart,
    /// A multipart body that cannot be read as a form.
    #[error("We could not parse the multipart form of your request ({0}).")]
    InvalidForm(String),
}

impl FormatError {
    /// The request parameter at fault, as OpenAI names it in `error.param`.
    pub fn param(&self) -> Option<&str> {
        match self {
            FormatError::InvalidJson(_)
            | FormatError::NotAnObject
            | FormatError::NotMultipart
            | FormatError::InvalidForm(_) => None,
            // OpenAI leaves `param` null here; naming it costs nothing and helps the caller.
            FormatError::MissingModel => Some("model"),
            FormatError::MissingParameter(p) | FormatError::InvalidType { param: p, .. } => Some(p),
            FormatError::EmptyArray(p) | FormatError::InvalidValue { param: p, .. } => Some(p),
        }
    }

    pub(crate) fn invalid_type(
        param: impl Into<Cow<'static, str>>,
        expected: &'static str,
        got: &'static str,
    ) -> Self {
        FormatError::InvalidType {
            param: param.into(),
            expected,
            got,
        }
    }

    /// A stable machine-readable code for `error.code`.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            FormatError::InvalidJson(_) | FormatError::NotAnObject => Some("invalid_json"),
            FormatError::MissingModel | FormatError::MissingParameter(_) => {
                Some("missing_required_parameter")
            }
            FormatError::InvalidType { .. } => Some("invalid_type"),
            FormatError::EmptyArray(_) => Some("empty_array"),
            FormatError::InvalidValue { .. } => Some("invalid_value"),
            FormatError::NotMultipart => Some("invalid_content_type"),
            FormatError::InvalidForm(_) => Some("invalid_form"),
        }
    }
}
