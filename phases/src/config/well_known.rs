//! Names, paths and ports that kubeadm fixes rather than configures, each defined once. The
//! configuration's defaults, the phases and `reset` all read them from here, so a path that
//! init writes is the path reset removes. Paths are host paths; [`crate::contract::host::NodeRoot`]
//! puts them under `--root`.

/// kubeadm's `KubernetesDir`: kubeconfigs and the manifests directory live here.
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
/// kubeadm's `ManifestsSubDirName` under [`KUBERNETES_DIR`]: the kubelet's static-pod path.
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
/// kubeadm's `DefaultCertificatesDir` (ClusterConfiguration `certificatesDir`).
pub const DEFAULT_CERTIFICATES_DIR: &str = "/etc/kubernetes/pki";
/// The cluster CA a joining node's kubelet trusts (kubeadm's `DefaultCACertPath`).
pub const DEFAULT_CA_CERT_PATH: &str = "/etc/kubernetes/pki/ca.crt";
/// admin.conf, the cluster administrator's kubeconfig.
pub const ADMIN_CONF_PATH: &str = "/etc/kubernetes/admin.conf";
/// The kubelet's state: config.yaml, kubeadm-flags.env, its pki directory.
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
/// Where the kubelet keeps its own (rotated) client and serving certificates.
pub const KUBELET_PKI_DIR: &str = "/var/lib/kubelet/pki";
/// A node root's own service manager: under `--root DIR` other than `/`, kubestrap restarts and
/// stops that node's kubelet by running `DIR/etc/kubestrap/node-service restart|stop kubelet`
/// where, on `/`, it runs `systemctl`. Not kubeadm's: its nodes are whole machines.
pub const NODE_SERVICE_HOOK: &str = "/etc/kubestrap/node-service";
/// kubeadm's default local etcd `dataDir`.
pub const DEFAULT_ETCD_DATA_DIR: &str = "/var/lib/etcd";

/// The namespace of the control plane, kubeadm-config, the addons and the token Secrets.
pub const KUBE_SYSTEM: &str = "kube-system";
/// The namespace anyone may read: cluster-info lives here.
pub const KUBE_PUBLIC: &str = "kube-public";
/// ConfigMap kube-public/cluster-info: the cluster's CA and endpoint, signed per token.
pub const CLUSTER_INFO: &str = "cluster-info";
/// ConfigMap kube-system/kubeadm-config and its key holding the ClusterConfiguration.
pub const KUBEADM_CONFIG_MAP: &str = "kubeadm-config";
pub const CLUSTER_CONFIGURATION_KEY: &str = "ClusterConfiguration";
/// kubeadm-config's key for the control planes' API endpoints (kubeadm ≤ 1.21).
pub const CLUSTER_STATUS_KEY: &str = "ClusterStatus";
/// The key of the kubelet's ConfigMap (named per release: `Release::kubelet_config_map`)
/// holding the KubeletConfiguration.
pub const KUBELET_CONFIG_KEY: &str = "kubelet";

/// The group of every node identity (`system:node:<name>`).
pub const NODES_GROUP: &str = "system:nodes";

/// The RBAC API group, as Role and binding references name it.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The symlink in [`KUBELET_PKI_DIR`] to the kubelet's current client certificate and key.
pub const KUBELET_CLIENT_CURRENT: &str = "kubelet-client-current.pem";

/// kube-apiserver's default secure port (`localAPIEndpoint.bindPort`).
pub const API_SERVER_PORT: u16 = 6443;
/// etcd's client and peer ports.
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;
/// The secure ports of kube-controller-manager, kube-scheduler and the kubelet.
pub const CONTROLLER_MANAGER_PORT: u16 = 10257;
pub const SCHEDULER_PORT: u16 = 10259;
pub const KUBELET_PORT: u16 = 10250;
