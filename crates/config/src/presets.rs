//! Provider presets: the OpenAI-compatible family's quirks (base URL, auth header, paths,
//! query, whether `stream_options` is accepted) as data in `presets.toml`, merged into each
//! `[[providers]]` table that names one. Fields the table sets win over the preset's.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;

use crate::ConfigError;
use crate::catalog::{ProviderConfig, ProviderKind};

const PRESETS: &str = include_str!("presets.toml");

/// One preset's table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub kind: ProviderKind,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub auth_header: Option<String>,
    #[serde(default)]
    pub auth_scheme: Option<String>,
    #[serde(default)]
    pub chat_path: Option<String>,
    #[serde(default)]
    pub embeddings_path: Option<String>,
    #[serde(default)]
    pub models_path: Option<String>,
    #[serde(default)]
    pub images_path: Option<String>,
    #[serde(default)]
    pub speech_path: Option<String>,
    #[serde(default)]
    pub transcriptions_path: Option<String>,
    #[serde(default)]
    pub moderations_path: Option<String>,
    #[serde(default)]
    pub rerank_path: Option<String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub stream_usage: Option<bool>,
    /// Whether the provider serves OpenAI's Responses API at `{base_url}/responses`.
    #[serde(default)]
    pub responses: Option<bool>,
    /// How the provider reports usage (documentation; the support matrix prints it).
    pub usage: String,
}

/// Every preset by name. The file is compiled in and covered by a test, so a broken table
/// fails the build's tests rather than a deployment.
pub fn presets() -> &'static BTreeMap<String, Preset> {
    static PRESETS_MAP: OnceLock<BTreeMap<String, Preset>> = OnceLock::new();
    PRESETS_MAP.get_or_init(|| {
        Figment::from(Toml::string(PRESETS))
            .extract()
            .unwrap_or_default()
    })
}

/// Fill every provider's unset fields from its preset.
pub(crate) fn apply(providers: &mut [ProviderConfig]) -> Result<(), ConfigError> {
    for (i, p) in providers.iter_mut().enumerate() {
        let Some(name) = p.preset.clone() else {
            continue;
        };
        let preset = presets().get(&name).ok_or_else(|| ConfigError::Invalid {
            field: format!("providers[{i}].preset"),
            message: format!(
                "unknown preset `{name}` (known: {})",
                presets().keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })?;
        if p.kind.is_some_and(|k| k != preset.kind) {
            return Err(ConfigError::Invalid {
                field: format!("providers[{i}].kind"),
                message: format!("preset `{name}` is a `{:?}` provider", preset.kind),
            });
        }
        p.kind = Some(preset.kind);
        if p.base_url.is_empty()
            && let Some(url) = &preset.base_url
        {
            url.clone_into(&mut p.base_url);
        }
        fill(&mut p.auth_header, &preset.auth_header);
        fill(&mut p.auth_scheme, &preset.auth_scheme);
        fill(&mut p.chat_path, &preset.chat_path);
        fill(&mut p.embeddings_path, &preset.embeddings_path);
        fill(&mut p.models_path, &preset.models_path);
        fill(&mut p.images_path, &preset.images_path);
        fill(&mut p.speech_path, &preset.speech_path);
        fill(&mut p.transcriptions_path, &preset.transcriptions_path);
        fill(&mut p.moderations_path, &preset.moderations_path);
        fill(&mut p.rerank_path, &preset.rerank_path);
        for (k, v) in &preset.query {
            p.query.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if p.stream_usage.is_none() {
            p.stream_usage = preset.stream_usage;
        }
        if p.responses.is_none() {
            p.responses = preset.responses;
        }
    }
    // Bedrock's endpoint follows from the region.
    for p in providers.iter_mut() {
        if p.kind == Some(ProviderKind::Bedrock)
            && p.base_url.is_empty()
            && let Some(region) = &p.region
        {
            p.base_url = format!("https://bedrock-runtime.{region}.amazonaws.com");
        }
    }
    Ok(())
}

fn fill(field: &mut Option<String>, preset: &Option<String>) {
    if field.is_none() {
        field.clone_from(preset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn every_preset_parses_and_names_a_url_or_says_why_not() {
        let all: BTreeMap<String, Preset> = Figment::from(Toml::string(PRESETS)).extract().unwrap();
        assert_eq!(presets().len(), all.len());
        for name in [
            "openai",
            "azure",
            "groq",
            "mistral",
            "deepseek",
            "together",
            "fireworks",
            "openrouter",
            "xai",
            "vllm",
            "ollama",
            "lmstudio",
            "anthropic",
            "gemini",
            "bedrock",
        ] {
            let p = &all[name];
            assert!(!p.usage.is_empty(), "{name}");
            if !matches!(name, "azure" | "bedrock") {
                assert!(
                    p.base_url.as_deref().is_some_and(|u| u.starts_with("http")),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn a_preset_fills_what_the_table_leaves_unset() {
        let cfg = Config::from_toml(
            r#"
[[providers]]
name = "az"
preset = "azure"
base_url = "https://acme.openai.azure.com"
api_key = "k"

[[providers]]
name = "groq"
preset = "groq"
stream_usage = false

[[providers]]
name = "br"
preset = "bedrock"
region = "eu-west-1"
aws_access_key_id = "AKIDEXAMPLE"
aws_secret_access_key = "secret"

[[models]]
name = "m"
deployments = [{ provider = "az", model = "gpt4o-prod" }]
price = { input = "1", output = "1" }
"#,
        )
        .unwrap();
        let az = &cfg.providers[0];
        assert_eq!(az.kind(), ProviderKind::Openai);
        assert_eq!(
            az.url(az.chat_path(), "gpt4o-prod"),
            "https://acme.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(az.auth_header_name(), "api-key");
        assert_eq!(az.auth_value("k"), "k");
        let groq = &cfg.providers[1];
        assert_eq!(groq.base_url, "https://api.groq.com/openai/v1");
        assert!(!groq.stream_usage(), "the table's own value wins");
        assert_eq!(groq.auth_value("k"), "Bearer k");
        assert_eq!(
            cfg.providers[2].base_url,
            "https://bedrock-runtime.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn only_openai_serves_responses_natively_by_default() {
        let cfg = Config::from_toml(
            r#"
[[providers]]
name = "oa"
preset = "openai"

[[providers]]
name = "oa-chat-only"
preset = "openai"
responses = false

[[providers]]
name = "vllm"
preset = "vllm"

[[providers]]
name = "compat"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
responses = true
"#,
        )
        .unwrap();
        let on: Vec<bool> = cfg
            .providers
            .iter()
            .map(ProviderConfig::responses)
            .collect();
        assert_eq!(on, [true, false, false, true]);

        let e = Config::from_toml(
            "[[providers]]\nname = \"an\"\npreset = \"anthropic\"\nresponses = true\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("providers[0].responses"), "{e}");
    }

    #[test]
    fn unknown_presets_and_conflicting_kinds_name_the_field() {
        let e = Config::from_toml("[[providers]]\nname = \"x\"\npreset = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("providers[0].preset") && e.contains("groq"),
            "{e}"
        );
        let e = Config::from_toml(
            "[[providers]]\nname = \"x\"\npreset = \"gemini\"\nkind = \"openai\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("providers[0].kind"), "{e}");
        let e = Config::from_toml("[[providers]]\nname = \"x\"\npreset = \"azure\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("providers[0].base_url"), "{e}");
    }
}
