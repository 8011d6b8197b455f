//! Streaming Converse answers: an `application/vnd.amazon.eventstream` body of binary frames
//! (`:message-type: event`, `:event-type: <name>`, `:content-type: application/json`), each
//! payload the event's own object, in Bedrock's order: `messageStart`, per block the deltas
//! (tool blocks open with `contentBlockStart`) and `contentBlockStop`, `messageStop`, then
//! `metadata` with the usage. Like Bedrock, every payload carries a `p` padding field.
//!
//! "Content" events (reasoning, text and tool input deltas) are the ones `chunk_delay` spaces
//! out and `disconnect_after` counts.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tollgate_formats::bedrock::{EVENT_STREAM_CONTENT_TYPE, encode_frame};

use crate::bedrock::BedrockError;
use crate::bedrock_answer::{Answer, word};
use crate::error::MockError;
use crate::messages_answer::{SIGNATURE, THINKING, TOOL_USE_TOKENS};
use crate::state::Shared;

pub(crate) struct StreamSpec {
    pub(crate) chunk_delay: Duration,
    pub(crate) disconnect_after: Option<usize>,
    /// Send this exception frame after the first content event and end the stream.
    pub(crate) exception: Option<String>,
}

struct Piece {
    bytes: Vec<u8>,
    content: bool,
    tokens: u64,
}

/// Bedrock pads payloads to hide their lengths; the padding is a run of letters.
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

fn event(name: &str, mut payload: Value, content: bool, tokens: u64) -> Piece {
    if let Value::Object(o) = &mut payload {
        let pad = PADDING.len() - (name.len() % 8);
        o.insert("p".to_owned(), json!(&PADDING[..pad]));
    }
    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
    Piece {
        bytes: encode_frame("event", name, &bytes),
        content,
        tokens,
    }
}

fn render(a: &Answer) -> Vec<Piece> {
    let mut out = vec![event(
        "messageStart",
        json!({"role": "assistant"}),
        false,
        0,
    )];
    let mut index = 0u32;
    let delta = |index: u32, d: Value, tokens: u64| {
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": index, "delta": d}),
            true,
            tokens,
        )
    };
    let stop = |index: u32| {
        event(
            "contentBlockStop",
            json!({"contentBlockIndex": index}),
            false,
            0,
        )
    };
    if a.thinking {
        for w in THINKING {
            out.push(delta(index, json!({"reasoningContent": {"text": w}}), 1));
        }
        out.push(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": SIGNATURE}}}),
            false,
            0,
        ));
        out.push(stop(index));
        index += 1;
    }
    if a.words > 0 || a.tool_uses.is_empty() {
        for i in 0..a.words {
            out.push(delta(index, json!({"text": word(i)}), 1));
        }
        out.push(stop(index));
        index += 1;
    }
    for (id, name, input) in &a.tool_uses {
        out.push(event(
            "contentBlockStart",
            json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
            false,
            0,
        ));
        // The input in two halves, so clients must join partial JSON.
        let text = input.to_string();
        let mid = (0..=text.len() / 2)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        out.push(delta(
            index,
            json!({"toolUse": {"input": &text[..mid]}}),
            TOOL_USE_TOKENS,
        ));
        out.push(delta(index, json!({"toolUse": {"input": &text[mid..]}}), 0));
        out.push(stop(index));
        index += 1;
    }
    out.push(event(
        "messageStop",
        json!({"stopReason": a.stop_reason}),
        false,
        0,
    ));
    out.push(event(
        "metadata",
        json!({"usage": a.usage, "metrics": {"latencyMs": 1}}),
        false,
        0,
    ));
    out
}

/// Starts a streaming answer.
pub(crate) fn respond(shared: Arc<Shared>, answer: &Answer, spec: StreamSpec) -> Response {
    let mut pieces = render(answer);
    let content_at: Vec<usize> = (0..pieces.len()).filter(|i| pieces[*i].content).collect();
    if let Some(name) = &spec.exception {
        let cut = content_at.first().map_or(1, |i| i + 1);
        pieces.truncate(cut);
        let kind = BedrockError::stream_name(name);
        let payload = json!({"message": "The model stream failed (injected by the mock)."});
        pieces.push(Piece {
            bytes: encode_frame("exception", &kind, payload.to_string().as_bytes()),
            content: false,
            tokens: 0,
        });
    }
    // Where the disconnect fault cuts: right after the n-th content event (n = 0: after
    // messageStart).
    let aborts = match spec.disconnect_after {
        Some(n) if spec.exception.is_none() && n <= content_at.len() => {
            let cut = n.checked_sub(1).map_or(1, |k| content_at[k] + 1);
            pieces.truncate(cut);
            true
        }
        _ => false,
    };
    let delay = spec.chunk_delay;
    let stream = futures::stream::unfold(
        (pieces.into_iter(), shared, false),
        move |(mut pieces, shared, ended)| async move {
            if ended {
                return None;
            }
            if delay.is_zero() {
                // Nothing to wait for: everything in one write.
                let mut buf = Vec::new();
                for p in pieces.by_ref() {
                    shared.count_completion(p.tokens);
                    buf.extend_from_slice(&p.bytes);
                }
                if buf.is_empty() {
                    return finish(aborts).await.map(|r| (r, (pieces, shared, true)));
                }
                return Some((Ok(Bytes::from(buf)), (pieces, shared, false)));
            }
            match pieces.next() {
                Some(p) => {
                    if p.content {
                        tokio::time::sleep(delay).await;
                    }
                    shared.count_completion(p.tokens);
                    Some((Ok(Bytes::from(p.bytes)), (pieces, shared, false)))
                }
                None => finish(aborts).await.map(|r| (r, (pieces, shared, true))),
            }
        },
    );
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
    );
    response
}

/// After the last frame: a cut stream fails the body (hyper resets the connection) once what
/// was written had a chance to flush.
async fn finish(aborts: bool) -> Option<Result<Bytes, MockError>> {
    if aborts {
        tokio::task::yield_now().await;
        Some(Err(MockError::InjectedDisconnect))
    } else {
        None
    }
}
