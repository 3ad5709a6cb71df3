//! The `kubestrap` binary as a user meets it: help, exit codes, JSON events, bad input.

mod common;

use common::{events, kubestrap};
use predicates::prelude::*;

/// kubeadm's init and join phase names (kubeadm-facts.md); every one has its own help.
const INIT_PHASES: &[&str] = &[
    "preflight",
    "certs",
    "certs ca",
    "certs apiserver",
    "certs apiserver-kubelet-client",
    "certs front-proxy-ca",
    "certs front-proxy-client",
    "certs etcd-ca",
    "certs etcd-server",
    "certs etcd-peer",
    "certs etcd-healthcheck-client",
    "certs apiserver-etcd-client",
    "certs sa",
    "kubeconfig",
    "kubeconfig admin",
    "kubeconfig super-admin",
    "kubeconfig kubelet",
    "kubeconfig controller-manager",
    "kubeconfig scheduler",
    "etcd local",
    "control-plane apiserver",
    "control-plane controller-manager",
    "control-plane scheduler",
    "kubelet-start",
    "wait-control-plane",
    "upload-config kubeadm",
    "upload-config kubelet",
    "upload-certs",
    "mark-control-plane",
    "bootstrap-token",
    "kubelet-finalize",
    "kubelet-finalize enable-client-cert-rotation",
    "addon coredns",
    "addon kube-proxy",
    "show-join-command",
];

const JOIN_PHASES: &[&str] = &[
    "preflight",
    "control-plane-prepare download-certs",
    "control-plane-prepare certs",
    "control-plane-prepare kubeconfig",
    "control-plane-prepare control-plane",
    "kubelet-start",
    "etcd-join",
    "kubelet-wait-bootstrap",
    "control-plane-join mark-control-plane",
    "wait-control-plane",
];

#[test]
fn every_phase_has_help_saying_what_it_does() {
    for (workflow, phases) in [("init", INIT_PHASES), ("join", JOIN_PHASES)] {
        for phase in phases {
            let mut args = vec![workflow, "phase"];
            args.extend(phase.split(' '));
            args.push("--help");
            let out = kubestrap().args(&args).output().unwrap();
            assert!(out.status.success(), "{args:?}");
            let help = String::from_utf8(out.stdout).unwrap();
            let first = help.lines().next().unwrap_or_default();
            assert!(
                first.len() > 20 && !first.starts_with("Usage"),
                "{args:?} has no description: {first:?}"
            );
        }
    }
    // The shorthand reaches the same tree.
    kubestrap()
        .args(["phase", "certs", "sa", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("sa.key"));
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    kubestrap()
        .args(["init", "--apiserver-bind-port", "http"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--apiserver-bind-port"));
    kubestrap()
        .args(["init", "phase", "certs", "nope"])
        .assert()
        .code(2);
    kubestrap().arg("frobnicate").assert().code(2);
}

#[test]
fn an_unknown_skipped_phase_is_an_error_listing_the_known_ones() {
    let root = tempfile::tempdir().unwrap();
    let out = kubestrap()
        .args([
            "init",
            "--skip-phases",
            "certs/bogus",
            "-o",
            "json",
            "--root",
        ])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let ev = events(&out.stdout);
    assert_eq!(ev[0]["event"], "error");
    let msg = ev[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("certs/bogus") && msg.contains("certs/apiserver"),
        "{msg}"
    );
    assert_eq!(ev.last().unwrap()["status"], "failed");
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn json_output_is_ndjson_only_and_ends_with_the_result() {
    let root = tempfile::tempdir().unwrap();
    // No kubelet has bootstrapped under this root: the phase warns and changes nothing.
    let out = kubestrap()
        .args(["init", "phase", "kubelet-finalize", "-o", "json", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let ev = events(&out.stdout);
    let kinds: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["phase_started", "warning", "phase_finished", "result"]
    );
    assert_eq!(
        ev[0]["phase"],
        "kubelet-finalize/enable-client-cert-rotation"
    );
    assert!(
        ev[1]["message"]
            .as_str()
            .unwrap()
            .contains("kubelet-client-current.pem")
    );
    assert_eq!(ev[3]["status"], "success");
    assert_eq!(ev[3]["files"], serde_json::json!([]));

    // A phase that fails: its error, then the result naming it.
    let out = kubestrap()
        .args(["init", "phase", "addon", "coredns", "-o", "json", "--root"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let ev = events(&out.stdout);
    let kinds: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["phase_started", "error", "result"]);
    assert!(
        ev[1]["message"].as_str().unwrap().contains("admin.conf"),
        "{}",
        ev[1]
    );
    assert_eq!(ev[2]["status"], "failed");
    assert_eq!(ev[2]["failed_phase"], "addon/coredns");
}

#[test]
fn reset_without_force_or_confirmation_refuses() {
    let root = tempfile::tempdir().unwrap();
    let kept = root.path().join("etc/kubernetes/admin.conf");
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    std::fs::write(&kept, "x").unwrap();
    kubestrap()
        .arg("reset")
        .arg("--root")
        .arg(root.path())
        .write_stdin("")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("[y/N]").and(predicate::str::contains("--force")));
    assert!(kept.exists());
}

#[test]
fn version_and_completion() {
    kubestrap()
        .arg("version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    let out = kubestrap()
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(
        events(&out.stdout)[0]["kubestrapVersion"],
        env!("CARGO_PKG_VERSION")
    );
    kubestrap()
        .args(["completion", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kubestrap").and(predicate::str::contains("certs")));
}
