//! kubeadm's reset phase `update-cluster-status` (1.20–1.21): a control plane being reset
//! takes its API endpoint out of `ClusterStatus` in kubeadm-config, so that kubeadm's
//! `join --control-plane` and `upgrade` of those releases do not count a node that is gone.
//! kubeadm runs it on a control plane (a kube-apiserver manifest on the node) whose cluster
//! configuration could be read; the node is named by kubelet.conf's client certificate
//! (`system:node:<name>`). From 1.22 the phase does nothing (kubernetes#101915).

use async_trait::async_trait;
use serde_json::json;

use crate::config::Release;
use crate::config::well_known::ADMIN_CONF_PATH;
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::apiclient::ApiClient;
use crate::domain::cluster_status::set_api_endpoint;
use crate::domain::node::node_name_from_kubelet_conf;

use super::phases::{CLUSTER_CONFIG_TIMEOUT, ResetContext};

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
        ctx.applies_with_manifest(
            "kube-apiserver.yaml",
            "not a control plane (no kube-apiserver manifest)",
        )
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
        let node_name = node_name_from_kubelet_conf(&ctx.root).map_err(|why| {
            PhaseError::with_hint(
                format!("{why}: cannot name this node for ClusterStatus"),
                "skip this phase with --skip-phases update-cluster-status, and remove the node's entry from ClusterStatus in kube-system/kubeadm-config by hand",
            )
        })?;
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
