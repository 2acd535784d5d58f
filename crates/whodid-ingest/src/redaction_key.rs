//! The key of the keyed hashes that replace redacted values.
//!
//! A redacted secret is replaced by `HMAC-SHA256(key, value)`, so an
//! investigator can tell whether a Secret's value changed between two events
//! without the value ever being stored. The key lives beside the journal's
//! signing key (`DATA/keys/redaction.key`, mode 0600), is made on first use,
//! and never leaves the machine: without it a short secret could be found by
//! trying candidates against a plain hash.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The file name of the key inside the keys directory.
pub const REDACTION_KEY_FILE: &str = "redaction.key";

/// What is wrong with the redaction key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactionKeyError {
    /// Reading or writing it failed.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// It is readable by others.
    #[error("{path}: mode {mode:o} lets other users read the redaction key: chmod 600 it")]
    Unsafe {
        /// The key file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// It does not hold 64 hex digits.
    #[error("{path}: not a redaction key (expected 64 hex digits)")]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
}

/// The HMAC key for redacted values.
#[derive(Clone)]
pub struct RedactionKey {
    key: [u8; 32],
}

impl std::fmt::Debug for RedactionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedactionKey(..)")
    }
}

impl RedactionKey {
    /// A key from its bytes (tests, benchmarks).
    pub fn from_bytes(key: [u8; 32]) -> RedactionKey {
        RedactionKey { key }
    }

    /// Loads `keys_dir/redaction.key`, creating it (0600) when missing.
    pub fn load_or_create(keys_dir: &Path) -> Result<RedactionKey, RedactionKeyError> {
        let path = keys_dir.join(REDACTION_KEY_FILE);
        let io = |source| RedactionKeyError::Io {
            path: path.clone(),
            source,
        };
        match fs::metadata(&path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(RedactionKeyError::Unsafe { path, mode });
                }
                let text = fs::read_to_string(&path).map_err(io)?;
                parse_hex(text.trim())
                    .map(|key| RedactionKey { key })
                    .ok_or(RedactionKeyError::Malformed { path })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(keys_dir).map_err(io)?;
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?;
                file.write_all(format!("{}\n", hex(&key)).as_bytes())
                    .map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(RedactionKey { key })
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The replacement for a redacted value:
    /// `whodid-redacted:hmac-sha256:<first 128 bits, hex>`.
    pub fn replacement(&self, value: &[u8]) -> String {
        // HMAC accepts keys of any length: this cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return REDACTED_PREFIX.to_owned(),
        };
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        format!("{REDACTED_PREFIX}{}", hex(&digest[..16]))
    }
}

/// What every replacement starts with.
pub const REDACTED_PREFIX: &str = "whodid-redacted:hmac-sha256:";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = RedactionKey::load_or_create(dir.path()).unwrap();
        let again = RedactionKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.replacement(b"s3cret"), again.replacement(b"s3cret"));
        assert_ne!(first.replacement(b"s3cret"), first.replacement(b"s3cres"));
        let mode = fs::metadata(dir.path().join(REDACTION_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::set_permissions(
            dir.path().join(REDACTION_KEY_FILE),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let err = RedactionKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn another_key_gives_another_hash() {
        let a = RedactionKey::from_bytes([1; 32]);
        let b = RedactionKey::from_bytes([2; 32]);
        assert_ne!(a.replacement(b"x"), b.replacement(b"x"));
        assert!(a.replacement(b"x").starts_with(REDACTED_PREFIX));
    }
}
