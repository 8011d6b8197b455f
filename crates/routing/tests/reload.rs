//! Hot reload of the config file: a good change is picked up without dropping a stream in
//! flight; a bad one is refused and the running route table kept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tollgate_config::Config;
use tollgate_mock_provider::{MockOptions, MockServer};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::routing_client::RoutingClient;
use tollgate_proto::routing::v1::{ListModelsRequest, Outcome};

use support::*;

fn write(path: &Path, toml: &str) {
    // Write then rename, as editors and ConfigMap updates do, so no half file is ever read.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, toml).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn names(client: &mut RoutingClient<tonic::transport::Channel>) -> Vec<String> {
    let models = client
        .list_models(ListModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models;
    models.into_iter().map(|m| m.id).collect()
}

/// A config file of one model `m` on `mock`, polled every `interval`: its directory, path and
/// text (to extend).
fn config_file(
    mock: &MockServer,
    interval: &str,
) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.toml");
    let base = format!(
        "[routing]\nreload_interval = \"{interval}\"\n{}{}",
        provider("mock", &mock.base_url(), true),
        model("m", &[], &[("mock", "up", 1)])
    );
    write(&path, &base);
    (dir, path, base)
}

/// Routing following the config file at `path`, a client of it, and what stops it.
async fn follow(
    path: &Path,
) -> (
    RoutingClient<tonic::transport::Channel>,
    oneshot::Sender<()>,
) {
    let mut cfg = Config::load(Some(path)).unwrap();
    cfg.routing.usage.spool_dir = path.with_extension("spool");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let watched = path.to_owned();
    tokio::spawn(async move {
        tollgate_routing::run_with_reload(watched, cfg, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let client = loop {
        if let Ok(c) = RoutingClient::connect(format!("http://{addr}")).await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (client, stop)
}

#[tokio::test]
async fn a_good_reload_applies_without_cutting_streams_and_a_bad_one_is_refused() {
    let mock = MockServer::start(MockOptions {
        chunks: 8,
        chunk_delay: Duration::from_millis(150),
        api_key: Some(PROVIDER_KEY.into()),
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let (_dir, path, base) = config_file(&mock, "100ms");

    let (mut client, stop) = follow(&path).await;
    assert_eq!(names(&mut client).await, ["m"]);

    // A stream of 8 chunks, 150 ms apart, in flight across the reload.
    let mut streaming = client.clone();
    let in_flight = tokio::spawn(async move {
        let mut s = streaming
            .chat(call("m", true, false))
            .await
            .unwrap()
            .into_inner();
        let mut frames = Vec::new();
        while let Some(f) = s.message().await.unwrap() {
            frames.push(f.kind.unwrap());
        }
        frames
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    write(
        &path,
        &format!(
            "{base}{}",
            model("added", &["added-alias"], &[("mock", "up2", 1)])
        ),
    );
    let t0 = Instant::now();
    while !names(&mut client).await.contains(&"added".to_owned()) {
        assert!(t0.elapsed() < Duration::from_secs(5), "reload not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let f = frames_from(&mut client, call("added-alias", false, false)).await;
    assert_eq!(usage(&f).model, "added");

    let streamed = in_flight.await.unwrap();
    let u = usage(&streamed);
    assert_eq!(
        u.outcome,
        Outcome::Completed as i32,
        "the stream survived the reload"
    );
    assert_eq!(u.output_tokens, 8);
    assert!(data(&streamed).ends_with("data: [DONE]\n\n"));

    // A fallback to a model that does not exist: refused, the running route table stays.
    write(
        &path,
        &format!(
            "{base}[[models]]\nname = \"broken\"\nfallbacks = [{{ model = \"ghost\" }}]\ndeployments = [{{ provider = \"mock\", model = \"x\" }}]\nprice = {{ input = \"1\", output = \"2\" }}\n"
        ),
    );
    assert!(
        Config::load(Some(&path))
            .unwrap_err()
            .to_string()
            .contains("fallbacks[0].model")
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let listed = names(&mut client).await;
    assert!(listed.contains(&"added".to_owned()), "{listed:?}");
    assert!(!listed.contains(&"broken".to_owned()), "{listed:?}");
    let f = frames_from(&mut client, call("added", false, false)).await;
    assert!(matches!(f.first(), Some(Kind::Start(_))), "{f:?}");
    let _ = stop.send(());
}

#[tokio::test]
async fn a_call_is_routed_with_the_model_directory_the_edge_admitted_it_under() {
    let mock = MockServer::start(MockOptions {
        api_key: Some(PROVIDER_KEY.into()),
        ..MockOptions::default()
    })
    .await
    .unwrap();
    // No poll during the test: whatever routing learns of the file, it learns on demand.
    let (_dir, path, base) = config_file(&mock, "1h");
    let base_directory = Config::load(Some(&path)).unwrap().directory().fingerprint();
    let (mut client, _stop) = follow(&path).await;
    let with_directory = |model: &str, directory: u64| {
        let mut c = call(model, false, false);
        c.directory = directory;
        c
    };

    // The edge reloaded first: a model added to the file is served at once.
    let added_file = format!("{base}{}", model("added", &[], &[("mock", "up2", 1)]));
    write(&path, &added_file);
    let added_directory = Config::load(Some(&path)).unwrap().directory().fingerprint();
    assert_ne!(added_directory, base_directory);
    let f = frames_from(&mut client, with_directory("added", added_directory)).await;
    assert_eq!(usage(&f).model, "added", "{f:?}");
    assert_eq!(usage(&f).outcome, Outcome::Completed as i32, "{f:?}");

    // `added` is replaced by `later`, and routing learns of it first (an edge on the new file
    // makes it look). An edge still on the old directory admitted `added`: routing serves it
    // with the table it replaced; under the new directory `added` is unknown to both.
    write(
        &path,
        &format!("{base}{}", model("later", &[], &[("mock", "up3", 1)])),
    );
    let later_directory = Config::load(Some(&path)).unwrap().directory().fingerprint();
    let f = frames_from(&mut client, with_directory("later", later_directory)).await;
    assert_eq!(usage(&f).model, "later");
    assert!(!names(&mut client).await.contains(&"added".to_owned()));
    let f = frames_from(&mut client, with_directory("added", added_directory)).await;
    assert_eq!(usage(&f).model, "added");
    assert_eq!(usage(&f).outcome, Outcome::Completed as i32);
    let f = frames_from(&mut client, with_directory("added", later_directory)).await;
    assert_eq!(
        failure(&f).kind,
        tollgate_proto::routing::v1::FailureKind::UnknownModel as i32
    );
}
