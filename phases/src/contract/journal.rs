//! The journal: what each phase of the last init/join run did, so that the next run resumes
//! where the last one failed instead of starting over.
//!
//! One JSON file per workflow under `<root>/var/lib/kubestrap/` (`init.json`, `join.json`),
//! rewritten atomically after every phase, so a kill at any instant leaves either the previous
//! or the next complete journal. The format is documented in `docs/journal.md`.
//!
//! The format lives in the library, not in the engine that writes it, because `reset` reads
//! it too: what a journal records as written is what reset removes ([`recorded_outputs`]).
//! One definition of the directory and the records keeps the two from drifting apart.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::contract::diagnostics::{Diagnostic, hint};
use crate::contract::effects::WrittenFile;
use crate::contract::host::{self, HostFs, Mode, NodeRoot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Where the journals live (logical; resolved under the node root).
pub const JOURNAL_DIR: &str = "/var/lib/kubestrap";

/// Bumped when the format changes incompatibly; an unknown version is refused, not guessed.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub version: u32,
    pub workflow: String,
    /// Keyed by the phase's full name (`certs/ca`).
    pub phases: BTreeMap<String, PhaseRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseRecord {
    pub state: PhaseState,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Fingerprint of the inputs the phase ran with (absent for skipped phases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Files the phase wrote; a resumed run checks they still hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseState {
    Done,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub path: PathBuf,
    pub sha256: String,
}

impl From<&WrittenFile> for Output {
    fn from(f: &WrittenFile) -> Self {
        Self {
            path: f.path.clone(),
            sha256: f.sha256.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Fs(#[from] host::FsError),
    #[error("{}: not a kubestrap journal: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
}

/// Whatever is wrong with the journal, starting over is the way out.
impl Diagnostic for JournalError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        hint(
            "run again with --no-resume to start over (the journal is rewritten), or remove the file",
        )
    }
}

impl Journal {
    pub fn new(workflow: &str) -> Self {
        Self {
            version: FORMAT_VERSION,
            workflow: workflow.to_string(),
            phases: BTreeMap::new(),
        }
    }

    /// Where the journal of `workflow` lives under `root`.
    pub fn path(root: &NodeRoot, workflow: &str) -> PathBuf {
        root.resolve(JOURNAL_DIR).join(format!("{workflow}.json"))
    }

    /// Loads the journal, or an empty one when there is none yet.
    pub fn load(path: &Path, workflow: &str) -> Result<Self, JournalError> {
        let Some(bytes) = HostFs::real().read_if_exists(path)? else {
            return Ok(Self::new(workflow));
        };
        let corrupt = |reason: String| JournalError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let journal: Journal =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if journal.version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {} (this kubestrap reads {FORMAT_VERSION})",
                journal.version
            )));
        }
        if journal.workflow != workflow {
            return Err(corrupt(format!(
                "it records a `{}` run, not `{workflow}`",
                journal.workflow
            )));
        }
        Ok(journal)
    }

    /// Writes the journal atomically (0600); its directory, if missing, is made 0755 by
    /// [`host::write_atomic`] whatever the umask.
    pub fn save(&self, path: &Path) -> Result<(), JournalError> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| JournalError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        Ok(host::write_atomic(path, &bytes, Mode::PRIVATE)?)
    }

    /// Forgets the outcome of every phase in `later`: after a failure, the phases that follow
    /// it run again on the next attempt, whatever an older run recorded for them.
    pub fn forget<'a>(&mut self, later: impl IntoIterator<Item = &'a str>) {
        for name in later {
            self.phases.remove(name);
        }
    }
}

/// What reset needs of a journal: the paths its phases record as written, and nothing else.
/// Read leniently on purpose — any format version, any workflow, other fields missing or
/// unknown — because a journal of an older or newer kubestrap, or one edited by hand, still
/// names files that reset must find and vet (each path goes through reset's containment gate,
/// which refuses by name what is not init's or join's); only a file that is not a journal's
/// JSON shape at all is an error.
#[derive(Deserialize)]
struct Recorded {
    #[serde(default)]
    phases: BTreeMap<String, RecordedPhase>,
}

#[derive(Deserialize)]
struct RecordedPhase {
    #[serde(default)]
    outputs: Vec<RecordedOutput>,
}

#[derive(Deserialize)]
struct RecordedOutput {
    path: PathBuf,
}

/// Every path the journal at `path` records as written (its phases' `outputs`), in the order
/// the phases are named.
pub fn recorded_outputs(path: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let bytes = HostFs::real().read(path)?;
    let recorded: Recorded = serde_json::from_slice(&bytes).map_err(|e| JournalError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(recorded
        .phases
        .into_values()
        .flat_map(|p| p.outputs)
        .map(|o| o.path)
        .collect())
}

impl PhaseRecord {
    /// Whether this record lets a phase with `fingerprint` be skipped as completed: it ran to
    /// completion with the same inputs, and every file it wrote still has the content it wrote.
    pub fn still_holds(&self, fingerprint: &str) -> bool {
        self.state == PhaseState::Done
            && self.fingerprint.as_deref() == Some(fingerprint)
            && self.outputs.iter().all(|o| {
                std::fs::read(&o.path)
                    .map(|bytes| hex::encode(Sha256::digest(&bytes)) == o.sha256)
                    .unwrap_or(false)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(fp: &str, outputs: Vec<Output>) -> PhaseRecord {
        PhaseRecord {
            state: PhaseState::Done,
            at: OffsetDateTime::now_utc(),
            fingerprint: Some(fp.into()),
            outputs,
            error: None,
        }
    }

    #[test]
    fn round_trips_and_refuses_other_workflows_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("init.json");
        assert_eq!(Journal::load(&path, "init").unwrap(), Journal::new("init"));
        let mut j = Journal::new("init");
        j.phases.insert("certs/ca".into(), done("abc", vec![]));
        j.save(&path).unwrap();
        assert_eq!(Journal::load(&path, "init").unwrap(), j);
        assert!(matches!(
            Journal::load(&path, "join"),
            Err(JournalError::Corrupt { .. })
        ));
        std::fs::write(&path, b"{\"version\":1,").unwrap();
        let err = Journal::load(&path, "init").unwrap_err().to_string();
        assert!(err.contains("init.json"), "{err}");
    }

    #[test]
    fn recorded_outputs_are_read_from_any_journal_that_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("init.json");
        let mut j = Journal::new("init");
        let out = |p: &str| Output {
            path: PathBuf::from(p),
            sha256: "00".into(),
        };
        j.phases
            .insert("certs/ca".into(), done("fp", vec![out("/a"), out("/b")]));
        j.save(&path).unwrap();
        assert_eq!(
            recorded_outputs(&path).unwrap(),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        // Hand-made: no version, workflow, state or checksum; the paths still count.
        std::fs::write(&path, br#"{"phases":{"x":{"outputs":[{"path":"/c"}]}}}"#).unwrap();
        assert_eq!(recorded_outputs(&path).unwrap(), [PathBuf::from("/c")]);
        std::fs::write(&path, b"[1]").unwrap();
        let err = recorded_outputs(&path).unwrap_err().to_string();
        assert!(err.contains("init.json"), "{err}");
    }

    #[test]
    fn a_record_holds_only_while_its_outputs_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.crt");
        std::fs::write(&file, b"cert").unwrap();
        let rec = done(
            "fp",
            vec![Output {
                path: file.clone(),
                sha256: hex::encode(Sha256::digest(b"cert")),
            }],
        );
        assert!(rec.still_holds("fp"));
        assert!(!rec.still_holds("other"));
        std::fs::write(&file, b"changed").unwrap();
        assert!(!rec.still_holds("fp"));
        std::fs::remove_file(&file).unwrap();
        assert!(!rec.still_holds("fp"));
    }
}
