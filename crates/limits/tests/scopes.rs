//! Every scope kind in one admission against the real Redis at REDIS_URL: a user's limit holds
//! across its keys, and a per-model scope counts only its model while the scope's all-models
//! counter still counts everything.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
use common::{admit, config, prefix, redis_url};

use tollgate_limits::{Decision, LimitKind, Limiter, Scope, ScopeKind};

fn rpm(kind: ScopeKind, id: &str, limit: u32) -> Scope<'_> {
    Scope {
        kind,
        id,
        rpm: limit,
        concurrency: 0,
        tpm: 0,
    }
}

fn refused_by(d: &Decision) -> Option<(LimitKind, ScopeKind, u32)> {
    match d {
        Decision::Limited {
            kind, scope, limit, ..
        } => Some((*kind, *scope, *limit)),
        _ => None,
    }
}

#[tokio::test]
async fn a_user_limit_is_shared_by_the_users_keys() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    let via = |key: &'static str| [rpm(ScopeKind::Key, key, 100), rpm(ScopeKind::User, "u1", 3)];
    for key in ["k1", "k2", "k1"] {
        let d = admit(&l, &common::rid(), &via(key)).await;
        assert!(matches!(d, Decision::Admitted { .. }), "{d:?}");
    }
    let d = admit(&l, &common::rid(), &via("k2")).await;
    assert_eq!(refused_by(&d), Some((LimitKind::Rpm, ScopeKind::User, 3)));
    // Another user of the same keys' tenant is unaffected.
    let other = [
        rpm(ScopeKind::Key, "k3", 100),
        rpm(ScopeKind::User, "u2", 3),
    ];
    let d = admit(&l, &common::rid(), &other).await;
    assert!(matches!(d, Decision::Admitted { .. }), "{d:?}");
}

#[tokio::test]
async fn per_model_scopes_of_every_kind_count_only_their_model() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    for (kind, all_kind) in [
        (ScopeKind::TeamModel, ScopeKind::Team),
        (ScopeKind::UserModel, ScopeKind::User),
        (ScopeKind::TenantModel, ScopeKind::Tenant),
    ] {
        let scopes = |model: &'static str, per_model: u32| {
            [
                rpm(all_kind, "s1", 10),
                rpm(
                    kind,
                    if model == "big" { "s1/big" } else { "s1/small" },
                    per_model,
                ),
            ]
        };
        // Two "big" requests fit its per-model limit of 2, the third does not...
        for _ in 0..2 {
            let d = admit(&l, &common::rid(), &scopes("big", 2)).await;
            assert!(matches!(d, Decision::Admitted { .. }), "{kind:?}: {d:?}");
        }
        let d = admit(&l, &common::rid(), &scopes("big", 2)).await;
        assert_eq!(refused_by(&d), Some((LimitKind::Rpm, kind, 2)), "{kind:?}");
        // ...while another model of the same scope still gets through,
        let d = admit(&l, &common::rid(), &scopes("small", 0)).await;
        assert!(matches!(d, Decision::Admitted { .. }), "{kind:?}: {d:?}");
        // and every admitted request counted in the scope's all-models window (3 of 10).
        let all = [rpm(all_kind, "s1", 3)];
        let d = admit(&l, &common::rid(), &all).await;
        assert_eq!(
            refused_by(&d),
            Some((LimitKind::Rpm, all_kind, 3)),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn eight_scopes_are_checked_in_one_admission() {
    let l = Limiter::connect(config(redis_url(), &prefix()))
        .await
        .unwrap();
    let scopes = [
        rpm(ScopeKind::Key, "k", 5),
        rpm(ScopeKind::User, "u", 5),
        rpm(ScopeKind::Team, "t", 5),
        rpm(ScopeKind::Tenant, "acme", 5),
        rpm(ScopeKind::KeyModel, "k/m", 5),
        rpm(ScopeKind::UserModel, "u/m", 5),
        rpm(ScopeKind::TeamModel, "t/m", 5),
        rpm(ScopeKind::TenantModel, "acme/m", 1),
    ];
    let d = admit(&l, &common::rid(), &scopes).await;
    assert!(matches!(d, Decision::Admitted { .. }), "{d:?}");
    let d = admit(&l, &common::rid(), &scopes).await;
    assert_eq!(
        refused_by(&d),
        Some((LimitKind::Rpm, ScopeKind::TenantModel, 1))
    );
}
