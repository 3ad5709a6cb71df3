//! The bootstrap-token phase and the token library against a real kube-apiserver and
//! kube-controller-manager v1.20.2 (+ etcd 3.4): the objects exist in kubeadm's format, the
//! real bootstrap signer signs cluster-info for our tokens and our verifier accepts its
//! signatures, anonymous access is limited to cluster-info, deleting a token withdraws its
//! signature, and a second run changes nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::core::ObjectMeta;
use kubestrap_phases::config::token::{BootstrapTokenString, TokenGroup, TokenId, TokenUsage};
use kubestrap_phases::config::{BootstrapToken, GoDuration, TokenExpiry};
use kubestrap_phases::contract::effects::{ApiVerb, Silent};
use kubestrap_phases::domain::apiclient::ApiClient;
use kubestrap_phases::domain::bootstrap_token::list_tokens;
use kubestrap_phases::domain::bootstrap_token::secret_name;
use kubestrap_phases::domain::jws;
use kubestrap_phases::phases::bootstrap_token::{
    BootstrapTokenContext, BootstrapTokenPhase, create_token, delete_token,
};
use kubestrap_phases::{Effects, HostFs, InitContext, Step};
use kubestrap_test_support::control_plane::{curl, start_control_plane_with_split_admins};

/// The requests the phase sent (objects it found as wanted are recorded as unchanged).
async fn run_phase(ctx: &InitContext) -> Vec<(ApiVerb, String, String)> {
    let fs = HostFs::real();
    let mut fx = Effects::new("bootstrap-token", &fs, &Silent);
    Step::<InitContext>::run(&BootstrapTokenPhase, ctx, &mut fx)
        .await
        .unwrap_or_else(|e| panic!("bootstrap-token: {e}"));
    fx.into_record()
        .1
        .into_iter()
        .filter(|c| c.changed)
        .map(|c| (c.verb, c.kind, c.name))
        .collect()
}

/// Polls cluster-info until `id`'s signature is present (or absent), at most 30 s.
async fn wait_signature(
    admin: &ApiClient,
    id: &TokenId,
    present: bool,
) -> (String, Option<String>) {
    let key = jws::signature_key(id);
    let start = Instant::now();
    loop {
        let cm: ConfigMap = admin
            .get_opt(Some("kube-public"), "cluster-info")
            .await
            .unwrap()
            .expect("cluster-info exists");
        let data = cm.data.unwrap_or_default();
        let sig = data.get(&key).cloned();
        if sig.is_some() == present {
            return (data["kubeconfig"].clone(), sig);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{key} still {} after 30 s; keys: {:?}",
            if present { "absent" } else { "present" },
            data.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn versions(admin: &ApiClient, token_id: &TokenId) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, rv: Option<String>| {
        out.insert(k.to_string(), rv.expect(k));
    };
    let secret: Option<Secret> = admin
        .get_opt(Some("kube-system"), &secret_name(token_id))
        .await
        .unwrap();
    put("secret", secret.and_then(|s| s.resource_version()));
    let cm: Option<ConfigMap> = admin
        .get_opt(Some("kube-public"), "cluster-info")
        .await
        .unwrap();
    put("cluster-info", cm.and_then(|s| s.resource_version()));
    let cr: Option<ClusterRole> = admin.get_opt(None, "kubeadm:get-nodes").await.unwrap();
    put("cr get-nodes", cr.and_then(|s| s.resource_version()));
    for name in [
        "kubeadm:get-nodes",
        "kubeadm:kubelet-bootstrap",
        "kubeadm:node-autoapprove-bootstrap",
        "kubeadm:node-autoapprove-certificate-rotation",
        "kubeadm:cluster-admins",
    ] {
        let crb: Option<ClusterRoleBinding> = admin.get_opt(None, name).await.unwrap();
        put(
            &format!("crb {name}"),
            crb.and_then(|s| s.resource_version()),
        );
    }
    let role: Option<Role> = admin
        .get_opt(Some("kube-public"), "kubeadm:bootstrap-signer-clusterinfo")
        .await
        .unwrap();
    put("role", role.and_then(|s| s.resource_version()));
    let rb: Option<RoleBinding> = admin
        .get_opt(Some("kube-public"), "kubeadm:bootstrap-signer-clusterinfo")
        .await
        .unwrap();
    put("rolebinding", rb.and_then(|s| s.resource_version()));
    out
}

fn http_code(args: &[&str]) -> String {
    let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    curl(&all).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_tokens_against_real_apiserver_and_bootstrap_signer() {
    let dir = tempfile::tempdir().unwrap();
    let cp = start_control_plane_with_split_admins(dir.path(), "127.0.0.47").await;
    let spec = cp.ctx.bootstrap_token_spec();
    let init_token = spec.tokens[0].token.clone();

    // First run: admin.conf is powerless, so its binding is made with super-admin.conf.
    let changes = run_phase(&cp.ctx).await;
    assert!(
        changes.contains(&(
            ApiVerb::Create,
            "ClusterRoleBinding".into(),
            "kubeadm:cluster-admins".into()
        )),
        "{changes:?}"
    );
    assert!(changes.contains(&(
        ApiVerb::Create,
        "Secret".into(),
        secret_name(init_token.id())
    )));
    assert!(changes.contains(&(ApiVerb::Apply, "ConfigMap".into(), "cluster-info".into())));

    let fs = HostFs::real();
    let admin =
        ApiClient::from_kubeconfig(&fs, &cp.kubeconfig("admin.conf"), Duration::from_secs(30))
            .await
            .unwrap();

    // The Secret, in kubeadm's format.
    let secret: Secret = admin
        .get_opt(Some("kube-system"), &secret_name(init_token.id()))
        .await
        .unwrap()
        .expect("token Secret");
    assert_eq!(
        secret.type_.as_deref(),
        Some("bootstrap.kubernetes.io/token")
    );
    let data: BTreeMap<String, String> = secret
        .data
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect();
    assert_eq!(data["token-id"], init_token.id().as_str());
    assert_eq!(data["token-secret"], init_token.secret().expose());
    assert_eq!(data["usage-bootstrap-signing"], "true");
    assert_eq!(data["usage-bootstrap-authentication"], "true");
    assert_eq!(
        data["auth-extra-groups"],
        "system:bootstrappers:kubeadm:default-node-token"
    );
    let exp = time::OffsetDateTime::parse(
        &data["expiration"],
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ttl = exp - time::OffsetDateTime::now_utc();
    assert!(
        ttl > time::Duration::hours(23) && ttl <= time::Duration::hours(24),
        "{ttl}"
    );
    assert!(data["expiration"].ends_with('Z'));

    // The real bootstrap signer signs cluster-info for the init token, and our verifier
    // agrees with it; a wrong secret does not verify.
    let signed_after = Instant::now();
    let (kubeconfig, sig) = wait_signature(&admin, init_token.id(), true).await;
    eprintln!(
        "signature for the init token after {:?}",
        signed_after.elapsed()
    );
    let sig = sig.unwrap();
    assert!(
        kubeconfig.contains(&format!("server: https://{}:6443", cp.ip)),
        "{kubeconfig}"
    );
    jws::verify_detached(init_token.id(), init_token.secret(), &kubeconfig, &sig)
        .expect("the bootstrap signer's signature verifies");
    let wrong: BootstrapTokenString = format!("{}.0000000000000000", init_token.id())
        .parse()
        .unwrap();
    assert!(matches!(
        jws::verify_detached(wrong.id(), wrong.secret(), &kubeconfig, &sig),
        Err(jws::JwsError::Mismatch(_))
    ));

    // Anonymous: cluster-info yes, anything else in kube-public no.
    let ca = cp.ca().display().to_string();
    let url = |name: &str| {
        format!(
            "https://{}:6443/api/v1/namespaces/kube-public/configmaps/{name}",
            cp.ip
        )
    };
    assert_eq!(http_code(&["--cacert", &ca, &url("cluster-info")]), "200");
    let other = ConfigMap {
        metadata: ObjectMeta {
            name: Some("other".into()),
            namespace: Some("kube-public".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(admin.client().clone(), "kube-public")
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    assert_eq!(http_code(&["--cacert", &ca, &url("other")]), "403");

    // A second run changes nothing.
    let before = versions(&admin, init_token.id()).await;
    let again = run_phase(&cp.ctx).await;
    assert_eq!(again, [], "the second run sent requests");
    assert_eq!(versions(&admin, init_token.id()).await, before);

    // token create: a second token, signed by the signer too; the same id twice is refused.
    let extra = BootstrapToken {
        token: BootstrapTokenString::generate(),
        description: Some("created by the test".into()),
        expiry: TokenExpiry::Ttl(GoDuration::from_secs(3600)),
        usages: TokenUsage::defaults(),
        groups: vec![TokenGroup::default_node_token()],
    };
    let mut fx = Effects::new("token", &fs, &Silent);
    create_token(&admin, &mut fx, &extra).await.unwrap();
    let dup = create_token(&admin, &mut fx, &extra).await.unwrap_err();
    assert!(dup.is_conflict(), "{dup}");
    let (kubeconfig, sig) = wait_signature(&admin, extra.token.id(), true).await;
    jws::verify_detached(
        extra.token.id(),
        extra.token.secret(),
        &kubeconfig,
        &sig.unwrap(),
    )
    .expect("signature of the created token verifies");

    let listed = list_tokens(&admin).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|t| t.token.id().as_str()).collect();
    assert!(
        ids.contains(&init_token.id().as_str()) && ids.contains(&extra.token.id().as_str()),
        "{ids:?}"
    );
    let created = listed.iter().find(|t| t.token == extra.token).unwrap();
    assert_eq!(created.description.as_deref(), Some("created by the test"));

    // token delete: the Secret goes, and the signer withdraws the signature.
    assert!(
        delete_token(&admin, &mut fx, extra.token.id())
            .await
            .unwrap()
    );
    let gone: Option<Secret> = admin
        .get_opt(Some("kube-system"), &secret_name(extra.token.id()))
        .await
        .unwrap();
    assert!(gone.is_none());
    wait_signature(&admin, extra.token.id(), false).await;
    assert!(
        !delete_token(&admin, &mut fx, extra.token.id())
            .await
            .unwrap()
    );
    // The init token's signature stays.
    let (_, still) = wait_signature(&admin, init_token.id(), true).await;
    assert!(still.is_some());
    drop(cp);
}
