//! Token usage, normalised across providers.
//!
//! Convention (OpenAI's): `input_tokens` counts every prompt token, including those read from or
//! written to a prompt cache; `cached_input_tokens` and `cache_write_tokens` are subsets of it.
//! `reasoning_tokens` is a subset of `output_tokens`. Adapters for providers that count otherwise
//! (Anthropic reports cache tokens beside `input_tokens`) convert into this convention.

use serde::{Deserialize, Serialize};

use crate::money::{Money, Price};
use crate::units::Units;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// What the request is billed by besides tokens (images, characters, seconds of audio,
    /// search units, the request itself); `None` for token-only requests such as chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Units>,
}

impl Usage {
    /// Exact cost of this usage at `price`. Saturates rather than wrapping on absurd counts.
    pub fn cost(&self, price: &Price) -> Money {
        let cached = self.cached_input_tokens.min(self.input_tokens);
        let written = self
            .cache_write_tokens
            .min(self.input_tokens.saturating_sub(cached));
        let plain_input = self.input_tokens - cached - written;
        let reasoning = self.reasoning_tokens.min(self.output_tokens);
        let plain_output = self.output_tokens - reasoning;
        price
            .input
            .per_token_times(plain_input)
            .saturating_add(price.cached_input.per_token_times(cached))
            .saturating_add(price.cache_write.per_token_times(written))
            .saturating_add(price.output.per_token_times(plain_output))
            .saturating_add(price.reasoning.per_token_times(reasoning))
            .saturating_add(price.per_request)
            .saturating_add(self.units.map_or(Money::ZERO, |u| price.of_units(u)))
    }
}

/// How a request ended; every admitted request ends in exactly one usage event with one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Failed,
    ClientCancelled,
    Rejected,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::ClientCancelled => "client_cancelled",
            Outcome::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "completed" => Outcome::Completed,
            "failed" => Outcome::Failed,
            "client_cancelled" => Outcome::ClientCancelled,
            "rejected" => Outcome::Rejected,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::PerMillion;

    fn price() -> Price {
        Price {
            input: PerMillion::parse_usd("2.50").unwrap(),
            cached_input: PerMillion::parse_usd("1.25").unwrap(),
            cache_write: PerMillion::parse_usd("3.75").unwrap(),
            output: PerMillion::parse_usd("10").unwrap(),
            reasoning: PerMillion::parse_usd("10").unwrap(),
            per_request: Money::ZERO,
            ..Price::default()
        }
    }

    #[test]
    fn cost_splits_cached_tokens_out_of_input() {
        let u = Usage {
            units: None,
            input_tokens: 1_000,
            output_tokens: 500,
            cached_input_tokens: 400,
            cache_write_tokens: 100,
            reasoning_tokens: 200,
        };
        // 500 plain * 2.50/M + 400 * 1.25/M + 100 * 3.75/M + 500 * 10/M
        // = 0.00125 + 0.0005 + 0.000375 + 0.005 = 0.007125 USD
        assert_eq!(u.cost(&price()).to_usd_string(), "0.007125000000");
    }

    #[test]
    fn reasoning_tokens_are_billed_at_their_own_price_out_of_output() {
        let p = Price {
            reasoning: PerMillion::parse_usd("20").unwrap(),
            ..price()
        };
        let u = Usage {
            output_tokens: 500,
            reasoning_tokens: 200,
            ..Usage::default()
        };
        // 300 * 10/M + 200 * 20/M = 0.003 + 0.004
        assert_eq!(u.cost(&p).to_usd_string(), "0.007000000000");
        // More reasoning than output (a provider's bad count) never bills beyond output.
        let u = Usage {
            output_tokens: 100,
            reasoning_tokens: 900,
            ..Usage::default()
        };
        assert_eq!(u.cost(&p).to_usd_string(), "0.002000000000");
    }

    #[test]
    fn cost_is_exact_for_a_single_token_of_a_cheap_model() {
        let p = Price {
            input: PerMillion::parse_usd("0.075").unwrap(),
            ..Price::default()
        };
        let u = Usage {
            input_tokens: 1,
            ..Usage::default()
        };
        assert_eq!(u.cost(&p).to_usd_string(), "0.000000075000");
    }

    #[test]
    fn cached_counts_larger_than_input_do_not_underflow() {
        let u = Usage {
            input_tokens: 10,
            cached_input_tokens: 50,
            cache_write_tokens: 50,
            ..Usage::default()
        };
        // All 10 tokens billed at the cached price.
        assert_eq!(u.cost(&price()).to_usd_string(), "0.000012500000");
    }

    #[test]
    fn units_add_to_the_tokens_a_provider_reported() {
        use crate::units::{Unit, Units};
        let p = Price {
            per_image: Money::parse_usd("0.04").unwrap(),
            ..price()
        };
        // gpt-image-1 style: tokens and images both billed.
        let u = Usage {
            input_tokens: 1_000,
            output_tokens: 100,
            units: Some(Units::new(Unit::Image, 2)),
            ..Usage::default()
        };
        // 1000 * 2.50/M + 100 * 10/M + 2 * 0.04 = 0.0025 + 0.001 + 0.08
        assert_eq!(u.cost(&p).to_usd_string(), "0.083500000000");
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in [
            Outcome::Completed,
            Outcome::Failed,
            Outcome::ClientCancelled,
            Outcome::Rejected,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("nope"), None);
    }
}
