//! Human-readable renderings of the admin API's answers (the default output; `--json` skips this).

use chrono::{DateTime, Utc};

use crate::api::{
    Budget, CreatedKey, Key, LogRecord, RotatedKey, SpendReport, SpendRow, Team, Tenant,
};
use crate::table::Table;

fn time(t: &Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// Protobuf leaves unset strings empty: show those as `-` too.
fn text(v: &Option<String>) -> String {
    match v.as_deref() {
        None | Some("") => "-".to_owned(),
        Some(s) => s.to_owned(),
    }
}

fn num(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// 0 and absent both mean the server's default.
fn limit(v: Option<u32>) -> String {
    match v {
        None | Some(0) => "default".to_owned(),
        Some(n) => n.to_string(),
    }
}

pub fn tenants(list: &[Tenant]) -> String {
    let mut t = Table::new(&[
        ("ID", false),
        ("NAME", false),
        ("LOG_CONTENT", false),
        ("CREATED", false),
    ]);
    for x in list {
        t.row(vec![
            x.id.clone(),
            x.name.clone(),
            x.log_content.to_string(),
            time(&x.created_at),
        ]);
    }
    if t.is_empty() {
        return "No tenants.\n".into();
    }
    t.render()
}

pub fn tenant_created(x: &Tenant) -> String {
    format!(
        "Created tenant {} ({}), log_content={}\n",
        x.id, x.name, x.log_content
    )
}

pub fn team_created(x: &Team) -> String {
    format!(
        "Created team {} ({}) in tenant {}\n",
        x.id, x.name, x.tenant_id
    )
}

pub fn keys(list: &[Key]) -> String {
    let mut t = Table::new(&[
        ("ID", false),
        ("NAME", false),
        ("TEAM", false),
        ("STATUS", false),
        ("RPM", true),
        ("CONCURRENCY", true),
        ("MODELS", false),
        ("EXPIRES", false),
        ("CREATED", false),
    ]);
    for k in list {
        t.row(vec![
            k.id.clone(),
            k.name.clone(),
            text(&k.team_id),
            status(k).into(),
            limit(k.rpm_limit),
            limit(k.concurrency_limit),
            models(k),
            time(&k.expires_at),
            time(&k.created_at),
        ]);
    }
    if t.is_empty() {
        return "No keys.\n".into();
    }
    t.render()
}

fn status(k: &Key) -> &'static str {
    if k.revoked {
        "revoked"
    } else if k.expired {
        "expired"
    } else {
        "active"
    }
}

fn models(k: &Key) -> String {
    if k.allowed_models.is_empty() {
        "all".to_owned()
    } else {
        k.allowed_models.join(",")
    }
}

/// One key, field by field (`keys get`).
pub fn key_detail(k: &Key) -> String {
    let mut out = format!(
        "id:             {}\nname:           {}\ntenant:         {}\nteam:           {}\n\
         status:         {}\nrpm:            {}\nconcurrency:    {}\nmodels:         {}\n\
         expires:        {}\ncreated:        {}\nrotated from:   {}\n",
        k.id,
        k.name,
        k.tenant_id,
        text(&k.team_id),
        status(k),
        limit(k.rpm_limit),
        limit(k.concurrency_limit),
        models(k),
        time(&k.expires_at),
        time(&k.created_at),
        text(&k.rotated_from),
    );
    if k.metadata.is_empty() {
        out.push_str("metadata:       -\n");
    } else {
        out.push_str("metadata:\n");
        for (name, value) in &k.metadata {
            out.push_str(&format!("  {name} = {value}\n"));
        }
    }
    out
}

/// The rotation's new secret, printed once, and when the old key stops.
pub fn key_rotated(r: &RotatedKey) -> String {
    format!(
        "Rotated key {old} into {id} ({name})\n\n    {secret}\n\n{note}\n\
         The old key {old} works until {until}.\n",
        old = r.old_key.id,
        id = r.key.id,
        name = r.key.name,
        secret = r.secret,
        note = SECRET_NOTE,
        until = time(&r.old_key.expires_at),
    )
}

/// The one place the secret is printed, with the warning that it is the only time.
pub fn key_created(c: &CreatedKey) -> String {
    format!(
        "Created key {id} ({name}) in tenant {tenant}\n\n    {secret}\n\n{note}\n",
        id = c.key.id,
        name = c.key.name,
        tenant = c.key.tenant_id,
        secret = c.secret,
        note = SECRET_NOTE,
    )
}

pub const SECRET_NOTE: &str =
    "Store this key now: it cannot be shown again (only its hash is kept).";

pub fn key_revoked(k: &Key) -> String {
    format!("Key {} ({}) is {}\n", k.id, k.name, status(k))
}

pub fn spend(r: &SpendReport) -> String {
    let mut t = Table::new(&[
        ("GROUP", false),
        ("REQUESTS", true),
        ("INPUT_TOKENS", true),
        ("OUTPUT_TOKENS", true),
        ("CACHED_INPUT", true),
        ("COST_USD", true),
    ]);
    let cells = |label: String, row: &SpendRow| {
        vec![
            label,
            row.requests.to_string(),
            row.input_tokens.to_string(),
            row.output_tokens.to_string(),
            row.cached_input_tokens.to_string(),
            row.cost_usd.normalize().to_string(),
        ]
    };
    for row in &r.rows {
        t.row(cells(text(&row.group), row));
    }
    if let Some(total) = &r.total {
        t.row(cells("TOTAL".into(), total));
    }
    t.render()
}

pub fn logs(list: &[LogRecord]) -> String {
    let mut t = Table::new(&[
        ("STARTED", false),
        ("REQUEST_ID", false),
        ("KEY", false),
        ("MODEL", false),
        ("DEPLOYMENT", false),
        ("STATUS", true),
        ("ERROR", false),
        ("LATENCY_MS", true),
        ("TTFB_MS", true),
        ("IN", true),
        ("OUT", true),
        ("COST_USD", true),
        ("STREAM", false),
    ]);
    for l in list {
        t.row(vec![
            time(&l.started_at),
            l.request_id.clone(),
            text(&l.key_id),
            l.model.clone(),
            text(&l.deployment),
            l.http_status.to_string(),
            text(&l.error_code),
            num(l.latency_ms),
            num(l.ttfb_ms),
            l.input_tokens.to_string(),
            l.output_tokens.to_string(),
            l.cost_usd.normalize().to_string(),
            if l.stream { "yes" } else { "no" }.into(),
        ]);
    }
    if t.is_empty() {
        return "No request logs.\n".into();
    }
    t.render()
}

pub fn budgets(list: &[Budget]) -> String {
    let mut t = Table::new(&[
        ("ID", false),
        ("SCOPE", false),
        ("SCOPE_ID", false),
        ("PERIOD", false),
        ("TIMEZONE", false),
        ("LIMIT_USD", true),
    ]);
    for b in list {
        t.row(vec![
            b.id.clone(),
            b.scope.clone(),
            b.scope_id.clone(),
            b.period.clone(),
            b.timezone.clone(),
            b.limit_usd.clone(),
        ]);
    }
    if t.is_empty() {
        return "No budgets.\n".into();
    }
    t.render()
}
