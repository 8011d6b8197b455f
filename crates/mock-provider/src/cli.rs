//! The binary's command line: `--listen`, every `MockOptions` flag, and `--api-key-env`.

use std::net::SocketAddr;

use clap::Parser;

use crate::options::MockOptions;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate-mock-provider",
    version,
    about = "OpenAI-compatible mock LLM provider with fault injection"
)]
pub struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Name of an environment variable holding the bearer key callers must present.
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    #[command(flatten)]
    pub options: MockOptions,
}

impl Cli {
    /// The options to serve with, the API key read from `--api-key-env` if given.
    pub fn into_options(self) -> Result<MockOptions, String> {
        let mut options = self.options;
        if let Some(name) = self.api_key_env {
            let key = read_env(name.clone()).ok_or_else(|| {
                format!("environment variable {name} (from --api-key-env) is not set")
            })?;
            options.api_key = Some(key);
        }
        Ok(options)
    }
}

/// Reads one environment variable through clap's `env` support (configuration is read through
/// clap or tollgate-config only). The name is leaked: clap wants `'static`, and this runs once.
fn read_env(name: String) -> Option<String> {
    let name: &'static str = name.leak();
    clap::Command::new("env")
        .no_binary_name(true)
        .arg(clap::Arg::new("value").long("value").env(name))
        .try_get_matches_from(std::iter::empty::<String>())
        .ok()?
        .get_one::<String>("value")
        .filter(|v| !v.is_empty())
        .cloned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn flags_map_to_options() {
        let cli = Cli::try_parse_from([
            "tollgate-mock-provider",
            "--listen=127.0.0.1:0",
            "--latency-ms=50",
            "--chunk-delay-ms=5",
            "--chunks=4",
            "--error-rate=0.25",
            "--error-status=429",
            "--disconnect-after=2",
            "--hang",
        ])
        .unwrap();
        let opts = cli.into_options().unwrap();
        assert_eq!(opts.latency, Duration::from_millis(50));
        assert_eq!(opts.chunk_delay, Duration::from_millis(5));
        assert_eq!(
            (opts.chunks, opts.error_status, opts.disconnect_after),
            (4, 429, Some(2))
        );
        assert!(opts.hang && opts.api_key.is_none());
        assert_eq!(opts.error_rate, 0.25);
    }

    #[test]
    fn defaults_match_mock_options_default() {
        let cli = Cli::try_parse_from(["tollgate-mock-provider"]).unwrap();
        assert_eq!(cli.into_options().unwrap(), MockOptions::default());
    }

    #[test]
    fn bad_values_and_missing_key_variables_are_refused() {
        assert!(Cli::try_parse_from(["m", "--error-rate=1.5"]).is_err());
        assert!(Cli::try_parse_from(["m", "--error-status=200"]).is_err());
        let cli = Cli::try_parse_from(["m", "--api-key-env=TOLLGATE_MOCK_TEST_SURELY_UNSET_VAR"])
            .unwrap();
        assert!(cli.into_options().is_err());
        // PATH is set in every environment this runs in.
        assert!(read_env("PATH".to_owned()).is_some());
    }
}
