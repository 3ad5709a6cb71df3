//! `kubestrap-testbed run-static-pods --root R [--log-dir D]`: runs the static pods of a
//! node root until SIGTERM/SIGINT/SIGHUP, then stops them all.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kubestrap_testbed::{Runner, RunnerConfig};
use nix::sys::signal::{SigSet, Signal};

#[derive(Parser)]
#[command(
    name = "kubestrap-testbed",
    about = "Test-bed stand-ins for what a node runs besides kubestrap"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run each static pod in <root>/etc/kubernetes/manifests as local processes, as the
    /// kubelet would (no restarts); manifests that appear later are picked up.
    RunStaticPods {
        /// The node root (kubestrap's --root).
        #[arg(long)]
        root: PathBuf,
        /// Where each pod's log goes [default: <root>/var/log/kubestrap-testbed].
        #[arg(long)]
        log_dir: Option<PathBuf>,
        /// Directory put in front of PATH for the pods (repeatable).
        #[arg(long = "path-prefix")]
        path_prefix: Vec<PathBuf>,
        /// Seconds between SIGTERM and SIGKILL when stopping a pod.
        #[arg(long, default_value_t = 5)]
        stop_grace_seconds: u64,
    },
}

fn main() -> ExitCode {
    let Cmd::RunStaticPods {
        root,
        log_dir,
        path_prefix,
        stop_grace_seconds,
    } = Cli::parse().command;

    // Block the stop signals before any thread exists, so every thread inherits the mask
    // and the main thread alone takes them with sigwait. (Children get an empty mask: the
    // standard library resets it between fork and exec.)
    let mut stop_signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        stop_signals.add(s);
    }
    if let Err(e) = stop_signals.thread_block() {
        eprintln!("kubestrap-testbed: cannot block the stop signals: {e}");
        return ExitCode::FAILURE;
    }

    let mut config = RunnerConfig::new(&root);
    config.log_dir = log_dir;
    config.path_prefix = path_prefix;
    config.stop_grace = Duration::from_secs(stop_grace_seconds);
    config.on_event = Some(Arc::new(|e| eprintln!("kubestrap-testbed: {e}")));
    let runner = match Runner::start(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kubestrap-testbed: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "kubestrap-testbed: running the static pods of {} (logs in {}); stop with SIGTERM or Ctrl-C",
        root.display(),
        runner.log_dir().display()
    );
    match stop_signals.wait() {
        Ok(sig) => eprintln!("kubestrap-testbed: {sig}: stopping the pods"),
        Err(e) => eprintln!("kubestrap-testbed: sigwait failed ({e}): stopping the pods"),
    }
    runner.stop();
    eprintln!("kubestrap-testbed: all pods stopped");
    ExitCode::SUCCESS
}
