//! Which addresses a node's components use, as kubeadm derives them: the service IPs taken
//! from the service subnet, and where a component is checked or probed. On a real node (root
//! `/`) that is kubeadm's choice; a simulated node under another `--root` shares this
//! machine's loopback with other nodes, so it uses its own advertise address instead.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The `n`th address of a subnet (network address + n).
fn nth_address(net: ipnet::IpNet, n: u32) -> IpAddr {
    match net.network() {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4).wrapping_add(n))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6).wrapping_add(u128::from(n)))),
    }
}

/// The API server's service IP: the subnet's first host address (10.96.0.1 for
/// 10.96.0.0/12), as kubeadm computes it.
pub fn api_server_service_ip(service_subnet: ipnet::IpNet) -> IpAddr {
    nth_address(service_subnet, 1)
}

/// The cluster DNS service IP: the subnet's tenth address (10.96.0.10), kubeadm's
/// `GetDNSIP`.
pub fn dns_service_ip(service_subnet: ipnet::IpNet) -> IpAddr {
    nth_address(service_subnet, 10)
}

/// The address a component's port is checked on. On a real node it is every interface, as
/// kubeadm checks; a simulated node checks its own advertise address, so that nodes on
/// 127.0.0.x do not collide with each other.
pub fn port_check_addr(root_is_system: bool, advertise: IpAddr, port: u16) -> SocketAddr {
    let ip = match (root_is_system, advertise) {
        (false, ip) => ip,
        (true, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (true, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, port)
}

/// The address the controller-manager and scheduler serve on, as their manifests set it:
/// an explicit `--bind-address` extra arg wins (an unspecified one is probed on loopback,
/// as kubeadm does); otherwise loopback on a real node (kubeadm's `--bind-address=127.0.0.1`),
/// and the node's own advertise address on a simulated node under another `--root`, so that
/// nodes sharing this machine on 127.0.0.x do not collide.
pub fn component_probe_ip(
    root_is_system: bool,
    advertise: IpAddr,
    bind_address_arg: Option<&str>,
) -> IpAddr {
    let loopback = match advertise {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    match bind_address_arg.and_then(|a| a.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(ip)) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(IpAddr::V6(ip)) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        Some(ip) => ip,
        None if root_is_system => loopback,
        None => advertise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ip_is_the_first_address() {
        assert_eq!(
            api_server_service_ip("10.96.0.0/12".parse().unwrap()).to_string(),
            "10.96.0.1"
        );
        assert_eq!(
            api_server_service_ip("fd00:10:96::/112".parse().unwrap()).to_string(),
            "fd00:10:96::1"
        );
    }

    #[test]
    fn tenth_address_is_the_dns_ip() {
        assert_eq!(
            dns_service_ip("10.96.0.0/12".parse().unwrap()).to_string(),
            "10.96.0.10"
        );
        assert_eq!(
            nth_address("fd00::/108".parse().unwrap(), 10).to_string(),
            "fd00::a"
        );
    }

    #[test]
    fn controller_manager_and_scheduler_addresses_follow_the_manifests() {
        let lo = |n: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n));
        let adv = lo(21);
        assert_eq!(component_probe_ip(true, adv, None), lo(1));
        assert_eq!(component_probe_ip(false, adv, None), adv);
        assert_eq!(component_probe_ip(false, adv, Some("127.0.0.5")), lo(5));
        assert_eq!(component_probe_ip(true, adv, Some("0.0.0.0")), lo(1));
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(
            component_probe_ip(true, v6, None),
            "::1".parse::<IpAddr>().unwrap()
        );
    }
}
