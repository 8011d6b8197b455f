//! Tollgate's business types: request ids, money, usage, the caller's identity and the API key
//! format.
//!
//! This crate does no I/O and knows nothing of HTTP, gRPC or SQL; the other crates convert their
//! wire types into these at their boundary (parse, don't validate).

pub mod api_key;
pub mod identity;
pub mod money;
pub mod request_id;
pub mod units;
pub mod usage;

pub use api_key::{ApiKey, KeyError, KeyHasher};
pub use identity::Identity;
pub use money::{Money, MoneyError, Price};
pub use request_id::RequestId;
pub use units::{Unit, Units};
pub use usage::{Outcome, Usage};
