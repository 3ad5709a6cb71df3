//! `control-plane/{etcd, apiserver, controller-manager, scheduler}` of an upgrade: each
//! component in kubeadm's order (etcd first, then `constants.MasterComponents`), as kubeadm's
//! `upgradeComponent` (cmd/kubeadm/app/phases/upgrade/staticpods.go, search index id
//! 2198847340) does it: renew the component's certificates, back up its manifest, put the new
//! one in place, wait until the kubelet runs it — the mirror pod's `kubernetes.io/config.hash`
//! changed — and it is healthy; on failure put the backup back and wait until the old pod is
//! healthy again.
//!
//! What kubestrap adds:
//! - a manifest that renders unchanged is not touched (no restart): a reconfiguration
//!   restarts only what it changes;
//! - a marker (`<pod>.pending`, holding the hash before) written before the new manifest and
//!   removed when the component is healthy or rolled back, so that a run killed in between
//!   resumes the wait (or the rollback) instead of trusting a pod it never saw healthy: at most
//!   one component is ever in flight;
//! - a component that keeps exiting is rolled back when the runtime reports its second exit,
//!   not after kubeadm's five minutes; the error names the component, its exit code and
//!   reason, where its output is, the backup and the manifest that failed.
//!
//! After the four, `control-plane/admin-conf` ([`RenewAdminConf`]) renews admin.conf.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::config::well_known::KUBE_SYSTEM;
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::{HostFs, Mode};
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::apiclient::ApiClient;
use crate::domain::cri::Runtime;
use crate::domain::etcd;
use crate::domain::pki::kubeconfig::KubeconfigName;
use crate::domain::pki::{CertName, PkiContext};
use crate::domain::static_pod::mirror::{Mirror, mirror, mirror_pod_name};
use crate::domain::static_pod::{Pod, StaticPodContext, fingerprint_common};
use crate::phases::certs::{RenewTarget, reissue_if_changed, renew};
use crate::phases::control_plane;
use crate::phases::wait_control_plane::{self, WaitContext};

use super::context::UpgradeContext;
use super::diff::unified_diff;

/// A static pod of the control plane, in the order an upgrade takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Etcd,
    ApiServer,
    ControllerManager,
    Scheduler,
}

impl Component {
    pub const ALL: [Component; 4] = [
        Component::Etcd,
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
    ];

    /// The pod, container and manifest name.
    pub fn pod_name(self) -> &'static str {
        match self {
            Component::Etcd => etcd::COMPONENT,
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
        }
    }

    /// The phase's name (init's names for the same manifests).
    pub fn phase_name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "apiserver",
            Component::ControllerManager => "controller-manager",
            Component::Scheduler => "scheduler",
        }
    }

    fn control_plane(self) -> Option<control_plane::Component> {
        match self {
            Component::Etcd => None,
            Component::ApiServer => Some(control_plane::Component::ApiServer),
            Component::ControllerManager => Some(control_plane::Component::ControllerManager),
            Component::Scheduler => Some(control_plane::Component::Scheduler),
        }
    }

    /// The certificates kubeadm renews with the component (`renewCertsByComponent` in
    /// kubeadm's staticpods.go, search index id 199521610): etcd's own with etcd; the API
    /// server's, its clients' and the front proxy's with the API server; each other
    /// component's kubeconfig with it.
    fn certificates(self) -> Vec<RenewTarget> {
        match self {
            Component::Etcd => vec![
                RenewTarget::Cert(CertName::EtcdServer),
                RenewTarget::Cert(CertName::EtcdPeer),
                RenewTarget::Cert(CertName::EtcdHealthcheckClient),
            ],
            Component::ApiServer => vec![
                RenewTarget::Cert(CertName::Apiserver),
                RenewTarget::Cert(CertName::ApiserverKubeletClient),
                RenewTarget::Cert(CertName::FrontProxyClient),
                RenewTarget::Cert(CertName::ApiserverEtcdClient),
            ],
            Component::ControllerManager => {
                vec![RenewTarget::Kubeconfig(KubeconfigName::ControllerManager)]
            }
            Component::Scheduler => vec![RenewTarget::Kubeconfig(KubeconfigName::Scheduler)],
        }
    }
}

/// The manifest the target configuration renders for `component` on this node, as YAML;
/// `None` for etcd when it is external. A local etcd member keeps the `--initial-cluster`
/// flags its manifest has: they only matter to a member's first start, and a joined member's
/// list is its own.
pub fn render(
    ctx: &UpgradeContext,
    component: Component,
    current: Option<&Pod>,
    fs: &HostFs,
) -> Result<Option<String>, PhaseError> {
    let spec = ctx.target.static_pods();
    let pod = match component.control_plane() {
        Some(c) => {
            let external_ca = crate::domain::pki::files::is_external_ca_mode(ctx.target.pki(), fs);
            Some(control_plane::render(c, spec, external_ca)?)
        }
        None => etcd::render(spec)?.map(|mut pod| {
            if let Some(current) = current {
                keep_flags(
                    &mut pod,
                    current,
                    &["initial-cluster", "initial-cluster-state"],
                );
            }
            pod
        }),
    };
    pod.map(|p| {
        p.to_yaml().map_err(|e| {
            PhaseError::failed(format!(
                "cannot render the {} manifest: {e}",
                component.pod_name()
            ))
        })
    })
    .transpose()
}

/// Replaces `names`' values in `pod`'s command with `from`'s, where `from` has them.
fn keep_flags(pod: &mut Pod, from: &Pod, names: &[&str]) {
    let Some(c) = pod.spec.containers.first_mut() else {
        return;
    };
    for name in names {
        let Some(value) = from.flag(name) else {
            continue;
        };
        let prefix = format!("--{name}=");
        for arg in c.command.iter_mut().filter(|a| a.starts_with(&prefix)) {
            *arg = format!("{prefix}{value}");
        }
    }
}

/// The upgrade step of one component.
pub struct UpgradeStaticPod(pub Component);

#[async_trait]
impl Step<UpgradeContext> for UpgradeStaticPod {
    fn name(&self) -> &'static str {
        self.0.phase_name()
    }

    fn help(&self) -> &'static str {
        match self.0 {
            Component::Etcd => {
                "Upgrade the local etcd member's static pod (after a snapshot), when its manifest changes."
            }
            Component::ApiServer => {
                "Upgrade kube-apiserver: renew its certificates, back up and replace its manifest, wait until it is back and healthy; roll back on failure."
            }
            Component::ControllerManager => {
                "Upgrade kube-controller-manager: renew its kubeconfig, replace its manifest, wait until it is back and healthy; roll back on failure."
            }
            Component::Scheduler => {
                "Upgrade kube-scheduler: renew its kubeconfig, replace its manifest, wait until it is back and healthy; roll back on failure."
            }
        }
    }

    fn applicability(&self, ctx: &UpgradeContext) -> Applicability {
        if !ctx.is_control_plane() {
            return Applicability::NotApplicable("a worker runs no control plane".into());
        }
        if self.0 == Component::Etcd {
            if !ctx.etcd_upgrade {
                return Applicability::NotApplicable("--etcd-upgrade=false".into());
            }
            return etcd::local_etcd_only(ctx.target.static_pods());
        }
        Applicability::Applies
    }

    fn inputs(&self, ctx: &UpgradeContext, fp: &mut Fingerprint<'_>) {
        fingerprint_common(ctx.target.static_pods(), fp);
    }

    /// The result is a running pod, not only a file: a resumed upgrade checks it again (an
    /// unchanged manifest costs one read).
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &UpgradeContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        upgrade(ctx, self.0, fx).await
    }
}

/// The files of one component's upgrade.
struct Paths {
    manifest: PathBuf,
    backup: PathBuf,
    pending: PathBuf,
    failed: PathBuf,
}

impl Paths {
    fn of(ctx: &UpgradeContext, component: Component) -> Self {
        let pod = component.pod_name();
        let dir = ctx.upgrade_dir();
        Self {
            manifest: ctx.target.static_pods().manifest_path(pod),
            backup: dir.join(format!("{pod}.yaml")),
            pending: dir.join(format!("{pod}.pending")),
            failed: dir.join(format!("{pod}.failed.yaml")),
        }
    }
}

async fn upgrade(
    ctx: &UpgradeContext,
    component: Component,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    let fs = fx.fs().clone();
    let pod_name = component.pod_name();
    let paths = Paths::of(ctx, component);
    let Some(current) = fs.read_if_exists(&paths.manifest)? else {
        return Err(PhaseError::Conflict {
            path: paths.manifest.clone(),
            problem: format!("there is no {pod_name} manifest to upgrade"),
            fix: format!(
                "restore it from {} or render it with `kubestrap init phase control-plane`",
                paths.backup.display()
            ),
        });
    };
    let current_pod = crate::doctor::facts::read_pod(&fs.target(&paths.manifest));
    let Some(wanted) = render(ctx, component, current_pod.as_ref(), &fs)? else {
        return Ok(());
    };
    let current_text = String::from_utf8_lossy(&current).into_owned();
    if component == Component::ApiServer {
        // A changed certSANs needs no restart: kube-apiserver reloads its serving certificate.
        let changed = reissue_apiserver_certificate(ctx, fx)?;
        if !changed.is_empty() {
            fx.progress(format!(
                "apiserver certificate re-issued for the configuration: {}",
                changed.join("; ")
            ));
        }
    }
    let pending = fs
        .read_if_exists(&paths.pending)?
        .map(|b| String::from_utf8_lossy(&b).trim().to_string());
    if fx.is_dry_run() {
        if current_text == wanted {
            fx.progress(format!("{pod_name}: manifest unchanged, not restarted"));
        } else {
            fx.progress(unified_diff(&paths.manifest, &current_text, &wanted));
            fx.write_file(&paths.manifest, wanted.as_bytes(), Mode::PRIVATE)?;
        }
        return Ok(());
    }
    let client = ctx.client(&fs).await?;
    if current_text == wanted {
        let Some(before) = pending else {
            fx.progress(format!("{pod_name}: manifest unchanged, not restarted"));
            return Ok(());
        };
        // An earlier run put this manifest in place and stopped before it saw the pod healthy.
        fx.progress(format!(
            "{pod_name}: resuming an interrupted upgrade, waiting for the kubelet to run the new manifest"
        ));
        let hashes = Hashes {
            running: &before,
            good: &before,
        };
        return settle(ctx, component, fx, &client, &paths, hashes, &wanted).await;
    }
    renew_certificates(ctx, component, fx)?;
    // The backup is the last manifest seen healthy, and the marker holds its pod's hash. A
    // marker left by an interrupted run means the manifest on disk was never seen healthy:
    // the backup and the marker stay, and only the pod running now is what must change.
    let (good, running) = match pending {
        Some(good) => {
            let running = hash_now(ctx, &client, pod_name)
                .await
                .unwrap_or_else(|_| good.clone());
            (good, running)
        }
        None => {
            let good = hash_now(ctx, &client, pod_name).await?;
            fx.write_file(&paths.backup, &current, Mode::PRIVATE)?;
            fx.write_file(&paths.pending, good.as_bytes(), Mode::PRIVATE)?;
            (good.clone(), good)
        }
    };
    fx.progress(format!(
        "{pod_name}: new manifest in place, the last healthy one backed up to {}",
        paths.backup.display()
    ));
    fx.write_file(&paths.manifest, wanted.as_bytes(), Mode::PRIVATE)?;
    settle(
        ctx,
        component,
        fx,
        &client,
        &paths,
        Hashes {
            running: &running,
            good: &good,
        },
        &wanted,
    )
    .await
}

/// The mirror pod hashes an upgrade waits on: the pod running before the new manifest (the
/// wait is for a pod that is not it) and the last one seen healthy (a rollback waits for it).
#[derive(Clone, Copy)]
struct Hashes<'a> {
    running: &'a str,
    good: &'a str,
}

/// The mirror pod's hash now; an upgrade that cannot see it cannot tell when the kubelet has
/// taken the new manifest, so it does not start.
async fn hash_now(
    ctx: &UpgradeContext,
    client: &ApiClient,
    pod: &str,
) -> Result<String, PhaseError> {
    let name = mirror_pod_name(pod, &ctx.node.name);
    match mirror(client, pod, &ctx.node.name).await {
        Ok(Some(Mirror { hash: Some(h), .. })) => Ok(h),
        Ok(_) => Err(PhaseError::with_hint(
            format!(
                "the kubelet reports no mirror pod {KUBE_SYSTEM}/{name} with a config hash, so the upgrade could not tell when it restarts {pod}"
            ),
            "check that the kubelet runs on this node (`systemctl status kubelet`) and that its static pods are mirrored (`kubectl -n kube-system get pods`)",
        )),
        Err(e) => Err(PhaseError::failed(format!(
            "cannot read mirror pod {KUBE_SYSTEM}/{name}: {e}"
        ))),
    }
}

/// Renews the component's certificates with their current subjects and SANs, unless
/// `--certificate-renewal=false` (kubeadm's `renewCerts` before each component).
fn renew_certificates(
    ctx: &UpgradeContext,
    component: Component,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    if ctx.certificate_renewal {
        renew_with_local_ca(ctx, component.certificates(), fx)?;
    }
    Ok(())
}

/// kubeadm's `RenewUsingLocalCA`: each of `targets` that applies to this PKI, renewed with the
/// cluster's CA; nothing, and a note, when the CA's key is not here (external CA).
fn renew_with_local_ca(
    ctx: &UpgradeContext,
    targets: Vec<RenewTarget>,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    let pki = ctx.target.pki();
    let keys = ctx.target.pki_session().keys();
    if crate::domain::pki::files::is_external_ca_mode(pki, fx.fs()) {
        fx.progress("external CA: certificates are not renewed");
        return Ok(());
    }
    // The etcd certificates exist only with a local etcd (kubeadm: `cfg.Etcd.Local != nil`).
    let applies = |t: &RenewTarget| match t {
        RenewTarget::Cert(name) => name.applies_to(pki.etcd),
        _ => true,
    };
    for target in targets.into_iter().filter(applies) {
        renew(pki, keys, fx, target).map_err(|e| PhaseError::from_diagnostic(&e))?;
    }
    Ok(())
}

/// `control-plane/admin-conf`: once every static pod is upgraded, admin.conf's client
/// certificate is renewed too, as kubeadm's `StaticPodControlPlane` ends (staticpods.go of
/// v1.20, search index id 199521610: `certsRenewMgr.RenewUsingLocalCA(AdminKubeConfigFileName)`
/// when `renewCerts`), so that an upgraded cluster's operator credentials are as fresh as its
/// components'. kubeadm runs it in `upgrade node` of a control plane as well (the same
/// function); not on workers, which have no admin.conf.
pub struct RenewAdminConf;

#[async_trait]
impl Step<UpgradeContext> for RenewAdminConf {
    fn name(&self) -> &'static str {
        "admin-conf"
    }

    fn help(&self) -> &'static str {
        "Renew the client certificate in admin.conf after the static pods, as kubeadm's upgrade does (not with --certificate-renewal=false)."
    }

    fn applicability(&self, ctx: &UpgradeContext) -> Applicability {
        if !ctx.is_control_plane() {
            return Applicability::NotApplicable("a worker has no admin.conf".into());
        }
        if !ctx.certificate_renewal {
            return Applicability::NotApplicable("--certificate-renewal=false".into());
        }
        Applicability::Applies
    }

    fn inputs(&self, ctx: &UpgradeContext, fp: &mut Fingerprint<'_>) {
        fp.file(&CertName::Ca.cert_path(ctx.target.pki()));
    }

    /// Every apply renews, as the components' certificates are renewed on every apply: a
    /// journal of an earlier, finished apply must not make a later one skip it.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &UpgradeContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        renew_with_local_ca(
            ctx,
            vec![RenewTarget::Kubeconfig(KubeconfigName::Admin)],
            fx,
        )
    }
}

/// Re-issues the API server's serving certificate when the configuration changed what it must
/// hold (certSANs), whether or not its manifest changes: kube-apiserver reloads its serving
/// certificate from disk. Returns what differed.
pub fn reissue_apiserver_certificate(
    ctx: &UpgradeContext,
    fx: &mut Effects<'_>,
) -> Result<Vec<String>, PhaseError> {
    reissue_if_changed(
        ctx.target.pki(),
        ctx.target.pki_session().keys(),
        fx,
        CertName::Apiserver,
    )
    .map_err(|e| PhaseError::from_diagnostic(&e))
}

/// Waits for the component to come back with the new manifest; rolls it back when it does
/// not. Removes the pending marker either way.
async fn settle(
    ctx: &UpgradeContext,
    component: Component,
    fx: &mut Effects<'_>,
    client: &ApiClient,
    paths: &Paths,
    hashes: Hashes<'_>,
    wanted: &str,
) -> Result<(), PhaseError> {
    let fs = fx.fs().clone();
    let pod = component.pod_name();
    let started = Instant::now();
    let outcome = wait(ctx, component, client, Expect::Changed(hashes.running), fx).await;
    let failure = match outcome {
        Ok(()) => {
            clear_pending(fx, &paths.pending)?;
            fx.progress(format!(
                "{pod} runs its new manifest and is healthy ({:.1}s)",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        Err(f) => f,
    };
    // Put the backup back, byte for byte, and keep what failed for the user to look at.
    let backup = fs.read(&paths.backup)?;
    fx.write_file(&paths.failed, wanted.as_bytes(), Mode::PRIVATE)?;
    fx.write_file(&paths.manifest, &backup, Mode::PRIVATE)?;
    fx.warn(format!(
        "{pod} did not come back with its new manifest ({}); rolling back to {}",
        failure.said,
        paths.backup.display()
    ));
    let back = wait(ctx, component, client, Expect::Back(hashes.good), fx).await;
    clear_pending(fx, &paths.pending)?;
    let rolled_back = match &back {
        Ok(()) => {
            format!("rolled back: the previous manifest is in place again and {pod} is healthy")
        }
        Err(f) => format!(
            "rolled back, but {pod} is not healthy with the previous manifest either: {}",
            f.said
        ),
    };
    let mut hint = format!(
        "backup of the previous manifest: {}; the manifest that failed: {}",
        paths.backup.display(),
        paths.failed.display()
    );
    if let Some(logs) = &failure.logs {
        hint.push_str(&format!("; {pod}'s output: {logs}"));
    } else {
        hint.push_str(&format!(
            "; {pod}'s output: `crictl ps -a --name {pod}` then `crictl logs <container id>`"
        ));
    }
    Err(PhaseError::with_hint(
        format!("{pod} failed to upgrade: {}; {rolled_back}", failure.said),
        hint,
    ))
}

fn clear_pending(fx: &mut Effects<'_>, pending: &std::path::Path) -> Result<(), PhaseError> {
    fx.remove(pending, "upgrade-marker", |p| {
        match std::fs::remove_file(p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(crate::contract::host::FsError {
                path: p.to_path_buf(),
                source,
            }),
        }
    })?;
    Ok(())
}

/// What the wait waits for.
#[derive(Debug, Clone, Copy)]
enum Expect<'a> {
    /// A mirror pod whose hash is not this (the kubelet took the new manifest).
    Changed(&'a str),
    /// The pod of the restored manifest: its hash is this again.
    Back(&'a str),
}

impl Expect<'_> {
    fn holds(self, hash: Option<&str>) -> bool {
        match self {
            Expect::Changed(before) => hash.is_some_and(|h| h != before),
            Expect::Back(before) => hash == Some(before),
        }
    }
}

/// Why a component did not come back.
struct Failure {
    /// What it last said, in words.
    said: String,
    /// Where its output is (a log file), when the runtime says.
    logs: Option<String>,
}

/// How many exits of the new pod's container, once the manifest is in place, mean it will not
/// come up: the kubelet restarts a failing container after 10 s, then 20 s, …
const EXITS_BEFORE_ROLLBACK: usize = 2;

/// How often the wait looks again.
const POLL: Duration = Duration::from_millis(500);

/// Polls the mirror pod (hash, readiness), the component's health endpoint and the runtime's
/// containers until `expect` holds and the component is healthy, it has exited
/// [`EXITS_BEFORE_ROLLBACK`] times, or the manifest timeout passes.
async fn wait(
    ctx: &UpgradeContext,
    component: Component,
    client: &ApiClient,
    expect: Expect<'_>,
    fx: &Effects<'_>,
) -> Result<(), Failure> {
    let pod = component.pod_name();
    let since = now_ns();
    let deadline = Instant::now() + ctx.manifest_timeout;
    let probe = ctx
        .target
        .wait_spec()
        .components
        .into_iter()
        .find(|c| c.pod == pod)
        .map(|c| c.probe);
    let socket = ctx.root.resolve(ctx.node.cri_socket.path());
    let mut runtime = Runtime::connect(&socket).await.ok();
    let mut last_line = String::new();
    loop {
        let mirror = mirror(client, pod, &ctx.node.name).await;
        let (hash_ok, ready, state) = match &mirror {
            Ok(Some(m)) => (expect.holds(m.hash.as_deref()), m.ready, m.state.clone()),
            Ok(None) => (false, false, "no mirror pod".to_string()),
            Err(e) => (false, false, format!("API: {e}")),
        };
        let health = match (&probe, hash_ok && ready) {
            (Some(p), true) => {
                let p = p.clone();
                let answer = tokio::task::spawn_blocking(move || {
                    wait_control_plane::probe::run(&p, Duration::from_secs(3))
                })
                .await
                .ok();
                answer.map(|a| (a.is_healthy(), a.short()))
            }
            (None, true) => Some((true, "ready".to_string())),
            _ => None,
        };
        if let Some((true, _)) = health {
            return Ok(());
        }
        let exits = match runtime.as_mut() {
            Some(rt) => rt
                .containers_named(KUBE_SYSTEM, pod)
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.created_at >= since && c.exited)
                .collect::<Vec<_>>(),
            None => Vec::new(),
        };
        if exits.len() >= EXITS_BEFORE_ROLLBACK {
            let last = &exits[0];
            return Err(Failure {
                said: format!(
                    "its container exited {} times since the manifest changed, last with exit code {} ({})",
                    exits.len(),
                    last.exit_code,
                    if last.reason.is_empty() {
                        "no reason given"
                    } else {
                        &last.reason
                    }
                ),
                logs: (!last.log_path.is_empty())
                    .then(|| format!("{} (container {})", last.log_path, last.id)),
            });
        }
        let line = format!(
            "{pod}: {}; {state}{}",
            if hash_ok {
                "new pod"
            } else {
                "waiting for the kubelet to take the manifest"
            },
            health
                .map(|(_, said)| format!("; health: {said}"))
                .unwrap_or_default()
        );
        if line != last_line {
            fx.progress(&line);
            last_line = line;
        }
        if Instant::now() >= deadline {
            return Err(Failure {
                said: format!(
                    "not healthy within {}s: {last_line}",
                    ctx.manifest_timeout.as_secs()
                ),
                logs: None,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_tells_a_new_pod_from_the_old_and_the_restored_one() {
        assert!(Expect::Changed("a").holds(Some("b")));
        assert!(!Expect::Changed("a").holds(Some("a")));
        assert!(!Expect::Changed("a").holds(None));
        assert!(Expect::Back("a").holds(Some("a")));
        assert!(!Expect::Back("a").holds(Some("b")));
    }

    #[test]
    fn components_go_in_kubeadms_order_with_kubeadms_certificates() {
        let names: Vec<_> = Component::ALL.iter().map(|c| c.pod_name()).collect();
        assert_eq!(
            names,
            [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler"
            ]
        );
        assert_eq!(
            Component::ApiServer.certificates(),
            [
                RenewTarget::Cert(CertName::Apiserver),
                RenewTarget::Cert(CertName::ApiserverKubeletClient),
                RenewTarget::Cert(CertName::FrontProxyClient),
                RenewTarget::Cert(CertName::ApiserverEtcdClient),
            ]
        );
    }

    #[test]
    fn a_joined_members_initial_cluster_is_kept() {
        let yaml = |flags: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - name: etcd\n    image: e\n    command:\n    - etcd\n{flags}"
            )
        };
        let mut rendered = Pod::from_yaml(&yaml(
            "    - --initial-cluster=cp2=https://127.0.0.2:2380\n    - --initial-cluster-state=new\n    - --name=cp2\n",
        ))
        .unwrap();
        let on_disk = Pod::from_yaml(&yaml(
            "    - --initial-cluster=cp1=https://127.0.0.1:2380,cp2=https://127.0.0.2:2380\n    - --initial-cluster-state=existing\n",
        ))
        .unwrap();
        keep_flags(
            &mut rendered,
            &on_disk,
            &["initial-cluster", "initial-cluster-state"],
        );
        assert_eq!(
            rendered.flag("initial-cluster"),
            Some("cp1=https://127.0.0.1:2380,cp2=https://127.0.0.2:2380")
        );
        assert_eq!(rendered.flag("initial-cluster-state"), Some("existing"));
        assert_eq!(rendered.flag("name"), Some("cp2"));
    }
}
