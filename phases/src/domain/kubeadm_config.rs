//! The cluster's ClusterConfiguration as kubeadm stores it: ConfigMap kube-system/kubeadm-config,
//! read by a control-plane join (to build this node's specs from the cluster's) and by `reset`
//! (to find the certificates directory and etcd data directory the cluster was made with).

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;

use crate::config::well_known::{CLUSTER_CONFIGURATION_KEY, KUBE_SYSTEM, KUBEADM_CONFIG_MAP};
use crate::config::{self, ClusterConfig, ConfigError};
use crate::contract::step::PhaseError;
use crate::domain::apiclient::ApiClient;

/// Why the cluster's ClusterConfiguration cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum KubeadmConfigError {
    #[error("ConfigMap {KUBE_SYSTEM}/{KUBEADM_CONFIG_MAP} does not exist")]
    NoKubeadmConfig,

    #[error("ConfigMap {KUBE_SYSTEM}/{KUBEADM_CONFIG_MAP} has no {CLUSTER_CONFIGURATION_KEY} key")]
    NoClusterConfiguration,

    #[error("ConfigMap {KUBE_SYSTEM}/{KUBEADM_CONFIG_MAP}, key {CLUSTER_CONFIGURATION_KEY}: {0}")]
    Config(#[from] ConfigError),
}

/// Whatever is wrong with it, kubeadm-config is re-made by upload-config.
impl crate::contract::diagnostics::Diagnostic for KubeadmConfigError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        crate::contract::diagnostics::hint(
            "run `kubeadm init phase upload-config kubeadm` (or kubestrap's) on an existing control plane",
        )
    }
}

impl From<KubeadmConfigError> for PhaseError {
    fn from(e: KubeadmConfigError) -> Self {
        PhaseError::from_diagnostic(&e)
    }
}

/// Parses the ClusterConfiguration stored in a kubeadm-config ConfigMap.
pub fn cluster_from_config_map(cm: &ConfigMap) -> Result<ClusterConfig, KubeadmConfigError> {
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(CLUSTER_CONFIGURATION_KEY))
        .ok_or(KubeadmConfigError::NoClusterConfiguration)?;
    let origin = format!("ConfigMap {KUBE_SYSTEM}/{KUBEADM_CONFIG_MAP}");
    Ok(config::parse_cluster_configuration(
        Path::new(&origin),
        text,
    )?)
}

/// Reads and parses the cluster's ClusterConfiguration (the bootstrap-token client may: init
/// binds kubeadm:nodes-kubeadm-config to the token group).
pub async fn fetch_cluster_configuration(client: &ApiClient) -> Result<ClusterConfig, PhaseError> {
    let cm = client
        .get_opt::<ConfigMap>(Some(KUBE_SYSTEM), KUBEADM_CONFIG_MAP)
        .await?
        .ok_or(KubeadmConfigError::NoKubeadmConfig)?;
    Ok(cluster_from_config_map(&cm)?)
}
