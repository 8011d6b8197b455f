//! `POST /v1/audio/speech`: JSON in, audio bytes out. Billed per character of `input`, as
//! OpenAI prices its TTS models (per million characters); the count is the request's own, so
//! admission's estimate is the bill.

use serde::Deserialize;
use serde_json::value::RawValue;
use tollgate_domain::{Unit, Units};

use super::{EndpointPeek, parse, required_string};
use crate::FormatError;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

/// The model and the characters of `input` (Unicode scalar values, as a person counts them).
pub fn peek_speech(body: &[u8]) -> Result<EndpointPeek, FormatError> {
    let r: Request<'_> = parse(body)?;
    let model = crate::json::required_model(r.model)?;
    let input = required_string(r.input, "input")?;
    if input.is_empty() {
        return Err(FormatError::InvalidValue {
            param: "input",
            reason: "must not be empty.",
        });
    }
    Ok(EndpointPeek {
        model,
        units: Units::new(Unit::Character, input.chars().count() as u64),
        prompt_tokens_estimate: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_are_counted_not_bytes() {
        let p =
            peek_speech(r#"{"model":"tts-1","input":"Grüße, Zoë!","voice":"alloy"}"#.as_bytes())
                .unwrap();
        assert_eq!(p.model, "tts-1");
        assert_eq!(p.units, Units::new(Unit::Character, 11));
        let e = peek_speech(br#"{"model":"tts-1","input":""}"#).unwrap_err();
        assert_eq!(e.param(), Some("input"));
        let e = peek_speech(br#"{"model":"tts-1","input":7}"#).unwrap_err();
        assert_eq!(e.code(), Some("invalid_type"));
        let e = peek_speech(br#"{"model":"tts-1"}"#).unwrap_err();
        assert_eq!(e.param(), Some("input"));
    }
}
