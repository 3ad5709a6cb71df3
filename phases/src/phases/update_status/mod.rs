//! `control-plane-join/update-status` (kubeadm ≤ 1.21): a joining control plane adds its API
//! endpoint to `ClusterStatus` in ConfigMap kube-system/kubeadm-config, which kubeadm 1.20/1.21
//! `join --control-plane` and `upgrade` read and extend (`UnmarshalClusterStatus` fails without
//! it). From 1.22 kubeadm keeps no ClusterStatus and the phase does nothing.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use crate::config::stored::cluster_status_with;
use crate::config::well_known::{CLUSTER_STATUS_KEY, KUBE_SYSTEM, KUBEADM_CONFIG_MAP};
use crate::config::{ApiEndpoint, Release};
use crate::contract::effects::{ApiVerb, Effects};
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::apiclient::{self, ClusterAccess};

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

/// A concurrent writer (another control plane joining) is retried this many times.
const CONFLICT_RETRIES: usize = 10;

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
        let change =
            apiclient::change::<ConfigMap>(ApiVerb::Update, Some(KUBE_SYSTEM), KUBEADM_CONFIG_MAP);
        if fx.is_dry_run() {
            fx.record_api(change);
            return Ok(());
        }
        let api: Api<ConfigMap> = Api::namespaced(client.client().clone(), KUBE_SYSTEM);
        for _ in 0..CONFLICT_RETRIES {
            let mut cm = client
                .get_opt::<ConfigMap>(Some(KUBE_SYSTEM), KUBEADM_CONFIG_MAP)
                .await?
                .ok_or_else(|| {
                    PhaseError::failed(format!(
                        "ConfigMap {KUBE_SYSTEM}/{KUBEADM_CONFIG_MAP} does not exist"
                    ))
                })?;
            let data = cm.data.get_or_insert_with(Default::default);
            let status = cluster_status_with(
                data.get(CLUSTER_STATUS_KEY).map(String::as_str),
                &spec.node_name,
                Some(&spec.endpoint),
            );
            if data.get(CLUSTER_STATUS_KEY) == Some(&status) {
                fx.record_api(change.unchanged());
                return Ok(());
            }
            data.insert(CLUSTER_STATUS_KEY.to_owned(), status);
            // The read resourceVersion makes a concurrent update a conflict, not a lost entry.
            let action = format!("update ConfigMap {KUBE_SYSTEM}/{KUBEADM_CONFIG_MAP}");
            let params = PostParams::default();
            match client
                .retry(&action, || api.replace(KUBEADM_CONFIG_MAP, &params, &cm))
                .await
            {
                Ok(_) => {
                    fx.record_api(change);
                    return Ok(());
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(PhaseError::failed(format!(
            "ConfigMap {KUBE_SYSTEM}/{KUBEADM_CONFIG_MAP} kept changing under {CONFLICT_RETRIES} attempts to update ClusterStatus"
        )))
    }
}
