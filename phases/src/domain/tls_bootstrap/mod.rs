//! Kubelet TLS bootstrap done by kubestrap itself (`join --tls-bootstrap builtin`), for nodes
//! whose agent is not the kubelet and for the test bed, where no kubelet runs.
//!
//! It does what the kubelet does with `--bootstrap-kubeconfig`: make an ECDSA P-256 key, post a
//! CertificateSigningRequest as the bootstrap token's user, wait for kube-controller-manager to
//! approve (its csrapproving controller auto-approves node-client CSRs from identities bound to
//! `…:certificatesigningrequests:nodeclient`) and sign it, then store the pair the way the
//! kubelet's certificate store does and write a kubelet.conf that points at it. The CSR has
//! exactly the shape the approver recognises (kubeadm-facts.md): anything else stays Pending
//! forever without a word, which is why a stall is diagnosed instead of merely timed out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec, CertificateSigningRequestStatus,
};
use kube::api::WatchEvent;
use kube::core::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::config::well_known::{KUBELET_CLIENT_CURRENT, NODES_GROUP};
use crate::contract::effects::{ApiChange, ApiVerb, Effects};
use crate::domain::apiclient;
use crate::domain::bootstrap_client::{BootstrapClient, describe};
use crate::domain::pki::{CertInfo, CertProfile, EncryptionAlgorithm, PkiError, PrivateKey, Usage};

/// The signer that issues kubelet client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The usages the kubelet requests; kube-controller-manager 1.20 approves only exactly these.
pub const KUBELET_CLIENT_USAGES: [&str; 3] =
    ["digital signature", "key encipherment", "client auth"];
/// After this long Pending, the likely causes are looked up and reported.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

/// Why the builtin bootstrap failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsBootstrapError {
    #[error("cannot make the node's key or CSR: {0}")]
    Key(#[from] PkiError),
    #[error(
        "{endpoint}: cannot create the CertificateSigningRequest as the bootstrap token: {message}"
    )]
    Create { endpoint: String, message: String },
    #[error("CertificateSigningRequest {name} was denied: {reason}: {message}")]
    Denied {
        name: String,
        reason: String,
        message: String,
    },
    #[error("CertificateSigningRequest {name} failed: {reason}: {message}")]
    Failed {
        name: String,
        reason: String,
        message: String,
    },
    #[error("CertificateSigningRequest {name} was deleted before a certificate was issued")]
    Deleted { name: String },
    #[error(
        "CertificateSigningRequest {name}: no certificate within {waited:?} (timeouts.tlsBootstrap); {}",
        diagnosis.join("; ")
    )]
    TimedOut {
        name: String,
        waited: Duration,
        diagnosis: Vec<String>,
    },
    #[error("{endpoint}: watching CertificateSigningRequest {name}: {message}")]
    Watch {
        endpoint: String,
        name: String,
        message: String,
    },
    #[error("CertificateSigningRequest {name}: the issued certificate is unusable: {problem}")]
    BadCertificate { name: String, problem: String },
}

/// A bootstrap that timed out listed its likely causes; the others say what happened.
impl crate::contract::diagnostics::Diagnostic for TlsBootstrapError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::TimedOut { .. } => crate::contract::diagnostics::hint(
                "fix the causes above and run join again; it resumes here",
            ),
            _ => None,
        }
    }
}

/// What the bootstrap produced: the node's key and the certificate issued for it.
pub struct NodeCredentials {
    pub key: PrivateKey,
    pub cert_pem: String,
    pub csr_name: String,
}

impl fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCredentials")
            .field("csr_name", &self.csr_name)
            .finish_non_exhaustive()
    }
}

/// The CSR object the kubelet would post for `node_name` with `key`: CN=system:node:<name>,
/// O=system:nodes, no SANs, the kubelet's usages and signer. Named after a digest of the key
/// and subject like the kubelet's `node-csr-…`, so a retried post of the same request finds
/// its earlier self instead of piling up duplicates.
pub fn node_client_csr(
    node_name: &str,
    key: &PrivateKey,
) -> Result<CertificateSigningRequest, PkiError> {
    let common_name = format!("system:node:{node_name}");
    let pem = CertProfile::new(common_name.clone(), Usage::Client)
        .org(NODES_GROUP)
        .csr_pem(key)?;
    let mut digest = Sha256::new();
    digest.update(key.spki_der());
    digest.update(common_name.as_bytes());
    digest.update(NODES_GROUP.as_bytes());
    for usage in KUBELET_CLIENT_USAGES {
        digest.update(usage.as_bytes());
    }
    let name = format!("node-csr-{}", URL_SAFE_NO_PAD.encode(digest.finalize()));
    Ok(CertificateSigningRequest {
        metadata: ObjectMeta {
            name: Some(name),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.into_bytes()),
            signer_name: KUBELET_CLIENT_SIGNER.into(),
            usages: Some(
                KUBELET_CLIENT_USAGES
                    .iter()
                    .map(|u| u.to_string())
                    .collect(),
            ),
            ..Default::default()
        },
        status: None,
    })
}

/// Where a CSR stands, from its status.
enum Standing {
    Issued(Vec<u8>),
    Denied { reason: String, message: String },
    Failed { reason: String, message: String },
    Approved,
    Pending,
}

fn standing(status: Option<&CertificateSigningRequestStatus>) -> Standing {
    let Some(status) = status else {
        return Standing::Pending;
    };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let condition = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status != "False")
            .map(|c| {
                (
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            })
    };
    if let Some((reason, message)) = condition("Denied") {
        return Standing::Denied { reason, message };
    }
    if let Some((reason, message)) = condition("Failed") {
        return Standing::Failed { reason, message };
    }
    if let Some(cert) = status.certificate.as_ref().filter(|c| !c.0.is_empty()) {
        return Standing::Issued(cert.0.clone());
    }
    if condition("Approved").is_some() {
        return Standing::Approved;
    }
    Standing::Pending
}

/// A new node key and the CSR for it, named as [`node_client_csr`] names it.
fn new_request(
    node_name: &str,
) -> Result<(PrivateKey, CertificateSigningRequest, String), PkiError> {
    let key = EncryptionAlgorithm::EcdsaP256.generate()?;
    let csr = node_client_csr(node_name, &key)?;
    let name = csr.metadata.name.clone().unwrap_or_default();
    Ok((key, csr, name))
}

/// The record of creating CertificateSigningRequest `name`.
fn csr_created(name: &str) -> ApiChange {
    apiclient::change::<CertificateSigningRequest>(ApiVerb::Create, None, name)
}

/// `--dry-run`: records the CertificateSigningRequest a real run would create, and posts
/// nothing. Its name is that of a request for a key made for this purpose and dropped: every
/// run makes a new key, so no run can know the name of another's request.
pub fn plan(node_name: &str, fx: &mut Effects<'_>) -> Result<(), TlsBootstrapError> {
    let (_, _, name) = new_request(node_name)?;
    fx.record_api(csr_created(&name));
    Ok(())
}

/// Makes the node key, posts the CSR as `client`'s identity (the bootstrap token), records
/// it through `fx`, and waits by WATCH until it is issued, denied or failed, or `timeout`
/// passes. After [`STALL_AFTER`] Pending, `fx`'s progress hears the likely causes, checked
/// where the token's rights allow. Under `--dry-run` use [`plan`] instead.
pub async fn bootstrap(
    client: &BootstrapClient,
    node_name: &str,
    timeout: Duration,
    fx: &mut Effects<'_>,
) -> Result<NodeCredentials, TlsBootstrapError> {
    let (key, csr, name) = new_request(node_name)?;
    let created = match client.create_csr(&csr).await {
        Ok(created) => {
            fx.record_api(csr_created(&name));
            created
        }
        // Its earlier self, from a post whose answer was lost: the same key and node.
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let found = client
                .csr(&name)
                .await
                .map_err(|e| TlsBootstrapError::Create {
                    endpoint: client.endpoint().to_string(),
                    message: describe(&e),
                })?;
            fx.record_api(csr_created(&name).unchanged());
            found
        }
        Err(e) => {
            let mut message = describe(&e);
            if matches!(&e, kube::Error::Api(s) if s.code == 401) {
                message.push_str(" (the bootstrap token is unknown, expired or deleted)");
            } else if matches!(&e, kube::Error::Api(s) if s.code == 403) {
                message.push_str(" (the token's groups lack ClusterRoleBinding kubeadm:kubelet-bootstrap to system:node-bootstrapper)");
            }
            return Err(TlsBootstrapError::Create {
                endpoint: client.endpoint().to_string(),
                message,
            });
        }
    };
    let progress = |message: String| fx.progress(message);
    let cert_pem = wait_for_certificate(client, created, timeout, &progress).await?;
    check_issued(&name, &cert_pem, &key, node_name)?;
    Ok(NodeCredentials {
        key,
        cert_pem,
        csr_name: name,
    })
}

async fn wait_for_certificate(
    client: &BootstrapClient,
    created: CertificateSigningRequest,
    timeout: Duration,
    progress: &(dyn Fn(String) + Sync),
) -> Result<String, TlsBootstrapError> {
    let name = created.metadata.name.clone().unwrap_or_default();
    let start = Instant::now();
    let deadline = start + timeout;
    let mut version = created
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let mut last = standing(created.status.as_ref());
    let mut diagnosed = false;
    loop {
        match last {
            Standing::Issued(cert) => {
                return String::from_utf8(cert).map_err(|_| TlsBootstrapError::BadCertificate {
                    name,
                    problem: "status.certificate is not PEM text".into(),
                });
            }
            Standing::Denied { reason, message } => {
                return Err(TlsBootstrapError::Denied {
                    name,
                    reason,
                    message,
                });
            }
            Standing::Failed { reason, message } => {
                return Err(TlsBootstrapError::Failed {
                    name,
                    reason,
                    message,
                });
            }
            Standing::Approved | Standing::Pending => {}
        }
        let now = Instant::now();
        if now >= deadline {
            let diagnosis = diagnose(client, &last).await;
            return Err(TlsBootstrapError::TimedOut {
                name,
                waited: start.elapsed(),
                diagnosis,
            });
        }
        if !diagnosed && now >= start + STALL_AFTER {
            diagnosed = true;
            let causes = diagnose(client, &last).await;
            progress(format!(
                "CertificateSigningRequest {name} is still {} after {:?}: {}",
                if matches!(last, Standing::Approved) {
                    "approved but not issued"
                } else {
                    "Pending"
                },
                start.elapsed(),
                causes.join("; ")
            ));
        }
        let until = if diagnosed {
            deadline
        } else {
            (start + STALL_AFTER).min(deadline)
        };
        let window = until
            .saturating_duration_since(now)
            .max(Duration::from_secs(1));
        let mut seen_version = None;
        let mut approved = false;
        let watched = tokio::time::timeout(
            window + Duration::from_secs(5),
            client.watch_csr(&name, &version, window, |event| match event {
                WatchEvent::Added(csr) | WatchEvent::Modified(csr) => {
                    seen_version = csr.metadata.resource_version.clone();
                    // Approval and issue usually come as two events: keep watching through
                    // the first, so one watch sees both.
                    match standing(csr.status.as_ref()) {
                        Standing::Pending => None,
                        Standing::Approved => {
                            approved = true;
                            None
                        }
                        other => Some(Ok(other)),
                    }
                }
                WatchEvent::Deleted(_) => Some(Err(true)),
                // 410 Gone: the version is too old; start over from a fresh GET.
                WatchEvent::Error(_) => Some(Err(false)),
                WatchEvent::Bookmark(_) => None,
            }),
        )
        .await;
        if let Some(v) = seen_version {
            version = v;
        }
        if approved {
            last = Standing::Approved;
        }
        last = match watched {
            Ok(Ok(Some(Ok(other)))) => other,
            Ok(Ok(Some(Err(true)))) => return Err(TlsBootstrapError::Deleted { name }),
            Ok(Ok(Some(Err(false)))) => {
                let fresh = client
                    .csr(&name)
                    .await
                    .map_err(|e| watch_error(client, &name, &e))?;
                version = fresh.metadata.resource_version.clone().unwrap_or_default();
                standing(fresh.status.as_ref())
            }
            // The window ended without news: keep what we knew.
            Ok(Ok(None)) | Err(_) => last,
            Ok(Err(e)) => return Err(watch_error(client, &name, &e)),
        };
    }
}

fn watch_error(client: &BootstrapClient, name: &str, e: &kube::Error) -> TlsBootstrapError {
    TlsBootstrapError::Watch {
        endpoint: client.endpoint().to_string(),
        name: name.to_string(),
        message: describe(e),
    }
}

/// The likely causes of a CSR that is not issued, checked where the token's rights allow.
async fn diagnose(client: &BootstrapClient, last: &Standing) -> Vec<String> {
    if matches!(last, Standing::Approved) {
        return vec![
            "it was approved but nobody signs it: kube-controller-manager lacks --cluster-signing-cert-file/--cluster-signing-key-file, or runs without the csrsigning controller".into(),
        ];
    }
    let mut causes = Vec::new();
    match client
        .may(
            "create",
            "certificates.k8s.io",
            "certificatesigningrequests",
            Some("nodeclient"),
        )
        .await
    {
        Ok(false) => causes.push(
            "the bootstrap token's groups may not create certificatesigningrequests/nodeclient, so the approver ignores the CSR: ClusterRoleBinding kubeadm:node-autoapprove-bootstrap (to ClusterRole system:certificates.k8s.io:certificatesigningrequests:nodeclient) is missing — `kubestrap init phase bootstrap-token` creates it".into(),
        ),
        Ok(true) => causes.push(
            "the token may have node-client CSRs auto-approved (checked by SelfSubjectAccessReview), so the approver itself is missing: kube-controller-manager is not running, not yet leader, or runs without the csrapproving controller (--controllers)".into(),
        ),
        Err(e) => causes.push(format!(
            "could not check the token's nodeclient right ({}); check ClusterRoleBinding kubeadm:node-autoapprove-bootstrap and that kube-controller-manager runs with the csrapproving controller",
            describe(&e)
        )),
    }
    causes
}

/// The issued certificate must be for this key and this node, or the kubelet.conf made from
/// it would not work.
fn check_issued(
    name: &str,
    cert_pem: &str,
    key: &PrivateKey,
    node_name: &str,
) -> Result<(), TlsBootstrapError> {
    let bad = |problem: String| TlsBootstrapError::BadCertificate {
        name: name.to_string(),
        problem,
    };
    let info =
        CertInfo::from_pem(Path::new(name), cert_pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    if !info.matches_key(key) {
        return Err(bad("it is not for the key this node made".into()));
    }
    let want = format!("system:node:{node_name}");
    if info.common_name != want {
        return Err(bad(format!(
            "its CN is {:?}, not {want:?}",
            info.common_name
        )));
    }
    Ok(())
}

/// The kubelet's client certificate store: `kubelet-client-<time>.pem` (certificate then key,
/// 0600) and the `kubelet-client-current.pem` symlink to it, in `/var/lib/kubelet/pki`.
pub struct CertStore {
    pub dir: PathBuf,
}

impl CertStore {
    pub fn current(&self) -> PathBuf {
        self.dir.join(KUBELET_CLIENT_CURRENT)
    }

    /// The dated file name for `now`, in the kubelet's layout (Go's `2006-01-02-15-04-05`).
    pub fn dated(&self, now: time::OffsetDateTime) -> PathBuf {
        let f = time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
        let stamp = now
            .format(&f)
            .unwrap_or_else(|_| now.unix_timestamp().to_string());
        self.dir.join(format!("kubelet-client-{stamp}.pem"))
    }
}

/// The pair as one PEM file, as the kubelet stores it.
pub fn pair_pem(creds: &NodeCredentials) -> String {
    let mut pem = creds.cert_pem.trim_end().to_string();
    pem.push('\n');
    pem.push_str(&creds.key.to_pem());
    pem
}

/// kubelet.conf as the kubelet writes it after bootstrapping: the cluster from the bootstrap
/// kubeconfig, the client certificate and key both from the store's current file.
pub fn kubelet_conf(server: &str, ca_pem: &[u8], current: &Path) -> String {
    let current = current.display().to_string();
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "clusters": [{
            "cluster": {
                "certificate-authority-data": STANDARD.encode(ca_pem),
                "server": server,
            },
            "name": "default-cluster",
        }],
        "contexts": [{
            "context": {"cluster": "default-cluster", "namespace": "default", "user": "default-auth"},
            "name": "default-context",
        }],
        "current-context": "default-context",
        "kind": "Config",
        "preferences": {},
        "users": [{
            "name": "default-auth",
            "user": {"client-certificate": current, "client-key": current},
        }],
    });
    serde_saphyr::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsBootstrap;
    use x509_parser::prelude::FromDer;

    #[test]
    fn csr_has_the_shape_the_approver_recognises() {
        let key = EncryptionAlgorithm::EcdsaP256.generate().unwrap();
        let csr = node_client_csr("worker-1", &key).unwrap();
        assert_eq!(csr.spec.signer_name, KUBELET_CLIENT_SIGNER);
        assert_eq!(
            csr.spec.usages.as_deref().unwrap(),
            ["digital signature", "key encipherment", "client auth"]
        );
        let pem_text = String::from_utf8(csr.spec.request.0.clone()).unwrap();
        let block = pem::parse(&pem_text).unwrap();
        assert_eq!(block.tag(), "CERTIFICATE REQUEST");
        let (_, req) = x509_parser::certification_request::X509CertificationRequest::from_der(
            block.contents(),
        )
        .unwrap();
        let subject = &req.certification_request_info.subject;
        let cns: Vec<&str> = subject
            .iter_common_name()
            .map(|a| a.as_str().unwrap())
            .collect();
        let orgs: Vec<&str> = subject
            .iter_organization()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(cns, ["system:node:worker-1"]);
        assert_eq!(orgs, ["system:nodes"]);
        let sans = req
            .requested_extensions()
            .into_iter()
            .flatten()
            .filter(|e| {
                matches!(
                    e,
                    x509_parser::extensions::ParsedExtension::SubjectAlternativeName(_)
                )
            })
            .count();
        assert_eq!(sans, 0, "no SANs of any kind");
        // Same key and node, same name: a retried post finds its earlier request.
        assert_eq!(
            csr.metadata.name,
            node_client_csr("worker-1", &key).unwrap().metadata.name
        );
        assert!(
            csr.metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with("node-csr-")
        );
    }

    #[test]
    fn a_dry_run_records_the_request_it_would_post_and_writes_nothing() {
        use crate::contract::effects::Silent;
        use crate::contract::host::HostFs;
        let stage = tempfile::tempdir().unwrap();
        let fs = HostFs::staged(stage.path());
        let mut fx = Effects::new("kubelet-start", &fs, &Silent);
        plan("worker-1", &mut fx).unwrap();
        let (files, api) = fx.into_record();
        assert!(files.is_empty());
        assert_eq!(api.len(), 1, "{api:?}");
        let csr = &api[0];
        assert_eq!(
            (csr.verb, csr.kind.as_str(), csr.namespace.as_deref()),
            (ApiVerb::Create, "CertificateSigningRequest", None)
        );
        assert!(csr.changed && csr.name.starts_with("node-csr-"), "{csr:?}");
        assert_eq!(std::fs::read_dir(stage.path()).unwrap().count(), 0);
    }

    #[test]
    fn standing_reads_conditions_before_the_certificate() {
        use k8s_openapi::api::certificates::v1::CertificateSigningRequestCondition as C;
        let cond = |t: &str| C {
            type_: t.into(),
            status: "True".into(),
            reason: Some(format!("{t}Reason")),
            message: Some("because".into()),
            ..Default::default()
        };
        let status = |conds: Vec<C>, cert: Option<&str>| CertificateSigningRequestStatus {
            conditions: Some(conds),
            certificate: cert.map(|c| ByteString(c.as_bytes().to_vec())),
        };
        assert!(matches!(standing(None), Standing::Pending));
        assert!(matches!(
            standing(Some(&status(vec![cond("Approved")], None))),
            Standing::Approved
        ));
        assert!(matches!(
            standing(Some(&status(vec![cond("Approved")], Some("PEM")))),
            Standing::Issued(_)
        ));
        assert!(matches!(
            standing(Some(&status(vec![cond("Denied")], None))),
            Standing::Denied { reason, .. } if reason == "DeniedReason"
        ));
        assert!(matches!(
            standing(Some(&status(
                vec![cond("Approved"), cond("Failed")],
                Some("PEM")
            ))),
            Standing::Failed { .. }
        ));
    }

    #[test]
    fn store_names_follow_the_kubelet_and_kubelet_conf_points_at_current() {
        let store = CertStore {
            dir: PathBuf::from("/r/var/lib/kubelet/pki"),
        };
        let at = time::macros::datetime!(2026-11-23 15:04:05 UTC);
        assert_eq!(
            store.dated(at),
            PathBuf::from("/r/var/lib/kubelet/pki/kubelet-client-2026-11-23-15-04-05.pem")
        );
        let conf = kubelet_conf("https://10.0.0.1:6443", b"CA", &store.current());
        let kc = kube::config::Kubeconfig::from_yaml(&conf).unwrap();
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(
            user.client_certificate.as_deref(),
            Some("/r/var/lib/kubelet/pki/kubelet-client-current.pem")
        );
        assert_eq!(
            user.client_key.as_deref(),
            user.client_certificate.as_deref()
        );
        assert_eq!(kc.current_context.as_deref(), Some("default-context"));
    }

    #[test]
    fn modes_parse_and_print() {
        assert_eq!("builtin".parse::<TlsBootstrap>(), Ok(TlsBootstrap::Builtin));
        assert_eq!(TlsBootstrap::default().to_string(), "kubelet");
        assert!(
            "kubeadm"
                .parse::<TlsBootstrap>()
                .unwrap_err()
                .to_string()
                .contains("builtin")
        );
    }
}
