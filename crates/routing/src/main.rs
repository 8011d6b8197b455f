//! `tollgate-routing`: load the config, start telemetry, serve until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tollgate_config::{Config, Process};

#[derive(Parser)]
#[command(version, about = "Tollgate routing service")]
struct Args {
    /// Config file (TOML or YAML); defaults to $TOLLGATE_CONFIG.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = args.config.or_else(Config::path_from_env);
    let cfg = Config::load_for(path.as_deref(), Process::Routing)?;
    let telemetry = tollgate_telemetry::init("tollgate-routing", &cfg.telemetry)?;
    if let Some(addr) = cfg.telemetry.metrics_listen {
        tollgate_telemetry::metrics::spawn_endpoint(addr).await?;
    }
    let listener = tokio::net::TcpListener::bind(cfg.routing.listen)
        .await
        .with_context(|| format!("binding routing.listen {}", cfg.routing.listen))?;
    let shutdown = tollgate_server::shutdown_signal();
    match path {
        Some(path) => tollgate_routing::run_with_reload(path, cfg, listener, shutdown).await?,
        None => tollgate_routing::run(cfg, listener, shutdown).await?,
    }
    telemetry.shutdown();
    Ok(())
}
