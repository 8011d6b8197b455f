//! Users and limits through billing's gRPC API: validation naming the field, keys issued to a
//! user (and only to a user of the key's tenant), rotation keeping the user, aliases stored as
//! their model, and spend filtered and grouped by user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::PgPool;
use tollgate_proto::billing::v1 as pb;
use tonic::Code;

mod common;
use common::{Billing, tenant};

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn users_get_keys_and_limits_and_their_own_spend(pool: PgPool) {
    let mut b = Billing::start(pool.clone()).await;
    let c = &mut b.client;
    let acme = tenant(c, "acme").await;
    let other = tenant(c, "other").await;

    let bad = c
        .create_user(pb::CreateUserRequest {
            tenant_id: acme.clone(),
            email: "not-an-address".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("email"), "{}", bad.message());
    let ada = c
        .create_user(pb::CreateUserRequest {
            tenant_id: acme.clone(),
            external_id: "ada".into(),
            email: "ada@acme.example".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let dup = c
        .create_user(pb::CreateUserRequest {
            tenant_id: acme.clone(),
            email: "ada@acme.example".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    assert!(dup.message().contains("user"), "{}", dup.message());

    // A key for the user; never for another tenant's user.
    let key = c
        .create_key(pb::CreateKeyRequest {
            tenant_id: acme.clone(),
            user_id: ada.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .key
        .unwrap();
    assert_eq!(key.user_id, ada.id);
    let cross = c
        .create_key(pb::CreateKeyRequest {
            tenant_id: other.clone(),
            user_id: ada.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(cross.code(), Code::NotFound);
    assert!(cross.message().contains("user"), "{}", cross.message());
    let rotated = c
        .rotate_key(pb::RotateKeyRequest {
            tenant_id: acme.clone(),
            key_id: key.id.clone(),
            overlap_seconds: Some(0),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.created.unwrap().key.unwrap().user_id, ada.id);

    // Limits: an alias is stored as its model; validation names the field.
    let set = |scope: &str, scope_id: &str, model: &str, rpm: Option<u32>| pb::SetLimitRequest {
        tenant_id: acme.clone(),
        scope: scope.into(),
        scope_id: scope_id.into(),
        model: model.into(),
        rpm,
        ..Default::default()
    };
    let l = c
        .set_limit(set("user", &ada.id, "4o", Some(7)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((l.model.as_str(), l.rpm, l.tpm), ("gpt-4o", Some(7), None));
    for (req, field) in [
        (set("planet", &ada.id, "", Some(1)), "scope"),
        (set("user", "nope", "", Some(1)), "scope_id"),
        (set("user", &ada.id, "no-such-model", Some(1)), "model"),
        (set("user", &ada.id, "", None), "rpm"),
        (set("key", "", "", Some(1)), "scope_id"),
    ] {
        let e = c.set_limit(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{field}: {}", e.message());
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    let tenant_limit = c
        .set_limit(set("tenant", "", "", Some(0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tenant_limit.scope_id, acme);
    let listed = c
        .list_limits(pb::ListLimitsRequest {
            tenant_id: acme.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.limits.len(), 2);
    let gone = c
        .delete_limit(pb::DeleteLimitRequest {
            tenant_id: other.clone(),
            limit_id: l.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // Spend of the user only, and grouped by user.
    let event = |rid: &str, user: &str| pb::UsageEvent {
        request_id: rid.into(),
        tenant_id: acme.clone(),
        key_id: key.id.clone(),
        user_id: user.into(),
        model: "gpt-4o".into(),
        input_tokens: 1000,
        output_tokens: 100,
        outcome: "completed".into(),
        http_status: 200,
        ..Default::default()
    };
    let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    c.record_usage(pb::RecordUsageRequest {
        events: vec![
            event(&ids[0], &ada.id),
            event(&ids[1], &ada.id),
            event(&ids[2], ""),
        ],
    })
    .await
    .unwrap();
    let by_user = c
        .get_spend(pb::GetSpendRequest {
            tenant_id: acme.clone(),
            group_by: pb::GroupBy::User as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let groups: Vec<(&str, u64)> = by_user
        .rows
        .iter()
        .map(|r| (r.group.as_str(), r.requests))
        .collect();
    assert_eq!(groups, [("", 1), (ada.id.as_str(), 2)]);
    let only = c
        .get_spend(pb::GetSpendRequest {
            tenant_id: acme.clone(),
            user_id: ada.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let total = only.total.unwrap();
    assert_eq!(total.requests, 2);
    assert_eq!(total.cost_usd, by_user.rows[1].cost_usd);

    // Disabled, still listed.
    let d = c
        .disable_user(pb::DisableUserRequest {
            tenant_id: acme.clone(),
            user_id: ada.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(d.disabled_at.is_some());
    let users = c
        .list_users(pb::ListUsersRequest { tenant_id: acme })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(users.users.len(), 1);
    b.stop().await;
}
