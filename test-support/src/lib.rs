//! Helpers shared by kubestrap's integration tests (tests/it, phases/tests/it): one crate
//! instead of files included across crates with `#[path]`.
//!
//! Needs no test bed:
//! - [`cli`]: the `kubestrap` binary under test, file trees;
//! - [`ndjson`]: the events of `-o json` and a run's result;
//! - [`kubeadm_config`]: kubeadm configuration files, built instead of written inline;
//! - [`fake_apiserver`]: a TLS server that answers what a test crafts and records requests;
//! - [`pki`]: a PKI context, its phases run in order, and openssl/kubectl as judges;
//! - [`static_pods`]: an init node from a real configuration, init's local steps.
//!
//! Need the test bed (scripts/testbed/install.sh; a missing binary fails the test):
//! - [`control_plane`]: etcd, kube-apiserver and kube-controller-manager started from the
//!   rendered manifests' commands, for the library's API tests;
//! - [`bed`]: the binary's bed: the kubelet stand-in runs the static pods `kubestrap init`
//!   writes, kubectl judges the cluster;
//! - [`real_node`]: real nodes: containerd and the real kubelet in a network namespace each.

pub mod bed;
pub mod cli;
pub mod control_plane;
pub mod fake_apiserver;
pub mod kubeadm_config;
pub mod ndjson;
pub mod pki;
pub mod real_node;
pub mod static_pods;
