//! Billing follows the config file as the edge and routing do: a model added while the services
//! run is billed at its configured price (the edge already quotes that price in
//! `x-tollgate-cost`), never at $0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime};

use sqlx::PgPool;
use tollgate_config::Config;
use tollgate_proto::billing::v1 as pb;
use uuid::Uuid;

mod common;
use common::{Billing, config_text, tenant};

const FRESH: &str = r#"
[[models]]
name = "fresh"
aliases = ["fresh-alias"]
price = { input = "1.00", output = "2.00" }
[[models.deployments]]
provider = "mock"
model = "fresh"
"#;

fn event(tenant_id: &str, model: &str, started: SystemTime) -> pb::UsageEvent {
    pb::UsageEvent {
        request_id: Uuid::now_v7().to_string(),
        tenant_id: tenant_id.into(),
        key_id: "k1".into(),
        model: model.into(),
        deployment: "fresh".into(),
        provider: "mock".into(),
        input_tokens: 1_000,
        output_tokens: 500,
        http_status: 200,
        outcome: "completed".into(),
        started_at: Some(started.into()),
        reported_by_provider: true,
        ..Default::default()
    }
}

async fn spend_by_model(b: &mut Billing, tenant_id: &str) -> Vec<(String, u64, String)> {
    let spend = b
        .client
        .get_spend(pb::GetSpendRequest {
            tenant_id: tenant_id.into(),
            group_by: pb::GroupBy::Model as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    spend
        .rows
        .into_iter()
        .map(|r| (r.group, r.requests, r.cost_usd))
        .collect()
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_model_added_to_the_file_is_billed_at_its_price(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("tg-billing-reload-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tollgate.toml");
    std::fs::write(&path, config_text()).unwrap();
    let mut cfg = Config::load(Some(&path)).unwrap();
    cfg.routing.reload_interval = Duration::from_millis(100);
    let mut b = Billing::start_with(pool, cfg, Some(path.clone())).await;
    let acme = tenant(&mut b.client, "acme").await;

    // Before the file names it, `fresh` is unknown: billed at 0 and counted.
    let before = pb::RecordUsageRequest {
        events: vec![event(&acme, "fresh", SystemTime::now())],
    };
    b.client.record_usage(before).await.unwrap();
    assert_eq!(
        spend_by_model(&mut b, &acme).await,
        vec![("fresh".into(), 1, "0.000000000000".into())]
    );

    // The edge reloads this file and quotes `fresh` at once; a request may start before
    // billing has stored the new price.
    let started_early = SystemTime::now();
    std::fs::write(&path, format!("{}{FRESH}", config_text())).unwrap();

    // Billing stores the configured price as a catalog version within its reload interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let prices = b
            .client
            .list_prices(pb::ListPricesRequest {
                model: "fresh".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .prices;
        if let Some(p) = prices.first() {
            assert_eq!((p.input_usd.as_str(), p.source.as_str()), ("1", "config"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "billing did not pick up the new model"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 1,000 in * $1/M + 500 out * $2/M = $0.002 each, through the alias too, and for the
    // request that started before the version existed (the config price stands in, as it
    // does at the edge).
    let after = pb::RecordUsageRequest {
        events: vec![
            event(&acme, "fresh-alias", SystemTime::now()),
            event(&acme, "fresh", started_early),
        ],
    };
    let r = b.client.record_usage(after).await.unwrap().into_inner();
    assert_eq!(r.inserted, 2);
    assert_eq!(
        spend_by_model(&mut b, &acme).await,
        vec![("fresh".into(), 3, "0.004000000000".into())]
    );

    b.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
