//! Deduplication of Kubernetes audit events on (cluster, auditID, stage).
//!
//! The apiserver's webhook backend retries a whole batch on any error,
//! including a timeout after whodid had already stored it, so the same
//! events arrive again. Each (auditID, stage) pair is stored once: the
//! window remembers the keys of recent events, bounded in count and age,
//! and is refilled from the journal's tail when whodid starts, so a retry
//! after a crash is recognised too.

use std::time::{Duration, Instant};

use hashbrown::HashTable;
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
/// Memory is the point of its shape. The keys live in a ring of slots in
/// insertion order (key, batch, time in seconds since the window was made:
/// 28 bytes a key, in three arrays that grow to `max_keys` and are then
/// reused); the lookup table holds only slot numbers (4 bytes and a control
/// byte per bucket, the key's own bits as its hash). A million keys cost
/// 37 MB resident, 40 MB at the peak of growing (measured by the
/// `dedup_memory` example), where a map of keys beside a queue of keys
/// cost 90 MB and 120 MB. The oldest slot is the next to
/// go; a key that was forgotten (its batch failed) leaves its slot in the
/// ring, and when that slot goes it removes the key only if the table still
/// points at this slot, so a key stored again later is not lost with it.
#[derive(Debug)]
pub struct DedupWindow {
    table: HashTable<u32>,
    keys: Vec<DedupKey>,
    seqs: Vec<BatchSeq>,
    ats: Vec<u32>,
    /// The oldest slot, and how many slots from it are in the ring.
    head: usize,
    count: usize,
    epoch: Instant,
    max_keys: usize,
    max_age: Duration,
}

/// The table's hash of a key: its first 8 bytes (it is a SHA-256 prefix).
fn hash_of(key: &DedupKey) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&key.0[..8]);
    u64::from_le_bytes(bytes)
}

impl DedupWindow {
    /// A window of at most `max_keys` keys (at most `u32::MAX`), none
    /// older than `max_age`.
    pub fn new(max_keys: usize, max_age: Duration) -> DedupWindow {
        DedupWindow {
            table: HashTable::new(),
            keys: Vec::new(),
            seqs: Vec::new(),
            ats: Vec::new(),
            head: 0,
            count: 0,
            epoch: Instant::now(),
            max_keys: max_keys.clamp(1, u32::MAX as usize),
            max_age,
        }
    }

    fn seconds(&self, at: Instant) -> u32 {
        u32::try_from(at.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    fn slot_of(&self, key: &DedupKey) -> Option<usize> {
        let keys = &self.keys;
        self.table
            .find(hash_of(key), |&slot| keys[slot as usize] == *key)
            .map(|&slot| slot as usize)
    }

    /// The batch that stored `key`, if it is in the window.
    pub fn get(&self, key: &DedupKey) -> Option<BatchSeq> {
        self.slot_of(key).map(|slot| self.seqs[slot])
    }

    /// Remembers `key` as stored by `seq`.
    pub fn insert(&mut self, key: DedupKey, seq: BatchSeq, now: Instant) {
        let at = self.seconds(now);
        if let Some(slot) = self.slot_of(&key) {
            self.seqs[slot] = seq;
        } else {
            if self.count == self.max_keys {
                self.evict_oldest();
            }
            let slot = (self.head + self.count) % self.max_keys;
            if slot == self.keys.len() {
                self.keys.push(key);
                self.seqs.push(seq);
                self.ats.push(at);
            } else {
                self.keys[slot] = key;
                self.seqs[slot] = seq;
                self.ats[slot] = at;
            }
            self.count += 1;
            let keys = &self.keys;
            self.table
                .insert_unique(hash_of(&key), slot as u32, |&s| hash_of(&keys[s as usize]));
        }
        self.evict(at);
    }

    /// Forgets the keys that `seq` stored (its append failed).
    pub fn forget(&mut self, keys: &[DedupKey], seq: BatchSeq) {
        for key in keys {
            let (ring, seqs) = (&self.keys, &self.seqs);
            if let Ok(entry) = self
                .table
                .find_entry(hash_of(key), |&slot| ring[slot as usize] == *key)
            {
                if seqs[*entry.get() as usize] == seq {
                    entry.remove();
                }
            }
        }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// How far back the window reaches at `now`: a retry later than this
    /// after the original is no longer recognised.
    pub fn span(&self, now: Instant) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let oldest = self.ats[self.head];
        Duration::from_secs(u64::from(self.seconds(now).saturating_sub(oldest)))
    }

    /// Drops the oldest slot (and its key, if the table points at it).
    fn evict_oldest(&mut self) {
        let slot = self.head;
        if let Ok(entry) = self
            .table
            .find_entry(hash_of(&self.keys[slot]), |&s| s as usize == slot)
        {
            entry.remove();
        }
        self.head = (self.head + 1) % self.max_keys;
        self.count -= 1;
    }

    fn evict(&mut self, now: u32) {
        let max_age = u32::try_from(self.max_age.as_secs()).unwrap_or(u32::MAX);
        while self.count > 0 && now.saturating_sub(self.ats[self.head]) > max_age {
            self.evict_oldest();
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

    /// The window against the plainest model of it: a list of (key, batch,
    /// time) in insertion order, the oldest dropped beyond `max_keys` or
    /// `max_age`, forgotten keys removed.
    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Insert { key: u8, seq: u64 },
            Forget { key: u8, seq: u64 },
            Wait { seconds: u8 },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                6 => (0u8..40, 0u64..6).prop_map(|(key, seq)| Op::Insert { key, seq }),
                2 => (0u8..40, 0u64..6).prop_map(|(key, seq)| Op::Forget { key, seq }),
                1 => (0u8..30).prop_map(|seconds| Op::Wait { seconds }),
            ]
        }

        fn key(n: u8) -> DedupKey {
            DedupKey::of("c", &n.to_string(), Stage::ResponseComplete)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn behaves_like_a_list_of_recent_keys(
                max_keys in 1usize..12,
                max_age in 1u64..60,
                ops in proptest::collection::vec(op(), 1..200),
            ) {
                let t0 = Instant::now();
                let mut window = DedupWindow::new(max_keys, Duration::from_secs(max_age));
                window.epoch = t0;
                // (key, seq, inserted at second, live)
                let mut list: Vec<(u8, u64, u64, bool)> = Vec::new();
                let mut now = 0u64;
                for op in ops {
                    match op {
                        Op::Insert { key: k, seq } => {
                            window.insert(key(k), seq, t0 + Duration::from_secs(now));
                            if let Some(e) = list.iter_mut().find(|e| e.0 == k && e.3) {
                                e.1 = seq;
                            } else {
                                if list.len() == max_keys {
                                    list.remove(0);
                                }
                                list.push((k, seq, now, true));
                            }
                            list.retain(|e| now - e.2 <= max_age);
                        }
                        Op::Forget { key: k, seq } => {
                            window.forget(&[key(k)], seq);
                            if let Some(e) = list.iter_mut().find(|e| e.0 == k && e.3 && e.1 == seq) {
                                e.3 = false;
                            }
                        }
                        Op::Wait { seconds } => now += u64::from(seconds),
                    }
                    for k in 0..40u8 {
                        let want = list.iter().find(|e| e.0 == k && e.3).map(|e| e.1);
                        prop_assert_eq!(window.get(&key(k)), want, "key {}", k);
                    }
                    prop_assert_eq!(window.len(), list.iter().filter(|e| e.3).count());
                }
            }
        }
    }
}
