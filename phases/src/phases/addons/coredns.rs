//! `addon/coredns`: CoreDNS as kubeadm deploys it — ServiceAccount `coredns`, ClusterRole and
//! ClusterRoleBinding `system:coredns`, ConfigMap `coredns` (the Corefile), Deployment
//! `coredns` and Service `kube-dns` on the tenth address of the service subnet, all in
//! kube-system.
//!
//! The CoreDNS version follows the Kubernetes version (kubeadm's `CoreDNSVersion` of each
//! release); from v1.21 the official image lives at `<registry>/coredns/coredns:vX.Y.Z`. An
//! existing Deployment keeps its replica count, as kubeadm keeps it, so a cluster scaled by
//! its operator is not scaled back by a re-run.

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Toleration;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};

use super::{
    AddonContext, AddonError, AddonObject, AddonSpec, Manifest, addon_manifest, apply_all, build,
};
use crate::config::well_known::KUBE_SYSTEM;
use crate::config::{KubernetesVersion, Release, images};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::apiclient::ApiClient;

pub const DEPLOYMENT: &str = "coredns";
/// kubeadm's replica count for a new CoreDNS Deployment.
pub const DEFAULT_REPLICAS: i32 = 2;

const SERVICE_ACCOUNT: Manifest = addon_manifest!("coredns/serviceaccount.yaml");
const CLUSTER_ROLE: Manifest = addon_manifest!("coredns/clusterrole.yaml");
const CLUSTER_ROLE_BINDING: Manifest = addon_manifest!("coredns/clusterrolebinding.yaml");
const CONFIG_MAP: Manifest = addon_manifest!("coredns/configmap.yaml");
const DEPLOYMENT_YAML: Manifest = addon_manifest!("coredns/deployment.yaml");
const SERVICE: Manifest = addon_manifest!("coredns/service.yaml");

/// kubeadm's GetDNSImage for this cluster ([`images::coredns_image`]).
pub fn coredns_image(spec: &AddonSpec) -> String {
    images::coredns_image(
        &spec.kubernetes_version,
        &spec.image_repository,
        &spec.dns_image,
    )
}

/// kubeadm's CoreDNS tolerates the `master` taint as long as control planes may carry it
/// ([`Release::coredns_tolerates_master`]: up to 1.25, one release after kubeadm stopped
/// applying it, so that nodes tainted before an upgrade still run CoreDNS).
fn tolerations_for(version: &KubernetesVersion, deployment: &mut Deployment) {
    if !Release::of(version).coredns_tolerates_master() {
        return;
    }
    if let Some(pod) = deployment
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
    {
        pod.tolerations
            .get_or_insert_with(Vec::new)
            .push(Toleration {
                key: Some("node-role.kubernetes.io/master".into()),
                effect: Some("NoSchedule".into()),
                ..Toleration::default()
            });
    }
}

/// kubeadm's CoreDNS prefers one replica per node only from 1.25
/// ([`Release::coredns_pod_anti_affinity`], #110593): the skeleton carries the 1.25+
/// `podAntiAffinity`, which older releases drop.
fn affinity_for(version: &KubernetesVersion, deployment: &mut Deployment) {
    if Release::of(version).coredns_pod_anti_affinity() {
        return;
    }
    if let Some(pod) = deployment
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
    {
        pod.affinity = None;
    }
}

/// ClusterRole `system:coredns`, with kubeadm's `get` on nodes up to 1.27
/// ([`Release::coredns_gets_nodes`]).
fn cluster_role(version: &KubernetesVersion) -> Result<ClusterRole, AddonError> {
    let mut role: ClusterRole = build(CLUSTER_ROLE, "ClusterRole", &[])?;
    if Release::of(version).coredns_gets_nodes() {
        role.rules.get_or_insert_with(Vec::new).push(PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["nodes".into()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        });
    }
    Ok(role)
}

/// The CoreDNS objects, in the order they are applied: identity and rights first, then the
/// configuration, the workload and its Service.
pub fn objects(spec: &AddonSpec, replicas: i32) -> Result<Vec<AddonObject>, AddonError> {
    let image = coredns_image(spec);
    let replicas = replicas.to_string();
    let dns_ip = spec.dns_ip.to_string();
    let mut deployment: Deployment = build(
        DEPLOYMENT_YAML,
        "Deployment",
        &[("IMAGE", &image), ("REPLICAS", &replicas)],
    )?;
    tolerations_for(&spec.kubernetes_version, &mut deployment);
    affinity_for(&spec.kubernetes_version, &mut deployment);
    Ok(vec![
        AddonObject::ServiceAccount(build(SERVICE_ACCOUNT, "ServiceAccount", &[])?),
        AddonObject::ClusterRole(cluster_role(&spec.kubernetes_version)?),
        AddonObject::ClusterRoleBinding(build(CLUSTER_ROLE_BINDING, "ClusterRoleBinding", &[])?),
        AddonObject::ConfigMap(build(
            CONFIG_MAP,
            "ConfigMap",
            &[("DNS_DOMAIN", &spec.dns_domain)],
        )?),
        AddonObject::Deployment(deployment),
        AddonObject::Service(build(SERVICE, "Service", &[("DNS_IP", &dns_ip)])?),
    ])
}

/// The replica count to apply: the existing Deployment's, else kubeadm's default.
async fn replicas(client: &ApiClient, fx: &Effects<'_>) -> Result<i32, AddonError> {
    if fx.is_dry_run() {
        return Ok(DEFAULT_REPLICAS);
    }
    let current: Option<Deployment> = client.get_opt(Some(KUBE_SYSTEM), DEPLOYMENT).await?;
    Ok(current
        .and_then(|d| d.spec)
        .and_then(|s| s.replicas)
        .unwrap_or(DEFAULT_REPLICAS))
}

/// `init phase addon coredns`.
pub struct CoreDns;

#[async_trait]
impl<C: AddonContext> Step<C> for CoreDns {
    fn name(&self) -> &'static str {
        "coredns"
    }

    fn help(&self) -> &'static str {
        "Apply CoreDNS: Deployment coredns, Service kube-dns, ConfigMap coredns, ServiceAccount and RBAC system:coredns."
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        if ctx.addon_spec().dns_disabled {
            Applicability::NotApplicable("dns.disabled is set in the configuration".into())
        } else {
            Applicability::Applies
        }
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.addon_spec();
        fp.value("image", &coredns_image(&spec))
            .value("dns_domain", &spec.dns_domain)
            .value("dns_ip", &spec.dns_ip);
    }

    /// The objects live in the cluster, not in files the journal can check.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.addon_spec();
        let client = spec.access.admin(fx).await?;
        let objects = objects(&spec, replicas(&client, fx).await?)?;
        apply_all(&client, &objects, spec.keep_corefile, fx).await?;
        Ok(())
    }
}
