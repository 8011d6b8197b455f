use std::time::Duration;

use sqlx::PgPool;
use tollgate_domain::{ApiKey, KeyHasher};
use tollgate_store::StoreError;
use tollgate_store::changes::Changes;
use tollgate_store::keys::{self, NewKey};
use tollgate_store::{teams, tenants};
use uuid::Uuid;

use crate::tenant;

async fn new_key(pool: &PgPool, tenant_id: Uuid, team_id: Option<Uuid>) -> (ApiKey, String) {
    let key = ApiKey::generate();
    let hash = KeyHasher::new(b"test-pepper").hash(&key);
    keys::create(
        pool,
        &NewKey {
            key_id: key.key_id(),
            key_hash: &hash,
            tenant_id,
            team_id,
            name: "ci",
            rpm_limit: 60,
            concurrency_limit: 0,
            expires_at: None,
            allowed_models: &[],
            metadata: &std::collections::BTreeMap::new(),
        },
    )
    .await
    .unwrap();
    (key, hash)
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn tenants_and_teams_refuse_duplicates_and_unknown_parents(pool: PgPool) {
    let acme = tenants::create(&pool, "acme", true).await.unwrap();
    assert!(acme.log_content);
    assert_eq!(acme.id.get_version_num(), 7);
    assert!(matches!(
        tenants::create(&pool, "acme", false).await,
        Err(StoreError::AlreadyExists { what: "tenant" })
    ));
    assert_eq!(tenants::get(&pool, acme.id).await.unwrap(), acme);
    assert!(matches!(
        tenants::get(&pool, Uuid::now_v7()).await,
        Err(StoreError::NotFound { what: "tenant" })
    ));

    let team = teams::create(&pool, acme.id, "search").await.unwrap();
    assert_eq!(team.tenant_id, acme.id);
    assert!(matches!(
        teams::create(&pool, acme.id, "search").await,
        Err(StoreError::AlreadyExists { what: "team" })
    ));
    assert!(matches!(
        teams::create(&pool, Uuid::now_v7(), "x").await,
        Err(StoreError::NotFound { what: "tenant" })
    ));
    assert_eq!(teams::list(&pool, acme.id).await.unwrap(), vec![team]);
    assert_eq!(tenants::list(&pool).await.unwrap().len(), 1);
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn keys_are_bound_to_their_tenant(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let other = tenant(&pool, "other").await;
    let team = teams::create(&pool, acme, "search").await.unwrap();
    let (key, hash) = new_key(&pool, acme, Some(team.id)).await;

    let listed = keys::list(&pool, acme).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, key.key_id());
    assert_eq!(listed[0].team_id, Some(team.id));
    assert_eq!(listed[0].rpm_limit, 60);
    assert!(keys::list(&pool, other).await.unwrap().is_empty());

    // Stored: the hash, never the secret.
    let stored: String = sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE key_id = $1")
        .bind(key.key_id())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, hash);
    assert_ne!(stored, key.expose());

    // Another tenant can neither see nor revoke it.
    assert!(matches!(
        keys::revoke(&pool, other, key.key_id()).await,
        Err(StoreError::NotFound { what: "key" })
    ));
    assert!(
        keys::list(&pool, acme).await.unwrap()[0]
            .revoked_at
            .is_none()
    );

    let revoked = keys::revoke(&pool, acme, key.key_id()).await.unwrap();
    let first = revoked.revoked_at.unwrap();
    // Revoking again keeps the first time.
    let again = keys::revoke(&pool, acme, key.key_id()).await.unwrap();
    assert_eq!(again.revoked_at, Some(first));
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_key_cannot_name_another_tenants_team(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let other = tenant(&pool, "other").await;
    let their_team = teams::create(&pool, other, "theirs").await.unwrap();
    let key = ApiKey::generate();
    let hash = KeyHasher::new(b"p").hash(&key);
    let res = keys::create(
        &pool,
        &NewKey {
            key_id: key.key_id(),
            key_hash: &hash,
            tenant_id: acme,
            team_id: Some(their_team.id),
            name: "",
            rpm_limit: 0,
            concurrency_limit: 0,
            expires_at: None,
            allowed_models: &[],
            metadata: &std::collections::BTreeMap::new(),
        },
    )
    .await;
    assert!(
        matches!(res, Err(StoreError::NotFound { what: "team" })),
        "{res:?}"
    );
    let res = keys::create(
        &pool,
        &NewKey {
            key_id: key.key_id(),
            key_hash: &hash,
            tenant_id: Uuid::now_v7(),
            team_id: None,
            name: "",
            rpm_limit: 0,
            concurrency_limit: 0,
            expires_at: None,
            allowed_models: &[],
            metadata: &std::collections::BTreeMap::new(),
        },
    )
    .await;
    assert!(
        matches!(res, Err(StoreError::NotFound { what: "tenant" })),
        "{res:?}"
    );
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn snapshot_has_live_keys_with_their_tenants_privacy_setting(pool: PgPool) {
    let open = tenants::create(&pool, "open", true).await.unwrap().id;
    let closed = tenant(&pool, "closed").await;
    let (a, a_hash) = new_key(&pool, open, None).await;
    let (b, _) = new_key(&pool, closed, None).await;
    let (c, _) = new_key(&pool, closed, None).await;
    keys::revoke(&pool, closed, c.key_id()).await.unwrap();

    let snap = keys::snapshot(&pool).await.unwrap();
    let ids: Vec<&str> = snap.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(snap.len(), 2, "{ids:?}");
    assert!(!ids.contains(&c.key_id()), "revoked key in snapshot");
    let sa = snap.iter().find(|k| k.key_id == a.key_id()).unwrap();
    assert!(sa.log_content);
    assert_eq!(sa.key_hash, a_hash);
    assert!(KeyHasher::new(b"test-pepper").verify(&a, &sa.key_hash));
    let sb = snap.iter().find(|k| k.key_id == b.key_id()).unwrap();
    assert!(!sb.log_content);
    assert_eq!(sb.tenant_id, closed);
    // Debug output does not carry the hash.
    assert!(!format!("{sa:?}").contains(&a_hash));
}

async fn changed_within_a_second(changes: &mut Changes) {
    tokio::time::timeout(Duration::from_secs(1), changes.recv())
        .await
        .expect("no change notified within a second")
        .unwrap();
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn key_changes_are_notified(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let mut changes = Changes::listen(&pool, keys::CHANNEL).await.unwrap();

    let (key, _) = new_key(&pool, acme, None).await;
    changed_within_a_second(&mut changes).await;

    keys::revoke(&pool, acme, key.key_id()).await.unwrap();
    changed_within_a_second(&mut changes).await;

    // A tenant's privacy setting travels in the snapshot too.
    tenants::set_log_content(&pool, acme, true).await.unwrap();
    changed_within_a_second(&mut changes).await;

    // Nothing else pending.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), changes.recv())
            .await
            .is_err()
    );
}
