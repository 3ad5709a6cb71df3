//! Where the etcd static pod's probes reach etcd: kubeadm's `GetEtcdProbeEndpoint`
//! (cmd/kubeadm/app/util/staticpod/utils.go; fidelity audit S20, S22, S28; a v1.34-era copy,
//! search index id 47904164673). The first URL of a user's `listen-metrics-urls` wins, with its
//! host name, its port and its scheme (`https` probes over HTTPS), so that etcd serving metrics
//! over TLS or on a name such as `localhost` is not restarted by a probe it cannot answer.
//! Without the flag, or when the URL does not parse, the probes use the default metrics
//! listener (`http`, port 2381) on this node's local address.

use crate::config::Arg;
use crate::domain::static_pod::{ProbeTarget, StaticPodSpec, arg_value};

use super::METRICS_PORT;

/// The probe target for etcd's merged flags `args`.
pub(super) fn probe_target(spec: &StaticPodSpec, args: &[Arg]) -> ProbeTarget {
    let local = spec.local_address().to_string();
    let first = arg_value(args, "listen-metrics-urls").and_then(|v| v.split(',').next());
    match first.and_then(parse_url) {
        Some(url) => ProbeTarget {
            host: if url.host.is_empty() {
                local
            } else {
                url.host.to_string()
            },
            port: url.port.unwrap_or(METRICS_PORT),
            scheme: Some(if url.scheme == "https" {
                "HTTPS"
            } else {
                "HTTP"
            }),
        },
        None => ProbeTarget {
            host: local,
            port: METRICS_PORT,
            scheme: Some("HTTP"),
        },
    }
}

/// The parts of a URL that `GetEtcdProbeEndpoint` uses.
#[derive(Debug, PartialEq)]
struct MetricsUrl<'a> {
    scheme: &'a str,
    /// Go's `URL.Hostname()`: without the brackets of an IPv6 literal; may be empty.
    host: &'a str,
    /// kubeadm's `ParsePort` of `URL.Port()`: `None` when absent or not in 1–65535.
    port: Option<u16>,
}

/// `scheme://[user@]host[:port][/…]`, as far as Go's `url.Parse` accepts it for these uses:
/// `None` where Go fails (no `scheme://` authority to speak of, a port that is not digits),
/// which sends kubeadm to the defaults.
fn parse_url(raw: &str) -> Option<MetricsUrl<'_>> {
    let (scheme, rest) = raw.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        let port = match after {
            "" => "",
            p => p.strip_prefix(':')?,
        };
        (host, port)
    } else {
        hostport.rsplit_once(':').unwrap_or((hostport, ""))
    };
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(MetricsUrl {
        scheme,
        host,
        port: port.parse::<u16>().ok().filter(|p| *p != 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_urls_parse_as_go_reads_them() {
        let u = |s| parse_url(s);
        assert_eq!(
            u("https://localhost:2390"),
            Some(MetricsUrl {
                scheme: "https",
                host: "localhost",
                port: Some(2390)
            })
        );
        assert_eq!(
            u("http://[::1]:2381/metrics"),
            Some(MetricsUrl {
                scheme: "http",
                host: "::1",
                port: Some(2381)
            })
        );
        assert_eq!(
            u("https://etcd.test"),
            Some(MetricsUrl {
                scheme: "https",
                host: "etcd.test",
                port: None
            })
        );
        // An out-of-range port keeps the host and scheme (kubeadm's ParsePort fails alone).
        assert_eq!(u("https://127.0.0.3:99999").map(|m| m.port), Some(None));
        // Go's url.Parse fails on these: kubeadm falls back to every default.
        assert_eq!(u("127.0.0.1:2381"), None);
        assert_eq!(u("http://127.0.0.1:ab"), None);
    }
}
