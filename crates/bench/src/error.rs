use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid URL {0:?}: {1}")]
    InvalidUrl(String, &'static str),
    #[error("refusing to target {0}: tollgate-bench only sends to loopback addresses")]
    NotLoopback(String),
    #[error("invalid header {0:?}: expected 'name: value'")]
    InvalidHeader(String),
    #[error("invalid duration {0:?}: expected e.g. 10s, 500ms, 2m")]
    InvalidDuration(String),
    #[error("cannot read body file {path}: {source}")]
    BodyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
    #[error("histogram: {0}")]
    Histogram(String),
    #[error("a benchmark task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
