//! RFC 6962 / RFC 9162 inclusion and consistency proofs.
//!
//! An inclusion proof shows that a record is leaf `index` of the tree whose
//! root a signed checkpoint commits to; a consistency proof shows that the
//! tree at one checkpoint is a prefix of the tree at a later one (nothing was
//! changed, removed or reordered in between). Verification needs only the
//! hashes and the checkpoints, never the journal — that is the point: an
//! auditor need not trust whodid.

use crate::merkle::{node_hash, root_of, split_point, Hash, LeafHashes, ProofError};

/// The audit path of leaf `index` in the tree of `tree_size` leaves.
pub fn inclusion_proof(
    leaves: &dyn LeafHashes,
    index: u64,
    tree_size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= tree_size {
        return Err(ProofError::OutOfRange {
            index,
            size: tree_size,
        });
    }
    let mut proof = Vec::new();
    path(leaves, index, 0, tree_size, &mut proof)?;
    Ok(proof)
}

/// PATH(m, D[begin:end]), appending to `out` deepest first.
fn path(
    leaves: &dyn LeafHashes,
    m: u64,
    begin: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = end - begin;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(leaves, m, begin, begin + k, out)?;
        out.push(root_of(leaves, begin + k, end)?);
    } else {
        path(leaves, m - k, begin + k, end, out)?;
        out.push(root_of(leaves, begin, begin + k)?);
    }
    Ok(())
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::OutOfRange {
            index,
            size: tree_size,
        });
    }
    let mut f = index;
    let mut s = tree_size - 1;
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::Mismatch("inclusion proof is too long"));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Mismatch("inclusion proof is too short"));
    }
    if r != *root {
        return Err(ProofError::Mismatch(
            "inclusion proof leads to another root",
        ));
    }
    Ok(())
}

/// The consistency proof between the trees of `old_size` and `new_size` leaves.
pub fn consistency_proof(
    leaves: &dyn LeafHashes,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadSizes {
            old: old_size,
            new: new_size,
        });
    }
    let mut proof = Vec::new();
    if old_size < new_size {
        subproof(leaves, old_size, 0, new_size, true, &mut proof)?;
    }
    Ok(proof)
}

/// SUBPROOF(m, D[begin:end], b).
fn subproof(
    leaves: &dyn LeafHashes,
    m: u64,
    begin: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = end - begin;
    if m == n {
        if !whole {
            out.push(root_of(leaves, begin, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(leaves, m, begin, begin + k, whole, out)?;
        out.push(root_of(leaves, begin + k, end)?);
    } else {
        subproof(leaves, m - k, begin + k, end, false, out)?;
        out.push(root_of(leaves, begin, begin + k)?);
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadSizes {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::Mismatch(
                "proof between equal sizes must be empty",
            ));
        }
        if old_root != new_root {
            return Err(ProofError::Mismatch("equal sizes with different roots"));
        }
        return Ok(());
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some(first) = path.first() else {
        return Err(ProofError::Mismatch("empty consistency proof"));
    };
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::Mismatch("consistency proof is too long"));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Mismatch("consistency proof is too short"));
    }
    if fr != *old_root {
        return Err(ProofError::Mismatch(
            "consistency proof does not lead to the old root",
        ));
    }
    if sr != *new_root {
        return Err(ProofError::Mismatch(
            "consistency proof does not lead to the new root",
        ));
    }
    Ok(())
}
