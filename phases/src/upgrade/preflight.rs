//! `preflight` of an upgrade: refuse, before anything changes, a version move the policy
//! forbids ([`super::policy`]) and a cluster that is not healthy — kubeadm's
//! `enforceRequirements` (cmd/upgrade/common.go) runs its `CheckClusterHealth` (control-plane
//! Nodes Ready, static-pod manifests present) and `EnforceVersionPolicies` the same way;
//! kubestrap also wants this node's static pods Ready (waiting a minute for one that is
//! coming back), since it restarts them.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::static_pod::StaticPodContext;
use crate::domain::static_pod::mirror::{mirror, mirror_pod_name};

use super::context::{UpgradeContext, UpgradeMode};
use super::policy;
use super::static_pods::Component;

pub struct UpgradePreflight;

#[async_trait]
impl Step<UpgradeContext> for UpgradePreflight {
    fn name(&self) -> &'static str {
        "preflight"
    }

    fn help(&self) -> &'static str {
        "Check the version move against kubeadm's skew policy and that the cluster is healthy: control-plane Nodes Ready, this node's static pods running; changes nothing."
    }

    fn inputs(&self, _ctx: &UpgradeContext, _fp: &mut Fingerprint<'_>) {}

    /// The cluster's health is a live state: checked on every run.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &UpgradeContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let mut failures = Vec::new();
        if ctx.mode == UpgradeMode::Apply {
            for v in policy::check(
                ctx.current_version(),
                ctx.target_version(),
                &ctx.current.kubelets,
            ) {
                if v.skippable && ctx.force {
                    fx.warn(format!("{} (going on: --force)", v.message));
                } else if v.skippable {
                    failures.push(format!("{} [{}; --force goes on anyway]", v.message, v.id));
                } else {
                    failures.push(format!("{} [{}]", v.message, v.id));
                }
            }
        }
        for node in &ctx.current.unready_control_planes {
            failures.push(format!(
                "control-plane Node {node} is not Ready [unhealthy-cluster]"
            ));
        }
        if ctx.is_control_plane() && !fx.is_dry_run() {
            failures.extend(static_pods_healthy(ctx, fx).await?);
        }
        if failures.is_empty() {
            fx.progress(format!(
                "{} → {}: allowed; the cluster is healthy",
                ctx.current_version(),
                ctx.target_version()
            ));
            Ok(())
        } else {
            Err(PhaseError::with_hint(
                failures.join("; "),
                "nothing was changed; fix the cluster, or pick a version the policy allows (`kubestrap upgrade plan` lists them)",
            ))
        }
    }
}

/// How long preflight waits for this node's static pods to be Ready: a component restarted
/// moments ago (by a run that was stopped, or by a restart of the API server it depends on)
/// is given the time to come back before the cluster is called unhealthy.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// This node's static pods: each manifest on disk, its mirror pod Ready. A component whose
/// upgrade an interrupted run left in flight (its `.pending` marker) is the resume's to wait
/// for, and is not judged here. Returns the failures.
async fn static_pods_healthy(
    ctx: &UpgradeContext,
    fx: &mut Effects<'_>,
) -> Result<Vec<String>, PhaseError> {
    let client = ctx.client(fx.fs()).await?;
    let spec = ctx.target.static_pods();
    let mut waiting: Vec<Component> = Vec::new();
    let mut failures = Vec::new();
    for component in Component::ALL {
        let pod = component.pod_name();
        let local_etcd = crate::domain::etcd::local_etcd_only(spec) == Applicability::Applies;
        if component == Component::Etcd && !local_etcd {
            continue;
        }
        if fx
            .fs()
            .exists(&ctx.upgrade_dir().join(format!("{pod}.pending")))
        {
            fx.progress(format!(
                "{pod}: an interrupted upgrade is in flight; resuming it"
            ));
            continue;
        }
        if !fx.fs().exists(&spec.manifest_path(pod)) {
            failures.push(format!(
                "the static pod manifest {} is missing [unhealthy-cluster]",
                spec.manifest_path(pod).display()
            ));
            continue;
        }
        waiting.push(component);
    }
    let deadline = Instant::now() + READY_WITHIN;
    let mut last = Vec::new();
    while !waiting.is_empty() {
        last.clear();
        let mut still = Vec::new();
        for component in waiting {
            let pod = component.pod_name();
            let name = mirror_pod_name(pod, &ctx.node.name);
            match mirror(&client, pod, &ctx.node.name).await {
                Ok(Some(m)) if m.ready => continue,
                Ok(Some(m)) => last.push(format!(
                    "static pod kube-system/{name} is not Ready ({}) [unhealthy-cluster]",
                    m.state
                )),
                Ok(None) => last.push(format!(
                    "the kubelet reports no static pod kube-system/{name} [unhealthy-cluster]"
                )),
                Err(e) => last.push(format!(
                    "cannot read kube-system/{name}: {e} [unhealthy-cluster]"
                )),
            }
            still.push(component);
        }
        waiting = still;
        if waiting.is_empty() || Instant::now() >= deadline {
            break;
        }
        fx.progress(format!(
            "waiting for this node's static pods: {}",
            last.join("; ")
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    failures.extend(last);
    Ok(failures)
}
