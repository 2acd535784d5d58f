//! Proofs: inclusion and consistency proofs for random tree sizes verify,
//! and fail after any change.

use proptest::prelude::*;
use whodid_journal::merkle::{leaf_hash, root_of, Hash};
use whodid_journal::proof::{
    consistency_proof, inclusion_proof, verify_consistency, verify_inclusion,
};

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn inclusion_proofs_verify_and_break(size in 1u64..600, index_seed in any::<u64>(), flip in any::<usize>()) {
        let tree = leaves(size);
        let index = index_seed % size;
        let root = root_of(&tree, 0, size).unwrap();
        let proof = inclusion_proof(&tree, index, size).unwrap();
        prop_assert!(verify_inclusion(&tree[index as usize], index, size, &proof, &root).is_ok());
        // A changed hash in the proof.
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = flip % bad.len();
            bad[at][flip % 32] ^= 1;
            prop_assert!(verify_inclusion(&tree[index as usize], index, size, &bad, &root).is_err());
            // A truncated proof.
            prop_assert!(verify_inclusion(&tree[index as usize], index, size, &proof[..proof.len() - 1], &root).is_err());
        }
        // An extra element.
        let mut longer = proof.clone();
        longer.push([0u8; 32]);
        prop_assert!(verify_inclusion(&tree[index as usize], index, size, &longer, &root).is_err());
        // Another leaf, index, size or root.
        let other_leaf = leaf_hash(b"not the record");
        prop_assert!(verify_inclusion(&other_leaf, index, size, &proof, &root).is_err());
        if size > 1 {
            let other_index = (index + 1) % size;
            prop_assert!(verify_inclusion(&tree[index as usize], other_index, size, &proof, &root).is_err());
        }
        // (A wrong tree size is caught by the signed checkpoint, which commits
        // to the size together with the root: a proof for size n can also
        // verify against the same root under another size whose tree has the
        // same shape along the path.)
        let mut other_root = root;
        other_root[0] ^= 0x80;
        prop_assert!(verify_inclusion(&tree[index as usize], index, size, &proof, &other_root).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_break(new_size in 1u64..600, old_seed in any::<u64>(), flip in any::<usize>()) {
        let tree = leaves(new_size);
        let old_size = 1 + old_seed % new_size;
        let old_root = root_of(&tree, 0, old_size).unwrap();
        let new_root = root_of(&tree, 0, new_size).unwrap();
        let proof = consistency_proof(&tree, old_size, new_size).unwrap();
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof).is_ok());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = flip % bad.len();
            bad[at][flip % 32] ^= 1;
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &bad).is_err());
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof[..proof.len() - 1]).is_err());
        }
        let mut other = old_root;
        other[3] ^= 1;
        prop_assert!(verify_consistency(old_size, new_size, &other, &new_root, &proof).is_err());
        let mut other = new_root;
        other[3] ^= 1;
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &other, &proof).is_err());
        // A tree whose prefix was changed is not consistent with the old root.
        if old_size < new_size {
            let mut changed = tree.clone();
            changed[(flip as u64 % old_size) as usize] = leaf_hash(b"tampered");
            let changed_root = root_of(&changed, 0, new_size).unwrap();
            let changed_proof = consistency_proof(&changed, old_size, new_size).unwrap();
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &changed_root, &changed_proof).is_err());
        }
    }
}

#[test]
fn a_changed_sidecar_does_not_give_a_proof_that_fails() {
    use whodid_journal::checked_proof;
    let dir = tempfile::tempdir().unwrap();
    crate::common::build(dir.path(), 200);
    let first = crate::common::segments(dir.path())[0].clone();
    let sidecar = first.with_extension("leaves");
    let mut bytes = std::fs::read(&sidecar).unwrap();
    bytes[3] ^= 1;
    std::fs::write(&sidecar, &bytes).unwrap();
    let reader = whodid_journal::reader::JournalReader::open(dir.path()).unwrap();
    let v = crate::common::verifier(dir.path());
    // From the sidecars alone the proof would not verify …
    let raw = reader
        .prove_inclusion(whodid_model::Stream::KubeAudit, 150, None, &v)
        .unwrap();
    assert!(raw.verify(&v).is_err());
    // … the checked one is rebuilt from the records, and names the sidecar.
    let checked =
        checked_proof::prove_inclusion(&reader, whodid_model::Stream::KubeAudit, 150, None, &v)
            .unwrap();
    checked.proof.verify(&v).unwrap();
    assert_eq!(checked.bad_sidecars, vec![sidecar.clone()]);
    let consistency =
        checked_proof::prove_consistency(&reader, whodid_model::Stream::KubeAudit, 50, 200, &v)
            .unwrap();
    consistency.proof.verify(&v).unwrap();
    // The sidecar itself is left as it is (the writer deals with it).
    assert_eq!(std::fs::read(&sidecar).unwrap(), bytes);
    // A changed record gives an error, not a proof.
    crate::tamper::rewrite_first_frame(&first, false, |records| {
        records[0].raw = b"{\"forged\":true}".to_vec()
    });
    let err =
        checked_proof::prove_inclusion(&reader, whodid_model::Stream::KubeAudit, 150, None, &v)
            .unwrap_err();
    assert!(err.to_string().contains("whodid verify"), "{err}");
}
