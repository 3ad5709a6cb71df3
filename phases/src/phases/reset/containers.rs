//! cleanup-node's removal of the node's pods from the container runtime, once the kubelet is
//! stopped (it would start them again): kubeadm's `removeContainers` (cmd/kubeadm/app/cmd/
//! phases/reset/cleanupnode.go), every pod sandbox stopped then removed, a failure a warning
//! that does not stop the rest. Then reset waits until the runtime lists none.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::CriSocket;
use crate::config::well_known::KUBELET_DIR;
use crate::contract::effects::Effects;
use crate::contract::host::NodeRoot;
use crate::domain::cri::{CriError, Runtime};

/// How long the runtime gets to forget the removed pods.
pub(crate) const PODS_GONE_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(250);

/// Sockets kubeadm knows (`cmd/kubeadm/app/util/runtime`: containerd, CRI-O), looked for under
/// the root when neither `--cri-socket` nor the kubelet's flags name one.
const KNOWN_SOCKETS: [&str; 3] = [
    "/var/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
];

/// Where the node's runtime listens, and how that was learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuntimeSocket {
    pub(crate) path: PathBuf,
    pub(crate) from: &'static str,
}

/// `--cri-socket` (under the root); else the endpoint in the kubelet's kubeadm-flags.env (as
/// written, already under the root); else the first known socket under the root that exists.
pub(crate) fn runtime_socket(root: &NodeRoot, flag: Option<&CriSocket>) -> Option<RuntimeSocket> {
    if let Some(s) = flag {
        return Some(RuntimeSocket {
            path: root.resolve(s.path()),
            from: "--cri-socket",
        });
    }
    let flags_env = root.resolve(KUBELET_DIR).join("kubeadm-flags.env");
    // Under a root other than `/`, only a socket inside it: a kubeadm-flags.env written before
    // the endpoint followed --root names the host's runtime, whose pods are not this node's.
    if let Some(path) = std::fs::read_to_string(&flags_env)
        .ok()
        .and_then(|text| endpoint_in(&text))
        .filter(|p| p.starts_with(root.as_path()))
    {
        return Some(RuntimeSocket {
            path,
            from: "the kubelet's kubeadm-flags.env",
        });
    }
    KNOWN_SOCKETS
        .iter()
        .map(|s| root.resolve(s))
        .find(|p| p.exists())
        .map(|path| RuntimeSocket {
            path,
            from: "found at a known runtime's path",
        })
}

/// `--container-runtime-endpoint=unix://PATH` in a kubeadm-flags.env.
fn endpoint_in(flags_env: &str) -> Option<PathBuf> {
    flags_env
        .split(|c: char| c.is_whitespace() || c == '"')
        .find_map(|word| word.strip_prefix("--container-runtime-endpoint="))
        .map(|v| PathBuf::from(v.strip_prefix("unix://").unwrap_or(v)))
        .filter(|p| p.is_absolute())
}

/// Stops and removes every pod the runtime at `socket` has, then waits for none to be left.
/// Everything that goes wrong is a warning: the files reset removes next go anyway.
pub(crate) async fn remove_pods(socket: Option<RuntimeSocket>, fx: &mut Effects<'_>) {
    let Some(socket) = socket else {
        fx.progress("no container runtime socket on this node: no pods to remove");
        return;
    };
    if !socket.path.exists() {
        fx.progress(format!(
            "no container runtime at {} ({}): no pods to remove",
            socket.path.display(),
            socket.from
        ));
        return;
    }
    if let Err(e) = remove_all(&socket.path, fx).await {
        fx.warn(format!("the node's pods were not all removed: {e}"));
    }
}

async fn remove_all(socket: &Path, fx: &mut Effects<'_>) -> Result<(), CriError> {
    let mut runtime = Runtime::connect(socket).await?;
    let pods = runtime.pod_sandboxes().await?;
    if fx.is_dry_run() {
        fx.progress(format!(
            "dry run: would stop and remove {} pod(s) through {}: {}",
            pods.len(),
            socket.display(),
            names(&pods)
        ));
        return Ok(());
    }
    fx.progress(format!(
        "stopping and removing {} pod(s) through the container runtime at {}",
        pods.len(),
        socket.display()
    ));
    let mut removed = 0_u64;
    for pod in &pods {
        match runtime.stop_and_remove(pod).await {
            Ok(()) => removed += 1,
            Err(e) => fx.warn(format!("pod {}: {e}", pod.name)),
        }
    }
    fx.set_result_field("pods_removed", Value::from(removed));
    let start = Instant::now();
    loop {
        let left = runtime.pod_sandboxes().await?;
        let containers = runtime.container_count().await?;
        if left.is_empty() && containers == 0 {
            fx.progress(format!(
                "the container runtime has no pods or containers left ({:?})",
                start.elapsed()
            ));
            return Ok(());
        }
        if start.elapsed() >= PODS_GONE_TIMEOUT {
            fx.warn(format!(
                "after {PODS_GONE_TIMEOUT:?} the container runtime at {} still has {} pod(s) ({}) and {containers} container(s)",
                socket.display(),
                left.len(),
                names(&left)
            ));
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

fn names(pods: &[crate::domain::cri::PodSandbox]) -> String {
    if pods.is_empty() {
        return "none".into();
    }
    pods.iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_read_from_kubeadm_flags_env() {
        assert_eq!(
            endpoint_in(
                "KUBELET_KUBEADM_ARGS=\"--container-runtime=remote --container-runtime-endpoint=unix:///n/run/containerd/containerd.sock --node-ip=127.0.0.2\"\n"
            ),
            Some(PathBuf::from("/n/run/containerd/containerd.sock"))
        );
        assert_eq!(
            endpoint_in("KUBELET_KUBEADM_ARGS=\"--network-plugin=cni\"\n"),
            None
        );
        assert_eq!(
            endpoint_in("KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=relative\"\n"),
            None
        );
    }

    #[test]
    fn the_flag_wins_then_the_kubelets_flags_then_a_known_socket() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path()).unwrap();
        assert_eq!(runtime_socket(&root, None), None);
        let known = dir.path().join("run/containerd/containerd.sock");
        std::fs::create_dir_all(known.parent().unwrap()).unwrap();
        std::fs::write(&known, "").unwrap();
        assert_eq!(runtime_socket(&root, None).unwrap().path, known);
        let kubelet = dir.path().join("var/lib/kubelet");
        std::fs::create_dir_all(&kubelet).unwrap();
        std::fs::write(
            kubelet.join("kubeadm-flags.env"),
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///elsewhere.sock\"\n",
        )
        .unwrap();
        assert_eq!(
            runtime_socket(&root, None).unwrap().path,
            known,
            "a socket outside the root (the host's runtime) is never this node's"
        );
        let inside = dir.path().join("run/crio.sock");
        std::fs::write(
            kubelet.join("kubeadm-flags.env"),
            format!(
                "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix://{}\"\n",
                inside.display()
            ),
        )
        .unwrap();
        assert_eq!(runtime_socket(&root, None).unwrap().path, inside);
        let flag: CriSocket = "unix:///var/run/crio/crio.sock".parse().unwrap();
        assert_eq!(
            runtime_socket(&root, Some(&flag)).unwrap(),
            RuntimeSocket {
                path: dir.path().join("var/run/crio/crio.sock"),
                from: "--cri-socket"
            }
        );
    }
}
