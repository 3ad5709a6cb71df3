//! `kubelet-finalize/enable-client-cert-rotation` on a node root: kubelet.conf is left alone
//! until the kubelet's rotated certificate exists, then points at it (under the node root,
//! honouring a `cert-dir` kubelet extra arg), and a re-run of the kubeconfig phases accepts
//! that kubelet.conf as kubeadm does instead of calling it a conflict.

use std::path::Path;

use kubestrap_phases::contract::effects::Silent;
use kubestrap_phases::domain::pki::kubeconfig::KubeConfig;
use kubestrap_phases::phases::kubelet::finalize::EnableClientCertRotation;
use kubestrap_phases::{Effects, HostFs, InitContext, NodeRoot, Step};
use kubestrap_test_support::static_pods::*;

async fn finalize(ctx: &InitContext) -> Vec<bool> {
    let fs = HostFs::real();
    let mut fx = Effects::new("kubelet-finalize", &fs, &Silent);
    Step::<InitContext>::run(&EnableClientCertRotation::default(), ctx, &mut fx)
        .await
        .unwrap();
    fx.into_record().0.iter().map(|f| f.changed).collect()
}

fn user_files(conf: &Path) -> (Option<String>, Option<String>, bool) {
    let kc = KubeConfig::from_yaml(conf, &std::fs::read(conf).unwrap()).unwrap();
    let u = &kc.users[0].user;
    (
        u.client_certificate.clone(),
        u.client_key.clone(),
        u.client_certificate_data.is_empty() && u.client_key_data.is_empty(),
    )
}

#[tokio::test]
async fn kubelet_conf_follows_the_rotated_certificate_once_it_exists() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let ctx = init_context(r, "v1.30.2", "127.0.0.57", "");
    run_steps(&ctx, &init_steps()).await;
    let conf = r.join("etc/kubernetes/kubelet.conf");
    let original = std::fs::read(&conf).unwrap();

    // No kubelet has bootstrapped: nothing changes.
    assert!(finalize(&ctx).await.is_empty());
    assert_eq!(std::fs::read(&conf).unwrap(), original);

    // The kubelet wrote its rotated certificate: kubelet.conf points at it.
    let pem = r.join("var/lib/kubelet/pki/kubelet-client-current.pem");
    std::fs::create_dir_all(pem.parent().unwrap()).unwrap();
    std::fs::write(&pem, "rotated").unwrap();
    assert_eq!(finalize(&ctx).await, [true]);
    let p = pem.display().to_string();
    assert_eq!(user_files(&conf), (Some(p.clone()), Some(p), true));
    let rewritten = std::fs::read(&conf).unwrap();

    // Again: nothing to do.
    assert!(finalize(&ctx).await.is_empty());
    // A second init's kubeconfig phases keep this kubelet.conf as it is.
    let files = run_steps(
        &ctx,
        &kubestrap_phases::phases::kubeconfig::phases::<InitContext>(),
    )
    .await;
    assert!(files.iter().all(|f| !f.changed), "{files:#?}");
    assert_eq!(std::fs::read(&conf).unwrap(), rewritten);
}

#[tokio::test]
async fn a_cert_dir_extra_arg_is_where_the_certificate_is_looked_for() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = init_config_with(
        cfg_dir.path(),
        "  kubeletExtraArgs:\n  - name: cert-dir\n    value: /opt/kubelet-pki\n",
        "v1.30.2",
        "127.0.0.57",
        "",
    );
    let ctx = InitContext::new(cfg, NodeRoot::new(r).unwrap(), &HostFs::real()).unwrap();
    run_steps(&ctx, &init_steps()).await;
    // The default place does not count.
    let default = r.join("var/lib/kubelet/pki/kubelet-client-current.pem");
    std::fs::create_dir_all(default.parent().unwrap()).unwrap();
    std::fs::write(&default, "x").unwrap();
    assert!(finalize(&ctx).await.is_empty());
    let pem = r.join("opt/kubelet-pki/kubelet-client-current.pem");
    std::fs::create_dir_all(pem.parent().unwrap()).unwrap();
    std::fs::write(&pem, "x").unwrap();
    assert_eq!(finalize(&ctx).await, [true]);
    let conf = r.join("etc/kubernetes/kubelet.conf");
    assert_eq!(user_files(&conf).0, Some(pem.display().to_string()));
}
