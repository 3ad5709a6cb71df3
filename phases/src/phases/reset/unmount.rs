//! cleanup-node's unmounting of what the kubelet mounted under its directory (pod volumes, its
//! own bind mount): kubeadm's `unmountKubeletDirectory` (cmd/kubeadm/app/cmd/phases/reset/
//! unmount_linux.go) unmounts every mount point under /var/lib/kubelet before the directory
//! is removed. A stopped kubelet leaves them behind, and reset's removal refuses to cross a
//! mount point.

use std::path::{Path, PathBuf};

use crate::config::well_known::KUBELET_DIR;
use crate::contract::effects::Effects;
use crate::contract::host::NodeRoot;

/// Unmounts every mount point under the node's kubelet directory, the last mounted (the
/// deepest) first; a failure is a warning, as in kubeadm.
pub(crate) fn unmount_kubelet_dir(root: &NodeRoot, fx: &mut Effects<'_>) {
    let dir = root.resolve(KUBELET_DIR);
    let mountinfo = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(m) => m,
        Err(e) => {
            fx.warn(format!(
                "cannot read /proc/self/mountinfo: {e}; nothing unmounted"
            ));
            return;
        }
    };
    let points = mount_points_under(&mountinfo, &dir);
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
    for point in points.iter().rev() {
        match nix::mount::umount2(point, nix::mount::MntFlags::empty()) {
            Ok(()) => fx.progress(format!("unmounted {}", point.display())),
            Err(e) => fx.warn(format!("cannot unmount {}: {e}", point.display())),
        }
    }
}

/// The mount points (field 5 of mountinfo, octal escapes decoded) that are `dir` or under it,
/// in mount order.
fn mount_points_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// The kernel writes space, tab, newline and backslash in mountinfo as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mount_points_under_the_kubelet_dir_in_mount_order() {
        let info = "\
22 1 8:1 / / rw - ext4 /dev/vda rw
90 22 0:50 / /n/var/lib/kubelet rw - ext4 /dev/vda rw
91 90 0:51 / /n/var/lib/kubelet/pods/a/volumes/kubernetes.io~secret/my\\040token rw - tmpfs tmpfs rw
92 22 0:52 / /n/var/lib/kubeletx rw - tmpfs tmpfs rw
93 22 0:53 / /other/var/lib/kubelet rw - tmpfs tmpfs rw
";
        assert_eq!(
            mount_points_under(info, Path::new("/n/var/lib/kubelet")),
            vec![
                PathBuf::from("/n/var/lib/kubelet"),
                PathBuf::from("/n/var/lib/kubelet/pods/a/volumes/kubernetes.io~secret/my token"),
            ]
        );
    }
}
