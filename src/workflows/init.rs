//! `kubestrap init`: kubeadm's init phases, in the tree kubeadm shows, run with the kubelet's
//! prerequisites first.

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

/// The leaves a whole init runs first: the kubelet needs only the CA, its own kubeconfig and
/// its settings, and it takes ~6 s to boot (kubelet 1.20 on a node without Docker) before it
/// runs the static pods that appear later in its manifest directory (it watches it), so the
/// other 14 keys and the manifests are made while it boots instead of before it starts.
/// kubeadm 1.20 also starts the kubelet before it writes the manifests, but after every
/// certificate and kubeconfig (certs, kubeconfig, kubelet-start, control-plane, etcd in its
/// cmd/kubeadm/app/cmd/init.go); later releases start it after the manifests.
const RUN_FIRST: &[&str] = &[
    "preflight",
    "certs/ca",
    "kubeconfig/kubelet",
    "kubelet-start",
];

/// kubeadm's init phase tree.
pub(crate) fn tree() -> PhaseTree<InitContext> {
    PhaseTree {
        workflow: "init",
        run_first: RUN_FIRST,
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

#[cfg(test)]
mod tests {
    use super::{RUN_FIRST, tree};

    #[test]
    fn a_run_starts_the_kubelet_right_after_its_prerequisites_then_follows_the_tree() {
        let tree = tree();
        let run: Vec<String> = tree.leaves().into_iter().map(|l| l.path).collect();
        assert_eq!(
            run[..RUN_FIRST.len()],
            *RUN_FIRST,
            "every RUN_FIRST name is a leaf"
        );
        let names = tree.names();
        let rest: Vec<&String> = names
            .iter()
            .filter(|n| run.contains(n) && !RUN_FIRST.contains(&n.as_str()))
            .collect();
        assert_eq!(run[RUN_FIRST.len()..].iter().collect::<Vec<_>>(), rest);
        assert_eq!(run[RUN_FIRST.len()], "certs/apiserver");
    }
}
