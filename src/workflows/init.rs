//! `kubestrap init`: kubeadm's init phases, in kubeadm's order.

use std::process::ExitCode;

use kubestrap_phases::InitContext;
use kubestrap_phases::config;
use kubestrap_phases::phases::bootstrap_token::BootstrapTokenPhase;
use kubestrap_phases::phases::kubelet::KubeletStart;
use kubestrap_phases::phases::kubelet::finalize::EnableClientCertRotation;
use kubestrap_phases::phases::preflight::Preflight;
use kubestrap_phases::phases::wait_control_plane::WaitControlPlane;
use kubestrap_phases::{
    phases::addons, phases::certs, phases::control_plane, phases::etcd, phases::kubeconfig,
    phases::mark_control_plane, phases::show_join_command, phases::upload_certs,
    phases::upload_config,
};

use crate::cli::{GlobalArgs, InitArgs};
use crate::engine::{Node, PhaseTree};
use crate::output::EventSink;

/// kubeadm's init phase tree.
pub(crate) fn tree() -> PhaseTree<InitContext> {
    PhaseTree {
        workflow: "init",
        nodes: vec![
            Node::leaf(Preflight),
            Node::group(
                "certs",
                "Write the cluster's certificates and keys under the certificates dir (/etc/kubernetes/pki).",
                certs::phases().into_iter().map(Node::Leaf).collect(),
            ),
            Node::group(
                "kubeconfig",
                "Write the kubeconfig files under /etc/kubernetes.",
                kubeconfig::phases().into_iter().map(Node::Leaf).collect(),
            ),
            Node::group(
                "etcd",
                "Write the static-pod manifest of the local etcd.",
                vec![Node::leaf(etcd::EtcdLocal)],
            ),
            Node::group(
                "control-plane",
                "Write the static-pod manifests of the control plane under /etc/kubernetes/manifests.",
                control_plane::phases()
                    .into_iter()
                    .map(Node::Leaf)
                    .collect(),
            ),
            Node::leaf(KubeletStart::default()),
            Node::leaf(WaitControlPlane),
            Node::group(
                "upload-config",
                "Store the cluster's configuration in ConfigMaps in kube-system.",
                vec![
                    Node::leaf(upload_config::UploadKubeadmConfig),
                    Node::leaf(upload_config::UploadKubeletConfig),
                ],
            ),
            Node::leaf(upload_certs::UploadCerts),
            Node::leaf(mark_control_plane::MarkControlPlane),
            Node::leaf(BootstrapTokenPhase),
            Node::group(
                "kubelet-finalize",
                "Update the kubelet's settings after its TLS bootstrap.",
                vec![Node::leaf(EnableClientCertRotation::default())],
            ),
            Node::group(
                "addon",
                "Install the cluster's required addons.",
                vec![Node::leaf(addons::CoreDns), Node::leaf(addons::KubeProxy)],
            ),
            Node::leaf(show_join_command::ShowJoinCommand),
        ],
    }
}

/// `kubestrap init` and `kubestrap init phase <only>`.
pub(crate) async fn run(
    global: &GlobalArgs,
    args: &InitArgs,
    only: Option<&str>,
    events: &dyn EventSink,
) -> ExitCode {
    let w = &args.workflow;
    let config = config::load_init(w.config.as_deref(), &args.to_flags(global));
    let context = InitContext::new;
    super::start(&tree(), global, w, only, config, context, events).await
}
