//! Non-streaming responses, both directions.

use serde_json::Value;

use super::model::{
    ContentBlock, ConverseOutput, ConverseResponse, Extra, Message, Metrics, ReasoningBlock,
    ReasoningText, Role, StopReason, ToolUseBlock,
};
use super::usage::{converse_usage, openai_usage};
use crate::FormatError;
use crate::translate::{
    ChatCompletion, ChatContent, ChatMessage, ChatRole, Choice, ContentPart, FunctionCall,
    ToolCall, Translated, Warning,
};

/// OpenAI `finish_reason` for a Bedrock `stopReason`.
pub(crate) fn finish_reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::GuardrailIntervened | StopReason::ContentFiltered => "content_filter",
        StopReason::EndTurn | StopReason::StopSequence | StopReason::Other(_) => "stop",
    }
}

/// Bedrock `stopReason` for an OpenAI `finish_reason`.
pub(crate) fn stop_reason(finish: Option<&str>) -> StopReason {
    match finish {
        Some("length") => StopReason::MaxTokens,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        Some("content_filter") => StopReason::ContentFiltered,
        _ => StopReason::EndTurn,
    }
}

/// A Converse response as a `chat.completion` for the OpenAI client. `model`, `id` and
/// `created` fill the fields Bedrock does not return; `json_tool` is
/// [`ToConverse::json_tool`](super::ToConverse::json_tool): that tool's input becomes the
/// message content. Reasoning goes to `message.reasoning_content`.
pub fn converse_to_openai_response(
    resp: ConverseResponse,
    model: &str,
    id: &str,
    created: u64,
    json_tool: Option<&str>,
) -> Translated<ChatCompletion> {
    let mut w = Vec::new();
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut calls = Vec::new();
    let mut answered_by_json_tool = false;
    let content = resp.output.message.map(|m| m.content).unwrap_or_default();
    for (j, b) in content.into_iter().enumerate() {
        match b {
            ContentBlock::Text(t) => text.get_or_insert_with(String::new).push_str(&t),
            ContentBlock::ToolUse(t) if Some(t.name.as_str()) == json_tool => {
                answered_by_json_tool = true;
                text.get_or_insert_with(String::new)
                    .push_str(&t.input.to_string());
            }
            ContentBlock::ToolUse(t) => calls.push(ToolCall {
                id: t.tool_use_id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: t.name,
                    arguments: t.input.to_string(),
                },
            }),
            ContentBlock::ReasoningContent(r) => match r.reasoning_text {
                Some(t) => reasoning.get_or_insert_with(String::new).push_str(&t.text),
                None => w.push(Warning::new(
                    format!("output.message.content[{j}].reasoningContent"),
                    "redacted reasoning has no OpenAI counterpart",
                )),
            },
            other => w.push(Warning::new(
                format!("output.message.content[{j}].{}", other.kind()),
                "block type not supported by OpenAI",
            )),
        }
    }
    let finish = if answered_by_json_tool && resp.stop_reason == StopReason::ToolUse {
        "stop"
    } else {
        finish_reason(&resp.stop_reason)
    };
    let mut message = ChatMessage::new(ChatRole::Assistant, text.map(ChatContent::Text));
    message.tool_calls = (!calls.is_empty()).then_some(calls);
    message.reasoning_content = reasoning;
    Translated {
        value: ChatCompletion {
            id: id.to_owned(),
            object: "chat.completion".to_owned(),
            created,
            model: model.to_owned(),
            choices: vec![Choice {
                index: 0,
                message,
                finish_reason: Some(finish.to_owned()),
                extra: Extra::new(),
            }],
            usage: Some(openai_usage(&resp.usage)),
            extra: Extra::new(),
        },
        warnings: w,
    }
}

/// A `chat.completion` as a Converse response (the first choice). `reasoning_content` becomes
/// a reasoning block without a signature; tool call arguments that are not a JSON object are
/// kept as a JSON string input (with a warning).
pub fn openai_to_converse_response(
    resp: ChatCompletion,
) -> Result<Translated<ConverseResponse>, FormatError> {
    let mut w = Vec::new();
    if resp.choices.len() > 1 {
        w.push(Warning::new("choices", "Bedrock responses have one choice"));
    }
    let Some(choice) = resp.choices.into_iter().next() else {
        return Err(FormatError::InvalidValue {
            param: "choices",
            reason: "the provider returned no choices.",
        });
    };
    let m = choice.message;
    let mut content = Vec::new();
    if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
        content.push(ContentBlock::ReasoningContent(ReasoningBlock {
            reasoning_text: Some(ReasoningText {
                text: r,
                signature: None,
            }),
            ..ReasoningBlock::default()
        }));
    }
    match m.content {
        None => {}
        Some(ChatContent::Text(s)) if s.is_empty() => {}
        Some(ChatContent::Text(s)) => content.push(ContentBlock::Text(s)),
        Some(ChatContent::Parts(parts)) => {
            for (j, p) in parts.into_iter().enumerate() {
                match p {
                    ContentPart::Text(t) => content.push(ContentBlock::Text(t.text)),
                    _ => w.push(Warning::new(
                        format!("choices[0].message.content[{j}]"),
                        "content part type not supported by Bedrock",
                    )),
                }
            }
        }
    }
    let refused = m.refusal.is_some();
    if let Some(r) = m.refusal {
        content.push(ContentBlock::Text(r));
    }
    for (k, call) in m.tool_calls.into_iter().flatten().enumerate() {
        let input = match serde_json::from_str::<Value>(&call.function.arguments) {
            Ok(v @ Value::Object(_)) => v,
            _ if call.function.arguments.trim().is_empty() => Value::Object(Extra::new()),
            _ => {
                w.push(Warning::new(
                    format!("choices[0].message.tool_calls[{k}].function.arguments"),
                    "not a JSON object; passed on as a string",
                ));
                Value::String(call.function.arguments)
            }
        };
        content.push(ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: call.id,
            name: call.function.name,
            input,
            extra: Extra::new(),
        }));
    }
    let stop = if refused {
        StopReason::ContentFiltered
    } else {
        stop_reason(choice.finish_reason.as_deref())
    };
    Ok(Translated {
        value: ConverseResponse {
            output: ConverseOutput {
                message: Some(Message {
                    role: Role::Assistant,
                    content,
                    extra: Extra::new(),
                }),
                extra: Extra::new(),
            },
            stop_reason: stop,
            usage: resp.usage.as_ref().map(converse_usage).unwrap_or_default(),
            metrics: Some(Metrics::default()),
            extra: Extra::new(),
        },
        warnings: w,
    })
}
