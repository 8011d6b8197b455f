//! `POST /v1/moderations`: billed per request (the catalog's `per_request`, 0 unless set:
//! OpenAI's moderation models are free).

use serde::Deserialize;
use serde_json::value::RawValue;
use tollgate_domain::{Unit, Units};

use super::{EndpointPeek, parse, tokens_of};
use crate::FormatError;
use crate::json;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

/// One input: text, or a multimodal part (`{"type":"text","text":…}`, `image_url`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Part {
        #[serde(default)]
        text: Option<String>,
    },
}

/// The model (required here: OpenAI defaults it, a gateway has to know where to route) and the
/// input's text tokens.
pub fn peek_moderations(body: &[u8]) -> Result<EndpointPeek, FormatError> {
    let r: Request<'_> = parse(body)?;
    let model = json::required_model(r.model)?;
    let raw = r
        .input
        .filter(|v| !json::is_null(v))
        .ok_or(FormatError::MissingParameter("input".into()))?;
    let inputs: Vec<Input> = match serde_json::from_str::<String>(raw.get()) {
        Ok(s) => vec![Input::Text(s)],
        Err(_) => serde_json::from_str(raw.get()).map_err(|_| {
            FormatError::invalid_type(
                "input",
                "a string, an array of strings or an array of input parts",
                json::kind(raw),
            )
        })?,
    };
    if inputs.is_empty() {
        return Err(FormatError::EmptyArray("input"));
    }
    let bytes = inputs
        .iter()
        .map(|i| match i {
            Input::Text(t) => t.len(),
            Input::Part { text } => text.as_ref().map_or(0, String::len),
        })
        .sum();
    Ok(EndpointPeek {
        model,
        units: Units::new(Unit::Request, 1),
        prompt_tokens_estimate: tokens_of(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_shape_is_one_request() {
        for body in [
            br#"{"model":"omni-moderation-latest","input":"kill the lights"}"#.as_slice(),
            br#"{"model":"omni-moderation-latest","input":["a","b"]}"#,
            br#"{"model":"omni-moderation-latest","input":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x"}}]}"#,
        ] {
            let p = peek_moderations(body).unwrap();
            assert_eq!(p.units, Units::new(Unit::Request, 1));
            assert_eq!(p.model, "omni-moderation-latest");
        }
        assert_eq!(
            peek_moderations(br#"{"input":"x"}"#).unwrap_err(),
            FormatError::MissingModel
        );
        let e = peek_moderations(br#"{"model":"m","input":[]}"#).unwrap_err();
        assert_eq!(e.param(), Some("input"));
        let e = peek_moderations(br#"{"model":"m","input":3}"#).unwrap_err();
        assert_eq!(e.code(), Some("invalid_type"));
    }
}
