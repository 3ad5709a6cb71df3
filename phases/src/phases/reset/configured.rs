//! Where reset takes the certificates dir and etcd's data dir from: the configuration, never
//! a flag in a manifest.
//!
//! kubeadm's `reset` (cmd/kubeadm/app/cmd/reset.go, `newResetData`, v1beta4 era) picks the
//! certificates dir as: `--cert-dir` when given, else the ResetConfiguration's
//! `certificatesDir`, else the cluster's ClusterConfiguration (ConfigMap
//! kube-system/kubeadm-config, read with admin.conf), else `/etc/kubernetes/pki`; kubeadm
//! v1.20 used `--cert-dir` (default `/etc/kubernetes/pki`) alone. Its etcd data dir
//! (phases/reset/removeetcdmember.go, `getEtcdDataDir`) is the cluster's
//! `etcd.local.dataDir`, else the manifest's `etcd-data` volume. kubestrap follows the same
//! order, with a ClusterConfiguration given by `--config` in the ResetConfiguration's place
//! (kubestrap reads no ResetConfiguration), and trusts no manifest for either: the API
//! server's `--client-ca-file` may point anywhere through extraArgs, and an etcd manifest
//! naming another data dir than the configured one is refused (see [`super::inventory`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;

use crate::config::{ClusterConfig, ConfigError, EtcdConfig};
use crate::contract::host::{HostFs, NodeRoot};
use crate::domain::apiclient::{ApiClient, ApiError};
use crate::domain::kubeadm_config::{KubeadmConfigError, cluster_from_config_map};

use crate::config::well_known::{
    ADMIN_CONF_PATH, DEFAULT_CERTIFICATES_DIR, DEFAULT_ETCD_DATA_DIR, KUBE_SYSTEM,
    KUBEADM_CONFIG_MAP,
};

/// Where a configured directory came from, as the progress and the result say it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// `--cert-dir`.
    CertDirFlag,
    /// The cluster's ClusterConfiguration (ConfigMap kube-system/kubeadm-config).
    Cluster,
    /// The ClusterConfiguration in `--config`.
    ConfigFile,
    /// kubeadm's default.
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::CertDirFlag => "from --cert-dir",
            Self::Cluster => {
                "from the cluster's ClusterConfiguration, ConfigMap kube-system/kubeadm-config"
            }
            Self::ConfigFile => "from the ClusterConfiguration in --config",
            Self::Default => "the default",
        })
    }
}

/// A directory under the node root and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfiguredDir {
    pub path: PathBuf,
    pub from: Origin,
}

/// What reset was told about the node's configuration.
#[derive(Debug, Clone, Default)]
pub struct ResetOptions {
    /// `--cert-dir` (logical, resolved under the root).
    pub cert_dir: Option<PathBuf>,
    /// The ClusterConfiguration of `--config`.
    pub config_file: Option<ClusterConfig>,
    /// The cluster's ClusterConfiguration, when it could be read.
    pub cluster: Option<ClusterConfig>,
}

impl ResetOptions {
    /// The configurations in the order they count: the cluster's, then `--config`'s.
    fn configs(&self) -> impl Iterator<Item = (&ClusterConfig, Origin)> {
        let cluster = self.cluster.iter().map(|c| (c, Origin::Cluster));
        let file = self.config_file.iter().map(|c| (c, Origin::ConfigFile));
        cluster.chain(file)
    }

    /// The certificates dir: `--cert-dir`, else the configuration's `certificatesDir`,
    /// else `/etc/kubernetes/pki`.
    pub fn cert_dir(&self, root: &NodeRoot) -> ConfiguredDir {
        if let Some(dir) = &self.cert_dir {
            return ConfiguredDir {
                path: root.resolve(dir),
                from: Origin::CertDirFlag,
            };
        }
        // kubeadm: the local ResetConfiguration counts before the cluster's.
        let local_first = self
            .config_file
            .iter()
            .map(|c| (c, Origin::ConfigFile))
            .chain(self.cluster.iter().map(|c| (c, Origin::Cluster)))
            .next();
        match local_first {
            Some((c, from)) => ConfiguredDir {
                path: root.resolve(c.certificates_dir.as_path()),
                from,
            },
            None => ConfiguredDir {
                path: root.resolve(DEFAULT_CERTIFICATES_DIR),
                from: Origin::Default,
            },
        }
    }

    /// etcd's data dir: the configuration's `etcd.local.dataDir`, else `/var/lib/etcd`;
    /// `None` when the configuration says etcd is external (nothing of it is on this node).
    pub fn etcd_data_dir(&self, root: &NodeRoot) -> Option<ConfiguredDir> {
        match self.configs().next() {
            Some((c, from)) => match &c.etcd {
                EtcdConfig::Local(local) => Some(ConfiguredDir {
                    path: root.resolve(local.data_dir.as_path()),
                    from,
                }),
                EtcdConfig::External(_) => None,
            },
            None => Some(ConfiguredDir {
                path: root.resolve(DEFAULT_ETCD_DATA_DIR),
                from: Origin::Default,
            }),
        }
    }
}

/// Why `--config` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("--config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--config {}: not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("--config: {0}")]
    Config(#[from] ConfigError),
}

/// Whatever is wrong with it, the file init was given is the one to give.
impl crate::contract::diagnostics::Diagnostic for ConfigFileError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        crate::contract::diagnostics::hint(
            "give the kubeadm configuration file init was given: reset reads its ClusterConfiguration",
        )
    }
}

/// The ClusterConfiguration (v1beta3 or v1beta4) of the file `--config` names, defaulted
/// and validated as init does; other documents in it (an InitConfiguration) are ignored.
pub fn load_config_file(path: &Path) -> Result<ClusterConfig, ConfigFileError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigFileError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    Ok(crate::config::parse_cluster_configuration(path, &text)?)
}

/// Why the cluster's ClusterConfiguration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterConfigError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Config(#[from] KubeadmConfigError),
    #[error("cannot start the API client's runtime: {0}")]
    Runtime(std::io::Error),
}

impl crate::contract::diagnostics::Diagnostic for ClusterConfigError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Api(e) => e.hint(),
            Self::Config(e) => e.hint(),
            Self::Runtime(_) => None,
        }
    }
}

/// The cluster's ClusterConfiguration, read with the node's admin.conf as kubeadm's reset
/// does; `Ok(None)` when there is no admin.conf (a worker, or a node already reset).
/// `timeout` bounds the whole read, retries included: a dead API server must not hold reset.
pub fn cluster_configuration(
    root: &NodeRoot,
    timeout: Duration,
) -> Result<Option<ClusterConfig>, ClusterConfigError> {
    let admin = root.resolve(ADMIN_CONF_PATH);
    if !admin.exists() {
        return Ok(None);
    }
    // Its own runtime on its own thread: callers may already be inside one.
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(ClusterConfigError::Runtime)?;
            rt.block_on(fetch(&admin, timeout))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(ClusterConfigError::Runtime(std::io::Error::other(
                "the API client's thread panicked",
            )))
        })
    })
}

async fn fetch(
    admin: &Path,
    timeout: Duration,
) -> Result<Option<ClusterConfig>, ClusterConfigError> {
    let client = ApiClient::from_kubeconfig(&HostFs::real(), admin, timeout).await?;
    let cm = client
        .get_opt::<ConfigMap>(Some(KUBE_SYSTEM), KUBEADM_CONFIG_MAP)
        .await?
        .ok_or(KubeadmConfigError::NoKubeadmConfig)?;
    Ok(Some(cluster_from_config_map(&cm)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(extra: &str) -> ClusterConfig {
        crate::config::parse_cluster_configuration(
            Path::new("test.yaml"),
            &format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn the_cert_dir_comes_from_the_flag_then_the_config_file_then_the_cluster() {
        let root = NodeRoot::new("/tmp/n").unwrap();
        let mut opts = ResetOptions::default();
        assert_eq!(
            opts.cert_dir(&root),
            ConfiguredDir {
                path: "/tmp/n/etc/kubernetes/pki".into(),
                from: Origin::Default
            }
        );
        opts.cluster = Some(cluster("certificatesDir: /etc/kubernetes/cluster-pki\n"));
        assert_eq!(
            opts.cert_dir(&root).path,
            Path::new("/tmp/n/etc/kubernetes/cluster-pki")
        );
        assert_eq!(opts.cert_dir(&root).from, Origin::Cluster);
        opts.config_file = Some(cluster("certificatesDir: /srv/pki\n"));
        assert_eq!(opts.cert_dir(&root).path, Path::new("/tmp/n/srv/pki"));
        opts.cert_dir = Some("/opt/../flag-pki".into());
        assert_eq!(
            opts.cert_dir(&root),
            ConfiguredDir {
                path: "/tmp/n/flag-pki".into(),
                from: Origin::CertDirFlag
            }
        );
    }

    #[test]
    fn the_etcd_data_dir_comes_from_the_cluster_then_the_config_file() {
        let root = NodeRoot::new("/tmp/n").unwrap();
        let mut opts = ResetOptions::default();
        assert_eq!(
            opts.etcd_data_dir(&root).unwrap().path,
            Path::new("/tmp/n/var/lib/etcd")
        );
        opts.config_file = Some(cluster("etcd:\n  local:\n    dataDir: /data/etcd\n"));
        assert_eq!(
            opts.etcd_data_dir(&root).unwrap(),
            ConfiguredDir {
                path: "/tmp/n/data/etcd".into(),
                from: Origin::ConfigFile
            }
        );
        opts.cluster = Some(cluster(
            "etcd:\n  external:\n    endpoints: [\"https://127.0.0.1:2379\"]\n",
        ));
        assert_eq!(opts.etcd_data_dir(&root), None);
    }

    #[test]
    fn no_admin_conf_no_cluster_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path()).unwrap();
        assert!(matches!(
            cluster_configuration(&root, Duration::from_secs(1)),
            Ok(None)
        ));
        let admin = root.resolve(ADMIN_CONF_PATH);
        std::fs::create_dir_all(admin.parent().unwrap()).unwrap();
        std::fs::write(&admin, "not a kubeconfig").unwrap();
        let err = cluster_configuration(&root, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("admin.conf"), "{err}");
    }
}
