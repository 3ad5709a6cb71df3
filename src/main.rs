//! kubestrap: bootstraps Kubernetes clusters, kubeadm-compatible.

mod cli;
mod commands;
mod engine;
mod output;
mod workflows;

use std::process::ExitCode;

use cli::Command;

#[tokio::main]
async fn main() -> ExitCode {
    let trees = cli::PhaseTrees {
        init: workflows::command_tree(&workflows::init::tree().nodes),
        join: workflows::command_tree(&workflows::join::tree().nodes),
        reset: workflows::command_tree(&workflows::reset::tree().nodes),
    };
    let parsed = match cli::parse(&trees) {
        Ok(p) => p,
        Err(e) => e.exit(),
    };
    let cli::Parsed { cli, phase } = parsed;
    init_logging(cli.global.verbose);
    let events = output::sink(cli.global.output.format(), cli.global.verbose);
    let events = events.as_ref();
    match &cli.command {
        Command::Init(args) | Command::Phase(args) => {
            workflows::init::run(&cli.global, args, phase.as_deref(), events).await
        }
        Command::Join(args) => {
            workflows::join::run(&cli.global, args, phase.as_deref(), events).await
        }
        Command::Token(cmd) => commands::token::run(cmd, &cli.global, events).await,
        Command::Certs(cmd) => commands::certs::run(cmd, &cli.global, events),
        Command::Kubeconfig(cmd) => commands::kubeconfig::run(cmd, &cli.global, events),
        Command::Config(cmd) => commands::config(cmd, events),
        Command::Reset(args) => {
            workflows::reset::run(&cli.global, args, phase.as_deref(), events).await
        }
        Command::Upgrade(cmd) => workflows::upgrade::run(&cli.global, cmd, events).await,
        Command::Doctor(args) => commands::doctor::run(&cli.global, args, events).await,
        Command::Version => commands::version::run(cli.global.output, events),
        Command::Completion { shell } => {
            let cmd = cli::command(&trees);
            commands::completion(*shell, cmd, cli.global.output.format(), events)
        }
    }
}

/// Logs go to stderr (stdout belongs to results and JSON events); `-v` raises the level,
/// `RUST_LOG` overrides it.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Join discovery's first fetch is unverified on purpose (its content is then checked
    // against the token's signature and the CA pins); kube-rs warns about that on every
    // fetch, which would only alarm the user.
    let directives = format!("{level},kube_client::client::tls=error");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
