//! Cluster membership of the local etcd: `etcd-join` adds this node's member to the existing
//! cluster and writes its manifest with `--initial-cluster-state=existing`; `reset` removes it.
//!
//! The etcd v3 API is reached through etcd's JSON gRPC gateway (`POST /v3/cluster/member/…`
//! on the client port, served by etcd 3.4 and 3.5 alike) over mutual TLS with the API server's
//! etcd client certificate, as kubeadm uses `apiserver-etcd-client`. This keeps kubestrap on
//! its existing blocking HTTPS client (ureq + rustls) instead of a gRPC stack; the gateway
//! emits 64-bit member IDs as JSON strings.
//!
//! Adding a voting member to a one-member cluster raises the quorum to two: until the new
//! member starts, the cluster (and every API server on it) cannot write. kubeadm therefore
//! writes the manifest right after `MemberAdd`, and so does [`EtcdJoin`]; it then waits for the
//! member to start. From v1.29 (kubeadm's `EtcdLearnerMode`, beta and on by default; alpha
//! from v1.27) the member is added as a non-voting learner instead, which leaves the quorum
//! alone, and promoted once it has caught up with the leader.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::{InitialCluster, InitialMember};

/// The most an answer of etcd's gateway may hold: a snapshot of etcd's default 2 GiB quota,
/// base64-encoded, with room to spare.
const MAX_ANSWER_BYTES: u64 = 4 << 30;
use crate::config::well_known::KUBE_SYSTEM;
use crate::contract::host::HostFs;
use crate::contract::step::PhaseError;

/// The client certificate, key and CA an etcd client authenticates with (host paths).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EtcdClientTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl EtcdClientTls {
    /// kubeadm's choice for membership changes: the API server's etcd client certificate
    /// (`apiserver-etcd-client.*`) and the etcd CA, under the certificates dir.
    pub fn apiserver_etcd_client(cert_dir: &Path) -> Self {
        Self {
            ca: cert_dir.join("etcd/ca.crt"),
            cert: cert_dir.join("apiserver-etcd-client.crt"),
            key: cert_dir.join("apiserver-etcd-client.key"),
        }
    }
}

/// One etcd member as the cluster reports it. A member that was added but has not started
/// yet has no name and no client URLs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Member {
    #[serde(rename = "ID", deserialize_with = "u64_or_string")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
    #[serde(rename = "isLearner", default)]
    pub is_learner: bool,
}

impl Member {
    /// Whether the member has started and joined (it publishes its name once it has).
    pub fn is_started(&self) -> bool {
        !self.name.is_empty()
    }
}

/// The gateway writes uint64 as a string; accept a number too.
fn u64_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize)]
struct MembersResponse {
    #[serde(default)]
    members: Vec<Member>,
}

/// What etcd's gateway returns for a refused call (`{"error", "message", "code"}`).
#[derive(Deserialize)]
struct GatewayError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
}

/// Why a membership call failed. Names the endpoint or file involved.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("etcd client TLS file {}: {problem}", path.display())]
    Tls { path: PathBuf, problem: String },

    #[error("no etcd endpoint to talk to")]
    NoEndpoints,

    #[error("no etcd endpoint answered ({endpoints}): {last}")]
    Unreachable { endpoints: String, last: String },

    #[error("etcd at {endpoint} refused {call}: {message} (gRPC code {code})")]
    Rejected {
        endpoint: String,
        call: &'static str,
        message: String,
        code: i64,
    },

    #[error("etcd at {endpoint} answered {call} with something unexpected: {problem}")]
    Response {
        endpoint: String,
        call: &'static str,
        problem: String,
    },

    #[error("etcd member {peer_url} did not start within {waited:?}")]
    NotStarted { peer_url: String, waited: Duration },

    #[error(
        "etcd learner {peer_url} was not promoted to a voting member within {waited:?}: {last}"
    )]
    NotPromoted {
        peer_url: String,
        waited: Duration,
        last: String,
    },
}

impl EtcdError {
    /// Whether the call may succeed when repeated: no endpoint answered, or etcd refused with
    /// gRPC `Unavailable`/`DeadlineExceeded` (e.g. "unhealthy cluster" right after a member
    /// started).
    pub fn is_transient(&self) -> bool {
        const DEADLINE_EXCEEDED: i64 = 4;
        const UNAVAILABLE: i64 = 14;
        match self {
            Self::Unreachable { .. } => true,
            Self::Rejected { code, .. } => matches!(*code, DEADLINE_EXCEEDED | UNAVAILABLE),
            _ => false,
        }
    }
}

impl crate::contract::diagnostics::Diagnostic for EtcdError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        crate::contract::diagnostics::hint(match self {
            EtcdError::Tls { .. } => {
                "run `certs` first: the etcd CA and apiserver-etcd-client certificate are needed"
            }
            EtcdError::NoEndpoints | EtcdError::Unreachable { .. } => {
                "check that the existing control plane's etcd answers on its client URL (port 2379) from this node"
            }
            EtcdError::NotStarted { .. } | EtcdError::NotPromoted { .. } => {
                "check that the kubelet started the etcd static pod (its log), and that this node's peer URL (port 2380) is reachable from the other members"
            }
            _ => "check the etcd cluster's health (`etcdctl endpoint health --cluster`)",
        })
    }
}

impl From<EtcdError> for PhaseError {
    fn from(e: EtcdError) -> Self {
        PhaseError::from_diagnostic(&e)
    }
}

/// A connection to an etcd cluster for membership calls: tries each endpoint in turn.
pub struct EtcdCluster {
    endpoints: Vec<String>,
    agent: ureq::Agent,
}

fn read_pem(fs: &HostFs, path: &Path) -> Result<Vec<u8>, EtcdError> {
    fs.read(path).map_err(|e| EtcdError::Tls {
        path: path.to_path_buf(),
        problem: e.source.to_string(),
    })
}

impl EtcdCluster {
    /// Reads the client TLS files through `fs` (a dry run's staged certificates included);
    /// `timeout` bounds each call.
    pub fn connect(
        fs: &HostFs,
        endpoints: Vec<String>,
        tls: &EtcdClientTls,
        timeout: Duration,
    ) -> Result<Self, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError::NoEndpoints);
        }
        let bad = |path: &Path, problem: &str| EtcdError::Tls {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        };
        let certs_in = |path: &Path| -> Result<Vec<Certificate<'static>>, EtcdError> {
            let pem = read_pem(fs, path)?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(bad(path, "no PEM certificate in it"));
            }
            Ok(certs)
        };
        let ca = certs_in(&tls.ca)?;
        let chain = certs_in(&tls.cert)?;
        let key_pem = read_pem(fs, &tls.key)?;
        let key = PrivateKey::from_pem(&key_pem)
            .map_err(|_| bad(&tls.key, "no PEM private key in it"))?
            .to_owned();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls_config = TlsConfig::builder()
            .unversioned_rustls_crypto_provider(provider)
            .root_certs(RootCerts::new_with_certs(&ca))
            .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls_config)
            .timeout_global(Some(timeout))
            // A dead endpoint should not cost the whole call budget before the next is tried.
            .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Self { endpoints, agent })
    }

    /// POSTs `body` to `path` on the first endpoint that answers and parses its answer.
    fn call(
        &self,
        call: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<MembersResponse, EtcdError> {
        let (endpoint, text) = self.post(call, path, body)?;
        serde_json::from_str(&text).map_err(|e| EtcdError::Response {
            endpoint,
            call,
            problem: e.to_string(),
        })
    }

    /// POSTs `body` to `path` on the first endpoint that answers: that endpoint and the body
    /// of its `200` answer.
    fn post(
        &self,
        call: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(String, String), EtcdError> {
        let mut last = String::new();
        for endpoint in &self.endpoints {
            let url = format!("{}{path}", endpoint.trim_end_matches('/'));
            let response = match self
                .agent
                .post(&url)
                .content_type("application/json")
                .send(body.to_string().as_bytes())
            {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{endpoint}: {e}");
                    continue;
                }
            };
            let status = response.status().as_u16();
            let text = response
                .into_body()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_string()
                .map_err(|e| EtcdError::Response {
                    endpoint: endpoint.clone(),
                    call,
                    problem: e.to_string(),
                })?;
            if status != 200 {
                let refused: Option<GatewayError> = serde_json::from_str(&text).ok();
                return Err(match refused {
                    Some(g) => EtcdError::Rejected {
                        endpoint: endpoint.clone(),
                        call,
                        message: g.message,
                        code: g.code,
                    },
                    None => EtcdError::Response {
                        endpoint: endpoint.clone(),
                        call,
                        problem: format!("HTTP {status}"),
                    },
                });
            }
            return Ok((endpoint.clone(), text));
        }
        Err(EtcdError::Unreachable {
            endpoints: self.endpoints.join(", "),
            last,
        })
    }

    /// `Maintenance.Snapshot`: the whole keyspace as etcd streams it (etcdctl's `snapshot
    /// save`), checked against the SHA-256 etcd appends to it, so that a truncated stream is an
    /// error rather than a backup that cannot be restored. The gRPC gateway sends the stream as
    /// one JSON object per chunk, each with a base64 `blob`.
    pub fn snapshot(&self) -> Result<Vec<u8>, EtcdError> {
        use base64::Engine as _;
        use sha2::Digest as _;
        const CALL: &str = "Snapshot";
        let (endpoint, text) =
            self.post(CALL, "/v3/maintenance/snapshot", &serde_json::json!({}))?;
        let bad = |problem: String| EtcdError::Response {
            endpoint: endpoint.clone(),
            call: CALL,
            problem,
        };
        let mut data = Vec::new();
        for chunk in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
            let chunk = chunk.map_err(|e| bad(e.to_string()))?;
            if let Some(error) = chunk.get("error") {
                return Err(bad(format!("the stream ended with an error: {error}")));
            }
            let blob = chunk
                .pointer("/result/blob")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(blob)
                .map_err(|e| bad(format!("a chunk is not base64: {e}")))?;
            data.extend_from_slice(&bytes);
        }
        let Some(split) = data.len().checked_sub(32) else {
            return Err(bad(format!(
                "{} bytes are too few for a snapshot",
                data.len()
            )));
        };
        let (db, sum) = data.split_at(split);
        if sha2::Sha256::digest(db).as_slice() != sum {
            return Err(bad(
                "the snapshot does not match the SHA-256 etcd appended to it (truncated?)".into(),
            ));
        }
        Ok(data)
    }

    /// `MemberList`.
    pub fn members(&self) -> Result<Vec<Member>, EtcdError> {
        Ok(self
            .call(
                "MemberList",
                "/v3/cluster/member/list",
                &serde_json::json!({}),
            )?
            .members)
    }

    /// `MemberAdd`, as a voting member or a learner: returns every member afterwards, the
    /// new one included.
    pub fn add_member(&self, peer_url: &str, learner: bool) -> Result<Vec<Member>, EtcdError> {
        Ok(self
            .call(
                "MemberAdd",
                "/v3/cluster/member/add",
                &serde_json::json!({ "peerURLs": [peer_url], "isLearner": learner }),
            )?
            .members)
    }

    /// `MemberPromote`: a learner becomes a voting member. etcd refuses while the learner is
    /// not started or not yet in sync with the leader.
    pub fn promote_member(&self, id: u64) -> Result<Vec<Member>, EtcdError> {
        Ok(self
            .call(
                "MemberPromote",
                "/v3/cluster/member/promote",
                &serde_json::json!({ "ID": id.to_string() }),
            )?
            .members)
    }

    /// `MemberRemove` by ID: what `reset` of a control plane does first.
    pub fn remove_member(&self, id: u64) -> Result<Vec<Member>, EtcdError> {
        Ok(self
            .call(
                "MemberRemove",
                "/v3/cluster/member/remove",
                &serde_json::json!({ "ID": id.to_string() }),
            )?
            .members)
    }

    /// Removes the member with this peer URL; `Ok(false)` when there is none (already gone).
    /// etcd refuses ("unhealthy cluster", gRPC Unavailable) while a member that recently
    /// joined is not yet counted as active; that is retried for up to `limit`, as kubeadm's
    /// reset retries.
    pub fn remove_member_by_peer_url(
        &self,
        peer_url: &str,
        limit: Duration,
    ) -> Result<bool, EtcdError> {
        let started = Instant::now();
        loop {
            let Some(id) = find_member(&self.members()?, peer_url).map(|m| m.id) else {
                return Ok(false);
            };
            match self.remove_member(id) {
                Ok(_) => return Ok(true),
                Err(e) if e.is_transient() && started.elapsed() < limit => {
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Adds the member unless its peer URL is already registered (a re-run): idempotent.
    /// Returns the members afterwards and whether this call added it.
    pub fn ensure_member(
        &self,
        peer_url: &str,
        learner: bool,
    ) -> Result<(Vec<Member>, bool), EtcdError> {
        let members = self.members()?;
        if find_member(&members, peer_url).is_some() {
            return Ok((members, false));
        }
        Ok((self.add_member(peer_url, learner)?, true))
    }

    /// Promotes the learner with `peer_url`, retrying while etcd says it is not ready yet;
    /// a member that already votes is left alone. Returns whether this call promoted it.
    pub fn promote_when_ready(
        &self,
        peer_url: &str,
        limit: Duration,
        interval: Duration,
    ) -> Result<bool, EtcdError> {
        let started = Instant::now();
        loop {
            let last = match find_member(&self.members()?, peer_url) {
                Some(m) if !m.is_learner => return Ok(false),
                Some(m) => match self.promote_member(m.id) {
                    Ok(_) => return Ok(true),
                    // "can only promote a learner member which is in sync with leader",
                    // "etcdserver: learner member not ready yet"…: keep asking.
                    Err(e @ EtcdError::Rejected { .. }) => e.to_string(),
                    Err(e) => return Err(e),
                },
                None => format!("no member has peer URL {peer_url}"),
            };
            if started.elapsed() >= limit {
                return Err(EtcdError::NotPromoted {
                    peer_url: peer_url.to_string(),
                    waited: limit,
                    last,
                });
            }
            std::thread::sleep(interval);
        }
    }

    /// Polls until the member with `peer_url` has started (published its name).
    pub fn wait_started(
        &self,
        peer_url: &str,
        limit: Duration,
        interval: Duration,
    ) -> Result<Member, EtcdError> {
        let started = Instant::now();
        loop {
            if let Ok(members) = self.members()
                && let Some(m) = find_member(&members, peer_url).filter(|m| m.is_started())
            {
                return Ok(m.clone());
            }
            if started.elapsed() >= limit {
                return Err(EtcdError::NotStarted {
                    peer_url: peer_url.to_string(),
                    waited: limit,
                });
            }
            std::thread::sleep(interval);
        }
    }
}

/// The member registered with `peer_url`, if any.
pub fn find_member<'a>(members: &'a [Member], peer_url: &str) -> Option<&'a Member> {
    members
        .iter()
        .find(|m| m.peer_urls.iter().any(|u| u == peer_url))
}

/// `--initial-cluster` for a joining member: every member etcd reports. The joining member
/// has no name yet and gets `node_name`; another member that has not started yet (a
/// concurrent join) gets a placeholder, since etcd matches the initial cluster by peer URLs
/// and needs every name distinct.
pub fn initial_cluster(members: &[Member], node_name: &str, own_peer_url: &str) -> InitialCluster {
    let mut out: Vec<InitialMember> = members
        .iter()
        .filter_map(|m| {
            let url = m.peer_urls.first()?;
            let name = if m.peer_urls.iter().any(|u| u == own_peer_url) {
                node_name.to_string()
            } else if m.name.is_empty() {
                format!("unstarted-{:x}", m.id)
            } else {
                m.name.clone()
            };
            Some(InitialMember {
                name,
                peer_url: url.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    InitialCluster::Existing(out)
}

/// The annotation kubeadm puts on each etcd static pod, and reads back to find the members.
pub const ADVERTISE_CLIENT_URLS_ANNOTATION: &str =
    "kubeadm.kubernetes.io/etcd.advertise-client-urls";

/// The client URLs the etcd pods advertise (kubeadm ≥ 1.22's `NewFromCluster`), in order,
/// without repeats.
pub fn client_urls_from_pods(pods: &[k8s_openapi::api::core::v1::Pod]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for pod in pods {
        let urls = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ADVERTISE_CLIENT_URLS_ANNOTATION));
        for url in urls.into_iter().flat_map(|u| u.split(',')) {
            let url = url.trim();
            if !url.is_empty() && !out.iter().any(|u| u == url) {
                out.push(url.to_string());
            }
        }
    }
    out
}

/// Why the etcd static pods could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdPodsError {
    #[error(transparent)]
    Client(#[from] crate::domain::apiclient::ApiError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    List(kube::Error),
}

impl crate::contract::diagnostics::Diagnostic for EtcdPodsError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Client(e) => e.hint(),
            Self::Timeout(_) | Self::List(_) => None,
        }
    }
}

/// What the cluster says about its etcd pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdPods {
    /// The client URLs the etcd pods advertise.
    pub urls: Vec<String>,
    /// Whether some Node's kubelet has posted its status (a real kubelet: it posts mirror pods
    /// for its static pods soon after). A Node registered by other means has none, and no
    /// mirror pods will come.
    pub kubelets_report: bool,
}

/// Lists the etcd static pods (label component=etcd, tier=control-plane) and the Nodes with
/// admin.conf.
pub async fn etcd_pods(
    fs: &HostFs,
    admin_kubeconfig: &Path,
    timeout: Duration,
) -> Result<EtcdPods, EtcdPodsError> {
    use k8s_openapi::api::core::v1::{Node, Pod};
    let client =
        crate::domain::apiclient::ApiClient::from_kubeconfig(fs, admin_kubeconfig, timeout).await?;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.client().clone(), KUBE_SYSTEM);
    let nodes: kube::Api<Node> = kube::Api::all(client.client().clone());
    let params = kube::api::ListParams::default().labels("component=etcd,tier=control-plane");
    let all = kube::api::ListParams::default();
    let (pods, nodes) = tokio::time::timeout(timeout, async {
        tokio::try_join!(pods.list(&params), nodes.list(&all))
    })
    .await
    .map_err(|_| EtcdPodsError::Timeout(timeout))?
    .map_err(EtcdPodsError::List)?;
    let kubelets_report = nodes.items.iter().any(|n| {
        n.status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .is_some_and(|i| !i.kubelet_version.is_empty())
    });
    Ok(EtcdPods {
        urls: client_urls_from_pods(&pods.items),
        kubelets_report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_gateway_member_list() {
        // Captured from etcd 3.4.23's gateway right after MemberAdd.
        let body = r#"{"header":{"cluster_id":"6015671548961619914","member_id":"14027017935904480761","raft_term":"2"},"members":[{"ID":"10223529130422906233","peerURLs":["http://127.0.0.98:2380"]},{"ID":"14027017935904480761","name":"a","peerURLs":["http://127.0.0.99:2380"],"clientURLs":["http://127.0.0.99:2379"]}]}"#;
        let r: MembersResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.members.len(), 2);
        assert_eq!(r.members[0].id, 10223529130422906233);
        assert!(!r.members[0].is_started());
        assert_eq!(r.members[1].name, "a");
        assert_eq!(
            find_member(&r.members, "http://127.0.0.98:2380").map(|m| m.id),
            Some(10223529130422906233)
        );
        assert!(find_member(&r.members, "http://127.0.0.97:2380").is_none());
    }

    #[test]
    fn initial_cluster_names_this_member_and_keeps_others_distinct() {
        let m = |id, name: &str, url: &str| Member {
            id,
            name: name.into(),
            peer_urls: vec![url.into()],
            client_urls: vec![],
            is_learner: false,
        };
        let members = [
            m(1, "node-1", "https://10.0.0.1:2380"),
            m(2, "", "https://10.0.0.2:2380"),
            m(3, "", "https://10.0.0.3:2380"),
        ];
        let InitialCluster::Existing(list) =
            initial_cluster(&members, "node-2", "https://10.0.0.2:2380")
        else {
            panic!("a join starts from the existing cluster");
        };
        let flat: Vec<String> = list
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect();
        assert_eq!(
            flat,
            [
                "node-1=https://10.0.0.1:2380",
                "node-2=https://10.0.0.2:2380",
                "unstarted-3=https://10.0.0.3:2380"
            ]
        );
    }

    #[test]
    fn client_urls_come_from_the_etcd_pods_annotation() {
        let pod = |urls: Option<&str>| {
            let mut p = k8s_openapi::api::core::v1::Pod::default();
            p.metadata.annotations = urls.map(|u| {
                std::collections::BTreeMap::from([(
                    ADVERTISE_CLIENT_URLS_ANNOTATION.to_string(),
                    u.to_string(),
                )])
            });
            p
        };
        let pods = [
            pod(Some("https://10.0.0.1:2379")),
            pod(None),
            pod(Some("https://10.0.0.2:2379, https://10.0.0.1:2379")),
        ];
        assert_eq!(
            client_urls_from_pods(&pods),
            ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
        );
    }

    #[test]
    fn missing_tls_files_are_named() {
        let tls = EtcdClientTls::apiserver_etcd_client(Path::new("/nonexistent/pki"));
        let fs = HostFs::real();
        let err = EtcdCluster::connect(
            &fs,
            vec!["https://127.0.0.1:2379".into()],
            &tls,
            Duration::from_secs(1),
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("/nonexistent/pki/etcd/ca.crt"),
            "{err}"
        );
        assert!(matches!(
            EtcdCluster::connect(&fs, vec![], &tls, Duration::from_secs(1)),
            Err(EtcdError::NoEndpoints)
        ));
    }
}
