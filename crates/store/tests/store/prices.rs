use sqlx::PgPool;
use tollgate_domain::Price;
use tollgate_domain::money::{Money, PerMillion};
use tollgate_store::prices;

fn price(input: &str, output: &str) -> Price {
    Price {
        input: PerMillion::parse_usd(input).unwrap(),
        cached_input: PerMillion::parse_usd(input).unwrap(),
        cache_write: PerMillion::parse_usd(input).unwrap(),
        output: PerMillion::parse_usd(output).unwrap(),
        reasoning: PerMillion::parse_usd(output).unwrap(),
        per_request: Money::parse_usd("0.0001").unwrap(),
        ..Price::default()
    }
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn same_price_keeps_its_version_and_a_change_adds_one(pool: PgPool) {
    let p1 = price("0.15", "0.60");
    assert_eq!(prices::upsert(&pool, "gpt-4o-mini", &p1).await.unwrap(), 1);
    assert_eq!(prices::upsert(&pool, "gpt-4o-mini", &p1).await.unwrap(), 1);

    let p2 = price("0.10", "0.60");
    assert_eq!(prices::upsert(&pool, "gpt-4o-mini", &p2).await.unwrap(), 2);
    assert_eq!(prices::upsert(&pool, "gpt-4o-mini", &p2).await.unwrap(), 2);
    assert_eq!(prices::upsert(&pool, "other", &p1).await.unwrap(), 1);

    let current = prices::current(&pool).await.unwrap();
    assert_eq!(current.len(), 2);
    assert_eq!(current["gpt-4o-mini"], (2, p2));
    assert_eq!(current["other"], (1, p1));
    // History is kept: version 1 still prices the rows billed at it.
    assert_eq!(prices::version(&pool, "gpt-4o-mini", 1).await.unwrap(), p1);

    // Going back to an earlier price is a change too.
    assert_eq!(prices::upsert(&pool, "gpt-4o-mini", &p1).await.unwrap(), 3);

    // A reasoning price of its own is a change, kept exactly.
    let p3 = Price {
        reasoning: PerMillion::parse_usd("2.40").unwrap(),
        ..p1
    };
    assert_eq!(prices::upsert(&pool, "gpt-4o-mini", &p3).await.unwrap(), 4);
    assert_eq!(prices::version(&pool, "gpt-4o-mini", 4).await.unwrap(), p3);
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn replicas_loading_the_same_catalog_together_make_one_version(pool: PgPool) {
    let p = price("2.50", "10");
    let loads = (0..8).map(|_| {
        let pool = pool.clone();
        async move { prices::upsert(&pool, "gpt-4o", &p).await.unwrap() }
    });
    let versions = futures_join(loads).await;
    assert!(versions.iter().all(|v| *v == 1), "{versions:?}");
}

async fn futures_join<F: std::future::Future<Output = i32> + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<i32> {
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn admin_prices_share_the_models_versions_and_survive_a_config_reload(pool: PgPool) {
    let base = price("0.15", "0.60");
    assert_eq!(prices::upsert(&pool, "m", &base).await.unwrap(), 1);
    let dep = prices::set(&pool, "m", Some("east"), &price("0.30", "1.20"), None)
        .await
        .unwrap();
    assert_eq!((dep.version, dep.deployment.as_deref()), (2, Some("east")));
    assert_eq!(dep.source, "admin");
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let scheduled = prices::set(&pool, "m", None, &price("1", "2"), Some(later))
        .await
        .unwrap();
    assert_eq!(scheduled.version, 3);

    // The unchanged config price is not re-added over the admin's versions.
    assert_eq!(prices::upsert(&pool, "m", &base).await.unwrap(), 1);
    let catalog = prices::PriceCatalog::new(prices::all(&pool).await.unwrap());
    let now = chrono::Utc::now();
    assert_eq!(catalog.effective("m", "east", now).unwrap().version, 2);
    assert_eq!(catalog.effective("m", "west", now).unwrap().version, 1);
    assert_eq!(catalog.effective("m", "west", later).unwrap().version, 3);
    // A row's version still names exactly one price.
    assert_eq!(prices::version(&pool, "m", 2).await.unwrap(), dep.price);

    // The past is refused: costs already recorded never change.
    let past = now - chrono::Duration::minutes(1);
    let err = prices::set(&pool, "m", None, &base, Some(past))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            tollgate_store::StoreError::Invalid {
                field: "effective_from",
                ..
            }
        ),
        "{err}"
    );
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn unit_prices_read_back_exactly_and_a_change_in_one_adds_a_version(pool: PgPool) {
    let tts = Price {
        per_million_characters: PerMillion::parse_usd("15").unwrap(),
        per_image: Money::parse_usd("0.04").unwrap(),
        per_audio_second: Money::parse_usd("0.0001").unwrap(),
        per_search_unit: Money::parse_usd("0.002").unwrap(),
        ..price("0", "0")
    };
    assert_eq!(prices::upsert(&pool, "tts", &tts).await.unwrap(), 1);
    assert_eq!(prices::upsert(&pool, "tts", &tts).await.unwrap(), 1);
    assert_eq!(prices::version(&pool, "tts", 1).await.unwrap(), tts);
    let cheaper = Price {
        per_search_unit: Money::parse_usd("0.001").unwrap(),
        ..tts
    };
    assert_eq!(prices::upsert(&pool, "tts", &cheaper).await.unwrap(), 2);
    let set = prices::set(&pool, "tts", Some("east"), &cheaper, None)
        .await
        .unwrap();
    assert_eq!(set.price, cheaper);
    let all = prices::all(&pool).await.unwrap();
    assert_eq!(
        all.iter().map(|v| v.price).collect::<Vec<_>>(),
        [tts, cheaper, cheaper]
    );
    assert_eq!(prices::current(&pool).await.unwrap()["tts"], (3, cheaper));
}
