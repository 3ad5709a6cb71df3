//! Fingerprints of a phase's inputs.
//!
//! A phase declares what its result depends on: the slice of the effective configuration it
//! uses and the files it reads. The engine hashes them before deciding whether a phase done in
//! an earlier run can be skipped. Because a phase that reads another phase's output hashes the
//! *content* of that output, re-running a phase that changes a file re-runs exactly the phases
//! that depend on it, with no dependency list to keep in sync by hand.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::contract::host::HostFs;

pub struct Fingerprint<'a> {
    fs: &'a HostFs,
    hasher: Sha256,
}

impl<'a> Fingerprint<'a> {
    pub fn new(fs: &'a HostFs) -> Self {
        Self {
            fs,
            hasher: Sha256::new(),
        }
    }

    /// A labelled configuration value (serialised as JSON, so field order is stable).
    pub fn value<T: Serialize + ?Sized>(&mut self, label: &str, value: &T) -> &mut Self {
        let json = serde_json::to_vec(value).unwrap_or_else(|e| e.to_string().into_bytes());
        self.field(b"value", label.as_bytes(), &json)
    }

    /// A file the phase reads; an absent or unreadable file hashes as such, so its later
    /// appearance changes the fingerprint.
    pub fn file(&mut self, path: &Path) -> &mut Self {
        let content = match self.fs.read_if_exists(path) {
            Ok(Some(bytes)) => [b"present:".as_slice(), &Sha256::digest(&bytes)].concat(),
            Ok(None) => b"absent".to_vec(),
            Err(e) => format!("unreadable:{:?}", e.source.kind()).into_bytes(),
        };
        self.field(b"file", path.as_os_str().as_encoded_bytes(), &content)
    }

    fn field(&mut self, tag: &[u8], label: &[u8], content: &[u8]) -> &mut Self {
        for part in [tag, label, content] {
            self.hasher.update((part.len() as u64).to_be_bytes());
            self.hasher.update(part);
        }
        self
    }

    /// Hex SHA-256 of everything fed in.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_content_and_values_change_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let fs = HostFs::real();
        let p = dir.path().join("ca.crt");
        let fp = |v: &str| {
            let mut f = Fingerprint::new(&fs);
            f.value("v", v).file(&p);
            f.finish()
        };
        let absent = fp("a");
        std::fs::write(&p, "one").unwrap();
        let one = fp("a");
        std::fs::write(&p, "two").unwrap();
        let two = fp("a");
        assert_ne!(absent, one);
        assert_ne!(one, two);
        assert_ne!(two, fp("b"));
        assert_eq!(two, fp("a"));
    }
}
