//! The commands that are not phase workflows: `config`, `token`, `certs`, `kubeconfig`,
//! `reset`, `version`, `completion`.

use std::process::ExitCode;

use crate::cli::{CertsCommand, ConfigCommand, KubeconfigCommand, PrintWhat, TokenCommand};
use crate::output::EventSink;
use crate::workflows::fail_early;

pub fn config(cmd: &ConfigCommand) -> ExitCode {
    use kubestrap_phases::config;
    let ConfigCommand::Print(what) = cmd;
    print!(
        "{}",
        match what {
            PrintWhat::InitDefaults => config::init_defaults_yaml(),
            PrintWhat::JoinDefaults => config::join_defaults_yaml(),
        }
    );
    ExitCode::SUCCESS
}

/// A command that later work implements: it fails, loudly, never pretends.
pub fn not_implemented(events: &dyn EventSink, command: &str, issue: u32) -> ExitCode {
    fail_early(
        events,
        command,
        format!("not implemented yet: `kubestrap {command}` is tracked in issue #{issue}"),
        None,
    )
}

pub fn token(cmd: &TokenCommand, events: &dyn EventSink) -> ExitCode {
    match cmd {
        TokenCommand::Create => not_implemented(events, "token create", 5),
        TokenCommand::List => not_implemented(events, "token list", 5),
        TokenCommand::Delete => not_implemented(events, "token delete", 5),
        TokenCommand::Generate => not_implemented(events, "token generate", 2),
    }
}

pub fn certs(cmd: &CertsCommand, events: &dyn EventSink) -> ExitCode {
    match cmd {
        CertsCommand::CheckExpiration => not_implemented(events, "certs check-expiration", 3),
        CertsCommand::Renew => not_implemented(events, "certs renew", 3),
        CertsCommand::GenerateCsr => not_implemented(events, "certs generate-csr", 3),
        CertsCommand::CertificateKey => not_implemented(events, "certs certificate-key", 3),
    }
}

pub fn kubeconfig(cmd: &KubeconfigCommand, events: &dyn EventSink) -> ExitCode {
    match cmd {
        KubeconfigCommand::User => not_implemented(events, "kubeconfig user", 3),
    }
}

pub fn version(json: bool) -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    if json {
        println!("{}", serde_json::json!({ "kubestrapVersion": version }));
    } else {
        println!("kubestrap version {version}");
    }
    ExitCode::SUCCESS
}

pub fn completion(shell: clap_complete::Shell, mut cmd: clap::Command) -> ExitCode {
    clap_complete::generate(shell, &mut cmd, "kubestrap", &mut std::io::stdout());
    ExitCode::SUCCESS
}
