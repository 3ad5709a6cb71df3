//! kubeadm's file formats, field for field (`kubeadm.k8s.io/v1beta4` and `v1beta3`), as serde
//! types: unknown fields are rejected and every leaf is parsed into its domain type while
//! deserialising, so `serde_path_to_error` can name the exact field of a bad value.
//!
//! v1beta3 documents are converted to v1beta4 the way kubeadm's conversion functions do.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::address::{Endpoint, HostPort, SubjectAltName, SubnetList};
use super::duration::GoDuration;
use super::values::{
    AbsPath, CertificateKey, CriSocket, DnsDomain, EncryptionAlgorithm, HostPathType,
    ImagePullPolicy, TaintEffect,
};
use crate::config::kubernetes_version::KubernetesVersion;
use crate::config::node_name::NodeName;
use crate::config::token::{BootstrapTokenString, TokenGroup, TokenUsage};

/// Go leaves unset strings empty; treat `""` (and null) as absent, anything else must parse.
pub(crate) fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// An IP address, with the configuration's wording for errors.
fn opt_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<std::net::IpAddr>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => super::address::parse_ip(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// `bindPort` (Go int32; 0 means unset).
fn opt_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        None => Ok(None),
        Some(n) => super::values::Port::check(n)
            .map(|p| p.map(|p| p.0))
            .map_err(serde::de::Error::custom),
    }
}

/// A YAML scalar read as a string: v1beta3 extraArgs maps are `map[string]string`, but
/// kubeadm's own examples write `v: 4`, so numbers and booleans are taken as their text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub(super) struct ScalarString(pub String);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Self(s)),
            serde_json::Value::Number(n) => Ok(Self(n.to_string())),
            serde_json::Value::Bool(b) => Ok(Self(b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string value, got {other}"
            ))),
        }
    }
}

pub(super) mod v1beta4 {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct InitConfiguration {
        pub bootstrap_tokens: Option<Vec<BootstrapToken>>,
        pub dry_run: Option<bool>,
        pub node_registration: Option<NodeRegistrationOptions>,
        #[serde(rename = "localAPIEndpoint")]
        pub local_api_endpoint: Option<ApiEndpoint>,
        #[serde(default, deserialize_with = "opt")]
        pub certificate_key: Option<CertificateKey>,
        pub skip_phases: Option<Vec<String>>,
        pub patches: Option<Patches>,
        pub timeouts: Option<Timeouts>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ClusterConfiguration {
        pub etcd: Option<Etcd>,
        pub networking: Option<Networking>,
        #[serde(default, deserialize_with = "opt")]
        pub kubernetes_version: Option<KubernetesVersion>,
        #[serde(default, deserialize_with = "opt")]
        pub control_plane_endpoint: Option<HostPort>,
        pub api_server: Option<ApiServer>,
        pub controller_manager: Option<ControlPlaneComponent>,
        pub scheduler: Option<ControlPlaneComponent>,
        #[serde(rename = "dns")]
        pub dns: Option<Dns>,
        pub proxy: Option<Proxy>,
        #[serde(default, deserialize_with = "opt")]
        pub certificates_dir: Option<AbsPath>,
        pub image_repository: Option<String>,
        pub feature_gates: Option<BTreeMap<String, bool>>,
        pub cluster_name: Option<String>,
        #[serde(default, deserialize_with = "opt")]
        pub encryption_algorithm: Option<EncryptionAlgorithm>,
        #[serde(default, deserialize_with = "opt")]
        pub certificate_validity_period: Option<GoDuration>,
        #[serde(
            rename = "caCertificateValidityPeriod",
            default,
            deserialize_with = "opt"
        )]
        pub ca_certificate_validity_period: Option<GoDuration>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct JoinConfiguration {
        pub dry_run: Option<bool>,
        pub node_registration: Option<NodeRegistrationOptions>,
        #[serde(rename = "caCertPath", default, deserialize_with = "opt")]
        pub ca_cert_path: Option<AbsPath>,
        pub discovery: Option<Discovery>,
        pub control_plane: Option<JoinControlPlane>,
        pub skip_phases: Option<Vec<String>>,
        pub patches: Option<Patches>,
        pub timeouts: Option<Timeouts>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct BootstrapToken {
        #[serde(default, deserialize_with = "opt")]
        pub token: Option<BootstrapTokenString>,
        pub description: Option<String>,
        #[serde(default, deserialize_with = "opt")]
        pub ttl: Option<GoDuration>,
        /// RFC 3339 timestamp.
        pub expires: Option<String>,
        pub usages: Option<Vec<TokenUsage>>,
        pub groups: Option<Vec<TokenGroup>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct NodeRegistrationOptions {
        #[serde(default, deserialize_with = "opt")]
        pub name: Option<NodeName>,
        #[serde(rename = "criSocket", default, deserialize_with = "opt")]
        pub cri_socket: Option<CriSocket>,
        /// `None` (absent or null) means "the default for this node"; `Some([])` means none.
        pub taints: Option<Vec<Taint>>,
        pub kubelet_extra_args: Option<Vec<Arg>>,
        pub ignore_preflight_errors: Option<Vec<String>>,
        #[serde(default, deserialize_with = "opt")]
        pub image_pull_policy: Option<ImagePullPolicy>,
        pub image_pull_serial: Option<bool>,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Taint {
        pub key: String,
        pub value: Option<String>,
        pub effect: TaintEffect,
        pub time_added: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Arg {
        pub name: String,
        pub value: ScalarString,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct EnvVar {
        pub name: String,
        pub value: Option<String>,
        pub value_from: Option<serde_json::Value>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ApiEndpoint {
        #[serde(default, deserialize_with = "opt_ip")]
        pub advertise_address: Option<std::net::IpAddr>,
        #[serde(default, deserialize_with = "opt_port")]
        pub bind_port: Option<u16>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Patches {
        pub directory: Option<String>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Timeouts {
        #[serde(default, deserialize_with = "opt")]
        pub control_plane_component_health_check: Option<GoDuration>,
        #[serde(default, deserialize_with = "opt")]
        pub kubelet_health_check: Option<GoDuration>,
        #[serde(rename = "kubernetesAPICall", default, deserialize_with = "opt")]
        pub kubernetes_api_call: Option<GoDuration>,
        #[serde(rename = "etcdAPICall", default, deserialize_with = "opt")]
        pub etcd_api_call: Option<GoDuration>,
        #[serde(rename = "tlsBootstrap", default, deserialize_with = "opt")]
        pub tls_bootstrap: Option<GoDuration>,
        #[serde(default, deserialize_with = "opt")]
        pub discovery: Option<GoDuration>,
        #[serde(default, deserialize_with = "opt")]
        pub upgrade_manifests: Option<GoDuration>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Etcd {
        pub local: Option<LocalEtcd>,
        pub external: Option<ExternalEtcd>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct LocalEtcd {
        pub image_repository: Option<String>,
        pub image_tag: Option<ScalarString>,
        #[serde(default, deserialize_with = "opt")]
        pub data_dir: Option<AbsPath>,
        pub extra_args: Option<Vec<Arg>>,
        pub extra_envs: Option<Vec<EnvVar>>,
        #[serde(rename = "serverCertSANs")]
        pub server_cert_sans: Option<Vec<SubjectAltName>>,
        #[serde(rename = "peerCertSANs")]
        pub peer_cert_sans: Option<Vec<SubjectAltName>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ExternalEtcd {
        pub endpoints: Option<Vec<String>>,
        #[serde(rename = "caFile", default, deserialize_with = "opt")]
        pub ca_file: Option<AbsPath>,
        #[serde(default, deserialize_with = "opt")]
        pub cert_file: Option<AbsPath>,
        #[serde(default, deserialize_with = "opt")]
        pub key_file: Option<AbsPath>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Networking {
        #[serde(default, deserialize_with = "opt")]
        pub service_subnet: Option<SubnetList>,
        #[serde(default, deserialize_with = "opt")]
        pub pod_subnet: Option<SubnetList>,
        #[serde(rename = "dnsDomain", default, deserialize_with = "opt")]
        pub dns_domain: Option<DnsDomain>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ControlPlaneComponent {
        pub extra_args: Option<Vec<Arg>>,
        pub extra_volumes: Option<Vec<HostPathMount>>,
        pub extra_envs: Option<Vec<EnvVar>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ApiServer {
        pub extra_args: Option<Vec<Arg>>,
        pub extra_volumes: Option<Vec<HostPathMount>>,
        pub extra_envs: Option<Vec<EnvVar>>,
        #[serde(rename = "certSANs")]
        pub cert_sans: Option<Vec<SubjectAltName>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct HostPathMount {
        pub name: String,
        pub host_path: String,
        pub mount_path: String,
        pub read_only: Option<bool>,
        pub path_type: Option<HostPathType>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Dns {
        pub image_repository: Option<String>,
        pub image_tag: Option<ScalarString>,
        pub disabled: Option<bool>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Proxy {
        pub disabled: Option<bool>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Discovery {
        pub bootstrap_token: Option<BootstrapTokenDiscovery>,
        pub file: Option<FileDiscovery>,
        #[serde(rename = "tlsBootstrapToken", default, deserialize_with = "opt")]
        pub tls_bootstrap_token: Option<BootstrapTokenString>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct BootstrapTokenDiscovery {
        #[serde(default, deserialize_with = "opt")]
        pub token: Option<BootstrapTokenString>,
        #[serde(rename = "apiServerEndpoint", default, deserialize_with = "opt")]
        pub api_server_endpoint: Option<Endpoint>,
        #[serde(rename = "caCertHashes")]
        pub ca_cert_hashes: Option<Vec<super::super::values::CaCertHash>>,
        #[serde(rename = "unsafeSkipCAVerification")]
        pub unsafe_skip_ca_verification: Option<bool>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct FileDiscovery {
        pub kube_config_path: String,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct JoinControlPlane {
        #[serde(rename = "localAPIEndpoint")]
        pub local_api_endpoint: Option<ApiEndpoint>,
        #[serde(default, deserialize_with = "opt")]
        pub certificate_key: Option<CertificateKey>,
    }
}

pub(super) mod v1beta3 {
    //! Only the types that differ from v1beta4; the rest are shared.
    use super::v1beta4 as b4;
    use super::*;

    /// `extraArgs` as v1beta3 writes it: a map (sorted by name when converted, as kubeadm's
    /// conversion does).
    pub(crate) type ArgMap = BTreeMap<String, ScalarString>;

    fn args(map: Option<ArgMap>) -> Option<Vec<b4::Arg>> {
        map.map(|m| {
            m.into_iter()
                .map(|(name, value)| b4::Arg { name, value })
                .collect()
        })
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct InitConfiguration {
        pub bootstrap_tokens: Option<Vec<b4::BootstrapToken>>,
        pub node_registration: Option<NodeRegistrationOptions>,
        #[serde(rename = "localAPIEndpoint")]
        pub local_api_endpoint: Option<b4::ApiEndpoint>,
        #[serde(default, deserialize_with = "opt")]
        pub certificate_key: Option<CertificateKey>,
        pub skip_phases: Option<Vec<String>>,
        pub patches: Option<b4::Patches>,
    }

    impl InitConfiguration {
        pub(crate) fn into_v1beta4(self) -> b4::InitConfiguration {
            b4::InitConfiguration {
                bootstrap_tokens: self.bootstrap_tokens,
                dry_run: None,
                node_registration: self
                    .node_registration
                    .map(NodeRegistrationOptions::into_v1beta4),
                local_api_endpoint: self.local_api_endpoint,
                certificate_key: self.certificate_key,
                skip_phases: self.skip_phases,
                patches: self.patches,
                timeouts: None,
            }
        }
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ClusterConfiguration {
        pub etcd: Option<Etcd>,
        pub networking: Option<b4::Networking>,
        #[serde(default, deserialize_with = "opt")]
        pub kubernetes_version: Option<KubernetesVersion>,
        #[serde(default, deserialize_with = "opt")]
        pub control_plane_endpoint: Option<HostPort>,
        pub api_server: Option<ApiServer>,
        pub controller_manager: Option<ControlPlaneComponent>,
        pub scheduler: Option<ControlPlaneComponent>,
        #[serde(rename = "dns")]
        pub dns: Option<Dns>,
        #[serde(default, deserialize_with = "opt")]
        pub certificates_dir: Option<AbsPath>,
        pub image_repository: Option<String>,
        pub feature_gates: Option<BTreeMap<String, bool>>,
        pub cluster_name: Option<String>,
    }

    impl ClusterConfiguration {
        /// The v1beta4 document, plus `apiServer.timeoutForControlPlane`, which v1beta4 moved
        /// to InitConfiguration/JoinConfiguration `timeouts.controlPlaneComponentHealthCheck`.
        pub(crate) fn into_v1beta4(self) -> (b4::ClusterConfiguration, Option<GoDuration>) {
            let mut timeout = None;
            let api_server = self.api_server.map(|a| {
                timeout = a.timeout_for_control_plane;
                b4::ApiServer {
                    extra_args: args(a.extra_args),
                    extra_volumes: a.extra_volumes,
                    extra_envs: None,
                    cert_sans: a.cert_sans,
                }
            });
            let cluster = b4::ClusterConfiguration {
                etcd: self.etcd.map(|e| b4::Etcd {
                    local: e.local.map(|l| b4::LocalEtcd {
                        image_repository: l.image_repository,
                        image_tag: l.image_tag,
                        data_dir: l.data_dir,
                        extra_args: args(l.extra_args),
                        extra_envs: None,
                        server_cert_sans: l.server_cert_sans,
                        peer_cert_sans: l.peer_cert_sans,
                    }),
                    external: e.external,
                }),
                networking: self.networking,
                kubernetes_version: self.kubernetes_version,
                control_plane_endpoint: self.control_plane_endpoint,
                api_server,
                controller_manager: self
                    .controller_manager
                    .map(ControlPlaneComponent::into_v1beta4),
                scheduler: self.scheduler.map(ControlPlaneComponent::into_v1beta4),
                dns: self.dns.map(|d| b4::Dns {
                    image_repository: d.image_repository,
                    image_tag: d.image_tag,
                    disabled: None,
                }),
                proxy: None,
                certificates_dir: self.certificates_dir,
                image_repository: self.image_repository,
                feature_gates: self.feature_gates,
                cluster_name: self.cluster_name,
                encryption_algorithm: None,
                certificate_validity_period: None,
                ca_certificate_validity_period: None,
            };
            (cluster, timeout)
        }
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct JoinConfiguration {
        pub node_registration: Option<NodeRegistrationOptions>,
        #[serde(rename = "caCertPath", default, deserialize_with = "opt")]
        pub ca_cert_path: Option<AbsPath>,
        pub discovery: Option<Discovery>,
        pub control_plane: Option<b4::JoinControlPlane>,
        pub skip_phases: Option<Vec<String>>,
        pub patches: Option<b4::Patches>,
    }

    impl JoinConfiguration {
        pub(crate) fn into_v1beta4(self) -> b4::JoinConfiguration {
            let mut timeouts = None;
            let discovery = self.discovery.map(|d| {
                timeouts = d.timeout.map(|t| b4::Timeouts {
                    discovery: Some(t),
                    ..Default::default()
                });
                b4::Discovery {
                    bootstrap_token: d.bootstrap_token,
                    file: d.file,
                    tls_bootstrap_token: d.tls_bootstrap_token,
                }
            });
            b4::JoinConfiguration {
                dry_run: None,
                node_registration: self
                    .node_registration
                    .map(NodeRegistrationOptions::into_v1beta4),
                ca_cert_path: self.ca_cert_path,
                discovery,
                control_plane: self.control_plane,
                skip_phases: self.skip_phases,
                patches: self.patches,
                timeouts,
            }
        }
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct NodeRegistrationOptions {
        #[serde(default, deserialize_with = "opt")]
        pub name: Option<NodeName>,
        #[serde(rename = "criSocket", default, deserialize_with = "opt")]
        pub cri_socket: Option<CriSocket>,
        pub taints: Option<Vec<b4::Taint>>,
        pub kubelet_extra_args: Option<ArgMap>,
        pub ignore_preflight_errors: Option<Vec<String>>,
        #[serde(default, deserialize_with = "opt")]
        pub image_pull_policy: Option<ImagePullPolicy>,
    }

    impl NodeRegistrationOptions {
        fn into_v1beta4(self) -> b4::NodeRegistrationOptions {
            b4::NodeRegistrationOptions {
                name: self.name,
                cri_socket: self.cri_socket,
                taints: self.taints,
                kubelet_extra_args: args(self.kubelet_extra_args),
                ignore_preflight_errors: self.ignore_preflight_errors,
                image_pull_policy: self.image_pull_policy,
                image_pull_serial: None,
            }
        }
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Etcd {
        pub local: Option<LocalEtcd>,
        pub external: Option<b4::ExternalEtcd>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct LocalEtcd {
        pub image_repository: Option<String>,
        pub image_tag: Option<ScalarString>,
        #[serde(default, deserialize_with = "opt")]
        pub data_dir: Option<AbsPath>,
        pub extra_args: Option<ArgMap>,
        #[serde(rename = "serverCertSANs")]
        pub server_cert_sans: Option<Vec<SubjectAltName>>,
        #[serde(rename = "peerCertSANs")]
        pub peer_cert_sans: Option<Vec<SubjectAltName>>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ControlPlaneComponent {
        pub extra_args: Option<ArgMap>,
        pub extra_volumes: Option<Vec<b4::HostPathMount>>,
    }

    impl ControlPlaneComponent {
        fn into_v1beta4(self) -> b4::ControlPlaneComponent {
            b4::ControlPlaneComponent {
                extra_args: args(self.extra_args),
                extra_volumes: self.extra_volumes,
                extra_envs: None,
            }
        }
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct ApiServer {
        pub extra_args: Option<ArgMap>,
        pub extra_volumes: Option<Vec<b4::HostPathMount>>,
        #[serde(rename = "certSANs")]
        pub cert_sans: Option<Vec<SubjectAltName>>,
        #[serde(default, deserialize_with = "opt")]
        pub timeout_for_control_plane: Option<GoDuration>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Dns {
        pub image_repository: Option<String>,
        pub image_tag: Option<ScalarString>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct Discovery {
        pub bootstrap_token: Option<b4::BootstrapTokenDiscovery>,
        pub file: Option<b4::FileDiscovery>,
        #[serde(rename = "tlsBootstrapToken", default, deserialize_with = "opt")]
        pub tls_bootstrap_token: Option<BootstrapTokenString>,
        #[serde(default, deserialize_with = "opt")]
        pub timeout: Option<GoDuration>,
    }
}
