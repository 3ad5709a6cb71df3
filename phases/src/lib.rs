//! kubestrap's phases — one module per phase — and the domain code they share.
//!
//! The binary's engine runs [`step::Step`]s in kubeadm's order; this crate knows nothing of
//! the engine or how progress is shown. It holds the journal's format ([`journal`]), which
//! the engine writes and `reset` reads.

pub mod addons;
pub mod apiclient;
pub mod bootstrap_client;
pub mod bootstrap_token;
pub mod certs;
pub mod config;
pub mod context;
pub mod control_plane;
pub mod control_plane_join;
pub mod discovery;
pub mod download_certs;
pub mod effects;
pub mod etcd;
pub mod fingerprint;
pub mod host;
pub mod journal;
pub mod jws;
pub mod kubeadm_output;
pub mod kubeconfig;
pub mod kubelet;
pub mod kubelet_join;
pub mod kubernetes_version;
pub mod mark_control_plane;
pub mod node_name;
pub mod pki;
pub mod preflight;
pub mod reset;
pub mod show_join_command;
pub mod static_pod;
pub mod step;
pub mod tls_bootstrap;
pub mod token;
pub mod upload_certs;
pub mod upload_config;
pub mod wait_control_plane;

pub use async_trait::async_trait;
pub use context::{InitContext, JoinContext};
pub use effects::{Effects, Reporter};
pub use fingerprint::Fingerprint;
pub use host::{HostFs, Mode, NodeRoot};
pub use step::{Applicability, PhaseError, Step};
