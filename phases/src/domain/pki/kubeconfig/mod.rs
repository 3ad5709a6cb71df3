//! The kubeconfig files kubeadm writes, and how an existing one is judged: shared by the
//! `kubeconfig/*` phases, the external-CA check, `certs renew` and `kubeconfig user`.
//!
//! Each file embeds the cluster CA, the API server URL and a client certificate signed by the
//! CA. An existing file is kept when all three are what the configuration asks for, and is a
//! conflict otherwise; with an external CA, a missing file cannot be made and is reported.

mod file;

use std::path::PathBuf;
use std::time::Duration;

pub use file::{
    Cluster, Context, CurrentContext, KubeConfig, NamedCluster, NamedContext, NamedUser, User,
};

use super::files::{conflict_fix, keep, leaf_problems, require_authority};
use super::{
    Authority, CertInfo, CertName, CertProfile, KeyPool, PkiError, PkiSession, PkiSpec, PrivateKey,
    Usage, issue,
};
use crate::contract::effects::Effects;
use crate::contract::host::{HostFs, Mode};

/// One of the kubeconfig files kubeadm writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum KubeconfigName {
    Admin,
    SuperAdmin,
    Kubelet,
    ControllerManager,
    Scheduler,
}

impl KubeconfigName {
    pub const ALL: [KubeconfigName; 5] = [
        Self::Admin,
        Self::SuperAdmin,
        Self::Kubelet,
        Self::ControllerManager,
        Self::Scheduler,
    ];

    /// The phase name (`admin`, `super-admin`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::SuperAdmin => "super-admin",
            Self::Kubelet => "kubelet",
            Self::ControllerManager => "controller-manager",
            Self::Scheduler => "scheduler",
        }
    }

    /// `admin.conf`, …: also the name `certs renew` and `check-expiration` use.
    pub fn file_name(self) -> String {
        format!("{}.conf", self.as_str())
    }

    pub fn parse_file_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.file_name() == s)
    }

    pub fn path(self, spec: &PkiSpec) -> PathBuf {
        spec.kubeconfig_dir.join(self.file_name())
    }

    /// Whether kubeadm of the configured release makes this file: super-admin.conf exists from
    /// 1.29 (#121305); before, admin.conf itself is in `system:masters`.
    pub fn applies_to(self, spec: &PkiSpec) -> bool {
        self != Self::SuperAdmin || spec.release().separates_super_admin()
    }

    /// The client certificate's subject.
    pub fn client_profile(self, spec: &PkiSpec) -> CertProfile {
        let p = |cn: String| CertProfile::new(cn, Usage::Client);
        match self {
            Self::Admin => p("kubernetes-admin".into()).org(spec.release().admin_group()),
            Self::SuperAdmin => p("kubernetes-super-admin".into()).org("system:masters"),
            Self::Kubelet => p(format!("system:node:{}", spec.node_name)).org("system:nodes"),
            Self::ControllerManager => p("system:kube-controller-manager".into()),
            Self::Scheduler => p("system:kube-scheduler".into()),
        }
    }

    /// The API server URL the file points at: components on this node talk to the local
    /// API server, people to the cluster endpoint; the kubelet of a control plane to its own
    /// API server from 1.33 (kubeadm's ControlPlaneKubeletLocalMode, on by default from 1.33,
    /// #129956), to the cluster endpoint before.
    pub fn server(self, spec: &PkiSpec) -> String {
        match self {
            Self::ControllerManager | Self::Scheduler => spec.local_api_url(),
            Self::Kubelet if spec.release().kubelet_uses_local_api_server() => spec.local_api_url(),
            _ => spec.cluster_api_url(),
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Self::Admin => {
                "Generates admin.conf, the kubeconfig for the cluster administrator (group kubeadm:cluster-admins; system:masters up to v1.28)"
            }
            Self::SuperAdmin => {
                "Generates super-admin.conf, a break-glass kubeconfig in group system:masters (from v1.29)"
            }
            Self::Kubelet => {
                "Generates kubelet.conf, the kubeconfig the kubelet uses to register the node (bootstrap only)"
            }
            Self::ControllerManager => {
                "Generates controller-manager.conf, the kubeconfig of kube-controller-manager"
            }
            Self::Scheduler => "Generates scheduler.conf, the kubeconfig of kube-scheduler",
        }
    }
}

/// What a kubeconfig phase will do, decided before anything is written. Signing carries the
/// CA key `signer`, so an external CA (no key) can only ever lead to `Keep` or an error.
enum KubeconfigAction<'ca> {
    /// The existing file is what the configuration asks for.
    Keep,
    /// There is no file: make one with a new key.
    Create { signer: &'ca PrivateKey },
    /// A partial file from `certs generate-csr` (a client key, no certificate): sign a
    /// certificate for its key.
    Finish {
        key: PrivateKey,
        user: String,
        signer: &'ca PrivateKey,
    },
}

/// Checks kubeconfig `name` against the configuration and the cluster CA `ca` without
/// writing: an error names the file, what is wrong and the fix. A missing file, or one that
/// needs signing, is an error when the CA is external.
fn plan_kubeconfig<'ca>(
    spec: &PkiSpec,
    fs: &HostFs,
    name: KubeconfigName,
    ca: &'ca Authority,
) -> Result<KubeconfigAction<'ca>, PkiError> {
    let file_name = name.file_name();
    let path = name.path(spec);
    let profile = name.client_profile(spec);
    let server = name.server(spec);
    let Some(bytes) = fs.read_if_exists(&path)? else {
        let Some(signer) = &ca.key else {
            return Err(PkiError::ExternalCa {
                path: path.clone(),
                problem: format!(
                    "{file_name} is missing and cannot be generated: the CA is external ({} does not exist)",
                    CertName::Ca.key_path(spec).display()
                ),
                fix: format!(
                    "sign {file_name}.csr (`kubestrap certs generate-csr`) with the external CA and embed it as client-certificate-data in {}",
                    path.display()
                ),
            });
        };
        return Ok(KubeconfigAction::Create { signer });
    };
    let kc = KubeConfig::from_yaml(&path, &bytes)?;
    let current = kc.current(&path)?;
    let mut problems = Vec::new();
    let mut fields_differ = false;
    if current.server != server {
        problems.push(format!(
            "server is {:?}, expected {server:?}",
            current.server
        ));
        fields_differ = true;
    }
    match (current.client_cert, current.client_key, &ca.key) {
        // A partial kubeconfig from `certs generate-csr`, and a CA that can sign: finish it.
        (None, Some(key), Some(signer)) if problems.is_empty() => {
            return Ok(KubeconfigAction::Finish {
                key,
                user: current.user_name,
                signer,
            });
        }
        // kubelet.conf after kubelet-finalize: the kubelet's own rotating certificate file,
        // which kubeadm accepts as is.
        (None, None, _) if name == KubeconfigName::Kubelet && kc.current_user_cert_file() => {}
        (None, _, _) => {
            problems.push("embeds no client certificate (client-certificate-data)".into())
        }
        (Some(_), None, _) => problems.push("embeds no client key (client-key-data)".into()),
        (Some(cert), Some(key), _) => {
            let (p, differ) = leaf_problems(&profile, &cert, ca);
            fields_differ |= differ;
            problems.extend(p.into_iter().map(|p| format!("client certificate {p}")));
            if !cert.matches_key(&key) {
                problems.push("client certificate does not match its client key".into());
            }
        }
    }
    problems.extend(ca_data_problem(current.ca.as_ref(), ca));
    if !problems.is_empty() {
        return Err(PkiError::Conflict {
            path: path.clone(),
            problem: format!("{file_name}: {}", problems.join("; ")),
            fix: conflict_fix(&file_name, &[&path], fields_differ),
        });
    }
    Ok(KubeconfigAction::Keep)
}

/// Validates an existing kubeconfig against the CA `ca` (the external-CA check).
pub(crate) fn check_kubeconfig(
    spec: &PkiSpec,
    fs: &HostFs,
    name: KubeconfigName,
    ca: &Authority,
) -> Result<(), PkiError> {
    plan_kubeconfig(spec, fs, name, ca).map(|_| ())
}

pub(crate) fn ensure_kubeconfig(
    spec: &PkiSpec,
    session: &PkiSession,
    fx: &mut Effects<'_>,
    name: KubeconfigName,
) -> Result<(), PkiError> {
    let ca = require_authority(spec, session, fx.fs(), CertName::Ca, &name.file_name())?;
    let path = name.path(spec);
    let profile = name.client_profile(spec);
    let (key, user, ca_key) = match plan_kubeconfig(spec, fx.fs(), name, &ca)? {
        KubeconfigAction::Keep => return keep(fx, &path, Mode::PRIVATE),
        KubeconfigAction::Create { signer } => {
            (session.keys().take()?, profile.common_name.clone(), signer)
        }
        KubeconfigAction::Finish { key, user, signer } => (key, user, signer),
    };
    let cert = issue(&profile, &key, &ca.cert.der, ca_key, spec.cert_validity)?;
    let kc = KubeConfig::with_client_cert(
        &spec.cluster_name,
        &name.server(spec),
        &ca.cert_pem,
        &user,
        Some(cert.as_bytes()),
        key.to_pem().as_bytes(),
    );
    fx.write_file(&path, kc.to_yaml()?.as_bytes(), Mode::PRIVATE)?;
    Ok(())
}

fn ca_data_problem(embedded: Option<&CertInfo>, ca: &Authority) -> Option<String> {
    match embedded {
        None => Some(format!(
            "embeds no CA (certificate-authority-data); expected {}",
            ca.cert_path.display()
        )),
        Some(c) if c.der != ca.cert.der => {
            Some(format!("embeds a CA other than {}", ca.cert_path.display()))
        }
        Some(_) => None,
    }
}

/// A kubeconfig for `client_name` in groups `organizations`, signed by the cluster CA and
/// pointing at the cluster endpoint (`kubeadm kubeconfig user`). Returns the YAML.
pub fn user_kubeconfig(
    spec: &PkiSpec,
    fs: &HostFs,
    keys: &KeyPool,
    client_name: &str,
    organizations: &[String],
    validity: Option<Duration>,
) -> Result<String, PkiError> {
    if client_name.is_empty() {
        return Err(PkiError::Unsupported(
            "--client-name must not be empty".into(),
        ));
    }
    let session = PkiSession::new(KeyPool::empty(keys.algorithm()));
    let ca = require_authority(spec, &session, fs, CertName::Ca, "the user kubeconfig")?;
    let ca_key = ca.key.as_ref().ok_or_else(|| PkiError::ExternalCa {
        path: ca.cert_path.clone(),
        problem: "cannot sign a user certificate: the CA is external (no ca.key)".into(),
        fix: "sign the user's certificate with the external CA instead".into(),
    })?;
    let mut profile = CertProfile::new(client_name, Usage::Client);
    profile.organizations = organizations.to_vec();
    let key = keys.take()?;
    let cert = issue(
        &profile,
        &key,
        &ca.cert.der,
        ca_key,
        validity.unwrap_or(spec.cert_validity),
    )?;
    KubeConfig::with_client_cert(
        &spec.cluster_name,
        &spec.cluster_api_url(),
        &ca.cert_pem,
        client_name,
        Some(cert.as_bytes()),
        key.to_pem().as_bytes(),
    )
    .to_yaml()
}
