//! The cluster's public-key infrastructure, shared by the `certs/*` and `kubeconfig/*` phases
//! and the `certs` / `kubeconfig user` commands.
//!
//! [`PkiSpec`] is the typed slice of the configuration the PKI needs (the lead builds it from
//! the kubeadm config); [`PkiSession`] holds what one run shares between phases: a
//! [`KeyPool`] that generates keys in the background from the moment the context exists (RSA
//! key generation dominates the time of `certs all`), and the parsed certificate authorities,
//! so that no phase parses `ca.crt`/`ca.key` again when the content did not change.

mod authority;
mod catalog;
mod cert;
pub mod external;
pub mod files;
mod keys;
pub mod kubeconfig;
mod subject;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use authority::{Authority, PkiSession};
pub(crate) use authority::{read_cert, read_key};
pub use catalog::{CertName, cert_profile};
pub use cert::{CertInfo, CertProfile, Usage, issue, self_signed_ca};
pub use keys::{EncryptionAlgorithm, KeyPool, PrivateKey};

use crate::config::{KubernetesVersion, Release};
use crate::contract::host::FsError;
use crate::contract::step::PhaseError;

/// kubeadm's backdating of `NotBefore`, so that nodes with slightly late clocks accept a
/// certificate made a moment ago.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Everything the PKI derives certificates and kubeconfigs from. Paths are host paths already
/// resolved under the node root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PkiSpec {
    /// `certificatesDir` (`/etc/kubernetes/pki`).
    pub cert_dir: PathBuf,
    /// Where the kubeconfig files live (`/etc/kubernetes`).
    pub kubeconfig_dir: PathBuf,
    pub node_name: String,
    /// `localAPIEndpoint.advertiseAddress`.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort`.
    pub bind_port: u16,
    pub control_plane_endpoint: Option<ControlPlaneEndpoint>,
    /// The first address of the service CIDR (10.96.0.1 for 10.96.0.0/12).
    pub apiserver_service_ip: IpAddr,
    /// `networking.dnsDomain` (`cluster.local`).
    pub dns_domain: String,
    /// `apiServer.certSANs`: IP addresses or DNS names.
    pub apiserver_cert_sans: Vec<String>,
    /// `etcd.local.serverCertSANs`.
    pub etcd_server_cert_sans: Vec<String>,
    /// `etcd.local.peerCertSANs`.
    pub etcd_peer_cert_sans: Vec<String>,
    pub etcd: EtcdTopology,
    pub key_algorithm: EncryptionAlgorithm,
    /// `caCertificateValidityPeriod` (10 years).
    pub ca_validity: Duration,
    /// `certificateValidityPeriod` (1 year).
    pub cert_validity: Duration,
    /// `clusterName` (`kubernetes`).
    pub cluster_name: String,
    /// `kubernetesVersion`: which certificate and kubeconfig set that release's kubeadm makes.
    pub kubernetes_version: KubernetesVersion,
}

/// `controlPlaneEndpoint`: a DNS name or IP, with an optional port (the bind port otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlPlaneEndpoint {
    pub host: String,
    pub port: Option<u16>,
}

/// Whether this cluster runs its own etcd: an external etcd brings its own certificates, so
/// kubeadm makes none of the etcd ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EtcdTopology {
    Local,
    External,
}

/// One year, kubeadm's default leaf validity.
pub const DEFAULT_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Ten years, kubeadm's default CA validity.
pub const DEFAULT_CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

impl PkiSpec {
    /// `https://host:port` for a host that may be an IPv6 literal.
    fn url(host: &str, port: u16) -> String {
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("https://[{v6}]:{port}"),
            _ => format!("https://{host}:{port}"),
        }
    }

    /// The API server of this node (`https://<advertise>:<bindPort>`): what the
    /// controller-manager and scheduler talk to.
    pub fn local_api_url(&self) -> String {
        Self::url(&self.advertise_address.to_string(), self.bind_port)
    }

    pub fn release(&self) -> Release {
        Release::of(&self.kubernetes_version)
    }

    /// The cluster's API endpoint: `controlPlaneEndpoint` when set, else the local one.
    pub fn cluster_api_url(&self) -> String {
        match &self.control_plane_endpoint {
            Some(ep) => Self::url(&ep.host, ep.port.unwrap_or(self.bind_port)),
            None => self.local_api_url(),
        }
    }
}

/// The contract between the PKI phases and the context they run in.
pub trait PkiContext: Sync {
    fn pki(&self) -> &PkiSpec;
    fn pki_session(&self) -> &PkiSession;
}

/// Why a PKI operation failed; every variant names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error(transparent)]
    Fs(#[from] FsError),

    /// A file exists but cannot be used: unparsable PEM, a key that does not match its cert.
    #[error("{}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },

    /// A file exists and is valid, but is not what the configuration asks for.
    #[error("{}: {problem}", path.display())]
    Conflict {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// A file is needed but cannot be made here: its CA is managed outside (no CA key).
    #[error("{}: {problem}", path.display())]
    ExternalCa {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// A file the operation needs does not exist.
    #[error("{}: {problem}", path.display())]
    Missing {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// External-CA mode: several files that only an external CA can provide are missing or
    /// invalid. Reported together so that one run names all of them.
    #[error("{} files that an external CA must provide are missing or invalid:{}", problems.len(), list_with_fixes(problems))]
    ExternalCaFiles { problems: Vec<PkiError> },

    /// The configuration asks for something the PKI cannot express.
    #[error("{0}")]
    Unsupported(String),

    /// Key generation or signing failed.
    #[error("cryptography failed: {0}")]
    Crypto(String),
}

impl PkiError {
    /// What the user can do about it, when the error says.
    pub fn fix(&self) -> Option<&str> {
        match self {
            Self::Conflict { fix, .. }
            | Self::ExternalCa { fix, .. }
            | Self::Missing { fix, .. } => Some(fix),
            _ => None,
        }
    }
}

/// One line per problem, each followed by its fix.
fn list_with_fixes(problems: &[PkiError]) -> String {
    problems
        .iter()
        .map(|p| match p.fix() {
            Some(fix) => format!("\n  - {p}\n    fix: {fix}"),
            None => format!("\n  - {p}"),
        })
        .collect()
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Crypto(e.to_string())
    }
}

impl crate::contract::diagnostics::Diagnostic for PkiError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            PkiError::Fs(e) => e.hint(),
            PkiError::ExternalCaFiles { .. } => crate::contract::diagnostics::hint(
                "fix each file listed, then run again: `kubestrap certs generate-csr` writes a key and CSR for each certificate and kubeconfig, for the external CA to sign",
            ),
            other => other.fix().map(std::borrow::Cow::Borrowed),
        }
    }
}

/// A file error and a conflict keep their own variants (the engine and the tests tell them
/// apart); every other failure is its message and hint.
impl From<PkiError> for PhaseError {
    fn from(e: PkiError) -> Self {
        match e {
            PkiError::Fs(fs) => PhaseError::Fs(fs),
            PkiError::Conflict { path, problem, fix } => {
                PhaseError::Conflict { path, problem, fix }
            }
            other => PhaseError::from_diagnostic(&other),
        }
    }
}
