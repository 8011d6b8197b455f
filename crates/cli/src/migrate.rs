//! `tollgatectl migrate`: apply the schema migrations (compose's one-shot and the k8s init
//! containers run this before the services start; the services then check the schema).

use secrecy::ExposeSecret;
use tollgate_config::{Config, DatabaseConfig, Process, SecretRef};

use crate::args::MigrateArgs;
use crate::commands::Output;
use crate::error::CliError;

pub async fn run(args: MigrateArgs) -> Result<Output, CliError> {
    let database = match args.database_url {
        Some(url) => DatabaseConfig {
            url: SecretRef::literal(url.expose_secret()),
            ..DatabaseConfig::default()
        },
        None => Config::load_for(args.config.as_deref(), Process::Migrate)?.database,
    };
    let pool = tollgate_store::connect(&database)
        .await
        .map_err(|e| CliError::Database(e.to_string()))?;
    tollgate_store::migrate(&pool)
        .await
        .map_err(|e| CliError::Database(e.to_string()))?;
    pool.close().await;
    Ok(Output {
        stdout: "Migrations applied.\n".into(),
        stderr: String::new(),
    })
}
