//! The certificate upload kubeadm shares between `init --upload-certs` and a control-plane
//! join: Secret kube-system/kubeadm-certs with each shared certificate and key sealed with
//! AES-256-GCM under the certificate key, owned by a short-lived bootstrap token so the API
//! server deletes it when the token expires, and readable only by joining nodes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::config::token::{BootstrapTokenString, DEFAULT_TOKEN_GROUP};
use crate::config::well_known::{KUBE_SYSTEM, RBAC_GROUP};
use crate::config::{BootstrapToken, CertificateKey, GoDuration, TokenExpiry};
use crate::contract::host::{FsError, HostFs};
use crate::contract::step::PhaseError;
use crate::domain::bootstrap_token::token_secret;

/// `result` field the certificate key is handed to the user under.
pub const CERTIFICATE_KEY_FIELD: &str = "certificate_key";

/// kubeadm's `KubeadmCertsSecret`.
pub const SECRET_NAME: &str = "kubeadm-certs";
/// kubeadm's `KubeadmCertsClusterRoleName`: lets token-authenticated joiners read the Secret.
pub const ROLE_NAME: &str = "kubeadm:kubeadm-certs";
/// kubeadm's `DefaultCertTokenDuration`: how long the uploaded certificates live.
pub const CERT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);
/// The description kubeadm gives the token that carries the Secret's lifetime.
pub const CERT_TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";

const NONCE_LEN: usize = 12;

/// AES-GCM refused the input: only possible for inputs beyond its limit (~64 GiB).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encrypt {0} bytes with AES-256-GCM")]
pub struct EncryptError(pub usize);

impl crate::contract::diagnostics::Diagnostic for EncryptError {}

/// Encrypts one file's bytes as kubeadm's `EncryptBytes` does, under a fresh random nonce.
pub fn encrypt(key: &CertificateKey, plaintext: &[u8]) -> Result<Vec<u8>, EncryptError> {
    let cipher = Aes256Gcm::new(key.expose().into());
    let nonce = Aes256Gcm::generate_nonce(&mut aes_gcm::aead::OsRng);
    let sealed = cipher
        .encrypt(&nonce, plaintext)
        .map_err(|_| EncryptError(plaintext.len()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Why an entry cannot be decrypted. Never carries the key or the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("the data is too short to hold a nonce and tag ({0} bytes)")]
    TooShort(usize),
    #[error("decryption failed: wrong certificate key, or the data was altered")]
    Authentication,
}

impl crate::contract::diagnostics::Diagnostic for DecryptError {}

/// Reverses [`encrypt`] (kubeadm's `DecryptBytes`).
pub fn decrypt(key: &CertificateKey, data: &[u8]) -> Result<Vec<u8>, DecryptError> {
    if data.len() < NONCE_LEN + 16 {
        return Err(DecryptError::TooShort(data.len()));
    }
    let (nonce, sealed) = data.split_at(NONCE_LEN);
    Aes256Gcm::new(key.expose().into())
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| DecryptError::Authentication)
}

/// Where the certificates to upload are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdFiles {
    /// Local etcd: its CA under the certificates dir.
    Local,
    /// External etcd: the client's CA, cert and key, wherever the configuration says.
    External {
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    },
}

/// Secret entry name → host path, exactly kubeadm's `certsToTransfer`.
pub fn files_to_upload(cert_dir: &Path, etcd: &EtcdFiles) -> BTreeMap<String, PathBuf> {
    let mut files: BTreeMap<String, PathBuf> = [
        "ca.crt",
        "ca.key",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "sa.pub",
        "sa.key",
    ]
    .into_iter()
    .map(|name| (name.to_string(), cert_dir.join(name)))
    .collect();
    match etcd {
        EtcdFiles::Local => {
            for name in ["etcd/ca.crt", "etcd/ca.key"] {
                files.insert(name.replace('/', "-"), cert_dir.join(name));
            }
        }
        EtcdFiles::External { ca, cert, key } => {
            // kubeadm uploads these names even when TLS is off: empty entries then.
            let entries = [
                ("external-etcd-ca.crt", ca),
                ("external-etcd.crt", cert),
                ("external-etcd.key", key),
            ];
            for (name, path) in entries {
                files.insert(
                    name.to_string(),
                    path.clone().unwrap_or_else(|| cert_dir.join(name)),
                );
            }
        }
    }
    files
}

/// Why the files could not be packed into the Secret.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Read(#[from] FsError),
    #[error("{}: {source}", path.display())]
    Encrypt {
        path: PathBuf,
        #[source]
        source: EncryptError,
    },
}

impl crate::contract::diagnostics::Diagnostic for PackError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Read(e) => e.hint(),
            Self::Encrypt { .. } => None,
        }
    }
}

impl From<PackError> for PhaseError {
    fn from(e: PackError) -> Self {
        match e {
            PackError::Read(fs) => PhaseError::Fs(fs),
            other => PhaseError::from_diagnostic(&other),
        }
    }
}

/// Reads and encrypts every file; a missing file becomes an empty entry.
pub fn encrypted_entries(
    fs: &HostFs,
    files: &BTreeMap<String, PathBuf>,
    key: &CertificateKey,
) -> Result<BTreeMap<String, ByteString>, PackError> {
    files
        .iter()
        .map(|(name, path)| {
            let data = match fs.read_if_exists(path)? {
                Some(bytes) => encrypt(key, &bytes).map_err(|source| PackError::Encrypt {
                    path: path.clone(),
                    source,
                })?,
                None => Vec::new(),
            };
            Ok((name.clone(), ByteString(data)))
        })
        .collect()
}

/// Decrypts every non-empty entry of a kubeadm-certs Secret; all or nothing.
pub fn decrypted_entries(
    data: &BTreeMap<String, ByteString>,
    key: &CertificateKey,
) -> Result<BTreeMap<String, Vec<u8>>, (String, DecryptError)> {
    data.iter()
        .map(|(name, ByteString(bytes))| {
            if bytes.is_empty() {
                return Ok((name.clone(), Vec::new()));
            }
            decrypt(key, bytes)
                .map(|plain| (name.clone(), plain))
                .map_err(|e| (name.clone(), e))
        })
        .collect()
}

/// The controller reference kubeadm puts on the Secret: the token Secret owns it.
pub fn owner_reference(token_secret_name: &str, token_secret_uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Secret".into(),
        name: token_secret_name.into(),
        uid: token_secret_uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Secret kube-system/kubeadm-certs.
pub fn certs_secret(data: BTreeMap<String, ByteString>, owner: OwnerReference) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_NAME.into()),
            namespace: Some(KUBE_SYSTEM.into()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..Secret::default()
    }
}

/// Role kubeadm:kubeadm-certs: `get` on that one Secret.
pub fn certs_role() -> Role {
    Role {
        metadata: ObjectMeta {
            name: Some(ROLE_NAME.into()),
            namespace: Some(KUBE_SYSTEM.into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            verbs: vec!["get".into()],
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            resource_names: Some(vec![SECRET_NAME.into()]),
            ..PolicyRule::default()
        }]),
    }
}

/// RoleBinding kubeadm:kubeadm-certs → kubeadm's default token group.
pub fn certs_role_binding() -> RoleBinding {
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(ROLE_NAME.into()),
            namespace: Some(KUBE_SYSTEM.into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "Role".into(),
            name: ROLE_NAME.into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some(RBAC_GROUP.into()),
            kind: "Group".into(),
            name: DEFAULT_TOKEN_GROUP.into(),
            namespace: None,
        }]),
    }
}

/// The bootstrap token Secret that only carries the kubeadm-certs Secret's lifetime: no
/// usages, so it authenticates nothing; the token cleaner deletes it at `expiration`, and
/// the garbage collector then deletes what it owns.
pub fn lifetime_token_secret(token: &BootstrapTokenString, now: time::OffsetDateTime) -> Secret {
    let ttl = GoDuration::from_secs(CERT_TOKEN_TTL.as_secs());
    token_secret(
        &BootstrapToken {
            token: token.clone(),
            description: Some(CERT_TOKEN_DESCRIPTION.into()),
            expiry: TokenExpiry::Ttl(ttl),
            usages: Vec::new(),
            groups: Vec::new(),
        },
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CertificateKey {
        hex::encode([byte; 32]).parse().unwrap()
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let k = key(7);
        let a = encrypt(&k, b"-----BEGIN CERTIFICATE-----").unwrap();
        let b = encrypt(&k, b"-----BEGIN CERTIFICATE-----").unwrap();
        assert_ne!(a, b, "each entry gets its own nonce");
        assert_eq!(a.len(), 12 + 27 + 16, "nonce ‖ ciphertext ‖ tag");
        assert_eq!(decrypt(&k, &a).unwrap(), b"-----BEGIN CERTIFICATE-----");
    }

    #[test]
    fn wrong_key_or_tampering_fails() {
        let sealed = encrypt(&key(1), b"secret").unwrap();
        assert_eq!(decrypt(&key(2), &sealed), Err(DecryptError::Authentication));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            decrypt(&key(1), &altered),
            Err(DecryptError::Authentication)
        );
        assert_eq!(
            decrypt(&key(1), &sealed[..20]),
            Err(DecryptError::TooShort(20))
        );
    }

    /// NIST SP 800-38D / McGrew–Viega GCM test case 14 (AES-256, zero key, zero 96-bit IV,
    /// one zero block): pins the layout `nonce ‖ ciphertext ‖ tag` that Go's `gcm.Seal(nonce,
    /// nonce, data, nil)` produces.
    #[test]
    fn decrypts_the_standard_vector_in_kubeadm_layout() {
        let mut wire = vec![0u8; 12];
        wire.extend(hex::decode("cea7403d4d606b6e074ec5d3baf39d18").unwrap());
        wire.extend(hex::decode("d0d1c8a799996bf0265b98b5d48ab919").unwrap());
        assert_eq!(decrypt(&key(0), &wire).unwrap(), vec![0u8; 16]);
    }

    #[test]
    fn kubeadm_entry_names() {
        let local = files_to_upload(Path::new("/r/pki"), &EtcdFiles::Local);
        let names: Vec<&str> = local.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "ca.crt",
                "ca.key",
                "etcd-ca.crt",
                "etcd-ca.key",
                "front-proxy-ca.crt",
                "front-proxy-ca.key",
                "sa.key",
                "sa.pub"
            ]
        );
        assert_eq!(local["etcd-ca.key"], Path::new("/r/pki/etcd/ca.key"));
        let external = files_to_upload(
            Path::new("/r/pki"),
            &EtcdFiles::External {
                ca: Some("/r/etcd/ca.pem".into()),
                cert: None,
                key: None,
            },
        );
        assert_eq!(
            external["external-etcd-ca.crt"],
            Path::new("/r/etcd/ca.pem")
        );
        assert!(external.contains_key("external-etcd.key"));
        assert!(!external.contains_key("etcd-ca.crt"));
    }

    #[test]
    fn missing_files_become_empty_entries_and_decrypt_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), b"CA").unwrap();
        let files = files_to_upload(dir.path(), &EtcdFiles::Local);
        let k = key(9);
        let data = encrypted_entries(&HostFs::real(), &files, &k).unwrap();
        assert!(data["ca.key"].0.is_empty());
        let plain = decrypted_entries(&data, &k).unwrap();
        assert_eq!(plain["ca.crt"], b"CA");
        assert!(plain["sa.key"].is_empty());
        let err = decrypted_entries(&data, &key(8)).unwrap_err();
        assert_eq!(err, ("ca.crt".to_string(), DecryptError::Authentication));
    }

    #[test]
    fn secret_is_owned_by_the_token_secret() {
        let s = certs_secret(
            BTreeMap::new(),
            owner_reference("bootstrap-token-abcdef", "u-1"),
        );
        let owner = &s.metadata.owner_references.unwrap()[0];
        assert_eq!(owner.name, "bootstrap-token-abcdef");
        assert_eq!(owner.controller, Some(true));
        assert_eq!(
            certs_role_binding().role_ref.name,
            certs_role().metadata.name.unwrap()
        );
    }
}
