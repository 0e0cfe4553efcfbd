//! A short-lived, bounded cache of successful external API answers.
//!
//! Keys are SHA-256 digests of (api_id, method, final URL, body), so the cache
//! never holds a query in clear; the bearer token is not part of the key.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Most answers kept at once; beyond that the oldest is evicted.
pub const MAX_ENTRIES: usize = 256;

/// The digest identifying one request.
pub type CacheKey = [u8; 32];

/// Digest of what identifies a request. Parts are length-prefixed so that
/// moving bytes between parts cannot produce the same key.
pub fn cache_key(api_id: &str, method: &str, url: &str, body: &[u8]) -> CacheKey {
    let mut hasher = Sha256::new();
    for part in [api_id.as_bytes(), method.as_bytes(), url.as_bytes(), body] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

struct Entry {
    value: serde_json::Value,
    stored_at: Instant,
}

/// Answers by key, each valid for `ttl` after it was stored.
pub struct ResponseCache {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<CacheKey, Entry>,
}

impl ResponseCache {
    /// A cache keeping answers for `ttl` (zero disables it), at most
    /// `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        ResponseCache {
            ttl,
            capacity,
            entries: HashMap::new(),
        }
    }

    /// Whether answers are cached at all.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// The answer stored under `key` if it is still fresh.
    pub fn get(&mut self, key: &CacheKey, now: Instant) -> Option<serde_json::Value> {
        let fresh = self
            .entries
            .get(key)
            .map(|entry| now.saturating_duration_since(entry.stored_at) < self.ttl)?;
        if fresh {
            self.entries.get(key).map(|entry| entry.value.clone())
        } else {
            self.entries.remove(key);
            None
        }
    }

    /// Stores an answer, evicting expired entries and then the oldest one
    /// when full.
    pub fn insert(&mut self, key: CacheKey, value: serde_json::Value, now: Instant) {
        if !self.enabled() {
            return;
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let ttl = self.ttl;
            self.entries
                .retain(|_, entry| now.saturating_duration_since(entry.stored_at) < ttl);
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self.entries.iter().min_by_key(|(_, e)| e.stored_at).map(|(k, _)| *k)
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, Entry { value, stored_at: now });
    }

    #[cfg(test)]
    /// Number of entries held (fresh or not yet purged).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_separate_parts() {
        assert_ne!(cache_key("a", "GET", "bc", b""), cache_key("ab", "GET", "c", b""));
        assert_eq!(cache_key("a", "GET", "u", b"{}"), cache_key("a", "GET", "u", b"{}"));
        assert_ne!(cache_key("a", "GET", "u", b"{}"), cache_key("a", "POST", "u", b"{}"));
    }

    #[test]
    fn entries_expire() {
        let mut cache = ResponseCache::new(Duration::from_secs(5), 4);
        let t0 = Instant::now();
        let key = cache_key("a", "GET", "u", b"");
        cache.insert(key, json!(1), t0);
        assert_eq!(cache.get(&key, t0 + Duration::from_secs(4)), Some(json!(1)));
        assert_eq!(cache.get(&key, t0 + Duration::from_secs(5)), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn zero_ttl_disables() {
        let mut cache = ResponseCache::new(Duration::ZERO, 4);
        let key = cache_key("a", "GET", "u", b"");
        cache.insert(key, json!(1), Instant::now());
        assert!(cache.is_empty());
        assert_eq!(cache.get(&key, Instant::now()), None);
    }

    #[test]
    fn bounded_evicting_oldest() {
        let mut cache = ResponseCache::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        let keys: Vec<_> = (0..5).map(|i| cache_key("a", "GET", &i.to_string(), b"")).collect();
        for (i, key) in keys.iter().enumerate() {
            cache.insert(*key, json!(i), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(cache.len(), 3);
        let now = t0 + Duration::from_secs(1);
        assert_eq!(cache.get(&keys[0], now), None);
        assert_eq!(cache.get(&keys[1], now), None);
        assert_eq!(cache.get(&keys[4], now), Some(json!(4)));
    }
}
