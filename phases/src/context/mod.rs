//! The typed contexts phases run with, built once from the effective configuration before the
//! first phase starts.
//!
//! This is where configuration meets phases: each phase module states what it needs as a
//! trait (`PkiContext`, `PreflightContext`) over a spec of its own, and the contexts implement
//! those traits here. A phase therefore never reads raw configuration, and the configuration
//! layer never learns what a phase does with it.

pub mod joining_control_plane;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::config::well_known::{
    CONTROLLER_MANAGER_PORT, DEFAULT_ETCD_DATA_DIR, ETCD_CLIENT_PORT, ETCD_PEER_PORT, KUBELET_DIR,
    KUBELET_PORT, KUBERNETES_DIR, MANIFESTS_DIR, SCHEDULER_PORT,
};
use crate::config::{self, CertificateKey, EtcdConfig, InitConfig, JoinConfig};
use crate::contract::host::{HostFs, NodeRoot};
use crate::domain::apiclient::ClusterAccess;
use crate::domain::certificate_upload::EtcdFiles;
use crate::domain::discovery::{ClusterDiscovery, Patience};
use crate::domain::kubelet::{KubeletContext, KubeletSpec, nth_address};
use crate::domain::pki::{ControlPlaneEndpoint, EtcdTopology, PkiContext, PkiSession, PkiSpec};
use crate::domain::static_pod::{
    ComponentSpec, EtcdSpec, ExternalEtcdFiles, ExternalEtcdSpec, ExtraVolume, LocalEtcdSpec,
    StaticPodContext, StaticPodSpec,
};
use crate::phases::kubelet::join::{JoinKubeletContext, JoinKubeletSpec};
use crate::phases::mark_control_plane::{MarkControlPlaneContext, MarkSpec};
use crate::phases::preflight::{
    ControlPlane, EtcdPlacement, IgnoreSet, IgnoreSetError, IpFamilies, NodeRole, PreflightContext,
    PreflightSpec,
};
use crate::phases::show_join_command::{JoinCommandContext, JoinCommandSpec};
use crate::phases::upload_certs::{UploadCertsContext, UploadCertsSpec};
use crate::phases::upload_config::UploadConfigContext;

/// A configuration that cannot become a context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("--ignore-preflight-errors / nodeRegistration.ignorePreflightErrors: {0}")]
    IgnoreList(#[from] IgnoreSetError),
    /// A discovery file on this node that discovery could not use: bad input, reported
    /// before the first phase changes anything.
    #[error("[discovery] {0}")]
    Discovery(#[from] crate::domain::discovery::DiscoveryError),
}

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
        let ignore = IgnoreSet::parse(config.ignore_preflight_errors())?;
        let pki = init_pki_spec(&config, &root);
        let pki_session = PkiSession::for_spec(&pki, fs);
        let static_pods = init_static_pod_spec(&config, &root);
        let kubelet = init_kubelet_spec(&config, &root, host_name());
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

/// The PKI slice of an init configuration; also what the `certs` and `kubeconfig user`
/// commands work from.
pub fn init_pki_spec(config: &InitConfig, root: &NodeRoot) -> PkiSpec {
    control_plane_pki_spec(
        &config.cluster,
        &config.node_registration,
        config.local_api_endpoint,
        root,
    )
}

/// The PKI slice of any control-plane node: the cluster's configuration plus this node's own
/// name and API endpoint. `init` passes its InitConfiguration's; a joining control plane
/// passes the kubeadm-config ConfigMap's ClusterConfiguration and its JoinConfiguration's.
pub fn control_plane_pki_spec(
    cluster: &config::ClusterConfig,
    node: &config::NodeRegistration,
    endpoint: config::ApiEndpoint,
    root: &NodeRoot,
) -> PkiSpec {
    let (etcd, server_sans, peer_sans) = match &cluster.etcd {
        EtcdConfig::Local(local) => (
            EtcdTopology::Local,
            strings(&local.server_cert_sans),
            strings(&local.peer_cert_sans),
        ),
        EtcdConfig::External(_) => (EtcdTopology::External, Vec::new(), Vec::new()),
    };
    PkiSpec {
        cert_dir: root.resolve(cluster.certificates_dir.as_path()),
        kubeconfig_dir: root.resolve(KUBERNETES_DIR),
        node_name: node.name.as_str().to_string(),
        advertise_address: endpoint.advertise_address,
        bind_port: endpoint.bind_port,
        control_plane_endpoint: cluster.control_plane_endpoint.as_ref().map(|ep| {
            ControlPlaneEndpoint {
                host: ep.host.to_string(),
                port: ep.port,
            }
        }),
        apiserver_service_ip: first_address(cluster.networking.service_subnet.primary()),
        dns_domain: cluster.networking.dns_domain.to_string(),
        apiserver_cert_sans: strings(&cluster.api_server.cert_sans),
        etcd_server_cert_sans: server_sans,
        etcd_peer_cert_sans: peer_sans,
        etcd,
        key_algorithm: cluster.encryption_algorithm,
        ca_validity: cluster.ca_certificate_validity_period.as_duration(),
        cert_validity: cluster.certificate_validity_period.as_duration(),
        cluster_name: cluster.cluster_name.clone(),
    }
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// The first host address of a subnet: the API server's service IP (10.96.0.1 for
/// 10.96.0.0/12), as kubeadm computes it.
fn first_address(net: ipnet::IpNet) -> IpAddr {
    match net.network() {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4).wrapping_add(1))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6).wrapping_add(1))),
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

/// The address a component's port is checked on. On a real node (`--root /`) it is every
/// interface, as kubeadm checks; a simulated node under another root checks its own
/// advertise address, so that nodes on 127.0.0.x do not collide with each other.
fn bind_addr(root: &NodeRoot, advertise: IpAddr, port: u16) -> SocketAddr {
    let ip = match (root.is_system(), advertise) {
        (false, ip) => ip,
        (true, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (true, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, port)
}

fn control_plane(
    root: &NodeRoot,
    advertise: IpAddr,
    bind_port: u16,
    etcd: EtcdPlacementInput<'_>,
) -> ControlPlane {
    let at = |port| bind_addr(root, advertise, port);
    ControlPlane {
        apiserver: at(bind_port),
        controller_manager: at(CONTROLLER_MANAGER_PORT),
        scheduler: at(SCHEDULER_PORT),
        manifests_dir: PathBuf::from(MANIFESTS_DIR),
        etcd: match etcd {
            EtcdPlacementInput::Local(data_dir) => EtcdPlacement::Local {
                client: at(ETCD_CLIENT_PORT),
                peer: at(ETCD_PEER_PORT),
                data_dir: data_dir.to_path_buf(),
            },
            EtcdPlacementInput::External => EtcdPlacement::External,
        },
    }
}

enum EtcdPlacementInput<'a> {
    Local(&'a Path),
    External,
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
            kubelet: bind_addr(&self.root, advertise, KUBELET_PORT),
            cri_socket: c.node_registration.cri_socket.clone(),
            kubernetes_version: Some(c.cluster.kubernetes_version.clone()),
            ip_families: IpFamilies::of(subnets.chain([advertise])),
            ignore: self.ignore.clone(),
        }
    }
}

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

/// The kubelet slice of a join configuration, paths resolved under the root.
pub fn join_kubelet_spec(
    config: &JoinConfig,
    root: &NodeRoot,
    hostname: Option<String>,
) -> JoinKubeletSpec {
    let nr = &config.node_registration;
    JoinKubeletSpec {
        root: root.clone(),
        node_name: nr.name.as_str().to_string(),
        hostname,
        cri_socket: nr.cri_socket.clone(),
        kubelet_extra_args: nr.kubelet_extra_args.clone(),
        kubeconfig_dir: root.resolve(KUBERNETES_DIR),
        ca_cert: root.resolve(config.ca_cert_path.as_path()),
        kubelet_dir: root.resolve(KUBELET_DIR),
        manifests_dir: root.resolve(MANIFESTS_DIR),
        tls_bootstrap: config.tls_bootstrap,
        tls_bootstrap_token: config.discovery.tls_bootstrap_token.clone(),
        api_timeout: config.timeouts.kubernetes_api_call.as_duration(),
        tls_bootstrap_timeout: config.timeouts.tls_bootstrap.as_duration(),
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
            let kubeconfig =
                crate::phases::kubelet::join::bootstrap_kubeconfig("kubernetes", trust, token)?;
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
            kubelet: bind_addr(&self.root, kubelet_ip, KUBELET_PORT),
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

/// The value of the last `--name=…` among extra args (later flags win, as on a command line).
fn extra_arg<'a>(args: &'a [config::Arg], name: &str) -> Option<&'a str> {
    args.iter()
        .rev()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

/// Where the controller-manager or scheduler of this node answers: its `--bind-address` /
/// `--secure-port` extra args, else the address its manifest binds (see
/// [`crate::phases::wait_control_plane::component_probe_ip`]) on kubeadm's port.
fn component_probe_addr(
    root: &NodeRoot,
    advertise: IpAddr,
    component: &config::ControlPlaneComponent,
    default_port: u16,
) -> SocketAddr {
    let args = &component.extra_args;
    let ip = crate::phases::wait_control_plane::component_probe_ip(
        root.is_system(),
        advertise,
        extra_arg(args, "bind-address"),
    );
    let port = extra_arg(args, "secure-port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(default_port);
    SocketAddr::new(ip, port)
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

/// What `wait-control-plane` probes on a control-plane node: its own API server on its
/// advertise address, and its controller-manager and scheduler where their manifests bind
/// them. Init and a control-plane join wait alike.
pub fn control_plane_wait_spec(
    root: &NodeRoot,
    cluster: &config::ClusterConfig,
    endpoint: config::ApiEndpoint,
    cert_dir: &Path,
    timeout: std::time::Duration,
) -> crate::phases::wait_control_plane::WaitSpec {
    use crate::phases::wait_control_plane::{Component, Probe, Trust, WaitSpec};
    let advertise = endpoint.advertise_address;
    let manifests = root.resolve(MANIFESTS_DIR);
    // A simulated node has no kubelet; the test-bed stand-in logs there instead.
    let testbed_log = |pod: &str| {
        (!root.is_system()).then(|| {
            root.resolve("/var/log/kubestrap-testbed")
                .join(format!("{pod}.log"))
        })
    };
    let component = |pod: &'static str, short: &'static str, probe: Probe| Component {
        pod,
        short,
        probe,
        manifest: manifests.join(format!("{pod}.yaml")),
        testbed_log: testbed_log(pod),
    };
    WaitSpec {
        components: vec![
            component(
                "kube-apiserver",
                "apiserver",
                Probe {
                    addr: SocketAddr::new(advertise, endpoint.bind_port),
                    path: "/livez",
                    trust: Trust::CaFile(cert_dir.join("ca.crt")),
                },
            ),
            component(
                "kube-controller-manager",
                "controller-manager",
                Probe {
                    addr: component_probe_addr(
                        root,
                        advertise,
                        &cluster.controller_manager,
                        CONTROLLER_MANAGER_PORT,
                    ),
                    path: "/healthz",
                    trust: Trust::SelfSigned,
                },
            ),
            component(
                "kube-scheduler",
                "scheduler",
                Probe {
                    addr: component_probe_addr(root, advertise, &cluster.scheduler, SCHEDULER_PORT),
                    path: "/healthz",
                    trust: Trust::SelfSigned,
                },
            ),
        ],
        timeout,
        interval: std::time::Duration::from_millis(500),
    }
}

/// The static-pod slice of an init configuration, every host path resolved under the root.
pub fn init_static_pod_spec(config: &InitConfig, root: &NodeRoot) -> StaticPodSpec {
    control_plane_static_pod_spec(
        &config.cluster,
        &config.node_registration,
        config.local_api_endpoint,
        root,
    )
}

/// The static-pod slice of any control-plane node (see [`control_plane_pki_spec`]).
pub fn control_plane_static_pod_spec(
    cluster: &config::ClusterConfig,
    node: &config::NodeRegistration,
    endpoint: config::ApiEndpoint,
    root: &NodeRoot,
) -> StaticPodSpec {
    let component = |c: &config::ControlPlaneComponent| ComponentSpec {
        extra_args: c.extra_args.clone(),
        extra_volumes: c
            .extra_volumes
            .iter()
            .map(|v| ExtraVolume {
                name: v.name.clone(),
                host_path: root.resolve(v.host_path.as_path()),
                mount_path: v.mount_path.as_path().to_path_buf(),
                read_only: v.read_only,
                path_type: v.path_type,
            })
            .collect(),
        extra_envs: c.extra_envs.clone(),
    };
    let etcd = match &cluster.etcd {
        EtcdConfig::Local(local) => EtcdSpec::Local(LocalEtcdSpec {
            image_repository: local.image.image_repository.clone(),
            image_tag: local.image.image_tag.clone(),
            data_dir: root.resolve(local.data_dir.as_path()),
            extra_args: local.extra_args.clone(),
            extra_envs: local.extra_envs.clone(),
        }),
        EtcdConfig::External(ext) => EtcdSpec::External(ExternalEtcdSpec {
            endpoints: ext.endpoints.clone(),
            tls: ext.tls.as_ref().map(|t| ExternalEtcdFiles {
                ca_file: root.resolve(t.ca_file.as_path()),
                cert_file: root.resolve(t.cert_file.as_path()),
                key_file: root.resolve(t.key_file.as_path()),
            }),
        }),
    };
    StaticPodSpec {
        root: root.clone(),
        manifests_dir: root.resolve(MANIFESTS_DIR),
        cert_dir: root.resolve(cluster.certificates_dir.as_path()),
        kubeconfig_dir: root.resolve(KUBERNETES_DIR),
        kubernetes_version: cluster.kubernetes_version.clone(),
        image_repository: cluster.image_repository.clone(),
        image_pull_policy: node.image_pull_policy,
        node_name: node.name.as_str().to_string(),
        advertise_address: endpoint.advertise_address,
        bind_port: endpoint.bind_port,
        service_subnet: cluster.networking.service_subnet.to_string(),
        pod_subnet: cluster
            .networking
            .pod_subnet
            .as_ref()
            .map(ToString::to_string),
        dns_domain: cluster.networking.dns_domain.to_string(),
        cluster_name: cluster.cluster_name.clone(),
        etcd,
        api_server: component(&cluster.api_server.component),
        controller_manager: component(&cluster.controller_manager),
        scheduler: component(&cluster.scheduler),
    }
}

impl StaticPodContext for InitContext {
    fn static_pods(&self) -> &StaticPodSpec {
        &self.static_pods
    }
}

/// This machine's hostname, lowercased as kubeadm compares it with the node name.
fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().to_lowercase())
        .filter(|h| !h.is_empty())
}

/// The `kubelet-start` slice of an init configuration, paths resolved under the root.
pub fn init_kubelet_spec(
    config: &InitConfig,
    root: &NodeRoot,
    hostname: Option<String>,
) -> KubeletSpec {
    let cluster = &config.cluster;
    KubeletSpec {
        root: root.clone(),
        kubelet_dir: root.resolve(KUBELET_DIR),
        kubernetes_version: cluster.kubernetes_version.clone(),
        cri_socket: config.node_registration.cri_socket.clone(),
        image_repository: cluster.image_repository.clone(),
        node_name: config.node_registration.name.as_str().to_string(),
        hostname,
        kubelet_extra_args: config.node_registration.kubelet_extra_args.clone(),
        user_config: config.kubelet_config.clone(),
        client_ca_file: root
            .resolve(cluster.certificates_dir.as_path())
            .join("ca.crt"),
        static_pod_path: root.resolve(MANIFESTS_DIR),
        cluster_dns: nth_address(cluster.networking.service_subnet.primary(), 10),
        cluster_domain: cluster.networking.dns_domain.to_string(),
    }
}

impl KubeletContext for InitContext {
    fn kubelet(&self) -> &KubeletSpec {
        &self.kubelet
    }
}

impl InitContext {
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

    fn cluster_configuration_yaml(&self) -> String {
        self.config.cluster_configuration_yaml()
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
            taints: self.config.node_registration.taints.clone(),
            register_timeout: self.config.timeouts.kubelet_health_check.as_duration(),
        }
    }
}

impl JoinCommandContext for InitContext {
    fn join_command_spec(&self) -> JoinCommandSpec {
        let c = &self.config;
        let bind_port = c.local_api_endpoint.bind_port;
        let endpoint = match &c.cluster.control_plane_endpoint {
            Some(ep) => config::HostPort {
                host: ep.host.clone(),
                port: Some(ep.port.unwrap_or(bind_port)),
            }
            .to_string(),
            None => SocketAddr::new(c.local_api_endpoint.advertise_address, bind_port).to_string(),
        };
        JoinCommandSpec {
            endpoint,
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
            dns_ip: nth_address(networking.service_subnet.primary(), 10),
            pod_subnet: networking.pod_subnet.as_ref().map(ToString::to_string),
            control_plane_url: format!("https://{}", self.control_plane_host_port()),
            advertise_address: c.local_api_endpoint.advertise_address,
            kube_proxy_config: c.kube_proxy_config.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::first_address;

    #[test]
    fn service_ip_is_the_first_address() {
        assert_eq!(
            first_address("10.96.0.0/12".parse().unwrap()).to_string(),
            "10.96.0.1"
        );
        assert_eq!(
            first_address("fd00:10:96::/112".parse().unwrap()).to_string(),
            "fd00:10:96::1"
        );
    }
}
