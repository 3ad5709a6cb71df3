//! kubeadm's certificate list: names, files, issuers and the fields each must carry.

use std::path::PathBuf;

use serde::Serialize;

use super::cert::{CertProfile, Usage};
use super::{EtcdTopology, PkiSpec};
use crate::config::KubeletClientAuthorization;
use crate::contract::host::HostFs;

/// One certificate of the control plane, by its kubeadm phase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum CertName {
    Ca,
    Apiserver,
    ApiserverKubeletClient,
    FrontProxyCa,
    FrontProxyClient,
    EtcdCa,
    EtcdServer,
    EtcdPeer,
    EtcdHealthcheckClient,
    ApiserverEtcdClient,
}

impl From<CertName> for &'static str {
    fn from(n: CertName) -> Self {
        n.as_str()
    }
}

impl CertName {
    /// kubeadm's order (that of `init phase certs all`).
    pub const ALL: [CertName; 10] = [
        CertName::Ca,
        CertName::Apiserver,
        CertName::ApiserverKubeletClient,
        CertName::FrontProxyCa,
        CertName::FrontProxyClient,
        CertName::EtcdCa,
        CertName::EtcdServer,
        CertName::EtcdPeer,
        CertName::EtcdHealthcheckClient,
        CertName::ApiserverEtcdClient,
    ];

    pub const AUTHORITIES: [CertName; 3] = [CertName::Ca, CertName::FrontProxyCa, CertName::EtcdCa];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ca => "ca",
            Self::Apiserver => "apiserver",
            Self::ApiserverKubeletClient => "apiserver-kubelet-client",
            Self::FrontProxyCa => "front-proxy-ca",
            Self::FrontProxyClient => "front-proxy-client",
            Self::EtcdCa => "etcd-ca",
            Self::EtcdServer => "etcd-server",
            Self::EtcdPeer => "etcd-peer",
            Self::EtcdHealthcheckClient => "etcd-healthcheck-client",
            Self::ApiserverEtcdClient => "apiserver-etcd-client",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// The file name without extension, relative to the cert dir.
    pub fn file_base(self) -> &'static str {
        match self {
            Self::EtcdCa => "etcd/ca",
            Self::EtcdServer => "etcd/server",
            Self::EtcdPeer => "etcd/peer",
            Self::EtcdHealthcheckClient => "etcd/healthcheck-client",
            other => other.as_str(),
        }
    }

    pub fn cert_path(self, spec: &PkiSpec) -> PathBuf {
        spec.cert_dir.join(format!("{}.crt", self.file_base()))
    }

    pub fn key_path(self, spec: &PkiSpec) -> PathBuf {
        spec.cert_dir.join(format!("{}.key", self.file_base()))
    }

    /// The CA that signs this certificate; `None` for a CA itself.
    pub fn issuer(self) -> Option<CertName> {
        match self {
            Self::Ca | Self::FrontProxyCa | Self::EtcdCa => None,
            Self::Apiserver | Self::ApiserverKubeletClient => Some(Self::Ca),
            Self::FrontProxyClient => Some(Self::FrontProxyCa),
            Self::EtcdServer
            | Self::EtcdPeer
            | Self::EtcdHealthcheckClient
            | Self::ApiserverEtcdClient => Some(Self::EtcdCa),
        }
    }

    pub fn is_ca(self) -> bool {
        self.issuer().is_none()
    }

    /// The CA that signs this certificate, or the CA itself.
    pub fn authority(self) -> CertName {
        self.issuer().unwrap_or(self)
    }

    /// Whether this CA is managed outside the cluster: its certificate is on the node, its key
    /// is not. Nothing it signs can be made here, so no key is generated for any of it.
    pub fn is_external_ca(self, spec: &PkiSpec, fs: &HostFs) -> bool {
        self.is_ca() && fs.exists(&self.cert_path(spec)) && !fs.exists(&self.key_path(spec))
    }

    /// Whether this certificate exists in the given etcd topology: an external etcd brings
    /// its own CA and client certificate.
    pub fn applies_to(self, etcd: EtcdTopology) -> bool {
        etcd == EtcdTopology::Local || self.issuer() != Some(Self::EtcdCa) && self != Self::EtcdCa
    }

    /// One sentence for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            Self::Ca => {
                "Generates the self-signed Kubernetes CA (ca.crt, ca.key) that provisions identities for the other Kubernetes components"
            }
            Self::Apiserver => {
                "Generates the certificate for serving the Kubernetes API (apiserver.crt, apiserver.key)"
            }
            Self::ApiserverKubeletClient => {
                "Generates the certificate the API server uses to connect to kubelets (apiserver-kubelet-client.crt, .key)"
            }
            Self::FrontProxyCa => {
                "Generates the self-signed CA for the front proxy (front-proxy-ca.crt, front-proxy-ca.key)"
            }
            Self::FrontProxyClient => {
                "Generates the front proxy client certificate (front-proxy-client.crt, .key)"
            }
            Self::EtcdCa => {
                "Generates the self-signed CA for etcd's identities (etcd/ca.crt, etcd/ca.key)"
            }
            Self::EtcdServer => {
                "Generates the certificate for serving etcd (etcd/server.crt, etcd/server.key)"
            }
            Self::EtcdPeer => {
                "Generates the certificate for etcd nodes to talk to each other (etcd/peer.crt, etcd/peer.key)"
            }
            Self::EtcdHealthcheckClient => {
                "Generates the client certificate for liveness probes to check etcd (etcd/healthcheck-client.crt, .key)"
            }
            Self::ApiserverEtcdClient => {
                "Generates the certificate the API server uses to access etcd (apiserver-etcd-client.crt, .key)"
            }
        }
    }
}

impl std::fmt::Display for CertName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The subject, usages and SANs kubeadm gives `name` for this configuration.
pub fn cert_profile(name: CertName, spec: &PkiSpec) -> CertProfile {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match name {
        CertName::Ca => CertProfile::new("kubernetes", Usage::Ca),
        CertName::FrontProxyCa => CertProfile::new("front-proxy-ca", Usage::Ca),
        CertName::EtcdCa => CertProfile::new("etcd-ca", Usage::Ca),
        CertName::Apiserver => {
            let mut p = CertProfile::new("kube-apiserver", Usage::Server);
            p.san(&spec.node_name);
            for d in [
                "kubernetes".to_string(),
                "kubernetes.default".into(),
                "kubernetes.default.svc".into(),
                format!("kubernetes.default.svc.{}", spec.dns_domain),
            ] {
                p.san(&d);
            }
            p.ip(spec.apiserver_service_ip);
            p.ip(spec.advertise_address);
            if let Some(ep) = &spec.control_plane_endpoint {
                p.san(&ep.host);
            }
            for s in &spec.apiserver_cert_sans {
                p.san(s);
            }
            p
        }
        CertName::ApiserverKubeletClient => {
            let p = CertProfile::new("kube-apiserver-kubelet-client", Usage::Client);
            match KubeletClientAuthorization::of(&spec.kubernetes_version) {
                KubeletClientAuthorization::Group(group) => p.org(group),
                KubeletClientAuthorization::KubeletApiAdmin => p,
            }
        }
        CertName::FrontProxyClient => CertProfile::new("front-proxy-client", Usage::Client),
        CertName::EtcdServer | CertName::EtcdPeer => {
            let mut p = CertProfile::new(spec.node_name.clone(), Usage::ServerAndClient);
            p.san(&spec.node_name);
            p.san("localhost");
            p.ip(spec.advertise_address);
            p.ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
            p.ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
            let extra = if name == CertName::EtcdServer {
                &spec.etcd_server_cert_sans
            } else {
                &spec.etcd_peer_cert_sans
            };
            for s in extra {
                p.san(s);
            }
            p
        }
        CertName::EtcdHealthcheckClient | CertName::ApiserverEtcdClient => {
            let cn = if name == CertName::EtcdHealthcheckClient {
                "kube-etcd-healthcheck-client"
            } else {
                "kube-apiserver-etcd-client"
            };
            let p = CertProfile::new(cn, Usage::Client);
            match spec.release().etcd_client_group() {
                Some(group) => p.org(group),
                None => p,
            }
        }
    }
}
