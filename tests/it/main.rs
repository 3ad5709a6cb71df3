//! The binary's integration tests, one test binary for all of them (each binary links kube,
//! rustls and aws-lc: one link instead of one per area). One module per area; the helpers
//! they share are the kubestrap-test-support crate.
//!
//! Two tiers (scripts/test): the modules listed in FAST_TESTS there need no test-bed binary
//! and run in `scripts/test --fast`; every module runs in the full suite. A module not
//! listed runs only in the full suite. Each module that binds addresses names its own
//! 127.0.0.x at its top: the modules' tests run in parallel in this one process.

mod api_faults;
mod bad_input;
mod certs_commands;
mod cli;
mod crash;
mod dir_modes;
mod doctor;
mod dry_run_staging;
mod init;
mod init_dry_run_plan;
mod join;
mod join_control_plane;
mod kubeadm_interop;
mod pki_cli;
mod real_nodes;
mod reset;
mod secrets;
mod show_join_command;
mod testbed;
mod token;
mod token_config;
mod token_fresh_cluster;
mod upgrade;
mod version;
