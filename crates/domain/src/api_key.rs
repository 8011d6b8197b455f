//! API keys: `tg-<key_id>-<secret><checksum>`.
//!
//! * `key_id` (12 base62 chars) is public: it names the key in logs, the admin API and the
//!   snapshot, so a lookup needs no hash of the secret.
//! * `secret` (32 base62 chars, ~190 bits) is random and never stored.
//! * `checksum` (6 base62 chars) is CRC32 of everything before it, so typos and scanners are
//!   refused before any lookup, and secret scanners can recognise a real key.
//!
//! Keys are stored as HMAC-SHA256 of the whole key under a server pepper; verification compares
//! in constant time.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::Sha256;
use subtle::ConstantTimeEq;

const PREFIX: &str = "tg-";
const KEY_ID_LEN: usize = 12;
const SECRET_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the key does not start with `tg-`")]
    Prefix,
    #[error("the key is not of the form tg-<id>-<secret>")]
    Shape,
    #[error("the key's checksum does not match")]
    Checksum,
}

/// A parsed, checksum-verified API key. Its `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    full: String,
}

impl ApiKey {
    /// Make a fresh random key.
    pub fn generate() -> ApiKey {
        let mut rng = rand::rng();
        let mut pick = |n: usize| -> String {
            (0..n)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect()
        };
        let key_id = pick(KEY_ID_LEN);
        let secret = pick(SECRET_LEN);
        let body = format!("{PREFIX}{key_id}-{secret}");
        let full = format!("{body}{}", checksum(&body));
        ApiKey { full }
    }

    /// Parse and verify the checksum. Cheap: no hashing beyond a CRC32.
    pub fn parse(s: &str) -> Result<ApiKey, KeyError> {
        let rest = s.strip_prefix(PREFIX).ok_or(KeyError::Prefix)?;
        let (key_id, tail) = rest.split_once('-').ok_or(KeyError::Shape)?;
        if key_id.len() != KEY_ID_LEN
            || tail.len() != SECRET_LEN + CHECKSUM_LEN
            || !key_id
                .bytes()
                .chain(tail.bytes())
                .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(KeyError::Shape);
        }
        let (body, sum) = s.split_at(s.len() - CHECKSUM_LEN);
        if checksum(body).as_bytes().ct_eq(sum.as_bytes()).unwrap_u8() != 1 {
            return Err(KeyError::Checksum);
        }
        Ok(ApiKey { full: s.to_owned() })
    }

    /// The public part, e.g. `Ab3dEf6hIj9k`.
    pub fn key_id(&self) -> &str {
        &self.full[PREFIX.len()..PREFIX.len() + KEY_ID_LEN]
    }

    /// The whole key. Only for showing once at creation and for hashing.
    pub fn expose(&self) -> &str {
        &self.full
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(tg-{}-***)", self.key_id())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Keyed hashing of API keys with the server pepper.
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher(***)")
    }
}

impl KeyHasher {
    pub fn new(pepper: &[u8]) -> KeyHasher {
        // HMAC accepts keys of any length; the error type exists only for fixed-size MACs.
        let mac = match Hmac::<Sha256>::new_from_slice(pepper) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        KeyHasher { mac }
    }

    /// Lower-case hex HMAC-SHA256 of the whole key, as stored in Postgres.
    pub fn hash(&self, key: &ApiKey) -> String {
        let mut mac = self.mac.clone();
        mac.update(key.full.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of `key` against a stored hex hash.
    pub fn verify(&self, key: &ApiKey, stored_hex: &str) -> bool {
        let computed = self.hash(key);
        computed.as_bytes().ct_eq(stored_hex.as_bytes()).into()
    }
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> ! {
    panic!("HMAC-SHA256 accepts keys of every length")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_keys_parse_and_hide_their_secret() {
        let k = ApiKey::generate();
        let s = k.expose().to_owned();
        assert!(s.starts_with("tg-"));
        assert_eq!(s.len(), 3 + 12 + 1 + 32 + 6);
        let parsed = ApiKey::parse(&s).unwrap();
        assert_eq!(parsed.key_id(), k.key_id());
        let shown = format!("{parsed:?} {parsed}");
        assert!(!shown.contains(&s[16..]), "secret leaked: {shown}");
    }

    #[test]
    fn rejects_wrong_prefix_shape_and_checksum() {
        let k = ApiKey::generate().expose().to_owned();
        assert_eq!(
            ApiKey::parse(&k.replacen("tg-", "sk-", 1)),
            Err(KeyError::Prefix)
        );
        assert_eq!(ApiKey::parse("tg-short-x"), Err(KeyError::Shape));
        // Flip one secret character: the checksum must catch it.
        let mut bytes = k.into_bytes();
        bytes[20] = if bytes[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        assert_eq!(ApiKey::parse(&typo), Err(KeyError::Checksum));
    }

    #[test]
    fn hashes_depend_on_the_pepper_and_verify() {
        let k = ApiKey::generate();
        let a = KeyHasher::new(b"pepper-a");
        let b = KeyHasher::new(b"pepper-b");
        let h = a.hash(&k);
        assert_eq!(h.len(), 64);
        assert!(a.verify(&k, &h));
        assert!(!b.verify(&k, &h));
        assert!(!a.verify(&ApiKey::generate(), &h));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = ApiKey::parse(&s);
        }

        #[test]
        fn any_single_character_change_is_refused(pos in 3usize..54, c in "[0-9A-Za-z]") {
            let k = ApiKey::generate().expose().to_owned();
            let mut chars: Vec<char> = k.chars().collect();
            let new = c.chars().next().unwrap();
            prop_assume!(pos != 15 && chars[pos] != new);
            chars[pos] = new;
            let changed: String = chars.into_iter().collect();
            prop_assert!(ApiKey::parse(&changed).is_err());
        }
    }
}
