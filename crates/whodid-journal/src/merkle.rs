//! RFC 6962 Merkle tree hashing: every journal record is a leaf.
//!
//! Leaf hash = SHA-256(0x00 ‖ leaf data); node hash = SHA-256(0x01 ‖ left ‖
//! right); the tree over `n` leaves splits at the largest power of two below
//! `n` (RFC 6962 §2.1). [`CompactRange`] keeps the running root of an
//! append-only tree in O(log n) memory; [`root_of`] computes the hash of any
//! range of leaves for proofs.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Why a tree computation could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// A leaf index or size outside the tree.
    #[error("index {index} out of range for tree size {size}")]
    OutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// `old_size` greater than `new_size`, or zero where not allowed.
    #[error("invalid tree sizes {old} and {new}")]
    BadSizes {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The proof does not verify.
    #[error("proof does not verify: {0}")]
    Mismatch(&'static str),
    /// Reading leaf hashes failed.
    #[error("reading leaf hash {index}: {message}")]
    Read {
        /// The leaf.
        index: u64,
        /// What went wrong.
        message: String,
    },
}

/// Random access to the leaf hashes of a tree.
pub trait LeafHashes {
    /// The hash of leaf `index`.
    fn leaf_hash_at(&self, index: u64) -> Result<Hash, ProofError>;

    /// The root of the perfect subtree of `size` leaves at `begin`, when it
    /// is known without its leaves (e.g. the frontier kept by retention).
    fn known_subtree(&self, _begin: u64, _size: u64) -> Option<Hash> {
        None
    }

    /// The first leaf whose hash [`LeafHashes::leaf_hash_at`] can return;
    /// subtrees before it must come from [`LeafHashes::known_subtree`].
    fn first_available(&self) -> u64 {
        0
    }
}

impl LeafHashes for [Hash] {
    fn leaf_hash_at(&self, index: u64) -> Result<Hash, ProofError> {
        self.get(index as usize)
            .copied()
            .ok_or(ProofError::OutOfRange {
                index,
                size: self.len() as u64,
            })
    }
}

impl LeafHashes for Vec<Hash> {
    fn leaf_hash_at(&self, index: u64) -> Result<Hash, ProofError> {
        self.as_slice().leaf_hash_at(index)
    }
}

/// The largest power of two strictly less than `n` (n ≥ 2).
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[begin:end]): the hash of the subtree over leaves `begin..end`.
pub fn root_of(leaves: &dyn LeafHashes, begin: u64, end: u64) -> Result<Hash, ProofError> {
    if begin > end {
        return Err(ProofError::BadSizes {
            old: begin,
            new: end,
        });
    }
    let n = end - begin;
    match n {
        0 => Ok(empty_root()),
        1 => leaves.leaf_hash_at(begin),
        _ => {
            // Perfect subtrees are folded bottom-up with a stack, so the
            // recursion depth stays small even for huge ranges.
            let k = split_point(n);
            let left = perfect_root(leaves, begin, k)?;
            let right = root_of(leaves, begin + k, end)?;
            Ok(node_hash(&left, &right))
        }
    }
}

/// The root of a perfect subtree of `size` (a power of two) leaves from `begin`.
fn perfect_root(leaves: &dyn LeafHashes, begin: u64, size: u64) -> Result<Hash, ProofError> {
    if let Some(known) = leaves.known_subtree(begin, size) {
        return Ok(known);
    }
    if size <= 64 && begin >= leaves.first_available() {
        let mut range = CompactRange::new();
        for index in begin..begin + size {
            range.push(leaves.leaf_hash_at(index)?);
        }
        return Ok(range.root());
    }
    let half = size / 2;
    let left = perfect_root(leaves, begin, half)?;
    let right = perfect_root(leaves, begin + half, half)?;
    Ok(node_hash(&left, &right))
}

/// The roots of the perfect subtrees that cover leaves `0..size`, largest
/// first: enough to extend the tree and compute its root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    /// Restores a range saved with [`CompactRange::size`] and [`CompactRange::hashes`].
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<CompactRange, ProofError> {
        if hashes.len() != size.count_ones() as usize {
            return Err(ProofError::BadSizes {
                old: size,
                new: hashes.len() as u64,
            });
        }
        Ok(CompactRange { size, hashes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest subtree first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf (its leaf hash).
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        // Merge with the trailing perfect subtrees of equal size.
        while size & 1 == 1 {
            let left = self.hashes.pop().unwrap_or_default();
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The root of the tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        let mut hash = *last;
        for left in iter {
            hash = node_hash(left, &hash);
        }
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH straight from RFC 6962 §2.1.
    fn reference(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference(&leaves[..k]), &reference(&leaves[k..]))
            }
        }
    }

    #[test]
    fn compact_range_matches_the_rfc_definition() {
        let leaves: Vec<Vec<u8>> = (0..70u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let mut range = CompactRange::new();
        assert_eq!(range.root(), empty_root());
        for n in 1..=leaves.len() {
            range.push(hashes[n - 1]);
            assert_eq!(range.root(), reference(&leaves[..n]), "size {n}");
            assert_eq!(root_of(&hashes, 0, n as u64).unwrap(), range.root());
        }
        let restored = CompactRange::from_parts(range.size(), range.hashes().to_vec()).unwrap();
        assert_eq!(restored.root(), range.root());
    }

    #[test]
    fn known_vectors() {
        // RFC 6962 test vectors as used by Certificate Transparency: the
        // empty tree, and the root of the 8-leaf tree of the CT test suite.
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let leaves: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            (0x60..=0x6f).collect(),
        ];
        assert_eq!(
            hex(&reference(&leaves)),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
        assert_eq!(
            hex(&leaf_hash(&[])),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
