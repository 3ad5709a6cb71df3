//! `kubestrap init`: kubeadm's init phases, in kubeadm's order.

use std::process::ExitCode;

use kubestrap_phases::InitContext;
use kubestrap_phases::config::{self, InitFlags};
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

/// The flags as typed; the configuration layer validates them and names them in its errors.
fn flags(a: &InitArgs, global: &GlobalArgs) -> InitFlags {
    InitFlags {
        apiserver_advertise_address: a.apiserver_advertise_address.clone(),
        apiserver_bind_port: a.apiserver_bind_port,
        apiserver_cert_extra_sans: a.apiserver_cert_extra_sans.clone(),
        control_plane_endpoint: a.control_plane_endpoint.clone(),
        kubernetes_version: a.kubernetes_version.clone(),
        node_name: a.workflow.node_name.clone(),
        pod_network_cidr: a.pod_network_cidr.clone(),
        service_cidr: a.service_cidr.clone(),
        service_dns_domain: a.service_dns_domain.clone(),
        cert_dir: a.cert_dir.clone(),
        token: a.token.clone(),
        token_ttl: a.token_ttl.clone(),
        upload_certs: a.upload_certs,
        certificate_key: a.certificate_key.clone(),
        skip_phases: a.workflow.skip_phases.clone(),
        ignore_preflight_errors: a.workflow.ignore_preflight_errors.clone(),
        cri_socket: a.workflow.cri_socket.clone(),
        dry_run: global.dry_run,
        patches: a.workflow.patches.clone(),
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
    let config = config::load_init(w.config.as_deref(), &flags(args, global));
    let context = InitContext::new;
    super::start(&tree(), global, w, only, config, context, events).await
}
