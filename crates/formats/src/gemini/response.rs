//! Non-streaming responses, both directions.

use serde_json::json;

use super::join_call_id;
use super::model::{
    Candidate, Content, Extra, FunctionCall, GenerateContentResponse, Part, ROLE_MODEL,
    UsageMetadata,
};
use super::usage::{chat_usage, from_chat_usage};
use crate::FormatError;
use crate::translate::assistant::{AnswerBuilder, AssistantParts, arguments_object, completion};
use crate::translate::{ChatCompletion, ChatMessage, ChatRole, Choice, Translated, Warning};

/// OpenAI `finish_reason` for a Gemini `finishReason`; a candidate that called functions (and
/// was not cut short) finishes with `tool_calls`, as OpenAI clients expect.
pub(crate) fn finish_reason(reason: Option<&str>, called: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY",
        ) => "content_filter",
        _ if called => "tool_calls",
        // STOP, LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, unknown: the turn is over.
        _ => "stop",
    }
}

/// Gemini `finishReason` for an OpenAI `finish_reason`.
fn gemini_finish(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "MAX_TOKENS",
        Some("content_filter") => "SAFETY",
        _ => "STOP",
    }
}

/// A Gemini response as a `chat.completion`: one choice per candidate; function calls become
/// tool calls (`call_<n>` when Gemini gives no id; see [`super::join_call_id`] for where a
/// thought signature goes); thought parts become `reasoning_content`. A prompt blocked before
/// any candidate gives one empty choice finishing with `content_filter`.
pub fn gemini_to_openai_response(
    resp: GenerateContentResponse,
    model: &str,
    id: &str,
    created: u64,
) -> Translated<ChatCompletion> {
    let mut w = Vec::new();
    let mut next_call = 0usize;
    let mut choices = Vec::with_capacity(resp.candidates.len().max(1));
    for (k, c) in resp.candidates.into_iter().enumerate() {
        let index = c.index.unwrap_or(k as u32);
        for key in c.extra.keys() {
            w.push(Warning::new(
                format!("candidates[{k}].{key}"),
                "not supported by OpenAI",
            ));
        }
        let mut answer = AnswerBuilder::default();
        for (j, p) in c.content.map(|c| c.parts).into_iter().flatten().enumerate() {
            let thought = p.is_thought();
            match p {
                Part {
                    function_call: Some(fc),
                    thought_signature,
                    ..
                } => {
                    let call_id = fc.id.unwrap_or_else(|| {
                        let id = format!("call_{next_call}");
                        next_call += 1;
                        id
                    });
                    answer.tool_call(
                        join_call_id(&call_id, thought_signature.as_deref()),
                        fc.name,
                        fc.args.to_string(),
                    );
                }
                Part { text: Some(t), .. } if thought => answer.reasoning(&t),
                Part {
                    text: Some(t),
                    thought_signature,
                    ..
                } => {
                    if thought_signature.is_some() {
                        w.push(Warning::new(
                            format!("candidates[{k}].content.parts[{j}].thoughtSignature"),
                            "text thought signatures have no OpenAI counterpart",
                        ));
                    }
                    answer.text(&t);
                }
                _ => w.push(Warning::new(
                    format!("candidates[{k}].content.parts[{j}]"),
                    "part type not supported by OpenAI",
                )),
            }
        }
        let finish = finish_reason(c.finish_reason.as_deref(), answer.has_tool_calls());
        choices.push(answer.choice(index, finish));
    }
    if choices.is_empty() {
        // The prompt was blocked (`promptFeedback.blockReason`): nothing was generated.
        choices.push(Choice {
            index: 0,
            message: ChatMessage::new(ChatRole::Assistant, None),
            finish_reason: Some("content_filter".to_owned()),
            extra: Extra::new(),
        });
    }
    for key in resp.extra.keys() {
        w.push(Warning::new(key.clone(), "not supported by OpenAI"));
    }
    Translated {
        value: completion(
            id.to_owned(),
            model.to_owned(),
            created,
            choices,
            chat_usage(&resp.usage_metadata.unwrap_or_default().to_usage()),
        ),
        warnings: w,
    }
}

/// A `chat.completion` as a Gemini response: one candidate per choice; `reasoning_content`
/// becomes a thought part; tool call arguments that are not a JSON object are wrapped as
/// `{"arguments": <text>}` (with a warning).
pub fn openai_to_gemini_response(
    resp: ChatCompletion,
) -> Result<Translated<GenerateContentResponse>, FormatError> {
    let mut w = Vec::new();
    if resp.choices.is_empty() {
        return Err(FormatError::InvalidValue {
            param: "choices",
            reason: "the provider returned no choices.",
        });
    }
    let mut candidates = Vec::with_capacity(resp.choices.len());
    for (k, choice) in resp.choices.into_iter().enumerate() {
        let m = AssistantParts::read(
            choice.message,
            &format!("choices[{k}]"),
            "content part type not supported by Gemini",
            &mut w,
        );
        let mut parts = Vec::new();
        if let Some(r) = m.reasoning {
            parts.push(Part {
                text: Some(r),
                thought: Some(true),
                ..Part::default()
            });
        }
        parts.extend(m.texts.into_iter().map(Part::text));
        for (n, call) in m.tool_calls.into_iter().enumerate() {
            let args = arguments_object(
                call.function.arguments,
                format!("choices[{k}].message.tool_calls[{n}].function.arguments"),
                "not a JSON object; passed on as {\"arguments\": <text>}",
                |text| json!({ "arguments": text }),
                &mut w,
            );
            parts.push(Part {
                function_call: Some(FunctionCall {
                    id: Some(call.id),
                    name: call.function.name,
                    args,
                    extra: Extra::new(),
                }),
                ..Part::default()
            });
        }
        let finish = if m.refused {
            "SAFETY"
        } else {
            gemini_finish(choice.finish_reason.as_deref())
        };
        candidates.push(Candidate {
            content: Some(Content::new(ROLE_MODEL, parts)),
            finish_reason: Some(finish.to_owned()),
            index: Some(choice.index),
            safety_ratings: None,
            extra: Extra::new(),
        });
    }
    Ok(Translated {
        value: GenerateContentResponse {
            candidates,
            usage_metadata: resp
                .usage
                .as_ref()
                .map(|u| UsageMetadata::from_usage(&from_chat_usage(u))),
            model_version: Some(resp.model),
            response_id: Some(resp.id),
            prompt_feedback: None,
            extra: Extra::new(),
        },
        warnings: w,
    })
}
