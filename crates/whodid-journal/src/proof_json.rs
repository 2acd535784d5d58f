//! Proofs as JSON documents an auditor can check with only the public key:
//! the proof carries the signed checkpoint it is against, and an inclusion
//! proof carries the record itself, so the leaf hash is recomputed, not
//! trusted.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointError, Verifier};
use crate::format::leaf_data;
use crate::merkle::{leaf_hash, Hash, ProofError};
use crate::proof::{verify_consistency, verify_inclusion};

/// An inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProofJson {
    /// The stream.
    pub stream: String,
    /// The record's index.
    pub index: u64,
    /// The tree size of the checkpoint.
    pub tree_size: u64,
    /// The record's leaf hash (hex).
    pub leaf_hash: String,
    /// The audit path (hex), deepest first.
    pub hashes: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// The record's envelope.
    pub envelope: String,
    /// The record's original bytes.
    pub raw: String,
}

/// A consistency proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProofJson {
    /// The stream.
    pub stream: String,
    /// The older tree size.
    pub old_size: u64,
    /// The newer tree size.
    pub new_size: u64,
    /// The proof hashes (hex).
    pub hashes: Vec<String>,
    /// The signed checkpoint at `old_size`.
    pub old_checkpoint: String,
    /// The signed checkpoint at `new_size`.
    pub new_checkpoint: String,
}

/// Why a proof document does not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofCheckError {
    /// The checkpoint's signature or format.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The proof itself.
    #[error("{0}")]
    Proof(#[from] ProofError),
    /// The document disagrees with itself.
    #[error("{0}")]
    Inconsistent(String),
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Hash, ProofCheckError> {
    let bad = || ProofCheckError::Inconsistent(format!("{text:?} is not a 32-byte hex hash"));
    if text.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

impl InclusionProofJson {
    /// Checks the proof: signed checkpoint, recomputed leaf, audit path.
    pub fn verify(&self, verifier: &Verifier) -> Result<Checkpoint, ProofCheckError> {
        let checkpoint = Checkpoint::parse_and_verify(&self.checkpoint, verifier)?;
        if checkpoint.size != self.tree_size {
            return Err(ProofCheckError::Inconsistent(format!(
                "proof is for tree size {} but the checkpoint is for {}",
                self.tree_size, checkpoint.size
            )));
        }
        let leaf = leaf_hash(&leaf_data(self.envelope.as_bytes(), self.raw.as_bytes()));
        if hex(&leaf) != self.leaf_hash {
            return Err(ProofCheckError::Inconsistent(
                "the record does not hash to leaf_hash".into(),
            ));
        }
        let hashes = self
            .hashes
            .iter()
            .map(|h| unhex(h))
            .collect::<Result<Vec<_>, _>>()?;
        verify_inclusion(&leaf, self.index, self.tree_size, &hashes, &checkpoint.root)?;
        Ok(checkpoint)
    }
}

impl ConsistencyProofJson {
    /// Checks the proof against both signed checkpoints.
    pub fn verify(&self, verifier: &Verifier) -> Result<(Checkpoint, Checkpoint), ProofCheckError> {
        let old = Checkpoint::parse_and_verify(&self.old_checkpoint, verifier)?;
        let new = Checkpoint::parse_and_verify(&self.new_checkpoint, verifier)?;
        if old.size != self.old_size || new.size != self.new_size {
            return Err(ProofCheckError::Inconsistent(
                "sizes differ from the checkpoints".into(),
            ));
        }
        if old.origin != new.origin {
            return Err(ProofCheckError::Inconsistent(
                "checkpoints are of different logs".into(),
            ));
        }
        let hashes = self
            .hashes
            .iter()
            .map(|h| unhex(h))
            .collect::<Result<Vec<_>, _>>()?;
        verify_consistency(self.old_size, self.new_size, &old.root, &new.root, &hashes)?;
        Ok((old, new))
    }
}
