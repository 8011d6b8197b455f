//! OpenAI messages → Gemini `systemInstruction` and contents: system and developer messages
//! are hoisted to `systemInstruction`; assistant turns become `model` turns with their tool
//! calls as `functionCall` parts; consecutive tool messages become one `user` turn of
//! `functionResponse` parts (named after the call they answer); images become inline or file
//! data.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::model::{
    Blob, Content, Extra, FileData, FunctionCall, FunctionResponse, Part, ROLE_MODEL, ROLE_USER,
};
use super::split_call_id;
use crate::FormatError;
use crate::translate::{ChatContent, ChatMessage, ChatRole, ContentPart, Warning};

pub(super) type Contents = (Option<Content>, Vec<Content>);

pub(super) fn contents(
    msgs: Vec<ChatMessage>,
    w: &mut Vec<Warning>,
) -> Result<Contents, FormatError> {
    let mut system: Vec<Part> = Vec::new();
    let mut out: Vec<Content> = Vec::with_capacity(msgs.len());
    // Gemini's function responses carry the function's name, OpenAI's tool messages only the
    // call id: remember the names of the calls made so far.
    let mut names: HashMap<String, String> = HashMap::new();
    // The last content holds function responses (parallel results go into one turn).
    let mut response_turn = false;
    for (i, m) in msgs.into_iter().enumerate() {
        if m.name.is_some() && m.role != ChatRole::Tool {
            w.push(Warning::new(
                format!("messages[{i}].name"),
                "Gemini has no message names",
            ));
        }
        for key in m.extra.keys() {
            w.push(Warning::new(
                format!("messages[{i}].{key}"),
                "not supported by Gemini",
            ));
        }
        match m.role {
            ChatRole::System | ChatRole::Developer => {
                response_turn = false;
                system.extend(parts(m.content, i, w));
            }
            ChatRole::User => {
                response_turn = false;
                push_turn(&mut out, ROLE_USER, parts(m.content, i, w), i, w);
            }
            ChatRole::Assistant => {
                response_turn = false;
                if m.reasoning_content.is_some() {
                    w.push(Warning::new(
                        format!("messages[{i}].reasoning_content"),
                        "Gemini does not take thoughts back",
                    ));
                }
                let mut p = parts(m.content, i, w);
                if let Some(r) = m.refusal {
                    p.push(Part::text(r));
                }
                for call in m.tool_calls.into_iter().flatten() {
                    let signature = split_call_id(&call.id).1;
                    names.insert(call.id.clone(), call.function.name.clone());
                    p.push(Part {
                        thought_signature: signature.map(str::to_owned),
                        function_call: Some(FunctionCall {
                            // Gemini's request side refuses `id` ("Unknown name \"id\" at
                            // 'contents[..].parts[..].function_call'"); it pairs calls and
                            // responses by name and order.
                            id: None,
                            name: call.function.name,
                            args: arguments(&call.function.arguments)?,
                            extra: Extra::new(),
                        }),
                        ..Part::default()
                    });
                }
                push_turn(&mut out, ROLE_MODEL, p, i, w);
            }
            ChatRole::Tool => {
                let call_id = m.tool_call_id.unwrap_or_default();
                let Some(name) = names.get(&call_id).cloned().or(m.name) else {
                    return Err(FormatError::InvalidValue {
                        param: "messages",
                        reason: "a tool message's tool_call_id matches no earlier assistant tool \
                                 call; Gemini needs the function's name.",
                    });
                };
                let output = match m.content {
                    None => String::new(),
                    Some(ChatContent::Text(s)) => s,
                    Some(ChatContent::Parts(ps)) => ps
                        .into_iter()
                        .filter_map(|p| match p {
                            ContentPart::Text(t) => Some(t.text),
                            _ => {
                                w.push(Warning::new(
                                    format!("messages[{i}].content"),
                                    "only text tool results can be sent to Gemini",
                                ));
                                None
                            }
                        })
                        .collect(),
                };
                let part = Part {
                    function_response: Some(FunctionResponse {
                        id: None,
                        name,
                        response: json!({ "output": output }),
                        extra: Extra::new(),
                    }),
                    ..Part::default()
                };
                match out.last_mut() {
                    Some(last) if response_turn => last.parts.push(part),
                    _ => {
                        out.push(Content::new(ROLE_USER, vec![part]));
                        response_turn = true;
                    }
                }
            }
            ChatRole::Function | ChatRole::Other(_) => w.push(Warning::new(
                format!("messages[{i}]"),
                "message role not supported by Gemini",
            )),
        }
    }
    let system = (!system.is_empty()).then(|| Content {
        role: None,
        parts: system,
        extra: Extra::new(),
    });
    Ok((system, out))
}

/// Gemini refuses a content without parts, so an empty message is left out (and reported).
fn push_turn(out: &mut Vec<Content>, role: &str, parts: Vec<Part>, i: usize, w: &mut Vec<Warning>) {
    if parts.is_empty() {
        w.push(Warning::new(
            format!("messages[{i}]"),
            "an empty message cannot be sent to Gemini",
        ));
    } else {
        out.push(Content::new(role, parts));
    }
}

fn arguments(args: &str) -> Result<Value, FormatError> {
    if args.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(FormatError::InvalidValue {
            param: "messages.tool_calls.function.arguments",
            reason: "tool call arguments must be a JSON object to be sent to Gemini.",
        }),
    }
}

fn parts(c: Option<ChatContent>, i: usize, w: &mut Vec<Warning>) -> Vec<Part> {
    match c {
        None => Vec::new(),
        Some(ChatContent::Text(s)) if s.is_empty() => Vec::new(),
        Some(ChatContent::Text(s)) => vec![Part::text(s)],
        Some(ChatContent::Parts(ps)) => ps
            .into_iter()
            .enumerate()
            .filter_map(|(j, p)| part(p, i, j, w))
            .collect(),
    }
}

fn part(p: ContentPart, i: usize, j: usize, w: &mut Vec<Warning>) -> Option<Part> {
    let field = || format!("messages[{i}].content[{j}]");
    match p {
        ContentPart::Text(t) => {
            if t.cache_control.is_some() {
                w.push(Warning::new(
                    format!("{}.cache_control", field()),
                    "Gemini caches implicitly",
                ));
            }
            for key in t.extra.keys() {
                w.push(Warning::new(
                    format!("{}.{key}", field()),
                    "not supported by Gemini",
                ));
            }
            Some(Part::text(t.text))
        }
        ContentPart::ImageUrl(img) => {
            if img.image_url.detail.is_some() {
                w.push(Warning::new(
                    format!("{}.image_url.detail", field()),
                    "Gemini has no image detail setting",
                ));
            }
            let url = img.image_url.url;
            if url.starts_with("data:") {
                return match inline(&url) {
                    Some(blob) => Some(Part {
                        inline_data: Some(blob),
                        ..Part::default()
                    }),
                    None => {
                        w.push(Warning::new(field(), "only base64 data URLs are supported"));
                        None
                    }
                };
            }
            Some(Part {
                file_data: Some(FileData {
                    mime_type: mime_from_extension(&url).map(str::to_owned),
                    file_uri: url,
                }),
                ..Part::default()
            })
        }
        ContentPart::File(f) => match f.file.file_data.as_deref().and_then(inline) {
            Some(blob) => Some(Part {
                inline_data: Some(blob),
                ..Part::default()
            }),
            None => {
                w.push(Warning::new(
                    field(),
                    "only inline (file_data) files can be sent to Gemini",
                ));
                None
            }
        },
        ContentPart::Other(_) => {
            w.push(Warning::new(
                field(),
                "content part type not supported by Gemini",
            ));
            None
        }
    }
}

/// `data:<mime>;base64,<data>` as inline data.
fn inline(url: &str) -> Option<Blob> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    Some(Blob {
        mime_type: mime.to_owned(),
        data: data.to_owned(),
    })
}

/// Gemini wants a MIME type with a file URI; guess it from the URL's extension.
fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}
