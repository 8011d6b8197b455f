//! `tollgate-billing`: load config, start telemetry, bind, serve until SIGTERM / Ctrl-C.

use std::path::PathBuf;

use clap::Parser;
use tollgate_config::{Config, Process};

#[derive(Parser)]
#[command(version, about = "Tollgate billing service (gRPC)")]
struct Args {
    /// Config file (TOML or YAML). Defaults to $TOLLGATE_CONFIG.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Apply database migrations before serving (local quickstart).
    #[arg(long)]
    migrate: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = args.config.or_else(Config::path_from_env);
    let cfg = Config::load_for(path.as_deref(), Process::Billing)?;
    let _telemetry = tollgate_telemetry::init("tollgate-billing", &cfg.telemetry)?;
    if args.migrate {
        let pool = tollgate_store::connect(&cfg.database).await?;
        tollgate_store::migrate(&pool).await?;
        pool.close().await;
    }
    if let Some(addr) = cfg.telemetry.metrics_listen {
        tollgate_telemetry::metrics::spawn_endpoint(addr).await?;
    }
    let listener = tokio::net::TcpListener::bind(cfg.billing.listen).await?;
    let shutdown = tollgate_server::shutdown_signal();
    match path {
        Some(path) => tollgate_billing::run_with_reload(path, cfg, listener, shutdown).await?,
        None => tollgate_billing::run(cfg, listener, shutdown).await?,
    }
    Ok(())
}
