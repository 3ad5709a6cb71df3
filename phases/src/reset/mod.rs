//! `kubestrap reset`: undoing what init and join did on this node.
//!
//! Order matters, and follows kubeadm's reset phases:
//! 1. `remove-etcd-member`: while the local etcd still runs, take this node's member out of a
//!    multi-member cluster ([`etcd_member`]); otherwise the others keep a member that never
//!    answers again.
//! 2. `cleanup-node`: remove the static-pod manifests so the kubelet stops the pods, wait until
//!    they no longer listen (so etcd does not write into a data dir being deleted), stop the
//!    kubelet (only on a real node, root `/`), then delete the kubeconfigs, the kubelet files,
//!    the certificates, etcd's data and — last, so an interrupted reset can be run again — the
//!    journals.
//! 3. `verify`: look again and report anything left.
//!
//! What to remove comes from the node itself ([`inventory`]): well-known kubeadm paths, what
//! the manifests say, and every file the journals record; never a path outside the node root.

mod cleanup;
pub mod etcd_member;
mod inventory;

pub use cleanup::{leftovers, not_cleaned, remove_manifests, remove_the_rest, wait_until_stopped};
pub use etcd_member::{EtcdMembership, MemberOutcome, ThisMember, remove_this_member};
pub use inventory::{Inventory, LocalEtcd, ResetOptions, Target, TargetKind, inventory};
