//! What init and join left on this node, found from the node itself: the well-known kubeadm
//! paths, what the static-pod manifests say (certificates dir, etcd data dir, endpoints) and
//! every file the journals record. Nothing outside the node root is ever a target.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::host::{NodeRoot, TEMP_PREFIX};
use crate::static_pod::Pod;

use super::etcd_member::ThisMember;
use crate::etcd::EtcdClientTls;

/// Static-pod manifests kubestrap writes, by file name.
pub const MANIFESTS: [&str; 4] = [
    "etcd.yaml",
    "kube-apiserver.yaml",
    "kube-controller-manager.yaml",
    "kube-scheduler.yaml",
];

/// Kubeconfigs under /etc/kubernetes that init or join write.
pub const KUBECONFIGS: [&str; 6] = [
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// Files kubestrap writes for the kubelet under /var/lib/kubelet.
pub const KUBELET_FILES: [&str; 2] = ["config.yaml", "kubeadm-flags.env"];

/// The kubelet's client certificate store, under /var/lib/kubelet: what the TLS bootstrap that
/// init or join started produced (kubestrap's `--tls-bootstrap builtin`, or the kubelet
/// itself), and the kubelet's rotations since.
pub const KUBELET_PKI_DIR: &str = "/var/lib/kubelet/pki";
/// The symlink to the current pair in [`KUBELET_PKI_DIR`].
pub const KUBELET_CLIENT_CURRENT: &str = "kubelet-client-current.pem";

/// Whether `name` is one of the kubelet's dated client pairs, `kubelet-client-<YYYY-MM-DD-HH-MM-SS>.pem`
/// (Go's `2006-01-02-15-04-05`, as the kubelet's certificate store names them).
pub fn is_dated_kubelet_client_pem(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix("kubelet-client-")
        .and_then(|n| n.strip_suffix(".pem"))
    else {
        return false;
    };
    let fields: Vec<&str> = stamp.split('-').collect();
    let widths = [4, 2, 2, 2, 2, 2];
    fields.len() == widths.len()
        && fields
            .iter()
            .zip(widths)
            .all(|(f, w)| f.len() == w && f.bytes().all(|b| b.is_ascii_digit()))
}

/// The kubelet's client certificates in `dir`: the current symlink and the dated pairs. Only
/// these names: the kubelet's serving certificate and anything else in the directory are not
/// init's or join's. A symlink is listed as itself (removing it never touches its target).
fn kubelet_client_certs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n == KUBELET_CLIENT_CURRENT || is_dated_kubelet_client_pem(n))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
pub const JOURNAL_DIR: &str = "/var/lib/kubestrap";
pub const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";
pub const DEFAULT_ETCD_DATA_DIR: &str = "/var/lib/etcd";

/// What a target is, for the listing and the order of removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    StaticPodManifest,
    Kubeconfig,
    KubeletFile,
    /// The certificates dir: its content goes, the directory stays (it may be a mount).
    CertificatesDir,
    /// etcd's data dir: its content goes, the directory stays (often its own volume).
    EtcdDataDir,
    /// A file a journal records that none of the above covers.
    RecordedFile,
    /// A temporary file of an interrupted atomic write.
    TempFile,
    Journal,
}

impl TargetKind {
    /// Whether the target is a directory whose content is removed.
    pub fn is_dir(self) -> bool {
        matches!(self, Self::CertificatesDir | Self::EtcdDataDir)
    }
}

/// One thing reset removes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    pub path: PathBuf,
    pub kind: TargetKind,
}

/// The local etcd member, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEtcd {
    pub member: ThisMember,
    pub client_url: String,
    pub credentials: EtcdClientTls,
}

/// Everything reset needs to know about the node.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub root: NodeRoot,
    /// Existing targets, manifests first, journals last.
    pub targets: Vec<Target>,
    /// Present when this node runs a local etcd member.
    pub etcd: Option<LocalEtcd>,
    /// Where the static pods listen, to tell when they have stopped.
    pub listeners: Vec<SocketAddr>,
    /// Things found that reset will not act on, and why.
    pub warnings: Vec<String>,
}

/// How the user pointed reset at the node.
#[derive(Debug, Clone, Default)]
pub struct ResetOptions {
    /// `--cert-dir` (logical); otherwise taken from the API server's manifest, else
    /// /etc/kubernetes/pki.
    pub cert_dir: Option<PathBuf>,
}

/// `--name=value` of a manifest's command.
fn flag<'a>(pod: &'a Pod, name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    pod.container()?
        .command
        .iter()
        .find_map(|a| a.strip_prefix(&prefix))
}

fn read_manifest(path: &Path, warnings: &mut Vec<String>) -> Option<Pod> {
    let text = std::fs::read_to_string(path).ok()?;
    match Pod::from_yaml(&text) {
        Ok(pod) => Some(pod),
        Err(e) => {
            warnings.push(format!(
                "{}: not a static-pod manifest ({e}); defaults are used for what it would say",
                path.display()
            ));
            None
        }
    }
}

/// `host:port` of a URL (`https://10.0.0.1:2379`, `https://[::1]:2379`).
fn socket_of(url: &str) -> Option<SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next()?.parse().ok()
}

/// Directories whose content reset must never wipe, whatever a manifest says.
const PROTECTED: [&str; 10] = [
    "/",
    "/etc",
    "/var",
    "/var/lib",
    "/usr",
    "/home",
    "/root",
    "/boot",
    "/opt",
    "/etc/kubernetes",
];

/// A path a manifest names, accepted only under the root and outside the protected dirs.
fn under_root(root: &NodeRoot, path: &Path, what: &str, warnings: &mut Vec<String>) -> bool {
    let ok = path.is_absolute()
        && path.starts_with(root.as_path())
        && !PROTECTED.iter().any(|p| root.resolve(p) == path);
    if !ok {
        warnings.push(format!(
            "{what} {} is outside the node root {} or a system directory: left alone",
            path.display(),
            root.as_path().display()
        ));
    }
    ok
}

/// Every file path a journal under `dir` records as written (its phases' `outputs`).
fn recorded_outputs(dir: &Path, warnings: &mut Vec<String>) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut journals = Vec::new();
    let mut outputs = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (journals, outputs);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") || !path.is_file() {
            continue;
        }
        journals.push(path.clone());
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string())
            });
        let journal = match parsed {
            Ok(j) => j,
            Err(e) => {
                warnings.push(format!(
                    "{}: unreadable journal ({e}); only the well-known paths are removed",
                    path.display()
                ));
                continue;
            }
        };
        let phases = journal["phases"].as_object().into_iter().flatten();
        for (_, record) in phases {
            for out in record["outputs"].as_array().into_iter().flatten() {
                if let Some(p) = out["path"].as_str() {
                    outputs.push(PathBuf::from(p));
                }
            }
        }
    }
    journals.sort();
    (journals, outputs)
}

/// Temporary files of interrupted atomic writes directly in `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        // A temporary symlink counts too (an interrupted atomic link): file_type does not
        // follow it.
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Looks at the node under `root` and lists what reset would remove; reads only.
pub fn inventory(root: &NodeRoot, opts: &ResetOptions) -> Inventory {
    let mut warnings = Vec::new();
    let manifests_dir = root.resolve(MANIFESTS_DIR);
    let apiserver = read_manifest(&manifests_dir.join("kube-apiserver.yaml"), &mut warnings);
    let etcd_pod = read_manifest(&manifests_dir.join("etcd.yaml"), &mut warnings);

    let cert_dir = match &opts.cert_dir {
        Some(dir) => root.resolve(dir),
        None => apiserver
            .as_ref()
            .and_then(|p| flag(p, "client-ca-file"))
            .and_then(|ca| Path::new(ca).parent().map(Path::to_path_buf))
            .unwrap_or_else(|| root.resolve(DEFAULT_CERT_DIR)),
    };
    let data_dir = etcd_pod
        .as_ref()
        .and_then(|p| flag(p, "data-dir"))
        .map(PathBuf::from)
        .unwrap_or_else(|| root.resolve(DEFAULT_ETCD_DATA_DIR));

    let mut listeners = Vec::new();
    if let Some(pod) = &apiserver
        && let (Some(addr), Some(port)) = (flag(pod, "advertise-address"), flag(pod, "secure-port"))
        && let Some(sock) =
            socket_of(&format!("{addr}:{port}")).or_else(|| socket_of(&format!("[{addr}]:{port}")))
    {
        listeners.push(sock);
    }
    let etcd = etcd_pod.as_ref().and_then(|pod| {
        let client_url = pod
            .metadata
            .annotations
            .get("kubeadm.kubernetes.io/etcd.advertise-client-urls")
            .map(String::as_str)
            .or_else(|| flag(pod, "advertise-client-urls"))?
            .split(',')
            .next()?
            .to_string();
        if let Some(listen) = flag(pod, "listen-client-urls") {
            listeners.extend(listen.split(',').filter_map(socket_of));
        }
        // The API server's own etcd client credentials, as kubeadm uses; from its manifest
        // when there is one.
        let from_apiserver = |name: &str, default: &str| {
            apiserver
                .as_ref()
                .and_then(|p| flag(p, name))
                .map(PathBuf::from)
                .unwrap_or_else(|| cert_dir.join(default))
        };
        Some(LocalEtcd {
            member: ThisMember {
                name: flag(pod, "name").unwrap_or_default().to_string(),
                peer_url: flag(pod, "initial-advertise-peer-urls")
                    .and_then(|u| u.split(',').next())
                    .map(str::to_string),
            },
            client_url,
            credentials: EtcdClientTls {
                ca: from_apiserver("etcd-cafile", "etcd/ca.crt"),
                cert: from_apiserver("etcd-certfile", "apiserver-etcd-client.crt"),
                key: from_apiserver("etcd-keyfile", "apiserver-etcd-client.key"),
            },
        })
    });
    // Every pod's health endpoint: it answers as long as the pod runs.
    for name in MANIFESTS {
        let path = manifests_dir.join(name);
        let pod = match name {
            "kube-apiserver.yaml" => apiserver.clone(),
            "etcd.yaml" => etcd_pod.clone(),
            _ => read_manifest(&path, &mut warnings),
        };
        let probe = pod
            .as_ref()
            .and_then(|p| p.container())
            .and_then(|c| c.liveness_probe.as_ref());
        if let Some(probe) = probe
            && !probe.http_get.host.is_empty()
            && let Some(sock) =
                socket_of(&format!("{}:{}", probe.http_get.host, probe.http_get.port)).or_else(
                    || {
                        socket_of(&format!(
                            "[{}]:{}",
                            probe.http_get.host, probe.http_get.port
                        ))
                    },
                )
        {
            listeners.push(sock);
        }
    }
    listeners.sort();
    listeners.dedup();

    let mut targets: Vec<Target> = Vec::new();
    let add = |path: PathBuf, kind: TargetKind, targets: &mut Vec<Target>| {
        if !targets.iter().any(|t| t.path == path) {
            targets.push(Target { path, kind });
        }
    };
    for name in MANIFESTS {
        add(
            manifests_dir.join(name),
            TargetKind::StaticPodManifest,
            &mut targets,
        );
    }
    let kubernetes_dir = root.resolve(KUBERNETES_DIR);
    for name in KUBECONFIGS {
        add(
            kubernetes_dir.join(name),
            TargetKind::Kubeconfig,
            &mut targets,
        );
    }
    let kubelet_dir = root.resolve(KUBELET_DIR);
    for name in KUBELET_FILES {
        add(
            kubelet_dir.join(name),
            TargetKind::KubeletFile,
            &mut targets,
        );
    }
    let kubelet_pki = root.resolve(KUBELET_PKI_DIR);
    for cert in kubelet_client_certs(&kubelet_pki) {
        add(cert, TargetKind::KubeletFile, &mut targets);
    }
    if under_root(root, &cert_dir, "certificates dir", &mut warnings) {
        add(cert_dir.clone(), TargetKind::CertificatesDir, &mut targets);
    }
    if under_root(root, &data_dir, "etcd data dir", &mut warnings) {
        add(data_dir.clone(), TargetKind::EtcdDataDir, &mut targets);
    }
    let journal_dir = root.resolve(JOURNAL_DIR);
    let (journals, outputs) = recorded_outputs(&journal_dir, &mut warnings);
    for out in outputs {
        let covered = targets
            .iter()
            .any(|t| t.kind.is_dir() && out.starts_with(&t.path));
        if covered || !under_root(root, &out, "recorded file", &mut warnings) {
            continue;
        }
        // A journal is trusted only for files in kubestrap's own directories: a stale or
        // edited record must not make reset delete anything else on the host.
        let ours = [&kubernetes_dir, &kubelet_dir, &journal_dir, &cert_dir]
            .iter()
            .any(|d| out.starts_with(d));
        if !ours {
            warnings.push(format!(
                "recorded file {} is outside /etc/kubernetes, /var/lib/kubelet and the certificates dir: left alone",
                out.display()
            ));
            continue;
        }
        add(out, TargetKind::RecordedFile, &mut targets);
    }
    for dir in [
        &manifests_dir,
        &kubernetes_dir,
        &kubelet_dir,
        &kubelet_pki,
        &journal_dir,
    ] {
        for tmp in temp_files(dir) {
            add(tmp, TargetKind::TempFile, &mut targets);
        }
    }
    for j in journals {
        add(j, TargetKind::Journal, &mut targets);
    }
    // Only what is there; a stable order with the manifests first and journals last.
    targets.retain(|t| {
        if t.kind.is_dir() {
            std::fs::read_dir(&t.path).is_ok_and(|mut d| d.next().is_some())
        } else {
            t.path.symlink_metadata().is_ok()
        }
    });
    targets.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));

    Inventory {
        root: root.clone(),
        targets,
        etcd,
        listeners,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_socket_addresses() {
        assert_eq!(
            socket_of("https://127.0.0.5:2379"),
            Some("127.0.0.5:2379".parse().unwrap())
        );
        assert_eq!(
            socket_of("https://[::1]:2379/"),
            Some("[::1]:2379".parse().unwrap())
        );
        assert_eq!(socket_of("https://name:2379"), None);
    }

    #[test]
    fn paths_outside_the_root_or_system_dirs_are_refused() {
        let root = NodeRoot::new("/tmp/n").unwrap();
        let mut w = Vec::new();
        assert!(under_root(
            &root,
            Path::new("/tmp/n/var/lib/etcd"),
            "d",
            &mut w
        ));
        assert!(!under_root(&root, Path::new("/var/lib/etcd"), "d", &mut w));
        assert!(!under_root(&root, Path::new("/tmp/n/var/lib"), "d", &mut w));
        assert!(!under_root(&root, Path::new("/tmp/n"), "d", &mut w));
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn a_journal_cannot_point_reset_outside_kubestrap_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path()).unwrap();
        let elsewhere = root.resolve("/home/user/notes.txt");
        std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
        std::fs::write(&elsewhere, "keep").unwrap();
        let journal = root.resolve("/var/lib/kubestrap/init.json");
        std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
        let record = serde_json::json!({"phases": {"x": {"outputs": [{"path": elsewhere}]}}});
        std::fs::write(&journal, record.to_string()).unwrap();
        let inv = inventory(&root, &ResetOptions::default());
        let paths: Vec<&Path> = inv.targets.iter().map(|t| t.path.as_path()).collect();
        assert_eq!(paths, [journal.as_path()]);
        assert!(
            inv.warnings.iter().any(|w| w.contains("notes.txt")),
            "{:?}",
            inv.warnings
        );
    }

    #[test]
    fn the_kubelets_client_certificates_are_found_and_nothing_else_in_its_pki_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path()).unwrap();
        let pki = root.resolve(KUBELET_PKI_DIR);
        std::fs::create_dir_all(&pki).unwrap();
        let dated = pki.join("kubelet-client-2026-11-23-15-04-05.pem");
        let rotated = pki.join("kubelet-client-2027-01-02-03-04-05.pem");
        for f in [&dated, &rotated] {
            std::fs::write(f, "pair").unwrap();
        }
        // Outside the root: the link is listed, never what it points at.
        let elsewhere = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), pki.join(KUBELET_CLIENT_CURRENT)).unwrap();
        let interrupted = pki.join(format!("{TEMP_PREFIX}1-abc"));
        std::os::unix::fs::symlink(&dated, &interrupted).unwrap();
        for keep in [
            "kubelet.crt",
            "kubelet.key",
            "kubelet-server-current.pem",
            "kubelet-client-2026-11-23.pem",
            "kubelet-client-2026-11-23-15-04-5x.pem",
        ] {
            std::fs::write(pki.join(keep), "not init's or join's").unwrap();
        }
        let inv = inventory(&root, &ResetOptions::default());
        let found: Vec<(&Path, TargetKind)> = inv
            .targets
            .iter()
            .map(|t| (t.path.as_path(), t.kind))
            .collect();
        assert_eq!(
            found,
            [
                (dated.as_path(), TargetKind::KubeletFile),
                (rotated.as_path(), TargetKind::KubeletFile),
                (
                    pki.join(KUBELET_CLIENT_CURRENT).as_path(),
                    TargetKind::KubeletFile
                ),
                (interrupted.as_path(), TargetKind::TempFile),
            ]
        );
        assert!(is_dated_kubelet_client_pem(
            "kubelet-client-2026-11-23-15-04-05.pem"
        ));
        assert!(!is_dated_kubelet_client_pem("kubelet-client-current.pem"));
        assert!(!is_dated_kubelet_client_pem(
            "kubelet-client-2026-11-23-15-04-05.pem.bak"
        ));
    }

    #[test]
    fn an_empty_node_has_nothing_to_remove() {
        let dir = tempfile::tempdir().unwrap();
        let inv = inventory(
            &NodeRoot::new(dir.path()).unwrap(),
            &ResetOptions::default(),
        );
        assert!(inv.targets.is_empty(), "{:?}", inv.targets);
        assert!(inv.etcd.is_none());
    }
}
