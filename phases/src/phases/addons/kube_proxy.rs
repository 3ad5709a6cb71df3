//! `addon/kube-proxy`: kube-proxy as kubeadm deploys it — ServiceAccount `kube-proxy`,
//! ConfigMap `kube-proxy` (`config.conf`: the KubeProxyConfiguration; `kubeconfig.conf`: the
//! control-plane endpoint with the pod's ServiceAccount token), DaemonSet `kube-proxy`,
//! ClusterRoleBinding `kubeadm:node-proxier` (→ system:node-proxier) and Role/RoleBinding
//! `kube-proxy` that let joining nodes read the ConfigMap.
//!
//! `config.conf` is kubeadm's defaults (componentconfigs/kubeproxy.go: bindAddress by the
//! advertise address's family, clusterCIDR from the pod subnet, the kubeconfig path) with the
//! user's `KubeProxyConfiguration` document merged over them; kube-proxy defaults the rest.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{
    AddonContext, AddonError, AddonObject, AddonSpec, Manifest, addon_manifest, apply_all, build,
};
use crate::config::images::kubernetes_image;
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::kubelet::merge_json;

/// Where the DaemonSet mounts the ConfigMap.
pub const KUBECONFIG_PATH: &str = "/var/lib/kube-proxy/kubeconfig.conf";

const SERVICE_ACCOUNT: Manifest = addon_manifest!("kube-proxy/serviceaccount.yaml");
const CONFIG_MAP: Manifest = addon_manifest!("kube-proxy/configmap.yaml");
const DAEMON_SET: Manifest = addon_manifest!("kube-proxy/daemonset.yaml");
const CLUSTER_ROLE_BINDING: Manifest = addon_manifest!("kube-proxy/clusterrolebinding.yaml");
const ROLE: Manifest = addon_manifest!("kube-proxy/role.yaml");
const ROLE_BINDING: Manifest = addon_manifest!("kube-proxy/rolebinding.yaml");

/// The KubeProxyConfiguration document of `config.conf`.
pub fn kube_proxy_configuration(spec: &AddonSpec) -> Value {
    let bind = if spec.advertise_address.is_ipv6() {
        "::"
    } else {
        "0.0.0.0"
    };
    let mut config = json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "bindAddress": bind,
        "clientConnection": { "kubeconfig": KUBECONFIG_PATH },
    });
    if let (Some(cidr), Value::Object(map)) = (&spec.pod_subnet, &mut config) {
        map.insert("clusterCIDR".into(), Value::String(cidr.clone()));
    }
    if let Some(user) = &spec.kube_proxy_config {
        merge_json(&mut config, user);
    }
    config
}

/// The objects, in kubeadm's order.
pub fn objects(spec: &AddonSpec) -> Result<Vec<AddonObject>, AddonError> {
    let config = serde_saphyr::to_string(&kube_proxy_configuration(spec)).map_err(|e| {
        AddonError::Render {
            what: "KubeProxyConfiguration",
            problem: e.to_string(),
        }
    })?;
    // The document goes into a `|-` block scalar, four spaces in.
    let indented: Vec<String> = config
        .trim_end()
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect();
    let indented = indented.join("\n");
    let image = kubernetes_image(
        &spec.image_repository,
        "kube-proxy",
        &spec.kubernetes_version,
    );
    Ok(vec![
        AddonObject::ServiceAccount(build(SERVICE_ACCOUNT, "ServiceAccount", &[])?),
        AddonObject::ConfigMap(build(
            CONFIG_MAP,
            "ConfigMap",
            &[
                ("CONTROL_PLANE_ENDPOINT", &spec.control_plane_url),
                ("PROXY_CONFIG", &indented),
            ],
        )?),
        AddonObject::DaemonSet(build(DAEMON_SET, "DaemonSet", &[("IMAGE", &image)])?),
        AddonObject::ClusterRoleBinding(build(CLUSTER_ROLE_BINDING, "ClusterRoleBinding", &[])?),
        AddonObject::Role(build(ROLE, "Role", &[])?),
        AddonObject::RoleBinding(build(ROLE_BINDING, "RoleBinding", &[])?),
    ])
}

/// `init phase addon kube-proxy`.
pub struct KubeProxy;

#[async_trait]
impl<C: AddonContext> Step<C> for KubeProxy {
    fn name(&self) -> &'static str {
        "kube-proxy"
    }

    fn help(&self) -> &'static str {
        "Apply kube-proxy: DaemonSet and ConfigMap kube-proxy, ServiceAccount, ClusterRoleBinding kubeadm:node-proxier, Role/RoleBinding kube-proxy."
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        if ctx.addon_spec().proxy_disabled {
            Applicability::NotApplicable("proxy.disabled is set in the configuration".into())
        } else {
            Applicability::Applies
        }
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.addon_spec();
        fp.value("config", &kube_proxy_configuration(&spec))
            .value("endpoint", &spec.control_plane_url)
            .value("image_repository", &spec.image_repository)
            .value("version", &spec.kubernetes_version);
    }

    /// The objects live in the cluster, not in files the journal can check.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.addon_spec();
        // Built before any API call: a configuration that breaks a manifest fails alone.
        let objects = objects(&spec)?;
        let client = spec.access.admin(fx).await?;
        apply_all(&client, &objects, spec.keep_kube_proxy_config, fx).await?;
        Ok(())
    }
}
