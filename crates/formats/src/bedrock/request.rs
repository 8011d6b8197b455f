//! OpenAI chat request → Converse request.

use serde_json::{Value, json};

use super::model::{
    CachePoint, ContentBlock, ConverseRequest, Extra, InferenceConfig, InputSchema, Message, Role,
    SystemContentBlock, Tool, ToolChoice, ToolConfig, ToolName, ToolSpec, ToolUseBlock,
};
use super::parts::{blocks, has_cache_control, tool_result};
use crate::FormatError;
use crate::translate::{
    ChatRequest, ChatRole, ChatToolChoice, DEFAULT_MAX_TOKENS, JSON_OBJECT_TOOL, ResponseFormat,
    Stop, Translated, Warning, thinking_budget,
};

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1_024;

/// A translated request and what the response side needs to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToConverse {
    /// The body for `POST /model/{modelId}/converse` (or `/converse-stream`).
    pub request: ConverseRequest,
    pub warnings: Vec<Warning>,
    /// The forced tool standing in for `response_format`: pass it to
    /// [`converse_to_openai_response`](super::converse_to_openai_response) or
    /// [`ConverseToOpenAiStream::new`](super::ConverseToOpenAiStream::new), which turn its input
    /// back into the message content.
    pub json_tool: Option<String>,
    /// `stream_options.include_usage`: the OpenAI client wants the final usage chunk.
    pub include_usage: bool,
    /// `stream: true`: call `/converse-stream` instead of `/converse`.
    pub stream: bool,
}

impl From<ToConverse> for Translated<ConverseRequest> {
    fn from(t: ToConverse) -> Self {
        Translated {
            value: t.request,
            warnings: t.warnings,
        }
    }
}

/// Whether a Bedrock model id names an Anthropic model (`anthropic.claude-…`,
/// `us.anthropic.claude-…`, an ARN containing either): those take Anthropic's `thinking`
/// through `additionalModelRequestFields` and accept temperatures up to 1 only.
pub fn is_anthropic_model(model_id: &str) -> bool {
    model_id.contains("anthropic.") || model_id.contains("claude")
}

/// Translate an OpenAI chat request for Bedrock. `req.model` should be the Bedrock model id the
/// request will be sent to (it goes in the URL, not the body; it decides whether
/// `reasoning_effort` can become Anthropic thinking).
///
/// Documented choices: system and developer messages become `system` blocks; consecutive
/// messages of one role are merged (Bedrock requires user and assistant to alternate), so tool
/// results join one user message; a `cache_control` on a part or tool becomes a `cachePoint`
/// after it; images must be `data:` URLs (Bedrock takes bytes, not URLs); `response_format`
/// becomes one forced tool named [`ToConverse::json_tool`]; `tool_choice: "none"` drops the
/// tools (kept, unforced, when the conversation already holds tool calls, which Bedrock
/// refuses without a `toolConfig`).
pub fn openai_to_converse_request(req: ChatRequest) -> Result<ToConverse, FormatError> {
    let mut w = Vec::new();
    if req.n.is_some_and(|n| n > 1) {
        return Err(FormatError::InvalidValue {
            param: "n",
            reason: "Bedrock models return one choice per request; n must be 1.",
        });
    }
    let anthropic = is_anthropic_model(&req.model);
    let (system, messages) = messages(req.messages, &mut w)?;
    let has_tool_blocks = messages
        .iter()
        .flat_map(|m| &m.content)
        .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)));

    let mut tools = Vec::new();
    for (i, t) in req.tools.into_iter().flatten().enumerate() {
        if t.kind != "function" {
            w.push(Warning::new(
                format!("tools[{i}]"),
                "only function tools can be sent to Bedrock",
            ));
            continue;
        }
        if t.function.strict.is_some() {
            w.push(Warning::new(
                format!("tools[{i}].function.strict"),
                "Bedrock has no strict tool schemas",
            ));
        }
        let cache = has_cache_control(&t.extra, &format!("tools[{i}]"), &mut w);
        tools.push(Tool::ToolSpec(ToolSpec {
            name: t.function.name,
            description: t.function.description,
            input_schema: InputSchema {
                json: t
                    .function
                    .parameters
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            },
            extra: Extra::new(),
        }));
        if cache {
            tools.push(Tool::CachePoint(CachePoint::default_point()));
        }
    }
    let mut tool_choice = match req.tool_choice {
        None => None,
        Some(_) if tools.is_empty() => {
            w.push(Warning::new("tool_choice", "no tools to choose from"));
            None
        }
        Some(ChatToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(ToolChoice::Auto(Extra::new())),
            "required" => Some(ToolChoice::Any(Extra::new())),
            "none" if has_tool_blocks => {
                w.push(Warning::new(
                    "tool_choice",
                    "Bedrock cannot forbid tool use once the conversation has tool calls",
                ));
                None
            }
            "none" => {
                w.push(Warning::new(
                    "tools",
                    "dropped for tool_choice 'none'; Bedrock has no such choice",
                ));
                tools.clear();
                None
            }
            _ => {
                return Err(FormatError::InvalidValue {
                    param: "tool_choice",
                    reason: "expected 'none', 'auto', 'required' or a named function.",
                });
            }
        },
        Some(ChatToolChoice::Named(n)) => Some(ToolChoice::Tool(ToolName {
            name: n.function.name,
        })),
    };
    if req.parallel_tool_calls == Some(false) && !tools.is_empty() {
        w.push(Warning::new(
            "parallel_tool_calls",
            "Bedrock cannot turn off parallel tool calls",
        ));
    }

    let requested_max = req.max_completion_tokens.or(req.max_tokens);
    let mut max_tokens = requested_max;
    let mut thinking = None;
    if let Some(effort) = req.reasoning_effort.as_deref() {
        match thinking_budget(effort) {
            None => {}
            Some(_) if !anthropic => w.push(Warning::new(
                "reasoning_effort",
                "only Anthropic models on Bedrock take a thinking budget",
            )),
            Some(_) if matches!(tool_choice, Some(ToolChoice::Any(_) | ToolChoice::Tool(_))) => {
                w.push(Warning::new(
                    "reasoning_effort",
                    "Anthropic cannot think while a tool is forced",
                ));
            }
            // Anthropic wants the signed thinking of the tool-use turn back, which an OpenAI
            // client never has.
            Some(_) if ends_with_tool_results(&messages) => w.push(Warning::new(
                "reasoning_effort",
                "Anthropic requires the signed thinking of the previous tool-use turn",
            )),
            Some(budget) => match requested_max {
                None => {
                    max_tokens = Some(DEFAULT_MAX_TOKENS + budget);
                    thinking = Some(budget);
                }
                Some(max) if max > MIN_THINKING_BUDGET => thinking = Some(budget.min(max - 1)),
                Some(_) => w.push(Warning::new(
                    "reasoning_effort",
                    "max_tokens leaves no room for Anthropic's minimum thinking budget",
                )),
            },
        }
    }

    let mut json_tool = None;
    match req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(format) => {
            if !tools.is_empty() || has_tool_blocks {
                return Err(FormatError::InvalidValue {
                    param: "response_format",
                    reason: "structured output cannot be combined with tools on Bedrock models.",
                });
            }
            if thinking.is_some() {
                return Err(FormatError::InvalidValue {
                    param: "response_format",
                    reason: "structured output cannot be combined with reasoning_effort on Bedrock models.",
                });
            }
            let (name, description, schema) = match format {
                ResponseFormat::JsonSchema { json_schema } => (
                    json_schema.name,
                    json_schema.description,
                    json_schema.schema,
                ),
                _ => (JSON_OBJECT_TOOL.to_owned(), None, None),
            };
            tools.push(Tool::ToolSpec(ToolSpec {
                name: name.clone(),
                description: Some(description.unwrap_or_else(|| {
                    "Give the answer as this tool's input, a JSON value matching its schema."
                        .to_owned()
                })),
                input_schema: InputSchema {
                    json: schema.unwrap_or_else(|| json!({"type": "object"})),
                },
                extra: Extra::new(),
            }));
            tool_choice = Some(ToolChoice::Tool(ToolName { name: name.clone() }));
            json_tool = Some(name);
        }
    }

    let (mut temperature, mut top_p) = (req.temperature, req.top_p);
    if thinking.is_some() {
        if temperature.take().is_some() {
            w.push(Warning::new("temperature", "not allowed with thinking"));
        }
        if top_p.take().is_some() {
            w.push(Warning::new("top_p", "not allowed with thinking"));
        }
    } else if let Some(t) = temperature.filter(|t| anthropic && *t > 1.0) {
        w.push(Warning::new(
            "temperature",
            "clamped to Anthropic's maximum of 1",
        ));
        temperature = Some(t.min(1.0));
    }
    if req.user.is_some() {
        w.push(Warning::new("user", "not supported by Bedrock"));
    }
    for (key, value) in &req.extra {
        if !value.is_null() {
            w.push(Warning::new(key.clone(), "not supported by Bedrock"));
        }
    }
    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let stop_sequences = req.stop.map(|s| match s {
        Stop::One(s) => vec![s],
        Stop::Many(v) => v,
    });
    let inference = InferenceConfig {
        max_tokens,
        temperature,
        top_p,
        stop_sequences,
        extra: Extra::new(),
    };
    let inference_config = (inference != InferenceConfig::default()).then_some(inference);
    let request = ConverseRequest {
        messages,
        system: (!system.is_empty()).then_some(system),
        inference_config,
        tool_config: (!tools.is_empty()).then_some(ToolConfig {
            tools,
            tool_choice,
            extra: Extra::new(),
        }),
        additional_model_request_fields: thinking
            .map(|budget| json!({"thinking": {"type": "enabled", "budget_tokens": budget}})),
        extra: Extra::new(),
    };
    Ok(ToConverse {
        request,
        warnings: w,
        json_tool,
        include_usage,
        stream: req.stream.unwrap_or(false),
    })
}

fn ends_with_tool_results(messages: &[Message]) -> bool {
    messages.last().is_some_and(|m| {
        m.role == Role::User
            && m.content
                .iter()
                .any(|b| matches!(b, ContentBlock::ToolResult(_)))
    })
}

type Messages = (Vec<SystemContentBlock>, Vec<Message>);

fn messages(
    msgs: Vec<crate::translate::ChatMessage>,
    w: &mut Vec<Warning>,
) -> Result<Messages, FormatError> {
    let mut system = Vec::new();
    let mut out: Vec<Message> = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.into_iter().enumerate() {
        if m.name.is_some() {
            w.push(Warning::new(
                format!("messages[{i}].name"),
                "Bedrock has no message names",
            ));
        }
        for key in m.extra.keys() {
            w.push(Warning::new(
                format!("messages[{i}].{key}"),
                "not supported by Bedrock",
            ));
        }
        match m.role {
            ChatRole::System | ChatRole::Developer => {
                for b in blocks(m.content, i, w)? {
                    match b {
                        ContentBlock::Text(t) => system.push(SystemContentBlock::Text(t)),
                        ContentBlock::CachePoint(c) => {
                            system.push(SystemContentBlock::CachePoint(c))
                        }
                        _ => w.push(Warning::new(
                            format!("messages[{i}].content"),
                            "only text can be a Bedrock system prompt",
                        )),
                    }
                }
            }
            ChatRole::User => {
                let content = blocks(m.content, i, w)?;
                push(&mut out, Role::User, content);
            }
            ChatRole::Assistant => {
                if m.reasoning_content.is_some() {
                    w.push(Warning::new(
                        format!("messages[{i}].reasoning_content"),
                        "reasoning without a signature cannot be sent back to Bedrock",
                    ));
                }
                let mut content = blocks(m.content, i, w)?;
                if let Some(refusal) = m.refusal {
                    content.push(ContentBlock::Text(refusal));
                }
                for call in m.tool_calls.into_iter().flatten() {
                    content.push(ContentBlock::ToolUse(ToolUseBlock {
                        tool_use_id: call.id,
                        name: call.function.name,
                        input: arguments(&call.function.arguments)?,
                        extra: Extra::new(),
                    }));
                }
                push(&mut out, Role::Assistant, content);
            }
            ChatRole::Tool => {
                let result = tool_result(m.tool_call_id.unwrap_or_default(), m.content, i, w);
                push(&mut out, Role::User, vec![result]);
            }
            ChatRole::Function | ChatRole::Other(_) => {
                w.push(Warning::new(
                    format!("messages[{i}]"),
                    "message role not supported by Bedrock",
                ));
            }
        }
    }
    Ok((system, out))
}

/// Appends `content` as a message, merging it into the last message of the same role: Bedrock
/// requires the roles to alternate.
fn push(out: &mut Vec<Message>, role: Role, content: Vec<ContentBlock>) {
    match out.last_mut() {
        Some(last) if last.role == role => last.content.extend(content),
        _ => out.push(Message {
            role,
            content,
            extra: Extra::new(),
        }),
    }
}

/// Tool call arguments (JSON text) as the `toolUse.input` object.
fn arguments(args: &str) -> Result<Value, FormatError> {
    if args.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(FormatError::InvalidValue {
            param: "messages.tool_calls.function.arguments",
            reason: "tool call arguments must be a JSON object to be sent to Bedrock.",
        }),
    }
}
