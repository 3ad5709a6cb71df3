//! `kubestrap kubeconfig user`.

use std::process::ExitCode;

use kubestrap_phases::HostFs;
use kubestrap_phases::config::GoDuration;
use kubestrap_phases::domain::pki::KeyPool;
use kubestrap_phases::domain::pki::kubeconfig::user_kubeconfig;

use super::{CommandError, answer, exit, pki, result};
use crate::cli::{GlobalArgs, KubeconfigCommand};
use crate::output::{Answer, EventSink};

pub(crate) fn run(
    cmd: &KubeconfigCommand,
    global: &GlobalArgs,
    events: &dyn EventSink,
) -> ExitCode {
    let KubeconfigCommand::User {
        client_name,
        orgs,
        validity_period,
        pki: args,
    } = cmd;
    let command = "kubeconfig user";
    let outcome = (|| -> Result<(), CommandError> {
        let validity = validity_period
            .as_deref()
            .map(|v| {
                v.parse::<GoDuration>()
                    .map(|d| d.as_duration())
                    .map_err(|source| CommandError::Duration {
                        flag: "flag --validity-period",
                        source,
                    })
            })
            .transpose()?;
        let spec = pki::spec(global, args)?;
        let keys = KeyPool::empty(spec.key_algorithm);
        let yaml = user_kubeconfig(&spec, &HostFs::real(), &keys, client_name, orgs, validity)?;
        // The user asked for the kubeconfig, key included: printing it is the point.
        let done = result(command, None, [("kubeconfig", yaml.clone().into())]);
        answer(events, command, Answer::with_result(yaml, done))
    })();
    exit(events, command, outcome)
}
