//! What kubeadm of one minor release writes into the cluster, where it differs from the next:
//! the names, formats, labels and taints that kubeadm's own tools of that release read back.
//! A cluster made by kubestrap for v1.X must look to kubeadm v1.X as if kubeadm v1.X had made
//! it (its `join`, `upgrade`, `certs` and `reset` read these objects), and kubestrap must read
//! what each kubeadm release wrote.
//!
//! Every boundary here was read in kubeadm's source or release notes for the versions either
//! side of it; docs/compatibility.md has one row per minor with the sources.

use crate::config::{CriSocket, KubernetesVersion, Taint};

/// kubeadm's ClusterConfiguration API versions, as stored in ConfigMap kube-system/kubeadm-config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigApi {
    V1beta2,
    V1beta3,
    V1beta4,
}

impl ConfigApi {
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V1beta2 => "kubeadm.k8s.io/v1beta2",
            Self::V1beta3 => "kubeadm.k8s.io/v1beta3",
            Self::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

/// kubeadm's `LabelNodeRoleOldControlPlane` (≤ 1.23) and taint key (≤ 1.24).
pub const MASTER_ROLE: &str = "node-role.kubernetes.io/master";
/// kubeadm's `LabelNodeRoleControlPlane` and, from 1.24, the control-plane taint key.
pub const CONTROL_PLANE_ROLE: &str = "node-role.kubernetes.io/control-plane";
/// kubeadm's `LabelExcludeFromExternalLB`, set by mark-control-plane from 1.21 (#98269).
pub const EXCLUDE_FROM_EXTERNAL_LB_LABEL: &str =
    "node.kubernetes.io/exclude-from-external-load-balancers";

/// The kubelet's ConfigMap from kubeadm 1.24 on (`KubeletBaseConfigurationConfigMap`).
const UNVERSIONED_KUBELET_CONFIG_MAP: &str = "kubelet-config";

/// kubeadm of one minor release (of major version 1), deploying that release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    minor: u64,
}

impl Release {
    pub fn of(version: &KubernetesVersion) -> Self {
        Self {
            minor: version.minor(),
        }
    }

    pub const fn minor(self) -> u64 {
        self.minor
    }

    /// The ClusterConfiguration API version that kubeadm of this release writes into
    /// kubeadm-config (and the newest it reads): v1beta2 up to 1.21, v1beta3 from 1.22 (#101129)
    /// to 1.30, v1beta4 from 1.31 (#125029: "the storage configuration in the
    /// kube-system/kubeadm-config ConfigMap is now a v1beta4 ClusterConfiguration").
    pub fn config_api(self) -> ConfigApi {
        match self.minor {
            ..=21 => ConfigApi::V1beta2,
            22..=30 => ConfigApi::V1beta3,
            _ => ConfigApi::V1beta4,
        }
    }

    /// Whether kubeadm-config also holds `ClusterStatus` (the control planes' API endpoints):
    /// up to 1.21. kubeadm 1.20/1.21 `join --control-plane` and `upgrade` fail without it
    /// (`UnmarshalClusterStatus`: "ClusterStatus key value pair missing"); 1.22 removed it
    /// (#101915).
    pub fn stores_cluster_status(self) -> bool {
        self.minor <= 21
    }

    /// Whether the stored ClusterConfiguration carries `apiServer.extraArgs.authorization-mode:
    /// Node,RBAC`: kubeadm up to 1.29 defaulted the flag into the configuration before
    /// upload-config (getAPIServerCommand); 1.30 stopped uploading it (#123555).
    pub fn stores_authorization_mode(self) -> bool {
        self.minor <= 29
    }

    /// The kubelet's ConfigMap in kube-system: `kubelet-config-1.X` up to 1.23, then
    /// `kubelet-config` (UnversionedKubeletConfigMap: on by default in 1.24, #108027).
    pub fn kubelet_config_map(self) -> String {
        let [own, _] = self.kubelet_config_map_candidates();
        own
    }

    /// The names a reader tries for the kubelet's ConfigMap, in order: this release's name
    /// first, then the other form, as kubeadm from 1.23 falls back across the rename (#105741),
    /// so that a cluster renamed by an upgrade still works. (A bootstrap token may read only
    /// the name its cluster's kubeadm wrote: kubeadm 1.20 answers 403 for `kubelet-config`.)
    pub fn kubelet_config_map_candidates(self) -> [String; 2] {
        let unversioned = UNVERSIONED_KUBELET_CONFIG_MAP.to_owned();
        let versioned = format!("{UNVERSIONED_KUBELET_CONFIG_MAP}-1.{}", self.minor);
        if self.minor <= 23 {
            [versioned, unversioned]
        } else {
            [unversioned, versioned]
        }
    }

    /// The Role and RoleBinding that let nodes read [`Release::kubelet_config_map`].
    pub fn kubelet_config_role(self) -> String {
        format!("kubeadm:{}", self.kubelet_config_map())
    }

    /// The labels mark-control-plane sets (all with empty values): 1.20 adds `control-plane`
    /// beside `master`, 1.21 adds exclude-from-external-load-balancers, 1.24 stops setting
    /// `master` (#107533).
    pub fn control_plane_labels(self) -> Vec<&'static str> {
        let mut labels = Vec::new();
        if self.minor <= 23 {
            labels.push(MASTER_ROLE);
        }
        labels.push(CONTROL_PLANE_ROLE);
        if self.minor >= 21 {
            labels.push(EXCLUDE_FROM_EXTERNAL_LB_LABEL);
        }
        labels
    }

    /// kubeadm's default `nodeRegistration.taints` for a control plane: `master` up to 1.23,
    /// both in 1.24 (#107533), `control-plane` from 1.25 (#110095).
    pub fn control_plane_taints(self) -> Vec<Taint> {
        let taint = Taint::no_schedule;
        match self.minor {
            ..=23 => vec![taint(MASTER_ROLE)],
            24 => vec![taint(MASTER_ROLE), taint(CONTROL_PLANE_ROLE)],
            _ => vec![taint(CONTROL_PLANE_ROLE)],
        }
    }

    /// Whether CoreDNS tolerates the `master` taint: up to 1.25 (dropped in 1.26, #112008).
    pub fn coredns_tolerates_master(self) -> bool {
        self.minor <= 25
    }

    /// The value of the Node annotation `kubeadm.alpha.kubernetes.io/cri-socket`: kubeadm up
    /// to 1.23 stores the socket as a path (its detection yields `/run/containerd/containerd.sock`),
    /// 1.24 made the `unix://` scheme the form (SetNodeRegistrationDynamicDefaults).
    pub fn cri_socket_annotation(self, socket: &CriSocket) -> String {
        if self.minor <= 23 {
            socket.path().display().to_string()
        } else {
            socket.as_str().to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(minor: u64) -> Release {
        Release::of(&KubernetesVersion::new(1, minor, 0))
    }

    fn keys(taints: Vec<Taint>) -> Vec<String> {
        taints.into_iter().map(|t| t.key).collect()
    }

    #[test]
    fn the_stored_config_api_follows_the_release() {
        assert_eq!(release(20).config_api(), ConfigApi::V1beta2);
        assert_eq!(release(21).config_api(), ConfigApi::V1beta2);
        assert_eq!(release(22).config_api(), ConfigApi::V1beta3);
        assert_eq!(release(30).config_api(), ConfigApi::V1beta3);
        assert_eq!(release(31).config_api(), ConfigApi::V1beta4);
        assert!(release(21).stores_cluster_status());
        assert!(!release(22).stores_cluster_status());
        assert!(release(29).stores_authorization_mode());
        assert!(!release(30).stores_authorization_mode());
    }

    #[test]
    fn the_kubelet_config_map_is_versioned_up_to_1_23() {
        assert_eq!(release(20).kubelet_config_map(), "kubelet-config-1.20");
        assert_eq!(
            release(23).kubelet_config_role(),
            "kubeadm:kubelet-config-1.23"
        );
        assert_eq!(release(24).kubelet_config_map(), "kubelet-config");
        assert_eq!(release(24).kubelet_config_role(), "kubeadm:kubelet-config");
        assert_eq!(
            release(20).kubelet_config_map_candidates(),
            ["kubelet-config-1.20", "kubelet-config"]
        );
        assert_eq!(
            release(24).kubelet_config_map_candidates(),
            ["kubelet-config", "kubelet-config-1.24"]
        );
    }

    #[test]
    fn labels_and_taints_move_from_master_to_control_plane() {
        assert_eq!(
            release(20).control_plane_labels(),
            [MASTER_ROLE, CONTROL_PLANE_ROLE]
        );
        assert_eq!(
            release(23).control_plane_labels(),
            [
                MASTER_ROLE,
                CONTROL_PLANE_ROLE,
                EXCLUDE_FROM_EXTERNAL_LB_LABEL
            ]
        );
        assert_eq!(
            release(24).control_plane_labels(),
            [CONTROL_PLANE_ROLE, EXCLUDE_FROM_EXTERNAL_LB_LABEL]
        );
        assert_eq!(keys(release(23).control_plane_taints()), [MASTER_ROLE]);
        assert_eq!(
            keys(release(24).control_plane_taints()),
            [MASTER_ROLE, CONTROL_PLANE_ROLE]
        );
        assert_eq!(
            keys(release(25).control_plane_taints()),
            [CONTROL_PLANE_ROLE]
        );
        assert!(release(25).coredns_tolerates_master());
        assert!(!release(26).coredns_tolerates_master());
    }

    #[test]
    fn the_cri_socket_annotation_gains_its_scheme_in_1_24() {
        let socket: CriSocket = "unix:///run/containerd/containerd.sock".parse().unwrap();
        assert_eq!(
            release(23).cri_socket_annotation(&socket),
            "/run/containerd/containerd.sock"
        );
        assert_eq!(
            release(24).cri_socket_annotation(&socket),
            "unix:///run/containerd/containerd.sock"
        );
    }
}
