//! `POST /v1/audio/transcriptions`: a multipart/form-data upload (`file`, `model`, optional
//! `response_format`, `language`, `prompt`, ...), parsed with `multer` as a real server would.
//!
//! Deterministic: the audio lasts `ceil(file bytes / `[`BYTES_PER_SECOND`]`)` seconds (at least
//! one); the transcript is that many words. `json` (the default) answers
//! `{"text", "usage": {"type": "duration", "seconds"}}` as whisper does, or for gpt-4o models
//! token usage (`{"type": "tokens", "input_tokens"` = [`AUDIO_TOKENS_PER_SECOND`] per second,
//! `"output_tokens"` = the words`}`); `verbose_json` adds `task`, `language`, `duration` and
//! one segment; `text`, `srt` and `vtt` answer plain text with no usage, as OpenAI does.

use std::convert::Infallible;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::chat::chunk_text;
use crate::error::ApiError;

/// Upload bytes per second of audio (documented for tests; unlike a gateway's guess).
pub(crate) const BYTES_PER_SECOND: u64 = 4_000;
/// Input tokens per second a token-billed model (gpt-4o-transcribe) reports.
pub(crate) const AUDIO_TOKENS_PER_SECOND: u64 = 10;

/// A form's fields, the file as bytes.
struct Form {
    model: Option<String>,
    file: Option<Bytes>,
    response_format: Option<String>,
}

/// Read the form: every part, text fields as UTF-8.
async fn read_form(headers: &HeaderMap, body: Bytes) -> Result<Form, ApiError> {
    let bad = |m: String| ApiError::invalid_request(m, None, Some("invalid_multipart"));
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(ct)
        .map_err(|_| bad("Content-Type must be multipart/form-data with a boundary.".into()))?;
    let stream = futures::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form {
        model: None,
        file: None,
        response_format: None,
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let data = field.bytes().await.map_err(|e| bad(e.to_string()))?;
        let text = || String::from_utf8_lossy(&data).trim().to_owned();
        match name.as_str() {
            "model" => form.model = Some(text()),
            "response_format" => form.response_format = Some(text()),
            "file" => form.file = Some(data.clone()),
            _ => {}
        }
    }
    Ok(form)
}

/// The answer and the seconds of audio it reports (0 for token-billed models).
pub(crate) async fn transcribe(
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Response, u64), ApiError> {
    let form = read_form(headers, body).await?;
    let model = form.model.filter(|m| !m.is_empty()).ok_or_else(|| {
        ApiError::invalid_request("you must provide a model parameter", Some("model"), None)
    })?;
    let file = form.file.filter(|f| !f.is_empty()).ok_or_else(|| {
        ApiError::invalid_request(
            "Missing required parameter: 'file'.",
            Some("file"),
            Some("missing_required_parameter"),
        )
    })?;
    let seconds = (file.len() as u64).div_ceil(BYTES_PER_SECOND).max(1);
    let text: String = (0..seconds as usize)
        .map(|i| {
            let (sep, word) = chunk_text(i);
            format!("{sep}{word}")
        })
        .collect();
    let tokens_billed = model.starts_with("gpt-4o");
    let usage = if tokens_billed {
        let input = seconds * AUDIO_TOKENS_PER_SECOND;
        json!({"type": "tokens", "input_tokens": input,
               "input_token_details": {"text_tokens": 0, "audio_tokens": input},
               "output_tokens": seconds, "total_tokens": input + seconds})
    } else {
        json!({"type": "duration", "seconds": seconds})
    };
    let billed_seconds = if tokens_billed { 0 } else { seconds };
    let plain = |body: String| {
        let mut r = body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    let resp = match form.response_format.as_deref().unwrap_or("json") {
        "json" => axum::Json(json!({"text": text, "usage": usage})).into_response(),
        "verbose_json" => axum::Json(json!({
            "task": "transcribe",
            "language": "english",
            "duration": seconds as f64,
            "text": text,
            "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": seconds as f64, "text": text,
                          "tokens": [], "temperature": 0.0, "avg_logprob": -0.2,
                          "compression_ratio": 1.0, "no_speech_prob": 0.01}],
            "usage": usage,
        }))
        .into_response(),
        "text" => plain(format!("{text}\n")),
        "srt" => plain(format!(
            "1\n00:00:00,000 --> 00:00:{seconds:02},000\n{text}\n\n"
        )),
        "vtt" => plain(format!(
            "WEBVTT\n\n00:00:00.000 --> 00:00:{seconds:02}.000\n{text}\n\n"
        )),
        _ => {
            return Err(ApiError::invalid_request(
                "Invalid value for 'response_format': expected one of json, text, srt, verbose_json, vtt.",
                Some("response_format"),
                Some("invalid_value"),
            ));
        }
    };
    Ok((resp, billed_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(model: &str, bytes: usize, format: Option<&str>) -> (HeaderMap, Bytes) {
        let mut b = Vec::new();
        b.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n");
        b.extend(std::iter::repeat_n(7u8, bytes));
        b.extend_from_slice(
            format!("\r\n--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n")
                .as_bytes(),
        );
        if let Some(f) = format {
            b.extend_from_slice(
                format!(
                    "--B\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\n{f}\r\n"
                )
                .as_bytes(),
            );
        }
        b.extend_from_slice(b"--B--\r\n");
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=B"),
        );
        (h, Bytes::from(b))
    }

    async fn json_of(r: Response) -> serde_json::Value {
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&b).unwrap()
    }

    #[tokio::test]
    async fn seconds_follow_the_upload_and_usage_the_model() {
        let (h, b) = upload("whisper-1", 9_000, None);
        let (r, seconds) = transcribe(&h, b).await.unwrap();
        assert_eq!(seconds, 3);
        let v = json_of(r).await;
        assert_eq!(v["usage"], json!({"type": "duration", "seconds": 3}));
        assert_eq!(v["text"].as_str().unwrap().split(' ').count(), 3);

        let (h, b) = upload("gpt-4o-transcribe", 4_000, None);
        let (r, seconds) = transcribe(&h, b).await.unwrap();
        assert_eq!(seconds, 0);
        let v = json_of(r).await;
        assert_eq!(v["usage"]["type"], "tokens");
        assert_eq!(v["usage"]["input_tokens"], AUDIO_TOKENS_PER_SECOND);

        let (h, b) = upload("whisper-1", 10, Some("verbose_json"));
        let v = json_of(transcribe(&h, b).await.unwrap().0).await;
        assert_eq!(v["duration"], 1.0);

        let (h, b) = upload("whisper-1", 10, Some("text"));
        let (r, _) = transcribe(&h, b).await.unwrap();
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );

        let (h, b) = upload("", 10, None);
        assert!(transcribe(&h, b).await.is_err());
        let (h, b) = upload("whisper-1", 0, None);
        assert!(transcribe(&h, b).await.is_err());
    }
}
