//! `kubestrap token …`.

use std::process::ExitCode;

use kubestrap_phases::token::BootstrapTokenString;

use super::not_implemented;
use crate::cli::TokenCommand;
use crate::output::EventSink;

pub fn run(cmd: &TokenCommand, events: &dyn EventSink) -> ExitCode {
    match cmd {
        // The user asked for a token: printing it is the point.
        TokenCommand::Generate => {
            println!("{}", BootstrapTokenString::generate().expose());
            ExitCode::SUCCESS
        }
        TokenCommand::Create => not_implemented(events, "token create", 5),
        TokenCommand::List => not_implemented(events, "token list", 5),
        TokenCommand::Delete => not_implemented(events, "token delete", 5),
    }
}
