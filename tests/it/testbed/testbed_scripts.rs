//! scripts/testbed/up and scripts/testbed/down, run as a user runs them (issue 12, items 7
//! and 8): `down --purge` removes only a node root that `up` made (its marker,
//! `.kubestrap-testbed-root`, names the root's own path), and `up` exits non-zero, naming the
//! step and its log, when `kubestrap init` or the join fails, whatever the API server answers.
//!
//! The `down --purge` tests need no test bed. Their system directories are paths that do not
//! exist (`/etc/<name>`, `/<name>`): the refusal is decided on the resolved path, and a test
//! that went wrong cannot remove anything real. The `up` tests build kubestrap (the dev
//! profile) and run the real control plane; addresses 127.0.0.177, 127.0.0.178 and
//! 127.0.0.179 (port 6443, as `up` uses it). Each stops what `up` started when it ends,
//! failed or not.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use kubestrap_test_support::bed;
use kubestrap_test_support::cli::files_under;

/// The marker `up` writes into each root it makes.
const MARKER: &str = ".kubestrap-testbed-root";

fn script(name: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts/testbed")
            .join(name),
    );
    cmd.timeout(Duration::from_secs(900));
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `down --purge --root <root>`, with `HOME` set to `home` (a test's own, so that no test
/// depends on, or could touch, the real one).
fn purge(root: &Path, home: &Path) -> Output {
    script("down")
        .args(["--purge", "--root"])
        .arg(root)
        .env("HOME", home)
        .output()
        .unwrap()
}

/// Marks `dir` as `up` does, by `up`'s own code (scripts/testbed/node-root.sh).
fn mark(dir: &Path) {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed/node-root.sh");
    let out = std::process::Command::new("bash")
        .args(["-c", r#". "$1" && testbed_mark "$2""#, "mark"])
        .arg(&lib)
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.join(MARKER).is_file());
}

/// A directory with one file in it; the file.
fn dir_with_file(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("keep-me");
    std::fs::write(&file, "a user's file").unwrap();
    file
}

/// A root `up` made, with a file in it; the file.
fn marked_with_file(dir: &Path) -> PathBuf {
    mark(dir);
    dir_with_file(dir)
}

/// A refusal: exit 2, a message naming `path` and `why`, and nothing stopped or removed.
fn assert_refused(out: &Output, path: &Path, why: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(err.contains(why), "{why}: {err}");
    assert!(err.contains("nothing stopped or removed"), "{err}");
    assert!(!err.contains("removing"), "{err}");
}

#[test]
fn down_purge_refuses_a_directory_without_the_marker_of_up() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let root = t.path().join("mine");
    let file = dir_with_file(&root);
    assert_refused(&purge(&root, &home), &root, "has no marker");
    assert!(file.is_file());

    // A marked root copied elsewhere: its marker names the original, not the copy.
    let marked = t.path().join("node");
    mark(&marked);
    let copy = t.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(marked.join(MARKER), copy.join(MARKER)).unwrap();
    let copied_file = dir_with_file(&copy);
    assert_refused(&purge(&copy, &home), &copy, "has no marker");
    assert!(copied_file.is_file());

    // A file is no root.
    let file = t.path().join("file");
    std::fs::write(&file, "a user's file").unwrap();
    assert_refused(&purge(&file, &home), &file, "is not a directory");
    assert!(file.is_file());
}

#[test]
fn down_purge_refuses_a_symlink_even_to_a_marked_root() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("node");
    let file = marked_with_file(&root);
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&root, &link).unwrap();
    for given in [link.clone(), link.join("")] {
        assert_refused(
            &purge(&given, &t.path().join("home")),
            &link,
            "is a symlink",
        );
        assert!(link.is_symlink() && file.is_file());
    }
}

#[test]
fn down_purge_refuses_a_home_directory_and_what_holds_one_even_marked() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home/user");
    let file = marked_with_file(&home);
    assert_refused(&purge(&home, &home), &home, "it is a home directory");
    // The same directory named through `..`: the path is resolved before it is judged.
    let dotted = home.join("../user");
    assert_refused(&purge(&dotted, &home), &home, "it is a home directory");
    let parent = t.path().join("home");
    mark(&parent);
    assert_refused(
        &purge(&parent, &home),
        &parent,
        "it holds the home directory",
    );
    assert!(file.is_file());
}

#[test]
fn down_purge_refuses_root_and_system_directories() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    // Paths that do not exist: judged by where they are, never by what is there.
    let name = format!("kubestrap-test-{}", std::process::id());
    for (path, why) in [
        ("/".to_string(), "it is /"),
        (format!("/{name}"), "top-level directory"),
        (format!("/etc/{name}"), "inside the system directory /etc"),
        (format!("/usr/{name}"), "inside the system directory /usr"),
        (
            format!("/var/{name}"),
            "a system directory (directly in /var)",
        ),
    ] {
        let path = Path::new(&path);
        assert!(!path.join(MARKER).exists());
        assert_refused(&purge(path, &home), path, why);
    }
}

#[test]
fn down_purge_removes_the_roots_up_made_and_refuses_an_unmarked_worker_root() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let root = t.path().join("node");
    let worker = t.path().join("node-worker1");
    marked_with_file(&root);
    // A worker root beside it that `up` did not make: the whole purge is refused.
    let file = dir_with_file(&worker);
    assert_refused(&purge(&root, &home), &worker, "has no marker");
    assert!(root.join(MARKER).is_file() && file.is_file());

    mark(&worker);
    let out = purge(&root, &home);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!root.exists() && !worker.exists(), "{}", stderr(&out));
    // Nothing left to remove: a second purge succeeds and changes nothing.
    let out = purge(&root, &home);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn up_refuses_a_root_or_worker_root_with_content_and_no_marker_before_writing_anything() {
    // A user's directory as the root.
    let bed = UpRoot::new();
    dir_with_file(&bed.root());
    let out = bed.up("127.0.0.179", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let expected = format!("{} is not empty and has no marker", bed.root().display());
    assert!(err.contains(&expected), "{err}");
    assert_eq!(files_under(&bed.root()), [Path::new("keep-me")]);
    drop(bed);

    // A user's directory where the worker's root would go: the node root is not made either.
    let bed = UpRoot::new();
    let worker_file = dir_with_file(&bed.worker());
    let out = bed.up("127.0.0.179", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let expected = format!("{} is not empty and has no marker", bed.worker().display());
    assert!(err.contains(&expected), "{err}");
    assert!(!bed.root().exists() && worker_file.is_file());
}

/// The node root of an `up` test: `<tempdir>/node`, its worker root beside it. Dropping it
/// stops the stand-in `up` started (`down`), failed test or not; the tempdir goes after.
struct UpRoot {
    dir: tempfile::TempDir,
}

impl UpRoot {
    fn new() -> Self {
        UpRoot {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("node")
    }

    fn worker(&self) -> PathBuf {
        self.dir.path().join("node-worker1")
    }

    fn log(&self, name: &str) -> PathBuf {
        self.root().join("var/log/kubestrap-testbed").join(name)
    }

    /// `up` as scripts/test runs it: the dev profile, the build `cargo test` made.
    fn up(&self, address: &str, extra: &[&str]) -> Output {
        let out = script("up")
            .env("KUBESTRAP_PROFILE", "dev")
            .args(["--stand-in", "--address", address, "--root"])
            .arg(self.root())
            .args(extra)
            .output()
            .unwrap();
        eprintln!("up {extra:?}: {}\n{}", out.status, stderr(&out));
        out
    }

    fn down(&self) -> Output {
        script("down")
            .arg("--root")
            .arg(self.root())
            .output()
            .unwrap()
    }
}

impl Drop for UpRoot {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

/// `up` failed in `step`, exit 1, naming the step and its log.
fn assert_up_failed(out: &Output, step: &str, log: &Path) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("up: {step} failed")), "{step}: {err}");
    assert!(
        err.contains(log.to_str().unwrap()),
        "{}: {err}",
        log.display()
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("is up on"));
}

#[test]
fn up_exits_non_zero_naming_the_join_when_the_join_fails() {
    bed::kube_bin();
    let bed = UpRoot::new();
    // The worker's root, made by an earlier `up`, still holds a CA: the join's preflight
    // refuses the node (FileAvailable--etc-kubernetes-pki-ca.crt; kubeadm's worker join checks
    // it too: `FileAvailableCheck{Path: cfg.CACertPath}` in RunJoinNodeChecks,
    // cmd/kubeadm/app/preflight/checks.go).
    mark(&bed.worker());
    let pki = bed.worker().join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::write(pki.join("ca.crt"), "a CA of another cluster").unwrap();

    let out = bed.up("127.0.0.177", &[]);
    let log = bed.log("kubestrap-join-worker1.log");
    assert_up_failed(&out, "step 5, kubestrap join (worker1)", &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("FileAvailable--etc-kubernetes-pki-ca.crt"),
        "{text}"
    );
    // init itself went through: its log says so.
    let init = std::fs::read_to_string(bed.log("kubestrap-init.log")).unwrap();
    assert!(init.contains("kubestrap join 127.0.0.177:6443"), "{init}");

    // down --purge removes both roots `up` made.
    let out = purge(&bed.root(), &bed.dir.path().join("home"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!bed.root().exists() && !bed.worker().exists());
}

#[test]
fn up_exits_non_zero_when_init_fails_though_the_api_server_answers() {
    bed::kube_bin();
    let bed = UpRoot::new();
    let first = bed.up("127.0.0.178", &["--no-worker"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(bed.root().join(MARKER).is_file() && !bed.worker().exists());

    // Someone moved Service kube-dns to another clusterIP (immutable): the next init's
    // addon/coredns, after the wait for a healthy control plane, cannot apply it.
    let kubectl = |args: &[&str]| bed::kubectl(&bed.root(), args);
    kubectl(&["-n", "kube-system", "delete", "service", "kube-dns"]);
    let created = kubectl(&[
        "-n",
        "kube-system",
        "create",
        "service",
        "clusterip",
        "kube-dns",
        "--clusterip=10.96.0.11",
        "--tcp=53:53",
    ]);
    assert!(created.contains("service/kube-dns created"), "{created}");
    let down = bed.down();
    assert!(down.status.success(), "{}", stderr(&down));

    let out = bed.up("127.0.0.178", &["--no-worker"]);
    let log = bed.log("kubestrap-init.log");
    assert_up_failed(&out, "step 4, kubestrap init", &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("addon/coredns") && text.contains("kube-dns"),
        "{text}"
    );
    // The API server answers all along: this is the failure an answering API server hid.
    let readyz = bed::kubectl_as(
        &bed.root().join("etc/kubernetes/admin.conf"),
        &["get", "--raw", "/readyz"],
    );
    assert_eq!(readyz, (true, "ok".to_string()));
}
