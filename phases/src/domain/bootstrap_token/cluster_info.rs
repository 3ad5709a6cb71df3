//! ConfigMap kube-public/cluster-info: what a joining node learns before it trusts anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::config::Kubeconfig;
use kube::core::ObjectMeta;

use crate::config::well_known::CLUSTER_INFO;
use crate::config::well_known::KUBE_PUBLIC;
use crate::contract::host::{FsError, HostFs};

pub const KUBECONFIG_KEY: &str = "kubeconfig";

/// The cluster endpoint and CA published in cluster-info, taken from admin.conf's current
/// cluster as kubeadm does (so it is the endpoint admins and joining nodes use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfoSource {
    pub server: String,
    /// Base64 PEM of the CA, as in the kubeconfig.
    pub certificate_authority_data: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterInfoError {
    #[error(transparent)]
    Read(#[from] FsError),
    #[error("{}: {problem}", path.display())]
    Kubeconfig { path: PathBuf, problem: String },
}

impl crate::contract::diagnostics::Diagnostic for ClusterInfoError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Read(e) => e.hint(),
            Self::Kubeconfig { .. } => None,
        }
    }
}

/// Reads the current cluster's server and CA data from a kubeconfig (admin.conf).
pub fn cluster_info_source(
    fs: &HostFs,
    path: &Path,
) -> Result<ClusterInfoSource, ClusterInfoError> {
    let bad = |problem: &str| ClusterInfoError::Kubeconfig {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    };
    let bytes = fs.read(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8 text"))?;
    let kc = Kubeconfig::from_yaml(text).map_err(|_| {
        bad("cannot parse it as a kubeconfig (YAML with clusters, users and contexts)")
    })?;
    let context_name = kc
        .current_context
        .as_deref()
        .ok_or_else(|| bad("current-context is not set"))?;
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .ok_or_else(|| bad("the current context does not exist"))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| bad("the current context's cluster does not exist"))?;
    let server = cluster
        .server
        .clone()
        .ok_or_else(|| bad("the current cluster has no server"))?;
    let certificate_authority_data = cluster
        .certificate_authority_data
        .clone()
        .ok_or_else(|| bad("the current cluster has no certificate-authority-data"))?;
    Ok(ClusterInfoSource {
        server,
        certificate_authority_data,
    })
}

/// The kubeconfig stored in cluster-info, laid out as kubeadm's client-go serialises it: one
/// unnamed cluster, no contexts, no users. The bootstrap signer signs these exact bytes.
pub fn cluster_info_kubeconfig(source: &ClusterInfoSource) -> String {
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n",
        source.certificate_authority_data, source.server
    )
}

/// ConfigMap kube-public/cluster-info with only the `kubeconfig` key (the signer owns the
/// `jws-kubeconfig-*` keys).
pub fn cluster_info_configmap(source: &ClusterInfoSource) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(CLUSTER_INFO.to_string()),
            namespace: Some(KUBE_PUBLIC.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            KUBECONFIG_KEY.to_string(),
            cluster_info_kubeconfig(source),
        )])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_admin_conf_current_cluster_and_renders_a_userless_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("admin.conf");
        std::fs::write(
            &p,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: https://wrong:1, certificate-authority-data: eA==}\n- name: kubernetes\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: Q0E=\ncontexts:\n- name: admin@kubernetes\n  context: {cluster: kubernetes, user: admin}\ncurrent-context: admin@kubernetes\nusers:\n- name: admin\n  user: {client-key-data: c2VjcmV0}\n",
        )
        .unwrap();
        let src = cluster_info_source(&HostFs::real(), &p).unwrap();
        assert_eq!(src.server, "https://10.0.0.1:6443");
        assert_eq!(src.certificate_authority_data, "Q0E=");
        let cm = cluster_info_configmap(&src);
        let kc = &cm.data.as_ref().unwrap()[KUBECONFIG_KEY];
        assert!(!kc.contains("c2VjcmV0"));
        let parsed = Kubeconfig::from_yaml(kc).unwrap();
        assert_eq!(parsed.clusters.len(), 1);
        assert!(parsed.auth_infos.is_empty());
        assert_eq!(
            parsed.clusters[0]
                .cluster
                .as_ref()
                .unwrap()
                .server
                .as_deref(),
            Some("https://10.0.0.1:6443")
        );
        std::fs::write(&p, "apiVersion: v1\nkind: Config\nclusters: []\n").unwrap();
        let err = cluster_info_source(&HostFs::real(), &p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin.conf") && err.contains("current-context"),
            "{err}"
        );
    }
}
