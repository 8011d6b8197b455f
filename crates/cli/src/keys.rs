//! `tollgatectl keys ...`: create (secret shown once), list, get, rotate, revoke.

use std::collections::BTreeMap;

use crate::api::{CreateKey, List, RotateKey};
use crate::args::KeysCmd;
use crate::client::AdminClient;
use crate::commands::{Output, json, show};
use crate::error::CliError;
use crate::render;

/// `--meta k=v` flags into a map; a repeated key keeps its last value.
pub fn parse_meta(flags: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    flags
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(CliError::BadArgument {
                flag: "--meta",
                value: f.clone(),
                reason: "expected key=value".into(),
            }),
        })
        .collect()
}

/// The secret goes to stdout once; with `--json` the warning goes to stderr so stdout stays
/// pure JSON for scripts.
fn with_secret<T: serde::Serialize>(
    as_json: bool,
    v: &T,
    table: impl FnOnce(&T) -> String,
) -> Output {
    if as_json {
        Output {
            stdout: json(v),
            stderr: format!("{}\n", render::SECRET_NOTE),
        }
    } else {
        Output::out(table(v))
    }
}

pub async fn run(client: &AdminClient, cmd: KeysCmd, as_json: bool) -> Result<Output, CliError> {
    Ok(match cmd {
        KeysCmd::Create {
            tenant,
            team,
            user,
            name,
            rpm,
            concurrency,
            expires_in,
            allow_model,
            meta,
        } => {
            let req = CreateKey {
                name,
                team_id: team,
                user_id: user,
                rpm_limit: rpm,
                concurrency_limit: concurrency,
                expires_in,
                allowed_models: allow_model,
                metadata: parse_meta(&meta)?,
            };
            let created = client.create_key(&tenant, &req).await?;
            with_secret(as_json, &created, render::key_created)
        }
        KeysCmd::List { tenant } => {
            let data = client.list_keys(&tenant).await?;
            show(as_json, &List { data }, |l| render::keys(&l.data))
        }
        KeysCmd::Get { tenant, key_id } => {
            let k = client.get_key(&tenant, &key_id).await?;
            show(as_json, &k, render::key_detail)
        }
        KeysCmd::Rotate {
            tenant,
            key_id,
            overlap,
        } => {
            let r = client
                .rotate_key(&tenant, &key_id, &RotateKey { overlap })
                .await?;
            with_secret(as_json, &r, render::key_rotated)
        }
        KeysCmd::Revoke { tenant, key_id } => {
            let k = client.revoke_key(&tenant, &key_id).await?;
            show(as_json, &k, render::key_revoked)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_flags_are_key_value_pairs() {
        let m = parse_meta(&["owner=ml".into(), "note=a=b".into()]).unwrap();
        assert_eq!(m["owner"], "ml");
        assert_eq!(m["note"], "a=b");
        assert!(parse_meta(&["novalue".into()]).is_err());
        assert!(parse_meta(&["=x".into()]).is_err());
    }
}
