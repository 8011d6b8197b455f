//! The billing service on port 0 against a fresh Postgres database, called through the
//! generated gRPC client, as the edge and `tollgatectl` call it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::PgPool;
use tollgate_domain::{ApiKey, KeyHasher};
use tollgate_proto::Timestamp;
use tollgate_proto::billing::v1 as pb;
use tonic::Code;
use uuid::Uuid;

mod common;
use common::{Billing, PEPPER, tenant};

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn keys_are_shown_once_and_stored_only_as_hashes(pool: PgPool) {
    let mut b = Billing::start(pool.clone()).await;
    let c = &mut b.client;
    let acme = tenant(c, "acme").await;
    let other = tenant(c, "other").await;
    let dup = c
        .create_tenant(pb::CreateTenantRequest {
            name: "acme".into(),
            log_content: true,
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    let team = c
        .create_team(pb::CreateTeamRequest {
            tenant_id: acme.clone(),
            name: "search".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let missing = c
        .create_team(pb::CreateTeamRequest {
            tenant_id: Uuid::now_v7().to_string(),
            name: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let created = c
        .create_key(pb::CreateKeyRequest {
            tenant_id: acme.clone(),
            team_id: team.id.clone(),
            name: "ci".into(),
            rpm_limit: 60,
            concurrency_limit: 4,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let key = created.key.unwrap();
    let secret = ApiKey::parse(&created.secret).expect("the secret is a valid tg- key");
    assert_eq!(secret.key_id(), key.id);
    assert_eq!(
        (key.team_id.as_str(), key.rpm_limit),
        (team.id.as_str(), 60)
    );

    // Postgres holds the peppered hash, never the secret.
    let snap = tollgate_store::keys::snapshot(&pool).await.unwrap();
    assert_eq!(snap.len(), 1);
    assert_eq!(
        snap[0].key_hash,
        KeyHasher::new(PEPPER.as_bytes()).hash(&secret)
    );
    assert_ne!(snap[0].key_hash, created.secret);

    // Listing never shows the secret again.
    let listed = c
        .list_keys(pb::ListKeysRequest {
            tenant_id: acme.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.keys.len(), 1);
    assert!(!format!("{listed:?}").contains(&created.secret[16..]));

    // Another tenant cannot revoke it; its owner can.
    let foreign = c
        .revoke_key(pb::RevokeKeyRequest {
            tenant_id: other.clone(),
            key_id: key.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    let revoked = c
        .revoke_key(pb::RevokeKeyRequest {
            tenant_id: acme.clone(),
            key_id: key.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoked);
    assert!(
        tollgate_store::keys::snapshot(&pool)
            .await
            .unwrap()
            .is_empty()
    );

    let bad = c
        .create_key(pb::CreateKeyRequest {
            tenant_id: "not-a-uuid".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("tenant_id"), "{}", bad.message());

    let tenants = c
        .list_tenants(pb::ListTenantsRequest {})
        .await
        .unwrap()
        .into_inner()
        .tenants;
    assert_eq!(tenants.len(), 2);
    b.stop().await;
}

fn event(
    tenant_id: &str,
    key_id: &str,
    model: &str,
    input: u64,
    cached: u64,
    output: u64,
) -> pb::UsageEvent {
    pb::UsageEvent {
        request_id: Uuid::now_v7().to_string(),
        tenant_id: tenant_id.into(),
        key_id: key_id.into(),
        model: model.into(),
        deployment: format!("mock/{model}"),
        provider: "mock".into(),
        input_tokens: input,
        cached_input_tokens: cached,
        output_tokens: output,
        http_status: 200,
        outcome: "completed".into(),
        stream: true,
        started_at: Some(Timestamp {
            seconds: 1_795_000_000,
            nanos: 0,
        }),
        latency_ms: 250,
        reported_by_provider: true,
        ..Default::default()
    }
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn usage_is_recorded_once_and_spend_is_exact(pool: PgPool) {
    let mut b = Billing::start(pool).await;
    let c = &mut b.client;
    let acme = tenant(c, "acme").await;
    let other = tenant(c, "other").await;

    let batch = pb::RecordUsageRequest {
        events: vec![
            // 600 plain * $2.50/M + 400 cached * $1.25/M + 500 * $10/M = $0.007
            event(&acme, "k1", "gpt-4o", 1_000, 400, 500),
            // Through the alias: 10 * $2.50/M + 1 * $10/M = $0.000035
            event(&acme, "k2", "4o", 10, 0, 1),
            // 1 * $0.075/M + 0 + $0.0001 per request = $0.000100075
            event(&acme, "k1", "cheap", 1, 0, 0),
            // Not in the catalog: recorded at $0 and counted, never refused.
            event(&acme, "k1", "mystery", 5, 0, 5),
        ],
    };
    let first = c.record_usage(batch.clone()).await.unwrap().into_inner();
    assert_eq!((first.inserted, first.duplicates), (4, 0));
    let again = c.record_usage(batch.clone()).await.unwrap().into_inner();
    assert_eq!((again.inserted, again.duplicates), (0, 4));

    let spend = c
        .get_spend(pb::GetSpendRequest {
            tenant_id: acme.clone(),
            group_by: pb::GroupBy::Model as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<(&str, u64, &str)> = spend
        .rows
        .iter()
        .map(|r| (r.group.as_str(), r.requests, r.cost_usd.as_str()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("cheap", 1, "0.000100075000"),
            ("gpt-4o", 2, "0.007035000000"),
            ("mystery", 1, "0.000000000000"),
        ]
    );
    let total = spend.total.unwrap();
    assert_eq!(total.cost_usd, "0.007135075000");
    assert_eq!(total.requests, 4);
    assert_eq!(total.input_tokens, 1_016);
    assert_eq!(total.output_tokens, 506);
    assert_eq!(total.cached_input_tokens, 400);

    let by_key = c
        .get_spend(pb::GetSpendRequest {
            tenant_id: acme.clone(),
            key_id: "k2".into(),
            group_by: pb::GroupBy::Key as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_key.rows.len(), 1);
    assert_eq!(by_key.rows[0].cost_usd, "0.000035000000");

    // Bound to the tenant: another tenant sees nothing of it.
    let theirs = c
        .get_spend(pb::GetSpendRequest {
            tenant_id: other,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.rows.is_empty());
    assert_eq!(theirs.total.unwrap().cost_usd, "0.000000000000");

    let unbound = c
        .get_spend(pb::GetSpendRequest::default())
        .await
        .unwrap_err();
    assert_eq!(unbound.code(), Code::InvalidArgument);

    let mut bad = event(&acme, "k1", "gpt-4o", 1, 0, 1);
    bad.outcome = "exploded".into();
    let refused = c
        .record_usage(pb::RecordUsageRequest { events: vec![bad] })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("events[0].outcome"));
    b.stop().await;
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_database_outage_is_unavailable_not_an_internal_error(pool: PgPool) {
    let mut b = Billing::start(pool.clone()).await;
    let acme = tenant(&mut b.client, "acme").await;
    // The pool closes under the running server, as when Postgres goes away.
    pool.close().await;
    let err = b
        .client
        .record_usage(pb::RecordUsageRequest {
            events: vec![event(&acme, "k1", "gpt-4o", 1, 0, 1)],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        !err.message().to_lowercase().contains("pool"),
        "{}",
        err.message()
    );
    b.stop().await;
}
