//! `kubestrap join`: kubeadm's join phases, in kubeadm's order.

use std::process::ExitCode;

use kubestrap_phases::config::{self, JoinFlags};
use kubestrap_phases::kubelet_join::{KubeletStartJoin, KubeletWaitBootstrap};
use kubestrap_phases::preflight::Preflight;
use kubestrap_phases::step::Pending;
use kubestrap_phases::{
    Applicability, Effects, Fingerprint, HostFs, JoinContext, PhaseError, Step, async_trait,
};

use crate::cli::{GlobalArgs, JoinArgs};
use crate::engine::{Node, PhaseTree};
use crate::output::EventSink;

fn pending(name: &'static str, help: &'static str, issue: u32) -> Node<JoinContext> {
    Node::leaf(ControlPlaneOnly(Pending { name, help, issue }))
}

/// A phase that only a control-plane join runs; a worker join skips it as not applicable.
struct ControlPlaneOnly<S>(S);

#[async_trait]
impl<S: Step<JoinContext>> Step<JoinContext> for ControlPlaneOnly<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn help(&self) -> &'static str {
        self.0.help()
    }

    fn applicability(&self, ctx: &JoinContext) -> Applicability {
        if ctx.is_control_plane() {
            self.0.applicability(ctx)
        } else {
            Applicability::NotApplicable("a worker join (no --control-plane)".into())
        }
    }

    fn inputs(&self, ctx: &JoinContext, fp: &mut Fingerprint<'_>) {
        self.0.inputs(ctx, fp)
    }

    fn always_run(&self) -> bool {
        self.0.always_run()
    }

    async fn run(&self, ctx: &JoinContext, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        self.0.run(ctx, fx).await
    }
}

/// kubeadm's join phase tree.
pub fn tree() -> PhaseTree<JoinContext> {
    PhaseTree {
        workflow: "join",
        nodes: vec![
            Node::leaf(Preflight),
            Node::group(
                "control-plane-prepare",
                "With --control-plane: prepare this node to serve as a control plane.",
                vec![
                    pending(
                        "download-certs",
                        "Download and decrypt the shared certificates from Secret kube-system/kubeadm-certs.",
                        6,
                    ),
                    pending(
                        "certs",
                        "Write this node's certificates under the certificates dir.",
                        6,
                    ),
                    pending(
                        "kubeconfig",
                        "Write this node's kubeconfig files under /etc/kubernetes.",
                        6,
                    ),
                    pending(
                        "control-plane",
                        "Write this node's control-plane static-pod manifests.",
                        6,
                    ),
                ],
            ),
            Node::leaf(KubeletStartJoin::new()),
            pending(
                "etcd-join",
                "With --control-plane: add this node's etcd member and write its manifest.",
                6,
            ),
            Node::leaf(KubeletWaitBootstrap),
            Node::group(
                "control-plane-join",
                "With --control-plane: finish joining as a control plane.",
                vec![pending(
                    "mark-control-plane",
                    "Label and taint this node's Node object as a control plane.",
                    6,
                )],
            ),
            pending(
                "wait-control-plane",
                "With --control-plane: wait until this node's control plane reports healthy; changes nothing.",
                6,
            ),
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
