//! Private keys, and the pool that makes them ahead of time.
//!
//! Generating an RSA key costs tens of milliseconds to seconds and `certs all` + `kubeconfig
//! all` need sixteen of them, while everything else they do is cheap. The [`KeyPool`] starts
//! generating on every core as soon as the context is built; a phase takes a finished key and
//! only waits when none is ready yet.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use rcgen::{KeyPair, PublicKeyData, RsaKeySize};

use super::PkiError;

pub use crate::config::EncryptionAlgorithm;

impl EncryptionAlgorithm {
    /// A new private key of this algorithm.
    pub fn generate(self) -> Result<PrivateKey, PkiError> {
        let pair = match self {
            Self::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
            Self::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
            Self::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
            Self::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            Self::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        }?;
        Ok(PrivateKey(Arc::new(pair)))
    }
}

/// A private key. Cloning shares it; `Debug` never shows it.
#[derive(Clone)]
pub struct PrivateKey(Arc<KeyPair>);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey(<redacted>)")
    }
}

impl PrivateKey {
    /// Parses a PEM private key (PKCS#8, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`);
    /// errors name `path` and never include key material.
    pub fn from_pem(path: &Path, pem: &[u8]) -> Result<Self, PkiError> {
        let invalid = |problem: &str| PkiError::Invalid {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        };
        let text = std::str::from_utf8(pem).map_err(|_| invalid("not a PEM file (not text)"))?;
        let block = pem::parse(text).map_err(|_| {
            invalid(
                "not a complete PEM private key (truncated?): expected -----BEGIN … PRIVATE KEY----- … -----END … PRIVATE KEY-----",
            )
        })?;
        if !block.tag().ends_with("PRIVATE KEY") {
            return Err(invalid(&format!(
                "expected a PEM private key, found a {:?} block",
                block.tag()
            )));
        }
        let pair = KeyPair::try_from(block.contents()).map_err(|_| {
            invalid("cannot parse the private key (RSA or ECDSA P-256/P-384 expected)")
        })?;
        Ok(Self(Arc::new(pair)))
    }

    pub fn key_pair(&self) -> &KeyPair {
        &self.0
    }

    /// PKCS#8 PEM, for a 0600 file.
    pub fn to_pem(&self) -> String {
        self.0.serialize_pem()
    }

    /// The public half as PEM `PUBLIC KEY` (what kubeadm writes to `sa.pub`).
    pub fn public_key_pem(&self) -> String {
        self.0.public_key_pem()
    }

    /// The raw public key (the BIT STRING of a SubjectPublicKeyInfo), to match against a cert.
    pub fn public_key_raw(&self) -> &[u8] {
        self.0.der_bytes()
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.0.subject_public_key_info()
    }

    /// The algorithm family, to tell the user what a file holds.
    pub fn algorithm_label(&self) -> &'static str {
        let alg = self.0.algorithm();
        if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            "ECDSA-P256"
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            "ECDSA-P384"
        } else {
            "RSA"
        }
    }
}

/// Keys of one algorithm, generated on background threads ahead of need.
pub struct KeyPool {
    algorithm: EncryptionAlgorithm,
    ready: Option<Mutex<Receiver<Result<PrivateKey, PkiError>>>>,
}

impl std::fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPool")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl KeyPool {
    /// Starts generating `count` keys on up to one thread per core. Dropping the pool stops
    /// the workers after the key each is making.
    pub fn start(algorithm: EncryptionAlgorithm, count: usize) -> Self {
        if count == 0 {
            return Self::empty(algorithm);
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let remaining = Arc::new(AtomicUsize::new(count));
        let (tx, rx) = mpsc::channel();
        for i in 0..cores.min(count) {
            let tx = tx.clone();
            let remaining = Arc::clone(&remaining);
            let spawned = std::thread::Builder::new()
                .name(format!("keygen-{i}"))
                .spawn(move || {
                    while remaining
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        if tx.send(algorithm.generate()).is_err() {
                            break;
                        }
                    }
                });
            // A pool that could not start a thread still works: `take` generates inline.
            drop(spawned);
        }
        Self {
            algorithm,
            ready: Some(Mutex::new(rx)),
        }
    }

    /// A pool that generates each key when it is taken.
    pub fn empty(algorithm: EncryptionAlgorithm) -> Self {
        Self {
            algorithm,
            ready: None,
        }
    }

    pub fn algorithm(&self) -> EncryptionAlgorithm {
        self.algorithm
    }

    /// A fresh key: a pre-generated one if any is (or will be) ready, else made now.
    pub fn take(&self) -> Result<PrivateKey, PkiError> {
        if let Some(ready) = &self.ready {
            let rx = ready
                .lock()
                .map_err(|_| PkiError::Crypto("key generator poisoned".into()))?;
            match rx.try_recv() {
                Ok(key) => return key,
                Err(TryRecvError::Empty) => {
                    if let Ok(key) = rx.recv() {
                        return key;
                    }
                }
                Err(TryRecvError::Disconnected) => {}
            }
        }
        self.algorithm.generate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_hands_out_distinct_keys_then_falls_back_to_inline() {
        let pool = KeyPool::start(EncryptionAlgorithm::EcdsaP256, 3);
        let keys: Vec<_> = (0..5).map(|_| pool.take().unwrap()).collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a.public_key_raw(), b.public_key_raw());
            }
        }
        assert_eq!(format!("{:?}", keys[0]), "PrivateKey(<redacted>)");
    }

    #[test]
    fn key_round_trips_through_pem_and_bad_pem_names_file() {
        let key = EncryptionAlgorithm::EcdsaP384.generate().unwrap();
        let path = Path::new("/x/k.key");
        let back = PrivateKey::from_pem(path, key.to_pem().as_bytes()).unwrap();
        assert_eq!(back.public_key_raw(), key.public_key_raw());
        assert_eq!(back.algorithm_label(), "ECDSA-P384");
        let err = PrivateKey::from_pem(path, b"garbage")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/x/k.key: "), "{err}");
        assert!("RSA-4096".parse::<EncryptionAlgorithm>().is_ok());
        assert!("RSA-1024".parse::<EncryptionAlgorithm>().is_err());
    }
}
