//! Who is sending: the cluster a request's credential belongs to.
//!
//! A cluster is identified by its client certificate (subject CN, checked
//! against the CA during the handshake) or by a bearer token (compared by
//! SHA-256). The identity comes from the credential only, never from the
//! request: a cluster's endpoint accepts only that cluster's credential.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// What a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A cluster, by its credential.
    Cluster(String),
    /// No credential, or one that names no cluster.
    Anonymous,
}

/// Maps credentials to clusters.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    by_common_name: HashMap<String, String>,
    by_token_hash: HashMap<[u8; 32], String>,
}

/// Two clusters claim the same credential.
#[derive(Debug, thiserror::Error)]
#[error("{what} is configured for both cluster {first:?} and cluster {second:?}")]
pub struct DuplicateCredential {
    /// Which credential.
    pub what: String,
    /// One cluster.
    pub first: String,
    /// The other.
    pub second: String,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

impl Authenticator {
    /// Certificates with subject CN `common_name` are `cluster`'s.
    pub fn add_common_name(
        &mut self,
        common_name: &str,
        cluster: &str,
    ) -> Result<(), DuplicateCredential> {
        if let Some(first) = self
            .by_common_name
            .insert(common_name.to_owned(), cluster.to_owned())
        {
            if first != cluster {
                return Err(DuplicateCredential {
                    what: format!("client certificate CN {common_name:?}"),
                    first,
                    second: cluster.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Requests with bearer `token` are `cluster`'s.
    pub fn add_token(&mut self, token: &str, cluster: &str) -> Result<(), DuplicateCredential> {
        self.add_token_hash(token_hash(token), cluster)
    }

    /// Requests with a bearer token whose SHA-256 is `hash` are `cluster`'s.
    pub fn add_token_hash(
        &mut self,
        hash: [u8; 32],
        cluster: &str,
    ) -> Result<(), DuplicateCredential> {
        if let Some(first) = self.by_token_hash.insert(hash, cluster.to_owned()) {
            if first != cluster {
                return Err(DuplicateCredential {
                    what: "a bearer token".to_owned(),
                    first,
                    second: cluster.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The identity of a connection's client certificate CN and a request's
    /// `Authorization` header. A certificate wins over a token.
    pub fn identify(&self, common_name: Option<&str>, authorization: Option<&str>) -> Identity {
        if let Some(cluster) = common_name.and_then(|cn| self.by_common_name.get(cn)) {
            return Identity::Cluster(cluster.clone());
        }
        let token = authorization.and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest)
        });
        if let Some(cluster) = token.and_then(|t| self.by_token_hash.get(&token_hash(t))) {
            return Identity::Cluster(cluster.clone());
        }
        Identity::Anonymous
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_name_clusters() {
        let mut auth = Authenticator::default();
        auth.add_common_name("prod", "prod").unwrap();
        auth.add_token("s3cret-token", "dev").unwrap();
        assert_eq!(
            auth.identify(Some("prod"), None),
            Identity::Cluster("prod".into())
        );
        assert_eq!(
            auth.identify(None, Some("Bearer s3cret-token")),
            Identity::Cluster("dev".into())
        );
        assert_eq!(
            auth.identify(Some("prod"), Some("Bearer s3cret-token")),
            Identity::Cluster("prod".into())
        );
        assert_eq!(
            auth.identify(Some("other"), Some("Bearer wrong")),
            Identity::Anonymous
        );
        assert_eq!(
            auth.identify(None, Some("Basic s3cret-token")),
            Identity::Anonymous
        );
        assert!(auth.add_token("s3cret-token", "prod").is_err());
    }
}
