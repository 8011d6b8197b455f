//! `tollgate-routing`: load the config, start telemetry, serve until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tollgate_config::Config;

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
    let cfg = Config::load(path.as_deref())?;
    let telemetry = tollgate_telemetry::init("tollgate-routing", &cfg.telemetry)?;
    let listener = tokio::net::TcpListener::bind(cfg.routing.listen)
        .await
        .with_context(|| format!("binding routing.listen {}", cfg.routing.listen))?;
    tollgate_routing::run(cfg, listener, tollgate_server::shutdown_signal()).await?;
    telemetry.shutdown();
    Ok(())
}
