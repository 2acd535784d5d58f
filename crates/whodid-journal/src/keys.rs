//! The journal's signing key: created on first start, both files mode 0600
//! in a 0700 directory.
//!
//! Files in the key directory: `journal.key` holds the private key in the
//! signed-note format (`PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`),
//! `journal.pub` the verifier key (`<name>+<key id>+<base64(0x01 ‖ key)>`),
//! which is what auditors need to check checkpoints and proofs. A private
//! key readable by group or others is refused.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;

use crate::checkpoint::{hex4, key_id, Verifier, ALG_ED25519};

/// The private key file's name.
pub const PRIVATE_KEY_FILE: &str = "journal.key";
/// The public key file's name.
pub const PUBLIC_KEY_FILE: &str = "journal.pub";

/// Why a key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The private key is missing but the public key exists: refusing to
    /// make a new key, which would orphan every existing checkpoint.
    #[error(
        "private key {path} is missing but {public} exists: restore the key, do not replace it"
    )]
    MissingPrivate {
        /// The missing private key.
        path: PathBuf,
        /// The public key that exists.
        public: PathBuf,
    },
    /// The private key file is not in the expected format.
    #[error("private key {path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The private key file can be read by group or others.
    #[error("private key {path} has mode {mode:o}: it must not be readable by group or others (chmod 600)")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

/// The journal's signing key.
#[derive(Debug)]
pub struct SigningKeyPair {
    name: String,
    signing: SigningKey,
}

impl SigningKeyPair {
    /// A new random key (for tests and first start).
    pub fn generate(name: &str) -> SigningKeyPair {
        SigningKeyPair {
            name: name.to_owned(),
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// The key's name (appears on every signature line).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The verifier for this key.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(&self.name, self.signing.verifying_key())
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    fn private_string(&self) -> String {
        let id = key_id(&self.name, self.signing.verifying_key().as_bytes());
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.signing.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex4(&id),
            B64.encode(raw)
        )
    }

    /// Loads the key from `dir`, creating it (and `dir`) when neither key
    /// file exists.
    pub fn load_or_create(dir: &Path, name: &str) -> Result<SigningKeyPair, KeyError> {
        let private = dir.join(PRIVATE_KEY_FILE);
        let public = dir.join(PUBLIC_KEY_FILE);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| KeyError::Io { path, source }
        };
        let private_exists = private.try_exists().map_err(io(&private))?;
        if private_exists {
            let key = SigningKeyPair::load_existing(dir)?;
            // A crash between writing the private key and the public one
            // (both are written at creation, private first): the public
            // key is derived, so it is written again rather than refused.
            if !public.try_exists().map_err(io(&public))? {
                write_atomically(&public, format!("{}\n", key.vkey()).as_bytes(), 0o600)?;
            }
            return Ok(key);
        }
        if public.try_exists().map_err(io(&public))? {
            return Err(KeyError::MissingPrivate {
                path: private,
                public,
            });
        }
        crate::datadir::create_private_dir(dir).map_err(io(dir))?;
        let key = SigningKeyPair::generate(name);
        write_atomically(&private, key.private_string().as_bytes(), 0o600)?;
        // Public, but the key directory is its owner's: auditors get it from `whodid key show`.
        write_atomically(&public, format!("{}\n", key.vkey()).as_bytes(), 0o600)?;
        Ok(key)
    }

    /// Loads an existing key from `dir`.
    pub fn load_existing(dir: &Path) -> Result<SigningKeyPair, KeyError> {
        let path = dir.join(PRIVATE_KEY_FILE);
        let metadata = fs::metadata(&path).map_err(|source| KeyError::Io {
            path: path.clone(),
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions { path, mode });
        }
        let text = fs::read_to_string(&path).map_err(|source| KeyError::Io {
            path: path.clone(),
            source,
        })?;
        let malformed = |reason| KeyError::Malformed {
            path: path.clone(),
            reason,
        };
        // The base64 key may itself contain '+': split off four fields only.
        let mut parts = text.trim().splitn(5, '+');
        let (Some("PRIVATE"), Some("KEY"), Some(name), Some(id_hex), Some(key_b64)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed("expected PRIVATE+KEY+<name>+<key id>+<key>"));
        };
        let raw = B64
            .decode(key_b64)
            .map_err(|_| malformed("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(malformed("not an ed25519 key"));
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&raw[1..]);
        let key = SigningKeyPair {
            name: name.to_owned(),
            signing: SigningKey::from_bytes(&seed),
        };
        if hex4(&key_id(name, key.signing.verifying_key().as_bytes())) != id_hex {
            return Err(malformed("key id does not match the key"));
        }
        Ok(key)
    }
}

/// Reads the verifier key from `dir/journal.pub`.
pub fn load_verifier(dir: &Path) -> Result<Verifier, KeyError> {
    let path = dir.join(PUBLIC_KEY_FILE);
    let text = fs::read_to_string(&path).map_err(|source| KeyError::Io {
        path: path.clone(),
        source,
    })?;
    Verifier::from_vkey(&text).map_err(|_| KeyError::Malformed {
        path,
        reason: "not a verifier key (<name>+<key id>+<key>)",
    })
}

/// Writes `bytes` to `path` with `mode` through a temporary file, fsync and rename.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(parent) = path.parent() {
        File::open(parent).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKeyPair::load_or_create(dir.path(), "whodid-journal").unwrap();
        let mode = fs::metadata(dir.path().join(PRIVATE_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = SigningKeyPair::load_or_create(dir.path(), "whodid-journal").unwrap();
        assert_eq!(key.vkey(), again.vkey());
        assert_eq!(load_verifier(dir.path()).unwrap(), key.verifier());
    }

    #[test]
    fn a_public_key_lost_to_a_crash_at_creation_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKeyPair::load_or_create(dir.path(), "whodid-journal").unwrap();
        fs::remove_file(dir.path().join(PUBLIC_KEY_FILE)).unwrap();
        let again = SigningKeyPair::load_or_create(dir.path(), "whodid-journal").unwrap();
        assert_eq!(key.vkey(), again.vkey());
        assert_eq!(load_verifier(dir.path()).unwrap(), key.verifier());
    }

    #[test]
    fn refuses_unsafe_or_missing_keys() {
        let dir = tempfile::tempdir().unwrap();
        SigningKeyPair::load_or_create(dir.path(), "k").unwrap();
        let private = dir.path().join(PRIVATE_KEY_FILE);
        fs::set_permissions(&private, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            SigningKeyPair::load_existing(dir.path()),
            Err(KeyError::Permissions { .. })
        ));
        fs::remove_file(&private).unwrap();
        assert!(matches!(
            SigningKeyPair::load_or_create(dir.path(), "k"),
            Err(KeyError::MissingPrivate { .. })
        ));
        fs::write(&private, "garbage").unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            SigningKeyPair::load_existing(dir.path()),
            Err(KeyError::Malformed { .. })
        ));
    }
}
