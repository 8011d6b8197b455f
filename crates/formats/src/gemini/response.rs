//! Non-streaming responses, both directions.

use serde_json::{Value, json};

use super::join_call_id;
use super::model::{
    Candidate, Content, Extra, FunctionCall, GenerateContentResponse, Part, ROLE_MODEL,
    UsageMetadata,
};
use super::usage::{chat_usage, from_chat_usage};
use crate::FormatError;
use crate::translate::{
    ChatCompletion, ChatContent, ChatMessage, ChatRole, Choice, ContentPart, FunctionCall as Call,
    ToolCall, Translated, Warning,
};

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
        let mut text: Option<String> = None;
        let mut reasoning: Option<String> = None;
        let mut calls = Vec::new();
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
                    calls.push(ToolCall {
                        id: join_call_id(&call_id, thought_signature.as_deref()),
                        kind: "function".to_owned(),
                        function: Call {
                            name: fc.name,
                            arguments: fc.args.to_string(),
                        },
                    });
                }
                Part { text: Some(t), .. } if thought => {
                    reasoning.get_or_insert_with(String::new).push_str(&t);
                }
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
                    text.get_or_insert_with(String::new).push_str(&t);
                }
                _ => w.push(Warning::new(
                    format!("candidates[{k}].content.parts[{j}]"),
                    "part type not supported by OpenAI",
                )),
            }
        }
        let finish = finish_reason(c.finish_reason.as_deref(), !calls.is_empty());
        let mut message = ChatMessage::new(ChatRole::Assistant, text.map(ChatContent::Text));
        message.tool_calls = (!calls.is_empty()).then_some(calls);
        message.reasoning_content = reasoning;
        choices.push(Choice {
            index,
            message,
            finish_reason: Some(finish.to_owned()),
            extra: Extra::new(),
        });
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
        value: ChatCompletion {
            id: id.to_owned(),
            object: "chat.completion".to_owned(),
            created,
            model: model.to_owned(),
            choices,
            usage: Some(chat_usage(
                &resp.usage_metadata.unwrap_or_default().to_usage(),
            )),
            extra: Extra::new(),
        },
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
        let m = choice.message;
        let mut parts = Vec::new();
        if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
            parts.push(Part {
                text: Some(r),
                thought: Some(true),
                ..Part::default()
            });
        }
        match m.content {
            None => {}
            Some(ChatContent::Text(s)) if s.is_empty() => {}
            Some(ChatContent::Text(s)) => parts.push(Part::text(s)),
            Some(ChatContent::Parts(ps)) => {
                for (j, p) in ps.into_iter().enumerate() {
                    match p {
                        ContentPart::Text(t) => parts.push(Part::text(t.text)),
                        _ => w.push(Warning::new(
                            format!("choices[{k}].message.content[{j}]"),
                            "content part type not supported by Gemini",
                        )),
                    }
                }
            }
        }
        let refused = m.refusal.is_some();
        if let Some(r) = m.refusal {
            parts.push(Part::text(r));
        }
        for (n, call) in m.tool_calls.into_iter().flatten().enumerate() {
            let args = match serde_json::from_str::<Value>(&call.function.arguments) {
                Ok(v @ Value::Object(_)) => v,
                _ if call.function.arguments.trim().is_empty() => json!({}),
                _ => {
                    w.push(Warning::new(
                        format!("choices[{k}].message.tool_calls[{n}].function.arguments"),
                        "not a JSON object; passed on as {\"arguments\": <text>}",
                    ));
                    json!({ "arguments": call.function.arguments })
                }
            };
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
        let finish = if refused {
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
