//! The one place that decides whether reset may delete a path.
//!
//! Paths reach reset from places an attacker or an accident can shape: static-pod manifests
//! (etcd's `--data-dir`), journal records, symlinks on the node. A string comparison is not
//! enough (`/var/lib/etcd/../..` starts with `/var/lib/etcd`; `etc/kubernetes/pki` may be a
//! symlink to `/etc/pki`), so every target is *resolved* first, as the kernel would walk it:
//! `..` and symlinks in every directory above the final component, each step checked to stay
//! inside the node root. The final component is not followed when it names a file (removing
//! a symlink removes the link, never what it points at). Then the resolved path must not be a
//! directory reset never removes or empties ([`PROTECTED`], the root itself) nor a mount point.
//! Whether it is one of the files init or join make is the inventory's call
//! ([`super::inventory`]); this module answers "where does this path really lead, and may
//! anything there be deleted at all".

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::contract::host::NodeRoot;

/// Directories reset never removes or empties, whatever its inputs say: on the host, and
/// under the node root.
pub const PROTECTED: [&str; 10] = [
    "/",
    "/etc",
    "/var",
    "/var/lib",
    "/usr",
    "/home",
    "/root",
    "/boot",
    "/opt",
    "/etc/kubernetes",
];

/// How many symlinks one resolution may follow (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// Why a path may not be deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusalReason {
    #[error("not an absolute path")]
    NotAbsolute,
    #[error("it leads to {resolved}, outside the node root {root}")]
    OutsideRoot { resolved: PathBuf, root: PathBuf },
    #[error("the symlink {link} leads out of the node root {root} (to {target})")]
    SymlinkOut {
        link: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },
    #[error("more than {MAX_LINKS} symlinks to follow")]
    SymlinkLoop,
    #[error("it is {resolved}, a directory reset never removes or empties")]
    Protected { resolved: PathBuf },
    #[error("{resolved} is a mount point")]
    MountPoint { resolved: PathBuf },
    #[error("{resolved} is not a file init or join writes (docs/reset.md lists them)")]
    NotInitsOrJoins { resolved: PathBuf },
    #[error("it is not the configured etcd data dir {configured} ({from})")]
    NotConfiguredDataDir { configured: PathBuf, from: String },
    #[error(
        "{resolved} does not hold etcd's layout (a member/ directory with wal/ or snap/), so it is not etcd's data"
    )]
    NotEtcdLayout { resolved: PathBuf },
}

impl crate::contract::diagnostics::Diagnostic for RefusalReason {}

/// A target reset will not touch: the path as it was named, what named it, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    pub path: PathBuf,
    /// Where the path came from (`etcd manifest --data-dir`, `journal record`, …).
    pub source: String,
    #[serde(serialize_with = "as_text")]
    pub reason: RefusalReason,
}

fn as_text<S: serde::Serializer>(r: &RefusalReason, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&r.to_string())
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.path.display(),
            self.source,
            self.reason
        )
    }
}

/// Resolves and vets deletion targets for one node root.
#[derive(Debug, Clone)]
pub struct Gate {
    /// The node root as the kernel sees it (symlinks in it resolved once).
    root: PathBuf,
    /// [`PROTECTED`] on the host and under the root, and the root itself.
    protected: BTreeSet<PathBuf>,
    /// Mount points listed in /proc/self/mountinfo (bind mounts share st_dev with their
    /// parent, so the device test alone would miss them).
    mounts: BTreeSet<PathBuf>,
}

impl Gate {
    pub fn new(root: &NodeRoot) -> Self {
        let root_path =
            std::fs::canonicalize(root.as_path()).unwrap_or_else(|_| root.as_path().to_path_buf());
        let mut protected: BTreeSet<PathBuf> = PROTECTED.iter().map(PathBuf::from).collect();
        let resolved_root = NodeRoot::new(&root_path).unwrap_or_else(|_| root.clone());
        for p in PROTECTED {
            protected.insert(root.resolve(p));
            protected.insert(resolved_root.resolve(p));
        }
        protected.insert(root.as_path().to_path_buf());
        protected.insert(root_path.clone());
        Self {
            root: root_path,
            protected,
            mounts: mount_points(),
        }
    }

    /// The node root, resolved.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `path` really leads: `..` and every symlink resolved, the final component too
    /// when `follow_last` (a directory whose content is acted on), else kept as it is (a file
    /// or link removed as itself). Fails when the walk leaves the node root.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> Result<PathBuf, RefusalReason> {
        if !path.is_absolute() {
            return Err(RefusalReason::NotAbsolute);
        }
        let mut pending: VecDeque<OsString> = parts(path);
        let mut cur = PathBuf::from("/");
        let mut links = 0;
        while let Some(part) = pending.pop_front() {
            if part == ".." {
                let was_inside = cur.starts_with(&self.root);
                cur.pop();
                if was_inside && !cur.starts_with(&self.root) {
                    return Err(self.outside(&cur));
                }
                continue;
            }
            let next = cur.join(&part);
            if pending.is_empty() && !follow_last {
                cur = next;
                break;
            }
            let is_link =
                std::fs::symlink_metadata(&next).is_ok_and(|m| m.file_type().is_symlink());
            match std::fs::read_link(&next) {
                Ok(target) if is_link => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(RefusalReason::SymlinkLoop);
                    }
                    let lexical = lexical_join(&cur, &target);
                    if cur.starts_with(&self.root) && !lexical.starts_with(&self.root) {
                        return Err(RefusalReason::SymlinkOut {
                            link: next,
                            target: lexical,
                            root: self.root.clone(),
                        });
                    }
                    if target.is_absolute() {
                        cur = PathBuf::from("/");
                    }
                    for p in parts(&target).into_iter().rev() {
                        pending.push_front(p);
                    }
                }
                _ => cur = next,
            }
        }
        if !cur.starts_with(&self.root) {
            return Err(self.outside(&cur));
        }
        Ok(cur)
    }

    fn outside(&self, resolved: &Path) -> RefusalReason {
        RefusalReason::OutsideRoot {
            resolved: resolved.to_path_buf(),
            root: self.root.clone(),
        }
    }

    /// [`Gate::resolve`], then refuses a protected directory and a mount point.
    pub fn vet(&self, path: &Path, follow_last: bool) -> Result<PathBuf, RefusalReason> {
        let resolved = self.resolve(path, follow_last)?;
        if self.protected.contains(&resolved) {
            return Err(RefusalReason::Protected { resolved });
        }
        if self.is_mount_point(&resolved) {
            return Err(RefusalReason::MountPoint { resolved });
        }
        Ok(resolved)
    }

    /// A directory reset acts *in* (the certificates dir, etcd's data dir): resolved
    /// completely and not a protected directory. It may be a mount point: it stays, and only
    /// what is in it is vetted as a target.
    pub fn vet_dir(&self, path: &Path) -> Result<PathBuf, RefusalReason> {
        let resolved = self.resolve(path, true)?;
        if self.protected.contains(&resolved) {
            return Err(RefusalReason::Protected { resolved });
        }
        Ok(resolved)
    }

    /// Whether `path` (resolved, not followed) is a mount point: another device than its
    /// parent directory's, or listed in the mount table.
    pub fn is_mount_point(&self, path: &Path) -> bool {
        if self.mounts.contains(path) {
            return true;
        }
        let Ok(md) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if md.file_type().is_symlink() {
            return false;
        }
        match path.parent() {
            None => true,
            Some(parent) => std::fs::metadata(parent).is_ok_and(|p| p.dev() != md.dev()),
        }
    }
}

/// The names of an absolute path after its root, `..` and `.` kept for the walk to apply.
fn parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// `target` read from a link in `dir`, `..` applied lexically: where the link points before
/// any further link is followed (what an error names).
fn lexical_join(dir: &Path, target: &Path) -> PathBuf {
    let mut out = if target.is_absolute() {
        PathBuf::from("/")
    } else {
        dir.to_path_buf()
    };
    for p in parts(target) {
        if p == ".." {
            out.pop();
        } else {
            out.push(p);
        }
    }
    out
}

/// Mount points of this process's mount namespace (field 5 of /proc/self/mountinfo, octal
/// escapes undone); empty when the table cannot be read (the device test still applies).
pub(super) fn mount_points() -> BTreeSet<PathBuf> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return BTreeSet::new();
    };
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
        .collect()
}

/// `\040` → space, as the kernel escapes whitespace and backslashes in mountinfo.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            out.push(
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'),
            );
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn node() -> (tempfile::TempDir, PathBuf, Gate) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("node");
        std::fs::create_dir_all(root.join("var/lib/etcd/member")).unwrap();
        std::fs::create_dir_all(root.join("etc/kubernetes/pki")).unwrap();
        let gate = Gate::new(&NodeRoot::new(&root).unwrap());
        (dir, root, gate)
    }

    #[test]
    fn dot_dot_is_resolved_before_anything_is_decided() {
        let (_d, root, gate) = node();
        let p = root.join("var/lib/etcd/../../lib/etcd/member");
        assert_eq!(gate.resolve(&p, true), Ok(root.join("var/lib/etcd/member")));
        // The issue's example: an etcd --data-dir that climbs to /var.
        let up = root.join("var/lib/etcd/../..");
        assert_eq!(
            gate.vet(&up, true),
            Err(RefusalReason::Protected {
                resolved: root.join("var")
            })
        );
        // Climbing out of the root altogether.
        let out = root.join("var/../../elsewhere");
        assert!(
            matches!(
                gate.resolve(&out, true),
                Err(RefusalReason::OutsideRoot { .. })
            ),
            "{:?}",
            gate.resolve(&out, true)
        );
        assert_eq!(
            gate.resolve(Path::new("var/lib"), true),
            Err(RefusalReason::NotAbsolute)
        );
    }

    #[test]
    fn a_symlinked_parent_that_leaves_the_root_is_refused() {
        let (d, root, gate) = node();
        let decoy = d.path().join("decoy");
        std::fs::create_dir_all(&decoy).unwrap();
        std::fs::remove_dir(root.join("etc/kubernetes/pki")).unwrap();
        symlink(&decoy, root.join("etc/kubernetes/pki")).unwrap();
        let err = gate
            .resolve(&root.join("etc/kubernetes/pki/ca.key"), false)
            .unwrap_err();
        assert!(
            matches!(&err, RefusalReason::SymlinkOut { link, .. } if *link == root.join("etc/kubernetes/pki")),
            "{err:?}"
        );
        // A relative link climbing out is caught too.
        symlink("../../../decoy", root.join("var/lib/kubelet-link")).unwrap();
        assert!(matches!(
            gate.resolve(&root.join("var/lib/kubelet-link/x"), false),
            Err(RefusalReason::SymlinkOut { .. })
        ));
    }

    #[test]
    fn a_final_symlink_is_the_target_itself_unless_followed() {
        let (d, root, gate) = node();
        let outside = d.path().join("outside.pem");
        std::fs::write(&outside, "keep").unwrap();
        let link = root.join("etc/kubernetes/pki/ca.crt");
        symlink(&outside, &link).unwrap();
        // As a file target: the link itself, inside the root.
        assert_eq!(gate.vet(&link, false), Ok(link.clone()));
        // As a directory to act in: where it leads, which is outside.
        assert!(matches!(
            gate.vet(&link, true),
            Err(RefusalReason::SymlinkOut { .. })
        ));
        // A link inside the root to a place inside it is followed.
        symlink(root.join("var/lib/etcd"), root.join("etcd-data")).unwrap();
        assert_eq!(
            gate.vet(&root.join("etcd-data/member"), true),
            Ok(root.join("var/lib/etcd/member"))
        );
    }

    #[test]
    fn protected_dirs_and_the_root_itself_are_refused() {
        let (_d, root, gate) = node();
        for p in [
            root.clone(),
            root.join("etc"),
            root.join("var/lib"),
            root.join("etc/kubernetes"),
            root.join("etc/kubernetes/pki/.."),
        ] {
            assert!(
                matches!(gate.vet(&p, true), Err(RefusalReason::Protected { .. })),
                "{p:?}: {:?}",
                gate.vet(&p, true)
            );
        }
        assert!(gate.vet(&root.join("etc/kubernetes/pki"), true).is_ok());
        // On the real root, the host's own directories.
        let system = Gate::new(&NodeRoot::system());
        for p in ["/", "/etc", "/var", "/usr", "/home", "/root", "/var/lib"] {
            assert!(
                matches!(
                    system.vet(Path::new(p), true),
                    Err(RefusalReason::Protected { .. })
                ),
                "{p}"
            );
        }
    }

    #[test]
    fn mount_points_are_refused() {
        let system = Gate::new(&NodeRoot::system());
        for p in ["/proc", "/sys", "/dev"] {
            assert!(system.is_mount_point(Path::new(p)), "{p}");
            assert!(
                matches!(
                    system.vet(Path::new(p), true),
                    Err(RefusalReason::MountPoint { .. })
                ),
                "{p}"
            );
        }
        // A directory acted in may be one (it stays); /proc itself is not protected.
        assert_eq!(
            system.vet_dir(Path::new("/proc")),
            Ok(PathBuf::from("/proc"))
        );
        assert!(matches!(
            system.vet_dir(Path::new("/var/lib/../lib")),
            Err(RefusalReason::Protected { .. })
        ));
        let (_d, root, gate) = node();
        assert!(!gate.is_mount_point(&root.join("var/lib/etcd")));
        assert_eq!(unescape_octal(r"/mnt/a\040b"), "/mnt/a b");
    }

    #[test]
    fn a_symlink_loop_ends() {
        let (_d, root, gate) = node();
        symlink(root.join("b"), root.join("a")).unwrap();
        symlink(root.join("a"), root.join("b")).unwrap();
        assert_eq!(
            gate.resolve(&root.join("a/x"), false),
            Err(RefusalReason::SymlinkLoop)
        );
    }
}
