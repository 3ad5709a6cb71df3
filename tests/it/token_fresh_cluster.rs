//! `kubestrap token` on a cluster where nothing has bound admin.conf yet (right after the
//! control plane starts, before any init API phase): the commands use the phases' admin
//! client, which grants admin.conf its rights with super-admin.conf
//! (ClusterRoleBinding kubeadm:cluster-admins), as kubeadm's init does. The real bootstrap
//! signer then signs cluster-info for the created token, and kubestrap verifies the signature.

use std::time::{Duration, Instant};

use kubestrap_phases::config::token::BootstrapTokenString;
use kubestrap_phases::domain::bootstrap_token::{cluster_info_configmap, cluster_info_source};
use kubestrap_phases::domain::jws;
use kubestrap_test_support::{cli::kubestrap, control_plane};

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = kubestrap().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn token_commands_bind_admin_conf_on_a_fresh_cluster() {
    let ip = "127.0.0.63";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cp = control_plane::start_control_plane_with_split_admins(root, ip).await;
    assert_eq!(cp.ip, ip);
    let r = root.to_str().unwrap();
    let admin = root.join("etc/kubernetes/admin.conf");
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&admin)
            .args(args)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // admin.conf is powerless until the binding exists.
    assert!(
        kubectl(&["get", "secrets", "-n", "kube-system"]).contains("Forbidden"),
        "admin.conf is not bound yet"
    );

    // An explicit kubeconfig that is not an admin.conf is used as is: no binding is made.
    let other = root.join("other.conf");
    std::fs::copy(&admin, &other).unwrap();
    let (code, _, stderr) = run(&["token", "list", "--kubeconfig", other.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("403"), "{stderr}");

    // The default kubeconfig (<root>/etc/kubernetes/admin.conf): bound with super-admin.conf.
    let (code, stdout, stderr) = run(&["token", "create", "--root", r]);
    assert_eq!(code, Some(0), "{stderr}");
    let token: BootstrapTokenString = stdout.trim().parse().unwrap();
    assert!(
        kubectl(&[
            "get",
            "clusterrolebinding",
            "kubeadm:cluster-admins",
            "-o",
            "jsonpath={.roleRef.name}"
        ]) == "cluster-admin"
    );
    let (code, stdout, stderr) = run(&["token", "list", "--root", r]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(token.id().as_str()), "{stdout}");

    // cluster-info, as init's bootstrap-token phase publishes it; the real bootstrap signer
    // signs it for the token from `token create`, and kubestrap's verifier accepts that.
    let fs = kubestrap_phases::HostFs::real();
    let source = cluster_info_source(&fs, &admin).unwrap();
    let cm = serde_json::to_string(&cluster_info_configmap(&source)).unwrap();
    let file = root.join("cluster-info.json");
    std::fs::write(&file, cm).unwrap();
    let applied = kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert!(applied.contains("cluster-info"), "{applied}");
    let key = jws::signature_key(token.id());
    let start = Instant::now();
    let cluster_info = || -> serde_json::Value {
        let text = kubectl(&[
            "get",
            "configmap",
            "cluster-info",
            "-n",
            "kube-public",
            "-o",
            "json",
        ]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    let data = loop {
        let cm = cluster_info();
        if cm["data"][&key].is_string() {
            break cm["data"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {key} after 30 s: {cm}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let kubeconfig = data["kubeconfig"].as_str().unwrap();
    jws::verify_detached(
        token.id(),
        token.secret(),
        kubeconfig,
        data[&key].as_str().unwrap(),
    )
    .expect("the bootstrap signer's signature verifies");

    // token delete: the Secret goes and the signer withdraws the signature.
    let (code, _, stderr) = run(&["token", "delete", token.id().as_str(), "--root", r]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        kubectl(&[
            "get",
            "secret",
            "-n",
            "kube-system",
            &format!("bootstrap-token-{}", token.id().as_str())
        ])
        .contains("NotFound")
    );
    let start = Instant::now();
    while cluster_info()["data"][&key].is_string() {
        assert!(start.elapsed() < Duration::from_secs(30), "signature stays");
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(cp);
}
