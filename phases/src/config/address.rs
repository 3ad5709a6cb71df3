//! Network values of the configuration: subnets, endpoints and certificate SANs, each parsed
//! once into a type that cannot hold a malformed value.

use serde_with::{DeserializeFromStr, SerializeDisplay};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::config::node_name::is_dns1123_subdomain;

/// kubeadm's limit on the service subnet: at most 20 host bits, so the apiserver's
/// allocator bitmap stays small (`MaximumBitsForServiceSubnet`).
const MAX_SERVICE_SUBNET_BITS: u8 = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error(
        "{0:?} is not a valid CIDR: expected an address/prefix such as 10.244.0.0/16 or fd00::/48"
    )]
    Cidr(String),
    #[error(
        "{0:?} is not a valid subnet list: expected one CIDR, or two of different IP families separated by a comma (dual-stack), e.g. 10.244.0.0/16,fd00::/48"
    )]
    SubnetList(String),
    #[error(
        "{0:?} is too large for a service subnet: expected a prefix of at least /{1} ({MAX_SERVICE_SUBNET_BITS} host bits at most)"
    )]
    ServiceSubnetTooLarge(String, u8),
    #[error("{0:?} is not a valid IP address: expected e.g. 192.168.0.10 or fd00::10")]
    Ip(String),
    #[error(
        "{0:?} is not a valid host[:port]: expected an IP address or DNS name with an optional port 1-65535, e.g. lb.example.com:6443, 10.0.0.1 or [fd00::1]:6443"
    )]
    HostPort(String),
    #[error(
        "{0:?} is not a valid host:port: expected an IP address or DNS name and a port 1-65535, e.g. 10.0.0.1:6443"
    )]
    HostPortRequired(String),
    #[error(
        "{0:?} is not a valid certificate SAN: expected an IP address or a lowercase DNS name (optionally *.wildcard), e.g. 10.0.0.1 or api.example.com"
    )]
    San(String),
}

impl crate::contract::diagnostics::Diagnostic for AddressError {}

/// One or two (dual-stack, one per family) subnets, as written in `podSubnet` or
/// `serviceSubnet` (comma-separated).
#[derive(Debug, Clone, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr)]
pub struct SubnetList(Vec<IpNet>);

impl SubnetList {
    pub fn subnets(&self) -> &[IpNet] {
        &self.0
    }

    /// The first subnet (the primary family).
    pub fn primary(&self) -> IpNet {
        self.0[0]
    }

    /// kubeadm's service subnet size limit, checked separately because pod subnets have none.
    pub fn check_service_size(&self) -> Result<(), AddressError> {
        for net in &self.0 {
            let min_prefix = net.max_prefix_len() - MAX_SERVICE_SUBNET_BITS;
            if net.prefix_len() < min_prefix {
                return Err(AddressError::ServiceSubnetTooLarge(
                    net.to_string(),
                    min_prefix,
                ));
            }
        }
        Ok(())
    }
}

impl FromStr for SubnetList {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let nets = s
            .split(',')
            .map(|part| {
                part.trim()
                    .parse::<IpNet>()
                    .map_err(|_| AddressError::Cidr(part.trim().to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match nets.as_slice() {
            [_] => Ok(Self(nets)),
            [a, b] if a.addr().is_ipv4() != b.addr().is_ipv4() => Ok(Self(nets)),
            _ => Err(AddressError::SubnetList(s.to_owned())),
        }
    }
}

impl fmt::Display for SubnetList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|n| n.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// A host: an IP address or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    Dns(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Dns(name) => f.write_str(name),
        }
    }
}

fn parse_host(s: &str) -> Option<Host> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(Host::Ip(ip));
    }
    is_dns1123_subdomain(s).then(|| Host::Dns(s.to_owned()))
}

fn parse_port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

/// Splits `host[:port]`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(s: &str) -> Option<(Host, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let ip = host.parse::<IpAddr>().ok().filter(IpAddr::is_ipv6)?;
        return match after {
            "" => Some((Host::Ip(ip), None)),
            _ => Some((Host::Ip(ip), Some(parse_port(after.strip_prefix(':')?)?))),
        };
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((Host::Ip(ip), None));
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Some((parse_host(host)?, Some(parse_port(port)?))),
        None => Some((parse_host(s)?, None)),
    }
}

/// `controlPlaneEndpoint`: the stable address of the control plane, with an optional port
/// (the bind port when absent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr)]
pub struct HostPort {
    pub host: Host,
    pub port: Option<u16>,
}

impl HostPort {
    /// The port, or `default` (the apiserver bind port) when none was written.
    pub fn port_or(&self, default: u16) -> u16 {
        self.port.unwrap_or(default)
    }
}

impl FromStr for HostPort {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        split_host_port(s)
            .map(|(host, port)| Self { host, port })
            .ok_or_else(|| AddressError::HostPort(s.to_owned()))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (Host::Ip(IpAddr::V6(ip)), Some(p)) => write!(f, "[{ip}]:{p}"),
            (host, Some(p)) => write!(f, "{host}:{p}"),
            (host, None) => write!(f, "{host}"),
        }
    }
}

/// `host:port` where the port is mandatory (the discovery endpoint of `join`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr)]
pub struct Endpoint {
    pub host: Host,
    pub port: u16,
}

impl FromStr for Endpoint {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match split_host_port(s) {
            Some((host, Some(port))) => Ok(Self { host, port }),
            _ => Err(AddressError::HostPortRequired(s.to_owned())),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            host => write!(f, "{host}:{}", self.port),
        }
    }
}

/// An extra Subject Alternative Name for a serving certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr)]
pub enum SubjectAltName {
    Ip(IpAddr),
    /// A DNS name, possibly a `*.` wildcard.
    Dns(String),
}

impl FromStr for SubjectAltName {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        if is_dns1123_subdomain(s.strip_prefix("*.").unwrap_or(s)) {
            return Ok(Self::Dns(s.to_owned()));
        }
        Err(AddressError::San(s.to_owned()))
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Dns(name) => f.write_str(name),
        }
    }
}

/// Parses an IP address with the configuration's error wording.
pub(super) fn parse_ip(s: &str) -> Result<IpAddr, AddressError> {
    s.trim().parse().map_err(|_| AddressError::Ip(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let l: SubnetList = "10.244.0.0/16,fd00::/48".parse().unwrap();
        assert_eq!(l.subnets().len(), 2);
        assert_eq!(l.to_string(), "10.244.0.0/16,fd00::/48");
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/8,10.1.0.0/16",
            "a,b,c",
            "",
            "10.0.0.0/8,fd00::/48,fd01::/48",
        ] {
            assert!(bad.parse::<SubnetList>().is_err(), "{bad}");
        }
        assert!(
            "10.96.0.0/12"
                .parse::<SubnetList>()
                .unwrap()
                .check_service_size()
                .is_ok()
        );
        assert!(
            "10.0.0.0/8"
                .parse::<SubnetList>()
                .unwrap()
                .check_service_size()
                .is_err()
        );
        assert!(
            "fd00::/108"
                .parse::<SubnetList>()
                .unwrap()
                .check_service_size()
                .is_ok()
        );
        assert!(
            "fd00::/64"
                .parse::<SubnetList>()
                .unwrap()
                .check_service_size()
                .is_err()
        );
    }

    #[test]
    fn host_ports() {
        let hp: HostPort = "lb.example.com:6443".parse().unwrap();
        assert_eq!(hp.host, Host::Dns("lb.example.com".into()));
        assert_eq!(hp.port, Some(6443));
        assert_eq!("10.0.0.1".parse::<HostPort>().unwrap().port_or(6443), 6443);
        assert_eq!(
            "[fd00::1]:443".parse::<HostPort>().unwrap().to_string(),
            "[fd00::1]:443"
        );
        assert_eq!("fd00::1".parse::<HostPort>().unwrap().port, None);
        for bad in [
            "",
            "lb:0",
            "lb:99999",
            "LB.example.com",
            "a b:1",
            "[10.0.0.1]:5",
            "lb:",
        ] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
        assert!("10.0.0.1".parse::<Endpoint>().is_err());
        assert_eq!(
            "kube-apiserver:6443".parse::<Endpoint>().unwrap().port,
            6443
        );
    }

    #[test]
    fn sans() {
        assert!(matches!(
            "10.1.1.1".parse::<SubjectAltName>(),
            Ok(SubjectAltName::Ip(_))
        ));
        assert!(matches!(
            "*.example.com".parse::<SubjectAltName>(),
            Ok(SubjectAltName::Dns(_))
        ));
        assert!("bad_name".parse::<SubjectAltName>().is_err());
        assert!("1.2.3.L,x".parse::<SubjectAltName>().is_err());
    }
}
