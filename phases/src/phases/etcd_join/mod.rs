//! `control-plane-join/etcd` (kubeadm's `EtcdJoin`): adds this node's member to the existing
//! etcd cluster and writes its manifest with `--initial-cluster-state=existing`.
//!
//! Adding a voting member to a one-member cluster raises the quorum to two: until the new
//! member starts, the cluster (and every API server on it) cannot write. kubeadm therefore
//! writes the manifest right after `MemberAdd`, and so does [`EtcdJoin`]; it then waits for the
//! member to start. From v1.29 (kubeadm's `EtcdLearnerMode`, beta and on by default; alpha
//! from v1.27) the member is added as a non-voting learner instead, which leaves the quorum
//! alone, and promoted once it has caught up with the leader. The client is
//! [`crate::domain::etcd`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::etcd::{
    COMPONENT, EtcdClientTls, EtcdCluster, EtcdError, Member, create_data_dir, etcd_pods,
    find_member, initial_cluster, local_etcd_only, peer_url, render_member,
};
use crate::domain::static_pod::{StaticPodContext, fingerprint_common, write_manifest};

/// What `etcd-join` needs besides the node's static-pod spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdJoinSpec {
    /// Client URLs to try when the etcd pods name none (`https://<control plane>:2379`).
    pub endpoints: Vec<String>,
    /// This node's admin.conf (written by `control-plane-prepare/kubeconfig`): the etcd
    /// pods' advertised client URLs are read with it first, as kubeadm does. `None` to use
    /// `endpoints` only.
    pub admin_kubeconfig: Option<PathBuf>,
    pub client: EtcdClientTls,
    /// Bound for each call.
    pub call_timeout: Duration,
    /// How long the new member may take to start (and, as a learner, to be promoted) after
    /// its manifest is written.
    pub wait: Duration,
    /// Add the member as a learner and promote it once in sync (kubeadm's EtcdLearnerMode):
    /// see [`learner_mode`].
    pub learner: bool,
}

/// Whether a join adds its etcd member as a learner: kubeadm's `EtcdLearnerMode` feature gate
/// when set, else its default (on from v1.29, when the gate went beta).
pub fn learner_mode(feature_gates: &std::collections::BTreeMap<String, bool>, minor: u64) -> bool {
    feature_gates
        .get("EtcdLearnerMode")
        .copied()
        .unwrap_or(minor >= 29)
}

/// How long etcd-join waits for the etcd mirror pods of a cluster whose kubelets report: a
/// control-plane join right after init comes before the kubelet has posted them (its Node
/// registers first, the mirror pods follow at its next sync).
pub const MIRROR_PODS_WAIT: Duration = Duration::from_secs(120);

/// The client URLs the etcd pods advertise (kubeadm ≥ 1.22 reads them there). When there are
/// none yet but a real kubelet reports, waits for its mirror pods, saying so; else (or on
/// error, or in a dry run) goes on with the seed endpoints.
async fn pod_endpoints(admin: &Path, spec: &EtcdJoinSpec, fx: &mut Effects<'_>) -> Vec<String> {
    let limit = spec.call_timeout.min(Duration::from_secs(15));
    let start = Instant::now();
    let mut said = start;
    loop {
        match etcd_pods(fx.fs(), admin, limit).await {
            Ok(pods) if !pods.urls.is_empty() => {
                fx.progress(format!(
                    "etcd client URLs from the etcd pods: {}",
                    pods.urls.join(", ")
                ));
                return pods.urls;
            }
            Ok(pods) if pods.kubelets_report && !fx.is_dry_run() => {
                if start.elapsed() >= MIRROR_PODS_WAIT {
                    fx.warn(format!(
                        "no etcd pod (component=etcd) appeared within {MIRROR_PODS_WAIT:?}; trying {}",
                        spec.endpoints.join(", ")
                    ));
                    return Vec::new();
                }
                if said == start || said.elapsed() >= Duration::from_secs(10) {
                    said = Instant::now();
                    fx.progress(format!(
                        "waiting for the etcd mirror pods (component=etcd): the kubelets post them after their Nodes register ({:?} so far)",
                        start.elapsed()
                    ));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(_) => return Vec::new(),
            Err(e) => {
                fx.warn(format!(
                    "cannot list the etcd pods with {} ({e}); trying {}",
                    admin.display(),
                    spec.endpoints.join(", ")
                ));
                return Vec::new();
            }
        }
    }
}

/// The contract between `etcd-join` and the join context.
pub trait EtcdJoinContext: StaticPodContext {
    fn etcd_join_spec(&self) -> EtcdJoinSpec;
}

/// `etcd-join`: `MemberAdd` (unless already a member) and this node's etcd manifest.
pub struct EtcdJoin;

#[async_trait]
impl<C: EtcdJoinContext> Step<C> for EtcdJoin {
    fn name(&self) -> &'static str {
        "etcd-join"
    }

    fn help(&self) -> &'static str {
        "Add this node's member to the cluster's etcd and write /etc/kubernetes/manifests/etcd.yaml to join it."
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        local_etcd_only(ctx.static_pods())
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fingerprint_common(ctx.static_pods(), fp);
        let spec = ctx.etcd_join_spec();
        fp.value("endpoints", &spec.endpoints);
        fp.value("client", &spec.client);
    }

    /// Membership lives in etcd, not in a file: check it on every run.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let pods = ctx.static_pods();
        let spec = ctx.etcd_join_spec();
        let own = peer_url(pods);
        let dry_run = fx.is_dry_run();
        let learner = spec.learner;
        let mut endpoints = match &spec.admin_kubeconfig {
            Some(admin) => pod_endpoints(admin, &spec, fx).await,
            None => Vec::new(),
        };
        for seed in &spec.endpoints {
            if !endpoints.contains(seed) {
                endpoints.push(seed.clone());
            }
        }
        let cluster = {
            let (fs, client) = (fx.fs().clone(), spec.client.clone());
            blocking(move || EtcdCluster::connect(&fs, endpoints, &client, spec.call_timeout))
                .await?
        };
        let cluster = Arc::new(cluster);
        let (members, added) = {
            let (c, own) = (cluster.clone(), own.clone());
            blocking(move || {
                if dry_run {
                    // Read only: show the manifest the join would write.
                    let mut members = c.members()?;
                    let added = find_member(&members, &own).is_none();
                    if added {
                        members.push(Member {
                            id: 0,
                            name: String::new(),
                            peer_urls: vec![own.clone()],
                            client_urls: Vec::new(),
                            is_learner: learner,
                        });
                    }
                    Ok((members, added))
                } else {
                    c.ensure_member(&own, learner)
                }
            })
            .await?
        };
        let kind = if learner { "learner" } else { "member" };
        fx.progress(match (added, dry_run) {
            (true, true) => format!("would add etcd {kind} {own}"),
            (true, false) => format!("added etcd {kind} {own}"),
            (false, _) => format!("etcd member {own} already exists"),
        });
        let initial = initial_cluster(&members, &pods.node_name, &own);
        if let Some(pod) = render_member(pods, &initial)? {
            // As on init's etcd/local: etcd's data directory is private (0700), made before the
            // kubelet would make it with its own mode.
            create_data_dir(fx, pods)?;
            write_manifest(fx, pods, COMPONENT, &pod)?;
        }
        if dry_run {
            return Ok(());
        }
        let interval = Duration::from_millis(500);
        let limit = spec.wait;
        let promoted = {
            let (c, own) = (cluster.clone(), own.clone());
            blocking(move || {
                // A learner (this run's, or an earlier run's) is promoted once in sync;
                // a voting member is only waited for.
                let promoted = c.promote_when_ready(&own, limit, interval)?;
                c.wait_started(&own, limit, interval)?;
                Ok(promoted)
            })
            .await?
        };
        if promoted {
            fx.progress(format!("promoted etcd learner {own} to a voting member"));
        }
        Ok(())
    }
}

/// Runs blocking etcd calls off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EtcdError> + Send + 'static,
) -> Result<T, PhaseError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PhaseError::failed(format!("etcd call panicked or was cancelled: {e}")))?
        .map_err(PhaseError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learner_mode_follows_kubeadm_gate_and_default() {
        let none = std::collections::BTreeMap::new();
        assert!(!learner_mode(&none, 20));
        assert!(!learner_mode(&none, 28));
        assert!(learner_mode(&none, 29));
        let on = std::collections::BTreeMap::from([("EtcdLearnerMode".to_string(), true)]);
        let off = std::collections::BTreeMap::from([("EtcdLearnerMode".to_string(), false)]);
        assert!(learner_mode(&on, 27));
        assert!(!learner_mode(&off, 30));
    }
}
