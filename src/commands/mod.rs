//! The commands that are not phase workflows: `config`, `token`, `certs`, `kubeconfig`,
//! `version`, `completion`.

use std::process::ExitCode;

pub(crate) mod certs;
pub(crate) mod doctor;
mod error;
pub(crate) mod kubeconfig;
mod pki;
pub(crate) mod token;
pub(crate) mod version;

use kubestrap_phases::Effects;
use kubestrap_phases::contract::effects::{ApiChange, WrittenFile};
use serde_json::Value;

use crate::cli::{ConfigCommand, ImagesListArgs, ImagesWhat, PrintWhat};
use crate::output::{Answer, EventSink, Format, RunResult, StagingOutcome, Status};
use crate::workflows::{RunFs, fail_early, finish_staging};
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

    /// Ends the command's staging (removed unless `--dry-run-dir` keeps it), saying so.
    pub(crate) fn staged(mut self, fs: RunFs, events: &dyn EventSink) -> Self {
        self.staging = finish_staging(fs, events);
        self
    }
}

/// The `result` a command's `-o json` output ends with, as init's and join's does: what the
/// command wrote (files, API objects, whether it was a dry run and whether its staged files
/// were kept) and what the user ran it for (`fields`: the token, the kubeconfig, the paths),
/// so that every command's stdout is NDJSON that tools read alike. Only what the user asked
/// to see goes in `fields`: the events before it never carry a secret.
pub(crate) fn result<'f>(
    command: &str,
    written: Option<Written>,
    fields: impl IntoIterator<Item = (&'f str, Value)>,
) -> RunResult {
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
    result
}

/// Prints `answer` through the sink; a closed stdout fails `command`.
pub(crate) fn answer(
    events: &dyn EventSink,
    command: &'static str,
    answer: Answer,
) -> Result<(), CommandError> {
    events
        .answer(answer)
        .map_err(|source| CommandError::Stdout { command, source })
}

/// Ends a command: success, or its error reported as `command`'s failed result.
pub(crate) fn exit(
    events: &dyn EventSink,
    command: &str,
    result: Result<(), CommandError>,
) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_early(events, command, &e),
    }
}

/// `config print …`: kubeadm's YAML; with `-o json`, that YAML as the result's `config`.
/// `config images list`: one image per line; with `-o json`, kubeadm's Images object.
pub(crate) fn config(cmd: &ConfigCommand, events: &dyn EventSink) -> ExitCode {
    use kubestrap_phases::config;
    let what = match cmd {
        ConfigCommand::Print(what) => what,
        ConfigCommand::Images(ImagesWhat::List(args)) => {
            let command = "config images list";
            return exit(events, command, images_list(args, events, command));
        }
    };
    let (command, yaml) = match what {
        PrintWhat::InitDefaults => ("config print init-defaults", config::init_defaults_yaml()),
        PrintWhat::JoinDefaults => ("config print join-defaults", config::join_defaults_yaml()),
    };
    let done = result(command, None, [("config", yaml.clone().into())]);
    exit(
        events,
        command,
        answer(events, command, Answer::with_result(yaml, done)),
    )
}

fn images_list(
    args: &ImagesListArgs,
    events: &dyn EventSink,
    command: &'static str,
) -> Result<(), CommandError> {
    use kubestrap_phases::config;
    let flags = config::InitFlags {
        kubernetes_version: args.kubernetes_version.clone(),
        ..Default::default()
    };
    let mut cluster = config::load_cluster(args.config.as_deref(), &flags)?;
    if let Some(repository) = args.image_repository.as_deref().map(str::trim)
        && !repository.is_empty()
    {
        cluster.image_repository = repository.to_owned();
    }
    let images = config::images::images_list(&cluster);
    let shown = Answer {
        text: images.iter().map(|i| format!("{i}\n")).collect(),
        json: vec![Box::new(serde_json::json!({
            "kind": "Images",
            "apiVersion": "output.kubeadm.k8s.io/v1alpha1",
            "images": images,
        }))],
    };
    answer(events, command, shown)
}

/// The completion script; with `-o json`, the script as the result's `script`. Written
/// through a buffer so that a closed pipe is an error, not a panic in clap_complete.
///
/// In text output the script is written to stdout here, not through the sink: it is a
/// program for the shell, byte for byte clap_complete's, like `--help`'s text is clap's.
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
            let done = result("completion", None, [("script", script.into())]);
            let shown = Answer::with_result("", done);
            exit(events, "completion", answer(events, "completion", shown))
        }
        Format::Text => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            match out.write_all(&script).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    events.note(&format!(
                        "completion: cannot write the script to stdout: {e}"
                    ));
                    ExitCode::FAILURE
                }
            }
        }
    }
}
