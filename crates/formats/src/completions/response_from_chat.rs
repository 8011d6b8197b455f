//! `chat.completion` → `text_completion`: the first choice's text, its finish reason in the
//! legacy vocabulary, and the provider's usage.

use super::{Completion, CompletionChoice};
use crate::FormatError;
use crate::translate::{ChatCompletion, ChatContent, ContentPart, Translated, Warning};

/// The legacy `finish_reason` for a chat one: `stop`, `length` or `content_filter` (a tool call
/// cannot be asked for here, and anything unknown ended the answer normally).
pub fn finish_reason(chat: &str) -> &'static str {
    match chat {
        "length" => "length",
        "content_filter" => "content_filter",
        _ => "stop",
    }
}

/// The completion for a chat answer. `id` is the caller's (`cmpl-…`); `created` a Unix
/// timestamp. Only the first choice is used (`n` > 1 is refused on the way in).
pub fn chat_to_completion(
    resp: ChatCompletion,
    id: &str,
    created: u64,
) -> Result<Translated<Completion>, FormatError> {
    let mut w = Vec::new();
    if resp.choices.len() > 1 {
        w.push(Warning::new("choices", "a completion has one choice"));
    }
    let Some(choice) = resp.choices.into_iter().next() else {
        return Err(FormatError::InvalidValue {
            param: "choices",
            reason: "the provider returned no choices.",
        });
    };
    let m = choice.message;
    let mut text = String::new();
    match m.content {
        None => {}
        Some(ChatContent::Text(s)) => text = s,
        Some(ChatContent::Parts(parts)) => {
            for (j, p) in parts.into_iter().enumerate() {
                match p {
                    ContentPart::Text(t) => text.push_str(&t.text),
                    _ => w.push(Warning::new(
                        format!("choices[0].message.content[{j}]"),
                        "content part type has no place in a completion",
                    )),
                }
            }
        }
    }
    let mut finish = choice.finish_reason.as_deref().map(finish_reason);
    if m.refusal.as_ref().is_some_and(|r| !r.is_empty()) {
        w.push(Warning::new(
            "choices[0].message.refusal",
            "a completion has no refusal field",
        ));
        if text.is_empty() {
            finish = Some("content_filter");
        }
    }
    if m.reasoning_content.as_ref().is_some_and(|r| !r.is_empty()) {
        w.push(Warning::new(
            "choices[0].message.reasoning_content",
            "a completion has no reasoning field",
        ));
    }
    if m.tool_calls.as_ref().is_some_and(|c| !c.is_empty()) {
        w.push(Warning::new(
            "choices[0].message.tool_calls",
            "a completion has no tool calls",
        ));
    }
    let mut out = Completion::new(id, created, &resp.model);
    out.choices.push(CompletionChoice::new(
        text,
        Some(finish.unwrap_or("stop").to_owned()),
    ));
    out.usage = resp.usage;
    out.system_fingerprint = resp
        .extra
        .get("system_fingerprint")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Ok(Translated {
        value: out,
        warnings: w,
    })
}
