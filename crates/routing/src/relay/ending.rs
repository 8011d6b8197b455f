//! How a relayed stream ends: cleanly, with the provider's own error event, cut before the
//! first byte (the call may still go to another deployment), or cut after it, when the client
//! gets an explicit error event in its format rather than a silently truncated answer.

use bytes::Bytes;
use tollgate_formats::stream_error::{Dialect, ErrorClass, stream_error_event};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc};

use super::Cut;
use crate::call::{Call, Gone};
use crate::mode::Mode;

/// A stream's end, once the client was told.
pub(super) enum Closed {
    /// The outcome to report (the error event, if any, was sent).
    Ended(rpc::Outcome),
    /// Cut before anything reached the client: another deployment may still take it.
    NotStarted(Cut),
}

/// How the stream ended (`end`: the cut, if any; `started`: a byte reached the client), with
/// the error event sent when a started stream was cut: the one `own_event` renders from the
/// message when the stream's format has its own end for that (a Responses stream's
/// `response.failed`), else the client format's error event.
pub(super) async fn close(
    cx: &Call<'_>,
    end: Option<Cut>,
    provider_error: bool,
    started: bool,
    own_event: impl FnOnce(&str) -> Option<Bytes>,
) -> Result<Closed, Gone> {
    Ok(match ending(end, provider_error, started)? {
        Ending::Done(outcome) => Closed::Ended(outcome),
        Ending::NotStarted(cut) => Closed::NotStarted(cut),
        Ending::Cut { message, code } => {
            let event = own_event(message).unwrap_or_else(|| cut_event(cx.mode, message, code));
            cx.out.send(Kind::Data(event)).await?;
            Closed::Ended(rpc::Outcome::Failed)
        }
    })
}

/// How a relayed stream ended.
enum Ending {
    Done(rpc::Outcome),
    /// Cut before anything reached the client.
    NotStarted(Cut),
    /// Cut after the first byte: the client gets an error event in its format, never silence.
    Cut {
        message: &'static str,
        code: &'static str,
    },
}

/// Classify the end of a stream.
fn ending(end: Option<Cut>, provider_error: bool, started: bool) -> Result<Ending, Gone> {
    Ok(match (end, provider_error) {
        (Some(Cut::Cancelled), _) => return Err(Gone),
        (None, false) => Ending::Done(rpc::Outcome::Completed),
        (None, true) => {
            tracing::warn!("the provider sent an error event mid-stream");
            Ending::Done(rpc::Outcome::Failed)
        }
        (Some(cut), _) if !started => Ending::NotStarted(cut),
        (Some(cut), _) => {
            let (message, code) = match cut {
                Cut::Timeout => (
                    "The upstream provider did not finish in time.",
                    "upstream_timeout",
                ),
                Cut::Idle | Cut::FirstByte => (
                    "The upstream provider stopped sending (stream idle timeout).",
                    "upstream_timeout",
                ),
                _ => (
                    "The upstream provider ended the stream unexpectedly.",
                    "upstream_error",
                ),
            };
            tracing::warn!(code, "upstream stream cut after the first byte");
            Ending::Cut { message, code }
        }
    })
}

/// The error event that ends a cut stream, in the client's format: the one place routing
/// renders it, through the renderer the edge uses too, so clients see one shape.
fn cut_event(mode: &Mode, message: &str, code: &str) -> Bytes {
    let dialect = if mode.anthropic_client() {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    };
    stream_error_event(dialect, ErrorClass::Server, message, code)
}
