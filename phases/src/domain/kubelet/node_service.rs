//! The service manager of a node that lives under `--root DIR`: an executable the node's
//! maker puts at `DIR/etc/kubestrap/node-service` ([`NODE_SERVICE_HOOK`]).
//!
//! kubeadm restarts the kubelet with systemd once kubelet-start has written its files, and
//! stops it in reset. A node under another root has no systemd of its own, and the host's must
//! never be touched, so its maker (the test bed, or anyone running several nodes on one
//! machine) says how its kubelet starts by providing this hook. kubestrap runs it as
//! `node-service restart kubelet` / `node-service stop kubelet` with the working directory and
//! `KUBESTRAP_ROOT` set to the node root, exactly where it would run `systemctl`; the hook must
//! return once the service is started or stopped (within [`HOOK_TIMEOUT`]). Without a hook
//! kubestrap says that nothing started the kubelet, as before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::well_known::NODE_SERVICE_HOOK;
use crate::contract::host::NodeRoot;

/// How long a hook may take to start or stop the kubelet before kubestrap gives up on it.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// What a hook may be asked to do; the verbs of `systemctl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceVerb {
    Restart,
    Stop,
}

impl ServiceVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Stop => "stop",
        }
    }
}

/// Why the hook did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{}: not a regular executable file (a symlink is not followed)", .0.display())]
    NotExecutable(PathBuf),
    #[error("cannot run {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} {verb} kubelet did not return within {:?}", path.display(), HOOK_TIMEOUT)]
    TimedOut { path: PathBuf, verb: &'static str },
    #[error("{} {verb} kubelet: {status}: {stderr}", path.display())]
    Failed {
        path: PathBuf,
        verb: &'static str,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// The node root's hook, when its maker provided one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeServiceHook {
    root: PathBuf,
    path: PathBuf,
}

impl NodeServiceHook {
    /// The hook at [`NODE_SERVICE_HOOK`] under `root`, if anything is there; `/` never has one
    /// (a real node's kubelet is systemd's).
    pub fn find(root: &NodeRoot) -> Option<Self> {
        if root.is_system() {
            return None;
        }
        let path = root.resolve(NODE_SERVICE_HOOK);
        std::fs::symlink_metadata(&path).ok().map(|_| Self {
            root: root.as_path().to_path_buf(),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `<hook> <verb> kubelet` and waits for it, up to [`HOOK_TIMEOUT`].
    pub async fn run(&self, verb: ServiceVerb) -> Result<(), HookError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(&self.path)
            .map_err(|_| HookError::NotExecutable(self.path.clone()))?;
        if !meta.file_type().is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(HookError::NotExecutable(self.path.clone()));
        }
        let child = tokio::process::Command::new(&self.path)
            .args([verb.as_str(), "kubelet"])
            .current_dir(&self.root)
            .env("KUBESTRAP_ROOT", &self.root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HookError::Spawn {
                path: self.path.clone(),
                source,
            })?;
        let out = tokio::time::timeout(HOOK_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| HookError::TimedOut {
                path: self.path.clone(),
                verb: verb.as_str(),
            })?
            .map_err(|source| HookError::Spawn {
                path: self.path.clone(),
                source,
            })?;
        if out.status.success() {
            return Ok(());
        }
        Err(HookError::Failed {
            path: self.path.clone(),
            verb: verb.as_str(),
            status: out.status,
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 2000),
        })
    }
}

/// The last `max` bytes of `s` (on a character boundary), trimmed: what a failing hook said
/// last is what explains it.
fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn hook(root: &Path, script: &str) -> NodeServiceHook {
        let path = root.join("etc/kubestrap/node-service");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        NodeServiceHook::find(&NodeRoot::new(root).unwrap()).unwrap()
    }

    #[test]
    fn the_system_root_and_a_root_without_a_hook_have_none() {
        assert_eq!(NodeServiceHook::find(&NodeRoot::system()), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            NodeServiceHook::find(&NodeRoot::new(dir.path()).unwrap()),
            None
        );
    }

    #[tokio::test]
    async fn the_hook_is_run_with_the_verb_in_the_node_root() {
        let dir = tempfile::tempdir().unwrap();
        let h = hook(
            dir.path(),
            "#!/bin/sh\necho \"$1 $2 $KUBESTRAP_ROOT $(pwd)\" > said\n",
        );
        h.run(ServiceVerb::Restart).await.unwrap();
        let root = dir.path().display();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("said")).unwrap(),
            format!("restart kubelet {root} {root}\n")
        );
    }

    #[tokio::test]
    async fn a_failing_hook_is_an_error_with_what_it_said() {
        let dir = tempfile::tempdir().unwrap();
        let h = hook(
            dir.path(),
            "#!/bin/sh\necho no containerd here >&2\nexit 3\n",
        );
        let e = h.run(ServiceVerb::Stop).await.unwrap_err().to_string();
        assert!(e.contains("node-service stop kubelet"), "{e}");
        assert!(e.contains("exit status: 3"), "{e}");
        assert!(e.ends_with("no containerd here"), "{e}");
    }

    #[tokio::test]
    async fn a_symlinked_or_non_executable_hook_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let h = hook(dir.path(), "#!/bin/sh\ntouch ran\n");
        std::fs::set_permissions(h.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            h.run(ServiceVerb::Restart).await,
            Err(HookError::NotExecutable(_))
        ));
        std::fs::remove_file(h.path()).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("hook");
        std::fs::write(&target, "#!/bin/sh\ntouch ran\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&target, h.path()).unwrap();
        assert!(matches!(
            h.run(ServiceVerb::Restart).await,
            Err(HookError::NotExecutable(_))
        ));
        assert!(!dir.path().join("ran").exists());
    }
}
