//! OpenAI `/v1/embeddings` ↔ Gemini `:batchEmbedContents`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{
    BatchEmbedContentsRequest, BatchEmbedContentsResponse, Content, EmbedContentRequest, Extra,
    Part,
};
use crate::FormatError;

#[derive(Deserialize)]
struct OpenAiEmbeddings {
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    dimensions: Option<u64>,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// An OpenAI embeddings body as one `batchEmbedContents` request for `upstream_model` (one
/// item per input string, each naming `models/{upstream_model}` as Gemini requires).
///
/// Refused (400): token-array input (Gemini embeds text only) and an `encoding_format` other
/// than `float` or `base64`. For `base64` (the official Python and Node SDKs' default) the
/// caller answers with [`gemini_to_openai_embeddings_base64`]; see [`wants_base64`].
pub fn openai_to_gemini_embeddings(
    body: &[u8],
    upstream_model: &str,
) -> Result<BatchEmbedContentsRequest, FormatError> {
    let req = parse(body)?;
    if !matches!(
        req.encoding_format.as_deref(),
        None | Some("float" | "base64")
    ) {
        return Err(FormatError::InvalidValue {
            param: "encoding_format",
            reason: "expected 'float' or 'base64'.",
        });
    }
    let texts: Vec<String> = match req.input {
        None | Some(Value::Null) => return Err(FormatError::MissingParameter("input".into())),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(FormatError::EmptyArray("input"));
        }
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(FormatError::InvalidValue {
                    param: "input",
                    reason: "Gemini embedding models take text only, not token arrays.",
                }),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(FormatError::invalid_type(
                "input",
                "a string or an array of strings",
                "another type",
            ));
        }
    };
    let model = format!("models/{upstream_model}");
    Ok(BatchEmbedContentsRequest {
        requests: texts
            .into_iter()
            .map(|t| EmbedContentRequest {
                model: Some(model.clone()),
                content: Content {
                    role: None,
                    parts: vec![Part::text(t)],
                    extra: Extra::new(),
                },
                task_type: None,
                title: None,
                output_dimensionality: req.dimensions,
                extra: Extra::new(),
            })
            .collect(),
        extra: Extra::new(),
    })
}

fn parse(body: &[u8]) -> Result<OpenAiEmbeddings, FormatError> {
    crate::json::require_object(crate::json::utf8(body)?)?;
    serde_json::from_slice(body).map_err(|e| FormatError::InvalidJson(e.to_string()))
}

/// Whether an OpenAI embeddings body asks for `encoding_format: "base64"`, so the answer must
/// come from [`gemini_to_openai_embeddings_base64`].
pub fn wants_base64(body: &[u8]) -> bool {
    parse(body).is_ok_and(|r| r.encoding_format.as_deref() == Some("base64"))
}

/// [`gemini_to_openai_embeddings`] with every vector as OpenAI's `base64` encoding: the
/// little-endian bytes of its `f32` values, in standard base64.
pub fn gemini_to_openai_embeddings_base64(
    resp: BatchEmbedContentsResponse,
    model: &str,
    prompt_tokens: u64,
) -> Value {
    let mut v = gemini_to_openai_embeddings(resp, model, prompt_tokens);
    for item in v
        .get_mut("data")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(e) = item.get_mut("embedding") {
            let bytes: Vec<u8> = e
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .flat_map(|x| (x as f32).to_le_bytes())
                .collect();
            *e = Value::String(base64(&bytes));
        }
    }
    v
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A `batchEmbedContents` answer in OpenAI's list shape. Gemini's batch answer carries no token
/// counts, so `prompt_tokens` is the caller's estimate (from the input's length), reported as
/// both `prompt_tokens` and `total_tokens`.
pub fn gemini_to_openai_embeddings(
    resp: BatchEmbedContentsResponse,
    model: &str,
    prompt_tokens: u64,
) -> Value {
    let data: Vec<Value> = resp
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e.values}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })
}
