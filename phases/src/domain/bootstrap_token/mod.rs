//! Bootstrap tokens as the cluster stores and quotes them: the token Secret in kube-system
//! (kubeadm's `bootstrap-token-<id>`, read by the API server's token authenticator and the
//! bootstrap signer), cluster-info as the bootstrap signer signs it for each token, and the
//! join command with the CA pin a token is handed out with.

mod cluster_info;
mod join_command;
mod listing;
mod secret;

pub use cluster_info::{
    ClusterInfoError, ClusterInfoSource, KUBECONFIG_KEY, cluster_info_configmap,
    cluster_info_kubeconfig, cluster_info_source,
};
pub use join_command::{JoinCommandError, ca_cert_hash, join_command};
pub use listing::{TokenInfo, list_tokens, render_json, render_table};
pub(crate) use secret::KEY_EXPIRATION;
pub use secret::{BOOTSTRAP_TOKEN_SECRET_TYPE, same_token, secret_name, token_secret};
