//! `chat.completion` → Response object, and the pieces the stream translation shares with it
//! (the echoed request fields, item ids, status and usage), so a streamed answer ends with the
//! same Response the non-streamed translation gives for the same content.
//!
//! Output items, in order: a `reasoning` item (from `reasoning_content`, as one summary text),
//! a `message` item (the text as one `output_text` part, then a `refusal` part), then one
//! `function_call` item per tool call. Item ids are derived from the response id and the
//! item's output index, so translations are pure and repeatable.

use super::Response;
use super::{
    ContentPart, FunctionCallItem, IncompleteDetails, InputTokensDetails, Item, ItemStatus,
    MessageContent, MessageItem, OutputText, OutputTokensDetails, ReasoningConfig, ReasoningItem,
    Refusal, ResponseStatus, ResponseUsage, ResponsesRequest, Role, SummaryText, TextConfig,
    TextFormat, ToolChoice,
};
use crate::FormatError;
use crate::translate::{ChatCompletion, ChatContent, ChatUsage, Extra, Translated, Warning};

/// The Response for a chat completion answering `req`. `id` is the response id the caller
/// chose (`resp_…`); `created_at` a Unix timestamp. Only the first choice is used.
pub fn chat_to_responses_response(
    resp: ChatCompletion,
    req: &ResponsesRequest,
    id: &str,
    created_at: u64,
) -> Result<Translated<Response>, FormatError> {
    let mut w = Vec::new();
    if resp.choices.len() > 1 {
        w.push(Warning::new("choices", "a Response has one answer"));
    }
    let Some(choice) = resp.choices.into_iter().next() else {
        return Err(FormatError::InvalidValue {
            param: "choices",
            reason: "the provider returned no choices.",
        });
    };
    let m = choice.message;
    let finish = choice.finish_reason.as_deref();
    let item_status = item_status(finish);
    let mut output = Vec::new();
    if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
        output.push(reasoning_item(id, output.len(), r));
    }
    let mut parts = Vec::new();
    let mut text = String::new();
    match m.content {
        None => {}
        Some(ChatContent::Text(s)) => text = s,
        Some(ChatContent::Parts(ps)) => {
            for (j, p) in ps.into_iter().enumerate() {
                match p {
                    crate::translate::ContentPart::Text(t) => text.push_str(&t.text),
                    _ => w.push(Warning::new(
                        format!("choices[0].message.content[{j}]"),
                        "content part type not supported in a Response",
                    )),
                }
            }
        }
    }
    if !text.is_empty() {
        parts.push(ContentPart::OutputText(OutputText::new(text)));
    }
    if let Some(r) = m.refusal.filter(|r| !r.is_empty()) {
        parts.push(ContentPart::Refusal(Refusal {
            refusal: r,
            extra: Extra::new(),
        }));
    }
    if !parts.is_empty() {
        let mut item = message_item(id, output.len());
        item.content = MessageContent::Parts(parts);
        item.status = Some(item_status.clone());
        output.push(Item::Message(item));
    }
    for call in m.tool_calls.into_iter().flatten() {
        let mut item = function_call_item(id, output.len(), call.id, call.function.name);
        item.arguments = call.function.arguments;
        item.status = Some(item_status.clone());
        output.push(Item::FunctionCall(item));
    }
    let model = if resp.model.is_empty() {
        req.model.clone()
    } else {
        resp.model
    };
    let mut response = shell(req, id, created_at, model);
    finish_response(&mut response, output, finish, resp.usage.as_ref());
    Ok(Translated {
        value: response,
        warnings: w,
    })
}

/// The Response as it stands before any output: status `in_progress`, the request's settings
/// echoed as OpenAI echoes them (defaults written out).
pub fn shell(req: &ResponsesRequest, id: &str, created_at: u64, model: String) -> Response {
    Response {
        id: id.to_owned(),
        object: "response".to_owned(),
        created_at,
        status: ResponseStatus::InProgress,
        error: None,
        incomplete_details: None,
        instructions: req.instructions.clone(),
        max_output_tokens: req.max_output_tokens,
        model,
        output: Vec::new(),
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        previous_response_id: req.previous_response_id.clone(),
        reasoning: req
            .reasoning
            .as_ref()
            .map(|r| ReasoningConfig {
                effort: r.effort.clone(),
                summary: r.summary.clone(),
                extra: Extra::new(),
            })
            .unwrap_or_default(),
        store: req.store.unwrap_or(true),
        temperature: req.temperature,
        text: req.text.clone().unwrap_or_else(|| TextConfig {
            format: Some(TextFormat::Text),
            verbosity: None,
            extra: Extra::new(),
        }),
        tool_choice: req
            .tool_choice
            .clone()
            .unwrap_or_else(|| ToolChoice::Mode("auto".to_owned())),
        tools: req.tools.clone().unwrap_or_default(),
        top_p: req.top_p,
        truncation: Some(
            req.truncation
                .clone()
                .unwrap_or_else(|| "disabled".to_owned()),
        ),
        usage: None,
        user: req.user.clone(),
        metadata: req.metadata.clone().unwrap_or_default(),
        extra: Extra::new(),
    }
}

/// Sets the final status, output and usage from the chat `finish_reason`: `length` and
/// `content_filter` make the response `incomplete` with that reason.
pub(crate) fn finish_response(
    r: &mut Response,
    output: Vec<Item>,
    finish: Option<&str>,
    usage: Option<&ChatUsage>,
) {
    let reason = incomplete_reason(finish);
    r.status = if reason.is_some() {
        ResponseStatus::Incomplete
    } else {
        ResponseStatus::Completed
    };
    r.incomplete_details = reason.map(|reason| IncompleteDetails {
        reason: reason.to_owned(),
    });
    r.output = output;
    r.usage = usage.map(response_usage);
}

pub(crate) fn incomplete_reason(finish: Option<&str>) -> Option<&'static str> {
    match finish {
        Some("length") => Some("max_output_tokens"),
        Some("content_filter") => Some("content_filter"),
        _ => None,
    }
}

/// Items of an answer that was cut short are `incomplete`.
pub(crate) fn item_status(finish: Option<&str>) -> ItemStatus {
    match incomplete_reason(finish) {
        Some(_) => ItemStatus::Incomplete,
        None => ItemStatus::Completed,
    }
}

/// Responses usage for chat usage: same counts, renamed.
pub fn response_usage(u: &ChatUsage) -> ResponseUsage {
    ResponseUsage {
        input_tokens: u.prompt_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: u
                .prompt_tokens_details
                .as_ref()
                .map_or(0, |d| d.cached_tokens),
        },
        output_tokens: u.completion_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u
                .completion_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
        },
        total_tokens: if u.total_tokens == 0 {
            u.prompt_tokens.saturating_add(u.completion_tokens)
        } else {
            u.total_tokens
        },
    }
}

/// `<prefix>_<response id without "resp_">_<output index>`: unique within the response, and
/// the same in the streamed and non-streamed translations.
pub(crate) fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{base}_{index}")
}

/// An assistant message item with no content yet, `in_progress`.
pub(crate) fn message_item(response_id: &str, index: usize) -> MessageItem {
    MessageItem {
        id: Some(item_id("msg", response_id, index)),
        role: Role::Assistant,
        content: MessageContent::Parts(Vec::new()),
        status: Some(ItemStatus::InProgress),
        extra: Extra::new(),
    }
}

pub(crate) fn function_call_item(
    response_id: &str,
    index: usize,
    call_id: String,
    name: String,
) -> FunctionCallItem {
    FunctionCallItem {
        id: Some(item_id("fc", response_id, index)),
        call_id,
        name,
        arguments: String::new(),
        status: Some(ItemStatus::InProgress),
        extra: Extra::new(),
    }
}

pub(crate) fn reasoning_item(response_id: &str, index: usize, summary: String) -> Item {
    Item::Reasoning(ReasoningItem {
        id: item_id("rs", response_id, index),
        summary: vec![SummaryText::new(summary)],
        encrypted_content: None,
        status: None,
        extra: Extra::new(),
    })
}
