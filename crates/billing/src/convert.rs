//! Wire values to domain values and back, each parse error naming the field.

use chrono::{DateTime, Utc};
use tollgate_proto::Timestamp;
use uuid::Uuid;

use crate::BillingError;

/// A required UUID field.
pub(crate) fn uuid(field: &str, s: &str) -> Result<Uuid, BillingError> {
    if s.is_empty() {
        return Err(BillingError::invalid(field, "is required"));
    }
    Uuid::parse_str(s).map_err(|_| BillingError::invalid(field, "is not a UUID"))
}

/// An optional UUID field (`""` = absent).
pub(crate) fn opt_uuid(field: &str, s: &str) -> Result<Option<Uuid>, BillingError> {
    if s.is_empty() {
        Ok(None)
    } else {
        uuid(field, s).map(Some)
    }
}

/// An optional string filter (`""` = absent).
pub(crate) fn opt_str(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// A required, non-blank name.
pub(crate) fn name(field: &str, s: &str) -> Result<String, BillingError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(BillingError::invalid(field, "must not be empty"));
    }
    Ok(s.to_owned())
}

pub(crate) fn time(field: &str, t: &Timestamp) -> Result<DateTime<Utc>, BillingError> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|n| DateTime::from_timestamp(t.seconds, n))
        .ok_or_else(|| BillingError::invalid(field, "is not a valid timestamp"))
}

pub(crate) fn opt_time(
    field: &str,
    t: Option<&Timestamp>,
) -> Result<Option<DateTime<Utc>>, BillingError> {
    t.map(|t| time(field, t)).transpose()
}

pub(crate) fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}
