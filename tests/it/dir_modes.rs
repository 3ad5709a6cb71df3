//! Directory modes are kubestrap's, not the process umask's (issue 12, item 6): under
//! `umask 000` no directory kubestrap creates is group- or world-writable, the PKI
//! directories and etcd's data directory are 0700, and a dry run's staged tree has the same
//! modes. The runs bind nothing; 127.0.0.165 is this file's address.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const ADDRESS: &str = "127.0.0.165";

/// The phases of init that need no API server (certs, kubeconfig, etcd, control plane,
/// kubelet-start) plus the journal.
const SKIP_API_PHASES: &str = "preflight,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command";

/// `kubestrap ARGS` with the umask at 000, so that only kubestrap's own modes count.
fn kubestrap_umask_000(args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(assert_cmd::cargo::cargo_bin("kubestrap"))
        .args(args)
        .output()
        .unwrap()
}

/// `init` of the phases that need no API server, on the node `root`, under `umask 000`.
fn init_umask_000(root: &Path, extra: &[&str]) -> std::process::Output {
    let root = root.to_str().unwrap();
    let args = [
        "init",
        "--root",
        root,
        "--apiserver-advertise-address",
        ADDRESS,
        "--node-name",
        "n1",
        "--kubernetes-version",
        "v1.20.2",
        "--skip-phases",
        SKIP_API_PHASES,
    ];
    kubestrap_umask_000(&[&args[..], extra].concat())
}

/// Every directory under `dir` (itself included) with its permission bits.
fn dirs_with_modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![(
        dir.to_path_buf(),
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o7777,
    )];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(dirs_with_modes(&e.path()));
        }
    }
    out
}

/// Asserts the modes of every directory of the node tree under `base`: none group- or
/// world-writable; the PKI directories and etcd's data directory exactly 0700; the others
/// exactly 0755.
fn assert_node_dir_modes(base: &Path) {
    let dirs = dirs_with_modes(base);
    let private = [
        "etc/kubernetes/pki",
        "etc/kubernetes/pki/etcd",
        "var/lib/etcd",
    ];
    for p in private {
        assert!(
            dirs.iter().any(|(d, _)| d == &base.join(p)),
            "{p} was created: {dirs:#?}"
        );
    }
    for (dir, mode) in &dirs {
        let rel = dir.strip_prefix(base).unwrap();
        assert_eq!(mode & 0o022, 0, "{} is {mode:o}", dir.display());
        let want = if private.iter().any(|p| rel == Path::new(p)) {
            0o700
        } else {
            0o755
        };
        assert_eq!(*mode, want, "{} is {mode:o}", dir.display());
    }
}

#[test]
fn under_umask_000_init_creates_no_loose_directory_and_private_pki_and_etcd_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    // The root itself is created by the run too.
    let root = tmp.path().join("node");
    let out = init_umask_000(&root, &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(root.join("var/lib/kubestrap/init.json").is_file());
    assert!(root.join("etc/kubernetes/manifests/etcd.yaml").is_file());
    assert_node_dir_modes(&root);
}

#[test]
fn under_umask_000_a_kept_dry_run_stages_the_same_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("node");
    let keep = tmp.path().join("staged");
    let out = init_umask_000(
        &root,
        &["--dry-run", "--dry-run-dir", keep.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!root.exists(), "a dry run creates nothing under the root");
    let mode = std::fs::metadata(&keep).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
    // The staged copy of the node: every directory from the staging dir down to the root
    // mirrors the host's paths, and is 0755.
    let staged_root = keep.join(root.strip_prefix("/").unwrap());
    for (dir, mode) in dirs_with_modes(&keep) {
        if dir == keep {
            continue;
        }
        let on_the_way = staged_root.starts_with(&dir);
        assert!(
            on_the_way || dir.starts_with(&staged_root),
            "{}",
            dir.display()
        );
        if on_the_way {
            assert_eq!(mode, 0o755, "{}", dir.display());
        }
    }
    assert_node_dir_modes(&staged_root);
}

#[test]
fn under_umask_000_certs_generate_csr_makes_its_pki_dirs_private() {
    // `certs generate-csr` writes keys and CSRs for an external CA into a fresh cert dir:
    // that directory (a PKI directory) is 0700, its parents 0755.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("node");
    let out = kubestrap_umask_000(&["certs", "generate-csr", "--root", root.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    for (dir, mode) in dirs_with_modes(&root) {
        let want = if dir.ends_with("etc/kubernetes/pki") || dir.ends_with("pki/etcd") {
            0o700
        } else {
            0o755
        };
        assert_eq!(mode, want, "{} is {mode:o}", dir.display());
    }
}
