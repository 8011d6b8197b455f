//! `tollgate-bench`: one benchmark, one JSON line on stdout, one human line on stderr.

use clap::Parser;
use tollgate_bench::Cli;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A single-threaded runtime by default: the generator shares its cores with what it measures.
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()?
    };
    let report = runtime.block_on(tollgate_bench::run(cli.mode))?;
    eprintln!("{}", report.human());
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
