//! How a run shows itself: a line per phase with a spinner on a terminal, or NDJSON events
//! (`--output json`) that tools can follow. The engine and the workflows emit [`Event`]s; only
//! this module knows how they look.

mod json;
mod text;

use std::borrow::Cow;
use std::path::PathBuf;

use kubestrap_phases::Diagnostic;
use kubestrap_phases::contract::effects::{ApiChange, RemovedPath, WrittenFile};
use serde::Serialize;

pub(crate) use json::JsonSink;
pub(crate) use text::TextSink;

/// Why a phase did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SkipReason {
    /// Done by an earlier run with the same inputs, and its files still hold.
    Completed,
    /// `--skip-phases` or `skipPhases`.
    SkippedByFlag,
    /// Nothing to do in this configuration.
    NotApplicable,
}

impl SkipReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::SkippedByFlag => "skipped-by-flag",
            Self::NotApplicable => "not-applicable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Success,
    Failed,
}

/// The last event of a run: its outcome and what it did (or, under `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunResult {
    pub status: Status,
    pub workflow: String,
    pub dry_run: bool,
    /// Under `--dry-run`: where the would-be files are kept (`--dry-run-dir`); absent when
    /// they were removed at exit. Set with [`RunResult::set_staging`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staging_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<String>,
    pub files: Vec<WrittenFile>,
    /// Every API object the run sent a request for or found as wanted; serialised as
    /// `api_objects` (requests sent, or under `--dry-run` that would be) and
    /// `api_objects_unchanged` (already as wanted, no request changed them).
    #[serde(flatten, serialize_with = "api_objects::serialize")]
    pub api_objects: Vec<ApiChange>,
    /// Workflow-specific fields (the join command, …).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What became of a dry run's staged would-be files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StagingOutcome {
    /// Staged in a private temporary directory, removed before the result was reported.
    Removed,
    /// Kept in this directory (`--dry-run-dir`) for the user to inspect and remove.
    Kept(PathBuf),
}

/// What a person is told, after `[dry-run] `.
impl std::fmt::Display for StagingOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kept(dir) => write!(
                f,
                "the would-be files are kept in {} (0700): it may hold private keys, remove it \
                 when done",
                dir.display()
            ),
            Self::Removed => f.write_str(
                "the would-be files were staged in a private temporary directory, now removed \
                 (--dry-run-dir DIR keeps them)",
            ),
        }
    }
}

/// The result's field saying whether a dry run's staged files were kept.
const STAGING_KEPT: &str = "staging_kept";
/// The result's field listing a dry run's removals, `{path, kind}` each.
const WOULD_REMOVE: &str = "would_remove";
/// The result's field listing the paths a real run removed.
const REMOVED: &str = "removed";

impl RunResult {
    /// Reports a dry run's staging: `staging_kept` (false: removed at exit) and, when kept,
    /// `staging_dir`.
    pub(crate) fn set_staging(&mut self, outcome: StagingOutcome) {
        let kept = matches!(outcome, StagingOutcome::Kept(_));
        self.extra.insert(STAGING_KEPT.into(), kept.into());
        self.staging_dir = match outcome {
            StagingOutcome::Kept(dir) => Some(dir),
            StagingOutcome::Removed => None,
        };
    }

    /// Lists what the run removed (`removed`, the paths) or, under `--dry-run`, would remove
    /// (`would_remove`, `{path, kind}`: the plan says what each path is).
    pub(crate) fn set_removals(&mut self, removed: &[RemovedPath]) {
        let (field, list) = if self.dry_run {
            (WOULD_REMOVE, serde_json::json!(removed))
        } else {
            let paths: Vec<&PathBuf> = removed.iter().map(|r| &r.path).collect();
            (REMOVED, serde_json::json!(paths))
        };
        self.extra.insert(field.into(), list);
    }

    /// What a dry run would remove, as [`RunResult::set_removals`] listed it; `None` when
    /// the run lists no removals.
    pub(crate) fn would_remove(&self) -> Option<&Vec<serde_json::Value>> {
        self.extra.get(WOULD_REMOVE)?.as_array()
    }

    /// What [`RunResult::set_staging`] reported; `None` for a run that staged nothing.
    pub(crate) fn staging(&self) -> Option<StagingOutcome> {
        match self.extra.get(STAGING_KEPT)?.as_bool()? {
            true => self.staging_dir.clone().map(StagingOutcome::Kept),
            false => Some(StagingOutcome::Removed),
        }
    }
}

/// How a run's API records are reported: what it changed apart from what it found as wanted.
pub(crate) mod api_objects {
    use kubestrap_phases::contract::effects::ApiChange;
    use serde::ser::{SerializeMap, Serializer};

    /// The objects the run changed (requests sent, or under `--dry-run` that would be), and
    /// those it found as wanted and did not change. An object one phase changed and a later
    /// one found as wanted (ClusterRoleBinding kubeadm:cluster-admins, which every API phase
    /// ensures) was changed by the run: it is listed as changed only.
    pub(crate) fn split(records: &[ApiChange]) -> (Vec<&ApiChange>, Vec<&ApiChange>) {
        let same_object = |a: &ApiChange, b: &ApiChange| {
            (&a.kind, &a.namespace, &a.name) == (&b.kind, &b.namespace, &b.name)
        };
        let changed: Vec<&ApiChange> = records.iter().filter(|c| c.changed).collect();
        let mut unchanged: Vec<&ApiChange> = Vec::new();
        for c in records.iter().filter(|c| !c.changed) {
            if !changed.iter().chain(&unchanged).any(|o| same_object(o, c)) {
                unchanged.push(c);
            }
        }
        (changed, unchanged)
    }

    /// `api_objects` and `api_objects_unchanged`, as fields of the result event.
    pub(crate) fn serialize<S: Serializer>(records: &[ApiChange], s: S) -> Result<S::Ok, S::Error> {
        let (changed, unchanged) = split(records);
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("api_objects", &changed)?;
        map.serialize_entry("api_objects_unchanged", &unchanged)?;
        map.end()
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    PhaseStarted {
        phase: String,
    },
    PhaseFinished {
        phase: String,
        duration_ms: u64,
    },
    PhaseSkipped {
        phase: String,
        reason: SkipReason,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    Warning {
        #[serde(skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
        message: String,
    },
    Progress {
        phase: String,
        message: String,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
    Result(RunResult),
}

impl Event {
    /// The `error` event that reports `error`: its message, and its hint when it has one.
    /// Every error a user sees, a phase's or one before any phase ran, is made here.
    pub(crate) fn error(phase: Option<&str>, error: &dyn Diagnostic) -> Self {
        Event::Error {
            phase: phase.map(str::to_string),
            message: error.to_string(),
            hint: error.hint().map(Cow::into_owned),
        }
    }
}

/// What a command that runs no phases was run for (a token, a table, a kubeconfig): the text
/// a person reads on stdout, and what `-o json` prints instead, one NDJSON line per object
/// (the command's `result` event, or kubeadm's own output objects). Either may be empty: a
/// line `token delete` prints as it goes has no JSON form, its final result no text.
pub(crate) struct Answer {
    /// Printed as is.
    pub text: String,
    /// Serialised by the JSON sink, fields in their declared order.
    pub json: Vec<Box<dyn JsonObject>>,
}

/// An object `-o json` prints on a line of its own.
pub(crate) trait JsonObject {
    fn to_json_line(&self) -> serde_json::Result<String>;
}

impl<T: Serialize> JsonObject for T {
    fn to_json_line(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

impl Answer {
    /// Text only: what a person is told and JSON has no field for.
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            json: Vec::new(),
        }
    }

    /// `text` for a person; for `-o json`, `result` as the command's last event.
    pub(crate) fn with_result(text: impl Into<String>, result: RunResult) -> Self {
        Self {
            text: text.into(),
            json: vec![Box::new(Event::Result(result))],
        }
    }
}

/// Where events go. Shared with running phases (through [`PhaseReporter`]), hence `Sync`.
/// Everything a command shows goes through its sink; only `--help` and the completion
/// script (`completion`, text output) are written by clap and the command itself.
pub(crate) trait EventSink: Sync {
    fn emit(&self, event: Event);

    /// Prints a command's [`Answer`] in this sink's form; the error is stdout's (a closed
    /// pipe), for the command to report.
    fn answer(&self, answer: Answer) -> std::io::Result<()>;

    /// A line for a person on stderr, in text and JSON output alike: a command's warnings,
    /// what became of its dry-run staging.
    fn note(&self, line: &str);
}

/// Lets a phase's warnings and progress reach the sink without the phase knowing of it.
pub(crate) struct PhaseReporter<'a>(pub &'a dyn EventSink);

impl kubestrap_phases::Reporter for PhaseReporter<'_> {
    fn warning(&self, phase: &str, message: &str) {
        self.0.emit(Event::Warning {
            phase: Some(phase.to_string()),
            message: message.to_string(),
        });
    }

    fn progress(&self, phase: &str, message: &str) {
        self.0.emit(Event::Progress {
            phase: phase.to_string(),
            message: message.to_string(),
        });
    }
}

/// How the sink shows events and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json,
}

/// `--output` as typed: the sink's two formats, and the two forms only `version` prints
/// (kubeadm's `version -o short|yaml`); the command line refuses those for any other command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputArg {
    Text,
    Json,
    Short,
    Yaml,
}

impl OutputArg {
    /// The sink's format: `short` and `yaml` are text that `version` writes itself.
    pub(crate) fn format(self) -> Format {
        match self {
            Self::Json => Format::Json,
            Self::Text | Self::Short | Self::Yaml => Format::Text,
        }
    }

    /// Whether only `version` prints this form.
    pub(crate) fn is_version_only(self) -> bool {
        matches!(self, Self::Short | Self::Yaml)
    }
}

/// `verbosity` (the count of `-v`) decides whether text lists every skipped phase.
pub(crate) fn sink(format: Format, verbosity: u8) -> Box<dyn EventSink> {
    match format {
        Format::Text => Box::new(TextSink::new(verbosity)),
        Format::Json => Box::new(JsonSink),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubestrap_phases::contract::effects::ApiVerb;

    #[test]
    fn the_result_lists_changed_objects_apart_from_those_found_as_wanted() {
        let binding = ApiChange::sent(
            ApiVerb::Create,
            "ClusterRoleBinding",
            None,
            "kubeadm:cluster-admins",
        );
        let config = ApiChange::sent(
            ApiVerb::Apply,
            "ConfigMap",
            Some("kube-system"),
            "kubeadm-config",
        );
        let node = ApiChange::sent(ApiVerb::Patch, "Node", None, "n1");
        let result = RunResult {
            status: Status::Success,
            workflow: "init".into(),
            dry_run: false,
            staging_dir: None,
            failed_phase: None,
            files: Vec::new(),
            // The binding: made by one phase, found by the next ones.
            api_objects: vec![
                binding.clone(),
                config.clone().unchanged(),
                binding.clone().unchanged(),
                node.clone(),
                config.clone().unchanged(),
            ],
            extra: serde_json::Map::new(),
        };
        let json = serde_json::to_value(Event::Result(result)).unwrap();
        let names = |field: &str| -> Vec<(String, bool)> {
            json[field]
                .as_array()
                .unwrap_or_else(|| panic!("{field} in {json}"))
                .iter()
                .map(|o| {
                    (
                        o["name"].as_str().unwrap().to_string(),
                        o["changed"].as_bool().unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(
            names("api_objects"),
            [
                ("kubeadm:cluster-admins".to_string(), true),
                ("n1".to_string(), true)
            ]
        );
        assert_eq!(
            names("api_objects_unchanged"),
            [("kubeadm-config".to_string(), false)]
        );
        assert_eq!(json["event"], "result");
    }
}
