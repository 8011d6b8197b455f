//! Secrets by reference: `env:NAME` or `file:/path`, never printed.
//!
//! Parsing keeps the reference; [`crate::Config::load_for`] resolves only the references of the
//! sections the loading process uses (`resolve.rs`), so routing's provider keys need not be in
//! billing's environment. A reference left unresolved exposes an empty string: it belongs to a
//! section this process does not read.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret given by reference. A bare string is accepted as a literal (handy in tests), but
/// every shipped example uses a reference.
#[derive(Clone)]
pub struct SecretRef {
    reference: String,
    /// `None` until resolved.
    value: Option<SecretString>,
}

const LITERAL: &str = "<literal>";

impl SecretRef {
    pub fn literal(value: &str) -> Self {
        SecretRef {
            reference: LITERAL.into(),
            value: Some(SecretString::from(value.to_owned())),
        }
    }

    /// The reference as written, not yet read: `env:`/`file:` wait for [`SecretRef::resolve_now`],
    /// anything else is a literal.
    pub(crate) fn unresolved(reference: &str) -> Self {
        if reference.starts_with("env:") || reference.starts_with("file:") {
            SecretRef {
                reference: reference.to_owned(),
                value: None,
            }
        } else {
            Self::literal(reference)
        }
    }

    /// Resolve `reference` at once.
    pub fn resolve(reference: &str) -> Result<Self, String> {
        let mut s = Self::unresolved(reference);
        s.resolve_now()?;
        Ok(s)
    }

    /// Read the variable or file this refers to (once; a literal has nothing to read). The
    /// error names the variable or path, never a value.
    pub(crate) fn resolve_now(&mut self) -> Result<(), String> {
        if self.value.is_some() {
            return Ok(());
        }
        let value = if let Some(name) = self.reference.strip_prefix("env:") {
            #[allow(clippy::disallowed_methods)]
            std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))?
        } else if let Some(path) = self.reference.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read secret file `{path}`: {e}"))?
                .trim_end()
                .to_owned()
        } else {
            return Ok(());
        };
        self.value = Some(SecretString::from(value));
        Ok(())
    }

    /// The value; empty while unresolved (a section this process does not use).
    pub fn expose(&self) -> &str {
        self.value.as_ref().map_or("", |v| v.expose_secret())
    }

    /// Whether the value has been read (literals always have).
    pub fn is_resolved(&self) -> bool {
        self.value.is_some()
    }

    /// Resolved to an empty value. An unresolved reference is not known to be empty.
    pub fn is_empty(&self) -> bool {
        self.value
            .as_ref()
            .is_some_and(|v| v.expose_secret().is_empty())
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
        if self.reference == LITERAL {
            s.serialize_str(self.expose())
        } else {
            s.serialize_str(&self.reference)
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(SecretRef::unresolved(&s))
    }
}
