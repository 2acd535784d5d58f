//! Deduplication of Kubernetes audit events on (cluster, auditID, stage).
//!
//! The apiserver's webhook backend retries a whole batch on any error,
//! including a timeout after whodid had already stored it, so the same
//! events arrive again. Each (auditID, stage) pair is stored once: the
//! window remembers the keys of recent events, bounded in count and age,
//! and is refilled from the journal's tail when whodid starts, so a retry
//! after a crash is recognised too.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use whodid_model::k8s::Stage;

/// The identity of one event: 128 bits of SHA-256 over cluster, auditID
/// and stage (collisions are beyond reach at any realistic volume).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DedupKey([u8; 16]);

impl DedupKey {
    /// The key of one event.
    pub fn of(cluster: &str, audit_id: &str, stage: Stage) -> DedupKey {
        let mut hasher = Sha256::new();
        hasher.update(cluster.as_bytes());
        hasher.update([0]);
        hasher.update(audit_id.as_bytes());
        hasher.update([0]);
        hasher.update(stage.as_str().as_bytes());
        let digest = hasher.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        DedupKey(key)
    }
}

/// The batch that stored a key: 0 for keys found in the journal at start.
pub type BatchSeq = u64;

/// Recent keys, each with the batch that stored it.
///
/// Memory is the point of its shape: a key costs one map entry (key, batch,
/// insertion number: 32 bytes) and one queue entry (key, time in seconds
/// since the window was made, insertion number: 24 bytes). The insertion
/// number tells a queue entry of a key forgotten and stored again from the
/// key's current one.
#[derive(Debug)]
pub struct DedupWindow {
    keys: FxHashMap<DedupKey, (BatchSeq, u32)>,
    order: VecDeque<(DedupKey, u32, u32)>,
    inserted: u32,
    epoch: Instant,
    max_keys: usize,
    max_age: Duration,
}

impl DedupWindow {
    /// A window of at most `max_keys` keys, none older than `max_age`.
    pub fn new(max_keys: usize, max_age: Duration) -> DedupWindow {
        DedupWindow {
            keys: FxHashMap::default(),
            order: VecDeque::new(),
            inserted: 0,
            epoch: Instant::now(),
            max_keys: max_keys.max(1),
            max_age,
        }
    }

    fn seconds(&self, at: Instant) -> u32 {
        u32::try_from(at.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    /// The batch that stored `key`, if it is in the window.
    pub fn get(&self, key: &DedupKey) -> Option<BatchSeq> {
        self.keys.get(key).map(|&(seq, _)| seq)
    }

    /// Remembers `key` as stored by `seq`.
    pub fn insert(&mut self, key: DedupKey, seq: BatchSeq, now: Instant) {
        let at = self.seconds(now);
        if let Some(entry) = self.keys.get_mut(&key) {
            entry.0 = seq;
        } else {
            self.inserted = self.inserted.wrapping_add(1);
            self.keys.insert(key, (seq, self.inserted));
            self.order.push_back((key, at, self.inserted));
        }
        self.evict(at);
    }

    /// Forgets the keys that `seq` stored (its append failed).
    pub fn forget(&mut self, keys: &[DedupKey], seq: BatchSeq) {
        for key in keys {
            if self.get(key) == Some(seq) {
                self.keys.remove(key);
            }
        }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How far back the window reaches at `now`: a retry later than this
    /// after the original is no longer recognised.
    pub fn span(&self, now: Instant) -> Duration {
        self.order.front().map_or(Duration::ZERO, |&(_, at, _)| {
            Duration::from_secs(u64::from(self.seconds(now).saturating_sub(at)))
        })
    }

    fn evict(&mut self, now: u32) {
        let max_age = u32::try_from(self.max_age.as_secs()).unwrap_or(u32::MAX);
        while let Some(&(key, at, number)) = self.order.front() {
            let too_many = self.order.len() > self.max_keys;
            let too_old = now.saturating_sub(at) > max_age;
            if !too_many && !too_old {
                break;
            }
            self.order.pop_front();
            // A key forgotten and stored again has a newer entry in `order`.
            if self.keys.get(&key).is_some_and(|&(_, n)| n == number) {
                self.keys.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_cluster_id_and_stage() {
        let a = DedupKey::of("prod", "id-1", Stage::ResponseComplete);
        assert_eq!(a, DedupKey::of("prod", "id-1", Stage::ResponseComplete));
        assert_ne!(a, DedupKey::of("dev", "id-1", Stage::ResponseComplete));
        assert_ne!(a, DedupKey::of("prod", "id-2", Stage::ResponseComplete));
        assert_ne!(a, DedupKey::of("prod", "id-1", Stage::RequestReceived));
        // No ambiguity from concatenation.
        assert_ne!(
            DedupKey::of("ab", "c", Stage::Panic),
            DedupKey::of("a", "bc", Stage::Panic)
        );
    }

    #[test]
    fn bounded_by_count_and_age() {
        let mut w = DedupWindow::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let keys: Vec<DedupKey> = (0..5)
            .map(|i| DedupKey::of("c", &i.to_string(), Stage::ResponseComplete))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            w.insert(*key, i as u64, t0);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.get(&keys[0]), None);
        assert_eq!(w.get(&keys[4]), Some(4));
        w.insert(keys[0], 9, t0 + Duration::from_secs(61));
        assert_eq!(w.len(), 1, "the old ones expired");
        w.forget(&[keys[0]], 8);
        assert_eq!(w.get(&keys[0]), Some(9), "another batch's key stays");
        w.forget(&[keys[0]], 9);
        assert!(w.is_empty());
        // Stored again after being forgotten (within the same second): the
        // stale order entry does not evict it.
        let t1 = t0 + Duration::from_secs(62);
        let mut w = DedupWindow::new(2, Duration::from_secs(60));
        w.insert(keys[0], 10, t1);
        w.forget(&[keys[0]], 10);
        w.insert(keys[0], 12, t1);
        w.insert(keys[1], 13, t1);
        assert_eq!(
            w.get(&keys[0]),
            Some(12),
            "the stale entry went, not the key"
        );
        assert_eq!(w.len(), 2);
        assert_eq!(w.span(t1 + Duration::from_secs(5)), Duration::from_secs(5));
    }
}
