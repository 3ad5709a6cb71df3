//! `kubestrap join`: kubeadm's join phases, in kubeadm's order.

use std::process::ExitCode;

use kubestrap_phases::config;
use kubestrap_phases::context::joining_control_plane::{OnControlPlane, control_plane_prepare};
use kubestrap_phases::phases::etcd_join::EtcdJoin;
use kubestrap_phases::phases::kubelet::join::{KubeletStartJoin, KubeletWaitBootstrap};
use kubestrap_phases::phases::mark_control_plane::MarkControlPlane;
use kubestrap_phases::phases::preflight::Preflight;
use kubestrap_phases::phases::update_status::UpdateStatus;
use kubestrap_phases::phases::wait_control_plane::WaitControlPlane;
use kubestrap_phases::{HostFs, JoinContext};

use crate::cli::{GlobalArgs, JoinArgs};
use crate::engine::{Node, PhaseTree};
use crate::output::EventSink;

/// kubeadm's join phase tree. The control-plane phases are init's own, run with the
/// cluster's configuration (read after discovery) and this node's settings; a worker join
/// skips them as not applicable.
pub(crate) fn tree() -> PhaseTree<JoinContext> {
    PhaseTree {
        workflow: "join",
        run_first: &[],
        nodes: vec![
            Node::leaf(Preflight),
            control_plane_prepare(),
            Node::leaf(KubeletStartJoin::default()),
            Node::leaf(OnControlPlane::new(EtcdJoin)),
            Node::leaf(KubeletWaitBootstrap),
            Node::group(
                "control-plane-join",
                "With --control-plane: finish joining as a control plane.",
                vec![
                    Node::leaf(OnControlPlane::new(UpdateStatus)),
                    Node::leaf(OnControlPlane::new(MarkControlPlane).reporting_admin_kubeconfig()),
                ],
            ),
            Node::leaf(OnControlPlane::new(WaitControlPlane).reporting_admin_kubeconfig()),
        ],
    }
}

/// `kubestrap join` and `kubestrap join phase <only>`.
pub(crate) async fn run(
    global: &GlobalArgs,
    args: &JoinArgs,
    only: Option<&str>,
    events: &dyn EventSink,
) -> ExitCode {
    let w = &args.workflow;
    let config = config::load_join(w.config.as_deref(), &args.to_flags(global));
    let context = |config, root, _fs: &HostFs| JoinContext::new(config, root);
    super::start(&tree(), global, w, only, config, context, events).await
}
