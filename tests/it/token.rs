//! `kubestrap token …` and `init phase bootstrap-token` through the binary: flag errors
//! without a cluster, then create/list/delete against a real kube-apiserver and
//! kube-controller-manager v1.20.2.

use std::path::Path;
use std::time::{Duration, Instant};

use kubestrap_test_support::{cli::kubestrap, control_plane, kubeadm_config};

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = kubestrap().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn malformed_create_flags_are_errors_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--ttl", "1x"], "--ttl"),
        (&["--usages", "signing,sign"], "--usages"),
        (&["--groups", "system:nodes"], "--groups"),
        (&["abcdef.SECRETSECRETSECR"], "TOKEN"),
        (
            &["--usages", "signing", "--groups", "system:bootstrappers:x"],
            "--groups",
        ),
    ];
    for (extra, flag) in cases {
        let mut args = vec!["token", "create", "--kubeconfig", "/nonexistent/admin.conf"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, Some(1), "{args:?}: {stdout} {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(!stderr.contains("SECRETSECRETSECR"), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    let (code, _, stderr) = run(&["token", "delete", "ABC", "--kubeconfig", "/x"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("TOKEN_ID|TOKEN"), "{stderr}");
    // A missing kubeconfig is named.
    let (code, _, stderr) = run(&["token", "list", "--root", "/nonexistent-root"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("/nonexistent-root/etc/kubernetes/admin.conf"),
        "{stderr}"
    );
}

fn cluster_info_has(root: &Path, ip: &str, key: &str) -> bool {
    let ca = root.join("etc/kubernetes/pki/ca.crt");
    let body = control_plane::curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        &format!("https://{ip}:6443/api/v1/namespaces/kube-public/configmaps/cluster-info"),
    ])
    .unwrap();
    body.contains(&format!("\"{key}\""))
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} after 30 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_commands_against_a_real_cluster() {
    let ip = "127.0.0.48";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cp = control_plane::start_control_plane(root, ip).await;
    let r = root.to_str().unwrap();
    // The phase through the binary, with an explicit token.
    let cfg = kubeadm_config::init()
        .token_described("abcdef.0123456789abcdef", "init token")
        .advertise(ip)
        .bind_port(6443)
        .node_name("node-1")
        .with(kubeadm_config::cluster().kubernetes_version("v1.20.2"))
        .write(root.join("kubeadm.yaml"));
    let (code, stdout, stderr) = run(&[
        "init",
        "phase",
        "bootstrap-token",
        "--config",
        cfg.to_str().unwrap(),
        "--root",
        r,
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains("0123456789abcdef") && !stderr.contains("0123456789abcdef"));
    wait("init token signature", || {
        cluster_info_has(root, ip, "jws-kubeconfig-abcdef")
    });

    // create --print-join-command: the CA pin matches the cluster's CA.
    let (code, stdout, stderr) = run(&["token", "create", "--print-join-command", "--root", r]);
    assert_eq!(code, Some(0), "{stderr}");
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(
        &words[..3],
        ["kubestrap", "join", &format!("{ip}:6443")[..]],
        "{stdout}"
    );
    assert_eq!(words[3], "--token");
    let token = words[4].to_string();
    assert_eq!(words[5], "--discovery-token-ca-cert-hash");
    let ca_pem = std::fs::read(root.join("etc/kubernetes/pki/ca.crt")).unwrap();
    let ca = kubestrap_phases::domain::bootstrap_token::ca_cert_hash(Path::new("ca.crt"), &ca_pem)
        .unwrap();
    assert_eq!(words[6], ca.to_string());
    let id = &token[..6];
    wait("created token signature", || {
        cluster_info_has(root, ip, &format!("jws-kubeconfig-{id}"))
    });

    // create TOKEN with options prints exactly the token.
    let (code, stdout, stderr) = run(&[
        "token",
        "create",
        "qwerty.0123456789qwerty",
        "--ttl",
        "2h",
        "--description",
        "ci",
        "--usages",
        "authentication",
        "--root",
        r,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "qwerty.0123456789qwerty\n");

    // create --groups with an extra group: it lands in the Secret's auth-extra-groups alone,
    // in place of the default node-token group, as with kubeadm.
    let extra = "system:bootstrappers:kubeadm:extra";
    let (code, stdout, stderr) = run(&[
        "token",
        "create",
        "grpstk.0123456789grpstk",
        "--groups",
        extra,
        "--root",
        r,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "grpstk.0123456789grpstk\n");
    let secret = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig("admin.conf"))
        .args([
            "get",
            "secret",
            "bootstrap-token-grpstk",
            "-n",
            "kube-system",
            "-o",
        ])
        .arg("jsonpath={.data.auth-extra-groups}")
        .output()
        .unwrap();
    assert!(secret.status.success(), "{secret:?}");
    use base64::Engine;
    let groups = base64::engine::general_purpose::STANDARD
        .decode(&secret.stdout)
        .unwrap();
    assert_eq!(String::from_utf8(groups).unwrap(), extra);

    // list: kubeadm's table, and JSON.
    let (code, stdout, stderr) = run(&["token", "list", "--root", r]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("TOKEN") && lines[0].ends_with("EXTRA GROUPS"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 5, "{stdout}");
    let qwerty = lines.iter().find(|l| l.starts_with("qwerty.")).unwrap();
    let cols: Vec<&str> = qwerty.split_whitespace().collect();
    assert_eq!(&cols[..2], ["qwerty.0123456789qwerty", "1h"], "{qwerty}");
    assert_eq!(cols[3], "authentication");
    assert_eq!(cols[4], "ci");
    assert!(stdout.contains("init token"));
    let (code, stdout, _) = run(&["token", "list", "-o", "json", "--root", r]);
    assert_eq!(code, Some(0));
    let parsed: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(parsed.len(), 4, "{stdout}");
    assert!(parsed.iter().any(|v| v["token"] == token.as_str()));
    let grouped = parsed
        .iter()
        .find(|v| v["token"] == "grpstk.0123456789grpstk")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(grouped["groups"], serde_json::json!([extra]), "{stdout}");

    // delete by whole token and by id; the signature goes; deleting again is an error.
    let (code, stdout, stderr) = run(&["token", "delete", &token, "qwerty", "grpstk", "--root", r]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "bootstrap token \"{id}\" deleted\nbootstrap token \"qwerty\" deleted\nbootstrap token \"grpstk\" deleted\n"
        )
    );
    wait("signature withdrawn", || {
        !cluster_info_has(root, ip, &format!("jws-kubeconfig-{id}"))
    });
    let (code, _, stderr) = run(&["token", "delete", "qwerty", "--root", r]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("not found"), "{stderr}");
    let (_, stdout, _) = run(&["token", "list", "--root", r]);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    drop(cp);
}
