//! Answers from providers with their own wire format (Gemini, Bedrock Converse), translated
//! back to OpenAI chat and, for an Anthropic client, on to Anthropic's format: whole bodies, and
//! streams event by event. OpenAI chat is the pivot, as for the requests (`dialect::native`).

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::FormatError;
use tollgate_formats::anthropic::StreamEvent;
use tollgate_formats::bedrock::{self, ConverseResponse, ConverseToOpenAiStream, Frame};
use tollgate_formats::gemini::{self, GeminiToOpenAiStream, GenerateContentResponse};
use tollgate_formats::openai::{ChunkInfo, OutputMeter};
use tollgate_formats::translate::{
    self, ChatCompletion, OpenAiStreamEvent, OpenAiToAnthropicStream, Warning,
};

use super::Seen;
use crate::mode::{Mode, NativeKind, to_json};

/// A whole native answer in the client's format, its usage, and what translating it dropped.
pub(crate) fn translate_body(
    mode: &Mode,
    body: &[u8],
    shown: &str,
    id: &str,
    created: u64,
) -> Result<(Bytes, Option<Usage>, Vec<Warning>), FormatError> {
    let Mode::Native {
        kind,
        anthropic_client,
        json_tool,
        ..
    } = mode
    else {
        if let Mode::GeminiEmbeddings {
            prompt_tokens,
            base64,
        } = mode
        {
            let resp: gemini::BatchEmbedContentsResponse = translate::from_json(body)?;
            // The OpenAI SDKs ask for base64 by default; Gemini answers floats.
            let v = if *base64 {
                gemini::gemini_to_openai_embeddings_base64(resp, shown, *prompt_tokens)
            } else {
                gemini::gemini_to_openai_embeddings(resp, shown, *prompt_tokens)
            };
            // Gemini reports no tokens for embeddings: the estimate is billed, marked as such.
            return Ok((to_json(&v)?, None, Vec::new()));
        }
        return Err(FormatError::NotAnObject);
    };
    let chat_id = format!("chatcmpl-{id}");
    let (completion, usage, mut warnings): (ChatCompletion, Option<Usage>, Vec<Warning>) =
        match kind {
            NativeKind::Gemini => {
                let resp: GenerateContentResponse = translate::from_json(body)?;
                let usage = resp.usage_metadata.as_ref().map(|u| u.to_usage());
                let t = gemini::gemini_to_openai_response(resp, shown, &chat_id, created);
                (t.value, usage, t.warnings)
            }
            NativeKind::Bedrock => {
                let resp: ConverseResponse = translate::from_json(body)?;
                let usage = Some(resp.usage.to_usage());
                let t = bedrock::converse_to_openai_response(
                    resp,
                    shown,
                    &chat_id,
                    created,
                    json_tool.as_deref(),
                );
                (t.value, usage, t.warnings)
            }
        };
    if *anthropic_client {
        let mut t = translate::openai_to_anthropic_response(completion)?;
        warnings.append(&mut t.warnings);
        shown.clone_into(&mut t.value.model);
        return Ok((to_json(&t.value)?, usage, warnings));
    }
    Ok((to_json(&completion)?, usage, warnings))
}

/// One event of a native stream: an SSE `data` (Gemini) or an event-stream frame (Bedrock).
pub(crate) enum NativeEvent<'a> {
    Data(&'a str),
    Frame(&'a Frame),
}

enum Translator {
    Gemini(GeminiToOpenAiStream),
    Bedrock(ConverseToOpenAiStream),
}

/// Per-stream state: the native translator to OpenAI chunks, then (Anthropic clients) OpenAI
/// chunks to Anthropic events.
pub(crate) struct NativeStream {
    native: Translator,
    to_anthropic: Option<OpenAiToAnthropicStream>,
    shown: String,
    /// Output delivered, by delta (one token per delta unless deltas batch many bytes), for
    /// billing a stream cut before the provider reported usage.
    meter: OutputMeter,
    /// Scratch lists reused for every event, so a stream allocates none per event.
    openai: Vec<OpenAiStreamEvent>,
    anthropic: Vec<StreamEvent>,
}

impl NativeStream {
    pub(crate) fn new(mode: &Mode, shown: &str, id: &str, created: u64) -> Option<NativeStream> {
        let Mode::Native {
            kind,
            anthropic_client,
            include_usage,
            json_tool,
        } = mode
        else {
            return None;
        };
        let chat_id = format!("chatcmpl-{id}");
        // Anthropic clients always get usage, so the OpenAI leg must carry it.
        let usage = *include_usage || *anthropic_client;
        let native = match kind {
            NativeKind::Gemini => {
                Translator::Gemini(GeminiToOpenAiStream::new(chat_id, created, usage))
            }
            NativeKind::Bedrock => Translator::Bedrock(ConverseToOpenAiStream::new(
                chat_id,
                shown.to_owned(),
                created,
                usage,
                json_tool.clone(),
            )),
        };
        Some(NativeStream {
            native,
            to_anthropic: anthropic_client.then(OpenAiToAnthropicStream::new),
            shown: shown.to_owned(),
            meter: OutputMeter::default(),
            openai: Vec::new(),
            anthropic: Vec::new(),
        })
    }

    /// Translates one upstream event into `buf`, in the client's format.
    pub(crate) fn event(&mut self, ev: NativeEvent<'_>, buf: &mut BytesMut) -> Seen {
        let mut out = std::mem::take(&mut self.openai);
        let read = match (&mut self.native, ev) {
            (Translator::Gemini(t), NativeEvent::Data(d)) => t.push_data(d, &mut out),
            (Translator::Bedrock(t), NativeEvent::Frame(f)) => t.push_frame(f, &mut out),
            _ => Ok(()),
        };
        if let Err(e) = read {
            tracing::warn!(error = %e, "a provider stream event could not be read");
            out.push(OpenAiStreamEvent::Error {
                message: "The upstream provider sent an unreadable stream event.".into(),
                kind: "api_error",
                code: Some("upstream_stream_invalid"),
            });
        }
        self.emit(out, buf)
    }

    /// The upstream body ended.
    pub(crate) fn eof(&mut self, buf: &mut BytesMut) -> Seen {
        let mut out = std::mem::take(&mut self.openai);
        match &mut self.native {
            Translator::Gemini(t) => t.finish(&mut out),
            Translator::Bedrock(t) => t.finish(&mut out),
        }
        let mut seen = self.emit(out, buf);
        if let Some(a) = &mut self.to_anthropic {
            a.finish(&mut self.anthropic);
            seen.merge(anthropic_events(&mut self.anthropic, &self.shown, buf));
        }
        seen
    }

    /// Writes `out`'s events in the client's format, then keeps the emptied list for reuse.
    fn emit(&mut self, mut out: Vec<OpenAiStreamEvent>, buf: &mut BytesMut) -> Seen {
        let mut seen = Seen::default();
        for mut e in out.drain(..) {
            match &mut e {
                OpenAiStreamEvent::Chunk(c) => {
                    let mut info = ChunkInfo::default();
                    for ch in &c.choices {
                        let d = &ch.delta;
                        let bytes = d.content.as_ref().map_or(0, String::len)
                            + d.reasoning_content.as_ref().map_or(0, String::len)
                            + d.tool_calls.as_ref().map_or(0, |t| {
                                t.iter()
                                    .filter_map(|t| t.function.as_ref())
                                    .map(|f| {
                                        f.arguments.as_ref().map_or(0, String::len)
                                            + f.name.as_ref().map_or(0, String::len)
                                    })
                                    .sum()
                            });
                        if bytes > 0 {
                            info.output_deltas += 1;
                            info.output_bytes += bytes as u64;
                        }
                    }
                    seen.output |= info.output_deltas > 0;
                    self.meter.add_chunk(&info);
                    self.shown.clone_into(&mut c.model);
                }
                OpenAiStreamEvent::Error { .. } => seen.error = true,
                // For an Anthropic client, its own `message_stop` is the end (below).
                OpenAiStreamEvent::Done => seen.done |= self.to_anthropic.is_none(),
            }
            match &mut self.to_anthropic {
                None => buf.extend_from_slice(&e.encode()),
                Some(a) => {
                    let events = &mut self.anthropic;
                    match e {
                        OpenAiStreamEvent::Chunk(c) => a.push(c, events),
                        OpenAiStreamEvent::Error { message, kind, .. } => {
                            let data =
                                serde_json::json!({"error": {"message": message, "type": kind}});
                            let _ = a.push_data(&data.to_string(), events);
                        }
                        OpenAiStreamEvent::Done => a.finish(events),
                    }
                    seen.merge(anthropic_events(events, &self.shown, buf));
                }
            }
        }
        self.openai = out;
        seen
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        match &self.native {
            Translator::Gemini(t) => t.usage(),
            Translator::Bedrock(t) => t.usage(),
        }
    }

    pub(crate) fn meter(&self) -> OutputMeter {
        self.meter
    }

    pub(crate) fn warnings(&self) -> Vec<Warning> {
        let mut w = match &self.native {
            Translator::Gemini(t) => t.warnings().to_vec(),
            Translator::Bedrock(t) => t.warnings().to_vec(),
        };
        if let Some(a) = &self.to_anthropic {
            w.extend_from_slice(a.warnings());
        }
        w
    }
}

/// Writes (and empties) `events`.
fn anthropic_events(events: &mut Vec<StreamEvent>, shown: &str, buf: &mut BytesMut) -> Seen {
    let mut seen = Seen::default();
    for mut e in events.drain(..) {
        match &mut e {
            StreamEvent::MessageStart { message } => shown.clone_into(&mut message.model),
            StreamEvent::ContentBlockDelta { .. } => seen.output = true,
            StreamEvent::MessageStop => seen.done = true,
            StreamEvent::Error { .. } => seen.error = true,
            _ => {}
        }
        buf.extend_from_slice(&e.encode());
    }
    seen
}
