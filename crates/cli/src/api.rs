//! The JSON of the edge's admin API (`/admin/v1`), as the CLI sends and reads it.
//!
//! Ids are kept as strings: the CLI only passes them back to the server, so it does not need to
//! know their format. Money is a decimal string on the wire and a `Decimal` here, never a float.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A decimal USD amount: a string on the wire (`"0.0477"`), tolerating a bare number and
/// treating an empty string (protobuf's unset) as zero.
fn usd<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let text = match Value::deserialize(d)? {
        Value::String(s) if s.trim().is_empty() => return Ok(Decimal::ZERO),
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Null => return Ok(Decimal::ZERO),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a decimal string, got {other}"
            )));
        }
    };
    text.trim()
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .map_err(|e| serde::de::Error::custom(format!("invalid decimal `{text}`: {e}")))
}

/// `{"error":{"message","type","code"}}`, the body of every non-2xx answer.
#[derive(Clone, Debug, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

/// `{"data":[...]}`, the shape of every list.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateTenant {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_content: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub log_content: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Fields this CLI does not know yet, kept so `--json` shows everything the server sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateTeam {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateKey {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<u32>,
    /// A span from now, like `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_models: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RotateKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap: Option<String>,
}

/// A key as the server describes it: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub id: String,
    pub tenant_id: String,
    #[serde(default)]
    pub team_id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// 0 or absent: the server's default applies.
    #[serde(default)]
    pub rpm_limit: Option<u32>,
    #[serde(default)]
    pub concurrency_limit: Option<u32>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub expired: bool,
    /// Empty: every model.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub rotated_from: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to rotating a key: the new key's secret, seen only here, and the old key with
/// its new expiry.
#[derive(Clone, Serialize, Deserialize)]
pub struct RotatedKey {
    pub key: Key,
    pub secret: String,
    pub old_key: Key,
}

impl std::fmt::Debug for RotatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedKey")
            .field("key", &self.key)
            .field("secret", &"***")
            .field("old_key", &self.old_key)
            .finish()
    }
}

/// The answer to creating a key: the only time the secret is ever seen.
#[derive(Clone, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: Key,
    pub secret: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field("secret", &"***")
            .finish()
    }
}

/// What `spend` groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    Model,
    Key,
    Team,
    User,
    Day,
    Tenant,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Model => "model",
            GroupBy::Key => "key",
            GroupBy::Team => "team",
            GroupBy::User => "user",
            GroupBy::Day => "day",
            GroupBy::Tenant => "tenant",
        }
    }
}

/// Filters of `GET .../spend`; `None` fields are not sent.
#[derive(Clone, Debug, Default)]
pub struct SpendQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub group_by: Option<GroupBy>,
    pub team_id: Option<String>,
    pub key_id: Option<String>,
    pub user_id: Option<String>,
    pub model: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpendRow {
    /// The group's value (model name, key id, day...); absent on the total.
    #[serde(default)]
    pub group: Option<String>,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cached_input_tokens: u64,
    #[serde(deserialize_with = "usd")]
    pub cost_usd: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpendReport {
    pub rows: Vec<SpendRow>,
    /// Absent (null) when the server has nothing to total.
    #[serde(default)]
    pub total: Option<SpendRow>,
}

/// Filters of `GET .../logs`; `None` fields are not sent.
#[derive(Clone, Debug, Default)]
pub struct LogsQuery {
    pub limit: Option<u32>,
    pub key_id: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub request_id: String,
    pub tenant_id: String,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub key_id: Option<String>,
    pub model: String,
    #[serde(default)]
    pub deployment: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    pub http_status: u16,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub ttfb_ms: Option<u64>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(deserialize_with = "usd")]
    pub cost_usd: Decimal,
    #[serde(default)]
    pub stream: bool,
    /// Content fields (only for tenants that log content) and anything newer.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_edge_sends_for_empty_protobuf_fields_parses() {
        let report: SpendReport = serde_json::from_value(serde_json::json!({
            "rows": [{"group": "", "requests": 0, "input_tokens": 0, "output_tokens": 0,
                      "cached_input_tokens": 0, "cost_usd": ""}],
            "total": null
        }))
        .unwrap();
        assert_eq!(report.rows[0].cost_usd, Decimal::ZERO);
        assert!(report.total.is_none());

        let key: Key = serde_json::from_value(serde_json::json!({
            "id": "k", "tenant_id": "t", "team_id": null, "name": "n", "revoked": false,
            "created_at": "2026-11-24T09:30:00+00:00", "rpm_limit": 0, "concurrency_limit": 0
        }))
        .unwrap();
        assert_eq!(
            key.created_at.unwrap().to_rfc3339(),
            "2026-11-24T09:30:00+00:00"
        );
    }

    #[test]
    fn money_is_exact_and_malformed_money_is_an_error() {
        let row = |cost: Value| {
            serde_json::from_value::<SpendRow>(serde_json::json!({
                "requests": 1, "input_tokens": 1, "output_tokens": 1, "cost_usd": cost
            }))
        };
        assert_eq!(
            row("0.000123450000".into()).unwrap().cost_usd.to_string(),
            "0.000123450000"
        );
        assert!(row("12 dollars".into()).is_err());
        assert!(row(Value::Bool(true)).is_err());
    }
}

/// `POST /admin/v1/tenants/{tenant}/budgets`.
#[derive(Clone, Debug, Serialize)]
pub struct CreateBudget {
    pub scope: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope_id: String,
    pub period: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timezone: String,
    /// Decimal string: money never travels as a float.
    pub limit_usd: String,
    /// Fractions of the limit that fire the soft-limit webhook (e.g. 0.5, 0.8, 1).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub alert_thresholds: Vec<f64>,
}

/// A budget as the server describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub id: String,
    pub tenant_id: String,
    pub scope: String,
    pub scope_id: String,
    pub period: String,
    pub timezone: String,
    pub limit_usd: String,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}
