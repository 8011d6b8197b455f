//! OpenAI content parts and tool definitions → Anthropic blocks and tools (the per-part half of
//! the request translation).

use serde_json::{Value, json};

use super::Warning;
use super::openai_model::{ChatContent, ChatTool, ContentPart};
use crate::anthropic::{
    CacheControl, Content, ContentBlock, DocumentBlock, Extra, ImageBlock, Source, TextBlock, Tool,
};

/// Message content: a string stays a string.
pub(super) fn content(c: Option<ChatContent>, i: usize, w: &mut Vec<Warning>) -> Content {
    match c {
        Some(ChatContent::Text(s)) => Content::Text(s),
        other => Content::Blocks(blocks(other, i, w)),
    }
}

pub(super) fn blocks(c: Option<ChatContent>, i: usize, w: &mut Vec<Warning>) -> Vec<ContentBlock> {
    match c {
        None => Vec::new(),
        Some(ChatContent::Text(s)) if s.is_empty() => Vec::new(),
        Some(ChatContent::Text(s)) => vec![ContentBlock::text(s)],
        Some(ChatContent::Parts(parts)) => parts
            .into_iter()
            .enumerate()
            .filter_map(|(j, p)| part(p, i, j, w))
            .collect(),
    }
}

fn part(p: ContentPart, i: usize, j: usize, w: &mut Vec<Warning>) -> Option<ContentBlock> {
    let field = || format!("messages[{i}].content[{j}]");
    match p {
        ContentPart::Text(t) => {
            for key in t.extra.keys() {
                w.push(Warning::new(
                    format!("{}.{key}", field()),
                    "not supported by Anthropic",
                ));
            }
            Some(ContentBlock::Text(TextBlock {
                text: t.text,
                cache_control: t.cache_control,
                extra: Extra::new(),
            }))
        }
        ContentPart::ImageUrl(img) => {
            let cache_control = cache_control_of(img.extra, &field(), w);
            if img.image_url.detail.is_some() {
                w.push(Warning::new(
                    format!("{}.image_url.detail", field()),
                    "Anthropic has no image detail setting",
                ));
            }
            let source = match parse_data_url(&img.image_url.url) {
                Some((media_type, data)) => Source::Base64 {
                    media_type: media_type.to_owned(),
                    data: data.to_owned(),
                },
                None if img.image_url.url.starts_with("data:") => {
                    w.push(Warning::new(field(), "only base64 data URLs are supported"));
                    return None;
                }
                None => Source::Url {
                    url: img.image_url.url,
                },
            };
            Some(ContentBlock::Image(ImageBlock {
                source,
                cache_control,
                extra: Extra::new(),
            }))
        }
        ContentPart::File(f) => {
            let cache_control = cache_control_of(f.extra, &field(), w);
            match f.file.file_data.as_deref().and_then(parse_data_url) {
                Some((media_type, data)) => {
                    let mut extra = Extra::new();
                    if let Some(name) = f.file.filename {
                        extra.insert("title".to_owned(), Value::String(name));
                    }
                    Some(ContentBlock::Document(DocumentBlock {
                        source: Source::Base64 {
                            media_type: media_type.to_owned(),
                            data: data.to_owned(),
                        },
                        cache_control,
                        extra,
                    }))
                }
                None => {
                    w.push(Warning::new(
                        field(),
                        "only inline (file_data) files can be sent to Anthropic",
                    ));
                    None
                }
            }
        }
        ContentPart::Other(_) => {
            w.push(Warning::new(
                field(),
                "content part type not supported by Anthropic",
            ));
            None
        }
    }
}

/// `cache_control` from a part's extra fields (OpenRouter's convention); anything else there is
/// reported.
fn cache_control_of(mut extra: Extra, field: &str, w: &mut Vec<Warning>) -> Option<CacheControl> {
    let cc = extra
        .remove("cache_control")
        .and_then(|v| serde_json::from_value(v).ok());
    for key in extra.keys() {
        w.push(Warning::new(
            format!("{field}.{key}"),
            "not supported by Anthropic",
        ));
    }
    cc
}

/// `data:<media type>;base64,<data>` → (media type, data).
pub(crate) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

pub(super) fn tool(t: ChatTool, i: usize, w: &mut Vec<Warning>) -> Option<Tool> {
    if t.kind != "function" {
        w.push(Warning::new(
            format!("tools[{i}]"),
            "only function tools can be sent to Anthropic",
        ));
        return None;
    }
    if t.function.strict.is_some() {
        w.push(Warning::new(
            format!("tools[{i}].function.strict"),
            "Anthropic has no strict tool schemas",
        ));
    }
    let cache_control = cache_control_of(t.extra, &format!("tools[{i}]"), w);
    Some(Tool {
        kind: None,
        name: t.function.name,
        description: t.function.description,
        input_schema: Some(
            t.function
                .parameters
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        ),
        cache_control,
        extra: Extra::new(),
    })
}
