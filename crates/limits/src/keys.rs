//! Redis key layout: `<prefix>:{t:<tenant>}:<family>:<scope kind>:<scope id>`.
//!
//! The braces make `t:<tenant>` the Redis Cluster hash tag, so every key one admission touches
//! (all scopes of one tenant) lives in one slot and one Lua script may use them all. The prefix
//! must therefore hold no brace (checked at connect), or its braces would become the tag.

use std::io::{self, Write};

use crate::decision::ScopeKind;

/// Which structure a key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// Requests-per-minute window (hash of per-second buckets).
    Rpm,
    /// Concurrency leases (zset of request id -> expiry).
    Conc,
    /// Tokens-per-minute window (hash of per-second token buckets).
    Tpm,
    /// A budget's spend in one period (integer nano-dollars), suffixed `:<period start>`.
    Budget,
}

impl Family {
    const fn as_str(self) -> &'static str {
        match self {
            Family::Rpm => "rpm",
            Family::Conc => "conc",
            Family::Tpm => "tpm",
            Family::Budget => "budget",
        }
    }
}

/// Writes one key into `out` without allocating (the caller's buffer is the command's own).
pub(crate) fn write_key(
    out: &mut impl Write,
    prefix: &str,
    tenant_id: &str,
    family: Family,
    kind: ScopeKind,
    id: &str,
) -> io::Result<()> {
    out.write_all(prefix.as_bytes())?;
    out.write_all(b":{t:")?;
    out.write_all(tenant_id.as_bytes())?;
    out.write_all(b"}:")?;
    out.write_all(family.as_str().as_bytes())?;
    out.write_all(b":")?;
    out.write_all(kind.as_str().as_bytes())?;
    out.write_all(b":")?;
    out.write_all(id.as_bytes())
}

/// A budget counter's key: `<prefix>:{t:<tenant>}:budget:<kind>:<id>:<period start>`.
pub(crate) fn budget_key(
    prefix: &str,
    tenant_id: &str,
    kind: ScopeKind,
    id: &str,
    period: i64,
) -> String {
    let mut out = Vec::with_capacity(prefix.len() + tenant_id.len() + id.len() + 40);
    // Writing into a Vec cannot fail.
    let _ = write_key(&mut out, prefix, tenant_id, Family::Budget, kind, id);
    out.extend_from_slice(format!(":{period}").as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// True when `prefix` can start a key without stealing the tenant's hash tag.
pub(crate) fn prefix_is_valid(prefix: &str) -> bool {
    !prefix.is_empty() && !prefix.contains(['{', '}'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tenant: &str, family: Family, kind: ScopeKind, id: &str) -> String {
        let mut out = Vec::new();
        write_key(&mut out, "tg", tenant, family, kind, id).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keys_carry_the_tenant_as_hash_tag() {
        assert_eq!(
            key("acme", Family::Rpm, ScopeKind::Key, "k1"),
            "tg:{t:acme}:rpm:key:k1"
        );
        assert_eq!(
            key("acme", Family::Conc, ScopeKind::Team, "blue"),
            "tg:{t:acme}:conc:team:blue"
        );
    }

    #[test]
    fn scope_ids_with_braces_do_not_move_the_tag() {
        // Redis hashes the text between the first '{' and the next '}': still the tenant's.
        let k = key("acme", Family::Rpm, ScopeKind::User, "{evil}");
        let open = k.find('{').unwrap();
        let close = open + k[open..].find('}').unwrap();
        assert_eq!(&k[open + 1..close], "t:acme");
    }

    #[test]
    fn prefixes_with_braces_are_refused() {
        assert!(prefix_is_valid("tg"));
        assert!(prefix_is_valid("tg:prod"));
        assert!(!prefix_is_valid("{tg}"));
        assert!(!prefix_is_valid(""));
    }
}
