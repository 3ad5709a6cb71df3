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

/// kubeadm of one minor release (of major version 1), deploying that release. The patch
/// release matters only where a backport changed what kubeadm writes within a minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    minor: u64,
    patch: u64,
}

impl Release {
    pub fn of(version: &KubernetesVersion) -> Self {
        Self {
            minor: version.minor(),
            patch: version.patch(),
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

    /// Whether the CoreDNS Deployment prefers spreading its replicas over nodes
    /// (`podAntiAffinity` on `kubernetes.io/hostname`, weight 100): from 1.25 ("Kubeadm: the
    /// preferred pod anti-affinity for CoreDNS is now enabled by default", #110593, in the
    /// v1.25.0 CHANGELOG, search index id 11508590801); kubeadm 1.20 and 1.22's templates have
    /// none (fidelity audit S20, S22).
    pub fn coredns_pod_anti_affinity(self) -> bool {
        self.minor >= 25
    }

    /// Whether ClusterRole `system:coredns` also lets CoreDNS `get` nodes (for the long-removed
    /// federation plugin): up to 1.27; kubeadm 1.28 dropped the rule (#117521, merged April
    /// 2023; the 1.20, 1.22 templates have it, the 1.28.7 one does not: fidelity audit §5.1).
    pub fn coredns_gets_nodes(self) -> bool {
        self.minor <= 27
    }

    /// Whether etcd starts with its initial data-corruption check: from 1.24 (#109074), and
    /// in the patches that carried the backports #109076 (release-1.22) and #109075
    /// (release-1.23), both merged 2022-04-28. 1.22.10 is verified: its release notes list
    /// #109076 (a copy of the v1.22.10 CHANGELOG in Giant Swarm's release notes, search index
    /// id 41723541034). 1.23.7 is inferred, not read: #109075 merged the same day, and 1.23.7
    /// was the 1.23 patch released with 1.22.10 (the index holds no 1.23 patch CHANGELOG).
    pub fn etcd_initial_corrupt_check(self) -> bool {
        match self.minor {
            ..=21 => false,
            22 => self.patch >= 10,
            23 => self.patch >= 7,
            _ => true,
        }
    }

    /// Whether etcd gets the graduated flags `--feature-gates=InitialCorruptCheck=true` and
    /// `--watch-progress-notify-interval` instead of the `--experimental-` ones (deprecated in
    /// etcd 3.6, removed in 3.7). kubeadm 1.34 and 1.35 choose by the etcd image tag, a
    /// semantic version ≥ 3.6.0 (#132838; local.go `getEtcdCommand`, search index id
    /// 47662213502, and kubeadm#3240); 1.36 always (#135701: "etcd < 3.6.0 is no longer
    /// supported").
    pub fn etcd_graduated_flags(self, etcd_image_tag: &str) -> bool {
        match self.minor {
            ..=33 => false,
            34 | 35 => semver_at_least(etcd_image_tag, (3, 6, 0)),
            _ => true,
        }
    }

    /// Whether every static pod's probes use the named container port `probe-port` (declared
    /// under the container's `ports`, TCP, the probed port): from 1.34 (#132776, "started
    /// using a named port 'probe-port' for all probes").
    pub fn probes_named_port(self) -> bool {
        self.minor >= 34
    }

    /// Whether kube-scheduler is probed on `/livez` (liveness, startup) and `/readyz` (a
    /// readiness probe) instead of `/healthz`: from 1.32 (#126945, v1.32.0-alpha CHANGELOG,
    /// search index id 2568166653).
    pub fn scheduler_probes_livez_readyz(self) -> bool {
        self.minor >= 32
    }

    /// Whether kube-controller-manager gets the `flexvolume-dir` hostPath mount: up to 1.35;
    /// 1.36 dropped kubeadm's flex-volume support (#136423, an urgent upgrade note of the 1.36
    /// CHANGELOG, search index id 5728129003).
    pub fn mounts_flex_volume_dir(self) -> bool {
        self.minor <= 35
    }

    /// Whether a user's `authorization-config` in apiServer extraArgs makes kubeadm leave out
    /// its default `--authorization-mode` (kube-apiserver refuses both): from 1.30 (#123654,
    /// in the v1.30.0 CHANGELOG, search index id 14731457252).
    pub fn authorization_config_replaces_mode(self) -> bool {
        self.minor >= 30
    }

    /// Whether the environment of a static pod's container is sorted by name: from 1.32
    /// (#126743, `MergeKubeadmEnvVars`); before, kubeadm's order came from a Go map.
    pub fn sorts_component_env(self) -> bool {
        self.minor >= 32
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

impl Release {
    /// Whether kubeadm-flags.env carries `--container-runtime=remote`: up to 1.25 (kubeadm
    /// stopped writing it in 1.26, #112000; the kubelet removed the flag in 1.27).
    pub fn passes_container_runtime_remote(self) -> bool {
        self.minor <= 25
    }

    /// Whether the node's CRI socket lives in `/var/lib/kubelet/instance-config.yaml`
    /// (`containerRuntimeEndpoint`, applied over config.yaml) instead of the kubelet flag
    /// `--container-runtime-endpoint`: kubeadm's NodeLocalCRISocket, beta and on from 1.34
    /// (#131981), GA in 1.36 (#135742).
    pub fn node_local_cri_socket(self) -> bool {
        self.minor >= 34
    }

    /// Whether kubeadm-flags.env carries `--pod-infra-container-image` for a CRI runtime: from
    /// 1.21 (#99476; 1.20 only with dockershim) to 1.34; 1.35 stopped (#133778) as the kubelet
    /// removed the flag (#133779).
    pub fn passes_pod_infra_container_image(self) -> bool {
        (21..=34).contains(&self.minor)
    }

    /// Whether init and join annotate the Node with `kubeadm.alpha.kubernetes.io/cri-socket`:
    /// up to 1.35. From 1.36 (NodeLocalCRISocket GA, #135742) kubeadm reads only
    /// instance-config.yaml and its patchnode package is gone; 1.34–1.35 read instance-config
    /// first and the annotation as a fallback, so setting it there is what older tooling needs.
    pub fn annotates_cri_socket(self) -> bool {
        self.minor <= 35
    }

    /// Whether a control plane's kubelet.conf (and, on join, bootstrap-kubelet.conf) names the
    /// node's own API server instead of `controlPlaneEndpoint`: kubeadm's
    /// ControlPlaneKubeletLocalMode, beta and on from 1.33 (#129956), GA in 1.35 (#134106).
    pub fn kubelet_uses_local_api_server(self) -> bool {
        self.minor >= 33
    }

    /// Whether the admin credentials are split as kubeadm 1.29 split them (#121305): admin.conf
    /// in group `kubeadm:cluster-admins` (bound to cluster-admin by a ClusterRoleBinding) and a
    /// separate super-admin.conf in `system:masters`. Up to 1.28 admin.conf itself is in
    /// `system:masters` and there is no super-admin.conf.
    pub fn separates_super_admin(self) -> bool {
        self.minor >= 29
    }

    /// The group (subject O) of admin.conf's certificate: `system:masters` up to 1.28,
    /// `kubeadm:cluster-admins` from 1.29 (#121305).
    pub fn admin_group(self) -> &'static str {
        if self.separates_super_admin() {
            CLUSTER_ADMINS_GROUP
        } else {
            SYSTEM_MASTERS_GROUP
        }
    }

    /// The group of the etcd client certificates (etcd/healthcheck-client,
    /// apiserver-etcd-client): `system:masters` up to 1.28, none from 1.29 (#119859, #120521:
    /// etcd does not read it).
    pub fn etcd_client_group(self) -> Option<&'static str> {
        (!self.separates_super_admin()).then_some(SYSTEM_MASTERS_GROUP)
    }
}

/// The group the API server grants everything, whatever RBAC says.
pub const SYSTEM_MASTERS_GROUP: &str = "system:masters";
/// The group of admin.conf from 1.29, made cluster-admin by the ClusterRoleBinding of its name.
pub const CLUSTER_ADMINS_GROUP: &str = "kubeadm:cluster-admins";

/// How the API server's client certificate for kubelets (apiserver-kubelet-client) is
/// authorised, per patch release: by its group up to the May 2026 patch releases, then by its
/// user, `kube-apiserver-kubelet-client`, bound to ClusterRole `system:kubelet-api-admin`
/// (#138957, "use a dedicated ClusterRole 'system:kubelet-api-admin' for the kube-apiserver
/// kubelet client", in 1.37.0; cherry-picked to release-1.33 to 1.36 as #138964, #138960,
/// #138959, #138958, merged 2026-05-11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum KubeletClientAuthorization {
    /// Subject O: `system:masters` up to 1.28, `kubeadm:cluster-admins` from 1.29 (#121837).
    Group(&'static str),
    /// No O; ClusterRoleBinding `kubeadm:apiserver-kubelet-client` (the name kubeadm's
    /// constants give it, as vendored by Kamaji) grants `system:kubelet-api-admin`.
    KubeletApiAdmin,
}

impl KubeletClientAuthorization {
    /// The first patch releases with the cherry-pick: 1.35.5 (a user's upgrade to 1.35.5 in the
    /// #138959 thread) and 1.36.1 (Kamaji's "call AllowAPIServerToAccessKubeletAPI … v1.36.1");
    /// 1.33.12 and 1.34.8 are that same May 2026 patch day, inferred from the release cadence
    /// (1.34.7 and 1.35.4 were the April releases; 1.33.13, 1.34.9, 1.35.6 and 1.36.2 June's).
    pub fn of(version: &KubernetesVersion) -> Self {
        let patch = version.patch();
        let dedicated = match version.minor() {
            ..=32 => false,
            33 => patch >= 12,
            34 => patch >= 8,
            35 => patch >= 5,
            36 => patch >= 1,
            _ => true,
        };
        if dedicated {
            Self::KubeletApiAdmin
        } else {
            Self::Group(Release::of(version).admin_group())
        }
    }
}

/// apimachinery's `ParseSemantic(tag).AtLeast(min)`: an optional `v`, exactly three numeric
/// components, then nothing, a pre-release (`-…`) or build metadata (`+…`); a pre-release
/// sorts before its release (`3.6.0-0` < `3.6.0`). A tag that is not such a version is not at
/// least anything.
fn semver_at_least(tag: &str, min: (u64, u64, u64)) -> bool {
    let t = tag.trim_start();
    let t = t.strip_prefix('v').unwrap_or(t);
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (numbers, rest) = t.split_at(end);
    if !(rest.is_empty() || rest.starts_with('-') || rest.starts_with('+')) {
        return false;
    }
    let parts: Option<Vec<u64>> = numbers.split('.').map(|p| p.parse().ok()).collect();
    let Some(&[major, minor, patch]) = parts.as_deref() else {
        return false;
    };
    let prerelease = rest.starts_with('-');
    match (major, minor, patch).cmp(&min) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => !prerelease,
        std::cmp::Ordering::Less => false,
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
        assert!(!release(24).coredns_pod_anti_affinity());
        assert!(release(25).coredns_pod_anti_affinity());
        assert!(!release(26).coredns_tolerates_master());
    }

    #[test]
    fn etcd_flags_follow_the_release_and_its_etcd() {
        let patch = |minor, patch| Release::of(&KubernetesVersion::new(1, minor, patch));
        // Backports #109076 (1.22.10) and #109075 (1.23.7); #109074 in 1.24.
        assert!(!release(21).etcd_initial_corrupt_check());
        assert!(!patch(22, 9).etcd_initial_corrupt_check());
        assert!(patch(22, 10).etcd_initial_corrupt_check());
        assert!(!patch(23, 6).etcd_initial_corrupt_check());
        assert!(patch(23, 7).etcd_initial_corrupt_check());
        assert!(release(24).etcd_initial_corrupt_check());
        // #132838 (1.34: by the etcd tag), #135701 (1.36: always).
        assert!(!release(33).etcd_graduated_flags("3.6.5-0"));
        assert!(release(34).etcd_graduated_flags("3.6.5-0"));
        assert!(release(35).etcd_graduated_flags("v3.6.0"));
        assert!(!release(34).etcd_graduated_flags("3.6.0-0"));
        assert!(!release(34).etcd_graduated_flags("3.5.24-0"));
        assert!(!release(34).etcd_graduated_flags("latest"));
        assert!(!release(34).etcd_graduated_flags("3.6"));
        assert!(release(36).etcd_graduated_flags("3.5.24-0"));
    }

    #[test]
    fn static_pod_boundaries_of_1_30_to_1_36() {
        assert!(!release(29).authorization_config_replaces_mode());
        assert!(release(30).authorization_config_replaces_mode());
        assert!(!release(31).scheduler_probes_livez_readyz());
        assert!(release(32).scheduler_probes_livez_readyz());
        assert!(!release(31).sorts_component_env());
        assert!(release(32).sorts_component_env());
        assert!(!release(33).probes_named_port());
        assert!(release(34).probes_named_port());
        assert!(release(35).mounts_flex_volume_dir());
        assert!(!release(36).mounts_flex_volume_dir());
    }

    #[test]
    fn semantic_versions_compare_as_apimachinery_does() {
        assert!(semver_at_least("3.6.0", (3, 6, 0)));
        assert!(semver_at_least("3.7.0-rc.0", (3, 6, 0)));
        assert!(semver_at_least("4.0.0+build", (3, 6, 0)));
        assert!(!semver_at_least("3.6.0-0", (3, 6, 0)));
        assert!(!semver_at_least("3.6.0.1", (3, 6, 0)));
        assert!(!semver_at_least("3.6.0x", (3, 6, 0)));
        assert!(!semver_at_least("", (3, 6, 0)));
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

    #[test]
    fn the_kubelet_flags_move_into_files_from_1_34() {
        assert!(release(25).passes_container_runtime_remote());
        assert!(!release(26).passes_container_runtime_remote());
        assert!(!release(33).node_local_cri_socket());
        assert!(release(34).node_local_cri_socket());
        assert!(!release(20).passes_pod_infra_container_image());
        assert!(release(34).passes_pod_infra_container_image());
        assert!(!release(35).passes_pod_infra_container_image());
        assert!(release(35).annotates_cri_socket());
        assert!(!release(36).annotates_cri_socket());
        assert!(!release(32).kubelet_uses_local_api_server());
        assert!(release(33).kubelet_uses_local_api_server());
        assert!(!release(28).separates_super_admin());
        assert!(release(29).separates_super_admin());
    }

    #[test]
    fn admin_credentials_leave_system_masters_in_1_29() {
        assert_eq!(release(28).admin_group(), "system:masters");
        assert_eq!(release(29).admin_group(), "kubeadm:cluster-admins");
        assert_eq!(release(28).etcd_client_group(), Some("system:masters"));
        assert_eq!(release(29).etcd_client_group(), None);
        let v = |m, p| KubeletClientAuthorization::of(&KubernetesVersion::new(1, m, p));
        use KubeletClientAuthorization::*;
        assert_eq!(v(28, 15), Group("system:masters"));
        assert_eq!(v(29, 0), Group("kubeadm:cluster-admins"));
        assert_eq!(v(33, 11), Group("kubeadm:cluster-admins"));
        assert_eq!(v(33, 12), KubeletApiAdmin);
        assert_eq!(v(34, 7), Group("kubeadm:cluster-admins"));
        assert_eq!(v(34, 8), KubeletApiAdmin);
        assert_eq!(v(35, 4), Group("kubeadm:cluster-admins"));
        assert_eq!(v(35, 5), KubeletApiAdmin);
        assert_eq!(v(36, 0), Group("kubeadm:cluster-admins"));
        assert_eq!(v(36, 1), KubeletApiAdmin);
        assert_eq!(v(37, 0), KubeletApiAdmin);
    }
}
