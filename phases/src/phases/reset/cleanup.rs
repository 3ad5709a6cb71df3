//! Removing what the inventory lists, waiting for the static pods to go, and checking that
//! nothing is left.

use std::collections::BTreeSet;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::contract::effects::Effects;
use crate::contract::host::{FsError, NodeRoot};

use super::containment::mount_points;
use super::inventory::{Inventory, Target, TargetKind};

/// What a removal came to, target by target: `removed` lists only what was there and is gone
/// now; `failed` each target that could not be removed, with the error.
#[derive(Debug, Default)]
pub struct Removal {
    pub removed: Vec<Target>,
    pub failed: Vec<FsError>,
}

impl Removal {
    /// Adds what another removal did.
    pub fn extend(&mut self, other: Removal) {
        self.removed.extend(other.removed);
        self.failed.extend(other.failed);
    }
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> FsError + '_ {
    move |source| FsError {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes a file (or symlink, as itself); `Ok(false)` when it was already gone.
fn remove_file(path: &Path) -> Result<bool, FsError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(at(path)(e)),
    }
}

/// Removes the directory `dir` and everything in it, on `dir`'s own filesystem only: a
/// symlink is removed as a link (never followed), and a directory on another device (a mount
/// point inside, or one the mount table lists: a bind mount) is left, with an error, instead
/// of being emptied.
fn remove_tree(dir: &Path) -> Result<bool, FsError> {
    let md = match std::fs::symlink_metadata(dir) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(at(dir)(e)),
    };
    /// Removes what it can; the first error (a mount point inside, …) is returned after the
    /// rest of the tree was removed, and keeps the directories above it.
    fn walk(dir: &Path, dev: u64, mounts: &BTreeSet<PathBuf>) -> Result<(), FsError> {
        let mut first_error = None;
        for entry in std::fs::read_dir(dir).map_err(at(dir))? {
            let entry = entry.map_err(at(dir))?;
            let path = entry.path();
            // symlink_metadata does not follow: a link to a directory is removed, not walked.
            let done = std::fs::symlink_metadata(&path)
                .map_err(at(&path))
                .and_then(|md| {
                    if !md.is_dir() {
                        remove_file(&path).map(drop)
                    } else if md.dev() != dev || mounts.contains(&path) {
                        Err(at(&path)(io::Error::other(
                            "a mount point: reset does not remove what is mounted there",
                        )))
                    } else {
                        walk(&path, dev, mounts)
                    }
                });
            if let Err(e) = done {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => std::fs::remove_dir(dir).map_err(at(dir)),
        }
    }
    if !md.is_dir() {
        return Err(at(dir)(io::Error::other("not a directory")));
    }
    walk(dir, md.dev(), &mount_points()).map(|()| true)
}

/// Removes one target: a file (a symlink as itself), etcd's `member/` directory, or the
/// kubelet's state (a file or a real directory, never a symlink followed).
pub(super) fn remove(target: &Target) -> Result<bool, FsError> {
    let real_dir = || std::fs::symlink_metadata(&target.path).is_ok_and(|m| m.file_type().is_dir());
    if target.kind.is_dir() || (target.kind == TargetKind::KubeletState && real_dir()) {
        remove_tree(&target.path)
    } else {
        remove_file(&target.path)
    }
}

/// Whether a target is still there.
pub(super) fn remains(target: &Target) -> bool {
    target.path.symlink_metadata().is_ok()
}

/// Removes each target through `fx` (under `--dry-run`: lists what is there).
fn remove_all<'a>(targets: impl Iterator<Item = &'a Target>, fx: &mut Effects<'_>) -> Removal {
    let mut out = Removal::default();
    for t in targets {
        match fx.remove(&t.path, t.kind.as_str(), |_| remove(t)) {
            Ok(true) => out.removed.push(t.clone()),
            Ok(false) => {}
            Err(e) => out.failed.push(e),
        }
    }
    out
}

/// Removes the static-pod manifests, so the kubelet stops their pods.
pub fn remove_manifests(inv: &Inventory, fx: &mut Effects<'_>) -> Removal {
    remove_all(
        inv.targets
            .iter()
            .filter(|t| t.kind == TargetKind::StaticPodManifest),
        fx,
    )
}

/// Removes every target except the manifests (see [`remove_manifests`]), journals last, so
/// an interrupted reset can be run again and finds what it has not removed yet.
pub fn remove_the_rest(inv: &Inventory, fx: &mut Effects<'_>) -> Removal {
    remove_all(
        inv.targets
            .iter()
            .filter(|t| t.kind != TargetKind::StaticPodManifest),
        fx,
    )
}

/// How long a pod gets after its ports closed to finish writing.
const SETTLE: Duration = Duration::from_secs(1);

/// Waits until nothing accepts connections on `listeners` (the static pods have stopped) or
/// `timeout` passes; returns those still listening. `tick` is told which are still up.
pub fn wait_until_stopped(
    listeners: &[SocketAddr],
    timeout: Duration,
    mut tick: impl FnMut(&[SocketAddr]),
) -> Vec<SocketAddr> {
    let deadline = Instant::now() + timeout;
    let mut last_report = Instant::now();
    let mut seen_up = false;
    loop {
        let up: Vec<SocketAddr> = listeners
            .iter()
            .copied()
            .filter(|a| TcpStream::connect_timeout(a, Duration::from_millis(300)).is_ok())
            .collect();
        if up.is_empty() && seen_up {
            // A process closes its listeners before it has finished shutting down (etcd
            // syncs its WAL after): give it a moment before its files are deleted.
            std::thread::sleep(SETTLE);
        }
        if up.is_empty() || Instant::now() >= deadline {
            return up;
        }
        seen_up = true;
        if last_report.elapsed() >= Duration::from_secs(5) {
            tick(&up);
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What is still there of the inventory's targets after a reset.
pub fn leftovers(inv: &Inventory) -> Vec<PathBuf> {
    inv.targets
        .iter()
        .filter(|t| remains(t))
        .map(|t| t.path.clone())
        .collect()
}

/// What reset does not clean, in kubeadm's words, with paths under the node root.
pub fn not_cleaned(root: &NodeRoot) -> Vec<String> {
    vec![
        format!(
            "The reset process does not clean CNI configuration. To do so, you must remove {}",
            root.resolve("/etc/cni/net.d").display()
        ),
        "The reset process does not reset or clean up iptables rules or IPVS tables. If you wish to reset iptables, you must do so manually by using the \"iptables\" command. If your cluster was setup to utilize IPVS, run ipvsadm --clear (or similar) to reset your system's IPVS tables.".to_string(),
        "The reset process does not clean your kubeconfig files and you must remove them manually. Please, check the contents of the $HOME/.kube/config file.".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::configured::ResetOptions;
    use super::super::inventory::inventory;
    use super::*;

    #[test]
    fn removes_files_and_directory_contents_keeping_the_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path()).unwrap();
        let pki = root.resolve("/etc/kubernetes/pki");
        std::fs::create_dir_all(pki.join("etcd")).unwrap();
        std::fs::write(pki.join("ca.crt"), "x").unwrap();
        std::fs::write(pki.join("etcd/ca.key"), "x").unwrap();
        let data = root.resolve("/var/lib/etcd/member/wal");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("0.wal"), "x").unwrap();
        let manifests = root.resolve("/etc/kubernetes/manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        std::fs::write(manifests.join("kube-scheduler.yaml"), "not: a pod").unwrap();
        std::fs::write(manifests.join("other.yaml"), "user's").unwrap();
        std::fs::write(manifests.join(".kubestrap-abc"), "half").unwrap();
        std::fs::write(root.resolve("/etc/kubernetes/admin.conf"), "x").unwrap();
        std::fs::create_dir_all(root.resolve("/var/lib/kubestrap")).unwrap();
        let recorded = root.resolve("/etc/kubernetes/extra.conf");
        std::fs::write(&recorded, "x").unwrap();
        std::fs::write(
            root.resolve("/var/lib/kubestrap/init.json"),
            serde_json::json!({"phases": {"x": {"outputs": [
                {"path": recorded}, {"path": "/etc/passwd"}, {"path": pki.join("ca.crt")}
            ]}}})
            .to_string(),
        )
        .unwrap();

        let inv = inventory(&root, &ResetOptions::default());
        let kinds: Vec<TargetKind> = inv.targets.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                TargetKind::StaticPodManifest,
                TargetKind::Kubeconfig,
                TargetKind::Certificate,
                TargetKind::Certificate,
                TargetKind::EtcdMember,
                TargetKind::RecordedFile,
                TargetKind::TempFile,
                TargetKind::Journal,
            ],
            "{:#?}",
            inv.targets
        );
        assert!(
            inv.refused
                .iter()
                .any(|r| r.path == Path::new("/etc/passwd")),
            "{:?}",
            inv.refused
        );
        let fs = crate::HostFs::real();
        let mut fx = Effects::new("cleanup-node", &fs, &crate::contract::effects::Silent);
        let mut done = remove_manifests(&inv, &mut fx);
        done.extend(remove_the_rest(&inv, &mut fx));
        assert!(done.failed.is_empty(), "{:?}", done.failed);
        assert_eq!(done.removed, inv.targets, "each removed, once");
        assert!(leftovers(&inv).is_empty());
        assert!(pki.is_dir() && root.resolve("/var/lib/etcd").is_dir());
        assert!(manifests.join("other.yaml").exists(), "not ours: kept");
        assert!(Path::new("/etc/passwd").exists());
        assert!(
            inventory(&root, &ResetOptions::default())
                .targets
                .is_empty()
        );
    }

    #[test]
    fn removal_reports_only_what_it_removed_and_each_failure_apart() {
        let dir = tempfile::tempdir().unwrap();
        let there = dir.path().join("there");
        std::fs::write(&there, "x").unwrap();
        // A "file" target that is a non-empty directory cannot be removed as a file.
        let stuck = dir.path().join("stuck");
        std::fs::create_dir_all(stuck.join("inside")).unwrap();
        let file = |path: &Path| Target {
            path: path.to_path_buf(),
            kind: TargetKind::Kubeconfig,
        };
        let targets = [file(&there), file(&dir.path().join("gone")), file(&stuck)];
        let fs = crate::HostFs::real();
        let mut fx = Effects::new("cleanup-node", &fs, &crate::contract::effects::Silent);
        let done = remove_all(targets.iter(), &mut fx);
        assert_eq!(done.removed, [file(&there)]);
        assert_eq!(done.failed.len(), 1);
        assert_eq!(done.failed[0].path, stuck);
        assert!(stuck.is_dir());
    }

    #[test]
    fn a_tree_is_removed_without_following_its_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        let member = dir.path().join("etcd/member");
        std::fs::create_dir_all(member.join("wal")).unwrap();
        std::fs::write(member.join("wal/0.wal"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, member.join("snap")).unwrap();
        std::os::unix::fs::symlink(outside.join("keep"), member.join("wal/link")).unwrap();
        assert!(remove_tree(&member).unwrap());
        assert!(!member.exists());
        assert!(outside.join("keep").exists(), "a link's target is kept");
        assert!(!remove_tree(&member).unwrap());
    }

    #[test]
    fn waiting_ends_when_nothing_listens() {
        let listener = std::net::TcpListener::bind("127.0.0.119:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let up = wait_until_stopped(&[addr], Duration::from_millis(600), |_| {});
        assert_eq!(up, [addr]);
        drop(listener);
        let start = Instant::now();
        assert!(wait_until_stopped(&[addr], Duration::from_secs(10), |_| {}).is_empty());
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
