//! Text output: a spinner per running phase on a terminal, one line per phase everywhere —
//! except that phases skipped one after another as not applicable for one reason share a
//! line unless `-v` ([`SkippedRun`]).
//! Progress lines go to stderr; what the user asked for (the dry-run plan, the join command)
//! goes to stdout.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Answer, Event, EventSink, RunResult, SkipReason, Status};

pub(crate) struct TextSink {
    interactive: bool,
    /// `-v`: a line for every skipped phase, as the JSON events have them.
    each_skipped_phase: bool,
    current: Mutex<Option<ProgressBar>>,
    /// Not-applicable skips not printed yet (see [`SkippedRun`]).
    skipped: Mutex<SkippedRun>,
}

impl Default for TextSink {
    fn default() -> Self {
        Self::new(0)
    }
}

impl TextSink {
    /// `verbosity` is the count of `-v`: with any, every skipped phase gets its own line.
    pub(crate) fn new(verbosity: u8) -> Self {
        Self {
            interactive: std::io::stderr().is_terminal(),
            each_skipped_phase: verbosity > 0,
            current: Mutex::new(None),
            skipped: Mutex::new(SkippedRun::default()),
        }
    }

    /// Prints the pending run of not-applicable skips, if any, before anything else is shown.
    fn flush_skipped(&self) {
        let line = self
            .skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_line();
        if let Some(line) = line {
            self.line(&line);
        }
    }

    /// Prints a line above the spinner (or plainly, off a terminal).
    fn line(&self, text: &str) {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match current.as_ref() {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn take_bar(&self) -> Option<ProgressBar> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn result(&self, r: &RunResult) {
        if r.dry_run {
            let would_remove = r.would_remove();
            if let Some(removals) = would_remove {
                print_would_remove(&r.workflow, removals);
            }
            if would_remove.is_none() || !r.files.is_empty() {
                println!("[dry-run] files that would be written:");
            }
            for f in &r.files {
                println!("  {}  {:>7} bytes  {}", f.mode, f.bytes, f.path.display());
            }
            // Nothing is asked of the API under --dry-run, so every request a real run would
            // send is listed; none is found as wanted.
            let (changed, unchanged) = super::api_objects::split(&r.api_objects);
            for (objects, heading) in [
                (changed, "API objects that would be created or changed"),
                (unchanged, "API objects already as wanted"),
            ] {
                if !objects.is_empty() {
                    println!("[dry-run] {heading}:");
                }
                for o in objects {
                    let ns = o
                        .namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default();
                    println!("  {:?} {} {ns}{}", o.verb, o.kind, o.name);
                }
            }
            if let Some(staging) = r.staging() {
                println!("[dry-run] {staging}");
            }
        }
        if r.status == Status::Success {
            print_requested_outputs(&r.extra);
        }
        match r.status {
            Status::Success => eprintln!("{} finished successfully", r.workflow),
            Status::Failed => eprintln!(
                "{} failed{}",
                r.workflow,
                r.failed_phase
                    .as_deref()
                    .map(|p| format!(" in phase {p}; run it again to resume from there"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// A dry run's removals (reset's plan): each path, with what it is.
fn print_would_remove(workflow: &str, removals: &[serde_json::Value]) {
    println!("[dry-run] {workflow} would remove:");
    for r in removals {
        let field = |name: &str| r.get(name).and_then(serde_json::Value::as_str);
        println!(
            "  {}  ({})",
            field("path").unwrap_or_default(),
            field("kind").unwrap_or_default()
        );
    }
    if removals.is_empty() {
        println!("  nothing: no file kubestrap writes is on this node");
    }
}

/// What the user ran the command for (join commands, a generated certificate key), on
/// stdout. The only place these secrets are shown: the events before them never carry them.
fn print_requested_outputs(extra: &serde_json::Map<String, serde_json::Value>) {
    let field = |name: &str| extra.get(name).and_then(serde_json::Value::as_str);
    let control_plane = field("control_plane_join_command");
    if let Some(cmd) = control_plane {
        println!(
            "\nYou can now join any number of control-plane nodes by running the following on each as root:\n\n  {cmd}\n\nThe certificate key gives access to cluster sensitive data; keep it secret. The uploaded certificates are deleted in two hours.\n"
        );
    } else if let Some(key) = field("certificate_key") {
        println!("\n[upload-certs] Using certificate key:\n{key}\n");
    }
    if let Some(admin) = field("admin_kubeconfig") {
        println!(
            "\nThis node has joined the cluster and a new control plane instance was created:\n\n* Certificate signing request was sent to apiserver and approval was received.\n* The Kubelet was informed of the new secure connection details.\n* Control plane label and taint were applied to the new node.\n* The Kubernetes control plane instances scaled up.\n* A new etcd member was added to the local/stacked etcd cluster.\n\nTo start administering your cluster from this node, you need to run the following as a regular user:\n\n\tmkdir -p $HOME/.kube\n\tsudo cp -i {admin} $HOME/.kube/config\n\tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nRun 'kubectl get nodes' to see this node join the cluster.\n"
        );
    }
    if let Some(cmd) = field("join_command") {
        println!(
            "\nThen you can join any number of worker nodes by running the following on each as root:\n\n  {cmd}\n"
        );
    }
}

impl EventSink for TextSink {
    /// The text, as is, flushed; the JSON form is for tools.
    fn answer(&self, answer: Answer) -> std::io::Result<()> {
        if answer.text.is_empty() {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        out.write_all(answer.text.as_bytes())?;
        out.flush()
    }

    fn note(&self, line: &str) {
        self.flush_skipped();
        self.line(line);
    }

    fn emit(&self, event: Event) {
        let event = match event {
            Event::PhaseSkipped {
                phase,
                reason: SkipReason::NotApplicable,
                detail,
            } if !self.each_skipped_phase => {
                let ended = self
                    .skipped
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(phase, detail);
                if let Some(line) = ended {
                    self.line(&line);
                }
                return;
            }
            other => other,
        };
        self.flush_skipped();
        match event {
            Event::PhaseStarted { phase } => {
                if self.interactive {
                    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} [{prefix}] {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(phase);
                    bar.enable_steady_tick(Duration::from_millis(100));
                    *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
                }
            }
            Event::Progress { phase, message } => match self.current.lock() {
                Ok(guard) if guard.is_some() => {
                    if let Some(bar) = guard.as_ref() {
                        bar.set_message(message);
                    }
                }
                _ => eprintln!("[{phase}] {message}"),
            },
            Event::PhaseFinished { phase, duration_ms } => {
                if let Some(bar) = self.take_bar() {
                    bar.finish_and_clear();
                }
                eprintln!("✓ [{phase}] done in {duration_ms} ms");
            }
            Event::PhaseSkipped {
                phase,
                reason,
                detail,
            } => self.line(&skip_line(&phase, 1, reason, detail.as_deref())),
            Event::Warning { phase, message } => {
                let phase = phase.map(|p| format!("[{p}] ")).unwrap_or_default();
                // Preflight findings already carry kubeadm's `[WARNING <Check>]` tag.
                let tag = if message.starts_with("[WARNING") {
                    ""
                } else {
                    "[WARNING] "
                };
                self.line(&format!("{phase}{tag}{message}"));
            }
            Event::Error {
                phase,
                message,
                hint,
            } => {
                if let Some(bar) = self.take_bar() {
                    bar.finish_and_clear();
                }
                let phase = phase.map(|p| format!("[{p}] ")).unwrap_or_default();
                eprintln!("✗ error: {phase}{message}");
                if let Some(hint) = hint {
                    eprintln!("  hint: {hint}");
                }
            }
            Event::Result(r) => self.result(&r),
        }
    }
}

/// A run ends with the sink (a run's last event is its result, so this is only a safeguard).
impl Drop for TextSink {
    fn drop(&mut self) {
        self.flush_skipped();
    }
}

/// `- [phase] skipped (reason: detail)`, or for several `- [first … last] N phases skipped …`.
fn skip_line(phases: &str, count: usize, reason: SkipReason, detail: Option<&str>) -> String {
    let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
    let count = if count > 1 {
        format!("{count} phases ")
    } else {
        String::new()
    };
    format!("- [{phases}] {count}skipped ({}{detail})", reason.as_str())
}

/// Consecutive phases skipped as not applicable for the same reason, printed as one line
/// when the run ends: a worker join skips the 18 leaves of control-plane-prepare for one
/// reason, and 18 identical lines would bury the phases that ran. The JSON events and `-v`
/// keep one per phase.
#[derive(Debug, Default)]
struct SkippedRun {
    first: String,
    last: String,
    count: usize,
    detail: Option<String>,
}

impl SkippedRun {
    /// Adds a not-applicable phase; returns the line of the run it ends (another reason).
    fn push(&mut self, phase: String, detail: Option<String>) -> Option<String> {
        if self.count > 0 && self.detail == detail {
            self.last = phase;
            self.count += 1;
            return None;
        }
        let ended = self.take_line();
        *self = Self {
            first: phase.clone(),
            last: phase,
            count: 1,
            detail,
        };
        ended
    }

    /// The run's line, if it has any phase; the run is empty afterwards.
    fn take_line(&mut self) -> Option<String> {
        let run = std::mem::take(self);
        let phases = match run.count {
            0 => return None,
            1 => run.first,
            _ => format!("{} … {}", run.first, run.last),
        };
        Some(skip_line(
            &phases,
            run.count,
            SkipReason::NotApplicable,
            run.detail.as_deref(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROL_PLANE_ONLY: &str = "only a control-plane join (--control-plane) runs this phase";

    /// A worker join's not-applicable skips: a run for one reason is one line naming its
    /// first and last phase and how many; another reason (or any other event, which flushes
    /// the run) ends it; a run of one reads as the per-phase line always did.
    #[test]
    fn a_run_of_not_applicable_skips_for_one_reason_is_one_line() {
        let mut run = SkippedRun::default();
        let cp_only = || Some(CONTROL_PLANE_ONLY.to_string());
        let mut lines = Vec::new();
        for phase in [
            "control-plane-prepare/download-certs",
            "control-plane-prepare/certs/ca",
            "control-plane-prepare/control-plane/scheduler",
        ] {
            lines.extend(run.push(phase.to_string(), cp_only()));
        }
        assert_eq!(lines, Vec::<String>::new(), "nothing printed mid-run");
        lines.extend(run.push("etcd-join".into(), Some("external etcd".into())));
        lines.extend(run.take_line());
        lines.extend(run.push("wait-control-plane".into(), cp_only()));
        lines.extend(run.take_line());
        assert_eq!(
            lines,
            [
                format!(
                    "- [control-plane-prepare/download-certs … \
                     control-plane-prepare/control-plane/scheduler] 3 phases skipped \
                     (not-applicable: {CONTROL_PLANE_ONLY})"
                ),
                "- [etcd-join] skipped (not-applicable: external etcd)".to_string(),
                format!("- [wait-control-plane] skipped (not-applicable: {CONTROL_PLANE_ONLY})"),
            ]
        );
        assert_eq!(run.take_line(), None, "a flushed run prints nothing again");
    }
}
