//! The certificate set on disk: kubeadm's (`CertName::ALL`, the etcd ones only with a local
//! etcd) on a control plane, the cluster CA on a worker. Each certificate is judged on its own
//! (present, within its validity, usages of its profile), against its key, against the CA it
//! should chain to (a real signature check) and, for the serving certificates, against the
//! names and addresses the node's manifests say clients use.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::kubelet::cluster_domain;
use super::manifests::{Component, Manifest, Manifests, url_host};
use super::{NodeFiles, Read, shown, timestamp};
use crate::config::KubernetesVersion;
use crate::doctor::facts::Role;
use crate::doctor::{Evidence, Finding, FindingId};
use crate::domain::pki::kubeconfig::KubeConfig;
use crate::domain::pki::{
    CertInfo, CertName, CertProfile, EncryptionAlgorithm, EtcdTopology, PkiSpec, Usage,
    cert_profile,
};

/// A certificate or key of the node's set is not on disk.
pub const CERT_MISSING: FindingId = FindingId("cert-missing");
/// A certificate's notAfter is past.
pub const CERT_EXPIRED: FindingId = FindingId("cert-expired");
/// A certificate's notAfter is within `expiring_within`.
pub const CERT_EXPIRING: FindingId = FindingId("cert-expiring");
/// A certificate's signature does not verify against the CA it should chain to.
pub const CERT_NOT_SIGNED_BY_CA: FindingId = FindingId("cert-not-signed-by-ca");
/// A key is not the private half of its certificate's public key.
pub const CERT_KEY_MISMATCH: FindingId = FindingId("cert-key-mismatch");
/// A serving certificate lacks a name or address clients use.
pub const CERT_SAN_MISSING: FindingId = FindingId("cert-san-missing");
/// A certificate's CA bit, serverAuth or clientAuth is not what its use needs.
pub const CERT_USAGE_WRONG: FindingId = FindingId("cert-usage-wrong");

pub(super) fn check(files: &NodeFiles<'_>, manifests: &Manifests) -> Vec<Finding> {
    match files.node.role {
        Role::ControlPlane => control_plane(files, manifests),
        Role::Worker => worker(files),
        Role::NotJoined => Vec::new(),
    }
}

/// Where `name`'s certificate and key are in this node's certificate directory (kubeadm's file
/// names, `CertName::file_base`).
fn cert_path(files: &NodeFiles<'_>, name: CertName) -> PathBuf {
    files
        .node
        .cert_dir
        .join(format!("{}.crt", name.file_base()))
}

fn key_path(files: &NodeFiles<'_>, name: CertName) -> PathBuf {
    files
        .node
        .cert_dir
        .join(format!("{}.key", name.file_base()))
}

/// The usage kubeadm's catalog gives `name`. The usage does not depend on the configuration,
/// so any spec will do; taking it from `cert_profile` keeps one source of truth.
fn usage_of(name: CertName) -> Usage {
    let spec = PkiSpec {
        cert_dir: PathBuf::new(),
        kubeconfig_dir: PathBuf::new(),
        node_name: String::new(),
        advertise_address: IpAddr::from([127, 0, 0, 1]),
        bind_port: 6443,
        control_plane_endpoint: None,
        apiserver_service_ip: IpAddr::from([10, 96, 0, 1]),
        dns_domain: "cluster.local".into(),
        apiserver_cert_sans: Vec::new(),
        etcd_server_cert_sans: Vec::new(),
        etcd_peer_cert_sans: Vec::new(),
        etcd: EtcdTopology::Local,
        key_algorithm: EncryptionAlgorithm::EcdsaP256,
        ca_validity: Duration::ZERO,
        cert_validity: Duration::ZERO,
        cluster_name: String::new(),
        kubernetes_version: KubernetesVersion::default_version(),
    };
    cert_profile(name, &spec).usage
}

fn control_plane(files: &NodeFiles<'_>, manifests: &Manifests) -> Vec<Finding> {
    let etcd = if manifests.local_etcd() {
        EtcdTopology::Local
    } else {
        EtcdTopology::External
    };
    let mut out = Vec::new();
    let mut cas: Vec<(CertName, CertInfo)> = Vec::new();
    let names: Vec<CertName> = CertName::ALL
        .into_iter()
        .filter(|n| n.applies_to(etcd))
        .collect();
    // CAs first: the leaves are verified against them.
    for name in names.iter().copied().filter(|n| n.is_ca()) {
        if let Some(ca) = one_cert(files, name, None, &mut out) {
            cas.push((name, ca));
        }
    }
    let sans = ServingNames::of(files, manifests);
    for name in names.iter().copied().filter(|n| !n.is_ca()) {
        let issuer = name
            .issuer()
            .and_then(|i| cas.iter().find(|(n, _)| *n == i));
        if let Some(cert) = one_cert(files, name, issuer, &mut out) {
            out.extend(missing_sans(files, name, &cert, &sans));
        }
    }
    out.extend(service_account_keys(files));
    out
}

/// A worker holds the cluster CA only (`/etc/kubernetes/pki/ca.crt`, written by join's
/// kubelet-start from the discovered cluster-info); its own certificate is the kubelet's.
fn worker(files: &NodeFiles<'_>) -> Vec<Finding> {
    let path = cert_path(files, CertName::Ca);
    match files.cert(&path) {
        Read::Absent => vec![
            Finding::error(
                CERT_MISSING,
                format!(
                    "the cluster CA {} is missing: the kubelet cannot verify the API server nor authenticate clients",
                    shown(&path)
                ),
                "join the node again: `kubestrap reset`, then the `kubestrap join …` command from `kubestrap token create --print-join-command` on a control plane",
            )
            .with(Evidence::of(shown(&path))),
        ],
        Read::Unreadable(f) => vec![f],
        Read::Parsed(ca) => expiry(files, &shown(&path), &ca, &ca_fix("ca"))
            .into_iter()
            .collect(),
    }
}

/// Judges one certificate of the set and its key; returns the certificate when it parsed.
fn one_cert(
    files: &NodeFiles<'_>,
    name: CertName,
    issuer: Option<&(CertName, CertInfo)>,
    out: &mut Vec<Finding>,
) -> Option<CertInfo> {
    let (crt, key) = (cert_path(files, name), key_path(files, name));
    let ca_key_present = files.exists(&key_path(files, name.authority()));
    let cert = match files.cert(&crt) {
        Read::Absent => {
            out.push(missing_cert(name, &crt, ca_key_present));
            return None;
        }
        Read::Unreadable(f) => {
            out.push(f);
            return None;
        }
        Read::Parsed(c) => c,
    };
    let fix = if name.is_ca() {
        ca_fix(name.as_str())
    } else {
        format!("`kubestrap certs renew {name}`, then restart the components that use it")
    };
    out.extend(expiry(files, &shown(&crt), &cert, &fix));
    out.extend(usage_wrong(name, &crt, &cert));
    if let Some((ca_name, ca)) = issuer
        && !cert.is_signed_by(ca)
    {
        let ca_path = cert_path(files, *ca_name);
        out.push(
            Finding::error(
                CERT_NOT_SIGNED_BY_CA,
                format!(
                    "{} is not signed by the {ca_name} CA ({}): every peer that trusts {ca_name} rejects it",
                    shown(&crt),
                    shown(&ca_path)
                ),
                format!(
                    "issue it again from the CA: `rm {} {}` then `kubestrap init phase certs {name} --config <your kubeadm config>`",
                    shown(&crt),
                    shown(&key)
                ),
            )
            .with(Evidence::of(shown(&crt)).field("issuer").value(issuer_name(&cert)))
            .with(Evidence::of(shown(&ca_path)).field("subject").value(ca.common_name.clone())),
        );
    }
    match files.key(&key) {
        // A CA's key may be absent on purpose: kubeadm's external-CA mode.
        Read::Absent if name.is_ca() => {}
        Read::Absent => out.push(
            Finding::error(
                CERT_MISSING,
                format!(
                    "the {name} key {} is missing: {} cannot be used without it",
                    shown(&key),
                    shown(&crt)
                ),
                format!(
                    "restore {} from a backup, or `rm {}` and `kubestrap init phase certs {name} --config <your kubeadm config>` to make both anew",
                    shown(&key),
                    shown(&crt)
                ),
            )
            .with(Evidence::of(shown(&key))),
        ),
        Read::Unreadable(f) => out.push(f),
        Read::Parsed(k) if !cert.matches_key(&k) => out.push(key_mismatch(
            &crt,
            &key,
            &format!(
                "`rm {} {}` then `kubestrap init phase certs {name} --config <your kubeadm config>`{}",
                shown(&crt),
                shown(&key),
                if name.is_ca() {
                    " (a new CA: everything it signed must be issued again)"
                } else {
                    ""
                }
            ),
        )),
        Read::Parsed(_) => {}
    }
    Some(cert)
}

fn missing_cert(name: CertName, crt: &Path, ca_key_present: bool) -> Finding {
    let fix = if ca_key_present || name.is_ca() {
        format!("`kubestrap init phase certs {name} --config <your kubeadm config>`")
    } else {
        format!(
            "the {} CA is external (no key on this node): `kubestrap certs generate-csr`, have the external CA sign {name}.csr and save the certificate as {}",
            name.authority(),
            shown(crt)
        )
    };
    Finding::error(
        CERT_MISSING,
        format!(
            "the {name} certificate {} is missing: {}",
            shown(crt),
            what_breaks(name)
        ),
        fix,
    )
    .with(Evidence::of(shown(crt)))
}

/// What stops working without `name`, for the finding's first sentence.
fn what_breaks(name: CertName) -> &'static str {
    match name {
        CertName::Ca => "nothing on the control plane can be verified or signed",
        CertName::Apiserver => "kube-apiserver cannot serve TLS",
        CertName::ApiserverKubeletClient => {
            "kube-apiserver cannot reach kubelets (logs, exec, port-forward)"
        }
        CertName::FrontProxyCa | CertName::FrontProxyClient => {
            "aggregated APIs (metrics-server, …) cannot authenticate kube-apiserver"
        }
        CertName::EtcdCa => "etcd and its clients cannot verify each other",
        CertName::EtcdServer => "etcd cannot serve its clients",
        CertName::EtcdPeer => "etcd members cannot talk to each other",
        CertName::EtcdHealthcheckClient => "etcd's liveness probe cannot connect",
        CertName::ApiserverEtcdClient => "kube-apiserver cannot connect to etcd",
    }
}

/// What to do about a CA that expires: kubestrap renews leaves, never a CA.
pub(super) fn ca_fix(name: &str) -> String {
    format!(
        "a CA cannot be renewed in place: replacing {name} means a new CA, after which every certificate and kubeconfig it signed must be issued again and every node must trust the new CA (join again); plan it as a CA rotation (https://kubernetes.io/docs/tasks/tls/manual-rotation-of-ca-certificates/)"
    )
}

/// `cert-expired` or `cert-expiring` for `cert`, seen at `subject`.
pub(super) fn expiry(
    files: &NodeFiles<'_>,
    subject: &str,
    cert: &CertInfo,
    fix: &str,
) -> Option<Finding> {
    let now = files.inputs.now;
    let within =
        time::Duration::try_from(files.inputs.expiring_within).unwrap_or(time::Duration::ZERO);
    let evidence = Evidence::of(subject)
        .field("notAfter")
        .value(timestamp(cert.not_after));
    if now > cert.not_after {
        Some(
            Finding::error(
                CERT_EXPIRED,
                format!(
                    "{subject} ({}) expired on {}: every TLS connection that presents or verifies it fails",
                    cert.common_name,
                    timestamp(cert.not_after)
                ),
                fix,
            )
            .with(evidence),
        )
    } else if now + within > cert.not_after {
        Some(
            Finding::warning(
                CERT_EXPIRING,
                format!(
                    "{subject} ({}) expires on {}, in {} days",
                    cert.common_name,
                    timestamp(cert.not_after),
                    (cert.not_after - now).whole_days()
                ),
                fix,
            )
            .with(evidence),
        )
    } else {
        None
    }
}

/// `cert-usage-wrong`: the CA bit and extended key usages against the catalog's profile. The
/// profile compared with carries the certificate's own subject and no SANs, so only the
/// usages can differ (SANs are `cert-san-missing`'s).
fn usage_wrong(name: CertName, crt: &Path, cert: &CertInfo) -> Option<Finding> {
    let mut profile = CertProfile::new(cert.common_name.clone(), usage_of(name));
    profile.organizations = cert.organizations.clone();
    let problems = profile.differences(cert);
    if problems.is_empty() {
        return None;
    }
    Some(
        Finding::error(
            CERT_USAGE_WRONG,
            format!(
                "{} {}: TLS peers refuse it for its use as {name}",
                shown(crt),
                problems.join("; ")
            ),
            format!(
                "issue it again with kubeadm's usages: `rm {} {}` then `kubestrap init phase certs {name} --config <your kubeadm config>`",
                shown(crt),
                shown(&crt.with_extension("key"))
            ),
        )
        .with(
            Evidence::of(shown(crt))
                .field("basicConstraints/extendedKeyUsage")
                .value(problems.join("; ")),
        ),
    )
}

pub(super) fn key_mismatch(crt: &Path, key: &Path, fix: &str) -> Finding {
    Finding::error(
        CERT_KEY_MISMATCH,
        format!(
            "{} does not match its key {}: the TLS handshake fails for whoever uses the pair",
            shown(crt),
            shown(key)
        ),
        fix,
    )
    .with(
        Evidence::of(shown(crt))
            .field("public key")
            .value(format!("not the public half of {}", shown(key))),
    )
}

/// The issuer's common name, for evidence.
pub(super) fn issuer_name(cert: &CertInfo) -> String {
    x509_parser::parse_x509_certificate(&cert.der)
        .ok()
        .and_then(|(_, x)| {
            x.issuer()
                .iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The names and addresses clients reach this node's servers by, from its own files.
#[derive(Debug, Default)]
struct ServingNames {
    /// kube-apiserver: each with where the node says it.
    apiserver: Vec<(String, String)>,
    etcd_server: Vec<(String, String)>,
    etcd_peer: Vec<(String, String)>,
}

impl ServingNames {
    fn of(files: &NodeFiles<'_>, manifests: &Manifests) -> Self {
        let mut names = ServingNames::default();
        if let Some(m) = manifests.get(Component::ApiServer) {
            let mut add = |v: String, from: String| names.apiserver.push((v, from));
            // kubeadm's apiserver certificate (certs.go, KubeadmCertAPIServer's config via
            // GetAPIServerAltNames): node name, kubernetes, kubernetes.default,
            // kubernetes.default.svc, kubernetes.default.svc.<dnsDomain>, the service VIP,
            // the advertise address, the controlPlaneEndpoint host.
            if let Some(a) = m.flag("advertise-address") {
                add(a.into(), from_flag(m, "advertise-address"));
            }
            if let Some(n) = &files.node.node_name {
                add(
                    n.clone(),
                    "node name (kubelet.conf's client certificate)".into(),
                );
            }
            for d in ["kubernetes", "kubernetes.default", "kubernetes.default.svc"] {
                add(d.into(), "the in-cluster service name".into());
            }
            if let Some(domain) = cluster_domain(files) {
                add(
                    format!("kubernetes.default.svc.{domain}"),
                    "the in-cluster service name (kubelet config clusterDomain)".into(),
                );
            }
            if let Some(ip) = m
                .flag("service-cluster-ip-range")
                .and_then(|r| first_service_ip(r.split(',').next().unwrap_or_default()))
            {
                add(ip.to_string(), from_flag(m, "service-cluster-ip-range"));
            }
            if let Some(host) = endpoint_host(files) {
                add(
                    host,
                    "the control-plane endpoint (admin.conf server)".into(),
                );
            }
        }
        if let Some(m) = manifests.get(Component::Etcd) {
            for (flag, into) in [
                ("advertise-client-urls", &mut names.etcd_server),
                ("initial-advertise-peer-urls", &mut names.etcd_peer),
            ] {
                for url in m.flag(flag).unwrap_or_default().split(',') {
                    if let Some(h) = url_host(url.trim()) {
                        into.push((h.to_string(), from_flag(m, flag)));
                    }
                }
            }
        }
        names.apiserver.dedup_by(|a, b| a.0 == b.0);
        names
    }
}

fn from_flag(m: &Manifest, flag: &str) -> String {
    format!("{} --{flag}", m.shown())
}

/// The first host address of a CIDR: kubeadm's `GetAPIServerVirtualIP` (the service range's
/// first address, 10.96.0.1 for 10.96.0.0/12).
fn first_service_ip(cidr: &str) -> Option<IpAddr> {
    let net: ipnet::IpNet = cidr.trim().parse().ok()?;
    Some(match net.network() {
        IpAddr::V4(v4) => IpAddr::from(u32::from(v4).checked_add(1)?.to_be_bytes()),
        IpAddr::V6(v6) => IpAddr::from(u128::from(v6).checked_add(1)?.to_be_bytes()),
    })
}

/// The host clients and joining nodes use for the cluster: admin.conf's server.
fn endpoint_host(files: &NodeFiles<'_>) -> Option<String> {
    let path = files.node.kubeconfig_dir.join("admin.conf");
    let text = files.text(&path).parsed()?;
    let kc = KubeConfig::from_yaml(&path, text.as_bytes()).ok()?;
    let current = kc.current(&path).ok()?;
    url_host(&current.server).map(str::to_string)
}

fn missing_sans(
    files: &NodeFiles<'_>,
    name: CertName,
    cert: &CertInfo,
    names: &ServingNames,
) -> Vec<Finding> {
    let wanted = match name {
        CertName::Apiserver => &names.apiserver,
        CertName::EtcdServer => &names.etcd_server,
        CertName::EtcdPeer => &names.etcd_peer,
        _ => return Vec::new(),
    };
    let crt = cert_path(files, name);
    let key = key_path(files, name);
    let restart = match name {
        CertName::Apiserver => "kube-apiserver",
        _ => "etcd",
    };
    wanted
        .iter()
        .filter(|(v, _)| !has_san(cert, v))
        .map(|(value, from)| {
            Finding::error(
                CERT_SAN_MISSING,
                format!(
                    "{} does not name {value}, which clients use ({from}): they reject the server's certificate",
                    shown(&crt)
                ),
                format!(
                    "regenerate with {value} among the SANs (in the kubeadm config: the advertise address, controlPlaneEndpoint, or {}): `rm {} {}`, `kubestrap init phase certs {name} --config <your kubeadm config>`, then restart {restart} (move its manifest out of {} and back)",
                    if name == CertName::Apiserver {
                        "apiServer.certSANs"
                    } else {
                        "etcd.local.serverCertSANs / peerCertSANs"
                    },
                    shown(&crt),
                    shown(&key),
                    shown(&files.node.manifests_dir)
                ),
            )
            .with(Evidence::of(shown(&crt)).field("subjectAltName").value(value.clone()))
        })
        .collect()
}

fn has_san(cert: &CertInfo, value: &str) -> bool {
    match value.parse::<IpAddr>() {
        Ok(ip) => cert.ip_addresses.contains(&ip),
        Err(_) => cert.dns_names.iter().any(|d| d.eq_ignore_ascii_case(value)),
    }
}

/// kubeadm's `certs sa`: the service-account signing key pair (sa.key, sa.pub).
fn service_account_keys(files: &NodeFiles<'_>) -> Vec<Finding> {
    ["sa.key", "sa.pub"]
        .into_iter()
        .map(|f| files.node.cert_dir.join(f))
        .filter(|p| !files.exists(p))
        .map(|p| {
            Finding::error(
                CERT_MISSING,
                format!(
                    "{} is missing: kube-apiserver cannot verify, nor kube-controller-manager sign, service-account tokens",
                    shown(&p)
                ),
                "restore the pair from another control plane (all must share it), or on the only control plane `kubestrap init phase certs sa` (every existing service-account token becomes invalid)",
            )
            .with(Evidence::of(shown(&p)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ip_is_the_first_address() {
        assert_eq!(
            first_service_ip("10.96.0.0/12"),
            Some("10.96.0.1".parse().unwrap())
        );
        assert_eq!(
            first_service_ip("fd00:10:96::/112"),
            Some("fd00:10:96::1".parse().unwrap())
        );
        assert_eq!(first_service_ip("nonsense"), None);
    }

    #[test]
    fn usages_come_from_the_catalog() {
        assert_eq!(usage_of(CertName::Ca), Usage::Ca);
        assert_eq!(usage_of(CertName::Apiserver), Usage::Server);
        assert_eq!(usage_of(CertName::EtcdPeer), Usage::ServerAndClient);
        assert_eq!(usage_of(CertName::FrontProxyClient), Usage::Client);
    }
}
