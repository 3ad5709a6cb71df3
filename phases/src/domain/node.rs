//! This node's Node object: waiting for the kubelet to register it, and the annotation through
//! which kubeadm's own tools learn the node's container runtime.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use std::path::Path;

use crate::config::well_known::KUBERNETES_DIR;
use crate::config::{CriSocket, Release};
use crate::contract::effects::{ApiVerb, Effects};
use crate::contract::host::{HostFs, NodeRoot};
use crate::contract::step::PhaseError;
use crate::domain::apiclient::{self, ApiClient};
use crate::domain::pki::CertInfo;
use crate::domain::pki::kubeconfig::KubeConfig;

/// kubeadm's `AnnotationKubeadmCRISocket`: kubeadm's `upgrade`, `certs` and `reset` read the
/// node's runtime from it (GetNodeRegistration fails without it, kubeadm up to 1.35).
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

/// The user kubelet.conf's certificate names: `system:node:<node name>`.
pub const NODE_USER_PREFIX: &str = "system:node:";

/// This node's name, from kubelet.conf's client certificate (embedded, or the file it names,
/// resolved under the node root), as kubeadm's reset and upgrade take it
/// (`getNodeNameFromKubeletConfig`). The error says, in words, which file was unusable and why.
pub fn node_name_from_kubelet_conf(root: &NodeRoot) -> Result<String, String> {
    let path = root.resolve(KUBERNETES_DIR).join("kubelet.conf");
    let unusable = |why: String| format!("{}: {why}", path.display());
    let fs = HostFs::real();
    let bytes = fs.read(&path).map_err(|e| unusable(e.to_string()))?;
    let kubeconfig = KubeConfig::from_yaml(&path, &bytes).map_err(|e| unusable(e.to_string()))?;
    let current = kubeconfig
        .current(&path)
        .map_err(|e| unusable(e.to_string()))?;
    let cert = match current.client_cert {
        Some(cert) => cert,
        None => {
            let file = kubeconfig
                .users
                .iter()
                .find(|u| u.name == current.user_name)
                .and_then(|u| u.user.client_certificate.clone())
                .ok_or_else(|| unusable("no client certificate".into()))?;
            // kubestrap writes the path as the node sees it, under its root.
            let file = Path::new(&file);
            let file = if file.starts_with(root.as_path()) {
                file.to_path_buf()
            } else {
                root.resolve(file)
            };
            let pem = fs.read(&file).map_err(|e| unusable(e.to_string()))?;
            CertInfo::from_pem(&file, &pem).map_err(|e| unusable(e.to_string()))?
        }
    };
    cert.common_name
        .strip_prefix(NODE_USER_PREFIX)
        .map(str::to_owned)
        .ok_or_else(|| {
            unusable(format!(
                "its certificate is for {:?}, not {NODE_USER_PREFIX}<node>",
                cert.common_name
            ))
        })
}

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
