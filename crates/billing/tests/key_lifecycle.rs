//! Key expiry, allowed models, metadata, get and rotation through billing's gRPC API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use sqlx::PgPool;
use tollgate_domain::{ApiKey, KeyHasher};
use tollgate_proto::Timestamp;
use tollgate_proto::billing::v1 as pb;
use tonic::Code;

mod common;
use common::{Billing, PEPPER, tenant};

fn in_secs(s: i64) -> Timestamp {
    Timestamp {
        seconds: chrono::Utc::now().timestamp() + s,
        nanos: 0,
    }
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn keys_carry_expiry_models_and_metadata_and_rotate_with_overlap(pool: PgPool) {
    let mut b = Billing::start(pool.clone()).await;
    let c = &mut b.client;
    let acme = tenant(c, "acme").await;
    let other = tenant(c, "other").await;
    let metadata = HashMap::from([("owner".to_owned(), "ml".to_owned())]);
    let expires = in_secs(86_400);
    let created = c
        .create_key(pb::CreateKeyRequest {
            tenant_id: acme.clone(),
            name: "ci".into(),
            rpm_limit: 9,
            expires_at: Some(expires),
            // An alias, a duplicate and stray spaces.
            allowed_models: vec!["4o".into(), " gpt-4o ".into(), "4o".into()],
            metadata: metadata.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let key = created.key.unwrap();
    assert_eq!(key.expires_at, Some(expires));
    assert_eq!(key.allowed_models, vec!["4o", "gpt-4o"]);
    assert_eq!(key.metadata, metadata);

    let got = c
        .get_key(pb::GetKeyRequest {
            tenant_id: acme.clone(),
            key_id: key.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, key);
    assert!(!format!("{got:?}").contains(&created.secret[16..]));
    let foreign = c
        .get_key(pb::GetKeyRequest {
            tenant_id: other.clone(),
            key_id: key.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);

    // Another tenant cannot rotate it.
    let foreign = c
        .rotate_key(pb::RotateKeyRequest {
            tenant_id: other.clone(),
            key_id: key.id.clone(),
            overlap_seconds: None,
        })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);

    // Default overlap: one hour (it only ever brings the old expiry forward).
    let rotated = c
        .rotate_key(pb::RotateKeyRequest {
            tenant_id: acme.clone(),
            key_id: key.id.clone(),
            overlap_seconds: None,
        })
        .await
        .unwrap()
        .into_inner();
    let old = rotated.old.unwrap();
    let hour_from_now = in_secs(3600).seconds;
    let old_expiry = old.expires_at.unwrap().seconds;
    assert!((old_expiry - hour_from_now).abs() <= 2, "{old_expiry}");
    let new = rotated.created.unwrap();
    let new_key = new.key.unwrap();
    let secret = ApiKey::parse(&new.secret).unwrap();
    assert_eq!(secret.key_id(), new_key.id);
    assert_ne!(new_key.id, key.id);
    assert_eq!(new_key.rotated_from, key.id);
    assert_eq!(
        (
            new_key.rpm_limit,
            &new_key.allowed_models,
            &new_key.metadata
        ),
        (9, &key.allowed_models, &metadata)
    );
    assert_eq!(new_key.expires_at, None);
    let snap = tollgate_store::keys::snapshot(&pool).await.unwrap();
    let stored = snap.iter().find(|k| k.key_id == new_key.id).unwrap();
    assert_eq!(
        stored.key_hash,
        KeyHasher::new(PEPPER.as_bytes()).hash(&secret)
    );

    // Listing shows both, never a secret.
    let listed = c
        .list_keys(pb::ListKeysRequest {
            tenant_id: acme.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.keys.len(), 2);
    let shown = format!("{listed:?}");
    assert!(!shown.contains(&created.secret[16..]) && !shown.contains(&new.secret[16..]));

    // Overlap 0 ends the old key now.
    let now = c
        .rotate_key(pb::RotateKeyRequest {
            tenant_id: acme.clone(),
            key_id: new_key.id.clone(),
            overlap_seconds: Some(0),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(now.old.unwrap().expires_at.unwrap().seconds <= in_secs(0).seconds);
    b.stop().await;
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn bad_lifecycle_fields_are_refused_by_name(pool: PgPool) {
    let mut b = Billing::start(pool.clone()).await;
    let c = &mut b.client;
    let acme = tenant(c, "acme").await;
    let refused = |r: Result<tonic::Response<pb::CreatedKey>, tonic::Status>| {
        let e = r.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        e.message().to_owned()
    };
    let base = pb::CreateKeyRequest {
        tenant_id: acme.clone(),
        name: "x".into(),
        ..Default::default()
    };
    let msg = refused(
        c.create_key(pb::CreateKeyRequest {
            expires_at: Some(in_secs(-5)),
            ..base.clone()
        })
        .await,
    );
    assert!(msg.contains("expires_at"), "{msg}");
    let msg = refused(
        c.create_key(pb::CreateKeyRequest {
            allowed_models: vec!["no-such-model".into()],
            ..base.clone()
        })
        .await,
    );
    assert!(msg.contains("no-such-model"), "{msg}");
    let msg = refused(
        c.create_key(pb::CreateKeyRequest {
            metadata: (0..17).map(|i| (format!("k{i}"), "v".into())).collect(),
            ..base.clone()
        })
        .await,
    );
    assert!(msg.contains("metadata"), "{msg}");
    let key = c.create_key(base).await.unwrap().into_inner().key.unwrap();
    let too_long = c
        .rotate_key(pb::RotateKeyRequest {
            tenant_id: acme.clone(),
            key_id: key.id.clone(),
            overlap_seconds: Some(365 * 86_400),
        })
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
    c.revoke_key(pb::RevokeKeyRequest {
        tenant_id: acme.clone(),
        key_id: key.id.clone(),
    })
    .await
    .unwrap();
    let revoked = c
        .rotate_key(pb::RotateKeyRequest {
            tenant_id: acme,
            key_id: key.id,
            overlap_seconds: None,
        })
        .await
        .unwrap_err();
    assert_eq!(revoked.code(), Code::InvalidArgument);
    assert_eq!(
        tollgate_store::keys::snapshot(&pool).await.unwrap().len(),
        0
    );
    b.stop().await;
}
