//! The generated etcd certificates work with a real etcd: it serves TLS with etcd/server.crt,
//! accepts the healthcheck and apiserver client certs, and refuses a client from another CA.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubestrap_phases::HostFs;
use kubestrap_phases::domain::pki::EncryptionAlgorithm;
use kubestrap_test_support::pki::*;

struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn curl_health(url: &str, ca: &Path, cert: &Path, key: &Path) -> Result<String, String> {
    let out = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            p(ca),
            "--cert",
            p(cert),
            "--key",
            p(key),
            url,
        ],
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn real_etcd_accepts_generated_certs_and_refuses_a_foreign_client() {
    let etcd_bin = Path::new("/usr/bin/etcd");
    assert!(
        etcd_bin.exists(),
        "/usr/bin/etcd is required (apt-get install etcd-server)"
    );

    let root = tempfile::tempdir().unwrap();
    let mut spec = spec(root.path(), EncryptionAlgorithm::Rsa2048);
    spec.advertise_address = "127.0.0.1".parse().unwrap();
    let ctx = ctx(spec);
    run_all(&ctx, &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    let pki = root.path().join("etc/kubernetes/pki");
    let e = |f: &str| pki.join(f);

    let (client_port, peer_port) = (free_port(), free_port());
    let client_url = format!("https://127.0.0.1:{client_port}");
    let peer_url = format!("https://127.0.0.1:{peer_port}");
    let data = root.path().join("var/lib/etcd");
    let log = std::fs::File::create(root.path().join("etcd.log")).unwrap();
    let child = Command::new(etcd_bin)
        .args([
            "--name=node-1",
            &format!("--data-dir={}", data.display()),
            &format!("--listen-client-urls={client_url}"),
            &format!("--advertise-client-urls={client_url}"),
            &format!("--listen-peer-urls={peer_url}"),
            &format!("--initial-advertise-peer-urls={peer_url}"),
            &format!("--initial-cluster=node-1={peer_url}"),
            &format!("--cert-file={}", e("etcd/server.crt").display()),
            &format!("--key-file={}", e("etcd/server.key").display()),
            &format!("--trusted-ca-file={}", e("etcd/ca.crt").display()),
            "--client-cert-auth=true",
            &format!("--peer-cert-file={}", e("etcd/peer.crt").display()),
            &format!("--peer-key-file={}", e("etcd/peer.key").display()),
            &format!("--peer-trusted-ca-file={}", e("etcd/ca.crt").display()),
            "--peer-client-cert-auth=true",
            "--listen-metrics-urls=",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _etcd = Etcd(child);

    let health = format!("{client_url}/health");
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        match curl_health(
            &health,
            &e("etcd/ca.crt"),
            &e("etcd/healthcheck-client.crt"),
            &e("etcd/healthcheck-client.key"),
        ) {
            Ok(body) if body.contains("\"health\":\"true\"") => break body,
            other if Instant::now() > deadline => {
                let log = std::fs::read_to_string(root.path().join("etcd.log")).unwrap_or_default();
                panic!("etcd never became healthy: {other:?}\n{log}");
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert!(answer.contains("true"));

    // The API server's etcd client cert works too.
    let body = curl_health(
        &health,
        &e("etcd/ca.crt"),
        &e("apiserver-etcd-client.crt"),
        &e("apiserver-etcd-client.key"),
    )
    .unwrap();
    assert!(body.contains("\"health\":\"true\""), "{body}");

    // A client certificate from another CA is refused at the TLS handshake.
    let other = root.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let o = |f: &str| other.join(f);
    openssl_ca(&o("ca.crt"), &o("ca.key"), "other-ca");
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=kube-etcd-healthcheck-client",
        "-keyout",
        p(&o("client.key")),
        "-out",
        p(&o("client.csr")),
    ]);
    std::fs::write(o("ext.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        p(&o("client.csr")),
        "-CA",
        p(&o("ca.crt")),
        "-CAkey",
        p(&o("ca.key")),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        p(&o("ext.cnf")),
        "-out",
        p(&o("client.crt")),
    ]);
    let refused = curl_health(
        &health,
        &e("etcd/ca.crt"),
        &o("client.crt"),
        &o("client.key"),
    );
    assert!(
        refused.is_err(),
        "etcd accepted a client from another CA: {refused:?}"
    );

    // And no client certificate at all is refused.
    let out = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            p(&e("etcd/ca.crt")),
            &health,
        ],
    );
    assert!(!out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("true"));
}
