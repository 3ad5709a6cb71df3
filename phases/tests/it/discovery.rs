//! Discovery against a tiny TLS server that serves crafted cluster-info and records every
//! request it gets: each failure mode has its own error, and the unverified first fetch sends
//! no credentials. Addresses 127.0.0.70–71 (ephemeral ports).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kubestrap_phases::Diagnostic;
use kubestrap_phases::config::token::BootstrapTokenString;
use kubestrap_phases::config::{BootstrapTokenDiscovery, CaCertHash};
use kubestrap_phases::domain::bootstrap_client::RequestCounter;
use kubestrap_phases::domain::bootstrap_token::ca_cert_hash;
use kubestrap_phases::domain::bootstrap_token::{ClusterInfoSource, cluster_info_kubeconfig};
use kubestrap_phases::domain::discovery::{
    DiscoveryError, Patience, discover_file, discover_token,
};
use kubestrap_phases::domain::jws::{sign_detached, signature_key};
use kubestrap_test_support::fake_apiserver::{self, FakeApiServer};
use serde_json::json;

const TOKEN: &str = "abcdef.0123456789abcdef";
const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

fn token() -> BootstrapTokenString {
    TOKEN.parse().unwrap()
}

fn endpoint(port: u16) -> String {
    format!("127.0.0.70:{port}")
}

/// cluster-info for a server on `port` with CA `ca_pem`, signed with `signer` (if any) and
/// for another token that the signer knows.
fn cluster_info(port: u16, ca_pem: &str, signer: Option<&BootstrapTokenString>) -> String {
    let kubeconfig = cluster_info_kubeconfig(&ClusterInfoSource {
        server: format!("https://{}", endpoint(port)),
        certificate_authority_data: STANDARD.encode(ca_pem),
    });
    let mut data = serde_json::Map::new();
    let other: BootstrapTokenString = "zzzzzz.zzzzzzzzzzzzzzzz".parse().unwrap();
    data.insert(
        signature_key(other.id()),
        json!(sign_detached(other.id(), other.secret(), &kubeconfig)),
    );
    if let Some(t) = signer {
        data.insert(
            signature_key(t.id()),
            json!(sign_detached(t.id(), t.secret(), &kubeconfig)),
        );
    }
    data.insert("kubeconfig".into(), json!(kubeconfig));
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": data,
    })
    .to_string()
}

fn pin(ca_pem: &str) -> CaCertHash {
    ca_cert_hash(std::path::Path::new("ca.crt"), ca_pem.as_bytes()).unwrap()
}

fn discovery(port: u16, pins: Vec<CaCertHash>) -> BootstrapTokenDiscovery {
    BootstrapTokenDiscovery {
        token: token(),
        api_server_endpoint: endpoint(port).parse().unwrap(),
        ca_cert_hashes: pins,
        unsafe_skip_ca_verification: false,
    }
}

fn patience(timeout_ms: u64) -> Patience {
    Patience {
        timeout: Duration::from_millis(timeout_ms),
        interval: Duration::from_millis(200),
        signer_grace: Duration::from_millis(600),
    }
}

/// A server on 127.0.0.70 whose answers depend on its port, its CA and the request's index.
fn port_aware(
    make: impl Fn(u16, &str, usize) -> (u16, String) + Send + Sync + 'static,
) -> FakeApiServer {
    fake_apiserver::port_aware("127.0.0.70", make)
}

async fn run(
    d: &BootstrapTokenDiscovery,
    p: &Patience,
) -> (
    Result<kubestrap_phases::domain::discovery::ClusterTrust, DiscoveryError>,
    Vec<String>,
    u64,
) {
    let requests = RequestCounter::default();
    let heard = Mutex::new(Vec::new());
    let progress = |m: String| heard.lock().unwrap().push(m);
    let result = discover_token(d, p, &requests, &progress).await;
    (result, heard.into_inner().unwrap(), requests.get())
}

#[tokio::test]
async fn signed_and_pinned_cluster_info_is_trusted_and_the_first_fetch_is_anonymous() {
    let t = token();
    let server = port_aware(move |port, ca, _| (200, cluster_info(port, ca, Some(&t))));
    // Any of several pins passes.
    let d = discovery(
        server.port,
        vec![CaCertHash::from_digest([9; 32]), pin(&server.ca_pem)],
    );
    let (result, _, count) = run(&d, &patience(5000)).await;
    let trust = result.unwrap();
    assert_eq!(trust.server, format!("https://127.0.0.70:{}", server.port));
    assert_eq!(trust.ca_pem, server.ca_pem.as_bytes());
    assert_eq!(trust.ca_hash, pin(&server.ca_pem));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(count, 2);
    for r in &reqs {
        assert!(
            r.request_line
                .starts_with(&format!("GET {CLUSTER_INFO_PATH}")),
            "{r:?}"
        );
        assert!(
            !r.headers.iter().any(|(k, _)| k == "authorization"),
            "discovery sent credentials: {r:?}"
        );
    }
}

#[tokio::test]
async fn unreachable_endpoint_is_retried_until_the_timeout_then_named() {
    let d = BootstrapTokenDiscovery {
        api_server_endpoint: "127.0.0.71:1".parse().unwrap(),
        ..discovery(1, vec![CaCertHash::from_digest([1; 32])])
    };
    let start = Instant::now();
    let (result, heard, count) = run(&d, &patience(1500)).await;
    let took = start.elapsed();
    let err = result.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, DiscoveryError::Unreachable { attempts, .. } if attempts >= 3),
        "{msg}"
    );
    assert!(
        msg.contains("https://127.0.0.71:1") && msg.contains("unreachable"),
        "{msg}"
    );
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(!heard.is_empty());
    assert!(count >= 3);
    assert!(!msg.contains("0123456789abcdef"));
}

#[tokio::test]
async fn a_server_that_accepts_but_never_answers_is_unreachable_within_the_timeout() {
    let server = port_aware(|_, _, _| {
        std::thread::sleep(Duration::from_secs(30));
        (500, String::new())
    });
    let d = discovery(server.port, vec![CaCertHash::from_digest([1; 32])]);
    let start = Instant::now();
    let (result, _, _) = run(&d, &patience(1500)).await;
    let took = start.elapsed();
    let err = result.unwrap_err();
    assert!(matches!(err, DiscoveryError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("no answer within"), "{err}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test]
async fn missing_signature_fails_after_the_signer_grace_naming_the_token_id() {
    let server = port_aware(|port, ca, _| (200, cluster_info(port, ca, None)));
    let d = discovery(server.port, vec![pin(&server.ca_pem)]);
    let start = Instant::now();
    let (result, heard, _) = run(&d, &patience(60_000)).await;
    let err = result.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, DiscoveryError::NoSignature { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("token id abcdef") && msg.contains("expired"),
        "{msg}"
    );
    assert!(
        heard.iter().any(|m| m.contains("bootstrap signer")),
        "{heard:?}"
    );
    assert!(server.requests().len() >= 2, "retried within the grace");
}

#[tokio::test]
async fn with_no_signature_at_all_discovery_waits_for_the_signer_until_the_timeout() {
    let server = port_aware(|port, ca, _| {
        let body: serde_json::Value = serde_json::from_str(&cluster_info(port, ca, None)).unwrap();
        let kubeconfig = body["data"]["kubeconfig"].clone();
        let unsigned = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info"}, "data": {"kubeconfig": kubeconfig}});
        (200, unsigned.to_string())
    });
    let d = discovery(server.port, vec![pin(&server.ca_pem)]);
    let start = Instant::now();
    let (result, heard, _) = run(&d, &patience(1500)).await;
    let took = start.elapsed();
    assert!(
        matches!(result, Err(DiscoveryError::NoSignature { .. })),
        "{result:?}"
    );
    assert!(
        took >= Duration::from_millis(1000),
        "waited past the grace: {took:?}"
    );
    assert!(heard.iter().any(|m| m.contains("has not run")), "{heard:?}");
}

#[tokio::test]
async fn a_signature_made_with_another_secret_does_not_match() {
    let other: BootstrapTokenString = "abcdef.ffffffffffffffff".parse().unwrap();
    let server = port_aware(move |port, ca, _| (200, cluster_info(port, ca, Some(&other))));
    let d = discovery(server.port, vec![pin(&server.ca_pem)]);
    let (result, _, _) = run(&d, &patience(60_000)).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::SignatureMismatch { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("does not match"), "{msg}");
    assert!(
        !msg.contains("0123456789abcdef") && !msg.contains("ffffffffffffffff"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_wrong_pin_fails_at_once_and_prints_the_hash_seen() {
    let t = token();
    let server = port_aware(move |port, ca, _| (200, cluster_info(port, ca, Some(&t))));
    let wrong = CaCertHash::from_digest([7; 32]);
    let d = discovery(server.port, vec![wrong]);
    let (result, _, count) = run(&d, &patience(60_000)).await;
    let err = result.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, DiscoveryError::CaHashMismatch { .. }),
        "{msg}"
    );
    assert!(msg.contains(&pin(&server.ca_pem).to_string()), "{msg}");
    assert!(msg.contains(&wrong.to_string()), "{msg}");
    assert_eq!(count, 1, "no second fetch for an untrusted CA");
}

#[tokio::test]
async fn content_that_changes_between_the_two_fetches_is_refused() {
    let t = token();
    let server = port_aware(move |port, ca, n| {
        // Both versions validly signed: only the comparison can catch the swap.
        let port = if n == 0 { port } else { port + 1 };
        (200, cluster_info(port, ca, Some(&t)))
    });
    let d = discovery(server.port, vec![pin(&server.ca_pem)]);
    let (result, _, _) = run(&d, &patience(60_000)).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::ContentChanged { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn skip_ca_verification_trusts_the_signed_ca_and_missing_or_forbidden_cluster_info_is_named()
{
    let t = token();
    let server = port_aware(move |port, ca, _| (200, cluster_info(port, ca, Some(&t))));
    let d = BootstrapTokenDiscovery {
        unsafe_skip_ca_verification: true,
        ..discovery(server.port, Vec::new())
    };
    let (result, _, _) = run(&d, &patience(5000)).await;
    assert_eq!(result.unwrap().ca_pem, server.ca_pem.as_bytes());

    let status = |code: u16| {
        port_aware(move |_, _, _| {
            (
                code,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": if code == 404 { "NotFound" } else { "Forbidden" }, "message": "nope"}).to_string(),
            )
        })
    };
    let missing = status(404);
    let (result, _, _) = run(&discovery(missing.port, vec![]), &patience(5000)).await;
    assert!(
        matches!(result, Err(DiscoveryError::NoClusterInfo { .. })),
        "{result:?}"
    );
    let forbidden = status(403);
    let (result, _, _) = run(&discovery(forbidden.port, vec![]), &patience(5000)).await;
    let err = result.unwrap_err();
    assert!(matches!(err, DiscoveryError::Refused { .. }), "{err}");
    assert!(
        err.hint()
            .unwrap()
            .contains("kubeadm:bootstrap-signer-clusterinfo")
    );
}

#[tokio::test]
async fn file_discovery_trusts_the_files_ca_and_checks_the_server_with_it() {
    let server = port_aware(|_, _, _| {
        let cm =
            json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cluster-info"}});
        (200, cm.to_string())
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("discovery.conf");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.70:{}\n    certificate-authority-data: {}\ncontexts:\n- name: c\n  context: {{cluster: k, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: {TOKEN}}}\n",
            server.port,
            STANDARD.encode(&server.ca_pem)
        ),
    )
    .unwrap();
    let requests = RequestCounter::default();
    let trust = discover_file(file.to_str().unwrap(), &patience(5000), &requests, &|_| {})
        .await
        .unwrap();
    assert_eq!(trust.server, format!("https://127.0.0.70:{}", server.port));
    assert_eq!(trust.file_token.unwrap().id().as_str(), "abcdef");
    assert_eq!(requests.get(), 1);

    let err = discover_file("http://127.0.0.70:1/x", &patience(1000), &requests, &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("only https://"), "{err}");
    let err = discover_file(
        "/nonexistent/discovery.conf",
        &patience(1000),
        &requests,
        &|_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("/nonexistent/discovery.conf"), "{err}");
}
