//! The real stack as child processes: the mock provider, logging, billing, routing and two
//! edges, built by `cargo build --bins`, each on its own port, against a fresh database created
//! for the run and a Redis key prefix of its own. Postgres, Redis, billing, logging and the
//! provider are reached through [`Proxy`]s so every fault is injected without touching the
//! machine's own servers. `kill` is `Child::kill`, a real SIGKILL; `start` a real process start.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_store::PgPool;

use crate::error::{FaultsError, Result};
use crate::proxy::Proxy;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Svc {
    Mock,
    Logging,
    Billing,
    Routing,
    Edge(usize),
}

impl Svc {
    pub fn name(self) -> String {
        match self {
            Svc::Mock => "mock-provider".into(),
            Svc::Logging => "logging".into(),
            Svc::Billing => "billing".into(),
            Svc::Routing => "routing".into(),
            Svc::Edge(i) => format!("edge{i}"),
        }
    }
}

pub struct Proxies {
    pub pg: Proxy,
    pub redis: Proxy,
    pub billing: Proxy,
    pub logging: Proxy,
    pub provider: Proxy,
}

pub struct Stack {
    bins: PathBuf,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    /// Set on the edges' next start only (a scenario's override of the config file).
    pub edge_env: Vec<(String, String)>,
    children: BTreeMap<Svc, Child>,
    ports: BTreeMap<Svc, u16>,
    pub proxies: Proxies,
    pub admin_token: String,
    admin_url: String,
    db_name: String,
    http: reqwest::Client,
}

/// A free loopback port (bound and released: the child binds it a moment later).
fn free_port() -> Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn hostport(url: &str, default_port: u16) -> Result<SocketAddr> {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let after_at = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, r)| r);
    let hp = after_at.split('/').next().unwrap_or(after_at);
    let hp = hp.replace("localhost", "127.0.0.1");
    let hp = if hp.contains(':') {
        hp
    } else {
        format!("{hp}:{default_port}")
    };
    hp.parse()
        .map_err(|_| FaultsError::Setup(format!("{hp} is not an IP address and port")))
}

fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Stack {
    pub async fn start(bins: &Path, database_url: &str, redis_url: &str) -> Result<Stack> {
        for b in [
            "tollgate-edge",
            "tollgate-routing",
            "tollgate-billing",
            "tollgate-logging",
            "tollgate-mock-provider",
            "tollgatectl",
        ] {
            if !bins.join(b).is_file() {
                return Err(FaultsError::Setup(format!(
                    "{} is missing: run `cargo build --bins` first",
                    bins.join(b).display()
                )));
            }
        }
        // Children run in the run's directory (relative paths in their defaults land there), so
        // the binaries are named absolutely.
        let bins = &std::fs::canonicalize(bins).map_err(|e| {
            FaultsError::Setup(format!(
                "{}: {e}: run `cargo build --bins` first",
                bins.display()
            ))
        })?;
        let run = uuid::Uuid::now_v7().simple().to_string();
        let dir = std::env::temp_dir().join(format!("tollgate-faults-{run}"));
        std::fs::create_dir_all(dir.join("logs"))?;

        // A fresh database, migrated by the real `tollgatectl migrate`.
        let db_name = format!("tg_faults_{run}");
        let admin = PgPool::connect(database_url).await?;
        tollgate_store::databases::create(&admin, &db_name).await?;
        admin.close().await;
        let (prefix, _) = database_url
            .rsplit_once('/')
            .ok_or_else(|| FaultsError::Setup("the database URL names no database".into()))?;
        let db_url = format!("{prefix}/{db_name}");
        let out = Command::new(bins.join("tollgatectl"))
            .args(["migrate", "--database-url", &db_url])
            .output()?;
        if !out.status.success() {
            return Err(FaultsError::Setup(format!(
                "tollgatectl migrate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }

        let mut ports = BTreeMap::new();
        for s in [
            Svc::Mock,
            Svc::Logging,
            Svc::Billing,
            Svc::Routing,
            Svc::Edge(0),
            Svc::Edge(1),
        ] {
            ports.insert(s, free_port()?);
        }
        let port = |s: Svc| ports.get(&s).copied().unwrap_or(0);
        let local = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let proxies = Proxies {
            pg: Proxy::start(hostport(database_url, 5432)?).await?,
            redis: Proxy::start(hostport(redis_url, 6379)?).await?,
            billing: Proxy::start(local(port(Svc::Billing))).await?,
            logging: Proxy::start(local(port(Svc::Logging))).await?,
            provider: Proxy::start(local(port(Svc::Mock))).await?,
        };
        let pg_real = hostport(database_url, 5432)?.to_string();
        let db_via_proxy = db_url.replacen(&pg_real, &proxies.pg.addr.to_string(), 1);
        let db_via_proxy = if db_via_proxy == db_url {
            db_url.replacen("localhost:", &format!("{}:", proxies.pg.addr.ip()), 1)
        } else {
            db_via_proxy
        };
        if db_via_proxy == db_url {
            return Err(FaultsError::Setup(
                "write the database URL with host:port (e.g. 127.0.0.1:5432)".into(),
            ));
        }

        let config = format!(
            r#"
[edge]
listen = "127.0.0.1:{edge0}"
admin_token = "env:TOLLGATE_ADMIN_TOKEN"
key_pepper = "env:TOLLGATE_KEY_PEPPER"
routing_url = "http://127.0.0.1:{routing}"
billing_url = "http://{billing}"
logging_url = "http://{logging}"
request_timeout = "20s"
drain_timeout = "2s"
snapshot_refresh = "5s"

[edge.limits]
default_rpm = 1000000
default_concurrency = 10000
replicas = 2
# Debug binaries on a loaded 2-core host miss the default 50 ms admission budget often enough to
# keep the limiter in its degraded (local-share) regime; the exactness promised while Redis
# answers in time is checked with a budget they meet. One scenario runs with the default.
admit_timeout = "250ms"

[edge.usage]
spool_dir = "{spool}"
flush_interval = "50ms"

[edge.logs]
flush_interval = "50ms"

[routing]
listen = "127.0.0.1:{routing}"
request_timeout = "10s"
first_token_timeout = "5s"
stream_idle_timeout = "5s"
# One deployment serves the model: a short ejection keeps one provider scenario's circuit from
# deciding the next one's figures (the defaults, 30 s doubling to 300 s, are a deployment's call).
circuit_ejection = "3s"
circuit_ejection_max = "6s"

[billing]
listen = "127.0.0.1:{billing_port}"
key_pepper = "env:TOLLGATE_KEY_PEPPER"

[logging]
listen = "127.0.0.1:{logging_port}"

[database]
url = "env:TOLLGATE_FAULTS_DATABASE_URL"

[redis]
url = "redis://{redis}"
key_prefix = "tgfaults{run}"

[internal]
secret = "env:TOLLGATE_INTERNAL_SECRET"

[telemetry]
log_format = "json"
log_filter = "warn,tollgate_limits=info"

[[providers]]
name = "mock"
kind = "openai"
base_url = "http://{provider}/v1"

[[models]]
name = "mock"
deployments = [{{ name = "mock-local", provider = "mock", model = "mock-1" }}]
price = {{ input = "0.15", output = "0.60" }}
"#,
            edge0 = port(Svc::Edge(0)),
            routing = port(Svc::Routing),
            billing = proxies.billing.addr,
            logging = proxies.logging.addr,
            billing_port = port(Svc::Billing),
            logging_port = port(Svc::Logging),
            spool = dir.join("spool-edge0").display(),
            redis = proxies.redis.addr,
            provider = proxies.provider.addr,
        );
        let config_path = dir.join("tollgate.toml");
        std::fs::write(&config_path, config)?;
        let admin_token = format!("tga-{}", secret());
        let env = vec![
            (
                "TOLLGATE_CONFIG".to_owned(),
                config_path.display().to_string(),
            ),
            ("TOLLGATE_ADMIN_TOKEN".to_owned(), admin_token.clone()),
            ("TOLLGATE_KEY_PEPPER".to_owned(), secret()),
            ("TOLLGATE_INTERNAL_SECRET".to_owned(), secret()),
            ("TOLLGATE_FAULTS_DATABASE_URL".to_owned(), db_via_proxy),
        ];
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut stack = Stack {
            bins: bins.to_owned(),
            dir,
            env,
            edge_env: Vec::new(),
            children: BTreeMap::new(),
            ports,
            proxies,
            admin_token,
            admin_url: database_url.to_owned(),
            db_name,
            http,
        };
        for s in [
            Svc::Mock,
            Svc::Logging,
            Svc::Billing,
            Svc::Routing,
            Svc::Edge(0),
            Svc::Edge(1),
        ] {
            stack.spawn(s)?;
            stack.wait_up(s, Duration::from_secs(60)).await?;
        }
        Ok(stack)
    }

    pub fn port(&self, s: Svc) -> u16 {
        self.ports.get(&s).copied().unwrap_or(0)
    }

    pub fn edge_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.port(Svc::Edge(i)))
    }

    pub fn mock_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port(Svc::Mock))
    }

    /// Start the service's process (again), its output appended to `logs/<name>.log`.
    fn spawn(&mut self, s: Svc) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("logs").join(format!("{}.log", s.name())))?;
        let mut cmd = match s {
            Svc::Mock => {
                let mut c = Command::new(self.bins.join("tollgate-mock-provider"));
                c.arg("--listen").arg(format!("127.0.0.1:{}", self.port(s)));
                c
            }
            Svc::Logging => Command::new(self.bins.join("tollgate-logging")),
            Svc::Billing => Command::new(self.bins.join("tollgate-billing")),
            Svc::Routing => Command::new(self.bins.join("tollgate-routing")),
            Svc::Edge(i) => {
                let mut c = Command::new(self.bins.join("tollgate-edge"));
                c.env(
                    "TOLLGATE_EDGE__LISTEN",
                    format!("127.0.0.1:{}", self.port(s)),
                )
                .env(
                    "TOLLGATE_EDGE__USAGE__SPOOL_DIR",
                    self.dir.join(format!("spool-edge{i}")),
                )
                .envs(self.edge_env.iter().map(|(k, v)| (k, v)));
                c
            }
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn()?;
        self.children.insert(s, child);
        Ok(())
    }

    /// Until the service answers: an edge's `/readyz` says 200, the others accept connections.
    pub async fn wait_up(&self, s: Svc, within: Duration) -> Result<Duration> {
        let t0 = Instant::now();
        loop {
            let up = match s {
                Svc::Edge(i) => self
                    .http
                    .get(format!("{}/readyz", self.edge_url(i)))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                _ => tokio::net::TcpStream::connect(("127.0.0.1", self.port(s)))
                    .await
                    .is_ok(),
            };
            if up {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > within {
                return Err(FaultsError::Setup(format!(
                    "{} did not come up within {within:?}; see {}",
                    s.name(),
                    self.dir.join("logs").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `kill -9`: `Child::kill` sends SIGKILL; the process gets no chance to drain.
    pub fn kill(&mut self, s: Svc) -> Result<()> {
        if let Some(mut c) = self.children.remove(&s) {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// A graceful stop: SIGTERM (through `kill(1)`, no signal crate needed for one call), then
    /// SIGKILL if the process has not drained within 20 s.
    pub async fn stop(&mut self, s: Svc) -> Result<()> {
        let Some(mut c) = self.children.remove(&s) else {
            return Ok(());
        };
        let term = std::process::Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()?;
        let t0 = Instant::now();
        while term.success() && t0.elapsed() < Duration::from_secs(20) {
            if c.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        c.kill()?;
        c.wait()?;
        Ok(())
    }

    /// A real process start on the same port (and, for an edge, the same spool).
    pub async fn restart(&mut self, s: Svc) -> Result<()> {
        self.spawn(s)?;
        // The old port may linger a moment; the child retries nothing, so if it exited on a
        // bind error, start it again.
        let t0 = Instant::now();
        loop {
            if self.wait_up(s, Duration::from_secs(2)).await.is_ok() {
                return Ok(());
            }
            let exited = self
                .children
                .get_mut(&s)
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited {
                self.spawn(s)?;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(FaultsError::Setup(format!("{} did not restart", s.name())));
            }
        }
    }

    /// Every child still running (one that died on its own is a finding).
    pub fn dead_children(&mut self) -> Vec<String> {
        let mut dead = Vec::new();
        for (s, c) in self.children.iter_mut() {
            if c.try_wait().ok().flatten().is_some() {
                dead.push(s.name());
            }
        }
        dead
    }

    pub fn pid(&self, s: Svc) -> Option<u32> {
        self.children.get(&s).map(Child::id)
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.edge_url(0)))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(FaultsError::Setup(format!("admin {path}: {status} {text}")));
        }
        serde_json::from_str(&text).map_err(|e| FaultsError::Setup(format!("admin {path}: {e}")))
    }

    /// A fresh tenant and a key for it (0 = no per-key rpm limit), working on both edges.
    pub async fn tenant_key(&self, name: &str, rpm: u32) -> Result<(String, String)> {
        let t = self
            .admin(
                reqwest::Method::POST,
                "/admin/v1/tenants",
                Some(json!({"name": name})),
            )
            .await?;
        let tenant = t["id"].as_str().unwrap_or_default().to_owned();
        let mut body = json!({"name": name});
        if rpm > 0 {
            body["rpm_limit"] = json!(rpm);
        }
        let k = self
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v1/tenants/{tenant}/keys"),
                Some(body),
            )
            .await?;
        let secret = k["secret"].as_str().unwrap_or_default().to_owned();
        for i in 0..2 {
            let t0 = Instant::now();
            loop {
                let r = self
                    .http
                    .get(format!("{}/v1/models", self.edge_url(i)))
                    .bearer_auth(&secret)
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(15) {
                    return Err(FaultsError::Setup(format!("key never worked on edge{i}")));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        Ok((tenant, secret))
    }

    /// Every ledger row's request id for the tenant, duplicates kept, via the usage export.
    pub async fn ledger_ids(&self, tenant: &str) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .admin(
                    reqwest::Method::GET,
                    &format!("/admin/v1/tenants/{tenant}/usage?limit=1000&page_token={token}"),
                    None,
                )
                .await?;
            if let Some(rows) = page["data"].as_array() {
                ids.extend(
                    rows.iter()
                        .filter_map(|r| r["request_id"].as_str().map(str::to_owned)),
                );
            }
            token = page["next_page_token"].as_str().unwrap_or("").to_owned();
            if token.is_empty() {
                return Ok(ids);
            }
        }
    }

    /// Chat requests the mock provider has seen since it started.
    pub async fn provider_chats(&self) -> Result<u64> {
        let v: Value = self
            .http
            .get(format!("{}/_mock/stats", self.mock_url()))
            .send()
            .await?
            .json()
            .await?;
        Ok(v["chat_requests"].as_u64().unwrap_or(0))
    }

    /// Replace the mock's runtime options (fields left out take their defaults).
    pub async fn mock_options(&self, opts: Value) -> Result<()> {
        let r = self
            .http
            .put(format!("{}/_mock/options", self.mock_url()))
            .json(&opts)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(FaultsError::Setup(format!(
                "mock options refused: {}",
                r.text().await.unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Resident memory of a child, from /proc.
    pub fn rss_kib(&self, s: Svc) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid(s)?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Stop every child, drop the run's database and its files (logs kept when `keep_logs`).
    pub async fn shutdown(mut self, keep_logs: bool) -> Result<()> {
        let all: Vec<Svc> = self.children.keys().copied().collect();
        for s in all {
            self.kill(s)?;
        }
        let admin = PgPool::connect(&self.admin_url).await?;
        tollgate_store::databases::drop(&admin, &self.db_name).await?;
        admin.close().await;
        if !keep_logs {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Never leave a child behind, whatever ended the run.
        for c in self.children.values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
