//! `mark-control-plane`: labels this node's Node object as a control plane and adds its
//! taints, once the kubelet has registered it. Which labels, and the default taints, depend on
//! the release ([`crate::config::Release`]: `master` up to 1.23, `control-plane` after).
//!
//! The change is computed against the Node as it is, so a second run changes nothing, a taint
//! already present is not added twice, and taints others put on the node are kept.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, Taint as NodeTaint};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::config::Taint;
use crate::contract::effects::{ApiVerb, Effects};
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{PhaseError, Step};
use crate::domain::apiclient;
use crate::domain::apiclient::ClusterAccess;
use crate::domain::node::wait_for_node;

/// What `mark-control-plane` needs.
#[derive(Debug, Clone)]
pub struct MarkSpec {
    pub access: ClusterAccess,
    pub node_name: String,
    /// The release's control-plane labels ([`crate::config::Release::control_plane_labels`]).
    pub labels: Vec<&'static str>,
    /// `nodeRegistration.taints` (the release's control-plane taints unless configured).
    pub taints: Vec<Taint>,
    /// How long the kubelet may take to register the Node (`timeouts.kubeletHealthCheck`).
    pub register_timeout: Duration,
}

pub trait MarkControlPlaneContext: Sync {
    fn mark_spec(&self) -> MarkSpec;
}

/// Conflicting writers (the kubelet updating its Node) are retried this many times.
const CONFLICT_RETRIES: usize = 10;

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
pub fn mark_patch(node: &Node, labels: &[&str], taints: &[Taint]) -> Option<Value> {
    let have_labels = node.metadata.labels.clone().unwrap_or_default();
    // kubeadm sets each label with an empty value.
    let missing_labels: BTreeMap<String, String> = labels
        .iter()
        .filter(|k| have_labels.get(**k).is_none_or(|v| !v.is_empty()))
        .map(|k| (k.to_string(), String::new()))
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

/// `mark-control-plane`.
pub struct MarkControlPlane;

#[async_trait]
impl<C: MarkControlPlaneContext> Step<C> for MarkControlPlane {
    fn name(&self) -> &'static str {
        "mark-control-plane"
    }

    fn help(&self) -> &'static str {
        "Label and taint this node's Node object as a control plane."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.mark_spec();
        fp.value("node_name", &spec.node_name)
            .value("labels", &spec.labels)
            .value("taints", &spec.taints);
    }

    /// Checks the live Node each run; changes it only when a label or taint is missing.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.mark_spec();
        let client = spec.access.admin(fx).await?;
        let change = apiclient::change::<Node>(ApiVerb::Patch, None, &spec.node_name);
        if fx.is_dry_run() {
            fx.record_api(change);
            return Ok(());
        }
        let mut node = wait_for_node(&client, &spec.node_name, spec.register_timeout, fx).await?;
        let nodes: Api<Node> = Api::all(client.client().clone());
        for _ in 0..CONFLICT_RETRIES {
            let Some(patch) = mark_patch(&node, &spec.labels, &spec.taints) else {
                fx.record_api(change.unchanged());
                return Ok(());
            };
            let action = format!("patch Node {}", spec.node_name);
            let params = PatchParams::default();
            let body = Patch::Merge(&patch);
            match client
                .retry(&action, || nodes.patch(&spec.node_name, &params, &body))
                .await
            {
                Ok(_) => {
                    fx.record_api(change);
                    return Ok(());
                }
                Err(e) if e.is_conflict() => {
                    node =
                        wait_for_node(&client, &spec.node_name, spec.register_timeout, fx).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(PhaseError::failed(format!(
            "Node {} kept changing under {CONFLICT_RETRIES} attempts to label and taint it",
            spec.node_name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::release::{CONTROL_PLANE_ROLE, EXCLUDE_FROM_EXTERNAL_LB_LABEL};
    use crate::config::{KubernetesVersion, Release, TaintEffect};

    const LABELS: &[&str] = &[CONTROL_PLANE_ROLE, EXCLUDE_FROM_EXTERNAL_LB_LABEL];
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
        let taints = [Taint::no_schedule("node-role.kubernetes.io/control-plane")];
        let patch = mark_patch(&n, LABELS, &taints).unwrap();
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        assert_eq!(patch["metadata"]["labels"][CONTROL_PLANE_ROLE], "");
        let marked = apply(&n, &patch);
        let got = marked.spec.as_ref().unwrap().taints.clone().unwrap();
        assert_eq!(got.len(), 2, "the kubelet's taint is kept: {got:?}");
        assert_eq!(got[1].key, "node-role.kubernetes.io/control-plane");
        assert_eq!(got[1].effect, "NoSchedule");
        assert_eq!(mark_patch(&marked, LABELS, &taints), None);
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
        let patch = mark_patch(
            &n,
            LABELS,
            &[Taint::no_schedule("node-role.kubernetes.io/control-plane")],
        )
        .unwrap();
        assert!(patch.get("spec").is_none(), "{patch}");
        assert!(patch["metadata"]["labels"].is_object());
    }

    #[test]
    fn no_taints_configured_only_labels() {
        let n = node(&[], vec![]);
        let patch = mark_patch(&n, LABELS, &[]).unwrap();
        assert!(patch.get("spec").is_none());
        let other = Taint {
            key: "dedicated".into(),
            value: Some("infra".into()),
            effect: TaintEffect::NoExecute,
        };
        let patch = mark_patch(&n, LABELS, &[other]).unwrap();
        assert_eq!(patch["spec"]["taints"][0]["value"], "infra");
        assert_eq!(patch["spec"]["taints"][0]["effect"], "NoExecute");
    }

    #[test]
    fn a_1_20_control_plane_gets_kubeadm_1_20_s_labels_and_master_taint() {
        let release = Release::of(&KubernetesVersion::new(1, 20, 2));
        let n = node(&[], vec![]);
        let patch = mark_patch(
            &n,
            &release.control_plane_labels(),
            &release.control_plane_taints(),
        )
        .unwrap();
        let labels = patch["metadata"]["labels"].as_object().unwrap();
        assert_eq!(
            labels.keys().collect::<Vec<_>>(),
            [
                "node-role.kubernetes.io/control-plane",
                "node-role.kubernetes.io/master"
            ]
        );
        assert_eq!(
            patch["spec"]["taints"],
            json!([{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}])
        );
    }
}
