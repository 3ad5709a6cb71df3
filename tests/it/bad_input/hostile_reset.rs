//! Hostile input to `kubestrap reset`: static-pod manifests, journals and symlinks that point
//! outside what init and join make. Each case runs `reset --force` on a node root with the
//! files init would leave, next to a *decoy* directory outside the node root, and asserts by
//! a whole-tree snapshot that the decoy (and any directory the case names as not reset's) is
//! unchanged, that the error names every refused path, and that the legitimate files were
//! still removed. No cluster is needed; the cluster-side certificates dir is served by the
//! fake API server on 127.0.0.147. A `--config` reset cannot use stops it before anything is
//! removed.

use std::path::{Path, PathBuf};

use kubestrap_test_support::{cli::kubestrap, fake_apiserver, ndjson::events};

use super::snapshot;

/// The address of the fake API server that serves kubeadm-config.
const CLUSTER_IP: &str = "127.0.0.147";

/// Files init leaves on a control-plane node (relative to the root).
const LEGIT: &[&str] = &[
    "etc/kubernetes/admin.conf",
    "etc/kubernetes/manifests/kube-scheduler.yaml",
    "etc/kubernetes/pki/ca.crt",
    "etc/kubernetes/pki/ca.key",
    "etc/kubernetes/pki/etcd/ca.key",
    "var/lib/etcd/member/wal/0.wal",
    "var/lib/kubelet/config.yaml",
    "var/lib/kubestrap/init.json",
];

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A static pod manifest whose container runs `command`.
fn manifest(root: &Path, name: &str, command: &[String]) {
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"containers": [{"name": name, "image": "i", "command": command}]},
    });
    write(
        &root.join(format!("etc/kubernetes/manifests/{name}.yaml")),
        &pod.to_string(),
    );
}

/// A journal that records `outputs` as written.
fn journal(root: &Path, outputs: &[PathBuf]) {
    let outputs: Vec<_> = outputs
        .iter()
        .map(|p| serde_json::json!({ "path": p }))
        .collect();
    let j = serde_json::json!({"phases": {"certs/ca": {"outputs": outputs}}});
    write(&root.join("var/lib/kubestrap/init.json"), &j.to_string());
}

fn legit_node(root: &Path, decoy: &Path) {
    for f in LEGIT {
        write(&root.join(f), "init's");
    }
    journal(root, &[root.join("etc/kubernetes/pki/ca.crt")]);
    for f in ["ca.key", "etcd/ca.key", "member/wal/0.wal", "notes.txt"] {
        write(&decoy.join(f), "not the node's");
    }
}

fn link(target: &Path, at: &Path) {
    if at.exists() {
        std::fs::remove_dir_all(at).unwrap();
    }
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, at).unwrap();
}

struct Case {
    name: &'static str,
    /// Damages the legitimate node (root, decoy); returns extra arguments for reset.
    setup: fn(&Path, &Path) -> Vec<String>,
    /// Paths the error must name, `{root}`/`{decoy}` replaced.
    refused: &'static [&'static str],
    /// Directories under the root that are not reset's and must not change.
    untouched: &'static [&'static str],
    /// Of [`LEGIT`], what the case makes not reset's (kept): the rest must be gone.
    kept: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "etcd --data-dir climbing out with ..",
            setup: |root, _| {
                let up = format!(
                    "--data-dir={}/var/lib/etcd/../../../../decoy",
                    root.display()
                );
                manifest(root, "etcd", &["etcd".into(), up]);
                vec![]
            },
            refused: &["{root}/var/lib/etcd/../../../../decoy"],
            untouched: &[],
            kept: &[],
        },
        Case {
            name: "etcd --data-dir climbing to /var",
            setup: |root, _| {
                let up = format!("--data-dir={}/var/lib/etcd/../..", root.display());
                manifest(root, "etcd", &["etcd".into(), up]);
                vec![]
            },
            refused: &["{root}/var/lib/etcd/../.."],
            untouched: &["var/lib/kubestrap-other"],
            kept: &[],
        },
        Case {
            name: "etcd --data-dir absolute, outside the root",
            setup: |root, decoy| {
                let out = format!("--data-dir={}", decoy.display());
                manifest(root, "etcd", &["etcd".into(), out]);
                vec![]
            },
            refused: &["{decoy}"],
            untouched: &[],
            kept: &[],
        },
        Case {
            name: "journal records climbing out with .. and absolute outside",
            setup: |root, decoy| {
                journal(
                    root,
                    &[
                        root.join("etc/kubernetes/pki/ca.crt"),
                        root.join("etc/kubernetes/../../../decoy/ca.key"),
                        decoy.join("notes.txt"),
                        root.join("etc/kubernetes/../passwd"),
                    ],
                );
                write(&root.join("etc/passwd"), "root:x:0:0");
                vec![]
            },
            refused: &[
                "{root}/etc/kubernetes/../../../decoy/ca.key",
                "{decoy}/notes.txt",
                "{root}/etc/kubernetes/../passwd",
            ],
            untouched: &["etc/passwd"],
            kept: &[],
        },
        Case {
            name: "certificates dir a symlink out of the root",
            setup: |root, decoy| {
                link(decoy, &root.join("etc/kubernetes/pki"));
                vec![]
            },
            refused: &["{root}/etc/kubernetes/pki"],
            untouched: &[],
            kept: &[
                "etc/kubernetes/pki/ca.crt",
                "etc/kubernetes/pki/ca.key",
                "etc/kubernetes/pki/etcd/ca.key",
            ],
        },
        Case {
            name: "etcd data dir a symlink out of the root",
            setup: |root, decoy| {
                link(decoy, &root.join("var/lib/etcd"));
                vec![]
            },
            refused: &["{root}/var/lib/etcd"],
            untouched: &[],
            kept: &["var/lib/etcd/member/wal/0.wal"],
        },
        Case {
            name: "a parent directory a symlink out of the root",
            setup: |root, decoy| {
                write(&decoy.join("config.yaml"), "not the node's");
                link(decoy, &root.join("var/lib/kubelet"));
                vec![]
            },
            refused: &["{root}/var/lib/kubelet"],
            untouched: &[],
            kept: &["var/lib/kubelet/config.yaml"],
        },
        Case {
            name: "--cert-dir naming a symlink out of the root",
            setup: |root, decoy| {
                link(decoy, &root.join("srv/pki"));
                vec!["--cert-dir".into(), "/srv/pki".into()]
            },
            refused: &["{root}/srv/pki"],
            untouched: &["etc/kubernetes/pki"],
            kept: &[
                "etc/kubernetes/pki/ca.crt",
                "etc/kubernetes/pki/ca.key",
                "etc/kubernetes/pki/etcd/ca.key",
            ],
        },
    ]
}

/// `reset --force -o json` on `root`: exit code, events, stderr.
fn reset(root: &Path, extra: &[String]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let out = kubestrap()
        .args(["reset", "--force", "-o", "json", "--root"])
        .arg(root)
        .args(extra)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    (
        out.status.code(),
        events(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hostile_reset_inputs_are_refused_by_name_and_nothing_outside_the_set_changes() {
    let work = tempfile::tempdir().unwrap();
    let work = std::fs::canonicalize(work.path()).unwrap();
    let mut failures = Vec::new();
    let cases = cases();
    for (i, case) in cases.iter().enumerate() {
        let dir = work.join(format!("reset{i}"));
        let (root, decoy) = (dir.join("root"), dir.join("decoy"));
        legit_node(&root, &decoy);
        write(&root.join("var/lib/kubestrap-other/data"), "not reset's");
        let extra = (case.setup)(&root, &decoy);
        let decoy_before = snapshot(&decoy);
        let kept_before: Vec<_> = case
            .untouched
            .iter()
            .map(|u| snapshot(&root.join(u)))
            .collect();

        let (code, ev, stderr) = reset(&root, &extra);
        let error = ev
            .iter()
            .filter(|e| e["event"] == "error")
            .map(|e| e["message"].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        let mut problems = Vec::new();
        if code != Some(1) {
            problems.push(format!("exit {code:?}, expected 1"));
        }
        for r in case.refused {
            let want = r
                .replace("{root}", root.to_str().unwrap())
                .replace("{decoy}", decoy.to_str().unwrap());
            if !error.contains(&format!("{want} (")) {
                problems.push(format!("the error does not name {want}"));
            }
        }
        if snapshot(&decoy) != decoy_before {
            problems.push("the decoy outside the root changed".into());
        }
        for (u, before) in case.untouched.iter().zip(&kept_before) {
            if &snapshot(&root.join(u)) != before {
                problems.push(format!("{u} changed"));
            }
        }
        for f in LEGIT.iter().filter(|f| !case.kept.contains(f)) {
            if root.join(f).symlink_metadata().is_ok() {
                problems.push(format!("{f} was not removed"));
            }
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n  {error}", case.name, problems.join("; ")));
        }
    }
    super::all_passed("hostile reset inputs", cases.len(), &failures);
}

/// The ClusterConfiguration a fake API server serves in kubeadm-config, and an admin.conf
/// for it under `root`.
fn fake_cluster(root: &Path, cluster_configuration: &'static str) -> fake_apiserver::FakeApiServer {
    use base64::Engine;
    let server = fake_apiserver::FakeApiServer::start(CLUSTER_IP, |_| {
        std::sync::Arc::new(move |_| {
            let cm = serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                "data": {"ClusterConfiguration": cluster_configuration},
            });
            (200, cm.to_string())
        })
    });
    let ca = base64::engine::general_purpose::STANDARD.encode(&server.ca_pem);
    let admin = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: not-a-real-token\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
        server.endpoint()
    );
    write(&root.join("etc/kubernetes/admin.conf"), &admin);
    server
}

/// Issue 12, item 3: the certificates dir comes from the configuration, never from the API
/// server's `--client-ca-file` (set through extraArgs to the distribution's CA directory, it
/// made reset empty that directory). With the cluster's ClusterConfiguration naming another
/// certificatesDir, that one is cleaned (only the PKI's files) and the CA directory is
/// untouched; so it is with `--config`, and with neither (the default).
#[test]
fn the_certificates_dir_comes_from_the_configuration_not_the_client_ca_file() {
    let work = tempfile::tempdir().unwrap();
    let work = std::fs::canonicalize(work.path()).unwrap();
    for source in ["cluster", "config", "default"] {
        let root = work.join(source);
        let tls = root.join("etc/pki/tls/certs");
        write(&tls.join("ca.crt"), "the distribution's CA");
        write(&tls.join("ca-bundle.crt"), "the distribution's bundle");
        let ca_flag = format!("--client-ca-file={}", tls.join("ca.crt").display());
        manifest(&root, "kube-apiserver", &["kube-apiserver".into(), ca_flag]);
        let pki = match source {
            "default" => "etc/kubernetes/pki",
            _ => "etc/kubernetes/site-pki",
        };
        for f in ["ca.crt", "ca.key", "etcd/ca.key", "sa.pub"] {
            write(&root.join(pki).join(f), "init's");
        }
        write(&root.join(pki).join("README.txt"), "not the PKI's");
        let mut extra = Vec::new();
        let _server = match source {
            "cluster" => Some(fake_cluster(
                &root,
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ncertificatesDir: /etc/kubernetes/site-pki\n",
            )),
            "config" => {
                let cfg = work.join("kubeadm.yaml");
                write(
                    &cfg,
                    "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificatesDir: /etc/kubernetes/site-pki\n",
                );
                extra = vec!["--config".into(), cfg.to_str().unwrap().to_string()];
                None
            }
            _ => None,
        };
        let tls_before = snapshot(&tls);
        let (code, ev, stderr) = reset(&root, &extra);
        assert_eq!(code, Some(0), "{source}: {ev:#?}\n{stderr}");
        assert_eq!(
            snapshot(&tls),
            tls_before,
            "{source}: the CA directory changed"
        );
        let result = ev.last().unwrap();
        assert_eq!(
            result["certificates_dir"]["path"],
            root.join(pki).to_str().unwrap(),
            "{source}: {result}"
        );
        let from = match source {
            "config" => "config-file",
            s => s,
        };
        assert_eq!(result["certificates_dir"]["from"], from, "{source}");
        for f in ["ca.crt", "ca.key", "etcd/ca.key", "sa.pub"] {
            assert!(!root.join(pki).join(f).exists(), "{source}: {f} left");
        }
        assert!(
            root.join(pki).join("README.txt").exists(),
            "{source}: not the PKI's, kept"
        );
        let removed = result["removed"].to_string();
        assert!(!removed.contains("etc/pki"), "{source}: {removed}");
    }
}

/// A `--config` reset cannot use (missing, not UTF-8, without a ClusterConfiguration) stops
/// the reset before anything is removed, naming the file and what was expected.
#[test]
fn a_bad_reset_config_names_the_file_and_removes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let (root, decoy) = (work.path().join("root"), work.path().join("decoy"));
    legit_node(&root, &decoy);
    let before = snapshot(&root);
    let init_only = work.path().join("init-only.yaml");
    write(
        &init_only,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
    );
    let binary = work.path().join("binary.yaml");
    std::fs::write(&binary, b"kind: \xff\xfe\n").unwrap();
    let missing = work.path().join("missing.yaml");
    for (file, expect) in [
        (&init_only, "no ClusterConfiguration document found"),
        (&binary, "not UTF-8"),
        (&missing, "No such file"),
    ] {
        let (code, ev, stderr) = reset(&root, &["--config".into(), file.display().to_string()]);
        let error = ev
            .iter()
            .find(|e| e["event"] == "error")
            .and_then(|e| e["message"].as_str())
            .unwrap_or_default();
        assert_eq!(code, Some(1), "{file:?}: {ev:#?}\n{stderr}");
        assert!(
            error.contains("--config") && error.contains(file.to_str().unwrap()),
            "{error}"
        );
        assert!(error.contains(expect), "{error}");
        assert_eq!(snapshot(&root), before, "{file:?}: the node changed");
    }
}
