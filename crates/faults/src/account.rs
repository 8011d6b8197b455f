//! Answers against the ledger: which answers must have a ledger row (the edge admitted them),
//! which must not (refused before admission), and the figures of a scenario.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::load::Outcome;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Billing {
    /// Admitted: exactly one ledger row.
    Must,
    /// Refused before admission: no row.
    MustNot,
    /// No response head: the client cannot tell (counted against what the provider served).
    Unseen,
}

/// 503 messages of refusals made before admission (crates/edge/src/admission.rs, auth.rs):
/// nothing was admitted, so nothing is billed. Every other 503 comes after admission and is
/// billed at $0 (README: "a 503 the gateway produced costs nothing: its ledger row has 0 tokens").
const PRE_ADMISSION_503: [&str; 4] = [
    "usage cannot be recorded",
    "budgets cannot be checked",
    "rate limiter is unreachable",
    "key store has not loaded",
];

/// Codes the edge answers with before admitting (crates/edge/src/error.rs).
const PRE_ADMISSION_CODES: [&str; 17] = [
    "missing_api_key",
    "invalid_api_key",
    "expired_api_key",
    "invalid_token",
    "insufficient_role",
    "invalid_request",
    "invalid_json",
    "json_too_deep",
    "param_over_limit",
    "request_too_large",
    "headers_too_large",
    "overloaded",
    "auth_throttled",
    "model_not_found",
    "model_not_allowed",
    "rate_limit_exceeded",
    "concurrency_limit_exceeded",
];

pub fn billing(o: &Outcome) -> Billing {
    let Some(status) = o.status else {
        return Billing::Unseen;
    };
    if status == 200 {
        return Billing::Must;
    }
    let code = o.code.as_deref().unwrap_or("");
    if PRE_ADMISSION_CODES.contains(&code)
        || code == "tokens_limit_exceeded"
        || code == "budget_exceeded"
    {
        return Billing::MustNot;
    }
    if status == 503 {
        let msg = o.message.as_deref().unwrap_or("");
        if PRE_ADMISSION_503.iter().any(|m| msg.contains(m)) {
            return Billing::MustNot;
        }
    }
    // 413/431 and friends may come from the HTTP layer with no JSON body at all.
    if matches!(
        status,
        400 | 401 | 403 | 404 | 405 | 408 | 411 | 413 | 415 | 422 | 431
    ) && o.code.is_none()
    {
        return Billing::MustNot;
    }
    Billing::Must
}

#[derive(Debug, Default)]
pub struct Figures {
    pub sent: usize,
    pub by_status: BTreeMap<String, usize>,
    pub ledger_rows: usize,
    pub must: usize,
    pub provider_served: u64,
    pub lost: usize,
    pub doubled: usize,
    pub unseen: usize,
    /// Must-bill answers missing from the ledger, a few, for the report.
    pub lost_examples: Vec<String>,
}

impl Figures {
    pub fn expected(&self) -> usize {
        self.must
            .max(usize::try_from(self.provider_served).unwrap_or(usize::MAX))
    }
}

/// `provider_served`: chat requests the provider saw in this scenario, or `None` where routing
/// may call it more than once per request (provider faults are retried).
pub fn figures(outcomes: &[Outcome], ledger: &[String], provider_served: Option<u64>) -> Figures {
    let mut f = Figures {
        sent: outcomes.len(),
        ledger_rows: ledger.len(),
        provider_served: provider_served.unwrap_or(0),
        ..Figures::default()
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in ledger {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let mut seen = HashSet::new();
    for o in outcomes {
        let label = match o.status {
            None => format!("none-{}", o.transport.unwrap_or("reset")),
            Some(200) if !o.completed => "200cut".to_owned(),
            Some(s) => s.to_string(),
        };
        *f.by_status.entry(label).or_default() += 1;
        if let Some(id) = &o.request_id {
            seen.insert(id.as_str());
        }
        let n = o
            .request_id
            .as_deref()
            .and_then(|id| counts.get(id))
            .copied()
            .unwrap_or(0);
        match billing(o) {
            Billing::Must => {
                f.must += 1;
                if n == 0 {
                    f.lost += 1;
                    if f.lost_examples.len() < 3 {
                        f.lost_examples.push(format!(
                            "{} {:?} {}",
                            o.request_id.as_deref().unwrap_or("?"),
                            o.status,
                            o.code.as_deref().unwrap_or("")
                        ));
                    }
                }
            }
            Billing::MustNot => f.doubled += n,
            Billing::Unseen => f.unseen += 1,
        }
    }
    // A row twice (the primary key forbids it; counted should that ever change) ...
    f.doubled += counts.values().map(|n| n.saturating_sub(1)).sum::<usize>();
    // ... and rows no answer accounts for beyond the requests whose answer never arrived.
    let unknown = counts.keys().filter(|id| !seen.contains(*id)).count();
    f.doubled += unknown.saturating_sub(f.unseen);
    // Every provider call of a request is one admitted request: rows fewer than calls were lost
    // (requests cut before their answer's head reached the client are counted here).
    if let Some(p) = provider_served {
        let p = usize::try_from(p).unwrap_or(usize::MAX);
        f.lost = f.lost.max(p.saturating_sub(f.ledger_rows));
    }
    f
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::time::Instant;

    use super::*;

    fn answer(status: Option<u16>, id: &str, code: Option<&str>, message: Option<&str>) -> Outcome {
        let now = Instant::now();
        Outcome {
            status,
            request_id: (!id.is_empty()).then(|| id.to_owned()),
            code: code.map(str::to_owned),
            message: message.map(str::to_owned),
            transport: None,
            completed: status == Some(200),
            started: now,
            finished: now,
        }
    }

    #[test]
    fn refusals_before_admission_are_not_billed_and_everything_after_is() {
        let must_not = [
            answer(Some(429), "a", Some("rate_limit_exceeded"), None),
            answer(Some(413), "b", Some("request_too_large"), None),
            answer(Some(400), "c", Some("json_too_deep"), None),
            answer(Some(503), "d", Some("overloaded"), None),
            answer(
                Some(503),
                "e",
                Some("service_unavailable"),
                Some("... (the rate limiter is unreachable) ..."),
            ),
        ];
        for o in &must_not {
            assert_eq!(billing(o), Billing::MustNot, "{o:?}");
        }
        let must = [
            answer(Some(200), "f", None, None),
            answer(
                Some(503),
                "g",
                Some("service_unavailable"),
                Some("... (a gateway service is unreachable) ..."),
            ),
            answer(Some(502), "h", Some("upstream_error"), None),
            answer(Some(429), "i", Some("upstream_rate_limited"), None),
        ];
        for o in &must {
            assert_eq!(billing(o), Billing::Must, "{o:?}");
        }
        assert_eq!(billing(&answer(None, "", None, None)), Billing::Unseen);
    }

    #[test]
    fn a_missing_row_is_lost_and_an_extra_one_is_doubled() {
        let answers = [
            answer(Some(200), "a", None, None),
            answer(Some(200), "b", None, None),
            answer(Some(429), "c", Some("rate_limit_exceeded"), None),
        ];
        let exact = figures(&answers, &["a".into(), "b".into()], Some(2));
        assert_eq!((exact.lost, exact.doubled, exact.expected()), (0, 0, 2));

        let missing = figures(&answers, &["a".into()], Some(2));
        assert_eq!((missing.lost, missing.doubled), (1, 0));

        // A row for a refusal, a row for a request nobody sent, and a row twice.
        let extra = figures(
            &answers,
            &["a".into(), "b".into(), "c".into(), "z".into(), "a".into()],
            Some(2),
        );
        assert_eq!((extra.lost, extra.doubled), (0, 3));
    }

    #[test]
    fn requests_cut_before_their_answer_count_through_what_the_provider_served() {
        let answers = [
            answer(Some(200), "a", None, None),
            answer(None, "", None, None),
            answer(None, "", None, None),
        ];
        // Two were cut; the provider served one of them, and its row is there: nothing lost.
        let billed = figures(&answers, &["a".into(), "x".into()], Some(2));
        assert_eq!((billed.lost, billed.doubled), (0, 0));
        // The same, its row missing: lost, though no client ever saw its id.
        let unbilled = figures(&answers, &["a".into()], Some(2));
        assert_eq!(unbilled.lost, 1);
        // Three rows for two cut requests is one too many.
        let over = figures(
            &answers,
            &["a".into(), "x".into(), "y".into(), "w".into()],
            None,
        );
        assert_eq!(over.doubled, 1);
    }
}
