//! The models a call may be served by, in order: the one asked for, the client's OpenRouter
//! `models` list, then the model's configured fallbacks (each with the error classes that lead
//! to it). And what to tell the client when a model had nothing left to try.

use std::sync::Arc;

use tollgate_config::FallbackOn;
use tollgate_formats::openai::RoutingPrefs;

use crate::attempt::Failed;
use crate::catalog::{Catalog, Model};
use crate::failure::{self, Class};
use crate::select::Blocked;

/// A model of the chain and the error classes that lead to it (`None`: any).
pub(crate) struct Link {
    pub model: Arc<Model>,
    pub on: Option<Vec<FallbackOn>>,
}

/// The requested model, then the client's `models` list, then the model's configured fallbacks;
/// each once, and only those the caller may use.
pub(crate) fn chain(
    catalog: &Catalog,
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
        let Some(m) = catalog.get(name) else { continue };
        if links.iter().any(|l| l.model.name == m.name) || !catalog.allows(allowed, m) {
            continue;
        }
        links.push(Link {
            model: m.clone(),
            on,
        });
    }
    links
}

/// Why nothing could be tried, as the client will read it.
pub(crate) fn blocked_failure(blocked: Blocked, model: &Model, now: u64) -> Failed {
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
