//! Fallback models (configured chains, context windows, OpenRouter `models`), provider
//! preferences, and key rotation; the answer always names the model that served it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use tollgate_proto::routing::v1::{FailureKind, Outcome};

use support::*;

#[tokio::test]
async fn a_failing_model_falls_back_and_the_answer_names_the_model_used() {
    let (broken, backup) = (mock(failing(502)).await, mock(opts()).await);
    let toml = format!(
        "{}{}{}{}",
        provider("a", &broken.base_url(), true),
        provider("b", &backup.base_url(), true),
        "[[models]]\nname = \"primary\"\naliases = [\"p-alias\"]\nfallbacks = [{ model = \"backup\", on = [\"server_error\"] }]\ndeployments = [{ provider = \"a\", model = \"up\" }]\nprice = { input = \"1\", output = \"2\" }\n",
        model("backup", &[], &[("b", "up-b", 1)]),
    );
    let mut r = start(&toml).await;
    let f = frames(&mut r, call("p-alias", false, false)).await;
    let s = start_frame(&f);
    assert_eq!((s.model.as_str(), s.provider.as_str()), ("backup", "b"));
    let body: serde_json::Value = serde_json::from_str(&data(&f)).unwrap();
    assert_eq!(body["model"], "backup");
    let u = usage(&f);
    assert_eq!(
        (u.model.as_str(), u.outcome),
        ("backup", Outcome::Completed as i32)
    );
    // Retried with backoff up to max_attempts (3) on the only deployment, then fell back.
    assert_eq!(broken.stats().chat_requests, 3);
}

#[tokio::test]
async fn a_prompt_beyond_the_context_window_goes_to_the_larger_model_without_a_call() {
    let (small, large) = (mock(opts()).await, mock(opts()).await);
    let toml = format!(
        "{}{}{}{}",
        provider("a", &small.base_url(), true),
        provider("b", &large.base_url(), true),
        "[[models]]\nname = \"small\"\ncontext_window = 5\nfallbacks = [{ model = \"large\", on = [\"context_length\"] }]\ndeployments = [{ provider = \"a\", model = \"up\" }]\nprice = { input = \"1\", output = \"2\" }\n",
        model("large", &[], &[("b", "up", 1)]),
    );
    let mut r = start(&toml).await;
    let f = frames(&mut r, call("small", true, false)).await;
    assert_eq!(start_frame(&f).model, "large");
    assert!(events(&data(&f)).iter().all(|e| e["model"] == "large"));
    assert_eq!(small.stats().chat_requests, 0);
    assert_eq!(usage(&f).model, "large");
}

#[tokio::test]
async fn openrouter_models_and_provider_preferences_are_honoured() {
    let (a, b) = (mock(opts()).await, mock(opts()).await);
    let toml = format!(
        "{}{}{}{}",
        provider("a", &a.base_url(), true),
        provider("b", &b.base_url(), true),
        model("m", &[], &[("a", "up", 1), ("b", "up", 1)]),
        model("other", &[], &[("b", "up", 1)]),
    ) + &model("a-only", &[], &[("a", "up", 1)]);
    let mut r = start(&toml).await;
    for _ in 0..10 {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"provider":{"order":["b"]}}"#;
        let f = frames(&mut r, with_body(call("m", false, false), body)).await;
        assert_eq!(start_frame(&f).provider, "b");
    }
    assert_eq!(a.stats().chat_requests, 0);
    // Preferences no deployment of any listed model fits: a clear refusal.
    let body = r#"{"model":"m","models":["other"],"messages":[{"role":"user","content":"hi"}],"provider":{"ignore":["a"],"only":["a"]}}"#;
    let f = frames(&mut r, with_body(call("m", false, false), body)).await;
    let f0 = failure(&f);
    assert_eq!(f0.kind, FailureKind::InvalidRequest as i32, "{f0:?}");
    // `a-only` has no deployment on `b`: the `models` list moves on to `other`.
    let body = r#"{"model":"a-only","models":["other"],"messages":[{"role":"user","content":"hi"}],"provider":{"only":["b"]}}"#;
    let f = frames(&mut r, with_body(call("a-only", false, false), body)).await;
    let s = start_frame(&f);
    assert_eq!((s.model.as_str(), s.provider.as_str()), ("other", "b"));
    let body: serde_json::Value = serde_json::from_str(&data(&f)).unwrap();
    assert_eq!(body["model"], "other");
    assert_eq!(usage(&f).model, "other");
    assert_eq!(a.stats().chat_requests, 0);
}

#[tokio::test]
async fn a_refused_key_rotates_to_the_next_one() {
    let m = mock(opts()).await;
    let toml = provider("a", &m.base_url(), true)
        + &format!(
            "[[models]]\nname = \"m\"\ndeployments = [{{ provider = \"a\", model = \"up\", api_keys = [\"sk-revoked-key\", \"{PROVIDER_KEY}\"] }}]\nprice = {{ input = \"1\", output = \"2\" }}\n"
        );
    let mut r = start(&toml).await;
    let f = frames(&mut r, call("m", false, false)).await;
    assert_eq!(usage(&f).outcome, Outcome::Completed as i32);
    assert_eq!(
        m.stats().chat_requests,
        2,
        "refused once, then the next key"
    );
    let f = frames(&mut r, call("m", false, false)).await;
    assert_eq!(usage(&f).outcome, Outcome::Completed as i32);
    assert_eq!(
        m.stats().chat_requests,
        3,
        "the good key is now the current one"
    );
}
