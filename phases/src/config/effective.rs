//! The effective configuration: kubeadm's defaults, the file and the flags merged and
//! validated. Every field is typed and set; phases never see raw strings or absent values
//! that have a default.

use super::values::TlsBootstrap;
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::address::{Endpoint, HostPort, SubjectAltName, SubnetList};
use super::duration::GoDuration;
use super::values::{
    AbsPath, CaCertHash, CertificateKey, CriSocket, DnsDomain, EncryptionAlgorithm, HostPathType,
    ImagePullPolicy, TaintEffect,
};
use crate::config::kubernetes_version::KubernetesVersion;
use crate::config::node_name::NodeName;
use crate::config::token::{BootstrapTokenString, TokenGroup, TokenUsage};

/// The effective configuration of `kubestrap init`: kubeadm's InitConfiguration and
/// ClusterConfiguration after defaults, file and flags, plus the component configs kept for
/// later phases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InitConfig {
    /// Tokens to create; never empty (one random token when none is given).
    pub bootstrap_tokens: Vec<BootstrapToken>,
    pub dry_run: bool,
    pub node_registration: NodeRegistration,
    pub local_api_endpoint: ApiEndpoint,
    /// Key for `upload-certs`; `None` means generate one when needed.
    pub certificate_key: Option<CertificateKey>,
    /// `--upload-certs` (a flag only; kubeadm has no config field for it).
    pub upload_certs: bool,
    pub skip_phases: Vec<String>,
    /// Lowercased, deduplicated, sorted; `all` stands alone.
    pub ignore_preflight_errors: Vec<String>,
    pub timeouts: Timeouts,
    pub cluster: ClusterConfig,
    /// `KubeletConfiguration` (kubelet.config.k8s.io/v1beta1) document, as given.
    pub kubelet_config: Option<serde_json::Value>,
    /// `KubeProxyConfiguration` (kubeproxy.config.k8s.io/v1alpha1) document, as given.
    pub kube_proxy_config: Option<serde_json::Value>,
    /// Things kubeadm would warn about (ignored documents, deprecated forms).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The effective configuration of `kubestrap join`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinConfig {
    pub dry_run: bool,
    pub node_registration: NodeRegistration,
    pub ca_cert_path: AbsPath,
    pub discovery: Discovery,
    /// `--tls-bootstrap` (no config field: kubeadm always leaves it to the kubelet).
    pub tls_bootstrap: TlsBootstrap,
    /// Present when joining as a control-plane node (`--control-plane`).
    pub control_plane: Option<JoinControlPlane>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
    pub timeouts: Timeouts,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// kubeadm's ClusterConfiguration, defaulted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterConfig {
    pub etcd: EtcdConfig,
    pub networking: Networking,
    pub kubernetes_version: KubernetesVersion,
    pub control_plane_endpoint: Option<HostPort>,
    pub api_server: ApiServer,
    pub controller_manager: ControlPlaneComponent,
    pub scheduler: ControlPlaneComponent,
    pub dns: Dns,
    /// `proxy.disabled`: skip the kube-proxy addon.
    pub proxy_disabled: bool,
    pub certificates_dir: AbsPath,
    pub image_repository: String,
    pub feature_gates: BTreeMap<String, bool>,
    pub cluster_name: String,
    pub encryption_algorithm: EncryptionAlgorithm,
    pub certificate_validity_period: GoDuration,
    pub ca_certificate_validity_period: GoDuration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Networking {
    pub service_subnet: SubnetList,
    pub pod_subnet: Option<SubnetList>,
    pub dns_domain: DnsDomain,
}

/// Where the cluster's etcd is: run by kubestrap on this node, or external.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EtcdConfig {
    Local(LocalEtcd),
    External(ExternalEtcd),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalEtcd {
    pub image: ImageMeta,
    pub data_dir: AbsPath,
    pub extra_args: Vec<Arg>,
    pub extra_envs: Vec<EnvVar>,
    pub server_cert_sans: Vec<SubjectAltName>,
    pub peer_cert_sans: Vec<SubjectAltName>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalEtcd {
    /// Client URLs (`https://` when a CA is given).
    pub endpoints: Vec<String>,
    pub tls: Option<ExternalEtcdTls>,
}

/// Client TLS material for an external etcd; kubeadm requires all three together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalEtcdTls {
    pub ca_file: AbsPath,
    pub cert_file: AbsPath,
    pub key_file: AbsPath,
}

/// Image override for components not released with Kubernetes (etcd, CoreDNS).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ImageMeta {
    pub image_repository: Option<String>,
    pub image_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ControlPlaneComponent {
    /// Extra `--name=value` flags, in order; duplicates allowed (v1beta4 semantics).
    pub extra_args: Vec<Arg>,
    pub extra_volumes: Vec<HostPathMount>,
    pub extra_envs: Vec<EnvVar>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ApiServer {
    pub component: ControlPlaneComponent,
    pub cert_sans: Vec<SubjectAltName>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Dns {
    pub image: ImageMeta,
    /// `dns.disabled`: skip the CoreDNS addon.
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arg {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
    /// A Kubernetes `EnvVarSource`, passed through to the static pod unchanged.
    pub value_from: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPathMount {
    pub name: String,
    pub host_path: AbsPath,
    pub mount_path: AbsPath,
    pub read_only: bool,
    pub path_type: HostPathType,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRegistration {
    pub name: NodeName,
    pub cri_socket: CriSocket,
    /// Effective taints. `None` only for a joining control plane that leaves them unset: its
    /// default is the cluster's release's ([`crate::config::Release::control_plane_taints`]),
    /// known after discovery. Init resolves the default when it loads the configuration.
    pub taints: Option<Vec<Taint>>,
    pub kubelet_extra_args: Vec<Arg>,
    pub image_pull_policy: ImagePullPolicy,
    pub image_pull_serial: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: TaintEffect,
}

impl Taint {
    /// `<key>:NoSchedule`, the form of kubeadm's control-plane taints
    /// ([`crate::config::Release::control_plane_taints`]).
    pub fn no_schedule(key: &str) -> Self {
        Taint {
            key: key.to_owned(),
            value: None,
            effect: TaintEffect::NoSchedule,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiEndpoint {
    pub advertise_address: IpAddr,
    pub bind_port: u16,
}

impl ApiEndpoint {
    /// `https://<address>:<port>`, an IPv6 address in brackets.
    pub fn url(&self) -> String {
        format!(
            "https://{}",
            std::net::SocketAddr::new(self.advertise_address, self.bind_port)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapToken {
    pub token: BootstrapTokenString,
    pub description: Option<String>,
    pub expiry: TokenExpiry,
    pub usages: Vec<TokenUsage>,
    pub groups: Vec<TokenGroup>,
}

/// When a token stops working: a TTL from creation (0 = never) or a fixed time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TokenExpiry {
    Ttl(GoDuration),
    #[serde(with = "time::serde::rfc3339")]
    Expires(time::OffsetDateTime),
}

/// kubeadm's v1beta4 `timeouts` (v1beta3's two timeouts are mapped in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    pub control_plane_component_health_check: GoDuration,
    pub kubelet_health_check: GoDuration,
    pub kubernetes_api_call: GoDuration,
    pub etcd_api_call: GoDuration,
    pub tls_bootstrap: GoDuration,
    pub discovery: GoDuration,
    pub upgrade_manifests: GoDuration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let m = |mins: u64| GoDuration::from_secs(mins * 60);
        Timeouts {
            control_plane_component_health_check: m(4),
            kubelet_health_check: m(4),
            kubernetes_api_call: m(1),
            etcd_api_call: m(2),
            tls_bootstrap: m(5),
            discovery: m(5),
            upgrade_manifests: m(5),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    pub method: DiscoveryMethod,
    /// Token for the kubelet's TLS bootstrap; defaults to the discovery token. May be absent
    /// with file discovery when the kubeconfig carries credentials.
    pub tls_bootstrap_token: Option<BootstrapTokenString>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum DiscoveryMethod {
    BootstrapToken(BootstrapTokenDiscovery),
    /// A kubeconfig path or https URL.
    File {
        kubeconfig_path: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapTokenDiscovery {
    pub token: BootstrapTokenString,
    pub api_server_endpoint: Endpoint,
    /// Any match passes; empty only with `unsafe_skip_ca_verification`.
    pub ca_cert_hashes: Vec<CaCertHash>,
    pub unsafe_skip_ca_verification: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JoinControlPlane {
    pub local_api_endpoint: ApiEndpoint,
    pub certificate_key: Option<CertificateKey>,
}
