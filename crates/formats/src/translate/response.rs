//! Non-streaming responses, both directions.

use serde_json::Value;

use super::assistant::{AnswerBuilder, AssistantParts, arguments_object, completion};
use super::openai_model::{ChatCompletion, ChatUsage, Extra, PromptTokensDetails};
use super::{Translated, Warning, finish_reason, stop_reason};
use crate::FormatError;
use crate::anthropic::{
    ContentBlock, MessagesResponse, MessagesUsage, Role, StopReason, ThinkingBlock, ToolUseBlock,
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
    let mut answer = AnswerBuilder::default();
    let mut answered_by_json_tool = false;
    for (j, b) in resp.content.into_iter().enumerate() {
        match b {
            ContentBlock::Text(t) => answer.text(&t.text),
            ContentBlock::ToolUse(t) if Some(t.name.as_str()) == json_tool => {
                answered_by_json_tool = true;
                answer.text(&t.input.to_string());
            }
            ContentBlock::ToolUse(t) => answer.tool_call(t.id, t.name, t.input.to_string()),
            ContentBlock::Thinking(t) => answer.reasoning(&t.thinking),
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
    Translated {
        value: completion(
            resp.id,
            resp.model,
            created,
            vec![answer.choice(0, finish)],
            openai_usage(&resp.usage),
        ),
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
    let m = AssistantParts::read(
        choice.message,
        "choices[0]",
        "content part type not supported by Anthropic",
        &mut w,
    );
    let mut content = Vec::new();
    if let Some(r) = m.reasoning {
        content.push(ContentBlock::Thinking(ThinkingBlock {
            thinking: r,
            signature: String::new(),
            extra: Extra::new(),
        }));
    }
    content.extend(m.texts.into_iter().map(ContentBlock::text));
    for (k, call) in m.tool_calls.into_iter().enumerate() {
        let input = arguments_object(
            call.function.arguments,
            format!("choices[0].message.tool_calls[{k}].function.arguments"),
            "not a JSON object; passed on as a string",
            Value::String,
            &mut w,
        );
        content.push(ContentBlock::ToolUse(ToolUseBlock {
            id: call.id,
            name: call.function.name,
            input,
            cache_control: None,
            extra: Extra::new(),
        }));
    }
    let stop = if m.refused {
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
