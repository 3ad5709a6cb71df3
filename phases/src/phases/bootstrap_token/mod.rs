//! The `bootstrap-token` phase and the `token` commands' cluster side.
//!
//! A bootstrap token is a Secret `kube-system/bootstrap-token-<id>` in kubeadm's exact format
//! (the API server's token authenticator and the controller-manager's bootstrap signer and
//! token cleaner read it). The phase also publishes ConfigMap `kube-public/cluster-info` (the
//! cluster's endpoint and CA, signed per token by the bootstrap signer) and the RBAC that
//! lets token holders join: read cluster-info anonymously, post CSRs, get them
//! auto-approved, read Nodes.

pub mod rbac;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;

use crate::config::token::TokenId;
use crate::config::well_known::KUBE_SYSTEM;
use crate::config::{BootstrapToken, KubeletClientAuthorization};
use crate::contract::effects::{ApiVerb, Effects};
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{PhaseError, Step};
use crate::domain::apiclient::{self, ApiClient, ApiError};
use crate::domain::bootstrap_token::{
    ClusterInfoError, cluster_info_configmap, cluster_info_source, secret_name, token_secret,
};

pub use rbac::{RbacObject, rbac_objects};

/// What the phase needs from the run: where the kubeconfigs are, the tokens, the API timeout.
#[derive(Debug, Clone)]
pub struct BootstrapTokenSpec {
    /// The kubeconfig directory (admin.conf, super-admin.conf), resolved under the root.
    pub kubeconfig_dir: PathBuf,
    pub tokens: Vec<BootstrapToken>,
    /// `timeouts.kubernetesAPICall`.
    pub api_timeout: Duration,
    /// How the cluster's API server is authorised at kubelets (one more binding when by user).
    pub kubelet_client: KubeletClientAuthorization,
}

/// Implemented by the contexts the phase runs in.
pub trait BootstrapTokenContext {
    fn bootstrap_token_spec(&self) -> BootstrapTokenSpec;
}

/// Creates (or leaves alone, recorded as unchanged, when it already holds the same token)
/// each token's Secret. A re-run does not extend the expiration of a token that already
/// exists, so running the phase again changes nothing.
pub async fn ensure_tokens(
    client: &ApiClient,
    fx: &mut Effects<'_>,
    tokens: &[BootstrapToken],
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    for token in tokens {
        let wanted = token_secret(token, now);
        let name = secret_name(token.token.id());
        if !fx.is_dry_run()
            && let Some(current) = client.get_opt::<Secret>(Some(KUBE_SYSTEM), &name).await?
            && crate::domain::bootstrap_token::same_token(&current, &wanted)
        {
            fx.record_api(
                apiclient::change::<Secret>(ApiVerb::Create, Some(KUBE_SYSTEM), &name).unchanged(),
            );
            continue;
        }
        client.create_or_update(fx, &wanted).await?;
    }
    Ok(())
}

/// `token create`: creates the token's Secret; a token whose id already exists is an error
/// (409), never a silent overwrite.
pub async fn create_token(
    client: &ApiClient,
    fx: &mut Effects<'_>,
    token: &BootstrapToken,
) -> Result<(), ApiError> {
    client
        .create(fx, &token_secret(token, time::OffsetDateTime::now_utc()))
        .await
}

/// Deletes a token's Secret; `Ok(false)` when there was none.
pub async fn delete_token(
    client: &ApiClient,
    fx: &mut Effects<'_>,
    id: &TokenId,
) -> Result<bool, ApiError> {
    client
        .delete::<Secret>(fx, Some(KUBE_SYSTEM), &secret_name(id))
        .await
}

/// Phase failures beyond the API's own.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapTokenError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    ClusterInfo(#[from] ClusterInfoError),
}

impl crate::contract::diagnostics::Diagnostic for BootstrapTokenError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            BootstrapTokenError::Api(e) => e.hint(),
            BootstrapTokenError::ClusterInfo(e) => e.hint(),
        }
    }
}

impl From<BootstrapTokenError> for PhaseError {
    fn from(e: BootstrapTokenError) -> Self {
        PhaseError::from_diagnostic(&e)
    }
}

/// Everything the phase creates, given an admin client.
pub async fn run_phase(
    spec: &BootstrapTokenSpec,
    client: &ApiClient,
    fx: &mut Effects<'_>,
) -> Result<(), BootstrapTokenError> {
    let source = cluster_info_source(fx.fs(), &spec.kubeconfig_dir.join(apiclient::ADMIN_CONF))?;
    ensure_tokens(client, fx, &spec.tokens, time::OffsetDateTime::now_utc()).await?;
    for object in rbac_objects(spec.kubelet_client) {
        object.apply(client, fx).await?;
    }
    client.apply(fx, &cluster_info_configmap(&source)).await?;
    Ok(())
}

/// `init phase bootstrap-token`.
pub struct BootstrapTokenPhase;

#[async_trait]
impl<C: BootstrapTokenContext + Sync> Step<C> for BootstrapTokenPhase {
    fn name(&self) -> &'static str {
        "bootstrap-token"
    }

    fn help(&self) -> &'static str {
        "Create the bootstrap token Secret, its RBAC bindings and ConfigMap kube-public/cluster-info."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.bootstrap_token_spec();
        fp.value("tokens", &spec.tokens)
            .value("kubelet_client", &spec.kubelet_client);
        fp.file(&spec.kubeconfig_dir.join(apiclient::ADMIN_CONF));
    }

    /// The objects live in the cluster, not in files the journal can check.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.bootstrap_token_spec();
        let fs = fx.fs().clone();
        let client =
            apiclient::admin_client(&fs, &spec.kubeconfig_dir, spec.api_timeout, fx).await?;
        run_phase(&spec, &client, fx).await?;
        Ok(())
    }
}
