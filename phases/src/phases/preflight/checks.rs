//! The individual checks, with kubeadm's names (users pass them to
//! `--ignore-preflight-errors`, so they are part of the interface) and kubeadm's verdicts:
//! which findings stop the run and which only warn.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use super::probe::{self, Probe, RealProbe};
use crate::config::CriSocket;
use crate::config::kubernetes_version::KubernetesVersion;

/// Control-plane nodes need this many CPUs (kubeadm's `ControlPlaneNumCPU`).
pub const CONTROL_PLANE_MIN_CPUS: usize = 2;
/// ... and this much memory in MB (kubeadm's `ControlPlaneMem`); below it a stable control
/// plane is hard to run.
pub const CONTROL_PLANE_MIN_MEM_MB: u64 = 1700;

/// kube-proxy stopped needing `conntrack` in `$PATH` with this release (kubernetes PR 126952).
const CONNTRACK_NOT_NEEDED_FROM: KubernetesVersion = KubernetesVersion::new(1, 32, 0);

/// A check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Reported, does not stop the run.
    Warning(String),
    /// Stops the run unless the check is ignored.
    Error(String),
}

/// A kernel switch that must be on: the file must start with `1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelSwitch {
    Ipv4Forward,
    Ipv6Forwarding,
}

impl KernelSwitch {
    pub fn path(self) -> &'static str {
        match self {
            Self::Ipv4Forward => "/proc/sys/net/ipv4/ip_forward",
            Self::Ipv6Forwarding => "/proc/sys/net/ipv6/conf/default/forwarding",
        }
    }
}

/// A program kubeadm wants in `$PATH` (its `InPathCheck`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    pub name: &'static str,
    /// Missing a required program is an error, missing any other a warning.
    pub required: bool,
}

/// One preflight check and what it needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Running as root (effective uid 0).
    IsPrivilegedUser,
    NumCpu {
        min: usize,
    },
    Mem {
        min_mb: u64,
    },
    /// Nothing listens on the address a component will bind.
    Port {
        addr: SocketAddr,
    },
    /// A file the run will create does not exist yet.
    FileAvailable {
        logical: PathBuf,
        resolved: PathBuf,
    },
    /// A directory the run will fill is absent or empty.
    DirAvailable {
        logical: PathBuf,
        resolved: PathBuf,
    },
    /// A kernel setting is on.
    FileContent(KernelSwitch),
    /// Swap is off (only a warning since kubelets can be configured for swap).
    Swap,
    /// The container runtime's socket exists (kubestrap makes no CRI calls).
    Cri {
        socket: CriSocket,
        resolved: PathBuf,
    },
    FileExisting(Program),
    /// The node name is well-formed and resolves.
    Hostname {
        node_name: String,
    },
    /// A kubelet is installed and within the supported skew of the control plane.
    KubeletVersion {
        control_plane: Option<KubernetesVersion>,
    },
    /// The kubelet unit is enabled in systemd.
    KubeletService,
}

impl Check {
    /// kubeadm's name for the check, as `--ignore-preflight-errors` takes it.
    pub fn name(&self) -> String {
        match self {
            Self::IsPrivilegedUser => "IsPrivilegedUser".into(),
            Self::NumCpu { .. } => "NumCPU".into(),
            Self::Mem { .. } => "Mem".into(),
            Self::Port { addr } => format!("Port-{}", addr.port()),
            Self::FileAvailable { logical, .. } => path_label("FileAvailable", logical),
            Self::DirAvailable { logical, .. } => path_label("DirAvailable", logical),
            Self::FileContent(switch) => path_label("FileContent", Path::new(switch.path())),
            Self::Swap => "Swap".into(),
            Self::Cri { .. } => "CRI".into(),
            Self::FileExisting(p) => format!("FileExisting-{}", p.name.replace('/', "-")),
            Self::Hostname { .. } => "Hostname".into(),
            Self::KubeletVersion { .. } => "KubeletVersion".into(),
            Self::KubeletService => "Service-Kubelet".into(),
        }
    }

    /// Runs the check against this machine.
    pub fn run(&self) -> Outcome {
        self.run_with(&RealProbe)
    }

    pub(crate) fn run_with(&self, probe: &dyn Probe) -> Outcome {
        match self {
            Self::IsPrivilegedUser => match probe.euid() {
                0 => Outcome::Pass,
                uid => Outcome::Error(format!(
                    "user is not running as root (effective uid {uid}); expected uid 0"
                )),
            },
            Self::NumCpu { min } => match probe.cpus() {
                Ok(n) if n >= *min => Outcome::Pass,
                Ok(n) => Outcome::Error(format!(
                    "the number of available CPUs {n} is less than the required {min}"
                )),
                Err(e) => Outcome::Error(format!("cannot count the available CPUs: {e}")),
            },
            Self::Mem { min_mb } => {
                let text = match probe.read_kernel_file("/proc/meminfo") {
                    Ok(text) => text,
                    Err(e) => return Outcome::Error(format!("cannot read /proc/meminfo: {e}")),
                };
                match probe::mem_total_mb(&text) {
                    Ok(mb) if mb >= *min_mb => Outcome::Pass,
                    Ok(mb) => Outcome::Error(format!(
                        "the system RAM ({mb} MB) is less than the minimum {min_mb} MB"
                    )),
                    Err(e) => Outcome::Error(e.to_string()),
                }
            }
            Self::Port { addr } => check_port(*addr),
            Self::FileAvailable { resolved, .. } => match fs::metadata(resolved) {
                Ok(_) => Outcome::Error(format!(
                    "{} already exists; expected no file there before this run creates it",
                    resolved.display()
                )),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Pass,
                Err(e) => Outcome::Error(format!("cannot check {}: {e}", resolved.display())),
            },
            Self::DirAvailable { resolved, .. } => check_dir_available(resolved),
            Self::FileContent(switch) => {
                let path = switch.path();
                match probe.read_kernel_file(path) {
                    Ok(text) if text.starts_with('1') => Outcome::Pass,
                    Ok(text) => Outcome::Error(format!(
                        "{path} contents are not set to 1 (found {:?})",
                        text.trim()
                    )),
                    Err(e) => Outcome::Error(format!("{path} cannot be read: {e}")),
                }
            }
            Self::Swap => match probe.read_kernel_file("/proc/swaps") {
                // Without /proc/swaps there is no reason to warn (as kubeadm).
                Err(_) => Outcome::Pass,
                Ok(text) => {
                    let devices = probe::swap_devices(&text);
                    if devices.is_empty() {
                        Outcome::Pass
                    } else {
                        Outcome::Warning(format!(
                            "swap is enabled ({}); swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or disable swap on the node",
                            devices.join(", ")
                        ))
                    }
                }
            },
            Self::Cri { socket, resolved } => check_cri(socket, resolved),
            Self::FileExisting(program) => match probe.find_in_path(program.name) {
                Some(_) => Outcome::Pass,
                None if program.required => {
                    Outcome::Error(format!("{} not found in system path", program.name))
                }
                None => Outcome::Warning(format!("{} not found in system path", program.name)),
            },
            Self::Hostname { node_name } => check_hostname(node_name, probe),
            Self::KubeletVersion { control_plane } => {
                check_kubelet_version(control_plane.as_ref(), probe)
            }
            Self::KubeletService => check_kubelet_service(probe),
        }
    }
}

/// `FileAvailable` + `/etc/kubernetes/manifests/etcd.yaml` →
/// `FileAvailable--etc-kubernetes-manifests-etcd.yaml`: kubeadm's names come from the
/// logical path, never the one under `--root`, so the same flag works on every node.
pub fn path_label(kind: &str, logical: &Path) -> String {
    format!("{kind}-{}", logical.to_string_lossy().replace('/', "-"))
}

/// The programs kubeadm wants in `$PATH` for a control plane of `version` (`None`: not known,
/// as on join, where kubeadm skips the version-dependent `conntrack`).
pub fn programs(version: Option<&KubernetesVersion>) -> Vec<Program> {
    let required = |name| Program {
        name,
        required: true,
    };
    let optional = |name| Program {
        name,
        required: false,
    };
    let mut out = Vec::new();
    if version.is_some_and(|v| *v < CONNTRACK_NOT_NEEDED_FROM) {
        out.push(required("conntrack"));
    }
    out.extend([
        required("ip"),
        required("iptables"),
        required("mount"),
        required("nsenter"),
        optional("ebtables"),
        optional("ethtool"),
        optional("socat"),
        optional("tc"),
        optional("touch"),
    ]);
    out
}

/// Binds the address and lets go at once, as the component will bind it later.
fn check_port(addr: SocketAddr) -> Outcome {
    match TcpListener::bind(addr) {
        Ok(listener) => {
            drop(listener);
            Outcome::Pass
        }
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Outcome::Error(format!(
            "Port {} is in use: something already listens on {addr}; expected it free for the component that binds it",
            addr.port()
        )),
        Err(e) => Outcome::Error(format!(
            "cannot listen on {addr}: {e}; expected an address of this host that is free"
        )),
    }
}

fn check_dir_available(dir: &Path) -> Outcome {
    let mut entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Outcome::Pass,
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Outcome::Error(format!(
                "{} exists and is not a directory; expected an empty directory or nothing",
                dir.display()
            ));
        }
        Err(e) => {
            return Outcome::Error(format!(
                "unable to check if {} is empty: {e}",
                dir.display()
            ));
        }
    };
    match entries.next() {
        None => Outcome::Pass,
        Some(Ok(entry)) => Outcome::Error(format!(
            "{} is not empty (it holds {:?}, …); expected an empty directory or nothing",
            dir.display(),
            entry.file_name()
        )),
        Some(Err(e)) => Outcome::Error(format!(
            "unable to check if {} is empty: {e}",
            dir.display()
        )),
    }
}

fn check_cri(socket: &CriSocket, resolved: &Path) -> Outcome {
    use std::os::unix::fs::FileTypeExt;
    match fs::metadata(resolved) {
        Ok(m) if m.file_type().is_socket() => Outcome::Pass,
        Ok(_) => Outcome::Error(format!(
            "container runtime is not running: {} (from {socket}) exists but is not a socket; expected the runtime's listening socket",
            resolved.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outcome::Error(format!(
            "container runtime is not running: no socket at {} (from {socket}); start the container runtime or set nodeRegistration.criSocket / --cri-socket",
            resolved.display()
        )),
        Err(e) => Outcome::Error(format!(
            "cannot check the container runtime socket {}: {e}",
            resolved.display()
        )),
    }
}

fn check_hostname(node_name: &str, probe: &dyn Probe) -> Outcome {
    let mut problems: Vec<String> = qualified_name_problems(node_name)
        .into_iter()
        .map(|p| format!("invalid node name format {node_name:?}: {p}"))
        .collect();
    match probe.resolve(node_name) {
        Ok(n) if n > 0 => {}
        Ok(_) => problems.push(format!("hostname {node_name:?} could not be reached")),
        Err(e) => problems.push(format!(
            "hostname {node_name:?} could not be reached: {e}; expected the node name to resolve (DNS or /etc/hosts)"
        )),
    }
    if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Warning(problems.join("; "))
    }
}

/// Why `name` is not a Kubernetes qualified name (`[prefix/]name`: a DNS subdomain prefix and
/// a name of at most 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric); empty
/// when it is one.
fn qualified_name_problems(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, local) = match name.split('/').collect::<Vec<_>>()[..] {
        [local] => (None, local),
        [prefix, local] => (Some(prefix), local),
        _ => {
            out.push("a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'".into());
            return out;
        }
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            out.push("prefix part must be non-empty".into());
        } else if !crate::config::node_name::is_dns1123_subdomain(prefix) {
            out.push("prefix part must be a lowercase RFC 1123 subdomain".into());
        }
    }
    if local.is_empty() {
        out.push("name part must be non-empty".into());
    } else {
        if local.len() > 63 {
            out.push("name part must be no more than 63 characters".into());
        }
        let bytes = local.as_bytes();
        let inner_ok = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        let ends_ok =
            bytes[0].is_ascii_alphanumeric() && bytes[bytes.len() - 1].is_ascii_alphanumeric();
        if !inner_ok || !ends_ok {
            out.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
        }
    }
    out
}

fn check_kubelet_version(control_plane: Option<&KubernetesVersion>, probe: &dyn Probe) -> Outcome {
    let oldest = control_plane
        .map(KubernetesVersion::oldest_supported_kubelet)
        .unwrap_or(KubernetesVersion::OLDEST_KUBELET);
    let output = match probe.kubelet_version_output() {
        Ok(out) => out,
        Err(e) => {
            return Outcome::Error(format!(
                "couldn't get kubelet version: {e}; expected a kubelet {oldest} or newer in $PATH"
            ));
        }
    };
    let kubelet = match KubernetesVersion::from_kubelet_output(&output) {
        Ok(v) => v,
        Err(e) => {
            return Outcome::Error(format!(
                "couldn't get kubelet version: unable to parse output from 'kubelet --version': {e}"
            ));
        }
    };
    if kubelet < oldest {
        return Outcome::Error(format!(
            "Kubelet version {kubelet} is lower than kubestrap can support (oldest: {oldest}). Please upgrade kubelet"
        ));
    }
    if let Some(cp) = control_plane {
        // kubeadm's rule, kept as is: a higher major or a higher minor is unsupported.
        if kubelet.major() > cp.major() || kubelet.minor() > cp.minor() {
            return Outcome::Error(format!(
                "the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: {kubelet} Control plane version: {cp}"
            ));
        }
    }
    Outcome::Pass
}

fn check_kubelet_service(probe: &dyn Probe) -> Outcome {
    if !probe.systemd_running() {
        return Outcome::Warning(
            "no supported init system detected (systemd is not running), skipping checking for services".into(),
        );
    }
    match probe.unit_state("kubelet.service") {
        Err(e) => Outcome::Warning(e.to_string()),
        Ok(state) if state.enabled => Outcome::Pass,
        Ok(state) if state.said == "not-found" || state.said.contains("No such file") => {
            Outcome::Warning(
                "kubelet service does not exist; expected a kubelet.service unit (install the kubelet package)".into(),
            )
        }
        Ok(state) => Outcome::Warning(format!(
            "kubelet service is not enabled (systemctl says {:?}), please run 'systemctl enable kubelet.service'",
            state.said
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::phases::preflight::probe::{ProgramError, UnitState};

    /// A machine that answers whatever the test says.
    pub(crate) struct FakeProbe {
        pub euid: u32,
        pub cpus: usize,
        pub meminfo: String,
        pub swaps: Option<String>,
        pub ip_forward: String,
        pub programs: Vec<&'static str>,
        /// `kubelet --version`'s output, or `None` for a machine without a kubelet.
        pub kubelet: Option<String>,
        pub resolves: bool,
        pub systemd: bool,
        pub kubelet_unit: UnitState,
    }

    impl FakeProbe {
        /// A machine on which every check passes.
        pub(crate) fn healthy() -> Self {
            Self {
                euid: 0,
                cpus: 4,
                meminfo: "MemTotal:        8029736 kB\n".into(),
                swaps: Some("Filename Type Size Used Priority\n".into()),
                ip_forward: "1\n".into(),
                programs: vec![
                    "conntrack",
                    "ip",
                    "iptables",
                    "mount",
                    "nsenter",
                    "ebtables",
                    "ethtool",
                    "socat",
                    "tc",
                    "touch",
                ],
                kubelet: Some("Kubernetes v1.30.2\n".into()),
                resolves: true,
                systemd: true,
                kubelet_unit: UnitState {
                    enabled: true,
                    said: "enabled".into(),
                },
            }
        }
    }

    impl Probe for FakeProbe {
        fn euid(&self) -> u32 {
            self.euid
        }
        fn cpus(&self) -> io::Result<usize> {
            Ok(self.cpus)
        }
        fn read_kernel_file(&self, path: &str) -> io::Result<String> {
            let found = match path {
                "/proc/meminfo" => Some(self.meminfo.clone()),
                "/proc/swaps" => self.swaps.clone(),
                "/proc/sys/net/ipv4/ip_forward" | "/proc/sys/net/ipv6/conf/default/forwarding" => {
                    Some(self.ip_forward.clone())
                }
                _ => None,
            };
            found.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn find_in_path(&self, binary: &str) -> Option<PathBuf> {
            self.programs
                .contains(&binary)
                .then(|| PathBuf::from("/usr/bin").join(binary))
        }
        fn kubelet_version_output(&self) -> Result<String, ProgramError> {
            self.kubelet
                .clone()
                .ok_or_else(|| ProgramError::Unrunnable {
                    command: "kubelet --version".into(),
                    source: io::Error::new(io::ErrorKind::NotFound, "kubelet not found in $PATH"),
                })
        }
        fn resolve(&self, _name: &str) -> io::Result<usize> {
            if self.resolves {
                Ok(1)
            } else {
                Err(io::Error::other("Name or service not known"))
            }
        }
        fn systemd_running(&self) -> bool {
            self.systemd
        }
        fn unit_state(&self, _unit: &str) -> Result<UnitState, ProgramError> {
            Ok(self.kubelet_unit.clone())
        }
    }

    fn v(s: &str) -> KubernetesVersion {
        s.parse().unwrap()
    }

    fn is_error(o: &Outcome) -> bool {
        matches!(o, Outcome::Error(_))
    }

    fn message(o: &Outcome) -> &str {
        match o {
            Outcome::Pass => "",
            Outcome::Warning(m) | Outcome::Error(m) => m,
        }
    }

    #[test]
    fn names_follow_kubeadm() {
        let cases = [
            (Check::IsPrivilegedUser, "IsPrivilegedUser"),
            (Check::NumCpu { min: 2 }, "NumCPU"),
            (Check::Mem { min_mb: 1700 }, "Mem"),
            (
                Check::Port {
                    addr: "127.0.0.2:6443".parse().unwrap(),
                },
                "Port-6443",
            ),
            (
                Check::FileAvailable {
                    logical: "/etc/kubernetes/manifests/kube-apiserver.yaml".into(),
                    resolved: "/tmp/n1/etc/kubernetes/manifests/kube-apiserver.yaml".into(),
                },
                "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
            ),
            (
                Check::DirAvailable {
                    logical: "/var/lib/etcd".into(),
                    resolved: "/tmp/n1/var/lib/etcd".into(),
                },
                "DirAvailable--var-lib-etcd",
            ),
            (
                Check::FileContent(KernelSwitch::Ipv4Forward),
                "FileContent--proc-sys-net-ipv4-ip_forward",
            ),
            (
                Check::FileContent(KernelSwitch::Ipv6Forwarding),
                "FileContent--proc-sys-net-ipv6-conf-default-forwarding",
            ),
            (Check::Swap, "Swap"),
            (
                Check::FileExisting(Program {
                    name: "nsenter",
                    required: true,
                }),
                "FileExisting-nsenter",
            ),
            (
                Check::Hostname {
                    node_name: "n".into(),
                },
                "Hostname",
            ),
            (
                Check::KubeletVersion {
                    control_plane: None,
                },
                "KubeletVersion",
            ),
            (Check::KubeletService, "Service-Kubelet"),
        ];
        for (check, name) in cases {
            assert_eq!(check.name(), name);
        }
    }

    #[test]
    fn privileged_user_is_euid_zero() {
        let mut p = FakeProbe::healthy();
        assert_eq!(Check::IsPrivilegedUser.run_with(&p), Outcome::Pass);
        p.euid = 1000;
        let out = Check::IsPrivilegedUser.run_with(&p);
        assert!(is_error(&out));
        assert!(message(&out).contains("effective uid 1000"));
    }

    #[test]
    fn cpu_and_memory_thresholds() {
        let mut p = FakeProbe::healthy();
        let cpu = Check::NumCpu {
            min: CONTROL_PLANE_MIN_CPUS,
        };
        let mem = Check::Mem {
            min_mb: CONTROL_PLANE_MIN_MEM_MB,
        };
        p.cpus = 2;
        assert_eq!(cpu.run_with(&p), Outcome::Pass);
        p.cpus = 1;
        assert_eq!(
            cpu.run_with(&p),
            Outcome::Error("the number of available CPUs 1 is less than the required 2".into())
        );
        // 1700 MB exactly passes, one kB less than that fails.
        p.meminfo = format!("MemTotal: {} kB\n", 1700 * 1024);
        assert_eq!(mem.run_with(&p), Outcome::Pass);
        p.meminfo = format!("MemTotal: {} kB\n", 1700 * 1024 - 1);
        assert_eq!(
            mem.run_with(&p),
            Outcome::Error("the system RAM (1699 MB) is less than the minimum 1700 MB".into())
        );
        p.meminfo = "garbage".into();
        assert!(is_error(&mem.run_with(&p)));
    }

    #[test]
    fn swap_is_a_warning_naming_the_devices() {
        let mut p = FakeProbe::healthy();
        assert_eq!(Check::Swap.run_with(&p), Outcome::Pass);
        p.swaps = Some("Filename Type Size Used Priority\n/swapfile file 1 0 -2\n".into());
        let out = Check::Swap.run_with(&p);
        assert!(matches!(&out, Outcome::Warning(m) if m.contains("/swapfile")));
        p.swaps = None;
        assert_eq!(Check::Swap.run_with(&p), Outcome::Pass);
    }

    #[test]
    fn ip_forward_must_start_with_one() {
        let mut p = FakeProbe::healthy();
        let check = Check::FileContent(KernelSwitch::Ipv4Forward);
        assert_eq!(check.run_with(&p), Outcome::Pass);
        p.ip_forward = "0\n".into();
        assert_eq!(
            check.run_with(&p),
            Outcome::Error(
                "/proc/sys/net/ipv4/ip_forward contents are not set to 1 (found \"0\")".into()
            )
        );
    }

    #[test]
    fn program_list_matches_kubeadm_for_the_version() {
        let names = |v: Option<KubernetesVersion>| -> Vec<(&str, bool)> {
            programs(v.as_ref())
                .into_iter()
                .map(|p| (p.name, p.required))
                .collect()
        };
        let recent = names(Some(v("v1.32.0")));
        assert_eq!(
            recent,
            [
                ("ip", true),
                ("iptables", true),
                ("mount", true),
                ("nsenter", true),
                ("ebtables", false),
                ("ethtool", false),
                ("socat", false),
                ("tc", false),
                ("touch", false)
            ]
        );
        assert_eq!(names(Some(v("v1.31.4")))[0], ("conntrack", true));
        assert_eq!(names(None), recent, "join does not know the version");
    }

    #[test]
    fn missing_programs_are_errors_or_warnings() {
        let mut p = FakeProbe::healthy();
        p.programs.clear();
        let nsenter = Check::FileExisting(Program {
            name: "nsenter",
            required: true,
        });
        let socat = Check::FileExisting(Program {
            name: "socat",
            required: false,
        });
        assert_eq!(
            nsenter.run_with(&p),
            Outcome::Error("nsenter not found in system path".into())
        );
        assert_eq!(
            socat.run_with(&p),
            Outcome::Warning("socat not found in system path".into())
        );
        p.programs.push("nsenter");
        assert_eq!(nsenter.run_with(&p), Outcome::Pass);
    }

    #[test]
    fn hostname_warnings() {
        let mut p = FakeProbe::healthy();
        let check = |n: &str| Check::Hostname {
            node_name: n.into(),
        };
        assert_eq!(check("node-1").run_with(&p), Outcome::Pass);
        let bad = check("-node_").run_with(&p);
        assert!(matches!(&bad, Outcome::Warning(m) if m.contains("invalid node name format")));
        p.resolves = false;
        let out = check("node-1").run_with(&p);
        assert!(matches!(&out, Outcome::Warning(m) if m.contains("could not be reached")));
    }

    #[test]
    fn qualified_names() {
        assert!(qualified_name_problems("node-1").is_empty());
        assert!(qualified_name_problems("Node_1.example").is_empty());
        assert!(qualified_name_problems("example.com/node").is_empty());
        assert!(!qualified_name_problems("").is_empty());
        assert!(!qualified_name_problems("a/b/c").is_empty());
        assert!(!qualified_name_problems("Example.com/node").is_empty());
        assert!(!qualified_name_problems(&"a".repeat(64)).is_empty());
        assert!(!qualified_name_problems("node!").is_empty());
    }

    #[test]
    fn kubelet_version_skew() {
        let mut p = FakeProbe::healthy();
        let check = |cp: Option<&str>| Check::KubeletVersion {
            control_plane: cp.map(v),
        };
        // v1.30.2 kubelet.
        assert_eq!(check(Some("v1.30.0")).run_with(&p), Outcome::Pass);
        assert_eq!(check(Some("v1.33.9")).run_with(&p), Outcome::Pass);
        assert_eq!(check(None).run_with(&p), Outcome::Pass);
        let too_old = check(Some("v1.34.0")).run_with(&p);
        assert!(
            matches!(&too_old, Outcome::Error(m) if m.contains("lower than") && m.contains("v1.31.0"))
        );
        let too_new = check(Some("v1.29.5")).run_with(&p);
        assert!(
            matches!(&too_new, Outcome::Error(m) if m.contains("higher than the control plane"))
        );
        p.kubelet = Some("Kubernetes v1.16.3".into());
        assert!(is_error(&check(None).run_with(&p)), "older than v1.17");
        p.kubelet = Some("something else".into());
        assert!(is_error(&check(None).run_with(&p)));
        // kubelet not found in $PATH.
        p.kubelet = None;
        let missing = check(Some("v1.30.0")).run_with(&p);
        assert!(
            matches!(&missing, Outcome::Error(m) if m.contains("not found") && m.contains("v1.27.0"))
        );
    }

    #[test]
    fn kubelet_service_states() {
        let mut p = FakeProbe::healthy();
        assert_eq!(Check::KubeletService.run_with(&p), Outcome::Pass);
        p.kubelet_unit = UnitState {
            enabled: false,
            said: "disabled".into(),
        };
        let out = Check::KubeletService.run_with(&p);
        assert!(
            matches!(&out, Outcome::Warning(m) if m.contains("systemctl enable kubelet.service"))
        );
        p.kubelet_unit = UnitState {
            enabled: false,
            said: "not-found".into(),
        };
        let out = Check::KubeletService.run_with(&p);
        assert!(matches!(&out, Outcome::Warning(m) if m.contains("does not exist")));
        p.systemd = false;
        let out = Check::KubeletService.run_with(&p);
        assert!(matches!(&out, Outcome::Warning(m) if m.contains("no supported init system")));
    }

    #[test]
    fn port_in_use_is_an_error_and_a_free_port_passes() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let out = Check::Port { addr }.run();
        assert!(
            matches!(&out, Outcome::Error(m) if m.contains("is in use") && m.contains(&addr.to_string()))
        );
        drop(held);
        assert_eq!(Check::Port { addr }.run(), Outcome::Pass);
        // The check itself must not keep the port.
        assert_eq!(Check::Port { addr }.run(), Outcome::Pass);
    }

    #[test]
    fn port_on_an_address_this_host_lacks_is_an_error() {
        // TEST-NET-1 is never assigned to a local interface; only a kernel told to allow
        // binding foreign addresses accepts it.
        let out = Check::Port {
            addr: "192.0.2.1:6443".parse().unwrap(),
        }
        .run();
        let nonlocal_bind = fs::read_to_string("/proc/sys/net/ipv4/ip_nonlocal_bind")
            .is_ok_and(|v| v.trim() == "1");
        if nonlocal_bind {
            assert_eq!(out, Outcome::Pass);
        } else {
            assert!(
                matches!(&out, Outcome::Error(m) if m.contains("cannot listen on 192.0.2.1:6443"))
            );
        }
    }

    #[test]
    fn file_available() {
        let dir = tempfile::tempdir().unwrap();
        let resolved = dir.path().join("etc/kubernetes/kubelet.conf");
        let check = Check::FileAvailable {
            logical: "/etc/kubernetes/kubelet.conf".into(),
            resolved: resolved.clone(),
        };
        assert_eq!(check.run(), Outcome::Pass);
        fs::create_dir_all(resolved.parent().unwrap()).unwrap();
        fs::write(&resolved, "x").unwrap();
        let out = check.run();
        assert!(
            matches!(&out, Outcome::Error(m) if m.contains("already exists") && m.contains(&*resolved.to_string_lossy()))
        );
    }

    #[test]
    fn dir_available() {
        let dir = tempfile::tempdir().unwrap();
        let etcd = dir.path().join("var/lib/etcd");
        let check = Check::DirAvailable {
            logical: "/var/lib/etcd".into(),
            resolved: etcd.clone(),
        };
        assert_eq!(check.run(), Outcome::Pass, "absent");
        fs::create_dir_all(&etcd).unwrap();
        assert_eq!(check.run(), Outcome::Pass, "empty");
        fs::create_dir(etcd.join("member")).unwrap();
        let out = check.run();
        assert!(
            matches!(&out, Outcome::Error(m) if m.contains("is not empty") && m.contains("member"))
        );
        fs::remove_dir(etcd.join("member")).unwrap();
        fs::remove_dir(&etcd).unwrap();
        fs::write(&etcd, "").unwrap();
        let out = check.run();
        assert!(matches!(&out, Outcome::Error(m) if m.contains("not a directory")));
    }

    #[test]
    fn cri_socket_must_be_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket: CriSocket = "unix:///run/containerd/containerd.sock".parse().unwrap();
        let resolved = dir.path().join("run/containerd/containerd.sock");
        let check = Check::Cri {
            socket,
            resolved: resolved.clone(),
        };
        let out = check.run();
        assert!(matches!(&out, Outcome::Error(m) if m.contains("no socket at")));
        fs::create_dir_all(resolved.parent().unwrap()).unwrap();
        fs::write(&resolved, "").unwrap();
        assert!(matches!(&check.run(), Outcome::Error(m) if m.contains("not a socket")));
        fs::remove_file(&resolved).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(&resolved).unwrap();
        assert_eq!(check.run(), Outcome::Pass);
    }
}
