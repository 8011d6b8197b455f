//! `POST /v1/audio/transcriptions`: a multipart/form-data upload (`file`, `model`, and options
//! such as `response_format`). The edge reads `model` from the form; the body goes to the
//! provider with its content type (and boundary) unchanged.
//!
//! The model swap is honest about what it touches: when the deployment's model is the name the
//! client sent, the body goes through byte for byte; otherwise the form is written back with the
//! same boundary, every part's headers and bytes kept and only `model`'s value replaced (header
//! names lower-cased; a preamble or epilogue, which carry no data, dropped).
//!
//! Billed per second of audio from the answer's `usage: {"type":"duration","seconds"}` (whisper;
//! `verbose_json` also carries `duration`), rounded up to a whole second; or by tokens when the
//! answer's usage is `{"type":"tokens",…}` (gpt-4o-transcribe). Formats without usage (`text`,
//! `srt`, `vtt`) are billed by an estimate from the upload's size
//! ([`TRANSCRIPTION_BYTES_PER_SECOND`]), marked as estimated in the ledger.

use bytes::Bytes;
use serde::Deserialize;
use tollgate_domain::{Unit, Units, Usage};

use super::EndpointPeek;
use super::form::{self, Part};
use crate::FormatError;

/// Upload bytes per second of audio for the estimate: 128 kbit/s, a common MP3 rate. Used for
/// the admission reservation, and for the bill only when the provider reports no duration.
pub const TRANSCRIPTION_BYTES_PER_SECOND: u64 = 16_000;

fn text(p: &Part) -> Option<&str> {
    std::str::from_utf8(&p.data).ok().map(str::trim)
}

/// The model, the estimated seconds of the uploaded file, and nothing else of the form.
pub fn peek_transcription(body: &Bytes, content_type: &str) -> Result<EndpointPeek, FormatError> {
    let boundary = form::boundary(content_type)?;
    let parts = form::parts(body, &boundary)?;
    let named = |n: &str| parts.iter().find(|p| p.name.as_deref() == Some(n));
    let model = named("model")
        .and_then(text)
        .filter(|m| !m.is_empty())
        .ok_or(FormatError::MissingModel)?
        .to_owned();
    let file = named("file").ok_or(FormatError::MissingParameter("file".into()))?;
    if file.data.is_empty() {
        return Err(FormatError::InvalidValue {
            param: "file",
            reason: "the uploaded file is empty.",
        });
    }
    // A streamed transcription is a different answer (SSE events); refused rather than billed
    // by a guess.
    if named("stream").and_then(text) == Some("true") {
        return Err(FormatError::InvalidValue {
            param: "stream",
            reason: "streamed transcriptions are not supported by this gateway; leave `stream` unset.",
        });
    }
    let seconds = (file.data.len() as u64).div_ceil(TRANSCRIPTION_BYTES_PER_SECOND);
    Ok(EndpointPeek {
        model,
        units: Units::new(Unit::AudioSecond, seconds.max(1)),
        prompt_tokens_estimate: 0,
    })
}

/// `body` for a deployment whose model is `upstream`: unchanged when the form already names it,
/// else written back with `model` replaced (see the module docs).
pub fn with_form_model(
    body: &Bytes,
    content_type: &str,
    upstream: &str,
) -> Result<Bytes, FormatError> {
    let boundary = form::boundary(content_type)?;
    let mut parts = form::parts(body, &boundary)?;
    let model = parts
        .iter_mut()
        .find(|p| p.name.as_deref() == Some("model"))
        .ok_or(FormatError::MissingModel)?;
    if text(model) == Some(upstream) {
        return Ok(body.clone());
    }
    model.data = Bytes::copy_from_slice(upstream.as_bytes());
    Ok(form::encode(&parts, &boundary))
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    usage: Option<AnswerUsage>,
    /// `verbose_json`'s length of the audio, in seconds.
    #[serde(default)]
    duration: Option<f64>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum AnswerUsage {
    Duration {
        seconds: f64,
    },
    Tokens {
        #[serde(default)]
        input_tokens: u64,
        #[serde(default)]
        output_tokens: u64,
    },
}

/// What a transcription answer bills, when it says: its seconds (rounded up) or its tokens.
/// `None` for answers without usage or duration (plain text, subtitles).
pub fn transcription_usage(body: &[u8]) -> Option<Usage> {
    let a: Answer = serde_json::from_slice(body).ok()?;
    let seconds = |s: f64| Usage {
        units: Some(Units::new(Unit::AudioSecond, s.max(0.0).ceil() as u64)),
        ..Usage::default()
    };
    match (a.usage, a.duration) {
        (Some(AnswerUsage::Duration { seconds: s }), _) => Some(seconds(s)),
        (
            Some(AnswerUsage::Tokens {
                input_tokens,
                output_tokens,
            }),
            _,
        ) => Some(Usage {
            input_tokens,
            output_tokens,
            ..Usage::default()
        }),
        (None, Some(d)) => Some(seconds(d)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn form(model: &str, file: &[u8]) -> Bytes {
        let mut b = Vec::new();
        b.extend_from_slice(b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n");
        b.extend_from_slice(file);
        b.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n");
        b.extend_from_slice(model.as_bytes());
        b.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\njson\r\n--XyZ--\r\n");
        Bytes::from(b)
    }

    #[test]
    fn the_peek_reads_the_model_and_estimates_seconds_from_the_file() {
        let audio = vec![0xffu8; 40_000];
        let p = peek_transcription(&form("whisper-1", &audio), CT).unwrap();
        assert_eq!(p.model, "whisper-1");
        assert_eq!(p.units, Units::new(Unit::AudioSecond, 3));
    }

    #[test]
    fn bad_forms_get_clear_errors() {
        let body = form("whisper-1", b"abc");
        assert_eq!(
            peek_transcription(&body, "application/json").unwrap_err(),
            FormatError::NotMultipart
        );
        assert_eq!(
            peek_transcription(&body, "multipart/form-data").unwrap_err(),
            FormatError::NotMultipart
        );
        assert_eq!(
            peek_transcription(&form("", b"abc"), CT).unwrap_err(),
            FormatError::MissingModel
        );
        let cut = body.slice(..body.len() - 20);
        assert!(matches!(
            peek_transcription(&cut, CT).unwrap_err(),
            FormatError::InvalidForm(_)
        ));
        let e = peek_transcription(&form("m", b""), CT).unwrap_err();
        assert_eq!(e.param(), Some("file"));
    }

    #[test]
    fn the_model_is_swapped_and_every_other_part_kept() {
        let audio: Vec<u8> = (0..=255u8).cycle().take(5_000).collect();
        let body = form("whisper", &audio);
        // Same name: byte for byte.
        assert_eq!(with_form_model(&body, CT, "whisper").unwrap(), body);
        let out = with_form_model(&body, CT, "whisper-1").unwrap();
        let p = peek_transcription(&out, CT).unwrap();
        assert_eq!(p.model, "whisper-1");
        let parts = form::parts(&out, "XyZ").unwrap();
        let names: Vec<_> = parts.iter().map(|p| p.name.clone().unwrap()).collect();
        assert_eq!(names, ["file", "model", "response_format"]);
        assert_eq!(parts[0].data, audio);
        assert_eq!(parts[0].headers["content-type"], "audio/mpeg");
        assert_eq!(
            parts[0].headers["content-disposition"],
            "form-data; name=\"file\"; filename=\"a.mp3\""
        );
        assert_eq!(&parts[2].data[..], b"json");
    }

    #[test]
    fn answers_bill_seconds_tokens_or_nothing_said() {
        let whisper = br#"{"text":"hello","usage":{"type":"duration","seconds":9.2}}"#;
        let u = transcription_usage(whisper).unwrap();
        assert_eq!(u.units, Some(Units::new(Unit::AudioSecond, 10)));
        let verbose = br#"{"task":"transcribe","language":"english","duration":8.0,"text":"hi","segments":[]}"#;
        assert_eq!(
            transcription_usage(verbose).unwrap().units.unwrap().count,
            8
        );
        let tokens = br#"{"text":"hi","usage":{"type":"tokens","input_tokens":14,"input_token_details":{"text_tokens":0,"audio_tokens":14},"output_tokens":45,"total_tokens":59}}"#;
        let u = transcription_usage(tokens).unwrap();
        assert_eq!((u.input_tokens, u.output_tokens, u.units), (14, 45, None));
        assert_eq!(transcription_usage(br#"{"text":"hi"}"#), None);
        assert_eq!(transcription_usage(b"hello there"), None);
    }
}
