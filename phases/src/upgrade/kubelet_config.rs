//! `kubelet-config`: this node's `/var/lib/kubelet/config.yaml` from the cluster's kubelet
//! configuration at the target version (kubeadm's `upgrade node` phase `kubelet-config` and
//! the same step of `upgrade apply`: `kubeletphase.WriteConfigToDisk`), with this node's own
//! paths, and from v1.34 its instance configuration. The kubelet reads it when it restarts,
//! which is the operator's step after upgrading its package (kubeadm prints the same advice);
//! kubestrap does not restart it, so that a kubelet binary still of the old version is not
//! restarted into a configuration of the new one.

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::Mode;
use crate::contract::step::{PhaseError, Step};
use crate::domain::kubelet::KubeletContext;

use super::context::UpgradeContext;
use super::diff::unified_diff;

pub struct KubeletConfig;

#[async_trait]
impl Step<UpgradeContext> for KubeletConfig {
    fn name(&self) -> &'static str {
        "kubelet-config"
    }

    fn help(&self) -> &'static str {
        "Write /var/lib/kubelet/config.yaml from the cluster's kubelet configuration at the target version (restart the kubelet to apply it)."
    }

    fn inputs(&self, ctx: &UpgradeContext, fp: &mut Fingerprint<'_>) {
        fp.value("kubelet", ctx.target.kubelet());
    }

    async fn run(&self, ctx: &UpgradeContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.target.kubelet();
        let render = |what: &str, v: &serde_json::Value| {
            serde_saphyr::to_string(v)
                .map_err(|e| PhaseError::failed(format!("cannot render the kubelet's {what}: {e}")))
        };
        if let Some(instance) = spec.instance_config() {
            let text = render("instance-config.yaml", &instance)?;
            fx.write_file(&spec.instance_config_path(), text.as_bytes(), Mode::PUBLIC)?;
        }
        let config = render("config.yaml", &spec.config())?;
        let before = fx.fs().read_if_exists(&spec.config_path())?;
        if fx.is_dry_run() {
            let before = String::from_utf8_lossy(before.as_deref().unwrap_or_default());
            fx.progress(unified_diff(&spec.config_path(), &before, &config));
        }
        fx.write_file(&spec.config_path(), config.as_bytes(), Mode::PUBLIC)?;
        if before.as_deref() != Some(config.as_bytes()) {
            fx.progress(format!(
                "{} changed: restart the kubelet to apply it (`systemctl restart kubelet`)",
                spec.config_path().display()
            ));
        }
        Ok(())
    }
}
