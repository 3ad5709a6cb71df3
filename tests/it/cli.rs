//! The `kubestrap` binary as a user meets it: help, exit codes, JSON events, bad input.
//! Address: the NDJSON table's control plane runs on 127.0.0.151 (a worker join's
//! control-plane phases name 127.0.0.151:6443 too, but never reach it).

use std::path::Path;

use kubestrap_test_support::{
    bed,
    cli::{copy_tree, kubestrap},
    control_plane, kubeadm_config,
    ndjson::events,
};
use predicates::prelude::*;
use serde_json::Value;

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
    "control-plane-join update-status",
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
        events(&out.stdout)[0]["clientVersion"]["gitVersion"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    kubestrap()
        .args(["completion", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kubestrap").and(predicate::str::contains("certs")));
}

/// The NDJSON table's control plane.
const NDJSON_IP: &str = "127.0.0.151";

/// How a JSON-mode invocation of the table ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ends {
    /// Exit 0.
    Success,
    /// Exit 1, with an `error` event and then a failed `result`.
    Failure,
}

/// Runs `kubestrap <args> -o json --root <root>`; asserts that every stdout line is one JSON
/// object, that there is at least one, and how it ends; returns the objects.
fn ndjson(args: &[&str], root: &Path, ends: Ends) -> Vec<Value> {
    let out = kubestrap()
        .args(args)
        .args(["-o", "json", "--root"])
        .arg(root)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let objects = events(&out.stdout);
    assert!(
        !objects.is_empty(),
        "{args:?}: no JSON on stdout; stderr: {stderr}"
    );
    // `events` parses by `lines()`: an object spread over lines, or a blank line, fails it.
    assert_eq!(
        stdout.matches('\n').count(),
        objects.len(),
        "{args:?}: one object per line:\n{stdout}"
    );
    let last = objects.last().unwrap();
    match ends {
        Ends::Success => assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}"),
        Ends::Failure => {
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
            assert!(
                objects.iter().any(|o| o["event"] == "error"),
                "{args:?}: {stdout}"
            );
            assert_eq!(
                (&last["event"], &last["status"]),
                (&Value::from("result"), &Value::from("failed")),
                "{args:?}: {stdout}"
            );
        }
    }
    objects
}

/// The `result` event a command's JSON mode ends with, after asserting it succeeded.
fn result_of<'a>(args: &[&str], objects: &'a [Value]) -> &'a Value {
    let last = objects.last().unwrap();
    assert_eq!(last["event"], "result", "{args:?}: {objects:?}");
    assert_eq!(last["status"], "success", "{args:?}: {last}");
    last
}

/// Issue 12, item 11: with `-o json` every command prints only NDJSON on stdout, one object
/// per line — the token commands against a real kube-apiserver v1.20.2, the certificate,
/// kubeconfig, config, reset and workflow commands on a copy of its node. Failing invocations
/// too: an `error` event, then the failed `result`.
#[tokio::test(flavor = "multi_thread")]
async fn every_command_prints_only_ndjson_with_output_json() {
    let dir = tempfile::tempdir().unwrap();
    let cp_root = dir.path().join("cp");
    let _cp = control_plane::start_control_plane(&cp_root, NDJSON_IP).await;
    let cp = cp_root.as_path();
    // The PKI and kubeconfigs without the static pods: the offline commands and reset run
    // here, away from the running control plane.
    let node = dir.path().join("node");
    copy_tree(&cp.join("etc/kubernetes"), &node.join("etc/kubernetes"));
    std::fs::remove_dir_all(node.join("etc/kubernetes/manifests")).unwrap();
    let node = node.as_path();
    let ok = Ends::Success;

    // Token commands: kubeadm prints a token or the join command (create), a line per token
    // (delete), a table or, with -o json, BootstrapToken objects (list).
    let token = "ndjson.0123456789abcdef";
    let args = ["token", "create", token];
    let created = ndjson(&args, cp, ok);
    let result = result_of(&args, &created);
    assert_eq!(result["token"], token);
    // admin.conf's first use also grants it its rights (kubeadm:cluster-admins).
    let objects = result["api_objects"].as_array().unwrap();
    assert!(
        objects
            .iter()
            .any(|o| o["name"] == "bootstrap-token-ndjson"),
        "{result}"
    );
    let args = ["token", "create", "--print-join-command"];
    let joined = ndjson(&args, cp, ok);
    let command = result_of(&args, &joined)["join_command"].as_str().unwrap();
    assert!(command.starts_with("kubestrap join"), "{command}");
    // With a certificate key: the control-plane join, as kubeadm's token create prints it.
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let args = [
        "token",
        "create",
        "--print-join-command",
        "--certificate-key",
        key,
    ];
    let joined = ndjson(&args, cp, ok);
    let command = result_of(&args, &joined)["join_command"].as_str().unwrap();
    assert!(
        command.starts_with("kubestrap join")
            && command.ends_with(&format!(" --control-plane --certificate-key {key}")),
        "{command}"
    );
    let listed = ndjson(&["token", "list"], cp, ok);
    assert!(listed.len() >= 2, "{listed:?}");
    for t in &listed {
        assert_eq!(t["kind"], "BootstrapToken", "{t}");
        assert_eq!(t["apiVersion"], "output.kubeadm.k8s.io/v1alpha3", "{t}");
    }
    assert!(listed.iter().any(|t| t["token"] == token), "{listed:?}");
    let args = ["token", "delete", "ndjson"];
    let deleted = ndjson(&args, cp, ok);
    assert_eq!(
        result_of(&args, &deleted)["deleted"],
        serde_json::json!(["ndjson"])
    );
    let args = ["token", "generate"];
    let generated = ndjson(&args, cp, ok);
    assert_eq!(
        result_of(&args, &generated)["token"]
            .as_str()
            .unwrap()
            .len(),
        23
    );

    // A worker join with the builtin TLS bootstrap (init's upload-config and
    // bootstrap-token phases first): in text each run of phases it skips for one reason is
    // one line, in JSON NDJSON.
    let join_token = "ndjoin.0123456789abcdef";
    let cfg = kubeadm_config::init()
        .token(join_token)
        .advertise(NDJSON_IP)
        .bind_port(6443)
        .node_name("cp")
        .with(kubeadm_config::cluster().kubernetes_version("v1.20.2"))
        .write(dir.path().join("kubeadm.yaml"));
    let cfg = cfg.to_str().unwrap();
    // upload-config/kubelet annotates Node cp once a kubelet registers it: be that kubelet.
    assert!(
        bed::register_node(
            cp.join("etc/kubernetes/admin.conf"),
            "cp",
            dir.path(),
            std::time::Duration::from_secs(60)
        )
        .join()
        .unwrap(),
        "Node cp registered"
    );
    for phase in [&["upload-config", "all"][..], &["bootstrap-token"]] {
        let args = [&["init", "phase"][..], phase, &["--config", cfg]].concat();
        let objects = ndjson(&args, cp, ok);
        result_of(&args, &objects);
    }
    bed::wait_for_signature(cp, "ndjoin", true);
    let endpoint = format!("{NDJSON_IP}:6443");
    let ignored = format!("{},Port-10250", bed::IGNORED_PREFLIGHT);
    let join_args = |node: &'static str| {
        [
            "join",
            &endpoint,
            "--token",
            join_token,
            "--discovery-token-unsafe-skip-ca-verification",
            "--tls-bootstrap",
            "builtin",
            "--ignore-preflight-errors",
            &ignored,
            "--node-name",
            node,
        ]
        .map(str::to_string)
    };
    let text = kubestrap()
        .args(join_args("worker1"))
        .arg("--root")
        .arg(dir.path().join("worker1"))
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(0), "{text:?}");
    // 22 phases skipped for one reason, in three runs (phases ran between them).
    let only_cp = "(not-applicable: only a control-plane join (--control-plane) runs this phase)";
    assert_eq!(
        skip_lines(&text),
        [
            format!(
                "- [control-plane-prepare/download-certs … control-plane-prepare/control-plane/scheduler] 18 phases skipped {only_cp}"
            ),
            format!("- [etcd-join] skipped {only_cp}"),
            format!(
                "- [control-plane-join/update-status … wait-control-plane] 3 phases skipped {only_cp}"
            ),
        ]
    );
    let args = join_args("worker2");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let joined = ndjson(&args, &dir.path().join("worker2"), ok);
    result_of(&args, &joined);
    let json_skips = joined
        .iter()
        .filter(|e| e["event"] == "phase_skipped")
        .count();
    assert_eq!(json_skips, 22, "one event per skipped phase: {joined:#?}");

    // kubeadm's CertificateExpirationInfo, as one line.
    let expiration = ndjson(&["certs", "check-expiration"], node, ok);
    assert_eq!(expiration.len(), 1, "{expiration:?}");
    assert_eq!(expiration[0]["kind"], "CertificateExpirationInfo");

    // Commands with no kubeadm JSON form: events ending with a result that carries what the
    // user asked for. (Renewal first: generate-csr leaves kubeconfigs without a certificate.)
    let args = ["certs", "renew", "admin.conf"];
    let renewed = ndjson(&args, node, ok);
    let result = result_of(&args, &renewed);
    assert_eq!(result["certificates"][0]["name"], "admin.conf", "{result}");
    assert_eq!(
        result["files"][0]["path"],
        node.join("etc/kubernetes/admin.conf").to_str().unwrap()
    );
    // A command's dry run says, in its result, that its staged files are gone (issue 12).
    let args = ["certs", "renew", "admin.conf", "--dry-run"];
    let renewed = ndjson(&args, node, ok);
    let result = result_of(&args, &renewed);
    assert_eq!(
        (&result["dry_run"], &result["staging_kept"]),
        (&true.into(), &false.into()),
        "{result}"
    );
    let table: &[(&[&str], &str)] = &[
        (&["certs", "generate-csr"], "csrs"),
        (&["certs", "generate-csr", "--dry-run"], "csrs"),
        (&["certs", "certificate-key"], "certificate_key"),
        (
            &["kubeconfig", "user", "--client-name", "alice"],
            "kubeconfig",
        ),
        (&["config", "print", "init-defaults"], "config"),
        (&["config", "print", "join-defaults"], "config"),
        (&["completion", "bash"], "script"),
        (&["init", "phase", "certs", "ca"], "files"),
        (&["reset", "--dry-run"], "files"),
    ];
    for (args, field) in table {
        let objects = ndjson(args, node, ok);
        let result = result_of(args, &objects);
        assert!(!result[*field].is_null(), "{args:?}: no {field}: {result}");
    }
    let version = ndjson(&["version"], node, ok);
    assert_eq!(
        version[0]["clientVersion"]["gitVersion"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );

    // Failing invocations: still NDJSON.
    let failing: &[&[&str]] = &[
        &["certs", "renew", "no-such-certificate"],
        &[
            "certs",
            "check-expiration",
            "--config",
            "/nonexistent/kubeadm.yaml",
        ],
        &[
            "kubeconfig",
            "user",
            "--client-name",
            "bob",
            "--validity-period",
            "1x",
        ],
        &["token", "list", "--kubeconfig", "/nonexistent/admin.conf"],
        &["token", "delete", "nosuch"],
        &["init", "phase", "addon", "coredns"],
    ];
    for args in failing {
        let root = if args[0] == "token" { cp } else { node };
        let objects = ndjson(args, root, Ends::Failure);
        // The failed result names the command, as a successful one does.
        let command = match args[0] {
            "init" => "init".to_string(),
            _ => args[..2].join(" "),
        };
        assert_eq!(objects.last().unwrap()["workflow"], command.as_str());
    }

    // reset last: it removes the node's files.
    let args = ["reset", "--force"];
    let reset = ndjson(&args, node, ok);
    result_of(&args, &reset);
    assert!(!node.join("etc/kubernetes/admin.conf").exists());
}

/// Issue 12, item 12: a worker join skips control-plane-prepare's 18 phases for one reason
/// (no --control-plane); its text output says so in one line, `-v` lists each phase, and the
/// JSON events keep one per phase. The group needs no cluster: nothing is fetched.
#[test]
fn a_worker_join_shows_the_control_plane_phases_it_skips_as_one_line() {
    let root = tempfile::tempdir().unwrap();
    let join = |extra: &[&str]| {
        let out = kubestrap()
            .args(["join", "127.0.0.151:6443", "phase", "control-plane-prepare"])
            .args(["--token", "abcdef.0123456789abcdef"])
            .arg("--discovery-token-unsafe-skip-ca-verification")
            .arg("--root")
            .arg(root.path())
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        out
    };
    let reason =
        "skipped (not-applicable: only a control-plane join (--control-plane) runs this phase)";

    let quiet = skip_lines(&join(&[]));
    assert_eq!(
        quiet,
        [format!(
            "- [control-plane-prepare/download-certs … control-plane-prepare/control-plane/scheduler] 18 phases {reason}"
        )]
    );
    let verbose = skip_lines(&join(&["-v"]));
    assert_eq!(verbose.len(), 18, "{verbose:#?}");
    assert!(verbose.iter().all(|l| l.ends_with(reason)), "{verbose:#?}");
    assert_eq!(
        verbose[0],
        format!("- [control-plane-prepare/download-certs] {reason}")
    );

    let json = events(&join(&["-o", "json"]).stdout);
    let skipped: Vec<&Value> = json
        .iter()
        .filter(|e| e["event"] == "phase_skipped")
        .collect();
    assert_eq!(skipped.len(), 18, "{json:#?}");
    assert!(skipped.iter().all(|e| e["reason"] == "not-applicable"));
    assert!(
        std::fs::read_dir(root.path()).map_or(true, |mut d| d.next().is_none()),
        "nothing written"
    );
}

/// The text sink's lines for skipped phases, from stderr.
fn skip_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("- ["))
        .map(str::to_string)
        .collect()
}

/// `token create --certificate-key`: only with --print-join-command, and only a key; both are
/// usage errors naming the flag, before anything is asked of a cluster.
#[test]
fn token_create_certificate_key_needs_the_join_command_and_a_key() {
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let out = kubestrap()
        .args(["token", "create", "--certificate-key", key])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--print-join-command"),
        "{out:?}"
    );
    let out = kubestrap()
        .args([
            "token",
            "create",
            "--print-join-command",
            "--certificate-key",
            "xyz",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--certificate-key") && stderr.contains("64 hex"),
        "{stderr}"
    );
}
