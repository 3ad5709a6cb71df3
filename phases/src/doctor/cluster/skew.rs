//! `kubelet-version-skew`: each Node's kubelet against the control plane's release, by the
//! version skew policy kubeadm's preflight applies (a kubelet never newer than the control
//! plane's minor, and at most three minors older: KubernetesVersion::oldest_supported_kubelet).
//! A kubelet outside it may fail to register, or to run what the API server sends it.

use k8s_openapi::api::core::v1::Node;

use super::super::{Evidence, Finding, FindingId};
use crate::config::KubernetesVersion;

pub const KUBELET_VERSION_SKEW: FindingId = FindingId("kubelet-version-skew");

/// A finding for each Node whose kubelet (its `status.nodeInfo.kubeletVersion`) is outside the
/// skew policy of a `control_plane` release.
pub fn check(nodes: &[Node], control_plane: &KubernetesVersion) -> Vec<Finding> {
    let oldest = control_plane.oldest_supported_kubelet();
    nodes
        .iter()
        .filter_map(|node| {
            let name = node.metadata.name.as_deref()?;
            let reported = node.status.as_ref()?.node_info.as_ref()?.kubelet_version.clone();
            let kubelet: KubernetesVersion = reported.parse().ok()?;
            let newer = (kubelet.major(), kubelet.minor()) > (control_plane.major(), control_plane.minor());
            let evidence = Evidence::of(format!("Node {name}"))
                .field("status.nodeInfo.kubeletVersion")
                .value(reported.as_str());
            if newer {
                Some(
                    Finding::error(
                        KUBELET_VERSION_SKEW,
                        format!("the kubelet of {name} ({kubelet}) is newer than the control plane ({control_plane}): the skew policy allows no kubelet newer than the API server"),
                        format!("upgrade the control plane first, or install a kubelet of v{}.{} on {name}", control_plane.major(), control_plane.minor()),
                    )
                    .with(evidence),
                )
            } else if kubelet < oldest {
                Some(
                    Finding::warning(
                        KUBELET_VERSION_SKEW,
                        format!("the kubelet of {name} ({kubelet}) is older than the oldest the control plane ({control_plane}) supports ({oldest})"),
                        format!("upgrade the kubelet on {name} (`kubestrap upgrade node` after installing a newer kubelet)"),
                    )
                    .with(evidence),
                )
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, version: &str) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "status": {"nodeInfo": {
                "kubeletVersion": version, "architecture": "", "bootID": "",
                "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "",
                "machineID": "", "operatingSystem": "", "osImage": "", "systemUUID": ""
            }}
        }))
        .unwrap()
    }

    #[test]
    fn kubelets_newer_than_the_control_plane_or_too_old_are_named() {
        let cp = KubernetesVersion::new(1, 30, 2);
        let nodes = [
            node("same", "v1.30.0"),
            node("three-older", "v1.27.9"),
            node("newer", "v1.31.0"),
            node("too-old", "v1.26.3"),
        ];
        let found = check(&nodes, &cp);
        let named: Vec<(&str, &str)> = found
            .iter()
            .map(|f| {
                (
                    f.evidence[0].subject.as_str(),
                    f.evidence[0].value.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            named,
            [("Node newer", "v1.31.0"), ("Node too-old", "v1.26.3")]
        );
        assert_eq!(found[0].severity, crate::doctor::Severity::Error);
        assert_eq!(found[1].severity, crate::doctor::Severity::Warning);
    }
}
