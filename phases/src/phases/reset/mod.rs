//! `kubestrap reset`: undoing what init and join did on this node.
//!
//! Order matters, and follows kubeadm's reset phases ([`phases`], run by the engine like
//! init's and join's; `preflight` first takes the inventory):
//! 1. `update-cluster-status` (v1.20–v1.21 clusters): take this control plane's API endpoint out
//!    of ClusterStatus in kubeadm-config ([`update_cluster_status`]).
//! 2. `remove-etcd-member`: while the local etcd still runs, take this node's member out of a
//!    multi-member cluster ([`etcd_member`]); otherwise the others keep a member that never
//!    answers again.
//! 3. `cleanup-node`: remove the static-pod manifests so the kubelet stops the pods, wait until
//!    they no longer listen (so etcd does not write into a data dir being deleted), stop the
//!    kubelet (only on a real node, root `/`), then delete the kubeconfigs, the kubelet files,
//!    the certificates, etcd's data and — last, so an interrupted reset can be run again — the
//!    journals.
//! 4. `verify`: look again and report anything left.
//!
//! What to remove comes from the node itself and its configuration ([`inventory`], with the
//! certificates dir and etcd's data dir from [`configured`]), and every path goes through
//! one gate ([`containment`]) that resolves `..` and symlinks before anything is decided:
//! nothing outside the node root, no protected directory, no mount point, and only the files
//! init and join make. What the gate or the inventory refuses is reported by name.

mod cleanup;
pub mod configured;
mod containers;
pub mod containment;
pub mod etcd_member;
mod inventory;
pub mod phases;
mod unmount;
pub mod update_cluster_status;

pub use cleanup::{
    Removal, leftovers, not_cleaned, remove_manifests, remove_the_rest, wait_until_stopped,
};
pub use configured::{
    ClusterConfigError, ConfigFileError, ConfiguredDir, Origin, ResetOptions,
    cluster_configuration, load_config_file,
};
pub use containment::{Gate, RefusalReason, Refused};
pub use etcd_member::{EtcdMembership, MemberOutcome, ThisMember, remove_this_member};
pub use inventory::{Inventory, LocalEtcd, Target, TargetKind, certificate_files, inventory};
pub use phases::{CleanupNode, RemoveEtcdMember, ResetContext, ResetPreflight, Verify};
pub use update_cluster_status::UpdateClusterStatus;
