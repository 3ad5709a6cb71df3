//! `kubestrap join`: kubeadm's join phases, in kubeadm's order.

use std::process::ExitCode;

use kubestrap_phases::config::{self, JoinFlags};
use kubestrap_phases::context::joining_control_plane::{OnControlPlane, control_plane_prepare};
use kubestrap_phases::phases::etcd_join::EtcdJoin;
use kubestrap_phases::phases::kubelet::join::{KubeletStartJoin, KubeletWaitBootstrap};
use kubestrap_phases::phases::mark_control_plane::MarkControlPlane;
use kubestrap_phases::phases::preflight::Preflight;
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
        nodes: vec![
            Node::leaf(Preflight),
            control_plane_prepare(),
            Node::leaf(KubeletStartJoin::default()),
            Node::leaf(OnControlPlane::new(EtcdJoin)),
            Node::leaf(KubeletWaitBootstrap),
            Node::group(
                "control-plane-join",
                "With --control-plane: finish joining as a control plane.",
                vec![Node::leaf(
                    OnControlPlane::new(MarkControlPlane).reporting_admin_kubeconfig(),
                )],
            ),
            Node::leaf(OnControlPlane::new(WaitControlPlane).reporting_admin_kubeconfig()),
        ],
    }
}

/// The flags as typed; the configuration layer validates them and names them in its errors.
fn flags(a: &JoinArgs, global: &GlobalArgs) -> JoinFlags {
    JoinFlags {
        endpoint: a.endpoint.clone(),
        token: a.token.clone(),
        discovery_token: a.discovery_token.clone(),
        tls_bootstrap_token: a.tls_bootstrap_token.clone(),
        discovery_token_ca_cert_hashes: a.discovery_token_ca_cert_hash.clone(),
        discovery_token_unsafe_skip_ca_verification: a.discovery_token_unsafe_skip_ca_verification,
        discovery_file: a.discovery_file.clone(),
        tls_bootstrap: a.tls_bootstrap,
        control_plane: a.control_plane,
        certificate_key: a.certificate_key.clone(),
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
pub(crate) async fn run(
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
