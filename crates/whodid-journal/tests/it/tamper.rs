//! Tampering: every change an attacker with write access but without the
//! private key can make is detected and reported precisely by `verify`.

use std::path::Path;

use whodid_journal::format::{
    decode_frame_header, decode_payload, encode_frame, RecordInput, FRAME_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use whodid_journal::keys::SigningKeyPair;
use whodid_journal::merkle::leaf_hash;
use whodid_journal::verify::ProblemKind;

use crate::common::{build, check, segments};

fn fresh(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), n);
    assert!(check(dir.path()).is_intact());
    dir
}

fn kinds(dir: &Path) -> Vec<(ProblemKind, Option<u64>, String)> {
    check(dir)
        .problems
        .into_iter()
        .map(|p| (p.kind, p.record, format!("{p}")))
        .collect()
}

/// Rewrites the first frame of `segment` with `edit` applied to its records,
/// with a correct checksum (and, if asked, a matching leaf sidecar).
pub(crate) fn rewrite_first_frame(
    segment: &Path,
    fix_sidecar: bool,
    edit: impl FnOnce(&mut Vec<RecordInput>),
) {
    let bytes = std::fs::read(segment).unwrap();
    let header = decode_frame_header(&bytes[SEGMENT_HEADER_LEN..]).unwrap();
    let end = SEGMENT_HEADER_LEN + FRAME_HEADER_LEN + header.payload_len as usize;
    let stored =
        decode_payload(&header, &bytes[SEGMENT_HEADER_LEN + FRAME_HEADER_LEN..end]).unwrap();
    let mut records: Vec<RecordInput> = stored
        .iter()
        .map(|r| RecordInput {
            envelope: r.envelope.clone(),
            raw: r.raw.clone(),
        })
        .collect();
    edit(&mut records);
    let frame = encode_frame(header.first_index, header.time_micros, &records).unwrap();
    let mut out = bytes[..SEGMENT_HEADER_LEN].to_vec();
    out.extend_from_slice(&frame);
    out.extend_from_slice(&bytes[end..]);
    std::fs::write(segment, out).unwrap();
    if fix_sidecar {
        let sidecar = segment.with_extension("leaves");
        let mut leaves = std::fs::read(&sidecar).unwrap();
        for (i, r) in records.iter().enumerate() {
            let hash = leaf_hash(&whodid_journal::format::leaf_data(&r.envelope, &r.raw));
            leaves[i * 32..i * 32 + 32].copy_from_slice(&hash);
        }
        std::fs::write(&sidecar, leaves).unwrap();
    }
}

#[test]
fn flipped_bit_in_a_record() {
    let dir = fresh(200);
    let segment = &segments(dir.path())[1];
    let mut bytes = std::fs::read(segment).unwrap();
    let at = SEGMENT_HEADER_LEN + FRAME_HEADER_LEN + 5;
    bytes[at] ^= 0x04;
    std::fs::write(segment, bytes).unwrap();
    let found = kinds(dir.path());
    assert!(
        found
            .iter()
            .any(|(k, _, text)| *k == ProblemKind::ChecksumMismatch && text.contains(".seg")),
        "{found:?}"
    );
}

#[test]
fn edited_record_with_fixed_checksum_is_named() {
    let dir = fresh(200);
    let segment = segments(dir.path())[1].clone();
    let first: u64 = segment
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    rewrite_first_frame(&segment, false, |records| {
        records[1].raw = b"{\"verb\":\"nothing happened\"}".to_vec()
    });
    let found = kinds(dir.path());
    assert!(
        found
            .iter()
            .any(|(k, r, _)| *k == ProblemKind::HashMismatch && *r == Some(first + 1)),
        "{found:?}"
    );
}

#[test]
fn deleted_record() {
    let dir = fresh(200);
    let segment = segments(dir.path())[1].clone();
    rewrite_first_frame(&segment, true, |records| {
        records.remove(0);
    });
    let found = kinds(dir.path());
    assert!(
        found
            .iter()
            .any(|(k, _, _)| matches!(k, ProblemKind::MissingRecords | ProblemKind::HashMismatch)),
        "{found:?}"
    );
}

#[test]
fn swapped_records() {
    let dir = fresh(200);
    let segment = segments(dir.path())[2].clone();
    let first: u64 = segment
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    rewrite_first_frame(&segment, false, |records| records.swap(0, 2));
    let found = kinds(dir.path());
    assert!(
        found.iter().any(|(k, r, text)| *k == ProblemKind::Reordered
            && *r == Some(first)
            && text.contains("swapped")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(k, _, _)| *k == ProblemKind::HashMismatch),
        "{found:?}"
    );
}

#[test]
fn truncated_segment() {
    let dir = fresh(200);
    let last = segments(dir.path()).last().unwrap().clone();
    let len = std::fs::metadata(&last).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    file.set_len(len - 40).unwrap();
    let found = kinds(dir.path());
    assert!(
        found.iter().any(|(k, _, _)| *k == ProblemKind::Truncated),
        "{found:?}"
    );
}

#[test]
fn deleted_middle_segment() {
    let dir = fresh(200);
    let all = segments(dir.path());
    assert!(all.len() >= 3);
    std::fs::remove_file(&all[1]).unwrap();
    std::fs::remove_file(all[1].with_extension("leaves")).unwrap();
    let found = kinds(dir.path());
    let second: u64 = all[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        found
            .iter()
            .any(|(k, r, _)| *k == ProblemKind::MissingRecords && *r == Some(second)),
        "{found:?}"
    );
}

#[test]
fn edited_checkpoint() {
    let dir = fresh(200);
    let path = dir
        .path()
        .join("journal/kubeaudit/checkpoints/00000000000000000100.note");
    let note = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
    // Replace the root hash with another valid-looking one.
    lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let found = kinds(dir.path());
    assert!(
        found
            .iter()
            .any(|(k, _, text)| *k == ProblemKind::BadSignature
                && text.contains("00000000000000000100.note")),
        "{found:?}"
    );
}

#[test]
fn checkpoint_signed_by_another_key() {
    let dir = fresh(200);
    let path = dir
        .path()
        .join("journal/kubeaudit/checkpoints/00000000000000000100.note");
    let note = std::fs::read_to_string(&path).unwrap();
    let body = &note[..note.find("\n\n").unwrap() + 1];
    let impostor = SigningKeyPair::generate("impostor");
    std::fs::write(
        &path,
        whodid_journal::checkpoint::sign_note(body, &impostor),
    )
    .unwrap();
    let found = kinds(dir.path());
    assert!(
        found.iter().any(|(k, _, _)| *k == ProblemKind::UnknownKey),
        "{found:?}"
    );
}

#[test]
fn rewritten_segment_with_consistent_hashes_but_no_valid_signature() {
    // The attacker rewrites a record, fixes the frame checksum, the leaf
    // sidecar, and writes new checkpoints signed with their own key: only
    // the journal key's signatures count, and they commit to other roots.
    let dir = fresh(200);
    let segment = segments(dir.path())[0].clone();
    rewrite_first_frame(&segment, true, |records| {
        records[0].raw = b"{\"forged\":true}".to_vec()
    });
    let found = kinds(dir.path());
    assert!(
        found
            .iter()
            .any(|(k, _, _)| *k == ProblemKind::HashMismatch),
        "{found:?}"
    );
}
