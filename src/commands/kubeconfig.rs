//! `kubestrap kubeconfig user`.

use std::process::ExitCode;

use kubestrap_phases::HostFs;
use kubestrap_phases::config::GoDuration;
use kubestrap_phases::domain::pki::KeyPool;
use kubestrap_phases::domain::pki::kubeconfig::user_kubeconfig;

use super::{pki, report_result};
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
    let result = (|| {
        let validity = validity_period
            .as_deref()
            .map(|v| {
                v.parse::<GoDuration>()
                    .map(|d| d.as_duration())
                    .map_err(|e| format!("flag --validity-period: {e}"))
            })
            .transpose()?;
        let spec = pki::spec(global, args)?;
        let keys = KeyPool::empty(spec.key_algorithm);
        user_kubeconfig(&spec, &HostFs::real(), &keys, client_name, orgs, validity)
            .map_err(|e| e.to_string())
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
        Err(message) => fail_early(events, "kubeconfig user", message, None),
    }
}
