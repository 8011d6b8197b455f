//! A multipart/form-data body read with `multer`, the parser axum itself uses. The whole body
//! is already in memory, so parsing never waits: the parse is polled once, and a form that would
//! need more input than the body holds is a malformed form.

use std::convert::Infallible;

use bytes::{BufMut, Bytes, BytesMut};
use futures::FutureExt;
use http::HeaderMap;

use crate::FormatError;

/// One part of a form: its name, its headers as sent, its bytes.
pub(super) struct Part {
    pub name: Option<String>,
    pub headers: HeaderMap,
    pub data: Bytes,
}

/// The boundary of a `multipart/form-data` content type.
pub(super) fn boundary(content_type: &str) -> Result<String, FormatError> {
    let is_form = content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !is_form {
        return Err(FormatError::NotMultipart);
    }
    multer::parse_boundary(content_type).map_err(|_| FormatError::NotMultipart)
}

/// Every part of `body`, in order.
pub(super) fn parts(body: &Bytes, boundary: &str) -> Result<Vec<Part>, FormatError> {
    let input = body.clone();
    let stream = futures::stream::once(async move { Ok::<Bytes, Infallible>(input) });
    let mut form = multer::Multipart::new(stream, boundary);
    let read = async move {
        let mut out = Vec::new();
        while let Some(field) = form.next_field().await? {
            let name = field.name().map(str::to_owned);
            let headers = field.headers().clone();
            let data = field.bytes().await?;
            out.push(Part {
                name,
                headers,
                data,
            });
        }
        Ok::<_, multer::Error>(out)
    };
    match read.now_or_never() {
        Some(Ok(parts)) => Ok(parts),
        Some(Err(e)) => Err(FormatError::InvalidForm(e.to_string())),
        None => Err(FormatError::InvalidForm("the form ends early".into())),
    }
}

/// `parts` written back as a form with `boundary`: each part's headers as sent (names
/// lower-cased, as HTTP allows) and its bytes. Nothing before the first boundary or after the
/// last is kept: a preamble and an epilogue carry no data.
pub(super) fn encode(parts: &[Part], boundary: &str) -> Bytes {
    let size: usize = parts.iter().map(|p| p.data.len() + 256).sum();
    let mut out = BytesMut::with_capacity(size + boundary.len() + 8);
    for p in parts {
        out.put_slice(b"--");
        out.put_slice(boundary.as_bytes());
        out.put_slice(b"\r\n");
        for (name, value) in &p.headers {
            out.put_slice(name.as_str().as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(&p.data);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"--");
    out.put_slice(boundary.as_bytes());
    out.put_slice(b"--\r\n");
    out.freeze()
}
