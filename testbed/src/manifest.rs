//! The slice of a static-pod manifest the stand-in acts on: each container's command, args
//! and literal env, and the hostPath volumes the kubelet would create.
//!
//! Everything else in the Pod (images, probes, resources, mounts) is ignored: the processes
//! run on this host and see its files directly, so mounts map to nothing.

use std::path::PathBuf;

use serde::Deserialize;

/// A static pod as read from its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPod {
    /// `metadata.name` (e.g. `kube-apiserver`).
    pub name: String,
    pub containers: Vec<Container>,
    pub host_paths: Vec<HostPath>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    /// `command` followed by `args`; never empty.
    pub argv: Vec<String>,
    /// Literal `env` entries; `valueFrom` entries cannot be resolved without an API server
    /// and are listed in `unresolved_env` instead.
    pub env: Vec<(String, String)>,
    pub unresolved_env: Vec<String>,
    pub working_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    pub path: PathBuf,
    pub kind: HostPathKind,
}

/// What the kubelet does with a hostPath before starting the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPathKind {
    /// `DirectoryOrCreate`: create the directory (0755) when missing.
    DirectoryOrCreate,
    /// `FileOrCreate`: create an empty file (0644) when missing.
    FileOrCreate,
    /// Any other type: the kubelet only checks it; the stand-in leaves it alone.
    Other,
}

/// Why a manifest cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a Pod manifest: {0}")]
    Yaml(String),
    #[error("kind is {0:?}, expected Pod")]
    NotAPod(String),
    #[error("metadata.name is missing")]
    NoName,
    #[error("spec.containers is empty")]
    NoContainers,
    #[error(
        "container {0:?} has no command: the stand-in cannot know an image's entrypoint, so static pods must set spec.containers[].command"
    )]
    NoCommand(String),
}

impl StaticPod {
    pub fn parse(yaml: &str) -> Result<Self, ManifestError> {
        let pod: wire::Pod =
            serde_saphyr::from_str(yaml).map_err(|e| ManifestError::Yaml(e.to_string()))?;
        if pod.kind != "Pod" {
            return Err(ManifestError::NotAPod(pod.kind));
        }
        let name = pod.metadata.name.ok_or(ManifestError::NoName)?;
        if pod.spec.containers.is_empty() {
            return Err(ManifestError::NoContainers);
        }
        let containers = pod
            .spec
            .containers
            .into_iter()
            .map(|c| {
                let argv: Vec<String> = c.command.into_iter().chain(c.args).collect();
                if argv.is_empty() {
                    return Err(ManifestError::NoCommand(c.name));
                }
                let (literal, unresolved): (Vec<_>, Vec<_>) =
                    c.env.into_iter().partition(|e| e.value.is_some());
                Ok(Container {
                    name: c.name,
                    argv,
                    env: literal
                        .into_iter()
                        .map(|e| (e.name, e.value.unwrap_or_default()))
                        .collect(),
                    unresolved_env: unresolved.into_iter().map(|e| e.name).collect(),
                    working_dir: c.working_dir.map(PathBuf::from),
                })
            })
            .collect::<Result<_, _>>()?;
        let host_paths = pod
            .spec
            .volumes
            .into_iter()
            .filter_map(|v| v.host_path)
            .map(|h| HostPath {
                path: PathBuf::from(h.path),
                kind: match h.kind.as_deref() {
                    Some("DirectoryOrCreate") => HostPathKind::DirectoryOrCreate,
                    Some("FileOrCreate") => HostPathKind::FileOrCreate,
                    _ => HostPathKind::Other,
                },
            })
            .collect();
        Ok(StaticPod {
            name,
            containers,
            host_paths,
        })
    }
}

/// The Pod's YAML shape, as far as it is read. Unknown fields are ignored.
mod wire {
    use super::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct Pod {
        #[serde(default)]
        pub kind: String,
        #[serde(default)]
        pub metadata: Metadata,
        #[serde(default)]
        pub spec: Spec,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct Metadata {
        pub name: Option<String>,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct Spec {
        #[serde(default)]
        pub containers: Vec<Container>,
        #[serde(default)]
        pub volumes: Vec<Volume>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Container {
        #[serde(default)]
        pub name: String,
        #[serde(default)]
        pub command: Vec<String>,
        #[serde(default)]
        pub args: Vec<String>,
        #[serde(default)]
        pub env: Vec<Env>,
        pub working_dir: Option<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct Env {
        pub name: String,
        pub value: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Volume {
        pub host_path: Option<HostPath>,
    }

    #[derive(Deserialize)]
    pub(super) struct HostPath {
        pub path: String,
        #[serde(rename = "type")]
        pub kind: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETCD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://127.0.0.21:2379
spec:
  containers:
  - command:
    - etcd
    - --data-dir=/r/var/lib/etcd
    args: ["--name=n1"]
    env:
    - name: A
      value: "1"
    - name: POD_IP
      valueFrom:
        fieldRef: {fieldPath: status.podIP}
    image: registry.k8s.io/etcd:3.4.13-0
    livenessProbe:
      httpGet: {host: 127.0.0.1, path: /health, port: 2381, scheme: HTTP}
    name: etcd
  hostNetwork: true
  volumes:
  - hostPath: {path: /r/etc/kubernetes/pki/etcd, type: DirectoryOrCreate}
    name: etcd-certs
  - hostPath: {path: /r/var/lib/etcd, type: DirectoryOrCreate}
    name: etcd-data
  - hostPath: {path: /run/xtables.lock, type: FileOrCreate}
    name: lock
  - hostPath: {path: /etc/ssl/certs, type: Directory}
    name: ca
  - emptyDir: {}
    name: scratch
"#;

    #[test]
    fn reads_command_args_env_and_host_paths() {
        let pod = StaticPod::parse(ETCD).unwrap();
        assert_eq!(pod.name, "etcd");
        let c = &pod.containers[0];
        assert_eq!(c.argv, ["etcd", "--data-dir=/r/var/lib/etcd", "--name=n1"]);
        assert_eq!(c.env, [("A".to_string(), "1".to_string())]);
        assert_eq!(c.unresolved_env, ["POD_IP"]);
        let kinds: Vec<_> = pod.host_paths.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [
                HostPathKind::DirectoryOrCreate,
                HostPathKind::DirectoryOrCreate,
                HostPathKind::FileOrCreate,
                HostPathKind::Other
            ]
        );
        assert_eq!(pod.host_paths[1].path, PathBuf::from("/r/var/lib/etcd"));
    }

    #[test]
    fn rejects_what_it_cannot_run() {
        assert!(matches!(
            StaticPod::parse("kind: Deployment\nmetadata: {name: x}\n"),
            Err(ManifestError::NotAPod(k)) if k == "Deployment"
        ));
        assert!(matches!(
            StaticPod::parse("kind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: c\n    image: i\n"),
            Err(ManifestError::NoCommand(c)) if c == "c"
        ));
        assert!(matches!(
            StaticPod::parse("kind: Pod\nspec: {containers: []}\n"),
            Err(ManifestError::NoName)
        ));
        assert!(matches!(
            StaticPod::parse("kind: [\n"),
            Err(ManifestError::Yaml(_))
        ));
    }
}
