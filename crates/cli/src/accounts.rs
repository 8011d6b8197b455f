//! `tollgatectl users ...` and `tollgatectl limits ...`: users of a tenant (create, list, get,
//! disable) and rate limits per key, user, team or tenant, optionally per model (set, list,
//! delete). The server validates; this module asks and shows.

use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::api::List;
use crate::client::AdminClient;
use crate::commands::{Output, show};
use crate::error::CliError;
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Create a user (give `--external-id`, `--email`, or both).
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The IdP's user id: a JWT caller whose user claim equals it is limited and billed as
        /// this user.
        #[arg(long)]
        external_id: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        /// Team id the user belongs to.
        #[arg(long)]
        team: Option<String>,
    },
    /// List a tenant's users.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Show one user.
    Get {
        #[arg(long)]
        tenant: String,
        user_id: String,
    },
    /// Disable a user: its keys stop working everywhere within a second.
    Disable {
        #[arg(long)]
        tenant: String,
        user_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LimitsCmd {
    /// Set (create or replace) the limit of one scope, for all its models or one model.
    /// Unset numbers use the configured default; 0 = unlimited.
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["key", "user", "team", "tenant"])]
        scope: String,
        /// The key id, user id or team id (not needed for the tenant).
        #[arg(long)]
        scope_id: Option<String>,
        /// A public model name: a counter of its own for that model within the scope.
        #[arg(long)]
        model: Option<String>,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u32>,
        /// Tokens per minute.
        #[arg(long)]
        tpm: Option<u32>,
        /// Concurrent requests.
        #[arg(long)]
        concurrency: Option<u32>,
    },
    /// List a tenant's limits.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Delete a limit: the scope falls back to the configured defaults.
    Delete {
        #[arg(long)]
        tenant: String,
        limit_id: String,
    },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SetLimit {
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub id: String,
    pub scope: String,
    pub scope_id: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub rpm: Option<u32>,
    #[serde(default)]
    pub tpm: Option<u32>,
    #[serde(default)]
    pub concurrency: Option<u32>,
}

fn dash(v: &Option<String>) -> String {
    v.clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

fn number(v: Option<u32>) -> String {
    match v {
        None => "default".into(),
        Some(0) => "unlimited".into(),
        Some(n) => n.to_string(),
    }
}

pub(crate) fn users_table(list: &[User]) -> String {
    let mut t = Table::new(&[
        ("ID", false),
        ("EXTERNAL ID", false),
        ("EMAIL", false),
        ("NAME", false),
        ("TEAM", false),
        ("STATUS", false),
    ]);
    for u in list {
        t.row(vec![
            u.id.clone(),
            dash(&u.external_id),
            dash(&u.email),
            u.name.clone(),
            dash(&u.team_id),
            if u.disabled { "disabled" } else { "active" }.into(),
        ]);
    }
    t.render()
}

pub(crate) fn limits_table(list: &[Limit]) -> String {
    let mut t = Table::new(&[
        ("ID", false),
        ("SCOPE", false),
        ("SCOPE ID", false),
        ("MODEL", false),
        ("RPM", true),
        ("TPM", true),
        ("CONCURRENCY", true),
    ]);
    for l in list {
        t.row(vec![
            l.id.clone(),
            l.scope.clone(),
            l.scope_id.clone(),
            l.model.clone().unwrap_or_else(|| "(all)".into()),
            number(l.rpm),
            number(l.tpm),
            number(l.concurrency),
        ]);
    }
    t.render()
}

pub async fn users(client: &AdminClient, cmd: UsersCmd, as_json: bool) -> Result<Output, CliError> {
    use reqwest::Method;
    let one = |u: &User| users_table(std::slice::from_ref(u));
    Ok(match cmd {
        UsersCmd::Create {
            tenant,
            external_id,
            email,
            name,
            team,
        } => {
            let req = CreateUser {
                external_id,
                email,
                name,
                team_id: team,
            };
            let u: User = client
                .call(Method::POST, &["tenants", &tenant, "users"], Some(&req))
                .await?;
            show(as_json, &u, one)
        }
        UsersCmd::List { tenant } => {
            let l: List<User> = client
                .call(Method::GET, &["tenants", &tenant, "users"], None::<&()>)
                .await?;
            show(as_json, &l, |l| users_table(&l.data))
        }
        UsersCmd::Get { tenant, user_id } => {
            let u: User = client
                .call(
                    Method::GET,
                    &["tenants", &tenant, "users", &user_id],
                    None::<&()>,
                )
                .await?;
            show(as_json, &u, one)
        }
        UsersCmd::Disable { tenant, user_id } => {
            let u: User = client
                .call(
                    Method::DELETE,
                    &["tenants", &tenant, "users", &user_id],
                    None::<&()>,
                )
                .await?;
            show(as_json, &u, one)
        }
    })
}

pub async fn limits(
    client: &AdminClient,
    cmd: LimitsCmd,
    as_json: bool,
) -> Result<Output, CliError> {
    use reqwest::Method;
    let one = |l: &Limit| limits_table(std::slice::from_ref(l));
    Ok(match cmd {
        LimitsCmd::Set {
            tenant,
            scope,
            scope_id,
            model,
            rpm,
            tpm,
            concurrency,
        } => {
            let req = SetLimit {
                scope,
                scope_id,
                model,
                rpm,
                tpm,
                concurrency,
            };
            let l: Limit = client
                .call(Method::PUT, &["tenants", &tenant, "limits"], Some(&req))
                .await?;
            show(as_json, &l, one)
        }
        LimitsCmd::List { tenant } => {
            let l: List<Limit> = client
                .call(Method::GET, &["tenants", &tenant, "limits"], None::<&()>)
                .await?;
            show(as_json, &l, |l| limits_table(&l.data))
        }
        LimitsCmd::Delete { tenant, limit_id } => {
            let l: Limit = client
                .call(
                    Method::DELETE,
                    &["tenants", &tenant, "limits", &limit_id],
                    None::<&()>,
                )
                .await?;
            show(as_json, &l, one)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_show_default_unlimited_and_all_models() {
        let out = limits_table(&[Limit {
            id: "l1".into(),
            scope: "team".into(),
            scope_id: "t1".into(),
            model: None,
            rpm: Some(0),
            tpm: None,
            concurrency: Some(4),
        }]);
        assert!(out.contains("unlimited"), "{out}");
        assert!(out.contains("default"), "{out}");
        assert!(out.contains("(all)"), "{out}");
    }

    #[test]
    fn unset_fields_are_not_sent_so_the_server_keeps_its_defaults() {
        let body = serde_json::to_value(SetLimit {
            scope: "tenant".into(),
            rpm: Some(5),
            ..SetLimit::default()
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"scope": "tenant", "rpm": 5}));
    }
}
