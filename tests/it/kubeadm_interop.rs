//! The real kubeadm v1.20.2 against kubestrap, both ways, on real nodes
//! (scripts/testbed/node/node --system-paths: inside the node, /etc/kubernetes and
//! /var/lib/kubelet are the node root's, so kubeadm, and kubestrap with `--root /`, write a
//! node's files where a machine has them). Neither tool can start a kubelet there (no
//! systemd): [`RealNode::run_starting_kubelet`] starts it as soon as its files exist.
//!
//! - kubeadm joins a worker to a cluster kubestrap made, and kubeadm's day-2 commands read
//!   that cluster (kubeadm-config as v1beta2 with ClusterStatus, kubelet-config-1.20, the
//!   Node's CRI-socket annotation: config/release.rs, config/stored.rs).
//! - kubestrap joins a worker to a cluster kubeadm made, lists its tokens, checks its
//!   certificates' expiration, and resets.
//!
//! Addresses (only inside the namespaces the test bed makes): 10.231.0.44 to .47.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use kubestrap_test_support::bed::{ca_hash, kube_bin};
use kubestrap_test_support::real_node::{
    self, CRI_SOCKET, IGNORED_PREFLIGHT, RealNode, init_config, text, wait_until,
};

const TOKEN: &str = "interp.0123456789abcdef";
const NODE_SETTINGS: &str = include_str!("../../scripts/testbed/node/node-settings.yaml");

fn kubeadm(node: &RealNode) -> Command {
    node.command(kube_bin().join("kubeadm"))
}

fn succeeded(what: &str, out: &Output) {
    assert!(out.status.success(), "{what} failed:\n{}", text(out));
}

/// kubectl inside `node` with `kubeconfig` (a path inside the node).
fn kubectl(node: &RealNode, kubeconfig: &str, args: &[&str]) -> (bool, String) {
    let out = node
        .command("kubectl")
        .args(["--kubeconfig", kubeconfig, "--request-timeout", "10s"])
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

/// The Node is Ready, asked through `admin` inside `cp`.
fn node_ready(cp: &RealNode, admin: &str, name: &str) -> Result<(), String> {
    let (ok, out) = kubectl(
        cp,
        admin,
        &[
            "get",
            "node",
            name,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
    );
    if ok && out.trim() == "True" {
        Ok(())
    } else {
        Err(out)
    }
}

/// The subject of the kubelet's client certificate on `node`, as RFC 2253 writes it.
fn kubelet_client_subject(node: &RealNode) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
        .arg(
            node.root
                .join("var/lib/kubelet/pki/kubelet-client-current.pem"),
        )
        .output()
        .unwrap();
    succeeded("openssl x509", &out);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn kubeadm_joins_a_worker_to_a_cluster_kubestrap_made_and_reads_it() {
    kube_bin();
    let _one = real_node::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let cp = RealNode::create_with_system_paths("ki1", &dir.path().join("ki1"), "10.231.0.44");
    let config = dir.path().join("ki1.yaml");
    std::fs::write(&config, init_config(&cp.ip, &cp.name, "")).unwrap();
    let mut init = cp.kubestrap();
    init.args(["init", "--root", "/", "--config"])
        .arg(&config)
        .args(["--token", TOKEN])
        .args(["--ignore-preflight-errors", IGNORED_PREFLIGHT]);
    succeeded(
        "kubestrap init",
        &cp.run_starting_kubelet(init, Duration::from_secs(300)),
    );
    let admin = "/etc/kubernetes/admin.conf";

    let worker = RealNode::create_with_system_paths("ki2", &dir.path().join("ki2"), "10.231.0.45");
    let mut join = kubeadm(&worker);
    join.args(["join", &format!("{}:6443", cp.ip), "--token", TOKEN])
        .args(["--discovery-token-ca-cert-hash", &ca_hash(&cp.root)])
        .args(["--node-name", &worker.name])
        .args(["--cri-socket", "/run/containerd/containerd.sock"])
        // kubeadm 1.20's preflight needs crictl, which Debian lacks (real-node.md).
        .args(["--skip-phases", "preflight", "-v", "1"]);
    let joined = worker.run_starting_kubelet(join, Duration::from_secs(300));
    succeeded("kubeadm join", &joined);
    assert!(
        text(&joined).contains("This node has joined the cluster"),
        "{}",
        text(&joined)
    );
    assert!(
        kubelet_client_subject(&worker).ends_with("CN=system:node:ki2,O=system:nodes"),
        "{}",
        kubelet_client_subject(&worker)
    );
    wait_until("worker ki2 Ready", Duration::from_secs(120), || {
        node_ready(&cp, admin, "ki2")
    });

    // kubeadm's day-2 commands on the control plane kubestrap made: they read kubeadm-config
    // (v1beta2 for 1.20) and the Node's CRI-socket annotation.
    let certs = kubeadm(&cp)
        .args(["certs", "check-expiration"])
        .output()
        .unwrap();
    succeeded("kubeadm certs check-expiration", &certs);
    assert!(
        text(&certs).contains("apiserver-etcd-client"),
        "{}",
        text(&certs)
    );
    let tokens = kubeadm(&cp).args(["token", "list"]).output().unwrap();
    succeeded("kubeadm token list", &tokens);
    assert!(text(&tokens).contains("interp."), "{}", text(&tokens));
    let config = kubeadm(&cp).args(["config", "view"]).output().unwrap();
    succeeded("kubeadm config view", &config);
    assert!(
        text(&config).contains("kubernetesVersion: v1.20.2"),
        "{}",
        text(&config)
    );
    // kubeadm's upgrade reads this node's registration: its Node's CRI-socket annotation
    // (GetNodeRegistration fails without it) and its API endpoint, then renders the manifests
    // of the target version next to the node's (upgrade/diff.go: FetchInitConfigurationFromCluster
    // with newControlPlane false, search index id 86874952).
    let diff = kubeadm(&cp)
        .args(["upgrade", "diff", "v1.20.2"])
        .output()
        .unwrap();
    succeeded("kubeadm upgrade diff", &diff);
}

#[test]
fn kubestrap_joins_a_worker_to_a_cluster_kubeadm_made() {
    kube_bin();
    let _one = real_node::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let cp = RealNode::create_with_system_paths("kk1", &dir.path().join("kk1"), "10.231.0.46");
    let config = dir.path().join("kk1.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta2
kind: InitConfiguration
bootstrapTokens:
- token: {TOKEN}
localAPIEndpoint:
  advertiseAddress: {}
nodeRegistration:
  name: {}
  criSocket: /run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
imageRepository: k8s.gcr.io
{NODE_SETTINGS}",
            cp.ip, cp.name
        ),
    )
    .unwrap();
    let mut init = kubeadm(&cp);
    init.args(["init", "--config"])
        .arg(&config)
        .args(["--skip-phases", "preflight"]);
    succeeded(
        "kubeadm init",
        &cp.run_starting_kubelet(init, Duration::from_secs(300)),
    );
    let admin = "/etc/kubernetes/admin.conf";

    // The default join: the worker's real kubelet bootstraps itself, started through the
    // node's service hook.
    let worker = RealNode::create("kk2", &dir.path().join("kk2"), "10.231.0.47");
    let out = worker
        .kubestrap()
        .args(["join", &format!("{}:6443", cp.ip), "--token", TOKEN])
        .args(["--discovery-token-ca-cert-hash", &ca_hash(&cp.root)])
        .args(["--node-name", &worker.name, "--cri-socket", CRI_SOCKET])
        .args(["--ignore-preflight-errors", IGNORED_PREFLIGHT, "--root"])
        .arg(&worker.root)
        .output()
        .unwrap();
    succeeded("kubestrap join", &out);
    assert!(
        kubelet_client_subject(&worker).ends_with("CN=system:node:kk2,O=system:nodes"),
        "{}",
        kubelet_client_subject(&worker)
    );
    wait_until("worker kk2 Ready", Duration::from_secs(120), || {
        node_ready(&cp, admin, "kk2")
    });

    // kubestrap's token commands on kubeadm's control plane, with kubeadm's admin.conf.
    let out = cp
        .kubestrap()
        .args(["token", "list", "--root", "/"])
        .output()
        .unwrap();
    succeeded("kubestrap token list", &out);
    assert!(text(&out).contains("interp"), "{}", text(&out));
    // kubestrap's certs commands read kubeadm's PKI: every certificate and kubeconfig listed,
    // none missing (kubeadm 1.20 makes no super-admin.conf, and none is expected of it).
    let out = cp
        .kubestrap()
        .args(["certs", "check-expiration", "--root", "/"])
        // The node has no default route to take an address from (kubestrap's certs commands
        // read the configuration init reads).
        .args(["--apiserver-advertise-address", &cp.ip])
        .output()
        .unwrap();
    succeeded("kubestrap certs check-expiration", &out);
    let table = text(&out);
    assert!(
        table.contains("admin.conf") && table.contains("apiserver-kubelet-client"),
        "{table}"
    );
    assert!(!table.contains("MISSING"), "{table}");

    // Reset of the kubestrap-joined worker leaves none of its pods' containers.
    let out = worker
        .kubestrap()
        .args(["reset", "--force", "--root"])
        .arg(&worker.root)
        .output()
        .unwrap();
    succeeded("kubestrap reset", &out);
    assert_eq!(worker.containers(), Vec::<String>::new());
    assert!(!Path::new(&worker.root.join("etc/kubernetes/kubelet.conf")).exists());
}

/// `kubestrap config images list` prints what the real kubeadm v1.20.2 prints, in text and as
/// JSON (kubeadm's object, on one line as every `-o json` output of kubestrap), with the
/// default registry and with another.
#[test]
fn config_images_list_prints_what_kubeadm_1_20_prints() {
    let kubeadm = kube_bin().join("kubeadm");
    for extra in [&[][..], &["--image-repository", "my.repo"][..]] {
        let args = [
            &[
                "config",
                "images",
                "list",
                "--kubernetes-version",
                "v1.20.2",
            ][..],
            extra,
        ]
        .concat();
        let theirs = Command::new(&kubeadm).args(&args).output().unwrap();
        succeeded("kubeadm config images list", &theirs);
        let ours = assert_cmd::Command::cargo_bin("kubestrap")
            .unwrap()
            .args(&args)
            .output()
            .unwrap();
        succeeded("kubestrap config images list", &ours);
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{args:?}"
        );
        let json = |out: Output| -> serde_json::Value {
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
        };
        let theirs = Command::new(&kubeadm)
            .args(&args)
            .args(["-o", "json"])
            .output()
            .unwrap();
        let ours = assert_cmd::Command::cargo_bin("kubestrap")
            .unwrap()
            .args(&args)
            .args(["-o", "json"])
            .output()
            .unwrap();
        assert_eq!(json(ours), json(theirs), "{args:?}");
    }
}
