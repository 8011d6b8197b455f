//! A typed client for the edge's admin API.
//!
//! The admin token lives in a `SecretString` and goes only into the `Authorization: Bearer`
//! header (marked sensitive so reqwest never shows it); errors name the method, the path and the
//! server's message, never the token.

use std::error::Error as _;

use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    Budget, CreateBudget, CreateKey, CreateTeam, CreateTenant, CreatedKey, ErrorBody, Key, List,
    LogRecord, LogsQuery, RotateKey, RotatedKey, SpendQuery, SpendReport, Team, Tenant,
};
use crate::error::CliError;

/// How much of an unparseable error body is worth showing.
const MAX_RAW_ERROR: usize = 300;

pub struct AdminClient {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// `base` is the edge's URL (`http://127.0.0.1:8080`); `/admin/v1/...` is appended to it.
    pub fn new(base: &str, token: SecretString) -> Result<AdminClient, CliError> {
        let bad = |reason: String| CliError::BadUrl {
            url: base.to_owned(),
            reason,
        };
        let mut url = Url::parse(base).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must be an http:// or https:// URL".into()));
        }
        if url.cannot_be_a_base() {
            return Err(bad("cannot be a base URL".into()));
        }
        // Credentials in the URL would be echoed in errors; the token is the only credential.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain credentials; use --admin-token".into()));
        }
        url.set_query(None);
        url.set_fragment(None);
        let http = reqwest::Client::builder()
            .user_agent(concat!("tollgatectl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(AdminClient {
            http,
            base: url,
            token,
        })
    }

    pub async fn create_tenant(&self, req: &CreateTenant) -> Result<Tenant, CliError> {
        self.send(Method::POST, &["tenants"], &[], Some(req)).await
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, CliError> {
        let list: List<Tenant> = self.send(Method::GET, &["tenants"], &[], NO_BODY).await?;
        Ok(list.data)
    }

    pub async fn create_team(&self, tenant_id: &str, req: &CreateTeam) -> Result<Team, CliError> {
        self.send(
            Method::POST,
            &["tenants", tenant_id, "teams"],
            &[],
            Some(req),
        )
        .await
    }

    pub async fn create_key(
        &self,
        tenant_id: &str,
        req: &CreateKey,
    ) -> Result<CreatedKey, CliError> {
        self.send(
            Method::POST,
            &["tenants", tenant_id, "keys"],
            &[],
            Some(req),
        )
        .await
    }

    pub async fn list_keys(&self, tenant_id: &str) -> Result<Vec<Key>, CliError> {
        let list: List<Key> = self
            .send(Method::GET, &["tenants", tenant_id, "keys"], &[], NO_BODY)
            .await?;
        Ok(list.data)
    }

    pub async fn get_key(&self, tenant_id: &str, key_id: &str) -> Result<Key, CliError> {
        self.send(
            Method::GET,
            &["tenants", tenant_id, "keys", key_id],
            &[],
            NO_BODY,
        )
        .await
    }

    pub async fn rotate_key(
        &self,
        tenant_id: &str,
        key_id: &str,
        req: &RotateKey,
    ) -> Result<RotatedKey, CliError> {
        self.send(
            Method::POST,
            &["tenants", tenant_id, "keys", key_id, "rotate"],
            &[],
            Some(req),
        )
        .await
    }

    pub async fn revoke_key(&self, tenant_id: &str, key_id: &str) -> Result<Key, CliError> {
        self.send(
            Method::DELETE,
            &["tenants", tenant_id, "keys", key_id],
            &[],
            NO_BODY,
        )
        .await
    }

    pub async fn create_budget(
        &self,
        tenant_id: &str,
        req: &CreateBudget,
    ) -> Result<Budget, CliError> {
        self.send(
            Method::POST,
            &["tenants", tenant_id, "budgets"],
            &[],
            Some(req),
        )
        .await
    }

    pub async fn list_budgets(&self, tenant_id: &str) -> Result<Vec<Budget>, CliError> {
        let list: List<Budget> = self
            .send(
                Method::GET,
                &["tenants", tenant_id, "budgets"],
                &[],
                NO_BODY,
            )
            .await?;
        Ok(list.data)
    }

    pub async fn delete_budget(&self, tenant_id: &str, id: &str) -> Result<Budget, CliError> {
        self.send(
            Method::DELETE,
            &["tenants", tenant_id, "budgets", id],
            &[],
            NO_BODY,
        )
        .await
    }

    pub async fn spend(&self, tenant_id: &str, q: &SpendQuery) -> Result<SpendReport, CliError> {
        let time = |t: &chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        };
        let query = [
            ("from", q.from.as_ref().map(time)),
            ("to", q.to.as_ref().map(time)),
            ("group_by", q.group_by.map(|g| g.as_str().to_owned())),
            ("team_id", q.team_id.clone()),
            ("key_id", q.key_id.clone()),
            ("user_id", q.user_id.clone()),
            ("model", q.model.clone()),
        ];
        self.send(
            Method::GET,
            &["tenants", tenant_id, "spend"],
            &query,
            NO_BODY,
        )
        .await
    }

    pub async fn logs(&self, tenant_id: &str, q: &LogsQuery) -> Result<Vec<LogRecord>, CliError> {
        let query = [
            ("limit", q.limit.map(|n| n.to_string())),
            ("key_id", q.key_id.clone()),
            ("request_id", q.request_id.clone()),
        ];
        let list: List<LogRecord> = self
            .send(
                Method::GET,
                &["tenants", tenant_id, "logs"],
                &query,
                NO_BODY,
            )
            .await?;
        Ok(list.data)
    }

    /// Any admin call: for command modules with types of their own (users, limits).
    pub(crate) async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T, CliError> {
        self.send(method, segments, &[], body).await
    }

    /// `segments` are percent-encoded one by one, so an id can never change the path's shape.
    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, Option<String>)],
        body: Option<&B>,
    ) -> Result<T, CliError> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| CliError::BadUrl {
                url: self.base.to_string(),
                reason: "cannot be a base URL".into(),
            })?;
            path.pop_if_empty().extend(["admin", "v1"]).extend(segments);
        }
        let present: Vec<_> = query
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        if !present.is_empty() {
            url.query_pairs_mut().extend_pairs(present);
        }
        let path = url.path().to_owned();
        let method_name = method_name(&method);

        let mut bearer = reqwest::header::HeaderValue::try_from(format!(
            "Bearer {}",
            self.token.expose_secret()
        ))
        .map_err(|_| CliError::BadArgument {
            flag: "--admin-token",
            value: "***".into(),
            reason: "contains characters not allowed in an HTTP header".into(),
        })?;
        bearer.set_sensitive(true);
        let mut req = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, bearer);
        if let Some(b) = body {
            req = req.json(b);
        }

        let resp = req.send().await.map_err(|e| CliError::Unreachable {
            url: self.base.as_str().trim_end_matches('/').to_owned(),
            reason: chain(&e.without_url()),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| CliError::Unreachable {
            url: self.base.as_str().trim_end_matches('/').to_owned(),
            reason: chain(&e.without_url()),
        })?;
        if !status.is_success() {
            return Err(self.api_error(method_name, path, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| CliError::BadResponse {
            method: method_name,
            path,
            reason: e.to_string(),
        })
    }

    fn api_error(
        &self,
        method: &'static str,
        path: String,
        status: reqwest::StatusCode,
        body: &[u8],
    ) -> CliError {
        let (message, code) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => (b.error.message, b.error.code.or(b.error.kind)),
            Err(_) => {
                let raw = String::from_utf8_lossy(body);
                let raw = raw.trim();
                let message = if raw.is_empty() {
                    status.canonical_reason().unwrap_or("error").to_owned()
                } else {
                    raw.chars().take(MAX_RAW_ERROR).collect()
                };
                (message, None)
            }
        };
        CliError::Api {
            method,
            path,
            status: status.as_u16(),
            code: code.map(|c| self.scrub(&c)),
            message: self.scrub(&message),
        }
    }

    /// A server that echoes the token back must not make us print it.
    fn scrub(&self, s: &str) -> String {
        let token = self.token.expose_secret();
        if token.is_empty() {
            s.to_owned()
        } else {
            s.replace(token, "***")
        }
    }
}

const NO_BODY: Option<&()> = None;

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        _ => "HTTP",
    }
}

/// reqwest's top-level message is vague ("error sending request"); the cause is in the chain.
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
