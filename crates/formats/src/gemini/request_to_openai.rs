//! Gemini `generateContent` request → OpenAI chat request (Gemini clients served by OpenAI
//! deployments, and round-trip tests of the other direction).

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::model::{Content, GenerateContentRequest, Part};
use super::{effort_for_budget, join_call_id};
use crate::FormatError;
use crate::translate::assistant::AnswerBuilder;
use crate::translate::{
    ChatContent, ChatMessage, ChatRequest, ChatRole, ChatTool, ChatToolChoice, ContentPart, Extra,
    FilePart, FileRef, FunctionDef, ImageUrl, ImageUrlPart, JsonSchema, NamedToolChoice,
    ResponseFormat, Stop, TextPart, ToolName, Translated, Warning,
};

/// Translate a Gemini request for an OpenAI-compatible deployment serving `model`.
pub fn gemini_to_openai_request(
    req: GenerateContentRequest,
    model: &str,
) -> Result<Translated<ChatRequest>, FormatError> {
    let mut w = Vec::new();
    if req.contents.is_empty() {
        return Err(FormatError::EmptyArray("contents"));
    }
    let mut messages = Vec::with_capacity(req.contents.len() + 1);
    if let Some(system) = req.system_instruction {
        let text = system
            .parts
            .into_iter()
            .enumerate()
            .filter_map(|(j, p)| match p.text {
                Some(t) => Some(t),
                None => {
                    w.push(Warning::new(
                        format!("systemInstruction.parts[{j}]"),
                        "only text system instructions can be sent to OpenAI",
                    ));
                    None
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        messages.push(ChatMessage::new(
            ChatRole::System,
            Some(ChatContent::Text(text)),
        ));
    }
    let mut ids = CallIds::default();
    for (i, c) in req.contents.into_iter().enumerate() {
        if c.is_model() {
            messages.push(model_message(c, i, &mut ids, &mut w));
        } else {
            user_messages(c, i, &mut ids, &mut messages, &mut w);
        }
    }

    let mut out = ChatRequest {
        model: model.to_owned(),
        messages,
        ..ChatRequest::default()
    };
    let mut tools = Vec::new();
    for (i, t) in req.tools.into_iter().flatten().enumerate() {
        for key in t.extra.keys() {
            w.push(Warning::new(
                format!("tools[{i}].{key}"),
                "built-in Gemini tools are not supported by OpenAI",
            ));
        }
        for d in t.function_declarations.into_iter().flatten() {
            tools.push(ChatTool {
                kind: "function".to_owned(),
                function: FunctionDef {
                    name: d.name,
                    description: d.description,
                    parameters: d.parameters_json_schema.or(d.parameters),
                    strict: None,
                },
                extra: Extra::new(),
            });
        }
    }
    let calling = req.tool_config.and_then(|c| c.function_calling_config);
    if calling.is_some() && tools.is_empty() {
        w.push(Warning::new(
            "toolConfig",
            "no function declarations to choose from",
        ));
    }
    if let Some(fc) = calling.filter(|_| !tools.is_empty()) {
        let names = fc.allowed_function_names.unwrap_or_default();
        out.tool_choice = match fc.mode.as_deref() {
            Some("NONE") => Some(ChatToolChoice::Mode("none".to_owned())),
            Some("ANY") if names.len() == 1 => Some(ChatToolChoice::Named(NamedToolChoice {
                kind: "function".to_owned(),
                function: ToolName {
                    name: names[0].clone(),
                },
            })),
            Some("ANY") => {
                if !names.is_empty() {
                    w.push(Warning::new(
                        "toolConfig.functionCallingConfig.allowedFunctionNames",
                        "OpenAI can force one named function or any function",
                    ));
                }
                Some(ChatToolChoice::Mode("required".to_owned()))
            }
            Some("AUTO") | None => Some(ChatToolChoice::Mode("auto".to_owned())),
            Some(_) => {
                w.push(Warning::new(
                    "toolConfig.functionCallingConfig.mode",
                    "not supported by OpenAI",
                ));
                None
            }
        };
    }
    out.tools = (!tools.is_empty()).then_some(tools);

    if let Some(g) = req.generation_config {
        out.temperature = g.temperature;
        out.top_p = g.top_p;
        out.max_completion_tokens = g.max_output_tokens;
        out.stop = g.stop_sequences.map(Stop::Many);
        out.n = g.candidate_count;
        if g.top_k.is_some() {
            w.push(Warning::new(
                "generationConfig.topK",
                "not supported by OpenAI",
            ));
        }
        let mut extra = Extra::new();
        if let Some(s) = g.seed {
            extra.insert("seed".to_owned(), s.into());
        }
        if let Some(p) = g.presence_penalty {
            extra.insert("presence_penalty".to_owned(), p.into());
        }
        if let Some(p) = g.frequency_penalty {
            extra.insert("frequency_penalty".to_owned(), p.into());
        }
        if g.response_logprobs == Some(true) {
            extra.insert("logprobs".to_owned(), true.into());
            if let Some(n) = g.logprobs {
                extra.insert("top_logprobs".to_owned(), n.into());
            }
        }
        out.extra = extra;
        match g.response_mime_type.as_deref() {
            None | Some("text/plain") => {}
            Some("application/json") => {
                out.response_format = Some(match g.response_json_schema.or(g.response_schema) {
                    Some(schema) => ResponseFormat::JsonSchema {
                        json_schema: JsonSchema {
                            name: "response".to_owned(),
                            description: None,
                            schema: Some(schema),
                            strict: None,
                        },
                    },
                    None => ResponseFormat::JsonObject,
                });
            }
            Some(_) => w.push(Warning::new(
                "generationConfig.responseMimeType",
                "not supported by OpenAI",
            )),
        }
        if let Some(t) = g.thinking_config {
            out.reasoning_effort = t.thinking_budget.map(|b| effort_for_budget(b).to_owned());
        }
        for key in g.extra.keys() {
            w.push(Warning::new(
                format!("generationConfig.{key}"),
                "not supported by OpenAI",
            ));
        }
    }
    if req.safety_settings.is_some() {
        w.push(Warning::new("safetySettings", "not supported by OpenAI"));
    }
    if req.cached_content.is_some() {
        w.push(Warning::new("cachedContent", "not supported by OpenAI"));
    }
    for key in req.extra.keys() {
        w.push(Warning::new(key.clone(), "not supported by OpenAI"));
    }
    Ok(Translated {
        value: out,
        warnings: w,
    })
}

/// Tool call ids: Gemini's own when it gives them, else `call_<n>`; a function response
/// without an id answers the oldest open call of its name.
#[derive(Default)]
struct CallIds {
    next: usize,
    open: HashMap<String, VecDeque<String>>,
}

impl CallIds {
    fn call(&mut self, id: Option<String>, name: &str) -> String {
        let id = id.unwrap_or_else(|| {
            let id = format!("call_{}", self.next);
            self.next += 1;
            id
        });
        self.open
            .entry(name.to_owned())
            .or_default()
            .push_back(id.clone());
        id
    }

    fn response(&mut self, id: Option<String>, name: &str) -> String {
        let queue = self.open.entry(name.to_owned()).or_default();
        match id {
            Some(id) => {
                queue.retain(|open| *open != id);
                id
            }
            None => queue.pop_front().unwrap_or_else(|| format!("call_{name}")),
        }
    }
}

fn model_message(c: Content, i: usize, ids: &mut CallIds, w: &mut Vec<Warning>) -> ChatMessage {
    let mut answer = AnswerBuilder::default();
    for (j, p) in c.parts.into_iter().enumerate() {
        let thought = p.is_thought();
        match p {
            Part {
                function_call: Some(fc),
                thought_signature,
                ..
            } => {
                let id = ids.call(fc.id, &fc.name);
                let id = join_call_id(&id, thought_signature.as_deref());
                answer.tool_call(id, fc.name, fc.args.to_string());
            }
            Part { text: Some(t), .. } if thought => answer.reasoning(&t),
            Part { text: Some(t), .. } => answer.text(&t),
            _ => w.push(Warning::new(
                format!("contents[{i}].parts[{j}]"),
                "part type not supported in OpenAI assistant messages",
            )),
        }
    }
    answer.message()
}

/// A user content: its function responses become tool messages (first), the rest one user
/// message.
fn user_messages(
    c: Content,
    i: usize,
    ids: &mut CallIds,
    out: &mut Vec<ChatMessage>,
    w: &mut Vec<Warning>,
) {
    let mut parts = Vec::new();
    for (j, p) in c.parts.into_iter().enumerate() {
        if let Some(fr) = p.function_response {
            let id = ids.response(fr.id, &fr.name);
            let content = match &fr.response {
                Value::Object(o) if o.len() == 1 => match o.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    _ => fr.response.to_string(),
                },
                _ => fr.response.to_string(),
            };
            let mut m = ChatMessage::new(ChatRole::Tool, Some(ChatContent::Text(content)));
            m.tool_call_id = Some(id);
            out.push(m);
        } else if let Some(t) = p.text {
            parts.push(ContentPart::Text(TextPart {
                text: t,
                cache_control: None,
                extra: Extra::new(),
            }));
        } else if let Some(b) = p.inline_data {
            let url = format!("data:{};base64,{}", b.mime_type, b.data);
            parts.push(if b.mime_type.starts_with("image/") {
                image(url)
            } else {
                ContentPart::File(FilePart {
                    file: FileRef {
                        filename: None,
                        file_data: Some(url),
                        file_id: None,
                    },
                    extra: Extra::new(),
                })
            });
        } else if let Some(f) = p.file_data {
            parts.push(image(f.file_uri));
        } else {
            w.push(Warning::new(
                format!("contents[{i}].parts[{j}]"),
                "part type not supported by OpenAI",
            ));
        }
    }
    if parts.is_empty() {
        return;
    }
    let content = match parts.as_slice() {
        [ContentPart::Text(t)] => ChatContent::Text(t.text.clone()),
        _ => ChatContent::Parts(parts),
    };
    out.push(ChatMessage::new(ChatRole::User, Some(content)));
}

fn image(url: String) -> ContentPart {
    ContentPart::ImageUrl(ImageUrlPart {
        image_url: ImageUrl { url, detail: None },
        extra: Extra::new(),
    })
}
