//! The `application/vnd.amazon.eventstream` framing of ConverseStream bodies: binary frames
//! (prelude with lengths and a CRC, typed headers, payload, message CRC). Decoding and CRC
//! checks are `aws-smithy-eventstream`'s; this module buffers arbitrary chunks of a body and
//! reduces each frame to the three headers Bedrock uses.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};

use crate::FormatError;

/// The largest frame the event-stream format allows (16 MiB) plus its headers: a body that
/// buffers more than this without completing a frame is corrupt, not slow.
const MAX_BUFFERED: usize = 16 * 1024 * 1024 + 128 * 1024;

/// One frame of a ConverseStream body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// `:message-type`: `event`, `exception` or `error`.
    pub message_type: String,
    /// `:event-type` (events), `:exception-type` (exceptions, e.g. `throttlingException`) or
    /// `:error-code` (errors).
    pub event_type: String,
    /// The JSON payload. For `error` frames, which carry their text in the `:error-message`
    /// header and no payload, that header's text.
    pub payload: Bytes,
}

/// Incremental decoder: `push` any chunks of the body, then take frames with `next_frame`
/// until it returns `Ok(None)`. After an error (bad CRC, bad lengths) the stream is unusable and
/// every later call returns the same error.
#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    buf: BytesMut,
    inner: MessageFrameDecoder,
    /// Bytes pushed since the last complete frame. Not `buf.len()`: the inner decoder takes a
    /// frame's prelude out of `buf` before the rest of the frame arrives.
    partial: usize,
    failed: Option<FormatError>,
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.partial += bytes.len();
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FormatError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = match self.inner.decode_frame(&mut self.buf) {
            Ok(DecodedFrame::Incomplete) if self.partial > MAX_BUFFERED => Err(invalid(
                "event-stream frame larger than the format allows".to_owned(),
            )),
            Ok(DecodedFrame::Incomplete) => Ok(None),
            Ok(DecodedFrame::Complete(message)) => {
                self.partial = self.buf.len();
                frame(&message).map(Some)
            }
            Err(e) => Err(invalid(format!("invalid event-stream frame: {e}"))),
        };
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Bytes received but not yet part of a complete frame (a body that ends with some is cut).
    pub fn has_partial_frame(&self) -> bool {
        self.partial > 0
    }
}

fn invalid(reason: String) -> FormatError {
    FormatError::InvalidJson(reason)
}

fn string_header<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

fn frame(m: &Message) -> Result<Frame, FormatError> {
    let message_type = string_header(m, ":message-type").unwrap_or("event");
    let (name_header, payload) = match message_type {
        "exception" => (":exception-type", m.payload().clone()),
        "error" => {
            let text = string_header(m, ":error-message").unwrap_or_default();
            let payload = if m.payload().is_empty() {
                Bytes::copy_from_slice(text.as_bytes())
            } else {
                m.payload().clone()
            };
            (":error-code", payload)
        }
        _ => (":event-type", m.payload().clone()),
    };
    let event_type = string_header(m, name_header)
        .ok_or_else(|| invalid(format!("event-stream frame without a {name_header} header")))?;
    Ok(Frame {
        message_type: message_type.to_owned(),
        event_type: event_type.to_owned(),
        payload,
    })
}

/// Encodes one frame as Bedrock sends it: `:message-type`, the type header
/// (`:event-type`, `:exception-type` or `:error-code`, by `message_type`) and
/// `:content-type: application/json`.
pub fn encode_frame(message_type: &str, event_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_header = match message_type {
        "exception" => ":exception-type",
        "error" => ":error-code",
        _ => ":event-type",
    };
    let message = Message::new_from_parts(
        vec![
            Header::new(
                ":message-type",
                HeaderValue::String(message_type.to_owned().into()),
            ),
            Header::new(
                type_header,
                HeaderValue::String(event_type.to_owned().into()),
            ),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
        ],
        Bytes::copy_from_slice(payload),
    );
    let mut out = Vec::with_capacity(payload.len() + 96);
    // Writing to a Vec fails only for headers or payloads past the format's limits, which no
    // caller (the mock's small JSON events, tests) produces; such a frame is left empty.
    if write_message_to(&message, &mut out).is_err() {
        out.clear();
    }
    out
}
