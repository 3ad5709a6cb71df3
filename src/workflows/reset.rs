//! `kubestrap reset`: kubeadm's reset phases (preflight, remove-etcd-member, cleanup-node),
//! and verify, run by the engine like init's and join's — so `reset phase …`,
//! `--skip-phases`, the JSON events and the dry-run plan work the same way. The phases are in
//! `kubestrap_phases::phases::reset::phases`; this is the tree, the confirmation and the closing notes.
//!
//! Reset keeps no journal: it removes the init and join journals, a journal of its own in
//! the same directory would be what the next `verify` finds left over, and there is nothing
//! to resume — every run looks at the node again and removes what is still there.

use std::borrow::Cow;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use kubestrap_phases::domain::kubelet::KubeletService;
use kubestrap_phases::phases::reset::{
    self, CleanupNode, RemoveEtcdMember, ResetContext, ResetPreflight, UpdateClusterStatus, Verify,
};
use kubestrap_phases::{Diagnostic, NodeRoot};

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
    if !global.dry_run
        && !args.force
        && let Err(aborted) = confirm(&root)
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

/// Why reset did not go ahead: the user did not confirm.
#[derive(Debug, thiserror::Error)]
enum Aborted {
    #[error("reset aborted: no answer")]
    NoAnswer,
    #[error("reset aborted: no confirmation on standard input")]
    NoInput,
    #[error("reset aborted: the answer was not y")]
    NotYes,
}

impl Diagnostic for Aborted {
    fn hint(&self) -> Option<Cow<'_, str>> {
        Some("pass --force to reset without asking".into())
    }
}

/// kubeadm asks before it resets; an answer other than y/yes, or none (end of input), stops.
/// Input is read even when it is not a terminal, as kubeadm does, so `yes | kubestrap reset`
/// works; only the prompt depends on a terminal.
fn confirm(root: &NodeRoot) -> Result<(), Aborted> {
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "[reset] WARNING: changes made to this host (root {}) by 'kubestrap init' or 'kubestrap join' will be reverted.",
        root.as_path().display()
    );
    let _ = write!(err, "[reset] Are you sure you want to proceed? [y/N]: ");
    let _ = err.flush();
    let mut answer = String::new();
    let read = std::io::stdin().lock().read_line(&mut answer);
    if !std::io::stdin().is_terminal() {
        // A piped answer is not echoed: end the prompt's line.
        let _ = writeln!(err);
    }
    match read {
        Ok(0) | Err(_) if std::io::stdin().is_terminal() => Err(Aborted::NoAnswer),
        Ok(0) | Err(_) => Err(Aborted::NoInput),
        Ok(_) => match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => Err(Aborted::NotYes),
        },
    }
}
