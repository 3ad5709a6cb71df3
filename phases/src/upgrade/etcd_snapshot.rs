//! `etcd-snapshot`: before an upgrade changes the local etcd member's manifest, a snapshot of
//! the keyspace, so that a failed etcd upgrade can be undone with `etcdutl snapshot restore`.
//!
//! kubeadm copies etcd's data directory while etcd runs (`util.CopyDir` into
//! `kubeadm-backup-etcd-<time>`, staticpods.go), which can catch the database mid-write
//! (kubernetes/kubernetes#65580). kubestrap asks etcd itself for a snapshot (the Maintenance
//! API, as `etcdctl snapshot save`), checks it against the SHA-256 etcd appends, and keeps it
//! 0600 next to the manifest backups. Nothing is taken when the etcd manifest does not change.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::Mode;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::etcd::{self, EtcdClientTls, EtcdCluster};
use crate::domain::pki::PkiContext;
use crate::domain::static_pod::StaticPodContext;

use super::context::UpgradeContext;
use super::static_pods::{Component, render};

/// How long taking the snapshot may take.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

pub struct EtcdSnapshot;

#[async_trait]
impl Step<UpgradeContext> for EtcdSnapshot {
    fn name(&self) -> &'static str {
        "etcd-snapshot"
    }

    fn help(&self) -> &'static str {
        "Before the local etcd member's manifest changes, save a snapshot of etcd (checked, 0600) under /etc/kubernetes/tmp/kubestrap-upgrade/."
    }

    fn applicability(&self, ctx: &UpgradeContext) -> Applicability {
        if !ctx.is_control_plane() {
            return Applicability::NotApplicable("a worker runs no etcd".into());
        }
        if !ctx.etcd_upgrade {
            return Applicability::NotApplicable("--etcd-upgrade=false".into());
        }
        etcd::local_etcd_only(ctx.target.static_pods())
    }

    fn inputs(&self, _ctx: &UpgradeContext, _fp: &mut Fingerprint<'_>) {}

    /// Whether a snapshot is due depends on the manifest on disk: decided on every run.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &UpgradeContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let fs = fx.fs().clone();
        let spec = ctx.target.static_pods();
        let manifest = spec.manifest_path(etcd::COMPONENT);
        let current = fs.read_if_exists(&manifest)?;
        let current_pod = crate::doctor::facts::read_pod(&fs.target(&manifest));
        let wanted = render(ctx, Component::Etcd, current_pod.as_ref(), &fs)?;
        if current.as_deref() == wanted.as_deref().map(str::as_bytes) {
            fx.progress("etcd's manifest does not change: no snapshot needed");
            return Ok(());
        }
        if fx.is_dry_run() {
            fx.progress("would save a snapshot of etcd before changing its manifest");
            return Ok(());
        }
        let endpoint = etcd::advertise_client_url(spec);
        let tls = EtcdClientTls::apiserver_etcd_client(&ctx.target.pki().cert_dir);
        let cluster = EtcdCluster::connect(&fs, vec![endpoint], &tls, SNAPSHOT_TIMEOUT)
            .map_err(|e| PhaseError::from_diagnostic(&e))?;
        let data = tokio::task::spawn_blocking(move || cluster.snapshot())
            .await
            .map_err(|e| PhaseError::failed(format!("the snapshot task failed: {e}")))?
            .map_err(|e| PhaseError::from_diagnostic(&e))?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let path = ctx.upgrade_dir().join(format!("etcd-snapshot-{stamp}.db"));
        fx.write_file(&path, &data, Mode::PRIVATE)?;
        fx.progress(format!(
            "etcd snapshot saved: {} ({} bytes; restore with `etcdutl snapshot restore`)",
            path.display(),
            data.len()
        ));
        Ok(())
    }
}
