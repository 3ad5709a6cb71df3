//! What a phase does to the world, recorded as it happens.
//!
//! A phase never writes or removes a file or reports a warning directly: it goes through
//! [`Effects`], which performs the write or removal (for real, or under `--dry-run` staged or
//! only recorded) and remembers it. The
//! engine turns that record into the journal's list of outputs and the dry-run plan; the
//! binary turns warnings and progress into terminal lines or JSON events. The phase knows
//! about neither.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::contract::host::{FsError, HostFs, Mode};

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
    /// For a symlink ([`Effects::write_symlink`]): what it points at. `mode`, `bytes` and
    /// `sha256` are then those of the content read through the link, which is what a resumed
    /// run checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink_to: Option<PathBuf>,
}

/// One path a phase removed (or, under `--dry-run`, would remove): `reset`'s targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedPath {
    /// The host path, resolved under the node root.
    pub path: PathBuf,
    /// What it is, in the phase's words (`kubeconfig`, `etcd-member`, …).
    pub kind: String,
}

/// One API object a phase sent a request for (or, under `--dry-run`, would send one for), or
/// found already as wanted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ApiChange {
    /// The request sent; for an unchanged object, the one a change would have taken.
    pub verb: ApiVerb,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// False when the object was already as wanted and no request changed it: an apply whose
    /// live object holds every field, a token Secret already holding the token, a Node
    /// already labelled and tainted, a binding that exists, a delete of what is gone. Like
    /// [`WrittenFile::changed`], so a re-run reports what it did, not what it checked. Under
    /// `--dry-run` nothing is asked of the API, so every request a run would send is listed
    /// as changed. Records without the field (made before it existed) listed only requests.
    #[serde(default = "sent")]
    pub changed: bool,
}

fn sent() -> bool {
    true
}

impl ApiChange {
    /// A request that was sent (or, under `--dry-run`, would be).
    pub fn sent(
        verb: ApiVerb,
        kind: impl Into<String>,
        namespace: Option<&str>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            verb,
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
            changed: true,
        }
    }

    /// The same object, found already as wanted: no request changed it.
    pub fn unchanged(self) -> Self {
        Self {
            changed: false,
            ..self
        }
    }
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
    removed: Vec<RemovedPath>,
    result_fields: serde_json::Map<String, serde_json::Value>,
    plan: &'a [String],
}

impl<'a> Effects<'a> {
    pub fn new(phase: impl Into<String>, fs: &'a HostFs, reporter: &'a dyn Reporter) -> Self {
        Self {
            phase: phase.into(),
            fs,
            reporter,
            files: Vec::new(),
            api: Vec::new(),
            removed: Vec::new(),
            result_fields: serde_json::Map::new(),
            plan: &[],
        }
    }

    /// Tells the phase which phases this invocation is going to run (see [`Self::plan`]).
    pub fn with_plan(mut self, plan: &'a [String]) -> Self {
        self.plan = plan;
        self
    }

    /// The phase paths this invocation runs, in order, this one included: those selected by
    /// `phase …`, not skipped by flag and applicable (a resume may still find some completed).
    /// A phase uses it to check up front what later phases of the same run will need, so that
    /// one run reports every problem at once instead of one problem per run. Empty when the
    /// caller did not say (a library caller running a single phase).
    pub fn plan(&self) -> &'a [String] {
        self.plan
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
            symlink_to: None,
        });
        Ok(())
    }

    /// Points the symlink `link` at `target` atomically (made under a temporary name in the
    /// same directory, renamed over the old entry; staged under `--dry-run`), as the kubelet's
    /// certificate store keeps `kubelet-client-current.pem`. Recorded like a file, so the
    /// journal lists it and `reset` finds it: with the content and mode of `target` as the run
    /// sees it (a resumed run reads the link to check it still holds). `target` must have been
    /// written first. A link already pointing at `target` is left untouched.
    pub fn write_symlink(&mut self, link: &Path, target: &Path) -> Result<(), FsError> {
        let content = self.fs.read(target)?;
        let mode = file_mode(&self.fs.target(target))
            .or_else(|| file_mode(target))
            .unwrap_or(Mode(0));
        let unchanged = self.fs.read_link(link).as_deref() == Some(target);
        if !unchanged {
            self.fs.symlink(link, target)?;
        }
        self.files.push(WrittenFile {
            path: link.to_path_buf(),
            mode,
            bytes: content.len() as u64,
            sha256: hex::encode(Sha256::digest(&content)),
            changed: !unchanged,
            symlink_to: Some(target.to_path_buf()),
        });
        Ok(())
    }

    /// Removes the host path `path` (a `kind` of thing, for the record) with `remove`, which
    /// says how — unlink a file, take a directory tree apart without crossing mount points —
    /// and returns whether something was there; or, under `--dry-run`, removes nothing and
    /// reports whether something is there to remove. What was (or would be) removed is
    /// recorded, so the dry-run plan and the result list removals the same way, as they list
    /// written files. `Ok(false)`: nothing was there.
    pub fn remove(
        &mut self,
        path: &Path,
        kind: &str,
        remove: impl FnOnce(&Path) -> Result<bool, FsError>,
    ) -> Result<bool, FsError> {
        let removed = if self.is_dry_run() {
            path.symlink_metadata().is_ok()
        } else {
            remove(path)?
        };
        if removed {
            self.removed.push(RemovedPath {
                path: path.to_path_buf(),
                kind: kind.to_string(),
            });
        }
        Ok(removed)
    }

    /// The paths removed with [`Self::remove`], for the engine; leaves none behind.
    pub fn take_removed(&mut self) -> Vec<RemovedPath> {
        std::mem::take(&mut self.removed)
    }

    /// Records an API object the phase sent a request for, or found as wanted
    /// ([`ApiChange::changed`]); only after the request succeeded (or was found unneeded), so
    /// a failed request is never reported as done.
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
    fn a_symlink_is_recorded_with_what_it_points_at_and_staged_under_dry_run() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("var/lib/kubelet/pki");
        let (dated, current) = (pki.join("client-1.pem"), pki.join("current.pem"));
        let fs = HostFs::real();
        let mut fx = Effects::new("x", &fs, &Silent);
        fx.write_file(&dated, b"pair", Mode::PRIVATE).unwrap();
        fx.write_symlink(&current, &dated).unwrap();
        fx.write_symlink(&current, &dated).unwrap();
        assert_eq!(std::fs::read_link(&current).unwrap(), dated);
        let (files, _) = fx.into_record();
        let link = &files[1];
        assert_eq!(link.path, current);
        assert_eq!(link.symlink_to.as_deref(), Some(dated.as_path()));
        assert_eq!((link.mode, link.bytes), (Mode::PRIVATE, 4));
        assert_eq!(
            link.sha256, files[0].sha256,
            "the content read through the link"
        );
        assert!(
            link.changed && !files[2].changed,
            "an identical link is left alone"
        );

        // Dry run: the link lands in the staging dir, pointing at the host path.
        let stage = tempfile::tempdir().unwrap();
        let staged = HostFs::staged(stage.path());
        let other = pki.join("client-2.pem");
        let mut fx = Effects::new("x", &staged, &Silent);
        fx.write_file(&other, b"new pair", Mode::PRIVATE).unwrap();
        fx.write_symlink(&current, &other).unwrap();
        assert_eq!(
            std::fs::read_link(&current).unwrap(),
            dated,
            "host untouched"
        );
        assert_eq!(std::fs::read_link(staged.target(&current)).unwrap(), other);
        assert_eq!(staged.read_link(&current), Some(other.clone()));
        let (files, _) = fx.into_record();
        assert_eq!(files[1].bytes, 8, "the staged target's content");

        // A link to nothing is an error naming the target, and nothing is made.
        let fs = HostFs::real();
        let mut fx = Effects::new("x", &fs, &Silent);
        let missing = pki.join("missing.pem");
        let err = fx.write_symlink(&pki.join("l.pem"), &missing).unwrap_err();
        assert_eq!(err.path, missing);
        assert!(pki.join("l.pem").symlink_metadata().is_err());
    }

    #[test]
    fn an_api_record_says_whether_it_changed_the_object() {
        let sent = ApiChange::sent(ApiVerb::Apply, "ConfigMap", Some("kube-system"), "c");
        assert!(sent.changed);
        assert!(!sent.clone().unchanged().changed);
        let json = serde_json::to_value(sent.clone().unchanged()).unwrap();
        assert_eq!(json["changed"], false);
        assert_eq!(json["verb"], "apply");
        // A record from before the field existed listed only requests.
        let old: ApiChange = serde_json::from_value(serde_json::json!({
            "verb": "apply", "kind": "ConfigMap", "namespace": "kube-system", "name": "c"
        }))
        .unwrap();
        assert_eq!(old, sent);
    }

    #[test]
    fn a_removal_is_recorded_and_only_recorded_under_dry_run() {
        let dir = tempfile::tempdir().unwrap();
        let (file, gone) = (dir.path().join("admin.conf"), dir.path().join("gone"));
        std::fs::write(&file, "x").unwrap();
        let unlink = |p: &Path| {
            std::fs::remove_file(p)
                .map(|()| true)
                .map_err(|source| FsError {
                    path: p.to_path_buf(),
                    source,
                })
        };
        let stage = tempfile::tempdir().unwrap();
        let staged = HostFs::staged(stage.path());
        let mut fx = Effects::new("x", &staged, &Silent);
        assert!(fx.remove(&file, "kubeconfig", unlink).unwrap());
        assert!(!fx.remove(&gone, "kubeconfig", unlink).unwrap());
        assert!(file.exists(), "a dry run removes nothing");
        assert_eq!(fx.take_removed().len(), 1);

        let fs = HostFs::real();
        let mut fx = Effects::new("x", &fs, &Silent);
        assert!(fx.remove(&file, "kubeconfig", unlink).unwrap());
        assert!(!file.exists());
        let removed = fx.take_removed();
        assert_eq!(
            removed,
            [RemovedPath {
                path: file,
                kind: "kubeconfig".into()
            }]
        );
        assert!(fx.take_removed().is_empty());
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
