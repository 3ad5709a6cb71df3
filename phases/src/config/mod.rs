//! kubeadm's configuration files (`kubeadm.k8s.io/v1beta3` and `v1beta4`), read, defaulted and
//! validated once, at the edge, into the effective configuration every phase uses.
//!
//! CONTRACT STUB: the config work replaces the internals; the public names below are what the
//! engine, the CLI and the phases use.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The effective configuration of `kubestrap init`: kubeadm's InitConfiguration and
/// ClusterConfiguration after defaults, file and flags, plus the component configs kept for
/// later phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InitConfig {
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct JoinConfig {
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
}

/// `kubestrap init` flags as typed by the user; validated by [`load_init`] with the same
/// rules (and errors naming the flag) as the file's fields.
#[derive(Debug, Clone, Default)]
pub struct InitFlags {
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub apiserver_cert_extra_sans: Vec<String>,
    pub control_plane_endpoint: Option<String>,
    pub kubernetes_version: Option<String>,
    pub node_name: Option<String>,
    pub pod_network_cidr: Option<String>,
    pub service_cidr: Option<String>,
    pub service_dns_domain: Option<String>,
    pub cert_dir: Option<PathBuf>,
    pub token: Option<String>,
    pub token_ttl: Option<String>,
    pub upload_certs: bool,
    pub certificate_key: Option<String>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct JoinFlags {
    pub endpoint: Option<String>,
    pub token: Option<String>,
    pub discovery_token: Option<String>,
    pub tls_bootstrap_token: Option<String>,
    pub discovery_token_ca_cert_hashes: Vec<String>,
    pub discovery_token_unsafe_skip_ca_verification: bool,
    pub discovery_file: Option<String>,
    pub control_plane: bool,
    pub certificate_key: Option<String>,
    pub node_name: Option<String>,
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl InitConfig {
    /// Phases disabled by `skipPhases` and `--skip-phases` (kubeadm names, `group/name`).
    pub fn skip_phases(&self) -> &[String] {
        &self.skip_phases
    }

    /// Preflight check names to report as warnings instead of errors (`all` ignores all).
    pub fn ignore_preflight_errors(&self) -> &[String] {
        &self.ignore_preflight_errors
    }

    pub fn dry_run(&self) -> bool {
        false
    }
}

impl JoinConfig {
    pub fn skip_phases(&self) -> &[String] {
        &self.skip_phases
    }

    pub fn ignore_preflight_errors(&self) -> &[String] {
        &self.ignore_preflight_errors
    }

    pub fn dry_run(&self) -> bool {
        false
    }
}

pub fn load_init(_file: Option<&Path>, flags: &InitFlags) -> Result<InitConfig, ConfigError> {
    Ok(InitConfig {
        skip_phases: flags.skip_phases.clone(),
        ignore_preflight_errors: flags.ignore_preflight_errors.clone(),
    })
}

pub fn load_join(_file: Option<&Path>, flags: &JoinFlags) -> Result<JoinConfig, ConfigError> {
    Ok(JoinConfig {
        skip_phases: flags.skip_phases.clone(),
        ignore_preflight_errors: flags.ignore_preflight_errors.clone(),
    })
}

pub fn init_defaults_yaml() -> String {
    String::new()
}

pub fn join_defaults_yaml() -> String {
    String::new()
}
