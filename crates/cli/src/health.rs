//! `tollgatectl health TARGET`: the healthcheck of the container images, which carry no curl and
//! no grpc_health_probe. HTTP targets are healthy on a 2xx; `grpc://` targets when
//! `grpc.health.v1.Health/Check` answers SERVING.

use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::args::HealthArgs;
use crate::commands::Output;
use crate::error::CliError;

pub async fn probe(args: &HealthArgs) -> Result<Output, CliError> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    let unhealthy = |reason: String| CliError::Unhealthy {
        target: args.target.clone(),
        reason,
    };
    let status = if let Some(rest) = args.target.strip_prefix("grpc://") {
        grpc(rest, &args.service, timeout)
            .await
            .map_err(unhealthy)?
    } else if args.target.starts_with("http://") || args.target.starts_with("https://") {
        http(&args.target, timeout).await.map_err(unhealthy)?
    } else {
        return Err(CliError::BadArgument {
            flag: "TARGET",
            value: args.target.clone(),
            reason: "must start with http://, https:// or grpc://".into(),
        });
    };
    Ok(Output {
        stdout: format!("{}: {status}\n", args.target),
        stderr: String::new(),
    })
}

async fn http(url: &str, timeout: Duration) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(status.to_string())
    } else {
        Err(format!("HTTP {status}"))
    }
}

async fn grpc(authority: &str, service: &str, timeout: Duration) -> Result<String, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(timeout)
        .timeout(timeout);
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|s| format!("{}: {}", s.code(), s.message()))?
        .into_inner();
    match answer.status() {
        ServingStatus::Serving => Ok("SERVING".into()),
        other => Err(other.as_str_name().to_owned()),
    }
}
