//! The logging service on port 0 against a fresh Postgres database, called through the
//! generated gRPC client as the edge calls it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, Utc};
use sqlx::PgPool;
use tokio::sync::oneshot;
use tollgate_config::Config;
use tollgate_domain::ApiKey;
use tollgate_proto::Timestamp;
use tollgate_proto::logging::v1 as pb;
use tollgate_proto::logging::v1::logging_client::LoggingClient;
use tollgate_store::tenants;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

struct Logging {
    client: LoggingClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), tollgate_logging::LoggingError>>,
}

impl Logging {
    async fn start(pool: PgPool) -> Logging {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(tollgate_logging::run_with_pool(
            Config::default(),
            pool,
            listener,
            async {
                let _ = rx.await;
            },
        ));
        let client = LoggingClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        Logging {
            client,
            stop: Some(tx),
            server,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.await.unwrap().unwrap();
    }
}

fn record(tenant_id: Uuid, key_id: &str, log_content: bool, body: &str) -> pb::LogRecord {
    let now = Utc::now();
    pb::LogRecord {
        request_id: Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        key_id: key_id.into(),
        model: "gpt-4o".into(),
        deployment: "mock/gpt-4o".into(),
        provider: "mock".into(),
        http_status: 200,
        started_at: Some(Timestamp {
            seconds: now.timestamp(),
            nanos: 0,
        }),
        latency_ms: 300,
        ttfb_ms: 40,
        input_tokens: 12,
        output_tokens: 34,
        cost_usd: "0.000123".into(),
        stream: true,
        request_body: body.as_bytes().to_vec().into(),
        response_body: b"{\"choices\":[]}".to_vec().into(),
        log_content,
        ..Default::default()
    }
}

async fn logs_of(c: &mut LoggingClient<Channel>, tenant_id: Uuid) -> Vec<pb::LogRecord> {
    c.query_logs(pb::QueryLogsRequest {
        tenant_id: tenant_id.to_string(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .records
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn content_is_stored_only_where_allowed_and_keys_never(pool: PgPool) {
    let open = tenants::create(&pool, "open", true).await.unwrap().id;
    let closed = tenants::create(&pool, "closed", false).await.unwrap().id;
    let mut l = Logging::start(pool).await;
    let key = ApiKey::generate();
    let secret = key.expose().to_owned();
    let body = format!(r#"{{"messages":[{{"role":"user","content":"my key is {secret}"}}]}}"#);

    let mut bad = record(open, "kx", true, "x");
    bad.request_id = "not-a-uuid".into();
    let written = l
        .client
        .write_logs(pb::WriteLogsRequest {
            records: vec![
                record(open, "allowed", true, &body),
                record(open, "not-asked", false, &body),
                // The edge set the flag, but the tenant does not allow content: refused here too.
                record(closed, "not-allowed", true, &body),
                bad,
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .written;
    assert_eq!(written, 3, "the record without a valid id is dropped");

    let mine = logs_of(&mut l.client, open).await;
    assert_eq!(mine.len(), 2);
    let allowed = mine.iter().find(|r| r.key_id == "allowed").unwrap();
    let stored = String::from_utf8(allowed.request_body.to_vec()).unwrap();
    assert!(allowed.log_content);
    assert!(!stored.contains(&secret), "key secret stored: {stored}");
    assert!(
        stored.contains(&format!("tg-{}-[REDACTED]", key.key_id())),
        "{stored}"
    );
    assert_eq!(allowed.response_body, &b"{\"choices\":[]}"[..]);
    assert_eq!(allowed.cost_usd, "0.000123");
    assert_eq!((allowed.input_tokens, allowed.output_tokens), (12, 34));

    let not_asked = mine.iter().find(|r| r.key_id == "not-asked").unwrap();
    assert!(not_asked.request_body.is_empty() && not_asked.response_body.is_empty());
    assert!(!not_asked.log_content);

    let theirs = logs_of(&mut l.client, closed).await;
    assert_eq!(theirs.len(), 1);
    assert!(theirs[0].request_body.is_empty() && theirs[0].response_body.is_empty());
    // Metadata is always kept.
    assert_eq!(theirs[0].http_status, 200);

    let unbound = l
        .client
        .query_logs(pb::QueryLogsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(unbound.code(), Code::InvalidArgument);
    l.stop().await;
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn queries_filter_by_key_request_and_time(pool: PgPool) {
    let t = tenants::create(&pool, "acme", false).await.unwrap().id;
    let mut l = Logging::start(pool).await;
    let mut old = record(t, "k1", false, "");
    let two_days_ago = Utc::now() - Duration::days(2);
    old.started_at = Some(Timestamp {
        seconds: two_days_ago.timestamp(),
        nanos: 0,
    });
    let recent = record(t, "k2", false, "");
    let records = vec![old.clone(), recent.clone()];
    l.client
        .write_logs(pb::WriteLogsRequest { records })
        .await
        .unwrap();

    let q = |key_id: &str, request_id: &str, from: Option<Timestamp>| pb::QueryLogsRequest {
        tenant_id: t.to_string(),
        key_id: key_id.into(),
        request_id: request_id.into(),
        from,
        ..Default::default()
    };
    let by_key = l
        .client
        .query_logs(q("k1", "", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_key.records.len(), 1);
    assert_eq!(by_key.records[0].request_id, old.request_id);
    let by_id = l
        .client
        .query_logs(q("", &recent.request_id, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_id.records.len(), 1);
    let since = Utc::now() - Duration::hours(1);
    let by_time = l
        .client
        .query_logs(q(
            "",
            "",
            Some(Timestamp {
                seconds: since.timestamp(),
                nanos: 0,
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_time.records.len(), 1);
    assert_eq!(by_time.records[0].key_id, "k2");
    l.stop().await;
}

#[sqlx::test(migrator = "tollgate_store::MIGRATOR")]
async fn retention_drops_partitions_past_the_configured_days(pool: PgPool) {
    let t = tenants::create(&pool, "acme", false).await.unwrap().id;
    let mut l = Logging::start(pool.clone()).await;
    let mut old = record(t, "old", false, "");
    let at = Utc::now() - Duration::days(45);
    old.started_at = Some(Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    });
    l.client
        .write_logs(pb::WriteLogsRequest {
            records: vec![old, record(t, "new", false, "")],
        })
        .await
        .unwrap();

    tollgate_logging::retention::tick(&pool, 30).await;
    let left = logs_of(&mut l.client, t).await;
    let keys: Vec<&str> = left.iter().map(|r| r.key_id.as_str()).collect();
    assert_eq!(keys, vec!["new"]);
    // The tick also made tomorrow's partition ahead of time.
    let tomorrow = (Utc::now() + Duration::days(1))
        .format("request_logs_p%Y%m%d")
        .to_string();
    let parts = tollgate_store::logs::partitions(&pool).await.unwrap();
    assert!(parts.contains(&tomorrow), "{parts:?}");
    l.stop().await;
}
