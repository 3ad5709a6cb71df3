//! The real-control-plane test bed for the binary's end-to-end tests: etcd 3.4 and
//! kube-apiserver, kube-controller-manager, kube-scheduler v1.20.2 run from kubestrap's
//! manifests by the kubelet stand-in (`kubestrap-testbed`). Each test module has its own
//! loopback addresses (named at its top) and its own node roots.
//! A missing binary fails the tests, never skips them (scripts/test installs the bed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kubestrap_testbed::{Runner, RunnerConfig};

use crate::kubeadm_config;

/// The preflight checks a test machine cannot meet (no container runtime, kubelet, conntrack,
/// iptables; IP forwarding off).
pub const IGNORED_PREFLIGHT: &str = "CRI,KubeletVersion,FileExisting-conntrack,FileExisting-iptables,FileContent--proc-sys-net-ipv4-ip_forward";

/// The directory `var` names, else `name` in install.sh's cache
/// (`${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}`).
fn cached_dir(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("KUBESTRAP_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kubestrap")
            });
        cache.join(name)
    })
}

pub fn kube_bin() -> PathBuf {
    let dir = cached_dir("KUBESTRAP_KUBE_BIN", "kube-v1.20.2");
    for b in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        assert!(
            dir.join(b).is_file(),
            "{} is missing: run scripts/testbed/install.sh (scripts/test does) or set KUBESTRAP_KUBE_BIN",
            dir.join(b).display()
        );
    }
    assert!(
        Command::new("etcd").arg("--version").output().is_ok(),
        "etcd is not on PATH: run scripts/testbed/install.sh (Debian's etcd-server)"
    );
    dir
}

/// The test bed's second version: the same Debian source as [`kube_bin`]'s, stamped v1.20.3
/// (not upstream v1.20.3; scripts/testbed/install.sh), for upgrade tests: kube-apiserver,
/// kube-controller-manager, kube-scheduler, kubeadm, kubelet and kube-proxy.
/// `KUBESTRAP_KUBE_BIN_NEXT` (scripts/testbed/env.sh sets it), else install.sh's cache.
pub fn kube_bin_next() -> PathBuf {
    let dir = cached_dir("KUBESTRAP_KUBE_BIN_NEXT", "kube-v1.20.3");
    for b in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubeadm",
        "kubelet",
        "kube-proxy",
    ] {
        assert!(
            dir.join(b).is_file(),
            "{} is missing: run scripts/testbed/install.sh (scripts/test does) or set KUBESTRAP_KUBE_BIN_NEXT",
            dir.join(b).display()
        );
    }
    dir
}

/// The kubelet stand-in for `root`; stops every pod when dropped.
pub fn stand_in(root: &Path) -> Runner {
    Runner::start(stand_in_config(root)).unwrap()
}

/// [`stand_in`] that restarts an exited pod after a second, as the kubelet does: for tests
/// that take the API server away (kube-controller-manager exits when its lease lapses).
pub fn restarting_stand_in(root: &Path) -> Runner {
    let mut config = stand_in_config(root);
    config.restart_after = Some(Duration::from_secs(1));
    Runner::start(config).unwrap()
}

fn stand_in_config(root: &Path) -> RunnerConfig {
    let mut config = RunnerConfig::new(root);
    config.path_prefix = vec![kube_bin()];
    config.poll_interval = Duration::from_millis(200);
    config.stop_grace = Duration::from_secs(3);
    config
}

/// A v1beta4 config with the wait timeout (no flag for it) and the API call timeout, kept
/// outside the node root.
pub fn config_file(dir: &Path, health: &str, api_call: &str) -> PathBuf {
    kubeadm_config::init()
        .timeout("controlPlaneComponentHealthCheck", health)
        .timeout("kubernetesAPICall", api_call)
        .write(dir.join("kubestrap.yaml"))
}

/// `kubestrap init -o json` for node `n1` on `advertise:port`, the pending phases skipped.
pub fn init_command(root: &Path, advertise: &str, port: u16, config: &Path) -> Command {
    init_command_ignoring(root, advertise, port, config, IGNORED_PREFLIGHT)
}

/// [`init_command`] with another list of preflight checks to ignore.
pub fn init_command_ignoring(
    root: &Path,
    advertise: &str,
    port: u16,
    config: &Path,
    ignore_preflight: &str,
) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("kubestrap"));
    cmd.args(["init", "-o", "json", "--root"])
        .arg(root)
        .args(["--apiserver-advertise-address", advertise])
        .args(["--apiserver-bind-port", &port.to_string()])
        .args(["--node-name", "n1", "--kubernetes-version", "v1.20.2"])
        .args(["--ignore-preflight-errors", ignore_preflight])
        // A fixed token: every run after the first finds it in place.
        .args(["--token", "abcdef.0123456789abcdef", "--config"])
        .arg(config);
    cmd
}

/// kubectl with `kubeconfig`: whether it succeeded, and what it printed (stdout + stderr).
pub fn kubectl_as(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .args(["--request-timeout", "10s"])
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// kubectl as the node's admin: v1.20's admin.conf is in system:masters, so it works from the
/// API server's first answer.
pub fn kubectl(root: &Path, args: &[&str]) -> String {
    kubectl_as(&root.join("etc/kubernetes/admin.conf"), args).1
}

/// Registers Node `name` as a kubelet would, once the node's API server answers: no kubelet
/// runs here, and mark-control-plane waits for the Node. Like the kubelet, it authenticates
/// with the node's kubelet.conf (`system:node:<name>`, through the Node authorizer and the
/// NodeRestriction admission plugin), so the init under test must have written a kubelet.conf
/// the API server accepts for that node. Gives up after `within`; the thread says whether it
/// registered.
pub fn register_node_when_up(
    root: &Path,
    name: &str,
    within: Duration,
) -> std::thread::JoinHandle<bool> {
    // The Node's YAML goes beside the root, not in it: tests check what is left under it.
    let beside = root.parent().unwrap();
    register_node(
        root.join("etc/kubernetes/kubelet.conf"),
        name,
        beside,
        within,
    )
}

/// [`register_node_when_up`] with any `kubeconfig` (created once it exists), the Node's YAML
/// written in `dir`.
pub fn register_node(
    kubeconfig: PathBuf,
    name: &str,
    dir: &Path,
    within: Duration,
) -> std::thread::JoinHandle<bool> {
    let node = dir.join(format!("node-{name}-{}.yaml", std::process::id()));
    std::fs::write(
        &node,
        format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n"),
    )
    .unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if kubeconfig.exists() {
                let (ok, out) = kubectl_as(&kubeconfig, &["create", "-f", node.to_str().unwrap()]);
                if ok || out.contains("AlreadyExists") {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        false
    })
}

/// The pin of the node's CA, as `--discovery-token-ca-cert-hash` takes it.
pub fn ca_hash(root: &Path) -> String {
    let pem = std::fs::read(root.join("etc/kubernetes/pki/ca.crt")).unwrap();
    kubestrap_phases::domain::bootstrap_token::ca_cert_hash(Path::new("ca.crt"), &pem)
        .unwrap()
        .to_string()
}

/// Waits (up to a minute) until the bootstrap signer of the control plane on `root` has added
/// (`present`) or removed the signature for token id `id` in cluster-info.
pub fn wait_for_signature(root: &Path, id: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, data) = kubectl_as(
            &root.join("etc/kubernetes/admin.conf"),
            &[
                "get",
                "cm",
                "cluster-info",
                "-n",
                "kube-public",
                "-o",
                "jsonpath={.data}",
            ],
        );
        if ok && data.contains(&format!("jws-kubeconfig-{id}")) == present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "signature for {id} present={present} never seen: {data}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
