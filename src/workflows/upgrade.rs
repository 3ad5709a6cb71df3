//! `kubestrap upgrade plan | apply | node | diff`: the phase trees of an upgrade
//! (kubestrap_phases::upgrade), how the command line becomes an [`UpgradeContext`], and the
//! run. `apply` and `node` keep a journal (`upgrade-apply`, `upgrade-node`), so a failed or
//! killed run resumes; `plan` and `diff` only read.

use std::process::ExitCode;
use std::time::Duration;

use kubestrap_phases::config::{GoDuration, Timeouts};
use kubestrap_phases::phases::addons::{CoreDns, KubeProxy};
use kubestrap_phases::phases::bootstrap_token::BootstrapTokenPhase;
use kubestrap_phases::phases::upload_config::{UploadKubeadmConfig, UploadKubeletConfig};
use kubestrap_phases::upgrade::etcd_snapshot::EtcdSnapshot;
use kubestrap_phases::upgrade::kubelet_config::KubeletConfig;
use kubestrap_phases::upgrade::plan::{self, Plan};
use kubestrap_phases::upgrade::preflight::UpgradePreflight;
use kubestrap_phases::upgrade::static_pods::{Component, RenewAdminConf, UpgradeStaticPod};
use kubestrap_phases::upgrade::{UpgradeContext, UpgradeMode, UpgradeRequest};
use kubestrap_phases::{Diagnostic, HostFs};

use super::confirm::{Question, confirm};
use super::{RunFs, Selection, catch_ctrl_c, fail_early, node_root};
use crate::cli::{GlobalArgs, UpgradeCommand, UpgradeRunArgs, UpgradeTargetArgs};
use crate::engine::{Node, PhaseTree};
use crate::output::{Answer, EventSink, OutputArg};

const APPLY: &str = "upgrade-apply";
const NODE: &str = "upgrade-node";

/// The control plane's components, in kubeadm's order.
fn control_plane() -> Node<UpgradeContext> {
    Node::group(
        "control-plane",
        "Upgrade this node's static pods one at a time: etcd, kube-apiserver, kube-controller-manager, kube-scheduler; then renew admin.conf.",
        Component::ALL
            .into_iter()
            .map(|c| Node::leaf(UpgradeStaticPod(c)))
            .chain([Node::leaf(RenewAdminConf)])
            .collect(),
    )
}

/// `upgrade apply`: kubeadm's order (cmd/upgrade/apply.go: the static pods, then
/// PerformPostUpgradeTasks: upload-config, the kubelet's ConfigMap and config.yaml, the
/// bootstrap RBAC, the addons).
pub(crate) fn apply_tree() -> PhaseTree<UpgradeContext> {
    PhaseTree {
        workflow: APPLY,
        run_first: &[],
        nodes: vec![
            Node::leaf(UpgradePreflight),
            Node::leaf(EtcdSnapshot),
            control_plane(),
            Node::group(
                "upload-config",
                "Store the new configuration in kubeadm-config and the kubelet's ConfigMap.",
                vec![
                    Node::leaf(UploadKubeadmConfig),
                    Node::leaf(UploadKubeletConfig),
                ],
            ),
            Node::leaf(KubeletConfig),
            Node::leaf(BootstrapTokenPhase),
            Node::group(
                "addon",
                "Upgrade the addons, keeping the Corefile and kube-proxy's configuration as the cluster has them.",
                vec![Node::leaf(CoreDns), Node::leaf(KubeProxy)],
            ),
        ],
    }
}

/// `upgrade node`: kubeadm's `upgrade node` phases (preflight, control-plane, kubelet-config).
pub(crate) fn node_tree() -> PhaseTree<UpgradeContext> {
    PhaseTree {
        workflow: NODE,
        run_first: &[],
        nodes: vec![
            Node::leaf(UpgradePreflight),
            Node::leaf(EtcdSnapshot),
            control_plane(),
            Node::leaf(KubeletConfig),
        ],
    }
}

/// `--upgrade-manifests-timeout` that is not a duration.
#[derive(Debug, thiserror::Error)]
#[error("--upgrade-manifests-timeout {0:?}: expected a Go duration such as 5m0s or 90s")]
struct BadTimeout(String);

impl Diagnostic for BadTimeout {}

pub(crate) async fn run(
    global: &GlobalArgs,
    cmd: &UpgradeCommand,
    events: &dyn EventSink,
) -> ExitCode {
    match cmd {
        UpgradeCommand::Plan(target) => show(global, target, Show::Plan, events).await,
        UpgradeCommand::Diff(target) => show(global, target, Show::Diff, events).await,
        UpgradeCommand::Apply(args) => {
            let request = UpgradeRequest {
                version: args.target.target_version.clone(),
                config: args.target.config.clone(),
                kubeconfig: args.target.kubeconfig.clone(),
                force: args.force,
                ..run_request(&args.run, UpgradeMode::Apply)
            };
            let ask = !(args.yes || args.force || global.dry_run);
            upgrade(global, &args.run, request, ask, events).await
        }
        UpgradeCommand::Node(args) => {
            let request = UpgradeRequest {
                kubeconfig: args.kubeconfig.clone(),
                ..run_request(&args.run, UpgradeMode::Node)
            };
            upgrade(global, &args.run, request, false, events).await
        }
    }
}

/// The request `apply` and `node` share: what their common flags say.
fn run_request(run: &UpgradeRunArgs, mode: UpgradeMode) -> UpgradeRequest {
    UpgradeRequest {
        certificate_renewal: run.certificate_renewal,
        etcd_upgrade: run.etcd_upgrade,
        ..UpgradeRequest::new(mode)
    }
}

fn api_timeout() -> Duration {
    Timeouts::default().kubernetes_api_call.as_duration()
}

/// `apply` and `node`: the context, the confirmation, the run. `request`'s manifest timeout
/// is `--upgrade-manifests-timeout`'s, parsed here.
async fn upgrade(
    global: &GlobalArgs,
    run: &UpgradeRunArgs,
    mut request: UpgradeRequest,
    ask: bool,
    events: &dyn EventSink,
) -> ExitCode {
    let workflow = match request.mode {
        UpgradeMode::Apply => APPLY,
        UpgradeMode::Node => NODE,
    };
    request.manifest_timeout = match run.upgrade_manifests_timeout.parse::<GoDuration>() {
        Ok(t) => t.as_duration(),
        Err(_) => {
            return fail_early(
                events,
                workflow,
                &BadTimeout(run.upgrade_manifests_timeout.clone()),
            );
        }
    };
    let root = match node_root(global) {
        Ok(r) => r,
        Err(e) => return fail_early(events, workflow, &e),
    };
    let ctx = match UpgradeContext::fetch(root.clone(), &request, api_timeout()).await {
        Ok(ctx) => ctx,
        Err(e) => return fail_early(events, workflow, &e),
    };
    if ask {
        let question = Question {
            command: "upgrade apply",
            warning: format!(
                "the control plane of node {} moves from {} to {}, one component at a time.",
                ctx.node.name,
                ctx.current_version(),
                ctx.target_version()
            ),
            flag: "--yes",
        };
        if let Err(aborted) = confirm(&question) {
            return fail_early(events, workflow, &aborted);
        }
    }
    let ctrl_c = catch_ctrl_c(global.dry_run, global);
    let fs = match RunFs::new(global.dry_run, global.dry_run_dir.as_deref()) {
        Ok(fs) => fs,
        Err(e) => return fail_early(events, workflow, &e),
    };
    let tree = match request.mode {
        UpgradeMode::Apply => apply_tree(),
        UpgradeMode::Node => node_tree(),
    };
    let selection = Selection {
        only: None,
        skip: &run.skip_phases,
        resume: !run.no_resume,
        journal: true,
        removals: false,
    };
    super::run(&tree, &ctx, &root, fs, ctrl_c, selection, events).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    Plan,
    Diff,
}

/// `plan` and `diff`: read the node and the cluster, say what an apply would do.
async fn show(
    global: &GlobalArgs,
    target: &UpgradeTargetArgs,
    what: Show,
    events: &dyn EventSink,
) -> ExitCode {
    let command = match what {
        Show::Plan => "upgrade plan",
        Show::Diff => "upgrade diff",
    };
    let root = match node_root(global) {
        Ok(r) => r,
        Err(e) => return fail_early(events, command, &e),
    };
    let request = UpgradeRequest {
        version: target.target_version.clone(),
        config: target.config.clone(),
        kubeconfig: target.kubeconfig.clone(),
        ..UpgradeRequest::new(UpgradeMode::Apply)
    };
    let plan = match UpgradeContext::fetch(root, &request, api_timeout())
        .await
        .map_err(|e| Box::new(e) as Box<dyn Diagnostic>)
        .and_then(|ctx| {
            plan::plan(&ctx, &HostFs::real()).map_err(|e| Box::new(e) as Box<dyn Diagnostic>)
        }) {
        Ok(p) => p,
        Err(e) => return fail_early(events, command, e.as_ref()),
    };
    let shown = match (what, global.output) {
        (Show::Plan, OutputArg::Json) => json_answer("UpgradePlan", &plan),
        (Show::Plan, _) => Answer::text(plan::to_text(&plan, false)),
        (Show::Diff, OutputArg::Json) => json_answer("UpgradeDiff", &plan.components),
        (Show::Diff, _) => Answer::text(diff_text(&plan)),
    };
    match events.answer(shown) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn json_answer<T: serde::Serialize>(kind: &str, value: &T) -> Answer {
    let mut object = serde_json::to_value(value).unwrap_or_default();
    if let Some(map) = object.as_object_mut() {
        map.insert("kind".into(), kind.into());
    } else {
        object = serde_json::json!({ "kind": kind, "items": object });
    }
    Answer {
        text: String::new(),
        json: vec![Box::new(object)],
    }
}

/// Each manifest's diff, as `kubeadm upgrade diff` prints them; a line for each unchanged one.
fn diff_text(plan: &Plan) -> String {
    let mut out = String::new();
    for c in &plan.components {
        if c.changes {
            out.push_str(&c.diff);
        } else {
            out.push_str(&format!("{}: no changes\n", c.component));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{apply_tree, node_tree};

    #[test]
    fn apply_follows_kubeadms_order_and_node_is_its_node_part() {
        let apply: Vec<String> = apply_tree().leaves().into_iter().map(|l| l.path).collect();
        assert_eq!(
            apply,
            [
                "preflight",
                "etcd-snapshot",
                "control-plane/etcd",
                "control-plane/apiserver",
                "control-plane/controller-manager",
                "control-plane/scheduler",
                "control-plane/admin-conf",
                "upload-config/kubeadm",
                "upload-config/kubelet",
                "kubelet-config",
                "bootstrap-token",
                "addon/coredns",
                "addon/kube-proxy",
            ]
        );
        let node: Vec<String> = node_tree().leaves().into_iter().map(|l| l.path).collect();
        assert_eq!(
            node,
            [
                "preflight",
                "etcd-snapshot",
                "control-plane/etcd",
                "control-plane/apiserver",
                "control-plane/controller-manager",
                "control-plane/scheduler",
                "control-plane/admin-conf",
                "kubelet-config",
            ]
        );
    }
}
