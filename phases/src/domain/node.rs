//! This node's Node object: waiting for the kubelet to register it, and the annotation through
//! which kubeadm's own tools learn the node's container runtime.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::config::{CriSocket, Release};
use crate::contract::effects::{ApiVerb, Effects};
use crate::contract::step::PhaseError;
use crate::domain::apiclient::{self, ApiClient};

/// kubeadm's `AnnotationKubeadmCRISocket`: kubeadm's `upgrade`, `certs` and `reset` read the
/// node's runtime from it (GetNodeRegistration fails without it, kubeadm up to 1.35).
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

/// How often the Node is looked for, and how often the wait is reported.
const POLL: Duration = Duration::from_millis(500);
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Waits until the kubelet has registered Node `name`, up to `timeout`, reporting progress.
pub async fn wait_for_node(
    client: &ApiClient,
    name: &str,
    timeout: Duration,
    fx: &Effects<'_>,
) -> Result<Node, PhaseError> {
    let start = Instant::now();
    let mut reported = start;
    loop {
        if let Some(node) = client.get_opt::<Node>(None, name).await? {
            return Ok(node);
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(PhaseError::with_hint(
                format!("the kubelet has not registered Node {name:?} within {timeout:?}"),
                "check that the kubelet runs and can reach the API server: `systemctl status kubelet`, `journalctl -xeu kubelet`; it registers with /etc/kubernetes/kubelet.conf under the node name in /var/lib/kubelet/kubeadm-flags.env",
            ));
        }
        if reported.elapsed() >= REPORT_EVERY {
            reported = Instant::now();
            fx.progress(format!(
                "waiting for the kubelet to register Node {name} ({}s of {}s)",
                waited.as_secs(),
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// This node, as its Node object is found and annotated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThisNode {
    pub name: String,
    pub cri_socket: CriSocket,
    /// How long the kubelet may take to register the Node (`timeouts.kubeletHealthCheck`).
    #[serde(skip)]
    pub register_timeout: Duration,
}

/// Sets the CRI-socket annotation on this node's Node in the form `release`'s kubeadm writes,
/// once the kubelet has registered it (kubeadm's "Preserving the CRISocket information for the
/// control-plane node" in upload-config/kubelet).
pub async fn annotate_cri_socket(
    client: &ApiClient,
    node: &ThisNode,
    release: Release,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    if !release.annotates_cri_socket() {
        return Ok(());
    }
    let (name, socket) = (node.name.as_str(), &node.cri_socket);
    let change = apiclient::change::<Node>(ApiVerb::Patch, None, name);
    if fx.is_dry_run() {
        fx.record_api(change);
        return Ok(());
    }
    let value = release.cri_socket_annotation(socket);
    let registered = wait_for_node(client, name, node.register_timeout, fx).await?;
    let current = registered
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CRI_SOCKET_ANNOTATION));
    if current == Some(&value) {
        fx.record_api(change.unchanged());
        return Ok(());
    }
    let nodes: Api<Node> = Api::all(client.client().clone());
    let patch = json!({ "metadata": { "annotations": { CRI_SOCKET_ANNOTATION: value } } });
    let params = PatchParams::default();
    let body = Patch::Merge(&patch);
    client
        .retry(&format!("annotate Node {name}"), || {
            nodes.patch(name, &params, &body)
        })
        .await?;
    fx.record_api(change);
    Ok(())
}
