//! A dry run never leaves private keys where others can read them (issue 12, item 5): its
//! staging directory is private (0700) and is removed when the command ends — on success,
//! on failure and on Ctrl-C — unless `--dry-run-dir DIR` asks to keep it; the result says
//! which. `$TMPDIR` points at a fresh directory per test, so that what a run leaves behind in
//! it can be seen. The dry runs bind nothing; 127.0.0.164 is this file's address.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kubestrap_test_support::{cli::kubestrap, ndjson::events};

const ADDRESS: &str = "127.0.0.164";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `kubestrap ARGS --root ROOT` with `$TMPDIR` = `tmp`.
fn run(tmp: &Path, root: &Path, args: &[&str]) -> std::process::Output {
    kubestrap()
        .env("TMPDIR", tmp)
        .args(args)
        .arg("--root")
        .arg(root)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

/// The arguments of an `init --dry-run` through every phase (no API server needed).
const INIT_DRY_RUN: [&str; 9] = [
    "init",
    "--dry-run",
    "--apiserver-advertise-address",
    ADDRESS,
    "--node-name",
    "n1",
    "--skip-phases",
    "preflight",
    "--kubernetes-version=v1.20.2",
];

/// [`INIT_DRY_RUN`] with JSON output and `extra`: its exit code and events.
fn init_dry_run(root: &Path, tmp: &Path, extra: &[&str]) -> (Option<i32>, Vec<serde_json::Value>) {
    let out = run(
        tmp,
        root,
        &[&INIT_DRY_RUN[..], &["-o", "json"], extra].concat(),
    );
    (out.status.code(), events(&out.stdout))
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// What is in `dir` (its top level: anything deeper is under one of these).
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn a_dry_run_removes_its_private_staging_dir_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (code, ev) = init_dry_run(root.path(), tmp.path(), &[]);
    assert_eq!(code, Some(0), "{ev:#?}");
    let result = ev.last().unwrap();
    let files = result["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["path"].as_str().unwrap().ends_with("pki/etcd/ca.key")),
        "the plan lists the staged private keys: {files:#?}"
    );
    assert_eq!(result["dry_run"], true);
    assert_eq!(
        entries(tmp.path()),
        Vec::<PathBuf>::new(),
        "nothing of the dry run is left in $TMPDIR"
    );
    assert_eq!(result["staging_kept"], false, "{result}");
    assert!(result.get("staging_dir").is_none(), "{result}");
    assert!(is_empty(root.path()), "the root is untouched");

    // Text says the same to a person.
    let out = run(tmp.path(), root.path(), &INIT_DRY_RUN);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[dry-run] the would-be files were staged in a private temporary directory, now removed (--dry-run-dir DIR keeps them)"),
        "{stdout}"
    );
    assert_eq!(entries(tmp.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_failed_dry_run_removes_its_staging_dir_too() {
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // The CA is staged, then the apiserver certificate fails: the one on the node is garbage.
    let pki = root.path().join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::write(pki.join("apiserver.crt"), b"garbage").unwrap();
    std::fs::write(pki.join("apiserver.key"), b"garbage").unwrap();
    let (code, ev) = init_dry_run(root.path(), tmp.path(), &[]);
    let result = ev.last().unwrap();
    assert_eq!(code, Some(1), "{ev:#?}");
    assert_eq!(result["failed_phase"], "certs/apiserver");
    assert!(
        result["files"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("pki/ca.key"),
        "the CA's key was staged before the failure: {result}"
    );
    assert_eq!(entries(tmp.path()), Vec::<PathBuf>::new());
    assert_eq!(result["staging_kept"], false, "{result}");
}

#[test]
fn dry_run_dir_keeps_the_staged_files_in_a_private_dir_and_says_where() {
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("plan/staged");
    let (code, ev) = init_dry_run(
        root.path(),
        tmp.path(),
        &["--dry-run-dir", keep.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{ev:#?}");
    let result = ev.last().unwrap();
    assert_eq!(result["staging_kept"], true, "{result}");
    assert_eq!(result["staging_dir"].as_str(), Some(keep.to_str().unwrap()));
    assert_eq!(mode(&keep), 0o700);
    let pki = keep
        .join(root.path().strip_prefix("/").unwrap())
        .join("etc/kubernetes/pki");
    for key in ["ca.key", "etcd/ca.key", "sa.key", "front-proxy-ca.key"] {
        assert_eq!(mode(&pki.join(key)), 0o600, "{key}");
    }
    for dir in [&pki, &pki.join("etcd")] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    // Only the named directory (and the parent made for it) is left in $TMPDIR.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["plan"]);
    assert!(is_empty(root.path()), "the root is untouched");
}

#[test]
fn dry_run_dir_must_be_new_or_empty_and_comes_with_dry_run() {
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("notes.txt"), b"mine").unwrap();
    let (code, ev) = init_dry_run(
        root.path(),
        tmp.path(),
        &["--dry-run-dir", full.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{ev:#?}");
    let message = ev[0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "--dry-run-dir {}: expected a directory that does not exist yet or is empty, but it is not empty",
            full.display()
        )
    );
    assert_eq!(std::fs::read(full.join("notes.txt")).unwrap(), b"mine");

    let new = tmp.path().join("new");
    let out = run(
        tmp.path(),
        root.path(),
        &[
            "init",
            "phase",
            "certs",
            "ca",
            "-o",
            "json",
            "--dry-run-dir",
            new.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let ev = events(&out.stdout);
    let message = ev[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("--dry-run-dir ") && message.ends_with(": only valid with --dry-run"),
        "{message}"
    );
    assert!(!new.exists(), "nothing is made for a bad flag");
    assert!(is_empty(root.path()), "the root is untouched");
}

#[test]
fn certs_renew_dry_run_leaves_no_staging_dir() {
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let phase = |args: &[&str]| run(tmp.path(), root.path(), args);
    let out = phase(&["init", "phase", "certs", "ca"]);
    assert!(out.status.success(), "{out:?}");
    let out = phase(&["init", "phase", "certs", "apiserver"]);
    assert!(out.status.success(), "{out:?}");
    let before = std::fs::read(root.path().join("etc/kubernetes/pki/apiserver.key")).unwrap();
    let out = phase(&["certs", "renew", "apiserver", "--dry-run"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "[dry-run] the would-be files were staged in a private temporary directory, now removed"
        ),
        "{stderr}"
    );
    assert_eq!(entries(tmp.path()), Vec::<PathBuf>::new());
    assert_eq!(
        std::fs::read(root.path().join("etc/kubernetes/pki/apiserver.key")).unwrap(),
        before,
        "a dry run renews nothing"
    );
}

/// Ctrl-C in the middle of a dry run: the run stops with 130 and the staging directory goes.
/// The join's discovery talks to a listener that accepts and never answers, so the run is
/// surely mid-way (its staging directory made, a phase running) when SIGINT arrives.
#[test]
fn ctrl_c_removes_the_staging_dir() {
    let root = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind((ADDRESS, 0)).unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
            let _ = accepted_tx.send(());
        }
    });
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubestrap"))
        .env("TMPDIR", tmp.path())
        .args(["join", &endpoint, "--dry-run", "-o", "json", "--root"])
        .arg(root.path())
        .args(["--token", "abcdef.0123456789abcdef"])
        .args(["--discovery-token-unsafe-skip-ca-verification"])
        .args(["--node-name", "n1", "--skip-phases", "preflight"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    accepted
        .recv_timeout(Duration::from_secs(60))
        .expect("the join reaches discovery");
    let staged: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(staged.len(), 1, "{staged:?}");
    assert_eq!(mode(&staged[0]), 0o700, "the staging directory is private");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the run did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let ev = events(&stdout);
    let result = ev.last().unwrap();
    assert_eq!(result["status"], "failed", "{ev:#?}");
    assert_eq!(result["staging_kept"], false, "{result}");
    assert_eq!(entries(tmp.path()), Vec::<PathBuf>::new());
}
