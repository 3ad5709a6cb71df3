//! A second control plane joins a real first one: etcd 3.4 (/usr/bin/etcd) and
//! kube-apiserver v1.20.2 from the test bed, started from the rendered manifests on simulated
//! nodes (own root, own loopback address). The joiner reads the cluster's configuration and
//! the kubeadm-certs Secret with a bootstrap token, as `join --control-plane` does, builds its
//! specs with the same constructors as init, adds its etcd member through the v3 API and
//! starts its own etcd and API server. A missing binary fails the test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::api::{Api, PostParams};
use kubestrap_phases::Diagnostic;
use kubestrap_phases::config::{self, CertificateKey, InitFlags, JoinFlags};
use kubestrap_phases::context::joining_control_plane::{
    HasJoiningControlPlane, JoiningControlPlane, JoiningControlPlaneCell,
    JoiningControlPlaneContext, JoiningNode, OnControlPlane, control_plane_prepare,
};
use kubestrap_phases::contract::effects::Silent;
use kubestrap_phases::contract::tree::PhaseTree;
use kubestrap_phases::domain::apiclient::ApiClient;
use kubestrap_phases::domain::etcd::EtcdCluster;
use kubestrap_phases::phases::download_certs::DownloadCerts;
use kubestrap_phases::phases::etcd_join::{EtcdJoin, EtcdJoinContext};
use kubestrap_phases::phases::mark_control_plane::MarkControlPlane;
use kubestrap_phases::phases::upload_certs::UploadCerts;
use kubestrap_phases::phases::upload_config::UploadKubeadmConfig;
use kubestrap_phases::{Effects, HostFs, InitContext, NodeRoot, PhaseError, Step};
use kubestrap_test_support::control_plane::*;
use kubestrap_test_support::kubeadm_config;
use kubestrap_test_support::static_pods::*;

const IP1: &str = "127.0.0.90";
const IP2: &str = "127.0.0.2";
/// Not 6443, to stay clear of API servers other tests bind on every address.
const PORT: u16 = 6643;
const TOKEN: &str = "jcp000.0123456789abcdef";

fn init_context(root: &Path) -> InitContext {
    let flags = InitFlags {
        upload_certs: true,
        ..InitFlags::default()
    };
    init_context_from_yaml(
        root,
        &kubeadm_config::init()
            .token(TOKEN)
            .advertise(IP1)
            .bind_port(PORT)
            .node_name("node-1")
            .with(
                kubeadm_config::cluster()
                    .kubernetes_version("v1.20.2")
                    .control_plane_endpoint(&format!("{IP1}:{PORT}")),
            )
            .to_string(),
        &flags,
    )
}

/// Stands in for `JoinContext`: its control-plane part is the library's
/// [`JoiningControlPlaneContext`], fetched on first use with discovery's bootstrap kubeconfig,
/// and the phases reach it through [`OnControlPlane`] — the wiring the join workflow uses.
struct JoinHost {
    join: config::JoinConfig,
    root: NodeRoot,
    /// Stands in for discovery's result: a kubeconfig authenticated by the bootstrap token.
    bootstrap: String,
    cp: JoiningControlPlaneCell,
}

#[kubestrap_phases::async_trait]
impl HasJoiningControlPlane for JoinHost {
    fn is_joining_control_plane(&self) -> bool {
        self.join.control_plane.is_some()
    }

    fn joining_control_plane_fetched(&self) -> Option<&JoiningControlPlaneContext> {
        self.cp.get()
    }

    async fn joining_control_plane(
        &self,
        fx: &mut Effects<'_>,
    ) -> Result<&JoiningControlPlaneContext, PhaseError> {
        self.cp
            .get_or_fetch(JoiningControlPlaneContext::fetch(
                self.bootstrap.clone(),
                &self.join,
                &self.root,
                fx.fs(),
            ))
            .await
    }
}

impl JoinHost {
    /// A control-plane join of node-2 on IP2 that has not fetched anything yet.
    fn new(root: &Path, key: &str, bootstrap: &str) -> JoinHost {
        JoinHost {
            join: join_config(key, IP2, "node-2"),
            root: NodeRoot::new(root).unwrap(),
            bootstrap: bootstrap.to_string(),
            cp: JoiningControlPlaneCell::default(),
        }
    }

    fn ready(cp: JoiningControlPlaneContext, join: config::JoinConfig, root: &Path) -> JoinHost {
        JoinHost {
            join,
            root: NodeRoot::new(root).unwrap(),
            bootstrap: String::new(),
            cp: JoiningControlPlaneCell::with(cp),
        }
    }

    fn cp(&self) -> &JoiningControlPlaneContext {
        self.cp.get().unwrap()
    }
}

/// `join <IP1:PORT> --control-plane --certificate-key <key>` of `node` on `ip`.
fn join_config(key: &str, ip: &str, node: &str) -> config::JoinConfig {
    let flags = JoinFlags {
        endpoint: Some(format!("{IP1}:{PORT}")),
        token: Some(TOKEN.into()),
        discovery_token_unsafe_skip_ca_verification: true,
        control_plane: true,
        certificate_key: Some(key.into()),
        node_name: Some(node.into()),
        apiserver_advertise_address: Some(ip.into()),
        apiserver_bind_port: Some(PORT),
        ..JoinFlags::default()
    };
    config::load_join(None, &flags).unwrap()
}

/// After discovery: the cluster's configuration read with the bootstrap token.
async fn fetched_context(root: &Path, key: &str, bootstrap: &str) -> JoiningControlPlaneContext {
    JoiningControlPlaneContext::fetch(
        bootstrap.to_string(),
        &join_config(key, IP2, "node-2"),
        &NodeRoot::new(root).unwrap(),
        &HostFs::real(),
    )
    .await
    .unwrap()
}

fn on_cp(step: impl Step<JoiningControlPlaneContext> + 'static) -> OnControlPlane {
    OnControlPlane::new(step)
}

async fn run<C: Sync>(ctx: &C, step: &dyn Step<C>) -> Result<Vec<String>, PhaseError> {
    #[derive(Default)]
    struct Progress(std::sync::Mutex<Vec<String>>);
    impl kubestrap_phases::Reporter for Progress {
        fn warning(&self, _: &str, _: &str) {}
        fn progress(&self, _: &str, message: &str) {
            self.0.lock().unwrap().push(message.to_string());
        }
    }
    let fs = HostFs::real();
    let progress = Progress::default();
    let mut fx = Effects::new(step.name(), &fs, &progress);
    step.run(ctx, &mut fx).await?;
    drop(fx);
    Ok(progress.0.into_inner().unwrap())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn kubeconfig_with_token(ca_pem: &[u8]) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{IP1}:{PORT}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: {TOKEN}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
    )
}

fn readyz(ca: &Path, ip: &str) -> Result<String, String> {
    curl(&[
        "--cacert",
        &ca.display().to_string(),
        &format!("https://{ip}:{PORT}/readyz"),
    ])
    .and_then(|b| if b.trim() == "ok" { Ok(b) } else { Err(b) })
}

fn flag_of(manifest: &Path, name: &str) -> Option<String> {
    let pod = read_pod(manifest);
    flag(&command_of(&pod), name).map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn second_control_plane_joins_a_real_cluster() {
    // The first control plane, with its configuration, a token and the uploaded certificates.
    let root1 = tempfile::tempdir().unwrap();
    let ctx1 = init_context(root1.path());
    run_steps(&ctx1, &init_steps()).await;
    let etc1 = root1.path().join("etc/kubernetes");
    let pki1 = etc1.join("pki");
    let logs1 = root1.path().join("logs");
    std::fs::create_dir_all(&logs1).unwrap();
    let mut procs = vec![start(&etc1.join("manifests/etcd.yaml"), &logs1)];
    procs.push(start(&etc1.join("manifests/kube-apiserver.yaml"), &logs1));
    let ca = pki1.join("ca.crt");
    wait_for(
        "first kube-apiserver /readyz",
        Duration::from_secs(120),
        &mut procs,
        || readyz(&ca, IP1),
    );
    run(&ctx1, &UploadKubeadmConfig).await.unwrap();
    run(
        &ctx1,
        &kubestrap_phases::phases::bootstrap_token::BootstrapTokenPhase,
    )
    .await
    .unwrap();
    let fs = HostFs::real();
    let mut fx = Effects::new("upload-certs", &fs, &Silent);
    Step::<InitContext>::run(&UploadCerts, &ctx1, &mut fx)
        .await
        .unwrap();
    let key = fx.take_result_fields()["certificate_key"]
        .as_str()
        .unwrap()
        .to_string();
    drop(fx);
    let bootstrap = kubeconfig_with_token(&std::fs::read(&ca).unwrap());

    // A wrong certificate key: a clear error, and not one file written.
    let root2 = tempfile::tempdir().unwrap();
    let pki2 = root2.path().join("etc/kubernetes/pki");
    let wrong: CertificateKey = hex::encode([0x42u8; 32]).parse().unwrap();
    let wrong_joiner = JoinHost::new(root2.path(), &wrong.expose_hex(), &bootstrap);
    assert!(wrong_joiner.cp.get().is_none());
    let err = run(&wrong_joiner, &on_cp(DownloadCerts)).await.unwrap_err();
    assert!(wrong_joiner.cp.get().is_some(), "fetched on first use");
    assert!(err.to_string().contains("wrong certificate key"), "{err}");
    assert!(
        err.to_string().contains("kube-system/kubeadm-certs"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("--certificate-key"));
    assert!(files_under(root2.path()).is_empty(), "nothing written");

    // The right key: the shared certificates and keys, byte for byte, with kubeadm's modes.
    let mut cp = fetched_context(root2.path(), &key, &bootstrap).await;
    let etcd_spec = cp.plane.etcd_join.as_mut().unwrap();
    assert_eq!(etcd_spec.endpoints, [format!("https://{IP1}:2379")]);
    // Nothing answers here: etcd-join must find the member through the etcd pods' annotation.
    etcd_spec.endpoints = vec!["https://127.0.0.99:2379".into()];
    let joiner = Arc::new(JoinHost::ready(
        cp,
        join_config(&key, IP2, "node-2"),
        root2.path(),
    ));
    let plane = &joiner.cp().plane;
    assert_eq!(plane.pki.advertise_address.to_string(), IP2);
    assert_eq!(plane.pki.node_name, "node-2");
    assert!(
        !plane.etcd_join.as_ref().unwrap().learner,
        "v1.20 adds a voting member, as kubeadm 1.20"
    );
    run(joiner.as_ref(), &on_cp(DownloadCerts)).await.unwrap();
    for (file, want_mode) in [
        ("ca.crt", 0o644),
        ("ca.key", 0o600),
        ("front-proxy-ca.crt", 0o644),
        ("front-proxy-ca.key", 0o600),
        ("sa.pub", 0o644),
        ("sa.key", 0o600),
        ("etcd/ca.crt", 0o644),
        ("etcd/ca.key", 0o600),
    ] {
        assert_eq!(
            std::fs::read(pki2.join(file)).unwrap(),
            std::fs::read(pki1.join(file)).unwrap(),
            "{file}"
        );
        assert_eq!(mode(&pki2.join(file)), want_mode, "{file}");
    }
    assert_eq!(files_under(root2.path()).len(), 8);

    // control-plane-prepare: download-certs again (no change), then this node's certificates,
    // kubeconfigs and control-plane manifests, by init's phases.
    // The group the binary's join tree runs, not a list of the test's own.
    let tree = PhaseTree {
        workflow: "join",
        run_first: &[],
        nodes: vec![control_plane_prepare::<JoinHost>()],
    };
    let steps: Vec<&dyn Step<JoinHost>> = tree.leaves().into_iter().map(|l| l.step).collect();
    let names: Vec<&str> = steps.iter().map(|s| s.name()).collect();
    assert_eq!(names[0], "download-certs");
    assert!(
        names.ends_with(&[
            "admin",
            "controller-manager",
            "scheduler",
            "apiserver",
            "controller-manager",
            "scheduler"
        ]),
        "{names:?}"
    );
    for step in &steps {
        run(joiner.as_ref(), *step)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", step.name()));
    }
    let etc2 = root2.path().join("etc/kubernetes");
    assert_eq!(
        std::fs::read(pki2.join("ca.crt")).unwrap(),
        std::fs::read(&ca).unwrap(),
        "the downloaded CA was reused, not replaced"
    );
    assert!(!etc2.join("super-admin.conf").exists());
    let admin = std::fs::read_to_string(etc2.join("admin.conf")).unwrap();
    assert!(
        admin.contains(&format!("server: https://{IP1}:{PORT}")),
        "{admin}"
    );
    let apiserver_manifest = etc2.join("manifests/kube-apiserver.yaml");
    assert_eq!(
        flag_of(&apiserver_manifest, "advertise-address").as_deref(),
        Some(IP2)
    );

    // The first etcd's mirror pod, as the kubelet would post it, carrying kubeadm's annotation.
    let first_manifest = read_pod(&etc1.join("manifests/etcd.yaml"));
    let mut annotations = first_manifest.metadata.annotations.clone();
    // What makes it a mirror pod (and spares it the service-account admission).
    annotations.insert("kubernetes.io/config.mirror".into(), "testbed".into());
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "etcd-node-1",
            "namespace": "kube-system",
            "labels": {"component": "etcd", "tier": "control-plane"},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "etcd", "image": first_manifest.container().unwrap().image}],
        },
    }))
    .unwrap();
    let admin1 = ApiClient::from_kubeconfig(
        &HostFs::real(),
        &etc1.join("admin.conf"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    Api::<Pod>::namespaced(admin1.client().clone(), "kube-system")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();

    // A dry run of etcd-join only reads the membership and stages the manifest.
    let staging = tempfile::tempdir().unwrap();
    let staged_fs = HostFs::staged(staging.path());
    let mut fx = Effects::new("etcd-join", &staged_fs, &Silent);
    Step::<JoinHost>::run(&on_cp(EtcdJoin), joiner.as_ref(), &mut fx)
        .await
        .unwrap();
    drop(fx);
    let staged_manifest = staged_fs.target(&etc2.join("manifests/etcd.yaml"));
    assert_eq!(
        flag_of(&staged_manifest, "initial-cluster").as_deref(),
        Some(format!("node-1=https://{IP1}:2380,node-2=https://{IP2}:2380").as_str())
    );
    let first_etcd = EtcdCluster::connect(
        &HostFs::real(),
        vec![format!("https://{IP1}:2379")],
        &joiner.cp().etcd_join_spec().client,
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(
        first_etcd.members().unwrap().len(),
        1,
        "a dry run adds nothing"
    );

    // etcd-join: MemberAdd, then the manifest; the phase waits for the member to start, so
    // start it (as the kubelet would) once the manifest is there.
    let etcd_manifest = etc2.join("manifests/etcd.yaml");
    let join_task = {
        let joiner = joiner.clone();
        tokio::spawn(async move { run(joiner.as_ref(), &on_cp(EtcdJoin)).await })
    };
    let logs2 = root2.path().join("logs");
    std::fs::create_dir_all(&logs2).unwrap();
    for _ in 0..300 {
        if etcd_manifest.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(etcd_manifest.exists(), "etcd-join wrote no manifest");
    assert_eq!(
        flag_of(&etcd_manifest, "initial-cluster-state").as_deref(),
        Some("existing")
    );
    assert_eq!(
        flag_of(&etcd_manifest, "initial-cluster").as_deref(),
        Some(format!("node-1=https://{IP1}:2380,node-2=https://{IP2}:2380").as_str())
    );
    procs.push(start(&etcd_manifest, &logs2));
    let progress = join_task.await.unwrap().unwrap();
    // The existing member's client URL comes from its etcd pod, as kubeadm (≥ 1.22) reads it.
    assert_eq!(
        progress,
        [
            format!("etcd client URLs from the etcd pods: https://{IP1}:2379"),
            format!("added etcd member https://{IP2}:2380")
        ]
    );
    let etcd = EtcdCluster::connect(
        &HostFs::real(),
        vec![format!("https://{IP2}:2379")],
        &joiner.cp().etcd_join_spec().client,
        Duration::from_secs(10),
    )
    .unwrap();
    let members = etcd.members().unwrap();
    let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["node-1", "node-2"], "{members:?}");

    // A re-run changes nothing: no second MemberAdd, the same manifest.
    let before = std::fs::read(&etcd_manifest).unwrap();
    let again = run(joiner.as_ref(), &on_cp(EtcdJoin)).await.unwrap();
    assert_eq!(
        again,
        [
            format!("etcd client URLs from the etcd pods: https://{IP1}:2379"),
            format!("etcd member https://{IP2}:2380 already exists")
        ]
    );
    assert_eq!(etcd.members().unwrap().len(), 2);
    assert_eq!(std::fs::read(&etcd_manifest).unwrap(), before);

    // This node's API server, on its own etcd member; both API servers answer.
    procs.push(start(&apiserver_manifest, &logs2));
    wait_for(
        "second kube-apiserver /readyz",
        Duration::from_secs(120),
        &mut procs,
        || readyz(&ca, IP2),
    );
    readyz(&ca, IP1).expect("the first API server still answers");

    // mark-control-plane, once the Node is registered (as the kubelet would, here by hand).
    let admin2 = ApiClient::from_kubeconfig(
        &HostFs::real(),
        &etc2.join("admin.conf"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let nodes: Api<Node> = Api::all(admin2.client().clone());
    let node: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-2"}
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    run(joiner.as_ref(), &on_cp(MarkControlPlane))
        .await
        .unwrap();
    let marked = nodes.get("node-2").await.unwrap();
    assert!(
        marked
            .metadata
            .labels
            .unwrap()
            .contains_key("node-role.kubernetes.io/control-plane")
    );
    // A v1.20 cluster: kubeadm 1.20's master taint (config/release.rs).
    let taints = marked.spec.unwrap().taints.unwrap();
    assert!(
        taints
            .iter()
            .any(|t| t.key == "node-role.kubernetes.io/master" && t.effect == "NoSchedule"),
        "{taints:?}"
    );

    // MemberRemove (what reset does): the member goes, a second removal finds nothing.
    let via_first = EtcdCluster::connect(
        &HostFs::real(),
        vec![format!("https://{IP1}:2379")],
        &joiner.cp().etcd_join_spec().client,
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(
        via_first
            .remove_member_by_peer_url(&format!("https://{IP2}:2380"), Duration::from_secs(30))
            .unwrap()
    );
    assert!(
        !via_first
            .remove_member_by_peer_url(&format!("https://{IP2}:2380"), Duration::from_secs(30))
            .unwrap()
    );
    let left = via_first.members().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "node-1");

    // The Secret gone (expired with its token): say so and how to upload it again.
    let secrets: Api<Secret> = Api::namespaced(admin2.client().clone(), "kube-system");
    secrets
        .delete("kubeadm-certs", &Default::default())
        .await
        .unwrap();
    let root3 = tempfile::tempdir().unwrap();
    let late = JoinHost::new(root3.path(), &key, &bootstrap);
    let err = run(&late, &on_cp(DownloadCerts)).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(
        err.hint()
            .unwrap()
            .contains("kubeadm init phase upload-certs --upload-certs")
    );
    assert!(files_under(root3.path()).is_empty());
}

/// kubeadm's EtcdLearnerMode on etcd 3.4: the member joins as a learner, the first member keeps
/// its quorum (it still writes) until the learner has started, and the learner is promoted.
#[tokio::test(flavor = "multi_thread")]
async fn learner_member_keeps_quorum_and_is_promoted() {
    const IP3: &str = "127.0.0.91";
    const IP4: &str = "127.0.0.92";
    let root1 = tempfile::tempdir().unwrap();
    let ctx1 = kubestrap_test_support::static_pods::init_context(root1.path(), "v1.20.2", IP3, "");
    let mut steps = kubestrap_phases::phases::certs::phases::<InitContext>();
    steps.push(Box::new(kubestrap_phases::phases::etcd::EtcdLocal));
    run_steps(&ctx1, &steps).await;
    let pki1 = root1.path().join("etc/kubernetes/pki");
    let logs1 = root1.path().join("logs");
    std::fs::create_dir_all(&logs1).unwrap();
    let mut procs = vec![start(
        &root1.path().join("etc/kubernetes/manifests/etcd.yaml"),
        &logs1,
    )];
    let p1 = |f: &str| pki1.join(f).display().to_string();
    let etcd_curl = |ip: &str, path: &str, body: &str| {
        curl(&[
            "--cacert",
            &p1("etcd/ca.crt"),
            "--cert",
            &p1("apiserver-etcd-client.crt"),
            "--key",
            &p1("apiserver-etcd-client.key"),
            "-X",
            "POST",
            "-d",
            body,
            &format!("https://{ip}:2379{path}"),
        ])
    };
    wait_for("etcd /health", Duration::from_secs(30), &mut procs, || {
        etcd_curl(IP3, "/v3/cluster/member/list", "{}")
            .and_then(|b| if b.contains("node-1") { Ok(b) } else { Err(b) })
    });

    // The joiner: the CAs copied (download-certs proper is tested above), its own certs.
    let root2 = tempfile::tempdir().unwrap();
    let pki2 = root2.path().join("etc/kubernetes/pki");
    for f in ["ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key"] {
        std::fs::create_dir_all(pki2.join(f).parent().unwrap()).unwrap();
        std::fs::copy(pki1.join(f), pki2.join(f)).unwrap();
    }
    let mut cluster = ctx1.config.cluster.clone();
    cluster.control_plane_endpoint = Some(config::HostPort {
        host: config::Host::Ip(IP3.parse().unwrap()),
        port: Some(6443),
    });
    cluster.feature_gates.insert("EtcdLearnerMode".into(), true);
    let join = join_config(&hex::encode([1u8; 32]), IP4, "node-3");
    let cp = join.control_plane.clone().unwrap();
    let plane = JoiningControlPlane::new(
        cluster,
        &JoiningNode {
            node: &join.node_registration,
            endpoint: cp.local_api_endpoint,
            certificate_key: cp.certificate_key,
            timeouts: &join.timeouts,
        },
        &NodeRoot::new(root2.path()).unwrap(),
    )
    .unwrap();
    assert!(plane.etcd_join.as_ref().unwrap().learner);
    let joiner = Arc::new(JoinHost::ready(
        JoiningControlPlaneContext::new(
            plane,
            String::new(),
            Duration::from_secs(30),
            &HostFs::real(),
        ),
        join.clone(),
        root2.path(),
    ));
    for step in kubestrap_phases::phases::certs::phases::<JoiningControlPlaneContext>() {
        run(joiner.cp(), step.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", step.name()));
    }

    let etcd_manifest = root2.path().join("etc/kubernetes/manifests/etcd.yaml");
    let join_task = {
        let joiner = joiner.clone();
        tokio::spawn(async move { run(joiner.as_ref(), &on_cp(EtcdJoin)).await })
    };
    for _ in 0..300 {
        if etcd_manifest.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(etcd_manifest.exists(), "etcd-join wrote no manifest");
    let etcd = EtcdCluster::connect(
        &HostFs::real(),
        vec![format!("https://{IP3}:2379")],
        &joiner.cp().etcd_join_spec().client,
        Duration::from_secs(10),
    )
    .unwrap();
    let own = format!("https://{IP4}:2380");
    let before: Vec<_> = etcd.members().unwrap();
    let learner = before
        .iter()
        .find(|m| m.peer_urls.contains(&own))
        .expect("the member was added");
    assert!(learner.is_learner && !learner.is_started(), "{before:?}");
    // A learner does not count towards quorum: the lone voter still commits writes.
    etcd_curl(IP3, "/v3/kv/put", r#"{"key":"a2V5","value":"dmFsdWU="}"#)
        .expect("the first member still writes while the learner is down");

    let logs2 = root2.path().join("logs");
    std::fs::create_dir_all(&logs2).unwrap();
    procs.push(start(&etcd_manifest, &logs2));
    let progress = join_task.await.unwrap().unwrap();
    assert_eq!(
        progress,
        [
            format!("added etcd learner {own}"),
            format!("promoted etcd learner {own} to a voting member"),
        ]
    );
    let after = etcd.members().unwrap();
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|m| m.is_started() && !m.is_learner),
        "{after:?}"
    );
    // Re-running finds a voting member and changes nothing.
    let again = run(joiner.as_ref(), &on_cp(EtcdJoin)).await.unwrap();
    assert_eq!(again, [format!("etcd member {own} already exists")]);
    assert_eq!(etcd.members().unwrap(), after);
}
