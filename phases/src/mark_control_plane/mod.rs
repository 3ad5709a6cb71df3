//! `mark-control-plane`: labels this node's Node object as a control plane and adds its
//! taints, once the kubelet has registered it.
//!
//! The change is computed against the Node as it is, so a second run changes nothing, a taint
//! already present is not added twice, and taints others put on the node are kept.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Taint as NodeTaint};
use serde_json::{Value, json};

use crate::config::Taint;

/// kubeadm's `LabelNodeRoleControlPlane`.
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";
/// kubeadm's `LabelExcludeFromExternalLB`, set with the role label since kubeadm 1.19.
pub const EXCLUDE_FROM_EXTERNAL_LB_LABEL: &str =
    "node.kubernetes.io/exclude-from-external-load-balancers";

/// The labels a control plane carries, all with empty values.
pub fn control_plane_labels() -> BTreeMap<String, String> {
    [CONTROL_PLANE_LABEL, EXCLUDE_FROM_EXTERNAL_LB_LABEL]
        .into_iter()
        .map(|k| (k.to_string(), String::new()))
        .collect()
}

fn node_taint(t: &Taint) -> NodeTaint {
    NodeTaint {
        key: t.key.clone(),
        value: t.value.clone(),
        effect: t.effect.to_string(),
        time_added: None,
    }
}

/// Two taints are the same taint when key and effect match (as the API server keys them).
fn same_taint(a: &NodeTaint, b: &NodeTaint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// The JSON merge patch that marks `node`, or `None` when it already is. It carries the
/// node's resourceVersion, so a concurrent change (the kubelet updating its Node) makes the
/// server refuse it with a conflict instead of losing a taint; the caller re-reads and
/// retries.
pub fn mark_patch(node: &Node, taints: &[Taint]) -> Option<Value> {
    let have_labels = node.metadata.labels.clone().unwrap_or_default();
    let missing_labels: BTreeMap<String, String> = control_plane_labels()
        .into_iter()
        .filter(|(k, v)| have_labels.get(k) != Some(v))
        .collect();
    let have_taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let mut all_taints = have_taints.clone();
    for wanted in taints.iter().map(node_taint) {
        if !all_taints.iter().any(|t| same_taint(t, &wanted)) {
            all_taints.push(wanted);
        }
    }
    if missing_labels.is_empty() && all_taints.len() == have_taints.len() {
        return None;
    }
    let mut patch = json!({ "metadata": {} });
    if let Some(rv) = &node.metadata.resource_version {
        patch["metadata"]["resourceVersion"] = json!(rv);
    }
    if !missing_labels.is_empty() {
        patch["metadata"]["labels"] = json!(missing_labels);
    }
    if all_taints.len() != have_taints.len() {
        patch["spec"] = json!({ "taints": all_taints });
    }
    Some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TaintEffect;
    use k8s_openapi::api::core::v1::NodeSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(labels: &[(&str, &str)], taints: Vec<NodeTaint>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("cp1".into()),
                resource_version: Some("42".into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                taints: Some(taints),
                ..NodeSpec::default()
            }),
            status: None,
        }
    }

    /// Applies a merge patch's labels and taints to the node, as the server would.
    fn apply(n: &Node, patch: &Value) -> Node {
        let mut v = serde_json::to_value(n).unwrap();
        for (k, val) in patch["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flatten()
        {
            v["metadata"]["labels"][k] = val.clone();
        }
        if let Some(t) = patch.get("spec").and_then(|s| s.get("taints")) {
            v["spec"]["taints"] = t.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn marks_then_is_idempotent() {
        let kubelet_taint = NodeTaint {
            key: "node.kubernetes.io/not-ready".into(),
            effect: "NoSchedule".into(),
            ..NodeTaint::default()
        };
        let n = node(
            &[("kubernetes.io/hostname", "cp1")],
            vec![kubelet_taint.clone()],
        );
        let taints = [Taint::control_plane()];
        let patch = mark_patch(&n, &taints).unwrap();
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        assert_eq!(patch["metadata"]["labels"][CONTROL_PLANE_LABEL], "");
        let marked = apply(&n, &patch);
        let got = marked.spec.as_ref().unwrap().taints.clone().unwrap();
        assert_eq!(got.len(), 2, "the kubelet's taint is kept: {got:?}");
        assert_eq!(got[1].key, "node-role.kubernetes.io/control-plane");
        assert_eq!(got[1].effect, "NoSchedule");
        assert_eq!(mark_patch(&marked, &taints), None);
    }

    #[test]
    fn existing_taint_with_other_value_is_not_duplicated() {
        let present = NodeTaint {
            key: "node-role.kubernetes.io/control-plane".into(),
            value: Some("x".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let n = node(&[], vec![present]);
        let patch = mark_patch(&n, &[Taint::control_plane()]).unwrap();
        assert!(patch.get("spec").is_none(), "{patch}");
        assert!(patch["metadata"]["labels"].is_object());
    }

    #[test]
    fn no_taints_configured_only_labels() {
        let n = node(&[], vec![]);
        let patch = mark_patch(&n, &[]).unwrap();
        assert!(patch.get("spec").is_none());
        let other = Taint {
            key: "dedicated".into(),
            value: Some("infra".into()),
            effect: TaintEffect::NoExecute,
        };
        let patch = mark_patch(&n, &[other]).unwrap();
        assert_eq!(patch["spec"]["taints"][0]["value"], "infra");
        assert_eq!(patch["spec"]["taints"][0]["effect"], "NoExecute");
    }
}
