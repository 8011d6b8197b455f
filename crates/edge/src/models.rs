//! `GET /v1/models` and `GET /v1/models/{id}` (also under `/api/v1`): the catalog a client can
//! read, in OpenAI's list shape carrying OpenRouter's fields, so OpenRouter clients and model
//! pickers see what each model costs and can do.
//!
//! Built from the edge's model directory (the same config every service loads) and the price
//! catalog in effect, not from a call to routing: the answer is the caller's view, so it lists
//! only the models (and aliases) the caller's key may use, and an id it may not use is a 404 like
//! an unknown one (no probing for what other keys can reach).
//!
//! - `pricing`: USD per token as decimal strings (`prompt`, `completion`, `input_cache_read`,
//!   `input_cache_write`, `internal_reasoning`) and per request (`request`), from the price in
//!   effect now, exactly as the ledger would bill;
//! - `context_length` and `top_provider`: the model's `context_window` and `max_output_tokens`;
//! - `supported_parameters`: the sampling and format parameters every deployment takes, plus
//!   `tools`/`tool_choice`, `response_format`/`structured_outputs` where a deployment has the
//!   capability;
//! - `pricing` of the endpoints billed by unit, where the price sets them: `image` (USD per
//!   image generated), and Tollgate's own `character` (per character of speech input),
//!   `audio_second` (per second of transcribed audio) and `search_unit` (per rerank search);
//! - `architecture`: text in and out, images in where a deployment has `vision`; what the
//!   unit prices say a model does: image out for a per-image price, audio out for a
//!   per-character one, audio in for a per-second one.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::{Value, json};
use tollgate_config::{Capability, DirectoryEntry};
use tollgate_domain::{Money, Price};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::prices::Pricing;
use crate::state::AppState;

/// Parameters every deployment kind accepts (the chat pivot carries them to each provider).
const BASE_PARAMETERS: [&str; 7] = [
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "reasoning",
    "user",
];

pub async fn list_models(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Value> {
    let pricing = state.prices.load();
    let created = started_at();
    let data: Vec<Value> = pricing
        .directory()
        .models()
        .flat_map(|m| names(m).map(move |name| (name, m)))
        .filter(|(name, _)| pricing.allows(&caller.0, name))
        .map(|(name, m)| model_object(&pricing, name, m, created))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

pub async fn get_model(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pricing = state.prices.load();
    let entry = pricing
        .directory()
        .get(&id)
        .filter(|_| pricing.allows(&caller.0, &id))
        .ok_or_else(|| ApiError::UnknownModel(id.clone()))?;
    Ok(Json(model_object(&pricing, &id, entry, started_at())))
}

/// A model's public name, then its aliases (each is listed: clients pick by any of them).
fn names(m: &DirectoryEntry) -> impl Iterator<Item = &str> {
    std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(String::as_str))
}

/// The edge's start, as every model's `created` (the catalog has no per-model date).
fn started_at() -> u64 {
    static AT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *AT.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// Input and output modalities: text, images in with `vision`, and what the unit prices say.
fn modalities(m: &DirectoryEntry, price: Option<&Price>) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut inputs = vec!["text"];
    if m.capabilities.contains(&Capability::Vision) {
        inputs.push("image");
    }
    let Some(p) = price.filter(|p| p.has_unit_prices()) else {
        return (inputs, vec!["text"]);
    };
    let mut outputs = Vec::new();
    if p.per_image != Money::ZERO {
        outputs.push("image");
    }
    if p.per_million_characters.micros() != 0 {
        outputs.push("audio");
    }
    if p.per_audio_second != Money::ZERO {
        inputs.push("audio");
    }
    if outputs.is_empty() {
        outputs.push("text");
    }
    (inputs, outputs)
}

fn model_object(pricing: &Pricing, id: &str, m: &DirectoryEntry, created: u64) -> Value {
    let price = pricing.price_now(&m.name);
    let (inputs, outputs) = modalities(m, price.as_ref());
    json!({
        "id": id,
        "object": "model",
        "created": created,
        "owned_by": m.owned_by.as_deref().unwrap_or("tollgate"),
        "canonical_slug": m.name,
        "name": m.name,
        "context_length": m.context_window,
        "architecture": {
            "modality": format!("{}->{}", inputs.join("+"), outputs.join("+")),
            "input_modalities": inputs,
            "output_modalities": outputs,
            "tokenizer": "Other",
            "instruct_type": null,
        },
        "pricing": price.map(|p| price_fields(&p)),
        "top_provider": {
            "context_length": m.context_window,
            "max_completion_tokens": m.max_output_tokens,
            "is_moderated": false,
        },
        "per_request_limits": null,
        "supported_parameters": supported_parameters(&m.capabilities),
    })
}

fn supported_parameters(caps: &[Capability]) -> Vec<&'static str> {
    let mut p: Vec<&'static str> = BASE_PARAMETERS.to_vec();
    if caps.contains(&Capability::Tools) {
        p.extend(["tools", "tool_choice", "parallel_tool_calls"]);
    }
    if caps.contains(&Capability::JsonSchema) {
        p.extend(["response_format", "structured_outputs"]);
    }
    p.sort_unstable();
    p
}

/// OpenRouter's pricing object: USD per token (per request for `request`, per image for
/// `image`), decimal strings; the other per-unit prices only where set.
fn price_fields(p: &Price) -> Value {
    let usd = |m: Money| m.to_usd().normalize().to_string();
    let mut v = json!({
        "prompt": per_token(p.input.micros()),
        "completion": per_token(p.output.micros()),
        "input_cache_read": per_token(p.cached_input.micros()),
        "input_cache_write": per_token(p.cache_write.micros()),
        "internal_reasoning": per_token(p.reasoning.micros()),
        "request": usd(p.per_request),
        "image": usd(p.per_image),
        "web_search": "0",
    });
    let extra = [
        (
            "character",
            p.per_million_characters.micros() != 0,
            per_token(p.per_million_characters.micros()),
        ),
        (
            "audio_second",
            p.per_audio_second != Money::ZERO,
            usd(p.per_audio_second),
        ),
        (
            "search_unit",
            p.per_search_unit != Money::ZERO,
            usd(p.per_search_unit),
        ),
    ];
    for (name, set, value) in extra {
        if set {
            v[name] = Value::String(value);
        }
    }
    v
}

/// Micro-dollars per million tokens are pico-dollars per token: exact USD per token.
fn per_token(micros_per_million: i64) -> String {
    Money::from_picos(micros_per_million)
        .to_usd()
        .normalize()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_token_prices_are_exact_decimal_strings() {
        // $0.15 per million tokens is 150,000 micro-dollars per million.
        assert_eq!(per_token(150_000), "0.00000015");
        assert_eq!(per_token(15_000_000), "0.000015");
        assert_eq!(per_token(0), "0");
        assert_eq!(per_token(1), "0.000000000001");
    }

    #[test]
    fn unit_prices_show_where_set_with_what_the_model_makes() {
        use tollgate_domain::money::PerMillion;
        let tts = Price {
            per_million_characters: PerMillion::parse_usd("15").unwrap(),
            ..Price::default()
        };
        let v = price_fields(&tts);
        assert_eq!(v["character"], "0.000015");
        assert_eq!(v["image"], "0");
        assert!(v.get("audio_second").is_none() && v.get("search_unit").is_none());
        let m = DirectoryEntry::default();
        assert_eq!(modalities(&m, Some(&tts)), (vec!["text"], vec!["audio"]));
        let images = Price {
            per_image: Money::parse_usd("0.04").unwrap(),
            ..Price::default()
        };
        assert_eq!(price_fields(&images)["image"], "0.04");
        assert_eq!(modalities(&m, Some(&images)), (vec!["text"], vec!["image"]));
        let whisper = Price {
            per_audio_second: Money::parse_usd("0.0001").unwrap(),
            ..Price::default()
        };
        assert_eq!(price_fields(&whisper)["audio_second"], "0.0001");
        assert_eq!(
            modalities(&m, Some(&whisper)),
            (vec!["text", "audio"], vec!["text"])
        );
        assert_eq!(modalities(&m, None), (vec!["text"], vec!["text"]));
    }

    #[test]
    fn parameters_follow_capabilities() {
        let none = supported_parameters(&[]);
        assert!(none.contains(&"temperature") && !none.contains(&"tools"));
        let all = supported_parameters(&[Capability::Tools, Capability::JsonSchema]);
        assert!(all.contains(&"tools") && all.contains(&"response_format"));
    }
}
