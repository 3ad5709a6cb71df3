//! The preflight phase on this machine, through its public API: real files under a temporary
//! node root, real listening sockets, the real euid.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kubestrap_phases::phases::preflight::{
    self, ControlPlane, EtcdPlacement, IgnoreSet, IpFamilies, Level, NodeRole, Preflight,
    PreflightContext, PreflightSpec,
};
use kubestrap_phases::{Effects, HostFs, NodeRoot, PhaseError, Reporter, Step};

/// Collects the warnings a phase reports.
#[derive(Default)]
struct Collect(Mutex<Vec<String>>);

impl Reporter for Collect {
    fn warning(&self, phase: &str, message: &str) {
        assert_eq!(phase, "preflight");
        self.0.lock().unwrap().push(message.to_string());
    }
    fn progress(&self, _: &str, _: &str) {}
}

struct Ctx(PreflightSpec);

impl PreflightContext for Ctx {
    fn preflight_spec(&self) -> PreflightSpec {
        self.0.clone()
    }
}

/// A free port on `ip`, found by binding port 0 and letting go.
fn free(ip: &str) -> SocketAddr {
    TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap()
}

/// An init spec under `root` whose ports are all free and whose CRI socket exists.
fn init_spec(root: &Path) -> PreflightSpec {
    let root = NodeRoot::new(root).unwrap();
    let socket = root.resolve("/run/containerd/containerd.sock");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    PreflightSpec {
        root,
        role: NodeRole::InitControlPlane(ControlPlane {
            apiserver: free("127.0.0.1"),
            controller_manager: free("127.0.0.1"),
            scheduler: free("127.0.0.1"),
            manifests_dir: "/etc/kubernetes/manifests".into(),
            etcd: EtcdPlacement::Local {
                client: free("127.0.0.1"),
                peer: free("127.0.0.1"),
                data_dir: "/var/lib/etcd".into(),
            },
        }),
        node_name: "localhost".into(),
        kubelet: free("127.0.0.1"),
        cri_socket: "unix:///run/containerd/containerd.sock".parse().unwrap(),
        kubernetes_version: Some("v1.30.2".parse().unwrap()),
        ip_families: IpFamilies {
            ipv4: true,
            ipv6: false,
        },
        ignore: IgnoreSet::none(),
    }
}

/// Every file under `dir` with its content, to prove a run wrote nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
                out.insert(path, b"<dir>".to_vec());
            } else if meta.is_file() {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            } else {
                out.insert(path, b"<other>".to_vec());
            }
        }
    }
    out
}

async fn run_step(spec: PreflightSpec) -> (Result<(), PhaseError>, Vec<String>, usize) {
    let fs = HostFs::real();
    let reporter = Collect::default();
    let mut fx = Effects::new("preflight", &fs, &reporter);
    let result = Step::<Ctx>::run(&Preflight, &Ctx(spec), &mut fx).await;
    let (files, api) = fx.into_record();
    let warnings = reporter.0.into_inner().unwrap();
    (result, warnings, files.len() + api.len())
}

#[tokio::test]
async fn conflicts_under_the_root_fail_and_name_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = init_spec(dir.path());
    // Something already listens where the kubelet will, a manifest and etcd data exist.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    spec.kubelet = held.local_addr().unwrap();
    let manifest = dir
        .path()
        .join("etc/kubernetes/manifests/kube-apiserver.yaml");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::write(&manifest, "old").unwrap();
    std::fs::create_dir_all(dir.path().join("var/lib/etcd/member")).unwrap();

    let before = snapshot(dir.path());
    let (result, _warnings, recorded) = run_step(spec.clone()).await;
    assert_eq!(snapshot(dir.path()), before, "preflight must write nothing");
    assert_eq!(recorded, 0, "no file or API change recorded");

    let failures = match result {
        Err(PhaseError::Preflight { failures }) => failures,
        other => panic!("expected preflight failures, got {other:?}"),
    };
    let port = format!("[ERROR Port-{}]: ", spec.kubelet.port());
    assert!(
        failures.iter().any(|f| f.starts_with(&port)),
        "{failures:?}"
    );
    let manifest_failure = failures
        .iter()
        .find(|f| {
            f.starts_with("[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: ")
        })
        .unwrap_or_else(|| panic!("{failures:?}"));
    assert!(manifest_failure.contains(&*manifest.to_string_lossy()));
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("[ERROR DirAvailable--var-lib-etcd]: ")
                && f.contains("not empty")),
        "{failures:?}"
    );
    // Files that do not exist under this root pass, whatever the real /etc holds.
    assert!(
        !failures
            .iter()
            .any(|f| f.contains("FileAvailable--etc-kubernetes-manifests-etcd.yaml")),
        "{failures:?}"
    );
}

#[tokio::test]
async fn ignoring_every_failed_check_turns_them_into_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = init_spec(dir.path());
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    spec.kubelet = held.local_addr().unwrap();

    // Whatever fails on this machine (at least the held port), ignored by name in any case.
    let failed: Vec<String> = preflight::run(&spec)
        .errors
        .into_iter()
        .map(|f| f.check)
        .collect();
    assert!(failed.contains(&format!("Port-{}", spec.kubelet.port())));
    spec.ignore = IgnoreSet::parse(failed.iter().map(|n| n.to_uppercase())).unwrap();

    let (result, warnings, _) = run_step(spec).await;
    result.unwrap();
    for name in &failed {
        let prefix = format!("[WARNING {name}]: ");
        assert!(
            warnings.iter().any(|w| w.starts_with(&prefix)),
            "{name} not reported as a warning: {warnings:?}"
        );
    }
}

#[test]
fn nodes_on_different_loopback_addresses_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = init_spec(dir.path());
    let held = TcpListener::bind("127.0.0.2:0").unwrap();
    let port = held.local_addr().unwrap().port();
    spec.kubelet = SocketAddr::new("127.0.0.3".parse().unwrap(), port);
    let name = format!("Port-{port}");
    let report = preflight::run(&spec);
    assert!(report.passed.contains(&name), "{report:?}");
    spec.kubelet = held.local_addr().unwrap();
    let report = preflight::run(&spec);
    assert!(report.errors.iter().any(|f| f.check == name), "{report:?}");
}

#[test]
fn ignore_set_rejects_all_with_other_names() {
    let err = IgnoreSet::parse(["all", "IsPrivilegedUser"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--ignore-preflight-errors: invalid value \"all,isprivilegeduser\": don't specify individual checks if 'all' is used"
    );
}

/// The environment variable that tells this test binary it is the unprivileged child.
const CHILD: &str = "KUBESTRAP_PREFLIGHT_TEST_UNPRIVILEGED";

/// As a non-root user without a kubelet, preflight passes once those checks are ignored.
/// Tests run as root here, so the test re-runs itself as `nobody`.
#[test]
fn passes_unprivileged_when_root_and_kubelet_checks_are_ignored() {
    let euid = nix::unistd::geteuid().as_raw();
    if euid == 0 && std::env::var_os(CHILD).is_none() {
        use std::os::unix::process::CommandExt;
        // This test's name in its binary: its module path without the crate's name.
        let (_, name) = concat!(
            module_path!(),
            "::passes_unprivileged_when_root_and_kubelet_checks_are_ignored"
        )
        .split_once("::")
        .unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("TMPDIR", "/tmp")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "unprivileged run failed:\n{text}");
        assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
        return;
    }
    assert_ne!(euid, 0, "this part runs unprivileged");

    let dir = tempfile::tempdir().unwrap();
    let mut spec = init_spec(dir.path());
    spec.role = NodeRole::JoinWorker {
        ca_cert: "/etc/kubernetes/pki/ca.crt".into(),
    };
    spec.kubernetes_version = None;
    // Privileges and the kubelet, plus what depends on how this machine is set up.
    let mut ignore = vec![
        "IsPrivilegedUser".to_string(),
        "KubeletVersion".into(),
        "FileContent--proc-sys-net-ipv4-ip_forward".into(),
    ];
    ignore.extend(
        preflight::programs(None)
            .iter()
            .map(|p| format!("FileExisting-{}", p.name)),
    );
    spec.ignore = IgnoreSet::parse(&ignore).unwrap();
    let report = preflight::run(&spec);
    assert!(report.is_ok(), "{:?}", report.errors);
    let privileged = report
        .warnings
        .iter()
        .find(|w| w.check == "IsPrivilegedUser")
        .expect("the root check fails unprivileged and is reported as a warning");
    assert_eq!(privileged.level, Level::IgnoredError);
    assert!(
        privileged
            .message
            .contains(&format!("effective uid {euid}"))
    );
}
