//! Key fingerprint → person.
//!
//! Administrators log in to shared accounts (`ubuntu`) with their own keys;
//! the key is the only thing that says who they are. The registry is built
//! from a YAML file (`keys: {"SHA256:…": {email, account, comment}}`, the
//! shape of `testdata/ssh/keys.yaml`, plus an optional `accounts: {dave:
//! dave@example.com}` for personal accounts reached by password) and/or
//! from `authorized_keys` files, whose comments usually name the owner.
//! Fingerprints are computed as OpenSSH prints them: `SHA256:` followed by
//! the unpadded base64 of the SHA-256 of the key blob.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Who a key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The person (an e-mail address when known).
    pub person: String,
    /// The account the key is authorized for, when known.
    pub account: Option<String>,
}

/// Fingerprints and their owners.
#[derive(Debug, Clone, Default)]
pub struct KeyRegistry {
    owners: HashMap<String, KeyOwner>,
    /// Personal accounts: account → person.
    accounts: HashMap<String, String>,
}

/// Why a registry file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRegistryError {
    /// The YAML is malformed.
    #[error("key registry: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// An `authorized_keys` line that is not a key.
    #[error("authorized_keys line {line}: {reason}")]
    AuthorizedKeys {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

#[derive(Deserialize)]
struct RegistryFile {
    #[serde(default)]
    keys: HashMap<String, RegistryEntry>,
    #[serde(default)]
    accounts: HashMap<String, String>,
}

#[derive(Deserialize)]
struct RegistryEntry {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    account: Option<String>,
}

/// The OpenSSH SHA-256 fingerprint of a base64 key blob.
pub fn fingerprint(blob_base64: &str) -> Option<String> {
    let blob = STANDARD.decode(blob_base64).ok()?;
    Some(format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(Sha256::digest(&blob))
    ))
}

const KEY_TYPES: [&str; 9] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed448",
];

impl KeyRegistry {
    /// An empty registry.
    pub fn new() -> KeyRegistry {
        KeyRegistry::default()
    }

    /// Adds the keys of a YAML registry; entries without an e-mail or
    /// comment name no person and are skipped (e.g. a CA key).
    pub fn add_yaml(&mut self, text: &str) -> Result<usize, KeyRegistryError> {
        let file: RegistryFile = serde_yaml_ng::from_str(text)?;
        let mut added = file.accounts.len();
        self.accounts.extend(file.accounts);
        for (fp, entry) in file.keys {
            let Some(person) = entry.email.or(entry.comment.filter(|c| c.contains('@'))) else {
                continue;
            };
            self.owners.insert(
                fp,
                KeyOwner {
                    person,
                    account: entry.account,
                },
            );
            added += 1;
        }
        Ok(added)
    }

    /// Adds the keys of an `authorized_keys` file of `account`, taking the
    /// person from each key's comment. Keys without a comment and
    /// `cert-authority` keys name nobody and are skipped; a line that is
    /// not a key is reported and the rest of the file still read.
    pub fn add_authorized_keys(
        &mut self,
        text: &str,
        account: &str,
    ) -> (usize, Vec<KeyRegistryError>) {
        let mut added = 0;
        let mut errors = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason| KeyRegistryError::AuthorizedKeys {
                line: index + 1,
                reason,
            };
            let tokens = split_options_aware(line);
            let Some(type_at) = tokens
                .iter()
                .position(|t| KEY_TYPES.contains(t) || t.ends_with("-cert-v01@openssh.com"))
            else {
                errors.push(bad("no key type"));
                continue;
            };
            if tokens[..type_at]
                .iter()
                .any(|options| options.contains("cert-authority"))
            {
                continue;
            }
            let Some(blob) = tokens.get(type_at + 1) else {
                errors.push(bad("no key after the type"));
                continue;
            };
            let Some(fp) = fingerprint(blob) else {
                errors.push(bad("key is not base64"));
                continue;
            };
            let comment = tokens[type_at + 2..].join(" ");
            if comment.is_empty() {
                continue;
            }
            self.owners.insert(
                fp,
                KeyOwner {
                    person: comment,
                    account: Some(account.to_owned()),
                },
            );
            added += 1;
        }
        (added, errors)
    }

    /// Says that a personal `account` is `person`'s.
    pub fn add_account(&mut self, account: &str, person: &str) {
        self.accounts.insert(account.to_owned(), person.to_owned());
    }

    /// Registers a key directly.
    pub fn add_key(&mut self, fingerprint: &str, owner: KeyOwner) {
        self.owners.insert(fingerprint.to_owned(), owner);
    }

    /// The owner of a fingerprint.
    pub fn owner(&self, fingerprint: &str) -> Option<&KeyOwner> {
        self.owners.get(fingerprint)
    }

    /// The person of a personal account, when registered.
    pub fn account_owner(&self, account: &str) -> Option<&str> {
        self.accounts.get(account).map(String::as_str)
    }
}

/// Splits on spaces outside double quotes (`from="a b" ssh-ed25519 …`).
fn split_options_aware(line: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            ' ' | '\t' if !quoted => {
                if let Some(s) = start.take() {
                    tokens.push(&line[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        tokens.push(&line[s..]);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_with_spaces_in_quotes() {
        let tokens =
            split_options_aware(r#"from="10.0.0.1, 10.0.0.2",no-pty ssh-ed25519 AAAA x@y"#);
        assert_eq!(
            tokens,
            [
                r#"from="10.0.0.1, 10.0.0.2",no-pty"#,
                "ssh-ed25519",
                "AAAA",
                "x@y"
            ]
        );
    }
}
