//! Kubernetes release versions: the control plane's target version (config) and the kubelet's
//! (preflight skew rules). One type, over the `semver` crate, so that parsing and ordering
//! (a pre-release sorts before its release) follow semantic-version rules exactly.

use serde_with::{DeserializeFromStr, SerializeDisplay};
use std::fmt;
use std::str::FromStr;

/// Used when neither the file nor `--kubernetes-version` names a version (kubeadm would ask
/// dl.k8s.io for `stable-1`; kubestrap works offline).
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.37.0";

/// A version `v<major>.<minor>.<patch>[-pre][+build]`, accepted with or without the `v` and
/// always printed with it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, SerializeDisplay, DeserializeFromStr,
)]
pub struct KubernetesVersion(semver::Version);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a valid Kubernetes version ({problem}): expected a semantic version such as v1.37.0 or 1.37.0 (labels like stable-1 need network access and are not supported)"
)]
pub struct VersionError {
    pub input: String,
    pub problem: String,
}

impl crate::contract::diagnostics::Diagnostic for VersionError {}

impl KubernetesVersion {
    /// The oldest kubelet accepted when the control-plane version is not known yet (a join,
    /// before discovery): three minors older than v1.20, the oldest control plane supported.
    pub const OLDEST_KUBELET: KubernetesVersion = KubernetesVersion::new(1, 17, 0);

    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self(semver::Version::new(major, minor, patch))
    }

    pub fn default_version() -> Self {
        DEFAULT_KUBERNETES_VERSION
            .parse()
            .unwrap_or(Self::new(1, 37, 0))
    }

    /// The version as apimachinery's `Version.String()` prints it: without the `v`
    /// (`1.37.0`), as kubeadm's `config print init-defaults` shows it from 1.22 on.
    pub fn without_v(&self) -> String {
        self.0.to_string()
    }

    pub fn major(&self) -> u64 {
        self.0.major
    }

    pub fn minor(&self) -> u64 {
        self.0.minor
    }

    pub fn patch(&self) -> u64 {
        self.0.patch
    }

    /// The oldest kubelet kubeadm supports next to a control plane of this version: the same
    /// major, three minors back, patch 0.
    pub fn oldest_supported_kubelet(&self) -> Self {
        Self::new(self.0.major, self.0.minor.saturating_sub(3), 0)
    }

    /// Parses the output of `kubelet --version` (`Kubernetes v1.30.2`); kubeadm's pattern
    /// allows nothing after the version but whitespace.
    pub fn from_kubelet_output(output: &str) -> Result<Self, VersionError> {
        let trimmed = output.trim();
        let err = |problem: &str| VersionError {
            input: trimmed.to_string(),
            problem: problem.to_string(),
        };
        let rest = trimmed
            .strip_prefix("Kubernetes v")
            .ok_or_else(|| err("not of the form \"Kubernetes vX.Y.Z\""))?;
        if rest.chars().any(char::is_whitespace) {
            return Err(err("unexpected text after the version"));
        }
        rest.parse().map_err(|e: VersionError| err(&e.problem))
    }
}

impl FromStr for KubernetesVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        semver::Version::parse(s.strip_prefix('v').unwrap_or(s))
            .map(Self)
            .map_err(|e| VersionError {
                input: s.to_string(),
                problem: e.to_string(),
            })
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubernetesVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_with_and_without_v_and_prints_with_it() {
        assert_eq!(v("v1.30.2"), KubernetesVersion::new(1, 30, 2));
        assert_eq!(v("1.30.2"), KubernetesVersion::new(1, 30, 2));
        assert_eq!(v("v1.30.0-rc.1").to_string(), "v1.30.0-rc.1");
        assert_eq!(v("v1.30.0-rc.1").without_v(), "1.30.0-rc.1");
        assert_eq!(
            v("1.30.0-rc.1").without_v().parse::<KubernetesVersion>(),
            Ok(v("v1.30.0-rc.1"))
        );
        assert_eq!(
            KubernetesVersion::default_version().to_string(),
            DEFAULT_KUBERNETES_VERSION
        );
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in [
            "",
            "stable-1",
            "v1.30",
            "1.30.x",
            "1.30.2.1",
            "01.2.3",
            "1.2.3-",
            "1.2.3-a..b",
        ] {
            let err = bad.parse::<KubernetesVersion>().unwrap_err().to_string();
            assert!(
                err.contains("expected a semantic version"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn prerelease_sorts_before_release() {
        assert!(v("1.17.0-alpha.1") < v("1.17.0"));
        assert!(v("1.17.0-alpha.2") < v("1.17.0-alpha.10"));
        assert!(v("1.16.9") < v("1.17.0-alpha.0"));
        assert!(v("1.30.2") > v("1.30.1"));
    }

    #[test]
    fn kubelet_output_and_skew() {
        assert_eq!(
            KubernetesVersion::from_kubelet_output("Kubernetes v1.30.2\n").unwrap(),
            KubernetesVersion::new(1, 30, 2)
        );
        assert!(KubernetesVersion::from_kubelet_output("kubelet version 1.30.2").is_err());
        assert!(KubernetesVersion::from_kubelet_output("Kubernetes v1.30.2 extra").is_err());
        assert_eq!(
            v("v1.30.4").oldest_supported_kubelet(),
            KubernetesVersion::new(1, 27, 0)
        );
        assert_eq!(
            v("v1.1.0").oldest_supported_kubelet(),
            KubernetesVersion::new(1, 0, 0)
        );
    }
}
