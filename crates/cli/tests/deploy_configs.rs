//! The shipped deploy configs kept honest: they must load exactly as the services will load
//! them, with the environment compose and the k8s manifests give them.
//!
//! Its own test binary: figment::Jail changes the process environment, which would race with
//! any other test that loads configuration.

// figment::Jail fixes the closure's error type; failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::result_large_err
)]

use std::path::{Path, PathBuf};

use tollgate_config::{Config, Process};

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

const INTERNAL_SECRET: &str = "internal-secret-test-0123456789abcdef";

fn with_deploy_env(jail: &mut figment::Jail) {
    jail.set_env("TOLLGATE_ADMIN_TOKEN", "adm-test");
    jail.set_env("TOLLGATE_KEY_PEPPER", "pepper-test");
    jail.set_env("TOLLGATE_INTERNAL_SECRET", INTERNAL_SECRET);
    jail.set_env(
        "DATABASE_URL",
        "postgres://tollgate:pw@postgres:5432/tollgate",
    );
}

#[test]
fn the_compose_config_loads_and_points_at_the_compose_services() {
    let file = repo_file("deploy/docker/tollgate.toml");
    figment::Jail::expect_with(|jail| {
        with_deploy_env(jail);
        let cfg = Config::load(Some(&file)).map_err(|e| e.to_string())?;
        assert_eq!(cfg.edge.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(cfg.routing.listen.to_string(), "0.0.0.0:50051");
        assert_eq!(cfg.billing.listen.to_string(), "0.0.0.0:50052");
        assert_eq!(cfg.logging.listen.to_string(), "0.0.0.0:50053");
        assert_eq!(cfg.edge.routing_url, "http://routing:50051");
        assert_eq!(cfg.edge.billing_url, "http://billing:50052");
        // Routing's spool is on its own volume, never the edge's.
        assert_eq!(
            cfg.routing.usage.spool_dir,
            std::path::Path::new("/var/lib/tollgate/routing-spool")
        );
        assert_eq!(cfg.edge.logging_url, "http://logging:50053");
        assert_eq!(cfg.redis.url.expose(), "redis://redis:6379");
        assert_eq!(
            cfg.database.url.expose(),
            "postgres://tollgate:pw@postgres:5432/tollgate"
        );
        assert_eq!(
            cfg.edge.admin_token.as_ref().map(|t| t.expose()),
            Some("adm-test")
        );
        assert_eq!(
            cfg.edge.key_pepper.expose(),
            cfg.billing.key_pepper.expose()
        );
        let mock = cfg.model("gpt-4o-mini").expect("gpt-4o-mini alias");
        assert_eq!(mock.name, "mock");
        assert!(cfg.model("mock-fast").is_some());
        assert_eq!(mock.price().input.micros(), 150_000);
        assert_eq!(mock.price().output.micros(), 600_000);
        assert_eq!(cfg.providers[0].base_url, "http://mock-provider:9000/v1");
        assert_eq!(
            cfg.internal.secret.as_ref().map(|s| s.expose()),
            Some(INTERNAL_SECRET),
            "every compose service authenticates its gRPC calls"
        );
        Ok(())
    });
}

#[test]
fn the_compose_config_names_a_missing_secret_variable() {
    let file = repo_file("deploy/docker/tollgate.toml");
    figment::Jail::expect_with(|jail| {
        jail.set_env("TOLLGATE_KEY_PEPPER", "pepper-test");
        jail.set_env("TOLLGATE_INTERNAL_SECRET", INTERNAL_SECRET);
        jail.set_env("DATABASE_URL", "postgres://x@y/z");
        // TOLLGATE_ADMIN_TOKEN may be set in the developer's shell; Jail cannot unset it, so
        // point the reference at a variable that is certainly absent.
        jail.set_env(
            "TOLLGATE_EDGE__ADMIN_TOKEN",
            "env:TOLLGATE_TEST_SURELY_UNSET",
        );
        let e = Config::load(Some(&file))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("TOLLGATE_TEST_SURELY_UNSET"), "{e}");
        Ok(())
    });
}

/// What each workload of deploy/k8s/base/*.yaml puts in its environment from the Secret: each
/// service must load with exactly these, and no other secret.
const K8S_ENV: [(Process, &[&str]); 4] = [
    (
        Process::Edge,
        &[
            "TOLLGATE_EDGE__ADMIN_TOKEN",
            "TOLLGATE_EDGE__KEY_PEPPER",
            "TOLLGATE_INTERNAL__SECRET",
            "TOLLGATE_DATABASE__URL",
            "TOLLGATE_REDIS__URL",
        ],
    ),
    (Process::Routing, &["TOLLGATE_INTERNAL__SECRET"]),
    (
        Process::Billing,
        &[
            "TOLLGATE_BILLING__KEY_PEPPER",
            "TOLLGATE_INTERNAL__SECRET",
            "TOLLGATE_DATABASE__URL",
        ],
    ),
    (
        Process::Logging,
        &["TOLLGATE_INTERNAL__SECRET", "TOLLGATE_DATABASE__URL"],
    ),
];

fn secret_value(var: &str) -> String {
    match var {
        "TOLLGATE_INTERNAL__SECRET" => INTERNAL_SECRET.into(),
        "TOLLGATE_DATABASE__URL" => "postgres://tollgate:pw@postgres:5432/tollgate".into(),
        "TOLLGATE_REDIS__URL" => "redis://:pw@redis:6379".into(),
        other => format!("{}-0123456789abcdef", other.to_ascii_lowercase()),
    }
}

#[test]
fn each_kubernetes_workload_loads_with_only_its_own_secrets() {
    let file = repo_file("deploy/k8s/base/tollgate.toml");
    for (process, vars) in K8S_ENV {
        figment::Jail::expect_with(|jail| {
            for var in vars {
                jail.set_env(var, secret_value(var));
            }
            let cfg =
                Config::load_for(Some(&file), process).map_err(|e| format!("{process}: {e}"))?;
            assert_eq!(cfg.edge.routing_url, "http://tollgate-routing:50051");
            assert_eq!(
                cfg.routing.usage.spool_dir,
                std::path::Path::new("/var/lib/tollgate/routing-spool")
            );
            assert_eq!(cfg.edge.limits.replicas, 20, "the edge HPA's maxReplicas");
            assert!(cfg.model("gpt-4o-mini").is_some());
            Ok(())
        });
    }
}

#[test]
fn a_kubernetes_edge_without_its_pepper_refuses_to_start() {
    let file = repo_file("deploy/k8s/base/tollgate.toml");
    figment::Jail::expect_with(|jail| {
        for var in K8S_ENV[0].1 {
            if *var != "TOLLGATE_EDGE__KEY_PEPPER" {
                jail.set_env(var, secret_value(var));
            }
        }
        let e = Config::load_for(Some(&file), Process::Edge)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("edge.key_pepper") && e.contains("0.0.0.0:8080"),
            "{e}"
        );
        Ok(())
    });
}

#[test]
fn the_production_overlay_config_loads_for_each_workload() {
    let file = repo_file("deploy/k8s/overlays/production/tollgate.toml");
    for (process, vars) in K8S_ENV {
        figment::Jail::expect_with(|jail| {
            for var in vars {
                jail.set_env(var, secret_value(var));
            }
            // Only routing resolves the provider key, so only routing has it.
            if process == Process::Routing {
                jail.set_env("OPENAI_API_KEY", "sk-test");
            }
            let cfg =
                Config::load_for(Some(&file), process).map_err(|e| format!("{process}: {e}"))?;
            assert_eq!(cfg.edge.admin_listen.map(|a| a.port()), Some(8081));
            assert_eq!(cfg.edge.limits.replicas, 20);
            assert!(cfg.providers.iter().all(|p| p.name != "mock"));
            Ok(())
        });
    }
}

#[test]
fn the_compose_services_refuse_the_env_example_placeholders() {
    let file = repo_file("deploy/docker/tollgate.toml");
    let example = std::fs::read_to_string(repo_file("deploy/docker/env.example")).unwrap();
    figment::Jail::expect_with(|jail| {
        for line in example
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
        {
            let (k, v) = line.split_once('=').unwrap();
            jail.set_env(k, v);
        }
        jail.set_env("DATABASE_URL", "postgres://x@y/z");
        for process in [Process::Edge, Process::Billing] {
            let e = Config::load_for(Some(&file), process)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("key_pepper") || e.contains("admin_token"),
                "{process}: {e}"
            );
            assert!(!e.contains("change-me"), "the value is not echoed: {e}");
        }
        Ok(())
    });
}
