//! Which credentials the online pass asks with: `--kubeconfig` when given, else admin.conf on a
//! control plane, else kubelet.conf; the first whose server answers `GET /version` is used.
//! When none does, the cluster is not checked and one finding (`cluster-unreachable`) says
//! what was tried.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::super::facts::Role;
use super::super::{DoctorInputs, Evidence, Finding, FindingId, NodeFacts};
use crate::contract::host::HostFs;
use crate::domain::apiclient::{ADMIN_CONF, ApiClient};

/// No kubeconfig reached the API server.
pub const CLUSTER_UNREACHABLE: FindingId = FindingId("cluster-unreachable");

/// A working connection, and the API server's clock as its answer gave it.
#[derive(Debug)]
pub struct Access {
    pub client: ApiClient,
    pub kubeconfig: PathBuf,
    /// The `Date` header of the `GET /version` answer, when the server sent one.
    pub server_date: Option<OffsetDateTime>,
    /// This node's clock when that answer arrived.
    pub local_at_answer: OffsetDateTime,
}

/// A kubeconfig that was tried, and why it did not work (the server it names, when it could
/// be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub kubeconfig: PathBuf,
    pub server: Option<String>,
    pub problem: String,
}

/// Every kubeconfig tried, none of which worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable(pub Vec<Tried>);

impl Unreachable {
    /// For [`super::super::ClusterPass::Skipped`].
    pub fn reason(&self) -> String {
        match self.0.as_slice() {
            [] => "no kubeconfig to ask the cluster with (not a control plane, no kubelet.conf, no --kubeconfig)".into(),
            tried => {
                let names: Vec<String> = tried
                    .iter()
                    .map(|t| t.kubeconfig.display().to_string())
                    .collect();
                format!("no kubeconfig reached the API server (tried {})", names.join(", "))
            }
        }
    }

    /// `cluster-unreachable`: a warning, as the node's own files were still checked.
    pub fn finding(&self) -> Finding {
        let mut f = Finding::warning(
            CLUSTER_UNREACHABLE,
            format!(
                "{}: the cluster's side of the chain (tokens, cluster-info, RBAC, CSRs, etcd, the Node) was not checked",
                self.reason()
            ),
            "check that the kubeconfig's server is this cluster's API server and reachable from here (`curl -k https://<server>/version`), that kube-apiserver runs on the control plane (`crictl ps --name kube-apiserver`), and that the kubeconfig's certificate has not expired (`kubestrap certs check-expiration`); or pass `--kubeconfig` with working credentials",
        );
        for t in &self.0 {
            let mut e = Evidence::of(t.kubeconfig.display().to_string());
            if let Some(server) = &t.server {
                e = e.field("server").value(server.clone());
            }
            f = f.with(e);
            f.what
                .push_str(&format!("; {}: {}", t.kubeconfig.display(), t.problem));
        }
        f
    }
}

/// The kubeconfigs to try, in order.
pub fn candidates(inputs: &DoctorInputs, node: &NodeFacts) -> Vec<PathBuf> {
    if let Some(k) = &inputs.kubeconfig {
        return vec![k.clone()];
    }
    let mut out = Vec::new();
    if node.role == Role::ControlPlane {
        out.push(node.kubeconfig_dir.join(ADMIN_CONF));
    }
    let kubelet = node.kubeconfig_dir.join("kubelet.conf");
    if kubelet.is_file() {
        out.push(kubelet);
    }
    out
}

/// Connects with the first candidate whose server answers.
pub async fn connect(inputs: &DoctorInputs, node: &NodeFacts) -> Result<Access, Unreachable> {
    let fs = HostFs::real();
    let mut tried = Vec::new();
    for kubeconfig in candidates(inputs, node) {
        let client = match ApiClient::from_kubeconfig(&fs, &kubeconfig, inputs.api_timeout).await {
            Ok(c) => c,
            Err(e) => {
                tried.push(Tried {
                    kubeconfig,
                    server: None,
                    problem: e.to_string(),
                });
                continue;
            }
        };
        let version = client
            .retry("get /version", || client.client().apiserver_version())
            .await;
        if let Err(e) = version {
            tried.push(Tried {
                kubeconfig,
                server: Some(client.endpoint().to_string()),
                problem: e.to_string(),
            });
            continue;
        }
        let server_date = server_date_of(&client).await;
        return Ok(Access {
            client,
            kubeconfig,
            server_date,
            local_at_answer: OffsetDateTime::now_utc(),
        });
    }
    Err(Unreachable(tried))
}

/// One raw `GET /version` for its `Date` header (the typed call hides headers); `None` when
/// it fails or has none: the clock check is then left out.
async fn server_date_of(client: &ApiClient) -> Option<OffsetDateTime> {
    let request = http::Request::get("/version")
        .body(kube::client::Body::empty())
        .ok()?;
    let answer = tokio::time::timeout(client.timeout(), client.client().send(request))
        .await
        .ok()?
        .ok()?;
    super::clock::server_date(answer.headers())
}
