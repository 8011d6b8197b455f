//! The client's body as routing needs it, read no more than the decisions need: the client's
//! routing preferences (OpenRouter `provider`, `models`, `route`) and the features the request
//! uses, the body without those router-only fields, and the prompt's size when a decision
//! depends on it.

use std::sync::OnceLock;

use bytes::Bytes;
use tollgate_formats::FormatError;
use tollgate_formats::openai::{self, RoutingPrefs, Sort};
use tollgate_proto::routing::v1::{ChatCall, WireFormat};

use crate::mode::anthropic_client;
use crate::route_table::RouteTable;

/// The body of one call, ready to route.
pub(super) struct Body {
    pub prefs: RoutingPrefs,
    /// The client's body without router-only fields.
    pub bytes: Bytes,
    /// Prompt tokens, measured up front only when a routing decision depends on them (else on
    /// demand, once, by the relay).
    pub prompt: OnceLock<u64>,
    pub max_tokens: Option<u64>,
}

/// Read `call`'s body; a body that cannot be read is the client's error.
pub(super) fn read(table: &RouteTable, call: &ChatCall) -> Result<Body, FormatError> {
    let prefs = routing_prefs(table, call)?;
    let bytes = if prefs.has_router_fields {
        openai::strip_router_fields(&call.body)?
    } else {
        call.body.clone()
    };
    let prompt = OnceLock::new();
    let mut max_tokens = None;
    if table.needs_tokens || prefs.provider.sort == Some(Sort::Price) {
        let (tokens, max) = measure(call.format(), &bytes);
        max_tokens = max;
        let _ = prompt.set(tokens.unwrap_or(bytes.len() as u64 / 4));
    }
    Ok(Body {
        prefs,
        bytes,
        prompt,
        max_tokens,
    })
}

/// The client's routing preferences and the features its request uses. The full read is
/// skipped when neither can matter: no router key in the body, and no deployment declaring
/// capabilities. Anthropic bodies carry no OpenRouter-style router fields; embeddings and the
/// other endpoints carry no router fields or chat features (their routing is the model's own).
fn routing_prefs(table: &RouteTable, call: &ChatCall) -> Result<RoutingPrefs, FormatError> {
    let chat = !anthropic_client(call.format())
        && call.format() != WireFormat::OpenaiEmbeddings
        && crate::mode::endpoint(call.format()).is_none();
    let router_keys = chat
        && [&b"\"models\""[..], b"\"provider\"", b"\"route\""]
            .iter()
            .any(|k| memchr::memmem::find(&call.body, k).is_some());
    if router_keys || (table.needs_features && chat) {
        openai::peek_routing_prefs(&call.body)
    } else {
        Ok(RoutingPrefs::default())
    }
}

/// The prompt's estimated tokens and the answer's `max_tokens`, from a body in `format`.
fn measure(format: WireFormat, body: &[u8]) -> (Option<u64>, Option<u64>) {
    if crate::mode::endpoint(format).is_some() {
        (Some(crate::prompt::tokens(body, format)), Some(0))
    } else if format == WireFormat::OpenaiEmbeddings {
        let peek = openai::peek_embeddings(body).ok();
        (peek.map(|p| p.prompt_tokens_estimate), Some(0))
    } else if format == WireFormat::OpenaiCompletions {
        let peek = openai::peek_completions(body).ok();
        let max = peek.as_ref().map(|p| p.max_tokens);
        (peek.map(|p| p.prompt_tokens_estimate), max)
    } else if anthropic_client(format) {
        let peek = tollgate_formats::anthropic::peek_messages(body).ok();
        let max = peek.as_ref().map(|p| p.max_tokens);
        (peek.map(|p| p.prompt_tokens_estimate), max)
    } else {
        let peek = openai::peek_chat(body).ok();
        let max = peek.as_ref().and_then(|p| p.max_tokens);
        (peek.map(|p| p.prompt_tokens_estimate), max)
    }
}
