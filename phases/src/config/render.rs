//! The effective configuration written back as kubeadm v1beta4 YAML, laid out like kubeadm's
//! own output (keys sorted, Go's yaml style), and the `config print` defaults.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

use super::effective::*;
use super::wire::{ScalarString, v1beta4 as b4};

const API_VERSION: &str = "kubeadm.k8s.io/v1beta4";
/// kubeadm's placeholders in `config print`.
const PLACEHOLDER_TOKEN: &str = "abcdef.0123456789abcdef";
const PLACEHOLDER_NODE: &str = "node";
const PLACEHOLDER_ADVERTISE: IpAddr = IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4));
const PLACEHOLDER_DISCOVERY_ENDPOINT: &str = "kube-apiserver:6443";

fn some_vec<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn args(list: &[Arg]) -> Option<Vec<b4::Arg>> {
    some_vec(
        list.iter()
            .map(|a| b4::Arg {
                name: a.name.clone(),
                value: ScalarString(a.value.clone()),
            })
            .collect(),
    )
}

fn envs(list: &[EnvVar]) -> Option<Vec<b4::EnvVar>> {
    some_vec(
        list.iter()
            .map(|e| b4::EnvVar {
                name: e.name.clone(),
                value: e.value.clone(),
                value_from: e.value_from.clone(),
            })
            .collect(),
    )
}

fn volumes(list: &[HostPathMount]) -> Option<Vec<b4::HostPathMount>> {
    some_vec(
        list.iter()
            .map(|v| b4::HostPathMount {
                name: v.name.clone(),
                host_path: v.host_path.to_string(),
                mount_path: v.mount_path.to_string(),
                read_only: v.read_only.then_some(true),
                path_type: Some(v.path_type).filter(|t| *t != super::values::HostPathType::Unset),
            })
            .collect(),
    )
}

fn component(c: &ControlPlaneComponent) -> b4::ControlPlaneComponent {
    b4::ControlPlaneComponent {
        extra_args: args(&c.extra_args),
        extra_volumes: volumes(&c.extra_volumes),
        extra_envs: envs(&c.extra_envs),
    }
}

fn node_registration(n: &NodeRegistration, ignore: &[String]) -> b4::NodeRegistrationOptions {
    b4::NodeRegistrationOptions {
        name: Some(n.name.clone()),
        cri_socket: Some(n.cri_socket.clone()),
        taints: n.taints.as_ref().map(|taints| {
            taints
                .iter()
                .map(|t| b4::Taint {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    effect: t.effect,
                    time_added: None,
                })
                .collect()
        }),
        kubelet_extra_args: args(&n.kubelet_extra_args),
        ignore_preflight_errors: some_vec(ignore.to_vec()),
        image_pull_policy: Some(n.image_pull_policy),
        image_pull_serial: Some(n.image_pull_serial),
    }
}

fn endpoint(e: &ApiEndpoint) -> b4::ApiEndpoint {
    b4::ApiEndpoint {
        advertise_address: Some(e.advertise_address),
        bind_port: Some(e.bind_port),
    }
}

fn timeouts(t: &Timeouts) -> b4::Timeouts {
    b4::Timeouts {
        control_plane_component_health_check: Some(t.control_plane_component_health_check),
        kubelet_health_check: Some(t.kubelet_health_check),
        kubernetes_api_call: Some(t.kubernetes_api_call),
        etcd_api_call: Some(t.etcd_api_call),
        tls_bootstrap: Some(t.tls_bootstrap),
        discovery: Some(t.discovery),
        upgrade_manifests: Some(t.upgrade_manifests),
    }
}

fn image(i: &ImageMeta) -> (Option<String>, Option<ScalarString>) {
    (
        i.image_repository.clone(),
        i.image_tag.clone().map(ScalarString),
    )
}

pub(super) fn cluster_wire(c: &ClusterConfig) -> b4::ClusterConfiguration {
    let etcd = match &c.etcd {
        EtcdConfig::Local(l) => {
            let (image_repository, image_tag) = image(&l.image);
            b4::Etcd {
                local: Some(b4::LocalEtcd {
                    image_repository,
                    image_tag,
                    data_dir: Some(l.data_dir.clone()),
                    extra_args: args(&l.extra_args),
                    extra_envs: envs(&l.extra_envs),
                    server_cert_sans: some_vec(l.server_cert_sans.clone()),
                    peer_cert_sans: some_vec(l.peer_cert_sans.clone()),
                }),
                external: None,
            }
        }
        EtcdConfig::External(x) => b4::Etcd {
            local: None,
            external: Some(b4::ExternalEtcd {
                endpoints: Some(x.endpoints.clone()),
                ca_file: x.tls.as_ref().map(|t| t.ca_file.clone()),
                cert_file: x.tls.as_ref().map(|t| t.cert_file.clone()),
                key_file: x.tls.as_ref().map(|t| t.key_file.clone()),
            }),
        },
    };
    let api = component(&c.api_server.component);
    let (dns_repo, dns_tag) = image(&c.dns.image);
    b4::ClusterConfiguration {
        etcd: Some(etcd),
        networking: Some(b4::Networking {
            service_subnet: Some(c.networking.service_subnet.clone()),
            pod_subnet: c.networking.pod_subnet.clone(),
            dns_domain: Some(c.networking.dns_domain.clone()),
        }),
        kubernetes_version: Some(c.kubernetes_version.clone()),
        control_plane_endpoint: c.control_plane_endpoint.clone(),
        api_server: Some(b4::ApiServer {
            extra_args: api.extra_args,
            extra_volumes: api.extra_volumes,
            extra_envs: api.extra_envs,
            cert_sans: some_vec(c.api_server.cert_sans.clone()),
        }),
        controller_manager: Some(component(&c.controller_manager)),
        scheduler: Some(component(&c.scheduler)),
        dns: Some(b4::Dns {
            image_repository: dns_repo,
            image_tag: dns_tag,
            disabled: c.dns.disabled.then_some(true),
        }),
        proxy: Some(b4::Proxy {
            disabled: c.proxy_disabled.then_some(true),
        }),
        certificates_dir: Some(c.certificates_dir.clone()),
        image_repository: Some(c.image_repository.clone()),
        feature_gates: (!c.feature_gates.is_empty()).then(|| c.feature_gates.clone()),
        cluster_name: Some(c.cluster_name.clone()),
        encryption_algorithm: Some(c.encryption_algorithm),
        certificate_validity_period: Some(c.certificate_validity_period),
        ca_certificate_validity_period: Some(c.ca_certificate_validity_period),
    }
}

fn init_wire(c: &InitConfig) -> b4::InitConfiguration {
    b4::InitConfiguration {
        bootstrap_tokens: Some(
            c.bootstrap_tokens
                .iter()
                .map(|t| b4::BootstrapToken {
                    token: Some(t.token.clone()),
                    description: t.description.clone(),
                    ttl: match t.expiry {
                        TokenExpiry::Ttl(d) => Some(d),
                        TokenExpiry::Expires(_) => None,
                    },
                    expires: match t.expiry {
                        TokenExpiry::Expires(at) => at
                            .format(&time::format_description::well_known::Rfc3339)
                            .ok(),
                        TokenExpiry::Ttl(_) => None,
                    },
                    usages: Some(t.usages.clone()),
                    groups: Some(t.groups.clone()),
                })
                .collect(),
        ),
        dry_run: c.dry_run.then_some(true),
        node_registration: Some(node_registration(
            &c.node_registration,
            &c.ignore_preflight_errors,
        )),
        local_api_endpoint: Some(endpoint(&c.local_api_endpoint)),
        certificate_key: c.certificate_key.clone(),
        skip_phases: some_vec(c.skip_phases.clone()),
        // Refused while loading (kubestrap does not apply patches yet): never set.
        patches: None,
        timeouts: Some(timeouts(&c.timeouts)),
    }
}

fn join_wire(c: &JoinConfig) -> b4::JoinConfiguration {
    let (bootstrap_token, file) = match &c.discovery.method {
        DiscoveryMethod::BootstrapToken(b) => (
            Some(b4::BootstrapTokenDiscovery {
                token: Some(b.token.clone()),
                api_server_endpoint: Some(b.api_server_endpoint.clone()),
                ca_cert_hashes: some_vec(b.ca_cert_hashes.clone()),
                unsafe_skip_ca_verification: b.unsafe_skip_ca_verification.then_some(true),
            }),
            None,
        ),
        DiscoveryMethod::File { kubeconfig_path } => (
            None,
            Some(b4::FileDiscovery {
                kube_config_path: kubeconfig_path.clone(),
            }),
        ),
    };
    b4::JoinConfiguration {
        dry_run: c.dry_run.then_some(true),
        node_registration: Some(node_registration(
            &c.node_registration,
            &c.ignore_preflight_errors,
        )),
        ca_cert_path: Some(c.ca_cert_path.clone()),
        discovery: Some(b4::Discovery {
            bootstrap_token,
            file,
            tls_bootstrap_token: c.discovery.tls_bootstrap_token.clone(),
        }),
        control_plane: c.control_plane.as_ref().map(|cp| b4::JoinControlPlane {
            local_api_endpoint: Some(endpoint(&cp.local_api_endpoint)),
            certificate_key: cp.certificate_key.clone(),
        }),
        skip_phases: some_vec(c.skip_phases.clone()),
        patches: None,
        timeouts: Some(timeouts(&c.timeouts)),
    }
}

/// Serialises a wire document with its type header, dropping unset (null) fields the way
/// Go's `omitempty` does; empty structs stay as `{}` like kubeadm prints them.
pub(super) fn document<T: serde::Serialize>(kind: &str, wire: &T) -> Value {
    let mut v = serde_json::to_value(wire).unwrap_or(Value::Null);
    strip_nulls(&mut v);
    if let Value::Object(map) = &mut v {
        map.insert(
            "apiVersion".to_owned(),
            Value::String(API_VERSION.to_owned()),
        );
        map.insert("kind".to_owned(), Value::String(kind.to_owned()));
    }
    v
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

pub(super) fn cluster_yaml(c: &ClusterConfig) -> String {
    emit(&document("ClusterConfiguration", &cluster_wire(c)))
}

pub(super) fn init_yaml(c: &InitConfig) -> String {
    let mut docs = vec![
        emit(&document("InitConfiguration", &init_wire(c))),
        cluster_yaml(&c.cluster),
    ];
    docs.extend(c.kubelet_config.iter().map(emit));
    docs.extend(c.kube_proxy_config.iter().map(emit));
    docs.join("---\n")
}

pub(super) fn join_yaml(c: &JoinConfig) -> String {
    emit(&document("JoinConfiguration", &join_wire(c)))
}

/// kubeadm prints `taints: null` in the defaults: "unset", i.e. the default for the node.
fn unset_taints(doc: &mut Value) {
    if let Some(nr) = doc
        .get_mut("nodeRegistration")
        .and_then(Value::as_object_mut)
    {
        nr.insert("taints".to_owned(), Value::Null);
    }
}

pub(super) fn init_defaults() -> String {
    let flags = super::InitFlags {
        apiserver_advertise_address: Some(PLACEHOLDER_ADVERTISE.to_string()),
        node_name: Some(PLACEHOLDER_NODE.to_owned()),
        token: Some(PLACEHOLDER_TOKEN.into()),
        ..Default::default()
    };
    match super::build::init(None, Vec::new(), &flags) {
        Ok(cfg) => {
            let mut init = document("InitConfiguration", &init_wire(&cfg));
            unset_taints(&mut init);
            let mut cluster = document("ClusterConfiguration", &cluster_wire(&cfg.cluster));
            if let Some(doc) = cluster.as_object_mut() {
                // kubeadm prints `CurrentKubernetesVersion.String()` unnormalised here
                // (DefaultedStaticInitConfiguration): apimachinery's form, without the `v`.
                doc.insert(
                    "kubernetesVersion".to_owned(),
                    Value::String(cfg.cluster.kubernetes_version.without_v()),
                );
            }
            format!("{}---\n{}", emit(&init), emit(&cluster))
        }
        Err(e) => format!("# cannot build defaults: {e}\n"),
    }
}

pub(super) fn join_defaults() -> String {
    let flags = super::JoinFlags {
        endpoint: Some(PLACEHOLDER_DISCOVERY_ENDPOINT.to_owned()),
        token: Some(PLACEHOLDER_TOKEN.into()),
        discovery_token_unsafe_skip_ca_verification: true,
        node_name: Some(PLACEHOLDER_NODE.to_owned()),
        ..Default::default()
    };
    match super::build::join(None, Vec::new(), &flags) {
        Ok(cfg) => {
            let mut join = document("JoinConfiguration", &join_wire(&cfg));
            unset_taints(&mut join);
            emit(&join)
        }
        Err(e) => format!("# cannot build defaults: {e}\n"),
    }
}

// ---- YAML emitter in the style of Go's sigs.k8s.io/yaml (what kubeadm prints) ----

/// Whether a string must be quoted to stay a string when read back.
fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s != s.trim() {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | ".nan"
    ) || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
    {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !(first == '-' && s.len() > 1 && !s[1..].starts_with(' '))
    {
        return true;
    }
    s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.contains('\n')
        || s.contains('\t')
        || s.chars().any(char::is_control)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if needs_quotes(s) => {
            serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
        }
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "[]".to_owned(),
        Value::Object(m) if m.is_empty() => "{}".to_owned(),
        _ => String::new(),
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(m) if !m.is_empty())
}

fn emit_map(
    map: &serde_json::Map<String, Value>,
    indent: usize,
    out: &mut String,
    first_line_prefix: Option<&str>,
) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for (i, key) in keys.into_iter().enumerate() {
        let value = &map[key];
        match (i, first_line_prefix) {
            (0, Some(prefix)) => out.push_str(prefix),
            _ => out.push_str(&" ".repeat(indent)),
        }
        let k = if needs_quotes(key) {
            scalar(&Value::String(key.clone()))
        } else {
            key.clone()
        };
        if is_block(value) {
            out.push_str(&k);
            out.push_str(":\n");
            match value {
                // Go's yaml puts a mapping's sequence at the mapping's own indentation.
                Value::Array(items) => emit_seq(items, indent, out),
                Value::Object(m) => emit_map(m, indent + 2, out, None),
                _ => {}
            }
        } else {
            out.push_str(&format!("{k}: {}\n", scalar(value)));
        }
    }
}

fn emit_seq(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        let prefix = format!("{}- ", " ".repeat(indent));
        match item {
            Value::Object(m) if !m.is_empty() => emit_map(m, indent + 2, out, Some(&prefix)),
            Value::Array(a) if !a.is_empty() => {
                out.push_str(&prefix);
                out.push('\n');
                emit_seq(a, indent + 2, out);
            }
            other => out.push_str(&format!("{prefix}{}\n", scalar(other))),
        }
    }
}

/// One YAML document for `v` (a mapping at the top level).
pub(super) fn emit(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(m, 0, &mut out, None),
        Value::Array(a) if !a.is_empty() => emit_seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_go_style_yaml_that_reads_back() {
        let v = serde_json::json!({
            "b": [{"y": "1", "x": ["p", "q"]}, "s"],
            "a": {"k": "v: w", "e": {}, "n": true, "z": "", "num": 5, "t": "24h0m0s"},
            "empty": [],
        });
        let text = emit(&v);
        assert_eq!(
            text,
            "a:\n  e: {}\n  k: \"v: w\"\n  \"n\": true\n  num: 5\n  t: 24h0m0s\n  z: \"\"\nb:\n- x:\n  - p\n  - q\n  \"y\": \"1\"\n- s\nempty: []\n"
        );
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
