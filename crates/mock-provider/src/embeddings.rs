//! `POST /v1/embeddings`: deterministic vectors (the same input always gets the same unit vector,
//! 8 dimensions unless `dimensions` asks otherwise), as floats or, when `encoding_format` is
//! `"base64"` (the official Python SDK's default), as little-endian f32 bytes in base64.

use std::borrow::Cow;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::chat::count_words;
use crate::error::{ApiError, MockError};

const DEFAULT_DIMENSIONS: usize = 8;
const MAX_DIMENSIONS: usize = 4096;

#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    input: Option<Input>,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

/// One input item: its seed for the vector and its token count.
struct Item {
    seed: u64,
    tokens: u64,
}

impl Input {
    fn items(&self) -> Vec<Item> {
        match self {
            Input::Text(t) => vec![text_item(t)],
            Input::Texts(ts) => ts.iter().map(|t| text_item(t)).collect(),
            Input::Tokens(ids) => vec![tokens_item(ids)],
            Input::TokenLists(lists) => lists.iter().map(|ids| tokens_item(ids)).collect(),
        }
    }
}

fn text_item(text: &str) -> Item {
    Item {
        seed: fnv1a(text.bytes()),
        tokens: count_words(text),
    }
}

fn tokens_item(ids: &[u32]) -> Item {
    Item {
        seed: fnv1a(ids.iter().flat_map(|id| id.to_le_bytes())),
        tokens: ids.len() as u64,
    }
}

fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A unit vector derived from `seed` by splitmix64.
pub(crate) fn vector(seed: u64, dims: usize) -> Vec<f32> {
    let mut state = seed;
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // Top 24 bits to [-1, 1).
            ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// Parses and answers one embeddings request; returns the prompt tokens served with it.
pub(crate) fn respond(body: &[u8]) -> Result<(Response, u64), ApiError> {
    let raw: RawRequest<'_> = serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
    let Some(model) = raw.model else {
        return Err(ApiError::invalid_request(
            "you must provide a model parameter",
            None,
            None,
        ));
    };
    let Some(input) = raw.input else {
        return Err(ApiError::invalid_request(
            "Missing required parameter: 'input'.",
            Some("input"),
            Some("missing_required_parameter"),
        ));
    };
    let base64 = match raw.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(ApiError::invalid_request(
                "Invalid value for 'encoding_format': expected 'float' or 'base64'.",
                Some("encoding_format"),
                Some("invalid_value"),
            ));
        }
    };
    let dims = raw.dimensions.unwrap_or(DEFAULT_DIMENSIONS);
    if dims == 0 || dims > MAX_DIMENSIONS {
        return Err(ApiError::invalid_request(
            "Invalid 'dimensions': expected a value between 1 and 4096.",
            Some("dimensions"),
            Some("invalid_value"),
        ));
    }
    let items = input.items();
    if items.is_empty() {
        return Err(ApiError::invalid_request(
            "Invalid 'input': empty array.",
            Some("input"),
            Some("empty_array"),
        ));
    }
    let prompt_tokens = items.iter().map(|i| i.tokens).sum();
    let data = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let v = vector(item.seed, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(encode_base64(&bytes))
            } else {
                Vector::Floats(v)
            };
            Embedding {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model: &model,
        usage: EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    };
    let bytes = serde_json::to_vec(&list).map_err(|e| ApiError::internal(&MockError::from(e)))?;
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((response, prompt_tokens))
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        assert_eq!(encode_base64(b""), "");
        assert_eq!(encode_base64(b"f"), "Zg==");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
        assert_eq!(encode_base64(b"foo"), "Zm9v");
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = vector(fnv1a("hello".bytes()), 8);
        assert_eq!(a, vector(fnv1a("hello".bytes()), 8));
        assert_ne!(a, vector(fnv1a("world".bytes()), 8));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
