//! cleanup-node's unmounting of what the kubelet mounted under its directory (pod volumes, its
//! own bind mount): kubeadm's `unmountKubeletDirectory` (cmd/kubeadm/app/cmd/phases/reset/
//! unmount_linux.go at v1.20.2) unmounts every mount point under /var/lib/kubelet before the
//! directory is removed. A stopped kubelet leaves them behind, and reset's removal refuses to
//! cross a mount point.

use std::path::PathBuf;

use crate::config::well_known::KUBELET_DIR;
use crate::contract::effects::Effects;
use crate::contract::host::NodeRoot;

use super::containment::mount_points;

/// Unmounts every mount point under the node's kubelet directory, the deepest first (a
/// path's children sort after it); a failure is a warning, as in kubeadm. A point mounted
/// twice is seen again on the next pass.
pub(crate) fn unmount_kubelet_dir(root: &NodeRoot, fx: &mut Effects<'_>) {
    let dir = root.resolve(KUBELET_DIR);
    let under = || -> Vec<PathBuf> {
        mount_points()
            .into_iter()
            .filter(|p| p.starts_with(&dir))
            .collect()
    };
    let mut points = under();
    if points.is_empty() {
        return;
    }
    if fx.is_dry_run() {
        fx.progress(format!(
            "dry run: would unmount {} mount point(s) under {}",
            points.len(),
            dir.display()
        ));
        return;
    }
    // Stacked mounts need a pass each; a pass that unmounts nothing ends it.
    for _ in 0..8 {
        let mut unmounted = false;
        for point in points.iter().rev() {
            match nix::mount::umount2(point, nix::mount::MntFlags::empty()) {
                Ok(()) => {
                    unmounted = true;
                    fx.progress(format!("unmounted {}", point.display()));
                }
                Err(e) => fx.warn(format!("cannot unmount {}: {e}", point.display())),
            }
        }
        points = under();
        if points.is_empty() || !unmounted {
            return;
        }
    }
}
