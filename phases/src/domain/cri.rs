//! The node's container runtime, through its CRI socket: what kubeadm does with `crictl`
//! (`cmd/kubeadm/app/util/runtime/runtime.go`: `crictl pods -q`, then `crictl stopp` and
//! `crictl rmp` for each), spoken directly over gRPC (CRI v1, which containerd ≥ 1.6 and
//! CRI-O serve), since `crictl` is not everywhere (Debian has none).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerFilter, ContainerState, ContainerStatusRequest, ListContainersRequest,
    ListPodSandboxRequest, RemovePodSandboxRequest, StopPodSandboxRequest,
};
use tonic::transport::{Channel, Endpoint, Uri};

/// How long one CRI call may take (kubeadm gives crictl its default, 2 s for connecting;
/// stopping a pod waits for its containers' grace period, so calls get longer).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// crictl's default connection timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What went wrong talking to the runtime; each names the socket.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("cannot connect to the container runtime at {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("the container runtime at {} answered {call}: {}", socket.display(), status.message())]
    Call {
        socket: PathBuf,
        call: &'static str,
        status: Box<tonic::Status>,
    },
}

/// One pod sandbox, as the runtime lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandbox {
    pub id: String,
    /// `<namespace>/<name>`, for messages.
    pub name: String,
}

/// A connection to the runtime's RuntimeService.
/// One container the runtime ran for a static pod: what `crictl ps -a` and `crictl inspect`
/// show of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRun {
    pub id: String,
    /// The kubelet's restart counter for this container of the pod.
    pub attempt: u32,
    pub running: bool,
    pub exited: bool,
    /// Nanoseconds since the epoch.
    pub created_at: i64,
    pub exit_code: i32,
    /// The runtime's reason and message for an exited container (`Error`, `OOMKilled`).
    pub reason: String,
    /// Where the kubelet keeps its output (`/var/log/pods/…`).
    pub log_path: String,
}

pub struct Runtime {
    socket: PathBuf,
    client: RuntimeServiceClient<Channel>,
}

impl Runtime {
    /// Connects to the unix socket at `socket` (a filesystem path, already under the root).
    pub async fn connect(socket: &Path) -> Result<Self, CriError> {
        let path = socket.to_path_buf();
        // The URI is a placeholder: every connection goes to the socket.
        let channel = Endpoint::from_static("http://[::1]:0")
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map(TokioIo::new)
                }
            }))
            .await
            .map_err(|source| CriError::Connect {
                socket: socket.to_path_buf(),
                source,
            })?;
        Ok(Self {
            socket: socket.to_path_buf(),
            client: RuntimeServiceClient::new(channel),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn failed(&self, call: &'static str) -> impl FnOnce(tonic::Status) -> CriError + '_ {
        move |status| CriError::Call {
            socket: self.socket.clone(),
            call,
            status: Box::new(status),
        }
    }

    /// Every pod sandbox the runtime has, ready or not (`crictl pods -q`).
    pub async fn pod_sandboxes(&mut self) -> Result<Vec<PodSandbox>, CriError> {
        let items = self
            .client
            .clone()
            .list_pod_sandbox(ListPodSandboxRequest { filter: None })
            .await
            .map_err(self.failed("ListPodSandbox"))?
            .into_inner()
            .items;
        Ok(items
            .into_iter()
            .map(|p| PodSandbox {
                name: p
                    .metadata
                    .map(|m| format!("{}/{}", m.namespace, m.name))
                    .unwrap_or_else(|| p.id.clone()),
                id: p.id,
            })
            .collect())
    }

    /// How many containers the runtime has, running or not (`crictl ps -a -q`).
    pub async fn container_count(&mut self) -> Result<usize, CriError> {
        Ok(self
            .client
            .clone()
            .list_containers(ListContainersRequest { filter: None })
            .await
            .map_err(self.failed("ListContainers"))?
            .into_inner()
            .containers
            .len())
    }

    /// The containers of `namespace`'s pods named `container` (labels the kubelet sets on
    /// every container), newest first, with the exit status of those that ended.
    pub async fn containers_named(
        &mut self,
        namespace: &str,
        container: &str,
    ) -> Result<Vec<ContainerRun>, CriError> {
        let mut client = self.client.clone();
        let filter = ContainerFilter {
            label_selector: [
                ("io.kubernetes.pod.namespace", namespace),
                ("io.kubernetes.container.name", container),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..Default::default()
        };
        let containers = client
            .list_containers(ListContainersRequest {
                filter: Some(filter),
            })
            .await
            .map_err(self.failed("ListContainers"))?
            .into_inner()
            .containers;
        let mut out = Vec::with_capacity(containers.len());
        for c in containers {
            let status = client
                .container_status(ContainerStatusRequest {
                    container_id: c.id.clone(),
                    verbose: false,
                })
                .await
                .map_err(self.failed("ContainerStatus"))?
                .into_inner()
                .status
                .unwrap_or_default();
            out.push(ContainerRun {
                attempt: c.metadata.map_or(0, |m| m.attempt),
                running: c.state == ContainerState::ContainerRunning as i32,
                exited: c.state == ContainerState::ContainerExited as i32,
                created_at: c.created_at,
                exit_code: status.exit_code,
                reason: status.reason,
                log_path: status.log_path,
                id: c.id,
            });
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        Ok(out)
    }

    /// Stops the pod's containers and sandbox, then removes them (`crictl stopp`, `crictl rmp`).
    pub async fn stop_and_remove(&mut self, pod: &PodSandbox) -> Result<(), CriError> {
        let mut client = self.client.clone();
        client
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await
            .map_err(self.failed("StopPodSandbox"))?;
        client
            .remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await
            .map_err(self.failed("RemovePodSandbox"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_socket_nobody_listens_on_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("containerd.sock");
        let err = match Runtime::connect(&socket).await {
            Ok(mut rt) => rt.pod_sandboxes().await.map(|_| ()).unwrap_err(),
            Err(e) => e,
        };
        assert!(
            err.to_string().contains(&socket.display().to_string()),
            "{err}"
        );
    }
}
