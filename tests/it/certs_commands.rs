//! The `certs` commands and external-CA mode through the real binary: `certs check-expiration`
//! prints kubeadm's tables and, with `-o json`, kubeadm's `CertificateExpirationInfo`; a run
//! in external-CA mode names every file the external CA must provide in one error.

use std::path::Path;

use kubestrap_test_support::cli::{files_under, kubestrap};

/// The node every test describes.
const NODE: &[&str] = &[
    "--node-name",
    "node1",
    "--apiserver-advertise-address",
    "127.0.0.51",
    "--kubernetes-version",
    "v1.30.0",
    "--ignore-preflight-errors",
    "all",
];

/// Runs `kubestrap <args> --root <root>` (with [`NODE`] for `init`); returns (exit code,
/// stdout, stderr).
fn ks(root: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = kubestrap();
    cmd.args(args);
    if args.first() == Some(&"init") {
        cmd.args(NODE);
    }
    let out = cmd
        .arg("--root")
        .arg(root)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ks_ok(root: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = ks(root, args);
    assert_eq!(code, Some(0), "kubestrap {args:?}:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn check_expiration_prints_kubeadms_tables_and_json() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    ks_ok(root, &["init", "phase", "certs", "all"]);
    ks_ok(root, &["init", "phase", "kubeconfig", "all"]);

    // The text form, column for column as kubeadm's tabwriter lays it out.
    let table = ks_ok(root, &["certs", "check-expiration"]);
    let lines: Vec<&str> = table.lines().collect();
    let header = "CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED";
    assert_eq!(lines[0], header, "{table}");
    let apiserver = lines
        .iter()
        .find(|l| l.starts_with("apiserver "))
        .unwrap_or_else(|| panic!("no apiserver row: {table}"));
    let fields: Vec<&str> = apiserver.split_whitespace().collect();
    // apiserver  Mon DD, YYYY HH:MM UTC  364d  ca  no
    assert_eq!(fields.len(), 9, "{apiserver}");
    assert_eq!(fields[5], "UTC", "{apiserver}");
    assert_eq!(
        (fields[6], fields[7], fields[8]),
        ("364d", "ca", "no"),
        "{apiserver}"
    );
    let ca_column = header.find("CERTIFICATE AUTHORITY").unwrap();
    assert_eq!(
        apiserver.get(ca_column..ca_column + 3),
        Some("ca "),
        "{table}"
    );
    let blank = lines.iter().position(|l| l.is_empty()).unwrap();
    assert_eq!(blank, 12, "11 certificates, then a blank line: {table}");
    assert_eq!(
        lines[blank + 1],
        "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED"
    );
    let cas: Vec<(&str, &str)> = lines[blank + 2..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0], f[6])
        })
        .collect();
    assert_eq!(
        cas,
        [("ca", "9y"), ("etcd-ca", "9y"), ("front-proxy-ca", "9y")]
    );

    // The JSON form: kubeadm's output.kubeadm.k8s.io/v1alpha3 CertificateExpirationInfo.
    let json = ks_ok(root, &["certs", "check-expiration", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kind"], "CertificateExpirationInfo");
    assert_eq!(v["apiVersion"], "output.kubeadm.k8s.io/v1alpha3");
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 11, "{json}");
    for c in certs {
        let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "caName",
                "expirationDate",
                "externallyManaged",
                "missing",
                "name",
                "residualTime"
            ],
            "{c}"
        );
    }
    let apiserver = certs.iter().find(|c| c["name"] == "apiserver").unwrap();
    assert_eq!(apiserver["caName"], "ca");
    assert_eq!(apiserver["externallyManaged"], false);
    assert_eq!(apiserver["missing"], false);
    assert!(
        apiserver["expirationDate"].as_str().unwrap().ends_with('Z'),
        "{apiserver}"
    );
    // kubeadm's ResidualTimeSeconds: whole seconds (not a Go time.Duration in nanoseconds),
    // just under the one-year validity.
    let residual = apiserver["residualTime"].as_i64().unwrap();
    let day = 86_400;
    assert!(
        residual > 364 * day && residual < 365 * day,
        "residualTime {residual} is not seconds left of a 1-year certificate"
    );
    let ca_names: Vec<&str> = v["certificateAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c.get("caName").is_none(), "a CA has no caName: {c}");
            c["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ca_names, ["ca", "etcd-ca", "front-proxy-ca"]);
}

/// External-CA mode through the CLI: `ca.crt` without `ca.key`. `init phase certs all` fails in
/// its first phase with one error naming both certificates the CA must provide, and writes
/// nothing; `init phase certs apiserver` is told only about its own.
#[test]
fn external_ca_mode_names_every_missing_file_in_one_error() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    ks_ok(root, &["init", "phase", "certs", "ca"]);
    let pki = root.join("etc/kubernetes/pki");
    std::fs::remove_file(pki.join("ca.key")).unwrap();

    let (code, stdout, stderr) = ks(root, &["init", "phase", "certs", "all"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("[certs/ca] 2 files that an external CA must provide"),
        "{stderr}"
    );
    for file in ["apiserver.crt", "apiserver-kubelet-client.crt"] {
        assert!(
            stderr.contains(&format!("{}: ", pki.join(file).display())),
            "{file} is not named: {stderr}"
        );
    }
    assert_eq!(
        files_under(&root.join("etc")),
        [Path::new("kubernetes/pki/ca.crt")],
        "nothing written"
    );

    let (code, _, stderr) = ks(root, &["init", "phase", "certs", "apiserver"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("apiserver.crt") && !stderr.contains("apiserver-kubelet-client"),
        "one phase reports its own file only: {stderr}"
    );
}
