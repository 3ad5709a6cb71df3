//! Certificate authorities as a run sees them, and what a run shares between PKI phases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::catalog::CertName;
use super::cert::CertInfo;
use super::keys::{KeyPool, PrivateKey};
use super::{PkiError, PkiSpec};
use crate::contract::host::HostFs;

/// A CA: its certificate, and its key unless the CA is managed outside the cluster.
#[derive(Debug)]
pub struct Authority {
    pub name: CertName,
    pub cert_path: PathBuf,
    pub cert: CertInfo,
    /// The certificate file's bytes, as embedded in kubeconfigs.
    pub cert_pem: Vec<u8>,
    /// `None` in external-CA mode: `ca.crt` present, `ca.key` absent.
    pub key: Option<PrivateKey>,
}

impl Authority {
    pub fn is_external(&self) -> bool {
        self.key.is_none()
    }
}

/// SHA-256 of a CA's certificate and key bytes.
type Digest32 = [u8; 32];

/// What the PKI phases of one run share: the key pool and the CAs parsed so far.
#[derive(Debug)]
pub struct PkiSession {
    keys: KeyPool,
    /// Keyed by certificate path; holds the digest of the cert and key bytes it was parsed
    /// from, so a file changed since is parsed again.
    authorities: Mutex<HashMap<PathBuf, (Digest32, Arc<Authority>)>>,
    /// Digest of the files the last passing external-CA check read, so later phases of the
    /// run need not parse them again.
    external_check: Mutex<Option<Digest32>>,
}

impl PkiSession {
    pub fn new(keys: KeyPool) -> Self {
        Self {
            keys,
            authorities: Mutex::new(HashMap::new()),
            external_check: Mutex::new(None),
        }
    }

    /// A session whose key pool starts generating one key for every key file of `spec` that
    /// does not exist yet (CAs, leaves, `sa.key`, kubeconfigs): the keys `certs all` +
    /// `kubeconfig all` will need.
    pub fn for_spec(spec: &PkiSpec, fs: &HostFs) -> Self {
        // What an external CA signs is never made here: no key for it.
        let mut missing = CertName::ALL
            .into_iter()
            .filter(|n| n.applies_to(spec.etcd))
            .filter(|n| !n.authority().is_external_ca(spec, fs))
            .filter(|n| !fs.exists(&n.key_path(spec)))
            .count();
        if !fs.exists(&spec.cert_dir.join("sa.key")) {
            missing += 1;
        }
        if !CertName::Ca.is_external_ca(spec, fs) {
            missing += super::kubeconfig::KubeconfigName::ALL
                .into_iter()
                .filter(|k| !fs.exists(&k.path(spec)))
                .count();
        }
        Self::new(KeyPool::start(spec.key_algorithm, missing))
    }

    pub fn keys(&self) -> &KeyPool {
        &self.keys
    }

    /// The CA `name` as it is on disk now; `None` when its certificate does not exist.
    /// A key that exists but does not match the certificate is an error naming both files.
    pub fn authority(
        &self,
        spec: &PkiSpec,
        fs: &HostFs,
        name: CertName,
    ) -> Result<Option<Arc<Authority>>, PkiError> {
        let cert_path = name.cert_path(spec);
        let key_path = name.key_path(spec);
        let Some(cert_pem) = fs.read_if_exists(&cert_path)? else {
            return Ok(None);
        };
        let key_pem = fs.read_if_exists(&key_path)?;
        let digest = digest(&cert_pem, key_pem.as_deref());
        if let Ok(cache) = self.authorities.lock()
            && let Some((d, a)) = cache.get(&cert_path)
            && *d == digest
        {
            return Ok(Some(Arc::clone(a)));
        }
        let cert = CertInfo::from_pem(&cert_path, &cert_pem)?;
        let key = match &key_pem {
            Some(pem) => {
                let key = PrivateKey::from_pem(&key_path, pem)?;
                if !cert.matches_key(&key) {
                    return Err(PkiError::Invalid {
                        path: key_path,
                        problem: format!("does not match the certificate {}", cert_path.display()),
                    });
                }
                Some(key)
            }
            None => None,
        };
        let authority = Arc::new(Authority {
            name,
            cert_path: cert_path.clone(),
            cert,
            cert_pem,
            key,
        });
        self.remember_digest(cert_path, digest, Arc::clone(&authority));
        Ok(Some(authority))
    }

    /// Whether the external-CA check already passed on files with this digest.
    pub(crate) fn external_check_passed(&self, digest: &Digest32) -> bool {
        self.external_check
            .lock()
            .is_ok_and(|d| d.as_ref() == Some(digest))
    }

    /// Records that the external-CA check passed on files with this digest.
    pub(crate) fn remember_external_check(&self, digest: Digest32) {
        if let Ok(mut d) = self.external_check.lock() {
            *d = Some(digest);
        }
    }

    /// Records a CA a phase just wrote, so later phases do not parse it again.
    pub fn remember(&self, authority: Authority, key_pem: &[u8]) -> Arc<Authority> {
        let digest = digest(&authority.cert_pem, Some(key_pem));
        let path = authority.cert_path.clone();
        let a = Arc::new(authority);
        self.remember_digest(path, digest, Arc::clone(&a));
        a
    }

    fn remember_digest(&self, path: PathBuf, digest: [u8; 32], a: Arc<Authority>) {
        if let Ok(mut cache) = self.authorities.lock() {
            cache.insert(path, (digest, a));
        }
    }
}

fn digest(cert: &[u8], key: Option<&[u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(cert);
    match key {
        Some(k) => {
            h.update([1]);
            h.update(k);
        }
        None => h.update([0]),
    }
    h.finalize().into()
}

/// Reads and parses a certificate file if it exists.
pub(crate) fn read_cert(fs: &HostFs, path: &Path) -> Result<Option<CertInfo>, PkiError> {
    fs.read_if_exists(path)?
        .map(|b| CertInfo::from_pem(path, &b))
        .transpose()
}

/// Reads and parses a private key file if it exists.
pub(crate) fn read_key(fs: &HostFs, path: &Path) -> Result<Option<PrivateKey>, PkiError> {
    fs.read_if_exists(path)?
        .map(|b| PrivateKey::from_pem(path, &b))
        .transpose()
}
