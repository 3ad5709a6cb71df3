//! External-CA mode: CAs made by openssl, leaves from `certs generate-csr` signed by openssl,
//! CA keys then taken away; the phases accept what is there and report what is missing.

use std::path::Path;

use base64::Engine;
use kubestrap_phases::Diagnostic;
use kubestrap_phases::contract::effects::Silent;
use kubestrap_phases::domain::pki::files::external_cas;
use kubestrap_phases::domain::pki::kubeconfig::KubeConfig;
use kubestrap_phases::domain::pki::{EncryptionAlgorithm, KeyPool};
use kubestrap_phases::phases::certs::generate_csr;
use kubestrap_phases::{Effects, HostFs, PhaseError};
use kubestrap_test_support::pki::*;

/// An openssl CA at `<pki>/<base>.crt` and `.key`.
fn ca_at(pki: &Path, base: &str, cn: &str) {
    openssl_ca(
        &pki.join(format!("{base}.crt")),
        &pki.join(format!("{base}.key")),
        cn,
    );
}

/// Signs `csr` with the CA at `<ca_base>.crt` and `.key`.
fn sign_with(csr: &Path, ca_base: &Path, out: &Path) {
    openssl_sign(
        csr,
        &ca_base.with_extension("crt"),
        &ca_base.with_extension("key"),
        out,
    );
}

#[tokio::test]
async fn generate_csr_signed_by_openssl_is_accepted_in_external_ca_mode() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), EncryptionAlgorithm::Rsa2048);
    let pki = spec.cert_dir.clone();
    let kdir = spec.kubeconfig_dir.clone();
    ca_at(&pki, "ca", "kubernetes");
    ca_at(&pki, "front-proxy-ca", "front-proxy-ca");
    ca_at(&pki, "etcd/ca", "etcd-ca");

    let fs = HostFs::real();
    let mut fx = Effects::new("generate-csr", &fs, &Silent);
    let csrs = generate_csr(&spec, &KeyPool::start(spec.key_algorithm, 12), &mut fx).unwrap();
    assert_eq!(csrs.len(), 12, "7 leaves + 5 kubeconfigs: {csrs:?}");
    for f in [
        "apiserver.key",
        "apiserver.csr",
        "etcd/server.key",
        "etcd/server.csr",
    ] {
        assert!(pki.join(f).exists(), "{f}");
    }
    assert_eq!(mode(&pki.join("apiserver.key")), 0o600);
    assert!(kdir.join("admin.conf.csr").exists());
    // The CSR asks for kubeadm's fields.
    let req = openssl(&[
        "req",
        "-in",
        p(&pki.join("apiserver.csr")),
        "-noout",
        "-text",
        "-verify",
    ]);
    assert!(
        req.contains("CN = kube-apiserver")
            && req.contains("DNS:kubernetes.default.svc.cluster.local"),
        "{req}"
    );

    // The external CA signs every CSR.
    let leaves = [
        ("apiserver", "ca"),
        ("apiserver-kubelet-client", "ca"),
        ("front-proxy-client", "front-proxy-ca"),
        ("etcd/server", "etcd/ca"),
        ("etcd/peer", "etcd/ca"),
        ("etcd/healthcheck-client", "etcd/ca"),
        ("apiserver-etcd-client", "etcd/ca"),
    ];
    for (leaf, ca) in leaves {
        sign_with(
            &pki.join(format!("{leaf}.csr")),
            &pki.join(ca),
            &pki.join(format!("{leaf}.crt")),
        );
    }
    for k in [
        "admin",
        "super-admin",
        "kubelet",
        "controller-manager",
        "scheduler",
    ] {
        let conf = kdir.join(format!("{k}.conf"));
        let crt = kdir.join(format!("{k}.conf.crt"));
        sign_with(&kdir.join(format!("{k}.conf.csr")), &pki.join("ca"), &crt);
        let mut kc = KubeConfig::from_yaml(&conf, &std::fs::read(&conf).unwrap()).unwrap();
        kc.users[0].user.client_certificate_data =
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(&crt).unwrap());
        std::fs::write(&conf, kc.to_yaml().unwrap()).unwrap();
    }

    // The CA keys leave the node: external CA mode.
    for ca in ["ca", "front-proxy-ca", "etcd/ca"] {
        std::fs::remove_file(pki.join(format!("{ca}.key"))).unwrap();
    }
    let ext = external_cas(&spec, &fs);
    assert!(ext.ca && ext.front_proxy_ca && ext.etcd_ca, "{ext:?}");

    let before = snapshot(root.path());
    let ctx = ctx(spec.clone());
    let written = run_all(&ctx, &fs)
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    let changed: Vec<_> = written
        .iter()
        .filter(|w| w.changed)
        .map(|w| w.path.clone())
        .collect();
    assert_eq!(
        changed,
        [pki.join("sa.key"), pki.join("sa.pub")],
        "only sa is generated"
    );
    let after: Vec<_> = snapshot(root.path())
        .into_iter()
        .filter(|(p, ..)| p != &pki.join("sa.key") && p != &pki.join("sa.pub"))
        .collect();
    assert_eq!(
        after, before,
        "nothing signed by an external CA was touched"
    );
    // kubectl reads the hand-finished kubeconfigs.
    kubectl_view(&kdir.join("admin.conf"), "yaml");

    // A missing leaf cannot be generated and is reported by name with the way out.
    std::fs::remove_file(pki.join("front-proxy-client.crt")).unwrap();
    std::fs::remove_file(pki.join("front-proxy-client.key")).unwrap();
    let err = run_one(&ctx, "front-proxy-client").await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("front-proxy-client.crt") && text.contains("external CA"),
        "{text}"
    );
    assert!(
        err.hint().unwrap().contains("generate-csr"),
        "{:?}",
        err.hint()
    );
    assert!(
        !pki.join("front-proxy-client.key").exists(),
        "nothing written"
    );

    // A missing kubeconfig likewise.
    std::fs::remove_file(kdir.join("scheduler.conf")).unwrap();
    let err = run_one(&ctx, "scheduler").await.unwrap_err();
    assert!(err.to_string().contains("scheduler.conf"), "{err}");

    // A certificate from the wrong CA, with the wrong subject, is a conflict saying both.
    std::fs::copy(
        pki.join("etcd/healthcheck-client.crt"),
        pki.join("apiserver-kubelet-client.crt"),
    )
    .unwrap();
    std::fs::copy(
        pki.join("etcd/healthcheck-client.key"),
        pki.join("apiserver-kubelet-client.key"),
    )
    .unwrap();
    match run_one(&ctx, "apiserver-kubelet-client").await.unwrap_err() {
        PhaseError::Conflict { path, problem, .. } => {
            assert!(path.ends_with("apiserver-kubelet-client.crt"));
            assert!(
                problem.contains("not signed by the CA") && problem.contains("subject CN"),
                "{problem}"
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }

    // The whole run, as `init` runs it: its first phase checks every file the external CAs
    // must provide and names each missing or invalid one in one error; nothing is written.
    let before = snapshot(root.path());
    let (phase, err) = run_all(&ctx, &fs).await.unwrap_err();
    assert_eq!(phase, "ca", "the first phase reports it all: {err}");
    let text = err.to_string();
    assert!(text.starts_with("3 files that an external CA"), "{text}");
    for (file, reason) in [
        (
            "front-proxy-client.crt",
            "is missing and cannot be generated",
        ),
        ("scheduler.conf", "is missing and cannot be generated"),
        ("apiserver-kubelet-client.crt", "is not signed by the CA"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("/{file}:")))
            .unwrap_or_else(|| panic!("{file} is not named: {text}"));
        assert!(line.contains(reason), "{file}: {line}");
    }
    assert_eq!(
        text.matches("\n    fix: ").count(),
        3,
        "a fix for each: {text}"
    );
    assert!(
        err.hint().unwrap().contains("generate-csr"),
        "{:?}",
        err.hint()
    );
    assert_eq!(snapshot(root.path()), before, "nothing written");
    // One phase is told only about its own files: apiserver is fine.
    run_one(&ctx, "apiserver").await.unwrap();
    // The kubeconfig group alone: only its one problem, with that file's own error.
    let (phase, err) = run_steps(&ctx, &fs, &kubestrap_phases::phases::kubeconfig::phases())
        .await
        .unwrap_err();
    assert_eq!(phase, "admin", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("scheduler.conf is missing") && !text.contains("front-proxy-client"),
        "{text}"
    );
    assert_eq!(snapshot(root.path()), before, "nothing written");
}
