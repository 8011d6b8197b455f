//! The admin API's OpenAPI 3.1 document: checked in next to the handlers (`openapi.json`) and
//! served as is. A test holds it to the route table, so a route added without documentation (or
//! documentation for a route that is gone) fails the build's tests.

use axum::response::{IntoResponse, Response};

const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /admin/v1/openapi.json`.
pub(super) async fn document() -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::DOCUMENT;

    #[test]
    fn the_document_describes_exactly_the_registered_routes() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.to_ascii_uppercase(), path.clone()))
            })
            .collect();
        let registered: BTreeSet<(String, String)> = super::super::table()
            .into_iter()
            .map(|(m, p, _)| (m.as_str().to_owned(), p.to_owned()))
            .collect();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty() && stale.is_empty(),
            "routes without docs: {undocumented:?}; docs without routes: {stale:?}"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| collect_refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
            _ => {}
        }
    }
}
