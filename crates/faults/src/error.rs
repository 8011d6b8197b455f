//! The one error type of the fault suite: what can stop a run before it has figures.

#[derive(Debug, thiserror::Error)]
pub enum FaultsError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("database: {0}")]
    Db(String),
    #[error("{0}")]
    Setup(String),
}

impl From<sqlx::Error> for FaultsError {
    fn from(e: sqlx::Error) -> Self {
        FaultsError::Db(e.to_string())
    }
}

impl From<tollgate_store::StoreError> for FaultsError {
    fn from(e: tollgate_store::StoreError) -> Self {
        FaultsError::Db(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, FaultsError>;
