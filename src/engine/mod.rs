//! The phase engine: runs a workflow's phases in order, honours `phase` filters and
//! `--skip-phases`, and resumes a failed run from its journal.
//!
//! It knows phases only through [`kubestrap_phases::Step`]: names, inputs, applicability and
//! `run`. What a phase writes reaches it as a record from [`kubestrap_phases::Effects`], which is
//! what goes into the journal; how anything is shown is the output layer's business.
//!
//! Resume rules (documented for users in docs/journal.md):
//! - a phase recorded `done` whose input fingerprint is unchanged and whose files still have the
//!   content it wrote is skipped as `completed`;
//! - a failed phase forgets every phase after it, so they all run again next time;
//! - a changed input changes the fingerprint of the phase that reads it; since phases fingerprint
//!   the *content* of the files they read, every phase depending on a re-made file re-runs too;
//! - a phase named explicitly (`init phase certs ca`) always runs.

/// The journal's format is the library's (reset reads it too); the engine writes it.
pub(crate) use kubestrap_phases::contract::journal;

use std::path::PathBuf;
use std::time::Instant;

use kubestrap_phases::contract::effects::{ApiChange, RemovedPath, WrittenFile};
use kubestrap_phases::{Applicability, Effects, Fingerprint, HostFs};
use time::OffsetDateTime;

use crate::output::{Event, EventSink, PhaseReporter, SkipReason, Status};
use journal::{Journal, JournalError, Output, PhaseRecord, PhaseState};
pub(crate) use kubestrap_phases::contract::tree::{self, Node, PhaseTree};

/// How one run selects and treats phases.
pub(crate) struct RunOptions {
    /// Run only this phase or group (`init phase …`); it runs even if completed before.
    pub only: Option<String>,
    /// Phase paths to skip, with their children.
    pub skip: Vec<String>,
    /// False with `--no-resume`: the old journal is ignored and overwritten.
    pub resume: bool,
    /// The filesystem view: real, or staged under `--dry-run`.
    pub fs: HostFs,
    /// Where the journal is read and written; `None` for a workflow that keeps none (reset,
    /// which removes the journals and re-examines the node on every run).
    pub journal_path: Option<PathBuf>,
}

impl RunOptions {
    fn dry_run(&self) -> bool {
        self.fs.staging_dir().is_some()
    }
}

/// What a run did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub status: Status,
    pub failed_phase: Option<String>,
    pub files: Vec<WrittenFile>,
    pub api_objects: Vec<ApiChange>,
    /// Paths removed (`Effects::remove`), or under `--dry-run` that would be.
    pub removed: Vec<RemovedPath>,
    /// Fields phases handed to the final `result` event (`Effects::set_result_field`).
    pub result_fields: serde_json::Map<String, serde_json::Value>,
}

/// Runs `tree` with `ctx`, emitting events to `events`. Only journal I/O errors are `Err`;
/// a failing phase is reported through events and `Outcome::status`.
pub(crate) async fn run<C: Sync>(
    tree: &PhaseTree<C>,
    ctx: &C,
    opts: &RunOptions,
    events: &dyn EventSink,
) -> Result<Outcome, JournalError> {
    let mut journal = match &opts.journal_path {
        Some(path) if opts.resume => Journal::load(path, tree.workflow)?,
        _ => Journal::new(tree.workflow),
    };
    // A run that has completed nothing, on a node without a journal, has nothing to resume:
    // it writes no journal, so bad input that fails the first phase leaves the node untouched.
    let had_journal = opts.journal_path.as_deref().is_some_and(|p| p.exists());
    let save = |j: &Journal| {
        let worth_keeping = had_journal || j.phases.values().any(|r| r.state == PhaseState::Done);
        match &opts.journal_path {
            Some(path) if worth_keeping && !opts.dry_run() => j.save(path),
            _ => Ok(()),
        }
    };
    let reporter = PhaseReporter(events);
    let mut outcome = Outcome {
        status: Status::Success,
        failed_phase: None,
        files: Vec::new(),
        api_objects: Vec::new(),
        removed: Vec::new(),
        result_fields: serde_json::Map::new(),
    };
    let leaves = tree.leaves();
    let selected = |path: &str| {
        opts.only
            .as_deref()
            .is_none_or(|only| tree::within(path, only))
    };
    let skipped_by_flag = |path: &str| opts.skip.iter().any(|s| tree::within(path, s));
    // What this invocation is going to run, handed to each phase (`Effects::plan`) so that
    // the first one can check what the later ones need and report every problem at once.
    let plan: Vec<String> = leaves
        .iter()
        .filter(|l| selected(&l.path) && !skipped_by_flag(&l.path))
        .filter(|l| l.step.applicability(ctx) == Applicability::Applies)
        .map(|l| l.path.clone())
        .collect();
    for (index, leaf) in leaves.iter().enumerate() {
        let path = leaf.path.as_str();
        if !selected(path) {
            continue;
        }
        let skip = |reason: SkipReason, detail: Option<String>, journal: &mut Journal| {
            journal.phases.insert(
                path.to_string(),
                PhaseRecord {
                    state: PhaseState::Skipped,
                    at: OffsetDateTime::now_utc(),
                    fingerprint: None,
                    outputs: Vec::new(),
                    error: None,
                },
            );
            events.emit(Event::PhaseSkipped {
                phase: path.to_string(),
                reason,
                detail,
            });
        };
        if skipped_by_flag(path) {
            skip(SkipReason::SkippedByFlag, None, &mut journal);
            save(&journal)?;
            continue;
        }
        if let Applicability::NotApplicable(why) = leaf.step.applicability(ctx) {
            skip(SkipReason::NotApplicable, Some(why), &mut journal);
            save(&journal)?;
            continue;
        }
        let mut fx = Effects::new(path, &opts.fs, &reporter).with_plan(&plan);
        let resolved = leaf.step.resolve_inputs(ctx, &mut fx).await;
        let mut fingerprint = Fingerprint::new(&opts.fs);
        leaf.step.inputs(ctx, &mut fingerprint);
        let fingerprint = fingerprint.finish();
        let completed = resolved.is_ok()
            && opts.resume
            && opts.only.is_none()
            && !leaf.step.always_run()
            && journal
                .phases
                .get(path)
                .is_some_and(|r| r.still_holds(&fingerprint));
        if completed {
            events.emit(Event::PhaseSkipped {
                phase: path.to_string(),
                reason: SkipReason::Completed,
                detail: None,
            });
            continue;
        }

        events.emit(Event::PhaseStarted {
            phase: path.to_string(),
        });
        let started = Instant::now();
        let result = match resolved {
            Ok(()) => leaf.step.run(ctx, &mut fx).await,
            Err(e) => Err(e),
        };
        outcome.result_fields.extend(fx.take_result_fields());
        outcome.removed.extend(fx.take_removed());
        let (files, api) = fx.into_record();
        let record = PhaseRecord {
            state: if result.is_ok() {
                PhaseState::Done
            } else {
                PhaseState::Failed
            },
            at: OffsetDateTime::now_utc(),
            fingerprint: Some(fingerprint),
            outputs: files.iter().map(Output::from).collect(),
            error: result.as_ref().err().map(ToString::to_string),
        };
        journal.phases.insert(path.to_string(), record);
        outcome.files.extend(files);
        // Phases that share a prerequisite object (ClusterRoleBinding kubeadm:cluster-admins)
        // each record it under --dry-run; the plan lists each change once.
        for change in api {
            if !outcome.api_objects.contains(&change) {
                outcome.api_objects.push(change);
            }
        }
        match result {
            Ok(()) => {
                save(&journal)?;
                events.emit(Event::PhaseFinished {
                    phase: path.to_string(),
                    duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            Err(err) => {
                journal.forget(leaves[index + 1..].iter().map(|l| l.path.as_str()));
                save(&journal)?;
                events.emit(Event::error(Some(path), &err));
                outcome.status = Status::Failed;
                outcome.failed_phase = Some(path.to_string());
                return Ok(outcome);
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests;
