//! Defaults, file values and flags merged into the effective configuration, then the
//! cross-field checks kubeadm's validation makes.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use time::format_description::well_known::Rfc3339;

use super::address::{Endpoint, HostPort, SubjectAltName, SubnetList, parse_ip};
use super::detect;
use super::document::{ApiVersion, Document, Kind};
use super::duration::GoDuration;
use super::effective::*;
use super::error::{ConfigError, DocumentRef};
use super::values::{
    AbsPath, CertificateKey, CriSocket, DnsDomain, EncryptionAlgorithm, ImagePullPolicy,
};
use super::wire::{v1beta3, v1beta4 as b4};
use super::{InitFlags, JoinFlags, Release, Secret};
use crate::config::kubernetes_version::KubernetesVersion;
use crate::config::node_name::NodeName;
use crate::config::token::{BootstrapTokenString, TokenGroup, TokenUsage};
use crate::config::well_known::{
    API_SERVER_PORT, DEFAULT_CA_CERT_PATH, DEFAULT_CERTIFICATES_DIR, DEFAULT_ETCD_DATA_DIR,
};

const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
const DEFAULT_DNS_DOMAIN: &str = "cluster.local";
const DEFAULT_CLUSTER_NAME: &str = "kubernetes";
const DEFAULT_TOKEN_TTL_SECS: u64 = 24 * 3600;
const CERT_VALIDITY_SECS: u64 = 365 * 24 * 3600;
const CA_CERT_VALIDITY_SECS: u64 = 10 * CERT_VALIDITY_SECS;

/// Parses a flag's value with the type's own rules; the error names the flag.
fn flag<T>(name: &str, value: &Option<String>) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    parse_flag(name, value.as_deref())
}

/// [`flag`] for a secret flag, parsed from its exposed value (into a type that redacts).
fn secret_flag<T>(name: &str, value: &Option<Secret>) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    parse_flag(name, value.as_ref().map(Secret::expose))
}

fn parse_flag<T>(name: &str, value: Option<&str>) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|e| ConfigError::flag(name, e))
        })
        .transpose()
}

/// A value that is always valid by construction (a kubeadm default constant).
fn constant<T: FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    match s.parse() {
        Ok(v) => v,
        // Unreachable for the constants above; a unit test parses each of them.
        Err(e) => panic!("built-in default {s:?} does not parse: {e:?}"),
    }
}

fn invalid(doc: &DocumentRef, field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::InvalidField {
        doc: Box::new(doc.clone()),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// kubeadm's `{Init,Join}Configuration.patches.directory` and its `--patches` flag (v1.19 to
/// v1.22 also `--experimental-patches`; kubeadm v1.22 added the field, PR #103063, and v1.23
/// dropped the old flag, PR #104065): patches for the static-pod manifests, the kubelet
/// configuration and CoreDNS. kubestrap does not apply patches yet, and a run that ignored
/// them would set up a node other than the one asked for, so naming a directory is an error,
/// found here with the rest of the configuration, before anything is written. An absent or
/// empty directory names no patches, as in kubeadm.
fn refuse_patches(
    doc: &DocumentRef,
    file: Option<b4::Patches>,
    flag: &Option<String>,
) -> Result<(), ConfigError> {
    let named = |dir: Option<&str>| {
        dir.map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
    };
    let refusal = |dir: &str, expected: &str| {
        format!(
            "{dir:?}: kubestrap does not apply kubeadm's patches yet, and would set up this node without them; expected {expected}"
        )
    };
    if let Some(dir) = named(flag.as_deref()) {
        return Err(ConfigError::flag("patches", refusal(&dir, "no --patches")));
    }
    if let Some(dir) = named(file.as_ref().and_then(|p| p.directory.as_deref())) {
        return Err(invalid(
            doc,
            "patches.directory",
            refusal(&dir, "no patches directory"),
        ));
    }
    Ok(())
}

/// Splits comma lists and lowercases, as kubeadm's preflight error set does.
fn ignore_preflight(file: &[String], flags: &[String]) -> Result<Vec<String>, ConfigError> {
    let set: BTreeSet<String> = file
        .iter()
        .chain(flags)
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if set.contains("all") && set.len() > 1 {
        return Err(ConfigError::conflict(
            &[
                "nodeRegistration.ignorePreflightErrors",
                "--ignore-preflight-errors",
            ],
            format!(
                "ignore-preflight-errors {:?}: don't specify individual checks if 'all' is used",
                set.iter().cloned().collect::<Vec<_>>().join(",")
            ),
        ));
    }
    Ok(set.into_iter().collect())
}

fn skip_phases(file: Option<Vec<String>>, flags: &[String]) -> Vec<String> {
    // "The flag --skip-phases takes precedence over this field."
    let chosen = if flags.is_empty() {
        file.unwrap_or_default()
    } else {
        flags.to_vec()
    };
    chosen
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn args(
    doc: &DocumentRef,
    field: &str,
    list: Option<Vec<b4::Arg>>,
) -> Result<Vec<Arg>, ConfigError> {
    list.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            if a.name.trim().is_empty() {
                return Err(invalid(
                    doc,
                    &format!("{field}[{i}].name"),
                    "an argument name is required (the flag name without leading dashes)",
                ));
            }
            Ok(Arg {
                name: a.name,
                value: a.value.0,
            })
        })
        .collect()
}

fn envs(list: Option<Vec<b4::EnvVar>>) -> Vec<EnvVar> {
    list.unwrap_or_default()
        .into_iter()
        .map(|e| EnvVar {
            name: e.name,
            value: e.value,
            value_from: e.value_from,
        })
        .collect()
}

fn volumes(
    doc: &DocumentRef,
    field: &str,
    list: Option<Vec<b4::HostPathMount>>,
) -> Result<Vec<HostPathMount>, ConfigError> {
    list.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let at = |f: &str| format!("{field}[{i}].{f}");
            if v.name.trim().is_empty() {
                return Err(invalid(doc, &at("name"), "a volume name is required"));
            }
            let host_path = v
                .host_path
                .parse::<AbsPath>()
                .map_err(|e| invalid(doc, &at("hostPath"), e.to_string()))?;
            let mount_path = v
                .mount_path
                .parse::<AbsPath>()
                .map_err(|e| invalid(doc, &at("mountPath"), e.to_string()))?;
            Ok(HostPathMount {
                name: v.name,
                host_path,
                mount_path,
                read_only: v.read_only.unwrap_or(false),
                path_type: v.path_type.unwrap_or(super::values::HostPathType::Unset),
            })
        })
        .collect()
}

fn component(
    doc: &DocumentRef,
    field: &str,
    c: Option<b4::ControlPlaneComponent>,
) -> Result<ControlPlaneComponent, ConfigError> {
    let c = c.unwrap_or_default();
    Ok(ControlPlaneComponent {
        extra_args: args(doc, &format!("{field}.extraArgs"), c.extra_args)?,
        extra_volumes: volumes(doc, &format!("{field}.extraVolumes"), c.extra_volumes)?,
        extra_envs: envs(c.extra_envs),
    })
}

fn timeouts(file: Option<b4::Timeouts>, control_plane_v1beta3: Option<GoDuration>) -> Timeouts {
    let d = Timeouts::default();
    let t = file.unwrap_or_default();
    Timeouts {
        control_plane_component_health_check: t
            .control_plane_component_health_check
            .or(control_plane_v1beta3)
            .unwrap_or(d.control_plane_component_health_check),
        kubelet_health_check: t.kubelet_health_check.unwrap_or(d.kubelet_health_check),
        kubernetes_api_call: t.kubernetes_api_call.unwrap_or(d.kubernetes_api_call),
        etcd_api_call: t.etcd_api_call.unwrap_or(d.etcd_api_call),
        tls_bootstrap: t.tls_bootstrap.unwrap_or(d.tls_bootstrap),
        discovery: t.discovery.unwrap_or(d.discovery),
        upgrade_manifests: t.upgrade_manifests.unwrap_or(d.upgrade_manifests),
    }
}

/// The document reference used for values that did not come from a file.
fn no_file(kind: &str) -> DocumentRef {
    DocumentRef {
        file: PathBuf::from("(defaults)"),
        index: 0,
        line: 0,
        kind: Some(kind.to_owned()),
        api_version: None,
    }
}

fn node_registration(
    doc: &DocumentRef,
    nr: Option<b4::NodeRegistrationOptions>,
    name_flag: &Option<String>,
    cri_flag: &Option<String>,
    default_taints: Option<Vec<Taint>>,
) -> Result<(NodeRegistration, Vec<String>), ConfigError> {
    let nr = nr.unwrap_or_default();
    let name = match flag::<NodeName>("node-name", name_flag)? {
        Some(n) => n,
        None => match nr.name {
            Some(n) => n,
            None => detect::node_name()?,
        },
    };
    let cri_socket = flag::<CriSocket>("cri-socket", cri_flag)?
        .or(nr.cri_socket)
        .unwrap_or_default();
    let taints = match nr.taints {
        None => default_taints,
        Some(list) => Some(
            list.into_iter()
                .enumerate()
                .map(|(i, t)| {
                    if t.key.trim().is_empty() {
                        return Err(invalid(
                            doc,
                            &format!("nodeRegistration.taints[{i}].key"),
                            "a taint key is required",
                        ));
                    }
                    Ok(Taint {
                        key: t.key,
                        value: t.value.filter(|v| !v.is_empty()),
                        effect: t.effect,
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok((
        NodeRegistration {
            name,
            cri_socket,
            taints,
            kubelet_extra_args: args(
                doc,
                "nodeRegistration.kubeletExtraArgs",
                nr.kubelet_extra_args,
            )?,
            image_pull_policy: nr
                .image_pull_policy
                .unwrap_or(ImagePullPolicy::IfNotPresent),
            image_pull_serial: nr.image_pull_serial.unwrap_or(true),
        },
        nr.ignore_preflight_errors.unwrap_or_default(),
    ))
}

fn api_endpoint(
    file: Option<b4::ApiEndpoint>,
    address_flag: &Option<String>,
    port_flag: Option<u16>,
) -> Result<ApiEndpoint, ConfigError> {
    let file = file.unwrap_or_default();
    let address = match address_flag {
        Some(a) => parse_ip(a).map_err(|e| ConfigError::flag("apiserver-advertise-address", e))?,
        None => match file.advertise_address {
            Some(a) => a,
            None => detect::advertise_address()?,
        },
    };
    // Unlike kubeadm, a loopback address is accepted: a single-machine cluster, and the test
    // bed's nodes on 127.0.0.x, advertise exactly that (kubeadm would silently swap in the
    // address of another interface).
    if address.is_unspecified() {
        return Err(ConfigError::conflict(
            &[
                "localAPIEndpoint.advertiseAddress",
                "--apiserver-advertise-address",
            ],
            format!(
                "advertise address {address} cannot be used: expected the address this node's API server is reached at, not the unspecified address"
            ),
        ));
    }
    let port = match port_flag {
        Some(0) => {
            return Err(ConfigError::flag(
                "apiserver-bind-port",
                "0 is not a valid port: expected 1-65535",
            ));
        }
        Some(p) => p,
        None => file.bind_port.unwrap_or(API_SERVER_PORT),
    };
    Ok(ApiEndpoint {
        advertise_address: address,
        bind_port: port,
    })
}

fn bootstrap_token(
    doc: &DocumentRef,
    i: usize,
    t: b4::BootstrapToken,
) -> Result<BootstrapToken, ConfigError> {
    let at = |f: &str| format!("bootstrapTokens[{i}].{f}");
    let expiry = match (t.ttl, t.expires.filter(|e| !e.is_empty())) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                doc,
                &at("expires"),
                "ttl and expires are mutually exclusive: give one of them",
            ));
        }
        (_, Some(e)) => {
            TokenExpiry::Expires(time::OffsetDateTime::parse(&e, &Rfc3339).map_err(|_| {
                invalid(
                    doc,
                    &at("expires"),
                    format!(
                        "{e:?} is not a valid time: expected RFC 3339, e.g. 2030-01-02T15:04:05Z"
                    ),
                )
            })?)
        }
        (Some(ttl), None) => TokenExpiry::Ttl(ttl),
        (None, None) => TokenExpiry::Ttl(GoDuration::from_secs(DEFAULT_TOKEN_TTL_SECS)),
    };
    let usages_given = t.usages.clone().unwrap_or_default();
    let usages: Vec<TokenUsage> = if usages_given.is_empty() {
        TokenUsage::defaults()
    } else {
        dedup(usages_given)
    };
    let groups: Vec<TokenGroup> = match t.groups.filter(|g| !g.is_empty()) {
        Some(groups) => {
            if !usages.contains(&TokenUsage::Authentication) {
                return Err(invalid(
                    doc,
                    &at("groups"),
                    "token groups cannot be given unless usages include \"authentication\"",
                ));
            }
            dedup(groups)
        }
        None => vec![TokenGroup::default_node_token()],
    };
    Ok(BootstrapToken {
        token: t.token.unwrap_or_else(BootstrapTokenString::generate),
        description: t.description.filter(|d| !d.is_empty()),
        expiry,
        usages,
        groups,
    })
}

/// An InitConfiguration's `bootstrapTokens`, each defaulted and validated; kubeadm's one
/// default token (random, 24h, both usages, the default group) when it lists none.
fn bootstrap_tokens(
    doc: &DocumentRef,
    listed: Option<Vec<b4::BootstrapToken>>,
) -> Result<Vec<BootstrapToken>, ConfigError> {
    let mut tokens = listed
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(n, t)| bootstrap_token(doc, n, t))
        .collect::<Result<Vec<_>, _>>()?;
    if tokens.is_empty() {
        tokens.push(bootstrap_token(doc, 0, Default::default())?);
    }
    Ok(tokens)
}

/// Two tokens with one id would be one Secret: refused, naming the field.
fn distinct_token_ids(doc: &DocumentRef, tokens: &[BootstrapToken]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for t in tokens {
        if !seen.insert(t.token.id().clone()) {
            return Err(invalid(
                doc,
                "bootstrapTokens",
                format!(
                    "token id {} is used twice: expected distinct token ids",
                    t.token.id()
                ),
            ));
        }
    }
    Ok(())
}

/// The bootstrap tokens of a configuration file, as kubeadm's `token create --config` takes
/// them (cmd/kubeadm/app/cmd/token.go: `LoadOrDefaultInitConfiguration`, then every
/// `BootstrapTokens` entry is created): the InitConfiguration's, defaulted and validated as
/// `init` does, and the file's ClusterConfiguration validated too, as kubeadm loads the whole
/// file. Nothing is detected on the host: creating a token needs none of this node's settings.
pub(super) fn tokens_only(
    file: &Path,
    docs: Vec<Document>,
) -> Result<Vec<BootstrapToken>, ConfigError> {
    let mut init_doc: Option<(DocumentRef, b4::InitConfiguration)> = None;
    for d in &docs {
        match d.kind {
            Kind::Init(ApiVersion::V1beta4) => init_doc = Some((d.at.clone(), d.decode()?)),
            Kind::Init(ApiVersion::V1beta3) => {
                init_doc = Some((
                    d.at.clone(),
                    d.decode::<v1beta3::InitConfiguration>()?.into_v1beta4(),
                ))
            }
            _ => {}
        }
    }
    let cluster_doc = cluster_document(&docs)?;
    if init_doc.is_none() && cluster_doc.is_none() {
        return Err(ConfigError::MissingKind {
            file: file.to_path_buf(),
            expected: "InitConfiguration or ClusterConfiguration".to_owned(),
        });
    }
    if let Some((at, c)) = cluster_doc {
        cluster(&at, c, None)?;
    }
    let (init_ref, i) =
        init_doc.unwrap_or_else(|| (no_file("InitConfiguration"), Default::default()));
    let tokens = bootstrap_tokens(&init_ref, i.bootstrap_tokens)?;
    distinct_token_ids(&init_ref, &tokens)?;
    Ok(tokens)
}

fn dedup<T: PartialEq>(list: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(list.len());
    for x in list {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

fn etcd(doc: &DocumentRef, e: Option<b4::Etcd>) -> Result<EtcdConfig, ConfigError> {
    let e = e.unwrap_or_default();
    match (e.local, e.external) {
        (Some(_), Some(_)) => Err(invalid(
            doc,
            "etcd",
            "etcd.local and etcd.external are mutually exclusive: give one of them",
        )),
        (local, None) => {
            let l = local.unwrap_or_default();
            Ok(EtcdConfig::Local(LocalEtcd {
                image: ImageMeta {
                    image_repository: l.image_repository.filter(|s| !s.is_empty()),
                    image_tag: l.image_tag.map(|t| t.0).filter(|s| !s.is_empty()),
                },
                data_dir: l
                    .data_dir
                    .unwrap_or_else(|| constant(DEFAULT_ETCD_DATA_DIR)),
                extra_args: args(doc, "etcd.local.extraArgs", l.extra_args)?,
                extra_envs: envs(l.extra_envs),
                server_cert_sans: l.server_cert_sans.unwrap_or_default(),
                peer_cert_sans: l.peer_cert_sans.unwrap_or_default(),
            }))
        }
        (None, Some(x)) => {
            let endpoints = x.endpoints.unwrap_or_default();
            if endpoints.is_empty() {
                return Err(invalid(
                    doc,
                    "etcd.external.endpoints",
                    "at least one etcd client URL is required, e.g. https://10.0.0.1:2379",
                ));
            }
            let tls = match (x.ca_file, x.cert_file, x.key_file) {
                (None, None, None) => None,
                (Some(ca_file), Some(cert_file), Some(key_file)) => Some(ExternalEtcdTls {
                    ca_file,
                    cert_file,
                    key_file,
                }),
                (ca, cert, key) => {
                    let missing: Vec<&str> = [
                        ("caFile", ca.is_none()),
                        ("certFile", cert.is_none()),
                        ("keyFile", key.is_none()),
                    ]
                    .iter()
                    .filter(|(_, m)| *m)
                    .map(|(n, _)| *n)
                    .collect();
                    return Err(invalid(
                        doc,
                        &format!("etcd.external.{}", missing[0]),
                        format!(
                            "caFile, certFile and keyFile must be given together for TLS to etcd; missing: {}",
                            missing.join(", ")
                        ),
                    ));
                }
            };
            for (i, ep) in endpoints.iter().enumerate() {
                let (scheme_ok, rest) = match ep.split_once("://") {
                    Some(("https", rest)) => (true, rest),
                    Some(("http", rest)) => (tls.is_none(), rest),
                    _ => (false, ""),
                };
                let host = rest.trim_end_matches('/');
                if !scheme_ok || host.parse::<HostPort>().is_err() {
                    let expected = if tls.is_some() {
                        "https://<host>:<port>"
                    } else {
                        "http(s)://<host>:<port>"
                    };
                    return Err(invalid(
                        doc,
                        &format!("etcd.external.endpoints[{i}]"),
                        format!(
                            "{ep:?} is not a valid etcd client URL: expected {expected} (https is required when caFile/certFile/keyFile are set)"
                        ),
                    ));
                }
            }
            Ok(EtcdConfig::External(ExternalEtcd { endpoints, tls }))
        }
    }
}

fn cluster(
    doc: &DocumentRef,
    c: b4::ClusterConfiguration,
    flags: Option<&InitFlags>,
) -> Result<ClusterConfig, ConfigError> {
    let empty = InitFlags::default();
    let f = flags.unwrap_or(&empty);
    let net = c.networking.unwrap_or_default();
    let service_subnet = match flag::<SubnetList>("service-cidr", &f.service_cidr)? {
        Some(s) => {
            s.check_service_size()
                .map_err(|e| ConfigError::flag("service-cidr", e))?;
            s
        }
        None => {
            let s = net
                .service_subnet
                .unwrap_or_else(|| constant(DEFAULT_SERVICE_SUBNET));
            s.check_service_size()
                .map_err(|e| invalid(doc, "networking.serviceSubnet", e.to_string()))?;
            s
        }
    };
    let pod_subnet =
        flag::<SubnetList>("pod-network-cidr", &f.pod_network_cidr)?.or(net.pod_subnet);
    if let Some(pods) = &pod_subnet {
        let family = |l: &SubnetList| {
            l.subnets()
                .iter()
                .map(|n| n.addr().is_ipv4())
                .collect::<Vec<_>>()
        };
        if family(pods).len() == 2
            && family(&service_subnet).len() == 2
            && family(pods) != family(&service_subnet)
        {
            return Err(ConfigError::conflict(
                &["networking.podSubnet", "networking.serviceSubnet"],
                format!(
                    "podSubnet {pods} and serviceSubnet {service_subnet} list their IP families in a different order: expected the same primary family"
                ),
            ));
        }
    }
    let dns_domain = flag::<DnsDomain>("service-dns-domain", &f.service_dns_domain)?
        .or(net.dns_domain)
        .unwrap_or_else(|| constant(DEFAULT_DNS_DOMAIN));
    let kubernetes_version =
        flag::<KubernetesVersion>("kubernetes-version", &f.kubernetes_version)?
            .or(c.kubernetes_version)
            .unwrap_or_else(KubernetesVersion::default_version);
    let control_plane_endpoint =
        flag::<HostPort>("control-plane-endpoint", &f.control_plane_endpoint)?
            .or(c.control_plane_endpoint);

    let api = c.api_server.unwrap_or_default();
    let cert_sans = if f.apiserver_cert_extra_sans.is_empty() {
        api.cert_sans.unwrap_or_default()
    } else {
        f.apiserver_cert_extra_sans
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| {
                s.trim()
                    .parse::<SubjectAltName>()
                    .map_err(|e| ConfigError::flag("apiserver-cert-extra-sans", e))
            })
            .collect::<Result<_, _>>()?
    };
    let certificates_dir = match &f.cert_dir {
        Some(p) => p
            .to_string_lossy()
            .parse::<AbsPath>()
            .map_err(|e| ConfigError::flag("cert-dir", e))?,
        None => c
            .certificates_dir
            .unwrap_or_else(|| constant(DEFAULT_CERTIFICATES_DIR)),
    };
    let non_empty = |s: Option<String>, d: &str| {
        s.filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| d.to_owned())
    };
    let cluster_name = non_empty(c.cluster_name, DEFAULT_CLUSTER_NAME);
    // kubeadm's default moved from k8s.gcr.io to registry.k8s.io within 1.22–1.24.
    let image_repository = non_empty(
        c.image_repository,
        super::images::default_repository(&kubernetes_version),
    );
    let certificate_validity_period = c
        .certificate_validity_period
        .unwrap_or(GoDuration::from_secs(CERT_VALIDITY_SECS));
    let ca_certificate_validity_period = c
        .ca_certificate_validity_period
        .unwrap_or(GoDuration::from_secs(CA_CERT_VALIDITY_SECS));
    for (field, d) in [
        ("certificateValidityPeriod", certificate_validity_period),
        (
            "caCertificateValidityPeriod",
            ca_certificate_validity_period,
        ),
    ] {
        if d.is_zero() {
            return Err(invalid(
                doc,
                field,
                "a certificate validity period must be longer than 0, e.g. 8760h",
            ));
        }
    }
    let dns = c.dns.unwrap_or_default();
    Ok(ClusterConfig {
        etcd: etcd(doc, c.etcd)?,
        networking: Networking {
            service_subnet,
            pod_subnet,
            dns_domain,
        },
        kubernetes_version,
        control_plane_endpoint,
        api_server: ApiServer {
            component: component(
                doc,
                "apiServer",
                Some(b4::ControlPlaneComponent {
                    extra_args: api.extra_args,
                    extra_volumes: api.extra_volumes,
                    extra_envs: api.extra_envs,
                }),
            )?,
            cert_sans,
        },
        controller_manager: component(doc, "controllerManager", c.controller_manager)?,
        scheduler: component(doc, "scheduler", c.scheduler)?,
        dns: Dns {
            image: ImageMeta {
                image_repository: dns.image_repository.filter(|s| !s.is_empty()),
                image_tag: dns.image_tag.map(|t| t.0).filter(|s| !s.is_empty()),
            },
            disabled: dns.disabled.unwrap_or(false),
        },
        proxy_disabled: c.proxy.and_then(|p| p.disabled).unwrap_or(false),
        certificates_dir,
        image_repository,
        feature_gates: c.feature_gates.unwrap_or_default(),
        cluster_name,
        encryption_algorithm: c
            .encryption_algorithm
            .unwrap_or(EncryptionAlgorithm::Rsa2048),
        certificate_validity_period,
        ca_certificate_validity_period,
    })
}

/// A component config document kept as given (apiVersion and kind restored).
fn component_config(d: &Document) -> serde_json::Value {
    let mut body = d.body.clone();
    body.insert(
        "apiVersion".to_owned(),
        serde_json::Value::String(d.api_version.clone()),
    );
    body.insert(
        "kind".to_owned(),
        serde_json::Value::String(d.kind.name().to_owned()),
    );
    serde_json::Value::Object(body)
}

fn ignored(d: &Document) -> String {
    format!(
        "{}: ignored: {} {} is not used by this command",
        d.at,
        d.api_version,
        d.kind.name()
    )
}

/// The ClusterConfiguration of `docs` alone, as a joining control plane reads it from the
/// kubeadm-config ConfigMap: defaulted and validated as `init` does, without flags.
pub(super) fn cluster_only(
    origin: &Path,
    docs: Vec<Document>,
) -> Result<ClusterConfig, ConfigError> {
    let (at, c) = cluster_document(&docs)?.ok_or_else(|| ConfigError::MissingKind {
        file: origin.to_path_buf(),
        expected: "ClusterConfiguration".to_owned(),
    })?;
    cluster(&at, c, None)
}

/// The ClusterConfiguration of `docs` (kubeadm's defaults without one), with `flags`, for
/// commands that need only the cluster's settings (`config images list`).
pub(super) fn cluster_with_flags(
    docs: Vec<Document>,
    flags: &InitFlags,
) -> Result<ClusterConfig, ConfigError> {
    let (at, c) = cluster_document(&docs)?
        .unwrap_or_else(|| (no_file("ClusterConfiguration"), Default::default()));
    cluster(&at, c, Some(flags))
}

/// The last ClusterConfiguration document of `docs`, as v1beta4.
fn cluster_document(
    docs: &[Document],
) -> Result<Option<(DocumentRef, b4::ClusterConfiguration)>, ConfigError> {
    let mut found = None;
    for d in docs {
        match d.kind {
            Kind::Cluster(ApiVersion::V1beta4) => found = Some((d.at.clone(), d.decode()?)),
            Kind::Cluster(ApiVersion::V1beta3) => {
                let (c, _) = d.decode::<v1beta3::ClusterConfiguration>()?.into_v1beta4();
                found = Some((d.at.clone(), c));
            }
            _ => {}
        }
    }
    Ok(found)
}

pub(super) fn init(
    file: Option<&Path>,
    docs: Vec<Document>,
    flags: &InitFlags,
) -> Result<InitConfig, ConfigError> {
    let mut init_doc: Option<(DocumentRef, b4::InitConfiguration)> = None;
    let mut cluster_doc: Option<(DocumentRef, b4::ClusterConfiguration)> = None;
    let mut v1beta3_cp_timeout = None;
    let mut kubelet_config = None;
    let mut kube_proxy_config = None;
    let mut warnings = Vec::new();
    for d in &docs {
        match d.kind {
            Kind::Init(ApiVersion::V1beta4) => init_doc = Some((d.at.clone(), d.decode()?)),
            Kind::Init(ApiVersion::V1beta3) => {
                init_doc = Some((
                    d.at.clone(),
                    d.decode::<v1beta3::InitConfiguration>()?.into_v1beta4(),
                ))
            }
            Kind::Cluster(ApiVersion::V1beta4) => cluster_doc = Some((d.at.clone(), d.decode()?)),
            Kind::Cluster(ApiVersion::V1beta3) => {
                let (c, t) = d.decode::<v1beta3::ClusterConfiguration>()?.into_v1beta4();
                v1beta3_cp_timeout = t;
                cluster_doc = Some((d.at.clone(), c));
            }
            Kind::Kubelet => kubelet_config = Some(component_config(d)),
            Kind::KubeProxy => kube_proxy_config = Some(component_config(d)),
            Kind::Join(_) | Kind::OtherKubeadm => warnings.push(ignored(d)),
        }
    }
    if let Some(path) = file
        && init_doc.is_none()
        && cluster_doc.is_none()
    {
        return Err(ConfigError::MissingKind {
            file: path.to_path_buf(),
            expected: "InitConfiguration or ClusterConfiguration".to_owned(),
        });
    }
    let (init_ref, i) =
        init_doc.unwrap_or_else(|| (no_file("InitConfiguration"), Default::default()));
    refuse_patches(&init_ref, i.patches, &flags.patches)?;
    let (cluster_ref, c) =
        cluster_doc.unwrap_or_else(|| (no_file("ClusterConfiguration"), Default::default()));

    let cluster = cluster(&cluster_ref, c, Some(flags))?;
    let (node_registration, file_ignores) = node_registration(
        &init_ref,
        i.node_registration,
        &flags.node_name,
        &flags.cri_socket,
        Some(Release::of(&cluster.kubernetes_version).control_plane_taints()),
    )?;
    let local_api_endpoint = api_endpoint(
        i.local_api_endpoint,
        &flags.apiserver_advertise_address,
        flags.apiserver_bind_port,
    )?;

    let mut bootstrap_tokens = bootstrap_tokens(&init_ref, i.bootstrap_tokens)?;
    if let Some(token) = secret_flag::<BootstrapTokenString>("token", &flags.token)? {
        bootstrap_tokens[0].token = token;
    }
    if let Some(ttl) = flag::<GoDuration>("token-ttl", &flags.token_ttl)? {
        bootstrap_tokens[0].expiry = TokenExpiry::Ttl(ttl);
    }
    distinct_token_ids(&init_ref, &bootstrap_tokens)?;
    let certificate_key = secret_flag::<CertificateKey>("certificate-key", &flags.certificate_key)?
        .or(i.certificate_key);

    Ok(InitConfig {
        bootstrap_tokens,
        dry_run: flags.dry_run || i.dry_run.unwrap_or(false),
        node_registration,
        local_api_endpoint,
        certificate_key,
        upload_certs: flags.upload_certs,
        skip_phases: skip_phases(i.skip_phases, &flags.skip_phases),
        ignore_preflight_errors: ignore_preflight(&file_ignores, &flags.ignore_preflight_errors)?,
        timeouts: timeouts(i.timeouts, v1beta3_cp_timeout),
        cluster,
        kubelet_config,
        kube_proxy_config,
        warnings,
    })
}

pub(super) fn join(
    file: Option<&Path>,
    docs: Vec<Document>,
    flags: &JoinFlags,
) -> Result<JoinConfig, ConfigError> {
    let mut join_doc: Option<(DocumentRef, b4::JoinConfiguration)> = None;
    let mut warnings = Vec::new();
    for d in &docs {
        match d.kind {
            Kind::Join(ApiVersion::V1beta4) => join_doc = Some((d.at.clone(), d.decode()?)),
            Kind::Join(ApiVersion::V1beta3) => {
                join_doc = Some((
                    d.at.clone(),
                    d.decode::<v1beta3::JoinConfiguration>()?.into_v1beta4(),
                ))
            }
            _ => warnings.push(ignored(d)),
        }
    }
    if let Some(path) = file
        && join_doc.is_none()
    {
        return Err(ConfigError::MissingKind {
            file: path.to_path_buf(),
            expected: "JoinConfiguration".to_owned(),
        });
    }
    let (doc, j) = join_doc.unwrap_or_else(|| (no_file("JoinConfiguration"), Default::default()));
    refuse_patches(&doc, j.patches, &flags.patches)?;

    let control_plane_wanted = flags.control_plane || j.control_plane.is_some();
    // A control plane's default taints are its cluster's release's, known after discovery.
    let default_taints = if control_plane_wanted {
        None
    } else {
        Some(Vec::new())
    };
    let (node_registration, file_ignores) = node_registration(
        &doc,
        j.node_registration,
        &flags.node_name,
        &flags.cri_socket,
        default_taints,
    )?;

    let control_plane = if control_plane_wanted {
        let cp = j.control_plane.unwrap_or_default();
        Some(JoinControlPlane {
            local_api_endpoint: api_endpoint(
                cp.local_api_endpoint,
                &flags.apiserver_advertise_address,
                flags.apiserver_bind_port,
            )?,
            certificate_key: secret_flag::<CertificateKey>(
                "certificate-key",
                &flags.certificate_key,
            )?
            .or(cp.certificate_key),
        })
    } else {
        None
    };

    let discovery = discovery(&doc, j.discovery.unwrap_or_default(), flags)?;

    Ok(JoinConfig {
        dry_run: flags.dry_run || j.dry_run.unwrap_or(false),
        node_registration,
        ca_cert_path: j
            .ca_cert_path
            .unwrap_or_else(|| constant(DEFAULT_CA_CERT_PATH)),
        discovery,
        tls_bootstrap: flags.tls_bootstrap,
        control_plane,
        skip_phases: skip_phases(j.skip_phases, &flags.skip_phases),
        ignore_preflight_errors: ignore_preflight(&file_ignores, &flags.ignore_preflight_errors)?,
        timeouts: timeouts(j.timeouts, None),
        warnings,
    })
}

fn discovery(
    doc: &DocumentRef,
    d: b4::Discovery,
    flags: &JoinFlags,
) -> Result<Discovery, ConfigError> {
    let token_flag = secret_flag::<BootstrapTokenString>("token", &flags.token)?;
    let discovery_token_flag =
        secret_flag::<BootstrapTokenString>("discovery-token", &flags.discovery_token)?;
    let tls_flag =
        secret_flag::<BootstrapTokenString>("tls-bootstrap-token", &flags.tls_bootstrap_token)?;
    let endpoint_flag = flag::<Endpoint>("<api-server-endpoint>", &flags.endpoint)?;
    let hashes_flag = flags
        .discovery_token_ca_cert_hashes
        .iter()
        .flat_map(|s| s.split(','))
        .map(|h| {
            h.trim()
                .parse()
                .map_err(|e| ConfigError::flag("discovery-token-ca-cert-hash", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let file_path = flags
        .discovery_file
        .clone()
        .filter(|f| !f.is_empty())
        .or(d.file.map(|f| f.kube_config_path).filter(|p| !p.is_empty()));
    let bt = d.bootstrap_token.unwrap_or_default();
    let token = discovery_token_flag.or(token_flag.clone()).or(bt.token);
    let endpoint = endpoint_flag.or(bt.api_server_endpoint);
    let token_discovery_given = token.is_some() || endpoint.is_some();

    let method = match (file_path, token_discovery_given) {
        (Some(_), true)
            if flags.discovery_file.is_none()
                && (flags.token.is_none()
                    && flags.discovery_token.is_none()
                    && flags.endpoint.is_none()) =>
        {
            return Err(invalid(
                doc,
                "discovery",
                "discovery.bootstrapToken and discovery.file are mutually exclusive: give one of them",
            ));
        }
        (Some(_), true) => {
            return Err(ConfigError::conflict(
                &[
                    "--discovery-file",
                    "--token",
                    "--discovery-token",
                    "discovery.bootstrapToken",
                    "discovery.file",
                ],
                "file discovery (--discovery-file / discovery.file) and token discovery (--token / --discovery-token / <host:port> / discovery.bootstrapToken) are mutually exclusive: use one of them",
            ));
        }
        (Some(path), false) => DiscoveryMethod::File {
            kubeconfig_path: file_path_normalised(path),
        },
        (None, true) => {
            let token = token.ok_or_else(|| ConfigError::conflict(
                &["--token", "--discovery-token", "discovery.bootstrapToken.token"],
                "token discovery needs a token: give --token (or --discovery-token) or discovery.bootstrapToken.token, of the form abcdef.0123456789abcdef",
            ))?;
            let api_server_endpoint = endpoint.ok_or_else(|| ConfigError::conflict(
                &["<api-server-endpoint>", "discovery.bootstrapToken.apiServerEndpoint"],
                "token discovery needs the API server endpoint: give it as `join <host:port>` or discovery.bootstrapToken.apiServerEndpoint",
            ))?;
            let ca_cert_hashes = if hashes_flag.is_empty() {
                bt.ca_cert_hashes.unwrap_or_default()
            } else {
                hashes_flag
            };
            let unsafe_skip_ca_verification = flags.discovery_token_unsafe_skip_ca_verification
                || bt.unsafe_skip_ca_verification.unwrap_or(false);
            if ca_cert_hashes.is_empty() && !unsafe_skip_ca_verification {
                return Err(ConfigError::conflict(
                    &[
                        "discovery.bootstrapToken.caCertHashes",
                        "--discovery-token-ca-cert-hash",
                        "--discovery-token-unsafe-skip-ca-verification",
                    ],
                    "using token-based discovery without caCertHashes can be unsafe: give --discovery-token-ca-cert-hash sha256:<hex> (or discovery.bootstrapToken.caCertHashes), or set unsafeSkipCAVerification / --discovery-token-unsafe-skip-ca-verification to continue without pinning the CA",
                ));
            }
            DiscoveryMethod::BootstrapToken(BootstrapTokenDiscovery {
                token,
                api_server_endpoint,
                ca_cert_hashes,
                unsafe_skip_ca_verification,
            })
        }
        (None, false) => {
            return Err(ConfigError::conflict(
                &[
                    "discovery.bootstrapToken",
                    "discovery.file",
                    "--token",
                    "--discovery-file",
                ],
                "join needs a discovery method: `join <host:port> --token <token> --discovery-token-ca-cert-hash sha256:<hex>`, or --discovery-file <kubeconfig|https URL>, or a JoinConfiguration with discovery.bootstrapToken or discovery.file",
            ));
        }
    };
    let tls_bootstrap_token = tls_flag
        .or(token_flag)
        .or(d.tls_bootstrap_token)
        .or(match &method {
            DiscoveryMethod::BootstrapToken(b) => Some(b.token.clone()),
            DiscoveryMethod::File { .. } => None,
        });
    Ok(Discovery {
        method,
        tls_bootstrap_token,
    })
}

/// kubeadm turns `file://` URLs into paths.
fn file_path_normalised(path: String) -> String {
    match path.strip_prefix("file://") {
        Some(p) => p.to_owned(),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_defaults_parse() {
        let _: SubnetList = constant(DEFAULT_SERVICE_SUBNET);
        let _: DnsDomain = constant(DEFAULT_DNS_DOMAIN);
        let _: AbsPath = constant(DEFAULT_CERTIFICATES_DIR);
        let _: AbsPath = constant(DEFAULT_ETCD_DATA_DIR);
        let _: AbsPath = constant(DEFAULT_CA_CERT_PATH);
    }

    #[test]
    fn preflight_union_is_lowercased_sorted_and_all_stands_alone() {
        let got = ignore_preflight(&["Swap".into()], &["NumCPU,swap".into()]).unwrap();
        assert_eq!(got, vec!["numcpu", "swap"]);
        assert!(ignore_preflight(&["all".into()], &["Swap".into()]).is_err());
        assert_eq!(ignore_preflight(&[], &["All".into()]).unwrap(), vec!["all"]);
    }
}
