//! `preflight`: kubeadm's pre-flight checks, run before anything is written.
//!
//! The checks, their names and their severities follow kubeadm (`cmd/kubeadm/app/preflight`),
//! because users and scripts pass those names to `--ignore-preflight-errors`. Two deliberate
//! differences, both for nodes that share one machine under different `--root`s: files are
//! checked under the node root, and ports are checked on the address the component will bind
//! rather than on every interface. Preflight only reads: it writes nothing.

mod checks;
mod ignore;
mod probe;
mod spec;

use std::fmt;

use async_trait::async_trait;

pub use crate::config::kubernetes_version::{KubernetesVersion, VersionError};
pub use checks::{
    CONTROL_PLANE_MIN_CPUS, CONTROL_PLANE_MIN_MEM_MB, Check, KernelSwitch, Outcome, Program,
    path_label, programs,
};
pub use ignore::{IgnoreSet, IgnoreSetError};
pub use probe::{MemInfoError, mem_total_mb, swap_devices};
pub use spec::{ControlPlane, EtcdPlacement, IpFamilies, NodeRole, PreflightSpec};

use crate::config::well_known::KUBERNETES_DIR;
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{PhaseError, Step};
use probe::{Probe, RealProbe};

/// The checks for `spec`, in kubeadm's order.
pub fn checks(spec: &PreflightSpec) -> Vec<Check> {
    let mut out = vec![Check::IsPrivilegedUser];
    match &spec.role {
        NodeRole::InitControlPlane(cp) => {
            push_control_plane_head(&mut out, spec, cp);
            push_common(&mut out, spec);
            push_forwarding(&mut out, spec);
            push_local_etcd(&mut out, spec, cp);
        }
        NodeRole::JoinWorker { ca_cert } => {
            push_kubelet_kubeconfigs(&mut out, spec);
            push_common(&mut out, spec);
            out.push(file_available(spec, ca_cert));
            push_forwarding(&mut out, spec);
        }
        NodeRole::JoinControlPlane(cp) => {
            // kubeadm runs the join checks, then the init checks of a secondary control plane.
            push_kubelet_kubeconfigs(&mut out, spec);
            push_common(&mut out, spec);
            push_forwarding(&mut out, spec);
            push_control_plane_head(&mut out, spec, cp);
            push_local_etcd(&mut out, spec, cp);
        }
    }
    out
}

fn file_available(spec: &PreflightSpec, logical: &std::path::Path) -> Check {
    Check::FileAvailable {
        logical: logical.to_path_buf(),
        resolved: spec.root.resolve(logical),
    }
}

fn push_control_plane_head(out: &mut Vec<Check>, spec: &PreflightSpec, cp: &ControlPlane) {
    out.push(Check::NumCpu {
        min: CONTROL_PLANE_MIN_CPUS,
    });
    out.push(Check::Mem {
        min_mb: CONTROL_PLANE_MIN_MEM_MB,
    });
    for addr in [cp.apiserver, cp.scheduler, cp.controller_manager] {
        out.push(Check::Port { addr });
    }
    for component in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "etcd",
    ] {
        let manifest = cp.manifests_dir.join(format!("{component}.yaml"));
        out.push(file_available(spec, &manifest));
    }
}

fn push_kubelet_kubeconfigs(out: &mut Vec<Check>, spec: &PreflightSpec) {
    for file in ["kubelet.conf", "bootstrap-kubelet.conf"] {
        let logical = std::path::Path::new(KUBERNETES_DIR).join(file);
        out.push(file_available(spec, &logical));
    }
}

/// kubeadm's `addCommonChecks`, shared by init and join.
fn push_common(out: &mut Vec<Check>, spec: &PreflightSpec) {
    out.push(Check::Cri {
        socket: spec.cri_socket.clone(),
        resolved: spec.root.resolve(spec.cri_socket.path()),
    });
    out.push(Check::Swap);
    out.extend(
        programs(spec.kubernetes_version.as_ref())
            .into_iter()
            .map(Check::FileExisting),
    );
    out.push(Check::Hostname {
        node_name: spec.node_name.clone(),
    });
    out.push(Check::KubeletVersion {
        control_plane: spec.kubernetes_version.clone(),
    });
    // A node under --root shares the machine's systemd with others: its services are not
    // this node's to judge.
    if spec.root.is_system() {
        out.push(Check::KubeletService);
    }
    out.push(Check::Port { addr: spec.kubelet });
}

fn push_forwarding(out: &mut Vec<Check>, spec: &PreflightSpec) {
    if spec.ip_families.ipv4 {
        out.push(Check::FileContent(KernelSwitch::Ipv4Forward));
    }
    if spec.ip_families.ipv6 {
        out.push(Check::FileContent(KernelSwitch::Ipv6Forwarding));
    }
}

fn push_local_etcd(out: &mut Vec<Check>, spec: &PreflightSpec, cp: &ControlPlane) {
    if let EtcdPlacement::Local {
        client,
        peer,
        data_dir,
    } = &cp.etcd
    {
        out.push(Check::Port { addr: *client });
        out.push(Check::Port { addr: *peer });
        out.push(Check::DirAvailable {
            logical: data_dir.clone(),
            resolved: spec.root.resolve(data_dir),
        });
    }
}

/// Runs every check for `spec` on this machine.
pub fn run(spec: &PreflightSpec) -> PreflightReport {
    run_with(spec, &RealProbe)
}

pub(crate) fn run_with(spec: &PreflightSpec, probe: &dyn Probe) -> PreflightReport {
    let checks = checks(spec);
    // Each check on its own thread: `kubelet --version` (tens of ms for the kubelet binary to
    // start), name resolution and the runtime's socket wait on others, not on each other.
    // The report keeps the checks' order.
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let running: Vec<_> = checks
            .iter()
            .map(|check| scope.spawn(move || check.run_with(probe)))
            .collect();
        running
            .into_iter()
            .map(|check| {
                check.join().unwrap_or_else(|_| {
                    Outcome::Error("the check panicked; this is a kubestrap bug".into())
                })
            })
            .collect()
    });
    let mut report = PreflightReport::default();
    for (check, outcome) in checks.iter().zip(outcomes) {
        let name = check.name();
        match outcome {
            Outcome::Pass => report.passed.push(name),
            Outcome::Warning(message) => report.warnings.push(Finding {
                check: name,
                message,
                level: Level::Warning,
            }),
            Outcome::Error(message) if spec.ignore.ignores(&name) => {
                report.warnings.push(Finding {
                    check: name,
                    message,
                    level: Level::IgnoredError,
                })
            }
            Outcome::Error(message) => report.errors.push(Finding {
                check: name,
                message,
                level: Level::Error,
            }),
        }
    }
    report
}

/// How a finding counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Warning,
    /// An error the user chose to ignore; shown as a warning, as kubeadm does.
    IgnoredError,
    Error,
}

/// One warning or error of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check's kubeadm name.
    pub check: String,
    pub message: String,
    pub level: Level,
}

impl fmt::Display for Finding {
    /// kubeadm's format: `[WARNING Swap]: …`, `[ERROR Port-6443]: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Warning | Level::IgnoredError => "WARNING",
            Level::Error => "ERROR",
        };
        write!(f, "[{tag} {}]: {}", self.check, self.message)
    }
}

/// What a preflight run found, in check order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreflightReport {
    /// Names of the checks that passed.
    pub passed: Vec<String>,
    /// Warnings, and errors the ignore set turned into warnings.
    pub warnings: Vec<Finding>,
    /// Errors that stop the run.
    pub errors: Vec<Finding>,
}

impl PreflightReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The warnings as kubeadm prints them.
    pub fn warning_lines(&self) -> Vec<String> {
        self.warnings.iter().map(Finding::to_string).collect()
    }

    /// The warnings when no error is left, else [`PhaseError::Preflight`] with each error as
    /// `[ERROR <Name>]: message`.
    pub fn into_result(self) -> Result<Vec<String>, PhaseError> {
        if self.errors.is_empty() {
            Ok(self.warning_lines())
        } else {
            Err(PhaseError::Preflight {
                failures: self.errors.iter().map(Finding::to_string).collect(),
            })
        }
    }
}

/// How a context hands preflight its typed inputs; implemented for the init and join
/// contexts where the configuration is known.
#[async_trait]
pub trait PreflightContext: Sync {
    /// What the checks run against (after [`PreflightContext::prepare_preflight`]).
    fn preflight_spec(&self) -> PreflightSpec;

    /// Fetches, before the checks run, what they need from the cluster. Nothing by default;
    /// a control-plane join reads the cluster's configuration here, as kubeadm's join
    /// preflight does, so that a cluster it cannot join (no controlPlaneEndpoint, shared
    /// certificates neither downloadable nor on the node) fails here, and the checks know the
    /// cluster's etcd placement and Kubernetes version.
    async fn prepare_preflight(&self, _fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        Ok(())
    }
}

/// The `preflight` phase of init and join.
pub struct Preflight;

#[async_trait]
impl<C: PreflightContext + ?Sized> Step<C> for Preflight {
    fn name(&self) -> &'static str {
        "preflight"
    }

    fn help(&self) -> &'static str {
        "Run pre-flight checks: privileges, resources, free ports and paths, required programs, kubelet version"
    }

    /// The spec the checks ran against. Preflight is deliberately *not* re-run on resume when
    /// it passed with the same spec: by then the node holds the earlier run's manifests, data
    /// dirs and listening ports, which the checks exist to flag on a fresh node. `Debug` is the
    /// fingerprinted form: it is complete, holds no secrets, and a format change between
    /// kubestrap versions only makes preflight run once more.
    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fp.value("preflight-spec", &format!("{:?}", ctx.preflight_spec()));
    }

    async fn resolve_inputs(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        ctx.prepare_preflight(fx).await
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.preflight_spec();
        // Name resolution and `kubelet --version` block; keep them off the async workers.
        let report = tokio::task::spawn_blocking(move || run(&spec))
            .await
            .map_err(|e| PhaseError::failed(format!("preflight checks did not finish: {e}")))?;
        for line in report.warning_lines() {
            fx.warn(line);
        }
        report.into_result().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::checks::tests::FakeProbe;
    use super::*;
    use crate::contract::host::NodeRoot;
    use std::net::SocketAddr;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn control_plane(etcd: EtcdPlacement) -> ControlPlane {
        ControlPlane {
            apiserver: addr("127.0.0.1:0"),
            controller_manager: addr("127.0.0.1:0"),
            scheduler: addr("127.0.0.1:0"),
            manifests_dir: "/etc/kubernetes/manifests".into(),
            etcd,
        }
    }

    fn spec(root: &std::path::Path, role: NodeRole) -> PreflightSpec {
        let root = NodeRoot::new(root).unwrap();
        let cri = root.resolve("/run/containerd/containerd.sock");
        std::fs::create_dir_all(cri.parent().unwrap()).unwrap();
        // Dropping the listener leaves the socket file on disk, which is all the check reads.
        drop(std::os::unix::net::UnixListener::bind(&cri).unwrap());
        PreflightSpec {
            root,
            role,
            node_name: "node-1".into(),
            kubelet: addr("127.0.0.1:0"),
            cri_socket: "unix:///run/containerd/containerd.sock".parse().unwrap(),
            kubernetes_version: Some("v1.30.2".parse().unwrap()),
            ip_families: IpFamilies {
                ipv4: true,
                ipv6: false,
            },
            ignore: IgnoreSet::none(),
        }
    }

    fn local_etcd() -> EtcdPlacement {
        EtcdPlacement::Local {
            client: addr("127.0.0.1:0"),
            peer: addr("127.0.0.1:0"),
            data_dir: "/var/lib/etcd".into(),
        }
    }

    fn names(spec: &PreflightSpec) -> Vec<String> {
        checks(spec).iter().map(Check::name).collect()
    }

    #[test]
    fn init_checks_in_kubeadm_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(
            dir.path(),
            NodeRole::InitControlPlane(ControlPlane {
                apiserver: addr("127.0.0.2:6443"),
                controller_manager: addr("127.0.0.2:10257"),
                scheduler: addr("127.0.0.2:10259"),
                ..control_plane(EtcdPlacement::Local {
                    client: addr("127.0.0.2:2379"),
                    peer: addr("127.0.0.2:2380"),
                    data_dir: "/var/lib/etcd".into(),
                })
            }),
        );
        s.kubelet = addr("127.0.0.2:10250");
        s.kubernetes_version = Some("v1.31.0".parse().unwrap());
        assert_eq!(
            names(&s),
            [
                "IsPrivilegedUser",
                "NumCPU",
                "Mem",
                "Port-6443",
                "Port-10259",
                "Port-10257",
                "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
                "FileAvailable--etc-kubernetes-manifests-kube-controller-manager.yaml",
                "FileAvailable--etc-kubernetes-manifests-kube-scheduler.yaml",
                "FileAvailable--etc-kubernetes-manifests-etcd.yaml",
                "CRI",
                "Swap",
                "FileExisting-conntrack",
                "FileExisting-ip",
                "FileExisting-iptables",
                "FileExisting-mount",
                "FileExisting-nsenter",
                "FileExisting-ebtables",
                "FileExisting-ethtool",
                "FileExisting-socat",
                "FileExisting-tc",
                "FileExisting-touch",
                "Hostname",
                "KubeletVersion",
                // No Service-Kubelet: the node lives under a --root.
                "Port-10250",
                "FileContent--proc-sys-net-ipv4-ip_forward",
                "Port-2379",
                "Port-2380",
                "DirAvailable--var-lib-etcd",
            ]
        );
        // The files checked are under the root, the names are the logical paths.
        let manifest = checks(&s)
            .into_iter()
            .find_map(|c| match c {
                Check::FileAvailable { resolved, .. } => Some(resolved),
                _ => None,
            })
            .unwrap();
        assert!(manifest.starts_with(dir.path()), "{}", manifest.display());
    }

    #[test]
    fn worker_join_checks() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(
            dir.path(),
            NodeRole::JoinWorker {
                ca_cert: "/etc/kubernetes/pki/ca.crt".into(),
            },
        );
        s.kubernetes_version = None;
        s.ip_families = IpFamilies {
            ipv4: true,
            ipv6: true,
        };
        let n = names(&s);
        assert_eq!(
            &n[..3],
            [
                "IsPrivilegedUser",
                "FileAvailable--etc-kubernetes-kubelet.conf",
                "FileAvailable--etc-kubernetes-bootstrap-kubelet.conf"
            ]
        );
        assert_eq!(
            &n[n.len() - 3..],
            [
                "FileAvailable--etc-kubernetes-pki-ca.crt",
                "FileContent--proc-sys-net-ipv4-ip_forward",
                "FileContent--proc-sys-net-ipv6-conf-default-forwarding",
            ]
        );
        for absent in ["NumCPU", "Mem", "FileExisting-conntrack", "Port-2379"] {
            assert!(!n.iter().any(|x| x == absent), "{absent} in {n:?}");
        }
    }

    #[test]
    fn control_plane_join_adds_init_checks_without_ca_check() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(
            dir.path(),
            NodeRole::JoinControlPlane(control_plane(EtcdPlacement::External)),
        );
        let n = names(&s);
        assert!(n.iter().any(|x| x == "NumCPU"));
        assert!(
            n.iter()
                .any(|x| x == "FileAvailable--etc-kubernetes-manifests-etcd.yaml")
        );
        assert!(
            !n.iter()
                .any(|x| x == "FileAvailable--etc-kubernetes-pki-ca.crt")
        );
        assert!(
            !n.iter().any(|x| x == "DirAvailable--var-lib-etcd"),
            "external etcd"
        );
    }

    #[test]
    fn kubelet_service_is_checked_only_on_the_real_root() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(
            dir.path(),
            NodeRole::InitControlPlane(control_plane(local_etcd())),
        );
        assert!(!names(&s).iter().any(|x| x == "Service-Kubelet"));
        s.root = NodeRoot::system();
        assert!(names(&s).iter().any(|x| x == "Service-Kubelet"));
    }

    #[test]
    fn healthy_machine_passes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(
            dir.path(),
            NodeRole::InitControlPlane(control_plane(local_etcd())),
        );
        let report = run_with(&s, &FakeProbe::healthy());
        assert_eq!(report.errors, []);
        assert_eq!(report.warnings, []);
        assert_eq!(report.passed.len(), checks(&s).len());
    }

    #[test]
    fn errors_warnings_and_ignored_errors_are_separated() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(
            dir.path(),
            NodeRole::InitControlPlane(control_plane(local_etcd())),
        );
        s.ignore = IgnoreSet::parse(["numcpu"]).unwrap();
        let mut p = FakeProbe::healthy();
        p.euid = 1000;
        p.cpus = 1;
        p.programs.retain(|b| *b != "socat");
        let report = run_with(&s, &p);
        assert_eq!(
            report
                .errors
                .iter()
                .map(|f| f.check.as_str())
                .collect::<Vec<_>>(),
            ["IsPrivilegedUser"]
        );
        let warnings = report.warning_lines();
        assert_eq!(
            warnings,
            [
                "[WARNING NumCPU]: the number of available CPUs 1 is less than the required 2",
                "[WARNING FileExisting-socat]: socat not found in system path",
            ]
        );
        assert_eq!(report.warnings[0].level, Level::IgnoredError);
        assert_eq!(report.warnings[1].level, Level::Warning);
        match report.into_result() {
            Err(PhaseError::Preflight { failures }) => assert_eq!(
                failures,
                [
                    "[ERROR IsPrivilegedUser]: user is not running as root (effective uid 1000); expected uid 0"
                ]
            ),
            other => panic!("expected a preflight error, got {other:?}"),
        }
    }

    #[test]
    fn non_root_without_kubelet_passes_when_those_checks_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(
            dir.path(),
            NodeRole::InitControlPlane(control_plane(local_etcd())),
        );
        s.ignore = IgnoreSet::parse(["IsPrivilegedUser", "KubeletVersion"]).unwrap();
        let mut p = FakeProbe::healthy();
        p.euid = 1000;
        // kubelet not found in $PATH.
        p.kubelet = None;
        let warnings = run_with(&s, &p).into_result().unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("[WARNING IsPrivilegedUser]: "));
        assert!(warnings[1].starts_with("[WARNING KubeletVersion]: "));
    }

    #[test]
    fn all_turns_every_error_into_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(
            dir.path(),
            NodeRole::InitControlPlane(control_plane(local_etcd())),
        );
        s.ignore = IgnoreSet::all();
        let mut p = FakeProbe::healthy();
        p.euid = 1;
        p.cpus = 1;
        p.ip_forward = "0".into();
        let report = run_with(&s, &p);
        assert!(report.is_ok());
        assert_eq!(report.warnings.len(), 3);
        assert!(
            report
                .warnings
                .iter()
                .all(|w| w.level == Level::IgnoredError)
        );
    }
}
