//! Tools and `tool_choice` of a Responses request, for a chat provider: function tools carry
//! over; every other tool type is a built-in tool the provider cannot run, and refuses the
//! request with a message naming it.

use serde_json::Value;

use super::{Tool, ToolChoice};
use crate::FormatError;
use crate::translate::{
    ChatTool, ChatToolChoice, Extra, FunctionDef, NamedToolChoice, ToolName, Warning,
};

/// Function tools become chat tools; any other tool refuses the request, naming its type.
pub(crate) fn tools(tools: Vec<Tool>, w: &mut Vec<Warning>) -> Result<Vec<ChatTool>, FormatError> {
    for (i, t) in tools.iter().enumerate() {
        match t.kind() {
            "function" if !matches!(t, Tool::Function(_)) => {
                // A function tool that did not parse as one (no `name`).
                return Err(FormatError::MissingParameter(
                    format!("tools[{i}].name").into(),
                ));
            }
            "function" => {}
            kind => {
                return Err(FormatError::InvalidValue {
                    param: "tools",
                    reason: builtin_tool_refusal(kind),
                });
            }
        }
    }
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.into_iter().enumerate() {
        let Tool::Function(f) = t else { continue };
        for key in f.extra.keys() {
            w.push(Warning::new(
                format!("tools[{i}].{key}"),
                "not supported by chat providers",
            ));
        }
        out.push(ChatTool {
            kind: "function".to_owned(),
            function: FunctionDef {
                name: f.name,
                description: f.description,
                parameters: f.parameters,
                strict: f.strict,
            },
            extra: Extra::new(),
        });
    }
    Ok(out)
}

/// The 400 message for a tool this deployment cannot run, naming its type. A table of
/// `'static` texts because `FormatError::InvalidValue` carries no owned text; a type not listed
/// (newer than this table) gets the generic text.
pub fn builtin_tool_refusal(kind: &str) -> &'static str {
    match kind {
        "web_search" => "web_search is a built-in tool this deployment cannot run.",
        "web_search_2025_08_26" => {
            "web_search_2025_08_26 is a built-in tool this deployment cannot run."
        }
        "web_search_preview" => "web_search_preview is a built-in tool this deployment cannot run.",
        "web_search_preview_2025_03_11" => {
            "web_search_preview_2025_03_11 is a built-in tool this deployment cannot run."
        }
        "file_search" => "file_search is a built-in tool this deployment cannot run.",
        "computer" => "computer is a built-in tool this deployment cannot run.",
        "computer_use_preview" => {
            "computer_use_preview is a built-in tool this deployment cannot run."
        }
        "code_interpreter" => "code_interpreter is a built-in tool this deployment cannot run.",
        "image_generation" => "image_generation is a built-in tool this deployment cannot run.",
        "mcp" => "mcp is a built-in tool this deployment cannot run.",
        "local_shell" => "local_shell is a built-in tool this deployment cannot run.",
        "shell" => "shell is a built-in tool this deployment cannot run.",
        "apply_patch" => "apply_patch is a built-in tool this deployment cannot run.",
        "tool_search" => "tool_search is a built-in tool this deployment cannot run.",
        "programmatic_tool_calling" => {
            "programmatic_tool_calling is a built-in tool this deployment cannot run."
        }
        "custom" => {
            "custom (free-form) tools cannot be sent to this deployment; declare a function tool."
        }
        "namespace" => "namespace tools cannot be sent to this deployment; declare function tools.",
        _ => "only function tools can run on this deployment; a built-in tool type was given.",
    }
}

pub(crate) fn tool_choice(c: ToolChoice, w: &mut Vec<Warning>) -> Option<ChatToolChoice> {
    match c {
        ToolChoice::Mode(m) => Some(ChatToolChoice::Mode(m)),
        ToolChoice::Object(o) => match (o.kind.as_str(), o.name) {
            ("function", Some(name)) => Some(ChatToolChoice::Named(NamedToolChoice {
                kind: "function".to_owned(),
                function: ToolName { name },
            })),
            ("allowed_tools", _) => {
                w.push(Warning::new(
                    "tool_choice.tools",
                    "chat providers cannot restrict the tools offered; all are allowed",
                ));
                let mode = o
                    .extra
                    .get("mode")
                    .and_then(Value::as_str)
                    .unwrap_or("auto");
                Some(ChatToolChoice::Mode(mode.to_owned()))
            }
            _ => {
                w.push(Warning::new(
                    "tool_choice",
                    "only function tools can be chosen on this deployment",
                ));
                None
            }
        },
    }
}
