//! State shared by every request: the current options (swapped atomically, never locked) and the
//! counters behind `MockStats`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::options::{MockOptions, MockStats};

/// Bound on the prompt-prefix set.
const PROMPT_CACHE_ENTRIES: usize = 100_000;

pub(crate) struct Shared {
    options: ArcSwap<MockOptions>,
    requests: AtomicU64,
    chat_requests: AtomicU64,
    messages_requests: AtomicU64,
    responses_requests: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    cache_read_tokens: AtomicU64,
    cache_write_tokens: AtomicU64,
    /// What the endpoints billed by unit served, in their units.
    units: UnitCounters,
    /// Prompt prefixes written to the mock's "prompt cache" (hashes), bounded by
    /// [`PROMPT_CACHE_ENTRIES`]; only requests with `cache_control` touch it.
    prompt_cache: Mutex<HashSet<u64>>,
    /// How many requests have drawn against `error_rate` so far.
    fault_draws: AtomicU64,
    next_id: AtomicU64,
    /// Distinguishes this process's ids from an earlier run's.
    id_epoch: u64,
    /// Cancelled when the server stops; connections then drain for a short grace.
    pub(crate) shutdown: CancellationToken,
    /// Recent requests' headers.
    pub(crate) seen: crate::seen::Seen,
}

impl Shared {
    pub(crate) fn new(options: MockOptions) -> Arc<Self> {
        Arc::new(Self {
            options: ArcSwap::from_pointee(options),
            requests: AtomicU64::new(0),
            chat_requests: AtomicU64::new(0),
            messages_requests: AtomicU64::new(0),
            responses_requests: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
            cache_read_tokens: AtomicU64::new(0),
            cache_write_tokens: AtomicU64::new(0),
            units: UnitCounters::default(),
            prompt_cache: Mutex::new(HashSet::new()),
            fault_draws: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            id_epoch: unix_now(),
            shutdown: CancellationToken::new(),
            seen: crate::seen::Seen::default(),
        })
    }

    pub(crate) fn options(&self) -> Arc<MockOptions> {
        self.options.load_full()
    }

    pub(crate) fn set_options(&self, options: MockOptions) {
        self.options.store(Arc::new(options));
    }

    pub(crate) fn stats(&self) -> MockStats {
        MockStats {
            requests: self.requests.load(Ordering::Relaxed),
            chat_requests: self.chat_requests.load(Ordering::Relaxed),
            messages_requests: self.messages_requests.load(Ordering::Relaxed),
            responses_requests: self.responses_requests.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
            cache_read_tokens: self.cache_read_tokens.load(Ordering::Relaxed),
            cache_write_tokens: self.cache_write_tokens.load(Ordering::Relaxed),
            images: self.units.images.load(Ordering::Relaxed),
            speech_characters: self.units.speech_characters.load(Ordering::Relaxed),
            audio_seconds: self.units.audio_seconds.load(Ordering::Relaxed),
            moderation_requests: self.units.moderation_requests.load(Ordering::Relaxed),
            search_units: self.units.search_units.load(Ordering::Relaxed),
        }
    }

    /// Count what an endpoint billed by unit served.
    pub(crate) fn count_units(&self, served: Served) {
        let (counter, n) = match served {
            Served::Images(n) => (&self.units.images, n),
            Served::SpeechCharacters(n) => (&self.units.speech_characters, n),
            Served::AudioSeconds(n) => (&self.units.audio_seconds, n),
            Served::Moderation => (&self.units.moderation_requests, 1),
            Served::SearchUnits(n) => (&self.units.search_units, n),
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_chat_request(&self) {
        self.chat_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_messages_request(&self) {
        self.messages_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_responses_request(&self) {
        self.responses_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_cache(&self, read: u64, written: u64) {
        self.cache_read_tokens.fetch_add(read, Ordering::Relaxed);
        self.cache_write_tokens
            .fetch_add(written, Ordering::Relaxed);
    }

    /// Whether the prompt prefix `hash` was cached before; caches it if not. Deterministic: the
    /// first request with a prefix writes, every later one reads (until the bounded set is
    /// cleared, which tests never reach).
    pub(crate) fn prompt_cache_hit(&self, hash: u64) -> bool {
        let mut cache = match self.prompt_cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.contains(&hash) {
            return true;
        }
        if cache.len() >= PROMPT_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(hash);
        false
    }

    pub(crate) fn count_prompt(&self, tokens: u64) {
        self.prompt_tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    pub(crate) fn count_completion(&self, tokens: u64) {
        self.completion_tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    /// Whether this request should fail. Deterministic and evenly spread rather than random, so a
    /// test with `error_rate = 0.25` sees exactly one failure in every four requests.
    pub(crate) fn draw_error(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        let k = self.fault_draws.fetch_add(1, Ordering::Relaxed) as f64;
        ((k + 1.0) * rate).floor() > (k * rate).floor()
    }

    /// A fresh id suffix (`chatcmpl-…`, `msg_mock_…`).
    pub(crate) fn next_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:x}{n:010x}", self.id_epoch)
    }
}

/// The counters of the endpoints billed by unit.
#[derive(Default)]
struct UnitCounters {
    images: AtomicU64,
    speech_characters: AtomicU64,
    audio_seconds: AtomicU64,
    moderation_requests: AtomicU64,
    search_units: AtomicU64,
}

/// What one answer of an endpoint billed by unit served.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Served {
    Images(u64),
    SpeechCharacters(u64),
    AudioSeconds(u64),
    Moderation,
    SearchUnits(u64),
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_spread_exactly() {
        let shared = Shared::new(MockOptions::default());
        let failures = (0..100).filter(|_| shared.draw_error(0.25)).count();
        assert_eq!(failures, 25);
        assert!((0..10).all(|_| shared.draw_error(1.0)));
        assert!((0..10).all(|_| !shared.draw_error(0.0)));
    }
}
