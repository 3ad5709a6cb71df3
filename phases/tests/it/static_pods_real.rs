//! The rendered manifests start the real binaries: etcd 3.4 (/usr/bin/etcd), and the test
//! bed's kube-apiserver and kube-controller-manager v1.20.2, each run with exactly the
//! `command` of its manifest, on a simulated node (its own root and 127.0.0.x address). The
//! API server must answer /readyz over TLS verified with the cluster CA, and the
//! controller-manager /healthz on its secure port.

use std::process::Command;
use std::time::Duration;

use kubestrap_test_support::control_plane::*;
use kubestrap_test_support::static_pods::*;

#[tokio::test(flavor = "multi_thread")]
async fn manifests_start_real_etcd_apiserver_and_controller_manager() {
    let ip = "127.0.0.41";
    let root = tempfile::tempdir().unwrap();
    let ctx = init_context(
        root.path(),
        "v1.20.2",
        ip,
        "networking:\n  podSubnet: 10.244.0.0/16\n",
    );
    run_steps(&ctx, &init_steps()).await;
    let manifests = root.path().join("etc/kubernetes/manifests");
    let pki = root.path().join("etc/kubernetes/pki");
    let logs = root.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();

    let mut etcd = start_pod(&read_pod(&manifests.join("etcd.yaml")), &logs);
    let etcd_ca = pki.join("etcd/ca.crt");
    let hc = |f: &str| pki.join(f).display().to_string();
    wait_for(
        "etcd /health",
        Duration::from_secs(30),
        &mut [&mut etcd],
        || {
            curl(&[
                "--cacert",
                &etcd_ca.display().to_string(),
                "--cert",
                &hc("etcd/healthcheck-client.crt"),
                "--key",
                &hc("etcd/healthcheck-client.key"),
                &format!("https://{ip}:2379/health"),
            ])
            .and_then(|b| {
                if b.contains("\"health\":\"true\"") {
                    Ok(b)
                } else {
                    Err(b)
                }
            })
        },
    );
    // The etcd probe's endpoint (metrics listener) answers plain HTTP, as the kubelet asks.
    let etcd_pod = read_pod(&manifests.join("etcd.yaml"));
    let probe = &etcd_pod
        .container()
        .unwrap()
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get;
    let body = curl(&[&format!(
        "http://{}:{}{}",
        probe.host, probe.port, probe.path
    )])
    .unwrap();
    assert!(body.contains("true"), "etcd probe answered {body}");

    let mut apiserver = start_pod(&read_pod(&manifests.join("kube-apiserver.yaml")), &logs);
    let ca = pki.join("ca.crt").display().to_string();
    let ready = wait_for(
        "kube-apiserver /readyz",
        Duration::from_secs(120),
        &mut [&mut etcd, &mut apiserver],
        || {
            curl(&["--cacert", &ca, &format!("https://{ip}:6443/readyz")])
                .and_then(|b| if b.trim() == "ok" { Ok(b) } else { Err(b) })
        },
    );
    assert_eq!(ready.trim(), "ok");
    // --insecure-port=0 (v1.20): nothing listens on 8080 of this address.
    assert!(curl(&[&format!("http://{ip}:8080/healthz")]).is_err());

    let mut cm = start_pod(
        &read_pod(&manifests.join("kube-controller-manager.yaml")),
        &logs,
    );
    let healthz = wait_for(
        "kube-controller-manager /healthz",
        Duration::from_secs(60),
        &mut [&mut etcd, &mut apiserver, &mut cm],
        || {
            curl(&["-k", &format!("https://{ip}:10257/healthz")])
                .and_then(|b| if b.trim() == "ok" { Ok(b) } else { Err(b) })
        },
    );
    assert_eq!(healthz.trim(), "ok");
    // The controller-manager reached the API server with its kubeconfig: it holds the lease.
    // (v1.20's admin.conf is in system:masters: it works before any binding exists.)
    let admin = root.path().join("etc/kubernetes/admin.conf");
    let lease = wait_for(
        "controller-manager leader lease",
        Duration::from_secs(60),
        &mut [&mut etcd, &mut apiserver, &mut cm],
        || {
            let out = Command::new("kubectl")
                .args([
                    "--kubeconfig",
                    admin.to_str().unwrap(),
                    "-n",
                    "kube-system",
                    "get",
                    "lease",
                    "kube-controller-manager",
                    "-o",
                    "jsonpath={.spec.holderIdentity}",
                ])
                .output()
                .map_err(|e| e.to_string())?;
            let s = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && !s.is_empty() {
                Ok(s)
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        },
    );
    assert!(!lease.is_empty());
}
