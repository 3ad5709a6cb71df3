//! `upload-config/kubeadm` and `upload-config/kubelet`: the cluster's configuration in
//! ConfigMaps in kube-system, each readable by joining nodes (bootstrap tokens of kubeadm's
//! default group) and by nodes, so that `join` and `upgrade` configure them consistently.
//!
//! Names and keys are current kubeadm's (phases/uploadconfig, phases/kubelet): the
//! `kubelet-config` ConfigMap carries no version suffix (kubeadm ≥ 1.24), and kubeadm-config
//! holds only `ClusterConfiguration` (`ClusterStatus` is gone since 1.22).

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::config::token::DEFAULT_TOKEN_GROUP;
use crate::config::well_known::{
    CLUSTER_CONFIGURATION_KEY, KUBE_SYSTEM, KUBEADM_CONFIG_MAP, KUBELET_CONFIG_KEY,
    KUBELET_CONFIG_MAP, NODES_GROUP, RBAC_GROUP,
};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{PhaseError, Step};
use crate::domain::apiclient::ClusterAccess;
use crate::domain::kubelet::KubeletContext;

pub const KUBEADM_CONFIG_ROLE: &str = "kubeadm:nodes-kubeadm-config";
pub const KUBELET_CONFIG_ROLE: &str = "kubeadm:kubelet-config";

/// A ConfigMap and the Role + RoleBinding that let joining nodes read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigObjects {
    pub config_map: ConfigMap,
    pub role: Role,
    pub role_binding: RoleBinding,
}

/// kube-system/kubeadm-config with the ClusterConfiguration document, and its RBAC.
pub fn kubeadm_config(cluster_configuration_yaml: String) -> ConfigObjects {
    readable_config_map(
        KUBEADM_CONFIG_MAP,
        CLUSTER_CONFIGURATION_KEY,
        cluster_configuration_yaml,
        KUBEADM_CONFIG_ROLE,
    )
}

/// kube-system/kubelet-config with the KubeletConfiguration document, and its RBAC.
pub fn kubelet_config(kubelet_configuration_yaml: String) -> ConfigObjects {
    readable_config_map(
        KUBELET_CONFIG_MAP,
        KUBELET_CONFIG_KEY,
        kubelet_configuration_yaml,
        KUBELET_CONFIG_ROLE,
    )
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(KUBE_SYSTEM.into()),
        ..ObjectMeta::default()
    }
}

fn readable_config_map(name: &str, key: &str, value: String, role: &str) -> ConfigObjects {
    ConfigObjects {
        config_map: ConfigMap {
            metadata: meta(name),
            data: Some(BTreeMap::from([(key.to_string(), value)])),
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
                [DEFAULT_TOKEN_GROUP, NODES_GROUP]
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
    /// The ClusterConfiguration document as kubeadm stores it (no secrets).
    fn cluster_configuration_yaml(&self) -> String;
}

/// Applies the three objects; server-side apply leaves unchanged objects untouched.
async fn upload(
    access: &ClusterAccess,
    objects: ConfigObjects,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    let client = access.admin(fx).await?;
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
        fp.value("cluster_configuration", &ctx.cluster_configuration_yaml());
    }

    /// Its result lives in the cluster, not in a file the journal can check.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let objects = kubeadm_config(ctx.cluster_configuration_yaml());
        upload(&ctx.cluster_access(), objects, fx).await
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
        "Create ConfigMap kube-system/kubelet-config with its Role and RoleBinding."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fp.value("kubelet_configuration", &ctx.kubelet().config());
    }

    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let objects = kubelet_config(kubelet_configuration_yaml(ctx)?);
        upload(&ctx.cluster_access(), objects, fx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(o: &ConfigObjects, cm: &str, key: &str, role: &str) {
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
        assert_eq!(
            groups,
            [
                "system:bootstrappers:kubeadm:default-node-token",
                "system:nodes"
            ]
        );
    }

    #[test]
    fn kubeadm_names_and_keys() {
        let o = kubeadm_config("kind: ClusterConfiguration\n".into());
        check(
            &o,
            "kubeadm-config",
            "ClusterConfiguration",
            "kubeadm:nodes-kubeadm-config",
        );
        let k = kubelet_config("kind: KubeletConfiguration\n".into());
        check(&k, "kubelet-config", "kubelet", "kubeadm:kubelet-config");
        assert_eq!(
            k.config_map.data.unwrap()["kubelet"],
            "kind: KubeletConfiguration\n"
        );
    }
}
