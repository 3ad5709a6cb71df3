//! What a phase does to the world, recorded as it happens.
//!
//! A phase never writes a file or reports a warning directly: it goes through [`Effects`],
//! which performs the write (for real, or staged under `--dry-run`) and remembers it. The
//! engine turns that record into the journal's list of outputs and the dry-run plan; the
//! binary turns warnings and progress into terminal lines or JSON events. The phase knows
//! about neither.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::host::{FsError, HostFs, Mode};

/// Receives what a running phase has to say; implemented by the binary's output layer.
pub trait Reporter: Send + Sync {
    /// Something the user should know that does not stop the run.
    fn warning(&self, phase: &str, message: &str);
    /// The state of a long wait, in words: what is awaited and what it last answered.
    fn progress(&self, phase: &str, message: &str);
}

/// A reporter that drops everything; for tests and library callers that do not care.
pub struct Silent;

impl Reporter for Silent {
    fn warning(&self, _: &str, _: &str) {}
    fn progress(&self, _: &str, _: &str) {}
}

/// One file a phase wrote (or, under `--dry-run`, would write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WrittenFile {
    /// The host path, resolved under the node root.
    pub path: PathBuf,
    pub mode: Mode,
    pub bytes: u64,
    /// SHA-256 of the content, hex; lets a resumed run check the file still holds.
    pub sha256: String,
    /// False when the file already had exactly this content and mode and was left untouched.
    pub changed: bool,
}

/// One API object a phase created or changed (or would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ApiChange {
    pub verb: ApiVerb,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVerb {
    Create,
    Apply,
    Update,
    Patch,
    Delete,
}

/// The side-effect channel handed to a running phase.
pub struct Effects<'a> {
    phase: String,
    fs: &'a HostFs,
    reporter: &'a dyn Reporter,
    files: Vec<WrittenFile>,
    api: Vec<ApiChange>,
    result_fields: serde_json::Map<String, serde_json::Value>,
}

impl<'a> Effects<'a> {
    pub fn new(phase: impl Into<String>, fs: &'a HostFs, reporter: &'a dyn Reporter) -> Self {
        Self {
            phase: phase.into(),
            fs,
            reporter,
            files: Vec::new(),
            api: Vec::new(),
            result_fields: serde_json::Map::new(),
        }
    }

    /// The filesystem view of this run (staged under `--dry-run`).
    pub fn fs(&self) -> &'a HostFs {
        self.fs
    }

    pub fn is_dry_run(&self) -> bool {
        self.fs.staging_dir().is_some()
    }

    /// Writes a host file atomically with `mode`. A file that already has exactly this
    /// content and mode is left untouched, so re-running a phase does not churn mtimes (the
    /// kubelet restarts a static pod whose manifest is rewritten).
    pub fn write_file(&mut self, path: &Path, bytes: &[u8], mode: Mode) -> Result<(), FsError> {
        let unchanged = self.fs.read_if_exists(path)?.as_deref() == Some(bytes)
            && file_mode(&self.fs.target(path)).or_else(|| file_mode(path)) == Some(mode);
        if !unchanged {
            self.fs.write(path, bytes, mode)?;
        }
        self.files.push(WrittenFile {
            path: path.to_path_buf(),
            mode,
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            changed: !unchanged,
        });
        Ok(())
    }

    /// Records an API object the phase created or changed.
    pub fn record_api(&mut self, change: ApiChange) {
        self.api.push(change);
    }

    /// Hands a value to the run's final `result` event (e.g. `join_command`): what the user
    /// asked the run for, as opposed to a record of what it changed. A later phase setting the
    /// same field wins.
    pub fn set_result_field(&mut self, name: impl Into<String>, value: serde_json::Value) {
        self.result_fields.insert(name.into(), value);
    }

    /// The fields set with [`Self::set_result_field`], for the engine; leaves none behind.
    pub fn take_result_fields(&mut self) -> serde_json::Map<String, serde_json::Value> {
        std::mem::take(&mut self.result_fields)
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        self.reporter.warning(&self.phase, message.as_ref());
    }

    pub fn progress(&self, message: impl AsRef<str>) {
        self.reporter.progress(&self.phase, message.as_ref());
    }

    /// What the phase did, for the engine.
    pub fn into_record(self) -> (Vec<WrittenFile>, Vec<ApiChange>) {
        (self.files, self.api)
    }
}

fn file_mode(path: &Path) -> Option<Mode> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| Mode(m.permissions().mode() & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_rewrite_is_recorded_but_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let fs = HostFs::real();
        let p = dir.path().join("m.yaml");
        let mut fx = Effects::new("x", &fs, &Silent);
        fx.write_file(&p, b"a", Mode::PUBLIC).unwrap();
        fx.write_file(&p, b"a", Mode::PUBLIC).unwrap();
        fx.write_file(&p, b"b", Mode::PUBLIC).unwrap();
        let (files, _) = fx.into_record();
        let changed: Vec<bool> = files.iter().map(|f| f.changed).collect();
        assert_eq!(changed, [true, false, true]);
    }

    #[test]
    fn result_fields_are_taken_once_and_last_write_wins() {
        let fs = HostFs::real();
        let mut fx = Effects::new("x", &fs, &Silent);
        fx.set_result_field("join_command", "a".into());
        fx.set_result_field("join_command", "b".into());
        let taken = fx.take_result_fields();
        assert_eq!(taken["join_command"], "b");
        assert!(fx.take_result_fields().is_empty());
    }
}
