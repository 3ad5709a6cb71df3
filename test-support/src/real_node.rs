//! Real nodes (scripts/testbed/node/node): a network namespace on the test bed's bridge, the
//! node's own containerd, and the real kubelet v1.20.2 that kubestrap starts through the
//! node's service hook. Each [`RealNode`] is destroyed when dropped, leaving nothing on the host.
//!
//! Real nodes are heavy (two cores run a whole control plane per node): tests that make them
//! hold [`exclusive`] so that they run one at a time.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::bed::kube_bin;

/// The CRI socket of every real node (containerd's, under the node root).
pub const CRI_SOCKET: &str = "unix:///run/containerd/containerd.sock";
/// The preflight check a test machine cannot meet (Debian's minimal install has no conntrack).
pub const IGNORED_PREFLIGHT: &str = "FileExisting-conntrack";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn node_script() -> PathBuf {
    repo().join("scripts/testbed/node/node")
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held while a test runs real nodes.
pub fn exclusive() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The test bed's images (scripts/testbed/node/images.sh; cached after the first build).
pub fn images() -> PathBuf {
    let out = Command::new(repo().join("scripts/testbed/node/images.sh"))
        .arg(kube_bin())
        .output()
        .expect("scripts/testbed/node/images.sh runs");
    assert!(
        out.status.success(),
        "images.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default(),
    )
}

/// One real node; destroyed (processes, cgroups, namespaces) when dropped.
pub struct RealNode {
    pub name: String,
    pub root: PathBuf,
    pub ip: String,
}

impl RealNode {
    /// `node create NAME ROOT IP`; ROOT is created. A node of that name left by a run that
    /// was killed before it could destroy it is destroyed first.
    pub fn create(name: &str, root: &Path, ip: &str) -> Self {
        Self::create_with(name, root, ip, &[])
    }

    /// `node create NAME ROOT IP --system-paths`: inside the node, /etc/kubernetes,
    /// /var/lib/kubelet and /var/lib/etcd are ROOT's, so a tool without `--root` (kubeadm, or
    /// kubestrap with `--root /`) writes the node's files where a real machine has them.
    pub fn create_with_system_paths(name: &str, root: &Path, ip: &str) -> Self {
        Self::create_with(name, root, ip, &["--system-paths"])
    }

    fn create_with(name: &str, root: &Path, ip: &str, options: &[&str]) -> Self {
        std::fs::create_dir_all(root).unwrap();
        if Path::new(&format!("/run/netns/kstb-{name}")).exists() {
            let left = std::fs::read_to_string(format!("/run/kubestrap-testbed/nodes/{name}"))
                .unwrap_or_default();
            assert!(
                !left.trim().is_empty(),
                "node {name} is left from an earlier run, with no record of its root: scripts/testbed/node/node destroy {name} ROOT"
            );
            eprintln!("node {name} is left from an earlier run (root {left}): destroying it");
            let out = Command::new(node_script())
                .args(["destroy", name])
                .arg(left.trim())
                .output()
                .unwrap();
            assert!(out.status.success(), "node destroy {name}: {}", text(&out));
        }
        let out = Command::new(node_script())
            .args(["create", name])
            .arg(root)
            .arg(ip)
            .args(options)
            .env("KUBESTRAP_KUBE_BIN", kube_bin())
            .env("KUBESTRAP_IMAGES", images())
            .output()
            .unwrap();
        let node = Self {
            name: name.into(),
            root: root.into(),
            ip: ip.into(),
        };
        assert!(
            out.status.success(),
            "node create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        node
    }

    /// `program` inside the node (its network and mount namespaces), with the kubelet on PATH
    /// (preflight's KubeletVersion check runs it).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(node_script());
        let path = format!(
            "{}:{}",
            kube_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.args(["exec", &self.name])
            .arg(program)
            .env("PATH", path);
        cmd
    }

    /// The kubestrap binary under test, inside the node.
    pub fn kubestrap(&self) -> Command {
        self.command(assert_cmd::cargo::cargo_bin("kubestrap"))
    }

    /// kubectl with this node's admin.conf, inside the node: whether it succeeded, and its
    /// output (stdout, then stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = self
            .command("kubectl")
            .arg("--kubeconfig")
            .arg(self.root.join("etc/kubernetes/admin.conf"))
            .args(["--request-timeout", "10s"])
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), text(&out))
    }

    /// The node's containerd socket, as a path on the host.
    pub fn socket(&self) -> PathBuf {
        self.root.join("run/containerd/containerd.sock")
    }

    /// The containers the node's containerd holds (`ctr -n k8s.io containers ls -q`).
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["-n", "k8s.io", "containers", "ls", "-q"])
            .output()
            .unwrap();
        assert!(out.status.success(), "ctr: {}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The pid of the node's kubelet, while one runs.
    pub fn kubelet_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.root.join("run/testbed/kubelet.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    /// The mount points under the node root, as the node (its containerd and kubelet) sees them.
    pub fn mounts_under_root(&self) -> Vec<String> {
        let pid = std::fs::read_to_string(self.root.join("run/testbed/containerd.pid"))
            .unwrap_or_default();
        let info =
            std::fs::read_to_string(format!("/proc/{}/mountinfo", pid.trim())).unwrap_or_default();
        let root = self.root.display().to_string();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&format!("{root}/")))
            .map(str::to_string)
            .collect()
    }

    /// Every process in the node's cgroups (containerd, its shims, the kubelet, containers).
    pub fn processes(&self) -> Vec<u32> {
        let base = PathBuf::from(format!("/sys/fs/cgroup/pids/kstb-{}", self.name));
        let mut pids: Vec<u32> = crate::cli::files_under(&base)
            .iter()
            .filter(|p| p.ends_with("cgroup.procs"))
            .flat_map(|p| {
                std::fs::read_to_string(base.join(p))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Restarts or stops the node's kubelet through its service hook, as kubestrap does.
    pub fn service(&self, verb: &str) {
        let out = Command::new(self.root.join("etc/kubestrap/node-service"))
            .args([verb, "kubelet"])
            .env("KUBESTRAP_ROOT", &self.root)
            .output()
            .unwrap();
        assert!(out.status.success(), "node-service {verb}: {}", text(&out));
    }

    /// Switches the node's kubelet to `dir`/kubelet (`node kubelet-bin`; e.g.
    /// [`kube_bin_next`](crate::bed::kube_bin_next)) and restarts it through the node's
    /// service hook, as an operator upgrading the kubelet package and then running
    /// `systemctl restart kubelet` would. Every later restart (kubestrap's too) runs it.
    /// [`command`](Self::command)'s PATH is unchanged (still [`kube_bin`]'s binaries).
    pub fn use_kubelet_from(&self, dir: &Path) {
        let out = Command::new(node_script())
            .args(["kubelet-bin", &self.name])
            .arg(&self.root)
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "node kubelet-bin {}: {}",
            self.name,
            text(&out)
        );
        self.service("restart");
    }

    /// Runs `cmd` (a kubeadm or kubestrap that cannot start this node's kubelet itself: no
    /// systemd here) and starts the kubelet through the node's service hook as soon as the
    /// files it starts from exist (config.yaml, kubeadm-flags.env, and kubelet.conf or
    /// bootstrap-kubelet.conf), as systemd's restart loop would; returns the command's output.
    pub fn run_starting_kubelet(&self, mut cmd: Command, within: Duration) -> Output {
        let kubelet = self.root.join("var/lib/kubelet");
        let kubernetes = self.root.join("etc/kubernetes");
        let ready = || {
            kubelet.join("config.yaml").exists()
                && kubelet.join("kubeadm-flags.env").exists()
                && (kubernetes.join("kubelet.conf").exists()
                    || kubernetes.join("bootstrap-kubelet.conf").exists())
        };
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Drain the pipes while polling, so that a chatty tool never blocks on a full pipe.
        let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let _ = pipe.read_to_end(&mut out);
                out
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let start = Instant::now();
        let mut started = false;
        let status = loop {
            if !started && ready() {
                self.service("restart");
                started = true;
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > within {
                let _ = child.kill();
                panic!("{cmd:?} did not finish within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }

    /// `node destroy`, then nothing of the node may be left on the host.
    pub fn destroy(&self) -> Output {
        Command::new(node_script())
            .args(["destroy", &self.name])
            .arg(&self.root)
            .output()
            .unwrap()
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        let out = self.destroy();
        if !out.status.success() {
            eprintln!("node destroy {} failed: {}", self.name, text(&out));
        }
    }
}

/// A cluster of two real nodes: `kubestrap init` on `cp` ([`init_config`], `token`), then the
/// default `kubestrap join` of `worker` with the same token; both must exit 0. Returns once
/// the worker's Node is registered (its kubelet finished its TLS bootstrap).
pub fn init_and_join(cp: &RealNode, worker: &RealNode, token: &str) {
    let config = cp.root.with_extension("yaml");
    std::fs::write(&config, init_config(&cp.ip, &cp.name, "")).unwrap();
    let out = cp
        .kubestrap()
        .args(["init", "--root"])
        .arg(&cp.root)
        .arg("--config")
        .arg(&config)
        .args([
            "--token",
            token,
            "--ignore-preflight-errors",
            IGNORED_PREFLIGHT,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", text(&out));
    let out = worker
        .kubestrap()
        .args(["join", &format!("{}:6443", cp.ip), "--root"])
        .arg(&worker.root)
        .args([
            "--token",
            token,
            "--discovery-token-ca-cert-hash",
            &crate::bed::ca_hash(&cp.root),
        ])
        .args(["--node-name", &worker.name, "--cri-socket", CRI_SOCKET])
        .args(["--ignore-preflight-errors", IGNORED_PREFLIGHT])
        .output()
        .unwrap();
    assert!(out.status.success(), "join: {}", text(&out));
    wait_until(
        &format!("Node {}", worker.name),
        Duration::from_secs(120),
        || {
            let (ok, out) = cp.kubectl(&["get", "node", &worker.name]);
            if ok { Ok(()) } else { Err(out) }
        },
    );
}

/// stdout then stderr, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits until `check` returns `Ok`, up to `within`; panics with what it last said.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => {
                eprintln!("{what}: after {:?}", start.elapsed());
                return;
            }
            Err(last) if start.elapsed() >= within => {
                panic!("{what}: not within {within:?}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The components' settings every real node needs (scripts/testbed/node/node-settings.yaml,
/// which scripts/testbed/up and scripts/bench-init append too).
const NODE_SETTINGS: &str = include_str!("../../scripts/testbed/node/node-settings.yaml");

/// The kubestrap configuration of a real node running v1.20.2 (what scripts/testbed/up
/// writes too): the node's address and name, containerd's socket, the test bed's images, and
/// [`NODE_SETTINGS`].
pub fn init_config(ip: &str, name: &str, cluster_extra: &str) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {ip}
nodeRegistration:
  name: {name}
  criSocket: {CRI_SOCKET}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
imageRepository: k8s.gcr.io
{cluster_extra}{NODE_SETTINGS}"
    )
}
