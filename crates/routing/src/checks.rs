//! Optional active health checks: every `routing.health_check_interval`, a `GET {base}/models`
//! to each deployment with its current key. Connect errors, timeouts and 5xx count as failures
//! (enough of them eject the deployment before a client call has to find out); a pass brings
//! back a deployment whose ejection ran out. Other answers (401, 404 from providers without a
//! models route) say nothing about availability and are ignored.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::call::Shared;
use crate::health::now_ms;

/// Longest a check may take.
const MAX_CHECK_TIME: Duration = Duration::from_secs(5);

pub(crate) async fn run(shared: Arc<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let limit = every.min(MAX_CHECK_TIME);
    loop {
        tick.tick().await;
        let table = shared.table.load_full();
        let mut checks = JoinSet::new();
        for model in table.models() {
            for d in &model.deployments {
                let now = now_ms();
                let mut req = d.client.get(&d.provider.models_url).timeout(limit);
                if let Ok(Some(k)) = d.key(now)
                    && let Some(key) = d.keys.get(k)
                {
                    req = req.header(d.provider.auth_header.clone(), key.auth.clone());
                }
                req = crate::upstream::with_static_headers(req, d);
                let health = d.health.clone();
                let circuit = table.policy.circuit;
                checks.spawn(async move {
                    let passed = match req.send().await {
                        Ok(resp) => !resp.status().is_server_error(),
                        Err(_) => false,
                    };
                    if passed {
                        health.check_passed(now_ms());
                    } else {
                        health.failure(&circuit, now_ms());
                    }
                    metrics::counter!(
                        "tollgate_routing_health_checks_total",
                        "result" => if passed { "pass" } else { "fail" },
                    )
                    .increment(1);
                });
            }
        }
        while checks.join_next().await.is_some() {}
    }
}
