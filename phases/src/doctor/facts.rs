//! What the node is, found once from its files before any check: its role, its name, where its
//! files are. Checks judge against these; a missing file is a finding of the check that needs
//! it, not an error here.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::well_known::{KUBELET_DIR, KUBERNETES_DIR, MANIFESTS_DIR};
use crate::contract::host::NodeRoot;
use crate::domain::node::node_name_from_kubelet_conf;
use crate::domain::static_pod::Pod;

/// Whether the node runs a control plane (a kube-apiserver manifest), is a worker (a
/// kubelet.conf and no control plane), or is neither yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ControlPlane,
    Worker,
    NotJoined,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeFacts {
    pub role: Role,
    /// From kubelet.conf's certificate (`system:node:<name>`), when it can be read.
    pub node_name: Option<String>,
    /// `/etc/kubernetes`, resolved.
    pub kubeconfig_dir: PathBuf,
    /// `/etc/kubernetes/manifests`, resolved.
    pub manifests_dir: PathBuf,
    /// `/var/lib/kubelet`, resolved.
    pub kubelet_dir: PathBuf,
    /// The certificates directory: the kube-apiserver manifest's `--client-ca-file` directory
    /// on a control plane, else `/etc/kubernetes/pki`, resolved.
    pub cert_dir: PathBuf,
}

impl NodeFacts {
    pub fn gather(root: &NodeRoot) -> Self {
        let kubeconfig_dir = root.resolve(KUBERNETES_DIR);
        let manifests_dir = root.resolve(MANIFESTS_DIR);
        let apiserver = manifests_dir.join("kube-apiserver.yaml");
        let role = if apiserver.is_file() {
            Role::ControlPlane
        } else if kubeconfig_dir.join("kubelet.conf").is_file() {
            Role::Worker
        } else {
            Role::NotJoined
        };
        let cert_dir = client_ca_dir(&apiserver).unwrap_or_else(|| kubeconfig_dir.join("pki"));
        Self {
            role,
            node_name: node_name_from_kubelet_conf(root).ok(),
            kubeconfig_dir,
            manifests_dir,
            kubelet_dir: root.resolve(KUBELET_DIR),
            cert_dir,
        }
    }
}

/// The directory of `--client-ca-file` in the kube-apiserver manifest (kubestrap writes the
/// resolved path there).
fn client_ca_dir(manifest: &Path) -> Option<PathBuf> {
    let pod = read_pod(manifest)?;
    Path::new(pod.flag("client-ca-file")?)
        .parent()
        .map(Path::to_path_buf)
}

/// The static pod at `path`, when it exists and parses (the checks that judge a manifest say
/// what is wrong with one that does not).
pub fn read_pod(path: &Path) -> Option<Pod> {
    let text = std::fs::read_to_string(path).ok()?;
    Pod::from_yaml(&text).ok()
}
