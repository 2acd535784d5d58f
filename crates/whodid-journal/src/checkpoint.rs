//! Checkpoints in the transparency-log signed-note format.
//!
//! A checkpoint commits to a tree size and root hash and is signed with the
//! journal's ed25519 key, in the C2SP `tlog-checkpoint` / `signed-note`
//! formats used by Go's `sumdb/note` and every transparency log, so
//! existing tools can read it:
//!
//! ```text
//! whodid/kubeaudit            <- origin
//! 1147                        <- tree size
//! 3q2+7w…=                    <- base64 root hash
//!                             <- blank line
//! — whodid-journal AbCd…=     <- em dash, key name, base64(key id ‖ signature)
//! ```
//!
//! The key id is the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public
//! key). The same note format signs retention records ([`sign_note`]).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::keys::SigningKeyPair;
use crate::merkle::Hash;

/// The signature algorithm byte of ed25519 in signed notes.
pub(crate) const ALG_ED25519: u8 = 0x01;

/// Why a note or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a signed note: no blank line before signatures, no final newline, …
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// No signature by the expected key.
    #[error("no signature by key {0:?}")]
    NotSignedByKey(String),
    /// A signature by the expected key that does not verify.
    #[error("bad signature by key {0:?}")]
    BadSignature(String),
    /// The body is not a checkpoint.
    #[error("malformed checkpoint body: {0}")]
    BadBody(&'static str),
    /// A malformed verifier key.
    #[error("malformed verifier key: {0}")]
    BadKey(&'static str),
}

/// The 4-byte key id of a signed-note ed25519 key.
pub(crate) fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALG_ED25519]);
    hasher.update(public);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A public key that verifies notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl Verifier {
    /// Builds a verifier from a name and an ed25519 public key.
    pub fn new(name: &str, key: VerifyingKey) -> Verifier {
        Verifier {
            name: name.to_owned(),
            id: key_id(name, key.as_bytes()),
            key,
        }
    }

    /// Parses a verifier key: `<name>+<hex key id>+<base64(0x01 ‖ key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Verifier, CheckpointError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CheckpointError::BadKey("expected <name>+<key id>+<key>"));
        };
        let raw = B64
            .decode(key_b64)
            .map_err(|_| CheckpointError::BadKey("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(CheckpointError::BadKey("not an ed25519 key"));
        }
        let mut public = [0u8; 32];
        public.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| CheckpointError::BadKey("invalid ed25519 point"))?;
        let verifier = Verifier::new(name, key);
        if hex4(&verifier.id) != id_hex {
            return Err(CheckpointError::BadKey("key id does not match the key"));
        }
        Ok(verifier)
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex4(&self.id), B64.encode(raw))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

pub(crate) fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Signs `body` (which must end with a newline) as a signed note.
pub fn sign_note(body: &str, key: &SigningKeyPair) -> String {
    let signature: Signature = key.signing_key().sign(body.as_bytes());
    let mut blob = key_id(key.name(), key.signing_key().verifying_key().as_bytes()).to_vec();
    blob.extend_from_slice(&signature.to_bytes());
    format!("{body}\n\u{2014} {} {}\n", key.name(), B64.encode(blob))
}

/// Verifies a signed note and returns its body. The note must carry a
/// valid signature by `verifier`'s key; signatures by other keys are ignored.
pub fn open_note(note: &str, verifier: &Verifier) -> Result<String, CheckpointError> {
    let Some(split) = note.rfind("\n\n") else {
        return Err(CheckpointError::Malformed(
            "no blank line before the signatures",
        ));
    };
    let body = &note[..split + 1];
    let signatures = &note[split + 2..];
    if !signatures.ends_with('\n') {
        return Err(CheckpointError::Malformed(
            "signatures do not end with a newline",
        ));
    }
    let mut found_key = false;
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(CheckpointError::Malformed(
                "signature line does not start with an em dash",
            ));
        };
        let Some((name, blob)) = rest.split_once(' ') else {
            return Err(CheckpointError::Malformed(
                "signature line has no signature",
            ));
        };
        if name != verifier.name {
            continue;
        }
        let blob = B64
            .decode(blob)
            .map_err(|_| CheckpointError::Malformed("signature is not base64"))?;
        if blob.len() != 68 || blob[..4] != verifier.id {
            continue;
        }
        found_key = true;
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&blob[4..]);
        let signature = Signature::from_bytes(&sig);
        if verifier.key.verify(body.as_bytes(), &signature).is_ok() {
            return Ok(body.to_owned());
        }
    }
    if found_key {
        Err(CheckpointError::BadSignature(verifier.name.clone()))
    } else {
        Err(CheckpointError::NotSignedByKey(verifier.name.clone()))
    }
}

/// A tree head: origin, size, root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `whodid/kubeaudit`.
    pub origin: String,
    /// The number of records.
    pub size: u64,
    /// The Merkle root over them.
    pub root: Hash,
    /// Extra lines after the root.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note body.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// The signed note.
    pub fn sign(&self, key: &SigningKeyPair) -> String {
        sign_note(&self.body(), key)
    }

    /// Parses a checkpoint body (already verified).
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let mut lines = body.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(CheckpointError::BadBody("no origin"))?;
        let size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or(CheckpointError::BadBody("size is not a number"))?;
        let root_raw = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .ok_or(CheckpointError::BadBody("root is not base64"))?;
        let root: Hash = root_raw
            .try_into()
            .map_err(|_| CheckpointError::BadBody("root is not 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: lines.map(str::to_owned).collect(),
        })
    }

    /// Verifies a signed checkpoint note and parses it.
    pub fn parse_and_verify(
        note: &str,
        verifier: &Verifier,
    ) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse_body(&open_note(note, verifier)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_and_tampering() {
        let key = SigningKeyPair::generate("whodid-test");
        let other = SigningKeyPair::generate("whodid-test");
        let checkpoint = Checkpoint {
            origin: "whodid/kubeaudit".into(),
            size: 42,
            root: [7u8; 32],
            extensions: vec![],
        };
        let note = checkpoint.sign(&key);
        assert!(note.contains("\n\n\u{2014} whodid-test "), "{note}");
        let verifier = Verifier::from_vkey(&key.vkey()).unwrap();
        assert_eq!(
            Checkpoint::parse_and_verify(&note, &verifier).unwrap(),
            checkpoint
        );
        // Another key's signature is not ours.
        let foreign = checkpoint.sign(&other);
        assert!(Checkpoint::parse_and_verify(&foreign, &verifier).is_err());
        // An edited size breaks the signature.
        let edited = note.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(
            Checkpoint::parse_and_verify(&edited, &verifier),
            Err(CheckpointError::BadSignature(_))
        ));
        assert!(Checkpoint::parse_and_verify("garbage", &verifier).is_err());
    }
}
