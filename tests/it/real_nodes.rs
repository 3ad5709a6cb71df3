//! kubestrap on real nodes (scripts/testbed/node/node): each node a network namespace on the
//! test bed's bridge with its own containerd, and the real kubelet v1.20.2 that kubestrap
//! starts through the node's service hook. What the stand-in cannot show: the kubelet runs
//! the static pods in containers from kubestrap's manifests, the addons run on the nodes, a
//! second control plane joins with its own etcd member, reset removes the node's pods through
//! the CRI and leaves nothing of the node, and an init killed while the kubelet starts the
//! static pods resumes. (The worker's own TLS bootstrap and kubelet-finalize with the kubelet's
//! rotated certificate are proven by scripts/testbed/up, which scripts/test runs.)
//!
//! Addresses (only inside the namespaces the test bed makes): 10.231.0.40 and .41, 10.231.0.50.
//! Real nodes run one at a time ([`real_node::exclusive`]).

use std::path::Path;
use std::time::Duration;

use kubestrap_test_support::bed::{ca_hash, kube_bin};
use kubestrap_test_support::cli::files_under;
use kubestrap_test_support::ndjson::Run;
use kubestrap_test_support::real_node::{
    self, CRI_SOCKET, IGNORED_PREFLIGHT, RealNode, init_config, wait_until,
};
use serde_json::Value;

const TOKEN: &str = "realnd.0123456789abcdef";
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// kubeadm 1.20's CoreDNS image with `imageRepository: k8s.gcr.io` (constants.CoreDNSImageName
/// and CoreDNSVersion "1.7.0", cmd/kubeadm/app/constants/constants.go at v1.20.2).
const COREDNS_IMAGE: &str = "k8s.gcr.io/coredns:1.7.0";

fn run(cmd: std::process::Command, timeout: Duration) -> Run {
    Run::of(&mut assert_cmd::Command::from_std(cmd), timeout)
}

fn write_config(node: &RealNode, cluster_extra: &str) -> std::path::PathBuf {
    let path = node.root.with_extension("yaml");
    std::fs::write(&path, init_config(&node.ip, &node.name, cluster_extra)).unwrap();
    path
}

fn init(node: &RealNode, config: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = node.kubestrap();
    cmd.args(["init", "-o", "json", "--root"])
        .arg(&node.root)
        .arg("--config")
        .arg(config)
        .args([
            "--token",
            TOKEN,
            "--ignore-preflight-errors",
            IGNORED_PREFLIGHT,
        ])
        .args(extra);
    cmd
}

/// The kube-system pods: name → (node, phase, ready).
fn pods(admin: &RealNode) -> Result<Vec<(String, String, String, bool)>, String> {
    let (ok, out) = admin.kubectl(&["-n", "kube-system", "get", "pods", "-o", "json"]);
    if !ok {
        return Err(out);
    }
    let list: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let ready = p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["status"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                ready,
            )
        })
        .collect())
}

/// The four mirror pods of `node` Running and Ready.
fn control_plane_ready(admin: &RealNode, node: &str) -> Result<(), String> {
    let pods = pods(admin)?;
    for c in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let name = format!("{c}-{node}");
        if !pods
            .iter()
            .any(|(n, _, phase, ready)| *n == name && phase == "Running" && *ready)
        {
            return Err(format!("{name} is not Running and Ready: {pods:?}"));
        }
    }
    Ok(())
}

/// A kube-proxy pod Running on each of `nodes`, from the DaemonSet's image.
fn kube_proxy_runs_on(admin: &RealNode, nodes: &[&str]) -> Result<(), String> {
    let pods = pods(admin)?;
    for node in nodes {
        if !pods.iter().any(|(n, on, phase, _)| {
            n.starts_with("kube-proxy-") && on == node && phase == "Running"
        }) {
            // What the kubelet said about it, for a failure to be diagnosed.
            let (_, events) = admin.kubectl(&[
                "-n",
                "kube-system",
                "get",
                "events",
                "--field-selector",
                "involvedObject.kind=Pod",
            ]);
            return Err(format!(
                "no kube-proxy Running on {node}: {pods:?}\nevents:\n{events}"
            ));
        }
    }
    Ok(())
}

/// etcd's v3 gateway on `ip`, with the node's healthcheck client.
fn etcd(node: &RealNode, ip: &str, path: &str, post: bool) -> Value {
    let pki = node.root.join("etc/kubernetes/pki/etcd");
    let mut cmd = node.command("curl");
    cmd.args(["-sS", "--max-time", "10", "--cacert"])
        .arg(pki.join("ca.crt"))
        .arg("--cert")
        .arg(pki.join("healthcheck-client.crt"))
        .arg("--key")
        .arg(pki.join("healthcheck-client.key"));
    if post {
        cmd.args(["-X", "POST", "-d", "{}"]);
    }
    let out = cmd
        .arg(format!("https://{ip}:2379{path}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("etcd {path} on {ip}: {e}: {}", real_node::text(&out)))
}

/// kubestrap reset of `node`, then nothing of it may be left but its containerd: no pod or
/// container, no kubelet, no mount, no file of init or join.
fn reset_leaves_nothing(node: &RealNode) {
    let mut cmd = node.kubestrap();
    cmd.args(["reset", "--force", "-o", "json", "--root"])
        .arg(&node.root);
    let reset = run(cmd, Duration::from_secs(240));
    assert_eq!(reset.code, Some(0), "{:#?}\n{}", reset.events, reset.stderr);
    assert!(
        reset.result()["pods_removed"].as_u64().unwrap_or(0) >= 1,
        "the kube-proxy pod at least was removed through the CRI: {}",
        reset.result()
    );
    assert_eq!(node.containers(), Vec::<String>::new(), "containers left");
    assert_eq!(node.kubelet_pid(), None, "the kubelet was stopped");
    assert_eq!(
        node.mounts_under_root(),
        Vec::<String>::new(),
        "mounts left"
    );
    // Only containerd is left in the node's cgroups: no shim, no container process.
    let containerd: u32 = std::fs::read_to_string(node.root.join("run/testbed/containerd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        node.processes(),
        vec![containerd],
        "processes of {} left",
        node.name
    );
    for dir in ["etc/kubernetes", "var/lib/kubelet", "var/lib/etcd"] {
        let left = files_under(&node.root.join(dir));
        assert!(left.is_empty(), "{dir}: {left:?}");
    }
}

/// Destroys `node` and checks the host holds nothing of it.
fn destroy_leaves_nothing_on_the_host(node: &RealNode) {
    let out = node.destroy();
    assert!(out.status.success(), "{}", real_node::text(&out));
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&format!("kstb-{} ", node.name)),
        "{}",
        String::from_utf8_lossy(&netns.stdout)
    );
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap() {
        let cg = h.unwrap().path().join(format!("kstb-{}", node.name));
        assert!(!cg.exists(), "{} left", cg.display());
    }
}

#[test]
fn a_second_control_plane_joins_the_addons_run_and_reset_leaves_nothing() {
    kube_bin();
    let _one = real_node::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let cp1 = RealNode::create("cp1", &dir.path().join("cp1"), "10.231.0.40");
    let config = write_config(&cp1, "controlPlaneEndpoint: 10.231.0.40:6443\n");
    let init = run(
        init(&cp1, &config, &["--upload-certs", "--certificate-key", KEY]),
        Duration::from_secs(300),
    );
    assert_eq!(init.code, Some(0), "{:#?}\n{}", init.events, init.stderr);
    // A second control plane right after init, its kubelet started by the hook: etcd-join
    // waits for cp1's etcd mirror pod (its kubelet posts it after the Node registers) and
    // reads the member's client URL there; the member is added and healthy, cp2's static pods
    // run, both API servers serve.
    let cp2 = RealNode::create("cp2", &dir.path().join("cp2"), "10.231.0.41");
    let hash = ca_hash(&cp1.root);
    let mut cmd = cp2.kubestrap();
    cmd.args(["join", "10.231.0.40:6443", "-o", "json", "--root"])
        .arg(&cp2.root)
        .args(["--control-plane", "--certificate-key", KEY])
        .args(["--token", TOKEN, "--discovery-token-ca-cert-hash", &hash])
        .args(["--apiserver-advertise-address", "10.231.0.41"])
        .args(["--node-name", "cp2", "--cri-socket", CRI_SOCKET])
        .args(["--ignore-preflight-errors", IGNORED_PREFLIGHT]);
    let join = run(cmd, Duration::from_secs(300));
    assert_eq!(join.code, Some(0), "{:#?}\n{}", join.events, join.stderr);
    // Joined nodes carry kubeadm's CRI-socket annotation, in kubeadm 1.20's path form, so that
    // kubeadm's upgrade, certs and reset accept them (GetNodeRegistration).
    let (_, socket) = cp1.kubectl(&[
        "get",
        "node",
        "cp2",
        "-o",
        r"jsonpath={.metadata.annotations.kubeadm\.alpha\.kubernetes\.io/cri-socket}",
    ]);
    assert_eq!(socket, "/run/containerd/containerd.sock");
    let from_pods = "etcd client URLs from the etcd pods: https://10.231.0.40:2379";
    assert!(
        join.events.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(from_pods))),
        "{:#?}",
        join.events
    );
    wait_until(
        "cp1's control plane Ready",
        Duration::from_secs(180),
        || control_plane_ready(&cp1, "cp1"),
    );

    // The addons: kube-proxy runs from the test bed's image; CoreDNS's pods are scheduled and
    // the kubelet pulls exactly the image kubestrap configured (none exists here).
    wait_until("kube-proxy on cp1", Duration::from_secs(240), || {
        kube_proxy_runs_on(&cp1, &["cp1"])
    });
    let (_, image) = cp1.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "deployment",
        "coredns",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, COREDNS_IMAGE);
    wait_until(
        "the kubelet's pull of CoreDNS's image",
        Duration::from_secs(120),
        || {
            let (_, events) = cp1.kubectl(&["-n", "kube-system", "get", "events"]);
            if events.contains(&format!("Failed to pull image \"{COREDNS_IMAGE}\"")) {
                Ok(())
            } else {
                Err(events)
            }
        },
    );

    let members = etcd(&cp1, "10.231.0.40", "/v3/cluster/member/list", true);
    let names: Vec<&str> = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{members}");
    assert!(
        names.contains(&"cp1") && names.contains(&"cp2"),
        "{members}"
    );
    for ip in ["10.231.0.40", "10.231.0.41"] {
        assert_eq!(etcd(&cp1, ip, "/health", false)["health"], "true", "{ip}");
        let (ok, readyz) = cp1.kubectl(&[
            "--server",
            &format!("https://{ip}:6443"),
            "get",
            "--raw",
            "/readyz",
        ]);
        assert!(ok && readyz == "ok", "{ip}: {readyz}");
    }
    wait_until(
        "cp2's control plane Ready",
        Duration::from_secs(240),
        || control_plane_ready(&cp1, "cp2"),
    );
    wait_until("kube-proxy on both nodes", Duration::from_secs(120), || {
        kube_proxy_runs_on(&cp1, &["cp1", "cp2"])
    });

    // kubeadm 1.20's ClusterStatus lists both control planes; reset's update-cluster-status
    // takes cp2 out again (kubeadm's ResetClusterStatusForNode).
    let cluster_status = || {
        cp1.kubectl(&[
            "-n",
            "kube-system",
            "get",
            "configmap",
            "kubeadm-config",
            "-o",
            "jsonpath={.data.ClusterStatus}",
        ])
        .1
    };
    let status = cluster_status();
    assert!(
        status.contains("cp1:") && status.contains("cp2:"),
        "{status}"
    );

    // Reset of each node: cp2 leaves etcd (one member again) and ClusterStatus, then cp1.
    reset_leaves_nothing(&cp2);
    let status = cluster_status();
    assert!(
        status.contains("cp1:") && !status.contains("cp2:"),
        "{status}"
    );
    let members = etcd(&cp1, "10.231.0.40", "/v3/cluster/member/list", true);
    assert_eq!(
        members["members"].as_array().map(Vec::len),
        Some(1),
        "{members}"
    );
    reset_leaves_nothing(&cp1);
    destroy_leaves_nothing_on_the_host(&cp2);
    destroy_leaves_nothing_on_the_host(&cp1);
}

#[test]
fn an_init_killed_while_the_kubelet_starts_the_static_pods_resumes() {
    use std::io::BufRead;
    kube_bin();
    let _one = real_node::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let node = RealNode::create("rs1", &dir.path().join("rs1"), "10.231.0.50");
    let config = write_config(&node, "");

    // Killed as wait-control-plane starts: the kubelet (started early, right after its own
    // files) is pulling up the static pods whose manifests init has just written.
    let mut child = init(&node, &config, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.contains("\"phase_started\"") && line.contains("\"wait-control-plane\"");
        seen.push(line);
        if done {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "init was killed: {seen:#?}");
    assert!(node.kubelet_pid().is_some(), "the kubelet runs on");

    // The next init resumes at wait-control-plane, and the control plane comes up.
    let again = run(init(&node, &config, &[]), Duration::from_secs(300));
    assert_eq!(again.code, Some(0), "{:#?}\n{}", again.events, again.stderr);
    let started = again.phases("phase_started", None);
    assert_eq!(
        started.first().map(String::as_str),
        Some("wait-control-plane"),
        "{started:?}"
    );
    let (ok, readyz) = node.kubectl(&["get", "--raw", "/readyz"]);
    assert!(ok && readyz == "ok", "{readyz}");
    wait_until("the control plane Ready", Duration::from_secs(180), || {
        control_plane_ready(&node, "rs1")
    });
}
