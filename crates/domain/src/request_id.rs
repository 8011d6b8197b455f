//! Request ids: UUIDv7, so they sort by time and index well in the ledger.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id given to every request at admission; returned to the client in `x-request-id`, sent
/// upstream, and the idempotency key of the usage ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(Uuid);

impl RequestId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for RequestId {
    fn from(u: Uuid) -> Self {
        Self(u)
    }
}

impl std::str::FromStr for RequestId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_increase() {
        let a = RequestId::new();
        let b = RequestId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(b > a);
        assert_eq!(a.to_string().parse::<RequestId>().unwrap(), a);
    }
}
