//! Server-sent events: an incremental decoder following the WHATWG event-stream rules, and the
//! encoder for the `data:` events the gateway writes.
//!
//! The decoder works on bytes and splits lines on `\n`, `\r\n` and `\r` (all ASCII, so a split
//! never lands inside a UTF-8 sequence), so it gives the same events however the stream is cut
//! into chunks, including a `\r\n` split across two chunks.

use bytes::{BufMut, Bytes, BytesMut};

/// The event that ends an OpenAI stream.
pub const DONE: &[u8] = b"data: [DONE]\n\n";
/// The `data` of [`DONE`].
pub const DONE_DATA: &str = "[DONE]";

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` for the default type (`message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id seen on the stream (it carries over to later events, per the spec).
    pub id: Option<String>,
}

/// Incremental decoder: [`push`](Self::push) bytes as they arrive, then take events with
/// [`next_event`](Self::next_event) until it returns `None`.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Start of the bytes not yet consumed.
    pos: usize,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to that line end.
    skip_lf: bool,
    /// The start of the stream was checked for a BOM.
    bom_checked: bool,
    data: String,
    /// Whether any `data` field was seen for the pending event (the spec's "data buffer is not
    /// empty", tracked separately because an empty `data:` line still makes an event).
    has_data: bool,
    event: Option<String>,
    last_id: Option<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held for an incomplete line (callers cap this against a hostile upstream).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos + self.data.len()
    }

    /// True when the bytes so far end in the middle of an event: a stream that ends here was cut.
    pub fn has_partial_event(&self) -> bool {
        self.pos < self.buf.len() || self.has_data || self.event.is_some()
    }

    pub fn next_event(&mut self) -> Option<SseEvent> {
        if !self.bom_checked {
            let pending = &self.buf[self.pos..];
            if pending.len() < BOM.len() && BOM.starts_with(pending) {
                return None;
            }
            if pending.starts_with(BOM) {
                self.pos += BOM.len();
            }
            self.bom_checked = true;
        }
        loop {
            if self.skip_lf && self.pos < self.buf.len() {
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                }
                self.skip_lf = false;
            }
            let rest = &self.buf[self.pos..];
            let end = memchr::memchr2(b'\n', b'\r', rest)?;
            let line_start = self.pos;
            let line_end = line_start + end;
            let mut next = line_end + 1;
            if self.buf[line_end] == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            self.pos = next;
            if line_start == line_end {
                if let Some(ev) = self.dispatch() {
                    return Some(ev);
                }
                continue;
            }
            let line = String::from_utf8_lossy(&self.buf[line_start..line_end]);
            let (field, value) = match line.find(':') {
                Some(0) => continue, // comment
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(' ').unwrap_or(v))
                }
                None => (&line[..], ""),
            };
            match field {
                "data" => {
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                    self.has_data = true;
                }
                "event" => self.event = Some(value.to_owned()),
                "id" if !value.contains('\0') => {
                    self.last_id = (!value.is_empty()).then(|| value.to_owned());
                }
                _ => {} // `retry` and unknown fields are ignored
            }
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take().filter(|e| !e.is_empty());
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        })
    }
}

/// `data: <data>\n\n`; data spanning several lines becomes one `data:` line each, so the
/// receiver rebuilds it exactly.
pub fn encode_data(data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 8);
    let mut rest = data;
    loop {
        out.put_slice(b"data: ");
        match memchr::memchr2(b'\n', b'\r', rest) {
            None => {
                out.put_slice(rest);
                break;
            }
            Some(i) => {
                out.put_slice(&rest[..i]);
                out.put_u8(b'\n');
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
            }
        }
    }
    out.put_slice(b"\n\n");
    out.freeze()
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
