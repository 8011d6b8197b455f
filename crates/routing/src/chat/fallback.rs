//! The models a call may be served by, in order: the one asked for, the client's OpenRouter
//! `models` list, then the model's configured fallbacks (each with the error classes that lead
//! to it). And what to tell the client when a model had nothing left to try.

use std::sync::Arc;

use tollgate_config::FallbackOn;
use tollgate_formats::openai::RoutingPrefs;

use crate::attempt::Failed;
use crate::failure::{self, Class};
use crate::route_table::{Model, RouteTable};
use crate::select::Blocked;

/// A model of the chain and the error classes that lead to it (`None`: any).
pub(super) struct Link {
    pub model: Arc<Model>,
    pub on: Option<Vec<FallbackOn>>,
}

/// The requested model, then the client's `models` list, then the model's configured fallbacks;
/// each once, and only those the caller may use.
pub(super) fn chain(
    table: &RouteTable,
    primary: &Arc<Model>,
    prefs: &RoutingPrefs,
    allowed: &[String],
) -> Vec<Link> {
    let mut links = vec![Link {
        model: primary.clone(),
        on: None,
    }];
    let requested = prefs.models.iter().map(|m| (m.as_str(), None));
    let configured = primary
        .fallbacks
        .iter()
        .map(|f| (f.model.as_str(), Some(f.on.clone())));
    for (name, on) in requested.chain(configured) {
        let Some(m) = table.get(name) else { continue };
        if links.iter().any(|l| l.model.name == m.name) || !table.allows(allowed, m) {
            continue;
        }
        links.push(Link {
            model: m.clone(),
            on,
        });
    }
    links
}

/// Whether the chain goes on to `link` after a model failed with `prev`.
pub(super) enum Follow {
    /// This failure never falls back: the chain ends here.
    Stop,
    /// `link` is not for this kind of failure; a later one may be.
    Skip,
    Take,
}

pub(super) fn follows(prev: &Failed, link: &Link) -> Follow {
    let Some(class) = prev.class.fallback_on() else {
        return Follow::Stop;
    };
    if link.on.as_ref().is_some_and(|on| !on.contains(&class)) {
        return Follow::Skip;
    }
    Follow::Take
}

/// A fallback taken, in the metrics and the log.
pub(super) fn record(from: &str, to: &str, prev: &Failed) {
    metrics::counter!(
        "tollgate_routing_fallbacks_total",
        "from" => from.to_owned(),
        "to" => to.to_owned(),
        "class" => prev.class.label(),
    )
    .increment(1);
    tracing::info!(to = %to, class = prev.class.label(), "falling back");
}

/// Why nothing could be tried, as the client will read it.
pub(super) fn blocked_failure(blocked: Blocked, model: &Model, now: u64) -> Failed {
    let (f, class) = match blocked {
        Blocked::NoMatch => (failure::no_match(&model.name), Class::NoMatch),
        Blocked::RateLimited(until) => (
            failure::rate_limited(until.saturating_sub(now).max(1)),
            Class::RateLimit,
        ),
        Blocked::Ejected => (failure::ejected(), Class::ServerError),
        Blocked::Exhausted => (failure::unreachable(), Class::ServerError),
    };
    Failed::new(f, class, None).served(&model.name)
}
