//! The init, join and reset workflows: their phase trees, how flags and configuration become
//! a typed context, and the run from first event to exit status.

mod confirm;
pub(crate) mod init;
pub(crate) mod join;
pub(crate) mod reset;
mod staging;
pub(crate) mod upgrade;

use std::borrow::Cow;
use std::path::PathBuf;
use std::process::ExitCode;

use kubestrap_phases::config::well_known::KUBERNETES_DIR;
use kubestrap_phases::contract::host::pki_dirs;
use kubestrap_phases::contract::tree::UnknownPhase;
use kubestrap_phases::{Diagnostic, HostFs, NodeRoot};
use tokio::signal::unix::{Signal, SignalKind, signal};

pub(crate) use staging::{RunFs, StagingError};

use kubestrap_phases::config::{ConfigError, InitConfig, JoinConfig};

use crate::cli::{GlobalArgs, PhaseCommandTree, WorkflowArgs};
use crate::engine::Node;
use crate::engine::journal::Journal;
use crate::engine::{self, PhaseTree, RunOptions};
use crate::output::{Event, EventSink, RunResult, StagingOutcome, Status};

/// The shape of a tree, for the CLI.
pub(crate) fn command_tree<C: Sync>(nodes: &[Node<C>]) -> Vec<PhaseCommandTree> {
    nodes
        .iter()
        .map(|n| PhaseCommandTree {
            name: n.name(),
            help: n.help(),
            children: command_tree(n.children()),
        })
        .collect()
}

/// A failure before any phase ran (bad flag, bad config, unknown phase name), or of a command
/// that runs no phases: reported like a phase error, as an `error` event with the error's
/// message and hint and a failed result naming `workflow`, so JSON consumers see it too.
pub(crate) fn fail_early(
    events: &dyn EventSink,
    workflow: &str,
    error: &dyn Diagnostic,
) -> ExitCode {
    events.emit(Event::error(None, error));
    events.emit(Event::Result(RunResult {
        status: Status::Failed,
        workflow: workflow.to_string(),
        dry_run: false,
        staging_dir: None,
        failed_phase: None,
        files: Vec::new(),
        api_objects: Vec::new(),
        extra: serde_json::Map::new(),
    }));
    ExitCode::FAILURE
}

/// `--root` names a relative directory and the working directory is gone.
#[derive(Debug, thiserror::Error)]
#[error("--root: {0}")]
pub(crate) struct RootError(#[source] pub std::io::Error);

impl Diagnostic for RootError {}

/// The node root `--root` names.
pub(crate) fn node_root(global: &GlobalArgs) -> Result<NodeRoot, RootError> {
    NodeRoot::new(&global.root).map_err(RootError)
}

/// A `--skip-phases` or `skipPhases` entry that names no phase of the workflow.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct UnknownSkippedPhase(UnknownPhase);

impl Diagnostic for UnknownSkippedPhase {
    fn hint(&self) -> Option<Cow<'_, str>> {
        Some("check --skip-phases and skipPhases".into())
    }
}

/// A dry run stopped by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("interrupted (Ctrl-C)")]
struct Interrupted;

impl Diagnostic for Interrupted {}

/// Which phases to run, as the user wrote them, and what the workflow keeps and reports.
struct Selection<'a> {
    only: Option<&'a str>,
    skip: &'a [String],
    resume: bool,
    /// Whether the workflow keeps a journal (init, join; not reset: see docs/journal.md).
    journal: bool,
    /// Whether the result lists what was removed (reset): `removed`, the paths, after a real
    /// run; `would_remove`, `{path, kind}`, after a dry run. Listed even when empty, so that
    /// "nothing removed" is said, not implied.
    removals: bool,
}

/// The filesystem view of a command that stages under `--dry-run` (`certs renew`, `token
/// create`, …): the host, or a private staging directory that lives as long as the returned
/// value (removed with it, unless `--dry-run-dir` named it).
pub(crate) fn host_fs(global: &GlobalArgs) -> Result<RunFs, StagingError> {
    RunFs::new(global.dry_run, global.dry_run_dir.as_deref())
}

/// Ends the dry-run staging of a command that is not a workflow (`certs renew`, …): the
/// staged files go unless kept, and a note on stderr says which. Returns what became of them
/// (`None` for a real run), for the command's `result`.
pub(crate) fn finish_staging(fs: RunFs, events: &dyn EventSink) -> Option<StagingOutcome> {
    let (_, staging) = fs.into_parts();
    let (outcome, warning) = staging?.finish();
    if let Some(warning) = warning {
        events.note(&format!("warning: {warning}"));
    }
    events.note(&format!("[dry-run] {outcome}"));
    Some(outcome)
}

/// The exit status of a run stopped by Ctrl-C (128 + SIGINT), as a shell reports it.
const INTERRUPTED: u8 = 130;

/// Ctrl-C (SIGINT), caught during a dry run that stages in a temporary directory so that
/// the directory is removed then too. Caught from before the directory is made; not caught
/// otherwise (nor if it cannot be), so that Ctrl-C ends other runs as it always has.
fn catch_ctrl_c(dry_run: bool, global: &GlobalArgs) -> Option<Signal> {
    let temporary_staging = dry_run && global.dry_run_dir.is_none();
    temporary_staging
        .then(|| signal(SignalKind::interrupt()).ok())
        .flatten()
}

/// Resolves when a caught Ctrl-C arrives; never without one.
async fn interrupted(ctrl_c: Option<&mut Signal>) {
    match ctrl_c {
        Some(sig) => {
            sig.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Runs `tree` on `ctx` and reports the result.
async fn run<C: Sync>(
    tree: &PhaseTree<C>,
    ctx: &C,
    root: &NodeRoot,
    fs: RunFs,
    mut ctrl_c: Option<Signal>,
    selection: Selection<'_>,
    events: &dyn EventSink,
) -> ExitCode {
    let workflow = tree.workflow;
    let only = match selection.only.map(|p| tree.parse_name(p)).transpose() {
        Ok(only) => only,
        Err(e) => return fail_early(events, workflow, &e),
    };
    let skip: Result<Vec<String>, _> = selection
        .skip
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| tree.parse_name(s))
        .collect();
    let skip = match skip {
        Ok(skip) => skip,
        Err(e) => return fail_early(events, workflow, &UnknownSkippedPhase(e)),
    };
    let (fs, staging) = fs.into_parts();
    let opts = RunOptions {
        only,
        skip,
        resume: selection.resume,
        fs,
        journal_path: selection.journal.then(|| Journal::path(root, workflow)),
    };
    let outcome = tokio::select! {
        outcome = engine::run(tree, ctx, &opts, events) => Some(outcome),
        () = interrupted(ctrl_c.as_mut()) => None,
    };
    // The staged files go (unless kept) before the result is reported, so that it says
    // what happened rather than what is about to.
    let staged = staging.map(|s| {
        let (outcome, warning) = s.finish();
        if let Some(message) = warning {
            events.emit(Event::Warning {
                phase: None,
                message,
            });
        }
        outcome
    });
    let outcome = match outcome {
        Some(Ok(outcome)) => outcome,
        Some(Err(e)) => return fail_early(events, workflow, &e),
        None => {
            events.emit(Event::error(None, &Interrupted));
            let mut result = RunResult {
                status: Status::Failed,
                workflow: workflow.to_string(),
                dry_run: true,
                staging_dir: None,
                failed_phase: None,
                files: Vec::new(),
                api_objects: Vec::new(),
                extra: serde_json::Map::new(),
            };
            if let Some(staged) = staged {
                result.set_staging(staged);
            }
            events.emit(Event::Result(result));
            return ExitCode::from(INTERRUPTED);
        }
    };
    let status = outcome.status;
    let dry_run = staged.is_some();
    let mut result = RunResult {
        status,
        workflow: workflow.to_string(),
        dry_run,
        staging_dir: None,
        failed_phase: outcome.failed_phase,
        files: outcome.files,
        api_objects: outcome.api_objects,
        extra: outcome.result_fields,
    };
    if selection.removals {
        result.set_removals(&outcome.removed);
    }
    if let Some(staged) = staged {
        result.set_staging(staged);
    }
    events.emit(Event::Result(result));
    match status {
        Status::Success => ExitCode::SUCCESS,
        Status::Failed => ExitCode::FAILURE,
    }
}

/// What starting a run needs from a workflow's configuration.
pub(crate) trait WorkflowConfig {
    fn skip_phases(&self) -> &[String];
    fn dry_run(&self) -> bool;
    /// The logical directories the run creates 0700 if it needs them: the PKI directories.
    fn private_dirs(&self) -> [PathBuf; 2];
}

impl WorkflowConfig for InitConfig {
    fn skip_phases(&self) -> &[String] {
        InitConfig::skip_phases(self)
    }
    fn dry_run(&self) -> bool {
        InitConfig::dry_run(self)
    }
    fn private_dirs(&self) -> [PathBuf; 2] {
        pki_dirs(self.cluster.certificates_dir.as_path())
    }
}

impl WorkflowConfig for JoinConfig {
    fn skip_phases(&self) -> &[String] {
        JoinConfig::skip_phases(self)
    }
    fn dry_run(&self) -> bool {
        JoinConfig::dry_run(self)
    }
    /// kubeadm's default `certificatesDir`: a JoinConfiguration has none of its own (a
    /// control-plane join learns the cluster's from kubeadm-config, after the run started).
    fn private_dirs(&self) -> [PathBuf; 2] {
        pki_dirs(&std::path::Path::new(KUBERNETES_DIR).join("pki"))
    }
}

/// From the loaded configuration to the exit status: the node root, the filesystem view
/// (staged under `--dry-run`), the typed context, the run. Every failure before the first
/// phase is reported like a phase error.
pub(crate) async fn start<Cfg: WorkflowConfig, C: Sync, E: Diagnostic>(
    tree: &PhaseTree<C>,
    global: &GlobalArgs,
    args: &WorkflowArgs,
    only: Option<&str>,
    config: Result<Cfg, ConfigError>,
    context: impl FnOnce(Cfg, NodeRoot, &HostFs) -> Result<C, E>,
    events: &dyn EventSink,
) -> ExitCode {
    let workflow = tree.workflow;
    let config = match config {
        Ok(c) => c,
        Err(e) => return fail_early(events, workflow, &e),
    };
    let root = match node_root(global) {
        Ok(r) => r,
        Err(e) => return fail_early(events, workflow, &e),
    };
    let ctrl_c = catch_ctrl_c(config.dry_run(), global);
    let fs = match RunFs::new(config.dry_run(), global.dry_run_dir.as_deref()) {
        Ok(fs) => fs.with_private_dirs(config.private_dirs().map(|d| root.resolve(d))),
        Err(e) => return fail_early(events, workflow, &e),
    };
    let skip = config.skip_phases().to_vec();
    let ctx = match context(config, root.clone(), &fs) {
        Ok(ctx) => ctx,
        Err(e) => return fail_early(events, workflow, &e),
    };
    let selection = Selection {
        only,
        skip: &skip,
        resume: !args.no_resume,
        journal: true,
        removals: false,
    };
    run(tree, &ctx, &root, fs, ctrl_c, selection, events).await
}
