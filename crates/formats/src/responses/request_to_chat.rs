//! Responses request → chat request, for deployments that speak only Chat Completions.
//!
//! The conversation is the stored history (earlier turns, when the caller resolved
//! `previous_response_id`) followed by `input`. A turn's assistant output (message text, then
//! its function calls) becomes one assistant message with `tool_calls`; a function call's
//! output a `tool` message. Reasoning items have no chat form and are dropped (reported).
//!
//! Refused (a 400): built-in tools (the provider cannot run OpenAI's web search, file search,
//! code interpreter...), `item_reference` items, and the server-side features this gateway
//! does not implement (`background`, `conversation`, `prompt`).

use serde_json::Value;

use super::tools::{tool_choice, tools};
use super::{
    ContentPart, FunctionOutput, Input, Item, MessageContent, ResponsesRequest, Role, TextFormat,
    ToolChoice,
};
use crate::FormatError;
use crate::translate::assistant::AnswerBuilder;
use crate::translate::{
    ChatContent, ChatMessage, ChatRequest, ChatRole, Extra, FilePart, FileRef, ImageUrl,
    ImageUrlPart, JsonSchema, ResponseFormat, StreamOptions, TextPart, Translated, Warning,
};

/// The `json_schema` name sent when the client gave none (Chat Completions requires one).
pub const DEFAULT_SCHEMA_NAME: &str = "response";

/// Top-level fields Chat Completions takes under the same name and meaning.
const CARRIED: &[&str] = &["service_tier", "prompt_cache_key", "safety_identifier"];

/// Translate a Responses request into a chat request for the same `model`. `history` is the
/// items of the earlier turns (inputs and outputs, in order) when the caller resolved
/// `previous_response_id`; it goes before `input`. `metadata`, `store`, `previous_response_id`
/// are the gateway's business and are not sent.
pub fn responses_to_chat_request(
    req: ResponsesRequest,
    history: &[Item],
) -> Result<Translated<ChatRequest>, FormatError> {
    let mut w = Vec::new();
    if req.model.is_empty() {
        return Err(FormatError::MissingModel);
    }
    refuse_server_features(&req.extra)?;
    let tools = tools(req.tools.unwrap_or_default(), &mut w)?;

    let mut conv = Conversation::default();
    if let Some(s) = req.instructions.filter(|s| !s.is_empty()) {
        conv.out.push(ChatMessage::new(
            ChatRole::System,
            Some(ChatContent::Text(s)),
        ));
    }
    for (i, item) in history.iter().enumerate() {
        conv.item(item.clone(), &format!("history[{i}]"), &mut w)?;
    }
    match req.input {
        Input::Text(s) => {
            conv.flush();
            conv.out
                .push(ChatMessage::new(ChatRole::User, Some(ChatContent::Text(s))));
        }
        Input::Items(items) => {
            for (i, item) in items.into_iter().enumerate() {
                conv.item(item, &format!("input[{i}]"), &mut w)?;
            }
        }
    }
    conv.flush();
    if conv.out.iter().all(|m| m.role == ChatRole::System) {
        return Err(FormatError::EmptyArray("input"));
    }

    let has_tools = !tools.is_empty();
    let tool_choice = match req.tool_choice {
        Some(c) if has_tools => tool_choice(c, &mut w),
        Some(ToolChoice::Mode(m)) if m == "auto" || m == "none" => None,
        Some(_) => {
            w.push(Warning::new(
                "tool_choice",
                "no function tools to choose from",
            ));
            None
        }
        None => None,
    };
    let mut extra = Extra::new();
    let mut response_format = None;
    if let Some(text) = req.text {
        response_format = match text.format {
            None | Some(TextFormat::Text) => None,
            Some(TextFormat::JsonObject) => Some(ResponseFormat::JsonObject),
            Some(TextFormat::JsonSchema(s)) => Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchema {
                    name: s.name.unwrap_or_else(|| DEFAULT_SCHEMA_NAME.to_owned()),
                    description: s.description,
                    schema: s.schema,
                    strict: s.strict,
                },
            }),
            Some(TextFormat::Other(_)) => {
                w.push(Warning::new(
                    "text.format",
                    "format type not supported by chat providers",
                ));
                None
            }
        };
        if let Some(v) = text.verbosity {
            extra.insert("verbosity".to_owned(), Value::String(v));
        }
        for key in text.extra.keys() {
            w.push(Warning::new(
                format!("text.{key}"),
                "not supported by chat providers",
            ));
        }
    }
    let mut reasoning_effort = None;
    if let Some(r) = req.reasoning {
        reasoning_effort = r.effort;
        // `summary`: a chat provider returns its reasoning text (if any) unasked; it becomes
        // the reasoning item's summary.
        for key in r.extra.keys().filter(|k| k.as_str() != "generate_summary") {
            w.push(Warning::new(
                format!("reasoning.{key}"),
                "not supported by chat providers",
            ));
        }
    }
    for (i, inc) in req.include.iter().flatten().enumerate() {
        w.push(Warning::new(
            format!("include[{i}]"),
            match inc.as_str() {
                "reasoning.encrypted_content" => "chat providers return no encrypted reasoning",
                _ => "not produced by chat providers",
            },
        ));
    }
    if req.truncation.as_deref() == Some("auto") {
        w.push(Warning::new(
            "truncation",
            "the conversation is sent whole; a provider refuses one too long for it",
        ));
    }
    for (key, value) in req.extra {
        if CARRIED.contains(&key.as_str()) {
            extra.insert(key, value);
        } else if !value.is_null() {
            w.push(Warning::new(key, "not supported by chat providers"));
        }
    }

    let stream = req.stream.filter(|s| *s);
    let request = ChatRequest {
        model: req.model,
        messages: conv.out,
        max_completion_tokens: req.max_output_tokens,
        max_tokens: None,
        temperature: req.temperature,
        top_p: req.top_p,
        n: None,
        stop: None,
        stream,
        stream_options: stream.map(|_| StreamOptions {
            include_usage: Some(true),
            extra: Extra::new(),
        }),
        tool_choice,
        // Chat Completions refuses `parallel_tool_calls` without tools.
        parallel_tool_calls: req.parallel_tool_calls.filter(|_| has_tools),
        tools: has_tools.then_some(tools),
        response_format,
        reasoning_effort,
        user: req.user,
        extra,
    };
    Ok(Translated {
        value: request,
        warnings: w,
    })
}

/// Server-side state and modes the gateway does not implement: sending the request on
/// without them would answer a different question.
fn refuse_server_features(extra: &Extra) -> Result<(), FormatError> {
    if extra.get("background").and_then(Value::as_bool) == Some(true) {
        return Err(FormatError::InvalidValue {
            param: "background",
            reason: "background responses are not supported by this deployment.",
        });
    }
    if extra.get("conversation").is_some_and(|v| !v.is_null()) {
        return Err(FormatError::InvalidValue {
            param: "conversation",
            reason: "conversations are not supported by this deployment; use previous_response_id or send the items.",
        });
    }
    if extra.get("prompt").is_some_and(|v| !v.is_null()) {
        return Err(FormatError::InvalidValue {
            param: "prompt",
            reason: "stored prompts are not supported by this deployment; send instructions and input.",
        });
    }
    Ok(())
}

/// The chat messages built so far, with the assistant turn still being assembled (its text
/// and the function calls that follow it).
#[derive(Default)]
struct Conversation {
    out: Vec<ChatMessage>,
    assistant: Option<AnswerBuilder>,
    refusal: Option<String>,
}

impl Conversation {
    fn flush(&mut self) {
        if let Some(a) = self.assistant.take() {
            let mut m = a.message();
            m.refusal = self.refusal.take();
            self.out.push(m);
        }
    }

    fn item(&mut self, item: Item, at: &str, w: &mut Vec<Warning>) -> Result<(), FormatError> {
        match item {
            Item::Message(m) if m.role == Role::Assistant => {
                self.flush();
                let mut a = AnswerBuilder::default();
                match m.content {
                    MessageContent::Text(s) => a.text(&s),
                    MessageContent::Parts(parts) => {
                        for (j, p) in parts.into_iter().enumerate() {
                            match p {
                                ContentPart::OutputText(t) => a.text(&t.text),
                                ContentPart::InputText(t) => a.text(&t.text),
                                ContentPart::Refusal(r) => {
                                    self.refusal
                                        .get_or_insert_with(String::new)
                                        .push_str(&r.refusal);
                                }
                                other => w.push(Warning::new(
                                    format!("{at}.content[{j}].{}", other.kind()),
                                    "assistant messages carry text only",
                                )),
                            }
                        }
                    }
                }
                self.assistant = Some(a);
            }
            Item::Message(m) => {
                self.flush();
                let role = match m.role {
                    Role::System => ChatRole::System,
                    Role::Developer => ChatRole::Developer,
                    Role::User => ChatRole::User,
                    Role::Assistant | Role::Other(_) => {
                        w.push(Warning::new(
                            format!("{at}.role"),
                            "unknown role; sent as user",
                        ));
                        ChatRole::User
                    }
                };
                let content = match m.content {
                    MessageContent::Text(s) => ChatContent::Text(s),
                    MessageContent::Parts(parts) => simplify(chat_parts(parts, at, w)),
                };
                self.out.push(ChatMessage::new(role, Some(content)));
            }
            Item::FunctionCall(c) => {
                self.assistant
                    .get_or_insert_with(AnswerBuilder::default)
                    .tool_call(c.call_id, c.name, c.arguments);
            }
            Item::FunctionCallOutput(o) => {
                self.flush();
                let text = match o.output {
                    FunctionOutput::Text(s) => s,
                    FunctionOutput::Parts(parts) => {
                        let mut text = String::new();
                        for (j, p) in parts.into_iter().enumerate() {
                            match p {
                                ContentPart::InputText(t) => text.push_str(&t.text),
                                ContentPart::OutputText(t) => text.push_str(&t.text),
                                other => w.push(Warning::new(
                                    format!("{at}.output[{j}].{}", other.kind()),
                                    "chat tool messages carry text only",
                                )),
                            }
                        }
                        text
                    }
                };
                let mut m = ChatMessage::new(ChatRole::Tool, Some(ChatContent::Text(text)));
                m.tool_call_id = Some(o.call_id);
                self.out.push(m);
            }
            Item::Reasoning(_) => w.push(Warning::new(
                at.to_owned(),
                "reasoning items have no chat equivalent",
            )),
            Item::Other(v) if v.get("type").and_then(Value::as_str) == Some("item_reference") => {
                return Err(FormatError::InvalidValue {
                    param: "input",
                    reason: "item_reference items are not supported by this deployment; send the items themselves.",
                });
            }
            Item::Other(v) => {
                let kind = v.get("type").and_then(Value::as_str).unwrap_or("unknown");
                w.push(Warning::new(
                    format!("{at}.{kind}"),
                    "item type not supported by chat providers",
                ));
            }
        }
        Ok(())
    }
}

/// Chat content parts for a user, system or developer message's parts.
fn chat_parts(
    parts: Vec<ContentPart>,
    at: &str,
    w: &mut Vec<Warning>,
) -> Vec<crate::translate::ContentPart> {
    use crate::translate::ContentPart as P;
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        let field = || format!("{at}.content[{j}]");
        match p {
            ContentPart::InputText(t) => out.push(P::Text(TextPart {
                text: t.text,
                cache_control: None,
                extra: Extra::new(),
            })),
            ContentPart::OutputText(t) => out.push(P::Text(TextPart {
                text: t.text,
                cache_control: None,
                extra: Extra::new(),
            })),
            ContentPart::InputImage(img) => match img.image_url {
                Some(url) => out.push(P::ImageUrl(ImageUrlPart {
                    image_url: ImageUrl {
                        url,
                        detail: img.detail,
                    },
                    extra: Extra::new(),
                })),
                None => w.push(Warning::new(
                    format!("{}.file_id", field()),
                    "uploaded images cannot be read by chat providers; send image_url",
                )),
            },
            ContentPart::InputFile(f) if f.file_data.is_some() || f.file_id.is_some() => {
                out.push(P::File(FilePart {
                    file: FileRef {
                        filename: f.filename,
                        file_data: f.file_data,
                        file_id: f.file_id,
                    },
                    extra: Extra::new(),
                }));
            }
            ContentPart::InputFile(_) => w.push(Warning::new(
                format!("{}.file_url", field()),
                "file URLs cannot be sent to chat providers; send file_data",
            )),
            other => w.push(Warning::new(
                format!("{}.{}", field(), other.kind()),
                "content part type not supported by chat providers",
            )),
        }
    }
    out
}

/// One text part becomes a plain string, which every chat server accepts.
fn simplify(mut parts: Vec<crate::translate::ContentPart>) -> ChatContent {
    use crate::translate::ContentPart as P;
    if parts.len() == 1
        && matches!(&parts[0], P::Text(_))
        && let Some(P::Text(t)) = parts.pop()
    {
        return ChatContent::Text(t.text);
    }
    ChatContent::Parts(parts)
}
