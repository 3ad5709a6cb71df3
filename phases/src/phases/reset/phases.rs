//! reset's phases, as the engine runs them: kubeadm's `preflight`, `remove-etcd-member` and
//! `cleanup-node` (cmd/kubeadm/app/cmd/phases/reset/), and `verify`, each a [`Step`] over
//! one typed [`ResetContext`]. Deletions go through [`Effects::remove`], so that a dry run
//! lists what a real reset removes, the same way; warnings and progress through `fx`.
//!
//! What is on the node (the [`Inventory`]) is taken once, before anything is removed, by the
//! first phase that needs it — `preflight`, or the phase a `reset phase …` names — and handed
//! on in the context ([`ResetContext::survey`]). It cannot be taken again later: once the
//! manifests and admin.conf are gone, the node no longer says where etcd listens, which
//! member is this node's, which ports to wait for or where the cluster put its
//! certificates. `verify` alone looks again, to find what is new.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::config::{ClusterConfig, CriSocket};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::{HostFs, NodeRoot};
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::etcd::EtcdCluster;
use crate::domain::kubelet::KubeletService;

use super::cleanup::{
    leftovers, not_cleaned, remove_manifests, remove_the_rest, wait_until_stopped,
};
use super::configured::{ResetOptions, cluster_configuration};
use super::containers::{remove_pods, runtime_socket};
use super::etcd_member::{MemberOutcome, remove_this_member};
use super::inventory::{Inventory, inventory};
use super::unmount::unmount_kubelet_dir;
use crate::config::well_known::MANIFESTS_DIR;

/// How long reading the cluster's kubeadm-config may take, retries included: a node whose API
/// server is gone must still be reset quickly.
pub const CLUSTER_CONFIG_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the kubelet gets to stop the static pods once their manifests are gone; etcd
/// must not be writing into the data dir that is removed next.
pub const POD_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Each etcd membership call: one round trip to the local etcd, which answers in
/// milliseconds when it is up.
pub const ETCD_CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long transient etcd failures are retried (a member that just joined cannot be removed
/// until its peers have been connected for a few seconds).
pub const ETCD_PATIENCE: Duration = Duration::from_secs(30);

/// What refusals mean for the user.
const REFUSAL_HINT: &str = "reset deletes only what init and join make, inside --root (docs/reset.md lists it); remove or fix the refused paths yourself, or point reset at the right directories with --cert-dir or --config";
/// What to do about a file that could not be removed, or one still there.
const AGAIN_HINT: &str = "fix the cause and run `kubestrap reset` again: it removes what is left";

/// Everything reset's phases need, built once from the flags at the edge.
pub struct ResetContext {
    pub root: NodeRoot,
    /// `--cert-dir` and the ClusterConfiguration of `--config`; the cluster's own is read by
    /// the survey.
    options: ResetOptions,
    /// The host's kubelet (systemd), touched only on root `/`.
    pub kubelet: KubeletService,
    /// `--cri-socket`: the runtime whose pods cleanup-node removes (else found on the node).
    pub cri_socket: Option<CriSocket>,
    pub pod_stop_timeout: Duration,
    survey: OnceLock<Survey>,
}

/// What the first phase found on the node, before anything was removed.
pub struct Survey {
    /// The options with the cluster's ClusterConfiguration, when it could be read (verify's
    /// second look uses the same).
    pub options: ResetOptions,
    pub inventory: Inventory,
}

impl ResetContext {
    /// `cert_dir`: `--cert-dir` (logical); `config_file`: the ClusterConfiguration of
    /// `--config`, parsed and validated by the caller.
    pub fn new(
        root: NodeRoot,
        cert_dir: Option<PathBuf>,
        config_file: Option<ClusterConfig>,
        kubelet: KubeletService,
    ) -> Self {
        Self {
            root,
            options: ResetOptions {
                cert_dir,
                config_file,
                cluster: None,
            },
            kubelet,
            cri_socket: None,
            pod_stop_timeout: POD_STOP_TIMEOUT,
            survey: OnceLock::new(),
        }
    }

    /// Whether static-pod manifest `file` is on the node (a symlink counts: reset removes it),
    /// which decides whether a phase about that component applies; else `why_not`.
    pub(super) fn applies_with_manifest(&self, file: &str, why_not: &str) -> Applicability {
        let manifest = self.root.resolve(MANIFESTS_DIR).join(file);
        if manifest.symlink_metadata().is_ok() {
            Applicability::Applies
        } else {
            Applicability::NotApplicable(why_not.into())
        }
    }

    /// What is on the node, taken by the first phase that asks (reported through its `fx`:
    /// where the directories came from, what is refused and why) and kept for the others.
    pub fn survey(&self, fx: &mut Effects<'_>) -> &Survey {
        self.survey.get_or_init(|| self.take_survey(fx))
    }

    fn take_survey(&self, fx: &mut Effects<'_>) -> Survey {
        let mut options = self.options.clone();
        match cluster_configuration(&self.root, CLUSTER_CONFIG_TIMEOUT) {
            Ok(cluster) => options.cluster = cluster,
            Err(e) => fx.warn(format!(
                "cannot read the cluster's ClusterConfiguration ({e}); the certificates and etcd data dirs come from --cert-dir, --config or the defaults"
            )),
        }
        let inv = inventory(&self.root, &options);
        for w in &inv.warnings {
            fx.warn(w);
        }
        fx.progress(format!(
            "certificates dir {} ({})",
            inv.cert_dir.path.display(),
            inv.cert_dir.from
        ));
        match &inv.etcd_data_dir {
            Some(d) => fx.progress(format!("etcd data dir {} ({})", d.path.display(), d.from)),
            None => fx.progress("etcd is external in the configuration: no etcd data on this node"),
        }
        for r in &inv.refused {
            fx.warn(format!("will not remove {r}"));
        }
        fx.set_result_field("certificates_dir", json!(inv.cert_dir));
        fx.set_result_field("etcd_data_dir", json!(inv.etcd_data_dir));
        fx.set_result_field("refused", json!(inv.refused));
        fx.set_result_field("not_cleaned", json!(not_cleaned(&self.root)));
        Survey {
            options,
            inventory: inv,
        }
    }
}

/// The error naming every path reset refused, if any.
fn refusal(inv: &Inventory) -> Option<String> {
    if inv.refused.is_empty() {
        return None;
    }
    let each: Vec<String> = inv.refused.iter().map(ToString::to_string).collect();
    Some(format!(
        "refused to remove {} path(s) that are not what init or join made: {}",
        inv.refused.len(),
        each.join("; ")
    ))
}

fn list(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// kubeadm's reset `preflight`: finds what is on the node (reads only).
pub struct ResetPreflight;

#[async_trait]
impl Step<ResetContext> for ResetPreflight {
    fn name(&self) -> &'static str {
        "preflight"
    }

    fn help(&self) -> &'static str {
        "Find what init and join left on this node and what reset would refuse to remove (reads only)."
    }

    fn inputs(&self, _ctx: &ResetContext, _fp: &mut Fingerprint<'_>) {}

    /// The node is looked at again on every run: reset keeps no journal.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ResetContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        ctx.survey(fx);
        Ok(())
    }
}

/// kubeadm's `remove-etcd-member`: while the local etcd still runs, takes this node's
/// member out of a multi-member cluster, so the others do not keep a member that never
/// answers again. Failing to reach etcd is a warning, as in kubeadm: a node whose etcd is
/// already gone must still be resettable; the warning says what to do by hand.
pub struct RemoveEtcdMember;

#[async_trait]
impl Step<ResetContext> for RemoveEtcdMember {
    fn name(&self) -> &'static str {
        "remove-etcd-member"
    }

    fn help(&self) -> &'static str {
        "Remove this node's member from a multi-member local etcd cluster."
    }

    fn applicability(&self, ctx: &ResetContext) -> Applicability {
        ctx.applies_with_manifest("etcd.yaml", "no local etcd manifest on this node")
    }

    fn inputs(&self, _ctx: &ResetContext, _fp: &mut Fingerprint<'_>) {}

    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ResetContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let Some(etcd) = &ctx.survey(fx).inventory.etcd else {
            let said = "the etcd manifest does not say where etcd listens: no member to remove";
            fx.warn(said);
            fx.set_result_field("etcd_member", json!(said));
            return Ok(());
        };
        if fx.is_dry_run() {
            fx.set_result_field(
                "etcd_member",
                json!(format!(
                    "would remove member {:?} from the etcd cluster at {} if other members remain",
                    etcd.member.name, etcd.client_url
                )),
            );
            return Ok(());
        }
        let outcome = EtcdCluster::connect(
            &HostFs::real(),
            vec![etcd.client_url.clone()],
            &etcd.credentials,
            ETCD_CALL_TIMEOUT,
        )
        .and_then(|client| {
            fx.progress(format!("asking {} for the member list", etcd.client_url));
            remove_this_member(&client, &etcd.member, ETCD_PATIENCE)
        });
        let said = match outcome {
            Ok(MemberOutcome::Removed { id, remaining }) => format!(
                "removed member {:?} (ID {id:x}) from the etcd cluster; {remaining} member(s) remain",
                etcd.member.name
            ),
            Ok(MemberOutcome::OnlyMember) => {
                "this node is the etcd cluster's only member: no member to remove".to_string()
            }
            Ok(MemberOutcome::NotAMember { members }) => format!(
                "the etcd cluster ({members} member(s)) does not list this node: nothing to remove"
            ),
            Err(e) => {
                let msg = format!(
                    "could not remove this node's etcd member: {e}; if the cluster has other members, remove it with `etcdctl member remove` on one of them"
                );
                fx.warn(&msg);
                msg
            }
        };
        fx.progress(&said);
        fx.set_result_field("etcd_member", json!(said));
        Ok(())
    }
}

/// kubeadm's `cleanup-node`: removes the static-pod manifests first, so the kubelet stops the
/// pods; waits until their ports close; stops the kubelet (root `/` only); then removes the
/// rest, journals last, so an interrupted reset can be run again and finds what is left. A
/// file that cannot be removed, or a refused path, fails the phase after everything else was
/// done: the node is as clean as reset may make it, and the error names what is not.
pub struct CleanupNode;

#[async_trait]
impl Step<ResetContext> for CleanupNode {
    fn name(&self) -> &'static str {
        "cleanup-node"
    }

    fn help(&self) -> &'static str {
        "Remove the static-pod manifests, stop the kubelet (root /, or the node's service hook), stop and remove the runtime's pods, unmount what the kubelet mounted, then remove the kubeconfigs, kubelet files, certificates, etcd's member/ and the journals."
    }

    fn inputs(&self, _ctx: &ResetContext, _fp: &mut Fingerprint<'_>) {}

    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ResetContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let inv = &ctx.survey(fx).inventory;
        let mut done = remove_manifests(inv, fx);
        if !inv.listeners.is_empty() && !fx.is_dry_run() {
            fx.progress("static-pod manifests removed; waiting for the kubelet to stop the pods");
            let still = wait_until_stopped(&inv.listeners, ctx.pod_stop_timeout, |up| {
                fx.progress(format!("still listening: {}", list(up)));
            });
            if !still.is_empty() {
                fx.warn(format!(
                    "the static pods still listen on {} after {:?}: is the kubelet running? Their files are removed anyway",
                    list(&still),
                    ctx.pod_stop_timeout
                ));
            }
        }
        ctx.kubelet.stop(&ctx.root, fx).await;
        remove_pods(runtime_socket(&ctx.root, ctx.cri_socket.as_ref()), fx).await;
        unmount_kubelet_dir(&ctx.root, fx);
        done.extend(remove_the_rest(inv, fx));
        let verb = if fx.is_dry_run() {
            "would remove"
        } else {
            "removed"
        };
        for t in &done.removed {
            let what = if t.kind.is_dir() { " (directory)" } else { "" };
            fx.progress(format!("{verb} {}{what}", t.path.display()));
        }
        let failed: Vec<serde_json::Value> = done
            .failed
            .iter()
            .map(|e| json!({ "path": e.path, "error": e.source.to_string() }))
            .collect();
        fx.set_result_field("failed", serde_json::Value::Array(failed));
        let failed = (!done.failed.is_empty()).then(|| {
            let errors: Vec<String> = done.failed.iter().map(ToString::to_string).collect();
            format!("cannot remove: {}", errors.join("; "))
        });
        match (failed, refusal(inv)) {
            (None, None) => Ok(()),
            (Some(failed), None) => Err(PhaseError::with_hint(failed, AGAIN_HINT)),
            (None, Some(refused)) => Err(PhaseError::with_hint(refused, REFUSAL_HINT)),
            (Some(failed), Some(refused)) => Err(PhaseError::with_hint(
                format!("{failed}; {refused}"),
                REFUSAL_HINT,
            )),
        }
    }
}

/// `verify`: looks again and fails naming anything init or join made that is still there —
/// what cleanup-node could not remove, and anything new since the survey (a pod that wrote
/// on its way out). Under `--dry-run` nothing was removed, so there is nothing to check.
pub struct Verify;

#[async_trait]
impl Step<ResetContext> for Verify {
    fn name(&self) -> &'static str {
        "verify"
    }

    fn help(&self) -> &'static str {
        "Look again and fail naming anything init or join made that is still on this node."
    }

    fn inputs(&self, _ctx: &ResetContext, _fp: &mut Fingerprint<'_>) {}

    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ResetContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let survey = ctx.survey(fx);
        if fx.is_dry_run() {
            fx.progress("dry run: nothing was removed, so nothing is checked");
            return Ok(());
        }
        let mut left = leftovers(&survey.inventory);
        for t in inventory(&ctx.root, &survey.options).targets {
            if !left.contains(&t.path) {
                left.push(t.path);
            }
        }
        fx.set_result_field("left", json!(left));
        if left.is_empty() {
            fx.progress("nothing kubestrap wrote is left on this node");
            Ok(())
        } else {
            let names: Vec<String> = left.iter().map(|p| p.display().to_string()).collect();
            Err(PhaseError::with_hint(
                format!("still there after reset: {}", names.join(", ")),
                AGAIN_HINT,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::contract::effects::Reporter;

    /// Every progress line and warning, by phase.
    #[derive(Default)]
    struct Said(Mutex<Vec<(String, String)>>);

    impl Reporter for Said {
        fn warning(&self, phase: &str, message: &str) {
            self.progress(phase, message);
        }
        fn progress(&self, phase: &str, message: &str) {
            let mut said = self.0.lock().unwrap();
            said.push((phase.to_string(), message.to_string()));
        }
    }

    /// The first phase takes the inventory and reports it; later phases use the same one
    /// (verify adds only what is new). A dry-run cleanup lists its removals and removes nothing.
    #[tokio::test]
    async fn the_inventory_is_taken_once_and_a_dry_run_cleanup_only_lists() {
        let dir = tempfile::tempdir().unwrap();
        let root = NodeRoot::new(dir.path()).unwrap();
        let kubelet_conf = root.resolve("/etc/kubernetes/kubelet.conf");
        let ca_key = root.resolve("/etc/kubernetes/pki/ca.key");
        for f in [&kubelet_conf, &ca_key] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "x").unwrap();
        }
        let ctx = ResetContext::new(root.clone(), None, None, KubeletService::default());
        let said = Said::default();

        let stage = tempfile::tempdir().unwrap();
        let staged = HostFs::staged(stage.path());
        let mut fx = Effects::new("cleanup-node", &staged, &said);
        CleanupNode.run(&ctx, &mut fx).await.unwrap();
        assert!(
            kubelet_conf.exists() && ca_key.exists(),
            "a dry run removes nothing"
        );
        let listed: Vec<(PathBuf, String)> = fx
            .take_removed()
            .into_iter()
            .map(|r| (r.path, r.kind))
            .collect();
        assert_eq!(
            listed,
            [
                (kubelet_conf.clone(), "kubeconfig".to_string()),
                (ca_key.clone(), "certificate".to_string())
            ]
        );
        assert_eq!(fx.take_result_fields()["failed"], json!([]));

        // A file made after the survey: verify's second look finds it, with what is left.
        let scheduler_conf = root.resolve("/etc/kubernetes/scheduler.conf");
        std::fs::write(&scheduler_conf, "x").unwrap();
        let fs = HostFs::real();
        let mut fx = Effects::new("verify", &fs, &said);
        let err = Verify.run(&ctx, &mut fx).await.unwrap_err().to_string();
        for f in [&kubelet_conf, &ca_key, &scheduler_conf] {
            assert!(err.contains(f.to_str().unwrap()), "{f:?}: {err}");
        }
        let said = said.0.into_inner().unwrap();
        let surveys: Vec<&str> = said
            .iter()
            .filter(|(_, m)| m.starts_with("certificates dir "))
            .map(|(phase, _)| phase.as_str())
            .collect();
        assert_eq!(surveys, ["cleanup-node"], "taken once, by the first phase");
    }
}
