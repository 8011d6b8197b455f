//! `POST /v1/images/generations`, as OpenAI documents it: `n` images (1 to 10, default 1), each
//! as `b64_json` or as a `url` per `response_format` (gpt-image models always answer
//! `b64_json`, other models `url` unless asked), `created`, and for gpt-image models the token
//! `usage` the current API reports with their `size`, `quality`, `background` and
//! `output_format`.
//!
//! Deterministic: every image is the same 1x1 PNG; gpt-image usage is the prompt's words as
//! input tokens and [`OUTPUT_TOKENS_PER_IMAGE`] output tokens per image.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::count_words;
use crate::embeddings::encode_base64;
use crate::error::ApiError;

/// Output tokens a gpt-image model reports per image (documented for tests).
pub(crate) const OUTPUT_TOKENS_PER_IMAGE: u64 = 16;

/// A valid 1x1 transparent PNG.
const PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    quality: Option<String>,
}

/// The answer and how many images it holds.
pub(crate) fn generate(body: &[u8], id: &str, created: u64) -> Result<(Value, u64), ApiError> {
    let r: Request = serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
    let model = r.model.unwrap_or_else(|| "dall-e-2".to_owned());
    let prompt = match r.prompt {
        Some(p) if !p.is_empty() => p,
        _ => {
            return Err(ApiError::invalid_request(
                "Missing required parameter: 'prompt'.",
                Some("prompt"),
                Some("missing_required_parameter"),
            ));
        }
    };
    let n = r.n.unwrap_or(1);
    if !(1..=10).contains(&n) {
        return Err(ApiError::invalid_request(
            format!("Invalid 'n': {n}. Expected a value between 1 and 10."),
            Some("n"),
            Some("invalid_value"),
        ));
    }
    let gpt_image = model.starts_with("gpt-image");
    let b64 = match r.response_format.as_deref() {
        _ if gpt_image => true,
        None => false,
        Some("b64_json") => true,
        Some("url") => false,
        Some(_) => {
            return Err(ApiError::invalid_request(
                "Invalid value for 'response_format': expected 'url' or 'b64_json'.",
                Some("response_format"),
                Some("invalid_value"),
            ));
        }
    };
    let data: Vec<Value> = (0..n)
        .map(|i| {
            if b64 {
                json!({"b64_json": encode_base64(&PNG)})
            } else {
                json!({"url": format!("https://images.mock.invalid/{id}/{i}.png"),
                       "revised_prompt": prompt})
            }
        })
        .collect();
    let mut answer = json!({"created": created, "data": data});
    if gpt_image {
        let input = count_words(&prompt);
        let output = n * OUTPUT_TOKENS_PER_IMAGE;
        answer["background"] = json!("opaque");
        answer["output_format"] = json!("png");
        answer["quality"] = json!(r.quality.unwrap_or_else(|| "medium".into()));
        answer["size"] = json!(r.size.unwrap_or_else(|| "1024x1024".into()));
        answer["usage"] = json!({
            "input_tokens": input,
            "input_tokens_details": {"text_tokens": input, "image_tokens": 0},
            "output_tokens": output,
            "total_tokens": input + output,
        });
    }
    Ok((answer, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_come_as_asked_with_usage_for_gpt_image() {
        let (v, n) = generate(br#"{"model":"dall-e-3","prompt":"a fox","n":2}"#, "x", 7).unwrap();
        assert_eq!(n, 2);
        assert_eq!(v["created"], 7);
        assert!(v["data"][1]["url"].as_str().unwrap().ends_with("/1.png"));
        assert!(v.get("usage").is_none());
        let (v, _) = generate(
            br#"{"model":"gpt-image-1","prompt":"a red fox","response_format":"url"}"#,
            "x",
            7,
        )
        .unwrap();
        assert_eq!(v["data"][0]["b64_json"], encode_base64(&PNG));
        assert_eq!(v["usage"]["input_tokens"], 3);
        assert_eq!(v["usage"]["output_tokens"], OUTPUT_TOKENS_PER_IMAGE);
        assert!(generate(br#"{"model":"m","prompt":"x","n":11}"#, "x", 7).is_err());
        assert!(generate(br#"{"model":"m"}"#, "x", 7).is_err());
    }
}
