//! The request template and the HTTP/1.1 keep-alive client each connection task owns.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::cli::TargetArgs;
use crate::error::BenchError;

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One client per connection task: its pool holds the task's single keep-alive connection, so
/// tasks never contend on a shared pool.
pub(crate) fn new_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build(connector)
}

/// What every request of a run looks like.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
}

impl Target {
    pub(crate) fn from_args(args: &TargetArgs) -> Result<Self, BenchError> {
        let uri = loopback_uri(&args.url)?;
        let body = match (&args.body, &args.body_file) {
            (Some(b), _) => Bytes::from(b.clone()),
            (None, Some(path)) => {
                std::fs::read(path)
                    .map(Bytes::from)
                    .map_err(|source| BenchError::BodyFile {
                        path: path.clone(),
                        source,
                    })?
            }
            (None, None) => Bytes::new(),
        };
        let method = match &args.method {
            Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| BenchError::InvalidOption("unknown HTTP method"))?,
            None if body.is_empty() => Method::GET,
            None => Method::POST,
        };
        let mut headers = HeaderMap::new();
        for line in &args.headers {
            let (name, value) = parse_header(line)?;
            headers.append(name, value);
        }
        if !body.is_empty() && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(Self {
            uri,
            method,
            headers,
            body,
        })
    }

    pub(crate) fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

pub(crate) fn parse_header(line: &str) -> Result<(HeaderName, HeaderValue), BenchError> {
    let bad = || BenchError::InvalidHeader(line.to_owned());
    let (name, value) = line.split_once(':').ok_or_else(bad)?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

/// Parses `url` and refuses anything but plain HTTP to a loopback address: this tool is for
/// measuring what runs on this machine, never for loading anyone else's.
pub(crate) fn loopback_uri(url: &str) -> Result<Uri, BenchError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| BenchError::InvalidUrl(url.to_owned(), "not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(BenchError::InvalidUrl(
            url.to_owned(),
            "only http:// is supported",
        ));
    }
    let host = uri
        .host()
        .ok_or(BenchError::InvalidUrl(url.to_owned(), "no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(BenchError::NotLoopback(host.to_owned()));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_targets_are_accepted() {
        assert!(loopback_uri("http://127.0.0.1:9000/v1/chat/completions").is_ok());
        assert!(loopback_uri("http://127.3.2.1/").is_ok());
        assert!(loopback_uri("http://localhost:8080/").is_ok());
        assert!(loopback_uri("http://[::1]:8080/").is_ok());
        assert!(matches!(
            loopback_uri("http://10.0.0.1/"),
            Err(BenchError::NotLoopback(_))
        ));
        assert!(matches!(
            loopback_uri("http://example.com/"),
            Err(BenchError::NotLoopback(_))
        ));
        assert!(loopback_uri("https://127.0.0.1/").is_err());
        assert!(loopback_uri("not a url").is_err());
    }

    #[test]
    fn headers_parse_and_a_body_defaults_to_post_json() {
        let (n, v) = parse_header("Authorization:  Bearer tg-x ").unwrap();
        assert_eq!(
            (n.as_str(), v.to_str().unwrap()),
            ("authorization", "Bearer tg-x")
        );
        assert!(parse_header("no colon").is_err());

        let args = TargetArgs {
            url: "http://127.0.0.1:1/x".into(),
            headers: vec!["x-a: 1".into()],
            body: Some("{}".into()),
            body_file: None,
            method: None,
            timeout: std::time::Duration::from_secs(1),
        };
        let req = Target::from_args(&args).unwrap().request();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.headers()["content-type"], "application/json");
        assert_eq!(req.headers()["x-a"], "1");
        let get = Target::from_args(&TargetArgs { body: None, ..args })
            .unwrap()
            .request();
        assert_eq!(get.method(), Method::GET);
        assert!(get.headers().get("content-type").is_none());
    }
}
