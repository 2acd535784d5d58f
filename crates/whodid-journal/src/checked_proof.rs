//! Proofs checked before they are handed out.
//!
//! Proofs are built from the leaf sidecars (fast), and the sidecars are
//! derived data that nothing signs: a changed sidecar gives a proof that
//! does not verify. So `whodid prove` checks every proof against the signed
//! checkpoint first; if it does not verify, the leaf hashes are recomputed
//! from the records (a bad sidecar is named and left for the writer to move
//! aside and rebuild at its next start) and the proof built again. If even
//! that proof does not verify, the records themselves were changed: an
//! error, never a proof that cannot verify.

use std::path::PathBuf;

use whodid_model::Stream;

use crate::checkpoint::Verifier;
use crate::error::JournalError;
use crate::leaves::StreamLeaves;
use crate::proof::{consistency_proof, inclusion_proof};
use crate::proof_json::{hex, ConsistencyProofJson, InclusionProofJson};
use crate::reader::JournalReader;

/// A proof that verifies, and the sidecars that had to be bypassed for it.
#[derive(Debug)]
pub struct Checked<T> {
    /// The proof, checked against its signed checkpoint.
    pub proof: T,
    /// Sidecars that disagree with their records (the proof was built from
    /// the records instead).
    pub bad_sidecars: Vec<PathBuf>,
}

fn recomputed(
    reader: &JournalReader,
    stream: Stream,
    end: u64,
) -> Result<(StreamLeaves, Vec<PathBuf>), JournalError> {
    StreamLeaves::from_records(reader.layout(), stream, &reader.segments(stream)?, end)
}

/// [`JournalReader::prove_inclusion`], checked (see the module).
pub fn prove_inclusion(
    reader: &JournalReader,
    stream: Stream,
    index: u64,
    tree_size: Option<u64>,
    verifier: &Verifier,
) -> Result<Checked<InclusionProofJson>, JournalError> {
    let mut proof = reader.prove_inclusion(stream, index, tree_size, verifier)?;
    if proof.verify(verifier).is_ok() {
        return Ok(Checked {
            proof,
            bad_sidecars: Vec::new(),
        });
    }
    let (leaves, bad_sidecars) = recomputed(reader, stream, proof.tree_size)?;
    proof.hashes = inclusion_proof(&leaves, index, proof.tree_size)?
        .iter()
        .map(|h| hex(h))
        .collect();
    proof
        .verify(verifier)
        .map_err(|e| JournalError::ProofDoesNotVerify {
            stream,
            size: proof.tree_size,
            reason: format!("record {index}: {e}"),
        })?;
    Ok(Checked {
        proof,
        bad_sidecars,
    })
}

/// [`JournalReader::prove_consistency`], checked (see the module).
pub fn prove_consistency(
    reader: &JournalReader,
    stream: Stream,
    old_size: u64,
    new_size: u64,
    verifier: &Verifier,
) -> Result<Checked<ConsistencyProofJson>, JournalError> {
    let mut proof = reader.prove_consistency(stream, old_size, new_size, verifier)?;
    if proof.verify(verifier).is_ok() {
        return Ok(Checked {
            proof,
            bad_sidecars: Vec::new(),
        });
    }
    let (leaves, bad_sidecars) = recomputed(reader, stream, new_size)?;
    proof.hashes = consistency_proof(&leaves, old_size, new_size)?
        .iter()
        .map(|h| hex(h))
        .collect();
    proof
        .verify(verifier)
        .map_err(|e| JournalError::ProofDoesNotVerify {
            stream,
            size: new_size,
            reason: format!("consistency from {old_size}: {e}"),
        })?;
    Ok(Checked {
        proof,
        bad_sidecars,
    })
}
