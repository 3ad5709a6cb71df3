//! The polling loop: keeps one process group per static-pod container running for each
//! manifest in `<root>/etc/kubernetes/manifests`, as the kubelet would keep the pods.
//!
//! Differences from the kubelet, on purpose: by default nothing is restarted after it exits (a
//! test wants to see the failure, not a crash loop; `RunnerConfig::restart_after` restarts
//! as the kubelet does), and there are no images, mounts or probes.
//! What it shares with the kubelet: a manifest that appears is started, a manifest whose
//! content changes is stopped and started again, a manifest that disappears is stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};

use crate::manifest::{HostPathKind, StaticPod};

/// Where the kubelet reads static-pod manifests, relative to the node root.
pub const MANIFESTS_DIR: &str = "etc/kubernetes/manifests";
/// Where the stand-in writes one log per pod unless told otherwise, relative to the root.
pub const DEFAULT_LOG_DIR: &str = "var/log/kubestrap-testbed";

/// Something the runner did, for a caller that wants to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started {
        pod: String,
        container: String,
        pid: u32,
        log: PathBuf,
    },
    Exited {
        pod: String,
        container: String,
        status: String,
    },
    Stopped {
        pod: String,
    },
    /// A manifest that cannot be run; retried when its content changes.
    Invalid {
        manifest: PathBuf,
        error: String,
    },
    SpawnFailed {
        pod: String,
        container: String,
        error: String,
    },
    /// Something the pod may miss (an unresolvable env var, a hostPath outside the root).
    Note {
        pod: String,
        message: String,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Started {
                pod,
                container,
                pid,
                log,
            } => write!(
                f,
                "started {pod}/{container} (pid {pid}), log {}",
                log.display()
            ),
            Event::Exited {
                pod,
                container,
                status,
            } => write!(f, "{pod}/{container} exited: {status} (not restarted)"),
            Event::Stopped { pod } => write!(f, "stopped {pod}"),
            Event::Invalid { manifest, error } => {
                write!(f, "cannot run {}: {error}", manifest.display())
            }
            Event::SpawnFailed {
                pod,
                container,
                error,
            } => write!(f, "cannot start {pod}/{container}: {error}"),
            Event::Note { pod, message } => write!(f, "{pod}: {message}"),
        }
    }
}

pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// How to run the static pods of one node root.
#[derive(Clone)]
pub struct RunnerConfig {
    /// The node root (`/` for the real paths); manifests are read from
    /// `<root>/etc/kubernetes/manifests`.
    pub root: PathBuf,
    /// Where each pod's output goes (`<log_dir>/<manifest stem>.log`); defaults to
    /// `<root>/var/log/kubestrap-testbed`.
    pub log_dir: Option<PathBuf>,
    /// How often the manifests directory and the children are looked at.
    pub poll_interval: Duration,
    /// How long a pod gets between SIGTERM and SIGKILL when stopped.
    pub stop_grace: Duration,
    /// Directories put in front of `PATH` for the pods (where kube-apiserver & co. are).
    pub path_prefix: Vec<PathBuf>,
    /// Restart a pod this long after one of its containers exited by itself, as the kubelet
    /// restarts static pods (kube-controller-manager exits when it loses its leader lease
    /// during an API server outage). `None`: never restart.
    pub restart_after: Option<Duration>,
    pub on_event: Option<EventSink>,
}

impl RunnerConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            log_dir: None,
            poll_interval: Duration::from_secs(1),
            stop_grace: Duration::from_secs(5),
            path_prefix: Vec::new(),
            restart_after: None,
            on_event: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("cannot create the log directory {}: {source}", path.display())]
    LogDir { path: PathBuf, source: io::Error },
    #[error("cannot start the runner thread: {0}")]
    Thread(io::Error),
}

/// What one container of one manifest is doing, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub manifest: PathBuf,
    pub pod: String,
    pub container: String,
    pub pid: Option<u32>,
    /// `None` while it runs; how it ended otherwise (also a spawn failure).
    pub exit: Option<String>,
    pub log: PathBuf,
}

/// A running stand-in. Dropping it stops every pod it started (SIGTERM to each process
/// group, SIGKILL after the grace period) and waits for them.
pub struct Runner {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Mutex<Vec<ContainerState>>>,
    paused: Arc<Mutex<BTreeSet<String>>>,
    log_dir: PathBuf,
}

impl Runner {
    /// Starts watching `config.root` in a background thread; the first scan happens at once.
    pub fn start(config: RunnerConfig) -> Result<Runner, RunnerError> {
        let log_dir = config
            .log_dir
            .clone()
            .unwrap_or_else(|| config.root.join(DEFAULT_LOG_DIR));
        std::fs::create_dir_all(&log_dir).map_err(|source| RunnerError::LogDir {
            path: log_dir.clone(),
            source,
        })?;
        let shared = Arc::new(Mutex::new(Vec::new()));
        let paused = Arc::new(Mutex::new(BTreeSet::new()));
        let (stop_tx, stop_rx) = mpsc::channel();
        let mut lp = Loop {
            manifests_dir: config.root.join(MANIFESTS_DIR),
            log_dir: log_dir.clone(),
            search_path: search_path(&config.path_prefix),
            config,
            pods: BTreeMap::new(),
            shared: Arc::clone(&shared),
            paused: Arc::clone(&paused),
        };
        // The children's PR_SET_PDEATHSIG is tied to this thread: it lives until stop.
        let thread = std::thread::Builder::new()
            .name("kubestrap-testbed".into())
            .spawn(move || lp.run(stop_rx))
            .map_err(RunnerError::Thread)?;
        Ok(Runner {
            stop: Some(stop_tx),
            thread: Some(thread),
            shared,
            paused,
            log_dir,
        })
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The log of the pod whose manifest is `<stem>.yaml`.
    pub fn log_path(&self, manifest_stem: &str) -> PathBuf {
        self.log_dir.join(format!("{manifest_stem}.log"))
    }

    /// Every container started so far, as of the last poll.
    pub fn containers(&self) -> Vec<ContainerState> {
        lock(&self.shared).clone()
    }

    /// Stops the pod of manifest `<stem>.yaml` (as if the node lost it: a crashed or killed
    /// component) and keeps it stopped, manifest or not, until [`Runner::unpause`]. Takes
    /// effect at the next poll; [`Runner::containers`] no longer lists it once it is stopped.
    pub fn pause(&self, manifest_stem: &str) {
        lock(&self.paused).insert(manifest_stem.to_string());
    }

    /// Lets the pod of `<stem>.yaml` run again: started at the next poll, as a fresh process.
    pub fn unpause(&self, manifest_stem: &str) {
        lock(&self.paused).remove(manifest_stem);
    }

    /// Stops every pod and waits for them to exit.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Dropping the sender wakes the loop, which stops the pods before returning.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn search_path(prefix: &[PathBuf]) -> Option<std::ffi::OsString> {
    if prefix.is_empty() {
        return None;
    }
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let dirs = prefix
        .iter()
        .cloned()
        .chain(std::env::split_paths(&inherited));
    std::env::join_paths(dirs).ok()
}

struct Loop {
    config: RunnerConfig,
    manifests_dir: PathBuf,
    log_dir: PathBuf,
    search_path: Option<std::ffi::OsString>,
    /// By manifest path.
    pods: BTreeMap<PathBuf, Tracked>,
    shared: Arc<Mutex<Vec<ContainerState>>>,
    /// Manifest stems whose pods are held stopped.
    paused: Arc<Mutex<BTreeSet<String>>>,
}

struct Tracked {
    digest: [u8; 32],
    procs: Vec<Proc>,
}

struct Proc {
    pod: String,
    container: String,
    child: Option<Child>,
    exit: Option<String>,
    /// When the process exited by itself (not when the runner stopped it).
    exited_at: Option<Instant>,
    log: PathBuf,
}

impl Loop {
    fn run(&mut self, stop: mpsc::Receiver<()>) {
        loop {
            self.reconcile();
            self.reap();
            self.publish();
            match stop.recv_timeout(self.config.poll_interval) {
                Err(RecvTimeoutError::Timeout) => continue,
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let all: Vec<PathBuf> = self.pods.keys().cloned().collect();
        self.stop_pods(&all);
        self.publish();
    }

    fn emit(&self, event: Event) {
        if let Some(sink) = &self.config.on_event {
            sink(&event);
        }
    }

    /// The manifests present now, with their content digests.
    fn scan(&self) -> BTreeMap<PathBuf, (Vec<u8>, [u8; 32])> {
        let mut found = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&self.manifests_dir) else {
            return found; // not written yet
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_manifest = !name.starts_with('.')
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                && path.is_file();
            if !is_manifest {
                continue;
            }
            // A manifest being replaced atomically may vanish between listing and reading.
            if let Ok(bytes) = std::fs::read(&path) {
                let digest: [u8; 32] = Sha256::digest(&bytes).into();
                found.insert(path, (bytes, digest));
            }
        }
        found
    }

    fn reconcile(&mut self) {
        let mut found = self.scan();
        let paused = lock(&self.paused).clone();
        found.retain(|path, _| {
            path.file_stem()
                .is_none_or(|stem| !paused.contains(stem.to_string_lossy().as_ref()))
        });
        let gone_or_changed: Vec<PathBuf> = self
            .pods
            .iter()
            .filter(|(path, t)| found.get(*path).is_none_or(|(_, d)| *d != t.digest))
            .map(|(path, _)| path.clone())
            .collect();
        self.stop_pods(&gone_or_changed);
        if let Some(delay) = self.config.restart_after {
            let crashed: Vec<PathBuf> = self
                .pods
                .iter()
                .filter(|(_, t)| {
                    t.procs
                        .iter()
                        .any(|p| p.exited_at.is_some_and(|at| at.elapsed() >= delay))
                })
                .map(|(path, _)| path.clone())
                .collect();
            // Stopped and forgotten here, started again from its manifest just below.
            self.stop_pods(&crashed);
        }
        for (path, (bytes, digest)) in found {
            if self.pods.contains_key(&path) {
                continue;
            }
            let procs = self.start_pod(&path, &bytes);
            self.pods.insert(path, Tracked { digest, procs });
        }
    }

    fn start_pod(&self, manifest: &Path, bytes: &[u8]) -> Vec<Proc> {
        let pod = match std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|text| StaticPod::parse(text).map_err(|e| e.to_string()))
        {
            Ok(pod) => pod,
            Err(error) => {
                self.emit(Event::Invalid {
                    manifest: manifest.to_path_buf(),
                    error,
                });
                return Vec::new();
            }
        };
        self.prepare_host_paths(&pod);
        let stem = manifest
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| pod.name.clone());
        let log = self.log_dir.join(format!("{stem}.log"));
        pod.containers
            .iter()
            .map(|c| {
                for name in &c.unresolved_env {
                    self.emit(Event::Note {
                        pod: pod.name.clone(),
                        message: format!("env {name} uses valueFrom, which the stand-in cannot resolve; left unset"),
                    });
                }
                let mut proc = Proc {
                    pod: pod.name.clone(),
                    container: c.name.clone(),
                    child: None,
                    exit: None,
                    exited_at: None,
                    log: log.clone(),
                };
                match self.spawn(manifest, c, &log) {
                    Ok(child) => {
                        self.emit(Event::Started {
                            pod: pod.name.clone(),
                            container: c.name.clone(),
                            pid: child.id(),
                            log: log.clone(),
                        });
                        proc.child = Some(child);
                    }
                    Err(e) => {
                        let error = e.to_string();
                        append_line(&log, &format!("[kubestrap-testbed] cannot start: {error}"));
                        self.emit(Event::SpawnFailed {
                            pod: pod.name.clone(),
                            container: c.name.clone(),
                            error: error.clone(),
                        });
                        proc.exit = Some(format!("not started: {error}"));
                    }
                }
                proc
            })
            .collect()
    }

    /// Creates the `DirectoryOrCreate` / `FileOrCreate` hostPaths, as the kubelet does
    /// before starting the pod — but only inside the node root, so a simulated node never
    /// creates anything on the real host.
    fn prepare_host_paths(&self, pod: &StaticPod) {
        let root = &self.config.root;
        for hp in &pod.host_paths {
            if hp.kind == HostPathKind::Other || hp.path.exists() {
                continue;
            }
            if !hp.path.starts_with(root) {
                self.emit(Event::Note {
                    pod: pod.name.clone(),
                    message: format!(
                        "hostPath {} is outside the node root {}; not created",
                        hp.path.display(),
                        root.display()
                    ),
                });
                continue;
            }
            let made = match hp.kind {
                HostPathKind::DirectoryOrCreate => std::fs::create_dir_all(&hp.path),
                HostPathKind::FileOrCreate => hp
                    .path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| {
                        OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&hp.path)
                            .map(drop)
                    }),
                HostPathKind::Other => Ok(()),
            };
            if let Err(e) = made {
                self.emit(Event::Note {
                    pod: pod.name.clone(),
                    message: format!("cannot create hostPath {}: {e}", hp.path.display()),
                });
            }
        }
    }

    fn spawn(
        &self,
        manifest: &Path,
        c: &crate::manifest::Container,
        log: &Path,
    ) -> io::Result<Child> {
        let mut out = OpenOptions::new().create(true).append(true).open(log)?;
        writeln!(
            out,
            "[kubestrap-testbed] starting container {} of {}: {}",
            c.name,
            manifest.display(),
            c.argv.join(" ")
        )?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&c.argv[0]);
        cmd.args(&c.argv[1..])
            .envs(c.env.iter().map(|(k, v)| (k, v)))
            .current_dir(c.working_dir.as_deref().unwrap_or(&self.config.root))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group, so stopping the pod reaches anything it forked.
            .process_group(0);
        if let Some(path) = &self.search_path {
            cmd.env("PATH", path);
        }
        let parent = nix::unistd::getpid();
        // SAFETY (allowed past the workspace's `unsafe_code = "deny"`): the closure runs between fork and exec and only makes async-signal-safe
        // system calls (prctl, getppid); it allocates nothing.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                // If the runner dies without stopping its pods (SIGKILL), the kernel kills
                // them: no orphaned apiservers holding ports after a crashed test.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                if nix::unistd::getppid() != parent {
                    return Err(io::Error::other("the runner exited before the pod started"));
                }
                Ok(())
            });
        }
        cmd.spawn()
    }

    /// Notes children that exited by themselves; they are not restarted.
    fn reap(&mut self) {
        let mut events = Vec::new();
        for proc in self.pods.values_mut().flat_map(|t| t.procs.iter_mut()) {
            let Some(child) = proc.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                let status = describe(status);
                append_line(
                    &proc.log,
                    &format!(
                        "[kubestrap-testbed] {} exited: {status}; not restarted",
                        proc.container
                    ),
                );
                events.push(Event::Exited {
                    pod: proc.pod.clone(),
                    container: proc.container.clone(),
                    status: status.clone(),
                });
                proc.exit = Some(status);
                proc.exited_at = Some(Instant::now());
                proc.child = None;
            }
        }
        for e in events {
            self.emit(e);
        }
    }

    /// SIGTERM to every process group of these manifests' pods, SIGKILL to those still there
    /// after the grace period, and reap them all.
    fn stop_pods(&mut self, manifests: &[PathBuf]) {
        let mut tracked: Vec<Tracked> = manifests
            .iter()
            .filter_map(|m| self.pods.remove(m))
            .collect();
        let mut running: Vec<&mut Proc> = tracked
            .iter_mut()
            .flat_map(|t| t.procs.iter_mut())
            .filter(|p| p.child.is_some())
            .collect();
        for p in &running {
            signal_group(p, Signal::SIGTERM);
        }
        let deadline = Instant::now() + self.config.stop_grace;
        while Instant::now() < deadline {
            running.retain_mut(|p| !try_reap(p));
            if running.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in &mut running {
            signal_group(p, Signal::SIGKILL);
            if let Some(child) = p.child.as_mut() {
                let _ = child.wait();
            }
            p.child = None;
            p.exit = Some("killed after the stop grace period".into());
        }
        let mut stopped: Vec<String> = tracked
            .iter()
            .flat_map(|t| t.procs.iter().map(|p| p.pod.clone()))
            .collect();
        stopped.dedup();
        for pod in stopped {
            self.emit(Event::Stopped { pod });
        }
    }

    fn publish(&self) {
        let states = self
            .pods
            .iter()
            .flat_map(|(manifest, t)| {
                t.procs.iter().map(move |p| ContainerState {
                    manifest: manifest.clone(),
                    pod: p.pod.clone(),
                    container: p.container.clone(),
                    pid: p.child.as_ref().map(Child::id),
                    exit: p.exit.clone(),
                    log: p.log.clone(),
                })
            })
            .collect();
        *lock(&self.shared) = states;
    }
}

/// Signals the whole process group; only while the leader is unreaped, so its pid (and so
/// the group id) cannot have been reused.
fn signal_group(p: &Proc, sig: Signal) {
    if let Some(child) = &p.child
        && let Ok(pid) = i32::try_from(child.id())
    {
        let _ = killpg(Pid::from_raw(pid), sig);
    }
}

/// True once the process has exited (and is reaped).
fn try_reap(p: &mut Proc) -> bool {
    let Some(child) = p.child.as_mut() else {
        return true;
    };
    match child.try_wait() {
        Ok(Some(status)) => {
            append_line(
                &p.log,
                &format!(
                    "[kubestrap-testbed] {} stopped: {}",
                    p.container,
                    describe(status)
                ),
            );
            p.exit = Some(describe(status));
            p.child = None;
            true
        }
        Ok(None) => false,
        Err(_) => {
            p.child = None;
            true
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        _ => status.to_string(),
    }
}

fn append_line(log: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(f, "{line}");
    }
}
