//! The node's kubeconfigs (admin.conf, super-admin.conf, controller-manager.conf,
//! scheduler.conf, kubelet.conf) and the CA files the components are pointed at. A kubeconfig
//! carries two links of the chain: the CA its client trusts the API server by (must be the
//! node's ca.crt) and the client certificate the API server authenticates it by (must chain to
//! that CA, match its key, be within its validity). kubelet.conf may name files instead of
//! embedding them: the kubelet's rotated `kubelet-client-current.pem`.

use std::path::{Path, PathBuf};

use super::certs::{CERT_MISSING, CERT_NOT_SIGNED_BY_CA, expiry, issuer_name, key_mismatch};
use super::kubelet::KubeletConfig;
use super::manifests::{Component, Manifest, Manifests};
use super::{NodeFiles, Read, shown, unreadable};
use crate::doctor::facts::Role;
use crate::doctor::{Evidence, Finding, FindingId};
use crate::domain::pki::kubeconfig::{CurrentContext, KubeConfig};
use crate::domain::pki::{CertInfo, PrivateKey};

/// A kubeconfig embeds a CA other than the node's ca.crt.
pub const KUBECONFIG_CA_MISMATCH: FindingId = FindingId("kubeconfig-ca-mismatch");
/// A CA file a component is given (`--client-ca-file`, `--root-ca-file`,
/// `--cluster-signing-cert-file`, the kubelet's `clientCAFile`) is not the node's ca.crt.
pub const CA_BUNDLE_MISMATCH: FindingId = FindingId("ca-bundle-mismatch");
/// kubelet.conf names a client certificate or key file that does not exist.
pub const KUBELET_CONF_CERT_MISSING: FindingId = FindingId("kubelet-conf-cert-missing");

/// The kubeconfigs a control plane needs (kubeadm's `kubeconfig` phase files; super-admin.conf,
/// from 1.29, is judged when present and never required: it is a break-glass file an operator
/// may keep off the node).
const CONTROL_PLANE_KUBECONFIGS: [&str; 4] = [
    "admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];

pub(super) fn check(files: &NodeFiles<'_>, manifests: &Manifests) -> Vec<Finding> {
    let ca_path = files.node.cert_dir.join("ca.crt");
    // The CA everything is judged against; its own absence is `certs`'s finding.
    let ca = files.cert(&ca_path).parsed();
    let mut out = Vec::new();
    let names: Vec<&str> = match files.node.role {
        Role::ControlPlane => CONTROL_PLANE_KUBECONFIGS
            .into_iter()
            .chain(["super-admin.conf"])
            .collect(),
        Role::Worker => vec!["kubelet.conf"],
        Role::NotJoined => return out,
    };
    for name in names {
        let path = files.node.kubeconfig_dir.join(name);
        match files.text(&path) {
            Read::Absent if name == "super-admin.conf" => {}
            Read::Absent => out.push(missing_kubeconfig(name, &path)),
            Read::Unreadable(f) => out.push(f),
            Read::Parsed(text) => {
                let judged = KubeConfig::from_yaml(&path, text.as_bytes())
                    .and_then(|kc| kc.current(&path).map(|cur| (kc, cur)));
                match judged {
                    Err(e) => out.push(unreadable(&path, &e)),
                    Ok((kc, current)) => out.extend(one_kubeconfig(
                        files,
                        name,
                        &path,
                        &kc,
                        current,
                        ca.as_ref(),
                    )),
                }
            }
        }
    }
    if let Some(ca) = &ca {
        out.extend(ca_bundles(files, manifests, &ca_path, ca));
    }
    out
}

fn missing_kubeconfig(name: &str, path: &Path) -> Finding {
    let (phase, breaks) = match name {
        "admin.conf" => (
            "admin",
            "the administrator (and kubestrap's own steps) cannot reach the API",
        ),
        "controller-manager.conf" => (
            "controller-manager",
            "kube-controller-manager cannot start: no CSR is approved or signed",
        ),
        "scheduler.conf" => (
            "scheduler",
            "kube-scheduler cannot start: no pod is scheduled",
        ),
        _ => (
            "kubelet",
            "the kubelet cannot authenticate to the API server",
        ),
    };
    Finding::error(
        CERT_MISSING,
        format!("{} is missing: {breaks}", shown(path)),
        format!("`kubestrap init phase kubeconfig {phase} --config <your kubeadm config>`"),
    )
    .with(Evidence::of(shown(path)))
}

/// The client certificate and key of the current user: embedded, or the files named.
struct Client {
    cert: Option<CertInfo>,
    key: Option<PrivateKey>,
    /// Where the certificate was seen, for evidence: the kubeconfig or the file it names.
    cert_at: String,
    key_at: String,
}

fn one_kubeconfig(
    files: &NodeFiles<'_>,
    name: &str,
    path: &Path,
    kc: &KubeConfig,
    current: CurrentContext,
    ca: Option<&CertInfo>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let ca_path = files.node.cert_dir.join("ca.crt");
    if let (Some(node_ca), Some(embedded)) = (ca, &current.ca)
        && embedded.der != node_ca.der
    {
        out.push(
            Finding::error(
                KUBECONFIG_CA_MISMATCH,
                format!(
                    "{} trusts a CA other than {} ({:?}): its client rejects the API server's certificate",
                    shown(path),
                    shown(&ca_path),
                    embedded.common_name
                ),
                format!(
                    "embed the node's CA: `kubectl config set-cluster {} --kubeconfig={} --certificate-authority={} --embed-certs`",
                    current.cluster_name,
                    shown(path),
                    shown(&ca_path)
                ),
            )
            .with(
                Evidence::of(shown(path))
                    .field("clusters[].cluster.certificate-authority-data")
                    .value(format!("CN={}", embedded.common_name)),
            ),
        );
    }
    let client = match client_of(files, name, path, kc, current, &mut out) {
        Some(c) => c,
        None => return out,
    };
    let Some(cert) = &client.cert else {
        return out;
    };
    let renew = renew_fix(files, name, path);
    out.extend(expiry(files, &client.cert_at, cert, &renew));
    if let Some(node_ca) = ca
        && !cert.is_signed_by(node_ca)
    {
        out.push(
            Finding::error(
                CERT_NOT_SIGNED_BY_CA,
                format!(
                    "the client certificate of {} ({}) is not signed by {}: the API server rejects it (401 Unauthorized)",
                    client.cert_at,
                    cert.common_name,
                    shown(&ca_path)
                ),
                renew,
            )
            .with(Evidence::of(client.cert_at.clone()).field("issuer").value(issuer_name(cert))),
        );
    }
    if let Some(key) = &client.key
        && !cert.matches_key(key)
    {
        out.push(key_mismatch(
            Path::new(&client.cert_at),
            Path::new(&client.key_at),
            &renew_fix(files, name, path),
        ));
    }
    out
}

/// Reads the current user's credentials; pushes findings for files that are named and absent
/// or unreadable.
fn client_of(
    files: &NodeFiles<'_>,
    name: &str,
    path: &Path,
    kc: &KubeConfig,
    current: CurrentContext,
    out: &mut Vec<Finding>,
) -> Option<Client> {
    if current.client_cert.is_some() || current.client_key.is_some() {
        return Some(Client {
            cert: current.client_cert,
            key: current.client_key,
            cert_at: shown(path),
            key_at: format!("{} client-key-data", shown(path)),
        });
    }
    let user = kc.users.iter().find(|u| u.name == current.user_name)?;
    let mut client = Client {
        cert: None,
        key: None,
        cert_at: String::new(),
        key_at: String::new(),
    };
    for (field, named) in [
        ("client-certificate", &user.user.client_certificate),
        ("client-key", &user.user.client_key),
    ] {
        let Some(named) = named else { continue };
        let file = files.host_path(named);
        let is_cert = field == "client-certificate";
        if !files.exists(&file) {
            // A dangling symlink is absent too: `exists` follows links. The kubelet names
            // one file for both (certificate and key in kubelet-client-current.pem): one
            // finding.
            if is_cert || user.user.client_certificate.as_deref() != Some(named.as_str()) {
                out.push(named_file_missing(files, name, path, field, &file));
            }
            continue;
        }
        if is_cert {
            client.cert_at = shown(&file);
            match files.cert(&file) {
                Read::Parsed(c) => client.cert = Some(c),
                Read::Unreadable(f) => out.push(f),
                Read::Absent => {}
            }
        } else {
            client.key_at = shown(&file);
            match files.key(&file) {
                Read::Parsed(k) => client.key = Some(k),
                Read::Unreadable(f) => out.push(f),
                Read::Absent => {}
            }
        }
    }
    Some(client)
}

fn named_file_missing(
    files: &NodeFiles<'_>,
    name: &str,
    path: &Path,
    field: &str,
    file: &Path,
) -> Finding {
    let evidence = Evidence::of(shown(path))
        .field(format!("users[].user.{field}"))
        .value(shown(file));
    if name != "kubelet.conf" {
        return Finding::error(
            CERT_MISSING,
            format!(
                "{} names {field} {}, which does not exist",
                shown(path),
                shown(file)
            ),
            format!("restore {}, or `kubestrap certs renew {name}`", shown(file)),
        )
        .with(evidence);
    }
    // The kubelet keeps each certificate it got as kubelet-client-<date>.pem and points the
    // kubelet-client-current.pem symlink at the newest (kubeadm's troubleshooting guide,
    // "Kubelet client certificate rotation fails").
    let newest = newest_rotated(file.parent());
    let fix = match (&newest, files.node.role) {
        (Some(p), _) => format!(
            "point the symlink at the newest certificate the kubelet kept: `ln -sf {} {}`, then restart the kubelet (`systemctl restart kubelet`)",
            shown(p),
            shown(file)
        ),
        (None, Role::ControlPlane) => format!(
            "no certificate is left to point at: `rm {}`, `kubestrap init phase kubeconfig kubelet --config <your kubeadm config>`, restart the kubelet, then `kubestrap init phase kubelet-finalize enable-client-cert-rotation` once it has its new certificate",
            shown(path)
        ),
        (None, _) => "no certificate is left to point at: join the node again (`kubestrap reset`, then `kubestrap join …`)".into(),
    };
    Finding::error(
        KUBELET_CONF_CERT_MISSING,
        format!(
            "kubelet.conf names {field} {}, which does not exist: the kubelet cannot authenticate to the API server and the node goes NotReady",
            shown(file)
        ),
        fix,
    )
    .with(evidence)
}

/// The newest `kubelet-client-<date>.pem` beside the missing file (names sort by date).
fn newest_rotated(dir: Option<&Path>) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir?).ok()?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("kubelet-client-")
                    && n.ends_with(".pem")
                    && n != "kubelet-client-current.pem"
            }) && p.is_file()
        })
        .max()
}

/// How a kubeconfig's client certificate is made again.
fn renew_fix(files: &NodeFiles<'_>, name: &str, path: &Path) -> String {
    if name != "kubelet.conf" {
        return format!("`kubestrap certs renew {name}`");
    }
    match files.node.role {
        Role::ControlPlane => format!(
            "the kubelet renews its own certificate only while the old one is valid: `rm {}`, `kubestrap init phase kubeconfig kubelet --config <your kubeadm config>`, restart the kubelet",
            shown(path)
        ),
        _ => "join the node again (`kubestrap reset`, then `kubestrap join …`): the kubelet renews its own certificate only while the old one is valid".into(),
    }
}

/// The CA files the components are given must be the node's ca.crt: the API server
/// authenticates clients by `--client-ca-file`, the controller-manager signs kubelet
/// certificates with `--cluster-signing-cert-file` and hands pods `--root-ca-file`, the kubelet
/// authenticates the API server's calls by its `clientCAFile`. kubeadm points all of them at
/// `<certificatesDir>/ca.crt` (manifests.go getAPIServerCommand / getControllerManagerCommand;
/// the kubelet's component config default `authentication.x509.clientCAFile`).
fn ca_bundles(
    files: &NodeFiles<'_>,
    manifests: &Manifests,
    ca_path: &Path,
    ca: &CertInfo,
) -> Vec<Finding> {
    let mut named: Vec<(String, String, String)> = Vec::new();
    let mut from_manifest = |m: &Manifest, flag: &str| {
        if let Some(v) = m.flag(flag).filter(|v| !v.is_empty()) {
            named.push((m.shown(), Manifest::flag_field(flag), v.to_string()));
        }
    };
    if let Some(m) = manifests.get(Component::ApiServer) {
        from_manifest(m, "client-ca-file");
    }
    if let Some(m) = manifests.get(Component::ControllerManager) {
        for flag in [
            "client-ca-file",
            "root-ca-file",
            "cluster-signing-cert-file",
        ] {
            from_manifest(m, flag);
        }
    }
    if let Some(kc) = KubeletConfig::read(files).parsed()
        && let Some(file) = kc.client_ca_file()
    {
        named.push((
            shown(&kc.path),
            "authentication.x509.clientCAFile".into(),
            file,
        ));
    }
    let mut out = Vec::new();
    for (subject, field, value) in named {
        let file = files.host_path(&value);
        let evidence = Evidence::of(subject.clone())
            .field(field.clone())
            .value(value.clone());
        match files.cert(&file) {
            Read::Absent => out.push(
                Finding::error(
                    CERT_MISSING,
                    format!("{subject} names {value} as its CA ({field}), which does not exist: the component fails to start"),
                    format!("point {field} at {} (kubeadm's), or restore {value}", shown(ca_path)),
                )
                .with(evidence),
            ),
            Read::Unreadable(f) => out.push(f),
            Read::Parsed(c) if c.der != ca.der => out.push(
                Finding::error(
                    CA_BUNDLE_MISMATCH,
                    format!(
                        "{subject} is given {value} ({:?}) as its CA, not the cluster CA {}: certificates the cluster CA signed are {}",
                        c.common_name,
                        shown(ca_path),
                        if field.ends_with("cluster-signing-cert-file") {
                            "not what this component issues: kubelets get certificates the API server rejects"
                        } else {
                            "rejected by it"
                        }
                    ),
                    format!("set {field} to {} (as kubeadm writes it), or make {value} the same CA", shown(ca_path)),
                )
                .with(evidence),
            ),
            Read::Parsed(_) => {}
        }
    }
    out
}
