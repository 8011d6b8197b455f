//! Key expiry, allowed models, metadata and rotation.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tollgate_domain::{ApiKey, KeyHasher};
use tollgate_store::StoreError;
use tollgate_store::keys::{self, NewKey, Replacement};
use tollgate_store::teams;

use crate::tenant;

fn meta() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("owner".to_owned(), "search-team".to_owned()),
        ("env".to_owned(), "prod".to_owned()),
    ])
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn expiry_allowed_models_and_metadata_round_trip(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let key = ApiKey::generate();
    let hash = KeyHasher::new(b"p").hash(&key);
    let expires = Utc::now() + chrono::Duration::days(30);
    let models = vec!["gpt-4o".to_owned(), "mock-fast".to_owned()];
    let created = keys::create(
        &pool,
        &NewKey {
            key_id: key.key_id(),
            key_hash: &hash,
            tenant_id: acme,
            team_id: None,
            name: "ci",
            rpm_limit: 5,
            concurrency_limit: 2,
            expires_at: Some(expires),
            allowed_models: &models,
            metadata: &meta(),
        },
    )
    .await
    .unwrap();
    // Postgres keeps microseconds.
    let stored_expiry = created.expires_at.unwrap();
    assert!((stored_expiry - expires).num_milliseconds().abs() < 1);
    assert_eq!(created.allowed_models, models);
    assert_eq!(created.metadata, meta());
    assert_eq!(created.rotated_from, None);

    let got = keys::get(&pool, acme, key.key_id()).await.unwrap();
    assert_eq!(got, created);
    assert_eq!(keys::list(&pool, acme).await.unwrap(), vec![created]);

    let snap = keys::snapshot(&pool).await.unwrap();
    assert_eq!(snap[0].expires_at, Some(stored_expiry));
    assert_eq!(snap[0].allowed_models, models);

    // Another tenant cannot read it.
    let other = tenant(&pool, "other").await;
    assert!(matches!(
        keys::get(&pool, other, key.key_id()).await,
        Err(StoreError::NotFound { what: "key" })
    ));
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn keys_expired_for_a_week_leave_the_snapshot(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let mut ids = Vec::new();
    for days_ago in [1, 8] {
        let key = ApiKey::generate();
        let hash = KeyHasher::new(b"p").hash(&key);
        keys::create(
            &pool,
            &NewKey {
                key_id: key.key_id(),
                key_hash: &hash,
                tenant_id: acme,
                team_id: None,
                name: "old",
                rpm_limit: 0,
                concurrency_limit: 0,
                expires_at: Some(Utc::now() - chrono::Duration::days(days_ago)),
                allowed_models: &[],
                metadata: &BTreeMap::new(),
            },
        )
        .await
        .unwrap();
        ids.push(key.key_id().to_owned());
    }
    let snap: Vec<String> = keys::snapshot(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    // Recently expired: kept so the edge can say `expired_api_key`.
    assert_eq!(snap, vec![ids[0].clone()]);
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn rotation_copies_settings_and_sets_the_old_expiry(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let team = teams::create(&pool, acme, "search").await.unwrap();
    let hasher = KeyHasher::new(b"p");
    let old_key = ApiKey::generate();
    let models = vec!["gpt-4o".to_owned()];
    keys::create(
        &pool,
        &NewKey {
            key_id: old_key.key_id(),
            key_hash: &hasher.hash(&old_key),
            tenant_id: acme,
            team_id: Some(team.id),
            name: "ci",
            rpm_limit: 7,
            concurrency_limit: 3,
            expires_at: None,
            allowed_models: &models,
            metadata: &meta(),
        },
    )
    .await
    .unwrap();

    // Another tenant cannot rotate it, and nothing changes.
    let other = tenant(&pool, "other").await;
    let new_key = ApiKey::generate();
    let new_hash = hasher.hash(&new_key);
    let replacement = Replacement {
        key_id: new_key.key_id(),
        key_hash: &new_hash,
    };
    assert!(matches!(
        keys::rotate(
            &pool,
            other,
            old_key.key_id(),
            replacement,
            Duration::from_secs(3600)
        )
        .await,
        Err(StoreError::NotFound { what: "key" })
    ));
    assert_eq!(keys::list(&pool, acme).await.unwrap().len(), 1);
    assert!(keys::list(&pool, other).await.unwrap().is_empty());

    let before = Utc::now();
    let (old, new) = keys::rotate(
        &pool,
        acme,
        old_key.key_id(),
        replacement,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let after = Utc::now();
    let expiry = old.expires_at.unwrap();
    let hour = chrono::Duration::hours(1);
    assert!(
        expiry >= before + hour - chrono::Duration::seconds(1) && expiry <= after + hour,
        "{expiry}"
    );
    assert_eq!(new.key_id, new_key.key_id());
    assert_eq!(new.tenant_id, acme);
    assert_eq!(new.team_id, Some(team.id));
    assert_eq!(new.name, "ci");
    assert_eq!((new.rpm_limit, new.concurrency_limit), (7, 3));
    assert_eq!(new.allowed_models, models);
    assert_eq!(new.metadata, meta());
    assert_eq!(new.expires_at, None);
    assert_eq!(new.rotated_from.as_deref(), Some(old_key.key_id()));
    // The new key is stored with its own hash.
    let stored: String = sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE key_id = $1")
        .bind(new_key.key_id())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, new_hash);

    // Rotating again with no overlap ends the old key now; an earlier expiry is never extended.
    let third = ApiKey::generate();
    let third_hash = hasher.hash(&third);
    let (old_again, _) = keys::rotate(
        &pool,
        acme,
        old_key.key_id(),
        Replacement {
            key_id: third.key_id(),
            key_hash: &third_hash,
        },
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert!(old_again.expires_at.unwrap() <= Utc::now());
    let fourth = ApiKey::generate();
    let fourth_hash = hasher.hash(&fourth);
    let (old_later, _) = keys::rotate(
        &pool,
        acme,
        old_key.key_id(),
        Replacement {
            key_id: fourth.key_id(),
            key_hash: &fourth_hash,
        },
        Duration::from_secs(86_400),
    )
    .await
    .unwrap();
    assert_eq!(old_later.expires_at, old_again.expires_at);

    // A revoked key cannot be rotated.
    keys::revoke(&pool, acme, new.key_id.as_str())
        .await
        .unwrap();
    let fifth = ApiKey::generate();
    let fifth_hash = hasher.hash(&fifth);
    assert!(matches!(
        keys::rotate(
            &pool,
            acme,
            &new.key_id,
            Replacement {
                key_id: fifth.key_id(),
                key_hash: &fifth_hash,
            },
            Duration::ZERO,
        )
        .await,
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(keys::list(&pool, acme).await.unwrap().len(), 4);
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn metadata_must_be_an_object(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let res = sqlx::query(
        "INSERT INTO api_keys (key_id, tenant_id, key_hash, metadata) \
         VALUES ('abc', $1, repeat('a', 64), '[1]'::jsonb)",
    )
    .bind(acme)
    .execute(&pool)
    .await;
    assert!(res.is_err());
}
