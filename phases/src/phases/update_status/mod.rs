//! `control-plane-join/update-status` (kubeadm ≤ 1.21): a joining control plane adds its API
//! endpoint to `ClusterStatus` in ConfigMap kube-system/kubeadm-config, which kubeadm 1.20/1.21
//! `join --control-plane` and `upgrade` read and extend (`UnmarshalClusterStatus` fails without
//! it). From 1.22 kubeadm keeps no ClusterStatus and the phase does nothing.

use async_trait::async_trait;

use crate::config::{ApiEndpoint, Release};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::apiclient::ClusterAccess;
use crate::domain::cluster_status::set_api_endpoint;

/// What `update-status` needs.
#[derive(Debug, Clone)]
pub struct StatusSpec {
    pub access: ClusterAccess,
    pub release: Release,
    pub node_name: String,
    /// This control plane's API endpoint (`controlPlane.localAPIEndpoint`).
    pub endpoint: ApiEndpoint,
}

pub trait UpdateStatusContext: Sync {
    fn status_spec(&self) -> StatusSpec;
}

/// `control-plane-join/update-status`.
pub struct UpdateStatus;

#[async_trait]
impl<C: UpdateStatusContext> Step<C> for UpdateStatus {
    fn name(&self) -> &'static str {
        "update-status"
    }

    fn help(&self) -> &'static str {
        "Add this control plane's API endpoint to ClusterStatus in ConfigMap kube-system/kubeadm-config (v1.20–v1.21 only)."
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        if ctx.status_spec().release.stores_cluster_status() {
            Applicability::Applies
        } else {
            Applicability::NotApplicable(
                "kubeadm keeps no ClusterStatus from v1.22 (kubernetes#101915)".into(),
            )
        }
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.status_spec();
        fp.value("node_name", &spec.node_name)
            .value("endpoint", &spec.endpoint);
    }

    /// Its result lives in the cluster: checked afresh every run.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.status_spec();
        let client = spec.access.admin(fx).await?;
        set_api_endpoint(&client, &spec.node_name, Some(&spec.endpoint), fx).await
    }
}
