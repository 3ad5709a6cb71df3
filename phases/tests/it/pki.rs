//! `certs all` + `kubeconfig all` checked by real tools: openssl verifies every certificate and
//! reads its fields, kubectl reads every kubeconfig.

use std::path::Path;

use base64::Engine;
use kubestrap_phases::HostFs;
use kubestrap_phases::PhaseError;
use kubestrap_phases::domain::pki::EncryptionAlgorithm;
use kubestrap_phases::domain::pki::kubeconfig::KubeConfig;
use kubestrap_test_support::pki::*;

const YEAR: u64 = 365 * 24 * 3600;

struct Expect {
    file: &'static str,
    ca: &'static str,
    subject: &'static str,
    eku: Option<&'static str>,
    sans: &'static [&'static str],
}

const SERVER: &str = "TLS Web Server Authentication";
const CLIENT: &str = "TLS Web Client Authentication";
const BOTH: &str = "TLS Web Server Authentication, TLS Web Client Authentication";
const ETCD_SANS: [&str; 5] = [
    "DNS:node-1",
    "DNS:localhost",
    "IP Address:192.0.2.10",
    "IP Address:127.0.0.1",
    "IP Address:0:0:0:0:0:0:0:1",
];

fn expectations() -> Vec<Expect> {
    let leaf = |file, ca, subject, eku, sans| Expect {
        file,
        ca,
        subject,
        eku: Some(eku),
        sans,
    };
    vec![
        leaf(
            "apiserver",
            "ca",
            "CN = kube-apiserver",
            SERVER,
            &[
                "DNS:node-1",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
                "DNS:cp.example.test",
                "DNS:extra.example.test",
                "IP Address:10.96.0.1",
                "IP Address:192.0.2.10",
                "IP Address:203.0.113.7",
            ],
        ),
        // No group from kubeadm 1.37 (#138957): ClusterRoleBinding
        // kubeadm:apiserver-kubelet-client authorises the user.
        leaf(
            "apiserver-kubelet-client",
            "ca",
            "CN = kube-apiserver-kubelet-client",
            CLIENT,
            &[],
        ),
        leaf(
            "front-proxy-client",
            "front-proxy-ca",
            "CN = front-proxy-client",
            CLIENT,
            &[],
        ),
        leaf("etcd/server", "etcd/ca", "CN = node-1", BOTH, &[]),
        leaf("etcd/peer", "etcd/ca", "CN = node-1", BOTH, &[]),
        leaf(
            "etcd/healthcheck-client",
            "etcd/ca",
            "CN = kube-etcd-healthcheck-client",
            CLIENT,
            &[],
        ),
        leaf(
            "apiserver-etcd-client",
            "etcd/ca",
            "CN = kube-apiserver-etcd-client",
            CLIENT,
            &[],
        ),
    ]
}

fn check_ca(pki: &Path, base: &str, cn: &str) {
    let crt = pki.join(format!("{base}.crt"));
    let t = X509Text::of(&crt);
    assert_eq!(t.subject(), format!("CN = {cn}"), "{base}");
    assert_eq!(
        t.extension("X509v3 Basic Constraints"),
        Some(("CA:TRUE".into(), true)),
        "{base}"
    );
    assert_eq!(
        t.extension("X509v3 Key Usage"),
        Some((
            "Digital Signature, Key Encipherment, Certificate Sign".into(),
            true
        )),
        "{base}"
    );
    assert!(t.extension("Extended Key Usage").is_none(), "{base}");
    // As client-go's NewSelfSignedCACert, which kubeadm uses: the CA's name as its one SAN.
    assert_eq!(
        t.extension("X509v3 Subject Alternative Name"),
        Some((format!("DNS:{cn}"), false)),
        "{base}"
    );
    openssl(&["verify", "-CAfile", p(&crt), p(&crt)]);
    assert!(
        valid_for(&crt, 9 * YEAR) && !valid_for(&crt, 11 * YEAR),
        "{base} ~10y"
    );
    assert_eq!(mode(&crt), 0o644);
    assert_eq!(mode(&pki.join(format!("{base}.key"))), 0o600);
}

/// Every certificate verifies against its CA and carries kubeadm's fields.
fn check_pki(pki: &Path, key_type: &str) {
    check_ca(pki, "ca", "kubernetes");
    check_ca(pki, "front-proxy-ca", "front-proxy-ca");
    check_ca(pki, "etcd/ca", "etcd-ca");
    for e in expectations() {
        let crt = pki.join(format!("{}.crt", e.file));
        let key = pki.join(format!("{}.key", e.file));
        let ca = pki.join(format!("{}.crt", e.ca));
        let out = openssl(&["verify", "-CAfile", p(&ca), p(&crt)]);
        assert!(out.contains(": OK"), "{}: {out}", e.file);
        let t = X509Text::of(&crt);
        assert!(t.text.contains(key_type), "{}: key type {key_type}", e.file);
        assert_eq!(t.subject(), e.subject, "{}", e.file);
        assert_eq!(
            t.extension("X509v3 Extended Key Usage")
                .map(|x| x.0)
                .as_deref(),
            e.eku,
            "{}",
            e.file
        );
        assert_eq!(
            t.extension("X509v3 Key Usage"),
            Some(("Digital Signature, Key Encipherment".into(), true)),
            "{}",
            e.file
        );
        assert_eq!(
            t.extension("X509v3 Basic Constraints"),
            Some(("CA:FALSE".into(), true)),
            "{}",
            e.file
        );
        let mut want: Vec<String> = e.sans.iter().map(|s| s.to_string()).collect();
        if e.file == "etcd/server" {
            want = ETCD_SANS.iter().map(|s| s.to_string()).collect();
            want.push("DNS:etcd.example.test".into());
        } else if e.file == "etcd/peer" {
            want = ETCD_SANS.iter().map(|s| s.to_string()).collect();
            want.push("IP Address:198.51.100.5".into());
        }
        want.sort();
        assert_eq!(t.sans(), want, "{}", e.file);
        assert!(
            valid_for(&crt, YEAR - 3600) && !valid_for(&crt, YEAR + 3600),
            "{} ~1y",
            e.file
        );
        // The key is the one in the cert.
        let cert_pub = openssl(&["x509", "-in", p(&crt), "-noout", "-pubkey"]);
        let key_pub = openssl(&["pkey", "-in", p(&key), "-pubout"]);
        assert_eq!(cert_pub, key_pub, "{}", e.file);
        assert_eq!(mode(&crt), 0o644);
        assert_eq!(mode(&key), 0o600);
    }
    // Two certs never share a serial.
    let mut serials: Vec<String> = expectations()
        .iter()
        .map(|e| {
            openssl(&[
                "x509",
                "-in",
                p(&pki.join(format!("{}.crt", e.file))),
                "-noout",
                "-serial",
            ])
        })
        .collect();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), expectations().len());
    // sa.pub is the PEM PUBLIC KEY of sa.key.
    let sa_pub = std::fs::read_to_string(pki.join("sa.pub")).unwrap();
    assert!(sa_pub.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        sa_pub,
        openssl(&["pkey", "-in", p(&pki.join("sa.key")), "-pubout"])
    );
    assert_eq!(mode(&pki.join("sa.key")), 0o600);
    assert_eq!(mode(&pki.join("sa.pub")), 0o644);
}

/// kubectl reads every kubeconfig; each embeds the CA, the right server, context
/// `<user>@kubernetes`, and a client cert that matches its key and verifies against the CA.
fn check_kubeconfigs(root: &Path) {
    let dir = root.join("etc/kubernetes");
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "admin",
            "kubernetes-admin",
            "O = kubeadm:cluster-admins, CN = kubernetes-admin",
            "https://cp.example.test:7443",
        ),
        (
            "super-admin",
            "kubernetes-super-admin",
            "O = system:masters, CN = kubernetes-super-admin",
            "https://cp.example.test:7443",
        ),
        // A control plane's kubelet talks to its own API server from 1.33
        // (ControlPlaneKubeletLocalMode, #129956).
        (
            "kubelet",
            "system:node:node-1",
            "O = system:nodes, CN = system:node:node-1",
            "https://192.0.2.10:6443",
        ),
        (
            "controller-manager",
            "system:kube-controller-manager",
            "CN = system:kube-controller-manager",
            "https://192.0.2.10:6443",
        ),
        (
            "scheduler",
            "system:kube-scheduler",
            "CN = system:kube-scheduler",
            "https://192.0.2.10:6443",
        ),
    ];
    for (name, user, subject, server) in cases {
        let conf = dir.join(format!("{name}.conf"));
        assert_eq!(mode(&conf), 0o600, "{name}");
        let v = kubeconfig_json(&conf);
        let context = format!("{user}@kubernetes");
        assert_eq!(v["current-context"], context.as_str(), "{name}");
        assert_eq!(v["contexts"][0]["name"], context.as_str());
        assert_eq!(v["contexts"][0]["context"]["user"], user);
        assert_eq!(v["clusters"][0]["name"], "kubernetes");
        assert_eq!(v["clusters"][0]["cluster"]["server"], server, "{name}");
        let b64 = |s: &serde_json::Value| {
            base64::engine::general_purpose::STANDARD
                .decode(s.as_str().unwrap())
                .unwrap()
        };
        let ca = tmp.path().join(format!("{name}-ca.crt"));
        let crt = tmp.path().join(format!("{name}.crt"));
        let key = tmp.path().join(format!("{name}.key"));
        std::fs::write(
            &ca,
            b64(&v["clusters"][0]["cluster"]["certificate-authority-data"]),
        )
        .unwrap();
        std::fs::write(&crt, user_data(&v, "client-certificate-data")).unwrap();
        std::fs::write(&key, user_data(&v, "client-key-data")).unwrap();
        assert_eq!(
            std::fs::read(&ca).unwrap(),
            std::fs::read(root.join("etc/kubernetes/pki/ca.crt")).unwrap()
        );
        openssl(&["verify", "-CAfile", p(&ca), p(&crt)]);
        // The embedded cert matches the embedded key.
        assert_key_matches(&crt, &key);
        let t = X509Text::of(&crt);
        assert_eq!(t.subject(), subject, "{name}");
        assert_eq!(t.extension("X509v3 Extended Key Usage").unwrap().0, CLIENT);
    }
}

async fn full_run_checks(alg: EncryptionAlgorithm, key_type: &str) {
    let root = tempfile::tempdir().unwrap();
    let ctx = ctx(spec(root.path(), alg));
    let fs = HostFs::real();
    let written = run_all(&ctx, &fs)
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    // 3 CAs × 2 + 7 leaves × 2 + sa × 2 + 5 kubeconfigs
    assert_eq!(written.len(), 27);
    assert!(written.iter().all(|w| w.changed));
    check_pki(&root.path().join("etc/kubernetes/pki"), key_type);
    check_kubeconfigs(root.path());

    // A second run (fresh session, like a new process) reuses everything untouched.
    let before = snapshot(root.path());
    let again = super_ctx(&ctx);
    let written = run_all(&again, &fs)
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    assert_eq!(written.len(), 27);
    assert!(written.iter().all(|w| !w.changed), "{written:?}");
    assert_eq!(snapshot(root.path()), before);
}

/// kubeadm up to 1.28 (certlist.go and kubeconfig.go of 1.20, 1.22 and 1.28; the 1.29 changes
/// #121305, #121837, #119859, #120521): admin.conf, apiserver-kubelet-client and both etcd
/// clients in system:masters, no super-admin.conf, and kubelet.conf at the cluster endpoint.
#[tokio::test]
async fn up_to_1_28_admin_credentials_are_in_system_masters_and_there_is_no_super_admin() {
    let root = tempfile::tempdir().unwrap();
    let mut spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    spec.kubernetes_version = "v1.28.15".parse().unwrap();
    let written = run_all(&ctx(spec), &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    assert_eq!(written.len(), 26, "no super-admin.conf: {written:?}");
    let etc = root.path().join("etc/kubernetes");
    assert!(!etc.join("super-admin.conf").exists());
    let pki = etc.join("pki");
    for (file, cn) in [
        ("apiserver-kubelet-client", "kube-apiserver-kubelet-client"),
        ("etcd/healthcheck-client", "kube-etcd-healthcheck-client"),
        ("apiserver-etcd-client", "kube-apiserver-etcd-client"),
    ] {
        let t = X509Text::of(&pki.join(format!("{file}.crt")));
        assert_eq!(
            t.subject(),
            format!("O = system:masters, CN = {cn}"),
            "{file}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let admin = kubeconfig_json(&etc.join("admin.conf"));
    let crt = tmp.path().join("admin.crt");
    std::fs::write(&crt, user_data(&admin, "client-certificate-data")).unwrap();
    assert_eq!(
        X509Text::of(&crt).subject(),
        "O = system:masters, CN = kubernetes-admin"
    );
    let kubelet = kubeconfig_json(&etc.join("kubelet.conf"));
    assert_eq!(
        kubelet["clusters"][0]["cluster"]["server"],
        "https://cp.example.test:7443"
    );
}

fn super_ctx(c: &Ctx) -> Ctx {
    ctx(c.spec.clone())
}

#[tokio::test]
async fn rsa_2048_pki_matches_kubeadm_and_is_reused() {
    full_run_checks(EncryptionAlgorithm::Rsa2048, "Public-Key: (2048 bit)").await;
}

#[tokio::test]
async fn ecdsa_p256_pki_matches_kubeadm_and_is_reused() {
    full_run_checks(EncryptionAlgorithm::EcdsaP256, "NIST CURVE: P-256").await;
}

#[tokio::test]
async fn changed_sans_are_a_conflict_naming_file_and_difference() {
    let root = tempfile::tempdir().unwrap();
    let mut spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    run_all(&ctx(spec.clone()), &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    let before = snapshot(root.path());
    spec.apiserver_cert_sans.push("new.example.test".into());
    let err = run_one(&ctx(spec.clone()), "apiserver").await.unwrap_err();
    match &err {
        PhaseError::Conflict { path, problem, fix } => {
            assert!(
                path.ends_with("etc/kubernetes/pki/apiserver.crt"),
                "{path:?}"
            );
            assert!(problem.contains("DNS:new.example.test"), "{problem}");
            assert!(
                fix.contains("apiserver.crt") && fix.contains("apiserver.key"),
                "{fix}"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(snapshot(root.path()), before, "nothing written");

    // A changed control-plane endpoint makes admin.conf a conflict too.
    spec.apiserver_cert_sans.pop();
    spec.control_plane_endpoint.as_mut().unwrap().port = Some(9443);
    let err = run_one(&ctx(spec), "admin").await.unwrap_err();
    match &err {
        PhaseError::Conflict { path, problem, .. } => {
            assert!(path.ends_with("etc/kubernetes/admin.conf"));
            assert!(
                problem.contains("https://cp.example.test:9443"),
                "{problem}"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(snapshot(root.path()), before, "nothing written");
}

#[tokio::test]
async fn bad_files_are_named_and_nothing_is_written() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    run_all(&ctx(spec.clone()), &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    let pki = root.path().join("etc/kubernetes/pki");

    // Corrupt PEM.
    std::fs::write(
        pki.join("apiserver.crt"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let before = snapshot(root.path());
    let err = run_one(&ctx(spec.clone()), "apiserver")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("apiserver.crt"), "{err}");
    assert_eq!(snapshot(root.path()), before);

    // A key that belongs to another certificate.
    std::fs::copy(
        pki.join("front-proxy-client.key"),
        pki.join("apiserver-kubelet-client.key"),
    )
    .unwrap();
    let before = snapshot(root.path());
    let err = run_one(&ctx(spec.clone()), "apiserver-kubelet-client")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PhaseError::Conflict { .. }), "{text}");
    assert!(
        text.contains("apiserver-kubelet-client.crt") && text.contains("does not match its key"),
        "{text}"
    );
    assert_eq!(snapshot(root.path()), before);

    // A CA key that does not match the CA cert stops the leaves that need it.
    std::fs::copy(pki.join("front-proxy-ca.key"), pki.join("etcd/ca.key")).unwrap();
    let err = run_one(&ctx(spec.clone()), "etcd-server")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("etcd/ca.key") && err.contains("does not match"),
        "{err}"
    );

    // A kubeconfig that is not YAML.
    std::fs::write(
        root.path().join("etc/kubernetes/scheduler.conf"),
        "{ not: [yaml",
    )
    .unwrap();
    let err = run_one(&ctx(spec.clone()), "scheduler")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("scheduler.conf"), "{err}");

    // A private key never shows up in an error.
    assert!(!err.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn kubeconfig_yaml_round_trips_and_debug_hides_secrets() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    run_all(&ctx(spec), &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    let path = root.path().join("etc/kubernetes/admin.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("apiVersion: v1\n"), "{text}");
    assert!(text.contains("kind: Config"));
    let kc = KubeConfig::from_yaml(&path, text.as_bytes()).unwrap();
    assert_eq!(kc.to_yaml().unwrap(), text);
    let dbg = format!("{kc:?}");
    let key_b64 = &kc.users[0].user.client_key_data;
    assert!(!dbg.contains(key_b64.as_str()));
    assert!(!format!("{:?}", kc.current(&path).unwrap()).contains("PRIVATE"));
}

#[tokio::test]
async fn fingerprint_follows_the_ca_and_the_configured_fields() {
    use kubestrap_phases::Fingerprint;
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    let fs = HostFs::real();
    let fp = |c: &Ctx, name: &str| {
        let step = all_steps().into_iter().find(|s| s.name() == name).unwrap();
        let mut f = Fingerprint::new(&fs);
        step.inputs(c, &mut f);
        f.finish()
    };
    let c = ctx(spec.clone());
    let before = fp(&c, "apiserver");
    run_one(&c, "ca").await.unwrap();
    let with_ca = fp(&c, "apiserver");
    assert_ne!(before, with_ca, "the CA is an input of its leaves");
    run_one(&c, "apiserver").await.unwrap();
    assert_eq!(fp(&c, "apiserver"), with_ca, "own outputs are not inputs");
    let mut other = spec.clone();
    other.apiserver_cert_sans.push("more.example.test".into());
    assert_ne!(fp(&ctx(other.clone()), "apiserver"), with_ca);
    assert_eq!(
        fp(&ctx(other), "front-proxy-client"),
        fp(&c, "front-proxy-client")
    );
}

#[tokio::test]
async fn dry_run_writes_only_to_staging_and_later_phases_see_it() {
    let root = tempfile::tempdir().unwrap();
    let stage = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    let fs = HostFs::staged(stage.path());
    let written = run_all(&ctx(spec.clone()), &fs)
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    assert_eq!(written.len(), 27);
    assert!(!root.path().join("etc").exists(), "host untouched");
    assert!(fs.target(&spec.cert_dir.join("apiserver.crt")).exists());
}
