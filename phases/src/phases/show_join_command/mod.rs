//! `show-join-command`: the commands that join workers and control planes to this cluster.
//!
//! The user runs `init` to get these, so this is the one place the bootstrap token (and, with
//! `--upload-certs`, the certificate key) leaves the process: they go to the run's final
//! `result` event and nowhere else — not into progress lines, errors or the journal.

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::config::token::BootstrapTokenString;
use crate::config::{CaCertHash, CertificateKey};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{PhaseError, Step};
use crate::domain::bootstrap_token::ca_cert_hash;

/// `result` fields the commands are handed to the engine under.
pub const JOIN_COMMAND_FIELD: &str = "join_command";
pub const CONTROL_PLANE_JOIN_COMMAND_FIELD: &str = "control_plane_join_command";

/// What the join commands are made of.
#[derive(Clone)]
pub struct JoinCommandSpec {
    /// `host:port` joining nodes reach the API server at: the control-plane endpoint when set,
    /// else this node's advertise address and bind port.
    pub endpoint: String,
    /// The first of the init's bootstrap tokens (kubeadm shows the first one).
    pub token: Option<BootstrapTokenString>,
    /// Host path of the cluster CA certificate, whose public key joining nodes pin.
    pub ca_cert: PathBuf,
    /// Set when the control-plane certificates were uploaded (`--upload-certs`).
    pub certificate_key: Option<CertificateKey>,
}

/// The phase's view of a context.
pub trait JoinCommandContext: Sync {
    fn join_command_spec(&self) -> JoinCommandSpec;
}

/// The two commands. Holds secrets: `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinCommands {
    pub worker: String,
    /// Present only when the certificates were uploaded; without them a control plane
    /// cannot join by command alone.
    pub control_plane: Option<String>,
}

impl fmt::Debug for JoinCommands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinCommands(<redacted>)")
    }
}

pub fn join_commands(
    endpoint: &str,
    token: &BootstrapTokenString,
    hash: &CaCertHash,
    certificate_key: Option<&CertificateKey>,
) -> JoinCommands {
    let worker = format!(
        "kubestrap join {endpoint} --token {} --discovery-token-ca-cert-hash {hash}",
        token.expose()
    );
    let control_plane = certificate_key.map(|key| {
        format!(
            "{worker} --control-plane --certificate-key {}",
            key.expose_hex()
        )
    });
    JoinCommands {
        worker,
        control_plane,
    }
}

/// `show-join-command`.
pub struct ShowJoinCommand;

#[async_trait]
impl<C: JoinCommandContext> Step<C> for ShowJoinCommand {
    fn name(&self) -> &'static str {
        "show-join-command"
    }

    fn help(&self) -> &'static str {
        "Print the commands that join workers and control planes; changes nothing."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fp.file(&ctx.join_command_spec().ca_cert);
    }

    /// The commands go to the result event of every run, including a resumed one.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.join_command_spec();
        let Some(token) = &spec.token else {
            return Err(PhaseError::with_hint(
                "no bootstrap token to put in the join command",
                "give one with --token or bootstrapTokens in the InitConfiguration",
            ));
        };
        let pem = fx.fs().read(&spec.ca_cert)?;
        let hash = ca_cert_hash(&spec.ca_cert, &pem).map_err(|e| {
            PhaseError::with_hint(e.to_string(), "run `kubestrap init phase certs ca` first")
        })?;
        let commands = join_commands(&spec.endpoint, token, &hash, spec.certificate_key.as_ref());
        fx.set_result_field(JOIN_COMMAND_FIELD, commands.worker.into());
        if let Some(cp) = commands.control_plane {
            fx.set_result_field(CONTROL_PLANE_JOIN_COMMAND_FIELD, cp.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "abcdef.0123456789abcdef";

    #[test]
    fn worker_and_control_plane_commands() {
        let token: BootstrapTokenString = TOKEN.parse().unwrap();
        let hash = CaCertHash::from_digest([0xab; 32]);
        let hex64 = "ab".repeat(32);
        let only_worker = join_commands("10.0.0.1:6443", &token, &hash, None);
        assert_eq!(
            only_worker.worker,
            format!(
                "kubestrap join 10.0.0.1:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:{hex64}"
            )
        );
        assert_eq!(only_worker.control_plane, None);
        let key: CertificateKey = "01".repeat(32).parse().unwrap();
        let both = join_commands("cp.example:6443", &token, &hash, Some(&key));
        assert_eq!(
            both.control_plane.as_deref(),
            Some(
                format!(
                    "{} --control-plane --certificate-key {}",
                    both.worker,
                    "01".repeat(32)
                )
                .as_str()
            )
        );
        assert!(!format!("{both:?}").contains(TOKEN));
    }
}
