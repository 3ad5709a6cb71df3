//! [`JoinContext`]: what every `join` phase sees. Discovery runs once, when the first phase
//! needs the cluster; a control-plane join then reads the cluster's configuration with the
//! bootstrap token and builds [`super::joining_control_plane`]'s context from it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::config::well_known::{DEFAULT_ETCD_DATA_DIR, KUBELET_PORT};
use crate::config::{self, EtcdConfig, JoinConfig};
use crate::contract::host::{HostFs, NodeRoot};
use crate::domain::addressing::port_check_addr;
use crate::domain::certificate_upload::EtcdFiles;
use crate::domain::discovery::{ClusterDiscovery, Patience};
use crate::phases::kubelet::join::{JoinKubeletContext, JoinKubeletSpec};
use crate::phases::preflight::{IgnoreSet, IpFamilies, NodeRole, PreflightContext, PreflightSpec};

use super::joining_control_plane;
use super::specs::*;
use super::{ContextError, host_name};

/// What every join phase sees.
pub struct JoinContext {
    pub config: JoinConfig,
    pub root: NodeRoot,
    ignore: IgnoreSet,
    join_kubelet: JoinKubeletSpec,
    /// Discovery runs once, when the first phase needs the cluster, and counts every request
    /// the join makes.
    discovery: ClusterDiscovery,
    /// With `--control-plane`: the cluster's configuration combined with this node's, fetched
    /// after discovery by the first control-plane phase.
    control_plane: joining_control_plane::JoiningControlPlaneCell,
}

impl JoinContext {
    pub fn new(config: JoinConfig, root: NodeRoot) -> Result<Self, ContextError> {
        let ignore = IgnoreSet::parse(config.ignore_preflight_errors())?;
        if let crate::config::DiscoveryMethod::File { kubeconfig_path } = &config.discovery.method {
            crate::domain::discovery::check_local_file(kubeconfig_path)?;
        }
        let join_kubelet = join_kubelet_spec(&config, &root, host_name());
        let discovery = ClusterDiscovery::new(
            config.discovery.method.clone(),
            Patience::new(config.timeouts.discovery.as_duration()),
        );
        Ok(Self {
            config,
            root,
            ignore,
            join_kubelet,
            discovery,
            control_plane: Default::default(),
        })
    }

    /// Whether this join makes a control-plane node (`--control-plane`).
    pub fn is_control_plane(&self) -> bool {
        self.config.control_plane.is_some()
    }
}

impl JoinKubeletContext for JoinContext {
    fn join_kubelet(&self) -> &JoinKubeletSpec {
        &self.join_kubelet
    }

    fn discovery(&self) -> &ClusterDiscovery {
        &self.discovery
    }
}

#[async_trait::async_trait]
impl joining_control_plane::HasJoiningControlPlane for JoinContext {
    fn is_joining_control_plane(&self) -> bool {
        self.is_control_plane()
    }

    fn joining_control_plane_fetched(
        &self,
    ) -> Option<&joining_control_plane::JoiningControlPlaneContext> {
        self.control_plane.get()
    }

    /// Discovery (shared with kubelet-start), then the cluster's configuration read with the
    /// bootstrap token, as kubeadm's join does before its control-plane phases.
    async fn joining_control_plane(
        &self,
        fx: &mut crate::contract::effects::Effects<'_>,
    ) -> Result<&joining_control_plane::JoiningControlPlaneContext, crate::contract::step::PhaseError>
    {
        let fs = fx.fs();
        let fetch = async {
            let progress = |m: String| fx.progress(m);
            let trust = self.discovery.cluster(&progress).await?;
            let token = self
                .join_kubelet
                .tls_bootstrap_token
                .as_ref()
                .or(trust.file_token.as_ref())
                .ok_or_else(|| {
                    crate::contract::step::PhaseError::with_hint(
                        "no bootstrap token to read the cluster's configuration and certificates with",
                        "give --token (or --tls-bootstrap-token), or a discovery file whose user has a bootstrap token",
                    )
                })?;
            let kubeconfig = crate::phases::kubelet::join::bootstrap_kubeconfig(
                "kubernetes",
                &trust.server,
                trust,
                token,
            )?;
            let cp = joining_control_plane::JoiningControlPlaneContext::fetch(
                kubeconfig,
                &self.config,
                &self.root,
                fs,
            )
            .await?;
            shared_certificates_present(&cp.plane, fs)?;
            Ok(cp)
        };
        self.control_plane.get_or_fetch(fetch).await
    }
}

/// Without `--certificate-key` nothing downloads the certificates every control plane shares,
/// so they must be on this node already (copied by hand), as kubeadm checks: otherwise the
/// certs phases would make a new CA that the rest of the cluster does not trust.
fn shared_certificates_present(
    plane: &joining_control_plane::JoiningControlPlane,
    fs: &HostFs,
) -> Result<(), crate::contract::step::PhaseError> {
    if plane.download_certs.is_some() {
        return Ok(());
    }
    let etcd = match plane.cluster.etcd {
        EtcdConfig::Local(_) => EtcdFiles::Local,
        EtcdConfig::External(_) => EtcdFiles::External {
            ca: None,
            cert: None,
            key: None,
        },
    };
    let missing: Vec<String> =
        crate::domain::certificate_upload::files_to_upload(&plane.pki.cert_dir, &etcd)
            .into_iter()
            .filter(|(name, _)| !name.starts_with("external-"))
            .filter(|(_, path)| !fs.exists(path))
            .map(|(_, path)| path.display().to_string())
            .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(crate::contract::step::PhaseError::with_hint(
        format!(
            "joining as a control plane without --certificate-key needs the certificates every control plane shares on this node; missing: {}",
            missing.join(", ")
        ),
        "run `kubestrap init phase upload-certs --upload-certs` (or kubeadm's) on an existing control plane and join with the --certificate-key it prints, or copy those files from it",
    ))
}

#[async_trait::async_trait]
impl PreflightContext for JoinContext {
    fn preflight_spec(&self) -> PreflightSpec {
        use joining_control_plane::HasJoiningControlPlane;
        let c = &self.config;
        // The cluster's configuration, once `prepare_preflight` has read it.
        let cluster = self
            .joining_control_plane_fetched()
            .map(|cp| &cp.plane.cluster);
        let (role, address) = match &c.control_plane {
            Some(cp) => {
                let ep = cp.local_api_endpoint;
                // Until the cluster says otherwise, a joining control plane runs a local etcd
                // member in the default data dir.
                let etcd = match cluster.map(|cluster| &cluster.etcd) {
                    Some(EtcdConfig::Local(local)) => {
                        EtcdPlacementInput::Local(local.data_dir.as_path())
                    }
                    Some(EtcdConfig::External(_)) => EtcdPlacementInput::External,
                    None => EtcdPlacementInput::Local(Path::new(DEFAULT_ETCD_DATA_DIR)),
                };
                let plane = control_plane(&self.root, ep.advertise_address, ep.bind_port, etcd);
                (
                    NodeRole::JoinControlPlane(plane),
                    Some(ep.advertise_address),
                )
            }
            None => (
                NodeRole::JoinWorker {
                    ca_cert: c.ca_cert_path.as_path().to_path_buf(),
                },
                None,
            ),
        };
        let endpoint_ip = match &c.discovery.method {
            config::DiscoveryMethod::BootstrapToken(t) => match &t.api_server_endpoint.host {
                config::Host::Ip(ip) => Some(*ip),
                config::Host::Dns(_) => None,
            },
            config::DiscoveryMethod::File { .. } => None,
        };
        let kubelet_ip = address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        PreflightSpec {
            root: self.root.clone(),
            role,
            node_name: c.node_registration.name.as_str().to_string(),
            kubelet: port_check_addr(self.root.is_system(), kubelet_ip, KUBELET_PORT),
            cri_socket: c.node_registration.cri_socket.clone(),
            kubernetes_version: cluster.map(|cluster| cluster.kubernetes_version.clone()),
            ip_families: IpFamilies::of(endpoint_ip.into_iter().chain(address)),
            ignore: self.ignore.clone(),
        }
    }

    /// A control-plane join reads the cluster's configuration now (discovery included,
    /// shared with the later phases), as kubeadm's join preflight does.
    async fn prepare_preflight(
        &self,
        fx: &mut crate::contract::effects::Effects<'_>,
    ) -> Result<(), crate::contract::step::PhaseError> {
        use joining_control_plane::HasJoiningControlPlane;
        if self.is_joining_control_plane() {
            self.joining_control_plane(fx).await?;
        }
        Ok(())
    }
}
