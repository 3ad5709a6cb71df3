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
//!
//! Directories are created with an explicit mode, never the process umask's: ordinary ones
//! 0755, the PKI directories and etcd's data directory 0700 ([`DirMode`]). A directory that
//! already exists keeps its mode: it is the administrator's.

use std::borrow::Cow;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::contract::diagnostics::Diagnostic;

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

/// Modes of the directories kubestrap creates, set explicitly after `mkdir` so that the
/// umask can neither widen them (`umask 000`) nor narrow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirMode(pub u32);

impl DirMode {
    /// Ordinary directories (`/etc/kubernetes`, `manifests`, `/var/lib/kubelet`): 0755, the
    /// mode kubeadm asks `MkdirAll` for.
    pub const PUBLIC: DirMode = DirMode(0o755);
    /// Directories of private keys and etcd's data: 0700. kubeadm makes etcd's data
    /// directory 0700 (`etcdutil.CreateDataDirectory`) but its PKI directories 0755
    /// (client-go's `certutil.WriteCert`/`keyutil.WriteKey`); kubestrap makes those 0700 too.
    pub const PRIVATE: DirMode = DirMode(0o700);
}

/// The PKI directories of a certificates directory (`certificatesDir`): itself and its
/// `etcd/`, where the cluster's private keys live; kubestrap creates them [`DirMode::PRIVATE`].
pub fn pki_dirs(cert_dir: &Path) -> [PathBuf; 2] {
    [cert_dir.to_path_buf(), cert_dir.join("etcd")]
}

/// An I/O error with the path it happened on: every file error a user sees names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FsError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Permission denied is the one cause with a remedy to suggest; the path says the rest.
impl Diagnostic for FsError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self.source.kind() {
            io::ErrorKind::PermissionDenied => {
                Some("run as root, or give --root a directory you can write".into())
            }
            _ => None,
        }
    }
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
    /// Host directories created [`DirMode::PRIVATE`] when a write needs them (normalised).
    private_dirs: Vec<PathBuf>,
}

impl HostFs {
    /// Writes go to the host.
    pub fn real() -> Self {
        Self {
            staging: None,
            private_dirs: Vec::new(),
        }
    }

    /// Writes go under `staging`, which mirrors the host's absolute paths.
    pub fn staged(staging: impl Into<PathBuf>) -> Self {
        Self {
            staging: Some(staging.into()),
            private_dirs: Vec::new(),
        }
    }

    /// The host directories (PKI directories, [`pki_dirs`]) that a write creates
    /// [`DirMode::PRIVATE`] rather than [`DirMode::PUBLIC`], in the staging directory too.
    pub fn with_private_dirs(mut self, dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        self.private_dirs
            .extend(dirs.into_iter().map(|d| normalize(&d)));
        self
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

    /// Writes `bytes` to `path` atomically with `mode`, creating missing parent directories
    /// (0755, or 0700 for the private ones).
    pub fn write(&self, path: &Path, bytes: &[u8], mode: Mode) -> Result<(), FsError> {
        self.create_parent(path)?;
        write_atomic(&self.target(path), bytes, mode)
    }

    /// Points the symlink `link` at `target` atomically, creating missing parent directories
    /// as [`HostFs::write`] does. `target` is written into the link as given: the host path a
    /// real run points at.
    pub fn symlink(&self, link: &Path, target: &Path) -> Result<(), FsError> {
        self.create_parent(link)?;
        symlink_atomic(&self.target(link), target)
    }

    /// Creates the directory `dir` with `mode` (staged under `--dry-run`), and its missing
    /// ancestors as [`HostFs::write`] would; an existing directory is left as it is.
    pub fn create_dir(&self, dir: &Path, mode: DirMode) -> Result<(), FsError> {
        let dir = normalize(&self.target(dir));
        create_missing_dirs(&dir, |d| if d == dir { mode } else { self.dir_mode(d) })
    }

    fn create_parent(&self, path: &Path) -> Result<(), FsError> {
        match path.parent() {
            Some(parent) => {
                create_missing_dirs(&normalize(&self.target(parent)), |d| self.dir_mode(d))
            }
            None => Ok(()),
        }
    }

    /// The mode a write creates the (target, normalised) directory `dir` with.
    fn dir_mode(&self, dir: &Path) -> DirMode {
        let private = self
            .private_dirs
            .iter()
            .any(|p| normalize(&self.target(p)) == dir);
        if private {
            DirMode::PRIVATE
        } else {
            DirMode::PUBLIC
        }
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
/// 0755 if need be, so the rename stays within one filesystem; [`HostFs`] has made it already,
/// private if it is one of its private directories), swept of abandoned temporaries.
fn temp_dir_for(path: &Path) -> Result<&Path, FsError> {
    let dir = path.parent().ok_or_else(|| FsError {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "path has no parent directory"),
    })?;
    create_missing_dirs(dir, |_| DirMode::PUBLIC)?;
    sweep_abandoned_temps(dir);
    Ok(dir)
}

/// Creates `dir` and its missing ancestors, top-down, each with `mode_of(itself)`. Each is
/// made with its mode (the umask can only narrow it, so it is never wider than asked at any
/// instant), then set to exactly that mode. A directory that exists is never changed: its
/// mode is its owner's, and one that a concurrent writer makes first is left to that writer.
fn create_missing_dirs(dir: &Path, mode_of: impl Fn(&Path) -> DirMode) -> Result<(), FsError> {
    use std::os::unix::fs::DirBuilderExt;
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.is_dir())
        .collect();
    for d in missing.into_iter().rev() {
        let mode = mode_of(d).0;
        match fs::DirBuilder::new().mode(mode).create(d) {
            Ok(()) => {
                fs::set_permissions(d, fs::Permissions::from_mode(mode)).map_err(FsError::at(d))?
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(FsError::at(d)(e)),
        }
    }
    Ok(())
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

    fn dir_mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_create_pki_dirs_private_and_others_public_and_leave_existing_dirs_alone() {
        let root = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(root.path().join("node")).unwrap();
        let pki = root.resolve("/etc/kubernetes/pki");
        let fs_ = HostFs::real().with_private_dirs(pki_dirs(&pki));
        // The etcd CA first: its directory and the PKI directory above it are both private.
        fs_.write(&pki.join("etcd/ca.key"), b"k", Mode::PRIVATE)
            .unwrap();
        assert_eq!(dir_mode(&pki), 0o700);
        assert_eq!(dir_mode(&pki.join("etcd")), 0o700);
        for d in ["/etc/kubernetes", "/etc", "/"] {
            assert_eq!(dir_mode(&root.resolve(d)), 0o755, "{d}");
        }
        let manifests = root.resolve("/etc/kubernetes/manifests");
        fs_.write(&manifests.join("etcd.yaml"), b"m", Mode::PUBLIC)
            .unwrap();
        assert_eq!(dir_mode(&manifests), 0o755);
        // An existing directory keeps the mode its owner gave it, loose or tight.
        let kubelet = root.resolve("/var/lib/kubelet");
        fs::create_dir_all(&kubelet).unwrap();
        fs::set_permissions(&kubelet, fs::Permissions::from_mode(0o711)).unwrap();
        fs_.write(&kubelet.join("config.yaml"), b"c", Mode::PUBLIC)
            .unwrap();
        assert_eq!(dir_mode(&kubelet), 0o711);
        // A path that only normalises to a private directory is still private.
        let other = root.resolve("/srv/pki");
        let fs_ = HostFs::real().with_private_dirs([other.join("x/..")]);
        fs_.write(&other.join("./ca.key"), b"k", Mode::PRIVATE)
            .unwrap();
        assert_eq!(dir_mode(&other), 0o700);
    }

    #[test]
    fn create_dir_sets_its_mode_and_is_staged_under_dry_run() {
        let host = tempfile::tempdir().unwrap();
        let data = host.path().join("var/lib/etcd");
        HostFs::real().create_dir(&data, DirMode::PRIVATE).unwrap();
        assert_eq!(dir_mode(&data), 0o700);
        assert_eq!(dir_mode(data.parent().unwrap()), 0o755);
        // Again: nothing to do, and a directory made looser by its owner stays so.
        fs::set_permissions(&data, fs::Permissions::from_mode(0o750)).unwrap();
        HostFs::real().create_dir(&data, DirMode::PRIVATE).unwrap();
        assert_eq!(dir_mode(&data), 0o750);

        let stage = tempfile::tempdir().unwrap();
        let staged = HostFs::staged(stage.path());
        let other = host.path().join("srv/etcd");
        staged.create_dir(&other, DirMode::PRIVATE).unwrap();
        assert!(!other.exists(), "a dry run creates nothing on the host");
        let target = staged.target(&other);
        assert_eq!(dir_mode(&target), 0o700);
        assert_eq!(dir_mode(target.parent().unwrap()), 0o755);
    }

    #[test]
    fn a_file_where_a_directory_should_be_is_an_error_naming_it() {
        let host = tempfile::tempdir().unwrap();
        let file = host.path().join("etc");
        fs::write(&file, b"not a dir").unwrap();
        let err = HostFs::real()
            .write(&file.join("kubernetes/admin.conf"), b"x", Mode::PRIVATE)
            .unwrap_err();
        assert_eq!(err.path, file, "{err}");
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
