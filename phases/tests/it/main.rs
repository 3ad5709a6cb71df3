//! The library's integration tests, one test binary for all of them (each binary links kube,
//! rustls and aws-lc: one link instead of one per area). One module per area; the helpers
//! they share are the kubestrap-test-support crate, and the sample configurations are in
//! phases/tests/data.
//!
//! Two tiers (scripts/test): the modules listed in FAST_TESTS there need no test-bed binary
//! and run in `scripts/test --fast`; the `*_real` modules and pki_etcd start etcd and the
//! kube-* binaries and run only in the full suite, as does any module not listed. Each
//! module that binds addresses names its own 127.0.0.x at its top: the modules' tests run in
//! parallel in this one process.

mod addons;
mod bootstrap_token_dry_run;
mod bootstrap_token_real;
mod cluster_objects_dry_run;
mod cluster_objects_real;
mod config_defaults;
mod config_docs;
mod config_errors;
mod controlplane_join_real;
mod discovery;
mod doctor_cluster;
mod doctor_node;
mod hostile_debug;
mod hostile_jws;
mod kubeadm_config;
mod kubelet_finalize;
mod kubelet_start;
mod pki;
mod pki_commands;
mod pki_etcd;
mod pki_external;
mod pki_options;
mod preflight;
mod static_pods;
mod static_pods_real;
