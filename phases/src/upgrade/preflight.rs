//! `preflight` of an upgrade: refuse, before anything changes, a version move the policy
//! forbids ([`super::policy`]) and a cluster that is not healthy — kubeadm's
//! `enforceRequirements` (cmd/upgrade/common.go) runs its `CheckClusterHealth` (control-plane
//! Nodes Ready, static-pod manifests present) and `EnforceVersionPolicies` the same way.

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{PhaseError, Step};
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
            let client = ctx.client(fx.fs()).await?;
            for component in Component::ALL {
                if component == Component::Etcd
                    && crate::domain::etcd::local_etcd_only(ctx.target.static_pods())
                        != crate::contract::step::Applicability::Applies
                {
                    continue;
                }
                let pod = component.pod_name();
                let name = mirror_pod_name(pod, &ctx.node.name);
                match mirror(&client, pod, &ctx.node.name).await {
                    Ok(Some(m)) if m.ready => {}
                    Ok(Some(m)) => failures.push(format!(
                        "static pod kube-system/{name} is not Ready ({}) [unhealthy-cluster]",
                        m.state
                    )),
                    Ok(None) => failures.push(format!(
                        "the kubelet reports no static pod kube-system/{name} [unhealthy-cluster]"
                    )),
                    Err(e) => failures.push(format!("cannot read kube-system/{name}: {e}")),
                }
            }
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
                format!("[upgrade/preflight] {}", failures.join("; ")),
                "nothing was changed; fix the cluster, or pick a version the policy allows (`kubestrap upgrade plan` lists them)",
            ))
        }
    }
}
