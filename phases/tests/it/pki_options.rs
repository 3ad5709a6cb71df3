//! The PKI options of a v1beta4 configuration file, checked by openssl: every
//! `encryptionAlgorithm`, non-default `caCertificateValidityPeriod` / `certificateValidityPeriod`,
//! and an existing leaf that has expired.

use std::path::Path;
use std::time::Duration;

use kubestrap_phases::config::{self, InitFlags};
use kubestrap_phases::context::init_pki_spec;
use kubestrap_phases::domain::pki::{KeyPool, PkiSession, PkiSpec};
use kubestrap_phases::{NodeRoot, PhaseError};
use kubestrap_test_support::kubeadm_config;
use kubestrap_test_support::pki::*;
use time::OffsetDateTime;

/// The PKI slice of a v1beta4 file whose ClusterConfiguration ends with `cluster_extra`, as
/// `init` would read it under `root`.
fn spec_from_file(root: &Path, cluster_extra: &str) -> PkiSpec {
    let file = kubeadm_config::init()
        .advertise("192.0.2.10")
        .node_name("node-1")
        .with(kubeadm_config::cluster().extra(cluster_extra))
        .write(root.join("kubeadm.yaml"));
    let config = config::load_init(Some(&file), &InitFlags::default()).unwrap();
    init_pki_spec(&config, &NodeRoot::new(root).unwrap())
}

/// A context whose key pool makes exactly `keys` keys ahead (RSA-4096 ones are slow: the
/// default pool would make one for every file of `certs all` + `kubeconfig all`).
fn ctx_with_keys(spec: PkiSpec, keys: usize) -> Ctx {
    let session = PkiSession::new(KeyPool::start(spec.key_algorithm, keys));
    Ctx { spec, session }
}

/// What openssl prints for a key of one algorithm, and the signature Go's crypto/x509 (and
/// so kubeadm) picks for it.
struct KeyText {
    bits: u32,
    /// `ASN1 OID` of the curve; `None` for RSA.
    curve: Option<&'static str>,
    signature: &'static str,
}

async fn algorithm_produces_what_openssl_accepts(name: &str, want: KeyText) {
    let root = tempfile::tempdir().unwrap();
    let spec = spec_from_file(root.path(), &format!("encryptionAlgorithm: {name}\n"));
    assert_eq!(spec.key_algorithm.as_str(), name);
    let pki = spec.cert_dir.clone();
    let c = ctx_with_keys(spec, 3);
    for phase in ["ca", "apiserver", "sa"] {
        run_one(&c, phase)
            .await
            .unwrap_or_else(|e| panic!("{name}: {phase}: {e}"));
    }

    let public = format!("Public-Key: ({} bit)", want.bits);
    let private = format!("Private-Key: ({} bit", want.bits);
    let family = match want.curve {
        Some(_) => "Public Key Algorithm: id-ecPublicKey",
        None => "Public Key Algorithm: rsaEncryption",
    };
    let check_key_text = |what: &str, text: &str, header: &str| {
        assert!(
            text.contains(header),
            "{name}: {what} lacks {header:?}:\n{text}"
        );
        match want.curve {
            Some(oid) => assert!(
                text.contains(&format!("ASN1 OID: {oid}")),
                "{name}: {what} is not on {oid}:\n{text}"
            ),
            None => assert!(!text.contains("ASN1 OID"), "{name}: {what}:\n{text}"),
        }
    };
    for crt in ["ca.crt", "apiserver.crt"] {
        let text = X509Text::of(&pki.join(crt)).text;
        check_key_text(crt, &text, &public);
        assert!(text.contains(family), "{name}: {crt}:\n{text}");
        assert!(
            text.contains(&format!("Signature Algorithm: {}", want.signature)),
            "{name}: {crt} signature:\n{text}"
        );
    }
    // kubeadm makes the service-account key with the configured algorithm too.
    for key in ["ca.key", "apiserver.key", "sa.key"] {
        let text = openssl(&["pkey", "-in", p(&pki.join(key)), "-noout", "-text"]);
        check_key_text(key, &text, &private);
    }
    let text = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        p(&pki.join("sa.pub")),
        "-noout",
        "-text",
    ]);
    check_key_text("sa.pub", &text, &public);
    assert_eq!(
        std::fs::read_to_string(pki.join("sa.pub")).unwrap(),
        openssl(&["pkey", "-in", p(&pki.join("sa.key")), "-pubout"]),
        "{name}: sa.pub is sa.key's public half"
    );

    let out = openssl(&[
        "verify",
        "-CAfile",
        p(&pki.join("ca.crt")),
        p(&pki.join("apiserver.crt")),
    ]);
    assert!(out.trim_end().ends_with(": OK"), "{name}: {out}");
    assert_key_matches(&pki.join("apiserver.crt"), &pki.join("apiserver.key"));
}

#[tokio::test]
async fn rsa_2048_from_the_config_file() {
    let want = KeyText {
        bits: 2048,
        curve: None,
        signature: "sha256WithRSAEncryption",
    };
    algorithm_produces_what_openssl_accepts("RSA-2048", want).await;
}

#[tokio::test]
async fn rsa_3072_from_the_config_file() {
    let want = KeyText {
        bits: 3072,
        curve: None,
        signature: "sha256WithRSAEncryption",
    };
    algorithm_produces_what_openssl_accepts("RSA-3072", want).await;
}

#[tokio::test]
async fn rsa_4096_from_the_config_file() {
    let want = KeyText {
        bits: 4096,
        curve: None,
        signature: "sha256WithRSAEncryption",
    };
    algorithm_produces_what_openssl_accepts("RSA-4096", want).await;
}

#[tokio::test]
async fn ecdsa_p256_from_the_config_file() {
    let want = KeyText {
        bits: 256,
        curve: Some("prime256v1"),
        signature: "ecdsa-with-SHA256",
    };
    algorithm_produces_what_openssl_accepts("ECDSA-P256", want).await;
}

#[tokio::test]
async fn ecdsa_p384_from_the_config_file() {
    let want = KeyText {
        bits: 384,
        curve: Some("secp384r1"),
        signature: "ecdsa-with-SHA384",
    };
    algorithm_produces_what_openssl_accepts("ECDSA-P384", want).await;
}

/// notBefore and notAfter as openssl reads them.
fn dates(path: &Path) -> (OffsetDateTime, OffsetDateTime) {
    let out = openssl(&[
        "x509",
        "-in",
        p(path),
        "-noout",
        "-startdate",
        "-enddate",
        "-dateopt",
        "iso_8601",
    ]);
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    let field = |key: &str| {
        let v = out
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"));
        time::PrimitiveDateTime::parse(v.trim(), format)
            .unwrap_or_else(|e| panic!("{v:?}: {e}"))
            .assume_utc()
    };
    (field("notBefore="), field("notAfter="))
}

fn assert_close(what: &str, have: time::Duration, want: time::Duration) {
    assert!(
        (have - want).abs() <= time::Duration::minutes(1),
        "{what}: {have} instead of {want}"
    );
}

#[tokio::test]
async fn validity_periods_come_from_the_cluster_configuration() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec_from_file(
        root.path(),
        "encryptionAlgorithm: ECDSA-P256\ncaCertificateValidityPeriod: 48h\ncertificateValidityPeriod: 2h\n",
    );
    assert_eq!(spec.ca_validity, Duration::from_secs(48 * 3600));
    assert_eq!(spec.cert_validity, Duration::from_secs(2 * 3600));
    let (pki, kdir) = (spec.cert_dir.clone(), spec.kubeconfig_dir.clone());
    let c = ctx_with_keys(spec, 4);
    for phase in ["ca", "etcd-ca", "apiserver", "admin"] {
        run_one(&c, phase)
            .await
            .unwrap_or_else(|e| panic!("{phase}: {e}"));
    }
    // The admin.conf client certificate, as kubectl hands it out.
    let admin = root.path().join("admin.crt");
    std::fs::write(&admin, client_certificate(&kdir.join("admin.conf"))).unwrap();

    let backdate = time::Duration::minutes(5);
    let now = OffsetDateTime::now_utc();
    for (path, period) in [
        (pki.join("ca.crt"), time::Duration::hours(48)),
        (pki.join("etcd/ca.crt"), time::Duration::hours(48)),
        (pki.join("apiserver.crt"), time::Duration::hours(2)),
        (admin, time::Duration::hours(2)),
    ] {
        let what = path.display().to_string();
        let (not_before, not_after) = dates(&path);
        assert_close(&what, not_after - not_before, period + backdate);
        assert_close(&what, now - not_before, backdate);
    }
    openssl(&[
        "verify",
        "-CAfile",
        p(&pki.join("ca.crt")),
        p(&pki.join("apiserver.crt")),
    ]);
}

/// Signs a copy of `leaf` (same key, subject and extensions) with `ca` for 2020-01-01..02, using
/// `openssl ca` since the installed openssl's `x509 -req` cannot set past dates.
fn resign_expired(dir: &Path, leaf: &Path, key: &Path, ca: &Path, ca_key: &Path) -> Vec<u8> {
    let csr = dir.join("leaf.csr");
    openssl(&[
        "x509",
        "-x509toreq",
        "-in",
        p(leaf),
        "-signkey",
        p(key),
        "-copy_extensions",
        "copyall",
        "-out",
        p(&csr),
    ]);
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    let conf = dir.join("ca.cnf");
    std::fs::write(
        &conf,
        format!(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\nserial = {d}/serial\n\
             default_md = sha256\npolicy = any\ncopy_extensions = copy\nunique_subject = no\n\
             [any]\ncommonName = supplied\n",
            d = p(dir)
        ),
    )
    .unwrap();
    let out = dir.join("expired.crt");
    openssl(&[
        "ca",
        "-config",
        p(&conf),
        "-batch",
        "-notext",
        "-cert",
        p(ca),
        "-keyfile",
        p(ca_key),
        "-in",
        p(&csr),
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200102000000Z",
        "-out",
        p(&out),
    ]);
    std::fs::read(out).unwrap()
}

#[tokio::test]
async fn an_expired_leaf_is_a_conflict_and_is_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let spec = spec_from_file(root.path(), "encryptionAlgorithm: ECDSA-P256\n");
    let pki = spec.cert_dir.clone();
    let c = ctx_with_keys(spec, 2);
    run_one(&c, "ca").await.unwrap();
    run_one(&c, "apiserver").await.unwrap();

    let (crt, key) = (pki.join("apiserver.crt"), pki.join("apiserver.key"));
    let work = tempfile::tempdir().unwrap();
    let expired = resign_expired(
        work.path(),
        &crt,
        &key,
        &pki.join("ca.crt"),
        &pki.join("ca.key"),
    );
    std::fs::write(&crt, &expired).unwrap();
    // openssl agrees: signed by the CA, with the configured fields, but expired.
    let out = run(
        "openssl",
        &["verify", "-CAfile", p(&pki.join("ca.crt")), p(&crt)],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("certificate has expired")
            || String::from_utf8_lossy(&out.stderr).contains("certificate has expired"),
        "{out:?}"
    );
    let text = X509Text::of(&crt);
    assert!(
        text.sans()
            .contains(&"DNS:kubernetes.default.svc".to_string())
    );

    let before = snapshot(root.path());
    let err = run_one(&ctx_with_keys(c.spec.clone(), 0), "apiserver")
        .await
        .unwrap_err();
    match &err {
        PhaseError::Conflict { path, problem, fix } => {
            assert_eq!(path, &crt);
            assert!(
                problem.contains("expired on 2020-01-02T00:00:00Z"),
                "{problem}"
            );
            assert!(
                fix.contains("kubestrap certs renew apiserver")
                    && fix.contains(&format!("remove {}", crt.display())),
                "{fix}"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(p(&crt)) && shown.contains("expired"),
        "{shown}"
    );
    assert_eq!(snapshot(root.path()), before, "nothing written");
    assert_eq!(std::fs::read(&crt).unwrap(), expired, "same bytes");
}
