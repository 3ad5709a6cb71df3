//! `upload-config/kubeadm` and `upload-config/kubelet`: the cluster's configuration in
//! ConfigMaps in kube-system, each readable by joining nodes (bootstrap tokens of kubeadm's
//! default group) and by nodes, so that `join` and `upgrade` configure them consistently.
//!
//! Names, keys and formats are those of kubeadm of the cluster's release ([`Release`]), whose
//! own `join`, `upgrade` and `reset` read them: kubeadm-config holds the ClusterConfiguration in
//! that release's API version (and `ClusterStatus` up to 1.21, [`crate::config::stored`]); the
//! kubelet's ConfigMap is `kubelet-config-1.X` up to 1.23 and `kubelet-config` after.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::config::Release;
use crate::config::token::DEFAULT_TOKEN_GROUP;
use crate::config::well_known::{
    KUBE_SYSTEM, KUBEADM_CONFIG_MAP, KUBELET_CONFIG_KEY, NODES_GROUP, RBAC_GROUP,
};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{PhaseError, Step};
use crate::domain::apiclient::{ApiClient, ClusterAccess};
use crate::domain::kubelet::KubeletContext;
use crate::domain::node::{ThisNode, annotate_cri_socket};

pub const KUBEADM_CONFIG_ROLE: &str = "kubeadm:nodes-kubeadm-config";

/// A ConfigMap and the Role + RoleBinding that let joining nodes read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigObjects {
    pub config_map: ConfigMap,
    pub role: Role,
    pub role_binding: RoleBinding,
}

/// kube-system/kubeadm-config with `data` ([`crate::config::stored::kubeadm_config_data`]),
/// and its RBAC: the bootstrap tokens' group, then the nodes', as kubeadm binds them.
pub fn kubeadm_config(data: BTreeMap<String, String>) -> ConfigObjects {
    readable_config_map(
        KUBEADM_CONFIG_MAP,
        data,
        KUBEADM_CONFIG_ROLE,
        [DEFAULT_TOKEN_GROUP, NODES_GROUP],
    )
}

/// The release's kubelet ConfigMap with the KubeletConfiguration document, and its RBAC: the
/// nodes' group, then the bootstrap tokens' (kubeadm's order for this binding).
pub fn kubelet_config(release: Release, kubelet_configuration_yaml: String) -> ConfigObjects {
    readable_config_map(
        &release.kubelet_config_map(),
        BTreeMap::from([(KUBELET_CONFIG_KEY.to_owned(), kubelet_configuration_yaml)]),
        &release.kubelet_config_role(),
        [NODES_GROUP, DEFAULT_TOKEN_GROUP],
    )
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(KUBE_SYSTEM.into()),
        ..ObjectMeta::default()
    }
}

fn readable_config_map(
    name: &str,
    data: BTreeMap<String, String>,
    role: &str,
    groups: [&str; 2],
) -> ConfigObjects {
    ConfigObjects {
        config_map: ConfigMap {
            metadata: meta(name),
            data: Some(data),
            ..ConfigMap::default()
        },
        role: Role {
            metadata: meta(role),
            rules: Some(vec![PolicyRule {
                verbs: vec!["get".into()],
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["configmaps".into()]),
                resource_names: Some(vec![name.into()]),
                ..PolicyRule::default()
            }]),
        },
        role_binding: RoleBinding {
            metadata: meta(role),
            role_ref: RoleRef {
                api_group: RBAC_GROUP.into(),
                kind: "Role".into(),
                name: role.into(),
            },
            subjects: Some(
                groups
                    .into_iter()
                    .map(|group| Subject {
                        api_group: Some(RBAC_GROUP.into()),
                        kind: "Group".into(),
                        name: group.into(),
                        namespace: None,
                    })
                    .collect(),
            ),
        },
    }
}

/// What the upload-config phases need of a context.
pub trait UploadConfigContext: KubeletContext {
    fn cluster_access(&self) -> ClusterAccess;
    /// The cluster's release, whose kubeadm's names and formats the objects follow.
    fn release(&self) -> Release;
    /// kubeadm-config's `data` as that release's kubeadm writes it (no secrets).
    fn kubeadm_config_data(&self) -> BTreeMap<String, String>;
    /// This control plane's Node, whose CRI socket upload-config/kubelet records.
    fn this_node(&self) -> ThisNode;
}

/// Applies the three objects; server-side apply leaves unchanged objects untouched.
async fn upload(
    client: &ApiClient,
    objects: ConfigObjects,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    client.apply(fx, &objects.config_map).await?;
    client.apply(fx, &objects.role).await?;
    client.apply(fx, &objects.role_binding).await?;
    Ok(())
}

/// `upload-config/kubeadm`.
pub struct UploadKubeadmConfig;

#[async_trait]
impl<C: UploadConfigContext> Step<C> for UploadKubeadmConfig {
    fn name(&self) -> &'static str {
        "kubeadm"
    }

    fn help(&self) -> &'static str {
        "Create ConfigMap kube-system/kubeadm-config with its Role and RoleBinding."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fp.value("kubeadm_config", &ctx.kubeadm_config_data());
    }

    /// Its result lives in the cluster, not in a file the journal can check.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let objects = kubeadm_config(ctx.kubeadm_config_data());
        let client = ctx.cluster_access().admin(fx).await?;
        upload(&client, objects, fx).await
    }
}

/// The KubeletConfiguration document `kubelet-start` writes to config.yaml.
pub fn kubelet_configuration_yaml(ctx: &impl KubeletContext) -> Result<String, PhaseError> {
    serde_saphyr::to_string(&ctx.kubelet().config())
        .map_err(|e| PhaseError::failed(format!("cannot render the KubeletConfiguration: {e}")))
}

/// `upload-config/kubelet`.
pub struct UploadKubeletConfig;

#[async_trait]
impl<C: UploadConfigContext> Step<C> for UploadKubeletConfig {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn help(&self) -> &'static str {
        "Create the kubelet's ConfigMap in kube-system (kubelet-config; kubelet-config-1.X up to v1.23) with its Role and RoleBinding, and record this node's CRI socket on its Node (annotation kubeadm.alpha.kubernetes.io/cri-socket)."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fp.value("kubelet_configuration", &ctx.kubelet().config())
            .value("config_map", &ctx.release().kubelet_config_map())
            .value("node", &ctx.this_node());
    }

    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let objects = kubelet_config(ctx.release(), kubelet_configuration_yaml(ctx)?);
        let client = ctx.cluster_access().admin(fx).await?;
        upload(&client, objects, fx).await?;
        annotate_cri_socket(&client, &ctx.this_node(), ctx.release(), fx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KubernetesVersion;

    const TOKENS: &str = "system:bootstrappers:kubeadm:default-node-token";
    const NODES: &str = "system:nodes";

    fn check(o: &ConfigObjects, cm: &str, key: &str, role: &str, subjects: [&str; 2]) {
        assert_eq!(o.config_map.metadata.name.as_deref(), Some(cm));
        assert_eq!(
            o.config_map.metadata.namespace.as_deref(),
            Some("kube-system")
        );
        let data = o.config_map.data.as_ref().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), [key]);
        let rule = &o.role.rules.as_ref().unwrap()[0];
        assert_eq!(rule.verbs, ["get"]);
        assert_eq!(
            rule.resources.as_deref(),
            Some(&["configmaps".to_string()][..])
        );
        assert_eq!(rule.resource_names.as_deref(), Some(&[cm.to_string()][..]));
        assert_eq!(o.role.metadata.name.as_deref(), Some(role));
        assert_eq!(o.role_binding.metadata.name.as_deref(), Some(role));
        assert_eq!(o.role_binding.role_ref.name, role);
        assert_eq!(o.role_binding.role_ref.kind, "Role");
        let groups: Vec<&str> = o
            .role_binding
            .subjects
            .iter()
            .flatten()
            .map(|s| {
                assert_eq!(s.kind, "Group");
                s.name.as_str()
            })
            .collect();
        assert_eq!(groups, subjects);
    }

    /// kubeadm's names, and its subject order per binding (uploadconfig.go: tokens then nodes;
    /// phases/kubelet/config.go: nodes then tokens).
    #[test]
    fn kubeadm_names_and_keys_per_release() {
        let data = BTreeMap::from([(
            "ClusterConfiguration".to_owned(),
            "kind: ClusterConfiguration\n".to_owned(),
        )]);
        let o = kubeadm_config(data);
        check(
            &o,
            "kubeadm-config",
            "ClusterConfiguration",
            "kubeadm:nodes-kubeadm-config",
            [TOKENS, NODES],
        );
        let release = |minor| Release::of(&KubernetesVersion::new(1, minor, 0));
        let k = kubelet_config(release(24), "kind: KubeletConfiguration\n".into());
        check(
            &k,
            "kubelet-config",
            "kubelet",
            "kubeadm:kubelet-config",
            [NODES, TOKENS],
        );
        assert_eq!(
            k.config_map.data.unwrap()["kubelet"],
            "kind: KubeletConfiguration\n"
        );
        let k = kubelet_config(release(20), "kind: KubeletConfiguration\n".into());
        check(
            &k,
            "kubelet-config-1.20",
            "kubelet",
            "kubeadm:kubelet-config-1.20",
            [NODES, TOKENS],
        );
    }
}
