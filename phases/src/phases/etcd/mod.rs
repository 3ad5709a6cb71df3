//! `etcd/local`: this node's etcd member, from its data directory and static-pod manifest
//! (rendered by [`crate::domain::etcd`], which documents kubeadm's flags per version).

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::etcd::{COMPONENT, create_data_dir, local_etcd_only, render};
use crate::domain::static_pod::{StaticPodContext, fingerprint_common, write_manifest};

/// The `etcd/local` phase.
pub struct EtcdLocal;

#[async_trait]
impl<C: StaticPodContext> Step<C> for EtcdLocal {
    fn name(&self) -> &'static str {
        "local"
    }

    fn help(&self) -> &'static str {
        "Create etcd's data directory (etcd.local.dataDir, 0700) and write \
         /etc/kubernetes/manifests/etcd.yaml, the static pod of the local etcd member."
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        local_etcd_only(ctx.static_pods())
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fingerprint_common(ctx.static_pods(), fp);
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.static_pods();
        match render(spec)? {
            Some(pod) => {
                create_data_dir(fx, spec)?;
                write_manifest(fx, spec, COMPONENT, &pod)
            }
            None => Ok(()),
        }
    }
}
