//! `kubestrap init` end to end under a temporary `--root`: events, files, resume, dry run,
//! bad input, and a journal that survives kills.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubestrap_test_support::{cli::kubestrap, kubeadm_config, ndjson::events};
use serde_json::Value;

/// The first phase that needs the control plane running: nothing runs the static pods under a
/// bare `--root`, so init fails there after writing the node's files.
const FIRST_NEEDING_A_CONTROL_PLANE: &str = "wait-control-plane";

/// A config whose only setting is a 1 s control-plane health timeout: nothing runs the
/// static pods here, so wait-control-plane fails (connection refused) at once instead of
/// after kubeadm's 4 minutes. Kept outside the node roots, which some tests check are empty.
fn short_wait_config() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join("init-short-wait.yaml");
        // Written once per test process, renamed into place: another test binary reading
        // it meanwhile sees a whole file.
        let tmp = dir.join(format!("init-short-wait.{}.tmp", std::process::id()));
        kubeadm_config::init()
            .timeout("controlPlaneComponentHealthCheck", "1s")
            .write(&tmp);
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
    .clone()
}

fn init(root: &Path, extra: &[&str]) -> (Option<i32>, Vec<Value>) {
    let mut cmd = kubestrap();
    cmd.args(["init", "-o", "json", "--node-name", "node1"])
        .args(["--apiserver-advertise-address", "127.0.0.11"])
        .args(["--ignore-preflight-errors", "all", "--root"])
        .arg(root)
        .args(extra);
    if !extra.contains(&"--config") {
        cmd.arg("--config").arg(short_wait_config());
    }
    let out = cmd.output().unwrap();
    (out.status.code(), events(&out.stdout))
}

fn phases_with(ev: &[Value], event: &str) -> Vec<String> {
    ev.iter()
        .filter(|e| e["event"] == event)
        .map(|e| e["phase"].as_str().unwrap().to_string())
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn without_a_running_control_plane_init_writes_the_node_files_then_fails_at_the_wait() {
    let root = tempfile::tempdir().unwrap();
    let (code, ev) = init(root.path(), &[]);
    assert_eq!(code, Some(1));
    let finished = phases_with(&ev, "phase_finished");
    // The kubelet starts as soon as the CA, its kubeconfig and its settings exist
    // (src/workflows/init.rs RUN_FIRST); the rest follows in the tree's order.
    assert_eq!(
        finished[..4],
        [
            "preflight",
            "certs/ca",
            "kubeconfig/kubelet",
            "kubelet-start"
        ]
    );
    assert_eq!(finished[4], "certs/apiserver");
    assert_eq!(finished.last().unwrap(), "control-plane/scheduler");
    assert_eq!(finished.len(), 1 + 11 + 5 + 1 + 3 + 1);
    let result = ev.last().unwrap();
    assert_eq!(result["event"], "result");
    assert_eq!(result["status"], "failed");
    assert_eq!(result["failed_phase"], FIRST_NEEDING_A_CONTROL_PLANE);
    assert!(
        ev.iter()
            .any(|e| e["event"] == "warning" && e["phase"] == "preflight")
    );

    let k8s = root.path().join("etc/kubernetes");
    assert_eq!(mode(&k8s.join("pki/ca.crt")), 0o644);
    assert_eq!(mode(&k8s.join("pki/ca.key")), 0o600);
    assert_eq!(mode(&k8s.join("pki/etcd/server.key")), 0o600);
    assert_eq!(mode(&k8s.join("admin.conf")), 0o600);
    let files = result["files"].as_array().unwrap();
    assert!(files.iter().all(|f| {
        f["path"]
            .as_str()
            .unwrap()
            .starts_with(root.path().to_str().unwrap())
    }));
    let journal: Value = serde_json::from_slice(
        &std::fs::read(root.path().join("var/lib/kubestrap/init.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(journal["phases"]["certs/ca"]["state"], "done");
    assert_eq!(
        journal["phases"][FIRST_NEEDING_A_CONTROL_PLANE]["state"],
        "failed"
    );
}

#[test]
fn a_second_init_resumes_and_a_changed_input_reruns_its_phase() {
    let root = tempfile::tempdir().unwrap();
    init(root.path(), &[]);
    let ca_before = std::fs::read(root.path().join("etc/kubernetes/pki/ca.crt")).unwrap();

    let (code, ev) = init(root.path(), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        phases_with(&ev, "phase_started"),
        [FIRST_NEEDING_A_CONTROL_PLANE]
    );
    let completed = ev
        .iter()
        .filter(|e| e["event"] == "phase_skipped" && e["reason"] == "completed")
        .count();
    assert_eq!(completed, 22);

    // A new SAN changes certs/apiserver's input: it re-runs, finds the existing certificate
    // lacks the SAN, and refuses to replace it silently.
    let (code, ev) = init(
        root.path(),
        &["--apiserver-cert-extra-sans", "api.example.org"],
    );
    assert_eq!(code, Some(1));
    assert_eq!(phases_with(&ev, "phase_started"), ["certs/apiserver"]);
    let err = ev.iter().find(|e| e["event"] == "error").unwrap();
    assert!(
        err["message"].as_str().unwrap().contains("apiserver.crt"),
        "{err}"
    );
    assert!(
        err["hint"].as_str().unwrap().contains("renew")
            || err["hint"].as_str().unwrap().contains("remove")
    );

    // Removing the certificate as the hint says: it is re-made with the SAN, and every phase
    // after the failed one runs again; the CA is untouched.
    for f in ["apiserver.crt", "apiserver.key"] {
        std::fs::remove_file(root.path().join("etc/kubernetes/pki").join(f)).unwrap();
    }
    let (code, ev) = init(
        root.path(),
        &["--apiserver-cert-extra-sans", "api.example.org"],
    );
    assert_eq!(code, Some(1));
    let started = phases_with(&ev, "phase_started");
    assert_eq!(started[0], "certs/apiserver");
    assert_eq!(started.last().unwrap(), FIRST_NEEDING_A_CONTROL_PLANE);
    assert!(!started.contains(&"certs/ca".to_string()));
    assert_eq!(
        std::fs::read(root.path().join("etc/kubernetes/pki/ca.crt")).unwrap(),
        ca_before
    );

    let (_, ev) = init(root.path(), &["--no-resume"]);
    assert_eq!(
        phases_with(&ev, "phase_started").len(),
        23,
        "--no-resume runs everything"
    );
}

#[test]
fn dry_run_lists_every_file_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    // Kept, to compare the plan with the staged files (else removed at exit).
    let keep = tempfile::tempdir().unwrap();
    let (code, ev) = init(
        root.path(),
        &[
            "--dry-run",
            "--dry-run-dir",
            keep.path().to_str().unwrap(),
            "--skip-phases",
            "etcd,control-plane,kubelet-start,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command",
        ],
    );
    assert_eq!(code, Some(0), "{ev:?}");
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "the root is untouched"
    );
    let result = ev.last().unwrap();
    assert_eq!(result["dry_run"], true);
    let staging = Path::new(result["staging_dir"].as_str().unwrap());
    let files = result["files"].as_array().unwrap();
    assert_eq!(
        files.len(),
        10 * 2 + 2 + 5,
        "10 certificates with keys, the sa pair, 5 kubeconfigs"
    );
    for f in files {
        let path = Path::new(f["path"].as_str().unwrap());
        let staged = staging.join(path.strip_prefix("/").unwrap());
        let len = std::fs::metadata(&staged).unwrap().len();
        assert_eq!(f["bytes"].as_u64(), Some(len), "{}", path.display());
        assert!(f["mode"] == 0o600 || f["mode"] == 0o644);
    }
}

#[test]
fn bad_configuration_is_an_error_naming_file_and_field_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("kubeadm.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.244.0.0/33\n",
    )
    .unwrap();
    let (code, ev) = init(root.path(), &["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let msg = ev[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("kubeadm.yaml") && msg.contains("networking.podSubnet"),
        "{msg}"
    );
    let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the config file itself");

    let (code, ev) = init(root.path(), &["--pod-network-cidr", "not-a-cidr"]);
    assert_eq!(code, Some(1));
    assert!(
        ev[0]["message"]
            .as_str()
            .unwrap()
            .contains("--pod-network-cidr")
    );
}

#[test]
fn preflight_errors_fail_unless_ignored_by_name() {
    let root = tempfile::tempdir().unwrap();
    let manifests = root.path().join("etc/kubernetes/manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("kube-apiserver.yaml"), "x").unwrap();
    let run = |ignore: &str| {
        kubestrap()
            .args([
                "init",
                "phase",
                "preflight",
                "-o",
                "json",
                "--node-name",
                "node1",
            ])
            .args(["--apiserver-advertise-address", "127.0.0.12", "--root"])
            .arg(root.path())
            .args(["--ignore-preflight-errors", ignore])
            .output()
            .unwrap()
    };
    let out = run("IsPrivilegedUser");
    assert_eq!(out.status.code(), Some(1));
    let ev = events(&out.stdout);
    let err = ev.iter().find(|e| e["event"] == "error").unwrap();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml"),
        "{err}"
    );
    let out = run("all");
    assert_eq!(out.status.code(), Some(0));
    let ev = events(&out.stdout);
    assert!(ev.iter().any(|e| {
        e["event"] == "warning"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml")
    }));
}

#[test]
fn printed_defaults_are_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = kubestrap()
        .args(["config", "print", "init-defaults"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let cfg = dir.path().join("defaults.yaml");
    std::fs::write(&cfg, &out.stdout).unwrap();
    let out = kubestrap()
        .args([
            "init",
            "phase",
            "certs",
            "ca",
            "--dry-run",
            "-o",
            "json",
            "--config",
        ])
        .arg(&cfg)
        .arg("--root")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = kubestrap()
        .args(["config", "print", "join-defaults"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: JoinConfiguration"));
}

#[test]
fn token_and_certificate_key_generation() {
    let out = kubestrap().args(["token", "generate"]).output().unwrap();
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim();
    let (id, secret) = token.split_once('.').unwrap();
    assert_eq!((id.len(), secret.len()), (6, 16), "{token}");
    assert!(
        token
            .chars()
            .all(|c| c == '.' || c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    let out = kubestrap()
        .args(["certs", "certificate-key"])
        .output()
        .unwrap();
    let key = String::from_utf8(out.stdout).unwrap();
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().chars().all(|c| c.is_ascii_hexdigit()));
}

/// Every file kubestrap wrote is whole: PEM blocks close, kubeconfigs and the journal parse.
fn assert_all_whole(root: &Path) {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with(".kubestrap-") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        if name.ends_with(".json") {
            let j: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert_eq!(j["version"], 1);
        } else if name == "kubeadm-flags.env" {
            assert!(
                text.starts_with("KUBELET_KUBEADM_ARGS=\"") && text.ends_with("\"\n"),
                "{}",
                f.display()
            );
        } else if name == "instance-config.yaml" {
            assert!(
                text.starts_with("containerRuntimeEndpoint: unix://") && text.ends_with('\n'),
                "{}",
                f.display()
            );
        } else if name == "config.yaml" {
            assert!(
                text.contains("kind: KubeletConfiguration") && text.contains("staticPodPath:"),
                "{}",
                f.display()
            );
        } else if name.ends_with(".yaml") {
            // A static-pod manifest: the whole Pod, down to its last field (volumes).
            let pod = kubestrap_phases::domain::static_pod::Pod::from_yaml(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(!pod.spec.volumes.is_empty(), "{}", f.display());
        } else if name.ends_with(".conf") {
            assert!(
                text.contains("current-context:") && text.contains("client-key-data:"),
                "{}",
                f.display()
            );
        } else {
            assert!(
                text.starts_with("-----BEGIN ") && text.trim_end().ends_with("-----"),
                "{}",
                f.display()
            );
        }
    }
}

#[test]
fn a_killed_init_leaves_only_whole_files_and_the_next_run_finishes() {
    let root = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("kubestrap");
    for trial in 0..10u64 {
        let mut child = std::process::Command::new(&bin)
            .args(["init", "-o", "json", "--node-name", "node1", "--no-resume"])
            .args(["--apiserver-advertise-address", "127.0.0.11"])
            .args(["--ignore-preflight-errors", "all", "--root"])
            .arg(root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the run: key generation, certificate and kubeconfig writes.
        std::thread::sleep(Duration::from_millis(20 + (trial * 97) % 700));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_all_whole(root.path());
    }
    let (code, ev) = init(root.path(), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        ev.last().unwrap()["failed_phase"],
        FIRST_NEEDING_A_CONTROL_PLANE,
        "{ev:?}"
    );
    assert_all_whole(root.path());
}

#[test]
fn a_ca_key_left_without_its_certificate_is_completed_not_replaced() {
    let root = tempfile::tempdir().unwrap();
    let run = || {
        kubestrap()
            .args(["init", "phase", "certs", "ca", "--node-name", "node1"])
            .args(["--apiserver-advertise-address", "127.0.0.11", "--root"])
            .arg(root.path())
            .output()
            .unwrap()
    };
    assert!(run().status.success());
    let pki = root.path().join("etc/kubernetes/pki");
    let key = std::fs::read(pki.join("ca.key")).unwrap();
    std::fs::remove_file(pki.join("ca.crt")).unwrap(); // as a kill between the two writes would
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(pki.join("ca.key")).unwrap(),
        key,
        "the key is kept"
    );
    let modulus = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap()
            .stdout
    };
    let crt = pki.join("ca.crt");
    let key = pki.join("ca.key");
    assert_eq!(
        modulus(&["x509", "-noout", "-pubkey", "-in", crt.to_str().unwrap()]),
        modulus(&["pkey", "-pubout", "-in", key.to_str().unwrap()]),
        "the new certificate is for the kept key"
    );
}
