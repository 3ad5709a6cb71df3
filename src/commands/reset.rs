//! `kubestrap reset`: undo what init or join did on this node (kubeadm's `reset`), as the
//! phases `preflight`, `remove-etcd-member`, `cleanup-node` and `verify`, each reported like
//! a workflow phase so `-o json` consumers follow it the same way. The logic is in
//! `kubestrap_phases::reset`; this is the order, the confirmation and the reporting.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kubestrap_phases::etcd::EtcdCluster;
use kubestrap_phases::kubelet;
use kubestrap_phases::reset::{self, Inventory, MemberOutcome, ResetOptions};
use kubestrap_phases::{HostFs, NodeRoot};
use serde_json::{Value, json};

use crate::cli::{GlobalArgs, ResetArgs};
use crate::output::{Event, EventSink, Format, RunResult, Status};
use crate::workflows::fail_early;

const WORKFLOW: &str = "reset";
/// How long reading the cluster's kubeadm-config may take, retries included: a node whose API
/// server is gone must still be reset quickly.
const CLUSTER_CONFIG_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the kubelet gets to stop the static pods once their manifests are gone.
const POD_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Each etcd membership call.
const ETCD_CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long transient etcd failures are retried (a member that just joined cannot be removed
/// until its peers have been connected for a few seconds).
const ETCD_PATIENCE: Duration = Duration::from_secs(30);

pub fn run(args: &ResetArgs, global: &GlobalArgs, events: &dyn EventSink) -> ExitCode {
    let root = match NodeRoot::new(&global.root) {
        Ok(r) => r,
        Err(e) => return fail_early(events, WORKFLOW, format!("--root: {e}"), None),
    };
    let config_file = match &args.config {
        Some(path) => match reset::load_config_file(path) {
            Ok(c) => Some(c),
            Err(e) => {
                return fail_early(
                    events,
                    WORKFLOW,
                    e,
                    Some("give the kubeadm configuration file init was given: reset reads its ClusterConfiguration".into()),
                );
            }
        },
        None => None,
    };
    let mut opts = ResetOptions {
        cert_dir: args.cert_dir.clone(),
        config_file,
        cluster: None,
    };
    let mut run = Run {
        events,
        text: global.output == Format::Text,
        extra: serde_json::Map::new(),
    };

    let inv = run.phase("preflight", |run| {
        match reset::cluster_configuration(&root, CLUSTER_CONFIG_TIMEOUT) {
            Ok(cluster) => opts.cluster = cluster,
            Err(e) => run.warn(
                "preflight",
                &format!(
                    "cannot read the cluster's ClusterConfiguration ({e}); the certificates and etcd data dirs come from --cert-dir, --config or the defaults"
                ),
            ),
        }
        let inv = reset::inventory(&root, &opts);
        for w in &inv.warnings {
            run.warn("preflight", w);
        }
        run.progress(
            "preflight",
            format!(
                "certificates dir {} ({})",
                inv.cert_dir.path.display(),
                inv.cert_dir.from
            ),
        );
        match &inv.etcd_data_dir {
            Some(d) => run.progress(
                "preflight",
                format!("etcd data dir {} ({})", d.path.display(), d.from),
            ),
            None => run.progress(
                "preflight",
                "etcd is external in the configuration: no etcd data on this node",
            ),
        }
        for r in &inv.refused {
            run.warn("preflight", &format!("will not remove {r}"));
        }
        run.extra.insert("certificates_dir".into(), json!(inv.cert_dir));
        run.extra
            .insert("etcd_data_dir".into(), json!(inv.etcd_data_dir));
        run.extra.insert("refused".into(), json!(inv.refused));
        Ok(inv)
    });
    let Ok(inv) = inv else {
        return ExitCode::FAILURE;
    };

    if global.dry_run {
        return run.dry_run(&inv);
    }
    if !args.force
        && let Err(message) = confirm(&root)
    {
        return fail_early(
            events,
            WORKFLOW,
            message,
            Some("pass --force to reset without asking".into()),
        );
    }

    // While the local etcd still runs: take its member out of a multi-member cluster.
    match &inv.etcd {
        None => events.emit(Event::PhaseSkipped {
            phase: "remove-etcd-member".into(),
            reason: crate::output::SkipReason::NotApplicable,
            detail: Some("no local etcd manifest on this node".into()),
        }),
        Some(etcd) => {
            let _ = run.phase("remove-etcd-member", |run| {
                run.remove_etcd_member(etcd);
                Ok(())
            });
        }
    }

    let cleaned = run.phase("cleanup-node", |run| {
        let done = run.cleanup(&inv, &root);
        // Refused targets fail the phase after everything else was done: the node is as
        // clean as reset may make it, and the error names what it would not touch.
        match (done, refusal(&inv)) {
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(refused)) => Err(PhaseFailure {
                message: refused,
                hint: REFUSAL_HINT,
            }),
            (Err(failed), None) => Err(failed),
            (Err(failed), Some(refused)) => Err(PhaseFailure {
                message: format!("{}; {refused}", failed.message),
                hint: REFUSAL_HINT,
            }),
        }
    });
    let verified = run.phase("verify", |run| run.verify(&inv, &opts));
    let status = if cleaned.is_ok() && verified.is_ok() {
        Status::Success
    } else {
        Status::Failed
    };
    let failed_phase = match (&cleaned, &verified) {
        (Err(()), _) => Some("cleanup-node".to_string()),
        (_, Err(())) => Some("verify".to_string()),
        _ => None,
    };
    run.extra
        .insert("not_cleaned".into(), json!(reset::not_cleaned(&root)));
    if run.text {
        print_not_cleaned(&root);
    }
    events.emit(Event::Result(RunResult {
        status,
        workflow: WORKFLOW.into(),
        dry_run: false,
        staging_dir: None,
        failed_phase,
        files: Vec::new(),
        api_objects: Vec::new(),
        extra: run.extra,
    }));
    match status {
        Status::Success => ExitCode::SUCCESS,
        Status::Failed => ExitCode::FAILURE,
    }
}

/// kubeadm asks before it resets; an answer other than y/yes, or none (end of input), stops.
/// Input is read even when it is not a terminal, as kubeadm does, so `yes | kubestrap reset`
/// works; only the prompt depends on a terminal.
fn confirm(root: &NodeRoot) -> Result<(), String> {
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
        Ok(0) | Err(_) => Err(if std::io::stdin().is_terminal() {
            "reset aborted: no answer".into()
        } else {
            "reset aborted: no confirmation on standard input".into()
        }),
        Ok(_) => match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => Err("reset aborted: the answer was not y".into()),
        },
    }
}

/// Why a reset phase failed, and what the user can do about it.
struct PhaseFailure {
    message: String,
    hint: &'static str,
}

impl From<String> for PhaseFailure {
    /// A failure that another run may get past.
    fn from(message: String) -> Self {
        Self {
            message,
            hint: "fix the cause and run `kubestrap reset` again: it removes what is left",
        }
    }
}

struct Run<'a> {
    events: &'a dyn EventSink,
    text: bool,
    extra: serde_json::Map<String, Value>,
}

impl Run<'_> {
    /// Runs one reset phase between its started/finished (or error) events.
    fn phase<T>(
        &mut self,
        name: &str,
        body: impl FnOnce(&mut Self) -> Result<T, PhaseFailure>,
    ) -> Result<T, ()> {
        self.events.emit(Event::PhaseStarted {
            phase: name.to_string(),
        });
        let started = Instant::now();
        match body(self) {
            Ok(v) => {
                self.events.emit(Event::PhaseFinished {
                    phase: name.to_string(),
                    duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
                Ok(v)
            }
            Err(PhaseFailure { message, hint }) => {
                self.events.emit(Event::Error {
                    phase: Some(name.to_string()),
                    message,
                    hint: Some(hint.into()),
                });
                Err(())
            }
        }
    }

    fn warn(&self, phase: &str, message: &str) {
        self.events.emit(Event::Warning {
            phase: Some(phase.to_string()),
            message: message.to_string(),
        });
    }

    fn progress(&self, phase: &str, message: impl Into<String>) {
        self.events.emit(Event::Progress {
            phase: phase.to_string(),
            message: message.into(),
        });
    }

    fn dry_run(mut self, inv: &Inventory) -> ExitCode {
        let would: Vec<Value> = inv
            .targets
            .iter()
            .map(|t| json!({ "path": t.path, "kind": t.kind }))
            .collect();
        self.extra
            .insert("would_remove".into(), Value::Array(would));
        if let Some(etcd) = &inv.etcd {
            self.extra.insert(
                "etcd_member".into(),
                json!(format!(
                    "would remove member {:?} from the etcd cluster at {} if other members remain",
                    etcd.member.name, etcd.client_url
                )),
            );
        }
        self.extra
            .insert("not_cleaned".into(), json!(reset::not_cleaned(&inv.root)));
        if self.text {
            println!("[dry-run] reset would remove:");
            for t in &inv.targets {
                let what = if t.kind.is_dir() { " (directory)" } else { "" };
                println!("  {}{what}", t.path.display());
            }
            if inv.targets.is_empty() {
                println!("  nothing: no file kubestrap writes is on this node");
            }
            if !inv.refused.is_empty() {
                println!("[dry-run] reset would refuse to remove:");
                for r in &inv.refused {
                    println!("  {r}");
                }
            }
            if let Some(etcd) = &inv.etcd {
                println!(
                    "[dry-run] and remove etcd member {:?} via {} when the cluster has other members",
                    etcd.member.name, etcd.client_url
                );
            }
            // What a real reset would leave, as a real reset says it at its end.
            print_not_cleaned(&inv.root);
        }
        // A dry run fails as the real reset would: what it refuses is named in the error.
        let refused = refusal(inv);
        if let Some(message) = &refused {
            self.events.emit(Event::Error {
                phase: Some("cleanup-node".into()),
                message: message.clone(),
                hint: Some(REFUSAL_HINT.into()),
            });
        }
        let (status, code) = match refused {
            None => (Status::Success, ExitCode::SUCCESS),
            Some(_) => (Status::Failed, ExitCode::FAILURE),
        };
        if self.text {
            // The text sink's dry-run summary lists files to be written; reset's plan is the
            // list above.
            eprintln!("reset (dry run) finished: nothing was removed");
            return code;
        }
        self.events.emit(Event::Result(RunResult {
            status,
            workflow: WORKFLOW.into(),
            dry_run: true,
            staging_dir: None,
            failed_phase: None,
            files: Vec::new(),
            api_objects: Vec::new(),
            extra: self.extra,
        }));
        code
    }

    /// Failures here are warnings, as in kubeadm: a node whose etcd is already gone must
    /// still be resettable; the warning says what to do by hand.
    fn remove_etcd_member(&mut self, etcd: &reset::LocalEtcd) {
        const PHASE: &str = "remove-etcd-member";
        let endpoints = vec![etcd.client_url.clone()];
        let outcome = EtcdCluster::connect(
            &HostFs::real(),
            endpoints,
            &etcd.credentials,
            ETCD_CALL_TIMEOUT,
        )
        .and_then(|client| {
            self.progress(
                PHASE,
                format!("asking {} for the member list", etcd.client_url),
            );
            reset::remove_this_member(&client, &etcd.member, ETCD_PATIENCE)
        });
        let said = match outcome {
            Ok(MemberOutcome::Removed { id, remaining }) => format!(
                "removed member {:?} (ID {id:x}) from the etcd cluster; {remaining} member(s) remain",
                etcd.member.name
            ),
            Ok(MemberOutcome::OnlyMember) => {
                "this node is the etcd cluster's only member: no member to remove".to_string()
            }
            Ok(MemberOutcome::NotAMember { members }) => format!(
                "the etcd cluster ({members} member(s)) does not list this node: nothing to remove"
            ),
            Err(e) => {
                let msg = format!(
                    "could not remove this node's etcd member: {e}; if the cluster has other members, remove it with `etcdctl member remove` on one of them"
                );
                self.warn(PHASE, &msg);
                msg
            }
        };
        self.progress(PHASE, &said);
        self.extra.insert("etcd_member".into(), json!(said));
    }

    fn cleanup(&mut self, inv: &Inventory, root: &NodeRoot) -> Result<(), PhaseFailure> {
        const PHASE: &str = "cleanup-node";
        let mut done = reset::remove_manifests(inv);
        if !inv.listeners.is_empty() {
            self.progress(
                PHASE,
                "static-pod manifests removed; waiting for the kubelet to stop the pods",
            );
            let still = reset::wait_until_stopped(&inv.listeners, POD_STOP_TIMEOUT, |up| {
                self.progress(PHASE, format!("still listening: {}", list(up)));
            });
            if !still.is_empty() {
                self.warn(
                    PHASE,
                    &format!(
                        "the static pods still listen on {} after {POD_STOP_TIMEOUT:?}: is the kubelet running? Their files are removed anyway",
                        list(&still)
                    ),
                );
            }
        }
        if root.is_system() {
            self.progress(PHASE, "stopping the kubelet (systemctl stop kubelet)");
            if let Err(e) = kubelet::systemctl_kubelet("stop") {
                self.warn(PHASE, &format!("the kubelet was not stopped: {e}"));
            }
        } else {
            self.progress(
                PHASE,
                format!(
                    "the host's kubelet is not touched: --root is {}, not /",
                    root.as_path().display()
                ),
            );
        }
        done.extend(reset::remove_the_rest(inv));
        for t in &done.removed {
            let what = if t.kind.is_dir() { " (directory)" } else { "" };
            self.progress(PHASE, format!("removed {}{what}", t.path.display()));
        }
        let removed: Vec<&PathBuf> = done.removed.iter().map(|t| &t.path).collect();
        self.extra.insert("removed".into(), json!(removed));
        let failed: Vec<Value> = done
            .failed
            .iter()
            .map(|e| json!({ "path": e.path, "error": e.source.to_string() }))
            .collect();
        self.extra.insert("failed".into(), Value::Array(failed));
        if done.failed.is_empty() {
            Ok(())
        } else {
            let errors: Vec<String> = done.failed.iter().map(ToString::to_string).collect();
            Err(format!("cannot remove: {}", errors.join("; ")).into())
        }
    }

    fn verify(&mut self, inv: &Inventory, opts: &ResetOptions) -> Result<(), PhaseFailure> {
        let left = reset::leftovers(inv);
        self.extra.insert("left".into(), json!(left));
        // Anything new since the inventory (a pod that wrote on its way out).
        let again = reset::inventory(&inv.root, opts);
        let mut left: Vec<PathBuf> = left;
        for t in again.targets {
            if !left.contains(&t.path) {
                left.push(t.path);
            }
        }
        if left.is_empty() {
            self.progress("verify", "nothing kubestrap wrote is left on this node");
            Ok(())
        } else {
            let names: Vec<String> = left.iter().map(|p| p.display().to_string()).collect();
            self.extra.insert("left".into(), json!(left));
            Err(format!("still there after reset: {}", names.join(", ")).into())
        }
    }
}

/// What to do about refused paths.
const REFUSAL_HINT: &str = "reset deletes only what init and join make, inside --root (docs/reset.md lists it); remove or fix the refused paths yourself, or point reset at the right directories with --cert-dir or --config";

/// The error naming every path reset refused, if any.
fn refusal(inv: &Inventory) -> Option<String> {
    if inv.refused.is_empty() {
        return None;
    }
    let each: Vec<String> = inv.refused.iter().map(ToString::to_string).collect();
    Some(format!(
        "refused to remove {} path(s) that are not what init or join made: {}",
        inv.refused.len(),
        each.join("; ")
    ))
}

/// kubeadm's closing notes on what reset does not clean, after a blank line (text output).
fn print_not_cleaned(root: &NodeRoot) {
    println!();
    for note in reset::not_cleaned(root) {
        println!("{note}");
    }
}

fn list(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
