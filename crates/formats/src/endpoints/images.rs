//! `POST /v1/images/generations`: billed per image returned (`data.len()`), and by the tokens
//! the answer's `usage` reports where the model reports them (gpt-image-1: text and image input
//! tokens, image output tokens).

use serde::Deserialize;
use serde_json::value::RawValue;
use tollgate_domain::{Unit, Units, Usage};

use super::{EndpointPeek, parse, positive_count, required_string, tokens_of};
use crate::FormatError;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    prompt: Option<&'a RawValue>,
    #[serde(borrow, default)]
    n: Option<&'a RawValue>,
}

/// The model, the images asked for (`n`, 1 by default) and the prompt's tokens.
pub fn peek_images(body: &[u8]) -> Result<EndpointPeek, FormatError> {
    let r: Request<'_> = parse(body)?;
    let model = crate::json::required_model(r.model)?;
    let prompt = required_string(r.prompt, "prompt")?;
    if prompt.is_empty() {
        return Err(FormatError::InvalidValue {
            param: "prompt",
            reason: "must not be empty.",
        });
    }
    let n = positive_count(r.n, "n")?.unwrap_or(1);
    Ok(EndpointPeek {
        model,
        units: Units::new(Unit::Image, n),
        prompt_tokens_estimate: tokens_of(prompt.len()),
    })
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    data: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    usage: Option<AnswerUsage>,
}

#[derive(Deserialize)]
struct AnswerUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

/// What an answer bills: one image per entry of `data`, and the tokens of its `usage` when it
/// has one. `None` when the body is not an images answer.
pub fn images_usage(body: &[u8]) -> Option<Usage> {
    let a: Answer = serde_json::from_slice(body).ok()?;
    let tokens = a.usage.unwrap_or(AnswerUsage {
        input_tokens: 0,
        output_tokens: 0,
    });
    Some(Usage {
        input_tokens: tokens.input_tokens,
        output_tokens: tokens.output_tokens,
        units: Some(Units::new(Unit::Image, a.data.len() as u64)),
        ..Usage::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peek_counts_the_images_asked_for() {
        let p = peek_images(br#"{"model":"dall-e-3","prompt":"a red fox","n":3}"#).unwrap();
        assert_eq!(p.model, "dall-e-3");
        assert_eq!(p.units, Units::new(Unit::Image, 3));
        assert_eq!(p.prompt_tokens_estimate, 3);
        let one = peek_images(br#"{"model":"m","prompt":"fox"}"#).unwrap();
        assert_eq!(one.units.count, 1);
    }

    #[test]
    fn bad_requests_name_their_parameter() {
        let e = peek_images(br#"{"model":"m"}"#).unwrap_err();
        assert_eq!(e.param(), Some("prompt"));
        let e = peek_images(br#"{"model":"m","prompt":"x","n":0}"#).unwrap_err();
        assert_eq!(e.param(), Some("n"));
        let e = peek_images(br#"{"model":"m","prompt":"x","n":"two"}"#).unwrap_err();
        assert_eq!(e.code(), Some("invalid_type"));
        assert_eq!(
            peek_images(br#"{"prompt":"x"}"#).unwrap_err(),
            FormatError::MissingModel
        );
        assert!(peek_images(b"[1]").is_err());
    }

    #[test]
    fn answers_bill_each_image_and_the_reported_tokens() {
        let dalle =
            br#"{"created":1,"data":[{"url":"https://x/1.png"},{"url":"https://x/2.png"}]}"#;
        let u = images_usage(dalle).unwrap();
        assert_eq!(u.units, Some(Units::new(Unit::Image, 2)));
        assert_eq!((u.input_tokens, u.output_tokens), (0, 0));
        let gpt_image = br#"{"created":1,"data":[{"b64_json":"aGk="}],"usage":{"input_tokens":50,"input_tokens_details":{"text_tokens":50,"image_tokens":0},"output_tokens":4160,"total_tokens":4210}}"#;
        let u = images_usage(gpt_image).unwrap();
        assert_eq!(u.units, Some(Units::new(Unit::Image, 1)));
        assert_eq!((u.input_tokens, u.output_tokens), (50, 4160));
        assert_eq!(images_usage(b"not json"), None);
    }
}
