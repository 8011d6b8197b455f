//! The billing service on port 0 against a fresh Postgres database, shared by the test files.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use sqlx::PgPool;
use tokio::sync::oneshot;
use tollgate_config::Config;
use tollgate_proto::billing::v1 as pb;
use tollgate_proto::billing::v1::billing_client::BillingClient;
use tonic::transport::Channel;

pub const PEPPER: &str = "test-pepper";

/// The catalog every billing test starts with, as a config file's text.
pub fn config_text() -> String {
    format!(
        r#"
        [billing]
        key_pepper = "{PEPPER}"

        [[providers]]
        name = "mock"
        kind = "openai"
        base_url = "http://127.0.0.1:9/v1"

        [[models]]
        name = "gpt-4o"
        aliases = ["4o"]
        price = {{ input = "2.50", cached_input = "1.25", output = "10" }}
        [[models.deployments]]
        provider = "mock"
        model = "gpt-4o"

        [[models]]
        name = "cheap"
        price = {{ input = "0.075", output = "0.30", per_request = "0.0001" }}
        [[models.deployments]]
        provider = "mock"
        model = "cheap"
        "#
    )
}

pub fn config() -> Config {
    Config::from_toml(&config_text()).unwrap()
}

pub struct Billing {
    pub client: BillingClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), tollgate_billing::BillingError>>,
}

impl Billing {
    pub async fn start(pool: PgPool) -> Billing {
        Self::start_with(pool, config(), None).await
    }

    /// Billing with `cfg`, following the config file at `reload_from` when given.
    pub async fn start_with(
        pool: PgPool,
        cfg: Config,
        reload_from: Option<std::path::PathBuf>,
    ) -> Billing {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(tollgate_billing::run_with_pool(
            cfg,
            pool,
            reload_from,
            listener,
            async {
                let _ = rx.await;
            },
        ));
        let client = BillingClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        Billing {
            client,
            stop: Some(tx),
            server,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.await.unwrap().unwrap();
    }
}

pub async fn tenant(c: &mut BillingClient<Channel>, name: &str) -> String {
    c.create_tenant(pb::CreateTenantRequest {
        name: name.into(),
        log_content: false,
    })
    .await
    .unwrap()
    .into_inner()
    .id
}
