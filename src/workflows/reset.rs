//! `kubestrap reset`: kubeadm's reset phases (preflight, remove-etcd-member, cleanup-node),
//! and verify, run by the engine like init's and join's — so `reset phase …`,
//! `--skip-phases`, the JSON events and the dry-run plan work the same way. The phases are in
//! `kubestrap_phases::phases::reset::phases`; this is the tree, the confirmation and the closing notes.
//!
//! Reset keeps no journal: it removes the init and join journals, a journal of its own in
//! the same directory would be what the next `verify` finds left over, and there is nothing
//! to resume — every run looks at the node again and removes what is still there.

use std::process::ExitCode;

use kubestrap_phases::domain::kubelet::KubeletService;
use kubestrap_phases::phases::reset::{
    self, CleanupNode, RemoveEtcdMember, ResetContext, ResetPreflight, UpdateClusterStatus, Verify,
};

use super::confirm::{Question, confirm};
use super::{Selection, catch_ctrl_c, fail_early, node_root};
use crate::cli::{GlobalArgs, ResetArgs};
use crate::engine::{Node, PhaseTree};
use crate::output::{Answer, EventSink};
use crate::workflows::RunFs;

const WORKFLOW: &str = "reset";

/// kubeadm's reset phase tree (cmd/kubeadm/app/cmd/phases/reset/), and verify.
pub(crate) fn tree() -> PhaseTree<ResetContext> {
    PhaseTree {
        workflow: WORKFLOW,
        run_first: &[],
        nodes: vec![
            Node::leaf(ResetPreflight),
            Node::leaf(UpdateClusterStatus),
            Node::leaf(RemoveEtcdMember),
            Node::leaf(CleanupNode),
            Node::leaf(Verify),
        ],
    }
}

/// `kubestrap reset` and `kubestrap reset phase <only>`.
pub(crate) async fn run(
    global: &GlobalArgs,
    args: &ResetArgs,
    only: Option<&str>,
    events: &dyn EventSink,
) -> ExitCode {
    let root = match node_root(global) {
        Ok(r) => r,
        Err(e) => return fail_early(events, WORKFLOW, &e),
    };
    let config_file = match args.config.as_deref().map(reset::load_config_file) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return fail_early(events, WORKFLOW, &e),
    };
    let question = Question {
        command: WORKFLOW,
        warning: format!(
            "changes made to this host (root {}) by 'kubestrap init' or 'kubestrap join' will be reverted.",
            root.as_path().display()
        ),
        flag: "--force",
    };
    if !global.dry_run
        && !args.force
        && let Err(aborted) = confirm(&question)
    {
        return fail_early(events, WORKFLOW, &aborted);
    }
    let ctrl_c = catch_ctrl_c(global.dry_run, global);
    let fs = match RunFs::new(global.dry_run, global.dry_run_dir.as_deref()) {
        Ok(fs) => fs,
        Err(e) => return fail_early(events, WORKFLOW, &e),
    };
    let mut ctx = ResetContext::new(
        root.clone(),
        args.cert_dir.clone(),
        config_file,
        KubeletService::default(),
    );
    ctx.cri_socket = args.cri_socket.clone();
    let selection = Selection {
        only,
        skip: &args.skip_phases,
        resume: false,
        journal: false,
        removals: true,
    };
    let code = super::run(&tree(), &ctx, &root, fs, ctrl_c, selection, events).await;
    // kubeadm's closing notes on what reset does not clean, after a blank line (text output
    // only); a dry run says them too, as what a real reset would leave. Notes that cannot be
    // written (a closed stdout) change nothing of the outcome.
    let notes: String = reset::not_cleaned(&root)
        .iter()
        .map(|note| format!("{note}\n"))
        .collect();
    let _ = events.answer(Answer::text(format!("\n{notes}")));
    code
}
