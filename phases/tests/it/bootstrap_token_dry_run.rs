//! Under `--dry-run` the bootstrap-token phase plans every API object without an API server:
//! nothing is contacted (the configured endpoint has no server), and the plan lists the
//! token Secret, the RBAC and cluster-info.

use std::time::{Duration, Instant};

use kubestrap_phases::contract::effects::{ApiVerb, Silent};
use kubestrap_phases::domain::bootstrap_token::secret_name;
use kubestrap_phases::phases::bootstrap_token::{BootstrapTokenContext, BootstrapTokenPhase};
use kubestrap_phases::{Effects, HostFs, InitContext, Step};
use kubestrap_test_support::static_pods;

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_every_object_without_an_api_server() {
    let root = tempfile::tempdir().unwrap();
    // Nothing listens on 127.0.0.49:6443 in this test.
    // v1.37: the admin binding comes first and the API server's kubelet client is bound by
    // user (kubeadm:apiserver-kubelet-client).
    let ctx = static_pods::init_context(root.path(), "v1.37.0", "127.0.0.49", "");
    static_pods::run_steps(&ctx, &static_pods::init_steps()).await;
    let staging = tempfile::tempdir().unwrap();
    let fs = HostFs::staged(staging.path());
    let mut fx = Effects::new("bootstrap-token", &fs, &Silent);
    let start = Instant::now();
    Step::<InitContext>::run(&BootstrapTokenPhase, &ctx, &mut fx)
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let (files, api) = fx.into_record();
    assert!(files.is_empty());
    let plan: Vec<(ApiVerb, &str, Option<&str>, &str)> = api
        .iter()
        .map(|c| {
            (
                c.verb,
                c.kind.as_str(),
                c.namespace.as_deref(),
                c.name.as_str(),
            )
        })
        .collect();
    let token_id = ctx.bootstrap_token_spec().tokens[0].token.id().clone();
    let secret = secret_name(&token_id);
    assert_eq!(
        plan,
        [
            // The admin binding the phase would first make (kubeadm:cluster-admins).
            (
                ApiVerb::Create,
                "ClusterRoleBinding",
                None,
                "kubeadm:cluster-admins"
            ),
            (
                ApiVerb::Create,
                "Secret",
                Some("kube-system"),
                secret.as_str()
            ),
            (ApiVerb::Apply, "ClusterRole", None, "kubeadm:get-nodes"),
            (
                ApiVerb::Apply,
                "ClusterRoleBinding",
                None,
                "kubeadm:get-nodes"
            ),
            (
                ApiVerb::Apply,
                "ClusterRoleBinding",
                None,
                "kubeadm:kubelet-bootstrap"
            ),
            (
                ApiVerb::Apply,
                "ClusterRoleBinding",
                None,
                "kubeadm:node-autoapprove-bootstrap"
            ),
            (
                ApiVerb::Apply,
                "ClusterRoleBinding",
                None,
                "kubeadm:node-autoapprove-certificate-rotation"
            ),
            (
                ApiVerb::Apply,
                "Role",
                Some("kube-public"),
                "kubeadm:bootstrap-signer-clusterinfo"
            ),
            (
                ApiVerb::Apply,
                "RoleBinding",
                Some("kube-public"),
                "kubeadm:bootstrap-signer-clusterinfo"
            ),
            (
                ApiVerb::Apply,
                "ClusterRoleBinding",
                None,
                "kubeadm:apiserver-kubelet-client"
            ),
            (
                ApiVerb::Apply,
                "ConfigMap",
                Some("kube-public"),
                "cluster-info"
            ),
        ]
    );
}
