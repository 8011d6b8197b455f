//! What the endpoints that are not priced by the token are billed by: images, characters of
//! speech input, seconds of transcribed audio, rerank search units, requests.
//!
//! A request billed by unit carries one [`Units`] in its [`crate::Usage`] (beside any tokens the
//! provider reported), and the ledger row names the unit and the count, so an invoice line can
//! be checked against it.

use serde::{Deserialize, Serialize};

/// A unit a request can be billed by besides tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// One image returned (`POST /v1/images/generations`).
    Image,
    /// One character of the text to speak (`POST /v1/audio/speech`); priced per million, as
    /// OpenAI prices its TTS models.
    Character,
    /// One second of transcribed audio (`POST /v1/audio/transcriptions`, `usage.seconds`).
    AudioSecond,
    /// One search unit of a rerank (Cohere's `meta.billed_units.search_units`).
    SearchUnit,
    /// The request itself (`POST /v1/moderations`): priced by the catalog's `per_request`.
    Request,
}

impl Unit {
    /// Every unit, in the order listings show them.
    pub const ALL: [Unit; 5] = [
        Unit::Image,
        Unit::Character,
        Unit::AudioSecond,
        Unit::SearchUnit,
        Unit::Request,
    ];

    /// The name on the wire and in the ledger's `billed_unit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Image => "image",
            Unit::Character => "character",
            Unit::AudioSecond => "audio_second",
            Unit::SearchUnit => "search_unit",
            Unit::Request => "request",
        }
    }

    pub fn parse(s: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

/// How many of one unit a request is billed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Units {
    pub unit: Unit,
    pub count: u64,
}

impl Units {
    pub fn new(unit: Unit, count: u64) -> Units {
        Units { unit, count }
    }

    /// From the wire's `(billed_unit, billed_units)`: `None` for an empty or unknown unit (a
    /// newer sender's unit is billed by its tokens only, never refused: the request happened).
    pub fn from_wire(unit: &str, count: u64) -> Option<Units> {
        Unit::parse(unit).map(|unit| Units { unit, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_round_trip_and_unknown_ones_are_none() {
        for u in Unit::ALL {
            assert_eq!(Unit::parse(u.as_str()), Some(u));
        }
        assert_eq!(Units::from_wire("", 3), None);
        assert_eq!(Units::from_wire("furlong", 3), None);
        assert_eq!(
            Units::from_wire("image", 2),
            Some(Units::new(Unit::Image, 2))
        );
    }
}
