//! `kubestrap join`: kubeadm's join phases, in kubeadm's order.

use std::process::ExitCode;

use kubestrap_phases::config::{self, JoinFlags};
use kubestrap_phases::domain::pki::kubeconfig::KubeconfigName;
use kubestrap_phases::phases::control_plane_join::HasControlPlaneJoin;
use kubestrap_phases::phases::control_plane_join::{
    ControlPlaneJoinContext, JOIN_KUBECONFIGS, OnControlPlane,
};
use kubestrap_phases::phases::download_certs::DownloadCerts;
use kubestrap_phases::phases::etcd_join::EtcdJoin;
use kubestrap_phases::phases::kubeconfig::KubeconfigPhase;
use kubestrap_phases::phases::kubelet::join::{KubeletStartJoin, KubeletWaitBootstrap};
use kubestrap_phases::phases::mark_control_plane::MarkControlPlane;
use kubestrap_phases::phases::preflight::Preflight;
use kubestrap_phases::phases::wait_control_plane::WaitControlPlane;
use kubestrap_phases::{
    Applicability, Effects, Fingerprint, HostFs, JoinContext, PhaseError, Step, async_trait,
    phases::certs, phases::control_plane,
};

use crate::cli::{GlobalArgs, JoinArgs, SecretArg};
use crate::engine::{Node, PhaseTree};
use crate::output::EventSink;

/// A phase written for the control-plane part of a join, as a node of the join tree.
fn on_control_plane(step: Box<dyn Step<ControlPlaneJoinContext>>) -> Node<JoinContext> {
    Node::Leaf(Box::new(OnControlPlane(step)))
}

fn on_control_plane_all(
    steps: Vec<Box<dyn Step<ControlPlaneJoinContext>>>,
) -> Vec<Node<JoinContext>> {
    steps.into_iter().map(on_control_plane).collect()
}

/// The join's last phases (mark-control-plane, wait-control-plane; both run on every run),
/// which also record for the summary what kind of node joined: a control plane's result
/// carries `admin_kubeconfig`, this node's admin.conf (kubeadm's closing message tells the
/// user to copy it).
struct Joined(OnControlPlane);

#[async_trait]
impl Step<JoinContext> for Joined {
    fn name(&self) -> &'static str {
        Step::<JoinContext>::name(&self.0)
    }

    fn help(&self) -> &'static str {
        Step::<JoinContext>::help(&self.0)
    }

    fn applicability(&self, ctx: &JoinContext) -> Applicability {
        self.0.applicability(ctx)
    }

    async fn resolve_inputs(
        &self,
        ctx: &JoinContext,
        fx: &mut Effects<'_>,
    ) -> Result<(), PhaseError> {
        self.0.resolve_inputs(ctx, fx).await
    }

    fn inputs(&self, ctx: &JoinContext, fp: &mut Fingerprint<'_>) {
        self.0.inputs(ctx, fp)
    }

    fn always_run(&self) -> bool {
        Step::<JoinContext>::always_run(&self.0)
    }

    async fn run(&self, ctx: &JoinContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        self.0.run(ctx, fx).await?;
        if let Some(cp) = ctx.control_plane_join_fetched() {
            let admin = KubeconfigName::Admin.path(&cp.plane.pki);
            fx.set_result_field(
                "admin_kubeconfig",
                serde_json::Value::from(admin.display().to_string()),
            );
        }
        Ok(())
    }
}

/// kubeadm's join phase tree. The control-plane phases are init's own, run with the
/// cluster's configuration (read after discovery) and this node's settings; a worker join
/// skips them as not applicable.
pub fn tree() -> PhaseTree<JoinContext> {
    let kubeconfigs = JOIN_KUBECONFIGS
        .into_iter()
        .map(|k| Box::new(KubeconfigPhase(k)) as Box<dyn Step<ControlPlaneJoinContext>>)
        .collect();
    PhaseTree {
        workflow: "join",
        nodes: vec![
            Node::leaf(Preflight),
            Node::group(
                "control-plane-prepare",
                "With --control-plane: prepare this node to serve as a control plane.",
                vec![
                    on_control_plane(Box::new(DownloadCerts)),
                    Node::group(
                        "certs",
                        "Write this node's certificates under the certificates dir.",
                        on_control_plane_all(certs::phases()),
                    ),
                    Node::group(
                        "kubeconfig",
                        "Write this node's kubeconfig files under /etc/kubernetes.",
                        on_control_plane_all(kubeconfigs),
                    ),
                    Node::group(
                        "control-plane",
                        "Write this node's control-plane static-pod manifests.",
                        on_control_plane_all(control_plane::phases()),
                    ),
                ],
            ),
            Node::leaf(KubeletStartJoin::default()),
            on_control_plane(Box::new(EtcdJoin)),
            Node::leaf(KubeletWaitBootstrap),
            Node::group(
                "control-plane-join",
                "With --control-plane: finish joining as a control plane.",
                vec![Node::leaf(Joined(OnControlPlane::new(MarkControlPlane)))],
            ),
            Node::leaf(Joined(OnControlPlane::new(WaitControlPlane))),
        ],
    }
}

/// The flags as typed; the configuration layer validates them and names them in its errors.
fn flags(a: &JoinArgs, global: &GlobalArgs) -> JoinFlags {
    JoinFlags {
        endpoint: a.endpoint.clone(),
        token: SecretArg::exposed(&a.token),
        discovery_token: SecretArg::exposed(&a.discovery_token),
        tls_bootstrap_token: SecretArg::exposed(&a.tls_bootstrap_token),
        discovery_token_ca_cert_hashes: a.discovery_token_ca_cert_hash.clone(),
        discovery_token_unsafe_skip_ca_verification: a.discovery_token_unsafe_skip_ca_verification,
        discovery_file: a.discovery_file.clone(),
        tls_bootstrap: a.tls_bootstrap,
        control_plane: a.control_plane,
        certificate_key: SecretArg::exposed(&a.certificate_key),
        node_name: a.workflow.node_name.clone(),
        apiserver_advertise_address: a.apiserver_advertise_address.clone(),
        apiserver_bind_port: a.apiserver_bind_port,
        skip_phases: a.workflow.skip_phases.clone(),
        ignore_preflight_errors: a.workflow.ignore_preflight_errors.clone(),
        cri_socket: a.workflow.cri_socket.clone(),
        dry_run: global.dry_run,
        patches: a.workflow.patches.clone(),
    }
}

/// `kubestrap join` and `kubestrap join phase <only>`.
pub async fn run(
    global: &GlobalArgs,
    args: &JoinArgs,
    only: Option<&str>,
    events: &dyn EventSink,
) -> ExitCode {
    let w = &args.workflow;
    let config = config::load_join(w.config.as_deref(), &flags(args, global));
    let context = |config, root, _fs: &HostFs| JoinContext::new(config, root);
    super::start(&tree(), global, w, only, config, context, events).await
}
