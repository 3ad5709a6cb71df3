//! `control-plane-prepare/download-certs`: a joining control plane fetches Secret
//! kube-system/kubeadm-certs (written by `upload-certs`), decrypts it with the certificate key
//! and writes the cluster's shared certificates and keys — the CAs, the service-account key
//! pair and, with an external etcd, its client files — so that `certs` can then sign this
//! node's own certificates with the same CAs.
//!
//! The Secret's layout (entry names, nonce ‖ ciphertext ‖ tag) is defined once, in
//! [`crate::domain::certificate_upload`]; this module only reverses it. As kubeadm does, an empty entry (a
//! file the first control plane did not have, e.g. `ca.key` in external-CA mode) writes
//! nothing. Unlike kubeadm, every entry is decrypted and checked before the first file is
//! written, so a wrong key or a damaged Secret leaves the node untouched.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use crate::config::CertificateKey;
use crate::config::well_known::KUBE_SYSTEM;
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::Mode;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::apiclient::ApiClient;

use crate::domain::certificate_upload::{self, DecryptError, EtcdFiles, SECRET_NAME};

/// What the kubeadm-certs Secret must hold for the node to be a control plane at all.
const REQUIRED_ENTRY: &str = "ca.crt";

/// The hint for a Secret that is gone: it lives two hours (its owner token's TTL).
pub const REUPLOAD_HINT: &str = "the uploaded certificates expire after two hours: on an existing control-plane node run `kubeadm init phase upload-certs --upload-certs` (or `kubestrap init phase upload-certs --upload-certs`) and join with the certificate key it prints";

/// What `download-certs` needs; `None` from the context when there is nothing to download
/// (a worker, or a control plane joined without `--certificate-key`, whose operator copied the
/// shared certificates by hand).
#[derive(Debug, Clone)]
pub struct DownloadCertsSpec {
    /// Host path of this node's certificates dir (the cluster's `certificatesDir`).
    pub cert_dir: PathBuf,
    /// The cluster's etcd: local (its CA is shared) or external (its client files are).
    pub etcd: EtcdFiles,
    pub key: CertificateKey,
}

/// The contract between `download-certs` and the join context.
#[async_trait]
pub trait DownloadCertsContext: Sync {
    fn download_certs_spec(&self) -> Option<DownloadCertsSpec>;

    /// A client the Secret can be read with: kubeadm uses the bootstrap-token client from
    /// discovery (RoleBinding kubeadm:kubeadm-certs grants the token group `get` on it).
    async fn download_certs_client(&self) -> Result<ApiClient, PhaseError>;
}

/// Why the shared certificates cannot be taken from the Secret. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadCertsError {
    #[error(
        "Secret {KUBE_SYSTEM}/{SECRET_NAME} does not exist (it was never uploaded, or it expired)"
    )]
    SecretMissing,

    #[error("Secret {KUBE_SYSTEM}/{SECRET_NAME}, entry {entry}: {source}")]
    Decrypt {
        entry: String,
        #[source]
        source: DecryptError,
    },

    #[error("Secret {KUBE_SYSTEM}/{SECRET_NAME}, entry {entry}: {problem}")]
    Malformed { entry: String, problem: String },
}

impl crate::contract::diagnostics::Diagnostic for DownloadCertsError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        crate::contract::diagnostics::hint(match self {
            DownloadCertsError::Decrypt {
                source: DecryptError::Authentication,
                ..
            } => {
                "check --certificate-key (controlPlane.certificateKey): it must be the key printed by the upload-certs run that wrote the Secret"
            }
            _ => REUPLOAD_HINT,
        })
    }
}

impl From<DownloadCertsError> for PhaseError {
    fn from(e: DownloadCertsError) -> Self {
        PhaseError::from_diagnostic(&e)
    }
}

/// One decrypted file, ready to be written. Debug shows where, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedFile {
    pub entry: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub mode: Mode,
}

impl fmt::Debug for SharedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedFile")
            .field("entry", &self.entry)
            .field("path", &self.path)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("mode", &format_args!("{:o}", self.mode.0))
            .finish()
    }
}

/// What a PEM entry must hold, judged by its file name as kubeadm names them.
fn expected_pem(entry: &str) -> &'static str {
    if entry.ends_with(".key") {
        "PRIVATE KEY"
    } else if entry.ends_with(".pub") {
        "PUBLIC KEY"
    } else {
        "CERTIFICATE"
    }
}

/// Checks that `bytes` is PEM of the kind the entry's name promises; returns the file mode.
fn check_pem(entry: &str, bytes: &[u8]) -> Result<Mode, DownloadCertsError> {
    let malformed = |problem: String| DownloadCertsError::Malformed {
        entry: entry.to_string(),
        problem,
    };
    let blocks = pem::parse_many(bytes).map_err(|e| malformed(format!("not PEM: {e}")))?;
    let expected = expected_pem(entry);
    let Some(first) = blocks.first() else {
        return Err(malformed(format!(
            "expected a PEM {expected}, found no PEM block"
        )));
    };
    // "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY" are all private keys.
    if !first.tag().ends_with(expected) {
        return Err(malformed(format!(
            "expected a PEM {expected}, found {:?}",
            first.tag()
        )));
    }
    Ok(if expected == "PRIVATE KEY" {
        Mode::PRIVATE
    } else {
        Mode::PUBLIC
    })
}

/// Decrypts and checks every entry this node needs, all before anything is written:
/// entry names and paths come from [`certificate_upload::files_to_upload`], the one definition of
/// the layout. Missing or empty entries are skipped, as in kubeadm, except `ca.crt`.
pub fn shared_files(
    data: &BTreeMap<String, ByteString>,
    key: &CertificateKey,
    cert_dir: &Path,
    etcd: &EtcdFiles,
) -> Result<Vec<SharedFile>, DownloadCertsError> {
    let mut out = Vec::new();
    for (entry, path) in certificate_upload::files_to_upload(cert_dir, etcd) {
        let Some(ByteString(sealed)) = data.get(&entry).filter(|b| !b.0.is_empty()) else {
            if entry == REQUIRED_ENTRY {
                return Err(DownloadCertsError::Malformed {
                    entry,
                    problem: "missing or empty: the Secret holds no cluster CA".into(),
                });
            }
            continue;
        };
        let bytes = certificate_upload::decrypt(key, sealed).map_err(|source| {
            DownloadCertsError::Decrypt {
                entry: entry.clone(),
                source,
            }
        })?;
        let mode = check_pem(&entry, &bytes)?;
        out.push(SharedFile {
            entry,
            path,
            bytes,
            mode,
        });
    }
    Ok(out)
}

/// Reads the Secret; `SecretMissing` when it does not exist.
pub async fn fetch_secret_data(
    client: &ApiClient,
) -> Result<BTreeMap<String, ByteString>, PhaseError> {
    let secret = client
        .get_opt::<Secret>(Some(KUBE_SYSTEM), SECRET_NAME)
        .await?
        .ok_or(DownloadCertsError::SecretMissing)?;
    Ok(secret.data.unwrap_or_default())
}

/// `control-plane-prepare/download-certs`.
pub struct DownloadCerts;

#[async_trait]
impl<C: DownloadCertsContext> Step<C> for DownloadCerts {
    fn name(&self) -> &'static str {
        "download-certs"
    }

    fn help(&self) -> &'static str {
        "With --certificate-key: download the shared control-plane certificates from Secret kube-system/kubeadm-certs and write them."
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        match ctx.download_certs_spec() {
            Some(_) => Applicability::Applies,
            None => Applicability::NotApplicable(
                "certificates are downloaded only with --control-plane --certificate-key".into(),
            ),
        }
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        if let Some(spec) = ctx.download_certs_spec() {
            fp.value("cert_dir", &spec.cert_dir);
            fp.value("etcd", &format!("{:?}", spec.etcd));
            // The key decides what is written; fingerprint a digest of it, never the key. A
            // re-upload comes with a new key, so it runs again; with the same key and the
            // written files intact (the journal checks them) a resumed join does not need the
            // Secret, which expires after two hours.
            let digest = <sha2::Sha256 as sha2::Digest>::digest(spec.key.expose());
            fp.value("certificate_key_sha256", &hex::encode(digest));
        }
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let Some(spec) = ctx.download_certs_spec() else {
            return Ok(());
        };
        let client = ctx.download_certs_client().await?;
        let data = fetch_secret_data(&client).await?;
        let files = shared_files(&data, &spec.key, &spec.cert_dir, &spec.etcd)?;
        for file in &files {
            fx.write_file(&file.path, &file.bytes, file.mode)?;
        }
        fx.progress(format!(
            "wrote {} shared certificate and key files from Secret {KUBE_SYSTEM}/{SECRET_NAME}",
            files.len()
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::diagnostics::Diagnostic;
    use crate::contract::host::HostFs;

    fn key(byte: u8) -> CertificateKey {
        hex::encode([byte; 32]).parse().unwrap()
    }

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
    const RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----\n";
    const PUB: &str = "-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n";

    /// A Secret as upload-certs packs it, from a certificates dir holding `files`.
    fn packed(files: &[(&str, &str)], k: &CertificateKey) -> BTreeMap<String, ByteString> {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let layout = certificate_upload::files_to_upload(dir.path(), &EtcdFiles::Local);
        certificate_upload::encrypted_entries(&HostFs::real(), &layout, k).unwrap()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ca.crt", CERT),
            ("ca.key", RSA_KEY),
            ("front-proxy-ca.crt", CERT),
            ("front-proxy-ca.key", RSA_KEY),
            ("sa.key", RSA_KEY),
            ("sa.pub", PUB),
            ("etcd/ca.crt", CERT),
            ("etcd/ca.key", RSA_KEY),
        ]
    }

    #[test]
    fn round_trip_of_upload_certs_layout_with_modes() {
        let k = key(3);
        let data = packed(&full(), &k);
        let files = shared_files(&data, &k, Path::new("/n/pki"), &EtcdFiles::Local).unwrap();
        let by_path: BTreeMap<_, _> = files.iter().map(|f| (f.path.clone(), f)).collect();
        assert_eq!(by_path.len(), 8);
        let etcd_key = by_path[Path::new("/n/pki/etcd/ca.key")];
        assert_eq!(etcd_key.bytes, RSA_KEY.as_bytes());
        assert_eq!(etcd_key.mode, Mode::PRIVATE);
        assert_eq!(by_path[Path::new("/n/pki/sa.pub")].mode, Mode::PUBLIC);
        assert_eq!(by_path[Path::new("/n/pki/ca.crt")].mode, Mode::PUBLIC);
        assert!(
            !format!("{files:?}").contains("PRIVATE"),
            "Debug hides bytes"
        );
    }

    #[test]
    fn external_ca_mode_skips_absent_keys() {
        let k = key(4);
        let only_public: Vec<_> = full().into_iter().filter(|(n, _)| *n != "ca.key").collect();
        let data = packed(&only_public, &k);
        assert!(data["ca.key"].0.is_empty(), "uploaded as an empty entry");
        let files = shared_files(&data, &k, Path::new("/n/pki"), &EtcdFiles::Local).unwrap();
        assert_eq!(files.len(), 7);
        assert!(files.iter().all(|f| f.entry != "ca.key"));
    }

    #[test]
    fn wrong_key_names_the_entry_and_the_key() {
        let data = packed(&full(), &key(5));
        let err = shared_files(&data, &key(6), Path::new("/n/pki"), &EtcdFiles::Local).unwrap_err();
        assert_eq!(
            err,
            DownloadCertsError::Decrypt {
                entry: "ca.crt".into(),
                source: DecryptError::Authentication
            }
        );
        let phase: PhaseError = err.into();
        assert!(
            phase.to_string().contains("wrong certificate key"),
            "{phase}"
        );
        assert!(phase.hint().unwrap().contains("--certificate-key"));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        let k = key(7);
        // No CA at all.
        let err =
            shared_files(&BTreeMap::new(), &k, Path::new("/p"), &EtcdFiles::Local).unwrap_err();
        assert!(
            matches!(err, DownloadCertsError::Malformed { ref entry, .. } if entry == "ca.crt")
        );
        // A certificate where a key belongs.
        let mut swapped = full();
        swapped[1] = ("ca.key", CERT);
        let err = shared_files(
            &packed(&swapped, &k),
            &k,
            Path::new("/p"),
            &EtcdFiles::Local,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("ca.key") && err.to_string().contains("PRIVATE KEY"),
            "{err}"
        );
        // Truncated ciphertext.
        let mut data = packed(&full(), &k);
        data.insert("sa.key".into(), ByteString(vec![1, 2, 3]));
        let err = shared_files(&data, &k, Path::new("/p"), &EtcdFiles::Local).unwrap_err();
        assert_eq!(
            err,
            DownloadCertsError::Decrypt {
                entry: "sa.key".into(),
                source: DecryptError::TooShort(3)
            }
        );
    }

    #[test]
    fn external_etcd_files_go_where_the_configuration_says() {
        let k = key(8);
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [("ca.crt", CERT), ("ca.key", RSA_KEY)] {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let src = dir.path().join("etcd-src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("ca.pem"), CERT).unwrap();
        std::fs::write(src.join("client-key.pem"), RSA_KEY).unwrap();
        let uploaded = EtcdFiles::External {
            ca: Some(src.join("ca.pem")),
            cert: Some(src.join("client.pem")),
            key: Some(src.join("client-key.pem")),
        };
        let layout = certificate_upload::files_to_upload(dir.path(), &uploaded);
        let data = certificate_upload::encrypted_entries(&HostFs::real(), &layout, &k).unwrap();
        let target = EtcdFiles::External {
            ca: Some("/n/etc/etcd/ca.pem".into()),
            cert: Some("/n/etc/etcd/client.pem".into()),
            key: Some("/n/etc/etcd/client-key.pem".into()),
        };
        let files = shared_files(&data, &k, Path::new("/n/pki"), &target).unwrap();
        let paths: Vec<(&Path, Mode)> = files.iter().map(|f| (f.path.as_path(), f.mode)).collect();
        assert_eq!(
            paths,
            [
                (Path::new("/n/pki/ca.crt"), Mode::PUBLIC),
                (Path::new("/n/pki/ca.key"), Mode::PRIVATE),
                (Path::new("/n/etc/etcd/ca.pem"), Mode::PUBLIC),
                (Path::new("/n/etc/etcd/client-key.pem"), Mode::PRIVATE),
            ],
            "the missing client cert was an empty entry and writes nothing"
        );
    }

    #[test]
    fn missing_secret_points_at_reupload() {
        let phase: PhaseError = DownloadCertsError::SecretMissing.into();
        assert!(phase.to_string().contains("kube-system/kubeadm-certs"));
        assert!(
            phase
                .hint()
                .unwrap()
                .contains("kubeadm init phase upload-certs --upload-certs")
        );
    }
}
