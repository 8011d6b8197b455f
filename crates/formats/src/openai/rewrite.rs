//! Rewriting bodies by splicing: only the bytes of the values we change are replaced, so every
//! other key and value reaches the provider (or the client) exactly as it was sent, in the same
//! order, with the same whitespace and number spellings.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::value::RawValue;

use crate::FormatError;
use crate::json;

const INCLUDE_USAGE: &[u8] = br#""include_usage":true"#;

/// The client's chat request made ready for a deployment: `model` set to `upstream_model`, and,
/// when the request streams and `force_include_usage` is set, `stream_options.include_usage` set
/// to true (other `stream_options` fields kept) so the provider reports usage at the end of the
/// stream. Duplicate `model`/`stream_options` keys are all rewritten, so the provider sees our
/// value whichever duplicate it reads.
pub fn rewrite_chat_request(
    body: &[u8],
    upstream_model: &str,
    force_include_usage: bool,
) -> Result<Bytes, FormatError> {
    let s = json::utf8(body)?;
    let model = json_string(upstream_model);
    let mut edits: Vec<(Range<usize>, &[u8])> = Vec::with_capacity(4);
    let mut stream = false;
    let mut options: Vec<&RawValue> = Vec::new();
    json::for_each_entry(s, |key, value| {
        match &*key {
            "model" => edits.push((located(s, value)?, model.as_slice())),
            "stream" => stream = value.get() == "true",
            "stream_options" => options.push(value),
            _ => {}
        }
        Ok(())
    })?;
    if edits.is_empty() {
        return Err(FormatError::MissingModel);
    }
    if stream && force_include_usage {
        if options.is_empty() {
            // Before the closing brace; the object is not empty since it has `model`.
            let end = s.trim_end().len().saturating_sub(1);
            edits.push((
                end..end,
                br#","stream_options":{"include_usage":true}"#.as_slice(),
            ));
        }
        for opts in options {
            include_usage_edits(s, opts, &mut edits)?;
        }
    }
    let extra = model.len() + 48;
    Ok(Bytes::from(json::splice(s, &mut edits, extra)))
}

fn include_usage_edits<'a>(
    s: &str,
    opts: &'a RawValue,
    edits: &mut Vec<(Range<usize>, &'a [u8])>,
) -> Result<(), FormatError> {
    let at = located(s, opts)?;
    match json::kind(opts) {
        "null" => edits.push((at, br#"{"include_usage":true}"#.as_slice())),
        "an object" => {
            let mut found = false;
            json::for_each_entry(opts.get(), |key, value| {
                if &*key == "include_usage" {
                    edits.push((located(s, value)?, b"true".as_slice()));
                    found = true;
                }
                Ok(())
            })?;
            if !found {
                let empty = opts.get()[1..].trim_start().starts_with('}');
                let insert = at.start + 1;
                let with: &[u8] = if empty {
                    INCLUDE_USAGE
                } else {
                    br#""include_usage":true,"#
                };
                edits.push((insert..insert, with));
            }
        }
        got => {
            return Err(FormatError::invalid_type(
                "stream_options",
                "an object",
                got,
            ));
        }
    }
    Ok(())
}

/// A response body or stream chunk with its top-level `model` string replaced by `public_model`
/// (what the client asked for, not the deployment's name). Bodies without one are returned as is.
pub fn rewrite_chat_response_model(body: &[u8], public_model: &str) -> Result<Bytes, FormatError> {
    let s = json::utf8(body)?;
    let mut ranges = Vec::with_capacity(1);
    json::for_each_entry(s, |key, value| {
        if &*key == "model" && json::kind(value) == "a string" {
            ranges.push(located(s, value)?);
        }
        Ok(())
    })?;
    let model = json_string(public_model);
    let mut edits: Vec<_> = ranges.into_iter().map(|r| (r, model.as_slice())).collect();
    Ok(Bytes::from(json::splice(s, &mut edits, model.len())))
}

/// `body` with the bytes at `model` (a range from [`super::inspect_completion`] or
/// [`super::inspect_chunk`]) replaced by `public_model` as a JSON string.
pub fn replace_model(body: &[u8], model: Option<Range<usize>>, public_model: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + public_model.len() + 2);
    put_replaced(&mut out, body, model, public_model);
    out.freeze()
}

/// One SSE event (`data: <chunk>\n\n`) for a chunk, with its `model` replaced when `model` is
/// given: one allocation, no re-serialisation.
pub fn encode_chunk_event(data: &[u8], model: Option<Range<usize>>, public_model: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + public_model.len() + 10);
    put_chunk_event(&mut out, data, model, public_model);
    out.freeze()
}

/// [`encode_chunk_event`] appending to `out`, so several events that arrived together leave in
/// one buffer.
pub fn put_chunk_event(
    out: &mut BytesMut,
    data: &[u8],
    model: Option<Range<usize>>,
    public_model: &str,
) {
    out.reserve(data.len() + public_model.len() + 10);
    out.put_slice(b"data: ");
    put_replaced(out, data, model, public_model);
    out.put_slice(b"\n\n");
}

fn put_replaced(out: &mut BytesMut, body: &[u8], model: Option<Range<usize>>, public: &str) {
    match model.filter(|r| r.start <= r.end && r.end <= body.len()) {
        Some(r) => {
            out.put_slice(&body[..r.start]);
            out.put_slice(&json_string(public));
            out.put_slice(&body[r.end..]);
        }
        None => out.put_slice(body),
    }
}

fn located(s: &str, value: &RawValue) -> Result<Range<usize>, FormatError> {
    // A borrowed RawValue always lies inside the document it came from.
    json::range_in(s, value.get())
        .ok_or_else(|| FormatError::InvalidJson("value outside the document".into()))
}

fn json_string(s: &str) -> Vec<u8> {
    // Serialising a &str cannot fail; the fallback keeps this total anyway.
    serde_json::to_vec(s).unwrap_or_else(|_| b"\"\"".to_vec())
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
