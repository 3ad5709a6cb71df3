//! The rendered manifests start the real binaries: etcd 3.4 (/usr/bin/etcd), and the test
//! bed's kube-apiserver and kube-controller-manager v1.20.2, each run with exactly the
//! `command` of its manifest, on a simulated node (its own root and 127.0.0.x address). The
//! API server must answer /readyz over TLS verified with the cluster CA, and the
//! controller-manager /healthz on its secure port.

mod static_pod_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kubestrap_phases::static_pod::Pod;
use static_pod_support::*;

struct Proc {
    name: String,
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
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(30);
        format!("--- {} log ---\n{}", self.name, lines[start..].join("\n"))
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

fn binary(name: &str) -> PathBuf {
    let path = match name {
        "etcd" => PathBuf::from("/usr/bin/etcd"),
        other => {
            let home = std::env::var("HOME").unwrap();
            Path::new(&home)
                .join(".cache/kubestrap/kube-v1.20.2")
                .join(other)
        }
    };
    assert!(
        path.exists(),
        "{} is required (scripts/testbed/install.sh, apt-get install etcd-server)",
        path.display()
    );
    path
}

/// Starts a manifest's command as the kubelet would start the container: hostPath volumes
/// of type DirectoryOrCreate exist first.
fn start(pod: &Pod, logs: &Path) -> Proc {
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

fn read_pod(path: &Path) -> Pod {
    Pod::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn curl(args: &[&str]) -> Result<String, String> {
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

/// Polls until `check` returns Some, failing with the processes' logs after `limit`.
fn wait_for(
    what: &str,
    limit: Duration,
    procs: &mut [&mut Proc],
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
                p.exited()
                    .map(|s| format!("{} exited: {s}\n{}", p.name, p.log_tail()))
            })
            .collect();
        if !dead.is_empty() || Instant::now() > deadline {
            let logs: Vec<String> = procs.iter().map(|p| p.log_tail()).collect();
            panic!(
                "{what}: not ready ({last:?})\n{}\n{}",
                dead.join("\n"),
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_start_real_etcd_apiserver_and_controller_manager() {
    let ip = "127.0.0.41";
    let root = tempfile::tempdir().unwrap();
    let ctx = init_context(
        root.path(),
        "v1.20.2",
        ip,
        "networking:\n  podSubnet: 10.244.0.0/16\n",
    );
    run_steps(&ctx, &init_steps()).await;
    let manifests = root.path().join("etc/kubernetes/manifests");
    let pki = root.path().join("etc/kubernetes/pki");
    let logs = root.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();

    let mut etcd = start(&read_pod(&manifests.join("etcd.yaml")), &logs);
    let etcd_ca = pki.join("etcd/ca.crt");
    let hc = |f: &str| pki.join(f).display().to_string();
    wait_for(
        "etcd /health",
        Duration::from_secs(30),
        &mut [&mut etcd],
        || {
            curl(&[
                "--cacert",
                &etcd_ca.display().to_string(),
                "--cert",
                &hc("etcd/healthcheck-client.crt"),
                "--key",
                &hc("etcd/healthcheck-client.key"),
                &format!("https://{ip}:2379/health"),
            ])
            .and_then(|b| {
                if b.contains("\"health\":\"true\"") {
                    Ok(b)
                } else {
                    Err(b)
                }
            })
        },
    );
    // The etcd probe's endpoint (metrics listener) answers plain HTTP, as the kubelet asks.
    let etcd_pod = read_pod(&manifests.join("etcd.yaml"));
    let probe = &etcd_pod
        .container()
        .unwrap()
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get;
    let body = curl(&[&format!(
        "http://{}:{}{}",
        probe.host, probe.port, probe.path
    )])
    .unwrap();
    assert!(body.contains("true"), "etcd probe answered {body}");

    let mut apiserver = start(&read_pod(&manifests.join("kube-apiserver.yaml")), &logs);
    let ca = pki.join("ca.crt").display().to_string();
    let ready = wait_for(
        "kube-apiserver /readyz",
        Duration::from_secs(120),
        &mut [&mut etcd, &mut apiserver],
        || {
            curl(&["--cacert", &ca, &format!("https://{ip}:6443/readyz")])
                .and_then(|b| if b.trim() == "ok" { Ok(b) } else { Err(b) })
        },
    );
    assert_eq!(ready.trim(), "ok");
    // --insecure-port=0 (v1.20): nothing listens on 8080 of this address.
    assert!(curl(&[&format!("http://{ip}:8080/healthz")]).is_err());

    let mut cm = start(
        &read_pod(&manifests.join("kube-controller-manager.yaml")),
        &logs,
    );
    let healthz = wait_for(
        "kube-controller-manager /healthz",
        Duration::from_secs(60),
        &mut [&mut etcd, &mut apiserver, &mut cm],
        || {
            curl(&["-k", &format!("https://{ip}:10257/healthz")])
                .and_then(|b| if b.trim() == "ok" { Ok(b) } else { Err(b) })
        },
    );
    assert_eq!(healthz.trim(), "ok");
    // The controller-manager reached the API server with its kubeconfig: it holds the lease.
    // (super-admin.conf: admin.conf's group gets its binding only in a later phase.)
    let admin = root.path().join("etc/kubernetes/super-admin.conf");
    let lease = wait_for(
        "controller-manager leader lease",
        Duration::from_secs(60),
        &mut [&mut etcd, &mut apiserver, &mut cm],
        || {
            let out = Command::new("kubectl")
                .args([
                    "--kubeconfig",
                    admin.to_str().unwrap(),
                    "-n",
                    "kube-system",
                    "get",
                    "lease",
                    "kube-controller-manager",
                    "-o",
                    "jsonpath={.spec.holderIdentity}",
                ])
                .output()
                .map_err(|e| e.to_string())?;
            let s = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && !s.is_empty() {
                Ok(s)
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        },
    );
    assert!(!lease.is_empty());
}
