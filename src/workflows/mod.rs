//! The init and join workflows: their phase trees, how flags and configuration become a typed
//! context, and the run from first event to exit status.

pub mod init;
pub mod join;

use std::path::Path;
use std::process::ExitCode;

use kubestrap_phases::{HostFs, NodeRoot};

use kubestrap_phases::config::{ConfigError, InitConfig, JoinConfig};

use crate::cli::{GlobalArgs, PhaseCommandTree, WorkflowArgs};
use crate::engine::journal::Journal;
use crate::engine::tree::Node;
use crate::engine::{self, PhaseTree, RunOptions};
use crate::output::{Event, EventSink, RunResult, Status};

/// The shape of a tree, for the CLI.
pub fn command_tree<C: Sync>(nodes: &[Node<C>]) -> Vec<PhaseCommandTree> {
    nodes
        .iter()
        .map(|n| PhaseCommandTree {
            name: n.name(),
            help: n.help(),
            children: command_tree(n.children()),
        })
        .collect()
}

/// A failure before any phase ran (bad flag, bad config, unknown phase name): reported like a
/// phase error, as an event and a failed result, so JSON consumers see it too.
pub fn fail_early(
    events: &dyn EventSink,
    workflow: &str,
    message: impl ToString,
    hint: Option<String>,
) -> ExitCode {
    events.emit(Event::Error {
        phase: None,
        message: message.to_string(),
        hint,
    });
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

/// Which phases to run, as the user wrote them.
struct Selection<'a> {
    only: Option<&'a str>,
    skip: &'a [String],
    resume: bool,
}

/// The filesystem view of a run: the host, or under `--dry-run` a fresh staging directory
/// that is left behind for the user to inspect.
pub fn host_fs(dry_run: bool) -> std::io::Result<HostFs> {
    if !dry_run {
        return Ok(HostFs::real());
    }
    let dir = tempfile::Builder::new()
        .prefix("kubestrap-dry-run-")
        .tempdir()?;
    Ok(HostFs::staged(dir.keep()))
}

/// Runs `tree` on `ctx` and reports the result.
async fn run<C: Sync>(
    tree: &PhaseTree<C>,
    ctx: &C,
    root: &NodeRoot,
    fs: HostFs,
    selection: Selection<'_>,
    events: &dyn EventSink,
) -> ExitCode {
    let workflow = tree.workflow;
    let only = match selection.only.map(|p| tree.parse_name(p)).transpose() {
        Ok(only) => only,
        Err(e) => return fail_early(events, workflow, e, None),
    };
    let skip: Result<Vec<String>, _> = selection
        .skip
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| tree.parse_name(s))
        .collect();
    let skip = match skip {
        Ok(skip) => skip,
        Err(e) => {
            let hint = Some("check --skip-phases and skipPhases".to_string());
            return fail_early(events, workflow, e, hint);
        }
    };
    let staging = fs.staging_dir().map(Path::to_path_buf);
    let opts = RunOptions {
        only,
        skip,
        resume: selection.resume,
        fs,
        journal_path: Journal::path(root, workflow),
    };
    let outcome = match engine::run(tree, ctx, &opts, events).await {
        Ok(outcome) => outcome,
        Err(e) => {
            let hint = Some(e.hint().to_string());
            return fail_early(events, workflow, e, hint);
        }
    };
    let status = outcome.status;
    events.emit(Event::Result(RunResult {
        status,
        workflow: workflow.to_string(),
        dry_run: staging.is_some(),
        staging_dir: staging,
        failed_phase: outcome.failed_phase,
        files: outcome.files,
        api_objects: outcome.api_objects,
        extra: outcome.result_fields,
    }));
    match status {
        Status::Success => ExitCode::SUCCESS,
        Status::Failed => ExitCode::FAILURE,
    }
}

/// What starting a run needs from a workflow's configuration.
pub trait WorkflowConfig {
    fn skip_phases(&self) -> &[String];
    fn dry_run(&self) -> bool;
}

impl WorkflowConfig for InitConfig {
    fn skip_phases(&self) -> &[String] {
        InitConfig::skip_phases(self)
    }
    fn dry_run(&self) -> bool {
        InitConfig::dry_run(self)
    }
}

impl WorkflowConfig for JoinConfig {
    fn skip_phases(&self) -> &[String] {
        JoinConfig::skip_phases(self)
    }
    fn dry_run(&self) -> bool {
        JoinConfig::dry_run(self)
    }
}

/// From the loaded configuration to the exit status: the node root, the filesystem view
/// (staged under `--dry-run`), the typed context, the run. Every failure before the first
/// phase is reported like a phase error.
pub async fn start<Cfg: WorkflowConfig, C: Sync, E: std::fmt::Display>(
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
        Err(e) => return fail_early(events, workflow, e, None),
    };
    let root = match NodeRoot::new(&global.root) {
        Ok(r) => r,
        Err(e) => return fail_early(events, workflow, format!("--root: {e}"), None),
    };
    let fs = match host_fs(config.dry_run()) {
        Ok(fs) => fs,
        Err(e) => {
            let message = format!("dry run: cannot make a staging directory: {e}");
            return fail_early(events, workflow, message, None);
        }
    };
    let skip = config.skip_phases().to_vec();
    let ctx = match context(config, root.clone(), &fs) {
        Ok(ctx) => ctx,
        Err(e) => return fail_early(events, workflow, e, None),
    };
    let selection = Selection {
        only,
        skip: &skip,
        resume: !args.no_resume,
    };
    run(tree, &ctx, &root, fs, selection, events).await
}
