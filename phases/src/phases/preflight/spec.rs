//! What preflight needs to know about the run, already typed: the caller (the context built
//! from the configuration) decides addresses, paths and versions; preflight only looks.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::ignore::IgnoreSet;
use crate::config::CriSocket;
use crate::config::kubernetes_version::KubernetesVersion;
use crate::contract::host::NodeRoot;

/// Everything the checks of one `init` or `join` look at.
#[derive(Debug, Clone)]
pub struct PreflightSpec {
    /// Files are checked under this root; kernel files (`/proc`) and `$PATH` are the host's.
    pub root: NodeRoot,
    pub role: NodeRole,
    /// The node name (`nodeRegistration.name`), checked for format and resolvability.
    pub node_name: String,
    /// Where the kubelet will listen (port 10250 by default).
    pub kubelet: SocketAddr,
    /// `nodeRegistration.criSocket`.
    pub cri_socket: CriSocket,
    /// The control-plane version: on init, the version being deployed; on join, `None`
    /// (unknown before discovery, as for kubeadm, which then skips the skew ceiling and the
    /// version-dependent `conntrack` check).
    pub kubernetes_version: Option<KubernetesVersion>,
    /// Which forwarding switches must be on: the families of the service and pod subnets and
    /// the advertise address (init), or of the API server endpoint (join).
    pub ip_families: IpFamilies,
    pub ignore: IgnoreSet,
}

/// What this node becomes; a worker has no control-plane addresses to check.
#[derive(Debug, Clone)]
pub enum NodeRole {
    /// `kubeadm init`.
    InitControlPlane(ControlPlane),
    /// `kubeadm join --control-plane`.
    JoinControlPlane(ControlPlane),
    /// `kubeadm join`.
    JoinWorker {
        /// The logical path the cluster CA will be written to (`/etc/kubernetes/pki/ca.crt`);
        /// it must not exist yet.
        ca_cert: PathBuf,
    },
}

/// The control-plane components this node will run.
///
/// Each address is the one the component will bind: kubeadm checks ports on every interface,
/// which `0.0.0.0:<port>` reproduces; a simulated node on `127.0.0.x` passes its own address
/// so that it does not collide with its neighbours.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    /// The API server's advertise address and bind port.
    pub apiserver: SocketAddr,
    /// kube-controller-manager's secure port (10257).
    pub controller_manager: SocketAddr,
    /// kube-scheduler's secure port (10259).
    pub scheduler: SocketAddr,
    /// The logical static-pod manifest directory (`/etc/kubernetes/manifests`).
    pub manifests_dir: PathBuf,
    pub etcd: EtcdPlacement,
}

#[derive(Debug, Clone)]
pub enum EtcdPlacement {
    /// etcd runs as a static pod on this node.
    Local {
        /// Client port (2379).
        client: SocketAddr,
        /// Peer port (2380).
        peer: SocketAddr,
        /// The logical data directory (`/var/lib/etcd`), which must be absent or empty.
        data_dir: PathBuf,
    },
    External,
}

/// Which IP families the node uses, for the kernel forwarding checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpFamilies {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl IpFamilies {
    /// The families of the given addresses (subnet base addresses work as well).
    pub fn of(ips: impl IntoIterator<Item = IpAddr>) -> Self {
        ips.into_iter().fold(Self::default(), |f, ip| Self {
            ipv4: f.ipv4 || ip.is_ipv4(),
            ipv6: f.ipv6 || ip.is_ipv6(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn cri_socket_forms() {
        let s: CriSocket = "unix:///run/containerd/containerd.sock".parse().unwrap();
        assert_eq!(s.path(), Path::new("/run/containerd/containerd.sock"));
        assert_eq!(s.to_string(), "unix:///run/containerd/containerd.sock");
        let bare: CriSocket = "/var/run/crio/crio.sock".parse().unwrap();
        assert_eq!(bare.to_string(), "unix:///var/run/crio/crio.sock");
        assert!("tcp://127.0.0.1:1234".parse::<CriSocket>().is_err());
        assert!("unix://relative.sock".parse::<CriSocket>().is_err());
        assert!("".parse::<CriSocket>().is_err());
    }

    #[test]
    fn families_of_addresses() {
        let v4: IpAddr = "10.96.0.0".parse().unwrap();
        let v6: IpAddr = "fd00::".parse().unwrap();
        assert_eq!(
            IpFamilies::of([v4]),
            IpFamilies {
                ipv4: true,
                ipv6: false
            }
        );
        assert_eq!(
            IpFamilies::of([v4, v6]),
            IpFamilies {
                ipv4: true,
                ipv6: true
            }
        );
        assert_eq!(IpFamilies::of([]), IpFamilies::default());
    }
}
