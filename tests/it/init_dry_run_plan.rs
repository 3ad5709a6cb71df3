//! `kubestrap init --dry-run` through every phase, API ones included, with no API server
//! anywhere: the plan lists each object init would write exactly once — the admin binding
//! kubeadm:cluster-admins (from v1.29), the bootstrap objects and both addons — and nothing is
//! written.

use std::time::Duration;

use kubestrap_test_support::{cli::kubestrap, ndjson::events};

#[test]
fn the_dry_run_plan_lists_every_api_object_once() {
    plan_lists_every_object_once("v1.20.2");
    plan_lists_every_object_once("v1.37.0");
}

fn plan_lists_every_object_once(version: &str) {
    let root = tempfile::tempdir().unwrap();
    let out = kubestrap()
        .args(["init", "--dry-run", "-o", "json", "--root"])
        .arg(root.path())
        .args(["--apiserver-advertise-address", "127.0.0.62"])
        .args(["--kubernetes-version", version, "--node-name", "n1"])
        // The machine's own checks (ports, kubelet, runtime) are not what this is about.
        .args(["--skip-phases", "preflight"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let ev = events(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{ev:#?}");
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "the root is untouched"
    );
    let result = ev.last().unwrap();
    assert_eq!(result["dry_run"], true);
    let objects: Vec<(String, String, String)> = result["api_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["verb"].as_str().unwrap().to_string(),
                o["kind"].as_str().unwrap().to_string(),
                o["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let count = |kind: &str, name: &str| {
        objects
            .iter()
            .filter(|(_, k, n)| k == kind && n == name)
            .count()
    };
    // kubeadm makes the admin binding from 1.29, and binds the API server's kubelet client
    // by user from 1.37 (config/release.rs).
    let newest = version != "v1.20.2";
    assert_eq!(
        count("ClusterRoleBinding", "kubeadm:cluster-admins"),
        usize::from(newest),
        "{version}: {objects:#?}"
    );
    assert_eq!(
        count("ClusterRoleBinding", "kubeadm:apiserver-kubelet-client"),
        usize::from(newest),
        "{version}: {objects:#?}"
    );
    if newest {
        assert_eq!(
            objects[0].0, "create",
            "the binding comes first: {objects:#?}"
        );
    }
    for (kind, name) in [
        ("ConfigMap", "kubeadm-config"),
        ("ConfigMap", "cluster-info"),
        ("Node", "n1"),
        ("ServiceAccount", "coredns"),
        ("ClusterRole", "system:coredns"),
        ("ClusterRoleBinding", "system:coredns"),
        ("ConfigMap", "coredns"),
        ("Deployment", "coredns"),
        ("Service", "kube-dns"),
        ("ServiceAccount", "kube-proxy"),
        ("ConfigMap", "kube-proxy"),
        ("DaemonSet", "kube-proxy"),
        ("ClusterRoleBinding", "kubeadm:node-proxier"),
        ("Role", "kube-proxy"),
        ("RoleBinding", "kube-proxy"),
    ] {
        assert_eq!(count(kind, name), 1, "{kind} {name}: {objects:#?}");
    }
    let finished: Vec<&str> = ev
        .iter()
        .filter(|e| e["event"] == "phase_finished")
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert!(finished.contains(&"kubelet-finalize/enable-client-cert-rotation"));
    assert!(result["join_command"].is_string(), "{result}");
    // The staged files (tests/it/dry_run_staging.rs has the details) were removed at exit.
    assert_eq!(result["staging_kept"], false, "{result}");
    assert!(result.get("staging_dir").is_none(), "{result}");
}
