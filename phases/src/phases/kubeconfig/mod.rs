//! The `kubeconfig/*` phases: admin.conf, super-admin.conf, kubelet.conf,
//! controller-manager.conf and scheduler.conf, each signed by the cluster CA. What a file must
//! hold, and whether an existing one is kept, is decided by [`crate::domain::pki::kubeconfig`].

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::pki::external::{PkiFile, check_external_cas};
use crate::domain::pki::kubeconfig::{KubeconfigName, ensure_kubeconfig};
use crate::domain::pki::{CertName, PkiContext};

/// One `kubeconfig/<name>` phase.
pub struct KubeconfigPhase(pub KubeconfigName);

/// The `kubeconfig` group in kubeadm's order.
pub fn phases<C: PkiContext + 'static>() -> Vec<Box<dyn Step<C>>> {
    KubeconfigName::ALL
        .into_iter()
        .map(|k| Box::new(KubeconfigPhase(k)) as Box<dyn Step<C>>)
        .collect()
}

#[async_trait]
impl<C: PkiContext> Step<C> for KubeconfigPhase {
    fn name(&self) -> &'static str {
        self.0.as_str()
    }

    fn help(&self) -> &'static str {
        self.0.help()
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        if self.0.applies_to(ctx.pki()) {
            Applicability::Applies
        } else {
            Applicability::NotApplicable(format!(
                "kubeadm makes {} from v1.29 (kubernetes#121305); admin.conf is in system:masters before",
                self.0.file_name()
            ))
        }
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.pki();
        fp.value("profile", &self.0.client_profile(spec))
            .value("server", &self.0.server(spec))
            .value("cluster_name", &spec.cluster_name)
            .value("key_algorithm", &spec.key_algorithm)
            .value("validity", &spec.cert_validity)
            .file(&CertName::Ca.cert_path(spec))
            .file(&CertName::Ca.key_path(spec));
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let (spec, session) = (ctx.pki(), ctx.pki_session());
        check_external_cas(spec, session, fx, Some(PkiFile::Kubeconfig(self.0)))?;
        ensure_kubeconfig(spec, session, fx, self.0)?;
        Ok(())
    }
}
