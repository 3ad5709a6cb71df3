//! `ClusterStatus` in ConfigMap kube-system/kubeadm-config (kubeadm ≤ 1.21): the control
//! planes' API endpoints, keyed by node name. A joining control plane adds its entry
//! (`control-plane-join/update-status`), reset takes it out (`update-cluster-status`);
//! kubeadm 1.20/1.21 `join --control-plane` and `upgrade` read and extend it.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use crate::config::ApiEndpoint;
use crate::config::stored::cluster_status_with;
use crate::config::well_known::{CLUSTER_STATUS_KEY, KUBE_SYSTEM, KUBEADM_CONFIG_MAP};
use crate::contract::effects::{ApiVerb, Effects};
use crate::contract::step::PhaseError;
use crate::domain::apiclient::{self, ApiClient};

/// A concurrent writer (another control plane joining or leaving) is retried this many times.
const CONFLICT_RETRIES: usize = 10;

/// Sets `node_name`'s entry to `endpoint`, or removes it (`None`), as kubeadm's
/// `mutateClusterStatus` and `ResetClusterStatusForNode` do: read, change, replace with the
/// read resourceVersion, so that a concurrent update is a conflict and retried, never a lost
/// entry. A dry run records the update without contacting the cluster.
pub async fn set_api_endpoint(
    client: &ApiClient,
    node_name: &str,
    endpoint: Option<&ApiEndpoint>,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
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
            node_name,
            endpoint,
        );
        if data.get(CLUSTER_STATUS_KEY) == Some(&status) {
            fx.record_api(change.unchanged());
            return Ok(());
        }
        data.insert(CLUSTER_STATUS_KEY.to_owned(), status);
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
