//! What kubeadm configures the kubelet with: its configuration (`/var/lib/kubelet/config.yaml`), its
//! kubeadm flags (`/var/lib/kubelet/kubeadm-flags.env`), then a restart of the kubelet.
//!
//! The configuration is the user's `KubeletConfiguration` document merged over kubeadm's
//! defaults (`componentconfigs/kubelet.go`): what the user sets wins, kubeadm's values fill
//! the rest. The flags file holds what kubeadm passes as flags for the target version:
//! - below v1.26: `--container-runtime=remote`;
//! - below v1.24 with the dockershim socket: `--network-plugin=cni` instead of the runtime pair;
//! - below v1.34: `--container-runtime-endpoint`; from v1.34 the socket is the node's own
//!   `instance-config.yaml` instead (kubeadm's NodeLocalCRISocket), merged into config.yaml;
//! - `--pod-infra-container-image` (v1.21–v1.34, or with dockershim), the pause image;
//! - `--hostname-override` when the node name differs from the hostname;
//! - `nodeRegistration.kubeletExtraArgs`, replacing defaults of the same name.
//!
//! The kubelet is restarted by systemd only on a real node: root `/`, systemd running and a
//! `kubelet` on PATH (decided through [`ServiceManager`], so tests can prove nothing is
//! executed). Under any other root (the test bed, several nodes on one machine) the host's
//! service manager is never touched: the node's own hook ([`node_service`]) starts its kubelet,
//! or nothing does.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};

pub mod node_service;

use crate::config::well_known::NODE_SERVICE_HOOK;
use crate::config::{Arg, CriSocket, KubernetesVersion, Release, Taint, images};
use crate::contract::diagnostics::Diagnostic;
use crate::contract::effects::Effects;
use crate::contract::host::NodeRoot;
use crate::contract::step::PhaseError;
use crate::domain::static_pod::{arg, command, merge_args};
use node_service::{NodeServiceHook, ServiceVerb};

/// dockershim's socket: kubeadm passes different flags for it (below v1.24 only).
pub const DOCKERSHIM_SOCKET: &str = "unix:///var/run/dockershim.sock";

/// Everything `kubelet-start` writes from. Paths are resolved under the node root.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KubeletSpec {
    #[serde(skip)]
    pub root: NodeRoot,
    /// `/var/lib/kubelet`, resolved.
    pub kubelet_dir: PathBuf,
    pub kubernetes_version: KubernetesVersion,
    pub cri_socket: CriSocket,
    pub image_repository: String,
    pub node_name: String,
    /// This machine's hostname (lowercase), when known: `--hostname-override` is only passed
    /// when the node name differs from it.
    pub hostname: Option<String>,
    pub kubelet_extra_args: Vec<Arg>,
    /// A worker's `nodeRegistration.taints`, which kubeadm passes as `--register-with-taints`
    /// (join/kubelet.go: `registerTaintsUsingFlags := cfg.ControlPlane == nil`); a control
    /// plane gets its taints from mark-control-plane instead, so none here.
    pub register_with_taints: Vec<Taint>,
    /// `resolvConf` when systemd-resolved runs on the node that makes the configuration
    /// ([`systemd_resolved_resolv_conf`]); the user's KubeletConfiguration wins.
    pub resolv_conf: Option<String>,
    /// The config file's `KubeletConfiguration` document, as given.
    pub user_config: Option<Value>,
    /// The cluster CA the kubelet authenticates clients with, resolved.
    pub client_ca_file: PathBuf,
    /// The static-pod directory, resolved.
    pub static_pod_path: PathBuf,
    /// The tenth address of the service subnet (10.96.0.10), CoreDNS's Service IP.
    pub cluster_dns: IpAddr,
    pub cluster_domain: String,
}

/// The contract between `kubelet-start` and its context.
pub trait KubeletContext: Sync {
    fn kubelet(&self) -> &KubeletSpec;
}

impl KubeletSpec {
    pub fn config_path(&self) -> PathBuf {
        self.kubelet_dir.join("config.yaml")
    }

    pub fn flags_path(&self) -> PathBuf {
        self.kubelet_dir.join("kubeadm-flags.env")
    }

    /// `/var/lib/kubelet/instance-config.yaml`: what is this node's own (its CRI socket), kept
    /// apart from the cluster-wide configuration from v1.34.
    pub fn instance_config_path(&self) -> PathBuf {
        self.kubelet_dir.join("instance-config.yaml")
    }

    /// The node-local configuration kubeadm writes from v1.34 (NodeLocalCRISocket, #131981):
    /// a bare `containerRuntimeEndpoint` document (WriteInstanceConfigToDisk marshals a
    /// KubeletConfiguration holding only that field; kubeadm's reader accepts this form, its
    /// testdata kubelet-instance-config.yaml), which kubeadm applies over config.yaml.
    pub fn instance_config(&self) -> Option<Value> {
        Release::of(&self.kubernetes_version)
            .node_local_cri_socket()
            .then(|| json!({ "containerRuntimeEndpoint": self.runtime_endpoint() }))
    }

    pub fn pause_image(&self) -> String {
        format!(
            "{}/pause:{}",
            self.image_repository,
            images::pause_tag(&self.kubernetes_version)
        )
    }

    /// The CRI socket as this node's kubelet reaches it: resolved under the node root, like
    /// the CRI preflight check resolves it, so that a kubelet started from kubeadm-flags.env
    /// under `--root DIR` talks to the node's runtime, not the host's.
    pub fn runtime_endpoint(&self) -> String {
        format!(
            "unix://{}",
            self.root.resolve(self.cri_socket.path()).display()
        )
    }

    /// kubeadm's defaults, with the user's document merged over them.
    pub fn config(&self) -> Value {
        let mut defaults = json!({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "authentication": {
                "anonymous": { "enabled": false },
                "webhook": { "enabled": true },
                "x509": { "clientCAFile": self.client_ca_file.display().to_string() },
            },
            "authorization": { "mode": "Webhook" },
            "clusterDNS": [ self.cluster_dns.to_string() ],
            "clusterDomain": self.cluster_domain,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "rotateCertificates": true,
            "staticPodPath": self.static_pod_path.display().to_string(),
        });
        // kubeadm defaults the cgroup driver to systemd from v1.21 (the kubelet's own default,
        // cgroupfs, disagrees with the runtimes' on systemd hosts).
        if self.kubernetes_version.minor() >= 21
            && let Value::Object(map) = &mut defaults
        {
            map.insert("cgroupDriver".into(), Value::String("systemd".into()));
        }
        if let (Some(resolv_conf), Value::Object(map)) = (&self.resolv_conf, &mut defaults) {
            map.insert("resolvConf".into(), Value::String(resolv_conf.clone()));
        }
        if let Some(user) = &self.user_config {
            merge_json(&mut defaults, user);
        }
        if let Some(instance) = self.instance_config() {
            merge_json(&mut defaults, &instance);
        }
        defaults
    }

    /// The kubelet flags kubeadm writes for this version, merged with `kubeletExtraArgs`.
    pub fn flags(&self) -> Vec<Arg> {
        let release = Release::of(&self.kubernetes_version);
        let dockershim = release.minor() < 24 && self.cri_socket.as_str() == DOCKERSHIM_SOCKET;
        let mut args = Vec::new();
        if dockershim {
            args.push(arg("network-plugin", "cni"));
        } else {
            if release.passes_container_runtime_remote() {
                args.push(arg("container-runtime", "remote"));
            }
            if !release.node_local_cri_socket() {
                args.push(arg("container-runtime-endpoint", self.runtime_endpoint()));
            }
        }
        if dockershim || release.passes_pod_infra_container_image() {
            args.push(arg("pod-infra-container-image", self.pause_image()));
        }
        if self.hostname.as_deref() != Some(self.node_name.as_str()) {
            args.push(arg("hostname-override", &self.node_name));
        }
        if !self.register_with_taints.is_empty() {
            // Taint.ToString(): key=value:effect, or key:effect without a value.
            let taints: Vec<String> = self
                .register_with_taints
                .iter()
                .map(|t| match &t.value {
                    Some(value) => format!("{}={value}:{}", t.key, t.effect),
                    None => format!("{}:{}", t.key, t.effect),
                })
                .collect();
            args.push(arg("register-with-taints", taints.join(",")));
        }
        merge_args(args, &self.kubelet_extra_args)
    }

    /// `KUBELET_KUBEADM_ARGS="…"`, quoted as Go's `%q` quotes it.
    pub fn flags_env(&self) -> String {
        let flags = command("", &self.flags());
        let joined = flags[1..].join(" ");
        format!("KUBELET_KUBEADM_ARGS={}\n", go_quote(&joined))
    }
}

/// Merges `over` into `base` (objects key by key, anything else replaced): a user's component
/// config document over kubeadm's defaults.
pub(crate) fn merge_json(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge_json(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why the kubelet could not be (re)started or stopped: what the host lacks, or what the
/// service manager answered.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("systemd is not running (no /run/systemd/system)")]
    NoSystemd,
    #[error("systemctl is not on PATH")]
    NoSystemctl,
    #[error("no kubelet on PATH")]
    NoKubelet,
    #[error("cannot run systemctl: {0}")]
    Spawn(#[source] std::io::Error),
    /// `systemctl <verb> kubelet` exited with a failure; `stderr` is what it said, trimmed.
    #[error("systemctl {verb} kubelet: {status}: {stderr}")]
    Failed {
        verb: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    /// The blocking task running systemctl ended without an answer (it panicked or was
    /// cancelled).
    #[error("systemctl did not finish: {0}")]
    Unfinished(#[source] tokio::task::JoinError),
}

/// When systemd answered, its status and the kubelet's journal say why.
impl Diagnostic for ServiceError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Spawn(_) | Self::Failed { .. } | Self::Unfinished(_) => {
                crate::contract::diagnostics::hint(
                    "check `systemctl status kubelet` and `journalctl -xeu kubelet`",
                )
            }
            Self::NoSystemd | Self::NoSystemctl | Self::NoKubelet => None,
        }
    }
}

/// Starts and stops host services; the seam that keeps tests (and simulated nodes) away from
/// the host's systemd.
#[async_trait]
pub trait ServiceManager: Send + Sync {
    /// `Ok` when the kubelet can be restarted here, else why not.
    fn kubelet_restartable(&self) -> Result<(), ServiceError>;
    /// Restarts the kubelet service; the error says what the service manager answered.
    async fn restart_kubelet(&self) -> Result<(), ServiceError>;
    /// Stops the kubelet service (reset, once the static pods are gone, so that it does not
    /// recreate what is being removed); the error says what the service manager answered.
    async fn stop_kubelet(&self) -> Result<(), ServiceError>;
}

/// systemd, through `systemctl`.
pub struct Systemd;

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(binary))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

#[async_trait]
impl ServiceManager for Systemd {
    fn kubelet_restartable(&self) -> Result<(), ServiceError> {
        if !Path::new("/run/systemd/system").exists() {
            return Err(ServiceError::NoSystemd);
        }
        if !on_path("systemctl") {
            return Err(ServiceError::NoSystemctl);
        }
        if !on_path("kubelet") {
            return Err(ServiceError::NoKubelet);
        }
        Ok(())
    }

    async fn restart_kubelet(&self) -> Result<(), ServiceError> {
        tokio::task::spawn_blocking(|| systemctl_kubelet("restart"))
            .await
            .map_err(ServiceError::Unfinished)?
    }

    async fn stop_kubelet(&self) -> Result<(), ServiceError> {
        tokio::task::spawn_blocking(|| systemctl_kubelet("stop"))
            .await
            .map_err(ServiceError::Unfinished)?
    }
}

/// The resolv.conf kubeadm points the kubelet at when systemd-resolved is active: its
/// `/etc/resolv.conf` names the 127.0.0.53 stub, which pods with `dnsPolicy: Default` (CoreDNS
/// among them) cannot reach, and CoreDNS would forward to itself and stop on its loop check
/// (kubeadm componentconfigs/kubelet.go, `isServiceActive("systemd-resolved")`).
pub const SYSTEMD_RESOLVED_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// [`SYSTEMD_RESOLVED_RESOLV_CONF`] when systemd-resolved is active on this machine, as
/// `systemctl is-active` says. Only on root `/`: under another root the host's services are
/// not the node's, and are not asked.
pub fn systemd_resolved_resolv_conf(root: &NodeRoot) -> Option<String> {
    if !root.is_system() || !Path::new("/run/systemd/system").exists() {
        return None;
    }
    let active = std::process::Command::new("systemctl")
        .args(["is-active", "--quiet", "systemd-resolved"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    active.then(|| SYSTEMD_RESOLVED_RESOLV_CONF.to_owned())
}

/// `systemctl <verb> kubelet` (blocking), for the phases and for reset; the error says what
/// systemd answered.
pub fn systemctl_kubelet(verb: &str) -> Result<(), ServiceError> {
    if !Path::new("/run/systemd/system").exists() {
        return Err(ServiceError::NoSystemd);
    }
    let out = std::process::Command::new("systemctl")
        .args([verb, "kubelet"])
        .output()
        .map_err(ServiceError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ServiceError::Failed {
            verb: verb.to_string(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The kubelet's service as the phases that (re)start it see it: the host's systemd, unless a
/// test or a simulated node hands in another [`ServiceManager`].
#[derive(Clone)]
pub struct KubeletService(Arc<dyn ServiceManager>);

impl KubeletService {
    pub fn new(services: Arc<dyn ServiceManager>) -> Self {
        Self(services)
    }

    /// See [`restart_kubelet`].
    pub async fn restart(&self, root: &NodeRoot, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        restart_kubelet(root, self.0.as_ref(), fx).await
    }

    /// Stops the kubelet on a real node (root `/`), for reset; under any other root, or a dry
    /// run, says why it did not. A kubelet that cannot be stopped is a warning, not an error:
    /// the files reset removes are what it would run from, and they go anyway.
    pub async fn stop(&self, root: &NodeRoot, fx: &mut Effects<'_>) {
        if !root.is_system() {
            match NodeServiceHook::find(root) {
                None => fx.progress(format!(
                    "the host's kubelet is not touched: --root is {}, not /, and the node has no {NODE_SERVICE_HOOK}",
                    root.as_path().display()
                )),
                Some(hook) if fx.is_dry_run() => fx.progress(format!(
                    "dry run: the node's kubelet would be stopped ({} stop kubelet)",
                    hook.path().display()
                )),
                Some(hook) => {
                    fx.progress(format!(
                        "stopping the node's kubelet ({} stop kubelet)",
                        hook.path().display()
                    ));
                    if let Err(e) = hook.run(ServiceVerb::Stop).await {
                        fx.warn(format!("the kubelet was not stopped: {e}"));
                    }
                }
            }
        } else if fx.is_dry_run() {
            fx.progress("dry run: the kubelet would be stopped (systemctl stop kubelet)");
        } else {
            fx.progress("stopping the kubelet (systemctl stop kubelet)");
            if let Err(e) = self.0.stop_kubelet().await {
                fx.warn(format!("the kubelet was not stopped: {e}"));
            }
        }
    }
}

impl Default for KubeletService {
    fn default() -> Self {
        Self(Arc::new(Systemd))
    }
}

/// Restarts the kubelet when this is a real node and the service manager can; otherwise says
/// why it did not, and succeeds (the files are what later runs of the kubelet read).
pub async fn restart_kubelet(
    root: &NodeRoot,
    services: &dyn ServiceManager,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    if !root.is_system() {
        return restart_node_kubelet(root, fx).await;
    }
    if fx.is_dry_run() {
        fx.warn("the kubelet was not (re)started: dry run");
        return Ok(());
    }
    if let Err(why) = services.kubelet_restartable() {
        fx.warn(format!(
            "the kubelet was not (re)started: {why}; start it once installed (systemctl restart kubelet)"
        ));
        return Ok(());
    }
    fx.progress("restarting the kubelet (systemctl restart kubelet)");
    services
        .restart_kubelet()
        .await
        .map_err(|e| PhaseError::Failed {
            message: format!("cannot restart the kubelet: {e}"),
            hint: e.hint().map(std::borrow::Cow::into_owned),
        })
}

/// Under a root other than `/`: the node's own hook restarts its kubelet; the host's is never
/// touched.
async fn restart_node_kubelet(root: &NodeRoot, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
    let Some(hook) = NodeServiceHook::find(root) else {
        fx.warn(format!(
            "the kubelet was not (re)started: --root is {}, not /, and the node has no {NODE_SERVICE_HOOK} to start it; the host's kubelet is never touched",
            root.as_path().display()
        ));
        return Ok(());
    };
    if fx.is_dry_run() {
        fx.warn(format!(
            "the kubelet was not (re)started: dry run ({} restart kubelet)",
            hook.path().display()
        ));
        return Ok(());
    }
    fx.progress(format!(
        "restarting the node's kubelet ({} restart kubelet)",
        hook.path().display()
    ));
    hook.run(ServiceVerb::Restart)
        .await
        .map_err(|e| PhaseError::failed(format!("cannot restart the kubelet: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoting_escapes_quotes_and_backslashes() {
        assert_eq!(go_quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }

    #[test]
    fn user_values_win_and_nested_defaults_stay() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_json(&mut base, &json!({"a": {"b": 5}, "d": [2, 3], "e": true}));
        assert_eq!(base, json!({"a": {"b": 5, "c": 2}, "d": [2, 3], "e": true}));
    }
}
