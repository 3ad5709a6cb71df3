//! Engine behaviour with fake phases: order, skip, filter, resume after a failure, resume with a
//! changed input, and re-running of dependents through the files they read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use kubestrap_phases::contract::step::Pending;
use kubestrap_phases::{Effects, Fingerprint, HostFs, Mode, PhaseError, Step};

use super::*;
use crate::output::{Event, EventSink, SkipReason, Status};

struct Ctx {
    dir: PathBuf,
    /// Configuration values; a phase fingerprints the one named after it.
    values: BTreeMap<&'static str, String>,
    fail: BTreeSet<&'static str>,
    ran: Mutex<Vec<&'static str>>,
    /// The plan (`Effects::plan`) each [`FileStep`] was handed, by phase name.
    plans: Mutex<Vec<(&'static str, Vec<String>)>>,
    /// What the "cluster" holds for [`RemoteStep`]; `None`: it cannot be reached.
    remote: Option<&'static str>,
    /// What [`RemoteStep::resolve_inputs`] fetched, once per run (per process).
    fetched: OnceLock<String>,
}

/// Writes `<dir>/<name>` from its config value and the content of the files it reads.
struct FileStep {
    name: &'static str,
    reads: &'static [&'static str],
}

impl FileStep {
    fn path(ctx: &Ctx, name: &str) -> PathBuf {
        ctx.dir.join(name)
    }
}

#[kubestrap_phases::async_trait]
impl Step<Ctx> for FileStep {
    fn name(&self) -> &'static str {
        self.name
    }
    fn help(&self) -> &'static str {
        "test step"
    }
    fn inputs(&self, ctx: &Ctx, fp: &mut Fingerprint<'_>) {
        fp.value("value", &ctx.values.get(self.name));
        for r in self.reads {
            fp.file(&Self::path(ctx, r));
        }
    }
    async fn run(&self, ctx: &Ctx, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        ctx.ran.lock().unwrap().push(self.name);
        ctx.plans
            .lock()
            .unwrap()
            .push((self.name, fx.plan().to_vec()));
        if ctx.fail.contains(self.name) {
            return Err(PhaseError::failed(format!(
                "{} was told to fail",
                self.name
            )));
        }
        let mut content = ctx.values.get(self.name).cloned().unwrap_or_default();
        for r in self.reads {
            content += &String::from_utf8(fx.fs().read(&Self::path(ctx, r))?).unwrap();
        }
        fx.write_file(
            &Self::path(ctx, self.name),
            content.as_bytes(),
            Mode::PUBLIC,
        )?;
        Ok(())
    }
}

/// A phase whose input lives in the "cluster": fetched by `resolve_inputs`, then fingerprinted.
struct RemoteStep;

#[kubestrap_phases::async_trait]
impl Step<Ctx> for RemoteStep {
    fn name(&self) -> &'static str {
        "remote"
    }
    fn help(&self) -> &'static str {
        "test step with a cluster-side input"
    }
    async fn resolve_inputs(&self, ctx: &Ctx, _fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let value = ctx
            .remote
            .ok_or_else(|| PhaseError::failed("the cluster cannot be reached"))?;
        ctx.fetched.get_or_init(|| value.to_string());
        Ok(())
    }
    fn inputs(&self, ctx: &Ctx, fp: &mut Fingerprint<'_>) {
        fp.value("remote", &ctx.fetched.get());
    }
    async fn run(&self, ctx: &Ctx, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        ctx.ran.lock().unwrap().push("remote");
        let value = ctx.fetched.get().cloned().unwrap_or_default();
        fx.write_file(&ctx.dir.join("remote"), value.as_bytes(), Mode::PUBLIC)?;
        Ok(())
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl EventSink for Recorder {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
    fn answer(&self, _: crate::output::Answer) -> std::io::Result<()> {
        unreachable!("the engine runs phases; only commands answer")
    }
    fn note(&self, _: &str) {
        unreachable!("the engine reports through events")
    }
}

impl Recorder {
    fn skipped(&self) -> Vec<(String, SkipReason)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::PhaseSkipped { phase, reason, .. } => Some((phase.clone(), *reason)),
                _ => None,
            })
            .collect()
    }
}

/// ca ← leaf (reads ca), other; then group b with one leaf c (reads nothing).
fn tree() -> PhaseTree<Ctx> {
    PhaseTree {
        workflow: "init",
        run_first: &[],
        nodes: vec![
            Node::group(
                "certs",
                "certs",
                vec![
                    Node::leaf(FileStep {
                        name: "ca",
                        reads: &[],
                    }),
                    Node::leaf(FileStep {
                        name: "leaf",
                        reads: &["ca"],
                    }),
                    Node::leaf(FileStep {
                        name: "other",
                        reads: &[],
                    }),
                ],
            ),
            Node::leaf(FileStep {
                name: "last",
                reads: &["leaf"],
            }),
        ],
    }
}

fn ctx(dir: &Path) -> Ctx {
    Ctx {
        dir: dir.to_path_buf(),
        values: [("ca", "A"), ("leaf", "L"), ("other", "O"), ("last", "Z")]
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect(),
        fail: BTreeSet::new(),
        ran: Mutex::new(Vec::new()),
        plans: Mutex::new(Vec::new()),
        remote: Some("v1"),
        fetched: OnceLock::new(),
    }
}

fn opts(dir: &Path) -> RunOptions {
    RunOptions {
        only: None,
        skip: vec![],
        resume: true,
        fs: HostFs::real(),
        journal_path: Some(dir.join("journal/init.json")),
    }
}

async fn go(ctx: &Ctx, opts: &RunOptions) -> (Outcome, Recorder, Vec<&'static str>) {
    let rec = Recorder::default();
    let outcome = run(&tree(), ctx, opts, &rec).await.unwrap();
    let ran = std::mem::take(&mut *ctx.ran.lock().unwrap());
    (outcome, rec, ran)
}

#[tokio::test]
async fn runs_in_tree_order_then_skips_everything_as_completed() {
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    let (out, _, ran) = go(&c, &opts(dir.path())).await;
    assert_eq!(out.status, Status::Success);
    assert_eq!(ran, ["ca", "leaf", "other", "last"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("last")).unwrap(),
        "ZLA"
    );

    let (out, rec, ran) = go(&c, &opts(dir.path())).await;
    assert_eq!(out.status, Status::Success);
    assert!(ran.is_empty(), "nothing re-runs: {ran:?}");
    assert!(
        rec.skipped()
            .iter()
            .all(|(_, r)| *r == SkipReason::Completed)
    );
    assert_eq!(rec.skipped().len(), 4);
}

#[tokio::test]
async fn skip_and_filter_select_phases_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    let mut o = opts(dir.path());
    o.skip = vec!["certs/other".into()];
    let (_, rec, ran) = go(&c, &o).await;
    assert_eq!(ran, ["ca", "leaf", "last"]);
    assert_eq!(
        rec.skipped(),
        [("certs/other".to_string(), SkipReason::SkippedByFlag)]
    );

    let mut o = opts(dir.path());
    o.only = Some("certs".into());
    let (_, _, ran) = go(&c, &o).await;
    assert_eq!(
        ran,
        ["ca", "leaf", "other"],
        "a named group runs even if done"
    );

    let mut o = opts(dir.path());
    o.skip = vec!["certs".into()];
    o.resume = false;
    let (_, rec, ran) = go(&c, &o).await;
    assert_eq!(ran, ["last"]);
    assert_eq!(rec.skipped().len(), 3);
}

/// Every phase is told what the whole invocation runs (selected, not skipped, applicable), so
/// the first one can check what later ones need.
#[tokio::test]
async fn each_phase_is_handed_the_plan_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    let mut o = opts(dir.path());
    o.skip = vec!["certs/other".into()];
    go(&c, &o).await;
    let plans = std::mem::take(&mut *c.plans.lock().unwrap());
    let want = ["certs/ca", "certs/leaf", "last"];
    assert_eq!(plans.len(), 3, "{plans:?}");
    assert!(plans.iter().all(|(_, p)| p == &want), "{plans:?}");

    let mut o = opts(dir.path());
    o.only = Some("certs".into());
    go(&c, &o).await;
    let plans = std::mem::take(&mut *c.plans.lock().unwrap());
    let first = plans.first().map(|(n, p)| (*n, p.clone()));
    assert_eq!(
        first,
        Some((
            "ca",
            vec![
                "certs/ca".to_string(),
                "certs/leaf".into(),
                "certs/other".into()
            ]
        )),
        "`phase certs` plans only its group"
    );
}

#[tokio::test]
async fn resumes_from_the_failed_phase_and_reruns_everything_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    go(&c, &opts(dir.path())).await; // a complete earlier run
    c.fail.insert("leaf");
    c.values.insert("leaf", "L2".into()); // changed input makes leaf run, and fail
    let (out, _, ran) = go(&c, &opts(dir.path())).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.failed_phase.as_deref(), Some("certs/leaf"));
    assert_eq!(ran, ["leaf"], "the run stops at the failure");

    c.fail.clear();
    let (out, rec, ran) = go(&c, &opts(dir.path())).await;
    assert_eq!(out.status, Status::Success);
    assert_eq!(
        ran,
        ["leaf", "other", "last"],
        "failed phase and all after it"
    );
    assert_eq!(
        rec.skipped(),
        [("certs/ca".to_string(), SkipReason::Completed)]
    );
}

/// A workflow without a journal (reset): nothing is read or written, and every phase runs on
/// every run, a second one included.
#[tokio::test]
async fn a_run_without_a_journal_path_keeps_none_and_runs_everything_again() {
    let dir = tempfile::tempdir().unwrap();
    let o = RunOptions {
        journal_path: None,
        ..opts(dir.path())
    };
    let c = ctx(dir.path());
    for _ in 0..2 {
        let (out, rec, ran) = go(&c, &o).await;
        assert_eq!(out.status, Status::Success);
        assert_eq!(ran, ["ca", "leaf", "other", "last"]);
        assert!(rec.skipped().is_empty());
    }
    assert!(!dir.path().join("journal").exists(), "no journal written");
}

/// Nothing done and no journal before: nothing to resume, so no journal is written. Once a
/// phase is done, the failure after it is recorded.
#[tokio::test]
async fn a_run_that_completed_nothing_writes_no_journal() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    let mut c = ctx(dir.path());
    c.fail.insert("ca");
    let (out, _, _) = go(&c, &o).await;
    assert_eq!(out.failed_phase.as_deref(), Some("certs/ca"));
    assert!(
        !o.journal_path.as_deref().is_some_and(Path::exists),
        "a journal of nothing"
    );

    c.fail = BTreeSet::from(["leaf"]);
    let (out, _, _) = go(&c, &o).await;
    assert_eq!(out.failed_phase.as_deref(), Some("certs/leaf"));
    assert!(
        o.journal_path.as_deref().is_some_and(Path::exists),
        "ca is done: the journal says so"
    );
}

#[tokio::test]
async fn a_changed_input_reruns_that_phase_and_its_dependents_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    go(&c, &opts(dir.path())).await;

    c.values.insert("ca", "A2".into());
    let (_, _, ran) = go(&c, &opts(dir.path())).await;
    assert_eq!(ran, ["ca", "leaf", "last"], "`other` reads nothing of ca");

    // A deleted output re-runs its phase; identical content leaves dependents alone.
    std::fs::remove_file(dir.path().join("other")).unwrap();
    let (_, _, ran) = go(&c, &opts(dir.path())).await;
    assert_eq!(ran, ["other"]);

    let (_, _, ran) = go(&c, &opts(dir.path())).await;
    assert!(ran.is_empty());
    let mut o = opts(dir.path());
    o.resume = false;
    let (_, _, ran) = go(&c, &o).await;
    assert_eq!(ran.len(), 4, "--no-resume starts over");
}

#[tokio::test]
async fn pending_phases_fail_loudly_and_dry_runs_leave_no_journal() {
    let dir = tempfile::tempdir().unwrap();
    let stage = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    let tree = PhaseTree {
        workflow: "init",
        run_first: &[],
        nodes: vec![
            Node::leaf(FileStep {
                name: "ca",
                reads: &[],
            }),
            Node::leaf(Pending {
                name: "later",
                help: "later",
                issue: 99,
            }),
        ],
    };
    let mut o = opts(dir.path());
    o.fs = HostFs::staged(stage.path());
    let rec = Recorder::default();
    let out = run(&tree, &c, &o, &rec).await.unwrap();
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.failed_phase.as_deref(), Some("later"));
    let events = rec.0.lock().unwrap();
    let msg = events
        .iter()
        .find_map(|e| match e {
            Event::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        msg.contains("not implemented yet") && msg.contains("#99"),
        "{msg}"
    );
    assert!(!dir.path().join("ca").exists(), "dry run wrote to the host");
    assert!(
        !o.journal_path.as_deref().is_some_and(Path::exists),
        "dry run wrote a journal"
    );
    assert_eq!(out.files.len(), 1);
    assert!(HostFs::staged(stage.path()).exists(&dir.path().join("ca")));
}

/// A cluster-side input is fetched before the fingerprint, in every run: a new process (which
/// has fetched nothing yet) resumes past the phase, a changed value re-runs it, and a failed
/// fetch fails the phase without running it.
#[tokio::test]
async fn cluster_side_inputs_are_resolved_before_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let remote_tree = || PhaseTree {
        workflow: "join",
        run_first: &[],
        nodes: vec![Node::leaf(RemoteStep)],
    };
    let go_remote = |remote: Option<&'static str>| {
        let c = Ctx {
            remote,
            ..ctx(dir.path())
        };
        let o = opts(dir.path());
        let tree = remote_tree();
        async move {
            let rec = Recorder::default();
            let outcome = run(&tree, &c, &o, &rec).await.unwrap();
            let ran = std::mem::take(&mut *c.ran.lock().unwrap());
            (outcome, rec, ran)
        }
    };
    let (out, _, ran) = go_remote(Some("v1")).await;
    assert_eq!((out.status, ran), (Status::Success, vec!["remote"]));

    let (out, rec, ran) = go_remote(Some("v1")).await;
    assert_eq!(out.status, Status::Success);
    assert!(
        ran.is_empty(),
        "a resume with the same cluster value re-ran: {ran:?}"
    );
    assert_eq!(
        rec.skipped(),
        [("remote".to_string(), SkipReason::Completed)]
    );

    let (_, _, ran) = go_remote(Some("v2")).await;
    assert_eq!(ran, ["remote"], "a changed cluster value re-runs the phase");

    let (out, _, ran) = go_remote(None).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.failed_phase.as_deref(), Some("remote"));
    assert!(
        ran.is_empty(),
        "run must not be called after a failed fetch"
    );
}
