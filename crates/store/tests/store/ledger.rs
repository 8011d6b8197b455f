use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sqlx::PgPool;
use tollgate_domain::money::PerMillion;
use tollgate_domain::{Money, Outcome, Price, Unit, Units, Usage};
use tollgate_store::ledger::{self, LedgerEntry, SpendGroup, SpendQuery, SpendRow};
use uuid::Uuid;

use crate::tenant;

fn price() -> Price {
    Price {
        input: PerMillion::parse_usd("2.50").unwrap(),
        cached_input: PerMillion::parse_usd("1.25").unwrap(),
        cache_write: PerMillion::parse_usd("3.75").unwrap(),
        output: PerMillion::parse_usd("10").unwrap(),
        reasoning: PerMillion::parse_usd("10").unwrap(),
        per_request: Money::ZERO,
        per_image: Money::parse_usd("0.04").unwrap(),
        per_audio_second: Money::parse_usd("0.0001").unwrap(),
        ..Price::default()
    }
}

fn entry(tenant_id: Uuid, key: &str, model: &str, at: DateTime<Utc>, n: u64) -> LedgerEntry {
    // Some rows are billed by unit besides tokens: the unit and count read back as written.
    let units = match n % 4 {
        1 => Some(Units::new(Unit::Image, n)),
        3 => Some(Units::new(Unit::AudioSecond, n * 10)),
        _ => None,
    };
    let usage = Usage {
        units,
        input_tokens: 1_000 + n,
        output_tokens: 200 + n,
        cached_input_tokens: 100,
        cache_write_tokens: 0,
        reasoning_tokens: n,
    };
    LedgerEntry {
        request_id: Uuid::now_v7(),
        tenant_id,
        team_id: None,
        key_id: key.into(),
        user_id: None,
        model: model.into(),
        deployment: format!("mock/{model}"),
        provider: "mock".into(),
        cost: usage.cost(&price()),
        usage,
        price_version: Some(1),
        http_status: 200,
        outcome: Outcome::Completed,
        stream: n.is_multiple_of(2),
        reported_by_provider: true,
        started_at: at,
        latency_ms: 120,
    }
}

fn day(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, 30, 0).unwrap()
}

/// A batch over two keys, two models and two UTC days (one row a second before midnight).
fn batch(tenant_id: Uuid) -> Vec<LedgerEntry> {
    let mut v = Vec::new();
    for n in 0..12u64 {
        let key = if n.is_multiple_of(3) { "keyA" } else { "keyB" };
        let model = if n.is_multiple_of(2) {
            "gpt-4o"
        } else {
            "gpt-4o-mini"
        };
        let at = if n < 7 { day(20, 10) } else { day(21, 3) };
        v.push(entry(tenant_id, key, model, at, n));
    }
    v[6].started_at = Utc.with_ymd_and_hms(2026, 11, 20, 23, 59, 59).unwrap();
    v
}

fn sum(entries: &[&LedgerEntry]) -> SpendRow {
    let mut r = SpendRow::default();
    for e in entries {
        r.requests += 1;
        r.input_tokens += e.usage.input_tokens;
        r.output_tokens += e.usage.output_tokens;
        r.cached_input_tokens += e.usage.cached_input_tokens;
        r.cache_write_tokens += e.usage.cache_write_tokens;
        r.reasoning_tokens += e.usage.reasoning_tokens;
        r.cost_picos += i128::from(e.cost.picos());
    }
    r
}

async fn spend(pool: &PgPool, tenant_id: Uuid, group_by: SpendGroup) -> Vec<SpendRow> {
    ledger::spend(
        pool,
        &SpendQuery {
            tenant_id,
            group_by,
            ..SpendQuery::default()
        },
    )
    .await
    .unwrap()
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn a_replayed_batch_changes_nothing(pool: PgPool) {
    let t = tenant(&pool, "acme").await;
    let b = batch(t);
    assert_eq!(ledger::record(&pool, &b).await.unwrap(), (12, 0));
    let days = (
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
    );
    let daily_before = ledger::daily(&pool, t, days.0, days.1).await.unwrap();
    let spend_before = spend(&pool, t, SpendGroup::Tenant).await;

    assert_eq!(ledger::record(&pool, &b).await.unwrap(), (0, 12));
    // Part old, part new, and one event repeated inside the batch.
    let mut mixed = vec![b[0].clone(), b[1].clone()];
    // Lands in an existing daily aggregate (keyB, gpt-4o, the 21st).
    let fresh = entry(t, "keyB", "gpt-4o", day(21, 5), 99);
    mixed.push(fresh.clone());
    mixed.push(fresh.clone());
    assert_eq!(ledger::record(&pool, &mixed).await.unwrap(), (1, 3));

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_ledger")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 13);

    let daily_after = ledger::daily(&pool, t, days.0, days.1).await.unwrap();
    let mut expected_daily = daily_before.clone();
    let slot = expected_daily
        .iter_mut()
        .find(|d| {
            d.key_id == "keyB" && d.model == "gpt-4o" && d.day == fresh.started_at.date_naive()
        })
        .unwrap();
    slot.totals.accumulate(&sum(&[&fresh]));
    assert_eq!(daily_after, expected_daily);

    let spend_after = spend(&pool, t, SpendGroup::Tenant).await;
    let mut expected = spend_before[0].clone();
    expected.accumulate(&sum(&[&fresh]));
    assert_eq!(spend_after, vec![expected]);
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn spend_groups_equal_the_sums_of_their_rows(pool: PgPool) {
    let t = tenant(&pool, "acme").await;
    let other = tenant(&pool, "other").await;
    let b = batch(t);
    ledger::record(&pool, &b).await.unwrap();
    // Another tenant's usage never shows up.
    ledger::record(&pool, &[entry(other, "keyA", "gpt-4o", day(20, 1), 5)])
        .await
        .unwrap();

    let by_model = spend(&pool, t, SpendGroup::Model).await;
    let mut expected_model = Vec::new();
    for m in ["gpt-4o", "gpt-4o-mini"] {
        let mut r = sum(&b.iter().filter(|e| e.model == m).collect::<Vec<_>>());
        r.group = m.into();
        expected_model.push(r);
    }
    assert_eq!(by_model, expected_model);

    let by_key = spend(&pool, t, SpendGroup::Key).await;
    let mut expected_key = Vec::new();
    for k in ["keyA", "keyB"] {
        let mut r = sum(&b.iter().filter(|e| e.key_id == k).collect::<Vec<_>>());
        r.group = k.into();
        expected_key.push(r);
    }
    assert_eq!(by_key, expected_key);

    let by_day = spend(&pool, t, SpendGroup::Day).await;
    let mut expected_day = Vec::new();
    for (d, label) in [(20, "2026-11-20"), (21, "2026-11-21")] {
        let date = NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let mut r = sum(&b
            .iter()
            .filter(|e| e.started_at.date_naive() == date)
            .collect::<Vec<_>>());
        r.group = label.into();
        expected_day.push(r);
    }
    assert_eq!(by_day, expected_day);
    assert_eq!(by_day[0].requests, 7, "23:59:59 UTC belongs to its own day");

    // Totals agree whatever the grouping, and with the daily aggregates.
    let total = |rows: &[SpendRow]| {
        let mut t = SpendRow::default();
        rows.iter().for_each(|r| t.accumulate(r));
        t.cost_picos
    };
    let all = sum(&b.iter().collect::<Vec<_>>());
    assert_eq!(total(&by_model), all.cost_picos);
    assert_eq!(total(&by_key), all.cost_picos);
    assert_eq!(total(&by_day), all.cost_picos);
    let daily = ledger::daily(
        &pool,
        t,
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
    )
    .await
    .unwrap();
    let mut d = SpendRow::default();
    daily.iter().for_each(|r| d.accumulate(&r.totals));
    assert_eq!((d.requests, d.cost_picos), (12, all.cost_picos));

    // Filters: one key, one model, a time window (from inclusive, to exclusive).
    let q = SpendQuery {
        tenant_id: t,
        key_id: Some("keyA".into()),
        model: Some("gpt-4o".into()),
        from: Some(day(20, 0)),
        to: Some(day(20, 0) + Duration::days(1)),
        group_by: SpendGroup::Tenant,
        ..SpendQuery::default()
    };
    let filtered = ledger::spend(&pool, &q).await.unwrap();
    let mut want = sum(&b
        .iter()
        .filter(|e| e.key_id == "keyA" && e.model == "gpt-4o" && e.started_at < day(21, 0))
        .collect::<Vec<_>>());
    want.group = t.to_string();
    assert_eq!(filtered, vec![want]);
    // The USD rendering is exact.
    assert_eq!(
        filtered[0].cost_usd().to_string(),
        Money::from_picos(i64::try_from(filtered[0].cost_picos).unwrap()).to_usd_string()
    );
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn an_empty_batch_is_a_no_op(pool: PgPool) {
    assert_eq!(ledger::record(&pool, &[]).await.unwrap(), (0, 0));
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn rows_read_back_exactly_page_by_page_and_only_for_their_tenant(pool: PgPool) {
    let a = tenant(&pool, "a").await;
    let b = tenant(&pool, "b").await;
    let rows = batch(a);
    ledger::record(&pool, &rows).await.unwrap();

    // One row, exactly as written; invisible to another tenant.
    let got = ledger::get(&pool, a, rows[3].request_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, rows[3]);
    assert!(
        ledger::get(&pool, b, rows[3].request_id)
            .await
            .unwrap()
            .is_none()
    );

    // Pages of 5 walk every row once, oldest first.
    let mut q = ledger::UsageQuery {
        tenant_id: a,
        from: day(1, 0),
        to: day(30, 0),
        key_id: None,
        user_id: None,
        model: None,
        after: None,
        limit: 5,
    };
    let mut seen = Vec::new();
    loop {
        let page = ledger::list(&pool, &q).await.unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        q.after = Some((last.started_at, last.request_id));
        seen.extend(page);
    }
    assert_eq!(seen.len(), rows.len());
    assert!(
        seen.windows(2)
            .all(|w| (w[0].started_at, w[0].request_id) < (w[1].started_at, w[1].request_id))
    );
    let mut want: Vec<Uuid> = rows.iter().map(|r| r.request_id).collect();
    let mut got: Vec<Uuid> = seen.iter().map(|r| r.request_id).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);

    // Filters apply; another tenant sees nothing.
    q.after = None;
    q.limit = 100;
    q.key_id = Some("keyA".into());
    assert_eq!(
        ledger::list(&pool, &q).await.unwrap().len(),
        rows.iter().filter(|r| r.key_id == "keyA").count()
    );
    q.key_id = None;
    q.tenant_id = b;
    assert!(ledger::list(&pool, &q).await.unwrap().is_empty());
}
