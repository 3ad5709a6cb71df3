//! Why a command that runs no phases (`token`, `certs`, `kubeconfig`) failed: each cause
//! typed, worded as the user typed the flag or argument, and reported by
//! [`crate::workflows::fail_early`] with the hint of the error it wraps.

use std::borrow::Cow;
use std::path::PathBuf;

use kubestrap_phases::Diagnostic;
use kubestrap_phases::config::token::TokenError;
use kubestrap_phases::config::{ConfigError, DurationError};
use kubestrap_phases::domain::apiclient::ApiError;
use kubestrap_phases::domain::bootstrap_token::{ClusterInfoError, JoinCommandError};
use kubestrap_phases::domain::pki::PkiError;
use kubestrap_phases::phases::certs::UnknownRenewTarget;

use crate::workflows::{RootError, StagingError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// A token, token id, usage or group argument that is not one; `arg` names it as kubeadm
    /// does (`argument TOKEN`, `flag --usages`).
    #[error("{arg}: {source}")]
    Token {
        arg: &'static str,
        #[source]
        source: TokenError,
    },
    /// A duration flag (`flag --ttl`, `flag --validity-period`) that is not a Go duration.
    #[error("{flag}: {source}")]
    Duration {
        flag: &'static str,
        #[source]
        source: DurationError,
    },
    #[error("flag --usages: at least one of signing, authentication is required")]
    NoUsage,
    /// `token create` was left with no token to create (a configuration always yields one).
    #[error("token create: no bootstrap token to create")]
    NoToken,
    #[error("flag --groups: extra groups need the authentication usage (--usages authentication)")]
    GroupsWithoutAuthentication,
    #[error("certs renew: {0}")]
    RenewTarget(#[source] UnknownRenewTarget),
    /// `--root` cannot be made absolute (where the token commands look for admin.conf).
    #[error("flag --root {}: {source}", root.display())]
    TokenRoot {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `id` is a token id; `deleted_before` the ids this run deleted before it.
    #[error(
        "bootstrap token {id:?} not found{}",
        match deleted_before.as_slice() {
            [] => String::new(),
            ids => format!(" (deleted before it: {})", serde_json::Value::from(ids.to_vec())),
        }
    )]
    TokenNotFound {
        id: String,
        deleted_before: Vec<String>,
    },
    /// What the command prints could not be written (a closed pipe).
    #[error("{command}: cannot write to stdout: {source}")]
    Stdout {
        command: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("token list: cannot encode a token: {0}")]
    EncodeToken(#[source] serde_json::Error),
    #[error("certs renew: cannot encode the result as JSON: {0}")]
    EncodeRenewed(#[source] serde_json::Error),
    #[error(transparent)]
    Root(#[from] RootError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    ClusterInfo(#[from] ClusterInfoError),
    #[error(transparent)]
    JoinCommand(#[from] JoinCommandError),
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// The hint of the library error a variant wraps; the command's own causes say it all.
impl Diagnostic for CommandError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Root(e) => e.hint(),
            Self::Config(e) => e.hint(),
            Self::Staging(e) => e.hint(),
            Self::Api(e) => e.hint(),
            Self::ClusterInfo(e) => e.hint(),
            Self::JoinCommand(e) => e.hint(),
            Self::Pki(e) => e.hint(),
            Self::Token { .. }
            | Self::Duration { .. }
            | Self::NoUsage
            | Self::NoToken
            | Self::GroupsWithoutAuthentication
            | Self::RenewTarget(_)
            | Self::TokenRoot { .. }
            | Self::TokenNotFound { .. }
            | Self::Stdout { .. }
            | Self::EncodeToken(_)
            | Self::EncodeRenewed(_) => None,
        }
    }
}
