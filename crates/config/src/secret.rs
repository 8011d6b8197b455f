//! Secrets by reference: `env:NAME` or `file:/path`, resolved at load and never printed.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret given by reference. A bare string is accepted as a literal (handy in tests), but
/// every shipped example uses a reference.
#[derive(Clone)]
pub struct SecretRef {
    reference: String,
    value: SecretString,
}

impl SecretRef {
    pub fn literal(value: &str) -> Self {
        SecretRef {
            reference: "<literal>".into(),
            value: SecretString::from(value.to_owned()),
        }
    }

    pub fn resolve(reference: &str) -> Result<Self, String> {
        let value = if let Some(name) = reference.strip_prefix("env:") {
            #[allow(clippy::disallowed_methods)]
            std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))?
        } else if let Some(path) = reference.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read secret file `{path}`: {e}"))?
                .trim_end()
                .to_owned()
        } else {
            return Ok(Self::literal(reference));
        };
        Ok(SecretRef {
            reference: reference.to_owned(),
            value: SecretString::from(value),
        })
    }

    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.value.expose_secret().is_empty()
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({}, ***)", self.reference)
    }
}

impl Serialize for SecretRef {
    // Serialising (for defaults layering) writes the reference, never the value; a literal
    // serialises as the literal only because it came from the config itself.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.reference == "<literal>" {
            s.serialize_str(self.value.expose_secret())
        } else {
            s.serialize_str(&self.reference)
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SecretRef::resolve(&s).map_err(serde::de::Error::custom)
    }
}
