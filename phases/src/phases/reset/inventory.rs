//! What init and join left on this node, found from the node itself and its configuration:
//! the well-known kubeadm paths, the certificates the PKI phases make in the configured
//! certificates dir, etcd's `member/` in the configured data dir, and every file the
//! journals record in kubestrap's own directories. Each target goes through the
//! [`Gate`](super::containment::Gate) first; what it refuses, or what is not one of those
//! files, is listed as [`Refused`] by name and left alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::contract::host::{NodeRoot, TEMP_PREFIX};
use crate::contract::journal::{self, JOURNAL_DIR};
use crate::domain::pki::CertName;
use crate::domain::static_pod::Pod;

use super::configured::{ConfiguredDir, ResetOptions};
use super::containment::{Gate, RefusalReason, Refused};
use super::etcd_member::ThisMember;
use crate::config::well_known::{
    KUBELET_CLIENT_CURRENT, KUBELET_DIR, KUBELET_PKI_DIR, KUBERNETES_DIR, MANIFESTS_DIR,
};
use crate::domain::etcd::EtcdClientTls;
/// Static-pod manifests kubestrap writes, by file name.
pub(super) const MANIFESTS: [&str; 4] = [
    "etcd.yaml",
    "kube-apiserver.yaml",
    "kube-controller-manager.yaml",
    "kube-scheduler.yaml",
];

/// Kubeconfigs under /etc/kubernetes that init or join write.
pub(super) const KUBECONFIGS: [&str; 6] = [
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// Files kubestrap writes for the kubelet under /var/lib/kubelet.
pub(super) const KUBELET_FILES: [&str; 2] = ["config.yaml", "kubeadm-flags.env"];

/// What the kubelet that init or join started keeps in /var/lib/kubelet (kubelet v1.20+: its
/// pods' directories and volumes, plugin sockets, resource-manager checkpoints). kubeadm
/// empties the whole directory (cleanupnode.go); kubestrap removes these names, after the
/// pods are gone and their volumes unmounted.
pub(super) const KUBELET_STATE: [&str; 8] = [
    "pods",
    "plugins",
    "plugins_registry",
    "pod-resources",
    "device-plugins",
    "checkpoints",
    "cpu_manager_state",
    "memory_manager_state",
];

/// The kubelet's own serving pair in /var/lib/kubelet/pki, which it generates at first start
/// when no serving certificate is configured.
pub(super) const KUBELET_SERVING_PAIR: [&str; 2] = ["kubelet.crt", "kubelet.key"];

/// Whether `name` is one of the kubelet's dated client pairs, `kubelet-client-<YYYY-MM-DD-HH-MM-SS>.pem`
/// (Go's `2006-01-02-15-04-05`, as the kubelet's certificate store names them).
pub(super) fn is_dated_kubelet_client_pem(name: &str) -> bool {
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

/// etcd's own layout in its data dir: reset removes this directory and nothing else there.
pub(super) const ETCD_MEMBER_DIR: &str = "member";

/// The files the PKI phases make in the certificates dir (relative to it): each
/// certificate's `.crt` and `.key` (`etcd/` ones included) and the service-account key pair.
pub fn certificate_files() -> Vec<String> {
    let mut files: Vec<String> = CertName::ALL
        .iter()
        .flat_map(|c| ["crt", "key"].map(|ext| format!("{}.{ext}", c.file_base())))
        .collect();
    files.extend(["sa.key".to_string(), "sa.pub".to_string()]);
    files
}

/// What a target is, for the listing and the order of removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    StaticPodManifest,
    Kubeconfig,
    KubeletFile,
    /// What the kubelet keeps in its directory ([`KUBELET_STATE`], its serving pair): a file
    /// or a directory, removed with its content.
    KubeletState,
    /// A file the PKI phases make in the certificates dir (the directory itself stays).
    Certificate,
    /// etcd's `member/` directory in the configured data dir, removed whole (the data dir
    /// itself stays: it is often its own volume).
    EtcdMember,
    /// A file a journal records that none of the above covers.
    RecordedFile,
    /// A temporary file of an interrupted atomic write.
    TempFile,
    Journal,
}

impl TargetKind {
    /// Its name in the dry-run plan and the removal record (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StaticPodManifest => "static-pod-manifest",
            Self::Kubeconfig => "kubeconfig",
            Self::KubeletFile => "kubelet-file",
            Self::KubeletState => "kubelet-state",
            Self::Certificate => "certificate",
            Self::EtcdMember => "etcd-member",
            Self::RecordedFile => "recorded-file",
            Self::TempFile => "temp-file",
            Self::Journal => "journal",
        }
    }

    /// Whether the target is a directory removed with its content.
    pub fn is_dir(self) -> bool {
        matches!(self, Self::EtcdMember)
    }
}

/// One thing reset removes: its path resolved (no `..`, no symlink above it).
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
    /// What inputs named that reset will not delete, by name and why.
    pub refused: Vec<Refused>,
    /// The certificates dir and where it came from.
    pub cert_dir: ConfiguredDir,
    /// etcd's data dir and where it came from; `None` for an external etcd.
    pub etcd_data_dir: Option<ConfiguredDir>,
    /// Present when this node runs a local etcd member.
    pub etcd: Option<LocalEtcd>,
    /// Where the static pods listen, to tell when they have stopped.
    pub listeners: Vec<SocketAddr>,
    /// Things found that reset will not act on, and why.
    pub warnings: Vec<String>,
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

/// The journals directly in `dir`, and every file path they record as written (their
/// phases' `outputs`), read through the journal's own format ([`crate::contract::journal`]).
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
        match journal::recorded_outputs(&path) {
            Ok(recorded) => outputs.extend(recorded),
            Err(e) => warnings.push(format!("{e}; only the well-known paths are removed")),
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

/// The directories init and join write in, resolved through the gate (`None`: the directory
/// leads out of the root, so nothing in it is a target).
struct Places {
    manifests: Option<PathBuf>,
    kubernetes: Option<PathBuf>,
    kubelet: Option<PathBuf>,
    kubelet_pki: Option<PathBuf>,
    journals: Option<PathBuf>,
    /// The certificates dir and its `etcd/`.
    certs: [Option<PathBuf>; 2],
}

impl Places {
    /// Whether a journal may name a file at `resolved`: one directly in one of these
    /// directories (a stale or edited record must not make reset delete anything else).
    fn holds(&self, resolved: &Path) -> bool {
        let Some(parent) = resolved.parent() else {
            return false;
        };
        self.all().any(|d| d == parent)
    }

    /// Every directory that resolved inside the root.
    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        [
            &self.manifests,
            &self.kubernetes,
            &self.kubelet,
            &self.kubelet_pki,
            &self.journals,
            &self.certs[0],
            &self.certs[1],
        ]
        .into_iter()
        .flatten()
    }
}

/// What [`Collector::add`] accepts for a file that must lie directly in `dir` (`None`: a
/// directory that led out of the root, so nothing).
fn directly_in(dir: Option<&Path>) -> impl Fn(&Path) -> bool + '_ {
    move |resolved| dir.is_some() && resolved.parent() == dir
}

/// Collects targets and refusals, each path vetted by the gate once.
struct Collector<'a> {
    gate: &'a Gate,
    targets: Vec<Target>,
    refused: Vec<Refused>,
}

impl Collector<'_> {
    fn refuse(&mut self, path: &Path, source: &str, reason: RefusalReason) {
        if !self.refused.iter().any(|r| r.path == path) {
            self.refused.push(Refused {
                path: path.to_path_buf(),
                source: source.to_string(),
                reason,
            });
        }
    }

    /// Adds `path` if it exists and the gate lets it through (and `allowed` agrees, given
    /// its resolved form); refuses it by name otherwise.
    fn add(
        &mut self,
        path: &Path,
        kind: TargetKind,
        source: &str,
        allowed: impl FnOnce(&Path) -> bool,
    ) {
        if path.symlink_metadata().is_err() {
            return;
        }
        match self.gate.vet(path, false) {
            Ok(resolved) if allowed(&resolved) => {
                if !self.targets.iter().any(|t| t.path == resolved) {
                    self.targets.push(Target {
                        path: resolved,
                        kind,
                    });
                }
            }
            Ok(resolved) => self.refuse(path, source, RefusalReason::NotInitsOrJoins { resolved }),
            Err(reason) => self.refuse(path, source, reason),
        }
    }

    /// A directory to look in: resolved, or refused by name when it leads out of the root.
    fn place(&mut self, dir: &Path, source: &str) -> Option<PathBuf> {
        match self.gate.resolve(dir, true) {
            Ok(d) => Some(d),
            Err(reason) => {
                self.refuse(dir, source, reason);
                None
            }
        }
    }
}

/// Looks at the node under `root` and lists what reset would remove and what it refuses;
/// reads only.
pub fn inventory(root: &NodeRoot, opts: &ResetOptions) -> Inventory {
    let mut warnings = Vec::new();
    let gate = Gate::new(root);
    let manifests_dir = root.resolve(MANIFESTS_DIR);
    let apiserver = read_manifest(&manifests_dir.join("kube-apiserver.yaml"), &mut warnings);
    let etcd_pod = read_manifest(&manifests_dir.join("etcd.yaml"), &mut warnings);
    let cert_dir = opts.cert_dir(root);
    let etcd_data_dir = opts.etcd_data_dir(root);

    let mut listeners = Vec::new();
    if let Some(pod) = &apiserver
        && let (Some(addr), Some(port)) = (pod.flag("advertise-address"), pod.flag("secure-port"))
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
            .or_else(|| pod.flag("advertise-client-urls"))?
            .split(',')
            .next()?
            .to_string();
        if let Some(listen) = pod.flag("listen-client-urls") {
            listeners.extend(listen.split(',').filter_map(socket_of));
        }
        // The API server's own etcd client credentials, as kubeadm uses; from its manifest
        // when there is one. Only read, never deleted.
        let from_apiserver = |name: &str, default: &str| {
            apiserver
                .as_ref()
                .and_then(|p| p.flag(name))
                .map(PathBuf::from)
                .unwrap_or_else(|| cert_dir.path.join(default))
        };
        Some(LocalEtcd {
            member: ThisMember {
                name: pod.flag("name").unwrap_or_default().to_string(),
                peer_url: pod
                    .flag("initial-advertise-peer-urls")
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
        let container = pod.as_ref().and_then(|p| p.container());
        let probe = container.and_then(|c| {
            let probe = c.liveness_probe.as_ref()?;
            Some((&probe.http_get.host, c.resolve_port(&probe.http_get.port)?))
        });
        if let Some((host, port)) = probe
            && !host.is_empty()
            && let Some(sock) = socket_of(&format!("{host}:{port}"))
                .or_else(|| socket_of(&format!("[{host}]:{port}")))
        {
            listeners.push(sock);
        }
    }
    listeners.sort();
    listeners.dedup();

    let mut c = Collector {
        gate: &gate,
        targets: Vec::new(),
        refused: Vec::new(),
    };
    let cert_source = format!("certificates dir, {}", cert_dir.from);
    let cert_place = match gate.vet_dir(&cert_dir.path) {
        Ok(d) => Some(d),
        Err(reason) => {
            // Nothing is there to refuse when the directory does not exist.
            if cert_dir.path.symlink_metadata().is_ok() {
                c.refuse(&cert_dir.path, &cert_source, reason);
            }
            None
        }
    };
    let places = Places {
        manifests: c.place(&manifests_dir, "static-pod manifests dir"),
        kubernetes: c.place(&root.resolve(KUBERNETES_DIR), "kubeconfigs dir"),
        kubelet: c.place(&root.resolve(KUBELET_DIR), "kubelet dir"),
        kubelet_pki: c.place(&root.resolve(KUBELET_PKI_DIR), "kubelet certificates dir"),
        journals: c.place(&root.resolve(JOURNAL_DIR), "journal dir"),
        certs: [
            cert_place.clone(),
            cert_place.as_ref().map(|d| d.join("etcd")),
        ],
    };
    let kubernetes_dir = root.resolve(KUBERNETES_DIR);
    let kubelet_dir = root.resolve(KUBELET_DIR);
    // The fixed names, each directly in its directory.
    let mut add_named =
        |dir: &Path, names: &[&str], kind: TargetKind, source: &str, place: Option<&Path>| {
            for name in names {
                c.add(&dir.join(name), kind, source, directly_in(place));
            }
        };
    add_named(
        &manifests_dir,
        &MANIFESTS,
        TargetKind::StaticPodManifest,
        "static-pod manifest",
        places.manifests.as_deref(),
    );
    add_named(
        &kubernetes_dir,
        &KUBECONFIGS,
        TargetKind::Kubeconfig,
        "kubeconfig",
        places.kubernetes.as_deref(),
    );
    add_named(
        &kubelet_dir,
        &KUBELET_FILES,
        TargetKind::KubeletFile,
        "kubelet file",
        places.kubelet.as_deref(),
    );
    add_named(
        &kubelet_dir,
        &KUBELET_STATE,
        TargetKind::KubeletState,
        "kubelet state",
        places.kubelet.as_deref(),
    );
    if let Some(pki) = &places.kubelet_pki {
        for name in KUBELET_SERVING_PAIR {
            c.add(
                &pki.join(name),
                TargetKind::KubeletState,
                "kubelet serving certificate",
                directly_in(places.kubelet_pki.as_deref()),
            );
        }
        for cert in kubelet_client_certs(pki) {
            c.add(
                &cert,
                TargetKind::KubeletFile,
                "kubelet client certificate",
                directly_in(places.kubelet_pki.as_deref()),
            );
        }
    }
    if let Some(dir) = &cert_place {
        for file in certificate_files() {
            let path = dir.join(&file);
            c.add(
                &path,
                TargetKind::Certificate,
                &cert_source,
                directly_in(path.parent()),
            );
        }
    }

    if let Some(data) = &etcd_data_dir {
        etcd_member(&mut c, data, etcd_pod.as_ref());
    }

    let (journals, outputs) = match &places.journals {
        Some(dir) => recorded_outputs(dir, &mut warnings),
        None => (Vec::new(), Vec::new()),
    };
    for out in outputs {
        c.add(&out, TargetKind::RecordedFile, "journal record", |r| {
            places.holds(r)
        });
    }
    for dir in places.all() {
        for tmp in temp_files(dir) {
            c.add(
                &tmp,
                TargetKind::TempFile,
                "temporary file",
                directly_in(Some(dir)),
            );
        }
    }
    for j in journals {
        c.add(
            &j,
            TargetKind::Journal,
            "journal",
            directly_in(places.journals.as_deref()),
        );
    }
    let Collector {
        mut targets,
        refused,
        ..
    } = c;
    // A stable order with the manifests first and journals last.
    targets.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));

    Inventory {
        root: root.clone(),
        targets,
        refused,
        cert_dir,
        etcd_data_dir,
        etcd,
        listeners,
        warnings,
    }
}

/// etcd's data: `member/` of the configured data dir, when it has etcd's layout. A manifest
/// whose `--data-dir` is another directory is refused by name (kubeadm trusts the manifest
/// when it has no configuration; kubestrap trusts only the configuration).
fn etcd_member(c: &mut Collector<'_>, data: &ConfiguredDir, pod: Option<&Pod>) {
    let source = format!("etcd data dir, {}", data.from);
    let configured = match c.gate.vet_dir(&data.path) {
        Ok(d) => Some(d),
        Err(reason) => {
            if data.path.symlink_metadata().is_ok() {
                c.refuse(&data.path, &source, reason);
            }
            None
        }
    };
    if let Some(named) = pod.and_then(|p| p.flag("data-dir")) {
        let named = Path::new(named);
        match c.gate.vet_dir(named) {
            Err(reason) => c.refuse(named, "etcd manifest --data-dir", reason),
            Ok(resolved) if Some(&resolved) != configured.as_ref() => c.refuse(
                named,
                "etcd manifest --data-dir",
                RefusalReason::NotConfiguredDataDir {
                    configured: data.path.clone(),
                    from: data.from.to_string(),
                },
            ),
            Ok(_) => {}
        }
    }
    let Some(dir) = configured else {
        return;
    };
    let member = dir.join(ETCD_MEMBER_DIR);
    let is_real_dir = |p: &Path| p.symlink_metadata().is_ok_and(|m| m.is_dir());
    if is_real_dir(&member)
        && (is_real_dir(&member.join("wal")) || is_real_dir(&member.join("snap")))
    {
        match c.gate.vet(&member, false) {
            Ok(resolved) => c.targets.push(Target {
                path: resolved,
                kind: TargetKind::EtcdMember,
            }),
            Err(reason) => c.refuse(&member, &source, reason),
        }
    } else if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        c.refuse(
            &data.path,
            &source,
            RefusalReason::NotEtcdLayout { resolved: dir },
        );
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

    /// A static-pod manifest whose one container runs `command`.
    fn manifest(root: &NodeRoot, name: &str, command: &[&str]) {
        let path = root.resolve(MANIFESTS_DIR).join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name.trim_end_matches(".yaml"), "namespace": "kube-system"},
            "spec": {"containers": [{"name": "c", "image": "i", "command": command}]},
        });
        std::fs::write(path, pod.to_string()).unwrap();
    }

    fn write(path: &Path, content: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn node() -> (tempfile::TempDir, NodeRoot, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let root = NodeRoot::new(base.join("node")).unwrap();
        let decoy = base.join("decoy");
        write(&decoy.join("member/wal/0.wal"), "not the node's");
        write(&decoy.join("ca.key"), "not the node's");
        (dir, root, decoy)
    }

    fn refused_paths(inv: &Inventory) -> Vec<&Path> {
        inv.refused.iter().map(|r| r.path.as_path()).collect()
    }

    fn target_paths(inv: &Inventory) -> Vec<&Path> {
        inv.targets.iter().map(|t| t.path.as_path()).collect()
    }

    #[test]
    fn journal_records_outside_kubestraps_directories_are_refused_by_name() {
        let (_d, root, decoy) = node();
        let elsewhere = root.resolve("/home/user/notes.txt");
        write(&elsewhere, "keep");
        let admin = root.resolve("/etc/kubernetes/admin.conf");
        write(&admin, "x");
        let climbing = root
            .resolve("/etc/kubernetes")
            .join("../../../decoy/ca.key");
        let lexically_ours = root.resolve("/etc/kubernetes/../passwd");
        write(&root.resolve("/etc/passwd"), "root:x:0:0");
        let journal = root.resolve("/var/lib/kubestrap/init.json");
        let record = serde_json::json!({"phases": {"x": {"outputs": [
            {"path": elsewhere}, {"path": decoy.join("ca.key")}, {"path": climbing},
            {"path": lexically_ours}, {"path": admin},
        ]}}});
        write(&journal, &record.to_string());
        let inv = inventory(&root, &ResetOptions::default());
        assert_eq!(target_paths(&inv), [admin.as_path(), journal.as_path()]);
        let refused = refused_paths(&inv);
        for p in [
            &elsewhere,
            &decoy.join("ca.key"),
            &climbing,
            &lexically_ours,
        ] {
            assert!(refused.contains(&p.as_path()), "{p:?}: {:#?}", inv.refused);
        }
        let climbed = inv.refused.iter().find(|r| r.path == climbing).unwrap();
        assert!(
            matches!(climbed.reason, RefusalReason::OutsideRoot { .. }),
            "{climbed}"
        );
        assert_eq!(climbed.source, "journal record");
    }

    #[test]
    fn etcd_data_is_its_member_dir_in_the_configured_data_dir_only() {
        let (_d, root, decoy) = node();
        let data = root.resolve("/var/lib/etcd");
        write(&data.join("member/snap/db"), "data");
        write(&data.join("keep.txt"), "not etcd's");
        // The example: a --data-dir climbing to /var.
        let up = format!("--data-dir={}/../..", data.display());
        manifest(&root, "etcd.yaml", &["etcd", &up]);
        let inv = inventory(&root, &ResetOptions::default());
        assert!(
            inv.targets
                .iter()
                .any(|t| t.path == data.join("member") && t.kind == TargetKind::EtcdMember),
            "{:#?}",
            inv.targets
        );
        let named = PathBuf::from(up.trim_start_matches("--data-dir="));
        let r = inv.refused.iter().find(|r| r.path == named).unwrap();
        assert!(
            matches!(&r.reason, RefusalReason::Protected { resolved } if *resolved == root.resolve("/var")),
            "{r}"
        );

        // Absolute, outside the root.
        let out = format!("--data-dir={}", decoy.display());
        manifest(&root, "etcd.yaml", &["etcd", &out]);
        let inv = inventory(&root, &ResetOptions::default());
        assert_eq!(refused_paths(&inv), [decoy.as_path()]);
        assert!(!target_paths(&inv).iter().any(|p| p.starts_with(&decoy)));

        // Inside the root but not the configured one: refused, though it has etcd's layout.
        let other = root.resolve("/srv/etcd");
        write(&other.join("member/wal/0.wal"), "x");
        manifest(
            &root,
            "etcd.yaml",
            &["etcd", &format!("--data-dir={}", other.display())],
        );
        let inv = inventory(&root, &ResetOptions::default());
        let r = &inv.refused[0];
        assert_eq!(r.path, other);
        assert!(
            r.to_string().contains("not the configured etcd data dir"),
            "{r}"
        );
        assert!(!target_paths(&inv).contains(&other.join("member").as_path()));
    }

    #[test]
    fn a_data_dir_without_etcds_layout_is_refused_and_a_symlinked_one_too() {
        let (_d, root, decoy) = node();
        let data = root.resolve("/var/lib/etcd");
        write(&data.join("photos/cat.jpg"), "not etcd's");
        let inv = inventory(&root, &ResetOptions::default());
        assert!(
            matches!(inv.refused[0].reason, RefusalReason::NotEtcdLayout { .. }),
            "{:#?}",
            inv.refused
        );
        assert!(inv.targets.is_empty());

        std::fs::remove_dir_all(&data).unwrap();
        std::os::unix::fs::symlink(&decoy, &data).unwrap();
        let inv = inventory(&root, &ResetOptions::default());
        assert_eq!(refused_paths(&inv), [data.as_path()]);
        assert!(matches!(
            inv.refused[0].reason,
            RefusalReason::SymlinkOut { .. }
        ));
        assert!(inv.targets.is_empty(), "{:#?}", inv.targets);
    }

    #[test]
    fn the_cert_dir_is_the_configured_one_never_the_client_ca_files_and_only_pki_files_go() {
        let (_d, root, decoy) = node();
        let tls = root.resolve("/etc/pki/tls/certs");
        write(&tls.join("ca.crt"), "the distribution's");
        write(&tls.join("ca-bundle.crt"), "the distribution's");
        let ca_flag = format!("--client-ca-file={}", tls.join("ca.crt").display());
        manifest(&root, "kube-apiserver.yaml", &["kube-apiserver", &ca_flag]);
        let pki = root.resolve("/etc/kubernetes/pki");
        for f in ["ca.crt", "ca.key", "etcd/ca.key", "sa.pub", "notes.txt"] {
            write(&pki.join(f), "x");
        }
        let inv = inventory(&root, &ResetOptions::default());
        assert_eq!(inv.cert_dir.path, pki);
        let certs: Vec<&Path> = inv
            .targets
            .iter()
            .filter(|t| t.kind == TargetKind::Certificate)
            .map(|t| t.path.as_path())
            .collect();
        assert_eq!(
            certs,
            [
                pki.join("ca.crt").as_path(),
                pki.join("ca.key").as_path(),
                pki.join("etcd/ca.key").as_path(),
                pki.join("sa.pub").as_path()
            ]
        );
        assert!(!target_paths(&inv).iter().any(|p| p.starts_with(&tls)));

        // A certificates dir that is a symlink out of the root: refused, nothing in it listed.
        std::fs::remove_dir_all(&pki).unwrap();
        std::os::unix::fs::symlink(&decoy, &pki).unwrap();
        let inv = inventory(&root, &ResetOptions::default());
        assert_eq!(refused_paths(&inv), [pki.as_path()]);
        assert!(!target_paths(&inv).iter().any(|p| p.starts_with(&decoy)));
    }

    #[test]
    fn the_kubelets_client_certificates_and_serving_pair_are_found_and_nothing_else_in_its_pki_dir()
    {
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
        // The kubelet's self-signed serving pair is its state: removed, as kubeadm empties
        // the whole directory.
        for state in KUBELET_SERVING_PAIR {
            std::fs::write(pki.join(state), "the kubelet's").unwrap();
        }
        for keep in [
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
                (pki.join("kubelet.crt").as_path(), TargetKind::KubeletState),
                (pki.join("kubelet.key").as_path(), TargetKind::KubeletState),
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
