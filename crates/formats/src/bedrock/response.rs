//! Non-streaming responses, both directions.

use serde_json::Value;

use super::model::{
    ContentBlock, ConverseOutput, ConverseResponse, Extra, Message, Metrics, ReasoningBlock,
    ReasoningText, Role, StopReason, ToolUseBlock,
};
use super::usage::{converse_usage, openai_usage};
use crate::FormatError;
use crate::translate::assistant::{AnswerBuilder, AssistantParts, arguments_object, completion};
use crate::translate::{ChatCompletion, Translated, Warning};

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
    let mut answer = AnswerBuilder::default();
    let mut answered_by_json_tool = false;
    let content = resp.output.message.map(|m| m.content).unwrap_or_default();
    for (j, b) in content.into_iter().enumerate() {
        match b {
            ContentBlock::Text(t) => answer.text(&t),
            ContentBlock::ToolUse(t) if Some(t.name.as_str()) == json_tool => {
                answered_by_json_tool = true;
                answer.text(&t.input.to_string());
            }
            ContentBlock::ToolUse(t) => {
                answer.tool_call(t.tool_use_id, t.name, t.input.to_string());
            }
            ContentBlock::ReasoningContent(r) => match r.reasoning_text {
                Some(t) => answer.reasoning(&t.text),
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
    Translated {
        value: completion(
            id.to_owned(),
            model.to_owned(),
            created,
            vec![answer.choice(0, finish)],
            openai_usage(&resp.usage),
        ),
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
    let m = AssistantParts::read(
        choice.message,
        "choices[0]",
        "content part type not supported by Bedrock",
        &mut w,
    );
    let mut content = Vec::new();
    if let Some(r) = m.reasoning {
        content.push(ContentBlock::ReasoningContent(ReasoningBlock {
            reasoning_text: Some(ReasoningText {
                text: r,
                signature: None,
            }),
            ..ReasoningBlock::default()
        }));
    }
    content.extend(m.texts.into_iter().map(ContentBlock::Text));
    for (k, call) in m.tool_calls.into_iter().enumerate() {
        let input = arguments_object(
            call.function.arguments,
            format!("choices[0].message.tool_calls[{k}].function.arguments"),
            "not a JSON object; passed on as a string",
            Value::String,
            &mut w,
        );
        content.push(ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: call.id,
            name: call.function.name,
            input,
            extra: Extra::new(),
        }));
    }
    let stop = if m.refused {
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
