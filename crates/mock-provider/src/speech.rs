//! `POST /v1/audio/speech`: JSON in (`model`, `input` up to 4,096 characters, `voice`,
//! `response_format`), audio bytes out with the format's content type, streamed in chunks as a
//! real TTS model sends them.
//!
//! Deterministic: [`BYTES_PER_CHARACTER`] bytes of audio per character of `input`, each byte a
//! hash of the input and its position, in chunks of [`CHUNK`] bytes (`chunk_delay_ms` apart;
//! `disconnect_after` resets the connection after that many chunks).

use std::sync::Arc;

use axum::response::Response;
use serde::Deserialize;

use crate::error::ApiError;
use crate::options::MockOptions;
use crate::paced::{self, Piece};
use crate::prompt::{FNV_OFFSET, fnv};
use crate::state::Shared;

/// Audio bytes per character of input (documented for tests).
pub(crate) const BYTES_PER_CHARACTER: usize = 64;
/// Bytes per streamed chunk.
const CHUNK: usize = 4096;
/// The longest `input` OpenAI accepts.
const MAX_INPUT: usize = 4096;

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    voice: Option<serde_json::Value>,
    #[serde(default)]
    response_format: Option<String>,
}

/// What a valid speech request asks for.
pub(crate) struct Speech {
    pub(crate) characters: u64,
    content_type: &'static str,
    audio: Vec<u8>,
}

pub(crate) fn parse(body: &[u8]) -> Result<Speech, ApiError> {
    let r: Request = serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
    if r.model.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::invalid_request(
            "you must provide a model parameter",
            Some("model"),
            None,
        ));
    }
    let input = r.input.unwrap_or_default();
    let characters = input.chars().count();
    if characters == 0 || characters > MAX_INPUT {
        return Err(ApiError::invalid_request(
            format!("Invalid 'input': string must be 1 to {MAX_INPUT} characters long."),
            Some("input"),
            Some("invalid_value"),
        ));
    }
    if r.voice.is_none() {
        return Err(ApiError::invalid_request(
            "Missing required parameter: 'voice'.",
            Some("voice"),
            Some("missing_required_parameter"),
        ));
    }
    let content_type = match r.response_format.as_deref().unwrap_or("mp3") {
        "mp3" => "audio/mpeg",
        "opus" => "audio/opus",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "pcm" => "audio/pcm",
        _ => {
            return Err(ApiError::invalid_request(
                "Invalid value for 'response_format': expected one of mp3, opus, aac, flac, wav, pcm.",
                Some("response_format"),
                Some("invalid_value"),
            ));
        }
    };
    let seed = fnv(FNV_OFFSET, input.as_bytes());
    let audio = (0..characters * BYTES_PER_CHARACTER)
        .map(|i| (fnv(seed, &i.to_le_bytes()) & 0xff) as u8)
        .collect();
    Ok(Speech {
        characters: characters as u64,
        content_type,
        audio,
    })
}

/// The audio in chunks, each a content piece of the shared paced stream (so `chunk_delay` and
/// `disconnect_after` apply as they do to text streams).
pub(crate) fn respond(shared: Arc<Shared>, speech: Speech, opts: &MockOptions) -> Response {
    let mut pieces: Vec<Piece> = speech
        .audio
        .chunks(CHUNK)
        .map(|c| Piece {
            bytes: c.to_vec(),
            content: true,
            tokens: 0,
        })
        .collect();
    let aborts = paced::cut_for_disconnect(&mut pieces, opts.disconnect_after, 0);
    paced::response(
        shared,
        pieces,
        opts.chunk_delay,
        aborts,
        speech.content_type,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_is_sized_by_characters_and_typed_by_format() {
        let s = parse(
            r#"{"model":"tts-1","input":"Grüße","voice":"alloy","response_format":"wav"}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(s.characters, 5);
        assert_eq!(s.audio.len(), 5 * BYTES_PER_CHARACTER);
        assert_eq!(s.content_type, "audio/wav");
        let again =
            parse(r#"{"model":"tts-1","input":"Grüße","voice":"alloy"}"#.as_bytes()).unwrap();
        assert_eq!(again.audio, s.audio);
        assert_eq!(again.content_type, "audio/mpeg");
        assert!(parse(br#"{"model":"tts-1","input":"","voice":"alloy"}"#).is_err());
        assert!(parse(br#"{"model":"tts-1","input":"hi"}"#).is_err());
        assert!(
            parse(br#"{"model":"tts-1","input":"hi","voice":"a","response_format":"ogg"}"#)
                .is_err()
        );
    }
}
