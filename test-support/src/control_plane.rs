//! A real control plane for API tests: the rendered manifests' etcd, kube-apiserver and
//! kube-controller-manager v1.20.2 started from their `command` lists on a simulated node.
//! A missing binary fails the test, it never skips it.

use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubestrap_phases::config::KubernetesVersion;
use kubestrap_phases::domain::pki::PkiContext;
use kubestrap_phases::domain::pki::kubeconfig::KubeconfigName;
use kubestrap_phases::domain::static_pod::Pod;
use kubestrap_phases::phases::kubeconfig;
use kubestrap_phases::{HostFs, InitContext};

use crate::static_pods::{init_context, init_steps, run_steps};

pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// The exit status, once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(30);
        format!("--- {} log ---\n{}", self.name, lines[start..].join("\n"))
    }
}

/// The test bed's binaries: etcd from Debian, the kube-* ones where scripts/testbed/env.sh
/// says (`KUBESTRAP_KUBE_BIN`), else in install.sh's default cache.
fn binary(name: &str) -> PathBuf {
    let path = match name {
        "etcd" => PathBuf::from("/usr/bin/etcd"),
        other => std::env::var_os("KUBESTRAP_KUBE_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var("HOME").unwrap();
                Path::new(&home).join(".cache/kubestrap/kube-v1.20.2")
            })
            .join(other),
    };
    assert!(
        path.exists(),
        "{} is required (scripts/testbed/install.sh, apt-get install etcd-server)",
        path.display()
    );
    path
}

pub fn read_pod(manifest: &Path) -> Pod {
    Pod::from_yaml(&std::fs::read_to_string(manifest).unwrap()).unwrap()
}

/// Starts the static pod of `manifest` as a process, its output in `<logs>/<pod>.log`.
pub fn start(manifest: &Path, logs: &Path) -> Proc {
    start_pod(&read_pod(manifest), logs)
}

/// Starts a pod's command as the kubelet would start the container: hostPath volumes of type
/// DirectoryOrCreate exist first.
pub fn start_pod(pod: &Pod, logs: &Path) -> Proc {
    for v in &pod.spec.volumes {
        if v.host_path.kind == "DirectoryOrCreate" {
            std::fs::create_dir_all(&v.host_path.path).unwrap();
        }
    }
    let cmd = &pod.container().unwrap().command;
    let log = logs.join(format!("{}.log", pod.metadata.name));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(binary(&cmd[0]))
        .args(&cmd[1..])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    Proc {
        name: pod.metadata.name.clone(),
        child,
        log,
    }
}

pub fn curl(args: &[&str]) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .args(args)
        .output()
        .expect("curl is required");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Polls `check` every 300 ms until it returns Ok; fails with the processes' logs (and which
/// of them exited) after `limit` or as soon as one exits.
pub fn wait_for<P: BorrowMut<Proc>>(
    what: &str,
    limit: Duration,
    procs: &mut [P],
    mut check: impl FnMut() -> Result<String, String>,
) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let last = check();
        if let Ok(body) = &last {
            return body.clone();
        }
        let dead: Vec<String> = procs
            .iter_mut()
            .filter_map(|p| {
                let p = p.borrow_mut();
                p.exited()
                    .map(|s| format!("{} exited: {s}\n{}", p.name, p.log_tail()))
            })
            .collect();
        if !dead.is_empty() || Instant::now() > deadline {
            let logs: Vec<String> = procs.iter().map(|p| p.borrow().log_tail()).collect();
            panic!(
                "{what}: not ready ({last:?})\n{}\n{}",
                dead.join("\n"),
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A running control plane on `ip` under `root`, with its processes.
pub struct ControlPlane {
    pub ctx: InitContext,
    pub ip: String,
    pub root: PathBuf,
    pub procs: Vec<Proc>,
}

impl ControlPlane {
    pub fn kubeconfig(&self, name: &str) -> PathBuf {
        self.root.join("etc/kubernetes").join(name)
    }
    pub fn ca(&self) -> PathBuf {
        self.root.join("etc/kubernetes/pki/ca.crt")
    }
}

/// Renders certs, kubeconfigs and manifests for `ip`, then starts etcd, the API server
/// (waits for /readyz) and the controller-manager (waits for /healthz).
pub async fn start_control_plane(root: &Path, ip: &str) -> ControlPlane {
    let ctx = init_context(root, "v1.20.2", ip, "");
    run_steps(&ctx, &init_steps()).await;
    start_rendered(root, ip, ctx)
}

/// Like [`start_control_plane`], with the admin credentials kubeadm makes from 1.29: admin.conf
/// in group kubeadm:cluster-admins (powerless until ClusterRoleBinding kubeadm:cluster-admins
/// exists) and super-admin.conf in system:masters. The only v1.20.2 API server here runs the
/// same RBAC, so this is how the admin binding's making is tested end to end.
pub async fn start_control_plane_with_split_admins(root: &Path, ip: &str) -> ControlPlane {
    let ctx = init_context(root, "v1.20.2", ip, "");
    run_steps(&ctx, &init_steps()).await;
    let mut spec = ctx.pki().clone();
    spec.kubernetes_version = KubernetesVersion::new(1, 29, 0);
    std::fs::remove_file(KubeconfigName::Admin.path(&spec)).unwrap();
    crate::pki::run_steps(
        &crate::pki::ctx(spec),
        &HostFs::real(),
        &kubeconfig::phases(),
    )
    .await
    .unwrap_or_else(|(phase, e)| panic!("{phase}: {e}"));
    start_rendered(root, ip, ctx)
}

fn start_rendered(root: &Path, ip: &str, ctx: InitContext) -> ControlPlane {
    let manifests = root.join("etc/kubernetes/manifests");
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let pki = root.join("etc/kubernetes/pki");
    let mut procs = vec![start(&manifests.join("etcd.yaml"), &logs)];
    let p = |f: &str| pki.join(f).display().to_string();
    wait_for("etcd /health", Duration::from_secs(30), &mut procs, || {
        curl(&[
            "--cacert",
            &p("etcd/ca.crt"),
            "--cert",
            &p("etcd/healthcheck-client.crt"),
            "--key",
            &p("etcd/healthcheck-client.key"),
            &format!("https://{ip}:2379/health"),
        ])
        .and_then(|b| if b.contains("true") { Ok(b) } else { Err(b) })
    });
    procs.push(start(&manifests.join("kube-apiserver.yaml"), &logs));
    wait_for(
        "kube-apiserver /readyz",
        Duration::from_secs(120),
        &mut procs,
        || {
            curl(&[
                "--cacert",
                &p("ca.crt"),
                &format!("https://{ip}:6443/readyz"),
            ])
            .and_then(|b| if b.trim() == "ok" { Ok(b) } else { Err(b) })
        },
    );
    procs.push(start(
        &manifests.join("kube-controller-manager.yaml"),
        &logs,
    ));
    wait_for(
        "kube-controller-manager /healthz",
        Duration::from_secs(60),
        &mut procs,
        || {
            curl(&["-k", &format!("https://{ip}:10257/healthz")])
                .and_then(|b| if b.trim() == "ok" { Ok(b) } else { Err(b) })
        },
    );
    ControlPlane {
        ctx,
        ip: ip.to_string(),
        root: root.to_path_buf(),
        procs,
    }
}
