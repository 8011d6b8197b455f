//! Compiles `proto/` with a vendored protoc so a fresh machine needs no system package.
use std::path::PathBuf;

// Cargo hands a build script its inputs as environment variables; nothing here is configuration.
#[allow(clippy::disallowed_methods)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it compiles: a target directory shared by
    // two clones (worktrees) reuses the compiled script, which must still read this clone's
    // protos.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "tollgate/routing/v1/routing.proto",
        "tollgate/billing/v1/billing.proto",
        "tollgate/logging/v1/logging.proto",
    ];
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `bytes` fields as `bytes::Bytes`: request bodies and stream frames pass through the edge
    // and routing without a copy.
    config.bytes(["."]);
    let wkt = protoc_bin_vendored::include_path()?;
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    for p in &paths {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    tonic_prost_build::configure().compile_with_config(config, &paths, &[root, wkt])?;
    Ok(())
}
