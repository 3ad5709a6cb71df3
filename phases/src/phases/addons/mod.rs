//! `addon/coredns` and `addon/kube-proxy`: the cluster's two required addons, as the API
//! objects kubeadm creates for them.
//!
//! The objects are YAML templates in `manifests/addons/` (compiled in), filled from the
//! effective configuration with [`template::render`] and parsed into typed objects, so a
//! value that breaks the YAML is an error naming the manifest, never a half-applied addon.
//! Every write is a server-side apply (field manager `kubestrap`): a second run sends the
//! same objects and the API server leaves them untouched.

pub mod coredns;
pub mod kube_proxy;
mod template;

use std::net::IpAddr;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;

use crate::config::{ImageMeta, KubernetesVersion};
use crate::contract::effects::{ApiChange, ApiVerb, Effects};
use crate::contract::step::PhaseError;
use crate::domain::apiclient::ClusterAccess;
use crate::domain::apiclient::{ApiClient, ApiError};

pub use coredns::{CoreDns, coredns_image};
pub use kube_proxy::{KubeProxy, kube_proxy_configuration};
pub use template::TemplateError;

/// Everything the addon phases are made from, taken from the effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AddonSpec {
    pub access: ClusterAccess,
    pub kubernetes_version: KubernetesVersion,
    /// `imageRepository` (kube-proxy's, and CoreDNS's unless `dns.imageRepository` is set).
    pub image_repository: String,
    /// `dns.imageRepository` / `dns.imageTag`.
    pub dns_image: ImageMeta,
    /// `dns.disabled`, `proxy.disabled`.
    pub dns_disabled: bool,
    pub proxy_disabled: bool,
    /// `networking.dnsDomain` (cluster.local).
    pub dns_domain: String,
    /// The tenth address of the service subnet: kube-dns's clusterIP, the kubelets' clusterDNS.
    pub dns_ip: IpAddr,
    /// `networking.podSubnet` as kubeadm writes it into clusterCIDR (comma-separated).
    pub pod_subnet: Option<String>,
    /// `https://<controlPlaneEndpoint or advertise address>:<port>`: where kube-proxy connects.
    pub control_plane_url: String,
    /// The advertise address: its family picks kube-proxy's bindAddress (0.0.0.0 or ::).
    pub advertise_address: IpAddr,
    /// The user's `KubeProxyConfiguration` document, merged over kubeadm's defaults.
    pub kube_proxy_config: Option<serde_json::Value>,
    /// Leave ConfigMap `coredns` (the Corefile) as the cluster has it, when it exists: an
    /// upgrade keeps what users changed (kubernetes/kubernetes#96833), as kubeadm's
    /// `createOrRetainConfigMap` does.
    pub keep_corefile: bool,
    /// Leave ConfigMap `kube-proxy` as the cluster has it, when it exists: an upgrade without
    /// a KubeProxyConfiguration of the user's keeps theirs (kubeadm overwrites it,
    /// kubernetes/kubeadm#3049).
    pub keep_kube_proxy_config: bool,
}

/// Implemented by the contexts the addon phases run in.
pub trait AddonContext: Sync {
    fn addon_spec(&self) -> AddonSpec;
}

/// Why an addon could not be built; API failures come through [`ApiError`].
#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The filled-in manifest is not the object it should be (a configured value broke it).
    #[error("manifests/addons/{file}: the filled-in manifest is not a valid {kind}: {problem}")]
    Manifest {
        file: &'static str,
        kind: &'static str,
        problem: String,
    },
    #[error("cannot render the {what}: {problem}")]
    Render { what: &'static str, problem: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl crate::contract::diagnostics::Diagnostic for AddonError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            AddonError::Api(e) => e.hint(),
            AddonError::Manifest { .. } => crate::contract::diagnostics::hint(
                "check imageRepository, dns.imageRepository/imageTag and networking in the configuration",
            ),
            AddonError::Template(e) => e.hint(),
            AddonError::Render { .. } => None,
        }
    }
}

impl From<AddonError> for PhaseError {
    fn from(e: AddonError) -> Self {
        PhaseError::from_diagnostic(&e)
    }
}

/// One object of an addon, typed so it can be applied and named.
#[derive(Debug, Clone, PartialEq)]
pub enum AddonObject {
    ServiceAccount(ServiceAccount),
    ConfigMap(ConfigMap),
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    Role(Role),
    RoleBinding(RoleBinding),
    Deployment(Deployment),
    DaemonSet(DaemonSet),
    Service(Service),
}

impl AddonObject {
    /// Server-side applies the object unless the live one already holds every field of it
    /// (then recorded as unchanged; under `--dry-run` only recorded).
    pub async fn apply(&self, client: &ApiClient, fx: &mut Effects<'_>) -> Result<(), ApiError> {
        match self {
            Self::ServiceAccount(o) => client.apply(fx, o).await,
            Self::ConfigMap(o) => client.apply(fx, o).await,
            Self::ClusterRole(o) => client.apply(fx, o).await,
            Self::ClusterRoleBinding(o) => client.apply(fx, o).await,
            Self::Role(o) => client.apply(fx, o).await,
            Self::RoleBinding(o) => client.apply(fx, o).await,
            Self::Deployment(o) => client.apply(fx, o).await,
            Self::DaemonSet(o) => client.apply(fx, o).await,
            Self::Service(o) => client.apply(fx, o).await,
        }
    }

    /// `(kind, namespace, name)`, as kubectl names it.
    pub fn identity(&self) -> (&'static str, Option<&str>, &str) {
        let (kind, meta) = match self {
            Self::ServiceAccount(o) => ("ServiceAccount", &o.metadata),
            Self::ConfigMap(o) => ("ConfigMap", &o.metadata),
            Self::ClusterRole(o) => ("ClusterRole", &o.metadata),
            Self::ClusterRoleBinding(o) => ("ClusterRoleBinding", &o.metadata),
            Self::Role(o) => ("Role", &o.metadata),
            Self::RoleBinding(o) => ("RoleBinding", &o.metadata),
            Self::Deployment(o) => ("Deployment", &o.metadata),
            Self::DaemonSet(o) => ("DaemonSet", &o.metadata),
            Self::Service(o) => ("Service", &o.metadata),
        };
        (
            kind,
            meta.namespace.as_deref(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }
}

/// A compiled-in manifest: its file name under `manifests/addons/` and its template text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Manifest {
    pub file: &'static str,
    pub text: &'static str,
}

/// The [`Manifest`] `manifests/addons/<file>`, compiled in.
macro_rules! addon_manifest {
    ($file:literal) => {
        crate::phases::addons::Manifest {
            file: $file,
            text: include_str!(concat!("../../../../manifests/addons/", $file)),
        }
    };
}
pub(crate) use addon_manifest;

/// Fills `manifest` with `vars` and parses it as `K`.
pub(crate) fn build<K: DeserializeOwned>(
    manifest: Manifest,
    kind: &'static str,
    vars: &[(&str, &str)],
) -> Result<K, AddonError> {
    let yaml = template::render(manifest.file, manifest.text, vars)?;
    serde_saphyr::from_str(&yaml).map_err(|e| AddonError::Manifest {
        file: manifest.file,
        kind,
        problem: e.to_string(),
    })
}

/// Applies `objects` in order with the admin client (created first when needed). With
/// `keep_config`, a ConfigMap the cluster already has is left as it is (recorded unchanged).
pub(crate) async fn apply_all(
    client: &ApiClient,
    objects: &[AddonObject],
    keep_config: bool,
    fx: &mut Effects<'_>,
) -> Result<(), AddonError> {
    for object in objects {
        if keep_config && matches!(object, AddonObject::ConfigMap(_)) {
            let (kind, namespace, name) = object.identity();
            if client
                .get_opt::<ConfigMap>(namespace, name)
                .await?
                .is_some()
            {
                fx.record_api(ApiChange::sent(ApiVerb::Apply, kind, namespace, name).unchanged());
                fx.progress(format!("ConfigMap {name} kept as the cluster has it"));
                continue;
            }
        }
        object.apply(client, fx).await?;
    }
    Ok(())
}
