//! Anthropic Messages request → OpenAI chat request, so an Anthropic SDK can use an
//! OpenAI-compatible provider.

use serde_json::Value;

use super::Warning;
use super::assistant::AnswerBuilder;
use super::openai_model::{
    ChatContent, ChatMessage, ChatRequest, ChatRole, ChatTool, ChatToolChoice, ContentPart, Extra,
    FilePart, FileRef, FunctionDef, ImageUrl, ImageUrlPart, NamedToolChoice, Stop, StreamOptions,
    TextPart, ToolName, function_type,
};
use crate::FormatError;
use crate::anthropic::{
    Content, ContentBlock, MessagesRequest, Role, Source, System, Thinking, ToolChoice,
};

/// A translated request.
#[derive(Clone, Debug, PartialEq)]
pub struct ToOpenAi {
    pub request: ChatRequest,
    pub warnings: Vec<Warning>,
}

/// `reasoning_effort` for an Anthropic thinking budget (the inverse of
/// [`super::thinking_budget`]'s steps).
fn effort(budget: u64) -> &'static str {
    match budget {
        0..=2_048 => "low",
        2_049..=8_192 => "medium",
        _ => "high",
    }
}

/// Translate an Anthropic request for an OpenAI-compatible deployment serving `model`.
/// Streams ask for `include_usage` so the final usage reaches the Anthropic client.
pub fn anthropic_to_openai_request(
    req: MessagesRequest,
    model: &str,
) -> Result<ToOpenAi, FormatError> {
    let mut w = Vec::new();
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    match req.system {
        None => {}
        Some(System::Text(s)) => messages.push(ChatMessage::new(
            ChatRole::System,
            Some(ChatContent::Text(s)),
        )),
        Some(System::Blocks(blocks)) => {
            let parts = parts(blocks, "system", &mut w);
            messages.push(ChatMessage::new(ChatRole::System, Some(simplify(parts))));
        }
    }
    for (i, m) in req.messages.into_iter().enumerate() {
        for key in m.extra.keys() {
            w.push(Warning::new(
                format!("messages[{i}].{key}"),
                "not supported by OpenAI",
            ));
        }
        match m.role {
            Role::User => user(m.content, i, &mut messages, &mut w),
            Role::Assistant => messages.push(assistant(m.content, i, &mut w)),
        }
    }

    let mut tools = Vec::new();
    for (i, t) in req.tools.into_iter().flatten().enumerate() {
        if !t.is_client_tool() {
            w.push(Warning::new(
                format!("tools[{i}]"),
                "server tools cannot be run by an OpenAI-compatible provider",
            ));
            continue;
        }
        let mut extra = Extra::new();
        if let Some(cc) = t.cache_control
            && let Ok(v) = serde_json::to_value(cc)
        {
            extra.insert("cache_control".into(), v);
        }
        for key in t.extra.keys() {
            w.push(Warning::new(
                format!("tools[{i}].{key}"),
                "not supported by OpenAI",
            ));
        }
        tools.push(ChatTool {
            kind: function_type(),
            function: FunctionDef {
                name: t.name,
                description: t.description,
                parameters: t.input_schema,
                strict: None,
            },
            extra,
        });
    }
    let parallel_tool_calls = req
        .tool_choice
        .as_ref()
        .filter(|c| c.disables_parallel_tool_use())
        .map(|_| false);
    let tool_choice = req.tool_choice.map(|c| match c {
        ToolChoice::Auto { .. } => ChatToolChoice::Mode("auto".to_owned()),
        ToolChoice::Any { .. } => ChatToolChoice::Mode("required".to_owned()),
        ToolChoice::None => ChatToolChoice::Mode("none".to_owned()),
        ToolChoice::Tool { name, .. } => ChatToolChoice::Named(NamedToolChoice {
            kind: function_type(),
            function: ToolName { name },
        }),
    });
    let reasoning_effort = match req.thinking {
        None | Some(Thinking::Disabled) => None,
        Some(Thinking::Enabled { budget_tokens }) => Some(effort(budget_tokens).to_owned()),
        Some(Thinking::Other(_)) => {
            w.push(Warning::new(
                "thinking",
                "thinking mode not supported by OpenAI",
            ));
            None
        }
    };
    if req.top_k.is_some() {
        w.push(Warning::new("top_k", "not supported by OpenAI"));
    }
    let mut user_id = None;
    if let Some(meta) = req.metadata {
        user_id = meta.user_id;
        for key in meta.extra.keys() {
            w.push(Warning::new(
                format!("metadata.{key}"),
                "not supported by OpenAI",
            ));
        }
    }
    for (key, value) in &req.extra {
        if !value.is_null() {
            w.push(Warning::new(key.clone(), "not supported by OpenAI"));
        }
    }
    let stream = req.stream.filter(|s| *s);
    let request = ChatRequest {
        model: model.to_owned(),
        messages,
        max_completion_tokens: Some(req.max_tokens),
        max_tokens: None,
        temperature: req.temperature,
        top_p: req.top_p,
        n: None,
        stop: req.stop_sequences.map(Stop::Many),
        stream,
        stream_options: stream.map(|_| StreamOptions {
            include_usage: Some(true),
            extra: Extra::new(),
        }),
        tool_choice: tool_choice.filter(|_| !tools.is_empty()),
        tools: (!tools.is_empty()).then_some(tools),
        parallel_tool_calls,
        response_format: None,
        reasoning_effort,
        user: user_id,
        extra: Extra::new(),
    };
    Ok(ToOpenAi {
        request,
        warnings: w,
    })
}

/// A user turn: its tool results become `tool` messages (first, in order), the rest one `user`
/// message.
fn user(content: Content, i: usize, out: &mut Vec<ChatMessage>, w: &mut Vec<Warning>) {
    let blocks = match content {
        Content::Text(s) => {
            out.push(ChatMessage::new(ChatRole::User, Some(ChatContent::Text(s))));
            return;
        }
        Content::Blocks(b) => b,
    };
    let mut rest = Vec::new();
    for (j, b) in blocks.into_iter().enumerate() {
        match b {
            ContentBlock::ToolResult(r) => {
                let field = format!("messages[{i}].content[{j}]");
                if r.is_error == Some(true) {
                    w.push(Warning::new(
                        format!("{field}.is_error"),
                        "OpenAI tool messages have no error flag",
                    ));
                }
                let content = match r.content {
                    None => ChatContent::Text(String::new()),
                    Some(Content::Text(s)) => ChatContent::Text(s),
                    Some(Content::Blocks(bs)) => {
                        let parts = parts(bs, &field, w)
                            .into_iter()
                            .filter(|p| {
                                let text = matches!(p, ContentPart::Text(_));
                                if !text {
                                    w.push(Warning::new(
                                        format!("{field}.content"),
                                        "OpenAI tool results carry text only",
                                    ));
                                }
                                text
                            })
                            .collect();
                        simplify(parts)
                    }
                };
                let mut m = ChatMessage::new(ChatRole::Tool, Some(content));
                m.tool_call_id = Some(r.tool_use_id);
                out.push(m);
            }
            other => rest.push((j, other)),
        }
    }
    if !rest.is_empty() {
        let mut parts_out = Vec::with_capacity(rest.len());
        for (j, b) in rest {
            parts_out.extend(parts(vec![b], &format!("messages[{i}].content[{j}]"), w));
        }
        out.push(ChatMessage::new(ChatRole::User, Some(simplify(parts_out))));
    }
}

fn assistant(content: Content, i: usize, w: &mut Vec<Warning>) -> ChatMessage {
    let blocks = match content {
        Content::Text(s) => {
            return ChatMessage::new(ChatRole::Assistant, Some(ChatContent::Text(s)));
        }
        Content::Blocks(b) => b,
    };
    let mut answer = AnswerBuilder::default();
    for (j, b) in blocks.into_iter().enumerate() {
        let field = || format!("messages[{i}].content[{j}]");
        match b {
            ContentBlock::Text(t) => {
                if t.cache_control.is_some() {
                    w.push(Warning::new(
                        format!("{}.cache_control", field()),
                        "OpenAI caches prompts automatically",
                    ));
                }
                answer.text(&t.text);
            }
            ContentBlock::ToolUse(t) => answer.tool_call(t.id, t.name, t.input.to_string()),
            ContentBlock::Thinking(_) | ContentBlock::RedactedThinking(_) => w.push(Warning::new(
                field(),
                "OpenAI-compatible providers do not take thinking back",
            )),
            _ => w.push(Warning::new(field(), "block type not supported by OpenAI")),
        }
    }
    answer.message()
}

/// OpenAI content parts for Anthropic blocks (text, images, documents); `field` names them in
/// warnings.
fn parts(blocks: Vec<ContentBlock>, field: &str, w: &mut Vec<Warning>) -> Vec<ContentPart> {
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        match b {
            // Kept in OpenRouter's convention: a provider that can use it (Bedrock's
            // cachePoint) does; `strip_cache_control` removes and reports it for the others.
            ContentBlock::Text(t) => out.push(ContentPart::Text(TextPart {
                text: t.text,
                cache_control: t.cache_control,
                extra: Extra::new(),
            })),
            ContentBlock::Image(img) => match img.source {
                Source::Base64 { media_type, data } => {
                    out.push(image(format!("data:{media_type};base64,{data}")))
                }
                Source::Url { url } => out.push(image(url)),
                Source::Other(_) => w.push(Warning::new(
                    field.to_owned(),
                    "image source not supported by OpenAI",
                )),
            },
            ContentBlock::Document(d) => match d.source {
                Source::Base64 { media_type, data } => {
                    let filename = d
                        .extra
                        .get("title")
                        .and_then(Value::as_str)
                        .unwrap_or("document.pdf")
                        .to_owned();
                    out.push(ContentPart::File(FilePart {
                        file: FileRef {
                            filename: Some(filename),
                            file_data: Some(format!("data:{media_type};base64,{data}")),
                            file_id: None,
                        },
                        extra: Extra::new(),
                    }));
                }
                _ => w.push(Warning::new(
                    field.to_owned(),
                    "document source not supported by OpenAI",
                )),
            },
            other => w.push(Warning::new(
                format!("{field}.{}", other.kind()),
                "block type not supported here by OpenAI",
            )),
        }
    }
    out
}

fn image(url: String) -> ContentPart {
    ContentPart::ImageUrl(ImageUrlPart {
        image_url: ImageUrl { url, detail: None },
        extra: Extra::new(),
    })
}

/// One text part becomes a plain string, which every OpenAI-compatible server accepts.
fn simplify(mut parts: Vec<ContentPart>) -> ChatContent {
    if parts.len() == 1
        && matches!(&parts[0], ContentPart::Text(t) if t.cache_control.is_none())
        && let Some(ContentPart::Text(t)) = parts.pop()
    {
        return ChatContent::Text(t.text);
    }
    ChatContent::Parts(parts)
}

/// Removes the Anthropic `cache_control` marks [`anthropic_to_openai_request`] carries (on
/// text parts and tools, OpenRouter's convention) for a provider that cannot use them,
/// reporting each: OpenAI-compatible servers cache on their own and some refuse unknown fields.
pub fn strip_cache_control(req: &mut ChatRequest, why: &'static str) -> Vec<Warning> {
    let mut w = Vec::new();
    for (i, m) in req.messages.iter_mut().enumerate() {
        if let Some(ChatContent::Parts(parts)) = &mut m.content {
            for (j, p) in parts.iter_mut().enumerate() {
                if let ContentPart::Text(t) = p
                    && t.cache_control.take().is_some()
                {
                    w.push(Warning::new(
                        format!("messages[{i}].content[{j}].cache_control"),
                        why,
                    ));
                }
            }
        }
    }
    for (i, t) in req.tools.iter_mut().flatten().enumerate() {
        if t.extra.remove("cache_control").is_some() {
            w.push(Warning::new(format!("tools[{i}].cache_control"), why));
        }
    }
    w
}
