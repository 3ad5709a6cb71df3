//! The commands that are not phase workflows: `config`, `token`, `certs`, `kubeconfig`,
//! `version`, `completion`.

use std::process::ExitCode;

pub(crate) mod certs;
mod error;
pub(crate) mod kubeconfig;
mod pki;
pub(crate) mod token;

use kubestrap_phases::Effects;
use kubestrap_phases::contract::effects::{ApiChange, WrittenFile};
use serde_json::Value;

use crate::cli::{ConfigCommand, PrintWhat};
use crate::output::{Event, EventSink, Format, RunResult, StagingOutcome, Status};
use crate::workflows::{RunFs, finish_staging};
pub(crate) use error::CommandError;

/// What a command wrote, taken from its [`Effects`] once its run is over, and what became of
/// its dry-run staging: ended before the report, so that the report says it truthfully.
pub(crate) struct Written {
    dry_run: bool,
    files: Vec<WrittenFile>,
    api_objects: Vec<ApiChange>,
    staging: Option<StagingOutcome>,
}

impl Written {
    pub(crate) fn of(fx: Effects<'_>) -> Self {
        let dry_run = fx.is_dry_run();
        let (files, api_objects) = fx.into_record();
        Self {
            dry_run,
            files,
            api_objects,
            staging: None,
        }
    }

    /// Ends the command's staging (removed unless `--dry-run-dir` keeps it).
    pub(crate) fn staged(mut self, fs: RunFs) -> Self {
        self.staging = finish_staging(fs);
        self
    }
}

/// Ends a command's `-o json` output the way init's and join's ends: a `result` event with
/// what the command wrote (files, API objects, whether it was a dry run and whether its staged
/// files were kept) and what the user ran it for (`fields`: the token, the kubeconfig, the
/// paths), so that every command's stdout is NDJSON that tools read alike. Only what the user
/// asked to see goes in `fields`: the events before it never carry a secret.
pub(crate) fn report_result<'f>(
    events: &dyn EventSink,
    command: &str,
    written: Option<Written>,
    fields: impl IntoIterator<Item = (&'f str, Value)>,
) {
    let mut result = RunResult {
        status: Status::Success,
        workflow: command.to_string(),
        dry_run: written.as_ref().is_some_and(|w| w.dry_run),
        staging_dir: None,
        failed_phase: None,
        files: Vec::new(),
        api_objects: Vec::new(),
        extra: fields
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
    };
    if let Some(written) = written {
        result.files = written.files;
        result.api_objects = written.api_objects;
        if let Some(staging) = written.staging {
            result.set_staging(staging);
        }
    }
    events.emit(Event::Result(result));
}

/// `config print …`: kubeadm's YAML; with `-o json`, that YAML as the result's `config`.
pub(crate) fn config(cmd: &ConfigCommand, output: Format, events: &dyn EventSink) -> ExitCode {
    use kubestrap_phases::config;
    let ConfigCommand::Print(what) = cmd;
    let (command, yaml) = match what {
        PrintWhat::InitDefaults => ("config print init-defaults", config::init_defaults_yaml()),
        PrintWhat::JoinDefaults => ("config print join-defaults", config::join_defaults_yaml()),
    };
    match output {
        Format::Text => print!("{yaml}"),
        Format::Json => report_result(events, command, None, [("config", yaml.into())]),
    }
    ExitCode::SUCCESS
}

pub(crate) fn version(json: bool) -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    if json {
        println!("{}", serde_json::json!({ "kubestrapVersion": version }));
    } else {
        println!("kubestrap version {version}");
    }
    ExitCode::SUCCESS
}

/// The completion script; with `-o json`, the script as the result's `script`. Written
/// through a buffer so that a closed pipe is an error, not a panic in clap_complete.
pub(crate) fn completion(
    shell: clap_complete::Shell,
    mut cmd: clap::Command,
    output: Format,
    events: &dyn EventSink,
) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kubestrap", &mut script);
    match output {
        Format::Json => {
            let script = String::from_utf8_lossy(&script).into_owned();
            report_result(events, "completion", None, [("script", script.into())]);
            ExitCode::SUCCESS
        }
        Format::Text => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            match out.write_all(&script).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("completion: cannot write the script to stdout: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
