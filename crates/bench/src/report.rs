//! The result of a run: one JSON object (stdout) and one human line (stderr).

use hdrhistogram::Histogram;
use serde::Serialize;

/// Percentiles of a microsecond histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| round3(us as f64 / 1000.0);
        Self {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: round3(h.mean() / 1000.0),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub url: String,
    pub connections: usize,
    /// The measured window (warmup excluded); for ttfb, the whole run.
    pub duration_s: f64,
    /// Requests finished inside the window, errors included.
    pub requests: u64,
    pub errors: u64,
    /// `requests / duration_s`.
    pub rps: f64,
    /// Latency of successful requests (ttfb mode: time to the full body).
    #[serde(flatten)]
    pub latency: Summary,
    /// Response body bytes read.
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_p90_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_max_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Report {
    pub(crate) fn new(mode: &'static str, url: &str, connections: usize, duration_s: f64) -> Self {
        Self {
            mode,
            url: url.to_owned(),
            connections,
            duration_s: round3(duration_s),
            requests: 0,
            errors: 0,
            rps: 0.0,
            latency: Summary::default(),
            bytes: 0,
            target_rps: None,
            late: None,
            dropped: None,
            ttfb_p50_ms: None,
            ttfb_p90_ms: None,
            ttfb_p99_ms: None,
            ttfb_max_ms: None,
            first_error: None,
        }
    }

    pub(crate) fn fill(&mut self, tally: &crate::tally::Tally) {
        self.requests = tally.requests;
        self.errors = tally.errors;
        self.bytes = tally.bytes;
        self.rps = if self.duration_s > 0.0 {
            (tally.requests as f64 / self.duration_s * 10.0).round() / 10.0
        } else {
            0.0
        };
        self.latency = Summary::of(&tally.latency);
        self.first_error.clone_from(&tally.first_error);
    }

    /// One line for people.
    pub fn human(&self) -> String {
        let l = &self.latency;
        let mut line = format!(
            "{}: {} conns, {:.1}s: {} requests ({:.1}/s), {} errors; latency p50 {:.3} ms, p90 {:.3}, p99 {:.3}, max {:.3}",
            self.mode,
            self.connections,
            self.duration_s,
            self.requests,
            self.rps,
            self.errors,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms
        );
        if let (Some(target), Some(late)) = (self.target_rps, self.late) {
            line.push_str(&format!("; target {target}/s, {late} late"));
        }
        if let Some(dropped) = self.dropped.filter(|d| *d > 0) {
            line.push_str(&format!(", {dropped} dropped"));
        }
        if let (Some(p50), Some(p99)) = (self.ttfb_p50_ms, self.ttfb_p99_ms) {
            line.push_str(&format!("; first byte p50 {p50:.3} ms, p99 {p99:.3}"));
        }
        if let Some(e) = &self.first_error {
            line.push_str(&format!("; first error: {e}"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tally::histogram;

    #[test]
    fn summary_reports_percentiles_in_milliseconds() {
        let mut h = histogram().unwrap();
        // 1..=1000 ms, one sample each.
        for ms in 1..=1000u64 {
            h.record(ms * 1000).unwrap();
        }
        let s = Summary::of(&h);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.002;
        assert!(close(s.p50_ms, 500.0), "{s:?}");
        assert!(close(s.p90_ms, 900.0), "{s:?}");
        assert!(close(s.p99_ms, 990.0), "{s:?}");
        assert!(close(s.max_ms, 1000.0), "{s:?}");
        assert!(close(s.mean_ms, 500.5), "{s:?}");
    }

    #[test]
    fn empty_histogram_summarises_to_zero_and_json_has_the_promised_keys() {
        assert_eq!(Summary::of(&histogram().unwrap()), Summary::default());
        let mut r = Report::new("saturate", "http://127.0.0.1:1/", 4, 2.0);
        let mut tally = crate::tally::Tally::new().unwrap();
        tally.ok(std::time::Duration::from_millis(3), 10);
        tally.error("HTTP 500".into());
        r.fill(&tally);
        let json = serde_json::to_value(&r).unwrap();
        for key in [
            "mode", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors", "requests", "bytes",
        ] {
            assert!(json.get(key).is_some(), "missing {key}: {json}");
        }
        assert_eq!(json["rps"], 1.0);
        assert_eq!(json["errors"], 1);
        assert!(json.get("late").is_none());
        assert!(r.human().contains("first error: HTTP 500"));
    }
}
