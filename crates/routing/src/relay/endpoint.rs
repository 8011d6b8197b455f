//! The other endpoints' answers (images, speech, transcriptions, moderations, rerank), relayed
//! as the provider sent them, with the provider's content type: speech's audio streamed through
//! as it arrives, the others read whole so their usage can be read. The Usage frame carries
//! what the request is billed by: the images returned, the characters spoken (counted from
//! the request, which is what OpenAI bills), the seconds or tokens of a transcription, the
//! search units of a rerank, the moderation request; the request's own count stands in, marked
//! as estimated, when an answer does not say.

use bytes::Bytes;
use tollgate_config::Endpoint;
use tollgate_domain::{Unit, Units, Usage};
use tollgate_formats::endpoints;
use tollgate_formats::openai;
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc};

use super::{Cut, Relayed, finish, first_byte, next_chunk, read_body, start};
use crate::call::{Call, Gone};

/// Relay `endpoint`'s answer; `units`: what the request says it is billed by.
pub(super) async fn relay(
    cx: &mut Call<'_>,
    resp: reqwest::Response,
    endpoint: Endpoint,
    units: Units,
) -> Result<Relayed, Gone> {
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(openai::JSON_CONTENT_TYPE)
        .to_owned();
    match endpoint {
        Endpoint::Speech => audio(cx, resp, &content_type, units).await,
        _ => whole(cx, resp, &content_type, endpoint, units).await,
    }
}

/// A whole answer: its usage read, a top-level `model` shown as the client's name, relayed.
async fn whole(
    cx: &mut Call<'_>,
    mut resp: reqwest::Response,
    content_type: &str,
    endpoint: Endpoint,
    units: Units,
) -> Result<Relayed, Gone> {
    let body = match read_body(cx, &mut resp).await? {
        Ok(body) => body,
        Err(cut) => return Ok(Relayed::NotStarted(cut)),
    };
    let usage = match answer_usage(endpoint, &body) {
        Some(u) => (u, true),
        None => (
            Usage {
                units: Some(units),
                ..Usage::default()
            },
            false,
        ),
    };
    // Moderations (and Jina's rerank) name the model; plain-text transcriptions are no JSON.
    let body = if content_type.starts_with(openai::JSON_CONTENT_TYPE) {
        openai::rewrite_chat_response_model(&body, cx.shown).unwrap_or(body)
    } else {
        body
    };
    cx.out.send(start(cx, content_type)).await?;
    cx.out.send(Kind::Data(body)).await?;
    finish(cx, usage, rpc::Outcome::Completed, None).await
}

/// What an answer says it bills, `None` when it does not say.
fn answer_usage(endpoint: Endpoint, body: &[u8]) -> Option<Usage> {
    match endpoint {
        Endpoint::Images => endpoints::images_usage(body),
        Endpoint::Transcriptions => endpoints::transcription_usage(body),
        Endpoint::Rerank => endpoints::rerank_usage(body),
        // One request, whatever the answer says.
        Endpoint::Moderations => Some(Usage {
            units: Some(Units::new(Unit::Request, 1)),
            ..Usage::default()
        }),
        Endpoint::Speech => None,
    }
}

/// Audio streamed through as it arrives. Billed by the request's characters, which is what the
/// provider bills too; a stream cut after its first bytes cannot carry an error event inside
/// audio, so routing's stream to the edge ends with an error instead, and the edge aborts the
/// client's body (never a silently truncated 200).
async fn audio(
    cx: &mut Call<'_>,
    mut resp: reqwest::Response,
    content_type: &str,
    units: Units,
) -> Result<Relayed, Gone> {
    let mut started = false;
    let end = loop {
        match next_chunk(cx, &mut resp, started).await {
            Ok(Some(chunk)) if chunk.is_empty() => {}
            Ok(Some(chunk)) => {
                first_byte(cx);
                if !started {
                    cx.out.send(start(cx, content_type)).await?;
                    started = true;
                }
                cx.out.send(Kind::Data(chunk)).await?;
            }
            Ok(None) => break None,
            Err(Cut::Cancelled) => return Err(Gone),
            Err(cut) => break Some(cut),
        }
    };
    let usage = Usage {
        units: Some(units),
        ..Usage::default()
    };
    match end {
        None => {
            if !started {
                // An empty answer still starts, so the client gets its status.
                cx.out.send(start(cx, content_type)).await?;
                cx.out.send(Kind::Data(Bytes::new())).await?;
            }
            finish(cx, (usage, true), rpc::Outcome::Completed, None).await
        }
        Some(cut) if !started => Ok(Relayed::NotStarted(cut)),
        Some(cut) => {
            tracing::warn!(?cut, "an audio stream was cut after its first bytes");
            cx.out
                .send(cx.usage(usage, true, rpc::Outcome::Failed))
                .await?;
            cx.out
                .abort(tonic::Status::unavailable(
                    "the provider's audio stream was cut",
                ))
                .await;
            Ok(Relayed::Finished {
                ok: false,
                tail: None,
            })
        }
    }
}
