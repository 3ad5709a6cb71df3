//! Static-pod manifests of the control plane (`etcd/local`, `control-plane/*`): the typed slice
//! of the configuration they are rendered from, and the rendering shared by all four.
//!
//! A manifest is a skeleton kept as YAML in the repository (`manifests/*.yaml`: labels,
//! resources, probe timings — what never depends on the configuration), filled in by code with
//! the image, the command, probe addresses and the hostPath volumes. Every path in a flag or a
//! volume is resolved under the node root, so that the test bed's processes (and a kubelet
//! whose root is `/`) find the files the `certs` and `kubeconfig` phases wrote.
//!
//! Supported Kubernetes versions: v1.20 to v1.37. Flags that exist only in part of that range
//! are chosen by the target version (see [`crate::phases::control_plane`] and [`crate::phases::etcd`]).

mod env;
pub mod mirror;
mod pod;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use env::{merge_env, proxy_env};
pub use pod::{
    Container, ContainerPort, EnvVar as PodEnvVar, HostPathSource, HttpGet, ObjectMeta, Pod,
    PodSpec, Probe, ProbePort, Volume, VolumeMount,
};

use crate::config::{
    Arg, EnvVar, GoDuration, HostPathType, ImageMeta, ImagePullPolicy, KubernetesVersion, Release,
    images,
};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::{Mode, NodeRoot};
use crate::contract::step::PhaseError;

/// The oldest and newest Kubernetes minor (of major 1) whose manifests kubestrap renders.
pub const OLDEST_MINOR: u64 = 20;
pub const NEWEST_MINOR: u64 = 37;

/// Everything the static-pod phases render from. Paths are host paths already resolved under
/// the node root.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaticPodSpec {
    /// The node root; `/` on a real node. Under another root several simulated nodes share
    /// the machine, which changes what the components bind to (see `bind_address`).
    #[serde(skip)]
    pub root: NodeRoot,
    /// `/etc/kubernetes/manifests`, resolved.
    pub manifests_dir: PathBuf,
    /// `certificatesDir`, resolved.
    pub cert_dir: PathBuf,
    /// `/etc/kubernetes`, resolved: where the kubeconfigs are.
    pub kubeconfig_dir: PathBuf,
    pub kubernetes_version: KubernetesVersion,
    pub image_repository: String,
    pub image_pull_policy: ImagePullPolicy,
    pub node_name: String,
    pub advertise_address: IpAddr,
    pub bind_port: u16,
    /// `networking.serviceSubnet` as written (comma-separated for dual stack).
    pub service_subnet: String,
    pub pod_subnet: Option<String>,
    pub dns_domain: String,
    pub cluster_name: String,
    pub etcd: EtcdSpec,
    pub api_server: ComponentSpec,
    pub controller_manager: ComponentSpec,
    pub scheduler: ComponentSpec,
    /// How long the control plane may take to come up: `timeouts.controlPlaneComponentHealthCheck`
    /// (v1beta4) or `apiServer.timeoutForControlPlane` (v1beta3); sizes the startup probes
    /// ([`startup_failure_threshold`]).
    pub control_plane_timeout: GoDuration,
    /// The `*_proxy` variables of kubestrap's own environment ([`proxy_env`]), read by the
    /// context, given to kube-apiserver, kube-controller-manager and kube-scheduler.
    pub proxy_env: Vec<EnvVar>,
}

/// The cluster's etcd as the manifests see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EtcdSpec {
    Local(LocalEtcdSpec),
    External(ExternalEtcdSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalEtcdSpec {
    /// `etcd.local.imageRepository` / `imageTag`.
    pub image: ImageMeta,
    /// `etcd.local.dataDir`, resolved.
    pub data_dir: PathBuf,
    pub extra_args: Vec<Arg>,
    pub extra_envs: Vec<EnvVar>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalEtcdSpec {
    pub endpoints: Vec<String>,
    /// `caFile`, `certFile`, `keyFile`, resolved; all three or none.
    pub tls: Option<ExternalEtcdFiles>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExternalEtcdFiles {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `extraArgs`, `extraVolumes` and `extraEnvs` of one component.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ComponentSpec {
    pub extra_args: Vec<Arg>,
    pub extra_volumes: Vec<ExtraVolume>,
    pub extra_envs: Vec<EnvVar>,
}

/// An `extraVolumes` entry. The host path is resolved under the node root; the mount path is
/// the path inside the container and stays as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtraVolume {
    pub name: String,
    pub host_path: PathBuf,
    pub mount_path: PathBuf,
    pub read_only: bool,
    pub path_type: HostPathType,
}

/// The contract between the static-pod phases and the context they run in.
pub trait StaticPodContext: Sync {
    fn static_pods(&self) -> &StaticPodSpec;
}

impl StaticPodSpec {
    /// The manifest file of a component (`kube-apiserver` → `…/manifests/kube-apiserver.yaml`).
    pub fn manifest_path(&self, component: &str) -> PathBuf {
        self.manifests_dir.join(format!("{component}.yaml"))
    }

    pub fn cert(&self, file: &str) -> PathBuf {
        self.cert_dir.join(file)
    }

    pub fn kubeconfig(&self, file: &str) -> PathBuf {
        self.kubeconfig_dir.join(file)
    }

    /// The version's minor, after checking that it is in the supported range.
    pub fn minor(&self) -> Result<u64, PhaseError> {
        let v = &self.kubernetes_version;
        if v.major() == 1 && (OLDEST_MINOR..=NEWEST_MINOR).contains(&v.minor()) {
            Ok(v.minor())
        } else {
            Err(PhaseError::with_hint(
                format!(
                    "kubernetesVersion {v}: kubestrap renders control-plane manifests for v1.{OLDEST_MINOR} to v1.{NEWEST_MINOR} only"
                ),
                format!(
                    "set kubernetesVersion (or --kubernetes-version) to a v1.{OLDEST_MINOR}–v1.{NEWEST_MINOR} release"
                ),
            ))
        }
    }

    /// What kubeadm of the target release writes, after checking the supported range.
    pub fn release(&self) -> Result<Release, PhaseError> {
        self.minor()?;
        Ok(Release::of(&self.kubernetes_version))
    }

    /// `<imageRepository>/<name>:<version>` for a component released with Kubernetes.
    pub fn kubernetes_image(&self, name: &str) -> String {
        images::kubernetes_image(&self.image_repository, name, &self.kubernetes_version)
    }

    /// What a component of this node listens on for its own port (controller-manager,
    /// scheduler, etcd's localhost listener): kubeadm's loopback on a real node. Under another
    /// root several simulated nodes share the machine's loopback, so each binds to its own
    /// advertise address (127.0.0.x) instead and the nodes do not collide on the ports.
    pub fn local_address(&self) -> IpAddr {
        if self.root.is_system() {
            loopback_like(self.advertise_address)
        } else {
            self.advertise_address
        }
    }

    /// Whether the components live on a shared loopback (`--root` other than `/`).
    pub fn is_simulated_node(&self) -> bool {
        !self.root.is_system()
    }
}

/// 127.0.0.1, or ::1 for an IPv6 node.
pub fn loopback_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    }
}

/// `host:port`, with brackets around an IPv6 literal.
pub fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

pub fn url(scheme: &str, ip: IpAddr, port: u16) -> String {
    format!("{scheme}://{}", host_port(ip, port))
}

pub fn arg(name: &str, value: impl Into<String>) -> Arg {
    Arg {
        name: name.to_string(),
        value: value.into(),
    }
}

pub fn path_arg(name: &str, path: &Path) -> Arg {
    arg(name, path.display().to_string())
}

/// kubeadm's merge of a component's default flags with the user's `extraArgs`: every user
/// argument is kept (duplicates included, for flags that repeat), a user argument replaces
/// every default of the same name, and the result is sorted by name then value — a fixed order,
/// so the rendered command does not depend on the order flags were added in.
pub fn merge_args(defaults: Vec<Arg>, overrides: &[Arg]) -> Vec<Arg> {
    let mut args: Vec<Arg> = overrides.to_vec();
    args.extend(
        defaults
            .into_iter()
            .filter(|d| !overrides.iter().any(|o| o.name == d.name)),
    );
    args.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.value.cmp(&b.value)));
    args
}

/// The value a flag ends up with in a merged list (the last one when repeated).
pub fn arg_value<'a>(args: &'a [Arg], name: &str) -> Option<&'a str> {
    args.iter()
        .rev()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

/// `binary --name=value …`.
pub fn command(binary: &str, args: &[Arg]) -> Vec<String> {
    std::iter::once(binary.to_string())
        .chain(args.iter().map(|a| format!("--{}={}", a.name, a.value)))
        .collect()
}

/// One hostPath volume and its mount in the component's container.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub name: String,
    pub host_path: PathBuf,
    pub mount_path: PathBuf,
    pub read_only: bool,
    pub path_type: HostPathType,
}

impl Mount {
    /// A host directory mounted at the same path (kubeadm's own volumes: the paths in the
    /// flags are valid both on the host and in the container).
    pub fn same_path(name: &str, path: &Path, read_only: bool, path_type: HostPathType) -> Self {
        Self {
            name: name.to_string(),
            host_path: path.to_path_buf(),
            mount_path: path.to_path_buf(),
            read_only,
            path_type,
        }
    }
}

impl From<&ExtraVolume> for Mount {
    fn from(v: &ExtraVolume) -> Self {
        Self {
            name: v.name.clone(),
            host_path: v.host_path.clone(),
            mount_path: v.mount_path.clone(),
            read_only: v.read_only,
            path_type: v.path_type,
        }
    }
}

/// kubeadm's own volumes plus `extraVolumes`; an extra volume replaces a default of the same
/// name. Sorted by name for a stable manifest.
pub fn merge_mounts(defaults: Vec<Mount>, extra: &[ExtraVolume]) -> Vec<Mount> {
    let mut by_name: BTreeMap<String, Mount> =
        defaults.into_iter().map(|m| (m.name.clone(), m)).collect();
    for v in extra {
        by_name.insert(v.name.clone(), Mount::from(v));
    }
    by_name.into_values().collect()
}

/// The distribution CA directories kubeadm mounts into the API server and controller-manager
/// when they exist on the host (so that webhooks and cloud providers can verify TLS): looked
/// up under the node root, so a simulated node mounts only what its root has. kubeadm 1.31
/// split `/etc/pki` into its two trust directories (#124361, in the 1.31 CHANGELOG).
pub fn ca_cert_dirs(spec: &StaticPodSpec, minor: u64) -> Vec<Mount> {
    ca_cert_dir_paths(spec, minor)
        .into_iter()
        .filter(|(_, path)| path.is_dir())
        .map(|(name, path)| Mount::same_path(name, &path, true, HostPathType::DirectoryOrCreate))
        .collect()
}

/// Every candidate of [`ca_cert_dirs`] (kubeadm's `caCertsExtraVolumePaths`), whether or not it
/// exists, with its volume name, resolved under the node root.
pub fn ca_cert_dir_paths(spec: &StaticPodSpec, minor: u64) -> Vec<(&'static str, PathBuf)> {
    let pki: &[(&'static str, &str)] = if minor >= 31 {
        &[
            ("etc-pki-ca-trust", "/etc/pki/ca-trust"),
            ("etc-pki-tls-certs", "/etc/pki/tls/certs"),
        ]
    } else {
        &[("etc-pki", "/etc/pki")]
    };
    let common: [(&'static str, &str); 3] = [
        ("usr-share-ca-certificates", "/usr/share/ca-certificates"),
        (
            "usr-local-share-ca-certificates",
            "/usr/local/share/ca-certificates",
        ),
        ("etc-ca-certificates", "/etc/ca-certificates"),
    ];
    pki.iter()
        .chain(common.iter())
        .map(|(name, logical)| (*name, spec.root.resolve(logical)))
        .collect()
}

/// `/etc/ssl/certs`, always mounted (read-only) into the API server and controller-manager.
pub fn ssl_certs(spec: &StaticPodSpec) -> Mount {
    Mount::same_path(
        "ca-certs",
        &spec.root.resolve("/etc/ssl/certs"),
        true,
        HostPathType::DirectoryOrCreate,
    )
}

/// The priority of PriorityClass system-node-critical.
pub const SYSTEM_NODE_CRITICAL_PRIORITY: i32 = 2_000_001_000;

/// The name of the container port every probe uses from kubeadm 1.34 (`constants.ProbePort`,
/// #132776).
pub const PROBE_PORT_NAME: &str = "probe-port";

/// kubeadm's `StartupProbe` failure threshold (util/staticpod/utils.go; search index ids
/// 334746362, 437628100): enough 10-second periods to cover the control-plane timeout,
/// `ceil(timeout / 10s)`; 24 for the default 4m. kubeadm passes `apiServer.timeoutForControlPlane`
/// up to v1beta3 and, from the v1beta4 era, `GetActiveTimeouts().ControlPlaneComponentHealthCheck`
/// (phases/controlplane/manifests.go id 39868239, phases/etcd/local.go id 47662213502) — the
/// same value, since v1beta3's field converts into the v1beta4 one. A zero threshold is left
/// out, as kubeadm's `omitempty` leaves it, and the kubelet defaults it to 3.
pub fn startup_failure_threshold(timeout: GoDuration) -> Option<u32> {
    const PERIOD_SECONDS: u128 = 10;
    let millis = timeout.as_duration().as_millis();
    let periods = millis.div_ceil(PERIOD_SECONDS * 1000);
    match u32::try_from(periods) {
        Ok(0) => None,
        Ok(n) => Some(n),
        Err(_) => Some(u32::MAX),
    }
}

/// Where the probes of a static pod reach its component.
pub struct ProbeTarget {
    /// `httpGet.host`: an address, or a host name from a user's flag (etcd's metrics URL).
    pub host: String,
    pub port: u16,
    /// `HTTP`/`HTTPS`; `None` keeps the skeleton's.
    pub scheme: Option<&'static str>,
}

/// What a filled-in skeleton needs.
pub struct Fill {
    /// The target release: what kubeadm of that release puts in every pod spec.
    pub release: Release,
    pub image: String,
    pub pull_policy: ImagePullPolicy,
    pub command: Vec<String>,
    pub envs: Vec<EnvVar>,
    pub mounts: Vec<Mount>,
    pub probe: ProbeTarget,
    /// The startup probe's failure threshold ([`startup_failure_threshold`]).
    pub startup_failure_threshold: Option<u32>,
    pub annotations: BTreeMap<String, String>,
}

/// Parses a skeleton from `manifests/` and fills it in.
pub fn fill(skeleton_name: &str, skeleton: &str, f: Fill) -> Result<Pod, PhaseError> {
    let mut pod = Pod::from_yaml(skeleton).map_err(|e| {
        PhaseError::failed(format!(
            "built-in manifest skeleton {skeleton_name} is not a valid Pod: {e}"
        ))
    })?;
    pod.metadata.annotations.extend(f.annotations);
    let minor = f.release.minor();
    // kubeadm 1.27 gives static pods the priority of system-node-critical (#114338): the
    // kubelet ignores priorityClassName for static pods, and graceful node shutdown by
    // priority would stop the control plane first without it.
    if minor >= 27 {
        pod.spec.priority = Some(SYSTEM_NODE_CRITICAL_PRIORITY);
    }
    // kubeadm 1.22 added the RuntimeDefault seccomp profile (#100234); before, none.
    if minor < 22 {
        pod.spec.security_context = None;
    }
    let container = pod.spec.containers.first_mut().ok_or_else(|| {
        PhaseError::failed(format!(
            "built-in manifest skeleton {skeleton_name} has no container"
        ))
    })?;
    container.image = f.image;
    container.image_pull_policy = f.pull_policy.as_str().to_string();
    container.command = f.command;
    container.env = f
        .envs
        .into_iter()
        .map(|e| PodEnvVar {
            name: e.name,
            value: e.value,
            value_from: e.value_from,
        })
        .collect();
    // From 1.34 the probes name the port, which the container declares (#132776).
    let named = f.release.probes_named_port();
    let port = if named {
        container.ports = vec![ContainerPort {
            container_port: f.probe.port,
            name: PROBE_PORT_NAME.to_string(),
            protocol: "TCP".to_string(),
        }];
        ProbePort::Name(PROBE_PORT_NAME.to_string())
    } else {
        ProbePort::Number(f.probe.port)
    };
    if let Some(startup) = container.startup_probe.as_mut() {
        startup.failure_threshold = f.startup_failure_threshold;
    }
    for probe in [
        &mut container.liveness_probe,
        &mut container.readiness_probe,
        &mut container.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        probe.http_get.host = f.probe.host.clone();
        probe.http_get.port = port.clone();
        if let Some(scheme) = f.probe.scheme {
            probe.http_get.scheme = scheme.to_string();
        }
    }
    container.volume_mounts = f
        .mounts
        .iter()
        .map(|m| VolumeMount {
            name: m.name.clone(),
            mount_path: m.mount_path.display().to_string(),
            read_only: m.read_only,
        })
        .collect();
    pod.spec.volumes = f
        .mounts
        .iter()
        .map(|m| Volume {
            name: m.name.clone(),
            host_path: HostPathSource {
                path: m.host_path.display().to_string(),
                kind: m.path_type.as_str().to_string(),
            },
        })
        .collect();
    Ok(pod)
}

/// Writes a manifest. Mode 0600 as kubeadm (CIS: manifests carry flags that name key files).
/// Unchanged bytes leave the file untouched, so the kubelet does not restart the pod.
pub fn write_manifest(
    fx: &mut Effects<'_>,
    spec: &StaticPodSpec,
    component: &str,
    pod: &Pod,
) -> Result<(), PhaseError> {
    let yaml = pod
        .to_yaml()
        .map_err(|e| PhaseError::failed(format!("cannot render the {component} manifest: {e}")))?;
    fx.write_file(
        &spec.manifest_path(component),
        yaml.as_bytes(),
        Mode::PRIVATE,
    )?;
    Ok(())
}

/// The fingerprint every static-pod phase shares: the whole spec (it is small) and which CA
/// directories exist under the root (their presence adds volumes).
pub fn fingerprint_common(spec: &StaticPodSpec, fp: &mut Fingerprint<'_>) {
    let dirs: Vec<String> = ca_cert_dirs(spec, spec.kubernetes_version.minor())
        .into_iter()
        .map(|m| m.name)
        .collect();
    fp.value("static_pods", spec).value("ca_cert_dirs", &dirs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_args_replace_defaults_keep_duplicates_and_sort() {
        let merged = merge_args(
            vec![arg("b", "1"), arg("a", "x"), arg("c", "3")],
            &[arg("b", "2"), arg("z", "q"), arg("b", "0")],
        );
        let cmd = command("bin", &merged);
        assert_eq!(cmd, ["bin", "--a=x", "--b=0", "--b=2", "--c=3", "--z=q"]);
        assert_eq!(arg_value(&merged, "b"), Some("2"));
        assert_eq!(arg_value(&merged, "nope"), None);
    }

    #[test]
    fn extra_volume_replaces_default_of_same_name() {
        let m = merge_mounts(
            vec![
                Mount::same_path("k8s-certs", Path::new("/a"), true, HostPathType::Directory),
                Mount::same_path("b", Path::new("/b"), false, HostPathType::Unset),
            ],
            &[ExtraVolume {
                name: "k8s-certs".into(),
                host_path: "/r/c".into(),
                mount_path: "/c".into(),
                read_only: false,
                path_type: HostPathType::File,
            }],
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "b");
        assert_eq!(m[1].host_path, Path::new("/r/c"));
        assert_eq!(m[1].mount_path, Path::new("/c"));
    }

    #[test]
    fn the_startup_probe_covers_the_control_plane_timeout() {
        let t = |s: &str| startup_failure_threshold(s.parse().unwrap());
        assert_eq!(t("4m0s"), Some(24));
        assert_eq!(t("10m"), Some(60));
        assert_eq!(t("95s"), Some(10));
        assert_eq!(t("100ms"), Some(1));
        assert_eq!(t("0s"), None);
    }

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            url("https", "::1".parse().unwrap(), 2379),
            "https://[::1]:2379"
        );
        assert_eq!(
            url("http", "127.0.0.2".parse().unwrap(), 2381),
            "http://127.0.0.2:2381"
        );
    }
}
