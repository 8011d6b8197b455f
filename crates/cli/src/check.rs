//! `tollgatectl config check [--service NAME] FILE`: load the file exactly as a service would, so
//! an error here is the error the service would stop with, naming the field.

use std::path::Path;

use tollgate_config::{Config, Process};

use crate::commands::Output;
use crate::error::CliError;

pub fn check(file: &Path, service: Option<Process>, as_json: bool) -> Result<Output, CliError> {
    let cfg = match service {
        Some(p) => Config::load_for(Some(file), p)?,
        None => Config::load(Some(file))?,
    };
    let (providers, models) = (cfg.providers.len(), cfg.models.len());
    let stdout = if as_json {
        format!(
            "{}\n",
            serde_json::json!({ "ok": true, "file": file.display().to_string(), "providers": providers, "models": models })
        )
    } else {
        format!(
            "OK: {} ({providers} providers, {models} models)\n",
            file.display()
        )
    };
    Ok(Output {
        stdout,
        stderr: String::new(),
    })
}
