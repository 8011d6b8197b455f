//! `tollgatectl prices ...`: the global price catalog (admin token only). `set` adds a version
//! of a model's price, or of one deployment's, effective now or at a future time; `list` shows
//! every version with its standing (current, scheduled, history).

use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::api::List;
use crate::client::AdminClient;
use crate::commands::{Output, show};
use crate::error::CliError;
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum PricesCmd {
    /// Set a price (USD per million tokens; `--per-request-usd` per request; the per-unit
    /// prices of the endpoints billed by unit). Unset parts are 0. Takes effect now, or at
    /// `--effective-from` (never in the past).
    Set(Box<SetArgs>),
    /// List every price version (optionally of one model).
    List {
        #[arg(long)]
        model: Option<String>,
    },
}

/// `tollgatectl prices set`'s flags (boxed: the per-unit prices make them the largest command).
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// A configured public model name.
    #[arg(long)]
    model: String,
    /// Only requests served by this deployment of the model.
    #[arg(long)]
    deployment: Option<String>,
    #[arg(long, default_value = "")]
    input_usd: String,
    #[arg(long, default_value = "")]
    output_usd: String,
    #[arg(long, default_value = "")]
    cached_input_usd: String,
    #[arg(long, default_value = "")]
    cache_write_usd: String,
    /// Reasoning tokens; empty: the output price.
    #[arg(long, default_value = "")]
    reasoning_usd: String,
    #[arg(long, default_value = "")]
    per_request_usd: String,
    /// Per image generated (`/v1/images/generations`).
    #[arg(long, default_value = "")]
    per_image_usd: String,
    /// Per million characters of speech input (`/v1/audio/speech`).
    #[arg(long, default_value = "")]
    per_million_characters_usd: String,
    /// Per second of transcribed audio (`/v1/audio/transcriptions`).
    #[arg(long, default_value = "")]
    per_audio_second_usd: String,
    /// Per rerank search unit (`/v1/rerank`).
    #[arg(long, default_value = "")]
    per_search_unit_usd: String,
    /// RFC 3339, e.g. 2026-12-01T00:00:00Z.
    #[arg(long)]
    effective_from: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SetPrice {
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub input_usd: String,
    pub output_usd: String,
    pub cached_input_usd: String,
    pub cache_write_usd: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reasoning_usd: String,
    pub per_request_usd: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub per_image_usd: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub per_million_characters_usd: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub per_audio_second_usd: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub per_search_unit_usd: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceVersion {
    pub model: String,
    pub version: i64,
    #[serde(default)]
    pub deployment: Option<String>,
    #[serde(default)]
    pub effective_from: Option<String>,
    pub input_usd: String,
    pub output_usd: String,
    pub cached_input_usd: String,
    pub cache_write_usd: String,
    #[serde(default)]
    pub reasoning_usd: String,
    pub per_request_usd: String,
    #[serde(default)]
    pub per_image_usd: String,
    #[serde(default)]
    pub per_million_characters_usd: String,
    #[serde(default)]
    pub per_audio_second_usd: String,
    #[serde(default)]
    pub per_search_unit_usd: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub status: String,
}

/// The per-unit prices that are set, as `image 0.04, audio_second 0.0001` (`-`: none).
fn unit_prices(p: &PriceVersion) -> String {
    let set: Vec<String> = [
        ("image", &p.per_image_usd),
        ("character/M", &p.per_million_characters_usd),
        ("audio_second", &p.per_audio_second_usd),
        ("search_unit", &p.per_search_unit_usd),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty() && v.as_str() != "0")
    .map(|(k, v)| format!("{k} {v}"))
    .collect();
    if set.is_empty() {
        "-".into()
    } else {
        set.join(", ")
    }
}

pub(crate) fn prices_table(list: &[PriceVersion]) -> String {
    if list.is_empty() {
        return "No prices.\n".into();
    }
    let mut t = Table::new(&[
        ("MODEL", false),
        ("DEPLOYMENT", false),
        ("VERSION", true),
        ("STATUS", false),
        ("EFFECTIVE FROM", false),
        ("INPUT/M", true),
        ("OUTPUT/M", true),
        ("CACHED/M", true),
        ("CACHE WRITE/M", true),
        ("REASONING/M", true),
        ("PER REQUEST", true),
        ("PER UNIT", false),
        ("SOURCE", false),
    ]);
    for p in list {
        t.row(vec![
            p.model.clone(),
            p.deployment.clone().unwrap_or_else(|| "(all)".into()),
            p.version.to_string(),
            p.status.clone(),
            p.effective_from.clone().unwrap_or_default(),
            p.input_usd.clone(),
            p.output_usd.clone(),
            p.cached_input_usd.clone(),
            p.cache_write_usd.clone(),
            p.reasoning_usd.clone(),
            p.per_request_usd.clone(),
            unit_prices(p),
            p.source.clone(),
        ]);
    }
    t.render()
}

pub async fn prices(
    client: &AdminClient,
    cmd: PricesCmd,
    as_json: bool,
) -> Result<Output, CliError> {
    use reqwest::Method;
    Ok(match cmd {
        PricesCmd::Set(args) => {
            let SetArgs {
                model,
                deployment,
                input_usd,
                output_usd,
                cached_input_usd,
                cache_write_usd,
                reasoning_usd,
                per_request_usd,
                per_image_usd,
                per_million_characters_usd,
                per_audio_second_usd,
                per_search_unit_usd,
                effective_from,
            } = *args;
            let req = SetPrice {
                model,
                deployment,
                input_usd,
                output_usd,
                cached_input_usd,
                cache_write_usd,
                reasoning_usd,
                per_request_usd,
                per_image_usd,
                per_million_characters_usd,
                per_audio_second_usd,
                per_search_unit_usd,
                effective_from,
            };
            let p: PriceVersion = client.call(Method::POST, &["prices"], Some(&req)).await?;
            show(as_json, &p, |p| prices_table(std::slice::from_ref(p)))
        }
        PricesCmd::List { model } => {
            let mut l: List<PriceVersion> =
                client.call(Method::GET, &["prices"], None::<&()>).await?;
            if let Some(m) = model {
                l.data.retain(|p| p.model == m);
            }
            show(as_json, &l, |l| prices_table(&l.data))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_deployment_and_standing() {
        let p = PriceVersion {
            model: "gpt-4o".into(),
            version: 3,
            deployment: Some("azure-east".into()),
            effective_from: Some("2026-12-01T00:00:00+00:00".into()),
            input_usd: "2.5".into(),
            output_usd: "10".into(),
            cached_input_usd: "1.25".into(),
            cache_write_usd: "0".into(),
            reasoning_usd: "10".into(),
            per_request_usd: "0".into(),
            per_image_usd: "0".into(),
            per_million_characters_usd: "15".into(),
            per_audio_second_usd: String::new(),
            per_search_unit_usd: "0".into(),
            source: "admin".into(),
            status: "scheduled".into(),
        };
        let out = prices_table(&[p]);
        assert!(out.contains("character/M 15"), "{out}");
        assert!(out.contains("azure-east"), "{out}");
        assert!(out.contains("scheduled"), "{out}");
        assert!(out.lines().next().unwrap().starts_with("MODEL"), "{out}");
        assert_eq!(prices_table(&[]), "No prices.\n");
    }
}
