//! The edge binary: parse arguments, load the config, start telemetry, run until a signal.

use clap::Parser;

/// The Tollgate edge: the HTTP endpoint clients call.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Configuration file (TOML or YAML). Defaults to $TOLLGATE_CONFIG.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = args.config.or_else(tollgate_config::Config::path_from_env);
    let cfg = tollgate_config::Config::load_for(path.as_deref(), tollgate_config::Process::Edge)?;
    let telemetry = tollgate_telemetry::init("tollgate-edge", &cfg.telemetry)?;
    let listener = tokio::net::TcpListener::bind(cfg.edge.listen).await?;
    let shutdown = tollgate_server::shutdown_signal();
    match path {
        Some(path) => tollgate_edge::run_with_reload(path, cfg, listener, shutdown).await?,
        None => tollgate_edge::run(cfg, listener, shutdown).await?,
    }
    telemetry.shutdown();
    Ok(())
}
