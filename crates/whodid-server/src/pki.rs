//! whodid's own small PKI for the embedded default: a CA in the data
//! directory, the server certificate it signs, and client certificates for
//! clusters.
//!
//! `DATA/tls/ca.crt` + `ca.key` are made on first use. The server
//! certificate (`server.crt`/`server.key`) names `localhost`, `127.0.0.1`
//! and whatever names are configured, and is reissued when those change.
//! `whodid k8s webhook-config` issues a client certificate per cluster
//! (subject CN = the cluster's name) for the apiserver's webhook kubeconfig.
//! Private keys are written 0600.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A PKI problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Making or reading a certificate.
    #[error("{what}: {source}")]
    Cert {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: rcgen::Error,
    },
}

fn cert_err(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> PkiError {
    let what = what.into();
    move |source| PkiError::Cert { what, source }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct PemPair {
    /// The certificate.
    pub cert: String,
    /// The private key (PKCS#8).
    pub key: String,
}

/// The CA of a data directory.
#[derive(Debug)]
pub struct LocalCa {
    dir: PathBuf,
    cert_pem: String,
    key: KeyPair,
}

/// Validity of issued certificates, in days from now (and one day back, for clock skew).
fn validity(params: &mut CertificateParams, days: i64) {
    let now = jiff::Timestamp::now();
    let at = |t: jiff::Timestamp| {
        let d = jiff::tz::Offset::UTC.to_datetime(t).date();
        rcgen::date_time_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8)
    };
    let day = jiff::SignedDuration::from_hours(24);
    params.not_before = at(now - day);
    params.not_after = at(now + day * (days as i32));
}

/// Writes a file created with mode `mode` (replacing it atomically).
pub fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

impl LocalCa {
    /// Loads `dir/ca.crt` + `dir/ca.key`, creating them when missing.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, PkiError> {
        let cert_path = dir.join("ca.crt");
        let key_path = dir.join("ca.key");
        match (
            fs::read_to_string(&cert_path),
            fs::read_to_string(&key_path),
        ) {
            (Ok(cert_pem), Ok(key_pem)) => {
                let key = KeyPair::from_pem(&key_pem)
                    .map_err(cert_err(key_path.display().to_string()))?;
                Ok(LocalCa {
                    dir: dir.to_owned(),
                    cert_pem,
                    key,
                })
            }
            (Err(e), _) | (_, Err(e)) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(PkiError::Io {
                    path: cert_path,
                    source: e,
                })
            }
            _ => {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
                let key = KeyPair::generate().map_err(cert_err("generating the CA key"))?;
                let mut params = CertificateParams::new(Vec::<String>::new())
                    .map_err(cert_err("CA parameters"))?;
                let mut name = DistinguishedName::new();
                name.push(DnType::CommonName, "whodid local CA");
                name.push(DnType::OrganizationName, "whodid");
                params.distinguished_name = name;
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                validity(&mut params, 3650);
                let cert = params
                    .self_signed(&key)
                    .map_err(cert_err("signing the CA"))?;
                write_private(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
                write_private(&cert_path, cert.pem().as_bytes(), 0o644)?;
                Ok(LocalCa {
                    dir: dir.to_owned(),
                    cert_pem: cert.pem(),
                    key,
                })
            }
        }
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate's path.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)
            .map_err(cert_err("reading the CA certificate"))
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn issue_server(&self, names: &[String], days: i64) -> Result<PemPair, PkiError> {
        let key = KeyPair::generate().map_err(cert_err("generating a server key"))?;
        let mut params =
            CertificateParams::new(names.to_vec()).map_err(cert_err("server certificate names"))?;
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            names
                .first()
                .cloned()
                .unwrap_or_else(|| "whodid".to_owned()),
        );
        params.distinguished_name = name;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        validity(&mut params, days);
        let cert = params
            .signed_by(&key, &self.issuer()?)
            .map_err(cert_err("signing the server certificate"))?;
        Ok(PemPair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// A client certificate whose subject CN is `common_name`, valid for
    /// `days` (negative: already expired, for tests of rejection).
    pub fn issue_client(&self, common_name: &str, days: i64) -> Result<PemPair, PkiError> {
        let key = KeyPair::generate().map_err(cert_err("generating a client key"))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(cert_err("client certificate"))?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        name.push(DnType::OrganizationName, "whodid-webhook");
        params.distinguished_name = name;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if days < 0 {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 2);
        } else {
            validity(&mut params, days);
        }
        let cert = params
            .signed_by(&key, &self.issuer()?)
            .map_err(cert_err("signing the client certificate"))?;
        Ok(PemPair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// The server certificate in `dir` for `names`, issued (again) when
    /// missing or issued for other names.
    pub fn server_pair(&self, names: &[String]) -> Result<PemPair, PkiError> {
        let cert_path = self.dir.join("server.crt");
        let key_path = self.dir.join("server.key");
        let names_path = self.dir.join("server.names");
        let wanted = names.join("\n");
        let current = fs::read_to_string(&names_path).ok();
        if current.as_deref() == Some(wanted.as_str()) {
            if let (Ok(cert), Ok(key)) = (
                fs::read_to_string(&cert_path),
                fs::read_to_string(&key_path),
            ) {
                return Ok(PemPair { cert, key });
            }
        }
        let pair = self.issue_server(names, 825)?;
        write_private(&key_path, pair.key.as_bytes(), 0o600)?;
        write_private(&cert_path, pair.cert.as_bytes(), 0o644)?;
        write_private(&names_path, wanted.as_bytes(), 0o644)?;
        Ok(pair)
    }
}
