//! `certs renew`, `certs check-expiration`, `kubeconfig user`, and generate-csr with a local CA.

use kubestrap_phases::contract::effects::Silent;
use kubestrap_phases::domain::kubeadm_output::short_human_duration;
use kubestrap_phases::domain::pki::kubeconfig::user_kubeconfig;
use kubestrap_phases::domain::pki::{EncryptionAlgorithm, KeyPool};
use kubestrap_phases::phases::certs::{
    RenewOutcome, RenewTarget, check_expiration, generate_csr, generate_csr_key_count, renew,
    renew_key_count,
};
use kubestrap_phases::{Effects, HostFs};
use kubestrap_test_support::pki::*;

#[tokio::test]
async fn renew_reissues_leaves_and_kubeconfigs_under_the_same_ca() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    run_all(&ctx(spec.clone()), &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    let pki = spec.cert_dir.clone();
    let ca_before = std::fs::read(pki.join("ca.crt")).unwrap();
    let api = pki.join("apiserver.crt");
    let old = X509Text::of(&api);
    let old_serial = openssl(&["x509", "-in", p(&api), "-noout", "-serial"]);
    let old_key = std::fs::read(pki.join("apiserver.key")).unwrap();
    let old_admin = std::fs::read(spec.kubeconfig_dir.join("admin.conf")).unwrap();

    let fs = HostFs::real();
    // The pool is sized to the files there are to renew, one key each, made on every core.
    let count = renew_key_count(&spec, &fs, RenewTarget::All);
    assert_eq!(renew_key_count(&spec, &fs, "apiserver".parse().unwrap()), 1);
    let keys = KeyPool::start(spec.key_algorithm, count);
    let mut fx = Effects::new("renew", &fs, &Silent);
    let done = renew(&spec, &keys, &mut fx, "all".parse().unwrap()).unwrap();
    let names: Vec<&str> = done.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 11, "{names:?}");
    assert_eq!(count, names.len(), "one key per renewed file");
    assert!(
        names.contains(&"admin.conf")
            && names.contains(&"etcd-peer")
            && !names.contains(&"kubelet.conf")
    );
    assert!(done.iter().all(|r| r.outcome == RenewOutcome::Renewed));

    assert_eq!(
        std::fs::read(pki.join("ca.crt")).unwrap(),
        ca_before,
        "CA kept"
    );
    openssl(&["verify", "-CAfile", p(&pki.join("ca.crt")), p(&api)]);
    let new = X509Text::of(&api);
    assert_eq!(new.subject(), old.subject());
    assert_eq!(new.sans(), old.sans());
    assert_ne!(
        openssl(&["x509", "-in", p(&api), "-noout", "-serial"]),
        old_serial
    );
    assert_ne!(
        std::fs::read(pki.join("apiserver.key")).unwrap(),
        old_key,
        "new key"
    );
    assert_ne!(
        std::fs::read(spec.kubeconfig_dir.join("admin.conf")).unwrap(),
        old_admin
    );
    kubectl_view(&spec.kubeconfig_dir.join("admin.conf"), "yaml");

    // The renewed files satisfy the phases: a re-run keeps them.
    let written = run_all(&ctx(spec.clone()), &fs)
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    assert!(written.iter().all(|w| !w.changed));

    // One name: renewing a missing file is an error naming it; under `all` it is skipped.
    std::fs::remove_file(pki.join("front-proxy-client.crt")).unwrap();
    let mut fx = Effects::new("renew", &fs, &Silent);
    let err = renew(
        &spec,
        &keys,
        &mut fx,
        RenewTarget::Cert(kubestrap_phases::domain::pki::CertName::FrontProxyClient),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("front-proxy-client.crt"), "{err}");
    let done = renew(&spec, &keys, &mut fx, RenewTarget::All).unwrap();
    let skipped: Vec<_> = done
        .iter()
        .filter(|r| matches!(r.outcome, RenewOutcome::Skipped(_)))
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(skipped, ["front-proxy-client"]);
}

#[tokio::test]
async fn check_expiration_lists_certs_kubeconfigs_and_cas() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    run_all(&ctx(spec.clone()), &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    std::fs::remove_file(spec.cert_dir.join("etcd/peer.crt")).unwrap();
    std::fs::remove_file(spec.cert_dir.join("front-proxy-ca.key")).unwrap();
    let report = check_expiration(&spec, &HostFs::real());
    let names: Vec<&str> = report
        .certificates
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "admin.conf",
            "apiserver",
            "apiserver-etcd-client",
            "apiserver-kubelet-client",
            "controller-manager.conf",
            "etcd-healthcheck-client",
            "etcd-peer",
            "etcd-server",
            "front-proxy-client",
            "scheduler.conf",
            "super-admin.conf",
        ]
    );
    let row = |n: &str| report.certificates.iter().find(|r| r.name == n).unwrap();
    assert_eq!(short_human_duration(row("apiserver").residual_time), "364d");
    assert_eq!(row("apiserver").ca_name.as_deref(), Some("ca"));
    assert_eq!(
        short_human_duration(row("admin.conf").residual_time),
        "364d"
    );
    assert!(row("etcd-peer").missing);
    assert!(row("front-proxy-client").externally_managed);
    assert!(!row("apiserver").externally_managed);
    let cas: Vec<(&str, String, bool)> = report
        .certificate_authorities
        .iter()
        .map(|r| {
            let residual = short_human_duration(r.residual_time);
            (r.name.as_str(), residual, r.externally_managed)
        })
        .collect();
    assert_eq!(
        cas,
        [
            ("ca", "9y".to_string(), false),
            ("etcd-ca", "9y".to_string(), false),
            ("front-proxy-ca", "9y".to_string(), true),
        ],
        "sorted by name, as kubeadm lists them"
    );
    // kubeadm's output.kubeadm.k8s.io/v1alpha3 CertificateExpirationInfo.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["kind"], "CertificateExpirationInfo");
    assert_eq!(json["apiVersion"], "output.kubeadm.k8s.io/v1alpha3");
    let apiserver = &json["certificates"][1];
    assert_eq!(apiserver["name"], "apiserver");
    assert_eq!(apiserver["caName"], "ca");
    assert!(
        apiserver["expirationDate"].as_str().unwrap().ends_with('Z'),
        "{apiserver}"
    );
    let peer = &json["certificates"][6];
    assert_eq!(peer["name"], "etcd-peer");
    assert_eq!(peer["missing"], true);
    assert!(
        peer["expirationDate"].is_null() && peer.get("caName").is_none(),
        "{peer}"
    );
    assert!(json["certificateAuthorities"][0].get("caName").is_none());
}

#[tokio::test]
async fn user_kubeconfig_is_signed_by_the_ca_and_read_by_kubectl() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::Rsa2048);
    run_all(&ctx(spec.clone()), &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    let keys = KeyPool::empty(spec.key_algorithm);
    let yaml = user_kubeconfig(
        &spec,
        &HostFs::real(),
        &keys,
        "jane",
        &["devs".into()],
        None,
    )
    .unwrap();
    let conf = root.path().join("jane.conf");
    std::fs::write(&conf, &yaml).unwrap();
    let v = kubeconfig_json(&conf);
    assert_eq!(v["current-context"], "jane@kubernetes");
    assert_eq!(
        v["clusters"][0]["cluster"]["server"],
        "https://cp.example.test:7443"
    );
    let crt = root.path().join("jane.crt");
    std::fs::write(&crt, user_data(&v, "client-certificate-data")).unwrap();
    openssl(&[
        "verify",
        "-CAfile",
        p(&spec.cert_dir.join("ca.crt")),
        p(&crt),
    ]);
    assert_eq!(X509Text::of(&crt).subject(), "O = devs, CN = jane");

    let err = user_kubeconfig(&spec, &HostFs::real(), &keys, "", &[], None).unwrap_err();
    assert!(err.to_string().contains("client-name"));
}

/// Several `--org`s: Go writes them as one multi-valued RDN, and so do we; the re-signed
/// certificate still verifies, for both key families.
#[tokio::test]
async fn user_kubeconfig_with_several_organizations() {
    for algorithm in [EncryptionAlgorithm::Rsa2048, EncryptionAlgorithm::EcdsaP256] {
        let root = tempfile::tempdir().unwrap();
        let spec = spec(root.path(), algorithm);
        run_all(&ctx(spec.clone()), &HostFs::real())
            .await
            .map_err(|(n, e)| format!("{n}: {e}"))
            .unwrap();
        let keys = KeyPool::empty(spec.key_algorithm);
        let orgs = ["ops".to_string(), "devs".into(), "ops".into()];
        let yaml = user_kubeconfig(&spec, &HostFs::real(), &keys, "jane", &orgs, None).unwrap();
        let conf = root.path().join("jane.conf");
        std::fs::write(&conf, &yaml).unwrap();
        let crt = root.path().join("jane.crt");
        let der_pem = client_certificate(&conf);
        assert!(!der_pem.contains(&b'\r'), "PEM must use LF line endings");
        std::fs::write(&crt, der_pem).unwrap();
        openssl(&[
            "verify",
            "-CAfile",
            p(&spec.cert_dir.join("ca.crt")),
            p(&crt),
        ]);
        // DER orders a SET by encoding (the shorter "ops" first); the repeated "ops" is kept once.
        assert_eq!(
            X509Text::of(&crt).subject(),
            "O = ops + O = devs, CN = jane",
            "{algorithm:?}"
        );
    }
}

#[tokio::test]
async fn generate_csr_keys_are_signed_by_a_local_ca_without_being_replaced() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::EcdsaP256);
    let fs = HostFs::real();
    // The CAs first, then CSRs, then the rest of the phases.
    let c = ctx(spec.clone());
    for ca in ["ca", "front-proxy-ca", "etcd-ca"] {
        run_one(&c, ca).await.unwrap();
    }
    let mut fx = Effects::new("generate-csr", &fs, &Silent);
    // Every leaf and kubeconfig still needs its key: 7 leaves (local etcd) + 5 kubeconfigs.
    let count = generate_csr_key_count(&spec, &fs);
    assert_eq!(count, 12);
    generate_csr(&spec, &KeyPool::start(spec.key_algorithm, count), &mut fx).unwrap();
    assert_eq!(
        generate_csr_key_count(&spec, &fs),
        0,
        "a second run reuses every key"
    );
    let key = std::fs::read(spec.cert_dir.join("apiserver.key")).unwrap();
    let admin_key = kubestrap_phases::domain::pki::kubeconfig::KubeConfig::from_yaml(
        &spec.kubeconfig_dir.join("admin.conf"),
        &std::fs::read(spec.kubeconfig_dir.join("admin.conf")).unwrap(),
    )
    .unwrap()
    .users[0]
        .user
        .client_key_data
        .clone();
    run_all(&c, &fs)
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    assert_eq!(
        std::fs::read(spec.cert_dir.join("apiserver.key")).unwrap(),
        key
    );
    let api = spec.cert_dir.join("apiserver.crt");
    assert_key_matches(&api, &spec.cert_dir.join("apiserver.key"));
    let admin = kubestrap_phases::domain::pki::kubeconfig::KubeConfig::from_yaml(
        &spec.kubeconfig_dir.join("admin.conf"),
        &std::fs::read(spec.kubeconfig_dir.join("admin.conf")).unwrap(),
    )
    .unwrap();
    assert_eq!(admin.users[0].user.client_key_data, admin_key);
    assert!(!admin.users[0].user.client_certificate_data.is_empty());
}
