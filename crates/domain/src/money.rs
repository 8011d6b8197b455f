//! Money as integers, so sums are exact and match the providers' invoices to the cent.
//!
//! The unit is the pico-dollar (1e-12 USD). Prices are whole micro-dollars per million tokens, so
//! the cost of one token is a whole number of pico-dollars and no request is ever rounded: a
//! ledger row's cost is `tokens × price` with no division. An i64 holds up to ~9.2 million USD per
//! value; aggregates are summed in the database as NUMERIC.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::units::{Unit, Units};

/// An amount of USD in pico-dollars.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("`{0}` is not a decimal amount of USD")]
    NotDecimal(String),
    #[error("`{0}` is negative; prices must be zero or more")]
    Negative(String),
    #[error("`{0}` has more precision than one micro-dollar per million tokens")]
    TooPrecise(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
}

impl Money {
    pub const ZERO: Money = Money(0);
    /// Pico-dollars per dollar.
    pub const PICOS_PER_USD: i64 = 1_000_000_000_000;

    pub const fn from_picos(p: i64) -> Self {
        Money(p)
    }

    pub const fn picos(&self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    /// `count` of something priced at `self` each (an image, a second of audio): exact, and
    /// saturating rather than wrapping on absurd counts.
    pub fn times(self, count: u64) -> Money {
        let n = i64::try_from(count).unwrap_or(i64::MAX);
        Money(self.0.saturating_mul(n))
    }

    /// Parse a decimal USD amount (e.g. `"0.002"`), exact to the pico-dollar.
    pub fn parse_usd(s: &str) -> Result<Money, MoneyError> {
        let d = Decimal::from_str(s.trim()).map_err(|_| MoneyError::NotDecimal(s.to_owned()))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative(s.to_owned()));
        }
        let picos = d
            .checked_mul(Decimal::from(Self::PICOS_PER_USD))
            .ok_or_else(|| MoneyError::TooLarge(s.to_owned()))?;
        if picos.fract() != Decimal::ZERO {
            return Err(MoneyError::TooPrecise(s.to_owned()));
        }
        i64::try_from(picos)
            .map(Money)
            .map_err(|_| MoneyError::TooLarge(s.to_owned()))
    }

    /// Exact decimal USD, always 12 fractional digits (`"0.000123450000"`).
    pub fn to_usd(&self) -> Decimal {
        Decimal::from_i128_with_scale(i128::from(self.0), 12)
    }

    pub fn to_usd_string(&self) -> String {
        self.to_usd().to_string()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.to_usd())
    }
}

/// A price per million tokens, held as micro-dollars per million tokens (= pico-dollars per token).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PerMillion(i64);

impl PerMillion {
    pub const fn from_micros(m: i64) -> Self {
        PerMillion(m)
    }

    /// Micro-dollars per million tokens.
    pub const fn micros(&self) -> i64 {
        self.0
    }

    /// Parse "USD per million tokens" such as `"0.15"`; finer than a micro-dollar is refused
    /// rather than silently rounded.
    pub fn parse_usd(s: &str) -> Result<PerMillion, MoneyError> {
        let d = Decimal::from_str(s.trim()).map_err(|_| MoneyError::NotDecimal(s.to_owned()))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative(s.to_owned()));
        }
        let micros = d
            .checked_mul(Decimal::from(1_000_000))
            .ok_or_else(|| MoneyError::TooLarge(s.to_owned()))?;
        if micros.fract() != Decimal::ZERO {
            return Err(MoneyError::TooPrecise(s.to_owned()));
        }
        i64::try_from(micros)
            .map(PerMillion)
            .map_err(|_| MoneyError::TooLarge(s.to_owned()))
    }

    /// The cost of `tokens` tokens at this price.
    pub fn per_token_times(&self, tokens: u64) -> Money {
        let t = i64::try_from(tokens).unwrap_or(i64::MAX);
        Money(self.0.saturating_mul(t))
    }
}

/// The price of one model (or deployment): per token, per request, and per unit for the
/// endpoints billed by unit (each 0 unless set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Price {
    pub input: PerMillion,
    pub cached_input: PerMillion,
    pub cache_write: PerMillion,
    pub output: PerMillion,
    /// Reasoning tokens (a subset of output); equal to `output` unless a provider prices them
    /// apart.
    pub reasoning: PerMillion,
    pub per_request: Money,
    /// Per image returned.
    #[serde(default)]
    pub per_image: Money,
    /// Per million characters of text to speak (held like token prices: pico-dollars per
    /// character).
    #[serde(default)]
    pub per_million_characters: PerMillion,
    /// Per second of transcribed audio.
    #[serde(default)]
    pub per_audio_second: Money,
    /// Per rerank search unit.
    #[serde(default)]
    pub per_search_unit: Money,
}

impl Price {
    /// What `units` cost at this price. A request unit costs nothing here: `per_request` is
    /// charged on every request already, moderations included.
    pub fn of_units(&self, units: Units) -> Money {
        match units.unit {
            Unit::Image => self.per_image.times(units.count),
            Unit::Character => self.per_million_characters.per_token_times(units.count),
            Unit::AudioSecond => self.per_audio_second.times(units.count),
            Unit::SearchUnit => self.per_search_unit.times(units.count),
            Unit::Request => Money::ZERO,
        }
    }

    /// Whether any per-unit price is set (catalogs show them only then).
    pub fn has_unit_prices(&self) -> bool {
        self.per_image != Money::ZERO
            || self.per_million_characters != PerMillion::default()
            || self.per_audio_second != Money::ZERO
            || self.per_search_unit != Money::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_prices_to_micros_per_million() {
        assert_eq!(PerMillion::parse_usd("0.15").unwrap().micros(), 150_000);
        assert_eq!(PerMillion::parse_usd("10").unwrap().micros(), 10_000_000);
        assert_eq!(PerMillion::parse_usd("0.000001").unwrap().micros(), 1);
    }

    #[test]
    fn refuses_bad_prices_with_the_reason() {
        assert!(matches!(
            PerMillion::parse_usd("0.0000001"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            PerMillion::parse_usd("-1"),
            Err(MoneyError::Negative(_))
        ));
        assert!(matches!(
            PerMillion::parse_usd("ten"),
            Err(MoneyError::NotDecimal(_))
        ));
    }

    #[test]
    fn money_formats_exactly() {
        assert_eq!(Money::from_picos(1).to_usd_string(), "0.000000000001");
        assert_eq!(
            Money::parse_usd("12.5").unwrap().to_usd_string(),
            "12.500000000000"
        );
    }

    #[test]
    fn units_are_priced_exactly_and_requests_only_once() {
        let p = Price {
            per_image: Money::parse_usd("0.04").unwrap(),
            per_million_characters: PerMillion::parse_usd("15").unwrap(),
            per_audio_second: Money::parse_usd("0.0001").unwrap(),
            per_search_unit: Money::parse_usd("0.002").unwrap(),
            per_request: Money::parse_usd("0.01").unwrap(),
            ..Price::default()
        };
        let of = |unit, count| p.of_units(Units::new(unit, count)).to_usd_string();
        assert_eq!(of(Unit::Image, 3), "0.120000000000");
        // 1,234 characters at $15 per million.
        assert_eq!(of(Unit::Character, 1_234), "0.018510000000");
        assert_eq!(of(Unit::AudioSecond, 61), "0.006100000000");
        assert_eq!(of(Unit::SearchUnit, 2), "0.004000000000");
        assert_eq!(of(Unit::Request, 1), "0.000000000000");
        assert!(p.has_unit_prices());
        assert!(!Price::default().has_unit_prices());
    }

    proptest! {
        /// Summing per-request costs equals pricing the summed tokens: no rounding drift, so
        /// the ledger total matches what a provider invoices for the same tokens.
        #[test]
        fn per_request_costs_sum_to_the_invoice(
            micros in 0i64..100_000_000,
            counts in proptest::collection::vec(0u64..200_000, 1..200),
        ) {
            let p = PerMillion::from_micros(micros);
            let summed: i64 = counts.iter().map(|&c| p.per_token_times(c).picos()).sum();
            let total: u64 = counts.iter().sum();
            prop_assert_eq!(summed, p.per_token_times(total).picos());
        }
    }
}
