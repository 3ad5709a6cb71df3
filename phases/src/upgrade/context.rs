//! [`UpgradeContext`]: what an upgrade or reconfiguration of one node runs with — the
//! cluster as it is (kubeadm-config, the kubelet's ConfigMap, the kubelets' versions), this
//! node as its files say it is, and the target: the cluster's configuration (or the one
//! `--config` gives) at the target version, for this node, as an [`InitContext`] so that the
//! rendering, certificates and cluster objects are init's own.
//!
//! Everything is read and validated here, before the first phase: a version kubestrap does
//! not know, a configuration that does not validate or a node that is not one refuse the run
//! with nothing changed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Api;
use kube::api::ListParams;
use serde::Serialize;

use crate::config::well_known::{
    CLUSTER_STATUS_KEY, KUBE_SYSTEM, KUBEADM_CONFIG_MAP, KUBELET_CONFIG_KEY,
};
use crate::config::{
    ApiEndpoint, ClusterConfig, ConfigError, CriSocket, InitConfig, InitFlags, KubernetesVersion,
    Release, VersionError, load_init, load_init_text,
};
use crate::context::{ContextError, InitContext};
use crate::contract::diagnostics::{Diagnostic, hint};
use crate::contract::host::{HostFs, NodeRoot};
use crate::doctor::facts::{NodeFacts, Role, read_pod};
use crate::domain::apiclient::{ApiClient, ApiError};
use crate::domain::kubeadm_config::{KubeadmConfigError, cluster_from_config_map};
use crate::domain::node::CRI_SOCKET_ANNOTATION;

use super::policy::KubeletVersion;

/// kubeadm's `UpgradeManifestTimeout` (phases/upgrade/staticpods.go): how long a component
/// may take to come back with its new manifest before it is rolled back.
pub const UPGRADE_MANIFEST_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Where an upgrade keeps what it may have to put back, under the node root: each
/// component's last manifest before the upgrade changed it, the marker of a change under way,
/// the manifest that failed, and etcd snapshots. kubeadm keeps its backups in
/// `/etc/kubernetes/tmp/kubeadm-backup-manifests-<time>` and removes them on success;
/// kubestrap keeps the latest per component, so that the manifest of the run before is always
/// there to compare with or restore by hand.
pub const UPGRADE_DIR: &str = "/etc/kubernetes/tmp/kubestrap-upgrade";

/// `upgrade apply` (the first control plane: its static pods, then the cluster's objects) or
/// `upgrade node` (any other node: its static pods if it is a control plane, and its kubelet
/// configuration, to the version kubeadm-config already names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    Apply,
    Node,
}

/// What the user asked for, as typed.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    pub mode: UpgradeMode,
    /// `upgrade apply VERSION`; without it, the cluster's own (a reconfiguration).
    pub version: Option<String>,
    /// A kubeadm configuration file (ClusterConfiguration, and optionally KubeletConfiguration
    /// and KubeProxyConfiguration documents) that replaces the cluster's.
    pub config: Option<PathBuf>,
    /// `--certificate-renewal` (default true).
    pub certificate_renewal: bool,
    /// `--etcd-upgrade` (default true).
    pub etcd_upgrade: bool,
    /// `--force`: go on despite skippable version-policy violations.
    pub force: bool,
    /// How long each component may take to come back (kubeadm: 5 minutes).
    pub manifest_timeout: Duration,
    /// Ask the cluster with this kubeconfig instead of admin.conf (control plane) or
    /// kubelet.conf (worker).
    pub kubeconfig: Option<PathBuf>,
}

impl UpgradeRequest {
    /// kubeadm's defaults: the cluster's own version, its configuration, certificates
    /// renewed, etcd upgraded, no `--force`, [`UPGRADE_MANIFEST_TIMEOUT`].
    pub fn new(mode: UpgradeMode) -> Self {
        Self {
            mode,
            version: None,
            config: None,
            certificate_renewal: true,
            etcd_upgrade: true,
            force: false,
            manifest_timeout: UPGRADE_MANIFEST_TIMEOUT,
            kubeconfig: None,
        }
    }
}

/// Why an upgrade cannot start; nothing has changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(
        "this node was not set up by init or join under {root}: no {manifest} and no {kubelet_conf}"
    )]
    NotANode {
        root: String,
        manifest: String,
        kubelet_conf: String,
    },
    #[error("kubelet.conf names no node (system:node:<name>): {0}")]
    NoNodeName(String),
    #[error("{path}: {problem}")]
    Manifest { path: PathBuf, problem: String },
    #[error(
        "`upgrade apply` runs on a control-plane node; this node has no kube-apiserver manifest"
    )]
    ApplyOnWorker,
    #[error("upgrade apply {0}")]
    Version(#[from] VersionError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    KubeadmConfig(#[from] KubeadmConfigError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Context(#[from] ContextError),
}

impl Diagnostic for UpgradeError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::NotANode { .. } | Self::NoNodeName(_) => {
                hint("run it on a node that `kubestrap init` or `join` set up, with its --root")
            }
            Self::Manifest { .. } => hint(
                "restore the manifest from /etc/kubernetes/tmp/kubestrap-upgrade/ or re-render it with `kubestrap init phase control-plane apiserver`",
            ),
            Self::ApplyOnWorker => {
                hint("on workers and other control planes run `kubestrap upgrade node`")
            }
            Self::Version(e) => e.hint(),
            Self::Config(e) => e.hint(),
            Self::KubeadmConfig(e) => e.hint(),
            Self::Api(e) => e.hint(),
            Self::Context(e) => e.hint(),
        }
    }
}

/// The cluster as it was found before the upgrade.
#[derive(Debug, Clone)]
pub struct CurrentCluster {
    /// kubeadm-config's ClusterConfiguration.
    pub cluster: ClusterConfig,
    /// kubeadm-config's ClusterStatus (≤ 1.21 clusters), kept when the ConfigMap is re-made.
    pub cluster_status: Option<String>,
    /// The kubelet's ConfigMap's KubeletConfiguration, which upgrades keep (user changes
    /// included) unless `--config` gives one.
    pub kubelet_config: Option<serde_json::Value>,
    /// Every Node's kubelet version.
    pub kubelets: Vec<KubeletVersion>,
    /// Control-plane Nodes that are not Ready: an unhealthy cluster is not upgraded.
    pub unready_control_planes: Vec<String>,
}

/// The node being upgraded, from its own files.
#[derive(Debug, Clone)]
pub struct ThisNode {
    pub name: String,
    pub role: Role,
    /// A control plane's API endpoint, from its kube-apiserver manifest.
    pub endpoint: Option<ApiEndpoint>,
    pub cri_socket: CriSocket,
}

/// What every upgrade phase sees.
pub struct UpgradeContext {
    pub root: NodeRoot,
    pub mode: UpgradeMode,
    pub node: ThisNode,
    pub current: CurrentCluster,
    /// The configuration the upgrade moves to, for this node.
    pub target: InitContext,
    pub certificate_renewal: bool,
    pub etcd_upgrade: bool,
    pub force: bool,
    pub manifest_timeout: Duration,
    /// The kubeconfig the phases reach the cluster with.
    pub kubeconfig: PathBuf,
    /// The user gave a KubeProxyConfiguration: kube-proxy's ConfigMap is replaced by it (else
    /// the cluster's, user changes included, is kept).
    pub replaces_kube_proxy_config: bool,
}

impl UpgradeContext {
    /// Reads the node and the cluster and builds the target. Fails, changing nothing, when
    /// the node is not one, the cluster cannot be read, or the target does not validate.
    pub async fn fetch(
        root: NodeRoot,
        request: &UpgradeRequest,
        api_timeout: Duration,
    ) -> Result<Self, UpgradeError> {
        let facts = NodeFacts::gather(&root);
        let node = this_node(&root, &facts)?;
        if request.mode == UpgradeMode::Apply && node.role != Role::ControlPlane {
            return Err(UpgradeError::ApplyOnWorker);
        }
        let kubeconfig = request.kubeconfig.clone().unwrap_or_else(|| {
            facts.kubeconfig_dir.join(match node.role {
                Role::ControlPlane => "admin.conf",
                _ => "kubelet.conf",
            })
        });
        let fs = HostFs::real();
        let client = ApiClient::from_kubeconfig(&fs, &kubeconfig, api_timeout).await?;
        let current = current_cluster(&client).await?;
        let node = ThisNode {
            cri_socket: node_cri_socket(&client, &node.name).await?,
            ..node
        };
        // Without a VERSION, an apply is a reconfiguration at the cluster's own version (a
        // `--config` file's kubernetesVersion is not read: it defaults to the newest release,
        // and an upgrade must never happen by omission); `upgrade node` follows the version
        // `upgrade apply` recorded in kubeadm-config.
        let version = match (request.mode, &request.version) {
            (UpgradeMode::Apply, Some(v)) => v.parse::<KubernetesVersion>()?,
            _ => current.cluster.kubernetes_version.clone(),
        };
        let (config, replaces_kube_proxy_config) =
            target_config(&node, &current, version, request.config.as_deref())?;
        let target = InitContext::for_existing_node(config, root.clone())?;
        Ok(Self {
            root,
            mode: request.mode,
            node,
            current,
            target,
            certificate_renewal: request.certificate_renewal,
            etcd_upgrade: request.etcd_upgrade,
            force: request.force,
            manifest_timeout: request.manifest_timeout,
            kubeconfig,
            replaces_kube_proxy_config,
        })
    }

    pub fn target_version(&self) -> &KubernetesVersion {
        &self.target.config.cluster.kubernetes_version
    }

    pub fn current_version(&self) -> &KubernetesVersion {
        &self.current.cluster.kubernetes_version
    }

    pub fn is_control_plane(&self) -> bool {
        self.node.role == Role::ControlPlane
    }

    /// [`UPGRADE_DIR`], resolved.
    pub fn upgrade_dir(&self) -> PathBuf {
        self.root.resolve(UPGRADE_DIR)
    }

    /// An API client with the upgrade's kubeconfig.
    pub async fn client(&self, fs: &HostFs) -> Result<ApiClient, ApiError> {
        ApiClient::from_kubeconfig(
            fs,
            &self.kubeconfig,
            self.target
                .config
                .timeouts
                .kubernetes_api_call
                .as_duration(),
        )
        .await
    }
}

/// Name, role and endpoint from the node's files.
fn this_node(root: &NodeRoot, facts: &NodeFacts) -> Result<ThisNode, UpgradeError> {
    if facts.role == Role::NotJoined {
        return Err(UpgradeError::NotANode {
            root: root.as_path().display().to_string(),
            manifest: facts
                .manifests_dir
                .join("kube-apiserver.yaml")
                .display()
                .to_string(),
            kubelet_conf: facts
                .kubeconfig_dir
                .join("kubelet.conf")
                .display()
                .to_string(),
        });
    }
    let name = facts.node_name.clone().ok_or_else(|| {
        UpgradeError::NoNodeName(
            facts
                .kubeconfig_dir
                .join("kubelet.conf")
                .display()
                .to_string(),
        )
    })?;
    let endpoint = match facts.role {
        Role::ControlPlane => Some(apiserver_endpoint(
            &facts.manifests_dir.join("kube-apiserver.yaml"),
        )?),
        _ => None,
    };
    Ok(ThisNode {
        name,
        role: facts.role,
        endpoint,
        cri_socket: CriSocket::default(),
    })
}

/// The API endpoint a control plane's kube-apiserver manifest advertises.
fn apiserver_endpoint(path: &Path) -> Result<ApiEndpoint, UpgradeError> {
    let bad = |problem: &str| UpgradeError::Manifest {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    };
    let pod = read_pod(path).ok_or_else(|| bad("cannot be read as a static pod"))?;
    let advertise_address = pod
        .flag("advertise-address")
        .and_then(|v| v.parse::<IpAddr>().ok())
        .ok_or_else(|| bad("has no --advertise-address=<IP>"))?;
    let bind_port = pod
        .flag("secure-port")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad("has no --secure-port=<port>"))?;
    Ok(ApiEndpoint {
        advertise_address,
        bind_port,
    })
}

/// The CRI socket this node's Node records (kubeadm's annotation, up to 1.35), else kubeadm's
/// default.
async fn node_cri_socket(client: &ApiClient, name: &str) -> Result<CriSocket, UpgradeError> {
    let node = client.get_opt::<Node>(None, name).await?;
    let annotated = node
        .and_then(|n| n.metadata.annotations)
        .and_then(|a| a.get(CRI_SOCKET_ANNOTATION).cloned())
        .and_then(|s| s.parse::<CriSocket>().ok());
    Ok(annotated.unwrap_or_default())
}

async fn current_cluster(client: &ApiClient) -> Result<CurrentCluster, UpgradeError> {
    let cm = client
        .get_opt::<ConfigMap>(Some(KUBE_SYSTEM), KUBEADM_CONFIG_MAP)
        .await?
        .ok_or(KubeadmConfigError::NoKubeadmConfig)?;
    let cluster = cluster_from_config_map(&cm)?;
    let cluster_status = cm
        .data
        .as_ref()
        .and_then(|d| d.get(CLUSTER_STATUS_KEY))
        .cloned();
    let mut kubelet_config = None;
    for name in Release::of(&cluster.kubernetes_version).kubelet_config_map_candidates() {
        let found = client
            .get_opt::<ConfigMap>(Some(KUBE_SYSTEM), &name)
            .await?;
        if let Some(text) = found
            .and_then(|c| c.data)
            .and_then(|d| d.get(KUBELET_CONFIG_KEY).cloned())
        {
            kubelet_config = serde_saphyr::from_str::<serde_json::Value>(&text)
                .ok()
                .map(without_node_paths);
            break;
        }
    }
    let nodes: Api<Node> = Api::all(client.client().clone());
    let nodes = client
        .retry("list nodes", || {
            let nodes = nodes.clone();
            async move { nodes.list(&ListParams::default()).await }
        })
        .await?;
    let mut kubelets = Vec::new();
    let mut unready_control_planes = Vec::new();
    for n in nodes.items {
        let name = n.metadata.name.clone().unwrap_or_default();
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let status = n.status.as_ref();
        if let Some(v) = status
            .and_then(|s| s.node_info.as_ref())
            .and_then(|i| i.kubelet_version.parse::<KubernetesVersion>().ok())
        {
            kubelets.push(KubeletVersion {
                node: name.clone(),
                version: v,
            });
        }
        let control_plane = labels.contains_key(crate::config::release::CONTROL_PLANE_ROLE)
            || labels.contains_key(crate::config::release::MASTER_ROLE);
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if control_plane && !ready {
            unready_control_planes.push(name);
        }
    }
    Ok(CurrentCluster {
        cluster,
        cluster_status,
        kubelet_config,
        kubelets,
        unready_control_planes,
    })
}

/// The cluster's KubeletConfiguration without the two paths that are each node's own (the
/// uploaded document carries the first control plane's, which under another `--root` are not
/// this node's files): the node's own defaults fill them, as join's do.
fn without_node_paths(mut config: serde_json::Value) -> serde_json::Value {
    if let Some(map) = config.as_object_mut() {
        map.remove("staticPodPath");
        if let Some(x509) = map
            .get_mut("authentication")
            .and_then(|a| a.get_mut("x509"))
            .and_then(serde_json::Value::as_object_mut)
        {
            x509.remove("clientCAFile");
        }
    }
    config
}

/// The configuration the upgrade moves to: the cluster's (or `--config`'s) ClusterConfiguration
/// at `version`, with this node's name, CRI socket and endpoint, the cluster's kubelet
/// configuration unless the file gives one, and no bootstrap token to create. Validated as
/// `init` validates its configuration; errors name the file or the cluster's ConfigMap.
fn target_config(
    node: &ThisNode,
    current: &CurrentCluster,
    version: KubernetesVersion,
    file: Option<&Path>,
) -> Result<(InitConfig, bool), UpgradeError> {
    let endpoint = node.endpoint.unwrap_or(ApiEndpoint {
        advertise_address: IpAddr::from([127, 0, 0, 1]),
        bind_port: crate::config::well_known::API_SERVER_PORT,
    });
    let flags = InitFlags {
        node_name: Some(node.name.clone()),
        cri_socket: Some(node.cri_socket.as_str().to_string()),
        apiserver_advertise_address: Some(endpoint.advertise_address.to_string()),
        apiserver_bind_port: Some(endpoint.bind_port),
        kubernetes_version: Some(version.to_string()),
        ..InitFlags::default()
    };
    let (mut config, user_proxy) = match file {
        Some(path) => {
            let config = load_init(Some(path), &flags)?;
            let proxy = config.kube_proxy_config.is_some();
            (config, proxy)
        }
        None => {
            // kubeadm's defaults for what the cluster's ClusterConfiguration does not hold
            // (timeouts, the node's registration), which the flags above fill in.
            let defaults = format!(
                "apiVersion: {}\nkind: InitConfiguration\n",
                crate::config::ConfigApi::V1beta4.api_version()
            );
            let mut config = load_init_text(Path::new("upgrade"), &defaults, &flags)?;
            config.cluster = ClusterConfig {
                kubernetes_version: version,
                ..current.cluster.clone()
            };
            (config, false)
        }
    };
    if config.kubelet_config.is_none() {
        config.kubelet_config = current.kubelet_config.clone();
    }
    config.bootstrap_tokens.clear();
    config.node_registration.taints = None;
    Ok((config, user_proxy))
}

/// kubeadm-config's data for the target: the target's ClusterConfiguration, and for a ≤ 1.21
/// cluster its ClusterStatus with every control plane it lists kept and this node's entry set.
pub fn kubeadm_config_data(ctx: &UpgradeContext) -> BTreeMap<String, String> {
    let mut data = ctx.target.config.kubeadm_config_data();
    if data.contains_key(CLUSTER_STATUS_KEY) {
        let status = crate::config::stored::cluster_status_with(
            ctx.current.cluster_status.as_deref(),
            &ctx.node.name,
            ctx.node.endpoint.as_ref(),
        );
        data.insert(CLUSTER_STATUS_KEY.to_owned(), status);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clusters_kubelet_configuration_loses_only_the_first_nodes_paths() {
        let stored = serde_json::json!({
            "kind": "KubeletConfiguration",
            "staticPodPath": "/tmp/node1/etc/kubernetes/manifests",
            "authentication": {"x509": {"clientCAFile": "/tmp/node1/etc/kubernetes/pki/ca.crt"},
                               "webhook": {"enabled": true}},
            "cgroupDriver": "cgroupfs",
        });
        assert_eq!(
            without_node_paths(stored),
            serde_json::json!({
                "kind": "KubeletConfiguration",
                "authentication": {"x509": {}, "webhook": {"enabled": true}},
                "cgroupDriver": "cgroupfs",
            })
        );
    }

    #[test]
    fn a_reconfiguration_keeps_the_clusters_configuration_at_its_version() {
        let node = ThisNode {
            name: "cp1".into(),
            role: Role::ControlPlane,
            endpoint: Some(ApiEndpoint {
                advertise_address: IpAddr::from([127, 0, 0, 5]),
                bind_port: 6443,
            }),
            cri_socket: CriSocket::default(),
        };
        let cluster = crate::config::parse_cluster_configuration(
            Path::new("kubeadm-config"),
            "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\napiServer:\n  extraArgs:\n    event-ttl: 2h0m0s\n",
        )
        .unwrap();
        let current = CurrentCluster {
            cluster,
            cluster_status: None,
            kubelet_config: Some(
                serde_json::json!({"kind": "KubeletConfiguration", "cgroupDriver": "cgroupfs"}),
            ),
            kubelets: Vec::new(),
            unready_control_planes: Vec::new(),
        };
        let version: KubernetesVersion = "v1.20.3".parse().unwrap();
        let (config, replaces_proxy) =
            target_config(&node, &current, version.clone(), None).unwrap();
        assert_eq!(config.cluster.kubernetes_version, version);
        assert_eq!(config.cluster.api_server, current.cluster.api_server);
        assert_eq!(config.node_registration.name.as_str(), "cp1");
        assert_eq!(config.local_api_endpoint, node.endpoint.unwrap());
        assert!(
            config.bootstrap_tokens.is_empty(),
            "an upgrade makes no token"
        );
        assert_eq!(config.kubelet_config, current.kubelet_config);
        assert!(!replaces_proxy);
    }
}
