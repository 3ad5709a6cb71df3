//! The target Kubernetes version. kubeadm resolves labels such as `stable-1` over the
//! network; kubestrap works offline, so only explicit versions are accepted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Used when neither the file nor `--kubernetes-version` names a version (kubeadm would ask
/// dl.k8s.io for `stable-1`).
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.33.0";

/// A semantic version `v<major>.<minor>.<patch>[-pre][+build]`, always printed with the `v`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KubernetesVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Pre-release and build suffix as written (`-rc.1`, `+k3s1`), empty for releases.
    pub suffix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid Kubernetes version: expected a semantic version such as v1.33.0 or 1.33.0 (labels like stable-1 need network access and are not supported)"
)]
pub struct VersionError(pub String);

impl KubernetesVersion {
    pub fn default_version() -> Self {
        DEFAULT_KUBERNETES_VERSION
            .parse()
            .unwrap_or(KubernetesVersion {
                major: 1,
                minor: 33,
                patch: 0,
                suffix: String::new(),
            })
    }
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl FromStr for KubernetesVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_owned());
        let body = s.strip_prefix('v').unwrap_or(s);
        let split = body.find(['-', '+']).unwrap_or(body.len());
        let (core, suffix) = body.split_at(split);
        let suffix_ok = suffix
            .chars()
            .skip(1)
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
            && (suffix.is_empty() || suffix.len() > 1);
        let mut parts = core.split('.');
        let (Some(ma), Some(mi), Some(pa), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        match (number(ma), number(mi), number(pa)) {
            (Some(major), Some(minor), Some(patch)) if suffix_ok => Ok(Self {
                major,
                minor,
                patch,
                suffix: suffix.to_owned(),
            }),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v{}.{}.{}{}",
            self.major, self.minor, self.patch, self.suffix
        )
    }
}

impl Serialize for KubernetesVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KubernetesVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_v() {
        let v: KubernetesVersion = "1.31.2".parse().unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 31, 2));
        assert_eq!(v.to_string(), "v1.31.2");
        assert_eq!(
            "v1.30.0-rc.1"
                .parse::<KubernetesVersion>()
                .unwrap()
                .to_string(),
            "v1.30.0-rc.1"
        );
        assert_eq!(
            KubernetesVersion::default_version().to_string(),
            DEFAULT_KUBERNETES_VERSION
        );
        for bad in [
            "",
            "stable-1",
            "latest",
            "v1.31",
            "1.31.x",
            "v01.2.3",
            "1.2.3-",
            "ci/latest",
        ] {
            assert!(bad.parse::<KubernetesVersion>().is_err(), "{bad}");
        }
    }
}
