//! The PKI commands through the real binary: `kubeconfig user` with several organizations,
//! `certs generate-csr` signed by an openssl CA and then accepted by the phases, and files
//! that cannot be read at all.

use std::path::Path;

use kubestrap_test_support::cli::{copy_tree, kubestrap};
// openssl/kubectl helpers shared with the library's PKI tests.
use kubestrap_test_support::pki::{
    X509Text, assert_key_matches, kubeconfig_json, openssl, openssl_ca, openssl_sign, p, run,
    snapshot, user_data,
};

/// The node every test describes, so that `kubeconfig user` and the phases agree.
const NODE: &[&str] = &[
    "--node-name",
    "node1",
    "--apiserver-advertise-address",
    "127.0.0.51",
];

/// Runs `kubestrap <args> <NODE flags> --root <root>`; returns (success, stdout, stderr).
fn ks(root: &Path, args: &[&str]) -> (bool, String, String) {
    let out = kubestrap()
        .args(args)
        .args(NODE)
        .arg("--root")
        .arg(root)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ks_ok(root: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = ks(root, args);
    assert!(ok, "kubestrap {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

/// kubectl's view of a kubeconfig: its JSON, and the embedded client cert and key written to
/// `<dir>/<name>.crt` / `.key`.
fn kubectl_view(conf: &Path, dir: &Path, name: &str) -> serde_json::Value {
    let v = kubeconfig_json(conf);
    std::fs::write(
        dir.join(format!("{name}.crt")),
        user_data(&v, "client-certificate-data"),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}.key")),
        user_data(&v, "client-key-data"),
    )
    .unwrap();
    v
}

#[test]
fn kubeconfig_user_with_two_organizations() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    ks_ok(root, &["init", "phase", "certs", "ca"]);
    let ca = root.join("etc/kubernetes/pki/ca.crt");
    let yaml = ks_ok(
        root,
        &[
            "kubeconfig",
            "user",
            "--client-name",
            "alice",
            "--org",
            "a",
            "--org",
            "b",
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("alice.conf");
    std::fs::write(&conf, &yaml).unwrap();
    let v = kubectl_view(&conf, work.path(), "alice");
    assert_eq!(v["current-context"], "alice@kubernetes");
    assert_eq!(v["contexts"][0]["context"]["user"], "alice");
    assert_eq!(
        v["clusters"][0]["cluster"]["server"],
        "https://127.0.0.51:6443"
    );
    let (crt, key) = (work.path().join("alice.crt"), work.path().join("alice.key"));
    let t = X509Text::of(&crt);
    assert_eq!(t.subject(), "O = a + O = b, CN = alice");
    assert_eq!(
        t.extension("X509v3 Extended Key Usage").map(|e| e.0),
        Some("TLS Web Client Authentication".into())
    );
    let out = openssl(&["verify", "-CAfile", p(&ca), p(&crt)]);
    assert!(out.trim_end().ends_with(": OK"), "{out}");
    assert_key_matches(&crt, &key);
    // Nothing but the CA (and the phase's journal) is on the node: the user's key was only printed.
    assert!(!root.join("etc/kubernetes/alice.conf").exists());
}

#[test]
fn generate_csr_signed_by_an_external_ca_is_accepted_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let pki = root.join("etc/kubernetes/pki");
    let kdir = root.join("etc/kubernetes");
    let outside = tempfile::tempdir().unwrap();
    // An openssl-made CA whose key stays outside the node (external CA mode).
    let (ca, ca_key) = (pki.join("ca.crt"), outside.path().join("ca.key"));
    openssl_ca(&ca, &ca_key, "kubernetes");

    let listed = ks_ok(root, &["certs", "generate-csr"]);
    for f in [pki.join("apiserver.csr"), kdir.join("admin.conf.csr")] {
        assert!(listed.lines().any(|l| l == p(&f)), "{listed}");
        assert!(f.exists(), "{}", f.display());
    }
    assert!(!pki.join("apiserver.crt").exists());
    assert!(!pki.join("ca.key").exists());

    // The external CA signs the API server's CSR as it is.
    openssl_sign(
        &pki.join("apiserver.csr"),
        &ca,
        &ca_key,
        &pki.join("apiserver.crt"),
    );
    let t = X509Text::of(&pki.join("apiserver.crt"));
    assert!(
        t.sans()
            .contains(&"DNS:kubernetes.default.svc.cluster.local".into())
            && t.sans().contains(&"IP Address:127.0.0.51".into()),
        "{:?}",
        t.sans()
    );
    // … and admin.conf's; kubectl embeds the certificate next to generate-csr's key.
    let admin_crt = outside.path().join("admin.crt");
    openssl_sign(&kdir.join("admin.conf.csr"), &ca, &ca_key, &admin_crt);
    let out = run(
        "kubectl",
        &[
            "--kubeconfig",
            p(&kdir.join("admin.conf")),
            "config",
            "set-credentials",
            "kubernetes-admin",
            "--client-certificate",
            p(&admin_crt),
            "--embed-certs=true",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let before = snapshot(root);
    let (ok, stdout, stderr) = ks(root, &["init", "phase", "certs", "apiserver"]);
    assert!(ok, "{stdout}\n{stderr}");
    let (ok, stdout, stderr) = ks(root, &["init", "phase", "kubeconfig", "admin"]);
    assert!(ok, "{stdout}\n{stderr}");
    let after = snapshot(root);
    let pki_files = |s: &Vec<(std::path::PathBuf, Vec<u8>, std::time::SystemTime)>| {
        s.iter()
            .filter(|(path, ..)| path.starts_with(&kdir))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pki_files(&after),
        pki_files(&before),
        "the signed files are accepted unchanged"
    );

    let out = openssl(&["verify", "-CAfile", p(&ca), p(&pki.join("apiserver.crt"))]);
    assert!(out.trim_end().ends_with(": OK"), "{out}");
    assert_key_matches(&pki.join("apiserver.crt"), &pki.join("apiserver.key"));
    let work = tempfile::tempdir().unwrap();
    let v = kubectl_view(&kdir.join("admin.conf"), work.path(), "admin");
    assert_eq!(v["current-context"], "kubernetes-admin@kubernetes");
    let crt = work.path().join("admin.crt");
    openssl(&["verify", "-CAfile", p(&ca), p(&crt)]);
    assert_key_matches(&crt, &work.path().join("admin.key"));
    assert_eq!(
        X509Text::of(&crt).subject(),
        "O = kubeadm:cluster-admins, CN = kubernetes-admin"
    );
}

/// A file kubestrap cannot read as PEM, or a directory where a file should be: the run fails
/// with an error naming the path, and changes nothing under --root.
#[test]
fn unreadable_inputs_are_named_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    let template = work.path().join("template");
    ks_ok(&template, &["init", "phase", "certs", "ca"]);
    ks_ok(&template, &["init", "phase", "certs", "apiserver"]);
    let garbage: &[u8] = b"\x00\xff\xfe binary \x80\x81 garbage \xc3\x28\n";

    type Damage = fn(&Path, &[u8]);
    let cases: &[(&str, &[&str], Damage, &[&str])] = &[
        (
            "a directory where ca.crt should be (certs ca)",
            &["init", "phase", "certs", "ca"],
            |pki, _| {
                std::fs::remove_file(pki.join("ca.crt")).unwrap();
                std::fs::create_dir(pki.join("ca.crt")).unwrap();
            },
            &["pki/ca.crt", "directory"],
        ),
        (
            "a directory where ca.crt should be (certs apiserver)",
            &["init", "phase", "certs", "apiserver"],
            |pki, _| {
                std::fs::remove_file(pki.join("ca.crt")).unwrap();
                std::fs::create_dir(pki.join("ca.crt")).unwrap();
            },
            &["pki/ca.crt", "directory"],
        ),
        (
            "a directory where ca.crt should be (kubeconfig user)",
            &["kubeconfig", "user", "--client-name", "alice"],
            |pki, _| {
                std::fs::remove_file(pki.join("ca.crt")).unwrap();
                std::fs::create_dir(pki.join("ca.crt")).unwrap();
            },
            &["pki/ca.crt", "directory"],
        ),
        (
            "binary garbage in ca.crt",
            &["init", "phase", "certs", "apiserver"],
            |pki, g| std::fs::write(pki.join("ca.crt"), g).unwrap(),
            &["pki/ca.crt", "not a PEM certificate"],
        ),
        (
            "binary garbage in ca.key",
            &["init", "phase", "certs", "ca"],
            |pki, g| std::fs::write(pki.join("ca.key"), g).unwrap(),
            &["pki/ca.key", "not a PEM file"],
        ),
        (
            "binary garbage in apiserver.key",
            &["init", "phase", "certs", "apiserver"],
            |pki, g| std::fs::write(pki.join("apiserver.key"), g).unwrap(),
            &["pki/apiserver.key", "not a PEM file"],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (name, args, damage, expect)) in cases.iter().enumerate() {
        let root = work.path().join(format!("case{i}"));
        copy_tree(&template, &root);
        // A node whose PKI came from elsewhere: no journal, so a run that completes nothing
        // has nothing to record either.
        std::fs::remove_dir_all(root.join("var/lib/kubestrap")).unwrap();
        damage(&root.join("etc/kubernetes/pki"), garbage);
        let before = snapshot(&root);
        let out = kubestrap()
            .args(*args)
            .args(NODE)
            .arg("--root")
            .arg(&root)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.success() {
            problems.push("succeeded".to_string());
        }
        if !out.stdout.is_empty() && args[0] == "kubeconfig" {
            problems.push("printed a kubeconfig".into());
        }
        for want in *expect {
            if !stderr.contains(want) {
                problems.push(format!("error lacks {want:?}"));
            }
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if snapshot(&root) != before {
            problems.push("wrote under --root".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n  {stderr}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
