//! OpenAI content parts → Converse content blocks (the per-part half of the request
//! translation), and back.

use super::model::{
    BytesSource, CachePoint, ContentBlock, DocumentBlock, Extra, ImageBlock, ToolResultBlock,
    ToolResultContent,
};
use crate::FormatError;
use crate::anthropic::CacheControl;
use crate::translate::{
    ChatContent, ContentPart, FilePart, FileRef, ImageUrl, ImageUrlPart, TextPart, Warning,
};

/// Message content as blocks; a `cache_control` on a part adds a `cachePoint` after it.
pub(super) fn blocks(
    c: Option<ChatContent>,
    i: usize,
    w: &mut Vec<Warning>,
) -> Result<Vec<ContentBlock>, FormatError> {
    let parts = match c {
        None => return Ok(Vec::new()),
        Some(ChatContent::Text(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(ChatContent::Text(s)) => return Ok(vec![ContentBlock::Text(s)]),
        Some(ChatContent::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        let field = format!("messages[{i}].content[{j}]");
        let cache = match p {
            ContentPart::Text(t) => {
                for key in t.extra.keys() {
                    w.push(Warning::new(
                        format!("{field}.{key}"),
                        "not supported by Bedrock",
                    ));
                }
                out.push(ContentBlock::Text(t.text));
                t.cache_control.is_some()
            }
            ContentPart::ImageUrl(img) => {
                let cache = has_cache_control(&img.extra, &field, w);
                if img.image_url.detail.is_some() {
                    w.push(Warning::new(
                        format!("{field}.image_url.detail"),
                        "Bedrock has no image detail setting",
                    ));
                }
                out.push(ContentBlock::Image(image(&img.image_url.url)?));
                cache
            }
            ContentPart::File(f) => {
                let cache = has_cache_control(&f.extra, &field, w);
                match document(&f.file, i, j) {
                    Some(d) => out.push(ContentBlock::Document(d)),
                    None => {
                        w.push(Warning::new(
                            field,
                            "only inline (file_data) files of a type Bedrock reads can be sent",
                        ));
                        continue;
                    }
                }
                cache
            }
            ContentPart::Other(_) => {
                w.push(Warning::new(
                    field,
                    "content part type not supported by Bedrock",
                ));
                continue;
            }
        };
        if cache {
            out.push(ContentBlock::CachePoint(CachePoint::default_point()));
        }
    }
    Ok(out)
}

/// Whether `extra` holds a `cache_control` (OpenRouter's convention); anything else there is
/// reported.
pub(super) fn has_cache_control(extra: &Extra, field: &str, w: &mut Vec<Warning>) -> bool {
    for key in extra.keys().filter(|k| *k != "cache_control") {
        w.push(Warning::new(
            format!("{field}.{key}"),
            "not supported by Bedrock",
        ));
    }
    extra.get("cache_control").is_some_and(|v| !v.is_null())
}

/// A tool message as a `toolResult` block (its text parts as text results).
pub(super) fn tool_result(
    id: String,
    c: Option<ChatContent>,
    i: usize,
    w: &mut Vec<Warning>,
) -> ContentBlock {
    let content = match c {
        None => Vec::new(),
        Some(ChatContent::Text(s)) => vec![ToolResultContent::Text(s)],
        Some(ChatContent::Parts(parts)) => parts
            .into_iter()
            .enumerate()
            .filter_map(|(j, p)| match p {
                ContentPart::Text(t) => Some(ToolResultContent::Text(t.text)),
                _ => {
                    w.push(Warning::new(
                        format!("messages[{i}].content[{j}]"),
                        "only text tool results are sent to Bedrock",
                    ));
                    None
                }
            })
            .collect(),
    };
    ContentBlock::ToolResult(ToolResultBlock {
        tool_use_id: id,
        content,
        status: None,
        extra: Extra::new(),
    })
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

fn image(url: &str) -> Result<ImageBlock, FormatError> {
    let Some((media_type, data)) = parse_data_url(url) else {
        return Err(FormatError::InvalidValue {
            param: "messages.content.image_url.url",
            reason: "Bedrock models take images as base64 data: URLs, not web URLs.",
        });
    };
    let format = match media_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => {
            return Err(FormatError::InvalidValue {
                param: "messages.content.image_url.url",
                reason: "Bedrock models take png, jpeg, gif or webp images.",
            });
        }
    };
    Ok(ImageBlock {
        format: format.to_owned(),
        source: BytesSource {
            bytes: Some(data.to_owned()),
            extra: Extra::new(),
        },
        extra: Extra::new(),
    })
}

const DOCUMENT_FORMATS: [(&str, &str); 9] = [
    ("application/pdf", "pdf"),
    ("text/csv", "csv"),
    ("application/msword", "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("application/vnd.ms-excel", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("text/html", "html"),
    ("text/plain", "txt"),
    ("text/markdown", "md"),
];

fn document(f: &FileRef, i: usize, j: usize) -> Option<DocumentBlock> {
    let (media_type, data) = parse_data_url(f.file_data.as_deref()?)?;
    let format = DOCUMENT_FORMATS
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(media_type))?
        .1;
    Some(DocumentBlock {
        format: format.to_owned(),
        name: document_name(f.filename.as_deref(), i, j),
        source: BytesSource {
            bytes: Some(data.to_owned()),
            extra: Extra::new(),
        },
        extra: Extra::new(),
    })
}

/// Bedrock document names allow only letters, digits, single spaces, hyphens, parentheses and
/// square brackets: the file name without its extension, other characters as hyphens.
fn document_name(filename: Option<&str>, i: usize, j: usize) -> String {
    let stem = filename
        .map(|f| f.rsplit_once('.').map_or(f, |(s, _)| s))
        .unwrap_or_default();
    let mut name = String::with_capacity(stem.len());
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
            c
        } else if c == ' ' && !name.ends_with(' ') {
            ' '
        } else {
            '-'
        };
        name.push(c);
    }
    let name = name.trim().to_owned();
    if name.is_empty() {
        format!("document-{i}-{j}")
    } else {
        name
    }
}

/// Converse blocks → OpenAI content parts (text, images, documents); a `cachePoint` marks the
/// part before it with `cache_control`. Other blocks are the caller's (`None` back).
pub(super) fn part(b: ContentBlock, field: &str, w: &mut Vec<Warning>) -> Option<ContentPart> {
    match b {
        ContentBlock::Text(text) => Some(ContentPart::Text(TextPart {
            text,
            cache_control: None,
            extra: Extra::new(),
        })),
        ContentBlock::Image(img) => match img.source.bytes {
            Some(bytes) => Some(ContentPart::ImageUrl(ImageUrlPart {
                image_url: ImageUrl {
                    url: format!("data:image/{};base64,{bytes}", img.format),
                    detail: None,
                },
                extra: Extra::new(),
            })),
            None => {
                w.push(Warning::new(
                    field.to_owned(),
                    "only inline image bytes can be sent to OpenAI",
                ));
                None
            }
        },
        ContentBlock::Document(d) => {
            let media = DOCUMENT_FORMATS
                .iter()
                .find(|(_, f)| *f == d.format)
                .map(|(m, _)| *m);
            match (media, d.source.bytes) {
                (Some(media), Some(bytes)) => Some(ContentPart::File(FilePart {
                    file: FileRef {
                        filename: Some(format!("{}.{}", d.name, d.format)),
                        file_data: Some(format!("data:{media};base64,{bytes}")),
                        file_id: None,
                    },
                    extra: Extra::new(),
                })),
                _ => {
                    w.push(Warning::new(
                        field.to_owned(),
                        "document not supported by OpenAI",
                    ));
                    None
                }
            }
        }
        other => {
            w.push(Warning::new(
                format!("{field}.{}", other.kind()),
                "block type not supported by OpenAI",
            ));
            None
        }
    }
}

/// Marks the last part with `cache_control: {"type": "ephemeral"}` (a `cachePoint` after it).
pub(super) fn mark_cached(parts: &mut [ContentPart]) {
    match parts.last_mut() {
        Some(ContentPart::Text(t)) => t.cache_control = Some(CacheControl::ephemeral()),
        Some(ContentPart::ImageUrl(ImageUrlPart { extra, .. }))
        | Some(ContentPart::File(FilePart { extra, .. })) => {
            if let Ok(v) = serde_json::to_value(CacheControl::ephemeral()) {
                extra.insert("cache_control".to_owned(), v);
            }
        }
        _ => {}
    }
}

/// Tool result content as OpenAI tool message text: texts joined, JSON as its text.
pub(super) fn tool_result_text(
    content: Vec<ToolResultContent>,
    field: &str,
    w: &mut Vec<Warning>,
) -> String {
    let mut out = String::new();
    for (k, c) in content.into_iter().enumerate() {
        match c {
            ToolResultContent::Text(t) => out.push_str(&t),
            ToolResultContent::Json(v) => out.push_str(&v.to_string()),
            _ => w.push(Warning::new(
                format!("{field}.content[{k}]"),
                "only text and JSON tool results can be sent to OpenAI",
            )),
        }
    }
    out
}
