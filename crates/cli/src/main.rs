//! `tollgatectl`: parse, run one command, print; exit 1 on any error.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tollgate_cli::{Cli, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(out) => {
            // A closed pipe (`tollgatectl ... | head`) is not an error worth reporting.
            let _ = std::io::stdout().write_all(out.stdout.as_bytes());
            let _ = std::io::stderr().write_all(out.stderr.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}
