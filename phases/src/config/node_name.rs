//! The Node object's name: it becomes the kubelet's identity (`system:node:<name>`), a SAN of
//! the apiserver and etcd certificates and the etcd member name, so it must be a DNS-1123
//! subdomain, exactly as the API server demands of `metadata.name`.

use serde_with::{DeserializeFromStr, SerializeDisplay};
use std::fmt;
use std::str::FromStr;

/// Why a name is not a DNS-1123 subdomain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid name: expected a lowercase RFC 1123 subdomain (at most 253 characters of [a-z0-9-.], each dot-separated label starting and ending with [a-z0-9]), e.g. node-1.example.com"
)]
pub struct NodeNameError(pub String);

impl crate::contract::diagnostics::Diagnostic for NodeNameError {}

/// True for an RFC 1123 subdomain as Kubernetes defines it (`IsDNS1123Subdomain`).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, SerializeDisplay, DeserializeFromStr,
)]
pub struct NodeName(String);

impl NodeName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The default name: the host name, lowercased, as kubeadm does.
    pub fn from_hostname(hostname: &str) -> Result<Self, NodeNameError> {
        hostname.trim().to_ascii_lowercase().parse()
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for NodeName {
    type Err = NodeNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_dns1123_subdomain(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NodeNameError(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        for ok in ["node", "node-1", "a.b.c", "ec2-10-100-0-1", "1node"] {
            assert!(ok.parse::<NodeName>().is_ok(), "{ok}");
        }
        let too_long = "a".repeat(254);
        let long_label = "a".repeat(64);
        for bad in [
            "",
            "Node",
            "-node",
            "node-",
            "no_de",
            "a..b",
            ".a",
            too_long.as_str(),
            long_label.as_str(),
        ] {
            assert!(bad.parse::<NodeName>().is_err(), "{bad}");
        }
        assert_eq!(
            NodeName::from_hostname("MyHost\n").unwrap().as_str(),
            "myhost"
        );
    }
}
