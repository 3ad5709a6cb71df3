//! Kubernetes release versions, as far as the kubelet skew rules need them.
//!
//! kubeadm compares versions with semantic-version rules (a pre-release sorts before its
//! release), and the kubelet prints its own as `Kubernetes v1.30.2`; both are handled here so
//! that the check itself only compares numbers.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A Kubernetes version such as `v1.30.2` or `1.31.0-rc.1+abc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Pre-release identifiers without the leading `-` (`rc.1`); empty for a release.
    pre: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid Kubernetes version {input:?}: {problem}; expected MAJOR.MINOR.PATCH such as v1.30.2"
)]
pub struct VersionError {
    pub input: String,
    pub problem: &'static str,
}

impl KubeVersion {
    /// The oldest kubelet kubestrap accepts when the control-plane version is not known yet
    /// (a join, before discovery): kubeadm allows a kubelet three minors older than itself,
    /// and v1.20 is the oldest control plane kubestrap deploys.
    pub const OLDEST_KUBELET: KubeVersion = KubeVersion::new(1, 17, 0);

    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
            pre: String::new(),
        }
    }

    /// The oldest kubelet kubeadm supports next to a control plane of this version: the
    /// same major, three minors back, patch 0.
    pub fn oldest_supported_kubelet(&self) -> KubeVersion {
        KubeVersion::new(self.major, self.minor.saturating_sub(3), 0)
    }

    /// Parses the output of `kubelet --version` (`Kubernetes v1.30.2`).
    pub fn from_kubelet_output(output: &str) -> Result<Self, VersionError> {
        let trimmed = output.trim();
        let rest = trimmed.strip_prefix("Kubernetes v").ok_or(VersionError {
            input: trimmed.to_string(),
            problem: "not of the form \"Kubernetes vX.Y.Z\"",
        })?;
        // kubeadm's pattern allows nothing after the version but whitespace.
        if rest.chars().any(char::is_whitespace) {
            return Err(VersionError {
                input: trimmed.to_string(),
                problem: "unexpected text after the version",
            });
        }
        rest.parse().map_err(|e: VersionError| VersionError {
            input: trimmed.to_string(),
            problem: e.problem,
        })
    }
}

impl FromStr for KubeVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |problem| VersionError {
            input: s.to_string(),
            problem,
        };
        let v = s.strip_prefix('v').unwrap_or(s);
        let v = v.split_once('+').map_or(v, |(core, _build)| core);
        let (core, pre) = match v.split_once('-') {
            Some((_, "")) => return Err(err("empty pre-release")),
            Some((core, pre)) => (core, pre),
            None => (v, ""),
        };
        if !pre.is_empty()
            && !pre.split('.').all(|id| {
                !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(err("invalid pre-release"));
        }
        let mut parts = core.split('.');
        let mut number = || -> Result<u64, VersionError> {
            let p = parts.next().ok_or_else(|| err("missing component"))?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("components must be decimal numbers"));
            }
            if p.len() > 1 && p.starts_with('0') {
                return Err(err("leading zero in a component"));
            }
            p.parse().map_err(|_| err("component out of range"))
        };
        let (major, minor, patch) = (number()?, number()?, number()?);
        if parts.next().is_some() {
            return Err(err("too many components"));
        }
        Ok(Self {
            major,
            minor,
            patch,
            pre: pre.to_string(),
        })
    }
}

impl Ord for KubeVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_pre(&self.pre, &other.pre))
    }
}

impl PartialOrd for KubeVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Semantic-version precedence of pre-releases: none sorts after any; identifiers compare
/// numerically when both are numbers, numbers before words, else as text.
fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_with_and_without_v_prefix() {
        assert_eq!(v("v1.30.2"), KubeVersion::new(1, 30, 2));
        assert_eq!(v("1.30.2"), KubeVersion::new(1, 30, 2));
        assert_eq!(v("v1.31.0-rc.1+abc").to_string(), "v1.31.0-rc.1");
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in [
            "",
            "v1.30",
            "1.30.x",
            "1.30.2.1",
            "01.2.3",
            "1.2.3-",
            "1.2.3-a..b",
        ] {
            assert!(
                bad.parse::<KubeVersion>().is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn prerelease_sorts_before_release() {
        assert!(v("1.17.0-alpha.1") < v("1.17.0"));
        assert!(v("1.17.0-alpha.2") < v("1.17.0-alpha.10"));
        assert!(v("1.17.0-alpha.1") < v("1.17.0-beta.0"));
        assert!(v("1.16.9") < v("1.17.0-alpha.0"));
        assert!(v("1.30.2") > v("1.30.1"));
    }

    #[test]
    fn kubelet_output() {
        assert_eq!(
            KubeVersion::from_kubelet_output("Kubernetes v1.30.2\n").unwrap(),
            KubeVersion::new(1, 30, 2)
        );
        assert!(KubeVersion::from_kubelet_output("kubelet version 1.30.2").is_err());
        assert!(KubeVersion::from_kubelet_output("Kubernetes v1.30.2 extra").is_err());
    }

    #[test]
    fn oldest_supported_kubelet_is_three_minors_back() {
        assert_eq!(
            v("v1.30.4").oldest_supported_kubelet(),
            KubeVersion::new(1, 27, 0)
        );
        assert_eq!(
            v("v1.1.0").oldest_supported_kubelet(),
            KubeVersion::new(1, 0, 0)
        );
    }
}
