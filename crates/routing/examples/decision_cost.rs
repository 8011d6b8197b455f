//! What one routing decision costs with 50 deployments configured, per strategy: the same
//! `select` path a request takes (preferences, capabilities, health, strategy), timed over a
//! bounded loop. `cargo run --release -p tollgate-routing --example decision_cost`.

use std::hint::black_box;
use std::time::Instant;

use tollgate_config::Config;
use tollgate_formats::openai::{RoutingPrefs, peek_routing_prefs};
use tollgate_routing::{Request, RouteTable, decide};

const DEPLOYMENTS: usize = 50;
const DECISIONS: u32 = 200_000;
const STRATEGIES: [&str; 5] = ["weighted", "priority", "least_busy", "latency", "cost"];

fn config() -> String {
    let mut toml = String::new();
    for p in 0..10 {
        toml += &format!(
            "[[providers]]\nname = \"p{p}\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"sk-bench-{p}\"\n"
        );
    }
    for s in STRATEGIES {
        let deps: Vec<String> = (0..DEPLOYMENTS)
            .map(|d| {
                format!(
                    "{{ name = \"{s}-{d}\", provider = \"p{}\", model = \"up-{d}\", weight = {}, priority = {}, price = {{ input = \"0.{}\", output = \"1\" }} }}",
                    d % 10,
                    1 + d % 4,
                    d % 3,
                    1 + d % 9
                )
            })
            .collect();
        toml += &format!(
            "[[models]]\nname = \"m-{s}\"\nstrategy = \"{s}\"\ndeployments = [{}]\nprice = {{ input = \"1\", output = \"2\" }}\n",
            deps.join(", ")
        );
    }
    toml
}

fn time(label: &str, mut f: impl FnMut()) {
    for _ in 0..DECISIONS / 10 {
        f();
    }
    let t0 = Instant::now();
    for _ in 0..DECISIONS {
        f();
    }
    let ns = t0.elapsed().as_nanos() as f64 / f64::from(DECISIONS);
    println!("{label:<34} {ns:>8.0} ns/decision");
}

fn main() -> anyhow::Result<()> {
    let cfg = Config::from_toml(&config())?;
    let table = RouteTable::from_config(&cfg)?;
    let plain = RoutingPrefs::default();
    let body = br#"{"model":"m-weighted","messages":[{"role":"user","content":"hello"}],"provider":{"order":["p3","p7"],"ignore":["p1"],"max_price":{"prompt":0.5}}}"#;
    let with_prefs = peek_routing_prefs(body)?;
    println!("{DEPLOYMENTS} deployments per model, {DECISIONS} decisions each");
    for s in STRATEGIES {
        let Some(model) = table.get(&format!("m-{s}")) else {
            anyhow::bail!("model m-{s} missing");
        };
        let req = Request::new(&plain, 100, Some(200));
        time(s, || {
            black_box(decide(model, &req));
        });
        let req = Request::new(&with_prefs, 100, Some(200));
        time(&format!("{s} + provider prefs"), || {
            black_box(decide(model, &req));
        });
    }
    time("peek_routing_prefs (per request)", || {
        let _ = black_box(peek_routing_prefs(black_box(body)));
    });
    Ok(())
}
