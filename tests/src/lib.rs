//! Whole-system test harness: starts the mock provider, routing, billing, logging and one or
//! more edges in this process, each on port 0, against the real Postgres and Redis with a fresh
//! database and a fresh Redis key prefix per stack. Services are stopped and restarted like
//! processes (their shutdown futures), so tests can take billing away mid-load. A test that
//! restarts the database itself gets its own server ([`pg::PrivatePostgres`], passed in as
//! [`StackOptions::database_url`]), since the shared one serves every other test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tollgate_config::{Config, SecretRef};
use tollgate_mock_provider::{MockOptions, MockServer};

pub mod pg;
pub mod proxy;
pub mod python;
pub mod slow_proxy;

pub const ADMIN_TOKEN: &str = "test-admin-token";
/// `[internal] secret` of every test stack (32 bytes, the least allowed).
pub const INTERNAL_SECRET: &str = "test-internal-secret-0123456789ab";

/// A service running in this process, stoppable like a process.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Graceful stop, waiting for the service to finish draining.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.task).await;
    }

    /// Abrupt stop (like SIGKILL): no draining.
    pub fn kill(self) {
        self.task.abort();
    }
}

async fn spawn<F, Fut, E>(name: &'static str, listener: TcpListener, f: F) -> Running
where
    F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let fut = f(listener, rx);
    let task = tokio::spawn(async move {
        if let Err(e) = fut.await {
            eprintln!("{name} exited with an error: {e}");
        }
    });
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

async fn shutdown(rx: oneshot::Receiver<()>) {
    let _ = rx.await;
}

#[allow(clippy::disallowed_methods)]
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://tollgate:tollgate@127.0.0.1:5432/tollgate".into())
}

#[allow(clippy::disallowed_methods)]
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh, migrated database on the server of `base`; dropped by `Stack::shutdown`.
async fn fresh_database(base: &str) -> Result<(String, String)> {
    let name = format!("tg_it_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(base)
        .await
        .context("connect to the stack's Postgres server")?;
    tollgate_store::databases::create(&admin, &name).await?;
    admin.close().await;
    let (prefix, _) = base
        .rsplit_once('/')
        .ok_or_else(|| anyhow!("DATABASE_URL has no database"))?;
    let url = format!("{prefix}/{name}");
    let pool = sqlx::PgPool::connect(&url).await?;
    tollgate_store::migrate(&pool).await?;
    pool.close().await;
    Ok((name, url))
}

/// Knobs for a stack.
#[derive(Clone)]
pub struct StackOptions {
    pub mock: MockOptions,
    pub default_rpm: u32,
    pub default_concurrency: u32,
    pub max_body_bytes: usize,
    /// The edges' usage spool high-water mark.
    pub spool_max_events: usize,
    /// Applied to `cfg.edge.limits` after the fields above (team, tenant, tpm, per-model limits).
    pub limits: fn(&mut tollgate_config::LimitsConfig),
    /// The Postgres server to create this stack's fresh database on, as a URL of any database
    /// there (a [`pg::PrivatePostgres::admin_url`] for a test that restarts its database);
    /// `None`: the shared server of [`database_url`].
    pub database_url: Option<String>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            mock: MockOptions::default(),
            default_rpm: 100_000,
            default_concurrency: 1_000,
            max_body_bytes: 1024 * 1024,
            spool_max_events: 1_000_000,
            limits: |_| {},
            database_url: None,
        }
    }
}

pub struct Stack {
    pub cfg: Config,
    pub mock: MockServer,
    pub routing: Option<Running>,
    pub billing: Option<Running>,
    pub logging: Option<Running>,
    pub edges: Vec<Running>,
    pub pool: sqlx::PgPool,
    /// Billing reaches Postgres through this proxy, so a test can take the database away from
    /// it (cut every connection, refuse new ones) without disturbing anything else.
    pub billing_db: proxy::Proxy,
    db_name: String,
    /// Where `db_name` was created (and is dropped from).
    admin_url: String,
    spool_root: PathBuf,
    http: reqwest::Client,
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(opts: StackOptions) -> Stack {
        let admin_url = opts.database_url.clone().unwrap_or_else(database_url);
        let (db_name, db_url) = fresh_database(&admin_url).await.expect("fresh database");
        let mock = MockServer::start(opts.mock.clone())
            .await
            .expect("mock provider");

        let routing_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let billing_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let logging_l = TcpListener::bind("127.0.0.1:0").await.unwrap();

        // The catalog from TOML, as a user writes it: new optional fields need no change here.
        let mut cfg = Config::from_toml(&format!(
            r#"
            [[providers]]
            name = "mock"
            kind = "openai"
            base_url = "{base}"

            [[models]]
            name = "mock"
            aliases = ["gpt-4o-mini"]
            deployments = [{{ name = "mock-primary", provider = "mock", model = "mock-1" }}]
            price = {{ input = "0.15", output = "0.60" }}

            # The same mock, speaking Anthropic's Messages API at {base}/messages.
            [[providers]]
            name = "mock-anthropic"
            kind = "anthropic"
            base_url = "{base}"

            [[models]]
            name = "claude-mock"
            deployments = [{{ name = "claude-primary", provider = "mock-anthropic", model = "claude-mock-1" }}]
            price = {{ input = "3.00", output = "15.00", cached_input = "0.30", cache_write = "3.75" }}

            # The same mock speaking Gemini, Bedrock Converse (SigV4) and Azure OpenAI,
            # configured through the presets as a user would.
            [[providers]]
            name = "mock-gemini"
            preset = "gemini"
            base_url = "{root}/v1beta"
            api_key = "gemini-test-key"

            [[providers]]
            name = "mock-bedrock"
            preset = "bedrock"
            base_url = "{root}"
            region = "us-east-1"
            aws_access_key_id = "AKIDTOLLGATETEST"
            aws_secret_access_key = "bedrock-test-secret"

            [[providers]]
            name = "mock-azure"
            preset = "azure"
            base_url = "{root}"
            api_key = "azure-test-key"

            [[models]]
            name = "gemini-mock"
            deployments = [{{ provider = "mock-gemini", model = "gemini-2.5-flash" }}]
            price = {{ input = "0.30", output = "2.50", cached_input = "0.075" }}

            [[models]]
            name = "bedrock-mock"
            deployments = [{{ provider = "mock-bedrock", model = "anthropic.claude-3-5-haiku-20241022-v1:0" }}]
            price = {{ input = "0.80", output = "4.00", cached_input = "0.08", cache_write = "1.00" }}

            [[models]]
            name = "azure-mock"
            deployments = [{{ provider = "mock-azure", model = "gpt-4o-mini-prod" }}]
            price = {{ input = "0.15", output = "0.60" }}

            # The same mock serving OpenAI's Responses API natively at {base}/responses.
            [[providers]]
            name = "mock-responses"
            kind = "openai"
            base_url = "{base}"
            responses = true

            [[models]]
            name = "responses-mock"
            deployments = [{{ provider = "mock-responses", model = "mock-responses-1" }}]
            price = {{ input = "1.25", output = "10.00", cached_input = "0.125" }}

            [[models]]
            name = "embed-mock"
            aliases = ["text-embedding-3-small"]
            deployments = [{{ provider = "mock", model = "mock-embed" }}]
            price = {{ input = "0.02", output = "0" }}

            [[models]]
            name = "gemini-embed"
            deployments = [{{ provider = "mock-gemini", model = "text-embedding-004" }}]
            price = {{ input = "0.10", output = "0" }}

            # The endpoints billed by unit, each on the OpenAI-kind mock.
            [[models]]
            name = "image-mock"
            deployments = [{{ provider = "mock", model = "gpt-image-1" }}]
            price = {{ input = "5.00", output = "40.00", per_image = "0.04" }}

            [[models]]
            name = "dalle-mock"
            deployments = [{{ provider = "mock", model = "dall-e-3" }}]
            price = {{ input = "0", output = "0", per_image = "0.08" }}

            [[models]]
            name = "tts-mock"
            deployments = [{{ provider = "mock", model = "tts-1" }}]
            price = {{ input = "0", output = "0", per_million_characters = "15" }}

            [[models]]
            name = "whisper-mock"
            aliases = ["whisper-1"]
            deployments = [{{ provider = "mock", model = "whisper-1" }}]
            price = {{ input = "0", output = "0", per_audio_second = "0.0001" }}

            [[models]]
            name = "transcribe-mock"
            deployments = [{{ provider = "mock", model = "gpt-4o-transcribe" }}]
            price = {{ input = "2.50", output = "10.00" }}

            [[models]]
            name = "moderation-mock"
            deployments = [{{ provider = "mock", model = "omni-moderation-latest" }}]
            price = {{ input = "0", output = "0", per_request = "0.0002" }}

            [[models]]
            name = "rerank-mock"
            deployments = [{{ provider = "mock", model = "rerank-v3.5" }}]
            price = {{ input = "0", output = "0", per_search_unit = "0.002" }}
            "#,
            base = mock.base_url(),
            root = format!("http://{}", mock.addr()),
        ))
        .expect("test config");
        cfg.database.url = SecretRef::literal(&db_url);
        cfg.redis.url = SecretRef::literal(&redis_url());
        cfg.redis.key_prefix = format!("tgit{}", uuid::Uuid::now_v7().simple());
        cfg.edge.admin_token = Some(SecretRef::literal(ADMIN_TOKEN));
        // Every whole-system test runs with internal authentication on, as a deployment should.
        cfg.internal.secret = Some(SecretRef::literal(INTERNAL_SECRET));
        cfg.edge.routing_url = format!("http://{}", routing_l.local_addr().unwrap());
        cfg.edge.billing_url = format!("http://{}", billing_l.local_addr().unwrap());
        cfg.edge.logging_url = format!("http://{}", logging_l.local_addr().unwrap());
        cfg.edge.limits.default_rpm = opts.default_rpm;
        cfg.edge.limits.default_concurrency = opts.default_concurrency;
        (opts.limits)(&mut cfg.edge.limits);
        cfg.edge.max_body_bytes = opts.max_body_bytes;
        cfg.edge.snapshot_refresh = Duration::from_secs(30);
        cfg.edge.drain_timeout = Duration::from_secs(5);
        cfg.edge.usage.flush_interval = Duration::from_millis(50);
        cfg.edge.usage.spool_max_events = opts.spool_max_events;
        cfg.edge.logs.flush_interval = Duration::from_millis(50);
        cfg.routing.request_timeout = Duration::from_secs(20);
        let spool_root = std::env::temp_dir().join(format!("tg-it-{}", uuid::Uuid::now_v7()));
        // Routing's spool (usage of calls whose edge vanished) too, never the working directory.
        cfg.routing.usage.spool_dir = spool_root.join("routing");
        cfg.validate().expect("test config is valid");

        let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
        let billing_db = proxy::Proxy::start(postgres_addr(&db_url)).await;
        let mut stack = Stack {
            cfg,
            mock,
            routing: None,
            billing: None,
            logging: None,
            edges: Vec::new(),
            pool,
            billing_db,
            db_name,
            admin_url,
            spool_root,
            http: reqwest::Client::new(),
        };
        stack.routing = Some(stack.start_routing(routing_l).await);
        stack.billing = Some(stack.start_billing(billing_l).await);
        stack.logging = Some(stack.start_logging(logging_l).await);
        stack.add_edge().await;
        stack
    }

    async fn start_routing(&self, l: TcpListener) -> Running {
        let cfg = self.cfg.clone();
        spawn("routing", l, |l, rx| {
            tollgate_routing::run(cfg, l, shutdown(rx))
        })
        .await
    }

    async fn start_billing(&self, l: TcpListener) -> Running {
        let mut cfg = self.cfg.clone();
        let url = cfg.database.url.expose().to_owned();
        let proxied = url.replacen(
            &postgres_addr(&url).to_string(),
            &self.billing_db.addr.to_string(),
            1,
        );
        cfg.database.url = SecretRef::literal(&proxied);
        spawn("billing", l, |l, rx| {
            tollgate_billing::run(cfg, l, shutdown(rx))
        })
        .await
    }

    async fn start_logging(&self, l: TcpListener) -> Running {
        let cfg = self.cfg.clone();
        spawn("logging", l, |l, rx| {
            tollgate_logging::run(cfg, l, shutdown(rx))
        })
        .await
    }

    /// Start another edge replica (own spool directory, same Redis and Postgres).
    pub async fn add_edge(&mut self) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = self.cfg.clone();
        cfg.edge.usage.spool_dir = self.spool_root.join(format!("edge{}", self.edges.len()));
        let running = spawn("edge", l, |l, rx| tollgate_edge::run(cfg, l, shutdown(rx))).await;
        let url = format!("http://{}", running.addr);
        self.edges.push(running);
        self.wait_ready(&url).await;
        url
    }

    /// Restart edge `i` on the same port and spool (a process restart).
    pub async fn restart_edge(&mut self, i: usize) {
        let old = self.edges.remove(i);
        let addr = old.addr;
        old.stop().await;
        let l = TcpListener::bind(addr).await.unwrap();
        let mut cfg = self.cfg.clone();
        cfg.edge.usage.spool_dir = self.spool_root.join(format!("edge{i}"));
        let running = spawn("edge", l, |l, rx| tollgate_edge::run(cfg, l, shutdown(rx))).await;
        self.edges.insert(i, running);
        self.wait_ready(&format!("http://{addr}")).await;
    }

    pub async fn stop_billing(&mut self) {
        if let Some(b) = self.billing.take() {
            b.stop().await;
        }
    }

    /// Start billing again on the port the edges know.
    pub async fn start_billing_again(&mut self) {
        let addr: SocketAddr = self
            .cfg
            .edge
            .billing_url
            .trim_start_matches("http://")
            .parse()
            .unwrap();
        let l = bind_retry(addr).await;
        self.billing = Some(self.start_billing(l).await);
    }

    pub async fn stop_routing(&mut self) {
        if let Some(r) = self.routing.take() {
            r.stop().await;
        }
    }

    async fn wait_ready(&self, url: &str) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{url}/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("edge at {url} never became ready");
    }

    pub fn edge_url(&self) -> String {
        format!("http://{}", self.edges[0].addr)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Call the admin API; panics on a non-2xx answer with its body.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.edge_url()))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "admin {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// A new tenant; returns its id.
    pub async fn tenant(&self, name: &str, log_content: bool) -> String {
        let t = self
            .admin(
                reqwest::Method::POST,
                "/admin/v1/tenants",
                Some(json!({"name": name, "log_content": log_content})),
            )
            .await;
        t["id"].as_str().unwrap().to_owned()
    }

    /// A new key for `tenant` with the given limits (0 = defaults); returns (key_id, secret),
    /// after the edges' snapshots have it.
    pub async fn key(&self, tenant: &str, rpm: u32, concurrency: u32) -> (String, String) {
        let k = self
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/tenants/{tenant}/keys"),
                Some(json!({"name": "test", "rpm_limit": rpm, "concurrency_limit": concurrency})),
            )
            .await;
        let id = k["key"]["id"].as_str().unwrap().to_owned();
        let secret = k["secret"].as_str().unwrap().to_owned();
        for e in &self.edges {
            self.wait_key_works(&format!("http://{}", e.addr), &secret, true)
                .await;
        }
        (id, secret)
    }

    /// Poll `GET /v1/models` with `secret` until it is accepted (or refused, when `works` is
    /// false); returns how long that took.
    pub async fn wait_key_works(&self, edge: &str, secret: &str, works: bool) -> Duration {
        let t0 = std::time::Instant::now();
        loop {
            let r = self
                .http
                .get(format!("{edge}/v1/models"))
                .bearer_auth(secret)
                .send()
                .await
                .unwrap();
            if (r.status() != 401) == works {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "key state did not change on {edge}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Count ledger rows for a tenant (through the store crate: SQL stays there).
    pub async fn ledger_rows(&self, tenant: &str) -> u64 {
        let spend = self
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/tenants/{tenant}/spend?group_by=tenant"),
                None,
            )
            .await;
        spend["total"]["requests"].as_u64().unwrap_or(0)
    }

    /// Wait until the ledger holds `n` rows for the tenant (usage is asynchronous by design).
    pub async fn wait_ledger(&self, tenant: &str, n: u64) -> Value {
        let t0 = std::time::Instant::now();
        loop {
            let spend = self
                .admin(
                    reqwest::Method::GET,
                    &format!("/admin/v1/tenants/{tenant}/spend?group_by=model"),
                    None,
                )
                .await;
            let got = spend["total"]["requests"].as_u64().unwrap_or(0);
            if got >= n {
                assert_eq!(got, n, "more ledger rows than requests: {spend}");
                return spend;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "ledger has {got} of {n} rows: {spend}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The ledger row of one request, through the admin API's usage export (every cell a string).
    pub async fn ledger_row(&self, tenant: &str, request_id: &str) -> Value {
        let t0 = std::time::Instant::now();
        loop {
            let page = self
                .admin(
                    reqwest::Method::GET,
                    &format!("/admin/v1/tenants/{tenant}/usage?limit=1000"),
                    None,
                )
                .await;
            let rows = page["data"].as_array().unwrap();
            let mine: Vec<&Value> = rows
                .iter()
                .filter(|r| r["request_id"] == request_id)
                .collect();
            assert!(mine.len() <= 1, "{request_id} billed twice: {page}");
            if let Some(row) = mine.first() {
                return (*row).clone();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no ledger row for {request_id}: {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every ledger row's request id for a tenant, in ledger order (duplicates kept, so a
    /// caller can look for them), through the admin API's paged usage export.
    pub async fn ledger_request_ids(&self, tenant: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .admin(
                    reqwest::Method::GET,
                    &format!("/admin/v1/tenants/{tenant}/usage?limit=1000&page_token={token}"),
                    None,
                )
                .await;
            ids.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["request_id"].as_str().unwrap().to_owned()),
            );
            token = page["next_page_token"].as_str().unwrap_or("").to_owned();
            if token.is_empty() {
                return ids;
            }
        }
    }

    /// The sum of every sample of the Prometheus metric `name` (all label sets) on edge 0's
    /// `/metrics`; 0 when it has none yet. The recorder is process-wide, so this counts every
    /// service of every stack in this test binary.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.edge_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let metric = series.split('{').next()?;
                (metric == name).then(|| value.parse::<f64>().ok())?
            })
            .sum::<f64>()
            // An empty sum is -0.0; say 0.
            + 0.0
    }

    pub async fn shutdown(mut self) {
        for e in self.edges.drain(..) {
            e.stop().await;
        }
        for s in [
            self.routing.take(),
            self.billing.take(),
            self.logging.take(),
        ]
        .into_iter()
        .flatten()
        {
            s.stop().await;
        }
        self.mock.shutdown().await;
        self.pool.close().await;
        if let Ok(admin) = sqlx::PgPool::connect(&self.admin_url).await {
            let _ = tollgate_store::databases::drop(&admin, &self.db_name).await;
        }
        let _ = std::fs::remove_dir_all(&self.spool_root);
    }
}

/// `host:port` of a `postgres://user:pass@host:port/db` URL, as an address.
fn postgres_addr(url: &str) -> SocketAddr {
    let after_at = url.rsplit_once('@').map_or(url, |(_, r)| r);
    let hostport = after_at.split('/').next().unwrap_or(after_at);
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    let hostport = hostport.replace("localhost", "127.0.0.1");
    hostport
        .parse()
        .expect("DATABASE_URL host is an IP address")
}

async fn bind_retry(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not bind {addr} again");
}

/// A minimal chat body.
pub fn chat_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hello to the gateway"}],
    })
}
