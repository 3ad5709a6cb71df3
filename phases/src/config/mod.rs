//! kubeadm's configuration files (`kubeadm.k8s.io/v1beta3` and `v1beta4`), read, defaulted and
//! validated once, at the edge, into the effective configuration every phase uses.
//!
//! Order of precedence, as in kubeadm: built-in defaults < config file < flags. Values kubeadm
//! detects on the host (node name, advertise address) are only detected when neither the file
//! nor a flag gives them, so loading a complete configuration is deterministic.
//!
//! Stricter than kubeadm in one respect: kubeadm only warns about unknown fields, kubestrap
//! rejects them (a typo such as `kubenetesAPICall` otherwise silently keeps the default).

mod address;
mod build;
pub mod detect;
mod document;
mod duration;
mod effective;
mod error;
mod render;
mod secret;
mod values;
mod wire;

pub mod kubernetes_version;
pub mod node_name;
pub mod token;
pub mod well_known;

use std::path::{Path, PathBuf};

pub use crate::config::kubernetes_version::{
    DEFAULT_KUBERNETES_VERSION, KubernetesVersion, VersionError,
};
pub use address::{AddressError, Endpoint, Host, HostPort, SubjectAltName, SubnetList};
pub use duration::{DurationError, GoDuration};
pub use effective::*;
pub use error::{ConfigError, DocumentRef};
pub use secret::Secret;
pub use values::{
    AbsPath, CaCertHash, CertificateKey, CriSocket, DEFAULT_CRI_SOCKET, DnsDomain,
    EncryptionAlgorithm, HostPathType, ImagePullPolicy, TaintEffect, TlsBootstrap,
    UnknownTlsBootstrap, ValueError,
};

/// `kubestrap init` flags as typed by the user; validated by [`load_init`] with the same
/// rules (and errors naming the flag) as the file's fields. The token and certificate key are
/// [`Secret`]s: `Debug` shows that they are given, never their value.
#[derive(Debug, Clone, Default)]
pub struct InitFlags {
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub apiserver_cert_extra_sans: Vec<String>,
    pub control_plane_endpoint: Option<String>,
    pub kubernetes_version: Option<String>,
    pub node_name: Option<String>,
    pub pod_network_cidr: Option<String>,
    pub service_cidr: Option<String>,
    pub service_dns_domain: Option<String>,
    pub cert_dir: Option<PathBuf>,
    pub token: Option<Secret>,
    pub token_ttl: Option<String>,
    pub upload_certs: bool,
    pub certificate_key: Option<Secret>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
    /// `--cri-socket`.
    pub cri_socket: Option<String>,
    /// `--dry-run` (ORed with the file's `dryRun`).
    pub dry_run: bool,
    /// `--patches`: recognised so that it is refused by name (kubestrap applies no patches).
    pub patches: Option<String>,
}

/// `kubestrap join` flags as typed; the tokens and certificate key are [`Secret`]s.
#[derive(Debug, Clone, Default)]
pub struct JoinFlags {
    /// The positional `join <host:port>`.
    pub endpoint: Option<String>,
    pub token: Option<Secret>,
    pub discovery_token: Option<Secret>,
    pub tls_bootstrap_token: Option<Secret>,
    pub discovery_token_ca_cert_hashes: Vec<String>,
    pub discovery_token_unsafe_skip_ca_verification: bool,
    pub discovery_file: Option<String>,
    /// `--tls-bootstrap`: who completes the node's TLS bootstrap (a kubestrap flag).
    pub tls_bootstrap: TlsBootstrap,
    pub control_plane: bool,
    pub certificate_key: Option<Secret>,
    pub node_name: Option<String>,
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
    /// `--cri-socket`.
    pub cri_socket: Option<String>,
    /// `--dry-run` (ORed with the file's `dryRun`).
    pub dry_run: bool,
    /// `--patches`: recognised so that it is refused by name (kubestrap applies no patches).
    pub patches: Option<String>,
}

impl InitConfig {
    /// Phases disabled by `skipPhases` and `--skip-phases` (kubeadm names, `group/name`).
    pub fn skip_phases(&self) -> &[String] {
        &self.skip_phases
    }

    /// Preflight check names to report as warnings instead of errors (`all` ignores all).
    pub fn ignore_preflight_errors(&self) -> &[String] {
        &self.ignore_preflight_errors
    }

    /// `dryRun` / `--dry-run`.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The effective configuration as kubeadm v1beta4 YAML (InitConfiguration, then
    /// ClusterConfiguration, then component configs), for `config print` and inspection.
    /// Contains the bootstrap tokens and certificate key: treat the output as a secret.
    pub fn to_v1beta4_yaml(&self) -> String {
        render::init_yaml(self)
    }

    /// The ClusterConfiguration document alone, as stored in the kubeadm-config ConfigMap
    /// (`ClusterConfiguration` key); holds no secrets.
    pub fn cluster_configuration_yaml(&self) -> String {
        render::cluster_yaml(&self.cluster)
    }
}

impl JoinConfig {
    pub fn skip_phases(&self) -> &[String] {
        &self.skip_phases
    }

    pub fn ignore_preflight_errors(&self) -> &[String] {
        &self.ignore_preflight_errors
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The effective configuration as a kubeadm v1beta4 JoinConfiguration document.
    /// Contains tokens and the certificate key: treat the output as a secret.
    pub fn to_v1beta4_yaml(&self) -> String {
        render::join_yaml(self)
    }
}

/// Reads `file` (if any), applies kubeadm's defaults and then `flags`, and validates.
pub fn load_init(file: Option<&Path>, flags: &InitFlags) -> Result<InitConfig, ConfigError> {
    let docs = match file {
        Some(path) => document::read_documents(path)?,
        None => Vec::new(),
    };
    build::init(file, docs, flags)
}

/// Like [`load_init`] for `join`; `flags.endpoint` is the positional `<host:port>`.
pub fn load_join(file: Option<&Path>, flags: &JoinFlags) -> Result<JoinConfig, ConfigError> {
    let docs = match file {
        Some(path) => document::read_documents(path)?,
        None => Vec::new(),
    };
    build::join(file, docs, flags)
}

/// [`load_init`] over a file's contents already in memory (`path` only names it in errors):
/// the edge the fuzzer drives.
pub fn load_init_text(
    path: &Path,
    text: &str,
    flags: &InitFlags,
) -> Result<InitConfig, ConfigError> {
    build::init(Some(path), document::parse_documents(path, text)?, flags)
}

/// [`load_join`] over a file's contents already in memory.
pub fn load_join_text(
    path: &Path,
    text: &str,
    flags: &JoinFlags,
) -> Result<JoinConfig, ConfigError> {
    build::join(Some(path), document::parse_documents(path, text)?, flags)
}

/// Parses a ClusterConfiguration document (v1beta3 or v1beta4) as stored under the
/// `ClusterConfiguration` key of ConfigMap kube-system/kubeadm-config; `origin` names the
/// source in errors.
pub fn parse_cluster_configuration(
    origin: &Path,
    text: &str,
) -> Result<ClusterConfig, ConfigError> {
    build::cluster_only(origin, document::parse_documents(origin, text)?)
}

/// What `kubeadm config print init-defaults` prints (v1beta4), with kubeadm's placeholders.
pub fn init_defaults_yaml() -> String {
    render::init_defaults()
}

/// What `kubeadm config print join-defaults` prints (v1beta4), with kubeadm's placeholders.
pub fn join_defaults_yaml() -> String {
    render::join_defaults()
}
