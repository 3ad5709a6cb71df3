//! upload-config, upload-certs, mark-control-plane and show-join-command against a real
//! control plane: etcd 3.4 (/usr/bin/etcd), kube-apiserver and kube-controller-manager
//! v1.20.2 from the test bed, started with the rendered manifests' commands on a simulated
//! node (own root, own 127.0.0.x address), as phases/tests/it/static_pods_real.rs does.
//! A missing binary fails the test.
//!
//! What the phases record says what happened (issue 12): a request they sent is `changed`, an
//! object they found as wanted is not, so a second run records every object as unchanged.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kubestrap_phases::Diagnostic;
use kubestrap_phases::config::{self, InitFlags};
use kubestrap_phases::contract::effects::{ApiChange, ApiVerb, Silent};
use kubestrap_phases::domain::apiclient::ApiClient;
use kubestrap_phases::phases::mark_control_plane::MarkControlPlane;
use kubestrap_phases::phases::show_join_command::ShowJoinCommand;
use kubestrap_phases::phases::upload_certs::UploadCerts;
use kubestrap_phases::phases::upload_config::{UploadKubeadmConfig, UploadKubeletConfig};
use kubestrap_phases::{Effects, HostFs, InitContext, Step};
use kubestrap_test_support::control_plane::*;
use kubestrap_test_support::kubeadm_config::{Init, cluster, init};
use kubestrap_test_support::static_pods::*;

const IP: &str = "127.0.0.43";
const TOKEN: &str = "abcdef.0123456789abcdef";
const NODE: &str = "node-1";
/// Not 6443: other test beds' API servers listen on *:6443, which also takes {IP}:6443.
const PORT: u16 = 6543;

async fn wait_ready(client: &kube::Client, procs: &mut [&mut Proc]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // kube-system exists once the API server's bootstrap is done.
        let ok = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .get("kube-system")
            .await;
        if ok.is_ok() {
            return;
        }
        for p in procs.iter_mut() {
            if let Some(status) = p.exited() {
                panic!("{} exited: {status}\n{}", p.name, p.log_tail());
            }
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = procs.iter().map(|p| p.log_tail()).collect();
            panic!("kube-apiserver not ready: {ok:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The API server binds only its own address and port, as a good neighbour to other test beds.
fn context(root: &Path) -> InitContext {
    context_with(root, NODE, init())
}

/// `init` (an InitConfiguration) given the token, this file's address and port, and `node`.
fn context_with(root: &Path, node: &str, init: Init) -> InitContext {
    let flags = InitFlags {
        upload_certs: true,
        ..InitFlags::default()
    };
    init_context_from_yaml(
        root,
        &init
            .token(TOKEN)
            .advertise(IP)
            .bind_port(PORT)
            .node_name(node)
            .with(
                cluster()
                    .kubernetes_version("v1.20.2")
                    .api_server_arg("bind-address", IP),
            )
            .to_string(),
        &flags,
    )
}

#[derive(Default)]
struct Progress(std::sync::Mutex<Vec<String>>);

impl kubestrap_phases::Reporter for Progress {
    fn warning(&self, _: &str, _: &str) {}
    fn progress(&self, _: &str, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

struct Ran {
    api: Vec<ApiChange>,
    result: serde_json::Map<String, serde_json::Value>,
}

async fn run(ctx: &InitContext, step: &dyn Step<InitContext>) -> Ran {
    let fs = HostFs::real();
    let mut fx = Effects::new(step.name(), &fs, &Silent);
    step.run(ctx, &mut fx)
        .await
        .unwrap_or_else(|e| panic!("{}: {e} ({:?})", step.name(), e.hint()));
    let result = fx.take_result_fields();
    Ran {
        api: fx.into_record().1,
        result,
    }
}

fn kubeconfig_with_token(ca_pem: &[u8], token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{IP}:{PORT}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
    )
}

/// `(verb, kind, name)` of the records whose `changed` is `changed`.
fn records(api: &[ApiChange], changed: bool) -> Vec<(ApiVerb, String, String)> {
    api.iter()
        .filter(|c| c.changed == changed)
        .map(|c| (c.verb, c.kind.clone(), c.name.clone()))
        .collect()
}

fn rv<K: kube::Resource>(o: &K) -> String {
    o.meta().resource_version.clone().unwrap()
}

/// The resourceVersions of everything the phases own, to prove a re-run changes nothing.
/// (Not the Node's: the controller-manager's node lifecycle controller updates a Node whose
/// kubelet never reports; that a re-run sends no patch is asserted instead.)
async fn versions(c: &kube::Client) -> BTreeMap<String, String> {
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "kube-system");
    let roles: Api<Role> = Api::namespaced(c.clone(), "kube-system");
    let rbs: Api<RoleBinding> = Api::namespaced(c.clone(), "kube-system");
    let secrets: Api<Secret> = Api::namespaced(c.clone(), "kube-system");
    let mut out = BTreeMap::new();
    for name in ["kubeadm-config", "kubelet-config-1.20"] {
        out.insert(format!("cm/{name}"), rv(&cms.get(name).await.unwrap()));
    }
    for name in [
        "kubeadm:nodes-kubeadm-config",
        "kubeadm:kubelet-config-1.20",
        "kubeadm:kubeadm-certs",
    ] {
        out.insert(format!("role/{name}"), rv(&roles.get(name).await.unwrap()));
        out.insert(format!("rb/{name}"), rv(&rbs.get(name).await.unwrap()));
    }
    out.insert(
        "secret/kubeadm-certs".into(),
        rv(&secrets.get("kubeadm-certs").await.unwrap()),
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_objects_on_a_real_apiserver() {
    let root = tempfile::tempdir().unwrap();
    let ctx = context(root.path());
    let mut steps = init_steps();
    steps.push(Box::new(
        kubestrap_phases::phases::kubelet::KubeletStart::default(),
    ));
    run_steps(&ctx, &steps).await;
    let etc = root.path().join("etc/kubernetes");
    let pki = etc.join("pki");
    let logs = root.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut etcd = start(&etc.join("manifests/etcd.yaml"), &logs);
    let mut apiserver = start(&etc.join("manifests/kube-apiserver.yaml"), &logs);
    let admin = ApiClient::from_kubeconfig(
        &HostFs::real(),
        &etc.join("admin.conf"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let sa = admin.client().clone();
    wait_ready(&sa, &mut [&mut etcd, &mut apiserver]).await;
    // The garbage collector (owner references) and token cleaner run in here.
    let _cm = start(&etc.join("manifests/kube-controller-manager.yaml"), &logs);

    // upload-config/*: v1.20's admin.conf is in system:masters, so no admin binding comes
    // first (kubeadm makes it from 1.29): the 3 objects alone.
    let kubeadm = run(&ctx, &UploadKubeadmConfig).await;
    assert_eq!(kubeadm.api.len(), 3, "{:?}", kubeadm.api);
    assert!(kubeadm.api.iter().all(|c| c.changed), "{:?}", kubeadm.api);
    assert!(
        kubeadm.api.iter().all(|c| c.kind != "ClusterRoleBinding"),
        "{:?}",
        kubeadm.api
    );
    // upload-config/kubelet records the CRI socket on the Node once the kubelet registers it:
    // register it a little later, with the fields a kubelet sets (and a taint of its own that
    // mark-control-plane must keep).
    let nodes: Api<Node> = Api::all(sa.clone());
    let registrar = tokio::spawn({
        let nodes = nodes.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let node: Node = serde_json::from_value(serde_json::json!({
                "metadata": { "name": NODE, "labels": { "kubernetes.io/hostname": NODE } },
                "spec": { "taints": [
                    { "key": "node.kubernetes.io/not-ready", "effect": "NoSchedule" }
                ] }
            }))
            .unwrap();
            nodes.create(&PostParams::default(), &node).await.unwrap();
        }
    });
    let started = Instant::now();
    // The next phase finds the binding made: as wanted, not created again.
    let kubelet_config = run(&ctx, &UploadKubeletConfig).await;
    registrar.await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the Node"
    );
    // kubeadm 1.20's form of the annotation: the (default) socket's path (config/release.rs).
    let annotations = nodes.get(NODE).await.unwrap().metadata.annotations.unwrap();
    assert_eq!(
        annotations["kubeadm.alpha.kubernetes.io/cri-socket"],
        "/var/run/containerd/containerd.sock"
    );
    assert_eq!(records(&kubelet_config.api, false), []);
    assert_eq!(
        records(&kubelet_config.api, true).len(),
        4,
        "3 objects and the Node"
    );
    let cms: Api<ConfigMap> = Api::namespaced(sa.clone(), "kube-system");
    let cm = cms.get("kubeadm-config").await.unwrap();
    let data = cm.data.unwrap();
    // kubeadm 1.20's form: v1beta2 with ClusterStatus (config/stored.rs).
    assert_eq!(data, ctx.config.kubeadm_config_data());
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["ClusterConfiguration", "ClusterStatus"]
    );
    assert!(data["ClusterConfiguration"].contains("kubernetesVersion: v1.20.2"));
    assert!(data["ClusterConfiguration"].contains("apiVersion: kubeadm.k8s.io/v1beta2"));
    let kubelet = cms.get("kubelet-config-1.20").await.unwrap().data.unwrap();
    let written = std::fs::read_to_string(root.path().join("var/lib/kubelet/config.yaml"))
        .unwrap_or_default();
    assert!(kubelet["kubelet"].contains("kind: KubeletConfiguration"));
    if !written.is_empty() {
        assert_eq!(
            kubelet["kubelet"], written,
            "same document as kubelet-start writes"
        );
    }

    // upload-certs.
    let uploaded = run(&ctx, &UploadCerts).await;
    let key: config::CertificateKey = uploaded.result["certificate_key"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(sa.clone(), "kube-system");
    let certs = secrets.get("kubeadm-certs").await.unwrap();
    let plain = kubestrap_phases::domain::certificate_upload::decrypted_entries(
        certs.data.as_ref().unwrap(),
        &key,
    )
    .unwrap();
    for (entry, file) in [
        ("ca.crt", "ca.crt"),
        ("ca.key", "ca.key"),
        ("sa.key", "sa.key"),
        ("sa.pub", "sa.pub"),
        ("front-proxy-ca.crt", "front-proxy-ca.crt"),
        ("front-proxy-ca.key", "front-proxy-ca.key"),
        ("etcd-ca.crt", "etcd/ca.crt"),
        ("etcd-ca.key", "etcd/ca.key"),
    ] {
        assert_eq!(
            plain[entry],
            std::fs::read(pki.join(file)).unwrap(),
            "{entry}"
        );
    }
    assert_eq!(plain.len(), 8);
    let owner = &certs.metadata.owner_references.as_ref().unwrap()[0];
    let token_secret = secrets.get(&owner.name).await.unwrap();
    assert_eq!(
        token_secret.metadata.uid.as_deref(),
        Some(owner.uid.as_str())
    );
    assert_eq!(
        token_secret.type_.as_deref(),
        Some("bootstrap.kubernetes.io/token")
    );
    let expiration = String::from_utf8(token_secret.data.unwrap()["expiration"].0.clone()).unwrap();
    let expires =
        time::OffsetDateTime::parse(&expiration, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(115) && left <= time::Duration::hours(2),
        "{left}"
    );

    // A bootstrap token of kubeadm's default group, as bootstrap-token would create it, can
    // read both ConfigMaps and kubeadm-certs, and nothing else.
    let (id, secret) = TOKEN.split_once('.').unwrap();
    let b = |s: &str| ByteString(s.as_bytes().to_vec());
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some(format!("bootstrap-token-{id}")),
                    ..ObjectMeta::default()
                },
                type_: Some("bootstrap.kubernetes.io/token".into()),
                data: Some(BTreeMap::from([
                    ("token-id".to_string(), b(id)),
                    ("token-secret".to_string(), b(secret)),
                    ("usage-bootstrap-authentication".to_string(), b("true")),
                    (
                        "auth-extra-groups".to_string(),
                        b("system:bootstrappers:kubeadm:default-node-token"),
                    ),
                ])),
                ..Secret::default()
            },
        )
        .await
        .unwrap();
    let ca_pem = std::fs::read(pki.join("ca.crt")).unwrap();
    let token_client = ApiClient::from_kubeconfig_yaml(
        &kubeconfig_with_token(&ca_pem, TOKEN),
        Path::new("token"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let tc = token_client.client().clone();
    let as_token: Api<ConfigMap> = Api::namespaced(tc.clone(), "kube-system");
    let got = as_token.get("kubeadm-config").await.unwrap();
    assert!(got.data.unwrap().contains_key("ClusterConfiguration"));
    as_token.get("kubelet-config-1.20").await.unwrap();
    let token_secrets: Api<Secret> = Api::namespaced(tc.clone(), "kube-system");
    token_secrets.get("kubeadm-certs").await.unwrap();
    match as_token.get("extension-apiserver-authentication").await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("the token must not read other ConfigMaps: {other:?}"),
    }

    // mark-control-plane: kubeadm 1.20's labels and taint.
    let marked = run(&ctx, &MarkControlPlane).await;
    assert_eq!(
        records(&marked.api, true),
        [(ApiVerb::Patch, "Node".into(), NODE.into())]
    );
    let node = nodes.get(NODE).await.unwrap();
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["node-role.kubernetes.io/control-plane"], "");
    assert_eq!(labels["node-role.kubernetes.io/master"], "");
    assert!(!labels.contains_key("node.kubernetes.io/exclude-from-external-load-balancers"));
    let taints: Vec<(String, String)> = node
        .spec
        .unwrap()
        .taints
        .unwrap()
        .into_iter()
        .map(|t| (t.key, t.effect))
        .collect();
    assert_eq!(
        taints,
        [
            ("node.kubernetes.io/not-ready".into(), "NoSchedule".into()),
            ("node-role.kubernetes.io/master".into(), "NoSchedule".into())
        ]
    );

    // show-join-command: the CA pin matches openssl's (kubeadm's documented recipe).
    let shown = run(&ctx, &ShowJoinCommand).await;
    let pin = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | sha256sum",
            pki.join("ca.crt").display()
        ))
        .output()
        .unwrap();
    let pin = String::from_utf8(pin.stdout).unwrap();
    let pin = pin.split_whitespace().next().unwrap();
    assert_eq!(pin.len(), 64);
    let worker = shown.result["join_command"].as_str().unwrap();
    assert_eq!(
        worker,
        format!(
            "kubestrap join {IP}:{PORT} --token {TOKEN} --discovery-token-ca-cert-hash sha256:{pin}"
        )
    );
    assert_eq!(
        shown.result["control_plane_join_command"].as_str().unwrap(),
        format!(
            "{worker} --control-plane --certificate-key {}",
            key.expose_hex()
        )
    );

    // A Node that never registers: the wait reports progress, then fails saying where to look.
    let ghost = context_with(
        root.path(),
        "ghost",
        init().timeout("kubeletHealthCheck", "6s"),
    );
    let progress = Progress::default();
    let fs = HostFs::real();
    let mut fx = Effects::new("mark-control-plane", &fs, &progress);
    let started = Instant::now();
    let err = Step::<InitContext>::run(&MarkControlPlane, &ghost, &mut fx)
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(6) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
    assert!(
        err.to_string()
            .contains("the kubelet has not registered Node \"ghost\" within 6s"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("journalctl -xeu kubelet"));
    let lines = progress.0.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("waiting for the kubelet to register Node ghost")),
        "{lines:?}"
    );
    let ghost_api = fx.into_record().1;
    assert!(
        ghost_api.is_empty(),
        "nothing was patched (and v1.20's admin.conf needs no binding): {ghost_api:?}"
    );

    // A second run of every phase changes nothing.
    // Each reports every object it checked as unchanged, and no request.
    let before = versions(&sa).await;
    let kubeadm_again = run(&ctx, &UploadKubeadmConfig).await;
    let kubelet_again = run(&ctx, &UploadKubeletConfig).await;
    let again = run(&ctx, &UploadCerts).await;
    assert_eq!(
        again.result["certificate_key"],
        uploaded.result["certificate_key"]
    );
    let remarked = run(&ctx, &MarkControlPlane).await;
    let rerun: Vec<ApiChange> = [&kubeadm_again, &kubelet_again, &again, &remarked]
        .iter()
        .flat_map(|r| r.api.clone())
        .collect();
    assert_eq!(records(&rerun, true), [], "a second run sent a request");
    let unchanged = records(&rerun, false);
    for (verb, kind, name) in [
        (ApiVerb::Apply, "ConfigMap", "kubeadm-config"),
        (ApiVerb::Apply, "Role", "kubeadm:nodes-kubeadm-config"),
        (
            ApiVerb::Apply,
            "RoleBinding",
            "kubeadm:nodes-kubeadm-config",
        ),
        (ApiVerb::Apply, "ConfigMap", "kubelet-config-1.20"),
        (ApiVerb::Apply, "Role", "kubeadm:kubelet-config-1.20"),
        (ApiVerb::Apply, "RoleBinding", "kubeadm:kubelet-config-1.20"),
        (ApiVerb::Apply, "Secret", "kubeadm-certs"),
        (ApiVerb::Apply, "Role", "kubeadm:kubeadm-certs"),
        (ApiVerb::Apply, "RoleBinding", "kubeadm:kubeadm-certs"),
        (ApiVerb::Patch, "Node", NODE),
    ] {
        assert!(
            unchanged.contains(&(verb, kind.into(), name.into())),
            "{kind} {name} not reported unchanged: {unchanged:?}"
        );
    }
    assert_eq!(
        records(&remarked.api, false),
        [(ApiVerb::Patch, "Node".into(), NODE.into())]
    );
    let node = nodes.get(NODE).await.unwrap();
    let cp_taints = node
        .spec
        .unwrap()
        .taints
        .unwrap()
        .iter()
        .filter(|t| t.key == "node-role.kubernetes.io/master")
        .count();
    assert_eq!(cp_taints, 1);
    assert_eq!(versions(&sa).await, before);
}
