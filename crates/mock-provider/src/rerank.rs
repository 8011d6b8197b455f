//! `POST /v1/rerank` in Cohere's v2 shape (which Jina, vLLM and Together share): `model`,
//! `query`, `documents` (strings, or objects with `text`), `top_n`; answered with `results`
//! (`index`, `relevance_score`, best first) and `meta.billed_units.search_units`.
//!
//! Deterministic: a document's score is the share of the query's distinct words it contains
//! (case-insensitive), ties kept in document order; one search unit per 100 documents.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    documents: Option<Vec<Value>>,
    #[serde(default)]
    top_n: Option<usize>,
    #[serde(default)]
    return_documents: Option<bool>,
}

fn words(s: &str) -> HashSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The answer and the search units it bills.
pub(crate) fn rerank(body: &[u8], id: &str) -> Result<(Value, u64), ApiError> {
    let r: Request = serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
    let missing = |p: &'static str| {
        ApiError::invalid_request(
            format!("Missing required parameter: '{p}'."),
            Some(p),
            Some("missing_required_parameter"),
        )
    };
    r.model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| missing("model"))?;
    let query = r.query.ok_or_else(|| missing("query"))?;
    let docs = r
        .documents
        .filter(|d| !d.is_empty())
        .ok_or_else(|| missing("documents"))?;
    let texts: Vec<String> = docs
        .iter()
        .map(|d| match d {
            Value::String(s) => s.clone(),
            other => other
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
        .collect();
    let q = words(&query);
    let mut scored: Vec<(usize, f64)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let d = words(t);
            let shared = q.iter().filter(|w| d.contains(*w)).count();
            (i, shared as f64 / q.len().max(1) as f64)
        })
        .collect();
    // Stable: equal scores keep document order.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.truncate(r.top_n.unwrap_or(usize::MAX));
    let results: Vec<Value> = scored
        .into_iter()
        .map(|(index, score)| {
            let mut v = json!({"index": index, "relevance_score": score});
            if r.return_documents == Some(true) {
                v["document"] = json!({"text": texts[index]});
            }
            v
        })
        .collect();
    let units = (docs.len() as u64).div_ceil(100);
    let answer = json!({
        "id": format!("rerank-mock-{id}"),
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": units}},
    });
    Ok((answer, units))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_sharing_more_query_words_rank_first() {
        let body = br#"{"model":"rerank-v3.5","query":"capital of France","documents":["Berlin is big","Paris is the capital of France",{"text":"the capital"}],"top_n":2}"#;
        let (v, units) = rerank(body, "1").unwrap();
        assert_eq!(units, 1);
        assert_eq!(v["results"][0]["index"], 1);
        assert_eq!(v["results"][0]["relevance_score"], 1.0);
        assert_eq!(v["results"][1]["index"], 2);
        assert_eq!(v["results"].as_array().unwrap().len(), 2);
        assert_eq!(v["meta"]["billed_units"]["search_units"], 1);
        assert!(rerank(br#"{"model":"m","query":"q","documents":[]}"#, "2").is_err());
    }
}
