//! Log records between the wire and the store, with the privacy policy applied on the way in:
//! bodies are kept only when the record asks for it AND the tenant currently allows it, and
//! key secrets inside them are redacted.

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tollgate_proto::Timestamp;
use tollgate_proto::logging::v1::LogRecord;
use tollgate_store::logs::LogRow;
use uuid::Uuid;

use crate::redact::redact_keys;

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn time(t: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

pub(crate) fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn body(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(bytes);
    Some(redact_keys(&text).into_owned())
}

/// Whether a record carries content it wants stored.
pub(crate) fn wants_content(r: &LogRecord) -> bool {
    r.log_content && !(r.request_body.is_empty() && r.response_body.is_empty())
}

/// The row to store, or `None` for a record that cannot be stored (no valid request or tenant
/// id). `content_allowed`: tenants whose current setting allows content logging.
pub(crate) fn to_row(r: &LogRecord, content_allowed: &HashSet<Uuid>) -> Option<LogRow> {
    let request_id = Uuid::parse_str(&r.request_id).ok()?;
    let tenant_id = Uuid::parse_str(&r.tenant_id).ok()?;
    let team_id = match r.team_id.as_str() {
        "" => None,
        s => Some(Uuid::parse_str(s).ok()?),
    };
    let keep = r.log_content && content_allowed.contains(&tenant_id);
    Some(LogRow {
        request_id,
        tenant_id,
        team_id,
        key_id: r.key_id.clone(),
        model: r.model.clone(),
        deployment: r.deployment.clone(),
        provider: r.provider.clone(),
        http_status: i32::try_from(r.http_status).unwrap_or(i32::MAX),
        error_code: (!r.error_code.is_empty()).then(|| r.error_code.clone()),
        started_at: time(r.started_at.as_ref()).unwrap_or_else(Utc::now),
        latency_ms: big(r.latency_ms),
        ttfb_ms: big(r.ttfb_ms),
        input_tokens: big(r.input_tokens),
        output_tokens: big(r.output_tokens),
        cost_usd: Decimal::from_str(r.cost_usd.trim()).ok(),
        stream: r.stream,
        request_body: if keep { body(&r.request_body) } else { None },
        response_body: if keep { body(&r.response_body) } else { None },
    })
}

pub(crate) fn to_record(r: LogRow) -> LogRecord {
    let log_content = r.request_body.is_some() || r.response_body.is_some();
    LogRecord {
        request_id: r.request_id.to_string(),
        tenant_id: r.tenant_id.to_string(),
        team_id: r.team_id.map(|t| t.to_string()).unwrap_or_default(),
        key_id: r.key_id,
        model: r.model,
        deployment: r.deployment,
        provider: r.provider,
        http_status: u32::try_from(r.http_status).unwrap_or(0),
        error_code: r.error_code.unwrap_or_default(),
        started_at: Some(timestamp(r.started_at)),
        latency_ms: u64::try_from(r.latency_ms).unwrap_or(0),
        ttfb_ms: u64::try_from(r.ttfb_ms).unwrap_or(0),
        input_tokens: u64::try_from(r.input_tokens).unwrap_or(0),
        output_tokens: u64::try_from(r.output_tokens).unwrap_or(0),
        cost_usd: r.cost_usd.map(|c| c.to_string()).unwrap_or_default(),
        stream: r.stream,
        request_body: r
            .request_body
            .map(String::into_bytes)
            .unwrap_or_default()
            .into(),
        response_body: r
            .response_body
            .map(String::into_bytes)
            .unwrap_or_default()
            .into(),
        log_content,
        // Trace context is not stored: a query answer is not part of the request's trace.
        traceparent: String::new(),
    }
}
