//! OpenAI messages → Anthropic `system` and messages: system and developer messages are hoisted
//! to `system`; tool messages become `tool_result` blocks in one user turn (with the next user
//! message's content after them); assistant tool calls become `tool_use` blocks.

use serde_json::{Value, json};

use super::Warning;
use super::openai_model::{ChatContent, ChatMessage, ChatRole};
use super::parts_to_anthropic::{blocks, content};
use crate::FormatError;
use crate::anthropic::{
    Content, ContentBlock, Extra, Message, Role, System, ToolResultBlock, ToolUseBlock,
};

pub(super) type Messages = (Option<System>, Vec<Message>);

pub(super) fn messages(
    msgs: Vec<ChatMessage>,
    w: &mut Vec<Warning>,
) -> Result<Messages, FormatError> {
    let mut system: Vec<ContentBlock> = Vec::new();
    let mut out: Vec<Message> = Vec::with_capacity(msgs.len());
    // The last message is the user turn built from tool results (later tool results and the
    // next user message join it: Anthropic wants all results of a turn in one message, first).
    let mut tool_turn = false;
    for (i, m) in msgs.into_iter().enumerate() {
        if m.name.is_some() {
            w.push(Warning::new(
                format!("messages[{i}].name"),
                "Anthropic has no message names",
            ));
        }
        for key in m.extra.keys() {
            w.push(Warning::new(
                format!("messages[{i}].{key}"),
                "not supported by Anthropic",
            ));
        }
        match m.role {
            ChatRole::System | ChatRole::Developer => {
                system.extend(blocks(m.content, i, w));
            }
            ChatRole::User => {
                let content = content(m.content, i, w);
                if tool_turn {
                    extend_last(&mut out, content);
                    tool_turn = false;
                } else {
                    out.push(message(Role::User, content));
                }
            }
            ChatRole::Assistant => {
                tool_turn = false;
                if m.reasoning_content.is_some() {
                    w.push(Warning::new(
                        format!("messages[{i}].reasoning_content"),
                        "reasoning without a signature cannot be sent back to Anthropic",
                    ));
                }
                let calls = m.tool_calls.unwrap_or_default();
                let mut content = if calls.is_empty() {
                    content(m.content, i, w)
                } else {
                    Content::Blocks(blocks(m.content, i, w))
                };
                if let Some(refusal) = m.refusal {
                    push_block(&mut content, ContentBlock::text(refusal));
                }
                for call in calls {
                    let input = arguments(&call.function.arguments)?;
                    push_block(
                        &mut content,
                        ContentBlock::ToolUse(ToolUseBlock {
                            id: call.id,
                            name: call.function.name,
                            input,
                            cache_control: None,
                            extra: Extra::new(),
                        }),
                    );
                }
                out.push(message(Role::Assistant, content));
            }
            ChatRole::Tool => {
                let result = ContentBlock::ToolResult(ToolResultBlock {
                    tool_use_id: m.tool_call_id.unwrap_or_default(),
                    content: m.content.map(|c| match c {
                        ChatContent::Text(s) => Content::Text(s),
                        parts => Content::Blocks(blocks(Some(parts), i, w)),
                    }),
                    is_error: None,
                    cache_control: None,
                    extra: Extra::new(),
                });
                if tool_turn {
                    extend_last(&mut out, Content::Blocks(vec![result]));
                } else {
                    out.push(message(Role::User, Content::Blocks(vec![result])));
                    tool_turn = true;
                }
            }
            ChatRole::Function | ChatRole::Other(_) => w.push(Warning::new(
                format!("messages[{i}]"),
                "message role not supported by Anthropic",
            )),
        }
    }
    let system = match system.len() {
        0 => None,
        1 if matches!(&system[0], ContentBlock::Text(t) if t.cache_control.is_none() && t.extra.is_empty()) => {
            match system.pop() {
                Some(ContentBlock::Text(t)) => Some(System::Text(t.text)),
                _ => None,
            }
        }
        _ => Some(System::Blocks(system)),
    };
    Ok((system, out))
}

/// The conversation ends with tool results (the model is mid tool-use loop).
pub(super) fn continues_tool_turn(messages: &[Message]) -> bool {
    messages.last().is_some_and(|m| {
        m.role == Role::User
            && matches!(&m.content, Content::Blocks(b)
                if b.iter().any(|b| matches!(b, ContentBlock::ToolResult(_))))
    })
}

fn message(role: Role, content: Content) -> Message {
    Message {
        role,
        content,
        extra: Extra::new(),
    }
}

fn push_block(content: &mut Content, block: ContentBlock) {
    if let Content::Text(s) = content {
        let text = std::mem::take(s);
        *content = Content::Blocks(if text.is_empty() {
            Vec::new()
        } else {
            vec![ContentBlock::text(text)]
        });
    }
    if let Content::Blocks(b) = content {
        b.push(block);
    }
}

fn extend_last(out: &mut [Message], more: Content) {
    if let Some(last) = out.last_mut() {
        match more {
            Content::Text(s) => push_block(&mut last.content, ContentBlock::text(s)),
            Content::Blocks(bs) => {
                for b in bs {
                    push_block(&mut last.content, b);
                }
            }
        }
    }
}

fn arguments(args: &str) -> Result<Value, FormatError> {
    if args.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(FormatError::InvalidValue {
            param: "messages.tool_calls.function.arguments",
            reason: "tool call arguments must be a JSON object to be sent to Anthropic.",
        }),
    }
}
