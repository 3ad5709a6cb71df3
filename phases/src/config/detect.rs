//! Values kubeadm takes from the host when the user gives none: the node name (the host
//! name) and the advertise address (the IPv4 address of the default-route interface).
//! Kept apart from parsing so that loading a config with explicit values is deterministic.

use std::net::{IpAddr, Ipv4Addr};

use super::ConfigError;
use crate::config::node_name::NodeName;

/// The host name, lowercased, as the default node name.
pub fn node_name() -> Result<NodeName, ConfigError> {
    let detect_err = |reason: String| ConfigError::Detect {
        what: "the node name".to_owned(),
        reason,
        hint: "--node-name or nodeRegistration.name".to_owned(),
    };
    let host = nix::unistd::gethostname().map_err(|e| detect_err(format!("gethostname: {e}")))?;
    let host = host.to_string_lossy();
    NodeName::from_hostname(&host).map_err(|e| detect_err(e.to_string()))
}

/// The interface of the IPv4 default route with the lowest metric, from `/proc/net/route`
/// content (columns: Iface Destination Gateway Flags RefCnt Use Metric Mask …).
pub fn default_route_interface(proc_net_route: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    proc_net_route
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, flags, metric, mask) = (
                cols.first()?,
                cols.get(1)?,
                cols.get(3)?,
                cols.get(6)?,
                cols.get(7)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            let metric: u32 = metric.parse().ok()?;
            (*dest == "00000000" && *mask == "00000000" && flags & RTF_UP != 0)
                .then(|| (metric, (*iface).to_owned()))
        })
        .min()
        .map(|(_, iface)| iface)
}

/// Picks the address kubeadm would: a global unicast IPv4 address of `iface`.
pub fn pick_interface_address(iface: &str, addrs: &[(String, Ipv4Addr)]) -> Option<Ipv4Addr> {
    addrs
        .iter()
        .filter(|(name, ip)| {
            name == iface && !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified()
        })
        .map(|(_, ip)| *ip)
        .next()
}

/// The advertise address of this host (kubeadm's `ChooseAPIServerBindAddress`).
pub fn advertise_address() -> Result<IpAddr, ConfigError> {
    let detect_err = |reason: String| ConfigError::Detect {
        what: "the API server advertise address".to_owned(),
        reason,
        hint: "--apiserver-advertise-address or localAPIEndpoint.advertiseAddress".to_owned(),
    };
    let routes = std::fs::read_to_string("/proc/net/route")
        .map_err(|e| detect_err(format!("cannot read /proc/net/route: {e}")))?;
    let iface = default_route_interface(&routes)
        .ok_or_else(|| detect_err("no IPv4 default route".to_owned()))?;
    let addrs: Vec<(String, Ipv4Addr)> = nix::ifaddrs::getifaddrs()
        .map_err(|e| detect_err(format!("getifaddrs: {e}")))?
        .filter_map(|a| {
            let ip = a.address?.as_sockaddr_in()?.ip();
            Some((a.interface_name, ip))
        })
        .collect();
    pick_interface_address(&iface, &addrs)
        .map(IpAddr::V4)
        .ok_or_else(|| {
            detect_err(format!(
                "the default-route interface {iface} has no global IPv4 address"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n\
        eth0\t00000000\t010011AC\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
        eth0\t000011AC\t00000000\t0001\t0\t0\t100\t0000FFFF\t0\t0\t0\n";

    #[test]
    fn picks_lowest_metric_default_route() {
        assert_eq!(default_route_interface(ROUTES).as_deref(), Some("eth0"));
        assert_eq!(default_route_interface("Iface\tDestination\n"), None);
    }

    #[test]
    fn picks_global_ipv4_of_interface() {
        let addrs = vec![
            ("lo".to_owned(), Ipv4Addr::LOCALHOST),
            ("eth0".to_owned(), Ipv4Addr::new(169, 254, 0, 5)),
            ("eth0".to_owned(), Ipv4Addr::new(172, 17, 0, 2)),
        ];
        assert_eq!(
            pick_interface_address("eth0", &addrs),
            Some(Ipv4Addr::new(172, 17, 0, 2))
        );
        assert_eq!(pick_interface_address("eth9", &addrs), None);
    }

    #[test]
    fn detects_something_or_explains() {
        match advertise_address() {
            Ok(ip) => assert!(!ip.is_loopback()),
            Err(e) => assert!(e.to_string().contains("--apiserver-advertise-address")),
        }
        assert!(node_name().is_ok());
    }
}
