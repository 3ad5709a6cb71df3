//! Under `--dry-run` the cluster-object phases ask nothing of the API (no server runs here),
//! record every request they would send (as changed: none is found as wanted), and still hand
//! the user the join commands.

use std::time::{Duration, Instant};

use kubestrap_phases::config::InitFlags;
use kubestrap_phases::contract::effects::{ApiVerb, Silent};
use kubestrap_phases::phases::mark_control_plane::MarkControlPlane;
use kubestrap_phases::phases::show_join_command::ShowJoinCommand;
use kubestrap_phases::phases::upload_certs::UploadCerts;
use kubestrap_phases::phases::upload_config::{UploadKubeadmConfig, UploadKubeletConfig};
use kubestrap_phases::{Applicability, Effects, HostFs, InitContext, Step};
use kubestrap_test_support::kubeadm_config::{cluster, init};
use kubestrap_test_support::static_pods::*;

fn context(root: &std::path::Path, upload_certs: bool) -> InitContext {
    let flags = InitFlags {
        upload_certs,
        ..InitFlags::default()
    };
    init_context_from_yaml(
        root,
        &init()
            .advertise("127.0.0.44")
            .node_name("node-1")
            .with(
                cluster()
                    .kubernetes_version("v1.20.2")
                    .control_plane_endpoint("cp.example"),
            )
            .to_string(),
        &flags,
    )
}

#[tokio::test]
async fn dry_run_records_and_touches_nothing() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context(root.path(), true);
    run_steps(&ctx, &init_steps()).await;
    let staging = tempfile::tempdir().unwrap();
    let fs = HostFs::staged(staging.path());
    let steps: Vec<Box<dyn Step<InitContext>>> = vec![
        Box::new(UploadKubeadmConfig),
        Box::new(UploadKubeletConfig),
        Box::new(UploadCerts),
        Box::new(MarkControlPlane),
        Box::new(ShowJoinCommand),
    ];
    let started = Instant::now();
    let mut recorded = Vec::new();
    let mut result = serde_json::Map::new();
    for step in &steps {
        let mut fx = Effects::new(step.name(), &fs, &Silent);
        step.run(&ctx, &mut fx)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", step.name()));
        result.extend(fx.take_result_fields());
        let (files, api) = fx.into_record();
        assert!(files.is_empty());
        // Nothing was asked of the API, so nothing can be known to be as wanted: every
        // object is a request a real run would send, for the plan's `api_objects`.
        assert!(api.iter().all(|c| c.changed), "{}: {api:?}", step.name());
        recorded.extend(api.into_iter().map(|c| (c.verb, c.kind, c.name)));
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no API call was attempted"
    );
    let has = |verb: ApiVerb, kind: &str, name: &str| {
        recorded
            .iter()
            .any(|(v, k, n)| *v == verb && k == kind && n == name)
    };
    assert!(
        has(ApiVerb::Apply, "ConfigMap", "kubeadm-config"),
        "{recorded:?}"
    );
    assert!(has(ApiVerb::Apply, "ConfigMap", "kubelet-config-1.20"));
    assert!(has(
        ApiVerb::Apply,
        "RoleBinding",
        "kubeadm:kubelet-config-1.20"
    ));
    assert!(has(ApiVerb::Apply, "Secret", "kubeadm-certs"));
    assert!(has(ApiVerb::Apply, "Role", "kubeadm:kubeadm-certs"));
    assert!(has(ApiVerb::Patch, "Node", "node-1"));
    assert!(recorded.iter().any(|(v, k, n)| *v == ApiVerb::Create
        && k == "Secret"
        && n.starts_with("bootstrap-token-")));
    // The endpoint is the control-plane endpoint with the bind port; one generated key in both.
    let key = result["certificate_key"].as_str().unwrap();
    assert_eq!(key.len(), 64);
    let worker = result["join_command"].as_str().unwrap();
    assert!(
        worker.starts_with("kubestrap join cp.example:6443 --token "),
        "{worker}"
    );
    assert!(
        result["control_plane_join_command"]
            .as_str()
            .unwrap()
            .ends_with(&format!("--control-plane --certificate-key {key}"))
    );
    assert_eq!(std::fs::read_dir(staging.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn without_upload_certs_there_is_no_key_and_no_control_plane_command() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context(root.path(), false);
    assert!(matches!(
        Step::<InitContext>::applicability(&UploadCerts, &ctx),
        Applicability::NotApplicable(_)
    ));
    run_steps(&ctx, &init_steps()).await;
    let fs = HostFs::real();
    let mut fx = Effects::new("show-join-command", &fs, &Silent);
    Step::<InitContext>::run(&ShowJoinCommand, &ctx, &mut fx)
        .await
        .unwrap();
    let result = fx.take_result_fields();
    assert!(result.contains_key("join_command"));
    assert!(!result.contains_key("control_plane_join_command"));
}

#[tokio::test]
async fn missing_ca_names_the_file() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context(root.path(), false);
    let fs = HostFs::real();
    let mut fx = Effects::new("show-join-command", &fs, &Silent);
    let err = Step::<InitContext>::run(&ShowJoinCommand, &ctx, &mut fx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pki/ca.crt"), "{err}");
}
