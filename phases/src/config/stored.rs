//! ConfigMap kube-system/kubeadm-config as each kubeadm release writes it, and reading back
//! whatever any supported release wrote.
//!
//! kubeadm reads this ConfigMap in `join`, `upgrade`, `certs` and `reset`, and decodes only the
//! API versions it knows: kubeadm 1.20 cannot decode v1beta4 ("no kind ClusterConfiguration is
//! registered for version kubeadm.k8s.io/v1beta4"). So kubestrap stores the document in the
//! version of the cluster's release ([`Release::config_api`]), shaped as that release's kubeadm
//! shapes it, and with `ClusterStatus` where that release keeps one.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::document::parse_documents;
use super::effective::{ApiEndpoint, ClusterConfig, InitConfig};
use super::error::ConfigError;
use super::release::{ConfigApi, Release};
use super::render::{cluster_wire, document, emit};
use super::well_known::{CLUSTER_CONFIGURATION_KEY, CLUSTER_STATUS_KEY};
use super::{GoDuration, build};

/// The `data` of kubeadm-config for the cluster `init` makes: `ClusterConfiguration`, and
/// `ClusterStatus` with this node's API endpoint where the release keeps one.
pub fn kubeadm_config_data(cfg: &InitConfig) -> BTreeMap<String, String> {
    let release = Release::of(&cfg.cluster.kubernetes_version);
    let mut data = BTreeMap::from([(
        CLUSTER_CONFIGURATION_KEY.to_owned(),
        cluster_configuration(
            &cfg.cluster,
            release,
            cfg.timeouts.control_plane_component_health_check,
        ),
    )]);
    if release.stores_cluster_status() {
        let status = cluster_status_with(
            None,
            cfg.node_registration.name.as_str(),
            Some(&cfg.local_api_endpoint),
        );
        data.insert(CLUSTER_STATUS_KEY.to_owned(), status);
    }
    data
}

/// The ClusterConfiguration document as kubeadm of `release` stores it. `control_plane_timeout`
/// is v1beta4's `timeouts.controlPlaneComponentHealthCheck`, which older versions keep in the
/// ClusterConfiguration (`apiServer.timeoutForControlPlane`).
pub fn cluster_configuration(
    cluster: &ClusterConfig,
    release: Release,
    control_plane_timeout: GoDuration,
) -> String {
    let mut doc = document("ClusterConfiguration", &cluster_wire(cluster));
    if let Value::Object(map) = &mut doc {
        if release.stores_authorization_mode() {
            default_authorization_mode(map);
        }
        let api = release.config_api();
        if api < ConfigApi::V1beta4 {
            to_v1beta3(map, control_plane_timeout);
        }
        if api < ConfigApi::V1beta3 {
            // v1beta2's `dns.type` (CoreDNS is the only type kubeadm 1.20+ deploys).
            object(map, "dns").insert("type".into(), json!("CoreDNS"));
        }
        map.insert("apiVersion".into(), json!(api.api_version()));
    }
    emit(&doc)
}

/// kubeadm up to 1.29 put the API server's defaulted `--authorization-mode` into the
/// configuration before uploading it (getAPIServerCommand); a user's value is kept.
fn default_authorization_mode(doc: &mut Map<String, Value>) {
    let args = object(doc, "apiServer")
        .entry("extraArgs")
        .or_insert_with(|| json!([]));
    if let Value::Array(list) = args
        && !list.iter().any(|a| a["name"] == "authorization-mode")
    {
        list.push(json!({"name": "authorization-mode", "value": "Node,RBAC"}));
    }
}

/// v1beta4 → v1beta3, the reverse of kubeadm's conversion: `extraArgs` lists become maps (a
/// repeated name keeps its last value, as v1beta3 cannot hold two), and what v1beta3 lacks is
/// dropped (`extraEnvs`, `proxy`, `dns.disabled`, the certificate validity periods and
/// encryption algorithm); the control-plane timeout moves back into `apiServer`.
fn to_v1beta3(doc: &mut Map<String, Value>, control_plane_timeout: GoDuration) {
    for key in [
        "encryptionAlgorithm",
        "certificateValidityPeriod",
        "caCertificateValidityPeriod",
        "proxy",
    ] {
        doc.remove(key);
    }
    object(doc, "dns").remove("disabled");
    object(doc, "apiServer").insert(
        "timeoutForControlPlane".into(),
        json!(control_plane_timeout.to_string()),
    );
    for component in ["apiServer", "controllerManager", "scheduler"] {
        args_to_map(object(doc, component));
    }
    if let Some(Value::Object(local)) = doc.get_mut("etcd").and_then(|e| e.get_mut("local")) {
        args_to_map(local);
    }
}

fn args_to_map(component: &mut Map<String, Value>) {
    component.remove("extraEnvs");
    if let Some(Value::Array(list)) = component.remove("extraArgs") {
        let map: Map<String, Value> = list
            .into_iter()
            .filter_map(|a| Some((a.get("name")?.as_str()?.to_owned(), a.get("value")?.clone())))
            .collect();
        component.insert("extraArgs".into(), Value::Object(map));
    }
}

/// The object under `key`, made empty if missing (kubeadm writes `dns: {}`, `scheduler: {}`).
fn object<'m>(doc: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = doc.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// `ClusterStatus` (kubeadm ≤ 1.21) with `node`'s API endpoint set, or removed when `endpoint`
/// is `None` (kubeadm's `control-plane-join/update-status` and reset's `update-cluster-status`).
/// A missing or unreadable status starts afresh: kubeadm would refuse it, but the endpoints it
/// lists are exactly the control planes that joined through it.
pub fn cluster_status_with(
    status: Option<&str>,
    node: &str,
    endpoint: Option<&ApiEndpoint>,
) -> String {
    let mut doc: Value = status
        .and_then(|s| serde_saphyr::from_str(s).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Value::Object(map) = &mut doc {
        map.insert("apiVersion".into(), json!(ConfigApi::V1beta2.api_version()));
        map.insert("kind".into(), json!("ClusterStatus"));
        let endpoints = object(map, "apiEndpoints");
        match endpoint {
            Some(e) => {
                endpoints.insert(
                    node.to_owned(),
                    json!({
                        "advertiseAddress": e.advertise_address.to_string(),
                        "bindPort": e.bind_port,
                    }),
                );
            }
            None => {
                endpoints.remove(node);
            }
        }
    }
    emit(&doc)
}

/// Parses the ClusterConfiguration stored under kubeadm-config's `ClusterConfiguration` key, as
/// any supported kubeadm wrote it: v1beta4, v1beta3, or kubeadm 1.20/1.21's v1beta2, read as
/// the v1beta3 it differs from only by `dns.type` and `useHyperKubeImage` (kubeadm's own
/// conversion drops both). `origin` names the source in errors.
pub fn parse_cluster_configuration(
    origin: &Path,
    text: &str,
) -> Result<ClusterConfig, ConfigError> {
    let v1beta2 = format!("apiVersion: {}", ConfigApi::V1beta2.api_version());
    let text = if text.lines().any(|l| l.trim_end() == v1beta2) {
        v1beta2_as_v1beta3(text).unwrap_or_else(|| text.to_owned())
    } else {
        text.to_owned()
    };
    build::cluster_only(origin, parse_documents(origin, &text)?)
}

/// A v1beta2 ClusterConfiguration rewritten as v1beta3; `None` if it is not a YAML mapping
/// (the v1beta2 text then fails to parse with the usual message).
fn v1beta2_as_v1beta3(text: &str) -> Option<String> {
    let mut doc: Value = serde_saphyr::from_str(text).ok()?;
    let map = doc.as_object_mut()?;
    map.remove("useHyperKubeImage");
    if let Some(Value::Object(dns)) = map.get_mut("dns") {
        dns.remove("type");
    }
    map.insert("apiVersion".into(), json!(ConfigApi::V1beta3.api_version()));
    Some(emit(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{InitFlags, load_init_text};

    fn init(version: &str, extra: &str) -> InitConfig {
        let text = format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: cp1\nlocalAPIEndpoint:\n  advertiseAddress: 127.0.0.5\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: {version}\n{extra}"
        );
        load_init_text(Path::new("init.yaml"), &text, &InitFlags::default()).unwrap()
    }

    /// kubeadm 1.21.5's kubeadm-config, from a real cluster (search index id 7831337439), but
    /// for this test's node, address and version.
    #[test]
    fn a_1_20_cluster_stores_v1beta2_with_its_cluster_status_like_kubeadm_1_20() {
        let data = kubeadm_config_data(&init("v1.20.2", "imageRepository: k8s.gcr.io\n"));
        assert_eq!(
            data["ClusterConfiguration"],
            "apiServer:
  extraArgs:
    authorization-mode: Node,RBAC
  timeoutForControlPlane: 4m0s
apiVersion: kubeadm.k8s.io/v1beta2
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controllerManager: {}
dns:
  type: CoreDNS
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: k8s.gcr.io
kind: ClusterConfiguration
kubernetesVersion: v1.20.2
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
scheduler: {}
"
        );
        assert_eq!(
            data["ClusterStatus"],
            "apiEndpoints:
  cp1:
    advertiseAddress: 127.0.0.5
    bindPort: 6443
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterStatus
"
        );
    }

    #[test]
    fn a_joining_control_plane_adds_its_endpoint_and_reset_removes_it() {
        let data = kubeadm_config_data(&init("v1.21.0", ""));
        let second = ApiEndpoint {
            advertise_address: "127.0.0.6".parse().unwrap(),
            bind_port: 6443,
        };
        let joined = cluster_status_with(Some(&data["ClusterStatus"]), "cp2", Some(&second));
        assert_eq!(
            joined,
            "apiEndpoints:
  cp1:
    advertiseAddress: 127.0.0.5
    bindPort: 6443
  cp2:
    advertiseAddress: 127.0.0.6
    bindPort: 6443
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterStatus
"
        );
        let left = cluster_status_with(Some(&joined), "cp2", None);
        assert_eq!(left, data["ClusterStatus"]);
        // No status (or none readable): one with just this node.
        let fresh = cluster_status_with(Some("not: [yaml"), "cp2", Some(&second));
        assert!(fresh.starts_with("apiEndpoints:\n  cp2:\n"), "{fresh}");
    }

    #[test]
    fn v1beta3_from_1_22_v1beta4_from_1_31_and_no_cluster_status_after_1_21() {
        let extra = "apiServer:\n  extraArgs:\n  - name: audit-log-maxage\n    value: \"30\"\n";
        let data = kubeadm_config_data(&init("v1.26.9", extra));
        assert!(!data.contains_key("ClusterStatus"));
        let doc = &data["ClusterConfiguration"];
        assert!(
            doc.contains("apiVersion: kubeadm.k8s.io/v1beta3\n"),
            "{doc}"
        );
        assert!(
            doc.contains(
                "  extraArgs:\n    audit-log-maxage: \"30\"\n    authorization-mode: Node,RBAC\n"
            ),
            "{doc}"
        );
        assert!(!doc.contains("encryptionAlgorithm"), "{doc}");
        assert!(!doc.contains("proxy"), "{doc}");
        let doc = &kubeadm_config_data(&init("v1.30.0", ""))["ClusterConfiguration"];
        assert!(!doc.contains("authorization-mode"), "{doc}");
        let doc = &kubeadm_config_data(&init("v1.31.0", ""))["ClusterConfiguration"];
        assert!(
            doc.contains("apiVersion: kubeadm.k8s.io/v1beta4\n"),
            "{doc}"
        );
        assert!(doc.contains("encryptionAlgorithm: RSA-2048\n"), "{doc}");
    }

    #[test]
    fn every_stored_form_reads_back_as_the_cluster_it_came_from() {
        for version in [
            "v1.20.2", "v1.21.0", "v1.22.0", "v1.30.1", "v1.31.0", "v1.33.0", "v1.37.0",
        ] {
            let cfg = init(version, "networking:\n  podSubnet: 10.244.0.0/16\n");
            let data = kubeadm_config_data(&cfg);
            let back = parse_cluster_configuration(
                Path::new("kubeadm-config"),
                &data["ClusterConfiguration"],
            )
            .unwrap_or_else(|e| panic!("{version}: {e}"));
            assert_eq!(back.kubernetes_version, cfg.cluster.kubernetes_version);
            assert_eq!(back.networking, cfg.cluster.networking, "{version}");
            assert_eq!(back.certificates_dir, cfg.cluster.certificates_dir);
        }
    }
}
