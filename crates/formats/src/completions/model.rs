//! Typed serde models of the legacy Completions API: the request (fields chat cannot do kept as
//! raw values so the translation can name them) and the `text_completion` object, which is both
//! the whole answer and each stream chunk.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::translate::{ChatUsage, Extra, Stop, StreamOptions};

/// `object` of a completion and of each of its stream chunks.
pub const TEXT_COMPLETION: &str = "text_completion";

/// A `POST /v1/completions` body. `prompt` and the refused fields stay raw values: the
/// translation checks their shape and names the field in its 400.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_of: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `text_completion`: the whole answer, or one stream chunk (then `usage` only on the usage
/// chunk, whose `choices` is empty).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ChatUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

impl Completion {
    pub fn new(id: &str, created: u64, model: &str) -> Self {
        Self {
            id: id.to_owned(),
            object: TEXT_COMPLETION.to_owned(),
            created,
            model: model.to_owned(),
            choices: Vec::new(),
            usage: None,
            system_fingerprint: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    pub text: String,
    pub index: u32,
    /// Always `null`: chat providers are not asked for log probabilities (`logprobs` is refused).
    pub logprobs: Option<Value>,
    /// `null` in every stream chunk but the one that ends the choice.
    pub finish_reason: Option<String>,
}

impl CompletionChoice {
    pub fn new(text: String, finish_reason: Option<String>) -> Self {
        Self {
            text,
            index: 0,
            logprobs: None,
            finish_reason,
        }
    }
}
