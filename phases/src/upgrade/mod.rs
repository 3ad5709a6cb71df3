//! `kubestrap upgrade`: kubeadm's `upgrade plan`, `apply`, `node` and `diff`, and
//! reconfiguration (an apply to the cluster's own version with a changed configuration).
//!
//! An upgrade is a phase tree like init's, run by the same engine with a journal, so that a
//! failed or killed apply resumes where it stopped. Its phases:
//! - [`preflight`]: the version policy ([`policy`]) and the cluster's health;
//! - [`etcd_snapshot`]: a checked snapshot before etcd's manifest changes;
//! - [`static_pods`]: each component, backed up, replaced, waited for, rolled back on failure;
//! - init's own `upload-config`, `bootstrap-token` (its RBAC and cluster-info; no token is
//!   made) and addons, run with [`UpgradeContext`], which keeps what users changed in
//!   CoreDNS's Corefile and kube-proxy's configuration;
//! - [`kubelet_config`]: the node's kubelet configuration.
//!
//! [`plan`] says all of it before anything happens.

pub mod context;
pub mod diff;
pub mod etcd_snapshot;
pub mod kubelet_config;
pub mod plan;
pub mod policy;
pub mod preflight;
pub mod static_pods;

use std::collections::BTreeMap;

use crate::config::{KubeletClientAuthorization, Release};
use crate::domain::apiclient::ClusterAccess;
use crate::domain::kubelet::{KubeletContext, KubeletSpec};
use crate::domain::node::ThisNode;
use crate::phases::addons::{AddonContext, AddonSpec};
use crate::phases::bootstrap_token::{BootstrapTokenContext, BootstrapTokenSpec};
use crate::phases::upload_config::UploadConfigContext;

pub use context::{UpgradeContext, UpgradeError, UpgradeMode, UpgradeRequest};

impl KubeletContext for UpgradeContext {
    fn kubelet(&self) -> &KubeletSpec {
        self.target.kubelet()
    }
}

impl UploadConfigContext for UpgradeContext {
    fn cluster_access(&self) -> ClusterAccess {
        UploadConfigContext::cluster_access(&self.target)
    }

    fn release(&self) -> Release {
        Release::of(self.target_version())
    }

    /// The target's ClusterConfiguration, with a ≤ 1.21 cluster's ClusterStatus kept.
    fn kubeadm_config_data(&self) -> BTreeMap<String, String> {
        context::kubeadm_config_data(self)
    }

    fn this_node(&self) -> ThisNode {
        self.target.this_node()
    }
}

impl BootstrapTokenContext for UpgradeContext {
    /// No token: an upgrade re-applies the bootstrap RBAC of the target release and
    /// cluster-info, as kubeadm's post-upgrade tasks do.
    fn bootstrap_token_spec(&self) -> BootstrapTokenSpec {
        let mut spec = self.target.bootstrap_token_spec();
        spec.tokens.clear();
        spec.kubelet_client = KubeletClientAuthorization::of(self.target_version());
        spec
    }
}

impl AddonContext for UpgradeContext {
    fn addon_spec(&self) -> AddonSpec {
        AddonSpec {
            keep_corefile: true,
            keep_kube_proxy_config: !self.replaces_kube_proxy_config,
            ..self.target.addon_spec()
        }
    }
}
