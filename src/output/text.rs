//! Text output: a spinner per running phase on a terminal, one line per phase everywhere.
//! Progress lines go to stderr; what the user asked for (the dry-run plan, the join command)
//! goes to stdout.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, EventSink, RunResult, Status};

pub struct TextSink {
    interactive: bool,
    current: Mutex<Option<ProgressBar>>,
}

impl Default for TextSink {
    fn default() -> Self {
        Self::new()
    }
}

impl TextSink {
    pub fn new() -> Self {
        Self {
            interactive: std::io::stderr().is_terminal(),
            current: Mutex::new(None),
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
            println!("[dry-run] files that would be written:");
            for f in &r.files {
                println!("  {}  {:>7} bytes  {}", f.mode, f.bytes, f.path.display());
            }
            if !r.api_objects.is_empty() {
                println!("[dry-run] API objects that would be created or changed:");
                for o in &r.api_objects {
                    let ns = o
                        .namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default();
                    println!("  {:?} {} {ns}{}", o.verb, o.kind, o.name);
                }
            }
            if let Some(dir) = &r.staging_dir {
                println!("[dry-run] the would-be files are in {}", dir.display());
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
    fn emit(&self, event: Event) {
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
            } => {
                let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
                self.line(&format!(
                    "- [{phase}] skipped ({}{detail})",
                    reason.as_str()
                ));
            }
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
