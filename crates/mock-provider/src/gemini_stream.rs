//! Streaming Gemini answers (`:streamGenerateContent`). With `alt=sse`: `text/event-stream` of
//! `data: <GenerateContentResponse>\r\n\r\n` events and no terminator (the body just ends), as
//! Google sends them: one chunk per thought word, per answer word, one for all function calls,
//! then a last chunk with an empty text part, `finishReason` and the final usage. Every chunk
//! carries the usage so far. Without `alt=sse` the same chunks come as one JSON array.
//!
//! `chunk_delay` spaces out the content chunks and `disconnect_after` cuts the connection after
//! that many of them (so no `finishReason` ever arrives).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::MockError;
use crate::gemini_answer::{Answer, response};
use crate::messages_answer::TOOL_USE_TOKENS;
use crate::paced::{self, Piece};
use crate::state::Shared;

pub(crate) struct StreamSpec {
    pub(crate) chunk_delay: Duration,
    pub(crate) disconnect_after: Option<usize>,
    pub(crate) sse: bool,
}

struct Chunk {
    json: Value,
    content: bool,
    tokens: u64,
}

fn chunks(answer: &Answer, model: &str, id: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let (mut candidates, mut thoughts) = (0u64, 0u64);
    let hidden_thoughts = if answer.req.show_thoughts {
        0
    } else {
        answer.thoughts_tokens()
    };
    thoughts += hidden_thoughts;
    for p in answer.thought_parts() {
        thoughts += 1;
        out.push(Chunk {
            json: response(vec![p], None, answer.usage(candidates, thoughts), model, id),
            content: true,
            tokens: 1,
        });
    }
    for p in answer.word_parts() {
        candidates += 1;
        out.push(Chunk {
            json: response(vec![p], None, answer.usage(candidates, thoughts), model, id),
            content: true,
            tokens: 1,
        });
    }
    let calls = answer.call_parts();
    if !calls.is_empty() {
        let tokens = calls.len() as u64 * TOOL_USE_TOKENS;
        candidates += tokens;
        out.push(Chunk {
            json: response(calls, None, answer.usage(candidates, thoughts), model, id),
            content: true,
            tokens,
        });
    }
    // Hidden thinking is charged with the first chunk that goes out.
    if let Some(first) = out.first_mut() {
        first.tokens += hidden_thoughts;
    }
    out.push(Chunk {
        json: response(
            vec![json!({"text": ""})],
            Some(answer.finish_reason),
            answer.usage(candidates, thoughts),
            model,
            id,
        ),
        content: false,
        tokens: if out.is_empty() { hidden_thoughts } else { 0 },
    });
    out
}

/// Starts a streaming answer.
pub(crate) fn respond(
    shared: Arc<Shared>,
    answer: &Answer,
    model: &str,
    id: &str,
    spec: StreamSpec,
) -> Result<Response, MockError> {
    let all = chunks(answer, model, id);
    if !spec.sse {
        // One JSON array, all at once: nothing to pace or cut.
        shared.count_completion(all.iter().map(|c| c.tokens).sum());
        let items: Vec<Value> = all.into_iter().map(|c| c.json).collect();
        return Ok(axum::Json(Value::Array(items)).into_response());
    }
    let mut pieces = Vec::with_capacity(all.len());
    for c in all {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut bytes, &c.json)?;
        bytes.extend_from_slice(b"\r\n\r\n");
        pieces.push(Piece {
            bytes,
            content: c.content,
            tokens: c.tokens,
        });
    }
    // Content chunks come first, so n = 0 sends nothing at all.
    let aborts = paced::cut_for_disconnect(&mut pieces, spec.disconnect_after, 0);
    let mut response = paced::response(
        shared,
        pieces,
        spec.chunk_delay,
        aborts,
        "text/event-stream",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
