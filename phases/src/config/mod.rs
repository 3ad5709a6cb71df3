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
pub mod images;
mod render;
mod secret;
pub mod stored;
mod values;
mod wire;

pub mod kubernetes_version;
pub mod node_name;
pub mod release;
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
pub use release::{ConfigApi, KubeletClientAuthorization, Release};
pub use secret::Secret;
pub use values::{
    AbsPath, CaCertHash, CertificateKey, CriSocket, DEFAULT_CRI_SOCKET, DnsDomain,
    EncryptionAlgorithm, HostPathType, ImagePullPolicy, TaintEffect, TlsBootstrap,
    UnknownTlsBootstrap, ValueError,
};

/// `kubestrap init` flags as typed by the user; validated by [`load_init`] with the same
/// rules (and errors naming the flag) as the file's fields. The token and certificate key are
/// [`Secret`]s: `Debug` shows that they are given, never their value.
///
/// The one declaration of these flags: with the `clap` feature (the binary's) they are also
/// the command line's, each field's doc comment its `--help` text, so the CLI and the
/// configuration cannot drift and no field is copied from a CLI struct by hand. The flags are
/// `global` so that `init phase certs all --cert-dir …` takes them after the phase name too.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct InitFlags {
    /// Phases to skip, with their children (e.g. `addon/kube-proxy,certs`).
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_delimiter = ',', value_name = "PHASES")
    )]
    pub skip_phases: Vec<String>,
    /// Preflight checks whose errors become warnings (names as printed, case-insensitive, or `all`).
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_delimiter = ',', value_name = "CHECKS")
    )]
    pub ignore_preflight_errors: Vec<String>,
    /// This node's name (default: the hostname).
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "NAME"))]
    pub node_name: Option<String>,
    /// The CRI socket (`unix:///…`) of this node's container runtime.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "SOCKET"))]
    pub cri_socket: Option<String>,
    /// kubeadm's directory of patches (also `--experimental-patches`, its name up to v1.22).
    /// kubestrap does not apply patches yet: naming a directory is an error.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "DIR",
            alias = "experimental-patches"
        )
    )]
    pub patches: Option<String>,
    /// The IP address the API server advertises it is listening on.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "IP"))]
    pub apiserver_advertise_address: Option<String>,
    /// The port the API server binds to.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "PORT"))]
    pub apiserver_bind_port: Option<u16>,
    /// Extra Subject Alternative Names (IPs or DNS names) for the API server's certificate.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_delimiter = ',', value_name = "SANS")
    )]
    pub apiserver_cert_extra_sans: Vec<String>,
    /// A stable address (host[:port]) for all control-plane nodes.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "HOST[:PORT]"))]
    pub control_plane_endpoint: Option<String>,
    /// The Kubernetes version of the control plane.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "VERSION"))]
    pub kubernetes_version: Option<String>,
    /// The pod network's CIDR; nodes get pod CIDRs from it.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "CIDR"))]
    pub pod_network_cidr: Option<String>,
    /// The service network's CIDR.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "CIDR"))]
    pub service_cidr: Option<String>,
    /// The cluster's DNS domain.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "DOMAIN"))]
    pub service_dns_domain: Option<String>,
    /// Where certificates are kept (under --root).
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "DIR"))]
    pub cert_dir: Option<PathBuf>,
    /// The bootstrap token to create (`[a-z0-9]{6}.[a-z0-9]{16}`); generated when absent.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "TOKEN"))]
    pub token: Option<Secret>,
    /// How long the bootstrap token lives (`0` for ever).
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "DURATION"))]
    pub token_ttl: Option<String>,
    /// Upload the control-plane certificates to the kubeadm-certs Secret.
    #[cfg_attr(feature = "clap", arg(long, global = true))]
    pub upload_certs: bool,
    /// The key (64 hex characters) that encrypts the uploaded certificates.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "KEY"))]
    pub certificate_key: Option<Secret>,
    /// `--dry-run` (ORed with the file's `dryRun`): a global flag of the command line, set
    /// from it.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub dry_run: bool,
}

/// `kubestrap join` flags as typed; the tokens and certificate key are [`Secret`]s. Like
/// [`InitFlags`], the one declaration of these flags, the command line's with `clap`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct JoinFlags {
    /// The API server endpoint to join through (`host:port`).
    #[cfg_attr(feature = "clap", arg(value_name = "ENDPOINT"))]
    pub endpoint: Option<String>,
    /// Phases to skip, with their children (e.g. `addon/kube-proxy,certs`).
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_delimiter = ',', value_name = "PHASES")
    )]
    pub skip_phases: Vec<String>,
    /// Preflight checks whose errors become warnings (names as printed, case-insensitive, or `all`).
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_delimiter = ',', value_name = "CHECKS")
    )]
    pub ignore_preflight_errors: Vec<String>,
    /// This node's name (default: the hostname).
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "NAME"))]
    pub node_name: Option<String>,
    /// The CRI socket (`unix:///…`) of this node's container runtime.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "SOCKET"))]
    pub cri_socket: Option<String>,
    /// kubeadm's directory of patches (also `--experimental-patches`, its name up to v1.22).
    /// kubestrap does not apply patches yet: naming a directory is an error.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "DIR",
            alias = "experimental-patches"
        )
    )]
    pub patches: Option<String>,
    /// The bootstrap token, for both discovery and TLS bootstrap.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "TOKEN"))]
    pub token: Option<Secret>,
    /// The token for discovery only.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "TOKEN"))]
    pub discovery_token: Option<Secret>,
    /// The token for TLS bootstrap only.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "TOKEN"))]
    pub tls_bootstrap_token: Option<Secret>,
    /// Pin the cluster CA: `sha256:<hex>` of its public key (repeatable).
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "discovery-token-ca-cert-hash",
            global = true,
            value_name = "HASH"
        )
    )]
    pub discovery_token_ca_cert_hashes: Vec<String>,
    /// Trust the cluster CA without pinning it.
    #[cfg_attr(feature = "clap", arg(long, global = true))]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    /// Discover the cluster from a kubeconfig file or https URL instead of a token.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "PATH|URL"))]
    pub discovery_file: Option<String>,
    /// Join as another control-plane node.
    #[cfg_attr(feature = "clap", arg(long, global = true))]
    pub control_plane: bool,
    /// The key that decrypts the uploaded control-plane certificates.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "KEY"))]
    pub certificate_key: Option<Secret>,
    /// The address this control-plane node's API server advertises.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "IP"))]
    pub apiserver_advertise_address: Option<String>,
    /// The port this control-plane node's API server binds to.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_name = "PORT"))]
    pub apiserver_bind_port: Option<u16>,
    /// Who gets the node's client certificate: the kubelet from bootstrap-kubelet.conf
    /// (`kubelet`, kubeadm's way), or kubestrap itself during kubelet-start (`builtin`: for
    /// agents other than the kubelet, and nodes without one).
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_name = "MODE", default_value = "kubelet")
    )]
    pub tls_bootstrap: TlsBootstrap,
    /// `--dry-run` (ORed with the file's `dryRun`): a global flag of the command line, set
    /// from it.
    #[cfg_attr(feature = "clap", arg(skip))]
    pub dry_run: bool,
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

    /// The `data` of ConfigMap kube-system/kubeadm-config, as kubeadm of the cluster's release
    /// writes it ([`stored`]); holds no secrets.
    pub fn kubeadm_config_data(&self) -> std::collections::BTreeMap<String, String> {
        stored::kubeadm_config_data(self)
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

/// The ClusterConfiguration of `file` (kubeadm's defaults without one) with `flags` applied,
/// for commands that need only the cluster's settings (`config images list`).
pub fn load_cluster(file: Option<&Path>, flags: &InitFlags) -> Result<ClusterConfig, ConfigError> {
    let docs = match file {
        Some(path) => document::read_documents(path)?,
        None => Vec::new(),
    };
    build::cluster_with_flags(docs, flags)
}

/// The bootstrap tokens `file`'s InitConfiguration lists (one default token when it lists
/// none), defaulted and validated as [`load_init`] does them, for `token create --config`;
/// errors name the file, document and field.
pub fn load_bootstrap_tokens(file: &Path) -> Result<Vec<BootstrapToken>, ConfigError> {
    build::tokens_only(file, document::read_documents(file)?)
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

/// Parses the ClusterConfiguration stored under the `ClusterConfiguration` key of ConfigMap
/// kube-system/kubeadm-config, in any form a supported kubeadm wrote ([`stored`]); `origin`
/// names the source in errors.
pub fn parse_cluster_configuration(
    origin: &Path,
    text: &str,
) -> Result<ClusterConfig, ConfigError> {
    stored::parse_cluster_configuration(origin, text)
}

/// `value` as Go's sigs.k8s.io/yaml writes it (keys sorted, strings quoted only where YAML
/// would read them as something else): the YAML kubeadm prints, for output that mirrors it.
pub fn to_go_yaml(value: &serde_json::Value) -> String {
    render::emit(value)
}

/// What `kubeadm config print init-defaults` prints (v1beta4), with kubeadm's placeholders.
pub fn init_defaults_yaml() -> String {
    render::init_defaults()
}

/// What `kubeadm config print join-defaults` prints (v1beta4), with kubeadm's placeholders.
pub fn join_defaults_yaml() -> String {
    render::join_defaults()
}
