//! The kubelet's own files: its configuration (`/var/lib/kubelet/config.yaml`, kubeadm's
//! `kubeadm-flags.env`) and its serving certificate. Client rotation keeps kubelet.conf's
//! certificate alive; the serving certificate is what the API server's `logs`/`exec` calls
//! (and metrics-server) verify.

use std::path::PathBuf;

use serde_json::Value;

use super::certs::expiry;
use super::{NodeFiles, Read, shown, unreadable_why};
use crate::config::well_known::KUBELET_CLIENT_CURRENT;
use crate::doctor::{Evidence, Finding, FindingId};

/// The kubelet does not rotate its client certificate: kubelet.conf's certificate expires after
/// a year and the node goes NotReady.
pub const KUBELET_CLIENT_ROTATION_OFF: FindingId = FindingId("kubelet-client-rotation-off");
/// The kubelet's serving certificate is expired, or does not name the node.
pub const KUBELET_SERVING_CERT: FindingId = FindingId("kubelet-serving-cert");

/// The kubelet's self-signed serving pair (the kubelet's `cert-dir`, default
/// `/var/lib/kubelet/pki`, `kubelet.crt`/`kubelet.key`) and, with `serverTLSBootstrap`, the
/// rotated one the kubelet links as `kubelet-server-current.pem`.
const SELF_SIGNED_SERVING: &str = "kubelet.crt";
const ROTATED_SERVING: &str = "kubelet-server-current.pem";

/// `/var/lib/kubelet/config.yaml`, parsed.
pub(super) struct KubeletConfig {
    pub(super) path: PathBuf,
    doc: Value,
}

impl KubeletConfig {
    pub(super) fn read(files: &NodeFiles<'_>) -> Read<Self> {
        let path = files.node.kubelet_dir.join("config.yaml");
        match files.text(&path) {
            Read::Absent => Read::Absent,
            Read::Unreadable(f) => Read::Unreadable(f),
            Read::Parsed(text) => match serde_saphyr::from_str::<Value>(&text) {
                Ok(doc) if doc.is_object() => Read::Parsed(Self { path, doc }),
                _ => Read::Unreadable(unreadable_why(&path, "not a KubeletConfiguration document")),
            },
        }
    }

    fn str_at(&self, pointer: &str) -> Option<String> {
        self.doc.pointer(pointer)?.as_str().map(str::to_string)
    }

    pub(super) fn client_ca_file(&self) -> Option<String> {
        self.str_at("/authentication/x509/clientCAFile")
            .filter(|s| !s.is_empty())
    }

    fn rotate_certificates(&self) -> Option<bool> {
        self.doc.get("rotateCertificates")?.as_bool()
    }
}

/// `networking.dnsDomain` as the kubelet has it (`clusterDomain`), when it can be read.
pub(super) fn cluster_domain(files: &NodeFiles<'_>) -> Option<String> {
    KubeletConfig::read(files)
        .parsed()?
        .str_at("/clusterDomain")
        .filter(|s| !s.is_empty())
}

/// `KUBELET_KUBEADM_ARGS` of kubeadm-flags.env as `(name, value)` pairs; flags on the kubelet's
/// command line override its config file.
fn kubeadm_flags(files: &NodeFiles<'_>) -> Vec<(String, String)> {
    let path = files.node.kubelet_dir.join("kubeadm-flags.env");
    let Some(text) = files.text(&path).parsed() else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("KUBELET_KUBEADM_ARGS="))
        .flat_map(|v| {
            v.trim_matches('"')
                .split_whitespace()
                .filter_map(|a| {
                    let (n, v) = a.strip_prefix("--")?.split_once('=')?;
                    Some((n.to_string(), v.to_string()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The kubelet's certificate directory: `--cert-dir` when kubeadm-flags.env gives one, else
/// `/var/lib/kubelet/pki`.
pub(super) fn kubelet_pki_dir(files: &NodeFiles<'_>) -> PathBuf {
    kubeadm_flags(files)
        .into_iter()
        .rev()
        .find(|(n, _)| n == "cert-dir")
        .map(|(_, v)| files.host_path(&v))
        .unwrap_or_else(|| files.node.kubelet_dir.join("pki"))
}

pub(super) fn check(files: &NodeFiles<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let config = match KubeletConfig::read(files) {
        Read::Absent => None,
        Read::Unreadable(f) => {
            out.push(f);
            None
        }
        Read::Parsed(c) => Some(c),
    };
    out.extend(rotation(files, config.as_ref()));
    out.extend(serving(files));
    out
}

/// `kubelet-client-rotation-off`: kubeadm writes `rotateCertificates: true` (its kubelet
/// component-config defaults, DefaultKubeletConfiguration); the command-line flag
/// `--rotate-certificates` wins over the file.
fn rotation(files: &NodeFiles<'_>, config: Option<&KubeletConfig>) -> Option<Finding> {
    let flags_path = files.node.kubelet_dir.join("kubeadm-flags.env");
    let flag = kubeadm_flags(files)
        .into_iter()
        .rev()
        .find(|(n, _)| n == "rotate-certificates");
    let (evidence, off) = match (flag, config) {
        (Some((_, v)), _) => (
            Evidence::of(shown(&flags_path))
                .field("KUBELET_KUBEADM_ARGS --rotate-certificates")
                .value(v.clone()),
            v == "false",
        ),
        (None, Some(c)) => (
            Evidence::of(shown(&c.path))
                .field("rotateCertificates")
                .value("false"),
            c.rotate_certificates() == Some(false),
        ),
        (None, None) => return None,
    };
    off.then(|| {
        Finding::warning(
            KUBELET_CLIENT_ROTATION_OFF,
            format!(
                "the kubelet does not renew its client certificate ({}): when it expires (a year after it was issued) the kubelet can no longer reach the API server and the node goes NotReady",
                shown(&files.node.kubelet_dir.join("pki").join(KUBELET_CLIENT_CURRENT))
            ),
            format!(
                "set `rotateCertificates: true` in {} (and drop any --rotate-certificates=false from {}), then `systemctl restart kubelet`",
                shown(&files.node.kubelet_dir.join("config.yaml")),
                shown(&flags_path)
            ),
        )
        .with(evidence)
    })
}

/// `kubelet-serving-cert`: the rotated serving certificate if the kubelet has one, else its
/// self-signed one. Absent means the kubelet has not started yet (it makes one at start).
fn serving(files: &NodeFiles<'_>) -> Vec<Finding> {
    let dir = kubelet_pki_dir(files);
    let rotated = dir.join(ROTATED_SERVING);
    let path = if files.exists(&rotated) {
        rotated
    } else {
        dir.join(SELF_SIGNED_SERVING)
    };
    let cert = match files.cert(&path) {
        Read::Absent => return Vec::new(),
        Read::Unreadable(f) => return vec![f],
        Read::Parsed(c) => c,
    };
    let fix = if path.ends_with(SELF_SIGNED_SERVING) {
        format!(
            "the kubelet makes a new self-signed pair when none exists: `rm {} {}`, then `systemctl restart kubelet`",
            shown(&path),
            shown(&path.with_extension("key"))
        )
    } else {
        "the kubelet requests a new serving certificate (`serverTLSBootstrap`): approve its CSR (`kubectl get csr`, `kubectl certificate approve <name>`), then `systemctl restart kubelet`".to_string()
    };
    let mut out = Vec::new();
    if let Some(mut f) = expiry(files, &shown(&path), &cert, &fix)
        && f.severity == crate::doctor::Severity::Error
    {
        f.id = KUBELET_SERVING_CERT;
        // A warning: kube-apiserver does not verify the kubelet's certificate unless given
        // --kubelet-certificate-authority (kubeadm does not), so the chain still works.
        f.severity = crate::doctor::Severity::Warning;
        f.what = format!(
            "the kubelet's serving certificate {} expired on {}: clients that verify it (metrics-server, an API server given --kubelet-certificate-authority) refuse to connect to this node's kubelet",
            shown(&path),
            super::timestamp(cert.not_after)
        );
        out.push(f);
    }
    if let Some(node) = &files.node.node_name
        && !cert.dns_names.iter().any(|d| d.eq_ignore_ascii_case(node))
        && !node
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| cert.ip_addresses.contains(&ip))
    {
        out.push(
            Finding::warning(
                KUBELET_SERVING_CERT,
                format!(
                    "the kubelet's serving certificate {} does not name the node {node}: clients that verify it (metrics-server, the API server with --kubelet-certificate-authority) reject it",
                    shown(&path)
                ),
                fix,
            )
            .with(Evidence::of(shown(&path)).field("subjectAltName").value(node.clone())),
        );
    }
    out
}
