use super::*;

const GOOD: &str = r#"
[edge]
listen = "127.0.0.1:9999"
request_timeout = "30s"

[[providers]]
name = "mock"
kind = "openai"
base_url = "http://127.0.0.1:9000/v1"

[[models]]
name = "mock"
aliases = ["mock-fast"]
deployments = [{ provider = "mock", model = "mock-1" }]
price = { input = "0.15", output = "0.60" }
"#;

fn err_text(r: Result<Config, ConfigError>) -> String {
    match r {
        Ok(_) => panic!("config should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn loads_a_good_file_over_defaults() {
    let cfg = Config::from_toml(GOOD).unwrap();
    assert_eq!(cfg.edge.listen.port(), 9999);
    assert_eq!(cfg.edge.request_timeout, std::time::Duration::from_secs(30));
    assert_eq!(cfg.routing.listen.port(), 50051);
    let m = cfg.model("mock-fast").unwrap();
    assert_eq!(m.name, "mock");
    assert_eq!(m.price().input.micros(), 150_000);
    assert_eq!(m.price().cached_input.micros(), 150_000);
}

#[test]
fn unknown_fields_are_refused_with_their_name() {
    let e = err_text(Config::from_toml("[edge]\nlisten_addr = \"x\"\n"));
    assert!(e.contains("listen_addr"), "{e}");
}

#[test]
fn a_deployment_naming_a_missing_provider_names_the_field() {
    let bad = GOOD.replace("provider = \"mock\"", "provider = \"nope\"");
    let e = err_text(Config::from_toml(&bad));
    assert!(e.contains("models[0].deployments[0].provider"), "{e}");
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn a_model_without_a_price_is_refused() {
    let bad = GOOD.replace("price = { input = \"0.15\", output = \"0.60\" }", "");
    let e = err_text(Config::from_toml(&bad));
    assert!(e.contains("price"), "{e}");
}

#[test]
fn a_bad_price_names_the_price_field() {
    let bad = GOOD.replace("\"0.60\"", "\"cheap\"");
    let e = err_text(Config::from_toml(&bad));
    assert!(e.contains("models[0].price.output"), "{e}");
}

#[test]
fn duplicate_model_names_are_refused() {
    let bad = GOOD.replace("aliases = [\"mock-fast\"]", "aliases = [\"mock\"]");
    let e = err_text(Config::from_toml(&bad));
    assert!(e.contains("models[0].aliases[0]"), "{e}");
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
fn environment_overrides_the_file_with_double_underscore_nesting() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("tollgate.toml", GOOD)?;
        jail.set_env("TOLLGATE_EDGE__LISTEN", "127.0.0.1:7777");
        jail.set_env("ADMIN_SECRET_FOR_TEST", "s3cret");
        jail.set_env("TOLLGATE_EDGE__ADMIN_TOKEN", "env:ADMIN_SECRET_FOR_TEST");
        // Client-side variables from .tollgate/env are not configuration and must not break it.
        jail.set_env("TOLLGATE_API_KEY", "tg-whatever");
        let cfg =
            Config::load(Some(std::path::Path::new("tollgate.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(cfg.edge.listen.port(), 7777);
        let token = cfg.edge.admin_token.as_ref().unwrap();
        assert_eq!(token.expose(), "s3cret");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        Ok(())
    });
}

#[test]
fn a_missing_secret_reference_is_an_error_naming_the_variable() {
    let e = err_text(Config::from_toml(
        "[edge]\nadmin_token = \"env:TOLLGATE_DEFINITELY_UNSET_VAR\"\n",
    ));
    assert!(e.contains("TOLLGATE_DEFINITELY_UNSET_VAR"), "{e}");
}

#[test]
fn the_reasoning_price_defaults_to_output_and_can_be_set() {
    let cfg = Config::from_toml(
        "[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\
         [[models]]\nname = \"a\"\ndeployments = [{ provider = \"p\", model = \"x\" }]\nprice = { input = \"1\", output = \"8\" }\n\
         [[models]]\nname = \"b\"\ndeployments = [{ provider = \"p\", model = \"y\" }]\nprice = { input = \"1\", output = \"8\", reasoning = \"12.5\" }\n",
    )
    .unwrap();
    assert_eq!(cfg.models[0].price().reasoning.micros(), 8_000_000);
    assert_eq!(cfg.models[1].price().reasoning.micros(), 12_500_000);
    let e = err_text(Config::from_toml(
        "[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\
         [[models]]\nname = \"a\"\ndeployments = [{ provider = \"p\", model = \"x\" }]\nprice = { input = \"1\", output = \"8\", reasoning = \"lots\" }\n",
    ));
    assert!(e.contains("models[0].price.reasoning"), "{e}");
}
