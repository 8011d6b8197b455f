//! Converse request → OpenAI chat request, so a Bedrock client can use an OpenAI-compatible
//! deployment.

use serde_json::Value;

use super::model::{ContentBlock, ConverseRequest, Role, SystemContentBlock, Tool, ToolChoice};
use super::parts::{mark_cached, part, tool_result_text};
use crate::FormatError;
use crate::translate::{
    ChatContent, ChatMessage, ChatRequest, ChatRole, ChatTool, ChatToolChoice, ContentPart, Extra,
    FunctionCall, FunctionDef, NamedToolChoice, Stop, TextPart, ToolCall, ToolName, Translated,
    Warning,
};

/// `reasoning_effort` for an Anthropic thinking budget (the inverse of
/// [`crate::translate::thinking_budget`]'s steps).
fn effort(budget: u64) -> &'static str {
    match budget {
        0..=2_048 => "low",
        2_049..=8_192 => "medium",
        _ => "high",
    }
}

/// Translate a Converse request for an OpenAI-compatible deployment serving `model`.
/// Tool results become tool messages placed before the rest of their user message (OpenAI
/// wants them right after the assistant's tool calls); a `cachePoint` becomes `cache_control`
/// on the part before it.
pub fn converse_to_openai_request(
    req: ConverseRequest,
    model: &str,
) -> Result<Translated<ChatRequest>, FormatError> {
    let mut w = Vec::new();
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    let mut system: Vec<ContentPart> = Vec::new();
    for (k, b) in req.system.into_iter().flatten().enumerate() {
        match b {
            SystemContentBlock::Text(text) => system.push(ContentPart::Text(TextPart {
                text,
                cache_control: None,
                extra: Extra::new(),
            })),
            SystemContentBlock::CachePoint(_) => mark_cached(&mut system),
            SystemContentBlock::Other(_) => w.push(Warning::new(
                format!("system[{k}]"),
                "system block not supported by OpenAI",
            )),
        }
    }
    if !system.is_empty() {
        messages.push(ChatMessage::new(ChatRole::System, Some(simplify(system))));
    }
    for (i, m) in req.messages.into_iter().enumerate() {
        for key in m.extra.keys() {
            w.push(Warning::new(
                format!("messages[{i}].{key}"),
                "not supported by OpenAI",
            ));
        }
        let mut parts = Vec::new();
        let mut calls = Vec::new();
        let mut reasoning: Option<String> = None;
        for (j, b) in m.content.into_iter().enumerate() {
            let field = format!("messages[{i}].content[{j}]");
            match b {
                ContentBlock::CachePoint(_) => mark_cached(&mut parts),
                ContentBlock::ToolResult(r) if m.role == Role::User => {
                    let mut msg = ChatMessage::new(
                        ChatRole::Tool,
                        Some(ChatContent::Text(tool_result_text(
                            r.content, &field, &mut w,
                        ))),
                    );
                    msg.tool_call_id = Some(r.tool_use_id);
                    messages.push(msg);
                }
                ContentBlock::ToolUse(t) if m.role == Role::Assistant => calls.push(ToolCall {
                    id: t.tool_use_id,
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: t.name,
                        arguments: t.input.to_string(),
                    },
                }),
                ContentBlock::ReasoningContent(r) if m.role == Role::Assistant => {
                    if let Some(t) = r.reasoning_text {
                        reasoning.get_or_insert_with(String::new).push_str(&t.text);
                    }
                    w.push(Warning::new(
                        field,
                        "reasoning signatures have no OpenAI counterpart",
                    ));
                }
                other => parts.extend(part(other, &field, &mut w)),
            }
        }
        match m.role {
            Role::User => {
                if !parts.is_empty() {
                    messages.push(ChatMessage::new(ChatRole::User, Some(simplify(parts))));
                }
            }
            Role::Assistant => {
                let content = (!parts.is_empty()).then(|| simplify(parts));
                let mut msg = ChatMessage::new(ChatRole::Assistant, content);
                msg.tool_calls = (!calls.is_empty()).then_some(calls);
                msg.reasoning_content = reasoning;
                messages.push(msg);
            }
        }
    }

    let mut tools = Vec::new();
    let mut tool_choice = None;
    if let Some(config) = req.tool_config {
        for (k, t) in config.tools.into_iter().enumerate() {
            match t {
                Tool::ToolSpec(spec) => tools.push(ChatTool {
                    kind: "function".to_owned(),
                    function: FunctionDef {
                        name: spec.name,
                        description: spec.description,
                        parameters: Some(spec.input_schema.json),
                        strict: None,
                    },
                    extra: Extra::new(),
                }),
                Tool::CachePoint(_) => {}
                Tool::Other(_) => w.push(Warning::new(
                    format!("toolConfig.tools[{k}]"),
                    "tool type not supported by OpenAI",
                )),
            }
        }
        tool_choice = match config.tool_choice {
            None => None,
            Some(ToolChoice::Auto(_)) => Some(ChatToolChoice::Mode("auto".to_owned())),
            Some(ToolChoice::Any(_)) => Some(ChatToolChoice::Mode("required".to_owned())),
            Some(ToolChoice::Tool(t)) => Some(ChatToolChoice::Named(NamedToolChoice {
                kind: "function".to_owned(),
                function: ToolName { name: t.name },
            })),
            Some(ToolChoice::Other(_)) => {
                w.push(Warning::new(
                    "toolConfig.toolChoice",
                    "not supported by OpenAI",
                ));
                None
            }
        };
    }

    let mut reasoning_effort = None;
    if let Some(Value::Object(fields)) = req.additional_model_request_fields {
        for (key, value) in fields {
            let budget = (key == "thinking")
                .then(|| value.get("budget_tokens").and_then(Value::as_u64))
                .flatten()
                .filter(|_| value.get("type").and_then(Value::as_str) == Some("enabled"));
            match budget {
                Some(b) => reasoning_effort = Some(effort(b).to_owned()),
                None => w.push(Warning::new(
                    format!("additionalModelRequestFields.{key}"),
                    "not supported by OpenAI",
                )),
            }
        }
    }
    for key in req.extra.keys() {
        w.push(Warning::new(key.clone(), "not supported by OpenAI"));
    }
    let config = req.inference_config.unwrap_or_default();
    for key in config.extra.keys() {
        w.push(Warning::new(
            format!("inferenceConfig.{key}"),
            "not supported by OpenAI",
        ));
    }
    Ok(Translated {
        value: ChatRequest {
            model: model.to_owned(),
            messages,
            max_tokens: config.max_tokens,
            temperature: config.temperature,
            top_p: config.top_p,
            stop: config.stop_sequences.map(Stop::Many),
            tools: (!tools.is_empty()).then_some(tools),
            tool_choice,
            reasoning_effort,
            ..ChatRequest::default()
        },
        warnings: w,
    })
}

/// One uncached text part is sent as a plain string.
fn simplify(mut parts: Vec<ContentPart>) -> ChatContent {
    if parts.len() == 1
        && matches!(&parts[0], ContentPart::Text(t) if t.cache_control.is_none())
        && let Some(ContentPart::Text(t)) = parts.pop()
    {
        return ChatContent::Text(t.text);
    }
    ChatContent::Parts(parts)
}
