//! `kubestrap init`: kubeadm's init phases, in kubeadm's order.

use std::process::ExitCode;

use kubestrap_phases::InitContext;
use kubestrap_phases::config::{self, InitFlags};
use kubestrap_phases::step::Pending;

use super::Selection;
use crate::cli::{GlobalArgs, InitArgs};
use crate::engine::{Node, PhaseTree};
use crate::output::EventSink;

fn pending(name: &'static str, help: &'static str, issue: u32) -> Node<InitContext> {
    Node::leaf(Pending { name, help, issue })
}

/// kubeadm's init phase tree.
pub fn tree() -> PhaseTree<InitContext> {
    PhaseTree {
        workflow: "init",
        nodes: vec![
            pending(
                "preflight",
                "Check that this machine can become a control-plane node; changes nothing.",
                2,
            ),
            Node::group(
                "certs",
                "Write the cluster's certificates and keys under the certificates dir (/etc/kubernetes/pki).",
                vec![
                    pending(
                        "ca",
                        "Write the self-signed cluster CA (ca.crt, ca.key).",
                        3,
                    ),
                    pending(
                        "apiserver",
                        "Write the API server's serving certificate (apiserver.crt, apiserver.key).",
                        3,
                    ),
                    pending(
                        "apiserver-kubelet-client",
                        "Write the API server's client certificate for kubelets (apiserver-kubelet-client.crt/.key).",
                        3,
                    ),
                    pending(
                        "front-proxy-ca",
                        "Write the self-signed front-proxy CA (front-proxy-ca.crt/.key).",
                        3,
                    ),
                    pending(
                        "front-proxy-client",
                        "Write the front-proxy client certificate (front-proxy-client.crt/.key).",
                        3,
                    ),
                    pending(
                        "etcd-ca",
                        "Write the self-signed etcd CA (etcd/ca.crt/.key).",
                        3,
                    ),
                    pending(
                        "etcd-server",
                        "Write etcd's serving certificate (etcd/server.crt/.key).",
                        3,
                    ),
                    pending(
                        "etcd-peer",
                        "Write etcd's peer certificate (etcd/peer.crt/.key).",
                        3,
                    ),
                    pending(
                        "etcd-healthcheck-client",
                        "Write the etcd health-check client certificate (etcd/healthcheck-client.crt/.key).",
                        3,
                    ),
                    pending(
                        "apiserver-etcd-client",
                        "Write the API server's etcd client certificate (apiserver-etcd-client.crt/.key).",
                        3,
                    ),
                    pending(
                        "sa",
                        "Write the service-account signing key pair (sa.key, sa.pub).",
                        3,
                    ),
                ],
            ),
            Node::group(
                "kubeconfig",
                "Write the kubeconfig files under /etc/kubernetes.",
                vec![
                    pending(
                        "admin",
                        "Write admin.conf (kubernetes-admin, group kubeadm:cluster-admins).",
                        3,
                    ),
                    pending(
                        "super-admin",
                        "Write super-admin.conf (kubernetes-super-admin, group system:masters).",
                        3,
                    ),
                    pending(
                        "kubelet",
                        "Write kubelet.conf for this node (system:node:<name>).",
                        3,
                    ),
                    pending(
                        "controller-manager",
                        "Write controller-manager.conf (system:kube-controller-manager).",
                        3,
                    ),
                    pending(
                        "scheduler",
                        "Write scheduler.conf (system:kube-scheduler).",
                        3,
                    ),
                ],
            ),
            Node::group(
                "etcd",
                "Write the static-pod manifest of the local etcd.",
                vec![pending(
                    "local",
                    "Write /etc/kubernetes/manifests/etcd.yaml.",
                    4,
                )],
            ),
            Node::group(
                "control-plane",
                "Write the static-pod manifests of the control plane under /etc/kubernetes/manifests.",
                vec![
                    pending("apiserver", "Write kube-apiserver.yaml.", 4),
                    pending(
                        "controller-manager",
                        "Write kube-controller-manager.yaml.",
                        4,
                    ),
                    pending("scheduler", "Write kube-scheduler.yaml.", 4),
                ],
            ),
            pending(
                "kubelet-start",
                "Write /var/lib/kubelet/config.yaml and kubeadm-flags.env, then restart the kubelet (systemd, root / only).",
                4,
            ),
            pending(
                "wait-control-plane",
                "Wait until the API server, controller-manager and scheduler report healthy; changes nothing.",
                4,
            ),
            Node::group(
                "upload-config",
                "Store the cluster's configuration in ConfigMaps in kube-system.",
                vec![
                    pending(
                        "kubeadm",
                        "Create ConfigMap kube-system/kubeadm-config with its Role and RoleBinding.",
                        5,
                    ),
                    pending(
                        "kubelet",
                        "Create ConfigMap kube-system/kubelet-config with its Role and RoleBinding.",
                        5,
                    ),
                ],
            ),
            pending(
                "upload-certs",
                "With --upload-certs: store the control-plane certificates, encrypted, in Secret kube-system/kubeadm-certs.",
                5,
            ),
            pending(
                "mark-control-plane",
                "Label and taint this node's Node object as a control plane.",
                5,
            ),
            pending(
                "bootstrap-token",
                "Create the bootstrap token Secret, its RBAC bindings and ConfigMap kube-public/cluster-info.",
                5,
            ),
            pending(
                "kubelet-finalize",
                "Point kubelet.conf at the rotated client certificate.",
                5,
            ),
            Node::group(
                "addon",
                "Install the cluster's required addons.",
                vec![
                    pending(
                        "coredns",
                        "Create CoreDNS's Deployment, Service, ConfigMap and RBAC.",
                        5,
                    ),
                    pending(
                        "kube-proxy",
                        "Create kube-proxy's DaemonSet, ConfigMap and RBAC.",
                        5,
                    ),
                ],
            ),
            pending(
                "show-join-command",
                "Print the commands that join workers and control planes; changes nothing.",
                5,
            ),
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
        node_name: a.node_name.clone(),
        pod_network_cidr: a.pod_network_cidr.clone(),
        service_cidr: a.service_cidr.clone(),
        service_dns_domain: a.service_dns_domain.clone(),
        cert_dir: a.cert_dir.clone(),
        token: a.token.clone(),
        token_ttl: a.token_ttl.clone(),
        upload_certs: a.upload_certs,
        certificate_key: a.certificate_key.clone(),
        skip_phases: a.skip_phases.clone(),
        ignore_preflight_errors: a.ignore_preflight_errors.clone(),
        cri_socket: a.cri_socket.clone(),
        dry_run: global.dry_run,
    }
}

/// `kubestrap init` and `kubestrap init phase <only>`.
pub async fn run(
    global: &GlobalArgs,
    args: &InitArgs,
    only: Option<&str>,
    events: &dyn EventSink,
) -> ExitCode {
    let tree = tree();
    let config = match config::load_init(args.config.as_deref(), &flags(args, global)) {
        Ok(c) => c,
        Err(e) => return super::fail_early(events, tree.workflow, e, None),
    };
    let root = match super::node_root(global) {
        Ok(r) => r,
        Err(e) => return super::fail_early(events, tree.workflow, format!("--root: {e}"), None),
    };
    let selection = Selection {
        only,
        skip: config.skip_phases(),
        resume: !args.no_resume,
        dry_run: config.dry_run(),
    };
    let ctx = InitContext {
        config: config.clone(),
        root: root.clone(),
    };
    super::run(&tree, &ctx, &root, selection, events).await
}
