//! The caps on a model-call body: its JSON nesting (scanned before any parse), and what it
//! asks of the provider (`max_tokens`, `n`), so one request cannot ask for unbounded work.

use serde::Deserialize;
use tollgate_config::DirectoryEntry;

use super::{Guard, refused};
use crate::error::ApiError;

impl Guard {
    /// Before any parse: a body nesting deeper than the cap is refused.
    pub fn check_depth(&self, body: &[u8]) -> Result<(), ApiError> {
        if tollgate_formats::depth::exceeds_depth(body, self.max_json_depth) {
            refused("json_too_deep");
            return Err(ApiError::JsonTooDeep {
                limit: self.max_json_depth,
            });
        }
        Ok(())
    }

    /// After the peek: the output the call asks for (`max_tokens`, whatever the format names
    /// it) is within the cap.
    pub fn check_output(&self, max_tokens: Option<u64>) -> Result<(), ApiError> {
        match max_tokens {
            Some(t) if t > self.max_output_tokens => {
                refused("max_tokens_over_cap");
                Err(ApiError::OverCap {
                    param: "max_tokens",
                    limit: self.max_output_tokens,
                })
            }
            _ => Ok(()),
        }
    }

    /// OpenAI's `n` (choices, each a whole generation) is within the cap; the `n` asked for.
    pub fn check_choices(&self, body: &[u8]) -> Result<Option<u64>, ApiError> {
        /// Only `n`; serde skips every other field without building it.
        #[derive(Deserialize)]
        struct Choices {
            n: Option<u64>,
        }
        let n = serde_json::from_slice::<Choices>(body)
            .ok()
            .and_then(|c| c.n);
        match n {
            Some(n) if n > self.max_n => {
                refused("n_over_cap");
                Err(ApiError::OverCap {
                    param: "n",
                    limit: self.max_n,
                })
            }
            _ => Ok(n),
        }
    }
}

/// Once the model is known: the request is within that model's own caps (`models[].
/// max_output_tokens`, `models[].max_n`), which sit under the edge-wide ones.
pub fn check_model_caps(
    model: &DirectoryEntry,
    max_tokens: Option<u64>,
    n: Option<u64>,
) -> Result<(), ApiError> {
    let over = |asked: Option<u64>, cap: Option<u64>| match (asked, cap) {
        (Some(asked), Some(cap)) if asked > cap => Some(cap),
        _ => None,
    };
    let (param, limit, reason) = if let Some(limit) = over(max_tokens, model.max_output_tokens) {
        ("max_tokens", limit, "max_tokens_over_model_cap")
    } else if let Some(limit) = over(n, model.max_n) {
        ("n", limit, "n_over_model_cap")
    } else {
        return Ok(());
    };
    refused(reason);
    Err(ApiError::OverModelCap {
        param,
        limit,
        model: model.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use tollgate_config::EdgeConfig;

    use super::*;

    fn guard() -> std::sync::Arc<Guard> {
        let mut edge = EdgeConfig::default();
        edge.hardening.max_json_depth = 4;
        edge.hardening.max_output_tokens = 100;
        edge.hardening.max_n = 2;
        Guard::new(&edge)
    }

    #[test]
    fn deep_bodies_are_refused_with_their_code() {
        let g = guard();
        assert!(g.check_depth(br#"{"messages":[{"content":"x"}]}"#).is_ok());
        let e = g.check_depth(br#"{"a":[[[[1]]]]}"#).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (400, "json_too_deep"));
    }

    #[test]
    fn caps_name_the_param() {
        let g = guard();
        assert!(g.check_output(Some(100)).is_ok());
        assert!(g.check_output(None).is_ok());
        let e = g.check_output(Some(101)).unwrap_err();
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(body["error"]["param"], "max_tokens");
        assert_eq!(body["error"]["code"], "param_over_limit");
        assert!(g.check_choices(br#"{"n":2,"model":"m"}"#).is_ok());
        let e = g.check_choices(br#"{"model":"m","n":3}"#).unwrap_err();
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(body["error"]["param"], "n");
    }

    #[test]
    fn a_models_own_caps_name_the_param_and_the_model() {
        let model = DirectoryEntry {
            name: "small".into(),
            max_output_tokens: Some(50),
            max_n: Some(1),
            ..DirectoryEntry::default()
        };
        assert!(check_model_caps(&model, Some(50), Some(1)).is_ok());
        assert!(check_model_caps(&model, None, None).is_ok());
        let e = check_model_caps(&model, Some(51), None).unwrap_err();
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!((e.status().as_u16(), e.code()), (400, "param_over_limit"));
        assert_eq!(body["error"]["param"], "max_tokens");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`small`")
        );
        let e = check_model_caps(&model, None, Some(2)).unwrap_err();
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(body["error"]["param"], "n");
        let free = DirectoryEntry::default();
        assert!(check_model_caps(&free, Some(1 << 40), Some(99)).is_ok());
    }
}
