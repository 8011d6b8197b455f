//! `tollgate-mock-provider`: serves the mock until SIGTERM or ctrl-c.

use clap::Parser;
use tokio::net::TcpListener;
use tollgate_mock_provider::cli::Cli;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let listen = cli.listen;
    let options = cli.into_options().map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(listen).await?;
    tracing::info!(addr = %listener.local_addr()?, ?options, "mock provider listening");
    tollgate_mock_provider::serve(listener, options, stop_signal()).await?;
    tracing::info!("mock provider stopped");
    Ok(())
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
