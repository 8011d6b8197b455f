//! How a deployment is chosen among a model's deployments. A `Strategy` is asked for the next
//! deployment to try, skipping those already tried, so the same call serves the first pick and
//! the retry; later strategies (priority, least-busy, latency, cost) plug in here.

use crate::catalog::Deployment;

pub trait Strategy: Send + Sync {
    /// Index into `deployments` of the next one to try, never one in `tried`; `None` when every
    /// deployment was tried.
    fn choose(&self, deployments: &[Deployment], tried: &[usize]) -> Option<usize>;
}

/// Random in proportion to `weight`. Deployments of weight 0 are standbys: chosen only once every
/// weighted deployment was tried.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeightedRandom;

impl Strategy for WeightedRandom {
    fn choose(&self, deployments: &[Deployment], tried: &[usize]) -> Option<usize> {
        pick_weighted(deployments, tried, rand::random::<u64>())
    }
}

/// The weighted choice for a given random `roll`, split out so tests can drive it.
pub(crate) fn pick_weighted(
    deployments: &[Deployment],
    tried: &[usize],
    roll: u64,
) -> Option<usize> {
    let open = || {
        deployments
            .iter()
            .enumerate()
            .filter(|(i, _)| !tried.contains(i))
    };
    let total: u64 = open().map(|(_, d)| u64::from(d.weight)).sum();
    if total == 0 {
        return open().map(|(i, _)| i).next();
    }
    // Modulo bias over a u64 roll is below 1e-9 for any realistic total weight.
    let mut left = roll % total;
    for (i, d) in open() {
        let w = u64::from(d.weight);
        if left < w {
            return Some(i);
        }
        left -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tollgate_config::ProviderKind;

    use super::*;
    use crate::catalog::Provider;

    fn deps(weights: &[u32]) -> Vec<Deployment> {
        let p = Arc::new(Provider {
            name: "p".into(),
            kind: ProviderKind::Openai,
            chat_url: String::new(),
            auth: None,
            stream_usage: true,
            api_key: None,
        });
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| Deployment {
                id: format!("d{i}"),
                provider: p.clone(),
                upstream_model: "m".into(),
                weight: *w,
            })
            .collect()
    }

    #[test]
    fn rolls_map_onto_weights() {
        let d = deps(&[1, 3]);
        assert_eq!(pick_weighted(&d, &[], 0), Some(0));
        assert_eq!(pick_weighted(&d, &[], 1), Some(1));
        assert_eq!(pick_weighted(&d, &[], 3), Some(1));
        assert_eq!(pick_weighted(&d, &[], 4), Some(0));
    }

    #[test]
    fn tried_deployments_are_skipped_and_standbys_come_last() {
        let d = deps(&[5, 0, 2]);
        for roll in 0..20 {
            assert_ne!(pick_weighted(&d, &[], roll), Some(1));
            assert_eq!(pick_weighted(&d, &[0], roll), Some(2));
        }
        assert_eq!(pick_weighted(&d, &[0, 2], 7), Some(1));
        assert_eq!(pick_weighted(&d, &[0, 1, 2], 7), None);
    }

    #[test]
    fn random_choice_follows_the_weights() {
        let d = deps(&[1, 9]);
        let n = 10_000;
        let heavy = (0..n)
            .filter(|_| WeightedRandom.choose(&d, &[]) == Some(1))
            .count();
        // 9,000 expected; 5 standard deviations is 150.
        assert!((8_850..=9_150).contains(&heavy), "{heavy}");
    }
}
