//! This node's Node object: registered at all, and carrying what kubeadm's release sets on it
//! (the CRI-socket annotation kubeadm's upgrade, certs and reset read; a control plane's role
//! labels, which its scheduling and load-balancer exclusion key on).

use k8s_openapi::api::core::v1::Node;

use super::super::facts::Role;
use super::super::{Evidence, Finding, FindingId};
use crate::config::Release;
use crate::domain::node::CRI_SOCKET_ANNOTATION;

pub const NODE_MISSING: FindingId = FindingId("node-missing");
pub const NODE_CRI_SOCKET_ANNOTATION: FindingId = FindingId("node-cri-socket-annotation");
pub const NODE_CONTROL_PLANE_LABELS: FindingId = FindingId("node-control-plane-labels");

/// Every finding about Node `name`. `release`: the cluster's, when its ClusterConfiguration
/// could be read (the annotation and label checks need it).
pub fn check(
    name: &str,
    node: Option<&Node>,
    release: Option<Release>,
    role: Role,
) -> Vec<Finding> {
    let subject = format!("Node {name}");
    let Some(node) = node else {
        return vec![
            Finding::error(
                NODE_MISSING,
                format!("there is no Node {name}: the kubelet has not registered this node (it cannot reach the API server, or its credentials are refused), so nothing is scheduled here"),
                "check the kubelet: `systemctl status kubelet` and `journalctl -u kubelet` (its kubeconfig /etc/kubernetes/kubelet.conf, its client certificate under /var/lib/kubelet/pki); if the Node was deleted, `systemctl restart kubelet` registers it again",
            )
            .with(Evidence::of(subject)),
        ];
    };
    let Some(release) = release else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let annotations = node.metadata.annotations.as_ref();
    if release.annotates_cri_socket()
        && !annotations.is_some_and(|a| a.contains_key(CRI_SOCKET_ANNOTATION))
    {
        out.push(
            Finding::warning(
                NODE_CRI_SOCKET_ANNOTATION,
                format!("Node {name} lacks the {CRI_SOCKET_ANNOTATION} annotation this release's kubeadm sets: kubeadm's upgrade, certs and reset cannot tell the node's container runtime"),
                format!("`kubectl annotate node {name} {CRI_SOCKET_ANNOTATION}=unix:///run/containerd/containerd.sock` (the node's CRI socket; `kubestrap join` or `init` sets it)"),
            )
            .with(Evidence::of(subject.clone()).field(format!("metadata.annotations[{CRI_SOCKET_ANNOTATION}]")).value("(absent)")),
        );
    }
    if role == Role::ControlPlane {
        let labels = node.metadata.labels.as_ref();
        let missing: Vec<&str> = release
            .control_plane_labels()
            .into_iter()
            .filter(|l| !labels.is_some_and(|have| have.contains_key(*l)))
            .collect();
        if !missing.is_empty() {
            let set: Vec<String> = missing.iter().map(|l| format!("{l}=")).collect();
            out.push(
                Finding::warning(
                    NODE_CONTROL_PLANE_LABELS,
                    format!("control-plane Node {name} lacks {}: tools and addons that find control planes by these labels (and external load balancers, by exclude-from-external-load-balancers) miss it", missing.join(", ")),
                    format!("`kubestrap init phase mark-control-plane`, or `kubectl label node {name} {}`", set.join(" ")),
                )
                .with(Evidence::of(subject).field("metadata.labels").value(missing.join(","))),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KubernetesVersion;
    use kube::core::ObjectMeta;

    fn release(v: &str) -> Release {
        Release::of(&v.parse::<KubernetesVersion>().unwrap())
    }

    #[test]
    fn missing_node() {
        let f = check("w1", None, None, Role::Worker);
        assert_eq!(f[0].id, NODE_MISSING);
        assert_eq!(f[0].evidence[0].subject, "Node w1");
    }

    #[test]
    fn annotation_and_labels_by_release() {
        let bare = Node {
            metadata: ObjectMeta {
                name: Some("cp".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let f = check(
            "cp",
            Some(&bare),
            Some(release("v1.30.0")),
            Role::ControlPlane,
        );
        let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            ["node-cri-socket-annotation", "node-control-plane-labels"]
        );
        assert!(f[1].fix.contains("node-role.kubernetes.io/control-plane="));
        // 1.36 no longer annotates; a worker is not judged by control-plane labels.
        assert_eq!(
            check("cp", Some(&bare), Some(release("v1.36.0")), Role::Worker),
            vec![]
        );
        // Without the release, only presence is judged.
        assert_eq!(check("cp", Some(&bare), None, Role::ControlPlane), vec![]);
    }
}
