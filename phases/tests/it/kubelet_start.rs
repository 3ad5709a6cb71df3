//! `kubelet-start`: the files it writes for each version, the user's KubeletConfiguration over
//! kubeadm's defaults, and when (never, under a root other than `/`) it restarts the kubelet.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use kubestrap_phases::Diagnostic;
use kubestrap_phases::context::init_kubelet_spec;
use kubestrap_phases::domain::kubelet::{
    KubeletService, ServiceError, ServiceManager, restart_kubelet,
};
use kubestrap_phases::phases::kubelet::KubeletStart;
use kubestrap_phases::{Effects, HostFs, InitContext, NodeRoot, Reporter, Step, async_trait};
use kubestrap_test_support::static_pods::*;
use serde_json::Value;

/// A service manager that counts what it is asked and answers as told: `Ok`, or the error
/// the function returns.
type Answer = Result<(), fn() -> ServiceError>;

struct FakeServices {
    restartable: Answer,
    restart: Answer,
    asked: AtomicUsize,
    restarted: AtomicUsize,
}

impl FakeServices {
    fn new(restartable: Answer, restart: Answer) -> Arc<Self> {
        Arc::new(Self {
            restartable,
            restart,
            asked: AtomicUsize::new(0),
            restarted: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl ServiceManager for FakeServices {
    fn kubelet_restartable(&self) -> Result<(), ServiceError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.restartable.map_err(|e| e())
    }

    async fn restart_kubelet(&self) -> Result<(), ServiceError> {
        self.restarted.fetch_add(1, Ordering::SeqCst);
        self.restart.map_err(|e| e())
    }

    async fn stop_kubelet(&self) -> Result<(), ServiceError> {
        unreachable!("kubelet-start never stops the kubelet")
    }
}

#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);

impl Reporter for Warnings {
    fn warning(&self, _: &str, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
    fn progress(&self, _: &str, _: &str) {}
}

fn yaml(path: &std::path::Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn run(ctx: &InitContext, services: Arc<FakeServices>) -> Vec<String> {
    let fs = HostFs::real();
    let warnings = Warnings::default();
    let step = KubeletStart {
        kubelet: KubeletService::new(services),
    };
    let mut fx = Effects::new("kubelet-start", &fs, &warnings);
    Step::run(&step, ctx, &mut fx).await.unwrap();
    warnings.0.into_inner().unwrap()
}

#[tokio::test]
async fn writes_config_and_flags_under_the_root_and_never_touches_the_host_kubelet() {
    let root = tempfile::tempdir().unwrap();
    let ctx = init_context(root.path(), "v1.20.2", "127.0.0.2", "");
    let services = FakeServices::new(Ok(()), Ok(()));
    let warnings = run(&ctx, services.clone()).await;
    assert_eq!(
        services.asked.load(Ordering::SeqCst),
        0,
        "systemd was consulted"
    );
    assert_eq!(
        services.restarted.load(Ordering::SeqCst),
        0,
        "the kubelet was restarted"
    );
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("not (re)started") && warnings[0].contains("--root"));

    let dir = root.path().join("var/lib/kubelet");
    let cfg = yaml(&dir.join("config.yaml"));
    let r = |p: &str| root.path().join(p).display().to_string();
    assert_eq!(cfg["kind"], "KubeletConfiguration");
    assert_eq!(cfg["apiVersion"], "kubelet.config.k8s.io/v1beta1");
    assert_eq!(
        cfg["authentication"]["x509"]["clientCAFile"],
        r("etc/kubernetes/pki/ca.crt")
    );
    assert_eq!(cfg["authentication"]["webhook"]["enabled"], true);
    assert_eq!(cfg["authentication"]["anonymous"]["enabled"], false);
    assert_eq!(cfg["authorization"]["mode"], "Webhook");
    assert_eq!(cfg["staticPodPath"], r("etc/kubernetes/manifests"));
    assert_eq!(cfg["clusterDNS"], serde_json::json!(["10.96.0.10"]));
    assert_eq!(cfg["clusterDomain"], "cluster.local");
    assert_eq!(cfg["rotateCertificates"], true);
    assert!(
        cfg.get("cgroupDriver").is_none(),
        "kubeadm 1.20 left the driver unset"
    );

    let env = std::fs::read_to_string(dir.join("kubeadm-flags.env")).unwrap();
    // The socket follows --root, as the CRI preflight check resolves it: a kubelet started
    // from this file talks to the node's runtime, not the host's.
    let socket = r("var/run/containerd/containerd.sock");
    assert!(
        env.starts_with(&format!(
            "KUBELET_KUBEADM_ARGS=\"--container-runtime=remote --container-runtime-endpoint=unix://{socket} "
        )),
        "{env}"
    );
    assert!(
        !env.contains("--pod-infra-container-image"),
        "1.20 passes the pause image only with dockershim: {env}"
    );
    use std::os::unix::fs::PermissionsExt;
    for f in ["config.yaml", "kubeadm-flags.env"] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{f}");
    }
}

#[tokio::test]
async fn user_kubelet_configuration_and_extra_args_win() {
    let root = tempfile::tempdir().unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = init_config_with(
        cfg_dir.path(),
        "  kubeletExtraArgs:\n  - name: node-ip\n    value: 127.0.0.2\n  - name: container-runtime-endpoint\n    value: unix:///run/crio/crio.sock\n",
        "v1.33.0",
        "127.0.0.2",
        "networking:\n  serviceSubnet: 10.100.0.0/16\n  dnsDomain: corp.test\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: cgroupfs\nmaxPods: 50\nauthentication:\n  webhook:\n    cacheTTL: 1m\n",
    );
    let ctx =
        InitContext::new(config, NodeRoot::new(root.path()).unwrap(), &HostFs::real()).unwrap();
    run(&ctx, FakeServices::new(Ok(()), Ok(()))).await;
    let dir = root.path().join("var/lib/kubelet");
    let cfg = yaml(&dir.join("config.yaml"));
    assert_eq!(cfg["cgroupDriver"], "cgroupfs");
    assert_eq!(cfg["maxPods"], 50);
    assert_eq!(cfg["authentication"]["webhook"]["cacheTTL"], "1m");
    assert_eq!(
        cfg["authentication"]["webhook"]["enabled"], true,
        "defaults stay next to user values"
    );
    assert_eq!(cfg["clusterDNS"], serde_json::json!(["10.100.0.10"]));
    assert_eq!(cfg["clusterDomain"], "corp.test");

    let env = std::fs::read_to_string(dir.join("kubeadm-flags.env")).unwrap();
    assert!(
        env.contains("--container-runtime-endpoint=unix:///run/crio/crio.sock"),
        "{env}"
    );
    assert!(
        !env.contains("containerd.sock"),
        "the user's endpoint replaces the default: {env}"
    );
    assert!(
        !env.contains("--container-runtime=remote"),
        "gone from v1.27: {env}"
    );
    assert!(env.contains("--node-ip=127.0.0.2"), "{env}");
    assert!(
        env.contains("--pod-infra-container-image=registry.k8s.io/pause:3.10"),
        "{env}"
    );
}

#[test]
fn hostname_override_only_when_the_names_differ() {
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = init_config(cfg_dir.path(), "v1.28.0", "127.0.0.2", "");
    // On a real node (root /) the file is kubeadm's, byte for byte.
    let root = NodeRoot::system();
    let same = init_kubelet_spec(&config, &root, Some("node-1".into()));
    assert!(!same.flags_env().contains("hostname-override"));
    let other = init_kubelet_spec(&config, &root, Some("host-a".into()));
    assert!(other.flags_env().contains("--hostname-override=node-1"));
    assert_eq!(
        other.flags_env(),
        "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --hostname-override=node-1 --pod-infra-container-image=registry.k8s.io/pause:3.9\"\n"
    );
    assert_eq!(other.config()["cgroupDriver"], "systemd");
}

/// kubeadm 1.34 keeps the CRI socket in the node's instance-config.yaml (NodeLocalCRISocket,
/// beta and on, #131981; WriteInstanceConfigToDisk) and applies it over config.yaml; 1.35 also
/// stops passing the pause image (#133778), so a plain node's flags file is empty
/// (`KUBELET_KUBEADM_ARGS=""`, the form #136127 fixed kubeadm's upgrade for).
#[tokio::test]
async fn from_1_34_the_cri_socket_is_the_nodes_instance_configuration() {
    let root = NodeRoot::system();
    for (version, flags) in [
        (
            "v1.34.1",
            "KUBELET_KUBEADM_ARGS=\"--pod-infra-container-image=registry.k8s.io/pause:3.10.1\"\n",
        ),
        ("v1.35.0", "KUBELET_KUBEADM_ARGS=\"\"\n"),
    ] {
        let cfg_dir = tempfile::tempdir().unwrap();
        let config = init_config(cfg_dir.path(), version, "127.0.0.2", "");
        let spec = init_kubelet_spec(&config, &root, Some("node-1".into()));
        assert_eq!(spec.flags_env(), flags, "{version}");
        let socket = "unix:///var/run/containerd/containerd.sock";
        assert_eq!(
            spec.instance_config(),
            Some(serde_json::json!({ "containerRuntimeEndpoint": socket }))
        );
        assert_eq!(spec.config()["containerRuntimeEndpoint"], socket);
    }
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = init_config(cfg_dir.path(), "v1.33.0", "127.0.0.2", "");
    let spec = init_kubelet_spec(&config, &root, Some("node-1".into()));
    assert_eq!(spec.instance_config(), None);
    assert!(spec.config().get("containerRuntimeEndpoint").is_none());

    // kubelet-start writes the file under the node root, its socket resolved there too.
    let dir = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap();
    let config = init_config(dir.path(), "v1.35.0", "127.0.0.2", "");
    let ctx =
        InitContext::new(config, NodeRoot::new(node.path()).unwrap(), &HostFs::real()).unwrap();
    run(&ctx, FakeServices::new(Ok(()), Ok(()))).await;
    let instance = yaml(&node.path().join("var/lib/kubelet/instance-config.yaml"));
    assert_eq!(
        instance["containerRuntimeEndpoint"],
        format!(
            "unix://{}",
            node.path()
                .join("var/run/containerd/containerd.sock")
                .display()
        )
    );
}

#[tokio::test]
async fn on_the_real_root_the_kubelet_is_restarted_only_when_possible() {
    let fs = HostFs::real();
    let system = NodeRoot::system();

    let ok = FakeServices::new(Ok(()), Ok(()));
    let warnings = Warnings::default();
    let mut fx = Effects::new("kubelet-start", &fs, &warnings);
    restart_kubelet(&system, ok.as_ref(), &mut fx)
        .await
        .unwrap();
    assert_eq!(ok.restarted.load(Ordering::SeqCst), 1);
    assert!(warnings.0.lock().unwrap().is_empty());

    // "no kubelet on PATH".
    let absent = FakeServices::new(Err(|| ServiceError::NoKubelet), Ok(()));
    let warnings = Warnings::default();
    let mut fx = Effects::new("kubelet-start", &fs, &warnings);
    restart_kubelet(&system, absent.as_ref(), &mut fx)
        .await
        .unwrap();
    assert_eq!(absent.restarted.load(Ordering::SeqCst), 0);
    let w = warnings.0.lock().unwrap().clone();
    assert!(
        w[0].contains("not (re)started") && w[0].contains("no kubelet on PATH"),
        "{w:?}"
    );

    let failing = FakeServices::new(
        Ok(()),
        Err(|| ServiceError::Failed {
            verb: "restart".into(),
            status: std::os::unix::process::ExitStatusExt::from_raw(5 << 8),
            stderr: "Failed to restart kubelet.service: Unit kubelet.service not found.".into(),
        }),
    );
    let warnings = Warnings::default();
    let mut fx = Effects::new("kubelet-start", &fs, &warnings);
    let err = restart_kubelet(&system, failing.as_ref(), &mut fx)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("kubelet.service not found"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("systemctl status kubelet"));

    // A dry run never restarts anything.
    let stage = tempfile::tempdir().unwrap();
    let staged = HostFs::staged(stage.path());
    let dry = FakeServices::new(Ok(()), Ok(()));
    let warnings = Warnings::default();
    let mut fx = Effects::new("kubelet-start", &staged, &warnings);
    restart_kubelet(&system, dry.as_ref(), &mut fx)
        .await
        .unwrap();
    assert_eq!(dry.restarted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unchanged_rerun_leaves_the_files_untouched() {
    let root = tempfile::tempdir().unwrap();
    let ctx = init_context(root.path(), "v1.33.0", "127.0.0.2", "");
    let fs = HostFs::real();
    let step = KubeletStart {
        kubelet: KubeletService::new(FakeServices::new(Ok(()), Ok(()))),
    };
    for expect_changed in [true, false] {
        let mut fx = Effects::new(
            "kubelet-start",
            &fs,
            &kubestrap_phases::contract::effects::Silent,
        );
        Step::run(&step, &ctx, &mut fx).await.unwrap();
        let (files, _) = fx.into_record();
        assert_eq!(files.len(), 2);
        assert!(
            files.iter().all(|f| f.changed == expect_changed),
            "{files:?}"
        );
    }
}

/// A worker's `nodeRegistration.taints` reach its kubelet as `--register-with-taints`, in
/// kubeadm's Taint.ToString form (join/kubelet.go; flags.go); a control plane's do not (its
/// taints are mark-control-plane's).
#[test]
fn a_worker_registers_with_its_taints() {
    use kubestrap_phases::config::{JoinFlags, load_join_text};
    use kubestrap_phases::context::join_kubelet_spec;
    use std::path::Path;
    let join = |extra: &str| {
        let text = format!(
            "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 127.0.0.5:6443
    token: abcdef.0123456789abcdef
    unsafeSkipCAVerification: true
nodeRegistration:
  name: w1
  taints:
  - key: dedicated
    value: infra
    effect: NoSchedule
  - key: gpu
    effect: NoExecute
{extra}"
        );
        let config = load_join_text(Path::new("join.yaml"), &text, &JoinFlags::default()).unwrap();
        join_kubelet_spec(&config, &NodeRoot::system(), Some("w1".into()))
    };
    assert_eq!(
        join("").register_with_taints.len(),
        2,
        "a worker passes its taints"
    );
    let control_plane =
        join("controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: 127.0.0.6\n");
    assert!(control_plane.register_with_taints.is_empty());

    let cfg_dir = tempfile::tempdir().unwrap();
    let config = init_config(cfg_dir.path(), "v1.28.0", "127.0.0.2", "");
    let mut spec = init_kubelet_spec(&config, &NodeRoot::system(), Some("node-1".into()));
    spec.register_with_taints = join("").register_with_taints;
    assert!(
        spec.flags_env()
            .contains(" --register-with-taints=dedicated=infra:NoSchedule,gpu:NoExecute\""),
        "{}",
        spec.flags_env()
    );
}

/// On a host where systemd-resolved is active, kubeadm points the kubelet at
/// /run/systemd/resolve/resolv.conf (componentconfigs/kubelet.go); a user's value wins.
#[test]
fn resolv_conf_follows_systemd_resolved_and_yields_to_the_user() {
    use kubestrap_phases::domain::kubelet::SYSTEMD_RESOLVED_RESOLV_CONF;
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = init_config(cfg_dir.path(), "v1.28.0", "127.0.0.2", "");
    let mut spec = init_kubelet_spec(&config, &NodeRoot::system(), Some("node-1".into()));
    assert_eq!(spec.config().get("resolvConf"), None);
    spec.resolv_conf = Some(SYSTEMD_RESOLVED_RESOLV_CONF.into());
    assert_eq!(spec.config()["resolvConf"], SYSTEMD_RESOLVED_RESOLV_CONF);
    spec.user_config = Some(serde_json::json!({"resolvConf": "/etc/my-resolv.conf"}));
    assert_eq!(spec.config()["resolvConf"], "/etc/my-resolv.conf");
    // Under another root the host's services are not asked.
    let root = NodeRoot::new(cfg_dir.path()).unwrap();
    assert_eq!(
        kubestrap_phases::domain::kubelet::systemd_resolved_resolv_conf(&root),
        None
    );
}
