//! `tollgate-faults`: the fault suite. Starts the real binaries (see `stack`), runs every
//! scenario under load (see `scenarios`), prints one table and writes it to
//! `target/faults-report.md`; exits non-zero on any lost or doubled ledger row, undocumented
//! 5xx, or a stack that did not recover.

mod account;
mod error;
mod load;
mod proxy;
mod scenarios;
mod stack;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::scenarios::{Knobs, Report};
use crate::stack::Stack;

#[derive(Parser)]
#[command(
    about = "Tollgate's fault suite: the real services under load, faults injected, the ledger checked"
)]
struct Cli {
    /// The CI run: the scenarios marked short, shorter loads (well under 3 minutes).
    #[arg(long)]
    short: bool,
    /// Where `cargo build --bins` put the binaries.
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// Any Postgres database on the server to create the run's own database on.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://tollgate:tollgate@127.0.0.1:5432/tollgate"
    )]
    database_url: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Only scenarios whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Requests per second of the load (default 100 short, 200 long).
    #[arg(long)]
    rate: Option<u32>,
    /// Where the table is written.
    #[arg(long, default_value = "target/faults-report.md")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faults: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("faults: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> error::Result<bool> {
    let t0 = Instant::now();
    let knobs = if cli.short {
        Knobs {
            rate: cli.rate.unwrap_or(100),
            load: Duration::from_secs(5),
            hold: Duration::from_millis(1200),
        }
    } else {
        Knobs {
            rate: cli.rate.unwrap_or(200),
            load: Duration::from_secs(20),
            hold: Duration::from_secs(5),
        }
    };
    let mut stack = Stack::start(&cli.bin_dir, &cli.database_url, &cli.redis_url).await?;
    eprintln!(
        "faults: stack up in {:.1?} (logs in {})",
        t0.elapsed(),
        stack.dir.join("logs").display()
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()?;
    let reports = run_scenarios(&cli, &mut stack, &knobs, &http).await;
    let reports = match reports {
        Ok(r) => r,
        Err(e) => {
            // The run's database is dropped and its children ended even when a scenario could
            // not run to its figures; the logs stay for the post-mortem.
            eprintln!("faults: logs kept in {}", stack.dir.join("logs").display());
            let _ = stack.shutdown(true).await;
            return Err(e);
        }
    };
    let all_passed = reports.iter().all(Report::passed);
    let table = render(&reports, cli.short, t0.elapsed());
    println!("{table}");
    if let Some(parent) = cli.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&cli.out, &table)?;
    eprintln!("faults: table written to {}", cli.out.display());
    if !all_passed {
        eprintln!("faults: logs kept in {}", stack.dir.join("logs").display());
    }
    stack.shutdown(!all_passed).await?;
    Ok(all_passed)
}

async fn run_scenarios(
    cli: &Cli,
    stack: &mut Stack,
    knobs: &Knobs,
    http: &reqwest::Client,
) -> error::Result<Vec<Report>> {
    let mut reports = Vec::new();
    for sc in scenarios::all() {
        if cli.short && !sc.short {
            continue;
        }
        if cli.only.as_deref().is_some_and(|o| !sc.name.contains(o)) {
            continue;
        }
        let t = Instant::now();
        eprintln!("faults: {} ...", sc.name);
        let r = scenarios::run(stack, &sc, knobs, http).await?;
        eprintln!(
            "faults: {} {} in {:.1?}",
            sc.name,
            if r.passed() { "passed" } else { "FAILED" },
            t.elapsed()
        );
        reports.push(r);
    }
    Ok(reports)
}

fn render(reports: &[Report], short: bool, took: Duration) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Fault suite ({} mode, {:.0?})\n",
        if short { "short" } else { "long" },
        took
    );
    let _ = writeln!(
        s,
        "| scenario | sent | answered by status | ledger rows / expected | lost | doubled | recover | verdict |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for r in reports {
        let f = &r.figures;
        let statuses = f
            .by_status
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let recover = r.recover.map_or_else(
            || "never".to_owned(),
            |d| format!("{:.2}s", d.as_secs_f64()),
        );
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} / {} | {} | {} | {} | {} |",
            r.name,
            f.sent,
            statuses,
            f.ledger_rows,
            f.expected(),
            f.lost,
            f.doubled,
            recover,
            if r.passed() { "pass" } else { "FAIL" }
        );
    }
    let _ = writeln!(s);
    for r in reports {
        let mut lines = r.notes.clone();
        if r.figures.provider_served > 0 {
            lines.push(format!("provider served {}", r.figures.provider_served));
        }
        lines.extend(r.failures.iter().map(|f| format!("FAIL: {f}")));
        let _ = writeln!(s, "- {}: {}", r.name, lines.join("; "));
    }
    let _ = writeln!(s, "\n| scenario | what is promised | what was measured |");
    let _ = writeln!(s, "|---|---|---|");
    for r in reports {
        let f = &r.figures;
        let _ = writeln!(
            s,
            "| {} | {} | {} answers, {} ledger rows for {} expected, {} lost, {} doubled, {}; {} |",
            r.name,
            r.promise,
            f.sent,
            f.ledger_rows,
            f.expected(),
            f.lost,
            f.doubled,
            r.recover.map_or_else(
                || "never recovered".to_owned(),
                |d| format!(
                    "first full answer {:.2}s after the fault ended",
                    d.as_secs_f64()
                )
            ),
            if r.passed() { "pass" } else { "FAIL" }
        );
    }
    let _ = writeln!(
        s,
        "\nstatus `200cut`: a 200 whose stream ended without [DONE] (an error event or a cut); \
         `none-refused|reset|timeout`: no response head, and why. Expected rows: the answers that \
         must be billed, or the chat calls the provider served if more."
    );
    s
}
