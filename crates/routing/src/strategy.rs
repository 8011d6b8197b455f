//! The five ways to choose among a model's deployments. Each takes the deployments and an
//! eligibility test (preferences, health, already tried) and returns an index; none allocates,
//! and each is one or two passes over the deployments.

use tollgate_config::RoutingStrategy;

use crate::route_table::Deployment;

/// What the request is expected to cost, for the `cost` strategy.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tokens {
    pub prompt: u64,
    pub output: u64,
}

/// Index into `deps` of the deployment to try, among those `ok` accepts.
pub(crate) fn choose(
    strategy: RoutingStrategy,
    deps: &[Deployment],
    ok: &impl Fn(usize, &Deployment) -> bool,
    tokens: Tokens,
    now: u64,
    roll: u64,
) -> Option<usize> {
    match strategy {
        RoutingStrategy::Weighted => weighted(deps, ok, now, roll),
        RoutingStrategy::Priority => {
            let best = eligible(deps, ok).map(|(_, d)| d.priority).min()?;
            weighted(
                deps,
                &|i, d: &Deployment| d.priority == best && ok(i, d),
                now,
                roll,
            )
        }
        RoutingStrategy::LeastBusy => min_by(deps, ok, roll, |d| {
            u64::from(d.health.inflight()) * 1_000_000 / u64::from(d.health.share(now))
        }),
        RoutingStrategy::Latency => two_choices(deps, ok, now, roll),
        RoutingStrategy::Cost => min_by(deps, ok, roll, |d| {
            let part = |per_million: i64, tokens: u64| {
                u64::try_from(per_million)
                    .unwrap_or(0)
                    .saturating_mul(tokens)
            };
            part(d.price.input.micros(), tokens.prompt)
                .saturating_add(part(d.price.output.micros(), tokens.output))
        }),
    }
}

fn eligible<'a>(
    deps: &'a [Deployment],
    ok: &'a impl Fn(usize, &Deployment) -> bool,
) -> impl Iterator<Item = (usize, &'a Deployment)> + 'a {
    deps.iter().enumerate().filter(move |(i, d)| ok(*i, d))
}

/// Random in proportion to `weight`, scaled down for a deployment near its rate limit.
/// Weight-0 deployments are standbys: chosen only when no weighted one is eligible.
fn weighted(
    deps: &[Deployment],
    ok: &impl Fn(usize, &Deployment) -> bool,
    now: u64,
    roll: u64,
) -> Option<usize> {
    let w = |d: &Deployment| u64::from(d.weight) * u64::from(d.health.share(now));
    let total: u64 = eligible(deps, ok).map(|(_, d)| w(d)).sum();
    if total == 0 {
        return eligible(deps, ok).map(|(i, _)| i).next();
    }
    // Modulo bias over a u64 roll is below 1e-9 for any realistic total weight.
    let mut left = roll % total;
    for (i, d) in eligible(deps, ok) {
        if left < w(d) {
            return Some(i);
        }
        left -= w(d);
    }
    None
}

/// The eligible deployment with the lowest `score`; ties go to a random one of them (the scan
/// starts at a random place).
fn min_by(
    deps: &[Deployment],
    ok: &impl Fn(usize, &Deployment) -> bool,
    roll: u64,
    score: impl Fn(&Deployment) -> u64,
) -> Option<usize> {
    let n = deps.len();
    if n == 0 {
        return None;
    }
    let start = usize::try_from(roll % n as u64).unwrap_or(0);
    let mut best: Option<(u64, usize)> = None;
    for k in 0..n {
        let i = (start + k) % n;
        let d = &deps[i];
        if !ok(i, d) {
            continue;
        }
        let s = score(d);
        if best.is_none_or(|(b, _)| s < b) {
            best = Some((s, i));
        }
    }
    best.map(|(_, i)| i)
}

/// Power of two choices on peak-EWMA latency: two random eligible deployments, the one with
/// the lower score wins. Cheap, and it never herds every call onto one deployment.
fn two_choices(
    deps: &[Deployment],
    ok: &impl Fn(usize, &Deployment) -> bool,
    now: u64,
    roll: u64,
) -> Option<usize> {
    let n = eligible(deps, ok).count() as u64;
    let nth = |k: u64| eligible(deps, ok).nth(usize::try_from(k).unwrap_or(0));
    match n {
        0 => None,
        1 => nth(0).map(|(i, _)| i),
        _ => {
            let a = roll % n;
            let mut b = (roll >> 32) % (n - 1);
            if b >= a {
                b += 1;
            }
            let (ia, da) = nth(a)?;
            let (ib, db) = nth(b)?;
            if db.health.latency_score(now) < da.health.latency_score(now) {
                Some(ib)
            } else {
                Some(ia)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tollgate_config::Config;

    use super::*;
    use crate::route_table::RouteTable;

    /// A route table with one model `m` whose deployments have these (weight, priority, input price).
    fn table(deps: &[(u32, u32, &str)]) -> RouteTable {
        let deps: Vec<String> = deps
            .iter()
            .enumerate()
            .map(|(i, (w, p, price))| {
                format!(
                    "{{ name = \"d{i}\", provider = \"p\", model = \"m\", weight = {w}, priority = {p}, price = {{ input = \"{price}\", output = \"1\" }} }}"
                )
            })
            .collect();
        let toml = format!(
            "[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n[[models]]\nname = \"m\"\ndeployments = [{}]\nprice = {{ input = \"1\", output = \"1\" }}\n",
            deps.join(", ")
        );
        RouteTable::from_config(&Config::from_toml(&toml).unwrap()).unwrap()
    }

    fn deps(c: &RouteTable) -> &[Deployment] {
        &c.get("m").unwrap().deployments
    }

    const ALL: fn(usize, &Deployment) -> bool = |_, _| true;
    const T: Tokens = Tokens {
        prompt: 100,
        output: 100,
    };

    #[test]
    fn rolls_map_onto_weights_and_standbys_come_last() {
        let c = table(&[(1, 0, "1"), (3, 0, "1"), (0, 0, "1")]);
        let pick = |roll: u64, ok: &dyn Fn(usize) -> bool| {
            choose(
                RoutingStrategy::Weighted,
                deps(&c),
                &|i, _| ok(i),
                T,
                1,
                roll,
            )
        };
        // Weight × 1000 (full headroom) per unit of weight.
        assert_eq!(pick(0, &|_| true), Some(0));
        assert_eq!(pick(999, &|_| true), Some(0));
        assert_eq!(pick(1_000, &|_| true), Some(1));
        assert_eq!(pick(4_000, &|_| true), Some(0));
        assert_eq!(pick(7, &|i| i != 0 && i != 1), Some(2));
        assert_eq!(pick(7, &|_| false), None);
    }

    #[test]
    fn random_choice_follows_the_weights() {
        let c = table(&[(1, 0, "1"), (9, 0, "1")]);
        let heavy = (0..10_000)
            .filter(|_| {
                choose(
                    RoutingStrategy::Weighted,
                    deps(&c),
                    &ALL,
                    T,
                    1,
                    rand::random(),
                ) == Some(1)
            })
            .count();
        // 9,000 expected; 5 standard deviations is 150.
        assert!((8_850..=9_150).contains(&heavy), "{heavy}");
    }

    #[test]
    fn a_deployment_near_its_rate_limit_gets_less_traffic() {
        let c = table(&[(1, 0, "1"), (1, 0, "1")]);
        deps(&c)[0].health.set_headroom(20, u64::MAX);
        let first = (0..10_000)
            .filter(|_| {
                choose(
                    RoutingStrategy::Weighted,
                    deps(&c),
                    &ALL,
                    T,
                    1,
                    rand::random(),
                ) == Some(0)
            })
            .count();
        // Share 100‰ against 1000‰: about 9%.
        assert!((700..=1_100).contains(&first), "{first}");
    }

    #[test]
    fn priority_fails_over_in_order() {
        let c = table(&[(1, 2, "1"), (1, 1, "1"), (1, 1, "1"), (1, 3, "1")]);
        for roll in 0..50 {
            let p = choose(RoutingStrategy::Priority, deps(&c), &ALL, T, 1, roll).unwrap();
            assert!(p == 1 || p == 2);
            let p = choose(
                RoutingStrategy::Priority,
                deps(&c),
                &|i, _| i != 1 && i != 2,
                T,
                1,
                roll,
            );
            assert_eq!(p, Some(0));
        }
    }

    #[test]
    fn least_busy_takes_the_fewest_in_flight() {
        let c = table(&[(1, 0, "1"), (1, 0, "1"), (1, 0, "1")]);
        let d = deps(&c);
        let _a = d[0].health.begin(1).unwrap();
        let _b = d[2].health.begin(1).unwrap();
        let _c = d[2].health.begin(1).unwrap();
        for roll in 0..10 {
            assert_eq!(
                choose(RoutingStrategy::LeastBusy, d, &ALL, T, 1, roll),
                Some(1)
            );
        }
    }

    #[test]
    fn latency_prefers_the_faster_of_two_and_explores_unknowns() {
        let c = table(&[(1, 0, "1"), (1, 0, "1")]);
        let d = deps(&c);
        d[0].health.observe_ttft(Duration::from_millis(80), 1);
        for roll in [0, 1, 1 << 32, (1 << 32) + 1] {
            assert_eq!(
                choose(RoutingStrategy::Latency, d, &ALL, T, 1, roll),
                Some(1),
                "unknown first"
            );
        }
        d[1].health.observe_ttft(Duration::from_millis(5), 1);
        for roll in [0, 1, 1 << 32, (1 << 32) + 1] {
            assert_eq!(
                choose(RoutingStrategy::Latency, d, &ALL, T, 1, roll),
                Some(1)
            );
        }
    }

    #[test]
    fn cost_takes_the_cheapest_eligible() {
        let c = table(&[(1, 0, "3"), (1, 0, "0.5"), (1, 0, "2")]);
        let d = deps(&c);
        assert_eq!(choose(RoutingStrategy::Cost, d, &ALL, T, 1, 5), Some(1));
        assert_eq!(
            choose(RoutingStrategy::Cost, d, &|i, _| i != 1, T, 1, 5),
            Some(2)
        );
    }
}
