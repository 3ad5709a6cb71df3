//! `upload-certs`: the control plane's shared certificates and keys, encrypted under the
//! certificate key, in Secret kube-system/kubeadm-certs — so that `join --control-plane
//! --certificate-key` can fetch them instead of an operator copying files by hand.
//!
//! Wire-compatible with kubeadm (phases/copycerts, util/crypto): each Secret entry is
//! `nonce (12 bytes) ‖ AES-256-GCM ciphertext ‖ tag`, with no associated data; entry names are
//! the file names relative to the certificates dir with `/` turned into `-` (`etcd-ca.crt`).
//! A file that does not exist is uploaded as an empty entry, as kubeadm does (external etcd
//! without TLS). The Secret is owned by a short-lived bootstrap token Secret, so the garbage
//! collector deletes it when the token expires.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;

use crate::config::CertificateKey;
use crate::config::token::BootstrapTokenString;
use crate::config::well_known::KUBE_SYSTEM;
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::HostFs;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::apiclient::ApiClient;
use crate::domain::apiclient::ClusterAccess;
use crate::domain::certificate_upload::{
    CERTIFICATE_KEY_FIELD, EtcdFiles, SECRET_NAME, certs_role, certs_role_binding, certs_secret,
    decrypted_entries, encrypted_entries, files_to_upload, lifetime_token_secret, owner_reference,
};

/// What `upload-certs` needs; `None` from the context when certificates are not uploaded.
#[derive(Debug, Clone)]
pub struct UploadCertsSpec {
    pub access: ClusterAccess,
    /// Host path of the certificates dir.
    pub cert_dir: PathBuf,
    pub etcd: EtcdFiles,
    /// Given, or generated once per run when absent.
    pub key: CertificateKey,
}

pub trait UploadCertsContext: Sync {
    fn upload_certs_spec(&self) -> Option<UploadCertsSpec>;
}

/// The Secret as it is, when it still holds exactly these files under this key and its
/// owner token still exists: re-applying it then changes nothing (fresh nonces would).
async fn reusable_secret(
    client: &ApiClient,
    fs: &HostFs,
    files: &BTreeMap<String, PathBuf>,
    key: &CertificateKey,
) -> Result<Option<Secret>, PhaseError> {
    let Some(current) = client
        .get_opt::<Secret>(Some(KUBE_SYSTEM), SECRET_NAME)
        .await?
    else {
        return Ok(None);
    };
    let Some(owner) = current
        .metadata
        .owner_references
        .as_ref()
        .and_then(|refs| refs.iter().find(|r| r.controller == Some(true)))
    else {
        return Ok(None);
    };
    let token = client
        .get_opt::<Secret>(Some(KUBE_SYSTEM), &owner.name)
        .await?;
    if token.and_then(|t| t.metadata.uid).as_deref() != Some(owner.uid.as_str()) {
        return Ok(None);
    }
    let data = current.data.clone().unwrap_or_default();
    let Ok(plain) = decrypted_entries(&data, key) else {
        return Ok(None);
    };
    let mut on_disk = BTreeMap::new();
    for (name, path) in files {
        on_disk.insert(name.clone(), fs.read_if_exists(path)?.unwrap_or_default());
    }
    Ok((plain == on_disk).then(|| certs_secret(data, owner.clone())))
}

/// `upload-certs`.
pub struct UploadCerts;

#[async_trait]
impl<C: UploadCertsContext> Step<C> for UploadCerts {
    fn name(&self) -> &'static str {
        "upload-certs"
    }

    fn help(&self) -> &'static str {
        "With --upload-certs: store the control-plane certificates, encrypted, in Secret kube-system/kubeadm-certs."
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        match ctx.upload_certs_spec() {
            Some(_) => Applicability::Applies,
            None => Applicability::NotApplicable(
                "certificates are uploaded only with --upload-certs".into(),
            ),
        }
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        if let Some(spec) = ctx.upload_certs_spec() {
            for path in files_to_upload(&spec.cert_dir, &spec.etcd).values() {
                fp.file(path);
            }
        }
    }

    /// The Secret expires with its token; each run checks it is still there.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let Some(spec) = ctx.upload_certs_spec() else {
            return Ok(());
        };
        let files = files_to_upload(&spec.cert_dir, &spec.etcd);
        let client = spec.access.admin(fx).await?;
        let reused = if fx.is_dry_run() {
            None
        } else {
            reusable_secret(&client, fx.fs(), &files, &spec.key).await?
        };
        let secret = match reused {
            Some(secret) => secret,
            None => {
                let token = BootstrapTokenString::generate();
                let token_secret = lifetime_token_secret(&token, time::OffsetDateTime::now_utc());
                let token_name = token_secret.metadata.name.clone().unwrap_or_default();
                client.create(fx, &token_secret).await?;
                let uid = if fx.is_dry_run() {
                    String::new()
                } else {
                    client
                        .get_opt::<Secret>(Some(KUBE_SYSTEM), &token_name)
                        .await?
                        .and_then(|s| s.metadata.uid)
                        .ok_or_else(|| {
                            PhaseError::failed(format!(
                                "Secret {KUBE_SYSTEM}/{token_name} vanished right after it was created"
                            ))
                        })?
                };
                let data = encrypted_entries(fx.fs(), &files, &spec.key)?;
                certs_secret(data, owner_reference(&token_name, &uid))
            }
        };
        client.apply(fx, &secret).await?;
        client.apply(fx, &certs_role()).await?;
        client.apply(fx, &certs_role_binding()).await?;
        // The user needs the key to join control planes; this is the only place it goes.
        fx.set_result_field(CERTIFICATE_KEY_FIELD, spec.key.expose_hex().into());
        Ok(())
    }
}
