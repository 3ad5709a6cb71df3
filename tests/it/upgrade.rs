//! `kubestrap upgrade` on real nodes (issue 16): a control plane made by `kubestrap init` and
//! a worker joined by `kubestrap join`, each with the real kubelet. In one cluster, in order:
//! 1. refusals — a skipped minor, a downgrade, an unknown version, a configuration that does
//!    not validate, an unhealthy cluster: each a clear error, exit 1, nothing changed;
//! 2. reconfiguration — a kube-apiserver flag added: the running process has it, the other
//!    components' containers were not restarted, kubeadm-config shows it;
//! 3. rollback — a flag that makes the API server exit: the backup is put back byte for byte,
//!    the control plane is healthy again, the error names kube-apiserver;
//! 4. SIGKILL at seeded random instants during applies (KUBESTRAP_UPGRADE_SEED replays a
//!    run): every re-run converges, at most one component is ever in flight, no etcd object
//!    is lost;
//! 5. the patch upgrade v1.20.2 → v1.20.3 (the test bed's second stamp of the same source) on
//!    the control plane and the worker: every component reports v1.20.3; an edited Corefile
//!    survives.
//!
//! The API server's unavailability during the reconfiguration (a /readyz probe every 100 ms)
//! and the apply's time are printed (`upgrade measure: …`).
//!
//! Addresses (only inside the namespaces the test bed makes): 10.231.0.74 and .75.

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kubestrap_test_support::bed::{kube_bin, kube_bin_next};
use kubestrap_test_support::real_node::{
    self, RealNode, init_and_join, init_config, text, wait_until,
};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

const TOKEN: &str = "upgrde.0123456789abcdef";
const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// `kubestrap upgrade ARGS --root <node's>` inside the node.
fn upgrade(node: &RealNode, args: &[&str]) -> Output {
    node.kubestrap()
        .arg("upgrade")
        .args(args)
        .arg("--root")
        .arg(&node.root)
        .output()
        .unwrap()
}

fn kubectl(node: &RealNode, args: &[&str]) -> String {
    let (ok, out) = node.kubectl(args);
    assert!(ok, "kubectl {args:?}: {out}");
    out
}

fn manifest_path(node: &RealNode, component: &str) -> PathBuf {
    node.root
        .join(format!("etc/kubernetes/manifests/{component}.yaml"))
}

/// The four manifests' bytes.
fn manifests(node: &RealNode) -> BTreeMap<&'static str, Vec<u8>> {
    COMPONENTS
        .iter()
        .map(|c| (*c, std::fs::read(manifest_path(node, c)).unwrap()))
        .collect()
}

fn upgrade_dir(node: &RealNode) -> PathBuf {
    node.root.join("etc/kubernetes/tmp/kubestrap-upgrade")
}

/// The components whose upgrade is in flight (a `.pending` marker).
fn in_flight(node: &RealNode) -> Vec<String> {
    std::fs::read_dir(upgrade_dir(node))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".pending"))
                .collect()
        })
        .unwrap_or_default()
}

/// A mirror pod's container id and restart count.
fn container_of(node: &RealNode, component: &str) -> String {
    kubectl(
        node,
        &[
            "-n",
            "kube-system",
            "get",
            "pod",
            &format!("{component}-{}", node.name),
            "-o",
            "jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}",
        ],
    )
}

/// Every control-plane mirror pod Ready and /readyz ok.
fn healthy(node: &RealNode) -> Result<(), String> {
    let (ok, out) = node.kubectl(&["get", "--raw", "/readyz"]);
    if !ok {
        return Err(format!("/readyz: {out}"));
    }
    for c in COMPONENTS {
        let (ok, out) = node.kubectl(&[
            "-n",
            "kube-system",
            "get",
            "pod",
            &format!("{c}-{}", node.name),
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        if !ok || out.trim() != "True" {
            return Err(format!("{c}: {out}"));
        }
    }
    Ok(())
}

/// The command lines of the node's `binary` processes (an old one may still be draining its
/// requests while the new one serves).
fn cmdlines(node: &RealNode, binary: &str) -> Vec<String> {
    node.processes()
        .into_iter()
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.first()
                .is_some_and(|a| a.ends_with(binary))
                .then(|| args.join(" "))
        })
        .collect()
}

/// CoreDNS's Corefile, as the cluster has it.
fn corefile(node: &RealNode) -> String {
    kubectl(
        node,
        &[
            "-n",
            "kube-system",
            "get",
            "cm",
            "coredns",
            "-o",
            "jsonpath={.data.Corefile}",
        ],
    )
}

fn cluster_configuration(node: &RealNode) -> String {
    kubectl(
        node,
        &[
            "-n",
            "kube-system",
            "get",
            "cm",
            "kubeadm-config",
            "-o",
            "jsonpath={.data.ClusterConfiguration}",
        ],
    )
}

/// The init configuration of the control plane, with `cluster_extra` in its
/// ClusterConfiguration; written next to the node's root.
fn config_file(cp: &RealNode, name: &str, cluster_extra: &str) -> PathBuf {
    let path = cp.root.with_file_name(format!("{name}.yaml"));
    std::fs::write(&path, init_config(&cp.ip, &cp.name, cluster_extra)).unwrap();
    path
}

fn api_server_flag(name: &str, value: &str) -> String {
    format!("apiServer:\n  extraArgs:\n  - name: {name}\n    value: \"{value}\"\n")
}

/// Probes /readyz every 100 ms on another thread until stopped: the longest run of failed
/// probes, and their total.
struct Availability {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(Duration, Duration)>,
}

impl Availability {
    fn start(node: &RealNode) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let kubeconfig = node.root.join("etc/kubernetes/admin.conf");
        let mut probe = node.command("kubectl");
        probe.arg("--kubeconfig").arg(kubeconfig).args([
            "--request-timeout",
            "1s",
            "get",
            "--raw",
            "/readyz",
        ]);
        let args: Vec<_> = probe.get_args().map(ToOwned::to_owned).collect();
        let program = probe.get_program().to_owned();
        let envs: Vec<_> = probe
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        let handle = std::thread::spawn(move || {
            let (mut longest, mut total) = (Duration::ZERO, Duration::ZERO);
            let mut down_since: Option<Instant> = None;
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = Command::new(&program)
                    .args(&args)
                    .envs(envs.iter().map(|(k, v)| (k, v)))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                match (ok, down_since) {
                    (false, None) => down_since = Some(started),
                    (true, Some(since)) => {
                        let gap = started - since;
                        longest = longest.max(gap);
                        total += gap;
                        down_since = None;
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(100).saturating_sub(started.elapsed()));
            }
            if let Some(since) = down_since {
                let gap = since.elapsed();
                longest = longest.max(gap);
                total += gap;
            }
            (longest, total)
        });
        Self { stop, handle }
    }

    fn finish(self) -> (Duration, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// A small seeded generator (xorshift64*): the kill instants of a run, replayable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The flags of kill trial `trial`: the API server's `--event-ttl` changes on even trials,
/// the scheduler's `--v` on odd ones, so that each trial restarts one component.
fn trial_flags(trial: u64) -> (String, u64) {
    (
        format!("{}m0s", 61 + trial - trial % 2),
        trial.div_ceil(2) % 4 + 1,
    )
}

/// Trial `trial`'s ClusterConfiguration lines.
fn trial_config(trial: u64) -> String {
    let (ttl, verbosity) = trial_flags(trial);
    format!(
        "{}scheduler:\n  extraArgs:\n  - name: v\n    value: \"{verbosity}\"\n",
        api_server_flag("event-ttl", &ttl)
    )
}

fn refused(out: &Output, says: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    assert!(
        text(out).contains(says),
        "expected {says:?} in: {}",
        text(out)
    );
}

#[test]
fn upgrade_reconfigures_rolls_back_resumes_and_upgrades_real_nodes() {
    kube_bin();
    let next = kube_bin_next();
    let _one = real_node::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let cp = RealNode::create("uc1", &dir.path().join("uc1"), "10.231.0.74");
    let worker = RealNode::create("uw1", &dir.path().join("uw1"), "10.231.0.75");
    init_and_join(&cp, &worker, TOKEN);
    wait_until("Node uw1 Ready", Duration::from_secs(120), || {
        let (_, out) = cp.kubectl(&[
            "get",
            "node",
            "uw1",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        if out.trim() == "True" {
            Ok(())
        } else {
            Err(out)
        }
    });
    wait_until("control plane healthy", Duration::from_secs(120), || {
        healthy(&cp)
    });

    // The plan of a reconfiguration and of the patch upgrade.
    let out = upgrade(&cp, &["plan", "v1.20.3"]);
    assert!(out.status.success(), "plan: {}", text(&out));
    let plan = text(&out);
    assert!(
        plan.contains("kube-apiserver") && plan.contains("v1.20.3"),
        "{plan}"
    );
    assert!(plan.contains("Version policy: allowed"), "{plan}");
    let out = upgrade(&cp, &["diff", "v1.20.3"]);
    assert!(
        text(&out).contains("+    image: k8s.gcr.io/kube-apiserver:v1.20.3"),
        "diff: {}",
        text(&out)
    );

    // 1. Refusals: nothing changes.
    let before = manifests(&cp);
    let stored = cluster_configuration(&cp);
    refused(
        &upgrade(&cp, &["apply", "v1.22.0", "-y"]),
        "one minor version at a time",
    );
    refused(&upgrade(&cp, &["apply", "v1.20.1", "-y"]), "downgrade");
    refused(
        &upgrade(&cp, &["apply", "v1.99.0", "-y"]),
        "not a release kubestrap knows",
    );
    refused(
        &upgrade(&cp, &["apply", "banana", "-y"]),
        "not a valid Kubernetes version",
    );
    let bad = config_file(&cp, "bad", "apiServer:\n  extraArgz: {}\n");
    refused(
        &upgrade(&cp, &["apply", "-y", "--config", bad.to_str().unwrap()]),
        "extraArgz",
    );
    // An unhealthy cluster: the scheduler's manifest moved away, so the kubelet stops it.
    let scheduler = manifest_path(&cp, "kube-scheduler");
    let aside = cp.root.join("kube-scheduler.yaml.aside");
    std::fs::rename(&scheduler, &aside).unwrap();
    wait_until("scheduler mirror pod gone", Duration::from_secs(60), || {
        let (ok, out) = cp.kubectl(&["-n", "kube-system", "get", "pod", "kube-scheduler-uc1"]);
        if ok { Err(out) } else { Ok(()) }
    });
    let out = upgrade(&cp, &["apply", "v1.20.3", "-y"]);
    std::fs::rename(&aside, &scheduler).unwrap();
    refused(&out, "[unhealthy-cluster]");
    wait_until(
        "control plane healthy again",
        Duration::from_secs(120),
        || healthy(&cp),
    );
    assert_eq!(manifests(&cp), before, "a refusal changed a manifest");
    assert_eq!(
        cluster_configuration(&cp),
        stored,
        "a refusal changed kubeadm-config"
    );
    assert!(in_flight(&cp).is_empty());

    // 2. Reconfiguration: one kube-apiserver flag.
    let others: Vec<String> = ["etcd", "kube-controller-manager", "kube-scheduler"]
        .iter()
        .map(|c| container_of(&cp, c))
        .collect();
    let reconfigured = config_file(
        &cp,
        "reconfigure",
        &format!(
            "{}  certSANs:\n  - reconfigured.example\n",
            api_server_flag("event-ttl", "2h0m0s")
        ),
    );
    let out = upgrade(&cp, &["diff", "--config", reconfigured.to_str().unwrap()]);
    let diff = text(&out);
    assert!(out.status.success(), "diff: {diff}");
    assert!(diff.contains("+    - --event-ttl=2h0m0s"), "diff: {diff}");
    for unchanged in ["etcd", "kube-controller-manager", "kube-scheduler"] {
        assert!(
            diff.contains(&format!("{unchanged}: no changes")),
            "diff: {diff}"
        );
    }
    let admin_conf = cp.root.join("etc/kubernetes/admin.conf");
    let admin_before = std::fs::read(&admin_conf).unwrap();
    let availability = Availability::start(&cp);
    let started = Instant::now();
    let out = upgrade(
        &cp,
        &["apply", "-y", "--config", reconfigured.to_str().unwrap()],
    );
    let took = started.elapsed();
    let (longest, total) = availability.finish();
    assert!(out.status.success(), "reconfigure: {}", text(&out));
    eprintln!(
        "upgrade measure: reconfiguration took {took:.1?}; /readyz longest gap {longest:.1?}, total {total:.1?}"
    );
    wait_until(
        "the running kube-apiserver has the flag",
        Duration::from_secs(90),
        || {
            let running = cmdlines(&cp, "kube-apiserver");
            if !running.is_empty() && running.iter().all(|c| c.contains("--event-ttl=2h0m0s")) {
                Ok(())
            } else {
                Err(format!("{running:?}"))
            }
        },
    );
    let after: Vec<String> = ["etcd", "kube-controller-manager", "kube-scheduler"]
        .iter()
        .map(|c| container_of(&cp, c))
        .collect();
    assert_eq!(
        after, others,
        "a component other than kube-apiserver was restarted"
    );
    assert!(
        cluster_configuration(&cp).contains("event-ttl: 2h0m0s"),
        "kubeadm-config: {}",
        cluster_configuration(&cp)
    );
    // certSANs: the serving certificate was re-issued with the new name.
    let crt = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(cp.root.join("etc/kubernetes/pki/apiserver.crt"))
        .output()
        .unwrap();
    assert!(
        text(&crt).contains("DNS:reconfigured.example"),
        "apiserver.crt: {}",
        text(&crt)
    );
    // admin.conf's certificate was renewed after the static pods, as kubeadm's apply does
    // (staticpods.go, StaticPodControlPlane), and kubectl goes on using it.
    let admin_after = std::fs::read(&admin_conf).unwrap();
    assert_ne!(admin_after, admin_before, "admin.conf was not renewed");
    // Nothing to do the second time; without renewal, admin.conf stays as it is.
    let out = upgrade(
        &cp,
        &[
            "apply",
            "-y",
            "--certificate-renewal=false",
            "--config",
            reconfigured.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("manifest unchanged"), "{}", text(&out));
    assert_eq!(std::fs::read(&admin_conf).unwrap(), admin_after);

    // 3. A flag the API server refuses: rolled back, byte for byte.
    let good = std::fs::read(manifest_path(&cp, "kube-apiserver")).unwrap();
    let broken = config_file(
        &cp,
        "broken",
        &api_server_flag("this-flag-does-not-exist", "1"),
    );
    let out = upgrade(&cp, &["apply", "-y", "--config", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("kube-apiserver failed to upgrade") && said.contains("rolled back"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(manifest_path(&cp, "kube-apiserver")).unwrap(),
        good,
        "the manifest is not the backup"
    );
    assert_eq!(
        std::fs::read(upgrade_dir(&cp).join("kube-apiserver.yaml")).unwrap(),
        good
    );
    assert!(
        std::fs::read_to_string(upgrade_dir(&cp).join("kube-apiserver.failed.yaml"))
            .unwrap()
            .contains("this-flag-does-not-exist")
    );
    wait_until(
        "healthy after the rollback",
        Duration::from_secs(120),
        || healthy(&cp),
    );
    assert!(!cluster_configuration(&cp).contains("this-flag-does-not-exist"));
    assert!(in_flight(&cp).is_empty());

    // 4. SIGKILL during applies, at seeded instants.
    let seed: u64 = std::env::var("KUBESTRAP_UPGRADE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    eprintln!("upgrade kill trials: seed {seed} (KUBESTRAP_UPGRADE_SEED replays them)");
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for i in 0..5 {
        kubectl(
            &cp,
            &[
                "create",
                "configmap",
                &format!("trial-{i}"),
                "--from-literal=k=v",
            ],
        );
    }
    let objects = |node: &RealNode| {
        kubectl(node, &["get", "cm", "-A", "--no-headers"])
            .lines()
            .count()
    };
    let count_before = objects(&cp);
    let mut killed = 0;
    for trial in 0..20u64 {
        // Each trial changes one component's flag: the API server's or the scheduler's.
        let (ttl, verbosity) = trial_flags(trial);
        let extra = trial_config(trial);
        let file = config_file(&cp, &format!("trial-{trial}"), &extra);
        let delay = Duration::from_millis(rng.below(8000));
        let mut child = cp
            .kubestrap()
            .args(["upgrade", "apply", "-y", "--config"])
            .arg(&file)
            .arg("--root")
            .arg(&cp.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        // The whole group: the node script's `nsenter` and kubestrap under it. With the
        // syscall, not kill(1): procps 4.0.2 reads `kill -KILL -PGID` as process group 2.
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap());
        let _ = killpg(group, Signal::SIGKILL); // it may have finished already
        let status = child.wait().unwrap();
        if status.signal() == Some(Signal::SIGKILL as i32) {
            killed += 1;
        }
        let flight = in_flight(&cp);
        assert!(
            flight.len() <= 1,
            "trial {trial}: in flight at once: {flight:?}"
        );
        let out = upgrade(&cp, &["apply", "-y", "--config", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "trial {trial} (killed after {delay:?}): the re-run: {}",
            text(&out)
        );
        assert!(in_flight(&cp).is_empty(), "trial {trial}: a marker left");
        let want = if trial % 2 == 0 {
            ("kube-apiserver", format!("--event-ttl={ttl}"))
        } else {
            ("kube-scheduler", format!("--v={verbosity}"))
        };
        let manifest = std::fs::read_to_string(manifest_path(&cp, want.0)).unwrap();
        assert!(
            manifest.contains(&want.1),
            "trial {trial}: {} lacks {}",
            want.0,
            want.1
        );
        wait_until(
            &format!("trial {trial} healthy"),
            Duration::from_secs(120),
            || healthy(&cp),
        );
        eprintln!("upgrade kill trial {trial}: {status} after {delay:?}, converged");
    }
    // Most delays fall inside an apply: a run of trials whose kills all missed proves nothing.
    assert!(killed >= 10, "only {killed} of 20 applies were killed");
    assert_eq!(objects(&cp), count_before, "etcd lost or gained objects");
    for i in 0..5 {
        kubectl(&cp, &["get", "configmap", &format!("trial-{i}")]);
    }

    // An etcd change: a checked snapshot first, then etcd restarted with the flag.
    let etcd_flag =
        "etcd:\n  local:\n    extraArgs:\n    - name: snapshot-count\n      value: \"10001\"\n";
    let with_etcd = config_file(&cp, "etcd", &format!("{}{etcd_flag}", trial_config(19)));
    let out = upgrade(
        &cp,
        &["apply", "-y", "--config", with_etcd.to_str().unwrap()],
    );
    assert!(out.status.success(), "etcd reconfiguration: {}", text(&out));
    let snapshots: Vec<PathBuf> = std::fs::read_dir(upgrade_dir(&cp))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("etcd-snapshot-"))
        })
        .collect();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert!(std::fs::metadata(&snapshots[0]).unwrap().len() > 4096);
    wait_until("etcd runs with the flag", Duration::from_secs(90), || {
        let running = cmdlines(&cp, "etcd");
        if !running.is_empty() && running.iter().all(|c| c.contains("--snapshot-count=10001")) {
            Ok(())
        } else {
            Err(format!("{running:?}"))
        }
    });
    wait_until("healthy after etcd", Duration::from_secs(120), || {
        healthy(&cp)
    });
    assert_eq!(objects(&cp), count_before, "etcd lost or gained objects");

    // 5. The patch upgrade, with an edited Corefile.
    let original = corefile(&cp);
    let edited = original.replace("cache 30", "cache 31");
    assert_ne!(
        edited, original,
        "the Corefile has no `cache 30`: {original}"
    );
    let patch = serde_json::json!({ "data": { "Corefile": edited } }).to_string();
    kubectl(
        &cp,
        &["-n", "kube-system", "patch", "cm", "coredns", "-p", &patch],
    );
    let last = config_file(&cp, "last", &trial_config(19));
    let out = upgrade(
        &cp,
        &["apply", "v1.20.3", "-y", "--config", last.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "upgrade apply v1.20.3: {}",
        text(&out)
    );
    for c in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let m = std::fs::read_to_string(manifest_path(&cp, c)).unwrap();
        assert!(m.contains(&format!("{c}:v1.20.3")), "{c}: {m}");
        wait_until(
            &format!("{c} runs v1.20.3"),
            Duration::from_secs(60),
            || {
                let out = kubectl(
                    &cp,
                    &[
                        "-n",
                        "kube-system",
                        "get",
                        "pod",
                        &format!("{c}-uc1"),
                        "-o",
                        "jsonpath={.status.containerStatuses[0].image} {.status.containerStatuses[0].ready}",
                    ],
                );
                if out.trim() == format!("k8s.gcr.io/{c}:v1.20.3 true") {
                    Ok(())
                } else {
                    Err(out)
                }
            },
        );
    }
    let version = kubectl(&cp, &["get", "--raw", "/version"]);
    assert!(version.contains("\"gitVersion\": \"v1.20.3\""), "{version}");
    assert!(
        cluster_configuration(&cp).contains("kubernetesVersion: v1.20.3"),
        "{}",
        cluster_configuration(&cp)
    );
    let proxy = kubectl(
        &cp,
        &[
            "-n",
            "kube-system",
            "get",
            "ds",
            "kube-proxy",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert_eq!(proxy.trim(), "k8s.gcr.io/kube-proxy:v1.20.3");
    assert_eq!(corefile(&cp), edited, "the edited Corefile did not survive");
    // The kubelets: the worker's configuration, then both kubelet binaries (the operator's
    // package upgrade and restart).
    let out = upgrade(&worker, &["node"]);
    assert!(out.status.success(), "upgrade node: {}", text(&out));
    for node in [&cp, &worker] {
        node.use_kubelet_from(&next);
        wait_until(
            &format!("kubelet on {} v1.20.3", node.name),
            Duration::from_secs(120),
            || {
                let out = kubectl(
                    &cp,
                    &[
                        "get",
                        "node",
                        &node.name,
                        "-o",
                        "jsonpath={.status.nodeInfo.kubeletVersion}",
                    ],
                );
                if out.trim() == "v1.20.3" {
                    Ok(())
                } else {
                    Err(out)
                }
            },
        );
    }
    wait_until(
        "kube-proxy v1.20.3 on both nodes",
        Duration::from_secs(180),
        || {
            let out = kubectl(
                &cp,
                &[
                    "-n",
                    "kube-system",
                    "get",
                    "pods",
                    "-l",
                    "k8s-app=kube-proxy",
                    "-o",
                    "jsonpath={range .items[*]}{.spec.containers[0].image} {.status.phase}{\"\\n\"}{end}",
                ],
            );
            let running = out
                .lines()
                .filter(|l| l.contains("kube-proxy:v1.20.3 Running"))
                .count();
            if running == 2 { Ok(()) } else { Err(out) }
        },
    );
    wait_until("healthy on v1.20.3", Duration::from_secs(120), || {
        healthy(&cp)
    });
}
