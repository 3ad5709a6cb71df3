//! The specs each phase runs from, built from configuration alone: pure functions of the
//! configuration and the node root (no network, no host state), shared by init, a
//! control-plane join (which passes the cluster's ClusterConfiguration with its own node
//! settings) and the `certs`/`kubeconfig` commands.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::config::well_known::{
    CONTROLLER_MANAGER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, KUBELET_DIR, KUBERNETES_DIR,
    MANIFESTS_DIR, SCHEDULER_PORT,
};
use crate::config::{self, EtcdConfig, InitConfig, JoinConfig};
use crate::contract::host::NodeRoot;
use crate::domain::addressing::{
    api_server_service_ip, component_probe_ip, dns_service_ip, port_check_addr,
};
use crate::domain::kubelet::KubeletSpec;
use crate::domain::pki::{ControlPlaneEndpoint, EtcdTopology, PkiSpec};
use crate::domain::static_pod::{
    ComponentSpec, EtcdSpec, ExternalEtcdFiles, ExternalEtcdSpec, ExtraVolume, LocalEtcdSpec,
    StaticPodSpec,
};
use crate::phases::kubelet::join::JoinKubeletSpec;
use crate::phases::preflight::{ControlPlane, EtcdPlacement};

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
        apiserver_service_ip: api_server_service_ip(cluster.networking.service_subnet.primary()),
        dns_domain: cluster.networking.dns_domain.to_string(),
        apiserver_cert_sans: strings(&cluster.api_server.cert_sans),
        etcd_server_cert_sans: server_sans,
        etcd_peer_cert_sans: peer_sans,
        etcd,
        key_algorithm: cluster.encryption_algorithm,
        ca_validity: cluster.ca_certificate_validity_period.as_duration(),
        cert_validity: cluster.certificate_validity_period.as_duration(),
        cluster_name: cluster.cluster_name.clone(),
        kubernetes_version: cluster.kubernetes_version.clone(),
    }
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

pub(super) fn control_plane(
    root: &NodeRoot,
    advertise: IpAddr,
    bind_port: u16,
    etcd: EtcdPlacementInput<'_>,
) -> ControlPlane {
    let at = |port| port_check_addr(root.is_system(), advertise, port);
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

pub(super) enum EtcdPlacementInput<'a> {
    Local(&'a Path),
    External,
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
        // A control plane's taints are mark-control-plane's; a worker's go to the kubelet.
        register_with_taints: match &config.control_plane {
            Some(_) => Vec::new(),
            None => nr.taints.clone().unwrap_or_default(),
        },
        kubeconfig_dir: root.resolve(KUBERNETES_DIR),
        ca_cert: root.resolve(config.ca_cert_path.as_path()),
        kubelet_dir: root.resolve(KUBELET_DIR),
        manifests_dir: root.resolve(MANIFESTS_DIR),
        tls_bootstrap: config.tls_bootstrap,
        tls_bootstrap_token: config.discovery.tls_bootstrap_token.clone(),
        api_timeout: config.timeouts.kubernetes_api_call.as_duration(),
        tls_bootstrap_timeout: config.timeouts.tls_bootstrap.as_duration(),
        local_api_server: config
            .control_plane
            .as_ref()
            .map(|cp| cp.local_api_endpoint.url()),
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
    let ip = component_probe_ip(root.is_system(), advertise, extra_arg(args, "bind-address"));
    let port = extra_arg(args, "secure-port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(default_port);
    SocketAddr::new(ip, port)
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
        // Init's API phases start on this signal: a probe that is refused costs nothing, and
        // each 100 ms less between the API server's readiness and its noticing is init's
        // time. (kubeadm waits with constants.APICallRetryInterval, 500 ms, in
        // cmd/kubeadm/app/constants/constants.go; compared by scripts/bench-init.)
        interval: std::time::Duration::from_millis(100),
    }
}

/// The static-pod slice of an init configuration, every host path resolved under the root.
/// No proxy variables: the context adds its process's ([`process_proxy_env`]).
pub fn init_static_pod_spec(config: &InitConfig, root: &NodeRoot) -> StaticPodSpec {
    control_plane_static_pod_spec(
        &config.cluster,
        &config.node_registration,
        config.local_api_endpoint,
        &config.timeouts,
        root,
    )
}

/// The static-pod slice of any control-plane node (see [`control_plane_pki_spec`]); `timeouts`
/// are this node's own (its Init- or JoinConfiguration's, as kubeadm's active timeouts).
pub fn control_plane_static_pod_spec(
    cluster: &config::ClusterConfig,
    node: &config::NodeRegistration,
    endpoint: config::ApiEndpoint,
    timeouts: &config::Timeouts,
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
            image: local.image.clone(),
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
        control_plane_timeout: timeouts.control_plane_component_health_check,
        proxy_env: Vec::new(),
    }
}

/// The `*_proxy` variables of this process, for the control-plane containers (kubeadm's
/// `GetProxyEnvVars` reads its own environment the same way). Read here, where a context is
/// built from the host, so that rendering stays a function of its spec.
pub fn process_proxy_env() -> Vec<config::EnvVar> {
    crate::domain::static_pod::proxy_env(std::env::vars_os())
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
        register_with_taints: Vec::new(),
        // A fact of the host, set by the context (InitContext::new).
        resolv_conf: None,
        user_config: config.kubelet_config.clone(),
        client_ca_file: root
            .resolve(cluster.certificates_dir.as_path())
            .join("ca.crt"),
        static_pod_path: root.resolve(MANIFESTS_DIR),
        cluster_dns: dns_service_ip(cluster.networking.service_subnet.primary()),
        cluster_domain: cluster.networking.dns_domain.to_string(),
    }
}
