//! The control plane's static pods: every file a flag names must be inside the container
//! (a volumeMount), the controller-manager must be able to sign kubelet certificates and run
//! the controllers the bootstrap chain needs, and the components' versions must be within the
//! skew policy.

use std::path::Path;

use super::manifests::{Component, Manifest, Manifests};
use super::{NodeFiles, Read, shown};
use crate::config::KubernetesVersion;
use crate::doctor::{Evidence, Finding, FindingId};

/// A path a flag names is not inside any volumeMount of the container.
pub const STATIC_POD_PATH_UNMOUNTED: FindingId = FindingId("static-pod-path-unmounted");
/// kube-controller-manager cannot sign: its signing flags are absent or name unreadable files.
pub const CONTROLLER_MANAGER_SIGNING: FindingId = FindingId("controller-manager-signing");
/// kube-controller-manager's `--controllers` leaves out one the bootstrap chain needs.
pub const CONTROLLER_MANAGER_CONTROLLERS: FindingId = FindingId("controller-manager-controllers");
/// The control-plane components' versions are outside the skew policy.
pub const STATIC_POD_VERSION_SKEW: FindingId = FindingId("static-pod-version-skew");

/// The controllers the chain needs: approving and signing the kubelets' CSRs, signing
/// cluster-info for each token, deleting expired tokens. `csrapproving` and `csrsigning` are
/// on by default (`*`); `bootstrapsigner` and `tokencleaner` are off by default, which is why
/// kubeadm passes `--controllers=*,bootstrapsigner,tokencleaner`
/// (kubernetes/cmd/kubeadm/app/phases/controlplane/manifests.go, getControllerManagerCommand).
const CHAIN_CONTROLLERS: [(&str, bool, &str); 4] = [
    (
        "csrapproving",
        true,
        "no kubelet CSR is approved: joining nodes wait forever",
    ),
    (
        "csrsigning",
        true,
        "no approved CSR is signed: kubelets get no certificate",
    ),
    (
        "bootstrapsigner",
        false,
        "cluster-info is not signed for the tokens: `join` cannot discover the cluster",
    ),
    (
        "tokencleaner",
        false,
        "expired bootstrap tokens are never deleted",
    ),
];
const KUBEADM_CONTROLLERS: &str = "*,bootstrapsigner,tokencleaner";

pub(super) fn check(files: &NodeFiles<'_>, manifests: &Manifests) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in &manifests.found {
        out.extend(unmounted_paths(m));
    }
    if let Some(cm) = manifests.get(Component::ControllerManager) {
        out.extend(signing(files, cm));
        out.extend(controllers(cm));
    }
    out.extend(version_skew(manifests));
    out
}

/// Flags whose values start with `/` without naming a host file: HTTP paths
/// (`--authorization-always-allow-paths=/healthz,/readyz`), etcd key prefixes
/// (kube-apiserver `--etcd-prefix=/registry`, `--etcd-servers-overrides=/events#https://…`).
const NOT_FILE_PATHS: [&str; 3] = [
    "authorization-always-allow-paths",
    "etcd-prefix",
    "etcd-servers-overrides",
];

/// `static-pod-path-unmounted`: every absolute path in a `--flag=value` (comma-separated
/// values judged one by one) must be at or under a volumeMount's mountPath; the container sees
/// nothing else of the host.
fn unmounted_paths(m: &Manifest) -> Vec<Finding> {
    let Some(container) = m.container() else {
        return Vec::new();
    };
    let mounts: Vec<&str> = container
        .volume_mounts
        .iter()
        .map(|v| v.mount_path.as_str())
        .collect();
    let mut out = Vec::new();
    for (flag, value) in m.flags() {
        if NOT_FILE_PATHS.contains(&flag) {
            continue;
        }
        for path in value
            .split(',')
            .map(str::trim)
            .filter(|p| p.starts_with('/'))
        {
            if mounts.iter().any(|mp| Path::new(path).starts_with(mp)) {
                continue;
            }
            let dir = Path::new(path)
                .parent()
                .map_or_else(|| path.to_string(), |d| d.display().to_string());
            out.push(
                Finding::error(
                    STATIC_POD_PATH_UNMOUNTED,
                    format!(
                        "{} passes --{flag}={path}, but no volume mounts {path} into the {} container: it fails to start (no such file or directory)",
                        m.shown(),
                        container.name
                    ),
                    format!(
                        "add a hostPath volume for {dir} and a volumeMount of it at {dir} to the container in {} (with kubestrap: an extraVolumes entry for {} in the ClusterConfiguration), or point --{flag} at a path under a mounted directory ({})",
                        m.shown(),
                        m.component.name(),
                        if mounts.is_empty() {
                            "none is mounted".to_string()
                        } else {
                            mounts.join(", ")
                        }
                    ),
                )
                .with(Evidence::of(m.shown()).field(Manifest::flag_field(flag)).value(path)),
            );
        }
    }
    out
}

/// `controller-manager-signing`: the csrsigning controller needs `--cluster-signing-cert-file`
/// and `--cluster-signing-key-file`. kubeadm's external-CA mode (ca.crt without ca.key) passes
/// both empty on purpose (manifests.go: "so that the csrsigning controller fails to start"),
/// and the external CA signs instead: not a finding then.
fn signing(files: &NodeFiles<'_>, cm: &Manifest) -> Vec<Finding> {
    let ca_key = files.node.cert_dir.join("ca.key");
    let external_ca = files.exists(&files.node.cert_dir.join("ca.crt")) && !files.exists(&ca_key);
    let mut out = Vec::new();
    for (flag, is_key) in [
        ("cluster-signing-cert-file", false),
        ("cluster-signing-key-file", true),
    ] {
        let value = cm.flag(flag).unwrap_or_default();
        let evidence = Evidence::of(cm.shown())
            .field(Manifest::flag_field(flag))
            .value(if value.is_empty() { "(not set)" } else { value });
        let wanted = files
            .node
            .cert_dir
            .join(if is_key { "ca.key" } else { "ca.crt" });
        let problem = if value.is_empty() {
            if external_ca {
                continue;
            }
            Some(format!("--{flag} is not set"))
        } else {
            let file = files.host_path(value);
            let read = if is_key {
                match files.key(&file) {
                    Read::Parsed(_) => None,
                    Read::Absent => Some("does not exist".to_string()),
                    Read::Unreadable(f) => Some(f.what),
                }
            } else {
                match files.cert(&file) {
                    Read::Parsed(_) => None,
                    Read::Absent => Some("does not exist".to_string()),
                    Read::Unreadable(f) => Some(f.what),
                }
            };
            read.map(|why| format!("--{flag}={value}: {why}"))
        };
        if let Some(problem) = problem {
            out.push(
                Finding::error(
                    CONTROLLER_MANAGER_SIGNING,
                    format!(
                        "kube-controller-manager cannot sign certificates ({problem}): approved kubelet CSRs are never issued, so no node completes its TLS bootstrap and client certificates are not renewed"
                    ),
                    format!(
                        "set --{flag}={} in {} (kubeadm's value), then wait for the kubelet to restart the pod",
                        shown(&wanted),
                        cm.shown()
                    ),
                )
                .with(evidence),
            );
        }
    }
    out
}

/// `controller-manager-controllers`: kube-controller-manager's `--controllers` list: `*` turns
/// on the default-on controllers, `name` one more, `-name` one off; the last mention wins.
fn controllers(cm: &Manifest) -> Vec<Finding> {
    let value = cm.flag("controllers").unwrap_or("*");
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    let enabled = |name: &str, on_by_default: bool| {
        if items.contains(&format!("-{name}").as_str()) {
            return false;
        }
        items.contains(&name) || (on_by_default && items.contains(&"*"))
    };
    CHAIN_CONTROLLERS
        .into_iter()
        .filter(|(name, default, _)| !enabled(name, *default))
        .map(|(name, _, breaks)| {
            Finding::error(
                CONTROLLER_MANAGER_CONTROLLERS,
                format!("kube-controller-manager does not run the {name} controller: {breaks}"),
                format!(
                    "set --controllers={KUBEADM_CONTROLLERS} in {} (kubeadm's value; keep any other names you need, without -{name})",
                    cm.shown()
                ),
            )
            .with(
                Evidence::of(cm.shown())
                    .field(Manifest::flag_field("controllers"))
                    .value(value),
            )
        })
        .collect()
}

/// The Kubernetes version of a component image (`registry.k8s.io/kube-apiserver:v1.30.2`);
/// `None` for a digest-only or non-semver tag.
fn image_version(image: &str) -> Option<KubernetesVersion> {
    let last = image.rsplit('/').next()?;
    let tag = last.split('@').next()?.split_once(':')?.1;
    tag.parse().ok()
}

/// `static-pod-version-skew`: the Kubernetes version skew policy
/// (https://kubernetes.io/releases/version-skew-policy/): kube-controller-manager and
/// kube-scheduler must not be newer than the kube-apiserver they talk to, and may be up to one
/// minor older.
fn version_skew(manifests: &Manifests) -> Vec<Finding> {
    let version_of = |c: Component| {
        let m = manifests.get(c)?;
        let image = &m.container()?.image;
        Some((m, image.clone(), image_version(image)?))
    };
    let Some((api_m, api_image, api)) = version_of(Component::ApiServer) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in [Component::ControllerManager, Component::Scheduler] {
        let Some((m, image, v)) = version_of(c) else {
            continue;
        };
        let problem = if v.major() != api.major() || v.minor() > api.minor() {
            Some(format!("newer than kube-apiserver ({api_image})"))
        } else if v.minor() + 1 < api.minor() {
            Some(format!(
                "more than one minor older than kube-apiserver ({api_image})"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            out.push(
                Finding::warning(
                    STATIC_POD_VERSION_SKEW,
                    format!(
                        "{} runs {image}, {problem}: outside the version skew policy, it may use APIs the server does not serve",
                        c.name()
                    ),
                    format!(
                        "set the image in {} to the kube-apiserver's version (as in {}), or upgrade the control plane one minor at a time",
                        m.shown(),
                        api_m.shown()
                    ),
                )
                .with(Evidence::of(m.shown()).field("spec.containers[0].image").value(image)),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_versions() {
        let v = image_version("registry.k8s.io/kube-apiserver:v1.30.2").unwrap();
        assert_eq!((v.major(), v.minor()), (1, 30));
        let v = image_version("localhost:5000/k8s/kube-scheduler:v1.29.0").unwrap();
        assert_eq!(v.minor(), 29);
        assert!(image_version("registry.k8s.io/kube-apiserver@sha256:abcd").is_none());
        assert!(image_version("registry.k8s.io/kube-apiserver").is_none());
    }
}
