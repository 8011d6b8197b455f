//! `tollgate-logging`: load config, start telemetry, bind, serve until SIGTERM / Ctrl-C.

use std::path::PathBuf;

use clap::Parser;
use tollgate_config::{Config, Process};

#[derive(Parser)]
#[command(version, about = "Tollgate logging service (gRPC)")]
struct Args {
    /// Config file (TOML or YAML). Defaults to $TOLLGATE_CONFIG.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = args.config.or_else(Config::path_from_env);
    let cfg = Config::load_for(path.as_deref(), Process::Logging)?;
    let _telemetry = tollgate_telemetry::init("tollgate-logging", &cfg.telemetry)?;
    if let Some(addr) = cfg.telemetry.metrics_listen {
        tollgate_telemetry::metrics::spawn_endpoint(addr).await?;
    }
    let listener = tokio::net::TcpListener::bind(cfg.logging.listen).await?;
    tollgate_logging::run(cfg, listener, tollgate_server::shutdown_signal()).await?;
    Ok(())
}
