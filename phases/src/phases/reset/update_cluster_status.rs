//! kubeadm's reset phase `update-cluster-status` (1.20–1.21): a control plane being reset
//! takes its API endpoint out of `ClusterStatus` in kubeadm-config, so that kubeadm's
//! `join --control-plane` and `upgrade` of those releases do not count a node that is gone.
//! kubeadm runs it on a control plane (a kube-apiserver manifest on the node) whose cluster
//! configuration could be read; the node is named by kubelet.conf's client certificate
//! (`system:node:<name>`). From 1.22 the phase does nothing (kubernetes#101915).

use std::path::Path;

use async_trait::async_trait;
use serde_json::json;

use crate::config::Release;
use crate::config::well_known::{ADMIN_CONF_PATH, KUBERNETES_DIR, MANIFESTS_DIR};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::{HostFs, NodeRoot};
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::apiclient::ApiClient;
use crate::domain::cluster_status::set_api_endpoint;
use crate::domain::pki::CertInfo;
use crate::domain::pki::kubeconfig::KubeConfig;

use super::phases::{CLUSTER_CONFIG_TIMEOUT, ResetContext};

/// The user kubelet.conf's certificate names: `system:node:<node name>`.
const NODE_USER_PREFIX: &str = "system:node:";

/// `reset phase update-cluster-status`.
pub struct UpdateClusterStatus;

#[async_trait]
impl Step<ResetContext> for UpdateClusterStatus {
    fn name(&self) -> &'static str {
        "update-cluster-status"
    }

    fn help(&self) -> &'static str {
        "Remove this control plane's API endpoint from ClusterStatus in ConfigMap kube-system/kubeadm-config (v1.20–v1.21 only)."
    }

    fn applicability(&self, ctx: &ResetContext) -> Applicability {
        let manifest = ctx.root.resolve(MANIFESTS_DIR).join("kube-apiserver.yaml");
        if manifest.symlink_metadata().is_ok() {
            Applicability::Applies
        } else {
            Applicability::NotApplicable("not a control plane (no kube-apiserver manifest)".into())
        }
    }

    fn inputs(&self, _ctx: &ResetContext, _fp: &mut Fingerprint<'_>) {}

    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ResetContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let Some(cluster) = &ctx.survey(fx).options.cluster else {
            // kubeadm skips it too when the cluster's configuration cannot be read.
            fx.set_result_field(
                "cluster_status",
                json!("the cluster's kubeadm-config could not be read: ClusterStatus not updated"),
            );
            return Ok(());
        };
        if !Release::of(&cluster.kubernetes_version).stores_cluster_status() {
            fx.set_result_field(
                "cluster_status",
                json!("kubeadm keeps no ClusterStatus from v1.22: nothing to update"),
            );
            return Ok(());
        }
        let node_name = node_name(&ctx.root)?;
        let admin = ctx.root.resolve(ADMIN_CONF_PATH);
        let client = ApiClient::from_kubeconfig(fx.fs(), &admin, CLUSTER_CONFIG_TIMEOUT).await?;
        set_api_endpoint(&client, &node_name, None, fx).await?;
        fx.set_result_field(
            "cluster_status",
            json!(format!("removed {node_name:?} from ClusterStatus")),
        );
        Ok(())
    }
}

/// This node's name, from kubelet.conf's client certificate (embedded, or the file it names,
/// resolved under the node root), as kubeadm's reset takes it.
fn node_name(root: &NodeRoot) -> Result<String, PhaseError> {
    let path = root.resolve(KUBERNETES_DIR).join("kubelet.conf");
    let unusable = |why: String| {
        PhaseError::with_hint(
            format!(
                "{}: {why}: cannot name this node for ClusterStatus",
                path.display()
            ),
            "skip this phase with --skip-phases update-cluster-status, and remove the node's entry from ClusterStatus in kube-system/kubeadm-config by hand",
        )
    };
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
