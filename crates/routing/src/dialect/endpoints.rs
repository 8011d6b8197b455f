//! Requests to the other endpoints (images, speech, transcriptions, moderations, rerank): only
//! OpenAI-compatible deployments serve them, and the client's body goes through with only
//! `model` swapped for the deployment's (a JSON splice, or the multipart form's `model` field:
//! see `tollgate_formats::endpoints::with_form_model`). The answer comes back through
//! `relay::endpoint`.

use bytes::Bytes;
use tollgate_config::Endpoint;
use tollgate_formats::endpoints::{self, EndpointPeek};
use tollgate_formats::{FormatError, openai};

use super::Prepared;
use crate::mode::Mode;
use crate::route_table::Deployment;

/// What the request says of itself: its model and the units it will be billed by.
pub(crate) fn peek(
    endpoint: Endpoint,
    body: &[u8],
    content_type: &str,
) -> Result<EndpointPeek, FormatError> {
    match endpoint {
        Endpoint::Images => endpoints::peek_images(body),
        Endpoint::Speech => endpoints::peek_speech(body),
        Endpoint::Moderations => endpoints::peek_moderations(body),
        Endpoint::Rerank => endpoints::peek_rerank(body),
        Endpoint::Transcriptions => {
            endpoints::peek_transcription(&Bytes::copy_from_slice(body), content_type)
        }
    }
}

/// The body for `dep` and how its answer is relayed. A deployment that does not serve the
/// endpoint never gets here (routing picks among those that do), but is refused all the same.
pub(crate) fn request(
    endpoint: Endpoint,
    dep: &Deployment,
    body: &[u8],
    content_type: &str,
) -> Result<Prepared, FormatError> {
    if !dep.serves(endpoint) {
        return Err(FormatError::InvalidValue {
            param: "model",
            reason: "this model's provider does not serve this endpoint",
        });
    }
    let upstream = dep.upstream_model.as_str();
    let (units, body) = match endpoint {
        Endpoint::Transcriptions => {
            // One copy of the upload (up to 25 MB) serves the peek and the rewrite: the form
            // parser reads `Bytes`.
            let form = Bytes::copy_from_slice(body);
            let units = endpoints::peek_transcription(&form, content_type)?.units;
            (
                units,
                endpoints::with_form_model(&form, content_type, upstream)?,
            )
        }
        _ => (
            peek(endpoint, body, content_type)?.units,
            openai::rewrite_chat_request(body, upstream, false)?,
        ),
    };
    Ok(super::prepared(body, Mode::Endpoint { endpoint, units }))
}

#[cfg(test)]
mod tests {
    use tollgate_config::Config;
    use tollgate_domain::{Unit, Units};

    use super::*;
    use crate::route_table::RouteTable;

    fn table() -> RouteTable {
        let cfg = Config::from_toml(
            r#"
[[providers]]
name = "oa"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[[providers]]
name = "an"
kind = "anthropic"
base_url = "http://127.0.0.1:1/v1"
api_key = "sk-ant-test"

[[models]]
name = "m"
deployments = [{ provider = "oa", model = "up-1" }, { provider = "an", model = "an-1" }]
price = { input = "1", output = "2", per_image = "0.04" }
"#,
        )
        .unwrap();
        RouteTable::from_config(&cfg).unwrap()
    }

    #[test]
    fn openai_deployments_get_the_body_with_their_model_and_others_refuse() {
        let t = table();
        let m = t.get("m").unwrap();
        let (oa, an) = (&m.deployments[0], &m.deployments[1]);
        assert_eq!(
            oa.urls.other[&Endpoint::Images],
            "http://127.0.0.1:1/v1/images/generations"
        );
        assert!(oa.serves(Endpoint::Rerank) && !an.serves(Endpoint::Images));

        let body = br#"{"model":"m","prompt":"a fox","n":2,"size":"1024x1024"}"#;
        let p = request(Endpoint::Images, oa, body, "").unwrap();
        assert_eq!(
            std::str::from_utf8(&p.body).unwrap(),
            r#"{"model":"up-1","prompt":"a fox","n":2,"size":"1024x1024"}"#
        );
        assert_eq!(
            p.mode,
            Mode::Endpoint {
                endpoint: Endpoint::Images,
                units: Units::new(Unit::Image, 2)
            }
        );
        assert!(request(Endpoint::Images, an, body, "").is_err());

        let form = b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF\r\n--b--\r\n";
        let ct = "multipart/form-data; boundary=b";
        let p = request(Endpoint::Transcriptions, oa, form, ct).unwrap();
        let sent = std::str::from_utf8(&p.body).unwrap();
        assert!(sent.contains("name=\"model\"\r\n\r\nup-1\r\n"), "{sent}");
        assert!(sent.contains("RIFF"), "{sent}");
        assert!(request(Endpoint::Transcriptions, oa, form, "application/json").is_err());
    }
}
