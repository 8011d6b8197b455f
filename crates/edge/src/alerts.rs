//! Budget soft-limit webhooks, entirely off the request path.
//!
//! Every `edge.budget_alerts.poll_interval`, each edge asks Postgres for the alerts now due:
//! budgets with `alert_thresholds` whose settled spend (the ledger's, in the current calendar
//! period) has reached `threshold × limit`. The claim is an insert into `budget_alerts`, whose
//! primary key (budget, period start, threshold) lets exactly one replica win each alert; the
//! winner POSTs it to `webhook_url`, signed when a secret is set
//! (`x-tollgate-signature: sha256=<hex HMAC-SHA256 of the body>`), retrying with exponential
//! backoff. Failures are logged and counted, never seen by a request.
//!
//! The URL is an admin's, so each attempt goes through `hardening::outbound`: resolved once,
//! refused when it reaches inside (loopback, private, link-local, metadata) unless
//! `edge.outbound_allow` lists it, and connected to the address that was checked.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tollgate_config::BudgetAlertsConfig;
use tollgate_domain::Money;
use tollgate_store::budgets::BudgetAlert;

use crate::hardening::outbound::{Outbound, OutboundError};

/// Where and how alerts are delivered.
#[derive(Clone)]
struct Sink {
    url: reqwest::Url,
    secret: Option<std::sync::Arc<str>>,
    outbound: std::sync::Arc<Outbound>,
    timeout: Duration,
    max_attempts: u32,
}

/// The event body a webhook receives.
pub fn body(a: &BudgetAlert) -> Vec<u8> {
    let v = json!({
        "type": "budget.threshold_reached",
        "budget_id": a.budget_id,
        "tenant_id": a.tenant_id,
        "scope": a.scope,
        "scope_id": a.scope_id,
        "period": a.period,
        "period_start": a.period_start.to_rfc3339(),
        "period_end": a.period_end.to_rfc3339(),
        "limit_usd": Money::from_picos(a.limit_picos).to_usd().normalize().to_string(),
        "spent_usd": Money::from_picos(a.spent_picos).to_usd().normalize().to_string(),
        "threshold": a.threshold,
    });
    v.to_string().into_bytes()
}

/// `sha256=<hex>` of the body under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(body);
    Some(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Start the alert loop on `tracker` when a webhook is configured.
pub fn start(
    cfg: &BudgetAlertsConfig,
    outbound: Outbound,
    pool: PgPool,
    tracker: &TaskTracker,
    stop: CancellationToken,
) -> Result<(), crate::EdgeError> {
    let Some(url) = cfg.webhook_url.as_deref() else {
        return Ok(());
    };
    let url = reqwest::Url::parse(url).map_err(|e| crate::EdgeError::BadUrl {
        field: "edge.budget_alerts.webhook_url",
        message: e.to_string(),
    })?;
    let sink = Sink {
        url,
        secret: cfg
            .signing_secret
            .as_ref()
            .map(|s| std::sync::Arc::from(s.expose())),
        outbound: std::sync::Arc::new(outbound),
        timeout: cfg.timeout,
        max_attempts: cfg.max_attempts.max(1),
    };
    let every = cfg.poll_interval.max(Duration::from_millis(50));
    let stale = stale_after(&sink, cfg.timeout);
    let deliveries = tracker.clone();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let due = match tollgate_store::budgets::claim_alerts(&pool).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "budget alerts not checked");
                    continue;
                }
            };
            // Alerts whose sender died (or whose webhook kept failing) go out again: at
            // least once, with the same x-tollgate-event-id so a receiver can drop repeats.
            let again = tollgate_store::budgets::reclaim_undelivered(&pool, stale)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "undelivered budget alerts not checked");
                    Vec::new()
                });
            for (alert, result) in due
                .into_iter()
                .map(|a| (a, "claimed"))
                .chain(again.into_iter().map(|a| (a, "reclaimed")))
            {
                metrics::counter!("tollgate_budget_alerts_total", "result" => result).increment(1);
                deliveries.spawn(deliver(sink.clone(), pool.clone(), alert, stop.clone()));
            }
        }
    });
    Ok(())
}

/// How long a claim may stay undelivered before another poll sends it again: twice a whole
/// delivery schedule (every attempt timing out, every backoff slept), at least ten minutes, so
/// a live sender is never doubled.
fn stale_after(sink: &Sink, timeout: Duration) -> Duration {
    let mut total = timeout * sink.max_attempts;
    let mut backoff = Duration::from_secs(1);
    for _ in 1..sink.max_attempts {
        total += backoff;
        backoff = (backoff * 2).min(Duration::from_secs(300));
    }
    (total * 2).max(Duration::from_secs(600))
}

async fn deliver(sink: Sink, pool: PgPool, alert: BudgetAlert, stop: CancellationToken) {
    let body = body(&alert);
    let event_id = format!(
        "{}:{}:{}",
        alert.budget_id,
        alert.period_start.timestamp(),
        alert.threshold
    );
    let mut backoff = Duration::from_secs(1);
    for attempt in 1..=sink.max_attempts {
        let http = match sink.outbound.client(&sink.url, sink.timeout).await {
            Ok(c) => c,
            Err(e @ OutboundError::Forbidden { .. }) => {
                // An admin's URL reaching inside: never sent, and not retried (the claim stays
                // undelivered, so allow-listing the address later delivers it).
                crate::hardening::refused("outbound_forbidden");
                metrics::counter!("tollgate_budget_alerts_total", "result" => "refused")
                    .increment(1);
                tracing::error!(error = %e, budget_id = %alert.budget_id, "budget alert webhook refused");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "budget alert webhook unreachable");
                if attempt == sink.max_attempts || backoff_or_stop(&stop, &mut backoff).await {
                    break;
                }
                continue;
            }
        };
        let mut req = http
            .post(sink.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-tollgate-event-id", &event_id)
            .body(body.clone());
        if let Some(sig) = sink.secret.as_deref().and_then(|s| signature(s, &body)) {
            req = req.header("x-tollgate-signature", sig);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                metrics::counter!("tollgate_budget_alerts_total", "result" => "delivered")
                    .increment(1);
                if let Err(e) = tollgate_store::budgets::alert_delivered(
                    &pool,
                    alert.budget_id,
                    alert.period_start,
                    alert.threshold,
                )
                .await
                {
                    tracing::debug!(error = %e, "alert delivery not recorded");
                }
                return;
            }
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    attempt,
                    "budget alert webhook refused"
                )
            }
            Err(e) => tracing::warn!(error = %e, attempt, "budget alert webhook unreachable"),
        }
        if attempt == sink.max_attempts {
            break;
        }
        if backoff_or_stop(&stop, &mut backoff).await {
            break;
        }
    }
    metrics::counter!("tollgate_budget_alerts_total", "result" => "failed").increment(1);
    tracing::error!(budget_id = %alert.budget_id, threshold = alert.threshold, "budget alert not delivered");
}

/// Count a retry and wait out its backoff (doubling it); `true` when shutdown came first (it
/// does not wait out a backoff; the claim stays, undelivered).
async fn backoff_or_stop(stop: &CancellationToken, backoff: &mut Duration) -> bool {
    metrics::counter!("tollgate_budget_alerts_total", "result" => "retried").increment(1);
    let stopped = tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(*backoff) => false,
    };
    *backoff = (*backoff * 2).min(Duration::from_secs(300));
    stopped
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_claim_is_stale_only_after_twice_a_whole_delivery_schedule() {
        let sink = |max_attempts| super::Sink {
            url: reqwest::Url::parse("http://127.0.0.1:1/hook").unwrap(),
            secret: None,
            outbound: std::sync::Arc::new(Outbound::default()),
            timeout: Duration::from_secs(5),
            max_attempts,
        };
        let t = std::time::Duration::from_secs(5);
        // 8 attempts: 40 s of timeouts + 127 s of backoff, doubled = 334 s: the floor wins.
        assert_eq!(super::stale_after(&sink(8), t).as_secs(), 600);
        // 20 attempts: backoff 1..256 s then capped at 300 s: (100 + 511 + 3000) x 2.
        assert_eq!(super::stale_after(&sink(20), t).as_secs(), 7_222);
    }

    use super::*;

    #[test]
    fn the_signature_is_the_hex_hmac_of_the_exact_body() {
        // RFC 4231 test case 2.
        let sig = signature("Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_body_names_the_budget_period_and_amounts() {
        let now = chrono::Utc::now();
        let a = BudgetAlert {
            budget_id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            scope: "key".into(),
            scope_id: "k1".into(),
            period: "day".into(),
            period_start: now,
            period_end: now + chrono::Duration::days(1),
            limit_picos: 2_500_000_000_000,
            spent_picos: 1_250_000_000_000,
            threshold: 0.5,
        };
        let v: serde_json::Value = serde_json::from_slice(&body(&a)).unwrap();
        assert_eq!(v["limit_usd"], "2.5");
        assert_eq!(v["spent_usd"], "1.25");
        assert_eq!(v["threshold"], 0.5);
        assert_eq!(v["scope"], "key");
        assert_eq!(v["type"], "budget.threshold_reached");
    }
}
