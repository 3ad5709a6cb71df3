//! What the kubelet reports of a static pod: its mirror pod in the API (kubeadm's
//! `apiclient/wait.go`, `getStaticPodSingleHash`: pod `<component>-<node>` in kube-system, the
//! annotation `kubernetes.io/config.hash`), and, when the API server is the pod that is down,
//! the runtime's own record of its containers.
//!
//! The hash is the kubelet's digest of the manifest it runs: it changes when, and only when,
//! the kubelet has taken a new manifest and made a new pod of it. An upgrade waits for that
//! change before it trusts a health check, or a quick probe would answer for the old pod.

use k8s_openapi::api::core::v1::Pod as ApiPod;
use kube::Api;

use crate::config::well_known::KUBE_SYSTEM;
use crate::domain::apiclient::ApiClient;

/// The kubelet's annotation on a mirror pod: the hash of the static pod it mirrors.
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";

/// The mirror pod's name: `<component>-<node name>`.
pub fn mirror_pod_name(component: &str, node: &str) -> String {
    format!("{component}-{node}")
}

/// A mirror pod as an upgrade judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub hash: Option<String>,
    /// Condition `Ready` is `True`.
    pub ready: bool,
    /// The first container's state in words (`running`, `waiting: CrashLoopBackOff`, …).
    pub state: String,
}

/// The mirror pod of `component` on `node`, asked once (no retries: the caller polls, and
/// the API server may be the pod that is restarting). `Err` carries the failure in words.
pub async fn mirror(
    client: &ApiClient,
    component: &str,
    node: &str,
) -> Result<Option<Mirror>, String> {
    let api: Api<ApiPod> = Api::namespaced(client.client().clone(), KUBE_SYSTEM);
    let pod = api
        .get_opt(&mirror_pod_name(component, node))
        .await
        .map_err(|e| e.to_string())?;
    Ok(pod.map(|p| of_pod(&p)))
}

fn of_pod(pod: &ApiPod) -> Mirror {
    let hash = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CONFIG_HASH_ANNOTATION))
        .cloned();
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let state = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .map_or_else(
            || "no container status yet".to_string(),
            |s| {
                if let Some(w) = &s.waiting {
                    format!("waiting: {}", w.reason.as_deref().unwrap_or("-"))
                } else if let Some(t) = &s.terminated {
                    format!(
                        "terminated: exit code {} ({})",
                        t.exit_code,
                        t.reason.as_deref().unwrap_or("-")
                    )
                } else {
                    "running".to_string()
                }
            },
        );
    Mirror { hash, ready, state }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_readiness_and_state_come_from_the_kubelets_fields() {
        let pod: ApiPod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kube-apiserver-cp1", "annotations": {CONFIG_HASH_ANNOTATION: "abc"}},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "kube-apiserver", "ready": true, "restartCount": 0,
                    "image": "i", "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
            }
        }))
        .unwrap();
        let m = of_pod(&pod);
        assert_eq!(m.hash.as_deref(), Some("abc"));
        assert!(m.ready);
        assert_eq!(m.state, "waiting: CrashLoopBackOff");
        assert_eq!(mirror_pod_name("etcd", "cp1"), "etcd-cp1");
    }
}
