//! kubeadm configuration files (v1beta4) as the tests write them for `--config`: an
//! InitConfiguration, ClusterConfiguration or JoinConfiguration document built field by field,
//! an init and a cluster document in one file with [`Init::with`]:
//! `init().advertise("127.0.0.44").node_name("node-1").with(cluster().kubernetes_version(
//! "v1.20.2")).write(path)`.
//!
//! Only what a test sets is written, in a fixed order, so kubeadm's defaults fill the rest as
//! they would for a user's file. What a builder has no method for is added as YAML text
//! (`extra`). Documents that test how the parser takes exact bytes (bad input, hostile YAML,
//! the config tests' own inputs) are written out inline in their tests.

use std::fmt::{self, Display, Write as _};
use std::path::{Path, PathBuf};

/// The API version of every document built here.
pub const API_VERSION: &str = "kubeadm.k8s.io/v1beta4";

/// An InitConfiguration document.
pub fn init() -> Init {
    Init::default()
}

/// A ClusterConfiguration document.
pub fn cluster() -> Cluster {
    Cluster::default()
}

/// A JoinConfiguration document.
pub fn join() -> Join {
    Join::default()
}

/// An InitConfiguration: bootstrap tokens, certificate key, local API endpoint, node
/// registration and timeouts.
#[derive(Debug, Clone, Default)]
pub struct Init {
    tokens: Vec<(String, Option<String>)>,
    certificate_key: Option<String>,
    advertise: Option<String>,
    bind_port: Option<u16>,
    node_name: Option<String>,
    node_extra: String,
    timeouts: Vec<(String, String)>,
    extra: String,
}

impl Init {
    /// A bootstrap token (`bootstrapTokens: [{token}]`), its other fields kubeadm's defaults.
    pub fn token(mut self, token: &str) -> Self {
        self.tokens.push((token.to_string(), None));
        self
    }

    /// A bootstrap token with a description.
    pub fn token_described(mut self, token: &str, description: &str) -> Self {
        self.tokens
            .push((token.to_string(), Some(description.to_string())));
        self
    }

    /// `certificateKey`.
    pub fn certificate_key(mut self, key: &str) -> Self {
        self.certificate_key = Some(key.to_string());
        self
    }

    /// `localAPIEndpoint.advertiseAddress`.
    pub fn advertise(mut self, address: &str) -> Self {
        self.advertise = Some(address.to_string());
        self
    }

    /// `localAPIEndpoint.bindPort`.
    pub fn bind_port(mut self, port: u16) -> Self {
        self.bind_port = Some(port);
        self
    }

    /// `nodeRegistration.name`.
    pub fn node_name(mut self, name: &str) -> Self {
        self.node_name = Some(name.to_string());
        self
    }

    /// YAML lines added to `nodeRegistration`, indented by two spaces by the caller
    /// (`"  kubeletExtraArgs:\n  - name: …\n"`).
    pub fn node_extra(mut self, yaml: &str) -> Self {
        self.node_extra.push_str(yaml);
        self
    }

    /// `timeouts.<name>` (`controlPlaneComponentHealthCheck`, `kubernetesAPICall`, …), as a
    /// Go duration (`"1s"`, `"4m0s"`).
    pub fn timeout(mut self, name: &str, duration: &str) -> Self {
        self.timeouts.push((name.to_string(), duration.to_string()));
        self
    }

    /// Top-level YAML added at the end of the document.
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self
    }

    /// This document followed by a ClusterConfiguration.
    pub fn with(self, cluster: Cluster) -> Documents {
        Documents(vec![self.to_string(), cluster.to_string()])
    }
}

impl Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        header(f, "InitConfiguration")?;
        if !self.tokens.is_empty() {
            f.write_str("bootstrapTokens:\n")?;
            for (token, description) in &self.tokens {
                writeln!(f, "- token: {token}")?;
                if let Some(d) = description {
                    writeln!(f, "  description: {d}")?;
                }
            }
        }
        if let Some(k) = &self.certificate_key {
            writeln!(f, "certificateKey: {k}")?;
        }
        if self.advertise.is_some() || self.bind_port.is_some() {
            f.write_str("localAPIEndpoint:\n")?;
            if let Some(a) = &self.advertise {
                writeln!(f, "  advertiseAddress: {a}")?;
            }
            if let Some(p) = self.bind_port {
                writeln!(f, "  bindPort: {p}")?;
            }
        }
        if self.node_name.is_some() || !self.node_extra.is_empty() {
            f.write_str("nodeRegistration:\n")?;
            if let Some(n) = &self.node_name {
                writeln!(f, "  name: {n}")?;
            }
            f.write_str(&self.node_extra)?;
        }
        timeouts(f, &self.timeouts)?;
        f.write_str(&self.extra)
    }
}

/// A ClusterConfiguration: version, control-plane endpoint, API server extra args.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    kubernetes_version: Option<String>,
    control_plane_endpoint: Option<String>,
    api_server_extra_args: Vec<(String, String)>,
    extra: String,
}

impl Cluster {
    /// `kubernetesVersion`.
    pub fn kubernetes_version(mut self, version: &str) -> Self {
        self.kubernetes_version = Some(version.to_string());
        self
    }

    /// `controlPlaneEndpoint` (`host` or `host:port`).
    pub fn control_plane_endpoint(mut self, endpoint: &str) -> Self {
        self.control_plane_endpoint = Some(endpoint.to_string());
        self
    }

    /// An `apiServer.extraArgs` entry.
    pub fn api_server_arg(mut self, name: &str, value: &str) -> Self {
        self.api_server_extra_args
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Top-level YAML added at the end of the document; it may start further documents
    /// (`"---\napiVersion: kubelet.config.k8s.io/v1beta1\n…"`).
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self
    }
}

impl Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        header(f, "ClusterConfiguration")?;
        if let Some(v) = &self.kubernetes_version {
            writeln!(f, "kubernetesVersion: {v}")?;
        }
        if let Some(e) = &self.control_plane_endpoint {
            writeln!(f, "controlPlaneEndpoint: {e}")?;
        }
        if !self.api_server_extra_args.is_empty() {
            f.write_str("apiServer:\n  extraArgs:\n")?;
            for (name, value) in &self.api_server_extra_args {
                writeln!(f, "  - name: {name}\n    value: {value}")?;
            }
        }
        f.write_str(&self.extra)
    }
}

/// A JoinConfiguration: timeouts, and whatever else as YAML text.
#[derive(Debug, Clone, Default)]
pub struct Join {
    timeouts: Vec<(String, String)>,
    extra: String,
}

impl Join {
    /// `timeouts.<name>` (`discovery`, `tlsBootstrap`, …), as a Go duration.
    pub fn timeout(mut self, name: &str, duration: &str) -> Self {
        self.timeouts.push((name.to_string(), duration.to_string()));
        self
    }

    /// Top-level YAML added at the end of the document.
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self
    }
}

impl Display for Join {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        header(f, "JoinConfiguration")?;
        timeouts(f, &self.timeouts)?;
        f.write_str(&self.extra)
    }
}

/// Several documents in one file, separated by `---`.
#[derive(Debug, Clone)]
pub struct Documents(Vec<String>);

impl Display for Documents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("---\n"))
    }
}

macro_rules! write_file {
    ($($t:ty),*) => {$(
        impl $t {
            /// Writes the YAML to `path`; returns the path.
            pub fn write(&self, path: impl AsRef<Path>) -> PathBuf {
                let path = path.as_ref();
                std::fs::write(path, self.to_string())
                    .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                path.to_path_buf()
            }
        }
    )*};
}
write_file!(Init, Cluster, Join, Documents);

fn header(f: &mut fmt::Formatter<'_>, kind: &str) -> fmt::Result {
    writeln!(f, "apiVersion: {API_VERSION}\nkind: {kind}")
}

fn timeouts(f: &mut fmt::Formatter<'_>, timeouts: &[(String, String)]) -> fmt::Result {
    if timeouts.is_empty() {
        return Ok(());
    }
    let mut s = String::from("timeouts:\n");
    for (name, duration) in timeouts {
        let _ = writeln!(s, "  {name}: {duration}");
    }
    f.write_str(&s)
}
