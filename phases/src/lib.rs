//! kubestrap's phases and the code they stand on, in layers whose imports only go down:
//!
//! - [`contract`]: what the engine and a phase agree on ([`Step`], [`Effects`],
//!   [`Fingerprint`], [`HostFs`], the journal's records). Knows no Kubernetes.
//! - [`config`]: the user's configuration, parsed once into typed values.
//! - [`domain`]: Kubernetes and kubeadm knowledge the phases share — well-known names and
//!   paths, PKI and kubeconfig models, the API and etcd clients, the certificate-upload format,
//!   bootstrap tokens, JWS, discovery.
//! - [`phases`]: one module per kubeadm phase or phase group, named as kubeadm names them. A
//!   phase never imports another phase.
//! - [`context`]: thin adapters that build each phase's spec from a workflow's configuration.
//! - [`doctor`]: `kubestrap doctor`, which reads a node's files and its cluster and names the
//!   broken link of the bootstrap and certificate chain.
//! - [`upgrade`]: `kubestrap upgrade` (plan, apply, node, diff) and reconfiguration, in
//!   phases that stand on init's.
//!
//! The binary's engine runs [`Step`]s in kubeadm's order; this crate knows nothing of the
//! engine or how progress is shown. The tests in `layering.rs` keep the imports going down.

pub mod config;
pub mod context;
pub mod contract;
pub mod doctor;
pub mod domain;
pub mod phases;
pub mod upgrade;

#[cfg(test)]
mod layering;

pub use async_trait::async_trait;
pub use context::{InitContext, JoinContext};
pub use contract::diagnostics::Diagnostic;
pub use contract::effects::{Effects, Reporter};
pub use contract::fingerprint::Fingerprint;
pub use contract::host::{HostFs, Mode, NodeRoot};
pub use contract::step::{Applicability, PhaseError, Step};
