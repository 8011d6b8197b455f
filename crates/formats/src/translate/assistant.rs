//! OpenAI assistant messages in the translations, both ways, so the Anthropic, Bedrock and
//! Gemini translations follow the same rules.
//!
//! From OpenAI ([`AssistantParts`]): empty reasoning and empty text are left out, a refusal is
//! a text after the content (and makes the answer a content-filter stop), content parts that
//! are not text are reported, and tool call arguments must be a JSON object. To OpenAI
//! ([`AnswerBuilder`]): texts join into one content string, reasoning into
//! `reasoning_content`, and a message without tool calls has no `tool_calls` field.

use serde_json::Value;

use super::Warning;
use super::openai_model::{
    ChatCompletion, ChatContent, ChatMessage, ChatRole, ChatUsage, Choice, ContentPart, Extra,
    FunctionCall, ToolCall, function_type,
};

/// An assistant message taken apart, in the order the provider's content is built.
pub(crate) struct AssistantParts {
    /// `reasoning_content`, when not empty.
    pub(crate) reasoning: Option<String>,
    /// The content's texts, then the refusal.
    pub(crate) texts: Vec<String>,
    pub(crate) refused: bool,
    pub(crate) tool_calls: Vec<ToolCall>,
}

impl AssistantParts {
    /// `at` is the choice's field (`choices[0]`); `unsupported` the warning for a content part
    /// that is not text.
    pub(crate) fn read(
        m: ChatMessage,
        at: &str,
        unsupported: &'static str,
        w: &mut Vec<Warning>,
    ) -> Self {
        let mut texts = Vec::new();
        match m.content {
            None => {}
            Some(ChatContent::Text(s)) if s.is_empty() => {}
            Some(ChatContent::Text(s)) => texts.push(s),
            Some(ChatContent::Parts(parts)) => {
                for (j, p) in parts.into_iter().enumerate() {
                    match p {
                        ContentPart::Text(t) => texts.push(t.text),
                        _ => w.push(Warning::new(
                            format!("{at}.message.content[{j}]"),
                            unsupported,
                        )),
                    }
                }
            }
        }
        let refused = m.refusal.is_some();
        texts.extend(m.refusal);
        Self {
            reasoning: m.reasoning_content.filter(|r| !r.is_empty()),
            texts,
            refused,
            tool_calls: m.tool_calls.unwrap_or_default(),
        }
    }
}

/// A tool call's arguments as a JSON object: blank text is `{}`; text that is not a JSON object
/// is kept as `keep(text)` (each provider has its own way) and reported with `reason` at
/// `field`.
pub(crate) fn arguments_object(
    arguments: String,
    field: String,
    reason: &'static str,
    keep: impl FnOnce(String) -> Value,
    w: &mut Vec<Warning>,
) -> Value {
    match serde_json::from_str::<Value>(&arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ if arguments.trim().is_empty() => Value::Object(Extra::new()),
        _ => {
            w.push(Warning::new(field, reason));
            keep(arguments)
        }
    }
}

/// An OpenAI assistant message assembled from a provider's answer, block by block.
#[derive(Default)]
pub(crate) struct AnswerBuilder {
    text: Option<String>,
    reasoning: Option<String>,
    calls: Vec<ToolCall>,
}

impl AnswerBuilder {
    pub(crate) fn text(&mut self, text: &str) {
        self.text.get_or_insert_with(String::new).push_str(text);
    }

    pub(crate) fn reasoning(&mut self, text: &str) {
        self.reasoning
            .get_or_insert_with(String::new)
            .push_str(text);
    }

    pub(crate) fn tool_call(&mut self, id: String, name: String, arguments: String) {
        self.calls.push(ToolCall {
            id,
            kind: function_type(),
            function: FunctionCall { name, arguments },
        });
    }

    pub(crate) fn has_tool_calls(&self) -> bool {
        !self.calls.is_empty()
    }

    pub(crate) fn message(self) -> ChatMessage {
        let mut message = ChatMessage::new(ChatRole::Assistant, self.text.map(ChatContent::Text));
        message.tool_calls = (!self.calls.is_empty()).then_some(self.calls);
        message.reasoning_content = self.reasoning;
        message
    }

    pub(crate) fn choice(self, index: u32, finish: &str) -> Choice {
        Choice {
            index,
            message: self.message(),
            finish_reason: Some(finish.to_owned()),
            extra: Extra::new(),
        }
    }
}

/// A `chat.completion`: what every provider's response becomes for the OpenAI client.
pub(crate) fn completion(
    id: String,
    model: String,
    created: u64,
    choices: Vec<Choice>,
    usage: ChatUsage,
) -> ChatCompletion {
    ChatCompletion {
        id,
        object: "chat.completion".to_owned(),
        created,
        model,
        choices,
        usage: Some(usage),
        extra: Extra::new(),
    }
}
