//! What the engine and a phase agree on: a phase is a [`step::Step`] that changes the host and
//! the cluster only through [`effects::Effects`], says what its outcome depends on with a
//! [`fingerprint::Fingerprint`], and reads and writes files through [`host::HostFs`]. The
//! journal's records ([`journal`]) are here because the engine writes them and `reset` reads
//! them. How any error speaks to the user is [`diagnostics::Diagnostic`]. Nothing in this
//! layer knows Kubernetes.

pub mod diagnostics;
pub mod effects;
pub mod fingerprint;
pub mod host;
pub mod journal;
pub mod step;
pub mod tree;
