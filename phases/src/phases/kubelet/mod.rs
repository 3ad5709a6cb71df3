//! The kubelet phases: `kubelet-start` of init (this module) and of join ([`join`]), and
//! `kubelet-finalize` ([`finalize`]). What the files hold is [`crate::domain::kubelet`].

pub mod finalize;
pub mod join;

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::Mode;
use crate::contract::step::{PhaseError, Step};
use crate::domain::kubelet::{KubeletContext, KubeletService};

/// The `kubelet-start` phase.
#[derive(Default)]
pub struct KubeletStart {
    pub kubelet: KubeletService,
}

#[async_trait]
impl<C: KubeletContext> Step<C> for KubeletStart {
    fn name(&self) -> &'static str {
        "kubelet-start"
    }

    fn help(&self) -> &'static str {
        "Write /var/lib/kubelet/config.yaml and kubeadm-flags.env, then restart the kubelet (systemd, root / only)."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.kubelet();
        fp.value("kubelet", spec)
            .value("root_is_system", &spec.root.is_system());
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.kubelet();
        let config = serde_saphyr::to_string(&spec.config()).map_err(|e| {
            PhaseError::failed(format!("cannot render the kubelet configuration: {e}"))
        })?;
        if let Some(instance) = spec.instance_config() {
            let instance = serde_saphyr::to_string(&instance).map_err(|e| {
                PhaseError::failed(format!(
                    "cannot render the kubelet's instance-config.yaml: {e}"
                ))
            })?;
            fx.write_file(
                &spec.instance_config_path(),
                instance.as_bytes(),
                Mode::PUBLIC,
            )?;
        }
        fx.write_file(&spec.config_path(), config.as_bytes(), Mode::PUBLIC)?;
        fx.write_file(
            &spec.flags_path(),
            spec.flags_env().as_bytes(),
            Mode::PUBLIC,
        )?;
        self.kubelet.restart(&spec.root, fx).await
    }
}
