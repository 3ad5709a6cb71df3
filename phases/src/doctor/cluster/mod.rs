//! Doctor's online pass: what the cluster holds for the bootstrap chain, asked with the node's
//! own credentials (`--kubeconfig`, else admin.conf on a control plane, else kubelet.conf).
//!
//! Only reads: GET and LIST, never a write. Each concept is one submodule whose `check` is a
//! pure function over the objects fetched here, so the checks are tested on typed objects and
//! the fetching stays thin. An area the credentials may not read (a worker's kubelet.conf
//! cannot list Secrets: 403) is not a finding: it is left out, and [`AreaOutcome`] says so.

pub mod access;
pub mod clock;
pub mod cluster_info;
pub mod csrs;
pub mod drift;
pub mod etcd;
pub mod node;
pub mod rbac;
pub mod skew;
pub mod tokens;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::facts::Role as NodeRole;
use super::{ClusterPass, DoctorInputs, Finding, NodeFacts};
use crate::config::Release;
use crate::config::well_known::{CLUSTER_INFO, KUBE_PUBLIC, KUBE_SYSTEM};
use crate::domain::apiclient::{ApiClient, ApiError};
use crate::domain::bootstrap_token::{BOOTSTRAP_TOKEN_SECRET_TYPE, TokenInfo};
use crate::domain::kubeadm_config::fetch_cluster_configuration;
use crate::phases::bootstrap_token::rbac::RbacObject;

/// The parts of the chain the online pass looks at, as `-o json` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// Bootstrap-token Secrets in kube-system.
    Tokens,
    /// ConfigMap kube-public/cluster-info and its signatures.
    ClusterInfo,
    /// The bindings kubeadm's bootstrap-token phase makes, and anonymous access.
    Rbac,
    /// CertificateSigningRequests.
    Csrs,
    /// etcd membership against the control-plane Nodes (control planes only).
    Etcd,
    /// This node's Node object.
    Node,
    /// The API server's clock against this node's.
    Clock,
    /// This control plane's manifests against what kubeadm-config renders.
    Manifests,
}

impl Area {
    /// The name `-o json` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tokens => "tokens",
            Self::ClusterInfo => "cluster-info",
            Self::Rbac => "rbac",
            Self::Csrs => "csrs",
            Self::Etcd => "etcd",
            Self::Node => "node",
            Self::Clock => "clock",
            Self::Manifests => "manifests",
        }
    }
}

/// Whether an area was checked; when not, why (forbidden for these credentials, not
/// applicable to this node, the API call failed). Serialised as `{"area": "rbac"}` or
/// `{"area": "tokens", "skipped": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AreaOutcome {
    pub area: Area,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Why an area's objects could not be read: said in words, never a credential (ApiError's
/// messages name the endpoint and the answer only).
fn skip_reason(e: &ApiError) -> String {
    if e.is_forbidden() || e.status() == Some(401) {
        "forbidden for these credentials".into()
    } else {
        e.to_string()
    }
}

/// Lists every object `api` reaches (one namespace, or all).
async fn list_all<K>(
    client: &ApiClient,
    api: Api<K>,
    params: &ListParams,
    what: &str,
) -> Result<Vec<K>, ApiError>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = client
        .retry(&format!("list {what}"), || api.list(params))
        .await?;
    Ok(list.items)
}

/// Records what each area came to.
#[derive(Default)]
struct Outcomes(Vec<AreaOutcome>);

impl Outcomes {
    fn checked(&mut self, area: Area) {
        self.0.push(AreaOutcome {
            area,
            skipped: None,
        });
    }

    fn skipped(&mut self, area: Area, reason: impl Into<String>) {
        self.0.push(AreaOutcome {
            area,
            skipped: Some(reason.into()),
        });
    }

    /// `Some(v)` when `r` is; else records why `area` is skipped.
    fn take<T>(&mut self, area: Area, r: Result<T, ApiError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.skipped(area, skip_reason(&e));
                None
            }
        }
    }
}

/// Every finding the cluster gives, and how it was asked.
pub async fn check(inputs: &DoctorInputs, node: &NodeFacts) -> (ClusterPass, Vec<Finding>) {
    let access = match access::connect(inputs, node).await {
        Ok(a) => a,
        Err(failed) => {
            let reason = failed.reason();
            return (ClusterPass::Skipped { reason }, vec![failed.finding()]);
        }
    };
    let client = &access.client;
    let mut out = Outcomes::default();
    let mut findings = Vec::new();

    // RBAC first: the token and CSR checks judge groups by the bindings it reads.
    let rbac = rbac_area(client, &mut out, &mut findings).await;

    let token_params = ListParams::default().fields(&format!("type={BOOTSTRAP_TOKEN_SECRET_TYPE}"));
    let secrets = list_all::<Secret>(
        client,
        Api::namespaced(client.client().clone(), KUBE_SYSTEM),
        &token_params,
        "bootstrap token Secrets in kube-system",
    )
    .await;
    let tokens: Option<Vec<TokenInfo>> = out.take(Area::Tokens, secrets).map(|secrets| {
        findings.extend(tokens::check(
            &secrets,
            inputs.now,
            tokens::TOKEN_EXPIRING_WITHIN,
            rbac.as_deref(),
        ));
        out.checked(Area::Tokens);
        secrets.iter().filter_map(TokenInfo::from_secret).collect()
    });

    let cm = client
        .get_opt::<ConfigMap>(Some(KUBE_PUBLIC), CLUSTER_INFO)
        .await;
    if let Some(cm) = out.take(Area::ClusterInfo, cm) {
        let ca_path = node.cert_dir.join("ca.crt");
        let ca = std::fs::read(&ca_path).ok();
        findings.extend(cluster_info::check(
            cm.as_ref(),
            tokens.as_deref(),
            inputs.now,
            ca.as_deref().map(|pem| (ca_path.as_path(), pem)),
        ));
        out.checked(Area::ClusterInfo);
    }

    let csrs = list_all::<CertificateSigningRequest>(
        client,
        Api::all(client.client().clone()),
        &ListParams::default(),
        "CertificateSigningRequests",
    )
    .await;
    if let Some(csrs) = out.take(Area::Csrs, csrs) {
        findings.extend(csrs::check(&csrs, inputs.now, rbac.as_deref()));
        out.checked(Area::Csrs);
    }

    let nodes = list_all::<Node>(
        client,
        Api::all(client.client().clone()),
        &ListParams::default(),
        "Nodes",
    )
    .await;
    let nodes = out.take(Area::Node, nodes);
    let cluster_config = fetch_cluster_configuration(client).await.ok();
    match (&nodes, node.node_name.as_deref()) {
        (Some(nodes), Some(name)) => {
            // The release decides which annotations and labels kubeadm sets; without the
            // cluster's configuration those two checks are left out, the Node's presence not.
            let release = cluster_config
                .as_ref()
                .map(|c| Release::of(&c.kubernetes_version));
            let this = nodes
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(name));
            findings.extend(node::check(name, this, release, node.role));
            if let Some(cluster) = &cluster_config {
                findings.extend(skew::check(nodes, &cluster.kubernetes_version));
            }
            out.checked(Area::Node);
        }
        (Some(_), None) => out.skipped(
            Area::Node,
            "this node's name is unknown (no readable kubelet.conf certificate)",
        ),
        (None, _) => {}
    }

    match (&cluster_config, node.role) {
        (Some(cluster), NodeRole::ControlPlane) => {
            findings.extend(drift::check(cluster, node, &inputs.root));
            out.checked(Area::Manifests);
        }
        (None, NodeRole::ControlPlane) => out.skipped(
            Area::Manifests,
            "the cluster's kubeadm-config could not be read",
        ),
        _ => out.skipped(Area::Manifests, "not a control-plane node"),
    }

    if node.role == NodeRole::ControlPlane {
        match &nodes {
            Some(nodes) => match etcd::fetch(inputs, node).await {
                Ok(view) => {
                    findings.extend(etcd::check(&view, nodes));
                    out.checked(Area::Etcd);
                }
                Err(reason) => out.skipped(Area::Etcd, reason),
            },
            None => out.skipped(Area::Etcd, "the Nodes could not be listed"),
        }
    } else {
        out.skipped(Area::Etcd, "not a control-plane node");
    }

    match access.server_date {
        Some(date) => {
            findings.extend(clock::check(date, access.local_at_answer));
            out.checked(Area::Clock);
        }
        None => out.skipped(Area::Clock, "the API server sent no Date header"),
    }

    let mut areas = out.0;
    areas.sort_by_key(|a| a.area);
    (
        ClusterPass::Checked {
            kubeconfig: access.kubeconfig.display().to_string(),
            server: client.endpoint().to_string(),
            areas,
        },
        findings,
    )
}

/// Reads the bindings and the chain's roles; the ClusterRoleBindings, for the checks that
/// judge requesters by them (tokens' groups, CSRs' requesters), or `None` (and the area
/// skipped) when they cannot be read.
async fn rbac_area(
    client: &ApiClient,
    out: &mut Outcomes,
    findings: &mut Vec<Finding>,
) -> Option<Vec<ClusterRoleBinding>> {
    let all = ListParams::default();
    let crbs = list_all::<ClusterRoleBinding>(
        client,
        Api::all(client.client().clone()),
        &all,
        "ClusterRoleBindings",
    )
    .await;
    let crbs = out.take(Area::Rbac, crbs)?;
    let rbs = list_all::<RoleBinding>(
        client,
        Api::all(client.client().clone()),
        &all,
        "RoleBindings",
    )
    .await;
    let rbs = out.take(Area::Rbac, rbs)?;
    let mut cluster_roles = Vec::new();
    let mut roles = Vec::new();
    for wanted in rbac::chain() {
        match wanted {
            RbacObject::ClusterRole(want) => {
                let name = want.metadata.name.clone().unwrap_or_default();
                let got = client.get_opt::<ClusterRole>(None, &name).await;
                cluster_roles.push((want, out.take(Area::Rbac, got)?));
            }
            RbacObject::Role(want) => {
                let name = want.metadata.name.clone().unwrap_or_default();
                let ns = want.metadata.namespace.clone();
                let got = client.get_opt::<Role>(ns.as_deref(), &name).await;
                roles.push((want, out.take(Area::Rbac, got)?));
            }
            _ => {}
        }
    }
    findings.extend(rbac::check(&crbs, &rbs, &cluster_roles, &roles));
    out.checked(Area::Rbac);
    Some(crbs)
}
