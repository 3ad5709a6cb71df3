//! Discovery: how a joining node learns the cluster's endpoint and CA before it trusts
//! anything, by bootstrap token (kubeadm's `--token` + `--discovery-token-ca-cert-hash`) or from
//! a kubeconfig file or https URL (`--discovery-file`).
//!
//! Token discovery, as kubeadm does it:
//! 1. GET kube-public/cluster-info anonymously over TLS *without* verifying the server (the
//!    node has no CA yet) and without any credential (the server is not trusted yet);
//! 2. verify the detached JWS `jws-kubeconfig-<token-id>` that the controller-manager's
//!    bootstrap signer keeps next to the kubeconfig: only a holder of the token secret can
//!    make it, so a match means cluster-info was published by the token's cluster;
//! 3. check the CA it names against the `--discovery-token-ca-cert-hash` pins (any match);
//! 4. GET cluster-info again over TLS verified with that CA and require the same content.
//!
//! Unlike kubeadm (5 s polls for 5 minutes, then "timed out"), each failure ends with its own
//! error saying what was seen, and only what can heal by itself is retried: an unreachable
//! endpoint until `timeouts.discovery`, a missing or stale signature for a short grace
//! while the bootstrap signer catches up with a new token; a wrong CA pin or changed content
//! fail at once.

mod file;
mod token;

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::config::CaCertHash;
use crate::config::token::{BootstrapTokenString, TokenId};
use crate::contract::diagnostics::{Diagnostic, hint};
use crate::contract::step::PhaseError;
use crate::domain::bootstrap_client::{BootstrapClientError, RequestCounter};
use crate::domain::pki::CertInfo;

pub use file::{DownloadError, check_local_file, discover_file};
pub use token::discover_token;

/// What discovery establishes: where the API server is and which CA vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTrust {
    /// `https://host:port`: the discovery endpoint (token discovery, as kubeadm uses it), or
    /// the discovery file's server.
    pub server: String,
    /// The CA bundle as PEM, as ca.crt and the kubeconfigs get it.
    pub ca_pem: Vec<u8>,
    /// The same certificates, DER, for TLS verification.
    pub ca_der: Vec<Vec<u8>>,
    /// The CA's pin (of the first certificate), as `--discovery-token-ca-cert-hash` takes it.
    pub ca_hash: CaCertHash,
    /// A bootstrap token found in the discovery file's user, when it has one.
    pub file_token: Option<BootstrapTokenString>,
}

/// How long and how often discovery retries what may heal by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// `timeouts.discovery`: the whole budget, for an endpoint that does not answer yet.
    pub timeout: Duration,
    /// Between attempts; kubeadm waits 5 s, a second is plenty for a local API server.
    pub interval: Duration,
    /// How long a missing or mismatching signature is retried while the signer is evidently
    /// running (other tokens are signed): it adds a new token's signature (and re-signs a
    /// changed kubeconfig) within moments, while an unknown, expired or deleted token never
    /// gets one — waiting the full timeout for it is kubeadm's "join silently stuck"
    /// (kubernetes#86936). With no signature at all, the signer has not run yet (the
    /// controller-manager is starting) and discovery waits up to `timeout`.
    pub signer_grace: Duration,
}

impl Patience {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            interval: Duration::from_secs(1),
            signer_grace: Duration::from_secs(5).min(timeout),
        }
    }

    /// The bound on one request: a request may not outlast the whole budget.
    fn per_request(&self) -> Duration {
        self.timeout
            .clamp(Duration::from_secs(1), Duration::from_secs(10))
    }
}

/// Why discovery failed; each cause its own variant, each message what was seen.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "{endpoint}: unreachable: no answer after {attempts} attempt(s) in {waited:?} (timeouts.discovery {timeout:?}); last error: {last}"
    )]
    Unreachable {
        endpoint: String,
        attempts: u32,
        waited: Duration,
        timeout: Duration,
        last: String,
    },
    #[error(
        "{endpoint}: cluster-info has no signature for token id {id}: the cluster does not know this token (unknown, expired or deleted), or its bootstrap signer is not running"
    )]
    NoSignature { endpoint: String, id: TokenId },
    #[error(
        "{endpoint}: cluster-info's signature for token id {id} does not match its content: the token secret is wrong, or cluster-info was altered ({detail})"
    )]
    SignatureMismatch {
        endpoint: String,
        id: TokenId,
        detail: String,
    },
    #[error(
        "{endpoint}: the cluster CA's public key hash is {seen}, which matches none of --discovery-token-ca-cert-hash {}",
        pinned.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    CaHashMismatch {
        endpoint: String,
        seen: CaCertHash,
        pinned: Vec<CaCertHash>,
    },
    #[error(
        "{endpoint}: cluster-info changed between the unverified fetch and the fetch verified with its CA"
    )]
    ContentChanged { endpoint: String },
    #[error("{endpoint}: the fetch of cluster-info verified with its CA failed: {message}")]
    VerifiedFetch { endpoint: String, message: String },
    #[error("{endpoint}: ConfigMap kube-public/cluster-info does not exist")]
    NoClusterInfo { endpoint: String },
    #[error("{endpoint}: reading cluster-info anonymously was refused: {message}")]
    Refused { endpoint: String, message: String },
    #[error("{origin}: {problem}")]
    Invalid { origin: String, problem: String },
    /// No client could be made for the endpoint the token or the file names.
    #[error("{origin}: {source}")]
    Client {
        origin: String,
        #[source]
        source: BootstrapClientError,
    },
    /// `--discovery-file https://…` could not be fetched (server unverified, unreachable, …).
    #[error("{origin}: cannot download it: {source}")]
    Download {
        origin: String,
        #[source]
        source: file::DownloadError,
    },
}

impl Diagnostic for DiscoveryError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        let s = hint;
        match self {
            Self::Unreachable { .. } => s(
                "check the endpoint's host:port and that its API server runs and is reachable from here; raise timeouts.discovery to wait longer",
            ),
            Self::NoSignature { .. } => s(
                "make a new token on a control-plane node (`kubestrap token create --print-join-command`) and check that kube-controller-manager runs with --controllers including bootstrapsigner",
            ),
            Self::SignatureMismatch { .. } => s(
                "check the token against `kubestrap token list` on a control-plane node; if it is right, something between this node and the endpoint altered cluster-info",
            ),
            Self::CaHashMismatch { .. } => s(
                "take the hash from `kubestrap token create --print-join-command` on a control-plane node; if the hash is right, this endpoint is not your cluster",
            ),
            Self::ContentChanged { .. } | Self::VerifiedFetch { .. } => s(
                "cluster-info was modified during discovery, or something intercepts the connection: run join again, and check the endpoint",
            ),
            Self::NoClusterInfo { .. } => s(
                "run `kubestrap init phase bootstrap-token` on a control-plane node; it publishes cluster-info",
            ),
            Self::Refused { .. } => s(
                "the API server must allow anonymous requests (--anonymous-auth) and Role/RoleBinding kubeadm:bootstrap-signer-clusterinfo must exist in kube-public (`kubestrap init phase bootstrap-token`)",
            ),
            Self::Download { .. } => s(
                "the URL's server must be reachable and present a certificate this host's trust roots accept (the system CA store, or the file SSL_CERT_FILE names); or copy the file to this node and pass its path",
            ),
            Self::Invalid { .. } | Self::Client { .. } => None,
        }
    }
}

impl From<DiscoveryError> for PhaseError {
    fn from(e: DiscoveryError) -> Self {
        PhaseError::Failed {
            message: format!("[discovery] {e}"),
            hint: e.hint().map(Cow::into_owned),
        }
    }
}

/// A cluster's endpoint and CA read from a kubeconfig (cluster-info's or a discovery file's).
struct KubeconfigCluster {
    server: String,
    ca_pem: Vec<u8>,
    token: Option<String>,
}

/// The server and CA certificate hashes of cluster-info's kubeconfig, read as token discovery
/// reads it (inline CA only). Public as the edge the `cluster_info` fuzz target drives.
pub fn parse_cluster_info(yaml: &str) -> Result<(String, Vec<CaCertHash>), DiscoveryError> {
    let origin = "cluster-info";
    let cluster = kubeconfig_cluster(origin, yaml, CaSource::InlineOnly)?;
    let certs = ca_certificates(origin, &cluster.ca_pem)?;
    Ok((cluster.server, certs.into_iter().map(|(_, h)| h).collect()))
}

/// Where a kubeconfig's CA may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaSource {
    /// Only `certificate-authority-data`: cluster-info comes from the network, and a
    /// `certificate-authority` path in it would make this node read a file an attacker chose.
    InlineOnly,
    /// A local discovery file may also name a CA file, as kubectl allows.
    InlineOrFile,
}

/// The current context's cluster of a kubeconfig, or its only cluster (cluster-info has one
/// unnamed cluster and no contexts); errors name `origin` and never quote the file.
fn kubeconfig_cluster(
    origin: &str,
    yaml: &str,
    ca_source: CaSource,
) -> Result<KubeconfigCluster, DiscoveryError> {
    let bad = |problem: &str| DiscoveryError::Invalid {
        origin: origin.to_string(),
        problem: problem.to_string(),
    };
    let kc = kube::config::Kubeconfig::from_yaml(yaml).map_err(|_| {
        bad("cannot parse it as a kubeconfig (YAML with clusters, users and contexts)")
    })?;
    let context = kc
        .current_context
        .as_deref()
        .filter(|c| !c.is_empty())
        .and_then(|name| kc.contexts.iter().find(|c| c.name == name))
        .and_then(|c| c.context.clone());
    let named = match &context {
        Some(ctx) => kc.clusters.iter().find(|c| c.name == ctx.cluster),
        None => kc.clusters.first(),
    };
    let cluster = named.and_then(|c| c.cluster.as_ref()).ok_or_else(|| {
        bad("it names no cluster: expected a clusters entry with an https:// server and its CA")
    })?;
    let server = cluster
        .server
        .clone()
        .filter(|s| s.starts_with("https://"))
        .ok_or_else(|| bad("its cluster has no https:// server"))?;
    let ca_pem = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(data), _) => STANDARD
            .decode(data.trim())
            .map_err(|_| bad("certificate-authority-data is not base64"))?,
        (None, Some(_)) if ca_source == CaSource::InlineOnly => {
            return Err(bad(
                "its cluster names a certificate-authority file; only certificate-authority-data is accepted here",
            ));
        }
        (None, Some(path)) => std::fs::read(path).map_err(|e| {
            bad(&format!(
                "cannot read its certificate-authority file {path}: {e}"
            ))
        })?,
        (None, None) => return Err(bad("its cluster has no certificate-authority(-data)")),
    };
    let user = context.as_ref().and_then(|ctx| {
        kc.auth_infos
            .iter()
            .find(|a| a.name == ctx.user.as_deref().unwrap_or_default())
    });
    let token = user
        .and_then(|u| u.auth_info.as_ref())
        .and_then(|a| a.token.as_ref())
        .map(|t| secrecy::ExposeSecret::expose_secret(t).to_string());
    Ok(KubeconfigCluster {
        server,
        ca_pem,
        token,
    })
}

/// The CERTIFICATE blocks of a PEM bundle (DER) with the pin of each.
fn ca_certificates(
    origin: &str,
    ca_pem: &[u8],
) -> Result<Vec<(Vec<u8>, CaCertHash)>, DiscoveryError> {
    let bad = |problem: String| DiscoveryError::Invalid {
        origin: origin.to_string(),
        problem,
    };
    let text =
        std::str::from_utf8(ca_pem).map_err(|_| bad("the CA data is not PEM text".to_string()))?;
    let blocks = pem::parse_many(text).map_err(|e| bad(format!("the CA data is not PEM: {e}")))?;
    let mut out = Vec::new();
    for block in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
        let info = CertInfo::from_der(std::path::Path::new(origin), block.contents())
            .map_err(|e| bad(e.to_string()))?;
        let hash = CaCertHash::from_digest(Sha256::digest(&info.spki_der).into());
        out.push((block.contents().to_vec(), hash));
    }
    if out.is_empty() {
        return Err(bad("the CA data holds no PEM CERTIFICATE".to_string()));
    }
    Ok(out)
}

fn trust(
    server: String,
    ca_pem: Vec<u8>,
    certs: Vec<(Vec<u8>, CaCertHash)>,
    file_token: Option<BootstrapTokenString>,
) -> ClusterTrust {
    let ca_hash = certs[0].1;
    ClusterTrust {
        server,
        ca_pem,
        ca_der: certs.into_iter().map(|(der, _)| der).collect(),
        ca_hash,
        file_token,
    }
}

/// Discovery done at most once per run, when the first phase needs the cluster, and shared by
/// every later phase (kubeadm's `TLSBootstrapCfg`). The shared [`RequestCounter`] counts every
/// request the join's clients make.
pub struct ClusterDiscovery {
    method: crate::config::DiscoveryMethod,
    patience: Patience,
    requests: RequestCounter,
    found: std::sync::OnceLock<ClusterTrust>,
}

impl ClusterDiscovery {
    pub fn new(method: crate::config::DiscoveryMethod, patience: Patience) -> Self {
        Self {
            method,
            patience,
            requests: RequestCounter::default(),
            found: std::sync::OnceLock::new(),
        }
    }

    pub fn requests(&self) -> &RequestCounter {
        &self.requests
    }

    pub fn method(&self) -> &crate::config::DiscoveryMethod {
        &self.method
    }

    /// The cluster's endpoint and CA, discovered on first use.
    pub async fn cluster(
        &self,
        progress: &(dyn Fn(String) + Sync),
    ) -> Result<&ClusterTrust, DiscoveryError> {
        if let Some(found) = self.found.get() {
            return Ok(found);
        }
        let found = match &self.method {
            crate::config::DiscoveryMethod::BootstrapToken(d) => {
                discover_token(d, &self.patience, &self.requests, progress).await?
            }
            crate::config::DiscoveryMethod::File { kubeconfig_path } => {
                discover_file(kubeconfig_path, &self.patience, &self.requests, progress).await?
            }
        };
        Ok(self.found.get_or_init(|| found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_CA_FILE: &str = "apiVersion: v1
kind: Config
clusters:
- name: ''
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: /etc/shadow
contexts: null
users: null
";

    /// cluster-info is fetched from the network: a CA *path* in it must not make the node
    /// read a local file; a discovery file the operator gave may name one.
    #[test]
    fn only_a_local_discovery_file_may_name_a_ca_file() {
        let Err(err) = kubeconfig_cluster("cluster-info", WITH_CA_FILE, CaSource::InlineOnly)
        else {
            panic!("a CA path in cluster-info was followed");
        };
        let msg = err.to_string();
        assert!(msg.contains("only certificate-authority-data"), "{msg}");
        assert!(!msg.contains("/etc/shadow"), "{msg}");

        let Err(err) = kubeconfig_cluster(
            "--discovery-file f",
            &WITH_CA_FILE.replace("/etc/shadow", "/nonexistent/ca.crt"),
            CaSource::InlineOrFile,
        ) else {
            panic!("a missing CA file was accepted");
        };
        assert!(err.to_string().contains("/nonexistent/ca.crt"), "{err}");
    }
}
