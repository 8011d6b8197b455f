//! Runs one parsed command and returns what to print; `main` only prints it.

use serde::Serialize;

use crate::api::{CreateBudget, CreateTeam, CreateTenant, List, LogsQuery, SpendQuery};
use crate::args::{
    AdminCmd, BudgetsCmd, Cli, Command, ConfigCmd, LogsArgs, SpendArgs, TeamsCmd, TenantsCmd,
};
use crate::client::AdminClient;
use crate::error::CliError;
use crate::{render, window};

/// What a command prints: `stdout` is the result (a table or JSON), `stderr` a note for people.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub(crate) fn out(stdout: String) -> Output {
        Output {
            stdout,
            stderr: String::new(),
        }
    }
}

pub(crate) fn json<T: Serialize>(v: &T) -> String {
    // The API types are plain structs with string keys: serialising them cannot fail.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Pick the table or the JSON rendering.
pub(crate) fn show<T: Serialize>(as_json: bool, v: &T, table: impl FnOnce(&T) -> String) -> Output {
    Output::out(if as_json { json(v) } else { table(v) })
}

pub async fn run(cli: Cli) -> Result<Output, CliError> {
    let as_json = cli.json;
    match cli.command {
        Command::Config(ConfigCmd::Check { file, service }) => {
            crate::check::check(&file, service, as_json)
        }
        Command::Migrate(args) => crate::migrate::run(args).await,
        Command::Health(args) => crate::health::probe(&args).await,
        Command::InternalToken(args) => crate::internal_token::mint(&args, as_json),
        Command::Admin(command) => {
            let token = cli.admin_token.ok_or(CliError::NoAdminToken)?;
            let client = AdminClient::new(&cli.url, token)?;
            admin(&client, command, as_json).await
        }
    }
}

async fn admin(client: &AdminClient, command: AdminCmd, as_json: bool) -> Result<Output, CliError> {
    Ok(match command {
        AdminCmd::Tenants(TenantsCmd::Create { name, log_content }) => {
            let req = CreateTenant {
                name,
                log_content: log_content.then_some(true),
            };
            let t = client.create_tenant(&req).await?;
            show(as_json, &t, render::tenant_created)
        }
        AdminCmd::Tenants(TenantsCmd::List) => {
            let data = client.list_tenants().await?;
            show(as_json, &List { data }, |l| render::tenants(&l.data))
        }
        AdminCmd::Teams(TeamsCmd::Create { tenant, name }) => {
            let t = client.create_team(&tenant, &CreateTeam { name }).await?;
            show(as_json, &t, render::team_created)
        }
        AdminCmd::Keys(cmd) => crate::keys::run(client, cmd, as_json).await?,
        AdminCmd::Users(cmd) => crate::accounts::users(client, cmd, as_json).await?,
        AdminCmd::Limits(cmd) => crate::accounts::limits(client, cmd, as_json).await?,
        AdminCmd::Prices(cmd) => crate::prices::prices(client, cmd, as_json).await?,
        AdminCmd::Budgets(BudgetsCmd::Create {
            tenant,
            scope,
            scope_id,
            period,
            timezone,
            limit_usd,
            alert_thresholds,
        }) => {
            let req = CreateBudget {
                scope,
                scope_id: scope_id.unwrap_or_default(),
                period,
                timezone: timezone.unwrap_or_default(),
                limit_usd,
                alert_thresholds,
            };
            let b = client.create_budget(&tenant, &req).await?;
            show(as_json, &b, |b| render::budgets(std::slice::from_ref(b)))
        }
        AdminCmd::Budgets(BudgetsCmd::List { tenant }) => {
            let data = client.list_budgets(&tenant).await?;
            show(as_json, &List { data }, |l| render::budgets(&l.data))
        }
        AdminCmd::Budgets(BudgetsCmd::Delete { tenant, budget_id }) => {
            let b = client.delete_budget(&tenant, &budget_id).await?;
            show(as_json, &b, |b| render::budgets(std::slice::from_ref(b)))
        }
        AdminCmd::Spend(args) => {
            let (tenant, q) = spend_query(args)?;
            let report = client.spend(&tenant, &q).await?;
            show(as_json, &report, render::spend)
        }
        AdminCmd::Logs(LogsArgs {
            tenant,
            limit,
            key,
            request_id,
        }) => {
            let q = LogsQuery {
                limit,
                key_id: key,
                request_id,
            };
            let data = client.logs(&tenant, &q).await?;
            show(as_json, &List { data }, |l| render::logs(&l.data))
        }
    })
}

fn spend_query(a: SpendArgs) -> Result<(String, SpendQuery), CliError> {
    let from = match (&a.from, &a.since) {
        (Some(f), _) => Some(window::parse_time("--from", f)?),
        (None, Some(s)) => Some(window::parse_since(s, chrono::Utc::now())?),
        (None, None) => None,
    };
    let to =
        a.to.as_deref()
            .map(|t| window::parse_time("--to", t))
            .transpose()?;
    let q = SpendQuery {
        from,
        to,
        group_by: a.group_by,
        team_id: a.team,
        key_id: a.key,
        user_id: a.user,
        model: a.model,
    };
    Ok((a.tenant, q))
}
