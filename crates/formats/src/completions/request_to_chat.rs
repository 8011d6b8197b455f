//! Completions request → chat request: the prompt as one user message, the sampling settings
//! carried over by name, what chat cannot do refused by name ([`refuse`], which the edge's peek
//! calls too, so a client hears it before admission).

use serde_json::Value;

use super::CompletionRequest;
use crate::FormatError;
use crate::translate::{
    ChatContent, ChatMessage, ChatRequest, ChatRole, Extra, Translated, Warning,
};

/// `max_tokens` when the client sent none: the legacy API's documented default.
pub const DEFAULT_MAX_TOKENS: u64 = 16;

/// Unknown top-level fields Chat Completions takes under the same name and meaning.
const CARRIED: &[&str] = &["service_tier"];

/// Refuses a field chat cannot serve honestly, by name. `null` is always absent; otherwise:
/// `suffix` (a non-empty string: text to insert before), `echo: true`, `logprobs` (any value),
/// `best_of` > 1 and `n` > 1 (several choices; one is the default).
pub fn refuse(field: &'static str, value: Option<&Value>) -> Result<(), FormatError> {
    let Some(v) = value.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let bad = |reason: &'static str| {
        Err(FormatError::InvalidValue {
            param: field,
            reason,
        })
    };
    match field {
        "suffix" => match v {
            Value::String(s) if s.is_empty() => Ok(()),
            Value::String(_) => bad(
                "not supported: chat models cannot insert text before a suffix; send the \
                 request without `suffix`.",
            ),
            _ => Err(FormatError::invalid_type(field, "a string", kind(v))),
        },
        "echo" => match v {
            Value::Bool(false) => Ok(()),
            Value::Bool(true) => bad(
                "not supported: chat models do not return the prompt with the answer; send \
                 `echo: false` and prepend the prompt yourself.",
            ),
            _ => Err(FormatError::invalid_type(field, "a boolean", kind(v))),
        },
        "logprobs" => bad(
            "not supported through the chat models this gateway serves completions with; send \
             the request without `logprobs`.",
        ),
        "best_of" | "n" => match v.as_u64() {
            Some(1) => Ok(()),
            Some(0) => bad("integer out of range. Expected a value >= 1."),
            Some(_) if field == "n" => {
                bad("only one choice is supported (n = 1); send one request per choice.")
            }
            Some(_) => bad(
                "not supported: only one completion is generated (best_of = 1); send the \
                 request without `best_of`.",
            ),
            None => Err(FormatError::invalid_type(field, "an integer", kind(v))),
        },
        _ => Ok(()),
    }
}

/// The one prompt of a request: a string, or an array holding one string. Several prompts
/// would ask for several choices and token-id prompts have no text for a chat model: both are
/// refused naming `prompt`, as are a missing, empty or otherwise-typed prompt.
pub fn prompt_text(prompt: Option<&Value>) -> Result<&str, FormatError> {
    let text = match prompt {
        None | Some(Value::Null) => {
            return Err(FormatError::MissingParameter("prompt".into()));
        }
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(items)) => match items.as_slice() {
            [] => return Err(FormatError::EmptyArray("prompt")),
            [Value::String(s)] => s.as_str(),
            items if items.iter().all(Value::is_string) => {
                return Err(FormatError::InvalidValue {
                    param: "prompt",
                    reason: "several prompts ask for several choices, which this gateway does \
                             not serve through chat models; send one prompt per request.",
                });
            }
            _ => {
                return Err(FormatError::InvalidValue {
                    param: "prompt",
                    reason: "token-id prompts are not supported through chat models; send the \
                             prompt as a string.",
                });
            }
        },
        Some(v) => {
            return Err(FormatError::invalid_type(
                "prompt",
                "a string or an array of strings",
                kind(v),
            ));
        }
    };
    if text.is_empty() {
        return Err(FormatError::InvalidValue {
            param: "prompt",
            reason: "an empty prompt gives a chat model nothing to answer.",
        });
    }
    Ok(text)
}

/// Translate a Completions request into a chat request for the same `model`.
pub fn completions_to_chat_request(
    req: CompletionRequest,
) -> Result<Translated<ChatRequest>, FormatError> {
    if req.model.is_empty() {
        return Err(FormatError::MissingModel);
    }
    let prompt = prompt_text(req.prompt.as_ref())?.to_owned();
    refuse("suffix", req.suffix.as_ref())?;
    refuse("echo", req.echo.as_ref())?;
    refuse("logprobs", req.logprobs.as_ref())?;
    refuse("best_of", req.best_of.as_ref())?;
    refuse("n", req.n.as_ref())?;
    let mut w = Vec::new();
    if req
        .logit_bias
        .as_ref()
        .is_some_and(|b| b.as_object().is_none_or(|o| !o.is_empty()))
    {
        w.push(Warning::new(
            "logit_bias",
            "token ids of the legacy vocabulary; the chat model's may differ",
        ));
    }
    let mut extra = Extra::new();
    if let Some(seed) = req.seed {
        extra.insert("seed".to_owned(), seed.into());
    }
    for (key, value) in [
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
    ] {
        if let Some(v) = value {
            extra.insert(key.to_owned(), v.into());
        }
    }
    for (key, value) in req.extra {
        if CARRIED.contains(&key.as_str()) {
            extra.insert(key, value);
        } else if !value.is_null() {
            w.push(Warning::new(key, "not supported by chat providers"));
        }
    }
    let chat = ChatRequest {
        model: req.model,
        messages: vec![ChatMessage::new(
            ChatRole::User,
            Some(ChatContent::Text(prompt)),
        )],
        max_completion_tokens: Some(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop,
        stream: req.stream.filter(|s| *s),
        stream_options: req.stream_options.filter(|_| req.stream == Some(true)),
        user: req.user,
        extra,
        ..ChatRequest::default()
    };
    Ok(Translated {
        value: chat,
        warnings: w,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
