//! One routing decision: which of a model's deployments the next attempt goes to, given the
//! client's preferences (OpenRouter `provider`), what the request needs (tools, images, JSON
//! schema, prompt size), each deployment's health, and what this request already tried.

use tollgate_config::{DataCollection, Endpoint, RoutingStrategy};
use tollgate_formats::openai::{DataCollectionPref, ProviderPrefs, RoutingPrefs, Sort};

use crate::health::State;
use crate::route_table::{Deployment, JSON_SCHEMA, Model, TOOLS, VISION};
use crate::strategy::{self, Tokens};

/// The request as routing decisions see it.
pub struct Request<'a> {
    pub provider: &'a ProviderPrefs,
    /// Capability bits the request uses.
    pub(crate) needs: u8,
    pub(crate) tokens: Tokens,
    /// One of the other endpoints (images, speech, ...): only deployments serving it fit.
    pub(crate) endpoint: Option<Endpoint>,
}

impl<'a> Request<'a> {
    pub fn new(prefs: &'a RoutingPrefs, prompt_tokens: u64, max_tokens: Option<u64>) -> Self {
        let n = prefs.needs;
        let needs = (if n.tools { TOOLS } else { 0 })
            | (if n.vision { VISION } else { 0 })
            | (if n.json_schema { JSON_SCHEMA } else { 0 });
        Request {
            provider: &prefs.provider,
            needs,
            tokens: Tokens {
                prompt: prompt_tokens,
                // A typical answer when the client sets no limit.
                output: max_tokens.unwrap_or(256),
            },
            endpoint: None,
        }
    }

    /// The request is to `endpoint` (`None`: chat or embeddings).
    pub(crate) fn for_endpoint(mut self, endpoint: Option<Endpoint>) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// The strategy for `model`, unless the client asked to sort otherwise.
    pub fn strategy(&self, model: &Model) -> RoutingStrategy {
        match self.provider.sort {
            Some(Sort::Price) => RoutingStrategy::Cost,
            Some(Sort::Latency) => RoutingStrategy::Latency,
            // Without per-deployment token rates, the least loaded one is the best proxy.
            Some(Sort::Throughput) => RoutingStrategy::LeastBusy,
            None => model.strategy,
        }
    }

    /// Whether the deployment may serve this request at all (health aside).
    fn matches(&self, d: &Deployment) -> bool {
        let p = self.provider;
        let named = |names: &[String]| names.iter().any(|n| d.is_named(n));
        let usd = |per_million: i64| per_million as f64 / 1_000_000.0;
        let declared = d.capabilities != u8::MAX;
        !(!p.only.is_empty() && !named(&p.only)
            || named(&p.ignore)
            || !p.allow_fallbacks && !p.order.is_empty() && !named(&p.order)
            || p.max_price.is_some_and(|m| {
                m.prompt.is_some_and(|x| usd(d.price.input.micros()) > x)
                    || m.completion
                        .is_some_and(|x| usd(d.price.output.micros()) > x)
            })
            || p.data_collection == Some(DataCollectionPref::Deny)
                && d.data_collection != DataCollection::Deny
            || d.capabilities & self.needs != self.needs
            || p.require_parameters && self.needs != 0 && !declared
            || d.context_window.is_some_and(|w| self.tokens.prompt > w)
            || self.endpoint.is_some_and(|e| !d.serves(e)))
    }
}

/// Why no deployment can take the next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// None fits the request's preferences, capabilities or size.
    NoMatch,
    /// The fitting ones are rate limited until this time (ms).
    RateLimited(u64),
    /// The fitting ones are ejected (circuit open).
    Ejected,
    /// Every fitting one was tried.
    Exhausted,
}

fn usable(d: &Deployment, now: u64) -> bool {
    !matches!(d.health.state(now), State::Open(_)) && d.key(now).is_ok()
}

/// The deployment for the next attempt. Untried ones first, in the client's `order` when it
/// gave one; `retry_tried` lets a retry go back to one already tried (after a backoff).
pub(crate) fn pick(
    model: &Model,
    req: &Request<'_>,
    tried: &[usize],
    retry_tried: bool,
    now: u64,
    roll: u64,
) -> Result<usize, Blocked> {
    let deps = &model.deployments;
    let strategy = req.strategy(model);
    let fresh = |i: usize, d: &Deployment| !tried.contains(&i) && req.matches(d) && usable(d, now);
    for name in &req.provider.order {
        let ok = |i, d: &Deployment| d.is_named(name) && fresh(i, d);
        if let Some(i) = strategy::choose(strategy, deps, &ok, req.tokens, now, roll) {
            return Ok(i);
        }
    }
    if let Some(i) = strategy::choose(strategy, deps, &fresh, req.tokens, now, roll) {
        return Ok(i);
    }
    let again = |_: usize, d: &Deployment| req.matches(d) && usable(d, now);
    if retry_tried && let Some(i) = strategy::choose(strategy, deps, &again, req.tokens, now, roll)
    {
        return Ok(i);
    }
    let mut fitting = deps.iter().filter(|d| req.matches(d)).peekable();
    if fitting.peek().is_none() {
        return Err(Blocked::NoMatch);
    }
    if deps.iter().enumerate().any(|(i, d)| again(i, d)) {
        return Err(Blocked::Exhausted);
    }
    let cooling = fitting.filter_map(|d| d.key(now).err()).min();
    Err(cooling.map_or(Blocked::Ejected, Blocked::RateLimited))
}

/// Routing decisions without a request around them, for the decision-cost benchmark and
/// tools: the deployment the next call of `model` would go to with these preferences.
pub fn decide<'m>(model: &'m Model, req: &Request<'_>) -> Option<&'m Deployment> {
    let now = crate::health::now_ms();
    pick(model, req, &[], false, now, rand::random())
        .ok()
        .and_then(|i| model.deployments.get(i))
}

#[cfg(test)]
mod tests {
    use tollgate_config::Config;
    use tollgate_formats::openai::peek_routing_prefs;

    use super::*;
    use crate::route_table::RouteTable;

    fn table() -> RouteTable {
        Config::from_toml(
            r#"
[[providers]]
name = "a"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
[[providers]]
name = "b"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[[models]]
name = "m"
price = { input = "1", output = "2" }
deployments = [
  { name = "a1", provider = "a", model = "x", capabilities = ["tools"], context_window = 1000 },
  { name = "b1", provider = "b", model = "x", data_collection = "deny", price = { input = "5", output = "5" } },
]
"#,
        )
        .map(|c| RouteTable::from_config(&c).unwrap())
        .unwrap()
    }

    fn pick_with(body: &str, prompt: u64) -> Result<usize, Blocked> {
        let c = table();
        let prefs = peek_routing_prefs(body.as_bytes()).unwrap();
        let req = Request::new(&prefs, prompt, None);
        pick(c.get("m").unwrap(), &req, &[], false, 1, rand::random())
    }

    #[test]
    fn provider_preferences_filter_and_order() {
        for _ in 0..20 {
            assert_eq!(pick_with(r#"{"provider":{"only":["b"]}}"#, 10), Ok(1));
            assert_eq!(pick_with(r#"{"provider":{"ignore":["a1"]}}"#, 10), Ok(1));
            assert_eq!(pick_with(r#"{"provider":{"order":["b","a"]}}"#, 10), Ok(1));
            assert_eq!(
                pick_with(r#"{"provider":{"data_collection":"deny"}}"#, 10),
                Ok(1)
            );
            assert_eq!(
                pick_with(r#"{"provider":{"max_price":{"prompt":2}}}"#, 10),
                Ok(0)
            );
            assert_eq!(pick_with(r#"{"provider":{"sort":"price"}}"#, 10), Ok(0));
            // Vision: a1 declared only tools.
            assert_eq!(
                pick_with(r#"{"messages":[{"content":[{"type":"image_url"}]}]}"#, 10),
                Ok(1)
            );
            // Tools with require_parameters: only a1 declared them.
            assert_eq!(
                pick_with(r#"{"tools":[],"provider":{"require_parameters":true}}"#, 10),
                Ok(0)
            );
            // Too big for a1's window.
            assert_eq!(pick_with("{}", 5_000), Ok(1));
        }
        assert_eq!(
            pick_with(
                r#"{"provider":{"only":["a"],"max_price":{"completion":1}}}"#,
                10
            ),
            Err(Blocked::NoMatch)
        );
    }

    #[test]
    fn tried_ejected_and_rate_limited_deployments_are_skipped_with_the_reason() {
        let c = table();
        let m = c.get("m").unwrap();
        let prefs = RoutingPrefs::default();
        let req = Request::new(&prefs, 10, None);
        assert_eq!(pick(m, &req, &[0], false, 1, 3), Ok(1));
        assert_eq!(pick(m, &req, &[0, 1], false, 1, 3), Err(Blocked::Exhausted));
        assert!(pick(m, &req, &[0, 1], true, 1, 3).is_ok());
        let policy = c.policy.circuit;
        for _ in 0..5 {
            m.deployments[0].health.failure(&policy, 1);
        }
        assert_eq!(pick(m, &req, &[], false, 2, 3), Ok(1));
        assert_eq!(pick(m, &req, &[1], false, 2, 3), Err(Blocked::Exhausted));
        let only_a = peek_routing_prefs(br#"{"provider":{"only":["a"]}}"#).unwrap();
        let req = Request::new(&only_a, 10, None);
        assert_eq!(pick(m, &req, &[], true, 2, 3), Err(Blocked::Ejected));
    }
}
