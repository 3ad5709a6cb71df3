//! The node's filesystem as kubestrap sees it.
//!
//! Every host path is *logical* (`/etc/kubernetes/pki/ca.crt`) until it is resolved under the
//! node root (`--root`), and the resolved path is the one written into manifests, kubeconfigs
//! and flags. That single rule is what lets several simulated nodes share one machine.
//!
//! Writes are atomic (temp file in the same directory, fsync, rename) and get their final mode
//! before any byte is written, so a private key is never readable by others, not even
//! half-written. A temporary file names the process writing it, so the next write into the
//! same directory removes those of runs that were killed mid-write. Under `--dry-run` writes
//! land in a staging directory that mirrors the root instead, and reads look there first, so
//! later phases of a dry run see what earlier ones would have written.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Where the node lives: `/` on a real node, a directory for tests and the test bed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRoot(PathBuf);

impl NodeRoot {
    /// A root must be an absolute path; relative ones are made absolute against the current
    /// directory once, here, so that every path derived from it is absolute too.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref();
        let abs = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            std::env::current_dir()?.join(dir)
        };
        Ok(Self(normalize(&abs)))
    }

    /// The real root, `/`.
    pub fn system() -> Self {
        Self(PathBuf::from("/"))
    }

    pub fn is_system(&self) -> bool {
        self.0 == Path::new("/")
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// Resolves a logical absolute host path (`/etc/kubernetes`) under this root.
    /// A relative path is taken as relative to the root.
    pub fn resolve(&self, logical: impl AsRef<Path>) -> PathBuf {
        // Normalise the logical path on its own first, so `..` stops at *its* root and can
        // never climb out of the node root.
        let logical = normalize(&Path::new("/").join(logical.as_ref()));
        let rel = logical.strip_prefix("/").unwrap_or(&logical);
        self.0.join(rel)
    }
}

/// Lexical normalisation (`a/./b/../c` → `a/c`) without touching the filesystem, so that a
/// path under the root can never climb out of it with `..`.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// File modes kubestrap writes, named for what they protect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mode(pub u32);

impl Mode {
    /// Private keys, kubeconfigs, anything with a secret.
    pub const PRIVATE: Mode = Mode(0o600);
    /// Certificates, manifests, public configuration.
    pub const PUBLIC: Mode = Mode(0o644);
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// An I/O error with the path it happened on: every file error a user sees names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FsError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FsError {
    fn at(path: &Path) -> impl FnOnce(io::Error) -> FsError + '_ {
        move |source| FsError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reads and writes host files, for real or into a dry-run staging directory.
#[derive(Debug, Clone)]
pub struct HostFs {
    staging: Option<PathBuf>,
}

impl HostFs {
    /// Writes go to the host.
    pub fn real() -> Self {
        Self { staging: None }
    }

    /// Writes go under `staging`, which mirrors the host's absolute paths.
    pub fn staged(staging: impl Into<PathBuf>) -> Self {
        Self {
            staging: Some(staging.into()),
        }
    }

    pub fn staging_dir(&self) -> Option<&Path> {
        self.staging.as_deref()
    }

    /// Where a write to `path` really goes.
    pub fn target(&self, path: &Path) -> PathBuf {
        match &self.staging {
            None => path.to_path_buf(),
            Some(dir) => NodeRoot(dir.clone()).resolve(path),
        }
    }

    /// The file as the run sees it: the staged copy if a dry run wrote one, else the host's.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, FsError> {
        let staged = self.target(path);
        if staged != path && staged.exists() {
            return fs::read(&staged).map_err(FsError::at(&staged));
        }
        fs::read(path).map_err(FsError::at(path))
    }

    /// Like [`HostFs::read`], but a missing file is `None` rather than an error.
    pub fn read_if_exists(&self, path: &Path) -> Result<Option<Vec<u8>>, FsError> {
        match self.read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.source.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn exists(&self, path: &Path) -> bool {
        self.target(path).exists() || path.exists()
    }

    /// Writes `bytes` to `path` atomically with `mode`, creating parent directories (0755).
    pub fn write(&self, path: &Path, bytes: &[u8], mode: Mode) -> Result<(), FsError> {
        write_atomic(&self.target(path), bytes, mode)
    }

    /// Points the symlink `link` at `target` atomically, creating parent directories (0755).
    /// `target` is written into the link as given: the host path a real run points at.
    pub fn symlink(&self, link: &Path, target: &Path) -> Result<(), FsError> {
        symlink_atomic(&self.target(link), target)
    }

    /// Where the symlink `path` points, as the run sees it (the staged link if a dry run made
    /// one); `None` when it is not a symlink or does not exist.
    pub fn read_link(&self, path: &Path) -> Option<PathBuf> {
        let staged = self.target(path);
        if staged != path && staged.symlink_metadata().is_ok() {
            return fs::read_link(&staged).ok();
        }
        fs::read_link(path).ok()
    }
}

/// What every temporary file kubestrap writes starts with; `reset` removes whatever is left.
pub const TEMP_PREFIX: &str = ".kubestrap-";

/// The prefix of this process's temporary files in a directory: `.kubestrap-<pid>-`.
pub fn temp_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// The pid in a temporary file's name, if it is one of [`temp_prefix`]'s.
fn writer_pid(name: &str) -> Option<i32> {
    let (pid, _) = name.strip_prefix(TEMP_PREFIX)?.split_once('-')?;
    pid.parse().ok().filter(|&p| p > 0)
}

/// Removes from `dir` the temporary files whose writer is no longer running: a run killed
/// between creating its temporary file and renaming it. A live writer's files (this process's
/// included) are kept. Best effort: what cannot be read or removed is left for `reset`.
fn sweep_abandoned_temps(dir: &Path) {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(writer_pid) else {
            continue;
        };
        // Signal 0 probes for the process; only "no such process" proves it gone.
        if kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The directory an atomic write of `path` makes its temporary entry in: `path`'s own (created
/// if need be, so the rename stays within one filesystem), swept of abandoned temporaries.
fn temp_dir_for(path: &Path) -> Result<&Path, FsError> {
    let dir = path.parent().ok_or_else(|| FsError {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "path has no parent directory"),
    })?;
    fs::create_dir_all(dir).map_err(FsError::at(dir))?;
    sweep_abandoned_temps(dir);
    Ok(dir)
}

/// Writes a file so that at every instant it is either absent, the old content, or the whole
/// new content with its final mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> Result<(), FsError> {
    let dir = temp_dir_for(path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix())
        .permissions(fs::Permissions::from_mode(mode.0))
        .tempfile_in(dir)
        .map_err(FsError::at(dir))?;
    // The builder's permissions are filtered by the umask; set them exactly.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode.0))
        .map_err(FsError::at(path))?;
    tmp.write_all(bytes).map_err(FsError::at(path))?;
    tmp.as_file().sync_all().map_err(FsError::at(path))?;
    // The directory is not fsynced after the rename: atomicity (old or new content, never a
    // mix) holds without it, and a rename lost to a power failure only means the journal's
    // recorded hash no longer matches, so the phase that wrote the file runs again. Skipping
    // it halves the fsyncs of `certs all`, which on a VM disk are most of its wall time.
    tmp.persist(path).map_err(|e| FsError {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Points the symlink `link` at `target` so that at every instant `link` is either absent, the
/// old entry, or the new link: the link is made under a temporary name in the same directory
/// and renamed over `link`, as the kubelet's certificate store does.
pub fn symlink_atomic(link: &Path, target: &Path) -> Result<(), FsError> {
    let dir = temp_dir_for(link)?;
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix())
        .make_in(dir, |tmp| std::os::unix::fs::symlink(target, tmp))
        .map_err(FsError::at(dir))?;
    tmp.persist(link).map_err(|e| FsError {
        path: link.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_under_root() {
        let root = NodeRoot::new("/tmp/node1").unwrap();
        assert_eq!(
            root.resolve("/etc/kubernetes/pki"),
            PathBuf::from("/tmp/node1/etc/kubernetes/pki")
        );
        assert_eq!(
            root.resolve("/../../etc/passwd"),
            PathBuf::from("/tmp/node1/etc/passwd")
        );
        assert_eq!(NodeRoot::system().resolve("/etc"), PathBuf::from("/etc"));
    }

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/key.pem");
        write_atomic(&p, b"one", Mode::PRIVATE).unwrap();
        write_atomic(&p, b"two", Mode::PRIVATE).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn atomic_symlink_replaces_a_link_and_leaves_no_temp_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.pem"), dir.path().join("b.pem"));
        fs::write(&a, b"a").unwrap();
        fs::write(&b, b"b").unwrap();
        let link = dir.path().join("pki/current.pem");
        symlink_atomic(&link, &a).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), a);
        symlink_atomic(&link, &b).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), b);
        assert_eq!(fs::read(&link).unwrap(), b"b");
        let names: Vec<_> = fs::read_dir(link.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["current.pem"], "no temporary link left behind");
    }

    #[test]
    fn a_write_removes_temp_files_of_dead_writers_only() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has exited: its pid is free (reaped) when `wait` returns.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let abandoned = dir.path().join(format!("{TEMP_PREFIX}{dead}-a1b2c3"));
        let ours = dir.path().join(format!("{}x9y8z7", temp_prefix()));
        let unknown = dir.path().join(format!("{TEMP_PREFIX}oldstyle"));
        for p in [&abandoned, &ours, &unknown] {
            fs::write(p, b"half").unwrap();
        }
        write_atomic(&dir.path().join("f"), b"whole", Mode::PUBLIC).unwrap();
        assert!(
            !abandoned.exists(),
            "a dead writer's temporary file is swept"
        );
        assert!(ours.exists(), "a live writer's temporary file is kept");
        assert!(unknown.exists(), "a name without a pid is left for reset");
    }

    #[test]
    fn writer_pid_reads_only_well_formed_names() {
        assert_eq!(writer_pid(".kubestrap-1234-abc"), Some(1234));
        assert_eq!(writer_pid(".kubestrap-1234-link"), Some(1234));
        assert_eq!(writer_pid(".kubestrap-abc"), None);
        assert_eq!(writer_pid(".kubestrap-0-abc"), None);
        assert_eq!(writer_pid(".kubestrap--1-abc"), None);
        assert_eq!(writer_pid("kubestrap-12-abc"), None);
    }

    #[test]
    fn staged_writes_do_not_touch_host_and_are_read_back() {
        let host = tempfile::tempdir().unwrap();
        let stage = tempfile::tempdir().unwrap();
        let fs_ = HostFs::staged(stage.path());
        let p = host.path().join("etc/x.conf");
        fs_.write(&p, b"staged", Mode::PUBLIC).unwrap();
        assert!(!p.exists());
        assert_eq!(fs_.read(&p).unwrap(), b"staged");
        assert!(fs_.exists(&p));
    }
}
