//! The contract between a phase and the engine that runs it.
//!
//! A [`Step`] is one leaf of the phase tree (`certs/ca`, `kubelet-start`, …). It is generic
//! over its context `C` — [`crate::context::InitContext`] or
//! [`crate::context::JoinContext`] — so each phase reads typed, already-validated
//! configuration instead of casting an untyped bag of run data.

use std::borrow::Cow;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::contract::diagnostics::{Diagnostic, hint};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::FsError;

/// Whether a phase has anything to do in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applicability {
    Applies,
    /// Nothing to do, and why (e.g. `etcd/local` with an external etcd).
    NotApplicable(String),
}

#[async_trait]
pub trait Step<C: Sync + ?Sized>: Send + Sync {
    /// kubeadm's name for this phase within its group (`ca`, `apiserver`, `preflight`).
    fn name(&self) -> &'static str;

    /// One sentence for `--help`: what the phase writes or changes.
    fn help(&self) -> &'static str;

    /// Whether the phase applies to this run; the default is that it always does.
    fn applicability(&self, _ctx: &C) -> Applicability {
        Applicability::Applies
    }

    /// Fetches what [`Step::inputs`] reads from outside the node (a control-plane join's
    /// cluster configuration), before the fingerprint is taken, so that a first run and a
    /// resume fingerprint the same facts. Nothing by default.
    async fn resolve_inputs(&self, _ctx: &C, _fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        Ok(())
    }

    /// Feeds everything the phase's result depends on: the configuration it uses and the
    /// files it reads. Two runs with the same fingerprint produce the same result.
    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>);

    /// Whether a run skipped as `completed` must still be re-run each time, because its
    /// result is not a file the journal can check (a wait, a live cluster check).
    fn always_run(&self) -> bool {
        false
    }

    /// Does the phase's work, through `fx` for every file and API change.
    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError>;
}

/// Why a phase failed. Each variant carries what the user needs to act on it.
#[derive(Debug, thiserror::Error)]
pub enum PhaseError {
    /// The phase is registered but later work will implement it.
    #[error("not implemented yet: {what} is tracked in issue #{issue}")]
    NotImplemented { what: &'static str, issue: u32 },

    #[error(transparent)]
    Fs(#[from] FsError),

    /// One or more preflight checks failed and were not ignored.
    #[error("[preflight] {count} check(s) failed: {summary}", count = .failures.len(), summary = .failures.join("; "))]
    Preflight { failures: Vec<String> },

    /// A file exists but is not what the configuration asks for.
    #[error("{}: {problem}", path.display())]
    Conflict {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// Anything else, with an optional hint on what to do.
    #[error("{message}")]
    Failed {
        message: String,
        hint: Option<String>,
    },
}

impl PhaseError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A phase's failure from another error: its message, and its hint.
    pub fn from_diagnostic(e: &dyn Diagnostic) -> Self {
        Self::Failed {
            message: e.to_string(),
            hint: e.hint().map(Cow::into_owned),
        }
    }
}

impl Diagnostic for PhaseError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::NotImplemented { .. } => hint(
                "skip this phase with --skip-phases, or run the phases that exist with `kubestrap init phase <name>`",
            ),
            Self::Fs(e) => e.hint(),
            Self::Preflight { .. } => hint(
                "fix the checks above, or ignore them by name with --ignore-preflight-errors=<name>,…",
            ),
            Self::Conflict { fix, .. } => Some(Cow::Borrowed(fix)),
            Self::Failed { hint, .. } => hint.as_deref().map(Cow::Borrowed),
        }
    }
}

/// A phase that a later issue implements: registered so that the tree, help and skip logic
/// are complete, and failing loudly so that no run ever reports a success it did not earn.
pub struct Pending {
    pub name: &'static str,
    pub help: &'static str,
    pub issue: u32,
}

#[async_trait]
impl<C: Sync + ?Sized> Step<C> for Pending {
    fn name(&self) -> &'static str {
        self.name
    }

    fn help(&self) -> &'static str {
        self.help
    }

    fn inputs(&self, _ctx: &C, _fp: &mut Fingerprint<'_>) {}

    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, _ctx: &C, _fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        Err(PhaseError::NotImplemented {
            what: "this phase",
            issue: self.issue,
        })
    }
}
