//! Streaming Responses answers: `text/event-stream` with `event: <type>` / `data: {"type": …,
//! "sequence_number": n, …}` in OpenAI's documented order: `response.created`,
//! `response.in_progress`; per output item `response.output_item.added`, then for a message
//! `response.content_part.added`, one `response.output_text.delta` per token,
//! `response.output_text.done`, `response.content_part.done`, and for a function call two
//! `response.function_call_arguments.delta` and `.done`; `response.output_item.done`; last
//! `response.completed` (or `response.incomplete`) carrying the whole Response and its usage.
//! No `[DONE]`.
//!
//! Text and argument deltas are the "content" events `chunk_delay` spaces out and
//! `disconnect_after` counts (n = 0 cuts after `response.in_progress`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::MockError;
use crate::messages_answer::TOOL_USE_TOKENS;
use crate::paced::{self, Piece};
use crate::responses::{Answer, ResponsesRequest, message_item, output, output_text, response};
use crate::state::Shared;

pub(crate) struct StreamSpec {
    pub(crate) chunk_delay: Duration,
    pub(crate) disconnect_after: Option<usize>,
}

/// The events of one answer, numbered as they are added.
struct Events {
    pieces: Vec<Piece>,
    seq: u64,
}

impl Events {
    fn push(&mut self, mut data: Value, tokens: Option<u64>) -> Result<(), MockError> {
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(o) = data.as_object_mut() {
            o.insert("sequence_number".into(), json!(self.seq));
        }
        self.seq += 1;
        let mut bytes = Vec::with_capacity(96);
        bytes.extend_from_slice(b"event: ");
        bytes.extend_from_slice(kind.as_bytes());
        bytes.extend_from_slice(b"\ndata: ");
        serde_json::to_writer(&mut bytes, &data)?;
        bytes.extend_from_slice(b"\n\n");
        self.pieces.push(Piece {
            bytes,
            content: tokens.is_some(),
            tokens: tokens.unwrap_or(0),
        });
        Ok(())
    }
}

fn render(
    req: &ResponsesRequest,
    answer: &Answer,
    id: &str,
    created_at: u64,
) -> Result<Vec<Piece>, MockError> {
    let mut ev = Events {
        pieces: Vec::new(),
        seq: 0,
    };
    let shell = response(req, id, created_at, "in_progress", Vec::new(), None);
    ev.push(json!({"type": "response.created", "response": shell}), None)?;
    ev.push(
        json!({"type": "response.in_progress", "response": shell}),
        None,
    )?;
    let done = output(answer, id);
    if answer.calls.is_empty() {
        let item_id = format!("msg_mock_{id}");
        let mut added = message_item(id, "in_progress", "");
        added["content"] = json!([]);
        let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
        let with = |kind: &str, extra: Value| {
            let mut v = at.clone();
            v["type"] = json!(kind);
            if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            v
        };
        ev.push(
            json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
            None,
        )?;
        ev.push(
            with(
                "response.content_part.added",
                json!({"part": output_text("")}),
            ),
            None,
        )?;
        for piece in &answer.pieces {
            ev.push(
                with(
                    "response.output_text.delta",
                    json!({"delta": piece, "logprobs": []}),
                ),
                Some(1),
            )?;
        }
        let text = answer.text();
        ev.push(
            with(
                "response.output_text.done",
                json!({"text": text, "logprobs": []}),
            ),
            None,
        )?;
        ev.push(
            with(
                "response.content_part.done",
                json!({"part": output_text(&text)}),
            ),
            None,
        )?;
    } else {
        for (i, (item_id, call_id, name, args)) in answer.calls.iter().enumerate() {
            let added = json!({"id": item_id, "type": "function_call", "status": "in_progress",
                               "call_id": call_id, "name": name, "arguments": ""});
            ev.push(
                json!({"type": "response.output_item.added", "output_index": i, "item": added}),
                None,
            )?;
            let (first, second) = paced::halves(args);
            for (k, half) in [first, second].into_iter().enumerate() {
                ev.push(
                    json!({"type": "response.function_call_arguments.delta",
                           "item_id": item_id, "output_index": i, "delta": half}),
                    Some(if k == 0 { TOOL_USE_TOKENS } else { 0 }),
                )?;
            }
            ev.push(
                json!({"type": "response.function_call_arguments.done",
                       "item_id": item_id, "output_index": i, "arguments": args}),
                None,
            )?;
            ev.push(
                json!({"type": "response.output_item.done", "output_index": i, "item": done[i]}),
                None,
            )?;
        }
    }
    if answer.calls.is_empty() {
        ev.push(
            json!({"type": "response.output_item.done", "output_index": 0, "item": done[0]}),
            None,
        )?;
    }
    let last = crate::responses::body(req, answer, id, created_at);
    let kind = if answer.incomplete {
        "response.incomplete"
    } else {
        "response.completed"
    };
    ev.push(json!({"type": kind, "response": last}), None)?;
    Ok(ev.pieces)
}

/// Starts a streaming answer.
pub(crate) fn respond(
    shared: Arc<Shared>,
    req: &ResponsesRequest,
    answer: &Answer,
    id: &str,
    created_at: u64,
    spec: StreamSpec,
) -> Result<Response, MockError> {
    let mut pieces = render(req, answer, id, created_at)?;
    // n = 0 cuts right after response.in_progress.
    let aborts = paced::cut_for_disconnect(&mut pieces, spec.disconnect_after, 2);
    let mut response = paced::response(
        shared,
        pieces,
        spec.chunk_delay,
        aborts,
        "text/event-stream; charset=utf-8",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
