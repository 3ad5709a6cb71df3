//! A test-bed stand-in for the kubelet's static-pod handling.
//!
//! There is no container runtime or kubelet on the machines kubestrap is tested on, but the
//! control plane's binaries run fine as plain processes. [`Runner`] watches a node root's
//! `etc/kubernetes/manifests`, runs each static pod's container `command` + `args` as a
//! child process (its own process group, output in one log file per pod) and stops them all
//! when it is stopped or dropped. It can start before the manifests exist: they are picked
//! up within a poll interval of appearing.

pub mod manifest;
pub mod runner;

pub use manifest::{ManifestError, StaticPod};
pub use runner::{ContainerState, Event, Runner, RunnerConfig, RunnerError};
