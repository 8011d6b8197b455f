//! OpenAI chat request → Gemini `generateContent` request.

use serde_json::json;

use super::messages::contents;
use super::model::{
    Extra, FunctionCallingConfig, FunctionDeclaration, GenerateContentRequest, GenerationConfig,
    ThinkingConfig, Tool, ToolConfig,
};
use super::thinking_budget;
use crate::FormatError;
use crate::translate::{ChatRequest, ChatToolChoice, ResponseFormat, Stop, Translated, Warning};

/// Translate an OpenAI chat request for a Gemini model. `stream` and `stream_options` are not
/// part of a Gemini body (streaming is the `:streamGenerateContent` endpoint), so the caller
/// reads them from the OpenAI request itself.
pub fn openai_to_gemini_request(
    req: ChatRequest,
) -> Result<Translated<GenerateContentRequest>, FormatError> {
    let mut w = Vec::new();
    let (system_instruction, contents) = contents(req.messages, &mut w)?;

    let mut decls = Vec::new();
    for (i, t) in req.tools.into_iter().flatten().enumerate() {
        if t.kind != "function" {
            w.push(Warning::new(
                format!("tools[{i}]"),
                "only function tools can be sent to Gemini",
            ));
            continue;
        }
        if t.function.strict.is_some() {
            w.push(Warning::new(
                format!("tools[{i}].function.strict"),
                "Gemini has no strict switch for tool schemas",
            ));
        }
        for key in t.extra.keys() {
            w.push(Warning::new(
                format!("tools[{i}].{key}"),
                "not supported by Gemini",
            ));
        }
        decls.push(FunctionDeclaration {
            name: t.function.name,
            description: t.function.description,
            parameters: None,
            // Full JSON Schema: Gemini's `parameters` takes only an OpenAPI subset and refuses
            // keywords OpenAI schemas commonly carry (`additionalProperties`, `$defs`).
            parameters_json_schema: t.function.parameters,
            extra: Extra::new(),
        });
    }

    let calling = match req.tool_choice {
        None => None,
        Some(_) if decls.is_empty() => {
            w.push(Warning::new("tool_choice", "no tools to choose from"));
            None
        }
        Some(ChatToolChoice::Mode(m)) => {
            let mode = match m.as_str() {
                "auto" => "AUTO",
                "none" => "NONE",
                "required" => "ANY",
                _ => {
                    return Err(FormatError::InvalidValue {
                        param: "tool_choice",
                        reason: "expected 'none', 'auto', 'required' or a named function.",
                    });
                }
            };
            Some(FunctionCallingConfig {
                mode: Some(mode.to_owned()),
                ..FunctionCallingConfig::default()
            })
        }
        Some(ChatToolChoice::Named(n)) => Some(FunctionCallingConfig {
            mode: Some("ANY".to_owned()),
            allowed_function_names: Some(vec![n.function.name]),
            extra: Extra::new(),
        }),
    };
    if req.parallel_tool_calls.is_some() {
        w.push(Warning::new(
            "parallel_tool_calls",
            "Gemini has no switch for parallel function calls",
        ));
    }

    let mut config = GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        max_output_tokens: req.max_completion_tokens.or(req.max_tokens),
        stop_sequences: req.stop.map(|s| match s {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }),
        candidate_count: req.n.filter(|n| *n != 1),
        ..GenerationConfig::default()
    };
    let mut extra = req.extra;
    config.presence_penalty = number(&mut extra, "presence_penalty", &mut w);
    config.frequency_penalty = number(&mut extra, "frequency_penalty", &mut w);
    if let Some(seed) = extra.remove("seed").filter(|v| !v.is_null()) {
        match seed.as_i64() {
            Some(s) => config.seed = Some(s),
            None => w.push(Warning::new("seed", "not an integer")),
        }
    }
    if extra.remove("logprobs").and_then(|v| v.as_bool()) == Some(true) {
        config.response_logprobs = Some(true);
        config.logprobs = extra.remove("top_logprobs").and_then(|v| v.as_u64());
    }
    match req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            config.response_mime_type = Some("application/json".to_owned());
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            config.response_mime_type = Some("application/json".to_owned());
            config.response_json_schema = Some(
                json_schema
                    .schema
                    .unwrap_or_else(|| json!({"type": "object"})),
            );
        }
    }
    if let Some(effort) = req.reasoning_effort {
        match thinking_budget(&effort) {
            Some(budget) => {
                config.thinking_config = Some(ThinkingConfig {
                    thinking_budget: Some(budget),
                    // The thoughts come back as `reasoning_content`, as Anthropic thinking does.
                    include_thoughts: (budget != 0).then_some(true),
                    extra: Extra::new(),
                })
            }
            None => w.push(Warning::new(
                "reasoning_effort",
                "unknown effort; Gemini's default thinking applies",
            )),
        }
    }
    if req.user.is_some() {
        w.push(Warning::new("user", "not supported by Gemini"));
    }
    for (key, value) in &extra {
        // What was mapped has been removed from `extra` by now.
        if !value.is_null() {
            w.push(Warning::new(key.clone(), "not supported by Gemini"));
        }
    }

    let request = GenerateContentRequest {
        contents,
        system_instruction,
        tools: (!decls.is_empty()).then(|| {
            vec![Tool {
                function_declarations: Some(decls),
                extra: Extra::new(),
            }]
        }),
        tool_config: calling.map(|c| ToolConfig {
            function_calling_config: Some(c),
            extra: Extra::new(),
        }),
        generation_config: (config != GenerationConfig::default()).then_some(config),
        safety_settings: None,
        cached_content: None,
        extra: Extra::new(),
    };
    Ok(Translated {
        value: request,
        warnings: w,
    })
}

fn number(extra: &mut Extra, key: &'static str, w: &mut Vec<Warning>) -> Option<f64> {
    let v = extra.remove(key).filter(|v| !v.is_null())?;
    let n = v.as_f64();
    if n.is_none() {
        w.push(Warning::new(key, "not a number"));
    }
    n
}
