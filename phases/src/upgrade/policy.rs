//! Which version changes an upgrade may make: kubeadm's `EnforceVersionPolicies`
//! (cmd/kubeadm/app/phases/upgrade/policy.go, search index id 149068135):
//! `MaximumAllowedMinorVersionUpgradeSkew = 1` and `MaximumAllowedMinorVersionDowngradeSkew = 1`
//! (mandatory for released versions), and kubelets too old for the target (skippable), with
//! `MaximumAllowedMinorVersionKubeletSkew` 1 up to kubeadm 1.28 and 3 from 1.29
//! (kubernetes/kubernetes#120825, KEP-3935).
//!
//! kubeadm splits violations into mandatory ones, which stop it, and skippable ones, which
//! `--force` lets through; kubestrap keeps that split. Two checks are kubestrap's own, both
//! skippable: any downgrade (kubeadm 1.20 lets a patch downgrade through silently, and the
//! etcd it leaves behind may be newer than the target's), and a kubelet newer than the target
//! (the version skew policy forbids it; kubeadm's `upgrade apply` does not look).

use serde::Serialize;

use crate::config::KubernetesVersion;
use crate::domain::static_pod::{NEWEST_MINOR, OLDEST_MINOR};

/// One reason not to upgrade from the cluster's version to the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Stable name (`skips-minor`, `downgrade`, …) for scripts and `-o json`.
    pub id: &'static str,
    pub message: String,
    /// Whether `--force` lets the upgrade go on despite it (kubeadm's "skippable").
    pub skippable: bool,
}

/// The version a kubelet on a node reports, for the skew check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubeletVersion {
    pub node: String,
    pub version: KubernetesVersion,
}

/// The kubelet skew kubeadm of the target's minor allows: one minor up to 1.28, three from
/// 1.29 (kubernetes/kubernetes#120825).
fn kubelet_skew(target: &KubernetesVersion) -> u64 {
    if target.minor() >= 29 { 3 } else { 1 }
}

/// Every violation of the move from `cluster` to `target` with `kubelets` in the cluster.
pub fn check(
    cluster: &KubernetesVersion,
    target: &KubernetesVersion,
    kubelets: &[KubeletVersion],
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mandatory = |id, message: String| Violation {
        id,
        message,
        skippable: false,
    };
    let skippable = |id, message: String| Violation {
        id,
        message,
        skippable: true,
    };
    if target.major() != 1 || !(OLDEST_MINOR..=NEWEST_MINOR).contains(&target.minor()) {
        out.push(mandatory(
            "unsupported-version",
            format!(
                "{target} is not a release kubestrap knows: it upgrades to v1.{OLDEST_MINOR}.x – v1.{NEWEST_MINOR}.x"
            ),
        ));
        return out;
    }
    if target.major() != cluster.major() {
        out.push(mandatory(
            "major-version",
            format!("cannot move from {cluster} to another major version ({target})"),
        ));
        return out;
    }
    if target.minor() > cluster.minor() + 1 {
        out.push(mandatory(
            "skips-minor",
            format!(
                "{target} is too high: the cluster runs {cluster}, and an upgrade can move only one minor version at a time (to v1.{}.x first)",
                cluster.minor() + 1
            ),
        ));
    }
    if target.minor() + 1 < cluster.minor() {
        out.push(mandatory(
            "downgrade-too-far",
            format!(
                "{target} is too low: the cluster runs {cluster}, and a downgrade can move only one minor version at a time"
            ),
        ));
    }
    if target < cluster {
        out.push(skippable(
            "downgrade",
            format!(
                "{target} is lower than the cluster's version {cluster}: downgrades are not supported (kubeadm: \"Downgrades are not supported yet\")"
            ),
        ));
    }
    let skew = kubelet_skew(target);
    for k in kubelets {
        if k.version.minor() > target.minor() {
            out.push(skippable(
                "kubelet-newer",
                format!(
                    "the kubelet on {} is {}, newer than the target control plane {target}: not a supported skew",
                    k.node, k.version
                ),
            ));
        } else if k.version.minor() + skew < target.minor() {
            out.push(skippable(
                "kubelet-too-old",
                format!(
                    "the kubelet on {} is {}: a {target} control plane supports kubelets down to v1.{}; upgrade that kubelet first",
                    k.node,
                    k.version,
                    target.minor() - skew
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubernetesVersion {
        s.parse().unwrap()
    }

    fn ids(cluster: &str, target: &str, kubelets: &[(&str, &str)]) -> Vec<(&'static str, bool)> {
        let kubelets: Vec<KubeletVersion> = kubelets
            .iter()
            .map(|(n, k)| KubeletVersion {
                node: n.to_string(),
                version: v(k),
            })
            .collect();
        check(&v(cluster), &v(target), &kubelets)
            .into_iter()
            .map(|x| (x.id, x.skippable))
            .collect()
    }

    #[test]
    fn a_patch_or_one_minor_up_or_the_same_version_is_allowed() {
        assert!(ids("v1.20.2", "v1.20.3", &[("cp1", "v1.20.2")]).is_empty());
        assert!(ids("v1.20.2", "v1.21.0", &[("cp1", "v1.20.2")]).is_empty());
        assert!(ids("v1.20.2", "v1.20.2", &[]).is_empty(), "reconfiguration");
    }

    #[test]
    fn skipping_a_minor_is_mandatory_a_downgrade_skippable_as_in_kubeadm() {
        assert_eq!(ids("v1.20.2", "v1.22.0", &[]), [("skips-minor", false)]);
        assert_eq!(ids("v1.20.3", "v1.20.2", &[]), [("downgrade", true)]);
        assert_eq!(
            ids("v1.23.0", "v1.21.0", &[]),
            [("downgrade-too-far", false), ("downgrade", true)]
        );
    }

    #[test]
    fn unknown_releases_are_refused_before_anything_else() {
        assert_eq!(
            ids("v1.20.2", "v1.38.0", &[]),
            [("unsupported-version", false)]
        );
        assert_eq!(
            ids("v1.20.2", "v2.0.0", &[]),
            [("unsupported-version", false)]
        );
    }

    #[test]
    fn kubelet_skew_follows_the_targets_policy() {
        assert_eq!(
            ids("v1.21.0", "v1.22.0", &[("w1", "v1.20.2")]),
            [("kubelet-too-old", true)]
        );
        assert!(ids("v1.29.0", "v1.30.0", &[("w1", "v1.27.0")]).is_empty());
        assert_eq!(
            ids("v1.27.0", "v1.28.0", &[("w1", "v1.26.0")]),
            [("kubelet-too-old", true)]
        );
        assert_eq!(
            ids("v1.20.2", "v1.20.3", &[("w1", "v1.21.0")]),
            [("kubelet-newer", true)]
        );
    }
}
