//! `kubestrap reset` after a real `kubestrap init` on the test bed: the dry run lists and
//! removes nothing, a reset without confirmation refuses, a confirmed reset removes every file
//! kubestrap wrote and stops the control plane, and a fresh init afterwards works. A worker
//! joined with `--tls-bootstrap builtin` is reset too, its kubelet client certificates (the
//! dated pair and the `kubelet-client-current.pem` symlink) included. Text output, real and
//! dry run, ends with what reset does not clean; JSON output is only NDJSON on stdout. The
//! real reset takes its certificates dir from the cluster's kubeadm-config and removes exactly
//! what its dry run listed. Hostile inputs (paths out of the root) are in
//! tests/it/bad_input/hostile_reset.rs.
//!
//! Addresses: 127.0.0.100 (init/reset/init), 127.0.0.104–105 (two-member etcd), 127.0.0.142
//! (the worker's control plane, API port 16542).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kubestrap_test_support::{bed, cli::files_under, ndjson::events};
use serde_json::Value;

/// `kubestrap reset -o json` on `root` with `stdin` as its input, as it finished.
fn reset_output(root: &Path, extra: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubestrap"))
        .args(["reset", "-o", "json", "--root"])
        .arg(root)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn reset(root: &Path, extra: &[&str], stdin: &str) -> (Option<i32>, Vec<Value>, String) {
    let out = reset_output(root, extra, stdin);
    (
        out.status.code(),
        events(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Content of every file under the root, by relative path.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(root)
        .into_iter()
        .filter(|p| !p.starts_with("var/log"))
        .map(|p| {
            let bytes = std::fs::read(root.join(&p)).unwrap_or_default();
            (p, bytes)
        })
        .collect()
}

/// The events of a run that must have succeeded (else its events and stderr are shown).
fn succeeded(out: &std::process::Output) -> Vec<Value> {
    let ev = events(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{ev:#?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ev
}

fn run_init(root: &Path, advertise: &str, port: u16, config: &Path) -> Vec<Value> {
    let registrar = bed::register_node_when_up(root, "n1", Duration::from_secs(170));
    let out = bed::init_command(root, advertise, port, config)
        .output()
        .unwrap();
    let ev = succeeded(&out);
    assert!(registrar.join().unwrap());
    ev
}

#[test]
fn reset_undoes_init_and_a_fresh_init_works_after_it() {
    bed::kube_bin();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    std::fs::create_dir(&root).unwrap();
    let config = bed::config_file(dir.path(), "2m", "1m");
    let (advertise, port) = ("127.0.0.100", 16500);
    let pods = bed::stand_in(&root);

    let started = Instant::now();
    run_init(&root, advertise, port, &config);
    eprintln!("init: {:?}", started.elapsed());
    let written = snapshot(&root);
    for f in [
        "etc/kubernetes/pki/ca.key",
        "etc/kubernetes/pki/etcd/peer.crt",
        "etc/kubernetes/admin.conf",
        "etc/kubernetes/manifests/etcd.yaml",
        "var/lib/kubelet/config.yaml",
        "var/lib/kubestrap/init.json",
    ] {
        assert!(written.contains_key(Path::new(f)), "{f}: {written:?}");
    }
    assert!(
        written.keys().any(|p| p.starts_with("var/lib/etcd/member")),
        "etcd wrote its data"
    );

    // Dry run: the plan lists the node's files, nothing changes, nothing is asked.
    let (code, ev, _) = reset(&root, &["--dry-run"], "");
    assert_eq!(code, Some(0), "{ev:#?}");
    let result = ev.last().unwrap();
    assert_eq!(result["dry_run"], true);
    let would: Vec<&str> = result["would_remove"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    for f in [
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        "etc/kubernetes/pki/ca.key",
        "etc/kubernetes/pki/etcd/ca.key",
        "etc/kubernetes/pki/sa.pub",
        "var/lib/etcd/member",
        "etc/kubernetes/kubelet.conf",
        "var/lib/kubestrap/init.json",
    ] {
        let f = root.join(f);
        assert!(would.contains(&f.to_str().unwrap()), "{f:?}: {would:?}");
    }
    assert!(result["not_cleaned"].to_string().contains("etc/cni/net.d"));
    // The certificates dir came from the cluster's kubeadm-config, read with admin.conf.
    assert_eq!(result["certificates_dir"]["from"], "cluster", "{result}");
    assert_eq!(result["refused"], Value::Array(vec![]), "{result}");
    // etcd writes on its own while it runs: compare what kubestrap wrote.
    let kubestrap_files = |s: &BTreeMap<PathBuf, Vec<u8>>| -> BTreeMap<PathBuf, Vec<u8>> {
        s.iter()
            .filter(|(p, _)| !p.starts_with("var/lib/etcd"))
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect()
    };
    assert_eq!(kubestrap_files(&snapshot(&root)), kubestrap_files(&written));

    // No --force and no "y" on stdin: refused, nothing removed.
    let (code, ev, stderr) = reset(&root, &[], "n\n");
    assert_eq!(code, Some(1), "{ev:#?}");
    assert!(stderr.contains("[y/N]"), "{stderr}");
    assert!(
        ev.iter()
            .any(|e| e["event"] == "error" && e["hint"].as_str().unwrap_or("").contains("--force"))
    );
    assert_eq!(kubestrap_files(&snapshot(&root)), kubestrap_files(&written));

    // The confirmed reset ("y" on stdin, as kubeadm's prompt takes it).
    let started = Instant::now();
    let (code, ev, stderr) = reset(&root, &[], "y\n");
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{ev:#?}\n{stderr}");
    eprintln!("reset: {took:?}");
    let finished: Vec<&str> = ev
        .iter()
        .filter(|e| e["event"] == "phase_finished")
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        finished,
        [
            "preflight",
            "update-cluster-status",
            "remove-etcd-member",
            "cleanup-node",
            "verify"
        ]
    );
    let result = ev.last().unwrap();
    assert_eq!(result["status"], "success", "{result}");
    // The real etcd answered the membership call over mutual TLS.
    assert!(
        result["etcd_member"]
            .as_str()
            .unwrap()
            .contains("only member"),
        "{result}"
    );
    assert_eq!(result["left"], Value::Array(vec![]));
    assert_eq!(result["failed"], Value::Array(vec![]));
    // What was removed is what the dry run listed.
    let mut removed: Vec<&str> = result["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    removed.sort();
    let mut planned = would.clone();
    planned.sort();
    assert_eq!(removed, planned);
    assert!(ev.iter().any(|e| {
        e["event"] == "progress"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("host's kubelet is not touched")
    }));
    // Nothing kubestrap wrote is left: only the test's own files and the stand-in's logs.
    let left: Vec<PathBuf> = files_under(&root)
        .into_iter()
        .filter(|p| !p.starts_with("var/log"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The stand-in stopped every pod when the manifests went.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pods.containers().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pods.containers().is_empty(), "{:#?}", pods.containers());

    // Resetting a clean node is a no-op that succeeds.
    let (code, ev, _) = reset(&root, &["--force"], "");
    assert_eq!(code, Some(0), "{ev:#?}");
    assert_eq!(ev.last().unwrap()["removed"], Value::Array(vec![]));

    // A fresh init on the reset node: new CA, a control plane that works.
    let ev = run_init(&root, advertise, port, &config);
    let completed = ev
        .iter()
        .filter(|e| e["event"] == "phase_skipped" && e["reason"] == "completed")
        .count();
    assert_eq!(completed, 0, "nothing is resumed from before the reset");
    assert_ne!(
        std::fs::read(root.join("etc/kubernetes/pki/ca.key")).unwrap(),
        written[Path::new("etc/kubernetes/pki/ca.key")],
        "a new CA"
    );
    assert_eq!(
        bed::kubectl(&root, &["get", "--raw", "/readyz"]).trim(),
        "ok"
    );
    let (code, _, _) = reset(&root, &["--force"], "");
    assert_eq!(code, Some(0));
}

/// `kubestrap init phase …` for a node of its own.
fn phase(root: &Path, advertise: &str, node: &str, phase: &[&str]) {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubestrap"))
        .args(["init", "phase"])
        .args(phase)
        .arg("--root")
        .arg(root)
        .args(["--apiserver-advertise-address", advertise])
        .args(["--node-name", node, "--kubernetes-version", "v1.20.2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{phase:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// etcd's JSON gateway through curl, with a node's etcd client certificate.
fn etcd_call(root: &Path, advertise: &str, path: &str, body: &str) -> Value {
    let pki = root.join("etc/kubernetes/pki");
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(pki.join("etcd/ca.crt"))
        .arg("--cert")
        .arg(pki.join("apiserver-etcd-client.crt"))
        .arg("--key")
        .arg(pki.join("apiserver-etcd-client.key"))
        .args(["-X", "POST", "-d", body])
        .arg(format!("https://{advertise}:2379{path}"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{path}: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn member_names(root: &Path, advertise: &str) -> Vec<String> {
    let list = etcd_call(root, advertise, "/v3/cluster/member/list", "{}");
    let mut names: Vec<String> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn reset_of_a_member_of_a_two_member_etcd_removes_it_from_the_cluster() {
    bed::kube_bin();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (ip_a, ip_b) = ("127.0.0.104", "127.0.0.105");
    // Node a: a one-member etcd, run by its kubelet stand-in.
    phase(&a, ip_a, "n1", &["certs", "all"]);
    phase(&a, ip_a, "n1", &["etcd", "local"]);
    let _pods_a = bed::stand_in(&a);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "2"])
        .arg(format!("http://{ip_a}:2381/health"))
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "etcd on {ip_a} did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Node b: certificates from the same etcd CA, added as a member, then started with
    // --initial-cluster-state=existing, as a joining control plane's etcd is.
    for f in ["ca.crt", "ca.key"] {
        let to = b.join("etc/kubernetes/pki/etcd").join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(a.join("etc/kubernetes/pki/etcd").join(f), to).unwrap();
    }
    phase(&b, ip_b, "n2", &["certs", "all"]);
    phase(&b, ip_b, "n2", &["etcd", "local"]);
    let added = etcd_call(
        &a,
        ip_a,
        "/v3/cluster/member/add",
        &format!(r#"{{"peerURLs":["https://{ip_b}:2380"]}}"#),
    );
    assert!(added["member"]["ID"].is_string(), "{added}");
    let manifest = b.join("etc/kubernetes/manifests/etcd.yaml");
    let mut pod = kubestrap_phases::domain::static_pod::Pod::from_yaml(
        &std::fs::read_to_string(&manifest).unwrap(),
    )
    .unwrap();
    let command = &mut pod.spec.containers[0].command;
    let single = format!("--initial-cluster=n2=https://{ip_b}:2380");
    let at = command.iter().position(|a| *a == single).unwrap();
    command[at] = format!("--initial-cluster=n1=https://{ip_a}:2380,n2=https://{ip_b}:2380");
    command.push("--initial-cluster-state=existing".into());
    let joined = pod.to_yaml().unwrap();
    std::fs::write(&manifest, joined).unwrap();
    let _pods_b = bed::stand_in(&b);
    let deadline = Instant::now() + Duration::from_secs(30);
    while member_names(&a, ip_a) != ["n1", "n2"] {
        assert!(Instant::now() < deadline, "{:?}", member_names(&a, ip_a));
        std::thread::sleep(Duration::from_millis(300));
    }

    let (code, ev, stderr) = reset(&b, &["--force"], "");
    assert_eq!(code, Some(0), "{ev:#?}\n{stderr}");
    let result = ev.last().unwrap();
    let said = result["etcd_member"].as_str().unwrap();
    assert!(
        said.contains("removed member \"n2\"") && said.contains("1 member(s) remain"),
        "{said}"
    );
    assert_eq!(
        member_names(&a, ip_a),
        ["n1"],
        "the cluster no longer lists n2"
    );
    assert!(files_under(&b.join("var/lib/etcd")).is_empty());
    assert!(files_under(&b.join("etc/kubernetes")).is_empty());
}

/// `kubestrap reset` with text output: exit code, stdout, stderr.
fn reset_text(root: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubestrap"))
        .args(["reset", "--root"])
        .arg(root)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// kubeadm's closing notes, with this node's CNI directory.
fn assert_says_what_is_not_cleaned(root: &Path, stdout: &str) {
    let cni = root.join("etc/cni/net.d");
    for note in [
        format!(
            "The reset process does not clean CNI configuration. To do so, you must remove {}",
            cni.display()
        ),
        "The reset process does not reset or clean up iptables rules or IPVS tables".into(),
        "ipvsadm --clear".into(),
        "Please, check the contents of the $HOME/.kube/config file.".into(),
    ] {
        assert!(stdout.contains(&note), "{note:?} missing from:\n{stdout}");
    }
}

/// A worker joined to a real control plane with the builtin TLS bootstrap: its kubelet client
/// certificate store (the dated pair and the `kubelet-client-current.pem` symlink, written
/// through the journal) is listed by the dry run and removed by the reset, whose own check
/// then finds nothing left under the worker's root.
#[test]
fn reset_of_a_worker_joined_with_builtin_tls_bootstrap_leaves_nothing() {
    bed::kube_bin();
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp");
    let worker = dir.path().join("worker");
    std::fs::create_dir(&cp).unwrap();
    let config = bed::config_file(dir.path(), "2m", "1m");
    let (advertise, port) = ("127.0.0.142", 16542);
    let _pods = bed::stand_in(&cp);
    run_init(&cp, advertise, port, &config);
    let hash = bed::ca_hash(&cp);

    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubestrap"))
        .args([
            "join",
            &format!("{advertise}:{port}"),
            "-o",
            "json",
            "--root",
        ])
        .arg(&worker)
        // bed::init_command's token.
        .args(["--token", "abcdef.0123456789abcdef"])
        .args(["--discovery-token-ca-cert-hash", &hash])
        .args(["--tls-bootstrap", "builtin", "--node-name", "w1"])
        .args(["--ignore-preflight-errors", bed::IGNORED_PREFLIGHT])
        .output()
        .unwrap();
    succeeded(&out);
    let pki = worker.join("var/lib/kubelet/pki");
    let current = pki.join("kubelet-client-current.pem");
    let dated = std::fs::read_link(&current).unwrap();
    assert_eq!(dated.parent(), Some(pki.as_path()));
    assert!(
        dated
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("kubelet-client-20") && n.ends_with(".pem")),
        "{dated:?}"
    );
    assert!(dated.is_file());
    // The symlink went through Effects: kubelet-start's journal record lists it, with the
    // content it points at (so a resumed join sees it intact).
    let journal: Value =
        serde_json::from_slice(&std::fs::read(worker.join("var/lib/kubestrap/join.json")).unwrap())
            .unwrap();
    let outputs: Vec<&str> = journal["phases"]["kubelet-start"]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    for f in [&current, &dated] {
        assert!(outputs.contains(&f.to_str().unwrap()), "{f:?}: {outputs:?}");
    }
    let before = files_under(&worker);
    for f in [&current, &dated] {
        let rel = f.strip_prefix(&worker).unwrap();
        assert!(before.iter().any(|p| p == rel), "{rel:?}: {before:?}");
    }

    // The text dry run lists them, says what a reset leaves, and removes nothing.
    let (code, stdout, stderr) = reset_text(&worker, &["--dry-run"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    for f in [&current, &dated] {
        assert!(stdout.contains(f.to_str().unwrap()), "{f:?}:\n{stdout}");
    }
    assert_says_what_is_not_cleaned(&worker, &stdout);
    assert_eq!(files_under(&worker), before);

    let (code, ev, stderr) = reset(&worker, &["--force"], "");
    assert_eq!(code, Some(0), "{ev:#?}\n{stderr}");
    let result = ev.last().unwrap();
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(result["left"], Value::Array(vec![]), "{result}");
    let removed: Vec<&str> = result["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for f in [&current, &dated] {
        assert!(removed.contains(&f.to_str().unwrap()), "{f:?}: {removed:?}");
    }
    assert!(ev.iter().any(|e| {
        e["event"] == "progress"
            && e["phase"] == "verify"
            && e["message"] == "nothing kubestrap wrote is left on this node"
    }));
    assert!(current.symlink_metadata().is_err(), "the symlink is gone");
    assert_eq!(files_under(&worker), Vec::<PathBuf>::new());
    // The control plane the worker joined is untouched.
    assert_eq!(bed::kubectl(&cp, &["get", "--raw", "/readyz"]).trim(), "ok");
    let (code, _, _) = reset(&cp, &["--force"], "");
    assert_eq!(code, Some(0));
}

/// Text output, real reset and dry run alike, ends with kubeadm's notes on what reset does not
/// clean.
#[test]
fn text_reset_and_its_dry_run_say_what_reset_does_not_clean() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let admin = root.join("etc/kubernetes/admin.conf");
    let pki = root.join("var/lib/kubelet/pki");
    std::fs::create_dir_all(admin.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::write(&admin, "x").unwrap();
    let dated = pki.join("kubelet-client-2026-01-02-03-04-05.pem");
    std::fs::write(&dated, "pair").unwrap();
    std::os::unix::fs::symlink(&dated, pki.join("kubelet-client-current.pem")).unwrap();
    let serving = pki.join("kubelet.crt");
    std::fs::write(&serving, "the kubelet's own").unwrap();
    let other = pki.join("someone-elses.pem");
    std::fs::write(&other, "neither init's, join's nor their kubelet's").unwrap();

    let (code, stdout, stderr) = reset_text(root, &["--dry-run"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("[dry-run] reset would remove:"), "{stdout}");
    assert_says_what_is_not_cleaned(root, &stdout);
    assert!(admin.exists() && dated.exists());

    let (code, stdout, stderr) = reset_text(root, &["--force"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_says_what_is_not_cleaned(root, &stdout);
    assert!(!admin.exists() && !dated.exists());
    assert!(
        pki.join("kubelet-client-current.pem")
            .symlink_metadata()
            .is_err()
    );
    assert!(
        !serving.exists(),
        "the serving pair of the kubelet init or join started: its state, removed"
    );
    assert!(
        other.exists(),
        "not init's, join's or their kubelet's: kept"
    );
}

/// Every line `reset -o json` prints on stdout is one JSON object (the confirmation prompt
/// goes to stderr), real run and dry run alike, refusals and all; the result comes last.
#[test]
fn json_reset_prints_only_ndjson_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let write = |rel: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    };
    for f in [
        "etc/kubernetes/admin.conf",
        "etc/kubernetes/pki/ca.key",
        "var/lib/etcd/member/wal/0.wal",
    ] {
        write(f);
    }
    // A journal record outside the documented set: refused, so the run fails (exit 1).
    let record =
        serde_json::json!({"phases": {"x": {"outputs": [{"path": dir.path().join("elsewhere")}]}}});
    std::fs::write(dir.path().join("elsewhere"), "not reset's").unwrap();
    std::fs::create_dir_all(root.join("var/lib/kubestrap")).unwrap();
    std::fs::write(root.join("var/lib/kubestrap/init.json"), record.to_string()).unwrap();
    // Exit codes: the dry run and the confirmed run fail on the refusal, the unconfirmed
    // one is aborted, and the last finds a clean node (the journal went with the rest).
    for (extra, stdin, code) in [
        (&["--dry-run"][..], "", 1),
        (&[][..], "n\n", 1),
        (&[][..], "y\n", 1),
        (&["--force"][..], "", 0),
    ] {
        let out = reset_output(&root, extra, stdin);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(!lines.is_empty(), "{extra:?} {stdin:?}: no output");
        for line in &lines {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{extra:?} {stdin:?}: not JSON ({e}): {line:?}"));
            assert!(v.is_object() && v["event"].is_string(), "{line}");
        }
        let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        assert_eq!(last["event"], "result", "{extra:?} {stdin:?}");
        assert_eq!(
            out.status.code(),
            Some(code),
            "{extra:?} {stdin:?}: {stdout}"
        );
    }
    // The confirmed runs removed what is reset's and refused the record by name.
    assert!(!root.join("etc/kubernetes/admin.conf").exists());
    assert!(!root.join("var/lib/etcd/member").exists());
    assert!(dir.path().join("elsewhere").exists());
}

/// A control-plane node's files without a cluster: an etcd manifest whose member answers at
/// 127.0.0.100:2379 (never contacted: these runs skip or dry-run remove-etcd-member, and the
/// manifest names no listener to wait for), a kubeconfig, PKI files, etcd's data and init's
/// journal recording one of them.
fn offline_node(root: &Path) {
    let write = |rel: &str, content: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    };
    let data_dir = format!("--data-dir={}", root.join("var/lib/etcd").display());
    let etcd = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "etcd", "namespace": "kube-system"},
        "spec": {"containers": [{"name": "etcd", "image": "i", "command": [
            "etcd", "--name=n1", "--advertise-client-urls=https://127.0.0.100:2379", data_dir,
        ]}]},
    });
    write("etc/kubernetes/manifests/etcd.yaml", &etcd.to_string());
    for f in [
        "etc/kubernetes/admin.conf",
        "etc/kubernetes/pki/ca.key",
        "etc/kubernetes/pki/etcd/ca.key",
        "var/lib/etcd/member/wal/0.wal",
    ] {
        write(f, "x");
    }
    let record = serde_json::json!({"phases": {"certs/ca": {"outputs": [
        {"path": root.join("etc/kubernetes/pki/ca.key")}
    ]}}});
    write("var/lib/kubestrap/init.json", &record.to_string());
}

/// The phases a run's events say started, finished and were skipped (with the reason).
fn phases_of(ev: &[Value]) -> (Vec<&str>, Vec<&str>, Vec<(&str, &str)>) {
    let named = |kind: &str| -> Vec<&str> {
        ev.iter()
            .filter(|e| e["event"] == kind)
            .map(|e| e["phase"].as_str().unwrap())
            .collect()
    };
    let skipped = ev
        .iter()
        .filter(|e| e["event"] == "phase_skipped")
        .map(|e| (e["phase"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    (named("phase_started"), named("phase_finished"), skipped)
}

/// Reset runs on the engine: each phase reports `phase_started`/`phase_finished`; the dry run
/// lists every removal (through `Effects::remove`) and removes nothing; `--skip-phases`
/// skips a phase by flag; `reset phase cleanup-node` runs that phase alone (taking the
/// inventory itself); and no run leaves a journal of its own.
#[test]
fn reset_phases_run_on_the_engine_alone_skipped_and_dry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    offline_node(&root);
    let before = snapshot(&root);

    let (code, ev, stderr) = reset(&root, &["--dry-run"], "");
    assert_eq!(code, Some(0), "{ev:#?}\n{stderr}");
    let all = ["preflight", "remove-etcd-member", "cleanup-node", "verify"];
    let (started, finished, skipped) = phases_of(&ev);
    assert_eq!(
        (started.as_slice(), finished.as_slice()),
        (&all[..], &all[..])
    );
    // The node has no kube-apiserver manifest: not a control plane whose ClusterStatus entry
    // reset would take out.
    assert_eq!(skipped, [("update-cluster-status", "not-applicable")]);
    let result = ev.last().unwrap();
    assert_eq!(
        (&result["dry_run"], &result["status"]),
        (&true.into(), &"success".into())
    );
    let would: Vec<(&str, &str)> = result["would_remove"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["path"].as_str().unwrap(), t["kind"].as_str().unwrap()))
        .collect();
    let at = |rel: &str| root.join(rel).to_str().unwrap().to_string();
    for (rel, kind) in [
        ("etc/kubernetes/manifests/etcd.yaml", "static-pod-manifest"),
        ("etc/kubernetes/admin.conf", "kubeconfig"),
        ("etc/kubernetes/pki/ca.key", "certificate"),
        ("etc/kubernetes/pki/etcd/ca.key", "certificate"),
        ("var/lib/etcd/member", "etcd-member"),
        ("var/lib/kubestrap/init.json", "journal"),
    ] {
        assert!(
            would.contains(&(at(rel).as_str(), kind)),
            "{rel}: {would:?}"
        );
    }
    assert!(
        result["etcd_member"]
            .as_str()
            .unwrap()
            .contains("would remove member \"n1\""),
        "{result}"
    );
    assert!(result.get("removed").is_none(), "{result}");
    assert_eq!(snapshot(&root), before, "a dry run removes nothing");

    // --skip-phases: the etcd member is left alone; the rest runs and the node is clean.
    let (code, ev, stderr) = reset(
        &root,
        &["--force", "--skip-phases", "remove-etcd-member"],
        "",
    );
    assert_eq!(code, Some(0), "{ev:#?}\n{stderr}");
    let (started, finished, skipped) = phases_of(&ev);
    let ran = ["preflight", "cleanup-node", "verify"];
    assert_eq!(
        (started.as_slice(), finished.as_slice()),
        (&ran[..], &ran[..])
    );
    assert_eq!(
        skipped,
        [
            ("update-cluster-status", "not-applicable"),
            ("remove-etcd-member", "skipped-by-flag")
        ]
    );
    let result = ev.last().unwrap();
    assert_eq!(result["status"], "success", "{result}");
    assert!(result.get("etcd_member").is_none(), "{result}");
    assert_eq!(result["left"], Value::Array(vec![]));
    let mut removed: Vec<&str> = result["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    removed.sort();
    let mut planned: Vec<&str> = would.iter().map(|(p, _)| *p).collect();
    planned.sort();
    assert_eq!(removed, planned, "what the dry run listed");
    assert!(
        files_under(&root).is_empty(),
        "no journal of reset's own either"
    );

    // `reset phase cleanup-node` alone: that phase only, which takes the inventory itself.
    offline_node(&root);
    let (code, ev, stderr) = reset(&root, &["phase", "cleanup-node", "--force"], "");
    assert_eq!(code, Some(0), "{ev:#?}\n{stderr}");
    let (started, finished, skipped) = phases_of(&ev);
    assert_eq!(
        (started, finished),
        (vec!["cleanup-node"], vec!["cleanup-node"])
    );
    assert!(skipped.is_empty(), "{skipped:?}");
    assert!(
        ev.iter().any(|e| e["event"] == "progress"
            && e["phase"] == "cleanup-node"
            && e["message"]
                .as_str()
                .unwrap()
                .starts_with("certificates dir ")),
        "the inventory is taken, and reported, by the phase that needs it first"
    );
    let result = ev.last().unwrap();
    assert_eq!(
        result["removed"].as_array().unwrap().len(),
        planned.len(),
        "{result}"
    );
    assert!(files_under(&root).is_empty());
    // An unknown phase name is refused, naming the known ones.
    let (code, ev, _) = reset(&root, &["--force", "--skip-phases", "cleanup"], "");
    assert_eq!(code, Some(1));
    assert!(
        ev[0]["message"].as_str().unwrap().contains("cleanup-node"),
        "{ev:#?}"
    );
}
