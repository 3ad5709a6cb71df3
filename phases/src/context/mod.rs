//! The typed contexts phases run with, built once from the effective configuration before the
//! first phase starts: [`InitContext`] and [`JoinContext`], and for a control-plane join the
//! context its control-plane phases run in ([`joining_control_plane`]).
//!
//! Each phase states what it needs as a trait over a spec of its own (`PkiContext`,
//! `PreflightContext`); the contexts implement those traits from specs that [`specs`] builds
//! from configuration alone. A phase therefore never reads raw configuration, and the
//! configuration layer never learns what a phase does with it. Address and port policy lives in
//! [`crate::domain::addressing`], not here.

mod init;
mod join;
pub mod joining_control_plane;
mod specs;

pub use init::InitContext;
pub use join::JoinContext;
pub use specs::{
    control_plane_pki_spec, control_plane_static_pod_spec, control_plane_wait_spec,
    init_kubelet_spec, init_pki_spec, init_static_pod_spec, join_kubelet_spec, process_proxy_env,
};

use crate::phases::preflight::IgnoreSetError;

/// A configuration that cannot become a context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("--ignore-preflight-errors / nodeRegistration.ignorePreflightErrors: {0}")]
    IgnoreList(#[from] IgnoreSetError),
    /// A discovery file on this node that discovery could not use: bad input, reported
    /// before the first phase changes anything.
    #[error("[discovery] {0}")]
    Discovery(#[from] crate::domain::discovery::DiscoveryError),
}

impl crate::contract::diagnostics::Diagnostic for ContextError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::IgnoreList(e) => e.hint(),
            Self::Discovery(e) => e.hint(),
        }
    }
}

/// This machine's hostname, lowercased as kubeadm compares it with the node name.
pub(crate) fn host_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().to_lowercase())
        .filter(|h| !h.is_empty())
}
