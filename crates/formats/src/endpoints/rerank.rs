//! `POST /v1/rerank` in the shape Cohere, Jina, vLLM and Together share: `model`, `query`,
//! `documents` (strings, or objects with `text`), `top_n`; answered with
//! `results[{index, relevance_score}]`. Billed per search unit: Cohere's
//! `meta.billed_units.search_units` when the answer has it, else one per call; and by the
//! tokens the answer reports where it reports them (Jina's `usage.total_tokens`).

use serde::Deserialize;
use serde_json::value::RawValue;
use tollgate_domain::{Unit, Units, Usage};

use super::{EndpointPeek, parse, positive_count, required_string, tokens_of};
use crate::FormatError;
use crate::json;

/// Documents one search unit covers (Cohere: a query with up to 100 documents).
const DOCUMENTS_PER_SEARCH_UNIT: u64 = 100;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    query: Option<&'a RawValue>,
    #[serde(borrow, default)]
    documents: Option<&'a RawValue>,
    #[serde(borrow, default)]
    top_n: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Document {
    Text(String),
    Object {
        #[serde(default)]
        text: Option<String>,
    },
}

/// The model, the search units the documents make (one per 100, at least one) and the tokens
/// of the query and documents.
pub fn peek_rerank(body: &[u8]) -> Result<EndpointPeek, FormatError> {
    let r: Request<'_> = parse(body)?;
    let model = json::required_model(r.model)?;
    let query = required_string(r.query, "query")?;
    let raw = r
        .documents
        .filter(|v| !json::is_null(v))
        .ok_or(FormatError::MissingParameter("documents".into()))?;
    let docs: Vec<Document> = serde_json::from_str(raw.get()).map_err(|_| {
        FormatError::invalid_type(
            "documents",
            "an array of strings or of objects with `text`",
            json::kind(raw),
        )
    })?;
    if docs.is_empty() {
        return Err(FormatError::EmptyArray("documents"));
    }
    positive_count(r.top_n, "top_n")?;
    let bytes: usize = docs
        .iter()
        .map(|d| match d {
            Document::Text(t) => t.len(),
            Document::Object { text } => text.as_ref().map_or(0, String::len),
        })
        .sum::<usize>()
        + query.len();
    let units = (docs.len() as u64).div_ceil(DOCUMENTS_PER_SEARCH_UNIT);
    Ok(EndpointPeek {
        model,
        units: Units::new(Unit::SearchUnit, units.max(1)),
        prompt_tokens_estimate: tokens_of(bytes),
    })
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(default)]
    usage: Option<AnswerUsage>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    billed_units: Option<BilledUnits>,
}

#[derive(Deserialize)]
struct BilledUnits {
    #[serde(default)]
    search_units: Option<u64>,
}

#[derive(Deserialize)]
struct AnswerUsage {
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens: Option<u64>,
}

/// What a rerank answer bills: its search units (one when it does not say) and the tokens it
/// reports. `None` when the body is not JSON at all.
pub fn rerank_usage(body: &[u8]) -> Option<Usage> {
    let a: Answer = serde_json::from_slice(body).ok()?;
    let searches = a
        .meta
        .and_then(|m| m.billed_units)
        .and_then(|b| b.search_units)
        .unwrap_or(1);
    let tokens = a
        .usage
        .and_then(|u| u.total_tokens.or(u.prompt_tokens))
        .unwrap_or(0);
    Some(Usage {
        input_tokens: tokens,
        units: Some(Units::new(Unit::SearchUnit, searches)),
        ..Usage::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_make_search_units_of_a_hundred() {
        let p = peek_rerank(
            br#"{"model":"rerank-v3.5","query":"capital of France","documents":["Paris is the capital.",{"text":"Berlin"}],"top_n":1}"#,
        )
        .unwrap();
        assert_eq!(p.model, "rerank-v3.5");
        assert_eq!(p.units, Units::new(Unit::SearchUnit, 1));
        let many = format!(
            r#"{{"model":"m","query":"q","documents":[{}]}}"#,
            vec!["\"d\""; 201].join(",")
        );
        assert_eq!(peek_rerank(many.as_bytes()).unwrap().units.count, 3);
    }

    #[test]
    fn bad_requests_name_their_parameter() {
        for (body, param) in [
            (br#"{"model":"m","documents":["a"]}"#.as_slice(), "query"),
            (br#"{"model":"m","query":"q"}"#, "documents"),
            (br#"{"model":"m","query":"q","documents":[]}"#, "documents"),
            (br#"{"model":"m","query":"q","documents":"a"}"#, "documents"),
            (
                br#"{"model":"m","query":"q","documents":["a"],"top_n":0}"#,
                "top_n",
            ),
        ] {
            let e = peek_rerank(body).unwrap_err();
            assert_eq!(e.param(), Some(param), "{e}");
        }
    }

    #[test]
    fn cohere_bills_search_units_jina_tokens_and_silence_one_search() {
        let cohere = br#"{"id":"x","results":[{"index":0,"relevance_score":0.9}],"meta":{"api_version":{"version":"2"},"billed_units":{"search_units":2}}}"#;
        let u = rerank_usage(cohere).unwrap();
        assert_eq!(u.units, Some(Units::new(Unit::SearchUnit, 2)));
        let jina = br#"{"model":"jina-reranker-v2","usage":{"total_tokens":815},"results":[]}"#;
        let u = rerank_usage(jina).unwrap();
        assert_eq!(u.units, Some(Units::new(Unit::SearchUnit, 1)));
        assert_eq!(u.input_tokens, 815);
        assert_eq!(rerank_usage(b"<html>"), None);
    }
}
