//! Who is calling. The tenant comes only from the credential, never from the request.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub tenant_id: String,
    /// Empty when the key belongs to no team.
    pub team_id: String,
    pub key_id: String,
    /// Empty for API keys that are not tied to a user.
    pub user_id: String,
}
