//! etcd membership against the control-plane Nodes (control planes with a local etcd only).
//! A member left behind by a control plane that was removed without `reset` still counts
//! toward quorum: with two members and one gone, etcd stops accepting writes when the other
//! restarts, and a new control plane's join fails its health check.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Node;

use super::super::facts::read_pod;
use super::super::{DoctorInputs, Evidence, Finding, FindingId, NodeFacts};
use crate::config::release::{CONTROL_PLANE_ROLE, MASTER_ROLE};
use crate::contract::host::HostFs;
use crate::domain::etcd::{EtcdClientTls, EtcdCluster, Member};

pub const ETCD_MEMBER_STALE: FindingId = FindingId("etcd-member-stale");
pub const ETCD_MEMBER_UNHEALTHY: FindingId = FindingId("etcd-member-unhealthy");

/// What was asked of etcd, and how (the fix repeats it as an etcdctl command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdView {
    pub endpoint: String,
    pub tls: EtcdClientTls,
    pub members: Vec<Member>,
    /// The started members that did not answer on their client URL, with what was said.
    pub unanswered: Vec<(u64, String)>,
}

/// The healthcheck client's certificate: kubeadm makes it for probing etcd, and it may list
/// members (etcd grants every client certificate signed by its CA).
fn healthcheck_tls(cert_dir: &Path) -> EtcdClientTls {
    EtcdClientTls {
        ca: cert_dir.join("etcd/ca.crt"),
        cert: cert_dir.join("etcd/healthcheck-client.crt"),
        key: cert_dir.join("etcd/healthcheck-client.key"),
    }
}

/// The local etcd's client URL from its static-pod manifest (`--advertise-client-urls`, as
/// kubestrap writes it: the address this node's etcd answers on, on a simulated node too).
fn client_url(manifest: &Path) -> Option<String> {
    let pod = read_pod(manifest)?;
    let urls = pod.flag("advertise-client-urls")?;
    urls.split(',').next().map(|u| u.trim().to_string())
}

/// Lists the members through the local etcd. `Err`: why the area is skipped (no local etcd,
/// no client certificate, no answer).
pub async fn fetch(inputs: &DoctorInputs, node: &NodeFacts) -> Result<EtcdView, String> {
    let manifest: PathBuf = node.manifests_dir.join("etcd.yaml");
    let endpoint = client_url(&manifest).ok_or_else(|| {
        format!(
            "no local etcd ({} has no --advertise-client-urls): external etcd is not checked",
            manifest.display()
        )
    })?;
    let tls = healthcheck_tls(&node.cert_dir);
    let timeout = inputs.api_timeout;
    let (ep, t) = (endpoint.clone(), tls.clone());
    let members = tokio::task::spawn_blocking(move || {
        EtcdCluster::connect(&HostFs::real(), vec![ep], &t, timeout)?.members()
    })
    .await
    .map_err(|e| format!("etcd member list did not finish: {e}"))?
    .map_err(|e| e.to_string())?;
    // Each started member asked directly, on its own client URL: a member the cluster lists
    // but that does not answer is down or cut off, and the cluster is a failure from quorum.
    let mut unanswered = Vec::new();
    for m in members.iter().filter(|m| m.is_started()) {
        let Some(url) = m.client_urls.first().cloned() else {
            continue;
        };
        let t = tls.clone();
        let asked = tokio::task::spawn_blocking(move || {
            EtcdCluster::connect(&HostFs::real(), vec![url], &t, timeout)?.members()
        })
        .await;
        match asked {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => unanswered.push((m.id, e.to_string())),
            Err(e) => unanswered.push((m.id, e.to_string())),
        }
    }
    Ok(EtcdView {
        endpoint,
        tls,
        members,
        unanswered,
    })
}

/// Control-plane Nodes: those with kubeadm's control-plane (or, before 1.24, master) role
/// label.
fn control_planes(nodes: &[Node]) -> BTreeSet<&str> {
    nodes
        .iter()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(CONTROL_PLANE_ROLE) || l.contains_key(MASTER_ROLE))
        })
        .filter_map(|n| n.metadata.name.as_deref())
        .collect()
}

/// The `etcdctl member remove` line for `member` (etcdctl takes the id in hex:
/// etcdctl/ctlv3/command/member_command.go parses it with base 16).
fn remove_command(view: &EtcdView, member: &Member) -> String {
    format!(
        "ETCDCTL_API=3 etcdctl --endpoints={} --cacert={} --cert={} --key={} member remove {:x}",
        view.endpoint,
        view.tls.ca.display(),
        view.tls.cert.display(),
        view.tls.key.display(),
        member.id
    )
}

/// `etcd-member-stale`: a started member whose name is no control-plane Node (error: it
/// counts toward quorum), or a member added but never started (warning: a join that died
/// between `member add` and etcd's start; it counts toward quorum too once it is a voter).
pub fn check(view: &EtcdView, nodes: &[Node]) -> Vec<Finding> {
    let cps = control_planes(nodes);
    let mut out = unhealthy(view);
    for m in &view.members {
        let peer = m.peer_urls.join(",");
        let subject = format!("etcd member {:x}", m.id);
        if !m.is_started() {
            out.push(
                Finding::warning(
                    ETCD_MEMBER_STALE,
                    format!("etcd member {:x} (peer {peer}) was added but never started: a control-plane join stopped half-way, and the member counts toward quorum unless it is a learner", m.id),
                    format!("if no join is in progress for {peer}, remove it: `{}`", remove_command(view, m)),
                )
                .with(Evidence::of(subject).field("peerURLs").value(peer)),
            );
        } else if !cps.contains(m.name.as_str()) {
            out.push(
                Finding::error(
                    ETCD_MEMBER_STALE,
                    format!("etcd member {} (peer {peer}) is no control-plane Node of the cluster: it was removed without `kubestrap reset`, yet it still counts toward etcd's quorum, so losing one more member stops the cluster and control-plane joins fail", m.name),
                    format!("remove it: `{}`", remove_command(view, m)),
                )
                .with(Evidence::of(subject.clone()).field("name").value(m.name.clone()))
                .with(Evidence::of(subject).field("peerURLs").value(peer)),
            );
        }
    }
    out
}

/// `etcd-member-unhealthy`: a started member that does not answer on its client URL.
fn unhealthy(view: &EtcdView) -> Vec<Finding> {
    view.unanswered
        .iter()
        .filter_map(|(id, said)| {
            let m = view.members.iter().find(|m| m.id == *id)?;
            let url = m.client_urls.first()?;
            Some(
                Finding::error(
                    ETCD_MEMBER_UNHEALTHY,
                    format!("etcd member {} does not answer on {url}: the cluster runs a member short, and one more failure stops it", m.name),
                    format!("look at that member's etcd (`crictl logs` of its etcd container on its node, its disk and clock); if its node is gone for good, remove it: `{}`", remove_command(view, m)),
                )
                .with(Evidence::of(format!("etcd member {:x}", m.id)).field("clientURLs").value(url.clone()))
                .with(Evidence::of(format!("etcd member {:x}", m.id)).field("answer").value(said.clone())),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::ObjectMeta;

    fn node(name: &str, label: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: label.map(|l| [(l.to_string(), String::new())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn member(id: u64, name: &str) -> Member {
        Member {
            id,
            name: name.into(),
            peer_urls: vec![format!("https://127.0.0.{id}:2380")],
            client_urls: vec![],
            is_learner: false,
        }
    }

    #[test]
    fn members_without_a_control_plane_node_are_stale() {
        let view = EtcdView {
            endpoint: "https://127.0.0.1:2379".into(),
            tls: healthcheck_tls(Path::new("/etc/kubernetes/pki")),
            members: vec![
                member(1, "cp-1"),
                member(2, "cp-2"),
                member(0x1f, ""),
                member(3, "old"),
            ],
            unanswered: Vec::new(),
        };
        let nodes = [
            node("cp-1", Some(CONTROL_PLANE_ROLE)),
            node("cp-2", Some(MASTER_ROLE)),
            node("old", None),
        ];
        let f = check(&view, &nodes);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(f[0].severity, crate::doctor::Severity::Warning);
        assert!(f[0].fix.ends_with("member remove 1f`"), "{}", f[0].fix);
        assert_eq!(f[1].severity, crate::doctor::Severity::Error);
        assert_eq!(f[1].evidence[0].value.as_deref(), Some("old"));
        assert_eq!(
            f[1].fix,
            "remove it: `ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key member remove 3`"
        );
    }

    #[test]
    fn the_client_url_comes_from_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("etcd.yaml");
        std::fs::write(
            &m,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.5.0-0\n    command:\n    - etcd\n    - --advertise-client-urls=https://127.0.0.5:2379,https://127.0.0.1:2379\n",
        )
        .unwrap();
        assert_eq!(client_url(&m).as_deref(), Some("https://127.0.0.5:2379"));
        assert_eq!(client_url(&dir.path().join("none.yaml")), None);
    }

    #[test]
    fn a_started_member_that_does_not_answer_is_unhealthy() {
        let mut down = member(2, "cp-2");
        down.client_urls = vec!["https://127.0.0.2:2379".into()];
        let view = EtcdView {
            endpoint: "https://127.0.0.1:2379".into(),
            tls: healthcheck_tls(Path::new("/etc/kubernetes/pki")),
            members: vec![member(1, "cp-1"), down],
            unanswered: vec![(2, "connection refused".into())],
        };
        let nodes = [
            node("cp-1", Some(CONTROL_PLANE_ROLE)),
            node("cp-2", Some(CONTROL_PLANE_ROLE)),
        ];
        let f = check(&view, &nodes);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, ETCD_MEMBER_UNHEALTHY);
        assert_eq!(
            f[0].evidence[0].value.as_deref(),
            Some("https://127.0.0.2:2379")
        );
        assert_eq!(
            f[0].evidence[1].value.as_deref(),
            Some("connection refused")
        );
    }
}
