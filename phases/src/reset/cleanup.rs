//! Removing what the inventory lists, waiting for the static pods to go, and checking that
//! nothing is left.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::host::{FsError, NodeRoot};

use super::inventory::{Inventory, Target, TargetKind};

/// Removes a file (or symlink); a file already gone is not an error.
fn remove_file(path: &Path) -> Result<bool, FsError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(FsError {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes everything inside `dir`, keeping `dir` itself (it may be a mount point).
fn clean_dir(dir: &Path) -> Result<(), FsError> {
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FsError { path, source }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(at(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(at(dir))?;
        let path = entry.path();
        // file_type does not follow symlinks: a link to a directory is removed, not walked.
        let is_dir = entry.file_type().map_err(at(&path))?.is_dir();
        if is_dir {
            std::fs::remove_dir_all(&path).map_err(at(&path))?;
        } else {
            remove_file(&path)?;
        }
    }
    Ok(())
}

/// Removes one target: a file, or a directory's content.
pub fn remove(target: &Target) -> Result<(), FsError> {
    if target.kind.is_dir() {
        clean_dir(&target.path)
    } else {
        remove_file(&target.path).map(drop)
    }
}

/// Whether a target is still (partly) there.
pub fn remains(target: &Target) -> bool {
    if target.kind.is_dir() {
        std::fs::read_dir(&target.path).is_ok_and(|mut d| d.next().is_some())
    } else {
        target.path.symlink_metadata().is_ok()
    }
}

/// Removes the static-pod manifests, so the kubelet stops their pods. Returns the errors.
pub fn remove_manifests(inv: &Inventory) -> Vec<FsError> {
    inv.targets
        .iter()
        .filter(|t| t.kind == TargetKind::StaticPodManifest)
        .filter_map(|t| remove(t).err())
        .collect()
}

/// Removes every target except the manifests (see [`remove_manifests`]), journals last, so
/// an interrupted reset can be run again and finds what it has not removed yet.
pub fn remove_the_rest(inv: &Inventory) -> Vec<FsError> {
    inv.targets
        .iter()
        .filter(|t| t.kind != TargetKind::StaticPodManifest)
        .filter_map(|t| remove(t).err())
        .collect()
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
    use super::super::inventory::{ResetOptions, inventory};
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
                TargetKind::CertificatesDir,
                TargetKind::EtcdDataDir,
                TargetKind::RecordedFile,
                TargetKind::TempFile,
                TargetKind::Journal,
            ],
            "{:#?}",
            inv.targets
        );
        assert!(
            inv.warnings.iter().any(|w| w.contains("/etc/passwd")),
            "{:?}",
            inv.warnings
        );
        assert!(remove_manifests(&inv).is_empty());
        assert!(remove_the_rest(&inv).is_empty());
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
