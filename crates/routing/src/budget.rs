//! How much retrying this replica may do: a retry budget (each first call earns a fraction of a
//! retry, each retry spends one), and the jittered exponential backoff before going back to a
//! deployment already tried. The budget is what keeps retries from multiplying an outage.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::Duration;

/// Budget amounts are in thousandths of a retry.
const ONE: i64 = 1_000;
/// How many first calls' worth of earnings the budget can bank beyond its reserve.
const WINDOW: i64 = 1_000;

pub(crate) struct RetryBudget {
    balance: AtomicI64,
}

impl RetryBudget {
    pub(crate) fn new(min: u32) -> Self {
        RetryBudget {
            balance: AtomicI64::new(i64::from(min) * ONE),
        }
    }

    /// A first call: earns `ratio` of a retry, up to `min` + `ratio` × 1,000 calls banked.
    pub(crate) fn deposit(&self, ratio: f64, min: u32) {
        let earn = (ratio * ONE as f64) as i64;
        let cap = i64::from(min) * ONE + earn * WINDOW;
        let _ = self
            .balance
            .fetch_update(Relaxed, Relaxed, |b| Some((b + earn).min(cap).max(b)));
    }

    /// Spend one retry; false (and nothing spent) when the budget is empty.
    pub(crate) fn withdraw(&self) -> bool {
        self.balance
            .fetch_update(Relaxed, Relaxed, |b| (b >= ONE).then_some(b - ONE))
            .is_ok()
    }
}

/// Full-jitter exponential backoff for the `n`th retry (1-based) on an already tried deployment.
pub(crate) fn backoff(n: u32, base: Duration, max: Duration, roll: u64) -> Duration {
    let ceiling = base
        .saturating_mul(1 << n.saturating_sub(1).min(16))
        .min(max);
    let ms = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(if ms == 0 { 0 } else { roll % (ms + 1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_the_ratio_plus_the_reserve() {
        let b = RetryBudget::new(10);
        let mut retries = 0;
        for _ in 0..1_000 {
            b.deposit(0.2, 10);
            // Every call fails and wants a retry.
            if b.withdraw() {
                retries += 1;
            }
        }
        assert_eq!(retries, 210, "20% of 1,000 plus the reserve of 10");
        assert!(!b.withdraw());
    }

    #[test]
    fn a_quiet_budget_banks_only_so_much() {
        let b = RetryBudget::new(2);
        for _ in 0..100_000 {
            b.deposit(0.2, 2);
        }
        let mut n = 0;
        while b.withdraw() {
            n += 1;
        }
        assert_eq!(n, 202);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let base = Duration::from_millis(25);
        let max = Duration::from_secs(1);
        assert_eq!(
            backoff(1, base, max, u64::MAX),
            Duration::from_micros(u64::MAX % 25_001)
        );
        for n in 1..10 {
            for roll in [0, 7, 1 << 40, u64::MAX] {
                let d = backoff(n, base, max, roll);
                assert!(d <= (base * (1 << (n - 1))).min(max), "{n} {d:?}");
            }
        }
        assert_eq!(backoff(3, base, max, 100_001), Duration::ZERO);
    }
}
