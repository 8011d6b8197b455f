//! Non-streaming responses, both directions.

use serde_json::Value;

use super::openai_model::{
    ChatCompletion, ChatContent, ChatMessage, ChatRole, ChatUsage, Choice, ContentPart, Extra,
    FunctionCall, PromptTokensDetails, ToolCall, function_type,
};
use super::{Translated, Warning, finish_reason, stop_reason};
use crate::FormatError;
use crate::anthropic::{
    ContentBlock, MessagesResponse, MessagesUsage, Role, StopReason, TextBlock, ThinkingBlock,
    ToolUseBlock,
};

/// OpenAI usage for Anthropic usage: `prompt_tokens` counts every prompt token (Anthropic's
/// `input_tokens` plus cache reads and writes), `cached_tokens` the cache reads.
pub(crate) fn openai_usage(u: &MessagesUsage) -> ChatUsage {
    let cache_read = u.cache_read_input_tokens.unwrap_or(0);
    let prompt = u
        .input_tokens
        .saturating_add(cache_read)
        .saturating_add(u.cache_creation_input_tokens.unwrap_or(0));
    ChatUsage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt.saturating_add(u.output_tokens),
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: cache_read,
        }),
        completion_tokens_details: None,
    }
}

/// Anthropic usage for OpenAI usage: cached tokens move out of `input_tokens` into
/// `cache_read_input_tokens`.
pub(crate) fn anthropic_usage(u: &ChatUsage) -> MessagesUsage {
    let cached = u
        .prompt_tokens_details
        .as_ref()
        .map_or(0, |d| d.cached_tokens)
        .min(u.prompt_tokens);
    MessagesUsage {
        input_tokens: u.prompt_tokens - cached,
        output_tokens: u.completion_tokens,
        cache_creation_input_tokens: Some(0),
        cache_read_input_tokens: Some(cached),
        cache_creation: None,
        extra: Extra::new(),
    }
}

/// An Anthropic response as a `chat.completion`. `json_tool` is
/// [`super::ToAnthropic::json_tool`]: that tool's input becomes the message content.
/// Thinking goes to `message.reasoning_content`.
pub fn anthropic_to_openai_response(
    resp: MessagesResponse,
    created: u64,
    json_tool: Option<&str>,
) -> Translated<ChatCompletion> {
    let mut w = Vec::new();
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut calls = Vec::new();
    let mut answered_by_json_tool = false;
    for (j, b) in resp.content.into_iter().enumerate() {
        match b {
            ContentBlock::Text(t) => text.get_or_insert_with(String::new).push_str(&t.text),
            ContentBlock::ToolUse(t) if Some(t.name.as_str()) == json_tool => {
                answered_by_json_tool = true;
                text.get_or_insert_with(String::new)
                    .push_str(&t.input.to_string());
            }
            ContentBlock::ToolUse(t) => calls.push(ToolCall {
                id: t.id,
                kind: function_type(),
                function: FunctionCall {
                    name: t.name,
                    arguments: t.input.to_string(),
                },
            }),
            ContentBlock::Thinking(t) => reasoning
                .get_or_insert_with(String::new)
                .push_str(&t.thinking),
            other => w.push(Warning::new(
                format!("content[{j}].{}", other.kind()),
                "block type not supported by OpenAI",
            )),
        }
    }
    let finish = if answered_by_json_tool && resp.stop_reason == Some(StopReason::ToolUse) {
        "stop"
    } else {
        finish_reason(resp.stop_reason.as_ref())
    };
    let mut message = ChatMessage::new(ChatRole::Assistant, text.map(ChatContent::Text));
    message.tool_calls = (!calls.is_empty()).then_some(calls);
    message.reasoning_content = reasoning;
    Translated {
        value: ChatCompletion {
            id: resp.id,
            object: "chat.completion".to_owned(),
            created,
            model: resp.model,
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

/// A `chat.completion` as an Anthropic response (the first choice). `reasoning_content` becomes
/// a thinking block with an empty signature; tool call arguments that are not JSON are kept as a
/// JSON string input (with a warning).
pub fn openai_to_anthropic_response(
    resp: ChatCompletion,
) -> Result<Translated<MessagesResponse>, FormatError> {
    let mut w = Vec::new();
    if resp.choices.len() > 1 {
        w.push(Warning::new(
            "choices",
            "Anthropic responses have one choice",
        ));
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
        content.push(ContentBlock::Thinking(ThinkingBlock {
            thinking: r,
            signature: String::new(),
            extra: Extra::new(),
        }));
    }
    match m.content {
        None => {}
        Some(ChatContent::Text(s)) if s.is_empty() => {}
        Some(ChatContent::Text(s)) => content.push(ContentBlock::text(s)),
        Some(ChatContent::Parts(parts)) => {
            for (j, p) in parts.into_iter().enumerate() {
                match p {
                    ContentPart::Text(t) => content.push(ContentBlock::Text(TextBlock {
                        text: t.text,
                        cache_control: None,
                        extra: Extra::new(),
                    })),
                    _ => w.push(Warning::new(
                        format!("choices[0].message.content[{j}]"),
                        "content part type not supported by Anthropic",
                    )),
                }
            }
        }
    }
    let refused = m.refusal.is_some();
    if let Some(r) = m.refusal {
        content.push(ContentBlock::text(r));
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
            id: call.id,
            name: call.function.name,
            input,
            cache_control: None,
            extra: Extra::new(),
        }));
    }
    let stop = if refused {
        StopReason::Refusal
    } else {
        stop_reason(choice.finish_reason.as_deref())
    };
    Ok(Translated {
        value: MessagesResponse {
            id: resp.id,
            kind: "message".to_owned(),
            role: Role::Assistant,
            content,
            model: resp.model,
            stop_reason: Some(stop),
            stop_sequence: None,
            usage: resp.usage.as_ref().map(anthropic_usage).unwrap_or_default(),
            extra: Extra::new(),
        },
        warnings: w,
    })
}
