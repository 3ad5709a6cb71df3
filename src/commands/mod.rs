//! The commands that are not phase workflows: `config`, `token`, `certs`, `kubeconfig`,
//! `reset`, `version`, `completion`.

use std::process::ExitCode;

pub mod certs;
pub mod kubeconfig;
mod pki;
pub mod reset;
pub mod token;

use crate::cli::{ConfigCommand, PrintWhat};

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
