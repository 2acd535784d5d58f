//! Reading captured logs from files or stdin, plain or gzip-compressed.
//!
//! Commands hand the bytes to `whodid_model::k8s::read_log`, which finds the
//! events; this module only deals with where the bytes come from.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::read::MultiGzDecoder;

/// Where a log comes from: a file, or stdin when the path is `-`.
#[derive(Debug, Clone)]
pub(crate) enum InputSource {
    Stdin,
    File(PathBuf),
}

impl InputSource {
    pub(crate) fn from_arg(path: &Path) -> Self {
        if path.as_os_str() == "-" {
            InputSource::Stdin
        } else {
            InputSource::File(path.to_owned())
        }
    }

    /// The name to use in messages.
    pub(crate) fn name(&self) -> String {
        match self {
            InputSource::Stdin => "<stdin>".to_owned(),
            InputSource::File(path) => path.display().to_string(),
        }
    }

    /// Reads the whole input, decompressing gzip when the content starts with
    /// the gzip magic (whatever the file is called).
    pub(crate) fn read_all(&self) -> anyhow::Result<Vec<u8>> {
        let mut raw = Vec::new();
        match self {
            InputSource::Stdin => {
                io::stdin()
                    .lock()
                    .read_to_end(&mut raw)
                    .context("reading stdin")?;
            }
            InputSource::File(path) => {
                File::open(path)
                    .and_then(|mut file| file.read_to_end(&mut raw))
                    .with_context(|| format!("reading {}", path.display()))?;
            }
        }
        if raw.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::with_capacity(raw.len() * 8);
            MultiGzDecoder::new(raw.as_slice())
                .read_to_end(&mut plain)
                .with_context(|| format!("decompressing {} (gzip)", self.name()))?;
            return Ok(plain);
        }
        Ok(raw)
    }
}
