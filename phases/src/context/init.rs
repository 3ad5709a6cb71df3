//! [`InitContext`]: what every `init` phase sees — the specs built once from the
//! InitConfiguration (by [`super::specs`]) and the traits each phase asks for.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::well_known::{KUBELET_PORT, KUBERNETES_DIR};
use crate::config::{
    self, CertificateKey, EtcdConfig, InitConfig, KubeletClientAuthorization, Release,
};
use crate::contract::host::{HostFs, NodeRoot};
use crate::domain::addressing::{dns_service_ip, port_check_addr};
use crate::domain::apiclient::ClusterAccess;
use crate::domain::certificate_upload::EtcdFiles;
use crate::domain::kubelet::{KubeletContext, KubeletSpec, systemd_resolved_resolv_conf};
use crate::domain::node::ThisNode;
use crate::domain::pki::{KeyPool, PkiContext, PkiSession, PkiSpec};
use crate::domain::static_pod::{StaticPodContext, StaticPodSpec};
use crate::phases::mark_control_plane::{MarkControlPlaneContext, MarkSpec};
use crate::phases::preflight::{IgnoreSet, IpFamilies, NodeRole, PreflightContext, PreflightSpec};
use crate::phases::show_join_command::{JoinCommandContext, JoinCommandSpec};
use crate::phases::upload_certs::{UploadCertsContext, UploadCertsSpec};
use crate::phases::upload_config::UploadConfigContext;

use super::specs::*;
use super::{ContextError, host_name};

/// What every init phase sees.
pub struct InitContext {
    pub config: InitConfig,
    pub root: NodeRoot,
    pki: PkiSpec,
    pki_session: PkiSession,
    ignore: IgnoreSet,
    static_pods: StaticPodSpec,
    kubelet: KubeletSpec,
    /// The configured certificate key, or with --upload-certs one generated for this run, so
    /// that upload-certs and show-join-command use the same key.
    certificate_key: Option<CertificateKey>,
}

impl InitContext {
    /// Builds the context and starts what can start before the first phase: key generation
    /// runs in the background from here on, while preflight checks the machine.
    pub fn new(config: InitConfig, root: NodeRoot, fs: &HostFs) -> Result<Self, ContextError> {
        let pki = init_pki_spec(&config, &root);
        let pki_session = PkiSession::for_spec(&pki, fs);
        Self::with_session(config, root, pki, pki_session)
    }

    /// The context of a node that was made before (an upgrade renders and renews what exists):
    /// no key is generated ahead, since a worker has none of the control plane's key files
    /// and a control plane needs new keys only for the certificates it renews.
    pub fn for_existing_node(config: InitConfig, root: NodeRoot) -> Result<Self, ContextError> {
        let pki = init_pki_spec(&config, &root);
        let pki_session = PkiSession::new(KeyPool::empty(pki.key_algorithm));
        Self::with_session(config, root, pki, pki_session)
    }

    fn with_session(
        config: InitConfig,
        root: NodeRoot,
        pki: PkiSpec,
        pki_session: PkiSession,
    ) -> Result<Self, ContextError> {
        let ignore = IgnoreSet::parse(config.ignore_preflight_errors())?;
        let mut static_pods = init_static_pod_spec(&config, &root);
        static_pods.proxy_env = process_proxy_env();
        let mut kubelet = init_kubelet_spec(&config, &root, host_name());
        kubelet.resolv_conf = systemd_resolved_resolv_conf(&root);
        let certificate_key = match (&config.certificate_key, config.upload_certs) {
            (Some(key), _) => Some(key.clone()),
            (None, true) => Some(CertificateKey::generate()),
            (None, false) => None,
        };
        Ok(Self {
            config,
            root,
            pki,
            pki_session,
            ignore,
            static_pods,
            kubelet,
            certificate_key,
        })
    }
}

impl PkiContext for InitContext {
    fn pki(&self) -> &PkiSpec {
        &self.pki
    }

    fn pki_session(&self) -> &PkiSession {
        &self.pki_session
    }
}

impl PreflightContext for InitContext {
    fn preflight_spec(&self) -> PreflightSpec {
        let c = &self.config;
        let advertise = c.local_api_endpoint.advertise_address;
        let etcd = match &c.cluster.etcd {
            EtcdConfig::Local(local) => EtcdPlacementInput::Local(local.data_dir.as_path()),
            EtcdConfig::External(_) => EtcdPlacementInput::External,
        };
        let networking = &c.cluster.networking;
        let subnets = networking
            .service_subnet
            .subnets()
            .iter()
            .chain(networking.pod_subnet.iter().flat_map(|p| p.subnets()))
            .map(|n| n.addr());
        PreflightSpec {
            root: self.root.clone(),
            role: NodeRole::InitControlPlane(control_plane(
                &self.root,
                advertise,
                c.local_api_endpoint.bind_port,
                etcd,
            )),
            node_name: c.node_registration.name.as_str().to_string(),
            kubelet: port_check_addr(self.root.is_system(), advertise, KUBELET_PORT),
            cri_socket: c.node_registration.cri_socket.clone(),
            kubernetes_version: Some(c.cluster.kubernetes_version.clone()),
            ip_families: IpFamilies::of(subnets.chain([advertise])),
            ignore: self.ignore.clone(),
        }
    }
}

impl crate::phases::wait_control_plane::WaitContext for InitContext {
    fn wait_spec(&self) -> crate::phases::wait_control_plane::WaitSpec {
        let c = &self.config;
        control_plane_wait_spec(
            &self.root,
            &c.cluster,
            c.local_api_endpoint,
            &self.pki.cert_dir,
            c.timeouts
                .control_plane_component_health_check
                .as_duration(),
        )
    }
}

impl StaticPodContext for InitContext {
    fn static_pods(&self) -> &StaticPodSpec {
        &self.static_pods
    }
}

impl KubeletContext for InitContext {
    fn kubelet(&self) -> &KubeletSpec {
        &self.kubelet
    }
}

impl InitContext {
    fn release(&self) -> Release {
        Release::of(&self.config.cluster.kubernetes_version)
    }

    fn cluster_access(&self) -> ClusterAccess {
        ClusterAccess {
            kubeconfig_dir: self.root.resolve(KUBERNETES_DIR),
            timeout: self.config.timeouts.kubernetes_api_call.as_duration(),
        }
    }

    fn cert_dir(&self) -> PathBuf {
        self.root
            .resolve(self.config.cluster.certificates_dir.as_path())
    }
}

impl UploadConfigContext for InitContext {
    fn cluster_access(&self) -> ClusterAccess {
        InitContext::cluster_access(self)
    }

    fn release(&self) -> Release {
        InitContext::release(self)
    }

    fn kubeadm_config_data(&self) -> BTreeMap<String, String> {
        self.config.kubeadm_config_data()
    }

    fn this_node(&self) -> ThisNode {
        let nr = &self.config.node_registration;
        ThisNode {
            name: nr.name.as_str().to_owned(),
            cri_socket: nr.cri_socket.clone(),
            register_timeout: self.config.timeouts.kubelet_health_check.as_duration(),
        }
    }
}

impl UploadCertsContext for InitContext {
    fn upload_certs_spec(&self) -> Option<UploadCertsSpec> {
        if !self.config.upload_certs {
            return None;
        }
        let etcd = match &self.config.cluster.etcd {
            EtcdConfig::Local(_) => EtcdFiles::Local,
            EtcdConfig::External(ext) => {
                let tls = ext.tls.as_ref();
                let file = |f: fn(&config::ExternalEtcdTls) -> &config::AbsPath| {
                    tls.map(|t| self.root.resolve(f(t).as_path()))
                };
                EtcdFiles::External {
                    ca: file(|t| &t.ca_file),
                    cert: file(|t| &t.cert_file),
                    key: file(|t| &t.key_file),
                }
            }
        };
        Some(UploadCertsSpec {
            access: InitContext::cluster_access(self),
            cert_dir: self.cert_dir(),
            etcd,
            key: self.certificate_key.clone()?,
        })
    }
}

impl MarkControlPlaneContext for InitContext {
    fn mark_spec(&self) -> MarkSpec {
        MarkSpec {
            access: InitContext::cluster_access(self),
            node_name: self.config.node_registration.name.as_str().to_string(),
            labels: self.release().control_plane_labels(),
            taints: self
                .config
                .node_registration
                .taints
                .clone()
                .unwrap_or_default(),
            register_timeout: self.config.timeouts.kubelet_health_check.as_duration(),
        }
    }
}

impl JoinCommandContext for InitContext {
    fn join_command_spec(&self) -> JoinCommandSpec {
        let c = &self.config;
        JoinCommandSpec {
            endpoint: self.control_plane_host_port(),
            token: c.bootstrap_tokens.first().map(|t| t.token.clone()),
            ca_cert: self.cert_dir().join("ca.crt"),
            certificate_key: self.certificate_key.clone().filter(|_| c.upload_certs),
        }
    }
}

impl crate::phases::bootstrap_token::BootstrapTokenContext for InitContext {
    fn bootstrap_token_spec(&self) -> crate::phases::bootstrap_token::BootstrapTokenSpec {
        crate::phases::bootstrap_token::BootstrapTokenSpec {
            kubeconfig_dir: self.root.resolve(KUBERNETES_DIR),
            tokens: self.config.bootstrap_tokens.clone(),
            api_timeout: self.config.timeouts.kubernetes_api_call.as_duration(),
            kubelet_client: KubeletClientAuthorization::of(&self.config.cluster.kubernetes_version),
        }
    }
}

impl InitContext {
    /// `host:port` clients reach the cluster at: the controlPlaneEndpoint (its port defaulting
    /// to the bind port), else this node's advertise address and bind port.
    fn control_plane_host_port(&self) -> String {
        let c = &self.config;
        let bind_port = c.local_api_endpoint.bind_port;
        match &c.cluster.control_plane_endpoint {
            Some(ep) => config::HostPort {
                host: ep.host.clone(),
                port: Some(ep.port.unwrap_or(bind_port)),
            }
            .to_string(),
            None => SocketAddr::new(c.local_api_endpoint.advertise_address, bind_port).to_string(),
        }
    }
}

impl crate::phases::addons::AddonContext for InitContext {
    fn addon_spec(&self) -> crate::phases::addons::AddonSpec {
        let c = &self.config;
        let networking = &c.cluster.networking;
        crate::phases::addons::AddonSpec {
            access: InitContext::cluster_access(self),
            kubernetes_version: c.cluster.kubernetes_version.clone(),
            image_repository: c.cluster.image_repository.clone(),
            dns_image: c.cluster.dns.image.clone(),
            dns_disabled: c.cluster.dns.disabled,
            proxy_disabled: c.cluster.proxy_disabled,
            dns_domain: networking.dns_domain.to_string(),
            dns_ip: dns_service_ip(networking.service_subnet.primary()),
            pod_subnet: networking.pod_subnet.as_ref().map(ToString::to_string),
            control_plane_url: format!("https://{}", self.control_plane_host_port()),
            advertise_address: c.local_api_endpoint.advertise_address,
            kube_proxy_config: c.kube_proxy_config.clone(),
            keep_corefile: false,
            keep_kube_proxy_config: false,
        }
    }
}
