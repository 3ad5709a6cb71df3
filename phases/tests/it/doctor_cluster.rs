//! Doctor's online pass against a fake API server that serves canned GET/LIST answers by path:
//! what it finds, which areas it says it checked or skipped (a 403 skips quietly), that it
//! only reads, and that the report never holds a token secret. Address 127.0.0.171
//! (ephemeral port).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kubestrap_phases::config::token::{TokenGroup, TokenUsage};
use kubestrap_phases::config::{BootstrapToken, TokenExpiry};
use kubestrap_phases::contract::host::NodeRoot;
use kubestrap_phases::doctor::cluster::Area;
use kubestrap_phases::doctor::{self, ClusterPass, DoctorInputs, EXPIRING_WITHIN};
use kubestrap_phases::domain::bootstrap_token::token_secret;
use kubestrap_phases::phases::bootstrap_token::rbac::{RbacObject, rbac_objects};
use kubestrap_test_support::fake_apiserver::FakeApiServer;
use serde_json::{Value, json};
use std::sync::Arc;
use time::OffsetDateTime;

const IP: &str = "127.0.0.171";
const SECRET: &str = "0123456789abcdef";

fn status(code: u16, reason: &str) -> (u16, String, Vec<(String, String)>) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": reason, "reason": reason, "code": code});
    (code, body.to_string(), Vec::new())
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> String {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {}, "items": items}).to_string()
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`, as Go's net/http writes a Date header.
fn http_date(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).unwrap()
}

#[tokio::test]
async fn finds_the_broken_links_with_get_and_list_only() {
    let now = OffsetDateTime::now_utc();
    let expired = token_secret(
        &BootstrapToken {
            token: format!("abcdef.{SECRET}").parse().unwrap(),
            description: None,
            expiry: TokenExpiry::Expires(now - time::Duration::hours(2)),
            usages: TokenUsage::defaults(),
            groups: vec![TokenGroup::default_node_token()],
        },
        now,
    );
    let (mut crbs, mut rbs, mut objects) = (Vec::new(), Vec::new(), Vec::new());
    for o in rbac_objects(kubestrap_phases::config::KubeletClientAuthorization::Group(
        "system:masters",
    )) {
        match o {
            // The binding that gets first CSRs auto-approved is gone.
            RbacObject::ClusterRoleBinding(b)
                if b.metadata.name.as_deref() == Some("kubeadm:node-autoapprove-bootstrap") => {}
            RbacObject::ClusterRoleBinding(b) => crbs.push(serde_json::to_value(b).unwrap()),
            RbacObject::RoleBinding(b) => rbs.push(serde_json::to_value(b).unwrap()),
            RbacObject::ClusterRole(r) => objects.push(serde_json::to_value(r).unwrap()),
            RbacObject::Role(r) => objects.push(serde_json::to_value(r).unwrap()),
        }
    }
    let secrets = vec![serde_json::to_value(&expired).unwrap()];
    let date = http_date(now - time::Duration::minutes(3));
    let server = FakeApiServer::routed(IP, move |_| {
        Arc::new(move |r| {
            let path = r.request_line.split(' ').nth(1).unwrap_or_default();
            let path = path.split('?').next().unwrap_or_default();
            let ok = |body: String| (200, body, Vec::new());
            match path {
                "/version" => (
                    200,
                    json!({"major": "1", "minor": "20", "gitVersion": "v1.20.2", "gitCommit": "",
                        "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "",
                        "platform": ""})
                    .to_string(),
                    vec![("Date".into(), date.clone())],
                ),
                "/api/v1/namespaces/kube-system/secrets" => {
                    ok(list("SecretList", "v1", secrets.clone()))
                }
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" => ok(list(
                    "ClusterRoleBindingList",
                    "rbac.authorization.k8s.io/v1",
                    crbs.clone(),
                )),
                "/apis/rbac.authorization.k8s.io/v1/rolebindings" => ok(list(
                    "RoleBindingList",
                    "rbac.authorization.k8s.io/v1",
                    rbs.clone(),
                )),
                "/apis/certificates.k8s.io/v1/certificatesigningrequests" => {
                    status(403, "Forbidden")
                }
                "/api/v1/nodes" => ok(list("NodeList", "v1", vec![])),
                p if p.starts_with("/apis/rbac.authorization.k8s.io/v1/") => {
                    let name = p.rsplit('/').next().unwrap_or_default().replace("%3A", ":");
                    match objects
                        .iter()
                        .find(|o| o["metadata"]["name"].as_str() == Some(name.as_str()))
                    {
                        Some(o) => ok(o.to_string()),
                        None => status(404, "NotFound"),
                    }
                }
                _ => status(404, "NotFound"),
            }
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("admin.conf");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{}\n    certificate-authority-data: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: doctor-test\n",
            server.endpoint(),
            STANDARD.encode(&server.ca_pem)
        ),
    )
    .unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let report = doctor::diagnose(&DoctorInputs {
        root: NodeRoot::new(&root).unwrap(),
        kubeconfig: Some(kubeconfig.clone()),
        now,
        expiring_within: EXPIRING_WITHIN,
        api_timeout: Duration::from_secs(5),
    })
    .await;

    let ClusterPass::Checked {
        kubeconfig: used,
        server: asked,
        areas,
    } = &report.cluster
    else {
        panic!("not checked: {:?}", report.cluster)
    };
    assert_eq!(used, &kubeconfig.display().to_string());
    assert_eq!(asked, &format!("https://{}", server.endpoint()));
    let checked: Vec<Area> = areas
        .iter()
        .filter(|a| a.skipped.is_none())
        .map(|a| a.area)
        .collect();
    assert_eq!(
        checked,
        [Area::Tokens, Area::ClusterInfo, Area::Rbac, Area::Clock]
    );
    let csrs = areas.iter().find(|a| a.area == Area::Csrs).unwrap();
    assert_eq!(
        csrs.skipped.as_deref(),
        Some("forbidden for these credentials")
    );

    let mut ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "clock-skew",
            "cluster-info-missing",
            "rbac-binding-missing",
            "token-expired",
            // The token's group lost its nodeclient grant with the missing binding.
            "token-groups",
        ],
        "{:#?}",
        report.findings
    );

    // Reads only, and no secret in the report.
    for r in server.requests() {
        assert!(r.request_line.starts_with("GET "), "{}", r.request_line);
    }
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(SECRET), "{json}");
    assert!(!json.contains("doctor-test"), "{json}");
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_warning_and_a_skipped_pass() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("nowhere.conf");
    // Port 1 on an address nothing listens on: refused at once.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.171:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: x\n",
    )
    .unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let report = doctor::diagnose(&DoctorInputs {
        root: NodeRoot::new(&root).unwrap(),
        kubeconfig: Some(kubeconfig.clone()),
        now: OffsetDateTime::now_utc(),
        expiring_within: EXPIRING_WITHIN,
        api_timeout: Duration::from_secs(1),
    })
    .await;
    assert!(
        matches!(&report.cluster, ClusterPass::Skipped { reason } if reason.contains("nowhere.conf")),
        "{:?}",
        report.cluster
    );
    let f = &report.findings[0];
    assert_eq!(f.id.as_str(), "cluster-unreachable");
    assert_eq!(f.evidence[0].field.as_deref(), Some("server"));
    assert_eq!(
        f.evidence[0].value.as_deref(),
        Some("https://127.0.0.171:1")
    );
}
