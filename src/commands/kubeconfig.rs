//! `kubestrap kubeconfig user`.

use std::process::ExitCode;

use kubestrap_phases::HostFs;
use kubestrap_phases::config::GoDuration;
use kubestrap_phases::domain::pki::KeyPool;
use kubestrap_phases::domain::pki::kubeconfig::user_kubeconfig;

use super::{CommandError, pki, report_result};
use crate::cli::{GlobalArgs, KubeconfigCommand};
use crate::output::{EventSink, Format};
use crate::workflows::fail_early;

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
    let result = (|| -> Result<String, CommandError> {
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
        Ok(user_kubeconfig(
            &spec,
            &HostFs::real(),
            &keys,
            client_name,
            orgs,
            validity,
        )?)
    })();
    match result {
        Ok(yaml) => {
            // The user asked for the kubeconfig, key included: printing it is the point.
            match global.output {
                Format::Text => print!("{yaml}"),
                Format::Json => report_result(
                    events,
                    "kubeconfig user",
                    None,
                    [("kubeconfig", yaml.into())],
                ),
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail_early(events, "kubeconfig user", &e),
    }
}
