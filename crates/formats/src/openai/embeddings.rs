//! OpenAI Embeddings requests (`POST /v1/embeddings`): what the edge and routing need to know
//! before the call (model, how many inputs, a prompt-token estimate), refusing what OpenAI
//! refuses with a 400 for these fields.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::FormatError;
use crate::json;

/// What a caller asked to embed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingsPeek {
    pub model: String,
    /// Number of inputs (one for a plain string).
    pub inputs: u64,
    /// Token arrays count exactly; text is estimated at 4 bytes a token.
    pub prompt_tokens_estimate: u64,
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

/// One input: text, or the token ids of a text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Tokens(Vec<u64>),
}

pub fn peek_embeddings(body: &[u8]) -> Result<EmbeddingsPeek, FormatError> {
    let s = json::utf8(body)?;
    json::require_object(s)?;
    let f: Fields<'_> =
        serde_json::from_str(s).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    let model = match f.model {
        None => return Err(FormatError::MissingModel),
        Some(raw) if json::is_null(raw) => return Err(FormatError::MissingModel),
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .map_err(|_| FormatError::invalid_type("model", "a string", json::kind(raw)))?,
    };
    if model.is_empty() {
        return Err(FormatError::MissingModel);
    }
    let raw = match f.input {
        Some(raw) if !json::is_null(raw) => raw,
        _ => return Err(FormatError::MissingParameter("input".into())),
    };
    let bad = || {
        FormatError::invalid_type(
            "input",
            "a string, an array of strings or an array of token arrays",
            json::kind(raw),
        )
    };
    let inputs: Vec<Input> = match serde_json::from_str::<Input>(raw.get()) {
        // A flat array of numbers is one tokenised input.
        Ok(one) => vec![one],
        Err(_) => serde_json::from_str(raw.get()).map_err(|_| bad())?,
    };
    if inputs.is_empty() {
        return Err(FormatError::EmptyArray("input"));
    }
    let mut tokens = 0u64;
    for i in &inputs {
        tokens += match i {
            Input::Text(t) if t.is_empty() => {
                return Err(FormatError::InvalidValue {
                    param: "input",
                    reason: "inputs must not be empty strings.",
                });
            }
            Input::Text(t) => (t.len() as u64).div_ceil(4),
            Input::Tokens(ids) if ids.is_empty() => return Err(FormatError::EmptyArray("input")),
            Input::Tokens(ids) => ids.len() as u64,
        };
    }
    Ok(EmbeddingsPeek {
        model,
        inputs: inputs.len() as u64,
        prompt_tokens_estimate: tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peek(s: &str) -> Result<EmbeddingsPeek, FormatError> {
        peek_embeddings(s.as_bytes())
    }

    #[test]
    fn every_input_shape_is_counted() {
        let p = peek(r#"{"model":"e","input":"sixteen bytes!!!"}"#).unwrap();
        assert_eq!(
            (p.model.as_str(), p.inputs, p.prompt_tokens_estimate),
            ("e", 1, 4)
        );
        let p = peek(r#"{"model":"e","input":["abcd","abcdefgh"]}"#).unwrap();
        assert_eq!((p.inputs, p.prompt_tokens_estimate), (2, 3));
        let p = peek(r#"{"model":"e","input":[1,2,3]}"#).unwrap();
        assert_eq!((p.inputs, p.prompt_tokens_estimate), (1, 3));
        let p = peek(r#"{"model":"e","input":[[1,2],[3]],"dimensions":8}"#).unwrap();
        assert_eq!((p.inputs, p.prompt_tokens_estimate), (2, 3));
    }

    #[test]
    fn what_openai_refuses_is_refused_with_the_parameter_named() {
        assert_eq!(peek(r#"{"input":"x"}"#), Err(FormatError::MissingModel));
        assert_eq!(
            peek(r#"{"model":"e"}"#),
            Err(FormatError::MissingParameter("input".into()))
        );
        assert_eq!(
            peek(r#"{"model":"e","input":[]}"#),
            Err(FormatError::EmptyArray("input"))
        );
        let e = peek(r#"{"model":"e","input":{"a":1}}"#).unwrap_err();
        assert_eq!(e.param(), Some("input"));
        let e = peek(r#"{"model":"e","input":""}"#).unwrap_err();
        assert_eq!(e.param(), Some("input"));
        assert!(matches!(peek("[]"), Err(FormatError::NotAnObject)));
    }
}
