//! The time window of `spend`: `--from`/`--to` as RFC 3339, or `--since 7d` relative to now.

use chrono::{DateTime, Duration, Utc};

use crate::error::CliError;

pub fn parse_time(flag: &'static str, value: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CliError::BadArgument {
            flag,
            value: value.to_owned(),
            reason: format!("{e} (expected RFC 3339, like 2026-11-01T00:00:00Z)"),
        })
}

/// `30m`, `12h`, `7d`, `2w` (also `s`).
pub fn parse_since(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, CliError> {
    let span = parse_span("--since", value)?;
    now.checked_sub_signed(span)
        .ok_or_else(|| CliError::BadArgument {
            flag: "--since",
            value: value.to_owned(),
            reason: "too long".to_owned(),
        })
}

/// A span written `30m`, `12h`, `7d`, `2w` (also `s`), for the flag named `flag`.
pub fn parse_span(flag: &'static str, value: &str) -> Result<Duration, CliError> {
    let bad = |reason: &str| CliError::BadArgument {
        flag,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| bad("expected a number and a unit, like 7d"))?;
    match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => return Err(bad("unit must be one of s, m, h, d, w")),
    }
    .ok_or_else(|| bad("too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_counts_back_from_now() {
        let now = parse_time("--to", "2026-11-24T12:00:00Z").unwrap();
        assert_eq!(
            parse_since("7d", now).unwrap(),
            parse_time("--from", "2026-11-17T12:00:00Z").unwrap()
        );
        assert_eq!(
            parse_since("90m", now).unwrap(),
            parse_time("--from", "2026-11-24T10:30:00Z").unwrap()
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        let now = Utc::now();
        for v in ["7", "d", "7y", "-1d", "99999999999999w"] {
            let e = parse_since(v, now).unwrap_err().to_string();
            assert!(e.contains("--since"), "{v}: {e}");
        }
        let e = parse_time("--from", "yesterday").unwrap_err().to_string();
        assert!(e.contains("--from") && e.contains("RFC 3339"), "{e}");
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = parse_time("--from", "2026-11-24T12:00:00+02:00").unwrap();
        assert_eq!(t, parse_time("--from", "2026-11-24T10:00:00Z").unwrap());
    }
}
