//! Rendering of the static-pod manifests from real kubeadm configuration files: flags by
//! version, extraArgs/extraVolumes/extraEnvs, external etcd, external CA, paths under the root,
//! bind addresses on real and simulated nodes, and rewrites that leave files untouched.

use std::path::Path;

use kubestrap_phases::context::init_static_pod_spec;
use kubestrap_phases::domain::etcd;
use kubestrap_phases::domain::static_pod::{Pod, StaticPodSpec};
use kubestrap_phases::phases::control_plane::{self, Component, ControlPlanePhase};
use kubestrap_phases::phases::etcd::EtcdLocal;
use kubestrap_phases::{Applicability, Fingerprint, HostFs, NodeRoot, Step};
use kubestrap_test_support::static_pods::*;

fn render(component: Component, spec: &StaticPodSpec) -> Pod {
    control_plane::render(component, spec, false).unwrap()
}

fn cmd(component: Component, spec: &StaticPodSpec) -> Vec<String> {
    command_of(&render(component, spec))
}

fn etcd_cmd(spec: &StaticPodSpec) -> Vec<String> {
    command_of(&etcd::render(spec).unwrap().unwrap())
}

fn has(cmd: &[String], name: &str) -> bool {
    flag(cmd, name).is_some()
}

#[test]
fn insecure_ports_are_closed_only_where_kubeadm_closes_them() {
    let root = tempfile::tempdir().unwrap();
    // kubeadm dropped --insecure-port in 1.22 (#102121) and --port in 1.23 (#104157, #105034).
    for (version, insecure_port, port) in [
        ("v1.20.2", true, true),
        ("v1.21.14", true, true),
        ("v1.22.0", false, true),
        ("v1.23.17", false, false),
        ("v1.33.1", false, false),
    ] {
        let s = spec(root.path(), version, "127.0.0.2", "");
        let api = cmd(Component::ApiServer, &s);
        assert_eq!(
            flag(&api, "insecure-port"),
            insecure_port.then_some("0"),
            "{version}"
        );
        for c in [Component::ControllerManager, Component::Scheduler] {
            assert_eq!(flag(&cmd(c, &s), "port"), port.then_some("0"), "{version}");
        }
        // Flags present in every supported version.
        for f in [
            "service-account-issuer",
            "service-account-signing-key-file",
            "enable-bootstrap-token-auth",
            "requestheader-allowed-names",
        ] {
            assert!(has(&api, f), "{version}: {f}");
        }
        assert_eq!(flag(&api, "authorization-mode"), Some("Node,RBAC"));
        assert_eq!(
            flag(&api, "service-account-issuer"),
            Some("https://kubernetes.default.svc.cluster.local")
        );
    }
}

#[test]
fn etcd_flags_image_and_probes_follow_the_version() {
    let root = tempfile::tempdir().unwrap();
    let cases = [
        // The registry and etcd of each patch release (config/images.rs).
        (
            "v1.20.2",
            "k8s.gcr.io/etcd:3.4.13-0",
            false,
            false,
            "/health",
            None,
        ),
        (
            "v1.24.3",
            "k8s.gcr.io/etcd:3.5.3-0",
            true,
            false,
            "/health",
            None,
        ),
        (
            "v1.28.0",
            "registry.k8s.io/etcd:3.5.9-0",
            true,
            true,
            "/health?exclude=NOSPACE&serializable=true",
            None,
        ),
        (
            "v1.33.0",
            "registry.k8s.io/etcd:3.5.21-0",
            true,
            true,
            "/livez",
            Some("/readyz"),
        ),
    ];
    for (version, image, corrupt_check, progress, live, ready) in cases {
        let s = spec(root.path(), version, "127.0.0.2", "");
        let pod = etcd::render(&s).unwrap().unwrap();
        let c = pod.container().unwrap();
        assert_eq!(c.image, image, "{version}");
        let cmd = &c.command;
        assert_eq!(
            has(cmd, "experimental-initial-corrupt-check"),
            corrupt_check,
            "{version}"
        );
        assert_eq!(
            flag(cmd, "experimental-watch-progress-notify-interval"),
            progress.then_some("5s"),
            "{version}"
        );
        let lp = &c.liveness_probe.as_ref().unwrap().http_get;
        assert_eq!(
            (lp.path.as_str(), lp.port.to_string(), lp.scheme.as_str()),
            (live, "2381".to_string(), "HTTP")
        );
        assert_eq!(
            c.readiness_probe.as_ref().map(|p| p.http_get.path.as_str()),
            ready,
            "{version}"
        );
        assert_eq!(flag(cmd, "snapshot-count"), Some("10000"));
        assert_eq!(flag(cmd, "client-cert-auth"), Some("true"));
        assert_eq!(flag(cmd, "name"), Some("node-1"));
        assert_eq!(
            flag(cmd, "initial-cluster"),
            Some("node-1=https://127.0.0.2:2380")
        );
    }
}

#[test]
fn unsupported_versions_are_refused_with_the_range() {
    let root = tempfile::tempdir().unwrap();
    let s = spec(root.path(), "v1.19.0", "127.0.0.2", "");
    let err = control_plane::render(Component::ApiServer, &s, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("v1.19.0") && err.contains("v1.20 to v1.37"),
        "{err}"
    );
    assert!(etcd::render(&s).is_err());
}

#[test]
fn extra_args_replace_defaults_and_volumes_envs_images_are_honoured() {
    let root = tempfile::tempdir().unwrap();
    let extra = "\
imageRepository: registry.example.test/k8s
apiServer:
  extraArgs:
  - name: authorization-mode
    value: RBAC
  - name: audit-log-path
    value: /var/log/audit.log
  - name: tls-cipher-suites
    value: TLS_AES_128_GCM_SHA256
  - name: tls-cipher-suites
    value: TLS_AES_256_GCM_SHA384
  extraVolumes:
  - name: audit
    hostPath: /var/log/kubernetes
    mountPath: /var/log
    pathType: DirectoryOrCreate
  extraEnvs:
  - name: GODEBUG
    value: x509sha1=1
controllerManager:
  extraArgs:
  - name: controllers
    value: '*'
scheduler:
  extraArgs:
  - name: v
    value: '4'
etcd:
  local:
    imageRepository: quay.example.test/coreos
    imageTag: v3.5.99
    extraArgs:
    - name: snapshot-count
      value: '5000'
";
    let s = spec(root.path(), "v1.30.0", "127.0.0.2", extra);
    let api_pod = render(Component::ApiServer, &s);
    let api = command_of(&api_pod);
    assert_eq!(flag(&api, "authorization-mode"), Some("RBAC"));
    assert_eq!(
        api.iter()
            .filter(|a| a.starts_with("--authorization-mode="))
            .count(),
        1,
        "a user flag replaces the default, it is not added next to it"
    );
    let ciphers: Vec<&String> = api
        .iter()
        .filter(|a| a.starts_with("--tls-cipher-suites="))
        .collect();
    assert_eq!(ciphers.len(), 2, "repeated user flags are all kept");
    assert!(has(&api, "audit-log-path"));
    let mut sorted = api[1..].to_vec();
    sorted.sort();
    assert_eq!(api[1..], sorted[..], "flags are sorted by name");
    let c = api_pod.container().unwrap();
    assert_eq!(c.image, "registry.example.test/k8s/kube-apiserver:v1.30.0");
    assert_eq!(c.env[0].name, "GODEBUG");
    assert_eq!(c.env[0].value.as_deref(), Some("x509sha1=1"));
    let audit = api_pod
        .spec
        .volumes
        .iter()
        .find(|v| v.name == "audit")
        .unwrap();
    assert_eq!(
        Path::new(&audit.host_path.path),
        root.path().join("var/log/kubernetes"),
        "an extra volume's host path is resolved under the root"
    );
    let mount = c.volume_mounts.iter().find(|m| m.name == "audit").unwrap();
    assert_eq!(mount.mount_path, "/var/log");

    assert_eq!(
        flag(&cmd(Component::ControllerManager, &s), "controllers"),
        Some("*")
    );
    assert_eq!(flag(&cmd(Component::Scheduler, &s), "v"), Some("4"));
    let etcd_pod = etcd::render(&s).unwrap().unwrap();
    assert_eq!(
        etcd_pod.container().unwrap().image,
        "quay.example.test/coreos/etcd:v3.5.99"
    );
    assert_eq!(flag(&command_of(&etcd_pod), "snapshot-count"), Some("5000"));
}

#[test]
fn etcd_advertise_client_urls_from_extra_args_feed_the_apiserver() {
    let root = tempfile::tempdir().unwrap();
    let extra = "\
etcd:
  local:
    extraArgs:
    - name: advertise-client-urls
      value: https://127.0.0.2:12379
    - name: listen-metrics-urls
      value: http://127.0.0.2:12381
";
    let s = spec(root.path(), "v1.20.2", "127.0.0.2", extra);
    assert_eq!(
        flag(&cmd(Component::ApiServer, &s), "etcd-servers"),
        Some("https://127.0.0.2:12379")
    );
    let pod = etcd::render(&s).unwrap().unwrap();
    let probe = &pod
        .container()
        .unwrap()
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get;
    assert_eq!(
        (probe.host.as_str(), probe.port.to_string()),
        ("127.0.0.2", "12381".to_string())
    );
    assert_eq!(
        pod.metadata.annotations["kubeadm.kubernetes.io/etcd.advertise-client-urls"],
        "https://127.0.0.2:12379"
    );
}

#[tokio::test]
async fn external_etcd_has_no_manifest_and_the_apiserver_uses_its_files() {
    let root = tempfile::tempdir().unwrap();
    let extra = "\
etcd:
  external:
    endpoints:
    - https://127.0.0.55:2379
    - https://127.0.0.56:2379
    caFile: /etc/etcd/pki/ca.crt
    certFile: /etc/etcd/pki/client.crt
    keyFile: /etc/kubernetes/pki/etcd-client.key
";
    let ctx = init_context(root.path(), "v1.33.0", "127.0.0.2", extra);
    assert!(matches!(
        Step::applicability(&EtcdLocal, &ctx),
        Applicability::NotApplicable(_)
    ));
    let s = kubestrap_phases::domain::static_pod::StaticPodContext::static_pods(&ctx);
    assert!(etcd::render(s).unwrap().is_none());
    let pod = render(Component::ApiServer, s);
    let api = command_of(&pod);
    assert_eq!(
        flag(&api, "etcd-servers"),
        Some("https://127.0.0.55:2379,https://127.0.0.56:2379")
    );
    let r = |p: &str| root.path().join(p).display().to_string();
    assert_eq!(
        flag(&api, "etcd-cafile"),
        Some(r("etc/etcd/pki/ca.crt").as_str())
    );
    assert_eq!(
        flag(&api, "etcd-certfile"),
        Some(r("etc/etcd/pki/client.crt").as_str())
    );
    assert_eq!(
        flag(&api, "etcd-keyfile"),
        Some(r("etc/kubernetes/pki/etcd-client.key").as_str())
    );
    // The directory outside the certificates dir gets a volume; the one inside does not.
    let etcd_vols: Vec<_> = pod
        .spec
        .volumes
        .iter()
        .filter(|v| v.name.starts_with("etcd-certs"))
        .collect();
    assert_eq!(etcd_vols.len(), 1);
    assert_eq!(etcd_vols[0].host_path.path, r("etc/etcd/pki"));

    // Without TLS files: only the endpoints.
    let plain = spec(
        root.path(),
        "v1.33.0",
        "127.0.0.2",
        "etcd:\n  external:\n    endpoints:\n    - http://127.0.0.55:2379\n",
    );
    let api = cmd(Component::ApiServer, &plain);
    assert_eq!(flag(&api, "etcd-servers"), Some("http://127.0.0.55:2379"));
    assert!(!has(&api, "etcd-cafile"));
}

#[tokio::test]
async fn external_ca_mode_gives_empty_signing_flags() {
    let root = tempfile::tempdir().unwrap();
    let ctx = init_context(root.path(), "v1.20.2", "127.0.0.2", "");
    run_steps(&ctx, &init_steps()).await;
    let manifest = root
        .path()
        .join("etc/kubernetes/manifests/kube-controller-manager.yaml");
    let read = || Pod::from_yaml(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let ca_key = root.path().join("etc/kubernetes/pki/ca.key");
    let with_key = command_of(&read());
    assert_eq!(
        flag(&with_key, "cluster-signing-key-file"),
        Some(ca_key.to_str().unwrap())
    );

    let fs = HostFs::real();
    let step = ControlPlanePhase(Component::ControllerManager);
    let fingerprint = || {
        let mut fp = Fingerprint::new(&fs);
        Step::inputs(&step, &ctx, &mut fp);
        fp.finish()
    };
    let before = fingerprint();
    std::fs::remove_file(&ca_key).unwrap();
    assert_ne!(before, fingerprint(), "ca.key's absence is an input");
    run_steps(
        &ctx,
        &[Box::new(ControlPlanePhase(Component::ControllerManager))],
    )
    .await;
    let external = command_of(&read());
    assert_eq!(flag(&external, "cluster-signing-cert-file"), Some(""));
    assert_eq!(flag(&external, "cluster-signing-key-file"), Some(""));
    assert!(external.contains(&"--cluster-signing-key-file=".to_string()));
}

#[tokio::test]
async fn every_path_is_under_the_root_and_rewrites_leave_files_untouched() {
    let root = tempfile::tempdir().unwrap();
    let ctx = init_context(root.path(), "v1.20.2", "127.0.0.2", "");
    let first = run_steps(&ctx, &init_steps()).await;
    let manifests = root.path().join("etc/kubernetes/manifests");
    let mut names: Vec<String> = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "etcd.yaml",
            "kube-apiserver.yaml",
            "kube-controller-manager.yaml",
            "kube-scheduler.yaml"
        ]
    );
    let r = root.path().to_str().unwrap();
    for name in &names {
        let path = manifests.join(name);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        let pod = Pod::from_yaml(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(pod.metadata.namespace, "kube-system");
        assert_eq!(pod.metadata.labels["tier"], "control-plane");
        assert!(pod.spec.host_network);
        assert_eq!(pod.spec.priority_class_name, "system-node-critical");
        for arg in &pod.container().unwrap().command[1..] {
            let value = arg.split_once('=').unwrap().1;
            for part in value.split(',') {
                if part.starts_with('/') {
                    assert!(part.starts_with(r), "{name}: {arg} is not under the root");
                }
            }
        }
        for v in &pod.spec.volumes {
            assert!(v.host_path.path.starts_with(r), "{name}: volume {v:?}");
        }
        for m in &pod.container().unwrap().volume_mounts {
            assert!(
                pod.spec.volumes.iter().any(|v| v.name == m.name),
                "{name}: mount {} has no volume",
                m.name
            );
        }
    }
    let mtimes = |names: &[String]| -> Vec<std::time::SystemTime> {
        names
            .iter()
            .map(|n| {
                std::fs::metadata(manifests.join(n))
                    .unwrap()
                    .modified()
                    .unwrap()
            })
            .collect()
    };
    let before = mtimes(&names);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut steps: Vec<Box<dyn Step<kubestrap_phases::InitContext>>> = vec![Box::new(EtcdLocal)];
    steps.extend(control_plane::phases());
    let second = run_steps(&ctx, &steps).await;
    assert_eq!(second.len(), 4);
    assert!(second.iter().all(|f| !f.changed), "{second:?}");
    assert_eq!(
        before,
        mtimes(&names),
        "unchanged manifests are not rewritten"
    );
    let sha = |files: &[kubestrap_phases::contract::effects::WrittenFile], p: &Path| {
        files.iter().find(|f| f.path == p).unwrap().sha256.clone()
    };
    let api = manifests.join("kube-apiserver.yaml");
    assert_eq!(sha(&first, &api), sha(&second, &api));
}

#[test]
fn real_nodes_bind_loopback_and_simulated_nodes_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = init_config(dir.path(), "v1.33.0", "10.1.2.3", "");
    let real = init_static_pod_spec(&cfg, &NodeRoot::system());
    let cm = cmd(Component::ControllerManager, &real);
    assert_eq!(flag(&cm, "bind-address"), Some("127.0.0.1"));
    assert_eq!(
        flag(&cm, "kubeconfig"),
        Some("/etc/kubernetes/controller-manager.conf")
    );
    let sched = render(Component::Scheduler, &real);
    let probe = &sched
        .container()
        .unwrap()
        .liveness_probe
        .as_ref()
        .unwrap()
        .http_get;
    assert_eq!(
        (
            probe.host.as_str(),
            probe.port.to_string(),
            probe.path.as_str(),
            probe.scheme.as_str()
        ),
        ("127.0.0.1", "10259".to_string(), "/livez", "HTTPS")
    );
    let etcd = etcd_cmd(&real);
    assert_eq!(
        flag(&etcd, "listen-client-urls"),
        Some("https://127.0.0.1:2379,https://10.1.2.3:2379")
    );
    assert_eq!(
        flag(&etcd, "listen-metrics-urls"),
        Some("http://127.0.0.1:2381")
    );
    assert_eq!(flag(&etcd, "data-dir"), Some("/var/lib/etcd"));
    let api = render(Component::ApiServer, &real);
    assert_eq!(
        flag(&command_of(&api), "etcd-servers"),
        Some("https://127.0.0.1:2379")
    );
    let ap = &api
        .container()
        .unwrap()
        .readiness_probe
        .as_ref()
        .unwrap()
        .http_get;
    assert_eq!(
        (ap.host.as_str(), ap.port.to_string(), ap.path.as_str()),
        ("10.1.2.3", "6443".to_string(), "/readyz")
    );
    assert_eq!(
        api.metadata.annotations["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"],
        "10.1.2.3:6443"
    );

    let sim = init_static_pod_spec(&cfg, &NodeRoot::new(dir.path()).unwrap());
    assert_eq!(
        flag(&cmd(Component::ApiServer, &sim), "bind-address"),
        Some("10.1.2.3"),
        "a simulated node's API server must not take the port on every address"
    );
    for c in [Component::ControllerManager, Component::Scheduler] {
        assert_eq!(flag(&cmd(c, &sim), "bind-address"), Some("10.1.2.3"));
    }
    let etcd = etcd_cmd(&sim);
    assert_eq!(
        flag(&etcd, "listen-client-urls"),
        Some("https://10.1.2.3:2379")
    );
    assert_eq!(
        flag(&cmd(Component::ApiServer, &sim), "etcd-servers"),
        Some("https://10.1.2.3:2379")
    );
}

#[test]
fn pod_subnet_enables_node_cidr_allocation() {
    let root = tempfile::tempdir().unwrap();
    let without = spec(root.path(), "v1.33.0", "127.0.0.2", "");
    let cm = cmd(Component::ControllerManager, &without);
    assert!(!has(&cm, "allocate-node-cidrs") && !has(&cm, "cluster-cidr"));
    assert_eq!(
        flag(&cm, "controllers"),
        Some("*,bootstrapsigner,tokencleaner")
    );
    assert_eq!(flag(&cm, "cluster-name"), Some("kubernetes"));
    let with = spec(
        root.path(),
        "v1.33.0",
        "127.0.0.2",
        "networking:\n  podSubnet: 10.244.0.0/16\n",
    );
    let cm = cmd(Component::ControllerManager, &with);
    assert_eq!(flag(&cm, "allocate-node-cidrs"), Some("true"));
    assert_eq!(flag(&cm, "cluster-cidr"), Some("10.244.0.0/16"));
    assert_eq!(flag(&cm, "service-cluster-ip-range"), Some("10.96.0.0/12"));
}

/// What kubeadm of each release puts in every static pod besides flags: the priority of
/// system-node-critical from 1.27 (#114338), the RuntimeDefault seccomp profile from 1.22
/// (#100234), and `/etc/pki` split into its two trust directories from 1.31 (#124361).
#[test]
fn priority_seccomp_and_ca_directories_follow_the_release() {
    let root = tempfile::tempdir().unwrap();
    for dir in ["etc/pki/ca-trust", "etc/pki/tls/certs"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    for (version, priority, seccomp, split) in [
        ("v1.21.0", false, false, false),
        ("v1.22.0", false, true, false),
        ("v1.26.15", false, true, false),
        ("v1.27.0", true, true, false),
        ("v1.30.2", true, true, false),
        ("v1.31.0", true, true, true),
    ] {
        let s = spec(root.path(), version, "127.0.0.2", "");
        let pods = [
            render(Component::ApiServer, &s),
            render(Component::ControllerManager, &s),
            render(Component::Scheduler, &s),
            etcd::render(&s).unwrap().unwrap(),
        ];
        for pod in &pods {
            assert_eq!(
                pod.spec.priority,
                priority.then_some(2_000_001_000),
                "{version}"
            );
            assert_eq!(pod.spec.security_context.is_some(), seccomp, "{version}");
        }
        let volumes: Vec<&str> = pods[0]
            .spec
            .volumes
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(
            volumes.contains(&"etc-pki"),
            !split,
            "{version}: {volumes:?}"
        );
        assert_eq!(
            volumes.contains(&"etc-pki-ca-trust"),
            split,
            "{version}: {volumes:?}"
        );
    }
}

/// A spec from a whole configuration file (for what lives outside the ClusterConfiguration,
/// such as v1beta4's InitConfiguration `timeouts`).
fn spec_from_yaml(root: &Path, yaml: &str) -> StaticPodSpec {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubeadm.yaml");
    std::fs::write(&file, yaml).unwrap();
    let cfg = kubestrap_phases::config::load_init(
        Some(&file),
        &kubestrap_phases::config::InitFlags::default(),
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    init_static_pod_spec(&cfg, &NodeRoot::new(root).unwrap())
}

fn all_pods(s: &StaticPodSpec) -> [Pod; 4] {
    [
        render(Component::ApiServer, s),
        render(Component::ControllerManager, s),
        render(Component::Scheduler, s),
        etcd::render(s).unwrap().unwrap(),
    ]
}

/// M1: kubeadm's StartupProbe gives the control plane `ceil(timeout / 10s)` periods
/// (util/staticpod/utils.go, search index ids 334746362 and 437628100): 24 for the default 4m,
/// from v1beta4's `timeouts.controlPlaneComponentHealthCheck` or v1beta3's
/// `apiServer.timeoutForControlPlane`.
#[test]
fn startup_probes_wait_as_long_as_the_control_plane_timeout() {
    let root = tempfile::tempdir().unwrap();
    let threshold = |s: &StaticPodSpec| -> Vec<Option<u32>> {
        all_pods(s)
            .iter()
            .map(|p| {
                p.container()
                    .unwrap()
                    .startup_probe
                    .as_ref()
                    .unwrap()
                    .failure_threshold
            })
            .collect()
    };
    let default = spec(root.path(), "v1.33.0", "127.0.0.2", "");
    assert_eq!(threshold(&default), [Some(24); 4]);
    let v1beta4 = spec_from_yaml(
        root.path(),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n\
         localAPIEndpoint: {advertiseAddress: 127.0.0.2, bindPort: 6443}\n\
         nodeRegistration: {name: node-1}\ntimeouts:\n  controlPlaneComponentHealthCheck: 10m0s\n\
         ---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.0\n",
    );
    assert_eq!(threshold(&v1beta4), [Some(60); 4]);
    let v1beta3 = spec_from_yaml(
        root.path(),
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n\
         localAPIEndpoint: {advertiseAddress: 127.0.0.2, bindPort: 6443}\n\
         nodeRegistration: {name: node-1}\n\
         ---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.24.0\n\
         apiServer:\n  timeoutForControlPlane: 95s\n",
    );
    assert_eq!(threshold(&v1beta3), [Some(10); 4]);
}

/// M2: kubeadm's GetProxyEnvVars and MergeKubeadmEnvVars: the `*_proxy` variables of its own
/// environment go to the three control-plane containers, not to etcd; extraEnvs replace one of
/// the same name; sorted by name from 1.32 (#126743).
#[test]
fn proxy_variables_reach_the_control_plane_but_not_etcd() {
    let root = tempfile::tempdir().unwrap();
    let extra = "\
apiServer:
  extraEnvs:
  - name: GOGC
    value: \"50\"
  - name: https_proxy
    value: http://apiserver-proxy.test:3128
";
    let env_of = |pod: &Pod| -> Vec<(String, String)> {
        pod.container()
            .unwrap()
            .env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect()
    };
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    let environment = [
        ("PATH", "/usr/bin"),
        ("https_proxy", "http://proxy.test:3128"),
        ("NO_PROXY", "10.96.0.0/12"),
        ("http_proxy", ""),
    ]
    .map(|(n, v)| (n.into(), v.into()));
    for (version, api_env) in [
        (
            "v1.31.0",
            vec![
                pair("https_proxy", "http://apiserver-proxy.test:3128"),
                pair("NO_PROXY", "10.96.0.0/12"),
                pair("GOGC", "50"),
            ],
        ),
        (
            "v1.32.0",
            vec![
                pair("GOGC", "50"),
                pair("NO_PROXY", "10.96.0.0/12"),
                pair("https_proxy", "http://apiserver-proxy.test:3128"),
            ],
        ),
    ] {
        let mut s = spec(root.path(), version, "127.0.0.2", extra);
        s.proxy_env = kubestrap_phases::domain::static_pod::proxy_env(environment.clone());
        let [api, cm, sched, etcd_pod] = all_pods(&s);
        assert_eq!(env_of(&api), api_env, "{version}");
        // Go's sort by name is by bytes: upper case first.
        let mut proxies = vec![
            pair("https_proxy", "http://proxy.test:3128"),
            pair("NO_PROXY", "10.96.0.0/12"),
        ];
        if version == "v1.32.0" {
            proxies.reverse();
        }
        for pod in [&cm, &sched] {
            assert_eq!(env_of(pod), proxies, "{version}");
        }
        assert!(env_of(&etcd_pod).is_empty(), "{version}");
    }
}

/// M3: from 1.30 a structured `authorization-config` replaces kubeadm's default
/// `--authorization-mode` (#123654, v1.30.0 CHANGELOG); kube-apiserver refuses both.
#[test]
fn authorization_config_drops_the_default_mode_from_1_30() {
    let root = tempfile::tempdir().unwrap();
    let extra = "\
apiServer:
  extraArgs:
  - name: authorization-config
    value: /etc/kubernetes/authz.yaml
";
    let mode = |version: &str, extra: &str| {
        let s = spec(root.path(), version, "127.0.0.2", extra);
        flag(&cmd(Component::ApiServer, &s), "authorization-mode").map(str::to_string)
    };
    assert_eq!(mode("v1.29.4", extra).as_deref(), Some("Node,RBAC"));
    assert_eq!(mode("v1.30.0", extra), None);
    assert_eq!(mode("v1.30.0", "").as_deref(), Some("Node,RBAC"));
}

/// M4 and #132838/#135701: the corrupt check from 1.22.10 and 1.23.7 (backports #109076,
/// #109075); the graduated etcd flags in 1.34–1.35 only with etcd ≥ 3.6, always from 1.36.
#[test]
fn etcd_corrupt_check_and_graduated_flags_follow_release_and_etcd() {
    let root = tempfile::tempdir().unwrap();
    let etcd_tag = |tag: &str| format!("etcd:\n  local:\n    imageTag: \"{tag}\"\n");
    for (version, extra, corrupt, graduated) in [
        ("v1.22.9", String::new(), false, false),
        ("v1.22.10", String::new(), true, false),
        ("v1.23.6", String::new(), false, false),
        ("v1.23.7", String::new(), true, false),
        ("v1.33.4", etcd_tag("3.6.5-0"), true, false),
        ("v1.34.0", etcd_tag("3.5.24-0"), true, false),
        ("v1.34.0", etcd_tag("3.6.5-0"), true, true),
        ("v1.35.1", etcd_tag("3.6.0-0"), true, false),
        ("v1.36.0", etcd_tag("3.5.24-0"), true, true),
    ] {
        let c = etcd_cmd(&spec(root.path(), version, "127.0.0.2", &extra));
        let at = format!("{version} {extra}");
        assert_eq!(
            flag(&c, "feature-gates") == Some("InitialCorruptCheck=true"),
            corrupt && graduated,
            "{at}"
        );
        assert_eq!(
            flag(&c, "experimental-initial-corrupt-check") == Some("true"),
            corrupt && !graduated,
            "{at}"
        );
        assert_eq!(has(&c, "watch-progress-notify-interval"), graduated, "{at}");
        assert_eq!(
            has(&c, "experimental-watch-progress-notify-interval"),
            !graduated && !version.starts_with("v1.22") && !version.starts_with("v1.23"),
            "{at}"
        );
    }
}

/// M9: GetEtcdProbeEndpoint keeps the host name, port and https scheme of the first
/// `listen-metrics-urls`.
#[test]
fn etcd_probes_follow_the_users_metrics_url() {
    let root = tempfile::tempdir().unwrap();
    let extra = "\
etcd:
  local:
    extraArgs:
    - name: listen-metrics-urls
      value: https://localhost:2390,http://127.0.0.2:2391
";
    let s = spec(root.path(), "v1.33.0", "127.0.0.2", extra);
    let pod = etcd::render(&s).unwrap().unwrap();
    let c = pod.container().unwrap();
    for probe in [&c.liveness_probe, &c.readiness_probe, &c.startup_probe] {
        let g = &probe.as_ref().unwrap().http_get;
        assert_eq!(
            (g.host.as_str(), g.port.to_string(), g.scheme.as_str()),
            ("localhost", "2390".to_string(), "HTTPS")
        );
    }
}

/// M10: getEtcdCertVolumes skips directories under /etc/ssl/certs, the CA directories and the
/// certificates dir, and mounts a parent instead of its children.
#[test]
fn external_etcd_certificate_volumes_skip_what_is_mounted() {
    use kubestrap_phases::domain::static_pod::{EtcdSpec, ExternalEtcdFiles, ExternalEtcdSpec};
    let root = tempfile::tempdir().unwrap();
    let volumes = |version: &str, files: [&str; 3]| -> Vec<(String, String)> {
        let mut s = spec(root.path(), version, "127.0.0.2", "");
        let at = |p: &str| s.root.resolve(p);
        s.etcd = EtcdSpec::External(ExternalEtcdSpec {
            endpoints: vec!["https://127.0.0.9:2379".into()],
            tls: Some(ExternalEtcdFiles {
                ca_file: at(files[0]),
                cert_file: at(files[1]),
                key_file: at(files[2]),
            }),
        });
        let r = s.root.resolve("/").display().to_string();
        render(Component::ApiServer, &s)
            .spec
            .volumes
            .iter()
            .filter(|v| v.name.starts_with("etcd-certs"))
            .map(|v| {
                let p = v
                    .host_path
                    .path
                    .strip_prefix(r.trim_end_matches('/'))
                    .unwrap_or(&v.host_path.path);
                (v.name.clone(), p.to_string())
            })
            .collect()
    };
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(
        volumes(
            "v1.33.0",
            [
                "/etc/ssl/certs/etcd-ca.pem",
                "/etc/pki/tls/certs/c.pem",
                "/etc/kubernetes/pki/etcd/k.pem"
            ]
        ),
        []
    );
    // Before 1.31 the whole /etc/pki is a CA directory.
    assert_eq!(
        volumes(
            "v1.30.0",
            [
                "/etc/pki/etcd/ca.pem",
                "/etc/pki/etcd/c.pem",
                "/etc/pki/etcd/k.pem"
            ]
        ),
        []
    );
    assert_eq!(
        volumes(
            "v1.31.0",
            [
                "/etc/pki/etcd/ca.pem",
                "/etc/pki/etcd/c.pem",
                "/etc/pki/etcd/k.pem"
            ]
        ),
        [pair("etcd-certs-0", "/etc/pki/etcd")]
    );
    assert_eq!(
        volumes(
            "v1.33.0",
            ["/srv/etcd/ca/ca.pem", "/srv/etcd/c.pem", "/opt/etcd/k.pem"]
        ),
        [
            pair("etcd-certs-0", "/opt/etcd"),
            pair("etcd-certs-1", "/srv/etcd")
        ]
    );
}

/// 1.34 (#132776): every probe names the port `probe-port`, which the container declares;
/// 1.32 (#126945): kube-scheduler on /livez and /readyz; 1.36 (#136423): no flex-volume dir.
#[test]
fn probes_ports_and_volumes_of_1_32_to_1_37() {
    let root = tempfile::tempdir().unwrap();
    for (version, named) in [("v1.33.0", false), ("v1.34.0", true), ("v1.37.0", true)] {
        let s = spec(root.path(), version, "127.0.0.2", "");
        for (pod, port) in all_pods(&s).iter().zip([6443, 10257, 10259, 2381]) {
            let c = pod.container().unwrap();
            let probes = [&c.liveness_probe, &c.readiness_probe, &c.startup_probe];
            for p in probes.into_iter().flatten() {
                assert_eq!(
                    p.http_get.port.to_string(),
                    if named {
                        "probe-port".to_string()
                    } else {
                        port.to_string()
                    },
                    "{version} {}",
                    c.name
                );
                assert_eq!(c.resolve_port(&p.http_get.port), Some(port));
            }
            if named {
                assert_eq!(c.ports.len(), 1);
                assert_eq!(
                    (
                        c.ports[0].name.as_str(),
                        c.ports[0].container_port,
                        c.ports[0].protocol.as_str()
                    ),
                    ("probe-port", port, "TCP")
                );
            } else {
                assert!(c.ports.is_empty());
            }
        }
        let yaml = render(Component::ApiServer, &s).to_yaml().unwrap();
        assert_eq!(yaml.contains("port: probe-port"), named, "{yaml}");
    }
    let paths = |version: &str| {
        let s = spec(root.path(), version, "127.0.0.2", "");
        let pod = render(Component::Scheduler, &s);
        let c = pod.container().unwrap().clone();
        [c.liveness_probe, c.readiness_probe, c.startup_probe].map(|p| p.map(|p| p.http_get.path))
    };
    let some = |p: &str| Some(p.to_string());
    assert_eq!(paths("v1.31.0"), [some("/healthz"), None, some("/healthz")]);
    assert_eq!(
        paths("v1.32.0"),
        [some("/livez"), some("/readyz"), some("/livez")]
    );
    let flex = |version: &str| {
        let s = spec(root.path(), version, "127.0.0.2", "");
        render(Component::ControllerManager, &s)
            .spec
            .volumes
            .iter()
            .any(|v| v.name == "flexvolume-dir")
    };
    assert!(flex("v1.35.0"));
    assert!(!flex("v1.36.0"));
}
