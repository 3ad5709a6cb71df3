//! Where a dry run writes: a staging directory that mirrors the root, made private (0700,
//! set explicitly rather than left to the umask) because a dry run of a control plane stages
//! the cluster's private keys (CA, etcd CA, service-account key). It is removed when the
//! command ends (success, failure or Ctrl-C) unless the user names one with `--dry-run-dir`,
//! which is kept.
//!
//! kubeadm keeps its dry-run directory (`/etc/kubernetes/tmp/kubeadm-init-dryrun*`, or
//! `$KUBEADM_INIT_DRYRUN_DIR`/`$KUBEADM_JOIN_DRYRUN_DIR`; cmd/kubeadm/app/constants,
//! `CreateTempDir`/`GetDryRunDir`) and tells the user to examine it: copies of the private
//! keys stay behind until someone deletes them. kubestrap keeps them only when asked to.

use std::ops::Deref;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kubestrap_phases::contract::host::DirMode;
use kubestrap_phases::{Diagnostic, HostFs};

use crate::output::StagingOutcome;

/// The flag that names a kept staging directory.
pub(super) const KEEP_FLAG: &str = "--dry-run-dir";

/// Why a dry run's staging directory could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StagingError {
    #[error("{KEEP_FLAG} {}: only valid with --dry-run", dir.display())]
    KeepWithoutDryRun { dir: PathBuf },
    #[error(
        "{KEEP_FLAG} {}: expected a directory that does not exist yet or is empty, but it {why}",
        dir.display()
    )]
    NotUsable { dir: PathBuf, why: &'static str },
    #[error("{KEEP_FLAG} {}: {source}", dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("dry run: cannot make a private temporary staging directory: {0}")]
    Temporary(#[source] std::io::Error),
}

impl Diagnostic for StagingError {}

/// A dry run's staging directory, private (0700). A temporary one is removed when this is
/// dropped or [finished](Staging::finish); one named with `--dry-run-dir` is kept.
#[derive(Debug)]
pub(crate) struct Staging(Dir);

#[derive(Debug)]
enum Dir {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl Staging {
    /// A fresh directory in `$TMPDIR`, removed at the end of the run.
    pub(crate) fn temporary() -> Result<Self, StagingError> {
        let dir = tempfile::Builder::new()
            .prefix("kubestrap-dry-run-")
            .tempdir()
            .map_err(StagingError::Temporary)?;
        set_private(dir.path()).map_err(StagingError::Temporary)?;
        Ok(Self(Dir::Temporary(dir)))
    }

    /// The user's `--dry-run-dir`: created if absent, or an existing empty directory; made
    /// 0700 either way, since it is about to hold private keys. Anything else (a file, a
    /// symlink, a directory with something in it) is refused rather than mixed with the run's
    /// files.
    pub(crate) fn kept(dir: &Path) -> Result<Self, StagingError> {
        let io = |dir: &Path| {
            let dir = dir.to_path_buf();
            move |source| StagingError::Io { dir, source }
        };
        let dir = std::path::absolute(dir).map_err(io(dir))?;
        match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Missing ancestors as any directory kubestrap makes; the directory itself
                // made here and now, so that it is known to be this run's and empty.
                let parent = dir.parent().unwrap_or(Path::new("/"));
                HostFs::real()
                    .create_dir(parent, DirMode::PUBLIC)
                    .map_err(|e| StagingError::Io {
                        dir: e.path,
                        source: e.source,
                    })?;
                std::fs::DirBuilder::new()
                    .mode(DirMode::PRIVATE.0)
                    .create(&dir)
                    .map_err(io(&dir))?;
            }
            Err(e) => return Err(io(&dir)(e)),
            Ok(m) if m.file_type().is_symlink() => {
                let why = "is a symlink";
                return Err(StagingError::NotUsable { dir, why });
            }
            Ok(m) if !m.is_dir() => {
                let why = "is not a directory";
                return Err(StagingError::NotUsable { dir, why });
            }
            Ok(_) => {
                if std::fs::read_dir(&dir).map_err(io(&dir))?.next().is_some() {
                    let why = "is not empty";
                    return Err(StagingError::NotUsable { dir, why });
                }
            }
        }
        set_private(&dir).map_err(io(&dir))?;
        Ok(Self(Dir::Kept(dir)))
    }

    pub(crate) fn path(&self) -> &Path {
        match &self.0 {
            Dir::Temporary(t) => t.path(),
            Dir::Kept(p) => p,
        }
    }

    /// Ends the staging: a temporary directory is removed now, so that the report that
    /// follows can say so truthfully. If it cannot be removed, it is reported kept (with
    /// why), since the files are still there.
    pub(crate) fn finish(self) -> (StagingOutcome, Option<String>) {
        match self.0 {
            Dir::Kept(p) => (StagingOutcome::Kept(p), None),
            Dir::Temporary(t) => {
                let path = t.path().to_path_buf();
                match t.close() {
                    Ok(()) => (StagingOutcome::Removed, None),
                    Err(e) => {
                        let why = format!(
                            "cannot remove the dry run's staging directory {}: {e}; remove it \
                             yourself, it holds private keys",
                            path.display()
                        );
                        (StagingOutcome::Kept(path), Some(why))
                    }
                }
            }
        }
    }
}

/// 0700, set after creation so that neither the umask nor an existing directory's mode
/// leaves the staged keys' directory open to others.
fn set_private(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DirMode::PRIVATE.0))
}

/// The filesystem view of one command: the host, or under `--dry-run` a [`Staging`] directory
/// that lives as long as this value. Dereferences to the [`HostFs`] the phases use.
#[derive(Debug)]
pub(crate) struct RunFs {
    fs: HostFs,
    staging: Option<Staging>,
}

impl RunFs {
    /// The host for a real run; for a dry run, a temporary staging directory or the one
    /// `keep_in` names (`--dry-run-dir`, valid only with a dry run).
    pub(crate) fn new(dry_run: bool, keep_in: Option<&Path>) -> Result<Self, StagingError> {
        let staging = match (dry_run, keep_in) {
            (false, None) => None,
            (false, Some(dir)) => {
                let dir = dir.to_path_buf();
                return Err(StagingError::KeepWithoutDryRun { dir });
            }
            (true, None) => Some(Staging::temporary()?),
            (true, Some(dir)) => Some(Staging::kept(dir)?),
        };
        let fs = match &staging {
            Some(s) => HostFs::staged(s.path()),
            None => HostFs::real(),
        };
        Ok(Self { fs, staging })
    }

    /// The host directories a write creates 0700 ([`HostFs::with_private_dirs`]).
    pub(crate) fn with_private_dirs(mut self, dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        self.fs = self.fs.with_private_dirs(dirs);
        self
    }

    /// Splits off the staging directory, which the caller ends with [`Staging::finish`]
    /// once the run is over and before it reports.
    pub(crate) fn into_parts(self) -> (HostFs, Option<Staging>) {
        (self.fs, self.staging)
    }
}

impl Deref for RunFs {
    type Target = HostFs;

    fn deref(&self) -> &HostFs {
        &self.fs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_temporary_staging_dir_is_private_and_removed_when_finished() {
        let fs = RunFs::new(true, None).unwrap();
        let (fs, staging) = fs.into_parts();
        let dir = fs.staging_dir().unwrap().to_path_buf();
        assert_eq!(mode(&dir), 0o700);
        std::fs::write(dir.join("ca.key"), b"secret").unwrap();
        let (outcome, warning) = staging.unwrap().finish();
        assert_eq!((outcome, warning), (StagingOutcome::Removed, None));
        assert!(!dir.exists());
    }

    #[test]
    fn a_temporary_staging_dir_is_removed_when_dropped_too() {
        let fs = RunFs::new(true, None).unwrap();
        let dir = fs.staging_dir().unwrap().to_path_buf();
        drop(fs);
        assert!(
            !dir.exists(),
            "a failed or interrupted run leaves nothing either"
        );
    }

    #[test]
    fn a_named_staging_dir_is_made_private_and_kept() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/stage");
        let (fs, staging) = RunFs::new(true, Some(&dir)).unwrap().into_parts();
        assert_eq!(fs.staging_dir(), Some(dir.as_path()));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&base.path().join("a")), 0o755);
        let (outcome, _) = staging.unwrap().finish();
        assert_eq!(outcome, StagingOutcome::Kept(dir.clone()));
        assert!(dir.is_dir());

        // An existing empty directory is used, and made private.
        let empty = base.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o777)).unwrap();
        let fs = RunFs::new(true, Some(&empty)).unwrap();
        assert_eq!(mode(&empty), 0o700);
        drop(fs);
        assert!(empty.is_dir(), "a named directory outlives the run");
    }

    #[test]
    fn a_named_staging_dir_must_be_new_or_empty_and_needs_a_dry_run() {
        let base = tempfile::tempdir().unwrap();
        let full = base.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("x"), b"").unwrap();
        let file = base.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let link = base.path().join("link");
        std::os::unix::fs::symlink(base.path().join("nowhere"), &link).unwrap();
        for (dir, why) in [
            (&full, "is not empty"),
            (&file, "is not a directory"),
            (&link, "is a symlink"),
        ] {
            let e = RunFs::new(true, Some(dir)).unwrap_err().to_string();
            assert!(e.starts_with("--dry-run-dir "), "{e}");
            assert!(
                e.contains(&dir.display().to_string()) && e.ends_with(why),
                "{e}"
            );
        }
        assert!(!base.path().join("nowhere").exists());
        let e = RunFs::new(false, Some(&base.path().join("new")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--dry-run-dir") && e.contains("only valid with --dry-run"));
        assert!(
            !base.path().join("new").exists(),
            "nothing made for a bad flag"
        );
    }
}
