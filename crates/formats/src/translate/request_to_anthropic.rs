//! OpenAI chat request → Anthropic Messages request.

use serde_json::json;

use super::messages_to_anthropic::{continues_tool_turn, messages};
use super::openai_model::{ChatRequest, ChatToolChoice, ResponseFormat, Stop};
use super::parts_to_anthropic::tool;
use super::{Translated, Warning};
use crate::FormatError;
use crate::anthropic::{Extra, MessagesRequest, Metadata, Thinking, Tool, ToolChoice};

/// `max_tokens` when the OpenAI request sets neither `max_tokens` nor `max_completion_tokens`
/// (Anthropic requires one; 4096 is the largest output every current Claude model accepts).
pub const DEFAULT_MAX_TOKENS: u64 = 4_096;
/// Name of the forced tool that carries a `response_format: {"type": "json_object"}` answer.
pub const JSON_OBJECT_TOOL: &str = "json_response";
/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1_024;

/// The Anthropic thinking budget for an OpenAI `reasoning_effort`: `low` 1024 (Anthropic's
/// minimum), `medium` 4096, `high` 16384; `minimal`/`none` turn thinking off (`None`).
pub fn thinking_budget(effort: &str) -> Option<u64> {
    match effort {
        "low" => Some(1_024),
        "medium" => Some(4_096),
        "high" => Some(16_384),
        _ => None,
    }
}

/// A translated request and what the response side needs to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToAnthropic {
    pub request: MessagesRequest,
    pub warnings: Vec<Warning>,
    /// The forced tool standing in for `response_format`; its input is the answer's content.
    pub json_tool: Option<String>,
    /// `stream_options.include_usage`: the OpenAI client wants the final usage chunk.
    pub include_usage: bool,
}

/// Translate an OpenAI chat request for an Anthropic deployment serving `model`.
pub fn openai_to_anthropic_request(
    req: ChatRequest,
    model: &str,
) -> Result<ToAnthropic, FormatError> {
    let mut w = Vec::new();
    if req.n.is_some_and(|n| n > 1) {
        return Err(FormatError::InvalidValue {
            param: "n",
            reason: "Anthropic models return one choice per request; n must be 1.",
        });
    }
    let (system, messages) = messages(req.messages, &mut w)?;
    let mut tools: Vec<Tool> = Vec::new();
    for (i, t) in req.tools.into_iter().flatten().enumerate() {
        if let Some(t) = tool(t, i, &mut w) {
            tools.push(t);
        }
    }
    let mut tool_choice = match req.tool_choice {
        None => None,
        Some(_) if tools.is_empty() => {
            w.push(Warning::new("tool_choice", "no tools to choose from"));
            None
        }
        Some(ChatToolChoice::Mode(m)) => Some(match m.as_str() {
            "auto" => ToolChoice::Auto {
                disable_parallel_tool_use: None,
            },
            "required" => ToolChoice::Any {
                disable_parallel_tool_use: None,
            },
            "none" => ToolChoice::None,
            _ => {
                return Err(FormatError::InvalidValue {
                    param: "tool_choice",
                    reason: "expected 'none', 'auto', 'required' or a named function.",
                });
            }
        }),
        Some(ChatToolChoice::Named(n)) => Some(ToolChoice::Tool {
            name: n.function.name,
            disable_parallel_tool_use: None,
        }),
    };
    if req.parallel_tool_calls == Some(false) && !tools.is_empty() {
        let choice = tool_choice.get_or_insert(ToolChoice::Auto {
            disable_parallel_tool_use: None,
        });
        match choice {
            ToolChoice::Auto {
                disable_parallel_tool_use,
            }
            | ToolChoice::Any {
                disable_parallel_tool_use,
            }
            | ToolChoice::Tool {
                disable_parallel_tool_use,
                ..
            } => *disable_parallel_tool_use = Some(true),
            ToolChoice::None => {}
        }
    }

    let requested_max = req.max_completion_tokens.or(req.max_tokens);
    let mut thinking = None;
    let mut max_tokens = requested_max.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(budget) = req.reasoning_effort.as_deref().and_then(thinking_budget) {
        match requested_max {
            None => {
                max_tokens = DEFAULT_MAX_TOKENS + budget;
                thinking = Some(budget);
            }
            // The budget must be below max_tokens and at least the minimum.
            Some(max) if max > MIN_THINKING_BUDGET => {
                thinking = Some(budget.min(max - 1));
            }
            Some(_) => w.push(Warning::new(
                "reasoning_effort",
                "max_tokens leaves no room for Anthropic's minimum thinking budget",
            )),
        }
    }

    if thinking.is_some() {
        let forced = matches!(
            tool_choice,
            Some(ToolChoice::Any { .. } | ToolChoice::Tool { .. })
        );
        if forced {
            thinking = None;
            w.push(Warning::new(
                "reasoning_effort",
                "Anthropic cannot think while a tool is forced",
            ));
        } else if continues_tool_turn(&messages) {
            // Anthropic wants the signed thinking of the tool-use turn back, which an OpenAI
            // client never has; thinking resumes on the next plain user turn.
            thinking = None;
            w.push(Warning::new(
                "reasoning_effort",
                "Anthropic requires the signed thinking of the previous tool-use turn",
            ));
        }
        if thinking.is_none() && requested_max.is_none() {
            max_tokens = DEFAULT_MAX_TOKENS;
        }
    }

    let mut json_tool = None;
    match req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(format) => {
            if !tools.is_empty() {
                return Err(FormatError::InvalidValue {
                    param: "response_format",
                    reason: "structured output cannot be combined with tools on Anthropic models.",
                });
            }
            if thinking.is_some() {
                return Err(FormatError::InvalidValue {
                    param: "response_format",
                    reason: "structured output cannot be combined with reasoning_effort on \
                             Anthropic models.",
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
            tools.push(Tool {
                kind: None,
                name: name.clone(),
                description: Some(description.unwrap_or_else(|| {
                    "Give the answer as this tool's input, a JSON value matching its schema."
                        .to_owned()
                })),
                input_schema: Some(schema.unwrap_or_else(|| json!({"type": "object"}))),
                cache_control: None,
                extra: Extra::new(),
            });
            tool_choice = Some(ToolChoice::Tool {
                name: name.clone(),
                disable_parallel_tool_use: Some(true),
            });
            json_tool = Some(name);
        }
    }

    let (mut temperature, mut top_p) = (req.temperature, req.top_p);
    if thinking.is_some() {
        // Anthropic refuses sampling changes while thinking.
        if temperature.take().is_some() {
            w.push(Warning::new("temperature", "not allowed with thinking"));
        }
        if top_p.take().is_some() {
            w.push(Warning::new("top_p", "not allowed with thinking"));
        }
    } else if let Some(t) = temperature.filter(|t| *t > 1.0) {
        // OpenAI's range is 0..=2, Anthropic's 0..=1.
        w.push(Warning::new(
            "temperature",
            "clamped to Anthropic's maximum of 1",
        ));
        temperature = Some(t.min(1.0));
    }

    for (key, value) in &req.extra {
        if !value.is_null() {
            w.push(Warning::new(key.clone(), "not supported by Anthropic"));
        }
    }
    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);

    let request = MessagesRequest {
        model: model.to_owned(),
        max_tokens,
        messages,
        system,
        stop_sequences: req.stop.map(|s| match s {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }),
        stream: req.stream.filter(|s| *s),
        temperature,
        top_p,
        top_k: None,
        metadata: req.user.map(|u| Metadata {
            user_id: Some(u),
            extra: Extra::new(),
        }),
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        thinking: thinking.map(|budget_tokens| Thinking::Enabled { budget_tokens }),
        extra: Extra::new(),
    };
    Ok(ToAnthropic {
        request,
        warnings: w,
        json_tool,
        include_usage,
    })
}

/// For callers that only want the request and the warnings.
impl From<ToAnthropic> for Translated<MessagesRequest> {
    fn from(t: ToAnthropic) -> Self {
        Translated {
            value: t.request,
            warnings: t.warnings,
        }
    }
}
